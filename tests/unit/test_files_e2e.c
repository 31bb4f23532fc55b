/* fakefs/files end to end: a child process runs under the complete faking policy (as `guise
 * fake --db` does) and checks what its own system calls see; the parent supervises it and then
 * checks the database.  Needs seccomp user notification (skipped without it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fakefs/db.h"
#include "fakefs/policy.h"
#include "tracer/tracer.h"
#include "util/cleanup.h"

static int failures;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "child: %s:%d: check failed: %s (errno %d)\n", __FILE__, __LINE__, #cond,    \
              errno);                                                                              \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

static void touch(const char *p)
{
  int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
}

static const unsigned char cap_v2[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};

static const char *db_path; /* the supervisor's database, which the child reads too */

static size_t committed_rows(void)
{
  struct fakefs_db *db = NULL;
  if (fakefs_db_open(db_path, FAKEFS_DB_READONLY, &db, NULL) < 0) return (size_t)-1;
  size_t rows = fakefs_db_count(db);
  fakefs_db_close(db);
  return rows;
}

/* Everything here runs traced. */
static int child_checks(void)
{
  struct stat st;
  struct statx stx;

  /* The supervisor's timer is an hour here: a record waits in its batch until a durability
   * barrier of the program commits it, before the barrier returns. */
  touch("durable");
  CHECK(chown("durable", 51, 52) == 0);
  CHECK(committed_rows() == 0);
  int dfd = open("durable", O_RDONLY | O_CLOEXEC);
  CHECK(dfd >= 0 && fsync(dfd) == 0);
  CHECK(committed_rows() == 1);
  CHECK(fchown(dfd, 53, 54) == 0 && fdatasync(dfd) == 0);
  CHECK(chown("durable", 0, 0) == 0);
  CHECK(committed_rows() == 1);
  sync();
  CHECK(committed_rows() == 0);
  if (dfd >= 0) close(dfd);

  /* chown and the stat family */
  touch("f");
  CHECK(chown("f", 42, 43) == 0);
  CHECK(stat("f", &st) == 0 && st.st_uid == 42 && st.st_gid == 43);
  CHECK(lstat("f", &st) == 0 && st.st_uid == 42);
  int fd = open("f", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_gid == 43);
  CHECK(fstatat(fd, "", &st, AT_EMPTY_PATH) == 0 && st.st_uid == 42);
  CHECK(statx(AT_FDCWD, "f", 0, STATX_UID | STATX_GID, &stx) == 0 && stx.stx_uid == 42 &&
        stx.stx_gid == 43);
  CHECK(fchown(fd, (uid_t)-1, 44) == 0 && stat("f", &st) == 0 && st.st_uid == 42 &&
        st.st_gid == 44);
  close(fd);
  /* chown drops set-user-ID on disk and in the faked view, as the kernel does for root */
  CHECK(chmod("f", 04755) == 0 && stat("f", &st) == 0 && (st.st_mode & 07777) == 04755);
  CHECK(chown("f", (uid_t)-1, (gid_t)-1) == 0);
  CHECK(stat("f", &st) == 0 && (st.st_mode & 07777) == 0755 && st.st_uid == 42);
  /* back to 0:0 */
  CHECK(lchown("f", 0, 0) == 0 && stat("f", &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
  CHECK(chown("f", 42, 42) == 0);

  /* a symlink's own owner */
  CHECK(symlink("f", "l") == 0 && lchown("l", 7, 7) == 0);
  CHECK(lstat("l", &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid == 7);
  CHECK(stat("l", &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 42);
  CHECK(fchownat(AT_FDCWD, "l", 8, 8, AT_SYMLINK_NOFOLLOW) == 0 && lstat("l", &st) == 0 &&
        st.st_uid == 8);
  CHECK(fchownat(AT_FDCWD, "l", 0, 0, 0x4000 /* bad flag */) == -1 && errno == EINVAL);

  /* devices */
  umask(022);
  CHECK(mknod("null", S_IFCHR | 0666, makedev(1, 3)) == 0);
  CHECK(stat("null", &st) == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 07777) == 0644 &&
        major(st.st_rdev) == 1 && minor(st.st_rdev) == 3 && st.st_size == 0);
  CHECK(mknod("null", S_IFCHR | 0666, makedev(1, 3)) == -1 && errno == EEXIST);
  CHECK(mknodat(AT_FDCWD, "sda", S_IFBLK | 0660, makedev(8, 0)) == 0);
  CHECK(chown("sda", 0, 6) == 0 && chmod("sda", 0640) == 0);
  CHECK(stat("sda", &st) == 0 && S_ISBLK(st.st_mode) && (st.st_mode & 07777) == 0640 &&
        st.st_gid == 6 && major(st.st_rdev) == 8);
  CHECK(statx(AT_FDCWD, "sda", 0, STATX_TYPE, &stx) == 0 && S_ISBLK(stx.stx_mode) &&
        stx.stx_rdev_major == 8);
  CHECK(mknod("nodir/x", S_IFCHR | 0666, makedev(1, 3)) == -1 && errno == ENOENT);
  CHECK(mkfifo("fifo", 0644) == 0 && stat("fifo", &st) == 0 && S_ISFIFO(st.st_mode));

  /* xattrs */
  touch("x");
  CHECK(setxattr("x", "security.capability", cap_v2, sizeof(cap_v2), 0) == 0);
  CHECK(getxattr("x", "security.capability", NULL, 0) == sizeof(cap_v2));
  unsigned char buf[256];
  CHECK(getxattr("x", "security.capability", buf, 10) == -1 && errno == ERANGE);
  CHECK(getxattr("x", "security.capability", buf, sizeof(buf)) == sizeof(cap_v2) &&
        memcmp(buf, cap_v2, sizeof(cap_v2)) == 0);
  CHECK(setxattr("x", "security.capability", cap_v2, sizeof(cap_v2), XATTR_CREATE) == -1 &&
        errno == EEXIST);
  CHECK(setxattr("x", "security.capability", cap_v2, 7, 0) == -1 && errno == EINVAL);
  CHECK(lsetxattr("x", "trusted.overlay.opaque", "y", 1, 0) == 0);
  CHECK(setxattr("x", "user.plain", "1", 1, 0) == 0 || errno == ENOTSUP);
  char list[512];
  ssize_t n = listxattr("x", list, sizeof(list));
  CHECK(n > 0);
  bool saw_cap = false, saw_trusted = false;
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    saw_cap |= strcmp(list + i, "security.capability") == 0;
    saw_trusted |= strcmp(list + i, "trusted.overlay.opaque") == 0;
  }
  CHECK(saw_cap && saw_trusted);
  CHECK(listxattr("x", NULL, 0) == n);
  CHECK(listxattr("x", list, 3) == -1 && errno == ERANGE);
  CHECK(removexattr("x", "trusted.overlay.opaque") == 0);
  CHECK(getxattr("x", "trusted.overlay.opaque", buf, sizeof(buf)) == -1 && errno == ENODATA);
  fd = open("x", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0 && fgetxattr(fd, "security.capability", buf, sizeof(buf)) == sizeof(cap_v2));
  close(fd);

  /* unlink and rename keep rows right */
  CHECK(link("f", "f2") == 0 && unlink("f") == 0);
  CHECK(stat("f2", &st) == 0 && st.st_uid == 42);
  CHECK(rename("f2", "f3") == 0 && stat("f3", &st) == 0 && st.st_uid == 42);
  CHECK(unlink("f3") == 0 && stat("f3", &st) == -1 && errno == ENOENT);
  touch("a");
  touch("b");
  CHECK(chown("a", 1, 1) == 0 && chown("b", 2, 2) == 0);
  CHECK(rename("a", "b") == 0 && stat("b", &st) == 0 && st.st_uid == 1);
  CHECK(mkdir("d", 0755) == 0 && chown("d", 3, 3) == 0);
  touch("d/in");
  CHECK(chown("d/in", 4, 4) == 0);
  CHECK(rename("d", "e") == 0 && stat("e/in", &st) == 0 && st.st_uid == 4);
  CHECK(rmdir("e") == -1 && errno == ENOTEMPTY);
  CHECK(unlink("e/in") == 0 && rmdir("e") == 0);
  CHECK(unlink("nothere") == -1 && errno == ENOENT);
  CHECK(syscall(SYS_renameat2, AT_FDCWD, "b", AT_FDCWD, "x", 1 /* NOREPLACE */) == -1 &&
        errno == EEXIST);

  /* creation while the faked fsuid is not 0 (apt's _apt) */
  CHECK(setresgid(0, 65534, 0) == 0 && setresuid(0, 100, 0) == 0);
  touch("byapt");
  CHECK(stat("byapt", &st) == 0 && st.st_uid == 100 && st.st_gid == 65534);
  fd = open("byapt-excl", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  CHECK(fd >= 0 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0 && st.st_uid == 100 &&
        (st.st_mode & 0777) == 0600);
  if (fd >= 0) close(fd);
  CHECK(open("byapt-excl", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600) == -1 && errno == EEXIST);
  /* dpkg creates with mode 0 and writes: the descriptor must still be writable */
  fd = open("mode0", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
  CHECK(fd >= 0 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0 && st.st_uid == 100 &&
        (st.st_mode & 07777) == 0 && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
  if (fd >= 0) close(fd);
  fd = creat("bycreat", 0640);
  CHECK(fd >= 0 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0 && st.st_uid == 100 &&
        (st.st_mode & 07777) == 0640 && !(fcntl(fd, F_GETFD) & FD_CLOEXEC));
  if (fd >= 0) close(fd);
  struct {
    uint64_t flags, mode, resolve;
  } how = {.flags = O_CREAT | O_RDWR | O_CLOEXEC, .mode = 0600};
  fd = (int)syscall(SYS_openat2, AT_FDCWD, "byopenat2", &how, sizeof(how));
  CHECK(fd >= 0 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0 && st.st_uid == 100 &&
        (st.st_mode & 07777) == 0600);
  if (fd >= 0) close(fd);
  CHECK(mkdir("aptdir", 0700) == 0 && stat("aptdir", &st) == 0 && st.st_uid == 100 &&
        S_ISDIR(st.st_mode));
  CHECK(symlink("byapt", "aptlink") == 0 && lstat("aptlink", &st) == 0 && st.st_uid == 100);
  CHECK(symlink("byapt", "aptlink/") == -1 && errno == EEXIST);
  CHECK(mkfifo("newfifo/", 0600) == -1 && errno == ENOENT);
  CHECK(mkdir("aptdir2/", 0755) == 0 && stat("aptdir2", &st) == 0 && st.st_uid == 100);
  CHECK(mkdir("aptdir2", 0755) == -1 && errno == EEXIST);
  CHECK(mkfifo("aptfifo", 0600) == 0 && stat("aptfifo", &st) == 0 && S_ISFIFO(st.st_mode));
  CHECK(setresuid(0, 0, 0) == 0 && setresgid(0, 0, 0) == 0);
  touch("byroot");
  CHECK(stat("byroot", &st) == 0 && st.st_uid == 0 && st.st_gid == 0);
  return failures;
}

/* A fresh directory (the child's cwd) and its database. */
struct e2e_files {
  char dir[32];
  char db[64];
};

/* Run child_fn in a child under the complete faking policy of the given backend, in fresh
 * files, committing every defer_ms; asserts that it exited with 0. */
static void supervise(enum tracer_backend backend, unsigned defer_ms, int (*child_fn)(void),
                      struct e2e_files *files)
{
  snprintf(files->dir, sizeof(files->dir), "/tmp/guise-test-e2e-XXXXXX");
  assert_non_null(mkdtemp(files->dir));
  snprintf(files->db, sizeof(files->db), "%s.fakefs.db", files->dir);
  const char *dir = files->dir, *dbpath = files->db;
  guise_error *err = NULL;
  struct fakefs_policy *fp = NULL;
  assert_int_equal(fakefs_policy_new(dbpath, NULL, &fp, &err), 0);
  struct tracer_policy policy_copy = *fakefs_policy_tracer(fp);
  policy_copy.defer_ms = defer_ms;
  const struct tracer_policy *policy = &policy_copy;
  db_path = dbpath;
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(sv[0]);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct tracer_filter filter;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || chdir(dir) < 0 ||
        tracer_filter_build(policy, &filter, NULL) < 0 ||
        tracer_child_install_backend(sv[1], &filter, backend, NULL, NULL) != (int)backend)
      _exit(99);
    free(filter.insns);
    close(sv[1]);
    _exit(child_fn() > 0 ? 1 : 0);
  }
  close(sv[1]);
  int wstatus = -1;
  assert_int_equal(tracer_serve(sv[0], -1, pid, policy, &wstatus, &err), 0);
  close(sv[0]);
  if (wstatus == -1) assert_int_equal(waitpid(pid, &wstatus, 0), pid);
  fakefs_policy_free(fp);
  assert_true(WIFEXITED(wstatus));
  assert_int_equal(WEXITSTATUS(wstatus), 0);
}

static void remove_test_files(const struct e2e_files *files)
{
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s' '%s-wal' '%s-shm'", files->dir, files->db,
           files->db, files->db);
  assert_int_equal(system(cmd), 0);
}

static bool seccomp_or_skip(void)
{
  if (tracer_seccomp_available()) return true;
  fprintf(stderr, "skipped: seccomp user notification is not available here\n");
  return false;
}

/* The same checks under either backend: the handlers must not see the difference. */
static void run_end_to_end(enum tracer_backend backend)
{
  struct e2e_files files;
  supervise(backend, 3600 * 1000, child_checks, &files);

  /* The database holds exactly the faked state left at the end. */
  struct fakefs_db *db = NULL;
  assert_int_equal(fakefs_db_open(files.db, FAKEFS_DB_READONLY, &db, NULL), 0);
  /* l, null, sda, x (capability), b, byapt, byapt-excl, mode0, bycreat, byopenat2, aptdir,
   * aptlink, aptdir2 (aptfifo only when the tracer intercepts mknod of FIFOs) */
  size_t rows = fakefs_db_count(db);
  assert_true(rows == 13 || rows == 14);
  int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_int_equal(fakefs_db_check(db, rootfd, false, NULL, NULL, NULL), 0);
  close(rootfd);
  fakefs_db_close(db);
  remove_test_files(&files);
}

/* Files created as a faked non-root user come from the supervisor (SECCOMP_IOCTL_NOTIF_ADDFD).
 * The commit timer's signal must not interrupt that: the kernel then leaves the call answered
 * with 0, and the caller takes its stdin for the file (apt failed downloads that way). */
static int child_creates_under_timer(void)
{
  CHECK(setresgid(0, 65534, 0) == 0 && setresuid(0, 100, 0) == 0);
  for (int i = 0; i < 3000; i++) {
    char name[32];
    snprintf(name, sizeof(name), "f%d", i);
    int fd = open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    struct stat by_fd, by_name;
    CHECK(fd > 2 && fstat(fd, &by_fd) == 0 && stat(name, &by_name) == 0 &&
          by_fd.st_ino == by_name.st_ino && by_name.st_uid == 100);
    if (fd > 2) close(fd);
    if (failures > 0) break;
  }
  return failures;
}

static void test_creations_survive_the_commit_timer(void **state)
{
  (void)state;
  if (!seccomp_or_skip()) skip();
  struct e2e_files files;
  supervise(TRACER_BACKEND_SECCOMP, 1, child_creates_under_timer, &files);
  remove_test_files(&files);
}

static void test_handlers_end_to_end(void **state)
{
  (void)state;
  if (!seccomp_or_skip()) skip();
  run_end_to_end(TRACER_BACKEND_SECCOMP);
}

static void test_handlers_end_to_end_ptrace(void **state)
{
  (void)state;
  run_end_to_end(TRACER_BACKEND_PTRACE);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handlers_end_to_end),
      cmocka_unit_test(test_handlers_end_to_end_ptrace),
      cmocka_unit_test(test_creations_survive_the_commit_timer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
