/* File-faking handlers (see files.h).
 *
 * Every handler follows the same pattern: read the arguments from tracee memory, check
 * tracee_call_valid, resolve the file the way the tracee would (tracee_resolve), identify its
 * inode with one statx, and consult/update the database.  Where seccomp's CONTINUE would leave
 * us no way to learn the outcome (unlink, rename, creation under a faked owner) the supervisor
 * performs the operation itself on the resolved directory and returns its result.  Calls that
 * need no faking are CONTINUEd so the kernel answers them exactly. */
#include "fakefs/files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/cleanup.h"

#ifndef AT_STATX_SYNC_TYPE
#define AT_STATX_SYNC_TYPE 0x6000
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#define RENAME_WHITEOUT (1 << 2)
#endif
#ifndef XATTR_NAME_MAX
#define XATTR_NAME_MAX 255
#endif
#ifndef XATTR_SIZE_MAX
#define XATTR_SIZE_MAX 65536
#endif
#ifndef XATTR_LIST_MAX
#define XATTR_LIST_MAX 65536
#endif
#define STATX_WANT (STATX_BASIC_STATS | STATX_BTIME)

/* ---------------------------------------------------------------------------------------------
 * Small pieces */

int fakefs_files_init(struct fakefs_files *f, struct fakefs_db *db, uint32_t host_uid,
                      uint32_t host_gid, const char *rootfs, struct fakefs_cred_table *creds,
                      guise_error **err)
{
  *f = (struct fakefs_files){.db = db,
                             .host_uid = host_uid,
                             .host_gid = host_gid,
                             .creds = creds,
                             /* with host ids 0 (e.g. under `unshare -r`) the kernel's view
                              * is already ours */
                             .kernel_maps_ids = host_uid == 0 && host_gid == 0,
                             .log_changes = true};
  if (rootfs != NULL) {
    size_t len = strlen(rootfs);
    while (len > 1 && rootfs[len - 1] == '/')
      len--;
    if (len == 1 && rootfs[0] == '/') len = 0; /* the root itself: nothing to strip */
    f->rootfs = strndup(rootfs, len);
    if (f->rootfs == NULL)
      return guise_fail(err, ENOMEM, "setting up file faking for %s failed", rootfs);
    f->rootfs_len = len;
  }
  return 0;
}

void fakefs_files_destroy(struct fakefs_files *f)
{
  free(f->rootfs);
  f->rootfs = NULL;
}

bool fakefs_xattr_is_faked(const char *name)
{
  return strcmp(name, "security.capability") == 0 || strcmp(name, "security.selinux") == 0 ||
         strncmp(name, "trusted.", 8) == 0 || strcmp(name, "system.posix_acl_access") == 0 ||
         strcmp(name, "system.posix_acl_default") == 0;
}

uint32_t fakefs_chown_clear_suid(uint32_t mode)
{
  if (S_ISDIR(mode)) return mode;
  mode &= ~(uint32_t)S_ISUID;
  if ((mode & S_ISGID) && (mode & S_IXGRP)) mode &= ~(uint32_t)S_ISGID;
  return mode;
}

static void reply_error(struct syscall_reply *r, int errnum)
{
  r->action = SYSCALL_RETURN;
  r->error = errnum ? errnum : EIO;
  r->value = -1;
}

static void reply_value(struct syscall_reply *r, int64_t value)
{
  r->action = SYSCALL_RETURN;
  r->error = 0;
  r->value = value;
}

static int errnum_of(guise_error *e)
{
  return e != NULL && e->errnum != 0 ? e->errnum : EIO;
}

/* Reply with the errno carried by *err and release it. */
static void reply_err(struct syscall_reply *r, guise_error **err)
{
  reply_error(r, errnum_of(*err));
  guise_error_release(err);
}

/* Read a path argument.  NULL is allowed (as "") only where the kernel allows it: with
 * AT_EMPTY_PATH on statx/fstatat (6.11+). */
static int read_path(struct tracee *t, uint64_t addr, char *buf, bool null_ok,
                     struct syscall_reply *r)
{
  if (addr == 0) {
    if (null_ok) {
      buf[0] = '\0';
      return 0;
    }
    reply_error(r, EFAULT);
    return -1;
  }
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read_string(t, addr, buf, PATH_MAX, &err) < 0) {
    reply_error(r, err->errnum == ENAMETOOLONG ? ENAMETOOLONG : EFAULT);
    return -1;
  }
  return 0;
}

/* The tracee's descriptor or path, resolved to an fd of ours; -1 with the reply set. */
static int resolve(struct tracee *t, int dirfd, const char *path, int rflags,
                   struct syscall_reply *r)
{
  _cleanup_error_ guise_error *err = NULL;
  int fd = tracee_resolve(t, dirfd, path, rflags, &err);
  if (fd < 0) reply_error(r, errnum_of(err));
  return fd;
}

static int dup_fd(struct tracee *t, int tfd, struct syscall_reply *r)
{
  _cleanup_error_ guise_error *err = NULL;
  int fd = tracee_dup_fd(t, tfd, &err);
  if (fd < 0) reply_error(r, errnum_of(err));
  return fd;
}

static bool is_opath(int fd)
{
  int fl = fcntl(fd, F_GETFL);
  return fl >= 0 && (fl & O_PATH);
}

/* Whether the tracee's descriptor tfd, of which fd is our copy, is O_PATH (the fd-taking calls
 * fail on those with EBADF).  Our copy is O_PATH whenever the tracee's is, and sometimes when it
 * is not (tracee_dup_fd); the handlers work on O_PATH copies as on resolved paths. */
static bool tracee_opath(const struct syscall_event *ev, int fd, int tfd)
{
  return is_opath(fd) && tracee_fd_is_path(ev->tracee, tfd);
}

static int statx_fd(int fd, unsigned extra_flags, unsigned mask, struct statx *stx)
{
  return statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | extra_flags, mask | STATX_WANT, stx);
}

static uint32_t view_uid(const struct fakefs_files *f, uint32_t host)
{
  return host == f->host_uid ? 0 : FAKEFS_OVERFLOW_ID;
}

static uint32_t view_gid(const struct fakefs_files *f, uint32_t host)
{
  return host == f->host_gid ? 0 : FAKEFS_OVERFLOW_ID;
}

