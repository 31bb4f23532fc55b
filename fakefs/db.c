/* The faked-state database (see db.h and docs/fakefs-schema.md). */
#include "fakefs/db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"

/* ---------------------------------------------------------------------------------------------
 * Schema and forward migrations.  migrations[i] brings a database from version i to i + 1; a
 * fresh database runs them all.  Never edit a released step: append one. */

static const char *const migrations[] = {
    /* 0 -> 1: inodes with faked state and their faked xattrs */
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE files("
    "  dev INTEGER NOT NULL, ino INTEGER NOT NULL,"
    "  type INTEGER NOT NULL,"   /* S_IFMT of the file on disk */
    "  btime_ns INTEGER,"        /* statx birth time, NULL when unknown */
    "  fields INTEGER NOT NULL," /* FAKEFS_FAKE_* */
    "  uid INTEGER NOT NULL DEFAULT 0, gid INTEGER NOT NULL DEFAULT 0,"
    "  mode INTEGER NOT NULL DEFAULT 0, rdev INTEGER NOT NULL DEFAULT 0,"
    "  path_hint TEXT,"
    "  PRIMARY KEY(dev, ino)) WITHOUT ROWID;"
    "CREATE TABLE xattrs("
    "  dev INTEGER NOT NULL, ino INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"
    "  PRIMARY KEY(dev, ino, name)) WITHOUT ROWID;",
    /* 1 -> 2: the change log behind `guise db why` */
    "CREATE TABLE changes("
    "  id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, dev INTEGER, ino INTEGER,"
    "  path TEXT, pid INTEGER, exe TEXT, syscall TEXT, what TEXT);"
    "CREATE INDEX changes_inode ON changes(dev, ino);"
    "CREATE INDEX changes_path ON changes(path);"
    "CREATE INDEX files_path ON files(path_hint);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

int fakefs_db_schema_version(void)
{
  return SCHEMA_VERSION;
}

/* ---------------------------------------------------------------------------------------------
 * In-memory copy of every files row: open addressing, linear probing, backward-shift deletion.
 * Rows are few (only deviations from disk), so holding all of them costs little and turns every
 * lookup — hit or miss — into a probe. */

struct slot {
  bool used;
  struct fake_inode fi;
};

enum stmt_id {
  ST_PUT,
  ST_DELETE_FILE,
  ST_DELETE_XATTRS,
  ST_SET_HINT,
  ST_GET_HINT,
  ST_XATTR_GET,
  ST_XATTR_SET,
  ST_XATTR_DELETE,
  ST_XATTR_LIST,
  ST_XATTR_COUNT,
  ST_LOG,
  ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_PUT] = "INSERT INTO files(dev, ino, type, btime_ns, fields, uid, gid, mode, rdev, "
               "path_hint) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
               "ON CONFLICT(dev, ino) DO UPDATE SET type = ?3, btime_ns = ?4, fields = ?5, "
               "uid = ?6, gid = ?7, mode = ?8, rdev = ?9, path_hint = coalesce(?10, path_hint)",
    [ST_DELETE_FILE] = "DELETE FROM files WHERE dev = ?1 AND ino = ?2",
    [ST_DELETE_XATTRS] = "DELETE FROM xattrs WHERE dev = ?1 AND ino = ?2",
    [ST_SET_HINT] = "UPDATE files SET path_hint = ?3 WHERE dev = ?1 AND ino = ?2",
    [ST_GET_HINT] = "SELECT path_hint FROM files WHERE dev = ?1 AND ino = ?2",
    [ST_XATTR_GET] = "SELECT value FROM xattrs WHERE dev = ?1 AND ino = ?2 AND name = ?3",
    [ST_XATTR_SET] = "INSERT OR REPLACE INTO xattrs(dev, ino, name, value) VALUES(?1, ?2, ?3, ?4)",
    [ST_XATTR_DELETE] = "DELETE FROM xattrs WHERE dev = ?1 AND ino = ?2 AND name = ?3",
    [ST_XATTR_LIST] = "SELECT name, value FROM xattrs WHERE dev = ?1 AND ino = ?2 ORDER BY name",
    [ST_XATTR_COUNT] = "SELECT count(*) FROM xattrs WHERE dev = ?1 AND ino = ?2",
    [ST_LOG] = "INSERT INTO changes(time_ns, dev, ino, path, pid, exe, syscall, what) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

struct fakefs_db {
  sqlite3 *sql;
  char *path;
  bool readonly;
  sqlite3_stmt *stmts[ST_COUNT];
  struct slot *slots;
  size_t nslots; /* power of two */
  size_t count;
  unsigned logs_since_prune;
  unsigned tx_depth;
  bool batching;   /* fakefs_db_set_batching */
  bool batch_open; /* an outer transaction holds writes not yet committed */
};

static inline size_t hash_key(uint64_t dev, uint64_t ino)
{
  uint64_t h = ino * 0x9e3779b97f4a7c15ULL ^ (dev + 0x632be59bd9b4e019ULL) * 0xbf58476d1ce4e5b9ULL;
  return (size_t)(h ^ (h >> 31));
}

static struct slot *cache_find(const struct fakefs_db *db, uint64_t dev, uint64_t ino)
{
  if (db->count == 0) return NULL;
  size_t mask = db->nslots - 1;
  for (size_t i = hash_key(dev, ino) & mask;; i = (i + 1) & mask) {
    struct slot *s = &db->slots[i];
    if (!s->used) return NULL;
    if (s->fi.key.ino == ino && s->fi.key.dev == dev) return s;
  }
}

static int cache_grow(struct fakefs_db *db)
{
  size_t n = db->nslots ? db->nslots * 2 : 64;
  struct slot *slots = calloc(n, sizeof(*slots));
  if (slots == NULL) return -1;
  for (size_t i = 0; i < db->nslots; i++) {
    if (!db->slots[i].used) continue;
    const struct fake_inode *fi = &db->slots[i].fi;
    size_t j = hash_key(fi->key.dev, fi->key.ino) & (n - 1);
    while (slots[j].used)
      j = (j + 1) & (n - 1);
    slots[j] = db->slots[i];
  }
  free(db->slots);
  db->slots = slots;
  db->nslots = n;
  return 0;
}

static int cache_put(struct fakefs_db *db, const struct fake_inode *fi)
{
  struct slot *s = cache_find(db, fi->key.dev, fi->key.ino);
  if (s != NULL) {
    s->fi = *fi;
    return 0;
  }
  if ((db->count + 1) * 2 > db->nslots && cache_grow(db) < 0) return -1;
  size_t mask = db->nslots - 1;
  size_t i = hash_key(fi->key.dev, fi->key.ino) & mask;
  while (db->slots[i].used)
    i = (i + 1) & mask;
  db->slots[i].used = true;
  db->slots[i].fi = *fi;
  db->count++;
  return 0;
}

static void cache_remove(struct fakefs_db *db, uint64_t dev, uint64_t ino)
{
  struct slot *s = cache_find(db, dev, ino);
  if (s == NULL) return;
  size_t mask = db->nslots - 1;
  size_t i = (size_t)(s - db->slots);
  s->used = false;
  db->count--;
  /* Backward-shift: move later members of the probe run into the hole where they belong. */
  for (size_t j = (i + 1) & mask; db->slots[j].used; j = (j + 1) & mask) {
    size_t home = hash_key(db->slots[j].fi.key.dev, db->slots[j].fi.key.ino) & mask;
    bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (between) continue;
    db->slots[i] = db->slots[j];
    db->slots[j].used = false;
    i = j;
  }
}

/* --------------------------------------------------------------------------------------------- */

static int sql_fail(struct fakefs_db *db, guise_error **err, const char *step)
{
  int code = sqlite3_errcode(db->sql);
  int errnum = code == SQLITE_READONLY ? EROFS : code == SQLITE_FULL ? ENOSPC : EIO;
  guise_fail(err, 0, "%s in %s failed: %s", step, db->path, sqlite3_errmsg(db->sql));
  if (err != NULL && *err != NULL) (*err)->errnum = errnum;
  return -1;
}

static int exec_sql(struct fakefs_db *db, const char *sql, guise_error **err)
{
  char *msg = NULL;
  if (sqlite3_exec(db->sql, sql, NULL, NULL, &msg) != SQLITE_OK) {
    guise_fail(err, 0, "SQL in %s failed: %s", db->path, msg ? msg : sqlite3_errmsg(db->sql));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static sqlite3_stmt *stmt(struct fakefs_db *db, enum stmt_id id, guise_error **err)
{
  if (db->stmts[id] == NULL &&
      sqlite3_prepare_v3(db->sql, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->stmts[id],
                         NULL) != SQLITE_OK) {
    sql_fail(db, err, "preparing a statement");
    return NULL;
  }
  sqlite3_reset(db->stmts[id]);
  sqlite3_clear_bindings(db->stmts[id]);
  return db->stmts[id];
}

static void bind_key(sqlite3_stmt *st, uint64_t dev, uint64_t ino)
{
  /* SQLite integers are signed 64-bit: store the bit pattern. */
  sqlite3_bind_int64(st, 1, (sqlite3_int64)dev);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)ino);
}

/* Step a statement that returns no rows. */
static int step_done(struct fakefs_db *db, sqlite3_stmt *st, const char *step, guise_error **err)
{
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  if (rc != SQLITE_DONE) return sql_fail(db, err, step);
  return 0;
}

static int open_batch(struct fakefs_db *db, guise_error **err)
{
  if (db->batch_open) return 0;
  if (exec_sql(db, "BEGIN IMMEDIATE", err) < 0) return -1;
  db->batch_open = true;
  return 0;
}

static int need_writable(struct fakefs_db *db, guise_error **err)
{
  if (db->readonly)
    return guise_fail(err, EROFS, "writing to %s opened read-only failed", db->path);
  return db->batching ? open_batch(db, err) : 0;
}

static int user_version(struct fakefs_db *db, int *version, guise_error **err)
{
  sqlite3_stmt *st = NULL;
  *version = 0;
  if (sqlite3_prepare_v2(
          db->sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'", -1,
          &st, NULL) != SQLITE_OK)
    return sql_fail(db, err, "reading the schema");
  int has_meta = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
  sqlite3_finalize(st);
  if (!has_meta) return 0;
  if (sqlite3_prepare_v2(db->sql, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
                         NULL) != SQLITE_OK)
    return sql_fail(db, err, "reading the schema version");
  if (sqlite3_step(st) == SQLITE_ROW) *version = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  /* It indexes the migrations (found by tests/fuzz/fuzz_db.c). */
  if (*version < 0)
    return guise_fail(err, 0, "opening %s failed: schema version %d is not valid", db->path,
                      *version);
  return 0;
}

static int migrate(struct fakefs_db *db, guise_error **err)
{
  int version;
  if (user_version(db, &version, err) < 0) return -1;
  if (version > SCHEMA_VERSION)
    return guise_fail(err, 0, "opening %s failed: schema version %d is newer than this guise (%d)",
                      db->path, version, SCHEMA_VERSION);
  if (version == SCHEMA_VERSION) return 0;
  if (db->readonly)
    return guise_fail(err, 0,
                      "opening %s read-only failed: schema version %d needs migrating to %d "
                      "(open it read-write once)",
                      db->path, version, SCHEMA_VERSION);
  if (exec_sql(db, "BEGIN IMMEDIATE", err) < 0) return -1;
  /* Re-read under the write lock: another writer may have migrated meanwhile. */
  if (user_version(db, &version, err) < 0) goto fail;
  for (int v = version; v < SCHEMA_VERSION; v++)
    if (exec_sql(db, migrations[v], err) < 0) {
      guise_error_prefix(err, "migrating %s from schema version %d", db->path, v);
      goto fail;
    }
  char sql[128];
  snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', %d)",
           SCHEMA_VERSION);
  if (exec_sql(db, sql, err) < 0 || exec_sql(db, "COMMIT", err) < 0) goto fail;
  return 0;
fail:
  sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}

/* A files row from columns dev, ino, type, btime_ns, fields, uid, gid, mode, rdev (0-8). */
static void row_from_columns(sqlite3_stmt *st, struct fake_inode *fi)
{
  *fi = (struct fake_inode){
      .key = {.dev = (uint64_t)sqlite3_column_int64(st, 0),
              .ino = (uint64_t)sqlite3_column_int64(st, 1),
              .type = (uint32_t)sqlite3_column_int64(st, 2),
              .btime_ns = sqlite3_column_type(st, 3) == SQLITE_NULL ? FAKEFS_BTIME_UNKNOWN
                                                                    : sqlite3_column_int64(st, 3)},
      .fields = (uint32_t)sqlite3_column_int64(st, 4),
      .uid = (uint32_t)sqlite3_column_int64(st, 5),
      .gid = (uint32_t)sqlite3_column_int64(st, 6),
      .mode = (uint32_t)sqlite3_column_int64(st, 7),
      .rdev = (uint64_t)sqlite3_column_int64(st, 8),
  };
}

static int load_cache(struct fakefs_db *db, guise_error **err)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->sql,
                         "SELECT dev, ino, type, btime_ns, fields, uid, gid, mode, rdev FROM files",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(db, err, "loading the rows");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct fake_inode fi;
    row_from_columns(st, &fi);
    if (cache_put(db, &fi) < 0) {
      sqlite3_finalize(st);
      return guise_fail(err, ENOMEM, "loading the rows of %s failed", db->path);
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return sql_fail(db, err, "loading the rows");
  return 0;
}

static int prune_changes(struct fakefs_db *db, guise_error **err)
{
  char sql[160];
  snprintf(sql, sizeof(sql), "DELETE FROM changes WHERE id <= (SELECT max(id) FROM changes) - %d",
           FAKEFS_CHANGES_MAX);
  db->logs_since_prune = 0;
  return exec_sql(db, sql, err);
}

/* What every open does once SQLite has the database: settings, schema, rows in memory. */
static int finish_open(struct fakefs_db *db, guise_error **err)
{
  sqlite3_busy_timeout(db->sql, 5000);
  sqlite3_extended_result_codes(db->sql, 0);
  if (!db->readonly && exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) < 0)
    return -1;
  if (migrate(db, err) < 0 || load_cache(db, err) < 0) return -1;
  if (!db->readonly && prune_changes(db, err) < 0) return -1;
  return 0;
}

