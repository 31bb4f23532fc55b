/* guise pull: copy an image into the local store. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "image/store.h"
#include "util/cleanup.h"

static void pull_usage(FILE *out)
{
  fputs("Usage: guise pull [OPTIONS] REFERENCE\n"
        "\n"
        "Copy an image into the local store and unpack it.  REFERENCE is\n"
        "docker://HOST[:PORT]/REPO[:TAG][@DIGEST], oci:DIR[:REF], oci-archive:FILE[:REF],\n"
        "docker-archive:FILE[:NAME|:@N] or NAME[:TAG] (a registry).\n"
        "\n"
        "  --platform OS/ARCH[/VARIANT]  which image of a multi-platform index (default: host)\n"
        "  --tls-verify=false            accept any TLS certificate; allow plain http\n"
        "  --creds USER[:PASSWORD]       credentials (default: auth.json)\n"
        "  -q, --quiet                   no progress output\n"
        "  --root DIR                    image store (default: $GUISE_ROOT or\n"
        "                                ${XDG_DATA_HOME:-~/.local/share}/guise)\n",
        out);
}

int cmd_pull(int argc, char **argv)
{
  static const struct option opts[] = {
      {"platform", required_argument, NULL, 'P'}, {"tls-verify", optional_argument, NULL, 'T'},
      {"creds", required_argument, NULL, 'C'},    {"quiet", no_argument, NULL, 'q'},
      {"root", required_argument, NULL, 'R'},     {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  struct image_copy_options o = {.tls_verify = true};
  const char *root = NULL;
  _cleanup_free_ char *user = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
    switch (c) {
    case 'P':
      o.platform = optarg;
      break;
    case 'T':
      o.tls_verify = optarg == NULL || strcmp(optarg, "true") == 0;
      break;
    case 'C': {
      user = strdup(optarg);
      char *colon = user ? strchr(user, ':') : NULL;
      if (colon) {
        *colon = '\0';
        o.password = colon + 1;
      } else {
        o.password = "";
      }
      o.username = user;
      break;
    }
    case 'q':
      o.quiet = true;
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      pull_usage(stdout);
      return 0;
    default:
      pull_usage(stderr);
      return 125;
    }
  }
  if (optind != argc - 1) {
    pull_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  _cleanup_free_ char *name = NULL;
  if (image_store_open(root, &s, &err) < 0 || image_pull(s, argv[optind], &o, &name, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  if (!o.quiet)
    fprintf(stderr, "Pulled %s\n", name);
  _cleanup_stored_image_ struct stored_image *img = NULL;
  if (image_store_load(s, name, &img, &err) == 0)
    printf("%s\n", img->manifest->config.digest + 7);
  return 0;
}
