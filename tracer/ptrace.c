/* The ptrace backend, for a kernel without seccomp user notification.  (Not for nesting under
 * an outer listener: see the end of this comment.)  It delivers the same syscall_events
 * to the same handlers as tracer/seccomp.c and carries out the same replies.
 *
 * Child side (tracer_ptrace_child_install): the child asks the supervisor to attach (hello 'P',
 * tracer/backend.c) and waits until it has, then installs the seccomp program the notify
 * backend would, with every SECCOMP_RET_USER_NOTIF turned into SECCOMP_RET_TRACE: the same
 * calls are intercepted, the others never stop.  (A RET_TRACE with no tracer fails the call
 * with ENOSYS, hence attach first.)
 *
 * Who may attach (checked here as an unprivileged user, kernel 6.18): PTRACE_SEIZE needs the
 * same real uid/gid as the target's real, effective and saved ids, which faking never changes,
 * and a dumpable target or CAP_SYS_PTRACE over its memory's user namespace.  `guise fake`'s
 * supervisor is the child's parent.  `guise run`'s is a sibling of the container's first
 * process, outside its pid namespace, but in the parent user namespace as the owner of the
 * container's: that gives it CAP_SYS_PTRACE there, which is also what Yama's ptrace_scope 1
 * and 2 accept (besides being an ancestor), so no PR_SET_PTRACER is needed — which the
 * container could not use anyway, as the supervisor has no pid in its namespace.  ptrace_scope
 * 3 forbids attaching: use seccomp there.
 *
 * Supervisor side (tracer_ptrace_serve): PTRACE_SEIZE with TRACESECCOMP, TRACEFORK/VFORK/CLONE
 * (every new process and thread is traced from its first instruction), TRACEEXEC, EXITKILL
 * (the tracees die with the supervisor rather than run on with ENOSYS for faked calls) and
 * TRACESYSGOOD; then waitpid(-1, __WALL) until no tracee is left.  Each seccomp stop reads the
 * registers (PTRACE_GETREGSET NT_PRSTATUS), runs the handler, and:
 *   CONTINUE   PTRACE_CONT;
 *   RETURN     the call is skipped (number -1: orig_rax on x86_64, NT_ARM_SYSTEM_CALL on
 *              aarch64) and its result is written into the return register at this same stop
 *              — both kernels leave that register alone for a skipped call (the "de-facto
 *              standard way to skip a system call", arch/arm64/kernel/syscall.c), so no
 *              syscall-exit stop is needed;
 *   RETURN_FD  there is no ADDFD for ptrace.  The handler has created the file (recording its
 *              owner) and hands over its descriptor; the tracee's own call is rewritten to open
 *              that file itself: O_CREAT, O_EXCL and O_TRUNC dropped (the file now exists, is
 *              new and empty), O_NOFOLLOW added where O_EXCL was (O_EXCL never follows a final
 *              symlink); creat becomes open, openat2 becomes openat (the handler only takes
 *              calls without RESOLVE_ flags).  The kernel reruns the filter on the rewritten
 *              call, which no longer matches (no O_CREAT).  If the file's mode does not let its
 *              owner open it as asked (dpkg creates with mode 0), the supervisor adds the owner
 *              bits, lets the call run to its syscall-exit stop (PTRACE_SYSCALL) and puts the
 *              mode back there.  Why not inject the descriptor instead: the tracee has no
 *              handle on the supervisor (no pidfd for it, no socket to it) and getting one would
 *              take several injected calls, scratch memory in the tracee, and signals held off
 *              in between.  The cost of rewriting: the tracee opens by path, so if another
 *              process renames something in that path between the handler's creation and the
 *              tracee's open it gets what the path names then (a kernel open racing the rename
 *              could too), while the database keeps the created inode's owner.
 * Other stops: a new tracee's first stop and a wake-up after group-stop (PTRACE_EVENT_STOP with
 * SIGTRAP) are continued; a group-stop (PTRACE_EVENT_STOP with a stopping signal) is left
 * stopped with PTRACE_LISTEN until SIGCONT; fork/clone/exec events are continued (exec drops the
 * memory descriptor again after the fact: another thread may have reopened it in between);
 * anything else is a signal-delivery-stop and the signal is passed on.  An exit is reported for
 * every thread; a thread group's own exit (its leader's, reported last) drops its state.
 *
 * tracee_call_valid is always true here: the calling thread cannot leave the stop.
 *
 * Limits: a tracee cannot be traced by anything else, so strace and gdb do not work under this
 * backend; under another seccomp-notify supervisor, the calls both intercept would go to that one
 * (SECCOMP_RET_USER_NOTIF takes precedence over SECCOMP_RET_TRACE) and never stop here, so the
 * child refuses to go on when it finds an outer listener (EBUSY).  A tracer could still see such
 * calls first at their PTRACE_SYSCALL entry stop (before seccomp runs, since 4.8) and skip them,
 * at the cost of a stop for every call of the tracee; not done: delegation covers guise in guise. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/elf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "tracer/translate.h"
#include "util/cleanup.h"

#ifndef PTRACE_EVENT_STOP
#define PTRACE_EVENT_STOP 128
#endif
#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif

/* --- the child side --- */

