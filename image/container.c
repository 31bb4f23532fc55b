/* Containers made from images: their directories in the store (image/container.h). */
#include "image/container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fakefs/db.h"
#include "image/manifest.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define RECORD_FILE "container.json"
#define SNAPSHOT_FILE "base.snapshot"
#define RECORD_MAX_BYTES (1u << 20)

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0) abort();
  va_end(ap);
  return s;
}

static char *xstrdup(const char *s)
{
  if (s == NULL) return NULL;
  char *r = strdup(s);
  if (r == NULL) abort();
  return r;
}

void container_record_free(struct container_record *r)
{
  if (r == NULL) return;
  free(r->id);
  free(r->name);
  free(r->image);
  free(r->image_digest);
  free(r->image_id);
  free(r->created);
  strv_free(r->command);
  free(r->stop_signal);
  free(r->state);
  free(r);
}

void container_list_free(struct container_record **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    container_record_free(v[i]);
  free(v);
}

static char *containers_dir(const struct image_store *s)
{
  return xasprintf("%s/containers", s->root);
}

static char *container_dir(const struct image_store *s, const char *id)
{
  return xasprintf("%s/containers/%s", s->root, id);
}

char *container_rootfs_path(const struct image_store *s, const struct container_record *r)
{
  return xasprintf("%s/containers/%s/rootfs", s->root, r->id);
}

char *container_db_path(const struct image_store *s, const struct container_record *r)
{
  _cleanup_free_ char *rootfs = container_rootfs_path(s, r);
  char *db = NULL;
  if (fakefs_db_path_for_rootfs(rootfs, &db, NULL) < 0) abort(); /* fails only for "" */
  return db;
}

/* --- container.json --- */

static json_t *record_to_json(const struct container_record *r)
{
  json_t *cmd = json_array();
  for (size_t i = 0; r->command != NULL && r->command[i] != NULL; i++)
    json_array_append_new(cmd, json_string(r->command[i]));
  json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:i,s:i,s:I}", "id", r->id, "name", r->name,
                        "image_digest", r->image_digest, "image_id", r->image_id, "created",
                        r->created, "command", cmd, "state", r->state, "exit_code", r->exit_code,
                        "pid", r->pid, "pid_start", (json_int_t)r->pid_start);
  if (j == NULL) abort();
  if (r->image != NULL) json_object_set_new(j, "image", json_string(r->image));
  if (r->stop_signal != NULL) json_object_set_new(j, "stop_signal", json_string(r->stop_signal));
  return j;
}

static int write_record(int dirfd, const struct container_record *r, guise_error **err)
{
  _cleanup_json_ json_t *j = record_to_json(r);
  _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (text == NULL) abort();
  return write_file_atomic_at(dirfd, RECORD_FILE, text, strlen(text), err);
}

int container_save(const struct image_store *s, const struct container_record *r, guise_error **err)
{
  _cleanup_free_ char *dir = container_dir(s, r->id);
  _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return guise_fail_errno(err, "opening container %s failed", dir);
  if (write_record(fd, r, err) < 0) return guise_error_prefix(err, "container %s", r->name);
  return 0;
}

static const char *json_str(json_t *j, const char *key)
{
  return json_string_value(json_object_get(j, key));
}

