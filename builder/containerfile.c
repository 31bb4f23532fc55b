#include "builder/containerfile.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/fileio.h"

static const struct {
  const char *keyword;
  enum cf_kind kind;
  bool takes_flags;
  bool shell_line; /* shell form keeps the rest of the line as one string */
} keywords[] = {
    {"FROM", CF_FROM, true, false},
    {"RUN", CF_RUN, true, true},
    {"COPY", CF_COPY, true, false},
    {"ADD", CF_ADD, true, false},
    {"ENV", CF_ENV, false, false},
    {"ARG", CF_ARG, false, false},
    {"WORKDIR", CF_WORKDIR, false, true},
    {"USER", CF_USER, false, false},
    {"CMD", CF_CMD, false, true},
    {"ENTRYPOINT", CF_ENTRYPOINT, false, true},
    {"SHELL", CF_SHELL, false, true},
    {"LABEL", CF_LABEL, false, false},
    {"EXPOSE", CF_EXPOSE, false, false},
    {"VOLUME", CF_VOLUME, false, false},
    {"STOPSIGNAL", CF_STOPSIGNAL, false, false},
    {"HEALTHCHECK", CF_HEALTHCHECK, true, true},
    {"ONBUILD", CF_ONBUILD, false, true},
    {"MAINTAINER", CF_MAINTAINER, false, true},
};

static void instruction_clear(struct cf_instruction *in)
{
  free(in->original);
  strv_free(in->flags);
  strv_free(in->args);
}

void containerfile_free(struct containerfile *cf)
{
  for (size_t i = 0; i < cf->n; i++)
    instruction_clear(&cf->ins[i]);
  free(cf->ins);
  free(cf->path);
  free(cf);
}

const char *cf_flag(const struct cf_instruction *in, const char *name)
{
  size_t len = strlen(name);
  for (size_t i = 0; in->flags != NULL && in->flags[i] != NULL; i++) {
    const char *f = in->flags[i] + 2;
    if (strncmp(f, name, len) == 0 && f[len] == '=') return f + len + 1;
  }
  return NULL;
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

/* Words separated by blanks, quotes and the escape character keeping blanks inside a word
 * (the quotes themselves stay: cf_expand removes them where the language says so). */
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

/* A JSON array of strings, or 0 when text is not one (then it is the shell form). */
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
  json_array_foreach(j, i, v) strv_append(out, json_string_value(v));
  if (*out == NULL) /* [] */
    *out = calloc(1, sizeof(char *));
  json_decref(j);
  return 1;
}