int fakefs_db_open(const char *path, int flags, struct fakefs_db **out, guise_error **err)
{
  struct fakefs_db *db = calloc(1, sizeof(*db));
  if (db == NULL) return guise_fail(err, ENOMEM, "opening %s failed", path);
  db->path = strdup(path);
  db->readonly = flags & FAKEFS_DB_READONLY;
  int oflags = db->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (!db->readonly && (flags & FAKEFS_DB_CREATE)) oflags |= SQLITE_OPEN_CREATE;
  oflags |= SQLITE_OPEN_NOMUTEX;
  if (db->path == NULL) goto nomem;
  if (!(oflags & SQLITE_OPEN_CREATE) && access(path, F_OK) < 0) {
    guise_fail_errno(err, "opening the fakefs database %s failed", path);
    fakefs_db_close(db);
    return -1;
  }
  if (sqlite3_open_v2(path, &db->sql, oflags, NULL) != SQLITE_OK) {
    if (db->sql == NULL) goto nomem;
    sql_fail(db, err, "opening the database");
    fakefs_db_close(db);
    return -1;
  }
  if (finish_open(db, err) < 0) goto fail;
  *out = db;
  return 0;
nomem:
  guise_fail(err, ENOMEM, "opening %s failed", path);
fail:
  fakefs_db_close(db);
  return -1;
}

