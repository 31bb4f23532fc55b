/* RUN: the command in a rootless container on the stage's rootfs with root faked, with the
 * stage's environment, shell, working directory and user, and the instruction's mounts
 * (--mount=type=bind|cache|tmpfs) and network (--network=default|host|none). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/internal.h"
#include "runtime/container.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/fileio.h"

enum mount_type { RM_BIND, RM_CACHE, RM_TMPFS };

struct run_mount {
  enum mount_type type;
  char *target; /* absolute */
  char *source; /* relative to its root; "" = the root */
  char *from;
  char *id;
  char *sharing;
  char *size;
  bool rw;
  long mode, uid, gid; /* -1: default */
};

static void run_mount_clear(struct run_mount *m)
{
  free(m->target);
  free(m->source);
  free(m->from);
  free(m->id);
  free(m->sharing);
  free(m->size);
}

static int parse_number(const char *key, const char *v, int base, long *out, guise_error **err)
{
  char *end;
  errno = 0;
  long n = strtol(v, &end, base);
  if (*v == '\0' || *end != '\0' || errno != 0 || n < 0)
    return guise_fail(err, 0, "--mount %s=%s: expected a number", key, v);
  *out = n;
  return 0;
}

/* "type=cache,target=/root/.cache,id=x" (already expanded). */
static int parse_mount(struct stage *st, const char *text, struct run_mount *m, guise_error **err)
{
  *m = (struct run_mount){.mode = -1, .uid = -1, .gid = -1};
  _cleanup_free_ char *copy = strdup(text);
  _cleanup_free_ char *target = NULL;
  if (copy == NULL) abort();
  char *save = NULL;
  for (char *f = strtok_r(copy, ",", &save); f != NULL; f = strtok_r(NULL, ",", &save)) {
    char *v = strchr(f, '=');
    if (v != NULL) *v++ = '\0';
    const char *val = v ? v : "true";
    bool on = strcmp(val, "true") == 0 || strcmp(val, "1") == 0;
    char **slot = NULL;
    if (strcmp(f, "type") == 0) {
      if (strcmp(val, "bind") == 0)
        m->type = RM_BIND;
      else if (strcmp(val, "cache") == 0)
        m->type = RM_CACHE;
      else if (strcmp(val, "tmpfs") == 0)
        m->type = RM_TMPFS;
      else if (strcmp(val, "secret") == 0 || strcmp(val, "ssh") == 0)
        return guise_fail(err, ENOTSUP, "RUN --mount=type=%s is not supported", val);
      else
        return guise_fail(err, 0, "RUN --mount type=%s: expected bind, cache or tmpfs", val);
      continue;
    }
    if (strcmp(f, "target") == 0 || strcmp(f, "dst") == 0 || strcmp(f, "destination") == 0)
      slot = &target;
    else if (strcmp(f, "source") == 0 || strcmp(f, "src") == 0)
      slot = &m->source;
    else if (strcmp(f, "from") == 0)
      slot = &m->from;
    else if (strcmp(f, "id") == 0)
      slot = &m->id;
    else if (strcmp(f, "sharing") == 0)
      slot = &m->sharing;
    else if (strcmp(f, "size") == 0)
      slot = &m->size;
    if (slot != NULL) {
      if (v == NULL) return guise_fail(err, 0, "RUN --mount %s needs a value", f);
      free(*slot);
      *slot = strdup(v);
      continue;
    }
    if (strcmp(f, "z") == 0 || strcmp(f, "Z") == 0)
      continue; /* SELinux relabeling: nothing to relabel here, as buildah without SELinux */
    if (strcmp(f, "ro") == 0 || strcmp(f, "readonly") == 0)
      m->rw = !on;
    else if (strcmp(f, "rw") == 0 || strcmp(f, "readwrite") == 0)
      m->rw = on;
    else if (strcmp(f, "mode") == 0) {
      if (parse_number(f, val, 8, &m->mode, err) < 0) return -1;
    } else if (strcmp(f, "uid") == 0) {
      if (parse_number(f, val, 10, &m->uid, err) < 0) return -1;
    } else if (strcmp(f, "gid") == 0) {
      if (parse_number(f, val, 10, &m->gid, err) < 0) return -1;
    } else
      return guise_fail(err, 0, "RUN --mount: unknown option '%s'", f);
  }
  if (target == NULL || *target == '\0')
    return guise_fail(err, 0, "RUN --mount=%s: target= is missing", text);
  m->target = stage_abs_path(st, target);
  if (m->type == RM_CACHE) {
    if (m->sharing != NULL && strcmp(m->sharing, "shared") != 0 &&
        strcmp(m->sharing, "locked") != 0 && strcmp(m->sharing, "private") != 0)
      return guise_fail(err, 0, "RUN --mount sharing=%s: expected shared, locked or private",
                        m->sharing);
    m->rw = true;
  }
  if (m->source == NULL) m->source = strdup("");
  return 0;
}

