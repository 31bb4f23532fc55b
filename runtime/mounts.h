/* Mounting inside a rootfs without ever leaving it: every destination is resolved relative to
 * the rootfs fd (RESOLVE_IN_ROOT), created if missing, and mounted on through its fd. */
#ifndef GUISE_RUNTIME_MOUNTS_H
#define GUISE_RUNTIME_MOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "runtime/spec.h"
#include "util/error.h"

enum mountpoint_kind {
  MOUNTPOINT_EXISTING, /* must exist already */
  MOUNTPOINT_DIR,      /* created as a directory when missing */
  MOUNTPOINT_FILE,     /* created as an empty file when missing */
};

/* Open path (absolute, inside rootfd) as O_PATH, creating missing parents as directories and
 * the last component as kind says. */
int rootfs_open_path(int rootfd, const char *path, enum mountpoint_kind kind, guise_error **err);

/* Turn MS_* flags into MOUNT_ATTR_* attributes. */
uint64_t mount_flags_to_attrs(unsigned long flags);

/* Bind a tree opened from (source_dirfd, source_path) onto target_fd, with attributes applied
 * to the new mount (recursively for rbind) before it becomes visible. */
int mount_bind_at(int source_dirfd, const char *source_path, int target_fd, uint64_t attrs,
                  bool recursive, const char *what, guise_error **err);

/* Apply one mount of the spec inside rootfd. */
int mount_apply(int rootfd, const struct mount_spec *m, guise_error **err);

/* Make path inside rootfd read-only (bind onto itself, recursively); missing paths are skipped. */
int mount_readonly_path(int rootfd, const char *path, guise_error **err);

/* Hide path inside rootfd: /dev/null over files, an empty read-only tmpfs over directories. */
int mount_mask_path(int rootfd, const char *path, guise_error **err);

#endif