/* Read containers/<id>/container.json (id is a directory name, checked by the caller). */
static int read_record(const struct image_store *s, const char *id, struct container_record **out,
                       guise_error **err)
{
  _cleanup_free_ char *path = xasprintf("%s/containers/%s/" RECORD_FILE, s->root, id);
  _cleanup_free_ char *text = NULL;
  size_t len;
  if (read_file_at(AT_FDCWD, path, &text, &len, err) < 0) return -1;
  if (len > RECORD_MAX_BYTES) return guise_fail(err, EFBIG, "reading %s failed", path);
  _cleanup_json_ json_t *j = json_parse_named(path, text, len, err);
  if (j == NULL) return -1;
  struct container_record *r = calloc(1, sizeof(*r));
  if (r == NULL) abort();
  _cleanup_container_record_ struct container_record *owned = r;
  r->id = xstrdup(json_str(j, "id"));
  r->name = xstrdup(json_str(j, "name"));
  r->image = xstrdup(json_str(j, "image"));
  r->image_digest = xstrdup(json_str(j, "image_digest"));
  r->image_id = xstrdup(json_str(j, "image_id"));
  r->created = xstrdup(json_str(j, "created"));
  r->stop_signal = xstrdup(json_str(j, "stop_signal"));
  r->state = xstrdup(json_str(j, "state"));
  r->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
  r->pid = (int)json_integer_value(json_object_get(j, "pid"));
  r->pid_start = (uint64_t)json_integer_value(json_object_get(j, "pid_start"));
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(j, "command"), i, v)
  {
    if (json_is_string(v)) strv_append(&r->command, json_string_value(v));
  }
  if (r->id == NULL || strcmp(r->id, id) != 0 || r->name == NULL || r->image_digest == NULL ||
      r->image_id == NULL || r->created == NULL || r->state == NULL)
    return guise_fail(err, 0, "%s: not a container record (id, name, image or state missing)",
                      path);
  *out = steal_ptr(&owned);
  return 0;
}

/* --- processes --- */

/* The start time of pid in clock ticks since boot (field 22 of /proc/PID/stat), 0 when the
 * process is gone. */
static uint64_t process_start_time(int pid)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  _cleanup_free_ char *text = NULL;
  if (read_file_at(AT_FDCWD, path, &text, NULL, NULL) < 0) return 0;
  const char *p = strrchr(text, ')'); /* the command name may hold spaces and parentheses */
  if (p == NULL) return 0;
  /* After ")": state is field 3; starttime is field 22. */
  int field = 2;
  for (; *p != '\0' && field < 22; p++)
    if (*p == ' ') field++;
  return field == 22 ? strtoull(p, NULL, 10) : 0;
}

bool container_is_running(const struct container_record *r)
{
  return strcmp(r->state, CONTAINER_STATE_RUNNING) == 0 && r->pid > 0 &&
         process_start_time(r->pid) == r->pid_start;
}

const char *container_state(const struct container_record *r)
{
  if (strcmp(r->state, CONTAINER_STATE_RUNNING) == 0 && !container_is_running(r))
    return CONTAINER_STATE_EXITED;
  return r->state;
}

int container_mark_running(const struct image_store *s, struct container_record *r,
                           guise_error **err)
{
  free(r->state);
  r->state = xstrdup(CONTAINER_STATE_RUNNING);
  r->pid = (int)getpid();
  r->pid_start = process_start_time(r->pid);
  r->exit_code = 0;
  return container_save(s, r, err);
}

int container_mark_exited(const struct image_store *s, struct container_record *r, int code,
                          guise_error **err)
{
  free(r->state);
  r->state = xstrdup(CONTAINER_STATE_EXITED);
  r->pid = 0;
  r->pid_start = 0;
  r->exit_code = code;
  return container_save(s, r, err);
}

/* "SIGTERM", "TERM" or "15"; 0 when none of these. */
static int signal_number(const char *text)
{
  if (text == NULL) return 0;
  char *end;
  long n = strtol(text, &end, 10);
  if (*text != '\0' && *end == '\0') return n > 0 && n < NSIG ? (int)n : 0;
  const char *name = strncasecmp(text, "SIG", 3) == 0 ? text + 3 : text;
  for (int sig = 1; sig < NSIG; sig++) {
    const char *abbrev = sigabbrev_np(sig);
    if (abbrev != NULL && strcasecmp(abbrev, name) == 0) return sig;
  }
  return 0;
}

/* Wait up to seconds for the process of pidfd to end: 1 when it did, 0 when not. */
static int wait_gone(int pidfd, unsigned seconds)
{
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  int r;
  while ((r = poll(&p, 1, (int)seconds * 1000)) < 0 && errno == EINTR)
    ;
  return r > 0;
}

