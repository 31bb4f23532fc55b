/* Small, retrying I/O helpers. */
#ifndef GUISE_UTIL_FILEIO_H
#define GUISE_UTIL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "util/error.h"

/* write(2)/read(2) until done, retrying on EINTR; return bytes done or -1 with errno set. */
ssize_t write_all(int fd, const void *buf, size_t len);
ssize_t read_all(int fd, void *buf, size_t len);

/* Write a whole small file (e.g. /proc/self/uid_map) relative to dirfd (AT_FDCWD allowed). */
int write_file_at(int dirfd, const char *path, const char *content, guise_error **err);

/* Read a whole file into a NUL-terminated malloc'd buffer; *len_out may be NULL. */
int read_file_at(int dirfd, const char *path, char **out, size_t *len_out, guise_error **err);

/* Temp files of the atomic writers start with this; ".tmp-NAME-PID-N", so that a cleaner can
 * tell those of dead processes. */
#define FILEIO_TMP_PREFIX ".tmp-"

/* Write a file atomically relative to dirfd: a temp file in the same directory, fsync, rename. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len,
                         guise_error **err);

/* Remove name (a tree or a file) relative to at, making directories writable first (layers
 * and containers can create mode 0555 directories); missing is fine.  Never follows symlinks
 * and stays on no other path than the tree's own. */
int rm_rf_at(int at, const char *name, guise_error **err);

/* Append a copy of s to a NULL-terminated, malloc'd array of strings. */
void strv_append(char ***v, const char *s);
size_t strv_length(char *const *v);
char **strv_copy(char *const *v);

#endif
