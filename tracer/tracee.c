/* Backend-neutral access to a stopped tracee: memory, descriptors, path resolution, and the
 * per-process caches behind them.
 *
 * Costs that shaped this (research/notify-cost.md): opening /proc/PID/fd/N per call costs ~4 µs,
 * pidfd_getfd ~1.3 µs; a cached /proc/PID/mem descriptor reads in ~1.25 µs against ~1.8 µs for
 * process_vm_readv.  So per thread group we keep a pidfd and a /proc/TGID/mem descriptor.  The
 * mem descriptor is bound to the address space it was opened on, so it is dropped when the
 * process calls execve/execveat (the tracer traps both; the next call after a successful exec
 * reopens it — a vfork child's descriptor would otherwise keep reading its parent).  The root
 * directory is cached too (dropped on chroot, pivot_root, setns and unshare(CLONE_NEWNS|CLONE_FS),
 * all trapped); the cwd is opened per call through /proc/TID/cwd, because caching it would need
 * chdir traps that race with CLONE_FS threads. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "tracer/resolve.h"
#include "util/cleanup.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* Read a small /proc file into buf (NUL-terminated); returns length or -1 with errno. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, size - 1);
  int e = errno;
  close(fd);
  if (n < 0) {
    errno = e;
    return -1;
  }
  buf[n] = '\0';
  return n;
}

/* The line "Key:\t..." of a /proc/PID/status text: a pointer to its value, NULL if absent. */
static const char *status_value(const char *status, const char *key)
{
  size_t klen = strlen(key);
  for (const char *line = status; line != NULL && *line; line = strchr(line, '\n')) {
    if (*line == '\n')
      line++;
    if (strncmp(line, key, klen) == 0 && line[klen] == ':')
      return line + klen + 1;
  }
  return NULL;
}

/* The value of "Key:\t..." in /proc/TID/status. */
static long status_field(pid_t tid, const char *key, int base)
{
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/%d/status", tid);
  if (read_proc(path, buf, sizeof(buf)) < 0)
    return -1;
  const char *v = status_value(buf, key);
  if (v == NULL) {
    errno = ENOENT;
    return -1;
  }
  return strtol(v, NULL, base);
}

pid_t tracer_status_ns_pid(const char *status)
{
  const char *v = status_value(status, "NSpid");
  if (v == NULL)
    return 0;
  /* "NSpid:\t12345\t42\n": the outermost namespace first, the process's own last. */
  long last = 0;
  for (;;) {
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v)
      break;
    last = n;
    v = end;
  }
  return last > 0 && last <= INT_MAX ? (pid_t)last : 0;
}

/* The id of thread tid in its own pid namespace (0 when unknown). */
static pid_t ns_pid_of(pid_t tid)
{
  char path[64], buf[4096];
  snprintf(path, sizeof(path), "/proc/%d/status", tid);
  if (read_proc(path, buf, sizeof(buf)) < 0)
    return 0;
  return tracer_status_ns_pid(buf);
}

pid_t tracee_tid(const struct tracee *t)
{
  return t->tid;
}

struct tracer_proc *tracer_proc_of(struct tracee *t, guise_error **err)
{
  if (t->proc != NULL)
    return t->proc;
  struct tracer_state *st = t->st;
  pid_t tgid = (pid_t)(intptr_t)pidmap_get(&st->tids, t->tid);
  if (tgid == 0) {
    long v = status_field(t->tid, "Tgid", 10);
    if (v <= 0) {
      guise_fail(err, errno ? errno : ESRCH, "reading the thread group of %d failed", t->tid);
      return NULL;
    }
    tgid = (pid_t)v;
    if (pidmap_put(&st->tids, t->tid, (void *)(intptr_t)tgid) < 0) {
      guise_fail(err, ENOMEM, "caching thread %d failed", t->tid);
      return NULL;
    }
  }
  struct tracer_proc *p = pidmap_get(&st->procs, tgid);
  if (p == NULL) {
    int pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
    if (pidfd < 0) {
      guise_fail_errno(err, "pidfd_open of %d failed", tgid);
      return NULL;
    }
    p = malloc(sizeof(*p));
    if (p == NULL) {
      close(pidfd);
      guise_fail(err, ENOMEM, "caching process %d failed", tgid);
      return NULL;
    }
    *p = (struct tracer_proc){.tgid = tgid, .pidfd = pidfd, .memfd = -1, .rootfd = -1};
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TRACER_EP_PIDFD | (uint32_t)tgid};
    if (st->epfd >= 0 && epoll_ctl(st->epfd, EPOLL_CTL_ADD, pidfd, &ev) < 0) {
      guise_fail_errno(err, "watching process %d failed", tgid);
      close(pidfd);
      free(p);
      return NULL;
    }
    if (pidmap_put(&st->procs, tgid, p) < 0) {
      close(pidfd);
      free(p);
      guise_fail(err, ENOMEM, "caching process %d failed", tgid);
      return NULL;
    }
  }
  t->proc = p;
  return p;
}

