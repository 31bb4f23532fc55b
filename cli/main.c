/* guise: command dispatch.  Each subcommand lives in its own file (cli/<name>.c).
 *
 * Built twice.  `guise` (GUISE_CORE) has the commands that start containers and must start
 * fast — it links only libseccomp, libcap, sqlite and jansson; loading libcurl, libarchive and
 * openssl with everything they pull in would cost ~15 ms at every `guise run`.  The other
 * commands are served by `guise-full`, which has them all (found by exec_full). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build/config.h" /* GUISE_VERSION, GUISE_LIBEXECDIR: made by the Makefile */
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

/* This program's own path without /proc (not mounted, or hidden): argv[0] when it has a
 * slash, else the first executable of that name in PATH, as the shell found it.  0 or -1. */
static int self_from_argv0(const char *argv0, char out[PATH_MAX])
{
  if (strchr(argv0, '/') != NULL) return realpath(argv0, out) != NULL ? 0 : -1;
  const char *path = getenv("PATH");
  if (path == NULL) return -1;
  for (const char *p = path;; p++) {
    size_t len = strcspn(p, ":");
    char cand[PATH_MAX];
    int w = len == 0 ? snprintf(cand, sizeof(cand), "./%s", argv0) /* "": the cwd */
                     : snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, p, argv0);
    if (w < (int)sizeof(cand) && access(cand, X_OK) == 0 && realpath(cand, out) != NULL) return 0;
    p += len;
    if (*p == '\0') return -1;
  }
}

/* Exec guise-full from dir if it is there; returns only when it could not be run, with errno
 * ENOENT (or ENOTDIR) when it is not there. */
static void try_full(const char *dir, int dirlen, const char *sub, char **argv, char *tried,
                     size_t tried_size)
{
  char full[PATH_MAX];
  int w = snprintf(full, sizeof(full), "%.*s%s/guise-full", dirlen, dir, sub);
  if (w < 0 || (size_t)w >= sizeof(full)) {
    errno = ENAMETOOLONG;
    return;
  }
  execv(full, argv);
  int e = errno;
  size_t used = strlen(tried);
  if (used + (size_t)w + 3 < tried_size)
    snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", full);
  errno = e;
}

/* Run the command in guise-full.  Where it is, first found wins: beside this binary (the build
 * tree, an unpacked tarball), in ../libexec/guise/ from it (an install under any PREFIX, also
 * a DESTDIR staging tree), in the LIBEXECDIR guise was built for (make install).  This binary's
 * path comes from /proc/self/exe, else from argv[0] and PATH. */
static int exec_full(char **argv)
{
  char self[PATH_MAX], tried[3 * PATH_MAX] = "";
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n >= 0) self[n] = '\0';
  const char *where[][2] = {{self, ""}, {self, "/../libexec/guise"}, {GUISE_LIBEXECDIR, "/guise"}};
  int first = n >= 0 || self_from_argv0(argv[0], self) == 0 ? 0 : 2;
  for (int i = first; i < 3; i++) {
    const char *dir = where[i][0], *slash = i < 2 ? strrchr(dir, '/') : NULL;
    int dirlen = i < 2 ? (slash != NULL ? (int)(slash - dir) : 0) : (int)strlen(dir);
    try_full(dir, dirlen, where[i][1], argv, tried, sizeof(tried));
    if (errno != ENOENT && errno != ENOTDIR) {
      fprintf(stderr, "guise: running guise-full for '%s' failed: %s (%s)\n", argv[1],
              strerror(errno), tried);
      return 125;
    }
  }
  fprintf(stderr,
          "guise: running guise-full for '%s' failed: not found (tried %s); make install puts "
          "it in LIBEXECDIR/guise/\n",
          argv[1], tried);
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
    printf("guise version %s\n", GUISE_VERSION);
    return 0;
  }
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run != NULL ? commands[i].run(argc - 1, argv + 1) : exec_full(argv);
  fprintf(stderr, "guise: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 125;
}
