#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/fake_supervisor.h"
#include "runtime/isolation_none.h"
#include "runtime/net.h"
#include "runtime/process.h"
#include "runtime/pty.h"
#include "runtime/rootfs.h"
#include "runtime/sandbox.h"
#include "util/cleanup.h"
#include "util/ids.h"
#include "util/fileio.h"

/* What the container's first process needs from the parent, captured before clone. */
struct child_args {
  const struct container_spec *spec;
  uid_t host_uid;
  gid_t host_gid;
  int sync_fd; /* terminal mode: the pty master goes back through it */
  bool have_size;
  struct winsize size;
  sigset_t parent_mask;
  /* Syscall faking: the socket to the supervisor (-1: no faking). */
  int fake_sock;
  int stdin_fd; /* -i on a terminal without -t: the container's stdin, fed by guise (-1: none) */
  /* Why the setup failed goes back through this pipe (read_setup_reports), so that guise
   * reports it once, as its own error, rather than as the exit status of a command that never
   * ran; and the notices shown, so that later containers of this guise keep quiet about them. */
  int setup_err_fd;
};

/* Send err to the parent and end the container's first process. */
static __attribute__((noreturn)) void setup_failed(const struct child_args *a, guise_error *err)
{
  if (err != NULL && a->setup_err_fd >= 0) {
    int errnum = err->errnum;
    size_t len = strlen(err->msg);
    if (len > 4000) len = 4000; /* one atomic pipe write */
    char buf[4096];
    buf[0] = 'E';
    memcpy(buf + 1, &errnum, sizeof(errnum));
    memcpy(buf + 1 + sizeof(errnum), err->msg, len);
    if (write(a->setup_err_fd, buf, 1 + sizeof(errnum) + len) > 0) _exit(125);
  }
  guise_error_print(err);
  _exit(125);
}

