#include "image/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakefs/db.h"
#include "image/container.h"
#include "image/digest.h"
#include "image/archive.h"
#include "image/layer.h"
#include "image/reference.h"
#include "image/registry.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define TMP_PREFIX FILEIO_TMP_PREFIX

static char *xstrdup(const char *s)
{
  if (s == NULL)
    return NULL;
  char *r = strdup(s);
  if (r == NULL)
    abort();
  return r;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0)
    abort();
  va_end(ap);
  return s;
}

static int mkdir_p(const char *path, mode_t mode, guise_error **err)
{
  _cleanup_free_ char *p = xstrdup(path);
  for (char *q = p + 1; *q; q++) {
    if (*q != '/')
      continue;
    *q = '\0';
    if (mkdir(p, mode) < 0 && errno != EEXIST)
      return guise_fail_errno(err, "create %s", p);
    *q = '/';
  }
  if (mkdir(p, mode) < 0 && errno != EEXIST)
    return guise_fail_errno(err, "create %s", p);
  return 0;
}

int image_store_tmpdir(const struct image_store *s, const char *what, char **path,
                       guise_error **err)
{
  static atomic_uint counter;
  _cleanup_free_ char *dir = xasprintf("%s/tmp", s->root);
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return guise_fail_errno(err, "create %s", dir);
  for (int i = 0; i < 100; i++) {
    _cleanup_free_ char *p = xasprintf("%s/%s%s-%d-%u", dir, TMP_PREFIX, what, (int)getpid(),
                                       atomic_fetch_add(&counter, 1));
    if (mkdir(p, 0700) == 0) {
      *path = steal_ptr(&p);
      return 0;
    }
    if (errno != EEXIST)
      return guise_fail_errno(err, "create %s", p);
  }
  return guise_fail(err, EEXIST, "create a temp directory in %s", dir);
}

void image_store_remove_tmpdir(const char *path)
{
  rm_rf_at(AT_FDCWD, path, NULL);
}

/* --- opening --- */

static int default_root(char **out, guise_error **err)
{
  const char *env = getenv("GUISE_ROOT");
  if (env != NULL && *env != '\0') {
    *out = xstrdup(env);
    return 0;
  }
  const char *xdg = getenv("XDG_DATA_HOME");
  if (xdg != NULL && xdg[0] == '/') {
    *out = xasprintf("%s/guise", xdg);
    return 0;
  }
  const char *home = getenv("HOME");
  if (home == NULL || *home == '\0')
    return guise_fail(err, 0, "neither GUISE_ROOT, XDG_DATA_HOME nor HOME is set: no image store");
  *out = xasprintf("%s/.local/share/guise", home);
  return 0;
}

static int open_layout(const char *dir, bool create, bool with_rootfs, struct image_store **out,
                       guise_error **err)
{
  struct image_store *s = calloc(1, sizeof(*s));
  if (s == NULL)
    abort();
  _cleanup_image_store_ struct image_store *owned = s;
  s->rootfd = -1;
  s->root = xstrdup(dir);
  size_t n = strlen(s->root);
  while (n > 1 && s->root[n - 1] == '/')
    s->root[--n] = '\0';
  if (create) {
    _cleanup_free_ char *blobs = xasprintf("%s/blobs/sha256", s->root);
    if (mkdir_p(blobs, 0755, err) < 0)
      return -1;
    if (with_rootfs) {
      _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", s->root);
      if (mkdir_p(rootfs, 0700, err) < 0)
        return -1;
    }
  }
  s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->rootfd < 0)
    return guise_fail_errno(err, "open %s", s->root);
  if (faccessat(s->rootfd, "oci-layout", F_OK, 0) < 0) {
    if (!create)
      return guise_fail(err, 0, "%s: not an OCI image layout (no oci-layout file)", s->root);
    const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
    if (write_file_atomic_at(s->rootfd, "oci-layout", layout, strlen(layout), err) < 0)
      return guise_error_prefix(err, "%s", s->root);
  }
  *out = steal_ptr(&owned);
  return 0;
}

int image_store_open(const char *root, struct image_store **out, guise_error **err)
{
  _cleanup_free_ char *dir = NULL;
  if (root != NULL)
    dir = xstrdup(root);
  else if (default_root(&dir, err) < 0)
    return -1;
  return open_layout(dir, true, true, out, err);
}

int image_layout_open(const char *dir, bool create, struct image_store **out, guise_error **err)
{
  return open_layout(dir, create, false, out, err);
}

void image_store_close(struct image_store *s)
{
  if (s == NULL)
    return;
  if (s->rootfd >= 0)
    close(s->rootfd);
  free(s->root);
  free(s);
}

int image_store_lock(const struct image_store *s, guise_error **err)
{
  int fd = openat(s->rootfd, "index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return guise_fail_errno(err, "open %s/index.lock", s->root);
  while (flock(fd, LOCK_EX) < 0) {
    if (errno != EINTR) {
      int e = errno;
      close(fd);
      return guise_fail(err, e, "lock %s/index.lock", s->root);
    }
  }
  return fd;
}

/* --- blobs --- */

char *image_store_blob_path(const struct image_store *s, const char *digest)
{
  return xasprintf("%s/blobs/sha256/%s", s->root, digest_hex(digest));
}

int image_store_has_blob(const struct image_store *s, const char *digest, int64_t size)
{
  if (!digest_valid(digest))
    return 0;
  _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
  struct stat st;
  if (fstatat(s->rootfd, rel, &st, 0) < 0 || !S_ISREG(st.st_mode))
    return 0;
  return size < 0 || st.st_size == size;
}

int image_store_blob_tmp(const struct image_store *s, char **tmp_path, int *fd, guise_error **err)
{
  static atomic_uint counter;
  for (int i = 0; i < 100; i++) {
    _cleanup_free_ char *p = xasprintf("%s/blobs/sha256/%sblob-%d-%u", s->root, TMP_PREFIX,
                                       (int)getpid(), atomic_fetch_add(&counter, 1));
    int f = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f >= 0) {
      *fd = f;
      *tmp_path = steal_ptr(&p);
      return 0;
    }
    if (errno != EEXIST)
      return guise_fail_errno(err, "create %s", p);
  }
  return guise_fail(err, EEXIST, "create a temp file in %s/blobs/sha256", s->root);
}

int image_store_blob_commit(const struct image_store *s, const char *tmp_path, const char *digest,
                            int64_t size, bool already_verified, guise_error **err)
{
  if (!already_verified) {
    char got[DIGEST_STR_MAX];
    uint64_t got_size = 0;
    if (digest_file(tmp_path, got, &got_size, err) < 0) {
      unlink(tmp_path);
      return -1;
    }
    if (size >= 0 && got_size != (uint64_t)size) {
      unlink(tmp_path);
      return guise_fail(err, 0, "blob %s: size mismatch (expected %lld bytes, got %llu)", digest,
                        (long long)size, (unsigned long long)got_size);
    }
    if (strcmp(got, digest) != 0) {
      unlink(tmp_path);
      return guise_fail(err, 0, "blob %s: digest mismatch (got %s)", digest, got);
    }
  }
  _cleanup_free_ char *final = image_store_blob_path(s, digest);
  if (rename(tmp_path, final) < 0) {
    int e = errno;
    unlink(tmp_path);
    return guise_fail(err, e, "rename %s to %s", tmp_path, final);
  }
  return 0;
}

