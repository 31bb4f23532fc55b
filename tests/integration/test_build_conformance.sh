#!/usr/bin/env bash
# guise build against what docker and buildah do with real-world Containerfiles (issue 20):
# each case is a minimal reproducer of a builder defect, on the busybox fixture as the base.
# Most checks run inside the build (a RUN that fails when the result is wrong); the image
# config is read with `guise inspect`.
. "$(dirname "$0")/lib.sh"

# busybox_base: localhost/busybox:latest in ./store (the busybox fixture, FROM scratch).
busybox_base() {
  mkdir -p base
  cp "$(_fixture_tarball busybox)" base/
  printf 'FROM scratch\nADD busybox.tar /\nCMD ["sh"]\n' >base/Containerfile
  run_guise build -q --root store -t busybox base
  assert_status 0
  mkdir -p ctx
}

# build ARGS...: guise build --root store ARGS... ctx
build() {
  run_guise build --root store "$@" ctx
}

# config IMAGE EXPR: a Python expression over the image config document c (its "config").
config() {
  run_guise inspect --root store "$1" >&2
  assert_status 0
  printf '%s\n' "$OUT" | python3 -c 'import json, sys
c = json.load(sys.stdin)[0]["Config"]["config"]
print(json.dumps(eval(sys.argv[1]), separators=(",", ":")))' "$2"
}

# 2. Stage names made of ARGs (before the first FROM) are known when planning the stages.
test_arg_built_stage_names() {
  busybox_base
  cat >ctx/Containerfile <<'CF'
ARG V=a
FROM busybox AS stage_a
RUN echo from-a >/marker
FROM busybox AS stage_b
RUN echo from-b >/marker
FROM stage_${V}
RUN test "$(cat /marker)" = from-a
CF
  build -t argstage
  assert_status 0
  build -t argstage --build-arg V=b
  assert_ne 0 "$STATUS" "V=b picks stage_b, whose marker differs"
  assert_contains "$ERR" 'RUN test "$(cat /marker)" = from-a: the command exited with status 1'
  # The platform arguments too, without an ARG (as BuildKit predefines them).
  cat >ctx/Containerfile <<'CF'
ARG TARGETARCH
FROM busybox AS platform-amd64
RUN echo amd64 >/arch
FROM busybox AS platform-arm64
RUN echo arm64 >/arch
FROM busybox AS platform-riscv64
RUN echo riscv64 >/arch
FROM platform-${TARGETARCH}
RUN test -s /arch
CF
  build -t platstage
  assert_status 0
}

# 3. ADD extracts every compression libarchive reads, not only gzip and zstd.
test_add_xz_bz2_archives() {
  busybox_base
  python3 - <<'PY'
import io, tarfile
for suffix, mode in (("xz", "w:xz"), ("bz2", "w:bz2")):
    with tarfile.open(f"ctx/rootfs.tar.{suffix}", mode) as t:
        data = f"packed with {suffix}\n".encode()
        f = tarfile.TarInfo(f"{suffix}/file"); f.size = len(data); f.uid = 5; f.gid = 6
        t.addfile(f, io.BytesIO(data))
PY
  cat >ctx/Containerfile <<'CF'
FROM busybox
ADD rootfs.tar.xz /opt/
ADD rootfs.tar.bz2 /opt/
RUN test "$(cat /opt/xz/file)" = "packed with xz" && test "$(cat /opt/bz2/file)" = "packed with bz2" \
    && test "$(stat -c %u:%g /opt/xz/file)" = 5:6
CF
  build -t archives
  assert_status 0
}

# 4. "." (and "dir/.") is a directory destination.
test_dot_destination() {
  busybox_base
  echo A >ctx/a
  echo B >ctx/b
  cat >ctx/Containerfile <<'CF'
FROM busybox
WORKDIR /app
COPY a b .
COPY a /app/sub/.
COPY b ./sub2/./
RUN test "$(cat /app/a)$(cat /app/b)$(cat /app/sub/a)$(cat /app/sub2/b)" = ABAB
CF
  build -t dot
  assert_status 0
}

# 5. The SELinux relabel options z and Z of RUN --mount are accepted and have no effect.
test_run_mount_selinux_options() {
  busybox_base
  echo bound >ctx/file
  cat >ctx/Containerfile <<'CF'
FROM busybox
RUN --mount=type=bind,source=file,target=/mnt/file,z \
    --mount=type=cache,target=/cache,Z test "$(cat /mnt/file)" = bound && touch /cache/x
CF
  build -t selinux
  assert_status 0
}

# 6. A dangling symlink in a destination is followed inside the rootfs: its target is made.
test_dangling_symlink_destinations() {
  busybox_base
  echo F >ctx/f
  cat >ctx/Containerfile <<'CF'
FROM busybox
RUN ln -s /data /src && ln -s ../work/dir /rel && ln -s /../../../escape /out
COPY f /src/
WORKDIR /rel/sub
COPY f /out/
RUN test "$(cat /data/f)" = F && test -d /work/dir/sub && test "$(cat /escape/f)" = F
CF
  build -t dangling
  assert_status 0
  [ ! -e /escape ] || fail "a destination symlink led out of the rootfs"
}

