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
#include "util/fileio.h"

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
  assert_non_null(err);
  if (strstr(err->msg, needle) == NULL) fail_msg("'%s' lacks '%s'", err->msg, needle);
  guise_error_release(&err);
}

static void test_forms_and_continuations(void **state)
{
  struct containerfile *cf = parse_ok("# comment\n"
                                      "FROM debian:bookworm AS Base\n"
                                      "\n"
                                      "run apt-get update && \\\n"
                                      "    # a comment inside\n"
                                      "\n"
                                      "    apt-get install -y sudo\n"
                                      "CMD [\"bash\", \"-l\"]\n"
                                      "ENTRYPOINT /bin/sh -c x\n"
                                      "COPY --chown=1:2 --from=base a b /dst/\n"
                                      "CMD [not json\n"
                                      "COPY [\"a b\", \"/dst/\"]\n"
                                      "WORKDIR /my dir\r\n"
                                      "COPY ${X:?X must be set} \"${Y:-a b}\" /d/\n");
  assert_int_equal(cf->n, 9);
  assert_string_equal(cf->ins[8].args[0], "${X:?X must be set}");
  assert_string_equal(cf->ins[8].args[1], "\"${Y:-a b}\"");
  assert_string_equal(cf->ins[8].args[2], "/d/");
  assert_int_equal(cf->ins[0].kind, CF_FROM);
  assert_string_equal(cf->ins[0].args[0], "debian:bookworm");
  assert_string_equal(cf->ins[0].args[2], "base"); /* stage names are case-insensitive */
  assert_int_equal(cf->ins[1].kind, CF_RUN);
  assert_string_equal(cf->ins[1].keyword, "RUN");
  assert_int_equal(cf->ins[1].line, 4);
  assert_string_equal(cf->ins[1].args[0], "apt-get update &&     apt-get install -y sudo");
  assert_null(cf->ins[1].args[1]);
  assert_false(cf->ins[1].exec_form);
  assert_true(cf->ins[2].exec_form);
  assert_string_equal(cf->ins[2].args[1], "-l");
  assert_false(cf->ins[3].exec_form);
  assert_string_equal(cf->ins[3].args[0], "/bin/sh -c x");
  assert_string_equal(cf_flag(&cf->ins[4], "chown"), "1:2");
  assert_string_equal(cf_flag(&cf->ins[4], "from"), "base");
  assert_null(cf_flag(&cf->ins[4], "chmod"));
  assert_string_equal(cf->ins[4].args[2], "/dst/");
  assert_int_equal(cf->ins[4].line, 10);
  /* Not a JSON array: the shell form. */
  assert_false(cf->ins[5].exec_form);
  assert_string_equal(cf->ins[5].args[0], "[not json");
  assert_true(cf->ins[6].exec_form);
  assert_string_equal(cf->ins[6].args[0], "a b");
  assert_string_equal(cf->ins[7].args[0], "/my dir");
  assert_null(cf->ins[7].args[1]);
  assert_string_equal(cf->ins[7].original, "WORKDIR /my dir");
  containerfile_free(cf);
}

static void test_env_label_arg_forms(void **state)
{
  struct containerfile *cf = parse_ok("FROM scratch\n"
                                      "ENV A=1 B=\"two words\" C=x\\ y\n"
                                      "ENV OLD the rest of the line\n"
                                      "LABEL a.b=c \"quoted key\"=v\n"
                                      "ARG V=3 W\n"
                                      "ARG NODEFAULT\n");
  assert_string_equal(cf->ins[1].args[0], "A=1");
  assert_string_equal(cf->ins[1].args[1], "B=\"two words\"");
  assert_string_equal(cf->ins[1].args[2], "C=x\\ y");
  assert_string_equal(cf->ins[2].args[0], "OLD=the rest of the line");
  assert_string_equal(cf->ins[3].args[0], "a.b=c");
  assert_string_equal(cf->ins[3].args[1], "\"quoted key\"=v");
  assert_string_equal(cf->ins[4].args[0], "V=3");
  assert_string_equal(cf->ins[4].args[1], "W");
  assert_string_equal(cf->ins[5].args[0], "NODEFAULT");
  containerfile_free(cf);
}

