/* Writing a layer tar (full or a diff against a snapshot) with the faked state of the DB, and
 * compressing it: gzip in parallel blocks (pigz's scheme: each block deflated with the previous
 * 32 KiB as dictionary and ended with a sync flush, so the blocks join into one ordinary gzip
 * member; the output depends only on the input, not on thread timing), zstd through libarchive's
 * filter with libzstd worker threads. */
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include "image/digest.h"
#include "image/layer_internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define NOBODY 65534
#define DATA_CHUNK (1 << 20)

int layer_compression_parse(const char *s, enum layer_compression *out)
{
  if (strcmp(s, "gzip") == 0)
    *out = LAYER_GZIP;
  else if (strcmp(s, "zstd") == 0)
    *out = LAYER_ZSTD;
  else if (strcmp(s, "none") == 0 || strcmp(s, "uncompressed") == 0)
    *out = LAYER_UNCOMPRESSED;
  else
    return -1;
  return 0;
}

/* --- the compressed output: written to out_fd and digested --- */

#define SINK_BUF (1 << 20)

struct sink {
  int fd;
  struct digest_ctx *digest;
  int errnum;         /* first write error */
  unsigned char *buf; /* tar headers come 512 bytes at a time: write in big chunks */
  size_t len;
};

static int sink_flush(struct sink *s)
{
  if (s->errnum != 0) return -1;
  if (s->len == 0) return 0;
  digest_update(s->digest, s->buf, s->len);
  if (write_all(s->fd, s->buf, s->len) < 0) {
    s->errnum = errno;
    return -1;
  }
  s->len = 0;
  return 0;
}

static int sink_write(struct sink *s, const void *buf, size_t len)
{
  if (s->errnum != 0) return -1;
  if (s->len + len > SINK_BUF && sink_flush(s) < 0) return -1;
  if (len >= SINK_BUF) {
    digest_update(s->digest, buf, len);
    if (write_all(s->fd, buf, len) < 0) {
      s->errnum = errno;
      return -1;
    }
    return 0;
  }
  memcpy(s->buf + s->len, buf, len);
  s->len += len;
  return 0;
}

/* --- parallel gzip --- */

#define PGZ_BLOCK (512 << 10)
#define PGZ_DICT (32 << 10)

struct pgz_job {
  unsigned char *in;
  size_t in_len;
  unsigned char *dict; /* the previous block's last PGZ_DICT bytes (points into it) */
  size_t dict_len;
  bool last;
  unsigned char *out;
  size_t out_len, out_cap;
  uint32_t crc;
  int state; /* 0 free, 1 queued, 2 running, 3 done, -1 failed */
};

struct pgz {
  struct sink *sink;
  int level, nthreads, njobs;
  pthread_t *threads;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
  struct pgz_job *jobs;
  uint64_t next_fill, next_write, next_run; /* sequence numbers */
  uint32_t crc;
  uint64_t total;
  bool failed;
};

static int pgz_deflate(z_stream *zs, struct pgz_job *j)
{
  if (deflateReset(zs) != Z_OK) return -1;
  if (j->dict_len > 0 && deflateSetDictionary(zs, j->dict, (uInt)j->dict_len) != Z_OK) return -1;
  size_t need = deflateBound(zs, j->in_len) + 64;
  if (j->out_cap < need) {
    free(j->out);
    j->out = malloc(need);
    if (j->out == NULL) abort();
    j->out_cap = need;
  }
  zs->next_in = j->in;
  zs->avail_in = (uInt)j->in_len;
  zs->next_out = j->out;
  zs->avail_out = (uInt)j->out_cap;
  int r = deflate(zs, j->last ? Z_FINISH : Z_SYNC_FLUSH);
  if (r == Z_STREAM_ERROR || zs->avail_in != 0 || (j->last && r != Z_STREAM_END)) return -1;
  j->out_len = j->out_cap - zs->avail_out;
  j->crc = (uint32_t)crc32(0, j->in, (uInt)j->in_len);
  return 0;
}

