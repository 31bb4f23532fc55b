/* OCI layers: applying a layer tar to a rootfs owned by an unprivileged user, and writing one,
 * with the metadata the user cannot put on disk (owners, device nodes, privileged xattrs, modes
 * the kernel refused) kept in the rootfs's fakefs database.
 *
 * On-disk conventions of an applied rootfs (what the writer reads back):
 * - every file is owned by the user; an owner other than 0:0 is a DB row (FAKEFS_FAKE_UID/GID);
 * - a char/block device is an empty regular file with the entry's permission bits plus a DB row
 *   (FAKEFS_FAKE_TYPE); FIFOs are real;
 * - the user must be able to read every file and traverse and write every directory, so a file
 *   gets at least u+r and a directory u+rwx on disk; the layer's mode is then a DB row
 *   (FAKEFS_FAKE_MODE), as is a setuid/setgid/sticky bit the kernel refused;
 * - security.*, trusted.* and system.* xattrs (file capabilities, ACLs, SELinux labels) live in
 *   the DB byte for byte; user.* xattrs are real. */
#ifndef GUISE_IMAGE_LAYER_H
#define GUISE_IMAGE_LAYER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fakefs/db.h"
#include "util/error.h"

/* Non-fatal notes (an xattr the filesystem does not support, an unmappable owner).  Only cli/
 * prints, so library code hands them to the caller. */
typedef void (*layer_warn_fn)(void *ud, const char *msg);

#define LAYER_DEFAULT_MAX_TOTAL_BYTES (64ULL << 30)
#define LAYER_DEFAULT_MAX_ENTRIES 10000000ULL
#define LAYER_DEFAULT_MAX_FILE_BYTES (16ULL << 30)

struct layer_limits {
  uint64_t max_total_bytes; /* uncompressed file bytes in one layer (size bombs); 0 = default */
  uint64_t max_entries;     /* entries in one layer; 0 = default */
  uint64_t max_file_bytes;  /* one file; 0 = default */
};

struct layer_apply_options {
  struct layer_limits limits;
  /* Any compression libarchive reads (xz, bzip2, lz4, ...), for an archive that is not an image
   * layer (the builder's ADD); layers are gzip, zstd or uncompressed, as OCI says. */
  bool any_compression;
  layer_warn_fn warn; /* may be NULL */
  void *warn_ud;
};

/* Apply the layer in file layer_path (gzip, zstd or uncompressed tar, detected from content)
 * to the rootfs directory rootfd (opts may be NULL).  Whiteouts and opaque directories remove
 * lower content (never content of the same layer).  Later duplicates win, except that a
 * directory over a directory only replaces its metadata.
 *
 * Paths: a leading "/" is stripped and "." and ".." are resolved lexically, as containerd,
 * docker and umoci do; a ".." that would climb above the root is an error.  Symlinks in the
 * parent directories (planted by earlier entries or layers) are followed inside the root
 * (RESOLVE_IN_ROOT: "evil -> /etc" then "evil/passwd" writes <root>/etc/passwd — the OCI
 * semantics).  Hard-link targets are resolved the same way and must be non-directories on the
 * rootfs.  Nothing is ever written outside rootfd.
 *
 * Errors name `what` (e.g. "layer sha256:…") and the entry:
 *   layer sha256:…: entry "../../etc/passwd": path leaves the root filesystem
 * On error the rootfs is left partially applied (the caller discards it). */
int layer_apply(int rootfd, struct fakefs_db *db, const char *layer_path, const char *what,
                const struct layer_apply_options *opts, guise_error **err);

enum layer_compression { LAYER_GZIP, LAYER_ZSTD, LAYER_UNCOMPRESSED };

/* "gzip", "zstd", "none" (also "uncompressed") → 0, else -1. */
int layer_compression_parse(const char *s, enum layer_compression *out);

struct layer_write_options {
  enum layer_compression compression;
  int level;                 /* compression level; 0 = default (gzip 6, zstd 3) */
  int threads;               /* compression threads; 0 = number of online CPUs */
  int64_t source_date_epoch; /* clamp mtimes to it when >= 0 (reproducible layers) */
  uid_t host_uid;            /* files owned by these host ids are root's in the image */
  gid_t host_gid;
  layer_warn_fn warn; /* may be NULL */
  void *warn_ud;
};

/* What a layer_write produced. */
struct layer_digests {
  char diff_id[72]; /* "sha256:<hex>" of the uncompressed tar */
  char digest[72];  /* "sha256:<hex>" of the compressed blob */
  uint64_t size;    /* compressed bytes */
  uint64_t entries; /* tar entries written, whiteouts included */
};

/* A record of a rootfs's state, to diff against later (what a RUN step changed): per path the
 * type, mode, size, mtime, ctime, inode, symlink target and the faked state from the DB (row
 * and a hash of its xattrs), so that a faked chown alone shows up as a change. */
struct rootfs_snapshot;
int rootfs_snapshot_take(int rootfd, struct fakefs_db *db, struct rootfs_snapshot **out,
                         guise_error **err);
void rootfs_snapshot_free(struct rootfs_snapshot *s);
size_t rootfs_snapshot_count(const struct rootfs_snapshot *s);
/* Keep a snapshot in a file (fd, written from its offset) and read it back, to diff against
 * in a later process (what a container changed since it was made).  Only for this machine: a
 * snapshot names inodes. */
int rootfs_snapshot_save(const struct rootfs_snapshot *s, int fd, guise_error **err);
int rootfs_snapshot_load(int fd, struct rootfs_snapshot **out, guise_error **err);
static inline void rootfs_snapshot_freep(struct rootfs_snapshot **s)
{
  if (*s != NULL) rootfs_snapshot_free(*s);
}
#define _cleanup_rootfs_snapshot_ __attribute__((cleanup(rootfs_snapshot_freep)))

/* Write a layer tar of rootfd to out_fd: everything (base == NULL) or only what differs from
 * base, with a ".wh.NAME" whiteout for each deleted path (one for a deleted directory, not for
 * its children).  Entries sorted bytewise by path; PAX headers carrying the faked uid, gid,
 * mode, device numbers and xattrs (SCHILY.xattr.<raw name>), empty uname/gname, no atime or
 * ctime; hard links as links to the first path (in sorted order) of the inode within this
 * layer.  db may be NULL (no faked state). */
int layer_write(int rootfd, struct fakefs_db *db, const struct rootfs_snapshot *base, int out_fd,
                const struct layer_write_options *opts, struct layer_digests *digests,
                guise_error **err);

#endif