static int parse_mounts(struct builder *b, struct stage *st, const struct cf_instruction *in,
                        struct run_mount **out, size_t *n, guise_error **err)
{
  const char **texts = cf_flag_all(in, "mount");
  size_t count = 0;
  while (texts[count] != NULL)
    count++;
  struct run_mount *m = calloc(count + 1, sizeof(*m));
  if (m == NULL) abort();
  int r = 0;
  size_t i;
  for (i = 0; r == 0 && i < count; i++) {
    _cleanup_free_ char *x = NULL;
    r = cf_expand(texts[i], b->cf->escape, true, stage_lookup, st, &x, err);
    if (r == 0) r = parse_mount(st, x, &m[i], err);
  }
  free(texts);
  *out = m;
  *n = r == 0 ? count : i;
  return r;
}

static int bind_source_open(struct builder *b, struct stage *st, const struct run_mount *m,
                            bool open_root, struct from_source *fs, guise_error **err)
{
  if (from_source_open(b, st, m->from, open_root, fs, err) < 0)
    return guise_error_prefix(err, "RUN --mount from=%s", m->from);
  return 0;
}

int run_cache_material(struct builder *b, struct stage *st, const struct cf_instruction *in,
                       char **material, guise_error **err)
{
  struct run_mount *m = NULL;
  size_t n = 0;
  int r = parse_mounts(b, st, in, &m, &n, err);
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  for (size_t i = 0; r == 0 && i < n; i++) {
    if (m[i].type != RM_BIND) continue;
    struct from_source fs;
    r = bind_source_open(b, st, &m[i], false, &fs, err);
    if (r == 0 && !from_source_identity(&fs, d)) {
      char *one[] = {m[i].source, NULL};
      r = source_hash(&fs.root, one, NULL, d, err);
    }
    from_source_clear(&fs);
  }
  for (size_t i = 0; i < n; i++)
    run_mount_clear(&m[i]);
  free(m);
  if (r < 0) return -1;
  char sum[DIGEST_STR_MAX];
  digest_peek(d, sum);
  if (asprintf(material, "%s\nmounts %s", in->original, sum) < 0) abort();
  return 0;
}

/* --- the command line --- */

static bool only_heredoc(const char *line, const struct cf_heredoc *h)
{
  const char *p = line;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncmp(p, "<<", 2) != 0) return false;
  p += 2 + h->strip_tabs;
  if (*p == '"' || *p == '\'') p++;
  p += strlen(h->name);
  if (*p == '"' || *p == '\'') p++;
  while (*p == ' ' || *p == '\t')
    p++;
  return *p == '\0';
}

/* argv of the RUN; a heredoc script with a #! line is written to script (bound into the
 * container at /dev/pipes/NAME, as BuildKit does). */
