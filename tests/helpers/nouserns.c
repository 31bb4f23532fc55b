/* nouserns COMMAND [ARG...]: run COMMAND where user namespaces are refused, without touching the
 * machine-wide sysctl — in a user namespace of its own (the caller's uid and gid mapped to
 * themselves) whose user.max_user_namespaces is 0, so that any user namespace COMMAND tries to
 * make fails with ENOSPC, as on a host with user.max_user_namespaces=0.  COMMAND keeps the
 * caller's ids; unless those are 0 the execve drops the capabilities the new namespace gave.
 * Needs unprivileged user namespaces on the host.  Says why and exits 125 when it cannot. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
    fprintf(stderr, "nouserns: writing %s failed: %s\n", path, strerror(errno));
    exit(125);
  }
  close(fd);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: nouserns COMMAND [ARG...]\n");
    return 125;
  }
  unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
  if (unshare(CLONE_NEWUSER) < 0) {
    fprintf(stderr, "nouserns: unshare(CLONE_NEWUSER) failed: %s\n", strerror(errno));
    return 125;
  }
  char map[64];
  put("/proc/self/setgroups", "deny");
  snprintf(map, sizeof(map), "%u %u 1\n", uid, uid);
  put("/proc/self/uid_map", map);
  snprintf(map, sizeof(map), "%u %u 1\n", gid, gid);
  put("/proc/self/gid_map", map);
  put("/proc/sys/user/max_user_namespaces", "0");
  execvp(argv[1], argv + 1);
  fprintf(stderr, "nouserns: executing %s failed: %s\n", argv[1], strerror(errno));
  return 127;
}
