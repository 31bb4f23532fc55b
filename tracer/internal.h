/* What the backends share: the tracee as a backend holds it and the per-process caches. */
#ifndef GUISE_TRACER_INTERNAL_H
#define GUISE_TRACER_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "tracer/pidmap.h"
#include "tracer/tracer.h"

/* Per thread group, created on its first intercepted call, dropped when its pidfd reports the
 * exit (the pidfd is in the supervisor's epoll set). */
struct tracer_proc {
  pid_t tgid;
  int pidfd;  /* for pidfd_getfd and the exit notification */
  int memfd;  /* /proc/TGID/mem, opened lazily; closed on execve (the mm changes) */
  int rootfd; /* /proc/TGID/root, opened lazily; closed on chroot, pivot_root, setns, unshare */
};

struct tracer_state {
  int listener; /* seccomp notify fd, -1 for ptrace */
  int epfd;
  struct pidmap tids;  /* tid -> (void *)(intptr_t)tgid */
  struct pidmap procs; /* tgid -> struct tracer_proc * */
  const struct tracer_policy *policy;
  long page_size;
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

#endif