/* The notify program with its USER_NOTIF returns turned into TRACE (libseccomp returns
 * constants only: a BPF_RET of A could be anything, so it is refused). */
static int trace_program(const struct tracer_filter *filter, struct sock_filter **out,
                         guise_error **err)
{
  size_t n = filter->size / sizeof(struct sock_filter);
  if (n == 0 || n > BPF_MAXINSNS || filter->size % sizeof(struct sock_filter) != 0)
    return guise_fail(err, EINVAL, "converting the seccomp program for ptrace failed (%zu bytes)",
                      filter->size);
  struct sock_filter *insns = malloc(filter->size);
  if (insns == NULL)
    return guise_fail(err, ENOMEM, "converting the seccomp program for ptrace failed");
  memcpy(insns, filter->insns, filter->size);
  for (size_t i = 0; i < n; i++) {
    if (BPF_CLASS(insns[i].code) != BPF_RET) continue;
    if (BPF_RVAL(insns[i].code) != BPF_K) {
      free(insns);
      return guise_fail(err, EINVAL,
                        "converting the seccomp program for ptrace failed: instruction %zu "
                        "returns a computed action",
                        i);
    }
    if ((insns[i].k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
      insns[i].k = SECCOMP_RET_TRACE;
  }
  *out = insns;
  return 0;
}

int tracer_ptrace_child_install(int sock, const struct tracer_filter *filter, guise_error **err)
{
  _cleanup_free_ struct sock_filter *insns = NULL;
  if (trace_program(filter, &insns, err) < 0) return -1;
  struct sock_fprog prog = {.len = (unsigned short)(filter->size / sizeof(*insns)),
                            .filter = insns};
  int ack[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ack) < 0)
    return guise_fail_errno(err, "creating the ptrace attach socket failed");
  _cleanup_close_ int wait_end = ack[0];
  int r = tracer_hello_send(sock, TRACER_BACKEND_PTRACE, ack[1], err);
  close(ack[1]); /* the supervisor's copy only: EOF if it gives up */
  if (r < 0) return -1;
  /* 'A' once attached, or 'E' and the supervisor's reason (the supervisor's own report may
   * not be shown when the container fails to start: this process must say why). */
  char reply[512];
  ssize_t n;
  do
    n = read(wait_end, reply, sizeof(reply) - 1);
  while (n < 0 && errno == EINTR);
  if (n <= 0 || reply[0] != 'A') {
    reply[n > 0 ? n : 0] = '\0';
    return guise_fail(err, n < 0 ? errno : 0, "waiting for the supervisor to attach failed%s%s",
                      n > 1 ? ": " : " (it is gone)", n > 1 ? reply + 1 : "");
  }
  /* NEW_LISTENER only to find out whether an outer supervisor holds a listener (EBUSY): its
   * USER_NOTIF would take our calls before RET_TRACE, silently.  The program never returns
   * USER_NOTIF; the listener is closed at once.  EINVAL: no user notification in this kernel,
   * so no outer listener either. */
  int e = 0;
  int fd =
      (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (fd >= 0)
    close(fd);
  else if (errno != EINVAL || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
    e = errno;
  if (e == EBUSY)
    return guise_fail(err, e,
                      "installing the seccomp filter failed: an outer supervisor holds a seccomp "
                      "listener, which would answer the intercepted calls before ptrace sees them "
                      "(silently wrong); use the seccomp backend (delegated under guise)");
  if (e == EACCES)
    return guise_fail(err, e, "installing the seccomp filter failed (no_new_privs not set)");
  if (e != 0) return guise_fail(err, e, "installing the seccomp filter failed");
  return 0;
}

/* --- registers --- */

#if defined(__x86_64__)
static int regs_nr(const struct user_regs_struct *r)
{
  return (int)r->orig_rax;
}
static uint64_t regs_sp(const struct user_regs_struct *r)
{
  return r->rsp;
}
static uint64_t *regs_arg(struct user_regs_struct *r, int i)
{
  switch (i) {
  case 0:
    return (uint64_t *)&r->rdi;
  case 1:
    return (uint64_t *)&r->rsi;
  case 2:
    return (uint64_t *)&r->rdx;
  case 3:
    return (uint64_t *)&r->r10;
  case 4:
    return (uint64_t *)&r->r8;
  default:
    return (uint64_t *)&r->r9;
  }
}
#elif defined(__aarch64__)
static int regs_nr(const struct user_regs_struct *r)
{
  return (int)r->regs[8];
}
static uint64_t regs_sp(const struct user_regs_struct *r)
{
  return r->sp;
}
static uint64_t *regs_arg(struct user_regs_struct *r, int i)
{
  return (uint64_t *)&r->regs[i];
}
#else
#error "the ptrace backend supports x86_64 and aarch64"
#endif

static int get_regs(pid_t tid, struct user_regs_struct *r)
{
  struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0) return -1;
  /* A 32-bit tracee has a smaller set; the filter never traps its calls anyway. */
  return iov.iov_len == sizeof(*r) ? 0 : -1;
}

/* Write back r with the call's number set to nr (-1: skip it). */
static int set_regs(pid_t tid, struct user_regs_struct *r, long nr)
{
#if defined(__x86_64__)
  r->orig_rax = (unsigned long long)nr;
#else
  int scno = (int)nr;
  struct iovec sys = {.iov_base = &scno, .iov_len = sizeof(scno)};
  if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_ARM_SYSTEM_CALL, &sys) < 0) return -1;
#endif
  struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
  return (int)ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov);
}

