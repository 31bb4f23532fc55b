/* .containerignore / .dockerignore: which paths of the build context COPY and ADD (and RUN
 * --mount=type=bind of the context) do not see.
 *
 * Docker's rules: one pattern per line, '#' lines and blank lines ignored, paths relative to
 * the context root (a leading '/' or './' is dropped, the pattern is cleaned lexically), Go's
 * filepath.Match syntax per component ('*', '?', '[a-z]', '\' escapes) plus '**' for any number
 * of directories, a leading '!' re-includes.  A path is excluded when the last pattern that
 * matches it or one of its parent directories is not a '!' pattern. */
#ifndef GUISE_BUILDER_IGNORE_H
#define GUISE_BUILDER_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

struct ignore;

/* The components of path, "." dropped and ".." resolved lexically, never above the root
 * (NULL-terminated, malloc'd): how patterns and paths are cleaned. */
char **ignore_path_parts(const char *path);

/* Parse the contents of an ignore file (never fails on content: bad patterns match nothing). */
struct ignore *ignore_parse(const char *text);
void ignore_free(struct ignore *ig);
static inline void ignore_freep(struct ignore **ig)
{
  if (*ig != NULL) ignore_free(*ig);
}
#define _cleanup_ignore_ __attribute__((cleanup(ignore_freep)))

/* Whether path (relative to the context root, "a/b.txt"; "" or "." is the root itself, never
 * excluded) is excluded. */
bool ignore_excluded(const struct ignore *ig, const char *path);
/* Whether some '!' pattern exists: then an excluded directory may still hold included files
 * and has to be walked. */
bool ignore_has_exceptions(const struct ignore *ig);
/* Number of patterns (0: nothing is ever excluded). */
size_t ignore_count(const struct ignore *ig);

#endif
