#include "builder/build.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "builder/containerfile.h"
#include "fakefs/db.h"
#include "image/digest.h"
#include "image/layer.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/store.h"
#include "runtime/container.h"
#include "runtime/mounts.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/fileio.h"

struct stage {
  char *name; /* AS name, may be NULL */
  char *rootfs;
  char *db_path;
  int rootfd;
  json_t *config;   /* the image config's "config" object */
  json_t *layers;   /* manifest layer descriptors */
  json_t *diff_ids; /* rootfs.diff_ids */
  json_t *history;
  char **args;   /* ARGs in scope: "NAME=VALUE" */
  json_t *shell; /* SHELL, default ["/bin/sh", "-c"] */
};

struct builder {
  const struct build_options *o;
  struct containerfile *cf;
  struct image_store *store;
  char *work; /* temporary directory of this build */
  int contextfd;
  char **global_args; /* ARGs before the first FROM */
  struct stage *stages;
  size_t n_stages;
  size_t step, steps;
};

static int openat2_in(int dirfd, const char *path, int flags, mode_t mode)
{
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                         .mode = mode,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* --- variables --- */

static const char *strv_lookup(char **v, const char *name)
{
  size_t len = strlen(name);
  const char *found = NULL;
  for (size_t i = 0; v != NULL && v[i] != NULL; i++)
    if (strncmp(v[i], name, len) == 0 && v[i][len] == '=')
      found = v[i] + len + 1; /* the last one wins */
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

/* Inside a stage, ENV wins over ARG (as in docker). */
static const char *stage_lookup(void *ud, const char *name)
{
  struct stage *st = ud;
  const char *v = json_env_lookup(st->config, name);
  return v != NULL ? v : strv_lookup(st->args, name);
}

static const char *global_lookup(void *ud, const char *name)
{
  struct builder *b = ud;
  return strv_lookup(b->global_args, name);
}

static void json_env_set(json_t *config, const char *name, const char *value)
{
  json_t *env = json_object_get(config, "Env");
  if (env == NULL) {
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

/* A build argument's value from --build-arg, if given. */
static const char *build_arg_value(struct builder *b, const char *name)
{
  size_t len = strlen(name);
  for (size_t i = 0; b->o->build_args != NULL && b->o->build_args[i] != NULL; i++) {
    const char *a = b->o->build_args[i];
    if (strncmp(a, name, len) == 0 && a[len] == '=') return a + len + 1;
    if (strcmp(a, name) == 0) return getenv(name);
  }
  return NULL;
}

/* ARG NAME[=default]: in scope from here, with --build-arg's value or the default. */
static int declare_arg(struct builder *b, char ***scope, const char *decl, cf_lookup_fn lookup,
                       void *ud, guise_error **err)
{
  _cleanup_free_ char *name = strdup(decl);
  char *eq = strchr(name, '=');
  const char *value = NULL;
  _cleanup_free_ char *expanded = NULL;
  if (eq != NULL) {
    *eq = '\0';
    if (cf_expand(eq + 1, b->cf->escape, true, lookup, ud, &expanded, err) < 0) return -1;
    value = expanded;
  }
  const char *given = build_arg_value(b, name);
  if (given != NULL) value = given;
  if (value == NULL && scope != &b->global_args)
    value = strv_lookup(b->global_args, name); /* a global ARG redeclared in the stage */
  if (value == NULL) return 0;
  _cleanup_free_ char *pair = NULL;
  if (asprintf(&pair, "%s=%s", name, value) < 0) abort();
  strv_append(scope, pair);
  return 0;
}

/* --- files --- */

static int remove_tree_at(int parent, const char *name)
{
  struct stat st;
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : -1;
  if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name, 0);
  if (fchmodat(parent, name, 0700, 0) < 0) /* a RUN may have left it unwritable */
    return -1;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return -1;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      remove_tree_at(dirfd(d), e->d_name);
  closedir(d);
  return unlinkat(parent, name, AT_REMOVEDIR);
}

static void remove_tree(const char *path)
{
  remove_tree_at(AT_FDCWD, path);
  char db[PATH_MAX];
  static const char *const suffixes[] = {".fakefs.db", ".fakefs.db-wal", ".fakefs.db-shm"};
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    snprintf(db, sizeof(db), "%s%s", path, suffixes[i]);
    unlink(db);
  }
}

/* uid[:gid] or name[:group], names looked up in the rootfs's /etc/passwd and /etc/group. */
static int lookup_id(int rootfd, const char *file, const char *name, bool want_gid, uint32_t *id,
                     guise_error **err)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(name, &end, 10);
  if (*name != '\0' && *end == '\0' && errno == 0) {
    *id = (uint32_t)v;
    return 0;
  }
  int fd = openat2_in(rootfd, file, O_RDONLY, 0);
  _cleanup_fclose_ FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
  if (f == NULL) {
    if (fd >= 0) close(fd);
    return guise_fail(err, 0, "'%s' is not numeric and the image has no %s", name, file);
  }
  size_t len = strlen(name), cap = 0;
  _cleanup_free_ char *line = NULL;
  while (getline(&line, &cap, f) > 0) {
    /* name:x:uid:gid:... (passwd) or name:x:gid:... (group) */
    if (strncmp(line, name, len) != 0 || line[len] != ':') continue;
    char *field = strchr(line + len + 1, ':');
    if (field == NULL) continue;
    field++;
    if (want_gid) {
      char *g = strchr(field, ':');
      if (g == NULL) continue;
      field = g + 1;
    }
    *id = (uint32_t)strtoul(field, NULL, 10);
    return 0;
  }
  return guise_fail(err, 0, "'%s' is not in the image's %s", name, file);
}

/* USER/--chown text "user[:group]" to ids (group defaults to the user's primary group). */
static int resolve_user(int rootfd, const char *text, uint32_t *uid, uint32_t *gid,
                        guise_error **err)
{
  _cleanup_free_ char *copy = strdup(text);
  char *group = strchr(copy, ':');
  if (group != NULL) *group++ = '\0';
  if (lookup_id(rootfd, "/etc/passwd", copy, false, uid, err) < 0) return -1;
  if (group != NULL) return lookup_id(rootfd, "/etc/group", group, false, gid, err);
  if (lookup_id(rootfd, "/etc/passwd", copy, true, gid, NULL) < 0)
    *gid = *uid; /* numeric user without a passwd entry */
  return 0;
}

struct copy_job {
  struct fakefs_db *db;
  bool chown;
  uint32_t uid, gid;
  int chmod; /* -1: keep */
  const char *dest_hint;
};

static int record_owner(struct copy_job *job, int fd, const char *hint, guise_error **err)
{
  if (!job->chown || (job->uid == 0 && job->gid == 0)) return 0;
  struct fakefs_key key;
  if (fakefs_key_from_fd(fd, &key, NULL, err) < 0) return -1;
  return fakefs_db_set_owner(job->db, &key, job->uid, job->gid, hint, err);
}

/* Copy the file srcfd/name (host side: the context or another stage) to dstdir/dname. */
static int copy_entry(struct copy_job *job, int srcdir, const char *name, int dstdir,
                      const char *dname, guise_error **err)
{
  struct stat st;
  if (fstatat(srcdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return guise_fail_errno(err, "stat %s", name);
  mode_t mode = job->chmod >= 0 ? (mode_t)job->chmod : (st.st_mode & 07777);
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    ssize_t n = readlinkat(srcdir, name, target, sizeof(target) - 1);
    if (n < 0) return guise_fail_errno(err, "readlink %s", name);
    target[n] = '\0';
    unlinkat(dstdir, dname, 0);
    if (symlinkat(target, dstdir, dname) < 0)
      return guise_fail_errno(err, "create symlink %s", dname);
    _cleanup_close_ int fd = openat(dstdir, dname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? guise_fail_errno(err, "open %s", dname) : record_owner(job, fd, dname, err);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mkdirat(dstdir, dname, 0700) < 0 && errno != EEXIST)
      return guise_fail_errno(err, "create directory %s", dname);
    _cleanup_close_ int in = openat(srcdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    _cleanup_close_ int out =
        openat(dstdir, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0 || out < 0) return guise_fail_errno(err, "open directory %s", in < 0 ? name : dname);
    int dup_in = dup(in);
    DIR *d = dup_in >= 0 ? fdopendir(dup_in) : NULL;
    if (d == NULL) return guise_fail_errno(err, "read directory %s", name);
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        r = copy_entry(job, in, e->d_name, out, e->d_name, err);
    closedir(d);
    if (r < 0) return -1;
    if (fchmod(out, mode | 0700) < 0) /* the builder keeps access; the mode goes to the DB */
      return guise_fail_errno(err, "chmod %s", dname);
    if ((mode & 0700) != 0700) {
      struct fakefs_key key;
      if (fakefs_key_from_fd(out, &key, NULL, err) < 0 ||
          fakefs_db_set_mode(job->db, &key, S_IFDIR | mode, dname, err) < 0)
        return -1;
    }
    return record_owner(job, out, dname, err);
  }
  if (!S_ISREG(st.st_mode))
    return guise_fail(err, 0, "%s: only files, directories and symlinks can be copied", name);
  _cleanup_close_ int in = openat(srcdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) return guise_fail_errno(err, "open %s", name);
  unlinkat(dstdir, dname, 0);
  _cleanup_close_ int out =
      openat(dstdir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) return guise_fail_errno(err, "create %s", dname);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0)
    if (write_all(out, buf, (size_t)n) < 0) return guise_fail_errno(err, "write %s", dname);
  if (n < 0) return guise_fail_errno(err, "read %s", name);
  if (fchmod(out, mode) < 0) return guise_fail_errno(err, "chmod %s", dname);
  return record_owner(job, out, dname, err);
}

/* --- layers --- */

static int open_db(struct stage *st, struct fakefs_db **db, guise_error **err)
{
  return fakefs_db_open(st->db_path, FAKEFS_DB_CREATE, db, err);
}

static int take_snapshot(struct stage *st, struct rootfs_snapshot **snap, guise_error **err)
{
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (open_db(st, &db, err) < 0) return -1;
  return rootfs_snapshot_take(st->rootfd, db, snap, err);
}

static char *created_time(const struct builder *b)
{
  time_t t = b->o->source_date_epoch >= 0 ? (time_t)b->o->source_date_epoch : time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return strdup(buf);
}

static void add_history(struct builder *b, struct stage *st, const char *created_by, bool empty)
{
  _cleanup_free_ char *created = created_time(b);
  json_t *h = json_pack("{s:s,s:s,s:s}", "created", created, "created_by", created_by, "comment",
                        "guise build");
  if (empty) json_object_set_new(h, "empty_layer", json_true());
  json_array_append_new(st->history, h);
}

/* The difference since before becomes a layer blob in the store. */
static int commit_layer(struct builder *b, struct stage *st, const struct rootfs_snapshot *before,
                        const char *created_by, guise_error **err)
{
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (fakefs_db_open(st->db_path, FAKEFS_DB_READONLY, &db, err) < 0) return -1;
  _cleanup_free_ char *tmp = NULL;
  int fd;
  if (image_store_blob_tmp(b->store, &tmp, &fd, err) < 0) return -1;
  struct layer_write_options wo = {
      .compression = b->o->compression,
      .source_date_epoch = b->o->source_date_epoch,
      .host_uid = getuid(),
      .host_gid = getgid(),
  };
  struct layer_digests d;
  int r = layer_write(st->rootfd, db, before, fd, &wo, &d, err);
  close(fd);
  if (r < 0) {
    unlink(tmp);
    return -1;
  }
  if (image_store_blob_commit(b->store, tmp, d.digest, (int64_t)d.size, true, err) < 0) return -1;
  const char *mt = b->o->compression == LAYER_ZSTD           ? MT_OCI_LAYER_ZSTD
                   : b->o->compression == LAYER_UNCOMPRESSED ? MT_OCI_LAYER
                                                             : MT_OCI_LAYER_GZIP;
  json_array_append_new(st->layers, json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", d.digest,
                                              "size", (json_int_t)d.size));
  json_array_append_new(st->diff_ids, json_string(d.diff_id));
  add_history(b, st, created_by, false);
  return 0;
}

/* Apply the layers of a manifest (descriptors in layers) from the store to the stage. */
static int apply_layers(struct builder *b, struct stage *st, json_t *layers, guise_error **err)
{
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (open_db(st, &db, err) < 0) return -1;
  size_t i;
  json_t *l;
  json_array_foreach(layers, i, l)
  {
    const char *digest = json_string_value(json_object_get(l, "digest"));
    _cleanup_free_ char *path = image_store_blob_path(b->store, digest);
    char what[96];
    snprintf(what, sizeof(what), "layer %s", digest);
    if (layer_apply(st->rootfd, db, path, what, NULL, err) < 0) return -1;
  }
  return 0;
}

/* --- instructions --- */

static int stage_from(struct builder *b, const struct cf_instruction *in, struct stage *st,
                      guise_error **err)
{
  _cleanup_free_ char *base = NULL;
  if (cf_expand(in->args[0], b->cf->escape, false, global_lookup, b, &base, err) < 0) return -1;
  if (in->args[1] != NULL) {
    if (strcasecmp(in->args[1], "AS") != 0 || in->args[2] == NULL || in->args[3] != NULL)
      return guise_fail(err, 0, "expected FROM IMAGE [AS NAME]");
    st->name = strdup(in->args[2]);
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof(dir), "%s/stage%zu", b->work, b->n_stages);
  if (mkdir(dir, 0700) < 0) return guise_fail_errno(err, "create %s", dir);
  if (asprintf(&st->rootfs, "%s/rootfs", dir) < 0) abort();
  if (mkdir(st->rootfs, 0755) < 0) return guise_fail_errno(err, "create %s", st->rootfs);
  st->rootfd = open(st->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (st->rootfd < 0) return guise_fail_errno(err, "open %s", st->rootfs);
  if (fakefs_db_path_for_rootfs(st->rootfs, &st->db_path, err) < 0) return -1;
  st->layers = json_array();
  st->diff_ids = json_array();
  st->history = json_array();
  st->config = json_object();
  st->shell = json_pack("[s,s]", "/bin/sh", "-c");
  if (strcmp(base, "scratch") == 0) return 0;
  for (size_t i = 0; i < b->n_stages; i++) {
    const struct stage *prev = &b->stages[i];
    if (prev->name != NULL && strcmp(prev->name, base) == 0) {
      json_decref(st->config);
      st->config = json_deep_copy(prev->config);
      json_array_extend(st->layers, prev->layers);
      json_array_extend(st->diff_ids, prev->diff_ids);
      json_array_extend(st->history, prev->history);
      return apply_layers(b, st, st->layers, err);
    }
  }
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (image_store_load(b->store, base, &img, err) < 0)
    return guise_error_prefix(err, "base image %s (guise pull it first)", base);
  json_t *cfg = json_object_get(img->config->json, "config");
  if (json_is_object(cfg)) {
    json_decref(st->config);
    st->config = json_deep_copy(cfg);
  }
  for (size_t i = 0; i < img->manifest->n_layers; i++) {
    const struct oci_descriptor *l = &img->manifest->layers[i];
    json_array_append_new(st->layers, json_pack("{s:s,s:s,s:I}", "mediaType", l->media_type,
                                                "digest", l->digest, "size", (json_int_t)l->size));
  }
  json_t *ids = json_object_get(json_object_get(img->config->json, "rootfs"), "diff_ids");
  if (json_is_array(ids)) json_array_extend(st->diff_ids, ids);
  json_t *hist = json_object_get(img->config->json, "history");
  if (json_is_array(hist)) json_array_extend(st->history, hist);
  return apply_layers(b, st, st->layers, err);
}

static json_t *command_of(const struct cf_instruction *in, json_t *shell)
{
  json_t *argv = json_array();
  if (in->exec_form) {
    for (size_t i = 0; in->args[i] != NULL; i++)
      json_array_append_new(argv, json_string(in->args[i]));
  } else if (in->args != NULL) {
    json_array_extend(argv, shell);
    json_array_append_new(argv, json_string(in->args[0]));
  }
  return argv;
}

static int step_run(struct builder *b, const struct cf_instruction *in, struct stage *st,
                    guise_error **err)
{
  _cleanup_rootfs_snapshot_ struct rootfs_snapshot *before = NULL;
  if (take_snapshot(st, &before, err) < 0) return -1;
  const char *network = cf_flag(in, "network");
  struct container_spec spec = {.net = NET_HOST, .umask = 022};
  if (network != NULL && strcmp(network, "none") == 0)
    spec.net = NET_NONE;
  else if (network != NULL && strcmp(network, "host") != 0 && strcmp(network, "default") != 0)
    return guise_fail(err, 0, "RUN --network=%s: expected default, host or none", network);
  if (cf_flag(in, "mount") != NULL) return guise_fail(err, 0, "RUN --mount is not supported yet");
  spec.rootfs = strdup(st->rootfs);
  json_t *argv = command_of(in, st->shell);
  size_t i;
  json_t *v;
  json_array_foreach(argv, i, v) strv_append(&spec.argv, json_string_value(v));
  json_decref(argv);
  /* ARGs are in the environment of RUN, ENV wins. */
  for (i = 0; st->args != NULL && st->args[i] != NULL; i++) {
    _cleanup_free_ char *name = strndup(st->args[i], strcspn(st->args[i], "="));
    if (json_env_lookup(st->config, name) == NULL) strv_append(&spec.env, st->args[i]);
  }
  json_array_foreach(json_object_get(st->config, "Env"), i, v)
      strv_append(&spec.env, json_string_value(v));
  const char *cwd = json_string_value(json_object_get(st->config, "WorkingDir"));
  if (cwd != NULL && *cwd != '\0') spec.cwd = strdup(cwd);
  const char *user = json_string_value(json_object_get(st->config, "User"));
  int rc = -1;
  if (user != NULL && *user != '\0') {
    uint32_t uid, gid;
    if (resolve_user(st->rootfd, user, &uid, &gid, err) < 0) goto out;
    spec.uid = uid;
    spec.gid = gid;
  }
  spec.fake_db = strdup(st->db_path);
  spec_init_for_rootfs(&spec);
  spec_init_defaults(&spec, false);
  int status = 125;
  /* Quiet: the command's output is not shown either (only the image id is printed). */
  int saved_stdout = -1;
  if (b->o->progress == NULL) {
    fflush(stdout);
    saved_stdout = dup(STDOUT_FILENO);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved_stdout < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0) {
      guise_fail_errno(err, "redirect the command's output");
      if (null >= 0) close(null);
      goto out;
    }
    close(null);
  } else {
    fflush(b->o->progress);
  }
  int run = container_run(&spec, &status, err);
  if (saved_stdout >= 0) {
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
  }
  if (run < 0) goto out;
  if (status != 0) {
    guise_fail(err, 0, "the command exited with status %d", status);
    goto out;
  }
  rc = commit_layer(b, st, before, in->original, err);
out:
  spec_free(&spec);
  return rc;
}

/* A path argument of COPY/ADD/WORKDIR: variables substituted, relative to the WORKDIR. */
static int expand_path(struct builder *b, struct stage *st, const char *word, char **out,
                       guise_error **err)
{
  _cleanup_free_ char *path = NULL;
  if (cf_expand(word, b->cf->escape, false, stage_lookup, st, &path, err) < 0) return -1;
  const char *cwd = json_string_value(json_object_get(st->config, "WorkingDir"));
  if (path[0] == '/') {
    *out = steal_ptr(&path);
    return 0;
  }
  if (asprintf(out, "%s/%s", cwd && *cwd ? cwd : "", path) < 0) abort();
  return 0;
}

static bool is_tar_name(const char *p)
{
  static const char *const ext[] = {".tar", ".tar.gz",  ".tgz",     ".tar.xz",
                                    ".txz", ".tar.zst", ".tar.bz2", ".tbz2"};
  size_t len = strlen(p);
  for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
    size_t e = strlen(ext[i]);
    if (len > e && strcmp(p + len - e, ext[i]) == 0) return true;
  }
  return false;
}