static void proc_free(struct tracer_proc *p)
{
  if (p->pidfd >= 0)
    close(p->pidfd);
  if (p->memfd >= 0)
    close(p->memfd);
  if (p->rootfd >= 0)
    close(p->rootfd);
  free(p->exe);
  free(p);
}

void tracer_proc_exited(struct tracer_state *st, pid_t tgid)
{
  struct tracer_proc *p = pidmap_remove(&st->procs, tgid);
  if (p == NULL)
    return;
  if (st->policy != NULL && st->policy->process_exited != NULL)
    st->policy->process_exited(st->policy->ctx, tgid);
  /* Closing the pidfd removes it from the epoll set. */
  proc_free(p);
  pid_t k;
  void *v;
  for (size_t i = 0; pidmap_next(&st->tids, &i, &k, &v);)
    if ((pid_t)(intptr_t)v == tgid)
      pidmap_remove(&st->tids, k);
}

void tracer_proc_invalidate(struct tracer_state *st, struct tracee *t, enum syscall_id id,
                            const uint64_t args[6])
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL)
    return;
  switch (id) {
  case SYSCALL_EXECVE:
  case SYSCALL_EXECVEAT:
    if (p->memfd >= 0) {
      close(p->memfd);
      p->memfd = -1;
    }
    free(p->exe);
    p->exe = NULL;
    /* A non-leader thread that execs takes over the tgid; other threads die. */
    if (t->tid != p->tgid)
      pidmap_remove(&st->tids, t->tid);
    break;
  case SYSCALL_UNSHARE:
    if (!(args[0] & (CLONE_NEWNS | CLONE_FS)))
      break;
    /* fallthrough */
  case SYSCALL_CHROOT:
  case SYSCALL_PIVOT_ROOT:
  case SYSCALL_SETNS:
    if (p->rootfd >= 0) {
      close(p->rootfd);
      p->rootfd = -1;
    }
    break;
  default:
    break;
  }
}

void tracer_state_destroy(struct tracer_state *st)
{
  pid_t k;
  void *v;
  for (size_t i = 0; pidmap_next(&st->procs, &i, &k, &v);)
    proc_free(v);
  pidmap_free(&st->procs);
  pidmap_free(&st->tids);
}

pid_t tracee_tgid(struct tracee *t)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  return p ? p->tgid : t->tid;
}

pid_t tracee_parent_tgid(struct tracee *t)
{
  return tracer_parent_of(tracee_tgid(t));
}

pid_t tracer_parent_of(pid_t pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  if (read_proc(path, buf, sizeof(buf)) < 0)
    return 0;
  /* "pid (comm) state ppid ...": comm may contain anything, so parse after the last ')'. */
  char *rp = strrchr(buf, ')');
  if (rp == NULL)
    return 0;
  char state;
  int ppid;
  if (sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
    return 0;
  return ppid;
}

int tracee_umask(struct tracee *t, guise_error **err)
{
  long v = status_field(t->tid, "Umask", 8);
  if (v < 0)
    return guise_fail(err, errno, "reading the umask of %d failed", t->tid);
  return (int)v;
}

const char *tracee_exe(struct tracee *t)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL) return NULL;
  if (p->exe == NULL) {
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%d/exe", p->tgid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n <= 0) return NULL;
    p->exe = strndup(exe, (size_t)n);
  }
  return p->exe;
}

static int memfd_of(struct tracee *t)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL)
    return -1;
  if (p->memfd < 0) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", p->tgid);
    p->memfd = open(path, O_RDWR | O_CLOEXEC);
  }
  return p->memfd;
}

