/* fakeprobe: exercises credential calls the way apt's sandbox does and prints what it sees,
 * for tests of `guise fake` and of containers.  Static, libc only.
 *
 *   fakeprobe            print ids, then the apt sequence and the ids after it
 *   fakeprobe ids        print "uid=R,E,S gid=R,E,S groups=N:g1,g2 caps=EFF/PERM" only
 *   fakeprobe threads N  start N threads, drop to 42:65534 with glibc's wrappers (which make
 *                        every thread repeat the call, through a signal) and print the ids
 *                        each thread sees then
 *   fakeprobe files DIR  in DIR: chown, mknod, lchown, a file created by a faked non-root
 *                        user with mode 0 (dpkg's way) and written; print what stat says
 *   fakeprobe --bench N  time N getuid, N stat and N fchownat(self) calls, print us/call */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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

static pthread_barrier_t started, dropped, reported;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void *thread_main(void *arg)
{
  pthread_barrier_wait(&started);
  pthread_barrier_wait(&dropped);
  uid_t r, e, s;
  gid_t rg, eg, sg;
  syscall(SYS_getresuid, &r, &e, &s);
  syscall(SYS_getresgid, &rg, &eg, &sg);
  pthread_mutex_lock(&print_lock);
  printf("thread %ld uid=%u,%u,%u gid=%u,%u,%u\n", (long)(intptr_t)arg, r, e, s, rg, eg, sg);
  pthread_mutex_unlock(&print_lock);
  pthread_barrier_wait(&reported);
  return NULL;
}

static int threads(int n)
{
  if (n < 1 || n > 64) return 2;
  pthread_t t[64];
  pthread_barrier_init(&started, NULL, (unsigned)n + 1);
  pthread_barrier_init(&dropped, NULL, (unsigned)n + 1);
  pthread_barrier_init(&reported, NULL, (unsigned)n + 1);
  for (int i = 0; i < n; i++)
    pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i);
  pthread_barrier_wait(&started);
  gid_t g = 65534;
  int bad = 0;
  /* The glibc wrappers: every thread makes the call too (SIGSETXID) and glibc aborts if one
   * of them gets a different result. */
  bad |= check("setgroups(1,{65534})", setgroups(1, &g));
  bad |= check("setresgid(65534,65534,65534)", setresgid(g, g, g));
  bad |= check("setresuid(42,42,42)", setresuid(42, 42, 42));
  pthread_barrier_wait(&dropped);
  pthread_barrier_wait(&reported);
  for (int i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  return bad;
}

static void print_stat(const char *name, bool follow)
{
  struct stat st;
  if ((follow ? stat(name, &st) : lstat(name, &st)) < 0) {
    printf("%s: %s\n", name, strerror(errno));
    return;
  }
  const char *type = S_ISREG(st.st_mode)   ? "file"
                     : S_ISLNK(st.st_mode) ? "symlink"
                     : S_ISCHR(st.st_mode) ? "char"
                     : S_ISBLK(st.st_mode) ? "block"
                                           : "other";
  printf("%s %s %u:%u %04o %u:%u\n", name, type, st.st_uid, st.st_gid, st.st_mode & 07777,
         major(st.st_rdev), minor(st.st_rdev));
}

static int files(const char *dir)
{
  int bad = 0;
  if (chdir(dir) < 0) {
    perror(dir);
    return 1;
  }
  umask(022);
  int fd = open("f", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  bad |= check("create f", fd);
  close(fd);
  bad |= check("chown(f,12,34)", syscall(SYS_fchownat, AT_FDCWD, "f", 12, 34, 0));
  bad |= check("mknod(sda,block 8:0)",
               syscall(SYS_mknodat, AT_FDCWD, "sda", S_IFBLK | 0660, makedev(8, 0)));
  bad |= check("mknod(null,char 1:3)",
               syscall(SYS_mknodat, AT_FDCWD, "null", S_IFCHR | 0666, makedev(1, 3)));
  bad |= check("symlink(f,l)", symlink("f", "l"));
  bad |= check("lchown(l,7,7)", fchownat(AT_FDCWD, "l", 7, 7, AT_SYMLINK_NOFOLLOW));
  /* A file created with mode 0 by a (faked) non-root user, then written through the
   * descriptor: it must be owned by that user and writable all the same. */
  bad |= check("setresgid(0,65534,0)", syscall(SYS_setresgid, 0, 65534, 0));
  bad |= check("setresuid(0,100,0)", syscall(SYS_setresuid, 0, 100, 0));
  fd = open("mode0", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
  bad |= check("create mode0 as 100", fd);
  if (fd >= 0) {
    bad |= check("write mode0", write(fd, "x", 1));
    close(fd);
  }
  bad |= check("setresuid(0,0,0)", syscall(SYS_setresuid, 0, 0, 0));
  bad |= check("setresgid(0,0,0)", syscall(SYS_setresgid, 0, 0, 0));
  print_stat("f", true);
  print_stat("sda", true);
  print_stat("null", true);
  print_stat("l", false);
  print_stat("mode0", true);
  return bad;
}

int main(int argc, char **argv)
{
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc > 1 && strcmp(argv[1], "--bench") == 0)
    return bench(argc > 2 ? atol(argv[2]) : 100000);
  if (argc > 2 && strcmp(argv[1], "files") == 0) return files(argv[2]);
  if (argc > 2 && strcmp(argv[1], "threads") == 0) return threads(atoi(argv[2]));
  print_ids("initial");
  if (argc > 1 && strcmp(argv[1], "ids") == 0)
    return 0;
  return apt_sequence();
}
