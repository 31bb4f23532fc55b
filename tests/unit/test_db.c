/* fakefs/db: keying by inode across rename, hard links, unlink and inode reuse; migrations;
 * xattrs; the change log; check --fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fakefs/db.h"
#include "util/cleanup.h"

struct fixture {
  char dir[64];    /* temporary directory holding root/ and the db */
  char root[96];   /* the rootfs */
  char dbpath[96]; /* root.fakefs.db */
  int rootfd;
  struct fakefs_db *db;
};

static int setup(void **state)
{
  struct fixture *fx = calloc(1, sizeof(*fx));
  snprintf(fx->dir, sizeof(fx->dir), "/tmp/guise-test-db-XXXXXX");
  assert_non_null(mkdtemp(fx->dir));
  snprintf(fx->root, sizeof(fx->root), "%s/root", fx->dir);
  assert_int_equal(mkdir(fx->root, 0755), 0);
  char *p = NULL;
  assert_int_equal(fakefs_db_path_for_rootfs(fx->root, &p, NULL), 0);
  snprintf(fx->dbpath, sizeof(fx->dbpath), "%s", p);
  free(p);
  fx->rootfd = open(fx->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(fx->rootfd >= 0);
  guise_error *err = NULL;
  assert_int_equal(fakefs_db_open(fx->dbpath, FAKEFS_DB_CREATE, &fx->db, &err), 0);
  *state = fx;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *fx = *state;
  fakefs_db_close(fx->db);
  close(fx->rootfd);
  char cmd[160];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
  if (system(cmd) != 0) return -1;
  free(fx);
  return 0;
}

static void touch(struct fixture *fx, const char *name)
{
  int fd = openat(fx->rootfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  close(fd);
}

static void key_of(struct fixture *fx, const char *name, struct fakefs_key *key)
{
  _cleanup_close_ int fd = openat(fx->rootfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(fakefs_key_from_fd(fd, key, NULL, NULL), 0);
}

/* Lookup by the file's current on-disk identity; returns 1 when a row applies. */
static int lookup(struct fixture *fx, const char *name, struct fake_inode *fi)
{
  struct fakefs_key key;
  key_of(fx, name, &key);
  return fakefs_db_lookup(fx->db, &key, fi, NULL);
}

static void test_path_for_rootfs(void **state)
{
  char *p = NULL;
  assert_int_equal(fakefs_db_path_for_rootfs("/var/lib/x/rootfs//", &p, NULL), 0);
  assert_string_equal(p, "/var/lib/x/rootfs.fakefs.db");
  free(p);
  guise_error *err = NULL;
  assert_int_equal(fakefs_db_path_for_rootfs("/", &p, &err), -1);
  guise_error_release(&err);
}

/* Named through a symlink, a rootfs keeps the database next to its real path. */
static void test_path_for_named_rootfs(void **state)
{
  struct fixture *fx = *state;
  char link[128];
  snprintf(link, sizeof(link), "%s/link", fx->dir);
  assert_int_equal(symlink("root", link), 0);
  char *real = NULL, *db = NULL;
  assert_int_equal(fakefs_db_path_for_named_rootfs(link, &real, &db, NULL), 0);
  assert_string_equal(real, fx->root);
  assert_string_equal(db, fx->dbpath);
  free(real);
  free(db);
  guise_error *err = NULL;
  snprintf(link, sizeof(link), "%s/missing", fx->dir);
  assert_int_equal(fakefs_db_path_for_named_rootfs(link, NULL, &db, &err), -1);
  assert_int_equal(err->errnum, ENOENT);
  guise_error_release(&err);
}

static void test_owner_and_no_row_for_root(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key key;
  struct fake_inode fi;
  touch(fx, "f");
  key_of(fx, "f", &key);
  assert_int_equal(fakefs_db_lookup(fx->db, &key, &fi, NULL), 0);
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 42, 43, "/f", NULL), 0);
  assert_int_equal(lookup(fx, "f", &fi), 1);
  assert_int_equal(fi.uid, 42);
  assert_int_equal(fi.gid, 43);
  assert_int_equal(fi.fields, FAKEFS_FAKE_UID | FAKEFS_FAKE_GID);
  /* -1 keeps a field */
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, (uint32_t)-1, 0, NULL, NULL), 0);
  assert_int_equal(lookup(fx, "f", &fi), 1);
  assert_int_equal(fi.uid, 42);
  assert_int_equal(fi.fields, FAKEFS_FAKE_UID);
  /* back to 0:0 with nothing else faked: no row at all */
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 0, (uint32_t)-1, NULL, NULL), 0);
  assert_int_equal(lookup(fx, "f", &fi), 0);
  assert_int_equal(fakefs_db_count(fx->db), 0);
}

