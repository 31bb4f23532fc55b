/* Syscall numbers per architecture.  x86_64 from asm/unistd_64.h, aarch64 from the generic
 * table (asm-generic/unistd.h: no chown, lchown, chmod, mknod, stat, lstat, open, creat, mkdir,
 * symlink, unlink, rmdir, rename there).  Calls newer than Debian 12's headers are hard-coded
 * from the kernel's tables (same number on every architecture): fchmodat2 452 (6.6),
 * setxattrat 463, getxattrat 464, listxattrat 465, removexattrat 466 (6.13). */
#include "tracer/syscalls.h"

#include <linux/audit.h>
#include <stddef.h>

static const char *const names[SYSCALL_ID_COUNT] = {
#define SYSCALL_NAME(id, name) [SYSCALL_##id] = #name,
    SYSCALL_IDS(SYSCALL_NAME)
#undef SYSCALL_NAME
};

static const short x86_64_nrs[SYSCALL_ID_COUNT] = {
    [SYSCALL_CHOWN] = 92,
    [SYSCALL_LCHOWN] = 94,
    [SYSCALL_FCHOWN] = 93,
    [SYSCALL_FCHOWNAT] = 260,
    [SYSCALL_CHMOD] = 90,
    [SYSCALL_FCHMOD] = 91,
    [SYSCALL_FCHMODAT] = 268,
    [SYSCALL_FCHMODAT2] = 452,
    [SYSCALL_MKNOD] = 133,
    [SYSCALL_MKNODAT] = 259,
    [SYSCALL_STAT] = 4,
    [SYSCALL_LSTAT] = 6,
    [SYSCALL_FSTAT] = 5,
    [SYSCALL_NEWFSTATAT] = 262,
    [SYSCALL_STATX] = 332,
    [SYSCALL_SETUID] = 105,
    [SYSCALL_SETGID] = 106,
    [SYSCALL_SETREUID] = 113,
    [SYSCALL_SETREGID] = 114,
    [SYSCALL_SETRESUID] = 117,
    [SYSCALL_SETRESGID] = 119,
    [SYSCALL_SETFSUID] = 122,
    [SYSCALL_SETFSGID] = 123,
    [SYSCALL_SETGROUPS] = 116,
    [SYSCALL_GETUID] = 102,
    [SYSCALL_GETEUID] = 107,
    [SYSCALL_GETGID] = 104,
    [SYSCALL_GETEGID] = 108,
    [SYSCALL_GETRESUID] = 118,
    [SYSCALL_GETRESGID] = 120,
    [SYSCALL_GETGROUPS] = 115,
    [SYSCALL_CAPGET] = 125,
    [SYSCALL_CAPSET] = 126,
    [SYSCALL_PRCTL] = 157,
    [SYSCALL_SETXATTR] = 188,
    [SYSCALL_LSETXATTR] = 189,
    [SYSCALL_FSETXATTR] = 190,
    [SYSCALL_SETXATTRAT] = 463,
    [SYSCALL_GETXATTR] = 191,
    [SYSCALL_LGETXATTR] = 192,
    [SYSCALL_FGETXATTR] = 193,
    [SYSCALL_GETXATTRAT] = 464,
    [SYSCALL_LISTXATTR] = 194,
    [SYSCALL_LLISTXATTR] = 195,
    [SYSCALL_FLISTXATTR] = 196,
    [SYSCALL_LISTXATTRAT] = 465,
    [SYSCALL_REMOVEXATTR] = 197,
    [SYSCALL_LREMOVEXATTR] = 198,
    [SYSCALL_FREMOVEXATTR] = 199,
    [SYSCALL_REMOVEXATTRAT] = 466,
    [SYSCALL_UNLINK] = 87,
    [SYSCALL_UNLINKAT] = 263,
    [SYSCALL_RMDIR] = 84,
    [SYSCALL_RENAME] = 82,
    [SYSCALL_RENAMEAT] = 264,
    [SYSCALL_RENAMEAT2] = 316,
    [SYSCALL_OPEN] = 2,
    [SYSCALL_OPENAT] = 257,
    [SYSCALL_OPENAT2] = 437,
    [SYSCALL_CREAT] = 85,
    [SYSCALL_MKDIR] = 83,
    [SYSCALL_MKDIRAT] = 258,
    [SYSCALL_SYMLINK] = 88,
    [SYSCALL_SYMLINKAT] = 266,
    [SYSCALL_FSYNC] = 74,
    [SYSCALL_FDATASYNC] = 75,
    [SYSCALL_SYNC] = 162,
    [SYSCALL_SYNCFS] = 306,
    [SYSCALL_IO_URING_SETUP] = 425,
    [SYSCALL_EXECVE] = 59,
    [SYSCALL_EXECVEAT] = 322,
    [SYSCALL_CHROOT] = 161,
    [SYSCALL_PIVOT_ROOT] = 155,
    [SYSCALL_SETNS] = 308,
    [SYSCALL_UNSHARE] = 272,
    [SYSCALL_ACCESS] = 21,
    [SYSCALL_FACCESSAT] = 269,
    [SYSCALL_FACCESSAT2] = 439,
    [SYSCALL_READLINK] = 89,
    [SYSCALL_READLINKAT] = 267,
    [SYSCALL_GETCWD] = 79,
    [SYSCALL_CHDIR] = 80,
    [SYSCALL_LINK] = 86,
    [SYSCALL_LINKAT] = 265,
    [SYSCALL_UTIME] = 132,
    [SYSCALL_UTIMES] = 235,
    [SYSCALL_FUTIMESAT] = 261,
    [SYSCALL_UTIMENSAT] = 280,
    [SYSCALL_TRUNCATE] = 76,
    [SYSCALL_STATFS] = 137,
    [SYSCALL_INOTIFY_ADD_WATCH] = 254,
    [SYSCALL_BIND] = 49,
    [SYSCALL_CONNECT] = 42,
    [SYSCALL_MOUNT] = 165,
    [SYSCALL_UMOUNT2] = 166,
    [SYSCALL_NAME_TO_HANDLE_AT] = 303,
    [SYSCALL_FANOTIFY_MARK] = 301,
    [SYSCALL_ACCT] = 163,
    [SYSCALL_SWAPON] = 167,
    [SYSCALL_SWAPOFF] = 168,
    [SYSCALL_USELIB] = 134,
    [SYSCALL_QUOTACTL] = 179,
    [SYSCALL_OPEN_TREE] = 428,
    [SYSCALL_MOVE_MOUNT] = 429,
    [SYSCALL_FSOPEN] = 430,
    [SYSCALL_FSPICK] = 433,
    [SYSCALL_MOUNT_SETATTR] = 442,
};