static int step_copy(struct builder *b, const struct cf_instruction *in, struct stage *st,
                     guise_error **err)
{
  size_t n = 0;
  while (in->args[n] != NULL)
    n++;
  if (n < 2) return guise_fail(err, 0, "%s needs a source and a destination", in->keyword);
  _cleanup_free_ char *dest = NULL;
  if (expand_path(b, st, in->args[n - 1], &dest, err) < 0) return -1;
  /* Where sources come from: the context, or another stage's rootfs (--from). */
  const char *from = cf_flag(in, "from");
  int srcroot = b->contextfd;
  const char *srcbase = b->o->context;
  if (from != NULL) {
    size_t i;
    for (i = 0; i < b->n_stages; i++)
      if (b->stages[i].name != NULL && strcmp(b->stages[i].name, from) == 0) break;
    if (i == b->n_stages)
      return guise_fail(err, 0, "--from=%s: no earlier stage of that name", from);
    srcroot = b->stages[i].rootfd;
    srcbase = b->stages[i].rootfs;
  }
  struct copy_job job = {.chmod = -1};
  const char *chown_text = cf_flag(in, "chown");
  if (chown_text != NULL) {
    if (resolve_user(st->rootfd, chown_text, &job.uid, &job.gid, err) < 0)
      return guise_error_prefix(err, "--chown=%s", chown_text);
    job.chown = true;
  }
  const char *chmod_text = cf_flag(in, "chmod");
  if (chmod_text != NULL) {
    char *end;
    long m = strtol(chmod_text, &end, 8);
    if (*end != '\0' || m < 0 || m > 07777)
      return guise_fail(err, 0, "--chmod=%s: expected an octal mode", chmod_text);
    job.chmod = (int)m;
  }

  _cleanup_rootfs_snapshot_ struct rootfs_snapshot *before = NULL;
  if (take_snapshot(st, &before, err) < 0) return -1;
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (open_db(st, &db, err) < 0) return -1;
  job.db = db;
  bool dest_is_dir = dest[strlen(dest) - 1] == '/' || n > 2;
  for (size_t i = 0; i + 1 < n; i++) {
    _cleanup_free_ char *src = NULL;
    if (cf_expand(in->args[i], b->cf->escape, false, stage_lookup, st, &src, err) < 0) return -1;
    if (strstr(src, "://") != NULL)
      return guise_fail(err, 0, "%s %s: fetching URLs is not supported yet", in->keyword, src);
    /* Expand wildcards on the host side, then open every match inside the source root. */
    char pattern[PATH_MAX];
    snprintf(pattern, sizeof(pattern), "%s/%s", srcbase, src);
    glob_t g;
    int gr = glob(pattern, GLOB_NOSORT, NULL, &g);
    if (gr != 0) {
      if (gr == GLOB_NOMATCH) return guise_fail(err, ENOENT, "%s source %s", in->keyword, src);
      return guise_fail(err, 0, "%s source %s: bad pattern", in->keyword, src);
    }
    if (g.gl_pathc > 1) dest_is_dir = true;
    int r = 0;
    for (size_t k = 0; r == 0 && k < g.gl_pathc; k++) {
      const char *rel = g.gl_pathv[k] + strlen(srcbase);
      _cleanup_close_ int srcfd = openat2_in(srcroot, rel, O_PATH | O_NOFOLLOW, 0);
      struct stat sst;
      if (srcfd < 0 || fstat(srcfd, &sst) < 0) {
        r = guise_fail_errno(err, "%s source %s", in->keyword, rel);
        break;
      }
      const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
      if (in->kind == CF_ADD && S_ISREG(sst.st_mode) && is_tar_name(base)) {
        _cleanup_close_ int dfd = rootfs_open_path(st->rootfd, dest, MOUNTPOINT_DIR, err);
        if (dfd < 0) {
          r = -1;
          break;
        }
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", srcfd);
        char what[PATH_MAX + 16];
        snprintf(what, sizeof(what), "ADD %s", src);
        _cleanup_close_ int dirfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dirfd < 0 ? guise_fail_errno(err, "open %s", dest)
                      : layer_apply(dirfd, db, link, what, NULL, err);
        continue;
      }
      /* The directory to copy into and the name to copy as. */
      _cleanup_free_ char *dparent = NULL, *dname = NULL;
      bool into = dest_is_dir || S_ISDIR(sst.st_mode);
      if (!into) {
        _cleanup_close_ int existing = openat2_in(st->rootfd, dest, O_PATH, 0);
        struct stat dst;
        into = existing >= 0 && fstat(existing, &dst) == 0 && S_ISDIR(dst.st_mode);
      }
      if (into) {
        dparent = strdup(dest);
        dname = strdup(S_ISDIR(sst.st_mode) ? "." : base);
      } else {
        char *slash = strrchr(dest, '/');
        dparent = strndup(dest, (size_t)(slash - dest) + 1);
        dname = strdup(slash + 1);
      }
      _cleanup_close_ int dpath = rootfs_open_path(st->rootfd, dparent, MOUNTPOINT_DIR, err);
      if (dpath < 0) {
        r = -1;
        break;
      }
      _cleanup_close_ int ddir = openat(dpath, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      _cleanup_close_ int sparent = -1;
      if (S_ISDIR(sst.st_mode)) {
        /* A directory's contents are copied, not the directory itself. */
        sparent = openat(srcfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = sparent >= 0 ? fdopendir(dup(sparent)) : NULL;
        if (ddir < 0 || d == NULL) {
          r = guise_fail_errno(err, "open %s", rel);
          if (d != NULL) closedir(d);
          break;
        }
        struct dirent *e;
        while (r == 0 && (e = readdir(d)) != NULL)
          if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            r = copy_entry(&job, sparent, e->d_name, ddir, e->d_name, err);
        closedir(d);
      } else {
        char link[64];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", srcfd);
        _cleanup_close_ int sdir = -1;
        /* Open the source's parent to copy it by name without following a final symlink. */
        _cleanup_free_ char *relparent = strndup(rel, (size_t)(base - rel));
        sdir = openat2_in(srcroot, relparent[0] ? relparent : "/", O_RDONLY | O_DIRECTORY, 0);
        if (ddir < 0 || sdir < 0) {
          r = guise_fail_errno(err, "open %s", ddir < 0 ? dparent : relparent);
          break;
        }
        r = copy_entry(&job, sdir, base, ddir, dname, err);
      }
    }
    globfree(&g);
    if (r < 0) return guise_error_prefix(err, "%s %s", in->keyword, src);
  }
  fakefs_db_close(steal_ptr(&db));
  return commit_layer(b, st, before, in->original, err);
}

static int step_workdir(struct builder *b, const struct cf_instruction *in, struct stage *st,
                        guise_error **err)
{
  _cleanup_free_ char *dir = NULL;
  if (expand_path(b, st, in->args[0], &dir, err) < 0) return -1;
  json_object_set_new(st->config, "WorkingDir", json_string(dir));
  _cleanup_close_ int existing = openat2_in(st->rootfd, dir, O_PATH, 0);
  if (existing >= 0) {
    add_history(b, st, in->original, true);
    return 0;
  }
  _cleanup_rootfs_snapshot_ struct rootfs_snapshot *before = NULL;
  if (take_snapshot(st, &before, err) < 0) return -1;
  _cleanup_close_ int fd = rootfs_open_path(st->rootfd, dir, MOUNTPOINT_DIR, err);
  if (fd < 0) return -1;
  return commit_layer(b, st, before, in->original, err);
}

/* Instructions that only change the config. */
static int step_config(struct builder *b, const struct cf_instruction *in, struct stage *st,
                       guise_error **err)
{
  json_t *c = st->config;
  _cleanup_strv_ char **words = NULL;
  if (!in->exec_form && in->kind != CF_CMD && in->kind != CF_ENTRYPOINT &&
      in->kind != CF_HEALTHCHECK && in->kind != CF_ONBUILD && in->kind != CF_MAINTAINER) {
    for (size_t i = 0; in->args[i] != NULL; i++) {
      _cleanup_free_ char *w = NULL;
      bool unquote = in->kind == CF_ENV || in->kind == CF_LABEL;
      if (cf_expand(in->args[i], b->cf->escape, unquote, stage_lookup, st, &w, err) < 0) return -1;
      strv_append(&words, w);
    }
  }
  switch (in->kind) {
  case CF_ENV:
  case CF_LABEL:
    for (size_t i = 0; words[i] != NULL; i++) {
      char *eq = strchr(words[i], '=');
      *eq = '\0';
      if (in->kind == CF_ENV) {
        json_env_set(c, words[i], eq + 1);
      } else {
        json_t *labels = json_object_get(c, "Labels");
        if (!json_is_object(labels)) {
          labels = json_object();
          json_object_set_new(c, "Labels", labels);
        }
        json_object_set_new(labels, words[i], json_string(eq + 1));
      }
    }
    break;
  case CF_USER:
    json_object_set_new(c, "User", json_string(words[0]));
    break;
  case CF_CMD:
  case CF_ENTRYPOINT:
    json_object_set_new(c, in->kind == CF_CMD ? "Cmd" : "Entrypoint", command_of(in, st->shell));
    if (in->kind == CF_ENTRYPOINT)
      json_object_del(c, "Cmd"); /* as docker: ENTRYPOINT resets an inherited CMD */
    break;
  case CF_SHELL:
    json_decref(st->shell);
    st->shell = json_array();
    for (size_t i = 0; in->args[i] != NULL; i++)
      json_array_append_new(st->shell, json_string(in->args[i]));
    break;
  case CF_EXPOSE:
  case CF_VOLUME: {
    const char *key = in->kind == CF_EXPOSE ? "ExposedPorts" : "Volumes";
    json_t *set = json_object_get(c, key);
    if (!json_is_object(set)) {
      set = json_object();
      json_object_set_new(c, key, set);
    }
    char **list = in->exec_form ? in->args : words;
    for (size_t i = 0; list[i] != NULL; i++) {
      _cleanup_free_ char *k = NULL;
      if (in->kind == CF_EXPOSE && strchr(list[i], '/') == NULL) {
        if (asprintf(&k, "%s/tcp", list[i]) < 0) abort();
      } else {
        k = strdup(list[i]);
      }
      json_object_set_new(set, k, json_object());
    }
    break;
  }
  case CF_STOPSIGNAL:
    json_object_set_new(c, "StopSignal", json_string(words[0]));
    break;
  case CF_HEALTHCHECK:
    if (!in->exec_form && strncasecmp(in->args[0], "NONE", 4) == 0) {
      json_object_set_new(c, "Healthcheck", json_pack("{s:[s]}", "Test", "NONE"));
    } else {
      json_t *test = json_array();
      if (in->exec_form) {
        for (size_t i = 0; in->args[i] != NULL; i++)
          json_array_append_new(test, json_string(in->args[i]));
      } else {
        const char *cmd = in->args[0];
        if (strncasecmp(cmd, "CMD", 3) == 0) cmd += 3;
        while (*cmd == ' ')
          cmd++;
        json_array_append_new(test, json_string("CMD-SHELL"));
        json_array_append_new(test, json_string(cmd));
      }
      json_object_set_new(c, "Healthcheck", json_pack("{s:o}", "Test", test));
    }
    break;
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
    break;
  default:
    return guise_fail(err, 0, "internal: %s is not a config instruction", in->keyword);
  }
  add_history(b, st, in->original, true);
  return 0;
}

static int run_step(struct builder *b, const struct cf_instruction *in, struct stage *st,
                    guise_error **err)
{
  switch (in->kind) {
  case CF_RUN:
    return step_run(b, in, st, err);
  case CF_COPY:
  case CF_ADD:
    return step_copy(b, in, st, err);
  case CF_WORKDIR:
    return step_workdir(b, in, st, err);
  case CF_ARG:
    for (size_t i = 0; in->args[i] != NULL; i++)
      if (declare_arg(b, &st->args, in->args[i], stage_lookup, st, err) < 0) return -1;
    return 0;
  default:
    return step_config(b, in, st, err);
  }
}

/* --- the image --- */

static int write_image(struct builder *b, struct stage *st, char image_id[72], guise_error **err)
{
  _cleanup_free_ char *created = created_time(b);
  const char *arch = platform_host_default(); /* "linux/amd64" */
  const char *slash = strchr(arch, '/');
  _cleanup_free_ char *architecture = strdup(slash ? slash + 1 : arch);
  char *v = strchr(architecture, '/');
  if (v != NULL) *v = '\0';
  _cleanup_json_ json_t *config =
      json_pack("{s:s,s:s,s:s,s:O,s:{s:s,s:O},s:O}", "created", created, "architecture",
                architecture, "os", "linux", "config", st->config, "rootfs", "type", "layers",
                "diff_ids", st->diff_ids, "history", st->history);
  _cleanup_free_ char *config_text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
  char config_digest[DIGEST_STR_MAX];
  if (image_store_put_blob(b->store, config_text, strlen(config_text), NULL, config_digest, err) <
      0)
    return -1;
  _cleanup_json_ json_t *manifest =
      json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
                "config", "mediaType", MT_OCI_CONFIG, "digest", config_digest, "size",
                (json_int_t)strlen(config_text), "layers", st->layers);
  _cleanup_free_ char *manifest_text = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
  char manifest_digest[DIGEST_STR_MAX];
  if (image_store_put_blob(b->store, manifest_text, strlen(manifest_text), NULL, manifest_digest,
                           err) < 0)
    return -1;
  struct oci_descriptor desc = {.media_type = (char *)MT_OCI_MANIFEST,
                                .digest = manifest_digest,
                                .size = (int64_t)strlen(manifest_text)};
  for (size_t i = 0; b->o->tags != NULL && b->o->tags[i] != NULL; i++) {
    struct image_ref ref = {0};
    if (image_ref_parse_name(b->o->tags[i], &ref, err) < 0)
      return guise_error_prefix(err, "tag %s", b->o->tags[i]);
    _cleanup_free_ char *name = NULL;
    if (ref.registry_explicit) {
      name = image_ref_name(&ref);
    } else {
      /* Like podman: a built image without a registry is localhost's. */
      const char *repo = ref.repository;
      if (strncmp(repo, "library/", 8) == 0) repo += 8;
      if (asprintf(&name, "localhost/%s:%s", repo, ref.tag ? ref.tag : "latest") < 0) abort();
    }
    free(ref.registry);
    free(ref.repository);
    free(ref.tag);
    free(ref.digest);
    if (image_store_tag(b->store, name, &desc, err) < 0) return -1;
  }
  snprintf(image_id, 72, "%s", config_digest);
  return 0;
}

static void stage_clear(struct stage *st)
{
  if (st->rootfd >= 0) close(st->rootfd);
  free(st->name);
  free(st->rootfs);
  free(st->db_path);
  json_decref(st->config);
  json_decref(st->layers);
  json_decref(st->diff_ids);
  json_decref(st->history);
  json_decref(st->shell);
  strv_free(st->args);
}

static int read_containerfile(const struct build_options *o, struct containerfile **cf,
                              guise_error **err)
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
  if (read_file_at(AT_FDCWD, path, &text, NULL, err) < 0)
    return guise_error_prefix(err, "reading %s", path);
  return containerfile_parse(path, text, cf, err);
}

