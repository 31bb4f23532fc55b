/* Path resolution confined to a root directory: the core of tracee_resolve, separated from
 * the tracee so it can be tested with a plain directory as root. */
#ifndef GUISE_TRACER_RESOLVE_H
#define GUISE_TRACER_RESOLVE_H

#include "util/error.h"

/* Resolve path as a process whose root directory is rootfd would, starting relative paths at
 * startfd (a directory, or any fd with TRACEE_RESOLVE_EMPTY_PATH and "").  flags:
 * TRACEE_RESOLVE_NOFOLLOW, TRACEE_RESOLVE_EMPTY_PATH (tracer/tracer.h).  ".." never climbs
 * above rootfd, absolute symlinks restart at rootfd, at most 40 symlinks (ELOOP).  Returns an
 * O_PATH|O_CLOEXEC descriptor, or -1 with *err whose errnum is what the kernel would have
 * returned (ENOENT, ENOTDIR, ELOOP, EACCES, ENAMETOOLONG).  Magic links (procfs) fail with
 * ELOOP. */
int resolve_in_root(int rootfd, int startfd, const char *path, int flags, guise_error **err);

/* Resolve everything but the last component (following symlinks) and return the parent
 * directory's descriptor and the last component in *name (malloc'd); see tracee_resolve_parent. */
int resolve_parent_in_root(int rootfd, int startfd, const char *path, char **name,
                           guise_error **err);

#endif