/* guise fake's session: in memory, nothing on disk; saved (a pending batch included) to a file
 * that a later session loads and guise db opens; a load leaves the file as it was. */
static void test_session_save_and_load(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key key;
  struct fake_inode fi;
  touch(fx, "f");
  key_of(fx, "f", &key);
  const unsigned char cap[4] = {1, 2, 3, 4};
  struct fakefs_db *s = NULL;
  assert_int_equal(fakefs_db_open_session(NULL, &s, NULL), 0);
  fakefs_db_set_batching(s, true);
  assert_int_equal(fakefs_db_set_owner(s, &key, 7, 8, "/f", NULL), 0);
  assert_int_equal(
      fakefs_db_xattr_set(s, &key, "security.capability", cap, sizeof(cap), 0, "/f", NULL), 0);
  assert_true(fakefs_db_batch_pending(s));
  char saved[128];
  snprintf(saved, sizeof(saved), "%s/state", fx->dir);
  assert_int_equal(fakefs_db_save(s, saved, NULL), 0);
  fakefs_db_close(s);

  assert_int_equal(fakefs_db_open_session(saved, &s, NULL), 0);
  assert_int_equal(fakefs_db_lookup(s, &key, &fi, NULL), 1);
  assert_int_equal(fi.uid, 7);
  assert_int_equal(fi.gid, 8);
  void *value = NULL;
  size_t len = 0;
  assert_int_equal(fakefs_db_xattr_get(s, &key, "security.capability", &value, &len, NULL), 1);
  assert_int_equal(len, sizeof(cap));
  assert_memory_equal(value, cap, sizeof(cap));
  free(value);
  assert_int_equal(fakefs_db_set_owner(s, &key, 9, (uint32_t)-1, NULL, NULL), 0);
  fakefs_db_close(s); /* not saved: the file keeps 7:8 */

  struct fakefs_db *ro = NULL;
  assert_int_equal(fakefs_db_open(saved, FAKEFS_DB_READONLY, &ro, NULL), 0);
  assert_int_equal(fakefs_db_lookup(ro, &key, &fi, NULL), 1);
  assert_int_equal(fi.uid, 7);
  fakefs_db_close(ro);

  guise_error *err = NULL;
  char missing[128];
  snprintf(missing, sizeof(missing), "%s/missing", fx->dir);
  assert_int_equal(fakefs_db_open_session(missing, &s, &err), -1);
  assert_int_equal(err->errnum, ENOENT);
  assert_non_null(strstr(err->msg, missing));
  guise_error_release(&err);
}

