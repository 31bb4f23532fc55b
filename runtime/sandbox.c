#include "runtime/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

static unsigned notices_shown;
static int notice_fd = -1;

void sandbox_notice(enum sandbox_notice which, const char *fmt, ...)
{
  if (notices_shown & (unsigned)which) return;
  notices_shown |= (unsigned)which;
  va_list ap;
  va_start(ap, fmt);
  fputs("guise: notice: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (notice_fd >= 0) {
    char record[1 + sizeof(unsigned)] = {'N'};
    unsigned bit = (unsigned)which;
    memcpy(record + 1, &bit, sizeof(bit));
    if (write(notice_fd, record, sizeof(record)) < 0) {
      /* the parent only repeats the notice at its next container */
    }
  }
}

void sandbox_notice_report_to(int fd)
{
  notice_fd = fd;
}

void sandbox_notice_shown(unsigned which)
{
  notices_shown |= which;
}

/* The number in a one-line /proc file, -1 when it is not there. */
static long read_number(const char *path)
{
  _cleanup_free_ char *text = NULL;
  if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0) return -1;
  char *end;
  long v = strtol(text, &end, 10);
  return end == text ? -1 : v;
}

/* 2 when a seccomp filter is installed on this process ("Seccomp:" in /proc/self/status). */
static long seccomp_mode(void)
{
  _cleanup_free_ char *status = NULL;
  if (read_file_at(AT_FDCWD, "/proc/self/status", &status, NULL, NULL) < 0) return -1;
  const char *line = strstr(status, "\nSeccomp:");
  return line == NULL ? -1 : strtol(line + strlen("\nSeccomp:"), NULL, 10);
}

int sandbox_namespaces_failed(int errnum, guise_error **err)
{
  const char *step = "create the container's namespaces";
  if (errnum == ENOSPC || errnum == EUSERS) {
    long max = read_number("/proc/sys/user/max_user_namespaces");
    return guise_fail(err, errnum,
                      "%s (user namespaces are disabled or used up: "
                      "/proc/sys/user/max_user_namespaces is %ld here, and the limits of outer "
                      "user namespaces count too; raise it where it is low, e.g. on the host "
                      "as root: sysctl -w user.max_user_namespaces=15000)",
                      step, max);
  }
  if (errnum != EPERM) return guise_fail(err, errnum, "%s", step);
  if (read_number("/proc/sys/kernel/unprivileged_userns_clone") == 0)
    return guise_fail(err, errnum,
                      "%s (unprivileged user namespaces are switched off: "
                      "/proc/sys/kernel/unprivileged_userns_clone is 0; on the host, as root: "
                      "sysctl -w kernel.unprivileged_userns_clone=1)",
                      step);
  if (read_number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
    return guise_fail(err, errnum,
                      "%s (AppArmor restricts unprivileged user namespaces: "
                      "/proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1; on the host: "
                      "an AppArmor profile for guise with the userns rule, or sysctl -w "
                      "kernel.apparmor_restrict_unprivileged_userns=0)",
                      step);
  if (seccomp_mode() == 2)
    return guise_fail(err, errnum,
                      "%s (refused by the seccomp profile of the container guise runs in, "
                      "\"Seccomp: 2\" in /proc/self/status: Docker's default profile refuses new "
                      "namespaces; run it with guise's profile: " SANDBOX_PROFILE_FLAGS ")",
                      step);
  return guise_fail(err, errnum,
                    "%s (user namespaces are refused here, though no seccomp filter, sysctl "
                    "or AppArmor switch says so: is guise in a chroot?)",
                    step);
}

void sandbox_explain_ptrace(guise_error **err)
{
  if (err == NULL || *err == NULL || (*err)->errnum != EPERM) return;
  long scope = read_number("/proc/sys/kernel/yama/ptrace_scope");
  if (scope >= 2)
    guise_error_prefix(err,
                       "Yama's ptrace_scope is %ld (%s; on the host, as root: sysctl -w "
                       "kernel.yama.ptrace_scope=1), so faking with ptrace is refused",
                       scope, scope == 3 ? "no ptrace at all" : "ptrace only with CAP_SYS_PTRACE");
  else if (seccomp_mode() == 2)
    guise_error_prefix(err, "the seccomp profile of the container guise runs in refuses ptrace "
                            "(run it with guise's profile: " SANDBOX_PROFILE_FLAGS ")");
}
