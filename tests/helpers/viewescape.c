/* viewescape: calls that the path translation of --isolation=none does not translate, which
 * must fail with ENOSYS rather than reach the host path PATH.  Static, libc only.
 *
 *   viewescape PATH   prints "NAME RESULT" (RESULT: the raw return value, -errno on failure)
 *                     for file_getattr (468, newer than guise's list) of PATH, and on x86_64
 *                     for an i386 execve (int $0x80) and an x32 execve of PATH; an exec that
 *                     works runs PATH instead.  "exec32 skip" where there is no i386 entry. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_GETATTR 468 /* 6.17 */

#if defined(__x86_64__)
#define I386_EXECVE 11
#define I386_GETPID 20
#define X32_EXECVE (0x40000000L | 520)

static long int80(long nr, long a, long b, long c)
{
  long ret;
  /* The kernel clears r8-r11 on the way back from a 32-bit call. */
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c)
                   : "memory", "r8", "r9", "r10", "r11", "cc");
  return ret;
}

/* Whether int $0x80 works at all: it faults where ia32 emulation is off. */
static int have_int80(void)
{
  pid_t pid = fork();
  if (pid == 0) {
    (void)int80(I386_GETPID, 0, 0, 0);
    _exit(0);
  }
  int status;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}
#endif

int main(int argc, char **argv)
{
  if (argc != 2 || strlen(argv[1]) >= 2048) {
    fprintf(stderr, "usage: viewescape PATH\n");
    return 2;
  }
  char attr[64] = {0};
  long r = syscall(FILE_GETATTR, AT_FDCWD, argv[1], attr, 24, 0);
  printf("file_getattr %ld\n", r < 0 ? -(long)errno : r);
#if defined(__x86_64__)
  fflush(stdout);
  /* 32-bit calls take 32-bit pointers: the path and argv live below 4 GiB. */
  char *low =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (low == MAP_FAILED) {
    perror("viewescape: mmap(MAP_32BIT)");
    return 1;
  }
  strcpy(low, argv[1]);
  uint32_t *av = (uint32_t *)(low + 2048);
  av[0] = (uint32_t)(uintptr_t)low;
  av[1] = 0;
  if (have_int80())
    printf("exec32 %ld\n", int80(I386_EXECVE, (long)(uintptr_t)low, (long)(uintptr_t)av, 0));
  else
    printf("exec32 skip\n");
  fflush(stdout);
  r = syscall(X32_EXECVE, low, av, 0);
  printf("x32-exec %ld\n", r < 0 ? -(long)errno : r);
#endif
  return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}
