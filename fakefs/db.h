/* The faked-state database: one SQLite file per rootfs (or image) holding what the build was
 * told but the disk could not keep — owners other than 0:0, device nodes (kept on disk as empty
 * regular placeholders), modes the disk refused, and privileged xattrs.  Schema:
 * docs/fakefs-schema.md.
 *
 * Rows exist only where the faked state differs from what is on disk, so most files have none.
 * A row is keyed by the inode (dev, ino), which makes renames and hard links free; the on-disk
 * file type and birth time stored with it detect a reused inode number (a row whose type or
 * birth time disagrees with the file now on disk is stale and is dropped, never applied).
 *
 * One writer (the supervisor) opens read-write; readers (`guise db`, the layer writer) open
 * read-only.  All rows are cached in memory at open, so a lookup — stat is called constantly —
 * is a hash-table probe and never a SQL query; writes go through to SQLite (WAL,
 * synchronous=NORMAL).  Not thread-safe: one thread per handle. */
#ifndef GUISE_FAKEFS_DB_H
#define GUISE_FAKEFS_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "util/error.h"

struct fakefs_db;

/* Identity of an on-disk inode.  dev/ino/type come from a stat of the real file (host view);
 * btime_ns is the statx birth time in ns since the epoch, or FAKEFS_BTIME_UNKNOWN when the
 * filesystem does not report one (then only the type guards against inode reuse — ctime is
 * NOT used as a fallback because chmod, chown, link and rename all change it). */
#define FAKEFS_BTIME_UNKNOWN INT64_MIN
struct fakefs_key {
  uint64_t dev;
  uint64_t ino;
  uint32_t type; /* S_IFMT bits of the file on disk (S_IFREG for a device placeholder) */
  int64_t btime_ns;
};

/* Which fields of a fake_inode override the disk. */
#define FAKEFS_FAKE_UID 0x01
#define FAKEFS_FAKE_GID 0x02
#define FAKEFS_FAKE_MODE 0x04   /* permission bits (07777) of mode */
#define FAKEFS_FAKE_TYPE 0x08   /* S_IFMT of mode and rdev: a faked device node */
#define FAKEFS_FAKE_XATTRS 0x10 /* the inode has rows in the xattrs table */

struct fake_inode {
  struct fakefs_key key;
  uint32_t fields; /* FAKEFS_FAKE_* */
  uint32_t uid;    /* container view (what the build was told) */
  uint32_t gid;
  uint32_t mode; /* full st_mode: S_IFMT | 07777, meaningful per the flags */
  uint64_t rdev; /* with FAKEFS_FAKE_TYPE */
};

/* --- opening --- */

#define FAKEFS_DB_READONLY 0x1 /* readers: `guise db`, the layer writer */
#define FAKEFS_DB_CREATE 0x2   /* create the file if missing (read-write only) */

/* Open (and migrate forward to the current schema version) the database at path. */
int fakefs_db_open(const char *path, int flags, struct fakefs_db **out, guise_error **err);
/* A database in memory that lives as long as the handle (`guise fake`'s session, like
 * fakeroot's): empty, or a copy of the database file load_from (which is not changed). */
int fakefs_db_open_session(const char *load_from, struct fakefs_db **out, guise_error **err);
/* Write the whole database (pending batch included) to the file path as a SQLite database,
 * atomically: a temp file beside it renamed over it. */
int fakefs_db_save(struct fakefs_db *db, const char *path, guise_error **err);
void fakefs_db_close(struct fakefs_db *db);
static inline void fakefs_db_closep(struct fakefs_db **db)
{
  if (*db != NULL) fakefs_db_close(*db);
}
#define _cleanup_fakefs_db_ __attribute__((cleanup(fakefs_db_closep)))

/* The default database of a rootfs: "<rootfs without trailing slashes>.fakefs.db", next to the
 * rootfs directory so the database never appears inside the image. */
int fakefs_db_path_for_rootfs(const char *rootfs, char **out, guise_error **err);

/* For a rootfs a user names (which must exist): its real path (*real, may be NULL) and the
 * database next to it, so that every command finds the same one whatever symlink it was named
 * through.  Both are malloc'd. */
int fakefs_db_path_for_named_rootfs(const char *rootfs, char **real, char **db_path,
                                    guise_error **err);

/* The schema version this build writes (meta.schema_version). */
int fakefs_db_schema_version(void);

