#!/usr/bin/env bash
# Running without namespaces (--isolation=none, and auto where no user namespace can be made):
# the tracer shows the rootfs as / by path translation.  "User namespaces refused" is made by
# the helper nouserns (a user namespace of its own whose user.max_user_namespaces is 0), so the
# machine-wide sysctl is never touched: guise inside finds it cannot make one and falls back.
. "$(dirname "$0")/lib.sh"

# Make run_guise run guise under nouserns (--seccomp: Docker's way, see the helper).
refuse_userns() {
  local nouserns real=$GUISE
  nouserns=$(helper nouserns)
  printf '#!/bin/sh\nexec %q %s %q "$@"\n' "$nouserns" "${1:-}" "$real" >"$TEST_TMP/guise-nouserns"
  chmod +x "$TEST_TMP/guise-nouserns"
  GUISE=$TEST_TMP/guise-nouserns
}

test_nons_condition_is_real() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  run_guise run --isolation=namespaces --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "create the container's namespaces" "namespaces refused under nouserns"
  "$(helper nouserns)" unshare --user true 2>/dev/null && fail "unshare --user worked under nouserns"
  true
}

test_nons_auto_shows_rootfs_as_root() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo hi >/x; cat /x; ls /; readlink /proc/self/exe; cd /tmp && pwd'
  assert_status 0
  assert_contains "$ERR" "cannot create a user namespace" "the fallback is noticed"
  assert_contains "$ERR" "no security boundary" "the notice says what is not isolated"
  assert_eq 1 "$(printf '%s\n' "$ERR" | grep -c 'notice')" "one notice"
  assert_line "$OUT" "hi"
  assert_line "$OUT" "linuxrc"
  assert_line "$OUT" "/bin/busybox"
  assert_line "$OUT" "/tmp"
  assert_eq "hi" "$(cat "$rootfs/x")" "the file landed in the rootfs"
}

test_nons_chown_recorded_under_guest_path() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo x >/x; chown 123:456 /x; stat -c %u:%g /x; ln /x /xl; stat -c %h /x'
  assert_status 0
  assert_line "$OUT" "123:456"
  assert_line "$OUT" "2"
  assert_eq "$(id -u):$(id -g)" "$(stat -c %u:%g "$rootfs/x")" "owner on disk"
  run_guise db --rootfs "$rootfs" ls
  assert_status 0
  assert_match '123:456 .*uid,gid +/x$' "$OUT" "the database row under the guest path"
  run_guise db --rootfs "$rootfs" why /x
  assert_status 0
  assert_match ' /bin/busybox +chown: owner 0:0 -> 123:456' "$OUT" "the guest's program named"
}

test_nons_cwd_and_renames() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  # -P: the shell's own $PWD is not what is tested, getcwd is.
  run_in "$rootfs" 'mkdir -p /d/e && cd /d/e && mv /d /f && pwd -P && readlink /proc/self/cwd &&
    cd -P .. && pwd -P && cd -P ../../../.. && pwd -P && ls'
  assert_status 0
  assert_eq "/f/e
/f/e
/f
/" "$(printf '%s\n' "$OUT" | head -4)" "cwd across a rename and .. at the root"
  assert_line "$OUT" "linuxrc"
}

test_nons_escapes_stay_inside() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  echo keep >"$TEST_TMP/sentinel"
  local s=$TEST_TMP/sentinel
  run_in "$rootfs" "
    ln -s / /abs; ln -s ../../../../../../../../.. /up; mkdir -p /a/b
    for p in ../../../../../../../..$s /abs/../..$s /up$s /a/b/../../../..$s /proc/self/root$s \
             /proc/1/root$s /proc/self/cwd/../../..$s /proc/self/root/../..$s /dev/../..$s; do
      cat \$p 2>/dev/null && echo LEAK \$p
      echo pwned 2>/dev/null >\$p
      chmod 000 \$p 2>/dev/null; rm -f \$p 2>/dev/null; ln -s x \$p 2>/dev/null
    done
    cd -P /up && pwd -P
    true"
  assert_status 0
  assert_not_contains "$OUT" "LEAK" "a path outside the rootfs was read"
  assert_line "$OUT" "/"
  assert_eq keep "$(cat "$s")" "sentinel content"
  assert_eq 644 "$(stat -c %a "$s")" "sentinel mode"
}

test_nons_bookworm_runs_its_own_libc() {
  refuse_userns
  rootfs=$(fixture_rootfs bookworm)
  run_in "$rootfs" 'ls /usr/share/doc/dpkg >/dev/null && echo ls-ok; dpkg --version | head -1;
    apt-get --version | head -1; readlink /proc/self/exe; grep -m1 "libc\.so" /proc/self/maps'
  assert_status 0
  assert_line "$OUT" "ls-ok"
  assert_contains "$OUT" "Debian 'dpkg' package management program version 1.21"
  assert_contains "$OUT" "apt 2.6"
  assert_line "$OUT" "/usr/bin/readlink"
  assert_contains "$OUT" "$rootfs/usr/lib/x86_64-linux-gnu/libc.so.6" "the rootfs's libc is mapped"
}

