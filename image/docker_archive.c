/* docker-archive, the `docker save` format: a tar holding manifest.json (per image its Config
 * file, RepoTags and Layers files), the configs and the layer tars — what `docker load`,
 * `podman load` and `skopeo copy docker-archive:` read and write.  guise writes the legacy
 * layout (<config hex>.json, <diff-id hex>/layer.tar, repositories); it reads any layout
 * manifest.json describes, docker 25's OCI-style blobs/sha256/ paths and symlinked layers
 * included. */
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/archive_internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"

/* --- reading --- */

/* The OCI media type of a layer file, from its first bytes. */
static int layer_media_type(const char *blob, const char **mt, guise_error **err)
{
  _cleanup_close_ int fd = open(blob, O_RDONLY | O_CLOEXEC);
  unsigned char magic[4] = {0};
  if (fd < 0 || read_all(fd, magic, sizeof(magic)) < 0)
    return guise_fail_errno(err, "reading %s failed", blob);
  if (magic[0] == 0x1f && magic[1] == 0x8b)
    *mt = MT_OCI_LAYER_GZIP;
  else if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    *mt = MT_OCI_LAYER_ZSTD;
  else
    *mt = MT_OCI_LAYER;
  return 0;
}

/* manifest.json's image i as an OCI manifest in a->layout. */
static int parse_image(struct image_archive *a, const struct tar_members *m, json_t *item, size_t i,
                       guise_error **err)
{
  const char *config_name = json_string_value(json_object_get(item, "Config"));
  json_t *layers = json_object_get(item, "Layers");
  json_t *tags = json_object_get(item, "RepoTags");
  if (config_name == NULL || !json_is_array(layers) ||
      (tags != NULL && !json_is_array(tags) && !json_is_null(tags)))
    return guise_fail(err, 0, "%s: manifest.json: image %zu: expected Config, Layers and RepoTags",
                      a->path, i);
  _cleanup_free_ char *config_raw = NULL;
  size_t config_len = 0;
  _cleanup_image_config_ struct image_config *config = NULL;
  if (tar_member_read(a, m, config_name, &config_raw, &config_len, err) < 0) return -1;
  if (image_config_parse(config_raw, config_len, &config, err) < 0)
    return guise_error_prefix(err, "%s: %s", a->path, config_name);
  if (config->n_diff_ids != json_array_size(layers))
    return guise_fail(err, 0, "%s: image %zu: %zu layers but its config %s has %zu diff_ids",
                      a->path, i, json_array_size(layers), config_name, config->n_diff_ids);
  _cleanup_json_ json_t *descs = json_array();
  for (size_t k = 0; k < json_array_size(layers); k++) {
    const char *lname = json_string_value(json_array_get(layers, k));
    const struct tar_member *t;
    if (lname == NULL)
      return guise_fail(err, 0, "%s: manifest.json: image %zu: layer %zu is not a string", a->path,
                        i, k);
    if (tar_member_find(a, m, lname, &t, err) < 0) return -1;
    _cleanup_free_ char *blob = image_store_blob_path(a->layout, t->digest);
    const char *mt = MT_OCI_LAYER;
    if (layer_media_type(blob, &mt, err) < 0) return -1;
    char diff_id[DIGEST_STR_MAX];
    snprintf(diff_id, sizeof(diff_id), "%s", t->digest);
    if (strcmp(mt, MT_OCI_LAYER) != 0 && layer_blob_diff_id(blob, -1, diff_id, NULL, err) < 0)
      return guise_error_prefix(err, "%s: %s", a->path, lname);
    if (strcmp(diff_id, config->diff_ids[k]) != 0)
      return guise_fail(err, 0,
                        "%s: layer %s: digest mismatch (its tar is %s, the config's diff_id is %s)",
                        a->path, lname, diff_id, config->diff_ids[k]);
    json_array_append_new(descs, json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", t->digest,
                                           "size", (json_int_t)t->size));
  }
  const struct tar_member *ct;
  if (tar_member_find(a, m, config_name, &ct, err) < 0) return -1;
  _cleanup_json_ json_t *manifest =
      json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:O}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST,
                "config", "mediaType", MT_OCI_CONFIG, "digest", ct->digest, "size",
                (json_int_t)ct->size, "layers", descs);
  _cleanup_free_ char *text = json_dumps(manifest, JSON_COMPACT);
  char digest[DIGEST_STR_MAX];
  if (image_store_put_blob(a->layout, text, strlen(text), NULL, digest, err) < 0) return -1;
  _cleanup_strv_ char **names = NULL;
  for (size_t k = 0; k < json_array_size(tags); k++) {
    const char *tag = json_string_value(json_array_get(tags, k));
    _cleanup_free_ char *name = NULL;
    if (tag == NULL || archive_normalize_name(tag, &name, err) < 0)
      return guise_fail(err, 0, "%s: manifest.json: image %zu: invalid RepoTags entry %s", a->path,
                        i, tag ? tag : "(not a string)");
    strv_append(&names, name);
  }
  struct archive_image *img = image_archive_add(a);
  img->desc.media_type = strdup(MT_OCI_MANIFEST);
  img->desc.digest = strdup(digest);
  img->desc.size = (json_int_t)strlen(text);
  if (img->desc.media_type == NULL || img->desc.digest == NULL) abort();
  img->names = steal_ptr(&names);
  return 0;
}

