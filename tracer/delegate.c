/* Delegation: a supervisor hands the calls of a nested container over to that container's own
 * supervisor (guise in guise; tracer.h, "Nesting").
 *
 * Wire format: AF_UNIX SOCK_SEQPACKET, one struct deleg_msg per record, descriptors by
 * SCM_RIGHTS.
 *   inner -> outer  REGISTER    + the inner program's bytes; fd: the user namespace to delegate;
 *                               result: how far above its own pid namespace its /proc's is
 *   outer -> inner  REGISTERED  result 0 or an errno, + the reason when refused
 *   outer -> inner  NOTIF       a notification, its pid translated into the inner's pid namespace
 *   inner -> outer  SEND        an answer, applied with SECCOMP_IOCTL_NOTIF_SEND
 *   inner -> outer  ADDFD       an ADDFD with FLAG_SEND; fd: the descriptor to install (when it
 *                               fails, the outer supervisor fails the call with its errno)
 *   inner -> outer  ID_VALID    seq, id;   outer -> inner  REPLY  seq, result
 * The inner supervisor reads the tracees' memory, descriptors and /proc itself (same real uid,
 * and it is in the parent user namespace of its container's, as its owner); only what needs the
 * listener goes through the outer one.  It answers only ids it was sent (a delegate cannot
 * answer anybody else's calls).
 *
 * The outer side: with a real listener, a thread serves the channel (accepting, registering,
 * applying answers: listener ioctls are thread-safe) while the main thread stays in RECV; the
 * main thread forwards a notification when the caller's user namespace is a registered one or
 * below it (an open and a few NS_GET_PARENT ioctls per notification while anything is
 * registered, a load when nothing ever was: see lookup for why not cached per process).  A
 * supervisor that itself serves forwarded calls (tracer_delegate_serve) serves its own channel from
 * its single-threaded poll loop and relays its delegates' requests through its own upstream: any
 * depth works.  Nothing sent to a delegate waits for it: what its socket has no room for is
 * queued and sent by the serving side when it has (entry_send).
 *
 * Security: a registration is accepted only for a user namespace strictly below the
 * registering process's own (the kernel's SO_PEERCRED/SO_PEERPIDFD identify it; NS_GET_PARENT
 * walks up): a process can take over the calls of containers that it or its descendants made,
 * over which it has every capability anyway, never its own calls or its ancestors'.  A
 * namespace is registered once for the server's lifetime (its descriptor is kept, so that its
 * inode number cannot be reused by a new namespace meanwhile). */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/nsfs.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "util/cleanup.h"
#include "util/fdpass.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* 6.5+ */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define DELEG_MAX_DEPTH 33      /* user namespaces nest at most 32 deep */
#define DELEG_EXTRA_MAX (BPF_MAXINSNS * sizeof(struct sock_filter))
/* Connections not registered (yet) at once; more are closed as they come: a container holding
 * them open must not use up the supervisor's descriptors (a registration keeps its two, but
 * each needs a user namespace of its own). */
#define DELEG_MAX_UNREGISTERED 64
#define DELEG_OUTBOX_SLACK 4 /* queued for a delegate beyond its pending calls (entry_send) */

/* --- messages --- */

static int msg_send(int sock, struct deleg_msg *m, const void *extra, size_t extra_len, int fd,
                    int flags)
{
  m->magic = DELEG_MAGIC;
  struct iovec iov[2] = {{.iov_base = m, .iov_len = sizeof(*m)},
                         {.iov_base = (void *)extra, .iov_len = extra_len}};
  return fdpass_send(sock, iov, extra_len > 0 ? 2 : 1, &fd, fd >= 0 ? 1 : 0, flags);
}

/* msg_send on a non-blocking socket, waiting up to 10 s for room when the peer's queue is full:
 * for replies to a connection that is not registered (yet); giving up drops it.  What goes to a
 * registered delegate never waits (entry_send). */
static int msg_send_patiently(int sock, struct deleg_msg *m, const void *extra, size_t extra_len)
{
  for (int waited = 0;; waited++) {
    if (msg_send(sock, m, extra, extra_len, -1, MSG_DONTWAIT) == 0) return 0;
    if (errno != EAGAIN || waited == 100) return -1;
    struct pollfd pfd = {.fd = sock, .events = POLLOUT};
    (void)poll(&pfd, 1, 100);
  }
}

/* One message; *fd gets the descriptor passed with it (-1: none).  Returns the length of the
 * bytes after the message, or -1 with errno (ECONNRESET at end of stream, EPROTO when it is not
 * one of ours, EAGAIN with MSG_DONTWAIT). */
