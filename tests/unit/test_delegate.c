/* The delegation server's registration rules (tracer/delegate.c): a user namespace is accepted
 * only when it is strictly below the registering process's own, only with the same seccomp
 * program, and only once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tracer/internal.h"
#include "util/fdpass.h"

static struct sock_filter program[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
static struct sock_filter other_program[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                                             BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};

struct fixture {
  char dir[64];
  char path[128];
  int offer;
  struct tracer_state st;
  struct tracer_filter filter;
  pid_t child; /* in a user namespace of its own, below ours */
  int child_done;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  strcpy(f->dir, "/tmp/guise-deleg-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
  f->offer = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, f->path);
  assert_int_equal(bind(f->offer, (struct sockaddr *)&addr, sizeof(addr)), 0);
  assert_int_equal(listen(f->offer, 4), 0);
  f->st = (struct tracer_state){.listener = -1, .epfd = -1};
  f->filter = (struct tracer_filter){.insns = program, .size = sizeof(program)};
  struct tracer_delegation d = {.offer = f->offer, .filter = &f->filter};
  guise_error *err = NULL;
  assert_int_equal(deleg_server_start(&f->st, &d, &err), 0);
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  f->child = fork();
  assert_true(f->child >= 0);
  if (f->child == 0) {
    char c;
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    close(p[1]);
    _exit(read(p[0], &c, 1) < 0); /* until the test is done */
  }
  close(p[0]);
  f->child_done = p[1];
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;
  close(f->child_done);
  waitpid(f->child, NULL, 0);
  deleg_server_stop(&f->st);
  close(f->offer);
  unlink(f->path);
  rmdir(f->dir);
  free(f);
  return 0;
}

/* Register nsfd with program; the errnum of the refusal (0: accepted) and its message. */
static int registering(struct fixture *f, int nsfd, struct tracer_filter *prog, char *msg,
                       size_t size)
{
  struct tracer_delegation d = {.offer = -1, .upstream = f->path, .filter = prog};
  struct deleg_upstream *up = NULL;
  guise_error *err = NULL;
  int r = deleg_upstream_open(&d, nsfd, &up, &err);
  deleg_upstream_free(up);
  if (r == 0) return 0;
  snprintf(msg, size, "%s", err->msg);
  int e = err->errnum;
  guise_error_release(&err);
  return e;
}

static int child_userns(struct fixture *f)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/ns/user", f->child);
  /* The child may not have unshared yet: wait until its namespace differs from ours. */
  for (int i = 0; i < 500; i++) {
    char mine[64], its[64];
    ssize_t a = readlink("/proc/self/ns/user", mine, sizeof(mine) - 1);
    ssize_t b = readlink(path, its, sizeof(its) - 1);
    if (a > 0 && b > 0 && (a != b || memcmp(mine, its, (size_t)a) != 0)) break;
    usleep(10000);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  return fd;
}

static void test_own_namespace_refused(void **state)
{
  struct fixture *f = *state;
  char msg[512] = "";
  int ns = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  assert_int_equal(registering(f, ns, &f->filter, msg, sizeof(msg)), EPERM);
  assert_non_null(strstr(msg, "not below the registering process's own"));
  close(ns);
}

static void test_not_a_user_namespace_refused(void **state)
{
  struct fixture *f = *state;
  char msg[512] = "";
  int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  assert_int_equal(registering(f, ns, &f->filter, msg, sizeof(msg)), EINVAL);
  assert_non_null(strstr(msg, "not a user namespace"));
  close(ns);
}

static void test_other_program_refused(void **state)
{
  struct fixture *f = *state;
  char msg[512] = "";
  struct tracer_filter other = {.insns = other_program, .size = sizeof(other_program)};
  int ns = child_userns(f);
  assert_int_equal(registering(f, ns, &other, msg, sizeof(msg)), EPROTO);
  assert_non_null(strstr(msg, "seccomp program differs"));
  close(ns);
}

static void test_child_namespace_accepted_once(void **state)
{
  struct fixture *f = *state;
  char msg[512] = "";
  int ns = child_userns(f);
  assert_int_equal(registering(f, ns, &f->filter, msg, sizeof(msg)), 0);
  assert_int_equal(registering(f, ns, &f->filter, msg, sizeof(msg)), EBUSY);
  assert_non_null(strstr(msg, "delegated already"));
  close(ns);
}

static double cpu_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Out of descriptors, a connection waiting to be accepted is dropped (its peer sees the end)
 * rather than waking the serving thread over and over (a busy loop for as long as it waits). */
static void test_connection_dropped_when_out_of_descriptors(void **state)
{
  struct fixture *f = *state;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, f->path);
  int clients[3];
  for (int i = 0; i < 3; i++) {
    clients[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(clients[i] >= 0);
  }
  struct rlimit saved, low;
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
  int lowest = dup(0); /* every number below it is taken: a limit there leaves none */
  assert_true(lowest >= 0);
  close(lowest);
  low = (struct rlimit){.rlim_cur = (rlim_t)lowest, .rlim_max = saved.rlim_max};
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(connect(clients[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
  double before = cpu_seconds();
  usleep(300 * 1000);
  double spent = cpu_seconds() - before;
  char c;
  ssize_t n = recv(clients[0], &c, 1, MSG_DONTWAIT);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
  for (int i = 0; i < 3; i++)
    close(clients[i]);
  assert_true(spent < 0.1);
  assert_int_equal(n, 0);
}

/* A delegate that asks ID_VALID over and over without reading the replies is dropped once more
 * replies pile up than a guise ever leaves unread (one), not queued for without bound. */
static void test_unread_replies_bounded(void **state)
{
  struct fixture *f = *state;
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, f->path);
  int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  assert_int_equal(connect(sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
  int ns = child_userns(f);
  struct deleg_msg m = {.magic = DELEG_MAGIC, .type = DM_REGISTER};
  struct iovec iov[2] = {{.iov_base = &m, .iov_len = sizeof(m)},
                         {.iov_base = program, .iov_len = sizeof(program)}};
  assert_int_equal(fdpass_send(sock, iov, 2, &ns, 1, 0), 0);
  close(ns);
  char extra[512];
  struct iovec in[2] = {{.iov_base = &m, .iov_len = sizeof(m)},
                        {.iov_base = extra, .iov_len = sizeof(extra)}};
  int fd = -1;
  assert_true(fdpass_recv(sock, in, 2, &fd, 1, NULL, 0) >= (ssize_t)sizeof(m));
  assert_int_equal(m.type, DM_REGISTERED);
  assert_int_equal(m.result, 0);
  int sent = 0;
  for (int idle = 0; sent < 5000 && idle < 10;) {
    struct deleg_msg q = {
        .magic = DELEG_MAGIC, .type = DM_ID_VALID, .seq = (uint32_t)sent, .u.id = 1};
    if (send(sock, &q, sizeof(q), MSG_DONTWAIT) == (ssize_t)sizeof(q)) {
      sent++;
      idle = 0;
    } else {
      struct pollfd p = {.fd = sock, .events = POLLOUT};
      idle += poll(&p, 1, 100) == 0;
    }
  }
  int replies = 0;
  for (;;) {
    struct pollfd p = {.fd = sock, .events = POLLIN};
    if (poll(&p, 1, 300) != 1 || recv(sock, &m, sizeof(m), 0) != (ssize_t)sizeof(m)) break;
    replies++;
  }
  close(sock);
  assert_true(replies > 0);
  assert_true(replies < sent);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_own_namespace_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_a_user_namespace_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_other_program_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_child_namespace_accepted_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_dropped_when_out_of_descriptors, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unread_replies_bounded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
