/* guise build: stages, steps, the cache and the finished image.  RUN is in run.c, COPY/ADD in
 * copy.c, the cache files in cache.c. */
#include "builder/build.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "builder/internal.h"
#include "image/layer.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/user.h"
#include "util/cleanup.h"
#include "util/fileio.h"

/* --- small helpers --- */

int openat2_in(int dirfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                         .mode = mode,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

void remove_tree(const char *path)
{
  rm_rf_at(AT_FDCWD, path, NULL);
}

char *path_clean(const char *path)
{
  _cleanup_strv_ char **parts = ignore_path_parts(path);
  size_t len = 2;
  for (size_t i = 0; parts[i] != NULL; i++)
    len += strlen(parts[i]) + 1;
  char *out = calloc(1, len);
  if (out == NULL) abort();
  size_t n = 0;
  for (size_t i = 0; parts[i] != NULL; i++)
    n += (size_t)sprintf(out + n, "/%s", parts[i]);
  if (n == 0) strcpy(out, "/");
  return out;
}

/* The path inside the rootfs that the directory fd is (as the kernel resolved it). */
static char *path_in_root(int rootfd, int fd)
{
  char self[64], root[PATH_MAX], real[PATH_MAX];
  snprintf(self, sizeof(self), "/proc/self/fd/%d", rootfd);
  ssize_t rn = readlink(self, root, sizeof(root) - 1);
  snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(self, real, sizeof(real) - 1);
  if (rn < 0 || n < rn) return NULL;
  root[rn] = real[n] = '\0';
  if (strncmp(real, root, (size_t)rn) != 0 || (real[rn] != '/' && real[rn] != '\0')) return NULL;
  return path_clean(real[rn] ? real + rn : "/");
}

int rootfs_mkdirs(int rootfd, const char *path, struct fakefs_db *db, uint32_t uid, uint32_t gid,
                  const char *what, guise_error **err)
{
  _cleanup_free_ char *want = path_clean(path);
  for (int links = 0;; links++) {
    if (links > 40) return guise_fail(err, ELOOP, "%s: resolving %s failed", what, path);
    bool restart = false;
    char prefix[PATH_MAX] = "/";
    for (const char *p = want + 1; *p != '\0' && !restart;) {
      size_t n = strcspn(p, "/");
      char parent[PATH_MAX];
      snprintf(parent, sizeof(parent), "%s", prefix);
      if (strlen(prefix) + n + 2 > sizeof(prefix))
        return guise_fail(err, ENAMETOOLONG, "%s: %s", what, path);
      if (strcmp(prefix, "/") != 0) strcat(prefix, "/");
      strncat(prefix, p, n);
      const char *name = p;
      p += n + (p[n] == '/');
      _cleanup_close_ int fd = openat2_in(rootfd, prefix, O_PATH, 0);
      if (fd < 0 && errno != ENOENT)
        return guise_fail_errno(err, "%s: opening %s failed", what, prefix);
      if (fd < 0) {
        _cleanup_close_ int pfd = openat2_in(rootfd, parent, O_RDONLY | O_DIRECTORY, 0);
        if (pfd < 0) return guise_fail_errno(err, "%s: opening %s failed", what, parent);
        _cleanup_free_ char *base = strndup(name, n);
        char target[PATH_MAX];
        ssize_t tn = readlinkat(pfd, base, target, sizeof(target) - 1);
        if (tn >= 0) {
          /* A dangling symlink: its target is made, resolved inside the rootfs from where the
           * link really is, as docker does. */
          target[tn] = '\0';
          _cleanup_free_ char *at = path_in_root(rootfd, pfd);
          _cleanup_free_ char *next = NULL;
          if (at == NULL) return guise_fail(err, 0, "%s: resolving %s failed", what, parent);
          if (asprintf(&next, "%s/%s/%s", target[0] == '/' ? "" : at, target, p) < 0) abort();
          free(want);
          want = path_clean(next);
          restart = true;
          continue;
        }
        /* 0755 whatever the umask, as docker and buildah make them. */
        if (mkdirat(pfd, base, 0755) == 0 ? fchmodat(pfd, base, 0755, 0) < 0 : errno != EEXIST)
          return guise_fail_errno(err, "%s: creating %s failed", what, prefix);
        fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return guise_fail_errno(err, "%s: opening %s failed", what, prefix);
        if (db != NULL && meta_record(db, fd, prefix, uid, gid, S_IFDIR | 0755, 0, err) < 0)
          return -1;
      }
      struct stat sb;
      if (fstat(fd, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return guise_fail(err, ENOTDIR, "%s: %s is not a directory", what, prefix);
    }
    if (restart) continue;
    int fd = openat2_in(rootfd, want, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return guise_fail_errno(err, "%s: opening %s failed", what, want);
    return fd;
  }
}

void build_say(struct builder *b, const char *fmt, ...)
{
  if (b->o->progress == NULL) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(b->o->progress, fmt, ap);
  va_end(ap);
  fputc('\n', b->o->progress);
  fflush(b->o->progress);
}

char *build_tmp_path(struct builder *b, const char *what)
{
  char *p = NULL;
  if (asprintf(&p, "%s/%s.%u", b->work, what, b->tmp_seq++) < 0) abort();
  return p;
}

static char *created_time(const struct builder *b)
{
  time_t t = b->o->source_date_epoch >= 0 ? (time_t)b->o->source_date_epoch : time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  char *s = strdup(buf);
  if (s == NULL) abort();
  return s;
}

/* --- variables --- */

static const char *strv_lookup(char **v, const char *name)
{
  size_t len = strlen(name);
  const char *found = NULL;
  for (size_t i = 0; v != NULL && v[i] != NULL; i++)
    if (strncmp(v[i], name, len) == 0 && v[i][len] == '=') found = v[i] + len + 1;
  return found;
}

static const char *json_env_lookup(json_t *config, const char *name)
{
  json_t *env = json_object_get(config, "Env");
  size_t len = strlen(name), i;
  json_t *e;
  json_array_foreach(env, i, e)
  {
    const char *s = json_string_value(e);
    if (s != NULL && strncmp(s, name, len) == 0 && s[len] == '=') return s + len + 1;
  }
  return NULL;
}

const char *stage_lookup(void *ud, const char *name)
{
  struct stage *st = ud;
  const char *v = json_env_lookup(st->config, name);
  return v != NULL ? v : strv_lookup(st->args, name);
}

/* The platform arguments BuildKit defines (TARGETARCH...): this machine's platform. */
static const char *platform_arg(const char *name)
{
  static char os[32], arch[32], variant[32];
  const char *plat = image_default_platform();
  if (sscanf(plat, "%31[^/]/%31[^/]/%31s", os, arch, variant) < 3) variant[0] = '\0';
  const char *suffix = NULL;
  if (strncmp(name, "TARGET", 6) == 0)
    suffix = name + 6;
  else if (strncmp(name, "BUILD", 5) == 0)
    suffix = name + 5;
  if (suffix == NULL) return NULL;
  if (strcmp(suffix, "PLATFORM") == 0) return plat;
  if (strcmp(suffix, "OS") == 0) return os;
  if (strcmp(suffix, "ARCH") == 0) return arch;
  if (strcmp(suffix, "VARIANT") == 0) return variant;
  return NULL;
}

static const char *global_lookup(void *ud, const char *name)
{
  struct builder *b = ud;
  const char *v = strv_lookup(b->global_args, name);
  return v != NULL ? v : platform_arg(name);
}

static void json_env_set(json_t *config, const char *name, const char *value)
{
  json_t *env = json_object_get(config, "Env");
  if (!json_is_array(env)) {
    env = json_array();
    json_object_set_new(config, "Env", env);
  }
  size_t len = strlen(name), i;
  json_t *e;
  _cleanup_free_ char *pair = NULL;
  if (asprintf(&pair, "%s=%s", name, value) < 0) abort();
  json_array_foreach(env, i, e)
  {
    const char *s = json_string_value(e);
    if (s != NULL && strncmp(s, name, len) == 0 && s[len] == '=') {
      json_array_set_new(env, i, json_string(pair));
      return;
    }
  }
  json_array_append_new(env, json_string(pair));
}

/* A build argument's value from --build-arg, if given (NAME alone: the caller's $NAME). */
static const char *build_arg_value(struct builder *b, const char *name)
{
  size_t len = strlen(name);
  const char *found = NULL;
  for (size_t i = 0; b->o->build_args != NULL && b->o->build_args[i] != NULL; i++) {
    const char *a = b->o->build_args[i];
    if (strncmp(a, name, len) == 0 && a[len] == '=') found = a + len + 1;
    if (strcmp(a, name) == 0) found = getenv(name);
  }
  if (strv_lookup(b->used_args, name) == NULL) {
    _cleanup_free_ char *mark = NULL;
    if (asprintf(&mark, "%s=", name) < 0) abort();
    strv_append(&b->used_args, mark);
  }
  return found;
}

/* ARG NAME[=default] into scope; material gets what the cache key must know. */
static int declare_arg(struct builder *b, char ***scope, const char *decl, cf_lookup_fn lookup,
                       void *ud, char **material, guise_error **err)
{
  _cleanup_free_ char *name = strndup(decl, strcspn(decl, "="));
  const char *eq = strchr(decl, '=');
  const char *value = NULL;
  _cleanup_free_ char *expanded = NULL;
  if (eq != NULL) {
    if (cf_expand(eq + 1, b->cf->escape, true, lookup, ud, &expanded, err) < 0) return -1;
    value = expanded;
  }
  const char *given = build_arg_value(b, name);
  if (given != NULL) value = given;
  if (value == NULL && scope != &b->global_args) value = global_lookup(b, name);
  if (value == NULL) value = platform_arg(name);
  _cleanup_free_ char *pair = NULL;
  if (asprintf(&pair, "%s=%s", name, value ? value : "") < 0) abort();
  if (value != NULL) strv_append(scope, pair);
  char *m = NULL;
  if (asprintf(&m, "%sARG %s%s\n", *material ? *material : "", value ? pair : name,
               value ? "" : " (unset)") < 0)
    abort();
  free(*material);
  *material = m;
  return 0;
}

static bool parse_id(const char *s, uint32_t *id)
{
  return user_parse_id(s, id);
}

/* --- stages --- */

struct stage *stage_find(struct builder *b, const char *name, size_t before)
{
  uint32_t index;
  if (parse_id(name, &index)) return index < before ? &b->stages[index] : NULL;
  /* A repeated name: the latest stage of that name before the reference, as BuildKit resolves
   * FROM (its later stages overwrite the earlier ones by name). */
  for (size_t i = before < b->n_stages ? before : b->n_stages; i-- > 0;)
    if (b->stages[i].name != NULL && strcasecmp(b->stages[i].name, name) == 0) return &b->stages[i];
  return NULL;
}

char *stage_abs_path(const struct stage *st, const char *path)
{
  const char *cwd = json_string_value(json_object_get(st->config, "WorkingDir"));
  char *abs = NULL;
  if (path[0] == '/')
    abs = strdup(path);
  else if (asprintf(&abs, "%s/%s", cwd && *cwd ? cwd : "", path) < 0)
    abort();
  if (abs == NULL) abort();
  return abs;
}

static int open_stage_db(struct stage *st, int flags, struct fakefs_db **db, guise_error **err)
{
  return fakefs_db_open(st->db_path, flags, db, err);
}

int stage_materialize(struct builder *b, struct stage *st, guise_error **err)
{
  if (st->rootfd < 0) {
    if (asprintf(&st->dir, "%s/stage%zu", b->work, st->index) < 0 ||
        asprintf(&st->rootfs, "%s/rootfs", st->dir) < 0)
      abort();
    if (mkdir(st->dir, 0700) < 0) return guise_fail_errno(err, "creating %s failed", st->dir);
    if (mkdir(st->rootfs, 0755) < 0) return guise_fail_errno(err, "creating %s failed", st->rootfs);
    st->rootfd = open(st->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->rootfd < 0) return guise_fail_errno(err, "opening %s failed", st->rootfs);
    if (fakefs_db_path_for_rootfs(st->rootfs, &st->db_path, err) < 0) return -1;
    st->applied = 0;
  }
  size_t n = json_array_size(st->layers);
  if (st->applied == n) return 0;
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (open_stage_db(st, FAKEFS_DB_CREATE, &db, err) < 0) return -1;
  for (; st->applied < n; st->applied++) {
    json_t *l = json_array_get(st->layers, st->applied);
    const char *digest = json_string_value(json_object_get(l, "digest"));
    _cleanup_free_ char *path = image_store_blob_path(b->store, digest);
    char what[96];
    snprintf(what, sizeof(what), "layer %s", digest);
    if (layer_apply(st->rootfd, db, path, what, NULL, err) < 0) return -1;
  }
  return 0;
}

int stage_snapshot(struct stage *st, struct rootfs_snapshot **snap, guise_error **err)
{
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (open_stage_db(st, FAKEFS_DB_CREATE, &db, err) < 0) return -1;
  return rootfs_snapshot_take(st->rootfd, db, snap, err);
}

int stage_commit_layer(struct builder *b, struct stage *st, const struct rootfs_snapshot *before,
                       json_t **desc, char diff_id[DIGEST_STR_MAX], guise_error **err)
{
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (open_stage_db(st, FAKEFS_DB_READONLY, &db, err) < 0) return -1;
  struct layer_write_options wo = {
      .compression = b->o->compression,
      .source_date_epoch = b->o->source_date_epoch,
      .host_uid = getuid(),
      .host_gid = getgid(),
  };
  struct oci_descriptor d = {0};
  if (image_store_write_layer(b->store, st->rootfd, db, before, &wo, &d, diff_id, err) < 0)
    return -1;
  *desc = json_pack("{s:s,s:s,s:I}", "mediaType", d.media_type, "digest", d.digest, "size",
                    (json_int_t)d.size);
  descriptor_clear(&d);
  return 0;
}

static void add_history(struct builder *b, struct stage *st, const char *created,
                        const char *created_by, bool empty)
{
  _cleanup_free_ char *now = created ? NULL : created_time(b);
  json_t *h = json_pack("{s:s,s:s,s:s}", "created", created ? created : now, "created_by",
                        created_by, "comment", "guise build");
  if (empty) json_object_set_new(h, "empty_layer", json_true());
  json_array_append_new(st->history, h);
}

/* --- images used by name --- */

void image_source_clear(struct image_source *s)
{
  free(s->rootfs);
  free(s->db_path);
  *s = (struct image_source){0};
}

/* The stored image name refers to, pulled when missing (or always, with --pull=always). */
static int load_image(struct builder *b, const char *name, const char *platform,
                      struct stored_image **img, guise_error **err)
{
  struct image_copy_options co = {.platform = platform,
                                  .tls_verify = b->o->tls_verify,
                                  .quiet = b->o->progress == NULL,
                                  .progress = b->o->progress};
  return image_store_get(b->store, name, b->o->pull, &co, img, err);
}

int build_image_source(struct builder *b, const char *name, struct image_source *out,
                       guise_error **err)
{
  *out = (struct image_source){0};
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (load_image(b, name, NULL, &img, err) < 0) return -1;
  if (image_store_unpack(b->store, img, &out->rootfs, err) < 0) return -1;
  if (fakefs_db_path_for_rootfs(out->rootfs, &out->db_path, err) < 0) return -1;
  snprintf(out->manifest_digest, sizeof(out->manifest_digest), "%s", img->desc.digest);
  return 0;
}

/* --- FROM --- */

static void stage_reset_image(struct stage *st)
{
  json_decref(st->config);
  json_decref(st->layers);
  json_decref(st->diff_ids);
  json_decref(st->history);
  json_decref(st->shell);
  st->config = json_object();
  st->layers = json_array();
  st->diff_ids = json_array();
  st->history = json_array();
  st->shell = json_pack("[s,s]", "/bin/sh", "-c");
}

void build_layers_of(const struct stored_image *img, json_t *layers)
{
  for (size_t i = 0; i < img->manifest->n_layers; i++) {
    const struct oci_descriptor *l = &img->manifest->layers[i];
    /* The image written is an OCI one: a Docker gzip layer is the same bytes under the OCI
     * name. */
    const char *mt =
        strcmp(l->media_type, MT_DOCKER_LAYER_GZIP) == 0 ? MT_OCI_LAYER_GZIP : l->media_type;
    json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", l->digest,
                                            "size", (json_int_t)l->size));
  }
}

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The base's SHELL (its config's Shell, docker's field) is the stage's. */
static void stage_shell_from_config(struct stage *st)
{
  json_t *shell = json_object_get(st->config, "Shell");
  if (!json_is_array(shell) || json_array_size(shell) == 0) return;
  json_decref(st->shell);
  st->shell = json_deep_copy(shell);
}

static int stage_from(struct builder *b, struct stage *st, const struct cf_instruction *in,
                      guise_error **err)
{
  _cleanup_free_ char *base = NULL, *platform = NULL;
  if (cf_expand(in->args[0], b->cf->escape, true, global_lookup, b, &base, err) < 0) return -1;
  const char *pf = cf_flag(in, "platform");
  if (pf != NULL && cf_expand(pf, b->cf->escape, true, global_lookup, b, &platform, err) < 0)
    return -1;
  if (*base == '\0') return guise_fail(err, 0, "FROM %s: the image name is empty", in->args[0]);
  stage_reset_image(st);
  _cleanup_free_ char *identity = NULL;
  struct stage *prev = stage_find(b, base, st->index);
  if (prev != NULL && prev->name != NULL && strcasecmp(prev->name, base) == 0) {
    if (!prev->done) return guise_fail(err, 0, "stage %s was not built", prev->name);
    json_decref(st->config);
    st->config = json_deep_copy(prev->config);
    stage_shell_from_config(st);
    json_array_extend(st->layers, prev->layers);
    json_array_extend(st->diff_ids, prev->diff_ids);
    json_array_extend(st->history, prev->history);
    if (asprintf(&identity, "stage %s", prev->chain) < 0) abort();
  } else if (strcasecmp(base, "scratch") == 0) {
    /* As docker and buildah: an image made from nothing gets the default PATH. */
    json_env_set(st->config, "PATH", DEFAULT_PATH);
    identity = strdup("scratch PATH=" DEFAULT_PATH);
  } else {
    _cleanup_stored_image_ struct stored_image *img = NULL;
    if (load_image(b, base, platform, &img, err) < 0) return -1;
    json_t *cfg = json_object_get(img->config->json, "config");
    if (json_is_object(cfg)) {
      json_decref(st->config);
      st->config = json_deep_copy(cfg);
      stage_shell_from_config(st);
    }
    build_layers_of(img, st->layers);
    json_t *ids = json_object_get(json_object_get(img->config->json, "rootfs"), "diff_ids");
    if (json_is_array(ids)) json_array_extend(st->diff_ids, ids);
    json_t *hist = json_object_get(img->config->json, "history");
    if (json_is_array(hist)) json_array_extend(st->history, hist);
    if (asprintf(&identity, "image %s", img->desc.digest) < 0) abort();
  }
  if (platform != NULL) {
    char *with = NULL;
    if (asprintf(&with, "%s platform %s", identity, platform) < 0) abort();
    free(identity);
    identity = with;
  }
  cache_seed(b, identity, st->chain);
  return 0;
}

/* --- steps --- */

static json_t *command_of(const struct cf_instruction *in, json_t *shell)
{
  json_t *argv = json_array();
  if (in->exec_form) {
    for (size_t i = 0; in->args[i] != NULL; i++)
      json_array_append_new(argv, json_string(in->args[i]));
  } else {
    json_array_extend(argv, shell);
    json_array_append_new(argv, json_string(in->args[0]));
  }
  return argv;
}

/* A Go duration ("1m30s") in nanoseconds. */
static json_int_t duration_ns(const char *s)
{
  double total = 0;
  while (*s != '\0') {
    char *end;
    double v = strtod(s, &end);
    s = end;
    double unit = 1e9;
    if (strncmp(s, "ms", 2) == 0)
      unit = 1e6, s += 2;
    else if (strncmp(s, "us", 2) == 0)
      unit = 1e3, s += 2;
    else if (strncmp(s, "ns", 2) == 0)
      unit = 1, s += 2;
    else if (*s == 'h')
      unit = 3600e9, s++;
    else if (*s == 'm')
      unit = 60e9, s++;
    else if (*s == 's')
      s++;
    total += v * unit;
  }
  return (json_int_t)total;
}

static json_t *object_member(json_t *c, const char *key)
{
  json_t *o = json_object_get(c, key);
  if (!json_is_object(o)) {
    o = json_object();
    json_object_set_new(c, key, o);
  }
  return o;
}

/* Instructions that only change the config. */
static int step_config(struct builder *b, struct stage *st, const struct cf_instruction *in,
                       guise_error **err)
{
  json_t *c = st->config;
  char escape = b->cf->escape;
  _cleanup_strv_ char **words = NULL;
  bool expands = in->kind == CF_ENV || in->kind == CF_LABEL || in->kind == CF_USER ||
                 in->kind == CF_EXPOSE || in->kind == CF_STOPSIGNAL ||
                 (in->kind == CF_VOLUME && !in->exec_form);
  for (size_t i = 0; expands && in->args[i] != NULL; i++) {
    _cleanup_free_ char *w = NULL;
    if (in->kind == CF_ENV || in->kind == CF_LABEL) {
      if (cf_expand(in->args[i], escape, true, stage_lookup, st, &w, err) < 0) return -1;
      strv_append(&words, w);
    } else {
      _cleanup_strv_ char **ws = NULL;
      if (cf_expand_words(in->args[i], escape, stage_lookup, st, &ws, err) < 0) return -1;
      for (size_t k = 0; ws[k] != NULL; k++)
        strv_append(&words, ws[k]);
    }
  }
  switch (in->kind) {
  case CF_ENV:
  case CF_LABEL:
    for (size_t i = 0; words[i] != NULL; i++) {
      char *eq = strchr(words[i], '=');
      if (eq == NULL)
        return guise_fail(err, 0, "%s: '%s' is not NAME=VALUE", in->keyword, words[i]);
      *eq = '\0';
      if (in->kind == CF_ENV)
        json_env_set(c, words[i], eq + 1);
      else
        json_object_set_new(object_member(c, "Labels"), words[i], json_string(eq + 1));
    }
    break;
  case CF_USER:
    if (words == NULL || words[0] == NULL || *words[0] == '\0')
      return guise_fail(err, 0, "USER is empty");
    json_object_set_new(c, "User", json_string(words[0]));
    break;
  case CF_CMD:
  case CF_ENTRYPOINT:
    json_object_set_new(c, in->kind == CF_CMD ? "Cmd" : "Entrypoint", command_of(in, st->shell));
    /* As docker: ENTRYPOINT resets a CMD inherited from the base, not one of this stage. */
    if (in->kind == CF_ENTRYPOINT && !st->cmd_set) json_object_del(c, "Cmd");
    if (in->kind == CF_CMD) st->cmd_set = true;
    break;
  case CF_SHELL:
    json_decref(st->shell);
    st->shell = json_array();
    for (size_t i = 0; in->args[i] != NULL; i++)
      json_array_append_new(st->shell, json_string(in->args[i]));
    /* Kept in the image (docker's config.Shell): images built FROM it run with it. */
    json_object_set_new(c, "Shell", json_deep_copy(st->shell));
    break;
  case CF_EXPOSE:
    for (size_t i = 0; words != NULL && words[i] != NULL; i++) {
      char *proto = strchr(words[i], '/');
      char p[16] = "tcp";
      if (proto) {
        *proto = '\0';
        snprintf(p, sizeof(p), "%s", proto + 1);
      }
      for (char *q = p; *q; q++)
        *q = (char)tolower((unsigned char)*q);
      unsigned lo, hi;
      char dash;
      int n = sscanf(words[i], "%u%c%u", &lo, &dash, &hi);
      if (n == 1) hi = lo;
      if (!(n == 1 || (n == 3 && dash == '-')) || lo == 0 || hi > 65535 || lo > hi ||
          (strcmp(p, "tcp") != 0 && strcmp(p, "udp") != 0 && strcmp(p, "sctp") != 0))
        return guise_fail(err, 0, "EXPOSE %s%s%s: expected PORT[-PORT][/tcp|udp|sctp]", words[i],
                          proto ? "/" : "", proto ? p : "");
      for (unsigned port = lo; port <= hi; port++) {
        char key[32];
        snprintf(key, sizeof(key), "%u/%s", port, p);
        json_object_set_new(object_member(c, "ExposedPorts"), key, json_object());
      }
    }
    break;
  case CF_VOLUME: {
    char **list = in->exec_form ? in->args : words;
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
      if (*list[i] == '\0') return guise_fail(err, 0, "VOLUME: an empty path");
      json_object_set_new(object_member(c, "Volumes"), list[i], json_object());
      /* As buildah: the directory is made (root's, 0755) in the next layer, so that later
       * steps can use it. */
      _cleanup_free_ char *abs = stage_abs_path(st, list[i]);
      strv_append(&st->volumes, abs);
    }
    break;
  }
  case CF_STOPSIGNAL:
    json_object_set_new(c, "StopSignal", json_string(words[0]));
    break;
  case CF_HEALTHCHECK: {
    json_t *test = json_array();
    for (size_t i = 0; in->args[i] != NULL; i++)
      json_array_append_new(test, json_string(in->args[i]));
    json_t *hc = json_pack("{s:o}", "Test", test);
    static const struct {
      const char *flag, *key;
    } d[] = {{"interval", "Interval"},
             {"timeout", "Timeout"},
             {"start-period", "StartPeriod"},
             {"start-interval", "StartInterval"}};
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
      const char *v = cf_flag(in, d[i].flag);
      if (v != NULL) json_object_set_new(hc, d[i].key, json_integer(duration_ns(v)));
    }
    const char *retries = cf_flag(in, "retries");
    if (retries != NULL) json_object_set_new(hc, "Retries", json_integer(atoi(retries)));
    json_object_set_new(c, "Healthcheck", hc);
    break;
  }
  case CF_ONBUILD: {
    json_t *ob = json_object_get(c, "OnBuild");
    if (!json_is_array(ob)) {
      ob = json_array();
      json_object_set_new(c, "OnBuild", ob);
    }
    json_array_append_new(ob, json_string(in->args[0]));
    break;
  }
  case CF_MAINTAINER:
    free(st->author);
    st->author = strdup(in->args[0]);
    break;
  default:
    return guise_fail(err, 0, "internal: %s is not a config instruction", in->keyword);
  }
  add_history(b, st, NULL, in->original, true);
  cache_advance(st->chain, in->original);
  return 0;
}