/* Rows in SQLite, as another connection (guise db, the next session) sees them. */
static int rows_on_disk(struct fixture *fx)
{
  sqlite3 *other = NULL;
  assert_int_equal(sqlite3_open_v2(fx->dbpath, &other, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(other, "SELECT count(*) FROM files", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  int n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(other);
  return n;
}

/* The supervisor's batching: writes wait for a flush (or close), a rollback undoes one group
 * of writes and keeps the earlier ones of the batch. */
static void test_batching(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key a, b;
  struct fake_inode fi;
  touch(fx, "a");
  touch(fx, "b");
  key_of(fx, "a", &a);
  key_of(fx, "b", &b);
  fakefs_db_set_batching(fx->db, true);
  assert_false(fakefs_db_batch_pending(fx->db));
  assert_int_equal(fakefs_db_set_owner(fx->db, &a, 1, 1, "/a", NULL), 0);
  assert_true(fakefs_db_batch_pending(fx->db));
  assert_int_equal(rows_on_disk(fx), 0);

  assert_int_equal(fakefs_db_begin(fx->db, NULL), 0);
  assert_int_equal(fakefs_db_set_owner(fx->db, &b, 2, 2, "/b", NULL), 0);
  assert_int_equal(fakefs_db_flush(fx->db, NULL), 0); /* a begin is unfinished: waits */
  assert_true(fakefs_db_batch_pending(fx->db));
  fakefs_db_rollback(fx->db);
  assert_int_equal(lookup(fx, "b", &fi), 0);
  assert_int_equal(lookup(fx, "a", &fi), 1);
  assert_int_equal(fi.uid, 1);

  assert_int_equal(fakefs_db_begin(fx->db, NULL), 0);
  assert_int_equal(fakefs_db_set_owner(fx->db, &b, 3, 3, "/b", NULL), 0);
  assert_int_equal(fakefs_db_commit(fx->db, NULL), 0);
  assert_int_equal(rows_on_disk(fx), 0);
  assert_int_equal(fakefs_db_flush(fx->db, NULL), 0);
  assert_false(fakefs_db_batch_pending(fx->db));
  assert_int_equal(rows_on_disk(fx), 2);

  /* close commits what is pending */
  assert_int_equal(fakefs_db_set_owner(fx->db, &a, 4, 4, NULL, NULL), 0);
  fakefs_db_close(fx->db);
  assert_int_equal(fakefs_db_open(fx->dbpath, 0, &fx->db, NULL), 0);
  assert_int_equal(lookup(fx, "a", &fi), 1);
  assert_int_equal(fi.uid, 4);
}

static void test_rename_keeps_row(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key key;
  struct fake_inode fi;
  touch(fx, "a");
  key_of(fx, "a", &key);
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 100, 100, "/a", NULL), 0);
  assert_int_equal(renameat(fx->rootfd, "a", fx->rootfd, "b"), 0);
  assert_int_equal(fakefs_db_set_path_hint(fx->db, &key, "/b", NULL), 0);
  assert_int_equal(lookup(fx, "b", &fi), 1);
  assert_int_equal(fi.uid, 100);
  char *hint = NULL;
  assert_int_equal(fakefs_db_get_path_hint(fx->db, &key, &hint, NULL), 0);
  assert_string_equal(hint, "/b");
  free(hint);
}

/* The unlink rule the handlers follow: forget the row when the inode's link count reaches 0. */
static void unlink_and_maybe_forget(struct fixture *fx, const char *name)
{
  _cleanup_close_ int fd = openat(fx->rootfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  assert_true(fd >= 0);
  struct fakefs_key key;
  struct statx stx;
  assert_int_equal(fakefs_key_from_fd(fd, &key, &stx, NULL), 0);
  assert_int_equal(unlinkat(fx->rootfd, name, 0), 0);
  assert_int_equal(fakefs_key_from_fd(fd, &key, &stx, NULL), 0);
  if (stx.stx_nlink == 0) assert_int_equal(fakefs_db_forget(fx->db, &key, NULL), 0);
}

static void test_hard_links(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key key;
  struct fake_inode fi;
  touch(fx, "one");
  key_of(fx, "one", &key);
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 7, 8, "/one", NULL), 0);
  assert_int_equal(linkat(fx->rootfd, "one", fx->rootfd, "two", 0), 0);
  assert_int_equal(lookup(fx, "two", &fi), 1); /* shared */
  assert_int_equal(fi.uid, 7);
  unlink_and_maybe_forget(fx, "one");
  assert_int_equal(lookup(fx, "two", &fi), 1); /* one link left */
  assert_int_equal(fi.gid, 8);
  key_of(fx, "two", &key);
  unlink_and_maybe_forget(fx, "two");
  assert_int_equal(fakefs_db_lookup(fx->db, &key, &fi, NULL), 0);
  assert_int_equal(fakefs_db_count(fx->db), 0);
}

