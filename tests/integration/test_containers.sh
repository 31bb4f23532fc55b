#!/usr/bin/env bash
# Containers from images, as the unprivileged test user: guise run IMAGE applies the image's
# config in a container of its own (the image stays untouched), ps/rm, commit (one new layer
# with the faked owners, devices and whiteouts), export (a tar with the faked metadata), and
# clear errors.  The base images are built with guise build from the busybox fixture (no
# registry needed).
. "$(dirname "$0")/lib.sh"

# base_image: localhost/base (busybox, root, CMD sh) in ./store.
base_image() {
  local tarball
  tarball=$(_fixture_tarball busybox)
  mkdir -p base
  cp "$tarball" base/
  cat >base/Containerfile <<'CF'
FROM scratch
ADD busybox.tar /
CMD ["sh"]
CF
  run_guise build -q --root store -t base base
  assert_status 0
}

# config_image: localhost/cfg FROM base with a user, Env, WorkingDir, User, Cmd and
# StopSignal.
config_image() {
  base_image
  mkdir -p cfg
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >cfg/passwd
  printf 'root:x:0:\nstaff:x:50:app\napp:x:1000:\n' >cfg/group
  cat >cfg/Containerfile <<'CF'
FROM localhost/base
COPY passwd group /etc/
ENV GREETING=hello PATH=/usr/bin:/bin
WORKDIR /srv/app
USER app
STOPSIGNAL SIGUSR1
CMD ["sh", "-c", "echo $GREETING; pwd; id; echo home=$HOME"]
CF
  run_guise build -q --root store -t cfg cfg
  assert_status 0
}

# tar_listing ARCHIVE: "MODE OWNER PATH" lines of a tar, numeric owners; devices
# "MODE OWNER MAJ,MIN PATH".
tar_listing() {
  tar -tv --numeric-owner -f "$1" 2>/dev/null | awk '{ if ($1 ~ /^[bc]/) { print $1, $2, $3, $NF } else { print $1, $2, $NF } }'
}

# image_layers STORE NAME: the entries of every layer ("== layer N" before each), with the
# owner and type of each as written in its tar header.
image_layers() {
  python3 - "$@" <<'PY'
import json, sys, tarfile
store, name = sys.argv[1:3]
idx = json.load(open(f"{store}/index.json"))
m = [d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == name]
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
man = json.load(open(blob(m[0]["digest"])))
for i, layer in enumerate(man["layers"]):
    print(f"== layer {i}")
    for e in tarfile.open(blob(layer["digest"])).getmembers():
        kind = "d" if e.isdir() else "l" if e.issym() else "c" if e.ischr() else "b" if e.isblk() else "h" if e.islnk() else "f"
        extra = f" {e.devmajor},{e.devminor}" if kind in "cb" else ""
        print(f"/{e.name.rstrip('/')} {e.mode:04o} {e.uid}:{e.gid} {kind}{extra}")
print("== config")
print(open(blob(man["config"]["digest"])).read())
PY
}

test_run_applies_image_config() {
  config_image
  run_guise run --root store --name plain localhost/cfg
  assert_status 0
  assert_eq $'hello\n/srv/app\nuid=1000(app) gid=1000(app) groups=50(staff)\nhome=/home/app' "$OUT" \
    "Cmd run with the image's Env, WorkingDir and User"
  # COMMAND replaces Cmd; -e replaces an image variable; -w and -u (a name) replace theirs.
  run_guise run --root store --rm cfg sh -c 'echo $GREETING $PATH'
  assert_status 0
  assert_eq "hello /usr/bin:/bin" "$OUT" "COMMAND with the image's Env"
  run_guise run --root store --rm -e GREETING=bye -w /tmp -u root cfg sh -c 'echo $GREETING; pwd; id -u'
  assert_status 0
  assert_eq $'bye\n/tmp\n0' "$OUT" "-e, -w, -u over the image's"
  # The default hostname is the container's short id, as docker's.
  run_guise run --root store --name hn cfg hostname
  assert_status 0
  host=$OUT
  run_guise ps -a -q --root store
  assert_line "$OUT" "$host" "the hostname is the short id ps shows"
  # Entrypoint + Cmd, and COMMAND replacing only the Cmd.
  mkdir -p ep
  printf 'FROM localhost/base\nENTRYPOINT ["echo", "entry:"]\nCMD ["default"]\n' >ep/Containerfile
  run_guise build -q --root store -t ep ep
  assert_status 0
  run_guise run --root store --rm ep
  assert_eq "entry: default" "$OUT" "Entrypoint + Cmd"
  run_guise run --root store --rm ep one two
  assert_eq "entry: one two" "$OUT" "Entrypoint + COMMAND"
  # A user the image does not have is an error naming it, and leaves no container.
  before=$("$GUISE" ps -a -q --root store | wc -l)
  run_guise run --root store -u nosuch cfg true
  assert_status 125
  assert_contains "$ERR" "user 'nosuch' is not in the image's /etc/passwd"
  assert_eq "$before" "$("$GUISE" ps -a -q --root store | wc -l)" "containers after a failed run"
}