int image_store_put_blob(const struct image_store *s, const void *data, size_t len,
                         const char *expected_digest, char *digest_out, guise_error **err)
{
  char d[DIGEST_STR_MAX];
  digest_buffer(data, len, d);
  if (expected_digest != NULL && strcmp(d, expected_digest) != 0)
    return guise_fail(err, 0, "blob %s: digest mismatch (got %s)", expected_digest, d);
  if (digest_out != NULL)
    memcpy(digest_out, d, strlen(d) + 1);
  if (image_store_has_blob(s, d, (int64_t)len))
    return 0;
  _cleanup_free_ char *tmp = NULL;
  _cleanup_close_ int fd = -1;
  if (image_store_blob_tmp(s, &tmp, &fd, err) < 0)
    return -1;
  if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
    int e = errno;
    unlink(tmp);
    return guise_fail(err, e, "write %s", tmp);
  }
  return image_store_blob_commit(s, tmp, d, (int64_t)len, true, err);
}

int image_store_read_blob(const struct image_store *s, const char *digest, size_t max, char **data,
                          size_t *len, guise_error **err)
{
  if (!digest_valid(digest))
    return guise_fail(err, 0, "blob %s: malformed digest", digest);
  _cleanup_free_ char *rel = xasprintf("blobs/sha256/%s", digest_hex(digest));
  struct stat st;
  if (fstatat(s->rootfd, rel, &st, 0) < 0)
    return guise_fail_errno(err, "blob %s", digest);
  if ((uint64_t)st.st_size > max)
    return guise_fail(err, 0, "blob %s: larger than %zu bytes", digest, max);
  _cleanup_free_ char *buf = NULL;
  size_t n = 0;
  if (read_file_at(s->rootfd, rel, &buf, &n, err) < 0)
    return guise_error_prefix(err, "blob %s", digest);
  char got[DIGEST_STR_MAX];
  digest_buffer(buf, n, got);
  if (strcmp(got, digest) != 0)
    return guise_fail(err, 0, "blob %s in %s: corrupted (digest %s)", digest, s->root, got);
  *data = steal_ptr(&buf);
  *len = n;
  return 0;
}

/* --- index.json --- */

static int read_index(const struct image_store *s, json_t **out, guise_error **err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  _cleanup_error_ guise_error *rerr = NULL;
  if (read_file_at(s->rootfd, "index.json", &data, &len, &rerr) < 0) {
    if (rerr->errnum != ENOENT) {
      *err = steal_ptr(&rerr);
      return -1;
    }
    *out = json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
                     "manifests");
    return 0;
  }
  _cleanup_free_ char *what = xasprintf("%s/index.json", s->root);
  json_t *j = json_parse_named(what, data, len, err);
  if (j == NULL)
    return -1;
  if (!json_is_array(json_object_get(j, "manifests"))) {
    json_decref(j);
    return guise_fail(err, 0, "%s: no manifests array", what);
  }
  *out = j;
  return 0;
}

static int write_index(const struct image_store *s, json_t *j, guise_error **err)
{
  _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2));
  if (text == NULL)
    abort();
  return write_file_atomic_at(s->rootfd, "index.json", text, strlen(text), err);
}

static const char *entry_name(json_t *m)
{
  return json_string_value(json_object_get(json_object_get(m, "annotations"), ANNOTATION_REF_NAME));
}

void image_store_entries_free(struct image_store_entry *e, size_t n)
{
  if (e == NULL)
    return;
  for (size_t i = 0; i < n; i++) {
    free(e[i].name);
    descriptor_clear(&e[i].desc);
  }
  free(e);
}

static int parse_entry(json_t *m, struct image_store_entry *e, guise_error **err)
{
  const char *mt = json_string_value(json_object_get(m, "mediaType"));
  const char *dg = json_string_value(json_object_get(m, "digest"));
  json_t *sz = json_object_get(m, "size");
  if (!digest_valid(dg) || !json_is_integer(sz))
    return guise_fail(err, 0, "index.json: malformed manifest descriptor");
  e->name = xstrdup(entry_name(m));
  e->desc.media_type = xstrdup(mt ? mt : MT_OCI_MANIFEST);
  e->desc.digest = xstrdup(dg);
  e->desc.size = json_integer_value(sz);
  return 0;
}

int image_store_list(const struct image_store *s, struct image_store_entry **out, size_t *n,
                     guise_error **err)
{
  _cleanup_json_ json_t *j = NULL;
  if (read_index(s, &j, err) < 0)
    return -1;
  json_t *ms = json_object_get(j, "manifests");
  size_t count = json_array_size(ms);
  struct image_store_entry *e = calloc(count + 1, sizeof(*e));
  if (e == NULL)
    abort();
  for (size_t i = 0; i < count; i++) {
    if (parse_entry(json_array_get(ms, i), &e[i], err) < 0) {
      image_store_entries_free(e, count);
      return guise_error_prefix(err, "%s", s->root);
    }
  }
  *out = e;
  *n = count;
  return 0;
}

int image_store_tag(const struct image_store *s, const char *name, const struct oci_descriptor *desc,
                    guise_error **err)
{
  _cleanup_close_ int lock = image_store_lock(s, err);
  if (lock < 0)
    return -1;
  _cleanup_json_ json_t *j = NULL;
  if (read_index(s, &j, err) < 0)
    return -1;
  json_t *ms = json_object_get(j, "manifests");
  for (size_t i = json_array_size(ms); i-- > 0;) {
    json_t *e = json_array_get(ms, i);
    const char *n = entry_name(e);
    /* A name moves; an unnamed entry of the same image is not repeated. */
    const char *d = json_string_value(json_object_get(e, "digest"));
    if (name != NULL ? n != NULL && strcmp(n, name) == 0
                     : n == NULL && d != NULL && strcmp(d, desc->digest) == 0)
      json_array_remove(ms, i);
  }
  json_t *m = json_pack("{s:s,s:s,s:I}", "mediaType",
                        desc->media_type ? desc->media_type : MT_OCI_MANIFEST, "digest",
                        desc->digest, "size", (json_int_t)desc->size);
  if (m == NULL)
    abort();
  if (name != NULL)
    json_object_set_new(m, "annotations", json_pack("{s:s}", ANNOTATION_REF_NAME, name));
  json_array_append_new(ms, m);
  return write_index(s, j, err);
}

int image_store_untag(const struct image_store *s, const char *name, const char *digest,
                      guise_error **err)
{
  _cleanup_close_ int lock = image_store_lock(s, err);
  if (lock < 0)
    return -1;
  _cleanup_json_ json_t *j = NULL;
  if (read_index(s, &j, err) < 0)
    return -1;
  json_t *ms = json_object_get(j, "manifests");
  bool found = false;
  for (size_t i = json_array_size(ms); i-- > 0;) {
    json_t *e = json_array_get(ms, i);
    const char *n = entry_name(e);
    const char *d = json_string_value(json_object_get(e, "digest"));
    if (name != NULL ? n != NULL && strcmp(n, name) == 0
                     : n == NULL && d != NULL && strcmp(d, digest) == 0) {
      json_array_remove(ms, i);
      found = true;
    }
  }
  if (!found)
    return guise_fail(err, ENOENT, "image %s", name ? name : digest);
  return write_index(s, j, err);
}

/* The config digest of a stored manifest (resolving an index to the default platform). */
static int manifest_config_digest(const struct image_store *s, const struct oci_descriptor *d,
                                  char out[DIGEST_STR_MAX], guise_error **err);

