#!/usr/bin/env bash
# guise inside CI containers and sandboxes, with Debian's real engines (issue 13): the same
# checks (tests/engines/inside.sh: `guise run` of the busybox rootfs, `guise fake --rootfs`
# populate of minbase, `guise push` to an oci: layout) in
#   - rootful podman, its default seccomp profile, as root and as --user 1000;
#   - Docker (docker.io's dockerd, private: own data root, exec root, socket) with guise's
#     profile (contrib/seccomp/guise.json), as root and as --user 1000 --cap-drop ALL
#     --security-opt no-new-privileges; with Docker's default profile, where `guise run`
#     cannot work, the exact diagnostic;
#   - bubblewrap as the unprivileged test user (and --uid 0: the CAP_SETFCAP diagnostic).
# The Kubernetes, GitLab and GitHub invocations of README.md's "Running in CI" are these
# docker/podman invocations (same profile, same user, same capabilities).
#
# Runs as root (engines need it; guise inside runs as the container's user).  One CI image
# (tests/setup/ci-image.sh: minbase + the built guise and its libraries) imported from a
# tarball into each engine, one dockerd for the whole file; nothing is pulled from a registry,
# and no engine's storage is bound into a container.
#
#   bash tests/engines/test_engines.sh       (tests/run-all.sh runs it when root)
# Environment: GUISE_ENGINE_BUILD  directory with the guise and guise-full to test
#              (default build/release).
. "$(dirname "$0")/../integration/lib.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${GUISE_ENGINE_BUILD:-$REPO/build/release}
PROFILE=$REPO/contrib/seccomp/guise.json
TREELIST=${GUISE_TREELIST:-$REPO/build/helpers/treelist}
IMAGE=localhost/guise-ci:test
# This machine's root has no CAP_SYS_RESOURCE: the engines' default limits (nofile 1048576,
# nproc unlimited) cannot be set, so every container gets limits below the current ones.
LIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
MOUNTS=(-v "$GUISE_TEST_CACHE:/fx:ro" -v "$REPO/tests/engines/inside.sh:/t/inside.sh:ro")

ENGINES_DIR=""
PODMAN=()
DOCKER=()
DOCKERD_PID=""
SETUP_ERROR=""

engines_cleanup() {
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  [ -n "$ENGINES_DIR" ] || return 0
  # What the engines leave mounted (overlay layers, netns and shm of containers).
  findmnt -rn -o TARGET | grep -F "$ENGINES_DIR/" | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  rm -rf --one-file-system "$ENGINES_DIR"
}

