/* Containers made from images, kept in the store under containers/<id>/ (podman's vfs driver
 * style): the container's own copy of the image's root filesystem (rootfs/, with its faked-state
 * database rootfs.fakefs.db next to it), the state of that rootfs right after it was made
 * (base.snapshot: what commit diffs against) and container.json (id, name, image, command,
 * state, exit code), always replaced atomically.
 *
 * A container appears complete or not at all: it is made in a temp directory of containers/
 * and renamed into place under the store lock (index.lock), which also keeps names unique
 * among concurrent guise processes.  Removal renames it away first, then deletes.  The image
 * itself is never touched. */
#ifndef GUISE_IMAGE_CONTAINER_H
#define GUISE_IMAGE_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>

#include "image/layer.h"
#include "image/store.h"
#include "util/error.h"

#define CONTAINER_STATE_CREATED "created"
#define CONTAINER_STATE_RUNNING "running"
#define CONTAINER_STATE_EXITED "exited"

struct container_record {
  char *id;           /* 64 hex digits */
  char *name;         /* unique among the store's containers */
  char *image;        /* the image's name when it was made, may be NULL */
  char *image_digest; /* its manifest digest */
  char *image_id;     /* its config digest */
  char *created;      /* RFC 3339 */
  char **command;     /* what it runs (entrypoint and cmd), NULL-terminated */
  char *stop_signal;  /* the image's StopSignal, NULL when it has none */
  char *state;        /* CONTAINER_STATE_* as last recorded */
  int exit_code;      /* with "exited"; -1 when the guise running it was killed */
  int pid;            /* with "running": the guise process running it */
  uint64_t pid_start; /* that process's start time (/proc/PID/stat), against pid reuse */
};

void container_record_free(struct container_record *r);
static inline void container_record_freep(struct container_record **r)
{
  if (*r != NULL) container_record_free(*r);
}
#define _cleanup_container_record_ __attribute__((cleanup(container_record_freep)))

/* Make a container of img named name (NULL: its short id), which will run command.  Fails
 * when the name is taken (checked before the layers are applied and again, under the store
 * lock, when the container is put in place). */
int container_create(const struct image_store *s, const struct stored_image *img, const char *name,
                     char *const *command, struct container_record **out, guise_error **err);

/* Every container, oldest first. */
int container_list(const struct image_store *s, struct container_record ***out, size_t *n,
                   guise_error **err);
void container_list_free(struct container_record **v, size_t n);

/* The container text names: its name, its id, or a unique prefix of its id.  ENOENT when
 * there is none. */
int container_find(const struct image_store *s, const char *text, struct container_record **out,
                   guise_error **err);

/* Replace container.json with r. */
int container_save(const struct image_store *s, const struct container_record *r,
                   guise_error **err);

/* Its recorded guise process is alive (same pid and start time). */
bool container_is_running(const struct container_record *r);
/* Record that this process runs it now / that it exited with code. */
int container_mark_running(const struct image_store *s, struct container_record *r,
                           guise_error **err);
int container_mark_exited(const struct image_store *s, struct container_record *r, int code,
                          guise_error **err);
/* The state to show: "running" only while the process is alive; "exited" for one whose guise
 * died without recording its end. */
const char *container_state(const struct container_record *r);

/* "<store>/containers/<id>/rootfs" and its faked-state database path. */
char *container_rootfs_path(const struct image_store *s, const struct container_record *r);
char *container_db_path(const struct image_store *s, const struct container_record *r);

/* Its rootfs directory and its faked-state database (read-only), for reading it whole. */
int container_open_rootfs(const struct image_store *s, const struct container_record *r,
                          int *rootfd, struct fakefs_db **db, guise_error **err);
/* The snapshot of the rootfs taken when the container was made. */
int container_base_snapshot(const struct image_store *s, const struct container_record *r,
                            struct rootfs_snapshot **out, guise_error **err);

/* Write the container's whole filesystem as an uncompressed tar to fd, with the faked owners,
 * modes, devices and xattrs (like podman export). */
int container_export(const struct image_store *s, const struct container_record *r, int fd,
                     guise_error **err);

/* Stop a running container: its stop signal (SIGTERM when it has none) to the guise process
 * running it, which passes it on; SIGKILL after timeout seconds.  Returns when that process
 * is gone (at once when it is not running). */
int container_stop(const struct container_record *r, unsigned timeout, guise_error **err);

/* Remove the container (it must not be running: the caller stops it first). */
int container_remove(const struct image_store *s, const struct container_record *r,
                     guise_error **err);

/* The manifest digests of the images containers were made from (prune keeps them). */
int container_image_digests(const struct image_store *s, char ***out, guise_error **err);

#endif