int image_store_resolve(const struct image_store *s, const char *text, char **name,
                        struct oci_descriptor *desc, guise_error **err)
{
  struct image_store_entry *e = NULL;
  size_t n = 0;
  if (image_store_list(s, &e, &n, err) < 0)
    return -1;
  ssize_t found = -1;
  for (size_t i = 0; i < n && found < 0; i++)
    if (e[i].name != NULL && strcmp(e[i].name, text) == 0)
      found = (ssize_t)i;
  struct image_ref parsed = {0};
  _cleanup_error_ guise_error *perr = NULL;
  bool have_parsed = found < 0 && image_ref_parse_name(text, &parsed, &perr) == 0;
  if (have_parsed) {
    _cleanup_free_ char *canon = image_ref_name(&parsed);
    for (size_t i = 0; i < n && found < 0; i++)
      if (e[i].name != NULL && strcmp(e[i].name, canon) == 0)
        found = (ssize_t)i;
    if (found < 0 && !parsed.registry_explicit && parsed.tag != NULL) {
      /* Short name: any registry, with the repository as typed ("busybox", "foo/bar"). */
      const char *repo = parsed.repository;
      if (strncmp(repo, "library/", 8) == 0 && strncmp(text, "library/", 8) != 0)
        repo += 8;
      _cleanup_free_ char *suffix = xasprintf("/%s:%s", repo, parsed.tag);
      size_t sl = strlen(suffix);
      size_t matches = 0;
      for (size_t i = 0; i < n; i++) {
        size_t nl = e[i].name ? strlen(e[i].name) : 0;
        if (nl > sl && strcmp(e[i].name + nl - sl, suffix) == 0) {
          if (matches++ == 0)
            found = (ssize_t)i;
        }
      }
      if (matches > 1) {
        free(parsed.registry);
        free(parsed.repository);
        free(parsed.tag);
        free(parsed.digest);
        image_store_entries_free(e, n);
        return guise_fail(err, 0, "image %s is ambiguous: give the full name", text);
      }
    }
  }
  free(parsed.registry);
  free(parsed.repository);
  free(parsed.tag);
  free(parsed.digest);
  if (found < 0) {
    /* An image id (config digest) or manifest digest, or a prefix of one (>= 3 hex digits). */
    const char *hex = strncmp(text, "sha256:", 7) == 0 ? text + 7 : text;
    size_t hl = strlen(hex);
    bool is_hex = hl >= 3 && hl <= 64 && strspn(hex, "0123456789abcdef") == hl;
    for (size_t i = 0; i < n && is_hex && found < 0; i++) {
      char cfg[DIGEST_STR_MAX];
      if (strncmp(digest_hex(e[i].desc.digest), hex, hl) == 0) {
        found = (ssize_t)i;
        break;
      }
      _cleanup_error_ guise_error *cerr = NULL;
      if (manifest_config_digest(s, &e[i].desc, cfg, &cerr) == 0 &&
          strncmp(digest_hex(cfg), hex, hl) == 0)
        found = (ssize_t)i;
    }
  }
  if (found < 0) {
    image_store_entries_free(e, n);
    return guise_fail(err, ENOENT, "image %s not found in %s", text, s->root);
  }
  if (name != NULL)
    *name = xstrdup(e[found].name);
  if (desc != NULL) {
    desc->media_type = xstrdup(e[found].desc.media_type);
    desc->digest = xstrdup(e[found].desc.digest);
    desc->size = e[found].desc.size;
  }
  image_store_entries_free(e, n);
  return 0;
}

const char *image_default_platform(void)
{
  const char *env = getenv("GUISE_PLATFORM");
  return env && *env ? env : platform_host_default();
}

/* Load the manifest desc points at; an index is resolved to platform (NULL: default). */
static int load_manifest(const struct image_store *s, const struct oci_descriptor *desc,
                         const char *platform, struct oci_descriptor *resolved, char **raw,
                         size_t *raw_len, struct image_manifest **m, guise_error **err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (image_store_read_blob(s, desc->digest, MANIFEST_MAX_BYTES, &data, &len, err) < 0)
    return -1;
  enum manifest_kind kind;
  if (manifest_detect(data, len, desc->media_type, &kind, err) < 0)
    return -1;
  if (kind == MANIFEST_KIND_INDEX) {
    _cleanup_index_ struct image_index *idx = NULL;
    if (index_parse(data, len, &idx, err) < 0)
      return -1;
    const struct oci_descriptor *pick = NULL;
    if (index_select_platform(idx, platform ? platform : image_default_platform(), &pick, err) < 0)
      return -1;
    return load_manifest(s, pick, platform, resolved, raw, raw_len, m, err);
  }
  if (manifest_parse(data, len, m, err) < 0)
    return -1;
  if (resolved != NULL) {
    resolved->media_type = xstrdup((*m)->media_type);
    resolved->digest = xstrdup(desc->digest);
    resolved->size = (int64_t)len;
  }
  if (raw != NULL) {
    *raw = steal_ptr(&data);
    *raw_len = len;
  }
  return 0;
}

static int manifest_config_digest(const struct image_store *s, const struct oci_descriptor *d,
                                  char out[DIGEST_STR_MAX], guise_error **err)
{
  _cleanup_manifest_ struct image_manifest *m = NULL;
  if (load_manifest(s, d, NULL, NULL, NULL, NULL, &m, err) < 0)
    return -1;
  snprintf(out, DIGEST_STR_MAX, "%s", m->config.digest);
  return 0;
}

void stored_image_free(struct stored_image *img)
{
  if (img == NULL)
    return;
  free(img->name);
  descriptor_clear(&img->desc);
  free(img->manifest_raw);
  manifest_free(img->manifest);
  free(img->config_raw);
  image_config_free(img->config);
  free(img);
}

/* The image of the manifest (or index) top, named name (may be NULL); text for messages. */
static int load_image(const struct image_store *s, const struct oci_descriptor *top,
                      const char *name, const char *text, struct stored_image **out,
                      guise_error **err)
{
  struct stored_image *img = calloc(1, sizeof(*img));
  if (img == NULL)
    abort();
  _cleanup_stored_image_ struct stored_image *owned = img;
  img->name = xstrdup(name);
  if (load_manifest(s, top, NULL, &img->desc, &img->manifest_raw, &img->manifest_len,
                    &img->manifest, err) < 0)
    return guise_error_prefix(err, "image %s", name ? name : text);
  if (image_store_read_blob(s, img->manifest->config.digest, MANIFEST_MAX_BYTES, &img->config_raw,
                            &img->config_len, err) < 0 ||
      image_config_parse(img->config_raw, img->config_len, &img->config, err) < 0)
    return guise_error_prefix(err, "image %s", name ? name : text);
  *out = steal_ptr(&owned);
  return 0;
}

int image_store_load(const struct image_store *s, const char *text, struct stored_image **out,
                     guise_error **err)
{
  struct oci_descriptor top = {0};
  _cleanup_free_ char *name = NULL;
  if (image_store_resolve(s, text, &name, &top, err) < 0)
    return -1;
  int r = load_image(s, &top, name, text, out, err);
  descriptor_clear(&top);
  return r;
}

int image_store_load_manifest(const struct image_store *s, const char *digest, const char *name,
                              struct stored_image **out, guise_error **err)
{
  struct oci_descriptor top = {.digest = (char *)digest, .size = -1};
  return load_image(s, &top, name, digest, out, err);
}

