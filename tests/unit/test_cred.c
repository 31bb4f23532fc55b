/* Faked credential rules (fakefs/cred.c), including apt's sandbox sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "fakefs/cred.h"

#define N ((uint32_t)-1)

static void test_root_sets_anything(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  assert_int_equal(fake_cred_setresuid(&c, 1, 2, 3), 0);
  assert_int_equal(c.ruid, 1);
  assert_int_equal(c.euid, 2);
  assert_int_equal(c.suid, 3);
  assert_int_equal(c.fsuid, 2);
  /* No longer privileged: only among r/e/s. */
  assert_int_equal(fake_cred_setresuid(&c, 3, 1, N), 0);
  assert_int_equal(fake_cred_setresuid(&c, 7, N, N), EPERM);
  assert_int_equal(c.ruid, 3);
  fake_cred_clear(&c);
}

static void test_setuid(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  assert_int_equal(fake_cred_setuid(&c, N), EINVAL);
  assert_int_equal(fake_cred_setuid(&c, 1000), 0); /* euid 0: all three */
  assert_int_equal(c.ruid, 1000);
  assert_int_equal(c.suid, 1000);
  assert_int_equal(fake_cred_setuid(&c, 0), EPERM);
  /* Unprivileged setuid only sets euid (to ruid or suid). */
  fake_cred_init_root(&c);
  assert_int_equal(fake_cred_setresuid(&c, 0, 5, 0), 0);
  assert_int_equal(fake_cred_setuid(&c, 0), 0);
  assert_int_equal(c.euid, 0);
  assert_int_equal(fake_cred_setuid(&c, 9), 0); /* privileged again: all three */
  assert_int_equal(c.ruid, 9);
  assert_int_equal(fake_cred_setgid(&c, 4), EPERM); /* euid 9 has no CAP_SETGID */
  fake_cred_clear(&c);
}

static void test_seteuid_and_back(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  /* glibc seteuid(u) = setresuid(-1, u, -1) */
  assert_int_equal(fake_cred_setresuid(&c, N, 42, N), 0);
  assert_int_equal(c.ruid, 0);
  assert_int_equal(c.euid, 42);
  assert_int_equal(c.suid, 0);
  assert_int_equal(fake_cred_setresuid(&c, N, 0, N), 0); /* back via ruid/suid */
  assert_int_equal(c.euid, 0);
  fake_cred_clear(&c);
}

static void test_setreuid_saved_rule(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  /* Setting euid to something other than the old ruid updates suid. */
  assert_int_equal(fake_cred_setreuid(&c, N, 7), 0);
  assert_int_equal(c.suid, 7);
  fake_cred_init_root(&c);
  assert_int_equal(fake_cred_setresuid(&c, 5, 0, 0), 0);
  assert_int_equal(fake_cred_setreuid(&c, N, 5), 0); /* euid = old ruid: suid unchanged */
  assert_int_equal(c.suid, 0);
  /* Unprivileged: ruid may become euid, euid may become r/e/s. */
  assert_int_equal(fake_cred_setreuid(&c, 0, N), EPERM);
  assert_int_equal(fake_cred_setreuid(&c, N, 0), 0);
  fake_cred_clear(&c);
}

static void test_setfsuid(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  assert_int_equal(fake_cred_setfsuid(&c, 42), 0);
  assert_int_equal(c.fsuid, 42);
  assert_int_equal(fake_cred_setfsuid(&c, N), 42); /* query */
  assert_int_equal(fake_cred_setresuid(&c, 1, 1, 1), 0);
  assert_int_equal(fake_cred_setfsuid(&c, 0), 1); /* refused, returns old */
  assert_int_equal(c.fsuid, 1);
  assert_int_equal(fake_cred_setfsgid(&c, 3), 0); /* no CAP_SETGID: refused */
  assert_int_equal(c.fsgid, 0);
  fake_cred_clear(&c);
}