/* WORKDIR: the directory is made (owned by USER) when missing. */
static int workdir_set(struct builder *b, struct stage *st, const struct cf_instruction *in,
                       guise_error **err)
{
  _cleanup_free_ char *dir = NULL;
  if (cf_expand(in->args[0], b->cf->escape, true, stage_lookup, st, &dir, err) < 0) return -1;
  if (*dir == '\0') return guise_fail(err, 0, "WORKDIR is empty");
  _cleanup_free_ char *joined = stage_abs_path(st, dir);
  /* Cleaned lexically, as docker records it: no "//", ".", ".." or trailing "/". */
  _cleanup_free_ char *abs = path_clean(joined);
  json_object_set_new(st->config, "WorkingDir", json_string(abs));
  return 0;
}

static int workdir_make(struct builder *b, struct stage *st, guise_error **err)
{
  const char *dir = json_string_value(json_object_get(st->config, "WorkingDir"));
  _cleanup_close_ int existing = openat2_in(st->rootfd, dir, O_PATH, 0);
  if (existing >= 0) return 0;
  const char *user = json_string_value(json_object_get(st->config, "User"));
  struct resolved_user u = {0};
  if (user != NULL && *user != '\0' && rootfs_resolve_user(st->rootfd, user, &u, err) < 0)
    return guise_error_prefix(err, "USER %s", user);
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  int r = open_stage_db(st, FAKEFS_DB_CREATE, &db, err);
  /* Each missing component, as mkdir -p as that user would. */
  if (r == 0) {
    int fd = rootfs_mkdirs(st->rootfd, dir, u.uid != 0 || u.gid != 0 ? db : NULL, u.uid, u.gid,
                           "WORKDIR", err);
    r = fd < 0 ? -1 : 0;
    if (fd >= 0) close(fd);
  }
  resolved_user_clear(&u);
  return r;
}