static ssize_t msg_recv(int sock, struct deleg_msg *m, void *extra, size_t extra_size, int *fd,
                        int flags)
{
  struct iovec iov[2] = {{.iov_base = m, .iov_len = sizeof(*m)},
                         {.iov_base = extra, .iov_len = extra_size}};
  ssize_t n = fdpass_recv(sock, iov, extra != NULL ? 2 : 1, fd, 1, NULL, flags);
  if (n < 0) return errno == EMSGSIZE ? (errno = EPROTO, -1) : -1;
  if (n == 0 || (size_t)n < sizeof(*m) || m->magic != DELEG_MAGIC) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
    errno = n == 0 ? ECONNRESET : EPROTO;
    return -1;
  }
  return n - (ssize_t)sizeof(*m);
}

/* The id of pid (as seen here) in the pid namespace `level` deep from ours (1: ours), from its
 * NSpid line; 0 when it has none there. */
static pid_t pid_at_level(pid_t pid, int level)
{
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char *v = strstr(buf, "\nNSpid:");
  if (v == NULL) return 0;
  v += 7;
  for (int i = 1;; i++) {
    char *end;
    long id = strtol(v, &end, 10);
    if (end == v) return 0;
    if (i == level) return (pid_t)id;
    v = end;
  }
}

/* How many pid namespaces deep pid is, as seen here (the length of its NSpid line). */
static int pid_depth(pid_t pid)
{
  int depth = 0;
  while (depth < DELEG_MAX_DEPTH && pid_at_level(pid, depth + 1) > 0)
    depth++;
  return depth;
}

/* How many pid namespaces above our own is the one of the procfs at /proc: 0 when it is ours;
 * more when /proc is an outer container's bound in (guise's fallback where a fresh /proc is
 * refused, runtime/mounts.c).  The ids in /proc are that namespace's, so that is where the
 * outer supervisor must translate the pids it forwards.  Our NSpid line there starts at it. */
static int procfs_levels_up(void)
{
  char self[32];
  ssize_t n = readlink("/proc/self", self, sizeof(self) - 1);
  if (n <= 0) return 0;
  self[n] = '\0';
  if (strtol(self, NULL, 10) == getpid()) return 0;
  int depth = pid_depth((pid_t)strtol(self, NULL, 10));
  return depth > 1 ? depth - 1 : 0;
}

/* --- the listener, real or forwarded --- */

struct deleg_upstream {
  int fd;
  uint32_t seq;
  bool broken;
  /* Notifications that arrived while waiting for a REPLY. */
  struct seccomp_notif *queue;
  size_t head, len, cap;
};

static int up_queue(struct deleg_upstream *up, const struct seccomp_notif *n)
{
  if (up->head > 0 && up->head == up->len) up->head = up->len = 0;
  if (up->len == up->cap) {
    size_t cap = up->cap ? up->cap * 2 : 16;
    struct seccomp_notif *q = realloc(up->queue, cap * sizeof(*q));
    if (q == NULL) return -1;
    up->queue = q;
    up->cap = cap;
  }
  up->queue[up->len++] = *n;
  return 0;
}

