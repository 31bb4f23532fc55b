#!/usr/bin/env bash
# The cost of faking root, side by side: native root, guise (seccomp user notification), fakeroot
# and pseudo (LD_PRELOAD) and proot -0 (ptrace).
#
# 1. Per call (tests/helpers/fakebench.c, built here dynamically so the LD_PRELOAD tools see its
#    calls; the one binary runs under every tool): a faked chown, a stat of a file with faked
#    state, a stat of a plain file, getuid, and getppid (intercepted by nobody). Medians over
#    many rounds, BENCH_FAKE_PASSES interleaved passes, the median pass kept.
# 2. A tree: `tar --same-owner -xpf` of ~30k mixed-owner entries (generated once by
#    bench/fake_tree.py, cached) and `find -ls` over the result, under each tool, with a check
#    that the tool shows every owner and mode of the archive.
#
# guise runs as `guise fake` in two ways: in a user namespace that maps the caller to 0
# (`unshare -Ur`, what `guise run` does: a file without faked state is stat'ed by the kernel
# alone), and without one (every stat answered by the supervisor, ids translated); both again
# with the ptrace backend (`--backend ptrace`, for where no seccomp listener can be had).
# Environment: BENCH_FAKE_ROUNDS (300) × BENCH_FAKE_CALLS (100) calls per operation and pass,
# BENCH_FAKE_PASSES (3), BENCH_TREE_PASSES (3), BENCH_FAKE_TOOLS (all; e.g. "guise-ns fakeroot").
. "$(dirname "$0")/lib.sh"
bench_init fake
W=$BENCH_WORK
ROUNDS=${BENCH_FAKE_ROUNDS:-300}
CALLS=${BENCH_FAKE_CALLS:-100}
PASSES=${BENCH_FAKE_PASSES:-3}
TREE_PASSES=${BENCH_TREE_PASSES:-3}
GUISE=${GUISE:-$BENCH_ROOT/build/release/guise}
[ -x "$GUISE" ] || bench_die "$GUISE not built (make guise)"

cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$W/fakebench" "$BENCH_ROOT/tests/helpers/fakebench.c" ||
  bench_die "building the probe failed"
chmod 755 "$W/fakebench"

# --- the tools -------------------------------------------------------------------------------

TOOLS=()
[ "$(id -u)" -eq 0 ] && TOOLS+=(native)
TOOLS+=(guise-ns guise guise-ns-ptrace guise-ptrace)
for t in fakeroot pseudo proot; do
  if command -v "$t" >/dev/null; then TOOLS+=("$t"); else bench_log "$t not installed: skipped"; fi
done
if [ -n "${BENCH_FAKE_TOOLS:-}" ]; then
  read -r -a wanted <<<"$BENCH_FAKE_TOOLS"
  sel=()
  for t in "${TOOLS[@]}"; do
    for w in "${wanted[@]}"; do [ "$t" = "$w" ] && sel+=("$t"); done
  done
  TOOLS=("${sel[@]}")
fi

label() {
  case $1 in
  native) echo "native root" ;;
  guise-ns) echo "guise, user namespace (as guise run)" ;;
  guise) echo "guise fake, no namespace" ;;
  guise-ns-ptrace) echo "guise, user namespace, ptrace backend" ;;
  guise-ptrace) echo "guise fake, no namespace, ptrace backend" ;;
  fakeroot) echo "fakeroot $(dpkg-query -W -f '${Version}' fakeroot 2>/dev/null)" ;;
  pseudo) echo "pseudo $(dpkg-query -W -f '${Version}' pseudo 2>/dev/null | cut -d+ -f1)" ;;
  proot) echo "proot -0 $(dpkg-query -W -f '${Version}' proot 2>/dev/null)" ;;
  esac
}

# under TOOL STATE CMD...: run CMD under TOOL (as the benchmark user, native as root), with
# STATE as the tool's faked-state prefix: one state spans a tar and the find after it.
under() {
  local tool=$1 state=$2
  shift 2
  case $tool in
  native) "$@" ;;
  guise-ns) as_user unshare -Ur "$GUISE" fake --db "$state.db" -- "$@" ;;
  guise) as_user "$GUISE" fake --db "$state.db" -- "$@" ;;
  guise-ns-ptrace) as_user unshare -Ur "$GUISE" fake --backend ptrace --db "$state.db" -- "$@" ;;
  guise-ptrace) as_user "$GUISE" fake --backend ptrace --db "$state.db" -- "$@" ;;
  fakeroot)
    [ -e "$state.fakeroot" ] || as_user touch "$state.fakeroot"
    as_user fakeroot -i "$state.fakeroot" -s "$state.fakeroot" -- "$@"
    ;;
  pseudo) as_user env PSEUDO_PREFIX=/usr PSEUDO_LOCALSTATEDIR="$state.pseudo" pseudo "$@" ;;
  proot) as_user proot -0 "$@" ;;
  esac
}

