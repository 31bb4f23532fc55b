#include "runtime/spec.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/fileio.h"

#define CAP_BIT(c) (UINT64_C(1) << (c))

uint64_t spec_default_capabilities(void)
{
  /* Docker's default set (moby's oci/caps/defaults.go). */
  return CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_FSETID) |
         CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_NET_RAW) | CAP_BIT(CAP_SETGID) |
         CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETFCAP) | CAP_BIT(CAP_SETPCAP) |
         CAP_BIT(CAP_NET_BIND_SERVICE) | CAP_BIT(CAP_SYS_CHROOT) | CAP_BIT(CAP_KILL) |
         CAP_BIT(CAP_AUDIT_WRITE);
}

int spec_parse_capability(const char *name, uint64_t *mask, guise_error **err)
{
  if (strcasecmp(name, "ALL") == 0) {
    *mask = 0;
    for (cap_value_t c = 0; c <= CAP_LAST_CAP && c < 64; c++)
      *mask |= CAP_BIT(c);
    return 0;
  }
  /* libcap knows "cap_net_raw"; accept docker's "NET_RAW" and "CAP_NET_RAW" alike. */
  char lower[64];
  const char *p = name;
  if (strncasecmp(p, "CAP_", 4) == 0)
    p += 4;
  int n = snprintf(lower, sizeof(lower), "cap_%s", p);
  if (n < 0 || (size_t)n >= sizeof(lower))
    return guise_fail(err, 0, "unknown capability '%s'", name);
  for (char *q = lower; *q; q++)
    *q = (char)tolower((unsigned char)*q);
  cap_value_t value;
  if (cap_from_name(lower, &value) < 0 || value < 0 || value >= 64)
    return guise_fail(err, 0, "unknown capability '%s'", name);
  *mask = CAP_BIT(value);
  return 0;
}

static const struct {
  const char *name;
  int resource;
} rlimit_names[] = {
    {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},         {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},     {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},         {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
    {"as", RLIMIT_AS},
};

int spec_rlimit_resource(const char *name, int *resource, guise_error **err)
{
  const char *p = name;
  if (strncasecmp(p, "RLIMIT_", 7) == 0)
    p += 7;
  for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
    if (strcasecmp(p, rlimit_names[i].name) == 0) {
      *resource = rlimit_names[i].resource;
      return 0;
    }
  }
  return guise_fail(err, 0, "unknown resource limit '%s'", name);
}