test_container_writes_leave_image_alone() {
  base_image
  run_guise run --root store --name w base sh -c '
    echo new >/etc/motd && rm /bin/arch && mkdir /data && echo x >/data/owned &&
    chown 1234:5678 /data/owned && mknod /data/sda b 8 0 && stat -c "%u:%g %t,%T" /data/owned /data/sda'
  assert_status 0
  assert_eq $'1234:5678 0,0\n0:0 8,0' "$OUT" "faked owner and device inside the container"
  # Its own rootfs keeps them: a second run of the same container is not possible (guise run
  # makes a new one), but the container's database has them (export shows it below).
  run_guise run --root store --rm base sh -c 'ls /etc/motd /data 2>&1; ls /bin/arch'
  assert_status 0
  assert_contains "$OUT" "No such file or directory" "a new container of the image"
  assert_contains "$OUT" "/bin/arch" "a file the other container deleted"
  assert_not_contains "$OUT" "owned" "a file the other container made"
  # The container is kept, stopped, with its exit code.
  run_guise ps -a --root store
  assert_match "Exited \(0\) +w$" "$OUT" "ps -a"
  run_guise ps --root store
  assert_not_contains "$OUT" " w" "ps without -a: only running containers"
  # Exit codes are recorded.
  run_guise run --root store --name three base sh -c 'exit 3'
  assert_status 3
  run_guise ps -a --root store
  assert_match "Exited \(3\) +three$" "$OUT" "exit code"
}

test_commit_and_export() {
  base_image
  run_guise run --root store --name w base sh -c '
    mkdir /data && echo x >/data/owned && chown 1234:5678 /data/owned && chmod 4750 /data/owned &&
    mknod /data/sda b 8 0 && rm /bin/arch && rm -r /var/log &&
    touch -r /etc/group /tmp/ref && printf ROOT | dd of=/etc/group conv=notrunc 2>/dev/null &&
    touch -r /tmp/ref /etc/group && rm /tmp/ref'
  assert_status 0
  export SOURCE_DATE_EPOCH=1700000000
  run_guise commit --root store -c 'CMD ["cat", "/etc/group"]' -c 'ENV FROM_COMMIT=yes' \
    -m "made by a test" -a "Tester" w snap
  assert_status 0
  assert_match "^sha256:[0-9a-f]{64}$" "$OUT" "image id"
  assert_contains "$ERR" "Successfully tagged localhost/snap:latest"
  layers=$(image_layers store localhost/snap:latest)
  # One new layer on top of the image's, with the faked metadata and whiteouts.
  assert_eq 2 "$(grep -c '^== layer' <<<"$layers")" "layers"
  new=$(sed -n '/^== layer 1$/,/^== config$/p' <<<"$layers")
  assert_line "$new" "/data/owned 4750 1234:5678 f"
  assert_line "$new" "/data/sda 0644 0:0 b 8,0"
  assert_match "^/bin/\.wh\.arch " "$new" "whiteout of a deleted file"
  assert_match "^/var/\.wh\.log " "$new" "one whiteout for a deleted directory"
  assert_not_contains "$new" "/var/log/" "nothing below a deleted directory"
  # A change in place that kept the size and the mtime is in the layer too.
  assert_line "$new" "/etc/group 0644 0:0 f"
  assert_not_contains "$new" "/etc/passwd" "an unchanged file"
  assert_not_contains "$new" "/tmp/ref" "a file made and deleted"
  config=$(sed -n '/^== config$/,$p' <<<"$layers")
  assert_contains "$config" '"Cmd":["cat","/etc/group"]' "--change CMD"
  assert_contains "$config" '"FROM_COMMIT=yes"' "--change ENV"
  assert_contains "$config" '"comment":"made by a test"' "--message"
  assert_contains "$config" '"author":"Tester"' "--author"
  assert_contains "$config" '"created":"2023-11-14T22:13:20Z"' "SOURCE_DATE_EPOCH"

  # A container of the new image sees all of it.
  run_guise run --root store --rm snap
  assert_status 0
  assert_contains "$OUT" "ROOT:x:0:" "Cmd from --change, content changed in place"
  run_guise run --root store --rm snap sh -c '
    stat -c "%u:%g %a" /data/owned; stat -c "%F %t,%T" /data/sda; ls /bin/arch /var/log 2>&1; echo $FROM_COMMIT'
  assert_status 0
  assert_line "$OUT" "1234:5678 4750"
  assert_line "$OUT" "block special file 8,0"
  assert_contains "$OUT" "/bin/arch: No such file or directory"
  assert_contains "$OUT" "/var/log: No such file or directory"
  assert_line "$OUT" "yes"

  # Without NAME: untagged, printed by id, usable by id.
  run_guise commit --root store w
  assert_status 0
  id=$OUT
  run_guise run --root store --rm "${id#sha256:}" sh -c 'stat -c %u:%g /data/owned'
  assert_status 0
  assert_eq "1234:5678" "$OUT" "a container of the untagged image"

  # export: the whole filesystem with the faked metadata, to stdout or -o FILE.
  "$GUISE" export --root store w >w.tar || fail "export to stdout failed"
  listing=$(tar_listing w.tar)
  assert_line "$listing" "-rwsr-x--- 1234/5678 data/owned"
  assert_line "$listing" "brw-r--r-- 0/0 8,0 data/sda"
  assert_line "$listing" "-rwxr-xr-x 0/0 bin/busybox"
  assert_no_line "$listing" "-rwxr-xr-x 0/0 bin/arch"
  run_guise export --root store -o out.tar w
  assert_status 0
  cmp w.tar out.tar || fail "export -o differs from export to stdout"
}