/* Read up to len bytes; returns the number read (short at an unmapped page) or -1. */
static ssize_t mem_read(struct tracee *t, uint64_t addr, void *buf, size_t len)
{
  int fd = memfd_of(t);
  if (fd >= 0) {
    ssize_t n = pread(fd, buf, len, (off_t)addr);
    if (n > 0 || len == 0)
      return n;
  }
  /* Fallback: one iovec per page, so that a read running into an unmapped page still
   * returns the bytes before it. */
  struct iovec local = {.iov_base = buf, .iov_len = len};
  struct iovec remote[16];
  size_t n = 0, off = 0;
  long ps = t->st->page_size;
  while (off < len && n < 16) {
    size_t chunk = (size_t)ps - ((addr + off) & (uint64_t)(ps - 1));
    if (chunk > len - off)
      chunk = len - off;
    remote[n].iov_base = (void *)(uintptr_t)(addr + off);
    remote[n].iov_len = chunk;
    off += chunk;
    n++;
  }
  local.iov_len = off;
  return process_vm_readv(t->tid, &local, 1, remote, n, 0);
}

int tracee_read(struct tracee *t, uint64_t addr, void *buf, size_t len, guise_error **err)
{
  size_t done = 0;
  while (done < len) {
    ssize_t n = mem_read(t, addr + done, (char *)buf + done, len - done);
    if (n <= 0)
      return guise_fail(err, EFAULT, "reading %zu bytes of %d at 0x%llx failed", len, t->tid,
                        (unsigned long long)addr);
    done += (size_t)n;
  }
  return 0;
}

int tracee_read_string(struct tracee *t, uint64_t addr, char *buf, size_t size, guise_error **err)
{
  size_t done = 0;
  long ps = t->st->page_size;
  while (done < size) {
    /* Never cross a page boundary in one read: the next page may be unmapped. */
    size_t chunk = (size_t)ps - ((addr + done) & (uint64_t)(ps - 1));
    if (chunk > size - done)
      chunk = size - done;
    ssize_t n = mem_read(t, addr + done, buf + done, chunk);
    if (n <= 0)
      return guise_fail(err, EFAULT, "reading a string of %d at 0x%llx failed", t->tid,
                        (unsigned long long)addr);
    char *nul = memchr(buf + done, '\0', (size_t)n);
    if (nul != NULL)
      return 0;
    done += (size_t)n;
  }
  buf[size - 1] = '\0';
  return guise_fail(err, ENAMETOOLONG, "a string of %d is too long", t->tid);
}

int tracee_write(struct tracee *t, uint64_t addr, const void *buf, size_t len, guise_error **err)
{
  int fd = memfd_of(t);
  if (fd >= 0) {
    ssize_t n = pwrite(fd, buf, len, (off_t)addr);
    if (n == (ssize_t)len)
      return 0;
  }
  struct iovec local = {.iov_base = (void *)buf, .iov_len = len};
  struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
  if (process_vm_writev(t->tid, &local, 1, &remote, 1, 0) == (ssize_t)len)
    return 0;
  return guise_fail(err, EFAULT, "writing %zu bytes to %d at 0x%llx failed", len, t->tid,
                    (unsigned long long)addr);
}

int tracee_dup_fd(struct tracee *t, int tracee_fd, guise_error **err)
{
  struct tracer_proc *p = tracer_proc_of(t, err);
  if (p == NULL)
    return -1;
  if (tracee_fd < 0)
    return guise_fail(err, EBADF, "descriptor %d of %d", tracee_fd, t->tid);
  int fd = (int)syscall(SYS_pidfd_getfd, p->pidfd, tracee_fd, 0);
  if (fd < 0)
    return guise_fail_errno(err, "getting descriptor %d of %d failed", tracee_fd, t->tid);
  return fd;
}

static int root_of(struct tracee *t, guise_error **err)
{
  struct tracer_proc *p = tracer_proc_of(t, err);
  if (p == NULL)
    return -1;
  if (p->rootfd < 0) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/root", p->tgid);
    p->rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (p->rootfd < 0)
      return guise_fail_errno(err, "opening the root of %d failed", p->tgid);
  }
  return p->rootfd;
}

/* The start directory of a relative path: the dirfd's file, or the cwd. */
static int start_of(struct tracee *t, int dirfd, guise_error **err)
{
  if (dirfd != AT_FDCWD)
    return tracee_dup_fd(t, dirfd, err);
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/cwd", t->tid);
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return guise_fail_errno(err, "opening the cwd of %d failed", t->tid);
  return fd;
}

