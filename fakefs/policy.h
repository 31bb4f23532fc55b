/* The complete faking policy: credential handlers (fakefs/cred.c) and file handlers
 * (fakefs/files.c) assembled into one tracer_policy for the supervisor. */
#ifndef GUISE_FAKEFS_POLICY_H
#define GUISE_FAKEFS_POLICY_H

#include "tracer/tracer.h"
#include "util/error.h"

struct fakefs_policy;

/* db_path: the faked-state database (created if missing), or NULL for credentials only.
 * rootfs: host path of the container's root (path hints, device adoption), or NULL (`guise
 * fake`: the host's root).  Files owned by the caller's uid/gid are shown as 0:0. */
int fakefs_policy_new(const char *db_path, const char *rootfs, struct fakefs_policy **out,
                      guise_error **err);
void fakefs_policy_free(struct fakefs_policy *fp);
static inline void fakefs_policy_freep(struct fakefs_policy **fp)
{
  if (*fp != NULL)
    fakefs_policy_free(*fp);
}
#define _cleanup_fakefs_policy_ __attribute__((cleanup(fakefs_policy_freep)))

/* The tracer_policy to pass to tracer_child_install / tracer_serve (owned by fp). */
const struct tracer_policy *fakefs_policy_tracer(struct fakefs_policy *fp);

#endif
