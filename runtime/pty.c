#include "runtime/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "runtime/mounts.h"
#include "util/fdpass.h"
#include "util/cleanup.h"

_Static_assert(sizeof(struct termios) <= sizeof(((struct raw_terminal *)0)->saved),
               "raw_terminal.saved too small");

int pty_create(const struct winsize *size, int *master_out, int *slave_out, guise_error **err)
{
  _cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0)
    return guise_fail_errno(err, "open /dev/ptmx in the container");
  if (unlockpt(master) < 0)
    return guise_fail_errno(err, "unlock the container's pty");
  _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0)
    return guise_fail_errno(err, "open the container's pty slave");
  if (size != NULL && ioctl(master, TIOCSWINSZ, size) < 0)
    return guise_fail_errno(err, "set the container's terminal size");
  /* /dev/console is the terminal, as runc does it */
  _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root >= 0) {
    _cleanup_close_ int console = rootfs_open_path(root, "/dev/console", MOUNTPOINT_FILE, NULL);
    if (console >= 0)
      mount_bind_at(slave, "", console, 0, false, "/dev/console", NULL);
  }
  *master_out = steal_fd(&master);
  *slave_out = steal_fd(&slave);
  return 0;
}

int pty_become_controlling(int slave, guise_error **err)
{
  /* The container's first process leads its session already; a command under init does not. */
  if (getsid(0) != getpid() && setsid() < 0)
    return guise_fail_errno(err, "start a session for the terminal");
  if (ioctl(slave, TIOCSCTTY, 0) < 0)
    return guise_fail_errno(err, "make the pty the controlling terminal");
  for (int fd = 0; fd <= 2; fd++)
    if (dup2(slave, fd) < 0)
      return guise_fail_errno(err, "attach the pty to fd %d", fd);
  if (slave > 2)
    close(slave);
  return 0;
}

int fd_send(int sock, int fd, guise_error **err)
{
  char byte = 'F';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  if (fdpass_send(sock, &iov, 1, &fd, 1, 0) < 0)
    return guise_fail_errno(err, "pass a file descriptor");
  return 0;
}

int fd_receive(int sock, int *fd, guise_error **err)
{
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  ssize_t n = fdpass_recv(sock, &iov, 1, fd, 1, NULL, 0);
  if (n < 0) return guise_fail_errno(err, "receive a file descriptor");
  if (n == 0 || *fd < 0)
    return guise_fail(err, 0, "receive a file descriptor: the peer closed the connection");
  return 0;
}

int raw_terminal_enter(struct raw_terminal *t, int fd)
{
  struct termios saved, raw;
  t->active = false;
  if (!isatty(fd) || tcgetattr(fd, &saved) < 0)
    return 0; /* not a terminal: nothing to switch */
  raw = saved;
  cfmakeraw(&raw);
  if (tcsetattr(fd, TCSANOW, &raw) < 0)
    return -1;
  memcpy(t->saved, &saved, sizeof(saved));
  t->fd = fd;
  t->active = true;
  return 0;
}

void raw_terminal_leave(struct raw_terminal *t)
{
  if (!t->active)
    return;
  struct termios saved;
  memcpy(&saved, t->saved, sizeof(saved));
  tcsetattr(t->fd, TCSANOW, &saved);
  t->active = false;
}
