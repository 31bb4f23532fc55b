/* fakeprobe: exercises credential calls the way apt's sandbox does and prints what it sees,
 * for tests of `guise fake` and of containers.  Static, libc only.
 *
 *   fakeprobe            print ids, then the apt sequence and the ids after it
 *   fakeprobe ids        print "uid=R,E,S gid=R,E,S groups=N:g1,g2 caps=EFF/PERM" only
 *   fakeprobe --bench N  time N getuid, N stat and N fchownat(self) calls, print us/call */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void print_ids(const char *label)
{
  uid_t r, e, s;
  gid_t rg, eg, sg;
  getresuid(&r, &e, &s);
  getresgid(&rg, &eg, &sg);
  gid_t groups[64];
  int n = getgroups(64, groups);
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2] = {{0}};
  long cr = syscall(SYS_capget, &h, d);
  printf("%s uid=%u,%u,%u gid=%u,%u,%u getuid=%u geteuid=%u getgid=%u getegid=%u groups=%d:",
         label, r, e, s, rg, eg, sg, getuid(), geteuid(), getgid(), getegid(), n);
  for (int i = 0; i < n; i++)
    printf("%s%u", i ? "," : "", groups[i]);
  if (cr == 0)
    printf(" caps=%08x%08x/%08x%08x\n", d[1].effective, d[0].effective, d[1].permitted,
           d[0].permitted);
  else
    printf(" caps=error:%s\n", strerror(errno));
}

static int check(const char *what, long r)
{
  printf("%s -> %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
  return r < 0;
}

/* Raw syscalls: glibc's wrappers would broadcast to threads; we have one. */
static int apt_sequence(void)
{
  int bad = 0;
  gid_t g = 65534;
  uid_t u = 42;
  bad |= check("setgroups(1,{65534})", syscall(SYS_setgroups, 1, &g));
  bad |= check("setresgid(65534,65534,65534)", syscall(SYS_setresgid, g, g, g));
  bad |= check("setresuid(42,42,42)", syscall(SYS_setresuid, u, u, u));
  print_ids("dropped");
  uid_t r, e, s;
  gid_t rg, eg, sg;
  getresuid(&r, &e, &s);
  getresgid(&rg, &eg, &sg);
  if (getuid() != u || geteuid() != u || r != u || e != u || s != u || getgid() != g ||
      getegid() != g || rg != g || eg != g || sg != g) {
    printf("verify: FAILED\n");
    bad = 1;
  } else
    printf("verify: ok\n");
  /* Regaining must fail now (apt's Verify::Regain). */
  long rr = syscall(SYS_setuid, 0);
  printf("setuid(0) after drop -> %ld %s\n", rr, rr < 0 ? strerror(errno) : "(should fail)");
  if (rr == 0)
    bad = 1;
  return bad;
}

static double now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int bench(long n)
{
  volatile long sink = 0;
  double t0 = now_us();
  for (long i = 0; i < n; i++)
    sink += syscall(SYS_getuid);
  double t1 = now_us();
  struct stat st;
  for (long i = 0; i < n; i++)
    sink += stat("/etc/passwd", &st);
  double t2 = now_us();
  char tmpl[] = "/tmp/fakeprobe.XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) {
    perror("mkstemp");
    return 1;
  }
  double t3 = now_us();
  for (long i = 0; i < n; i++)
    sink += fchownat(AT_FDCWD, tmpl, 0, 0, 0);
  double t4 = now_us();
  for (long i = 0; i < n; i++)
    sink += fstatat(AT_FDCWD, tmpl, &st, 0);
  double t5 = now_us();
  unlink(tmpl);
  close(fd);
  printf("getuid %.2f us/call\nstat %.2f us/call\nchown %.2f us/call\nfstatat %.2f us/call\n",
         (t1 - t0) / n, (t2 - t1) / n, (t4 - t3) / n, (t5 - t4) / n);
  return 0;
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "--bench") == 0)
    return bench(argc > 2 ? atol(argv[2]) : 100000);
  print_ids("initial");
  if (argc > 1 && strcmp(argv[1], "ids") == 0)
    return 0;
  return apt_sequence();
}