engines_setup() {
  [ "$(id -u)" -eq 0 ] || { SETUP_ERROR="not root (the engines run as root)"; return; }
  [ -x "$BUILD/guise" ] && [ -x "$BUILD/guise-full" ] || { SETUP_ERROR="no $BUILD/guise (make guise)"; return; }
  [ -r "$GUISE_TEST_CACHE/bookworm-minbase.tar" ] && [ -r "$GUISE_TEST_CACHE/busybox.tar" ] ||
    { SETUP_ERROR="fixtures missing (tests/setup/fixtures.sh)"; return; }
  ENGINES_DIR=$(mktemp -d /var/tmp/guise-engines.XXXXXX)
  chmod 755 "$ENGINES_DIR"
  trap engines_cleanup EXIT
  bash "$REPO/tests/setup/ci-image.sh" "$BUILD" "$ENGINES_DIR/ci.tar" >"$ENGINES_DIR/ci-image.log" 2>&1 ||
    { SETUP_ERROR="making the CI image failed: $(tail -3 "$ENGINES_DIR/ci-image.log")"; return; }
  if command -v podman >/dev/null; then
    # Private storage; runc: crun refuses this machine's hybrid cgroups.
    PODMAN=(podman --root "$ENGINES_DIR/podman" --runroot "$ENGINES_DIR/podman-run"
      --storage-driver vfs --tmpdir "$ENGINES_DIR/podman-tmp")
    "${PODMAN[@]}" import -q "$ENGINES_DIR/ci.tar" "$IMAGE" >"$ENGINES_DIR/podman.log" 2>&1 ||
      { echo "# podman import failed: $(tail -2 "$ENGINES_DIR/podman.log")"; PODMAN=(); }
  fi
  if [ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ]; then
    local d=$ENGINES_DIR/docker
    mkdir -p "$d"
    /usr/sbin/dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$d/data" \
      --exec-root "$d/exec" -H "unix://$d/docker.sock" --pidfile "$d/docker.pid" \
      >"$d/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    # /usr/bin/docker, not a docker earlier on PATH: the client of the same release.
    DOCKER=(/usr/bin/docker -H "unix://$d/docker.sock")
    local up=0
    for _ in $(seq 1 150); do
      "${DOCKER[@]}" version >/dev/null 2>&1 && { up=1; break; }
      kill -0 "$DOCKERD_PID" 2>/dev/null || break
      sleep 0.2
    done
    if [ $up -eq 0 ] || ! "${DOCKER[@]}" import "$ENGINES_DIR/ci.tar" "$IMAGE" >>"$d/dockerd.log" 2>&1; then
      echo "# dockerd did not come up: $(tail -3 "$d/dockerd.log")"
      DOCKER=()
    fi
  fi
}