static void *pgz_worker(void *arg)
{
  struct pgz *p = arg;
  z_stream zs = {0};
  bool ok = deflateInit2(&zs, p->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->stop && p->next_run == p->next_fill)
      pthread_cond_wait(&p->cond, &p->lock);
    if (p->next_run == p->next_fill && p->stop) break;
    struct pgz_job *j = &p->jobs[p->next_run % (uint64_t)p->njobs];
    p->next_run++;
    j->state = 2;
    pthread_mutex_unlock(&p->lock);
    int r = ok ? pgz_deflate(&zs, j) : -1;
    pthread_mutex_lock(&p->lock);
    j->state = r == 0 ? 3 : -1;
    pthread_cond_broadcast(&p->cond);
  }
  pthread_mutex_unlock(&p->lock);
  deflateEnd(&zs);
  return NULL;
}

static int pgz_start(struct pgz *p, struct sink *sink, int level, int nthreads)
{
  memset(p, 0, sizeof(*p));
  p->sink = sink;
  p->level = level;
  p->nthreads = nthreads;
  p->njobs = 2 * nthreads + 2;
  p->jobs = calloc((size_t)p->njobs, sizeof(struct pgz_job));
  p->threads = calloc((size_t)nthreads, sizeof(pthread_t));
  if (p->jobs == NULL || p->threads == NULL) abort();
  for (int i = 0; i < p->njobs; i++) {
    p->jobs[i].in = malloc(PGZ_BLOCK);
    if (p->jobs[i].in == NULL) abort();
  }
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cond, NULL);
  p->crc = (uint32_t)crc32(0, NULL, 0);
  static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&p->threads[i], NULL, pgz_worker, p) != 0) abort();
  return sink_write(sink, header, sizeof(header));
}

/* Write out finished jobs in order; with wait, until job seq `until` is written. */
static int pgz_drain(struct pgz *p, uint64_t until, bool wait)
{
  for (;;) {
    pthread_mutex_lock(&p->lock);
    if (p->next_write >= until || p->next_write == p->next_fill) {
      pthread_mutex_unlock(&p->lock);
      return 0;
    }
    struct pgz_job *j = &p->jobs[p->next_write % (uint64_t)p->njobs];
    while (wait && j->state != 3 && j->state != -1)
      pthread_cond_wait(&p->cond, &p->lock);
    int state = j->state;
    pthread_mutex_unlock(&p->lock);
    if (state == -1) {
      p->failed = true;
      return -1;
    }
    if (state != 3) return 0;
    p->crc = (uint32_t)crc32_combine(p->crc, j->crc, (z_off_t)j->in_len);
    if (sink_write(p->sink, j->out, j->out_len) < 0) return -1;
    pthread_mutex_lock(&p->lock);
    j->state = 0;
    p->next_write++;
    pthread_mutex_unlock(&p->lock);
  }
}

static struct pgz_job *pgz_filling(struct pgz *p)
{
  return &p->jobs[p->next_fill % (uint64_t)p->njobs];
}

static int pgz_submit(struct pgz *p, bool last)
{
  struct pgz_job *j = pgz_filling(p);
  j->last = last;
  if (p->next_fill > 0) {
    struct pgz_job *prev = &p->jobs[(p->next_fill - 1) % (uint64_t)p->njobs];
    j->dict_len = prev->in_len < PGZ_DICT ? prev->in_len : PGZ_DICT;
    j->dict = prev->in + prev->in_len - j->dict_len;
  }
  pthread_mutex_lock(&p->lock);
  j->state = 1;
  p->next_fill++;
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  /* The next slot to fill must be free, and the one before it (the dictionary) kept. */
  if (p->next_fill + 2 > (uint64_t)p->njobs + p->next_write &&
      pgz_drain(p, p->next_fill + 2 - (uint64_t)p->njobs, true) < 0)
    return -1;
  if (pgz_drain(p, p->next_fill, false) < 0) return -1;
  struct pgz_job *n = pgz_filling(p);
  n->in_len = 0;
  n->dict_len = 0;
  return 0;
}

static int pgz_write(struct pgz *p, const void *buf, size_t len)
{
  const unsigned char *src = buf;
  while (len > 0) {
    struct pgz_job *j = pgz_filling(p);
    size_t n = PGZ_BLOCK - j->in_len;
    if (n > len) n = len;
    memcpy(j->in + j->in_len, src, n);
    j->in_len += n;
    p->total += n;
    src += n;
    len -= n;
    if (j->in_len == PGZ_BLOCK && pgz_submit(p, false) < 0) return -1;
  }
  return 0;
}

