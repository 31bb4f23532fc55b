/* Reading image archives into the store (a tar's entries become blobs of a temp layout, its
 * names a table in memory), oci-archive reading and writing, and rootfs tarball import.  The
 * docker-archive specifics are in image/docker_archive.c. */
#include "image/archive_internal.h"

#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

#define READ_BLOCK (1 << 16)

static char *xstrdup(const char *s)
{
  char *r = s ? strdup(s) : NULL;
  if (s != NULL && r == NULL) abort();
  return r;
}

/* --- reading --- */

static uint64_t archive_max_bytes(void)
{
  const char *env = getenv("GUISE_ARCHIVE_MAX_BYTES");
  if (env != NULL && *env != '\0') {
    char *end;
    unsigned long long v = strtoull(env, &end, 10);
    if (*end == '\0' && v > 0) return v;
  }
  return ARCHIVE_DEFAULT_MAX_BYTES;
}

/* name resolved lexically against dir ("" for the top); NULL when it climbs above the top. */
static char *normalize_name(const char *dir, const char *name)
{
  size_t cap = strlen(dir) + strlen(name) + 2;
  char *joined = malloc(cap), *out = calloc(1, cap);
  if (joined == NULL || out == NULL) abort();
  snprintf(joined, cap, "%s/%s", name[0] == '/' ? "" : dir, name);
  size_t len = 0;
  char *save = NULL;
  for (char *c = strtok_r(joined, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) {
      if (len == 0) {
        free(joined);
        free(out);
        return NULL;
      }
      while (len > 0 && out[--len] != '/')
        ;
      out[len] = '\0';
      continue;
    }
    len += (size_t)sprintf(out + len, "%s%s", len ? "/" : "", c);
  }
  free(joined);
  return out;
}

static void members_free(struct tar_members *m)
{
  for (size_t i = 0; i < m->n; i++) {
    free(m->v[i].name);
    free(m->v[i].target);
  }
  free(m->v);
  free(m->slots);
}

/* FNV-1a */
static size_t name_hash(const char *s)
{
  uint64_t h = 14695981039346656037ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (size_t)h;
}

/* The slot holding name, or the empty slot where it would go. */
static size_t *members_slot(const struct tar_members *m, const char *name)
{
  size_t mask = m->n_slots - 1;
  for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask)
    if (m->slots[i] == 0 || strcmp(m->v[m->slots[i] - 1].name, name) == 0) return &m->slots[i];
}

static void members_grow_index(struct tar_members *m)
{
  size_t *old = m->slots, n_old = m->n_slots;
  m->n_slots = n_old ? n_old * 2 : 64;
  m->slots = calloc(m->n_slots, sizeof(*m->slots));
  if (m->slots == NULL) abort();
  for (size_t i = 0; i < n_old; i++)
    if (old[i] != 0) *members_slot(m, m->v[old[i] - 1].name) = old[i];
  free(old);
}

static struct tar_member *members_add(struct tar_members *m, char *name)
{
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 16;
    m->v = realloc(m->v, m->cap * sizeof(*m->v));
    if (m->v == NULL) abort();
  }
  if (2 * (m->n + 1) > m->n_slots) members_grow_index(m);
  struct tar_member *t = &m->v[m->n++];
  memset(t, 0, sizeof(*t));
  t->name = name;
  *members_slot(m, name) = m->n;
  return t;
}

static const struct tar_member *members_get(const struct tar_members *m, const char *name)
{
  if (m->n_slots == 0) return NULL;
  size_t slot = *members_slot(m, name);
  return slot ? &m->v[slot - 1] : NULL;
}

int tar_member_find(const struct image_archive *a, const struct tar_members *m, const char *name,
                    const struct tar_member **out, guise_error **err)
{
  _cleanup_free_ char *want = normalize_name("", name);
  if (want == NULL || name[0] == '/')
    return guise_fail(err, 0, "%s: \"%s\" points outside the archive", a->path, name);
  for (int hops = 0; hops < 16; hops++) {
    const struct tar_member *t = members_get(m, want);
    if (t == NULL)
      return guise_fail(err, ENOENT, "%s: %s%s%s is not in the archive", a->path, name,
                        hops ? ", through links, " : "", hops ? want : "");
    if (t->target == NULL) {
      *out = t;
      return 0;
    }
    free(want);
    want = xstrdup(t->target);
  }
  return guise_fail(err, ELOOP, "%s: %s", a->path, name);
}