int docker_archive_parse(struct image_archive *a, const struct tar_members *m, guise_error **err)
{
  _cleanup_free_ char *data = NULL;
  size_t len = 0;
  if (tar_member_read(a, m, "manifest.json", &data, &len, err) < 0) return -1;
  json_error_t je;
  _cleanup_json_ json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
  if (j == NULL)
    return guise_fail(err, 0, "%s: manifest.json: invalid JSON at line %d: %s", a->path, je.line,
                      je.text);
  if (!json_is_array(j) || json_array_size(j) == 0)
    return guise_fail(err, 0, "%s: manifest.json: expected a non-empty array of images", a->path);
  for (size_t i = 0; i < json_array_size(j); i++)
    if (parse_image(a, m, json_array_get(j, i), i, err) < 0) return -1;
  return 0;
}

/* --- writing --- */

/* The layer decompressed into the archive as <diff-id hex>/layer.tar, checked on the way. */
static int add_layer(struct archive *w, const struct image_store *s, const char *digest,
                     const char *diff_id, const char *path, guise_error **err)
{
  _cleanup_free_ char *blob = image_store_blob_path(s, digest);
  /* Decompressed next to the blobs (the tar entry needs its size first), gone once closed. */
  _cleanup_free_ char *tmp = NULL;
  _cleanup_close_ int fd = -1;
  if (image_store_blob_tmp(s, &tmp, &fd, err) < 0) return -1;
  unlink(tmp);
  char got[DIGEST_STR_MAX];
  uint64_t size = 0;
  if (layer_blob_diff_id(blob, fd, got, &size, err) < 0) return -1;
  if (strcmp(got, diff_id) != 0)
    return guise_fail(err, 0, "the layer %s uncompresses to %s, not its diff id %s", blob, got,
                      diff_id);
  if (lseek(fd, 0, SEEK_SET) < 0)
    return guise_fail_errno(err, "reading the uncompressed layer %s failed", digest);
  char name[DIGEST_STR_MAX + 16];
  snprintf(name, sizeof(name), "%s/layer.tar", digest_hex(diff_id));
  return archive_add_fd(w, name, fd, (int64_t)size, path, err);
}

int docker_archive_add(struct archive *w, const struct image_store *s,
                       const struct archive_item *items, size_t n, const char *path,
                       guise_error **err)
{
  _cleanup_json_ json_t *manifest = json_array();
  _cleanup_json_ json_t *repositories = json_object();
  _cleanup_strv_ char **added = NULL;
  for (size_t i = 0; i < n; i++) {
    const struct stored_image *img = items[i].img;
    const struct image_manifest *m = img->manifest;
    if (m->n_layers != img->config->n_diff_ids)
      return guise_fail(err, 0, "image %s: %zu layers but %zu diff ids", img->name, m->n_layers,
                        img->config->n_diff_ids);
    char config_name[DIGEST_STR_MAX + 8];
    snprintf(config_name, sizeof(config_name), "%s.json", digest_hex(m->config.digest));
    json_t *layers = json_array();
    json_t *tags = json_array();
    json_array_append_new(manifest, json_pack("{s:s,s:o,s:o}", "Config", config_name, "RepoTags",
                                              tags, "Layers", layers));
    bool have = false;
    for (size_t k = 0; added != NULL && added[k] != NULL; k++)
      have |= strcmp(added[k], config_name) == 0;
    if (!have) {
      strv_append(&added, config_name);
      if (archive_add_bytes(w, config_name, img->config_raw, img->config_len, path, err) < 0)
        return -1;
    }
    for (size_t k = 0; k < m->n_layers; k++) {
      const char *diff_id = img->config->diff_ids[k];
      char name[DIGEST_STR_MAX + 16];
      snprintf(name, sizeof(name), "%s/layer.tar", digest_hex(diff_id));
      json_array_append_new(layers, json_string(name));
      have = false;
      for (size_t x = 0; added != NULL && added[x] != NULL; x++)
        have |= strcmp(added[x], name) == 0;
      if (have) continue;
      strv_append(&added, name);
      if (add_layer(w, s, m->layers[k].digest, diff_id, path, err) < 0) return -1;
    }
    for (size_t k = 0; items[i].names != NULL && items[i].names[k] != NULL; k++) {
      const char *tag = items[i].names[k];
      const char *colon = strrchr(tag, ':');
      if (colon == NULL || strchr(colon, '/') != NULL) continue; /* no tag: not expressible */
      json_array_append_new(tags, json_string(tag));
      _cleanup_free_ char *repo = strndup(tag, (size_t)(colon - tag));
      json_t *r = json_object_get(repositories, repo);
      if (r == NULL) json_object_set_new(repositories, repo, r = json_object());
      const char *top = m->n_layers ? digest_hex(img->config->diff_ids[m->n_layers - 1]) : "";
      json_object_set_new(r, colon + 1, json_string(top));
    }
  }
  _cleanup_free_ char *manifest_text = json_dumps(manifest, JSON_COMPACT);
  _cleanup_free_ char *repositories_text = json_dumps(repositories, JSON_COMPACT);
  if (archive_add_bytes(w, "manifest.json", manifest_text, strlen(manifest_text), path, err) < 0 ||
      archive_add_bytes(w, "repositories", repositories_text, strlen(repositories_text), path,
                        err) < 0)
    return -1;
  return 0;
}
