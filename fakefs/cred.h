/* Faked credentials: what every traced process believes its uids, gids, supplementary groups
 * and capabilities are.  The kernel's view never changes (the process stays ns-root, or the
 * caller's uid under `guise fake`), so file access keeps working while set*id/get*id/capget
 * answer from this table.
 *
 * State is per thread group (glibc applies set*id to every thread with SIGSETXID and aborts if
 * the threads' results differ; every thread's identical call gets the identical answer because
 * the rules below are idempotent on the state the first thread left).  A thread group seen for
 * the first time inherits from its nearest known ancestor (tracee_parent_tgid, walking up), and
 * starts as root (all ids 0) when none is known.
 *
 * Supplementary groups start "not faked": getgroups runs in the kernel and shows its view (in a
 * single-mapping user namespace: the caller's groups as 65534, or none — what `unshare -r`
 * shows; under `guise fake`, the caller's host groups, as under fakeroot).  After a setgroups
 * by a faked root they are faked, and inherited.
 *
 * Rules follow credentials(7), setresuid(2), setfsuid(2), capabilities(7).  The effective,
 * permitted and inheritable capability sets are modelled: uid changes clear them as the kernel
 * does (permitted kept after PR_SET_KEEPCAPS, which prctl sets in the faked state: setpriv,
 * libcap-ng and daemons drop to a user this way and then still setresgid), capset changes them
 * within the kernel's limits, and exec recomputes them for root or clears them (file
 * capabilities and ambient sets are not modelled; exec is seen at entry, so an exec that fails
 * recomputes them too).  set*uid needs CAP_SETUID, set*gid and setgroups CAP_SETGID in the
 * faked effective set.  Per-thread fsuid is kept per thread group too (glibc does not broadcast
 * setfsuid; a documented difference).  execve does not reset saved ids here (the kernel copies
 * euid to suid and fsuid on exec; no workload was found to depend on it). */
#ifndef GUISE_FAKEFS_CRED_H
#define GUISE_FAKEFS_CRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tracer/tracer.h"
#include "util/error.h"

#define FAKE_CRED_NGROUPS_MAX 65536 /* NGROUPS_MAX of the kernel */

struct fake_cred {
  uint32_t ruid, euid, suid, fsuid;
  uint32_t rgid, egid, sgid, fsgid;
  uint64_t cap_eff, cap_prm, cap_inh; /* capability sets, bit N = capability N */
  bool keepcaps;                      /* PR_SET_KEEPCAPS */
  bool groups_faked;                  /* false: getgroups shows the kernel's view */
  size_t ngroups;
  uint32_t *groups; /* ngroups entries (owned) */
};

struct fakefs_cred_table;

struct fakefs_cred_table *fakefs_cred_table_new(void);
void fakefs_cred_table_free(struct fakefs_cred_table *tab);

/* The faked credentials of the calling process (created on first use, see above).  Never NULL
 * (out of memory aborts).  File handlers use fsuid/fsgid as the owner of files the process
 * creates. */
const struct fake_cred *fakefs_cred_of(struct fakefs_cred_table *tab, struct tracee *t);

/* Register the credential handlers (set*id, get*id, getres*id, setgroups, getgroups, capget,
 * capset, prctl's keepcaps, execve) in p, with tab as their handler_ctx. */
void fakefs_cred_register(struct tracer_policy *p, struct fakefs_cred_table *tab);
/* Whether id is one of the calls fakefs_cred_register installs. */
bool fakefs_cred_handles(enum syscall_id id);
/* A fakefs_fsids_fn (fakefs/files.h) over the table: cred_ctx is the table. */
int fakefs_cred_fsids(void *cred_ctx, struct tracee *t, uint32_t *fsuid, uint32_t *fsgid);
/* A thread group has exited: forget it. */
void fakefs_cred_forget(struct fakefs_cred_table *tab, pid_t tgid);

/* --- the pure transition rules (unit-tested without a tracee) ---
 * Each returns 0 or a positive errno and changes *c only on success.  (uint32_t)-1 means
 * "unchanged" where the syscall allows it. */
int fake_cred_setuid(struct fake_cred *c, uint32_t uid);
int fake_cred_setgid(struct fake_cred *c, uint32_t gid);
int fake_cred_setreuid(struct fake_cred *c, uint32_t ruid, uint32_t euid);
int fake_cred_setregid(struct fake_cred *c, uint32_t rgid, uint32_t egid);
int fake_cred_setresuid(struct fake_cred *c, uint32_t ruid, uint32_t euid, uint32_t suid);
int fake_cred_setresgid(struct fake_cred *c, uint32_t rgid, uint32_t egid, uint32_t sgid);
/* Returns the previous fsuid/fsgid (the syscall's result); changes it only when allowed. */
uint32_t fake_cred_setfsuid(struct fake_cred *c, uint32_t fsuid);
uint32_t fake_cred_setfsgid(struct fake_cred *c, uint32_t fsgid);
int fake_cred_setgroups(struct fake_cred *c, size_t n, const uint32_t *groups);
/* Faked capability sets as capget reports them (bit masks over 64 capabilities). */
void fake_cred_caps(const struct fake_cred *c, uint64_t *effective, uint64_t *permitted,
                    uint64_t *inheritable);
/* capset(2) of the caller's own sets: EPERM beyond what the kernel allows. */
int fake_cred_capset(struct fake_cred *c, uint64_t effective, uint64_t permitted,
                     uint64_t inheritable);
/* execve: capabilities recomputed (full for root, effective only for euid 0; none otherwise),
 * keepcaps cleared. */
void fake_cred_exec(struct fake_cred *c);
/* The initial (root) state; copy with fake_cred_copy, release with fake_cred_clear. */
void fake_cred_init_root(struct fake_cred *c);
int fake_cred_copy(struct fake_cred *dst, const struct fake_cred *src);
void fake_cred_clear(struct fake_cred *c);

#endif