static void set_return(struct user_regs_struct *r, int64_t value)
{
#if defined(__x86_64__)
  r->rax = (unsigned long long)value;
#else
  r->regs[0] = (unsigned long long)value;
#endif
}

/* --- the supervisor --- */

/* A RETURN_FD whose file's mode had to be widened for the tracee's own open: restored at the
 * call's syscall-exit stop. */
struct widened {
  int fd;
  mode_t mode;
};

/* A call whose arguments path translation rewrote: put back at its syscall-exit stop. */
struct saved_call {
  long nr;
  uint64_t args[6];
};

struct ptrace_state {
  struct tracer_state st;
  struct pidmap widened; /* tid -> struct widened * */
  struct translator tr;  /* with a view only (st.tr) */
  struct pidmap saved;   /* tid -> struct saved_call * */
};

static void restore_saved(struct ptrace_state *ps, pid_t tid, bool apply)
{
  if (ps->st.tr != NULL) translate_call_done(ps->st.tr, tid);
  struct saved_call *sc = pidmap_remove(&ps->saved, tid);
  if (sc == NULL) return;
  struct user_regs_struct r;
  if (apply && get_regs(tid, &r) == 0) {
    for (int i = 0; i < 6; i++)
      *regs_arg(&r, i) = sc->args[i];
    (void)set_regs(tid, &r, sc->nr); /* the return value stays; a restart reruns the original */
  }
  free(sc);
}

