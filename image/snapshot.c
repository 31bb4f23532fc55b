/* Walking a rootfs into a sorted list of nodes, and snapshots (a kept walk) for layer diffs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

/* --- kept on disk --- */

/* The file: a magic line, the node count, then per node its numbers (little or big endian as
 * the machine is: a snapshot never leaves it) and its path and link target with lengths. */
static const char snapshot_magic[16] = "guise-snapshot1\n";

struct node_numbers {
  uint32_t mode, uid, gid, nlink;
  uint64_t size, ino, dev, rdev;
  int64_t mtime_ns, ctime_ns;
  uint64_t key_dev, key_ino;
  int64_t key_btime_ns;
  uint32_t key_type, fields, fake_uid, fake_gid, fake_mode, pad;
  uint64_t fake_rdev, xattr_hash;
  uint64_t path_len, link_len; /* link_len: UINT64_MAX when not a symlink */
};

/* A stdio stream of its own on fd (closing it leaves fd open). */
static FILE *stream_of(int fd, const char *mode)
{
  int dupfd = dup(fd);
  FILE *f = dupfd >= 0 ? fdopen(dupfd, mode) : NULL;
  if (f == NULL && dupfd >= 0) close(dupfd);
  return f;
}

int rootfs_snapshot_save(const struct rootfs_snapshot *s, int fd, guise_error **err)
{
  _cleanup_fclose_ FILE *f = stream_of(fd, "we");
  if (f == NULL) return guise_fail_errno(err, "writing the snapshot failed");
  uint64_t n = s->tree.n;
  fwrite(snapshot_magic, sizeof(snapshot_magic), 1, f);
  fwrite(&n, sizeof(n), 1, f);
  for (size_t i = 0; i < s->tree.n; i++) {
    const struct layer_node *x = &s->tree.nodes[i];
    struct node_numbers nn = {
        .mode = x->mode, .uid = x->uid, .gid = x->gid, .nlink = x->nlink,
        .size = x->size, .ino = x->ino, .dev = x->dev, .rdev = x->rdev,
        .mtime_ns = x->mtime_ns, .ctime_ns = x->ctime_ns,
        .key_dev = x->fake.key.dev, .key_ino = x->fake.key.ino,
        .key_btime_ns = x->fake.key.btime_ns, .key_type = x->fake.key.type,
        .fields = x->fake.fields, .fake_uid = x->fake.uid, .fake_gid = x->fake.gid,
        .fake_mode = x->fake.mode, .fake_rdev = x->fake.rdev, .xattr_hash = x->xattr_hash,
        .path_len = strlen(x->path), .link_len = x->link ? strlen(x->link) : UINT64_MAX,
    };
    fwrite(&nn, sizeof(nn), 1, f);
    fwrite(x->path, 1, nn.path_len, f);
    if (x->link != NULL) fwrite(x->link, 1, nn.link_len, f);
  }
  if (fflush(f) != 0 || ferror(f)) return guise_fail_errno(err, "writing the snapshot failed");
  return 0;
}

static char *read_string(FILE *f, uint64_t len)
{
  if (len > 1 << 20) return NULL; /* PATH_MAX-ish; anything larger is a broken file */
  char *str = malloc(len + 1);
  if (str == NULL) abort();
  if (fread(str, 1, len, f) != len) {
    free(str);
    return NULL;
  }
  str[len] = '\0';
  return str;
}

int rootfs_snapshot_load(int fd, struct rootfs_snapshot **out, guise_error **err)
{
  _cleanup_fclose_ FILE *f = stream_of(fd, "re");
  if (f == NULL) return guise_fail_errno(err, "reading the snapshot failed");
  char magic[sizeof(snapshot_magic)];
  uint64_t n;
  if (fread(magic, sizeof(magic), 1, f) != 1 || memcmp(magic, snapshot_magic, sizeof(magic)) != 0 ||
      fread(&n, sizeof(n), 1, f) != 1 || n > LAYER_DEFAULT_MAX_ENTRIES)
    return guise_fail(err, 0, "reading the snapshot failed: not a snapshot of this guise");
  struct rootfs_snapshot *s = calloc(1, sizeof(*s));
  if (s == NULL) abort();
  s->tree.nodes = n > 0 ? calloc(n, sizeof(struct layer_node)) : NULL;
  if (n > 0 && s->tree.nodes == NULL) abort();
  for (uint64_t i = 0; i < n; i++) {
    struct node_numbers nn;
    struct layer_node *x = &s->tree.nodes[i];
    if (fread(&nn, sizeof(nn), 1, f) != 1 || (x->path = read_string(f, nn.path_len)) == NULL ||
        (nn.link_len != UINT64_MAX && (x->link = read_string(f, nn.link_len)) == NULL)) {
      s->tree.n = i + 1;
      rootfs_snapshot_free(s);
      return guise_fail(err, 0, "reading the snapshot failed: it is truncated");
    }
    s->tree.n = i + 1;
    x->mode = nn.mode, x->uid = nn.uid, x->gid = nn.gid, x->nlink = nn.nlink;
    x->size = nn.size, x->ino = nn.ino, x->dev = nn.dev, x->rdev = nn.rdev;
    x->mtime_ns = nn.mtime_ns, x->ctime_ns = nn.ctime_ns;
    x->fake.key = (struct fakefs_key){.dev = nn.key_dev, .ino = nn.key_ino, .type = nn.key_type,
                                      .btime_ns = nn.key_btime_ns};
    x->fake.fields = nn.fields, x->fake.uid = nn.fake_uid, x->fake.gid = nn.fake_gid;
    x->fake.mode = nn.fake_mode, x->fake.rdev = nn.fake_rdev, x->xattr_hash = nn.xattr_hash;
    if (i > 0 && strcmp(s->tree.nodes[i - 1].path, x->path) >= 0) {
      rootfs_snapshot_free(s);
      return guise_fail(err, 0, "reading the snapshot failed: its paths are out of order");
    }
  }
  *out = s;
  return 0;
}