/* A step that may change the filesystem: from the cache, or run and committed as a layer. */
static int step_fs(struct builder *b, struct stage *st, const struct cf_instruction *in,
                   guise_error **err)
{
  _cleanup_free_ char *material = NULL;
  int r;
  switch (in->kind) {
  case CF_RUN:
    r = run_cache_material(b, st, in, &material, err);
    break;
  case CF_COPY:
  case CF_ADD:
    r = copy_cache_material(b, st, in, &material, err);
    break;
  default: {
    const char *user = json_string_value(json_object_get(st->config, "User"));
    r = asprintf(&material, "WORKDIR %s user %s",
                 json_string_value(json_object_get(st->config, "WorkingDir")), user ? user : "") < 0
            ? -1
            : 0;
    if (r < 0) abort();
  }
  }
  if (r < 0) return -1;
  char key[DIGEST_STR_MAX];
  memcpy(key, st->chain, sizeof(key));
  cache_advance(key, material);
  struct cache_entry e = {0};
  _cleanup_free_ char *sde_time = b->o->source_date_epoch >= 0 ? created_time(b) : NULL;
  if (!b->o->no_cache && cache_lookup(b, key, &e) == 1) {
    build_say(b, "--> Using cache %s", digest_hex(key));
    if (e.layer != NULL) {
      json_array_append(st->layers, e.layer);
      json_array_append_new(st->diff_ids, json_string(e.diff_id));
    }
    add_history(b, st, sde_time ? sde_time : e.created, in->original, e.layer == NULL);
    cache_entry_clear(&e);
    memcpy(st->chain, key, sizeof(key));
    strv_free(steal_ptr(&st->volumes)); /* the cached layer has them: the key covers VOLUME */
    return 0;
  }
  if (stage_materialize(b, st, err) < 0) return -1;
  if (in->kind == CF_WORKDIR && st->volumes == NULL) {
    _cleanup_close_ int existing = openat2_in(
        st->rootfd, json_string_value(json_object_get(st->config, "WorkingDir")), O_PATH, 0);
    if (existing >= 0) {
      e.created = created_time(b);
      r = cache_store(b, key, &e, err);
      add_history(b, st, e.created, in->original, true);
      cache_entry_clear(&e);
      memcpy(st->chain, key, sizeof(key));
      return r;
    }
  }
  _cleanup_rootfs_snapshot_ struct rootfs_snapshot *before = NULL;
  if (stage_snapshot(st, &before, err) < 0) return -1;
  for (size_t i = 0; st->volumes != NULL && st->volumes[i] != NULL; i++) {
    int fd = rootfs_mkdirs(st->rootfd, st->volumes[i], NULL, 0, 0, "VOLUME", err);
    if (fd < 0) return -1;
    close(fd);
  }
  strv_free(steal_ptr(&st->volumes));
  if (in->kind == CF_RUN)
    r = step_run(b, st, in, err);
  else if (in->kind == CF_WORKDIR)
    r = workdir_make(b, st, err);
  else
    r = step_copy_files(b, st, in, err);
  if (r < 0) return -1;
  if (stage_commit_layer(b, st, before, &e.layer, e.diff_id, err) < 0) return -1;
  json_array_append(st->layers, e.layer);
  st->applied = json_array_size(st->layers); /* the rootfs is what the layers say */
  json_array_append_new(st->diff_ids, json_string(e.diff_id));
  e.created = created_time(b);
  add_history(b, st, e.created, in->original, false);
  build_say(b, "--> %.12s", digest_hex(json_string_value(json_object_get(e.layer, "digest"))));
  r = cache_store(b, key, &e, err);
  cache_entry_clear(&e);
  memcpy(st->chain, key, sizeof(key));
  return r;
}

