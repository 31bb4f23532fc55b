#include "runtime/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/sandbox.h"
#include "util/cleanup.h"

static int open_in_root(int rootfd, const char *path, int flags)
{
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Create name in parent: a directory, unless it is the last component of a file mount point.
 * Someone else creating it first is fine. */
static int create_component(int parent, const char *name, bool last, enum mountpoint_kind kind,
                            const char *prefix, guise_error **err)
{
  if (!last || kind == MOUNTPOINT_DIR) {
    if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
      return guise_fail_errno(err, "create mount point %s", prefix);
    return 0;
  }
  int f = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (f < 0 && errno != EEXIST)
    return guise_fail_errno(err, "create mount point %s", prefix);
  if (f >= 0)
    close(f);
  return 0;
}

/* The common case of a missing mount point, its parent existing (/dev/pts on a fresh /dev):
 * create the last component in the parent and open the whole path again from the root, as the
 * walk below does, without resolving every prefix.  1: done (fd in *out); 0: take the walk. */
static int open_path_in_parent(int rootfd, const char *path, enum mountpoint_kind kind, int *out,
                               guise_error **err)
{
  const char *slash = strrchr(path, '/');
  if (slash == NULL || slash[1] == '\0' || strstr(path, "..") != NULL ||
      strcmp(slash + 1, ".") == 0)
    return 0;
  _cleanup_free_ char *parent_path = strndup(path, slash == path ? 1 : (size_t)(slash - path));
  if (parent_path == NULL)
    return guise_fail(err, ENOMEM, "open %s", path);
  _cleanup_close_ int parent = open_in_root(rootfd, parent_path, O_PATH | O_DIRECTORY);
  if (parent < 0)
    return 0;
  if (create_component(parent, slash + 1, true, kind, path, err) < 0)
    return -1;
  *out = open_in_root(rootfd, path, O_PATH);
  if (*out < 0)
    return guise_fail_errno(err, "open %s in the container", path);
  return 1;
}

int rootfs_open_path(int rootfd, const char *path, enum mountpoint_kind kind, guise_error **err)
{
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || kind == MOUNTPOINT_EXISTING) {
    if (fd < 0)
      return guise_fail_errno(err, "open %s in the container", path);
    return fd;
  }
  int done = open_path_in_parent(rootfd, path, kind, &fd, err);
  if (done != 0)
    return done < 0 ? -1 : fd;
  /* Create what is missing, one component at a time, each relative to its resolved parent:
   * a symlink planted in the rootfs can redirect us only within the rootfs. */
  _cleanup_free_ char *buf = strdup(path);
  if (buf == NULL)
    return guise_fail(err, ENOMEM, "open %s", path);
  _cleanup_close_ int parent = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
  if (parent < 0)
    return guise_fail_errno(err, "open the container's root");
  char *save = NULL;
  char *component = strtok_r(buf, "/", &save);
  while (component != NULL) {
    char *next = strtok_r(NULL, "/", &save);
    bool last = (next == NULL);
    if (strcmp(component, "..") == 0)
      return guise_fail(err, EINVAL, "mount destination %s contains '..'", path);
    /* Re-resolve the whole prefix from the root so symlinks keep the rootfs as their root. */
    size_t prefix_len = (size_t)(component - buf) + strlen(component);
    _cleanup_free_ char *prefix = strndup(path, prefix_len);
    if (prefix == NULL)
      return guise_fail(err, ENOMEM, "open %s", path);
    int child;
    child = open_in_root(rootfd, prefix, O_PATH);
    if (child < 0 && errno == ENOENT) {
      if (create_component(parent, component, last, kind, prefix, err) < 0)
        return -1;
      child = open_in_root(rootfd, prefix, O_PATH);
    }
    if (child < 0)
      return guise_fail_errno(err, "open %s in the container", prefix);
    close(parent);
    parent = child;
    component = next;
  }
  return steal_fd(&parent);
}

uint64_t mount_flags_to_attrs(unsigned long flags)
{
  uint64_t attrs = 0;
  if (flags & MS_RDONLY)
    attrs |= MOUNT_ATTR_RDONLY;
  if (flags & MS_NOSUID)
    attrs |= MOUNT_ATTR_NOSUID;
  if (flags & MS_NODEV)
    attrs |= MOUNT_ATTR_NODEV;
  if (flags & MS_NOEXEC)
    attrs |= MOUNT_ATTR_NOEXEC;
  if (flags & MS_NOATIME)
    attrs |= MOUNT_ATTR_NOATIME;
  if (flags & MS_NODIRATIME)
    attrs |= MOUNT_ATTR_NODIRATIME;
  if (flags & MS_STRICTATIME)
    attrs |= MOUNT_ATTR_STRICTATIME;
  return attrs;
}

static int attach(int tree, int target_fd, const char *what, guise_error **err)
{
  if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return guise_fail_errno(err, "mount %s failed", what);
  return 0;
}

int mount_bind_at(int source_dirfd, const char *source_path, int target_fd, uint64_t attrs,
                  bool recursive, const char *what, guise_error **err)
{
  unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
  if (source_path[0] == '\0')
    flags |= AT_EMPTY_PATH;
  _cleanup_close_ int tree = open_tree(source_dirfd, source_path, flags);
  if (tree < 0)
    return guise_fail_errno(err, "bind mount %s failed", what);
  if (attrs != 0) {
    struct mount_attr attr = {.attr_set = attrs};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
                      sizeof(attr)) < 0)
      return guise_fail_errno(err, "set options of bind mount %s failed", what);
  }
  return attach(tree, target_fd, what, err);
}

