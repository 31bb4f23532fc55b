/* Handlers that fake file ownership, device nodes, privileged xattrs and the stat family on top
 * of the faked-state database (fakefs/db.h), and keep the database right across unlink and
 * rename.  They plug into tracer/tracer.h.
 *
 * Wiring (fakefs/policy.c): fill a struct fakefs_files with fakefs_files_init (database opened
 * read-write, host ids, rootfs, credential table) and call fakefs_files_register(&policy, &files):
 * the handlers get &files as their handler_ctx. */
#ifndef GUISE_FAKEFS_FILES_H
#define GUISE_FAKEFS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fakefs/cred.h"
#include "fakefs/db.h"
#include "tracer/tracer.h"

struct fakefs_files {
  struct fakefs_db *db; /* opened read-write; not owned */
  /* The host ids that the container sees as 0 (single mapping).  A file the supervisor sees
   * owned by host_uid is reported as uid 0; any other host id is unmapped and reported as
   * the overflow id (65534), as the kernel would inside the container. */
  uint32_t host_uid, host_gid;
  /* Host path of the container's root (no trailing slash), stripped from path hints so they
   * read as paths inside the container; NULL keeps host paths. */
  char *rootfs;
  size_t rootfs_len;
  /* Faked credentials (fakefs/cred.h): files a process creates while its faked fsuid/fsgid
   * are not 0 get that owner.  NULL: every caller is 0:0. */
  struct fakefs_cred_table *creds;
  /* The tracee runs in the user namespace that maps host_uid/host_gid to 0, so the kernel's own
   * stat already shows the container's view of files without a row: those calls are CONTINUEd
   * (and everything is, while the database is empty).  false (no user namespace, e.g. the
   * ptrace fallback inside a container): every stat is answered with the ids translated. */
  bool kernel_maps_ids;
  /* Record every faking change in the database's change log (for `guise db why`). */
  bool log_changes;
};

#define FAKEFS_OVERFLOW_ID 65534u

/* Fill f (rootfs may be NULL; it is copied; creds may be NULL).  Does not take ownership of db
 * or creds.  log_changes starts true; kernel_maps_ids starts true only when host_uid and
 * host_gid are 0 — a caller whose tracees run in the single-mapping user namespace (`guise run`)
 * should set it to true: it saves the write-back for every file without a row. */
int fakefs_files_init(struct fakefs_files *f, struct fakefs_db *db, uint32_t host_uid,
                      uint32_t host_gid, const char *rootfs, struct fakefs_cred_table *creds,
                      guise_error **err);
void fakefs_files_destroy(struct fakefs_files *f);

/* Install the handlers for the ownership, mode, device, stat, xattr, unlink/rename and
 * creation calls, and for fsync, fdatasync, sync and syncfs (which commit the pending batch of
 * records first), into p->handlers, with f as their handler_ctx. */
void fakefs_files_register(struct tracer_policy *p, struct fakefs_files *f);

/* Commit the database's pending batch of records (fakefs_db_set_batching); a failure is
 * printed and the records stay in the next batch. */
void fakefs_files_flush(struct fakefs_files *f);

/* --- pieces the handlers are made of, exported for tests and the layer writer --- */

/* Is name an xattr the database fakes (the kernel would refuse or rewrite it in a user
 * namespace): security.capability, security.selinux, trusted.*, system.posix_acl_*. */
bool fakefs_xattr_is_faked(const char *name);

/* Turn a statx the supervisor took (host view) into what the tracee must see: owner mapped
 * (host_uid/host_gid -> 0, anything else -> 65534), then the database row overlaid.  stx must
 * have been asked for STATX_BTIME too (the stale-row check needs it); only fields in
 * stx->stx_mask are changed. */
int fakefs_files_view_statx(struct fakefs_files *f, struct statx *stx, guise_error **err);

/* x86_64 and aarch64 `struct stat` as the kernel writes it for stat/fstat/newfstatat (the
 * layouts differ).  Fills buf (FAKEFS_KSTAT_MAX bytes at most) and returns its size, or -1
 * for an unknown arch. */
#define FAKEFS_KSTAT_MAX 144
int fakefs_kernel_stat(uint32_t arch, const struct statx *stx, void *buf);

/* Apply the kernel's chown(2) rule for the set-user-ID and set-group-ID bits to mode:
 * on a non-directory, a chown that changes (or merely sets, as root does too) the owner
 * clears S_ISUID, and clears S_ISGID when the group-execute bit is set (without group-execute
 * S_ISGID marks mandatory locking and is kept). */
uint32_t fakefs_chown_clear_suid(uint32_t mode);

#endif
