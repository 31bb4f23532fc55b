/* What guise run's two halves share: the options of `guise run --rootfs|--bundle` (cli/run.c,
 * in both binaries) and of `guise run IMAGE` (cli/run_image.c, guise-full only). */
#ifndef GUISE_CLI_RUN_H
#define GUISE_CLI_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/spec.h"
#include "util/error.h"

/* The command line, remembered and applied on top of the spec (from defaults, an image, or a
 * bundle's config.json, which replaces everything it describes). */
struct run_request {
  const char *rootfs;
  const char *bundle;
  const char *name;
  const char *hostname;
  const char *workdir;
  const char *user;
  const char *fake_db;
  enum tracer_backend fake_backend;
  enum isolation_mode isolation;
  bool isolation_given;
  char **env;
  char **volumes;
  char **tmpfs;
  char **ulimits;
  uint64_t cap_add, cap_drop;
  int net;          /* -1: not given */
  int no_new_privs; /* -1: not given */
  int use_init;     /* -1: not given */
  bool stdin_open, terminal, read_only, no_fake;
  /* IMAGE only */
  bool rm;
  bool tls_verify;
  const char *pull; /* NULL: missing */
  const char *root;
  const char *image_only; /* the last IMAGE-only option given, for the error without one */
};
#define RUN_REQUEST_INIT                                                                           \
  {                                                                                                \
    .net = -1, .no_new_privs = -1, .use_init = -1, .tls_verify = true                              \
  }

/* Parse the options (getopt, stopping at the first operand: optind is then the IMAGE or the
 * COMMAND); spec gets the network and umask defaults. */
int run_parse_args(int argc, char **argv, struct container_spec *spec, struct run_request *req,
                   guise_error **err);
/* Apply the options on top of spec (-e replaces the image's variables of the same name). */
int run_apply_request(struct container_spec *spec, struct run_request *req, guise_error **err);
void run_request_clear(struct run_request *req);

#endif
