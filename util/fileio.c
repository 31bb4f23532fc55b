#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

ssize_t write_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, p + done, len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    done += (size_t)n;
  }
  return (ssize_t)done;
}

ssize_t read_all(int fd, void *buf, size_t len)
{
  char *p = buf;
  size_t done = 0;
  while (done < len) {
    ssize_t n = read(fd, p + done, len - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (n == 0)
      break;
    done += (size_t)n;
  }
  return (ssize_t)done;
}

int write_file_at(int dirfd, const char *path, const char *content, guise_error **err)
{
  _cleanup_close_ int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return guise_fail_errno(err, "open %s for writing", path);
  size_t len = strlen(content);
  if (write_all(fd, content, len) < 0)
    return guise_fail_errno(err, "write %s", path);
  return 0;
}

int read_file_at(int dirfd, const char *path, char **out, size_t *len_out, guise_error **err)
{
  _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return guise_fail_errno(err, "open %s", path);
  size_t cap = 4096, len = 0;
  _cleanup_free_ char *buf = malloc(cap);
  if (buf == NULL)
    return guise_fail(err, ENOMEM, "read %s", path);
  for (;;) {
    if (len + 1 >= cap) {
      cap *= 2;
      char *grown = realloc(buf, cap);
      if (grown == NULL)
        return guise_fail(err, ENOMEM, "read %s", path);
      buf = grown;
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return guise_fail_errno(err, "read %s", path);
    }
    if (n == 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  if (len_out != NULL)
    *len_out = len;
  *out = steal_ptr(&buf);
  return 0;
}

size_t strv_length(char *const *v)
{
  size_t n = 0;
  while (v != NULL && v[n] != NULL)
    n++;
  return n;
}

void strv_append(char ***v, const char *s)
{
  size_t n = strv_length(*v);
  char **grown = realloc(*v, (n + 2) * sizeof(char *));
  if (grown == NULL)
    abort();
  grown[n] = strdup(s);
  if (grown[n] == NULL)
    abort();
  grown[n + 1] = NULL;
  *v = grown;
}

char **strv_copy(char *const *v)
{
  char **copy = calloc(1, sizeof(char *));
  if (copy == NULL)
    abort();
  for (size_t i = 0; v != NULL && v[i] != NULL; i++)
    strv_append(&copy, v[i]);
  return copy;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len,
                         guise_error **err)
{
  static atomic_uint counter;
  _cleanup_free_ char *tmp = NULL;
  if (asprintf(&tmp, "%s%s-%d-%u", FILEIO_TMP_PREFIX, name, (int)getpid(),
               atomic_fetch_add(&counter, 1)) < 0)
    abort();
  _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return guise_fail_errno(err, "create %s", tmp);
  if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    return guise_fail(err, e, "write %s", tmp);
  }
  if (renameat(dirfd, tmp, dirfd, name) < 0) {
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    return guise_fail(err, e, "rename %s to %s", tmp, name);
  }
  return 0;
}

int rm_rf_at(int at, const char *name, guise_error **err)
{
  struct stat st;
  if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : guise_fail_errno(err, "stat %s", name);
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(at, name, 0) < 0 && errno != ENOENT)
      return guise_fail_errno(err, "remove %s", name);
    return 0;
  }
  if ((st.st_mode & 0700) != 0700)
    (void)!fchmodat(at, name, 0700, 0); /* best effort: the open below reports */
  int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return guise_fail_errno(err, "open %s", name);
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return guise_fail_errno(err, "open %s", name);
  }
  _cleanup_closedir_ DIR *owned = d;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (rm_rf_at(dirfd(d), de->d_name, err) < 0)
      return guise_error_prefix(err, "%s", name);
  }
  if (unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return guise_fail_errno(err, "remove %s", name);
  return 0;
}
