/* COPY and ADD: sources from the build context, another stage, an image, a URL or a heredoc,
 * copied into the stage's rootfs by guise itself (not in a container).  What the user cannot
 * put on disk — owners other than the user, device nodes, modes without u+r, privileged
 * xattrs — goes to the stage's faked-state database, where the layer writer finds it. */
#include <archive.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder/internal.h"
#include "image/layer.h"
#include "util/cleanup.h"
#include "util/fileio.h"

/* --- paths --- */

static char *path_join(const char *a, const char *b)
{
  char *p = NULL;
  if (asprintf(&p, "%s%s%s", a, *a && *b ? "/" : "", b) < 0) abort();
  return p;
}

static const char *base_name(const char *p)
{
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static bool has_glob(const char *s)
{
  return strpbrk(s, "*?[") != NULL;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in directory fd (an O_PATH or O_RDONLY fd), sorted, without "." and "..". */
static int list_dir(int fd, const char *what, char ***names, guise_error **err)
{
  char self[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  int dfd = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (d == NULL) {
    int e = errno;
    if (dfd >= 0) close(dfd);
    return guise_fail(err, e, "reading the directory %s failed", what);
  }
  char **v = calloc(1, sizeof(char *));
  if (v == NULL) abort();
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) strv_append(&v, de->d_name);
  closedir(d);
  qsort(v, strv_length(v), sizeof(char *), cmp_str);
  *names = v;
  return 0;
}

/* A path of the source is visible: not excluded by the ignore file (an excluded directory
 * stays visible when a '!' pattern may re-include something inside). */
static bool visible(const struct source_root *src, const char *path, bool is_dir)
{
  if (src->ignore == NULL || !ignore_excluded(src->ignore, path)) return true;
  return is_dir && ignore_has_exceptions(src->ignore);
}

/* The path, relative to the source's root, of what fd (opened inside it, symlinks followed)
 * really is; NULL when that cannot be told. */
static char *resolved_path(const struct source_root *src, int fd)
{
  char self[64], root[PATH_MAX], full[PATH_MAX];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", src->rootfd);
  ssize_t n = readlink(self, root, sizeof(root) - 1);
  if (n < 0) return NULL;
  root[n] = '\0';
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  ssize_t m = readlink(self, full, sizeof(full) - 1);
  if (m < 0) return NULL;
  full[m] = '\0';
  size_t len = strcmp(root, "/") == 0 ? 0 : (size_t)n;
  if (strncmp(full, root, len) != 0 || (full[len] != '\0' && full[len] != '/')) return NULL;
  char *r = strdup(full + len + (full[len] == '/'));
  if (r == NULL) abort();
  return r;
}

/* As visible(), for path opened as fd with symlinks followed: what it resolves to must be
 * visible too.  Docker sends the context without the ignored files, so a symlink in the
 * context (alias -> .env, linkdir -> .) followed as a source reaches nothing they hide. */
static bool visible_fd(const struct source_root *src, const char *path, int fd, bool is_dir)
{
  if (!visible(src, path, is_dir)) return false;
  if (ignore_count(src->ignore) == 0) return true;
  _cleanup_free_ char *real = resolved_path(src, fd);
  return real != NULL && visible(src, real, is_dir);
}

/* The path a matched source (rel, opened as fd) is walked under: where it really is when the
 * ignore rules apply, so that they see the real paths of what a walk through a symlinked
 * directory finds ("" for the root, as rel). */
static int walk_path(const struct source_root *src, const char *rel, int fd, char **out,
                     guise_error **err)
{
  if (ignore_count(src->ignore) == 0) {
    *out = strdup(rel);
    if (*out == NULL) abort();
    return 0;
  }
  *out = resolved_path(src, fd);
  if (*out == NULL)
    return guise_fail(err, 0, "resolving the source %s in %s failed", rel, src->path);
  return 0;
}

static bool is_dir_at(int rootfd, const char *path)
{
  _cleanup_close_ int fd = openat2_in(rootfd, *path ? path : "/", O_PATH, 0);
  struct stat st;
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --- matching sources --- */

static int match_rec(const struct source_root *src, const char *prefix, char **parts, char ***out,
                     guise_error **err)
{
  if (*parts == NULL) {
    strv_append(out, prefix);
    return 0;
  }
  if (!has_glob(*parts)) {
    _cleanup_free_ char *path = path_join(prefix, *parts);
    _cleanup_close_ int fd = openat2_in(src->rootfd, path, O_PATH, 0);
    if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? 0 : guise_fail_errno(err, "%s", path);
    struct stat st;
    if (fstat(fd, &st) < 0) return guise_fail_errno(err, "%s", path);
    if (!visible_fd(src, path, fd, S_ISDIR(st.st_mode))) return 0;
    if (parts[1] != NULL && !S_ISDIR(st.st_mode)) return 0;
    return match_rec(src, path, parts + 1, out, err);
  }
  _cleanup_close_ int dfd =
      openat2_in(src->rootfd, *prefix ? prefix : "/", O_PATH | O_DIRECTORY, 0);
  if (dfd < 0) return 0;
  _cleanup_strv_ char **names = NULL;
  if (list_dir(dfd, *prefix ? prefix : "/", &names, err) < 0) return -1;
  for (size_t i = 0; names[i] != NULL; i++) {
    if (fnmatch(*parts, names[i], 0) != 0) continue;
    _cleanup_free_ char *path = path_join(prefix, names[i]);
    _cleanup_close_ int fd = openat2_in(src->rootfd, path, O_PATH, 0);
    struct stat st;
    bool dir = fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    /* A dangling symlink still matches (its copy fails, naming it). */
    bool shown = fd >= 0 ? visible_fd(src, path, fd, dir) : visible(src, path, false);
    if (!shown || (parts[1] != NULL && !dir)) continue;
    if (match_rec(src, path, parts + 1, out, err) < 0) return -1;
  }
  return 0;
}

int source_match(const struct source_root *src, const char *pattern, char ***matches,
                 guise_error **err)
{
  _cleanup_strv_ char **parts = ignore_path_parts(pattern);
  _cleanup_strv_ char **out = NULL;
  if (match_rec(src, "", parts, &out, err) < 0) return -1;
  if (out == NULL) return guise_fail(err, ENOENT, "%s", pattern);
  qsort(out, strv_length(out), sizeof(char *), cmp_str);
  *matches = steal_ptr(&out);
  return 0;
}

/* --- content hashing (cache keys) --- */

struct walk {
  const struct source_root *src;
  const struct ignore *exclude; /* relative to the matched source */
  struct digest_ctx *d;
};

static int hash_node(struct walk *w, const char *path, const char *rel, int fd, guise_error **err)
{
  struct stat st;
  if (fstat(fd, &st) < 0) return guise_fail_errno(err, "stat of %s failed", path);
  char line[128];
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
    if (n < 0) return guise_fail_errno(err, "readlink %s failed", path);
    target[n] = '\0';
    snprintf(line, sizeof(line), "L %o\n", (unsigned)st.st_mode);
    digest_update(w->d, path, strlen(path));
    digest_update(w->d, line, strlen(line));
    digest_update(w->d, target, (size_t)n + 1);
    return 0;
  }
  snprintf(line, sizeof(line), "\n%c %o %lld\n", S_ISDIR(st.st_mode) ? 'D' : 'F',
           (unsigned)st.st_mode, S_ISREG(st.st_mode) ? (long long)st.st_size : 0LL);
  digest_update(w->d, path, strlen(path));
  digest_update(w->d, line, strlen(line));
  if (S_ISREG(st.st_mode)) {
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    _cleanup_close_ int rfd = open(self, O_RDONLY | O_CLOEXEC);
    char content[DIGEST_STR_MAX];
    uint64_t size;
    if (rfd < 0 || digest_fd(rfd, content, &size, err) < 0)
      return rfd < 0 ? guise_fail_errno(err, "reading %s failed", path) : -1;
    digest_update(w->d, content, strlen(content));
    return 0;
  }
  if (!S_ISDIR(st.st_mode)) return 0;
  _cleanup_strv_ char **names = NULL;
  if (list_dir(fd, path, &names, err) < 0) return -1;
  for (size_t i = 0; names[i] != NULL; i++) {
    _cleanup_free_ char *child = path_join(path, names[i]);
    _cleanup_free_ char *crel = path_join(rel, names[i]);
    _cleanup_close_ int cfd = openat(fd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0) return guise_fail_errno(err, "opening %s failed", child);
    struct stat cst;
    if (fstat(cfd, &cst) < 0) return guise_fail_errno(err, "stat of %s failed", child);
    if (!visible(w->src, child, S_ISDIR(cst.st_mode))) continue;
    if (w->exclude != NULL && ignore_excluded(w->exclude, crel)) continue;
    if (hash_node(w, child, crel, cfd, err) < 0) return -1;
  }
  return 0;
}

int source_hash(const struct source_root *src, char *const *matches, const struct ignore *exclude,
                struct digest_ctx *d, guise_error **err)
{
  struct walk w = {.src = src, .exclude = exclude, .d = d};
  for (size_t i = 0; matches[i] != NULL; i++) {
    _cleanup_close_ int fd = openat2_in(src->rootfd, *matches[i] ? matches[i] : "/", O_PATH, 0);
    if (fd < 0) return guise_fail_errno(err, "opening %s failed", matches[i]);
    _cleanup_free_ char *path = NULL;
    if (walk_path(src, matches[i], fd, &path, err) < 0) return -1;
    if (hash_node(&w, path, "", fd, err) < 0) return -1;
  }
  return 0;
}

/* --- recording what the disk cannot keep --- */

int meta_record(struct fakefs_db *db, int fd, const char *hint, uint32_t uid, uint32_t gid,
                uint32_t mode, uint64_t rdev, guise_error **err)
{
  struct fake_inode fi = {0};
  struct statx stx;
  if (fakefs_key_from_fd(fd, &fi.key, &stx, err) < 0) return -1;
  fi.mode = mode;
  if (uid != 0) fi.fields |= FAKEFS_FAKE_UID;
  if (gid != 0) fi.fields |= FAKEFS_FAKE_GID;
  fi.uid = uid;
  fi.gid = gid;
  if (S_ISCHR(mode) || S_ISBLK(mode)) {
    fi.fields |= FAKEFS_FAKE_TYPE;
    fi.rdev = rdev;
  }
  if (!S_ISLNK(stx.stx_mode) && (mode & 07777) != (stx.stx_mode & 07777))
    fi.fields |= FAKEFS_FAKE_MODE;
  if (fi.fields == 0) {
    struct fake_inode old;
    int r = fakefs_db_lookup(db, &fi.key, &old, err);
    if (r <= 0) return r; /* no row, nothing to drop */
  }
  return fakefs_db_put(db, &fi, hint, err);
}

/* The mode on disk for a faked mode: the user keeps read access to files and full access to
 * directories (the builder and the layer writer must read them), the rest is in the DB. */
static mode_t disk_mode(mode_t perm, bool dir)
{
  return (perm & 07777) | (dir ? 0700 : 0400);
}

/* --- copying --- */

struct link_seen {
  uint64_t dev, ino;
  int fd; /* O_PATH of the copy */
};

struct copier {
  struct builder *b;
  int dst_rootfd; /* destination paths (the hints) resolve inside it */
  const struct source_root *src;
  const struct ignore *exclude;
  struct fakefs_db *db; /* the destination's */
  bool chown;
  uint32_t uid, gid;
  int chmod;     /* -1: keep the source's */
  bool preserve; /* keep the source's faked owners (a stage or an image) */
  struct link_seen *links;
  size_t n_links;
  const char *what; /* "COPY src" for messages */
};

static void copier_clear(struct copier *cp)
{
  for (size_t i = 0; i < cp->n_links; i++)
    close(cp->links[i].fd);
  free(cp->links);
}

/* The metadata a copy gets: owner and mode from the flags, else from the source. */
struct meta {
  uint32_t uid, gid, mode; /* mode: S_IFMT | permission bits */
  uint64_t rdev;
  bool has_xattrs;
  struct fakefs_key src_key;
};

static int source_meta(struct copier *cp, int fd, const struct stat *st, struct meta *m,
                       guise_error **err)
{
  *m = (struct meta){.mode = st->st_mode};
  struct fake_inode fi;
  int r = 0;
  if (cp->src->db != NULL) {
    if (fakefs_key_from_fd(fd, &m->src_key, NULL, err) < 0) return -1;
    r = fakefs_db_lookup(cp->src->db, &m->src_key, &fi, err);
    if (r < 0) return -1;
  }
  if (r > 0) {
    if (fi.fields & FAKEFS_FAKE_TYPE) {
      m->mode = (fi.mode & S_IFMT) | (m->mode & 07777);
      m->rdev = fi.rdev;
    }
    if (fi.fields & FAKEFS_FAKE_MODE) m->mode = (m->mode & S_IFMT) | (fi.mode & 07777);
    if (cp->preserve) {
      if (fi.fields & FAKEFS_FAKE_UID) m->uid = fi.uid;
      if (fi.fields & FAKEFS_FAKE_GID) m->gid = fi.gid;
    }
    m->has_xattrs = (fi.fields & FAKEFS_FAKE_XATTRS) != 0;
  }
  if (cp->chown) {
    m->uid = cp->uid;
    m->gid = cp->gid;
  }
  if (cp->chmod >= 0 && !S_ISLNK(m->mode)) m->mode = (m->mode & S_IFMT) | (uint32_t)cp->chmod;
  return 0;
}

struct xattr_copy {
  struct fakefs_db *db;
  struct fakefs_key *key;
  const char *hint;
  guise_error **err;
};

static int copy_one_xattr(void *ud, const char *name, const void *value, size_t len)
{
  struct xattr_copy *x = ud;
  return fakefs_db_xattr_set(x->db, x->key, name, value, len, 0, x->hint, x->err) < 0 ? -1 : 0;
}

static int apply_meta(struct copier *cp, int fd, const char *hint, const struct meta *m,
                      guise_error **err)
{
  if (meta_record(cp->db, fd, hint, m->uid, m->gid, m->mode, m->rdev, err) < 0) return -1;
  if (!m->has_xattrs) return 0;
  struct fakefs_key key;
  if (fakefs_key_from_fd(fd, &key, NULL, err) < 0) return -1;
  struct xattr_copy x = {cp->db, &key, hint, err};
  return fakefs_db_xattr_foreach(cp->src->db, &m->src_key, copy_one_xattr, &x, err) < 0 ? -1 : 0;
}

/* Make room for a new non-directory ddir/name: an existing file or link goes (its faked state
 * with it when that was its last link); a directory there is an error. */
static int clear_dest(struct copier *cp, int ddir, const char *name, const char *hint,
                      guise_error **err)
{
  struct stat st;
  if (fstatat(ddir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : guise_fail_errno(err, "stat of %s failed", hint);
  if (S_ISDIR(st.st_mode))
    return guise_fail(err, EISDIR, "%s: cannot replace the directory %s with a file", cp->what,
                      hint);
  if (st.st_nlink == 1) {
    _cleanup_close_ int fd = openat(ddir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct fakefs_key key;
    if (fd >= 0 && fakefs_key_from_fd(fd, &key, NULL, NULL) == 0 &&
        fakefs_db_forget(cp->db, &key, err) < 0)
      return -1;
  }
  if (unlinkat(ddir, name, 0) < 0) return guise_fail_errno(err, "removing %s failed", hint);
  return 0;
}

static int copy_content(int in, int out, const char *what, guise_error **err)
{
  for (;;) {
    ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
    if (n == 0) return 0;
    if (n > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
      return guise_fail_errno(err, "copying %s failed", what);
    break; /* not between these files: plain reads and writes from where it stopped */
  }
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n == 0) return 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || write_all(out, buf, (size_t)n) < 0)
      return guise_fail_errno(err, "copying %s failed", what);
  }
}

static void set_times(int ddir, const char *name, const struct stat *st)
{
  struct timespec ts[2] = {st->st_mtim, st->st_mtim};
  utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
}

static int copy_node(struct copier *cp, const char *spath, const char *rel, int sfd,
                     const struct stat *st, int ddir, const char *dname, const char *dhint,
                     guise_error **err);

static int copy_dir(struct copier *cp, const char *spath, const char *rel, int sfd,
                    const struct stat *st, int ddir, const char *dname, const char *dhint,
                    guise_error **err)
{
  struct stat dst;
  bool created = false;
  if (fstatat(ddir, dname, &dst, 0) == 0) {
    if (!S_ISDIR(dst.st_mode))
      return guise_fail(err, ENOTDIR, "%s: cannot replace the file %s with a directory", cp->what,
                        dhint);
  } else if (errno == ENOENT) {
    if (mkdirat(ddir, dname, 0700) < 0)
      return guise_fail_errno(err, "creating the directory %s failed", dhint);
    created = true;
  } else {
    return guise_fail_errno(err, "stat of %s failed", dhint);
  }
  /* An existing directory may be reached through a symlink the image has (/lib -> usr/lib):
   * followed inside the rootfs, never out of it. */
  _cleanup_close_ int out = openat2_in(cp->dst_rootfd, dhint, O_RDONLY | O_DIRECTORY, 0);
  if (out < 0) return guise_fail_errno(err, "opening the directory %s failed", dhint);
  _cleanup_strv_ char **names = NULL;
  if (list_dir(sfd, spath, &names, err) < 0) return -1;
  for (size_t i = 0; names[i] != NULL; i++) {
    _cleanup_free_ char *child = path_join(spath, names[i]);
    _cleanup_free_ char *crel = path_join(rel, names[i]);
    _cleanup_free_ char *chint = path_join(dhint, names[i]);
    _cleanup_close_ int cfd = openat(sfd, names[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat cst;
    if (cfd < 0 || fstat(cfd, &cst) < 0) return guise_fail_errno(err, "opening %s failed", child);
    if (!visible(cp->src, child, S_ISDIR(cst.st_mode))) continue;
    if (cp->exclude != NULL && ignore_excluded(cp->exclude, crel)) continue;
    if (copy_node(cp, child, crel, cfd, &cst, out, names[i], chint, err) < 0) return -1;
  }
  if (!created) return 0;
  /* A directory walked only for what '!' patterns re-include, holding nothing: not copied. */
  if (names[0] != NULL && cp->src->ignore != NULL && ignore_excluded(cp->src->ignore, spath)) {
    _cleanup_strv_ char **left = NULL;
    if (list_dir(out, dhint, &left, err) < 0) return -1;
    if (left[0] == NULL && unlinkat(ddir, dname, AT_REMOVEDIR) < 0)
      return guise_fail_errno(err, "removing the empty directory %s failed", dhint);
    if (left[0] == NULL) return 0;
  }
  struct meta m;
  if (source_meta(cp, sfd, st, &m, err) < 0) return -1;
  if (fchmod(out, disk_mode(m.mode, true)) < 0)
    return guise_fail_errno(err, "chmod of %s failed", dhint);
  if (apply_meta(cp, out, dhint, &m, err) < 0) return -1;
  struct timespec ts[2] = {st->st_mtim, st->st_mtim};
  futimens(out, ts);
  return 0;
}

static int copy_file(struct copier *cp, const char *spath, int sfd, const struct stat *st, int ddir,
                     const char *dname, const char *dhint, guise_error **err)
{
  if (clear_dest(cp, ddir, dname, dhint, err) < 0) return -1;
  if (st->st_nlink > 1) {
    for (size_t i = 0; i < cp->n_links; i++) {
      if (cp->links[i].dev != st->st_dev || cp->links[i].ino != st->st_ino) continue;
      char self[64];
      snprintf(self, sizeof(self), "/proc/self/fd/%d", cp->links[i].fd);
      if (linkat(AT_FDCWD, self, ddir, dname, AT_SYMLINK_FOLLOW) < 0)
        return guise_fail_errno(err, "linking %s failed", dhint);
      return 0;
    }
  }
  struct meta m;
  if (source_meta(cp, sfd, st, &m, err) < 0) return -1;
  _cleanup_close_ int out =
      openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) return guise_fail_errno(err, "creating %s failed", dhint);
  if (!S_ISCHR(m.mode) && !S_ISBLK(m.mode)) {
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", sfd);
    _cleanup_close_ int in = open(self, O_RDONLY | O_CLOEXEC);
    if (in < 0) return guise_fail_errno(err, "opening %s failed", spath);
    if (copy_content(in, out, spath, err) < 0) return -1;
  }
  if (fchmod(out, disk_mode(m.mode, false)) < 0)
    return guise_fail_errno(err, "chmod of %s failed", dhint);
  if (apply_meta(cp, out, dhint, &m, err) < 0) return -1;
  struct timespec ts[2] = {st->st_mtim, st->st_mtim};
  futimens(out, ts);
  if (st->st_nlink > 1) {
    cp->links = realloc(cp->links, (cp->n_links + 1) * sizeof(*cp->links));
    if (cp->links == NULL) abort();
    int keep = openat(ddir, dname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (keep >= 0) cp->links[cp->n_links++] = (struct link_seen){st->st_dev, st->st_ino, keep};
  }
  return 0;
}

static int copy_node(struct copier *cp, const char *spath, const char *rel, int sfd,
                     const struct stat *st, int ddir, const char *dname, const char *dhint,
                     guise_error **err)
{
  if (S_ISDIR(st->st_mode)) return copy_dir(cp, spath, rel, sfd, st, ddir, dname, dhint, err);
  if (S_ISREG(st->st_mode)) return copy_file(cp, spath, sfd, st, ddir, dname, dhint, err);
  if (S_ISSOCK(st->st_mode)) return 0; /* as docker: sockets are not copied */
  if (clear_dest(cp, ddir, dname, dhint, err) < 0) return -1;
  struct meta m;
  if (source_meta(cp, sfd, st, &m, err) < 0) return -1;
  if (S_ISLNK(st->st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(sfd, "", target, sizeof(target) - 1);
    if (n < 0) return guise_fail_errno(err, "readlink %s failed", spath);
    target[n] = '\0';
    if (symlinkat(target, ddir, dname) < 0)
      return guise_fail_errno(err, "creating the symlink %s failed", dhint);
  } else if (S_ISFIFO(st->st_mode)) {
    if (mkfifoat(ddir, dname, disk_mode(m.mode, false)) < 0)
      return guise_fail_errno(err, "creating the fifo %s failed", dhint);
  } else {
    return guise_fail(err, 0,
                      "%s: %s is a device node; only a stage's or image's (faked) ones "
                      "can be copied",
                      cp->what, spath);
  }
  _cleanup_close_ int fd = openat(ddir, dname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return guise_fail_errno(err, "opening %s failed", dhint);
  if (apply_meta(cp, fd, dhint, &m, err) < 0) return -1;
  set_times(ddir, dname, st);
  return 0;
}

/* Open (creating as needed, with the copy's owner) the directory path of the stage. */
static int open_dest_dir(struct copier *cp, struct stage *st, const char *path, guise_error **err)
{
  return rootfs_mkdirs(st->rootfd, path, cp->chown ? cp->db : NULL, cp->uid, cp->gid, cp->what,
                       err);
}

/* --- ADD of archives and URLs --- */

/* A tar archive (plain or compressed in any way libarchive knows), judged by content as docker
 * does, not by name. */
static bool is_archive(int fd)
{
  struct archive *a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  char self[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  _cleanup_close_ int rfd = open(self, O_RDONLY | O_CLOEXEC);
  bool yes = false;
  if (rfd >= 0 && archive_read_open_fd(a, rfd, 65536) == ARCHIVE_OK) {
    struct archive_entry *e;
    yes = archive_read_next_header(a, &e) == ARCHIVE_OK;
  }
  archive_read_free(a);
  return yes;
}

static int add_archive(struct copier *cp, struct stage *st, int sfd, const char *spath,
                       const char *dest, guise_error **err)
{
  _cleanup_close_ int dfd = open_dest_dir(cp, st, dest, err);
  if (dfd < 0) return -1;
  char self[64];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", sfd);
  _cleanup_free_ char *what = NULL;
  if (asprintf(&what, "ADD %s", spath) < 0) abort();
  /* Any compression (xz, bzip2, lz4...), as docker's ADD; image layers keep to OCI's. */
  struct layer_apply_options ao = {.any_compression = true};
  return layer_apply(dfd, cp->db, self, what, &ao, err);
}

static bool is_url(const char *s)
{
  return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static bool is_git(const char *s)
{
  size_t n = strlen(s);
  return strncmp(s, "git@", 4) == 0 || strncmp(s, "git://", 6) == 0 ||
         (n > 4 && strcmp(s + n - 4, ".git") == 0) || strstr(s, ".git#") != NULL;
}

/* The file name a URL gives (its path's last component). */
static char *url_file_name(const char *url)
{
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  if (p == NULL) return NULL;
  size_t len = strcspn(p, "?#");
  while (len > 0 && p[len - 1] == '/')
    len--;
  const char *start = p + len;
  while (start > p && start[-1] != '/')
    start--;
  if (start == p + len) return NULL;
  return strndup(start, (size_t)(p + len - start));
}

/* Downloads of this build, so that the cache key and the copy use the same bytes. */
struct download {
  char *url;
  char *path;
  int64_t mtime;
  char digest[DIGEST_STR_MAX];
};

static int download(struct builder *b, const char *url, const char *checksum,
                    const struct download **out, guise_error **err)
{
  for (size_t i = 0; i < b->n_downloads; i++)
    if (strcmp(b->downloads[i].url, url) == 0) {
      *out = &b->downloads[i];
      return 0;
    }
  struct download d = {.path = build_tmp_path(b, "download")};
  _cleanup_close_ int fd = open(d.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    guise_fail_errno(err, "creating %s failed", d.path);
    free(d.path);
    return -1;
  }
  if (fetch_url(url, fd, &d.mtime, d.digest, err) < 0) {
    unlink(d.path);
    free(d.path);
    return -1;
  }
  if (checksum != NULL && strcmp(checksum, d.digest) != 0) {
    unlink(d.path);
    free(d.path);
    return guise_fail(err, 0, "ADD %s: the content's digest is %s, not %s (--checksum)", url,
                      d.digest, checksum);
  }
  d.url = strdup(url);
  b->downloads = realloc(b->downloads, (b->n_downloads + 1) * sizeof(*b->downloads));
  if (b->downloads == NULL || d.url == NULL) abort();
  b->downloads[b->n_downloads++] = d;
  *out = &b->downloads[b->n_downloads - 1];
  return 0;
}

void copy_downloads_free(struct builder *b)
{
  for (size_t i = 0; i < b->n_downloads; i++) {
    free(b->downloads[i].url);
    free(b->downloads[i].path);
  }
  free(b->downloads);
  b->downloads = NULL;
  b->n_downloads = 0;
}

/* --- --from: an earlier stage or an image --- */

int from_source_open(struct builder *b, struct stage *st, const char *name, bool open_root,
                     struct from_source *fs, guise_error **err)
{
  *fs = (struct from_source){.image_fd = -1};
  fs->root =
      (struct source_root){.rootfd = b->contextfd, .path = b->o->context, .ignore = b->ignore};
  if (name == NULL) return 0;
  fs->root.ignore = NULL;
  if (st->name != NULL && strcasecmp(st->name, name) == 0)
    return guise_fail(err, 0,
                      "%s is the stage this instruction is in; only earlier stages can be "
                      "used",
                      name);
  fs->stage = stage_find(b, name, st->index);
  if (fs->stage != NULL && !fs->stage->done)
    return guise_fail(err, 0, "the stage %s was not built", name);
  if (fs->stage == NULL) {
    if (strspn(name, "0123456789") == strlen(name))
      return guise_fail(err, 0, "no earlier stage has the index %s", name);
    if (build_image_source(b, name, &fs->image, err) < 0)
      return guise_error_prefix(err, "neither an earlier stage nor an image");
  }
  if (!open_root) return 0;
  if (fs->stage != NULL) {
    if (stage_materialize(b, fs->stage, err) < 0) return -1;
    fs->root.rootfd = fs->stage->rootfd;
    fs->root.path = fs->stage->rootfs;
    fs->db_path = fs->stage->db_path;
  } else {
    fs->image_fd = open(fs->image.rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->image_fd < 0) return guise_fail_errno(err, "opening %s failed", fs->image.rootfs);
    fs->root.rootfd = fs->image_fd;
    fs->root.path = fs->image.rootfs;
    fs->db_path = fs->image.db_path;
  }
  if (access(fs->db_path, F_OK) == 0 &&
      fakefs_db_open(fs->db_path, FAKEFS_DB_READONLY, &fs->db, err) < 0)
    return -1;
  fs->root.db = fs->db;
  return 0;
}

bool from_source_identity(const struct from_source *fs, struct digest_ctx *d)
{
  char line[DIGEST_STR_MAX + 16];
  if (fs->stage != NULL)
    snprintf(line, sizeof(line), "stage %s\n", fs->stage->chain);
  else if (fs->image.rootfs != NULL)
    snprintf(line, sizeof(line), "image %s\n", fs->image.manifest_digest);
  else
    return false;
  digest_update(d, line, strlen(line));
  return true;
}

void from_source_clear(struct from_source *fs)
{
  image_source_clear(&fs->image);
  if (fs->image_fd >= 0) close(fs->image_fd);
  if (fs->db != NULL) fakefs_db_close(fs->db);
  *fs = (struct from_source){.image_fd = -1};
}

/* --- the instruction --- */

/* Everything a COPY/ADD needs, from its flags and arguments. */
struct copy_plan {
  char **srcs;      /* expanded source words (heredoc markers included) */
  char *dest;       /* absolute */
  bool dest_is_dir; /* ends with '/', or several sources */
  const char *checksum;
  struct ignore *exclude;
  struct from_source src; /* where the sources are */
};

static void plan_clear(struct copy_plan *p)
{
  strv_free(p->srcs);
  free(p->dest);
  if (p->exclude != NULL) ignore_free(p->exclude);
  from_source_clear(&p->src);
}

static const struct cf_heredoc *heredoc_named(const struct cf_instruction *in, const char *word)
{
  if (strncmp(word, "<<", 2) != 0) return NULL;
  const char *name = word + 2 + (word[2] == '-');
  for (size_t i = 0; i < in->n_heredocs; i++) {
    const char *n = in->heredocs[i].name;
    size_t len = strlen(n);
    /* the word may still carry the quotes: <<"EOF" */
    if (strcmp(name, n) == 0 ||
        (strlen(name) == len + 2 && strncmp(name + 1, n, len) == 0 && name[0] == name[len + 1]))
      return &in->heredocs[i];
  }
  return NULL;
}

/* A boolean flag given and not =false. */
static bool flag_on(const struct cf_instruction *in, const char *name)
{
  const char *v = cf_flag(in, name);
  return v != NULL && strcasecmp(v, "false") != 0;
}

static int plan_make(struct builder *b, struct stage *st, const struct cf_instruction *in,
                     bool open_sources, struct copy_plan *p, guise_error **err)
{
  *p = (struct copy_plan){.src.image_fd = -1};
  char escape = b->cf->escape;
  size_t n = strv_length(in->args);
  for (size_t i = 0; i < n; i++) {
    if (!in->exec_form && strncmp(in->args[i], "<<", 2) == 0 && i + 1 < n) {
      strv_append(&p->srcs, in->args[i]); /* a heredoc: expanded later, if at all */
      continue;
    }
    _cleanup_strv_ char **words = NULL;
    if (in->exec_form) {
      _cleanup_free_ char *w = NULL;
      if (cf_expand(in->args[i], escape, false, stage_lookup, st, &w, err) < 0) return -1;
      strv_append(&words, w);
    } else if (cf_expand_words(in->args[i], escape, stage_lookup, st, &words, err) < 0) {
      return -1;
    }
    for (size_t k = 0; words != NULL && words[k] != NULL; k++)
      strv_append(&p->srcs, words[k]);
  }
  size_t ns = strv_length(p->srcs);
  if (ns < 2) return guise_fail(err, 0, "%s needs a source and a destination", in->keyword);
  char *last = p->srcs[ns - 1];
  p->srcs[ns - 1] = NULL;
  /* A directory: "dir/", and as docker also ".", "..", "dir/." and "dir/.." */
  const char *tail = strrchr(last, '/') ? strrchr(last, '/') + 1 : last;
  p->dest_is_dir = (last[0] != '\0' && last[strlen(last) - 1] == '/') || strcmp(tail, ".") == 0 ||
                   strcmp(tail, "..") == 0;
  _cleanup_free_ char *abs = stage_abs_path(st, last);
  p->dest = path_clean(abs);
  free(last);
  if (ns > 2 && !p->dest_is_dir)
    return guise_fail(err, 0,
                      "with several sources the destination of %s must be a directory "
                      "ending in /: '%s'",
                      in->keyword, p->dest);
  if (flag_on(in, "parents"))
    return guise_fail(err, ENOTSUP, "%s --parents is not supported", in->keyword);
  if (flag_on(in, "keep-git-dir"))
    return guise_fail(err, ENOTSUP, "ADD of git repositories (--keep-git-dir) is not supported");
  p->checksum = cf_flag(in, "checksum");
  if (p->checksum != NULL && !digest_valid(p->checksum))
    return guise_fail(err, 0, "ADD --checksum=%s: expected sha256:<64 hex digits>", p->checksum);
  const char **ex = cf_flag_all(in, "exclude");
  _cleanup_free_ char *ex_text = strdup("");
  for (size_t i = 0; ex[i] != NULL; i++) {
    _cleanup_free_ char *v = NULL, *joined = NULL;
    if (cf_expand(ex[i], escape, true, stage_lookup, st, &v, err) < 0) {
      free(ex);
      return -1;
    }
    if (asprintf(&joined, "%s%s\n", ex_text, v) < 0) abort();
    free(ex_text);
    ex_text = steal_ptr(&joined);
  }
  free(ex);
  if (*ex_text) p->exclude = ignore_parse(ex_text);
  const char *from = cf_flag(in, "from");
  _cleanup_free_ char *from_x = NULL;
  if (from != NULL && cf_expand(from, escape, true, stage_lookup, st, &from_x, err) < 0) return -1;
  if (from_source_open(b, st, from_x, open_sources, &p->src, err) < 0)
    return guise_error_prefix(err, "--from=%s", from_x);
  return 0;
}

int copy_cache_material(struct builder *b, struct stage *st, const struct cf_instruction *in,
                        char **material, guise_error **err)
{
  struct copy_plan p;
  int r = plan_make(b, st, in, false, &p, err);
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  bool named = r == 0 && from_source_identity(&p.src, d);
  for (size_t i = 0; r == 0 && p.srcs[i] != NULL; i++) {
    const char *s = p.srcs[i];
    digest_update(d, s, strlen(s) + 1);
    if (heredoc_named(in, s) != NULL || named) continue;
    if (in->kind == CF_ADD && is_url(s)) {
      const struct download *dl;
      r = download(b, s, p.checksum, &dl, err);
      if (r == 0) digest_update(d, dl->digest, strlen(dl->digest));
      continue;
    }
    _cleanup_strv_ char **matches = NULL;
    r = source_match(&p.src.root, s, &matches, err);
    if (r < 0 && (*err)->errnum == ENOENT)
      guise_error_prefix(err, "%s source not found in the build context", in->keyword);
    if (r == 0) r = source_hash(&p.src.root, matches, p.exclude, d, err);
  }
  plan_clear(&p);
  if (r < 0) return -1;
  char sum[DIGEST_STR_MAX];
  digest_peek(d, sum);
  if (asprintf(material, "%s\ncontent %s", in->original, sum) < 0) abort();
  return 0;
}

/* Where a source named name goes: into dest (a directory) or as dest. */
static int dest_for(struct copier *cp, struct stage *st, const struct copy_plan *p,
                    const char *name, bool into_dir, int *ddir, char **dname, char **dhint,
                    guise_error **err)
{
  bool into = into_dir || p->dest_is_dir || is_dir_at(st->rootfd, p->dest);
  if (into) {
    *ddir = open_dest_dir(cp, st, p->dest, err);
    *dname = strdup(name);
    *dhint = path_join(p->dest, name);
  } else {
    _cleanup_free_ char *parent = strdup(p->dest);
    char *slash = strrchr(parent, '/');
    *dname = strdup(slash + 1);
    slash[slash == parent ? 1 : 0] = '\0';
    *ddir = open_dest_dir(cp, st, parent, err);
    *dhint = strdup(p->dest);
  }
  if (*dname == NULL || *dhint == NULL) abort();
  return *ddir < 0 ? -1 : 0;
}

static int copy_heredoc(struct builder *b, struct copier *cp, struct stage *st,
                        const struct copy_plan *p, const struct cf_heredoc *h, guise_error **err)
{
  _cleanup_free_ char *body = NULL;
  if (h->expand) {
    if (cf_expand(h->body, b->cf->escape, false, stage_lookup, st, &body, err) < 0) return -1;
  } else {
    body = strdup(h->body);
  }
  _cleanup_close_ int ddir = -1;
  _cleanup_free_ char *dname = NULL, *dhint = NULL;
  if (dest_for(cp, st, p, h->name, false, &ddir, &dname, &dhint, err) < 0) return -1;
  if (clear_dest(cp, ddir, dname, dhint, err) < 0) return -1;
  _cleanup_close_ int fd =
      openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || write_all(fd, body, strlen(body)) < 0)
    return guise_fail_errno(err, "writing %s failed", dhint);
  mode_t mode = cp->chmod >= 0 ? (mode_t)cp->chmod : 0644;
  if (fchmod(fd, disk_mode(mode, false)) < 0) return guise_fail_errno(err, "chmod %s", dhint);
  return meta_record(cp->db, fd, dhint, cp->uid, cp->gid, S_IFREG | mode, 0, err);
}

static int copy_url(struct builder *b, struct copier *cp, struct stage *st,
                    const struct copy_plan *p, const char *url, guise_error **err)
{
  const struct download *dl;
  if (download(b, url, p->checksum, &dl, err) < 0) return -1;
  _cleanup_free_ char *name = url_file_name(url);
  if (name == NULL && (p->dest_is_dir || is_dir_at(st->rootfd, p->dest)))
    return guise_fail(err, 0, "ADD %s: the URL names no file; give the destination file name", url);
  _cleanup_close_ int ddir = -1;
  _cleanup_free_ char *dname = NULL, *dhint = NULL;
  if (dest_for(cp, st, p, name ? name : "", false, &ddir, &dname, &dhint, err) < 0) return -1;
  _cleanup_close_ int in = open(dl->path, O_PATH | O_CLOEXEC);
  struct stat sst;
  if (in < 0 || fstat(in, &sst) < 0) return guise_fail_errno(err, "opening %s failed", dl->path);
  /* As docker: a downloaded file is 0600 unless --chmod says otherwise, with the server's
   * Last-Modified time. */
  sst.st_mode = S_IFREG | 0600;
  if (dl->mtime >= 0) sst.st_mtim = (struct timespec){.tv_sec = (time_t)dl->mtime};
  sst.st_nlink = 1;
  return copy_file(cp, url, in, &sst, ddir, dname, dhint, err);
}

int step_copy_files(struct builder *b, struct stage *st, const struct cf_instruction *in,
                    guise_error **err)
{
  struct copy_plan p;
  struct copier cp = {.b = b, .chmod = -1, .what = in->keyword};
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  int r = plan_make(b, st, in, true, &p, err);
  if (r == 0) r = fakefs_db_open(st->db_path, FAKEFS_DB_CREATE, &db, err);
  const char *chown_text = cf_flag(in, "chown");
  const char *chmod_text = cf_flag(in, "chmod");
  _cleanup_free_ char *chown_x = NULL;
  if (r == 0 && chown_text != NULL) {
    struct resolved_user u = {0};
    r = cf_expand(chown_text, b->cf->escape, true, stage_lookup, st, &chown_x, err);
    if (r == 0) r = rootfs_resolve_user(st->rootfd, chown_x, &u, err);
    if (r < 0) guise_error_prefix(err, "--chown=%s", chown_text);
    cp.chown = true;
    cp.uid = u.uid;
    /* A number without a group stands for both ids (docker's COPY --chown=10). */
    size_t ulen = strcspn(chown_x, ":");
    cp.gid = chown_x[ulen] == '\0' && strspn(chown_x, "0123456789") == ulen ? u.uid : u.gid;
    resolved_user_clear(&u);
  }
  if (r == 0 && chmod_text != NULL) {
    char *end;
    long m = strtol(chmod_text, &end, 8);
    if (*end != '\0' || *chmod_text == '\0' || m < 0 || m > 07777)
      r = guise_fail(err, 0, "--chmod=%s: expected an octal mode such as 0644", chmod_text);
    cp.chmod = (int)m;
  }
  cp.src = &p.src.root;
  cp.dst_rootfd = st->rootfd;
  cp.exclude = p.exclude;
  cp.db = db;
  cp.preserve = r == 0 && (p.src.stage != NULL || p.src.image.rootfs != NULL);
  for (size_t i = 0; r == 0 && p.srcs[i] != NULL; i++) {
    const char *s = p.srcs[i];
    _cleanup_free_ char *what = NULL;
    if (asprintf(&what, "%s %s", in->keyword, s) < 0) abort();
    cp.what = what;
    const struct cf_heredoc *h = in->exec_form ? NULL : heredoc_named(in, s);
    if (h != NULL) {
      r = copy_heredoc(b, &cp, st, &p, h, err);
      continue;
    }
    if (in->kind == CF_ADD && p.src.root.db == NULL && (is_url(s) || is_git(s))) {
      if (is_git(s) && !is_url(s))
        r = guise_fail(err, ENOTSUP, "ADD %s: git repositories are not supported", s);
      else
        r = copy_url(b, &cp, st, &p, s, err);
      continue;
    }
    if (p.checksum != NULL) {
      r = guise_fail(err, 0, "ADD --checksum applies to URLs only, not %s", s);
      break;
    }
    _cleanup_strv_ char **matches = NULL;
    r = source_match(&p.src.root, s, &matches, err);
    if (r < 0) {
      if ((*err)->errnum == ENOENT)
        guise_error_prefix(err, "%s source not found in %s", in->keyword,
                           p.src.stage          ? "the stage"
                           : p.src.image.rootfs ? "the image"
                                                : "the build context");
      break;
    }
    if (matches[1] != NULL && !p.dest_is_dir) {
      r = guise_fail(err, 0,
                     "%s matches several files: the destination must be a directory "
                     "ending in /",
                     s);
      break;
    }
    for (size_t k = 0; r == 0 && matches[k] != NULL; k++) {
      const char *rel = matches[k];
      _cleanup_close_ int sfd = openat2_in(p.src.root.rootfd, *rel ? rel : "/", O_PATH, 0);
      struct stat sst;
      if (sfd < 0 || fstat(sfd, &sst) < 0) {
        r = guise_fail_errno(err, "opening the source %s failed", rel);
        break;
      }
      if (in->kind == CF_ADD && p.src.root.db == NULL && S_ISREG(sst.st_mode) && is_archive(sfd)) {
        r = add_archive(&cp, st, sfd, rel, p.dest, err);
        continue;
      }
      _cleanup_close_ int ddir = -1;
      _cleanup_free_ char *dname = NULL, *dhint = NULL;
      if (S_ISDIR(sst.st_mode)) {
        /* A directory's contents go into the destination, which takes the directory's
         * metadata when the copy makes it. */
        dhint = strdup(p.dest);
        size_t len = strlen(dhint);
        while (len > 1 && dhint[len - 1] == '/')
          dhint[--len] = '\0';
        char *slash = strrchr(dhint, '/');
        _cleanup_free_ char *parent = strndup(dhint, slash == dhint ? 1 : (size_t)(slash - dhint));
        dname = strdup(len == 1 ? "." : slash + 1);
        ddir = open_dest_dir(&cp, st, parent, err);
        r = ddir < 0 ? -1 : 0;
      } else {
        r = dest_for(&cp, st, &p, base_name(*rel ? rel : "/"), false, &ddir, &dname, &dhint, err);
      }
      _cleanup_free_ char *spath = NULL;
      if (r == 0) r = walk_path(&p.src.root, rel, sfd, &spath, err);
      if (r == 0) r = copy_node(&cp, *spath ? spath : "/", "", sfd, &sst, ddir, dname, dhint, err);
    }
  }
  copier_clear(&cp);
  plan_clear(&p);
  return r;
}

int copy_tree_to_dir(const struct source_root *src, const char *rel, const char *dest,
                     guise_error **err)
{
  _cleanup_close_ int sfd = openat2_in(src->rootfd, *rel ? rel : "/", O_PATH, 0);
  struct stat sst;
  if (sfd < 0 || fstat(sfd, &sst) < 0) return guise_fail_errno(err, "opening %s failed", rel);
  if (!visible_fd(src, rel, sfd, S_ISDIR(sst.st_mode)))
    return guise_fail(err, ENOENT, "%s: not found in the build context (ignored)", rel);
  /* The copy lives outside any rootfs: its faked state goes to a throwaway database. */
  _cleanup_free_ char *db_path = NULL;
  if (asprintf(&db_path, "%s.fakefs.db", dest) < 0) abort();
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (fakefs_db_open(db_path, FAKEFS_DB_CREATE, &db, err) < 0) return -1;
  struct copier cp = {.src = src, .db = db, .chmod = -1, .preserve = true, .what = "RUN --mount"};
  _cleanup_free_ char *parent = strdup(dest);
  char *slash = strrchr(parent, '/');
  *slash = '\0';
  _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) return guise_fail_errno(err, "opening %s failed", parent);
  cp.dst_rootfd = pfd;
  _cleanup_free_ char *spath = NULL;
  int r = walk_path(src, rel, sfd, &spath, err);
  if (r == 0)
    r = copy_node(&cp, *spath ? spath : "/", "", sfd, &sst, pfd, slash + 1, slash + 1, err);
  copier_clear(&cp);
  return r;
}
