/* The syscall interception mechanism.  It knows no policy: a policy (fakefs/) registers one
 * handler per syscall it wants to see; a backend (seccomp user notification, or ptrace where
 * no listener can be had) delivers each intercepted call as a syscall_event and carries out
 * the handler's reply.  Handlers never learn which backend delivered the call. */
#ifndef GUISE_TRACER_TRACER_H
#define GUISE_TRACER_TRACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tracer/syscalls.h"
#include "util/error.h"

/* One stopped thread of a traced process, as the backend holds it. Opaque to handlers. */
struct tracee;

struct syscall_event {
  enum syscall_id id; /* architecture-neutral */
  uint32_t arch;      /* AUDIT_ARCH_X86_64 or AUDIT_ARCH_AARCH64 */
  int nr;             /* the raw number, for messages */
  pid_t tid;          /* the calling thread, as seen from the supervisor */
  uint64_t args[6];
  struct tracee *tracee;
};

enum syscall_action {
  SYSCALL_CONTINUE,  /* let the kernel run the call as the tracee made it */
  SYSCALL_RETURN,    /* the call does not run; the tracee sees value, or -1/error */
  SYSCALL_RETURN_FD, /* the call does not run; value is a descriptor of the supervisor's, which
                      * the backend installs in the tracee (close-on-exec if fd_cloexec) and
                      * closes; the tracee's call returns the new number (openat emulation).
                      * With error != 0 it behaves like SYSCALL_RETURN (value still closed). */
};

struct syscall_reply {
  enum syscall_action action;
  int64_t value;   /* result when error == 0 */
  int error;       /* errno to fail with, 0 for success */
  bool fd_cloexec; /* SYSCALL_RETURN_FD only */
};

/* A handler fills *reply; the backend zeroes it first, so the default is SYSCALL_CONTINUE.
 * It must be idempotent: a call interrupted by a signal and restarted (SA_RESTART) is
 * delivered again with a new notification, and glibc makes every thread of a process issue
 * the same set*id call (SIGSETXID) and aborts if their results differ.  Handlers run one at a
 * time in the supervisor (single-threaded). */
typedef void (*syscall_handler_fn)(void *policy_ctx, const struct syscall_event *ev,
                                   struct syscall_reply *reply);

struct tracer_policy {
  syscall_handler_fn handlers[SYSCALL_ID_COUNT]; /* NULL: not intercepted */
  void *ctx;
  /* Per-handler context, so that independent handler sets (fakefs/cred.c, fakefs/files.c) can
   * share one policy: handler id is called with handler_ctx[id], or ctx when that is NULL. */
  void *handler_ctx[SYSCALL_ID_COUNT];
  /* Optional: a traced thread group that made at least one intercepted call has exited
   * (for per-process state).  Known limitation: a process that never made an intercepted call
   * is unknown to the tracer; if its parent exits first, the orphan later inherits from its
   * new parent (the reaper), not from the original one. */
  void (*process_exited)(void *policy_ctx, pid_t tgid);
  /* Optional: work the policy defers to keep it off the calls' path (fakefs commits its
   * records in batches: one SQLite transaction per change cost more syscalls than the rest of
   * a faked chown).  Between calls, at most TRACER_DEFER_MS after deferred_pending first says
   * true, the backend calls flush_deferred, also when no further call comes; and always before
   * tracer_serve returns.  defer_ms overrides TRACER_DEFER_MS when not 0 (tests). */
  bool (*deferred_pending)(void *policy_ctx);
  void (*flush_deferred)(void *policy_ctx);
  unsigned defer_ms;
  /* Optional: present this view of the file system to the tracees instead of their kernel root
   * (see tracer_view below).  Needs the ptrace backend; the filter then also traps every
   * path-taking call. */
  const struct tracer_view *view;
};
#define TRACER_DEFER_MS 50

/* --- a view: the file system the tracees see, made by path translation --- */

