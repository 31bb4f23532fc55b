#!/usr/bin/env bash
# guise build, as the unprivileged test user: layers carry the faked metadata, Containerfile
# features, reproducibility, and clear errors that tag nothing.
. "$(dirname "$0")/lib.sh"

# store_layers STORE NAME: "path mode uid:gid type [rdev] [cap=hex]" for every entry of every
# layer of the image NAME in STORE, one layer after the other (a "== layer N" line before each).
store_layers() {
  python3 - "$1" "$2" <<'PY'
import json, sys, tarfile
store, name = sys.argv[1], sys.argv[2]
idx = json.load(open(f"{store}/index.json"))
m = [d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == name]
if not m:
    sys.exit(f"no image {name} in {store}")
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
man = json.load(open(blob(m[0]["digest"])))
for i, layer in enumerate(man["layers"]):
    print(f"== layer {i}")
    for e in tarfile.open(blob(layer["digest"])).getmembers():
        kind = "d" if e.isdir() else "l" if e.issym() else "c" if e.ischr() else "b" if e.isblk() else "h" if e.islnk() else "f"
        extra = f" {e.devmajor},{e.devminor}" if kind in "cb" else ""
        cap = e.pax_headers.get("SCHILY.xattr.security.capability")
        if cap is not None:
            extra += " cap=" + cap.encode("latin1").hex()
        print(f"/{e.name.rstrip('/')} {e.mode:04o} {e.uid}:{e.gid} {kind}{extra}")
PY
}

# image_config STORE NAME: the image's config JSON.
image_config() {
  python3 - "$1" "$2" <<'PY'
import json, sys
store, name = sys.argv[1], sys.argv[2]
idx = json.load(open(f"{store}/index.json"))
m = [d for d in idx["manifests"] if d["annotations"]["org.opencontainers.image.ref.name"] == name][0]
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
man = json.load(open(blob(m["digest"])))
print(open(blob(man["config"]["digest"])).read())
PY
}

busybox_context() {
  [ -r "$GUISE_TEST_CACHE/busybox.tar" ] || skip "fixture busybox.tar missing"
  mkdir -p ctx
  cp "$GUISE_TEST_CACHE/busybox.tar" ctx/
}

test_run_layer_has_faked_metadata() {
  busybox_context
  cat >ctx/Containerfile <<'CF'
FROM scratch
ADD busybox.tar /
RUN mkdir /data && echo hi >/data/x && chown 12:34 /data/x && chmod 4755 /data/x \
    && mknod /data/null c 1 3 && mknod /data/sda b 8 0
CMD ["sh"]
CF
  run_guise build --root store -t t1 ctx
  assert_status 0
  assert_contains "$OUT" "STEP 3/4: RUN mkdir" "progress"
  layers=$(store_layers store localhost/t1:latest)
  assert_line "$layers" "/data/x 4755 12:34 f"
  assert_line "$layers" "/data/null 0644 0:0 c 1,3"
  assert_line "$layers" "/data/sda 0644 0:0 b 8,0"
  assert_contains "$(image_config store localhost/t1:latest)" '"Cmd":["sh"]' "config"
}

test_copy_chown_chmod_and_user() {
  busybox_context
  echo content >ctx/file.txt
  mkdir -p ctx/dir/sub && echo a >ctx/dir/sub/a
  cat >ctx/Containerfile <<'CF'
FROM scratch
ADD busybox.tar /
RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >>/etc/passwd && echo 'app:x:1000:' >>/etc/group \
    && mkdir -p /home/app && chown app:app /home/app
COPY --chown=app:app --chmod=0640 file.txt /srv/
COPY dir /opt/
USER app
WORKDIR /home/app
RUN touch mine && id -u >uid
CF
  run_guise build --root store -t t2 ctx
  assert_status 0
  layers=$(store_layers store localhost/t2:latest)
  assert_line "$layers" "/srv/file.txt 0640 1000:1000 f"
  assert_line "$layers" "/opt/sub/a 0644 0:0 f"
  assert_line "$layers" "/home/app/mine 0644 1000:1000 f"
  assert_line "$layers" "/home/app/uid 0644 1000:1000 f"
  config=$(image_config store localhost/t2:latest)
  assert_contains "$config" '"User":"app"' "config user"
  assert_contains "$config" '"WorkingDir":"/home/app"' "config workdir"
}

