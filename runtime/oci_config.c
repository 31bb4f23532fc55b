#include "runtime/oci_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

/* uid_t/gid_t: (uid_t)-1 means "no change" to the kernel, never a real id. */
#define ID_MAX UINT64_C(0xfffffffe)

struct loader {
  const char *file;   /* "<bundle>/config.json" as the caller named it, for messages */
  const char *bundle; /* absolute bundle directory, to resolve relative paths */
  guise_error **err;
};

static void json_decref_p(json_t **j)
{
  json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(json_decref_p)))

static int fail_at(struct loader *l, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(struct loader *l, const char *path, const char *fmt, ...)
{
  _cleanup_free_ char *text = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&text, fmt, ap) < 0) abort();
  va_end(ap);
  return guise_fail(l->err, 0, "%s: %s: %s", l->file, path, text);
}

static void warn_at(struct loader *l, const char *path, const char *what)
{
  /* The config asked for something guise silently would not do: say so once. */
  fprintf(stderr, "guise: warning: %s: %s: %s\n", l->file, path, what);
}

/* JSON null is treated like an absent member: Go marshals nil slices and maps as null. */
static json_t *member(json_t *obj, const char *key)
{
  json_t *v = json_object_get(obj, key);
  return json_is_null(v) ? NULL : v;
}

static int get_object(struct loader *l, json_t *obj, const char *key, const char *path,
                      json_t **out)
{
  json_t *v = member(obj, key);
  *out = NULL;
  if (v == NULL) return 0;
  if (!json_is_object(v)) return fail_at(l, path, "expected an object");
  *out = v;
  return 1;
}

static int get_array(struct loader *l, json_t *obj, const char *key, const char *path,
                     const char *what, json_t **out)
{
  json_t *v = member(obj, key);
  *out = NULL;
  if (v == NULL) return 0;
  if (!json_is_array(v)) return fail_at(l, path, "expected an array of %s", what);
  *out = v;
  return 1;
}

static int get_string(struct loader *l, json_t *obj, const char *key, const char *path,
                      const char **out)
{
  json_t *v = member(obj, key);
  if (v == NULL) return 0;
  if (!json_is_string(v)) return fail_at(l, path, "expected a string");
  *out = json_string_value(v);
  return 1;
}

/* A string that must be there and not be empty. */
static int need_string(struct loader *l, json_t *obj, const char *key, const char *path,
                       const char **out)
{
  int have = get_string(l, obj, key, path, out);
  if (have < 0) return -1;
  if (have == 0 || (*out)[0] == '\0') return fail_at(l, path, "missing");
  return 0;
}

static int get_bool(struct loader *l, json_t *obj, const char *key, const char *path, bool *out)
{
  json_t *v = member(obj, key);
  if (v == NULL) return 0;
  if (!json_is_boolean(v)) return fail_at(l, path, "expected true or false");
  *out = json_is_true(v);
  return 1;
}

/* A non-negative integer up to max. Numbers beyond long long (an rlimit of 2^64-1) arrive as
 * reals; a real of 2^64 or more saturates at UINT64_MAX when max allows it (RLIM_INFINITY). */
static int uint_value(struct loader *l, json_t *v, const char *path, uint64_t max, uint64_t *out)
{
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i >= 0 && (uint64_t)i <= max) {
      *out = (uint64_t)i;
      return 1;
    }
  } else if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d >= 18446744073709551616.0 && max == UINT64_MAX) {
      *out = UINT64_MAX;
      return 1;
    }
    if (d >= 0 && d < 18446744073709551616.0 && d == (double)(uint64_t)d && (uint64_t)d <= max) {
      *out = (uint64_t)d;
      return 1;
    }
  }
  return fail_at(l, path, "expected an integer between 0 and %" PRIu64, max);
}

static int get_uint(struct loader *l, json_t *obj, const char *key, const char *path, uint64_t max,
                    uint64_t *out)
{
  json_t *v = member(obj, key);
  if (v == NULL) return 0;
  return uint_value(l, v, path, max, out);
}

