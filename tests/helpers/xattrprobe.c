/* xattrprobe: every path-based xattr call through every way a process names a file below one of
 * its own directory descriptors (/proc/self/fd/N/NAME and its kin), for tests of the faking of
 * trusted.* xattrs (which the supervisor resolves itself).  Static, libc only.
 *
 *   xattrprobe DIR NAME   open DIR; for each path form of DIR/NAME, set, get and list
 *                         trusted.* xattrs with the following and the l* calls, then remove
 *                         them; print "FORM CALL ok" or "FORM CALL failed: ERROR" per call,
 *                         and "done N failed" last
 *
 * Under real root every call succeeds; so must it under guise. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static int failures;

static void report(const char *form, const char *call, bool ok, const char *why)
{
  if (ok) {
    printf("%s %s ok\n", form, call);
    return;
  }
  printf("%s %s failed: %s\n", form, call, why);
  failures++;
}

static void check_zero(const char *form, const char *call, long r)
{
  report(form, call, r == 0, r == 0 ? "" : strerror(errno));
}

static void check_value(const char *form, const char *call, ssize_t n, const char *buf,
                        const char *want)
{
  if (n < 0)
    report(form, call, false, strerror(errno));
  else if ((size_t)n != strlen(want) || memcmp(buf, want, (size_t)n) != 0)
    report(form, call, false, "wrong value");
  else
    report(form, call, true, "");
}

/* Whether the listxattr-format list has name. */
static bool listed(const char *list, ssize_t n, const char *name)
{
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
    if (strcmp(list + i, name) == 0) return true;
  return false;
}

static void check_list(const char *form, const char *call, ssize_t n, const char *list,
                       const char *want1, const char *want2, bool present)
{
  if (n < 0) {
    report(form, call, false, strerror(errno));
    return;
  }
  bool ok =
      listed(list, n, want1) == present && (want2 == NULL || listed(list, n, want2) == present);
  report(form, call, ok, present ? "a name set is not listed" : "a removed name is listed");
}

static void probe(const char *form, const char *p)
{
  char buf[4096];
  const char *a = "trusted.guise-a", *b = "trusted.guise-b";
  check_zero(form, "setxattr", setxattr(p, a, form, strlen(form), 0));
  check_value(form, "getxattr", getxattr(p, a, buf, sizeof(buf)), buf, form);
  check_zero(form, "lsetxattr", lsetxattr(p, b, "lvalue", 6, 0));
  check_value(form, "lgetxattr", lgetxattr(p, b, buf, sizeof(buf)), buf, "lvalue");
  check_list(form, "listxattr", listxattr(p, buf, sizeof(buf)), buf, a, b, true);
  check_list(form, "llistxattr", llistxattr(p, buf, sizeof(buf)), buf, a, b, true);
  check_zero(form, "removexattr", removexattr(p, a));
  check_zero(form, "lremovexattr", lremovexattr(p, b));
  check_list(form, "listxattr-after-remove", listxattr(p, buf, sizeof(buf)), buf, a, b, false);
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: xattrprobe DIR NAME\n");
    return 2;
  }
  int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    fprintf(stderr, "xattrprobe: opening %s failed: %s\n", argv[1], strerror(errno));
    return 2;
  }
  const char *name = argv[2];
  pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
  struct {
    const char *form, *fmt;
  } forms[] = {
      {"/proc/self/fd/N/NAME", "/proc/self/fd/%d/%s"},
      {"/proc/self/fd/N//NAME", "/proc/self/fd/%d//%s"},
      {"/proc/self/fd/N/./NAME", "/proc/self/fd/%d/./%s"},
      {"/proc/thread-self/fd/N/NAME", "/proc/thread-self/fd/%d/%s"},
      {"/dev/fd/N/NAME", "/dev/fd/%d/%s"},
      {"/proc/PID/fd/N/NAME", NULL},
      {"/proc/PID/task/TID/fd/N/NAME", NULL},
  };
  char path[4096];
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    if (forms[i].fmt != NULL)
      snprintf(path, sizeof(path), forms[i].fmt, dir, name);
    else if (i == 5)
      snprintf(path, sizeof(path), "/proc/%d/fd/%d/%s", pid, dir, name);
    else
      snprintf(path, sizeof(path), "/proc/%d/task/%d/fd/%d/%s", pid, tid, dir, name);
    probe(forms[i].form, path);
  }
  printf("done %d failed\n", failures);
  return failures != 0;
}
