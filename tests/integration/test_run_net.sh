#!/usr/bin/env bash
# guise run --net: host (default) shares the network; none = own netns with lo up.
. "$(dirname "$0")/lib.sh"

# Interface names in a /proc/net/dev dump, sorted, one line.
ifaces() {
  printf '%s\n' "$1" | awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' | sort | paste -sd' '
}

test_net_none_only_loopback() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'cat /proc/net/dev; echo ---; ls /sys/class/net | paste -sd" "' --net none
  assert_status 0
  assert_eq lo "$(ifaces "$(printf '%s\n' "$OUT" | sed '/^---$/,$d')")" "interfaces in /proc/net/dev"
  assert_eq lo "$(printf '%s\n' "$OUT" | sed -n '/^---$/{n;p}')" "ls /sys/class/net"
}

test_net_none_loopback_up() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ip link show lo; ip addr show lo' --net none
  assert_status 0
  assert_match '<[^>]*UP[^>]*>' "$OUT" "lo flags"
  assert_contains "$OUT" "127.0.0.1" "lo address"
}

test_net_none_loopback_works() {
  rootfs=$(fixture_rootfs busybox)
  # A listener and a client over 127.0.0.1 inside the container.
  # The client retries until the listener is up (no fixed sleep to race with).
  run_in "$rootfs" '(echo over-lo | nc -l -p 8123 127.0.0.1 &)
    for i in $(seq 50); do nc 127.0.0.1 8123 </dev/null 2>/dev/null && exit 0; sleep 0.1; done
    exit 1' --net none
  assert_status 0
  assert_eq over-lo "$OUT"
}

test_net_none_own_namespace() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'readlink /proc/self/ns/net' --net none
  assert_status 0
  assert_ne "$(readlink /proc/self/ns/net)" "$OUT" "net namespace"
}

test_net_host_shares_interfaces() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'cat /proc/net/dev' --net host
  assert_status 0
  assert_eq "$(ifaces "$(cat /proc/net/dev)")" "$(ifaces "$OUT")" "interfaces"
  run_in "$rootfs" 'readlink /proc/self/ns/net'
  assert_eq "$(readlink /proc/self/ns/net)" "$OUT" "net namespace by default"
}

test_net_invalid() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --net bridge --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" bridge "stderr"
}

run_tests