# Stop the pseudo server of STATE (it lingers after its last client otherwise).
pseudo_stop() {
  [ -d "$1.pseudo" ] || return 0
  as_user env PSEUDO_PREFIX=/usr PSEUDO_LOCALSTATEDIR="$1.pseudo" pseudo -S >/dev/null 2>&1 || true
}

# --- 1. per call -----------------------------------------------------------------------------

OPS=(getppid getuid stat-plain stat-faked chown)
as_user mkdir -p "$W/calls"
for ((pass = 1; pass <= PASSES; pass++)); do
  for t in "${TOOLS[@]}"; do
    bench_log "calls, pass $pass/$PASSES: $t"
    state=$W/calls/$t.$pass
    if ! (cd "$W/calls" && under "$t" "$state" "$W/fakebench" "$ROUNDS" "$CALLS") \
      >"$BENCH_RESULTS/calls.$t.$pass" 2>"$BENCH_RESULTS/calls.$t.$pass.err"; then
      bench_log "$t failed: $(head -c 300 "$BENCH_RESULTS/calls.$t.$pass.err")"
      echo failed >"$BENCH_RESULTS/calls.$t.$pass"
    fi
    [ "$t" != pseudo ] || pseudo_stop "$state"
  done
done

# call_median TOOL OP: the median over passes of the tool's median for OP ("-" if it failed).
call_median() {
  cat "$BENCH_RESULTS"/calls."$1".[0-9]* | awk -v op="$2" '
    $1 == "failed" { bad = 1 }
    $1 == op { v[++n] = $2 }
    END {
      if (bad || n == 0) { print "-"; exit }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }'
}
call_faked() {
  if grep -q '^faked yes' "$BENCH_RESULTS/calls.$1.1" 2>/dev/null; then echo yes; else echo no; fi
}

# --- 2. a tree -------------------------------------------------------------------------------

# The archive, once: generating it takes a minute; keyed by the generator's contents.
tree_cache=$GUISE_TEST_CACHE
if ! { mkdir -p "$tree_cache" && [ -w "$tree_cache" ]; } 2>/dev/null; then
  tree_cache=${XDG_CACHE_HOME:-$HOME/.cache}/guise-bench
  mkdir -p "$tree_cache"
fi
key=$(md5sum "$BENCH_ROOT/bench/fake_tree.py" | cut -c1-10)
TREE=$tree_cache/bench-fake-tree-$key.tar
LISTING=$tree_cache/bench-fake-tree-$key.list
if [ ! -s "$TREE" ] || [ ! -s "$LISTING" ]; then
  bench_log "generating $TREE"
  python3 "$BENCH_ROOT/bench/fake_tree.py" "$TREE.tmp" "$LISTING.tmp" ||
    bench_die "generating the archive failed"
  mv "$LISTING.tmp" "$LISTING"
  mv "$TREE.tmp" "$TREE"
fi
cp "$TREE" "$W/tree.tar"
chmod 644 "$W/tree.tar"
entries=$(wc -l <"$LISTING")

# A listing of DIR in the format of fake_tree.py's.
list_tree() {
  find "$1" -mindepth 1 -printf '%P %y %U:%G %m\n' | awk '$2 == "l" { print $1, $2, $3; next } { print }'
}