int container_stop(const struct container_record *r, unsigned timeout, guise_error **err)
{
  if (!container_is_running(r)) return 0;
  _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, r->pid, 0);
  if (pidfd < 0) return errno == ESRCH ? 0 : guise_fail_errno(err, "stopping %s failed", r->name);
  if (!container_is_running(r)) return 0; /* the pid was reused before the pidfd was had */
  int sig = signal_number(r->stop_signal);
  if (sig == 0) sig = SIGTERM;
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
    return guise_fail_errno(err, "stopping %s: sending signal %d failed", r->name, sig);
  if (wait_gone(pidfd, timeout)) return 0;
  if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
    return guise_fail_errno(err, "stopping %s: sending SIGKILL failed", r->name);
  if (!wait_gone(pidfd, 10))
    return guise_fail(err, ETIMEDOUT, "stopping %s: process %d survived SIGKILL", r->name, r->pid);
  return 0;
}

/* --- listing and finding --- */

static bool is_container_id(const char *name)
{
  return strlen(name) == 64 && strspn(name, "0123456789abcdef") == 64;
}

static int record_cmp(const void *a, const void *b)
{
  const struct container_record *x = *(struct container_record *const *)a;
  const struct container_record *y = *(struct container_record *const *)b;
  int c = strcmp(x->created, y->created);
  return c != 0 ? c : strcmp(x->name, y->name);
}

int container_list(const struct image_store *s, struct container_record ***out, size_t *n,
                   guise_error **err)
{
  *out = NULL;
  *n = 0;
  _cleanup_free_ char *dir = containers_dir(s);
  _cleanup_closedir_ DIR *d = opendir(dir);
  if (d == NULL) return errno == ENOENT ? 0 : guise_fail_errno(err, "reading %s failed", dir);
  struct container_record **v = NULL;
  size_t cap = 0;
  struct dirent *de;
  while ((errno = 0, de = readdir(d)) != NULL) {
    if (!is_container_id(de->d_name)) continue; /* temp directories, ".", ".." */
    struct container_record *r = NULL;
    if (read_record(s, de->d_name, &r, err) < 0) {
      container_list_free(v, *n);
      return -1;
    }
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      v = realloc(v, cap * sizeof(*v));
      if (v == NULL) abort();
    }
    v[(*n)++] = r;
  }
  if (errno != 0) {
    container_list_free(v, *n);
    return guise_fail_errno(err, "reading %s failed", dir);
  }
  if (*n > 1) qsort(v, *n, sizeof(*v), record_cmp);
  *out = v;
  return 0;
}

int container_find(const struct image_store *s, const char *text, struct container_record **out,
                   guise_error **err)
{
  struct container_record **v = NULL;
  size_t n = 0;
  if (container_list(s, &v, &n, err) < 0) return -1;
  ssize_t found = -1;
  for (size_t i = 0; i < n && found < 0; i++)
    if (strcmp(v[i]->name, text) == 0 || strcmp(v[i]->id, text) == 0) found = (ssize_t)i;
  size_t len = strlen(text), matches = 0;
  for (size_t i = 0; i < n && found < 0 && len > 0; i++)
    if (strncmp(v[i]->id, text, len) == 0) matches++;
  if (found < 0 && matches > 1) {
    container_list_free(v, n);
    return guise_fail(err, 0, "container %s is ambiguous: %zu container ids start with it", text,
                      matches);
  }
  for (size_t i = 0; i < n && found < 0 && matches == 1; i++)
    if (strncmp(v[i]->id, text, len) == 0) found = (ssize_t)i;
  if (found < 0) {
    container_list_free(v, n);
    return guise_fail(err, ENOENT, "no container %s in %s", text, s->root);
  }
  *out = steal_ptr(&v[found]);
  container_list_free(v, n);
  return 0;
}

static int name_taken(const struct image_store *s, const char *name, guise_error **err)
{
  struct container_record **v = NULL;
  size_t n = 0;
  if (container_list(s, &v, &n, err) < 0) return -1;
  int taken = 0;
  for (size_t i = 0; i < n && !taken; i++)
    taken = strcmp(v[i]->name, name) == 0;
  container_list_free(v, n);
  if (taken)
    return guise_fail(err, 0, "the container name %s is already in use (guise rm %s)", name, name);
  return 0;
}

/* docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
static int check_name(const char *name, guise_error **err)
{
  static const char first[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  size_t len = strlen(name);
  if (len == 0 || len > 128 || strchr(first, name[0]) == NULL ||
      strspn(name + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
          len - 1)
    return guise_fail(err, 0,
                      "--name %s: a container name is [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 "
                      "characters",
                      name);
  return 0;
}

/* --- making one --- */

static char *now_rfc3339(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%09ldZ", ts.tv_nsec);
  return xstrdup(buf);
}

static int new_id(char id[65], guise_error **err)
{
  unsigned char bytes[32];
  if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
    return guise_fail_errno(err, "getting random bytes for a container id failed");
  for (size_t i = 0; i < sizeof(bytes); i++)
    snprintf(id + 2 * i, 3, "%02x", bytes[i]);
  return 0;
}

/* The rootfs of a new container (in its temp directory dir): the image's layers, and the
 * snapshot commit will diff against. */
static int make_rootfs(const struct image_store *s, const struct stored_image *img, const char *dir,
                       guise_error **err)
{
  _cleanup_free_ char *rootfs = xasprintf("%s/rootfs", dir);
  _cleanup_free_ char *db_path = NULL;
  if (mkdir(rootfs, 0755) < 0) return guise_fail_errno(err, "creating %s failed", rootfs);
  if (fakefs_db_path_for_rootfs(rootfs, &db_path, err) < 0 ||
      image_store_apply(s, img, rootfs, db_path, err) < 0)
    return -1;
  _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return guise_fail_errno(err, "opening %s failed", rootfs);
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  _cleanup_rootfs_snapshot_ struct rootfs_snapshot *snap = NULL;
  if (fakefs_db_open(db_path, FAKEFS_DB_READONLY, &db, err) < 0 ||
      rootfs_snapshot_take(rootfd, db, &snap, err) < 0)
    return -1;
  _cleanup_free_ char *snap_path = xasprintf("%s/" SNAPSHOT_FILE, dir);
  _cleanup_close_ int fd = open(snap_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return guise_fail_errno(err, "creating %s failed", snap_path);
  if (rootfs_snapshot_save(snap, fd, err) < 0 || fsync(fd) < 0)
    return guise_fail_errno(err, "writing %s failed", snap_path);
  return 0;
}

int container_create(const struct image_store *s, const struct stored_image *img, const char *name,
                     char *const *command, struct container_record **out, guise_error **err)
{
  if (name != NULL && check_name(name, err) < 0) return -1;
  char id[65];
  if (new_id(id, err) < 0) return -1;
  _cleanup_free_ char *dir = containers_dir(s);
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return guise_fail_errno(err, "creating %s failed", dir);
  struct container_record *r = calloc(1, sizeof(*r));
  if (r == NULL) abort();
  _cleanup_container_record_ struct container_record *owned = r;
  r->id = xstrdup(id);
  r->name = name != NULL ? xstrdup(name) : xasprintf("%.12s", id);
  r->image = xstrdup(img->name);
  r->image_digest = xstrdup(img->desc.digest);
  r->image_id = xstrdup(img->manifest->config.digest);
  r->created = now_rfc3339();
  r->command = strv_copy(command);
  const char *sig = json_string_value(
      json_object_get(json_object_get(img->config->json, "config"), "StopSignal"));
  r->stop_signal = sig != NULL && *sig != '\0' ? xstrdup(sig) : NULL;
  r->state = xstrdup(CONTAINER_STATE_CREATED);
  if (name_taken(s, r->name, err) < 0) return -1; /* before the work, not only after */

  static atomic_uint counter;
  _cleanup_free_ char *tmp = xasprintf("%s/%s%.12s-%d-%u", dir, FILEIO_TMP_PREFIX, id,
                                       (int)getpid(), atomic_fetch_add(&counter, 1));
  _cleanup_free_ char *final = container_dir(s, id);
  if (mkdir(tmp, 0700) < 0) return guise_fail_errno(err, "creating %s failed", tmp);
  int ret = make_rootfs(s, img, tmp, err);
  if (ret == 0) {
    _cleanup_close_ int tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ret = tmpfd < 0 ? guise_fail_errno(err, "opening %s failed", tmp) : write_record(tmpfd, r, err);
  }
  if (ret == 0) {
    _cleanup_close_ int lock = image_store_lock(s, err);
    if (lock < 0 || name_taken(s, r->name, err) < 0)
      ret = -1;
    else if (rename(tmp, final) < 0)
      ret = guise_fail_errno(err, "renaming %s to %s failed", tmp, final);
  }
  if (ret < 0) {
    rm_rf_at(AT_FDCWD, tmp, NULL);
    return guise_error_prefix(err, "creating a container of %s",
                              img->name ? img->name : img->desc.digest);
  }
  *out = steal_ptr(&owned);
  return 0;
}

/* --- using one --- */

int container_base_snapshot(const struct image_store *s, const struct container_record *r,
                            struct rootfs_snapshot **out, guise_error **err)
{
  _cleanup_free_ char *path = xasprintf("%s/containers/%s/" SNAPSHOT_FILE, s->root, r->id);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return guise_fail_errno(err, "opening %s failed", path);
  if (rootfs_snapshot_load(fd, out, err) < 0) return guise_error_prefix(err, "%s", path);
  return 0;
}

int container_open_rootfs(const struct image_store *s, const struct container_record *r,
                          int *rootfd, struct fakefs_db **db, guise_error **err)
{
  _cleanup_free_ char *rootfs = container_rootfs_path(s, r);
  _cleanup_free_ char *db_path = container_db_path(s, r);
  *rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*rootfd < 0) return guise_fail_errno(err, "opening %s failed", rootfs);
  return fakefs_db_open(db_path, FAKEFS_DB_READONLY, db, err);
}