bool tracer_listener_id_valid(struct tracer_state *st, uint64_t id)
{
  struct deleg_upstream *up = st->up;
  if (up == NULL) return ioctl(st->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
  if (up->broken) return false;
  struct deleg_msg m = {.type = DM_ID_VALID, .seq = ++up->seq, .u.id = id};
  if (msg_send(up->fd, &m, NULL, 0, -1, 0) < 0) {
    up->broken = true;
    return false;
  }
  for (;;) {
    int fd;
    if (msg_recv(up->fd, &m, NULL, 0, &fd, 0) < 0) {
      up->broken = true;
      return false;
    }
    if (fd >= 0) close(fd);
    if (m.type == DM_NOTIF) {
      if (up_queue(up, &m.u.notif) < 0) up->broken = true; /* lost: say so, stop */
    } else if (m.type == DM_REPLY && m.seq == up->seq) {
      return m.result == 0;
    }
  }
}

void deleg_up_send(struct deleg_upstream *up, const struct seccomp_notif_resp *resp)
{
  struct deleg_msg m = {.type = DM_SEND, .u.resp = *resp};
  if (!up->broken && msg_send(up->fd, &m, NULL, 0, -1, 0) < 0) up->broken = true;
}

void deleg_up_addfd(struct deleg_upstream *up, const struct seccomp_notif_addfd *addfd)
{
  struct deleg_msg m = {.type = DM_ADDFD, .u.addfd = *addfd};
  if (!up->broken && msg_send(up->fd, &m, NULL, 0, (int)addfd->srcfd, 0) < 0) up->broken = true;
}

static void listener_send(struct tracer_state *st, const struct seccomp_notif_resp *resp)
{
  if (st->up != NULL)
    deleg_up_send(st->up, resp);
  else
    (void)ioctl(st->listener, SECCOMP_IOCTL_NOTIF_SEND, resp); /* ENOENT: the caller is gone */
}

static void listener_addfd(struct tracer_state *st, struct seccomp_notif_addfd *addfd)
{
  if (st->up != NULL) {
    deleg_up_addfd(st->up, addfd);
    return;
  }
  /* The serving thread blocks every signal: none can make the kernel drop the descriptor. */
  if (ioctl(st->listener, SECCOMP_IOCTL_NOTIF_ADDFD, addfd) >= 0 || errno == ENOENT) return;
  struct seccomp_notif_resp resp = {.id = addfd->id, .error = -errno};
  listener_send(st, &resp);
}

/* --- the server: registrations and the delegates' requests --- */

struct deleg_entry {
  dev_t dev;
  ino_t ino;
  int nsfd;          /* kept: the inode number stays this namespace's */
  int conn;          /* the delegate's connection (closed when the server stops) */
  atomic_bool gone;  /* the delegate hung up: its processes' calls stay unanswered */
  int pid_level;     /* the delegate's pid namespace: this many deep, as seen here */
  size_t conn_slot;  /* its connection's index in the server's conns (epoll data 2 + it) */
  uint64_t *pending; /* ids forwarded and not answered yet (under the server's lock) */
  size_t n_pending, cap_pending;
  /* Messages its socket had no room for, sent when it has (under the server's lock). */
  struct deleg_msg *outbox;
  size_t out_head, out_len, out_cap;
  bool want_out; /* the connection is watched for EPOLLOUT */
  struct deleg_entry *next;
};

struct deleg_conn {
  int fd; /* -1: closed */
  struct deleg_entry *entry;
};

struct deleg_server {
  struct tracer_state *st;
  int offer;
  const struct tracer_filter *filter;
  int epfd;               /* offer (0), stop (1), connections (2 + index) */
  pthread_mutex_t lock;   /* entries and their pending ids: the serving thread and the main one */
  atomic_uint registered; /* namespaces registered: 0 costs a notification nothing more */
  struct deleg_entry *entries;
  struct deleg_conn *conns;
  size_t n_conns;
  size_t n_unregistered; /* connections without an entry */
  int spare;             /* /dev/null, given up to accept and drop a connection at EMFILE */
  char *buf;             /* a REGISTER's program */
  bool threaded;
  pthread_t thread;
  int stopfd;
};

static bool pending_take(struct deleg_server *s, struct deleg_entry *e, uint64_t id, bool remove)
{
  bool found = false;
  pthread_mutex_lock(&s->lock);
  for (size_t i = 0; i < e->n_pending; i++) {
    if (e->pending[i] != id) continue;
    found = true;
    if (remove) e->pending[i] = e->pending[--e->n_pending];
    break;
  }
  pthread_mutex_unlock(&s->lock);
  return found;
}

static int pending_add(struct deleg_server *s, struct deleg_entry *e, uint64_t id)
{
  int r = 0;
  pthread_mutex_lock(&s->lock);
  if (e->n_pending == e->cap_pending) {
    size_t cap = e->cap_pending ? e->cap_pending * 2 : 16;
    uint64_t *p = realloc(e->pending, cap * sizeof(*p));
    if (p == NULL)
      r = -1;
    else {
      e->pending = p;
      e->cap_pending = cap;
    }
  }
  if (r == 0) e->pending[e->n_pending++] = id;
  pthread_mutex_unlock(&s->lock);
  return r;
}

/* Send m to e's delegate now if its socket has room, else queue it for the serving thread, which
 * sends it on EPOLLOUT.  Never waits: a delegate that is stopped (Ctrl-Z stops the outer
 * container's process group, inner supervisors included, not the inner containers, which keep
 * calling) or does not read must neither stall the calls of everybody else nor be given up
 * while it lives (its processes' calls would then wait forever, unanswered and unreported).  The
 * queue holds a NOTIF per call it has pending and the REPLY to the one ID_VALID its supervisor
 * waits for; a delegate that lets more pile up (asks ID_VALID without reading the replies) is
 * not a guise and is dropped.  -1: it is gone. */
static int entry_send(struct deleg_server *s, struct deleg_entry *e, const struct deleg_msg *m)
{
  int r = 0;
  pthread_mutex_lock(&s->lock);
  if (e->out_len - e->out_head > e->n_pending + DELEG_OUTBOX_SLACK) {
    r = -1;
    goto out;
  }
  if (e->out_head == e->out_len) {
    e->out_head = e->out_len = 0;
    struct deleg_msg now = *m;
    if (msg_send(e->conn, &now, NULL, 0, -1, MSG_DONTWAIT) == 0) goto out;
    if (errno != EAGAIN) {
      r = -1;
      goto out;
    }
  }
  if (e->out_len == e->out_cap) {
    size_t cap = e->out_cap ? e->out_cap * 2 : 64;
    struct deleg_msg *q = realloc(e->outbox, cap * sizeof(*q));
    if (q == NULL) {
      r = -1;
      goto out;
    }
    e->outbox = q;
    e->out_cap = cap;
  }
  e->outbox[e->out_len++] = *m;
  if (!e->want_out) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = 2 + e->conn_slot};
    e->want_out = epoll_ctl(s->epfd, EPOLL_CTL_MOD, e->conn, &ev) == 0;
  }
