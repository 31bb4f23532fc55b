/* guise db: inspect and repair the faked-state database of a rootfs (fakefs/db.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "fakefs/db.h"
#include "util/cleanup.h"

static void db_usage(FILE *out)
{
  fputs("Usage: guise db [--rootfs DIR] [--db FILE] COMMAND [ARGS]\n"
        "\n"
        "Inspect the faked-state database: the owners, modes, device nodes and privileged\n"
        "xattrs that processes under guise were told about but the disk does not hold.\n"
        "\n"
        "Commands:\n"
        "  ls [PATH]                  faked state next to the state on disk, for every file\n"
        "                             with faked state (under PATH)\n"
        "  show PATH                  everything recorded for PATH, xattrs included\n"
        "  why PATH                   which process, executable and system call changed PATH\n"
        "  check [--fix]              find rows made stale by changes outside guise (file gone,\n"
        "                             inode number reused); --fix drops them and updates\n"
        "                             outdated path hints\n"
        "  export [--format json|mtree]  the faked state as JSON (default) or an mtree spec\n"
        "\n"
        "Options:\n"
        "  --rootfs DIR   the rootfs; paths are looked up inside it, and the database defaults\n"
        "                 to DIR.fakefs.db next to it\n"
        "  --db FILE      the database (default: from --rootfs; without --rootfs, paths are\n"
        "                 host paths, as `guise fake --db` records them)\n"
        "\n"
        "Exit status: 0 on success (check: database intact or fixed), 1 when check finds stale\n"
        "rows or show/why find nothing, 125 on errors.\n",
        out);
}

struct db_cli {
  const char *rootfs; /* NULL: "/" and host paths */
  struct fakefs_db *db;
  int rootfd;
};

static int open_in_root(int rootfd, const char *path, int flags)
{
  struct open_how how = {.flags = (uint64_t)flags | O_CLOEXEC,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static char type_char(uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFDIR:
    return 'd';
  case S_IFLNK:
    return 'l';
  case S_IFCHR:
    return 'c';
  case S_IFBLK:
    return 'b';
  case S_IFIFO:
    return 'p';
  case S_IFSOCK:
    return 's';
  default:
    return '-';
  }
}

static const char *type_word(uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFDIR:
    return "dir";
  case S_IFLNK:
    return "link";
  case S_IFCHR:
    return "char";
  case S_IFBLK:
    return "block";
  case S_IFIFO:
    return "fifo";
  case S_IFSOCK:
    return "socket";
  default:
    return "file";
  }
}

/* The on-disk state of a row's inode, found through its path hint.  1 when the hint still
 * names the inode, 0 when not. */
static int disk_of(struct db_cli *c, const struct fake_inode *fi, const char *hint,
                   struct statx *stx)
{
  if (hint == NULL) return 0;
  _cleanup_close_ int fd = open_in_root(c->rootfd, hint, O_PATH | O_NOFOLLOW);
  if (fd < 0) return 0;
  if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, stx) < 0)
    return 0;
  struct fakefs_key k;
  fakefs_key_from_statx(stx, &k);
  return k.dev == fi->key.dev && k.ino == fi->key.ino;
}

/* Faked mode as stat shows it, given the on-disk mode (0 when unknown). */
static uint32_t shown_mode(const struct fake_inode *fi, uint32_t disk_mode)
{
  struct stat st = {.st_mode = disk_mode ? disk_mode : fi->key.type};
  fakefs_apply_to_stat(fi, &st);
  return st.st_mode;
}

/* --- ls --- */

struct ls_state {
  struct db_cli *c;
  const char *under;
  size_t under_len;
  int rows;
};

static bool is_under(const char *hint, const char *dir, size_t len)
{
  if (dir == NULL) return true;
  if (hint == NULL) return false;
  if (len == 1 && dir[0] == '/') return hint[0] == '/';
  return strncmp(hint, dir, len) == 0 && (hint[len] == '\0' || hint[len] == '/');
}

/* Which fields a row fakes, as a short word list. */
static void faked_fields(const struct fake_inode *fi, char *buf, size_t n)
{
  snprintf(buf, n, "%s%s%s%s%s", (fi->fields & FAKEFS_FAKE_UID) ? "uid," : "",
           (fi->fields & FAKEFS_FAKE_GID) ? "gid," : "",
           (fi->fields & FAKEFS_FAKE_MODE) ? "mode," : "",
           (fi->fields & FAKEFS_FAKE_TYPE) ? "dev," : "",
           (fi->fields & FAKEFS_FAKE_XATTRS) ? "xattrs," : "");
  size_t len = strlen(buf);
  if (len > 0) buf[len - 1] = '\0';
}

