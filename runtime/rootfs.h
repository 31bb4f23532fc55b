/* Building the container's filesystem view, run by the container's first process inside its
 * new user and mount namespaces. */
#ifndef GUISE_RUNTIME_ROOTFS_H
#define GUISE_RUNTIME_ROOTFS_H

#include <stdbool.h>

#include "runtime/spec.h"
#include "util/error.h"

/* Bind the rootfs, apply the spec's mounts, default devices, /etc files, masked and read-only
 * paths, create the working directory, then pivot_root into it.  Afterwards "/" is the rootfs
 * and nothing of the host is reachable but what was mounted in. */
int rootfs_setup(const struct container_spec *spec, guise_error **err);

/* Whether the container gets a /dev of its own (a tmpfs guise mounts), where guise may put
 * files of its own (the faking supervisor's delegation socket) without touching the rootfs. */
bool rootfs_has_private_dev(const struct container_spec *spec);

#endif
