/* guise ps: list containers made from images; guise rm: remove them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "image/container.h"
#include "image/digest.h"
#include "image/store.h"
#include "util/cleanup.h"

static void ps_usage(FILE *out)
{
  fputs("Usage: guise ps [-a] [-q] [--root DIR]\n"
        "\n"
        "List the running containers made by 'guise run IMAGE'.\n"
        "\n"
        "  -a, --all     all containers, also those that exited\n"
        "  -q, --quiet   only their ids\n"
        "      --root DIR  image store (default $XDG_DATA_HOME/guise)\n",
        out);
}

/* The command as one line, cut to width. */
static void command_text(char *const *argv, char *buf, size_t width)
{
  size_t len = 0;
  buf[0] = '\0';
  for (size_t i = 0; argv != NULL && argv[i] != NULL && len < width; i++)
    len += (size_t)snprintf(buf + len, width + 1 - len, "%s%s", i ? " " : "", argv[i]);
  if (len >= width && width > 3) strcpy(buf + width - 3, "...");
}

static const char *image_text(const struct container_record *r)
{
  return r->image != NULL ? r->image : digest_hex(r->image_id);
}

int cmd_ps(int argc, char **argv)
{
  static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL;
  bool all = false, quiet = false;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "aqh", opts, NULL)) != -1) {
    switch (c) {
    case 'a':
      all = true;
      break;
    case 'q':
      quiet = true;
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      ps_usage(stdout);
      return 0;
    default:
      ps_usage(stderr);
      return 125;
    }
  }
  if (optind != argc) {
    ps_usage(stderr);
    return 125;
  }
  _cleanup_error_ guise_error *err = NULL;
  _cleanup_image_store_ struct image_store *s = NULL;
  struct container_record **v = NULL;
  size_t n = 0;
  if (image_store_open(root, &s, &err) < 0 || container_list(s, &v, &n, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  if (!quiet)
    printf("%-12s  %-30s  %-20s  %-19s  %-12s  %s\n", "CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
           "STATUS", "NAMES");
  for (size_t i = 0; i < n; i++) {
    const struct container_record *r = v[i];
    const char *state = container_state(r);
    if (!all && strcmp(state, CONTAINER_STATE_RUNNING) != 0) continue;
    if (quiet) {
      printf("%.12s\n", r->id);
      continue;
    }
    char cmd[21], status[32], created[20];
    command_text(r->command, cmd, sizeof(cmd) - 1);
    if (strcmp(state, CONTAINER_STATE_RUNNING) == 0)
      snprintf(status, sizeof(status), "Up");
    else if (strcmp(state, CONTAINER_STATE_CREATED) == 0)
      snprintf(status, sizeof(status), "Created");
    else if (strcmp(r->state, CONTAINER_STATE_RUNNING) == 0) /* its guise was killed */
      snprintf(status, sizeof(status), "Exited (unknown)");
    else
      snprintf(status, sizeof(status), "Exited (%d)", r->exit_code);
    /* "2026-01-02T03:04:05.123Z" → "2026-01-02 03:04:05" */
    snprintf(created, sizeof(created), "%s", r->created);
    if (strlen(created) > 10 && created[10] == 'T') created[10] = ' ';
    printf("%.12s  %-30s  %-20s  %-19s  %-12s  %s\n", r->id, image_text(r), cmd, created, status,
           r->name);
  }
  container_list_free(v, n);
  return 0;
}

static void rm_usage(FILE *out)
{
  fputs("Usage: guise rm [-f] [-t SECONDS] [--root DIR] CONTAINER...\n"
        "\n"
        "Remove containers (by name, id or id prefix) with their filesystems.\n"
        "\n"
        "  -f, --force          also running ones: stop them first (the image's StopSignal,\n"
        "                       else SIGTERM; SIGKILL after the timeout)\n"
        "  -t, --time SECONDS   the timeout (default 10)\n"
        "      --root DIR       image store (default $XDG_DATA_HOME/guise)\n",
        out);
}

int cmd_rm(int argc, char **argv)
{
  static const struct option opts[] = {{"force", no_argument, NULL, 'f'},
                                       {"time", required_argument, NULL, 't'},
                                       {"root", required_argument, NULL, 'R'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *root = NULL;
  bool force = false;
  unsigned timeout = 10;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "ft:h", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'f':
      force = true;
      break;
    case 't':
      timeout = (unsigned)strtoul(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || timeout > 86400) {
        fprintf(stderr, "guise: --time %s: expected seconds\n", optarg);
        return 125;
      }
      break;
    case 'R':
      root = optarg;
      break;
    case 'h':
      rm_usage(stdout);
      return 0;
    default:
      rm_usage(stderr);
      return 125;
    }
  }
  if (optind >= argc) {
    rm_usage(stderr);
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
    _cleanup_container_record_ struct container_record *r = NULL;
    int ok = container_find(s, argv[i], &r, &err);
    if (ok == 0 && container_is_running(r)) {
      if (!force)
        ok = guise_fail(&err, 0, "container %s is running: stop it, or remove it with rm -f",
                        argv[i]);
      else
        ok = container_stop(r, timeout, &err);
    }
    if (ok == 0) ok = container_remove(s, r, &err);
    if (ok < 0) {
      guise_error_print(err);
      guise_error_release(&err);
      rc = 1;
      continue;
    }
    printf("%s\n", argv[i]);
  }
  return rc;
}
