/* Containers from images: guise run IMAGE and guise commit (builder/container.h). */
#include "builder/container.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/internal.h"
#include "image/manifest.h"
#include "runtime/container.h"
#include "util/cleanup.h"
#include "util/fileio.h"

/* Entrypoint + (command or Cmd), as docker puts them together. */
static char **image_command(json_t *cfg, char *const *command)
{
  char **argv = NULL;
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(cfg, "Entrypoint"), i, v)
  {
    if (json_is_string(v)) strv_append(&argv, json_string_value(v));
  }
  if (command != NULL) {
    for (i = 0; command[i] != NULL; i++)
      strv_append(&argv, command[i]);
    return argv;
  }
  json_array_foreach(json_object_get(cfg, "Cmd"), i, v)
  {
    if (json_is_string(v)) strv_append(&argv, json_string_value(v));
  }
  return argv;
}

static int fill_spec(struct image_store *s, const struct container_run_options *o,
                     const struct container_record *rec, json_t *cfg, struct container_spec *spec,
                     guise_error **err)
{
  _cleanup_free_ char *rootfs = container_rootfs_path(s, rec);
  char real[PATH_MAX];
  if (realpath(rootfs, real) == NULL) return guise_fail_errno(err, "opening %s failed", rootfs);
  free(spec->rootfs);
  spec->rootfs = strdup(real);
  free(spec->fake_db);
  spec->fake_db = container_db_path(s, rec);
  strv_free(spec->argv);
  spec->argv = strv_copy(rec->command);
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(cfg, "Env"), i, v)
  {
    if (json_is_string(v) && strchr(json_string_value(v), '=') != NULL)
      spec_set_env(spec, json_string_value(v));
  }
  const char *cwd = json_string_value(json_object_get(cfg, "WorkingDir"));
  if (cwd != NULL && *cwd != '\0') {
    free(spec->cwd);
    spec->cwd = strdup(cwd);
  }
  const char *hostname = json_string_value(json_object_get(cfg, "Hostname"));
  if (hostname != NULL && *hostname != '\0') {
    free(spec->hostname);
    spec->hostname = strdup(hostname);
  }
  free(spec->id);
  if (asprintf(&spec->id, "%.12s", rec->id) < 0) abort();
  const char *user = o->user != NULL ? o->user : json_string_value(json_object_get(cfg, "User"));
  _cleanup_close_ int rootfd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return guise_fail_errno(err, "opening %s failed", real);
  return spec_apply_user(spec, rootfd, user, err);
}

int container_prepare(struct image_store *s, const struct container_run_options *o,
                      struct container_record **rec, struct container_spec *spec, guise_error **err)
{
  struct image_copy_options co = {
      .tls_verify = o->tls_verify, .quiet = o->progress == NULL, .progress = o->progress};
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (image_store_get(s, o->image, o->pull, &co, &img, err) < 0) return -1;
  json_t *cfg = json_object_get(img->config->json, "config");
  _cleanup_strv_ char **command = image_command(cfg, o->command);
  if (command == NULL)
    return guise_fail(err, 0, "image %s has no Entrypoint or Cmd: give a command to run", o->image);
  if (container_create(s, img, o->name, command, rec, err) < 0) return -1;
  if (fill_spec(s, o, *rec, cfg, spec, err) < 0) {
    container_remove(s, *rec, NULL);
    container_record_free(steal_ptr(rec));
    return guise_error_prefix(err, "container of %s", o->image);
  }
  return 0;
}

