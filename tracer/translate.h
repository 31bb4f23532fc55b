/* Path translation for the ptrace backend when the policy has a view (tracer/translate.c,
 * tracer/exec.c). */
#ifndef GUISE_TRACER_TRANSLATE_H
#define GUISE_TRACER_TRANSLATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "tracer/internal.h"
#include "tracer/view.h"

struct translator {
  const struct tracer_view *view;
  struct pidmap exes;    /* tgid -> char *: guest path of its program (run through a loader) */
  struct pidmap pending; /* tid -> char *: the same, for an execve not yet done */
  struct pidmap held;    /* tid -> descriptor + 1 the call's translated path goes through */
};

/* What translate_enter decided. */
enum translate_result {
  TRANSLATE_NONE,    /* run the call as it is */
  TRANSLATE_REWRITE, /* run it with *nr and args as rewritten; put the old ones back at exit */
  TRANSLATE_RETURN,  /* do not run it: the tracee gets *value (a -errno on failure) */
};

/* One intercepted call at its seccomp stop: read its paths, resolve them in the view, write
 * the host paths into the tracee's stack below sp (past the red zone) and point the arguments
 * there.  Calls that return paths (getcwd, readlink) are answered here. */
enum translate_result translate_enter(struct translator *tr, struct tracee *t, enum syscall_id id,
                                      long *nr, uint64_t args[6], uint64_t sp, int64_t *value);

/* The call of tid translated at its last seccomp stop is over (its syscall-exit stop). */
void translate_call_done(struct translator *tr, pid_t tid);
/* The process made by an execve of tid has started (tid: the thread that exec'd). */
void translate_exec_done(struct translator *tr, pid_t tid, pid_t tgid);
/* A new process or thread child of tgid's: it runs the same program. */
void translate_fork(struct translator *tr, pid_t tgid, pid_t child);
/* Thread tid is gone (with the group when tid is its leader). */
void translate_forget(struct translator *tr, pid_t tid);
void translate_free(struct translator *tr);

/* tracee_resolve and tracee_resolve_parent in the view (their hooks in tracer/tracee.c). */
int translate_resolve(struct tracee *t, int dirfd, const char *path, int flags, guise_error **err);
int translate_resolve_parent(struct tracee *t, int dirfd, const char *path, char **name,
                             guise_error **err);

/* Resolve (dirfd, path) of the tracee in the view: guest and host paths (view_walk). */
int translate_walk(struct tracee *t, int dirfd, const char *path, bool follow, char guest[PATH_MAX],
                   char host[PATH_MAX], guise_error **err);

/* Scratch space below the tracee's stack pointer. */
struct scratch {
  struct tracee *t;
  uint64_t top;
};
void scratch_init(struct scratch *s, struct tracee *t, uint64_t sp);
/* Copy len bytes into the tracee; their address, or 0 on failure. */
uint64_t scratch_put(struct scratch *s, const void *data, size_t len);

/* execve/execveat (tracer/exec.c): translate the program, expand #! lines, run a dynamically
 * linked program through the view's own loader.  Same contract as translate_enter. */
enum translate_result translate_exec(struct translator *tr, struct tracee *t, int dirfd,
                                     uint64_t path_addr, uint64_t argv_addr, int at_flags,
                                     struct scratch *s, long *nr, uint64_t args[6], int64_t *value);

#endif
