#!/usr/bin/env bash
# Build acceptance for rpm: packages whose files carry %attr owners (named users created in
# %pre), setuid/setgid bits, %dev device nodes, %caps and a sticky directory
# (fixtures/rpm/guise-test.spec), installed in `guise build` with `rpm -i` and with
# `dnf install` from a createrepo_c repository bound into the RUN, upgraded with `rpm -U` and
# removed with `dnf remove`. The image's files, as its layers say, must equal the same steps
# done as real root (tests/setup/rpmrepo.sh) outside volatile paths, and `rpm -Va` in the
# build finds every file as the packages say.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../setup/rpmrepo.sh" # rpm_steps: the scenarios' commands

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

# compare_to_root TREE S: TREE (treelist lines) equals the root reference of scenario S outside
# volatile paths and the root directory (in no layer: the runtime makes it).
compare_to_root() {
  grep -Ev "$RPM_VOLATILE|^/ " "$1" >"$2.cmp" || true
  grep -Ev "$RPM_VOLATILE|^/ " "$GUISE_TEST_CACHE/rpm-reference-$2.txt" >"$2.ref" || true
  compare_tree "$2.cmp" "$2.ref"
  note "$DIFFS differences from the root install"
  assert_eq 0 "$DIFFS" "differences from the root install"
}

# build_scenario S: build the image S from localhost/rpm-base:latest (made from the cached rpm
# base tarball): each step of `rpm_steps S` in a RUN of its own, the repository bound at /repo,
# then `rpm -Va` (which fails on any file whose type, owner, mode, device number, capability,
# digest or time, as the faked stat and getxattr show them, is not what its package says).
# Compares the image's tree, left in S.tree, with the root reference; $RPM_QA: `rpm -qa`.
build_scenario() {
  [ -r "$GUISE_TEST_CACHE/rpm-reference-$1.txt" ] ||
    skip "no rpm repository and base (sudo bash tests/setup/rpmrepo.sh build/helpers/treelist)"
  tarball_image "$GUISE_TEST_CACHE/rpm-base.tar" rpm-base --root store
  mkdir ctx
  cp -r "$REPO" ctx/repo
  {
    echo "FROM rpm-base"
    rpm_steps "$1" | sed 's|^|RUN --mount=type=bind,source=repo,target=/repo |'
    echo "RUN rpm -Va && rpm -qa | sort"
  } >"ctx/$1.Containerfile"
  GUISE_TEST_TIMEOUT=300 run_guise build --root store -f "ctx/$1.Containerfile" -t "$1" ctx
  assert_status 0
  RPM_QA=${OUT##*rpm -qa | sort}
  assert_contains "$RPM_QA" "guise-rpm-base-12-1.noarch" "rpm -qa"
  image_tree store "localhost/$1:latest" >"$1.tree"
  compare_to_root "$1.tree" "$1"
  # No temporary `name;XXXXXXXX` file of rpm's survived in the image.
  assert_not_contains "$(cat "$1.tree")" ";" "rpm's temporary names"
  assert_contains "$(image_tree store "localhost/$1:latest" /etc/passwd)" \
    "guisesvc:x:1234:5678::/var/lib/guise-test:/usr/sbin/nologin" "the %pre user in /etc/passwd"
}

# assert_files S LINE...: each LINE is one of the image S's treelist lines.
assert_files() {
  local files line
  files=$(cat "$1.tree")
  shift
  for line in "$@"; do
    assert_line "$files" "$line" "the image's files"
  done
}

# What both 1.0 installs give, as root made it: setuid root, setgid guisegrp, cap_net_raw=ep
# (v2), %dev(c,1,3), %dev(b,7,0) of group disk, a directory and files owned by the %pre user (one
# chowned in %post), a sticky world-writable directory.
INSTALLED_1_0=(
  "/usr/bin/guise-su f 4755 0:0"
  "/usr/bin/guise-wall f 2755 0:5678"
  "/usr/bin/guise-ping f 0755 0:0 cap=0100000200200000000000000000000000000000"
  "/opt/guise-test/dev/null c 0666 0:0 1,3"
  "/opt/guise-test/dev/loop0 b 0660 0:6 7,0"
  "/var/lib/guise-test d 0750 1234:5678"
  "/var/lib/guise-test/state f 0640 1234:5678"
  "/var/lib/guise-test/tools-installed f 0600 1234:5678"
  "/var/spool/guise-test d 1777 0:0"
)

test_rpm_i_matches_root() {
  build_scenario rpm
  assert_contains "$RPM_QA" "guise-test-tools-1.0-1.noarch" "rpm -qa"
  assert_files rpm "${INSTALLED_1_0[@]}"
}

test_dnf_install_matches_root() {
  build_scenario dnf
  assert_contains "$RPM_QA" "guise-test-common-1.0-1.noarch" "dnf pulled in the dependency"
  assert_files dnf "${INSTALLED_1_0[@]}"
}

# rpm -U renames each new file over the old one, whose faked owner, device or capability must
# not stick to the new inode; the layer of the upgrade step has the new metadata.
test_rpm_upgrade_matches_root() {
  build_scenario upgrade
  assert_contains "$RPM_QA" "guise-test-tools-1.1-1.noarch" "rpm -qa"
  assert_files upgrade "/usr/bin/guise-su f 4750 0:5678" \
    "/usr/bin/guise-ping f 0755 0:0 cap=0100000200300000000000000000000000000000" \
    "/opt/guise-test/dev/null c 0666 0:0 1,5" "/opt/guise-test/dev/loop0 b 0660 0:6 7,0" \
    "/var/lib/guise-test/state f 0640 1234:5678"
}

# dnf remove takes the dependency too (clean_requirements_on_remove): whiteouts in the last
# layer hide the device nodes, the setuid file, the capability; what %post made stays.
test_dnf_remove_matches_root() {
  build_scenario remove
  assert_not_contains "$RPM_QA" "guise-test-" "rpm -qa"
  local files
  files=$(cat remove.tree)
  assert_not_contains "$files" "/opt/guise-test" "removed device nodes"
  assert_not_contains "$files" "/usr/bin/guise-" "removed setuid, setgid and capability files"
  assert_files remove "/var/lib/guise-test/tools-installed f 0600 1234:5678"
}

# The same without a build, in `guise run` with the ptrace backend (the builds above use
# seccomp): the upgrade scenario on a rootfs extracted as an image pull would, then the tree the
# container sees.
test_rpm_upgrade_in_run_with_ptrace() {
  [ -r "$GUISE_TEST_CACHE/rpm-reference-upgrade.txt" ] ||
    skip "no rpm repository and base (sudo bash tests/setup/rpmrepo.sh build/helpers/treelist)"
  rootfs=$(fixture_rootfs_faked rpm-base)
  mkdir "$rootfs/repo"
  local steps
  mapfile -t steps < <(rpm_steps upgrade)
  GUISE_TEST_TIMEOUT=300 run_guise run --fake-backend ptrace -v "$REPO:/repo:ro" --rootfs "$rootfs" \
    -- sh -c "$(printf '%s && ' "${steps[@]}")rpm -Va"
  assert_status 0
  rmdir "$rootfs/repo"
  run_guise run --fake-backend ptrace -v "$(helper treelist):/treelist:ro" --rootfs "$rootfs" \
    -- /treelist /
  assert_status 0
  printf '%s\n' "$OUT" >run.tree
  compare_to_root run.tree upgrade
}

run_tests
