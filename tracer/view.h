/* A view's bindings and the guest-side path walk (tracer/view.c), separated from the tracee so
 * that it can be tested with plain directories. */
#ifndef GUISE_TRACER_VIEW_H
#define GUISE_TRACER_VIEW_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tracer/tracer.h"

/* Guest path -> host path by the longest binding prefix.  guest must be absolute and
 * canonical.  -1 with errno ENAMETOOLONG when it does not fit. */
int view_to_host(const struct tracer_view *v, const char *guest, char host[PATH_MAX]);
/* Host path -> guest path (the binding with the longest host prefix); -1 with errno EXDEV when
 * host is outside every binding. */
int view_to_guest(const struct tracer_view *v, const char *host, char guest[PATH_MAX]);

/* What the walk needs to know about the calling process: procfs's "self" links and the magic
 * links of /proc/PID/{exe,cwd,root} mean the tracee and its view, not the supervisor and the
 * host. */
struct view_proc {
  pid_t tgid, tid;
  /* The guest path of process pid's executable when the tracer knows it (it ran through the
   * view's loader, so /proc/PID/exe names the loader), else NULL. */
  const char *(*guest_exe)(void *ctx, pid_t pid);
  void *ctx;
};

/* Resolve path in the guest: relative to base (an absolute canonical guest directory) unless
 * absolute; "..", ".", symlinks (read on the host, targets taken as guest paths) as the
 * kernel would in a chroot; the last component followed only when follow_last (or a trailing
 * slash asks for it).  guest gets the canonical guest path, host its host path (with a
 * trailing slash kept, for the kernel to check it names a directory).  A component that is
 * missing or not a directory ends the walk: the rest is appended as is, and the kernel fails
 * the call on that component as it would have.  proc may be NULL (no process: procfs links
 * are refused with EACCES when they would lead outside the view).  -1 with *err: ELOOP,
 * ENAMETOOLONG, EACCES (a procfs link outside the view). */
int view_walk(const struct tracer_view *v, const struct view_proc *proc, const char *base,
              const char *path, bool follow_last, char guest[PATH_MAX], char host[PATH_MAX],
              guise_error **err);

/* readlink(2) of the host path of a guest path (as view_walk gave it, not followed), as the
 * guest must see it: procfs's self links and /proc/PID/{exe,cwd,root,fd/N} in guest terms, other
 * symlinks as they are (their targets are guest paths).  The length, or -1 with errno. */
ssize_t view_readlink(const struct tracer_view *v, const struct view_proc *proc, const char *host,
                      char target[PATH_MAX]);

#endif