/* Copy the whole database src into dst (SQLite's online backup). */
static int copy_database(sqlite3 *dst, sqlite3 *src, const char *what, guise_error **err)
{
  sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
  if (b == NULL) return guise_fail(err, EIO, "copying %s failed: %s", what, sqlite3_errmsg(dst));
  int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    sqlite3 *which = sqlite3_errcode(src) != SQLITE_OK ? src : dst;
    return guise_fail(err, rc == SQLITE_FULL ? ENOSPC : EIO, "copying %s failed: %s", what,
                      sqlite3_errmsg(which));
  }
  return 0;
}

int fakefs_db_open_session(const char *load_from, struct fakefs_db **out, guise_error **err)
{
  struct fakefs_db *db = calloc(1, sizeof(*db));
  if (db == NULL) return guise_fail(err, ENOMEM, "opening the session database failed");
  if (load_from != NULL)
    db->path = strdup(load_from);
  else
    db->path = strdup("the session database");
  if (db->path == NULL) goto nomem;
  if (sqlite3_open_v2(":memory:", &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
      SQLITE_OK) {
    if (db->sql == NULL) goto nomem;
    sql_fail(db, err, "opening the database");
    goto fail;
  }
  if (load_from != NULL) {
    if (access(load_from, R_OK) < 0) {
      guise_fail_errno(err, "loading the faked state %s failed", load_from);
      goto fail;
    }
    sqlite3 *src = NULL;
    int rc = sqlite3_open_v2(load_from, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK || copy_database(db->sql, src, load_from, err) < 0) {
      if (rc != SQLITE_OK)
        guise_fail(err, EIO, "loading the faked state %s failed: %s", load_from,
                   src ? sqlite3_errmsg(src) : "out of memory");
      else
        guise_error_prefix(err, "loading the faked state %s", load_from);
      sqlite3_close(src);
      goto fail;
    }
    sqlite3_close(src);
  }
  if (finish_open(db, err) < 0) goto fail;
  *out = db;
  return 0;
nomem:
  guise_fail(err, ENOMEM, "opening the session database failed");
fail:
  fakefs_db_close(db);
  return -1;
}

int fakefs_db_save(struct fakefs_db *db, const char *path, guise_error **err)
{
  if (fakefs_db_flush(db, err) < 0)
    return guise_error_prefix(err, "saving the faked state to %s", path);
  /* A file beside path renamed over it: a reader never sees half a database, and
   * `-i state -s state` reads the old one until the new one is complete. */
  _cleanup_free_ char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
    return guise_fail(err, ENOMEM, "saving the faked state to %s failed", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) return guise_fail_errno(err, "saving the faked state to %s failed", path);
  close(fd);
  sqlite3 *dst = NULL;
  int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE, NULL);
  if (rc != SQLITE_OK) {
    guise_fail(err, EIO, "saving the faked state to %s failed: %s", path,
               dst ? sqlite3_errmsg(dst) : "out of memory");
    sqlite3_close(dst);
    unlink(tmp);
    return -1;
  }
  if (copy_database(dst, db->sql, "the faked state", err) < 0) {
    sqlite3_close(dst);
    unlink(tmp);
    return guise_error_prefix(err, "saving the faked state to %s", path);
  }
  if (sqlite3_close(dst) != SQLITE_OK || rename(tmp, path) < 0) {
    guise_fail_errno(err, "saving the faked state to %s failed", path);
    unlink(tmp);
    return -1;
  }
  return 0;
}

void fakefs_db_close(struct fakefs_db *db)
{
  if (db == NULL) return;
  _cleanup_error_ guise_error *err = NULL;
  if (db->sql != NULL && db->batching && db->tx_depth > 0)
    fakefs_db_rollback(db); /* an unfinished group of writes is not committed with the batch */
  if (db->sql != NULL && fakefs_db_flush(db, &err) < 0)
    fprintf(stderr, "guise: %s\n", err->msg); /* nothing else to tell: we are closing */
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(db->stmts[i]);
  sqlite3_close(db->sql);
  free(db->slots);
  free(db->path);
  free(db);
}