/* Rows are keyed by st_dev, which can change between boots (loop devices, anonymous devs).
 * Call with the st_dev of the rootfs directory after opening read-write: if the database was
 * last used with another rootfs device, every row of that device is moved to dev. */
int fakefs_db_adopt_dev(struct fakefs_db *db, uint64_t dev, guise_error **err);

/* Drop every row (and its xattrs) of a device other than keep_dev: state faked on a
 * container's own mounts (its /dev, tmpfs) is gone with the container. */
int fakefs_db_forget_other_devs(struct fakefs_db *db, uint64_t keep_dev, guise_error **err);

/* Group many writes into one transaction (optional; every write is atomic on its own). */
int fakefs_db_begin(struct fakefs_db *db, guise_error **err);
int fakefs_db_commit(struct fakefs_db *db, guise_error **err);
/* Abandon the transaction; the in-memory rows are reloaded from SQLite. */
void fakefs_db_rollback(struct fakefs_db *db);

/* Batching (the supervisor's mode): writes accumulate in one SQLite transaction until
 * fakefs_db_flush commits them (the supervisor does so at most TRACER_DEFER_MS after the first,
 * and on close).  Cuts a faked chown's syscalls by half; the price: a supervisor killed with
 * SIGKILL loses the last moments of records (its container dies with it), and other readers
 * of the database see them that much later.  begin/commit/rollback keep their meaning. */
void fakefs_db_set_batching(struct fakefs_db *db, bool on);
bool fakefs_db_batch_pending(const struct fakefs_db *db);
/* Commit the batch (no-op when none is open or a begin is unfinished). */
int fakefs_db_flush(struct fakefs_db *db, guise_error **err);

/* --- identity --- */

/* Fill key from a statx result that includes STATX_TYPE|STATX_INO (and STATX_BTIME if the
 * filesystem has it). */
void fakefs_key_from_statx(const struct statx *stx, struct fakefs_key *key);
/* statx the file fd refers to (AT_EMPTY_PATH; O_PATH fds allowed) and fill key and, if not
 * NULL, *stx (STATX_BASIC_STATS | STATX_BTIME requested). */
int fakefs_key_from_fd(int fd, struct fakefs_key *key, struct statx *stx, guise_error **err);

/* --- lookups (memory only) --- */

/* 1 and *out when the inode has a row, 0 when not.  A row whose type or birth time disagrees
 * with key is stale (inode reused behind our back): it is dropped (read-write handles; logged
 * in the change log as "stale") and 0 is returned.  -1 only when dropping it failed. */
int fakefs_db_lookup(struct fakefs_db *db, const struct fakefs_key *key, struct fake_inode *out,
                     guise_error **err);
/* Number of rows (inodes with faked state). */
size_t fakefs_db_count(const struct fakefs_db *db);

/* --- writes --- */

/* Store *fi as the complete faked state of fi->key (replacing any row), or delete the row when
 * fi->fields is 0.  path_hint (may be NULL: keep the old one) is for humans only. */
int fakefs_db_put(struct fakefs_db *db, const struct fake_inode *fi, const char *path_hint,
                  guise_error **err);
/* Convenience read-modify-write on top of lookup + put.  uid/gid (uint32_t)-1 = unchanged. */
int fakefs_db_set_owner(struct fakefs_db *db, const struct fakefs_key *key, uint32_t uid,
                        uint32_t gid, const char *path_hint, guise_error **err);
/* Fake the permission bits (mode & 07777). */
int fakefs_db_set_mode(struct fakefs_db *db, const struct fakefs_key *key, uint32_t mode,
                       const char *path_hint, guise_error **err);
/* Fake a device node: mode = S_IFCHR|S_IFBLK plus permission bits. */
int fakefs_db_set_device(struct fakefs_db *db, const struct fakefs_key *key, uint32_t mode,
                         uint64_t rdev, uint32_t uid, uint32_t gid, const char *path_hint,
                         guise_error **err);
/* The inode is gone (its last link was unlinked): drop its row and xattrs.  No-op without one. */
int fakefs_db_forget(struct fakefs_db *db, const struct fakefs_key *key, guise_error **err);
/* Update the human-readable path of an inode that has a row (no-op otherwise). */
int fakefs_db_set_path_hint(struct fakefs_db *db, const struct fakefs_key *key, const char *path,
                            guise_error **err);
/* A directory was renamed: rewrite the path hints of rows under old_dir ("/a/b") to lie under
 * new_dir.  Returns the number of rows changed. */
int fakefs_db_move_hints(struct fakefs_db *db, const char *old_dir, const char *new_dir,
                         guise_error **err);
