#!/usr/bin/env bash
# The build acceptance with real root on the verifying side: a base image of the bookworm
# minbase fixture in a loopback registry; `FROM base` + `RUN apt-get install` of the apt
# acceptance packages from the loopback apt repository, built by guise unprivileged and pushed;
# skopeo copies the pushed image to an OCI layout, and in the root verification phase umoci
# unpacks it as real root (tests/setup/root-verify.sh): file for file, owner, group, mode,
# device nodes and file capabilities must equal the same install done as real root
# (tests/setup/aptrepo.sh's apt-reference.txt) outside volatile paths.
. "$(dirname "$0")/lib.sh"

test_apt_build_pushed_equals_root_install() {
  serve_apt_repo
  apt_port=$PORT
  start_registry
  export GUISE_ROOT=$TEST_TMP/store
  export XDG_RUNTIME_DIR=$TEST_TMP/run
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
  tarball_image "$(_fixture_tarball bookworm)" "$REG/base:latest"
  GUISE_TEST_TIMEOUT=300 run_guise push -q "$REG/base:latest"
  assert_status 0
  # The build pulls the base from the registry, not from the store.
  run_guise rmi "$REG/base:latest"
  assert_status 0
  mkdir ctx
  cat >ctx/Containerfile <<CF
FROM $REG/base:latest
ARG APT_PORT
RUN echo "deb [trusted=yes] http://127.0.0.1:\$APT_PORT/ ./" >/etc/apt/sources.list && \\
    apt-get update -q && apt-get install -y -q $APT_PACKAGES
CF
  GUISE_TEST_TIMEOUT=900 run_guise build --build-arg "APT_PORT=$apt_port" -t "$REG/apt:1" --push ctx
  assert_status 0
  assert_contains "$OUT" "Pulling $REG/base:latest" "the base comes from the registry"
  skopeo copy --quiet --src-tls-verify=false "docker://$REG/apt:1" oci:pushed:1 ||
    fail "skopeo could not copy apt:1 back"
  # Something to compare: the layout has the base's layer and the install's.
  layers=$(skopeo inspect oci:pushed:1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["Layers"]))')
  assert_eq 2 "$layers" "layers of the pushed image"
  request_root_verify apt-install pushed 1 apt-reference.txt volatile
}

run_tests
