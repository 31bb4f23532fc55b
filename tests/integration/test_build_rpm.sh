#!/usr/bin/env bash
# Build acceptance for rpm: packages whose files carry %attr owners (named users created in
# %pre), setuid/setgid bits, %dev device nodes, %caps and a sticky directory
# (fixtures/rpm/guise-test.spec), installed in `guise build` with `rpm -i` and with
# `dnf install` from a createrepo_c repository bound into the RUN. The image's files, as its
# layers say, must equal the same install done as real root (tests/setup/rpmrepo.sh) outside
# volatile paths, and `rpm -Va` in the build finds every file as the packages say.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../setup/rpmrepo.sh" # RPM_INSTALL, DNF_INSTALL: the reference's commands

REPO=$GUISE_TEST_CACHE/rpmrepo
# rpm's and dnf's databases and dnf's metadata cache hold install times and hashes.
RPM_VOLATILE='^/var/lib/(rpm|dnf)[/ ]'

# image_tree STORE NAME [PATH]: the image's files, merged from its layers (whiteouts applied),
# one treelist line each (tests/helpers/treelist.c's format: "path type mode uid:gid [rdev]
# [-> target] [cap=hex]"), as the tar headers say; with PATH, the content of that file.
image_tree() {
  python3 - "$@" <<'PY'
import json, posixpath, sys, tarfile
store, name, want = (sys.argv[1:] + [None])[:3]
idx = json.load(open(f"{store}/index.json"))
m = [d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == name]
if not m:
    sys.exit(f"no image {name} in {store}")
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
man = json.load(open(blob(m[0]["digest"])))
tree, source = {}, {}
def drop(path, children_only=False):
    for p in [p for p in tree if p.startswith(path.rstrip("/") + "/") or (p == path and not children_only)]:
        del tree[p]
for layer in man["layers"]:
    with tarfile.open(blob(layer["digest"])) as t:
        for e in t.getmembers():
            path = posixpath.normpath("/" + e.name)
            base = posixpath.basename(path)
            if base == ".wh..wh..opq":
                drop(posixpath.dirname(path), children_only=True)
            elif base.startswith(".wh."):
                drop(posixpath.join(posixpath.dirname(path), base[4:]))
            else:
                if not e.isdir():
                    drop(path, children_only=True)
                tree[path] = e
                source[path] = blob(layer["digest"])
if want:
    sys.stdout.write(tarfile.open(source[want]).extractfile(tree[want]).read().decode())
    sys.exit(0)
for path, e in sorted(tree.items()):
    if e.islnk():  # a hard link is its target's inode
        e = tree[posixpath.normpath("/" + e.linkname)]
    kind = "d" if e.isdir() else "l" if e.issym() else "c" if e.ischr() else "b" if e.isblk() else "p" if e.isfifo() else "f"
    line = f"{path} {kind} {e.mode & 0o7777:04o} {e.uid}:{e.gid}"
    if kind in "cb":
        line += f" {e.devmajor},{e.devminor}"
    if kind == "l":
        line += f" -> {e.linkname}"
    cap = e.pax_headers.get("SCHILY.xattr.security.capability")
    if cap is not None and kind != "l":
        line += " cap=" + cap.encode("latin1").hex()
    print(line)
PY
}

# rpm_base_image: localhost/rpm-base:latest in ./store, from the cached rpm base tarball.
rpm_base_image() {
  [ -r "$GUISE_TEST_CACHE/rpm-reference-dnf.txt" ] ||
    skip "no rpm repository and base (sudo bash tests/setup/rpmrepo.sh build/helpers/treelist)"
  tarball_image "$GUISE_TEST_CACHE/rpm-base.tar" rpm-base
  mkdir ctx
  cp -r "$REPO" ctx/repo
}

# build_install NAME COMMAND: build NAME from rpm-base with one RUN of COMMAND, the repository
# bound at /repo, then `rpm -Va` (which fails on any file whose owner, mode, device number,
# capability, digest or time, as the faked stat and getxattr show them, is not what the package
# says); leaves the image's tree in NAME.tree.
build_install() {
  cat >"ctx/$1.Containerfile" <<CF
FROM rpm-base
RUN --mount=type=bind,source=repo,target=/repo $2
RUN rpm -Va && rpm -q guise-test-common guise-test-tools
CF
  GUISE_TEST_TIMEOUT=300 run_guise build --root store -f "ctx/$1.Containerfile" -t "$1" ctx
  assert_status 0
  image_tree store "localhost/$1:latest" >"$1.tree"
}

# check_install NAME REFERENCE: the image's tree equals the root install's outside volatile
# paths, and the packages' special files are there, as root made them.
check_install() {
  local tree=$1.tree
  # The root directory is in no layer (the runtime makes it).
  grep -Ev "$RPM_VOLATILE|^/ " "$tree" >"$1.cmp" || true
  grep -Ev "$RPM_VOLATILE|^/ " "$2" >"$1.ref" || true
  compare_tree "$1.cmp" "$1.ref"
  note "$DIFFS differences from the root install"
  assert_eq 0 "$DIFFS" "differences from the root install"
  local files
  files=$(cat "$tree")
  assert_line "$files" "/usr/bin/guise-su f 4755 0:0" "setuid root"
  assert_line "$files" "/usr/bin/guise-wall f 2755 0:5678" "setgid guisegrp"
  assert_line "$files" "/usr/bin/guise-ping f 0755 0:0 cap=0100000200200000000000000000000000000000" \
    "cap_net_raw=ep (v2)"
  assert_line "$files" "/opt/guise-test/dev/null c 0666 0:0 1,3" "%dev(c,1,3)"
  assert_line "$files" "/opt/guise-test/dev/loop0 b 0660 0:6 7,0" "%dev(b,7,0) group disk"
  assert_line "$files" "/var/lib/guise-test d 0750 1234:5678" "directory owned by the %pre user"
  assert_line "$files" "/var/lib/guise-test/state f 0640 1234:5678" "file owned by the %pre user"
  assert_line "$files" "/var/lib/guise-test/tools-installed f 0600 1234:5678" "chown in %post"
  assert_line "$files" "/var/spool/guise-test d 1777 0:0" "sticky world-writable directory"
  assert_contains "$(image_tree store "localhost/$1:latest" /etc/passwd)" \
    "guisesvc:x:1234:5678::/var/lib/guise-test:/usr/sbin/nologin" "the %pre user in /etc/passwd"
  # No temporary `name;XXXXXXXX` file of rpm's survived in the image.
  assert_not_contains "$files" ";" "rpm's temporary names"
}

test_rpm_i_matches_root() {
  rpm_base_image
  build_install rpmi "$RPM_INSTALL"
  check_install rpmi "$GUISE_TEST_CACHE/rpm-reference-rpm.txt"
}

test_dnf_install_matches_root() {
  rpm_base_image
  build_install dnfi "$DNF_INSTALL"
  assert_contains "$OUT" "guise-test-common-1.0-1.noarch" "dnf pulled in the dependency"
  check_install dnfi "$GUISE_TEST_CACHE/rpm-reference-dnf.txt"
}

run_tests