/* "/proc/self/fd/N" for operating on an O_PATH descriptor's inode by path. */
static void fd_path(int fd, char buf[32])
{
  snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* A path hint for the inode fd (or for name inside the directory fd): the supervisor's path
 * with the rootfs prefix stripped.  NULL on failure (hints are best effort). */
static char *hint_of(const struct fakefs_files *f, int fd, const char *name)
{
  char link[32], buf[PATH_MAX];
  fd_path(fd, link);
  ssize_t n = readlink(link, buf, sizeof(buf) - 1);
  if (n < 0) return NULL;
  buf[n] = '\0';
  const char *p = buf;
  if (f->rootfs_len > 0 && strncmp(buf, f->rootfs, f->rootfs_len) == 0 &&
      (buf[f->rootfs_len] == '/' || buf[f->rootfs_len] == '\0')) {
    p = buf + f->rootfs_len;
    if (*p == '\0') p = "/";
  }
  char *out = NULL;
  if (name == NULL || strcmp(name, ".") == 0)
    out = strdup(p);
  else if (asprintf(&out, "%s%s%s", p, strcmp(p, "/") == 0 ? "" : "/", name) < 0)
    out = NULL;
  return out;
}

static void log_change(struct fakefs_files *f, const struct syscall_event *ev,
                       const struct fakefs_key *key, const char *path, const char *what)
{
  if (!f->log_changes) return;
  struct fakefs_change c = {.dev = key->dev,
                            .ino = key->ino,
                            .path = path,
                            .pid = ev->tid,
                            .exe = tracee_exe(ev->tracee),
                            .syscall = syscall_name(ev->id),
                            .what = what};
  _cleanup_error_ guise_error *err = NULL;
  fakefs_db_log_change(f->db, &c, &err); /* the log is diagnostics: never fail a call for it */
}

/* The faked fsuid/fsgid of the caller. */
static void caller_fsids(struct fakefs_files *f, struct tracee *t, uint32_t *uid, uint32_t *gid)
{
  *uid = *gid = 0;
  if (f->creds == NULL) return;
  const struct fake_cred *c = fakefs_cred_of(f->creds, t);
  *uid = c->fsuid;
  *gid = c->fsgid;
}

/* ---------------------------------------------------------------------------------------------
 * stat family: the hot path.  One resolution, one statx, one hash probe, one write. */

int fakefs_files_view_statx(struct fakefs_files *f, struct statx *stx, guise_error **err)
{
  struct fakefs_key key;
  fakefs_key_from_statx(stx, &key);
  if (stx->stx_mask & STATX_UID) stx->stx_uid = view_uid(f, stx->stx_uid);
  if (stx->stx_mask & STATX_GID) stx->stx_gid = view_gid(f, stx->stx_gid);
  struct fake_inode fi;
  int r = fakefs_db_lookup(f->db, &key, &fi, err);
  if (r > 0) fakefs_apply_to_statx(&fi, stx);
  return r;
}

/* The kernel's struct stat on x86_64 (arch/x86/include/uapi/asm/stat.h) ... */
struct kstat_x86_64 {
  uint64_t st_dev, st_ino, st_nlink;
  uint32_t st_mode, st_uid, st_gid, pad0;
  uint64_t st_rdev;
  int64_t st_size, st_blksize, st_blocks;
  uint64_t katime, katime_nsec, kmtime, kmtime_nsec, kctime, kctime_nsec;
  int64_t unused[3];
};
/* ... and on aarch64 (include/uapi/asm-generic/stat.h). */
struct kstat_generic {
  uint64_t st_dev, st_ino;
  uint32_t st_mode, st_nlink, st_uid, st_gid;
  uint64_t st_rdev, pad1;
  int64_t st_size;
  int32_t st_blksize, pad2;
  int64_t st_blocks;
  int64_t katime;
  uint64_t katime_nsec;
  int64_t kmtime;
  uint64_t kmtime_nsec;
  int64_t kctime;
  uint64_t kctime_nsec;
  uint32_t unused4, unused5;
};
_Static_assert(sizeof(struct kstat_x86_64) == 144, "x86_64 struct stat is 144 bytes");
_Static_assert(sizeof(struct kstat_generic) == 128, "generic struct stat is 128 bytes");
_Static_assert(FAKEFS_KSTAT_MAX >= 144, "FAKEFS_KSTAT_MAX too small");

int fakefs_kernel_stat(uint32_t arch, const struct statx *s, void *buf)
{
  uint64_t dev = makedev(s->stx_dev_major, s->stx_dev_minor);
  uint64_t rdev = makedev(s->stx_rdev_major, s->stx_rdev_minor);
  if (arch == AUDIT_ARCH_X86_64) {
    struct kstat_x86_64 k = {
        .st_dev = dev,
        .st_ino = s->stx_ino,
        .st_nlink = s->stx_nlink,
        .st_mode = s->stx_mode,
        .st_uid = s->stx_uid,
        .st_gid = s->stx_gid,
        .st_rdev = rdev,
        .st_size = (int64_t)s->stx_size,
        .st_blksize = s->stx_blksize,
        .st_blocks = (int64_t)s->stx_blocks,
        .katime = (uint64_t)s->stx_atime.tv_sec,
        .katime_nsec = s->stx_atime.tv_nsec,
        .kmtime = (uint64_t)s->stx_mtime.tv_sec,
        .kmtime_nsec = s->stx_mtime.tv_nsec,
        .kctime = (uint64_t)s->stx_ctime.tv_sec,
        .kctime_nsec = s->stx_ctime.tv_nsec,
    };
    memcpy(buf, &k, sizeof(k));
    return sizeof(k);
  }
  if (arch == AUDIT_ARCH_AARCH64) {
    struct kstat_generic k = {
        .st_dev = dev,
        .st_ino = s->stx_ino,
        .st_mode = s->stx_mode,
        .st_nlink = s->stx_nlink,
        .st_uid = s->stx_uid,
        .st_gid = s->stx_gid,
        .st_rdev = rdev,
        .st_size = (int64_t)s->stx_size,
        .st_blksize = (int32_t)s->stx_blksize,
        .st_blocks = (int64_t)s->stx_blocks,
        .katime = s->stx_atime.tv_sec,
        .katime_nsec = s->stx_atime.tv_nsec,
        .kmtime = s->stx_mtime.tv_sec,
        .kmtime_nsec = s->stx_mtime.tv_nsec,
        .kctime = s->stx_ctime.tv_sec,
        .kctime_nsec = s->stx_ctime.tv_nsec,
    };
    memcpy(buf, &k, sizeof(k));
    return sizeof(k);
  }
  return -1;
}

/* Shared tail of the stat family: fd is the file, buf the tracee's result buffer.  A file with
 * no row is CONTINUEd when the kernel already shows the container's view (the tracee runs in
 * the user namespace), so only faked files pay for the write-back. */
static void stat_fd(struct fakefs_files *f, const struct syscall_event *ev, struct syscall_reply *r,
                    int fd, unsigned sync_flags, unsigned mask, uint64_t buf, bool want_statx)
{
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | sync_flags, mask | STATX_WANT, &stx) <
      0) {
    reply_error(r, errno);
    return;
  }
  _cleanup_error_ guise_error *err = NULL;
  int has_row = fakefs_files_view_statx(f, &stx, &err);
  if (has_row < 0) {
    reply_err(r, &err);
    return;
  }
  if (has_row == 0 && f->kernel_maps_ids) return; /* CONTINUE */
  if (!tracee_call_valid(ev->tracee)) return;
  if (want_statx) {
    if (tracee_write(ev->tracee, buf, &stx, sizeof(stx), &err) < 0)
      reply_error(r, EFAULT);
    else
      reply_value(r, 0);
    return;
  }
  unsigned char kbuf[FAKEFS_KSTAT_MAX];
  int n = fakefs_kernel_stat(ev->arch, &stx, kbuf);
  if (n < 0) return; /* unknown layout: let the kernel answer (unfaked) */
  if (tracee_write(ev->tracee, buf, kbuf, (size_t)n, &err) < 0)
    reply_error(r, EFAULT);
  else
    reply_value(r, 0);
}

static bool nothing_to_fake(const struct fakefs_files *f)
{
  return f->kernel_maps_ids && fakefs_db_count(f->db) == 0;
}

static void stat_path(struct fakefs_files *f, const struct syscall_event *ev,
                      struct syscall_reply *r, int dirfd, uint64_t path_addr, int atflags,
                      unsigned mask, uint64_t buf, bool want_statx)
{
  if (nothing_to_fake(f)) return;
  char path[PATH_MAX];
  if (read_path(ev->tracee, path_addr, path, atflags & AT_EMPTY_PATH, r) < 0) return;
  /* Resolving and stat'ing change nothing: the validity check before the write-back in
   * stat_fd is the one that matters (saves an ioctl on the hot path). */
  int rflags = ((atflags & AT_SYMLINK_NOFOLLOW) ? TRACEE_RESOLVE_NOFOLLOW : 0) |
               ((atflags & AT_EMPTY_PATH) ? TRACEE_RESOLVE_EMPTY_PATH : 0);
  _cleanup_close_ int fd = resolve(ev->tracee, dirfd, path, rflags, r);
  if (fd < 0) {
    /* The kernel's own error is exact by definition (and a procfs magic link the resolver
     * refuses is no faked file). */
    *r = (struct syscall_reply){0};
    return;
  }
  stat_fd(f, ev, r, fd, (unsigned)atflags & AT_STATX_SYNC_TYPE, mask, buf, want_statx);
}

static void h_stat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  stat_path(ctx, ev, r, AT_FDCWD, ev->args[0], 0, 0, ev->args[1], false);
}

static void h_lstat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  stat_path(ctx, ev, r, AT_FDCWD, ev->args[0], AT_SYMLINK_NOFOLLOW, 0, ev->args[1], false);
}

static void h_newfstatat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  int flags = (int)ev->args[3];
  if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH)) {
    reply_error(r, EINVAL);
    return;
  }
  stat_path(ctx, ev, r, (int)ev->args[0], ev->args[1], flags, 0, ev->args[2], false);
}

static void h_statx(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  int flags = (int)ev->args[2];
  unsigned mask = (unsigned)ev->args[3];
  if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE)) ||
      (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE || (mask & STATX__RESERVED)) {
    reply_error(r, EINVAL);
    return;
  }
  stat_path(ctx, ev, r, (int)ev->args[0], ev->args[1], flags, mask, ev->args[4], true);
}

static void h_fstat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct fakefs_files *f = ctx;
  if (nothing_to_fake(f)) return;
  _cleanup_close_ int fd = dup_fd(ev->tracee, (int)ev->args[0], r);
  if (fd < 0) {
    *r = (struct syscall_reply){0}; /* EBADF and friends: the kernel's */
    return;
  }
  stat_fd(f, ev, r, fd, 0, 0, ev->args[1], false);
}

/* ---------------------------------------------------------------------------------------------
 * chown family */

