/* config.json → container_spec. Run from the repository root (fixtures/ is relative). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/oci_config.h"
#include "runtime/spec.h"
#include "util/cleanup.h"
#include "util/fileio.h"

#define FIXTURE "fixtures/oci/runc-rootless-config.json"
#define BIT(c) (UINT64_C(1) << (c))

struct bundle {
  char dir[64];
  char config[96];
  char rootfs[96];
};

/* A temporary bundle with an empty rootfs/ and the given config.json. */
static void bundle_make(struct bundle *b, const char *config)
{
  snprintf(b->dir, sizeof(b->dir), "/tmp/guise-test-oci-XXXXXX");
  assert_non_null(mkdtemp(b->dir));
  snprintf(b->config, sizeof(b->config), "%s/config.json", b->dir);
  snprintf(b->rootfs, sizeof(b->rootfs), "%s/rootfs", b->dir);
  assert_int_equal(mkdir(b->rootfs, 0755), 0);
  guise_error *err = NULL;
  assert_int_equal(write_file_at(AT_FDCWD, b->config, config, &err), 0);
}

static void bundle_remove(struct bundle *b)
{
  unlink(b->config);
  rmdir(b->rootfs);
  rmdir(b->dir);
}

/* Load config text; return the error message (caller frees) or NULL on success. */
static char *load_text(const char *config, struct container_spec *spec)
{
  struct bundle b;
  bundle_make(&b, config);
  guise_error *err = NULL;
  int r = oci_config_load(b.dir, spec, &err);
  bundle_remove(&b);
  if (r == 0) {
    assert_null(err);
    return NULL;
  }
  assert_int_equal(r, -1);
  assert_non_null(err);
  char *msg = strdup(err->msg);
  guise_error_release(&err);
  return msg;
}

static void expect_error(const char *config, const char *needle)
{
  struct container_spec spec = {0};
  _cleanup_free_ char *msg = load_text(config, &spec);
  if (msg == NULL)
    fail_msg("config loaded, expected an error containing '%s':\n%s", needle, config);
  if (strstr(msg, needle) == NULL) fail_msg("error '%s' does not contain '%s'", msg, needle);
  /* all or nothing: a failed load leaves the spec as it was */
  assert_null(spec.argv);
  assert_null(spec.rootfs);
  spec_free(&spec);
}

#define MINIMAL_PREFIX "{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"}, "

