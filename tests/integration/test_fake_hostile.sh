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

run_tests