static void chown_fd(struct fakefs_files *f, const struct syscall_event *ev,
                     struct syscall_reply *r, int fd, uint32_t uid, uint32_t gid)
{
  struct statx stx;
  if (statx_fd(fd, 0, 0, &stx) < 0) {
    reply_error(r, errno);
    return;
  }
  struct fakefs_key key;
  fakefs_key_from_statx(&stx, &key);
  _cleanup_error_ guise_error *err = NULL;
  struct fake_inode fi;
  int has = fakefs_db_lookup(f->db, &key, &fi, &err);
  if (has < 0) {
    reply_err(r, &err);
    return;
  }
  if (!has) fi = (struct fake_inode){.key = key};
  uint32_t disk_uid = view_uid(f, stx.stx_uid), disk_gid = view_gid(f, stx.stx_gid);
  uint32_t old_uid = (fi.fields & FAKEFS_FAKE_UID) ? fi.uid : disk_uid;
  uint32_t old_gid = (fi.fields & FAKEFS_FAKE_GID) ? fi.gid : disk_gid;
  uint32_t new_uid = uid == (uint32_t)-1 ? old_uid : uid;
  uint32_t new_gid = gid == (uint32_t)-1 ? old_gid : gid;
  if (!has && new_uid == disk_uid && new_gid == disk_gid) {
    /* The common case (dpkg chowns every file to root): nothing to record, only the kernel's
     * clearing of set-id bits and capabilities to reproduce. */
    if (!S_ISDIR(stx.stx_mode) && fchownat(fd, "", (uid_t)-1, (gid_t)-1, AT_EMPTY_PATH) < 0) {
      /* not ours on disk: nothing to clear there */
    }
    reply_value(r, 0);
    return;
  }
  _cleanup_free_ char *hint = NULL;
  if (fakefs_db_begin(f->db, &err) < 0) {
    reply_err(r, &err);
    return;
  }
  if (!S_ISDIR(stx.stx_mode)) {
    /* chown(2) drops set-user-ID, set-group-ID (with group-execute) and file capabilities of a
     * non-directory, for root too.  A real chown to the unchanged owner makes the kernel do it
     * on disk; the faked mode and the faked capability follow. */
    if (fchownat(fd, "", (uid_t)-1, (gid_t)-1, AT_EMPTY_PATH) < 0) {
      /* not ours on disk (a host file mounted in): nothing to clear there */
    }
    if (fakefs_db_xattr_remove(f->db, &key, "security.capability", &err) < 0) goto fail;
    if (has && (has = fakefs_db_lookup(f->db, &key, &fi, &err)) < 0) goto fail;
    if (!has) fi = (struct fake_inode){.key = key};
    if (fi.fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE))
      fi.mode = fakefs_chown_clear_suid(fi.mode);
  }
  fi.uid = new_uid;
  fi.gid = new_gid;
  fi.fields = (fi.fields & ~(FAKEFS_FAKE_UID | FAKEFS_FAKE_GID)) |
              (new_uid != disk_uid ? FAKEFS_FAKE_UID : 0) |
              (new_gid != disk_gid ? FAKEFS_FAKE_GID : 0);
  hint = fi.fields ? hint_of(f, fd, NULL) : NULL;
  if (fakefs_db_put(f->db, &fi, hint, &err) < 0) goto fail;
  if (old_uid != new_uid || old_gid != new_gid) {
    char what[96];
    snprintf(what, sizeof(what), "owner %u:%u -> %u:%u", old_uid, old_gid, new_uid, new_gid);
    log_change(f, ev, &key, hint, what);
  }
  if (fakefs_db_commit(f->db, &err) < 0) goto fail;
  reply_value(r, 0);
  return;
fail:
  fakefs_db_rollback(f->db);
  reply_err(r, &err);
}

static void chown_path(struct fakefs_files *f, const struct syscall_event *ev,
                       struct syscall_reply *r, int dirfd, uint64_t path_addr, uint32_t uid,
                       uint32_t gid, int atflags)
{
  if (atflags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) {
    reply_error(r, EINVAL);
    return;
  }
  char path[PATH_MAX];
  if (read_path(ev->tracee, path_addr, path, false, r) < 0) return;
  if (!tracee_call_valid(ev->tracee)) return;
  int rflags = ((atflags & AT_SYMLINK_NOFOLLOW) ? TRACEE_RESOLVE_NOFOLLOW : 0) |
               ((atflags & AT_EMPTY_PATH) ? TRACEE_RESOLVE_EMPTY_PATH : 0);
  _cleanup_close_ int fd = resolve(ev->tracee, dirfd, path, rflags, r);
  if (fd >= 0) chown_fd(f, ev, r, fd, uid, gid);
}

static void h_chown(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  chown_path(ctx, ev, r, AT_FDCWD, ev->args[0], (uint32_t)ev->args[1], (uint32_t)ev->args[2], 0);
}

static void h_lchown(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  chown_path(ctx, ev, r, AT_FDCWD, ev->args[0], (uint32_t)ev->args[1], (uint32_t)ev->args[2],
             AT_SYMLINK_NOFOLLOW);
}

static void h_fchownat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  chown_path(ctx, ev, r, (int)ev->args[0], ev->args[1], (uint32_t)ev->args[2],
             (uint32_t)ev->args[3], (int)ev->args[4]);
}

static void h_fchown(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  _cleanup_close_ int fd = dup_fd(ev->tracee, (int)ev->args[0], r);
  if (fd < 0) return;
  if (tracee_opath(ev, fd, (int)ev->args[0])) {
    reply_error(r, EBADF);
    return;
  }
  chown_fd(ctx, ev, r, fd, (uint32_t)ev->args[1], (uint32_t)ev->args[2]);
}

/* ---------------------------------------------------------------------------------------------
 * chmod family: the kernel does it (we own the files) unless the inode has a row, or its owner
 * is not ours on disk (a host directory mounted in, where the kernel would say EPERM). */

/* force: answer even where the kernel could run the call itself (for a mode change that is
 * the side effect of another call, e.g. setting an access ACL). */
static void chmod_fd(struct fakefs_files *f, const struct syscall_event *ev,
                     struct syscall_reply *r, int fd, uint32_t mode, bool nofollow, bool force)
{
  mode &= 07777;
  struct statx stx;
  if (statx_fd(fd, 0, 0, &stx) < 0) {
    reply_error(r, errno);
    return;
  }
  struct fakefs_key key;
  fakefs_key_from_statx(&stx, &key);
  _cleanup_error_ guise_error *err = NULL;
  struct fake_inode fi;
  int has = fakefs_db_lookup(f->db, &key, &fi, &err);
  if (has < 0) {
    reply_err(r, &err);
    return;
  }
  bool ours = stx.stx_uid == f->host_uid;
  if (!has && ours && !force) return; /* CONTINUE */
  if (S_ISLNK(stx.stx_mode)) {
    if (nofollow) {
      reply_error(r, EOPNOTSUPP); /* the kernel refuses modes on symlinks */
      return;
    }
  }
  if (!has) fi = (struct fake_inode){.key = key};
  char link[32];
  fd_path(fd, link);
  bool on_disk = fchmodat(AT_FDCWD, link, (mode_t)mode, 0) == 0;
  if (!on_disk && errno != EPERM) {
    reply_error(r, errno);
    return;
  }
  /* The disk may have kept less than asked (e.g. S_ISGID dropped for a group not ours). */
  struct statx after;
  if (on_disk && statx_fd(fd, 0, 0, &after) == 0 && (after.stx_mode & 07777) == mode)
    fi.fields &= ~FAKEFS_FAKE_MODE;
  else
    fi.fields |= FAKEFS_FAKE_MODE;
  uint32_t old = (fi.fields & FAKEFS_FAKE_TYPE) ? fi.mode : stx.stx_mode;
  uint32_t type = (fi.fields & FAKEFS_FAKE_TYPE) ? fi.mode & S_IFMT : stx.stx_mode & S_IFMT;
  fi.mode = type | mode;
  _cleanup_free_ char *hint = hint_of(f, fd, NULL);
  if (fakefs_db_put(f->db, &fi, hint, &err) < 0) {
    reply_err(r, &err);
    return;
  }
  if ((old & 07777) != mode) {
    char what[64];
    snprintf(what, sizeof(what), "mode %04o -> %04o%s", old & 07777, mode,
             on_disk ? "" : " (faked)");
    log_change(f, ev, &key, hint, what);
  }
  reply_value(r, 0);
}

static void chmod_path(struct fakefs_files *f, const struct syscall_event *ev,
                       struct syscall_reply *r, int dirfd, uint64_t path_addr, uint32_t mode,
                       int atflags)
{
  if (atflags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) {
    reply_error(r, EINVAL);
    return;
  }
  char path[PATH_MAX];
  if (read_path(ev->tracee, path_addr, path, false, r) < 0) return;
  if (!tracee_call_valid(ev->tracee)) return;
  int rflags = ((atflags & AT_SYMLINK_NOFOLLOW) ? TRACEE_RESOLVE_NOFOLLOW : 0) |
               ((atflags & AT_EMPTY_PATH) ? TRACEE_RESOLVE_EMPTY_PATH : 0);
  _cleanup_close_ int fd = resolve(ev->tracee, dirfd, path, rflags, r);
  if (fd >= 0) chmod_fd(f, ev, r, fd, mode, atflags & AT_SYMLINK_NOFOLLOW, false);
}

static void h_chmod(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  chmod_path(ctx, ev, r, AT_FDCWD, ev->args[0], (uint16_t)ev->args[1], 0);
}

static void h_fchmodat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  /* fchmodat has no flags argument (glibc emulates AT_SYMLINK_NOFOLLOW around it) */
  chmod_path(ctx, ev, r, (int)ev->args[0], ev->args[1], (uint16_t)ev->args[2], 0);
}

static void h_fchmodat2(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  chmod_path(ctx, ev, r, (int)ev->args[0], ev->args[1], (uint16_t)ev->args[2], (int)ev->args[3]);
}

static void h_fchmod(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  _cleanup_close_ int fd = dup_fd(ev->tracee, (int)ev->args[0], r);
  if (fd < 0) return;
  if (tracee_opath(ev, fd, (int)ev->args[0])) {
    reply_error(r, EBADF);
    return;
  }
  chmod_fd(ctx, ev, r, fd, (uint16_t)ev->args[1], false, false);
}

/* ---------------------------------------------------------------------------------------------
 * Creation: device placeholders, and anything created while the faked fsuid/fsgid is not 0. */

/* The last inode a creating handler made while its caller was interrupted (the notification no
 * longer valid, so our reply is lost), so that the same call delivered again after the signal
 * (SA_RESTART) is answered as the first one was instead of with EEXIST.  A call that was still
 * pending when we finished clears it: a later identical call then fails like the kernel's. */