static int pgz_finish(struct pgz *p)
{
  if (pgz_submit(p, true) < 0 || pgz_drain(p, p->next_fill, true) < 0) return -1;
  unsigned char trailer[8];
  for (int i = 0; i < 4; i++) {
    trailer[i] = (unsigned char)(p->crc >> (8 * i));
    trailer[4 + i] = (unsigned char)(p->total >> (8 * i));
  }
  return sink_write(p->sink, trailer, sizeof(trailer));
}

static void pgz_stop(struct pgz *p)
{
  if (p->threads == NULL) return;
  pthread_mutex_lock(&p->lock);
  p->stop = true;
  p->next_run = p->next_fill; /* drop queued work */
  pthread_cond_broadcast(&p->cond);
  pthread_mutex_unlock(&p->lock);
  for (int i = 0; i < p->nthreads; i++)
    pthread_join(p->threads[i], NULL);
  for (int i = 0; i < p->njobs; i++) {
    free(p->jobs[i].in);
    free(p->jobs[i].out);
  }
  free(p->jobs);
  free(p->threads);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->cond);
  p->threads = NULL;
}

/* --- the tar stream: digested (diff_id), then compressed --- */

struct out {
  enum layer_compression comp;
  struct digest_ctx *diff;
  struct sink sink;
  struct pgz pgz;
  struct archive *zst; /* libarchive raw format + zstd filter */
  const char *failure; /* why a write failed, when not errno */
};

static ssize_t sink_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
  struct sink *s = ud;
  if (sink_write(s, buf, len) < 0) {
    archive_set_error(a, s->errnum, "writing the layer failed");
    return -1;
  }
  return (ssize_t)len;
}

static int out_start(struct out *o, const struct layer_write_options *opts, int fd,
                     guise_error **err)
{
  o->diff = digest_new();
  o->sink.fd = fd;
  o->sink.digest = digest_new();
  o->sink.buf = malloc(SINK_BUF);
  if (o->sink.buf == NULL) abort();
  int threads = opts->threads > 0 ? opts->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (threads < 1) threads = 1;
  if (o->comp == LAYER_GZIP) {
    int level = opts->level > 0 ? opts->level : 6;
    if (level > 9) return guise_fail(err, EINVAL, "gzip level %d out of range", level);
    if (pgz_start(&o->pgz, &o->sink, level, threads) < 0)
      return guise_fail(err, o->sink.errnum, "writing the layer failed");
  } else if (o->comp == LAYER_ZSTD) {
    char level[16], nthreads[16];
    snprintf(level, sizeof(level), "%d", opts->level > 0 ? opts->level : 3);
    snprintf(nthreads, sizeof(nthreads), "%d", threads);
    struct archive *z = archive_write_new();
    if (z == NULL) abort();
    o->zst = z;
    if (archive_write_add_filter_zstd(z) != ARCHIVE_OK ||
        archive_write_set_filter_option(z, "zstd", "compression-level", level) != ARCHIVE_OK ||
        archive_write_set_format_raw(z) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(z, 0) != ARCHIVE_OK)
      return guise_fail(err, 0, "setting up zstd compression failed: %s", archive_error_string(z));
    /* libarchive without threaded libzstd: fall back to one thread rather than fail. */
    archive_write_set_filter_option(z, "zstd", "threads", nthreads);
    if (archive_write_open2(z, &o->sink, NULL, sink_cb, NULL, NULL) != ARCHIVE_OK)
      return guise_fail(err, 0, "setting up zstd compression failed: %s", archive_error_string(z));
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "layer.tar");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    int r = archive_write_header(z, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK)
      return guise_fail(err, 0, "setting up zstd compression failed: %s", archive_error_string(z));
  }
  return 0;
}

static int out_write(struct out *o, const void *buf, size_t len)
{
  digest_update(o->diff, buf, len);
  switch (o->comp) {
  case LAYER_GZIP:
    if (pgz_write(&o->pgz, buf, len) < 0) {
      o->failure = o->pgz.failed ? "gzip compression failed" : NULL;
      return -1;
    }
    return 0;
  case LAYER_ZSTD: {
    la_ssize_t w = archive_write_data(o->zst, buf, len);
    if (w < 0 || (size_t)w != len) {
      o->failure = archive_error_string(o->zst);
      return -1;
    }
    return 0;
  }
  default:
    return sink_write(&o->sink, buf, len);
  }
}

