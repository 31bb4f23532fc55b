/* The Containerfile parser and variable substitution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "builder/containerfile.h"
#include "util/cleanup.h"

static struct containerfile *parse_ok(const char *text)
{
  struct containerfile *cf = NULL;
  guise_error *err = NULL;
  if (containerfile_parse("Containerfile", text, &cf, &err) < 0) fail_msg("%s", err->msg);
  return cf;
}

static void parse_bad(const char *text, const char *needle)
{
  struct containerfile *cf = NULL;
  guise_error *err = NULL;
  assert_int_equal(containerfile_parse("Containerfile", text, &cf, &err), -1);
  assert_null(cf);
  if (strstr(err->msg, needle) == NULL) fail_msg("'%s' lacks '%s'", err->msg, needle);
  guise_error_release(&err);
}

static void test_forms_and_continuations(void **state)
{
  struct containerfile *cf = parse_ok("# comment\n"
                                      "FROM debian:bookworm AS base\n"
                                      "\n"
                                      "run apt-get update && \\\n"
                                      "    # a comment inside\n"
                                      "    apt-get install -y sudo\n"
                                      "CMD [\"bash\", \"-l\"]\n"
                                      "ENTRYPOINT /bin/sh -c x\n"
                                      "COPY --chown=1:2 --from=base a b /dst/\n");
  assert_int_equal(cf->n, 5);
  assert_int_equal(cf->ins[0].kind, CF_FROM);
  assert_string_equal(cf->ins[0].args[2], "base");
  assert_int_equal(cf->ins[1].kind, CF_RUN);
  assert_int_equal(cf->ins[1].line, 4);
  assert_string_equal(cf->ins[1].args[0], "apt-get update &&     apt-get install -y sudo");
  assert_null(cf->ins[1].args[1]);
  assert_true(cf->ins[2].exec_form);
  assert_string_equal(cf->ins[2].args[1], "-l");
  assert_false(cf->ins[3].exec_form);
  assert_string_equal(cf->ins[3].args[0], "/bin/sh -c x");
  assert_string_equal(cf_flag(&cf->ins[4], "chown"), "1:2");
  assert_string_equal(cf_flag(&cf->ins[4], "from"), "base");
  assert_null(cf_flag(&cf->ins[4], "chmod"));
  assert_string_equal(cf->ins[4].args[2], "/dst/");
  containerfile_free(cf);
}

static void test_env_label_forms(void **state)
{
  struct containerfile *cf = parse_ok("FROM scratch\n"
                                      "ENV A=1 B=\"two words\" C=x\\ y\n"
                                      "ENV OLD the rest of the line\n"
                                      "LABEL a.b=c\n"
                                      "ARG V=3\n"
                                      "ARG NODEFAULT\n");
  assert_string_equal(cf->ins[1].args[1], "B=\"two words\"");
  assert_string_equal(cf->ins[1].args[2], "C=x\\ y");
  assert_string_equal(cf->ins[2].args[0], "OLD=the rest of the line");
  assert_string_equal(cf->ins[3].args[0], "a.b=c");
  assert_string_equal(cf->ins[5].args[0], "NODEFAULT");
  containerfile_free(cf);
}

static void test_escape_directive(void **state)
{
  struct containerfile *cf = parse_ok("# escape=`\n"
                                      "FROM scratch\n"
                                      "RUN dir `\n"
                                      "  C:\\x\n");
  assert_int_equal(cf->escape, '`');
  assert_int_equal(cf->n, 2);
  assert_string_equal(cf->ins[1].args[0], "dir   C:\\x");
  containerfile_free(cf);
}

static void test_errors_name_file_and_line(void **state)
{
  parse_bad("FROM scratch\nFROBNICATE x\n", "Containerfile:2: unknown instruction 'FROBNICATE'");
  parse_bad("RUN true\n", "Containerfile:1: the first instruction must be FROM");
  parse_bad("ARG X\n", "must be FROM");
  parse_bad("FROM scratch\nRUN <<EOF\ntrue\nEOF\n", "Containerfile:2: heredocs are not supported");
  parse_bad("FROM scratch\nRUN true \\\n", "ends with a line continuation");
  parse_bad("FROM scratch\nENV A=\"unterminated\n", "Containerfile:2: unterminated quote");
  parse_bad("FROM scratch\nCOPY --chown a b\n", "needs a value");
  parse_bad("FROM scratch\nSHELL /bin/bash\n", "SHELL needs a JSON array");
  parse_bad("FROM\n", "FROM needs arguments");
}

static const char *lookup(void *ud, const char *name)
{
  if (strcmp(name, "A") == 0) return "alpha";
  if (strcmp(name, "EMPTY") == 0) return "";
  return NULL;
}

static char *expand(const char *text, bool unquote)
{
  char *out = NULL;
  guise_error *err = NULL;
  if (cf_expand(text, '\\', unquote, lookup, NULL, &out, &err) < 0) fail_msg("%s", err->msg);
  return out;
}

static void test_substitution(void **state)
{
  static const struct {
    const char *in, *out;
    bool unquote;
  } cases[] = {
      {"$A/${A}x", "alpha/alphax", false},
      {"${NOPE:-dflt} ${A:-dflt} ${EMPTY:-e}", "dflt alpha e", false},
      {"${A:+set}|${NOPE:+set}|${EMPTY:+set}", "set||", false},
      {"\\$A $", "$A $", false},
      {"\"$A b\" '$A' c\\ d", "alpha b $A c d", true},
      {"${NOPE:-$A}", "alpha", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    _cleanup_free_ char *got = expand(cases[i].in, cases[i].unquote);
    assert_string_equal(got, cases[i].out);
  }
  char *out = NULL;
  guise_error *err = NULL;
  assert_int_equal(cf_expand("${A", '\\', false, lookup, NULL, &out, &err), -1);
  guise_error_release(&err);
  assert_int_equal(cf_expand("${A:?x}", '\\', false, lookup, NULL, &out, &err), -1);
  guise_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms_and_continuations),
      cmocka_unit_test(test_env_label_forms),
      cmocka_unit_test(test_escape_directive),
      cmocka_unit_test(test_errors_name_file_and_line),
      cmocka_unit_test(test_substitution),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