need() { # need podman|docker|bwrap
  [ -z "$SETUP_ERROR" ] || skip "$SETUP_ERROR"
  case $1 in
  podman) [ ${#PODMAN[@]} -gt 0 ] || skip "podman not installed or its import failed" ;;
  docker) [ ${#DOCKER[@]} -gt 0 ] || skip "docker.io not installed or dockerd did not start" ;;
  bwrap) command -v bwrap >/dev/null || skip "bubblewrap not installed" ;;
  esac
}

# engine_run ENGINE-ARGV... -- ARGS...: run the CI image, leaving OUT, ERR, STATUS as run_guise.
podman_run() {
  STATUS=0
  timeout 240 "${PODMAN[@]}" run --rm --runtime runc --network host "${LIMITS[@]}" "${MOUNTS[@]}" \
    "$@" >"$TEST_TMP/.stdout" 2>"$TEST_TMP/.stderr" || STATUS=$?
  _engine_result podman "$@"
}

docker_run() {
  STATUS=0
  timeout 240 "${DOCKER[@]}" run --rm --network host "${LIMITS[@]}" "${MOUNTS[@]}" \
    "$@" >"$TEST_TMP/.stdout" 2>"$TEST_TMP/.stderr" || STATUS=$?
  _engine_result docker "$@"
}

_engine_result() {
  OUT=$(cat "$TEST_TMP/.stdout")
  ERR=$(cat "$TEST_TMP/.stderr")
  printf '+ %s\n  status %s\n  stdout: %s\n  stderr: %s\n' "$*" "$STATUS" "$OUT" "$ERR"
}

# The transcript of inside.sh: every step ran and ended with status 0.
assert_steps_passed() {
  assert_status 0
  local step
  for step in run fake push build; do
    printf '%s\n' "$OUT" | grep -A100 -xF "== $step" | grep -m1 '^status ' | grep -qx 'status 0' ||
      fail "step $step failed: $(_abbrev "$OUT") / $(_abbrev "$ERR")"
  done
}

# ... and what each step printed is what a container with namespaces gives.
assert_all_steps_passed() {
  assert_steps_passed
  assert_match '^inner uid 0 hostname [^ ]+ etc [^ ]+ self [0-9]+$' \
    "$(printf '%s\n' "$OUT" | grep '^inner uid')" "guise run's container"
  local line
  line=$(printf '%s\n' "$OUT" | grep '^inner uid')
  set -- $line
  assert_eq "$5" "$7" "/etc/hostname against hostname"
  assert_line "$OUT" "proc fd chown 1:2"
  assert_line "$OUT" "faked 0:43 664 mb/var/log/wtmp"
  assert_line "$OUT" "faked 0:0 4755 mb/usr/bin/passwd"
  assert_line "$OUT" "pushed bb"
  assert_line "$OUT" "built"
}

PROC_NOTICE="guise: notice: a new /proc is refused (Operation not permitted; the outer container masks parts of it): using the outer /proc, whose processes the container sees"
HOSTNAME_NOTICE_PREFIX="guise: notice: setting the hostname is refused (Operation not permitted): keeping the outer one, "

test_podman_default_profile_root() {
  need podman
  podman_run "$IMAGE" sh /t/inside.sh
  assert_all_steps_passed
  assert_contains "$ERR" "$HOSTNAME_NOTICE_PREFIX"
  assert_line "$ERR" "$PROC_NOTICE"
}

test_podman_default_profile_user_1000() {
  need podman
  podman_run --user 1000 "$IMAGE" sh /t/inside.sh
  assert_all_steps_passed
  assert_contains "$ERR" "$HOSTNAME_NOTICE_PREFIX"
}

test_podman_explicit_hostname_names_the_profile() {
  need podman
  podman_run --user 1000 "$IMAGE" sh -c 'cd /tmp && mkdir bb && tar -xf /fx/busybox.tar -C bb &&
    guise run --hostname box --rootfs bb -- true'
  assert_status 125
  assert_eq "guise: set hostname box (the outer container's seccomp profile refuses sethostname, as podman's default does without CAP_SYS_ADMIN: leave out --hostname, or run the outer container with guise's profile, --security-opt seccomp=contrib/seccomp/guise.json): Operation not permitted" "$ERR" "the one error"
}

test_podman_guise_profile_sets_the_hostname() {
  need podman
  podman_run --user 1000 --security-opt "seccomp=$PROFILE" "$IMAGE" sh -c 'cd /tmp &&
    mkdir bb && tar -xf /fx/busybox.tar -C bb && guise run --hostname box --rootfs bb -- hostname'
  assert_status 0
  assert_eq box "$OUT"
}

test_podman_unmasked_proc_gets_its_own() {
  need podman
  podman_run --user 1000 --security-opt 'unmask=/proc/*' "$IMAGE" sh -c 'cd /tmp &&
    mkdir bb && tar -xf /fx/busybox.tar -C bb && guise run --rootfs bb -- ps -o pid'
  assert_status 0
  assert_not_contains "$ERR" "a new /proc is refused"
  # Its own pid namespace: guise's init and the command (ps), nothing from outside.
  assert_eq "PID 1 2" "$(printf '%s\n' "$OUT" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//')" "processes seen"
}

test_podman_net_none_binds_sys() {
  need podman
  podman_run --user 1000 "$IMAGE" sh -c 'cd /tmp && mkdir bb && tar -xf /fx/busybox.tar -C bb &&
    guise run --net none --rootfs bb -- sh -c "ls -d /sys/class; ip -o link | cut -d: -f2"'
  assert_status 0
  assert_line "$ERR" "guise: notice: a new /sys is refused (Operation not permitted; the outer container masks parts of it): using the outer /sys, whose network devices the container sees"
  assert_eq "/sys/class lo" "$(printf '%s\n' "$OUT" | tr -s ' \n' ' ' | sed 's/ $//')" "the container's view"
}

test_docker_guise_profile_root() {
  need docker
  docker_run --security-opt "seccomp=$PROFILE" "$IMAGE" sh /t/inside.sh
  assert_all_steps_passed
  assert_line "$ERR" "$PROC_NOTICE"
}

test_docker_guise_profile_user_1000_no_caps() {
  need docker
  docker_run --security-opt "seccomp=$PROFILE" --user 1000 --cap-drop ALL \
    --security-opt no-new-privileges "$IMAGE" sh /t/inside.sh
  assert_all_steps_passed
  assert_line "$ERR" "$PROC_NOTICE"
}

test_docker_unmasked_proc_gets_its_own() {
  need docker
  docker_run --security-opt "seccomp=$PROFILE" --security-opt systempaths=unconfined \
    --user 1000 "$IMAGE" sh /t/inside.sh run
  assert_status 0
  assert_line "$OUT" "status 0"
  assert_not_contains "$ERR" "a new /proc is refused"
}

test_docker_default_profile_diagnostic() {
  need docker
  docker_run --user 1000 --cap-drop ALL --security-opt no-new-privileges \
    --env GUISE_RUN_OPTS=--isolation=namespaces "$IMAGE" sh /t/inside.sh run fake push
  assert_status 0
  assert_eq "guise: create the container's namespaces (refused by the seccomp profile of the container guise runs in, \"Seccomp: 2\" in /proc/self/status: Docker's default profile refuses new namespaces; run it with guise's profile: docker run --security-opt seccomp=guise.json, podman run --security-opt seccomp=guise.json, Kubernetes securityContext.seccompProfile {type: Localhost, localhostProfile: guise.json}; guise.json is guise's contrib/seccomp/guise.json): Operation not permitted" \
    "$ERR" "the one error"
  # What needs no namespace works there: the populate (pidfd_getfd is refused: the supervisor
  # reaches the descriptors through /proc) and push.
  assert_line "$OUT" "faked 0:43 664 mb/var/log/wtmp"
  assert_line "$OUT" "faked 0:0 4755 mb/usr/bin/passwd"
  assert_line "$OUT" "pushed bb"
}

# Docker's default profile as it is (issue 14): guise finds that it cannot create a user
# namespace and runs without namespaces, saying once why and what is then not isolated.
test_docker_default_profile_runs_without_namespaces() {
  need docker
  docker_run --user 1000 --cap-drop ALL --security-opt no-new-privileges "$IMAGE" \
    sh /t/inside.sh run fake push build
  assert_steps_passed
  assert_match '^inner uid 0 ' "$(printf '%s\n' "$OUT" | grep '^inner uid')" "guise run's command"
  assert_line "$OUT" "faked 0:0 4755 mb/usr/bin/passwd"
  assert_line "$OUT" "pushed bb"
  assert_contains "$ERR" "cannot create a user namespace (Operation not permitted)" "the fallback"
  assert_contains "$ERR" "Docker's default profile refuses new namespaces" "the cause"
  assert_contains "$ERR" "running without namespaces" "what it does instead"
}

# README's demo build in the most restricted CI setting: apt-get install from the local apt
# repository, as user 1000 without capabilities, in Docker with guise's profile.  The image is
# then unpacked by umoci as real root and compared file for file (owners, modes, setuid bits,
# capabilities) with the same install done as root, as test_build_apt_root.sh does on the host.
# README's demo build (inside.sh's apt step) in each engine: the image guise built there is
# unpacked by umoci as real root and compared file for file (owners, modes, setuid bits,
# capabilities) with the same install done as root, as test_build_apt_root.sh does on the host.
# apt_build ENGINE [ENGINE-OPTIONS...]: ENGINE is podman, docker or bwrap.
apt_build() {
  local engine=$1
  shift
  need "$engine"
  [ -x "$TREELIST" ] || skip "no $TREELIST (make build/helpers/treelist)"
  serve_apt_repo
  local out=$TEST_TMP/out
  mkdir -m 777 "$out"
  case $engine in
  podman | docker)
    "${engine}_run" "$@" -v "$out:/out" -e "APT_PORT=$PORT" -e "APT_PACKAGES=$APT_PACKAGES" \
      "$IMAGE" sh /t/inside.sh apt
    ;;
  bwrap)
    bwrap_run "$@" --setenv APT_PORT "$PORT" --setenv APT_PACKAGES "$APT_PACKAGES" \
      --setenv GUISE_OUT "$out" -- apt
    ;;
  esac
  assert_status 0
  printf '%s\n' "$OUT" | grep -qx "built apt" ||
    fail "the build failed: $(printf '%s\n' "$ERR" | grep -v '^\(Get\|Selecting\|Preparing\|Unpacking\|Setting up\|Processing\):' | tail -15)"
  local req=$TEST_TMP/engines.apt
  mkdir "$req"
  mv "$out/layout" "$req/layout" || fail "no layout from the build: $(_abbrev "$ERR")"
  printf apt >"$req/tag"
  printf apt-reference.txt >"$req/reference"
  printf volatile >"$req/mode"
  chmod -R a+rX "$TEST_TMP"
  GUISE_TEST_RESULTS= bash "$REPO/tests/setup/root-verify.sh" "$req" "$TREELIST" >verify.log 2>&1 ||
    fail "the image differs from the root install: $(head -12 verify.log)"
  note "$(head -1 verify.log | sed 's/^ok - [^#]*# //')"
}