int fakefs_db_path_for_rootfs(const char *rootfs, char **out, guise_error **err)
{
  size_t len = strlen(rootfs);
  while (len > 1 && rootfs[len - 1] == '/')
    len--;
  if (len == 0 || (len == 1 && rootfs[0] == '/'))
    return guise_fail(err, EINVAL, "choosing a database for rootfs '%s' failed", rootfs);
  if (asprintf(out, "%.*s.fakefs.db", (int)len, rootfs) < 0)
    return guise_fail(err, ENOMEM, "choosing a database for rootfs %s failed", rootfs);
  return 0;
}

int fakefs_db_path_for_named_rootfs(const char *rootfs, char **real, char **db_path,
                                    guise_error **err)
{
  _cleanup_free_ char *path = realpath(rootfs, NULL);
  if (path == NULL) return guise_fail_errno(err, "opening rootfs %s failed", rootfs);
  if (fakefs_db_path_for_rootfs(path, db_path, err) < 0) return -1;
  if (real != NULL) *real = steal_ptr(&path);
  return 0;
}

/* Transactions nest: only the outermost begin/commit reach SQLite.  While batching, the
 * outermost is a savepoint inside the batch's transaction, so that a rollback still undoes
 * exactly one group of writes. */
int fakefs_db_begin(struct fakefs_db *db, guise_error **err)
{
  if (db->tx_depth++ > 0) return 0;
  int r = db->batching ? need_writable(db, err) : 0;
  if (r == 0) r = exec_sql(db, db->batching ? "SAVEPOINT change" : "BEGIN IMMEDIATE", err);
  if (r < 0) db->tx_depth = 0;
  return r;
}

int fakefs_db_commit(struct fakefs_db *db, guise_error **err)
{
  if (db->tx_depth == 0 || --db->tx_depth > 0) return 0;
  return exec_sql(db, db->batching ? "RELEASE change" : "COMMIT", err);
}

void fakefs_db_rollback(struct fakefs_db *db)
{
  db->tx_depth = 0;
  if (sqlite3_get_autocommit(db->sql)) {
    db->batch_open = false; /* SQLite may have rolled the whole batch back on an error */
  } else if (db->batching) {
    sqlite3_exec(db->sql, "ROLLBACK TO change; RELEASE change", NULL, NULL, NULL);
  } else {
    sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
  }
  free(db->slots);
  db->slots = NULL;
  db->nslots = db->count = 0;
  load_cache(db, NULL);
}

void fakefs_db_set_batching(struct fakefs_db *db, bool on)
{
  db->batching = on && !db->readonly;
}

bool fakefs_db_batch_pending(const struct fakefs_db *db)
{
  return db->batch_open;
}

int fakefs_db_flush(struct fakefs_db *db, guise_error **err)
{
  if (!db->batch_open || db->tx_depth > 0) return 0;
  db->batch_open = false;
  if (sqlite3_get_autocommit(db->sql)) return 0;
  return exec_sql(db, "COMMIT", err);
}

/* Several statements as one transaction (a savepoint of the batch while batching). */
static int exec_in_transaction(struct fakefs_db *db, const char *sql, guise_error **err)
{
  if (fakefs_db_begin(db, err) < 0) return -1;
  if (exec_sql(db, sql, err) < 0 || fakefs_db_commit(db, err) < 0) {
    fakefs_db_rollback(db);
    return -1;
  }
  return 0;
}

int fakefs_db_adopt_dev(struct fakefs_db *db, uint64_t dev, guise_error **err)
{
  if (need_writable(db, err) < 0) return -1;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->sql, "SELECT value FROM meta WHERE key = 'rootfs_dev'", -1, &st,
                         NULL) != SQLITE_OK)
    return sql_fail(db, err, "reading the rootfs device");
  bool known = sqlite3_step(st) == SQLITE_ROW;
  uint64_t old = known ? (uint64_t)sqlite3_column_int64(st, 0) : dev;
  sqlite3_finalize(st);
  if (known && old == dev) return 0;
  char sql[512];
  snprintf(sql, sizeof(sql),
           "UPDATE files SET dev = %lld WHERE dev = %lld;"
           "UPDATE xattrs SET dev = %lld WHERE dev = %lld;"
           "UPDATE changes SET dev = %lld WHERE dev = %lld;"
           "INSERT OR REPLACE INTO meta(key, value) VALUES('rootfs_dev', %lld);",
           (long long)dev, (long long)old, (long long)dev, (long long)old, (long long)dev,
           (long long)old, (long long)dev);
  if (exec_in_transaction(db, sql, err) < 0) return -1;
  if (old == dev) return 0;
  /* Reload: keys changed. */
  free(db->slots);
  db->slots = NULL;
  db->nslots = db->count = 0;
  return load_cache(db, err);
}

int fakefs_db_forget_other_devs(struct fakefs_db *db, uint64_t keep_dev, guise_error **err)
{
  if (db->count == 0) return 0;
  if (need_writable(db, err) < 0) return -1;
  char sql[256];
  snprintf(sql, sizeof(sql),
           "DELETE FROM files WHERE dev != %lld;"
           "DELETE FROM xattrs WHERE dev != %lld;",
           (long long)keep_dev, (long long)keep_dev);
  int before = sqlite3_total_changes(db->sql);
  if (exec_in_transaction(db, sql, err) < 0) return -1;
  if (sqlite3_total_changes(db->sql) == before) return 0;
  free(db->slots);
  db->slots = NULL;
  db->nslots = db->count = 0;
  return load_cache(db, err);
}

/* --------------------------------------------------------------------------------------------- */

void fakefs_key_from_statx(const struct statx *stx, struct fakefs_key *key)
{
  key->dev = makedev(stx->stx_dev_major, stx->stx_dev_minor);
  key->ino = stx->stx_ino;
  key->type = stx->stx_mode & S_IFMT;
  key->btime_ns = (stx->stx_mask & STATX_BTIME)
                      ? (int64_t)stx->stx_btime.tv_sec * 1000000000 + stx->stx_btime.tv_nsec
                      : FAKEFS_BTIME_UNKNOWN;
}

int fakefs_key_from_fd(int fd, struct fakefs_key *key, struct statx *stx, guise_error **err)
{
  struct statx local;
  struct statx *buf = stx ? stx : &local;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, buf) < 0)
    return guise_fail_errno(err, "statx of fd %d failed", fd);
  fakefs_key_from_statx(buf, key);
  return 0;
}

