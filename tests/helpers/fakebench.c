/* fakebench: the per-call cost of faked and passed-through calls, for bench/bench_fake.sh.
 * libc only.  The Makefile links it statically (for containers); the benchmark builds the same
 * source dynamically, because LD_PRELOAD tools (fakeroot, pseudo) see no call of a static
 * program, and then runs that one binary under every tool.
 *
 *   fakebench [ROUNDS [CALLS]]   in the current directory (default 300 rounds of 100 calls)
 *
 * Each round makes CALLS calls of every operation in turn (interleaved, so load that comes and
 * goes hits all of them alike); the per-call time of a round is its elapsed time ÷ CALLS, and
 * the medians (and p10, p90) over the rounds are printed, one line per operation:
 *
 *   getppid     passed through: no tool intercepts it
 *   getuid      a credential call (faked by guise, fakeroot, pseudo and proot -0)
 *   stat-plain  stat of a file without faked state
 *   stat-faked  stat of a file chowned to 1000:1000 (must report that owner)
 *   chown       chown of a file to a new owner on every call (1001:1001, 1002:1002, ...)
 *
 * and a last line "faked yes|no": whether the stat after a chown showed the faked owner (a
 * tool that lets chown succeed without recording it, like proot -0, says no). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum op { OP_GETPPID, OP_GETUID, OP_STAT_PLAIN, OP_STAT_FAKED, OP_CHOWN, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"getppid", "getuid", "stat-plain", "stat-faked",
                                               "chown"};

static char plain[64], faked[64], chowned[64];
static volatile long sink;
static unsigned next_owner = 1001;

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The libc wrappers, as a program would call them (LD_PRELOAD tools wrap these). */
static int run(enum op op, long calls)
{
  struct stat st;
  for (long i = 0; i < calls; i++) {
    switch (op) {
    case OP_GETPPID:
      sink += getppid();
      break;
    case OP_GETUID:
      sink += getuid();
      break;
    case OP_STAT_PLAIN:
      if (stat(plain, &st) < 0) return -1;
      break;
    case OP_STAT_FAKED:
      if (stat(faked, &st) < 0) return -1;
      break;
    case OP_CHOWN:
      if (chown(chowned, next_owner, next_owner) < 0) return -1;
      next_owner = next_owner == 1999 ? 1001 : next_owner + 1;
      break;
    default:
      return -1;
    }
  }
  return 0;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double rank(const double *sorted, long n, double q)
{
  long i = (long)(q * (double)(n - 1) + 0.5);
  return sorted[i];
}

static int create(const char *name)
{
  int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "fakebench: creating %s failed: %s\n", name, strerror(errno));
    return -1;
  }
  close(fd);
  return 0;
}

int main(int argc, char **argv)
{
  long rounds = argc > 1 ? atol(argv[1]) : 300, calls = argc > 2 ? atol(argv[2]) : 100;
  if (rounds < 1 || calls < 1) {
    fprintf(stderr, "usage: fakebench [ROUNDS [CALLS]]\n");
    return 2;
  }
  int pid = (int)getpid();
  snprintf(plain, sizeof(plain), "fakebench-%d-plain", pid);
  snprintf(faked, sizeof(faked), "fakebench-%d-faked", pid);
  snprintf(chowned, sizeof(chowned), "fakebench-%d-chown", pid);
  int ret = 1;
  double *times = calloc((size_t)(rounds * OP_COUNT), sizeof(double));
  if (times == NULL || create(plain) < 0 || create(faked) < 0 || create(chowned) < 0) goto out;
  if (chown(faked, 1000, 1000) < 0) {
    fprintf(stderr, "fakebench: chown %s 1000:1000 failed: %s\n", faked, strerror(errno));
    goto out;
  }
  struct stat st;
  if (stat(faked, &st) < 0) goto out;
  bool is_faked = st.st_uid == 1000 && st.st_gid == 1000;

  for (long r = 0; r < rounds; r++)
    for (int op = 0; op < OP_COUNT; op++) {
      double t0 = now_ns();
      if (run((enum op)op, calls) < 0) {
        fprintf(stderr, "fakebench: %s failed: %s\n", op_names[op], strerror(errno));
        goto out;
      }
      times[op * rounds + r] = (now_ns() - t0) / 1e3 / (double)calls;
    }
  for (int op = 0; op < OP_COUNT; op++) {
    double *t = times + op * rounds;
    qsort(t, (size_t)rounds, sizeof(double), cmp_double);
    printf("%s %.2f %.2f %.2f\n", op_names[op], rank(t, rounds, 0.5), rank(t, rounds, 0.1),
           rank(t, rounds, 0.9));
  }
  printf("faked %s\n", is_faked ? "yes" : "no");
  ret = 0;
out:
  unlink(plain);
  unlink(faked);
  unlink(chowned);
  free(times);
  return ret;
}
