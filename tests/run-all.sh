#!/usr/bin/env bash
# Run guise's tests and print one closing line: `N passed, N failed, N skipped`.
#
#   bash tests/run-all.sh [--unit-only|--integration-only]
#
# Unit tests: every build/{release,asan}/tests/unit/test_* binary, one case each (cmocka
# prints its own lines).  Integration tests: every tests/integration/test_*.sh, run as the
# unprivileged user guise-test when this runs as root (as yourself otherwise), one case per
# test_* function.  `make check` builds everything first.
#
# Environment:
#   GUISE_BIN                 guise binary under test (default build/asan/guise)
#   GUISE_TEST_CACHE          fixture cache (default /var/cache/guise-tests)
#   GUISE_TEST_FILTER         only integration tests whose function name matches this regex
#   GUISE_TEST_FILES          only these integration files (space separated basenames)
#   GUISE_TEST_FILE_TIMEOUT   seconds per integration file (default 600)
#   GUISE_TEST_KEEP=1         keep the run directory, failed tests' temp dirs and root requests
#
# Engines phase (root only): tests/engines/test_engines.sh runs guise inside podman, a private
# dockerd and bubblewrap (GUISE_TEST_FILES=test_engines.sh selects it alone).
#
# Root verification phase: a test can leave a request (lib.sh's request_root_verify: an OCI
# layout guise pushed, and a root-made listing to compare with); after the test file's
# unprivileged run, tests/setup/root-verify.sh, as root, unpacks it with umoci into its own
# temp dir and compares (one case `root-verify/FILE.NAME` per request; skipped when this
# script is not root).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
REPO=$(pwd)

mode=all
case "${1:-}" in
"") ;;
--unit-only) mode=unit ;;
--integration-only) mode=integration ;;
*)
  echo "usage: $0 [--unit-only|--integration-only]" >&2
  exit 2
  ;;
esac

passed=0
failed=0
skipped=0
failures=()

count() { # count ok|FAIL|skip NAME [REASON]
  case "$1" in
  ok) passed=$((passed + 1)) ;;
  skip) skipped=$((skipped + 1)) ;;
  FAIL)
    failed=$((failed + 1))
    failures+=("$2")
    ;;
  esac
}

run_unit_tests() {
  local found=0 bin name status
  for bin in build/release/tests/unit/test_* build/asan/tests/unit/test_*; do
    # The unit directories also hold test_*.o and test_*.d.
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
    case "${bin##*/}" in *.*) continue ;; esac
    found=1
    name=${bin#build/}
    echo "# unit $name"
    timeout --kill-after=10 300 "$bin"
    status=$?
    if [ $status -eq 0 ]; then
      echo "ok - unit $name"
      count ok "unit $name"
    else
      echo "FAIL - unit $name: exit status $status$([ $status -eq 124 ] && echo ' (timed out)')"
      count FAIL "unit $name"
    fi
  done
  if [ $found -eq 0 ]; then
    echo "skip - unit tests: no binaries in build/*/tests/unit (run make units)"
    count skip "unit tests"
  fi
}