static int run_step(struct builder *b, struct stage *st, const struct cf_instruction *in,
                    guise_error **err)
{
  switch (in->kind) {
  case CF_RUN:
  case CF_COPY:
  case CF_ADD:
    return step_fs(b, st, in, err);
  case CF_WORKDIR:
    if (workdir_set(b, st, in, err) < 0) return -1;
    return step_fs(b, st, in, err);
  case CF_ARG: {
    _cleanup_free_ char *material = NULL;
    for (size_t i = 0; in->args[i] != NULL; i++)
      if (declare_arg(b, &st->args, in->args[i], stage_lookup, st, &material, err) < 0) return -1;
    cache_advance(st->chain, material);
    return 0;
  }
  case CF_FROM:
    return guise_fail(err, 0, "internal: FROM inside a stage");
  default:
    return step_config(b, st, in, err);
  }
}

/* ONBUILD triggers of the base image run first, then are gone from the config. */
static int run_triggers(struct builder *b, struct stage *st, guise_error **err)
{
  json_t *ob = json_object_get(st->config, "OnBuild");
  if (!json_is_array(ob) || json_array_size(ob) == 0) {
    json_object_del(st->config, "OnBuild");
    return 0;
  }
  _cleanup_json_ json_t *triggers = json_incref(ob);
  json_object_del(st->config, "OnBuild");
  size_t i;
  json_t *t;
  json_array_foreach(triggers, i, t)
  {
    const char *text = json_string_value(t);
    if (text == NULL) continue;
    struct cf_instruction in;
    build_say(b, "ONBUILD %s", text);
    if (cf_parse_instruction("ONBUILD trigger of the base image", text, '\\', &in, err) < 0)
      return -1;
    int r = run_step(b, st, &in, err);
    if (r < 0) guise_error_prefix(err, "ONBUILD %s", text);
    cf_instruction_clear(&in);
    if (r < 0) return -1;
  }
  return 0;
}

