/* guise tag: give a stored image another name. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "image/reference.h"
#include "image/store.h"
#include "util/cleanup.h"

static void tag_usage(FILE *out)
{
  fputs("Usage: guise tag [--root DIR] IMAGE NAME[:TAG]...\n"
        "\n"
        "Name IMAGE also NAME (a name without registry gets localhost/, as in podman).\n",
        out);
}

int cmd_tag(int argc, char **argv)
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
      tag_usage(stdout);
      return 0;
    default:
      tag_usage(stderr);
      return 125;
    }
  }
  if (argc - optind < 2) {
    tag_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  struct oci_descriptor desc = {0};
  if (image_store_open(root, &s, &err) < 0 ||
      image_store_resolve(s, argv[optind], NULL, &desc, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  int rc = 0;
  for (int i = optind + 1; i < argc && rc == 0; i++) {
    struct image_ref r = {0};
    if (image_ref_parse_name(argv[i], &r, &err) < 0) {
      rc = 125;
      break;
    }
    if (!r.registry_explicit) {
      /* podman: a local name is localhost/NAME */
      free(r.registry);
      r.registry = strdup("localhost");
      if (strncmp(r.repository, "library/", 8) == 0 && strncmp(argv[i], "library/", 8) != 0)
        memmove(r.repository, r.repository + 8, strlen(r.repository + 8) + 1);
    }
    _cleanup_free_ char *name = image_ref_name(&r);
    free(r.registry);
    free(r.repository);
    free(r.tag);
    free(r.digest);
    if (image_store_tag(s, name, &desc, &err) < 0)
      rc = 125;
  }
  descriptor_clear(&desc);
  if (rc != 0)
    guise_error_print(err);
  return rc;
}
