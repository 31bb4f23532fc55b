/* guise push: copy a stored image to a registry or an OCI layout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "image/store.h"
#include "util/cleanup.h"

static void push_usage(FILE *out)
{
  fputs("Usage: guise push [OPTIONS] NAME [DESTINATION]\n"
        "\n"
        "Copy a stored image to DESTINATION: docker://HOST[:PORT]/REPO[:TAG], oci:DIR[:REF],\n"
        "oci-archive:FILE[:REF] or docker-archive:FILE[:NAME] (default: docker://NAME).\n"
        "\n"
        "  --tls-verify=false            accept any TLS certificate; allow plain http\n"
        "  --creds USER[:PASSWORD]       credentials (default: auth.json)\n"
        "  -q, --quiet                   no progress output\n"
        "  --root DIR                    image store\n",
        out);
}

int cmd_push(int argc, char **argv)
{
  static const struct option opts[] = {
      {"tls-verify", optional_argument, NULL, 'T'}, {"creds", required_argument, NULL, 'C'},
      {"quiet", no_argument, NULL, 'q'},            {"root", required_argument, NULL, 'R'},
      {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
  struct image_copy_options o = {.tls_verify = true};
  const char *root = NULL;
  _cleanup_free_ char *user = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
    switch (c) {
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
      push_usage(stdout);
      return 0;
    default:
      push_usage(stderr);
      return 125;
    }
  }
  if (optind != argc - 1 && optind != argc - 2) {
    push_usage(stderr);
    return 125;
  }
  const char *dest = optind == argc - 2 ? argv[optind + 1] : NULL;
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  if (image_store_open(root, &s, &err) < 0 || image_push(s, argv[optind], dest, &o, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  return 0;
}
