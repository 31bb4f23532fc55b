/* guise load: read the images of a docker-archive or oci-archive into the store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "image/archive.h"
#include "util/cleanup.h"

static void load_usage(FILE *out)
{
  fputs("Usage: guise load [OPTIONS]\n"
        "\n"
        "Read the images of an archive (docker-archive or oci-archive, detected; maybe gzip,\n"
        "zstd, xz or bzip2 compressed) into the store, unpack them and give them the names\n"
        "the archive carries (RepoTags; ref.name annotations).\n"
        "\n"
        "  -i, --input FILE   the archive (default: standard input, unless it is a terminal)\n"
        "  -q, --quiet        no progress output\n"
        "  --root DIR         image store\n",
        out);
}

int cmd_load(int argc, char **argv)
{
  static const struct option opts[] = {{"input", required_argument, NULL, 'i'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL, *input = NULL;
  struct image_copy_options o = {.tls_verify = true};
  int c;
  while ((c = getopt_long(argc, argv, "+i:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'i':
      input = optarg;
      break;
    case 'q':
      o.quiet = true;
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      load_usage(stdout);
      return 0;
    default:
      load_usage(stderr);
      return 125;
    }
  }
  if (optind != argc) {
    load_usage(stderr);
    return 125;
  }
  if (input == NULL) {
    if (isatty(STDIN_FILENO)) {
      fputs("guise: load: no archive: use -i FILE or a pipe\n", stderr);
      return 125;
    }
    input = "-";
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  _cleanup_image_archive_ struct image_archive *a = NULL;
  if (image_store_open(root, &s, &err) < 0 ||
      image_archive_read(s, input, TRANSPORT_NAME, &a, &err) < 0) {
    guise_error_prefix(&err, "load");
    guise_error_print(err);
    return 125;
  }
  /* Every image copied in and unpacked before any is named. */
  struct oci_descriptor *stored = calloc(a->n_images, sizeof(*stored));
  if (stored == NULL) abort();
  int rc = 0;
  for (size_t i = 0; i < a->n_images && rc == 0; i++)
    if (image_store_copy_in(s, a->layout, &a->images[i].desc, &o, &stored[i], &err) < 0) rc = 125;
  for (size_t i = 0; i < a->n_images && rc == 0; i++) {
    char **names = a->images[i].names;
    for (size_t k = 0; names[k] != NULL && rc == 0; k++) {
      if (image_store_tag(s, names[k], &stored[i], &err) < 0)
        rc = 125;
      else
        printf("Loaded image: %s\n", names[k]);
    }
  }
  for (size_t i = 0; i < a->n_images; i++)
    descriptor_clear(&stored[i]);
  free(stored);
  if (rc != 0) {
    guise_error_prefix(&err, "load %s", input);
    guise_error_print(err);
  }
  return rc;
}
