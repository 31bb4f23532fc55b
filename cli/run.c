/* guise run: run a command in a new rootless container. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/run.h"
#include "fakefs/db.h"
#include "runtime/container.h"
#include "runtime/isolation_none.h"
#include "runtime/oci_config.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static void run_usage(FILE *out)
{
  fputs("Usage: guise run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
        "       guise run [OPTIONS] --rootfs DIR [--] COMMAND [ARG...]\n"
        "       guise run [OPTIONS] --bundle DIR\n"
        "\n"
        "Run a command in a new container as the calling user, who becomes root inside.  With\n"
        "an IMAGE, the container gets its own copy of the image's root filesystem (kept until\n"
        "guise rm; see guise ps, commit, export) and the image's Env, Entrypoint, Cmd (which\n"
        "COMMAND replaces), WorkingDir and User.\n"
        "\n"
        "  --rootfs DIR            root filesystem to run in\n"
        "  --bundle DIR            OCI runtime bundle (DIR/config.json)\n"
        "  --name NAME             container name (IMAGE: unique, default its short id; else\n"
        "                          the container id and default hostname; default random)\n"
        "      --rm                IMAGE: remove the container when it exits\n"
        "      --pull=missing|always|never  IMAGE: pull it when not in the store (default\n"
        "                          missing), every time, or never\n"
        "      --tls-verify=false  IMAGE: allow plain http and unverified TLS for the pull\n"
        "      --root DIR          IMAGE: the image store (default $XDG_DATA_HOME/guise)\n"
        "  --hostname NAME         hostname inside the container\n"
        "  --net host|none         share the host's network (default) or only loopback\n"
        "  -e, --env NAME[=VALUE]  set an environment variable (NAME alone: copy guise's)\n"
        "      --env-file FILE     read NAME=VALUE lines from FILE\n"
        "  -w, --workdir DIR       working directory inside the container\n"
        "  -u, --user UID[:GID]    user and group to run as\n"
        "  -i, --interactive       keep stdin attached (otherwise /dev/null)\n"
        "  -t, --tty               allocate a terminal\n"
        "      --init / --no-init  run a small init as PID 1 (default) or the command itself\n"
        "      --read-only         mount the root filesystem read-only\n"
        "  -v, --volume SRC:DST[:ro|rw]  bind mount a host path\n"
        "      --tmpfs DST[:OPTS]  mount a tmpfs\n"
        "      --cap-add CAP, --cap-drop CAP   change the capability set (ALL accepted)\n"
        "      --security-opt no-new-privileges[=true|false]\n"
        "      --ulimit NAME=SOFT[:HARD]       set a resource limit, e.g. nofile=1024:2048\n"
        "      --no-fake           do not fake root (chown, mknod, set*id... fail as they would)\n"
        "      --fake-db FILE      faked-state database (default: ROOTFS.fakefs.db next to the\n"
        "                          rootfs)\n"
        "      --isolation auto|namespaces|none  namespaces (user, mount, pid, ...), or none\n"
        "                          where no user namespace can be made: the rootfs is shown\n"
        "                          as / by path translation (ptrace; pid, network, ipc and\n"
        "                          hostname stay the host's, not a security boundary); auto\n"
        "                          (default): namespaces, else none with a notice\n"
        "      --fake-backend auto|seccomp|ptrace  how calls are intercepted: seccomp user\n"
        "                          notification, ptrace (for kernels without it; slower), or auto\n"
        "                          (seccomp, else ptrace with a notice; the default)\n"
        "\n"
        "By default the calls an unprivileged root cannot make (chown to other ids, mknod of\n"
        "devices, set*id, privileged xattrs) are faked and their results recorded in the\n"
        "rootfs's faked-state database, which stat and get*id then report (see guise db).\n"
        "\n"
        "Exit status: the command's; 128+N if killed by signal N; 125 if guise failed;\n"
        "126 if the command cannot be executed; 127 if it was not found.\n",
        out);
}

enum {
  OPT_ROOTFS = 256,
  OPT_BUNDLE,
  OPT_NAME,
  OPT_HOSTNAME,
  OPT_NET,
  OPT_ENV_FILE,
  OPT_INIT,
  OPT_NO_INIT,
  OPT_READ_ONLY,
  OPT_TMPFS,
  OPT_CAP_ADD,
  OPT_CAP_DROP,
  OPT_SECURITY_OPT,
  OPT_ULIMIT,
  OPT_NO_FAKE,
  OPT_FAKE_DB,
  OPT_FAKE_BACKEND,
  OPT_RM,
  OPT_PULL,
  OPT_ROOT,
  OPT_TLS_VERIFY,
  OPT_ISOLATION,
};

static const struct option run_options[] = {
    {"rootfs", required_argument, NULL, OPT_ROOTFS},
    {"bundle", required_argument, NULL, OPT_BUNDLE},
    {"name", required_argument, NULL, OPT_NAME},
    {"hostname", required_argument, NULL, OPT_HOSTNAME},
    {"net", required_argument, NULL, OPT_NET},
    {"network", required_argument, NULL, OPT_NET},
    {"env", required_argument, NULL, 'e'},
    {"env-file", required_argument, NULL, OPT_ENV_FILE},
    {"workdir", required_argument, NULL, 'w'},
    {"user", required_argument, NULL, 'u'},
    {"interactive", no_argument, NULL, 'i'},
    {"tty", no_argument, NULL, 't'},
    {"init", no_argument, NULL, OPT_INIT},
    {"no-init", no_argument, NULL, OPT_NO_INIT},
    {"read-only", no_argument, NULL, OPT_READ_ONLY},
    {"volume", required_argument, NULL, 'v'},
    {"tmpfs", required_argument, NULL, OPT_TMPFS},
    {"cap-add", required_argument, NULL, OPT_CAP_ADD},
    {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
    {"security-opt", required_argument, NULL, OPT_SECURITY_OPT},
    {"ulimit", required_argument, NULL, OPT_ULIMIT},
    {"no-fake", no_argument, NULL, OPT_NO_FAKE},
    {"fake-db", required_argument, NULL, OPT_FAKE_DB},
    {"fake-backend", required_argument, NULL, OPT_FAKE_BACKEND},
    {"rm", no_argument, NULL, OPT_RM},
    {"pull", optional_argument, NULL, OPT_PULL},
    {"root", required_argument, NULL, OPT_ROOT},
    {"tls-verify", optional_argument, NULL, OPT_TLS_VERIFY},
    {"isolation", required_argument, NULL, OPT_ISOLATION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void add_env(char ***env, const char *entry)
{
  if (strchr(entry, '=') != NULL) {
    strv_append(env, entry);
    return;
  }
  const char *value = getenv(entry); /* docker: NAME alone copies the caller's value */
  if (value == NULL)
    return;
  _cleanup_free_ char *joined = NULL;
  if (asprintf(&joined, "%s=%s", entry, value) < 0)
    abort();
  strv_append(env, joined);
}