# root_verify RUN FILE AS_ROOT: the root verification phase for the requests FILE's tests left.
root_verify() {
  local run=$1 prefix=$2 as_root=$3 req name before status
  for req in "$run/root-requests/$prefix".*; do
    [ -d "$req" ] || continue
    name=root-verify/${req##*/}
    if [ "$as_root" -ne 1 ]; then
      echo "skip - $name: not root (umoci must unpack as real root: run tests/run-all.sh as root)"
      echo "skip $name" >>"$run/results"
    else
      echo "# $name: umoci unpack as root"
      before=$(wc -l <"$run/results")
      timeout --kill-after=10 900 bash tests/setup/root-verify.sh "$req" "$run/helpers/treelist"
      status=$?
      if [ "$(wc -l <"$run/results")" -eq "$before" ]; then
        echo "FAIL - $name: root-verify.sh ended (status $status) without a result"
        echo "FAIL $name" >>"$run/results"
      fi
    fi
    [ "${GUISE_TEST_KEEP:-}" = 1 ] || rm -rf --one-file-system "$req"
  done
}

# The layering of HACKING.md's table: the tree passes, and a planted include that crosses it
# (image/ including builder/, in a temp copy) is caught, so the check cannot pass vacuously.
run_layering_check() {
  local out tmp
  if out=$(bash tests/check-layers.sh 2>&1); then
    echo "ok - layering: every include follows HACKING.md's table"
    count ok "layering"
  else
    echo "FAIL - layering: includes across layers:"
    printf '%s\n' "$out" | sed 's/^/#   /'
    count FAIL "layering"
  fi
  tmp=$(mktemp -d)
  cp -r util image "$tmp/"
  sed -i '1i #include "builder/internal.h"' "$tmp/image/store.c"
  if out=$(bash tests/check-layers.sh "$tmp" 2>&1) || [[ "$out" != *'image/store.c:1: includes "builder/internal.h"'* ]]; then
    echo "FAIL - layering check: a planted include of builder/ in image/ was not reported ($out)"
    count FAIL "layering check"
  else
    echo "ok - layering check: a planted include of builder/ in image/ is reported"
    count ok "layering check"
  fi
  rm -rf "$tmp"
}

# The fuzz targets' smoke (tests/fuzz/run.sh): their regression inputs, then a few seconds of
# fuzzing each; one case per target.
run_fuzz_smoke() {
  local bins=(build/fuzz/fuzz_*) line cases=0
  if [ ! -x "${bins[0]}" ]; then
    echo "skip - fuzz smoke: no targets in build/fuzz (make build/fuzz/fuzz_NAME, clang)"
    count skip "fuzz smoke"
    return
  fi
  while IFS= read -r line; do
    echo "$line"
    case "$line" in
    "ok - fuzz/"*) count ok "${line#ok - }" && cases=$((cases + 1)) ;;
    "FAIL - fuzz/"*) line=${line#FAIL - } && count FAIL "${line%% *}" && cases=$((cases + 1)) ;;
    esac
  done < <(FUZZ_SECONDS=${FUZZ_SMOKE_SECONDS:-3} bash tests/fuzz/run.sh smoke "${bins[@]}" 2>&1 ||
    echo "# fuzz smoke exited with status $?")
  if [ $cases -ne ${#bins[@]} ]; then
    echo "FAIL - fuzz smoke: $cases of ${#bins[@]} targets reported"
    count FAIL "fuzz smoke"
  fi
}

run_integration_tests() {
  local guise=${GUISE_BIN:-build/asan/guise}
  if [ ! -x "$guise" ]; then
    echo "FAIL - integration: guise binary $guise not found (make asan, or set GUISE_BIN)"
    count FAIL "integration: no guise binary"
    return
  fi
  local user=${GUISE_TEST_USER:-guise-test} as_root=0
  if [ "$(id -u)" -eq 0 ]; then
    as_root=1
    bash tests/setup/test-user.sh || {
      echo "FAIL - integration: creating the test user failed"
      count FAIL "integration: test user"
      return
    }
    local setup_started=$SECONDS
    # A fixture that cannot be built is a failure, but the tests that do not need it still
    # run (the others skip).
    bash tests/setup/fixtures.sh busybox || {
      echo "FAIL - integration: building the busybox fixture failed"
      count FAIL "integration: busybox fixture"
    }
    bash tests/setup/fixtures.sh bookworm || {
      echo "FAIL - integration: building the bookworm fixture failed"
      count FAIL "integration: bookworm fixture"
    }
    bash tests/setup/aptrepo.sh build/helpers/treelist || {
      echo "FAIL - integration: making the local apt repository and root reference failed"
      count FAIL "integration: apt repository"
    }
    bash tests/setup/rpmrepo.sh build/helpers/treelist || {
      echo "FAIL - integration: making the rpm repository, base and root references failed"
      count FAIL "integration: rpm repository"
    }
    bash tests/setup/special.sh build/helpers/treelist || {
      echo "FAIL - integration: making the special-file image failed"
      count FAIL "integration: special-file image"
    }
    bash tests/setup/debootstrap-repo.sh build/helpers/treelist || {
      echo "FAIL - integration: making the debootstrap mirror, host rootfs and root reference failed"
      count FAIL "integration: debootstrap mirror"
    }
    echo "# fixtures and references ready in $((SECONDS - setup_started)) s (cached after the first run)"
  else
    echo "# not root: integration tests run as $(id -un), not $user"
    [ -r "${GUISE_TEST_CACHE:-/var/cache/guise-tests}/busybox.tar" ] ||
      echo "# fixtures missing: tests needing them skip (sudo bash tests/setup/fixtures.sh)"
  fi

  # The repository may be unreadable for the test user (CI clones into a mode-700 mktemp
  # dir), so everything the tests need is copied into a fresh world-readable directory.
  # The rootfs trees are extracted under it too, and a noexec mount would make every
  # binary in them (and guise itself) fail to run.
  local base=/tmp run
  [ $as_root -eq 1 ] || base=${TMPDIR:-/tmp}
  if findmnt -no OPTIONS -T "$base" 2>/dev/null | grep -qw noexec; then
    base=/var/tmp
  fi
  run=$(mktemp -d "$base/guise-itest.XXXXXX")
  chmod 755 "$run"
  mkdir -p "$run/bin" "$run/helpers" "$run/integration" "$run/setup" "$run/fixtures" "$run/tmp" \
    "$run/root-requests"
  # The installed tree test_install.sh runs (make install as a user would, here under DESTDIR).
  if [ -z "${GUISE_TEST_FILES:-}" ] || [[ " $GUISE_TEST_FILES " == *" test_install"* ]]; then
    make --no-print-directory install DESTDIR="$run/install" PREFIX=/usr >"$run/install.log" 2>&1 || {
      echo "# make install failed:"
      tail -5 "$run/install.log" | sed 's/^/#   /'
    }
    export GUISE_INSTALL_TREE="$run/install"
  fi
  cp "$guise" "$run/bin/guise"
  cp "$guise-full" "$run/bin/guise-full" # the image commands (see cli/main.c)
  cp build/helpers/* "$run/helpers/" 2>/dev/null || true
  cp tests/integration/*.sh "$run/integration/"
  cp tests/setup/*.sh tests/setup/*.py "$run/setup/" # some tests source setup scripts (registry.sh, its token_server.py)
  [ -d fixtures ] && cp -r fixtures/. "$run/fixtures/"
  chmod -R a+rX "$run"
  : >"$run/results"
  if [ $as_root -eq 1 ]; then
    chown "$user:" "$run/tmp" "$run/results" "$run/root-requests"
    chmod 700 "$run/tmp" "$run/root-requests"
  fi

  export GUISE="$run/bin/guise" GUISE_HELPERS="$run/helpers" GUISE_FIXTURES="$run/fixtures"
  export GUISE_TEST_CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}
  export GUISE_TEST_RESULTS="$run/results" TMPDIR="$run/tmp" GUISE_TEST_ROOT_REQUESTS="$run/root-requests"
  # Leaks count: LeakSanitizer works for the unprivileged test user, also inside a user and
  # pid namespace (checked with unshare -Ur --pid), so detect_leaks=0 is not needed.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
  export GUISE_TEST_PASSENV="GUISE GUISE_HELPERS GUISE_FIXTURES GUISE_TEST_CACHE GUISE_TEST_RESULTS
    TMPDIR ASAN_OPTIONS UBSAN_OPTIONS GUISE_TEST_FILTER GUISE_TEST_KEEP GUISE_TEST_TIMEOUT
    GUISE_TEST_ROOT_REQUESTS GUISE_INSTALL_TREE"
  local runner=$user
  [ $as_root -eq 1 ] || runner=$(id -un)
  echo "# integration tests: $GUISE (from $guise) as $runner"

  local file base status before after started timeout_s=${GUISE_TEST_FILE_TIMEOUT:-600}
  for file in "$run"/integration/test_*.sh; do
    [ -e "$file" ] || continue
    base=${file##*/}
    if [ -n "${GUISE_TEST_FILES:-}" ] && [[ " $GUISE_TEST_FILES " != *" $base "* ]] &&
      [[ " $GUISE_TEST_FILES " != *" ${base%.sh} "* ]]; then
      continue
    fi
    echo "# integration/$base"
    started=$SECONDS
    before=$(wc -l <"$run/results")
    # timeout(1) runs programs, not shell functions, hence test-user.sh's exec mode.
    (cd "$run/tmp" && timeout --kill-after=10 "$timeout_s" \
      bash "$REPO/tests/setup/test-user.sh" exec bash "$file")
    status=$?
    after=$(wc -l <"$run/results")
    if [ $status -eq 124 ] || [ $status -eq 137 ]; then
      echo "FAIL - $base: timed out after ${timeout_s}s"
      count FAIL "$base (timeout)"
    elif [ $status -ne 0 ] && ! tail -n +$((before + 1)) "$run/results" | grep -q '^FAIL '; then
      echo "FAIL - $base: exited with status $status without a failed case"
      count FAIL "$base (exit $status)"
    fi
    [ "$after" -gt "$before" ] || [ $status -ne 0 ] ||
      echo "# $base defined no test (or all were filtered out)"
    root_verify "$run" "${base%.sh}" $as_root
    echo "# $base took $((SECONDS - started)) s"
  done

  # guise inside CI containers: real engines (podman, dockerd, bubblewrap) need root to start;
  # guise runs in them as the containers' users (tests/engines/test_engines.sh).
  if [ -z "${GUISE_TEST_FILES:-}" ] || [[ " $GUISE_TEST_FILES " == *" test_engines"* ]]; then
    if [ $as_root -eq 1 ]; then
      echo "# engines/test_engines.sh (as root; guise from ${GUISE_ENGINE_BUILD:-build/release})"
      started=$SECONDS
      mkdir -m 755 "$run/engines"
      (cd "$run/engines" && TMPDIR="$run/engines" timeout --kill-after=10 900 \
        bash "$REPO/tests/engines/test_engines.sh") ||
        tail -n 1 "$run/results" | grep -q '^FAIL ' || echo "FAIL engines/test_engines.sh" >>"$run/results"
      echo "# test_engines.sh took $((SECONDS - started)) s"
    else
      echo "skip - engines/test_engines.sh: not root (the engines must be started as root)"
      echo "skip engines/test_engines.sh" >>"$run/results"
    fi
  fi

  local result name
  while read -r result name; do
    count "$result" "$name"
  done <"$run/results"

  if [ "${GUISE_TEST_KEEP:-}" = 1 ]; then
    echo "# kept $run"
  else
    chmod -R u+rwX "$run" 2>/dev/null
    rm -rf --one-file-system "$run"
  fi
}

[ $mode = integration ] || { run_unit_tests; run_layering_check; run_fuzz_smoke; }
[ $mode = unit ] || run_integration_tests

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "# failed:"
  printf '#   %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
