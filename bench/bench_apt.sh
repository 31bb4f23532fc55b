#!/usr/bin/env bash
# The apt workload of issues 3 and 5, side by side: `apt-get update && apt-get install` of the
# acceptance packages from the local repository on 127.0.0.1 into the Debian bookworm minbase
# fixture, done
#   - as real root in a chroot (the baseline every ratio is taken against),
#   - in `guise run` (faking on) and as a whole `guise build` (RUN plus layer commit), unprivileged,
#   - by `buildah bud --isolation chroot` as root, and `ch-image build --force` (Charliecloud,
#     unprivileged: its own fakeroot-based workarounds),
# each from a fresh copy of the base (prepared outside the timing), BENCH_APT_RUNS times
# (default 3) interleaved, median reported.  For the guise rows and the rootful one the files'
# metadata is also compared with the root reference of tests/setup/aptrepo.sh.
#
# Needs the fixtures of `make check` (bookworm-minbase.tar, aptrepo/, apt-reference.txt in
# GUISE_TEST_CACHE); buildah and charliecloud-builders are installed when missing and root.
. "$(dirname "$0")/lib.sh"

RUNS=${BENCH_APT_RUNS:-3}
PACKAGES="cron dbus sudo man-db iputils-ping fuse3 openssh-server tcpdump"
BASE_TAR=$GUISE_TEST_CACHE/bookworm-minbase.tar
REPO=$GUISE_TEST_CACHE/aptrepo
REFERENCE=$GUISE_TEST_CACHE/apt-reference.txt
TREELIST=$BENCH_ROOT/build/helpers/treelist
[ -r "$BASE_TAR" ] && [ -r "$REFERENCE" ] ||
  bench_die "fixtures missing: run make check first (or tests/setup/aptrepo.sh as root)"
[ -x "$TREELIST" ] || bench_die "$TREELIST missing (make helpers)"
[ "$(id -u)" -eq 0 ] || bench_die "the rootful baseline needs root"

bench_init apt
if ! command -v buildah >/dev/null || ! command -v ch-image >/dev/null || ! command -v ch-run >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah \
    charliecloud-builders charliecloud-runtime python3-lark >/dev/null 2>&1 || bench_log "could not install buildah/charliecloud"
fi
# Charliecloud is Python: Debian's, whose python3-lark it needs, not another python3 on PATH.
SYSPATH=/usr/sbin:/usr/bin:/sbin:/bin
W=$BENCH_WORK

python3 -u -m http.server --bind 127.0.0.1 --directory "$REPO" 0 >"$W/http.log" 2>&1 &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null; bench_cleanup' EXIT
for _ in $(seq 50); do
  PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$W/http.log" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || bench_die "the HTTP server did not start"
SOURCES="deb [trusted=yes] http://127.0.0.1:$PORT/ ./"
INSTALL="echo '$SOURCES' >/etc/apt/sources.list && apt-get update -q && apt-get install -y -q $PACKAGES"

# --- one-time preparation (not timed) ---
as_user mkdir -p "$W/ctx-base" "$W/ctx" "$W/store"
as_user cp "$BASE_TAR" "$W/ctx-base/base.tar"
printf 'FROM scratch\nADD base.tar /\nCMD ["bash"]\n' | as_user tee "$W/ctx-base/Containerfile" >/dev/null
printf 'FROM %s\nRUN %s\n' bench-base "$INSTALL" | as_user tee "$W/ctx/Containerfile" >/dev/null
as_user "$GUISE" build -q --root "$W/store" -t bench-base "$W/ctx-base" >/dev/null ||
  bench_die "guise build of the base image failed"

TOOLS=(root guise-run guise-build)
if command -v buildah >/dev/null; then
  mkdir -p "$W/buildah"
  BUILDAH=(buildah --root "$W/buildah/root" --runroot "$W/buildah/run" --storage-driver vfs)
  if "${BUILDAH[@]}" bud -q --isolation chroot -t bench-base -f "$W/ctx-base/Containerfile" \
    "$W/ctx-base" >"$W/buildah.log" 2>&1; then
    sed 's/^FROM bench-base/FROM localhost\/bench-base/' "$W/ctx/Containerfile" >"$W/buildah.cf"
    TOOLS+=(buildah)
  else
    bench_log "buildah base image failed: $(tail -1 "$W/buildah.log")"
  fi
fi
if PATH=$SYSPATH USER=root ch-image --version >/dev/null 2>&1; then
  CH=(env PATH=$SYSPATH USER="$BENCH_USER" ch-image --no-cache -s "$W/ch")
  if as_user "${CH[@]}" import "$W/ctx-base/base.tar" bench-base >"$W/ch.log" 2>&1; then
    TOOLS+=(ch-image)
  else
    bench_log "ch-image import failed: $(tail -1 "$W/ch.log")"
  fi
fi

# A fresh rootfs copy for the tools that take a directory.
fresh_rootfs() { # DIR OWNER(root|user)
  rm -rf "$1" "$1.fakefs.db" "$1.fakefs.db-wal" "$1.fakefs.db-shm"
  if [ "$2" = root ]; then
    mkdir -p "$1" && tar -xpf "$BASE_TAR" -C "$1"
  else
    # Extracted under guise's faking, so the base's own owners are in its database, as
    # `guise pull` or `guise build` would have them.
    as_user mkdir -p "$1" &&
      as_user "$GUISE" fake --db "$1.fakefs.db" -- tar -xf "$BASE_TAR" -C "$1" --same-owner \
        --preserve-permissions
  fi
}