/* Where no namespace can be made, the tracer itself presents a root directory: every
 * path-taking call of a tracee is resolved against the view's bindings (guest path prefix ->
 * host directory; the longest prefix wins, "/" is the root) — symlinks followed within the
 * view, ".." stopping at its root — and rewritten to the host path before the kernel runs it
 * (tracer/translate.c); results that carry paths (getcwd, readlink of /proc/PID/{exe,cwd,root})
 * are translated back; programs run with the view's own dynamic loader (tracer/exec.c).
 * tracee_resolve then resolves in the view, so handlers see guest paths.  Not a security
 * boundary: the kernel walks the translated host path again after the tracer checked it. */
struct tracer_view;
/* A view whose root is the host directory rootfs. */
int tracer_view_new(const char *rootfs, struct tracer_view **out, guise_error **err);
/* Show the host path host (a directory or a file) at the absolute guest path guest. */
int tracer_view_bind(struct tracer_view *v, const char *guest, const char *host,
                     guise_error **err);
void tracer_view_free(struct tracer_view *v);

/* --- what a handler may do with the tracee (implemented by every backend) --- */

pid_t tracee_tid(const struct tracee *t);
/* Thread-group id of the caller (credentials are per thread group). */
pid_t tracee_tgid(struct tracee *t);
/* Parent process of the caller's thread group, for inheriting per-process state. */
pid_t tracee_parent_tgid(struct tracee *t);

/* The parent of any process (from /proc/PID/stat), 0 when unknown: for walking further up
 * than tracee_parent_tgid. */
pid_t tracer_parent_of(pid_t pid);

/* The caller's executable as the supervisor sees its path (/proc/TGID/exe), for diagnostics;
 * cached until the process execs.  NULL when unknown; valid until the handler returns. */
const char *tracee_exe(struct tracee *t);

/* Read len bytes of tracee memory. */
int tracee_read(struct tracee *t, uint64_t addr, void *buf, size_t len, guise_error **err);
/* Read a NUL-terminated string of at most size-1 bytes (ENAMETOOLONG beyond). */
int tracee_read_string(struct tracee *t, uint64_t addr, char *buf, size_t size, guise_error **err);
/* Write into tracee memory (stat buffers, getgroups arrays). Best effort by nature. */
int tracee_write(struct tracee *t, uint64_t addr, const void *buf, size_t len, guise_error **err);
/* True while the call is still pending (seccomp: NOTIF_ID_VALID); check it after reading
 * tracee memory and before acting on what was read. */
bool tracee_call_valid(struct tracee *t);

/* A copy of one of the tracee's file descriptors (caller closes it); errnum EBADF when the
 * tracee has no such descriptor. */
int tracee_dup_fd(struct tracee *t, int tracee_fd, guise_error **err);

/* Whether the tracee's descriptor tracee_fd was opened with O_PATH.  A copy from
 * tracee_dup_fd is O_PATH whenever the tracee's is, but may be O_PATH when the tracee's is not
 * (where pidfd_getfd is refused, a file the supervisor may not open): ask this before failing a
 * call for an O_PATH descriptor (EBADF).  Reads /proc: only for that case. */
bool tracee_fd_is_path(struct tracee *t, int tracee_fd);

/* The caller's umask (for calls the supervisor performs on its behalf, e.g. a device
 * placeholder created by mknodat); -1 with *err on failure.  Reads /proc: not for hot paths. */
int tracee_umask(struct tracee *t, guise_error **err);

/* Flags for tracee_resolve. */
#define TRACEE_RESOLVE_NOFOLLOW 0x1   /* do not follow a final symlink (AT_SYMLINK_NOFOLLOW) */
#define TRACEE_RESOLVE_EMPTY_PATH 0x2 /* "" means dirfd itself (AT_EMPTY_PATH) */

