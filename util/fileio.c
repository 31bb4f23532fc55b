#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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