/* --- commit --change --- */

int build_apply_changes(char *const *changes, json_t *config, int64_t source_date_epoch,
                        guise_error **err)
{
  struct build_options o = {.source_date_epoch = source_date_epoch};
  struct containerfile cf = {.path = (char *)"--change", .escape = '\\'};
  struct builder b = {.o = &o, .cf = &cf};
  json_t *shell = json_object_get(config, "Shell");
  struct stage st = {
      .config = config,
      .history = json_array(),
      .shell = json_is_array(shell) ? json_incref(shell) : json_pack("[s,s]", "/bin/sh", "-c"),
      .rootfd = -1,
  };
  int r = 0;
  for (size_t i = 0; r == 0 && changes != NULL && changes[i] != NULL; i++) {
    /* "CMD /bin/sh", or podman's "CMD=/bin/sh". */
    _cleanup_free_ char *text = strdup(changes[i]);
    if (text == NULL) abort();
    size_t kw = strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    if (kw > 0 && text[kw] == '=') text[kw] = ' ';
    struct cf_instruction in;
    if (cf_parse_instruction("--change", text, '\\', &in, err) < 0) {
      r = -1;
      break;
    }
    switch (in.kind) {
    case CF_CMD:
    case CF_ENTRYPOINT:
    case CF_ENV:
    case CF_EXPOSE:
    case CF_LABEL:
    case CF_ONBUILD:
    case CF_STOPSIGNAL:
    case CF_USER:
    case CF_VOLUME:
      r = step_config(&b, &st, &in, err);
      break;
    case CF_WORKDIR:
      r = workdir_set(&b, &st, &in, err);
      break;
    default:
      r = guise_fail(err, 0,
                     "'%s' is not a config instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, "
                     "ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)",
                     in.keyword);
    }
    if (r < 0) guise_error_prefix(err, "--change '%s'", changes[i]);
    cf_instruction_clear(&in);
  }
  json_decref(st.history);
  json_decref(st.shell);
  strv_free(st.volumes);
  return r;
}