static int run_argv(struct builder *b, struct stage *st, const struct cf_instruction *in,
                    struct container_spec *spec, guise_error **err)
{
  size_t i;
  json_t *v;
  if (in->exec_form) {
    for (i = 0; in->args[i] != NULL; i++)
      strv_append(&spec->argv, in->args[i]);
    return 0;
  }
  _cleanup_free_ char *script = NULL;
  if (in->n_heredocs == 1 && only_heredoc(in->args[0], &in->heredocs[0])) {
    const struct cf_heredoc *h = &in->heredocs[0];
    if (strncmp(h->body, "#!", 2) == 0) {
      _cleanup_free_ char *file = build_tmp_path(b, "heredoc");
      if (write_file_at(AT_FDCWD, file, h->body, err) < 0) return -1;
      if (chmod(file, 0755) < 0) return guise_fail_errno(err, "chmod %s failed", file);
      _cleanup_free_ char *dest = NULL;
      if (asprintf(&dest, "/dev/pipes/%s", h->name) < 0) abort();
      struct mount_spec ms = {.kind = MOUNT_KIND_BIND,
                              .source = file,
                              .destination = dest,
                              .flags = MS_RDONLY | MS_NOSUID | MS_NODEV};
      spec_add_mount(spec, &ms);
      strv_append(&spec->argv, dest);
      return 0;
    }
    script = strdup(h->body);
  } else {
    size_t len = strlen(in->args[0]) + 1;
    for (i = 0; i < in->n_heredocs; i++)
      len += strlen(in->heredocs[i].body) + strlen(in->heredocs[i].name) + 2;
    script = malloc(len + 1);
    if (script == NULL) abort();
    char *p = script + sprintf(script, "%s", in->args[0]);
    for (i = 0; i < in->n_heredocs; i++)
      p += sprintf(p, "\n%s%s", in->heredocs[i].body, in->heredocs[i].name);
  }
  json_array_foreach(st->shell, i, v) strv_append(&spec->argv, json_string_value(v));
  strv_append(&spec->argv, script);
  return 0;
}

static bool env_has_name(char **env, const char *name)
{
  size_t len = strlen(name);
  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=') return true;
  return false;
}

/* Build arguments docker passes to RUN without an ARG declaring them. */
static bool predefined_proxy_arg(const char *name)
{
  static const char *const names[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                      "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                      "ALL_PROXY",  "all_proxy"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(name, names[i]) == 0) return true;
  return false;
}

static void run_env(struct builder *b, struct stage *st, struct container_spec *spec)
{
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(st->config, "Env"), i, v)
      strv_append(&spec->env, json_string_value(v));
  /* ARGs are in the environment of RUN; ENV wins. */
  for (i = 0; st->args != NULL && st->args[i] != NULL; i++) {
    _cleanup_free_ char *name = strndup(st->args[i], strcspn(st->args[i], "="));
    if (!env_has_name(spec->env, name)) strv_append(&spec->env, st->args[i]);
  }
  for (i = 0; b->o->build_args != NULL && b->o->build_args[i] != NULL; i++) {
    const char *a = b->o->build_args[i];
    _cleanup_free_ char *name = strndup(a, strcspn(a, "="));
    if (!predefined_proxy_arg(name) || env_has_name(spec->env, name)) continue;
    const char *value = strchr(a, '=') ? strchr(a, '=') + 1 : getenv(name);
    if (value == NULL) continue;
    _cleanup_free_ char *pair = NULL;
    if (asprintf(&pair, "%s=%s", name, value) < 0) abort();
    strv_append(&spec->env, pair);
  }
}

int spec_apply_user(struct container_spec *spec, int rootfd, const char *user, guise_error **err)
{
  if (user == NULL || *user == '\0') return 0;
  struct resolved_user u = {0};
  if (rootfs_resolve_user(rootfd, user, &u, err) < 0)
    return guise_error_prefix(err, "USER %s", user);
  spec->uid = u.uid;
  spec->gid = u.gid;
  free(spec->additional_gids);
  spec->additional_gids = steal_ptr(&u.groups);
  spec->n_additional_gids = u.n_groups;
  if (u.home != NULL && !env_has_name(spec->env, "HOME")) {
    _cleanup_free_ char *home = NULL;
    if (asprintf(&home, "HOME=%s", u.home) < 0) abort();
    strv_append(&spec->env, home);
  }
  resolved_user_clear(&u);
  return 0;
}

/* --- mountpoints --- */