int build_image(const struct build_options *o, char image_id[72], guise_error **err)
{
  struct builder b = {.o = o, .contextfd = -1};
  int rc = -1;
  if (read_containerfile(o, &b.cf, err) < 0) return -1;
  b.contextfd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (b.contextfd < 0) {
    guise_fail_errno(err, "opening the build context %s failed", o->context);
    goto out;
  }
  if (image_store_open(o->store_root, &b.store, err) < 0) goto out;
  if (asprintf(&b.work, "%s/build.XXXXXX", b.store->root) < 0) abort();
  if (mkdtemp(b.work) == NULL) {
    guise_fail_errno(err, "creating a build directory in %s failed", b.store->root);
    goto out;
  }
  b.stages = calloc(b.cf->n, sizeof(*b.stages));
  b.steps = b.cf->n;
  struct stage *st = NULL;
  for (size_t i = 0; i < b.cf->n; i++) {
    const struct cf_instruction *in = &b.cf->ins[i];
    if (o->progress != NULL)
      fprintf(o->progress, "STEP %zu/%zu: %s\n", i + 1, b.steps, in->original);
    int r;
    if (in->kind == CF_FROM) {
      if (st != NULL && o->target != NULL && st->name != NULL && strcmp(st->name, o->target) == 0)
        break;
      st = &b.stages[b.n_stages];
      st->rootfd = -1;
      r = stage_from(&b, in, st, err);
      b.n_stages++;
    } else if (st == NULL) { /* ARG before the first FROM */
      r = 0;
      for (size_t k = 0; in->args[k] != NULL && r == 0; k++)
        r = declare_arg(&b, &b.global_args, in->args[k], global_lookup, &b, err);
    } else {
      r = run_step(&b, in, st, err);
    }
    if (r < 0) {
      guise_error_prefix(err, "%s:%d: %s", b.cf->path, in->line, in->original);
      goto out;
    }
  }
  if (o->target != NULL && (st == NULL || st->name == NULL || strcmp(st->name, o->target) != 0)) {
    guise_fail(err, 0, "--target %s: no stage of that name in %s", o->target, b.cf->path);
    goto out;
  }
  rc = write_image(&b, st, image_id, err);
out:
  for (size_t i = 0; i < b.n_stages; i++)
    stage_clear(&b.stages[i]);
  free(b.stages);
  if (b.work != NULL) {
    char dir[PATH_MAX];
    for (size_t i = 0; i < b.cf->n; i++) {
      snprintf(dir, sizeof(dir), "%s/stage%zu/rootfs", b.work, i);
      remove_tree(dir);
    }
    remove_tree(b.work);
  }
  free(b.work);
  if (b.contextfd >= 0) close(b.contextfd);
  if (b.store != NULL) image_store_close(b.store);
  containerfile_free(b.cf);
  strv_free(b.global_args);
  return rc;
}