/* --- planning --- */

static void mark_needed(struct builder *b, struct stage *st);

/* A stage reference (FROM, --from, from=) names an earlier stage: it is needed too.  A name
 * that cannot be worked out before the build (a stage ARG in it) makes every earlier stage
 * needed. */
static void need_ref(struct builder *b, struct stage *st, const char *text)
{
  _cleanup_free_ char *name = NULL;
  _cleanup_error_ guise_error *e = NULL;
  if (strchr(text, '$') != NULL) {
    for (size_t i = 0; i < st->index; i++)
      mark_needed(b, &b->stages[i]);
    return;
  }
  if (cf_expand(text, b->cf->escape, true, global_lookup, b, &name, &e) < 0) return;
  struct stage *dep = stage_find(b, name, st->index);
  if (dep != NULL) mark_needed(b, dep);
}

static void mark_needed(struct builder *b, struct stage *st)
{
  if (st->needed) return;
  st->needed = true;
  const struct cf_instruction *from = &b->cf->ins[st->first];
  _cleanup_free_ char *base = NULL;
  _cleanup_error_ guise_error *e = NULL;
  if (cf_expand(from->args[0], b->cf->escape, true, global_lookup, b, &base, &e) == 0) {
    struct stage *dep = stage_find(b, base, st->index);
    if (dep != NULL && dep->name != NULL && strcasecmp(dep->name, base) == 0) mark_needed(b, dep);
  }
  for (size_t i = st->first + 1; i < st->end; i++) {
    const struct cf_instruction *in = &b->cf->ins[i];
    if (in->kind == CF_COPY && cf_flag(in, "from") != NULL) need_ref(b, st, cf_flag(in, "from"));
    if (in->kind != CF_RUN) continue;
    const char **mounts = cf_flag_all(in, "mount");
    for (size_t k = 0; mounts[k] != NULL; k++) {
      const char *f = strstr(mounts[k], "from=");
      if (f == NULL || (f != mounts[k] && f[-1] != ',')) continue;
      _cleanup_free_ char *ref = strndup(f + 5, strcspn(f + 5, ","));
      need_ref(b, st, ref);
    }
    free(mounts);
  }
}

static int plan_stages(struct builder *b, guise_error **err)
{
  size_t n = 0;
  for (size_t i = 0; i < b->cf->n; i++)
    n += b->cf->ins[i].kind == CF_FROM;
  b->stages = calloc(n, sizeof(*b->stages));
  if (b->stages == NULL) abort();
  b->n_alloc = n;
  for (size_t i = 0; i < n; i++)
    b->stages[i].rootfd = -1;
  for (size_t i = 0; i < b->cf->n; i++) {
    const struct cf_instruction *in = &b->cf->ins[i];
    if (in->kind == CF_FROM) {
      struct stage *st = &b->stages[b->n_stages];
      st->index = b->n_stages++;
      st->first = i;
      if (in->args[1] != NULL) {
        /* Accepted, as buildah and BuildKit do (BuildKit warns): references resolve to the
         * latest stage of the name before them (stage_find). */
        if (stage_find(b, in->args[2], st->index) != NULL &&
            !isdigit((unsigned char)in->args[2][0]))
          build_say(b, "WARNING: %s:%d: duplicate stage name '%s', stage names should be unique",
                    b->cf->path, in->line, in->args[2]);
        st->name = strdup(in->args[2]);
      }
    }
    if (b->n_stages > 0) b->stages[b->n_stages - 1].end = i + 1;
  }
  struct stage *target = &b->stages[b->n_stages - 1];
  if (b->o->target != NULL) {
    target = NULL;
    for (size_t i = 0; i < b->n_stages; i++) /* the last of a repeated name */
      if (b->stages[i].name != NULL && strcasecmp(b->stages[i].name, b->o->target) == 0)
        target = &b->stages[i];
    if (target == NULL)
      return guise_fail(err, 0, "--target %s: no stage of that name in %s", b->o->target,
                        b->cf->path);
  }
  mark_needed(b, target);
  b->n_stages = target->index + 1; /* later stages are never built */
  return 0;
}

/* --- the image --- */

static int write_image(struct builder *b, struct stage *st, struct oci_descriptor *desc,
                       char image_id[72], guise_error **err)
{
  char manifest_digest[DIGEST_STR_MAX];
  _cleanup_free_ char *manifest_text = NULL;
  size_t manifest_len = 0;
  bool reused = !b->o->no_cache && cache_image_lookup(b, st->chain, manifest_digest) == 1;
  if (reused) {
    if (image_store_read_blob(b->store, manifest_digest, MANIFEST_MAX_BYTES, &manifest_text,
                              &manifest_len, err) < 0)
      return -1;
    _cleanup_manifest_ struct image_manifest *m = NULL;
    if (manifest_parse(manifest_text, manifest_len, &m, err) < 0) return -1;
    snprintf(image_id, 72, "%s", m->config.digest);
  } else {
    _cleanup_free_ char *created = created_time(b);
    const char *plat = image_default_platform();
    char os[32] = "linux", arch[32] = "amd64", variant[32] = "";
    sscanf(plat, "%31[^/]/%31[^/]/%31s", os, arch, variant);
    _cleanup_json_ json_t *config =
        json_pack("{s:s,s:s,s:s,s:O,s:{s:s,s:O},s:O}", "created", created, "architecture", arch,
                  "os", os, "config", st->config, "rootfs", "type", "layers", "diff_ids",
                  st->diff_ids, "history", st->history);
    if (*variant) json_object_set_new(config, "variant", json_string(variant));
    if (st->author != NULL) json_object_set_new(config, "author", json_string(st->author));
    if (image_store_put_image(b->store, config, st->layers, desc, image_id, err) < 0 ||
        cache_image_store(b, st->chain, desc->digest, err) < 0)
      return -1;
    return 0;
  }
  desc->media_type = strdup(MT_OCI_MANIFEST);
  desc->digest = strdup(manifest_digest);
  desc->size = (int64_t)manifest_len;
  return 0;
}

