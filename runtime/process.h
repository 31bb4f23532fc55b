/* The container's process: privileges, limits, exec, and the small init that runs as PID 1. */
#ifndef GUISE_RUNTIME_PROCESS_H
#define GUISE_RUNTIME_PROCESS_H

#include <signal.h>
#include <sys/capability.h>

#include "runtime/spec.h"
#include "util/error.h"

/* Signals guise forwards to the container (and the init to the command). */
void process_forwarded_signals(sigset_t *set);

/* The capability sets of spec (effective, permitted, inheritable), for process_apply_privileges;
 * cap_free it.  Made ahead, before the syscall-faking filter is installed: libcap asks the
 * kernel (capget) to make one, and under the filter that is a round trip to the supervisor. */
cap_t process_make_capabilities(const struct container_spec *spec, guise_error **err);

/* Apply rlimits, user/groups, capabilities (the bounding and ambient sets of spec, caps for the
 * others), no_new_privs, umask and working directory; called inside the container after
 * pivot_root, right before exec. */
int process_apply_privileges(const struct container_spec *spec, cap_t caps, guise_error **err);

/* execvp the spec's command with its environment (PATH looked up from the container's env).
 * Returns only on failure, with the docker-convention status in *status (126 or 127). */
int process_exec(const struct container_spec *spec, int *status, guise_error **err);

/* Close every descriptor above stderr but keep_a and keep_b (-1: none).  Called in the container once it is
 * set up: its processes get nothing of guise's (the store, context and rootfs directories, the
 * faked-state database, which init would keep for good: it never execs, so O_CLOEXEC does not
 * close them) nor of guise's caller (`exec 7<$HOME`). */
int process_close_fds(int keep_a, int keep_b, guise_error **err);

/* Run as PID 1: wait for signals, forward them to child, reap every zombie, and return the
 * child's exit status (128+N if killed by signal N) once it exits. */
int process_init_loop(pid_t child);

/* The spec's resource limits (part of process_apply_privileges). */
int process_apply_rlimits(const struct container_spec *spec, guise_error **err);

/* Unless spec keeps stdin attached (-i, -t): stdin from /dev/null, as docker does. */
int process_detach_stdin(const struct container_spec *spec, guise_error **err);

/* Turn a wait status into a shell-style exit status. */
int process_exit_status(int wait_status);

#endif