static int read_env_file(const char *path, char ***env, guise_error **err)
{
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  if (f == NULL)
    return guise_fail_errno(err, "--env-file %s", path);
  _cleanup_free_ char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    const char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '\0' || *p == '#')
      continue;
    add_env(env, p);
  }
  return 0;
}

static int parse_volume(const char *text, struct container_spec *spec, guise_error **err)
{
  _cleanup_free_ char *copy = strdup(text);
  if (copy == NULL)
    abort();
  char *dst = strchr(copy, ':');
  if (dst == NULL || dst == copy || dst[1] != '/')
    return guise_fail(err, 0, "--volume %s: expected SRC:DST[:ro|rw] with an absolute DST", text);
  *dst++ = '\0';
  char *opts = strchr(dst, ':');
  if (opts != NULL)
    *opts++ = '\0';
  char source[PATH_MAX];
  if (realpath(copy, source) == NULL)
    return guise_fail_errno(err, "--volume %s: source %s", text, copy);
  struct mount_spec m = {
      .kind = MOUNT_KIND_BIND,
      .source = source,
      .destination = dst,
      .recursive = true,
  };
  if (opts != NULL) {
    _cleanup_strv_ char **list = NULL;
    char *save = NULL;
    for (char *o = strtok_r(opts, ",", &save); o != NULL; o = strtok_r(NULL, ",", &save))
      strv_append(&list, o);
    if (spec_parse_mount_options(&m, list, strv_length(list), err) < 0) {
      free(m.data);
      return guise_error_prefix(err, "--volume %s", text);
    }
    if (m.data != NULL) {
      guise_fail(err, 0, "--volume %s: unknown option '%s'", text, m.data);
      free(m.data);
      return -1;
    }
  }
  spec_add_mount(spec, &m);
  return 0;
}

