/* Open addressing with linear probing and tombstones (see pidmap.h). */
#include "tracer/pidmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define TOMB ((pid_t)-1)

static size_t slot_of(pid_t key, size_t cap)
{
  uint32_t h = (uint32_t)key * 2654435761u;
  return h & (cap - 1);
}

void *pidmap_get(const struct pidmap *m, pid_t key)
{
  if (m->cap == 0 || key <= 0)
    return NULL;
  for (size_t i = slot_of(key, m->cap), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
    if (m->keys[i] == key)
      return m->vals[i];
    if (m->keys[i] == 0)
      return NULL;
  }
  return NULL;
}

static int grow(struct pidmap *m)
{
  size_t ncap = m->cap ? m->cap * 2 : 64;
  if (m->count * 4 < m->cap) /* mostly tombstones: rehash at the same size */
    ncap = m->cap;
  pid_t *keys = calloc(ncap, sizeof(*keys));
  void **vals = calloc(ncap, sizeof(*vals));
  if (keys == NULL || vals == NULL) {
    free(keys);
    free(vals);
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (m->keys[i] <= 0)
      continue;
    size_t j = slot_of(m->keys[i], ncap);
    while (keys[j] != 0)
      j = (j + 1) & (ncap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  free(m->keys);
  free(m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = ncap;
  m->used = m->count;
  return 0;
}

int pidmap_put(struct pidmap *m, pid_t key, void *val)
{
  if (key <= 0) {
    errno = EINVAL;
    return -1;
  }
  if ((m->used + 1) * 4 >= m->cap * 3 && grow(m) < 0)
    return -1;
  size_t tomb = SIZE_MAX;
  size_t i = slot_of(key, m->cap);
  for (;; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) {
      m->vals[i] = val;
      return 0;
    }
    if (m->keys[i] == TOMB && tomb == SIZE_MAX)
      tomb = i;
    if (m->keys[i] == 0)
      break;
  }
  if (tomb != SIZE_MAX)
    i = tomb;
  else
    m->used++;
  m->keys[i] = key;
  m->vals[i] = val;
  m->count++;
  return 0;
}

void *pidmap_remove(struct pidmap *m, pid_t key)
{
  if (m->cap == 0 || key <= 0)
    return NULL;
  for (size_t i = slot_of(key, m->cap), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
    if (m->keys[i] == key) {
      void *v = m->vals[i];
      m->keys[i] = TOMB;
      m->vals[i] = NULL;
      m->count--;
      return v;
    }
    if (m->keys[i] == 0)
      return NULL;
  }
  return NULL;
}

int pidmap_next(const struct pidmap *m, size_t *i, pid_t *key, void **val)
{
  for (; *i < m->cap; (*i)++) {
    if (m->keys[*i] > 0) {
      *key = m->keys[*i];
      *val = m->vals[*i];
      (*i)++;
      return 1;
    }
  }
  return 0;
}

void pidmap_free(struct pidmap *m)
{
  free(m->keys);
  free(m->vals);
  *m = (struct pidmap){0};
}
