/* guise fake: run a host command with root faked (like fakeroot, but at the syscall level, so
 * static binaries and raw syscalls are covered) — no container, no user namespace. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
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
#include "runtime/isolation_none.h"
#include "tracer/tracer.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static void fake_usage(FILE *out)
{
  fputs("Usage: guise fake [OPTIONS] [--] COMMAND [ARG...]\n"
        "\n"
        "Run COMMAND on the host believing it is root, like fakeroot: set*id/get*id, groups and\n"
        "capabilities are faked per process; ownership, modes, device nodes and privileged\n"
        "xattrs are remembered and shown back by stat.  Works for static binaries.  By default\n"
        "the faked state lives in memory and is gone when COMMAND ends.\n"
        "\n"
        "  -i, --load FILE  start from the faked state saved in FILE (by -s or a --db)\n"
        "  -s, --save FILE  save the faked state to FILE when COMMAND ends (a SQLite database in\n"
        "                   guise's format, not fakeroot's text format; FILE is replaced\n"
        "                   atomically; may be the same FILE as -i)\n"
        "  --db FILE        keep the faked state in the database FILE instead (created if\n"
        "                   missing, updated as COMMAND runs)\n"
        "  --rootfs DIR     COMMAND populates the root filesystem DIR (e.g. tar -C DIR): the\n"
        "                   database is DIR's own (DIR.fakefs.db, as guise run and guise db\n"
        "                   find it, unless --db says otherwise) and its paths are recorded as\n"
        "                   seen from inside DIR; rows for other filesystems are volatile, as\n"
        "                   in guise run\n"
        "  --ids-only       fake ids, groups and capabilities only: files are the kernel's\n"
        "  --isolation=none with --rootfs: run COMMAND inside DIR, shown as / by path\n"
        "                   translation (ptrace), with the host's /proc, /dev and /sys; nothing\n"
        "                   else is isolated (see guise run --isolation)\n"
        "  --backend B      how calls are intercepted: seccomp (user notification), ptrace\n"
        "                   (for kernels without it; slower) or auto (seccomp, else ptrace with\n"
        "                   a notice; default)\n"
        "\n"
        "Exit status: the command's; 128+N if killed by signal N; 125 if guise failed (also\n"
        "when -s could not save); 126 if the command cannot be executed; 127 if it was not\n"
        "found.\n",
        out);
}

static const struct option fake_options[] = {
    {"db", required_argument, NULL, 'd'},
    {"rootfs", required_argument, NULL, 'r'},
    {"load", required_argument, NULL, 'i'},
    {"save", required_argument, NULL, 's'},
    {"ids-only", no_argument, NULL, 'I'},
    {"backend", required_argument, NULL, 'b'},
    {"isolation", required_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The policy the options ask for: a named database, the rootfs's, none, or the session's. */
static int open_policy(const char *db, const char *rootfs_arg, const char *load, bool ids_only,
                       struct fakefs_policy **fp, guise_error **err)
{
  if (ids_only) return fakefs_policy_new(NULL, NULL, fp, err);
  if (db == NULL && rootfs_arg == NULL) return fakefs_policy_new_session(load, fp, err);
  _cleanup_free_ char *rootfs = NULL, *rootfs_db = NULL;
  if (rootfs_arg != NULL) {
    if (fakefs_db_path_for_named_rootfs(rootfs_arg, &rootfs, &rootfs_db, err) < 0) return -1;
    if (db == NULL) db = rootfs_db;
  }
  return fakefs_policy_new(db, rootfs, fp, err);
}

static int exit_code(int wstatus)
{
  if (WIFEXITED(wstatus))
    return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus))
    return 128 + WTERMSIG(wstatus);
  return 125;
}

/* --isolation=none: COMMAND runs in the rootfs as a container would without namespaces. */
static int fake_in_rootfs(const char *rootfs, const char *db, char **cmd)
{
  extern char **environ;
  _cleanup_error_ guise_error *err = NULL;
  struct container_spec spec = {
      .rootfs = strdup(rootfs),
      .argv = strv_copy(cmd),
      .env = strv_copy(environ),
      .fake_db = strdup(db),
      .stdin_open = true,
      .umask = umask(022), /* the caller's, put back below */
  };
  umask(spec.umask);
  isolation_none_default_mounts(&spec);
  int status = 125;
  if (isolation_none_run(&spec, &status, &err) < 0) {
    guise_error_print(err);
    status = 125;
  }
  spec_free(&spec);
  return status;
}

int cmd_fake(int argc, char **argv)
{
  const char *db = NULL, *rootfs_arg = NULL, *load = NULL, *save = NULL;
  bool ids_only = false;
  enum tracer_backend backend = TRACER_BACKEND_AUTO;
  bool in_rootfs = false;
  _cleanup_error_ guise_error *err = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "+hi:s:", fake_options, NULL)) != -1) {
    switch (c) {
    case 'd':
      db = optarg;
      break;
    case 'r':
      rootfs_arg = optarg;
      break;
    case 'i':
      load = optarg;
      break;
    case 's':
      save = optarg;
      break;
    case 'I':
      ids_only = true;
      break;
    case 'b':
      if (tracer_backend_parse(optarg, &backend, &err) < 0) {
        guise_error_print(err);
        return 125;
      }
      break;
    case 'n':
      if (strcmp(optarg, "none") != 0) {
        fprintf(stderr, "guise: fake: --isolation %s: only none is known here\n", optarg);
        return 125;
      }
      in_rootfs = true;
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
  if ((load != NULL || save != NULL) && (db != NULL || rootfs_arg != NULL || ids_only)) {
    fputs("guise: fake: -i/-s load and save the session's state; --db, --rootfs and --ids-only "
          "choose another: use one or the other\n",
          stderr);
    return 125;
  }
  if (in_rootfs) {
    if (rootfs_arg == NULL || load != NULL || save != NULL || ids_only) {
      fputs("guise: fake: --isolation=none needs --rootfs DIR, whose database (or --db) keeps the "
            "faked state\n",
            stderr);
      return 125;
    }
    _cleanup_free_ char *rootfs = NULL, *rootfs_db = NULL;
    if (fakefs_db_path_for_named_rootfs(rootfs_arg, &rootfs, &rootfs_db, &err) < 0) {
      guise_error_print(err);
      return 125;
    }
    return fake_in_rootfs(rootfs, db != NULL ? db : rootfs_db, cmd);
  }
  if (ids_only && (db != NULL || rootfs_arg != NULL)) {
    fputs("guise: fake: --ids-only keeps no database: it cannot go with --db or --rootfs\n",
          stderr);
    return 125;
  }

  _cleanup_fakefs_policy_ struct fakefs_policy *fp = NULL;
  if (open_policy(db, rootfs_arg, load, ids_only, &fp, &err) < 0) {
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
    guise_error_release(&err);
    if (wstatus == -1) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
  } else if (wstatus == -1 && waitpid(pid, &wstatus, 0) < 0) {
    r = -1;
  }
  /* Saved whatever happened, as fakeroot does: what was faked until then is still true. */
  if (save != NULL && fakefs_policy_save(fp, save, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  return r < 0 ? 125 : exit_code(wstatus);
}
