/* What the backends share: the tracee as a backend holds it and the per-process caches. */
#ifndef GUISE_TRACER_INTERNAL_H
#define GUISE_TRACER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "tracer/pidmap.h"
#include "tracer/tracer.h"

/* Per thread group, created on its first intercepted call, dropped when its pidfd reports the
 * exit (the pidfd is in the supervisor's epoll set). */
struct tracer_proc {
  pid_t tgid;
  int pidfd;  /* for pidfd_getfd and the exit notification */
  int memfd;  /* /proc/TGID/mem, opened lazily; closed on execve (the mm changes) */
  int rootfd; /* /proc/TGID/root, opened lazily; closed on chroot, pivot_root, setns, unshare */
  pid_t ns_tgid; /* tgid in its own pid namespace (its /proc/self), read lazily; 0: not yet */
  char *exe;     /* its /proc/TGID/exe, read lazily; dropped on execve */
};

struct tracer_state {
  int listener; /* seccomp notify fd, -1 for ptrace */
  int epfd;
  struct pidmap tids;  /* tid -> (void *)(intptr_t)tgid */
  size_t tids_sweep_at; /* seccomp: drop exited threads' entries at this many (tracee.c) */
  struct pidmap procs; /* tgid -> struct tracer_proc * */
  const struct tracer_policy *policy;
  long page_size;
  bool vm_write_refused; /* process_vm_writev refused here (EPERM): /proc/PID/mem instead */
  bool defer_timer_made, defer_armed; /* see tracer_deferred_* */
  timer_t defer_timer;
  struct translator *tr; /* the policy has a view: path translation (tracer/translate.c) */
};

struct tracee {
  pid_t tid;
  uint64_t notif_id; /* seccomp */
  struct tracer_proc *proc; /* NULL until first needed */
  struct tracer_state *st;
};

/* epoll data of a pidfd: this bit plus the tgid (the listener uses 0). */
#define TRACER_EP_PIDFD (UINT64_C(1) << 32)

/* The per-process entry of t (created on first use: tgid lookup, pidfd_open, epoll add).
 * NULL with *err when the process is gone. */
struct tracer_proc *tracer_proc_of(struct tracee *t, guise_error **err);
/* A process exited: tell the policy, drop its caches and its threads. */
void tracer_proc_exited(struct tracer_state *st, pid_t tgid);
/* Drop cached descriptors whose meaning a call may change (before it runs). */
void tracer_proc_invalidate(struct tracer_state *st, struct tracee *t, enum syscall_id id,
                            const uint64_t args[6]);
void tracer_state_destroy(struct tracer_state *st);

/* The id a /proc/PID/status text (its "NSpid:" line) gives the process in its own, innermost,
 * pid namespace; 0 when there is none. */
pid_t tracer_status_ns_pid(const char *status);

/* Calls the tracer itself must see to keep those caches right (execve, chroot, ...), whether
 * or not the policy handles them. */
bool tracer_needs_call(enum syscall_id id);

/* Calls the filter traps when the policy has a view: the path-taking ones (tracer/translate.c). */
bool tracer_view_traps(enum syscall_id id);

/* What every backend does with an intercepted call: look it up, keep the caches right and run
 * the policy's handler, if any, on *reply (zeroed first: CONTINUE).  Returns the call's id, or
 * -1 for a call that is not one of ours (foreign arch, unknown number, tid 0). */
int tracer_dispatch(struct tracer_state *st, struct tracee *t, uint32_t arch, int nr,
                    const uint64_t args[6], struct syscall_reply *reply);

/* The policy's deferred work (tracer_policy.flush_deferred), for the backends' loops: start
 * once (a one-shot timer that signals this thread; the signal interrupts a blocking wait with
 * EINTR), poll after every answered call and every EINTR (flushes when the timer has fired,
 * arms it when work is pending), stop before returning (flushes what is left). */
int tracer_deferred_start(struct tracer_state *st, guise_error **err);
void tracer_deferred_poll(struct tracer_state *st);
void tracer_deferred_stop(struct tracer_state *st);
int tracer_deferred_signal(void); /* the timer's signal number */

/* The child's first message to the supervisor over the socket: which backend it chose, and
 * what the supervisor needs for it (tracer/backend.c). */
struct tracer_hello {
  enum tracer_backend backend; /* SECCOMP or PTRACE */
  int fd;    /* seccomp: the listener; ptrace: a socket to confirm the attach on */
  pid_t pid; /* ptrace: the child, in the supervisor's pid namespace */
};
int tracer_hello_send(int sock, enum tracer_backend backend, int fd, guise_error **err);
int tracer_hello_recv(int sock, struct tracer_hello *out, guise_error **err);

/* The backends (tracer_serve dispatches on the hello). */
int tracer_seccomp_serve(int listener, pid_t first_child, const struct tracer_policy *policy,
                         int *wstatus, guise_error **err);
int tracer_ptrace_child_install(int sock, const struct tracer_filter *filter, guise_error **err);
int tracer_ptrace_serve(const struct tracer_hello *hello, pid_t first_child,
                        const struct tracer_policy *policy, int *wstatus, guise_error **err);

#endif
