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
  SYSCALL_CONTINUE, /* let the kernel run the call as the tracee made it */
  SYSCALL_RETURN,   /* the call does not run; the tracee sees value, or -1/error */
};

struct syscall_reply {
  enum syscall_action action;
  int64_t value; /* result when error == 0 */
  int error;     /* errno to fail with, 0 for success */
};

/* A handler fills *reply.  It must be idempotent: a call interrupted by a signal and
 * restarted (SA_RESTART) is delivered again. */
typedef void (*syscall_handler_fn)(void *policy_ctx, const struct syscall_event *ev,
                                   struct syscall_reply *reply);

struct tracer_policy {
  syscall_handler_fn handlers[SYSCALL_ID_COUNT]; /* NULL: not intercepted */
  void *ctx;
  /* Optional: a traced thread group has exited (for per-process state). */
  void (*process_exited)(void *policy_ctx, pid_t tgid);
};

/* --- what a handler may do with the tracee (implemented by every backend) --- */

pid_t tracee_tid(const struct tracee *t);
/* Thread-group id of the caller (credentials are per thread group). */
pid_t tracee_tgid(struct tracee *t);
/* Parent process of the caller's thread group, for inheriting per-process state. */
pid_t tracee_parent_tgid(struct tracee *t);

/* Read len bytes of tracee memory. */
int tracee_read(struct tracee *t, uint64_t addr, void *buf, size_t len, guise_error **err);
/* Read a NUL-terminated string of at most size-1 bytes (ENAMETOOLONG beyond). */
int tracee_read_string(struct tracee *t, uint64_t addr, char *buf, size_t size, guise_error **err);
/* Write into tracee memory (stat buffers, getgroups arrays). Best effort by nature. */
int tracee_write(struct tracee *t, uint64_t addr, const void *buf, size_t len, guise_error **err);
/* True while the call is still pending (seccomp: NOTIF_ID_VALID); check it after reading
 * tracee memory and before acting on what was read. */
bool tracee_call_valid(struct tracee *t);

/* A copy of one of the tracee's file descriptors (caller closes it). */
int tracee_dup_fd(struct tracee *t, int tracee_fd, guise_error **err);

/* Flags for tracee_resolve. */
#define TRACEE_RESOLVE_NOFOLLOW 0x1   /* do not follow a final symlink (AT_SYMLINK_NOFOLLOW) */
#define TRACEE_RESOLVE_EMPTY_PATH 0x2 /* "" means dirfd itself (AT_EMPTY_PATH) */

/* Resolve the path the tracee passed (dirfd as in *at calls, path already read from its memory)
 * exactly as the tracee would — its root, its cwd or dirfd, symlinks — and never outside its
 * root.  Returns an O_PATH descriptor of the file (caller closes), or -1 with *err (errnum set to
 * the errno the tracee's own call would have seen, e.g. ENOENT). */
int tracee_resolve(struct tracee *t, int dirfd, const char *path, int flags, guise_error **err);

/* Resolve the parent directory of path (for calls that create: mknodat, mkdirat, ...); returns
 * an O_PATH|O_DIRECTORY descriptor and stores the final component in *name (malloc'd). */
int tracee_resolve_parent(struct tracee *t, int dirfd, const char *path, char **name,
                          guise_error **err);

/* --- running a traced process --- */

struct tracer;

/* How the child side installs interception: called in the child after namespace setup and
 * no_new_privs, right before exec.  For seccomp it installs the filter and sends the listener
 * over sock; for ptrace it arranges to be traced. */
int tracer_child_install(int sock, const struct tracer_policy *policy, guise_error **err);

/* Supervisor side: receive the listener (or attach), then serve calls until every traced
 * process has exited.  Returns 0 when all traced processes are gone. */
int tracer_serve(int sock, pid_t first_child, const struct tracer_policy *policy, guise_error **err);

#endif