static void test_runc_rootless_fixture(void **state)
{
  _cleanup_free_ char *text = NULL;
  guise_error *err = NULL;
  assert_int_equal(read_file_at(AT_FDCWD, FIXTURE, &text, NULL, &err), 0);
  if (geteuid() != 0 || getegid() != 0) {
    /* `runc spec --rootless` writes the caller's ids into the mappings; the fixture was made
     * as root. Rewrite them to ours so that the test holds for any caller. */
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    json_t *linux_ = json_object_get(j, "linux");
    json_object_set_new(json_array_get(json_object_get(linux_, "uidMappings"), 0), "hostID",
                        json_integer(geteuid()));
    json_object_set_new(json_array_get(json_object_get(linux_, "gidMappings"), 0), "hostID",
                        json_integer(getegid()));
    free(text);
    text = json_dumps(j, JSON_INDENT(2));
    json_decref(j);
  }

  struct bundle b;
  bundle_make(&b, text);
  struct container_spec spec = {.id = strdup("from-the-command-line")};
  int r = oci_config_load(b.dir, &spec, &err);
  if (r < 0) fail_msg("%s", err->msg);
  char real_rootfs[PATH_MAX];
  assert_non_null(realpath(b.rootfs, real_rootfs));
  bundle_remove(&b);

  assert_string_equal(spec.id, "from-the-command-line");
  assert_string_equal(spec.rootfs, real_rootfs);
  assert_true(spec.readonly_rootfs);
  assert_int_equal(strv_length(spec.argv), 1);
  assert_string_equal(spec.argv[0], "sh");
  assert_int_equal(strv_length(spec.env), 2);
  assert_string_equal(spec.env[1], "TERM=xterm");
  assert_string_equal(spec.cwd, "/");
  assert_true(spec.terminal);
  assert_true(spec.stdin_open);
  assert_false(spec.use_init);
  assert_false(spec.provide_etc_files);
  assert_true(spec.provide_default_devices);
  assert_int_equal(spec.uid, 0);
  assert_int_equal(spec.gid, 0);
  assert_int_equal(spec.umask, 022);
  assert_true(spec.no_new_privs);
  assert_string_equal(spec.hostname, "runc");
  assert_int_equal(spec.net, NET_HOST);

  uint64_t caps = BIT(CAP_AUDIT_WRITE) | BIT(CAP_KILL) | BIT(CAP_NET_BIND_SERVICE);
  assert_int_equal(spec.cap_bounding, caps);
  assert_int_equal(spec.cap_effective, caps);
  assert_int_equal(spec.cap_permitted, caps);
  /* ambient needs inheritable, which runc's rootless spec leaves empty (runc ignores it) */
  assert_int_equal(spec.cap_ambient, 0);
  assert_int_equal(spec.cap_inheritable, 0);

  assert_int_equal(spec.n_rlimits, 1);
  assert_int_equal(spec.rlimits[0].resource, RLIMIT_NOFILE);
  assert_int_equal(spec.rlimits[0].soft, 1024);
  assert_int_equal(spec.rlimits[0].hard, 1024);

  assert_int_equal(spec.n_mounts, 7);
  struct mount_spec *m = spec.mounts;
  assert_string_equal(m[0].destination, "/proc");
  assert_int_equal(m[0].kind, MOUNT_KIND_FS);
  assert_string_equal(m[0].type, "proc");
  assert_string_equal(m[0].source, "proc");
  assert_string_equal(m[1].destination, "/dev");
  assert_string_equal(m[1].type, "tmpfs");
  assert_int_equal(m[1].flags, MS_NOSUID | MS_STRICTATIME);
  assert_string_equal(m[1].data, "mode=755,size=65536k");
  assert_string_equal(m[2].type, "devpts");
  assert_string_equal(m[2].data, "newinstance,ptmxmode=0666,mode=0620");
  assert_string_equal(m[4].type, "mqueue");
  assert_null(m[4].data);
  /* rootless sysfs: an rbind of the host's /sys */
  assert_string_equal(m[5].destination, "/sys");
  assert_int_equal(m[5].kind, MOUNT_KIND_BIND);
  assert_true(m[5].recursive);
  assert_string_equal(m[5].source, "/sys");
  assert_int_equal(m[5].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
  assert_string_equal(m[6].destination, "/sys/fs/cgroup");
  assert_int_equal(m[6].kind, MOUNT_KIND_FS);
  assert_string_equal(m[6].type, "cgroup");
  assert_int_equal(m[6].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY);

  assert_int_equal(strv_length(spec.masked_paths), 10);
  assert_string_equal(spec.masked_paths[0], "/proc/acpi");
  assert_int_equal(strv_length(spec.readonly_paths), 5);
  assert_string_equal(spec.readonly_paths[4], "/proc/sysrq-trigger");
  spec_free(&spec);
}

static void test_malformed_json(void **state)
{
  struct container_spec spec = {0};
  _cleanup_free_ char *msg =
      load_text("{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {,\n}\n", &spec);
  assert_non_null(msg);
  /* "<bundle>/config.json:3:15: ..." */
  char *at = strstr(msg, "config.json:3:");
  if (at == NULL) fail_msg("no line number in '%s'", msg);
  expect_error("[\"an array\"]", "config.json: expected a JSON object");
  expect_error("{\"a\": 1, \"a\": 2}", "config.json:1:");
}

static void test_wrong_types(void **state)
{
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": \"true\"}}",
               "config.json: process.args: expected an array of strings");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"echo\", 1]}}",
               "config.json: process.args: expected an array of strings");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": []}}", "process.args: missing or empty");
  expect_error(MINIMAL_PREFIX "\"process\": {\"cwd\": \"/\"}}", "process.args: missing");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"terminal\": \"yes\"}}",
               "process.terminal: expected true or false");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"cwd\": \"relative\"}}",
               "process.cwd: 'relative' is not an absolute path");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"user\": {\"uid\": -1}}}",
               "process.user.uid: expected an integer between 0 and");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"user\": {\"uid\": 1.5}}}",
               "process.user.uid: expected an integer");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"user\": 0}}",
               "process.user: expected an object");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"mounts\": {}}",
               "config.json: mounts: expected an array of objects");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"mounts\": "
                              "[{\"destination\": \"/tmp\", \"type\": \"tmpfs\"}, "
                              "{\"destination\": 7}]}",
               "config.json: mounts[1].destination: expected a string");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"mounts\": "
                              "[{\"destination\": \"/x\", \"options\": [\"bind\"]}]}",
               "mounts[0].source: a bind mount needs a source");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"linux\": "
                              "{\"namespaces\": [{\"type\": \"bogus\"}]}}",
               "linux.namespaces[0].type: unknown namespace type 'bogus'");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"linux\": "
                              "{\"namespaces\": [{\"type\": \"network\", "
                              "\"path\": \"/proc/1/ns/net\"}]}}",
               "linux.namespaces[0].path: joining an existing network namespace");
  expect_error("{\"ociVersion\": \"2.0.0\", \"root\": {\"path\": \"rootfs\"}, "
               "\"process\": {\"args\": [\"x\"]}}",
               "ociVersion: version 2.0.0 is not supported");
}