static int ls_row(void *ud, const struct fake_inode *fi, const char *hint)
{
  struct ls_state *ls = ud;
  if (!is_under(hint, ls->under, ls->under_len)) return 0;
  struct statx stx;
  int on_disk = disk_of(ls->c, fi, hint, &stx);
  uint32_t mode = shown_mode(fi, on_disk ? stx.stx_mode : 0);
  bool mode_known = on_disk || (fi->fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE));
  char shown[64], disk[48], fields[48], perm[8] = "????", rdev[24] = "";
  if (mode_known) snprintf(perm, sizeof(perm), "%04o", mode & 07777);
  if (fi->fields & FAKEFS_FAKE_TYPE)
    snprintf(rdev, sizeof(rdev), " %u,%u", major(fi->rdev), minor(fi->rdev));
  snprintf(shown, sizeof(shown), "%c %s %u:%u%s", type_char(mode), perm,
           (fi->fields & FAKEFS_FAKE_UID) ? fi->uid : 0,
           (fi->fields & FAKEFS_FAKE_GID) ? fi->gid : 0, rdev);
  if (on_disk)
    snprintf(disk, sizeof(disk), "%c %04o %u:%u", type_char(stx.stx_mode), stx.stx_mode & 07777,
             stx.stx_uid, stx.stx_gid);
  else
    snprintf(disk, sizeof(disk), "(not at this path)");
  faked_fields(fi, fields, sizeof(fields));
  printf("%-24s %-24s %-18s %s\n", shown, disk, fields, hint ? hint : "(no path)");
  ls->rows++;
  return 0;
}

static int db_ls(struct db_cli *c, int argc, char **argv, guise_error **err)
{
  struct ls_state ls = {.c = c};
  if (argc > 2) return guise_fail(err, EINVAL, "ls takes at most one PATH");
  if (argc == 2) {
    ls.under = argv[1];
    ls.under_len = strlen(argv[1]);
    while (ls.under_len > 1 && ls.under[ls.under_len - 1] == '/')
      ls.under_len--;
  }
  printf("%-24s %-24s %-18s %s\n", "SHOWN (type mode owner)", "ON DISK (host ids)", "FAKED",
         "PATH");
  if (fakefs_db_foreach(c->db, ls_row, &ls, err) < 0) return -1;
  if (ls.rows == 0)
    printf("(no faked state%s%s)\n", ls.under ? " under " : "", ls.under ? ls.under : "");
  return 0;
}

/* --- show --- */

static int resolve_key(struct db_cli *c, const char *path, struct fakefs_key *key,
                       struct statx *stx, guise_error **err)
{
  _cleanup_close_ int fd = open_in_root(c->rootfd, path, O_PATH | O_NOFOLLOW);
  if (fd < 0)
    return guise_fail_errno(err, "opening %s in %s failed", path, c->rootfs ? c->rootfs : "/");
  return fakefs_key_from_fd(fd, key, stx, err);
}

static void print_value(const void *value, size_t len)
{
  const unsigned char *v = value;
  bool text = len > 0;
  for (size_t i = 0; i < len; i++)
    if ((v[i] < 0x20 || v[i] > 0x7e) && !(i == len - 1 && v[i] == 0)) text = false;
  if (text) {
    printf("\"%.*s\"", (int)(v[len - 1] == 0 ? len - 1 : len), (const char *)v);
    return;
  }
  printf("0x");
  for (size_t i = 0; i < len; i++)
    printf("%02x", v[i]);
}

