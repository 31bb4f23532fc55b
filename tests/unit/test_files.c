/* fakefs/files: the pieces of the file handlers that need no tracee — the kernel stat layouts,
 * the chown set-id rule, the faked xattr names, and the container view of a stat. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fakefs/db.h"
#include "fakefs/files.h"

static struct statx sample(void)
{
  struct statx s = {
      .stx_mask = STATX_BASIC_STATS | STATX_BTIME,
      .stx_blksize = 4096,
      .stx_nlink = 2,
      .stx_uid = 1000,
      .stx_gid = 1001,
      .stx_mode = S_IFREG | 0644,
      .stx_ino = 123456789,
      .stx_size = 5000,
      .stx_blocks = 16,
      .stx_atime = {.tv_sec = 1700000000, .tv_nsec = 1},
      .stx_btime = {.tv_sec = 1600000000, .tv_nsec = 7},
      .stx_ctime = {.tv_sec = 1700000002, .tv_nsec = 3},
      .stx_mtime = {.tv_sec = 1700000001, .tv_nsec = 2},
      .stx_rdev_major = 1,
      .stx_rdev_minor = 3,
      .stx_dev_major = 254,
      .stx_dev_minor = 0x12345,
  };
  return s;
}

/* On the machine's own architecture the layout must be byte for byte what the kernel writes:
 * compare with a real fstat of a real file converted through statx. */
static void test_kernel_stat_native(void **state)
{
  (void)state;
#if defined(__x86_64__) || defined(__aarch64__)
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  struct stat st;
  struct statx stx;
  assert_int_equal(fstat(fd, &st), 0);
  assert_int_equal(statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx), 0);
  close(fd);
  unsigned char buf[FAKEFS_KSTAT_MAX];
#if defined(__x86_64__)
  uint32_t arch = AUDIT_ARCH_X86_64;
#else
  uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
  int n = fakefs_kernel_stat(arch, &stx, buf);
  assert_int_equal(n, sizeof(struct stat)); /* glibc's struct stat is the kernel's on 64-bit */
  struct stat *k = (struct stat *)buf;
  assert_int_equal(k->st_dev, st.st_dev);
  assert_int_equal(k->st_ino, st.st_ino);
  assert_int_equal(k->st_nlink, st.st_nlink);
  assert_int_equal(k->st_mode, st.st_mode);
  assert_int_equal(k->st_uid, st.st_uid);
  assert_int_equal(k->st_gid, st.st_gid);
  assert_int_equal(k->st_size, st.st_size);
  assert_int_equal(k->st_blksize, st.st_blksize);
  assert_int_equal(k->st_blocks, st.st_blocks);
  assert_int_equal(k->st_mtim.tv_sec, st.st_mtim.tv_sec);
  assert_int_equal(k->st_mtim.tv_nsec, st.st_mtim.tv_nsec);
  assert_int_equal(k->st_ctim.tv_nsec, st.st_ctim.tv_nsec);
#endif
}

static uint64_t u64_at(const unsigned char *b, size_t off)
{
  uint64_t v;
  memcpy(&v, b + off, sizeof(v));
  return v;
}

static uint32_t u32_at(const unsigned char *b, size_t off)
{
  uint32_t v;
  memcpy(&v, b + off, sizeof(v));
  return v;
}

/* Offsets from arch/x86/include/uapi/asm/stat.h and include/uapi/asm-generic/stat.h. */
static void test_kernel_stat_layouts(void **state)
{
  (void)state;
  struct statx s = sample();
  unsigned char b[FAKEFS_KSTAT_MAX];
  uint64_t dev = makedev(254, 0x12345);

  memset(b, 0xee, sizeof(b));
  assert_int_equal(fakefs_kernel_stat(AUDIT_ARCH_X86_64, &s, b), 144);
  assert_int_equal(u64_at(b, 0), dev);
  assert_int_equal(u64_at(b, 8), 123456789);
  assert_int_equal(u64_at(b, 16), 2); /* st_nlink, 64-bit on x86_64 */
  assert_int_equal(u32_at(b, 24), S_IFREG | 0644);
  assert_int_equal(u32_at(b, 28), 1000);
  assert_int_equal(u32_at(b, 32), 1001);
  assert_int_equal(u64_at(b, 40), makedev(1, 3));
  assert_int_equal(u64_at(b, 48), 5000);
  assert_int_equal(u64_at(b, 56), 4096);
  assert_int_equal(u64_at(b, 64), 16);
  assert_int_equal(u64_at(b, 72), 1700000000);
  assert_int_equal(u64_at(b, 80), 1);
  assert_int_equal(u64_at(b, 88), 1700000001);
  assert_int_equal(u64_at(b, 104), 1700000002);
  assert_int_equal(u64_at(b, 112), 3);

  memset(b, 0xee, sizeof(b));
  assert_int_equal(fakefs_kernel_stat(AUDIT_ARCH_AARCH64, &s, b), 128);
  assert_int_equal(u64_at(b, 0), dev);
  assert_int_equal(u64_at(b, 8), 123456789);
  assert_int_equal(u32_at(b, 16), S_IFREG | 0644); /* mode before nlink here */
  assert_int_equal(u32_at(b, 20), 2);
  assert_int_equal(u32_at(b, 24), 1000);
  assert_int_equal(u32_at(b, 28), 1001);
  assert_int_equal(u64_at(b, 32), makedev(1, 3));
  assert_int_equal(u64_at(b, 48), 5000);
  assert_int_equal(u32_at(b, 56), 4096); /* st_blksize is an int */
  assert_int_equal(u64_at(b, 64), 16);
  assert_int_equal(u64_at(b, 72), 1700000000);
  assert_int_equal(u64_at(b, 80), 1);
  assert_int_equal(u64_at(b, 104), 1700000002);
  assert_int_equal(u64_at(b, 112), 3);

  assert_int_equal(fakefs_kernel_stat(0x40000003 /* i386 */, &s, b), -1);
}