static const short aarch64_nrs[SYSCALL_ID_COUNT] = {
    [SYSCALL_CHOWN] = -1,
    [SYSCALL_LCHOWN] = -1,
    [SYSCALL_FCHOWN] = 55,
    [SYSCALL_FCHOWNAT] = 54,
    [SYSCALL_CHMOD] = -1,
    [SYSCALL_FCHMOD] = 52,
    [SYSCALL_FCHMODAT] = 53,
    [SYSCALL_FCHMODAT2] = 452,
    [SYSCALL_MKNOD] = -1,
    [SYSCALL_MKNODAT] = 33,
    [SYSCALL_STAT] = -1,
    [SYSCALL_LSTAT] = -1,
    [SYSCALL_FSTAT] = 80,
    [SYSCALL_NEWFSTATAT] = 79,
    [SYSCALL_STATX] = 291,
    [SYSCALL_SETUID] = 146,
    [SYSCALL_SETGID] = 144,
    [SYSCALL_SETREUID] = 145,
    [SYSCALL_SETREGID] = 143,
    [SYSCALL_SETRESUID] = 147,
    [SYSCALL_SETRESGID] = 149,
    [SYSCALL_SETFSUID] = 151,
    [SYSCALL_SETFSGID] = 152,
    [SYSCALL_SETGROUPS] = 159,
    [SYSCALL_GETUID] = 174,
    [SYSCALL_GETEUID] = 175,
    [SYSCALL_GETGID] = 176,
    [SYSCALL_GETEGID] = 177,
    [SYSCALL_GETRESUID] = 148,
    [SYSCALL_GETRESGID] = 150,
    [SYSCALL_GETGROUPS] = 158,
    [SYSCALL_CAPGET] = 90,
    [SYSCALL_CAPSET] = 91,
    [SYSCALL_PRCTL] = 167,
    [SYSCALL_SETXATTR] = 5,
    [SYSCALL_LSETXATTR] = 6,
    [SYSCALL_FSETXATTR] = 7,
    [SYSCALL_SETXATTRAT] = 463,
    [SYSCALL_GETXATTR] = 8,
    [SYSCALL_LGETXATTR] = 9,
    [SYSCALL_FGETXATTR] = 10,
    [SYSCALL_GETXATTRAT] = 464,
    [SYSCALL_LISTXATTR] = 11,
    [SYSCALL_LLISTXATTR] = 12,
    [SYSCALL_FLISTXATTR] = 13,
    [SYSCALL_LISTXATTRAT] = 465,
    [SYSCALL_REMOVEXATTR] = 14,
    [SYSCALL_LREMOVEXATTR] = 15,
    [SYSCALL_FREMOVEXATTR] = 16,
    [SYSCALL_REMOVEXATTRAT] = 466,
    [SYSCALL_UNLINK] = -1,
    [SYSCALL_UNLINKAT] = 35,
    [SYSCALL_RMDIR] = -1,
    [SYSCALL_RENAME] = -1,
    [SYSCALL_RENAMEAT] = 38,
    [SYSCALL_RENAMEAT2] = 276,
    [SYSCALL_OPEN] = -1,
    [SYSCALL_OPENAT] = 56,
    [SYSCALL_OPENAT2] = 437,
    [SYSCALL_CREAT] = -1,
    [SYSCALL_MKDIR] = -1,
    [SYSCALL_MKDIRAT] = 34,
    [SYSCALL_SYMLINK] = -1,
    [SYSCALL_SYMLINKAT] = 36,
    [SYSCALL_FSYNC] = 82,
    [SYSCALL_FDATASYNC] = 83,
    [SYSCALL_SYNC] = 81,
    [SYSCALL_SYNCFS] = 267,
    [SYSCALL_IO_URING_SETUP] = 425,
    [SYSCALL_EXECVE] = 221,
    [SYSCALL_EXECVEAT] = 281,
    [SYSCALL_CHROOT] = 51,
    [SYSCALL_PIVOT_ROOT] = 41,
    [SYSCALL_SETNS] = 268,
    [SYSCALL_UNSHARE] = 97,
    [SYSCALL_ACCESS] = -1,
    [SYSCALL_FACCESSAT] = 48,
    [SYSCALL_FACCESSAT2] = 439,
    [SYSCALL_READLINK] = -1,
    [SYSCALL_READLINKAT] = 78,
    [SYSCALL_GETCWD] = 17,
    [SYSCALL_CHDIR] = 49,
    [SYSCALL_LINK] = -1,
    [SYSCALL_LINKAT] = 37,
    [SYSCALL_UTIME] = -1,
    [SYSCALL_UTIMES] = -1,
    [SYSCALL_FUTIMESAT] = -1,
    [SYSCALL_UTIMENSAT] = 88,
    [SYSCALL_TRUNCATE] = 45,
    [SYSCALL_STATFS] = 43,
    [SYSCALL_INOTIFY_ADD_WATCH] = 27,
    [SYSCALL_BIND] = 200,
    [SYSCALL_CONNECT] = 203,
    [SYSCALL_MOUNT] = 40,
    [SYSCALL_UMOUNT2] = 39,
    [SYSCALL_NAME_TO_HANDLE_AT] = 264,
    [SYSCALL_FANOTIFY_MARK] = 263,
    [SYSCALL_ACCT] = 89,
    [SYSCALL_SWAPON] = 224,
    [SYSCALL_SWAPOFF] = 225,
    [SYSCALL_USELIB] = -1,
    [SYSCALL_QUOTACTL] = 60,
    [SYSCALL_OPEN_TREE] = 428,
    [SYSCALL_MOVE_MOUNT] = 429,
    [SYSCALL_FSOPEN] = 430,
    [SYSCALL_FSPICK] = 433,
    [SYSCALL_MOUNT_SETATTR] = 442,
};