static void test_inode_reuse(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key old, now;
  struct fake_inode fi;
  touch(fx, "victim");
  key_of(fx, "victim", &old);
  assert_int_equal(
      fakefs_db_set_device(fx->db, &old, S_IFCHR | 0600, makedev(1, 3), 5, 5, "/victim", NULL), 0);
  /* Deleted behind our back (no forget); try to get the same inode number again. */
  assert_int_equal(unlinkat(fx->rootfd, "victim", 0), 0);
  bool reused = false;
  char name[32];
  for (int i = 0; i < 2000 && !reused; i++) {
    snprintf(name, sizeof(name), "n%d", i);
    touch(fx, name);
    key_of(fx, name, &now);
    if (now.ino == old.ino && now.dev == old.dev)
      reused = true;
    else
      assert_int_equal(unlinkat(fx->rootfd, name, 0), 0);
  }
  if (!reused) {
    print_message("inode number not reused by the filesystem; simulating reuse\n");
    /* The filesystem never handed the number out again: simulate a newer birth time. */
    now = old;
    now.btime_ns = old.btime_ns == FAKEFS_BTIME_UNKNOWN ? 1 : old.btime_ns + 1;
    now.type = S_IFDIR; /* also differs in type, so the test holds without btime */
  }
  assert_int_equal(fakefs_db_lookup(fx->db, &now, &fi, NULL), 0);
  assert_int_equal(fakefs_db_count(fx->db), 0); /* dropped, not just hidden */
  /* and a new row for the reused inode starts clean */
  assert_int_equal(fakefs_db_set_owner(fx->db, &now, 1, (uint32_t)-1, NULL, NULL), 0);
  assert_int_equal(fakefs_db_lookup(fx->db, &now, &fi, NULL), 1);
  assert_int_equal(fi.fields, FAKEFS_FAKE_UID);
  assert_int_equal(fi.gid, 0);
}

static void test_type_mismatch_same_btime(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key k = {.dev = 1, .ino = 99, .type = S_IFREG, .btime_ns = FAKEFS_BTIME_UNKNOWN};
  struct fake_inode fi;
  assert_int_equal(fakefs_db_set_owner(fx->db, &k, 3, 3, NULL, NULL), 0);
  struct fakefs_key k2 = k;
  k2.type = S_IFLNK;
  assert_int_equal(fakefs_db_lookup(fx->db, &k2, &fi, NULL), 0);
  assert_int_equal(fakefs_db_lookup(fx->db, &k, &fi, NULL), 0); /* it is gone */
}

static void test_many_rows_cache(void **state)
{
  struct fixture *fx = *state;
  struct fake_inode fi;
  assert_int_equal(fakefs_db_begin(fx->db, NULL), 0);
  for (uint64_t i = 1; i <= 3000; i++) {
    struct fakefs_key k = {.dev = 9, .ino = i, .type = S_IFREG, .btime_ns = (int64_t)i};
    assert_int_equal(fakefs_db_set_owner(fx->db, &k, (uint32_t)i, (uint32_t)-1, NULL, NULL), 0);
  }
  assert_int_equal(fakefs_db_commit(fx->db, NULL), 0);
  for (uint64_t i = 1; i <= 3000; i += 2) {
    struct fakefs_key k = {.dev = 9, .ino = i, .type = S_IFREG, .btime_ns = (int64_t)i};
    assert_int_equal(fakefs_db_forget(fx->db, &k, NULL), 0);
  }
  assert_int_equal(fakefs_db_count(fx->db), 1500);
  /* Reopen: the cache is rebuilt from SQLite. */
  fakefs_db_close(fx->db);
  assert_int_equal(fakefs_db_open(fx->dbpath, 0, &fx->db, NULL), 0);
  assert_int_equal(fakefs_db_count(fx->db), 1500);
  for (uint64_t i = 1; i <= 3000; i++) {
    struct fakefs_key k = {.dev = 9, .ino = i, .type = S_IFREG, .btime_ns = (int64_t)i};
    int r = fakefs_db_lookup(fx->db, &k, &fi, NULL);
    assert_int_equal(r, i % 2 == 0);
    if (r) assert_int_equal(fi.uid, i);
  }
  struct fakefs_key miss = {.dev = 10, .ino = 2, .type = S_IFREG, .btime_ns = 2};
  assert_int_equal(fakefs_db_lookup(fx->db, &miss, &fi, NULL), 0);
}