static void restore_widened(struct ptrace_state *ps, pid_t tid)
{
  struct widened *w = pidmap_remove(&ps->widened, tid);
  if (w == NULL) return;
  /* Best effort: the supervisor owns the file it created. */
  (void)fchmod(w->fd, w->mode);
  close(w->fd);
  free(w);
}

static void resume(pid_t tid, enum __ptrace_request how, int sig)
{
  /* ESRCH: killed meanwhile; its exit is reported next. */
  (void)ptrace(how, tid, 0, (void *)(intptr_t)sig);
}

static void skip_call(pid_t tid, struct user_regs_struct *r, int64_t value)
{
  set_return(r, value);
  (void)set_regs(tid, r, -1);
  resume(tid, PTRACE_CONT, 0);
}

/* The open flags to rewrite a creating open with, and where they live. */
static uint64_t reopen_flags(uint64_t flags)
{
  uint64_t f = flags & ~(uint64_t)(O_CREAT | O_EXCL | O_TRUNC);
  if (flags & O_EXCL) f |= O_NOFOLLOW;
  return f;
}

/* RETURN_FD: make the tracee open the file the handler created (see the top of the file). */
static void return_fd(struct ptrace_state *ps, struct tracee *t, struct user_regs_struct *r,
                      enum syscall_id id, int fd)
{
  uint32_t arch = syscall_native_arch();
  long nr = regs_nr(r);
  uint64_t flags;
  switch (id) {
  case SYSCALL_OPEN:
    flags = *regs_arg(r, 1);
    *regs_arg(r, 1) = reopen_flags(flags);
    break;
  case SYSCALL_CREAT:
    flags = O_CREAT | O_WRONLY | O_TRUNC;
    nr = syscall_number(arch, SYSCALL_OPEN);
    *regs_arg(r, 1) = reopen_flags(flags);
    *regs_arg(r, 2) = 0;
    break;
  case SYSCALL_OPENAT:
    flags = *regs_arg(r, 2);
    *regs_arg(r, 2) = reopen_flags(flags);
    break;
  case SYSCALL_OPENAT2: {
    uint64_t how[3]; /* flags, mode, resolve */
    if (tracee_read(t, *regs_arg(r, 2), how, sizeof(how), NULL) < 0) {
      close(fd);
      skip_call(t->tid, r, -EFAULT);
      return;
    }
    flags = how[0];
    nr = syscall_number(arch, SYSCALL_OPENAT);
    *regs_arg(r, 2) = reopen_flags(flags);
    *regs_arg(r, 3) = 0;
    break;
  }
  default:
    close(fd);
    skip_call(t->tid, r, -ENOSYS); /* no handler returns a descriptor for other calls */
    return;
  }
  mode_t need = 0;
  if ((flags & O_ACCMODE) != O_WRONLY) need |= S_IRUSR;
  if ((flags & O_ACCMODE) != O_RDONLY) need |= S_IWUSR;
  struct stat st;
  struct widened *w = NULL;
  if (fstat(fd, &st) == 0 && (st.st_mode & need) != need && (w = malloc(sizeof(*w))) != NULL) {
    *w = (struct widened){.fd = fd, .mode = st.st_mode & 07777};
    if (fchmod(fd, w->mode | need) < 0 || pidmap_put(&ps->widened, t->tid, w) < 0) {
      free(w);
      w = NULL;
    }
  }
  if (w == NULL) close(fd);
  if (set_regs(t->tid, r, nr) < 0) {
    restore_widened(ps, t->tid);
    restore_saved(ps, t->tid, false);
    resume(t->tid, PTRACE_CONT, 0); /* gone: its exit follows */
    return;
  }
  bool exit_stop = w != NULL || pidmap_get(&ps->saved, t->tid) != NULL;
  resume(t->tid, exit_stop ? PTRACE_SYSCALL : PTRACE_CONT, 0);
}