static void test_directives(void **state)
{
  struct containerfile *cf = parse_ok("# syntax=docker/dockerfile:1\n"
                                      "# escape=`\n"
                                      "FROM scratch\n"
                                      "RUN dir `\n"
                                      "  C:\\x\n"
                                      "# escape=\\\n"
                                      "RUN echo b`\n"
                                      " c\n");
  assert_int_equal(cf->escape, '`');
  assert_string_equal(cf->syntax, "docker/dockerfile:1");
  assert_int_equal(cf->n, 3);
  assert_string_equal(cf->ins[1].args[0], "dir   C:\\x");
  /* A directive after the first instruction is a comment. */
  assert_string_equal(cf->ins[2].args[0], "echo b c");
  containerfile_free(cf);
  /* After a comment or a blank line, directives are comments too. */
  cf = parse_ok("# hello\n# escape=`\nFROM scratch\nRUN a \\\n b\n");
  assert_int_equal(cf->escape, '\\');
  assert_string_equal(cf->ins[1].args[0], "a  b");
  containerfile_free(cf);
  cf = parse_ok("#ESCAPE = `\nFROM scratch\n");
  assert_int_equal(cf->escape, '`');
  containerfile_free(cf);
  parse_bad("# escape=`\n# escape=\\\nFROM scratch\n",
            "Containerfile:2: the escape directive is given twice");
  parse_bad("# escape=x\nFROM scratch\n", "Containerfile:1: invalid escape character 'x'");
}

static void test_heredocs(void **state)
{
  struct containerfile *cf = parse_ok("FROM scratch\n"
                                      "RUN <<EOF\n"
                                      "echo one\n"
                                      "# not a comment here\n"
                                      "\n"
                                      "echo $HOME\n"
                                      "EOF\n"
                                      "RUN <<-'END' python3\n"
                                      "\tprint('x')\n"
                                      "\t\tEND\n"
                                      "RUN cat <<A >a && cat <<\"B\" >b\n"
                                      "aaa\n"
                                      "A\n"
                                      "bbb $X\n"
                                      "B\n"
                                      "COPY <<file1.txt <<file2 /dst/\n"
                                      "one\n"
                                      "file1.txt\n"
                                      "two\n"
                                      "file2\n"
                                      "RUN echo \"<<NOT\" '<<NOT' a<<<here\n"
                                      "CMD <<NOHEREDOC\n");
  assert_int_equal(cf->n, 7);
  const struct cf_instruction *r = &cf->ins[1];
  assert_int_equal(r->n_heredocs, 1);
  assert_string_equal(r->heredocs[0].name, "EOF");
  assert_string_equal(r->heredocs[0].body, "echo one\n# not a comment here\n\necho $HOME\n");
  assert_true(r->heredocs[0].expand);
  assert_false(r->heredocs[0].strip_tabs);
  assert_string_equal(r->args[0], "<<EOF");
  assert_string_equal(r->original, "RUN <<EOF\necho one\n# not a comment here\n\necho $HOME\nEOF");
  r = &cf->ins[2];
  assert_int_equal(r->line, 8);
  assert_string_equal(r->heredocs[0].name, "END");
  assert_string_equal(r->heredocs[0].body, "print('x')\n");
  assert_false(r->heredocs[0].expand);
  assert_true(r->heredocs[0].strip_tabs);
  r = &cf->ins[3];
  assert_int_equal(r->n_heredocs, 2);
  assert_string_equal(r->heredocs[0].name, "A");
  assert_string_equal(r->heredocs[0].body, "aaa\n");
  assert_true(r->heredocs[0].expand);
  assert_string_equal(r->heredocs[1].name, "B");
  assert_string_equal(r->heredocs[1].body, "bbb $X\n");
  assert_false(r->heredocs[1].expand);
  r = &cf->ins[4];
  assert_int_equal(r->kind, CF_COPY);
  assert_int_equal(r->n_heredocs, 2);
  assert_string_equal(r->heredocs[0].name, "file1.txt");
  assert_string_equal(r->heredocs[0].body, "one\n");
  assert_string_equal(r->heredocs[1].body, "two\n");
  assert_string_equal(r->args[0], "<<file1.txt");
  assert_string_equal(r->args[2], "/dst/");
  /* Quoted markers and here-strings are not heredocs; CMD has none. */
  assert_int_equal(cf->ins[5].n_heredocs, 0);
  assert_int_equal(cf->ins[5].line, 21);
  assert_int_equal(cf->ins[6].n_heredocs, 0);
  assert_string_equal(cf->ins[6].args[0], "<<NOHEREDOC");
  containerfile_free(cf);
  cf = parse_ok("FROM scratch\nRUN <<EOF\nEOF\n");
  assert_string_equal(cf->ins[1].heredocs[0].body, "");
  containerfile_free(cf);
  parse_bad("FROM scratch\nRUN <<EOF\necho\n", "Containerfile:2: heredoc <<EOF is not terminated");
  parse_bad("FROM scratch\nRUN <<'EOF\necho\nEOF\n", "Containerfile:2: unterminated quote");
  parse_bad("FROM scratch\nCOPY <<EOF>x /dst\nEOF\n", "bad heredoc marker");
}