static struct {
  pid_t tid;
  uint64_t dev, ino;
} last_created;

static void remember_created(pid_t tid, const struct fakefs_key *key)
{
  last_created.tid = tid;
  last_created.dev = key->dev;
  last_created.ino = key->ino;
}

/* Did this thread's previous (interrupted) call create parent/name? */
static bool created_by_retry(pid_t tid, int parent, const char *name)
{
  struct statx stx;
  if (last_created.tid != tid || statx(parent, name, AT_SYMLINK_NOFOLLOW, STATX_INO, &stx) < 0)
    return false;
  return stx.stx_ino == last_created.ino &&
         makedev(stx.stx_dev_major, stx.stx_dev_minor) == last_created.dev;
}

/* Owner of a new file: the caller's faked fsuid, and its fsgid unless the directory is
 * set-group-ID, when the file takes the directory's (faked) group. */
static int new_owner(struct fakefs_files *f, struct tracee *t, int parent, uint32_t *uid,
                     uint32_t *gid, guise_error **err)
{
  caller_fsids(f, t, uid, gid);
  struct statx stx;
  if (fakefs_db_count(f->db) == 0 && *uid == 0 && *gid == 0)
    return 0; /* no faked group anywhere: a set-group-ID directory's group is 0 too */
  if (statx_fd(parent, 0, 0, &stx) < 0)
    return guise_fail_errno(err, "statx of the parent directory failed");
  if (!(stx.stx_mode & S_ISGID)) return 0;
  struct fakefs_key key;
  struct fake_inode fi;
  fakefs_key_from_statx(&stx, &key);
  int has = fakefs_db_lookup(f->db, &key, &fi, err);
  if (has < 0) return -1;
  *gid = has && (fi.fields & FAKEFS_FAKE_GID) ? fi.gid : view_gid(f, stx.stx_gid);
  return 0;
}

/* Record the owner of a file just created as parent/name (fd: the file, or -1). */
static int record_new(struct fakefs_files *f, const struct syscall_event *ev, int parent,
                      const char *name, uint32_t uid, uint32_t gid, const struct fake_inode *dev,
                      guise_error **err)
{
  struct statx stx;
  if (statx(parent, name, AT_SYMLINK_NOFOLLOW, STATX_WANT, &stx) < 0)
    return guise_fail_errno(err, "statx of new file %s failed", name);
  struct fake_inode fi = {0};
  if (dev != NULL) fi = *dev;
  fakefs_key_from_statx(&stx, &fi.key);
  if (tracee_call_valid(ev->tracee))
    last_created.tid = 0;
  else
    remember_created(ev->tid, &fi.key);
  uint32_t disk_uid = view_uid(f, stx.stx_uid), disk_gid = view_gid(f, stx.stx_gid);
  fi.uid = uid;
  fi.gid = gid;
  fi.fields |= (uid != disk_uid ? FAKEFS_FAKE_UID : 0) | (gid != disk_gid ? FAKEFS_FAKE_GID : 0);
  if (fi.fields == 0) return 0;
  _cleanup_free_ char *hint = hint_of(f, parent, name);
  if (fakefs_db_put(f->db, &fi, hint, err) < 0) return -1;
  char what[128];
  if (dev != NULL)
    snprintf(what, sizeof(what), "created %s %u,%u mode %04o owner %u:%u",
             S_ISCHR(dev->mode) ? "char device" : "block device", major(dev->rdev),
             minor(dev->rdev), dev->mode & 07777, uid, gid);
  else
    snprintf(what, sizeof(what), "created, owner %u:%u", uid, gid);
  log_change(f, ev, &fi.key, hint, what);
  return 0;
}

static bool has_trailing_slash(const char *path)
{
  size_t n = strlen(path);
  return n > 0 && path[n - 1] == '/';
}

/* Resolve the parent of a path argument; -1 with the reply set. */
static int parent_of(const struct syscall_event *ev, struct syscall_reply *r, int dirfd,
                     const char *path, char **name)
{
  _cleanup_error_ guise_error *err = NULL;
  int fd = tracee_resolve_parent(ev->tracee, dirfd, path, name, &err);
  if (fd < 0) reply_error(r, errnum_of(err));
  return fd;
}

/* Cheap test before any memory is read: is there anything to record for a creation? */
static bool creation_needs_us(struct fakefs_files *f, struct tracee *t)
{
  uint32_t uid, gid;
  caller_fsids(f, t, &uid, &gid);
  /* With rows in the database a set-group-ID directory may carry a faked group. */
  return uid != 0 || gid != 0 || fakefs_db_count(f->db) > 0;
}

/* What every creating handler starts with: the path read and resolved to parent/name, the
 * owner the new file gets, and the caller's umask.  Returns 1 to go on creating, 0 when the
 * reply is set (an error, or CONTINUE when with_root is false and the owner would be 0:0). */
struct creation {
  int parent; /* O_PATH of the directory (owned by the caller of begin_creation) */
  char *name; /* malloc'd */
  uint32_t uid, gid;
  uint32_t umask;
};

static int begin_creation(struct fakefs_files *f, const struct syscall_event *ev,
                          struct syscall_reply *r, int dirfd, uint64_t path_addr, bool with_root,
                          struct creation *c)
{
  char path[PATH_MAX];
  if (read_path(ev->tracee, path_addr, path, false, r) < 0 || !tracee_call_valid(ev->tracee))
    return 0;
  c->parent = parent_of(ev, r, dirfd, path, &c->name);
  if (c->parent < 0) return 0;
  bool dot = strcmp(c->name, ".") == 0 || strcmp(c->name, "..") == 0;
  bool is_mkdir = ev->id == SYSCALL_MKDIR || ev->id == SYSCALL_MKDIRAT;
  if (dot || (has_trailing_slash(path) && !is_mkdir)) {
    /* as filename_create(): an existing name fails with EEXIST; a trailing slash on a new
     * name is only good for mkdir */
    struct stat st;
    reply_error(r, dot || fstatat(c->parent, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? EEXIST
                                                                                     : ENOENT);
    return 0;
  }
  _cleanup_error_ guise_error *err = NULL;
  if (new_owner(f, ev->tracee, c->parent, &c->uid, &c->gid, &err) < 0) {
    reply_err(r, &err);
    return 0;
  }
  if (!with_root && c->uid == 0 && c->gid == 0) return 0; /* CONTINUE: nothing to record */
  int um = tracee_umask(ev->tracee, &err);
  if (um < 0) {
    reply_err(r, &err);
    return 0;
  }
  c->umask = (uint32_t)um;
  return 1;
}

static void end_creation(struct creation *c)
{
  if (c->parent >= 0) close(c->parent);
  free(c->name);
}

/* The reply for a creation the supervisor made (rc and errnum: its result): record the new
 * file's owner (and device), or undo the creation when that fails. */
static void finish_creation(struct fakefs_files *f, const struct syscall_event *ev,
                            struct syscall_reply *r, const struct creation *c, int rc, int errnum,
                            const struct fake_inode *dev, int unlink_flags)
{
  if (rc < 0) {
    if (errnum == EEXIST && created_by_retry(ev->tid, c->parent, c->name))
      reply_value(r, 0);
    else
      reply_error(r, errnum);
    return;
  }
  _cleanup_error_ guise_error *err = NULL;
  if (record_new(f, ev, c->parent, c->name, c->uid, c->gid, dev, &err) < 0) {
    unlinkat(c->parent, c->name, unlink_flags);
    reply_err(r, &err);
    return;
  }
  reply_value(r, 0);
}

static void do_mknod(struct fakefs_files *f, const struct syscall_event *ev,
                     struct syscall_reply *r, int dirfd, uint64_t path_addr, uint32_t mode,
                     uint32_t kdev)
{
  uint32_t type = mode & S_IFMT;
  bool device = type == S_IFCHR || type == S_IFBLK;
  if (type == S_IFCHR && kdev == 0)
    device = false; /* an overlay whiteout: allowed unprivileged since 5.8 */
  if (!device && type != 0 && type != S_IFREG && type != S_IFIFO && type != S_IFSOCK)
    return; /* the kernel refuses it (EINVAL/EPERM) */
  if (!device && !creation_needs_us(f, ev->tracee)) return;
  struct creation c = {.parent = -1};
  if (begin_creation(f, ev, r, dirfd, path_addr, device, &c) > 0) {
    uint32_t perm = mode & 07777 & ~c.umask;
    if (device) {
      /* An empty regular file stands in for the device; its permission bits follow the faked
       * ones (without set-id bits), so what opens it later behaves as with the permissions
       * the package asked for. */
      int fd = openat(c.parent, c.name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0);
      int errnum = errno;
      if (fd >= 0) {
        if (fchmod(fd, perm & 0777) < 0) {
          /* the supervisor owns what it just created: cannot fail in practice */
        }
        close(fd);
      }
      struct fake_inode dev = {.fields = FAKEFS_FAKE_TYPE | FAKEFS_FAKE_MODE,
                               .mode = type | perm,
                               .rdev = makedev(major(kdev), minor(kdev))};
      finish_creation(f, ev, r, &c, fd, errnum, &dev, 0);
    } else {
      mode_t old = umask(0);
      int rc = mknodat(c.parent, c.name, (type ? type : S_IFREG) | perm, 0);
      int errnum = errno;
      umask(old);
      finish_creation(f, ev, r, &c, rc, errnum, NULL, 0);
    }
  }
  end_creation(&c);
}

static void h_mknod(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_mknod(ctx, ev, r, AT_FDCWD, ev->args[0], (uint16_t)ev->args[1], (uint32_t)ev->args[2]);
}

static void h_mknodat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_mknod(ctx, ev, r, (int)ev->args[0], ev->args[1], (uint16_t)ev->args[2], (uint32_t)ev->args[3]);
}

