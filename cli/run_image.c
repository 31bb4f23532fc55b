/* guise run IMAGE: a new container of an image, run (guise-full only; cli/run.c has the
 * options and the --rootfs/--bundle runs). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/container.h"
#include "cli/commands.h"
#include "cli/run.h"
#include "image/store.h"
#include "util/cleanup.h"

static int run_image(int argc, char **argv, struct run_request *req, struct container_spec *spec,
                     int *status, guise_error **err)
{
  if (run_parse_args(argc, argv, spec, req, err) < 0) return -1;
  enum image_pull_policy pull = IMAGE_PULL_MISSING;
  if (req->pull != NULL && image_pull_policy_parse(req->pull, &pull) < 0)
    return guise_fail(err, 0, "--pull=%s: expected missing, always or never", req->pull);
  if (req->fake_db != NULL)
    return guise_fail(err, 0, "--fake-db %s: a container of an image has its own database",
                      req->fake_db);
  struct container_run_options o = {
      .image = argv[optind],
      .name = req->name,
      .pull = pull,
      .tls_verify = req->tls_verify,
      .progress = stderr,
      .command = optind + 1 < argc ? argv + optind + 1 : NULL,
      .user = req->user,
  };
  req->user = NULL; /* resolved in the container's /etc/passwd, not as a number */
  _cleanup_image_store_ struct image_store *s = NULL;
  if (image_store_open(req->root, &s, err) < 0) return -1;
  if (req->net >= 0) /* the default mounts depend on it (/sys of the right namespace) */
    spec->net = (enum net_mode)req->net;
  spec_init_for_rootfs(spec);
  _cleanup_container_record_ struct container_record *rec = NULL;
  if (container_prepare(s, &o, &rec, spec, err) < 0) return -1;
  int r = run_apply_request(spec, req, err);
  bool started = false;
  if (r == 0) {
    spec_init_defaults(spec, false);
    if (req->no_fake) {
      free(spec->fake_db);
      spec->fake_db = NULL;
    }
    spec->fake_backend = req->fake_backend;
    started = true;
    r = container_start(s, rec, spec, status, err);
  }
  /* A container whose options were wrong never ran: it is not kept either. */
  if (req->rm || !started) {
    _cleanup_error_ guise_error *rerr = NULL;
    if (container_remove(s, rec, r < 0 ? &rerr : err) < 0 && r == 0) return -1;
  }
  return r;
}

int cmd_run_image(int argc, char **argv)
{
  _cleanup_error_ guise_error *err = NULL;
  struct container_spec spec = {0};
  struct run_request req = RUN_REQUEST_INIT;
  int status = 125;
  if (run_image(argc, argv, &req, &spec, &status, &err) < 0 || err != NULL) {
    guise_error_print(err);
    status = 125;
  }
  run_request_clear(&req);
  spec_free(&spec);
  return status;
}