static int parse_tmpfs(const char *text, struct container_spec *spec, guise_error **err)
{
  _cleanup_free_ char *copy = strdup(text);
  if (copy == NULL)
    abort();
  char *opts = strchr(copy, ':');
  if (opts != NULL)
    *opts++ = '\0';
  if (copy[0] != '/')
    return guise_fail(err, 0, "--tmpfs %s: the destination must be absolute", text);
  struct mount_spec m = {
      .kind = MOUNT_KIND_FS,
      .source = "tmpfs",
      .destination = copy,
      .type = "tmpfs",
      .flags = 0x2 | 0x4, /* MS_NOSUID | MS_NODEV, docker's defaults */
  };
  _cleanup_strv_ char **list = NULL;
  char *save = NULL;
  for (char *o = opts ? strtok_r(opts, ",", &save) : NULL; o != NULL;
       o = strtok_r(NULL, ",", &save))
    strv_append(&list, o);
  if (spec_parse_mount_options(&m, list, strv_length(list), err) < 0) {
    free(m.data);
    return guise_error_prefix(err, "--tmpfs %s", text);
  }
  spec_add_mount(spec, &m);
  free(m.data);
  return 0;
}

static int parse_user(const char *text, struct container_spec *spec, guise_error **err)
{
  char *end;
  errno = 0;
  unsigned long uid = strtoul(text, &end, 10);
  if (errno != 0 || end == text || (*end != '\0' && *end != ':'))
    return guise_fail(err, 0, "parsing --user %s failed: expected numeric UID[:GID]", text);
  unsigned long gid = uid;
  if (*end == ':') {
    const char *g = end + 1;
    gid = strtoul(g, &end, 10);
    if (errno != 0 || end == g || *end != '\0')
      return guise_fail(err, 0, "parsing --user %s failed: expected numeric UID[:GID]", text);
  }
  spec->uid = (uid_t)uid;
  spec->gid = (gid_t)gid;
  return 0;
}

static int parse_security_opt(const char *text, struct run_request *req, guise_error **err)
{
  if (strcmp(text, "no-new-privileges") == 0 || strcmp(text, "no-new-privileges=true") == 0 ||
      strcmp(text, "no-new-privileges:true") == 0) {
    req->no_new_privs = 1;
    return 0;
  }
  if (strcmp(text, "no-new-privileges=false") == 0 ||
      strcmp(text, "no-new-privileges:false") == 0) {
    req->no_new_privs = 0;
    return 0;
  }
  return guise_fail(err, 0, "--security-opt %s: unsupported (known: no-new-privileges[=bool])",
                    text);
}

