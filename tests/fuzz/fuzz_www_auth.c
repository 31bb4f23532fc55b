/* A registry's WWW-Authenticate challenge, and base64 credentials as auth.json holds them. */
#include "image/auth.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  _cleanup_free_ char *text = fuzz_string(data, size);
  struct www_auth a = {0};
  _cleanup_error_ guise_error *err = NULL;
  www_auth_parse(text, &a, &err);
  www_auth_clear(&a);
  _cleanup_free_ char *user = NULL, *password = NULL;
  _cleanup_error_ guise_error *err2 = NULL;
  auth_decode_basic(text, &user, &password, &err2);
  return 0;
}
