/* The build cache: step results and finished images by chain digest, one small JSON file each
 * under <store>/build-cache/, written to a temp file and renamed (two builds may share it);
 * the layer blobs themselves stay in the store's blobs/ like any other. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "builder/internal.h"
#include "image/manifest.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define CACHE_VERSION "guise-build-cache-1"

void cache_seed(const struct builder *b, const char *base, char out[DIGEST_STR_MAX])
{
  _cleanup_free_ char *m = NULL;
  if (asprintf(&m, "%s\nbase %s\ncompression %d\nsource-date-epoch %lld\n", CACHE_VERSION, base,
               (int)b->o->compression, (long long)b->o->source_date_epoch) < 0)
    abort();
  digest_buffer(m, strlen(m), out);
}

void cache_advance(char chain[DIGEST_STR_MAX], const char *material)
{
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  digest_update(d, chain, strlen(chain));
  digest_update(d, "\n", 1);
  digest_update(d, material, strlen(material));
  digest_peek(d, chain);
}

void cache_entry_clear(struct cache_entry *e)
{
  json_decref(e->layer);
  free(e->created);
  *e = (struct cache_entry){0};
}

static char *entry_path(const struct builder *b, const char *kind, const char *key)
{
  char *p = NULL;
  if (asprintf(&p, "%s/%s-%s.json", b->cache_dir, kind, digest_hex(key)) < 0) abort();
  return p;
}

static int write_entry(struct builder *b, const char *kind, const char *key, json_t *j,
                       guise_error **err)
{
  _cleanup_free_ char *path = entry_path(b, kind, key);
  _cleanup_free_ char *tmp = NULL;
  if (asprintf(&tmp, "%s.%d.tmp", path, (int)getpid()) < 0) abort();
  _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  if (write_file_at(AT_FDCWD, tmp, text, err) < 0) return -1;
  if (rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return guise_fail(err, e, "saving the cache entry %s failed", path);
  }
  return 0;
}

static json_t *read_entry(const struct builder *b, const char *kind, const char *key)
{
  _cleanup_free_ char *path = entry_path(b, kind, key);
  json_error_t jerr;
  return json_load_file(path, 0, &jerr);
}

static bool blob_present(const struct builder *b, json_t *desc)
{
  const char *digest = json_string_value(json_object_get(desc, "digest"));
  json_int_t size = json_integer_value(json_object_get(desc, "size"));
  return digest != NULL && digest_valid(digest) &&
         image_store_has_blob(b->store, digest, (int64_t)size) == 1;
}

int cache_lookup(struct builder *b, const char *key, struct cache_entry *e)
{
  _cleanup_json_ json_t *j = read_entry(b, "step", key);
  if (!json_is_object(j)) return 0;
  json_t *layer = json_object_get(j, "layer");
  const char *diff_id = json_string_value(json_object_get(j, "diff_id"));
  const char *created = json_string_value(json_object_get(j, "created"));
  if (created == NULL) return 0;
  if (json_is_object(layer)) {
    if (diff_id == NULL || !digest_valid(diff_id) || !blob_present(b, layer)) return 0;
    e->layer = json_incref(layer);
    snprintf(e->diff_id, sizeof(e->diff_id), "%s", diff_id);
  } else if (!json_is_null(layer)) {
    return 0;
  }
  e->created = strdup(created);
  if (e->created == NULL) abort();
  return 1;
}

int cache_store(struct builder *b, const char *key, const struct cache_entry *e, guise_error **err)
{
  _cleanup_json_ json_t *j = json_pack("{s:O?,s:s,s:s}", "layer", e->layer, "diff_id",
                                       e->layer ? e->diff_id : "", "created", e->created);
  return write_entry(b, "step", key, j, err);
}

int cache_image_lookup(struct builder *b, const char *chain, char manifest[DIGEST_STR_MAX])
{
  _cleanup_json_ json_t *j = read_entry(b, "image", chain);
  json_t *desc = json_object_get(j, "manifest");
  if (!blob_present(b, desc)) return 0;
  /* The manifest's own blobs must all be there too. */
  const char *digest = json_string_value(json_object_get(desc, "digest"));
  _cleanup_free_ char *data = NULL;
  size_t len;
  _cleanup_error_ guise_error *e = NULL;
  if (image_store_read_blob(b->store, digest, MANIFEST_MAX_BYTES, &data, &len, &e) < 0) return 0;
  _cleanup_manifest_ struct image_manifest *m = NULL;
  if (manifest_parse(data, len, &m, &e) < 0) return 0;
  if (image_store_has_blob(b->store, m->config.digest, m->config.size) != 1) return 0;
  for (size_t i = 0; i < m->n_layers; i++)
    if (image_store_has_blob(b->store, m->layers[i].digest, m->layers[i].size) != 1) return 0;
  snprintf(manifest, DIGEST_STR_MAX, "%s", digest);
  return 1;
}

int cache_image_store(struct builder *b, const char *chain, const char *manifest, guise_error **err)
{
  _cleanup_free_ char *data = NULL;
  size_t len;
  if (image_store_read_blob(b->store, manifest, MANIFEST_MAX_BYTES, &data, &len, err) < 0)
    return -1;
  _cleanup_json_ json_t *j =
      json_pack("{s:{s:s,s:I}}", "manifest", "digest", manifest, "size", (json_int_t)len);
  return write_entry(b, "image", chain, j, err);
}

int cache_mount_dir(struct builder *b, const char *id, char **dir, guise_error **err)
{
  char d[DIGEST_STR_MAX];
  digest_buffer(id, strlen(id), d);
  _cleanup_free_ char *parent = NULL;
  if (asprintf(&parent, "%s/mounts", b->cache_dir) < 0) abort();
  if (mkdir(parent, 0700) < 0 && errno != EEXIST)
    return guise_fail_errno(err, "creating %s failed", parent);
  if (asprintf(dir, "%s/%.32s", parent, digest_hex(d)) < 0) abort();
  if (mkdir(*dir, 0755) < 0 && errno != EEXIST) {
    int e = errno;
    free(*dir);
    *dir = NULL;
    return guise_fail(err, e, "creating the cache mount directory for %s failed", id);
  }
  return 0;
}
