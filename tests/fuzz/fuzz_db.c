/* The faked-state database opened from a hostile file (a rootfs's or image's .fakefs.db comes
 * with what the user unpacked or was handed): read-only as `guise db` and the layer writer open
 * it, then read-write (migrated forward) as the supervisor does, and used. */
#include "fakefs/db.h"
#include "tests/fuzz/fuzz.h"

static int row(void *ud, const struct fake_inode *fi, const char *hint)
{
  struct fakefs_db *db = ud;
  _cleanup_free_ char *names = NULL, *h = NULL;
  size_t len = 0;
  _cleanup_error_ guise_error *e1 = NULL, *e2 = NULL;
  fakefs_db_xattr_list(db, &fi->key, &names, &len, &e1);
  fakefs_db_get_path_hint(db, &fi->key, &h, &e2);
  return 0;
}

static int change(void *ud, const struct fakefs_change *c)
{
  return 0;
}

static int xattr(void *ud, const char *name, const void *value, size_t len)
{
  return 0;
}

static void use(struct fakefs_db *db, bool write)
{
  _cleanup_error_ guise_error *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;
  fakefs_db_count(db);
  fakefs_db_foreach(db, row, db, &e1);
  struct fakefs_key key = {.dev = 1, .ino = 2, .type = S_IFREG, .btime_ns = FAKEFS_BTIME_UNKNOWN};
  struct fake_inode fi;
  fakefs_db_lookup(db, &key, &fi, &e2);
  fakefs_db_xattr_foreach(db, &key, xattr, NULL, &e3);
  fakefs_db_changes_for(db, 1, 2, "/etc/passwd", change, NULL, &e4);
  if (!write) return;
  fakefs_db_set_owner(db, &key, 42, 42, "/x", &e5);
  _cleanup_error_ guise_error *e6 = NULL, *e7 = NULL;
  fakefs_db_move_hints(db, "/", "/y", &e6);
  fakefs_db_forget(db, &key, &e7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char *path;
  if (path == NULL) path = fuzz_path("hostile.fakefs.db");
  static const char *const extra[] = {"-wal", "-shm", "-journal", NULL};
  for (size_t i = 0; extra[i] != NULL; i++) {
    char p[4200];
    snprintf(p, sizeof(p), "%s%s", path, extra[i]);
    unlink(p);
  }
  fuzz_write(path, data, size);
  {
    _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
    _cleanup_error_ guise_error *err = NULL;
    if (fakefs_db_open(path, FAKEFS_DB_READONLY, &db, &err) == 0) use(db, false);
  }
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  _cleanup_error_ guise_error *err = NULL;
  if (fakefs_db_open(path, 0, &db, &err) == 0) use(db, true);
  return 0;
}
