/* The faking supervisor's seccomp program built with guise (runtime/fake_filter.h): it is what
 * libseccomp builds from the policy now, and the kernel accepts it and notifies what it should. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <linux/seccomp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/fake_filter.h"
#include "tracer/syscalls.h"

static void test_prebuilt_is_what_libseccomp_builds(void **state)
{
  struct tracer_policy shape;
  fake_filter_shape(&shape);
  struct tracer_filter built;
  guise_error *err = NULL;
  if (tracer_filter_build(&shape, &built, &err) < 0) fail_msg("%s", err->msg);
  assert_int_equal(built.size, fake_filter_program_size);
  assert_memory_equal(built.insns, fake_filter_program, built.size);
  free(built.insns);
}

/* A child installs the program and calls getuid; we answer for the kernel with 4242. */
static void test_prebuilt_intercepts(void **state)
{
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(sv[0]);
    guise_error *err = NULL;
    struct tracer_filter filter = {.insns = (void *)fake_filter_program,
                                   .size = fake_filter_program_size};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        tracer_child_install_filter(sv[1], &filter, &err) < 0)
      _exit(2);
    _exit(syscall(SYS_getuid) == 4242 ? 0 : 3);
  }
  close(sv[1]);
  char byte;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  assert_int_equal(recvmsg(sv[0], &msg, MSG_CMSG_CLOEXEC), 1);
  int listener;
  memcpy(&listener, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));

  struct seccomp_notif_sizes sizes;
  assert_int_equal(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes), 0);
  struct seccomp_notif *req = calloc(1, sizes.seccomp_notif + sizeof(*req));
  struct seccomp_notif_resp *resp = calloc(1, sizes.seccomp_notif_resp + sizeof(*resp));
  /* POLLHUP instead when the child exits without being intercepted (RECV would block). */
  struct pollfd pfd = {.fd = listener, .events = POLLIN};
  assert_int_equal(poll(&pfd, 1, 10000), 1);
  assert_true(pfd.revents & POLLIN);
  assert_int_equal(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req), 0);
  assert_int_equal(syscall_lookup(req->data.arch, req->data.nr), SYSCALL_GETUID);
  resp->id = req->id;
  resp->val = 4242;
  assert_int_equal(ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp), 0);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  free(req);
  free(resp);
  close(listener);
  close(sv[0]);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prebuilt_is_what_libseccomp_builds),
      cmocka_unit_test(test_prebuilt_intercepts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
