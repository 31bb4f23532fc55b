/* guise rmi: remove image names; guise prune: remove what no name reaches. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "image/store.h"
#include "util/cleanup.h"

static void rmi_usage(FILE *out)
{
  fputs("Usage: guise rmi [--root DIR] IMAGE...\n"
        "\n"
        "Remove the names; the blobs and root filesystems stay until 'guise prune'.\n",
        out);
}

static int parse_root_only(int argc, char **argv, const char **root, void (*usage)(FILE *))
{
  static const struct option opts[] = {{"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    switch (c) {
    case 'R':
      *root = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 125;
    }
  }
  return -1;
}

int cmd_rmi(int argc, char **argv)
{
  const char *root = NULL;
  int r = parse_root_only(argc, argv, &root, rmi_usage);
  if (r >= 0)
    return r;
  if (optind >= argc) {
    rmi_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  if (image_store_open(root, &s, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  int rc = 0;
  for (int i = optind; i < argc; i++) {
    _cleanup_free_ char *name = NULL;
    struct oci_descriptor desc = {0};
    int ok = image_store_resolve(s, argv[i], &name, &desc, &err);
    if (ok == 0)
      ok = image_store_untag(s, name, desc.digest, &err);
    descriptor_clear(&desc);
    if (ok < 0) {
      guise_error_print(err);
      guise_error_release(&err);
      rc = 1;
      continue;
    }
    printf("Untagged: %s\n", name ? name : argv[i]);
  }
  return rc;
}

static void prune_usage(FILE *out)
{
  fputs("Usage: guise prune [--root DIR]\n"
        "\n"
        "Remove blobs and root filesystems no image name reaches, and leftovers of\n"
        "interrupted pulls.\n",
        out);
}

int cmd_prune(int argc, char **argv)
{
  const char *root = NULL;
  int r = parse_root_only(argc, argv, &root, prune_usage);
  if (r >= 0)
    return r;
  if (optind != argc) {
    prune_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  struct prune_stats st;
  if (image_store_open(root, &s, &err) < 0 || image_store_prune(s, &st, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  printf("Removed %zu blobs (%llu bytes), %zu root filesystems, %zu temporary files\n", st.blobs,
         (unsigned long long)st.bytes, st.rootfs, st.temps);
  return 0;
}
