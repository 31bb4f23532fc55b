/* guise: command dispatch.  Each subcommand lives in its own file (cli/<name>.c).
 *
 * Built twice.  `guise` (GUISE_CORE) has the commands that start containers and must start
 * fast — it links only libseccomp, libcap, sqlite and jansson; loading libcurl, libarchive and
 * openssl with everything they pull in would cost ~15 ms at every `guise run`.  The other
 * commands are served by `guise-full`, installed next to it, which has them all. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

#ifdef GUISE_CORE
#define FULL_ONLY(fn) NULL
#else
#define FULL_ONLY(fn) fn
#endif

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a command in a new rootless container"},
    {"ps", FULL_ONLY(cmd_ps), "list the containers made from images"},
    {"rm", FULL_ONLY(cmd_rm), "remove containers"},
    {"commit", FULL_ONLY(cmd_commit), "make an image of a container's changes"},
    {"export", FULL_ONLY(cmd_export), "write a container's filesystem as a tar stream"},
    {"build", FULL_ONLY(cmd_build), "build an image from a Containerfile, unprivileged"},
    {"fake", cmd_fake, "run a host command with root faked (no container)"},
    {"db", cmd_db, "inspect and repair the faked-state database of a rootfs"},
    {"images", FULL_ONLY(cmd_images), "list the images in the local store"},
    {"pull", FULL_ONLY(cmd_pull), "copy an image from a registry or an OCI layout into the store"},
    {"push", FULL_ONLY(cmd_push), "copy a stored image to a registry or an OCI layout"},
    {"inspect", FULL_ONLY(cmd_inspect), "show an image's config, manifest and layers as JSON"},
    {"tag", FULL_ONLY(cmd_tag), "give a stored image another name"},
    {"rmi", FULL_ONLY(cmd_rmi), "remove image names (blobs stay until prune)"},
    {"prune", FULL_ONLY(cmd_prune), "remove unreferenced blobs and root filesystems"},
    {"save", FULL_ONLY(cmd_save), "write images to a docker-archive or oci-archive"},
    {"load", FULL_ONLY(cmd_load), "read images from a docker-archive or oci-archive"},
    {"import", FULL_ONLY(cmd_import), "make a one-layer image of a rootfs tarball"},
    {"history", FULL_ONLY(cmd_history), "show the steps an image was made of"},
    {"login", FULL_ONLY(cmd_login), "store registry credentials in auth.json"},
    {"logout", FULL_ONLY(cmd_logout), "remove registry credentials from auth.json"},
};

static void usage(FILE *out)
{
  fprintf(out, "Usage: guise COMMAND [OPTIONS]\n\nRootless containers, images and builds.\n\n"
               "Commands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun 'guise COMMAND --help' for a command's options.\n");
}

/* Run the command in guise-full, the binary next to this one. */
static int exec_full(char **argv)
{
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n < 0) {
    fprintf(stderr, "guise: finding guise's own path failed: %s\n", strerror(errno));
    return 125;
  }
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  char full[PATH_MAX + 16];
  snprintf(full, sizeof(full), "%.*s/guise-full", slash ? (int)(slash - self) : 1,
           slash ? self : ".");
  execv(full, argv);
  fprintf(stderr, "guise: running %s for '%s' failed: %s\n", full, argv[1], strerror(errno));
  return 125;
}

#ifdef GUISE_CORE
static char **main_argv;

/* guise run IMAGE needs the image store: guise-full runs it. */
int cmd_run_image(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  return exec_full(main_argv);
}
#endif

int main(int argc, char **argv)
{
#ifdef GUISE_CORE
  main_argv = argv;
#endif
  if (argc < 2) {
    usage(stderr);
    return 125;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("guise version 0.1.0\n");
    return 0;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run != NULL ? commands[i].run(argc - 1, argv + 1) : exec_full(argv);
  fprintf(stderr, "guise: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 125;
}
