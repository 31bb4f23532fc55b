#!/usr/bin/env bash
# The ptrace backend of the tracer: the same faking as with seccomp user notification, for where
# no listener can be had.  `guise fake --backend ptrace` and `guise run --fake-backend ptrace`
# must give the same answers as seccomp (static fakeprobe: chown, mknod, stat, set*id, threads),
# an apt-get install under ptrace must equal the root install, and `--backend auto` inside an
# outer seccomp-notify sandbox (another guise fake, whose listener makes the inner one's fail with
# EBUSY) must fall back to ptrace and still fake.
. "$(dirname "$0")/lib.sh"

# fake_probe BACKEND ARGS...: fakeprobe ARGS under `guise fake --backend BACKEND --db`.
fake_probe() {
  local backend=$1
  shift
  run_guise fake --backend "$backend" --db "$TEST_TMP/$backend.db" -- "$(helper fakeprobe)" "$@"
}

# expect_faked_files OUTPUT: what `fakeprobe files` must print under any backend.
expect_faked_files() {
  assert_line "$1" "f file 12:34 0644 0:0"
  assert_line "$1" "sda block 0:0 0640 8:0"
  assert_line "$1" "null char 0:0 0644 1:3"
  assert_line "$1" "l symlink 7:7 0777 0:0"
  [ "${2:-}" = no-creds ] || assert_line "$1" "mode0 file 100:65534 0000 0:0"
}

