/* Running a container to completion: the life cycle of `guise run`. */
#ifndef GUISE_RUNTIME_CONTAINER_H
#define GUISE_RUNTIME_CONTAINER_H

#include "runtime/spec.h"
#include "util/error.h"

/* Create the namespaces, set up the rootfs, run the command and wait for it, forwarding
 * signals and proxying the terminal.  *exit_status is the command's status (128+N when killed
 * by signal N, 126/127 when it could not be executed, 125 when the container could not be set
 * up — in that case the child has already printed why).  Returns -1 with *err only when guise
 * itself failed before or around the container. */
int container_run(const struct container_spec *spec, int *exit_status, guise_error **err);

#endif
