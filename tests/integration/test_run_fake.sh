#!/usr/bin/env bash
# guise run fakes root by default: what the container changes that an unprivileged root cannot
# really do is faked, recorded next to the rootfs and shown back; --no-fake turns it off; a
# killed supervisor stops the container with a message.
. "$(dirname "$0")/lib.sh"

test_chown_faked_and_recorded() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'touch /f && chown 12:34 /f && stat -c "%u:%g" /f'
  assert_status 0
  assert_eq "12:34" "$OUT" "owner seen inside"
  assert_eq "$(id -u):$(id -g)" "$(stat -c %u:%g "$rootfs/f")" "owner on disk"
  [ -f "$rootfs.fakefs.db" ] || fail "no database next to the rootfs"
  run_in "$rootfs" 'stat -c "%u:%g" /f'
  assert_eq "12:34" "$OUT" "owner seen by a later container"
  run_guise db --rootfs "$rootfs" show /f
  assert_status 0
  assert_contains "$OUT" "34" "guise db show"
}

# The supervisor commits its records in batches: a change with no call after it reaches the
# database from the timer (TRACER_DEFER_MS), while the container still runs.
test_records_reach_the_database_while_running() {
  rootfs=$(fixture_rootfs busybox)
  start_guise run --rootfs "$rootfs" -- sh -c 'touch /f && chown 56:78 /f && echo done >/done && exec sleep 60'
  wait_for_file "$rootfs/done" done
  sleep 1
  run_guise db --rootfs "$rootfs" show /f
  assert_status 0
  assert_contains "$OUT" "56:78" "the running container's chown, as guise db sees it"
  kill -TERM "$GUISE_PID"
  wait_guise 20
  assert_status 143
}

test_device_node_faked() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'mknod /sda b 8 0 && mknod /null c 1 3 && stat -c "%F %t:%T" /sda /null'
  assert_status 0
  assert_line "$OUT" "block special file 8:0"
  assert_line "$OUT" "character special file 1:3"
  [ -f "$rootfs/sda" ] && [ ! -b "$rootfs/sda" ] || fail "expected a placeholder file on disk"
}

test_set_ids_faked() {
  rootfs=$(fixture_rootfs bookworm)
  run_in "$rootfs" 'setpriv --regid 65534 --groups 4,27 setpriv --reuid 65534 sh -c "id -u; id -g; id -G; touch /tmp/mine; stat -c %u:%g /tmp/mine"'
  assert_status 0
  assert_eq "65534
65534
65534 4 27
65534:65534" "$OUT" "ids after setgroups/setresgid then setresuid, and a file created then"
}

# One setpriv doing both (uid first, then gid: it keeps its capabilities across the uid change
# with PR_SET_KEEPCAPS and capset, as man-db's postinst relies on); after exec, no way back.
test_keepcaps_drop_like_root() {
  rootfs=$(fixture_rootfs bookworm)
  run_in "$rootfs" 'setpriv --reuid 65534 --regid 65534 --init-groups -- sh -c "id -u; id -G; touch /tmp/mine; stat -c %u:%g /tmp/mine; setpriv --reuid 0 true 2>&1 || echo refused"'
  assert_status 0
  assert_eq "65534
65534
65534:65534
setpriv: setresuid failed: Operation not permitted
refused" "$OUT" "ids, a file's owner, and getting root back"
}

test_no_fake_fails_like_the_kernel() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'touch /f; chown 12:34 /f' --no-fake
  assert_ne 0 "$STATUS" "chown without faking"
  assert_contains "$ERR" "Invalid argument" "the kernel's error"
  [ ! -e "$rootfs.fakefs.db" ] || fail "--no-fake created a database"
}

test_fake_db_option() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'touch /f; chown 7:7 /f' --fake-db "$TEST_TMP/other.db"
  assert_status 0
  [ -f "$TEST_TMP/other.db" ] || fail "--fake-db FILE not used"
  [ ! -e "$rootfs.fakefs.db" ] || fail "default database created despite --fake-db"
}

# guise fake --rootfs DIR populates a rootfs from outside (as fixture_rootfs_faked does): the
# database is DIR's and its paths are those seen inside DIR, so guise db finds nothing moved.
test_fake_rootfs_records_paths_inside() {
  rootfs=$(fixture_rootfs_faked bookworm)
  [ -f "$rootfs.fakefs.db" ] || fail "guise fake --rootfs did not use the rootfs's database"
  run_guise db --rootfs "$rootfs" check
  assert_status 0
  assert_contains "$OUT" "database intact" "check"
  assert_not_contains "$OUT" "moved:" "paths recorded as seen inside the rootfs"
  local rows=$OUT
  run_guise db --rootfs "$rootfs" why /etc/shadow
  assert_status 0
  assert_contains "$OUT" "path /etc/shadow" "the change log's path"
  # Named through a symlink, the rootfs keeps its database: the one next to its real path.
  ln -s "$rootfs" "$TEST_TMP/rootfs-link"
  run_guise db --rootfs "$TEST_TMP/rootfs-link" check
  assert_status 0
  assert_eq "$rows" "$OUT" "guise db through a symlink"
  run_in "$TEST_TMP/rootfs-link" 'stat -c %G /etc/shadow'
  assert_status 0
  assert_eq shadow "$OUT" "guise run through a symlink"
}

# sed -i and cp -p copy an access ACL onto a 0600 temporary file: the mode must follow it.
test_access_acl_sets_mode() {
  rootfs=$(fixture_rootfs bookworm)
  run_in "$rootfs" 'echo a >/root/t && chmod 640 /root/t && sed -i s/a/b/ /root/t && stat -c %a /root/t'
  assert_status 0
  assert_eq 640 "$OUT" "mode after sed -i"
}

