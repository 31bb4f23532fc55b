/* Applying an OCI layer tar to a rootfs owned by an unprivileged user (see image/layer.h).
 *
 * Decompression (libarchive's gzip/zstd filters behind its "raw" format) runs in a thread that
 * feeds the tar reader through a pipe, so that inflating and writing files use two cores like
 * `tar -xzf` (where gzip is a separate process). */
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "image/layer_internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define READ_BLOCK (1 << 20)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* --- a set of strings (paths this layer created, so whiteouts spare them) --- */

struct strset {
  char **slots;
  size_t cap, n;
};

static uint64_t hash_str(const char *s, size_t len)
{
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static bool strset_find(const struct strset *set, const char *s, size_t len, size_t *slot)
{
  if (set->cap == 0) return false;
  size_t i = hash_str(s, len) & (set->cap - 1);
  while (set->slots[i] != NULL) {
    if (strncmp(set->slots[i], s, len) == 0 && set->slots[i][len] == '\0') {
      *slot = i;
      return true;
    }
    i = (i + 1) & (set->cap - 1);
  }
  *slot = i;
  return false;
}

static bool strset_has(const struct strset *set, const char *s)
{
  size_t slot;
  return strset_find(set, s, strlen(s), &slot);
}

/* Add the first len bytes of s; true when it was new. */
static bool strset_add(struct strset *set, const char *s, size_t len)
{
  if ((set->n + 1) * 2 > set->cap) {
    size_t ncap = set->cap ? set->cap * 2 : 1024;
    char **old = set->slots;
    size_t ocap = set->cap;
    set->slots = calloc(ncap, sizeof(char *));
    if (set->slots == NULL) abort();
    set->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
      if (old[i] != NULL) {
        size_t slot;
        strset_find(set, old[i], strlen(old[i]), &slot);
        set->slots[slot] = old[i];
      }
    free(old);
  }
  size_t slot;
  if (strset_find(set, s, len, &slot)) return false;
  set->slots[slot] = strndup(s, len);
  if (set->slots[slot] == NULL) abort();
  set->n++;
  return true;
}

static void strset_free(struct strset *set)
{
  for (size_t i = 0; i < set->cap; i++)
    free(set->slots[i]);
  free(set->slots);
}

/* --- path handling --- */

/* Normalise a tar entry name lexically: strip leading "/", drop "." and empty components,
 * resolve ".." against the components before it.  "" is the root.  -1 when ".." would climb
 * above the root. */
int layer_clean_path(const char *in, char **out)
{
  size_t len = strlen(in);
  char *buf = malloc(len + 1);
  if (buf == NULL) abort();
  size_t o = 0;
  const char *p = in;
  while (*p != '\0') {
    while (*p == '/')
      p++;
    if (*p == '\0') break;
    const char *end = strchrnul(p, '/');
    size_t n = (size_t)(end - p);
    if (n == 1 && p[0] == '.') {
      /* nothing */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (o == 0) {
        free(buf);
        return -1;
      }
      while (o > 0 && buf[o - 1] != '/')
        o--;
      if (o > 0) o--; /* the separator */
    } else {
      if (o > 0) buf[o++] = '/';
      memcpy(buf + o, p, n);
      o += n;
    }
    p = end;
  }
  buf[o] = '\0';
  *out = buf;
  return 0;
}

int layer_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC, .resolve = resolve};
  int fd;
  do
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