/* Every id must appear in both tables above (-1 where absent): a missing entry would read as 0. */
_Static_assert(SYSCALL_ID_COUNT < 128, "ids must fit the signed char reverse maps");

/* Highest number in either table, for the reverse maps. */
#define NR_MAX 512

static const short *table_of(uint32_t arch)
{
  switch (arch) {
  case AUDIT_ARCH_X86_64:
    return x86_64_nrs;
  case AUDIT_ARCH_AARCH64:
    return aarch64_nrs;
  default:
    return NULL;
  }
}

const char *syscall_name(enum syscall_id id)
{
  if ((unsigned)id >= SYSCALL_ID_COUNT)
    return "?";
  return names[id];
}

int syscall_number(uint32_t arch, enum syscall_id id)
{
  const short *tab = table_of(arch);
  if (tab == NULL || (unsigned)id >= SYSCALL_ID_COUNT)
    return -1;
  return tab[id];
}

/* Reverse maps, built on first use (the supervisor is single-threaded; a race would only build
 * the same table twice). */
static signed char x86_64_rev[NR_MAX], aarch64_rev[NR_MAX];
static int rev_built;

static void build_reverse(void)
{
  for (int i = 0; i < NR_MAX; i++)
    x86_64_rev[i] = aarch64_rev[i] = -1;
  for (int id = 0; id < SYSCALL_ID_COUNT; id++) {
    if (x86_64_nrs[id] >= 0)
      x86_64_rev[x86_64_nrs[id]] = (signed char)id;
    if (aarch64_nrs[id] >= 0)
      aarch64_rev[aarch64_nrs[id]] = (signed char)id;
  }
  rev_built = 1;
}

int syscall_lookup(uint32_t arch, int nr)
{
  if (!rev_built)
    build_reverse();
  if (nr < 0 || nr >= NR_MAX)
    return -1;
  switch (arch) {
  case AUDIT_ARCH_X86_64:
    return x86_64_rev[nr];
  case AUDIT_ARCH_AARCH64:
    return aarch64_rev[nr];
  default:
    return -1;
  }
}

uint32_t syscall_native_arch(void)
{
#if defined(__x86_64__)
  return AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  return AUDIT_ARCH_AARCH64;
#else
#error "guise supports x86_64 and aarch64"
#endif
}
