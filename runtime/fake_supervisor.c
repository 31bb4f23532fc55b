#include "runtime/fake_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakefs/policy.h"
#include "runtime/fake_filter.h"
#include "runtime/sandbox.h"
#include "util/cleanup.h"
#include "util/fdpass.h"
#include "util/fileio.h"

/* The status pipe carries READY once the database is open (FAILED instead if it cannot be),
 * then, if the supervisor fails, its error message until it exits.  READY also goes to the
 * container over the socket: its first process waits for it before running anything, so the
 * database is opened while the container is being set up, not before. */
#define READY 'R'
#define FAILED 'F'

static void report(int status_fd, guise_error *err)
{
  if (err != NULL && err->msg != NULL) write_all(status_fd, err->msg, strlen(err->msg));
}

/* The container's first process tells the supervisor which delegation channel it offers: one
 * byte, with the listening socket or without (none). */
static int offer_send(int sock, int fd, guise_error **err)
{
  char byte = 'O';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  if (fdpass_send(sock, &iov, 1, &fd, fd >= 0 ? 1 : 0, 0) < 0)
    return guise_fail_errno(err, "sending the delegation channel to the faking supervisor failed");
  return 0;
}

static int offer_receive(int sock, int *fd)
{
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  ssize_t n = fdpass_recv(sock, &iov, 1, fd, 1, NULL, 0);
  if (n == 1 && byte == 'O') return 0;
  if (*fd >= 0) close(*fd);
  *fd = -1;
  return -1;
}

static __attribute__((noreturn)) void supervisor_main(int sock, int status_fd, int keeper,
                                                      const char *db_path, const char *rootfs)
{
  _cleanup_error_ guise_error *err = NULL;
  prctl(PR_SET_NAME, "guise-fakefs", 0, 0, 0);
  /* The terminal's signals are for the container, which guise forwards them to; anything
   * else that kills the supervisor is noticed by guise. */
  static const int ignored[] = {SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGHUP, SIGPIPE};
  for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
    signal(ignored[i], SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* Descriptors grow with the container: per process, and two per nested container for the
   * delegation channel's lifetime (a nested build's RUN steps); 1024 runs out. */
  struct rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &files);
  }
  /* Holding the caller's stdin/stdout would keep a pipe open after the container is done. */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    close(null);
  }

  /* Built with guise (runtime/fake_filter.h), sent first: the container needs it when its
   * setup is done, the database only when its command starts. */
  if (send(sock, fake_filter_program, fake_filter_program_size, MSG_NOSIGNAL) < 0)
    _exit(1); /* the container is gone already */

  _cleanup_fakefs_policy_ struct fakefs_policy *fp = NULL;
  if (fakefs_policy_new(db_path, rootfs, &fp, &err) < 0) {
    char failed = FAILED;
    write_all(status_fd, &failed, 1);
    report(status_fd, err);
    _exit(125);
  }
  fakefs_policy_tracees_in_userns(fp);
  char ready = READY;
  if (write_all(status_fd, &ready, 1) < 0 || send(sock, &ready, 1, MSG_NOSIGNAL) != 1) _exit(125);
  const char *upstream = getenv("GUISE_DELEGATE");
  struct tracer_filter program = {.insns = (void *)fake_filter_program,
                                  .size = fake_filter_program_size};
  struct tracer_delegation deleg = {
      .offer = -1,
      .upstream = upstream != NULL && upstream[0] != '\0' ? upstream : FAKE_DELEGATE_PATH,
      .filter = &program};
  if (offer_receive(sock, &deleg.offer) < 0) {
    guise_fail(&err, 0, "the traced process exited before installing its seccomp filter");
    report(status_fd, err);
    _exit(1);
  }
  int r = tracer_serve_delegating(sock, keeper, 0, fakefs_policy_tracer(fp), &deleg, NULL, &err);
  if (r == 0) r = fakefs_policy_forget_volatile(fp, &err);
  if (r < 0) {
    if (err != NULL && strstr(err->msg, "ptrace") != NULL) sandbox_explain_ptrace(&err);
    report(status_fd, err);
    _exit(1);
  }
  fakefs_policy_free(steal_ptr(&fp)); /* closes the database: the WAL is checkpointed */
  _exit(0);
}