int tar_member_read(const struct image_archive *a, const struct tar_members *m, const char *name,
                    char **data, size_t *len, guise_error **err)
{
  const struct tar_member *t;
  if (tar_member_find(a, m, name, &t, err) < 0) return -1;
  if (image_store_read_blob(a->layout, t->digest, MANIFEST_MAX_BYTES, data, len, err) < 0)
    return guise_error_prefix(err, "%s: %s", a->path, name);
  return 0;
}

/* The content of the current entry, as a blob of the temp layout. */
static int store_entry(struct image_archive *a, struct archive *r, struct tar_member *t,
                       uint64_t *total, uint64_t limit, guise_error **err)
{
  _cleanup_free_ char *tmp = NULL;
  _cleanup_close_ int fd = -1;
  if (image_store_blob_tmp(a->layout, &tmp, &fd, err) < 0) return -1;
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  char buf[READ_BLOCK];
  for (;;) {
    la_ssize_t n = archive_read_data(r, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      unlink(tmp);
      return guise_fail(err, 0, "%s: entry \"%s\": %s", a->path, t->name, archive_error_string(r));
    }
    *total += (uint64_t)n;
    if (*total > limit) {
      unlink(tmp);
      return guise_fail(err, EFBIG, "%s: entry \"%s\": the archive holds more than %llu bytes",
                        a->path, t->name, (unsigned long long)limit);
    }
    digest_update(d, buf, (size_t)n);
    if (write_all(fd, buf, (size_t)n) < 0) {
      int e = errno;
      unlink(tmp);
      return guise_fail(err, e, "%s: writing entry \"%s\" to %s failed", a->path, t->name, tmp);
    }
  }
  if (fsync(fd) < 0) {
    int e = errno;
    unlink(tmp);
    return guise_fail(err, e, "%s: writing entry \"%s\" to %s failed", a->path, t->name, tmp);
  }
  digest_peek(d, t->digest);
  t->size = (int64_t)digest_bytes(d);
  return image_store_blob_commit(a->layout, tmp, t->digest, t->size, true, err);
}

static int read_entry(struct image_archive *a, struct archive *r, struct archive_entry *e,
                      struct tar_members *m, uint64_t *total, uint64_t limit, guise_error **err)
{
  const char *raw = archive_entry_pathname(e);
  if (raw == NULL || *raw == '\0')
    return guise_fail(err, 0, "%s: an entry without a name", a->path);
  if (raw[0] == '/') return guise_fail(err, 0, "%s: entry \"%s\": absolute path", a->path, raw);
  char *name = normalize_name("", raw);
  if (name == NULL)
    return guise_fail(err, 0, "%s: entry \"%s\": path leaves the archive", a->path, raw);
  mode_t type = archive_entry_filetype(e);
  const char *hardlink = archive_entry_hardlink(e);
  if (type == AE_IFDIR && hardlink == NULL) {
    free(name);
    return 0;
  }
  if (*name == '\0' || members_get(m, name) != NULL) {
    guise_fail(err, 0, "%s: entry \"%s\": %s", a->path, raw,
               *name ? "appears twice" : "names the top directory");
    free(name);
    return -1;
  }
  if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > limit - *total) {
    free(name);
    return guise_fail(err, EFBIG,
                      "%s: entry \"%s\" (%lld bytes): the archive holds more than %llu bytes",
                      a->path, raw, (long long)archive_entry_size(e), (unsigned long long)limit);
  }
  struct tar_member *t = members_add(m, name);
  if (hardlink != NULL || type == AE_IFLNK) {
    const char *target = hardlink ? hardlink : archive_entry_symlink(e);
    _cleanup_free_ char *dir = xstrdup(name);
    char *slash = strrchr(dir, '/');
    *(slash ? slash : dir) = '\0';
    t->target = target ? normalize_name(hardlink ? "" : dir, target) : NULL;
    if (t->target == NULL)
      return guise_fail(err, 0, "%s: entry \"%s\": link to \"%s\" leaves the archive", a->path, raw,
                        target ? target : "");
    return 0;
  }
  if (type != AE_IFREG)
    return guise_fail(err, 0, "%s: entry \"%s\": not a file, directory or link", a->path, raw);
  return store_entry(a, r, t, total, limit, err);
}

