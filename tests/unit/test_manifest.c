/* Manifest, index and config parsing; platform selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "image/digest.h"
#include "image/manifest.h"
#include "util/cleanup.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char oci_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
    "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" D("a") "\",\"size\":12},"
    "\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER_GZIP "\",\"digest\":\"" D("b") "\",\"size\":34},"
    "{\"mediaType\":\"" MT_OCI_LAYER_ZSTD "\",\"digest\":\"" D("c") "\",\"size\":56}]}";

static const char docker_manifest[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_MANIFEST "\","
    "\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG "\",\"digest\":\"" D("a") "\",\"size\":1},"
    "\"layers\":[{\"mediaType\":\"" MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" D("b") "\",\"size\":2}]}";

static const char index_doc[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_DOCKER_LIST "\",\"manifests\":["
    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D("1") "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D("2") "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D("3") "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v7\"}},"
    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D("4") "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}}]}";

static void test_oci_manifest(void **state)
{
  struct image_manifest *m = NULL;
  guise_error *err = NULL;
  assert_int_equal(manifest_parse(oci_manifest, strlen(oci_manifest), &m, &err), 0);
  assert_string_equal(m->media_type, MT_OCI_MANIFEST);
  assert_string_equal(m->config.digest, D("a"));
  assert_int_equal(m->config.size, 12);
  assert_int_equal(m->n_layers, 2);
  assert_string_equal(m->layers[1].digest, D("c"));
  assert_int_equal(m->layers[1].size, 56);
  manifest_free(m);
  enum manifest_kind k;
  assert_int_equal(manifest_detect(oci_manifest, strlen(oci_manifest), NULL, &k, &err), 0);
  assert_int_equal(k, MANIFEST_KIND_MANIFEST);
}

static void test_docker_manifest(void **state)
{
  struct image_manifest *m = NULL;
  guise_error *err = NULL;
  assert_int_equal(manifest_parse(docker_manifest, strlen(docker_manifest), &m, &err), 0);
  assert_string_equal(m->media_type, MT_DOCKER_MANIFEST);
  assert_string_equal(m->layers[0].media_type, MT_DOCKER_LAYER_GZIP);
  manifest_free(m);
}

static void expect_error(const char *doc, const char *needle)
{
  struct image_manifest *m = NULL;
  _cleanup_error_ guise_error *err = NULL;
  assert_int_equal(manifest_parse(doc, strlen(doc), &m, &err), -1);
  assert_null(m);
  if (strstr(err->msg, needle) == NULL)
    fail_msg("error '%s' lacks '%s'", err->msg, needle);
}

static void test_bad_manifests(void **state)
{
  expect_error("{\"schemaVersion\":2,", "manifest: invalid JSON at line 1");
  expect_error("[]", "not a JSON object");
  expect_error("{\"schemaVersion\":1}", "unsupported schemaVersion 1");
  expect_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:abc\",\"size\":1},\"layers\":[]}",
               "malformed digest");
  expect_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("a") "\",\"size\":-1},\"layers\":[]}",
               "negative size");
  expect_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("a") "\",\"size\":1}}",
               "missing layers");
  expect_error("{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("a") "\",\"size\":1},"
               "\"layers\":[{\"mediaType\":\"text/plain\",\"digest\":\"" D("b") "\",\"size\":1}]}",
               "unsupported media type 'text/plain'");
}

static void test_index_platforms(void **state)
{
  struct image_index *idx = NULL;
  guise_error *err = NULL;
  enum manifest_kind k;
  assert_int_equal(manifest_detect(index_doc, strlen(index_doc), NULL, &k, &err), 0);
  assert_int_equal(k, MANIFEST_KIND_INDEX);
  assert_int_equal(index_parse(index_doc, strlen(index_doc), &idx, &err), 0);
  assert_int_equal(idx->n_manifests, 4);
  const struct oci_descriptor *d = NULL;
  assert_int_equal(index_select_platform(idx, "linux/amd64", &d, &err), 0);
  assert_string_equal(d->digest, D("1"));
  assert_int_equal(index_select_platform(idx, "linux/arm/v7", &d, &err), 0);
  assert_string_equal(d->digest, D("3"));
  assert_int_equal(index_select_platform(idx, "linux/arm", &d, &err), 0);
  assert_string_equal(d->digest, D("2")); /* no variant asked: the first arm */
  assert_int_equal(index_select_platform(idx, "linux/arm64", &d, &err), 0);
  assert_string_equal(d->digest, D("4")); /* arm64's v8 is the default */
  assert_int_equal(index_select_platform(idx, "linux/arm64/v8", &d, &err), 0);
  assert_int_equal(index_select_platform(idx, "linux/s390x", &d, &err), -1);
  assert_non_null(strstr(err->msg, "no image for platform linux/s390x"));
  assert_non_null(strstr(err->msg, "linux/arm/v7"));
  guise_error_release(&err);
  assert_int_equal(index_select_platform(idx, "linux", &d, &err), -1);
  guise_error_release(&err);
  assert_int_equal(index_select_platform(idx, NULL, &d, &err), 0); /* host default */
  index_free(idx);
  const char *p = platform_host_default();
  assert_int_equal(strncmp(p, "linux/", 6), 0);
}

static void test_detect_schema1(void **state)
{
  const char *doc = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
  enum manifest_kind k;
  guise_error *err = NULL;
  assert_int_equal(manifest_detect(doc, strlen(doc), NULL, &k, &err), -1);
  assert_non_null(strstr(err->msg, "schema 1"));
  guise_error_release(&err);
  /* Content-Type decides when the document has no mediaType. */
  const char *bare = "{\"schemaVersion\":2,\"manifests\":[]}";
  assert_int_equal(manifest_detect(bare, strlen(bare), MT_OCI_INDEX, &k, &err), 0);
  assert_int_equal(k, MANIFEST_KIND_INDEX);
}

static void test_config(void **state)
{
  const char *doc = "{\"created\":\"2024-01-02T03:04:05Z\",\"architecture\":\"amd64\","
                    "\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
                    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("e") "\"]}}";
  struct image_config *c = NULL;
  guise_error *err = NULL;
  assert_int_equal(image_config_parse(doc, strlen(doc), &c, &err), 0);
  assert_string_equal(c->created, "2024-01-02T03:04:05Z");
  assert_string_equal(c->architecture, "amd64");
  assert_int_equal(c->n_diff_ids, 1);
  assert_string_equal(c->diff_ids[0], D("e"));
  image_config_free(c);
  const char *bad = "{\"rootfs\":{}}";
  assert_int_equal(image_config_parse(bad, strlen(bad), &c, &err), -1);
  guise_error_release(&err);
}

static void test_digest(void **state)
{
  char d[DIGEST_STR_MAX];
  digest_buffer("", 0, d);
  assert_string_equal(d, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  struct digest_ctx *ctx = digest_new();
  digest_update(ctx, "ab", 2);
  digest_update(ctx, "c", 1);
  digest_peek(ctx, d);
  assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_int_equal(digest_bytes(ctx), 3);
  digest_free(ctx);
  assert_true(digest_valid(d));
  assert_false(digest_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  assert_false(digest_valid("sha512:ba"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_oci_manifest),    cmocka_unit_test(test_docker_manifest),
      cmocka_unit_test(test_bad_manifests),   cmocka_unit_test(test_index_platforms),
      cmocka_unit_test(test_detect_schema1),  cmocka_unit_test(test_config),
      cmocka_unit_test(test_digest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