static bool same_identity(const struct fakefs_key *row, const struct fakefs_key *now)
{
  if (row->type != now->type) return false;
  if (row->btime_ns != FAKEFS_BTIME_UNKNOWN && now->btime_ns != FAKEFS_BTIME_UNKNOWN &&
      row->btime_ns != now->btime_ns)
    return false;
  return true;
}

static int forget(struct fakefs_db *db, uint64_t dev, uint64_t ino, guise_error **err)
{
  sqlite3_stmt *st;
  if ((st = stmt(db, ST_DELETE_XATTRS, err)) == NULL) return -1;
  bind_key(st, dev, ino);
  if (step_done(db, st, "deleting xattrs", err) < 0) return -1;
  if ((st = stmt(db, ST_DELETE_FILE, err)) == NULL) return -1;
  bind_key(st, dev, ino);
  if (step_done(db, st, "deleting a row", err) < 0) return -1;
  cache_remove(db, dev, ino);
  return 0;
}

int fakefs_db_lookup(struct fakefs_db *db, const struct fakefs_key *key, struct fake_inode *out,
                     guise_error **err)
{
  const struct slot *s = cache_find(db, key->dev, key->ino);
  if (s == NULL) return 0;
  if (same_identity(&s->fi.key, key)) {
    *out = s->fi;
    return 1;
  }
  /* The inode number was reused by a file created behind our back: never apply the old row. */
  if (db->readonly) return 0;
  struct fake_inode stale = s->fi;
  if (forget(db, key->dev, key->ino, err) < 0) return -1;
  char what[160];
  snprintf(what, sizeof(what), "stale row dropped: inode reused (type %o/%o, btime %lld/%lld)",
           stale.key.type, key->type, (long long)stale.key.btime_ns, (long long)key->btime_ns);
  struct fakefs_change c = {.dev = key->dev, .ino = key->ino, .syscall = "lookup", .what = what};
  fakefs_db_log_change(db, &c, NULL);
  return 0;
}

size_t fakefs_db_count(const struct fakefs_db *db)
{
  return db->count;
}

/* Write row exactly as given to SQLite and the cache. */
static int store(struct fakefs_db *db, const struct fake_inode *row, const char *path_hint,
                 guise_error **err)
{
  sqlite3_stmt *st = stmt(db, ST_PUT, err);
  if (st == NULL) return -1;
  bind_key(st, row->key.dev, row->key.ino);
  sqlite3_bind_int64(st, 3, row->key.type);
  if (row->key.btime_ns == FAKEFS_BTIME_UNKNOWN)
    sqlite3_bind_null(st, 4);
  else
    sqlite3_bind_int64(st, 4, row->key.btime_ns);
  sqlite3_bind_int64(st, 5, row->fields);
  sqlite3_bind_int64(st, 6, row->uid);
  sqlite3_bind_int64(st, 7, row->gid);
  sqlite3_bind_int64(st, 8, row->mode);
  sqlite3_bind_int64(st, 9, (sqlite3_int64)row->rdev);
  if (path_hint) sqlite3_bind_text(st, 10, path_hint, -1, SQLITE_TRANSIENT);
  if (step_done(db, st, "storing a row", err) < 0) return -1;
  if (cache_put(db, row) < 0)
    return guise_fail(err, ENOMEM, "caching a row of %s failed", db->path);
  return 0;
}

int fakefs_db_put(struct fakefs_db *db, const struct fake_inode *fi, const char *path_hint,
                  guise_error **err)
{
  if (need_writable(db, err) < 0) return -1;
  const struct slot *s = cache_find(db, fi->key.dev, fi->key.ino);
  struct fake_inode row = *fi;
  /* The xattrs flag follows the xattrs table, whatever the caller passed. */
  row.fields &= ~FAKEFS_FAKE_XATTRS;
  if (s != NULL && same_identity(&s->fi.key, &fi->key))
    row.fields |= s->fi.fields & FAKEFS_FAKE_XATTRS;
  else if (s != NULL && forget(db, fi->key.dev, fi->key.ino, err) < 0) /* stale */
    return -1;
  if (row.fields == 0) /* nothing faked: no row (and no SQL when there was none) */
    return cache_find(db, fi->key.dev, fi->key.ino) ? forget(db, fi->key.dev, fi->key.ino, err) : 0;
  if (!(row.fields & FAKEFS_FAKE_UID)) row.uid = 0;
  if (!(row.fields & FAKEFS_FAKE_GID)) row.gid = 0;
  if (!(row.fields & FAKEFS_FAKE_TYPE)) row.rdev = 0;
  if (!(row.fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE))) row.mode = 0;
  return store(db, &row, path_hint, err);
}

/* The current row of key, or an empty one. */
static int current(struct fakefs_db *db, const struct fakefs_key *key, struct fake_inode *fi,
                   guise_error **err)
{
  int r = fakefs_db_lookup(db, key, fi, err);
  if (r < 0) return -1;
  if (r == 0) *fi = (struct fake_inode){.key = *key};
  return 0;
}

int fakefs_db_set_owner(struct fakefs_db *db, const struct fakefs_key *key, uint32_t uid,
                        uint32_t gid, const char *path_hint, guise_error **err)
{
  struct fake_inode fi;
  if (current(db, key, &fi, err) < 0) return -1;
  if (uid != (uint32_t)-1) {
    fi.uid = uid;
    fi.fields = uid ? fi.fields | FAKEFS_FAKE_UID : fi.fields & ~FAKEFS_FAKE_UID;
  }
  if (gid != (uint32_t)-1) {
    fi.gid = gid;
    fi.fields = gid ? fi.fields | FAKEFS_FAKE_GID : fi.fields & ~FAKEFS_FAKE_GID;
  }
  return fakefs_db_put(db, &fi, path_hint, err);
}

int fakefs_db_set_mode(struct fakefs_db *db, const struct fakefs_key *key, uint32_t mode,
                       const char *path_hint, guise_error **err)
{
  struct fake_inode fi;
  if (current(db, key, &fi, err) < 0) return -1;
  uint32_t type = (fi.fields & FAKEFS_FAKE_TYPE) ? fi.mode & S_IFMT : key->type;
  fi.mode = type | (mode & 07777);
  fi.fields |= FAKEFS_FAKE_MODE;
  return fakefs_db_put(db, &fi, path_hint, err);
}