static int read_members(struct image_archive *a, struct tar_members *m, guise_error **err)
{
  bool is_stdin = strcmp(a->path, "-") == 0;
  _cleanup_close_ int fd = is_stdin ? dup(0) : open(a->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return guise_fail_errno(err, "opening %s failed", is_stdin ? "stdin" : a->path);
  struct archive *r = archive_read_new();
  archive_read_support_filter_all(r);
  archive_read_support_format_tar(r);
  int ret = 0;
  if (archive_read_open_fd(r, fd, READ_BLOCK) != ARCHIVE_OK) {
    ret = guise_fail(err, 0, "%s: not a tar archive: %s", a->path, archive_error_string(r));
    goto out;
  }
  uint64_t total = 0, limit = archive_max_bytes();
  for (size_t count = 0;; count++) {
    struct archive_entry *e;
    int h = archive_read_next_header(r, &e);
    if (h == ARCHIVE_EOF) break;
    if (h < ARCHIVE_WARN) {
      ret = guise_fail(err, 0, "%s: %s%s", a->path, count == 0 ? "not a tar archive: " : "",
                       archive_error_string(r));
      break;
    }
    if (count >= ARCHIVE_MAX_ENTRIES) {
      ret = guise_fail(err, 0, "%s: more than %d entries", a->path, ARCHIVE_MAX_ENTRIES);
      break;
    }
    if ((ret = read_entry(a, r, e, m, &total, limit, err)) < 0) break;
  }
out:
  archive_read_free(r);
  return ret;
}

struct archive_image *image_archive_add(struct image_archive *a)
{
  a->images = realloc(a->images, (a->n_images + 1) * sizeof(*a->images));
  if (a->images == NULL) abort();
  struct archive_image *img = &a->images[a->n_images++];
  memset(img, 0, sizeof(*img));
  return img;
}

/* What images of the archive are named after ("localhost/<base name>:TAG"). */
static const char *naming_path(const struct image_archive *a)
{
  return strcmp(a->path, "-") == 0 ? "loaded" : a->path;
}

static int oci_archive_parse(struct image_archive *a, const struct tar_members *m,
                             guise_error **err)
{
  /* Blobs must be what their names say. */
  for (size_t i = 0; i < m->n; i++) {
    const char *n = m->v[i].name;
    if (strncmp(n, "blobs/sha256/", 13) != 0) continue;
    const struct tar_member *t;
    if (tar_member_find(a, m, n, &t, err) < 0) return -1;
    if (strcmp(n + 13, digest_hex(t->digest)) != 0)
      return guise_fail(err, 0, "%s: %s: digest mismatch (the content is %s)", a->path, n,
                        t->digest);
  }
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (tar_member_read(a, m, "index.json", &data, &len, err) < 0) return -1;
  _cleanup_free_ char *what = NULL;
  if (asprintf(&what, "%s: index.json", a->path) < 0) abort();
  _cleanup_json_ json_t *j = json_parse_named(what, data, len, err);
  if (j == NULL) return -1;
  json_t *ms = json_object_get(j, "manifests");
  if (!json_is_array(ms)) return guise_fail(err, 0, "%s: no manifests array", what);
  if (json_array_size(ms) == 0) return guise_fail(err, 0, "%s: no images", what);
  size_t i;
  json_t *d;
  json_array_foreach(ms, i, d)
  {
    const char *mt = json_string_value(json_object_get(d, "mediaType"));
    const char *dg = json_string_value(json_object_get(d, "digest"));
    json_t *sz = json_object_get(d, "size");
    if (!digest_valid(dg) || !json_is_integer(sz) || json_integer_value(sz) < 0)
      return guise_fail(err, 0, "%s: manifest %zu: malformed descriptor", what, i);
    _cleanup_free_ char *blob = NULL;
    if (asprintf(&blob, "blobs/sha256/%s", digest_hex(dg)) < 0) abort();
    const struct tar_member *t;
    if (tar_member_find(a, m, blob, &t, err) < 0) return guise_error_prefix(err, "%s", what);
    const char *ref =
        json_string_value(json_object_get(json_object_get(d, "annotations"), ANNOTATION_REF_NAME));
    struct archive_image *img = image_archive_add(a);
    img->desc.media_type = xstrdup(mt ? mt : MT_OCI_MANIFEST);
    img->desc.digest = xstrdup(dg);
    img->desc.size = json_integer_value(sz);
    img->ref = xstrdup(ref);
    if (ref != NULL) {
      _cleanup_free_ char *name = image_layout_import_name(naming_path(a), ref);
      strv_append(&img->names, name);
    }
  }
  return 0;
}

void image_archive_free(struct image_archive *a)
{
  if (a == NULL) return;
  if (a->layout != NULL) {
    image_store_remove_tmpdir(a->layout->root);
    image_store_close(a->layout);
  }
  for (size_t i = 0; i < a->n_images; i++) {
    descriptor_clear(&a->images[i].desc);
    strv_free(a->images[i].names);
    free(a->images[i].ref);
  }
  free(a->images);
  free(a->path);
  free(a);
}

int image_archive_read(struct image_store *s, const char *path, enum image_transport want,
                       struct image_archive **out, guise_error **err)
{
  struct image_archive *a = calloc(1, sizeof(*a));
  if (a == NULL) abort();
  _cleanup_image_archive_ struct image_archive *owned = a;
  a->path = xstrdup(path);
  _cleanup_free_ char *dir = NULL;
  if (image_store_tmpdir(s, "archive", &dir, err) < 0 ||
      image_layout_open(dir, true, &a->layout, err) < 0)
    return -1;
  struct tar_members m = {0};
  int r = read_members(a, &m, err);
  if (r == 0) {
    bool docker = members_get(&m, "manifest.json") != NULL;
    bool oci = members_get(&m, "index.json") != NULL;
    if (want == TRANSPORT_NAME) want = docker ? TRANSPORT_DOCKER_ARCHIVE : TRANSPORT_OCI_ARCHIVE;
    a->format = want;
    if (want == TRANSPORT_DOCKER_ARCHIVE && !docker)
      r = guise_fail(err, 0, "%s: no manifest.json: not a docker-archive%s", path,
                     oci ? " (it is an oci-archive)" : "");
    else if (want == TRANSPORT_OCI_ARCHIVE && !oci)
      r = guise_fail(err, 0, "%s: no index.json: not an oci-archive%s", path,
                     docker ? " (it is a docker-archive)"
                            : " (nor a docker-archive: no manifest.json)");
    else if (want == TRANSPORT_DOCKER_ARCHIVE)
      r = docker_archive_parse(a, &m, err);
    else
      r = oci_archive_parse(a, &m, err);
  }
  members_free(&m);
  if (r < 0) return -1;
  /* An image without a name is named after the file. */
  for (size_t i = 0; i < a->n_images; i++) {
    if (a->images[i].names != NULL) continue;
    _cleanup_free_ char *name = image_layout_import_name(naming_path(a), NULL);
    strv_append(&a->images[i].names, name);
  }
  *out = steal_ptr(&owned);
  return 0;
}

int image_archive_select(const struct image_archive *a, const char *ref,
                         const struct archive_image **out, guise_error **err)
{
  if (ref == NULL) {
    if (a->n_images != 1)
      return guise_fail(err, 0, "%s: %zu images; say which (%s:%s:NAME or :@N)", a->path,
                        a->n_images, image_transport_name(a->format), a->path);
    *out = &a->images[0];
    return 0;
  }
  if (ref[0] == '@') {
    char *end;
    unsigned long n = strtoul(ref + 1, &end, 10);
    if (ref[1] == '\0' || *end != '\0' || n >= a->n_images)
      return guise_fail(err, 0, "%s: no image %s (it has %zu)", a->path, ref, a->n_images);
    *out = &a->images[n];
    return 0;
  }
  _cleanup_free_ char *norm = NULL;
  if (a->format == TRANSPORT_DOCKER_ARCHIVE && archive_normalize_name(ref, &norm, err) < 0)
    return -1;
  for (size_t i = 0; i < a->n_images; i++) {
    const struct archive_image *img = &a->images[i];
    if (a->format == TRANSPORT_OCI_ARCHIVE) {
      if (img->ref != NULL && strcmp(img->ref, ref) == 0) *out = img;
    } else {
      for (size_t k = 0; img->names != NULL && img->names[k] != NULL; k++)
        if (strcmp(img->names[k], norm) == 0) *out = img;
    }
    if (*out == img) return 0;
  }
  return guise_fail(err, ENOENT, "%s: no image named %s", a->path, ref);
}

int archive_normalize_name(const char *text, char **out, guise_error **err)
{
  struct image_ref r = {0};
  if (image_ref_parse_name(text, &r, err) < 0) return -1;
  *out = image_ref_name(&r);
  free(r.registry);
  free(r.repository);
  free(r.tag);
  free(r.digest);
  return 0;
}

/* --- writing --- */

int archive_add_bytes(struct archive *w, const char *name, const void *data, size_t len,
                      const char *path, guise_error **err)
{
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, (la_int64_t)len);
  int r = archive_write_header(w, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK || (len > 0 && archive_write_data(w, data, len) != (la_ssize_t)len))
    return guise_fail(err, 0, "writing %s into %s failed: %s", name, path, archive_error_string(w));
  return 0;
}

