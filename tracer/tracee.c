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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "tracer/resolve.h"
#include "tracer/translate.h"
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

int tracer_status_ns_pids(const char *status, pid_t *ids, int max)
{
  const char *v = status_value(status, "NSpid");
  int n = 0;
  while (v != NULL && n < max) {
    char *end;
    long id = strtol(v, &end, 10);
    if (end == v || id <= 0 || id > INT_MAX) break;
    ids[n++] = (pid_t)id;
    v = end;
  }
  return n;
}

pid_t tracer_own_pid(const struct tracer_state *st, pid_t pid)
{
  if (st->proc_up == 0) return pid;
  char path[64], buf[4096];
  pid_t ids[40];
  snprintf(path, sizeof(path), "/proc/%d/status", pid);
  if (read_proc(path, buf, sizeof(buf)) < 0) return 0;
  int n = tracer_status_ns_pids(buf, ids, 40);
  return st->proc_up < n ? ids[st->proc_up] : 0;
}

pid_t tracee_tid(const struct tracee *t)
{
  return t->tid;
}

/* Whether the cached entry tids[tid] = tgid still holds.  A thread's exit is not reported to
 * the seccomp supervisor (only its process's, through the pidfd), so once a non-leader thread
 * has exited its id may belong to another process: tgkill with signal 0 says whether tid is a
 * thread of tgid now (ESRCH: no), without reading /proc.  A leader's entry needs no check: its
 * id is not reused before the whole process is gone and reaped, and that exit was drained
 * before the call was received (drain_exits).  Under ptrace every thread's exit is seen. */
static bool cached_tid_holds(struct tracer_state *st, pid_t tid, pid_t tgid)
{
  if (tgid == tid || st->listener < 0)
    return true;
  return syscall(SYS_tgkill, tgid, tid, 0) == 0 || errno != ESRCH;
}

/* Drop the entries of exited threads, which nothing else removes under seccomp (a process
 * making threads for long would grow the map up to pid_max): when the map has doubled since
 * the last sweep, so the cost per entry stays constant. */
static void sweep_tids(struct tracer_state *st)
{
  if (st->listener < 0 || st->tids.count < st->tids_sweep_at)
    return;
  pid_t k;
  void *v;
  for (size_t i = 0; pidmap_next(&st->tids, &i, &k, &v);)
    if (!cached_tid_holds(st, k, (pid_t)(intptr_t)v))
      pidmap_remove(&st->tids, k);
  st->tids_sweep_at = 2 * st->tids.count + 1024;
}

