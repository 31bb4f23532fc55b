/* /proc/self inside a container's root means the caller's id in the pid namespace of the procfs
 * mounted there: tracer/tracee.c takes it from the caller's "NSpid:" entries (the innermost for
 * a container's own /proc, an outer one's for an outer /proc bound in). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <unistd.h>

#include "tracer/internal.h"

/* The last (innermost) id of status's NSpid line, 0 when it has none. */
static pid_t tracer_status_ns_pid(const char *status)
{
  pid_t ids[40];
  int n = tracer_status_ns_pids(status, ids, 40);
  return n > 0 ? ids[n - 1] : 0;
}

static void test_nested(void **state)
{
  assert_int_equal(tracer_status_ns_pid("Name:\tsh\nTgid:\t81234\nPid:\t81234\nPPid:\t81200\n"
                                        "NSpid:\t81234\t4\nNSpgid:\t81234\t4\n"),
                   4);
  assert_int_equal(tracer_status_ns_pid("NSpid:\t900\t12\t1\n"), 1);
  pid_t ids[2];
  /* At most max: the outer levels first. */
  assert_int_equal(tracer_status_ns_pids("NSpid:\t900\t12\t1\n", ids, 2), 2);
  assert_int_equal(ids[0], 900);
  assert_int_equal(ids[1], 12);
}

static void test_no_namespace(void **state)
{
  assert_int_equal(tracer_status_ns_pid("Name:\tsh\nNSpid:\t4242\nNSpgid:\t4242\n"), 4242);
  /* The key must be the whole key: NSpgid is not NSpid. */
  assert_int_equal(tracer_status_ns_pid("Name:\tsh\nNSpgid:\t4242\n"), 0);
  assert_int_equal(tracer_status_ns_pid(""), 0);
  assert_int_equal(tracer_status_ns_pid("NSpid:\t\n"), 0);
}

/* This process's own status (the unit tests run in no pid namespace of their own here, or in
 * one: either way the last entry is what getpid() says). */
static void test_self(void **state)
{
  char buf[8192];
  FILE *f = fopen("/proc/self/status", "r");
  assert_non_null(f);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  assert_int_equal(tracer_status_ns_pid(buf), getpid());
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nested),
      cmocka_unit_test(test_no_namespace),
      cmocka_unit_test(test_self),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
