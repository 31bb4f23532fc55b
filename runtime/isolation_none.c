/* Running a container without namespaces (see runtime/isolation_none.h).
 *
 * guise itself is the tracer (ptrace must come from an ancestor under Yama's ptrace_scope 1, and
 * there is no namespace to keep a separate supervisor's pid out of): it forks the command,
 * which asks to be traced, installs the filter (every path-taking call traps), and execs the
 * command through the view; guise serves the calls until the last traced process is gone. */
#include "runtime/isolation_none.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakefs/policy.h"
#include "runtime/process.h"
#include "util/cleanup.h"

int isolation_parse(const char *name, enum isolation_mode *out, guise_error **err)
{
  static const char *const names[] = {"auto", "namespaces", "none"};
  for (int i = 0; i < 3; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = (enum isolation_mode)i;
      return 0;
    }
  return guise_fail(err, EINVAL, "parsing isolation %s failed: not one of auto, namespaces, none",
                    name);
}

bool isolation_none_fallback(int errnum)
{
  return errnum == EPERM || errnum == ENOSPC || errnum == EUSERS || errnum == EINVAL;
}

void isolation_none_notice(const char *why)
{
  static bool printed;
  if (printed) return;
  printed = true;
  fprintf(stderr,
          "guise: notice: %s%srunning without namespaces: the rootfs is shown as / by path "
          "translation (ptrace, slower); processes, network, ipc and hostname are the host's, "
          "and this is no security boundary\n",
          why != NULL ? why : "", why != NULL ? "; " : "");
}

void isolation_none_default_mounts(struct container_spec *spec)
{
  static const char *const host[] = {"/proc", "/dev", "/sys"};
  for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++) {
    struct mount_spec m = {.kind = MOUNT_KIND_BIND,
                           .source = (char *)host[i],
                           .destination = (char *)host[i],
                           .recursive = true};
    spec_add_mount(spec, &m);
  }
}

static bool under_dev(const char *path)
{
  return strncmp(path, "/dev/", 5) == 0;
}