# An AF_UNIX socket whose host path is longer than sun_path's 108 bytes (the rootfs lies deep).
test_nons_long_unix_socket_path() {
  refuse_userns
  rootfs=$(fixture_rootfs bookworm)
  dir=/tmp/$(printf 'd%.0s' $(seq 60))
  mkdir -p "$rootfs$dir"
  [ ${#rootfs} -gt 30 ] || skip "the rootfs path is too short to test this"
  run_guise run --rootfs "$rootfs" -- perl -e '
    use IO::Socket::UNIX; my $p = shift;
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $p, Listen => 1) or die "bind: $!";
    if (fork == 0) {
      my $c = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $p) or die "connect: $!";
      print $c "hello\n"; exit 0;
    }
    my $a = $s->accept; print scalar <$a>; wait;' "$dir/sock"
  assert_status 0
  assert_eq hello "$OUT" "a message over the socket"
  [ -S "$rootfs$dir/sock" ] || fail "the socket is not in the rootfs"
}

test_nons_shebang_chain() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  mkdir -p "$rootfs/s"
  printf '#!/bin/sh\necho "inner $0 $*"\n' >"$rootfs/s/e"
  printf '#!/s/e from-d\n' >"$rootfs/s/d"
  printf '#!/s/d\n' >"$rootfs/s/c"
  printf '#!/s/c\n' >"$rootfs/s/b"
  printf '#!/s/b\n' >"$rootfs/s/a"
  printf '#!/s/a\n' >"$rootfs/s/too-deep"
  chmod +x "$rootfs"/s/*
  run_guise run --rootfs "$rootfs" -- /s/a arg
  assert_status 0
  assert_eq "inner /s/e from-d /s/d /s/c /s/b /s/a arg" "$OUT" "5 interpreters found in the rootfs"
  run_guise run --rootfs "$rootfs" -- /s/too-deep
  assert_status 126
  assert_contains "$ERR" "Too many levels of symbolic links" "ELOOP past 5, as the kernel"
}

# The faking itself under translation: credentials, threads (glibc's set*id broadcast), files.
test_nons_fakeprobe() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  cp "$(helper fakeprobe)" "$rootfs/fakeprobe"
  run_guise run --rootfs "$rootfs" -- /fakeprobe
  assert_status 0
  assert_line "$OUT" "verify: ok"
  run_guise run --rootfs "$rootfs" -- /fakeprobe threads 8
  assert_status 0
  assert_eq 8 "$(printf '%s\n' "$OUT" | grep -c '^thread .* uid=42,42,42 gid=65534')" "threads dropped"
  run_guise run --rootfs "$rootfs" -- sh -c 'mkdir /probe && /fakeprobe files /probe'
  assert_status 0
  assert_line "$OUT" "sda block 0:0 0640 8:0"
  assert_line "$OUT" "mode0 file 100:65534 0000 0:0"
}

# Under a Docker-like seccomp profile instead: clone/unshare with CLONE_NEWUSER and
# process_vm_readv/writev and pidfd_getfd refused (the tracer reads and writes through
# /proc/PID/mem, and gets descriptors through /proc/PID/fd: cp's fstat of what it opened).
test_nons_docker_like_seccomp() {
  refuse_userns --seccomp
  rootfs=$(fixture_rootfs busybox)
  cp "$(helper fakeprobe)" "$rootfs/fakeprobe"
  run_in "$rootfs" 'cd /tmp && pwd; readlink /proc/self/exe; mkdir /probe && /fakeprobe files /probe && cp /probe/f /copied && echo copied'
  assert_status 0
  assert_contains "$ERR" "cannot create a user namespace (Operation not permitted)" "the fallback"
  assert_line "$OUT" "copied"
  assert_line "$OUT" "/tmp"
  assert_line "$OUT" "/bin/busybox"
  assert_line "$OUT" "sda block 0:0 0640 8:0"
  assert_line "$OUT" "f file 12:34 0644 0:0"
}

# dpkg's way under Docker's profile, where pidfd_getfd is refused too: a file created with mode
# 0, then fchown and fchmod on its descriptor.  The supervisor may not open such a file again
# (no CAP_DAC_OVERRIDE without a user namespace) and works on an O_PATH copy of the descriptor,
# which must not be taken for an O_PATH descriptor of the caller's (EBADF: "error setting
# ownership of './etc/cron.d/.placeholder': Bad file descriptor").
test_nons_docker_like_fd_calls_on_mode_0_file() {
  refuse_userns --seccomp
  rootfs=$(fixture_rootfs bookworm)
  run_in "$rootfs" 'perl -MFcntl -e '"'"'sysopen(my $f, "/z", O_WRONLY|O_CREAT|O_EXCL, 0) or die "open: $!";
    chown(123, 456, $f) or die "fchown: $!"; chmod(0640, $f) or die "fchmod: $!"'"'"' &&
    stat -c "%u:%g %a" /z'
  assert_status 0
  assert_line "$OUT" "123:456 640"
}

# Asked for where namespaces would work: no fallback notice, translation all the same.
test_nons_explicit_option() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --isolation=none --rootfs "$rootfs" -- sh -c 'grep -c . /proc/self/uid_map; readlink /proc/self/root'
  assert_status 0
  assert_not_contains "$ERR" "cannot create a user namespace" "no fallback"
  assert_contains "$ERR" "running without namespaces" "the notice"
  assert_line "$OUT" "/"
  run_guise run --isolation=sometimes --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "parsing isolation sometimes failed" "bad value named"
}

# A RUN step built without namespaces gives the layer the namespaces give (owners, modes,
# setuid bits, devices, hard and symbolic links; mtimes aside).
test_nons_build_layer_equals_namespaces() {
  mkdir ctx
  cp "$(_fixture_tarball busybox)" ctx/base.tar
  cat >ctx/Containerfile <<'CF'
FROM scratch
ADD base.tar /
RUN mkdir /made && chown 3:4 /made && echo x >/made/f && chmod 4755 /made/f && ln /made/f /made/hl \
    && mknod /made/null c 1 3 && ln -s ../bin/busybox /made/l && chown -h 5:6 /made/l && rm /bin/true
CF
  layer_listing() { # ARCHIVE: the RUN layer's entries without their times
    tar -xOf "$1" manifest.json >manifest.json
    local layer
    layer=$(python3 -c 'import json; print(json.load(open("manifest.json"))[0]["Layers"][1])')
    tar -xOf "$1" "$layer" | tar -tv --numeric-owner | awk '{ $4 = ""; $5 = ""; print }' | LC_ALL=C sort
  }
  GUISE_TEST_TIMEOUT=300 run_guise build --root store-ns --output docker-archive:ns.tar -t l ctx
  assert_status 0
  layer_listing ns.tar >ns.txt
  refuse_userns
  GUISE_TEST_TIMEOUT=300 run_guise build --root store-none --output docker-archive:none.tar -t l ctx
  assert_status 0
  assert_contains "$ERR" "cannot create a user namespace" "built without namespaces"
  layer_listing none.tar >none.txt
  assert_contains "$(cat ns.txt)" "3/4" "the namespaces' layer has the chown"
  diff ns.txt none.txt || fail "the layers differ: $(diff ns.txt none.txt | head -5)"
}

test_nons_fake_rootfs_isolation_none() {
  rootfs=$(fixture_rootfs busybox)
  run_guise fake --rootfs "$rootfs" --isolation=none -- sh -c 'touch /made; chown 7:8 /made; stat -c %u:%g /made; ls /linuxrc'
  assert_status 0
  assert_line "$OUT" "7:8"
  assert_line "$OUT" "/linuxrc"
  [ -f "$rootfs/made" ] || fail "/made is not in the rootfs"
  run_guise db --rootfs "$rootfs" show /made
  assert_status 0
  assert_contains "$OUT" "7" "recorded owner"
}

test_nons_untranslated_calls_refused() {
  refuse_userns
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'chroot / true || echo chroot-failed; mount -t tmpfs none /mnt || echo mount-failed'
  assert_status 0
  assert_line "$OUT" "chroot-failed"
  assert_line "$OUT" "mount-failed"
  assert_contains "$ERR" "change root directory to '/': Function not implemented" "chroot: ENOSYS"
  assert_contains "$ERR" "on /mnt failed: Function not implemented" "mount: ENOSYS"
}

# The apt acceptance install without namespaces must give the root install's tree, with no
# option: dpkg's write-back pass reopens every unpacked file for writing, a 0440 conffile
# (sudo's /etc/sudoers.d/README) included, which needs root's DAC override emulated.
test_nons_apt_install_matches_root() {
  refuse_userns
  serve_apt_repo
  rootfs=$(fixture_rootfs_faked bookworm)
  echo "deb [trusted=yes] http://127.0.0.1:$PORT/ ./" >"$rootfs/etc/apt/sources.list"
  GUISE_TEST_TIMEOUT=900 run_in "$rootfs" "apt-get update -q && apt-get install -y -q $APT_PACKAGES"
  assert_status 0
  assert_root_install "$rootfs"
  # sudo makes itself non-dumpable, which would put it out of the tracer's reach.
  run_in "$rootfs" 'sudo -u nobody id -u; ls -l /usr/bin/sudo'
  assert_status 0
  assert_line "$OUT" "65534"
  assert_match '^-rwsr-xr-x 1 root root .* /usr/bin/sudo$' "$OUT" "sudo's owner and setuid bit"
}

run_tests
