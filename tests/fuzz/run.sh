#!/usr/bin/env bash
# Run the libFuzzer targets: `make fuzz` and `make fuzz-smoke` call it.
#
#   tests/fuzz/run.sh fuzz|smoke build/fuzz/fuzz_NAME...
#
# For each target: its regression inputs first (tests/fuzz/regressions/NAME/*, each must run
# clean), then FUZZ_SECONDS of fuzzing seeded from the fixtures that suit it (seeds_for) and
# tests/fuzz/corpus/NAME/.  fuzz keeps the corpus it grows in build/fuzz/corpus/NAME/ (the next
# run starts from there) and copies what crashes to build/fuzz/crashes/NAME/; smoke starts
# from the seeds alone and keeps nothing.  Prints one line per target (runs, CPU seconds) and
# the total CPU time; fails when a target crashed, leaked or timed out.
#
# As root the targets run as the unprivileged test user (tests/setup/test-user.sh), in a
# directory of their own (in /dev/shm, else /var/tmp): a layer or archive that got out of its scratch
# directory must not find root's rights.
set -euo pipefail

mode=${1:?usage: run.sh fuzz|smoke TARGET...}
shift
case "$mode" in fuzz | smoke) ;; *)
  echo "run.sh: unknown mode $mode" >&2
  exit 2
  ;;
esac
repo=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${FUZZ_SECONDS:-60}
. "$repo/tests/setup/test-user.sh"

# seeds_for NAME DIR: copy the fixtures that suit target NAME into DIR.
seeds_for() {
  local name=$1 dir=$2 f i=0
  case "$name" in
  containerfile)
    for f in "$repo"/fixtures/build/*/Containerfile "$repo"/fixtures/build/bad/*.Containerfile; do
      i=$((i + 1))
      cp "$f" "$dir/fixture-$i"
    done
    ;;
  ignore) cp "$repo"/fixtures/build/ignore/.dockerignore "$repo"/fixtures/build/ignore/.containerignore "$dir/" ;;
  layer_apply) cp "$repo"/fixtures/layers/*.tar* "$dir/" ;;
  archive) python3 "$repo/fixtures/archives/make.py" "$dir" >/dev/null ;;
  esac
  if [ -d "$repo/tests/fuzz/corpus/$name" ]; then
    cp "$repo/tests/fuzz/corpus/$name"/. "$dir/" -r
  fi
}

# tmpfs when there is one: the archive and layer targets fsync what they write.
base=/var/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
work=$(mktemp -d "$base/guise-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [ "$(id -u)" -eq 0 ]; then
  test_user_setup >/dev/null
  chown "$GUISE_TEST_USER:" "$work"
fi
chmod 755 "$work"
mkdir -p "$work/tmp"
[ "$(id -u)" -ne 0 ] || chown "$GUISE_TEST_USER:" "$work/tmp"
export TMPDIR="$work/tmp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
GUISE_TEST_PASSENV="TMPDIR ASAN_OPTIONS UBSAN_OPTIONS"

# CPU seconds (user + system, in clock ticks) of this script's finished children.
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
hz=$(getconf CLK_TCK)
seconds_of() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz }'; }

failed=() total_ticks=0
for bin in "$@"; do
  target=${bin##*/}
  name=${target#fuzz_}
  t="$work/$name"
  mkdir -p "$t/seeds" "$t/corpus" "$t/crashes"
  cp "$bin" "$t/$target"
  seeds_for "$name" "$t/seeds"
  if [ "$mode" = fuzz ] && [ -d "$repo/build/fuzz/corpus/$name" ]; then
    cp -r "$repo/build/fuzz/corpus/$name"/. "$t/corpus/"
  fi
  [ "$(id -u)" -ne 0 ] || chown -R "$GUISE_TEST_USER:" "$t"
  log="$t/log"
  status=0
  before=$(child_ticks)
  regressions=("$repo/tests/fuzz/regressions/$name"/*)
  if [ -e "${regressions[0]}" ]; then
    cp -r "$repo/tests/fuzz/regressions/$name" "$t/regressions"
    chmod -R a+rX "$t/regressions"
    as_test_user "$t/$target" -timeout=25 "$t/regressions"/* >"$log" 2>&1 || status=$?
  fi
  if [ $status -eq 0 ]; then
    (cd "$t" && as_test_user "./$target" -max_total_time="$seconds" -timeout=25 \
      -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$t/crashes/" \
      "$t/corpus" "$t/seeds") >>"$log" 2>&1 || status=$?
  fi
  ticks=$(($(child_ticks) - before))
  total_ticks=$((total_ticks + ticks))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$mode" = fuzz ]; then
    mkdir -p "$repo/build/fuzz/corpus/$name"
    cp -r "$t/corpus"/. "$repo/build/fuzz/corpus/$name/"
  fi
  if [ $status -ne 0 ]; then
    failed+=("$target")
    mkdir -p "$repo/build/fuzz/crashes/$name"
    cp -r "$t/crashes"/. "$repo/build/fuzz/crashes/$name/" 2>/dev/null || true
    echo "FAIL - fuzz/$target (status $status); inputs kept in build/fuzz/crashes/$name/:"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|^    #[0-9]' "$log" | head -30 | sed 's/^/    /'
  else
    echo "ok - fuzz/$target: ${runs:-0} runs, $(seconds_of "$ticks") s CPU"
  fi
done
echo "# fuzz ($mode, $seconds s per target): $(seconds_of "$total_ticks") s CPU in all"
[ ${#failed[@]} -eq 0 ] || {
  echo "# fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
  exit 1
}