out:
  pthread_mutex_unlock(&s->lock);
  return r;
}

/* The serving thread: send what e's socket has room for now; -1 when it is gone. */
static int entry_flush(struct deleg_server *s, struct deleg_entry *e)
{
  int r = 0;
  pthread_mutex_lock(&s->lock);
  while (e->out_head < e->out_len) {
    if (msg_send(e->conn, &e->outbox[e->out_head], NULL, 0, -1, MSG_DONTWAIT) < 0) {
      r = errno == EAGAIN ? 0 : -1;
      break;
    }
    e->out_head++;
  }
  if (e->out_head == e->out_len && e->want_out) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 2 + e->conn_slot};
    e->want_out = epoll_ctl(s->epfd, EPOLL_CTL_MOD, e->conn, &ev) != 0;
  }
  pthread_mutex_unlock(&s->lock);
  return r;
}

/* The user namespace of the process at the other end of conn, and its pid namespace depth. */
static int peer_userns(int conn, int *level, guise_error **err)
{
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return guise_fail_errno(err, "identifying the registering process failed");
  if (cred.pid <= 0)
    return guise_fail(err, EPERM, "the registering process is not visible to the supervisor");
  int pidfd;
  len = sizeof(pidfd);
  if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
    pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0); /* < 6.5 */
  if (pidfd < 0) return guise_fail_errno(err, "pidfd_open of the registering process failed");
  _cleanup_close_ int pfd = pidfd;
  /* cred.pid is in our own pid namespace; our /proc may be an outer one's (procfs_levels_up),
   * whose id for the peer its pidfd's fdinfo gives (Linux 5.x: in the procfs's namespace). */
  char path[64], info[512];
  snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pfd);
  _cleanup_close_ int infofd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = infofd >= 0 ? read(infofd, info, sizeof(info) - 1) : -1;
  if (n > 0) {
    info[n] = '\0';
    const char *v = strstr(info, "\nPid:");
    long id = v != NULL ? strtol(v + 5, NULL, 10) : 0;
    if (id > 0) cred.pid = (pid_t)id;
  }
  snprintf(path, sizeof(path), "/proc/%d/ns/user", cred.pid);
  _cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) return guise_fail_errno(err, "opening %s failed", path);
  *level = pid_depth(cred.pid);
  /* Still alive after reading its /proc entries: they were its, not a reused pid's. */
  if (syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) < 0)
    return guise_fail(err, ESRCH, "the registering process exited");
  return steal_fd(&ns);
}

/* Whether nsfd is a user namespace strictly below the one of parent_ns. */
static bool strictly_below(int nsfd, const struct stat *parent_ns)
{
  int cur = (int)ioctl(nsfd, NS_GET_PARENT);
  for (int depth = 0; cur >= 0 && depth < DELEG_MAX_DEPTH; depth++) {
    struct stat sb;
    if (fstat(cur, &sb) == 0 && sb.st_dev == parent_ns->st_dev && sb.st_ino == parent_ns->st_ino) {
      close(cur);
      return true;
    }
    int next = (int)ioctl(cur, NS_GET_PARENT); /* EPERM above our own: not below it */
    close(cur);
    cur = next;
  }
  if (cur >= 0) close(cur);
  return false;
}

