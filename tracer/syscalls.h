/* Architecture-neutral names for the system calls guise can intercept, and their numbers on
 * each supported architecture (tracer/syscalls.c). */
#ifndef GUISE_TRACER_SYSCALLS_H
#define GUISE_TRACER_SYSCALLS_H

#include <stdint.h>

#define SYSCALL_IDS(X)                                                                             \
  /* ownership */                                                                                  \
  X(CHOWN, chown) X(LCHOWN, lchown) X(FCHOWN, fchown) X(FCHOWNAT, fchownat)                        \
  /* modes */                                                                                      \
  X(CHMOD, chmod) X(FCHMOD, fchmod) X(FCHMODAT, fchmodat) X(FCHMODAT2, fchmodat2)                  \
  /* devices */                                                                                    \
  X(MKNOD, mknod) X(MKNODAT, mknodat)                                                              \
  /* stat family */                                                                                \
  X(STAT, stat) X(LSTAT, lstat) X(FSTAT, fstat) X(NEWFSTATAT, newfstatat) X(STATX, statx)          \
  /* credentials */                                                                                \
  X(SETUID, setuid) X(SETGID, setgid) X(SETREUID, setreuid) X(SETREGID, setregid)                  \
  X(SETRESUID, setresuid) X(SETRESGID, setresgid) X(SETFSUID, setfsuid) X(SETFSGID, setfsgid)      \
  X(SETGROUPS, setgroups) X(GETUID, getuid) X(GETEUID, geteuid) X(GETGID, getgid)                  \
  X(GETEGID, getegid) X(GETRESUID, getresuid) X(GETRESGID, getresgid) X(GETGROUPS, getgroups)      \
  X(CAPGET, capget) X(CAPSET, capset) X(PRCTL, prctl) /* PR_{GET,SET}_KEEPCAPS only */            \
  /* xattrs */                                                                                     \
  X(SETXATTR, setxattr) X(LSETXATTR, lsetxattr) X(FSETXATTR, fsetxattr)                            \
  X(SETXATTRAT, setxattrat) X(GETXATTR, getxattr) X(LGETXATTR, lgetxattr)                          \
  X(FGETXATTR, fgetxattr) X(GETXATTRAT, getxattrat) X(LISTXATTR, listxattr)                        \
  X(LLISTXATTR, llistxattr) X(FLISTXATTR, flistxattr) X(LISTXATTRAT, listxattrat)                  \
  X(REMOVEXATTR, removexattr) X(LREMOVEXATTR, lremovexattr) X(FREMOVEXATTR, fremovexattr)          \
  X(REMOVEXATTRAT, removexattrat)                                                                  \
  /* names: keep the record right across unlink and rename */                                      \
  X(UNLINK, unlink) X(UNLINKAT, unlinkat) X(RMDIR, rmdir) X(RENAME, rename)                        \
  X(RENAMEAT, renameat) X(RENAMEAT2, renameat2)                                                    \
  /* creation while the faked fsuid/fsgid is not 0 */                                              \
  X(OPEN, open) X(OPENAT, openat) X(OPENAT2, openat2) X(CREAT, creat) X(MKDIR, mkdir)              \
  X(MKDIRAT, mkdirat) X(SYMLINK, symlink) X(SYMLINKAT, symlinkat)                                  \
  /* durability barriers: what the caller made durable, its faked state must be too */            \
  X(FSYNC, fsync) X(FDATASYNC, fdatasync) X(SYNC, sync) X(SYNCFS, syncfs)                          \
  /* refused in the filter itself (ENOSYS): io_uring would bypass interception */               \
  X(IO_URING_SETUP, io_uring_setup)                                                                \
  /* trapped by the tracer itself to keep its per-process caches right (the memory descriptor  \
   * on exec, the root directory on chroot and namespace changes); no policy handler needed */   \
  X(EXECVE, execve) X(EXECVEAT, execveat) X(CHROOT, chroot) X(PIVOT_ROOT, pivot_root)              \
  X(SETNS, setns) X(UNSHARE, unshare)                                                             \
  /* path-taking calls the tracer translates when it presents a view (tracer/translate.c)  \
   * rather than a kernel root; or refuses there (ENOSYS) when it cannot translate them */      \
  X(ACCESS, access) X(FACCESSAT, faccessat) X(FACCESSAT2, faccessat2) X(READLINK, readlink)        \
  X(READLINKAT, readlinkat) X(GETCWD, getcwd) X(CHDIR, chdir) X(LINK, link) X(LINKAT, linkat)      \
  X(UTIME, utime) X(UTIMES, utimes) X(FUTIMESAT, futimesat) X(UTIMENSAT, utimensat)                \
  X(TRUNCATE, truncate) X(STATFS, statfs) X(INOTIFY_ADD_WATCH, inotify_add_watch)                  \
  X(BIND, bind) X(CONNECT, connect) X(MOUNT, mount) X(UMOUNT2, umount2)                            \
  X(NAME_TO_HANDLE_AT, name_to_handle_at) X(FANOTIFY_MARK, fanotify_mark) X(ACCT, acct)            \
  X(SWAPON, swapon) X(SWAPOFF, swapoff) X(USELIB, uselib) X(QUOTACTL, quotactl)                    \
  X(OPEN_TREE, open_tree) X(MOVE_MOUNT, move_mount) X(FSOPEN, fsopen) X(FSPICK, fspick)            \
  X(MOUNT_SETATTR, mount_setattr)

enum syscall_id {
#define SYSCALL_ENUM(id, name) SYSCALL_##id,
  SYSCALL_IDS(SYSCALL_ENUM)
#undef SYSCALL_ENUM
      SYSCALL_ID_COUNT
};

/* The name ("fchownat") of an id. */
const char *syscall_name(enum syscall_id id);

/* The number of id on arch (AUDIT_ARCH_*), or -1 where the call does not exist there
 * (e.g. chown on aarch64). */
int syscall_number(uint32_t arch, enum syscall_id id);

/* The id of number nr on arch, or -1 when guise does not know it. */
int syscall_lookup(uint32_t arch, int nr);

/* The architecture this binary runs on (AUDIT_ARCH_X86_64 or AUDIT_ARCH_AARCH64). */
uint32_t syscall_native_arch(void);

#endif