static void test_minimal_and_unknown_fields(void **state)
{
  struct container_spec spec = {0};
  _cleanup_free_ char *msg = load_text(
      MINIMAL_PREFIX "\"process\": {\"args\": [\"true\"], \"futureField\": {\"x\": 1}, "
                     "\"capabilities\": {\"bounding\": null}}, "
                     "\"linux\": {\"namespaces\": [{\"type\": \"network\"}, {\"type\": \"user\"}, "
                     "{\"type\": \"cgroup\"}], \"newThing\": [1]}, "
                     "\"mounts\": [{\"destination\": \"data\", \"type\": \"bind\", "
                     "\"source\": \"data\"}, {\"destination\": \"/dev\", \"type\": \"devtmpfs\"}],"
                     "\"annotations\": {\"a\": \"b\"}}",
      &spec);
  if (msg != NULL) fail_msg("%s", msg);
  assert_string_equal(spec.argv[0], "true");
  assert_string_equal(spec.cwd, "/");
  assert_int_equal(spec.net, NET_NONE);
  assert_null(spec.hostname);
  assert_false(spec.provide_default_devices); /* /dev is not a tmpfs here */
  assert_int_equal(spec.n_mounts, 2);
  assert_int_equal(spec.mounts[0].kind, MOUNT_KIND_BIND);
  assert_false(spec.mounts[0].recursive); /* type bind without rbind */
  assert_string_equal(spec.mounts[0].destination, "/data");
  assert_int_equal(spec.mounts[0].source[0], '/'); /* relative to the bundle */
  assert_non_null(strstr(spec.mounts[0].source, "/guise-test-oci-"));
  assert_int_equal(spec.cap_bounding, 0);
  spec_free(&spec);
}

static void test_root_path(void **state)
{
  /* relative root path → absolute, symlinks resolved */
  struct bundle b;
  bundle_make(&b, MINIMAL_PREFIX "\"process\": {\"args\": [\"true\"]}}");
  char link[128], relative[300], config[512];
  snprintf(link, sizeof(link), "%s/link", b.dir);
  assert_int_equal(symlink("rootfs", link), 0);
  guise_error *err = NULL;
  struct container_spec spec = {0};
  assert_int_equal(oci_config_load(b.dir, &spec, &err), 0);
  char expected[PATH_MAX];
  assert_non_null(realpath(b.rootfs, expected));
  assert_string_equal(spec.rootfs, expected);
  assert_false(spec.readonly_rootfs);
  spec_free(&spec);

  /* a relative bundle directory with a trailing slash */
  char cwd[PATH_MAX];
  assert_non_null(getcwd(cwd, sizeof(cwd)));
  assert_int_equal(chdir("/tmp"), 0);
  snprintf(relative, sizeof(relative), "%s/", b.dir + strlen("/tmp/"));
  assert_int_equal(oci_config_load(relative, &spec, &err), 0);
  assert_string_equal(spec.rootfs, expected);
  spec_free(&spec);
  assert_int_equal(chdir(cwd), 0);

  /* through a symlink, and absolute */
  unlink(b.config);

  snprintf(config, sizeof(config),
           "{\"root\": {\"path\": \"%s\", \"readonly\": true}, \"process\": {\"args\": [\"x\"]}}",
           link);
  assert_int_equal(write_file_at(AT_FDCWD, b.config, config, &err), 0);
  assert_int_equal(oci_config_load(b.dir, &spec, &err), 0);
  assert_string_equal(spec.rootfs, expected);
  assert_true(spec.readonly_rootfs);
  spec_free(&spec);
  unlink(link);
  bundle_remove(&b);

  expect_error("{\"root\": {\"path\": \"missing\"}, \"process\": {\"args\": [\"x\"]}}",
               "config.json: root.path: ");
  expect_error("{\"root\": {\"path\": \"missing\"}, \"process\": {\"args\": [\"x\"]}}",
               "/missing: No such file or directory");
  expect_error("{\"process\": {\"args\": [\"x\"]}}", "config.json: root: missing");

  assert_int_equal(oci_config_load("/nonexistent-bundle", &spec, &err), -1);
  assert_non_null(strstr(err->msg, "/nonexistent-bundle"));
  guise_error_release(&err);
}

