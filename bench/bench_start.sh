#!/usr/bin/env bash
# Start latency: run `true` in a fresh busybox container, side by side with the peers a user
# would pick instead (bwrap, crun, runc) and with the bare user namespace as the floor.
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bench_init start
W=$BENCH_WORK
ROOTFS=$W/rootfs
bench_busybox_rootfs "$ROOTFS"

version() { "$@" 2>/dev/null | head -n 1 | sed 's/^[^0-9]*//; s/[ +].*//' || true; }

# The rootless bundle runc (and guise --bundle) run: the user's own ids mapped.
have_runc=false
if command -v runc >/dev/null; then
  have_runc=true
  bench_runc_bundle "$W/runc-bundle" "$ROOTFS" caller true
fi

# guise: as users start it, and on the very bundle runc gets (apples to apples with OCI peers)
if [ -x "$GUISE" ]; then
  bench_measure guise "" "target: below bwrap, aim ≤ 4 ms" "$GUISE run --rootfs $ROOTFS true"
  # Faking is on by default; this row shows what its supervisor costs at start.
  bench_measure "guise --no-fake" "" "" "$GUISE run --no-fake --rootfs $ROOTFS true"
  if $have_runc; then
    bench_measure "guise --bundle" "" "runc's bundle" "$GUISE run --bundle $W/runc-bundle"
  fi
  # GUISE_BASELINE=/path/to/guise: the same run with another build (readable by the benchmark
  # user), e.g. main's before a change, so that the table shows what the change moved.
  if [ -n "${GUISE_BASELINE:-}" ]; then
    bench_measure "guise baseline" "" "${GUISE_BASELINE_NOTE:-GUISE_BASELINE}" \
      "$GUISE_BASELINE run --rootfs $ROOTFS true"
  fi
else
  bench_skip guise "$GUISE not built: make guise" "" "target: below bwrap, aim ≤ 4 ms"
fi

# bubblewrap
if command -v bwrap >/dev/null; then
  bench_measure bwrap "$(version bwrap --version)" "≈ 6.2 ms" \
    "bwrap --unshare-all --ro-bind $ROOTFS / --proc /proc --dev /dev true"
else
  bench_skip bwrap "not installed" "" "≈ 6.2 ms"
fi

# crun. 1.8.1 refuses the hybrid cgroup layout (v1 controllers with cgroup2 on
# /sys/fs/cgroup/unified) even with --cgroup-manager=disabled. Hiding the cgroup2 mount behind
# a tmpfs needs a mount namespace, hence `unshare -Urm`; crun then runs as uid 0 of that
# namespace, so its bundle maps container 0 to 0 (the caller outside).
NOTES=$BENCH_RESULTS/notes.md
CRUN_NOTE=$BENCH_RESULTS/crun-note.md
: >"$NOTES"
: >"$CRUN_NOTE"
cgroup_hybrid=false
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
  [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
  cgroup_hybrid=true
fi
if command -v crun >/dev/null && $have_runc; then
  crun_version=$(version crun --version)
  if $cgroup_hybrid; then
    bench_runc_bundle "$W/crun-bundle" "$ROOTFS" 0 true
    wrapper="unshare -Urm sh -c 'mount -t tmpfs none /sys/fs/cgroup/unified && exec"
    bench_measure crun "$crun_version" "≈ 14 ms" \
      "$wrapper crun --root $W/crun-state run --bundle $W/crun-bundle bench-crun'"
    bench_measure "crun's wrapper alone" "" "(part of crun's figure)" "$wrapper true'"
    printf '%s\n' "- crun $crun_version refuses this machine's hybrid cgroup layout, so it runs" \
      "  inside \`unshare -Urm\` with a tmpfs over /sys/fs/cgroup/unified (as uid 0 of that user" \
      "  namespace, bundle mapping 0 → 0). Its figure includes that wrapper, measured alone in" \
      "  the row below it." >>"$CRUN_NOTE"
  else
    bench_runc_bundle "$W/crun-bundle" "$ROOTFS" caller true
    bench_measure crun "$crun_version" "≈ 14 ms" \
      "crun --root $W/crun-state run --bundle $W/crun-bundle bench-crun"
  fi
else
  bench_skip crun "crun or runc (for its bundle) not installed" "" "≈ 14 ms"
fi

# runc: rootless mode is automatic for a non-root caller; --root points its state at a
# directory the user can write (the default is $XDG_RUNTIME_DIR/runc).
if $have_runc; then
  bench_measure runc "$(version runc --version)" "≈ 40 ms" \
    "runc --root $W/runc-state run --bundle $W/runc-bundle bench-runc"
else
  bench_skip runc "not installed" "" "≈ 40 ms"
fi

# the floors: a user namespace and nothing else; no namespace at all (calibrates the machine)
bench_measure "unshare -Ur" "" "≈ 1.6 ms" "unshare -Ur true"
bench_measure "true, no container" "" "" "true"

bench_run

guise_median=$(bench_median guise)
bwrap_median=$(bench_median bwrap)
if [ -n "$guise_median" ]; then
  {
    if [ -n "$bwrap_median" ]; then
      printf -- '- guise below bwrap: **%s** (%s ms vs %s ms)\n' \
        "$(bench_verdict bench_lt "$guise_median" "$bwrap_median")" "$guise_median" "$bwrap_median"
    fi
    printf -- '- guise at or below 4 ms: **%s** (%s ms)\n' \
      "$(bench_verdict bench_le "$guise_median" 4)" "$guise_median"
    if [ -n "$bwrap_median" ]; then
      # The issue's figures come from a quieter moment of a similar machine; scaled by bwrap,
      # "≤ 4 ms where bwrap takes 6.2" reads "≤ 0.65 × bwrap" on any machine.
      scaled=$(awk -v b="$bwrap_median" 'BEGIN { printf "%.2f", b * 4 / 6.2 }')
      printf -- '- guise at or below the 4 ms aim scaled by bwrap (4/6.2 × bwrap = %s ms): **%s**\n' \
        "$scaled" "$(bench_verdict bench_le "$guise_median" "$scaled")"
    fi
  } >>"$NOTES"
fi
cat "$CRUN_NOTE" >>"$NOTES"

bench_report "Start latency (\`bench/bench_start.sh\`)" "$NOTES"
