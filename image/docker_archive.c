/* docker-archive:FILE, the `docker save` format: a tar holding manifest.json, repositories,
 * the config as <hex>.json and every layer uncompressed as <diff-id hex>/layer.tar — what
 * `docker load`, `podman load` and `skopeo copy docker-archive:` read. */
#include "image/docker_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/digest.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static int add_bytes(struct archive *a, const char *name, const void *data, size_t len,
                     const char *path, guise_error **err)
{
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, (la_int64_t)len);
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK || (len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len))
    return guise_fail(err, 0, "writing %s into %s failed: %s", name, path, archive_error_string(a));
  return 0;
}

/* The layer blob decompressed into tmp_fd, checked against its diff id. */
static int uncompress_layer(const char *blob, const char *diff_id, int tmp_fd, guise_error **err)
{
  struct archive *a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  struct archive_entry *e;
  _cleanup_digest_ struct digest_ctx *d = digest_new();
  int r = -1;
  if (archive_read_open_filename(a, blob, 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(a, &e) != ARCHIVE_OK) {
    guise_fail(err, 0, "reading the layer %s failed: %s", blob, archive_error_string(a));
    goto out;
  }
  char buf[1 << 16];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
    if (n == 0) break;
    if (n < 0) {
      guise_fail(err, 0, "decompressing the layer %s failed: %s", blob, archive_error_string(a));
      goto out;
    }
    digest_update(d, buf, (size_t)n);
    if (write_all(tmp_fd, buf, (size_t)n) < 0) {
      guise_fail_errno(err, "writing the uncompressed layer %s failed", blob);
      goto out;
    }
  }
  char got[DIGEST_STR_MAX];
  digest_peek(d, got);
  if (strcmp(got, diff_id) != 0) {
    guise_fail(err, 0, "the layer %s uncompresses to %s, not its diff id %s", blob, got, diff_id);
    goto out;
  }
  r = 0;
out:
  archive_read_free(a);
  return r;
}

static int add_layer(struct archive *a, const struct image_store *s, const char *digest,
                     const char *diff_id, const char *path, guise_error **err)
{
  _cleanup_free_ char *blob = image_store_blob_path(s, digest);
  /* Uncompressed next to the blobs (the tar entry needs its size first), gone once closed. */
  _cleanup_free_ char *tmp = NULL;
  _cleanup_close_ int fd = -1;
  if (image_store_blob_tmp(s, &tmp, &fd, err) < 0) return -1;
  unlink(tmp);
  if (uncompress_layer(blob, diff_id, fd, err) < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
    return guise_fail_errno(err, "reading the uncompressed layer %s failed", digest);
  char name[DIGEST_STR_MAX + 16];
  snprintf(name, sizeof(name), "%s/layer.tar", digest_hex(diff_id));
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, st.st_size);
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return guise_fail(err, 0, "writing %s into %s failed: %s", name, path, archive_error_string(a));
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    if (archive_write_data(a, buf, (size_t)n) != n)
      return guise_fail(err, 0, "writing %s into %s failed: %s", name, path,
                        archive_error_string(a));
  return n < 0 ? guise_fail_errno(err, "reading the uncompressed layer %s failed", digest) : 0;
}

int docker_archive_write(const struct image_store *s, const struct stored_image *img,
                         const char *repo_tag, const char *path, guise_error **err)
{
  const struct image_manifest *m = img->manifest;
  if (m->n_layers != img->config->n_diff_ids)
    return guise_fail(err, 0, "image %s: %zu layers but %zu diff ids", img->name, m->n_layers,
                      img->config->n_diff_ids);
  char config_name[DIGEST_STR_MAX + 8];
  snprintf(config_name, sizeof(config_name), "%s.json", digest_hex(m->config.digest));
  _cleanup_json_ json_t *layers = json_array();
  for (size_t i = 0; i < m->n_layers; i++) {
    char name[DIGEST_STR_MAX + 16];
    snprintf(name, sizeof(name), "%s/layer.tar", digest_hex(img->config->diff_ids[i]));
    json_array_append_new(layers, json_string(name));
  }
  _cleanup_json_ json_t *manifest =
      json_pack("[{s:s,s:[],s:O}]", "Config", config_name, "RepoTags", "Layers", layers);
  _cleanup_json_ json_t *repositories = json_object();
  if (repo_tag != NULL && strchr(repo_tag, ':') != NULL) {
    const char *colon = strrchr(repo_tag, ':');
    json_array_append_new(json_object_get(json_array_get(manifest, 0), "RepoTags"),
                          json_string(repo_tag));
    _cleanup_free_ char *repo = strndup(repo_tag, (size_t)(colon - repo_tag));
    const char *top = m->n_layers ? digest_hex(img->config->diff_ids[m->n_layers - 1]) : "";
    json_object_set_new(repositories, repo, json_pack("{s:s}", colon + 1, top));
  }
  _cleanup_free_ char *manifest_text = json_dumps(manifest, JSON_COMPACT);
  _cleanup_free_ char *repositories_text = json_dumps(repositories, JSON_COMPACT);
  struct archive *a = archive_write_new();
  int r = -1;
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_open_filename(a, path) != ARCHIVE_OK) {
    guise_fail(err, 0, "creating %s failed: %s", path, archive_error_string(a));
    goto out;
  }
  if (add_bytes(a, config_name, img->config_raw, img->config_len, path, err) < 0) goto out;
  for (size_t i = 0; i < m->n_layers; i++)
    if (add_layer(a, s, m->layers[i].digest, img->config->diff_ids[i], path, err) < 0) goto out;
  if (add_bytes(a, "manifest.json", manifest_text, strlen(manifest_text), path, err) < 0 ||
      add_bytes(a, "repositories", repositories_text, strlen(repositories_text), path, err) < 0)
    goto out;
  if (archive_write_close(a) != ARCHIVE_OK) {
    guise_fail(err, 0, "finishing %s failed: %s", path, archive_error_string(a));
    goto out;
  }
  r = 0;
out:
  archive_write_free(a);
  if (r < 0) unlink(path);
  return r;
}