static void test_rlimits_and_capabilities(void **state)
{
  struct container_spec spec = {0};
  _cleanup_free_ char *msg =
      load_text(MINIMAL_PREFIX
                "\"process\": {\"args\": [\"true\"], \"rlimits\": ["
                "{\"type\": \"RLIMIT_NOFILE\", \"soft\": 512, \"hard\": 4096},"
                "{\"type\": \"RLIMIT_CORE\", \"soft\": 0, \"hard\": 18446744073709551615},"
                "{\"type\": \"RLIMIT_NPROC\", \"soft\": 100, \"hard\": 200}],"
                "\"user\": {\"uid\": 1000, \"gid\": 100, \"umask\": 63,"
                " \"additionalGids\": [5, 6]},"
                "\"capabilities\": {\"bounding\": [\"CAP_CHOWN\", \"CAP_SYS_ADMIN\", "
                "\"CAP_FROM_THE_FUTURE\"], \"effective\": [\"CAP_CHOWN\"], "
                "\"inheritable\": [\"CAP_CHOWN\"], \"permitted\": [\"CAP_CHOWN\", \"CAP_KILL\"], "
                "\"ambient\": [\"CAP_CHOWN\", \"CAP_KILL\"]}}}",
                &spec);
  if (msg != NULL) fail_msg("%s", msg);
  assert_int_equal(spec.n_rlimits, 3);
  assert_int_equal(spec.rlimits[0].resource, RLIMIT_NOFILE);
  assert_int_equal(spec.rlimits[0].soft, 512);
  assert_int_equal(spec.rlimits[0].hard, 4096);
  assert_int_equal(spec.rlimits[1].resource, RLIMIT_CORE);
  assert_int_equal(spec.rlimits[1].soft, 0);
  assert_true(spec.rlimits[1].hard == RLIM_INFINITY);
  assert_int_equal(spec.rlimits[2].resource, RLIMIT_NPROC);
  assert_int_equal(spec.rlimits[2].hard, 200);
  assert_int_equal(spec.uid, 1000);
  assert_int_equal(spec.gid, 100);
  assert_int_equal(spec.umask, 077);
  assert_int_equal(spec.n_additional_gids, 2);
  assert_int_equal(spec.additional_gids[1], 6);
  assert_int_equal(spec.cap_bounding, BIT(CAP_CHOWN) | BIT(CAP_SYS_ADMIN));
  assert_int_equal(spec.cap_effective, BIT(CAP_CHOWN));
  assert_int_equal(spec.cap_permitted, BIT(CAP_CHOWN) | BIT(CAP_KILL));
  assert_int_equal(spec.cap_inheritable, BIT(CAP_CHOWN));
  assert_int_equal(spec.cap_ambient, BIT(CAP_CHOWN)); /* KILL is not inheritable */
  spec_free(&spec);

  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"rlimits\": "
                              "[{\"type\": \"RLIMIT_BOGUS\", \"soft\": 1, \"hard\": 1}]}}",
               "process.rlimits[0].type: unknown resource limit 'RLIMIT_BOGUS'");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"rlimits\": "
                              "[{\"type\": \"RLIMIT_NOFILE\", \"soft\": 10, \"hard\": 1}]}}",
               "process.rlimits[0]: soft limit 10 exceeds hard limit 1");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"rlimits\": "
                              "[{\"type\": \"RLIMIT_NOFILE\", \"soft\": \"1\", \"hard\": 1}]}}",
               "process.rlimits[0].soft: expected an integer");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"rlimits\": "
                              "[{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1, \"hard\": 1},"
                              "{\"type\": \"RLIMIT_NOFILE\", \"soft\": 2, \"hard\": 2}]}}",
               "process.rlimits[1]: RLIMIT_NOFILE given twice");
  expect_error(MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"capabilities\": "
                              "{\"bounding\": \"CAP_CHOWN\"}}}",
               "process.capabilities.bounding: expected an array of strings");
}

