/* The Containerfile (Dockerfile) language: parsing into instructions, and the variable
 * substitution the builder applies to them with the build's current ARG/ENV values.
 *
 * What is parsed, as docker, podman and buildah accept it: the parser directives at the top
 * (`# syntax=`, `# escape=`, `# check=`), comments, line continuations (also with comment
 * lines inside), shell and JSON (exec) forms, instruction flags (`--chown=...`, `--mount=...`,
 * repeatable where the language allows, checked per instruction), heredocs (`RUN <<EOF`,
 * `RUN <<-EOF`, `<<"EOF"`, several per instruction, `COPY <<EOF /dst`), and every keyword.
 * Errors name the file and line and quote the offending text:
 *   Containerfile:3: unknown instruction 'FROBNICATE': FROBNICATE x */
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

/* <<[-]WORD, <<[-]"WORD" or <<[-]'WORD' and the lines up to WORD. */
struct cf_heredoc {
  char *name;      /* WORD without quotes; also the file name of COPY <<WORD */
  char *body;      /* the lines in between, each ending in '\n' (tabs stripped for <<-) */
  bool expand;     /* WORD was not quoted: variables in the body are substituted */
  bool strip_tabs; /* <<- */
};

struct cf_instruction {
  enum cf_kind kind;
  const char *keyword; /* "RUN", as the language spells it */
  int line;            /* first line of the instruction, 1-based */
  char *original;      /* the instruction as written (continuations joined), for history */
  char **flags;        /* "--name=value" or "--name" words before the arguments, NULL-terminated */
  bool exec_form;      /* arguments were a JSON array */
  /* Exec form: the array's strings.  Shell form of RUN/CMD/ENTRYPOINT: one string, the rest of
   * the line (heredoc markers included).  WORKDIR, MAINTAINER, ONBUILD: the rest of the line.
   * ENV/LABEL: "key=value" words as written, quotes kept (ENV KEY rest-of-line becomes
   * "KEY=rest-of-line"); ARG: "key[=value]".  HEALTHCHECK: the Test array of the image config
   * ("NONE" | "CMD" ARG... | "CMD-SHELL" COMMAND).  Anything else: the words as written (quotes
   * kept; cf_expand removes them).  NULL-terminated. */
  char **args;
  struct cf_heredoc *heredocs; /* in the order of their markers */
  size_t n_heredocs;
  struct cf_instruction *trigger; /* ONBUILD: the instruction it registers, parsed */
};

struct containerfile {
  char *path;   /* for messages */
  char escape;  /* '\\' or what the escape directive says */
  char *syntax; /* the syntax directive, NULL when absent (recorded, not acted on) */
  struct cf_instruction *ins;
  size_t n;
};

/* Parse text (the file's contents; path names it in errors: "Containerfile:3: ...").  The
 * structure is checked too: FROM comes first (only ARG before it), FROM has the form
 * IMAGE [AS NAME], flags are known to their instruction, ONBUILD does not nest. */
int containerfile_parse(const char *path, const char *text, struct containerfile **out,
                        guise_error **err);
void containerfile_free(struct containerfile *cf);
static inline void containerfile_freep(struct containerfile **cf)
{
  if (*cf != NULL) containerfile_free(*cf);
}
#define _cleanup_containerfile_ __attribute__((cleanup(containerfile_freep)))

/* Parse one instruction of text (an ONBUILD trigger kept in an image config); where names
 * it in errors. */
int cf_parse_instruction(const char *where, const char *text, char escape,
                         struct cf_instruction *out, guise_error **err);
void cf_instruction_clear(struct cf_instruction *in);

/* The value of --name=VALUE among flags (the last one given), NULL when absent; a boolean flag
 * given alone (--link) reads as "true".  Other flags need "=VALUE", as in docker: the parser
 * rejects "--chown 1:1". */
const char *cf_flag(const struct cf_instruction *in, const char *name);
/* The values of every --name=VALUE, in order (for repeatable flags such as RUN --mount).
 * Returns a NULL-terminated array of pointers into in (free the array only). */
const char **cf_flag_all(const struct cf_instruction *in, const char *name);

/* Substitute $VAR, ${VAR}, ${VAR:-word}, ${VAR-word}, ${VAR:+word}, ${VAR+word},
 * ${VAR:?message}, ${VAR?message}, ${VAR#pattern}, ${VAR##pattern}, ${VAR%pattern} and
 * ${VAR%%pattern} in text, looking names up with lookup (NULL: unset).
 * With unquote (a word of an instruction), quotes are removed as the Dockerfile shell lexer
 * does: nothing is substituted inside '...', the escape character escapes the next character
 * outside quotes and '"', '$' and itself inside "...".  Without unquote (a heredoc body),
 * quotes are ordinary characters and the escape character only keeps a '$' literal.
 * *out is malloc'd.  Fails on an unterminated ${ or quote, and for ${VAR?message} with VAR
 * unset (the message says so). */
typedef const char *(*cf_lookup_fn)(void *ud, const char *name);
int cf_expand(const char *text, char escape, bool unquote, cf_lookup_fn lookup, void *ud,
              char **out, guise_error **err);

/* cf_expand(unquote) of text into words: blanks outside quotes separate words, also blanks that
 * come from a substituted value ("ARG FILES='a b'" then "COPY $FILES /d/" copies a and b).
 * How the builder reads the arguments of COPY, EXPOSE, VOLUME and friends.  A word that expands
 * to nothing is dropped unless it was quoted.  *out is NULL-terminated (never NULL itself). */
int cf_expand_words(const char *text, char escape, cf_lookup_fn lookup, void *ud, char ***out,
                    guise_error **err);

#endif