static void test_flags(void **state)
{
  struct containerfile *cf =
      parse_ok("FROM --platform=linux/amd64 scratch AS a\n"
               "RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none true\n"
               "COPY --link --chmod=0644 --exclude=*.md --exclude=x . /\n"
               "ADD --checksum=sha256:00 http://x/y /\n"
               "RUN echo --x\n");
  assert_string_equal(cf_flag(&cf->ins[0], "platform"), "linux/amd64");
  const char **mounts = cf_flag_all(&cf->ins[1], "mount");
  assert_string_equal(mounts[0], "type=cache,target=/c");
  assert_string_equal(mounts[1], "type=tmpfs,target=/t");
  assert_null(mounts[2]);
  free(mounts);
  assert_string_equal(cf_flag(&cf->ins[1], "network"), "none");
  assert_string_equal(cf->ins[1].args[0], "true");
  assert_string_equal(cf_flag(&cf->ins[2], "link"), "true");
  assert_string_equal(cf_flag(&cf->ins[2], "chmod"), "0644");
  const char **ex = cf_flag_all(&cf->ins[2], "exclude");
  assert_string_equal(ex[0], "*.md");
  assert_string_equal(ex[1], "x");
  free(ex);
  assert_string_equal(cf_flag(&cf->ins[3], "checksum"), "sha256:00");
  containerfile_free(cf);
  parse_bad("FROM scratch\nRUN --not-a-flag echo\n",
            "Containerfile:2: unknown flag --not-a-flag for RUN");
  parse_bad("FROM scratch\nCOPY --from=a --from=b x /\n", "COPY flag --from given twice");
  parse_bad("FROM scratch\nCOPY --chown= a b\n", "COPY flag --chown needs a value");
  parse_bad("FROM scratch\nADD --from=x a b\n", "unknown flag --from for ADD");
  /* Instructions without flags take "--x" as an argument. */
  cf = parse_ok("FROM scratch\nENV --x=1\nUSER --help\n");
  assert_string_equal(cf->ins[1].args[0], "--x=1");
  assert_string_equal(cf->ins[2].args[0], "--help");
  containerfile_free(cf);
}

/* Docker's parser takes a flag's value only after '=': the spaced spelling is an error naming
 * the flag, not a source "1:1" or a destination (issue 20); booleans stand alone. */