int container_export(const struct image_store *s, const struct container_record *r, int fd,
                     guise_error **err)
{
  _cleanup_close_ int rootfd = -1;
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (container_open_rootfs(s, r, &rootfd, &db, err) < 0) return -1;
  struct layer_write_options wo = {.compression = LAYER_UNCOMPRESSED,
                                   .source_date_epoch = -1,
                                   .host_uid = getuid(),
                                   .host_gid = getgid()};
  struct layer_digests d;
  if (layer_write(rootfd, db, NULL, fd, &wo, &d, err) < 0)
    return guise_error_prefix(err, "exporting container %s", r->name);
  return 0;
}

int container_remove(const struct image_store *s, const struct container_record *r,
                     guise_error **err)
{
  /* Out of sight first (a temp name prune removes if this process dies), then deleted. */
  static atomic_uint counter;
  _cleanup_free_ char *dir = container_dir(s, r->id);
  _cleanup_free_ char *gone =
      xasprintf("%s/containers/%srm-%.12s-%d-%u", s->root, FILEIO_TMP_PREFIX, r->id, (int)getpid(),
                atomic_fetch_add(&counter, 1));
  if (rename(dir, gone) < 0) return guise_fail_errno(err, "removing container %s failed", r->name);
  /* A container whose guise was killed dies a moment later (parent-death signal): its last
   * processes may still be creating files in there. */
  for (int attempt = 0;; attempt++) {
    _cleanup_error_ guise_error *rerr = NULL;
    if (rm_rf_at(AT_FDCWD, gone, attempt < 20 ? &rerr : err) == 0) return 0;
    if (attempt == 20) return guise_error_prefix(err, "removing container %s", r->name);
    usleep(100 * 1000);
  }
}

int container_image_digests(const struct image_store *s, char ***out, guise_error **err)
{
  *out = NULL;
  struct container_record **v = NULL;
  size_t n = 0;
  if (container_list(s, &v, &n, err) < 0) return -1;
  for (size_t i = 0; i < n; i++)
    strv_append(out, v[i]->image_digest);
  container_list_free(v, n);
  return 0;
}
