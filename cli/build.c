/* guise build: build an image from a Containerfile, unprivileged, root faked in every RUN. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "cli/commands.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static void build_usage(FILE *out)
{
  fputs(
      "Usage: guise build [OPTIONS] CONTEXT\n"
      "\n"
      "Build an image from CONTEXT/Containerfile (or Dockerfile) as the calling user.  Every\n"
      "RUN runs in a rootless container with root faked, and each layer records the owners,\n"
      "modes, device nodes and file capabilities a real root build would have produced.\n"
      "\n"
      "  -t, --tag NAME          name the image (repeatable); without a registry: localhost/NAME\n"
      "  -f, --file FILE         the Containerfile (default CONTEXT/Containerfile, then "
      "Dockerfile)\n"
      "      --build-arg K[=V]   set a build argument (K alone: the caller's value of $K)\n"
      "      --target STAGE      stop after the stage named STAGE\n"
      "      --compression gzip|zstd|none   layer compression (default gzip)\n"
      "      --root DIR          image store (default $XDG_DATA_HOME/guise)\n"
      "  -q, --quiet             print only the image id\n"
      "\n"
      "SOURCE_DATE_EPOCH, when set, is used for the created times and clamps file mtimes, so\n"
      "that the same input gives the same image digest.\n",
      out);
}

enum { OPT_BUILD_ARG = 256, OPT_TARGET, OPT_COMPRESSION, OPT_ROOT };

static const struct option build_options_long[] = {
    {"tag", required_argument, NULL, 't'},
    {"file", required_argument, NULL, 'f'},
    {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
    {"target", required_argument, NULL, OPT_TARGET},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"root", required_argument, NULL, OPT_ROOT},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_build(int argc, char **argv)
{
  _cleanup_strv_ char **tags = NULL;
  _cleanup_strv_ char **args = NULL;
  struct build_options o = {.source_date_epoch = -1, .compression = LAYER_GZIP, .progress = stdout};
  bool quiet = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:f:qh", build_options_long, NULL)) != -1) {
    switch (c) {
    case 't':
      strv_append(&tags, optarg);
      break;
    case 'f':
      o.containerfile = optarg;
      break;
    case OPT_BUILD_ARG:
      strv_append(&args, optarg);
      break;
    case OPT_TARGET:
      o.target = optarg;
      break;
    case OPT_COMPRESSION:
      if (layer_compression_parse(optarg, &o.compression) < 0) {
        fprintf(stderr, "guise: --compression %s: expected gzip, zstd or none\n", optarg);
        return 125;
      }
      break;
    case OPT_ROOT:
      o.store_root = optarg;
      break;
    case 'q':
      quiet = true;
      break;
    case 'h':
      build_usage(stdout);
      return 0;
    default:
      build_usage(stderr);
      return 125;
    }
  }
  if (optind + 1 != argc) {
    fprintf(stderr, "guise: build needs exactly one CONTEXT directory (see guise build --help)\n");
    return 125;
  }
  o.context = argv[optind];
  o.tags = tags;
  o.build_args = args;
  if (quiet) o.progress = NULL;
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  if (sde != NULL && *sde != '\0') {
    char *end;
    long long v = strtoll(sde, &end, 10);
    if (*end != '\0' || v < 0) {
      fprintf(stderr, "guise: SOURCE_DATE_EPOCH=%s: expected seconds since 1970\n", sde);
      return 125;
    }
    o.source_date_epoch = v;
  }
  _cleanup_error_ guise_error *err = NULL;
  char id[72];
  if (build_image(&o, id, &err) < 0) {
    guise_error_print(err);
    return 1;
  }
  if (quiet)
    printf("%s\n", id);
  else
    printf("COMMIT %s\n--> %s\n", tags && tags[0] ? tags[0] : "", id);
  return 0;
}
