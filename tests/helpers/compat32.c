/* compat32: makes faked system calls through the 32-bit entry points of an x86_64 kernel
 * (`int $0x80`, the i386 ABI) and the x32 ABI (numbers with __X32_SYSCALL_BIT), which the
 * faking filter must not let through unfaked.  Static, libc only, x86_64 only.
 *
 *   compat32 FILE   for each call print "NAME RESULT" (RESULT: the raw return value, -errno on
 *                   failure); the calls act on FILE (chown32 to 123:456, mknod next to it,
 *                   setxattr security.capability, chroot to its directory — last); and
 *                   "getpid ok", "open ok" where calls that are not faked still work.
 * Exit status 77 (and a "skip: ..." line) where the kernel has no i386 entry point
 * (ia32_emulation=0, or not x86_64). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)

/* i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl). */
#define I386_OPEN 5
#define I386_CLOSE 6
#define I386_GETPID 20
#define I386_MKNOD 14
#define I386_CHROOT 61
#define I386_GETUID32 199
#define I386_CHOWN32 212
#define I386_SETXATTR 226
#define X32_BIT 0x40000000L

static long int80(long nr, long a, long b, long c, long d, long e)
{
  long ret;
  /* The kernel clears r8-r11 on the way back from a 32-bit call. */
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
                   : "memory", "r8", "r9", "r10", "r11", "cc");
  return ret;
}

static long x32(long nr, long a, long b, long c)
{
  long r = syscall(X32_BIT | nr, a, b, c);
  return r < 0 ? -errno : r;
}

/* Whether int $0x80 works at all: it faults where ia32 emulation is off.  (What it returns
 * does not matter: the filter under test may refuse even getpid.) */
static int have_int80(void)
{
  pid_t pid = fork();
  if (pid == 0) {
    (void)int80(I386_GETPID, 0, 0, 0, 0, 0);
    _exit(0);
  }
  int status;
  return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: compat32 FILE\n");
    return 2;
  }
  if (!have_int80()) {
    printf("skip: no i386 system call entry (int $0x80) on this kernel\n");
    return 77;
  }
  /* 32-bit calls take 32-bit pointers: the strings live below 4 GiB. */
  char *low =
      mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (low == MAP_FAILED) {
    perror("compat32: mmap(MAP_32BIT)");
    return 1;
  }
  size_t len = strlen(argv[1]);
  if (len + 16 > 1024) {
    fprintf(stderr, "compat32: path too long\n");
    return 2;
  }
  char *path = low, *node = low + 1024, *dir = low + 2048, *name = low + 3072;
  memcpy(path, argv[1], len + 1);
  snprintf(node, 1024, "%s.node", argv[1]);
  memcpy(dir, argv[1], len + 1);
  char *slash = strrchr(dir, '/');
  if (slash == NULL)
    strcpy(dir, ".");
  else
    slash[slash == dir ? 1 : 0] = '\0';
  strcpy(name, "security.capability");
  static const unsigned char cap_v2[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};
  unsigned char *value = (unsigned char *)name + 64;
  memcpy(value, cap_v2, sizeof(cap_v2));
  long p = (long)(uintptr_t)path;

  long fd = int80(I386_OPEN, p, O_RDONLY, 0, 0, 0);
  printf("open %s\n", fd >= 0 ? "ok" : "failed");
  if (fd >= 0) int80(I386_CLOSE, fd, 0, 0, 0, 0);
  printf("getpid %s\n", int80(I386_GETPID, 0, 0, 0, 0, 0) > 0 ? "ok" : "failed");
  printf("open-creat %ld\n",
         int80(I386_OPEN, (long)(uintptr_t)node, O_CREAT | O_WRONLY, 0600, 0, 0));
  printf("getuid32 %ld\n", int80(I386_GETUID32, 0, 0, 0, 0, 0));
  printf("chown32 %ld\n", int80(I386_CHOWN32, p, 123, 456, 0, 0));
  printf("mknod %ld\n", int80(I386_MKNOD, (long)(uintptr_t)node, S_IFCHR | 0600, 0x0103, 0, 0));
  printf("setxattr %ld\n",
         int80(I386_SETXATTR, p, (long)(uintptr_t)name, (long)(uintptr_t)value, sizeof(cap_v2), 0));
  printf("x32-getuid %ld\n", x32(SYS_getuid, 0, 0, 0));
  printf("x32-chown %ld\n", x32(SYS_chown, p, 123, 456));
  printf("chroot %ld\n", int80(I386_CHROOT, (long)(uintptr_t)dir, 0, 0, 0, 0));
  return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}

#else

int main(void)
{
  printf("skip: the i386 and x32 entry points exist only on x86_64\n");
  return 77;
}

#endif
