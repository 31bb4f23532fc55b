#include "runtime/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/mounts.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static const char *const default_devices[] = {"null", "zero", "full", "random", "urandom", "tty"};

static const struct {
  const char *target;
  const char *link;
} default_dev_links[] = {
    {"/proc/self/fd", "/dev/fd"},    {"/proc/self/fd/0", "/dev/stdin"},
    {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
    {"pts/ptmx", "/dev/ptmx"},
};

static int create_default_devices(int rootfd, guise_error **err)
{
  for (size_t i = 0; i < sizeof(default_devices) / sizeof(default_devices[0]); i++) {
    char host[32], inside[32];
    snprintf(host, sizeof(host), "/dev/%s", default_devices[i]);
    snprintf(inside, sizeof(inside), "/dev/%s", default_devices[i]);
    /* A user namespace cannot mknod devices: bind the host's nodes instead. */
    _cleanup_close_ int target = rootfs_open_path(rootfd, inside, MOUNTPOINT_FILE, err);
    if (target < 0)
      return -1;
    if (mount_bind_at(AT_FDCWD, host, target, 0, false, host, err) < 0)
      return -1;
  }
  _cleanup_close_ int dev = rootfs_open_path(rootfd, "/dev", MOUNTPOINT_EXISTING, err);
  if (dev < 0)
    return -1;
  _cleanup_close_ int devdir = openat(dev, ".", O_DIRECTORY | O_CLOEXEC);
  if (devdir < 0)
    return guise_fail_errno(err, "open /dev in the container");
  for (size_t i = 0; i < sizeof(default_dev_links) / sizeof(default_dev_links[0]); i++) {
    const char *name = default_dev_links[i].link + strlen("/dev/");
    if (symlinkat(default_dev_links[i].target, devdir, name) < 0 && errno != EEXIST)
      return guise_fail_errno(err, "create %s", default_dev_links[i].link);
  }
  return 0;
}

/* Make a small file with generated content appear at path inside the container, without
 * writing into the rootfs: the content lives on a private tmpfs that only the bind keeps. */
static int provide_file(int rootfd, int scratchfd, const char *name, const char *path,
                        const char *content, guise_error **err)
{
  if (write_file_at(scratchfd, name, content, err) < 0)
    return -1;
  _cleanup_close_ int target = rootfs_open_path(rootfd, path, MOUNTPOINT_FILE, err);
  if (target < 0)
    return -1;
  return mount_bind_at(scratchfd, name, target, 0, false, path, err);
}

static int provide_etc_files(const struct container_spec *spec, int rootfd, guise_error **err)
{
  /* A detached tmpfs: invisible to the host and to the container except through the binds. */
  _cleanup_close_ int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
  if (fs < 0)
    return guise_fail_errno(err, "create a tmpfs for /etc/hosts");
  if (fsconfig(fs, FSCONFIG_SET_STRING, "size", "64k", 0) < 0 ||
      fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return guise_fail_errno(err, "create a tmpfs for /etc/hosts");
  _cleanup_close_ int scratch = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
  if (scratch < 0)
    return guise_fail_errno(err, "mount a tmpfs for /etc/hosts");

  _cleanup_free_ char *hostname = NULL, *hosts = NULL, *resolv = NULL;
  if (asprintf(&hostname, "%s\n", spec->hostname) < 0 ||
      asprintf(&hosts,
               "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
               "127.0.1.1\t%s\n",
               spec->hostname) < 0)
    abort();
  if (spec->net == NET_HOST) {
    if (read_file_at(AT_FDCWD, "/etc/resolv.conf", &resolv, NULL, NULL) < 0)
      resolv = strdup("");
  } else {
    resolv = strdup("# no network (--net none)\n");
  }
  if (resolv == NULL)
    abort();
  if (provide_file(rootfd, scratch, "hostname", "/etc/hostname", hostname, err) < 0 ||
      provide_file(rootfd, scratch, "hosts", "/etc/hosts", hosts, err) < 0 ||
      provide_file(rootfd, scratch, "resolv.conf", "/etc/resolv.conf", resolv, err) < 0)
    return -1;
  return 0;
}

static bool spec_mounts(const struct container_spec *spec, const char *dest, const char *type)
{
  for (size_t i = 0; i < spec->n_mounts; i++)
    if (strcmp(spec->mounts[i].destination, dest) == 0 &&
        (type == NULL || (spec->mounts[i].type && strcmp(spec->mounts[i].type, type) == 0)))
      return true;
  return false;
}

bool rootfs_has_private_dev(const struct container_spec *spec)
{
  return spec_mounts(spec, "/dev", "tmpfs");
}

int rootfs_setup(const struct container_spec *spec, guise_error **err)
{
  /* Mount events must not leak back to the host. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return guise_fail_errno(err, "make / private in the container's mount namespace");

  /* pivot_root needs the new root to be a mount point. */
  _cleanup_close_ int rootfd = -1;
  {
    _cleanup_close_ int tree =
        open_tree(AT_FDCWD, spec->rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
      return guise_fail_errno(err, "bind mount rootfs %s failed", spec->rootfs);
    if (move_mount(tree, "", AT_FDCWD, spec->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return guise_fail_errno(err, "bind mount rootfs %s failed", spec->rootfs);
    rootfd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
      return guise_fail_errno(err, "open rootfs %s", spec->rootfs);
  }

  for (size_t i = 0; i < spec->n_mounts; i++)
    if (mount_apply(rootfd, &spec->mounts[i], err) < 0)
      return -1;

  if (spec->provide_default_devices && spec_mounts(spec, "/dev", "tmpfs") &&
      create_default_devices(rootfd, err) < 0)
    return -1;
  if (spec->provide_etc_files && provide_etc_files(spec, rootfd, err) < 0)
    return -1;
  for (size_t i = 0; spec->masked_paths != NULL && spec->masked_paths[i] != NULL; i++)
    if (mount_mask_path(rootfd, spec->masked_paths[i], err) < 0)
      return -1;
  for (size_t i = 0; spec->readonly_paths != NULL && spec->readonly_paths[i] != NULL; i++)
    if (mount_readonly_path(rootfd, spec->readonly_paths[i], err) < 0)
      return -1;
  if (spec->cwd != NULL && strcmp(spec->cwd, "/") != 0) {
    /* like docker and runc: a missing working directory is created */
    _cleanup_close_ int cwd = rootfs_open_path(rootfd, spec->cwd, MOUNTPOINT_DIR, err);
    if (cwd < 0)
      return guise_error_prefix(err, "working directory");
  }
  if (spec->readonly_rootfs) {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(rootfd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
      return guise_fail_errno(err, "make rootfs %s read-only failed", spec->rootfs);
  }

  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
   * the rootfs (runc's trick: no directory for the old root needed inside the rootfs). */
  if (fchdir(rootfd) < 0)
    return guise_fail_errno(err, "chdir into rootfs %s", spec->rootfs);
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return guise_fail_errno(err, "pivot_root into %s failed", spec->rootfs);
  if (umount2(".", MNT_DETACH) < 0)
    return guise_fail_errno(err, "detach the old root after pivot_root into %s", spec->rootfs);
  if (chdir("/") < 0)
    return guise_fail_errno(err, "chdir / in the container");
  return 0;
}
