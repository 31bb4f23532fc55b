#!/usr/bin/env bash
# The syscall-faking supervisor facing hostile tracees: calls through the 32-bit entry points,
# result buffers the caller may not write, and thread ids reused by another process must not
# get a faked call past the filter or make the supervisor act on the wrong process.
. "$(dirname "$0")/lib.sh"

# int $0x80 (i386) and x32 versions of faked calls fail with ENOSYS under both backends (the
# filter decides; README "Faking root"), and nothing they asked for happens.
test_compat_calls_refused() {
  rootfs=$(fixture_rootfs busybox)
  local probe backend
  probe=$(helper compat32)
  for backend in seccomp ptrace; do
    run_guise run --fake-backend "$backend" -v "$probe:/compat32:ro" --rootfs "$rootfs" -- \
      sh -c 'touch /f && /compat32 /f; echo "status $?"; stat -c "owner %u:%g" /f; ls /f.node 2>&1 || true'
    assert_status 0
    case "$OUT" in *"status 77"*) skip "$(printf '%s' "$OUT" | grep '^skip')" ;; esac
    assert_line "$OUT" "status 0"
    assert_line "$OUT" "open ok" "$backend: a 32-bit open without O_CREAT"
    assert_line "$OUT" "getpid ok" "$backend: a 32-bit getpid"
    for call in open-creat getuid32 chown32 mknod setxattr chroot x32-getuid x32-chown; do
      assert_line "$OUT" "$call -38" "$backend: $call"
    done
    assert_line "$OUT" "owner 0:0" "$backend: the file's owner"
    assert_contains "$OUT" "No such file" "$backend: no device node"
  done
}

# Without namespaces the tracer translates native calls only: an i386 or x32 execve and a call
# newer than guise's list (file_getattr) of a host path fail with ENOSYS (README "Without
# namespaces") instead of running or inspecting the host's file.
test_view_refuses_untranslated_calls() {
  rootfs=$(fixture_rootfs busybox)
  local probe host=$TEST_TMP/host-only
  probe=$(helper viewescape)
  printf '#!/bin/sh\necho HOST PROGRAM RAN\n' >"$host"
  chmod +x "$host"
  run_guise run --isolation=none -v "$probe:/viewescape:ro" --rootfs "$rootfs" -- \
    /viewescape "$host"
  assert_status 0
  assert_not_contains "$OUT" "HOST PROGRAM RAN" "a host program run by a foreign execve"
  assert_line "$OUT" "file_getattr -38" "file_getattr of a host path"
  case "$OUT" in *"exec32 skip"*) note "no i386 entry on this kernel: the i386 execve is not checked" ;; *) assert_line "$OUT" "exec32 -38" "i386 execve" ;; esac
  assert_line "$OUT" "x32-exec -38" "x32 execve"
}

# The supervisor's descriptors grow with the container (two per nested container for the
# delegation channel's lifetime: a nested build's RUN steps), so it runs with the hard
# open-files limit, not the soft 1024 it would run out at.
test_supervisor_open_files_limit() {
  [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -gt 1024 ] || skip "a hard open-files limit of 1024 or less"
  rootfs=$(fixture_rootfs busybox)
  local guise_pid sup="" i
  (ulimit -Sn 1024 && exec "$GUISE" run --rootfs "$rootfs" -- sleep 3 >/dev/null 2>&1) &
  guise_pid=$!
  for i in $(seq 100); do
    sup=$(pgrep -P "$guise_pid" -x guise-fakefs || true)
    [ -z "$sup" ] || break
    sleep 0.05
  done
  [ -n "$sup" ] || fail "no supervisor found under guise $guise_pid"
  local limits
  limits=$(awk '/^Max open files/ { print $4, $5 }' "/proc/$sup/limits")
  wait "$guise_pid"
  assert_eq "$(ulimit -Hn) $(ulimit -Hn)" "$limits" "the supervisor's soft and hard open-files limits"
}

# A faked call whose result goes to a read-only page fails with EFAULT and leaves the page alone,
# as the kernel's own does (a write through /proc/PID/mem would ignore the protection).
test_readonly_result_buffer_faults() {
  local probe backend call
  probe=$(helper fakehostile)
  for backend in seccomp ptrace; do
    touch "f.$backend"
    run_guise fake --backend "$backend" --db "$TEST_TMP/$backend.db" -- "$probe" rowrite "f.$backend"
    assert_status 0
    for call in stat statx fstat getresuid getgroups; do
      assert_line "$OUT" "$call errno=EFAULT page=intact" "$backend: $call"
    done
  done
}

# A thread makes a faked stat and exits; its id goes to a new process (set through ns_last_pid,
# so the supervisor runs in a pid namespace of our own), whose faked stat must be answered in
# its own memory, not in the first process's, and whose descriptors must be its own.
test_reused_thread_id_gets_its_own_answer() {
  local probe backend
  probe=$(helper fakehostile)
  unshare --user --map-root-user --pid --fork --mount-proc true 2>/dev/null ||
    skip "unshare cannot make a user and pid namespace here"
  for backend in seccomp ptrace; do
    touch "f.$backend"
    STATUS=0
    OUT=$(timeout --kill-after=5 "$GUISE_TEST_TIMEOUT" unshare --user --map-root-user --pid \
      --fork --mount-proc "$GUISE" fake --backend "$backend" --db "$TEST_TMP/$backend.db" -- \
      "$probe" tidreuse "f.$backend" 2>"$TEST_TMP/.stderr") || STATUS=$?
    ERR=$(cat "$TEST_TMP/.stderr")
    printf '+ unshare ... guise fake --backend %s -- fakehostile tidreuse\n  status %s\n  stdout: %s\n  stderr: %s\n' \
      "$backend" "$STATUS" "$OUT" "$ERR"
    check_sanitizers "$ERR"
    [ "$STATUS" != 77 ] || skip "$(printf '%s' "$OUT" | grep '^skip')"
    assert_status 0
    assert_match "tid reused after [0-9]+ tries" "$OUT" "$backend"
    assert_line "$OUT" "child stat 0 uid=12 gid=34" "$backend: the new process's stat"
    assert_line "$OUT" "child fstat 0 uid=56 gid=78" "$backend: the new process's descriptor"
    assert_line "$OUT" "parent memory intact" "$backend: the first process's memory"
  done
}

run_tests
