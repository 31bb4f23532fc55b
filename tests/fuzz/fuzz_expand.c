/* Word expansion ($VAR, ${VAR:-word}, ${VAR#pattern}, quotes, escapes) on its own: the first
 * byte picks the escape character and the mode, the rest is the text. */
#include "builder/containerfile.h"
#include "tests/fuzz/fuzz.h"

static const char *lookup(void *ud, const char *name)
{
  (void)ud;
  if (strcmp(name, "A") == 0) return "x y";
  if (strcmp(name, "B") == 0) return "/usr/local/bin:/usr/bin";
  if (strcmp(name, "E") == 0) return "";
  if (strcmp(name, "Q") == 0) return "'\"$A\\";
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size == 0) return 0;
  char escape = data[0] & 1 ? '`' : '\\';
  bool unquote = (data[0] & 2) != 0;
  _cleanup_free_ char *text = fuzz_string(data + 1, size - 1);
  _cleanup_free_ char *out = NULL;
  _cleanup_strv_ char **words = NULL;
  _cleanup_error_ guise_error *e1 = NULL, *e2 = NULL;
  cf_expand(text, escape, unquote, lookup, NULL, &out, &e1);
  cf_expand_words(text, escape, lookup, NULL, &words, &e2);
  return 0;
}
