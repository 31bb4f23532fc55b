/* util/fdpass.c: descriptors and credentials over an AF_UNIX socket pair, the way the tracer's
 * hello, the terminal and the delegation channel use them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fdpass.h"

static void pair(int sv[2])
{
  assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_two_fds_and_credentials(void **state)
{
  int sv[2], p[2];
  pair(sv);
  assert_int_equal(pipe(p), 0);
  int one = 1;
  assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
  char out[] = "hello";
  struct iovec iov = {.iov_base = out, .iov_len = sizeof(out)};
  assert_int_equal(fdpass_send(sv[0], &iov, 1, p, 2, 0), 0);
  char in[16] = "";
  struct iovec iin = {.iov_base = in, .iov_len = sizeof(in)};
  int fds[3];
  struct ucred cred;
  assert_int_equal(fdpass_recv(sv[1], &iin, 1, fds, 3, &cred, 0), sizeof(out));
  assert_string_equal(in, "hello");
  assert_int_equal(cred.pid, getpid());
  assert_true(fds[0] >= 0 && fds[1] >= 0);
  assert_int_equal(fds[2], -1);
  assert_true(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
  /* The received pair is the pipe: what goes into the copy of its write end comes out. */
  assert_int_equal(write(fds[1], "x", 1), 1);
  char c;
  assert_int_equal(read(p[0], &c, 1), 1);
  for (int i = 0; i < 2; i++) {
    close(fds[i]);
    close(p[i]);
    close(sv[i]);
  }
}

/* More descriptors than asked for: the extra ones are closed, not leaked; none at all: -1. */
static void test_extra_fds_closed_and_none(void **state)
{
  int sv[2], p[2];
  pair(sv);
  assert_int_equal(pipe(p), 0);
  char b = 'B';
  struct iovec iov = {.iov_base = &b, .iov_len = 1};
  assert_int_equal(fdpass_send(sv[0], &iov, 1, p, 2, 0), 0);
  close(p[0]);
  close(p[1]);
  int fd;
  assert_int_equal(fdpass_recv(sv[1], &iov, 1, &fd, 1, NULL, 0), 1);
  assert_true(fd >= 0);
  /* fd is the read end; had the write end's copy been kept, this read would block. */
  char c;
  assert_int_equal(read(fd, &c, 1), 0);
  close(fd);
  assert_int_equal(fdpass_send(sv[0], &iov, 1, NULL, 0, 0), 0);
  assert_int_equal(fdpass_recv(sv[1], &iov, 1, &fd, 1, NULL, 0), 1);
  assert_int_equal(fd, -1);
  close(sv[0]);
  assert_int_equal(fdpass_recv(sv[1], &iov, 1, &fd, 1, NULL, 0), 0); /* end of stream */
  close(sv[1]);
}

/* A message longer than the buffer is refused whole (a truncated protocol message would be
 * misread), its descriptors closed. */
static void test_truncated_refused(void **state)
{
  int sv[2];
  pair(sv);
  char big[64] = {0};
  struct iovec iov = {.iov_base = big, .iov_len = sizeof(big)};
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  assert_int_equal(fdpass_send(sv[0], &iov, 1, &devnull, 1, 0), 0);
  char small[8];
  struct iovec iin = {.iov_base = small, .iov_len = sizeof(small)};
  int fd = 42;
  assert_int_equal(fdpass_recv(sv[1], &iin, 1, &fd, 1, NULL, 0), -1);
  assert_int_equal(errno, EMSGSIZE);
  assert_int_equal(fd, -1);
  close(devnull);
  close(sv[0]);
  close(sv[1]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_fds_and_credentials),
      cmocka_unit_test(test_extra_fds_closed_and_none),
      cmocka_unit_test(test_truncated_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
