/* What the backends share: the tracee as a backend holds it and the per-process caches. */
#ifndef GUISE_TRACER_INTERNAL_H
#define GUISE_TRACER_INTERNAL_H

#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "tracer/pidmap.h"
#include "tracer/tracer.h"

struct seccomp_notif;
struct seccomp_notif_resp;
struct seccomp_notif_addfd;

/* Per thread group, created on its first intercepted call, dropped when its pidfd reports the
 * exit (the pidfd is in the supervisor's epoll set). */
struct tracer_proc {
  pid_t tgid;
  int pidfd;     /* for pidfd_getfd and the exit notification */
  int memfd;     /* /proc/TGID/mem, opened lazily; closed on execve (the mm changes) */
  int rootfd;    /* /proc/TGID/root, opened lazily; closed on chroot, pivot_root, setns, unshare */
  pid_t ns_tgid; /* tgid as its /proc knows it (its /proc/self), read lazily; 0: not yet */
  int proc_level; /* that procfs's pid namespace: this many above its own (tracee.c) */
  char *exe;     /* its /proc/TGID/exe, read lazily; dropped on execve */
};

struct deleg_server;
struct deleg_upstream;

struct tracer_state {
  int listener;                /* seccomp notify fd, -1 for ptrace and for a forwarded listener */
  struct deleg_upstream *up;   /* forwarded listener: the outer supervisor, else NULL */
  struct deleg_server *server; /* delegation offered to inner supervisors, else NULL */
  int epfd;
  struct pidmap tids;   /* tid -> (void *)(intptr_t)tgid */
  size_t tids_sweep_at; /* seccomp: drop exited threads' entries at this many (tracee.c) */
  struct pidmap procs;  /* tgid -> struct tracer_proc * */
  const struct tracer_policy *policy;
  long page_size;
  bool vm_write_refused; /* process_vm_writev refused here (EPERM): /proc/PID/mem instead */
  bool defer_timer_made, defer_armed; /* see tracer_deferred_* */
  timer_t defer_timer;
  struct translator *tr; /* the policy has a view: path translation (tracer/translate.c) */
  /* Delegate whose /proc is an outer pid namespace's (this many levels above its own): the ids
   * it is given are that procfs's, and tracer_own_pid converts them for pid syscalls. */
  int proc_up;
};

struct tracee {
  pid_t tid;
  uint64_t notif_id;        /* seccomp */
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

/* pid (an id in the supervisor's /proc) in the supervisor's own pid namespace, for the calls
 * that take one (pidfd_open, process_vm_*); 0 when it has none there. */
pid_t tracer_own_pid(const struct tracer_state *st, pid_t pid);

/* The ids of the "NSpid:" line of a /proc/PID/status text into ids (at most max): the
 * namespace of the procfs read first, the process's own, innermost, last.  Returns how many. */
int tracer_status_ns_pids(const char *status, pid_t *ids, int max);

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
  enum tracer_backend backend; /* SECCOMP or PTRACE, or TRACER_HELLO_DELEGATE */
  int fd;                      /* seccomp: the listener; ptrace, delegate: a socket to confirm on */
  int nsfd;                    /* delegate: the child's user namespace */
  pid_t pid;                   /* ptrace, delegate: the child, in the supervisor's pid namespace */
};
/* The child got EBUSY (an outer listener) and asks its supervisor to have its calls delegated
 * to it by the outer guise's supervisor ('D', tracer/delegate.c). */
#define TRACER_HELLO_DELEGATE ((enum tracer_backend)100)
int tracer_hello_send(int sock, enum tracer_backend backend, int fd, guise_error **err);
int tracer_hello_recv(int sock, struct tracer_hello *out, guise_error **err);

/* The backends (tracer_serve dispatches on the hello). */
int tracer_seccomp_serve(int listener, pid_t first_child, const struct tracer_policy *policy,
                         const struct tracer_delegation *deleg, int *wstatus, guise_error **err);
/* Answer one notification (its pid as seen here): by the policy's handler, or by forwarding it
 * to the delegate of the caller's user namespace. */
void tracer_seccomp_answer(struct tracer_state *st, struct seccomp_notif *req,
                           struct seccomp_notif_resp *resp, size_t resp_size);
/* Process exits reported by the pidfds in st->epfd (non-blocking). */
void tracer_drain_exits(struct tracer_state *st);

/* --- delegation (tracer/delegate.c) --- */

/* The channel's records (wire format: tracer/delegate.c), one per SEQPACKET message. */
#define DELEG_MAGIC 0x31444c47u /* "GLD1" */
enum { DM_REGISTER = 1, DM_REGISTERED, DM_NOTIF, DM_SEND, DM_ADDFD, DM_ID_VALID, DM_REPLY };
struct deleg_msg {
  uint32_t magic, type, seq;
  int32_t result;
  union {
    struct seccomp_notif notif;
    struct seccomp_notif_resp resp;
    struct seccomp_notif_addfd addfd;
    uint64_t id;
  } u;
};

/* Child side: after EBUSY, ask the supervisor over sock to get the calls delegated; waits for
 * its answer.  0, or -1 with *err naming why not. */
int tracer_delegate_child_request(int sock, guise_error **err);
/* Supervisor side of a 'D' hello: register the child's user namespace with the outer
 * supervisor (deleg->upstream) and serve the forwarded calls until the child (the init of the
 * traced pid namespace) has exited. */
int tracer_delegate_serve(const struct tracer_hello *hello, const struct tracer_policy *policy,
                          const struct tracer_delegation *deleg, int *wstatus, guise_error **err);
/* The server of deleg->offer, for a supervisor with a real listener: a thread of its own. */
int deleg_server_start(struct tracer_state *st, const struct tracer_delegation *deleg,
                       guise_error **err);
void deleg_server_stop(struct tracer_state *st);
/* Whether req belongs to a delegate; if so it has been forwarded (or, its delegate being
 * gone, left unanswered) and must not be answered here.  Costs a load when nothing was ever
 * delegated. */
bool deleg_take(struct tracer_state *st, const struct seccomp_notif *req);
/* The inner side's registration: connect to deleg->upstream and register the user namespace
 * nsfd with deleg->filter; *out is the connection the calls then come on. */
int deleg_upstream_open(const struct tracer_delegation *deleg, int nsfd,
                        struct deleg_upstream **out, guise_error **err);
void deleg_upstream_free(struct deleg_upstream *up);
/* The listener operations, on a real listener or through the outer supervisor. */
bool tracer_listener_id_valid(struct tracer_state *st, uint64_t id);
void deleg_up_send(struct deleg_upstream *up, const struct seccomp_notif_resp *resp);
void deleg_up_addfd(struct deleg_upstream *up, const struct seccomp_notif_addfd *addfd);
int tracer_ptrace_child_install(int sock, const struct tracer_filter *filter, guise_error **err);
int tracer_ptrace_serve(const struct tracer_hello *hello, pid_t first_child,
                        const struct tracer_policy *policy, int *wstatus, guise_error **err);

#endif