static void test_flag_values_need_equals(void **state)
{
  (void)state;
  parse_bad("FROM scratch\nCOPY --chown 1:1 f /tmp/\n",
            "Containerfile:2: COPY flag --chown needs a value, written --chown=VALUE: "
            "'COPY --chown 1:1 f /tmp/'");
  parse_bad("FROM scratch\nCOPY --from builder /a /b\n",
            "COPY flag --from needs a value, written --from=VALUE");
  parse_bad("FROM scratch\nRUN --mount type=cache,target=/c true\n",
            "RUN flag --mount needs a value, written --mount=VALUE");
  parse_bad("FROM --platform linux/amd64 scratch\n", "FROM flag --platform needs a value");
  parse_bad("FROM scratch\nCOPY --link=maybe a /\n", "COPY flag --link takes true or false");
  struct containerfile *cf =
      parse_ok("FROM scratch\nCOPY --link --parents=false a /\nADD --keep-git-dir=TRUE a /\n");
  assert_string_equal(cf_flag(&cf->ins[1], "link"), "true");
  assert_string_equal(cf_flag(&cf->ins[1], "parents"), "false");
  assert_string_equal(cf->ins[1].args[0], "a");
  containerfile_free(cf);
}

static void test_healthcheck_onbuild_shell(void **state)
{
  struct containerfile *cf =
      parse_ok("FROM scratch\n"
               "HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://localhost/\n"
               "HEALTHCHECK cmd [\"/bin/check\", \"-q\"]\n"
               "HEALTHCHECK NONE\n"
               "ONBUILD RUN --mount=type=tmpfs,target=/t make\n"
               "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
               "STOPSIGNAL SIGTERM\n"
               "MAINTAINER Jane <jane@example.org>\n"
               "EXPOSE 80/tcp 53/udp\n"
               "VOLUME [\"/a\", \"/b\"]\n"
               "VOLUME /c /d\n");
  const struct cf_instruction *h = &cf->ins[1];
  assert_string_equal(h->args[0], "CMD-SHELL");
  assert_string_equal(h->args[1], "curl -f http://localhost/");
  assert_string_equal(cf_flag(h, "interval"), "1m30s");
  assert_string_equal(cf_flag(h, "retries"), "3");
  h = &cf->ins[2];
  assert_true(h->exec_form);
  assert_string_equal(h->args[0], "CMD");
  assert_string_equal(h->args[1], "/bin/check");
  assert_string_equal(h->args[2], "-q");
  assert_string_equal(cf->ins[3].args[0], "NONE");
  assert_null(cf->ins[3].args[1]);
  const struct cf_instruction *ob = &cf->ins[4];
  assert_string_equal(ob->args[0], "RUN --mount=type=tmpfs,target=/t make");
  assert_non_null(ob->trigger);
  assert_int_equal(ob->trigger->kind, CF_RUN);
  assert_string_equal(cf_flag(ob->trigger, "mount"), "type=tmpfs,target=/t");
  assert_string_equal(cf->ins[5].args[2], "pipefail");
  assert_string_equal(cf->ins[6].args[0], "SIGTERM");
  assert_string_equal(cf->ins[7].args[0], "Jane <jane@example.org>");
  assert_string_equal(cf->ins[8].args[1], "53/udp");
  assert_true(cf->ins[9].exec_form);
  assert_string_equal(cf->ins[9].args[1], "/b");
  assert_false(cf->ins[10].exec_form);
  assert_string_equal(cf->ins[10].args[1], "/d");
  containerfile_free(cf);
  parse_bad("FROM scratch\nHEALTHCHECK --interval=soon CMD x\n", "expected a duration");
  parse_bad("FROM scratch\nHEALTHCHECK --retries=x CMD x\n", "--retries=x: expected a number");
  parse_bad("FROM scratch\nHEALTHCHECK NONE extra\n", "HEALTHCHECK NONE takes no arguments");
  parse_bad("FROM scratch\nHEALTHCHECK curl x\n", "HEALTHCHECK expects NONE or CMD");
  parse_bad("FROM scratch\nHEALTHCHECK CMD\n", "HEALTHCHECK CMD needs a command");
  parse_bad("FROM scratch\nONBUILD ONBUILD RUN x\n", "ONBUILD ONBUILD is not allowed");
  parse_bad("FROM scratch\nONBUILD FROM x\n", "ONBUILD FROM is not allowed");
  parse_bad("FROM scratch\nONBUILD FROBNICATE\n", "unknown instruction 'FROBNICATE'");
  parse_bad("FROM scratch\nSHELL /bin/bash\n", "SHELL needs a JSON array");
  parse_bad("FROM scratch\nSHELL []\n", "SHELL needs a JSON array");
}