static void test_xattrs(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key key;
  struct fake_inode fi;
  touch(fx, "ping");
  key_of(fx, "ping", &key);
  /* a v2 capability blob, as setcap writes it: must come back byte for byte */
  const unsigned char cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  guise_error *err = NULL;
  assert_int_equal(fakefs_db_xattr_set(fx->db, &key, "security.capability", cap, sizeof(cap),
                                       XATTR_REPLACE, "/ping", &err),
                   -1);
  assert_int_equal(err->errnum, ENODATA);
  guise_error_release(&err);
  assert_int_equal(fakefs_db_xattr_set(fx->db, &key, "security.capability", cap, sizeof(cap),
                                       XATTR_CREATE, "/ping", NULL),
                   0);
  assert_int_equal(fakefs_db_xattr_set(fx->db, &key, "security.capability", cap, sizeof(cap),
                                       XATTR_CREATE, "/ping", &err),
                   -1);
  assert_int_equal(err->errnum, EEXIST);
  guise_error_release(&err);
  assert_int_equal(
      fakefs_db_xattr_set(fx->db, &key, "trusted.overlay.opaque", "y", 1, 0, NULL, NULL), 0);
  assert_int_equal(fakefs_db_xattr_set(fx->db, &key, "security.selinux", "", 0, 0, NULL, NULL), 0);
  assert_int_equal(lookup(fx, "ping", &fi), 1);
  assert_int_equal(fi.fields, FAKEFS_FAKE_XATTRS);

  void *v = NULL;
  size_t len = 0;
  assert_int_equal(fakefs_db_xattr_get(fx->db, &key, "security.capability", &v, &len, NULL), 1);
  assert_int_equal(len, sizeof(cap));
  assert_memory_equal(v, cap, sizeof(cap));
  free(v);
  assert_int_equal(fakefs_db_xattr_get(fx->db, &key, "security.selinux", &v, &len, NULL), 1);
  assert_int_equal(len, 0);
  free(v);
  assert_int_equal(fakefs_db_xattr_get(fx->db, &key, "trusted.none", &v, &len, NULL), 0);

  char *names = NULL;
  assert_int_equal(fakefs_db_xattr_list(fx->db, &key, &names, &len, NULL), 0);
  const char expect[] = "security.capability\0security.selinux\0trusted.overlay.opaque";
  assert_int_equal(len, sizeof(expect));
  assert_memory_equal(names, expect, sizeof(expect));
  free(names);

  /* owner on top, then xattrs removed: the row keeps the owner only */
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 5, (uint32_t)-1, NULL, NULL), 0);
  assert_int_equal(lookup(fx, "ping", &fi), 1);
  assert_int_equal(fi.fields, FAKEFS_FAKE_XATTRS | FAKEFS_FAKE_UID);
  assert_int_equal(fakefs_db_xattr_remove(fx->db, &key, "security.capability", NULL), 1);
  assert_int_equal(fakefs_db_xattr_remove(fx->db, &key, "security.capability", NULL), 0);
  assert_int_equal(fakefs_db_xattr_remove(fx->db, &key, "security.selinux", NULL), 1);
  assert_int_equal(fakefs_db_xattr_remove(fx->db, &key, "trusted.overlay.opaque", NULL), 1);
  assert_int_equal(lookup(fx, "ping", &fi), 1);
  assert_int_equal(fi.fields, FAKEFS_FAKE_UID);
  /* xattrs alone keep a row; forgetting the inode drops them */
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 0, (uint32_t)-1, NULL, NULL), 0);
  assert_int_equal(fakefs_db_count(fx->db), 0);
  assert_int_equal(fakefs_db_xattr_set(fx->db, &key, "trusted.x", "1", 1, 0, NULL, NULL), 0);
  assert_int_equal(fakefs_db_forget(fx->db, &key, NULL), 0);
  assert_int_equal(fakefs_db_xattr_get(fx->db, &key, "trusted.x", &v, &len, NULL), 0);
  sqlite3 *s;
  assert_int_equal(sqlite3_open(fx->dbpath, &s), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(sqlite3_prepare_v2(s, "SELECT count(*) FROM xattrs", -1, &st, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), 0);
  sqlite3_finalize(st);
  sqlite3_close(s);
}

static void test_apply(void **state)
{
  struct fake_inode fi = {.fields = FAKEFS_FAKE_TYPE | FAKEFS_FAKE_MODE | FAKEFS_FAKE_GID,
                          .gid = 5,
                          .mode = S_IFBLK | 0660,
                          .rdev = makedev(8, 1)};
  struct stat st = {.st_mode = S_IFREG | 0644, .st_uid = 0, .st_gid = 0};
  fakefs_apply_to_stat(&fi, &st);
  assert_int_equal(st.st_mode, S_IFBLK | 0660);
  assert_int_equal(st.st_gid, 5);
  assert_int_equal(st.st_uid, 0);
  assert_int_equal(st.st_rdev, makedev(8, 1));
  struct statx stx = {.stx_mask = STATX_TYPE | STATX_UID, .stx_mode = S_IFREG | 0644};
  fakefs_apply_to_statx(&fi, &stx);
  assert_int_equal(stx.stx_mode, S_IFBLK | 0644); /* mode not asked for: permission untouched */
  assert_int_equal(stx.stx_gid, 0);               /* gid not in mask */
  assert_int_equal(stx.stx_rdev_major, 8);
}