int fakefs_db_set_device(struct fakefs_db *db, const struct fakefs_key *key, uint32_t mode,
                         uint64_t rdev, uint32_t uid, uint32_t gid, const char *path_hint,
                         guise_error **err)
{
  struct fake_inode fi;
  if (current(db, key, &fi, err) < 0) return -1;
  fi.mode = mode;
  fi.rdev = rdev;
  fi.uid = uid;
  fi.gid = gid;
  fi.fields &= ~(FAKEFS_FAKE_UID | FAKEFS_FAKE_GID);
  fi.fields |= FAKEFS_FAKE_TYPE | FAKEFS_FAKE_MODE | (uid ? FAKEFS_FAKE_UID : 0) |
               (gid ? FAKEFS_FAKE_GID : 0);
  return fakefs_db_put(db, &fi, path_hint, err);
}

int fakefs_db_forget(struct fakefs_db *db, const struct fakefs_key *key, guise_error **err)
{
  if (cache_find(db, key->dev, key->ino) == NULL) return 0;
  if (need_writable(db, err) < 0) return -1;
  return forget(db, key->dev, key->ino, err);
}

int fakefs_db_set_path_hint(struct fakefs_db *db, const struct fakefs_key *key, const char *path,
                            guise_error **err)
{
  if (cache_find(db, key->dev, key->ino) == NULL) return 0;
  if (need_writable(db, err) < 0) return -1;
  sqlite3_stmt *st = stmt(db, ST_SET_HINT, err);
  if (st == NULL) return -1;
  bind_key(st, key->dev, key->ino);
  sqlite3_bind_text(st, 3, path, -1, SQLITE_TRANSIENT);
  return step_done(db, st, "updating a path hint", err);
}

int fakefs_db_move_hints(struct fakefs_db *db, const char *old_dir, const char *new_dir,
                         guise_error **err)
{
  if (db->count == 0) return 0;
  if (need_writable(db, err) < 0) return -1;
  /* '/' + 1 == '0': the range [old/, old0) holds exactly the paths under old/ and uses the
   * index. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->sql,
                         "UPDATE files SET path_hint = ?2 || substr(path_hint, length(?1) + 1) "
                         "WHERE path_hint >= ?1 || '/' AND path_hint < ?1 || '0'",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(db, err, "renaming path hints");
  sqlite3_bind_text(st, 1, old_dir, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, new_dir, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return sql_fail(db, err, "renaming path hints");
  return sqlite3_changes(db->sql);
}

int fakefs_db_get_path_hint(struct fakefs_db *db, const struct fakefs_key *key, char **out,
                            guise_error **err)
{
  *out = NULL;
  if (cache_find(db, key->dev, key->ino) == NULL) return 0;
  sqlite3_stmt *st = stmt(db, ST_GET_HINT, err);
  if (st == NULL) return -1;
  bind_key(st, key->dev, key->ino);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    *out = strdup((const char *)sqlite3_column_text(st, 0));
    if (*out == NULL) {
      sqlite3_reset(st);
      return guise_fail(err, ENOMEM, "reading a path hint failed");
    }
  }
  sqlite3_reset(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_fail(db, err, "reading a path hint");
  return 0;
}

/* --------------------------------------------------------------------------------------------- */

/* Does the (valid) row of key have xattrs in the table?  Saves a query for the common case. */
static bool has_xattrs(struct fakefs_db *db, const struct fakefs_key *key)
{
  const struct slot *s = cache_find(db, key->dev, key->ino);
  return s != NULL && (s->fi.fields & FAKEFS_FAKE_XATTRS) && same_identity(&s->fi.key, key);
}

int fakefs_db_xattr_get(struct fakefs_db *db, const struct fakefs_key *key, const char *name,
                        void **value, size_t *len, guise_error **err)
{
  *value = NULL;
  *len = 0;
  if (!has_xattrs(db, key)) return 0;
  sqlite3_stmt *st = stmt(db, ST_XATTR_GET, err);
  if (st == NULL) return -1;
  bind_key(st, key->dev, key->ino);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    int n = sqlite3_column_bytes(st, 0);
    const void *blob = sqlite3_column_blob(st, 0);
    *value = malloc(n > 0 ? (size_t)n : 1);
    if (*value == NULL) {
      sqlite3_reset(st);
      return guise_fail(err, ENOMEM, "reading xattr %s failed", name);
    }
    if (n > 0) memcpy(*value, blob, (size_t)n);
    *len = (size_t)n;
  }
  sqlite3_reset(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql_fail(db, err, "reading an xattr");
  return rc == SQLITE_ROW;
}

static int set_xattr_flag(struct fakefs_db *db, const struct fakefs_key *key, bool on,
                          const char *path_hint, guise_error **err)
{
  struct fake_inode fi;
  if (current(db, key, &fi, err) < 0) return -1;
  if (on == !!(fi.fields & FAKEFS_FAKE_XATTRS)) return 0;
  fi.fields ^= FAKEFS_FAKE_XATTRS;
  if (fi.fields == 0) return forget(db, key->dev, key->ino, err);
  return store(db, &fi, path_hint, err);
}

int fakefs_db_xattr_set(struct fakefs_db *db, const struct fakefs_key *key, const char *name,
                        const void *value, size_t len, int flags, const char *path_hint,
                        guise_error **err)
{
  if (need_writable(db, err) < 0) return -1;
  void *old = NULL;
  size_t oldlen;
  int exists = fakefs_db_xattr_get(db, key, name, &old, &oldlen, err);
  free(old);
  if (exists < 0) return -1;
  if (exists && (flags & XATTR_CREATE))
    return guise_fail(err, EEXIST, "setting xattr %s failed", name);
  if (!exists && (flags & XATTR_REPLACE))
    return guise_fail(err, ENODATA, "replacing xattr %s failed", name);
  if (set_xattr_flag(db, key, true, path_hint, err) < 0) return -1;
  sqlite3_stmt *st = stmt(db, ST_XATTR_SET, err);
  if (st == NULL) return -1;
  bind_key(st, key->dev, key->ino);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
  sqlite3_bind_blob(st, 4, len ? value : "", (int)len, SQLITE_STATIC);
  return step_done(db, st, "storing an xattr", err);
}

int fakefs_db_xattr_remove(struct fakefs_db *db, const struct fakefs_key *key, const char *name,
                           guise_error **err)
{
  if (!has_xattrs(db, key)) return 0;
  if (need_writable(db, err) < 0) return -1;
  sqlite3_stmt *st = stmt(db, ST_XATTR_DELETE, err);
  if (st == NULL) return -1;
  bind_key(st, key->dev, key->ino);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
  if (step_done(db, st, "removing an xattr", err) < 0) return -1;
  int removed = sqlite3_changes(db->sql) > 0;
  if ((st = stmt(db, ST_XATTR_COUNT, err)) == NULL) return -1;
  bind_key(st, key->dev, key->ino);
  int left = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 1;
  sqlite3_reset(st);
  if (left == 0 && set_xattr_flag(db, key, false, NULL, err) < 0) return -1;
  return removed;
}

int fakefs_db_xattr_foreach(struct fakefs_db *db, const struct fakefs_key *key,
                            fakefs_db_xattr_fn fn, void *ud, guise_error **err)
{
  if (!has_xattrs(db, key)) return 0;
  /* Not the cached statement: fn may call back into the database. */
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->sql, stmt_sql[ST_XATTR_LIST], -1, &st, NULL) != SQLITE_OK)
    return sql_fail(db, err, "listing xattrs");
  bind_key(st, key->dev, key->ino);
  int rc, r = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    r = fn(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_blob(st, 1),
           (size_t)sqlite3_column_bytes(st, 1));
    if (r != 0) break;
  }
  sqlite3_finalize(st);
  if (r == 0 && rc != SQLITE_DONE)
    return guise_fail(err, EIO, "listing xattrs in %s failed", db->path);
  return r;
}