/* A NULL-terminated copy of an array of strings; absent gives *out == NULL. */
static int get_strv(struct loader *l, json_t *obj, const char *key, const char *path, char ***out)
{
  json_t *v = member(obj, key);
  *out = NULL;
  if (v == NULL) return 0;
  if (!json_is_array(v)) return fail_at(l, path, "expected an array of strings");
  _cleanup_strv_ char **strv = calloc(1, sizeof(char *));
  if (strv == NULL) abort();
  size_t i;
  json_t *item;
  json_array_foreach(v, i, item)
  {
    if (!json_is_string(item)) return fail_at(l, path, "expected an array of strings");
    strv_append(&strv, json_string_value(item));
  }
  *out = steal_ptr(&strv);
  return 1;
}

/* An absolute path for a path given relative to the bundle directory. */
static char *bundle_path(struct loader *l, const char *p)
{
  char *abs = NULL;
  if (p[0] == '/')
    abs = strdup(p);
  else if (asprintf(&abs, "%s/%s", l->bundle, p) < 0)
    abs = NULL;
  if (abs == NULL) abort();
  return abs;
}

static int load_root(struct loader *l, json_t *config, struct container_spec *spec)
{
  json_t *root;
  const char *path = NULL;
  if (get_object(l, config, "root", "root", &root) < 0) return -1;
  if (root == NULL) return fail_at(l, "root", "missing (the bundle must name its root filesystem)");
  if (need_string(l, root, "path", "root.path", &path) < 0) return -1;
  _cleanup_free_ char *abs = bundle_path(l, path);
  spec->rootfs = realpath(abs, NULL);
  if (spec->rootfs == NULL) return guise_fail_errno(l->err, "%s: root.path: %s", l->file, abs);
  return get_bool(l, root, "readonly", "root.readonly", &spec->readonly_rootfs) < 0 ? -1 : 0;
}

static int load_user(struct loader *l, json_t *process, struct container_spec *spec)
{
  json_t *user, *gids;
  uint64_t v;
  spec->umask = 022; /* what runc uses when the config gives none */
  int r = get_object(l, process, "user", "process.user", &user);
  if (r <= 0) return r;
  if (get_uint(l, user, "uid", "process.user.uid", ID_MAX, &v) < 0) return -1;
  spec->uid = (uid_t)v;
  v = 0;
  if (get_uint(l, user, "gid", "process.user.gid", ID_MAX, &v) < 0) return -1;
  spec->gid = (gid_t)v;
  if (get_uint(l, user, "umask", "process.user.umask", 07777, &v) > 0) spec->umask = (mode_t)v;
  if (get_array(l, user, "additionalGids", "process.user.additionalGids", "group ids", &gids) < 0)
    return -1;
  size_t n = json_array_size(gids);
  if (n > 0) {
    spec->additional_gids = calloc(n, sizeof(gid_t));
    if (spec->additional_gids == NULL) abort();
    size_t i;
    json_t *item;
    json_array_foreach(gids, i, item)
    {
      if (uint_value(l, item, "process.user.additionalGids", ID_MAX, &v) < 0) return -1;
      spec->additional_gids[spec->n_additional_gids++] = (gid_t)v;
    }
  }
  return 0;
}

static int load_rlimits(struct loader *l, json_t *process, struct container_spec *spec)
{
  json_t *rlimits, *item;
  size_t i;
  if (get_array(l, process, "rlimits", "process.rlimits", "objects", &rlimits) < 0) return -1;
  json_array_foreach(rlimits, i, item)
  {
    char path[64];
    const char *type = NULL;
    struct rlimit_spec r = {0};
    uint64_t soft = 0, hard = 0;
    if (!json_is_object(item)) return fail_at(l, "process.rlimits", "expected an array of objects");
    snprintf(path, sizeof(path), "process.rlimits[%zu].type", i);
    if (need_string(l, item, "type", path, &type) < 0) return -1;
    if (spec_rlimit_resource(type, &r.resource, l->err) < 0)
      return guise_error_prefix(l->err, "%s: %s", l->file, path);
    snprintf(path, sizeof(path), "process.rlimits[%zu].soft", i);
    if (get_uint(l, item, "soft", path, UINT64_MAX, &soft) < 0) return -1;
    snprintf(path, sizeof(path), "process.rlimits[%zu].hard", i);
    if (get_uint(l, item, "hard", path, UINT64_MAX, &hard) < 0) return -1;
    snprintf(path, sizeof(path), "process.rlimits[%zu]", i);
    if (soft > hard)
      return fail_at(l, path, "soft limit %" PRIu64 " exceeds hard limit %" PRIu64, soft, hard);
    for (size_t j = 0; j < spec->n_rlimits; j++)
      if (spec->rlimits[j].resource == r.resource) return fail_at(l, path, "%s given twice", type);
    r.soft = (rlim_t)soft;
    r.hard = (rlim_t)hard;
    spec_add_rlimit(spec, &r);
  }
  return 0;
}