# 7. VOLUME makes its directory (root's, 0755) for the steps after it.
test_volume_makes_directory() {
  busybox_base
  cat >ctx/Containerfile <<'CF'
FROM busybox
VOLUME /data
VOLUME ["/var/lib/app"]
RUN chown nobody /data && test "$(stat -c '%a %U' /var/lib/app)" = "755 root"
CF
  build -t vol
  assert_status 0
  assert_eq '{"/data":{},"/var/lib/app":{}}' "$(config localhost/vol 'c["Volumes"]')" "Volumes"
  run_guise run --rm --root store localhost/vol stat -c '%F %a' /var/lib/app
  assert_status 0
  assert_eq "directory 755" "$OUT" "the directory is in the image"
}

# 8. -f - reads the Containerfile from standard input.
test_containerfile_on_stdin() {
  busybox_base
  printf 'FROM busybox\nRUN echo stdin >/from-stdin\n' >cf.txt
  RUN_STDIN=cf.txt build -t stdin -f -
  assert_status 0
  run_guise run --rm --root store localhost/stdin cat /from-stdin
  assert_eq stdin "$OUT" "the build used standard input's Containerfile"
  printf 'FROM busybox\nBOGUS x\n' >bad.txt
  RUN_STDIN=bad.txt build -f -
  assert_ne 0 "$STATUS" "a bad Containerfile on stdin"
  assert_contains "$ERR" "<stdin>:2: unknown instruction 'BOGUS'"
}

# 9. SHELL is kept in the image config (docker's Shell) and used by images built FROM it.
test_shell_saved_and_inherited() {
  busybox_base
  cat >ctx/Containerfile <<'CF'
FROM busybox
SHELL ["/bin/sh", "-c", "echo \"shell $0\" >>/shell-log; exec /bin/sh -c \"$0\""]
RUN true
CF
  build -t shellparent
  assert_status 0
  assert_eq '["/bin/sh","-c","echo \"shell $0\" >>/shell-log; exec /bin/sh -c \"$0\""]' \
    "$(config localhost/shellparent 'c.get("Shell")')" "config Shell"
  cat >ctx/Containerfile <<'CF'
FROM shellparent
RUN echo child
RUN grep -qx "shell echo child" /shell-log
CF
  build -t shellchild
  assert_status 0
}

# 10. Docker's parser takes flag values only after '=': the spaced spelling is an error naming
# the flag (not a missing source "1:1" or a strange destination).
test_flags_without_equals() {
  busybox_base
  echo x >ctx/f
  printf 'FROM busybox\nCOPY --chown 1:1 f /tmp/\n' >ctx/Containerfile
  build
  assert_ne 0 "$STATUS" "--chown 1:1"
  assert_contains "$ERR" "Containerfile:2: COPY flag --chown needs a value, written --chown=VALUE: 'COPY --chown 1:1 f /tmp/'"
  printf 'FROM busybox AS builder\nFROM busybox\nCOPY --from builder /a /b\n' >ctx/Containerfile
  build
  assert_ne 0 "$STATUS" "--from builder"
  assert_contains "$ERR" "COPY flag --from needs a value, written --from=VALUE"
  printf 'FROM busybox\nCOPY --link f /tmp/\n' >ctx/Containerfile
  build
  assert_status 0
}

# RUN --mount=type=cache,from=STAGE,source=DIR: the cache starts as a copy of the stage's DIR.
test_cache_mount_from_stage() {
  busybox_base
  cat >ctx/Containerfile <<'CF'
FROM busybox AS seed
RUN mkdir -p /seed/sub && echo seeded >/seed/sub/file
FROM busybox
RUN --mount=type=cache,from=seed,source=/seed,target=/cache \
    test "$(cat /cache/sub/file)" = seeded && echo more >>/cache/sub/file
RUN --mount=type=cache,from=seed,source=/seed,target=/cache \
    test "$(cat /cache/sub/file)" = "$(printf 'seeded\nmore')"
RUN --mount=type=cache,target=/c2,source=sub touch /c2/x
CF
  build -t cachefrom
  assert_status 0
}

# A repeated stage name is accepted (buildah accepts it, BuildKit warns): references resolve to
# the latest stage of that name before them, --target to the last.
test_repeated_stage_name() {
  busybox_base
  cat >ctx/Containerfile <<'CF'
FROM busybox AS dup
RUN echo first >/which
FROM busybox AS dup
RUN echo second >/which
FROM busybox
COPY --from=dup /which /which
RUN test "$(cat /which)" = second
CF
  build -t dup
  assert_status 0
  assert_contains "$OUT" "WARNING: ctx/Containerfile:3: duplicate stage name 'dup'"
  build -t duptarget --target dup
  assert_status 0
  run_guise run --rm --root store localhost/duptarget cat /which
  assert_eq second "$OUT" "--target names the last stage of the name"
}

# FROM scratch gets docker's default PATH in Env.
test_scratch_default_path() {
  busybox_base
  assert_eq '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' \
    "$(config localhost/busybox 'c["Env"]')" "Env of an image FROM scratch"
}

# COPY --from= the stage it is in names the mistake instead of pulling an image of that name.
test_copy_from_current_stage() {
  busybox_base
  echo x >ctx/f
  printf 'FROM busybox AS self\nCOPY --from=self /bin/sh /sh2\n' >ctx/Containerfile
  build
  assert_ne 0 "$STATUS" "COPY --from=self"
  assert_contains "$ERR" "--from=self: self is the stage this instruction is in; only earlier stages can be used"
  assert_not_contains "$ERR" "pull" "no registry pull"
}

run_tests
