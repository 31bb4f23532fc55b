#!/usr/bin/env bash
# Image archives and transports: guise save / load / import / history, pull and push with
# oci-archive: and docker-archive:, skopeo copying guise's archives to a registry (Debian's
# docker-registry on 127.0.0.1) and back, crafted hostile archives (fixtures/archives/make.py),
# and the OCI image-spec JSON schemas (python3-jsonschema) over what guise writes.
. "$(dirname "$0")/lib.sh"

MAKE_ARCHIVES=$GUISE_FIXTURES/archives/make.py
OCI_VALIDATE=$GUISE_FIXTURES/archives/oci_validate.py

# A store of this test's own.
store_up() {
  export GUISE_ROOT=$TEST_TMP/store
  export XDG_RUNTIME_DIR=$TEST_TMP/run
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

# import_busybox NAME: the busybox fixture as a one-layer image; its id in $ID.
import_busybox() {
  local tarball
  tarball=$(_fixture_tarball busybox)
  run_guise import "$tarball" "$1"
  assert_status 0
  ID=$OUT
  assert_match '^[0-9a-f]{64}$' "$ID" "image id"
}

# field IMAGE PYTHON-EXPR: a field of `guise inspect IMAGE` (d is the image's object).
field() {
  local out
  out=$("$GUISE" inspect "$1" 2>"$TEST_TMP/.inspect-err") ||
    fail "guise inspect $1: $(cat "$TEST_TMP/.inspect-err")"
  printf '%s' "$out" | python3 -c "import json,sys; d=json.load(sys.stdin)[0]; print($2)"
}

# no_images: the store names nothing.
no_images() {
  run_guise images --format json
  assert_status 0
  [ "$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] ||
    fail "images were named: $OUT"
}

test_save_load_roundtrip() {
  store_up
  import_busybox bb:1
  digest=$(field bb:1 'd["Digest"]')
  # docker-archive (the default), to a file and through a pipe.
  run_guise save -o bb.tar bb:1
  assert_status 0
  tar -tf bb.tar | grep -qx manifest.json || fail "no manifest.json in the docker-archive"
  "$GUISE" save bb:1 | cat >piped.tar
  cmp -s bb.tar piped.tar || fail "save to stdout differs from save -o"
  run_guise save --format oci-archive -o bb-oci.tar bb:1
  assert_status 0
  tar -tf bb-oci.tar | grep -qx index.json || fail "no index.json in the oci-archive"
  run_guise rmi bb:1
  run_guise prune
  no_images
  run_guise load -i bb.tar
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/bb:1"
  assert_eq "$ID" "$(field bb:1 'd["Id"][7:]')" "image id after docker-archive load"
  # Uncompressed layers: the docker-archive's manifest is not the stored one, the content is.
  rootfs=$(field bb:1 'd["RootFS"]')
  run_guise run --rootfs "$rootfs" -- /bin/busybox echo loaded-ok
  assert_status 0
  assert_eq loaded-ok "$OUT"
  run_guise rmi bb:1
  RUN_STDIN=bb-oci.tar run_guise load
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/bb:1"
  assert_eq "$digest" "$(field bb:1 'd["Digest"]')" "manifest digest after oci-archive load"
  assert_eq "$ID" "$(field bb:1 'd["Id"][7:]')" "image id after oci-archive load"
  # Compressed archives are read too.
  gzip -c bb.tar >bb.tar.gz
  run_guise rmi bb:1
  run_guise load -q -i bb.tar.gz
  assert_status 0
  assert_eq "$ID" "$(field bb:1 'd["Id"][7:]')" "image id after a gzip'd docker-archive"
  # No temp layout left in the store.
  [ -z "$(ls -A "$GUISE_ROOT/tmp")" ] || fail "temp files left: $(ls -A "$GUISE_ROOT/tmp")"
}

test_save_several_and_select() {
  store_up
  import_busybox one:1
  run_guise tag one:1 two:2
  assert_status 0
  run_guise save -o both.tar one:1 two:2
  assert_status 0
  names=$(tar -xOf both.tar manifest.json | python3 -c 'import json,sys; m=json.load(sys.stdin); print(len(m), " ".join(m[0]["RepoTags"]))')
  assert_eq "1 localhost/one:1 localhost/two:2" "$names" "one image, both names"
  run_guise rmi one:1 two:2
  run_guise load -i both.tar
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/one:1"
  assert_line "$OUT" "Loaded image: localhost/two:2"
  # pull picks one image of an archive by name; push writes archives.
  run_guise pull docker-archive:both.tar:localhost/two:2
  assert_status 0
  assert_contains "$ERR" "Pulled localhost/two:2"
  run_guise pull docker-archive:both.tar:nothere:1
  assert_status 125
  assert_contains "$ERR" "no image named nothere:1"
  run_guise push one:1 oci-archive:pushed.tar:mine
  assert_status 0
  run_guise pull oci-archive:pushed.tar:mine
  assert_status 0
  assert_contains "$ERR" "Pulled localhost/pushed:mine"
  run_guise push one:1 docker-archive:pushed-d.tar:example.org/x/y:3
  assert_status 0
  run_guise pull docker-archive:pushed-d.tar
  assert_status 0
  assert_contains "$ERR" "Pulled example.org/x/y:3"
  assert_eq "$ID" "$(field example.org/x/y:3 'd["Id"][7:]')" "image id through push/pull"
}

test_skopeo_copies_guise_archives_to_registry() {
  registry_up
  import_busybox bb:1
  run_guise save -o d.tar bb:1
  assert_status 0
  run_guise save --format oci-archive -o o.tar bb:1
  assert_status 0
  skopeo copy --quiet --dest-tls-verify=false docker-archive:d.tar docker://$REG/from-docker:1 ||
    fail "skopeo cannot copy guise's docker-archive"
  skopeo copy --quiet --dest-tls-verify=false oci-archive:o.tar docker://$REG/from-oci:1 ||
    fail "skopeo cannot copy guise's oci-archive"
  for repo in from-docker from-oci; do
    run_guise pull -q --tls-verify=false docker://$REG/$repo:1
    assert_status 0
    assert_eq "$ID" "$OUT" "image id of $repo through the registry"
  done
}

test_registry_to_skopeo_archives_that_guise_reads() {
  registry_up
  run_guise pull -q --tls-verify=false docker://$REG/busybox:latest
  assert_status 0
  id=$OUT
  skopeo copy --quiet --src-tls-verify=false docker://$REG/busybox:latest oci-archive:o.tar:bb ||
    fail "skopeo oci-archive"
  skopeo copy --quiet --src-tls-verify=false docker://$REG/busybox:latest \
    docker-archive:d.tar:skopeo/busybox:v1 || fail "skopeo docker-archive"
  run_guise load -i o.tar
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/o:bb"
  assert_eq "$id" "$(field localhost/o:bb 'd["Id"][7:]')" "id of skopeo's oci-archive"
  run_guise pull oci-archive:o.tar:bb
  assert_status 0
  run_guise load -i d.tar
  assert_status 0
  assert_line "$OUT" "Loaded image: docker.io/skopeo/busybox:v1"
  assert_eq "$id" "$(field skopeo/busybox:v1 'd["Id"][7:]')" "id of skopeo's docker-archive"
  rootfs=$(field skopeo/busybox:v1 'd["RootFS"]')
  run_guise run --rootfs "$rootfs" -- /bin/busybox echo from-skopeo
  assert_status 0
  assert_eq from-skopeo "$OUT"
}

test_import_keeps_owners_and_devices() {
  store_up
  tarball=$(_fixture_tarball busybox)
  # The user owns none of this: python writes the headers.
  python3 - "$tarball" import.tar <<'EOF'
import io, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
with tarfile.open(src) as s, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as d:
    for m in s.getmembers():
        d.addfile(m, s.extractfile(m) if m.isfile() else None)
    def add(name, type, data=b"", **kw):
        ti = tarfile.TarInfo(name); ti.type = type; ti.size = len(data) if type == tarfile.REGTYPE else 0
        for k, v in kw.items(): setattr(ti, k, v)
        d.addfile(ti, io.BytesIO(data) if data else None)
    add("opt", tarfile.DIRTYPE, mode=0o755)
    add("opt/owned", tarfile.REGTYPE, b"mine\n", uid=1000, gid=1001, mode=0o640)
    add("opt/suid", tarfile.REGTYPE, b"#!/bin/sh\n", uid=0, gid=0, mode=0o4755)
    add("opt/tty64", tarfile.CHRTYPE, uid=0, gid=5, mode=0o620, devmajor=4, devminor=64)
    add("opt/sda", tarfile.BLKTYPE, uid=0, gid=6, mode=0o660, devmajor=8, devminor=0)
EOF
  xz -c import.tar >import.tar.xz
  run_guise import --change 'CMD ["/bin/sh"]' -c ENV=GREETING=hi -c "WORKDIR /opt" \
    -m "rootfs of busybox" import.tar.xz imported:1
  assert_status 0
  assert_contains "$ERR" "Imported localhost/imported:1"
  id=$OUT
  assert_eq "$id" "$(field imported:1 'd["Id"][7:]')" "import prints the image id"
  assert_eq "['/bin/sh'] ['GREETING=hi'] /opt" \
    "$(field imported:1 'd["Config"]["config"]["Cmd"], d["Config"]["config"]["Env"], d["Config"]["config"]["WorkingDir"]')" "--change"
  # The layer is the tar as given (decompressed): its owners and devices are in it.
  blob=$(field imported:1 'd["Layers"][0]["Digest"][7:]')
  tar -tvf "$GUISE_ROOT/blobs/sha256/$blob" opt/owned | grep -q '1000/1001' ||
    fail "owner not in the layer: $(tar -tvf "$GUISE_ROOT/blobs/sha256/$blob" opt/owned)"
  rootfs=$(field imported:1 'd["RootFS"]')
  run_in "$rootfs" 'stat -c "%u:%g %a %F" /opt/owned /opt/suid; stat -c "%u:%g %a %F %t,%T" /opt/tty64 /opt/sda'
  assert_status 0
  assert_line "$OUT" "1000:1001 640 regular file"
  assert_line "$OUT" "0:0 4755 regular file"
  assert_line "$OUT" "0:5 620 character special file 4,40"
  assert_line "$OUT" "0:6 660 block special file 8,0"
  # Standard input, no name.
  RUN_STDIN=import.tar run_guise import -
  assert_status 0
  assert_contains "$ERR" "Imported localhost/import-${OUT:0:12}:latest"
  # Not a tarball: an error, no image.
  head -c 5000 /dev/urandom >garbage.tar
  run_guise import garbage.tar garbage:1
  assert_status 125
  assert_contains "$ERR" "import garbage.tar"
  run_guise images
  assert_not_contains "$OUT" "garbage"
  run_guise import --change "RUN true" import.tar x:1
  assert_status 125
  assert_contains "$ERR" "is not a config instruction"
}

test_history() {
  store_up
  printf 'hi\n' >hello.txt
  printf 'FROM scratch\nCOPY hello.txt /\nENV A=b\nCMD ["/hello.txt"]\n' >Containerfile
  run_guise build -q -t hist:1 .
  assert_status 0
  run_guise history hist:1
  assert_status 0
  first=$(printf '%s\n' "$OUT" | sed -n 1p)
  assert_match '^ID +CREATED +CREATED BY +SIZE +COMMENT$' "$first" "header"
  id=$(field hist:1 'd["Id"][7:19]')
  assert_match "^$id +.* ago +CMD \[\"/hello.txt\"\] +0 B +guise build$" "$(printf '%s\n' "$OUT" | sed -n 2p)" "newest row"
  assert_match '^<missing> +.* ago +ENV A=b +0 B' "$(printf '%s\n' "$OUT" | sed -n 3p)" "ENV row"
  assert_match '^<missing> +.* ago +COPY hello.txt / +[0-9.]+ kB' "$(printf '%s\n' "$OUT" | sed -n 4p)" "COPY row"
  run_guise history --format json hist:1
  assert_status 0
  got=$(printf '%s' "$OUT" | python3 -c '
import json, sys
h = json.load(sys.stdin)
print(len(h), h[0]["createdBy"], h[2]["createdBy"], h[2]["size"] > 0, h[0]["size"])')
  assert_eq '3 CMD ["/hello.txt"] COPY hello.txt / True 0' "$got" "json history"
  # The layer size is the uncompressed tar's.
  layer=$(field hist:1 'd["Layers"][0]["Digest"][7:]')
  want=$(gzip -dc "$GUISE_ROOT/blobs/sha256/$layer" | wc -c)
  size=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)[2]["size"])')
  assert_eq "$want" "$size" "COPY layer size"
  # Long commands are shortened unless --no-trunc.
  import_busybox imp:1
  run_guise history imp:1
  assert_match '/bin/sh -c #\(nop\) ADD file:[0-9a-f]+\.\.\. ' "$OUT" "truncated"
  run_guise history --no-trunc imp:1
  assert_contains "$OUT" "$ID "
  assert_match 'ADD file:[0-9a-f]{64} in / ' "$OUT" "not truncated"
  assert_contains "$OUT" "Imported from "
  run_guise history nothere
  assert_status 125
  assert_contains "$ERR" "image nothere not found"
}

test_bad_archives_are_refused() {
  store_up
  python3 "$MAKE_ARCHIVES" bad || fail "make.py failed"
  # The generator's valid archives load: the broken ones fail for their flaw, not by accident.
  run_guise load -i bad/good-docker.tar
  assert_status 0
  assert_line "$OUT" "Loaded image: docker.io/library/archtest:good"
  RUN_STDIN=bad/good-oci.tar run_guise load
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/loaded:good"
  run_guise load -i bad/good-links.tar
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/good-links:latest"
  run_guise rmi archtest:good localhost/loaded:good localhost/good-links:latest
  assert_status 0
  while IFS=$'\t' read -r name want; do
    run_guise load -i "bad/$name"
    [ "$STATUS" = 125 ] || fail "$name: load exited $STATUS"
    assert_contains "$ERR" "$want" "$name"
    assert_contains "$ERR" "bad/$name" "$name names the archive"
    no_images
    run_guise pull "docker-archive:bad/$name"
    [ "$STATUS" = 125 ] || fail "$name: pull exited $STATUS"
    no_images
  done < <(python3 "$MAKE_ARCHIVES" --expected)
  # Nothing written outside the store, no temp layout left in it.
  [ ! -e "$TEST_TMP/escaped" ] && [ ! -e /tmp/escaped-abs ] || fail "an entry escaped"
  [ -z "$(find "$TEST_TMP" -name 'escaped*')" ] || fail "escaped: $(find "$TEST_TMP" -name 'escaped*')"
  [ -z "$(ls -A "$GUISE_ROOT/tmp")" ] || fail "temp files left: $(ls -A "$GUISE_ROOT/tmp")"
  # An archive bigger than the limit.
  GUISE_ARCHIVE_MAX_BYTES=1000 run_guise load -i bad/good-docker.tar
  assert_status 125
  assert_contains "$ERR" "holds more than 1000 bytes"
  no_images
  # The wrong transport is named.
  run_guise pull oci-archive:bad/good-docker.tar
  assert_status 125
  assert_contains "$ERR" "not an oci-archive (it is a docker-archive)"
  run_guise load -i nothere.tar
  assert_status 125
  assert_contains "$ERR" "nothere.tar"
}

# 100000 entries (the limit) load in bounded time: names are indexed, not scanned for each new
# entry (a linear scan per entry took 28 s of CPU for this, 61 s under ASan).
test_many_entries_load() {
  store_up
  python3 "$MAKE_ARCHIVES" bad || fail "make.py failed"
  python3 - bad/good-oci.tar many.tar.gz <<'PY' || fail "making many.tar.gz failed"
import sys, tarfile
src, dst = sys.argv[1:3]
with tarfile.open(src) as s, tarfile.open(dst, "w:gz", format=tarfile.GNU_FORMAT) as d:
    members = s.getmembers()
    for i in range(100000 - len(members)):
        ti = tarfile.TarInfo(f"pad/{i}")
        ti.type, ti.linkname = tarfile.SYMTYPE, "../index.json"
        d.addfile(ti)
    for m in members:
        d.addfile(m, s.extractfile(m))
PY
  GUISE_TEST_TIMEOUT=30 run_guise load -i many.tar.gz
  assert_status 0
  assert_line "$OUT" "Loaded image: localhost/many:good"
}

test_schema_validation() {
  store_up
  schema_dir=$(dpkg -L golang-github-opencontainers-image-spec-dev 2>/dev/null |
    grep '/image-spec/schema/image-manifest-schema.json$' | head -1)
  [ -n "$schema_dir" ] || skip "golang-github-opencontainers-image-spec-dev not installed"
  schema_dir=$(dirname "$schema_dir")
  python3 -c 'import jsonschema' 2>/dev/null || skip "python3-jsonschema not installed"
  # The validator rejects what is broken (or this test could not fail).
  printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"no colon","size":3}]}' >broken.json
  if out=$(python3 "$OCI_VALIDATE" "$schema_dir" --json manifest broken.json); then
    fail "the validator accepted a broken manifest: $out"
  fi
  assert_contains "$out" "INVALID manifest"
  printf '%s' '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":"notalist"}}' >broken-config.json
  ! python3 "$OCI_VALIDATE" "$schema_dir" --json config broken-config.json >/dev/null ||
    fail "the validator accepted a broken config"
  # What guise writes.
  import_busybox bb:1
  printf 'hi\n' >hello.txt
  printf 'FROM scratch\nCOPY hello.txt /\nCMD ["/hello.txt"]\n' >Containerfile
  run_guise build -q --output oci:built -t built:1 .
  assert_status 0
  run_guise build -q --output oci-archive:built.tar .
  assert_status 0
  run_guise push bb:1 oci:pushed:v1
  assert_status 0
  run_guise push built:1 oci:pushed:v2
  assert_status 0
  run_guise save --format oci-archive -o saved.tar bb:1 built:1
  assert_status 0
  for what in built built.tar pushed saved.tar "$GUISE_ROOT"; do
    out=$(python3 "$OCI_VALIDATE" "$schema_dir" "$what") || fail "$what: $out"
    echo "$out"
    assert_contains "$out" "valid config"
  done
  # Manifests converted from a docker-archive, as stored.
  python3 "$MAKE_ARCHIVES" gen
  run_guise load -i gen/good-docker.tar
  assert_status 0
  run_guise push archtest:good oci:converted
  out=$(python3 "$OCI_VALIDATE" "$schema_dir" converted) || fail "converted: $out"
}

run_tests
