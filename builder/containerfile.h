/* The Containerfile (Dockerfile) language: parsing into instructions, and the variable
 * substitution the builder applies to them with the build's current ARG/ENV values.
 *
 * Supported: the escape directive, comments, line continuations, shell and JSON (exec) forms,
 * flags (--chown=..., --from=..., --platform=...), and every instruction keyword.  Heredocs
 * (RUN <<EOF) are refused with an error naming the line. */
#ifndef GUISE_BUILDER_CONTAINERFILE_H
#define GUISE_BUILDER_CONTAINERFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

enum cf_kind {
  CF_FROM,
  CF_RUN,
  CF_COPY,
  CF_ADD,
  CF_ENV,
  CF_ARG,
  CF_WORKDIR,
  CF_USER,
  CF_CMD,
  CF_ENTRYPOINT,
  CF_SHELL,
  CF_LABEL,
  CF_EXPOSE,
  CF_VOLUME,
  CF_STOPSIGNAL,
  CF_HEALTHCHECK,
  CF_ONBUILD,
  CF_MAINTAINER,
};

struct cf_instruction {
  enum cf_kind kind;
  const char *keyword; /* "RUN", as the language spells it */
  int line;            /* first line of the instruction, 1-based */
  char *original;      /* the instruction as written (continuations joined), for history */
  char **flags;        /* "--name=value" words before the arguments, NULL-terminated */
  bool exec_form;      /* arguments were a JSON array */
  /* Exec form: the array's strings.  Shell form of RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK: one
   * string, the rest of the line.  ENV/LABEL/ARG: "key=value" (ARG: "key" without default).
   * Anything else: the whitespace-separated words.  NULL-terminated. */
  char **args;
};

struct containerfile {
  char *path;  /* for messages */
  char escape; /* '\\' or what the escape directive says */
  struct cf_instruction *ins;
  size_t n;
};

/* Parse text (the file's contents; path names it in errors: "Containerfile:3: ..."). */
int containerfile_parse(const char *path, const char *text, struct containerfile **out,
                        guise_error **err);
void containerfile_free(struct containerfile *cf);
static inline void containerfile_freep(struct containerfile **cf)
{
  if (*cf != NULL) containerfile_free(*cf);
}
#define _cleanup_containerfile_ __attribute__((cleanup(containerfile_freep)))

/* The value of --name=VALUE among flags, NULL when absent. */
const char *cf_flag(const struct cf_instruction *in, const char *name);

/* Substitute $VAR, ${VAR}, ${VAR:-word} and ${VAR:+word} in text, looking names up with
 * lookup (NULL: unset); the escape character (normally '\\') before '$' keeps it literal.
 * With unquote (ENV, LABEL and ARG values), quotes are removed as a shell would: nothing is
 * substituted inside '...', and the escape character escapes the next character.  *out is
 * malloc'd.  Fails on an unterminated ${ or quote. */
typedef const char *(*cf_lookup_fn)(void *ud, const char *name);
int cf_expand(const char *text, char escape, bool unquote, cf_lookup_fn lookup, void *ud,
              char **out, guise_error **err);

#endif