static int out_finish(struct out *o, struct layer_digests *d, guise_error **err)
{
  if (o->comp == LAYER_GZIP && pgz_finish(&o->pgz) < 0) goto fail;
  if (o->comp == LAYER_ZSTD && archive_write_close(o->zst) != ARCHIVE_OK) {
    o->failure = archive_error_string(o->zst);
    goto fail;
  }
  if (sink_flush(&o->sink) < 0) goto fail;
  digest_peek(o->diff, d->diff_id);
  digest_peek(o->sink.digest, d->digest);
  d->size = digest_bytes(o->sink.digest);
  return 0;
fail:
  if (o->failure != NULL && o->sink.errnum == 0)
    return guise_fail(err, 0, "compressing the layer failed: %s", o->failure);
  return guise_fail(err, o->sink.errnum, "writing the layer failed");
}

static void out_free(struct out *o)
{
  pgz_stop(&o->pgz);
  if (o->zst != NULL) archive_write_free(o->zst);
  digest_free(o->diff);
  digest_free(o->sink.digest);
  free(o->sink.buf);
}

static ssize_t tar_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
  struct out *o = ud;
  if (out_write(o, buf, len) < 0) {
    archive_set_error(a, o->sink.errnum ? o->sink.errnum : EIO, "%s",
                      o->failure ? o->failure : "writing the layer failed");
    return -1;
  }
  return (ssize_t)len;
}

/* --- choosing and writing entries --- */

struct item {
  const char *path;
  const struct layer_node *node; /* NULL: a whiteout */
  char *owned;                   /* the whiteout path */
};

static int item_cmp(const void *a, const void *b)
{
  return strcmp(((const struct item *)a)->path, ((const struct item *)b)->path);
}

static bool node_changed(const struct layer_node *a, const struct layer_node *b)
{
  if (a->mode != b->mode || a->size != b->size || a->mtime_ns != b->mtime_ns ||
      a->ctime_ns != b->ctime_ns || a->ino != b->ino || a->rdev != b->rdev)
    return true;
  if ((a->link == NULL) != (b->link == NULL) || (a->link && strcmp(a->link, b->link) != 0))
    return true;
  if (a->fake.fields != b->fake.fields || a->xattr_hash != b->xattr_hash) return true;
  uint32_t f = a->fake.fields;
  return ((f & FAKEFS_FAKE_UID) && a->fake.uid != b->fake.uid) ||
         ((f & FAKEFS_FAKE_GID) && a->fake.gid != b->fake.gid) ||
         ((f & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE)) && a->fake.mode != b->fake.mode) ||
         ((f & FAKEFS_FAKE_TYPE) && a->fake.rdev != b->fake.rdev);
}

static char *parent_of(const char *path)
{
  const char *slash = strrchr(path, '/');
  char *p = strndup(path, slash ? (size_t)(slash - path) : 0);
  if (p == NULL) abort();
  return p;
}

static void add_item(struct item **items, size_t *n, size_t *cap, struct item it)
{
  *items = layer_grow(*items, *n, cap, sizeof(struct item));
  (*items)[(*n)++] = it;
}

/* What goes into the layer: every node, or the changed ones plus whiteouts. */
static void select_items(const struct layer_tree *cur, const struct layer_tree *base,
                         struct item **items, size_t *n)
{
  size_t cap = 0;
  *items = NULL;
  *n = 0;
  if (base == NULL) {
    for (size_t i = 0; i < cur->n; i++)
      add_item(items, n, &cap, (struct item){.path = cur->nodes[i].path, .node = &cur->nodes[i]});
    return;
  }
  size_t i = 0, j = 0;
  while (i < cur->n || j < base->n) {
    int c = i == cur->n ? 1 : j == base->n ? -1 : strcmp(cur->nodes[i].path, base->nodes[j].path);
    if (c < 0) { /* added */
      add_item(items, n, &cap, (struct item){.path = cur->nodes[i].path, .node = &cur->nodes[i]});
      i++;
    } else if (c == 0) {
      if (node_changed(&cur->nodes[i], &base->nodes[j]))
        add_item(items, n, &cap, (struct item){.path = cur->nodes[i].path, .node = &cur->nodes[i]});
      i++;
      j++;
    } else { /* deleted: one whiteout, unless its parent went (or stopped being a dir) too */
      const char *path = base->nodes[j].path;
      _cleanup_free_ char *parent = parent_of(path);
      const struct layer_node *p = *parent ? layer_tree_find(cur, parent) : NULL;
      if (*parent == '\0' || (p != NULL && S_ISDIR(p->mode))) {
        const char *name = path + strlen(parent) + (*parent ? 1 : 0);
        char *wh = NULL;
        if (asprintf(&wh, "%s%s.wh.%s", parent, *parent ? "/" : "", name) < 0) abort();
        add_item(items, n, &cap, (struct item){.path = wh, .owned = wh});
      }
      j++;
    }
  }
}

