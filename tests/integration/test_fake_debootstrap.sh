#!/usr/bin/env bash
# Faking acceptance 4: `debootstrap --variant=minbase bookworm`, run inside `guise run` by the
# unprivileged user from a mirror on 127.0.0.1, completes, and the tree it made — seen through
# the faked view, device nodes included — equals the same debootstrap run as real root
# (tests/setup/debootstrap-repo.sh).  debootstrap chroots into its target for the second stage,
# so the faked calls made there must be resolved in the chroot: the smaller tests check that
# alone.
. "$(dirname "$0")/lib.sh"

MIRROR=$GUISE_TEST_CACHE/debootstrap-mirror
REFERENCE=$GUISE_TEST_CACHE/debootstrap-reference.txt

# What legitimately differs from the root run: logs and caches, the mirror's port in apt's list
# names, and the files debootstrap copies from the system it runs on (/etc/resolv.conf and
# /etc/hostname: guise's generated ones here, the host rootfs's there).
DEBOOTSTRAP_VOLATILE='^/var/(log|cache)/|^/var/lib/apt/lists/|^/etc/ld\.so\.cache |^[^ ]*(-|-old|machine-id) |^/etc/(hostname|resolv\.conf) '

# In a chroot, mknod and chown name files of the chroot, and the faked state is what the
# container sees at the chroot's path.
test_chroot_paths_faked() {
  rootfs=$(fixture_rootfs busybox)
  mkdir -p "$rootfs/sub/bin"
  cp "$rootfs/bin/busybox" "$rootfs/sub/bin/busybox"
  cat >"$rootfs/sub/t.sh" <<'EOF'
/bin/busybox mknod /null c 1 3 && /bin/busybox chown 7:8 /null && /bin/busybox stat -c '%t,%T %u:%g' /null
EOF
  run_in "$rootfs" 'chroot /sub /bin/busybox sh /t.sh && stat -c "%t,%T %u:%g" /sub/null && ! test -e /null'
  assert_status 0
  assert_eq "1,3 7:8
1,3 7:8" "$OUT" "the device and owner in the chroot, then outside it"
  run_in "$rootfs" 'stat -c "%F %t,%T %u:%g" /sub/null'
  assert_eq "character special file 1,3 7:8" "$OUT" "the device seen by a later container"
}

# A process that already had its root resolved chroots, then chowns: the new root counts.
test_chroot_after_faked_calls() {
  rootfs=$(fixture_rootfs bookworm)
  mkdir "$rootfs/sub"
  touch "$rootfs/sub/a" "$rootfs/sub/b"
  run_in "$rootfs" 'perl -e "chown(1, 1, q{/sub/a}) or die qq{chown a: \$!\n};
    chroot(q{/sub}) or die qq{chroot: \$!\n}; chown(2, 2, q{/b}) or die qq{chown b: \$!\n}" &&
    stat -c "%n %u:%g" /sub/a /sub/b'
  assert_status 0
  assert_eq "/sub/a 1:1
/sub/b 2:2" "$OUT" "owners set before and after chroot(2)"
}

test_debootstrap_matches_root() {
  [ -r "$REFERENCE" ] || skip "no debootstrap mirror (sudo bash tests/setup/debootstrap-repo.sh build/helpers/treelist)"
  serve_dir "$MIRROR"
  rootfs=$(fixture_rootfs debootstrap-host)
  GUISE_TEST_TIMEOUT=480 run_guise run --rootfs "$rootfs" -- \
    debootstrap --no-check-gpg --variant=minbase bookworm /target "http://127.0.0.1:$PORT/"
  assert_status 0
  assert_contains "$OUT" "I: Base system installed successfully."
  # debootstrap mounts /proc and /sys in the target and goes on when it cannot, as here: the
  # container has Docker's default capabilities, without CAP_SYS_ADMIN.
  case "$OUT$ERR" in
  *"Failure trying to run: chroot \"/target\" mount -t proc"*) note "proc not mounted in the target" ;;
  *) note "proc mounted in the target" ;;
  esac
  run_guise run -v "$(helper treelist):/treelist:ro" --rootfs "$rootfs" -- /treelist /target
  assert_status 0
  printf '%s\n' "$OUT" >tree.txt
  compare_tree tree.txt "$REFERENCE" "$DEBOOTSTRAP_VOLATILE"
  note "$DIFFS differences from the root debootstrap ($(wc -l <want.txt) files compared)"
  assert_eq 0 "$DIFFS" "differences from the root debootstrap"
  # The devices, explicitly: debootstrap mknods them (as faked device nodes here).
  grep '^/dev/' "$REFERENCE" >want-dev.txt
  grep '^/dev/' got.txt >got-dev.txt || true
  diff want-dev.txt got-dev.txt || fail "/dev of the target differs from the root debootstrap's"
  for dev in "/dev/null c 0666 0:0 1,3" "/dev/zero c 0666 0:0 1,5" "/dev/console c 0666 0:0 5,1" \
    "/dev/ptmx c 0666 0:0 5,2" "/dev/tty c 0666 0:0 5,0"; do
    assert_line "$(cat got-dev.txt)" "$dev" "device in the target"
  done
  # On disk they are placeholders: the user made no device node.
  [ -f "$rootfs/target/dev/null" ] && [ ! -c "$rootfs/target/dev/null" ] ||
    fail "expected a placeholder file for /target/dev/null on disk"
  run_guise db --rootfs "$rootfs" check
  assert_status 0
}

run_tests