static void test_errors_name_file_line_and_text(void **state)
{
  parse_bad("FROM scratch\nFROBNICATE x\n",
            "Containerfile:2: unknown instruction 'FROBNICATE': 'FROBNICATE x'");
  parse_bad("RUN true\n", "Containerfile:1: the first instruction must be FROM (only ARG may come "
                          "before it): 'RUN true'");
  parse_bad("ARG X\n", "must be FROM");
  parse_bad("", "must be FROM");
  parse_bad("# only a comment\n", "must be FROM");
  parse_bad("FROM scratch\nRUN true \\\n", "Containerfile:2: the last instruction ends with a line "
                                           "continuation");
  parse_bad("FROM scratch\nENV A=\"unterminated\n",
            "Containerfile:2: unterminated quote: 'ENV A=\"unterminated'");
  parse_bad("FROM scratch\nENV =x\n", "ENV expects NAME=VALUE pairs, not '=x'");
  parse_bad("FROM scratch\nENV A=1 B\n", "ENV expects NAME=VALUE pairs, not 'B'");
  parse_bad("FROM scratch\nENV ALONE\n", "ENV ALONE needs a value");
  parse_bad("FROM scratch\nCOPY a\n", "COPY needs a source and a destination");
  parse_bad("FROM scratch\nCOPY [\"a\"]\n", "COPY needs a source and a destination");
  parse_bad("FROM\n", "Containerfile:1: FROM needs arguments");
  parse_bad("FROM a b\n", "expected FROM [--platform=P] IMAGE [AS NAME]: 'FROM a b'");
  parse_bad("FROM a AS\n", "expected FROM");
  parse_bad("FROM a AS 1x\n", "invalid stage name '1x'");
  parse_bad("FROM scratch\nUSER a b\n", "USER takes exactly one argument");
  parse_bad("FROM scratch\nARG 1BAD=x\n", "ARG expects NAME[=VALUE], not '1BAD=x'");
  parse_bad("FROM scratch\nRUN\n", "Containerfile:2: RUN needs arguments");
  parse_bad("FROM scratch\n\n\n  RUN   \n", "Containerfile:4: RUN needs arguments");
}

static void test_parse_instruction(void **state)
{
  struct cf_instruction in;
  guise_error *err = NULL;
  assert_int_equal(cf_parse_instruction("trigger", "COPY --chown=1 a /b", '\\', &in, &err), 0);
  assert_int_equal(in.kind, CF_COPY);
  assert_string_equal(cf_flag(&in, "chown"), "1");
  cf_instruction_clear(&in);
  assert_int_equal(cf_parse_instruction("trigger", "NOPE x", '\\', &in, &err), -1);
  assert_string_equal(err->msg, "trigger: unknown instruction 'NOPE': 'NOPE x'");
  guise_error_release(&err);
}

