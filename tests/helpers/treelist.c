/* treelist [-n] ROOT: one line per file under ROOT, sorted by the caller, describing the metadata
 * a root-made tree must match: "path type mode uid:gid [rdev] [-> target] [cap=hex]"; with -n,
 * " nlink=N" ends the line of a non-directory with more than one link (hard links kept).
 * Static, so that it runs inside any container and sees that container's (faked) view. */
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

static size_t root_len;
static int show_nlink;

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  const char *rel = path + root_len;
  if (*rel == '\0')
    rel = "/";
  char type = S_ISDIR(st->st_mode)    ? 'd'
              : S_ISLNK(st->st_mode)  ? 'l'
              : S_ISCHR(st->st_mode)  ? 'c'
              : S_ISBLK(st->st_mode)  ? 'b'
              : S_ISFIFO(st->st_mode) ? 'p'
              : S_ISSOCK(st->st_mode) ? 's'
                                      : 'f';
  printf("%s %c %04o %u:%u", rel, type, (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid,
         (unsigned)st->st_gid);
  if (type == 'c' || type == 'b')
    printf(" %u,%u", major(st->st_rdev), minor(st->st_rdev));
  if (type == 'l') {
    char target[4096];
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n >= 0) {
      target[n] = '\0';
      printf(" -> %s", target);
    }
  }
  unsigned char cap[64];
  ssize_t n = type == 'l' ? -1 : lgetxattr(path, "security.capability", cap, sizeof(cap));
  if (n > 0) {
    printf(" cap=");
    for (ssize_t i = 0; i < n; i++)
      printf("%02x", cap[i]);
  }
  if (show_nlink && type != 'd' && st->st_nlink > 1)
    printf(" nlink=%lu", (unsigned long)st->st_nlink);
  putchar('\n');
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "-n") == 0) {
    show_nlink = 1;
    argv++;
    argc--;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: treelist [-n] ROOT\n");
    return 2;
  }
  const char *root = argv[1];
  root_len = strcmp(root, "/") == 0 ? 0 : strlen(root);
  /* FTW_MOUNT: stay on the root's filesystem (skips /proc, /sys, /dev of a container). */
  return nftw(root, visit, 64, FTW_PHYS | FTW_MOUNT) == 0 ? 0 : 1;
}