static int parse_rlim(const char *text, rlim_t *out)
{
  if (strcmp(text, "unlimited") == 0 || strcmp(text, "-1") == 0) {
    *out = RLIM_INFINITY;
    return 0;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
    return -1;
  *out = (rlim_t)v;
  return 0;
}

int spec_parse_ulimit(const char *text, struct rlimit_spec *out, guise_error **err)
{
  _cleanup_free_ char *copy = strdup(text);
  if (copy == NULL)
    return guise_fail(err, ENOMEM, "--ulimit %s", text);
  char *eq = strchr(copy, '=');
  if (eq == NULL)
    return guise_fail(err, 0, "--ulimit %s: expected NAME=SOFT[:HARD]", text);
  *eq = '\0';
  if (spec_rlimit_resource(copy, &out->resource, err) < 0)
    return guise_error_prefix(err, "--ulimit %s", text);
  char *soft = eq + 1, *hard = strchr(soft, ':');
  if (hard != NULL)
    *hard++ = '\0';
  if (parse_rlim(soft, &out->soft) < 0 || (hard != NULL && parse_rlim(hard, &out->hard) < 0))
    return guise_fail(err, 0, "--ulimit %s: limits must be numbers or 'unlimited'", text);
  if (hard == NULL)
    out->hard = out->soft;
  if (out->soft > out->hard)
    return guise_fail(err, 0, "--ulimit %s: soft limit exceeds hard limit", text);
  return 0;
}

void spec_add_mount(struct container_spec *spec, const struct mount_spec *m)
{
  struct mount_spec *grown = realloc(spec->mounts, (spec->n_mounts + 1) * sizeof(*grown));
  if (grown == NULL)
    abort();
  spec->mounts = grown;
  struct mount_spec *dst = &spec->mounts[spec->n_mounts++];
  *dst = *m;
  dst->source = m->source ? strdup(m->source) : NULL;
  dst->destination = strdup(m->destination);
  dst->type = m->type ? strdup(m->type) : NULL;
  dst->data = m->data ? strdup(m->data) : NULL;
}

void spec_add_rlimit(struct container_spec *spec, const struct rlimit_spec *r)
{
  for (size_t i = 0; i < spec->n_rlimits; i++) {
    if (spec->rlimits[i].resource == r->resource) {
      spec->rlimits[i] = *r; /* the last one given wins, as with docker */
      return;
    }
  }
  struct rlimit_spec *grown = realloc(spec->rlimits, (spec->n_rlimits + 1) * sizeof(*grown));
  if (grown == NULL)
    abort();
  spec->rlimits = grown;
  spec->rlimits[spec->n_rlimits++] = *r;
}

static const struct {
  const char *name;
  unsigned long set;   /* flags this option sets */
  unsigned long clear; /* flags this option clears */
} mount_flag_names[] = {
    {"ro", MS_RDONLY, 0},          {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},      {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},        {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},      {"exec", 0, MS_NOEXEC},
    {"noatime", MS_NOATIME, 0},    {"atime", 0, MS_NOATIME},
    {"nodiratime", MS_NODIRATIME, 0}, {"relatime", MS_RELATIME, 0},
    {"strictatime", MS_STRICTATIME, 0}, {"sync", MS_SYNCHRONOUS, 0},
    {"dirsync", MS_DIRSYNC, 0},    {"mand", MS_MANDLOCK, 0},
    {"defaults", 0, 0},
};

static const struct {
  const char *name;
  unsigned long propagation;
} propagation_names[] = {
    {"private", MS_PRIVATE},   {"rprivate", MS_PRIVATE | MS_REC}, {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC}, {"shared", MS_SHARED},     {"rshared", MS_SHARED | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

static void append_data(char **data, const char *option)
{
  char *joined = NULL;
  if (asprintf(&joined, "%s%s%s", *data ? *data : "", *data ? "," : "", option) < 0)
    abort();
  free(*data);
  *data = joined;
}

int spec_parse_mount_options(struct mount_spec *m, char *const *options, size_t n,
                             guise_error **err)
{
  for (size_t i = 0; i < n; i++) {
    const char *o = options[i];
    bool known = false;
    if (strcmp(o, "bind") == 0 || strcmp(o, "rbind") == 0) {
      m->kind = MOUNT_KIND_BIND;
      m->recursive = (o[0] == 'r');
      continue;
    }
    for (size_t j = 0; j < sizeof(mount_flag_names) / sizeof(mount_flag_names[0]); j++) {
      if (strcmp(o, mount_flag_names[j].name) == 0) {
        m->flags = (m->flags | mount_flag_names[j].set) & ~mount_flag_names[j].clear;
        known = true;
        break;
      }
    }
    for (size_t j = 0; !known && j < sizeof(propagation_names) / sizeof(propagation_names[0]);
         j++) {
      if (strcmp(o, propagation_names[j].name) == 0) {
        m->propagation = propagation_names[j].propagation;
        known = true;
      }
    }
    if (known)
      continue;
    if (strchr(o, ',') != NULL)
      return guise_fail(err, 0, "mount %s: invalid option '%s'", m->destination, o);
    /* filesystem-specific (mode=755, size=64m, newinstance, ...) */
    append_data(&m->data, o);
  }
  return 0;
}

static void add_fs_mount(struct container_spec *spec, const char *dest, const char *type,
                         const char *source, unsigned long flags, const char *data)
{
  struct mount_spec m = {
      .kind = MOUNT_KIND_FS,
      .source = (char *)source,
      .destination = (char *)dest,
      .type = (char *)type,
      .flags = flags,
      .data = (char *)data,
  };
  spec_add_mount(spec, &m);
}

void spec_add_default_mounts(struct container_spec *spec)
{
  /* What `runc spec --rootless` lists, adjusted for a single-id user namespace: devpts gets no
   * gid=5 (unmapped) and /sys is a fresh sysfs only when the network namespace is ours. */
  add_fs_mount(spec, "/proc", "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
  add_fs_mount(spec, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  add_fs_mount(spec, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
               "newinstance,ptmxmode=0666,mode=0620");
  add_fs_mount(spec, "/dev/shm", "tmpfs", "shm", MS_NOSUID | MS_NOEXEC | MS_NODEV,
               "mode=1777,size=65536k");
  add_fs_mount(spec, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
  if (spec->net == NET_NONE) {
    add_fs_mount(spec, "/sys", "sysfs", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY,
                 NULL);
  } else {
    /* sysfs can only be mounted by the owner of the network namespace: bind the host's. */
    struct mount_spec sys = {
        .kind = MOUNT_KIND_BIND,
        .source = "/sys",
        .destination = "/sys",
        .flags = MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY,
        .recursive = true,
    };
    spec_add_mount(spec, &sys);
  }
  static const char *const masked[] = {
      "/proc/acpi",     "/proc/asound",     "/proc/kcore",       "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
      "/proc/scsi",     "/sys/firmware",    "/sys/devices/virtual/powercap",
  };
  static const char *const readonly[] = {
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
  };
  for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++)
    strv_append(&spec->masked_paths, masked[i]);
  for (size_t i = 0; i < sizeof(readonly) / sizeof(readonly[0]); i++)
    strv_append(&spec->readonly_paths, readonly[i]);
  spec->provide_default_devices = true;
}

static bool env_has(char *const *env, const char *name)
{
  size_t len = strlen(name);
  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
      return true;
  return false;
}

void spec_set_env(struct container_spec *spec, const char *entry)
{
  size_t len = strcspn(entry, "=");
  for (size_t i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
    if (strncmp(spec->env[i], entry, len) == 0 && spec->env[i][len] == '=') {
      char *copy = strdup(entry);
      if (copy == NULL)
        abort();
      free(spec->env[i]);
      spec->env[i] = copy;
      return;
    }
  strv_append(&spec->env, entry);
}

void spec_init_for_rootfs(struct container_spec *spec)
{
  spec_add_default_mounts(spec);
  spec->provide_etc_files = true;
  spec->use_init = true;
  spec->no_new_privs = true;
  /* Docker's: the default set bounds, is permitted and effective; none is inheritable. */
  spec->cap_bounding = spec->cap_effective = spec->cap_permitted = spec_default_capabilities();
}

void spec_init_defaults(struct container_spec *spec, bool from_bundle)
{
  if (spec->id == NULL) {
    unsigned char bytes[6];
    char hex[13];
    if (getrandom(bytes, sizeof(bytes), GRND_NONBLOCK) != (ssize_t)sizeof(bytes)) {
      /* no randomness: fall back to the pid, unique enough for a name */
      snprintf(hex, sizeof(hex), "%012x", (unsigned)getpid());
    } else {
      for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    }
    spec->id = strdup(hex);
  }
  if (from_bundle) {
    /* config.json is complete; like runc, only HOME is filled in when missing. */
    if (!env_has(spec->env, "HOME"))
      strv_append(&spec->env, spec->uid == 0 ? "HOME=/root" : "HOME=/");
    return;
  }
  if (spec->hostname == NULL)
    spec->hostname = strdup(spec->id);
  if (!env_has(spec->env, "PATH"))
    strv_append(&spec->env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!env_has(spec->env, "HOSTNAME")) {
    _cleanup_free_ char *h = NULL;
    if (asprintf(&h, "HOSTNAME=%s", spec->hostname) < 0)
      abort();
    strv_append(&spec->env, h);
  }
  if (!env_has(spec->env, "HOME"))
    strv_append(&spec->env, spec->uid == 0 ? "HOME=/root" : "HOME=/");
  if (spec->terminal && !env_has(spec->env, "TERM"))
    strv_append(&spec->env, "TERM=xterm");
}

void spec_free(struct container_spec *spec)
{
  free(spec->id);
  free(spec->rootfs);
  strv_free(spec->argv);
  strv_free(spec->env);
  free(spec->cwd);
  free(spec->additional_gids);
  free(spec->hostname);
  for (size_t i = 0; i < spec->n_mounts; i++) {
    free(spec->mounts[i].source);
    free(spec->mounts[i].destination);
    free(spec->mounts[i].type);
    free(spec->mounts[i].data);
  }
  free(spec->mounts);
  strv_free(spec->masked_paths);
  strv_free(spec->readonly_paths);
  free(spec->rlimits);
  free(spec->fake_db);
  memset(spec, 0, sizeof(*spec));
}