struct tracer_proc *tracer_proc_of(struct tracee *t, guise_error **err)
{
  if (t->proc != NULL)
    return t->proc;
  struct tracer_state *st = t->st;
  pid_t tgid = (pid_t)(intptr_t)pidmap_get(&st->tids, t->tid);
  struct tracer_proc *p = tgid != 0 ? pidmap_get(&st->procs, tgid) : NULL;
  if (tgid != 0 && (p == NULL || !cached_tid_holds(st, t->tid, tgid))) {
    pidmap_remove(&st->tids, t->tid);
    tgid = 0;
    p = NULL;
  }
  bool fresh = tgid == 0;
  if (tgid == 0) {
    long v = status_field(t->tid, "Tgid", 10);
    if (v <= 0) {
      guise_fail(err, errno ? errno : ESRCH, "reading the thread group of %d failed", t->tid);
      return NULL;
    }
    tgid = (pid_t)v;
    sweep_tids(st);
    if (pidmap_put(&st->tids, t->tid, (void *)(intptr_t)tgid) < 0) {
      guise_fail(err, ENOMEM, "caching thread %d failed", t->tid);
      return NULL;
    }
    p = pidmap_get(&st->procs, tgid);
  }
  if (p == NULL) {
    pid_t own = tracer_own_pid(st, tgid);
    int pidfd = own > 0 ? (int)syscall(SYS_pidfd_open, own, 0) : (errno = ESRCH, -1);
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
  /* What /proc said about tid (and which process pidfd_open found) was about the caller only if
   * the caller was still there afterwards: its id cannot have been reused meanwhile. */
  if (fresh && !tracee_call_valid(t)) {
    pidmap_remove(&st->tids, t->tid);
    guise_fail(err, ESRCH, "thread %d is gone", t->tid);
    return NULL;
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
    p->ns_tgid = 0; /* its /proc may be another pid namespace's now */
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
  pid_t parent = tracer_parent_of(tracee_tgid(t));
  return tracee_call_valid(t) ? parent : 0; /* else /proc/TGID may have been another's */
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
  if (!tracee_call_valid(t))
    return guise_fail(err, ESRCH, "reading the umask of %d failed: it is gone", t->tid);
  return (int)v;
}

const char *tracee_exe(struct tracee *t)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL) return NULL;
  if (t->st->tr != NULL && pidmap_get(&t->st->tr->exes, p->tgid) != NULL)
    return pidmap_get(&t->st->tr->exes, p->tgid); /* the program, not the view's loader */
  if (p->exe == NULL) {
    char link[64], exe[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/%d/exe", p->tgid);
    ssize_t n = readlink(link, exe, sizeof(exe) - 1);
    if (n <= 0 || !tracee_call_valid(t)) return NULL;
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
    /* Bound to the address space it was opened on: the caller's only if it is still there. */
    if (p->memfd >= 0 && !tracee_call_valid(t)) {
      close(p->memfd);
      p->memfd = -1;
    }
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
  pid_t own = tracer_own_pid(t->st, t->tid);
  return own > 0 ? process_vm_readv(own, &local, 1, remote, n, 0) : -1;
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

/* Whether [addr, addr+len) lies in writable mappings of t's process (/proc/TGID/maps), for
 * writes through /proc/PID/mem, which the kernel makes with FOLL_FORCE: they would go through
 * a read-only page where the tracee's own call fails with EFAULT. */
static bool range_writable(struct tracee *t, struct tracer_proc *p, uint64_t addr, size_t len)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/maps", p->tgid);
  _cleanup_fclose_ FILE *maps = fopen(path, "re");
  if (maps == NULL || !tracee_call_valid(t)) return false;
  uint64_t want = addr, end = addr + len;
  if (end < addr) return false;
  char line[512];
  while (want < end && fgets(line, sizeof(line), maps) != NULL) {
    unsigned long long lo, hi;
    char perms[5];
    if (sscanf(line, "%llx-%llx %4s", &lo, &hi, perms) != 3) return false;
    if (strchr(line, '\n') == NULL) /* a long path: skip the rest of the line */
      for (int c; (c = fgetc(maps)) != EOF && c != '\n';)
        ;
    if (hi <= want) continue;
    if (lo > want || perms[1] != 'w')
      return false; /* a hole or a read-only mapping (lines are sorted by address) */
    want = hi;
  }
  return want >= end;
}

int tracee_write(struct tracee *t, uint64_t addr, const void *buf, size_t len, guise_error **err)
{
  struct tracer_proc *p = tracer_proc_of(t, err);
  if (p == NULL) return -1;
  /* process_vm_writev honours page protections as the kernel's own copy to the caller does; a
   * sandbox may refuse it (Docker's default seccomp profile: EPERM), then /proc/PID/mem. */
  if (!t->st->vm_write_refused) {
    struct iovec local = {.iov_base = (void *)buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    pid_t own = tracer_own_pid(t->st, t->tid);
    ssize_t n = own > 0 ? process_vm_writev(own, &local, 1, &remote, 1, 0) : (errno = ESRCH, -1);
    if (n == (ssize_t)len) return 0;
    if (n >= 0 || (errno != EPERM && errno != ENOSYS))
      return guise_fail(err, EFAULT, "writing %zu bytes to %d at 0x%llx failed", len, t->tid,
                        (unsigned long long)addr);
    t->st->vm_write_refused = true;
  }
  int fd = memfd_of(t);
  if (fd >= 0 && range_writable(t, p, addr, len) &&
      pwrite(fd, buf, len, (off_t)addr) == (ssize_t)len)
    return 0;
  return guise_fail(err, EFAULT, "writing %zu bytes to %d at 0x%llx failed", len, t->tid,
                    (unsigned long long)addr);
}

/* Whether the tracee's descriptor was opened with O_PATH ("flags:" in /proc/TGID/fdinfo/N). */
static bool tracee_fd_is_opath(pid_t tgid, int tracee_fd)
{
  char path[64], text[512];
  snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", tgid, tracee_fd);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, text, sizeof(text) - 1);
  if (n <= 0) return false;
  text[n] = '\0';
  const char *flags = strstr(text, "flags:");
  return flags != NULL && (strtoul(flags + strlen("flags:"), NULL, 8) & O_PATH) != 0;
}

/* pidfd_getfd refused: Docker's default seccomp profile allows it only with CAP_SYS_PTRACE,
 * Yama's ptrace_scope 2 and 3 refuse its ptrace attach check.  /proc/TGID/fd/N reaches the same
 * file with a read check only.  What the handlers do with the descriptor (resolve relative
 * paths, stat, chown, chmod, xattrs) is about the inode, not the open file description; but
 * a copy that is O_PATH is asked about with tracee_fd_is_path (fchown of an O_PATH descriptor
 * fails with EBADF).  A regular file or directory is opened again, read-only (write-only when
 * the owner may only write), without side effects; other files (sockets, FIFOs, devices, where
 * an open would block or act) and files we may not open (a 0000 file dpkg has just created,
 * for a caller without CAP_DAC_OVERRIDE) stay O_PATH. */
static int reopen_tracee_fd(const struct tracer_proc *p, int tracee_fd, pid_t tid,
                            guise_error **err)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/fd/%d", p->tgid, tracee_fd);
  _cleanup_close_ int opath = open(path, O_PATH | O_CLOEXEC);
  if (opath < 0)
    return guise_fail(err, errno == ENOENT ? EBADF : errno, "getting descriptor %d of %d failed",
                      tracee_fd, tid);
  struct stat st;
  if (tracee_fd_is_opath(p->tgid, tracee_fd) || fstat(opath, &st) < 0 ||
      !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
    return steal_fd(&opath);
  char self[32];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", opath);
  int fd = open(self, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0 && S_ISREG(st.st_mode)) fd = open(self, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return fd >= 0 ? fd : steal_fd(&opath);
}

bool tracee_fd_is_path(struct tracee *t, int tracee_fd)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL || tracee_fd < 0) return false;
  bool opath = tracee_fd_is_opath(p->tgid, tracee_fd);
  return tracee_call_valid(t) && opath;
}

int tracee_dup_fd(struct tracee *t, int tracee_fd, guise_error **err)
{
  struct tracer_proc *p = tracer_proc_of(t, err);
  if (p == NULL)
    return -1;
  if (tracee_fd < 0)
    return guise_fail(err, EBADF, "descriptor %d of %d", tracee_fd, t->tid);
  int fd = (int)syscall(SYS_pidfd_getfd, p->pidfd, tracee_fd, 0);
  if (fd < 0 && (errno == EPERM || errno == EACCES || errno == ENOSYS)) {
    fd = reopen_tracee_fd(p, tracee_fd, t->tid, err);
    if (fd >= 0 && !tracee_call_valid(t)) { /* /proc/TGID may have named another process */
      close(fd);
      return guise_fail(err, ESRCH, "getting descriptor %d of %d failed: it is gone", tracee_fd,
                        t->tid);
    }
    return fd;
  }
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
    if (!tracee_call_valid(t)) { /* /proc/TGID may have named another process by then */
      close(p->rootfd);
      p->rootfd = -1;
      return guise_fail(err, ESRCH, "opening the root of %d failed: it is gone", p->tgid);
    }
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
  if (!tracee_call_valid(t)) { /* /proc/TID may have named another thread by then */
    close(fd);
    return guise_fail(err, ESRCH, "opening the cwd of %d failed: it is gone", t->tid);
  }
  return fd;
}

/* Whether the procfs at /proc in the tracee's root names the tracee, whose ids are ids[0..n)
 * (the supervisor's view first), as ids[0]: its NSpid line there is exactly those ids, and its
 * pid namespace is the tracee's (an outer process can have the same ids in fewer namespaces:
 * NSpid alone would not tell them apart). */
static bool procfs_names(struct tracee *t, const pid_t *ids, int n)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  int rootfd = root_of(t, NULL);
  if (p == NULL || rootfd < 0) return false;
  char path[64], buf[4096], ns[64], own_ns[64];
  snprintf(path, sizeof(path), "/proc/%d", ids[0]);
  _cleanup_close_ int dir = resolve_in_root(rootfd, rootfd, path, 0, NULL);
  if (dir < 0) return false;
  _cleanup_close_ int fd = openat(dir, "status", O_RDONLY | O_CLOEXEC);
  ssize_t len = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
  if (len <= 0) return false;
  buf[len] = '\0';
  pid_t seen[40];
  if (tracer_status_ns_pids(buf, seen, 40) != n || memcmp(seen, ids, (size_t)n * sizeof(*ids)) != 0)
    return false;
  snprintf(path, sizeof(path), "/proc/%d/ns/pid", p->tgid);
  ssize_t a = readlinkat(dir, "ns/pid", ns, sizeof(ns));
  ssize_t b = readlink(path, own_ns, sizeof(own_ns));
  return a > 0 && a == b && memcmp(ns, own_ns, (size_t)a) == 0;
}

/* The caller's thread group id as the procfs at its /proc knows it (what its /proc/self
 * names), 0 when unknown.  Usually its own pid namespace's; but where a fresh /proc was refused
 * and an outer one bound instead (runtime/mounts.c), that outer namespace's, whose id for it
 * is another level of its NSpid line: the level at which that procfs names it.  p->proc_level
 * keeps how many levels above its innermost that is, for its threads' ids.  Cached until its
 * root changes: a process never changes pid namespace (unshare and setns change its
 * children's). */
static pid_t ns_tgid_of(struct tracee *t)
{
  struct tracer_proc *p = tracer_proc_of(t, NULL);
  if (p == NULL)
    return 0;
  if (p->ns_tgid == 0) {
    char path[64], buf[4096];
    pid_t ids[40];
    snprintf(path, sizeof(path), "/proc/%d/status", p->tgid);
    int n = read_proc(path, buf, sizeof(buf)) < 0 ? 0 : tracer_status_ns_pids(buf, ids, 40);
    if (n == 0) return 0;
    int k = n - 1; /* none matches (no procfs there): its own namespace's, as before */
    for (int level = n - 1; level >= 0; level--)
      if (procfs_names(t, ids + level, n - level)) {
        k = level;
        break;
      }
    if (!tracee_call_valid(t)) return 0;
    p->ns_tgid = ids[k];
    p->proc_level = n - 1 - k;
  }
  return p->ns_tgid;
}

/* The calling thread's id as the procfs at its /proc knows it (see ns_tgid_of), 0 when
 * unknown. */
static pid_t ns_tid_of(struct tracee *t)
{
  if (ns_tgid_of(t) == 0) return 0;
  char path[64], buf[4096];
  pid_t ids[40];
  snprintf(path, sizeof(path), "/proc/%d/status", t->tid);
  int n = read_proc(path, buf, sizeof(buf)) < 0 ? 0 : tracer_status_ns_pids(buf, ids, 40);
  int k = n - 1 - t->proc->proc_level;
  return k >= 0 && tracee_call_valid(t) ? ids[k] : 0;
}

/* If path names one of the tracee's own descriptors through procfs or /dev/fd, its number.
 * Components after the number ("/proc/self/fd/4/passwd": the fd is a directory) are left in
 * *tail, without leading slashes ("" for a trailing slash); *tail is NULL when there are none. */
static int own_fd_path(struct tracee *t, const char *path, const char **tail)
{
  const char *rest = NULL;
  *tail = NULL;
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
        n = snprintf(buf, sizeof(buf), "task/%d/fd/", ns_tid_of(t));
        if (strncmp(in, buf, (size_t)n) == 0)
          rest = in + n;
      }
    }
  }
  if (rest == NULL || !isdigit((unsigned char)rest[0]))
    return -1;
  char *end;
  long fd = strtol(rest, &end, 10);
  if ((*end != '\0' && *end != '/') || fd > INT_MAX)
    return -1;
  if (*end == '/') {
    while (*end == '/')
      end++;
    *tail = end;
  }
  return (int)fd;
}

