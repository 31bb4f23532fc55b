/* The syscall-faking supervisor of a container: a process of its own, forked by guise before
 * the container, that opens the rootfs's faked-state database, receives the seccomp listener
 * from the container's first process and answers its intercepted calls (fakefs/ handlers over
 * the tracer/) until the last container process is gone.
 *
 * Why a separate process: guise's own process keeps forwarding signals and proxying the
 * terminal, and a supervisor that dies (killed, out of memory) is noticed by guise, which then
 * stops the container with a message, rather than letting it go on with every faked call
 * failing with ENOSYS. */
#ifndef GUISE_RUNTIME_FAKE_SUPERVISOR_H
#define GUISE_RUNTIME_FAKE_SUPERVISOR_H

#include <stdbool.h>
#include <sys/types.h>

#include "tracer/tracer.h"
#include "util/error.h"

struct fake_supervisor {
  pid_t pid;
  int container_sock; /* the container's end: its first process sends the listener */
  int status_fd;      /* readiness, then the supervisor's error message */
  /* The supervisor sends a duplicate of the seccomp listener here, where it stays unread: an
   * fd in flight is a reference, so if the supervisor is killed the listener stays open and
   * the container's faked calls wait (until guise kills the container) rather than fail with
   * ENOSYS, which dpkg or apt would act on in the meantime. */
  int listener_keeper;
  bool opened_db; /* set by fake_supervisor_reap: it got as far as that */
};
#define FAKE_SUPERVISOR_NONE                                                                       \
  ((struct fake_supervisor){                                                                       \
      .pid = -1, .container_sock = -1, .status_fd = -1, .listener_keeper = -1})

/* Fork the supervisor for rootfs with database db_path.  While the container is being set up,
 * it sends the seccomp program (built with guise, runtime/fake_filter.h) and opens the
 * database; the container's first process then calls fake_supervisor_attach.  The signal mask
 * of the caller is inherited: block what the supervisor must not receive. */
int fake_supervisor_start(struct fake_supervisor *sup, const char *db_path, const char *rootfs,
                          guise_error **err);

/* In the container's first process, after its setup and before anything of the container
 * runs: install the seccomp program the supervisor sent, send it the listener (or have it
 * attach with ptrace: backend, see tracer/tracer.h; a fallback to ptrace is noticed on stderr),
 * and wait until it has opened the database.  FAKE_SUPERVISOR_GONE (without *err) when the
 * supervisor exited first: guise reports its error.
 *
 * Nesting (guise in guise, tracer.h "Nesting"): with offer_dev, the container's /dev being
 * guise's own tmpfs, the supervisor's delegation channel is bound at FAKE_DELEGATE_PATH there,
 * for a guise running in the container; a supervisor whose container gets EBUSY connects to
 * FAKE_DELEGATE_PATH as it sees it (GUISE_DELEGATE in its environment overrides the path). */
#define FAKE_SUPERVISOR_GONE (-2)
#define FAKE_DELEGATE_PATH "/dev/.guise-delegate"
int fake_supervisor_attach(int container_sock, enum tracer_backend backend, bool offer_dev,
                           guise_error **err);

/* Reap the supervisor if it has exited (block: wait for it).  Returns 1 when it has exited,
 * 0 when still running (non-blocking only), -1 with *err when it failed or was killed: the
 * faked state of the container's calls can no longer be trusted. */
int fake_supervisor_reap(struct fake_supervisor *sup, bool block, guise_error **err);

/* Parent's cleanup: close the container's end after the container has been created. */
void fake_supervisor_close_container_end(struct fake_supervisor *sup);

/* Drop guise's reference to the listener: only once the container is dead (see above). */
void fake_supervisor_release_listener(struct fake_supervisor *sup);

#endif