test_podman_apt_build_root() { apt_build podman; }
test_podman_apt_build_user_1000() { apt_build podman --user 1000; }
test_docker_apt_build_guise_profile_root() { apt_build docker --security-opt "seccomp=$PROFILE"; }
test_docker_apt_build_equals_root_install() {
  apt_build docker --security-opt "seccomp=$PROFILE" --user 1000 --cap-drop ALL \
    --security-opt no-new-privileges
}
# Docker's default profile: no namespaces at all (test_docker_default_profile_diagnostic), so
# the build's RUN step runs without them (issue 14); build -q keeps its notice quiet.
test_docker_default_profile_apt_build_without_namespaces() {
  apt_build docker --user 1000 --cap-drop ALL --security-opt no-new-privileges
}
test_bwrap_apt_build() { apt_build bwrap; }

# bwrap_run [BWRAP-OPTIONS...] [-- STEPS...]: inside.sh in bubblewrap as the test user.
bwrap_run() {
  local opts=() steps=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -eq 0 ] || { shift; steps=("$@"); }
  set -- "${opts[@]}"
  local dir=$TEST_TMP/bw
  mkdir -p "$dir/bin" "$dir/tmp"
  install -m 755 "$BUILD/guise" "$BUILD/guise-full" "$dir/bin/"
  # CI's clone is a mode-700 directory: the test user reads its own copy of inside.sh.
  install -m 644 "$REPO/tests/engines/inside.sh" "$dir/inside.sh"
  chmod 755 "$TEST_TMP" "$dir"
  chown "${GUISE_TEST_USER:-guise-test}:" "$dir/tmp"
  STATUS=0
  timeout 240 bash "$REPO/tests/setup/test-user.sh" exec \
    bwrap --unshare-user "$@" --dev-bind / / --proc /proc --setenv GUISE_FX "$GUISE_TEST_CACHE" \
    --setenv PATH "$dir/bin:/usr/bin:/bin" --setenv TMPDIR "$dir/tmp" \
    sh "$dir/inside.sh" "${steps[@]}" >"$TEST_TMP/.stdout" 2>"$TEST_TMP/.stderr" || STATUS=$?
  _engine_result bwrap "$@"
}