test_volatile_state_dropped() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'mknod /dev/xyz c 1 3 && touch /tmp/f /kept && chown 5 /tmp/f /kept' --tmpfs /tmp
  assert_status 0
  run_guise db --rootfs "$rootfs" check
  assert_status 0
  # Only /kept, on the rootfs itself, keeps its row.
  assert_contains "$OUT" "database intact (1 row)" "rows left after the run"
}

test_killed_supervisor_stops_container() {
  rootfs=$(fixture_rootfs busybox)
  start_guise run --rootfs "$rootfs" -- sh -c 'touch /f; echo started >/started; while :; do chown 1:1 /f; done'
  wait_for_file "$rootfs/started" started
  pkill -KILL -P "$GUISE_PID" -x guise-fakefs || fail "no guise-fakefs process found"
  wait_guise 20
  assert_status 125
  assert_contains "$ERR" "syscall-faking supervisor" "message names the supervisor"
  assert_contains "$ERR" "killed by signal 9" "message says how it died"
  # Between the kill and guise stopping the container, a faked call waits: it must not fail
  # (with ENOSYS, which the container would act on, as dpkg does by giving up a package).
  assert_not_contains "$ERR" "chown: " "no faked call failed while the container was stopped"
  run_guise db --rootfs "$rootfs" check
  assert_status 0
  run_in "$rootfs" 'chown 3:3 /f && stat -c %u /f'
  assert_status 0
  assert_eq 3 "$OUT" "a rerun works"
}

test_unusable_database_reported_before_start() {
  rootfs=$(fixture_rootfs busybox)
  echo "not a database" >"$TEST_TMP/bad.db"
  run_in "$rootfs" 'echo ran' --fake-db "$TEST_TMP/bad.db"
  assert_status 125
  assert_not_contains "$OUT" "ran" "the command must not run"
  assert_contains "$ERR" "bad.db" "the error names the database"
}

# /proc/self and /proc/PID/fd/N (PID as the container knows it) name the caller's own files: the
# supervisor, which sees other pids, must resolve them as the caller would.
test_proc_self_paths_resolved_in_the_container() {
  rootfs=$(fixture_rootfs bookworm)
  run_in "$rootfs" 'ls -ld /proc/self/ /proc/thread-self/ /proc/self/fd/ >/dev/null &&
    perl -e "open(my \$f, q{>}, q{/tmp/x}) or die; my \$n = fileno(\$f);
      chown(5, 5, qq{/proc/\$\$/fd/\$n}) or die qq{chown /proc/PID/fd: \$!\n}; print((stat(q{/tmp/x}))[4], qq{\n});
      chown(6, 6, qq{/proc/\$\$/task/\$\$/fd/\$n}) or die qq{chown /proc/PID/task/TID/fd: \$!\n}; print((stat(q{/tmp/x}))[4], qq{\n})"'
  assert_status 0
  assert_eq "5
6" "$OUT" "owners set through /proc/PID/fd and /proc/PID/task/TID/fd"
}

# A file below one of the caller's own directory descriptors, named through /proc/self/fd/N/NAME
# (GNU tar's way: llistxattr("/proc/self/fd/4/semanage.conf")), /dev/fd/N/NAME and the other
# procfs spellings: every path-based xattr call the supervisor resolves works as under root.
test_xattrs_through_proc_self_fd_dir() {
  rootfs=$(fixture_rootfs_faked busybox)
  cp "$(helper xattrprobe)" "$rootfs/xattrprobe"
  run_in "$rootfs" 'mkdir -p /etc/sub && echo x >/etc/sub/f && /xattrprobe /etc sub/f && /xattrprobe /etc passwd'
  assert_status 0
  assert_not_contains "$OUT" "failed:" "xattr calls through /proc/self/fd/N/..."
  assert_eq 2 "$(printf '%s\n' "$OUT" | grep -c '^done 0 failed$')" "probes that ran to the end"
  assert_eq 126 "$(printf '%s\n' "$OUT" | grep -c ' ok$')" "calls that succeeded"
  # Other faked calls through the same paths: chown (resolved to the file) and mknod (to its
  # parent directory).
  run_in "$rootfs" 'exec 3</etc && chown 7:8 /proc/self/fd/3/sub/f && mknod /dev/fd/3/sub/null c 1 3 &&
    stat -c "%u:%g %F" /etc/sub/f /etc/sub/null'
  assert_status 0
  assert_eq "7:8 regular file
0:0 character special file" "$OUT" "chown and mknod through /proc/self/fd/N/... and /dev/fd/N/..."
  # The same on the host, under guise fake.
  mkdir -p host/sub && echo x >host/sub/f
  run_guise fake --db "$TEST_TMP/host.db" -- "$(helper xattrprobe)" host sub/f
  assert_status 0
  assert_line "$OUT" "done 0 failed" "under guise fake"
}

# The reported case: tar --xattrs inside a container whose rootfs has faked state.
test_tar_xattrs_in_faked_rootfs() {
  rootfs=$(fixture_rootfs_faked bookworm)
  run_in "$rootfs" 'tar --xattrs -C / -cf - etc | tar -tf - | wc -l'
  assert_status 0
  assert_not_contains "$ERR" "llistxattr" "tar's warnings"
  assert_not_contains "$ERR" "symbolic links" "tar's warnings"
}

run_tests