static int show_xattr(void *ud, const char *name, const void *value, size_t len)
{
  printf("  xattr %s = ", name);
  print_value(value, len);
  if (strcmp(name, "security.capability") == 0 && len >= 4) {
    const unsigned char *v = value;
    uint32_t magic =
        (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
    printf("  (v%u%s)", magic >> 24, (magic & 1) ? ", effective" : "");
  }
  printf("\n");
  return 0;
}

static int db_show(struct db_cli *c, int argc, char **argv, guise_error **err)
{
  if (argc != 2) return guise_fail(err, EINVAL, "show takes one PATH");
  struct fakefs_key key;
  struct statx stx;
  if (resolve_key(c, argv[1], &key, &stx, err) < 0) return -1;
  struct fake_inode fi;
  int has = fakefs_db_lookup(c->db, &key, &fi, err);
  if (has < 0) return -1;
  printf("%s\n  inode %u:%u/%" PRIu64 "\n", argv[1], major(key.dev), minor(key.dev), key.ino);
  printf("  on disk: %s mode %04o owner %u:%u (host ids)\n", type_word(stx.stx_mode),
         stx.stx_mode & 07777, stx.stx_uid, stx.stx_gid);
  if (!has) {
    printf("  no faked state: shown as on disk, owner mapped\n");
    return 1;
  }
  uint32_t mode = shown_mode(&fi, stx.stx_mode);
  char fields[48];
  faked_fields(&fi, fields, sizeof(fields));
  printf("  faked (%s):", fields);
  if (fi.fields & FAKEFS_FAKE_TYPE)
    printf(" %s %u,%u", type_word(fi.mode), major(fi.rdev), minor(fi.rdev));
  if (fi.fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE)) printf(" mode %04o", mode & 07777);
  if (fi.fields & FAKEFS_FAKE_UID) printf(" uid %u", fi.uid);
  if (fi.fields & FAKEFS_FAKE_GID) printf(" gid %u", fi.gid);
  printf("\n  stat shows: %s %04o %u:%u\n", type_word(mode), mode & 07777,
         (fi.fields & FAKEFS_FAKE_UID) ? fi.uid : 0, (fi.fields & FAKEFS_FAKE_GID) ? fi.gid : 0);
  _cleanup_free_ char *hint = NULL;
  if (fakefs_db_get_path_hint(c->db, &key, &hint, err) < 0) return -1;
  if (hint != NULL && strcmp(hint, argv[1]) != 0) printf("  recorded path: %s\n", hint);
  if (fi.key.btime_ns != FAKEFS_BTIME_UNKNOWN)
    printf("  birth time: %" PRId64 ".%09" PRId64 "\n", fi.key.btime_ns / 1000000000,
           fi.key.btime_ns % 1000000000);
  return fakefs_db_xattr_foreach(c->db, &key, show_xattr, NULL, err) < 0 ? -1 : 0;
}

/* --- why --- */

static int why_change(void *ud, const struct fakefs_change *ch)
{
  int *n = ud;
  time_t t = (time_t)(ch->time_ns / 1000000000);
  struct tm tm;
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
  printf("%s  pid %d  %s  %s: %s%s%s\n", when, (int)ch->pid, ch->exe ? ch->exe : "?",
         ch->syscall ? ch->syscall : "?", ch->what ? ch->what : "", ch->path ? "  path " : "",
         ch->path ? ch->path : "");
  (*n)++;
  return 0;
}

static int db_why(struct db_cli *c, int argc, char **argv, guise_error **err)
{
  if (argc != 2) return guise_fail(err, EINVAL, "why takes one PATH");
  struct fakefs_key key = {0};
  struct statx stx;
  _cleanup_error_ guise_error *lookup_err = NULL;
  bool exists = resolve_key(c, argv[1], &key, &stx, &lookup_err) == 0;
  int n = 0;
  /* By inode (follows renames and hard links) and by name (the file may be gone). */
  if (fakefs_db_changes_for(c->db, exists ? key.dev : UINT64_MAX, exists ? key.ino : UINT64_MAX,
                            argv[1], why_change, &n, err) < 0)
    return -1;
  if (n == 0) {
    printf("no recorded change for %s%s\n", argv[1], exists ? "" : " (and it does not exist)");
    return 1;
  }
  return 0;
}

/* --- check --- */

static void check_report(void *ud, const struct fake_inode *fi, const char *hint,
                         enum fakefs_check_problem p, const char *now)
{
  const char *h = hint ? hint : "(no path)";
  switch (p) {
  case FAKEFS_CHECK_GONE:
    printf("stale: %s: inode %" PRIu64 " no longer exists\n", h, fi->key.ino);
    break;
  case FAKEFS_CHECK_REUSED:
    printf("stale: %s: inode %" PRIu64 " was reused by another file (type or birth time "
           "differ)\n",
           h, fi->key.ino);
    break;
  case FAKEFS_CHECK_MOVED:
    printf("moved: %s is now %s (renamed outside guise)\n", h, now ? now : "?");
    break;
  }
}

