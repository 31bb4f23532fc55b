#!/usr/bin/env bash
# guise run: errors are reported with status 125 (guise's own), naming the input.
. "$(dirname "$0")/lib.sh"

test_missing_rootfs() {
  run_guise run --rootfs "$TEST_TMP/no/such/rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "$TEST_TMP/no/such/rootfs" "stderr names the path"
  assert_match '^guise: ' "$ERR" "stderr"
}

# HACKING.md and the CLI spec: `guise: <step> failed: <reason>`.
test_error_message_format() {
  run_guise run --rootfs "$TEST_TMP/missing" -- true
  assert_status 125
  assert_eq 1 "$(printf '%s\n' "$ERR" | wc -l)" "lines of stderr"
  assert_match '^guise: .+ failed: .+' "$ERR" "stderr"
}

test_rootfs_is_a_file() {
  echo not-a-dir >rootfs-file
  run_guise run --rootfs rootfs-file -- true
  assert_status 125
  assert_contains "$ERR" "rootfs-file" "stderr names the path"
}

test_unknown_option() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --frobnicate --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "frobnicate" "stderr names the option"
  run_guise run -Z --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "Z" "stderr names the option"
}

test_missing_option_argument() {
  run_guise run --rootfs
  assert_status 125
  assert_contains "$ERR" "rootfs" "stderr"
}

test_no_command() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs"
  assert_status 125
  assert_match '^guise: ' "$ERR" "stderr"
}

test_rootfs_and_bundle_exclusive() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" --bundle "$TEST_TMP" -- true
  assert_status 125
}

test_command_not_found_message() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- /usr/bin/nothing-here
  assert_status 127
  assert_contains "$ERR" /usr/bin/nothing-here "stderr names the command"
  run_guise run --rootfs "$rootfs" -- nothing-here
  assert_status 127
  assert_contains "$ERR" nothing-here "stderr names the command"
}

test_command_is_a_directory() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- /etc
  assert_status 126
  assert_contains "$ERR" /etc "stderr names the command"
}

test_options_after_command_belong_to_it() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" echo --name -e x
  assert_status 0
  assert_eq "--name -e x" "$OUT"
}

test_help_and_usage() {
  run_guise run --help
  assert_status 0
  assert_contains "$OUT" "Usage: guise run"
  run_guise
  assert_status 125
  run_guise no-such-subcommand
  assert_status 125
  assert_contains "$ERR" no-such-subcommand "stderr"
}

run_tests
