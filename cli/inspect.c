/* guise inspect: an image's config, manifest and layers as JSON. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "fakefs/db.h"
#include "image/store.h"
#include "util/cleanup.h"

static void inspect_usage(FILE *out)
{
  fputs("Usage: guise inspect [--root DIR] IMAGE...\n"
        "\n"
        "Print a JSON array with, for each image: its names, id (config digest), manifest\n"
        "digest, layers, the manifest and config documents, and its unpacked rootfs.\n",
        out);
}

static json_t *inspect_one(struct image_store *s, const char *text, guise_error **err)
{
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (image_store_load(s, text, &img, err) < 0)
    return NULL;
  json_t *o = json_object();
  json_object_set_new(o, "Id", json_string(img->manifest->config.digest));
  json_object_set_new(o, "Digest", json_string(img->desc.digest));
  json_object_set_new(o, "MediaType", json_string(img->manifest->media_type));
  /* Every name pointing at the same manifest. */
  json_t *names = json_array();
  struct image_store_entry *e = NULL;
  size_t n = 0;
  _cleanup_error_ guise_error *lerr = NULL;
  if (image_store_list(s, &e, &n, &lerr) == 0) {
    for (size_t i = 0; i < n; i++)
      if (e[i].name && strcmp(e[i].desc.digest, img->desc.digest) == 0)
        json_array_append_new(names, json_string(e[i].name));
    image_store_entries_free(e, n);
  }
  json_object_set_new(o, "RepoTags", names);
  if (img->config->created)
    json_object_set_new(o, "Created", json_string(img->config->created));
  if (img->config->os)
    json_object_set_new(o, "Os", json_string(img->config->os));
  if (img->config->architecture)
    json_object_set_new(o, "Architecture", json_string(img->config->architecture));
  json_int_t size = img->manifest->config.size;
  json_t *layers = json_array();
  for (size_t i = 0; i < img->manifest->n_layers; i++) {
    const struct oci_descriptor *l = &img->manifest->layers[i];
    size += l->size;
    json_array_append_new(layers, json_pack("{s:s,s:s,s:I,s:s?}", "Digest", l->digest,
                                            "MediaType", l->media_type, "Size", (json_int_t)l->size,
                                            "DiffID", img->config->diff_ids[i]));
  }
  json_object_set_new(o, "Size", json_integer(size));
  json_object_set_new(o, "Layers", layers);
  json_object_set_new(o, "Config", json_incref(img->config->json));
  json_t *m = json_loadb(img->manifest_raw, img->manifest_len, 0, NULL);
  json_object_set_new(o, "Manifest", m ? m : json_null());
  _cleanup_free_ char *rootfs = image_store_rootfs_path(s, img);
  struct stat st;
  if (stat(rootfs, &st) == 0) {
    json_object_set_new(o, "RootFS", json_string(rootfs));
    _cleanup_free_ char *db = NULL;
    _cleanup_error_ guise_error *derr = NULL;
    if (fakefs_db_path_for_rootfs(rootfs, &db, &derr) == 0)
      json_object_set_new(o, "FakefsDB", json_string(db));
  }
  return o;
}

int cmd_inspect(int argc, char **argv)
{
  static const struct option opts[] = {{"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    switch (c) {
    case 'R':
      root = optarg;
      break;
    case 'h':
      inspect_usage(stdout);
      return 0;
    default:
      inspect_usage(stderr);
      return 125;
    }
  }
  if (optind >= argc) {
    inspect_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  if (image_store_open(root, &s, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  json_t *arr = json_array();
  int rc = 0;
  for (int i = optind; i < argc; i++) {
    json_t *o = inspect_one(s, argv[i], &err);
    if (o == NULL) {
      guise_error_print(err);
      guise_error_release(&err);
      rc = 125;
      continue;
    }
    json_array_append_new(arr, o);
  }
  if (json_array_size(arr) > 0) {
    char *text = json_dumps(arr, JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
  }
  json_decref(arr);
  return rc;
}
