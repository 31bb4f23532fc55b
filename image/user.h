/* Users and groups of a root filesystem (image/user.c). */
#ifndef GUISE_IMAGE_USER_H
#define GUISE_IMAGE_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/error.h"

struct resolved_user {
  uint32_t uid, gid;
  char *home;    /* from passwd, NULL when the user has no entry */
  gid_t *groups; /* supplementary groups from /etc/group */
  size_t n_groups;
};

/* Resolve "user[:group]" against rootfd's /etc/passwd and /etc/group (numbers as they are; a
 * user without a group gets its passwd group and the groups listing it).  A name that is not
 * there is an error naming it. */
int rootfs_resolve_user(int rootfd, const char *text, struct resolved_user *out, guise_error **err);
void resolved_user_clear(struct resolved_user *u);

/* A decimal id ("1000") into *id; false when s is not one. */
bool user_parse_id(const char *s, uint32_t *id);

#endif