/* The store name of a tag: without a registry it is localhost's, as podman does. */
int build_tag_name(const char *tag, char **name, guise_error **err)
{
  struct image_ref ref = {0};
  if (image_ref_parse_name(tag, &ref, err) < 0) return guise_error_prefix(err, "tag %s", tag);
  if (ref.digest != NULL) {
    free(ref.registry);
    free(ref.repository);
    free(ref.tag);
    free(ref.digest);
    return guise_fail(err, 0, "tag %s: a tag cannot name a digest", tag);
  }
  if (ref.registry_explicit) {
    *name = image_ref_name(&ref);
  } else {
    const char *repo = ref.repository;
    if (strncmp(repo, "library/", 8) == 0 && strncmp(tag, "library/", 8) != 0) repo += 8;
    if (asprintf(name, "localhost/%s:%s", repo, ref.tag ? ref.tag : "latest") < 0) abort();
  }
  free(ref.registry);
  free(ref.repository);
  free(ref.tag);
  free(ref.digest);
  return 0;
}

/* --output oci:DIR[:REF] | docker-archive:FILE[:NAME]: through a throwaway layout holding only
 * this image (its blobs hard-linked from the store), so that the image need not be named in
 * the store; a new DIR or FILE appears only complete (written beside it, then renamed). */
static int write_output(struct builder *b, const struct oci_descriptor *desc, guise_error **err)
{
  _cleanup_image_ref_ struct image_ref *ref = NULL;
  if (image_ref_parse(b->o->output, &ref, err) < 0) return guise_error_prefix(err, "--output");
  if (ref->transport != TRANSPORT_OCI && ref->transport != TRANSPORT_DOCKER_ARCHIVE &&
      ref->transport != TRANSPORT_OCI_ARCHIVE)
    return guise_fail(err, 0,
                      "--output %s: expected oci:DIR, oci-archive:FILE or "
                      "docker-archive:FILE",
                      b->o->output);
  _cleanup_free_ char *layout_dir = build_tmp_path(b, "output-layout");
  _cleanup_image_store_ struct image_store *layout = NULL;
  if (image_layout_open(layout_dir, true, &layout, err) < 0) return -1;
  _cleanup_free_ char *mdata = NULL;
  size_t mlen;
  if (image_store_read_blob(b->store, desc->digest, MANIFEST_MAX_BYTES, &mdata, &mlen, err) < 0)
    return -1;
  _cleanup_manifest_ struct image_manifest *m = NULL;
  if (manifest_parse(mdata, mlen, &m, err) < 0) return -1;
  for (size_t i = 0; i <= m->n_layers + 1; i++) {
    const char *digest = i == 0   ? desc->digest
                         : i == 1 ? m->config.digest
                                  : m->layers[i - 2].digest;
    _cleanup_free_ char *from = image_store_blob_path(b->store, digest);
    _cleanup_free_ char *to = image_store_blob_path(layout, digest);
    if (access(to, F_OK) == 0) continue;
    if (link(from, to) < 0) {
      _cleanup_free_ char *data = NULL;
      size_t len;
      if (read_file_at(AT_FDCWD, from, &data, &len, err) < 0 ||
          image_store_put_blob(layout, data, len, digest, NULL, err) < 0)
        return -1;
    }
  }
  _cleanup_free_ char *refname = NULL;
  const char *name = ref->path_ref;
  if (name == NULL && ref->transport == TRANSPORT_DOCKER_ARCHIVE && b->o->tags && b->o->tags[0])
    if (build_tag_name(b->o->tags[0], &refname, err) < 0) return -1;
  if (name == NULL) name = refname ? refname : "latest";
  if (image_store_tag(layout, name, desc, err) < 0) return -1;
  struct stat sb;
  bool fresh = stat(ref->path, &sb) < 0;
  _cleanup_free_ char *tmp = NULL;
  if (fresh && asprintf(&tmp, "%s.tmp-%d", ref->path, (int)getpid()) < 0) abort();
  _cleanup_free_ char *dest = NULL;
  if (asprintf(&dest, "%s:%s%s%s", image_transport_name(ref->transport), fresh ? tmp : ref->path,
               ref->path_ref ? ":" : "", ref->path_ref ? ref->path_ref : "") < 0)
    abort();
  struct image_copy_options co = {
      .tls_verify = b->o->tls_verify, .quiet = b->o->progress == NULL, .progress = b->o->progress};
  if (image_push(layout, name, dest, &co, err) < 0) {
    if (fresh) remove_tree(tmp);
    return guise_error_prefix(err, "--output %s", b->o->output);
  }
  if (fresh && rename(tmp, ref->path) < 0) {
    int e = errno;
    remove_tree(tmp);
    return guise_fail(err, e, "--output: renaming %s to %s failed", tmp, ref->path);
  }
  return 0;
}

static int finish(struct builder *b, struct stage *st, char image_id[72], guise_error **err)
{
  struct oci_descriptor desc = {0};
  _cleanup_strv_ char **names = NULL;
  int r = 0;
  for (size_t i = 0; r == 0 && b->o->tags != NULL && b->o->tags[i] != NULL; i++) {
    _cleanup_free_ char *name = NULL;
    r = build_tag_name(b->o->tags[i], &name, err);
    if (r == 0) strv_append(&names, name);
  }
  build_say(b, "COMMIT %s", names != NULL ? names[0] : "");
  if (r == 0) r = write_image(b, st, &desc, image_id, err);
  if (r == 0) build_say(b, "--> %.12s", digest_hex(image_id));
  if (r == 0 && b->o->output != NULL) r = write_output(b, &desc, err);
  /* Named last: a failure before leaves no name pointing at anything. */
  for (size_t i = 0; r == 0 && names != NULL && names[i] != NULL; i++) {
    r = image_store_tag(b->store, names[i], &desc, err);
    if (r == 0) build_say(b, "Successfully tagged %s", names[i]);
  }
  struct image_copy_options co = {
      .tls_verify = b->o->tls_verify, .quiet = b->o->progress == NULL, .progress = b->o->progress};
  for (size_t i = 0; r == 0 && b->o->push && names != NULL && names[i] != NULL; i++) {
    build_say(b, "Pushing %s", names[i]);
    r = image_push(b->store, names[i], NULL, &co, err);
  }
  descriptor_clear(&desc);
  return r;
}

/* The last stage's rootfs is its image's layers applied: the store keeps it as the image's
 * unpacked rootfs, as a pull leaves one (used by later builds' COPY --from and RUN --mount
 * from=), instead of spending seconds deleting it here and unpacking the layers again then.
 * Not when layers came from the cache after it was last brought up to date, nor with
 * SOURCE_DATE_EPOCH (the layers carry clamped times, the rootfs the real ones). */
static void keep_final_rootfs(struct builder *b, struct stage *st, const char *image_id)
{
  if (st->rootfd < 0 || st->applied != json_array_size(st->layers) || b->o->source_date_epoch >= 0)
    return;
  close(st->rootfd);
  st->rootfd = -1;
  _cleanup_error_ guise_error *err = NULL;
  if (image_store_adopt_rootfs(b->store, image_id, st->rootfs, &err) < 0)
    build_say(b, "WARNING: keeping the built rootfs failed (it is unpacked when needed): %s",
              err->msg);
}

static void stage_clear(struct stage *st)
{
  if (st->rootfd >= 0) close(st->rootfd);
  free(st->name);
  free(st->author);
  free(st->dir);
  free(st->rootfs);
  free(st->db_path);
  json_decref(st->config);
  json_decref(st->layers);
  json_decref(st->diff_ids);
  json_decref(st->history);
  json_decref(st->shell);
  strv_free(st->args);
  strv_free(st->volumes);
}

