#!/usr/bin/env bash
# Bad registry answers, from a tiny Python server on 127.0.0.1: each is a clear error naming
# the input, and nothing is named in the store.
. "$(dirname "$0")/lib.sh"

# bad_registry_up: start the server; sets REG and GUISE_ROOT.
bad_registry_up() {
  command -v python3 >/dev/null || skip "python3 missing"
  cat >server.py <<'PY'
import hashlib, http.server, json, sys

def d(b): return "sha256:" + hashlib.sha256(b).hexdigest()
layer = b"x" * 1000
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": [d(b"t")]}}).encode()
def manifest(cfg_digest, layer_digest, layer_size):
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}]}).encode()
good_cfg = d(config)
wrong = d(b"something else")
manifests = {
    "badjson": b"{not json",
    "baddigest": manifest(good_cfg, wrong, len(layer)),
    "truncated": manifest(good_cfg, d(layer), len(layer)),
}
blobs = {good_cfg: config, wrong: layer, d(layer): layer}

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body=b"", ctype="application/json", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra: self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def do_HEAD(self): self.do_GET()
    def do_GET(self):
        p = self.path.split("/")
        if self.path == "/v2/": return self.send(200, b"{}")
        repo = p[2] if len(p) > 2 else ""
        if repo == "norealm":
            return self.send(401, b"{}", extra=[("WWW-Authenticate", 'Bearer service="x"')])
        if len(p) == 5 and p[3] == "manifests" and repo in manifests:
            return self.send(200, manifests[repo], "application/vnd.oci.image.manifest.v1+json")
        if len(p) == 5 and p[3] == "blobs" and p[4] in blobs:
            body = blobs[p[4]]
            if repo == "truncated" and body is layer:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:400])
                return
            return self.send(200, body, "application/octet-stream")
        self.send(404, b'{"errors":[{"code":"NOT_FOUND","message":"no such thing"}]}')

s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
  python3 server.py >port 2>server.log &
  local pid=$! i
  on_exit kill "$pid"
  for i in $(seq 50); do [ -s port ] && break; sleep 0.1; done
  [ -s port ] || fail "test server did not start: $(cat server.log)"
  REG=127.0.0.1:$(cat port)
  export GUISE_ROOT=$TEST_TMP/store GUISE_RETRY_DELAY_MS=10
}

# expect_pull_error REPO TEXT: the pull fails with TEXT and nothing gets named.
expect_pull_error() {
  run_guise pull docker://$REG/$1:latest
  assert_status 125
  assert_contains "$ERR" "pull docker://$REG/$1:latest: "
  assert_contains "$ERR" "$2"
  run_guise images --quiet
  assert_status 0
  assert_eq "" "$OUT" "images after a failed pull"
  [ -z "$(ls -A "$GUISE_ROOT/blobs/sha256" | grep '^\.' || true)" ] || fail "temp blobs left behind"
  [ -z "$(ls -A "$GUISE_ROOT/rootfs" 2>/dev/null)" ] || fail "rootfs left behind"
}

test_invalid_json_manifest() {
  bad_registry_up
  expect_pull_error badjson "manifest: invalid JSON at line 1"
}

test_digest_mismatch() {
  bad_registry_up
  expect_pull_error baddigest "digest mismatch (got sha256:"
}

test_truncated_blob() {
  bad_registry_up
  expect_pull_error truncated "truncated: got 400 of 1000 bytes"
}

test_401_without_realm() {
  bad_registry_up
  expect_pull_error norealm "401 without a realm in WWW-Authenticate"
}

test_manifest_not_found() {
  bad_registry_up
  expect_pull_error nothere "not found"
}

test_bad_reference() {
  export GUISE_ROOT=$TEST_TMP/store
  run_guise pull "docker://127.0.0.1:1/Upper:latest"
  assert_status 125
  assert_contains "$ERR" "invalid repository name"
}

run_tests
