/* Shared by the layer code in image/ (apply, snapshot, write); not a public interface. */
#ifndef GUISE_IMAGE_LAYER_INTERNAL_H
#define GUISE_IMAGE_LAYER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fakefs/db.h"
#include "util/error.h"

/* Room for element n of a malloc'd array of *cap elements (grown by doubling; aborts when out
 * of memory, like the rest of the layer code). */
static inline void *layer_grow(void *v, size_t n, size_t *cap, size_t elem)
{
  if (n < *cap) return v;
  *cap = *cap ? *cap * 2 : 64;
  v = realloc(v, *cap * elem);
  if (v == NULL) abort();
  return v;
}

/* Normalise a tar entry name lexically ("" = the root); -1 when ".." climbs above the root. */
int layer_clean_path(const char *in, char **out);

/* openat2(2) with O_CLOEXEC, retried on EAGAIN. */
int layer_openat2(int dirfd, const char *path, int flags, uint64_t resolve);

/* One file of a rootfs as the walker saw it (host view) plus its faked state. */
struct layer_node {
  char *path; /* relative to the root, no leading "/" or "./" */
  char *link; /* symlink target, else NULL */
  uint32_t mode, uid, gid, nlink;
  uint64_t size, ino, dev, rdev;
  int64_t mtime_ns, ctime_ns;
  struct fake_inode fake; /* fake.key always filled; fields 0 without a DB row */
  uint64_t xattr_hash;    /* of the DB xattrs, 0 without */
};

/* Every file below the root (not the root itself), sorted bytewise by path.  Does not descend
 * into other filesystems (mount points). */
struct layer_tree {
  struct layer_node *nodes;
  size_t n;
};
int layer_tree_scan(int rootfd, struct fakefs_db *db, struct layer_tree *out, guise_error **err);
void layer_tree_free(struct layer_tree *t);
/* The node of path, or NULL (binary search). */
const struct layer_node *layer_tree_find(const struct layer_tree *t, const char *path);

/* The snapshot is a scanned tree. */
struct rootfs_snapshot {
  struct layer_tree tree;
};

#endif
