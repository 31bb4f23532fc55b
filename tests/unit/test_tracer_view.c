/* A view's bindings and walk (tracer/view.c): guest paths resolved in the view, never outside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/view.h"

static char top[] = "/tmp/guise-view-XXXXXX";
static char rootfs[256], other[256];
static struct tracer_view *view;

static void mk(const char *base, const char *rel, int dir)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", base, rel);
  if (dir)
    assert_int_equal(mkdir(p, 0755), 0);
  else {
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
  }
}

static void ln(const char *target, const char *rel)
{
  char p[PATH_MAX];
  snprintf(p, sizeof(p), "%s/%s", rootfs, rel);
  assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
  if (mkdtemp(top) == NULL) return -1;
  snprintf(rootfs, sizeof(rootfs), "%s/rootfs", top);
  snprintf(other, sizeof(other), "%s/other", top);
  mkdir(rootfs, 0755);
  mkdir(other, 0755);
  mk(top, "secret", 0);
  mk(rootfs, "etc", 1);
  mk(rootfs, "usr", 1);
  mk(rootfs, "usr/lib", 1);
  mk(rootfs, "usr/lib/os-release", 0);
  mk(rootfs, "file", 0);
  mk(other, "data", 0);
  ln("../usr/lib/os-release", "etc/os-release");
  ln("/", "abs");
  ln("../../../../../..", "up");
  ln("/mnt/data", "to_bound");
  ln("loop2", "loop1");
  ln("loop1", "loop2");
  ln("/nowhere", "dangling");
  guise_error *err = NULL;
  if (tracer_view_new(rootfs, &view, &err) < 0 || tracer_view_bind(view, "/mnt", other, &err) < 0)
    return -1;
  return 0;
}

static int teardown(void **state)
{
  tracer_view_free(view);
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
  return system(cmd) == 0 ? 0 : -1;
}

/* Walk path (from base) and check the guest and host results. */
static void expect(const char *base, const char *path, bool follow, const char *guest,
                   const char *host_rel, const char *host_base)
{
  char g[PATH_MAX], h[PATH_MAX], want[PATH_MAX];
  guise_error *err = NULL;
  int r = view_walk(view, NULL, base, path, follow, g, h, &err);
  if (r < 0) fail_msg("walking %s failed: %s", path, err->msg);
  assert_string_equal(g, guest);
  snprintf(want, sizeof(want), "%s%s", host_base != NULL ? host_base : rootfs, host_rel);
  assert_string_equal(h, want);
}

static void test_plain_and_relative(void **state)
{
  expect("/", "/usr/lib/os-release", true, "/usr/lib/os-release", "/usr/lib/os-release", NULL);
  expect("/usr", "lib/./os-release", true, "/usr/lib/os-release", "/usr/lib/os-release", NULL);
  expect("/usr/lib", "../../file", true, "/file", "/file", NULL);
  expect("/", "/", true, "/", "", NULL);
}

static void test_dotdot_stops_at_root(void **state)
{
  expect("/", "../../../../../../../..", true, "/", "", NULL);
  expect("/usr", "../../../../secret", true, "/secret", "/secret", NULL);
  expect("/", "/usr/../../../file", true, "/file", "/file", NULL);
}

static void test_symlinks_stay_inside(void **state)
{
  expect("/", "/etc/os-release", true, "/usr/lib/os-release", "/usr/lib/os-release", NULL);
  expect("/", "/etc/os-release", false, "/etc/os-release", "/etc/os-release", NULL);
  expect("/", "/abs/../../secret", true, "/secret", "/secret", NULL);
  expect("/", "/up/secret", true, "/secret", "/secret", NULL);
  expect("/", "/up/", false, "/", "/", NULL); /* a trailing slash follows, and is kept */
}

static void test_bindings(void **state)
{
  expect("/", "/mnt/data", true, "/mnt/data", "/data", other);
  expect("/", "/to_bound", true, "/mnt/data", "/data", other);
  expect("/mnt", "../file", true, "/file", "/file", NULL);
  char g[PATH_MAX];
  char host[PATH_MAX];
  snprintf(host, sizeof(host), "%s/data", other);
  assert_int_equal(view_to_guest(view, host, g), 0);
  assert_string_equal(g, "/mnt/data");
  snprintf(host, sizeof(host), "%s/secret", top);
  assert_int_equal(view_to_guest(view, host, g), -1); /* outside every binding */
  assert_int_equal(errno, EXDEV);
}

static void test_missing_and_loops(void **state)
{
  /* The kernel fails on the missing component before it looks at the "..". */
  expect("/", "/nope/../../secret", true, "/nope", "/nope/../../secret", NULL);
  expect("/", "/dangling", true, "/nowhere", "/nowhere", NULL);
  char g[PATH_MAX], h[PATH_MAX];
  guise_error *err = NULL;
  assert_int_equal(view_walk(view, NULL, "/", "/loop1", true, g, h, &err), -1);
  assert_int_equal(err->errnum, ELOOP);
  guise_error_release(&err);
}

static void test_readlink_plain(void **state)
{
  char g[PATH_MAX], h[PATH_MAX], t[PATH_MAX];
  guise_error *err = NULL;
  assert_int_equal(view_walk(view, NULL, "/", "/abs", false, g, h, &err), 0);
  assert_int_equal(view_readlink(view, NULL, h, t), 1);
  assert_string_equal(t, "/");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_and_relative),   cmocka_unit_test(test_dotdot_stops_at_root),
      cmocka_unit_test(test_symlinks_stay_inside), cmocka_unit_test(test_bindings),
      cmocka_unit_test(test_missing_and_loops),    cmocka_unit_test(test_readlink_plain),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