/* --- root filesystems --- */

/* "<root>/rootfs/<config hex>", and <root>/rootfs made if missing when make_parent. */
static char *rootfs_path_of(const struct image_store *s, const char *config_digest,
                            bool make_parent, guise_error **err)
{
  if (make_parent) {
    _cleanup_free_ char *dir = xasprintf("%s/rootfs", s->root);
    if (mkdir_p(dir, 0700, err) < 0) return NULL;
  }
  return xasprintf("%s/rootfs/%s", s->root, digest_hex(config_digest));
}

char *image_store_rootfs_path(const struct image_store *s, const struct stored_image *img)
{
  return rootfs_path_of(s, img->manifest->config.digest, false, NULL);
}

static void remove_db_files(const char *db)
{
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    _cleanup_free_ char *p = xasprintf("%s%s", db, suffixes[i]);
    unlink(p);
  }
}

int image_store_apply(const struct image_store *s, const struct stored_image *img, const char *dir,
                      const char *db_path, guise_error **err)
{
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (fakefs_db_open(db_path, FAKEFS_DB_CREATE, &db, err) < 0)
    return -1;
  _cleanup_close_ int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0)
    return guise_fail_errno(err, "open %s", dir);
  struct stat st;
  if (fstat(rootfd, &st) < 0)
    return guise_fail_errno(err, "stat %s", dir);
  if (fakefs_db_adopt_dev(db, (uint64_t)st.st_dev, err) < 0)
    return -1;
  for (size_t i = 0; i < img->manifest->n_layers; i++) {
    const struct oci_descriptor *l = &img->manifest->layers[i];
    _cleanup_free_ char *path = image_store_blob_path(s, l->digest);
    _cleanup_free_ char *what = xasprintf("layer %s", l->digest);
    if (layer_apply(rootfd, db, path, what, NULL, err) < 0)
      return -1;
  }
  return 0;
}

/* Move a complete rootfs (dir, and its faked-state database db) to final/final_db, under the
 * store lock.  1 when moved; 0 when final exists already (another guise got there first: the
 * caller's copy is removed); -1 with *err (nothing moved). */
static int put_rootfs_in_place(const struct image_store *s, const char *dir, const char *db,
                               const char *final, const char *final_db, guise_error **err)
{
  _cleanup_close_ int lock = image_store_lock(s, err);
  if (lock < 0) return -1;
  struct stat st;
  if (stat(final, &st) == 0) {
    rm_rf_at(AT_FDCWD, dir, NULL);
    remove_db_files(db);
    return 0;
  }
  remove_db_files(final_db); /* a leftover of an interrupted rename */
  if (access(db, F_OK) == 0 && rename(db, final_db) < 0)
    return guise_fail_errno(err, "rename %s to %s", db, final_db);
  if (rename(dir, final) < 0) {
    guise_fail_errno(err, "rename %s to %s", dir, final);
    if (rename(final_db, db) < 0) remove_db_files(final_db);
    return -1;
  }
  return 1;
}

int image_store_adopt_rootfs(const struct image_store *s, const char *config_digest,
                             const char *dir, guise_error **err)
{
  _cleanup_free_ char *final = rootfs_path_of(s, config_digest, true, err);
  _cleanup_free_ char *db = NULL, *final_db = NULL;
  if (final == NULL || fakefs_db_path_for_rootfs(dir, &db, err) < 0 ||
      fakefs_db_path_for_rootfs(final, &final_db, err) < 0)
    return -1;
  /* The last writer checkpointed the WAL when it closed the database (a read-only connection
   * may have left an empty one); records still in a WAL would be lost by the rename, so such
   * a rootfs is not adopted. */
  _cleanup_free_ char *wal = xasprintf("%s-wal", db);
  struct stat st;
  if (stat(wal, &st) == 0 && st.st_size > 0) return 0;
  return put_rootfs_in_place(s, dir, db, final, final_db, err);
}

int image_store_unpack(const struct image_store *s, const struct stored_image *img,
                       char **rootfs_path, guise_error **err)
{
  _cleanup_free_ char *final = image_store_rootfs_path(s, img);
  struct stat st;
  if (stat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (rootfs_path)
      *rootfs_path = steal_ptr(&final);
    return 0;
  }
  for (size_t i = 0; i < img->manifest->n_layers; i++) {
    const struct oci_descriptor *l = &img->manifest->layers[i];
    if (!image_store_has_blob(s, l->digest, l->size))
      return guise_fail(err, ENOENT, "unpack %s: layer %s is missing from the store",
                        img->name ? img->name : img->desc.digest, l->digest);
  }
  _cleanup_free_ char *rootfs_dir = xasprintf("%s/rootfs", s->root);
  if (mkdir_p(rootfs_dir, 0700, err) < 0)
    return -1;
  static atomic_uint counter;
  _cleanup_free_ char *tmp_name =
      xasprintf("%s%.12s-%d-%u", TMP_PREFIX, digest_hex(img->manifest->config.digest),
                (int)getpid(), atomic_fetch_add(&counter, 1));
  _cleanup_free_ char *tmp = xasprintf("%s/%s", rootfs_dir, tmp_name);
  if (mkdir(tmp, 0755) < 0)
    return guise_fail_errno(err, "create %s", tmp);
  _cleanup_free_ char *tmp_db = NULL, *final_db = NULL;
  int ret = fakefs_db_path_for_rootfs(tmp, &tmp_db, err);
  if (ret == 0)
    ret = fakefs_db_path_for_rootfs(final, &final_db, err);
  if (ret == 0)
    ret = image_store_apply(s, img, tmp, tmp_db, err);
  if (ret == 0 && put_rootfs_in_place(s, tmp, tmp_db, final, final_db, err) < 0) ret = -1;
  if (ret < 0) {
    rm_rf_at(AT_FDCWD, tmp, NULL);
    if (tmp_db != NULL)
      remove_db_files(tmp_db);
    return guise_error_prefix(err, "unpack %s", img->name ? img->name : img->desc.digest);
  }
  if (rootfs_path)
    *rootfs_path = steal_ptr(&final);
  return 0;
}

/* --- writing images --- */

int image_store_write_layer(const struct image_store *s, int rootfd, struct fakefs_db *db,
                            const struct rootfs_snapshot *base,
                            const struct layer_write_options *opts, struct oci_descriptor *desc,
                            char diff_id[DIGEST_STR_MAX], guise_error **err)
{
  _cleanup_free_ char *tmp = NULL;
  int fd;
  if (image_store_blob_tmp(s, &tmp, &fd, err) < 0)
    return -1;
  struct layer_digests d;
  int r = layer_write(rootfd, db, base, fd, opts, &d, err);
  if (r == 0 && fsync(fd) < 0)
    r = guise_fail_errno(err, "fsync of %s failed", tmp);
  close(fd);
  if (r < 0) {
    unlink(tmp);
    return -1;
  }
  if (image_store_blob_commit(s, tmp, d.digest, (int64_t)d.size, true, err) < 0)
    return -1;
  desc->media_type = xstrdup(opts->compression == LAYER_ZSTD           ? MT_OCI_LAYER_ZSTD
                             : opts->compression == LAYER_UNCOMPRESSED ? MT_OCI_LAYER
                                                                       : MT_OCI_LAYER_GZIP);
  desc->digest = xstrdup(d.digest);
  desc->size = (int64_t)d.size;
  snprintf(diff_id, DIGEST_STR_MAX, "%s", d.diff_id);
  return 0;
}