static void test_chown_clear_suid(void **state)
{
  (void)state;
  assert_int_equal(fakefs_chown_clear_suid(S_IFREG | 04755), S_IFREG | 0755);
  assert_int_equal(fakefs_chown_clear_suid(S_IFREG | 06755), S_IFREG | 0755);
  /* set-group-ID without group-execute marks mandatory locking: kept */
  assert_int_equal(fakefs_chown_clear_suid(S_IFREG | 02644), S_IFREG | 02644);
  assert_int_equal(fakefs_chown_clear_suid(S_IFREG | 06744), S_IFREG | 02744);
  /* directories keep both */
  assert_int_equal(fakefs_chown_clear_suid(S_IFDIR | 06775), S_IFDIR | 06775);
  /* faked device placeholders follow the faked type */
  assert_int_equal(fakefs_chown_clear_suid(S_IFCHR | 04660), S_IFCHR | 0660);
}

static void test_xattr_names(void **state)
{
  (void)state;
  assert_true(fakefs_xattr_is_faked("security.capability"));
  assert_true(fakefs_xattr_is_faked("security.selinux"));
  assert_true(fakefs_xattr_is_faked("trusted.overlay.opaque"));
  assert_true(fakefs_xattr_is_faked("system.posix_acl_access"));
  assert_true(fakefs_xattr_is_faked("system.posix_acl_default"));
  assert_false(fakefs_xattr_is_faked("user.foo"));
  assert_false(fakefs_xattr_is_faked("security.ima"));
  assert_false(fakefs_xattr_is_faked("trusted"));
  assert_false(fakefs_xattr_is_faked("system.posix_acl_accessx"));
}

static void test_view_statx(void **state)
{
  (void)state;
  char dir[] = "/tmp/guise-test-files-XXXXXX", path[64];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/x.db", dir);
  struct fakefs_db *db = NULL;
  assert_int_equal(fakefs_db_open(path, FAKEFS_DB_CREATE, &db, NULL), 0);
  struct fakefs_files f;
  assert_int_equal(fakefs_files_init(&f, db, 1000, 1001, "/some/rootfs/", NULL, NULL), 0);
  assert_string_equal(f.rootfs, "/some/rootfs");
  assert_false(f.kernel_maps_ids);

  /* no row: the mapped user is 0, anyone else the overflow id */
  struct statx s = sample();
  assert_int_equal(fakefs_files_view_statx(&f, &s, NULL), 0);
  assert_int_equal(s.stx_uid, 0);
  assert_int_equal(s.stx_gid, 0);
  s = sample();
  s.stx_uid = 0;
  s.stx_gid = 7;
  fakefs_files_view_statx(&f, &s, NULL);
  assert_int_equal(s.stx_uid, FAKEFS_OVERFLOW_ID);
  assert_int_equal(s.stx_gid, FAKEFS_OVERFLOW_ID);

  /* a faked device over the placeholder */
  s = sample();
  struct fakefs_key key;
  fakefs_key_from_statx(&s, &key);
  assert_int_equal(
      fakefs_db_set_device(db, &key, S_IFBLK | 0660, makedev(8, 0), 0, 6, "/dev/sda", NULL), 0);
  assert_int_equal(fakefs_files_view_statx(&f, &s, NULL), 1);
  assert_int_equal(s.stx_mode, S_IFBLK | 0660);
  assert_int_equal(s.stx_uid, 0);
  assert_int_equal(s.stx_gid, 6);
  assert_int_equal(s.stx_rdev_major, 8);
  assert_int_equal(s.stx_rdev_minor, 0);
  unsigned char b[FAKEFS_KSTAT_MAX];
  assert_int_equal(fakefs_kernel_stat(AUDIT_ARCH_X86_64, &s, b), 144);
  assert_int_equal(u32_at(b, 24), S_IFBLK | 0660);
  assert_int_equal(u64_at(b, 40), makedev(8, 0));

  /* the same inode number with another birth time is another file */
  s = sample();
  s.stx_btime.tv_nsec++;
  assert_int_equal(fakefs_files_view_statx(&f, &s, NULL), 0);
  assert_int_equal(s.stx_mode, S_IFREG | 0644);

  fakefs_files_destroy(&f);
  fakefs_db_close(db);
  char cmd[96];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel_stat_native), cmocka_unit_test(test_kernel_stat_layouts),
      cmocka_unit_test(test_chown_clear_suid),   cmocka_unit_test(test_xattr_names),
      cmocka_unit_test(test_view_statx),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
