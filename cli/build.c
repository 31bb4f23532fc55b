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
      "Dockerfile; - reads standard input)\n"
      "      --build-arg K[=V]   set a build argument (K alone: the caller's value of $K)\n"
      "      --target STAGE      build up to the stage named STAGE\n"
      "      --no-cache          run every step (results are still kept for later builds)\n"
      "      --pull=missing|always|never   base images not in the store (default missing)\n"
      "      --output oci:DIR[:REF] | oci-archive:FILE[:REF] | docker-archive:FILE[:NAME]\n"
      "                          also write the image there\n"
      "      --push              push every tag to its registry after the build\n"
      "      --tls-verify=false  allow plain http and unverified TLS for pulls and pushes\n"
      "      --compression gzip|zstd|none   layer compression (default gzip)\n"
      "      --root DIR          image store (default $XDG_DATA_HOME/guise)\n"
      "  -q, --quiet             print only the image id (RUN output only when a step fails)\n"
      "\n"
      "SOURCE_DATE_EPOCH, when set, is used for the created times and clamps file mtimes, so\n"
      "that the same input gives the same image digest.\n",
      out);
}

enum {
  OPT_BUILD_ARG = 256,
  OPT_TARGET,
  OPT_COMPRESSION,
  OPT_ROOT,
  OPT_NO_CACHE,
  OPT_PULL,
  OPT_OUTPUT,
  OPT_PUSH,
  OPT_TLS_VERIFY,
};

static const struct option build_options_long[] = {
    {"tag", required_argument, NULL, 't'},
    {"file", required_argument, NULL, 'f'},
    {"build-arg", required_argument, NULL, OPT_BUILD_ARG},
    {"target", required_argument, NULL, OPT_TARGET},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"root", required_argument, NULL, OPT_ROOT},
    {"no-cache", no_argument, NULL, OPT_NO_CACHE},
    {"pull", optional_argument, NULL, OPT_PULL},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"push", no_argument, NULL, OPT_PUSH},
    {"tls-verify", optional_argument, NULL, OPT_TLS_VERIFY},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_bool(const char *opt, const char *v, bool *out)
{
  if (v == NULL || strcmp(v, "true") == 0) {
    *out = true;
    return 0;
  }
  if (strcmp(v, "false") == 0) {
    *out = false;
    return 0;
  }
  fprintf(stderr, "guise: --%s=%s: expected true or false\n", opt, v);
  return -1;
}

int cmd_build(int argc, char **argv)
{
  _cleanup_strv_ char **tags = NULL;
  _cleanup_strv_ char **args = NULL;
  struct build_options o = {.source_date_epoch = -1,
                            .compression = LAYER_GZIP,
                            .progress = stdout,
                            .tls_verify = true,
                            .pull = IMAGE_PULL_MISSING};
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
    case OPT_NO_CACHE:
      o.no_cache = true;
      break;
    case OPT_PULL:
      if (image_pull_policy_parse(optarg, &o.pull) < 0) {
        fprintf(stderr, "guise: --pull=%s: expected missing, always or never\n", optarg);
        return 125;
      }
      break;
    case OPT_OUTPUT:
      o.output = optarg;
      break;
    case OPT_PUSH:
      o.push = true;
      break;
    case OPT_TLS_VERIFY:
      if (parse_bool("tls-verify", optarg, &o.tls_verify) < 0) return 125;
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
  if (o.push && tags == NULL) {
    fprintf(stderr, "guise: --push needs at least one -t NAME to push to\n");
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
  printf("%s\n", id);
  return 0;
}
