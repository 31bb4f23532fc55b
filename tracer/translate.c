/* Path translation for the ptrace backend (see tracer_view in tracer/tracer.h).
 *
 * At the seccomp stop of a path-taking call the supervisor reads the tracee's path, resolves it
 * in the view (tracer/view.c), writes the host path into the tracee's stack below its stack
 * pointer (past the 128-byte red zone the x86_64 ABI lets leaf functions use: the tracee is
 * stopped in a syscall, so nothing of its own lives lower) and points the argument there; a
 * dirfd argument becomes AT_FDCWD since the host path is absolute.  The original registers are
 * put back at the call's syscall-exit stop (the ABI says the argument registers survive a
 * syscall, and a call restarted after a signal must be translated again from the guest path).
 *
 * The cwd is the kernel's: chdir runs on the translated host directory, so the kernel keeps it
 * right across fork, CLONE_FS threads and renames of the directory; its guest path is the host
 * path read from /proc/TID/cwd translated back (getcwd is answered here).  A dirfd's guest path
 * is found the same way, from /proc/TID/fd/N.
 *
 * Calls that take paths and are not translated fail with ENOSYS in the view rather than reach
 * host paths (the mount API, chroot — to be emulated as a change of the view —, handles,
 * fanotify, the *xattrat calls, openat2 with RESOLVE_ flags).
 *
 * Not a security boundary: the kernel walks the host path again after the tracer resolved it,
 * so a symlink swapped in between by another process of the container is followed on the host
 * (time-of-check to time-of-use), as in PRoot. */
#include "tracer/translate.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"

#define RED_ZONE 128

bool tracer_view_traps(enum syscall_id id)
{
  switch (id) {
  case SYSCALL_CHOWN:
  case SYSCALL_LCHOWN:
  case SYSCALL_FCHOWNAT:
  case SYSCALL_CHMOD:
  case SYSCALL_FCHMODAT:
  case SYSCALL_FCHMODAT2:
  case SYSCALL_MKNOD:
  case SYSCALL_MKNODAT:
  case SYSCALL_STAT:
  case SYSCALL_LSTAT:
  case SYSCALL_NEWFSTATAT:
  case SYSCALL_STATX:
  case SYSCALL_SETXATTR:
  case SYSCALL_LSETXATTR:
  case SYSCALL_SETXATTRAT:
  case SYSCALL_GETXATTR:
  case SYSCALL_LGETXATTR:
  case SYSCALL_GETXATTRAT:
  case SYSCALL_LISTXATTR:
  case SYSCALL_LLISTXATTR:
  case SYSCALL_LISTXATTRAT:
  case SYSCALL_REMOVEXATTR:
  case SYSCALL_LREMOVEXATTR:
  case SYSCALL_REMOVEXATTRAT:
  case SYSCALL_UNLINK:
  case SYSCALL_UNLINKAT:
  case SYSCALL_RMDIR:
  case SYSCALL_RENAME:
  case SYSCALL_RENAMEAT:
  case SYSCALL_RENAMEAT2:
  case SYSCALL_OPEN:
  case SYSCALL_OPENAT:
  case SYSCALL_OPENAT2:
  case SYSCALL_CREAT:
  case SYSCALL_MKDIR:
  case SYSCALL_MKDIRAT:
  case SYSCALL_SYMLINK:
  case SYSCALL_SYMLINKAT:
  case SYSCALL_EXECVE:
  case SYSCALL_EXECVEAT:
  case SYSCALL_CHROOT:
  case SYSCALL_PIVOT_ROOT:
  case SYSCALL_PRCTL: /* PR_SET_DUMPABLE */
  case SYSCALL_ACCESS:
  case SYSCALL_FACCESSAT:
  case SYSCALL_FACCESSAT2:
  case SYSCALL_READLINK:
  case SYSCALL_READLINKAT:
  case SYSCALL_GETCWD:
  case SYSCALL_CHDIR:
  case SYSCALL_LINK:
  case SYSCALL_LINKAT:
  case SYSCALL_UTIME:
  case SYSCALL_UTIMES:
  case SYSCALL_FUTIMESAT:
  case SYSCALL_UTIMENSAT:
  case SYSCALL_TRUNCATE:
  case SYSCALL_STATFS:
  case SYSCALL_INOTIFY_ADD_WATCH:
  case SYSCALL_BIND:
  case SYSCALL_CONNECT:
  case SYSCALL_MOUNT:
  case SYSCALL_UMOUNT2:
  case SYSCALL_NAME_TO_HANDLE_AT:
  case SYSCALL_FANOTIFY_MARK:
  case SYSCALL_ACCT:
  case SYSCALL_SWAPON:
  case SYSCALL_SWAPOFF:
  case SYSCALL_USELIB:
  case SYSCALL_QUOTACTL:
  case SYSCALL_OPEN_TREE:
  case SYSCALL_MOVE_MOUNT:
  case SYSCALL_FSOPEN:
  case SYSCALL_FSPICK:
  case SYSCALL_MOUNT_SETATTR:
    return true;
  default:
    return false;
  }
}

