#!/usr/bin/env bash
# guise run: namespaces, id mapping, capabilities, no_new_privs, rlimits, masked and
# read-only paths, /dev.
. "$(dirname "$0")/lib.sh"

DOCKER_DEFAULT_CAPS=00000000a80425fb

# cap_field TEXT NAME: the hex value of NAME (CapBnd, ...) in a /proc/PID/status dump.
cap_field() {
  printf '%s\n' "$1" | awk -v f="$2:" '$1 == f { print $2 }'
}

test_user_namespace_single_mapping() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups'
  assert_status 0
  lines=$(printf '%s\n' "$OUT" | awk '{ $1 = $1; print }')
  assert_eq "0 $(id -u) 1"$'\n'"0 $(id -g) 1"$'\n'"deny" "$lines" "uid_map, gid_map, setgroups"
}

test_namespaces_are_new() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'for ns in user mnt pid ipc uts cgroup net; do echo "$ns $(readlink /proc/self/ns/$ns)"; done'
  assert_status 0
  for ns in user mnt pid ipc uts cgroup; do
    inside=$(printf '%s\n' "$OUT" | awk -v ns="$ns" '$1 == ns { print $2 }')
    [ -n "$inside" ] || fail "no $ns namespace link inside: $OUT"
    assert_ne "$(readlink /proc/self/ns/$ns)" "$inside" "$ns namespace"
  done
  # --net host (the default) shares the network namespace.
  inside=$(printf '%s\n' "$OUT" | awk '$1 == "net" { print $2 }')
  assert_eq "$(readlink /proc/self/ns/net)" "$inside" "net namespace with --net host"
}

test_default_capabilities() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- grep Cap /proc/self/status
  assert_status 0
  assert_eq "$DOCKER_DEFAULT_CAPS" "$(cap_field "$OUT" CapBnd)" "CapBnd"
  assert_eq "$DOCKER_DEFAULT_CAPS" "$(cap_field "$OUT" CapEff)" "CapEff"
  assert_eq "$DOCKER_DEFAULT_CAPS" "$(cap_field "$OUT" CapPrm)" "CapPrm"
  assert_eq 0000000000000000 "$(cap_field "$OUT" CapAmb)" "CapAmb"
}

test_cap_drop_all() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --cap-drop ALL --rootfs "$rootfs" -- grep Cap /proc/self/status
  assert_status 0
  for f in CapBnd CapEff CapPrm CapInh CapAmb; do
    assert_eq 0000000000000000 "$(cap_field "$OUT" $f)" "$f"
  done
}

test_cap_add_sys_admin() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --cap-add SYS_ADMIN --rootfs "$rootfs" -- grep Cap /proc/self/status
  assert_status 0
  # bit 21 = CAP_SYS_ADMIN
  assert_eq 00000000a82425fb "$(cap_field "$OUT" CapBnd)" "CapBnd"
  assert_eq 00000000a82425fb "$(cap_field "$OUT" CapEff)" "CapEff"
}

test_cap_add_with_prefix_and_drop() {
  rootfs=$(fixture_rootfs busybox)
  # CAP_ prefix accepted; dropping NET_RAW (bit 13) and CHOWN (bit 0).
  run_guise run --cap-add CAP_SYS_PTRACE --cap-drop NET_RAW --cap-drop chown \
    --rootfs "$rootfs" -- grep CapBnd /proc/self/status
  assert_status 0
  # a80425fb + (1<<19) - (1<<13) - 1 = a80c05fa
  assert_eq 00000000a80c05fa "$(cap_field "$OUT" CapBnd)" "CapBnd"
}

test_cap_unknown_rejected() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --cap-add NOT_A_CAP --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" NOT_A_CAP "stderr"
}

test_capabilities_work_inside() {
  rootfs=$(fixture_rootfs busybox)
  # CAP_CHOWN to ourselves and CAP_DAC_OVERRIDE on a mode-000 file work for mapped ids.
  run_in "$rootfs" 'echo x >/tmp/f; chmod 000 /tmp/f; cat /tmp/f; chown 0:0 /tmp/f && echo chowned'
  assert_status 0
  assert_eq $'x\nchowned' "$OUT"
  run_in "$rootfs" 'echo x >/tmp/f; chmod 000 /tmp/f; cat /tmp/f' --cap-drop DAC_OVERRIDE
  assert_status 1
  assert_contains "$ERR" "Permission denied"
}

test_no_new_privs_default_on() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- grep NoNewPrivs /proc/self/status
  assert_status 0
  assert_match '^NoNewPrivs:[[:space:]]+1$' "$OUT" "NoNewPrivs"
}

test_no_new_privs_can_be_disabled() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --security-opt no-new-privileges=false --rootfs "$rootfs" -- grep NoNewPrivs /proc/self/status
  assert_status 0
  assert_match '^NoNewPrivs:[[:space:]]+0$' "$OUT" "NoNewPrivs"
  run_guise run --security-opt no-new-privileges --rootfs "$rootfs" -- grep NoNewPrivs /proc/self/status
  assert_match '^NoNewPrivs:[[:space:]]+1$' "$OUT" "NoNewPrivs"
}

