# shellcheck shell=bash
# Shared harness for bench/bench_*.sh (sourced, not run).
#
#   bench_init NAME            work dir, unprivileged user, results dir; cd to the repo root
#   bench_busybox_rootfs DIR   a busybox rootfs owned by the benchmark user
#   bench_runc_bundle DIR ROOTFS HOSTIDS ARGS...   a `runc spec --rootless` bundle
#   bench_measure TOOL VERSION ISSUE CMD   check and register CMD (a shell-quoted string)
#   bench_skip TOOL WHY        a row for a peer that is missing or does not work here
#   bench_run                  time every registered CMD, interleaved; write the rows
#   bench_report TITLE [NOTES_FILE]   print the table, rewrite the NAME section of README.md
#   bench_target TEXT A B le|ge BOUND   a notes line: is median(A) ÷ median(B) within BOUND
#   bench_at_exit CMD          run CMD (a string) at exit, whichever section is running (last
#                              registered first)
#
# Everything is measured as an unprivileged user: as root, as BENCH_USER (guise-test, no
# capabilities, no /etc/subuid entry) through setpriv, else as the caller.
# Environment: BENCH_RUNS (default 30, in all), BENCH_PASSES (3), BENCH_WARMUP (2, per pass),
# GUISE (./guise), BENCH_USER (guise-test).

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_RUNS=${BENCH_RUNS:-30}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_PASSES=${BENCH_PASSES:-3}
BENCH_USER=${BENCH_USER:-guise-test}
BENCH_README=$BENCH_ROOT/bench/README.md
GUISE=${GUISE:-$BENCH_ROOT/guise}
GUISE_TEST_CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}

# BENCH_NO_HYPERFINE=1 forces the fallback loop (to test it, or to compare).
bench_have_hyperfine() { [ -z "${BENCH_NO_HYPERFINE:-}" ] && command -v hyperfine >/dev/null; }

bench_log() { printf 'bench: %s\n' "$*" >&2; }
bench_die() { bench_log "$*"; exit 1; }

# The unprivileged user and how to run as it: tests/setup/test-user.sh's, so that benchmarks
# and integration tests run alike; when that script is missing, the same shape here (a system
# user, so no subuid range; setpriv without capabilities).
bench_user_setup() {
  local script=$BENCH_ROOT/tests/setup/test-user.sh
  if [ -f "$script" ]; then
    # shellcheck disable=SC2034 # read by test-user.sh
    GUISE_TEST_USER=$BENCH_USER
    # shellcheck source=/dev/null
    source "$script"
    test_user_setup >&2
    BENCH_AS=(as_test_user)
    [ "$(id -u)" -eq 0 ] || BENCH_USER=$(id -un)
    return
  fi
  BENCH_AS=()
  if [ "$(id -u)" -ne 0 ]; then
    BENCH_USER=$(id -un)
    return
  fi
  if ! id "$BENCH_USER" >/dev/null 2>&1; then
    useradd --system --user-group --create-home --home-dir "/var/lib/$BENCH_USER" \
      --shell /bin/sh "$BENCH_USER"
  fi
  local home
  home=$(getent passwd "$BENCH_USER" | cut -d: -f6)
  BENCH_AS=(setpriv --reuid "$BENCH_USER" --regid "$BENCH_USER" --clear-groups --inh-caps=-all
    --bounding-set=-all env "HOME=$home" "USER=$BENCH_USER" "LOGNAME=$BENCH_USER")
}

# Run a command as the benchmark user.
as_user() { "${BENCH_AS[@]}" "$@"; }

bench_cleanup() {
  if [ -n "${BENCH_WORK:-}" ] && [ -d "$BENCH_WORK" ]; then
    rm -rf "$BENCH_WORK"
  fi
}