struct namebuf {
  char *buf;
  size_t len;
  bool nomem;
};

static int append_name(void *ud, const char *name, const void *value, size_t len)
{
  struct namebuf *nb = ud;
  size_t n = strlen(name) + 1;
  char *p = realloc(nb->buf, nb->len + n);
  if (p == NULL) {
    nb->nomem = true;
    return 1;
  }
  memcpy(p + nb->len, name, n);
  nb->buf = p;
  nb->len += n;
  return 0;
}

int fakefs_db_xattr_list(struct fakefs_db *db, const struct fakefs_key *key, char **names,
                         size_t *len, guise_error **err)
{
  struct namebuf nb = {0};
  int r = fakefs_db_xattr_foreach(db, key, append_name, &nb, err);
  if (r < 0 || nb.nomem) {
    free(nb.buf);
    return r < 0 ? -1 : guise_fail(err, ENOMEM, "listing xattrs failed");
  }
  *names = nb.buf;
  *len = nb.len;
  return 0;
}

/* --------------------------------------------------------------------------------------------- */

int fakefs_db_foreach(struct fakefs_db *db, fakefs_db_row_fn fn, void *ud, guise_error **err)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->sql,
                         "SELECT dev, ino, type, btime_ns, fields, uid, gid, mode, rdev, path_hint "
                         "FROM files ORDER BY path_hint, dev, ino",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(db, err, "listing rows");
  /* Every row is read before fn runs: the queries fn makes (xattrs, path hints) must not run
   * while this statement is open, since an error in one of them on a corrupt file rolls the
   * read back and this statement starts over, for ever (found by tests/fuzz/fuzz_db.c). */
  struct listed {
    struct fake_inode fi;
    char *hint;
  } *rows = NULL;
  size_t n = 0, cap = 0;
  int rc, r = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      rows = realloc(rows, cap * sizeof(*rows));
      if (rows == NULL) abort();
    }
    row_from_columns(st, &rows[n].fi);
    const char *hint = (const char *)sqlite3_column_text(st, 9);
    rows[n].hint = hint ? strdup(hint) : NULL;
    if (hint != NULL && rows[n].hint == NULL) abort();
    n++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) r = guise_fail(err, EIO, "listing rows of %s failed", db->path);
  for (size_t i = 0; r == 0 && i < n; i++)
    r = fn(ud, &rows[i].fi, rows[i].hint);
  for (size_t i = 0; i < n; i++)
    free(rows[i].hint);
  free(rows);
  return r;
}

int fakefs_db_log_change(struct fakefs_db *db, const struct fakefs_change *c, guise_error **err)
{
  if (need_writable(db, err) < 0) return -1;
  sqlite3_stmt *st = stmt(db, ST_LOG, err);
  if (st == NULL) return -1;
  int64_t t = c->time_ns;
  if (t == 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  sqlite3_bind_int64(st, 1, t);
  sqlite3_bind_int64(st, 2, (sqlite3_int64)c->dev);
  sqlite3_bind_int64(st, 3, (sqlite3_int64)c->ino);
  if (c->path) sqlite3_bind_text(st, 4, c->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 5, c->pid);
  if (c->exe) sqlite3_bind_text(st, 6, c->exe, -1, SQLITE_STATIC);
  if (c->syscall) sqlite3_bind_text(st, 7, c->syscall, -1, SQLITE_STATIC);
  if (c->what) sqlite3_bind_text(st, 8, c->what, -1, SQLITE_STATIC);
  if (step_done(db, st, "logging a change", err) < 0) return -1;
  if (++db->logs_since_prune >= 512) return prune_changes(db, err);
  return 0;
}

int fakefs_db_changes_for(struct fakefs_db *db, uint64_t dev, uint64_t ino, const char *path,
                          fakefs_db_change_fn fn, void *ud, guise_error **err)
{
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db->sql,
                         "SELECT time_ns, dev, ino, path, pid, exe, syscall, what FROM changes "
                         "WHERE (dev = ?1 AND ino = ?2) OR path = ?3 ORDER BY id DESC",
                         -1, &st, NULL) != SQLITE_OK)
    return sql_fail(db, err, "reading the change log");
  bind_key(st, dev, ino);
  if (path) sqlite3_bind_text(st, 3, path, -1, SQLITE_STATIC);
  int rc, r = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    struct fakefs_change c = {
        .time_ns = sqlite3_column_int64(st, 0),
        .dev = (uint64_t)sqlite3_column_int64(st, 1),
        .ino = (uint64_t)sqlite3_column_int64(st, 2),
        .path = (const char *)sqlite3_column_text(st, 3),
        .pid = (pid_t)sqlite3_column_int64(st, 4),
        .exe = (const char *)sqlite3_column_text(st, 5),
        .syscall = (const char *)sqlite3_column_text(st, 6),
        .what = (const char *)sqlite3_column_text(st, 7),
    };
    r = fn(ud, &c);
    if (r != 0) break;
  }
  sqlite3_finalize(st);
  if (r == 0 && rc != SQLITE_DONE)
    return guise_fail(err, EIO, "reading the change log of %s failed", db->path);
  return r;
}

/* --------------------------------------------------------------------------------------------- */

struct check_row {
  struct fake_inode fi;
  char *hint;
  char *found_path; /* where the walk found the inode */
  struct fakefs_key found;
  bool resolved; /* hint names the same inode (identity may still differ) */
  bool seen;
};

struct check_state {
  struct check_row *rows;
  size_t n, cap;
  bool nomem;
};

