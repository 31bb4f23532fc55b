#!/usr/bin/env bash
# The README demo build (FROM the bookworm minbase, RUN apt-get install from the local apt
# repository) done by a guise running inside a plain `guise run` container gives the same layer, file by
# file (owners, modes, setuid bits, device numbers, file capabilities), as the same build on the
# host: the inner container's faked state goes to the inner build, not to the outer container.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nested.sh"

# layer_list LAYOUT: the last layer of the image in the OCI layout, one line per entry: path,
# type, owner, mode, device, security.capability (hex), link target; sorted, volatile paths out.
layer_list() {
  python3 - "$1" <<'PY' | LC_ALL=C sort | grep -Ev "$LAYER_VOLATILE" || true
import json, sys, tarfile
layout = sys.argv[1]
def blob(digest):
    return f"{layout}/blobs/{digest.replace(':', '/')}"
index = json.load(open(f"{layout}/index.json"))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
with tarfile.open(blob(manifest["layers"][-1]["digest"])) as t:
    for e in t:
        caps = e.pax_headers.get("SCHILY.xattr.security.capability")
        caps = caps.encode("utf-8", "surrogateescape").hex() if caps else "-"
        link = e.linkname if e.islnk() or e.issym() else ""
        print(f"/{e.name.lstrip('./')} {e.type.decode()} {e.uid}:{e.gid} {e.mode:04o} "
              f"{e.devmajor},{e.devminor} {caps} {link}")
PY
}
LAYER_VOLATILE='^/var/log/|^/var/cache/(apt|ldconfig|debconf)/|^/var/lib/apt/lists/|^/etc/ld\.so\.cache |^[^ ]*(-|-old|machine-id) |^/etc/(hostname|hosts|resolv\.conf) |^/(tmp|run)/'

test_nested_apt_build_layer_equals_host() {
  serve_apt_repo
  local port=$PORT b
  mkdir ctx
  ln "$(_fixture_tarball bookworm)" ctx/base.tar 2>/dev/null || cp "$(_fixture_tarball bookworm)" ctx/base.tar
  cat >ctx/Containerfile <<CF
FROM scratch
ADD base.tar /
ARG APT_PORT
RUN echo "deb [trusted=yes] http://127.0.0.1:\$APT_PORT/ ./" >/etc/apt/sources.list && \\
    apt-get update -q && apt-get install -y -q $APT_PACKAGES
CF
  # On the host.
  GUISE_TEST_TIMEOUT=900 run_guise build -q --root "$TEST_TMP/store" --build-arg "APT_PORT=$port" -t apt:1 ctx
  assert_status 0
  run_guise push -q --root "$TEST_TMP/store" apt:1 "oci:$TEST_TMP/host:1"
  assert_status 0
  rm -rf "$TEST_TMP/store"
  # The same in a plain guise container (sharing the host's network, for the apt repository):
  # its /proc masks make the inner guise bind the outer /proc for the RUN step's container.
  b=$(guise_rootfs)
  mv ctx "$b/ctx"
  GUISE_TEST_TIMEOUT=1200 run_guise run --rootfs "$b" -- sh -c \
    "guise build --root /store --build-arg APT_PORT=$port -t apt:1 /ctx && guise push -q --root /store apt:1 oci:/out:1"
  assert_status 0
  assert_contains "$OUT$ERR" "a new /proc is refused" "the RUN step's container has the outer /proc"
  layer_list "$TEST_TMP/host" >host.txt
  layer_list "$b/out" >nested.txt
  [ "$(wc -l <host.txt)" -gt 1000 ] || fail "the host-built layer lists only $(wc -l <host.txt) entries"
  grep -q '^/usr/bin/sudo 0 0:0 4755 ' host.txt || fail "no setuid sudo in the host-built layer"
  grep -Eq '^/usr/bin/ping 0 0:0 0755 0,0 [0-9a-f]{8,} ' host.txt || fail "no file capability on ping in the host-built layer"
  diff host.txt nested.txt >diff.txt || true
  DIFFS=$(grep -c '^[<>]' diff.txt || true)
  echo "differences between the host-built and the nested-built layer: $DIFFS"
  head -40 diff.txt
  assert_eq 0 "$DIFFS" "entries that differ between the host-built and the nested-built layer"
  assert_not_contains "$ERR" "ptrace" "no fallback to ptrace"
}

run_tests