static void test_setgroups(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  assert_false(c.groups_faked);
  const uint32_t g[] = {30, 10, 20};
  assert_int_equal(fake_cred_setgroups(&c, 3, g), 0);
  assert_true(c.groups_faked);
  assert_int_equal(c.ngroups, 3);
  assert_int_equal(c.groups[0], 10); /* sorted like the kernel */
  assert_int_equal(fake_cred_setgroups(&c, FAKE_CRED_NGROUPS_MAX + 1, g), EINVAL);
  struct fake_cred d;
  assert_int_equal(fake_cred_copy(&d, &c), 0);
  assert_int_equal(d.groups[2], 30);
  assert_int_equal(fake_cred_setresuid(&c, 1, 1, 1), 0);
  assert_int_equal(fake_cred_setgroups(&c, 0, NULL), EPERM);
  fake_cred_clear(&c);
  fake_cred_clear(&d);
}

static void test_caps(void **state)
{
  struct fake_cred c;
  uint64_t e, p, i;
  fake_cred_init_root(&c);
  fake_cred_caps(&c, &e, &p, &i);
  assert_true(e != 0 && e == p);
  assert_int_equal(i, 0);
  assert_int_equal(fake_cred_setresuid(&c, N, 42, N), 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(e, 0);
  assert_true(p != 0);
  assert_int_equal(fake_cred_setresuid(&c, 42, 42, 42), 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(p, 0);
  fake_cred_clear(&c);
}

/* apt-pkg/contrib/fileutl.cc DropPrivileges, then its verification, with every call made
 * twice (glibc's per-thread broadcast) and the same result expected both times. */
static void test_apt_sequence(void **state)
{
  struct fake_cred c;
  fake_cred_init_root(&c);
  const uint32_t nogroup = 65534, apt = 42;
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setgroups(&c, 1, &nogroup), 0);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setresgid(&c, nogroup, nogroup, nogroup), 0);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setresuid(&c, apt, apt, apt), 0);
  assert_int_equal(c.ruid, apt);
  assert_int_equal(c.euid, apt);
  assert_int_equal(c.suid, apt);
  assert_int_equal(c.rgid, nogroup);
  assert_int_equal(c.egid, nogroup);
  assert_int_equal(c.sgid, nogroup);
  assert_int_equal(c.ngroups, 1);
  /* Verify::Regain: getting root back must fail. */
  assert_int_equal(fake_cred_setuid(&c, 0), EPERM);
  assert_int_equal(fake_cred_setresgid(&c, N, 0, N), EPERM);
  fake_cred_clear(&c);

  /* pkgAcquire's temporary drop: seteuid/setegid to _apt and back. */
  fake_cred_init_root(&c);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setgroups(&c, 1, &nogroup), 0);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setresgid(&c, N, nogroup, N), 0);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setresuid(&c, N, apt, N), 0);
  assert_int_equal(c.fsuid, apt); /* files created now belong to _apt */
  assert_int_equal(fake_cred_setgroups(&c, 0, NULL), EPERM); /* not while euid is _apt */
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setresuid(&c, N, 0, N), 0);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setresgid(&c, N, 0, N), 0);
  for (int t = 0; t < 2; t++)
    assert_int_equal(fake_cred_setgroups(&c, 0, NULL), 0);
  assert_int_equal(c.euid, 0);
  assert_int_equal(c.egid, 0);
  assert_int_equal(c.fsuid, 0);
  fake_cred_clear(&c);
}

/* util-linux setpriv --reuid man --regid man --init-groups (man-db's postinst): keepcaps,
 * setresuid, capset to raise the kept effective set again, setresgid, setgroups; then exec. */