test_fake_files_same_under_both_backends() {
  local -a out=()
  for backend in seccomp ptrace; do
    mkdir "$backend"
    fake_probe "$backend" files "$backend"
    assert_status 0
    expect_faked_files "$OUT"
    out[${#out[@]}]=$OUT
    # On disk everything is the test user's, devices are placeholders.
    assert_eq "$(id -u):$(id -g)" "$(stat -c %u:%g "$backend/f")" "owner of f on disk ($backend)"
    [ -f "$backend/sda" ] && [ ! -b "$backend/sda" ] || fail "no placeholder for sda ($backend)"
    assert_eq 0 "$(stat -c %a "$backend/mode0")" "mode of mode0 put back ($backend)"
    run_guise db --db "$TEST_TMP/$backend.db" show "$TEST_TMP/$backend/sda"
    assert_status 0
    assert_contains "$OUT" "8" "the database records sda's device ($backend)"
  done
  assert_eq "${out[0]}" "${out[1]}" "fakeprobe's output under seccomp and under ptrace"
}

test_fake_is_really_ptrace() {
  run_guise fake --backend ptrace -- sh -c 'grep TracerPid /proc/self/status'
  assert_status 0
  assert_not_contains "$OUT" "TracerPid:	0" "traced under --backend ptrace"
  run_guise fake --backend seccomp -- sh -c 'grep TracerPid /proc/self/status'
  assert_status 0
  assert_contains "$OUT" "TracerPid:	0" "not traced under --backend seccomp"
}

test_fake_credentials_ptrace() {
  fake_probe ptrace
  assert_status 0
  assert_line "$OUT" "verify: ok"
  assert_contains "$OUT" "initial uid=0,0,0 gid=0,0,0" "root at start"
  assert_contains "$OUT" "setuid(0) after drop -> -1" "regaining root fails"
}

# glibc makes every thread repeat set*id (through a signal, SIGSETXID) and aborts when their
# results differ: new threads must be traced, signals delivered, answers agree.
test_fake_threads_ptrace() {
  fake_probe ptrace threads 6
  assert_status 0
  [ "$(grep -c '^thread [0-9]* uid=42,42,42 gid=65534,65534,65534$' <<<"$OUT")" = 6 ] ||
    fail "every thread must see the dropped ids"
}

test_fake_exit_status_and_signals_ptrace() {
  run_guise fake --backend ptrace -- sh -c 'exit 7'
  assert_status 7
  run_guise fake --backend ptrace -- sh -c 'kill -TERM $$'
  assert_status $((128 + 15))
  # A handled signal, a stopped and continued child (group-stop), a daemon outliving the
  # first process (guise fake waits for it: it is traced).
  run_guise fake --backend ptrace -- sh -c '
    trap "echo got USR1" USR1; kill -USR1 $$
    sleep 1 & p=$!; kill -STOP $p; sleep 0.2; sed -n "s/^State:\t\(.\).*/stopped: \1/p" /proc/$p/status
    kill -CONT $p; wait $p; echo "waited: $?"
    (sleep 0.5; echo daemon done) &'
  assert_status 0
  assert_line "$OUT" "got USR1"
  assert_match "stopped: [tT]" "$OUT" "the stopped child is stopped"
  assert_line "$OUT" "waited: 0"
  assert_line "$OUT" "daemon done"
}

# Under an outer supervisor that offers no delegation (guise fake offers none), the outer
# listener would answer the calls both intercept (SECCOMP_RET_USER_NOTIF takes precedence over
# the ptrace backend's SECCOMP_RET_TRACE): the inner faking would be silently wrong, so every
# backend refuses with the cause.  (Nesting under guise run: test_run_nested.sh.)
test_nested_without_delegation_refused() {
  mkdir inner
  for backend in seccomp auto; do
    run_guise fake -- "$GUISE" fake --backend $backend --db "$TEST_TMP/inner.db" -- \
      "$(helper fakeprobe)" files inner
    assert_status 125
    assert_contains "$ERR" "an outer supervisor already holds a seccomp listener" "$backend: the cause"
    assert_contains "$ERR" "no delegation channel" "$backend: why it cannot go on"
    assert_eq 1 "$(printf '%s\n' "$ERR" | grep -c guise:)" "$backend: one error"
  done
  run_guise fake -- "$GUISE" fake --backend ptrace --db "$TEST_TMP/inner.db" -- \
    "$(helper fakeprobe)" files inner
  assert_status 125
  assert_contains "$ERR" "outer supervisor holds a seccomp listener, which would answer" "ptrace: the cause"
  assert_eq "" "$(ls inner)" "nothing was done"
}

test_run_ptrace() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'touch /f && chown 12:34 /f && mknod /sda b 8 0 && stat -c "%n %u:%g %F %t:%T" /f /sda' \
    --fake-backend ptrace
  assert_status 0
  assert_line "$OUT" "/f 12:34 regular empty file 0:0"
  assert_line "$OUT" "/sda 0:0 block special file 8:0"
  assert_eq "" "$ERR" "no notice when ptrace is asked for"
  # Seen the same by a later container on the other backend.
  run_in "$rootfs" 'stat -c "%n %u:%g %F" /f /sda' --fake-backend seccomp
  assert_line "$OUT" "/f 12:34 regular empty file"
  assert_line "$OUT" "/sda 0:0 block special file"
}

# The container's process, seen from the host, is traced by the supervisor; killing the
# supervisor kills the container (PTRACE_O_EXITKILL) and guise says so.
test_run_ptrace_supervisor_killed() {
  rootfs=$(fixture_rootfs busybox)
  local marker=guise-ptrace-$$-$RANDOM
  start_guise run --fake-backend ptrace --rootfs "$rootfs" -- \
    sh -c 'touch /f; echo started >/started; while :; do chown 1:1 /f; done' "$marker"
  wait_for_file "$rootfs/started" started
  # guise, its supervisor and the container's processes all carry the marker; the latter are
  # traced.
  local pid tracer=0
  for pid in $(pgrep -u "$(id -u)" -f -- "$marker"); do
    tracer=$(sed -n 's/^TracerPid:\t//p' "/proc/$pid/status" 2>/dev/null)
    [ "${tracer:-0}" -gt 0 ] && break
  done
  [ "${tracer:-0}" -gt 0 ] || fail "no traced container process found"
  assert_eq guise-fakefs "$(cat "/proc/$tracer/comm")" "its tracer"
  kill -KILL "$tracer"
  wait_guise 20
  assert_status 125
  assert_contains "$ERR" "syscall-faking supervisor" "message names the supervisor"
  assert_contains "$ERR" "killed by signal 9" "message says how it died"
}

# apt-get install with apt's default sandbox (setgroups/setresuid to _apt, files it creates)
# under the ptrace backend: the tree must equal the same install done as real root.
test_run_ptrace_apt_install_matches_root() {
  local reference=$GUISE_TEST_CACHE/apt-reference.txt
  [ -r "$reference" ] || skip "no local apt repository (sudo bash tests/setup/aptrepo.sh build/helpers/treelist)"
  serve_dir "$GUISE_TEST_CACHE/aptrepo"
  rootfs=$(fixture_rootfs_faked bookworm)
  echo "deb [trusted=yes] http://127.0.0.1:$PORT/ ./" >"$rootfs/etc/apt/sources.list"
  GUISE_TEST_TIMEOUT=900 run_in "$rootfs" \
    "apt-get update -q && apt-get install -y -q cron dbus sudo man-db iputils-ping fuse3 openssh-server tcpdump" \
    --fake-backend ptrace
  assert_status 0
  run_in "$rootfs" 'stat -c "%n %U:%G %a" /usr/bin/sudo /usr/bin/crontab /var/spool/cron/crontabs'
  assert_line "$OUT" "/usr/bin/sudo root:root 4755"
  assert_line "$OUT" "/usr/bin/crontab root:crontab 2755"
  assert_line "$OUT" "/var/spool/cron/crontabs root:crontab 1730"
  run_guise run -v "$(helper treelist):/treelist:ro" --rootfs "$rootfs" -- /treelist /
  assert_status 0
  printf '%s\n' "$OUT" >tree.txt
  compare_tree tree.txt "$reference"
  note "$DIFFS differences from the root install"
  assert_eq 0 "$DIFFS" "differences from the root install"
}

run_tests