# elapsed CMD...: run CMD (output discarded), print its wall time in seconds.
elapsed() {
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>>"$BENCH_RESULTS/tree.err" || return 1
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

for ((pass = 1; pass <= TREE_PASSES; pass++)); do
  for t in "${TOOLS[@]}"; do
    state=$W/tree-$t
    dest=$state.d
    rm -rf "$dest" "$state".*
    mkdir -p "$dest"
    [ "$t" = native ] || chown "$BENCH_USER:" "$dest" 2>/dev/null || true
    bench_log "tree, pass $pass/$TREE_PASSES: $t"
    if x=$(elapsed under "$t" "$state" tar --same-owner -xpf "$W/tree.tar" -C "$dest") &&
      f=$(elapsed under "$t" "$state" find "$dest" -ls); then
      echo "$x" >>"$BENCH_RESULTS/tar.$t"
      echo "$f" >>"$BENCH_RESULTS/find.$t"
      if [ "$pass" -eq 1 ]; then
        under "$t" "$state" bash -c "$(declare -f list_tree); list_tree '$dest'" |
          LC_ALL=C sort >"$BENCH_RESULTS/listing.$t" 2>>"$BENCH_RESULTS/tree.err"
        diff "$LISTING" "$BENCH_RESULTS/listing.$t" | grep -c '^>' >"$BENCH_RESULTS/diffs.$t" || true
      fi
    else
      bench_log "$t failed on the tree: $(tail -c 300 "$BENCH_RESULTS/tree.err")"
      echo failed >>"$BENCH_RESULTS/tar.$t"
    fi
    [ "$t" != pseudo ] || pseudo_stop "$state"
    rm -rf "$dest" "$state".*
  done
done

tree_median() {
  awk '$1 == "failed" { bad = 1 } { v[++n] = $1 }
    END {
      if (bad || n == 0) { print "-"; exit }
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      print (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }' "$BENCH_RESULTS/$1.$2" 2>/dev/null || echo -
}

# ratio A B: A ÷ B to two decimals, "-" when either is missing.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == "" || b == "" || b == 0) print "-"; else printf "%.2f\n", a / b }'
}

# --- report ----------------------------------------------------------------------------------

out=$BENCH_RESULTS/section.md
has() { for x in "${TOOLS[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
{
  echo "### Cost of a faked call (\`bench/bench_fake.sh\`)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC') — $(bench_machine), load average $BENCH_LOAD at the start."
  echo "Per call: µs, median over $PASSES interleaved passes of each pass's median over $ROUNDS rounds of"
  echo "$CALLS calls (one dynamically linked probe, \`tests/helpers/fakebench.c\`, run under every tool)."
  echo "Tools run as an unprivileged user without subuid; native root as root."
  echo
  echo "| tool | chown | stat, faked file | stat, plain file | getuid | getppid (not intercepted) | stat shows the chown |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  for t in "${TOOLS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$t")" "$(call_median "$t" chown)" \
      "$(call_median "$t" stat-faked)" "$(call_median "$t" stat-plain)" \
      "$(call_median "$t" getuid)" "$(call_median "$t" getppid)" "$(call_faked "$t")"
  done
  echo
  echo "Ratios (tool ÷ reference; below 1 is faster than the reference):"
  echo
  echo "| tool | chown ÷ native | chown ÷ fakeroot | faked stat ÷ native | faked stat ÷ fakeroot |"
  echo "|---|---:|---:|---:|---:|"
  nc=$(has native && call_median native chown || echo -)
  ns=$(has native && call_median native stat-faked || echo -)
  fc=$(has fakeroot && call_median fakeroot chown || echo -)
  fs=$(has fakeroot && call_median fakeroot stat-faked || echo -)
  for t in "${TOOLS[@]}"; do
    c=$(call_median "$t" chown)
    s=$(call_median "$t" stat-faked)
    printf '| %s | %s | %s | %s | %s |\n' "$(label "$t")" "$(ratio "$c" "$nc")" "$(ratio "$c" "$fc")" \
      "$(ratio "$s" "$ns")" "$(ratio "$s" "$fs")"
  done
  echo
  echo "A tree of $entries entries (\`bench/fake_tree.py\`: directories, files of 0–2 KiB, symlinks, hard"
  echo "links; a dozen owners; set-id and sticky bits): \`tar --same-owner -xpf\` into an empty directory,"
  echo "then \`find DIR -ls\` over it under the same tool and state. Seconds, median of $TREE_PASSES"
  echo "interleaved runs. Last column: entries whose owner, type or mode, as seen under the tool, differ"
  echo "from the archive (\`find -printf '%y %U:%G %m'\`)."
  echo
  echo "| tool | tar -xpf (s) | ÷ native | ÷ fakeroot | find -ls (s) | ÷ native | ÷ fakeroot | entries wrong |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  nx=$(tree_median tar native)
  nf=$(tree_median find native)
  fx=$(tree_median tar fakeroot)
  ff=$(tree_median find fakeroot)
  for t in "${TOOLS[@]}"; do
    x=$(tree_median tar "$t")
    f=$(tree_median find "$t")
    d=$(cat "$BENCH_RESULTS/diffs.$t" 2>/dev/null || echo -)
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$t")" "$x" "$(ratio "$x" "$nx")" \
      "$(ratio "$x" "$fx")" "$f" "$(ratio "$f" "$nf")" "$(ratio "$f" "$ff")" "$d"
  done
  echo
  gc=$(call_median guise-ns chown)
  gs=$(call_median guise-ns stat-faked)
  yn() { if [ "$1" = - ] || [ "$2" = - ]; then echo "n/a"; elif bench_le "$1" "$2"; then echo yes; else echo "**no**"; fi; }
  echo "Issue 3's targets, guise in its user namespace: faked chown ≤ 5 µs: $(yn "$gc" 5) ($gc);"
  echo "faked stat ≤ 5 µs: $(yn "$gs" 5) ($gs); chown not slower than fakeroot: $(yn "$gc" "$fc");"
  echo "stat not slower than fakeroot: $(yn "$gs" "$fs")."
  echo
  echo "Where the time goes: getuid ($(call_median guise-ns getuid) µs) is the bare seccomp-notify round trip"
  echo "on this machine (two context switches, RECV and SEND), the floor of any notify-based faker."
  echo "A faked chown adds resolving the path in the caller's root (open its cwd, openat2, close),"
  echo "a statx, a real chown to the unchanged owner (the kernel clears set-id bits as for root),"
  echo "a path hint (readlink) and the SQLite row plus its change-log row; the records are committed"
  echo "in batches (docs/fakefs-schema.md).  fakeroot's chown is a message to its daemon, which only"
  echo "remembers it in memory; its stat pays for a round trip too, which is where guise is level."
} >"$out"
printf '\n'
cat "$out"
bench_readme_section fake "$out"