static int parse_instruction(struct containerfile *cf, int line, const char *text,
                             struct cf_instruction *in, guise_error **err)
{
  const char *p = skip_space(text);
  const char *kw_end = p;
  while (*kw_end != '\0' && !isspace((unsigned char)*kw_end))
    kw_end++;
  size_t kw_len = (size_t)(kw_end - p);
  size_t k;
  for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
    if (strlen(keywords[k].keyword) == kw_len && strncasecmp(keywords[k].keyword, p, kw_len) == 0)
      break;
  if (k == sizeof(keywords) / sizeof(keywords[0]))
    return guise_fail(err, 0, "%s:%d: unknown instruction '%.*s'", cf->path, line, (int)kw_len, p);
  *in = (struct cf_instruction){
      .kind = keywords[k].kind, .keyword = keywords[k].keyword, .line = line};
  in->original = strdup(skip_space(text));
  p = skip_space(kw_end);
  if (keywords[k].takes_flags) {
    while (p[0] == '-' && p[1] == '-') {
      const char *end = p;
      while (*end != '\0' && !isspace((unsigned char)*end))
        end++;
      _cleanup_free_ char *flag = dup_range(p, end);
      if (strchr(flag, '=') == NULL)
        return guise_fail(err, 0, "%s:%d: %s flag '%s' needs a value (--name=value)", cf->path,
                          line, in->keyword, flag);
      strv_append(&in->flags, flag);
      p = skip_space(end);
    }
  }
  if (*p == '\0' && in->kind != CF_CMD && in->kind != CF_ENTRYPOINT)
    return guise_fail(err, 0, "%s:%d: %s needs arguments", cf->path, line, in->keyword);
  if ((in->kind == CF_RUN || in->kind == CF_COPY || in->kind == CF_ADD) && strncmp(p, "<<", 2) == 0)
    return guise_fail(err, 0, "%s:%d: heredocs are not supported yet: '%s'", cf->path, line, p);
  if (*p == '[' && parse_exec_form(p, &in->args) == 1) {
    in->exec_form = true;
    return 0;
  }
  if (in->kind == CF_SHELL)
    return guise_fail(err, 0, "%s:%d: SHELL needs a JSON array, e.g. [\"/bin/sh\", \"-c\"]: '%s'",
                      cf->path, line, p);
  if (keywords[k].shell_line) {
    strv_append(&in->args, p);
    return 0;
  }
  _cleanup_strv_ char **words = NULL;
  if (split_words(p, cf->escape, &words) < 0)
    return guise_fail(err, 0, "%s:%d: unterminated quote: '%s'", cf->path, line, p);
  if ((in->kind == CF_ENV || in->kind == CF_LABEL) && strchr(words[0], '=') == NULL) {
    /* The old form: ENV NAME the rest of the line */
    const char *value = skip_space(p + strlen(words[0]));
    if (*value == '\0')
      return guise_fail(err, 0, "%s:%d: %s %s needs a value", cf->path, line, in->keyword,
                        words[0]);
    _cleanup_free_ char *pair = NULL;
    if (asprintf(&pair, "%s=%s", words[0], value) < 0) abort();
    strv_append(&in->args, pair);
    return 0;
  }
  if (in->kind == CF_ENV || in->kind == CF_LABEL) {
    for (size_t i = 0; words[i] != NULL; i++)
      if (strchr(words[i], '=') == NULL || words[i][0] == '=')
        return guise_fail(err, 0, "%s:%d: %s expects NAME=VALUE pairs, not '%s'", cf->path, line,
                          in->keyword, words[i]);
  }
  in->args = steal_ptr(&words);
  return 0;
}

/* "# escape=`" or "# syntax=..." before anything else. */
static bool parse_directive(const char *line, struct containerfile *cf)
{
  const char *p = skip_space(line);
  if (*p != '#') return false;
  p = skip_space(p + 1);
  if (strncasecmp(p, "escape", 6) == 0 && *skip_space(p + 6) == '=') {
    const char *v = skip_space(skip_space(p + 6) + 1);
    if (*v == '`' || *v == '\\') cf->escape = *v;
    return true;
  }
  return strncasecmp(p, "syntax", 6) == 0 && *skip_space(p + 6) == '=';
}

static bool is_comment_or_blank(const char *line)
{
  const char *p = skip_space(line);
  return *p == '\0' || *p == '#' || *p == '\r';
}

