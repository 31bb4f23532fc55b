/* guise rmi: remove image names; guise prune: remove what no name reaches. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "image/container.h"
#include "image/store.h"
#include "util/cleanup.h"

static void rmi_usage(FILE *out)
{
  fputs("Usage: guise rmi [--root DIR] [-f] IMAGE...\n"
        "\n"
        "Remove the names; the blobs and root filesystems stay until 'guise prune'.\n"
        "The last name of an image a container was made from is kept unless -f/--force\n"
        "(the container keeps working either way: prune keeps what containers use).\n",
        out);
}

/* force: NULL when the command has no --force. */
static int parse_root_only(int argc, char **argv, const char **root, bool *force,
                           void (*usage)(FILE *))
{
  static const struct option opts[] = {{"root", required_argument, NULL, 'R'},
                                       {"force", no_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, force ? "+fh" : "+h", opts, NULL)) != -1) {
    switch (c) {
    case 'R':
      *root = optarg;
      break;
    case 'f':
      if (force == NULL) {
        usage(stderr);
        return 125;
      }
      *force = true;
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

/* Like docker: removing the last name of an image a container uses needs --force.  0 when
 * name may go, -1 with *err naming the container otherwise. */
static int check_not_in_use(const struct image_store *s, const char *name, const char *digest,
                            guise_error **err)
{
  struct image_store_entry *entries = NULL;
  size_t n = 0, names = 0;
  if (image_store_list(s, &entries, &n, err) < 0) return -1;
  for (size_t i = 0; i < n; i++)
    if (entries[i].name != NULL && strcmp(entries[i].desc.digest, digest) == 0) names++;
  image_store_entries_free(entries, n);
  if (names > 1) return 0; /* only a name goes, the image stays named */
  struct container_record **cs = NULL;
  size_t nc = 0;
  if (container_list(s, &cs, &nc, err) < 0) return -1;
  int r = 0;
  for (size_t i = 0; i < nc && r == 0; i++)
    if (cs[i]->image_digest != NULL && strcmp(cs[i]->image_digest, digest) == 0)
      r = guise_fail(err, EBUSY,
                     "rmi %s: container %s (%.12s) uses this image (guise rm it first, or "
                     "guise rmi --force)",
                     name, cs[i]->name, cs[i]->id);
  container_list_free(cs, nc);
  return r;
}

int cmd_rmi(int argc, char **argv)
{
  const char *root = NULL;
  bool force = false;
  int r = parse_root_only(argc, argv, &root, &force, rmi_usage);
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
    if (ok == 0 && !force && name != NULL) ok = check_not_in_use(s, name, desc.digest, &err);
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
  int r = parse_root_only(argc, argv, &root, NULL, prune_usage);
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