static struct deleg_entry *registration(struct deleg_server *s, size_t slot, const void *prog,
                                        size_t len, int nsfd, int levels_up, guise_error **err)
{
  if (nsfd < 0) {
    guise_fail(err, EINVAL, "no user namespace was passed");
    return NULL;
  }
  if (ioctl(nsfd, NS_GET_NSTYPE) != CLONE_NEWUSER) {
    guise_fail(err, EINVAL, "the descriptor passed is not a user namespace");
    return NULL;
  }
  if (s->filter == NULL || len != s->filter->size || memcmp(prog, s->filter->insns, len) != 0) {
    guise_fail(err, EPROTO,
               "the inner guise's seccomp program differs from the outer one's "
               "(another guise version?), and the outer one decides which calls "
               "are intercepted");
    return NULL;
  }
  int level = 0;
  int conn = s->conns[slot].fd;
  _cleanup_close_ int peer = peer_userns(conn, &level, err);
  if (peer < 0) return NULL;
  /* The delegate reads a procfs that many namespaces above its own (its /proc is an outer
   * one): the ids it can use are that namespace's. */
  if (levels_up > 0 && levels_up < level) level -= levels_up;
  struct stat peer_st, ns_st;
  if (fstat(peer, &peer_st) < 0 || fstat(nsfd, &ns_st) < 0) {
    guise_fail_errno(err, "inspecting the user namespaces failed");
    return NULL;
  }
  if (!strictly_below(nsfd, &peer_st)) {
    guise_fail(err, EPERM,
               "the user namespace is not below the registering process's own: only "
               "the calls of containers it created can be delegated to it");
    return NULL;
  }
  struct deleg_entry *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    guise_fail(err, ENOMEM, "registering the delegation failed");
    return NULL;
  }
  *e = (struct deleg_entry){.dev = ns_st.st_dev,
                            .ino = ns_st.st_ino,
                            .nsfd = -1,
                            .conn = conn,
                            .pid_level = level,
                            .conn_slot = slot};
  pthread_mutex_lock(&s->lock);
  bool taken = false;
  for (struct deleg_entry *o = s->entries; o != NULL; o = o->next)
    taken |= o->dev == e->dev && o->ino == e->ino;
  if (!taken) {
    e->nsfd = fcntl(nsfd, F_DUPFD_CLOEXEC, 0);
    e->next = s->entries;
    s->entries = e;
    atomic_fetch_add_explicit(&s->registered, 1, memory_order_release);
  }
  pthread_mutex_unlock(&s->lock);
  if (taken) {
    free(e);
    guise_fail(err, EBUSY, "this user namespace is delegated already");
    return NULL;
  }
  return e;
}

static void conn_drop(struct deleg_server *s, struct deleg_conn *c)
{
  epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  if (c->entry != NULL)
    atomic_store(&c->entry->gone, true); /* the fd stays open: the main thread may send on it */
  else {
    close(c->fd);
    s->n_unregistered--;
  }
  c->fd = -1;
}

static void server_accept(struct deleg_server *s)
{
  int fd = accept4(s->offer, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0 && (errno == EMFILE || errno == ENFILE) && s->spare >= 0) {
    /* Out of descriptors, the pending connection would wake the (level-triggered) epoll over
     * and over: take it with the spare one and drop it (its guise says there was no answer). */
    close(s->spare);
    fd = accept4(s->offer, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) close(fd);
    s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return;
  }
  if (fd < 0) return;
  if (s->n_unregistered >= DELEG_MAX_UNREGISTERED) {
    close(fd);
    return;
  }
  size_t i = 0;
  while (i < s->n_conns && s->conns[i].fd >= 0)
    i++;
  if (i == s->n_conns) {
    struct deleg_conn *c = realloc(s->conns, (s->n_conns + 1) * sizeof(*c));
    if (c == NULL) {
      close(fd);
      return;
    }
    s->conns = c;
    s->n_conns++;
  }
  s->conns[i] = (struct deleg_conn){.fd = fd};
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 2 + i};
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    close(fd);
    s->conns[i].fd = -1;
    return;
  }
  s->n_unregistered++;
}

static void server_conn(struct deleg_server *s, size_t i)
{
  struct deleg_conn *c = &s->conns[i];
  if (c->fd < 0) return;
  struct deleg_entry *e = c->entry;
  if (e != NULL && entry_flush(s, e) < 0) {
    conn_drop(s, c);
    return;
  }
  struct deleg_msg m;
  int fd;
  ssize_t n = msg_recv(c->fd, &m, s->buf, DELEG_EXTRA_MAX, &fd, MSG_DONTWAIT);
  if (n < 0) {
    if (errno != EAGAIN) conn_drop(s, c);
    return;
  }
  _cleanup_close_ int passed = fd;
  switch (m.type) {
  case DM_REGISTER: {
    if (e != NULL) break;
    _cleanup_error_ guise_error *why = NULL;
    c->entry = registration(s, i, s->buf, (size_t)n, passed, m.result, &why);
    if (c->entry != NULL) s->n_unregistered--;
    struct deleg_msg r = {.type = DM_REGISTERED,
                          .result = why ? (why->errnum ? why->errnum : EPERM) : 0};
    const char *msg = why != NULL && why->msg != NULL ? why->msg : "";
    if (msg_send_patiently(c->fd, &r, msg, strlen(msg) + 1) < 0 || c->entry == NULL)
      conn_drop(s, c);
    return;
  }
  case DM_SEND:
    if (e != NULL && pending_take(s, e, m.u.resp.id, true)) listener_send(s->st, &m.u.resp);
    return;
  case DM_ADDFD:
    if (e != NULL && passed >= 0 && pending_take(s, e, m.u.addfd.id, true)) {
      m.u.addfd.srcfd = (uint32_t)passed;
      listener_addfd(s->st, &m.u.addfd);
    }
    return;
  case DM_ID_VALID: {
    bool valid =
        e != NULL && pending_take(s, e, m.u.id, false) && tracer_listener_id_valid(s->st, m.u.id);
    struct deleg_msg r = {.type = DM_REPLY, .seq = m.seq, .result = valid ? 0 : ENOENT};
    if (e != NULL ? entry_send(s, e, &r) < 0 : msg_send_patiently(c->fd, &r, NULL, 0) < 0)
      conn_drop(s, c);
    return;
  }
  default:
    break;
  }
  conn_drop(s, c); /* not the protocol */
}

