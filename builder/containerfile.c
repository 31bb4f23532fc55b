#include "builder/containerfile.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/fileio.h"

enum arg_form {
  FORM_WORDS,  /* whitespace-separated words, quotes kept */
  FORM_LINE,   /* the rest of the line as one string */
  FORM_CMD,    /* JSON array, else the rest of the line */
  FORM_JSON,   /* JSON array only (SHELL) */
  FORM_COPY,   /* JSON array, else words; heredoc sources */
  FORM_VOLUME, /* JSON array, else words */
  FORM_PAIRS,  /* ENV/LABEL key=value words (or ENV KEY rest-of-line) */
  FORM_HEALTH, /* NONE | CMD ... */
};

static const struct keyword {
  const char *keyword;
  enum cf_kind kind;
  enum arg_form form;
  /* Flags the instruction takes, space-separated; a trailing '*' marks a repeatable one, a
   * trailing '?' a boolean one (--link alone means --link=true). */
  const char *flags;
} keywords[] = {
    {"FROM", CF_FROM, FORM_WORDS, "platform"},
    {"RUN", CF_RUN, FORM_CMD, "mount* network security"},
    {"COPY", CF_COPY, FORM_COPY, "from chown chmod link? parents? exclude*"},
    {"ADD", CF_ADD, FORM_COPY, "chown chmod link? checksum keep-git-dir? exclude*"},
    {"ENV", CF_ENV, FORM_PAIRS, NULL},
    {"ARG", CF_ARG, FORM_WORDS, NULL},
    {"WORKDIR", CF_WORKDIR, FORM_LINE, NULL},
    {"USER", CF_USER, FORM_WORDS, NULL},
    {"CMD", CF_CMD, FORM_CMD, NULL},
    {"ENTRYPOINT", CF_ENTRYPOINT, FORM_CMD, NULL},
    {"SHELL", CF_SHELL, FORM_JSON, NULL},
    {"LABEL", CF_LABEL, FORM_PAIRS, NULL},
    {"EXPOSE", CF_EXPOSE, FORM_WORDS, NULL},
    {"VOLUME", CF_VOLUME, FORM_VOLUME, NULL},
    {"STOPSIGNAL", CF_STOPSIGNAL, FORM_WORDS, NULL},
    {"HEALTHCHECK", CF_HEALTHCHECK, FORM_HEALTH,
     "interval timeout start-period start-interval retries"},
    {"ONBUILD", CF_ONBUILD, FORM_LINE, NULL},
    {"MAINTAINER", CF_MAINTAINER, FORM_LINE, NULL},
};

#define N_KEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

void cf_instruction_clear(struct cf_instruction *in)
{
  free(in->original);
  strv_free(in->flags);
  strv_free(in->args);
  for (size_t i = 0; i < in->n_heredocs; i++) {
    free(in->heredocs[i].name);
    free(in->heredocs[i].body);
  }
  free(in->heredocs);
  if (in->trigger != NULL) {
    cf_instruction_clear(in->trigger);
    free(in->trigger);
  }
  *in = (struct cf_instruction){0};
}

void containerfile_free(struct containerfile *cf)
{
  for (size_t i = 0; i < cf->n; i++)
    cf_instruction_clear(&cf->ins[i]);
  free(cf->ins);
  free(cf->path);
  free(cf->syntax);
  free(cf);
}

/* The flag word's name ("mount" of "--mount=...") matches name. */
static const char *flag_value(const char *flag, const char *name)
{
  size_t len = strlen(name);
  const char *f = flag + 2;
  if (strncmp(f, name, len) != 0) return NULL;
  if (f[len] == '=') return f + len + 1;
  if (f[len] == '\0') return "true";
  return NULL;
}

const char *cf_flag(const struct cf_instruction *in, const char *name)
{
  const char *found = NULL;
  for (size_t i = 0; in->flags != NULL && in->flags[i] != NULL; i++) {
    const char *v = flag_value(in->flags[i], name);
    if (v != NULL) found = v;
  }
  return found;
}

const char **cf_flag_all(const struct cf_instruction *in, const char *name)
{
  size_t n = strv_length(in->flags);
  const char **out = calloc(n + 1, sizeof(*out));
  if (out == NULL) abort();
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *v = flag_value(in->flags[i], name);
    if (v != NULL) out[k++] = v;
  }
  return out;
}

