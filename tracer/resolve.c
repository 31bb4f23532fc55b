/* Confined path resolution (see resolve.h).
 *
 * Fast path: one openat2 — RESOLVE_IN_ROOT for absolute paths (the kernel clamps ".." and
 * absolute symlinks at rootfd exactly as chroot does), RESOLVE_BENEATH for relative ones.  A
 * relative path may legitimately leave startfd ("../x", or a symlink to an absolute target) —
 * openat2 then says EXDEV and we walk component by component, clamping ".." at rootfd (same
 * dev/ino) and restarting absolute symlink targets at rootfd. */
#include "tracer/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tracer/tracer.h"
#include "util/cleanup.h"

#define MAX_SYMLINKS 40

static int sys_openat2(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
  struct open_how how = {.flags = flags, .resolve = resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static bool same_inode(int a, int b)
{
  struct stat sa, sb;
  if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
    return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int fail(guise_error **err, int errnum, const char *path)
{
  return guise_fail(err, errnum, "resolving %s failed", path);
}

/* The component-by-component walk. */
static int walk(int rootfd, int startfd, const char *path, bool follow_last, guise_error **err)
{
  size_t cap = strlen(path) + 1;
  _cleanup_free_ char *rest = strdup(path);
  if (rest == NULL)
    return fail(err, ENOMEM, path);
  _cleanup_close_ int cur = fcntl(path[0] == '/' ? rootfd : startfd, F_DUPFD_CLOEXEC, 3);
  if (cur < 0)
    return fail(err, errno, path);
  int links = 0;
  size_t pos = 0; /* rest[pos..] is what remains */

  for (;;) {
    while (rest[pos] == '/')
      pos++;
    if (rest[pos] == '\0')
      return steal_fd(&cur);
    char *comp = rest + pos;
    size_t len = strcspn(comp, "/");
    if (len > NAME_MAX)
      return fail(err, ENAMETOOLONG, path);
    char name[NAME_MAX + 1];
    memcpy(name, comp, len);
    name[len] = '\0';
    pos += len;
    size_t after = pos;
    while (rest[after] == '/')
      after++;
    bool last = rest[after] == '\0';
    bool trailing_slash = last && after > pos;

    if (strcmp(name, ".") == 0)
      continue;
    if (strcmp(name, "..") == 0) {
      if (same_inode(cur, rootfd))
        continue;
      int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (up < 0)
        return fail(err, errno, path);
      close(cur);
      cur = up;
      continue;
    }
    int next = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0)
      return fail(err, errno, path);
    struct stat st;
    if (fstat(next, &st) < 0) {
      int e = errno;
      close(next);
      return fail(err, e, path);
    }
    if (S_ISLNK(st.st_mode) && (!last || trailing_slash || follow_last)) {
      if (++links > MAX_SYMLINKS) {
        close(next);
        return fail(err, ELOOP, path);
      }
      char target[PATH_MAX];
      ssize_t n = readlinkat(next, "", target, sizeof(target) - 1);
      int e = errno;
      close(next);
      if (n < 0)
        return fail(err, e, path);
      if (n == 0)
        return fail(err, ENOENT, path);
      target[n] = '\0';
      /* New remaining path: target + what followed the link (empty, or starting with '/',
       * which keeps a trailing slash meaningful). */
      const char *tail = rest + pos;
      size_t need = (size_t)n + strlen(tail) + 1;
      char *nrest = malloc(need > cap ? need : cap);
      if (nrest == NULL)
        return fail(err, ENOMEM, path);
      memcpy(nrest, target, (size_t)n);
      strcpy(nrest + n, tail);
      free(rest);
      rest = nrest;
      pos = 0;
      if (target[0] == '/') {
        int r = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (r < 0)
          return fail(err, errno, path);
        close(cur);
        cur = r;
      }
      continue;
    }
    if ((!last || trailing_slash) && !S_ISDIR(st.st_mode)) {
      close(next);
      return fail(err, ENOTDIR, path);
    }
    close(cur);
    cur = next;
  }
}

int resolve_in_root(int rootfd, int startfd, const char *path, int flags, guise_error **err)
{
  if (path[0] == '\0') {
    if (!(flags & TRACEE_RESOLVE_EMPTY_PATH))
      return fail(err, ENOENT, "\"\"");
    int fd = fcntl(startfd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? fail(err, errno, "\"\"") : fd;
  }
  if (strnlen(path, PATH_MAX) >= PATH_MAX)
    return fail(err, ENAMETOOLONG, "a path");
  bool follow = !(flags & TRACEE_RESOLVE_NOFOLLOW);
  uint64_t oflags = O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  bool absolute = path[0] == '/';
  uint64_t resolve = RESOLVE_NO_MAGICLINKS | (absolute ? RESOLVE_IN_ROOT : RESOLVE_BENEATH);
  for (int tries = 0; tries < 3; tries++) {
    int fd = sys_openat2(absolute ? rootfd : startfd, path, oflags, resolve);
    if (fd >= 0)
      return fd;
    if (errno == EAGAIN) /* a concurrent rename somewhere: the kernel asks to retry */
      continue;
    if (errno == EXDEV && !absolute)
      break;
    /* ENOSYS (no openat2, < 5.6) or anything else the walk might judge differently: the walk
     * is authoritative only for EXDEV/EAGAIN/ENOSYS. */
    if (errno != ENOSYS)
      return fail(err, errno, path);
    break;
  }
  return walk(rootfd, startfd, path, follow, err);
}

int resolve_parent_in_root(int rootfd, int startfd, const char *path, char **name,
                           guise_error **err)
{
  if (path[0] == '\0')
    return fail(err, ENOENT, "\"\"");
  _cleanup_free_ char *copy = strdup(path);
  if (copy == NULL)
    return fail(err, ENOMEM, path);
  size_t len = strlen(copy);
  while (len > 1 && copy[len - 1] == '/')
    copy[--len] = '\0';
  if (strcmp(copy, "/") == 0) {
    *name = strdup(".");
    if (*name == NULL)
      return fail(err, ENOMEM, path);
    int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? fail(err, errno, path) : fd;
  }
  char *slash = strrchr(copy, '/');
  const char *base = slash ? slash + 1 : copy;
  if (strlen(base) > NAME_MAX)
    return fail(err, ENAMETOOLONG, path);
  _cleanup_free_ char *nm = strdup(base);
  if (nm == NULL)
    return fail(err, ENOMEM, path);
  int fd;
  if (slash == NULL) {
    fd = fcntl(startfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
      return fail(err, errno, path);
  } else {
    if (slash == copy)
      slash[1] = '\0'; /* "/name": the parent is "/" */
    else
      slash[0] = '\0';
    /* A trailing "/." makes the kernel insist on a directory, as it would for a parent. */
    fd = resolve_in_root(rootfd, startfd, copy, 0, err);
    if (fd < 0)
      return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
      close(fd);
      return fail(err, ENOTDIR, path);
    }
  }
  *name = steal_ptr(&nm);
  return fd;
}
