/* fakehostile: a tracee that tries to make the syscall-faking supervisor act wrongly, for
 * tests/integration/test_fake_hostile.sh.  Static, libc only.  Every check prints one line;
 * "skip: ..." and exit status 77 where the machine cannot set the scene.
 *
 *   fakehostile rowrite FILE    faked calls whose results go to a read-only page must fail
 *                               with EFAULT and leave it alone, as the kernel's own do:
 *                               prints "CALL errno=NAME page=intact|changed" for stat, statx,
 *                               fstat, getresuid and getgroups (FILE gets the faked owner
 *                               12:34 first, so that the supervisor answers its stats)
 *   fakehostile tidreuse FILE   a thread makes a faked stat and exits; a new process is then
 *                               given its thread id (through /proc/sys/kernel/ns_last_pid, so
 *                               this must run as root of the supervisor's pid namespace) and
 *                               makes the same stat: it must get the answer, not the first
 *                               process; and an fstat of a descriptor number that names FILE
 *                               in the first process and FILE.b (faked owner 56:78) in the new
 *                               one must see FILE.b.  Prints "tid reused after N tries",
 *                               "child stat R uid=U gid=G", "child fstat R uid=U gid=G" and
 *                               "parent memory intact|overwritten".
 *   fakehostile callers N FILE  N threads make faked stats of FILE (and sleep 20 ms between
 *                               them) until it exists; prints "callers done". */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errno_name(int e)
{
  switch (e) {
  case 0:
    return "0";
  case EFAULT:
    return "EFAULT";
  case EINVAL:
    return "EINVAL";
  case EPERM:
    return "EPERM";
  case ENOSYS:
    return "ENOSYS";
  default:
    return strerror(e);
  }
}

static int rowrite(const char *file)
{
  if (chown(file, 12, 34) < 0) {
    perror("fakehostile: chown");
    return 1;
  }
  gid_t groups[2] = {4, 27};
  if (setgroups(2, groups) < 0) {
    perror("fakehostile: setgroups");
    return 1;
  }
  long ps = sysconf(_SC_PAGESIZE);
  unsigned char *page =
      mmap(NULL, (size_t)ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) {
    perror("fakehostile: mmap");
    return 1;
  }
  memset(page, 0xaa, (size_t)ps);
  if (mprotect(page, (size_t)ps, PROT_READ) < 0) {
    perror("fakehostile: mprotect");
    return 1;
  }
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  for (int call = 0; call < 5; call++) {
    static const char *names[] = {"stat", "statx", "fstat", "getresuid", "getgroups"};
    long r;
    errno = 0;
    switch (call) {
    case 0:
      r = syscall(SYS_newfstatat, AT_FDCWD, file, page, 0);
      break;
    case 1:
      r = syscall(SYS_statx, AT_FDCWD, file, 0, STATX_BASIC_STATS, page);
      break;
    case 2:
      r = syscall(SYS_fstat, fd, page);
      break;
    case 3:
      r = syscall(SYS_getresuid, page, page + 4, page + 8);
      break;
    default:
      r = syscall(SYS_getgroups, 16, page);
      break;
    }
    bool intact = true;
    for (long i = 0; i < ps; i++)
      intact = intact && page[i] == 0xaa;
    printf("%s errno=%s page=%s\n", names[call], errno_name(r < 0 ? errno : 0),
           intact ? "intact" : "changed");
  }
  return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}

static const char *reuse_file;
/* Where the new process's stat lands: the same address in the parent (fork copies it). */
static struct stat probe;

static void *thread_stat(void *arg)
{
  struct stat st;
  *(pid_t *)arg = (pid_t)syscall(SYS_gettid);
  if (stat(reuse_file, &st) < 0 || st.st_uid != 12) *(pid_t *)arg = -1;
  return NULL;
}