int archive_add_fd(struct archive *w, const char *name, int fd, int64_t size, const char *path,
                   guise_error **err)
{
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, size);
  int r = archive_write_header(w, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return guise_fail(err, 0, "writing %s into %s failed: %s", name, path, archive_error_string(w));
  char buf[READ_BLOCK];
  int64_t done = 0;
  ssize_t n;
  while (done < size && (n = read(fd, buf, sizeof(buf))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return guise_fail_errno(err, "reading %s for %s failed", name, path);
    if (archive_write_data(w, buf, (size_t)n) != n)
      return guise_fail(err, 0, "writing %s into %s failed: %s", name, path,
                        archive_error_string(w));
    done += n;
  }
  if (done != size)
    return guise_fail(err, 0, "writing %s into %s failed: it changed size while read", name, path);
  return 0;
}

static int add_blob(struct archive *w, const struct image_store *s, const char *digest,
                    char ***added, const char *path, guise_error **err)
{
  for (size_t i = 0; *added != NULL && (*added)[i] != NULL; i++)
    if (strcmp((*added)[i], digest) == 0) return 0;
  strv_append(added, digest);
  _cleanup_free_ char *blob = image_store_blob_path(s, digest);
  _cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) return guise_fail_errno(err, "blob %s: open %s", digest, blob);
  char name[DIGEST_STR_MAX + 16];
  snprintf(name, sizeof(name), "blobs/sha256/%s", digest_hex(digest));
  return archive_add_fd(w, name, fd, st.st_size, path, err);
}

