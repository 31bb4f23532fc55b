/* What the backends share: choosing one (auto: seccomp, else ptrace), the child's first message
 * to the supervisor, and running the policy's handler for an intercepted call.
 *
 * The first message carries one byte naming the backend the child chose, because only the
 * child can find out whether a listener can be had (EBUSY when an outer sandbox holds one):
 *   'L' + SCM_RIGHTS(listener)                      seccomp user notification
 *   'P' + SCM_RIGHTS(socket) + SCM_CREDENTIALS      ptrace: the supervisor attaches to the
 *                                                   sender's pid and says so on the socket
 * The pid comes from SCM_CREDENTIALS rather than from the message's bytes because the kernel
 * fills it in and translates it into the receiver's pid namespace (the container's first
 * process is pid 1 in its own). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "util/cleanup.h"
#include "util/fdpass.h"

int tracer_backend_parse(const char *name, enum tracer_backend *out, guise_error **err)
{
  for (int b = TRACER_BACKEND_AUTO; b <= TRACER_BACKEND_PTRACE; b++) {
    if (strcmp(name, tracer_backend_name(b)) == 0) {
      *out = b;
      return 0;
    }
  }
  return guise_fail(err, EINVAL, "parsing backend %s failed: not one of auto, seccomp, ptrace",
                    name);
}

const char *tracer_backend_name(enum tracer_backend backend)
{
  switch (backend) {
  case TRACER_BACKEND_SECCOMP:
    return "seccomp";
  case TRACER_BACKEND_PTRACE:
    return "ptrace";
  default:
    return "auto";
  }
}

int tracer_child_install_backend(int sock, const struct tracer_filter *filter,
                                 enum tracer_backend backend, guise_error **why, guise_error **err)
{
  if (backend == TRACER_BACKEND_AUTO && !tracer_seccomp_available()) {
    guise_fail(why, errno, "seccomp user notification is not available");
    backend = TRACER_BACKEND_PTRACE;
  }
  if (backend != TRACER_BACKEND_PTRACE) {
    _cleanup_error_ guise_error *failed = NULL;
    if (tracer_child_install_filter(sock, filter, &failed) == 0) return TRACER_BACKEND_SECCOMP;
    if (failed->errnum == EBUSY) {
      /* Nothing was installed: the outer listener gets our calls first, whatever we install
       * (the ptrace backend's RET_TRACE included).  Only its supervisor can hand them over. */
      if (tracer_delegate_child_request(sock, err) < 0) return -1;
      return TRACER_BACKEND_SECCOMP;
    }
    if (backend == TRACER_BACKEND_SECCOMP) {
      *err = steal_ptr(&failed);
      return -1;
    }
    if (why != NULL) *why = steal_ptr(&failed);
  }
  if (tracer_ptrace_child_install(sock, filter, err) < 0) return -1;
  return TRACER_BACKEND_PTRACE;
}