test_bwrap_unprivileged() {
  need bwrap
  bwrap_run
  assert_all_steps_passed
  assert_not_contains "$ERR" "notice"
}

test_bwrap_uid0_names_setfcap() {
  need bwrap
  bwrap_run --uid 0 -- run fake push
  assert_status 0
  assert_eq "guise: map uid 0 to root in the user namespace (guise runs as uid 0 of a user namespace without CAP_SETFCAP, which Linux >= 5.12 requires to map uid 0; run guise as another uid, e.g. bwrap --uid 1000, or keep the capability: bwrap --cap-add CAP_SETFCAP, docker/podman run --cap-add SETFCAP): write /proc/self/uid_map: Operation not permitted" \
    "$ERR" "the one error"
  printf '%s\n' "$OUT" | grep -A1 -xF '== run' | grep -qx 'status 125' || fail "run: expected status 125"
}

# A build whose RUN cannot set up its container names the step and the cause, once; not
# "exited with status 125" for a command that never ran, nor a second error from the supervisor.
test_bwrap_uid0_build_names_the_failing_step() {
  need bwrap
  local dir=$TEST_TMP/bw
  mkdir -p "$dir/ctx"
  cp "$GUISE_TEST_CACHE/busybox.tar" "$dir/ctx/"
  printf 'FROM scratch\nADD busybox.tar /\nRUN echo hi\n' >"$dir/ctx/Containerfile"
  install -m 755 "$BUILD/guise" "$BUILD/guise-full" "$dir/"
  chmod 755 "$TEST_TMP"
  chown -R "${GUISE_TEST_USER:-guise-test}:" "$dir"
  STATUS=0
  (cd "$dir" && timeout 120 bash "$REPO/tests/setup/test-user.sh" exec bwrap --unshare-user --uid 0 \
    --dev-bind / / --proc /proc ./guise build --root store ctx) >"$TEST_TMP/.stdout" 2>"$TEST_TMP/.stderr" || STATUS=$?
  _engine_result bwrap build
  assert_status 1
  assert_eq "guise: ctx/Containerfile:3: RUN echo hi: map uid 0 to root in the user namespace (guise runs as uid 0 of a user namespace without CAP_SETFCAP, which Linux >= 5.12 requires to map uid 0; run guise as another uid, e.g. bwrap --uid 1000, or keep the capability: bwrap --cap-add CAP_SETFCAP, docker/podman run --cap-add SETFCAP): write /proc/self/uid_map: Operation not permitted" \
    "$ERR" "the one error"
}