static int read_containerfile(const struct build_options *o, struct containerfile **cf,
                              char **ignore_text, guise_error **err)
{
  _cleanup_free_ char *path = NULL;
  if (o->containerfile != NULL) {
    path = strdup(o->containerfile);
  } else {
    if (asprintf(&path, "%s/Containerfile", o->context) < 0) abort();
    if (access(path, F_OK) < 0) {
      free(path);
      if (asprintf(&path, "%s/Dockerfile", o->context) < 0) abort();
    }
  }
  _cleanup_free_ char *text = NULL;
  bool from_stdin = strcmp(path, "-") == 0; /* -f - as docker and podman */
  if (from_stdin) {
    free(path);
    path = strdup("<stdin>");
    if (read_file_at(AT_FDCWD, "/dev/stdin", &text, NULL, err) < 0)
      return guise_error_prefix(err, "reading the Containerfile from standard input");
  } else if (read_file_at(AT_FDCWD, path, &text, NULL, err) < 0) {
    return guise_error_prefix(err, "reading the Containerfile %s", path);
  }
  if (containerfile_parse(path, text, cf, err) < 0) return -1;
  /* FILE.containerignore / FILE.dockerignore next to the Containerfile win over the context's
   * .containerignore / .dockerignore (as BuildKit and buildah). */
  _cleanup_free_ char *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
  if (asprintf(&c1, "%s.containerignore", path) < 0 || asprintf(&c2, "%s.dockerignore", path) < 0 ||
      asprintf(&c3, "%s/.containerignore", o->context) < 0 ||
      asprintf(&c4, "%s/.dockerignore", o->context) < 0)
    abort();
  const char *candidates[] = {c1, c2, c3, c4};
  for (size_t i = from_stdin ? 2 : 0; i < 4; i++) {
    if (access(candidates[i], F_OK) < 0) continue;
    if (read_file_at(AT_FDCWD, candidates[i], ignore_text, NULL, err) < 0)
      return guise_error_prefix(err, "reading %s", candidates[i]);
    break;
  }
  return 0;
}

/* Build directories of guise processes that are gone (killed mid-build). */
static void remove_stale_work(const char *root)
{
  DIR *d = opendir(root);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int pid;
    char tail[16];
    if (sscanf(e->d_name, "build.%d.%15s", &pid, tail) != 2 || pid <= 0) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", root, e->d_name) < 0) abort();
    remove_tree(path);
  }
  closedir(d);
}

static int build_stage(struct builder *b, struct stage *st, size_t nth, size_t of,
                       guise_error **err)
{
  size_t steps = st->end - st->first;
  for (size_t i = st->first; i < st->end; i++) {
    const struct cf_instruction *in = &b->cf->ins[i];
    if (of > 1)
      build_say(b, "[%zu/%zu] STEP %zu/%zu: %s", nth, of, i - st->first + 1, steps, in->original);
    else
      build_say(b, "STEP %zu/%zu: %s", i - st->first + 1, steps, in->original);
    int r = in->kind == CF_FROM ? stage_from(b, st, in, err) : run_step(b, st, in, err);
    if (r == 0 && in->kind == CF_FROM) r = run_triggers(b, st, err);
    if (r < 0) return guise_error_prefix(err, "%s:%d: %s", b->cf->path, in->line, in->original);
  }
  st->done = true;
  return 0;
}

int build_image(const struct build_options *o, char image_id[72], guise_error **err)
{
  struct builder b = {.o = o, .contextfd = -1};
  int rc = -1;
  _cleanup_free_ char *ignore_text = NULL, *global_material = NULL;
  /* A bad name is better reported before the build than after it. */
  for (size_t i = 0; o->tags != NULL && o->tags[i] != NULL; i++) {
    _cleanup_free_ char *name = NULL;
    if (build_tag_name(o->tags[i], &name, err) < 0) return -1;
  }
  if (read_containerfile(o, &b.cf, &ignore_text, err) < 0) goto out;
  if (ignore_text != NULL) b.ignore = ignore_parse(ignore_text);
  b.contextfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (b.contextfd < 0) {
    guise_fail_errno(err, "opening the build context %s failed", o->context);
    goto out;
  }
  /* ARGs before the first FROM, before planning: stage references made of them
   * (FROM stage_${V}) must be known to work out which stages are needed. */
  for (size_t i = 0; i < b.cf->n && b.cf->ins[i].kind == CF_ARG; i++)
    for (size_t k = 0; b.cf->ins[i].args[k] != NULL; k++)
      if (declare_arg(&b, &b.global_args, b.cf->ins[i].args[k], global_lookup, &b, &global_material,
                      err) < 0) {
        guise_error_prefix(err, "%s:%d: %s", b.cf->path, b.cf->ins[i].line, b.cf->ins[i].original);
        goto out;
      }
  if (plan_stages(&b, err) < 0) goto out;
  if (image_store_open(o->store_root, &b.store, err) < 0) goto out;
  remove_stale_work(b.store->root);
  if (asprintf(&b.work, "%s/build.%d.XXXXXX", b.store->root, (int)getpid()) < 0 ||
      asprintf(&b.cache_dir, "%s/build-cache", b.store->root) < 0)
    abort();
  if (mkdtemp(b.work) == NULL) {
    guise_fail_errno(err, "creating a build directory in %s failed", b.store->root);
    free(b.work);
    b.work = NULL;
    goto out;
  }
  if (mkdir(b.cache_dir, 0700) < 0 && errno != EEXIST) {
    guise_fail_errno(err, "creating %s failed", b.cache_dir);
    goto out;
  }
  size_t of = 0, nth = 0;
  for (size_t i = 0; i < b.n_stages; i++)
    of += b.stages[i].needed;
  for (size_t i = 0; i < b.n_stages; i++) {
    if (!b.stages[i].needed) continue;
    if (build_stage(&b, &b.stages[i], ++nth, of, err) < 0) goto out;
  }
  struct stage *final = &b.stages[b.n_stages - 1];
  if (finish(&b, final, image_id, err) < 0) goto out;
  keep_final_rootfs(&b, final, image_id);
  for (size_t i = 0; o->build_args != NULL && o->build_args[i] != NULL; i++) {
    _cleanup_free_ char *name = strndup(o->build_args[i], strcspn(o->build_args[i], "="));
    if (strv_lookup(b.used_args, name) == NULL && strstr(name, "_PROXY") == NULL &&
        strstr(name, "_proxy") == NULL)
      build_say(&b, "WARNING: the build argument %s was not consumed by any ARG", name);
  }
  rc = 0;
out:
  for (size_t i = 0; i < b.n_alloc; i++)
    stage_clear(&b.stages[i]);
  free(b.stages);
  copy_downloads_free(&b);
  if (b.work != NULL) remove_tree(b.work);
  free(b.work);
  free(b.cache_dir);
  if (b.contextfd >= 0) close(b.contextfd);
  if (b.store != NULL) image_store_close(b.store);
  if (b.cf != NULL) containerfile_free(b.cf);
  if (b.ignore != NULL) ignore_free(b.ignore);
  strv_free(b.global_args);
  strv_free(b.used_args);
  return rc;
}
