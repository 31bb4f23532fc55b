#include "builder/ignore.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/fileio.h"

struct pattern {
  char **parts; /* path components; "**" matches any number of them */
  bool exception;
};

struct ignore {
  struct pattern *p;
  size_t n;
  bool exceptions;
};

char **ignore_path_parts(const char *path)
{
  char **parts = calloc(1, sizeof(char *));
  if (parts == NULL) abort();
  size_t n = 0;
  _cleanup_free_ char *copy = strdup(path);
  if (copy == NULL) abort();
  char *save = NULL;
  for (char *c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) {
      if (n > 0) free(parts[--n]), parts[n] = NULL;
      continue;
    }
    strv_append(&parts, c);
    n++;
  }
  return parts;
}

struct ignore *ignore_parse(const char *text)
{
  struct ignore *ig = calloc(1, sizeof(*ig));
  if (ig == NULL) abort();
  _cleanup_free_ char *copy = strdup(text);
  if (copy == NULL) abort();
  char *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
    size_t len = strlen(line);
    while (len > 0 && strchr(" \t\r", line[len - 1]) != NULL)
      line[--len] = '\0';
    while (*line == ' ' || *line == '\t')
      line++;
    if (*line == '\0' || *line == '#') continue;
    bool exception = *line == '!';
    if (exception) line++;
    while (*line == ' ' || *line == '\t')
      line++;
    char **parts = ignore_path_parts(line);
    if (parts[0] == NULL) { /* "/" or "." : the whole context */
      strv_append(&parts, "**");
    }
    ig->p = realloc(ig->p, (ig->n + 1) * sizeof(*ig->p));
    if (ig->p == NULL) abort();
    ig->p[ig->n++] = (struct pattern){.parts = parts, .exception = exception};
    ig->exceptions |= exception;
  }
  return ig;
}

void ignore_free(struct ignore *ig)
{
  for (size_t i = 0; i < ig->n; i++)
    strv_free(ig->p[i].parts);
  free(ig->p);
  free(ig);
}

static bool match_parts(char *const *pat, char *const *path)
{
  if (*pat == NULL) return *path == NULL;
  if (strcmp(*pat, "**") == 0) {
    for (char *const *p = path;; p++) {
      if (match_parts(pat + 1, p)) return true;
      if (*p == NULL) return false;
    }
  }
  if (*path == NULL) return false;
  return fnmatch(*pat, *path, 0) == 0 && match_parts(pat + 1, path + 1);
}

/* The pattern matches path or one of its parent directories. */
static bool matches_or_parent(const struct pattern *pt, char **parts)
{
  size_t n = strv_length(parts);
  for (size_t len = n; len > 0; len--) {
    char *saved = parts[len];
    parts[len] = NULL;
    bool m = match_parts(pt->parts, parts);
    parts[len] = saved;
    if (m) return true;
  }
  return false;
}

bool ignore_excluded(const struct ignore *ig, const char *path)
{
  if (ig == NULL || ig->n == 0) return false;
  _cleanup_strv_ char **parts = ignore_path_parts(path);
  if (parts[0] == NULL) return false;
  bool excluded = false;
  for (size_t i = 0; i < ig->n; i++)
    if (matches_or_parent(&ig->p[i], parts)) excluded = !ig->p[i].exception;
  return excluded;
}

bool ignore_has_exceptions(const struct ignore *ig)
{
  return ig != NULL && ig->exceptions;
}

size_t ignore_count(const struct ignore *ig)
{
  return ig != NULL ? ig->n : 0;
}
