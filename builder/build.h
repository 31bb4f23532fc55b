/* Building an image from a Containerfile: every RUN runs in a rootless container with root
 * faked (runtime/), every filesystem-changing step becomes a layer whose tar headers carry the
 * faked owners, modes, devices and xattrs (image/layer.h), and the result is stored and tagged
 * in the image store (image/store.h), written to an OCI layout or archive, or pushed.
 *
 * Steps are cached in the store (build-cache/): a step whose parent state, instruction,
 * argument values and (COPY/ADD, RUN bind mounts) source content are unchanged reuses its
 * layer.  Nothing is tagged or written out unless every step succeeded. */
#ifndef GUISE_BUILDER_BUILD_H
#define GUISE_BUILDER_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "image/layer.h"
#include "image/store.h"
#include "util/error.h"

struct build_options {
  const char *context;       /* directory COPY and ADD read from */
  const char *containerfile; /* path, "-": stdin; NULL: CONTEXT/Containerfile, else Dockerfile */
  char **tags;               /* names to give the image (NULL-terminated, may be NULL) */
  char **build_args;         /* "NAME=VALUE" or "NAME" (the caller's value), may be NULL */
  const char *target;        /* stage to stop at; NULL: the last */
  const char *store_root;    /* NULL: the default store */
  int64_t source_date_epoch; /* >= 0: created times and layer mtimes clamped to it */
  enum layer_compression compression;
  bool no_cache;        /* run every step (results are still cached for next time) */
  enum image_pull_policy pull; /* base images and COPY --from images not in the store */
  bool tls_verify;      /* for pulls and --push */
  const char *output;   /* "oci:DIR[:REF]", "oci-archive:FILE[:REF]" or "docker-archive:FILE[:NAME]" */
  bool push;            /* push every tag to its registry */
  /* Step lines ("STEP 2/5: RUN ...", "--> Using cache ..."), warnings, pull progress; NULL:
   * quiet, and then the output of RUN commands is kept back too and shown only when one
   * fails. */
  FILE *progress;
};

/* Build; on success image_id (the config digest, "sha256:<hex>") is filled.  On failure nothing
 * is tagged; the error names the step (file:line and the instruction). */
int build_image(const struct build_options *opts, char image_id[72], guise_error **err);

/* The store name of a user's tag: without a registry it is localhost's, as podman does
 * ("app" -> localhost/app:latest). */
int build_tag_name(const char *tag, char **name, guise_error **err);

/* Apply Dockerfile instructions to an image config's "config" object as build steps would
 * (`import --change`, `commit --change`): "CMD /bin/sh" or podman's "CMD=/bin/sh"; CMD,
 * ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR.  changes is
 * NULL-terminated (or NULL); source_date_epoch < 0 when unset. */
int build_apply_changes(char *const *changes, json_t *config, int64_t source_date_epoch,
                        guise_error **err);

#endif