static void on_seccomp_stop(struct ptrace_state *ps, pid_t tid)
{
  struct user_regs_struct r;
  if (get_regs(tid, &r) < 0) {
    resume(tid, PTRACE_CONT, 0);
    return;
  }
  struct tracee t = {.tid = tid, .st = &ps->st};
  uint64_t args[6];
  for (int i = 0; i < 6; i++)
    args[i] = *regs_arg(&r, i);
  struct syscall_reply reply;
  int id = tracer_dispatch(&ps->st, &t, syscall_native_arch(), regs_nr(&r), args, &reply);
  bool rewritten = false;
  long nr = regs_nr(&r);
  if (ps->st.tr != NULL && id >= 0 && reply.action != SYSCALL_RETURN) {
    /* The handler has seen the guest's paths; the kernel gets the host's. */
    int64_t value = 0;
    struct saved_call orig = {.nr = nr};
    memcpy(orig.args, args, sizeof(orig.args));
    switch (translate_enter(ps->st.tr, &t, id, &nr, args, regs_sp(&r), &value)) {
    case TRANSLATE_RETURN:
      if (reply.action == SYSCALL_RETURN_FD) close((int)reply.value);
      skip_call(tid, &r, value);
      return;
    case TRANSLATE_REWRITE: {
      struct saved_call *sc = malloc(sizeof(*sc));
      if (sc == NULL || pidmap_put(&ps->saved, tid, sc) < 0) {
        free(sc);
        if (reply.action == SYSCALL_RETURN_FD) close((int)reply.value);
        skip_call(tid, &r, -ENOMEM);
        return;
      }
      *sc = orig;
      for (int i = 0; i < 6; i++)
        *regs_arg(&r, i) = args[i];
      rewritten = true;
      break;
    }
    default:
      break;
    }
  }
  switch (reply.action) {
  case SYSCALL_RETURN_FD:
    if (reply.error == 0) {
      return_fd(ps, &t, &r, id, (int)reply.value);
      return;
    }
    close((int)reply.value);
    /* fallthrough */
  case SYSCALL_RETURN:
    skip_call(tid, &r, reply.error != 0 ? -(int64_t)reply.error : reply.value);
    return;
  default:
    if (rewritten && set_regs(tid, &r, nr) < 0) restore_saved(ps, tid, false);
    resume(tid, rewritten ? PTRACE_SYSCALL : PTRACE_CONT, 0);
    return;
  }
}

static void on_exec(struct ptrace_state *ps, pid_t tid)
{
  unsigned long former = 0;
  restore_widened(ps, tid); /* the old leader's, if another thread exec'd: it is gone */
  /* A thread other than the leader that execs takes over the leader's tid. */
  if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &former) == 0 && (pid_t)former != tid) {
    pidmap_remove(&ps->st.tids, (pid_t)former);
    restore_widened(ps, (pid_t)former);
    restore_saved(ps, (pid_t)former, false);
  }
  /* The registers are the new program's: nothing to put back at the exit stop. */
  restore_saved(ps, tid, false);
  if (ps->st.tr != NULL) translate_exec_done(ps->st.tr, former != 0 ? (pid_t)former : tid, tid);
  struct tracee t = {.tid = tid, .st = &ps->st};
  uint64_t none[6] = {0};
  tracer_proc_invalidate(&ps->st, &t, SYSCALL_EXECVE, none);
}

/* A traced process forked (or made a thread): the child runs the parent's program. */
static void on_fork(struct ptrace_state *ps, pid_t tid)
{
  unsigned long child = 0;
  if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) < 0 || child == 0) return;
  struct tracee t = {.tid = tid, .st = &ps->st};
  translate_fork(ps->st.tr, tracee_tgid(&t), (pid_t)child);
}