static int write_id_maps(uid_t uid, gid_t gid, guise_error **err)
{
  char map[64];
  /* An unprivileged process may map exactly its own ids, and only once setgroups is denied. */
  if (write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny", err) < 0)
    return -1;
  snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
  if (write_file_at(AT_FDCWD, "/proc/self/uid_map", map, err) < 0) {
    if (uid == 0 && (*err)->errnum == EPERM)
      /* Linux >= 5.12 (verify_root_map): mapping the parent namespace's uid 0 needs that the
       * creator of the new namespace had CAP_SETFCAP; an outer sandbox that runs us as uid 0
       * of its own user namespace without capabilities has no other id to map. */
      return guise_error_prefix(
          err, "map uid 0 to root in the user namespace (guise runs as uid 0 of a user namespace "
               "without CAP_SETFCAP, which Linux >= 5.12 requires to map uid 0; run guise as "
               "another uid, e.g. bwrap --uid 1000, or keep the capability: bwrap --cap-add "
               "CAP_SETFCAP, docker/podman run --cap-add SETFCAP)");
    return guise_error_prefix(err, "map uid %u to root in the user namespace", (unsigned)uid);
  }
  snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
  if (write_file_at(AT_FDCWD, "/proc/self/gid_map", map, err) < 0)
    return guise_error_prefix(err, "map gid %u to root in the user namespace", (unsigned)gid);
  return 0;
}

/* In the command's own process: terminal, privileges, exec.  Never returns. */
static __attribute__((noreturn)) void exec_command(const struct child_args *a, int slave,
                                                   cap_t caps)
{
  _cleanup_error_ guise_error *err = NULL;
  int status = 125;
  sigprocmask(SIG_SETMASK, &a->parent_mask, NULL);
  if (slave >= 0 && pty_become_controlling(slave, &err) < 0)
    goto fail;
  if (process_apply_privileges(a->spec, caps, &err) < 0)
    goto fail;
  process_exec(a->spec, &status, &err);
  if (status != 125) { /* 126, 127: the command's own failure, as a shell reports it */
    guise_error_print(err);
    _exit(status);
  }
fail:
  setup_failed(a, err);
}

/* sethostname was refused (errno).  podman's default seccomp profile allows it only with
 * CAP_SYS_ADMIN.  A hostname nobody asked for (the default, the container id) is not worth
 * failing for: keep the outer one, and have /etc/hostname and $HOSTNAME say the same. */
static int keep_outer_hostname(struct container_spec *spec, guise_error **err)
{
  int saved = errno;
  if (saved != EPERM || spec->id == NULL || strcmp(spec->hostname, spec->id) != 0)
    return guise_fail(err, saved, "set hostname %s%s", spec->hostname,
                      saved == EPERM ? " (the outer container's seccomp profile refuses "
                                       "sethostname, as podman's default does without "
                                       "CAP_SYS_ADMIN: leave out --hostname, or run the outer "
                                       "container with guise's profile, --security-opt "
                                       "seccomp=contrib/seccomp/guise.json)"
                                     : "");
  char outer[256] = "";
  if (gethostname(outer, sizeof(outer) - 1) < 0) return guise_fail_errno(err, "read the hostname");
  sandbox_notice(SANDBOX_NOTICE_HOSTNAME,
                 "setting the hostname is refused (%s): keeping the outer one, %s", strerror(saved),
                 outer);
  char *old = spec->hostname;
  spec->hostname = strdup(outer);
  if (spec->hostname == NULL) abort();
  _cleanup_free_ char *expected = NULL, *entry = NULL;
  if (asprintf(&expected, "HOSTNAME=%s", old) < 0 || asprintf(&entry, "HOSTNAME=%s", outer) < 0)
    abort();
  for (size_t i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
    if (strcmp(spec->env[i], expected) == 0) spec_set_env(spec, entry);
  free(old);
  return 0;
}

static __attribute__((noreturn)) void child_main(const struct child_args *a)
{
  _cleanup_error_ guise_error *err = NULL;
  const struct container_spec *spec = a->spec;
  int master = -1, slave = -1;

  sandbox_notice_report_to(a->setup_err_fd);
  /* Whatever happens to guise, the container goes with it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
    guise_fail_errno(&err, "set the parent-death signal");
    goto fail;
  }
  /* A session of its own, as runc and crun do: the caller's terminal is then no terminal of the
   * container's (/dev/tty is ENXIO, or its own pty with -t), and TIOCSTI, which needs the
   * controlling terminal, cannot type into the caller's shell through an inherited fd 0-2. */
  if (setsid() < 0) {
    guise_fail_errno(&err, "start the container's session");
    goto fail;
  }
  if (write_id_maps(a->host_uid, a->host_gid, &err) < 0) goto fail;
  if (spec->net == NET_NONE && net_loopback_up(&err) < 0) goto fail;
  if (spec->hostname != NULL && sethostname(spec->hostname, strlen(spec->hostname)) < 0 &&
      keep_outer_hostname((struct container_spec *)spec, &err) < 0)
    goto fail; /* the spec is this process's own copy (clone without CLONE_VM) */
  if (process_detach_stdin(spec, &err) < 0) goto fail;
  if (a->stdin_fd >= 0 && dup2(a->stdin_fd, STDIN_FILENO) < 0) {
    guise_fail_errno(&err, "attach the container's stdin");
    goto fail;
  }
  if (rootfs_setup(spec, &err) < 0)
    goto fail;
  if (spec->terminal) {
    if (pty_create(a->have_size ? &a->size : NULL, &master, &slave, &err) < 0 ||
        fd_send(a->sync_fd, master, &err) < 0)
      goto fail;
    close(master);
  }
  if (a->sync_fd >= 0)
    close(a->sync_fd);
  cap_t caps = process_make_capabilities(spec, &err); /* before the filter: see there */
  if (caps == NULL)
    goto fail;
  /* After the setup (which the filter must not see) and before anything of the image runs.
   * Init is filtered too, so the supervisor lives until the last process of the container. */
  if (a->fake_sock >= 0) {
    int r = fake_supervisor_attach(a->fake_sock, spec->fake_backend,
                                   rootfs_has_private_dev(spec), &err);
    if (r == FAKE_SUPERVISOR_GONE)
      _exit(125); /* quietly: guise reports the supervisor's own error */
    if (r < 0)
      goto fail;
    close(a->fake_sock);
  }
  /* The setup pipe stays for the command's own failures before exec (it is close-on-exec);
   * init drops it once the command has exec'd. */
  if (process_close_fds(slave, a->setup_err_fd, &err) < 0) goto fail;

  if (!spec->use_init)
    exec_command(a, slave, caps);

  /* vfork: until it execs, the command runs in init's memory while init waits.  That spares
   * copying init's page tables and the copy-on-write faults of both (~1.5 ms of every run on a
   * 2-CPU VM).  Everything exec_command changes is the command's own (signal mask and
   * dispositions, ids, capabilities, limits, cwd, fds), except environ, which init never reads;
   * it allocates nothing unless it fails, and then prints and _exits. */
  pid_t command = vfork();
  if (command < 0) {
    guise_fail_errno(&err, "fork the container's command");
    goto fail;
  }
  if (command == 0)
    exec_command(a, slave, caps);
  cap_free(caps);
  if (slave >= 0)
    close(slave);
  if (a->setup_err_fd >= 0)
    close(a->setup_err_fd); /* the command has exec'd (or failed and said so): vfork */
  prctl(PR_SET_NAME, "guise-init", 0, 0, 0);
  _exit(process_init_loop(command));

fail:
  setup_failed(a, err);
}

/* Read what the container's first process reported on its setup pipe (records: 'N' and a
 * notice bit; 'E', an errno and the message, last).  True when it reported an error, which then
 * replaces *err. */
static bool read_setup_reports(int fd, guise_error **err)
{
  char buf[8192];
  size_t len = 0;
  fcntl(fd, F_SETFL, O_NONBLOCK);
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  size_t i = 0;
  while (i + 1 + sizeof(int) <= len) {
    if (buf[i] == 'N') {
      unsigned bit;
      memcpy(&bit, buf + i + 1, sizeof(bit));
      sandbox_notice_shown(bit);
      i += 1 + sizeof(bit);
    } else if (buf[i] == 'E') {
      int errnum;
      memcpy(&errnum, buf + i + 1, sizeof(errnum));
      buf[len] = '\0';
      guise_error_release(err);
      guise_fail(err, 0, "%s", buf + i + 1 + sizeof(errnum));
      if (*err != NULL) (*err)->errnum = errnum;
      return true;
    } else {
      break;
    }
  }
  return false;
}

static pid_t clone_container(const struct container_spec *spec, guise_error **err)
{
  unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                        CLONE_NEWCGROUP;
  if (spec->net == NET_NONE)
    flags |= CLONE_NEWNET;
  /* Without CLONE_VM the raw clone behaves like fork, with the namespaces created. */
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0 && (errno == EINVAL || errno == EPERM)) {
    /* EINVAL: a kernel without cgroup namespaces.  EPERM: maybe a seccomp profile that allows
     * only some namespaces; the cgroup namespace is the one a container can do without (it
     * then sees the outer cgroup paths). */
    int first = errno;
    pid =
        (pid_t)syscall(SYS_clone, (flags & ~(unsigned long)CLONE_NEWCGROUP) | SIGCHLD, 0, 0, 0, 0);
    if (pid > 0 && first == EPERM)
      sandbox_notice(SANDBOX_NOTICE_CGROUPNS,
                     "a cgroup namespace is refused (%s): the container shares the outer one",
                     strerror(first));
    else if (pid < 0 && errno == EINVAL)
      errno = first;
  }
  if (pid < 0) return sandbox_namespaces_failed(errno, err);
  return pid;
}

/* Copy what the pty produced to stdout; false once the pty is closed on the container side. */
static bool pump(int from, int to)
{
  char buf[8192];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n <= 0)
    return n < 0 && (errno == EAGAIN || errno == EINTR);
  return write_all(to, buf, (size_t)n) >= 0;
}

