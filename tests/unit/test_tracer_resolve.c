/* Confined path resolution (tracer/resolve.c): nothing may escape the root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tracer/resolve.h"
#include "tracer/tracer.h"

static char root_path[] = "/tmp/guise-resolve-XXXXXX";
static int rootfd = -1;

static void mk(const char *rel, int dir)
{
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root_path, rel);
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
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root_path, rel);
  assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state)
{
  if (mkdtemp(root_path) == NULL)
    return -1;
  mk("etc", 1);
  mk("etc/passwd", 0);
  mk("a", 1);
  mk("a/b", 1);
  mk("file", 0);
  ln("/etc/passwd", "link_abs");
  ln("../../../../../etc/passwd", "a/up");
  ln("/a", "a/b/abs_dir");
  ln("loop2", "loop1");
  ln("loop1", "loop2");
  ln("/../../..", "a/b/rootish");
  rootfd = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  return rootfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root_path);
  close(rootfd);
  return system(cmd) == 0 ? 0 : -1;
}

/* Is fd the file rel inside the root (compared by inode)? */
static void assert_is(int fd, const char *rel)
{
  assert_true(fd >= 0);
  struct stat a, b;
  assert_int_equal(fstat(fd, &a), 0);
  assert_int_equal(fstatat(rootfd, rel, &b, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), 0);
  assert_int_equal(a.st_dev, b.st_dev);
  assert_int_equal(a.st_ino, b.st_ino);
  close(fd);
}

/* A macro: err must be read after the call has filled it. */
#define assert_fails(call, err, want)                                                            \
  do {                                                                                             \
    int fd_ = (call);                                                                              \
    assert_int_equal(fd_, -1);                                                                     \
    assert_non_null(err);                                                                          \
    assert_int_equal((err)->errnum, (want));                                                       \
    guise_error_release(&(err));                                                                   \
  } while (0)

static int sub(const char *rel)
{
  int fd = openat(rootfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  return fd;
}

static void test_absolute(void **state)
{
  guise_error *err = NULL;
  assert_is(resolve_in_root(rootfd, rootfd, "/etc/passwd", 0, &err), "etc/passwd");
  assert_is(resolve_in_root(rootfd, rootfd, "/../../../etc/passwd", 0, &err), "etc/passwd");
  /* An absolute symlink to the host's /etc/passwd lands inside the root. */
  assert_is(resolve_in_root(rootfd, rootfd, "/link_abs", 0, &err), "etc/passwd");
  assert_is(resolve_in_root(rootfd, rootfd, "/link_abs", TRACEE_RESOLVE_NOFOLLOW, &err),
            "link_abs");
  assert_null(err);
}

static void test_relative_escapes(void **state)
{
  guise_error *err = NULL;
  int ab = sub("a/b");
  assert_is(resolve_in_root(rootfd, ab, "../../../../etc/passwd", 0, &err), "etc/passwd");
  assert_is(resolve_in_root(rootfd, ab, "abs_dir/b", 0, &err), "a/b");
  assert_is(resolve_in_root(rootfd, ab, "rootish/etc", 0, &err), "etc");
  assert_is(resolve_in_root(rootfd, ab, "../up", 0, &err), "etc/passwd");
  assert_is(resolve_in_root(rootfd, ab, "..", 0, &err), "a");
  assert_is(resolve_in_root(rootfd, rootfd, "a/up", 0, &err), "etc/passwd");
  assert_is(resolve_in_root(rootfd, rootfd, "..", 0, &err), "");
  close(ab);
  assert_null(err);
}

static void test_errors(void **state)
{
  guise_error *err = NULL;
  assert_fails(resolve_in_root(rootfd, rootfd, "loop1", 0, &err), err, ELOOP);
  int ab = sub("a/b");
  assert_fails(resolve_in_root(rootfd, ab, "../../loop1", 0, &err), err, ELOOP);
  assert_fails(resolve_in_root(rootfd, ab, "../../nothing", 0, &err), err, ENOENT);
  assert_fails(resolve_in_root(rootfd, ab, "../../file/x", 0, &err), err, ENOTDIR);
  assert_fails(resolve_in_root(rootfd, ab, "../../file/", 0, &err), err, ENOTDIR);
  close(ab);
  assert_fails(resolve_in_root(rootfd, rootfd, "nothing", 0, &err), err, ENOENT);
  assert_fails(resolve_in_root(rootfd, rootfd, "", 0, &err), err, ENOENT);
  assert_is(resolve_in_root(rootfd, rootfd, "", TRACEE_RESOLVE_EMPTY_PATH, &err), "");
  /* NOFOLLOW on a loop is the link itself. */
  assert_is(resolve_in_root(rootfd, rootfd, "loop1", TRACEE_RESOLVE_NOFOLLOW, &err), "loop1");
}

static void test_parent(void **state)
{
  guise_error *err = NULL;
  char *name = NULL;
  int fd = resolve_parent_in_root(rootfd, rootfd, "a/b/new", &name, &err);
  assert_is(fd, "a/b");
  assert_string_equal(name, "new");
  free(name);
  fd = resolve_parent_in_root(rootfd, rootfd, "/../new/", &name, &err);
  assert_is(fd, "");
  assert_string_equal(name, "new");
  free(name);
  fd = resolve_parent_in_root(rootfd, rootfd, "/", &name, &err);
  assert_is(fd, "");
  assert_string_equal(name, ".");
  free(name);
  int ab = sub("a/b");
  fd = resolve_parent_in_root(rootfd, ab, "abs_dir/x", &name, &err);
  assert_is(fd, "a");
  assert_string_equal(name, "x");
  free(name);
  fd = resolve_parent_in_root(rootfd, ab, "plain", &name, &err);
  assert_is(fd, "a/b");
  free(name);
  close(ab);
  assert_fails(resolve_parent_in_root(rootfd, rootfd, "file/x", &name, &err), err, ENOTDIR);
  assert_fails(resolve_parent_in_root(rootfd, rootfd, "", &name, &err), err, ENOENT);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_absolute),
      cmocka_unit_test(test_relative_escapes),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_parent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