int fake_supervisor_start(struct fake_supervisor *sup, const char *db_path, const char *rootfs,
                          guise_error **err)
{
  *sup = FAKE_SUPERVISOR_NONE;
  _cleanup_close_ int sock = -1, container_sock = -1, status_read = -1, status_write = -1,
                      keeper = -1, keeper_peer = -1;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
    return guise_fail_errno(err, "create the syscall-faking supervisor's socket pair");
  sock = pair[0];
  container_sock = pair[1];
  if (pipe2(pair, O_CLOEXEC) < 0)
    return guise_fail_errno(err, "create the syscall-faking supervisor's status pipe");
  status_read = pair[0];
  status_write = pair[1];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
    return guise_fail_errno(err, "create the socket pair that keeps the seccomp listener");
  keeper = pair[0];
  keeper_peer = pair[1];
  pid_t pid = fork();
  if (pid < 0) return guise_fail_errno(err, "fork the syscall-faking supervisor");
  if (pid == 0) {
    /* Not holding the container's end lets it see the container fail before sending. */
    close(container_sock);
    close(status_read);
    close(keeper_peer);
    supervisor_main(sock, status_write, keeper, db_path, rootfs);
  }
  sup->pid = pid;
  sup->container_sock = steal_fd(&container_sock);
  sup->status_fd = steal_fd(&status_read);
  sup->listener_keeper = steal_fd(&keeper_peer);
  return 0;
}

/* The delegation channel for a guise in the container (see the header), or -1. */
static int offer_channel(void)
{
  _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = FAKE_DELEGATE_PATH};
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0)
    return -1; /* no nesting offered: a guise inside refuses clearly */
  return steal_fd(&fd);
}

/* A failure to talk to the supervisor because it has gone (it closed its end, e.g. after it
 * could not open the database: EPIPE, or ECONNRESET with our message unread) is its story, not
 * ours: FAKE_SUPERVISOR_GONE, so that guise reports the supervisor's own error, once. */
static int supervisor_gone(guise_error **err)
{
  int errnum = err != NULL && *err != NULL ? (*err)->errnum : 0;
  if (errnum != EPIPE && errnum != ECONNRESET) return -1;
  guise_error_release(err);
  return FAKE_SUPERVISOR_GONE;
}

int fake_supervisor_attach(int container_sock, enum tracer_backend backend, bool offer_dev,
                           guise_error **err)
{
  /* A BPF program has at most BPF_MAXINSNS instructions of 8 bytes. */
  enum { MAX_PROGRAM = 4096 * 8 };
  _cleanup_free_ void *program = malloc(MAX_PROGRAM);
  if (program == NULL) return guise_fail(err, ENOMEM, "allocating the seccomp program failed");
  ssize_t size;
  do
    size = recv(container_sock, program, MAX_PROGRAM, 0);
  while (size < 0 && errno == EINTR);
  if (size == 0) return FAKE_SUPERVISOR_GONE;
  if (size < 0)
    return guise_fail_errno(err, "receiving the seccomp program from the faking supervisor failed");
  struct tracer_filter filter = {.insns = program, .size = (size_t)size};
  _cleanup_close_ int offer = offer_dev ? offer_channel() : -1;
  if (offer_send(container_sock, offer, err) < 0) return supervisor_gone(err);
  _cleanup_error_ guise_error *why = NULL;
  if (tracer_child_install_backend(container_sock, &filter, backend, &why, err) < 0)
    return supervisor_gone(err);
  if (why != NULL) fprintf(stderr, "guise: notice: faking with ptrace (slower): %s\n", why->msg);
  char c;
  ssize_t n;
  do
    n = recv(container_sock, &c, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n == 1 && c == READY) return 0;
  if (n == 0) return FAKE_SUPERVISOR_GONE;
  guise_fail(err, n < 0 ? errno : 0, "waiting for the syscall-faking supervisor failed");
  return supervisor_gone(err);
}

static void read_message(int fd, char *buf, size_t size)
{
  size_t len = 0;
  while (len + 1 < size) {
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
}

int fake_supervisor_reap(struct fake_supervisor *sup, bool block, guise_error **err)
{
  if (sup->pid <= 0) return 1;
  int wstatus;
  pid_t r;
  do
    r = waitpid(sup->pid, &wstatus, block ? 0 : WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return 0;
  pid_t pid = sup->pid;
  sup->pid = -1;
  if (r < 0)
    return guise_fail_errno(err, "wait for the syscall-faking supervisor (pid %d)", (int)pid);
  char status[1025];
  read_message(sup->status_fd, status, sizeof(status));
  sup->opened_db = status[0] == READY;
  const char *msg = status[0] == READY || status[0] == FAILED ? status + 1 : status;
  close(sup->status_fd);
  sup->status_fd = -1;
  if (WIFSIGNALED(wstatus))
    return guise_fail(err, 0, "the syscall-faking supervisor (pid %d) was killed by signal %d (%s)",
                      (int)pid, WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
  if (WEXITSTATUS(wstatus) != 0)
    return guise_fail(err, 0, "the syscall-faking supervisor failed: %s",
                      msg[0] != '\0' ? msg : "exited without a message");
  return 1;
}

void fake_supervisor_close_container_end(struct fake_supervisor *sup)
{
  if (sup->container_sock >= 0) close(sup->container_sock);
  sup->container_sock = -1;
}

void fake_supervisor_release_listener(struct fake_supervisor *sup)
{
  if (sup->listener_keeper >= 0) close(sup->listener_keeper);
  sup->listener_keeper = -1;
}
