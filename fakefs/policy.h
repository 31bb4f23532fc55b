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
/* `guise fake`'s default, like fakeroot's: the faked state lives in memory for the session,
 * empty or loaded from the database file load_from (fakeroot -i), the host's root as root. */
int fakefs_policy_new_session(const char *load_from, struct fakefs_policy **out, guise_error **err);
/* Write the faked state to path as a SQLite database (fakeroot -s). */
int fakefs_policy_save(struct fakefs_policy *fp, const char *path, guise_error **err);
void fakefs_policy_free(struct fakefs_policy *fp);
static inline void fakefs_policy_freep(struct fakefs_policy **fp)
{
  if (*fp != NULL) fakefs_policy_free(*fp);
}
#define _cleanup_fakefs_policy_ __attribute__((cleanup(fakefs_policy_freep)))

/* The tracer_policy to pass to tracer_child_install / tracer_serve (owned by fp). */
const struct tracer_policy *fakefs_policy_tracer(struct fakefs_policy *fp);

/* Drop the faked state of files outside the rootfs's filesystem (a container's /dev and tmpfs
 * mounts): call when the container is gone.  No-op without a database or rootfs. */
int fakefs_policy_forget_volatile(struct fakefs_policy *fp, guise_error **err);

/* The tracees run in a user namespace that maps the caller's uid and gid to 0 (guise run): the
 * kernel already shows files without a row as the container should see them, so those stat
 * calls need no answer from the supervisor. */
void fakefs_policy_tracees_in_userns(struct fakefs_policy *fp);

/* Which calls a policy from fakefs_policy_new intercepts (with_files: a database was given),
 * without opening anything: for the process that installs the filter, which must not share the
 * supervisor's database connection.  The handlers in *out are never to be called. */
void fakefs_policy_filter_shape(struct tracer_policy *out, bool with_files);

#endif