/* open without O_CREAT, by a faked root, of a file the caller owns on disk whose mode refuses
 * the owner what is asked (dpkg reopens every unpacked file for writing to sync it, 0440 ones
 * included): root's DAC override, which a user namespace gives and running without one does
 * not.  The supervisor opens the file with the owner bits added for the moment and hands the
 * descriptor over.  Only reached where every open is intercepted (a tracer view): the filter
 * of the other modes traps opens with O_CREAT only. */
static void dac_override_open(struct fakefs_files *f, const struct syscall_event *ev,
                              struct syscall_reply *r, int dirfd, uint64_t path_addr,
                              uint64_t flags)
{
  uint32_t fsuid, fsgid;
  caller_fsids(f, ev->tracee, &fsuid, &fsgid);
  if (fsuid != 0 || (flags & O_PATH) || path_addr == 0) return;
  char path[PATH_MAX];
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read_string(ev->tracee, path_addr, path, sizeof(path), &err) < 0 || path[0] == '\0')
    return; /* the tracee's own call reports it */
  if (!tracee_call_valid(ev->tracee)) return;
  int rflags = (flags & O_NOFOLLOW) ? TRACEE_RESOLVE_NOFOLLOW : 0;
  _cleanup_close_ int pfd = tracee_resolve(ev->tracee, dirfd, path, rflags, &err);
  struct stat st;
  if (pfd < 0 || fstat(pfd, &st) < 0 || st.st_uid != f->host_uid) return;
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return;
  mode_t need = 0;
  if ((flags & O_ACCMODE) != O_WRONLY) need |= S_IRUSR;
  if ((flags & O_ACCMODE) != O_RDONLY) need |= S_IWUSR;
  if ((st.st_mode & need) == need) return; /* the common case: the kernel's own check passes */
  char link[32];
  fd_path(pfd, link);
  if (chmod(link, (st.st_mode & 07777) | need) < 0) return;
  int fd = open(link, (int)(flags & ~(uint64_t)(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
  int saved = errno;
  (void)chmod(link, st.st_mode & 07777); /* ours: cannot fail but for a vanished file */
  if (fd < 0) {
    reply_error(r, saved);
    return;
  }
  r->action = SYSCALL_RETURN_FD;
  r->value = fd; /* the backend installs and closes it */
  r->error = 0;
  r->fd_cloexec = flags & O_CLOEXEC;
}

/* open/openat/openat2/creat with O_CREAT: create the file ourselves (O_EXCL tells whether it is
 * new), record its owner, and hand the descriptor to the tracee (SYSCALL_RETURN_FD).  An
 * existing file is left to the tracee's own call (CONTINUE). */
static void do_open(struct fakefs_files *f, const struct syscall_event *ev, struct syscall_reply *r,
                    int dirfd, uint64_t path_addr, uint64_t flags, uint32_t mode)
{
  if (!(flags & O_CREAT) && (flags & __O_TMPFILE) != __O_TMPFILE) {
    dac_override_open(f, ev, r, dirfd, path_addr, flags);
    return;
  }
  if ((flags & O_PATH) || (flags & __O_TMPFILE) == __O_TMPFILE)
    return; /* no creation (O_TMPFILE files have no name; their owner is not recorded) */
  if (!creation_needs_us(f, ev->tracee)) return;
  char path[PATH_MAX];
  if (read_path(ev->tracee, path_addr, path, false, r) < 0) return;
  if (!tracee_call_valid(ev->tracee)) return;
  size_t len = strlen(path);
  if (len == 0 || path[len - 1] == '/') return; /* the kernel fails it (ENOENT/EISDIR) */
  _cleanup_free_ char *name = NULL;
  _cleanup_close_ int parent = parent_of(ev, r, dirfd, path, &name);
  if (parent < 0) {
    *r = (struct syscall_reply){0}; /* let the tracee's own call report it */
    return;
  }
  uint32_t uid, gid;
  _cleanup_error_ guise_error *err = NULL;
  if (new_owner(f, ev->tracee, parent, &uid, &gid, &err) < 0 || (uid == 0 && gid == 0)) return;
  int umask_ = tracee_umask(ev->tracee, &err);
  if (umask_ < 0) return;
  int oflags = (int)(flags & ~(uint64_t)O_CLOEXEC) | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  mode_t old = umask(0);
  int fd = openat(parent, name, oflags, (mode_t)(mode & 07777 & ~(uint32_t)umask_));
  int saved = errno;
  umask(old);
  if (fd < 0) {
    if (saved == EEXIST && created_by_retry(ev->tid, parent, name)) {
      fd = openat(parent, name, (oflags & ~(O_CREAT | O_EXCL | O_TRUNC)), 0);
      if (fd >= 0) goto install;
    }
    if (saved == EEXIST && (flags & O_EXCL)) reply_error(r, EEXIST);
    return; /* exists (or fails): the tracee's own open does what the kernel does */
  }
  if (record_new(f, ev, parent, name, uid, gid, NULL, &err) < 0) {
    close(fd);
    unlinkat(parent, name, 0);
    reply_err(r, &err);
    return;
  }
install:
  r->action = SYSCALL_RETURN_FD;
  r->value = fd; /* the backend installs and closes it */
  r->error = 0;
  r->fd_cloexec = flags & O_CLOEXEC;
}

static void h_open(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_open(ctx, ev, r, AT_FDCWD, ev->args[0], ev->args[1], (uint16_t)ev->args[2]);
}

static void h_creat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_open(ctx, ev, r, AT_FDCWD, ev->args[0], O_CREAT | O_WRONLY | O_TRUNC, (uint16_t)ev->args[1]);
}

static void h_openat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_open(ctx, ev, r, (int)ev->args[0], ev->args[1], (uint32_t)ev->args[2], (uint16_t)ev->args[3]);
}

static void h_openat2(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct {
    uint64_t flags, mode, resolve;
  } how;
  if (ev->args[3] != sizeof(how))
    return; /* a larger struct (future fields) or a bad size: the kernel decides */
  if (!creation_needs_us(ctx, ev->tracee)) return;
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read(ev->tracee, ev->args[2], &how, sizeof(how), &err) < 0) return;
  if (how.resolve != 0)
    return; /* RESOLVE_* restrictions: left to the kernel; the owner is not recorded */
  do_open(ctx, ev, r, (int)ev->args[0], ev->args[1], how.flags, (uint32_t)how.mode);
}

static void do_mkdir(struct fakefs_files *f, const struct syscall_event *ev,
                     struct syscall_reply *r, int dirfd, uint64_t path_addr, uint32_t mode)
{
  if (!creation_needs_us(f, ev->tracee)) return;
  struct creation c = {.parent = -1};
  if (begin_creation(f, ev, r, dirfd, path_addr, false, &c) > 0) {
    mode_t old = umask(0);
    int rc = mkdirat(c.parent, c.name, (mode_t)(mode & 01777 & ~c.umask));
    int errnum = errno;
    umask(old);
    finish_creation(f, ev, r, &c, rc, errnum, NULL, AT_REMOVEDIR);
  }
  end_creation(&c);
}

static void h_mkdir(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_mkdir(ctx, ev, r, AT_FDCWD, ev->args[0], (uint16_t)ev->args[1]);
}

static void h_mkdirat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_mkdir(ctx, ev, r, (int)ev->args[0], ev->args[1], (uint16_t)ev->args[2]);
}

static void do_symlink(struct fakefs_files *f, const struct syscall_event *ev,
                       struct syscall_reply *r, uint64_t target_addr, int dirfd, uint64_t path_addr)
{
  if (!creation_needs_us(f, ev->tracee)) return;
  char target[PATH_MAX];
  if (read_path(ev->tracee, target_addr, target, false, r) < 0) return;
  if (target[0] == '\0') {
    reply_error(r, ENOENT);
    return;
  }
  struct creation c = {.parent = -1};
  if (begin_creation(f, ev, r, dirfd, path_addr, false, &c) > 0) {
    int rc = symlinkat(target, c.parent, c.name);
    finish_creation(f, ev, r, &c, rc, errno, NULL, 0);
  }
  end_creation(&c);
}

static void h_symlink(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_symlink(ctx, ev, r, ev->args[0], AT_FDCWD, ev->args[1]);
}

static void h_symlinkat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_symlink(ctx, ev, r, ev->args[0], (int)ev->args[1], ev->args[2]);
}

/* ---------------------------------------------------------------------------------------------
 * Durability barriers.  The supervisor commits its records in batches (fakefs/db.h); when a
 * program makes its files durable (dpkg fsyncs each file it unpacked before renaming it into
 * place, and its status file before moving on), their faked owners must be durable too, or a
 * killed supervisor would leave a package that dpkg counts as unpacked without them. */