/* The path hint of a row (malloc'd in *out, NULL when none).  Queries SQLite. */
int fakefs_db_get_path_hint(struct fakefs_db *db, const struct fakefs_key *key, char **out,
                            guise_error **err);

/* --- xattrs faked in the database (security.capability, security.selinux, trusted.*,
 * system.posix_acl_*) --- */

/* 1 with a malloc'd copy in *value (length *len) when the inode has the xattr, 0 when not. */
int fakefs_db_xattr_get(struct fakefs_db *db, const struct fakefs_key *key, const char *name,
                        void **value, size_t *len, guise_error **err);
/* flags: 0, XATTR_CREATE (fails with errnum EEXIST) or XATTR_REPLACE (errnum ENODATA). */
int fakefs_db_xattr_set(struct fakefs_db *db, const struct fakefs_key *key, const char *name,
                        const void *value, size_t len, int flags, const char *path_hint,
                        guise_error **err);
/* 1 when removed, 0 when the inode did not have it. */
int fakefs_db_xattr_remove(struct fakefs_db *db, const struct fakefs_key *key, const char *name,
                           guise_error **err);
/* All names as a NUL-separated list (the listxattr format) in a malloc'd *names of *len bytes
 * (NULL/0 when none). */
int fakefs_db_xattr_list(struct fakefs_db *db, const struct fakefs_key *key, char **names,
                         size_t *len, guise_error **err);

/* --- iteration (ls, export, the layer writer) --- */

/* Call fn for every row, ordered by path hint; a non-zero return from fn stops and is
 * returned. */
typedef int (*fakefs_db_row_fn)(void *ud, const struct fake_inode *fi, const char *path_hint);
int fakefs_db_foreach(struct fakefs_db *db, fakefs_db_row_fn fn, void *ud, guise_error **err);
typedef int (*fakefs_db_xattr_fn)(void *ud, const char *name, const void *value, size_t len);
int fakefs_db_xattr_foreach(struct fakefs_db *db, const struct fakefs_key *key,
                            fakefs_db_xattr_fn fn, void *ud, guise_error **err);

/* --- change log (for `guise db why`), capped at FAKEFS_CHANGES_MAX rows --- */

#define FAKEFS_CHANGES_MAX 10000
struct fakefs_change {
  int64_t time_ns; /* 0: now */
  uint64_t dev, ino;
  const char *path;    /* as the tracee named it, may be NULL */
  pid_t pid;           /* calling thread */
  const char *exe;     /* its executable, may be NULL */
  const char *syscall; /* "fchownat" */
  const char *what;    /* "owner 0:0 -> 42:42" */
};
int fakefs_db_log_change(struct fakefs_db *db, const struct fakefs_change *c, guise_error **err);
/* Newest first, changes of inode (dev, ino) or, when path is not NULL, with that path. */
typedef int (*fakefs_db_change_fn)(void *ud, const struct fakefs_change *c);
int fakefs_db_changes_for(struct fakefs_db *db, uint64_t dev, uint64_t ino, const char *path,
                          fakefs_db_change_fn fn, void *ud, guise_error **err);

/* --- consistency --- */

enum fakefs_check_problem {
  FAKEFS_CHECK_GONE,   /* no file in the rootfs has the inode any more */
  FAKEFS_CHECK_REUSED, /* the inode is there but its type or birth time differ */
  FAKEFS_CHECK_MOVED,  /* the row is right but its path hint is outdated (fixed with fix) */
};
typedef void (*fakefs_check_report_fn)(void *ud, const struct fake_inode *fi, const char *path_hint,
                                       enum fakefs_check_problem problem, const char *now_path);
/* Verify every row against the rootfs (a directory fd): first its path hint, then a walk of the
 * rootfs for inodes not found there.  With fix, stale rows are dropped and outdated path hints
 * updated (needs a read-write handle).  Returns the number of stale rows (MOVED not counted),
 * -1 on error. */
int fakefs_db_check(struct fakefs_db *db, int rootfs_fd, bool fix, fakefs_check_report_fn report,
                    void *ud, guise_error **err);

/* --- presenting faked state --- */

/* Overlay fi on a stat result that already shows the container's view (owner mapped). */
void fakefs_apply_to_stat(const struct fake_inode *fi, struct stat *st);
/* Same for statx; only fields in stx->stx_mask are touched. */
void fakefs_apply_to_statx(const struct fake_inode *fi, struct statx *stx);

#endif