static int db_check(struct db_cli *c, int argc, char **argv, guise_error **err)
{
  bool fix = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fix") == 0)
      fix = true;
    else
      return guise_fail(err, EINVAL, "unknown check option %s", argv[i]);
  }
  int stale = fakefs_db_check(c->db, c->rootfd, fix, check_report, NULL, err);
  if (stale < 0) return -1;
  if (stale == 0) {
    size_t rows = fakefs_db_count(c->db);
    printf("database intact (%zu row%s)\n", rows, rows == 1 ? "" : "s");
    return 0;
  }
  if (fix) {
    printf("dropped %d stale row%s\n", stale, stale == 1 ? "" : "s");
    return 0;
  }
  printf("%d stale row%s; run 'guise db check --fix' to drop them\n", stale, stale == 1 ? "" : "s");
  return 1;
}

/* --- export --- */

struct export_state {
  struct db_cli *c;
  bool mtree;
  json_t *array;
};

static int json_xattr(void *ud, const char *name, const void *value, size_t len)
{
  json_t *obj = ud;
  /* base64 keeps binary values (capabilities, ACLs) exact */
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const unsigned char *v = value;
  size_t n = (len + 2) / 3 * 4;
  _cleanup_free_ char *out = malloc(n + 1);
  if (out == NULL) return 1;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t w = (uint32_t)v[i] << 16 | (i + 1 < len ? (uint32_t)v[i + 1] << 8 : 0) |
                 (i + 2 < len ? v[i + 2] : 0);
    out[o++] = b64[(w >> 18) & 63];
    out[o++] = b64[(w >> 12) & 63];
    out[o++] = i + 1 < len ? b64[(w >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? b64[w & 63] : '=';
  }
  out[o] = '\0';
  json_object_set_new(obj, name, json_string(out));
  return 0;
}

/* mtree paths: relative, with anything outside printable ASCII and the separators escaped as
 * octal (vis(3) style, which libarchive and BSD mtree read). */
static void mtree_path(const char *hint)
{
  const char *p = hint;
  while (*p == '/')
    p++;
  fputs(*p ? "./" : ".", stdout);
  for (; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch <= 0x20 || ch >= 0x7f || ch == '\\' || ch == '#' || ch == '*' || ch == '?' || ch == '[')
      printf("\\%03o", ch);
    else
      putchar(ch);
  }
}

static int export_row(void *ud, const struct fake_inode *fi, const char *hint)
{
  struct export_state *es = ud;
  struct statx stx;
  int on_disk = disk_of(es->c, fi, hint, &stx);
  uint32_t mode = shown_mode(fi, on_disk ? stx.stx_mode : 0);
  bool mode_known = on_disk || (fi->fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE));
  uint32_t uid = (fi->fields & FAKEFS_FAKE_UID) ? fi->uid : 0;
  uint32_t gid = (fi->fields & FAKEFS_FAKE_GID) ? fi->gid : 0;
  if (es->mtree) {
    if (hint == NULL) return 0;
    mtree_path(hint);
    printf(" type=%s uid=%u gid=%u", type_word(mode), uid, gid);
    if (mode_known) printf(" mode=%04o", mode & 07777);
    if (fi->fields & FAKEFS_FAKE_TYPE)
      printf(" device=linux,%u,%u", major(fi->rdev), minor(fi->rdev));
    printf("\n");
    return 0;
  }
  json_t *o = json_object();
  json_object_set_new(o, "path", hint ? json_string(hint) : json_null());
  json_object_set_new(o, "dev", json_integer((json_int_t)fi->key.dev));
  json_object_set_new(o, "ino", json_integer((json_int_t)fi->key.ino));
  json_object_set_new(o, "type", json_string(type_word(mode)));
  if (fi->fields & FAKEFS_FAKE_UID) json_object_set_new(o, "uid", json_integer(fi->uid));
  if (fi->fields & FAKEFS_FAKE_GID) json_object_set_new(o, "gid", json_integer(fi->gid));
  if (fi->fields & (FAKEFS_FAKE_MODE | FAKEFS_FAKE_TYPE))
    json_object_set_new(o, "mode", json_integer(mode & 07777));
  if (fi->fields & FAKEFS_FAKE_TYPE) {
    json_object_set_new(o, "major", json_integer(major(fi->rdev)));
    json_object_set_new(o, "minor", json_integer(minor(fi->rdev)));
  }
  if (fi->fields & FAKEFS_FAKE_XATTRS) {
    json_t *x = json_object();
    if (fakefs_db_xattr_foreach(es->c->db, &fi->key, json_xattr, x, NULL) != 0) {
      json_decref(x);
      json_decref(o);
      return 1;
    }
    json_object_set_new(o, "xattrs_base64", x);
  }
  json_object_set_new(o, "on_disk", json_boolean(on_disk));
  json_array_append_new(es->array, o);
  return 0;
}