/* Hard links inside the layer: (dev, ino) -> first path written. */
struct link_map {
  struct link_slot {
    uint64_t dev, ino;
    const char *path;
  } * slots;
  size_t cap, n;
};

static const char *link_map_get_or_put(struct link_map *m, uint64_t dev, uint64_t ino,
                                       const char *path)
{
  if ((m->n + 1) * 2 > m->cap) {
    struct link_map nm = {.cap = m->cap ? m->cap * 2 : 256};
    nm.slots = calloc(nm.cap, sizeof(struct link_slot));
    if (nm.slots == NULL) abort();
    for (size_t i = 0; i < m->cap; i++)
      if (m->slots[i].path != NULL)
        link_map_get_or_put(&nm, m->slots[i].dev, m->slots[i].ino, m->slots[i].path);
    free(m->slots);
    *m = nm;
  }
  size_t i = (size_t)((ino * 0x9E3779B97F4A7C15ULL) ^ dev) & (m->cap - 1);
  while (m->slots[i].path != NULL) {
    if (m->slots[i].dev == dev && m->slots[i].ino == ino) return m->slots[i].path;
    i = (i + 1) & (m->cap - 1);
  }
  m->slots[i] = (struct link_slot){dev, ino, path};
  m->n++;
  return NULL;
}

struct xattr_list {
  struct xattr_item {
    char *name;
    void *value;
    size_t len;
  } * v;
  size_t n, cap;
};

static void xattr_list_add(struct xattr_list *l, const char *name, const void *value, size_t len)
{
  l->v = layer_grow(l->v, l->n, &l->cap, sizeof(*l->v));
  struct xattr_item *x = &l->v[l->n++];
  x->name = strdup(name);
  x->value = malloc(len ? len : 1);
  if (x->name == NULL || x->value == NULL) abort();
  memcpy(x->value, value, len);
  x->len = len;
}

static void xattr_list_clear(struct xattr_list *l)
{
  for (size_t i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].value);
  }
  l->n = 0;
}

static int xattr_collect(void *ud, const char *name, const void *value, size_t len)
{
  xattr_list_add(ud, name, value, len);
  return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
  return strcmp(((const struct xattr_item *)a)->name, ((const struct xattr_item *)b)->name);
}

/* Real user.* xattrs of fd (the others are the DB's business). */
static int real_user_xattrs(int fd, const char *path, struct xattr_list *l, guise_error **err)
{
  char names[4096];
  ssize_t len = flistxattr(fd, names, sizeof(names));
  if (len < 0 && (errno == ENOTSUP || errno == EBADF)) return 0;
  if (len < 0) return guise_fail_errno(err, "listing the xattrs of /%s failed", path);
  for (char *n = names; n < names + len; n += strlen(n) + 1) {
    if (strncmp(n, "user.", 5) != 0) continue;
    char value[65536];
    ssize_t vl = fgetxattr(fd, n, value, sizeof(value));
    if (vl < 0 && errno == ENODATA) continue;
    if (vl < 0) return guise_fail_errno(err, "reading xattr %s of /%s failed", n, path);
    xattr_list_add(l, n, value, (size_t)vl);
  }
  return 0;
}

struct writer {
  int rootfd;
  struct fakefs_db *db;
  const struct layer_write_options *opts;
  struct archive *a;
  struct archive_entry *e;
  struct link_map links;
  struct xattr_list xattrs;
  unsigned char *buf;
  uint64_t entries;
  uint64_t warned_ids;
};

