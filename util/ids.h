/* The process's ids as the kernel has them. */
#ifndef GUISE_UTIL_IDS_H
#define GUISE_UTIL_IDS_H

#include <stdbool.h>
#include <sys/types.h>

/* The real (effective == false) or effective uid and gid from /proc/self/status.  Not
 * getuid()/geteuid(): under another syscall faker (an outer `guise run -u 1000`, `guise fake`)
 * those answer the faked view, while what the kernel checks (an id map written to
 * /proc/PID/uid_map, a file's owner on disk) uses the real ones.  Falls back to the get*id
 * answers when /proc is not there. */
void kernel_ids(bool effective, uid_t *uid, gid_t *gid);

#endif