timed() { # FILE CMD...: append the command's wall time in seconds to FILE
  local file=$1 t0 t1
  shift
  t0=${EPOCHREALTIME/./}
  "$@" >>"$W/run.log" 2>&1 || return 1
  t1=${EPOCHREALTIME/./}
  awk -v d=$((t1 - t0)) 'BEGIN { printf "%.2f\n", d / 1e6 }' >>"$file"
}

diffs() { # TREELIST-OUTPUT: differences from the root reference outside volatile paths
  local volatile='^/(proc|sys|dev|run|tmp)[/ ]|^/var/(log|cache)[/ ]|^/var/lib/apt/lists[/ ]|^/etc/ld\.so\.cache |^[^ ]*(-|-old|machine-id) |^/etc/(hostname|hosts|resolv\.conf) |^/treelist '
  diff <(grep -Ev "$volatile" "$REFERENCE" | LC_ALL=C sort) \
    <(grep -Ev "$volatile" "$1" | LC_ALL=C sort) | grep -c '^[<>]' || true
}

run_tool() { # TOOL RUN
  local tool=$1 r=$2 out=$BENCH_RESULTS/$1.times
  case $tool in
  root)
    fresh_rootfs "$W/root" root
    # shellcheck disable=SC2016 # expanded by the inner shell
    timed "$out" unshare -m --propagation private sh -c '
      mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" &&
      cp /etc/resolv.conf "$1/etc/resolv.conf" && exec chroot "$1" sh -c "$2"' sh "$W/root" "$INSTALL"
    [ "$r" -gt 1 ] || { "$TREELIST" "$W/root" >"$W/root.tree" && diffs "$W/root.tree" >"$BENCH_RESULTS/root.diffs"; }
    ;;
  guise-run)
    fresh_rootfs "$W/run" user
    timed "$out" as_user "$GUISE" run --rootfs "$W/run" -- sh -c "$INSTALL"
    if [ "$r" -eq 1 ]; then
      as_user "$GUISE" run -v "$TREELIST:/treelist:ro" --rootfs "$W/run" -- /treelist / >"$W/run.tree"
      diffs "$W/run.tree" >"$BENCH_RESULTS/guise-run.diffs"
    fi
    ;;
  guise-build)
    timed "$out" as_user "$GUISE" build -q --no-cache --root "$W/store" -t bench-apt "$W/ctx"
    ;;
  buildah)
    timed "$out" "${BUILDAH[@]}" bud -q --isolation chroot --no-cache --layers=false -t bench-apt \
      -f "$W/buildah.cf" "$W/ctx"
    ;;
  ch-image)
    timed "$out" as_user "${CH[@]}" build --force -t bench-apt -f "$W/ctx/Containerfile" "$W/ctx"
    ;;
  esac
}

declare -A FAILED=()
for ((r = 1; r <= RUNS; r++)); do
  for tool in "${TOOLS[@]}"; do
    [ -z "${FAILED[$tool]:-}" ] || continue
    bench_log "run $r/$RUNS: $tool"
    if ! run_tool "$tool" "$r"; then
      FAILED[$tool]=$(tail -1 "$W/run.log" | cut -c1-80)
      bench_log "$tool failed: ${FAILED[$tool]}"
    fi
  done
done

median() { [ -s "$1" ] && sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
describe() {
  case $1 in
  root) echo "real root, chroot (baseline)" ;;
  guise-run) echo "guise run, unprivileged (apt only)" ;;
  guise-build) echo "guise build, unprivileged (RUN + layer commit)" ;;
  buildah) echo "buildah $(buildah --version | awk '{print $3}') bud --isolation chroot, as root" ;;
  ch-image) echo "ch-image $(PATH=$SYSPATH USER=root ch-image --version) build --force, unprivileged" ;;
  esac
}
base=$(median "$BENCH_RESULTS/root.times")
section=$BENCH_RESULTS/section.md
{
  printf '### apt install of the acceptance packages (`bench/bench_apt.sh`)\n\n'
  printf '%s UTC — %s, load average %s at the start. Median of %s runs each, interleaved, each\n' \
    "$(date -u '+%Y-%m-%d %H:%M')" "$(bench_machine)" "$BENCH_LOAD" "$RUNS"
  printf 'from a fresh copy of the bookworm minbase fixture, packages from a repository on 127.0.0.1:\n'
  printf '`%s`. Ratio = time ÷ the rootful chroot time (below 1.15: issue 3'"'"'s apt target;\n' "apt-get install -y $PACKAGES"
  printf 'below 1.25 for the whole build: issue 5'"'"'s). Metadata differences: from the root reference of\n'
  printf '`tests/setup/aptrepo.sh` outside volatile paths (first run; guise build'"'"'s layers are checked by\n'
  printf 'the tests).\n\n'
  printf '| tool | median (s) | ratio to root | metadata differences |\n|---|---:|---:|---:|\n'
  for tool in "${TOOLS[@]}"; do
    m=$(median "$BENCH_RESULTS/$tool.times" || true)
    d=$(cat "$BENCH_RESULTS/$tool.diffs" 2>/dev/null || echo "-")
    if [ -n "${FAILED[$tool]:-}" ]; then
      printf '| %s (fails: %s) | - | - | - |\n' "$(describe "$tool")" "${FAILED[$tool]//|/\\|}"
    else
      printf '| %s | %s | %s | %s |\n' "$(describe "$tool")" "$m" \
        "$(awk -v a="$m" -v b="$base" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }')" "$d"
    fi
  done
} >"$section"
cat "$section"
bench_readme_section apt "$section"