int run_parse_args(int argc, char **argv, struct container_spec *spec, struct run_request *req,
                   guise_error **err)
{
  int c;
  optind = 1;
  opterr = 0;
  spec->net = NET_HOST;
  spec->umask = 022;
  /* "+": stop at the command, its options are its own */
  while ((c = getopt_long(argc, argv, "+e:w:u:itv:h", run_options, NULL)) != -1) {
    uint64_t mask = 0;
    struct rlimit_spec rl;
    switch (c) {
    case OPT_NO_FAKE:
      req->no_fake = true;
      break;
    case OPT_FAKE_DB:
      req->fake_db = optarg;
      break;
    case OPT_FAKE_BACKEND:
      if (tracer_backend_parse(optarg, &req->fake_backend, err) < 0)
        return -1;
      break;
    case OPT_ISOLATION:
      if (isolation_parse(optarg, &req->isolation, err) < 0) return -1;
      req->isolation_given = true;
      break;
    case OPT_ROOTFS:
      req->rootfs = optarg;
      break;
    case OPT_BUNDLE:
      req->bundle = optarg;
      break;
    case OPT_NAME:
      req->name = optarg;
      break;
    case OPT_RM:
      req->rm = true;
      req->image_only = "--rm";
      break;
    case OPT_PULL:
      req->pull = optarg != NULL ? optarg : "always"; /* checked in guise-full */
      req->image_only = "--pull";
      break;
    case OPT_ROOT:
      req->root = optarg;
      req->image_only = "--root";
      break;
    case OPT_TLS_VERIFY:
      if (optarg != NULL && strcmp(optarg, "true") != 0 && strcmp(optarg, "false") != 0)
        return guise_fail(err, 0, "--tls-verify=%s: expected true or false", optarg);
      req->tls_verify = optarg == NULL || strcmp(optarg, "true") == 0;
      req->image_only = "--tls-verify";
      break;
    case OPT_HOSTNAME:
      req->hostname = optarg;
      break;
    case OPT_NET:
      if (strcmp(optarg, "host") == 0)
        req->net = NET_HOST;
      else if (strcmp(optarg, "none") == 0)
        req->net = NET_NONE;
      else
        return guise_fail(err, 0, "--net %s: expected host or none", optarg);
      break;
    case 'e':
      add_env(&req->env, optarg);
      break;
    case OPT_ENV_FILE:
      if (read_env_file(optarg, &req->env, err) < 0)
        return -1;
      break;
    case 'w':
      if (optarg[0] != '/')
        return guise_fail(err, 0, "--workdir %s: must be an absolute path", optarg);
      req->workdir = optarg;
      break;
    case 'u':
      req->user = optarg; /* numeric for a rootfs, checked when applied; names for an IMAGE */
      break;
    case 'i':
      req->stdin_open = true;
      break;
    case 't':
      req->terminal = true;
      break;
    case OPT_INIT:
      req->use_init = 1;
      break;
    case OPT_NO_INIT:
      req->use_init = 0;
      break;
    case OPT_READ_ONLY:
      req->read_only = true;
      break;
    case 'v':
      strv_append(&req->volumes, optarg);
      break;
    case OPT_TMPFS:
      strv_append(&req->tmpfs, optarg);
      break;
    case OPT_CAP_ADD:
    case OPT_CAP_DROP:
      if (spec_parse_capability(optarg, &mask, err) < 0)
        return guise_error_prefix(err, "--%s", c == OPT_CAP_ADD ? "cap-add" : "cap-drop");
      if (c == OPT_CAP_ADD) {
        req->cap_add |= mask;
        req->cap_drop &= ~mask;
      } else {
        req->cap_drop |= mask;
        req->cap_add &= ~mask;
      }
      break;
    case OPT_SECURITY_OPT:
      if (parse_security_opt(optarg, req, err) < 0)
        return -1;
      break;
    case OPT_ULIMIT:
      if (spec_parse_ulimit(optarg, &rl, err) < 0) /* checked now, applied later */
        return -1;
      strv_append(&req->ulimits, optarg);
      break;
    case 'h':
      run_usage(stdout);
      exit(0);
    case '?':
    default:
      if (optopt != 0 && optopt < 256)
        return guise_fail(err, 0, "run: unknown option '-%c' (see guise run --help)", optopt);
      return guise_fail(err, 0, "run: unknown option '%s' (see guise run --help)",
                        argv[optind - 1]);
    }
  }
  return 0;
}

/* Apply what was given on the command line on top of a spec loaded from a bundle or built
 * from defaults. */
