#!/usr/bin/env bash
# Issue 3's acceptance: apt-get install of a set of packages with owners, setuid/setgid bits,
# capabilities and daemons' users, inside `guise run` (faking on, apt's default sandbox, no
# config tricks), from a local repository on 127.0.0.1; the tree the container then sees must
# equal the same install done as real root (tests/setup/aptrepo.sh) outside volatile paths.
. "$(dirname "$0")/lib.sh"

install_with_guise() {
  rootfs=$1
  echo "deb [trusted=yes] http://127.0.0.1:$PORT/ ./" >"$rootfs/etc/apt/sources.list"
  GUISE_TEST_TIMEOUT=900 run_in "$rootfs" "apt-get update -q && apt-get install -y -q $APT_PACKAGES" "${@:2}"
}

test_apt_install_matches_root() {
  serve_apt_repo
  treelist=$(helper treelist)
  rootfs=$(fixture_rootfs_faked bookworm)
  install_with_guise "$rootfs"
  assert_status 0
  run_guise run -v "$treelist:/treelist:ro" --rootfs "$rootfs" -- /treelist /
  assert_status 0
  printf '%s\n' "$OUT" >tree.txt
  compare_tree tree.txt "$APT_REFERENCE"
  note "$DIFFS differences from the root install"
  assert_eq 0 "$DIFFS" "differences from the root install"
  run_guise db --rootfs "$rootfs" check
  assert_status 0
}

test_killed_supervisor_during_apt() {
  serve_apt_repo
  rootfs=$(fixture_rootfs_faked bookworm)
  echo "deb [trusted=yes] http://127.0.0.1:$PORT/ ./" >"$rootfs/etc/apt/sources.list"
  start_guise run --rootfs "$rootfs" -- sh -c "apt-get update -q && apt-get install -y -q $APT_PACKAGES"
  # Kill it in the middle of unpacking (dpkg is running), not before.
  wait_for_file "$TEST_TMP/bg.out" "Unpacking " 600
  pkill -KILL -P "$GUISE_PID" -x guise-fakefs || fail "no supervisor to kill"
  wait_guise 60
  assert_status 125
  assert_contains "$ERR" "syscall-faking supervisor (pid" "message"
  run_guise db --rootfs "$rootfs" check
  assert_status 0
  # dpkg was interrupted: the rerun finishes what it left the way a root user must, since a
  # kill leaves the same states under root (checked in a root chroot, dpkg SIGKILLed at chosen
  # points): 'dpkg --configure -a'; then a reinstall of the packages dpkg --audit calls "in a
  # mess" (killed right after "Unpacking cron-daemon-common", root gets 'iUR': apt then only
  # configures it and dpkg refuses, "you should reinstall it"); then 'apt-get install -f' (killed
  # after "Selecting ... libdevmapper1.02.1", root's plain install refuses dmsetup's unmet
  # dependencies); then the install.
  local reinstreq="dpkg-query -W -f '\${db:Status-Abbrev} \${binary:Package}\n' | awk 'substr(\$1, 3, 1) == \"R\" { print \$2 }'"
  GUISE_TEST_TIMEOUT=900 run_in "$rootfs" "dpkg --configure -a; apt-get install -y -q --reinstall \$($reinstreq) && apt-get install -f -y -q && apt-get install -y -q $APT_PACKAGES"
  assert_status 0
  run_guise run -v "$(helper treelist):/treelist:ro" --rootfs "$rootfs" -- /treelist /
  assert_status 0
  printf '%s\n' "$OUT" >tree.txt
  compare_tree tree.txt "$APT_REFERENCE"
  assert_eq 0 "$DIFFS" "differences from the root install after the rerun"
}

run_tests