static void sync_window_size(int master)
{
  struct winsize ws;
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
    ioctl(master, TIOCSWINSZ, &ws);
}

/* Send all of buf to the container's stdin socket; false once the container has closed it. */
static bool feed_stdin(int sock, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    buf += n;
    len -= (size_t)n;
  }
  return true;
}

/* Wait for the container, forwarding signals and (with a terminal) proxying its pty, or what is
 * typed on the caller's terminal to stdin_sock. */
static int supervise(const struct container_spec *spec, pid_t child, int sigfd, int master,
                     int stdin_sock, struct fake_supervisor *faker, int *exit_status,
                     guise_error **err)
{
  bool child_running = true, pty_open = master >= 0;
  bool stdin_open = (master >= 0 || stdin_sock >= 0) && spec->stdin_open;
  while (child_running || pty_open) {
    struct pollfd fds[3] = {
        {.fd = sigfd, .events = POLLIN},
        {.fd = pty_open ? master : -1, .events = POLLIN},
        {.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
    };
    /* Once the command is gone, drain what is left in the pty without blocking. */
    int timeout = child_running ? -1 : 0;
    int n = poll(fds, 3, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return guise_fail_errno(err, "wait for the container");
    }
    if (n == 0 && !child_running)
      break;
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
          /* Without its supervisor the container's faked calls would fail with ENOSYS: stop
           * it rather than let it go on with a half-faked view. */
          if (fake_supervisor_reap(faker, false, err) < 0)
            return guise_error_prefix(err, "container stopped");
          int wstatus;
          if (waitpid(child, &wstatus, WNOHANG) == child) {
            *exit_status = process_exit_status(wstatus);
            child_running = false;
          }
        } else if (si.ssi_signo == SIGWINCH && master >= 0) {
          sync_window_size(master); /* the kernel signals the container's foreground group */
        } else if (si.ssi_signo == SIGTSTP) {
          /* Ctrl-Z: the container stops with guise, as it did in guise's process group (with
           * SIGSTOP: the kernel discards SIGTSTP sent to its group, orphaned in its session). */
          if (kill(-child, SIGSTOP) < 0) kill(child, SIGSTOP);
          raise(SIGSTOP);
        } else if (si.ssi_signo == SIGCONT) {
          if (kill(-child, SIGCONT) < 0) /* all that SIGTSTP stopped */
            kill(child, SIGCONT);
        } else if (si.ssi_code != SI_KERNEL || kill(-child, (int)si.ssi_signo) < 0) {
          /* SI_KERNEL: the caller's terminal sent it (Ctrl-C) to guise's process group, where
           * the container no longer is: to the container's group then, as before its own
           * session, lest `sh -c 'sleep 20'` wait for sleep to end; anything else to PID 1. */
          kill(child, (int)si.ssi_signo);
        }
      }
    }
    if (pty_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
      pty_open = pump(master, STDOUT_FILENO);
    if (stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
      if (r <= 0) {
        stdin_open = false;
        if (r == 0 && master >= 0)
          write_all(master, "\x04", 1); /* end of input: EOF for a line-mode reader */
        else if (r == 0)
          shutdown(stdin_sock, SHUT_WR);
      } else if (master >= 0) {
        write_all(master, buf, (size_t)r);
      } else {
        stdin_open = feed_stdin(stdin_sock, buf, (size_t)r);
      }
    }
  }
  return 0;
}