static void write_warn(struct writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void write_warn(struct writer *w, const char *fmt, ...)
{
  if (w->opts->warn == NULL) return;
  _cleanup_free_ char *msg = NULL;
  va_list va;
  va_start(va, fmt);
  if (vasprintf(&msg, fmt, va) < 0) abort();
  va_end(va);
  w->opts->warn(w->opts->warn_ud, msg);
}

static int archive_fail(struct writer *w, const char *path, guise_error **err)
{
  int e = archive_errno(w->a);
  return guise_fail(err, e > 0 ? e : 0, "writing the entry for /%s failed: %s", path,
                    archive_error_string(w->a));
}

static int64_t clamp_time(const struct writer *w, int64_t t_ns, long *nsec)
{
  int64_t sde = w->opts->source_date_epoch;
  if (sde >= 0 && t_ns > sde * 1000000000) {
    *nsec = 0;
    return sde;
  }
  int64_t s = t_ns / 1000000000, ns = t_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    s--;
  }
  *nsec = (long)ns;
  return s;
}

static uint32_t map_id(struct writer *w, uint32_t id, uint32_t host, const char *what,
                       const char *path)
{
  if (id == host) return 0;
  if (w->warned_ids++ < 10)
    write_warn(w, "/%s: %s %u is not the user's; written as %u", path, what, id, NOBODY);
  return NOBODY;
}

static int write_whiteout(struct writer *w, const char *path, guise_error **err)
{
  struct archive_entry *e = archive_entry_clear(w->e);
  archive_entry_copy_pathname(e, path);
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0);
  archive_entry_set_size(e, 0);
  archive_entry_set_mtime(e, 0, 0);
  if (archive_write_header(w->a, e) < ARCHIVE_WARN) return archive_fail(w, path, err);
  w->entries++;
  return 0;
}

static int write_node(struct writer *w, const struct layer_node *n, guise_error **err)
{
  const struct fake_inode *fi = &n->fake;
  uint32_t type = n->mode & S_IFMT, perms = n->mode & 07777;
  if (fi->fields & FAKEFS_FAKE_TYPE) type = fi->mode & S_IFMT;
  if (fi->fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE)) perms = fi->mode & 07777;
  if (type == S_IFSOCK) {
    write_warn(w, "/%s: sockets cannot be stored in a layer; skipped", n->path);
    return 0;
  }
  struct archive_entry *e = archive_entry_clear(w->e);
  archive_entry_copy_pathname(e, n->path);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, perms);
  archive_entry_set_uid(e, (fi->fields & FAKEFS_FAKE_UID)
                               ? fi->uid
                               : map_id(w, n->uid, w->opts->host_uid, "owner", n->path));
  archive_entry_set_gid(e, (fi->fields & FAKEFS_FAKE_GID)
                               ? fi->gid
                               : map_id(w, n->gid, w->opts->host_gid, "group", n->path));
  long nsec;
  time_t sec = (time_t)clamp_time(w, n->mtime_ns, &nsec);
  archive_entry_set_mtime(e, sec, nsec);

  const char *first = NULL;
  if (type != S_IFDIR && n->nlink > 1)
    first = link_map_get_or_put(&w->links, n->dev, n->ino, n->path);

  _cleanup_close_ int fd = -1;
  uint64_t size = 0;
  if (first != NULL) {
    archive_entry_set_hardlink(e, first);
    archive_entry_set_size(e, 0);
  } else if (type == S_IFLNK) {
    archive_entry_set_symlink(e, n->link);
  } else if (type == S_IFCHR || type == S_IFBLK) {
    archive_entry_set_rdev(e, (fi->fields & FAKEFS_FAKE_TYPE) ? fi->rdev : n->rdev);
  } else if (type == S_IFREG) {
    size = n->size;
  }
  /* Regular files and directories are opened: data and user.* xattrs. */
  bool on_disk_reg = S_ISREG(n->mode);
  if (first == NULL && (on_disk_reg || type == S_IFDIR)) {
    fd = layer_openat2(w->rootfd, n->path,
                       O_RDONLY | O_NOFOLLOW | (type == S_IFDIR ? O_DIRECTORY : 0),
                       RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) return guise_fail_errno(err, "opening /%s failed", n->path);
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_ino != n->ino)
      return guise_fail(err, 0, "/%s changed while the layer was written", n->path);
  }
  xattr_list_clear(&w->xattrs);
  if (w->db != NULL && (fi->fields & FAKEFS_FAKE_XATTRS) &&
      fakefs_db_xattr_foreach(w->db, &fi->key, xattr_collect, &w->xattrs, err) < 0)
    return guise_error_prefix(err, "reading the faked xattrs of /%s", n->path);
  if (fd >= 0 && real_user_xattrs(fd, n->path, &w->xattrs, err) < 0) return -1;
  if (w->xattrs.n > 0 && first == NULL) {
    qsort(w->xattrs.v, w->xattrs.n, sizeof(struct xattr_item), xattr_cmp);
    for (size_t i = 0; i < w->xattrs.n; i++)
      archive_entry_xattr_add_entry(e, w->xattrs.v[i].name, w->xattrs.v[i].value,
                                    w->xattrs.v[i].len);
  }
  archive_entry_set_size(e, (la_int64_t)size);
  if (archive_write_header(w->a, e) < ARCHIVE_WARN) return archive_fail(w, n->path, err);
  w->entries++;
  uint64_t done = 0;
  while (done < size) {
    size_t want = size - done < DATA_CHUNK ? (size_t)(size - done) : DATA_CHUNK;
    ssize_t r = read(fd, w->buf, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return guise_fail_errno(err, "reading /%s failed", n->path);
    if (r == 0) { /* it shrank: pad to the size in the header */
      memset(w->buf, 0, want);
      r = (ssize_t)want;
    }
    if (archive_write_data(w->a, w->buf, (size_t)r) != r) return archive_fail(w, n->path, err);
    done += (uint64_t)r;
  }
  return 0;
}

