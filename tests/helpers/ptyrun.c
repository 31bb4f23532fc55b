/* ptyrun COMMAND [ARG...]: run COMMAND in a new session whose controlling terminal is a fresh
 * pty, as a user's shell runs in a terminal emulator, and copy what the terminal shows to
 * stdout.  Exits with COMMAND's status (128+N for a signal).
 *
 * Unlike script(1) this neither reads stdin nor waits for it to close: tests run it with stdin
 * on /dev/null, and anything the terminal's input queue receives comes from COMMAND's side
 * only (e.g. a TIOCSTI). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Copy what the pty has to stdout; 0 once it has nothing more (EOF, EIO: no slave left). */
static int drain(int master, int timeout_ms)
{
  struct pollfd p = {.fd = master, .events = POLLIN};
  if (poll(&p, 1, timeout_ms) <= 0) return 0;
  char buf[4096];
  ssize_t n = read(master, buf, sizeof(buf));
  if (n <= 0) return 0;
  return write(STDOUT_FILENO, buf, (size_t)n) == n;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: ptyrun COMMAND [ARG...]\n");
    return 2;
  }
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
    perror("ptyrun: open a pty");
    return 2;
  }
  const char *name = ptsname(master);
  pid_t pid = fork();
  if (pid < 0) {
    perror("ptyrun: fork");
    return 2;
  }
  if (pid == 0) {
    int slave = -1;
    if (setsid() < 0 || (slave = open(name, O_RDWR)) < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 ||
        dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) {
      perror("ptyrun: set up the terminal");
      _exit(2);
    }
    if (slave > 2) close(slave);
    execvp(argv[1], argv + 1);
    perror("ptyrun: exec");
    _exit(127);
  }
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      perror("ptyrun: waitpid");
      return 2;
    }
    if (!drain(master, 50)) /* a full pty would block COMMAND's writes */
      usleep(10 * 1000);    /* no slave open (EIO, POLLHUP at once): do not spin */
  }
  /* What is left, without waiting for processes COMMAND left holding the terminal. */
  while (drain(master, 0))
    ;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
