#!/usr/bin/env bash
# The harness itself (lib.sh): a broken assertion, a failed command, a sanitizer report and a
# hang must each fail a test, so that a passing suite means something.
. "$(dirname "$0")/lib.sh"

# run_inner BODY: run a one-test file with BODY under the harness, GUISE being a fake that
# prints $FAKE_STDERR and exits with $FAKE_STATUS.  Leaves $OUT and $STATUS.
run_inner() {
  cat >fake-guise <<'FAKE'
#!/bin/sh
printf '%s' "$FAKE_STDERR" >&2
exit "${FAKE_STATUS:-0}"
FAKE
  chmod +x fake-guise
  printf '. %q\ntest_inner() {\n%s\n}\nrun_tests\n' "$_lib_dir/lib.sh" "$1" >inner.sh
  mkdir -p inner-tmp
  STATUS=0
  OUT=$(GUISE=$TEST_TMP/fake-guise GUISE_TEST_RESULTS=$TEST_TMP/inner-results TMPDIR=$TEST_TMP/inner-tmp \
    GUISE_TEST_FILTER='' GUISE_TEST_TIMEOUT=2 bash inner.sh 2>&1) || STATUS=$?
  printf 'inner: status %s\n%s\n' "$STATUS" "$OUT"
}

test_harness_reports_failed_assertion() {
  run_inner 'assert_eq one two "thing"'
  assert_eq 1 "$STATUS" "status of a file with a failure"
  assert_line "$OUT" "FAIL - test_inner: thing: expected 'one', got 'two'"
  assert_eq "FAIL inner/test_inner" "$(cat inner-results)" "results file"
}

test_harness_reports_failed_command() {
  run_inner 'false; echo not reached'
  assert_eq 1 "$STATUS"
  assert_line "$OUT" "FAIL - test_inner: command failed (status 1): false"
}

test_harness_reports_skip_and_ok() {
  run_inner 'skip "no reason at all"'
  assert_eq 0 "$STATUS"
  assert_line "$OUT" "skip - test_inner: no reason at all"
  run_inner 'run_guise run x; assert_status 0'
  assert_line "$OUT" "ok - test_inner"
}

test_harness_checks_status_and_sanitizers() {
  export FAKE_STATUS=3
  run_inner 'run_guise run x; assert_status 0'
  assert_contains "$OUT" "FAIL - test_inner: exit status: expected 0, got 3"
  export FAKE_STATUS=0 FAKE_STDERR='==7==ERROR: LeakSanitizer: detected memory leaks'
  run_inner 'run_guise run x; assert_status 0'
  assert_contains "$OUT" "FAIL - test_inner: sanitizer report from guise"
}

test_harness_times_out_a_hang() {
  cat >hang <<'HANG'
#!/bin/sh
exec sleep 60
HANG
  chmod +x hang
  run_inner "GUISE=$TEST_TMP/hang; run_guise run x; assert_status 0"
  assert_contains "$OUT" "got 124"
  assert_contains "$OUT" "timed out after 2s"
}

test_harness_cleans_up() {
  run_inner 'touch "$TEST_TMP/file"; on_exit touch '"$TEST_TMP"'/on-exit-ran; fail because'
  [ -e on-exit-ran ] || fail "on_exit command did not run"
  assert_eq "" "$(ls inner-tmp)" "leftover test dirs"
}

run_tests
