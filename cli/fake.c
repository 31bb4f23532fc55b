/* guise fake: run a host command with root faked (like fakeroot, but at the syscall level, so
 * static binaries and raw syscalls are covered) — no container, no user namespace. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/commands.h"
#include "fakefs/db.h"
#include "fakefs/policy.h"
#include "tracer/tracer.h"
#include "util/cleanup.h"

static void fake_usage(FILE *out)
{
  fputs("Usage: guise fake [--db FILE] [--rootfs DIR] [--backend auto|seccomp|ptrace] [--]\n"
        "                  COMMAND [ARG...]\n"
        "\n"
        "Run COMMAND on the host believing it is root: set*id/get*id, groups and capabilities\n"
        "are faked per process and, with --db, ownership, modes, device nodes and privileged\n"
        "xattrs are recorded in FILE and shown back by stat.  Works for static binaries.\n"
        "\n"
        "  --db FILE   faked-state database (created if missing)\n"
        "  --rootfs DIR\n"
        "              COMMAND populates the root filesystem DIR (e.g. tar -C DIR): the\n"
        "              database is DIR's own (DIR.fakefs.db, as guise run and guise db find it,\n"
        "              unless --db says otherwise) and its paths are recorded as seen from\n"
        "              inside DIR; rows for other filesystems are volatile, as in guise run\n"
        "  --backend B how calls are intercepted: seccomp (user notification), ptrace (for\n"
        "              kernels without it; slower) or auto (seccomp, else ptrace with a notice;\n"
        "              default)\n"
        "\n"
        "Exit status: the command's; 128+N if killed by signal N; 125 if guise failed;\n"
        "126 if the command cannot be executed; 127 if it was not found.\n",
        out);
}

static const struct option fake_options[] = {
    {"db", required_argument, NULL, 'd'},
    {"rootfs", required_argument, NULL, 'r'},
    {"backend", required_argument, NULL, 'b'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int exit_code(int wstatus)
{
  if (WIFEXITED(wstatus))
    return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus))
    return 128 + WTERMSIG(wstatus);
  return 125;
}

int cmd_fake(int argc, char **argv)
{
  const char *db = NULL, *rootfs_arg = NULL;
  enum tracer_backend backend = TRACER_BACKEND_AUTO;
  _cleanup_error_ guise_error *err = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "+h", fake_options, NULL)) != -1) {
    switch (c) {
    case 'd':
      db = optarg;
      break;
    case 'r':
      rootfs_arg = optarg;
      break;
    case 'b':
      if (tracer_backend_parse(optarg, &backend, &err) < 0) {
        guise_error_print(err);
        return 125;
      }
      break;
    case 'h':
      fake_usage(stdout);
      return 0;
    default:
      fake_usage(stderr);
      return 125;
    }
  }
  if (optind >= argc) {
    fake_usage(stderr);
    return 125;
  }
  char **cmd = argv + optind;

  _cleanup_free_ char *rootfs = NULL, *rootfs_db = NULL;
  if (rootfs_arg != NULL) {
    if (fakefs_db_path_for_named_rootfs(rootfs_arg, &rootfs, &rootfs_db, &err) < 0) {
      guise_error_print(err);
      return 125;
    }
    if (db == NULL) db = rootfs_db;
  }
  _cleanup_fakefs_policy_ struct fakefs_policy *fp = NULL;
  if (fakefs_policy_new(db, rootfs, &fp, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  const struct tracer_policy *policy = fakefs_policy_tracer(fp);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    perror("guise: socketpair");
    return 125;
  }
  /* Like system(3): the terminal's interrupt is for the command; we wait for it. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    perror("guise: fork");
    return 125;
  }
  if (pid == 0) {
    close(sv[0]);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    /* Without the supervisor every faked call would fail with ENOSYS: die with it instead. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(125);
    /* No user namespace here, so installing a filter needs no_new_privs. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
      perror("guise: setting no_new_privs failed");
      _exit(125);
    }
    struct tracer_filter filter;
    _cleanup_error_ guise_error *why = NULL;
    if (tracer_filter_build(policy, &filter, &err) < 0 ||
        tracer_child_install_backend(sv[1], &filter, backend, &why, &err) < 0) {
      guise_error_print(err);
      _exit(125);
    }
    free(filter.insns);
    if (why != NULL)
      fprintf(stderr, "guise: notice: faking with ptrace (slower): %s\n", why->msg);
    close(sv[1]);
    execvp(cmd[0], cmd);
    int e = errno;
    fprintf(stderr, "guise: executing %s failed: %s\n", cmd[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
  }
  close(sv[1]);
  int wstatus = -1;
  int r = tracer_serve(sv[0], -1, pid, policy, &wstatus, &err);
  close(sv[0]);
  if (r < 0) {
    guise_error_print(err);
    if (wstatus == -1) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    return 125;
  }
  if (wstatus == -1 && waitpid(pid, &wstatus, 0) < 0)
    return 125;
  return exit_code(wstatus);
}