/* The directory a "/proc/self/fd/N/..." path goes through: the tracee's descriptor N (and in
 * *rootfd the root the rest is confined to).  A missing descriptor is ENOENT, as the kernel's
 * lookup in /proc/self/fd says. */
static int own_fd_dir(struct tracee *t, int own, int *rootfd, guise_error **err)
{
  *rootfd = root_of(t, err);
  if (*rootfd < 0)
    return -1;
  int fd = tracee_dup_fd(t, own, err);
  if (fd < 0 && err != NULL && *err != NULL && (*err)->errnum == EBADF)
    (*err)->errnum = ENOENT;
  return fd;
}

/* /proc/self and /proc/thread-self must mean the tracee, not the supervisor that resolves.  The
 * path is resolved in the tracee's root, where /proc is its own pid namespace's (a container's):
 * so its ids there, not the supervisor's view of them. */
static const char *rewrite_self(struct tracee *t, const char *path, char *buf, size_t size)
{
  if (strncmp(path, "/proc/", 6) != 0) /* the common case: no /proc lookups for it */
    return path;
  pid_t tgid = ns_tgid_of(t);
  if (tgid <= 0)
    return path;
  if (strncmp(path, "/proc/self", 10) == 0 && (path[10] == '/' || path[10] == '\0')) {
    snprintf(buf, size, "/proc/%d%s", tgid, path + 10);
    return buf;
  }
  if (strncmp(path, "/proc/thread-self", 17) == 0 && (path[17] == '/' || path[17] == '\0')) {
    snprintf(buf, size, "/proc/%d/task/%d%s", tgid, ns_tid_of(t), path + 17);
    return buf;
  }
  return path;
}

