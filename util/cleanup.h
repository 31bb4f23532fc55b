/* Cleanup helpers so that every error path frees and closes what it owns. */
#ifndef GUISE_UTIL_CLEANUP_H
#define GUISE_UTIL_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void cleanup_freep(void *p)
{
  free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}

static inline void cleanup_fclosep(FILE **f)
{
  if (*f != NULL) {
    int saved = errno;
    fclose(*f);
    errno = saved;
  }
}

static inline void cleanup_closedirp(DIR **d)
{
  if (*d != NULL) {
    int saved = errno;
    closedir(*d);
    errno = saved;
  }
}

/* Free a NULL-terminated array of strings. */
static inline void strv_free(char **v)
{
  if (v == NULL)
    return;
  for (char **p = v; *p != NULL; p++)
    free(*p);
  free(v);
}

static inline void cleanup_strvp(char ***v)
{
  strv_free(*v);
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(cleanup_fclosep)))
#define _cleanup_closedir_ __attribute__((cleanup(cleanup_closedirp)))
#define _cleanup_strv_ __attribute__((cleanup(cleanup_strvp)))

/* Hand ownership out of a cleanup-managed variable. */
static inline int steal_fd(int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#define steal_ptr(pp)                                                                              \
  ({                                                                                               \
    __typeof__(*(pp)) _stolen = *(pp);                                                             \
    *(pp) = NULL;                                                                                  \
    _stolen;                                                                                       \
  })

#endif