/* Handle what is ready, waiting at most timeout ms; false when told to stop. */
static bool server_poll(struct deleg_server *s, int timeout)
{
  struct epoll_event evs[16];
  int n = epoll_wait(s->epfd, evs, 16, timeout);
  for (int i = 0; i < n; i++) {
    uint64_t k = evs[i].data.u64;
    if (k == 1) return false;
    if (k == 0)
      server_accept(s);
    else
      server_conn(s, (size_t)(k - 2));
  }
  return true;
}

static void *server_thread(void *arg)
{
  struct deleg_server *s = arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  while (server_poll(s, -1)) {
  }
  return NULL;
}

static int server_new(struct tracer_state *st, const struct tracer_delegation *d, guise_error **err)
{
  struct deleg_server *s = calloc(1, sizeof(*s));
  if (s == NULL) return guise_fail(err, ENOMEM, "allocating the delegation server failed");
  *s = (struct deleg_server){.st = st, .offer = d->offer, .filter = d->filter, .stopfd = -1};
  s->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pthread_mutex_init(&s->lock, NULL);
  st->server = s;
  s->buf = malloc(DELEG_EXTRA_MAX);
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (s->buf == NULL || s->epfd < 0)
    return guise_fail_errno(err, "setting up the delegation server failed");
  (void)fcntl(s->offer, F_SETFL, fcntl(s->offer, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
  if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->offer, &ev) < 0)
    return guise_fail_errno(err, "watching the delegation socket failed");
  return 0;
}

int deleg_server_start(struct tracer_state *st, const struct tracer_delegation *deleg,
                       guise_error **err)
{
  if (server_new(st, deleg, err) < 0) return -1;
  struct deleg_server *s = st->server;
  s->stopfd = eventfd(0, EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 1};
  if (s->stopfd < 0 || epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stopfd, &ev) < 0)
    return guise_fail_errno(err, "setting up the delegation server failed");
  int e = pthread_create(&s->thread, NULL, server_thread, s);
  if (e != 0) return guise_fail(err, e, "starting the delegation server's thread failed");
  s->threaded = true;
  return 0;
}

void deleg_server_stop(struct tracer_state *st)
{
  struct deleg_server *s = st->server;
  if (s == NULL) return;
  if (s->threaded) {
    uint64_t one = 1;
    (void)!write(s->stopfd, &one, sizeof(one));
    pthread_join(s->thread, NULL);
  }
  for (size_t i = 0; i < s->n_conns; i++)
    if (s->conns[i].fd >= 0 && s->conns[i].entry == NULL) close(s->conns[i].fd);
  for (struct deleg_entry *e = s->entries, *next; e != NULL; e = next) {
    next = e->next;
    close(e->conn);
    if (e->nsfd >= 0) close(e->nsfd);
    free(e->pending);
    free(e->outbox);
    free(e);
  }
  free(s->conns);
  free(s->buf);
  if (s->epfd >= 0) close(s->epfd);
  if (s->stopfd >= 0) close(s->stopfd);
  if (s->spare >= 0) close(s->spare);
  pthread_mutex_destroy(&s->lock);
  free(s);
  st->server = NULL;
}

/* The entry of the registered namespace the thread tid is in (or below), NULL when none.
 * Looked up for every notification, from the thread itself: it is blocked in its call, so its
 * tid cannot be reused meanwhile, while a cache keyed by process (tid -> tgid -> entry) could
 * route a reused tid by the state of a thread that is gone (pid_max is often 32768).
 * *failed: the errno when it cannot be told (EMFILE), 0 otherwise. */