static int collect_row(void *ud, const struct fake_inode *fi, const char *hint)
{
  struct check_state *cs = ud;
  if (cs->n == cs->cap) {
    size_t cap = cs->cap ? cs->cap * 2 : 64;
    struct check_row *r = realloc(cs->rows, cap * sizeof(*r));
    if (r == NULL) {
      cs->nomem = true;
      return 1;
    }
    cs->rows = r;
    cs->cap = cap;
  }
  cs->rows[cs->n] = (struct check_row){.fi = *fi, .hint = hint ? strdup(hint) : NULL};
  cs->n++;
  return 0;
}

static int open_in_root(int rootfd, const char *path, int flags)
{
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Walk the tree under dirfd looking for the inodes of rows not yet seen. */
static void walk(int dirfd, const char *prefix, struct check_state *cs, size_t *missing, int depth)
{
  if (*missing == 0 || depth > 256) return;
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return;
  }
  struct dirent *de;
  while ((de = readdir(d)) != NULL && *missing > 0) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    struct statx stx;
    if (statx(dirfd, de->d_name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
              STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
      continue;
    struct fakefs_key k;
    fakefs_key_from_statx(&stx, &k);
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", prefix, de->d_name) < 0) break;
    for (size_t i = 0; i < cs->n; i++) {
      struct check_row *r = &cs->rows[i];
      if (r->seen || r->fi.key.dev != k.dev || r->fi.key.ino != k.ino) continue;
      r->seen = true;
      r->found = k;
      r->found_path = strdup(path);
      (*missing)--;
    }
    if (S_ISDIR(stx.stx_mode)) {
      int sub = openat(dirfd, de->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) {
        walk(sub, path, cs, missing, depth + 1);
        close(sub);
      }
    }
  }
  closedir(d);
}

int fakefs_db_check(struct fakefs_db *db, int rootfs_fd, bool fix, fakefs_check_report_fn report,
                    void *ud, guise_error **err)
{
  if (fix && need_writable(db, err) < 0) return -1;
  struct check_state cs = {0};
  int r = fakefs_db_foreach(db, collect_row, &cs, err);
  int stale = -1;
  if (r < 0) goto out;
  if (cs.nomem) {
    guise_fail(err, ENOMEM, "checking %s failed", db->path);
    goto out;
  }
  size_t missing = 0;
  for (size_t i = 0; i < cs.n; i++) {
    struct check_row *row = &cs.rows[i];
    if (row->hint != NULL) {
      int fd = open_in_root(rootfs_fd, row->hint, O_PATH | O_NOFOLLOW);
      struct fakefs_key k;
      if (fd >= 0 && fakefs_key_from_fd(fd, &k, NULL, NULL) == 0 && k.dev == row->fi.key.dev &&
          k.ino == row->fi.key.ino) {
        row->seen = row->resolved = true;
        row->found = k;
      }
      if (fd >= 0) close(fd);
    }
    if (!row->seen) missing++;
  }
  if (missing > 0) {
    int fd = openat(rootfs_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      walk(fd, "", &cs, &missing, 0);
      close(fd);
    }
  }
  stale = 0;
  if (fix && fakefs_db_begin(db, err) < 0) {
    stale = -1;
    goto out;
  }
  for (size_t i = 0; i < cs.n; i++) {
    struct check_row *row = &cs.rows[i];
    enum fakefs_check_problem problem;
    if (!row->seen)
      problem = FAKEFS_CHECK_GONE;
    else if (!same_identity(&row->fi.key, &row->found))
      problem = FAKEFS_CHECK_REUSED;
    else if (!row->resolved)
      problem = FAKEFS_CHECK_MOVED;
    else
      continue;
    if (report) report(ud, &row->fi, row->hint, problem, row->found_path);
    if (problem != FAKEFS_CHECK_MOVED) stale++;
    if (!fix) continue;
    int fr = problem == FAKEFS_CHECK_MOVED
                 ? fakefs_db_set_path_hint(db, &row->fi.key, row->found_path, err)
                 : forget(db, row->fi.key.dev, row->fi.key.ino, err);
    if (fr < 0) {
      sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
      stale = -1;
      goto out;
    }
  }
  if (fix && fakefs_db_commit(db, err) < 0) stale = -1;
out:
  for (size_t i = 0; i < cs.n; i++) {
    free(cs.rows[i].hint);
    free(cs.rows[i].found_path);
  }
  free(cs.rows);
  return stale;
}

/* --------------------------------------------------------------------------------------------- */

static uint32_t faked_mode(const struct fake_inode *fi, uint32_t mode)
{
  if (fi->fields & FAKEFS_FAKE_TYPE) mode = (fi->mode & S_IFMT) | (mode & 07777);
  if (fi->fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE))
    mode = (mode & S_IFMT) | (fi->mode & 07777);
  return mode;
}

void fakefs_apply_to_stat(const struct fake_inode *fi, struct stat *st)
{
  if (fi->fields & FAKEFS_FAKE_UID) st->st_uid = fi->uid;
  if (fi->fields & FAKEFS_FAKE_GID) st->st_gid = fi->gid;
  st->st_mode = faked_mode(fi, st->st_mode);
  if (fi->fields & FAKEFS_FAKE_TYPE) {
    st->st_rdev = fi->rdev;
    st->st_size = 0; /* whatever was written into the placeholder */
    st->st_blocks = 0;
  }
}

void fakefs_apply_to_statx(const struct fake_inode *fi, struct statx *stx)
{
  if ((fi->fields & FAKEFS_FAKE_UID) && (stx->stx_mask & STATX_UID)) stx->stx_uid = fi->uid;
  if ((fi->fields & FAKEFS_FAKE_GID) && (stx->stx_mask & STATX_GID)) stx->stx_gid = fi->gid;
  uint32_t mode = stx->stx_mode;
  if (!(stx->stx_mask & STATX_TYPE) && (fi->fields & FAKEFS_FAKE_TYPE))
    mode = (mode & 07777) | (fi->mode & S_IFMT); /* keep consistent even if not asked */
  mode = faked_mode(fi, mode);
  if (!(stx->stx_mask & STATX_MODE)) mode = (mode & S_IFMT) | (stx->stx_mode & 07777);
  if (!(stx->stx_mask & STATX_TYPE)) mode = (mode & 07777) | (stx->stx_mode & S_IFMT);
  stx->stx_mode = (uint16_t)mode;
  if (fi->fields & FAKEFS_FAKE_TYPE) {
    stx->stx_rdev_major = major(fi->rdev);
    stx->stx_rdev_minor = minor(fi->rdev);
    if (stx->stx_mask & STATX_SIZE) stx->stx_size = 0;
    if (stx->stx_mask & STATX_BLOCKS) stx->stx_blocks = 0;
  }
}
