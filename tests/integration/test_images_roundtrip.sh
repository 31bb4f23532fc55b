#!/usr/bin/env bash
# The image round trip with real root on both ends: the special-file image (tests/setup/
# special.sh: busybox plus devices, a fifo, setuid/setgid files, a file capability, other
# owners, symlinks and hard links), made into an OCI layout by umoci as root, is pushed by
# skopeo to a loopback registry; guise, unprivileged, pulls it and its containers see what root
# made; guise pushes it back (as pulled, and as a layer guise wrote itself), skopeo copies
# that to an OCI layout, and umoci unpacks it as root in the root verification phase
# (tests/setup/root-verify.sh): owners, modes, devices, capabilities and links equal the original.
. "$(dirname "$0")/lib.sh"

SPECIAL_LAYOUT=$GUISE_TEST_CACHE/special-oci.tar
SPECIAL_REFERENCE=special-reference.txt

# special_up: a registry with special:latest pushed by skopeo from umoci's layout, and a store
# in GUISE_ROOT.
special_up() {
  [ -r "$GUISE_TEST_CACHE/$SPECIAL_REFERENCE" ] && [ -r "$SPECIAL_LAYOUT" ] ||
    skip "special image missing (sudo bash tests/setup/special.sh build/helpers/treelist)"
  start_registry
  mkdir umoci-layout
  tar -xf "$SPECIAL_LAYOUT" -C umoci-layout
  skopeo copy --quiet --dest-tls-verify=false oci:umoci-layout:latest "docker://$REG/special:latest" ||
    fail "skopeo could not push the special image"
  export GUISE_ROOT=$TEST_TMP/store
  export XDG_RUNTIME_DIR=$TEST_TMP/run
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
  run_guise pull -q "docker://$REG/special:latest"
  assert_status 0
}

# push_and_request NAME IMAGE: guise push IMAGE to the registry as roundtrip/NAME:v1, skopeo
# copies it into an OCI layout, which root-verify unpacks as root.
push_and_request() {
  run_guise push "$2" "docker://$REG/roundtrip/$1:v1"
  assert_status 0
  skopeo copy --quiet --src-tls-verify=false "docker://$REG/roundtrip/$1:v1" "oci:pushed-$1:v1" ||
    fail "skopeo could not copy roundtrip/$1:v1 back"
  request_root_verify "$1" "pushed-$1" v1 "$SPECIAL_REFERENCE" exact
}

test_pulled_image_shows_root_metadata() {
  special_up
  treelist=$(helper treelist)
  run_guise inspect special
  assert_status 0
  rootfs=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"])')
  run_guise run -v "$treelist:/treelist:ro" --rootfs "$rootfs" -- /treelist -n /
  assert_status 0
  printf '%s\n' "$OUT" >tree.txt
  # The runtime mounts /dev, /proc, /sys and the /etc/host* files; the special files are elsewhere.
  compare_tree tree.txt "$GUISE_TEST_CACHE/$SPECIAL_REFERENCE"
  note "$DIFFS differences from root's tree"
  assert_eq 0 "$DIFFS" "differences between guise run's view and root's tree"
  # Make sure the comparison saw the special files at all.
  assert_line "$(cat got.txt)" "/srv/dev/loop0 b 0660 0:6 7,0"
  assert_line "$(cat got.txt)" "/usr/bin/raw-tool f 0755 0:0 cap=0100000200200000000000000000000000000000"
  assert_line "$(cat got.txt)" "/usr/sbin/suid-tool-link f 4755 0:0 nlink=2"
}

test_push_back_as_pulled() {
  special_up
  push_and_request as-pulled special
}

# FROM scratch + COPY --from: every file goes through guise's unpack into the faked state and
# back out through guise's layer writer.
test_push_back_rewritten_layer() {
  special_up
  mkdir ctx
  printf 'FROM scratch\nCOPY --from=%s/special:latest / /\nCMD ["/bin/sh"]\n' "$REG" >ctx/Containerfile
  run_guise build -q -t rewritten ctx
  assert_status 0
  push_and_request rewritten localhost/rewritten
  # The layer is guise's own, not umoci's blob passed through.
  layers() { skopeo inspect --tls-verify=false "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Layers"])'; }
  assert_ne "$(layers oci:umoci-layout:latest)" "$(layers "docker://$REG/roundtrip/rewritten:v1")" "layers"
}

run_tests