static void note_missing(int rootfd, const char *dest, struct made_paths *mp)
{
  char prefix[PATH_MAX];
  size_t len = 0;
  bool missing = false;
  for (const char *p = dest; *p != '\0';) {
    while (*p == '/')
      p++;
    if (*p == '\0') break;
    size_t n = strcspn(p, "/");
    if (len + n + 2 >= sizeof(prefix)) return;
    prefix[len++] = '/';
    memcpy(prefix + len, p, n);
    len += n;
    prefix[len] = '\0';
    p += n;
    if (!missing) {
      _cleanup_close_ int fd = openat2_in(rootfd, prefix, O_PATH, 0);
      if (fd >= 0) continue;
      if (errno != ENOENT) return;
      missing = true;
    }
    /* This component and every one below it will be made by the container's setup. */
    bool seen = false;
    for (size_t i = 0; mp->paths != NULL && mp->paths[i] != NULL && !seen; i++)
      seen = strcmp(mp->paths[i], prefix) == 0;
    if (!seen) strv_append(&mp->paths, prefix);
  }
}

void made_paths_note(int rootfd, const struct container_spec *spec, struct made_paths *mp)
{
  for (size_t i = 0; i < spec->n_mounts; i++)
    note_missing(rootfd, spec->mounts[i].destination, mp);
  if (spec->provide_etc_files) {
    note_missing(rootfd, "/etc/hostname", mp);
    note_missing(rootfd, "/etc/hosts", mp);
    note_missing(rootfd, "/etc/resolv.conf", mp);
  }
}