test_ulimit_nofile() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ulimit -n; ulimit -Hn; grep "open files" /proc/self/limits' --ulimit nofile=100:200
  assert_status 0
  assert_eq 100 "$(printf '%s\n' "$OUT" | sed -n 1p)" "soft nofile"
  assert_eq 200 "$(printf '%s\n' "$OUT" | sed -n 2p)" "hard nofile"
  assert_match 'Max open files +100 +200 ' "$OUT" "/proc/self/limits"
}

test_ulimit_soft_only_and_bad() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ulimit -n; ulimit -Hn' --ulimit nofile=64
  assert_status 0
  assert_eq $'64\n64' "$OUT" "nofile=64 sets soft and hard"
  run_guise run --ulimit nofile=300:200 --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "nofile" "stderr"
  run_guise run --ulimit bogus=1 --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "bogus" "stderr"
}

test_masked_paths_read_empty() {
  rootfs=$(fixture_rootfs busybox)
  checked=""
  for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats \
    /proc/timer_stats; do
    [ -e "$p" ] && checked="$checked $p"
  done
  [ -n "$checked" ] || skip "none of the masked /proc files exists on this kernel"
  # Masked = /dev/null bound over it: readable (even /proc/timer_list, root-only on the host,
  # and /proc/kcore), empty, and a mount point.
  run_in "$rootfs" "set -o pipefail; for p in $checked; do
      n=\$(cat \$p | wc -c) && echo \"\$p \$n\"
      awk -v p=\$p '\$5 == p { print \"mounted\", p }' /proc/self/mountinfo | tail -1
    done"
  assert_status 0
  for p in $checked; do
    assert_line "$OUT" "$p 0" "bytes read from $p"
    assert_line "$OUT" "mounted $p" "a mount over $p"
  done
  # A masked directory is empty (runc mounts a read-only tmpfs there).
  if [ -d /proc/scsi ] || [ -d /proc/acpi ]; then
    run_in "$rootfs" 'ls -A /proc/acpi /proc/scsi 2>/dev/null | grep -v ":$" | grep . || echo empty'
    assert_eq empty "$OUT" "masked /proc/acpi and /proc/scsi"
  fi
}

test_proc_readonly_paths() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
      [ -e $p ] || continue
      opts=$(awk -v p=$p '\''$5 == p { print $6 }'\'' /proc/self/mountinfo | tail -1)
      echo "$p $opts"
    done
    { echo 1 >/proc/sys/kernel/ns_last_pid; } 2>&1 || true'
  assert_status 0
  for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
    [ -e "$p" ] || continue
    line=$(printf '%s\n' "$OUT" | awk -v p="$p" '$1 == p')
    assert_match "^$p (ro|ro,.*)$" "$line" "mount options of $p"
  done
  assert_contains "$OUT" "Read-only file system" "writing /proc/sys"
}

test_sys_is_readonly() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ls /sys | head -3; touch /sys/x 2>&1; mkdir /sys/fs/cgroup/x 2>&1; true'
  assert_status 0
  assert_contains "$OUT" "Read-only file system" "touch /sys/x"
  [ "$(printf '%s\n' "$OUT" | grep -c 'Read-only file system')" -ge 2 ] ||
    fail "/sys/fs/cgroup writable: $OUT"
  assert_contains "$OUT" "class" "/sys is populated"
}

test_dev_is_minimal() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ls -A /dev; echo ---; ls -A /dev/pts; echo ---; for l in fd stdin stdout stderr; do readlink /dev/$l; done'
  assert_status 0
  devs=$(printf '%s\n' "$OUT" | sed -n '1,/^---$/p' | grep -v '^---$')
  for d in null zero full random urandom tty pts ptmx shm mqueue fd stdin stdout stderr; do
    assert_line "$devs" "$d" "/dev"
  done
  for d in $devs; do
    case "$d" in
    null | zero | full | random | urandom | tty | pts | ptmx | shm | mqueue | fd | stdin | stdout | stderr | console | core) ;;
    .guise-delegate) ;; # guise's own: the faking supervisor's channel for a nested guise
    *) fail "unexpected /dev/$d (host devices must not leak in): $devs" ;;
    esac
  done
  assert_contains "$OUT" /proc/self/fd "/dev/fd link"
  assert_contains "$OUT" /proc/self/fd/0 "/dev/stdin link"
}

test_dev_nodes_work() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo gone >/dev/null && echo null-ok
    head -c 4 /dev/zero | od -An -tx1 | tr -d " "
    head -c 16 /dev/urandom | wc -c
    echo x >/dev/full 2>/dev/null || echo full-enospc
    echo shm >/dev/shm/f && cat /dev/shm/f'
  assert_status 0
  assert_eq $'null-ok\n00000000\n16\nfull-enospc\nshm' "$OUT"
}

run_tests