static struct deleg_entry *lookup(struct deleg_server *s, pid_t tid, bool *gone, int *failed)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/ns/user", tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  *gone = fd < 0 && (errno == ENOENT || errno == ESRCH);
  *failed = fd < 0 && !*gone ? errno : 0;
  struct deleg_entry *found = NULL;
  for (int depth = 0; fd >= 0 && found == NULL && depth < DELEG_MAX_DEPTH; depth++) {
    struct stat sb;
    if (fstat(fd, &sb) == 0) {
      pthread_mutex_lock(&s->lock);
      for (struct deleg_entry *e = s->entries; e != NULL && found == NULL; e = e->next)
        if (e->dev == sb.st_dev && e->ino == sb.st_ino) found = e;
      pthread_mutex_unlock(&s->lock);
    }
    int parent = found == NULL ? (int)ioctl(fd, NS_GET_PARENT) : -1;
    if (found == NULL && parent < 0 && errno != EPERM) *failed = errno; /* EPERM: the top */
    close(fd);
    fd = parent;
  }
  if (fd >= 0) close(fd);
  return found;
}

bool deleg_take(struct tracer_state *st, const struct seccomp_notif *req)
{
  struct deleg_server *s = st->server;
  if (atomic_load_explicit(&s->registered, memory_order_acquire) == 0) return false;
  bool gone;
  int failed;
  struct deleg_entry *e = lookup(s, (pid_t)req->pid, &gone, &failed);
  if (gone) return true; /* killed meanwhile: no answer can reach it, none is attempted */
  if (e == NULL && failed != 0) {
    /* Maybe a delegate's: answered here it could go into the wrong database, left unanswered
     * it would wait forever; the caller gets the reason. */
    struct seccomp_notif_resp resp = {.id = req->id, .error = -failed};
    listener_send(st, &resp);
    return true;
  }
  if (e == NULL) return false;
  if (atomic_load(&e->gone)) return true; /* it waits, as under a killed supervisor */
  struct deleg_msg m = {.type = DM_NOTIF, .u.notif = *req};
  m.u.notif.pid = (uint32_t)pid_at_level((pid_t)req->pid, e->pid_level);
  if (m.u.notif.pid == 0 || pending_add(s, e, req->id) < 0) {
    /* Invisible to its delegate (not in a pid namespace below the delegate's): fail the call
     * rather than answer it with the wrong supervisor's state. */
    struct seccomp_notif_resp resp = {.id = req->id, .error = -ENOSYS};
    listener_send(st, &resp);
    return true;
  }
  if (entry_send(s, e, &m) < 0) atomic_store(&e->gone, true);
  return true;
}

/* --- the inner side --- */

int tracer_delegate_child_request(int sock, guise_error **err)
{
  static const char busy[] = "installing the seccomp filter failed: an outer supervisor already "
                             "holds a seccomp listener";
  _cleanup_close_ int nsfd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return guise_fail_errno(err, "%s, and opening /proc/self/ns/user failed", busy);
  int ack[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ack) < 0)
    return guise_fail_errno(err, "creating the delegation socket failed");
  _cleanup_close_ int wait_end = ack[0];
  char byte = 'D';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  int fds[2] = {ack[1], nsfd};
  int one = 1, r = setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
  if (r == 0) r = fdpass_send(sock, &iov, 1, fds, 2, 0);
  int e = errno;
  close(ack[1]);
  if (r < 0) return guise_fail(err, e, "%s, and asking the supervisor to delegate failed", busy);
  char reply[1024];
  ssize_t n;
  do
    n = read(wait_end, reply, sizeof(reply) - 1);
  while (n < 0 && errno == EINTR);
  if (n >= 1 && reply[0] == 'A') return 0;
  reply[n > 0 ? n : 0] = '\0';
  return guise_fail(err, n < 0 ? errno : 0, "%s, and %s", busy,
                    n > 1 ? reply + 1 : "the supervisor is gone");
}

int deleg_upstream_open(const struct tracer_delegation *d, int nsfd, struct deleg_upstream **out,
                        guise_error **err)
{
  if (d->upstream == NULL || d->filter == NULL)
    return guise_fail(err, EBUSY,
                      "the supervisor has no delegation channel to the outer one, and faking "
                      "under it would be silently wrong (it answers the intercepted calls first)");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(d->upstream) >= sizeof(addr.sun_path))
    return guise_fail(err, ENAMETOOLONG, "the delegation channel path %s is too long", d->upstream);
  strcpy(addr.sun_path, d->upstream);
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return guise_fail_errno(err, "creating the delegation socket failed");
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
    return guise_fail(err, errno,
                      "no outer guise offers to delegate at %s (%s): under a seccomp supervisor "
                      "that is not guise's (LXD, a seccomp agent), faking would be silently "
                      "wrong, so it is refused",
                      d->upstream, strerror(errno));
  /* Bounded: whatever listens there may not be a guise that answers. */
  struct timeval limit = {.tv_sec = 30}, none = {0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  struct deleg_msg m = {.type = DM_REGISTER, .result = procfs_levels_up()};
  if (msg_send(fd, &m, d->filter->insns, d->filter->size, nsfd, 0) < 0)
    return guise_fail_errno(err, "registering with the outer guise at %s failed", d->upstream);
  char why[1024] = "";
  int passed;
  ssize_t n = msg_recv(fd, &m, why, sizeof(why) - 1, &passed, 0);
  if (passed >= 0) close(passed);
  if (n < 0 || m.type != DM_REGISTERED)
    return guise_fail(err, n < 0 ? errno : EPROTO,
                      "registering with the outer guise at %s failed (no answer)", d->upstream);
  why[n] = '\0';
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
  if (m.result != 0)
    return guise_fail(err, m.result, "the outer guise at %s refused to delegate: %s", d->upstream,
                      why);
  struct deleg_upstream *up = calloc(1, sizeof(*up));
  if (up == NULL) return guise_fail(err, ENOMEM, "allocating the delegation state failed");
  up->fd = steal_fd(&fd);
  *out = up;
  return 0;
}