static int oci_archive_add(struct archive *w, const struct image_store *s,
                           const struct archive_item *items, size_t n, const char *path,
                           guise_error **err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  if (archive_add_bytes(w, "oci-layout", layout, strlen(layout), path, err) < 0) return -1;
  /* Directory entries first: skopeo, unprivileged, cannot read an archive whose directories
   * it has to make up (it chowns those to root). */
  static const char *const dirs[] = {"blobs/", "blobs/sha256/"};
  for (size_t i = 0; i < 2; i++) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, dirs[i]);
    archive_entry_set_filetype(e, AE_IFDIR);
    archive_entry_set_perm(e, 0755);
    int r = archive_write_header(w, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
      return guise_fail(err, 0, "writing %s into %s failed: %s", dirs[i], path,
                        archive_error_string(w));
  }
  _cleanup_strv_ char **added = NULL;
  _cleanup_json_ json_t *index =
      json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX, "manifests");
  json_t *ms = json_object_get(index, "manifests");
  for (size_t i = 0; i < n; i++) {
    const struct stored_image *img = items[i].img;
    const struct image_manifest *m = img->manifest;
    for (size_t k = 0; k < m->n_layers; k++)
      if (add_blob(w, s, m->layers[k].digest, &added, path, err) < 0) return -1;
    if (add_blob(w, s, m->config.digest, &added, path, err) < 0 ||
        add_blob(w, s, img->desc.digest, &added, path, err) < 0)
      return -1;
    for (size_t k = 0; k == 0 || (items[i].names != NULL && items[i].names[k] != NULL); k++) {
      const char *name = items[i].names ? items[i].names[k] : NULL;
      json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", m->media_type, "digest", img->desc.digest,
                            "size", (json_int_t)img->desc.size);
      if (name != NULL)
        json_object_set_new(d, "annotations", json_pack("{s:s}", ANNOTATION_REF_NAME, name));
      json_array_append_new(ms, d);
      if (name == NULL) break;
    }
  }
  _cleanup_free_ char *text = json_dumps(index, JSON_COMPACT);
  return archive_add_bytes(w, "index.json", text, strlen(text), path, err);
}