static void test_keepcaps_setpriv_sequence(void **state)
{
  struct fake_cred c;
  uint64_t e, p, i, all;
  const uint32_t man = 6, mangrp = 12;
  fake_cred_init_root(&c);
  fake_cred_caps(&c, &all, &p, &i);
  c.keepcaps = true; /* prctl(PR_SET_KEEPCAPS, 1) */
  assert_int_equal(fake_cred_setresuid(&c, man, man, man), 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(e, 0);   /* euid left 0 */
  assert_true(p == all);    /* kept */
  assert_int_equal(fake_cred_setresgid(&c, mangrp, mangrp, mangrp), EPERM); /* not effective */
  assert_int_equal(fake_cred_capset(&c, all, all, 0), 0);
  assert_int_equal(fake_cred_setresgid(&c, mangrp, mangrp, mangrp), 0);
  assert_int_equal(fake_cred_setgroups(&c, 1, &mangrp), 0);
  assert_int_equal(c.fsgid, mangrp);
  /* The exec of mandb as man: no capabilities, keepcaps gone, root cannot be had back. */
  fake_cred_exec(&c);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(e, 0);
  assert_int_equal(p, 0);
  assert_false(c.keepcaps);
  assert_int_equal(fake_cred_setuid(&c, 0), EPERM);
  fake_cred_clear(&c);

  /* Without keepcaps the same drop loses the permitted set: capset cannot raise anything. */
  fake_cred_init_root(&c);
  assert_int_equal(fake_cred_setresuid(&c, man, man, man), 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(p, 0);
  assert_int_equal(fake_cred_capset(&c, all, all, 0), EPERM);
  assert_int_equal(fake_cred_setresgid(&c, mangrp, mangrp, mangrp), EPERM);
  fake_cred_clear(&c);
}

static void test_capset_limits_and_exec(void **state)
{
  struct fake_cred c;
  uint64_t e, p, i, all;
  const uint64_t setuid_bit = UINT64_C(1) << 7, chown_bit = 1;
  fake_cred_init_root(&c);
  fake_cred_caps(&c, &all, &p, &i);
  /* Dropping CAP_SETUID from the effective set makes root unable to change uids. */
  assert_int_equal(fake_cred_capset(&c, all & ~setuid_bit, all, 0), 0);
  assert_int_equal(fake_cred_setuid(&c, 5), EPERM);
  /* effective must stay within permitted, permitted can only shrink. */
  assert_int_equal(fake_cred_capset(&c, all, all & ~setuid_bit, 0), EPERM);
  assert_int_equal(fake_cred_capset(&c, chown_bit, chown_bit, 0), 0);
  assert_int_equal(fake_cred_capset(&c, chown_bit, all, 0), EPERM);
  /* Inheritable: within permitted (no CAP_SETPCAP in effective now). */
  assert_int_equal(fake_cred_capset(&c, chown_bit, chown_bit, setuid_bit), EPERM);
  assert_int_equal(fake_cred_capset(&c, chown_bit, chown_bit, chown_bit), 0);
  /* exec as root: everything again (file sets count as full for root). */
  fake_cred_exec(&c);
  fake_cred_caps(&c, &e, &p, &i);
  assert_true(e == all && p == all);
  assert_int_equal(i, chown_bit);
  /* seteuid(1000), fsuid follows: effective empty; back to 0: effective = permitted. */
  assert_int_equal(fake_cred_setresuid(&c, N, 1000, N), 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(e, 0);
  assert_int_equal(fake_cred_setresuid(&c, N, 0, N), 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_true(e == all);
  /* setfsuid away from 0 clears the file capabilities from the effective set. */
  fake_cred_setfsuid(&c, 1000);
  fake_cred_caps(&c, &e, &p, &i);
  assert_int_equal(e & chown_bit, 0);
  assert_true((e & setuid_bit) != 0);
  fake_cred_setfsuid(&c, 0);
  fake_cred_caps(&c, &e, &p, &i);
  assert_true(e == all);
  fake_cred_clear(&c);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_root_sets_anything), cmocka_unit_test(test_setuid),
      cmocka_unit_test(test_seteuid_and_back),   cmocka_unit_test(test_setreuid_saved_rule),
      cmocka_unit_test(test_setfsuid),           cmocka_unit_test(test_setgroups),
      cmocka_unit_test(test_caps),               cmocka_unit_test(test_apt_sequence),
      cmocka_unit_test(test_keepcaps_setpriv_sequence),
      cmocka_unit_test(test_capset_limits_and_exec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