test_rm_and_running_containers() {
  base_image
  # --rm leaves nothing.
  run_guise run --root store --rm --name gone base true
  assert_status 0
  run_guise ps -a --root store
  assert_not_contains "$OUT" "gone" "a --rm container"
  [ -z "$(ls store/containers)" ] || fail "left in store/containers: $(ls -a store/containers)"
  # A running one: listed by ps, not removed without -f.
  start_guise run --root store --name busy base sleep 60
  on_exit kill "$GUISE_PID"
  for i in $(seq 100); do
    "$GUISE" ps --root store | grep -q " busy$" && break
    sleep 0.1
  done
  run_guise ps --root store
  assert_match "Up +busy$" "$OUT" "ps shows the running container"
  run_guise rm --root store busy
  assert_status 1
  assert_contains "$ERR" "container busy is running"
  run_guise ps --root store
  assert_match "Up +busy$" "$OUT" "still running after rm without -f"
  # rm -f stops it (SIGTERM: the image has no StopSignal) and removes it.
  run_guise rm -f --root store busy
  assert_status 0
  assert_eq "busy" "$OUT" "rm prints what it removed"
  wait_guise 20
  assert_status 143
  run_guise ps -a --root store
  assert_not_contains "$OUT" "busy" "removed"
  # Names and id prefixes; several at once.
  run_guise run --root store --name a1 base true
  run_guise run --root store --name a2 base true
  id=$("$GUISE" ps -a -q --root store | head -1)
  run_guise rm --root store "${id:0:6}" a2
  assert_status 0
  run_guise ps -a -q --root store
  assert_eq "" "$OUT" "containers after rm of all"
}

test_errors() {
  base_image
  # An image that is not there, with --pull=never: named, nothing made.
  run_guise run --root store --pull=never localhost/nosuch:latest true
  assert_status 125
  assert_contains "$ERR" "image localhost/nosuch:latest is not in the store (and --pull=never)"
  [ ! -d store/containers ] || [ -z "$(ls store/containers)" ] || fail "a container was made"
  # A name in use.
  run_guise run --root store --name dup base true
  assert_status 0
  run_guise run --root store --name dup base true
  assert_status 125
  assert_contains "$ERR" "the container name dup is already in use"
  assert_eq 1 "$("$GUISE" ps -a -q --root store | wc -l)" "containers"
  run_guise run --root store --name 'bad/name' base true
  assert_status 125
  assert_contains "$ERR" "--name bad/name"
  # Options that are for images only.
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rm --rootfs "$rootfs" true
  assert_status 125
  assert_contains "$ERR" "--rm is for an IMAGE"
  # Unknown containers.
  for cmd in rm commit export; do
    run_guise $cmd --root store nosuch
    [ "$STATUS" != 0 ] || fail "$cmd of an unknown container succeeded"
    assert_contains "$ERR" "no container nosuch in store"
  done
  run_guise commit --root store -c 'RUN true' dup
  assert_status 125
  assert_contains "$ERR" "--change 'RUN true': 'RUN' is not a config instruction"
  # Concurrent creation: every container gets its own directory and name.
  for i in 1 2 3; do
    "$GUISE" run --root store --name "par$i" base true &
  done
  wait
  run_guise ps -a --root store
  for i in 1 2 3; do assert_match "Exited \(0\) +par$i$" "$OUT" "par$i"; done
  # The last name of an image containers use goes only with --force (as docker); a second
  # name can go.  prune keeps what containers use even when their image has no name any more.
  run_guise tag --root store localhost/base:latest localhost/base:other
  assert_status 0
  run_guise rmi --root store localhost/base:other
  assert_status 0
  run_guise rmi --root store localhost/base:latest
  assert_status 1
  assert_match "rmi localhost/base:latest: container [a-z0-9]+ \([0-9a-f]{12}\) uses this image \(guise rm it first, or guise rmi --force\)" "$ERR" "in use"
  run_guise images --root store
  assert_contains "$OUT" "localhost/base"
  run_guise rmi --root store --force localhost/base:latest
  assert_status 0
  run_guise prune --root store
  assert_status 0
  run_guise commit --root store dup after-prune
  assert_status 0
}

run_tests
