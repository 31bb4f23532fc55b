#!/usr/bin/env bash
# Per-call cost of faked calls: a chown guise fakes, a stat (of a file without faked state,
# the common case) and getuid, made N times by one probe program (tests/helpers/fakeprobe.c,
# built dynamically so that LD_PRELOAD tools see its calls), under:
#   native (as real root), guise fake (seccomp user notification), fakeroot, pseudo, proot -0.
# Reported in µs per call and as ratios to fakeroot (the tool users would otherwise pick).
. "$(dirname "$0")/lib.sh"
bench_init fake
N=${BENCH_CALLS:-20000}
W=$BENCH_WORK
GUISE=${GUISE:-$BENCH_ROOT/build/release/guise}
cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$W/fakeprobe" "$BENCH_ROOT/tests/helpers/fakeprobe.c" ||
  bench_die "building the probe failed"
chmod 755 "$W/fakeprobe"
out=$BENCH_RESULTS/table.md
: >"$BENCH_RESULTS/raw.txt"

# probe_row TOOL COMMAND...: run the probe three times, keep the median of each figure.
probe_row() {
  local tool=$1
  shift
  local runs=()
  for i in 1 2 3; do
    if ! r=$(cd "$W" && "$@" "$W/fakeprobe" --bench "$N" 2>>"$BENCH_RESULTS/raw.txt"); then
      printf '%s\tfailed\n' "$tool" >>"$BENCH_RESULTS/rows.txt"
      return
    fi
    printf '%s run %s:\n%s\n' "$tool" "$i" "$r" >>"$BENCH_RESULTS/raw.txt"
    runs+=("$(printf '%s\n' "$r" | awk '/^getuid/{g=$2} /^stat/{s=$2} /^chown/{c=$2} END{print g, s, c}')")
  done
  printf '%s\n' "${runs[@]}" | awk -v tool="$tool" '
    { g[NR]=$1; s[NR]=$2; c[NR]=$3 }
    function med(a,  x, y, z) { x=a[1]; y=a[2]; z=a[3];
      if ((x<=y && y<=z) || (z<=y && y<=x)) return y; if ((y<=x && x<=z) || (z<=x && x<=y)) return x; return z }
    END { printf "%s\t%.2f\t%.2f\t%.2f\n", tool, med(g), med(s), med(c) }' >>"$BENCH_RESULTS/rows.txt"
}

: >"$BENCH_RESULTS/rows.txt"
if [ "$(id -u)" -eq 0 ]; then probe_row "native (root)"; fi
probe_row "guise fake" as_user "$GUISE" fake --db "$W/guise.db" --
command -v fakeroot >/dev/null && probe_row fakeroot as_user fakeroot --
command -v pseudo >/dev/null && probe_row pseudo as_user env PSEUDO_PREFIX=/usr PSEUDO_LOCALSTATEDIR="$W/pseudo" pseudo
command -v proot >/dev/null && probe_row "proot -0" as_user proot -0

fr=$(awk -F'\t' '$1 == "fakeroot" { print $3, $4 }' "$BENCH_RESULTS/rows.txt")
{
  echo "### Cost of a faked call (\`bench/bench_fake.sh\`)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC') — $(bench_machine), load average $BENCH_LOAD at the start."
  echo "Median of 3 runs of $N calls each, µs per call, by the same dynamically linked probe; the tools"
  echo "run as an unprivileged user without subuid (native: as root). Ratio = tool ÷ fakeroot (below 1: faster)."
  echo
  echo "| tool | getuid (µs) | stat (µs) | chown (µs) | stat ÷ fakeroot | chown ÷ fakeroot |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F'\t' -v fr="$fr" 'BEGIN { split(fr, f, " ") }
    $2 == "failed" { printf "| %s | failed | | | | |\n", $1; next }
    { rs = f[1] > 0 ? sprintf("%.2f", $3 / f[1]) : "-"; rc = f[2] > 0 ? sprintf("%.2f", $4 / f[2]) : "-"
      printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, rs, rc }' "$BENCH_RESULTS/rows.txt"
  echo
  echo "Issue 3's targets: faked chown and stat each ≤ 5 µs and never slower than fakeroot."
  echo "guise fake runs without a user namespace, so every stat is answered by the supervisor (inside"
  echo "guise run, a stat of a file without faked state needs no answer while the database is empty)."
} >"$out"
cat "$out"
bench_readme_section fake "$out"