static const char *skip_space(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

static char *dup_range(const char *a, const char *b)
{
  char *s = strndup(a, (size_t)(b - a));
  if (s == NULL) abort();
  return s;
}

/* Where an error is: "path:line" (line 0: just the path, for ONBUILD triggers). */
struct where {
  const char *path;
  int line;
};

static int fail_at(const struct where *w, guise_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_at(const struct where *w, guise_error **err, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  _cleanup_free_ char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0) abort();
  va_end(ap);
  if (w->line > 0) return guise_fail(err, 0, "%s:%d: %s", w->path, w->line, msg);
  return guise_fail(err, 0, "%s: %s", w->path, msg);
}

static const char *brace_end(const char *p, char escape);

/* Words separated by blanks; quotes, ${...} and the escape character keep blanks inside a word
 * (the quotes themselves stay: cf_expand removes them where the language says so).  -1 on an
 * unterminated quote. */
static int split_words(const char *p, char escape, char ***out)
{
  for (;;) {
    p = skip_space(p);
    if (*p == '\0') return 0;
    const char *start = p;
    char quote = 0;
    for (; *p != '\0'; p++) {
      if (quote == 0 && (*p == ' ' || *p == '\t')) break;
      if (*p == escape && p[1] != '\0' && quote != '\'') {
        p++;
        continue;
      }
      if (quote != '\'' && p[0] == '$' && p[1] == '{') {
        const char *close = brace_end(p + 2, escape);
        if (close != NULL) {
          p = close;
          continue;
        }
      }
      if (quote == 0 && (*p == '"' || *p == '\''))
        quote = *p;
      else if (quote != 0 && *p == quote)
        quote = 0;
    }
    if (quote != 0) return -1;
    _cleanup_free_ char *w = dup_range(start, p);
    strv_append(out, w);
  }
}

/* A JSON array of strings: 1 and *out; 0 when text is not one (then it is the shell form). */
static int parse_exec_form(const char *text, char ***out)
{
  json_error_t jerr;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (j == NULL || !json_is_array(j)) {
    json_decref(j);
    return 0;
  }
  size_t i;
  json_t *v;
  json_array_foreach(j, i, v)
  {
    if (!json_is_string(v)) {
      json_decref(j);
      return 0;
    }
  }
  *out = calloc(json_array_size(j) + 1, sizeof(char *));
  if (*out == NULL) abort();
  json_array_foreach(j, i, v)
  {
    (*out)[i] = strdup(json_string_value(v));
    if ((*out)[i] == NULL) abort();
  }
  json_decref(j);
  return 1;
}

/* --- heredoc markers --- */

/* Record the marker at p ("<<EOF", "<<-'EOF'", ...): 1 and *end past it, 0 when p is not one
 * (a here-string "<<<", or nothing usable after "<<"), -1 on an unterminated quote. */
static int heredoc_marker(const char *p, struct cf_instruction *in, const char **end)
{
  if (p[0] != '<' || p[1] != '<' || p[2] == '<') return 0;
  const char *q = p + 2;
  bool strip = false;
  if (*q == '-') {
    strip = true;
    q++;
  }
  char quote = 0;
  if (*q == '"' || *q == '\'') quote = *q++;
  const char *name = q;
  while (*q != '\0' && (quote ? *q != quote : strchr(" \t<>|;&()'\"", *q) == NULL))
    q++;
  if (quote != 0 && *q != quote) return -1;
  if (q == name) return 0;
  struct cf_heredoc h = {.name = dup_range(name, q), .expand = quote == 0, .strip_tabs = strip};
  if (quote != 0) q++;
  in->heredocs = realloc(in->heredocs, (in->n_heredocs + 1) * sizeof(*in->heredocs));
  if (in->heredocs == NULL) abort();
  in->heredocs[in->n_heredocs++] = h;
  *end = q;
  return 1;
}

/* Heredoc markers of a RUN in shell form: "<<" outside quotes, as the shell would see them. */
static int find_run_heredocs(const char *line, char escape, struct cf_instruction *in)
{
  char quote = 0;
  for (const char *p = line; *p != '\0';) {
    if (quote != '\'' && *p == escape && p[1] != '\0') {
      p += 2;
      continue;
    }
    if (quote == 0 && (*p == '"' || *p == '\'')) {
      quote = *p++;
      continue;
    }
    if (quote != 0) {
      if (*p == quote) quote = 0;
      p++;
      continue;
    }
    if (p[0] == '<' && p[1] == '<' && p[2] == '<') {
      p += 3;
      continue;
    }
    const char *end;
    int r = heredoc_marker(p, in, &end);
    if (r < 0) return -1;
    p = r > 0 ? end : p + 1;
  }
  return 0;
}

/* --- one instruction --- */

static const struct keyword *find_keyword(const char *p, size_t len)
{
  for (size_t k = 0; k < N_KEYWORDS; k++)
    if (strlen(keywords[k].keyword) == len && strncasecmp(keywords[k].keyword, p, len) == 0)
      return &keywords[k];
  return NULL;
}

/* Is name among the space-separated list allowed (with '*': *repeatable, '?': *boolean)? */
static bool flag_allowed(const char *allowed, const char *name, size_t len, bool *repeatable,
                         bool *boolean)
{
  for (const char *a = allowed; a != NULL && *a != '\0';) {
    const char *e = strchr(a, ' ');
    size_t alen = e ? (size_t)(e - a) : strlen(a);
    bool rep = a[alen - 1] == '*', is_bool = a[alen - 1] == '?';
    size_t nlen = rep || is_bool ? alen - 1 : alen;
    if (nlen == len && strncmp(a, name, len) == 0) {
      *repeatable = rep;
      *boolean = is_bool;
      return true;
    }
    a = e ? e + 1 : a + alen;
  }
  return false;
}

static int parse_flags(const struct where *w, const struct keyword *kw, const char **pp,
                       struct cf_instruction *in, guise_error **err)
{
  const char *p = *pp;
  while (p[0] == '-' && p[1] == '-') {
    const char *end = p;
    while (*end != '\0' && !isspace((unsigned char)*end))
      end++;
    _cleanup_free_ char *flag = dup_range(p, end);
    size_t nlen = strcspn(flag + 2, "=");
    bool repeatable = false, boolean = false;
    if (nlen == 0 || !flag_allowed(kw->flags, flag + 2, nlen, &repeatable, &boolean))
      return fail_at(w, err, "unknown flag %.*s for %s: '%s'", (int)nlen + 2, flag, kw->keyword,
                     in->original);
    if (!repeatable) {
      _cleanup_free_ char *name = strndup(flag + 2, nlen);
      if (cf_flag(in, name) != NULL)
        return fail_at(w, err, "%s flag --%s given twice: '%s'", kw->keyword, name, in->original);
    }
    const char *value = flag[2 + nlen] == '=' ? flag + 3 + nlen : NULL;
    /* As docker's parser: a value comes after '=', never in the next word ("--chown 1:1" would
     * otherwise make 1:1 a source). */
    if (value == NULL && !boolean)
      return fail_at(w, err, "%s flag --%.*s needs a value, written --%.*s=VALUE: '%s'",
                     kw->keyword, (int)nlen, flag + 2, (int)nlen, flag + 2, in->original);
    if (value != NULL && *value == '\0')
      return fail_at(w, err, "%s flag --%.*s needs a value: '%s'", kw->keyword, (int)nlen, flag + 2,
                     in->original);
    if (value != NULL && boolean && strcasecmp(value, "true") != 0 &&
        strcasecmp(value, "false") != 0)
      return fail_at(w, err, "%s flag --%.*s takes true or false, not '%s': '%s'", kw->keyword,
                     (int)nlen, flag + 2, value, in->original);
    strv_append(&in->flags, flag);
    p = skip_space(end);
  }
  *pp = p;
  return 0;
}

/* A Go duration as HEALTHCHECK takes it ("30s", "1m30s", "500ms"). */
static bool valid_duration(const char *s)
{
  if (*s == '\0') return false;
  while (*s != '\0') {
    if (!isdigit((unsigned char)*s)) return false;
    while (isdigit((unsigned char)*s) || *s == '.')
      s++;
    if (strncmp(s, "ms", 2) == 0 || strncmp(s, "us", 2) == 0 || strncmp(s, "ns", 2) == 0)
      s += 2;
    else if (*s == 'h' || *s == 'm' || *s == 's')
      s++;
    else
      return false;
  }
  return true;
}

static int parse_healthcheck(const struct where *w, const char *p, struct cf_instruction *in,
                             guise_error **err)
{
  static const char *const durations[] = {"interval", "timeout", "start-period", "start-interval"};
  for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
    const char *v = cf_flag(in, durations[i]);
    if (v != NULL && !valid_duration(v))
      return fail_at(w, err, "HEALTHCHECK --%s=%s: expected a duration such as 30s or 1m30s",
                     durations[i], v);
  }
  const char *retries = cf_flag(in, "retries");
  if (retries != NULL && (strspn(retries, "0123456789") != strlen(retries) || *retries == '\0'))
    return fail_at(w, err, "HEALTHCHECK --retries=%s: expected a number", retries);
  const char *end = p;
  while (*end != '\0' && !isspace((unsigned char)*end))
    end++;
  size_t len = (size_t)(end - p);
  if (len == 4 && strncasecmp(p, "NONE", 4) == 0) {
    if (*skip_space(end) != '\0' || in->flags != NULL)
      return fail_at(w, err, "HEALTHCHECK NONE takes no arguments or flags: '%s'", in->original);
    strv_append(&in->args, "NONE");
    return 0;
  }
  if (len != 3 || strncasecmp(p, "CMD", 3) != 0)
    return fail_at(w, err, "HEALTHCHECK expects NONE or CMD COMMAND: '%s'", in->original);
  p = skip_space(end);
  if (*p == '\0') return fail_at(w, err, "HEALTHCHECK CMD needs a command: '%s'", in->original);
  _cleanup_strv_ char **exec = NULL;
  if (*p == '[' && parse_exec_form(p, &exec) == 1) {
    if (exec[0] == NULL)
      return fail_at(w, err, "HEALTHCHECK CMD needs a command: '%s'", in->original);
    in->exec_form = true;
    strv_append(&in->args, "CMD");
    for (size_t i = 0; exec[i] != NULL; i++)
      strv_append(&in->args, exec[i]);
  } else {
    strv_append(&in->args, "CMD-SHELL");
    strv_append(&in->args, p);
  }
  return 0;
}