static int load_capabilities(struct loader *l, json_t *process, struct container_spec *spec)
{
  const struct {
    const char *key;
    uint64_t *mask;
  } sets[] = {
      {"bounding", &spec->cap_bounding},   {"effective", &spec->cap_effective},
      {"permitted", &spec->cap_permitted}, {"inheritable", &spec->cap_inheritable},
      {"ambient", &spec->cap_ambient},
  };
  json_t *caps;
  int r = get_object(l, process, "capabilities", "process.capabilities", &caps);
  if (r <= 0) return r;
  for (size_t s = 0; s < sizeof(sets) / sizeof(sets[0]); s++) {
    char path[64];
    _cleanup_strv_ char **names = NULL;
    snprintf(path, sizeof(path), "process.capabilities.%s", sets[s].key);
    if (get_strv(l, caps, sets[s].key, path, &names) < 0) return -1;
    *sets[s].mask = 0;
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
      _cleanup_error_ guise_error *unknown = NULL;
      uint64_t bit;
      if (spec_parse_capability(names[i], &bit, &unknown) < 0) {
        /* Like runc: a capability this kernel or libcap does not know cannot be granted;
         * newer configs must still run. */
        warn_at(l, path, unknown->msg);
        continue;
      }
      *sets[s].mask |= bit;
    }
  }
  /* The kernel only raises an ambient capability that is permitted and inheritable; runc
   * ignores the failure, and `runc spec --rootless` asks for ambient caps with an empty
   * inheritable set. Keep the spec to what can be honoured. */
  spec->cap_ambient &= spec->cap_permitted & spec->cap_inheritable;
  return 0;
}