void fakefs_files_flush(struct fakefs_files *f)
{
  _cleanup_error_ guise_error *err = NULL;
  if (f->db != NULL && fakefs_db_flush(f->db, &err) < 0)
    fprintf(stderr, "guise: %s\n", err->msg); /* the records stay in the next batch */
}

static void h_sync(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  (void)ev;
  (void)r; /* then the call itself runs */
  fakefs_files_flush(ctx);
}

/* ---------------------------------------------------------------------------------------------
 * unlink and rename: done by the supervisor when a row is involved, so that the row can be
 * dropped exactly when the inode's last link goes (its link count, read on a descriptor held
 * across the call, is then 0). */

static void do_unlink(struct fakefs_files *f, const struct syscall_event *ev,
                      struct syscall_reply *r, int dirfd, uint64_t path_addr, int flags)
{
  if (flags & ~AT_REMOVEDIR) {
    reply_error(r, EINVAL);
    return;
  }
  if (fakefs_db_count(f->db) == 0) return;
  char path[PATH_MAX];
  if (read_path(ev->tracee, path_addr, path, false, r) < 0) return;
  if (!tracee_call_valid(ev->tracee)) return;
  _cleanup_free_ char *name = NULL;
  _cleanup_close_ int parent = parent_of(ev, r, dirfd, path, &name);
  if (parent < 0) {
    *r = (struct syscall_reply){0};
    return;
  }
  if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return; /* the kernel's errors (EINVAL, ENOTEMPTY, EISDIR) */
  _cleanup_close_ int victim = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (victim < 0) return;
  struct statx stx;
  if (statx_fd(victim, 0, 0, &stx) < 0) return;
  struct fakefs_key key;
  struct fake_inode fi;
  fakefs_key_from_statx(&stx, &key);
  _cleanup_error_ guise_error *err = NULL;
  int has = fakefs_db_lookup(f->db, &key, &fi, &err);
  if (has <= 0) return; /* no row to maintain: the kernel does it */
  if (has_trailing_slash(path) && !S_ISDIR(stx.stx_mode)) {
    reply_error(r, ENOTDIR);
    return;
  }
  if (has_trailing_slash(path) && !(flags & AT_REMOVEDIR)) {
    reply_error(r, EISDIR);
    return;
  }
  if (unlinkat(parent, name, flags) < 0) {
    reply_error(r, errno);
    return;
  }
  if (statx_fd(victim, 0, 0, &stx) == 0 && stx.stx_nlink == 0) {
    _cleanup_free_ char *hint = NULL;
    fakefs_db_get_path_hint(f->db, &key, &hint, NULL);
    if (fakefs_db_forget(f->db, &key, &err) == 0)
      log_change(f, ev, &key, hint, "last link removed, row dropped");
  }
  reply_value(r, 0);
}

static void h_unlink(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_unlink(ctx, ev, r, AT_FDCWD, ev->args[0], 0);
}

static void h_rmdir(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_unlink(ctx, ev, r, AT_FDCWD, ev->args[0], AT_REMOVEDIR);
}

static void h_unlinkat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_unlink(ctx, ev, r, (int)ev->args[0], ev->args[1], (int)ev->args[2]);
}

/* Identity and row of parent/name, if it exists. */
struct named {
  int fd; /* O_PATH of the inode, -1 when absent */
  struct statx stx;
  struct fakefs_key key;
  bool has_row;
};

static void look_at(struct fakefs_files *f, int parent, const char *name, struct named *n)
{
  n->fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  n->has_row = false;
  if (n->fd < 0 || statx_fd(n->fd, 0, 0, &n->stx) < 0) return;
  fakefs_key_from_statx(&n->stx, &n->key);
  struct fake_inode fi;
  n->has_row = fakefs_db_lookup(f->db, &n->key, &fi, NULL) > 0;
}

static void do_rename(struct fakefs_files *f, const struct syscall_event *ev,
                      struct syscall_reply *r, int olddirfd, uint64_t old_addr, int newdirfd,
                      uint64_t new_addr, unsigned flags)
{
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) ||
      ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) ||
      ((flags & RENAME_WHITEOUT) && (flags & RENAME_EXCHANGE))) {
    reply_error(r, EINVAL);
    return;
  }
  if (fakefs_db_count(f->db) == 0) return;
  char oldpath[PATH_MAX], newpath[PATH_MAX];
  if (read_path(ev->tracee, old_addr, oldpath, false, r) < 0 ||
      read_path(ev->tracee, new_addr, newpath, false, r) < 0)
    return;
  if (!tracee_call_valid(ev->tracee)) return;
  _cleanup_free_ char *oldname = NULL, *newname = NULL;
  _cleanup_close_ int oldparent = -1, newparent = -1;
  _cleanup_error_ guise_error *err = NULL;
  oldparent = tracee_resolve_parent(ev->tracee, olddirfd, oldpath, &oldname, &err);
  if (oldparent < 0) return;
  newparent = tracee_resolve_parent(ev->tracee, newdirfd, newpath, &newname, &err);
  if (newparent < 0) return;
  if (strcmp(oldname, ".") == 0 || strcmp(oldname, "..") == 0 || strcmp(newname, ".") == 0 ||
      strcmp(newname, "..") == 0)
    return;
  struct named src, dst;
  look_at(f, oldparent, oldname, &src);
  _cleanup_close_ int srcfd = src.fd;
  look_at(f, newparent, newname, &dst);
  _cleanup_close_ int dstfd = dst.fd;
  if (srcfd < 0) return;
  bool src_dir = S_ISDIR(src.stx.stx_mode);
  if (!src.has_row && !dst.has_row && !src_dir)
    return; /* nothing to maintain: the kernel renames */
  if ((has_trailing_slash(oldpath) || has_trailing_slash(newpath)) && !src_dir) {
    reply_error(r, ENOTDIR);
    return;
  }
  if (renameat2(oldparent, oldname, newparent, newname, flags) < 0) {
    reply_error(r, errno);
    return;
  }
  reply_value(r, 0);
  _cleanup_free_ char *old_hint = hint_of(f, oldparent, oldname);
  _cleanup_free_ char *new_hint = hint_of(f, newparent, newname);
  if (old_hint == NULL || new_hint == NULL) return;
  if (fakefs_db_begin(f->db, &err) < 0) return;
  if (src.has_row) fakefs_db_set_path_hint(f->db, &src.key, new_hint, NULL);
  if (flags & RENAME_EXCHANGE) {
    if (dst.has_row) fakefs_db_set_path_hint(f->db, &dst.key, old_hint, NULL);
    if (src_dir || (dstfd >= 0 && S_ISDIR(dst.stx.stx_mode))) {
      const char *tmp = "\x01guise-exchange";
      fakefs_db_move_hints(f->db, old_hint, tmp, NULL);
      fakefs_db_move_hints(f->db, new_hint, old_hint, NULL);
      fakefs_db_move_hints(f->db, tmp, new_hint, NULL);
    }
  } else {
    if (src_dir) fakefs_db_move_hints(f->db, old_hint, new_hint, NULL);
    struct statx after;
    if (dstfd >= 0 && dst.has_row && statx_fd(dstfd, 0, 0, &after) == 0 && after.stx_nlink == 0) {
      if (fakefs_db_forget(f->db, &dst.key, NULL) == 0)
        log_change(f, ev, &dst.key, new_hint, "replaced by rename, row dropped");
    }
  }
  if (src.has_row) {
    char what[PATH_MAX + 32];
    snprintf(what, sizeof(what), "renamed from %s", old_hint);
    log_change(f, ev, &src.key, new_hint, what);
  }
  if (fakefs_db_commit(f->db, &err) < 0) fakefs_db_rollback(f->db);
}

static void h_rename(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_rename(ctx, ev, r, AT_FDCWD, ev->args[0], AT_FDCWD, ev->args[1], 0);
}

static void h_renameat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_rename(ctx, ev, r, (int)ev->args[0], ev->args[1], (int)ev->args[2], ev->args[3], 0);
}

static void h_renameat2(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  do_rename(ctx, ev, r, (int)ev->args[0], ev->args[1], (int)ev->args[2], ev->args[3],
            (unsigned)ev->args[4]);
}

/* ---------------------------------------------------------------------------------------------
 * xattrs: the names the kernel refuses or rewrites in a user namespace live in the database;
 * everything else is the kernel's. */

enum xattr_op { XA_SET, XA_GET, XA_LIST, XA_REMOVE };

/* How the file is named: by path (follow or not), by descriptor, or *at. */
struct xattr_target {
  int dirfd;
  uint64_t path_addr; /* 0 with by_fd */
  bool by_fd;
  int atflags;
};

/* Read an xattr name: ERANGE when empty or too long, as the kernel. */
static int read_xattr_name(struct tracee *t, uint64_t addr, char name[XATTR_NAME_MAX + 1],
                           struct syscall_reply *r)
{
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read_string(t, addr, name, XATTR_NAME_MAX + 1, &err) < 0) {
    reply_error(r, err->errnum == ENAMETOOLONG ? ERANGE : EFAULT);
    return -1;
  }
  if (name[0] == '\0') {
    reply_error(r, ERANGE);
    return -1;
  }
  return 0;
}