/* A database as schema version 1 left it: no change log. */
static void test_migration(void **state)
{
  struct fixture *fx = *state;
  fakefs_db_close(fx->db);
  fx->db = NULL;
  unlink(fx->dbpath);
  sqlite3 *s;
  assert_int_equal(sqlite3_open(fx->dbpath, &s), SQLITE_OK);
  const char *v1 =
      "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
      "CREATE TABLE files(dev INTEGER NOT NULL, ino INTEGER NOT NULL, type INTEGER NOT NULL,"
      "  btime_ns INTEGER, fields INTEGER NOT NULL, uid INTEGER NOT NULL DEFAULT 0,"
      "  gid INTEGER NOT NULL DEFAULT 0, mode INTEGER NOT NULL DEFAULT 0,"
      "  rdev INTEGER NOT NULL DEFAULT 0, path_hint TEXT, PRIMARY KEY(dev, ino)) WITHOUT ROWID;"
      "CREATE TABLE xattrs(dev INTEGER NOT NULL, ino INTEGER NOT NULL, name TEXT NOT NULL,"
      "  value BLOB NOT NULL, PRIMARY KEY(dev, ino, name)) WITHOUT ROWID;"
      "INSERT INTO meta VALUES('schema_version', 1);"
      "INSERT INTO files VALUES(5, 6, 32768, NULL, 3, 33, 34, 0, 0, '/old');";
  assert_int_equal(sqlite3_exec(s, v1, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(s);

  /* a reader cannot migrate */
  guise_error *err = NULL;
  assert_int_equal(fakefs_db_open(fx->dbpath, FAKEFS_DB_READONLY, &fx->db, &err), -1);
  guise_error_release(&err);

  assert_int_equal(fakefs_db_open(fx->dbpath, 0, &fx->db, NULL), 0);
  struct fakefs_key k = {.dev = 5, .ino = 6, .type = S_IFREG, .btime_ns = 1234};
  struct fake_inode fi;
  assert_int_equal(fakefs_db_lookup(fx->db, &k, &fi, NULL), 1); /* unknown btime matches */
  assert_int_equal(fi.uid, 33);
  struct fakefs_change c = {.dev = 5,
                            .ino = 6,
                            .path = "/old",
                            .pid = 1,
                            .syscall = "chown",
                            .what = "owner 0:0 -> 33:34"};
  assert_int_equal(fakefs_db_log_change(fx->db, &c, NULL), 0);

  assert_int_equal(sqlite3_open(fx->dbpath, &s), SQLITE_OK);
  sqlite3_stmt *st;
  assert_int_equal(
      sqlite3_prepare_v2(s, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st, NULL),
      SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_int_equal(sqlite3_column_int(st, 0), fakefs_db_schema_version());
  sqlite3_finalize(st);
  /* a database from a newer guise is refused */
  assert_int_equal(
      sqlite3_exec(s, "UPDATE meta SET value = 999 WHERE key = 'schema_version'", NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(s);
  fakefs_db_close(fx->db);
  fx->db = NULL;
  assert_int_equal(fakefs_db_open(fx->dbpath, 0, &fx->db, &err), -1);
  assert_non_null(strstr(err->msg, "newer"));
  guise_error_release(&err);
}

static int count_changes(void *ud, const struct fakefs_change *c)
{
  (*(int *)ud)++;
  return 0;
}

static void test_change_log_cap(void **state)
{
  struct fixture *fx = *state;
  assert_int_equal(fakefs_db_begin(fx->db, NULL), 0);
  for (int i = 0; i < FAKEFS_CHANGES_MAX + 700; i++) {
    struct fakefs_change c = {.dev = 1, .ino = 2, .path = "/x", .syscall = "chown", .what = "w"};
    assert_int_equal(fakefs_db_log_change(fx->db, &c, NULL), 0);
  }
  assert_int_equal(fakefs_db_commit(fx->db, NULL), 0);
  int n = 0;
  assert_int_equal(fakefs_db_changes_for(fx->db, 1, 2, NULL, count_changes, &n, NULL), 0);
  assert_true(n <= FAKEFS_CHANGES_MAX + 512);
  assert_true(n >= FAKEFS_CHANGES_MAX);
}

struct report {
  int gone, reused, moved;
};

static void on_problem(void *ud, const struct fake_inode *fi, const char *hint,
                       enum fakefs_check_problem p, const char *now)
{
  struct report *r = ud;
  if (p == FAKEFS_CHECK_GONE)
    r->gone++;
  else if (p == FAKEFS_CHECK_REUSED)
    r->reused++;
  else
    r->moved++;
}

static void test_check_fix(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key key;
  assert_int_equal(mkdirat(fx->rootfd, "d", 0755), 0);
  touch(fx, "d/kept");
  key_of(fx, "d/kept", &key);
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 1, 1, "/d/kept", NULL), 0);
  touch(fx, "moved");
  key_of(fx, "moved", &key);
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 2, 2, "/moved", NULL), 0);
  assert_int_equal(renameat(fx->rootfd, "moved", fx->rootfd, "d/elsewhere"), 0);
  touch(fx, "gone");
  key_of(fx, "gone", &key);
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 3, 3, "/gone", NULL), 0);
  assert_int_equal(unlinkat(fx->rootfd, "gone", 0), 0);
  /* a row for an inode that now is a directory */
  key_of(fx, "d", &key);
  key.type = S_IFREG;
  assert_int_equal(fakefs_db_set_owner(fx->db, &key, 4, 4, "/d", NULL), 0);

  struct report r = {0};
  int stale = fakefs_db_check(fx->db, fx->rootfd, false, on_problem, &r, NULL);
  /* "gone"'s number may have been reused by a later file: gone or reused, both stale */
  assert_int_equal(stale, 2);
  assert_int_equal(r.gone + r.reused, 2);
  assert_int_equal(r.moved, 1);
  memset(&r, 0, sizeof(r));
  assert_int_equal(fakefs_db_check(fx->db, fx->rootfd, true, on_problem, &r, NULL), 2);
  memset(&r, 0, sizeof(r));
  assert_int_equal(fakefs_db_check(fx->db, fx->rootfd, false, on_problem, &r, NULL), 0);
  assert_int_equal(r.moved + r.gone + r.reused, 0);
  assert_int_equal(fakefs_db_count(fx->db), 2);
  key_of(fx, "d/elsewhere", &key);
  char *hint = NULL;
  assert_int_equal(fakefs_db_get_path_hint(fx->db, &key, &hint, NULL), 0);
  assert_string_equal(hint, "/d/elsewhere");
  free(hint);
}

