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

/* What guise did without, each said once per guise process (a build's every RUN would
 * otherwise repeat it). */
enum sandbox_notice {
  SANDBOX_NOTICE_HOSTNAME = 1 << 0,
  SANDBOX_NOTICE_PROC = 1 << 1,
  SANDBOX_NOTICE_SYS = 1 << 2,
  SANDBOX_NOTICE_CGROUPNS = 1 << 3,
};

/* Print "guise: notice: ..." unless this notice was shown already.  In a container's process
 * (after sandbox_notice_report_to), the parent is told too, so that its later containers keep
 * quiet about it. */
void sandbox_notice(enum sandbox_notice which, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* In the container's first process: report shown notices as records on fd. */
void sandbox_notice_report_to(int fd);
/* In the parent: take a notice record (its payload, the bit) read from that fd. */
void sandbox_notice_shown(unsigned which);

/* Creating the container's user namespace failed with errnum: fill *err with the cause
 * (a seccomp profile, the user namespace limit or switch, AppArmor) and the fix. */
int sandbox_namespaces_failed(int errnum, guise_error **err);

/* *err says ptrace was refused: add why (Yama's ptrace_scope, a seccomp profile). */
void sandbox_explain_ptrace(guise_error **err);

#endif