/* Open the target; -1 with the reply set. */
static int xattr_open(const struct syscall_event *ev, struct syscall_reply *r,
                      const struct xattr_target *xt, bool need_open_fd)
{
  if (xt->by_fd) {
    int fd = dup_fd(ev->tracee, xt->dirfd, r);
    if (fd >= 0 && need_open_fd && tracee_opath(ev, fd, xt->dirfd)) {
      close(fd);
      reply_error(r, EBADF);
      return -1;
    }
    return fd;
  }
  if (xt->atflags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) {
    reply_error(r, EINVAL);
    return -1;
  }
  char path[PATH_MAX];
  if (read_path(ev->tracee, xt->path_addr, path, xt->atflags & AT_EMPTY_PATH, r) < 0) return -1;
  if (!tracee_call_valid(ev->tracee)) return -1;
  int rflags = ((xt->atflags & AT_SYMLINK_NOFOLLOW) ? TRACEE_RESOLVE_NOFOLLOW : 0) |
               ((xt->atflags & AT_EMPTY_PATH) ? TRACEE_RESOLVE_EMPTY_PATH : 0);
  return resolve(ev->tracee, xt->dirfd, path, rflags, r);
}

static int xattr_key(int fd, struct fakefs_key *key, struct statx *stx, struct syscall_reply *r)
{
  if (statx_fd(fd, 0, 0, stx) < 0) {
    reply_error(r, errno);
    return -1;
  }
  fakefs_key_from_statx(stx, key);
  return 0;
}

/* Copy value out the way getxattr/listxattr do: size 0 asks for the length. */
static void reply_buffer(const struct syscall_event *ev, struct syscall_reply *r, uint64_t addr,
                         uint64_t size, const void *value, size_t len)
{
  if (size == 0) {
    reply_value(r, (int64_t)len);
    return;
  }
  if (size < len) {
    reply_error(r, ERANGE);
    return;
  }
  _cleanup_error_ guise_error *err = NULL;
  if (len > 0 && tracee_write(ev->tracee, addr, value, len, &err) < 0) {
    reply_error(r, EFAULT);
    return;
  }
  reply_value(r, (int64_t)len);
}

/* What the kernel accepts as security.capability from inside a user namespace
 * (cap_convert_nscap): a v2 header with the v2 size, or a v3 header with the v3 size. */
static bool valid_capability(const unsigned char *v, size_t size)
{
  if (size < 4) return false;
  uint32_t version = ((uint32_t)v[3] << 24) & 0xff000000u;
  return (version == 0x02000000u && size == 20) || (version == 0x03000000u && size == 24);
}

/* The permission bits an access ACL (the system.posix_acl_access format: a version, then
 * {tag, perm, id} entries) stands for, as the kernel derives them (posix_acl_equiv_mode):
 * owner from USER_OBJ, group from MASK if there is one (else GROUP_OBJ), other from OTHER.
 * *minimal: the ACL says nothing the mode does not (the kernel then stores no ACL).  -1 when
 * malformed. */
static int acl_equiv_mode(const unsigned char *v, size_t size, bool *minimal)
{
  enum { USER_OBJ = 0x01, USER = 0x02, GROUP_OBJ = 0x04, GROUP = 0x08, MASK = 0x10, OTHER = 0x20 };
  if (size < 4 || (size - 4) % 8 != 0 || (v[0] | v[1] << 8) != 2 || v[2] != 0 || v[3] != 0)
    return -1;
  int user = -1, group = -1, mask = -1, other = -1;
  *minimal = true;
  for (size_t off = 4; off < size; off += 8) {
    unsigned tag = v[off] | v[off + 1] << 8, perm = (v[off + 2] | v[off + 3] << 8) & 7;
    switch (tag) {
    case USER_OBJ: user = (int)perm; break;
    case GROUP_OBJ: group = (int)perm; break;
    case MASK: mask = (int)perm; *minimal = false; break;
    case OTHER: other = (int)perm; break;
    case USER:
    case GROUP: *minimal = false; break;
    default: return -1;
    }
  }
  if (user < 0 || group < 0 || other < 0 || (!*minimal && mask < 0)) return -1;
  return user << 6 | (mask >= 0 ? mask : group) << 3 | other;
}

static void xattr_set(struct fakefs_files *f, const struct syscall_event *ev,
                      struct syscall_reply *r, const struct xattr_target *xt, uint64_t name_addr,
                      uint64_t value_addr, uint64_t size, int flags)
{
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) {
    reply_error(r, EINVAL);
    return;
  }
  char name[XATTR_NAME_MAX + 1];
  if (read_xattr_name(ev->tracee, name_addr, name, r) < 0) return;
  if (!fakefs_xattr_is_faked(name)) return; /* CONTINUE */
  if (size > XATTR_SIZE_MAX) {
    reply_error(r, E2BIG);
    return;
  }
  bool is_cap = strcmp(name, "security.capability") == 0;
  _cleanup_free_ void *value = malloc(size ? size : 1);
  _cleanup_error_ guise_error *err = NULL;
  if (value == NULL) {
    reply_error(r, ENOMEM);
    return;
  }
  if (size > 0 && tracee_read(ev->tracee, value_addr, value, size, &err) < 0) {
    reply_error(r, EFAULT);
    return;
  }
  if (is_cap && !valid_capability(value, size)) {
    reply_error(r, EINVAL);
    return;
  }
  if (!tracee_call_valid(ev->tracee)) return;
  _cleanup_close_ int fd = xattr_open(ev, r, xt, true);
  if (fd < 0) return;
  struct statx stx;
  struct fakefs_key key;
  if (xattr_key(fd, &key, &stx, r) < 0) return;
  if (strcmp(name, "system.posix_acl_default") == 0 && !S_ISDIR(stx.stx_mode)) {
    if (size) /* as set_posix_acl: a default ACL only on directories; none is a no-op */
      reply_error(r, EACCES);
    else
      reply_value(r, 0);
    return;
  }
  if (strcmp(name, "system.posix_acl_access") == 0) {
    /* Setting an access ACL sets the permission bits too (sed -i and cp -p copy ACLs onto a
     * mkstemp 0600 file and rely on it). */
    bool minimal;
    int bits = acl_equiv_mode(value, size, &minimal);
    if (bits < 0) {
      reply_error(r, EINVAL);
      return;
    }
    struct fake_inode fi;
    int has = fakefs_db_lookup(f->db, &key, &fi, &err);
    if (has < 0) {
      reply_err(r, &err);
      return;
    }
    uint32_t shown = (has && (fi.fields & FAKEFS_FAKE_MODE)) ? fi.mode : stx.stx_mode;
    chmod_fd(f, ev, r, fd, (shown & 07000) | (uint32_t)bits, false, true);
    if (r->error != 0) return;
    if (minimal) { /* nothing more to keep; an older full ACL goes */
      if (fakefs_db_xattr_remove(f->db, &key, name, &err) < 0) reply_err(r, &err);
      return;
    }
  }
  _cleanup_free_ char *hint = hint_of(f, fd, NULL);
  if (fakefs_db_xattr_set(f->db, &key, name, value, size, flags, hint, &err) < 0) {
    reply_err(r, &err);
    return;
  }
  char what[XATTR_NAME_MAX + 48];
  snprintf(what, sizeof(what), "xattr %s set (%zu bytes)", name, (size_t)size);
  log_change(f, ev, &key, hint, what);
  reply_value(r, 0);
}

static void xattr_get(struct fakefs_files *f, const struct syscall_event *ev,
                      struct syscall_reply *r, const struct xattr_target *xt, uint64_t name_addr,
                      uint64_t value_addr, uint64_t size)
{
  char name[XATTR_NAME_MAX + 1];
  if (read_xattr_name(ev->tracee, name_addr, name, r) < 0) return;
  if (!fakefs_xattr_is_faked(name) || fakefs_db_count(f->db) == 0) return;
  if (!tracee_call_valid(ev->tracee)) return;
  _cleanup_close_ int fd = xattr_open(ev, r, xt, true);
  if (fd < 0) return;
  struct statx stx;
  struct fakefs_key key;
  if (xattr_key(fd, &key, &stx, r) < 0) return;
  _cleanup_free_ void *value = NULL;
  size_t len;
  _cleanup_error_ guise_error *err = NULL;
  int has = fakefs_db_xattr_get(f->db, &key, name, &value, &len, &err);
  if (has < 0) {
    reply_err(r, &err);
    return;
  }
  if (has == 0) return; /* not faked for this file: what is on disk, if anything */
  if (!tracee_call_valid(ev->tracee)) return;
  reply_buffer(ev, r, value_addr, size, value, len);
}

