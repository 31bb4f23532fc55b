#!/usr/bin/env bash
# guise run --bundle: an OCI runtime bundle made by `runc spec --rootless`.
. "$(dirname "$0")/lib.sh"

# make_bundle DIR ARGS-JSON: a bundle in DIR with the busybox rootfs and process.args set.
make_bundle() {
  command -v runc >/dev/null || skip "runc not installed (needed for runc spec)"
  local dir=$1 rootfs
  mkdir -p "$dir"
  (cd "$dir" && runc spec --rootless)
  rootfs=$(fixture_rootfs busybox)
  mv "$rootfs" "$dir/rootfs"
  python3 - "$dir/config.json" "$2" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
with open(path) as f:
    config = json.load(f)
config["process"]["args"] = args
config["process"]["terminal"] = False
with open(path, "w") as f:
    json.dump(config, f, indent=2)
PY
}

test_bundle_runs() {
  make_bundle bundle '["sh", "-c", "echo bundle-ok; id -u"]'
  run_guise run --bundle bundle
  assert_status 0
  assert_eq $'bundle-ok\n0' "$OUT"
}

test_bundle_config_applied() {
  make_bundle bundle '["sh", "-c", "hostname; pwd; echo $TERM; grep NoNewPrivs /proc/self/status; grep CapBnd /proc/self/status"]'
  # runc's rootless spec: hostname "runc", cwd "/", TERM=xterm, noNewPrivileges true and
  # the three capabilities AUDIT_WRITE, KILL, NET_BIND_SERVICE (bits 29, 5, 10).
  run_guise run --bundle "$TEST_TMP/bundle"
  assert_status 0
  assert_eq runc "$(printf '%s\n' "$OUT" | sed -n 1p)" "hostname"
  assert_eq / "$(printf '%s\n' "$OUT" | sed -n 2p)" "cwd"
  assert_eq xterm "$(printf '%s\n' "$OUT" | sed -n 3p)" "TERM"
  assert_match 'NoNewPrivs:[[:space:]]+1' "$OUT" "no_new_privs"
  assert_match 'CapBnd:[[:space:]]+0000000020000420' "$OUT" "bounding set"
}

test_bundle_exit_status() {
  make_bundle bundle '["sh", "-c", "exit 42"]'
  run_guise run --bundle bundle
  assert_status 42
}

test_bundle_malformed_config() {
  make_bundle bundle '["true"]'
  printf '{ "ociVersion": "1.0.2", "process": ' >bundle/config.json
  run_guise run --bundle bundle
  assert_status 125
  assert_contains "$ERR" "config.json" "stderr names the file"
  assert_match '^guise: ' "$ERR" "stderr"
}

test_bundle_missing_config() {
  mkdir empty-bundle
  run_guise run --bundle empty-bundle
  assert_status 125
  assert_contains "$ERR" "config.json" "stderr names the file"
}

test_bundle_rejects_command_arguments() {
  make_bundle bundle '["true"]'
  run_guise run --bundle bundle -- echo extra
  assert_status 125
}

run_tests