static void test_readonly_and_adopt_dev(void **state)
{
  struct fixture *fx = *state;
  struct fakefs_key k = {.dev = 100, .ino = 1, .type = S_IFREG, .btime_ns = 7};
  struct fake_inode fi;
  assert_int_equal(fakefs_db_adopt_dev(fx->db, 100, NULL), 0);
  assert_int_equal(fakefs_db_set_owner(fx->db, &k, 9, 9, "/x", NULL), 0);
  assert_int_equal(fakefs_db_adopt_dev(fx->db, 200, NULL), 0);
  assert_int_equal(fakefs_db_lookup(fx->db, &k, &fi, NULL), 0);
  k.dev = 200;
  assert_int_equal(fakefs_db_lookup(fx->db, &k, &fi, NULL), 1);

  struct fakefs_db *ro = NULL;
  assert_int_equal(fakefs_db_open(fx->dbpath, FAKEFS_DB_READONLY, &ro, NULL), 0);
  assert_int_equal(fakefs_db_lookup(ro, &k, &fi, NULL), 1);
  guise_error *err = NULL;
  assert_int_equal(fakefs_db_set_owner(ro, &k, 1, 1, NULL, &err), -1);
  assert_int_equal(err->errnum, EROFS);
  guise_error_release(&err);
  fakefs_db_close(ro);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_for_rootfs),
      cmocka_unit_test_setup_teardown(test_path_for_named_rootfs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_owner_and_no_row_for_root, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batching, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_save_and_load, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rename_keeps_row, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hard_links, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inode_reuse, setup, teardown),
      cmocka_unit_test_setup_teardown(test_type_mismatch_same_btime, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_rows_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
      cmocka_unit_test(test_apply),
      cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
      cmocka_unit_test_setup_teardown(test_change_log_cap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_check_fix, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readonly_and_adopt_dev, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