/* ENV/LABEL: NAME=VALUE words, or the old ENV NAME VALUE... form. */
static int parse_pairs(const struct where *w, const char *p, char escape, struct cf_instruction *in,
                       guise_error **err)
{
  _cleanup_strv_ char **words = NULL;
  if (split_words(p, escape, &words) < 0)
    return fail_at(w, err, "unterminated quote: '%s'", in->original);
  if (strchr(words[0], '=') == NULL) {
    const char *value = skip_space(p + strlen(words[0]));
    if (*value == '\0')
      return fail_at(w, err, "%s %s needs a value: '%s'", in->keyword, words[0], in->original);
    _cleanup_free_ char *pair = NULL;
    if (asprintf(&pair, "%s=%s", words[0], value) < 0) abort();
    strv_append(&in->args, pair);
    return 0;
  }
  for (size_t i = 0; words[i] != NULL; i++)
    if (strchr(words[i], '=') == NULL || words[i][0] == '=')
      return fail_at(w, err, "%s expects NAME=VALUE pairs, not '%s': '%s'", in->keyword, words[i],
                     in->original);
  in->args = steal_ptr(&words);
  return 0;
}

static bool valid_stage_name(const char *s)
{
  if (!isalpha((unsigned char)*s)) return false;
  for (; *s != '\0'; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
  return true;
}

static bool valid_arg_name(const char *s, size_t len)
{
  if (len == 0) return false;
  for (size_t i = 0; i < len; i++)
    if (!(s[i] == '_' || isalpha((unsigned char)s[i]) ||
          (i > 0 && (isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '.'))))
      return false;
  return true;
}

/* The arguments of a parsed keyword, by its form and kind. */
static int parse_args(const struct where *w, const struct keyword *kw, const char *p, char escape,
                      struct cf_instruction *in, guise_error **err)
{
  switch (kw->form) {
  case FORM_HEALTH:
    return parse_healthcheck(w, p, in, err);
  case FORM_PAIRS:
    return parse_pairs(w, p, escape, in, err);
  case FORM_JSON:
    if (*p != '[' || parse_exec_form(p, &in->args) != 1 || in->args[0] == NULL)
      return fail_at(w, err, "%s needs a JSON array of strings, e.g. [\"/bin/sh\", \"-c\"]: '%s'",
                     kw->keyword, in->original);
    in->exec_form = true;
    return 0;
  case FORM_CMD:
  case FORM_COPY:
  case FORM_VOLUME:
    if (*p == '[' && parse_exec_form(p, &in->args) == 1) {
      in->exec_form = true;
      size_t n = strv_length(in->args);
      if (kw->form == FORM_COPY && n < 2)
        return fail_at(w, err, "%s needs a source and a destination: '%s'", kw->keyword,
                       in->original);
      if (n == 0 && kw->kind != CF_CMD && kw->kind != CF_ENTRYPOINT)
        return fail_at(w, err, "%s needs arguments: '%s'", kw->keyword, in->original);
      return 0;
    }
    if (kw->form == FORM_CMD) {
      if (kw->kind == CF_RUN && find_run_heredocs(p, escape, in) < 0)
        return fail_at(w, err, "unterminated quote in a heredoc marker: '%s'", in->original);
      strv_append(&in->args, p);
      return 0;
    }
    break;
  case FORM_LINE:
    strv_append(&in->args, p);
    return 0;
  case FORM_WORDS:
    break;
  }
  if (split_words(p, escape, &in->args) < 0)
    return fail_at(w, err, "unterminated quote: '%s'", in->original);
  size_t n = strv_length(in->args);
  switch (kw->kind) {
  case CF_FROM:
    if (n != 1 && !(n == 3 && strcasecmp(in->args[1], "AS") == 0))
      return fail_at(w, err, "expected FROM [--platform=P] IMAGE [AS NAME]: '%s'", in->original);
    if (n == 3) {
      if (!valid_stage_name(in->args[2]))
        return fail_at(w, err, "invalid stage name '%s' (letters, digits, '-', '_', '.'): '%s'",
                       in->args[2], in->original);
      for (char *c = in->args[2]; *c; c++)
        *c = (char)tolower((unsigned char)*c); /* stage names are case-insensitive */
    }
    break;
  case CF_COPY:
  case CF_ADD:
    if (n < 2)
      return fail_at(w, err, "%s needs a source and a destination: '%s'", kw->keyword,
                     in->original);
    for (size_t i = 0; i + 1 < n; i++) {
      const char *end;
      int r = heredoc_marker(in->args[i], in, &end);
      if (r < 0 || (r > 0 && *end != '\0'))
        return fail_at(w, err, "bad heredoc marker '%s': '%s'", in->args[i], in->original);
    }
    break;
  case CF_USER:
  case CF_STOPSIGNAL:
    if (n != 1)
      return fail_at(w, err, "%s takes exactly one argument: '%s'", kw->keyword, in->original);
    break;
  case CF_ARG:
    for (size_t i = 0; i < n; i++)
      if (!valid_arg_name(in->args[i], strcspn(in->args[i], "=")))
        return fail_at(w, err, "ARG expects NAME[=VALUE], not '%s': '%s'", in->args[i],
                       in->original);
    break;
  default:
    break;
  }
  return 0;
}

static int parse_instruction(const struct where *w, const char *text, char escape,
                             struct cf_instruction *in, guise_error **err)
{
  const char *p = skip_space(text);
  const char *kw_end = p;
  while (*kw_end != '\0' && !isspace((unsigned char)*kw_end))
    kw_end++;
  size_t kw_len = (size_t)(kw_end - p);
  const struct keyword *kw = find_keyword(p, kw_len);
  *in = (struct cf_instruction){.line = w->line};
  in->original = strdup(p);
  if (in->original == NULL) abort();
  if (kw == NULL)
    return fail_at(w, err, "unknown instruction '%.*s': '%s'", (int)kw_len, p, in->original);
  in->kind = kw->kind;
  in->keyword = kw->keyword;
  p = skip_space(kw_end);
  if (kw->flags != NULL && parse_flags(w, kw, &p, in, err) < 0) return -1;
  if (*p == '\0') return fail_at(w, err, "%s needs arguments: '%s'", kw->keyword, in->original);
  if (parse_args(w, kw, p, escape, in, err) < 0) return -1;
  if (in->kind == CF_ONBUILD) {
    in->trigger = calloc(1, sizeof(*in->trigger));
    if (in->trigger == NULL) abort();
    if (parse_instruction(w, in->args[0], escape, in->trigger, err) < 0)
      return guise_error_prefix(err, "ONBUILD");
    enum cf_kind t = in->trigger->kind;
    if (t == CF_ONBUILD || t == CF_FROM || t == CF_MAINTAINER)
      return fail_at(w, err, "ONBUILD %s is not allowed: '%s'", in->trigger->keyword, in->original);
    if (in->trigger->n_heredocs > 0)
      return fail_at(w, err, "heredocs in ONBUILD are not supported: '%s'", in->original);
  }
  return 0;
}

int cf_parse_instruction(const char *where, const char *text, char escape,
                         struct cf_instruction *out, guise_error **err)
{
  struct where w = {.path = where, .line = 0};
  if (parse_instruction(&w, text, escape, out, err) < 0) {
    cf_instruction_clear(out);
    return -1;
  }
  if (out->n_heredocs > 0) {
    cf_instruction_clear(out);
    return fail_at(&w, err, "heredocs are not supported here: '%s'", text);
  }
  return 0;
}

/* --- the file --- */

/* A parser directive ("# escape=`", "# syntax=...", "# check=..."): 1 when line is one, 0 when
 * not (directives end there), -1 on a bad or repeated one. */
static int parse_directive(const struct where *w, const char *line, struct containerfile *cf,
                           unsigned *seen, guise_error **err)
{
  static const char *const names[] = {"escape", "syntax", "check"};
  const char *p = skip_space(line);
  if (*p != '#') return 0;
  p = skip_space(p + 1);
  const char *name = p;
  while (isalpha((unsigned char)*p))
    p++;
  size_t nlen = (size_t)(p - name);
  p = skip_space(p);
  if (nlen == 0 || *p != '=') return 0;
  size_t k;
  for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
    if (strlen(names[k]) == nlen && strncasecmp(names[k], name, nlen) == 0) break;
  if (k == sizeof(names) / sizeof(names[0])) return 0; /* unknown: a comment */
  if (*seen & (1u << k))
    return fail_at(w, err, "the %s directive is given twice: '%s'", names[k], line);
  *seen |= 1u << k;
  const char *v = skip_space(p + 1);
  size_t vlen = strlen(v);
  while (vlen > 0 && isspace((unsigned char)v[vlen - 1]))
    vlen--;
  if (k == 0) {
    if (vlen != 1 || (*v != '`' && *v != '\\'))
      return fail_at(w, err, "invalid escape character '%.*s' (use \\ or `): '%s'", (int)vlen, v,
                     line);
    cf->escape = *v;
  } else if (k == 1) {
    cf->syntax = dup_range(v, v + vlen);
  }
  return 1;
}

static bool is_comment(const char *line)
{
  return *skip_space(line) == '#';
}

static bool is_blank(const char *line)
{
  return *skip_space(line) == '\0';
}

struct lines {
  char **v;
  size_t n;
};

static void split_lines(char *text, struct lines *l)
{
  size_t cap = 0;
  for (char *rest = text; rest != NULL;) {
    char *line = rest;
    char *nl = strchr(rest, '\n');
    rest = nl ? nl + 1 : NULL;
    if (nl != NULL) *nl = '\0';
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r') line[len - 1] = '\0';
    if (rest == NULL && *line == '\0') break; /* text ended with a newline */
    if (l->n == cap) {
      cap = cap ? cap * 2 : 64;
      l->v = realloc(l->v, cap * sizeof(char *));
      if (l->v == NULL) abort();
    }
    l->v[l->n++] = line;
  }
}

/* Read the bodies of in's heredocs from the lines after the instruction (*i on). */
static int read_heredocs(const struct where *w, const struct lines *l, size_t *i,
                         struct cf_instruction *in, guise_error **err)
{
  size_t cap = strlen(in->original) + 1, len = cap - 1;
  char *orig = malloc(cap);
  if (orig == NULL) abort();
  memcpy(orig, in->original, len + 1);
  for (size_t h = 0; h < in->n_heredocs; h++) {
    struct cf_heredoc *hd = &in->heredocs[h];
    size_t blen = 0, bcap = 64;
    hd->body = malloc(bcap);
    if (hd->body == NULL) abort();
    hd->body[0] = '\0';
    bool ended = false;
    while (*i < l->n) {
      const char *line = l->v[(*i)++];
      if (hd->strip_tabs)
        while (*line == '\t')
          line++;
      if (strcmp(line, hd->name) == 0) {
        ended = true;
        break;
      }
      size_t n = strlen(line);
      if (blen + n + 2 > bcap) {
        bcap = (blen + n + 2) * 2;
        hd->body = realloc(hd->body, bcap);
        if (hd->body == NULL) abort();
      }
      memcpy(hd->body + blen, line, n);
      blen += n;
      hd->body[blen++] = '\n';
      hd->body[blen] = '\0';
    }
    if (!ended) {
      free(orig);
      return fail_at(w, err, "heredoc <<%s is not terminated (no line '%s' follows): '%s'",
                     hd->name, hd->name, in->original);
    }
    /* The history (and the cache key) show the heredocs as written. */
    size_t add = blen + strlen(hd->name) + 2;
    if (len + add + 1 > cap) {
      cap = (len + add + 1) * 2;
      orig = realloc(orig, cap);
      if (orig == NULL) abort();
    }
    len += (size_t)sprintf(orig + len, "\n%s%s", hd->body, hd->name);
  }
  free(in->original);
  in->original = orig;
  return 0;
}

static int parse_lines(struct containerfile *cf, const struct lines *l, guise_error **err)
{
  size_t i = 0;
  unsigned seen = 0;
  for (; i < l->n; i++) {
    struct where w = {cf->path, (int)i + 1};
    int r = parse_directive(&w, l->v[i], cf, &seen, err);
    if (r < 0) return -1;
    if (r == 0) break;
  }
  size_t cap = 0;
  while (i < l->n) {
    if (is_comment(l->v[i]) || is_blank(l->v[i])) {
      i++;
      continue;
    }
    struct where w = {cf->path, (int)i + 1};
    _cleanup_free_ char *logical = NULL;
    size_t have = 0, lcap = 0;
    for (;;) {
      if (i == l->n)
        return fail_at(&w, err, "the last instruction ends with a line continuation: '%s'",
                       logical ? logical : "");
      const char *line = l->v[i++];
      /* Comment and blank lines inside a continued instruction vanish, as in docker. */
      if (have > 0 && (is_comment(line) || is_blank(line))) continue;
      size_t len = strlen(line);
      while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
      bool continued = len > 0 && line[len - 1] == cf->escape;
      if (continued) len--;
      if (have + len + 1 > lcap) {
        lcap = (have + len + 1) * 2;
        logical = realloc(logical, lcap);
        if (logical == NULL) abort();
      }
      memcpy(logical + have, line, len);
      have += len;
      logical[have] = '\0';
      if (!continued) break;
    }
    if (cf->n == cap) {
      cap = cap ? cap * 2 : 16;
      cf->ins = realloc(cf->ins, cap * sizeof(*cf->ins));
      if (cf->ins == NULL) abort();
    }
    struct cf_instruction *in = &cf->ins[cf->n];
    int r = parse_instruction(&w, logical, cf->escape, in, err);
    if (r == 0 && in->n_heredocs > 0) r = read_heredocs(&w, l, &i, in, err);
    cf->n++; /* freed with the file even when incomplete */
    if (r < 0) return -1;
  }
  size_t k = 0;
  while (k < cf->n && cf->ins[k].kind == CF_ARG)
    k++;
  if (k == cf->n || cf->ins[k].kind != CF_FROM) {
    struct where w = {cf->path, k < cf->n ? cf->ins[k].line : (int)l->n};
    return fail_at(
        &w, err, "the first instruction must be FROM (only ARG may come before it)%s%s%s",
        k < cf->n ? ": '" : "", k < cf->n ? cf->ins[k].original : "", k < cf->n ? "'" : "");
  }
  return 0;
}

int containerfile_parse(const char *path, const char *text, struct containerfile **out,
                        guise_error **err)
{
  struct containerfile *cf = calloc(1, sizeof(*cf));
  if (cf == NULL) abort();
  cf->path = strdup(path);
  cf->escape = '\\';
  _cleanup_free_ char *copy = strdup(text);
  if (cf->path == NULL || copy == NULL) abort();
  struct lines l = {0};
  split_lines(copy, &l);
  int r = parse_lines(cf, &l, err);
  free(l.v);
  if (r < 0) {
    containerfile_free(cf);
    return -1;
  }
  *out = cf;
  return 0;
}

/* --- substitution --- */

struct buf {
  char *s;
  size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    if (b->s == NULL) abort();
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static bool name_char(char c, bool first)
{
  return c == '_' || isalpha((unsigned char)c) || (!first && isdigit((unsigned char)c));
}

struct lexer {
  const char *text; /* the whole input, for messages */
  char escape;
  bool unquote;
  cf_lookup_fn lookup;
  void *ud;
  /* Field splitting (cf_expand_words): finished words, and whether the current one exists
   * (was started by a character or a pair of quotes). */
  bool split;
  char ***words;
  bool in_word;
};

static int lex(struct lexer *lx, const char **pp, struct buf *b, guise_error **err);

/* The end of ${...}'s word at p: the matching '}' (nested ${...} and quotes skipped). */
static const char *brace_end(const char *p, char escape)
{
  int depth = 0;
  char quote = 0;
  for (; *p != '\0'; p++) {
    if (*p == escape && p[1] != '\0' && quote != '\'') {
      p++;
      continue;
    }
    if (quote != 0) {
      if (*p == quote) quote = 0;
      continue;
    }
    if (*p == '\'' || *p == '"')
      quote = *p;
    else if (p[0] == '$' && p[1] == '{')
      depth++, p++;
    else if (*p == '}' && depth-- == 0)
      return p;
  }
  return NULL;
}

/* Remove the shortest/longest prefix/suffix of value matching the glob pattern. */
static void trim_pattern(const char *value, const char *pattern, bool suffix, bool longest,
                         struct buf *out)
{
  size_t n = strlen(value);
  _cleanup_free_ char *tmp = strdup(value);
  if (tmp == NULL) abort();
  for (size_t k = 0; k <= n; k++) {
    size_t len = longest ? n - k : k; /* length of the part tried */
    if (!suffix) {
      char saved = tmp[len];
      tmp[len] = '\0';
      bool m = fnmatch(pattern, tmp, 0) == 0;
      tmp[len] = saved;
      if (m) {
        buf_add(out, value + len, n - len);
        return;
      }
    } else if (fnmatch(pattern, value + n - len, 0) == 0) {
      buf_add(out, value, n - len);
      return;
    }
  }
  buf_add(out, value, n);
}

/* A substitution (p at '$'): $NAME or ${NAME[op word]}. */
static int lex_dollar(struct lexer *lx, const char **pp, struct buf *b, guise_error **err)
{
  const char *p = *pp;
  if (p[1] != '{') {
    if (!name_char(p[1], true)) {
      buf_add(b, "$", 1);
      *pp = p + 1;
      return 0;
    }
    const char *q = p + 1;
    while (name_char(*q, q == p + 1))
      q++;
    _cleanup_free_ char *var = dup_range(p + 1, q);
    const char *value = lx->lookup(lx->ud, var);
    if (value != NULL) buf_add(b, value, strlen(value));
    *pp = q;
    return 0;
  }
  const char *name = p + 2, *q = name;
  while (name_char(*q, q == name))
    q++;
  const char *close = brace_end(q, lx->escape);
  if (close == NULL || q == name)
    return guise_fail(err, 0, "bad substitution '%.*s' in '%s'", close ? (int)(close - p + 1) : 2,
                      p, lx->text);
  _cleanup_free_ char *var = dup_range(name, q);
  const char *value = lx->lookup(lx->ud, var);
  *pp = close + 1;
  if (q == close) {
    if (value != NULL) buf_add(b, value, strlen(value));
    return 0;
  }
  bool colon = *q == ':';
  const char *op = colon ? q + 1 : q;
  if (strchr("-+?#%", *op) == NULL || (colon && strchr("-+?", *op) == NULL))
    return guise_fail(err, 0, "unsupported substitution '%.*s' in '%s'", (int)(close - p + 1), p,
                      lx->text);
  bool twice = (*op == '#' || *op == '%') && op[1] == *op;
  const char *word_start = op + 1 + twice;
  /* The word is expanded (and unquoted) like the text around it, but never split. */
  struct lexer sub = *lx;
  sub.split = false;
  struct buf word = {0};
  buf_add(&word, "", 0);
  _cleanup_free_ char *raw = dup_range(word_start, close);
  const char *rp = raw;
  if (lex(&sub, &rp, &word, err) < 0) {
    free(word.s);
    return -1;
  }
  bool set = value != NULL && (!colon || value[0] != '\0');
  switch (*op) {
  case '-':
    if (set)
      buf_add(b, value, strlen(value));
    else
      buf_add(b, word.s, word.len);
    break;
  case '+':
    if (set) buf_add(b, word.s, word.len);
    break;
  case '?':
    if (!set) {
      int r = guise_fail(err, 0, "%s: %s", var, word.len ? word.s : "is not set");
      free(word.s);
      return r;
    }
    buf_add(b, value, strlen(value));
    break;
  default:
    if (value != NULL) trim_pattern(value, word.s, *op == '%', twice, b);
    break;
  }
  free(word.s);
  return 0;
}

static void word_break(struct lexer *lx, struct buf *b)
{
  if (!lx->split || !lx->in_word) return;
  strv_append(lx->words, b->s);
  b->len = 0;
  b->s[0] = '\0';
  lx->in_word = false;
}

/* Append the result of a substitution, splitting it at blanks when field splitting is on. */
static void add_unquoted_value(struct lexer *lx, struct buf *b, const char *v, size_t n)
{
  if (!lx->split) {
    buf_add(b, v, n);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i] == ' ' || v[i] == '\t' || v[i] == '\n') {
      word_break(lx, b);
    } else {
      buf_add(b, v + i, 1);
      lx->in_word = true;
    }
  }
}