int image_store_put_image(const struct image_store *s, json_t *config, json_t *layers,
                          struct oci_descriptor *desc, char image_id[DIGEST_STR_MAX],
                          guise_error **err)
{
  _cleanup_free_ char *config_text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
  if (config_text == NULL)
    abort();
  char config_digest[DIGEST_STR_MAX], manifest_digest[DIGEST_STR_MAX];
  if (image_store_put_blob(s, config_text, strlen(config_text), NULL, config_digest, err) < 0)
    return -1;
  _cleanup_json_ json_t *manifest =
      json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
                "config", "mediaType", MT_OCI_CONFIG, "digest", config_digest, "size",
                (json_int_t)strlen(config_text), "layers", layers);
  _cleanup_free_ char *manifest_text = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
  if (manifest_text == NULL)
    abort();
  size_t manifest_len = strlen(manifest_text);
  if (image_store_put_blob(s, manifest_text, manifest_len, NULL, manifest_digest, err) < 0)
    return -1;
  desc->media_type = xstrdup(MT_OCI_MANIFEST);
  desc->digest = xstrdup(manifest_digest);
  desc->size = (int64_t)manifest_len;
  snprintf(image_id, DIGEST_STR_MAX, "%s", config_digest);
  return 0;
}

/* --- prune --- */

struct strset {
  char **v;
  size_t n, cap;
};

static void strset_add(struct strset *set, const char *s)
{
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->v[i], s) == 0)
      return;
  if (set->n == set->cap) {
    set->cap = set->cap ? set->cap * 2 : 32;
    set->v = realloc(set->v, set->cap * sizeof(char *));
    if (set->v == NULL)
      abort();
  }
  set->v[set->n++] = xstrdup(s);
}

static bool strset_has(const struct strset *set, const char *s)
{
  for (size_t i = 0; i < set->n; i++)
    if (strcmp(set->v[i], s) == 0)
      return true;
  return false;
}

static void strset_free(struct strset *set)
{
  for (size_t i = 0; i < set->n; i++)
    free(set->v[i]);
  free(set->v);
}

/* Mark the blobs a manifest or index reaches (hex digests) and the configs (rootfs names). */
static int mark_reachable(const struct image_store *s, const char *digest, struct strset *blobs,
                          struct strset *configs, int depth, guise_error **err)
{
  if (strset_has(blobs, digest_hex(digest)))
    return 0;
  strset_add(blobs, digest_hex(digest));
  if (depth > 4)
    return 0;
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  _cleanup_error_ guise_error *rerr = NULL;
  /* A missing or broken manifest reaches nothing more; keep going (prune must not fail). */
  if (image_store_read_blob(s, digest, MANIFEST_MAX_BYTES, &data, &len, &rerr) < 0)
    return 0;
  enum manifest_kind kind;
  if (manifest_detect(data, len, NULL, &kind, &rerr) < 0)
    return 0;
  if (kind == MANIFEST_KIND_INDEX) {
    _cleanup_index_ struct image_index *idx = NULL;
    if (index_parse(data, len, &idx, &rerr) < 0)
      return 0;
    for (size_t i = 0; i < idx->n_manifests; i++)
      if (mark_reachable(s, idx->manifests[i].digest, blobs, configs, depth + 1, err) < 0)
        return -1;
    return 0;
  }
  _cleanup_manifest_ struct image_manifest *m = NULL;
  if (manifest_parse(data, len, &m, &rerr) < 0)
    return 0;
  strset_add(blobs, digest_hex(m->config.digest));
  strset_add(configs, digest_hex(m->config.digest));
  for (size_t i = 0; i < m->n_layers; i++)
    strset_add(blobs, digest_hex(m->layers[i].digest));
  return 0;
}

/* A temp file of a process that is gone: ".tmp-<anything>-<pid>-<n>". */
static bool stale_temp(const char *name)
{
  if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
    return false;
  const char *last = strrchr(name, '-');
  if (last == NULL || last == name)
    return true;
  const char *p = last - 1;
  while (p > name && *p != '-')
    p--;
  long pid = strtol(p + 1, NULL, 10);
  if (pid <= 0)
    return true;
  return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void sweep(const struct image_store *s, const struct strset *blobs,
                  const struct strset *configs, struct prune_stats *stats);

/* Remove the temp entries (".tmp-...") of dead processes in <root>/<sub>; how many. */
static size_t sweep_stale_temps(const struct image_store *s, const char *sub)
{
  _cleanup_free_ char *path = xasprintf("%s/%s", s->root, sub);
  _cleanup_closedir_ DIR *d = opendir(path);
  size_t n = 0;
  if (d == NULL)
    return 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    _cleanup_error_ guise_error *rerr = NULL;
    if (de->d_name[0] == '.' && stale_temp(de->d_name) && rm_rf_at(dirfd(d), de->d_name, &rerr) == 0)
      n++;
  }
  return n;
}

int image_store_prune(struct image_store *s, struct prune_stats *stats, guise_error **err)
{
  memset(stats, 0, sizeof(*stats));
  _cleanup_close_ int lock = image_store_lock(s, err);
  if (lock < 0)
    return -1;
  struct strset blobs = {0}, configs = {0};
  struct image_store_entry *e = NULL;
  size_t n = 0;
  if (image_store_list(s, &e, &n, err) < 0)
    return -1;
  int ret = 0;
  for (size_t i = 0; i < n && ret == 0; i++)
    ret = mark_reachable(s, e[i].desc.digest, &blobs, &configs, 0, err);
  image_store_entries_free(e, n);
  /* Containers keep their image (commit needs its layers and config). */
  _cleanup_strv_ char **used = NULL;
  if (ret == 0)
    ret = container_image_digests(s, &used, err);
  for (size_t i = 0; ret == 0 && used != NULL && used[i] != NULL; i++)
    ret = mark_reachable(s, used[i], &blobs, &configs, 0, err);
  if (ret == 0)
    sweep(s, &blobs, &configs, stats);
  strset_free(&blobs);
  strset_free(&configs);
  return ret;
}

/* Remove what is not in blobs/configs, and stale temp files. */
static void sweep(const struct image_store *s, const struct strset *blobs,
                  const struct strset *configs, struct prune_stats *stats)
{

  _cleanup_free_ char *blobdir = xasprintf("%s/blobs/sha256", s->root);
  DIR *d = opendir(blobdir);
  if (d != NULL) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.' && !stale_temp(de->d_name))
        continue;
      if (de->d_name[0] != '.' && strset_has(blobs, de->d_name))
        continue;
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
        continue;
      if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
        if (de->d_name[0] == '.')
          stats->temps++;
        else
          stats->blobs++;
        stats->bytes += (uint64_t)st.st_size;
      }
    }
    closedir(d);
  }

  /* Containers being made or removed, and temp directories (archives being read), of
   * processes that are gone. */
  stats->temps += sweep_stale_temps(s, "containers") + sweep_stale_temps(s, "tmp");

  _cleanup_free_ char *rootfsdir = xasprintf("%s/rootfs", s->root);
  d = opendir(rootfsdir);
  if (d != NULL) {
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
      if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
        continue;
      bool temp = de->d_name[0] == '.';
      if (temp && !stale_temp(de->d_name))
        continue;
      if (!temp) {
        /* "<hex>" or "<hex>.fakefs.db[-wal|-shm]" */
        _cleanup_free_ char *hex = xstrdup(de->d_name);
        hex[strcspn(hex, ".")] = '\0';
        if (strset_has(configs, hex))
          continue;
      }
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      _cleanup_error_ guise_error *rerr = NULL;
      if (rm_rf_at(dirfd(d), de->d_name, &rerr) == 0 && S_ISDIR(st.st_mode)) {
        if (temp)
          stats->temps++;
        else
          stats->rootfs++;
      }
    }
    closedir(d);
  }
}