test_multistage_args_env() {
  busybox_context
  cat >ctx/Containerfile <<'CF'
ARG BASE=scratch
FROM $BASE AS builder
ADD busybox.tar /
ARG GREETING=hello
RUN echo "$GREETING" >/greeting
FROM scratch
COPY --from=builder /greeting /out/greeting
ENV A=1 B="two words"
LABEL org.example.k=v
EXPOSE 8080
CF
  run_guise build --root store -t t3 --build-arg GREETING=bonjour ctx
  assert_status 0
  layers=$(store_layers store localhost/t3:latest)
  assert_line "$layers" "/out/greeting 0644 0:0 f"
  assert_not_contains "$layers" "/bin/sh" "final stage has only its own files"
  config=$(image_config store localhost/t3:latest)
  assert_contains "$config" '"Env":["A=1","B=two words"]' "env"
  assert_contains "$config" '"org.example.k":"v"' "label"
  assert_contains "$config" '"8080/tcp":{}' "exposed port"
  python3 - store <<'PY' >greeting || fail "reading the layer"
import json, sys, tarfile
store = sys.argv[1]
idx = json.load(open(f"{store}/index.json"))
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
man = json.load(open(blob(idx["manifests"][0]["digest"])))
t = tarfile.open(blob(man["layers"][-1]["digest"]))
print(t.extractfile("out/greeting").read().decode().strip())
PY
  assert_eq bonjour "$(cat greeting)" "build arg reached RUN"
}

test_source_date_epoch_reproducible() {
  busybox_context
  printf 'FROM scratch\nADD busybox.tar /\nRUN mkdir /x && chown 5:5 /x\nCMD ["true"]\n' >ctx/Containerfile
  SOURCE_DATE_EPOCH=1700000000 run_guise build -q --root store1 -t r ctx
  assert_status 0
  first=$OUT
  SOURCE_DATE_EPOCH=1700000000 run_guise build -q --root store2 -t r ctx
  assert_status 0
  assert_eq "$first" "$OUT" "image id of two builds"
  assert_match '^sha256:[0-9a-f]{64}$' "$first" "-q prints only the id"
}

test_errors_tag_nothing() {
  busybox_context
  printf 'FROM scratch\nADD busybox.tar /\nRUN exit 3\n' >ctx/Containerfile
  run_guise build --root store -t bad ctx
  assert_ne 0 "$STATUS" "failing RUN"
  assert_contains "$ERR" "Containerfile:3: RUN exit 3" "names the step"
  assert_contains "$ERR" "status 3" "names the status"
  printf 'FROM scratch\nFROBNICATE\n' >ctx/Containerfile
  run_guise build --root store -t bad ctx
  assert_ne 0 "$STATUS" "unknown instruction"
  assert_contains "$ERR" "Containerfile:2: unknown instruction 'FROBNICATE'" "names it"
  printf 'FROM no-such-image\n' >ctx/Containerfile
  run_guise build --root store -t bad ctx
  assert_ne 0 "$STATUS" "missing base"
  assert_contains "$ERR" "no-such-image" "names the base"
  printf 'FROM scratch\nCOPY missing.txt /\n' >ctx/Containerfile
  run_guise build --root store -t bad ctx
  assert_ne 0 "$STATUS" "missing COPY source"
  assert_contains "$ERR" "missing.txt" "names the source"
  printf 'FROM scratch\nENV A="x\n' >ctx/Containerfile
  run_guise build --root store -t bad ctx
  assert_ne 0 "$STATUS" "malformed"
  assert_contains "$ERR" "Containerfile:2" "names the line"
  [ ! -e store/index.json ] || assert_not_contains "$(cat store/index.json)" "localhost/bad" "nothing tagged"
  [ -z "$(ls -d store/build.* 2>/dev/null)" ] || fail "build directories left behind: $(ls -d store/build.*)"
}

# The main job: an unprivileged Debian build with apt; setuid bits, group owners and file
# capabilities end up in the layer.
test_debian_apt_build() {
  [ -r "$GUISE_TEST_CACHE/bookworm-minbase.tar" ] || skip "fixture bookworm-minbase.tar missing"
  mkdir ctx
  # A hard link where the filesystem allows (the tarball is 180 MB), else a copy.
  ln "$GUISE_TEST_CACHE/bookworm-minbase.tar" ctx/base.tar 2>/dev/null ||
    cp "$GUISE_TEST_CACHE/bookworm-minbase.tar" ctx/base.tar
  cat >ctx/Containerfile <<'CF'
FROM scratch
ADD base.tar /
RUN apt-get update -q && apt-get install -y -q --no-install-recommends sudo iputils-ping cron \
    && rm -rf /var/lib/apt/lists/*
CF
  GUISE_TEST_TIMEOUT=600 run_guise build --root store -t deb ctx
  assert_status 0
  layers=$(store_layers store localhost/deb:latest)
  assert_line "$layers" "/usr/bin/sudo 4755 0:0 f"
  assert_match "/usr/bin/crontab 2755 0:[1-9][0-9]* f" "$layers" "crontab setgid crontab"
  assert_match "/usr/bin/ping 0755 0:0 f cap=0100000200200000" "$layers" "ping has cap_net_raw"
}

run_tests
