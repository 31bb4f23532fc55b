/* Syscall tables: round trip id -> number -> id on both architectures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <linux/audit.h>
#include <string.h>

#include "tracer/syscalls.h"

static void round_trip(uint32_t arch)
{
  for (int id = 0; id < SYSCALL_ID_COUNT; id++) {
    int nr = syscall_number(arch, id);
    if (nr < 0)
      continue;
    assert_int_equal(syscall_lookup(arch, nr), id);
  }
}

static void test_x86_64(void **state)
{
  round_trip(AUDIT_ARCH_X86_64);
  assert_int_equal(syscall_number(AUDIT_ARCH_X86_64, SYSCALL_CHOWN), 92);
  assert_int_equal(syscall_number(AUDIT_ARCH_X86_64, SYSCALL_NEWFSTATAT), 262);
  assert_int_equal(syscall_number(AUDIT_ARCH_X86_64, SYSCALL_FCHMODAT2), 452);
  assert_int_equal(syscall_number(AUDIT_ARCH_X86_64, SYSCALL_REMOVEXATTRAT), 466);
  assert_int_equal(syscall_lookup(AUDIT_ARCH_X86_64, 0), -1); /* read */
}

static void test_aarch64(void **state)
{
  round_trip(AUDIT_ARCH_AARCH64);
  assert_int_equal(syscall_number(AUDIT_ARCH_AARCH64, SYSCALL_CHOWN), -1);
  assert_int_equal(syscall_number(AUDIT_ARCH_AARCH64, SYSCALL_FCHOWNAT), 54);
  assert_int_equal(syscall_number(AUDIT_ARCH_AARCH64, SYSCALL_SETRESUID), 147);
  assert_int_equal(syscall_number(AUDIT_ARCH_AARCH64, SYSCALL_SETXATTRAT), 463);
  assert_int_equal(syscall_number(0x40000003, SYSCALL_CHOWN), -1); /* i386: unknown */
}

static void test_names(void **state)
{
  assert_string_equal(syscall_name(SYSCALL_FCHOWNAT), "fchownat");
  assert_string_equal(syscall_name(SYSCALL_IO_URING_SETUP), "io_uring_setup");
  assert_string_equal(syscall_name(SYSCALL_ID_COUNT), "?");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_x86_64),
      cmocka_unit_test(test_aarch64),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