int container_start(struct image_store *s, struct container_record *rec,
                    const struct container_spec *spec, int *status, guise_error **err)
{
  _cleanup_close_ int rootfd = open(spec->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return guise_fail_errno(err, "opening %s failed", spec->rootfs);
  if (container_mark_running(s, rec, err) < 0) return -1;
  struct made_paths made = {0};
  made_paths_note(rootfd, spec, &made);
  *status = 125;
  int r = container_run(spec, status, err);
  made_paths_remove(rootfd, &made);
  if (r < 0) {
    container_mark_exited(s, rec, 125, NULL);
    return -1;
  }
  return container_mark_exited(s, rec, *status, err);
}

/* --- commit --- */

static char *rfc3339(int64_t source_date_epoch)
{
  time_t t = source_date_epoch >= 0 ? (time_t)source_date_epoch : time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return strdup(buf);
}

/* The container's changes as a layer in the store. */
static int commit_layer(struct image_store *s, const struct container_record *rec,
                        const struct container_commit_options *o, struct oci_descriptor *desc,
                        char diff_id[DIGEST_STR_MAX], guise_error **err)
{
  _cleanup_rootfs_snapshot_ struct rootfs_snapshot *base = NULL;
  if (container_base_snapshot(s, rec, &base, err) < 0) return -1;
  _cleanup_close_ int rootfd = -1;
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (container_open_rootfs(s, rec, &rootfd, &db, err) < 0) return -1;
  struct layer_write_options wo = {
      .compression = o->compression,
      .source_date_epoch = o->source_date_epoch,
      .host_uid = getuid(),
      .host_gid = getgid(),
  };
  return image_store_write_layer(s, rootfd, db, base, &wo, desc, diff_id, err);
}

static json_t *array_member(json_t *o, const char *key)
{
  json_t *a = json_object_get(o, key);
  if (!json_is_array(a)) {
    a = json_array();
    json_object_set_new(o, key, a);
  }
  return a;
}

int container_commit(struct image_store *s, const char *container,
                     const struct container_commit_options *o, char image_id[DIGEST_STR_MAX],
                     char **name, guise_error **err)
{
  if (name != NULL) *name = NULL;
  _cleanup_free_ char *tag = NULL;
  if (o->tag != NULL && build_tag_name(o->tag, &tag, err) < 0) return -1;
  _cleanup_container_record_ struct container_record *rec = NULL;
  if (container_find(s, container, &rec, err) < 0) return -1;
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (image_store_load_manifest(s, rec->image_digest, rec->image, &img, err) < 0)
    return guise_error_prefix(err, "the image of container %s", rec->name);
  _cleanup_json_ json_t *config = json_deep_copy(img->config->json);
  if (!json_is_object(json_object_get(config, "config")))
    json_object_set_new(config, "config", json_object());
  if (build_apply_changes(o->changes, json_object_get(config, "config"), o->source_date_epoch,
                          err) < 0)
    return -1;

  struct oci_descriptor layer = {0};
  char diff_id[DIGEST_STR_MAX];
  if (commit_layer(s, rec, o, &layer, diff_id, err) < 0)
    return guise_error_prefix(err, "committing container %s", rec->name);
  _cleanup_json_ json_t *layers = json_array();
  build_layers_of(img, layers);
  json_array_append_new(layers, json_pack("{s:s,s:s,s:I}", "mediaType", layer.media_type, "digest",
                                          layer.digest, "size", (json_int_t)layer.size));
  descriptor_clear(&layer);
  json_t *rootfs = json_object_get(config, "rootfs");
  if (!json_is_object(rootfs)) {
    rootfs = json_pack("{s:s}", "type", "layers");
    json_object_set_new(config, "rootfs", rootfs);
  }
  json_array_append_new(array_member(rootfs, "diff_ids"), json_string(diff_id));

  _cleanup_free_ char *created = rfc3339(o->source_date_epoch);
  if (created == NULL) abort();
  _cleanup_free_ char *created_by = NULL;
  if (asprintf(&created_by, "guise commit %s", rec->name) < 0) abort();
  json_t *h = json_pack("{s:s,s:s}", "created", created, "created_by", created_by);
  if (o->message != NULL) json_object_set_new(h, "comment", json_string(o->message));
  if (o->author != NULL) {
    json_object_set_new(h, "author", json_string(o->author));
    json_object_set_new(config, "author", json_string(o->author));
  }
  json_array_append_new(array_member(config, "history"), h);
  json_object_set_new(config, "created", json_string(created));

  struct oci_descriptor desc = {0};
  int r = image_store_put_image(s, config, layers, &desc, image_id, err);
  if (r == 0) r = image_store_tag(s, tag, &desc, err); /* unnamed without a tag */
  descriptor_clear(&desc);
  if (r < 0) return guise_error_prefix(err, "committing container %s", rec->name);
  if (name != NULL) *name = steal_ptr(&tag);
  return 0;
}
