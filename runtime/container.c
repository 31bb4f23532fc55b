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
#include "runtime/net.h"
#include "runtime/process.h"
#include "runtime/pty.h"
#include "runtime/rootfs.h"
#include "util/cleanup.h"
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
};

static int write_id_maps(uid_t uid, gid_t gid, guise_error **err)
{
  char map[64];
  /* An unprivileged process may map exactly its own ids, and only once setgroups is denied. */
  if (write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny", err) < 0)
    return -1;
  snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
  if (write_file_at(AT_FDCWD, "/proc/self/uid_map", map, err) < 0)
    return guise_error_prefix(err, "map uid %u to root in the user namespace", (unsigned)uid);
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
fail:
  guise_error_print(err);
  _exit(status);
}

static __attribute__((noreturn)) void child_main(const struct child_args *a)
{
  _cleanup_error_ guise_error *err = NULL;
  const struct container_spec *spec = a->spec;
  int master = -1, slave = -1;

  /* Whatever happens to guise, the container goes with it. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
    guise_fail_errno(&err, "set the parent-death signal");
    goto fail;
  }
  if (write_id_maps(a->host_uid, a->host_gid, &err) < 0)
    goto fail;
  if (spec->net == NET_NONE && net_loopback_up(&err) < 0)
    goto fail;
  if (spec->hostname != NULL && sethostname(spec->hostname, strlen(spec->hostname)) < 0) {
    guise_fail_errno(&err, "set hostname %s", spec->hostname);
    goto fail;
  }
  if (!spec->stdin_open && !spec->terminal) {
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0) {
      guise_fail_errno(&err, "redirect stdin from /dev/null");
      goto fail;
    }
    close(null);
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
  prctl(PR_SET_NAME, "guise-init", 0, 0, 0);
  _exit(process_init_loop(command));

fail:
  guise_error_print(err);
  _exit(125);
}

static pid_t clone_container(const struct container_spec *spec, guise_error **err)
{
  unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
                        CLONE_NEWCGROUP;
  if (spec->net == NET_NONE)
    flags |= CLONE_NEWNET;
  /* Without CLONE_VM the raw clone behaves like fork, with the namespaces created. */
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0 && errno == EINVAL) /* a kernel without cgroup namespaces */
    pid = (pid_t)syscall(SYS_clone, (flags & ~(unsigned long)CLONE_NEWCGROUP) | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) {
    if (errno == EPERM || errno == ENOSPC || errno == EUSERS)
      return guise_fail_errno(err, "create the container's namespaces (are unprivileged user "
                                   "namespaces allowed? see /proc/sys/user/max_user_namespaces)");
    return guise_fail_errno(err, "create the container's namespaces");
  }
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

/* Wait for the container, forwarding signals and (with a terminal) proxying its pty. */
static int supervise(const struct container_spec *spec, pid_t child, int sigfd, int master,
                     struct fake_supervisor *faker, int *exit_status, guise_error **err)
{
  bool child_running = true, pty_open = master >= 0;
  bool stdin_open = master >= 0 && spec->stdin_open;
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
        } else {
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
        if (r == 0)
          write_all(master, "\x04", 1); /* end of input: EOF for a line-mode reader */
      } else {
        write_all(master, buf, (size_t)r);
      }
    }
  }
  return 0;
}

int container_run(const struct container_spec *spec, int *exit_status, guise_error **err)
{
  struct stat st;
  if (stat(spec->rootfs, &st) < 0)
    return guise_fail_errno(err, "rootfs %s", spec->rootfs);
  if (!S_ISDIR(st.st_mode))
    return guise_fail(err, ENOTDIR, "rootfs %s", spec->rootfs);
  if (spec->argv == NULL || spec->argv[0] == NULL)
    return guise_fail(err, 0, "no command to run");

  struct child_args args = {
      .spec = spec,
      .host_uid = geteuid(),
      .host_gid = getegid(),
      .sync_fd = -1,
      .fake_sock = -1,
  };
  _cleanup_close_ int parent_sock = -1;
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

  pid_t child = clone_container(spec, err);
  if (child == 0)
    child_main(&args);
  fake_supervisor_close_container_end(&faker);
  if (child < 0) {
    if (args.sync_fd >= 0)
      close(args.sync_fd);
    fake_supervisor_reap(&faker, true, NULL);
    fake_supervisor_release_listener(&faker);
    sigprocmask(SIG_SETMASK, &args.parent_mask, NULL);
    return -1;
  }
  if (args.sync_fd >= 0)
    close(args.sync_fd);

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
  int rc = supervise(spec, child, sigfd, master, &faker, exit_status, err);
  raw_terminal_leave(&raw);
  if (rc < 0) {
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
