/* guise commit: a container's changes as a new image; guise export: its filesystem as a tar. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/container.h"
#include "cli/commands.h"
#include "image/container.h"
#include "image/store.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static void commit_usage(FILE *out)
{
  fputs("Usage: guise commit [OPTIONS] CONTAINER [NAME]\n"
        "\n"
        "Make a new image of the container: its image's layers plus one layer of what changed\n"
        "in it since it was made (files, and the owners, modes, devices and capabilities root\n"
        "gave them; deletions as whiteouts).  Tagged NAME (localhost/NAME:latest without a\n"
        "registry), else printed by id only.\n"
        "\n"
        "  -c, --change INSTRUCTION  apply a Containerfile instruction to the config: CMD,\n"
        "                            ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER,\n"
        "                            VOLUME, WORKDIR (repeatable)\n"
        "  -m, --message TEXT        the history entry's comment\n"
        "  -a, --author TEXT         the image's author\n"
        "      --compression gzip|zstd|none  the layer's compression (default gzip)\n"
        "      --root DIR            image store (default $XDG_DATA_HOME/guise)\n"
        "\n"
        "SOURCE_DATE_EPOCH, when set, is the created time and clamps the layer's mtimes.\n",
        out);
}

/* SOURCE_DATE_EPOCH: -1 when unset, -2 (after a message) when not a number. */
static int64_t source_date_epoch(void)
{
  const char *sde = getenv("SOURCE_DATE_EPOCH");
  if (sde == NULL || *sde == '\0') return -1;
  char *end;
  long long v = strtoll(sde, &end, 10);
  if (*end != '\0' || v < 0) {
    fprintf(stderr, "guise: SOURCE_DATE_EPOCH=%s: expected seconds since 1970\n", sde);
    return -2;
  }
  return v;
}

int cmd_commit(int argc, char **argv)
{
  enum { OPT_ROOT = 256, OPT_COMPRESSION };
  static const struct option opts[] = {{"change", required_argument, NULL, 'c'},
                                       {"message", required_argument, NULL, 'm'},
                                       {"author", required_argument, NULL, 'a'},
                                       {"compression", required_argument, NULL, OPT_COMPRESSION},
                                       {"root", required_argument, NULL, OPT_ROOT},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  _cleanup_strv_ char **changes = NULL;
  struct container_commit_options o = {.compression = LAYER_GZIP};
  const char *root = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "c:m:a:h", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      strv_append(&changes, optarg);
      break;
    case 'm':
      o.message = optarg;
      break;
    case 'a':
      o.author = optarg;
      break;
    case OPT_COMPRESSION:
      if (layer_compression_parse(optarg, &o.compression) < 0) {
        fprintf(stderr, "guise: --compression %s: expected gzip, zstd or none\n", optarg);
        return 125;
      }
      break;
    case OPT_ROOT:
      root = optarg;
      break;
    case 'h':
      commit_usage(stdout);
      return 0;
    default:
      commit_usage(stderr);
      return 125;
    }
  }
  if (optind >= argc || argc - optind > 2) {
    commit_usage(stderr);
    return 125;
  }
  o.changes = changes;
  o.tag = optind + 1 < argc ? argv[optind + 1] : NULL;
  o.source_date_epoch = source_date_epoch();
  if (o.source_date_epoch == -2) return 125;
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  char id[DIGEST_STR_MAX];
  _cleanup_free_ char *name = NULL;
  if (image_store_open(root, &s, &err) < 0 ||
      container_commit(s, argv[optind], &o, id, &name, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  if (name != NULL) fprintf(stderr, "Successfully tagged %s\n", name);
  printf("%s\n", id);
  return 0;
}

static void export_usage(FILE *out)
{
  fputs("Usage: guise export [-o FILE] [--root DIR] CONTAINER\n"
        "\n"
        "Write the container's whole filesystem as a tar stream, with the owners, modes,\n"
        "device nodes and xattrs root gave its files (like podman export).\n"
        "\n"
        "  -o, --output FILE  write to FILE (made complete or not at all) instead of stdout\n"
        "      --root DIR     image store (default $XDG_DATA_HOME/guise)\n",
        out);
}

int cmd_export(int argc, char **argv)
{
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL, *output = NULL;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
    switch (c) {
    case 'o':
      output = optarg;
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      export_usage(stdout);
      return 0;
    default:
      export_usage(stderr);
      return 125;
    }
  }
  if (optind + 1 != argc) {
    export_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  _cleanup_container_record_ struct container_record *r = NULL;
  if (image_store_open(root, &s, &err) < 0 || container_find(s, argv[optind], &r, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  if (output == NULL) {
    if (isatty(STDOUT_FILENO)) {
      fprintf(stderr, "guise: export: stdout is a terminal; redirect it or give -o FILE\n");
      return 125;
    }
    if (container_export(s, r, STDOUT_FILENO, &err) < 0) {
      guise_error_print(err);
      return 125;
    }
    return 0;
  }
  /* Beside FILE, renamed over it when complete. */
  _cleanup_free_ char *tmp = NULL;
  if (asprintf(&tmp, "%s.tmp-%d", output, (int)getpid()) < 0) abort();
  _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "guise: export: creating %s failed: %s\n", tmp, strerror(errno));
    return 125;
  }
  int r2 = container_export(s, r, fd, &err);
  if (r2 == 0 && fsync(fd) < 0) r2 = guise_fail_errno(&err, "export: writing %s failed", tmp);
  if (r2 == 0 && rename(tmp, output) < 0)
    r2 = guise_fail_errno(&err, "export: renaming %s to %s failed", tmp, output);
  if (r2 < 0) {
    unlink(tmp);
    guise_error_print(err);
    return 125;
  }
  return 0;
}