/* --- pull and push --- */

static void say(const struct image_copy_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct image_copy_options *o, const char *fmt, ...)
{
  if (o == NULL || o->quiet)
    return;
  FILE *f = o->progress ? o->progress : stderr;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fflush(f);
}

/* Copy a blob between two layouts, verifying it on the way. */
static int copy_blob(const struct image_store *from, const struct image_store *to,
                     const struct oci_descriptor *d, guise_error **err)
{
  if (image_store_has_blob(to, d->digest, d->size))
    return 0;
  _cleanup_free_ char *src = image_store_blob_path(from, d->digest);
  if (image_store_has_blob(from, d->digest, d->size) && from->rootfd != to->rootfd) {
    /* A layout on the same filesystem (an archive's temp layout in the store): a hard link,
     * after checking the content, since the source is not the store's own. */
    char got[DIGEST_STR_MAX];
    uint64_t got_size = 0;
    _cleanup_free_ char *dst = image_store_blob_path(to, d->digest);
    if (digest_file(src, got, &got_size, err) < 0)
      return -1;
    if (strcmp(got, d->digest) != 0 || got_size != (uint64_t)d->size)
      return guise_fail(err, 0, "blob %s in %s: corrupted (digest %s, %llu bytes)", d->digest,
                        from->root, got, (unsigned long long)got_size);
    if (link(src, dst) == 0 || errno == EEXIST)
      return 0;
  }
  _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0 && errno == ENOENT)
    return guise_fail(err, ENOENT, "blob %s is missing from %s", d->digest, from->root);
  if (in < 0)
    return guise_fail_errno(err, "blob %s: open %s", d->digest, src);
  _cleanup_free_ char *tmp = NULL;
  _cleanup_close_ int out = -1;
  if (image_store_blob_tmp(to, &tmp, &out, err) < 0)
    return -1;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = read(in, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 || (r > 0 && write_all(out, buf, (size_t)r) < 0)) {
      int e = errno;
      unlink(tmp);
      return guise_fail(err, e, "blob %s: copy to %s", d->digest, tmp);
    }
    if (r == 0)
      break;
  }
  if (fsync(out) < 0) {
    int e = errno;
    unlink(tmp);
    return guise_fail(err, e, "blob %s: fsync %s", d->digest, tmp);
  }
  return image_store_blob_commit(to, tmp, d->digest, d->size, false, err);
}

/* Download the missing blobs of m from the registry, each verified into place. */
static int fetch_missing(struct image_store *s, struct registry *reg, const struct image_manifest *m,
                         const struct image_copy_options *o, guise_error **err)
{
  size_t cap = m->n_layers + 1, n = 0;
  struct blob_fetch *f = calloc(cap, sizeof(*f));
  char **tmps = calloc(cap, sizeof(char *));
  if (f == NULL || tmps == NULL)
    abort();
  int ret = 0;
  for (size_t i = 0; i < cap && ret == 0; i++) {
    const struct oci_descriptor *d = i == 0 ? &m->config : &m->layers[i - 1];
    bool dup = false;
    for (size_t k = 0; k < n; k++)
      dup |= strcmp(f[k].digest, d->digest) == 0;
    if (dup)
      continue;
    if (image_store_has_blob(s, d->digest, d->size)) {
      if (i > 0)
        say(o, "Copying blob %.12s skipped: already exists", digest_hex(d->digest));
      continue;
    }
    f[n].digest = d->digest;
    f[n].size = d->size;
    ret = image_store_blob_tmp(s, &tmps[n], &f[n].fd, err);
    if (ret == 0)
      n++;
  }
  if (ret == 0)
    ret = registry_fetch_blobs(reg, f, n, err);
  for (size_t k = 0; k < n; k++) {
    if (ret == 0 && fsync(f[k].fd) < 0)
      ret = guise_fail_errno(err, "fsync %s", tmps[k]);
    close(f[k].fd);
    if (ret == 0)
      ret = image_store_blob_commit(s, tmps[k], f[k].digest, f[k].size, true, err);
    else
      unlink(tmps[k]);
    free(tmps[k]);
  }
  free(f);
  free(tmps);
  return ret;
}

char *image_layout_import_name(const char *path, const char *refname)
{
  const char *base = strrchr(path, '/');
  base = base && base[1] ? base + 1 : path;
  _cleanup_free_ char *repo = xstrdup(base);
  static const char *const exts[] = {".tar.gz", ".tar.zst", ".tar.xz", ".tgz", ".tar"};
  for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
    size_t bl = strlen(repo), el = strlen(exts[i]);
    if (bl > el && strcmp(repo + bl - el, exts[i]) == 0) {
      repo[bl - el] = '\0';
      break;
    }
  }
  for (char *p = repo; *p; p++)
    *p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
  if (refname != NULL) {
    if (image_ref_valid_tag(refname) && image_ref_valid_repository(repo))
      return xasprintf("localhost/%s:%s", repo, refname);
    struct image_ref r = {0};
    _cleanup_error_ guise_error *e = NULL;
    if (image_ref_parse_name(refname, &r, &e) == 0) {
      char *n = r.registry_explicit ? image_ref_name(&r)
                                    : xasprintf("localhost/%s:%s", r.repository + (strncmp(r.repository, "library/", 8) == 0 ? 8 : 0),
                                                r.tag ? r.tag : "latest");
      free(r.registry);
      free(r.repository);
      free(r.tag);
      free(r.digest);
      return n;
    }
  }
  if (!image_ref_valid_repository(repo))
    return xstrdup("localhost/oci-import:latest");
  return xasprintf("localhost/%s:latest", repo);
}

/* Find the image of an OCI layout: by ref name, else the only one. */
static int layout_find(const struct image_store *lay, const char *refname,
                       struct oci_descriptor *out, guise_error **err)
{
  struct image_store_entry *e = NULL;
  size_t n = 0;
  if (image_store_list(lay, &e, &n, err) < 0)
    return -1;
  ssize_t found = -1;
  for (size_t i = 0; i < n; i++) {
    if (refname != NULL ? (e[i].name && strcmp(e[i].name, refname) == 0) : n == 1)
      found = (ssize_t)i;
  }
  if (found < 0) {
    image_store_entries_free(e, n);
    if (refname != NULL)
      return guise_fail(err, ENOENT, "%s: no image named %s", lay->root, refname);
    return guise_fail(err, 0, "%s: %zu images; say which (oci:%s:REF)", lay->root, n, lay->root);
  }
  out->media_type = xstrdup(e[found].desc.media_type);
  out->digest = xstrdup(e[found].desc.digest);
  out->size = e[found].desc.size;
  image_store_entries_free(e, n);
  return 0;
}

/* Bring the image whose manifest or index is raw (from the registry reg, else the layout lay)
 * into s and unpack it; *stored gets the descriptor of its manifest.  Nothing is named. */