static int db_export(struct db_cli *c, int argc, char **argv, guise_error **err)
{
  struct export_state es = {.c = c};
  for (int i = 1; i < argc; i++) {
    const char *fmt = NULL;
    if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
      fmt = argv[++i];
    else if (strncmp(argv[i], "--format=", 9) == 0)
      fmt = argv[i] + 9;
    else
      return guise_fail(err, EINVAL, "unknown export option %s", argv[i]);
    if (strcmp(fmt, "mtree") == 0)
      es.mtree = true;
    else if (strcmp(fmt, "json") != 0)
      return guise_fail(err, EINVAL, "unknown export format %s (json or mtree)", fmt);
  }
  if (es.mtree)
    printf("#mtree\n");
  else
    es.array = json_array();
  int r = fakefs_db_foreach(c->db, export_row, &es, err);
  if (r != 0) {
    json_decref(es.array);
    return r < 0 ? -1 : guise_fail(err, EIO, "exporting %s failed", c->rootfs ? c->rootfs : "");
  }
  if (!es.mtree) {
    json_dumpf(es.array, stdout, JSON_INDENT(2));
    printf("\n");
    json_decref(es.array);
  }
  return 0;
}

/* --- dispatch --- */

static const struct option db_options[] = {
    {"rootfs", required_argument, NULL, 'r'},
    {"db", required_argument, NULL, 'd'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cmd_db(int argc, char **argv)
{
  const char *rootfs = NULL, *dbpath = NULL;
  int opt;
  optind = 1;
  while ((opt = getopt_long(argc, argv, "+h", db_options, NULL)) != -1) {
    switch (opt) {
    case 'r':
      rootfs = optarg;
      break;
    case 'd':
      dbpath = optarg;
      break;
    case 'h':
      db_usage(stdout);
      return 0;
    default:
      db_usage(stderr);
      return 125;
    }
  }
  if (optind >= argc) {
    db_usage(stderr);
    return 125;
  }
  argc -= optind;
  argv += optind;
  int (*run)(struct db_cli *, int, char **, guise_error **) = NULL;
  bool write = false;
  if (strcmp(argv[0], "ls") == 0)
    run = db_ls;
  else if (strcmp(argv[0], "show") == 0)
    run = db_show;
  else if (strcmp(argv[0], "why") == 0)
    run = db_why;
  else if (strcmp(argv[0], "check") == 0) {
    run = db_check;
    for (int i = 1; i < argc; i++)
      write |= strcmp(argv[i], "--fix") == 0;
  } else if (strcmp(argv[0], "export") == 0)
    run = db_export;
  else {
    fprintf(stderr, "guise db: unknown command '%s'\n", argv[0]);
    db_usage(stderr);
    return 125;
  }

  _cleanup_error_ guise_error *err = NULL;
  _cleanup_free_ char *default_db = NULL;
  if (dbpath == NULL) {
    if (rootfs == NULL) {
      fprintf(stderr, "guise db: --rootfs or --db is required\n");
      return 125;
    }
    if (fakefs_db_path_for_named_rootfs(rootfs, NULL, &default_db, &err) < 0) {
      guise_error_print(err);
      return 125;
    }
    dbpath = default_db;
  }
  struct db_cli c = {.rootfs = rootfs, .rootfd = -1};
  c.rootfd = open(rootfs ? rootfs : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (c.rootfd < 0) {
    guise_fail_errno(&err, "opening rootfs %s failed", rootfs);
    guise_error_print(err);
    return 125;
  }
  _cleanup_close_ int rootfd = c.rootfd;
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  if (fakefs_db_open(dbpath, write ? 0 : FAKEFS_DB_READONLY, &db, &err) < 0) {
    guise_error_print(err);
    return 125;
  }
  c.db = db;
  int r = run(&c, argc, argv, &err);
  if (r < 0) {
    guise_error_print(err);
    return 125;
  }
  return r;
}