static void test_id_mappings(void **state)
{
  char config[1024];
  unsigned uid = (unsigned)geteuid(), gid = (unsigned)getegid();

  /* subuid-style range: rejected with an explanation */
  snprintf(config, sizeof(config),
           MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"linux\": {\"uidMappings\": ["
                          "{\"containerID\": 0, \"hostID\": %u, \"size\": 1},"
                          "{\"containerID\": 1, \"hostID\": 100000, \"size\": 65536}]}}",
           uid);
  expect_error(config, "linux.uidMappings: maps 65537 uids in 2 ranges, but without subuid");
  snprintf(config, sizeof(config),
           MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"linux\": {\"gidMappings\": ["
                          "{\"containerID\": 0, \"hostID\": %u, \"size\": 65536}]}}",
           gid);
  expect_error(config, "linux.gidMappings: maps 65536 gids in 1 range, but without subuid");
  /* someone else's uid */
  snprintf(config, sizeof(config),
           MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"linux\": {\"uidMappings\": ["
                          "{\"containerID\": 0, \"hostID\": %u, \"size\": 1}]}}",
           uid + 1);
  expect_error(config, "linux.uidMappings: maps host uid");
  /* the process must run as the mapped uid */
  snprintf(config, sizeof(config),
           MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"user\": {\"uid\": 1000}}, "
                          "\"linux\": {\"uidMappings\": "
                          "[{\"containerID\": 0, \"hostID\": %u, \"size\": 1}]}}",
           uid);
  expect_error(config, "process.user.uid: uid 1000 is not mapped");

  /* the caller's own ids, size 1: accepted */
  snprintf(config, sizeof(config),
           MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"], \"user\": {\"uid\": 1000, "
                          "\"gid\": 1000}}, \"linux\": {\"uidMappings\": "
                          "[{\"containerID\": 1000, \"hostID\": %u, \"size\": 1}], "
                          "\"gidMappings\": [{\"containerID\": 1000, \"hostID\": %u, "
                          "\"size\": 1}]}}",
           uid, gid);
  struct container_spec spec = {0};
  _cleanup_free_ char *msg = load_text(config, &spec);
  if (msg != NULL) fail_msg("%s", msg);
  assert_int_equal(spec.uid, 1000);
  spec_free(&spec);
}

/* Load config text with stderr captured; returns what was written there (caller frees). */
static char *load_capturing_stderr(const char *config, struct container_spec *spec)
{
  char path[] = "/tmp/guise-test-oci-stderr-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  assert_int_equal(dup2(fd, 2), 2);
  _cleanup_free_ char *msg = load_text(config, spec);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  if (msg != NULL) fail_msg("%s", msg);
  char *out = NULL;
  guise_error *err = NULL;
  assert_int_equal(read_file_at(AT_FDCWD, path, &out, NULL, &err), 0);
  unlink(path);
  return out;
}

static void test_unsupported_sections_warn(void **state)
{
  struct container_spec spec = {0};
  _cleanup_free_ char *out = load_capturing_stderr(
      MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"hooks\": {\"prestart\": "
                     "[{\"path\": \"/bin/true\"}]}, \"linux\": {\"seccomp\": "
                     "{\"defaultAction\": \"SCMP_ACT_ERRNO\"}, \"devices\": [{\"path\": "
                     "\"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229}], "
                     "\"resources\": {\"memory\": {\"limit\": 1000000}}}}",
      &spec);
  spec_free(&spec);
  assert_non_null(strstr(out, "config.json: linux.seccomp: seccomp filters are not supported"));
  assert_non_null(strstr(out, "linux.devices:"));
  assert_non_null(strstr(out, "linux.resources:"));
  assert_non_null(strstr(out, "hooks:"));

  /* what docker always writes (device cgroup rules, zero values) asks for nothing */
  _cleanup_free_ char *quiet = load_capturing_stderr(
      MINIMAL_PREFIX "\"process\": {\"args\": [\"x\"]}, \"hooks\": {}, \"linux\": "
                     "{\"sysctl\": {}, \"devices\": [], \"resources\": {\"devices\": "
                     "[{\"allow\": false, \"access\": \"rwm\"}], \"cpu\": {\"shares\": 0}, "
                     "\"memory\": {\"disableOOMKiller\": false}}}}",
      &spec);
  spec_free(&spec);
  assert_string_equal(quiet, "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_runc_rootless_fixture),
      cmocka_unit_test(test_malformed_json),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_minimal_and_unknown_fields),
      cmocka_unit_test(test_root_path),
      cmocka_unit_test(test_rlimits_and_capabilities),
      cmocka_unit_test(test_id_mappings),
      cmocka_unit_test(test_unsupported_sections_warn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