static int load_process(struct loader *l, json_t *config, struct container_spec *spec)
{
  json_t *process;
  const char *cwd = NULL;
  if (get_object(l, config, "process", "process", &process) < 0) return -1;
  if (process == NULL) return fail_at(l, "process", "missing (guise needs a process to run)");
  if (get_strv(l, process, "args", "process.args", &spec->argv) < 0) return -1;
  if (spec->argv == NULL || spec->argv[0] == NULL)
    return fail_at(l, "process.args", "missing or empty (nothing to run)");
  if (get_strv(l, process, "env", "process.env", &spec->env) < 0) return -1;
  for (size_t i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
    if (strchr(spec->env[i], '=') == NULL)
      return fail_at(l, "process.env", "'%s' is not NAME=value", spec->env[i]);
  if (get_string(l, process, "cwd", "process.cwd", &cwd) < 0) return -1;
  if (cwd != NULL && cwd[0] != '/')
    return fail_at(l, "process.cwd", "'%s' is not an absolute path", cwd);
  spec->cwd = strdup(cwd != NULL ? cwd : "/");
  if (get_bool(l, process, "terminal", "process.terminal", &spec->terminal) < 0 ||
      get_bool(l, process, "noNewPrivileges", "process.noNewPrivileges", &spec->no_new_privs) < 0)
    return -1;
  if (load_user(l, process, spec) < 0 || load_rlimits(l, process, spec) < 0 ||
      load_capabilities(l, process, spec) < 0)
    return -1;
  return 0;
}

static int load_mount(struct loader *l, json_t *item, size_t i, struct container_spec *spec)
{
  char path[64];
  const char *destination = NULL, *type = NULL, *source = NULL;
  _cleanup_strv_ char **options = NULL;
  _cleanup_free_ char *dest_abs = NULL, *data = NULL, *source_abs = NULL;

  snprintf(path, sizeof(path), "mounts[%zu]", i);
  if (!json_is_object(item)) return fail_at(l, path, "expected an object");
  snprintf(path, sizeof(path), "mounts[%zu].destination", i);
  if (need_string(l, item, "destination", path, &destination) < 0) return -1;
  /* runc still accepts relative destinations, taken relative to the container's root. */
  if (asprintf(&dest_abs, "%s%s", destination[0] == '/' ? "" : "/", destination) < 0) abort();
  snprintf(path, sizeof(path), "mounts[%zu].type", i);
  if (get_string(l, item, "type", path, &type) < 0) return -1;
  snprintf(path, sizeof(path), "mounts[%zu].source", i);
  if (get_string(l, item, "source", path, &source) < 0) return -1;
  snprintf(path, sizeof(path), "mounts[%zu].options", i);
  if (get_strv(l, item, "options", path, &options) < 0) return -1;

  struct mount_spec m = {
      .kind = MOUNT_KIND_FS,
      .destination = dest_abs,
  };
  if (type != NULL && strcmp(type, "bind") == 0)
    m.kind = MOUNT_KIND_BIND; /* not recursive unless "rbind" is among the options */
  int r = spec_parse_mount_options(&m, options, strv_length(options), l->err);
  data = m.data;
  if (r < 0) return guise_error_prefix(l->err, "%s: %s", l->file, path);

  if (m.kind == MOUNT_KIND_BIND) {
    snprintf(path, sizeof(path), "mounts[%zu].source", i);
    if (source == NULL || source[0] == '\0') return fail_at(l, path, "a bind mount needs a source");
    source_abs = bundle_path(l, source); /* runc resolves it relative to the bundle */
    m.source = source_abs;
    m.type = NULL;
  } else {
    snprintf(path, sizeof(path), "mounts[%zu].type", i);
    if (type == NULL || type[0] == '\0')
      return fail_at(l, path, "missing (needed unless the mount is a bind mount)");
    m.type = (char *)type;
    m.source = (char *)(source != NULL && source[0] != '\0' ? source : type);
    /* The runtime spec makes the runtime supply /dev/null and friends on a fresh /dev. */
    if (strcmp(type, "tmpfs") == 0 &&
        (strcmp(dest_abs, "/dev") == 0 || strcmp(dest_abs, "/dev/") == 0))
      spec->provide_default_devices = true;
  }
  spec_add_mount(spec, &m);
  return 0;
}

static int load_mounts(struct loader *l, json_t *config, struct container_spec *spec)
{
  json_t *mounts, *item;
  size_t i;
  if (get_array(l, config, "mounts", "mounts", "objects", &mounts) < 0) return -1;
  json_array_foreach(mounts, i, item)
  {
    if (load_mount(l, item, i, spec) < 0) return -1;
  }
  return 0;
}

static int load_namespaces(struct loader *l, json_t *linux_, struct container_spec *spec)
{
  static const char *const always_new[] = {"user", "mount", "pid", "ipc", "uts", "cgroup", "time"};
  json_t *namespaces, *item;
  size_t i;
  spec->net = NET_HOST;
  if (get_array(l, linux_, "namespaces", "linux.namespaces", "objects", &namespaces) < 0) return -1;
  json_array_foreach(namespaces, i, item)
  {
    char path[64];
    const char *type = NULL, *ns_path = NULL;
    if (!json_is_object(item))
      return fail_at(l, "linux.namespaces", "expected an array of objects");
    snprintf(path, sizeof(path), "linux.namespaces[%zu].type", i);
    if (need_string(l, item, "type", path, &type) < 0) return -1;
    bool known = strcmp(type, "network") == 0;
    for (size_t j = 0; !known && j < sizeof(always_new) / sizeof(always_new[0]); j++)
      known = strcmp(type, always_new[j]) == 0;
    if (!known) return fail_at(l, path, "unknown namespace type '%s'", type);
    snprintf(path, sizeof(path), "linux.namespaces[%zu].path", i);
    if (get_string(l, item, "path", path, &ns_path) < 0) return -1;
    if (ns_path != NULL && ns_path[0] != '\0')
      return fail_at(l, path, "joining an existing %s namespace (%s) is not supported yet", type,
                     ns_path);
    if (strcmp(type, "network") == 0) spec->net = NET_NONE;
    /* user, mount, pid, ipc, uts, cgroup: guise always creates them. time: a new time
     * namespace without offsets behaves like the host's. */
  }
  return 0;
}

/* Without subuid ranges (newuidmap) an unprivileged process can write exactly one line to its
 * uid_map: its own uid, size 1. Anything else in the config cannot be honoured. */
static int check_id_mapping(struct loader *l, json_t *linux_, const char *key, const char *what,
                            uint64_t caller, uint64_t process_id, const char *process_path)
{
  char path[64], item_path[128];
  json_t *maps, *item;
  size_t i;
  uint64_t total = 0, container_id = 0, host_id = 0, size = 0;
  snprintf(path, sizeof(path), "linux.%s", key);
  int r = get_array(l, linux_, key, path, "objects", &maps);
  if (r <= 0) return r;
  json_array_foreach(maps, i, item)
  {
    if (!json_is_object(item)) return fail_at(l, path, "expected an array of objects");
    snprintf(item_path, sizeof(item_path), "%s[%zu].containerID", path, i);
    if (get_uint(l, item, "containerID", item_path, ID_MAX, &container_id) < 0) return -1;
    snprintf(item_path, sizeof(item_path), "%s[%zu].hostID", path, i);
    if (get_uint(l, item, "hostID", item_path, ID_MAX, &host_id) < 0) return -1;
    snprintf(item_path, sizeof(item_path), "%s[%zu].size", path, i);
    size = 0;
    if (get_uint(l, item, "size", item_path, UINT32_MAX, &size) < 0) return -1;
    total += size;
  }
  size_t n = json_array_size(maps);
  if (n == 0) return 0;
  if (n > 1 || size != 1)
    return fail_at(l, path,
                   "maps %" PRIu64 " %ss in %zu range%s, but without subuid ranges guise can "
                   "only map the caller's own %s (%" PRIu64 ") with a single mapping of size 1",
                   total, what, n, n == 1 ? "" : "s", what, caller);
  if (host_id != caller)
    return fail_at(l, path,
                   "maps host %s %" PRIu64 ", but guise runs as %s %" PRIu64
                   " and without subuid ranges can only map its own",
                   what, host_id, what, caller);
  if (container_id != process_id)
    return fail_at(l, process_path,
                   "%s %" PRIu64 " is not mapped (linux.%s maps only container %s %" PRIu64 ")",
                   what, process_id, key, what, container_id);
  return 0;
}

static bool has_content(json_t *v)
{
  if (v == NULL || json_is_null(v)) return false;
  if (json_is_array(v)) return json_array_size(v) > 0;
  if (json_is_object(v)) {
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value)
    {
      if (has_content(value)) return true;
    }
    return false;
  }
  /* docker writes zero values ("shares": 0, "disableOOMKiller": false): they ask for nothing */
  if (json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0) ||
      (json_is_string(v) && json_string_length(v) == 0))
    return false;
  return true;
}

