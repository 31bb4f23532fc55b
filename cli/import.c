/* guise import: a rootfs tarball as a one-layer image. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "cli/commands.h"
#include "image/archive.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static void import_usage(FILE *out)
{
  fputs("Usage: guise import [OPTIONS] FILE|- [NAME[:TAG]]\n"
        "\n"
        "Make a one-layer image of a root filesystem tarball (as `tar -c` writes it; gzip,\n"
        "zstd, xz or bzip2 compressed too; - is standard input).  Owners, modes, device nodes\n"
        "and xattrs in the tar are kept in the layer; the image is unpacked into the store\n"
        "(they go to its faked-state database) and named NAME (localhost/NAME when NAME has\n"
        "no registry; default localhost/import-<id>:latest).  Prints the image id.\n"
        "\n"
        "  -c, --change INSTRUCTION  apply CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,\n"
        "                            STOPSIGNAL, USER, VOLUME or WORKDIR (\"CMD /bin/sh\" or\n"
        "                            \"CMD=/bin/sh\"), repeatable\n"
        "  -m, --message TEXT        the history comment\n"
        "  -q, --quiet               accepted (import prints only the id)\n"
        "  --root DIR                image store\n",
        out);
}

int cmd_import(int argc, char **argv)
{
  static const struct option opts[] = {
      {"change", required_argument, NULL, 'c'}, {"message", required_argument, NULL, 'm'},
      {"quiet", no_argument, NULL, 'q'},        {"root", required_argument, NULL, 'R'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *root = NULL;
  _cleanup_json_ json_t *config = json_object();
  struct image_import_options io = {.config = config};
  _cleanup_strv_ char **changes = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "+c:m:qh", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      strv_append(&changes, optarg);
      break;
    case 'm':
      io.message = optarg;
      break;
    case 'q':
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      import_usage(stdout);
      return 0;
    default:
      import_usage(stderr);
      return 125;
    }
  }
  if (optind != argc - 1 && optind != argc - 2) {
    import_usage(stderr);
    return 125;
  }
  const char *file = argv[optind];
  io.source = file;
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_free_ char *name = NULL, *stored_name = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  char id[72];
  /* Bad names and changes are reported before the tarball is read. */
  if (optind == argc - 2 && build_tag_name(argv[optind + 1], &name, &err) < 0) goto fail;
  io.name = name;
  if (build_apply_changes(changes, config, -1, &err) < 0) goto fail;
  if (image_store_open(root, &s, &err) < 0 ||
      image_import(s, file, &io, &stored_name, id, &err) < 0)
    goto fail;
  fprintf(stderr, "Imported %s\n", stored_name);
  printf("%s\n", id + 7);
  return 0;
fail:
  guise_error_prefix(&err, "import %s", file);
  guise_error_print(err);
  return 125;
}
