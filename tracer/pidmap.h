/* A small open-addressing hash map from pid to pointer (the supervisor's per-thread and
 * per-process caches).  Not thread-safe. */
#ifndef GUISE_TRACER_PIDMAP_H
#define GUISE_TRACER_PIDMAP_H

#include <stddef.h>
#include <sys/types.h>

struct pidmap {
  size_t cap;   /* power of two, or 0 */
  size_t used;  /* live + tombstones */
  size_t count; /* live */
  pid_t *keys;  /* 0: empty, -1: tombstone */
  void **vals;
};

void *pidmap_get(const struct pidmap *m, pid_t key);
/* Insert or replace; returns -1 (errno ENOMEM) on allocation failure. */
int pidmap_put(struct pidmap *m, pid_t key, void *val);
/* Remove and return the value (NULL when absent). */
void *pidmap_remove(struct pidmap *m, pid_t key);
/* Iterate: for (size_t i = 0; pidmap_next(m, &i, &k, &v);) ... (removal while iterating is
 * allowed for the current entry). */
int pidmap_next(const struct pidmap *m, size_t *i, pid_t *key, void **val);
void pidmap_free(struct pidmap *m);

#endif
