# Helpers for the guise-in-guise tests (test_run_nested.sh, test_build_nested_apt.sh): outer
# containers are plain `guise run --rootfs` (whose /proc masks make the inner guise fall back to
# binding the outer /proc) or OCI bundles without those masks, their rootfs holding the guise
# under test.  Sourced after lib.sh.

# add_guise ROOTFS: the guise under test and the shared libraries it needs, at the same paths.
add_guise() {
  local rootfs=$1 bin lib
  mkdir -p "$rootfs/usr/local/bin"
  for bin in "$GUISE" "$GUISE-full"; do
    [ -x "$bin" ] || continue
    cp "$bin" "$rootfs/usr/local/bin/"
    for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*'); do
      [ -e "$rootfs$lib" ] || cp -L --parents "$lib" "$rootfs/"
    done
  done
}

# make_bundle DIR HOST-UID HOST-GID ARGS-JSON: an OCI bundle (runc's rootless spec) whose rootfs is
# DIR/rootfs (made by the caller), without masked or read-only /proc paths, rootfs writable,
# the process running ARGS with ASAN_OPTIONS passed on.
make_bundle() {
  command -v runc >/dev/null || skip "runc not installed (needed for runc spec)"
  local dir=$1
  mkdir -p "$dir"
  (cd "$dir" && runc spec --rootless)
  python3 - "$dir/config.json" "$2" "$3" "$4" "${ASAN_OPTIONS:-}" <<'PY'
import json, sys
path, uid, gid, args, asan = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
with open(path) as f:
    config = json.load(f)
linux = config["linux"]
linux.pop("maskedPaths", None)
linux.pop("readonlyPaths", None)
linux["uidMappings"][0]["hostID"] = uid
linux["gidMappings"][0]["hostID"] = gid
config["root"]["readonly"] = False
proc = config["process"]
# CAP_SETFCAP: mapping uid 0 into a child user namespace needs it (5.12+); the rest is what
# guise gives a container by default, so that the nested guise sees what it would there.
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT",
        "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"]
for kind in proc["capabilities"]:
    proc["capabilities"][kind] = caps
proc["args"] = args
proc["terminal"] = False
proc["env"].append("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
if asan:
    proc["env"].append("ASAN_OPTIONS=" + asan)
with open(path, "w") as f:
    json.dump(config, f, indent=2)
PY
}

# nested_bundle DIR ARGS-JSON: make_bundle DIR mapped to the test user, its rootfs busybox with
# guise, holding another busybox rootfs at /inner.
nested_bundle() {
  local dir=$1 busy
  busy=$(fixture_rootfs busybox)
  mv "$busy" "$dir-rootfs"
  add_guise "$dir-rootfs"
  busy=$(fixture_rootfs busybox)
  mv "$busy" "$dir-rootfs/inner"
  make_bundle "$dir" "$(id -u)" "$(id -g)" "$2"
  mv "$dir-rootfs" "$dir/rootfs"
}

# guise_rootfs: print the path of a fresh busybox rootfs with guise (as fixture_rootfs).
guise_rootfs() {
  local busy
  busy=$(fixture_rootfs busybox)
  add_guise "$busy"
  printf '%s\n' "$busy"
}
