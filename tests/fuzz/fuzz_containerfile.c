/* A Containerfile: parsing (directives, continuations, heredocs, flags, JSON forms, ONBUILD
 * triggers), then every argument, flag and heredoc body substituted as the builder does. */
#include "builder/containerfile.h"
#include "tests/fuzz/fuzz.h"

static const char *lookup(void *ud, const char *name)
{
  (void)ud;
  if (strcmp(name, "EMPTY") == 0) return "";
  if (strcmp(name, "FILES") == 0) return "a b  'c d'";
  if (strcmp(name, "HOME") == 0) return "/root";
  return strlen(name) % 3 == 0 ? name : NULL;
}

static void expand_all(const struct cf_instruction *in, char escape)
{
  for (size_t i = 0; in->args != NULL && in->args[i] != NULL; i++) {
    _cleanup_free_ char *out = NULL;
    _cleanup_strv_ char **words = NULL;
    _cleanup_error_ guise_error *e1 = NULL, *e2 = NULL;
    cf_expand(in->args[i], escape, !in->exec_form, lookup, NULL, &out, &e1);
    cf_expand_words(in->args[i], escape, lookup, NULL, &words, &e2);
  }
  for (size_t i = 0; in->flags != NULL && in->flags[i] != NULL; i++) {
    _cleanup_free_ char *out = NULL;
    _cleanup_error_ guise_error *e = NULL;
    cf_expand(in->flags[i], escape, true, lookup, NULL, &out, &e);
  }
  for (size_t i = 0; i < in->n_heredocs; i++) {
    _cleanup_free_ char *out = NULL;
    _cleanup_error_ guise_error *e = NULL;
    cf_expand(in->heredocs[i].body, escape, false, lookup, NULL, &out, &e);
  }
  static const char *const flags[] = {"from", "mount", "chown", "network", "exclude", NULL};
  for (size_t i = 0; flags[i] != NULL; i++) {
    cf_flag(in, flags[i]);
    free(cf_flag_all(in, flags[i]));
  }
  if (in->trigger != NULL) expand_all(in->trigger, escape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  _cleanup_free_ char *text = fuzz_string(data, size);
  _cleanup_containerfile_ struct containerfile *cf = NULL;
  _cleanup_error_ guise_error *err = NULL;
  if (containerfile_parse("Containerfile", text, &cf, &err) == 0) {
    for (size_t i = 0; i < cf->n; i++)
      expand_all(&cf->ins[i], cf->escape);
  }
  /* The same text as one ONBUILD trigger kept in an image config. */
  struct cf_instruction in = {0};
  _cleanup_error_ guise_error *err2 = NULL;
  if (cf_parse_instruction("config", text, '\\', &in, &err2) == 0) expand_all(&in, '\\');
  cf_instruction_clear(&in);
  return 0;
}