/* The next forwarded notification: 1, 0 when none is ready, -1 when the upstream is gone. */
static int up_next(struct deleg_upstream *up, struct seccomp_notif *req)
{
  if (up->head < up->len) {
    *req = up->queue[up->head++];
    return 1;
  }
  for (;;) {
    if (up->broken) return -1;
    struct deleg_msg m;
    int fd;
    if (msg_recv(up->fd, &m, NULL, 0, &fd, MSG_DONTWAIT) < 0) {
      if (errno == EAGAIN) return 0;
      up->broken = true;
      return -1;
    }
    if (fd >= 0) close(fd);
    if (m.type == DM_NOTIF) {
      *req = m.u.notif;
      return 1;
    }
  }
}

int tracer_delegate_serve(const struct tracer_hello *hello, const struct tracer_policy *policy,
                          const struct tracer_delegation *deleg, int *wstatus, guise_error **err)
{
  _cleanup_close_ int ack = hello->fd, nsfd = hello->nsfd;
  if (wstatus != NULL) *wstatus = -1;
  _cleanup_close_ int child = (int)syscall(SYS_pidfd_open, hello->pid, 0);
  struct deleg_upstream *up = NULL;
  _cleanup_error_ guise_error *refused = NULL;
  if (child < 0)
    guise_fail_errno(&refused, "pidfd_open of the traced process %d failed", (int)hello->pid);
  else
    deleg_upstream_open(deleg, nsfd, &up, &refused);
  if (refused != NULL) {
    char reply[1024];
    int len = snprintf(reply, sizeof(reply), "E%s", refused->msg);
    (void)!write(ack, reply, (size_t)len < sizeof(reply) ? (size_t)len : sizeof(reply) - 1);
    return 0; /* the child says why and exits: one error, not two */
  }
  (void)!write(ack, "A", 1);

  struct tracer_state st = {.listener = -1,
                            .up = up,
                            .epfd = -1,
                            .policy = policy,
                            .page_size = sysconf(_SC_PAGESIZE),
                            .proc_up = procfs_levels_up()};
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  int ret = -1;
  st.epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st.epfd < 0) {
    guise_fail_errno(err, "creating the supervisor's event descriptors failed");
    goto out;
  }
  if (deleg->offer >= 0 && server_new(&st, deleg, err) < 0) goto out;
  if (tracer_deferred_start(&st, err) < 0) goto out;
  for (;;) {
    tracer_deferred_poll(&st);
    int r = up_next(up, &req);
    if (r > 0) {
      tracer_drain_exits(&st);
      tracer_seccomp_answer(&st, &req, &resp, sizeof(resp));
      continue;
    }
    if (r < 0) {
      guise_fail(err, ECONNRESET, "the outer guise's supervisor is gone");
      goto out;
    }
    struct pollfd fds[4] = {{.fd = up->fd, .events = POLLIN},
                            {.fd = child, .events = POLLIN},
                            {.fd = st.epfd, .events = POLLIN},
                            {.fd = st.server != NULL ? st.server->epfd : -1, .events = POLLIN}};
    if (poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue; /* the commit timer */
      guise_fail_errno(err, "waiting for forwarded calls failed");
      goto out;
    }
    if (fds[1].revents) { /* the init of the traced pid namespace: the others die with it */
      ret = 0;
      break;
    }
    if (fds[2].revents) tracer_drain_exits(&st);
    if (fds[3].revents) server_poll(st.server, 0);
  }
out:
  deleg_server_stop(&st);
  tracer_deferred_stop(&st);
  if (st.epfd >= 0) close(st.epfd);
  tracer_state_destroy(&st);
  deleg_upstream_free(up);
  return ret;
}

void deleg_upstream_free(struct deleg_upstream *up)
{
  if (up == NULL) return;
  close(up->fd);
  free(up->queue);
  free(up);
}
