/* tracee_write honours the tracee's page protections as the kernel's own copy to user memory
 * does: a handler's result for a read-only page, or a range running into one, fails with
 * EFAULT and leaves the memory alone.  Under both backends, and with process_vm_writev refused
 * to the supervisor (as Docker's default seccomp profile does), where the /proc/PID/mem fallback
 * must check the protections itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tracer/tracer.h"

#define PATTERN_LEN 64

/* newfstatat(dirfd, path, buf, flags): the handler writes a pattern into buf instead. */
static void h_write_pattern(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  (void)ctx;
  unsigned char pattern[PATTERN_LEN];
  memset(pattern, 0x5a, sizeof(pattern));
  r->action = SYSCALL_RETURN;
  if (tracee_write(ev->tracee, ev->args[2], pattern, sizeof(pattern), NULL) < 0)
    r->error = EFAULT;
  else
    r->value = 0;
}

static bool all(const unsigned char *p, size_t n, unsigned char v)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != v) return false;
  return true;
}

/* The traced side: 0 when every write behaved as the kernel's would. */
static int child_checks(void)
{
  long ps = sysconf(_SC_PAGESIZE);
  /* page 0 writable, page 1 read-only, both filled with 0xaa */
  unsigned char *m =
      mmap(NULL, 2 * (size_t)ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 10;
  memset(m, 0xaa, 2 * (size_t)ps);
  if (mprotect(m + ps, (size_t)ps, PROT_READ) < 0) return 11;
  if (syscall(SYS_newfstatat, AT_FDCWD, ".", m, 0) != 0 || !all(m, PATTERN_LEN, 0x5a))
    return 1; /* a writable page gets the result */
  if (syscall(SYS_newfstatat, AT_FDCWD, ".", m + ps, 0) != -1 || errno != EFAULT ||
      !all(m + ps, (size_t)ps, 0xaa))
    return 2; /* a read-only page: EFAULT, untouched */
  if (syscall(SYS_newfstatat, AT_FDCWD, ".", m + ps - PATTERN_LEN / 2, 0) != -1 ||
      errno != EFAULT || !all(m + ps, (size_t)ps, 0xaa))
    return 3; /* running into the read-only page */
  return 0;
}

/* Supervise child_checks with the given backend in a process of its own (which may refuse
 * itself process_vm_writev first); returns the child's exit status, or 100+ on a failure of
 * the supervisor. */
static int supervised(enum tracer_backend backend, bool refuse_vm_writev)
{
  pid_t sup = fork();
  if (sup < 0) return -1;
  if (sup > 0) {
    int status;
    if (waitpid(sup, &status, 0) != sup || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  struct tracer_policy policy = {0};
  policy.handlers[SYSCALL_NEWFSTATAT] = h_write_pattern;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) _exit(101);
  pid_t pid = fork();
  if (pid < 0) _exit(102);
  if (pid == 0) {
    close(sv[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct tracer_filter filter;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        tracer_filter_build(&policy, &filter, NULL) < 0 ||
        tracer_child_install_backend(sv[1], &filter, backend, NULL, NULL) != (int)backend)
      _exit(99);
    close(sv[1]);
    _exit(child_checks());
  }
  close(sv[1]);
  if (refuse_vm_writev) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(process_vm_writev), 0) != 0 ||
        seccomp_load(ctx) != 0)
      _exit(103);
    seccomp_release(ctx);
  }
  int wstatus = -1;
  guise_error *err = NULL;
  if (tracer_serve(sv[0], -1, pid, &policy, &wstatus, &err) < 0) {
    fprintf(stderr, "supervisor: %s\n", err->msg);
    _exit(104);
  }
  if (wstatus == -1 && waitpid(pid, &wstatus, 0) != pid) _exit(105);
  _exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 106);
}

static void test_seccomp(void **state)
{
  (void)state;
  if (!tracer_seccomp_available()) skip();
  assert_int_equal(supervised(TRACER_BACKEND_SECCOMP, false), 0);
}

static void test_ptrace(void **state)
{
  (void)state;
  assert_int_equal(supervised(TRACER_BACKEND_PTRACE, false), 0);
}

static void test_seccomp_without_process_vm_writev(void **state)
{
  (void)state;
  if (!tracer_seccomp_available()) skip();
  assert_int_equal(supervised(TRACER_BACKEND_SECCOMP, true), 0);
}

static void test_ptrace_without_process_vm_writev(void **state)
{
  (void)state;
  assert_int_equal(supervised(TRACER_BACKEND_PTRACE, true), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_seccomp),
      cmocka_unit_test(test_ptrace),
      cmocka_unit_test(test_seccomp_without_process_vm_writev),
      cmocka_unit_test(test_ptrace_without_process_vm_writev),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
