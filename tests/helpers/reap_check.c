/* reap_check: make an orphan and tell whether PID 1 reaps it.
 *
 * Forks a child that forks a grandchild and exits at once, so the grandchild is re-parented
 * to PID 1 of the pid namespace.  The grandchild exits after 100 ms.  Then this polls
 * /proc/<grandchild>/stat for up to 3 s: prints "reaped" and exits 0 when it disappears,
 * or "zombie <pid>" and exits 1 if it is still there in state Z. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The state letter of /proc/PID/stat, 0 if the process is gone. */
static char proc_state(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *paren = strrchr(buf, ')'); /* comm may contain spaces and parentheses */
  if (paren == NULL || paren[1] == '\0' || paren[2] == '\0')
    return '?';
  return paren[2];
}

int main(void)
{
  int fds[2];
  if (pipe(fds) < 0) {
    perror("reap_check: pipe");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("reap_check: fork");
    return 2;
  }
  if (child == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      struct timespec t = {0, 100 * 1000 * 1000};
      nanosleep(&t, NULL);
      _exit(0);
    }
    if (write(fds[1], &grandchild, sizeof(grandchild)) != sizeof(grandchild))
      _exit(2);
    _exit(0);
  }
  pid_t grandchild = -1;
  if (read(fds[0], &grandchild, sizeof(grandchild)) != sizeof(grandchild) || grandchild <= 0) {
    fprintf(stderr, "reap_check: no grandchild\n");
    return 2;
  }
  waitpid(child, NULL, 0);
  char state = 0;
  for (int i = 0; i < 300; i++) {
    state = proc_state(grandchild);
    if (state == 0) {
      printf("reaped\n");
      return 0;
    }
    struct timespec t = {0, 10 * 1000 * 1000};
    nanosleep(&t, NULL);
  }
  printf("%s %d\n", state == 'Z' ? "zombie" : "still-running", (int)grandchild);
  return 1;
}
