/* .dockerignore / .containerignore patterns: the input up to a NUL byte is the file, the lines
 * after it are paths to match (a few fixed ones too). */
#include "builder/ignore.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, '\0', size);
  size_t plen = nul ? (size_t)(nul - data) : size;
  _cleanup_free_ char *patterns = fuzz_string(data, plen);
  _cleanup_free_ char *paths = nul ? fuzz_string(nul + 1, size - plen - 1) : strdup("");
  _cleanup_ignore_ struct ignore *ig = ignore_parse(patterns);
  ignore_has_exceptions(ig);
  ignore_count(ig);
  static const char *const fixed[] = {
      "",      ".",         "a",           "a/b/c.txt", ".env", "docs/keep/x.md",
      "../..", "/abs/path", "a//b/./../c", NULL};
  for (size_t i = 0; fixed[i] != NULL; i++)
    ignore_excluded(ig, fixed[i]);
  char *save = NULL;
  for (char *p = strtok_r(paths, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save))
    ignore_excluded(ig, p);
  /* Every pattern line as a path too. */
  save = NULL;
  for (char *p = strtok_r(patterns, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save)) {
    ignore_excluded(ig, p);
    _cleanup_strv_ char **parts = ignore_path_parts(p);
  }
  return 0;
}
