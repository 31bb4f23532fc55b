/* A view's bindings and the guest-side walk (see tracer/view.h).
 *
 * The walk works on guest path strings and asks the host about one component at a time
 * (lstat, readlink of its host path), as PRoot does (research/no-userns.md §1): a view is made
 * of several host directories, so openat2(RESOLVE_IN_ROOT) on one of them cannot resolve it.
 * Because every component but the last is checked, the guest string stays canonical and ".."
 * is a string operation that stops at the guest root. */
#include "tracer/view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#define MAX_SYMLINKS 40

struct view_binding {
  char *guest; /* no trailing slash; "" for the root */
  size_t glen;
  char *host; /* no trailing slash; "" for the host's root */
  size_t hlen;
};

struct tracer_view {
  struct view_binding *b; /* longest guest prefix first */
  size_t n;
  dev_t proc_dev; /* the host's procfs, for its magic links */
  bool have_proc;
};

static char *normalized(const char *path)
{
  size_t len = strlen(path);
  while (len > 0 && path[len - 1] == '/')
    len--;
  return strndup(path, len);
}

int tracer_view_new(const char *rootfs, struct tracer_view **out, guise_error **err)
{
  struct tracer_view *v = calloc(1, sizeof(*v));
  if (v == NULL) return guise_fail(err, ENOMEM, "creating the view of %s failed", rootfs);
  struct stat st;
  if (stat("/proc", &st) == 0) {
    v->proc_dev = st.st_dev;
    v->have_proc = true;
  }
  *out = v;
  if (tracer_view_bind(v, "/", rootfs, err) < 0) {
    tracer_view_free(v);
    *out = NULL;
    return -1;
  }
  return 0;
}

int tracer_view_bind(struct tracer_view *v, const char *guest, const char *host, guise_error **err)
{
  if (guest[0] != '/' || host[0] != '/')
    return guise_fail(err, EINVAL, "binding %s at %s failed: both paths must be absolute", host,
                      guest);
  if (strstr(guest, "/..") != NULL || strstr(guest, "/./") != NULL)
    return guise_fail(err, EINVAL, "binding %s at %s failed: the guest path is not canonical", host,
                      guest);
  struct view_binding nb = {.guest = normalized(guest), .host = normalized(host)};
  if (nb.guest == NULL || nb.host == NULL) {
    free(nb.guest);
    free(nb.host);
    return guise_fail(err, ENOMEM, "binding %s at %s failed", host, guest);
  }
  nb.glen = strlen(nb.guest);
  nb.hlen = strlen(nb.host);
  for (size_t i = 0; i < v->n; i++) {
    if (strcmp(v->b[i].guest, nb.guest) == 0) { /* a later binding replaces an earlier one */
      free(v->b[i].guest);
      free(v->b[i].host);
      v->b[i] = nb;
      return 0;
    }
  }
  struct view_binding *grown = realloc(v->b, (v->n + 1) * sizeof(*grown));
  if (grown == NULL) {
    free(nb.guest);
    free(nb.host);
    return guise_fail(err, ENOMEM, "binding %s at %s failed", host, guest);
  }
  v->b = grown;
  size_t at = 0;
  while (at < v->n && v->b[at].glen >= nb.glen)
    at++;
  memmove(v->b + at + 1, v->b + at, (v->n - at) * sizeof(*v->b));
  v->b[at] = nb;
  v->n++;
  return 0;
}

void tracer_view_free(struct tracer_view *v)
{
  if (v == NULL) return;
  for (size_t i = 0; i < v->n; i++) {
    free(v->b[i].guest);
    free(v->b[i].host);
  }
  free(v->b);
  free(v);
}

/* Whether path starts with prefix (len bytes) as a whole component ("" matches everything). */
static bool under(const char *path, const char *prefix, size_t len)
{
  return len == 0 || (strncmp(path, prefix, len) == 0 && (path[len] == '/' || path[len] == '\0'));
}