static int tidreuse(const char *file)
{
  reuse_file = file;
  if (chown(file, 12, 34) < 0) {
    perror("fakehostile: chown");
    return 1;
  }
  char other[4096];
  snprintf(other, sizeof(other), "%s.b", file);
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  int ofd = open(other, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ofd < 0 || fchown(ofd, 56, 78) < 0) {
    perror("fakehostile: setting up the files");
    return 1;
  }
  int last = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
  if (last < 0) {
    printf("skip: cannot open /proc/sys/kernel/ns_last_pid: %s\n", strerror(errno));
    return 77;
  }
  for (int tries = 1; tries <= 200; tries++) {
    pthread_t th;
    pid_t tid = 0;
    if (pthread_create(&th, NULL, thread_stat, &tid) != 0 || pthread_join(th, NULL) != 0) {
      fprintf(stderr, "fakehostile: pthread failed\n");
      return 1;
    }
    if (tid <= 0) {
      fprintf(stderr, "fakehostile: the thread's faked stat failed\n");
      return 1;
    }
    /* The thread's id is free once the kernel has released it, a moment after the join. */
    usleep(1000);
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", tid - 1);
    if (pwrite(last, buf, (size_t)n, 0) != n) {
      if (errno == EPERM || errno == EACCES) {
        printf("skip: writing /proc/sys/kernel/ns_last_pid: %s\n", strerror(errno));
        return 77;
      }
      perror("fakehostile: writing ns_last_pid");
      return 1;
    }
    memset(&probe, 0xaa, sizeof(probe));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
      perror("fakehostile: fork");
      return 1;
    }
    if (pid == 0) {
      if (getpid() != tid) _exit(3);
      int r = stat(file, &probe);
      printf("child stat %d uid=%u gid=%u\n", r, (unsigned)probe.st_uid, (unsigned)probe.st_gid);
      /* The same number, another file: the supervisor must take it from this process. */
      struct stat st;
      memset(&st, 0, sizeof(st));
      r = dup2(ofd, fd) == fd ? fstat(fd, &st) : -1;
      printf("child fstat %d uid=%u gid=%u\n", r, (unsigned)st.st_uid, (unsigned)st.st_gid);
      fflush(stdout);
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
      perror("fakehostile: waitpid");
      return 1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) continue; /* got another id: again */
    printf("tid reused after %d tries\n", tries);
    unsigned char pattern[sizeof(probe)];
    memset(pattern, 0xaa, sizeof(pattern));
    printf("parent memory %s\n",
           memcmp(&probe, pattern, sizeof(probe)) == 0 ? "intact" : "overwritten");
    return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
  }
  printf("skip: no new process got a former thread's id in 200 tries\n");
  return 77;
}

static const char *callers_stop;

static void *caller(void *arg)
{
  (void)arg;
  struct stat st;
  const struct timespec pause = {.tv_nsec = 20 * 1000 * 1000};
  while (stat(callers_stop, &st) < 0)
    nanosleep(&pause, NULL);
  return NULL;
}

static int callers(int n, const char *stop)
{
  callers_stop = stop;
  pthread_t *ts = calloc((size_t)n, sizeof(*ts));
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  for (int i = 0; ts != NULL && i < n; i++)
    if ((errno = pthread_create(&ts[i], &attr, caller, NULL)) != 0) {
      perror("fakehostile: pthread_create");
      return 1;
    }
  for (int i = 0; ts != NULL && i < n; i++)
    pthread_join(ts[i], NULL);
  printf("callers done\n");
  free(ts);
  return ferror(stdout) || fflush(stdout) != 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
  if (argc == 4 && strcmp(argv[1], "callers") == 0) return callers(atoi(argv[2]), argv[3]);
  if (argc == 3 && strcmp(argv[1], "rowrite") == 0) return rowrite(argv[2]);
  if (argc == 3 && strcmp(argv[1], "tidreuse") == 0) return tidreuse(argv[2]);
  fprintf(stderr, "usage: fakehostile rowrite|tidreuse FILE | callers N FILE\n");
  return 2;
}
