/* guise history: the steps an image was made of, newest first, as podman shows them. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "image/archive.h"
#include "util/cleanup.h"
#include "util/units.h"

static void history_usage(FILE *out)
{
  fputs("Usage: guise history [OPTIONS] IMAGE\n"
        "\n"
        "Show the image's history (its config's), newest first: the image id on the top row,\n"
        "when each step was made, its command, the size of the layer it made (uncompressed)\n"
        "and its comment.\n"
        "\n"
        "  --no-trunc          do not shorten ids and commands\n"
        "  -H, --human=false   created times as RFC 3339 and sizes in bytes\n"
        "  --format table|json (default: table)\n"
        "  -q, --quiet         ids only\n"
        "  --root DIR          image store\n",
        out);
}

struct row {
  const char *created, *created_by, *comment;
  int64_t size;
};

/* The uncompressed size of layer i. */
static int layer_size(const struct image_store *s, const struct oci_descriptor *l, int64_t *size,
                      guise_error **err)
{
  if (strcmp(l->media_type, MT_OCI_LAYER) == 0) {
    *size = l->size;
    return 0;
  }
  _cleanup_free_ char *blob = image_store_blob_path(s, l->digest);
  char diff_id[DIGEST_STR_MAX];
  uint64_t n = 0;
  if (layer_blob_diff_id(blob, -1, diff_id, &n, err) < 0) return -1;
  *size = (int64_t)n;
  return 0;
}

/* One row per history entry; layers without one (no history recorded) get a row each. */
static int collect(const struct image_store *s, const struct stored_image *img, struct row **out,
                   size_t *n_out, guise_error **err)
{
  json_t *hist = json_object_get(img->config->json, "history");
  size_t nh = json_array_size(hist), nl = img->manifest->n_layers, layer = 0, n = 0;
  struct row *rows = calloc(nh + nl + 1, sizeof(*rows));
  if (rows == NULL) abort();
  for (size_t i = 0; i < nh; i++) {
    json_t *h = json_array_get(hist, i);
    struct row *r = &rows[n++];
    r->created = json_string_value(json_object_get(h, "created"));
    r->created_by = json_string_value(json_object_get(h, "created_by"));
    r->comment = json_string_value(json_object_get(h, "comment"));
    if (!json_is_true(json_object_get(h, "empty_layer")) && layer < nl &&
        layer_size(s, &img->manifest->layers[layer++], &r->size, err) < 0)
      goto fail;
  }
  for (; layer < nl; layer++) {
    struct row *r = &rows[n++];
    r->created = img->config->created;
    if (layer_size(s, &img->manifest->layers[layer], &r->size, err) < 0) goto fail;
  }
  *out = rows;
  *n_out = n;
  return 0;
fail:
  free(rows);
  return -1;
}

int cmd_history(int argc, char **argv)
{
  static const struct option opts[] = {{"no-trunc", no_argument, NULL, 'n'},
                                       {"human", optional_argument, NULL, 'H'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL, *format = "table";
  bool no_trunc = false, human = true, quiet = false;
  int c;
  while ((c = getopt_long(argc, argv, "+Hqh", opts, NULL)) != -1) {
    switch (c) {
    case 'n':
      no_trunc = true;
      break;
    case 'H':
      human = optarg == NULL || strcmp(optarg, "true") == 0;
      break;
    case 'f':
      format = optarg;
      break;
    case 'q':
      quiet = true;
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      history_usage(stdout);
      return 0;
    default:
      history_usage(stderr);
      return 125;
    }
  }
  if (optind != argc - 1 || (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)) {
    history_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  _cleanup_stored_image_ struct stored_image *img = NULL;
  _cleanup_free_ struct row *rows = NULL;
  size_t n = 0;
  if (image_store_open(root, &s, &err) < 0 || image_store_load(s, argv[optind], &img, &err) < 0 ||
      collect(s, img, &rows, &n, &err) < 0) {
    guise_error_prefix(&err, "history %s", argv[optind]);
    guise_error_print(err);
    return 125;
  }
  const char *id = digest_hex(img->manifest->config.digest);
  if (strcmp(format, "json") == 0) {
    json_t *arr = json_array();
    for (size_t i = n; i-- > 0;)
      json_array_append_new(
          arr,
          json_pack("{s:s,s:s?,s:s,s:I,s:s,s:o}", "id", i == n - 1 ? id : "<missing>", "created",
                    rows[i].created, "createdBy", rows[i].created_by ? rows[i].created_by : "",
                    "size", (json_int_t)rows[i].size, "comment",
                    rows[i].comment ? rows[i].comment : "", "tags",
                    i == n - 1 && img->name ? json_pack("[s]", img->name) : json_null()));
    char *text = json_dumps(arr, JSON_INDENT(4));
    printf("%s\n", text);
    free(text);
    json_decref(arr);
    return 0;
  }
  if (!quiet)
    printf("%-13s %-15s %-46s %-11s %s\n", "ID", "CREATED", "CREATED BY", "SIZE", "COMMENT");
  for (size_t i = n; i-- > 0;) {
    char shown_id[72];
    snprintf(shown_id, sizeof(shown_id), "%.*s", no_trunc ? 64 : 12, i == n - 1 ? id : "<missing>");
    if (quiet) {
      printf("%s\n", shown_id);
      continue;
    }
    char created[64], size[32], by[64];
    if (human) {
      human_age(rows[i].created, created, sizeof(created));
      human_size((double)rows[i].size, size, sizeof(size));
    } else {
      snprintf(created, sizeof(created), "%s", rows[i].created ? rows[i].created : "");
      snprintf(size, sizeof(size), "%lld", (long long)rows[i].size);
    }
    const char *cb = rows[i].created_by ? rows[i].created_by : "";
    /* Shortened as podman does: 45 columns, the last three "...". */
    if (!no_trunc && strlen(cb) > 45) {
      snprintf(by, sizeof(by), "%.42s...", cb);
      cb = by;
    }
    printf("%-13s %-15s %-46s %-11s %s\n", shown_id, created, cb, size,
           rows[i].comment ? rows[i].comment : "");
  }
  return 0;
}
