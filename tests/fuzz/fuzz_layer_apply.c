/* A layer tar (gzip, zstd or plain) applied to a small lower rootfs with the faked-state
 * database, as pulling an image does: whiteouts and opaque directories, links, devices, owners
 * and xattrs, ".." and absolute names, symlinks planted to redirect later entries.  Sizes are
 * capped so that a bomb costs nothing; after each run nothing may exist beside the rootfs. */
#include <dirent.h>
#include <sys/stat.h>

#include "fakefs/db.h"
#include "image/layer.h"
#include "tests/fuzz/fuzz.h"

/* The lower layer the input's whiteouts may remove. */
static void make_lower(int rootfd)
{
  mkdirat(rootfd, "etc", 0755);
  mkdirat(rootfd, "usr", 0755);
  mkdirat(rootfd, "usr/lib", 0755);
  mkdirat(rootfd, "dir", 0755);
  mkdirat(rootfd, "dir/sub", 0700);
  symlinkat("usr/lib", rootfd, "lib");
  symlinkat("/etc/passwd", rootfd, "abs");
  static const char *const files[] = {"etc/passwd", "usr/lib/libc.so", "dir/a", "dir/sub/b", NULL};
  for (size_t i = 0; files[i] != NULL; i++) {
    int fd = openat(rootfd, files[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
  }
}

/* The scratch directory holds only what this target put there. */
static void check_nothing_beside(void)
{
  _cleanup_closedir_ DIR *d = opendir(fuzz_dir());
  if (d == NULL) abort();
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    const char *n = de->d_name;
    if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "layer") == 0 ||
        strcmp(n, "rootfs") == 0 || strncmp(n, "rootfs.fakefs.db", 16) == 0)
      continue;
    fprintf(stderr, "fuzz_layer_apply: %s/%s was written outside the rootfs\n", fuzz_dir(), n);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char *layer, *root, *db_path;
  if (layer == NULL) {
    layer = fuzz_path("layer");
    root = fuzz_path("rootfs");
    db_path = fuzz_path("rootfs.fakefs.db");
  }
  fuzz_write(layer, data, size);
  rm_rf_at(AT_FDCWD, root, NULL);
  static const char *const db_files[] = {"", "-wal", "-shm", "-journal", NULL};
  for (size_t i = 0; db_files[i] != NULL; i++) {
    char p[4200];
    snprintf(p, sizeof(p), "%s%s", db_path, db_files[i]);
    unlink(p);
  }
  if (mkdir(root, 0755) < 0) abort();
  _cleanup_close_ int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) abort();
  make_lower(rootfd);
  _cleanup_fakefs_db_ struct fakefs_db *db = NULL;
  _cleanup_error_ guise_error *err = NULL;
  if (fakefs_db_open(db_path, FAKEFS_DB_CREATE, &db, &err) < 0) abort();
  struct layer_apply_options o = {
      .limits = {.max_total_bytes = 1 << 20, .max_entries = 4096, .max_file_bytes = 1 << 20}};
  layer_apply(rootfd, db, layer, "layer", &o, &err);
  check_nothing_beside();
  return 0;
}