static void xattr_list(struct fakefs_files *f, const struct syscall_event *ev,
                       struct syscall_reply *r, const struct xattr_target *xt, uint64_t list_addr,
                       uint64_t size)
{
  if (fakefs_db_count(f->db) == 0) return;
  _cleanup_close_ int fd = xattr_open(ev, r, xt, true);
  if (fd < 0) return;
  struct statx stx;
  struct fakefs_key key;
  if (xattr_key(fd, &key, &stx, r) < 0) return;
  _cleanup_free_ char *db_names = NULL;
  size_t db_len = 0;
  _cleanup_error_ guise_error *err = NULL;
  if (fakefs_db_xattr_list(f->db, &key, &db_names, &db_len, &err) < 0) {
    reply_err(r, &err);
    return;
  }
  if (db_len == 0) return; /* nothing faked: the kernel's list */
  _cleanup_free_ char *buf = malloc(XATTR_LIST_MAX + db_len);
  if (buf == NULL) {
    reply_error(r, ENOMEM);
    return;
  }
  char link[32];
  fd_path(fd, link);
  ssize_t n = listxattr(link, buf, XATTR_LIST_MAX);
  if (n < 0) {
    if (errno != ENOTSUP && errno != EOPNOTSUPP) {
      reply_error(r, errno);
      return;
    }
    n = 0;
  }
  size_t len = (size_t)n;
  for (size_t i = 0; i < db_len; i += strlen(db_names + i) + 1) {
    const char *want = db_names + i;
    bool dup = false;
    for (size_t j = 0; j < (size_t)n && !dup; j += strlen(buf + j) + 1)
      dup = strcmp(buf + j, want) == 0;
    if (!dup) {
      size_t l = strlen(want) + 1;
      memcpy(buf + len, want, l);
      len += l;
    }
  }
  if (len > XATTR_LIST_MAX) {
    reply_error(r, E2BIG);
    return;
  }
  if (!tracee_call_valid(ev->tracee)) return;
  reply_buffer(ev, r, list_addr, size, buf, len);
}

static void xattr_remove(struct fakefs_files *f, const struct syscall_event *ev,
                         struct syscall_reply *r, const struct xattr_target *xt, uint64_t name_addr)
{
  char name[XATTR_NAME_MAX + 1];
  if (read_xattr_name(ev->tracee, name_addr, name, r) < 0) return;
  if (!fakefs_xattr_is_faked(name) || fakefs_db_count(f->db) == 0) return;
  if (!tracee_call_valid(ev->tracee)) return;
  _cleanup_close_ int fd = xattr_open(ev, r, xt, true);
  if (fd < 0) return;
  struct statx stx;
  struct fakefs_key key;
  if (xattr_key(fd, &key, &stx, r) < 0) return;
  _cleanup_error_ guise_error *err = NULL;
  int removed = fakefs_db_xattr_remove(f->db, &key, name, &err);
  if (removed < 0) {
    reply_err(r, &err);
    return;
  }
  if (removed == 0) return; /* the kernel's: on disk, or ENODATA */
  char what[XATTR_NAME_MAX + 32];
  snprintf(what, sizeof(what), "xattr %s removed", name);
  log_change(f, ev, &key, NULL, what);
  reply_value(r, 0);
}

#define PATH_TARGET(ev, follow)                                                                    \
  ((struct xattr_target){.dirfd = AT_FDCWD,                                                        \
                         .path_addr = (ev)->args[0],                                               \
                         .atflags = (follow) ? 0 : AT_SYMLINK_NOFOLLOW})
#define FD_TARGET(ev) ((struct xattr_target){.dirfd = (int)(ev)->args[0], .by_fd = true})
#define AT_TARGET(ev)                                                                              \
  ((struct xattr_target){                                                                          \
      .dirfd = (int)(ev)->args[0], .path_addr = (ev)->args[1], .atflags = (int)(ev)->args[2]})

static void h_setxattr(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_target xt = PATH_TARGET(ev, ev->id == SYSCALL_SETXATTR);
  if (ev->id == SYSCALL_FSETXATTR) xt = FD_TARGET(ev);
  xattr_set(ctx, ev, r, &xt, ev->args[1], ev->args[2], ev->args[3], (int)ev->args[4]);
}

static void h_getxattr(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_target xt = PATH_TARGET(ev, ev->id == SYSCALL_GETXATTR);
  if (ev->id == SYSCALL_FGETXATTR) xt = FD_TARGET(ev);
  xattr_get(ctx, ev, r, &xt, ev->args[1], ev->args[2], ev->args[3]);
}

static void h_listxattr(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_target xt = PATH_TARGET(ev, ev->id == SYSCALL_LISTXATTR);
  if (ev->id == SYSCALL_FLISTXATTR) xt = FD_TARGET(ev);
  xattr_list(ctx, ev, r, &xt, ev->args[1], ev->args[2]);
}

static void h_removexattr(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_target xt = PATH_TARGET(ev, ev->id == SYSCALL_REMOVEXATTR);
  if (ev->id == SYSCALL_FREMOVEXATTR) xt = FD_TARGET(ev);
  xattr_remove(ctx, ev, r, &xt, ev->args[1]);
}

/* The *xattrat calls (6.13): (dirfd, path, at_flags, name, struct xattr_args *, size). */
struct xattr_args_v0 {
  uint64_t value;
  uint32_t size;
  uint32_t flags;
};

static int read_xattr_args(const struct syscall_event *ev, struct syscall_reply *r,
                           struct xattr_args_v0 *a)
{
  if (ev->args[5] < sizeof(*a)) {
    reply_error(r, EINVAL);
    return -1;
  }
  _cleanup_error_ guise_error *err = NULL;
  if (tracee_read(ev->tracee, ev->args[4], a, sizeof(*a), &err) < 0) {
    reply_error(r, EFAULT);
    return -1;
  }
  return 0;
}

static void h_setxattrat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_args_v0 a;
  if (read_xattr_args(ev, r, &a) < 0) return;
  struct xattr_target xt = AT_TARGET(ev);
  xattr_set(ctx, ev, r, &xt, ev->args[3], a.value, a.size, (int)a.flags);
}

static void h_getxattrat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_args_v0 a;
  if (read_xattr_args(ev, r, &a) < 0) return;
  if (a.flags != 0) {
    reply_error(r, EINVAL);
    return;
  }
  struct xattr_target xt = AT_TARGET(ev);
  xattr_get(ctx, ev, r, &xt, ev->args[3], a.value, a.size);
}

static void h_listxattrat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_target xt = AT_TARGET(ev);
  xattr_list(ctx, ev, r, &xt, ev->args[3], ev->args[4]);
}

static void h_removexattrat(void *ctx, const struct syscall_event *ev, struct syscall_reply *r)
{
  struct xattr_target xt = AT_TARGET(ev);
  xattr_remove(ctx, ev, r, &xt, ev->args[3]);
}

/* --------------------------------------------------------------------------------------------- */

void fakefs_files_register(struct tracer_policy *p, struct fakefs_files *f)
{
  static const struct {
    enum syscall_id id;
    syscall_handler_fn fn;
  } table[] = {
      {SYSCALL_CHOWN, h_chown},
      {SYSCALL_LCHOWN, h_lchown},
      {SYSCALL_FCHOWN, h_fchown},
      {SYSCALL_FCHOWNAT, h_fchownat},
      {SYSCALL_CHMOD, h_chmod},
      {SYSCALL_FCHMOD, h_fchmod},
      {SYSCALL_FCHMODAT, h_fchmodat},
      {SYSCALL_FCHMODAT2, h_fchmodat2},
      {SYSCALL_MKNOD, h_mknod},
      {SYSCALL_MKNODAT, h_mknodat},
      {SYSCALL_STAT, h_stat},
      {SYSCALL_LSTAT, h_lstat},
      {SYSCALL_FSTAT, h_fstat},
      {SYSCALL_NEWFSTATAT, h_newfstatat},
      {SYSCALL_STATX, h_statx},
      {SYSCALL_SETXATTR, h_setxattr},
      {SYSCALL_LSETXATTR, h_setxattr},
      {SYSCALL_FSETXATTR, h_setxattr},
      {SYSCALL_SETXATTRAT, h_setxattrat},
      {SYSCALL_GETXATTR, h_getxattr},
      {SYSCALL_LGETXATTR, h_getxattr},
      {SYSCALL_FGETXATTR, h_getxattr},
      {SYSCALL_GETXATTRAT, h_getxattrat},
      {SYSCALL_LISTXATTR, h_listxattr},
      {SYSCALL_LLISTXATTR, h_listxattr},
      {SYSCALL_FLISTXATTR, h_listxattr},
      {SYSCALL_LISTXATTRAT, h_listxattrat},
      {SYSCALL_REMOVEXATTR, h_removexattr},
      {SYSCALL_LREMOVEXATTR, h_removexattr},
      {SYSCALL_FREMOVEXATTR, h_removexattr},
      {SYSCALL_REMOVEXATTRAT, h_removexattrat},
      {SYSCALL_UNLINK, h_unlink},
      {SYSCALL_UNLINKAT, h_unlinkat},
      {SYSCALL_RMDIR, h_rmdir},
      {SYSCALL_RENAME, h_rename},
      {SYSCALL_RENAMEAT, h_renameat},
      {SYSCALL_RENAMEAT2, h_renameat2},
      {SYSCALL_OPEN, h_open},
      {SYSCALL_OPENAT, h_openat},
      {SYSCALL_OPENAT2, h_openat2},
      {SYSCALL_CREAT, h_creat},
      {SYSCALL_MKDIR, h_mkdir},
      {SYSCALL_MKDIRAT, h_mkdirat},
      {SYSCALL_SYMLINK, h_symlink},
      {SYSCALL_SYMLINKAT, h_symlinkat},
      {SYSCALL_FSYNC, h_sync},
      {SYSCALL_FDATASYNC, h_sync},
      {SYSCALL_SYNC, h_sync},
      {SYSCALL_SYNCFS, h_sync},
  };
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    p->handlers[table[i].id] = table[i].fn;
    p->handler_ctx[table[i].id] = f;
  }
}
