#!/usr/bin/env bash
# Layer unpack and repack: guise's layer_apply against `tar -xzf`, and layer_write (gzip, zstd)
# against `tar -cf - | gzip -6` (what `umoci repack` costs, ≈ 24 MB/s here), on a ~300 MB copy
# of parts of /usr.  Targets: apply ≤ 1.2× tar -xzf; gzip write ≥ 1.8× and zstd ≥ 4× faster
# than tar | gzip -6.
#
# Until `guise import/export` exist, the guise rows run a small driver linked against
# build/release/libguise.a (built here), which calls layer_apply / layer_write directly.
BENCH_RUNS=${BENCH_RUNS:-6}
BENCH_WARMUP=${BENCH_WARMUP:-1}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LIBS="libseccomp libcap libarchive sqlite3 jansson libcurl openssl zlib"
make --no-print-directory PKGS="$LIBS" build/release/libguise.a >&2 ||
  bench_die "cannot build libguise.a"

# A tree owned by the benchmark user, its tar.gz, and the driver.  $1: work dir.
layer_data() {
  local w=$1
  mkdir -p "$w/tree"
  cp -a /usr/lib/python3.11 /usr/include /usr/share/doc "$w/tree/" 2>/dev/null || true
  [ "$(id -u)" -ne 0 ] || chown -R "$BENCH_USER:" "$w"
  as_user tar -C "$w/tree" -czf "$w/tree.tar.gz" .
  cat >"$w/layertool.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "image/layer.h"
/* layertool apply ROOT LAYER | layertool write ROOT OUT gzip|zstd|none */
int main(int argc, char **argv)
{
  guise_error *err = NULL;
  struct fakefs_db *db = NULL;
  char *dbp = NULL;
  if (argc < 4) return 2;
  int rootfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0 || fakefs_db_path_for_rootfs(argv[2], &dbp, &err) < 0 ||
      fakefs_db_open(dbp, FAKEFS_DB_CREATE, &db, &err) < 0)
    goto fail;
  if (strcmp(argv[1], "apply") == 0) {
    if (layer_apply(rootfd, db, argv[3], "layer", NULL, &err) < 0) goto fail;
  } else {
    struct layer_write_options o = {.source_date_epoch = -1, .host_uid = getuid(),
                                    .host_gid = getgid()};
    if (argc < 5 || layer_compression_parse(argv[4], &o.compression) < 0) return 2;
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct layer_digests d;
    if (fd < 0 || layer_write(rootfd, db, NULL, fd, &o, &d, &err) < 0) goto fail;
    printf("%s %s %llu\n", d.diff_id, d.digest, (unsigned long long)d.size);
  }
  fakefs_db_close(db);
  return 0;
fail:
  if (err) guise_error_print(err);
  return 1;
}
C
  # shellcheck disable=SC2086 # pkg-config output is a word list
  cc -std=gnu11 -D_GNU_SOURCE -I"$BENCH_ROOT" -O2 -o "$w/layertool" "$w/layertool.c" \
    "$BENCH_ROOT/build/release/libguise.a" $(pkg-config --libs $LIBS) -lpthread ||
    bench_die "cannot build the driver"
  [ "$(id -u)" -ne 0 ] || chown -R "$BENCH_USER:" "$w"
}

# --- unpack ---
bench_init layer-apply
W=$BENCH_WORK
layer_data "$W"
size_mb=$(($(du -sm "$W/tree" | cut -f1)))
bench_measure guise "" "target ≤ 1.2× tar -xzf" \
  "bash -c 'rm -rf $W/x $W/x.fakefs.db; mkdir $W/x; exec $W/layertool apply $W/x $W/tree.tar.gz'"
bench_measure "tar -xzf" "$(tar --version | head -n1 | awk '{print $NF}')" "" \
  "bash -c 'rm -rf $W/x; mkdir $W/x; exec tar -C $W/x -xzf $W/tree.tar.gz'"
bench_run
notes=$W/notes.md
printf 'Layer: %s MB uncompressed (python3.11, /usr/include, /usr/share/doc), %s MB gzip; each run\nstarts from an empty directory (the rm -rf is inside the timing for both).\n' \
  "$size_mb" "$(($(stat -c %s "$W/tree.tar.gz") / 1000000))" >"$notes"
bench_report "Layer unpack (apply a gzip layer)" "$notes"
bench_cleanup

# --- repack ---
BENCH_TOOLS=() BENCH_VERSIONS=() BENCH_ISSUES=() BENCH_CMDS=() BENCH_STATUS=()
bench_init layer-write
W=$BENCH_WORK
layer_data "$W"
bench_measure guise "gzip" "target ≥ 1.8× faster than tar + gzip -6" \
  "$W/layertool write $W/tree $W/out.tar.gz gzip"
bench_measure "guise zstd" "" "target ≥ 4× faster than tar + gzip -6" \
  "$W/layertool write $W/tree $W/out.tar.zst zstd"
bench_measure "tar + gzip -6" "$(gzip --version | head -n1 | awk '{print $NF}')" "≈ umoci repack" \
  "bash -c 'tar -C $W/tree -cf - . | gzip -6 > $W/ref.tar.gz'"
if command -v zstd >/dev/null; then
  bench_measure "tar + zstd -3 -T0" "$(zstd -V | grep -o 'v[0-9.]*' | head -n1 | tr -d v)" "" \
    "bash -c 'tar -C $W/tree -cf - . | zstd -q -3 -T0 > $W/ref.tar.zst'"
fi
bench_run
notes=$W/notes.md
printf 'Same ~%s MB tree.  guise computes both digests (diff_id and blob) while writing;\nthe peers compute none.  Output is deterministic (same input, same digest).\n' \
  "$(($(du -sm "$W/tree" | cut -f1)))" >"$notes"
bench_report "Layer repack (write a full layer)" "$notes"
