/* A terminal for the container: the pty comes from the container's own devpts instance (so
 * /dev/pts/N inside names it) and its master is handed to guise, which proxies it. */
#ifndef GUISE_RUNTIME_PTY_H
#define GUISE_RUNTIME_PTY_H

#include <stdbool.h>
#include <sys/ioctl.h>

#include "util/error.h"

/* Inside the container, after pivot_root: open a pty, size it, bind its slave on /dev/console. */
int pty_create(const struct winsize *size, int *master, int *slave, guise_error **err);

/* Make slave the controlling terminal and stdin/stdout/stderr of the calling process. */
int pty_become_controlling(int slave, guise_error **err);

/* Pass an fd over a unix socket (SCM_RIGHTS), and receive it. */
int fd_send(int sock, int fd, guise_error **err);
int fd_receive(int sock, int *fd, guise_error **err);

/* The caller's terminal in raw mode for the duration of a session. */
struct raw_terminal {
  bool active;
  int fd;
  char saved[64]; /* struct termios, opaque here */
};
int raw_terminal_enter(struct raw_terminal *t, int fd);
void raw_terminal_leave(struct raw_terminal *t);

#endif