int tracer_hello_send(int sock, enum tracer_backend backend, int fd, guise_error **err)
{
  char byte = backend == TRACER_BACKEND_PTRACE ? 'P' : 'L';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  /* With SO_PASSCRED on the sending end the kernel attaches the sender's real pid, uid and gid
   * itself (sending them explicitly would need the real ids, which an outer faker may hide). */
  int one = 1;
  if (backend == TRACER_BACKEND_PTRACE &&
      setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
    return guise_fail_errno(err, "setting SO_PASSCRED on the supervisor's socket failed");
  if (fdpass_send(sock, &iov, 1, &fd, 1, 0) < 0)
    return guise_fail_errno(err, "sending the %s hello to the supervisor failed",
                            tracer_backend_name(backend));
  return 0;
}

int tracer_hello_recv(int sock, struct tracer_hello *out, guise_error **err)
{
  *out = (struct tracer_hello){.fd = -1, .nsfd = -1};
  int one = 1;
  if (setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
    return guise_fail_errno(err, "setting SO_PASSCRED on the supervisor's socket failed");
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  int fds[2];
  struct ucred cred;
  ssize_t n = fdpass_recv(sock, &iov, 1, fds, 2, &cred, 0);
  if (n < 0) return guise_fail_errno(err, "receiving the traced process's hello failed");
  out->fd = fds[0];
  out->nsfd = fds[1];
  pid_t pid = cred.pid;
  if (n == 0 || out->fd < 0) {
    if (out->fd >= 0) close(out->fd);
    out->fd = -1;
    return guise_fail(err, 0, "the traced process exited before installing its seccomp filter");
  }
  if (byte == 'D' && out->nsfd < 0) {
    close(out->fd);
    out->fd = -1;
    return guise_fail(err, 0, "the traced process's delegation hello carried no namespace");
  }
  if (byte != 'D' && out->nsfd >= 0) {
    close(out->nsfd);
    out->nsfd = -1;
  }
  if (byte == 'P' || byte == 'D') {
    out->backend = byte == 'P' ? TRACER_BACKEND_PTRACE : TRACER_HELLO_DELEGATE;
    out->pid = pid;
    if (pid <= 0) {
      close(out->fd);
      out->fd = -1;
      if (out->nsfd >= 0) close(out->nsfd);
      out->nsfd = -1;
      return guise_fail(err, 0, "the traced process's hello carried no pid");
    }
  } else {
    out->backend = TRACER_BACKEND_SECCOMP;
  }
  return 0;
}

int tracer_serve(int sock, int keeper, pid_t first_child, const struct tracer_policy *policy,
                 int *wstatus, guise_error **err)
{
  return tracer_serve_delegating(sock, keeper, first_child, policy, NULL, wstatus, err);
}

int tracer_serve_delegating(int sock, int keeper, pid_t first_child,
                            const struct tracer_policy *policy,
                            const struct tracer_delegation *deleg, int *wstatus, guise_error **err)
{
  _cleanup_close_ int offer = deleg != NULL ? deleg->offer : -1;
  struct tracer_delegation d = {.offer = -1};
  if (deleg != NULL) d = *deleg;
  if (wstatus != NULL) *wstatus = -1;
  struct tracer_hello hello;
  if (tracer_hello_recv(sock, &hello, err) < 0) return -1;
  if (hello.backend == TRACER_BACKEND_PTRACE) {
    close(steal_fd(&offer)); /* nothing to delegate from: no listener */
    return tracer_ptrace_serve(&hello, first_child, policy, wstatus, err);
  }
  if (policy->view != NULL) { /* user notification cannot rewrite a call's arguments */
    close(hello.fd);
    return guise_fail(err, EINVAL, "serving a view failed: the traced process chose seccomp, "
                                   "and only the ptrace backend translates paths");
  }
  if (hello.backend == TRACER_HELLO_DELEGATE)
    return tracer_delegate_serve(&hello, policy, &d, wstatus, err);
  _cleanup_error_ guise_error *unsent = NULL;
  if (keeper >= 0 && tracer_hello_send(keeper, TRACER_BACKEND_SECCOMP, hello.fd, &unsent) < 0) {
    close(hello.fd); /* the filtered processes get ENOSYS: their keeper must stop them */
    return guise_fail(err, unsent->errnum, "handing the seccomp listener to its keeper failed");
  }
  return tracer_seccomp_serve(hello.fd, first_child, policy, &d, wstatus, err);
}

int tracer_dispatch(struct tracer_state *st, struct tracee *t, uint32_t arch, int nr,
                    const uint64_t args[6], struct syscall_reply *reply)
{
  *reply = (struct syscall_reply){0};
  int id = syscall_lookup(arch, nr);
  if (id < 0 || arch != syscall_native_arch() || t->tid == 0) return -1;
  if (tracer_needs_call(id)) tracer_proc_invalidate(st, t, id, args);
  syscall_handler_fn fn = st->policy->handlers[id];
  if (fn != NULL) {
    struct syscall_event ev = {.id = id, .arch = arch, .nr = nr, .tid = t->tid, .tracee = t};
    memcpy(ev.args, args, sizeof(ev.args));
    void *ctx = st->policy->handler_ctx[id] ? st->policy->handler_ctx[id] : st->policy->ctx;
    fn(ctx, &ev, reply);
  }
  return id;
}

/* The timer's signal: a realtime one of its own (seccomp.c uses SIGRTMIN + 2 to wake the loop
 * when the listener hangs up).  Installed without SA_RESTART, so that the loop's blocking
 * RECV or waitpid returns EINTR and the loop polls. */
#define DEFER_SIGNAL (SIGRTMIN + 3)
static volatile sig_atomic_t defer_due;

static void defer_alarm(int sig)
{
  (void)sig;
  defer_due = 1;
}

int tracer_deferred_start(struct tracer_state *st, guise_error **err)
{
  const struct tracer_policy *p = st->policy;
  if (p->deferred_pending == NULL || p->flush_deferred == NULL) return 0;
  /* A supervisor serving forwarded calls is itself filtered (by the outer guise): without
   * SA_RESTART the timer would make its own intercepted calls fail with EINTR when it comes
   * before the outer supervisor has received them.  Its poll() still returns EINTR. */
  struct sigaction sa = {.sa_handler = defer_alarm, .sa_flags = st->up != NULL ? SA_RESTART : 0};
  sigemptyset(&sa.sa_mask);
  if (sigaction(DEFER_SIGNAL, &sa, NULL) < 0)
    return guise_fail_errno(err, "installing the supervisor's timer signal failed");
  struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = DEFER_SIGNAL};
  sev._sigev_un._tid = gettid(); /* sigev_notify_thread_id, which glibc 2.36 lacks */
  if (timer_create(CLOCK_MONOTONIC, &sev, &st->defer_timer) < 0)
    return guise_fail_errno(err, "creating the supervisor's timer failed");
  st->defer_timer_made = true;
  defer_due = 0;
  return 0;
}

void tracer_deferred_poll(struct tracer_state *st)
{
  if (!st->defer_timer_made) return;
  const struct tracer_policy *p = st->policy;
  if (defer_due) {
    defer_due = 0;
    st->defer_armed = false;
    p->flush_deferred(p->ctx);
  }
  if (!st->defer_armed && p->deferred_pending(p->ctx)) {
    unsigned ms = p->defer_ms != 0 ? p->defer_ms : TRACER_DEFER_MS;
    struct itimerspec at = {.it_value = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L}};
    if (timer_settime(st->defer_timer, 0, &at, NULL) == 0)
      st->defer_armed = true;
    else
      p->flush_deferred(p->ctx); /* no timer: no deferring */
  }
}

int tracer_deferred_signal(void)
{
  return DEFER_SIGNAL;
}

void tracer_deferred_stop(struct tracer_state *st)
{
  if (!st->defer_timer_made) return;
  timer_delete(st->defer_timer);
  st->defer_timer_made = st->defer_armed = false;
  signal(DEFER_SIGNAL, SIG_DFL);
  const struct tracer_policy *p = st->policy;
  if (p->deferred_pending(p->ctx)) p->flush_deferred(p->ctx);
}
