#include "runtime/process.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"

/* Job-control stops are left out: stopping the container would leave guise blocked. */
static const int forwarded_signals[] = {SIGHUP,  SIGINT,  SIGQUIT,   SIGTERM, SIGUSR1, SIGUSR2,
                                        SIGALRM, SIGCONT, SIGWINCH, SIGVTALRM, SIGPROF, SIGURG};

void process_forwarded_signals(sigset_t *set)
{
  sigemptyset(set);
  for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
    sigaddset(set, forwarded_signals[i]);
}

int process_exit_status(int wait_status)
{
  if (WIFEXITED(wait_status))
    return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status))
    return 128 + WTERMSIG(wait_status);
  return 125;
}

static int apply_capabilities(const struct container_spec *spec, guise_error **err)
{
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
    if (spec->cap_bounding & (UINT64_C(1) << c))
      continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return guise_fail_errno(err, "drop capability %d from the bounding set", (int)c);
  }
  cap_t caps = cap_init();
  if (caps == NULL)
    return guise_fail_errno(err, "allocate capability state");
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
    uint64_t bit = UINT64_C(1) << c;
    if (spec->cap_effective & bit)
      cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
    if (spec->cap_permitted & bit)
      cap_set_flag(caps, CAP_PERMITTED, 1, &c, CAP_SET);
    if (spec->cap_inheritable & bit)
      cap_set_flag(caps, CAP_INHERITABLE, 1, &c, CAP_SET);
  }
  int rc = cap_set_proc(caps);
  int saved = errno;
  cap_free(caps);
  if (rc < 0)
    return guise_fail(err, saved, "set the container's capabilities");
  if (cap_reset_ambient() < 0 && errno != EINVAL)
    return guise_fail_errno(err, "clear ambient capabilities");
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
    if (!(spec->cap_ambient & (UINT64_C(1) << c)))
      continue;
    if (cap_set_ambient(c, CAP_SET) < 0)
      return guise_fail_errno(err, "raise ambient capability %d", (int)c);
  }
  return 0;
}

int process_apply_privileges(const struct container_spec *spec, guise_error **err)
{
  for (size_t i = 0; i < spec->n_rlimits; i++) {
    struct rlimit rl = {.rlim_cur = spec->rlimits[i].soft, .rlim_max = spec->rlimits[i].hard};
    if (setrlimit(spec->rlimits[i].resource, &rl) < 0)
      return guise_fail_errno(err, "set resource limit %d to %llu:%llu", spec->rlimits[i].resource,
                              (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  }
  /* Keep capabilities across the uid change; the final sets are applied below. */
  if (spec->uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    return guise_fail_errno(err, "keep capabilities across setuid");
  if (spec->n_additional_gids > 0 && setgroups(spec->n_additional_gids, spec->additional_gids) < 0)
    return guise_fail_errno(err, "set supplementary groups (a single-id user namespace denies "
                                 "setgroups)");
  if (spec->gid != 0 && setresgid(spec->gid, spec->gid, spec->gid) < 0)
    return guise_fail_errno(err, "switch to group %u (only gid 0 is mapped in the user namespace)",
                            (unsigned)spec->gid);
  if (spec->uid != 0 && setresuid(spec->uid, spec->uid, spec->uid) < 0)
    return guise_fail_errno(err, "switch to user %u (only uid 0 is mapped in the user namespace)",
                            (unsigned)spec->uid);
  if (apply_capabilities(spec, err) < 0)
    return -1;
  if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return guise_fail_errno(err, "set no_new_privs");
  umask(spec->umask);
  const char *cwd = spec->cwd ? spec->cwd : "/";
  if (chdir(cwd) < 0)
    return guise_fail_errno(err, "chdir to working directory %s", cwd);
  return 0;
}

int process_exec(const struct container_spec *spec, int *status, guise_error **err)
{
  extern char **environ;
  /* A container starts with default signal dispositions, whatever guise's caller ignored
   * (a shell's background job ignores SIGINT and SIGQUIT, nohup SIGHUP). */
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, SIG_DFL);
  environ = spec->env; /* execvp searches the container's PATH, not guise's */
  execvp(spec->argv[0], spec->argv);
  int saved = errno;
  *status = (saved == ENOENT || saved == ENOTDIR) ? 127 : 126;
  return guise_fail(err, saved, "exec %s failed", spec->argv[0]);
}

int process_init_loop(pid_t child)
{
  sigset_t set;
  process_forwarded_signals(&set);
  sigaddset(&set, SIGCHLD);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) {
      if (errno == EINTR)
        continue;
      return 125;
    }
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    /* Reap everything: orphans re-parented to us as well as the command. */
    for (;;) {
      int wstatus;
      pid_t pid = waitpid(-1, &wstatus, WNOHANG);
      if (pid <= 0)
        break;
      if (pid == child)
        return process_exit_status(wstatus);
    }
  }
}