static int load_linux(struct loader *l, json_t *config, struct container_spec *spec)
{
  json_t *linux_, *resources;
  if (get_object(l, config, "linux", "linux", &linux_) < 0) return -1;
  spec->net = NET_HOST;
  if (linux_ == NULL) return 0;
  if (load_namespaces(l, linux_, spec) < 0 ||
      check_id_mapping(l, linux_, "uidMappings", "uid", geteuid(), spec->uid, "process.user.uid") <
          0 ||
      check_id_mapping(l, linux_, "gidMappings", "gid", getegid(), spec->gid, "process.user.gid") <
          0 ||
      get_strv(l, linux_, "maskedPaths", "linux.maskedPaths", &spec->masked_paths) < 0 ||
      get_strv(l, linux_, "readonlyPaths", "linux.readonlyPaths", &spec->readonly_paths) < 0)
    return -1;

  /* Not applied yet. Warn only where running without them changes what the process sees or
   * may do; docker-generated configs always carry device cgroup rules, which need no word. */
  if (has_content(member(linux_, "seccomp")))
    warn_at(l, "linux.seccomp", "seccomp filters are not supported yet; running without one");
  if (has_content(member(linux_, "devices")))
    warn_at(l, "linux.devices", "extra devices are not created yet; ignored");
  if (has_content(member(linux_, "sysctl")))
    warn_at(l, "linux.sysctl", "sysctls are not applied yet; ignored");
  if (get_object(l, linux_, "resources", "linux.resources", &resources) < 0) return -1;
  if (resources != NULL) {
    const char *key;
    json_t *value;
    json_object_foreach(resources, key, value)
    {
      if (strcmp(key, "devices") != 0 && has_content(value)) {
        warn_at(l, "linux.resources", "resource limits are not applied yet; ignored");
        break;
      }
    }
  }
  return 0;
}

