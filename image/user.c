/* Users and groups of a root filesystem: "user[:group]" resolved against its /etc/passwd and
 * /etc/group (read inside the root, symlinks never leaving it), as docker does for USER. */
#include "image/user.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/layer_internal.h"
#include "util/cleanup.h"
#include "util/fileio.h"

static int open_in_root(int rootfd, const char *path)
{
  return layer_openat2(rootfd, path, O_RDONLY, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

void resolved_user_clear(struct resolved_user *u)
{
  free(u->home);
  free(u->groups);
  *u = (struct resolved_user){0};
}

bool user_parse_id(const char *s, uint32_t *id)
{
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno != 0 || v > UINT32_MAX) return false;
  *id = (uint32_t)v;
  return true;
}

/* The fields of the line of file (passwd or group) whose name (field 0) or id (field 2) is key. */
static char **db_entry(int rootfd, const char *file, const char *key)
{
  int fd = open_in_root(rootfd, file);
  FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
  if (f == NULL) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  char *line = NULL;
  size_t cap = 0;
  char **found = NULL;
  while (found == NULL && getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = '\0';
    char **fields = NULL;
    char *p = line;
    for (;;) {
      char *c = strchr(p, ':');
      if (c != NULL) *c = '\0';
      strv_append(&fields, p);
      if (c == NULL) break;
      p = c + 1;
    }
    if (strv_length(fields) >= 3 && (strcmp(fields[0], key) == 0 || strcmp(fields[2], key) == 0))
      found = fields;
    else
      strv_free(fields);
  }
  free(line);
  fclose(f);
  return found;
}

/* Supplementary groups of user name: the groups of /etc/group listing it. */
static void member_groups(int rootfd, const char *name, uint32_t primary, struct resolved_user *u)
{
  int fd = open_in_root(rootfd, "/etc/group");
  FILE *f = fd >= 0 ? fdopen(fd, "re") : NULL;
  if (f == NULL) {
    if (fd >= 0) close(fd);
    return;
  }
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    line[strcspn(line, "\n")] = '\0';
    char *f1 = strchr(line, ':'), *f2 = f1 ? strchr(f1 + 1, ':') : NULL;
    char *f3 = f2 ? strchr(f2 + 1, ':') : NULL;
    if (f3 == NULL) continue;
    *f3 = '\0';
    uint32_t gid;
    if (!user_parse_id(f2 + 1, &gid) || gid == primary) continue;
    char *save = NULL;
    for (char *m = strtok_r(f3 + 1, ",", &save); m != NULL; m = strtok_r(NULL, ",", &save)) {
      if (strcmp(m, name) != 0) continue;
      u->groups = realloc(u->groups, (u->n_groups + 1) * sizeof(gid_t));
      if (u->groups == NULL) abort();
      u->groups[u->n_groups++] = gid;
      break;
    }
  }
  free(line);
  fclose(f);
}

int rootfs_resolve_user(int rootfd, const char *text, struct resolved_user *u, guise_error **err)
{
  *u = (struct resolved_user){0};
  _cleanup_free_ char *user = strdup(text);
  if (user == NULL) abort();
  char *group = strchr(user, ':');
  if (group != NULL) *group++ = '\0';
  bool numeric = user_parse_id(user, &u->uid);
  _cleanup_strv_ char **pw = *user ? db_entry(rootfd, "/etc/passwd", user) : NULL;
  if (pw != NULL && strv_length(pw) >= 4 && (!numeric || strcmp(pw[2], user) == 0)) {
    user_parse_id(pw[2], &u->uid);
    user_parse_id(pw[3], &u->gid);
    if (strv_length(pw) >= 6) u->home = strdup(pw[5]);
    member_groups(rootfd, pw[0], u->gid, u);
  } else if (!numeric) {
    return guise_fail(err, ENOENT, "user '%s' is not in the image's /etc/passwd", user);
  }
  if (group == NULL) return 0;
  free(u->groups);
  u->groups = NULL;
  u->n_groups = 0;
  if (user_parse_id(group, &u->gid)) return 0;
  _cleanup_strv_ char **gr = db_entry(rootfd, "/etc/group", group);
  if (gr == NULL || strv_length(gr) < 3 || !user_parse_id(gr[2], &u->gid)) {
    resolved_user_clear(u);
    return guise_fail(err, ENOENT, "group '%s' is not in the image's /etc/group", group);
  }
  return 0;
}
