#!/usr/bin/env bash
# guise login / pull / push against Debian's docker-registry with token auth: the registry
# sends clients to a token server (tests/setup/token_server.py) that checks alice:s3cret and
# signs RS256 JWTs the registry verifies with its rootcertbundle.  The busybox fixture is pushed
# by skopeo with the same credentials.  Runs as the unprivileged test user.
. "$(dirname "$0")/lib.sh"

TOKEN_LOG=

# layers REF: the layer digests skopeo sees in REF of the token registry (logged in as alice).
layers() {
  skopeo inspect --tls-verify=false --creds alice:s3cret "docker://$REG/$1" |
    python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["Layers"]))'
}

token_registry_up() {
  registry_up --token alice:s3cret
  TOKEN_LOG=$TEST_TMP/reg/token.log
  # skopeo's push went through the token server with the credentials.
  assert_line "$(cat "$TOKEN_LOG")" "alice repository:busybox:pull,push"
}

login_alice() {
  printf 's3cret\n' >pw
  RUN_STDIN=pw run_guise login --username alice --password-stdin $REG
  assert_status 0
}

test_token_pull_needs_login() {
  token_registry_up
  run_guise pull docker://$REG/busybox:latest
  assert_status 125
  assert_contains "$ERR" "manifest: HTTP status 401"
  assert_contains "$ERR" "no credentials for $REG: guise login $REG"
  # guise asked the token server anonymously for the pull scope, and got nothing.
  assert_eq "- repository:busybox:pull" "$(tail -1 "$TOKEN_LOG")" "anonymous token request"
  run_guise images -q
  assert_eq "" "$OUT" "images after a refused pull"
  [ -z "$(ls -A "$GUISE_ROOT/blobs/sha256" 2>/dev/null)" ] || fail "blobs left after a refused pull"
}

test_token_login_pull_push_logout() {
  token_registry_up
  printf 'wrong\n' >pw
  RUN_STDIN=pw run_guise login --username alice --password-stdin $REG
  assert_status 125
  assert_contains "$ERR" "login $REG: token from http://127.0.0.1:"
  assert_contains "$ERR" "invalid username or password"
  [ ! -s "$XDG_RUNTIME_DIR/containers/auth.json" ] ||
    ! grep -q "$REG" "$XDG_RUNTIME_DIR/containers/auth.json" || fail "a refused login was saved"
  login_alice
  assert_eq 600 "$(stat -c %a "$XDG_RUNTIME_DIR/containers/auth.json")" "auth.json mode"

  run_guise pull docker://$REG/busybox:latest
  assert_status 0
  assert_contains "$ERR" "Pulled $REG/busybox:latest"
  assert_line "$(cat "$TOKEN_LOG")" "alice repository:busybox:pull"
  run_guise inspect busybox
  got=$(printf '%s' "$OUT" | python3 -c 'import json,sys; print(" ".join(l["Digest"] for l in json.load(sys.stdin)[0]["Layers"]))')
  assert_eq "$(layers busybox:latest)" "$got" "pulled layers"

  # Another repository: a token for both (push to the new one, pull from the source) lets the
  # registry mount the blobs instead of an upload.
  run_guise push busybox docker://$REG/other/copy:v1
  assert_status 0
  assert_contains "$ERR" "mounted from busybox"
  assert_line "$(cat "$TOKEN_LOG")" "alice repository:busybox:pull repository:other/copy:pull,push"
  assert_eq "$(layers busybox:latest)" "$(layers other/copy:v1)" "layers of the pushed copy"

  run_guise logout $REG
  assert_status 0
  run_guise pull docker://$REG/other/copy:v1
  assert_status 125
  assert_contains "$ERR" "no credentials for $REG"
}

test_token_upload_and_wrong_creds() {
  token_registry_up
  login_alice
  # The token for the new repository serves the whole upload.
  push_upload fresh:1 alice:s3cret
  assert_eq "$(layers busybox:latest)" "$(layers fresh:1)" "layers of the upload"

  # --creds overrides auth.json: a wrong password is refused by the token server.
  run_guise pull --creds alice:wrong docker://$REG/fresh:1
  assert_status 125
  assert_contains "$ERR" "scope=repository%3Afresh%3Apull: invalid username or password"
  assert_line "$(cat "$TOKEN_LOG")" "? repository:fresh:pull"

  # readonly/ is pull-only for alice: the token lacks push and the registry says so.
  run_guise push localhost/fresh:1 docker://$REG/readonly/x:1
  assert_status 125
  assert_contains "$ERR" "HTTP status 401"
  assert_contains "$ERR" "denied to alice: wrong password or no access"
  ! skopeo inspect --tls-verify=false --creds alice:s3cret docker://$REG/readonly/x:1 \
    >/dev/null 2>&1 || fail "readonly/x:1 exists after a refused push"
}

run_tests