int layer_write(int rootfd, struct fakefs_db *db, const struct rootfs_snapshot *base, int out_fd,
                const struct layer_write_options *opts, struct layer_digests *digests,
                guise_error **err)
{
  struct layer_write_options defaults = {.compression = LAYER_GZIP,
                                         .source_date_epoch = -1,
                                         .host_uid = getuid(),
                                         .host_gid = getgid()};
  if (opts == NULL) opts = &defaults;
  struct layer_tree cur;
  if (layer_tree_scan(rootfd, db, &cur, err) < 0) return -1;
  struct item *items;
  size_t nitems;
  select_items(&cur, base ? &base->tree : NULL, &items, &nitems);
  if (nitems > 0) qsort(items, nitems, sizeof(struct item), item_cmp); /* none: NULL */

  int ret = -1;
  struct out o = {.comp = opts->compression};
  struct writer w = {.rootfd = rootfd, .db = db, .opts = opts};
  w.buf = malloc(DATA_CHUNK);
  if (w.buf == NULL) abort();
  if (out_start(&o, opts, out_fd, err) < 0) goto out;
  w.a = archive_write_new();
  w.e = archive_entry_new();
  if (w.a == NULL || w.e == NULL) abort();
  if (archive_write_set_format_pax_restricted(w.a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(w.a, 0) != ARCHIVE_OK) {
    guise_fail(err, 0, "setting up the tar writer failed: %s", archive_error_string(w.a));
    goto out;
  }
  /* Raw names and xattr names (SCHILY.xattr.<name>, no LIBARCHIVE.xattr duplicates); names
   * are bytes, never converted through the locale. */
  archive_write_set_format_option(w.a, "pax", "xattrheader", "SCHILY");
  archive_write_set_format_option(w.a, "pax", "hdrcharset", "BINARY");
  if (archive_write_open2(w.a, &o, NULL, tar_cb, NULL, NULL) != ARCHIVE_OK) {
    guise_fail(err, 0, "setting up the tar writer failed: %s", archive_error_string(w.a));
    goto out;
  }
  for (size_t i = 0; i < nitems; i++) {
    int r =
        items[i].node ? write_node(&w, items[i].node, err) : write_whiteout(&w, items[i].path, err);
    if (r < 0) goto out;
  }
  if (archive_write_close(w.a) != ARCHIVE_OK) {
    archive_fail(&w, "", err);
    goto out;
  }
  if (out_finish(&o, digests, err) < 0) goto out;
  digests->entries = w.entries;
  ret = 0;
out:
  if (w.a != NULL) archive_write_free(w.a);
  if (w.e != NULL) archive_entry_free(w.e);
  xattr_list_clear(&w.xattrs);
  free(w.xattrs.v);
  free(w.links.slots);
  free(w.buf);
  out_free(&o);
  for (size_t i = 0; i < nitems; i++)
    free(items[i].owned);
  free(items);
  layer_tree_free(&cur);
  return ret;
}
