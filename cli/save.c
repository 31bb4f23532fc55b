/* guise save: write stored images to a docker-archive or oci-archive. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "image/archive.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static void save_usage(FILE *out)
{
  fputs("Usage: guise save [OPTIONS] IMAGE...\n"
        "\n"
        "Write images, with their names, to one archive that `guise load`, `podman load`,\n"
        "`docker load` and skopeo read.\n"
        "\n"
        "  -o, --output FILE                        the archive (default: standard output,\n"
        "                                           unless it is a terminal)\n"
        "  --format docker-archive|oci-archive      (default: docker-archive)\n"
        "  -q, --quiet                              accepted (save prints nothing)\n"
        "  --root DIR                               image store\n",
        out);
}

int cmd_save(int argc, char **argv)
{
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'}, {"format", required_argument, NULL, 'f'},
      {"quiet", no_argument, NULL, 'q'},        {"root", required_argument, NULL, 'R'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *root = NULL, *output = NULL;
  enum image_transport format = TRANSPORT_DOCKER_ARCHIVE;
  int c;
  while ((c = getopt_long(argc, argv, "+o:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      output = optarg;
      break;
    case 'f':
      if (strcmp(optarg, "docker-archive") == 0) {
        format = TRANSPORT_DOCKER_ARCHIVE;
      } else if (strcmp(optarg, "oci-archive") == 0) {
        format = TRANSPORT_OCI_ARCHIVE;
      } else {
        fprintf(stderr, "guise: save: unknown --format %s (docker-archive or oci-archive)\n",
                optarg);
        return 125;
      }
      break;
    case 'q':
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      save_usage(stdout);
      return 0;
    default:
      save_usage(stderr);
      return 125;
    }
  }
  if (optind >= argc) {
    save_usage(stderr);
    return 125;
  }
  if (output == NULL) {
    if (isatty(STDOUT_FILENO)) {
      fputs("guise: save: refusing to write an archive to a terminal: use -o FILE or a pipe\n",
            stderr);
      return 125;
    }
    output = "-";
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  if (image_store_open(root, &s, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  size_t n = (size_t)(argc - optind), used = 0;
  struct stored_image **imgs = calloc(n, sizeof(*imgs));
  struct archive_item *items = calloc(n, sizeof(*items));
  if (imgs == NULL || items == NULL) abort();
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (image_store_load(s, argv[optind + (int)i], &imgs[i], &err) < 0) {
      guise_error_prefix(&err, "save");
      rc = 125;
      break;
    }
    /* The same image twice: one entry with both names. */
    size_t k = 0;
    while (k < used && strcmp(items[k].img->desc.digest, imgs[i]->desc.digest) != 0)
      k++;
    if (k == used) items[used++].img = imgs[i];
    bool have = false;
    for (size_t x = 0; items[k].names != NULL && items[k].names[x] != NULL; x++)
      have |= strcmp(items[k].names[x], imgs[i]->name) == 0;
    if (!have) strv_append(&items[k].names, imgs[i]->name);
  }
  if (rc == 0 && image_archive_write(s, format, items, used, output, &err) < 0) {
    guise_error_prefix(&err, "save");
    rc = 125;
  }
  if (rc != 0) guise_error_print(err);
  for (size_t i = 0; i < n; i++) {
    if (imgs[i] != NULL) stored_image_free(imgs[i]);
    strv_free(items[i].names);
  }
  free(imgs);
  free(items);
  return rc;
}
