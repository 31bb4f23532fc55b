#!/usr/bin/env bash
# Image layers and pulls against the peers, on a ~300 MB copy of parts of /usr:
# - unpack: guise's layer_apply against `tar -xzf` and `umoci unpack --rootless` of the same
#   gzip layer (target: ≤ 1.2× tar -xzf; the issue measured umoci at ≈ 4.7× tar -xzf);
# - repack: guise's layer_write (gzip, zstd) against `umoci repack` of a bundle holding the
#   tree (≈ `tar | gzip -6`, ≈ 24 MB/s) and the tar pipes (targets: gzip ≥ 1.8× and zstd ≥ 4×
#   faster than umoci);
# - pull: `guise pull` from a loopback registry (Debian's docker-registry) against `skopeo
#   copy` + `umoci unpack --rootless`, of a one-layer image with that same layer.
#
# The unpack and repack rows of guise run a small driver linked against
# build/release/libguise.a (built here), which calls layer_apply / layer_write directly; the
# pull row runs ./guise.
BENCH_RUNS=${BENCH_RUNS:-6}
# what the tree is made of (a smaller one for trying the script out)
LAYER_TREE=${BENCH_LAYER_TREE:-/usr/lib/python3.11 /usr/include /usr/share/doc}
BENCH_WARMUP=${BENCH_WARMUP:-1}
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=tests/setup/registry.sh
source "$BENCH_ROOT/tests/setup/registry.sh"

LIBS="libseccomp libcap libarchive sqlite3 jansson libcurl openssl zlib"
make --no-print-directory PKGS="$LIBS" build/release/libguise.a >&2 ||
  bench_die "cannot build libguise.a"
[ -x "$GUISE" ] || bench_die "$GUISE not built: make guise"
for peer in umoci skopeo; do
  command -v "$peer" >/dev/null || bench_die "$peer not installed (apt-get install $peer)"
done

# layout_blob DIR JSON: JSON as a blob of the OCI layout DIR; prints the "digest" and "size"
# members of its descriptor.
layout_blob() {
  local digest
  digest=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
  printf '%s' "$2" >"$1/blobs/sha256/$digest"
  printf '"digest":"sha256:%s","size":%s' "$digest" "$(stat -c %s "$1/blobs/sha256/$digest")"
}

# An OCI layout in DIR whose image "img" has the gzip tar LAYER itself (hard-linked, so that
# every tool unpacks the same bytes) as its one layer.
layer_layout() {
  local dir=$1 layer=$2 diff_id digest config manifest
  mkdir -p "$dir/blobs/sha256"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
  diff_id=$(gzip -dc "$layer" | sha256sum | cut -d' ' -f1)
  digest=$(sha256sum "$layer" | cut -d' ' -f1)
  ln "$layer" "$dir/blobs/sha256/$digest"
  config=$(layout_blob "$dir" "$(printf '{"architecture":"%s","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$(dpkg --print-architecture 2>/dev/null || echo amd64)" "$diff_id")")
  manifest=$(layout_blob "$dir" "$(printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s",%s},"layers":[{"mediaType":"%s","digest":"sha256:%s","size":%s}]}' \
    application/vnd.oci.image.manifest.v1+json application/vnd.oci.image.config.v1+json \
    "$config" application/vnd.oci.image.layer.v1.tar+gzip "$digest" "$(stat -c %s "$layer")")")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s",%s,"annotations":{"org.opencontainers.image.ref.name":"img"}}]}' \
    application/vnd.oci.image.manifest.v1+json "$manifest" >"$dir/index.json"
}

# The data the sections share, made once in $1 and owned by the benchmark user:
#   empty/, bundle/  an empty image (tag img) and its `umoci unpack --rootless` bundle, whose
#                    rootfs is the tree: what umoci repack packs, and what the others read
#   tree.tar.gz      the tree as `tar -czf` writes it: the layer
#   layout/          an OCI layout with that layer (layer_layout)
#   layertool        the guise driver
layer_data() {
  local d=$1
  as_user umoci init --layout "$d/empty"
  as_user umoci new --image "$d/empty:img"
  as_user umoci unpack --rootless --image "$d/empty:img" "$d/bundle" >/dev/null
  # shellcheck disable=SC2086 # a list of directories
  cp -a $LAYER_TREE "$d/bundle/rootfs/" 2>/dev/null || true
  [ "$(id -u)" -ne 0 ] || chown -R "$BENCH_USER:" "$d"
  # owned by root in the layer, as in images (unpacked, the files are the user's)
  as_user tar -C "$d/bundle/rootfs" --owner=0 --group=0 --numeric-owner -czf "$d/tree.tar.gz" .
  layer_layout "$d/layout" "$d/tree.tar.gz"
  cat >"$d/layertool.c" <<'C'
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
  # shellcheck disable=SC2046,SC2086 # pkg-config output is a word list
  cc -std=gnu11 -D_GNU_SOURCE -I"$BENCH_ROOT" -O2 -o "$d/layertool" "$d/layertool.c" \
    "$BENCH_ROOT/build/release/libguise.a" $(pkg-config --libs $LIBS) -lpthread ||
    bench_die "cannot build the driver"
  [ "$(id -u)" -ne 0 ] || chown -R "$BENCH_USER:" "$d"
}