static int check_version(struct loader *l, json_t *config)
{
  const char *version = NULL;
  int r = get_string(l, config, "ociVersion", "ociVersion", &version);
  if (r <= 0) return r;
  /* Minor versions only add fields; a new major may change meanings. */
  if (strncmp(version, "1.", 2) != 0 && strcmp(version, "1") != 0)
    return fail_at(l, "ociVersion", "version %s is not supported (guise reads 1.x)", version);
  return 0;
}

static json_t *parse(struct loader *l, const char *text, size_t len)
{
  json_error_t jerr;
  json_t *config = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  /* Jansson has no unsigned 64-bit integers; an rlimit of 2^64-1 overflows long long. Such
   * configs are read again with every number as a double; uint_value accepts both. */
  if (config == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
    config = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
  if (config == NULL) {
    guise_fail(l->err, 0, "%s:%d:%d: %s", l->file, jerr.line, jerr.column, jerr.text);
    return NULL;
  }
  if (!json_is_object(config)) {
    json_decref(config);
    guise_fail(l->err, 0, "%s: expected a JSON object at the top level", l->file);
    return NULL;
  }
  return config;
}

int oci_config_load(const char *bundle_dir, struct container_spec *spec, guise_error **err)
{
  _cleanup_free_ char *file = NULL, *bundle = NULL, *text = NULL;
  size_t len = 0;
  size_t blen = strlen(bundle_dir);
  bool slash = blen > 0 && bundle_dir[blen - 1] == '/';
  if (asprintf(&file, "%s%sconfig.json", bundle_dir, slash ? "" : "/") < 0) abort();
  bundle = realpath(bundle_dir, NULL);
  if (bundle == NULL) return guise_fail_errno(err, "bundle %s", bundle_dir);
  if (read_file_at(AT_FDCWD, file, &text, &len, err) < 0) return -1;

  guise_error *local_err = NULL;
  struct loader l = {.file = file, .bundle = bundle, .err = &local_err};
  _cleanup_json_ json_t *config = parse(&l, text, len);
  struct container_spec loaded = {0};
  int r = -1;
  if (config != NULL && check_version(&l, config) >= 0 && load_root(&l, config, &loaded) >= 0 &&
      load_process(&l, config, &loaded) >= 0 && load_mounts(&l, config, &loaded) >= 0 &&
      load_linux(&l, config, &loaded) >= 0) {
    const char *hostname = NULL;
    if (get_string(&l, config, "hostname", "hostname", &hostname) >= 0) {
      if (hostname != NULL && hostname[0] != '\0') loaded.hostname = strdup(hostname);
      r = 0;
    }
  }
  if (r == 0) {
    json_t *hooks = member(config, "hooks");
    if (has_content(hooks)) warn_at(&l, "hooks", "hooks are not run yet; ignored");
  }
  if (r < 0) {
    spec_free(&loaded);
    if (err != NULL && *err == NULL)
      *err = local_err;
    else
      guise_error_release(&local_err);
    return -1;
  }
  loaded.provide_etc_files = false; /* OCI callers bring their own /etc files */
  loaded.use_init = false;          /* like runc: the process is PID 1 */
  loaded.stdin_open = true;
  loaded.id = steal_ptr(&spec->id);
  loaded.fake_db = steal_ptr(&spec->fake_db);
  spec_free(spec);
  *spec = loaded;
  return 0;
}
