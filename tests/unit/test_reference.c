/* Image references (every transport, defaults, ports, digests) and WWW-Authenticate parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "image/auth.h"
#include "image/reference.h"
#include "util/cleanup.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct image_ref *parse_ok(const char *text)
{
  struct image_ref *r = NULL;
  guise_error *err = NULL;
  int ret = image_ref_parse(text, &r, &err);
  if (ret < 0)
    fail_msg("%s: %s", text, err->msg);
  return r;
}

static void parse_bad(const char *text, const char *needle)
{
  struct image_ref *r = NULL;
  _cleanup_error_ guise_error *err = NULL;
  assert_int_equal(image_ref_parse(text, &r, &err), -1);
  assert_null(r);
  assert_non_null(err);
  if (strstr(err->msg, needle) == NULL)
    fail_msg("%s: error '%s' lacks '%s'", text, err->msg, needle);
}

static void test_docker_host_port(void **state)
{
  struct image_ref *r = parse_ok("docker://127.0.0.1:5000/busybox:1.36");
  assert_int_equal(r->transport, TRANSPORT_DOCKER);
  assert_string_equal(r->registry, "127.0.0.1:5000");
  assert_string_equal(r->repository, "busybox");
  assert_string_equal(r->tag, "1.36");
  assert_null(r->digest);
  char *n = image_ref_name(r);
  assert_string_equal(n, "127.0.0.1:5000/busybox:1.36");
  free(n);
  image_ref_free(r);
}

static void test_defaults(void **state)
{
  struct image_ref *r = parse_ok("busybox");
  assert_int_equal(r->transport, TRANSPORT_NAME);
  assert_string_equal(r->registry, "docker.io");
  assert_string_equal(r->repository, "library/busybox");
  assert_string_equal(r->tag, "latest");
  assert_false(r->registry_explicit);
  image_ref_free(r);
  r = parse_ok("docker://quay.io/foo/bar");
  assert_string_equal(r->registry, "quay.io");
  assert_string_equal(r->repository, "foo/bar");
  assert_string_equal(r->tag, "latest");
  image_ref_free(r);
  r = parse_ok("foo/bar:x");
  assert_string_equal(r->registry, "docker.io");
  assert_string_equal(r->repository, "foo/bar");
  image_ref_free(r);
  r = parse_ok("localhost/x");
  assert_string_equal(r->registry, "localhost");
  assert_true(r->registry_explicit);
  image_ref_free(r);
  r = parse_ok("localhost:5000/a/b/c:t");
  assert_string_equal(r->registry, "localhost:5000");
  assert_string_equal(r->repository, "a/b/c");
  image_ref_free(r);
}

static void test_digests(void **state)
{
  struct image_ref *r = parse_ok("docker://h.example:443/r@sha256:" D64);
  assert_null(r->tag);
  assert_string_equal(r->digest, "sha256:" D64);
  assert_string_equal(image_ref_registry_ref(r), "sha256:" D64);
  char *n = image_ref_name(r);
  assert_string_equal(n, "h.example:443/r@sha256:" D64);
  free(n);
  image_ref_free(r);
  r = parse_ok("r:v1@sha256:" D64);
  assert_string_equal(r->tag, "v1");
  assert_string_equal(r->digest, "sha256:" D64);
  image_ref_free(r);
  parse_bad("r@sha256:abc", "invalid digest");
  parse_bad("r@md5:" D64, "invalid digest");
}

static void test_oci_transports(void **state)
{
  struct image_ref *r = parse_ok("oci:/tmp/layout");
  assert_int_equal(r->transport, TRANSPORT_OCI);
  assert_string_equal(r->path, "/tmp/layout");
  assert_null(r->path_ref);
  assert_null(r->repository);
  image_ref_free(r);
  r = parse_ok("oci:dir:v1.2");
  assert_string_equal(r->path, "dir");
  assert_string_equal(r->path_ref, "v1.2");
  image_ref_free(r);
  r = parse_ok("oci-archive:/x/img.tar:latest");
  assert_int_equal(r->transport, TRANSPORT_OCI_ARCHIVE);
  assert_string_equal(r->path, "/x/img.tar");
  assert_string_equal(r->path_ref, "latest");
  image_ref_free(r);
  r = parse_ok("docker-archive:/x/save.tar:busybox:1");
  assert_int_equal(r->transport, TRANSPORT_DOCKER_ARCHIVE);
  assert_string_equal(r->path, "/x/save.tar");
  assert_string_equal(r->repository, "library/busybox");
  assert_string_equal(r->tag, "1");
  image_ref_free(r);
  r = parse_ok("docker-archive:save.tar");
  assert_string_equal(r->path, "save.tar");
  assert_null(r->path_ref);
  image_ref_free(r);
  parse_bad("oci:", "missing path");
  parse_bad("oci:dir:", "empty reference");
}

static void test_invalid(void **state)
{
  parse_bad("", "empty");
  parse_bad("Busybox", "invalid repository");
  parse_bad("docker:///x", "too many slashes");
  parse_bad("a//b", "invalid repository");
  parse_bad("x:-bad", "invalid tag");
  parse_bad("bad_host:99x/r", "invalid registry");
  assert_true(image_ref_valid_repository("a__b/c.d-e"));
  assert_false(image_ref_valid_repository("a..b"));
  assert_true(image_ref_host_is_loopback("127.0.0.1:5000"));
  assert_true(image_ref_host_is_loopback("localhost"));
  assert_true(image_ref_host_is_loopback("[::1]:5000"));
  assert_false(image_ref_host_is_loopback("localhost.example.com"));
  assert_false(image_ref_host_is_loopback("quay.io"));
}

static void test_www_auth_bearer(void **state)
{
  struct www_auth a;
  guise_error *err = NULL;
  assert_int_equal(www_auth_parse("Bearer realm=\"https://auth.example/token\",service=\"reg\","
                                  "scope=\"repository:a/b:pull,push\"",
                                  &a, &err),
                   0);
  assert_int_equal(a.scheme, AUTH_BEARER);
  assert_string_equal(a.realm, "https://auth.example/token");
  assert_string_equal(a.service, "reg");
  assert_string_equal(a.scope, "repository:a/b:pull,push");
  www_auth_clear(&a);
  assert_int_equal(www_auth_parse("bearer  realm=http://x/t , error=\"insufficient_scope\"", &a,
                                  &err),
                   0);
  assert_string_equal(a.realm, "http://x/t");
  assert_null(a.service);
  www_auth_clear(&a);
}

static void test_www_auth_basic_and_errors(void **state)
{
  struct www_auth a;
  guise_error *err = NULL;
  assert_int_equal(www_auth_parse("Basic realm=\"guise-test\"", &a, &err), 0);
  assert_int_equal(a.scheme, AUTH_BASIC);
  www_auth_clear(&a);
  assert_int_equal(www_auth_parse("Bearer service=\"x\"", &a, &err), -1);
  assert_string_equal(err->msg, "401 without a realm in WWW-Authenticate");
  guise_error_release(&err);
  assert_int_equal(www_auth_parse("Negotiate abc", &a, &err), -1);
  assert_non_null(strstr(err->msg, "unsupported authentication scheme"));
  guise_error_release(&err);
  assert_int_equal(www_auth_parse("Bearer realm=\"unterminated", &a, &err), -1);
  guise_error_release(&err);
}

static void test_basic_credentials(void **state)
{
  char *b = auth_encode_basic("user", "p:ss");
  assert_string_equal(b, "dXNlcjpwOnNz");
  char *u = NULL, *p = NULL;
  guise_error *err = NULL;
  assert_int_equal(auth_decode_basic(b, &u, &p, &err), 0);
  assert_string_equal(u, "user");
  assert_string_equal(p, "p:ss");
  free(b);
  free(u);
  free(p);
  assert_int_equal(auth_decode_basic("bm9jb2xvbg==", &u, &p, &err), -1); /* "nocolon" */
  guise_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_docker_host_port), cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_digests),          cmocka_unit_test(test_oci_transports),
      cmocka_unit_test(test_invalid),          cmocka_unit_test(test_www_auth_bearer),
      cmocka_unit_test(test_www_auth_basic_and_errors),
      cmocka_unit_test(test_basic_credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