bench_user_setup
DATA=$(mktemp -d /tmp/guise-bench-layer-data.XXXXXX)
trap bench_exit EXIT
bench_at_exit "rm -rf '$DATA'"
chmod 755 "$DATA"
[ "$(id -u)" -ne 0 ] || chown "$BENCH_USER:" "$DATA"
layer_data "$DATA"
TREE_MB=$(du -sm "$DATA/bundle/rootfs" | cut -f1)
LAYER_MB=$(($(stat -c %s "$DATA/tree.tar.gz") / 1000000))
TREE_ENTRIES=$(find "$DATA/bundle/rootfs" -mindepth 1 | wc -l)
UMOCI_VERSION=$(umoci --version | awk '{print $3}' | sed 's/+.*//')

# A section's work dir, with the shared data as $W/data (so the commands read the same in the
# README whichever section shows them), and the common notes.
section() {
  bench_init "$1"
  W=$BENCH_WORK
  ln -s "$DATA" "$W/data"
  BENCH_TOOLS=() BENCH_VERSIONS=() BENCH_ISSUES=() BENCH_CMDS=() BENCH_STATUS=()
  NOTES=$W/notes.md
  printf 'The machine is shared with other jobs (the load average above); the interleaved passes\nspread that load over all rows alike, so the ratios are fairer than the milliseconds.\n' >"$NOTES"
}