int container_run(const struct container_spec *spec, int *exit_status, guise_error **err)
{
  if (spec->isolation == ISOLATION_NONE) {
    isolation_none_notice(NULL);
    return isolation_none_run(spec, exit_status, err);
  }
  struct stat st;
  if (stat(spec->rootfs, &st) < 0)
    return guise_fail_errno(err, "rootfs %s", spec->rootfs);
  if (!S_ISDIR(st.st_mode))
    return guise_fail(err, ENOTDIR, "rootfs %s", spec->rootfs);
  if (spec->argv == NULL || spec->argv[0] == NULL)
    return guise_fail(err, 0, "no command to run");

  struct child_args args = {
      .spec = spec,
      .sync_fd = -1,
      .fake_sock = -1,
      .stdin_fd = -1,
      .setup_err_fd = -1,
  };
  /* The kernel's ids, not a faked view: an outer guise run -u 1000 answers geteuid() with
   * 1000 while the kernel checks the map against the real one. */
  kernel_ids(true, &args.host_uid, &args.host_gid);
  _cleanup_close_ int parent_sock = -1, stdin_sock = -1, stdin_child = -1;
  /* -i on a terminal, without -t: the container, in a session of its own, would read the terminal
   * unchecked by its job control (in the background, or after Ctrl-Z stopped guise) what is typed
   * to the caller's shell.  guise reads it for the container instead, as docker does, and is
   * stopped (SIGTTIN) when it reads in the background. */
  if (spec->stdin_open && !spec->terminal && isatty(STDIN_FILENO)) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
      return guise_fail_errno(err, "create a socket pair for the container's stdin");
    stdin_sock = pair[0];
    stdin_child = args.stdin_fd = pair[1];
  }
  if (spec->terminal) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
      return guise_fail_errno(err, "create a socket pair for the terminal");
    parent_sock = pair[0];
    args.sync_fd = pair[1];
    args.have_size = ioctl(STDIN_FILENO, TIOCGWINSZ, &args.size) == 0 ||
                     ioctl(STDOUT_FILENO, TIOCGWINSZ, &args.size) == 0;
  }

  /* Block the signals we forward before the child exists, so none is lost in between; the
   * container's processes restore the original mask. */
  sigset_t mask;
  process_forwarded_signals(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTSTP);
  if (sigprocmask(SIG_BLOCK, &mask, &args.parent_mask) < 0)
    return guise_fail_errno(err, "block signals");
  _cleanup_close_ int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sigfd < 0) {
    int saved = errno;
    sigprocmask(SIG_SETMASK, &args.parent_mask, NULL);
    return guise_fail(err, saved, "create a signalfd");
  }

  /* Started first, so that it inherits the blocked signals. */
  struct fake_supervisor faker = FAKE_SUPERVISOR_NONE;
  if (spec->fake_db != NULL) {
    if (fake_supervisor_start(&faker, spec->fake_db, spec->rootfs, err) < 0) {
      if (args.sync_fd >= 0)
        close(args.sync_fd);
      sigprocmask(SIG_SETMASK, &args.parent_mask, NULL);
      return -1;
    }
    args.fake_sock = faker.container_sock;
  }

  _cleanup_close_ int setup_err = -1;
  {
    int pair[2];
    if (pipe2(pair, O_CLOEXEC) < 0) {
      int saved = errno;
      if (args.sync_fd >= 0) close(args.sync_fd);
      fake_supervisor_close_container_end(&faker);
      fake_supervisor_reap(&faker, true, NULL);
      fake_supervisor_release_listener(&faker);
      sigprocmask(SIG_SETMASK, &args.parent_mask, NULL);
      return guise_fail(err, saved, "create a pipe for the container's setup errors");
    }
    setup_err = pair[0];
    args.setup_err_fd = pair[1];
  }
  pid_t child = clone_container(spec, err);
  if (child == 0) child_main(&args);
  close(args.setup_err_fd);
  fake_supervisor_close_container_end(&faker);
  if (child < 0) {
    if (args.sync_fd >= 0)
      close(args.sync_fd);
    fake_supervisor_reap(&faker, true, NULL);
    fake_supervisor_release_listener(&faker);
    sigprocmask(SIG_SETMASK, &args.parent_mask, NULL);
    if (spec->isolation == ISOLATION_AUTO && isolation_none_fallback((*err)->errnum)) {
      /* Found out by trying: no user namespace here.  The tracer shows the rootfs instead. */
      /* sandbox_namespaces_failed said the cause and the fix for full isolation. */
      _cleanup_free_ char *why = NULL;
      if (asprintf(&why, "cannot create a user namespace (%s): %s", strerror((*err)->errnum),
                   (*err)->msg) < 0)
        why = NULL;
      isolation_none_notice(why);
      guise_error_release(err);
      return isolation_none_run(spec, exit_status, err);
    }
    return -1;
  }
  if (args.sync_fd >= 0)
    close(args.sync_fd);
  if (stdin_child >= 0)
    close(stdin_child); /* the container's own: it sees EOF when stdin_sock shuts down */
  stdin_child = -1;

  _cleanup_close_ int master = -1;
  struct raw_terminal raw = {0};
  if (spec->terminal) {
    /* If setup fails the child closes the socket without sending; it has printed why. */
    if (fd_receive(parent_sock, &master, NULL) == 0) {
      fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
      if (spec->stdin_open)
        raw_terminal_enter(&raw, STDIN_FILENO);
    }
  }
  *exit_status = 125;
  int rc = supervise(spec, child, sigfd, master, stdin_sock, &faker, exit_status, err);
  raw_terminal_leave(&raw);
  bool setup_error = false, reaped = rc == 0;
  /* The container's first process (or its command, before exec) said which notices it showed,
   * and why it gave up if it did; then the supervisor, which only saw the container go, would
   * add a second, misleading error. */
  if (read_setup_reports(setup_err, err)) {
    setup_error = true;
    rc = -1;
  }
  if (setup_error) {
    if (!reaped) waitpid(child, NULL, 0); /* it is exiting: it wrote its last words */
    fake_supervisor_reap(&faker, true, NULL);
  } else if (rc < 0) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    fake_supervisor_reap(&faker, true, NULL);
  } else if (fake_supervisor_reap(&faker, true, err) < 0) {
    /* A container that could not even be set up has said why; the supervisor only saw it go. */
    if (*exit_status == 125 && faker.opened_db) {
      guise_error_release(err);
    } else {
      rc = guise_error_prefix(err, "the container's faked state is incomplete");
    }
  }
  fake_supervisor_release_listener(&faker); /* the container is gone */
  sigprocmask(SIG_SETMASK, &args.parent_mask, NULL);
  return rc;
}
