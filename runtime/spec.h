/* What a container is made of, independent of where the description came from.
 *
 * `guise run` options (cli/) and an OCI runtime-spec config.json (runtime/oci_config.c) are
 * both turned into a container_spec; the runtime then knows a single code path. */
#ifndef GUISE_RUNTIME_SPEC_H
#define GUISE_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "tracer/tracer.h"
#include "util/error.h"

enum mount_kind {
  MOUNT_KIND_FS,   /* mount(type, source) with data, e.g. proc, tmpfs, devpts, sysfs, mqueue */
  MOUNT_KIND_BIND, /* bind mount of a host path (recursive unless "bind" without "rbind") */
};

struct mount_spec {
  enum mount_kind kind;
  char *source;      /* host path for binds; fs name for FS mounts */
  char *destination; /* absolute path inside the container */
  char *type;        /* filesystem type for MOUNT_KIND_FS */
  unsigned long flags; /* MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, ... */
  unsigned long propagation; /* MS_PRIVATE, MS_SLAVE, MS_SHARED, 0 = leave private */
  bool recursive;    /* rbind */
  char *data;        /* comma-separated fs options not expressed as flags (may be NULL) */
};

struct rlimit_spec {
  int resource; /* RLIMIT_* */
  rlim_t soft;
  rlim_t hard;
};

/* How the container is isolated: namespaces (user, mount, pid, ...), or none at all where no
 * user namespace can be made — the rootfs is then shown as / by the tracer's path translation
 * (runtime/isolation_none.h).  AUTO: namespaces, else none with a notice. */
enum isolation_mode {
  ISOLATION_AUTO,
  ISOLATION_NAMESPACES,
  ISOLATION_NONE,
};

enum net_mode {
  NET_HOST, /* share the caller's network namespace (rootless runc's default) */
  NET_NONE, /* own namespace with only loopback, brought up */
};

struct container_spec {
  char *id;       /* container id; also the default hostname */
  char *rootfs;   /* absolute path of the root filesystem */
  bool readonly_rootfs;

  /* process */
  char **argv;    /* NULL-terminated */
  char **env;     /* NULL-terminated, "NAME=value" */
  char *cwd;      /* inside the container; "/" when NULL */
  uid_t uid;      /* inside the container */
  gid_t gid;
  gid_t *additional_gids;
  size_t n_additional_gids;
  mode_t umask;
  bool terminal;      /* allocate a pty inside the container for the process */
  bool stdin_open;    /* keep stdin attached (else /dev/null), like docker -i */
  bool use_init;      /* run a small init as PID 1 that forwards signals and reaps */

  /* namespaces: user, mount, pid, ipc, uts and (where available) cgroup are always new */
  enum net_mode net;
  char *hostname;

  /* filesystem: applied in order after the rootfs is bound; destinations are resolved
   * inside the rootfs and never outside it */
  struct mount_spec *mounts;
  size_t n_mounts;
  char **masked_paths;   /* bind /dev/null (files) or an empty read-only tmpfs (dirs) over */
  char **readonly_paths; /* remounted read-only */
  bool provide_etc_files; /* bind generated /etc/hosts, /etc/hostname, /etc/resolv.conf */
  bool provide_default_devices; /* bind null, zero, full, random, urandom, tty into /dev */

  /* privileges */
  uint64_t cap_bounding; /* bit N = capability N */
  uint64_t cap_effective;
  uint64_t cap_permitted;
  uint64_t cap_inheritable;
  uint64_t cap_ambient;
  bool no_new_privs;
  struct rlimit_spec *rlimits;
  size_t n_rlimits;

  /* syscall faking (fakefs/tracer); off when fake_db is NULL */
  char *fake_db;
  enum tracer_backend fake_backend; /* default AUTO: seccomp, else ptrace */

  enum isolation_mode isolation;
};

/* The capabilities Docker grants by default. */
uint64_t spec_default_capabilities(void);

/* Parse "CAP_NET_RAW", "net_raw" or "ALL" into a capability mask. */
int spec_parse_capability(const char *name, uint64_t *mask, guise_error **err);

/* Parse docker's "--ulimit nofile=1024:2048" (hard defaults to soft). */
int spec_parse_ulimit(const char *text, struct rlimit_spec *out, guise_error **err);
/* Map an OCI "RLIMIT_NOFILE" name to the resource number. */
int spec_rlimit_resource(const char *name, int *resource, guise_error **err);

/* The mounts, masked and read-only paths runc puts in a rootless default spec. */
void spec_add_default_mounts(struct container_spec *spec);

void spec_add_mount(struct container_spec *spec, const struct mount_spec *m);
/* Set "NAME=VALUE" in the environment, replacing an earlier NAME (the image's, by -e). */
void spec_set_env(struct container_spec *spec, const char *entry);
void spec_add_rlimit(struct container_spec *spec, const struct rlimit_spec *r);

/* Parse mount options ("ro", "nosuid", "rbind", "mode=755", ...) into flags, propagation,
 * recursive and leftover data. Shared by `-v`, `--tmpfs` and config.json. */
int spec_parse_mount_options(struct mount_spec *m, char *const *options, size_t n,
                             guise_error **err);

/* What a container run from a plain rootfs gets, as docker gives it (set spec->net first: the
 * mounts depend on it): the default mounts, generated /etc files, an init, no_new_privs and
 * Docker's default capabilities. */
void spec_init_for_rootfs(struct container_spec *spec);

/* Fill defaults for fields left empty: the id; for a spec made from the command line also the
 * hostname and env PATH/HOSTNAME/HOME/TERM; for one from a bundle (complete by definition) only
 * HOME, as runc does. */
void spec_init_defaults(struct container_spec *spec, bool from_bundle);

void spec_free(struct container_spec *spec);

#endif
