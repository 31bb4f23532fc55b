#!/usr/bin/env bash
# guise run: PID 1, signals, reaping, and nothing left behind after exit.
. "$(dirname "$0")/lib.sh"

# A shell that reports SIGTERM with a message and status 7.
TRAP_SCRIPT='trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done'

test_sigterm_reaches_command_with_init() {
  rootfs=$(fixture_rootfs busybox)
  start_guise run --rootfs "$rootfs" -- sh -c "$TRAP_SCRIPT"
  wait_for_file "$TEST_TMP/bg.out" ready 20
  kill -TERM "$GUISE_PID"
  wait_guise 20
  assert_eq 7 "$STATUS" "exit status"
  assert_contains "$OUT" got-term
}

test_sigterm_reaches_command_without_init() {
  rootfs=$(fixture_rootfs busybox)
  start_guise run --no-init --rootfs "$rootfs" -- sh -c "$TRAP_SCRIPT"
  wait_for_file "$TEST_TMP/bg.out" ready 20
  kill -TERM "$GUISE_PID"
  wait_guise 20
  assert_eq 7 "$STATUS" "exit status"
  assert_contains "$OUT" got-term
}

test_sigint_and_sighup_forwarded() {
  rootfs=$(fixture_rootfs busybox)
  start_guise run --rootfs "$rootfs" -- sh -c \
    'trap "echo got-hup" HUP; trap "echo got-int; exit 5" INT; echo ready; while :; do sleep 0.1; done'
  wait_for_file "$TEST_TMP/bg.out" ready 20
  kill -HUP "$GUISE_PID"
  wait_for_file "$TEST_TMP/bg.out" got-hup 10
  kill -INT "$GUISE_PID"
  wait_guise 20
  assert_eq 5 "$STATUS" "exit status"
  assert_eq $'ready\ngot-hup\ngot-int' "$OUT"
}

test_command_is_not_pid1_with_init() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo $$; tr "\0" " " </proc/1/cmdline; echo; tr "\0" " " </proc/$$/cmdline'
  assert_status 0
  pid=$(printf '%s\n' "$OUT" | sed -n 1p)
  init_cmdline=$(printf '%s\n' "$OUT" | sed -n 2p)
  own_cmdline=$(printf '%s\n' "$OUT" | sed -n 3p)
  assert_ne 1 "$pid" "the command's pid"
  assert_ne "$own_cmdline" "$init_cmdline" "/proc/1/cmdline"
}

test_no_init_makes_command_pid1() {
  rootfs=$(fixture_rootfs busybox)
  # The final `true` keeps sh from exec'ing its last command.
  run_guise run --no-init --rootfs "$rootfs" -- sh -c 'echo $$; tr "\0" " " </proc/1/cmdline; true'
  assert_status 0
  assert_eq $'1\nsh -c echo $$; tr "\\0" " " </proc/1/cmdline; true ' "$OUT" "pid and /proc/1/cmdline"
}

test_init_reaps_orphans() {
  rootfs=$(fixture_rootfs busybox)
  cp "$(helper reap_check)" "$rootfs/reap_check"
  run_guise run --rootfs "$rootfs" -- /reap_check
  assert_status 0
  assert_eq reaped "$OUT"
  # And no zombie anywhere in the container's pid namespace.
  run_in "$rootfs" '(sleep 0.1 &); sleep 1; cat /proc/[0-9]*/stat' 
  assert_status 0
  zombies=$(printf '%s\n' "$OUT" | sed -E 's/^.*\) //' | awk '$1 == "Z"' | wc -l)
  assert_eq 0 "$zombies" "zombies in /proc/*/stat"
}

test_own_pid_namespace_and_proc() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'readlink /proc/self/ns/pid; ls /proc | grep -cE "^[0-9]+$"'
  assert_status 0
  assert_ne "$(readlink /proc/self/ns/pid)" "$(printf '%s\n' "$OUT" | sed -n 1p)" "pid namespace"
  # init, sh, ls and grep at most: the host's processes are not visible.
  [ "$(printf '%s\n' "$OUT" | sed -n 2p)" -le 6 ] || fail "too many processes in /proc: $OUT"
}

# Background processes of the container die with it, and guise leaves no mount behind.
test_nothing_left_after_exit() {
  rootfs=$(fixture_rootfs busybox)
  marker=$((200000 + RANDOM))
  grep -F "$TEST_TMP" /proc/self/mountinfo >mounts.before || true
  run_in "$rootfs" "sleep $marker & echo started" -v "$TEST_TMP:/data" --tmpfs /scratch
  assert_status 0
  assert_eq started "$OUT"
  sleep 0.2
  left=$(pgrep -u "$(id -u)" -f "^sleep $marker\$" || true)
  assert_eq "" "$left" "processes left running"
  left=$(pgrep -u "$(id -u)" -f -- "--rootfs $rootfs" || true)
  assert_eq "" "$left" "guise processes left running"
  grep -F "$TEST_TMP" /proc/self/mountinfo >mounts.after || true
  assert_eq "$(cat mounts.before)" "$(cat mounts.after)" "host mounts under the test dir"
}

test_killing_guise_kills_container() {
  rootfs=$(fixture_rootfs busybox)
  marker=$((200000 + RANDOM))
  start_guise run --rootfs "$rootfs" -- sleep "$marker"
  i=0
  until pgrep -u "$(id -u)" -f "^sleep $marker\$" >/dev/null; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the container's sleep never started: $(cat "$TEST_TMP/bg.err")"
    sleep 0.1
  done
  kill -KILL "$GUISE_PID"
  wait "$GUISE_PID" 2>/dev/null || true
  i=0
  while pgrep -u "$(id -u)" -f "^sleep $marker\$" >/dev/null; do
    i=$((i + 1))
    [ $i -lt 50 ] || fail "the container's process outlived guise (SIGKILL) by 5s"
    sleep 0.1
  done
}

run_tests
