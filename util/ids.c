#include "util/ids.h"

#include <stdio.h>
#include <unistd.h>

void kernel_ids(bool effective, uid_t *uid, gid_t *gid)
{
  *uid = effective ? geteuid() : getuid();
  *gid = effective ? getegid() : getgid();
  FILE *f = fopen("/proc/self/status", "re");
  if (f == NULL) return;
  char line[256];
  unsigned real, eff;
  /* "Uid:\treal\teffective\tsaved\tfs" */
  while (fgets(line, sizeof(line), f) != NULL) {
    if (sscanf(line, "Uid: %u %u", &real, &eff) == 2)
      *uid = effective ? eff : real;
    else if (sscanf(line, "Gid: %u %u", &real, &eff) == 2)
      *gid = effective ? eff : real;
  }
  fclose(f);
}