test_bwrap_uid0_with_setfcap() {
  need bwrap
  bwrap_run --uid 0 --cap-add CAP_SETFCAP
  assert_all_steps_passed
}

test_userns_limit_names_the_sysctl() {
  need bwrap
  local dir=$TEST_TMP/u
  mkdir -p "$dir"
  tar --no-same-owner -xf "$GUISE_TEST_CACHE/busybox.tar" -C "$dir"
  install -m 755 "$BUILD/guise" "$TEST_TMP/guise"
  chmod 755 "$TEST_TMP"
  chown -R "${GUISE_TEST_USER:-guise-test}:" "$dir"
  STATUS=0
  # The limit is per user namespace: set to 0 in one of the test user's own.
  bash "$REPO/tests/setup/test-user.sh" exec unshare -Ur sh -c \
    "echo 0 >/proc/sys/user/max_user_namespaces && exec $TEST_TMP/guise run --isolation=namespaces --rootfs $dir true" \
    >"$TEST_TMP/.stdout" 2>"$TEST_TMP/.stderr" || STATUS=$?
  _engine_result unshare
  assert_status 125
  assert_eq "guise: create the container's namespaces (user namespaces are disabled or used up: /proc/sys/user/max_user_namespaces is 0 here, and the limits of outer user namespaces count too; raise it where it is low, e.g. on the host as root: sysctl -w user.max_user_namespaces=15000): No space left on device" \
    "$ERR" "the one error"
}

# The shipped profile is what generate.py makes of the installed Docker's default profile.
test_shipped_profile_is_docker_default_plus_guise() {
  local default=/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json
  [ -r "$default" ] || skip "$default missing (golang-github-docker-docker-dev)"
  python3 "$REPO/contrib/seccomp/generate.py" "$default" >generated.json
  cmp -s generated.json "$PROFILE" ||
    fail "contrib/seccomp/guise.json differs from generate.py's output: $(diff "$PROFILE" generated.json | head -5)"
}

engines_setup
run_tests
