/* guise: command dispatch.  Each subcommand lives in its own file (cli/<name>.c). */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run a command in a new rootless container"},
    {"fake", cmd_fake, "run a host command with root faked (no container)"},
    {"db", cmd_db, "inspect and repair the faked-state database of a rootfs"},
    {"images", cmd_images, "list the images in the local store"},
    {"pull", cmd_pull, "copy an image from a registry or an OCI layout into the store"},
    {"push", cmd_push, "copy a stored image to a registry or an OCI layout"},
    {"inspect", cmd_inspect, "show an image's config, manifest and layers as JSON"},
    {"tag", cmd_tag, "give a stored image another name"},
    {"rmi", cmd_rmi, "remove image names (blobs stay until prune)"},
    {"prune", cmd_prune, "remove unreferenced blobs and root filesystems"},
    {"login", cmd_login, "store registry credentials in auth.json"},
    {"logout", cmd_logout, "remove registry credentials from auth.json"},
};

static void usage(FILE *out)
{
  fprintf(out, "Usage: guise COMMAND [OPTIONS]\n\nRootless containers, images and builds.\n\n"
               "Commands:\n");
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nRun 'guise COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
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
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "guise: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 125;
}
