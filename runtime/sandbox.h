/* Why the sandbox guise runs in (a Docker, podman or Kubernetes container, bubblewrap, another
 * guise) refuses what guise needs, and what fixes it: one error naming the cause. */
#ifndef GUISE_RUNTIME_SANDBOX_H
#define GUISE_RUNTIME_SANDBOX_H

#include "util/error.h"

/* Where guise's seccomp profile is documented, for the messages. */
#define SANDBOX_PROFILE "contrib/seccomp/guise.json"

/* The flags that give guise its profile, per engine. */
#define SANDBOX_PROFILE_FLAGS                                                                      \
  "docker run --security-opt seccomp=guise.json, podman run --security-opt "                       \
  "seccomp=guise.json, Kubernetes securityContext.seccompProfile {type: Localhost, "               \
  "localhostProfile: guise.json}; guise.json is guise's " SANDBOX_PROFILE

/* Creating the container's user namespace failed with errnum: fill *err with the cause
 * (a seccomp profile, the user namespace limit or switch, AppArmor) and the fix. */
int sandbox_namespaces_failed(int errnum, guise_error **err);

/* *err says ptrace was refused: add why (Yama's ptrace_scope, a seccomp profile). */
void sandbox_explain_ptrace(guise_error **err);

#endif