/* Resolve the path the tracee passed (dirfd as in *at calls: AT_FDCWD or the tracee's own
 * descriptor number; path already read from its memory) exactly as the tracee would — its root,
 * its cwd or dirfd, symlinks — and never outside its root.  Returns an O_PATH descriptor of the
 * file (caller closes), or -1 with *err (errnum set to the errno the tracee's own call would
 * have seen, e.g. ENOENT, ENOTDIR, ELOOP).  With EMPTY_PATH and "" the result is a copy of the
 * tracee's dirfd itself (not necessarily O_PATH; with AT_FDCWD its cwd).
 * /proc/self, /proc/thread-self, /dev/fd/N and /dev/std{in,out,err} mean the tracee's, not the
 * supervisor's; other procfs "magic" links (/proc/PID/fd/N of other processes, /proc/PID/root,
 * /proc/PID/exe) fail with ELOOP. */
int tracee_resolve(struct tracee *t, int dirfd, const char *path, int flags, guise_error **err);

/* Resolve the parent directory of path (for calls that create: mknodat, mkdirat, ...); returns
 * an O_PATH|O_DIRECTORY descriptor and stores the final component in *name (malloc'd).  Trailing
 * slashes are dropped ("a/b/" -> parent "a", name "b"); "/" gives the root and name ".";
 * a final "." or ".." is returned as is (the handler fails it as the call would: EEXIST for
 * mkdir/mknod, EINVAL/EBUSY for rename...).  "" fails with ENOENT. */
int tracee_resolve_parent(struct tracee *t, int dirfd, const char *path, char **name,
                          guise_error **err);

/* --- running a traced process --- */

struct tracer;

/* How the child side installs interception: called in the child after namespace setup and
 * no_new_privs, right before exec.  For seccomp it installs the filter and sends the listener
 * over sock; for ptrace it arranges to be traced. */
int tracer_child_install(int sock, const struct tracer_policy *policy, guise_error **err);

/* The same in two steps, for a child that must not spend the time to build the filter when
 * it installs it: the program is built beforehand (possibly by another process, which sends
 * the bytes over) and installed as is. */
struct tracer_filter {
  void *insns; /* BPF instructions (malloc'd by tracer_filter_build) */
  size_t size; /* in bytes */
};
int tracer_filter_build(const struct tracer_policy *policy, struct tracer_filter *out,
                        guise_error **err);
int tracer_child_install_filter(int sock, const struct tracer_filter *filter, guise_error **err);

/* Which backend delivers the calls.  SECCOMP: seccomp user notification (the supervisor gets a
 * listener; under an outer listener, EBUSY, the calls are delegated: "Nesting" below).  PTRACE:
 * the supervisor becomes the ptrace tracer of the child and the same filter returns
 * SECCOMP_RET_TRACE instead, for a kernel without user notification; slower (a ptrace stop per
 * call, see tracer/ptrace.c); refused under an outer listener, which would pre-empt it.
 * AUTO: seccomp, else ptrace. */
enum tracer_backend {
  TRACER_BACKEND_AUTO,
  TRACER_BACKEND_SECCOMP,
  TRACER_BACKEND_PTRACE,
};
/* "auto", "seccomp" or "ptrace". */
int tracer_backend_parse(const char *name, enum tracer_backend *out, guise_error **err);
const char *tracer_backend_name(enum tracer_backend backend);

/* tracer_child_install_filter with a choice of backend (filter: the program built for seccomp,
 * as tracer_filter_build makes it; ptrace derives its own from it).  Returns the backend used
 * (TRACER_BACKEND_SECCOMP, also when delegated, or _PTRACE), or -1 with *err.  When AUTO falls back to ptrace, *why
 * (if not NULL) says why, for a notice to the user.  For ptrace the child waits until the
 * supervisor (tracer_serve on the other end of sock) has attached: it must be allowed to
 * ptrace the child (same uid, and with Yama's ptrace_scope 1 an ancestor or the owner of the
 * child's user namespace; ptrace_scope 2 and 3 leave only seccomp). */
