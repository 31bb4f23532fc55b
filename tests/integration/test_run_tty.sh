#!/usr/bin/env bash
# guise run -t: a pty inside, size taken from the caller's terminal and kept in sync.
# script(1) and tmux provide the outer terminal.
. "$(dirname "$0")/lib.sh"

# in_script SHELL-COMMAND: run it under script(1) (a pty as the controlling terminal),
# leaving $OUT (carriage returns removed) and $STATUS.
in_script() {
  command -v script >/dev/null || skip "script(1) not installed"
  STATUS=0
  timeout --kill-after=5 "$GUISE_TEST_TIMEOUT" script -qec "$1" /dev/null </dev/null >script.out 2>&1 || STATUS=$?
  OUT=$(tr -d '\r' <script.out)
  printf '+ script -qec %s\n  status %s\n  output: %s\n' "$1" "$STATUS" "$(_abbrev "$OUT")"
  check_sanitizers "$OUT"
}

test_tty_is_a_pts() {
  rootfs=$(fixture_rootfs busybox)
  in_script "'$GUISE' run -t --rootfs '$rootfs' -- tty"
  assert_eq 0 "$STATUS" "status"
  assert_match '^/dev/pts/[0-9]+$' "$OUT" "tty"
}

test_tty_size_from_caller() {
  rootfs=$(fixture_rootfs busybox)
  in_script "stty rows 30 cols 100; '$GUISE' run -t --rootfs '$rootfs' -- stty size"
  assert_eq 0 "$STATUS" "status"
  assert_eq "30 100" "$OUT" "stty size"
}

test_tty_exit_status() {
  rootfs=$(fixture_rootfs busybox)
  in_script "'$GUISE' run -t --rootfs '$rootfs' -- sh -c 'exit 3'"
  assert_eq 3 "$STATUS" "status"
}

test_tty_standard_fds_are_the_terminal() {
  rootfs=$(fixture_rootfs busybox)
  in_script "'$GUISE' run -t --rootfs '$rootfs' -- sh -c 'readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2 2>/dev/null || for f in 0 1 2; do readlink /proc/self/fd/\$f; done; [ -t 0 ] && echo stdin-tty'"
  assert_eq 0 "$STATUS" "status"
  n=$(printf '%s\n' "$OUT" | grep -cE '^/dev/pts/[0-9]+$')
  assert_eq 3 "$n" "fds 0-2 on the pty"
  assert_contains "$OUT" stdin-tty
}

test_no_tty_without_t() {
  rootfs=$(fixture_rootfs busybox)
  in_script "'$GUISE' run --rootfs '$rootfs' -- tty"
  assert_eq 1 "$STATUS" "status of tty(1) without a terminal"
  assert_contains "$OUT" "not a tty"
}

# Interactive use (-it) in a real terminal: typing reaches the shell, resizing reaches the pty.
test_tty_interactive_and_resize() {
  command -v tmux >/dev/null || skip "tmux not installed"
  rootfs=$(fixture_rootfs busybox)
  mkdir out
  export TMUX_TMPDIR=$TEST_TMP
  on_exit tmux kill-server
  tmux -f /dev/null new-session -d -s itest -x 80 -y 24 \
    "'$GUISE' run -it -v '$TEST_TMP/out:/out' --rootfs '$rootfs' -- sh -c 'trap \"stty size >>/out/winch\" WINCH; stty size >/out/start; while read line; do echo \"got \$line\" >>/out/lines; done'; echo guise-exit-\$? >'$TEST_TMP/out/status'; sleep 30"
  wait_for_file out/start "24 80" 20
  tmux send-keys -t itest 'typed-text' Enter
  wait_for_file out/lines "got typed-text" 10
  tmux resize-window -t itest -x 100 -y 30
  wait_for_file out/winch "30 100" 10
  tmux send-keys -t itest C-d
  wait_for_file out/status guise-exit-0 10
}

run_tests