static void on_tracee_exit(struct ptrace_state *ps, pid_t tid)
{
  restore_widened(ps, tid);
  restore_saved(ps, tid, false);
  if (ps->st.tr != NULL) translate_forget(ps->st.tr, tid);
  if (pidmap_get(&ps->st.procs, tid) != NULL)
    tracer_proc_exited(&ps->st, tid); /* a leader: reported once the whole group is gone */
  else
    pidmap_remove(&ps->st.tids, tid);
}

static bool stopping_signal(int sig)
{
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

int tracer_ptrace_serve(const struct tracer_hello *hello, pid_t first_child,
                        const struct tracer_policy *policy, int *wstatus, guise_error **err)
{
  _cleanup_close_ int ack = hello->fd;
  long options = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                 PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL |
                 PTRACE_O_TRACESYSGOOD;
  if (ptrace(PTRACE_SEIZE, hello->pid, 0, (void *)options) < 0) {
    guise_fail_errno(err, "attaching to process %d with ptrace failed", (int)hello->pid);
    if (err != NULL && *err != NULL) {
      char reply[512];
      int len = snprintf(reply, sizeof(reply), "E%s", (*err)->msg);
      (void)!write(ack, reply, (size_t)len < sizeof(reply) ? (size_t)len : sizeof(reply) - 1);
    }
    return -1;
  }
  /* If the child is gone already, its exit is reported below. */
  (void)!write(ack, "A", 1);
  close(steal_fd(&ack));

  struct ptrace_state ps = {
      .st = {.listener = -1, .epfd = -1, .policy = policy, .page_size = sysconf(_SC_PAGESIZE)}};
  if (policy->view != NULL) {
    ps.tr.view = policy->view;
    ps.st.tr = &ps.tr;
  }
  int ret = -1;
  if (tracer_deferred_start(&ps.st, err) < 0) goto out;
  for (;;) {
    int status;
    tracer_deferred_poll(&ps.st);
    pid_t tid = waitpid(-1, &status, __WALL);
    if (tid < 0) {
      if (errno == EINTR) continue;
      if (errno == ECHILD) {
        ret = 0; /* no tracee left */
        break;
      }
      guise_fail_errno(err, "waiting for the traced processes failed");
      break;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (tid == first_child && wstatus != NULL) *wstatus = status;
      on_tracee_exit(&ps, tid);
      continue;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status), event = (status >> 16) & 0xff;
    if (sig == (SIGTRAP | 0x80)) {
      restore_widened(&ps, tid); /* the syscall-exit stop of a rewritten open */
      restore_saved(&ps, tid, true);
      resume(tid, PTRACE_CONT, 0);
    } else if (event == PTRACE_EVENT_SECCOMP) {
      on_seccomp_stop(&ps, tid);
    } else if (event == PTRACE_EVENT_STOP) {
      if (stopping_signal(sig))
        resume(tid, PTRACE_LISTEN, 0); /* stay stopped until SIGCONT */
      else
        resume(tid, PTRACE_CONT, 0);
    } else if (event != 0) {
      if (event == PTRACE_EVENT_EXEC) on_exec(&ps, tid);
      if (ps.st.tr != NULL &&
          (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE))
        on_fork(&ps, tid);
      resume(tid, PTRACE_CONT, 0);
    } else {
      resume(tid, PTRACE_CONT, sig); /* signal-delivery-stop: deliver it */
    }
  }
out:
  tracer_deferred_stop(&ps.st);
  pid_t k;
  void *v;
  for (size_t i = 0; pidmap_next(&ps.widened, &i, &k, &v);)
    restore_widened(&ps, k);
  pidmap_free(&ps.widened);
  for (size_t i = 0; pidmap_next(&ps.saved, &i, &k, &v);)
    free(pidmap_remove(&ps.saved, k));
  pidmap_free(&ps.saved);
  translate_free(&ps.tr);
  tracer_state_destroy(&ps.st);
  return ret;
}