static int lex(struct lexer *lx, const char **pp, struct buf *b, guise_error **err)
{
  char quote = 0;
  const char *p = *pp;
  while (*p != '\0') {
    if (lx->unquote) {
      if (quote == 0 && lx->split && (*p == ' ' || *p == '\t')) {
        word_break(lx, b);
        p++;
        continue;
      }
      if (quote == 0 && *p == lx->escape && p[1] != '\0') {
        buf_add(b, p + 1, 1);
        lx->in_word = true;
        p += 2;
        continue;
      }
      if (quote == '"' && *p == lx->escape && (p[1] == '"' || p[1] == '$' || p[1] == lx->escape)) {
        buf_add(b, p + 1, 1);
        p += 2;
        continue;
      }
      if ((*p == '"' || *p == '\'') && (quote == 0 || quote == *p)) {
        quote = quote ? 0 : *p;
        lx->in_word = true;
        p++;
        continue;
      }
    } else if (*p == lx->escape && p[1] == '$') {
      buf_add(b, "$", 1);
      p += 2;
      continue;
    }
    if (*p == '$' && quote != '\'') {
      struct buf v = {0};
      buf_add(&v, "", 0);
      struct lexer sub = *lx;
      sub.split = false;
      if (lex_dollar(&sub, &p, &v, err) < 0) {
        free(v.s);
        return -1;
      }
      if (quote == 0)
        add_unquoted_value(lx, b, v.s, v.len);
      else
        buf_add(b, v.s, v.len);
      free(v.s);
      continue;
    }
    buf_add(b, p, 1);
    lx->in_word = true;
    p++;
  }
  if (quote != 0) return guise_fail(err, 0, "unterminated quote in '%s'", lx->text);
  *pp = p;
  return 0;
}

