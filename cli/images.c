/* guise images: list the images in the local store. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "image/store.h"
#include "util/cleanup.h"
#include "util/units.h"

static void images_usage(FILE *out)
{
  fputs("Usage: guise images [OPTIONS]\n"
        "\n"
        "  --format table|json   output format (default: table)\n"
        "  -q, --quiet           image ids only\n"
        "  --root DIR            image store\n",
        out);
}

void human_age(const char *created, char *out, size_t n)
{
  struct tm tm = {0};
  if (created == NULL || strptime(created, "%Y-%m-%dT%H:%M:%S", &tm) == NULL) {
    snprintf(out, n, "unknown");
    return;
  }
  time_t t = timegm(&tm);
  double d = difftime(time(NULL), t);
  if (d < 0) d = 0;
  static const struct {
    double secs;
    const char *unit;
  } units[] = {{365.25 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"},
               {86400, "day"},           {3600, "hour"},        {60, "minute"}};
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
    if (d >= units[i].secs) {
      long k = (long)(d / units[i].secs);
      snprintf(out, n, "%ld %s%s ago", k, units[i].unit, k == 1 ? "" : "s");
      return;
    }
  }
  snprintf(out, n, "seconds ago");
}

int cmd_images(int argc, char **argv)
{
  static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL, *format = "table";
  bool quiet = false;
  int c;
  while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
    switch (c) {
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
      images_usage(stdout);
      return 0;
    default:
      images_usage(stderr);
      return 125;
    }
  }
  if (optind != argc || (strcmp(format, "table") != 0 && strcmp(format, "json") != 0)) {
    images_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  struct image_store_entry *e = NULL;
  size_t n = 0;
  if (image_store_open(root, &s, &err) < 0 || image_store_list(s, &e, &n, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  json_t *arr = json_array();
  if (!quiet && strcmp(format, "table") == 0)
    printf("%-40s %-12s %-14s %-16s %s\n", "NAME", "TAG", "IMAGE ID", "CREATED", "SIZE");
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (e[i].name == NULL) continue;
    _cleanup_stored_image_ struct stored_image *img = NULL;
    _cleanup_error_ guise_error *lerr = NULL;
    if (image_store_load(s, e[i].name, &img, &lerr) < 0) {
      guise_error_print(lerr);
      rc = 1;
      continue;
    }
    _cleanup_free_ char *repo = strdup(e[i].name);
    if (repo == NULL) abort();
    const char *tag = "<none>";
    char *slash = strrchr(repo, '/');
    char *at = strchr(repo, '@');
    char *colon = strrchr(slash ? slash : repo, ':');
    if (at != NULL) {
      *at = '\0';
    } else if (colon != NULL) {
      *colon = '\0';
      tag = colon + 1;
    }
    int64_t size = img->manifest->config.size;
    for (size_t k = 0; k < img->manifest->n_layers; k++)
      size += img->manifest->layers[k].size;
    const char *id = img->manifest->config.digest + 7;
    if (strcmp(format, "json") == 0) {
      json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?,s:I}", "Name", e[i].name,
                                           "Repository", repo, "Tag", tag, "Id", id, "Digest",
                                           img->desc.digest, "Created", img->config->created,
                                           "Size", (json_int_t)size));
    } else if (quiet) {
      printf("%.12s\n", id);
    } else {
      char age[64], sz[32];
      human_age(img->config->created, age, sizeof(age));
      human_size((double)size, sz, sizeof(sz));
      printf("%-40s %-12s %-14.12s %-16s %s\n", repo, tag, id, age, sz);
    }
  }
  if (strcmp(format, "json") == 0) {
    char *text = json_dumps(arr, JSON_INDENT(2));
    printf("%s\n", text ? text : "[]");
    free(text);
  }
  json_decref(arr);
  image_store_entries_free(e, n);
  return rc;
}
