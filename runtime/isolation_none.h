/* Running a container without namespaces: where no user namespace can be made (Docker's and
 * Kubernetes' default seccomp profiles, user.max_user_namespaces=0), the command runs as a
 * traced child of guise and the tracer presents the rootfs as / by path translation (tracer
 * view, ptrace backend), with the same faking policy and database as with namespaces.
 *
 * What it does not isolate: processes (the host's pid space), network, ipc, hostname; and it is
 * not a security boundary (the translated paths are walked again by the kernel: a symlink
 * swapped in between by the command escapes the rootfs). */
#ifndef GUISE_RUNTIME_ISOLATION_NONE_H
#define GUISE_RUNTIME_ISOLATION_NONE_H

#include <stdbool.h>

#include "runtime/spec.h"
#include "util/error.h"

/* "auto", "namespaces" or "none". */
int isolation_parse(const char *name, enum isolation_mode *out, guise_error **err);

/* Whether a failure to create the user namespace (its errno) means this host allows none, so
 * that AUTO runs without: EPERM (a seccomp profile, no capability), ENOSPC/EUSERS
 * (max_user_namespaces), EINVAL (in a chroot, or a kernel without user namespaces). */
bool isolation_none_fallback(int errnum);

/* The one-line notice of what this mode does not isolate, printed once per guise process;
 * why: the reason AUTO fell back, or NULL when asked for. */
void isolation_none_notice(const char *why);

/* container_run for ISOLATION_NONE: same contract (runtime/container.h).  Mounts of the spec
 * become bindings of the view: proc, sysfs and /dev (with what is under it) show the host's,
 * binds their source; other file systems (--tmpfs) are refused for now, as are --user and
 * masked or read-only paths' protection (not applied). */
int isolation_none_run(const struct container_spec *spec, int *exit_status, guise_error **err);

/* The bindings a rootfs run without a spec's mounts gets (guise fake --isolation=none): the
 * host's /proc, /dev and /sys. */
void isolation_none_default_mounts(struct container_spec *spec);

#endif