int tracee_resolve(struct tracee *t, int dirfd, const char *path, int flags, guise_error **err)
{
  const char *tail;
  int own = own_fd_path(t, path, &tail);
  if (own >= 0 && tail == NULL && !(flags & TRACEE_RESOLVE_NOFOLLOW))
    return tracee_dup_fd(t, own, err);
  if (t->st->tr != NULL && path[0] != '\0') /* the root is a view, not the kernel's */
    return translate_resolve(t, dirfd, path, flags, err);
  if (own >= 0 && tail != NULL) {
    /* The magic link is followed (it is not the last component), the rest resolved from the
     * directory it names; NOFOLLOW is for the last component only. */
    int rootfd;
    _cleanup_close_ int dir = own_fd_dir(t, own, &rootfd, err);
    if (dir < 0)
      return -1;
    return resolve_in_root(rootfd, dir, tail[0] != '\0' ? tail : ".", flags, err);
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
  if (t->st->tr != NULL) return translate_resolve_parent(t, dirfd, path, name, err);
  const char *tail;
  int own = own_fd_path(t, path, &tail);
  if (own >= 0 && tail != NULL && tail[0] != '\0') { /* "/proc/self/fd/N/NAME": as above */
    int rootfd;
    _cleanup_close_ int dir = own_fd_dir(t, own, &rootfd, err);
    if (dir < 0)
      return -1;
    return resolve_parent_in_root(rootfd, dir, tail, name, err);
  }
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
