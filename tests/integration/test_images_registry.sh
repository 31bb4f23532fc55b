#!/usr/bin/env bash
# guise pull / push / images / inspect / tag / rmi / prune / login against a real registry
# (Debian's docker-registry) on 127.0.0.1, with a busybox image made by umoci and pushed by
# skopeo.  Everything runs as the unprivileged test user.
. "$(dirname "$0")/lib.sh"

test_pull_images_inspect() {
  registry_up
  run_guise pull docker://$REG/busybox:latest
  assert_status 0
  assert_contains "$ERR" "Pulled $REG/busybox:latest"
  id=$OUT
  assert_match '^[0-9a-f]{64}$' "$id" "image id"
  run_guise images
  assert_status 0
  assert_match "$REG/busybox +latest +${id:0:12} " "$OUT" "images table"
  run_guise images --format json
  assert_contains "$OUT" "\"Name\": \"$REG/busybox:latest\""
  run_guise inspect busybox
  assert_status 0
  layers=$(skopeo inspect --tls-verify=false docker://$REG/busybox:latest |
    python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Layers"]))')
  got=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(" ".join(l["Digest"] for l in json.load(sys.stdin)[0]["Layers"]))')
  assert_eq "$layers" "$got" "layers"
  rootfs=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["RootFS"])')
  [ -x "$rootfs/bin/busybox" ] || fail "no bin/busybox in $rootfs"
  [ -e "$rootfs.fakefs.db" ] || fail "no fakefs database next to $rootfs"
  # Nothing half-written left behind.
  [ -z "$(ls -A "$GUISE_ROOT/blobs/sha256" | grep '^\.' || true)" ] || fail "temp blobs left"
  # A second pull has everything already.
  run_guise pull docker://$REG/busybox:latest
  assert_status 0
  assert_contains "$ERR" "skipped: already exists"
}

test_push_other_name_and_skopeo_sees_it() {
  registry_up
  run_guise pull -q docker://$REG/busybox:latest
  assert_status 0
  run_guise push busybox docker://$REG/other/copy:v1
  assert_status 0
  assert_contains "$ERR" "mounted from busybox"
  a=$(skopeo inspect --tls-verify=false docker://$REG/busybox:latest | python3 -c 'import json,sys; print(json.load(sys.stdin)["Layers"])')
  b=$(skopeo inspect --tls-verify=false docker://$REG/other/copy:v1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Layers"])')
  assert_eq "$a" "$b" "layers of the pushed copy"
}

test_push_chunked_upload() {
  registry_up
  push_upload chunky:1
}

test_tag_rmi_prune() {
  registry_up
  run_guise pull -q docker://$REG/busybox:latest
  run_guise tag busybox mybox:2
  assert_status 0
  run_guise images
  assert_match "localhost/mybox +2 " "$OUT"
  run_guise rmi busybox
  assert_status 0
  run_guise prune
  assert_contains "$OUT" "Removed 0 blobs"
  run_guise rmi mybox:2
  assert_status 0
  run_guise prune
  assert_status 0
  assert_contains "$OUT" "1 root filesystems"
  [ -z "$(ls "$GUISE_ROOT/blobs/sha256")" ] || fail "blobs left after prune"
  run_guise rmi nothere
  assert_status 1
  assert_contains "$ERR" "image nothere not found"
}

test_oci_layout_roundtrip() {
  registry_up
  run_guise pull -q docker://$REG/busybox:latest
  run_guise push busybox oci:$TEST_TMP/layout:saved
  assert_status 0
  skopeo inspect oci:$TEST_TMP/layout:saved >/dev/null || fail "skopeo cannot read the layout"
  run_guise pull oci:$TEST_TMP/oci-busybox:latest
  assert_status 0
  assert_contains "$ERR" "Pulled localhost/oci-busybox:latest"
}

test_login_basic_auth() {
  registry_up alice:s3cret
  run_guise pull docker://$REG/busybox:latest
  assert_status 125
  assert_contains "$ERR" "authentication required"
  printf 'wrong\n' >pw
  RUN_STDIN=pw run_guise login --username alice --password-stdin $REG
  assert_status 125
  assert_contains "$ERR" "invalid username or password"
  printf 's3cret\n' >pw
  RUN_STDIN=pw run_guise login --username alice --password-stdin $REG
  assert_status 0
  assert_eq 600 "$(stat -c %a "$XDG_RUNTIME_DIR/containers/auth.json")" "auth.json mode"
  run_guise pull -q docker://$REG/busybox:latest
  assert_status 0
  run_guise push -q busybox docker://$REG/pushed:1
  assert_status 0
  run_guise logout $REG
  assert_status 0
  run_guise pull docker://$REG/pushed:1
  assert_status 125
}

run_tests