# Commands for the exit trap that outlive one bench_init (a script with several sections may
# share data or a server between them).
BENCH_AT_EXIT=()
bench_at_exit() { BENCH_AT_EXIT+=("$1"); }
bench_exit() {
  local i
  bench_cleanup
  # last registered first: a server is stopped before the directory it serves is removed
  for ((i = ${#BENCH_AT_EXIT[@]} - 1; i >= 0; i--)); do eval "${BENCH_AT_EXIT[$i]}" || true; done
}

bench_init() {
  BENCH_NAME=$1
  cd "$BENCH_ROOT"
  bench_user_setup
  BENCH_WORK=$(mktemp -d "/tmp/guise-bench-$BENCH_NAME.XXXXXX")
  trap bench_exit EXIT
  chmod 755 "$BENCH_WORK"
  [ "$(id -u)" -ne 0 ] || chown "$BENCH_USER:" "$BENCH_WORK"
  BENCH_RESULTS=$BENCH_ROOT/bench/results/$BENCH_NAME # raw times, not committed
  rm -rf "$BENCH_RESULTS"
  mkdir -p "$BENCH_RESULTS"
  BENCH_ROWS=$BENCH_RESULTS/rows.tsv
  BENCH_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
  : >"$BENCH_ROWS"
  if bench_have_hyperfine; then
    BENCH_TIMER="hyperfine $(hyperfine --version | awk '{print $2}')"
  else
    BENCH_TIMER="a bash \$EPOCHREALTIME loop"
  fi
}

# A busybox rootfs in DIR, owned by the benchmark user: the test fixture when it is cached,
# else built from Debian's busybox-static.
bench_busybox_rootfs() {
  local dir=$1
  as_user mkdir -p "$dir"
  if [ -r "$GUISE_TEST_CACHE/busybox.tar" ]; then
    as_user tar -xf "$GUISE_TEST_CACHE/busybox.tar" -C "$dir"
  else
    local busybox
    busybox=$(command -v busybox) || bench_die "busybox not found (apt-get install busybox-static)"
    file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
      bench_log "warning: $busybox is not static; the rootfs may not run"
    # shellcheck disable=SC2016 # expanded by the inner shell
    as_user sh -c '
      set -e
      cd "$1"
      mkdir -p bin sbin usr/bin usr/sbin proc dev sys tmp etc root
      cp "$2" bin/busybox
      # what `busybox --install -s` does inside a chroot; run outside one it would point the
      # links at the host path of the binary
      for applet in $(./bin/busybox --list-full); do
        [ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
      done' sh "$dir" "$busybox"
  fi
  as_user mkdir -p "$dir/proc" "$dir/dev" "$dir/sys" "$dir/tmp"
  as_user "$dir/bin/busybox" true 2>/dev/null || as_user test -x "$dir/bin/busybox" ||
    bench_die "busybox rootfs in $dir is unusable"
}

# A rootless runc bundle: `runc spec --rootless` as the benchmark user, then args, no terminal,
# root.path made absolute, and the mappings' hostIDs set to HOSTIDS ("caller" keeps the user's
# ids as runc wrote them; a number replaces both, for runtimes run inside `unshare -Ur`).
bench_runc_bundle() {
  local dir=$1 rootfs=$2 hostids=$3
  shift 3
  as_user mkdir -p "$dir"
  (cd "$dir" && as_user runc spec --rootless)
  # sed on runc's fixed layout (no jq among the test dependencies); checked below
  local args script
  args=$(printf '"%s", ' "$@")
  script="s|\"terminal\": true|\"terminal\": false|; s|^\(\t*\)\"sh\"\$|\1${args%, }|"
  script="$script; s|\"path\": \"rootfs\"|\"path\": \"$rootfs\"|"
  [ "$hostids" = caller ] || script="$script; s|\"hostID\": [0-9]*|\"hostID\": $hostids|"
  as_user sed -i "$script" "$dir/config.json"
  if ! grep -qF "\"path\": \"$rootfs\"" "$dir/config.json" ||
    ! grep -qF "${args%, }" "$dir/config.json" ||
    ! grep -qF '"terminal": false' "$dir/config.json"; then
    bench_die "could not adapt the runc spec in $dir/config.json (runc's layout changed?)"
  fi
}

# Median and p90 (nearest rank) of a file of milliseconds, one per line.
bench_stats() {
  sort -n "$1" | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- -"; exit }
      median = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      rank = int(0.9 * NR); if (rank < 0.9 * NR) rank++
      printf "%.2f %.2f\n", median, v[rank]
    }'
}

bench_slug() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_'; }

# Register CMD (a string: hyperfine -N splits it like a shell, without one in between; the
# fallback loop evals it) for TOOL. One sanity run now, as the benchmark user: a failing
# command gets a row saying so instead of numbers. bench_run times them all.
bench_measure() {
  local tool=$1 version=$2 issue=$3 cmd=$4 check
  check=$BENCH_RESULTS/$(bench_slug "$tool").check
  bench_log "$tool: $cmd"
  if as_user bash -c "$cmd" >"$check" 2>&1; then
    bench_add "$tool" "$version" "$issue" "$cmd" ""
  else
    bench_log "$tool failed: $(head -c 300 "$check")"
    bench_add "$tool" "$version" "$issue" "$cmd" "fails: $(head -n 1 "$check" | cut -c1-80)"
  fi
}

# A row for a peer that is missing or cannot run here.
bench_skip() {
  bench_add "$1" "${3:-}" "${4:-}" "" "$2"
}

BENCH_TOOLS=() BENCH_VERSIONS=() BENCH_ISSUES=() BENCH_CMDS=() BENCH_STATUS=()
bench_add() {
  BENCH_TOOLS+=("$1") BENCH_VERSIONS+=("$2") BENCH_ISSUES+=("$3") BENCH_CMDS+=("$4")
  BENCH_STATUS+=("$5")
}

# Time one command RUNS times after WARMUP runs, appending milliseconds to FILE.
bench_time() {
  local cmd=$1 runs=$2 file=$3 json
  if bench_have_hyperfine; then
    json=$BENCH_WORK/hyperfine.json
    # hyperfine's advice about outliers goes to the log; the numbers speak for themselves
    as_user hyperfine -N --style none --runs "$runs" --warmup "$BENCH_WARMUP" \
      --export-json "$json" "$cmd" >>"$BENCH_RESULTS/hyperfine.log" 2>&1 ||
      bench_die "hyperfine failed on: $cmd (see $BENCH_RESULTS/hyperfine.log)"
    cat "$json" >>"${file%.times}.json"
    # the single result's "times" array, in seconds
    tr -d ' \n' <"$json" | sed 's/.*"times":\[\([^]]*\)\].*/\1/' | tr ',' '\n' |
      awk '{ printf "%.4f\n", $1 * 1000 }' >>"$file"
  else
    # $EPOCHREALTIME needs no fork, unlike date +%s%N
    # shellcheck disable=SC2016 # expanded by the inner bash
    as_user bash -c '
      enable -n true false echo printf test [ kill # time the programs, not bash builtins
      cmd=$1 runs=$2 warmup=$3
      for ((i = 0; i < warmup; i++)); do eval "$cmd" >/dev/null; done
      for ((i = 0; i < runs; i++)); do
        t0=${EPOCHREALTIME/./}
        eval "$cmd" >/dev/null || exit 1
        t1=${EPOCHREALTIME/./}
        echo "$((t1 - t0))"
      done' bash "$cmd" "$runs" "$BENCH_WARMUP" |
      awk '{ printf "%.4f\n", $1 / 1000 }' >>"$file"
  fi
}

# Time every registered command, BENCH_RUNS times in all, in BENCH_PASSES round-robin passes:
# on a shared machine load comes and goes, and interleaving spreads it over all tools instead
# of penalising whichever ran at the wrong moment. Then write the rows.
bench_run() {
  local passes=$BENCH_PASSES per pass i file stats
  per=$(((BENCH_RUNS + passes - 1) / passes))
  [ "$per" -ge 2 ] || per=2 # hyperfine's minimum
  for ((pass = 1; pass <= passes; pass++)); do
    for i in "${!BENCH_TOOLS[@]}"; do
      [ -z "${BENCH_STATUS[$i]}" ] || continue
      bench_log "pass $pass/$passes: ${BENCH_TOOLS[$i]} × $per"
      bench_time "${BENCH_CMDS[$i]}" "$per" "$BENCH_RESULTS/$(bench_slug "${BENCH_TOOLS[$i]}").times"
    done
  done
  BENCH_RUNS_DONE=$((per * passes))
  : >"$BENCH_ROWS"
  for i in "${!BENCH_TOOLS[@]}"; do
    if [ -n "${BENCH_STATUS[$i]}" ]; then
      stats="- -"
    else
      stats=$(bench_stats "$BENCH_RESULTS/$(bench_slug "${BENCH_TOOLS[$i]}").times")
      bench_log "${BENCH_TOOLS[$i]}: median ${stats% *} ms, p90 ${stats#* } ms"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${BENCH_TOOLS[$i]}" "${BENCH_VERSIONS[$i]}" \
      "${BENCH_ISSUES[$i]}" "${stats% *}" "${stats#* }" "${BENCH_CMDS[$i]}" \
      "${BENCH_STATUS[$i]}" >>"$BENCH_ROWS"
  done
}

# The median of a tool after bench_run (empty when it was skipped or failed).
bench_median() {
  awk -F'\t' -v t="$1" '$1 == t && $4 != "-" { print $4 }' "$BENCH_ROWS"
}

# True when a < b (a <= b) for decimal numbers.
bench_lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
bench_le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# yes or no: whether CMD... succeeds (for the verdict lines under a table).
bench_verdict() { if "$@"; then echo yes; else echo no; fi; }

# The ratio of two tools' medians, two decimals; empty when either was not measured.
bench_ratio() {
  local a b
  a=$(bench_median "$1") b=$(bench_median "$2")
  [ -n "$a" ] && [ -n "$b" ] || return 0
  awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b }'
}

# A line for the notes under a table: whether median(A) ÷ median(B) is at most (le) or at
# least (ge) BOUND, e.g. `bench_target "unpack ≤ 1.2× tar -xzf" guise "tar -xzf" le 1.2`.
bench_target() {
  local text=$1 a=$2 b=$3 op=$4 bound=$5 ratio ok
  ratio=$(bench_ratio "$a" "$b")
  if [ -z "$ratio" ]; then
    printf -- '- %s: not measured (%s or %s has no figure)\n' "$text" "$a" "$b"
    return
  fi
  case $op in
  le) ok=$(bench_verdict bench_le "$ratio" "$bound") ;;
  ge) ok=$(bench_verdict bench_le "$bound" "$ratio") ;;
  *) bench_die "bench_target: $op is neither le nor ge" ;;
  esac
  printf -- '- %s: **%s** (%s ÷ %s = %s)\n' "$text" "$ok" "$a" "$b" "$ratio"
}

bench_machine() {
  local cpu
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  printf 'Linux %s, %s CPUs%s' "$(uname -r)" "$(nproc)" "${cpu:+ ($cpu)}"
}

# Replace the section between <!-- bench:NAME:begin --> and <!-- bench:NAME:end --> in
# bench/README.md with the content of FILE (appended when the markers are missing).
bench_readme_section() {
  local name=$1 file=$2 begin end tmp
  begin="<!-- bench:$name:begin -->"
  end="<!-- bench:$name:end -->"
  [ -f "$BENCH_README" ] || printf '# Benchmarks\n' >"$BENCH_README"
  if ! grep -qF "$begin" "$BENCH_README"; then
    printf '\n%s\n%s\n' "$begin" "$end" >>"$BENCH_README"
  fi
  tmp=$(mktemp "$BENCH_README.XXXXXX")
  awk -v begin="$begin" -v end="$end" -v file="$file" '
    $0 == begin { print; while ((getline line < file) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }' "$BENCH_README" >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$BENCH_README"
}

# Print the table and record it, dated, in the README. Ratios are tool median ÷ guise median:
# above 1 guise is faster. NOTES_FILE (optional) is appended below the table.
bench_report() {
  local title=$1 notes=${2:-} section guise_median
  section=$BENCH_RESULTS/section.md
  guise_median=$(bench_median guise)
  {
    printf '### %s\n\n' "$title"
    printf '%s UTC — %s, load average %s at the start.\n' \
      "$(date -u '+%Y-%m-%d %H:%M')" "$(bench_machine)" "$BENCH_LOAD"
    printf 'Median and p90 of %s runs per tool (%s; %s interleaved passes, %s warm-up runs each), as an\n' \
      "${BENCH_RUNS_DONE:-$BENCH_RUNS}" "$BENCH_TIMER" "$BENCH_PASSES" "$BENCH_WARMUP"
    printf 'unprivileged user without subuid. Ratio = tool median ÷ guise median (above 1: guise is faster).\n\n'
    printf '| tool | median (ms) | p90 (ms) | ratio to guise | issue figure |\n'
    printf '|---|---:|---:|---:|---|\n'
    awk -F'\t' -v g="$guise_median" '{
        ratio = ($4 == "-" || g == "" || g == 0) ? "-" : sprintf("%.2f", $4 / g)
        name = $2 == "" ? $1 : $1 " " $2
        if ($7 != "") name = name " (" $7 ")"
        printf "| %s | %s | %s | %s | %s |\n", name, $4, $5, ratio, $3
      }' "$BENCH_ROWS"
    # shellcheck disable=SC2016 # a literal $W
    printf '\nCommands (`$W` is the temporary work directory):\n\n'
    awk -F'\t' -v w="$BENCH_WORK" -v root="$BENCH_ROOT" '
      function shorten(cmd, from, to,   i) {
        while ((i = index(cmd, from)) > 0) cmd = substr(cmd, 1, i - 1) to substr(cmd, i + length(from))
        return cmd
      }
      $6 != "" { printf "- %s: `%s`\n", $1, shorten(shorten($6, w, "$W"), root "/", "./") }' "$BENCH_ROWS"
    if [ -n "$notes" ] && [ -s "$notes" ]; then
      printf '\n'
      cat "$notes"
    fi
  } >"$section"
  printf '\n'
  cat "$section"
  printf '\n'
  bench_readme_section "$BENCH_NAME" "$section"
}
