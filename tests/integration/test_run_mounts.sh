#!/usr/bin/env bash
# guise run: volumes, tmpfs, read-only root, generated /etc files.
. "$(dirname "$0")/lib.sh"

test_volume_files_owned_by_caller() {
  rootfs=$(fixture_rootfs busybox)
  mkdir data
  echo from-host >data/in
  run_in "$rootfs" 'cat /data/in; echo from-container >/data/out; mkdir /data/dir; stat -c %u /data/in' \
    -v "$TEST_TMP/data:/data"
  assert_status 0
  assert_eq $'from-host\n0' "$OUT" "host file seen as root's inside"
  assert_eq from-container "$(cat data/out)" "file written inside"
  assert_eq "$(id -u):$(id -g)" "$(stat -c %u:%g data/out)" "owner on the host"
  assert_eq "$(id -u):$(id -g)" "$(stat -c %u:%g data/dir)" "owner on the host"
}

test_volume_explicit_rw() {
  rootfs=$(fixture_rootfs busybox)
  mkdir data
  run_in "$rootfs" 'touch /data/ok' -v "$TEST_TMP/data:/data:rw"
  assert_status 0
  [ -e data/ok ] || fail "file not created through a :rw volume"
}

test_volume_readonly() {
  rootfs=$(fixture_rootfs busybox)
  mkdir data
  echo keep >data/f
  run_in "$rootfs" 'cat /data/f; touch /data/new; echo x >/data/f' -v "$TEST_TMP/data:/data:ro"
  assert_ne 0 "$STATUS" "status"
  assert_eq keep "$OUT"
  assert_contains "$ERR" "Read-only file system" "stderr"
  [ ! -e data/new ] || fail "file created through a :ro volume"
  assert_eq keep "$(cat data/f)" "file content on the host"
}

test_volume_readonly_survives_remount() {
  rootfs=$(fixture_rootfs busybox)
  mkdir data
  # Without CAP_SYS_ADMIN (not in the default set) the container cannot lift :ro.  (With
  # --cap-add SYS_ADMIN it can, as under docker; the files are the caller's anyway.)
  run_in "$rootfs" 'mount -o remount,rw,bind /data 2>&1; touch /data/new' \
    -v "$TEST_TMP/data:/data:ro"
  assert_ne 0 "$STATUS" "status"
  [ ! -e data/new ] || fail "file created through a :ro volume after a remount"
}

test_volume_file_and_missing_target() {
  rootfs=$(fixture_rootfs busybox)
  echo single >one-file
  # The destination does not exist in the image: it is created (as docker does).
  run_in "$rootfs" 'cat /opt/sub/file' -v "$TEST_TMP/one-file:/opt/sub/file:ro"
  assert_status 0
  assert_eq single "$OUT"
}

test_volume_missing_source() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run -v "$TEST_TMP/nope:/data" --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "$TEST_TMP/nope" "stderr names the source"
}

test_volume_cannot_escape_rootfs() {
  rootfs=$(fixture_rootfs busybox)
  mkdir data outside
  # A symlink in the image pointing outside must resolve inside the rootfs.
  ln -s "$TEST_TMP/outside" "$rootfs/escape"
  run_in "$rootfs" 'touch /escape/x' -v "$TEST_TMP/data:/escape"
  [ ! -e outside/x ] || fail "a volume destination followed a symlink out of the rootfs"
  # Either refused, or mounted where the symlink points inside the rootfs (then visible).
  if [ "$STATUS" = 0 ]; then
    [ -e data/x ] || fail "the volume is not where /escape leads inside the container"
  else
    assert_status 125
  fi
}

test_tmpfs() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo x >/scratch/f && cat /scratch/f; awk '\''$2 == "/scratch" { print $3 }'\'' /proc/mounts' \
    --tmpfs /scratch
  assert_status 0
  assert_eq $'x\ntmpfs' "$OUT"
  [ ! -e "$rootfs/scratch/f" ] || fail "tmpfs write landed in the rootfs"
}

test_tmpfs_options() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'awk '\''$2 == "/scratch" { print $4 }'\'' /proc/mounts' --tmpfs /scratch:size=1m,mode=700
  assert_status 0
  assert_contains "$OUT" "size=1024k" "tmpfs options"
  assert_contains "$OUT" "mode=700" "tmpfs options"
}

test_read_only_rootfs() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'touch /newfile 2>&1; touch /etc/x 2>&1; echo shm >/dev/shm/f && cat /dev/shm/f' --read-only
  assert_status 0
  [ "$(printf '%s\n' "$OUT" | grep -c 'Read-only file system')" = 2 ] || fail "rootfs writes did not fail with EROFS: $OUT"
  assert_line "$OUT" shm "/dev/shm stays writable"
  [ ! -e "$rootfs/newfile" ] || fail "file created in a read-only rootfs"
}

test_read_only_rootfs_with_tmpfs_and_volume() {
  rootfs=$(fixture_rootfs busybox)
  mkdir data
  run_in "$rootfs" 'echo t >/tmp/t && echo v >/data/v && echo finished' --read-only --tmpfs /tmp \
    -v "$TEST_TMP/data:/data"
  assert_status 0
  assert_eq finished "$OUT"
  assert_eq v "$(cat data/v)"
}

test_rootfs_writes_persist_without_read_only() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo kept >/root/file'
  assert_status 0
  assert_eq kept "$(cat "$rootfs/root/file")" "write to the rootfs"
}

test_etc_files_provided() {
  rootfs=$(fixture_rootfs busybox)
  rm -f "$rootfs/etc/hosts" "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"
  run_in "$rootfs" 'cat /etc/hostname; grep -c localhost /etc/hosts; grep -c "^nameserver" /etc/resolv.conf || true' \
    --name etc-test
  assert_status 0
  assert_eq etc-test "$(printf '%s\n' "$OUT" | sed -n 1p)" "/etc/hostname"
  [ "$(printf '%s\n' "$OUT" | sed -n 2p)" -ge 1 ] || fail "no localhost in /etc/hosts: $OUT"
  if grep -q '^nameserver' /etc/resolv.conf 2>/dev/null; then
    [ "$(printf '%s\n' "$OUT" | sed -n 3p)" -ge 1 ] || fail "no nameserver in /etc/resolv.conf: $OUT"
  fi
  # Generated for the container, not written into the image.
  [ ! -e "$rootfs/etc/hostname" ] || [ ! -s "$rootfs/etc/hostname" ] || fail "/etc/hostname written into the rootfs"
}

test_etc_hosts_names_container() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'cat /etc/hosts' --hostname hosts-test
  assert_status 0
  assert_contains "$OUT" hosts-test "/etc/hosts"
}

run_tests