static int join(char out[PATH_MAX], const char *a, const char *b)
{
  int n = snprintf(out, PATH_MAX, "%s%s", a, b);
  if (n < 0 || n >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (out[0] == '\0') strcpy(out, "/");
  return 0;
}

int view_to_host(const struct tracer_view *v, const char *guest, char host[PATH_MAX])
{
  for (size_t i = 0; i < v->n; i++) {
    if (!under(guest, v->b[i].guest, v->b[i].glen)) continue;
    const char *rest = guest + v->b[i].glen;
    return join(host, v->b[i].host, strcmp(rest, "/") == 0 ? "" : rest);
  }
  errno = EXDEV; /* no root binding: cannot happen with tracer_view_new */
  return -1;
}

int view_to_guest(const struct tracer_view *v, const char *host, char guest[PATH_MAX])
{
  const struct view_binding *best = NULL;
  for (size_t i = 0; i < v->n; i++)
    if (under(host, v->b[i].host, v->b[i].hlen) && (best == NULL || v->b[i].hlen > best->hlen))
      best = &v->b[i];
  if (best == NULL) {
    errno = EXDEV;
    return -1;
  }
  return join(guest, best->guest, host + best->hlen);
}

static int fail(guise_error **err, int errnum, const char *path)
{
  return guise_fail(err, errnum, "resolving %s in the view failed", path);
}

/* For a symlink of procfs at host path h (the guest's /proc is the host's): is it one of the
 * links /proc/PID/... or /proc/PID/task/TID/..., and which (the part after the pid)? */
static const char *proc_link(const char *h, pid_t *pid)
{
  if (strncmp(h, "/proc/", 6) != 0) return NULL;
  char *end;
  long n = strtol(h + 6, &end, 10);
  if (end == h + 6 || *end != '/' || n <= 0) return NULL;
  *pid = (pid_t)n;
  const char *rest = end + 1;
  if (strncmp(rest, "task/", 5) == 0) {
    long t = strtol(rest + 5, &end, 10);
    if (end == rest + 5 || *end != '/' || t <= 0) return NULL;
    rest = end + 1;
  }
  return rest;
}

/* The guest target of a procfs magic link, in target (absolute); 1 when the link must be left
 * to the kernel (the last component, a descriptor or namespace link: it then opens the very
 * file the process holds); -1 with errno EACCES when it leads outside the view. */
static int magic_target(const struct tracer_view *v, const struct view_proc *proc, const char *h,
                        const char *which, pid_t pid, bool last, char target[PATH_MAX])
{
  if (strcmp(which, "root") == 0) {
    strcpy(target, "/"); /* every tracee shares the view's root */
    return 0;
  }
  if (strcmp(which, "exe") == 0 && proc != NULL && proc->guest_exe != NULL) {
    const char *exe = proc->guest_exe(proc->ctx, pid);
    if (exe != NULL && strlen(exe) < PATH_MAX) {
      strcpy(target, exe);
      return 0;
    }
  }
  bool named = strcmp(which, "exe") == 0 || strcmp(which, "cwd") == 0;
  if (last && !named) return 1;
  char buf[PATH_MAX];
  ssize_t n = readlink(h, buf, sizeof(buf) - 1);
  if (n < 0) return -1;
  buf[n] = '\0';
  if (buf[0] == '/' && view_to_guest(v, buf, target) == 0) return 0;
  errno = EACCES;
  return -1;
}

int view_walk(const struct tracer_view *v, const struct view_proc *proc, const char *base,
              const char *path, bool follow_last, char guest[PATH_MAX], char host[PATH_MAX],
              guise_error **err)
{
  size_t plen = strnlen(path, PATH_MAX);
  if (plen >= PATH_MAX) return fail(err, ENAMETOOLONG, "a path");
  bool trailing_slash = plen > 1 && path[plen - 1] == '/'; /* "/" alone asks nothing */
  /* res: the canonical guest prefix so far, "" for the root. */
  char res[PATH_MAX] = "";
  size_t rlen = 0;
  if (path[0] != '/' && base != NULL && strcmp(base, "/") != 0) {
    rlen = strnlen(base, PATH_MAX);
    if (rlen >= PATH_MAX) return fail(err, ENAMETOOLONG, path);
    memcpy(res, base, rlen + 1);
    while (rlen > 0 && res[rlen - 1] == '/')
      res[--rlen] = '\0';
  }
  _cleanup_free_ char *rest = strdup(path);
  if (rest == NULL) return fail(err, ENOMEM, path);
  size_t pos = 0;
  int links = 0;
  char h[PATH_MAX], target[PATH_MAX];
  for (;;) {
    while (rest[pos] == '/')
      pos++;
    if (rest[pos] == '\0') break;
    const char *comp = rest + pos;
    size_t len = strcspn(comp, "/");
    size_t after = pos + len;
    while (rest[after] == '/')
      after++;
    bool last = rest[after] == '\0';
    if (len == 1 && comp[0] == '.') {
      pos += len;
      continue;
    }
    if (len == 2 && comp[0] == '.' && comp[1] == '.') {
      char *slash = strrchr(res, '/');
      rlen = slash != NULL ? (size_t)(slash - res) : 0;
      res[rlen] = '\0';
      pos += len;
      continue;
    }
    if (rlen + 1 + len >= PATH_MAX) return fail(err, ENAMETOOLONG, path);
    res[rlen] = '/';
    memcpy(res + rlen + 1, comp, len);
    size_t prev = rlen;
    rlen += 1 + len;
    res[rlen] = '\0';
    pos += len;
    if (last && !follow_last && !trailing_slash) break;
    if (view_to_host(v, res, h) < 0) return fail(err, errno, path);
    const char *link = NULL; /* a symlink's target, guest side */
    /* procfs's self links name the reader: the tracee, not the supervisor. */
    if (v->have_proc && proc != NULL && strcmp(h, "/proc/self") == 0) {
      snprintf(target, sizeof(target), "%d", (int)proc->tgid);
      link = target;
    } else if (v->have_proc && proc != NULL && strcmp(h, "/proc/thread-self") == 0) {
      snprintf(target, sizeof(target), "%d/task/%d", (int)proc->tgid, (int)proc->tid);
      link = target;
    } else {
      struct stat st;
      if (lstat(h, &st) < 0) goto rest_as_is; /* the kernel fails the call here */
      if (S_ISLNK(st.st_mode)) {
        pid_t pid;
        const char *which;
        if (v->have_proc && st.st_dev == v->proc_dev && (which = proc_link(h, &pid)) != NULL) {
          int m = magic_target(v, proc, h, which, pid, last, target);
          if (m < 0) return fail(err, errno, path);
          if (m == 1) break; /* the kernel follows it */
        } else {
          ssize_t n = readlink(h, target, sizeof(target) - 1);
          if (n < 0) return fail(err, errno, path);
          target[n] = '\0';
          if (n == 0) return fail(err, ENOENT, path);
        }
        link = target;
      } else if (!S_ISDIR(st.st_mode) && (!last || trailing_slash)) {
        goto rest_as_is; /* ENOTDIR from the kernel */
      }
    }
    if (link == NULL) continue;
    if (++links > MAX_SYMLINKS) return fail(err, ELOOP, path);
    /* New remaining path: the target, then what followed the link. */
    size_t tlen = strlen(link), tail = strlen(rest + pos);
    char *nrest = malloc(tlen + tail + 1);
    if (nrest == NULL) return fail(err, ENOMEM, path);
    memcpy(nrest, link, tlen);
    memcpy(nrest + tlen, rest + pos, tail + 1);
    free(rest);
    rest = nrest;
    pos = 0;
    rlen = link[0] == '/' ? 0 : prev;
    res[rlen] = '\0';
  }
  if (rlen == 0) strcpy(res, "/");
  strcpy(guest, res);
  if (view_to_host(v, guest, host) < 0) return fail(err, errno, path);
  size_t hl = strlen(host);
  if (trailing_slash && host[hl - 1] != '/') {
    if (hl + 1 >= PATH_MAX) return fail(err, ENAMETOOLONG, path);
    strcpy(host + hl, "/");
  }
  return 0;

rest_as_is:
  /* Missing, or not a directory: the kernel reports it on this very component before it looks
   * at what follows, so the rest (even "..") cannot lead anywhere. */
  if (view_to_host(v, res, h) < 0) return fail(err, errno, path);
  strcpy(guest, res);
  if (snprintf(host, PATH_MAX, "%s%s", h, rest + pos) >= PATH_MAX)
    return fail(err, ENAMETOOLONG, path);
  return 0;
}

ssize_t view_readlink(const struct tracer_view *v, const struct view_proc *proc, const char *host,
                      char target[PATH_MAX])
{
  if (v->have_proc && proc != NULL && strcmp(host, "/proc/self") == 0)
    return snprintf(target, PATH_MAX, "%d", (int)proc->tgid);
  if (v->have_proc && proc != NULL && strcmp(host, "/proc/thread-self") == 0)
    return snprintf(target, PATH_MAX, "%d/task/%d", (int)proc->tgid, (int)proc->tid);
  struct stat st;
  pid_t pid;
  const char *which;
  bool in_proc = v->have_proc && lstat(host, &st) == 0 && st.st_dev == v->proc_dev;
  if (in_proc && S_ISLNK(st.st_mode) && (which = proc_link(host, &pid)) != NULL) {
    int m = magic_target(v, proc, host, which, pid, true, target);
    if (m < 0) return -1;
    if (m == 0) return (ssize_t)strlen(target);
  }
  char raw[PATH_MAX];
  ssize_t n = readlink(host, raw, sizeof(raw) - 1);
  if (n < 0) return -1;
  raw[n] = '\0';
  /* Descriptor links of procfs name host paths: show those of the view as the guest's. */
  if (raw[0] == '/' && in_proc && view_to_guest(v, raw, target) == 0)
    return (ssize_t)strlen(target);
  memcpy(target, raw, (size_t)n + 1);
  return n;
}