/* The spec's mounts as bindings of the view. */
static int make_view(const struct container_spec *spec, const char *rootfs,
                     struct tracer_view **out, guise_error **err)
{
  char real[PATH_MAX];
  struct tracer_view *v = NULL;
  if (tracer_view_new(rootfs, &v, err) < 0) return -1;
  for (size_t i = 0; i < spec->n_mounts; i++) {
    const struct mount_spec *m = &spec->mounts[i];
    const char *host = NULL;
    if (m->kind == MOUNT_KIND_BIND)
      host = m->source;
    else if (m->type != NULL && strcmp(m->type, "proc") == 0)
      host = "/proc";
    else if (m->type != NULL && strcmp(m->type, "sysfs") == 0)
      host = "/sys";
    else if (m->type != NULL && strcmp(m->type, "tmpfs") == 0 &&
             strcmp(m->destination, "/dev") == 0)
      host = "/dev"; /* the host's devices, as the container's tmpfs would have bound them */
    else if (m->type != NULL && under_dev(m->destination) &&
             (strcmp(m->type, "devpts") == 0 || strcmp(m->type, "mqueue") == 0 ||
              strcmp(m->type, "tmpfs") == 0))
      continue; /* the host's /dev/pts, /dev/mqueue, /dev/shm come with its /dev */
    if (host == NULL) {
      tracer_view_free(v);
      return guise_fail(err, ENOTSUP,
                        "mounting %s on %s without namespaces failed: only binds, proc, sysfs "
                        "and /dev can be shown yet",
                        m->type != NULL ? m->type : "?", m->destination);
    }
    if (realpath(host, real) == NULL) {
      guise_fail_errno(err, "resolving %s, to show at %s, failed", host, m->destination);
      tracer_view_free(v);
      return -1;
    }
    if (tracer_view_bind(v, m->destination, real, err) < 0) {
      tracer_view_free(v);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* In the command's process: be traced through the view, then exec.  Never returns. */
static __attribute__((noreturn)) void child_main(const struct container_spec *spec, int sock,
                                                 const struct tracer_filter *filter, pid_t parent)
{
  _cleanup_error_ guise_error *err = NULL;
  int status = 125;
  /* Without its tracer every trapped call would fail with ENOSYS: die with it instead. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent) _exit(125);
  /* A session of its own, as with namespaces (runtime/container.c): no controlling terminal, so
   * TIOCSTI cannot type into the caller's shell; guise forwards the terminal's signals. */
  if (setsid() < 0) {
    guise_fail_errno(&err, "start the container's session");
    goto fail;
  }
  if (process_detach_stdin(spec, &err) < 0) goto fail;
  if (process_apply_rlimits(spec, &err) < 0) goto fail;
  umask(spec->umask);
  /* No user namespace: a filter needs no_new_privs (setuid programs run unprivileged anyway
   * under ptrace). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    guise_fail_errno(&err, "set no_new_privs");
    goto fail;
  }
  if (tracer_child_install_backend(sock, filter, TRACER_BACKEND_PTRACE, NULL, &err) < 0) goto fail;
  close(sock);
  /* Nothing of the caller's but stdin, stdout and stderr reaches the command. */
  if (process_close_fds(-1, -1, &err) < 0) goto fail;
  /* From here on paths are the guest's: the tracer translates them. */
  const char *cwd = spec->cwd != NULL ? spec->cwd : "/";
  if (chdir(cwd) < 0) {
    guise_fail_errno(&err, "change to the working directory %s", cwd);
    goto fail;
  }
  process_exec(spec, &status, &err);
fail:
  guise_error_print(err);
  _exit(status);
}

static volatile sig_atomic_t forward_to; /* the command's process group, 0: none */

static void forward_signal(int sig)
{
  if (forward_to > 0) kill(-(pid_t)forward_to, sig);
}

int isolation_none_run(const struct container_spec *spec, int *exit_status, guise_error **err)
{
  *exit_status = 125;
  struct stat st;
  if (stat(spec->rootfs, &st) < 0) return guise_fail_errno(err, "rootfs %s", spec->rootfs);
  if (!S_ISDIR(st.st_mode)) return guise_fail(err, ENOTDIR, "rootfs %s", spec->rootfs);
  if (spec->argv == NULL || spec->argv[0] == NULL) return guise_fail(err, 0, "no command to run");
  if (spec->uid != 0 || spec->gid != 0)
    return guise_fail(err, ENOTSUP, "running as %u:%u without namespaces is not supported yet",
                      (unsigned)spec->uid, (unsigned)spec->gid);
  /* The translated paths must not depend on the cwd, which the command changes. */
  char rootfs[PATH_MAX];
  if (realpath(spec->rootfs, rootfs) == NULL)
    return guise_fail_errno(err, "resolving rootfs %s failed", spec->rootfs);
  struct tracer_view *view = NULL;
  if (make_view(spec, rootfs, &view, err) < 0) return -1;
  _cleanup_fakefs_policy_ struct fakefs_policy *fp = NULL;
  struct tracer_policy policy = {0};
  if (spec->fake_db != NULL) {
    /* The files keep the caller's owner on disk; the database says what the guest made. */
    if (fakefs_policy_new(spec->fake_db, rootfs, &fp, err) < 0) {
      tracer_view_free(view);
      return -1;
    }
    policy = *fakefs_policy_tracer(fp);
  }
  policy.view = view;
  int rc = -1;
  struct tracer_filter filter = {0};
  int sv[2] = {-1, -1};
  if (tracer_filter_build(&policy, &filter, err) < 0) goto out;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    guise_fail_errno(err, "create the tracer's socket pair");
    goto out;
  }
  /* The command leads a session of its own, so the terminal's signals (and a kill of guise) are
   * passed on to its process group, as guise does with namespaces. */
  static const int forwarded[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP};
  struct sigaction fwd = {.sa_handler = forward_signal, .sa_flags = SA_RESTART}, old[4];
  sigemptyset(&fwd.sa_mask);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    child_main(spec, sv[1], &filter, parent);
  }
  forward_to = pid;
  for (size_t i = 0; i < 4; i++)
    sigaction(forwarded[i], &fwd, &old[i]);
  close(sv[1]);
  if (pid < 0) {
    guise_fail_errno(err, "fork the container's command");
  } else {
    int wstatus = -1;
    rc = tracer_serve(sv[0], -1, pid, &policy, &wstatus, err);
    if (rc < 0 && wstatus == -1) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    } else if (wstatus == -1 && waitpid(pid, &wstatus, 0) < 0) {
      rc = guise_fail_errno(err, "wait for the container's command");
    }
    if (rc == 0) *exit_status = process_exit_status(wstatus);
    /* Rows of the host's /dev and other bindings are not the rootfs's. */
    if (rc == 0 && fp != NULL && fakefs_policy_forget_volatile(fp, err) < 0)
      rc = guise_error_prefix(err, "the container's faked state is incomplete");
  }
  for (size_t i = 0; i < 4; i++)
    sigaction(forwarded[i], &old[i], NULL);
  forward_to = 0;
  close(sv[0]);
out:
  free(filter.insns);
  tracer_view_free(view);
  return rc;
}