static const char *lookup(void *ud, const char *name)
{
  if (strcmp(name, "A") == 0) return "alpha";
  if (strcmp(name, "EMPTY") == 0) return "";
  if (strcmp(name, "TWO") == 0) return "a b";
  if (strcmp(name, "PATH") == 0) return "/usr/local/bin:/usr/bin:/bin";
  if (strcmp(name, "FILE") == 0) return "archive.tar.gz";
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
      {"$A/${A}x", "alpha/alphax", true},
      {"$Ax ${A}x", " alphax", true},
      {"${NOPE:-dflt} ${A:-dflt} ${EMPTY:-e}", "dflt alpha e", true},
      {"${NOPE-dflt}|${EMPTY-dflt}", "dflt|", true},
      {"${A:+set}|${NOPE:+set}|${EMPTY:+set}", "set||", true},
      {"${A+set}|${NOPE+set}|${EMPTY+set}", "set||set", true},
      {"${A:?must be set}", "alpha", true},
      {"${NOPE:-$A}", "alpha", true},
      {"${NOPE:-${NADA:-deep}}", "deep", true},
      {"${NOPE:-a b}", "a b", true},
      {"${FILE%.gz}|${FILE%%.*}|${FILE#*.}|${FILE##*.}", "archive.tar|archive|tar.gz|gz", true},
      {"${PATH#/usr/local/bin:}", "/usr/bin:/bin", true},
      {"${NOPE#x}", "", true},
      {"\\$A $ a$", "$A $ a$", true},
      {"\"$A b\" '$A' c\\ d", "alpha b $A c d", true},
      {"\"a\\\"b\\$A\\\\c\\d\"", "a\"b$A\\c\\d", true},
      {"'it''s'", "its", true},
      {"$1x", "$1x", true},
      /* Heredoc bodies: quotes are text, only \$ escapes. */
      {"\"$A\" '$A' \\$A \\n", "\"alpha\" 'alpha' $A \\n", false},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    _cleanup_free_ char *got = expand(cases[i].in, cases[i].unquote);
    if (strcmp(got, cases[i].out) != 0)
      fail_msg("'%s' expanded to '%s', not '%s'", cases[i].in, got, cases[i].out);
  }
  static const struct {
    const char *in, *msg;
  } bad[] = {
      {"${A", "bad substitution '${' in '${A'"},
      {"${}", "bad substitution"},
      {"${A:=x}", "unsupported substitution '${A:=x}'"},
      {"${NOPE:?must be set}", "NOPE: must be set"},
      {"${NOPE?}", "NOPE: is not set"},
      {"\"open", "unterminated quote in '\"open'"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *out = NULL;
    guise_error *err = NULL;
    assert_int_equal(cf_expand(bad[i].in, '\\', true, lookup, NULL, &out, &err), -1);
    assert_null(out);
    if (strstr(err->msg, bad[i].msg) == NULL)
      fail_msg("'%s': error '%s' lacks '%s'", bad[i].in, err->msg, bad[i].msg);
    guise_error_release(&err);
  }
  /* The escape directive's character escapes instead of the backslash. */
  char *out = NULL;
  guise_error *err = NULL;
  assert_int_equal(cf_expand("`$A C:\\x", '`', true, lookup, NULL, &out, &err), 0);
  assert_string_equal(out, "$A C:\\x");
  free(out);
}

static void test_expand_words(void **state)
{
  char **w = NULL;
  guise_error *err = NULL;
  assert_int_equal(
      cf_expand_words("$TWO \"$TWO\" '' $NOPE x${NOPE}y c\\ d", '\\', lookup, NULL, &w, &err), 0);
  const char *want[] = {"a", "b", "a b", "", "xy", "c d", NULL};
  for (size_t i = 0; want[i] != NULL; i++) {
    assert_non_null(w[i]);
    assert_string_equal(w[i], want[i]);
  }
  assert_null(w[6]);
  strv_free(w);
  w = NULL;
  assert_int_equal(cf_expand_words("   ", '\\', lookup, NULL, &w, &err), 0);
  assert_non_null(w);
  assert_null(w[0]);
  strv_free(w);
  w = NULL;
  assert_int_equal(cf_expand_words("'a", '\\', lookup, NULL, &w, &err), -1);
  assert_null(w);
  guise_error_release(&err);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms_and_continuations),
      cmocka_unit_test(test_env_label_arg_forms),
      cmocka_unit_test(test_directives),
      cmocka_unit_test(test_heredocs),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_flag_values_need_equals),
      cmocka_unit_test(test_healthcheck_onbuild_shell),
      cmocka_unit_test(test_errors_name_file_line_and_text),
      cmocka_unit_test(test_parse_instruction),
      cmocka_unit_test(test_substitution),
      cmocka_unit_test(test_expand_words),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