int image_archive_write(const struct image_store *s, enum image_transport format,
                        const struct archive_item *items, size_t n, const char *path,
                        guise_error **err)
{
  bool to_stdout = strcmp(path, "-") == 0;
  _cleanup_free_ char *tmp = NULL;
  if (!to_stdout && asprintf(&tmp, "%s.tmp-%d", path, (int)getpid()) < 0) abort();
  const char *shown = to_stdout ? "stdout" : path;
  struct archive *w = archive_write_new();
  int r = -1;
  if (archive_write_set_format_pax_restricted(w) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(w, 1) != ARCHIVE_OK ||
      (to_stdout ? archive_write_open_fd(w, 1) : archive_write_open_filename(w, tmp)) !=
          ARCHIVE_OK) {
    guise_fail(err, 0, "creating %s failed: %s", to_stdout ? "stdout" : tmp,
               archive_error_string(w));
    goto out;
  }
  r = format == TRANSPORT_DOCKER_ARCHIVE ? docker_archive_add(w, s, items, n, shown, err)
                                         : oci_archive_add(w, s, items, n, shown, err);
  if (r == 0 && archive_write_close(w) != ARCHIVE_OK)
    r = guise_fail(err, 0, "finishing %s failed: %s", shown, archive_error_string(w));
  if (r == 0 && !to_stdout && rename(tmp, path) < 0)
    r = guise_fail_errno(err, "renaming %s to %s failed", tmp, path);
out:
  archive_write_free(w);
  if (r < 0 && !to_stdout) unlink(tmp);
  return r;
}

/* --- layers --- */

static int open_raw(struct archive **out, int fd, const char *what, guise_error **err)
{
  struct archive *a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  archive_read_support_format_empty(a);
  struct archive_entry *e;
  int r = archive_read_open_fd(a, fd, READ_BLOCK);
  if (r == ARCHIVE_OK) r = archive_read_next_header(a, &e);
  if (r == ARCHIVE_EOF) {
    archive_read_free(a);
    return guise_fail(err, 0, "%s is empty", what);
  }
  if (r != ARCHIVE_OK) {
    guise_fail(err, 0, "reading %s failed: %s", what, archive_error_string(a));
    archive_read_free(a);
    return -1;
  }
  *out = a;
  return 0;
}

/* Decompress what a reads, digesting it, into out_fd (when >= 0). */
static int decompress(struct archive *a, int out_fd, const char *what, char digest[DIGEST_STR_MAX],
                      uint64_t *size, guise_error **err)
{
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  char buf[READ_BLOCK];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0)
      return guise_fail(err, 0, "decompressing %s failed: %s", what, archive_error_string(a));
    digest_update(d, buf, (size_t)n);
    if (out_fd >= 0 && write_all(out_fd, buf, (size_t)n) < 0)
      return guise_fail_errno(err, "writing %s decompressed failed", what);
  }
  digest_peek(d, digest);
  if (size != NULL) *size = digest_bytes(d);
  return 0;
}

int layer_blob_diff_id(const char *blob, int out_fd, char diff_id[DIGEST_STR_MAX], uint64_t *size,
                       guise_error **err)
{
  _cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return guise_fail_errno(err, "opening the layer %s failed", blob);
  struct archive *a;
  if (open_raw(&a, fd, blob, err) < 0) return -1;
  int r = decompress(a, out_fd, blob, diff_id, size, err);
  archive_read_free(a);
  return r;
}

/* --- import --- */

static char *now_rfc3339(void)
{
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  time_t t = sde && *sde ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return xstrdup(buf);
}

