/* auth.json (containers-auth.json(5)) as the registry client reads it: the input is the file
 * REGISTRY_AUTH_FILE names, looked up for a few hosts. */
#include "image/auth.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char *path;
  if (path == NULL) {
    path = fuzz_path("auth.json");
    setenv("REGISTRY_AUTH_FILE", path, 1);
    /* No fallback to a real ~/.docker/config.json. */
    setenv("HOME", fuzz_dir(), 1);
    unsetenv("DOCKER_CONFIG");
  }
  fuzz_write(path, data, size);
  static const char *const hosts[] = {"docker.io", "127.0.0.1:5000", "quay.io", "", NULL};
  for (size_t i = 0; hosts[i] != NULL; i++) {
    _cleanup_free_ char *user = NULL, *password = NULL;
    _cleanup_error_ guise_error *err = NULL;
    auth_lookup(hosts[i], &user, &password, &err);
  }
  return 0;
}