void made_paths_remove(int rootfd, struct made_paths *mp)
{
  size_t n = strv_length(mp->paths);
  for (size_t i = n; i-- > 0;) {
    const char *path = mp->paths[i];
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *parent = strndup(path, (size_t)(slash - path));
    _cleanup_close_ int pfd = openat2_in(rootfd, *parent ? parent : "/", O_RDONLY | O_DIRECTORY, 0);
    if (pfd < 0) continue;
    struct stat st;
    if (fstatat(pfd, slash + 1, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISDIR(st.st_mode))
      unlinkat(pfd, slash + 1, AT_REMOVEDIR); /* fails, as it should, when not empty */
    else if (S_ISREG(st.st_mode) && st.st_size == 0)
      unlinkat(pfd, slash + 1, 0);
  }
  strv_free(mp->paths);
  mp->paths = NULL;
}

/* --- faked state of what is mounted from elsewhere --- */

/* Rows of another database (an earlier stage's or an image's) are shown in this RUN while its
 * files are mounted: same inodes, so the rows apply as they are.  They are dropped again after
 * the RUN (a file under a bind mount cannot be linked into the rootfs, EXDEV). */
struct row_copy {
  struct fakefs_db *to;
  struct fakefs_db *from;
  bool forget;
  guise_error **err;
};

struct xattr_to {
  struct fakefs_db *db;
  const struct fakefs_key *key;
  guise_error **err;
};

static int put_xattr(void *ud, const char *name, const void *value, size_t len)
{
  struct xattr_to *x = ud;
  return fakefs_db_xattr_set(x->db, x->key, name, value, len, 0, NULL, x->err) < 0 ? -1 : 0;
}

static int copy_row(void *ud, const struct fake_inode *fi, const char *hint)
{
  struct row_copy *rc = ud;
  if (rc->forget) return fakefs_db_forget(rc->to, &fi->key, rc->err) < 0 ? -1 : 0;
  if (fakefs_db_put(rc->to, fi, hint, rc->err) < 0) return -1;
  if (!(fi->fields & FAKEFS_FAKE_XATTRS)) return 0;
  struct xattr_to x = {rc->to, &fi->key, rc->err};
  return fakefs_db_xattr_foreach(rc->from, &fi->key, put_xattr, &x, rc->err) < 0 ? -1 : 0;
}

static int share_rows(const char *to_path, const char *from_path, bool forget, guise_error **err)
{
  if (access(from_path, F_OK) < 0) return 0;
  _cleanup_fakefs_db_ struct fakefs_db *to = NULL, *from = NULL;
  if (fakefs_db_open(to_path, FAKEFS_DB_CREATE, &to, err) < 0 ||
      fakefs_db_open(from_path, FAKEFS_DB_READONLY, &from, err) < 0)
    return -1;
  struct row_copy rc = {to, from, forget, err};
  if (fakefs_db_begin(to, err) < 0) return -1;
  if (fakefs_db_foreach(from, copy_row, &rc, err) != 0) {
    fakefs_db_rollback(to);
    return -1;
  }
  return fakefs_db_commit(to, err);
}

/* --- the step --- */

struct run_state {
  struct container_spec spec;
  struct made_paths made;
  char **shared_dbs; /* databases whose rows were shared into the stage's */
  int *locks;
  size_t n_locks;
  struct fakefs_key *cache_keys; /* cache mount roots given a faked owner or mode */
  size_t n_cache_keys;
};

static int add_bind(struct builder *b, struct stage *st, struct run_state *rs,
                    const struct run_mount *m, guise_error **err)
{
  struct from_source br;
  if (bind_source_open(b, st, m, true, &br, err) < 0) {
    from_source_clear(&br);
    return -1;
  }
  int r = 0;
  _cleanup_free_ char *source = NULL;
  _cleanup_close_ int fd = openat2_in(br.root.rootfd, *m->source ? m->source : "/", O_PATH, 0);
  if (fd < 0) {
    r = guise_fail_errno(err, "RUN --mount source=%s", *m->source ? m->source : "/");
    goto out;
  }
  if (m->rw || (br.root.ignore != NULL && ignore_count(br.root.ignore) > 0)) {
    /* A copy: writes are thrown away, and ignored files are not there. */
    source = build_tmp_path(b, "bind");
    if (copy_tree_to_dir(&br.root, m->source, source, err) < 0) {
      r = -1;
      goto out;
    }
  } else {
    /* The path the kernel resolved inside the root, never outside it. */
    char self[64], real[PATH_MAX];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(self, real, sizeof(real) - 1);
    if (n < 0) {
      r = guise_fail_errno(err, "resolving %s failed", m->source);
      goto out;
    }
    real[n] = '\0';
    source = strdup(real);
    const char *db = br.db_path;
    if (db != NULL) {
      if (share_rows(st->db_path, db, false, err) < 0) {
        r = -1;
        goto out;
      }
      strv_append(&rs->shared_dbs, db);
    }
  }
  struct mount_spec ms = {.kind = MOUNT_KIND_BIND,
                          .source = source,
                          .destination = m->target,
                          .recursive = true,
                          .flags = (m->rw ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV};
  spec_add_mount(&rs->spec, &ms);
out:
  from_source_clear(&br);
  return r;
}

/* The directory of a cache mount.  With from=, the cache starts as a copy of from's source=
 * (BuildKit: "a base of the cache mount"); it is its own cache, apart from the same id's
 * without that base.  Without from=, source= is a subdirectory of the cache. */
static int cache_dir_for(struct builder *b, struct stage *st, const struct run_mount *m, char **dir,
                         guise_error **err)
{
  const char *id = m->id ? m->id : m->target;
  if (m->from == NULL) {
    _cleanup_free_ char *top = NULL;
    if (cache_mount_dir(b, id, &top, err) < 0) return -1;
    _cleanup_close_ int topfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (topfd < 0) return guise_fail_errno(err, "opening %s failed", top);
    _cleanup_free_ char *sub = path_clean(m->source);
    _cleanup_close_ int fd = rootfs_mkdirs(topfd, sub, NULL, 0, 0, "RUN --mount=type=cache", err);
    if (fd < 0) return -1;
    if (asprintf(dir, "%s%s", top, strcmp(sub, "/") == 0 ? "" : sub) < 0) abort();
    return 0;
  }
  struct from_source fs;
  if (from_source_open(b, st, m->from, true, &fs, err) < 0) {
    from_source_clear(&fs);
    return guise_error_prefix(err, "RUN --mount from=%s", m->from);
  }
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  digest_update(d, id, strlen(id) + 1);
  digest_update(d, m->source, strlen(m->source) + 1);
  from_source_identity(&fs, d);
  char key[DIGEST_STR_MAX];
  digest_peek(d, key);
  int r = cache_mount_dir(b, key, dir, err);
  bool empty = true;
  if (r == 0) {
    _cleanup_closedir_ DIR *dd = opendir(*dir);
    if (dd == NULL) r = guise_fail_errno(err, "opening %s failed", *dir);
    for (struct dirent *e; dd != NULL && empty && (e = readdir(dd)) != NULL;)
      empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
  }
  if (r == 0 && empty) {
    r = copy_tree_to_dir(&fs.root, m->source, *dir, err);
    _cleanup_free_ char *db = NULL;
    if (asprintf(&db, "%s.fakefs.db", *dir) < 0) abort();
    unlink(db); /* the copy's throwaway faked state: a cache holds content only */
    if (r < 0) guise_error_prefix(err, "RUN --mount from=%s source=%s", m->from, m->source);
  }
  from_source_clear(&fs);
  return r;
}

static int add_cache(struct builder *b, struct stage *st, struct run_state *rs,
                     const struct run_mount *m, guise_error **err)
{
  _cleanup_free_ char *dir = NULL;
  if (cache_dir_for(b, st, m, &dir, err) < 0) return -1;
  if (m->sharing != NULL && strcmp(m->sharing, "locked") == 0) {
    _cleanup_free_ char *lock = NULL;
    if (asprintf(&lock, "%s.lock", dir) < 0) abort();
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
      if (fd >= 0) close(fd);
      return guise_fail_errno(err, "locking the cache mount %s failed", lock);
    }
    rs->locks = realloc(rs->locks, (rs->n_locks + 1) * sizeof(int));
    if (rs->locks == NULL) abort();
    rs->locks[rs->n_locks++] = fd;
  }
  if (m->mode >= 0 || m->uid > 0 || m->gid > 0) {
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
    if (fd < 0) return guise_fail_errno(err, "opening %s failed", dir);
    mode_t mode = m->mode >= 0 ? (mode_t)m->mode : 0755;
    if (fchmod(fd, mode | 0700) < 0) return guise_fail_errno(err, "chmod %s failed", dir);
    if (fakefs_db_open(st->db_path, FAKEFS_DB_CREATE, &db, err) < 0 ||
        meta_record(db, fd, m->target, m->uid > 0 ? (uint32_t)m->uid : 0,
                    m->gid > 0 ? (uint32_t)m->gid : 0, S_IFDIR | mode, 0, err) < 0)
      return -1;
    rs->cache_keys = realloc(rs->cache_keys, (rs->n_cache_keys + 1) * sizeof(struct fakefs_key));
    if (rs->cache_keys == NULL) abort();
    if (fakefs_key_from_fd(fd, &rs->cache_keys[rs->n_cache_keys], NULL, err) < 0) return -1;
    rs->n_cache_keys++;
  }
  struct mount_spec ms = {.kind = MOUNT_KIND_BIND,
                          .source = dir,
                          .destination = m->target,
                          .recursive = true,
                          .flags = MS_NOSUID | MS_NODEV};
  spec_add_mount(&rs->spec, &ms);
  return 0;
}

static int add_mounts(struct builder *b, struct stage *st, const struct cf_instruction *in,
                      struct run_state *rs, guise_error **err)
{
  struct run_mount *m = NULL;
  size_t n = 0;
  int r = parse_mounts(b, st, in, &m, &n, err);
  for (size_t i = 0; r == 0 && i < n; i++) {
    if (m[i].type == RM_BIND) {
      r = add_bind(b, st, rs, &m[i], err);
    } else if (m[i].type == RM_CACHE) {
      r = add_cache(b, st, rs, &m[i], err);
    } else {
      _cleanup_free_ char *data = NULL;
      if (m[i].size != NULL && asprintf(&data, "size=%s", m[i].size) < 0) abort();
      struct mount_spec ms = {.kind = MOUNT_KIND_FS,
                              .source = (char *)"tmpfs",
                              .type = (char *)"tmpfs",
                              .destination = m[i].target,
                              .data = data,
                              .flags = MS_NOSUID | MS_NODEV};
      spec_add_mount(&rs->spec, &ms);
    }
  }
  for (size_t i = 0; i < n; i++)
    run_mount_clear(&m[i]);
  free(m);
  return r;
}

static void run_state_clear(struct stage *st, struct run_state *rs)
{
  made_paths_remove(st->rootfd, &rs->made);
  for (size_t i = 0; rs->shared_dbs != NULL && rs->shared_dbs[i] != NULL; i++) {
    _cleanup_error_ guise_error *e = NULL;
    share_rows(st->db_path, rs->shared_dbs[i], true, &e);
  }
  strv_free(rs->shared_dbs);
  if (rs->n_cache_keys > 0) {
    _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
    _cleanup_error_ guise_error *e = NULL;
    if (fakefs_db_open(st->db_path, FAKEFS_DB_CREATE, &db, &e) == 0)
      for (size_t i = 0; i < rs->n_cache_keys; i++)
        fakefs_db_forget(db, &rs->cache_keys[i], &e);
  }
  free(rs->cache_keys);
  for (size_t i = 0; i < rs->n_locks; i++)
    close(rs->locks[i]);
  free(rs->locks);
  spec_free(&rs->spec);
}

/* Run spec with the command's output kept in a file (quiet builds): shown only on failure. */
static int run_container(struct builder *b, struct container_spec *spec, int *status,
                         guise_error **err)
{
  if (b->o->progress != NULL) {
    fflush(b->o->progress);
    fflush(stdout);
    return container_run(spec, status, err);
  }
  _cleanup_free_ char *log = build_tmp_path(b, "output");
  _cleanup_close_ int fd = open(log, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return guise_fail_errno(err, "creating %s failed", log);
  fflush(stdout);
  fflush(stderr);
  int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
  if (saved_out < 0 || saved_err < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
      dup2(fd, STDERR_FILENO) < 0) {
    int e = errno;
    if (saved_out >= 0) dup2(saved_out, STDOUT_FILENO), close(saved_out);
    if (saved_err >= 0) dup2(saved_err, STDERR_FILENO), close(saved_err);
    return guise_fail(err, e, "redirecting the command's output failed");
  }
  int r = container_run(spec, status, err);
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  close(saved_out);
  close(saved_err);
  if (r < 0 || *status != 0) {
    /* The command's own words are the best explanation of its failure. */
    char buf[65536];
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
      write_all(STDERR_FILENO, buf, (size_t)n);
  }
  return r;
}

int step_run(struct builder *b, struct stage *st, const struct cf_instruction *in,
             guise_error **err)
{
  struct run_state rs = {.spec = {.net = NET_HOST, .umask = 022}};
  struct container_spec *spec = &rs.spec;
  const char *network = cf_flag(in, "network");
  int rc = -1;
  if (network != NULL && strcmp(network, "none") == 0)
    spec->net = NET_NONE;
  else if (network != NULL && strcmp(network, "host") != 0 && strcmp(network, "default") != 0)
    return guise_fail(err, 0, "RUN --network=%s: expected default, host or none", network);
  const char *security = cf_flag(in, "security");
  if (security != NULL && strcmp(security, "sandbox") != 0)
    return guise_fail(err, ENOTSUP, "RUN --security=%s is not supported", security);
  spec->rootfs = strdup(st->rootfs);
  spec->fake_db = strdup(st->db_path);
  spec_init_for_rootfs(spec);
  if (run_argv(b, st, in, spec, err) < 0) goto out;
  run_env(b, st, spec);
  const char *cwd = json_string_value(json_object_get(st->config, "WorkingDir"));
  if (cwd != NULL && *cwd != '\0') spec->cwd = strdup(cwd);
  const char *user = json_string_value(json_object_get(st->config, "User"));
  if (spec_apply_user(spec, st->rootfd, user, err) < 0) goto out;
  if (add_mounts(b, st, in, &rs, err) < 0) goto out;
  spec_init_defaults(spec, false);
  made_paths_note(st->rootfd, spec, &rs.made);
  int status = 125;
  if (run_container(b, spec, &status, err) < 0) goto out;
  if (status != 0) {
    guise_fail(err, 0, "the command exited with status %d", status);
    goto out;
  }
  rc = 0;
out:
  run_state_clear(st, &rs);
  return rc;
}