static int copy_manifest_in(struct image_store *s, struct registry *reg,
                            const struct image_store *lay, char *raw, size_t raw_len,
                            const char *ctype, const char *what,
                            const struct image_copy_options *o, struct oci_descriptor *stored,
                            guise_error **err)
{
  _cleanup_free_ char *owned_raw = raw;
  const char *platform = o && o->platform ? o->platform : image_default_platform();
  enum manifest_kind kind;
  if (manifest_detect(raw, raw_len, ctype, &kind, err) < 0)
    return -1;
  if (kind == MANIFEST_KIND_INDEX) {
    _cleanup_index_ struct image_index *idx = NULL;
    if (index_parse(raw, raw_len, &idx, err) < 0)
      return -1;
    const struct oci_descriptor *pick = NULL;
    if (index_select_platform(idx, platform, &pick, err) < 0)
      return -1;
    if (pick->size > (int64_t)MANIFEST_MAX_BYTES)
      return guise_fail(err, 0, "manifest %s: too large (%lld bytes)", pick->digest,
                        (long long)pick->size);
    _cleanup_free_ char *child = NULL, *child_ct = NULL;
    size_t child_len = 0;
    if (reg != NULL) {
      if (registry_get_manifest(reg, pick->digest, MANIFEST_MAX_BYTES, &child, &child_len,
                                &child_ct, err) < 0)
        return -1;
    } else if (image_store_read_blob(lay, pick->digest, MANIFEST_MAX_BYTES, &child, &child_len,
                                     err) < 0) {
      return -1;
    }
    char got[DIGEST_STR_MAX];
    digest_buffer(child, child_len, got);
    if (strcmp(got, pick->digest) != 0)
      return guise_fail(err, 0, "manifest %s: digest mismatch (got %s)", pick->digest, got);
    if ((int64_t)child_len != pick->size)
      return guise_fail(err, 0, "manifest %s: size mismatch (expected %lld bytes, got %zu)",
                        pick->digest, (long long)pick->size, child_len);
    free(owned_raw);
    raw = owned_raw = steal_ptr(&child);
    raw_len = child_len;
  }
  struct stored_image img = {0};
  img.name = (char *)what;
  if (manifest_parse(raw, raw_len, &img.manifest, err) < 0)
    return -1;
  char mdigest[DIGEST_STR_MAX];
  digest_buffer(raw, raw_len, mdigest);
  int ret = 0;
  if (reg != NULL) {
    ret = fetch_missing(s, reg, img.manifest, o, err);
  } else {
    ret = copy_blob(lay, s, &img.manifest->config, err);
    for (size_t i = 0; i < img.manifest->n_layers && ret == 0; i++)
      ret = copy_blob(lay, s, &img.manifest->layers[i], err);
  }
  if (ret == 0)
    ret = image_store_read_blob(s, img.manifest->config.digest, MANIFEST_MAX_BYTES,
                                &img.config_raw, &img.config_len, err);
  if (ret == 0)
    ret = image_config_parse(img.config_raw, img.config_len, &img.config, err);
  if (ret == 0 && img.config->n_diff_ids != img.manifest->n_layers)
    ret = guise_fail(err, 0, "config %s: %zu diff_ids for %zu layers", img.manifest->config.digest,
                     img.config->n_diff_ids, img.manifest->n_layers);
  if (ret == 0)
    ret = image_store_put_blob(s, raw, raw_len, NULL, NULL, err);
  if (ret == 0) {
    img.desc.media_type = xstrdup(img.manifest->media_type);
    img.desc.digest = xstrdup(mdigest);
    img.desc.size = (int64_t)raw_len;
    say(o, "Unpacking %.12s", digest_hex(img.manifest->config.digest));
    ret = image_store_unpack(s, &img, NULL, err);
  }
  if (ret == 0)
    *stored = img.desc;
  else
    descriptor_clear(&img.desc);
  manifest_free(img.manifest);
  free(img.config_raw);
  image_config_free(img.config);
  return ret;
}

int image_store_copy_in(struct image_store *s, const struct image_store *lay,
                        const struct oci_descriptor *top, const struct image_copy_options *o,
                        struct oci_descriptor *stored, guise_error **err)
{
  char *raw = NULL;
  size_t raw_len = 0;
  if (image_store_read_blob(lay, top->digest, MANIFEST_MAX_BYTES, &raw, &raw_len, err) < 0)
    return -1;
  return copy_manifest_in(s, NULL, lay, raw, raw_len, top->media_type, top->digest, o, stored,
                          err);
}

static int pull_impl(struct image_store *s, const struct image_ref *ref,
                     const struct image_copy_options *o, char **name_out, guise_error **err)
{
  _cleanup_free_ char *name = NULL;
  char *raw = NULL;
  size_t raw_len = 0;
  _cleanup_free_ char *ctype = NULL;
  _cleanup_registry_ struct registry *reg = NULL;
  _cleanup_image_store_ struct image_store *lay = NULL;
  _cleanup_image_archive_ struct image_archive *archive = NULL;
  const struct image_store *from = NULL;
  struct oci_descriptor top = {0};

  if (ref->transport == TRANSPORT_DOCKER || ref->transport == TRANSPORT_NAME) {
    name = image_ref_name(ref);
    struct registry_options ro = {.tls_verify = o->tls_verify, .quiet = o->quiet,
                                  .progress = o->progress, .username = o->username,
                                  .password = o->password};
    if (registry_open(ref->registry, ref->repository, &ro, &reg, err) < 0)
      return -1;
    if (registry_get_manifest(reg, image_ref_registry_ref(ref), MANIFEST_MAX_BYTES, &raw,
                              &raw_len, &ctype, err) < 0)
      return -1;
    if (ref->digest != NULL) {
      char got[DIGEST_STR_MAX];
      digest_buffer(raw, raw_len, got);
      if (strcmp(got, ref->digest) != 0) {
        free(raw);
        return guise_fail(err, 0, "manifest %s: digest mismatch (got %s)", ref->digest, got);
      }
    }
  } else if (ref->transport == TRANSPORT_OCI) {
    name = image_layout_import_name(ref->path, ref->path_ref);
    if (image_layout_open(ref->path, false, &lay, err) < 0 ||
        layout_find(lay, ref->path_ref, &top, err) < 0)
      return -1;
    from = lay;
  } else {
    /* oci-archive:FILE[:REF], docker-archive:FILE[:NAME|:@N] */
    if (image_archive_read(s, ref->path, ref->transport, &archive, err) < 0)
      return -1;
    const struct archive_image *img;
    if (image_archive_select(archive, ref->path_ref, &img, err) < 0)
      return -1;
    if (ref->transport == TRANSPORT_DOCKER_ARCHIVE && ref->path_ref && ref->path_ref[0] != '@')
      name = image_ref_name(ref);
    else
      name = xstrdup(img->names[0]);
    top.media_type = xstrdup(img->desc.media_type);
    top.digest = xstrdup(img->desc.digest);
    top.size = img->desc.size;
    from = archive->layout;
  }
  if (from != NULL) {
    int r = image_store_read_blob(from, top.digest, MANIFEST_MAX_BYTES, &raw, &raw_len, err);
    ctype = xstrdup(top.media_type);
    descriptor_clear(&top);
    if (r < 0)
      return -1;
  }
  struct oci_descriptor stored = {0};
  if (copy_manifest_in(s, reg, from, raw, raw_len, ctype, name, o, &stored, err) < 0)
    return -1;
  int ret = image_store_tag(s, name, &stored, err);
  descriptor_clear(&stored);
  if (ret == 0 && name_out != NULL)
    *name_out = xstrdup(name);
  return ret;
}