int run_apply_request(struct container_spec *spec, struct run_request *req, guise_error **err)
{
  if (req->hostname != NULL) {
    free(spec->hostname);
    spec->hostname = strdup(req->hostname);
  }
  if (req->net >= 0)
    spec->net = (enum net_mode)req->net;
  if (req->isolation_given)
    spec->isolation = req->isolation;
  if (req->workdir != NULL) {
    free(spec->cwd);
    spec->cwd = strdup(req->workdir);
  }
  if (req->user != NULL && parse_user(req->user, spec, err) < 0)
    return -1;
  spec->stdin_open |= req->stdin_open;
  spec->terminal |= req->terminal;
  spec->readonly_rootfs |= req->read_only;
  for (size_t i = 0; req->ulimits != NULL && req->ulimits[i] != NULL; i++) {
    struct rlimit_spec rl;
    if (spec_parse_ulimit(req->ulimits[i], &rl, err) < 0)
      return -1;
    spec_add_rlimit(spec, &rl);
  }
  for (size_t i = 0; req->env != NULL && req->env[i] != NULL; i++)
    spec_set_env(spec, req->env[i]);
  for (size_t i = 0; req->volumes != NULL && req->volumes[i] != NULL; i++)
    if (parse_volume(req->volumes[i], spec, err) < 0)
      return -1;
  for (size_t i = 0; req->tmpfs != NULL && req->tmpfs[i] != NULL; i++)
    if (parse_tmpfs(req->tmpfs[i], spec, err) < 0)
      return -1;
  uint64_t caps = (spec->cap_bounding | req->cap_add) & ~req->cap_drop;
  spec->cap_bounding = caps;
  spec->cap_effective = (spec->cap_effective | req->cap_add) & ~req->cap_drop;
  spec->cap_permitted = (spec->cap_permitted | req->cap_add) & ~req->cap_drop;
  spec->cap_inheritable = (spec->cap_inheritable | req->cap_add) & ~req->cap_drop;
  spec->cap_ambient &= ~req->cap_drop;
  if (req->no_new_privs >= 0)
    spec->no_new_privs = req->no_new_privs;
  if (req->use_init >= 0)
    spec->use_init = req->use_init;
  return 0;
}

void run_request_clear(struct run_request *req)
{
  strv_free(req->env);
  strv_free(req->volumes);
  strv_free(req->tmpfs);
  strv_free(req->ulimits);
}

/* --rootfs DIR or --bundle DIR (req parsed, optind after the options). */
static int build_spec(int argc, char **argv, struct container_spec *spec, struct run_request *req,
                      guise_error **err)
{
  if (req->rootfs != NULL && req->bundle != NULL)
    return guise_fail(err, 0, "run: give one of IMAGE, --rootfs DIR or --bundle DIR (see --help)");
  if (req->image_only != NULL)
    return guise_fail(err, 0, "run: %s is for an IMAGE, not for --%s", req->image_only,
                      req->rootfs != NULL ? "rootfs" : "bundle");
  if (req->name != NULL)
    spec->id = strdup(req->name);
  if (req->bundle != NULL) {
    if (optind < argc)
      return guise_fail(err, 0, "run: --bundle takes its command from config.json, not '%s'",
                        argv[optind]);
    if (oci_config_load(req->bundle, spec, err) < 0)
      return -1;
  } else {
    char path[PATH_MAX];
    if (realpath(req->rootfs, path) == NULL)
      return guise_fail_errno(err, "opening rootfs %s failed", req->rootfs);
    spec->rootfs = strdup(path);
    if (optind >= argc)
      return guise_fail(err, 0, "run: no command given (guise run --rootfs DIR [--] COMMAND)");
    spec->argv = strv_copy(argv + optind);
    if (req->net >= 0) /* the default mounts depend on it (/sys of the right namespace) */
      spec->net = (enum net_mode)req->net;
    spec_init_for_rootfs(spec);
  }
  if (run_apply_request(spec, req, err) < 0)
    return -1;
  spec_init_defaults(spec, req->bundle != NULL);
  if (!req->no_fake) {
    spec->fake_backend = req->fake_backend;
    if (req->fake_db != NULL)
      spec->fake_db = strdup(req->fake_db);
    else if (fakefs_db_path_for_rootfs(spec->rootfs, &spec->fake_db, err) < 0)
      return -1;
  }
  return 0;
}

int cmd_run(int argc, char **argv)
{
  _cleanup_error_ guise_error *err = NULL;
  struct container_spec spec = {0};
  struct run_request req = RUN_REQUEST_INIT;
  int status = 125;
  int r = run_parse_args(argc, argv, &spec, &req, &err);
  if (r == 0 && req.rootfs == NULL && req.bundle == NULL) {
    run_request_clear(&req);
    spec_free(&spec);
    if (optind >= argc) {
      guise_fail(&err, 0, "run: give an IMAGE, --rootfs DIR or --bundle DIR (see --help)");
      guise_error_print(err);
      return 125;
    }
    return cmd_run_image(argc, argv); /* in guise-full */
  }
  if (r == 0 && build_spec(argc, argv, &spec, &req, &err) == 0)
    container_run(&spec, &status, &err);
  if (err != NULL) {
    guise_error_print(err);
    status = 125;
  }
  run_request_clear(&req);
  spec_free(&spec);
  return status;
}