int tracer_child_install_backend(int sock, const struct tracer_filter *filter,
                                 enum tracer_backend backend, guise_error **why, guise_error **err);

/* Supervisor side: receive the listener (or attach with ptrace, whichever the child chose),
 * then serve calls until every traced process has exited.  Returns 0 when all traced processes
 * are gone.  With ptrace it waits for its tracees with waitpid(-1, __WALL): the caller must
 * have no other children.
 *
 * A zombie still holds the filter, so when first_child is a child of the caller tracer_serve
 * reaps it as soon as it exits and stores its wait status in *wstatus (if not NULL; -1 when it
 * could not be reaped here, e.g. the supervisor is not its parent: then its parent must reap
 * it for tracer_serve to return).  first_child may be 0 (nothing to reap).
 *
 * On return (also on error) the listener is closed: any process still filtered then gets
 * ENOSYS for intercepted calls and is never left blocked.  (ptrace: the tracees are attached with
 * PTRACE_O_EXITKILL, so they are killed when the supervisor exits, also after an error.)
 *
 * keeper: -1, or a socket that gets a duplicate of the seccomp listener (an SCM_RIGHTS message)
 * as soon as it arrives.  While the keeper's peer holds that, the listener outlives a supervisor
 * that dies: filtered processes then wait in their intercepted call instead of going on with
 * ENOSYS, and the holder must kill them.  Nothing is sent for ptrace. */
int tracer_serve(int sock, int keeper, pid_t first_child, const struct tracer_policy *policy,
                 int *wstatus, guise_error **err);

/* Nesting (guise in guise).  A filter with a listener cannot be installed below one that has a
 * live listener (EBUSY), and the outer listener would get the inner tracees' calls first
 * (SECCOMP_RET_USER_NOTIF beats the ptrace backend's SECCOMP_RET_TRACE): an inner supervisor
 * can only see its tracees' calls if the outer one hands them over.  So a supervisor may offer
 * a delegation channel (offer: a listening AF_UNIX SOCK_SEQPACKET socket its tracees can reach);
 * an inner supervisor whose child got EBUSY connects to it (upstream), registers its child's
 * user namespace, and from then on receives every notification of a process in that user
 * namespace or below it, answers it with its own policy, and sends the answer back, which the
 * outer supervisor applies on its listener.  Only a user namespace strictly below the
 * registering process's own is accepted (so a process can take over the calls of containers
 * it or its descendants created, never its own or its ancestors'), and only if the inner
 * supervisor's program equals the outer one's (the outer filter decides which calls are
 * intercepted).  A delegate that goes away leaves its processes' calls unanswered (they wait,
 * as under a killed supervisor whose listener is kept; whoever runs them must stop them).  An
 * inner supervisor serving forwarded calls forwards further the same way: any depth works. */
struct tracer_delegation {
  int offer;                          /* listening socket to serve, -1: none */
  const char *upstream;               /* the outer supervisor's channel (a path), NULL: none */
  const struct tracer_filter *filter; /* the program the tracees run under (compared) */
};

/* tracer_serve with delegation (deleg may be NULL: none).  With deleg->offer, the socket is
 * closed on return.  When the child got EBUSY and there is no upstream, or the upstream refuses,
 * the child fails with an error naming the cause (faking with ptrace there would be silently
 * wrong: the outer listener answers first) and this returns 0 (one error, the child's).  A
 * delegated supervisor serves until the child, the init of its pid namespace, has exited. */
int tracer_serve_delegating(int sock, int keeper, pid_t first_child,
                            const struct tracer_policy *policy,
                            const struct tracer_delegation *deleg, int *wstatus, guise_error **err);

/* Whether seccomp user notification is usable here (kernel >= 5.9 features, no listener in an
 * outer filter — the latter is only found out by tracer_child_install with errnum EBUSY). */
bool tracer_seccomp_available(void);

#endif
