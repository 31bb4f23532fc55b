#include "runtime/process.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

cap_t process_make_capabilities(const struct container_spec *spec, guise_error **err)
{
  cap_t caps = cap_init();
  if (caps == NULL) {
    guise_fail_errno(err, "allocate capability state");
    return NULL;
  }
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
    uint64_t bit = UINT64_C(1) << c;
    if (spec->cap_effective & bit)
      cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_SET);
    if (spec->cap_permitted & bit)
      cap_set_flag(caps, CAP_PERMITTED, 1, &c, CAP_SET);
    if (spec->cap_inheritable & bit)
      cap_set_flag(caps, CAP_INHERITABLE, 1, &c, CAP_SET);
  }
  return caps;
}

static int apply_capabilities(const struct container_spec *spec, cap_t caps, guise_error **err)
{
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
    if (spec->cap_bounding & (UINT64_C(1) << c))
      continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      return guise_fail_errno(err, "drop capability %d from the bounding set", (int)c);
  }
  if (cap_set_proc(caps) < 0)
    return guise_fail_errno(err, "set the container's capabilities");
  /* Directly, not cap_reset_ambient(): libcap asks PR_CAP_AMBIENT_IS_SET of every capability
   * first (41 calls) to skip a clear that costs one.  EINVAL: a kernel without ambient sets. */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return guise_fail_errno(err, "clear ambient capabilities");
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
    if (!(spec->cap_ambient & (UINT64_C(1) << c)))
      continue;
    if (cap_set_ambient(c, CAP_SET) < 0)
      return guise_fail_errno(err, "raise ambient capability %d", (int)c);
  }
  return 0;
}

int process_apply_rlimits(const struct container_spec *spec, guise_error **err)
{
  for (size_t i = 0; i < spec->n_rlimits; i++) {
    struct rlimit rl = {.rlim_cur = spec->rlimits[i].soft, .rlim_max = spec->rlimits[i].hard};
    if (setrlimit(spec->rlimits[i].resource, &rl) < 0)
      return guise_fail_errno(err, "set resource limit %d to %llu:%llu", spec->rlimits[i].resource,
                              (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
  }
  return 0;
}

int process_apply_privileges(const struct container_spec *spec, cap_t caps, guise_error **err)
{
  if (process_apply_rlimits(spec, err) < 0)
    return -1;
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
  if (apply_capabilities(spec, caps, err) < 0)
    return -1;
  if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return guise_fail_errno(err, "set no_new_privs");
  umask(spec->umask);
  const char *cwd = spec->cwd ? spec->cwd : "/";
  if (chdir(cwd) < 0)
    return guise_fail_errno(err, "chdir to working directory %s", cwd);
  return 0;
}

/* The value of PATH in env, or the system's default path (what execvp searches without one). */
static const char *search_path(char *const *env, char *buf, size_t size)
{
  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp(env[i], "PATH=", 5) == 0)
      return env[i] + 5;
  size_t n = confstr(_CS_PATH, buf, size);
  return n > 0 && n <= size ? buf : "/bin:/usr/bin";
}

/* execvp with env's PATH, minus the execve of every PATH entry that lacks the file: under
 * syscall faking each execve, failing or not, is a round trip to the supervisor (five of them
 * for `true` in a busybox image).  faccessat is not intercepted; it skips only entries where the
 * file does not exist for the effective ids execve uses, so the outcome (errno and EACCES
 * included) is execvp's, and each exec is execvpe's (a script without #! runs with /bin/sh).
 * A PATH with an empty entry (the working directory) goes to execvp itself (environ is env),
 * which names the file there without a directory. */
static void exec_searching_path(char *const *argv, char *const *env)
{
  const char *file = argv[0];
  char default_path[PATH_MAX];
  const char *path = search_path(env, default_path, sizeof(default_path));
  if (file[0] == '\0' || strchr(file, '/') != NULL || path[0] == '\0' || path[0] == ':' ||
      strstr(path, "::") != NULL || path[strlen(path) - 1] == ':') {
    execvp(file, argv);
    return;
  }
  bool eacces = false;
  int last = ENOENT;
  for (const char *dir = path;; dir++) {
    const char *end = strchrnul(dir, ':');
    char candidate[PATH_MAX];
    int n = snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)(end - dir), dir, file);
    if (n < 0 || (size_t)n >= sizeof(candidate)) {
      last = ENAMETOOLONG;
    } else if (faccessat(AT_FDCWD, candidate, F_OK, AT_EACCESS) < 0 &&
               (errno == ENOENT || errno == ENOTDIR)) {
      last = errno;
    } else {
      execvpe(candidate, argv, env);
      last = errno;
      if (last == EACCES)
        eacces = true;
      else if (last != ENOENT && last != ESTALE && last != ENOTDIR && last != ENODEV &&
               last != ETIMEDOUT)
        break; /* execvp stops here too */
    }
    if (*end == '\0')
      break;
    dir = end;
  }
  errno = eacces ? EACCES : last;
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
  exec_searching_path(spec->argv, spec->env);
  int saved = errno;
  *status = (saved == ENOENT || saved == ENOTDIR) ? 127 : 126;
  return guise_fail(err, saved, "exec %s failed", spec->argv[0]);
}

/* close_range(first, last), or one close per possible descriptor where the kernel lacks it. */
static int close_fd_range(unsigned first, unsigned last, guise_error **err)
{
  if (first > last) return 0;
  if (close_range(first, last, 0) == 0) return 0;
  if (errno != ENOSYS && errno != EINVAL)
    return guise_fail_errno(err, "close descriptors %u-%u", first, last);
  /* Open descriptors are below the hard limit (unless it was lowered after they were opened),
   * which is below fs.nr_open, 2^20 by default. */
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return guise_fail_errno(err, "read the open-files limit to close descriptors");
  rlim_t end = rl.rlim_max < (rlim_t)1 << 20 ? rl.rlim_max : (rlim_t)1 << 20;
  for (rlim_t fd = first; fd <= last && fd < end; fd++)
    close((int)fd);
  return 0;
}

int process_close_fds(int keep_a, int keep_b, guise_error **err)
{
  int lo = keep_a < keep_b ? keep_a : keep_b, hi = keep_a < keep_b ? keep_b : keep_a;
  unsigned next = STDERR_FILENO + 1;
  const int keep[2] = {lo, hi};
  for (int i = 0; i < 2; i++) {
    if (keep[i] < (int)next) continue;
    if (close_fd_range(next, (unsigned)keep[i] - 1, err) < 0) return -1;
    next = (unsigned)keep[i] + 1;
  }
  return close_fd_range(next, ~0U, err);
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

int process_detach_stdin(const struct container_spec *spec, guise_error **err)
{
  if (spec->stdin_open || spec->terminal)
    return 0;
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0) {
    if (null >= 0)
      close(null);
    return guise_fail_errno(err, "redirect stdin from /dev/null");
  }
  close(null);
  return 0;
}
