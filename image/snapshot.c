/* Walking a rootfs into a sorted list of nodes, and snapshots (a kept walk) for layer diffs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "image/layer.h"
#include "image/layer_internal.h"
#include "util/cleanup.h"

struct scan {
  struct fakefs_db *db;
  uint64_t root_dev;
  struct layer_tree *t;
  size_t cap;
};

static int xattr_hash_fn(void *ud, const char *name, const void *value, size_t len)
{
  /* Order-independent: a sum of per-xattr FNV-1a hashes. */
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = name; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  h = (h ^ 0xff) * 1099511628211ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ ((const unsigned char *)value)[i]) * 1099511628211ULL;
  *(uint64_t *)ud += h | 1;
  return 0;
}

static int scan_dir(struct scan *sc, int dirfd, const char *prefix, guise_error **err)
{
  int fd = dup(dirfd);
  if (fd < 0) return guise_fail_errno(err, "dup failed");
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return guise_fail_errno(err, "reading directory /%s failed", prefix);
  }
  struct dirent *de;
  while ((errno = 0, de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    struct statx stx;
    if (statx(dirfd, de->d_name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) < 0) {
      if (errno == ENOENT) continue;
      return guise_fail_errno(err, "stat of /%s%s%s failed", prefix, *prefix ? "/" : "",
                              de->d_name);
    }
    sc->t->nodes = layer_grow(sc->t->nodes, sc->t->n, &sc->cap, sizeof(struct layer_node));
    struct layer_node *n = &sc->t->nodes[sc->t->n++];
    memset(n, 0, sizeof(*n));
    if (asprintf(&n->path, "%s%s%s", prefix, *prefix ? "/" : "", de->d_name) < 0) abort();
    n->mode = stx.stx_mode;
    n->uid = stx.stx_uid;
    n->gid = stx.stx_gid;
    n->nlink = stx.stx_nlink;
    n->size = stx.stx_size;
    n->ino = stx.stx_ino;
    n->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    n->rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
    n->mtime_ns = (int64_t)stx.stx_mtime.tv_sec * 1000000000 + stx.stx_mtime.tv_nsec;
    n->ctime_ns = (int64_t)stx.stx_ctime.tv_sec * 1000000000 + stx.stx_ctime.tv_nsec;
    fakefs_key_from_statx(&stx, &n->fake.key);
    if (sc->db != NULL) {
      struct fake_inode fi;
      int r = fakefs_db_lookup(sc->db, &n->fake.key, &fi, err);
      if (r < 0) return -1;
      if (r > 0) {
        n->fake = fi;
        if ((fi.fields & FAKEFS_FAKE_XATTRS) &&
            fakefs_db_xattr_foreach(sc->db, &fi.key, xattr_hash_fn, &n->xattr_hash, err) < 0)
          return -1;
      }
    }
    if (S_ISLNK(stx.stx_mode)) {
      size_t cap = stx.stx_size > 0 ? stx.stx_size + 1 : 256;
      for (;;) {
        n->link = malloc(cap);
        if (n->link == NULL) abort();
        ssize_t len = readlinkat(dirfd, de->d_name, n->link, cap);
        if (len < 0) return guise_fail_errno(err, "readlink of /%s failed", n->path);
        if ((size_t)len < cap) {
          n->link[len] = '\0';
          break;
        }
        free(n->link);
        cap *= 2;
      }
    } else if (S_ISDIR(stx.stx_mode) && n->dev == sc->root_dev) {
      _cleanup_close_ int sub =
          openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) return guise_fail_errno(err, "opening directory /%s failed", n->path);
      /* n may move when the array grows: copy the path first. */
      _cleanup_free_ char *path = strdup(n->path);
      if (path == NULL) abort();
      if (scan_dir(sc, sub, path, err) < 0) return -1;
    }
  }
  if (errno != 0) return guise_fail_errno(err, "reading directory /%s failed", prefix);
  return 0;
}

static int node_cmp(const void *a, const void *b)
{
  return strcmp(((const struct layer_node *)a)->path, ((const struct layer_node *)b)->path);
}

void layer_tree_free(struct layer_tree *t)
{
  for (size_t i = 0; i < t->n; i++) {
    free(t->nodes[i].path);
    free(t->nodes[i].link);
  }
  free(t->nodes);
  t->nodes = NULL;
  t->n = 0;
}

int layer_tree_scan(int rootfd, struct fakefs_db *db, struct layer_tree *out, guise_error **err)
{
  *out = (struct layer_tree){0};
  struct stat st;
  _cleanup_close_ int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) < 0) return guise_fail_errno(err, "opening the rootfs failed");
  struct scan sc = {.db = db, .root_dev = st.st_dev, .t = out};
  if (scan_dir(&sc, fd, "", err) < 0) {
    layer_tree_free(out);
    return guise_error_prefix(err, "scanning the rootfs");
  }
  if (out->n > 0) /* an empty rootfs (FROM scratch) has no nodes array at all */
    qsort(out->nodes, out->n, sizeof(struct layer_node), node_cmp);
  return 0;
}

const struct layer_node *layer_tree_find(const struct layer_tree *t, const char *path)
{
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(t->nodes[mid].path, path);
    if (c == 0) return &t->nodes[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

int rootfs_snapshot_take(int rootfd, struct fakefs_db *db, struct rootfs_snapshot **out,
                         guise_error **err)
{
  struct rootfs_snapshot *s = calloc(1, sizeof(*s));
  if (s == NULL) abort();
  if (layer_tree_scan(rootfd, db, &s->tree, err) < 0) {
    free(s);
    return -1;
  }
  *out = s;
  return 0;
}

void rootfs_snapshot_free(struct rootfs_snapshot *s)
{
  if (s == NULL) return;
  layer_tree_free(&s->tree);
  free(s);
}

size_t rootfs_snapshot_count(const struct rootfs_snapshot *s)
{
  return s->tree.n;
}