# After the check run of the row just registered: DIR (a glob) must hold as many entries as the
# tree, else the row says so instead of timing a tool that did not do the work.
check_unpacked() {
  local dirs n last=$((${#BENCH_STATUS[@]} - 1))
  [ -z "${BENCH_STATUS[$last]}" ] || return 0
  # shellcheck disable=SC2206 # the glob is wanted
  dirs=($1)
  n=$(find "${dirs[@]}" -mindepth 1 2>/dev/null | wc -l)
  [ "${#dirs[@]}" -eq 1 ] && [ "$n" -eq "$TREE_ENTRIES" ] ||
    BENCH_STATUS[last]="unpacked $n of the $TREE_ENTRIES entries"
}

# --- unpack ---
section layer-apply
bench_measure guise "" "target ≤ 1.2× tar -xzf" \
  "bash -c 'rm -rf $W/x $W/x.fakefs.db; mkdir $W/x; exec $W/data/layertool apply $W/x $W/data/tree.tar.gz'"
check_unpacked "$W/x"
bench_measure "tar -xzf" "$(tar --version | head -n1 | awk '{print $NF}')" "" \
  "bash -c 'rm -rf $W/x; mkdir $W/x; exec tar -C $W/x -xzf $W/data/tree.tar.gz'"
check_unpacked "$W/x"
bench_measure "umoci unpack --rootless" "$UMOCI_VERSION" "≈ 4.7× tar -xzf" \
  "bash -c 'rm -rf $W/bundle; exec umoci unpack --rootless --image $W/data/layout:img $W/bundle'"
check_unpacked "$W/bundle/rootfs"
bench_run
# shellcheck disable=SC2016 # Markdown's backticks
{
  printf '\nLayer: %s MB uncompressed, %s entries (%s);\n' "$TREE_MB" "$TREE_ENTRIES" "$LAYER_TREE"
  printf '%s MB gzip (`tar -czf`, entries owned by root as in images). umoci unpacks that very\n' \
    "$LAYER_MB"
  cat <<'TEXT'
blob from an OCI layout. Each run starts from an empty directory (the rm -rf is inside the
timing for all). umoci also writes the bundle's config.json and an mtree manifest of the
rootfs (a sha256 of every file), which repack needs.

TEXT
  bench_target "guise unpack ≤ 1.2× tar -xzf" guise "tar -xzf" le 1.2
  printf -- '- umoci unpack --rootless ÷ tar -xzf: %s (the issue measured ≈ 4.7)\n' \
    "$(bench_ratio "umoci unpack --rootless" "tar -xzf")"
} >>"$NOTES"
bench_report "Layer unpack (apply a gzip layer, \`bench/bench_layer.sh\`)" "$NOTES"
bench_cleanup

# --- repack ---
section layer-write
bench_measure guise "gzip" "target ≥ 1.8× faster than umoci repack" \
  "$W/data/layertool write $W/data/bundle/rootfs $W/out.tar.gz gzip"
bench_measure "guise zstd" "" "target ≥ 4× faster than umoci repack" \
  "$W/data/layertool write $W/data/bundle/rootfs $W/out.tar.zst zstd"
# Without --refresh-bundle umoci leaves the bundle's mtree as unpacked (empty), so every run
# packs the whole tree; each run repacks into a fresh copy of the empty image.
bench_measure "umoci repack" "$UMOCI_VERSION" "≈ tar + gzip -6, ≈ 24 MB/s" \
  "bash -c 'rm -rf $W/image; cp -a $W/data/empty $W/image; exec umoci repack --image $W/image:img $W/data/bundle'"
bench_measure "tar + gzip -6" "$(gzip --version | head -n1 | awk '{print $NF}')" "≈ umoci repack" \
  "bash -c 'tar -C $W/data/bundle/rootfs -cf - . | gzip -6 > $W/ref.tar.gz'"
if command -v zstd >/dev/null; then
  bench_measure "tar + zstd -3 -T0" "$(zstd -V | grep -o 'v[0-9.]*' | head -n1 | tr -d v)" \
    "≈ 5× faster than umoci repack" \
    "bash -c 'tar -C $W/data/bundle/rootfs -cf - . | zstd -q -3 -T0 > $W/ref.tar.zst'"
fi
bench_run
# shellcheck disable=SC2016 # Markdown's backticks
{
  printf '\nSame %s MB tree, the rootfs of a bundle `umoci unpack --rootless` made of an empty image,\n' "$TREE_MB"
  printf 'so that umoci repack packs all of it (one gzip layer: %s MB). guise computes both digests\n' \
    "$(($(du -sm "$W/image/blobs" | cut -f1)))"
  cat <<'TEXT'
(diff_id and blob) while writing, umoci too; the tar pipes compute none. guise's output is
deterministic (same input, same digest).

TEXT
  bench_target "guise gzip repack ≥ 1.8× faster than umoci repack" "umoci repack" guise ge 1.8
  bench_target "guise zstd repack ≥ 4× faster than umoci repack" "umoci repack" "guise zstd" ge 4
  printf -- '- umoci repack ÷ tar + gzip -6: %s (the issue: ≈ 1); umoci repack ÷ tar + zstd -3 -T0: %s (≈ 5)\n' \
    "$(bench_ratio "umoci repack" "tar + gzip -6")" "$(bench_ratio "umoci repack" "tar + zstd -3 -T0")"
} >>"$NOTES"
bench_report "Layer repack (write a full layer, \`bench/bench_layer.sh\`)" "$NOTES"
bench_cleanup

# --- pull ---
section image-pull
# The registry runs as the caller until the script exits; the image is pushed once.
PORT=$(registry_start "$DATA/registry")
bench_at_exit "registry_stop '$DATA/registry'"
REF=127.0.0.1:$PORT/bench/layer:latest
as_user skopeo copy --quiet --dest-tls-verify=false "oci:$DATA/layout:img" "docker://$REF" ||
  bench_die "skopeo could not push the image to the registry"
bench_measure guise "" "" \
  "bash -c 'rm -rf $W/store; exec $GUISE pull -q --tls-verify=false --root $W/store docker://$REF'"
check_unpacked "$W/store/rootfs/*/" # the rootfs, not its .fakefs.db
bench_measure "skopeo copy + umoci unpack --rootless" \
  "$(skopeo --version | awk '{print $3}'), $UMOCI_VERSION" "" \
  "bash -c 'rm -rf $W/layout $W/bundle; skopeo copy --quiet --src-tls-verify=false docker://$REF oci:$W/layout:img && exec umoci unpack --rootless --image $W/layout:img $W/bundle'"
check_unpacked "$W/bundle/rootfs"
bench_run
{
  printf '\nThe image: the layer above (%s MB gzip, %s MB unpacked) and a config, pushed once\n' \
    "$LAYER_MB" "$TREE_MB"
  printf '(untimed, by skopeo) to Debian'"'"'s docker-registry %s on 127.0.0.1 (plain http).\n' \
    "$(docker-registry --version | awk '{print $3}' | sed 's/+.*//')"
  cat <<'TEXT'
Each run starts from an empty store, or an empty layout and bundle. guise pull stores the
blobs, verifies their sizes and digests and unpacks the image; skopeo copies and verifies the
blobs into an OCI layout, umoci unpacks it into a bundle.

TEXT
  printf -- '- The issue sets no figure for the pull; its unpack target (≤ 1.2× tar -xzf) is in the\n'
  printf '  unpack table. skopeo copy + umoci unpack ÷ guise pull: %s\n' \
    "$(bench_ratio "skopeo copy + umoci unpack --rootless" guise)"
} >>"$NOTES"
bench_report "Pull and unpack from a loopback registry (\`bench/bench_layer.sh\`)" "$NOTES"
