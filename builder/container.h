/* Containers from images (`guise run IMAGE`, `guise commit`): the part of containers that needs
 * both the image store (image/container.h keeps them) and the runtime, and the Containerfile
 * language for commit --change. */
#ifndef GUISE_BUILDER_CONTAINER_H
#define GUISE_BUILDER_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "image/container.h"
#include "image/store.h"
#include "runtime/spec.h"
#include "util/error.h"

struct container_run_options {
  const char *image;           /* name, id (prefix) or reference to pull */
  const char *name;            /* NULL: the short id */
  enum image_pull_policy pull; /* default missing */
  bool tls_verify;             /* for the pull */
  FILE *progress;              /* pull progress; NULL: quiet */
  char **command;              /* replaces the image's Cmd; NULL: keep it */
  const char *user;            /* replaces the image's User; NULL: keep it */
};

/* Make a container of the image (pulled as o->pull says) and fill spec to run it: the
 * container's rootfs and faked-state database, the image's Env, Entrypoint + Cmd (or
 * o->command), WorkingDir, Hostname and User (resolved in the container's /etc/passwd and
 * /etc/group), the short id as spec->id (the default hostname).  spec->net must be set and
 * spec_init_for_rootfs called by the caller, which then adds its options and defaults.  On
 * failure no container is left. */
int container_prepare(struct image_store *s, const struct container_run_options *o,
                      struct container_record **rec, struct container_spec *spec,
                      guise_error **err);

/* Run it to completion: recorded as running (this process), then as exited with *status.
 * Mountpoints the runtime had to create in its rootfs are removed afterwards, as after a
 * build's RUN, so that they are not part of a commit. */
int container_start(struct image_store *s, struct container_record *rec,
                    const struct container_spec *spec, int *status, guise_error **err);

struct container_commit_options {
  char **changes;      /* Containerfile config instructions (commit --change) */
  const char *message; /* the history entry's comment */
  const char *author;
  const char *tag;           /* the image's name; NULL: untagged */
  int64_t source_date_epoch; /* >= 0: the created time, and the layer's mtimes clamped */
  enum layer_compression compression;
};

/* The container's changes since it was made (its files, and their faked owners, modes,
 * devices and xattrs; deletions as whiteouts) become one layer on top of its image's, with a
 * new config and history entry; tagged as o->tag.  image_id gets the config digest, *name
 * (may be NULL) the stored name (NULL when untagged). */
int container_commit(struct image_store *s, const char *container,
                     const struct container_commit_options *o, char image_id[DIGEST_STR_MAX],
                     char **name, guise_error **err);

#endif
