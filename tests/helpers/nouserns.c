/* nouserns [--seccomp] COMMAND [ARG...]: run COMMAND where user namespaces are refused, without
 * touching the machine-wide sysctl.
 *
 * By default in a user namespace of its own (the caller's uid and gid mapped to themselves)
 * whose user.max_user_namespaces is 0, so that any user namespace COMMAND tries to make fails
 * with ENOSPC, as on a host with user.max_user_namespaces=0.  COMMAND keeps the caller's ids;
 * unless those are 0 the execve drops the capabilities the new namespace gave.  Needs
 * unprivileged user namespaces on the host.
 *
 * --seccomp: as Docker's default profile does instead (x86_64): a seccomp filter (with
 * no_new_privs) fails clone and unshare with CLONE_NEWUSER, process_vm_readv/writev and
 * pidfd_getfd (Docker 20.10 without CAP_SYS_PTRACE) with EPERM, and clone3 with ENOSYS.
 *
 * Says why and exits 125 when it cannot. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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

static void docker_like_filter(void)
{
#if defined(__x86_64__)
#define NR(n) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (n), 0, 1)
  struct sock_filter insns[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      NR(SYS_process_vm_readv),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      NR(SYS_process_vm_writev),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      NR(SYS_pidfd_getfd),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      NR(435 /* clone3: its flags are behind a pointer */),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 1, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_unshare, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
    fprintf(stderr, "nouserns: installing the seccomp filter failed: %s\n", strerror(errno));
    exit(125);
  }
#else
  fprintf(stderr, "nouserns: --seccomp is for x86_64 only\n");
  exit(125);
#endif
}

int main(int argc, char **argv)
{
  bool seccomp = argc >= 2 && strcmp(argv[1], "--seccomp") == 0;
  if (seccomp) {
    argv++;
    argc--;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: nouserns [--seccomp] COMMAND [ARG...]\n");
    return 125;
  }
  if (seccomp) {
    docker_like_filter();
    execvp(argv[1], argv + 1);
    fprintf(stderr, "nouserns: executing %s failed: %s\n", argv[1], strerror(errno));
    return 127;
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