int containerfile_parse(const char *path, const char *text, struct containerfile **out,
                        guise_error **err)
{
  struct containerfile *cf = calloc(1, sizeof(*cf));
  if (cf == NULL) abort();
  cf->path = strdup(path);
  cf->escape = '\\';
  _cleanup_free_ char *copy = strdup(text);
  bool directives = true;
  int lineno = 0, start_line = 0;
  _cleanup_free_ char *pending = NULL; /* the logical line being continued */
  size_t cap = 0;
  char *rest = copy;
  while (rest != NULL) {
    char *line = rest;
    char *nl = strchr(rest, '\n');
    rest = nl ? nl + 1 : NULL;
    if (nl != NULL) *nl = '\0';
    lineno++;
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
    if (directives && parse_directive(line, cf)) continue;
    directives = false;
    /* Comments and blank lines vanish, also inside a continued instruction. */
    if (is_comment_or_blank(line)) continue;
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
      len--;
    bool continued = len > 0 && line[len - 1] == cf->escape;
    if (continued) len--;
    if (pending == NULL) {
      start_line = lineno;
      cap = 0;
    }
    size_t have = pending ? strlen(pending) : 0;
    if (have + len + 2 > cap) {
      cap = (have + len + 2) * 2;
      char *grown = realloc(pending, cap);
      if (grown == NULL) abort();
      pending = grown;
    }
    memcpy(pending + have, line, len);
    pending[have + len] = '\0';
    if (continued) continue;
    cf->ins = realloc(cf->ins, (cf->n + 1) * sizeof(*cf->ins));
    if (cf->ins == NULL) abort();
    cf->ins[cf->n] = (struct cf_instruction){0};
    if (parse_instruction(cf, start_line, pending, &cf->ins[cf->n], err) < 0) {
      instruction_clear(&cf->ins[cf->n]);
      containerfile_free(cf);
      return -1;
    }
    cf->n++;
    free(pending);
    pending = NULL;
  }
  if (pending != NULL) {
    guise_fail(err, 0, "%s:%d: the last instruction ends with a line continuation", path,
               start_line);
    containerfile_free(cf);
    return -1;
  }
  size_t i = 0;
  while (i < cf->n && cf->ins[i].kind == CF_ARG)
    i++;
  if (i == cf->n || cf->ins[i].kind != CF_FROM) {
    int line = i < cf->n ? cf->ins[i].line : lineno;
    guise_fail(err, 0, "%s:%d: the first instruction must be FROM (only ARG may come before it)",
               path, line);
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

int cf_expand(const char *text, char escape, bool unquote, cf_lookup_fn lookup, void *ud,
              char **out, guise_error **err)
{
  struct buf b = {0};
  buf_add(&b, "", 0);
  char quote = 0;
  for (const char *p = text; *p != '\0';) {
    if (unquote && quote != '\'' && *p == escape && p[1] != '\0') {
      buf_add(&b, p + 1, 1);
      p += 2;
      continue;
    }
    if (!unquote && *p == escape && p[1] == '$') {
      buf_add(&b, "$", 1);
      p += 2;
      continue;
    }
    if (unquote && (*p == '"' || *p == '\'') && (quote == 0 || quote == *p)) {
      quote = quote ? 0 : *p;
      p++;
      continue;
    }
    if (*p != '$' || quote == '\'') {
      buf_add(&b, p, 1);
      p++;
      continue;
    }
    /* $NAME or ${NAME[:-+]word} */
    if (p[1] == '{') {
      const char *name = p + 2, *q = name;
      while (name_char(*q, q == name))
        q++;
      const char *close = strchr(q, '}');
      if (close == NULL || q == name) {
        free(b.s);
        return guise_fail(err, 0, "bad substitution in '%s'", text);
      }
      _cleanup_free_ char *var = dup_range(name, q);
      const char *value = lookup(ud, var);
      if (*q == '}') {
        if (value != NULL) buf_add(&b, value, strlen(value));
      } else if (q[0] == ':' && (q[1] == '-' || q[1] == '+')) {
        _cleanup_free_ char *word_raw = dup_range(q + 2, close);
        _cleanup_free_ char *word = NULL;
        if (cf_expand(word_raw, escape, false, lookup, ud, &word, err) < 0) {
          free(b.s);
          return -1;
        }
        bool set = value != NULL && value[0] != '\0';
        const char *use = q[1] == '-' ? (set ? value : word) : (set ? word : "");
        buf_add(&b, use, strlen(use));
      } else {
        free(b.s);
        return guise_fail(err, 0, "unsupported substitution '%.*s' in '%s'", (int)(close - p + 1),
                          p, text);
      }
      p = close + 1;
      continue;
    }
    if (name_char(p[1], true)) {
      const char *q = p + 1;
      while (name_char(*q, q == p + 1))
        q++;
      _cleanup_free_ char *var = dup_range(p + 1, q);
      const char *value = lookup(ud, var);
      if (value != NULL) buf_add(&b, value, strlen(value));
      p = q;
      continue;
    }
    buf_add(&b, p, 1);
    p++;
  }
  if (quote != 0) {
    free(b.s);
    return guise_fail(err, 0, "unterminated quote in '%s'", text);
  }
  *out = b.s;
  return 0;
}