static int open_in_root(int rootfd, const char *path, int flags)
{
  return layer_openat2(rootfd, *path ? path : ".", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

/* --- the apply context --- */

struct deferred_dir {
  char *path;
  struct timespec times[2];
};

struct decompressor {
  pthread_t thread;
  bool started;
  int in_fd;            /* the layer file */
  int pipe_w;           /* the thread writes the tar stream here and closes it */
  bool any_compression; /* every filter libarchive has, not only OCI's gzip and zstd */
  char *error;          /* the thread's failure, read after join */
};

struct apply {
  int rootfd;
  struct fakefs_db *db;
  const char *what;
  struct layer_limits limits;
  layer_warn_fn warn;
  void *warn_ud;
  uint64_t total_bytes, entries;
  const char *entry; /* raw name of the current entry, for messages */

  char *parent_path; /* one-entry cache of the last parent directory */
  int parent_fd;
  bool parent_stale; /* a directory was removed: reopen at the next entry */

  struct strset touched;
  struct deferred_dir *dirs;
  size_t ndirs, capdirs;
  struct decompressor dec;
  bool read_failed; /* the tar reader failed: a decompression error explains it better */
  char *where;      /* after a failure: 'entry "x"' or 'after entry "x"', for that message */
};

static int entry_fail(struct apply *ap, guise_error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int entry_fail(struct apply *ap, guise_error **err, int errnum, const char *fmt, ...)
{
  _cleanup_free_ char *msg = NULL;
  va_list va;
  va_start(va, fmt);
  if (vasprintf(&msg, fmt, va) < 0) abort();
  va_end(va);
  if (ap->entry != NULL)
    return guise_fail(err, errnum, "%s: entry \"%s\": %s", ap->what, ap->entry, msg);
  return guise_fail(err, errnum, "%s: %s", ap->what, msg);
}

static void warnf(struct apply *ap, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct apply *ap, const char *fmt, ...)
{
  if (ap->warn == NULL) return;
  _cleanup_free_ char *msg = NULL, *full = NULL;
  va_list va;
  va_start(va, fmt);
  if (vasprintf(&msg, fmt, va) < 0) abort();
  va_end(va);
  if (asprintf(&full, "%s: entry \"%s\": %s", ap->what, ap->entry ? ap->entry : "", msg) < 0)
    abort();
  ap->warn(ap->warn_ud, full);
}

static void invalidate_parent(struct apply *ap)
{
  ap->parent_stale = false;
  free(ap->parent_path);
  ap->parent_path = NULL;
  if (ap->parent_fd >= 0) close(ap->parent_fd);
  ap->parent_fd = -1;
}

static bool db_has_rows(struct apply *ap)
{
  return ap->db != NULL && fakefs_db_count(ap->db) > 0;
}

/* Drop the DB row of (dirfd, name) when unlinking it removes the inode's last link — before
 * the inode number can be reused by what we create next. */
static int forget_before_unlink(struct apply *ap, int dirfd, const char *name,
                                const struct statx *known, guise_error **err)
{
  if (!db_has_rows(ap)) return 0;
  struct statx stx;
  if (known == NULL || !(known->stx_mask & STATX_BTIME)) {
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
      return errno == ENOENT ? 0 : entry_fail(ap, err, errno, "stat of %s failed", name);
    known = &stx;
  }
  if (!S_ISDIR(known->stx_mode) && known->stx_nlink > 1) return 0;
  struct fakefs_key key;
  fakefs_key_from_statx(known, &key);
  return fakefs_db_forget(ap->db, &key, err);
}

/* Remove dirfd/name whatever it is, a directory with its content. */
static int remove_tree(struct apply *ap, int pfd, const char *name, guise_error **err)
{
  struct statx stx;
  if (statx(pfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
    return errno == ENOENT ? 0 : entry_fail(ap, err, errno, "stat of %s failed", name);
  if (S_ISDIR(stx.stx_mode)) {
    ap->parent_stale = true;
    if ((stx.stx_mode & S_IRWXU) != S_IRWXU)
      if (fchmodat(pfd, name, (stx.stx_mode & 07777) | S_IRWXU, 0) < 0) {
        /* opening it below reports the problem */
      }
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return entry_fail(ap, err, errno, "opening %s to remove it failed", name);
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (d == NULL) {
      close(fd);
      return entry_fail(ap, err, errno, "reading directory %s failed", name);
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
      if (remove_tree(ap, dirfd(d), de->d_name, err) < 0) return -1;
    }
    if (errno != 0) return entry_fail(ap, err, errno, "reading directory %s failed", name);
  }
  if (forget_before_unlink(ap, pfd, name, &stx, err) < 0) return -1;
  if (unlinkat(pfd, name, S_ISDIR(stx.stx_mode) ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
    return entry_fail(ap, err, errno, "removing %s failed", name);
  return 0;
}

/* Remember path and its ancestors as created by this layer. */
static void mark_touched(struct apply *ap, const char *path)
{
  size_t len = strlen(path);
  while (len > 0) {
    if (!strset_add(&ap->touched, path, len)) return; /* its ancestors are in already */
    while (len > 0 && path[len - 1] != '/')
      len--;
    if (len > 0) len--;
  }
}

/* Expand the symlinks of path inside the root, as RESOLVE_IN_ROOT would, down to the first
 * component that does not exist: the result names the directories to create ("evil -> /etc"
 * then "evil/x" creates <root>/etc).  Like securejoin (umoci) and containerd's MkdirAll. */
static int resolve_missing(struct apply *ap, const char *path, char **out, guise_error **err)
{
  size_t cap = strlen(path) + 1;
  _cleanup_free_ char *done = calloc(1, cap); /* resolved, symlink-free prefix */
  _cleanup_free_ char *rest = strdup(path);
  if (done == NULL || rest == NULL) abort();
  size_t dlen = 0;
  int links = 0;
  bool missing = false;
  while (*rest != '\0') {
    char *p = rest;
    while (*p == '/')
      p++;
    char *end = strchrnul(p, '/');
    size_t n = (size_t)(end - p);
    char comp[NAME_MAX + 1];
    if (n == 0) break;
    if (n > NAME_MAX) return entry_fail(ap, err, ENAMETOOLONG, "path component too long");
    memcpy(comp, p, n);
    comp[n] = '\0';
    memmove(rest, end, strlen(end) + 1);
    if (strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      while (dlen > 0 && done[dlen - 1] != '/')
        dlen--;
      if (dlen > 0) dlen--;
      done[dlen] = '\0';
      continue;
    }
    size_t old = dlen;
    if (dlen + n + 2 > cap) {
      cap = (dlen + n + 2) * 2;
      done = realloc(done, cap);
      if (done == NULL) abort();
    }
    if (dlen > 0) done[dlen++] = '/';
    memcpy(done + dlen, comp, n + 1);
    dlen += n;
    if (missing) continue;
    struct stat st;
    if (fstatat(ap->rootfd, done, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) {
        return entry_fail(ap, err, errno, "resolving parent directory /%s failed", path);
      }
      missing = true;
      continue;
    }
    if (!S_ISLNK(st.st_mode)) continue;
    if (++links > 40) {
      return entry_fail(ap, err, ELOOP, "resolving parent directory /%s failed", path);
    }
    char target[PATH_MAX];
    ssize_t tl = readlinkat(ap->rootfd, done, target, sizeof(target) - 1);
    if (tl < 0) {
      return entry_fail(ap, err, errno, "reading symlink /%s failed", done);
    }
    target[tl] = '\0';
    dlen = target[0] == '/' ? 0 : old;
    done[dlen] = '\0';
    char *nrest = NULL;
    if (asprintf(&nrest, "%s/%s", target, rest) < 0) abort();
    free(rest);
    rest = nrest;
  }
  *out = steal_ptr(&done);
  return 0;
}

/* An fd of the directory path (relative, "" = root), creating missing directories (0755,
 * owned by root) when create; -2 when it is missing and not create.  The fd belongs to the
 * one-entry cache and stays valid until the next call. */
static int parent_dir(struct apply *ap, const char *path, bool create, guise_error **err)
{
  if (ap->parent_stale) invalidate_parent(ap);
  if (ap->parent_path != NULL && strcmp(ap->parent_path, path) == 0) return ap->parent_fd;
  invalidate_parent(ap);
  int fd = open_in_root(ap->rootfd, path, O_RDONLY | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT && create) {
    _cleanup_free_ char *resolved = NULL;
    if (resolve_missing(ap, path, &resolved, err) < 0) return -1;
    fd = openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (char *p = resolved; fd >= 0 && *p != '\0';) {
      char *end = strchrnul(p, '/');
      char saved = *end;
      *end = '\0';
      if (mkdirat(fd, p, 0755) == 0)
        mark_touched(ap, resolved);
      else if (errno != EEXIST)
        break;
      int next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      close(fd);
      fd = next;
      *end = saved;
      p = saved ? end + 1 : end;
    }
    if (fd < 0) return entry_fail(ap, err, errno, "creating parent directory /%s failed", path);
  }
  if (fd < 0) {
    if (errno == ENOENT && !create) return -2; /* the caller decides (whiteouts of missing paths) */
    return entry_fail(ap, err, errno, "opening parent directory /%s failed", path);
  }
  ap->parent_path = strdup(path);
  if (ap->parent_path == NULL) abort();
  ap->parent_fd = fd;
  return fd;
}

/* Hide the lower content of directory path: remove every child this layer did not create,
 * and the lower content of the children it did. */
static int make_opaque(struct apply *ap, const char *path, guise_error **err)
{
  int fd = open_in_root(ap->rootfd, path, O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR
               ? 0
               : entry_fail(ap, err, errno, "opening /%s failed", path);
  _cleanup_closedir_ DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return entry_fail(ap, err, errno, "reading directory /%s failed", path);
  }
  struct dirent *de;
  while ((errno = 0, de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    _cleanup_free_ char *child = NULL;
    if (asprintf(&child, "%s%s%s", path, *path ? "/" : "", de->d_name) < 0) abort();
    if (strset_has(&ap->touched, child)) {
      if (de->d_type == DT_DIR && make_opaque(ap, child, err) < 0) return -1;
      continue;
    }
    if (remove_tree(ap, dirfd(d), de->d_name, err) < 0) return -1;
  }
  if (errno != 0) return entry_fail(ap, err, errno, "reading directory /%s failed", path);
  return 0;
}

/* --- metadata --- */

static bool db_xattr_name(const char *name)
{
  return strncmp(name, "user.", 5) != 0;
}

/* On-disk permission bits: the user must be able to read files and use directories. */
static mode_t disk_perms(mode_t type, mode_t perms)
{
  if (type == S_IFDIR) return perms | S_IRWXU;
  if (type == S_IFREG) return perms | S_IRUSR;
  return perms;
}

/* Record in the DB what the disk does not show: owner, a refused or widened mode, device
 * type, privileged xattrs.  fd (may be -1) or dirfd/name designate the new inode. */
static int record_meta(struct apply *ap, struct archive_entry *e, const char *path, int fd,
                       int dirfd, const char *name, mode_t type, mode_t disk_mode_set,
                       guise_error **err)
{
  uint32_t uid = (uint32_t)archive_entry_uid(e), gid = (uint32_t)archive_entry_gid(e);
  mode_t perms = archive_entry_perm(e) & 07777;
  bool is_dev = type == S_IFCHR || type == S_IFBLK;
  bool need_mode_check = type != S_IFLNK && (perms & 07000) != 0;
  bool has_db_xattrs = false, has_user_xattrs = false;
  if (archive_entry_xattr_reset(e) > 0) {
    const char *xn;
    const void *xv;
    size_t xs;
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
      if (db_xattr_name(xn))
        has_db_xattrs = true;
      else
        has_user_xattrs = true;
    }
  }
  bool mode_differs = type != S_IFLNK && disk_mode_set != perms;
  if (uid == 0 && gid == 0 && !is_dev && !need_mode_check && !mode_differs && !has_db_xattrs &&
      !has_user_xattrs)
    return 0;

  if (has_user_xattrs) {
    archive_entry_xattr_reset(e);
    const char *xn;
    const void *xv;
    size_t xs;
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
      if (db_xattr_name(xn)) continue;
      int r = fd >= 0 ? fsetxattr(fd, xn, xv, xs, 0) : -1;
      if (fd < 0) errno = ENOTSUP;
      if (r < 0 && (errno == ENOTSUP || errno == EPERM))
        warnf(ap, "xattr %s not set: %s", xn, strerror(errno));
      else if (r < 0)
        return entry_fail(ap, err, errno, "setting xattr %s failed", xn);
    }
  }
  if (ap->db == NULL) {
    if (uid != 0 || gid != 0 || is_dev || has_db_xattrs || mode_differs)
      return entry_fail(ap, err, 0, "the entry needs faked metadata but there is no database");
    return 0;
  }

  struct statx stx;
  int r = fd >= 0 ? statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &stx)
                  : statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx);
  if (r < 0) return entry_fail(ap, err, errno, "stat after creating failed");
  struct fake_inode fi = {0};
  fakefs_key_from_statx(&stx, &fi.key);
  _cleanup_free_ char *hint = NULL;
  if (asprintf(&hint, "/%s", path) < 0) abort();
  if (uid != 0) fi.fields |= FAKEFS_FAKE_UID;
  if (gid != 0) fi.fields |= FAKEFS_FAKE_GID;
  fi.uid = uid;
  fi.gid = gid;
  if (is_dev) {
    fi.fields |= FAKEFS_FAKE_TYPE | FAKEFS_FAKE_MODE;
    fi.mode = type | perms;
    fi.rdev = archive_entry_rdev(e);
  } else if (type != S_IFLNK && (stx.stx_mode & 07777) != perms) {
    fi.fields |= FAKEFS_FAKE_MODE;
    fi.mode = type | perms;
  }
  if (fi.fields != 0 && fakefs_db_put(ap->db, &fi, hint, err) < 0)
    return guise_error_prefix(err, "%s: entry \"%s\"", ap->what, ap->entry);
  if (has_db_xattrs) {
    archive_entry_xattr_reset(e);
    const char *xn;
    const void *xv;
    size_t xs;
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
      if (db_xattr_name(xn) && fakefs_db_xattr_set(ap->db, &fi.key, xn, xv, xs, 0, hint, err) < 0)
        return guise_error_prefix(err, "%s: entry \"%s\"", ap->what, ap->entry);
  }
  return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
  ts[1].tv_sec = archive_entry_mtime(e);
  ts[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (archive_entry_atime_is_set(e)) {
    ts[0].tv_sec = archive_entry_atime(e);
    ts[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    ts[0] = ts[1];
  }
}

/* --- entry kinds --- */

static int check_limits_for(struct apply *ap, uint64_t end, uint64_t added, guise_error **err)
{
  if (end > ap->limits.max_file_bytes)
    return entry_fail(ap, err, EFBIG, "file larger than the limit of %llu bytes",
                      (unsigned long long)ap->limits.max_file_bytes);
  if (ap->total_bytes + added > ap->limits.max_total_bytes)
    return entry_fail(ap, err, EFBIG, "layer larger than the limit of %llu bytes",
                      (unsigned long long)ap->limits.max_total_bytes);
  return 0;
}

static int write_data(struct apply *ap, struct archive *a, int fd, int64_t size, guise_error **err)
{
  const void *buf;
  size_t len;
  la_int64_t off;
  int64_t end = 0;
  for (;;) {
    int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      ap->read_failed = true;
      return entry_fail(ap, err, 0, "reading file data failed: %s", archive_error_string(a));
    }
    if (check_limits_for(ap, (uint64_t)off + len, len, err) < 0) return -1;
    ap->total_bytes += len;
    const char *p = buf;
    size_t done = 0;
    while (done < len) {
      ssize_t w = pwrite(fd, p + done, len - done, off + (off_t)done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return entry_fail(ap, err, errno, "writing file data failed");
      done += (size_t)w;
    }
    end = off + (int64_t)len;
  }
  if (end < size && ftruncate(fd, size) < 0) /* a sparse tail */
    return entry_fail(ap, err, errno, "extending the file failed");
  return 0;
}

/* Make room for a new non-directory entry at dirfd/name: whatever is there goes (rows
 * forgotten first).  Returns 0, or 1 when a directory is there and want_dir (keep it). */
static int clear_slot(struct apply *ap, int dirfd, const char *name, bool want_dir,
                      guise_error **err)
{
  struct statx stx;
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
    return errno == ENOENT ? 0 : entry_fail(ap, err, errno, "stat of the existing file failed");
  if (S_ISDIR(stx.stx_mode) && want_dir) return 1;
  if (S_ISDIR(stx.stx_mode)) return remove_tree(ap, dirfd, name, err);
  if (forget_before_unlink(ap, dirfd, name, &stx, err) < 0) return -1;
  if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
    return entry_fail(ap, err, errno, "removing the existing file failed");
  return 0;
}

/* Run create(); on EEXIST clear the slot and try once more. */
#define CREATE_RETRY(expr, ok)                                                                     \
  ({                                                                                               \
    int _r = (expr);                                                                               \
    if (!(ok) && errno == EEXIST) {                                                                \
      if (clear_slot(ap, dirfd, name, false, err) < 0) return -1;                                  \
      _r = (expr);                                                                                 \
    }                                                                                              \
    _r;                                                                                            \
  })

static int apply_file(struct apply *ap, struct archive *a, struct archive_entry *e, int dirfd,
                      const char *name, const char *path, mode_t type, guise_error **err)
{
  int64_t size = type == S_IFREG ? archive_entry_size(e) : 0;
  if (size < 0) size = 0;
  if (check_limits_for(ap, (uint64_t)size, (uint64_t)size, err) < 0) return -1;
  int fd = CREATE_RETRY(
      openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600), _r >= 0);
  if (fd < 0) return entry_fail(ap, err, errno, "creating the file failed");
  _cleanup_close_ int fdc = fd;
  if (type == S_IFREG && write_data(ap, a, fd, size, err) < 0) return -1;
  mode_t perms = archive_entry_perm(e) & 07777;
  mode_t dperms = type == S_IFREG ? disk_perms(type, perms) : perms;
  if (fchmod(fd, dperms) < 0) {
    if (errno != EPERM) return entry_fail(ap, err, errno, "chmod failed");
    dperms &= 0777; /* setgid for a group we are not in: the DB keeps it */
    if (fchmod(fd, dperms) < 0) return entry_fail(ap, err, errno, "chmod failed");
  }
  if (record_meta(ap, e, path, fd, -1, NULL, type, dperms, err) < 0) return -1;
  struct timespec ts[2];
  entry_times(e, ts);
  if (futimens(fd, ts) < 0) return entry_fail(ap, err, errno, "setting times failed");
  return 0;
}

static int apply_special(struct apply *ap, struct archive_entry *e, int dirfd, const char *name,
                         const char *path, mode_t type, guise_error **err)
{
  mode_t perms = archive_entry_perm(e) & 07777;
  if (type == S_IFLNK) {
    const char *target = archive_entry_symlink(e);
    if (target == NULL) return entry_fail(ap, err, 0, "symlink without a target");
    if (CREATE_RETRY(symlinkat(target, dirfd, name), _r == 0) < 0)
      return entry_fail(ap, err, errno, "creating the symlink failed");
  } else { /* FIFO */
    if (CREATE_RETRY(mknodat(dirfd, name, S_IFIFO | (perms & 0777), 0), _r == 0) < 0)
      return entry_fail(ap, err, errno, "creating the fifo failed");
    /* not the umask's bits: the entry's (a setgid refused stays in the DB) */
    if (fchmodat(dirfd, name, perms, 0) < 0 &&
        (errno != EPERM || fchmodat(dirfd, name, perms & 0777, 0) < 0))
      return entry_fail(ap, err, errno, "chmod failed");
  }
  if (record_meta(ap, e, path, -1, dirfd, name, type, perms, err) < 0) return -1;
  struct timespec ts[2];
  entry_times(e, ts);
  if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return entry_fail(ap, err, errno, "setting times failed");
  return 0;
}

static int apply_dir(struct apply *ap, struct archive_entry *e, int dirfd, const char *name,
                     const char *path, guise_error **err)
{
  _cleanup_close_ int fd = -1;
  if (*path == '\0') {
    fd = openat(ap->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } else {
    if (mkdirat(dirfd, name, 0700) < 0) {
      if (errno != EEXIST) return entry_fail(ap, err, errno, "creating the directory failed");
      int r = clear_slot(ap, dirfd, name, true, err);
      if (r < 0) return -1;
      if (r == 0 && mkdirat(dirfd, name, 0700) < 0)
        return entry_fail(ap, err, errno, "creating the directory failed");
    }
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return entry_fail(ap, err, errno, "opening the directory failed");
  /* A directory over a directory replaces the metadata: drop the old faked state. */
  if (db_has_rows(ap)) {
    struct fakefs_key key;
    if (fakefs_key_from_fd(fd, &key, NULL, err) < 0 || fakefs_db_forget(ap->db, &key, err) < 0)
      return guise_error_prefix(err, "%s: entry \"%s\"", ap->what, ap->entry);
  }
  mode_t perms = archive_entry_perm(e) & 07777;
  mode_t dperms = disk_perms(S_IFDIR, perms);
  if (fchmod(fd, dperms) < 0) {
    dperms &= 0777;
    if (errno != EPERM || fchmod(fd, dperms) < 0) return entry_fail(ap, err, errno, "chmod failed");
  }
  if (record_meta(ap, e, path, fd, -1, NULL, S_IFDIR, dperms, err) < 0) return -1;
  ap->dirs = layer_grow(ap->dirs, ap->ndirs, &ap->capdirs, sizeof(*ap->dirs));
  struct deferred_dir *dd = &ap->dirs[ap->ndirs++];
  dd->path = strdup(path);
  if (dd->path == NULL) abort();
  entry_times(e, dd->times);
  return 0;
}

static int apply_hardlink(struct apply *ap, struct archive_entry *e, int dirfd, const char *name,
                          const char *path, const char *link, guise_error **err)
{
  _cleanup_free_ char *target = NULL;
  if (layer_clean_path(link, &target) < 0)
    return entry_fail(ap, err, 0, "hard link target \"%s\" leaves the root filesystem", link);
  if (*target == '\0') return entry_fail(ap, err, 0, "hard link to the root directory");
  char *slash = strrchr(target, '/');
  const char *tname = slash ? slash + 1 : target;
  if (slash) *slash = '\0';
  _cleanup_close_ int tdir = open_in_root(ap->rootfd, slash ? target : "", O_PATH | O_DIRECTORY);
  if (slash) *slash = '/';
  struct statx tst, dst;
  if (tdir < 0 ||
      statx(tdir, tname, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &tst) < 0)
    return entry_fail(ap, err, errno, "hard link target \"%s\" not found in the layer's root",
                      link);
  if (S_ISDIR(tst.stx_mode))
    return entry_fail(ap, err, 0, "hard link target \"%s\" is a directory", link);
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &dst) == 0 &&
      dst.stx_ino == tst.stx_ino && dst.stx_dev_major == tst.stx_dev_major &&
      dst.stx_dev_minor == tst.stx_dev_minor)
    return 0; /* already that inode */
  if (CREATE_RETRY(linkat(tdir, tname, dirfd, name, 0), _r == 0) < 0)
    return entry_fail(ap, err, errno, "creating the hard link to \"%s\" failed", link);
  (void)e;
  (void)path;
  return 0;
}

static int apply_whiteout(struct apply *ap, const char *parent, const char *name, guise_error **err)
{
  if (strcmp(name, WHITEOUT_OPAQUE) == 0) return make_opaque(ap, parent, err);
  const char *victim = name + strlen(WHITEOUT_PREFIX);
  if (*victim == '\0' || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
    return entry_fail(ap, err, 0, "invalid whiteout");
  _cleanup_free_ char *vpath = NULL;
  if (asprintf(&vpath, "%s%s%s", parent, *parent ? "/" : "", victim) < 0) abort();
  if (strset_has(&ap->touched, vpath)) return 0; /* whiteouts hide lower layers only */
  int dirfd = parent_dir(ap, parent, false, err);
  if (dirfd == -2) return 0;
  if (dirfd < 0) return -1;
  return remove_tree(ap, dirfd, victim, err);
}

static int apply_entry(struct apply *ap, struct archive *a, struct archive_entry *e,
                       guise_error **err)
{
  _cleanup_free_ char *path = NULL;
  if (layer_clean_path(ap->entry, &path) < 0)
    return entry_fail(ap, err, 0, "path leaves the root filesystem");
  char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  _cleanup_free_ char *parent = strndup(path, slash ? (size_t)(slash - path) : 0);
  if (parent == NULL) abort();

  if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
    return apply_whiteout(ap, parent, name, err);

  const char *hardlink = archive_entry_hardlink(e);
  mode_t type = archive_entry_filetype(e);
  if (*path == '\0' && (hardlink != NULL || type != S_IFDIR))
    return entry_fail(ap, err, 0, "only a directory can replace the root directory");
  if (*name != '\0' && (strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
    return entry_fail(ap, err, 0, "invalid name");
  mark_touched(ap, path);
  int dirfd = *path ? parent_dir(ap, parent, true, err) : ap->rootfd;
  if (dirfd < 0) return -1;
  if (hardlink != NULL) return apply_hardlink(ap, e, dirfd, name, path, hardlink, err);
  switch (type) {
  case S_IFREG:
  case S_IFCHR:
  case S_IFBLK:
    return apply_file(ap, a, e, dirfd, name, path, type, err);
  case S_IFDIR:
    return apply_dir(ap, e, dirfd, name, path, err);
  case S_IFLNK:
  case S_IFIFO:
    return apply_special(ap, e, dirfd, name, path, type, err);
  default:
    warnf(ap, "file type %o not supported, skipped", (unsigned)type);
    return 0;
  }
}

/* Directory times last, once their content is complete. */
static int finish_dirs(struct apply *ap, guise_error **err)
{
  ap->entry = NULL;
  for (size_t i = 0; i < ap->ndirs; i++) {
    struct deferred_dir *dd = &ap->dirs[i];
    _cleanup_close_ int fd =
        open_in_root(ap->rootfd, dd->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) continue; /* removed or replaced by a later entry */
    if (futimens(fd, dd->times) < 0)
      return guise_fail(err, errno, "%s: setting the times of /%s failed", ap->what, dd->path);
  }
  return 0;
}

/* --- decompression thread --- */

static void *decompress_main(void *arg)
{
  struct decompressor *dec = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* a closed reader gives EPIPE, not a signal */
  struct archive *raw = archive_read_new();
  if (raw == NULL) abort();
  if (dec->any_compression) {
    archive_read_support_filter_all(raw);
  } else {
    archive_read_support_filter_gzip(raw);
    archive_read_support_filter_zstd(raw);
  }
  archive_read_support_format_raw(raw);
  struct archive_entry *e;
  int r;
  if (archive_read_open_fd(raw, dec->in_fd, READ_BLOCK) != ARCHIVE_OK ||
      (r = archive_read_next_header(raw, &e)) < ARCHIVE_WARN) {
    dec->error = strdup(archive_error_string(raw) ? archive_error_string(raw) : "unreadable");
    goto out;
  }
  if (r == ARCHIVE_EOF) goto out;
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    r = archive_read_data_block(raw, &buf, &len, &off);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      const char *m = archive_error_string(raw);
      dec->error = strdup(m ? m : "decompression failed");
      break;
    }
    if (write_all(dec->pipe_w, buf, len) < 0) {
      if (errno != EPIPE) dec->error = strdup(strerror(errno));
      break;
    }
  }
out:
  archive_read_free(raw);
  close(dec->pipe_w);
  dec->pipe_w = -1;
  return NULL;
}

static void apply_cleanup(struct apply *ap)
{
  invalidate_parent(ap);
  strset_free(&ap->touched);
  for (size_t i = 0; i < ap->ndirs; i++)
    free(ap->dirs[i].path);
  free(ap->dirs);
  if (ap->dec.started)
    pthread_join(ap->dec.thread, NULL);
  else if (ap->dec.pipe_w >= 0)
    close(ap->dec.pipe_w);
  free(ap->dec.error);
  free(ap->where);
  if (ap->dec.in_fd >= 0) close(ap->dec.in_fd);
}

static int apply_stream(struct apply *ap, int tar_fd, guise_error **err)
{
  struct archive *a = archive_read_new();
  if (a == NULL) abort();
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  /* Names are bytes; never convert them through the locale. */
  archive_read_set_options(a, "tar:hdrcharset=BINARY");
  int ret = -1;
  char *last = NULL;
  if (archive_read_open_fd(a, tar_fd, READ_BLOCK) != ARCHIVE_OK) {
    entry_fail(ap, err, 0, "not a tar archive: %s", archive_error_string(a));
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      ap->read_failed = true;
      ap->entry = NULL;
      if (last != NULL && asprintf(&ap->where, "after entry \"%s\"", last) < 0) abort();
      if (last != NULL)
        guise_fail(err, 0, "%s: after entry \"%s\": %s", ap->what, last, archive_error_string(a));
      else
        guise_fail(err, 0, "%s: %s", ap->what, archive_error_string(a));
      goto out;
    }
    ap->entry = archive_entry_pathname(e);
    if (ap->entry == NULL) {
      entry_fail(ap, err, 0, "entry without a name after \"%s\"", last ? last : "");
      goto out;
    }
    if (++ap->entries > ap->limits.max_entries) {
      entry_fail(ap, err, E2BIG, "more than %llu entries in the layer",
                 (unsigned long long)ap->limits.max_entries);
      goto out;
    }
    if (apply_entry(ap, a, e, err) < 0) {
      if (asprintf(&ap->where, "entry \"%s\"", ap->entry) < 0) abort();
      goto out;
    }
    free(last);
    last = strdup(ap->entry);
    if (last == NULL) abort();
  }
  ret = 0;
out:
  ap->entry = NULL; /* it pointed into the archive */
  free(last);
  archive_read_free(a);
  return ret;
}

int layer_apply(int rootfd, struct fakefs_db *db, const char *layer_path, const char *what,
                const struct layer_apply_options *opts, guise_error **err)
{
  struct apply ap = {
      .rootfd = rootfd,
      .db = db,
      .what = what ? what : layer_path,
      .parent_fd = -1,
      .dec = {.in_fd = -1, .pipe_w = -1},
  };
  if (opts != NULL) {
    ap.limits = opts->limits;
    ap.warn = opts->warn;
    ap.warn_ud = opts->warn_ud;
    ap.dec.any_compression = opts->any_compression;
  }
  if (ap.limits.max_total_bytes == 0) ap.limits.max_total_bytes = LAYER_DEFAULT_MAX_TOTAL_BYTES;
  if (ap.limits.max_entries == 0) ap.limits.max_entries = LAYER_DEFAULT_MAX_ENTRIES;
  if (ap.limits.max_file_bytes == 0) ap.limits.max_file_bytes = LAYER_DEFAULT_MAX_FILE_BYTES;

  ap.dec.in_fd = open(layer_path, O_RDONLY | O_CLOEXEC);
  if (ap.dec.in_fd < 0) return guise_fail(err, errno, "%s: opening %s failed", ap.what, layer_path);
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0) {
    apply_cleanup(&ap);
    return guise_fail(err, errno, "%s: pipe failed", ap.what);
  }
  _cleanup_close_ int pipe_r = pfd[0];
  ap.dec.pipe_w = pfd[1];
  fcntl(pipe_r, F_SETPIPE_SZ, 1 << 20); /* best effort; the limit may be lower */
  if (pthread_create(&ap.dec.thread, NULL, decompress_main, &ap.dec) != 0) {
    apply_cleanup(&ap);
    return guise_fail(err, EAGAIN, "%s: starting the decompression thread failed", ap.what);
  }
  ap.dec.started = true;

  int r = 0;
  if (db != NULL && fakefs_db_begin(db, err) < 0) r = -1;
  if (r == 0) r = apply_stream(&ap, pipe_r, err);
  /* Stop the thread (EPIPE) before joining, then prefer its message: a truncated gzip shows up
   * in the tar reader only as a premature end. */
  close(steal_fd(&pipe_r));
  pthread_join(ap.dec.thread, NULL);
  ap.dec.started = false;
  if (ap.dec.error != NULL && (r == 0 || ap.read_failed)) {
    guise_error_release(err);
    if (ap.where != NULL)
      guise_fail(err, 0, "%s: %s: %s", ap.what, ap.where, ap.dec.error);
    else
      guise_fail(err, 0, "%s: %s", ap.what, ap.dec.error);
    r = -1;
  }
  if (r == 0) r = finish_dirs(&ap, err);
  if (db != NULL) {
    /* Commit even after a failure: the rows then match what is on disk. */
    guise_error *cerr = NULL;
    if (fakefs_db_commit(db, &cerr) < 0 && r == 0) {
      *err = cerr;
      cerr = NULL;
      r = -1;
    }
    guise_error_release(&cerr);
  }
  apply_cleanup(&ap);
  return r;
}