/* --- the tracee's side --- */

static const char *guest_exe(void *ctx, pid_t pid)
{
  struct translator *tr = ctx;
  return pidmap_get(&tr->exes, pid);
}

static struct view_proc proc_of(struct tracee *t)
{
  return (struct view_proc){
      .tgid = tracee_tgid(t), .tid = t->tid, .guest_exe = guest_exe, .ctx = t->st->tr};
}

/* The guest path of a /proc/TID/... link of the tracee (its cwd, a descriptor). */
static int guest_link(struct tracee *t, const char *what, char out[PATH_MAX], int missing)
{
  char link[64], host[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/%d/%s", (int)t->tid, what);
  ssize_t n = readlink(link, host, sizeof(host) - 1);
  if (n < 0) return -missing;
  host[n] = '\0';
  if (host[0] != '/' || view_to_guest(t->st->tr->view, host, out) < 0) return -missing;
  return 0;
}

int translate_walk(struct tracee *t, int dirfd, const char *path, bool follow, char guest[PATH_MAX],
                   char host[PATH_MAX], guise_error **err)
{
  char base[PATH_MAX] = "/";
  if (path[0] != '/') {
    char what[32];
    if (dirfd == AT_FDCWD)
      strcpy(what, "cwd");
    else
      snprintf(what, sizeof(what), "fd/%d", dirfd);
    /* A cwd or directory outside the view (deleted, or never in it) cannot anchor a path. */
    int r = guest_link(t, what, base, dirfd == AT_FDCWD ? ENOENT : EBADF);
    if (r < 0) return guise_fail(err, -r, "resolving %s in the view failed", path);
  }
  struct view_proc p = proc_of(t);
  return view_walk(t->st->tr->view, &p, base, path, follow, guest, host, err);
}

int translate_resolve(struct tracee *t, int dirfd, const char *path, int flags, guise_error **err)
{
  char guest[PATH_MAX], host[PATH_MAX];
  bool follow = !(flags & TRACEE_RESOLVE_NOFOLLOW);
  if (translate_walk(t, dirfd, path, follow, guest, host, err) < 0) return -1;
  int fd = open(host, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) return guise_fail_errno(err, "resolving %s in the view failed", path);
  return fd;
}

int translate_resolve_parent(struct tracee *t, int dirfd, const char *path, char **name,
                             guise_error **err)
{
  if (path[0] == '\0') return guise_fail(err, ENOENT, "resolving \"\" in the view failed");
  _cleanup_free_ char *copy = strdup(path);
  if (copy == NULL) return guise_fail(err, ENOMEM, "resolving %s in the view failed", path);
  size_t len = strlen(copy);
  while (len > 1 && copy[len - 1] == '/')
    copy[--len] = '\0';
  const char *parent = ".", *base = copy;
  char *slash = strrchr(copy, '/');
  if (strcmp(copy, "/") == 0) {
    parent = "/";
    base = ".";
  } else if (slash != NULL) {
    base = slash + 1;
    if (slash == copy)
      parent = "/";
    else {
      *slash = '\0';
      parent = copy;
    }
  }
  if (strlen(base) > NAME_MAX)
    return guise_fail(err, ENAMETOOLONG, "resolving %s in the view failed", path);
  char guest[PATH_MAX], host[PATH_MAX];
  if (translate_walk(t, dirfd, parent, true, guest, host, err) < 0) return -1;
  int fd = open(host, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return guise_fail_errno(err, "resolving %s in the view failed", path);
  *name = strdup(base);
  if (*name == NULL) {
    close(fd);
    return guise_fail(err, ENOMEM, "resolving %s in the view failed", path);
  }
  return fd;
}

void scratch_init(struct scratch *s, struct tracee *t, uint64_t sp)
{
  s->t = t;
  s->top = (sp - RED_ZONE) & ~(uint64_t)15;
}

uint64_t scratch_put(struct scratch *s, const void *data, size_t len)
{
  uint64_t at = (s->top - len) & ~(uint64_t)15;
  if (at >= s->top || tracee_write(s->t, at, data, len, NULL) < 0) return 0;
  s->top = at;
  return at;
}

/* --- one call --- */

struct call {
  struct translator *tr;
  struct tracee *t;
  uint64_t *args;
  struct scratch s;
  bool changed;
};

/* Replace the path argument pi (relative to the dirfd argument di, or the cwd when di < 0)
 * by its host path.  0, or -errno for the tracee.  NULL and "" are left to the kernel (a
 * NULL path means the dirfd itself for utimensat; "" with AT_EMPTY_PATH too, else ENOENT). */
static int path_arg(struct call *c, int di, int pi, bool follow)
{
  if (c->args[pi] == 0) return 0;
  char path[PATH_MAX], guest[PATH_MAX], host[PATH_MAX];
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read_string(c->t, c->args[pi], path, sizeof(path), &err) < 0) return -err->errnum;
  if (path[0] == '\0') return 0;
  int dirfd = di >= 0 ? (int)c->args[di] : AT_FDCWD;
  if (translate_walk(c->t, dirfd, path, follow, guest, host, &err) < 0)
    return -(err->errnum ? err->errnum : EINVAL);
  uint64_t at = scratch_put(&c->s, host, strlen(host) + 1);
  if (at == 0) return -EFAULT;
  c->args[pi] = at;
  if (di >= 0) c->args[di] = (uint64_t)(int64_t)AT_FDCWD;
  c->changed = true;
  return 0;
}

/* AF_UNIX socket paths of bind and connect. */
static int socket_arg(struct call *c, bool follow)
{
  struct sockaddr_un sun;
  size_t len = c->args[2];
  size_t off = offsetof(struct sockaddr_un, sun_path);
  if (c->args[1] == 0 || len <= off || len > sizeof(sun)) return 0;
  memset(&sun, 0, sizeof(sun));
  if (tracee_read(c->t, c->args[1], &sun, len, NULL) < 0) return 0;   /* the kernel says EFAULT */
  if (sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0') return 0; /* abstract: no path */
  char path[sizeof(sun.sun_path) + 1], guest[PATH_MAX], host[PATH_MAX];
  memcpy(path, sun.sun_path, len - off);
  path[len - off] = '\0';
  _cleanup_error_ guise_error *err = NULL;
  if (translate_walk(c->t, AT_FDCWD, path, follow, guest, host, &err) < 0) return -err->errnum;
  size_t hl = strlen(host);
  if (hl >= sizeof(sun.sun_path)) {
    /* Too long for sun_path once translated: name the directory through a descriptor the
     * supervisor holds until the call is done, "/proc/SUPERVISOR/fd/N/NAME" (no pid namespace
     * here, and reading another process's fd links needs no ptrace attach right). */
    char *slash = strrchr(host, '/');
    *slash = '\0';
    int dfd = open(slash == host ? "/" : host, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -errno;
    int n = snprintf(host, sizeof(host), "/proc/%d/fd/%d/%s", (int)getpid(), dfd, slash + 1);
    if (n < 0 || (size_t)n >= sizeof(sun.sun_path) ||
        pidmap_put(&c->tr->held, c->t->tid, (void *)(intptr_t)(dfd + 1)) < 0) {
      close(dfd);
      return -ENAMETOOLONG;
    }
    hl = (size_t)n;
  }
  memcpy(sun.sun_path, host, hl + 1);
  uint64_t at = scratch_put(&c->s, &sun, off + hl + 1);
  if (at == 0) return -EFAULT;
  c->args[1] = at;
  c->args[2] = off + hl + 1;
  c->changed = true;
  return 0;
}

static int64_t emulate_getcwd(struct call *c)
{
  char guest[PATH_MAX];
  int r = guest_link(c->t, "cwd", guest, ENOENT);
  if (r < 0) return r;
  size_t len = strlen(guest) + 1;
  if (c->args[1] < len) return -ERANGE;
  if (tracee_write(c->t, c->args[0], guest, len, NULL) < 0) return -EFAULT;
  return (int64_t)len;
}

static int64_t emulate_readlink(struct call *c, int di, int pi, int bi, int si)
{
  if ((int64_t)c->args[si] <= 0) return -EINVAL;
  char path[PATH_MAX], guest[PATH_MAX], host[PATH_MAX], target[PATH_MAX];
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read_string(c->t, c->args[pi], path, sizeof(path), &err) < 0) return -err->errnum;
  if (path[0] == '\0') return -ENOENT;
  int dirfd = di >= 0 ? (int)c->args[di] : AT_FDCWD;
  if (translate_walk(c->t, dirfd, path, false, guest, host, &err) < 0) return -err->errnum;
  struct view_proc p = proc_of(c->t);
  ssize_t n = view_readlink(c->tr->view, &p, host, target);
  if (n < 0) return -errno;
  size_t len = (size_t)n < c->args[si] ? (size_t)n : c->args[si];
  if (tracee_write(c->t, c->args[bi], target, len, NULL) < 0) return -EFAULT;
  return (int64_t)len;
}

enum translate_result translate_enter(struct translator *tr, struct tracee *t, enum syscall_id id,
                                      long *nr, uint64_t args[6], uint64_t sp, int64_t *value)
{
  struct call c = {.tr = tr, .t = t, .args = args};
  scratch_init(&c.s, t, sp);
  uint64_t f;
  int r = 0;
  switch (id) {
  case SYSCALL_OPEN:
    f = args[1];
    r = path_arg(&c, -1, 0, !(f & O_NOFOLLOW) && (f & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL));
    break;
  case SYSCALL_OPENAT:
    f = args[2];
    r = path_arg(&c, 0, 1, !(f & O_NOFOLLOW) && (f & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL));
    break;
  case SYSCALL_OPENAT2: {
    struct open_how how = {0};
    if (args[3] < sizeof(how) || tracee_read(t, args[2], &how, sizeof(how), NULL) < 0) break;
    if (how.resolve != 0) { /* the view would have to implement them: callers fall back */
      r = -ENOSYS;
      break;
    }
    f = how.flags;
    r = path_arg(&c, 0, 1, !(f & O_NOFOLLOW) && (f & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL));
    break;
  }
  case SYSCALL_CREAT:
  case SYSCALL_STAT:
  case SYSCALL_ACCESS:
  case SYSCALL_CHDIR:
  case SYSCALL_CHMOD:
  case SYSCALL_CHOWN:
  case SYSCALL_UTIME:
  case SYSCALL_UTIMES:
  case SYSCALL_TRUNCATE:
  case SYSCALL_STATFS:
  case SYSCALL_SETXATTR:
  case SYSCALL_GETXATTR:
  case SYSCALL_LISTXATTR:
  case SYSCALL_REMOVEXATTR:
    r = path_arg(&c, -1, 0, true);
    break;
  case SYSCALL_LSTAT:
  case SYSCALL_LCHOWN:
  case SYSCALL_MKDIR:
  case SYSCALL_MKNOD:
  case SYSCALL_UNLINK:
  case SYSCALL_RMDIR:
  case SYSCALL_LSETXATTR:
  case SYSCALL_LGETXATTR:
  case SYSCALL_LLISTXATTR:
  case SYSCALL_LREMOVEXATTR:
    r = path_arg(&c, -1, 0, false);
    break;
  case SYSCALL_FACCESSAT:
  case SYSCALL_FCHMODAT:
  case SYSCALL_FUTIMESAT:
    r = path_arg(&c, 0, 1, true);
    break;
  case SYSCALL_MKDIRAT:
  case SYSCALL_MKNODAT:
  case SYSCALL_UNLINKAT:
    r = path_arg(&c, 0, 1, false);
    break;
  case SYSCALL_NEWFSTATAT:
  case SYSCALL_FACCESSAT2:
  case SYSCALL_FCHMODAT2:
  case SYSCALL_UTIMENSAT:
    r = path_arg(&c, 0, 1, !(args[3] & AT_SYMLINK_NOFOLLOW));
    break;
  case SYSCALL_STATX:
    r = path_arg(&c, 0, 1, !(args[2] & AT_SYMLINK_NOFOLLOW));
    break;
  case SYSCALL_FCHOWNAT:
    r = path_arg(&c, 0, 1, !(args[4] & AT_SYMLINK_NOFOLLOW));
    break;
  case SYSCALL_RENAME:
  case SYSCALL_LINK:
    r = path_arg(&c, -1, 0, false);
    if (r == 0) r = path_arg(&c, -1, 1, false);
    break;
  case SYSCALL_RENAMEAT:
  case SYSCALL_RENAMEAT2:
    r = path_arg(&c, 0, 1, false);
    if (r == 0) r = path_arg(&c, 2, 3, false);
    break;
  case SYSCALL_LINKAT:
    r = path_arg(&c, 0, 1, args[4] & AT_SYMLINK_FOLLOW);
    if (r == 0) r = path_arg(&c, 2, 3, false);
    break;
  case SYSCALL_SYMLINK: /* the target is the link's content: a guest path, kept */
    r = path_arg(&c, -1, 1, false);
    break;
  case SYSCALL_SYMLINKAT:
    r = path_arg(&c, 1, 2, false);
    break;
  case SYSCALL_INOTIFY_ADD_WATCH:
    r = path_arg(&c, -1, 1, !(args[2] & IN_DONT_FOLLOW));
    break;
  case SYSCALL_BIND:
  case SYSCALL_CONNECT:
    r = socket_arg(&c, id == SYSCALL_CONNECT);
    break;
  case SYSCALL_PRCTL:
    /* A non-dumpable process is out of the supervisor's reach (/proc/PID/mem, process_vm_*
     * and even PTRACE_PEEKDATA want CAP_SYS_PTRACE over it, which no user namespace gives
     * here): sudo's PR_SET_DUMPABLE 0 succeeds without effect, as under PRoot. */
    if (args[0] == PR_SET_DUMPABLE && args[1] == 0) {
      *value = 0;
      return TRANSLATE_RETURN;
    }
    break;
  case SYSCALL_GETCWD:
    *value = emulate_getcwd(&c);
    return TRANSLATE_RETURN;
  case SYSCALL_READLINK:
    *value = emulate_readlink(&c, -1, 0, 1, 2);
    return TRANSLATE_RETURN;
  case SYSCALL_READLINKAT:
    *value = emulate_readlink(&c, 0, 1, 2, 3);
    return TRANSLATE_RETURN;
  case SYSCALL_EXECVE:
    return translate_exec(tr, t, AT_FDCWD, args[0], args[1], 0, &c.s, nr, args, value);
  case SYSCALL_EXECVEAT:
    return translate_exec(tr, t, (int)args[0], args[1], args[2], (int)args[4], &c.s, nr, args,
                          value);
  default:
    if (tracer_view_traps(id)) r = -ENOSYS; /* a path call the view cannot translate */
    break;
  }
  if (r < 0) {
    *value = r;
    return TRANSLATE_RETURN;
  }
  return c.changed ? TRANSLATE_REWRITE : TRANSLATE_NONE;
}

void translate_exec_done(struct translator *tr, pid_t tid, pid_t tgid)
{
  char *exe = pidmap_remove(&tr->pending, tid);
  free(pidmap_remove(&tr->exes, tgid));
  if (exe != NULL && pidmap_put(&tr->exes, tgid, exe) < 0) free(exe);
}

void translate_fork(struct translator *tr, pid_t tgid, pid_t child)
{
  /* Keyed by the child's id whether it is a process or a thread: a thread's entry is never
   * looked up (lookups are by thread group) and goes when the thread does.  The child may
   * have run (and exec'd) before its parent's fork event is seen: its own entry wins. */
  const char *exe = pidmap_get(&tr->exes, tgid);
  if (exe == NULL || pidmap_get(&tr->exes, child) != NULL) return;
  char *copy = strdup(exe);
  if (copy != NULL && pidmap_put(&tr->exes, child, copy) < 0) free(copy);
}

void translate_call_done(struct translator *tr, pid_t tid)
{
  void *held = pidmap_remove(&tr->held, tid);
  if (held != NULL) close((int)(intptr_t)held - 1);
}

void translate_forget(struct translator *tr, pid_t tid)
{
  translate_call_done(tr, tid);
  free(pidmap_remove(&tr->pending, tid));
  free(pidmap_remove(&tr->exes, tid)); /* keys are leaders: tid is then the group's */
}

void translate_free(struct translator *tr)
{
  pid_t k;
  void *v;
  for (size_t i = 0; pidmap_next(&tr->exes, &i, &k, &v);)
    free(v);
  for (size_t i = 0; pidmap_next(&tr->pending, &i, &k, &v);)
    free(v);
  for (size_t i = 0; pidmap_next(&tr->held, &i, &k, &v);)
    translate_call_done(tr, k);
  pidmap_free(&tr->exes);
  pidmap_free(&tr->pending);
  pidmap_free(&tr->held);
}