static int fd_is_dir(int fd)
{
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -1;
  return S_ISDIR(st.st_mode) ? 1 : 0;
}

static int mount_fs_at(const struct mount_spec *m, int target_fd, guise_error **err)
{
  char target[64];
  snprintf(target, sizeof(target), "/proc/self/fd/%d", target_fd);
  unsigned long flags = m->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
  if (mount(m->source ? m->source : m->type, target, m->type, flags, m->data) < 0)
    return guise_fail_errno(err, "mount %s on %s failed", m->type, m->destination);
  return 0;
}

/* A fresh procfs or sysfs, or where the kernel refuses one, the one we were given.  The kernel
 * refuses a new proc in a user namespace when the proc we can see has parts hidden by mounts
 * on top ("mount too revealing": Docker, podman and Kubernetes mask /proc/kcore and others;
 * sysfs likewise, /sys/firmware), and seccomp profiles may refuse mount outright.  A bind of
 * ours, recursively, keeps those masks (the container's own masked paths go on top later).  A
 * bound /proc shows the outer pid namespace: /proc/self still resolves (to the reader's pid
 * there), but the container sees outer processes and /proc/PID names outer pids; a bound
 * /sys shows the outer network namespace's devices. */
static int mount_kernel_fs_at(const struct mount_spec *m, int target_fd, guise_error **err)
{
  char target[64];
  snprintf(target, sizeof(target), "/proc/self/fd/%d", target_fd);
  unsigned long flags = m->flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT);
  if (mount(m->source ? m->source : m->type, target, m->type, flags, m->data) == 0) return 0;
  if (errno != EPERM && errno != EACCES)
    return guise_fail_errno(err, "mount %s on %s failed", m->type, m->destination);
  int saved = errno;
  bool proc = strcmp(m->type, "proc") == 0;
  const char *outer = proc ? "/proc" : "/sys";
  if (mount_bind_at(AT_FDCWD, outer, target_fd, mount_flags_to_attrs(flags), true, outer, NULL) < 0)
    return guise_fail(err, saved,
                      "mount %s on %s failed (the outer container masks parts of %s; "
                      "unmask it: podman run --security-opt unmask=ALL, docker run "
                      "--security-opt systempaths=unconfined, Kubernetes "
                      "securityContext.procMount: Unmasked)",
                      m->type, m->destination, outer);
  sandbox_notice(proc ? SANDBOX_NOTICE_PROC : SANDBOX_NOTICE_SYS,
                 "a new %s is refused (%s; the outer container masks parts of it): using the "
                 "outer %s, whose %s the container sees",
                 outer, strerror(saved), outer, proc ? "processes" : "network devices");
  return 0;
}

int mount_apply(int rootfd, const struct mount_spec *m, guise_error **err)
{
  if (m->destination == NULL || m->destination[0] != '/')
    return guise_fail(err, EINVAL, "mount destination '%s' is not absolute",
                      m->destination ? m->destination : "");
  if (m->kind == MOUNT_KIND_BIND ||
      (m->type != NULL && strcmp(m->type, "cgroup") == 0)) {
    /* cgroup: a rootless container cannot mount cgroupfs v1 hierarchies; show the host's. */
    const char *source = m->kind == MOUNT_KIND_BIND ? m->source : "/sys/fs/cgroup";
    struct stat st;
    if (source == NULL || stat(source, &st) < 0)
      return guise_fail_errno(err, "bind mount source %s", source ? source : "(none)");
    _cleanup_close_ int target = rootfs_open_path(
        rootfd, m->destination, S_ISDIR(st.st_mode) ? MOUNTPOINT_DIR : MOUNTPOINT_FILE, err);
    if (target < 0)
      return -1;
    _cleanup_free_ char *what = NULL;
    if (asprintf(&what, "%s on %s", source, m->destination) < 0)
      abort();
    uint64_t attrs = mount_flags_to_attrs(m->flags | (m->kind == MOUNT_KIND_BIND ? 0 : MS_RDONLY));
    bool recursive = m->kind == MOUNT_KIND_BIND ? m->recursive : true;
    return mount_bind_at(AT_FDCWD, source, target, attrs, recursive, what, err);
  }
  _cleanup_close_ int target = rootfs_open_path(rootfd, m->destination, MOUNTPOINT_DIR, err);
  if (target < 0) return -1;
  if (m->type != NULL && (strcmp(m->type, "proc") == 0 || strcmp(m->type, "sysfs") == 0))
    return mount_kernel_fs_at(m, target, err);
  return mount_fs_at(m, target, err);
}

int mount_readonly_path(int rootfd, const char *path, guise_error **err)
{
  _cleanup_close_ int target = rootfs_open_path(rootfd, path, MOUNTPOINT_EXISTING, NULL);
  if (target < 0)
    return 0; /* nothing to protect */
  return mount_bind_at(target, "", target, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                               MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                       true, path, err);
}

int mount_mask_path(int rootfd, const char *path, guise_error **err)
{
  _cleanup_close_ int target = rootfs_open_path(rootfd, path, MOUNTPOINT_EXISTING, NULL);
  if (target < 0)
    return 0;
  int is_dir = fd_is_dir(target);
  if (is_dir < 0)
    return guise_fail_errno(err, "stat %s", path);
  if (!is_dir)
    return mount_bind_at(AT_FDCWD, "/dev/null", target, 0, false, path, err);
  struct mount_spec empty = {
      .kind = MOUNT_KIND_FS,
      .source = "tmpfs",
      .destination = (char *)path,
      .type = "tmpfs",
      .flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
      .data = "size=0",
  };
  return mount_fs_at(&empty, target, err);
}
