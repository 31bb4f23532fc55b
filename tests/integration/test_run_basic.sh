#!/usr/bin/env bash
# guise run: exit statuses, stdin, environment, working directory, hostname, user.
. "$(dirname "$0")/lib.sh"

test_exit_status_zero() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- sh -c 'echo hello'
  assert_status 0
  assert_eq hello "$OUT"
}

test_exit_status_of_command() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'exit 3'
  assert_status 3
}

test_exit_status_not_found_127() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- no-such-command-xyz
  assert_status 127
  assert_contains "$ERR" no-such-command-xyz "stderr"
}

test_exit_status_not_executable_126() {
  rootfs=$(fixture_rootfs busybox)
  printf '#!/bin/sh\necho should-not-run\n' >"$rootfs/noexec.sh"
  chmod 644 "$rootfs/noexec.sh"
  run_guise run --rootfs "$rootfs" -- /noexec.sh
  assert_status 126
  assert_not_contains "$OUT" should-not-run
  assert_contains "$ERR" /noexec.sh "stderr"
}

test_exit_status_killed_by_signal() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'kill -9 $$'
  assert_status 137
}

test_stdin_is_empty_without_i() {
  rootfs=$(fixture_rootfs busybox)
  echo from-the-host >input
  RUN_STDIN=input run_guise run --rootfs "$rootfs" -- sh -c 'cat; echo end'
  assert_status 0
  assert_eq end "$OUT"
}

test_stdin_passed_with_i() {
  rootfs=$(fixture_rootfs busybox)
  printf 'hi\nthere\n' >input
  RUN_STDIN=input run_guise run -i --rootfs "$rootfs" -- cat
  assert_status 0
  assert_eq $'hi\nthere' "$OUT"
}

test_stdin_pipe_with_i() {
  rootfs=$(fixture_rootfs busybox)
  out=$(echo hi | timeout 30 "$GUISE" run -i --rootfs "$rootfs" -- cat)
  assert_eq hi "$out"
}

test_env_option() {
  rootfs=$(fixture_rootfs busybox)
  export GUISE_TEST_COPIED="copied value"
  unset GUISE_TEST_UNSET_VAR
  run_guise run -e FOO=bar --env 'SPACED=a b=c' -e GUISE_TEST_COPIED -e GUISE_TEST_UNSET_VAR \
    --rootfs "$rootfs" -- env
  assert_status 0
  assert_line "$OUT" FOO=bar "env"
  assert_line "$OUT" "SPACED=a b=c" "env"
  assert_line "$OUT" "GUISE_TEST_COPIED=copied value" "env (NAME copies the caller's value)"
  assert_not_contains "$OUT" "GUISE_TEST_UNSET_VAR" "env"
  assert_match '^PATH=/' "$OUT" "env (a default PATH)"
  # The caller's environment does not leak in wholesale.
  assert_not_contains "$OUT" "GUISE_TEST_RESULTS" "env"
}

test_env_file() {
  rootfs=$(fixture_rootfs busybox)
  cat >vars.env <<'EOF'
# a comment

ALPHA=1
BETA=two words
EOF
  run_guise run --env-file vars.env -e GAMMA=3 --rootfs "$rootfs" -- env
  assert_status 0
  assert_line "$OUT" "ALPHA=1"
  assert_line "$OUT" "BETA=two words"
  assert_line "$OUT" "GAMMA=3"
  assert_not_contains "$OUT" "comment"
}

test_env_file_missing() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --env-file "$TEST_TMP/nope.env" --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "$TEST_TMP/nope.env" "stderr"
}

test_workdir() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run -w /tmp --rootfs "$rootfs" -- pwd
  assert_status 0
  assert_eq /tmp "$OUT"
  run_guise run --workdir /etc --rootfs "$rootfs" -- pwd
  assert_eq /etc "$OUT"
}

test_default_workdir_is_root() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- pwd
  assert_status 0
  assert_eq / "$OUT"
}

test_hostname_defaults_to_name() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --name itest-box --rootfs "$rootfs" -- sh -c 'hostname; cat /etc/hostname'
  assert_status 0
  assert_eq $'itest-box\nitest-box' "$OUT"
}

test_hostname_option() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --name itest-box --hostname other-host --rootfs "$rootfs" -- hostname
  assert_status 0
  assert_eq other-host "$OUT"
  # The host's hostname is untouched (own uts namespace).
  assert_ne other-host "$(hostname)" "host hostname"
}

test_default_hostname_is_random_id() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- hostname
  assert_status 0
  assert_match '^[0-9a-f]{12}$' "$OUT" "default hostname"
  first=$OUT
  run_guise run --rootfs "$rootfs" -- hostname
  assert_ne "$first" "$OUT" "a second random id"
}

test_root_inside() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- sh -c 'id -u; id -g; id -un; stat -c %u:%g /etc/passwd'
  assert_status 0
  assert_eq $'0\n0\nroot\n0:0' "$OUT" "uid, gid, name, owner of the user's files"
}

# A single mapping only maps uid 0, so a real switch to uid 1000 is impossible.  Two outcomes
# are correct: a clear error (status 125, naming the user), or, with syscall faking, a faked
# uid 1000.  Anything else (silently staying root, a crash) fails.
test_user_option() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run -u 1000:1000 --rootfs "$rootfs" -- sh -c 'id -u; id -g'
  if [ "$STATUS" = 0 ]; then
    assert_eq $'1000\n1000' "$OUT" "id -u; id -g"
    note "uid switch faked"
  else
    assert_status 125
    assert_contains "$ERR" 1000 "stderr names the user"
    assert_match '^guise: ' "$ERR" "stderr"
    note "uid switch refused: $ERR"
  fi
}

test_user_root_explicit() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run -u 0:0 --rootfs "$rootfs" -- id -u
  assert_status 0
  assert_eq 0 "$OUT"
}

test_bookworm_rootfs() {
  rootfs=$(fixture_rootfs bookworm)
  run_guise run --rootfs "$rootfs" -- bash -c \
    'cat /etc/debian_version; id -un; stat -c %U /usr/bin/dpkg; dpkg-query -W -f="\${Status}" libc6'
  assert_status 0
  assert_match '^12\.' "$OUT" "debian_version"
  assert_contains "$OUT" $'\nroot\nroot\n' "root owns the image inside"
  assert_contains "$OUT" "install ok installed" "dpkg database readable"
}

run_tests