/* The caller's thread group id in its own pid namespace, 0 when unknown.  Cached: a process
 * never changes pid namespace (unshare and setns change its children's). */
static pid_t ns_tgid_of(struct tracee *t)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL)
    return 0;
  if (p->ns_tgid == 0)
    p->ns_tgid = ns_pid_of(p->tgid);
  return p->ns_tgid;
}

/* If path names one of the tracee's own descriptors through procfs or /dev/fd, its number. */
static int own_fd_path(struct tracee *t, const char *path)
{
  const char *rest = NULL;
  char buf[64];
  if (strcmp(path, "/dev/stdin") == 0)
    return 0;
  if (strcmp(path, "/dev/stdout") == 0)
    return 1;
  if (strcmp(path, "/dev/stderr") == 0)
    return 2;
  if (strncmp(path, "/dev/fd/", 8) == 0)
    rest = path + 8;
  else if (strncmp(path, "/proc/self/fd/", 14) == 0)
    rest = path + 14;
  else if (strncmp(path, "/proc/thread-self/fd/", 21) == 0)
    rest = path + 21;
  else if (strncmp(path, "/proc/", 6) == 0 && isdigit((unsigned char)path[6])) {
    /* /proc/PID/fd/N and /proc/PID/task/TID/fd/N, the ids as the caller knows them. */
    pid_t tgid = ns_tgid_of(t);
    int n = snprintf(buf, sizeof(buf), "/proc/%d/", tgid);
    if (tgid > 0 && strncmp(path, buf, (size_t)n) == 0) {
      const char *in = path + n;
      if (strncmp(in, "fd/", 3) == 0)
        rest = in + 3;
      else if (strncmp(in, "task/", 5) == 0) {
        n = snprintf(buf, sizeof(buf), "task/%d/fd/", ns_pid_of(t->tid));
        if (strncmp(in, buf, (size_t)n) == 0)
          rest = in + n;
      }
    }
  }
  if (rest == NULL || !isdigit((unsigned char)rest[0]))
    return -1;
  char *end;
  long fd = strtol(rest, &end, 10);
  if (*end != '\0' || fd > INT_MAX)
    return -1;
  return (int)fd;
}

/* /proc/self and /proc/thread-self must mean the tracee, not the supervisor that resolves.  The
 * path is resolved in the tracee's root, where /proc is its own pid namespace's (a container's):
 * so its ids there, not the supervisor's view of them. */
static const char *rewrite_self(struct tracee *t, const char *path, char *buf, size_t size)
{
  pid_t tgid = ns_tgid_of(t);
  if (tgid <= 0)
    return path;
  if (strncmp(path, "/proc/self", 10) == 0 && (path[10] == '/' || path[10] == '\0')) {
    snprintf(buf, size, "/proc/%d%s", tgid, path + 10);
    return buf;
  }
  if (strncmp(path, "/proc/thread-self", 17) == 0 && (path[17] == '/' || path[17] == '\0')) {
    snprintf(buf, size, "/proc/%d/task/%d%s", tgid, ns_pid_of(t->tid), path + 17);
    return buf;
  }
  return path;
}

int tracee_resolve(struct tracee *t, int dirfd, const char *path, int flags, guise_error **err)
{
  if (!(flags & TRACEE_RESOLVE_NOFOLLOW)) {
    int own = own_fd_path(t, path);
    if (own >= 0)
      return tracee_dup_fd(t, own, err);
  }
  char buf[PATH_MAX + 64];
  path = rewrite_self(t, path, buf, sizeof(buf));
  int rootfd = root_of(t, err);
  if (rootfd < 0)
    return -1;
  if (path[0] == '/')
    return resolve_in_root(rootfd, rootfd, path, flags, err);
  _cleanup_close_ int start = start_of(t, dirfd, err);
  if (start < 0)
    return -1;
  return resolve_in_root(rootfd, start, path, flags, err);
}

int tracee_resolve_parent(struct tracee *t, int dirfd, const char *path, char **name,
                          guise_error **err)
{
  char buf[PATH_MAX + 64];
  path = rewrite_self(t, path, buf, sizeof(buf));
  int rootfd = root_of(t, err);
  if (rootfd < 0)
    return -1;
  _cleanup_close_ int start = -1;
  if (path[0] != '/' && (start = start_of(t, dirfd, err)) < 0)
    return -1;
  return resolve_parent_in_root(rootfd, start >= 0 ? start : rootfd, path, name, err);
}