int cf_expand(const char *text, char escape, bool unquote, cf_lookup_fn lookup, void *ud,
              char **out, guise_error **err)
{
  struct lexer lx = {
      .text = text, .escape = escape, .unquote = unquote, .lookup = lookup, .ud = ud};
  struct buf b = {0};
  buf_add(&b, "", 0);
  const char *p = text;
  if (lex(&lx, &p, &b, err) < 0) {
    free(b.s);
    return -1;
  }
  *out = b.s;
  return 0;
}

int cf_expand_words(const char *text, char escape, cf_lookup_fn lookup, void *ud, char ***out,
                    guise_error **err)
{
  _cleanup_strv_ char **words = NULL;
  struct lexer lx = {.text = text,
                     .escape = escape,
                     .unquote = true,
                     .lookup = lookup,
                     .ud = ud,
                     .split = true,
                     .words = &words};
  struct buf b = {0};
  buf_add(&b, "", 0);
  const char *p = text;
  int r = lex(&lx, &p, &b, err);
  if (r == 0) word_break(&lx, &b);
  free(b.s);
  if (r < 0) return -1;
  if (words == NULL) {
    words = calloc(1, sizeof(char *));
    if (words == NULL) abort();
  }
  *out = steal_ptr(&words);
  return 0;
}