/* The input decompressed into a blob of s; its digest is the layer's digest and diff id. */
static int import_layer(struct image_store *s, const char *path, char digest[DIGEST_STR_MAX],
                        uint64_t *size, guise_error **err)
{
  bool is_stdin = strcmp(path, "-") == 0;
  _cleanup_close_ int in = is_stdin ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0) return guise_fail_errno(err, "opening %s failed", is_stdin ? "stdin" : path);
  struct archive *a;
  if (open_raw(&a, in, is_stdin ? "stdin" : path, err) < 0) return -1;
  _cleanup_free_ char *tmp = NULL;
  _cleanup_close_ int fd = -1;
  int r = image_store_blob_tmp(s, &tmp, &fd, err);
  if (r == 0) r = decompress(a, fd, is_stdin ? "stdin" : path, digest, size, err);
  archive_read_free(a);
  if (r == 0 && fsync(fd) < 0) r = guise_fail_errno(err, "writing %s failed", tmp);
  if (r < 0) {
    if (tmp != NULL) unlink(tmp);
    return -1;
  }
  return image_store_blob_commit(s, tmp, digest, (int64_t)*size, true, err);
}

int image_import(struct image_store *s, const char *path, const struct image_import_options *o,
                 char **name_out, char image_id[72], guise_error **err)
{
  char layer[DIGEST_STR_MAX];
  uint64_t size = 0;
  if (import_layer(s, path, layer, &size, err) < 0) return -1;
  _cleanup_free_ char *created = now_rfc3339();
  char os[32] = "linux", arch[32] = "amd64", variant[32] = "";
  sscanf(image_default_platform(), "%31[^/]/%31[^/]/%31s", os, arch, variant);
  _cleanup_free_ char *created_by = NULL, *comment = NULL;
  if (asprintf(&created_by, "/bin/sh -c #(nop) ADD file:%s in /", digest_hex(layer)) < 0 ||
      asprintf(&comment, "Imported from %s", o->source ? o->source : path) < 0)
    abort();
  _cleanup_json_ json_t *config = json_pack(
      "{s:s,s:s,s:s,s:o,s:{s:s,s:[s]},s:[{s:s,s:s,s:s}]}", "created", created, "architecture", arch,
      "os", os, "config", o->config ? json_incref(o->config) : json_object(), "rootfs", "type",
      "layers", "diff_ids", layer, "history", "created", created, "created_by", created_by,
      "comment", o->message ? o->message : comment);
  if (config == NULL) abort();
  if (*variant) json_object_set_new(config, "variant", json_string(variant));
  _cleanup_free_ char *config_text = json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS);
  char config_digest[DIGEST_STR_MAX], manifest_digest[DIGEST_STR_MAX];
  if (image_store_put_blob(s, config_text, strlen(config_text), NULL, config_digest, err) < 0)
    return -1;
  _cleanup_json_ json_t *manifest =
      json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[{s:s,s:s,s:I}]}", "schemaVersion", 2, "mediaType",
                MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest", config_digest,
                "size", (json_int_t)strlen(config_text), "layers", "mediaType", MT_OCI_LAYER,
                "digest", layer, "size", (json_int_t)size);
  _cleanup_free_ char *manifest_text = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
  if (image_store_put_blob(s, manifest_text, strlen(manifest_text), NULL, manifest_digest, err) < 0)
    return -1;
  _cleanup_free_ char *name = NULL;
  if (o->name != NULL)
    name = xstrdup(o->name);
  else if (asprintf(&name, "localhost/import-%.12s:latest", digest_hex(config_digest)) < 0)
    abort();
  struct oci_descriptor desc = {.media_type = MT_OCI_MANIFEST,
                                .digest = manifest_digest,
                                .size = (int64_t)strlen(manifest_text)};
  /* Unpacked before it is named: a tarball the unpacker refuses leaves no image. */
  struct oci_descriptor stored = {0};
  if (image_store_copy_in(s, s, &desc, NULL, &stored, err) < 0) return -1;
  int r = image_store_tag(s, name, &stored, err);
  descriptor_clear(&stored);
  if (r < 0) return -1;
  snprintf(image_id, 72, "%s", config_digest);
  if (name_out != NULL) *name_out = steal_ptr(&name);
  return 0;
}
