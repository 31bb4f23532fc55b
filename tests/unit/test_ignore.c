/* .dockerignore / .containerignore matching, with docker's rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>

#include "builder/ignore.h"

static void check(const char *patterns, const char *const *excluded, const char *const *included)
{
  struct ignore *ig = ignore_parse(patterns);
  for (size_t i = 0; excluded[i] != NULL; i++)
    if (!ignore_excluded(ig, excluded[i]))
      fail_msg("'%s' should be excluded by:\n%s", excluded[i], patterns);
  for (size_t i = 0; included[i] != NULL; i++)
    if (ignore_excluded(ig, included[i]))
      fail_msg("'%s' should be included with:\n%s", included[i], patterns);
  ignore_free(ig);
}

static void test_plain_and_wildcards(void **state)
{
  check("# comment\n"
        "\n"
        "  secret.txt  \n"
        "/build\n"
        "./docs/*.md\n"
        "*.o\n"
        "tmp?\n"
        "log[0-9]\n",
        (const char *[]){"secret.txt", "build", "build/x/y", "docs/a.md", "a.o", "tmp1", "log7",
                         "./secret.txt", NULL},
        (const char *[]){"", ".", "src/secret.txt", "builder", "docs/sub/a.md", "src/a.o", "tmp12",
                         "logx", "# comment", NULL});
}

static void test_double_star_and_dirs(void **state)
{
  check("**/*.go\n"
        "vendor/**\n"
        "a/**/z\n",
        (const char *[]){"x.go", "p/q/x.go", "vendor/a", "vendor/a/b", "a/z", "a/b/c/z", NULL},
        (const char *[]){"x.goo", "vendorx", "a/zz", "b/z", NULL});
  /* A directory pattern excludes everything below it. */
  check("node_modules\n", (const char *[]){"node_modules", "node_modules/a/b.js", NULL},
        (const char *[]){"src/node_modules", "node_modules2", NULL});
}

static void test_exceptions_last_match_wins(void **state)
{
  struct ignore *ig = ignore_parse("*.md\n!README.md\ndocs\n!docs/keep\ndocs/keep/no\n");
  assert_true(ignore_has_exceptions(ig));
  assert_int_equal(ignore_count(ig), 5);
  assert_true(ignore_excluded(ig, "CHANGES.md"));
  assert_false(ignore_excluded(ig, "README.md"));
  assert_true(ignore_excluded(ig, "docs"));
  assert_true(ignore_excluded(ig, "docs/other"));
  assert_false(ignore_excluded(ig, "docs/keep"));
  assert_false(ignore_excluded(ig, "docs/keep/file"));
  assert_true(ignore_excluded(ig, "docs/keep/no"));
  assert_true(ignore_excluded(ig, "docs/keep/no/deeper"));
  ignore_free(ig);
  ig = ignore_parse("");
  assert_false(ignore_has_exceptions(ig));
  assert_int_equal(ignore_count(ig), 0);
  assert_false(ignore_excluded(ig, "anything"));
  ignore_free(ig);
  assert_false(ignore_excluded(NULL, "x"));
}

static void test_cleaned_patterns(void **state)
{
  /* ".." cannot climb out of the context; "/" or "." alone means everything. */
  check("../x\na/../b\n", (const char *[]){"x", "b", NULL}, (const char *[]){"a", NULL});
  check(".\n!keep\n", (const char *[]){"a", "dir/b", NULL}, (const char *[]){"keep", NULL});
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_and_wildcards),
      cmocka_unit_test(test_double_star_and_dirs),
      cmocka_unit_test(test_exceptions_last_match_wins),
      cmocka_unit_test(test_cleaned_patterns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