int image_pull(struct image_store *s, const char *ref_text, const struct image_copy_options *o,
               char **name_out, guise_error **err)
{
  _cleanup_image_ref_ struct image_ref *ref = NULL;
  if (image_ref_parse(ref_text, &ref, err) < 0)
    return guise_error_prefix(err, "pull");
  if (pull_impl(s, ref, o, name_out, err) < 0)
    return guise_error_prefix(err, "pull %s", ref_text);
  return 0;
}

/* A repository of the same registry whose stored image has the blob (cross-repo mount). */
static char *mount_source(const struct image_store *s, const char *registry, const char *repo,
                          const char *digest)
{
  struct image_store_entry *e = NULL;
  size_t n = 0;
  _cleanup_error_ guise_error *err = NULL;
  if (image_store_list(s, &e, &n, &err) < 0)
    return NULL;
  char *found = NULL;
  for (size_t i = 0; i < n && found == NULL; i++) {
    if (e[i].name == NULL)
      continue;
    struct image_ref r = {0};
    if (image_ref_parse_name(e[i].name, &r, &err) < 0) {
      guise_error_release(&err);
      continue;
    }
    if (strcmp(r.registry, registry) == 0 && strcmp(r.repository, repo) != 0) {
      _cleanup_manifest_ struct image_manifest *m = NULL;
      if (load_manifest(s, &e[i].desc, NULL, NULL, NULL, NULL, &m, &err) == 0) {
        for (size_t k = 0; k < m->n_layers && found == NULL; k++)
          if (strcmp(m->layers[k].digest, digest) == 0)
            found = xstrdup(r.repository);
        if (found == NULL && strcmp(m->config.digest, digest) == 0)
          found = xstrdup(r.repository);
      }
      guise_error_release(&err);
    }
    free(r.registry);
    free(r.repository);
    free(r.tag);
    free(r.digest);
  }
  image_store_entries_free(e, n);
  return found;
}

static int push_blob_to_registry(struct image_store *s, struct registry *reg,
                                 const struct image_ref *dest, const struct oci_descriptor *d,
                                 const struct image_copy_options *o, guise_error **err)
{
  int have = registry_blob_exists(reg, d->digest, err);
  if (have < 0)
    return -1;
  if (have) {
    say(o, "Copying blob %.12s skipped: already exists", digest_hex(d->digest));
    return 0;
  }
  _cleanup_free_ char *path = image_store_blob_path(s, d->digest);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return guise_fail_errno(err, "blob %s: open %s", d->digest, path);
  _cleanup_free_ char *from = mount_source(s, dest->registry, dest->repository, d->digest);
  bool mounted = false;
  if (registry_push_blob(reg, d->digest, d->size, fd, from, &mounted, err) < 0)
    return -1;
  if (mounted)
    say(o, "Copying blob %.12s mounted from %s", digest_hex(d->digest), from);
  else
    say(o, "Copying blob %.12s done", digest_hex(d->digest));
  return 0;
}

static int push_impl(struct image_store *s, const struct stored_image *img,
                     const struct image_ref *dest, const struct image_copy_options *o,
                     guise_error **err)
{
  const struct image_manifest *m = img->manifest;
  if (dest->transport == TRANSPORT_DOCKER || dest->transport == TRANSPORT_NAME) {
    struct registry_options ro = {.tls_verify = o->tls_verify, .quiet = o->quiet,
                                  .progress = o->progress, .username = o->username,
                                  .password = o->password};
    _cleanup_registry_ struct registry *reg = NULL;
    if (registry_open(dest->registry, dest->repository, &ro, &reg, err) < 0)
      return -1;
    for (size_t i = 0; i < m->n_layers; i++)
      if (push_blob_to_registry(s, reg, dest, &m->layers[i], o, err) < 0)
        return -1;
    if (push_blob_to_registry(s, reg, dest, &m->config, o, err) < 0)
      return -1;
    say(o, "Writing manifest %s", img->desc.digest);
    return registry_put_manifest(reg, image_ref_registry_ref(dest), m->media_type,
                                 img->manifest_raw, img->manifest_len, err);
  }
  if (dest->transport == TRANSPORT_OCI) {
    _cleanup_image_store_ struct image_store *lay = NULL;
    if (image_layout_open(dest->path, true, &lay, err) < 0)
      return -1;
    for (size_t i = 0; i < m->n_layers; i++)
      if (copy_blob(s, lay, &m->layers[i], err) < 0)
        return -1;
    if (copy_blob(s, lay, &m->config, err) < 0)
      return -1;
    if (image_store_put_blob(lay, img->manifest_raw, img->manifest_len, img->desc.digest, NULL,
                             err) < 0)
      return -1;
    return image_store_tag(lay, dest->path_ref ? dest->path_ref : "latest", &img->desc, err);
  }
  /* oci-archive:FILE[:REF], docker-archive:FILE[:NAME]; named after the image by default. */
  char *names[] = {dest->path_ref ? dest->path_ref : img->name, NULL};
  struct archive_item item = {.img = img, .names = names};
  return image_archive_write(s, dest->transport, &item, 1, dest->path, err);
}

int image_push(struct image_store *s, const char *name, const char *dest_text,
               const struct image_copy_options *o, guise_error **err)
{
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (image_store_load(s, name, &img, err) < 0)
    return guise_error_prefix(err, "push");
  _cleanup_free_ char *dflt = NULL;
  if (dest_text == NULL)
    dest_text = dflt = xasprintf("docker://%s", img->name);
  _cleanup_image_ref_ struct image_ref *dest = NULL;
  if (image_ref_parse(dest_text, &dest, err) < 0)
    return guise_error_prefix(err, "push %s", name);
  if (push_impl(s, img, dest, o, err) < 0)
    return guise_error_prefix(err, "push %s to %s", img->name, dest_text);
  return 0;
}

int image_pull_policy_parse(const char *text, enum image_pull_policy *out)
{
  if (text == NULL || strcmp(text, "always") == 0 || strcmp(text, "true") == 0)
    *out = IMAGE_PULL_ALWAYS;
  else if (strcmp(text, "missing") == 0)
    *out = IMAGE_PULL_MISSING;
  else if (strcmp(text, "never") == 0 || strcmp(text, "false") == 0)
    *out = IMAGE_PULL_NEVER;
  else
    return -1;
  return 0;
}

int image_store_get(struct image_store *s, const char *text, enum image_pull_policy policy,
                    const struct image_copy_options *opts, struct stored_image **img,
                    guise_error **err)
{
  _cleanup_error_ guise_error *lerr = NULL;
  if (policy != IMAGE_PULL_ALWAYS && image_store_load(s, text, img, &lerr) == 0)
    return 0;
  if (lerr != NULL && lerr->errnum != ENOENT) {
    *err = steal_ptr(&lerr);
    return -1;
  }
  if (policy == IMAGE_PULL_NEVER)
    return guise_fail(err, ENOENT, "image %s is not in the store (and --pull=never)", text);
  _cleanup_free_ char *stored = NULL;
  say(opts, "Pulling %s", text);
  if (image_pull(s, text, opts, &stored, err) < 0)
    return guise_error_prefix(err, "image %s is not in the store and pulling it failed", text);
  return image_store_load(s, stored, img, err);
}
