# Tiny test harness for guise's integration tests.  A test file sources this, defines
# functions named test_*, and ends with `run_tests`:
#
#   . "$(dirname "$0")/lib.sh"
#   test_true() { rootfs=$(fixture_rootfs busybox); run_guise run --rootfs "$rootfs" true; assert_status 0; }
#   run_tests
#
# Each test runs in its own subshell (set -e), in a fresh temp dir ($TEST_TMP, also the cwd),
# and is reported as `ok - NAME`, `FAIL - NAME: REASON` (followed by its log) or
# `skip - NAME: REASON`.  Results are also appended to $GUISE_TEST_RESULTS (one
# "ok|FAIL|skip NAME" line per case) for tests/run-all.sh to add up.
#
# Environment (set by tests/run-all.sh; defaults suit a run from the repository root):
#   GUISE              the guise binary under test
#   GUISE_HELPERS      directory with the static helpers (build/helpers)
#   GUISE_FIXTURES     the repository's fixtures/ directory
#   GUISE_TEST_CACHE   cached rootfs tarballs (tests/setup/fixtures.sh)
#   GUISE_TEST_FILTER  only run tests whose name matches this extended regex
#   GUISE_TEST_KEEP=1  keep the temp dirs of failed tests
#   GUISE_TEST_TIMEOUT seconds one guise invocation may take in run_guise (default 60)

_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_repo_guess=$(cd "$_lib_dir/../.." && pwd)
GUISE=${GUISE:-$_repo_guess/build/asan/guise}
GUISE_HELPERS=${GUISE_HELPERS:-$_repo_guess/build/helpers}
GUISE_FIXTURES=${GUISE_FIXTURES:-$_repo_guess/fixtures}
GUISE_TEST_CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}
GUISE_TEST_TIMEOUT=${GUISE_TEST_TIMEOUT:-60}
export GUISE GUISE_HELPERS GUISE_FIXTURES GUISE_TEST_CACHE

# ---- reporting, used inside a test ---------------------------------------------------------

# fail REASON: end the current test as failed.
fail() {
  printf '%s\n' "$*" >"$TEST_TMP/.reason"
  exit 1
}

# skip REASON: end the current test as skipped.
skip() {
  printf '%s\n' "$*" >"$TEST_TMP/.reason"
  exit 77
}

# note TEXT: shown after `ok - NAME` (e.g. which of two accepted behaviours was seen).
note() {
  printf '%s\n' "$*" >>"$TEST_TMP/.note"
}

# on_exit CMD [ARG...]: run CMD when the current test ends, however it ends.
on_exit() {
  _on_exit_cmds+=("$(printf '%q ' "$@")")
}

_run_on_exit() {
  local i
  for ((i = ${#_on_exit_cmds[@]} - 1; i >= 0; i--)); do
    eval "${_on_exit_cmds[i]}" >/dev/null 2>&1 || true
  done
}

# ---- assertions --------------------------------------------------------------------------

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
  [ "$1" = "$2" ] || fail "${3:-value}: expected '$1', got '$2'"
}

# assert_ne UNEXPECTED ACTUAL [WHAT]
assert_ne() {
  [ "$1" != "$2" ] || fail "${3:-value}: expected anything but '$1'"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
  case "$1" in
  *"$2"*) ;;
  *) fail "${3:-output}: expected to contain '$2', got '$(_abbrev "$1")'" ;;
  esac
}

# assert_line TEXT LINE [WHAT]: LINE is one whole line of TEXT.
assert_line() {
  printf '%s\n' "$1" | grep -qxF -- "$2" || fail "${3:-output}: expected a line '$2', got '$(_abbrev "$1")'"
}

# assert_no_line TEXT LINE [WHAT]
assert_no_line() {
  ! printf '%s\n' "$1" | grep -qxF -- "$2" || fail "${3:-output}: expected no line '$2', got '$(_abbrev "$1")'"
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
  case "$1" in
  *"$2"*) fail "${3:-output}: expected not to contain '$2', got '$(_abbrev "$1")'" ;;
  esac
}

# assert_match REGEX TEXT [WHAT]: extended regex, anchored by the caller if needed.
assert_match() {
  printf '%s' "$2" | grep -Eq -- "$1" || fail "${3:-output}: expected to match /$1/, got '$(_abbrev "$2")'"
}

# assert_status EXPECTED: the status of the last run_guise.
assert_status() {
  [ "$STATUS" = "$1" ] && return 0
  local why="exit status: expected $1, got $STATUS"
  [ "$STATUS" = 124 ] && why="$why (timed out after ${GUISE_TEST_TIMEOUT}s)"
  fail "$why; stderr: '$(_abbrev "$ERR")'"
}

# Output that fits on one report line.
_abbrev() {
  # Escape the start only: a substitution over a large output (a tree listing) takes minutes.
  local text=${1:0:401}
  text=${text//$'\n'/\\n}
  [ ${#text} -le 400 ] || text="${text:0:400}..."
  printf '%s' "$text"
}

# ---- running guise -------------------------------------------------------------------------

# run_guise ARGS...: run guise, leaving $OUT, $ERR (without the final newline) and $STATUS.
# stdin is /dev/null unless RUN_STDIN names a file.  Bounded by GUISE_TEST_TIMEOUT so that a
# hang fails one test instead of the whole file (status 124).
run_guise() {
  STATUS=0
  timeout --kill-after=5 "$GUISE_TEST_TIMEOUT" "$GUISE" "$@" \
    <"${RUN_STDIN:-/dev/null}" >"$TEST_TMP/.stdout" 2>"$TEST_TMP/.stderr" || STATUS=$?
  OUT=$(cat "$TEST_TMP/.stdout")
  ERR=$(cat "$TEST_TMP/.stderr")
  # Shown in the log if the test fails.
  printf '+ guise %s\n  status %s\n' "$*" "$STATUS"
  [ -z "$OUT" ] || printf '  stdout: %s\n' "$(_abbrev "$OUT")"
  [ -z "$ERR" ] || printf '  stderr: %s\n' "$(_abbrev "$ERR")"
  check_sanitizers "$ERR"
}

# check_sanitizers TEXT: fail on an ASan/LSan/UBSan report, whatever the exit status was.
check_sanitizers() {
  case "$1" in
  *"ERROR: AddressSanitizer"* | *"ERROR: LeakSanitizer"* | *"runtime error: "* | \
    *"Sanitizer has encountered a fatal error"* | *"Sanitizer CHECK failed"*)
    fail "sanitizer report from guise: $(_abbrev "$(printf '%s\n' "$1" | grep -m3 -E 'ERROR|runtime error|Sanitizer')")"
    ;;
  esac
}

# start_guise ARGS...: run guise in the background with stdin /dev/null, stdout and stderr in
# $TEST_TMP/bg.out and bg.err; its pid in $GUISE_PID.  Finish with wait_guise.
start_guise() {
  # A non-interactive shell starts background jobs with SIGINT and SIGQUIT ignored; undo that
  # so that signal tests see what a terminal user would.
  env --default-signal=INT,QUIT "$GUISE" "$@" </dev/null >"$TEST_TMP/bg.out" 2>"$TEST_TMP/bg.err" &
  GUISE_PID=$!
  printf '+ guise %s &  (pid %s)\n' "$*" "$GUISE_PID"
}

# wait_guise [SECONDS]: wait for the background guise, leaving $STATUS, $OUT and $ERR; kill it
# and fail if it has not exited in time.
wait_guise() {
  local i=0 limit=$((${1:-20} * 10))
  while kill -0 "$GUISE_PID" 2>/dev/null && [ $i -lt $limit ]; do
    # A zombie still answers kill -0; `wait -n` is not used since it would block.
    [ "$(ps -o stat= -p "$GUISE_PID" 2>/dev/null | cut -c1)" = Z ] && break
    sleep 0.1
    i=$((i + 1))
  done
  if [ $i -ge $limit ]; then
    kill -KILL "$GUISE_PID" 2>/dev/null || true
    wait "$GUISE_PID" 2>/dev/null || true
    fail "guise did not exit within ${1:-20}s; stderr: '$(_abbrev "$(cat "$TEST_TMP/bg.err")")'"
  fi
  STATUS=0
  wait "$GUISE_PID" || STATUS=$?
  OUT=$(cat "$TEST_TMP/bg.out")
  ERR=$(cat "$TEST_TMP/bg.err")
  printf '  status %s\n  stdout: %s\n  stderr: %s\n' "$STATUS" "$(_abbrev "$OUT")" "$(_abbrev "$ERR")"
  check_sanitizers "$ERR"
}

# run_in ROOTFS SHELL-SCRIPT [GUISE-OPTIONS...]: `guise run OPTIONS --rootfs ROOTFS sh -c SCRIPT`.
run_in() {
  local rootfs=$1 script=$2
  shift 2
  run_guise run "$@" --rootfs "$rootfs" -- sh -c "$script"
}

# ---- fixtures ------------------------------------------------------------------------------

# fixture_rootfs busybox|bookworm|rpm-base|debootstrap-host: extract a cached rootfs into a
# fresh directory under $TEST_TMP and print its path.  Every file is then owned by the test user, who is root inside
# the container.  Use as `rootfs=$(fixture_rootfs busybox)` (not with `local`, whose status
# would hide a skip or failure).
# _fixture_tarball NAME: the cached tarball's path (skip when it is missing).
_fixture_tarball() {
  local tarball
  case "$1" in
  busybox) tarball=$GUISE_TEST_CACHE/busybox.tar ;;
  bookworm) tarball=$GUISE_TEST_CACHE/bookworm-minbase.tar ;;
  rpm-base) tarball=$GUISE_TEST_CACHE/rpm-base.tar ;; # tests/setup/rpmrepo.sh
  # bookworm with debootstrap installed (tests/setup/debootstrap-repo.sh)
  debootstrap-host) tarball=$GUISE_TEST_CACHE/debootstrap-host.tar ;;
  *) fail "unknown fixture '$1'" ;;
  esac
  [ -r "$tarball" ] || skip "fixture $tarball missing (run tests/setup/fixtures.sh or debootstrap-repo.sh as root)"
  printf '%s\n' "$tarball"
}

fixture_rootfs() {
  local name=$1 tarball
  tarball=$(_fixture_tarball "$name")
  local dir
  dir=$(mktemp -d "$TEST_TMP/rootfs-$name.XXXXXX")
  # -p keeps modes (/tmp 1777); --no-same-owner because an unprivileged user cannot chown.
  # Errors an unprivileged extraction cannot avoid (device nodes, which the fixtures do not
  # ship anyway) are tolerated; the check below catches a broken tree.
  tar --extract --file "$tarball" --directory "$dir" --no-same-owner --preserve-permissions \
    --delay-directory-restore 2>"$TEST_TMP/.tar-errors" || true
  [ -x "$dir/bin/sh" ] || fail "fixture_rootfs $name: no /bin/sh after extraction: $(head -3 "$TEST_TMP/.tar-errors")"
  printf '%s\n' "$dir"
}

# fixture_rootfs_faked busybox|bookworm|rpm-base: like fixture_rootfs, but extracted under `guise fake`
# so that the owners, modes and devices of the tarball (which the user cannot put on disk) are
# recorded in the rootfs's faked-state database, as an image pull would: the container then
# sees the tree as root made it.
fixture_rootfs_faked() {
  local name=$1 tarball
  tarball=$(_fixture_tarball "$name")
  local dir
  dir=$(mktemp -d "$TEST_TMP/rootfs-$name.XXXXXX")
  "$GUISE" fake --rootfs "$dir" -- tar --extract --file "$tarball" --directory "$dir" \
    --same-owner --preserve-permissions 2>"$TEST_TMP/.tar-errors" ||
    fail "fixture_rootfs_faked $name: $(head -3 "$TEST_TMP/.tar-errors")"
  printf '%s\n' "$dir"
}

# tarball_image TARBALL NAME [GUISE-BUILD-OPTIONS...]: `guise build` the image NAME of a root
# filesystem tarball (FROM scratch, ADD, CMD bash), in a fresh build context under ./.
tarball_image() {
  local tarball=$1 name=$2 ctx
  shift 2
  ctx=$(mktemp -d "$TEST_TMP/image-ctx.XXXXXX")
  # A hard link where the filesystem allows (the fixtures are hundreds of MB), else a copy.
  ln "$tarball" "$ctx/base.tar" 2>/dev/null || cp "$tarball" "$ctx/base.tar"
  printf 'FROM scratch\nADD base.tar /\nCMD ["bash"]\n' >"$ctx/Containerfile"
  GUISE_TEST_TIMEOUT=300 run_guise build -q "$@" -t "$name" "$ctx"
  assert_status 0
  rm -rf "$ctx"
}

# helper NAME: path of a static helper program; skip if it was not built.
helper() {
  [ -x "$GUISE_HELPERS/$1" ] || skip "helper $GUISE_HELPERS/$1 not built (make build/helpers/$1)"
  printf '%s\n' "$GUISE_HELPERS/$1"
}

# wait_for_file FILE TEXT [SECONDS]: wait until FILE contains TEXT.
wait_for_file() {
  local i=0 limit=$((${3:-10} * 10))
  while [ $i -lt $limit ]; do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
    i=$((i + 1))
  done
  fail "timed out waiting for '$2' in $1: '$(_abbrev "$(cat "$1" 2>/dev/null)")'"
}

# serve_dir DIR: a static HTTP server for DIR on a free loopback port (stopped when the test
# ends); sets $PORT.
serve_dir() {
  python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >http.log 2>&1 &
  local pid=$!
  on_exit kill "$pid"
  local i
  for i in $(seq 50); do
    PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' http.log | head -1)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  fail "the HTTP server did not start: $(cat http.log)"
}

# The apt acceptance install (tests/setup/aptrepo.sh made its repository and the listing of the
# same install done as real root).
APT_PACKAGES="cron dbus sudo man-db iputils-ping fuse3 openssh-server tcpdump"
APT_REPO=$GUISE_TEST_CACHE/aptrepo
APT_REFERENCE=$GUISE_TEST_CACHE/apt-reference.txt

# serve_apt_repo: serve $APT_REPO on a free loopback port (skip when it was not made); sets $PORT.
serve_apt_repo() {
  [ -r "$APT_REFERENCE" ] || skip "no local apt repository (sudo bash tests/setup/aptrepo.sh build/helpers/treelist)"
  serve_dir "$APT_REPO"
}

# assert_root_install ROOTFS: the tree a container of ROOTFS sees (treelist) equals the apt
# acceptance install done as real root, outside volatile paths.
assert_root_install() {
  run_guise run -v "$(helper treelist):/treelist:ro" --rootfs "$1" -- /treelist /
  assert_status 0
  printf '%s\n' "$OUT" >tree.txt
  compare_tree tree.txt "$APT_REFERENCE"
  note "$DIFFS differences from the root install"
  assert_eq 0 "$DIFFS" "differences from the root install"
}

# start_registry [USER:PASS | --token USER:PASS]: a loopback registry (tests/setup/registry.sh,
# whose functions are then defined; --token: token auth with its token server, whose requests
# are logged to $TEST_TMP/reg/token.log), stopped when the test ends; sets PORT and REG
# (127.0.0.1:PORT).
start_registry() {
  local registry_sh=${GUISE_REGISTRY_SH:-$_lib_dir/../setup/registry.sh} tool
  [ -r "$registry_sh" ] || skip "tests/setup/registry.sh not found ($registry_sh)"
  if [ "${1:-}" = --token ]; then
    command -v openssl >/dev/null && /usr/bin/python3 -c "import jwt, cryptography" 2>/dev/null ||
      skip "the token server needs openssl python3-jwt python3-cryptography"
  fi
  for tool in docker-registry skopeo umoci python3; do
    command -v "$tool" >/dev/null || [ -x "/usr/bin/$tool" ] ||
      skip "$tool missing (apt-get install docker-registry skopeo umoci)"
  done
  . "$registry_sh"
  PORT=$(registry_start "$TEST_TMP/reg" "$@") || fail "registry did not start"
  on_exit registry_stop "$TEST_TMP/reg"
  REG=127.0.0.1:$PORT
}

# Paths whose metadata legitimately differs between two installs, or that the runtime provides.
# (Lines are "PATH TYPE MODE ..." as build/helpers/treelist prints them; the runtime's mount
# points are not in the container's tree.)
TREE_VOLATILE='^/(proc|sys|dev|run|tmp)[/ ]|^/var/log[/ ]|^/var/cache/apt[/ ]|^/var/lib/apt/lists[/ ]|^/etc/ld\.so\.cache |^[^ ]*(-|-old|machine-id) |^/etc/(hostname|hosts|resolv\.conf) |^/treelist '

# compare_tree FILE REFERENCE [EXCLUDE]: compare a treelist output with a sorted reference one,
# leaving out the lines that match the extended regex EXCLUDE (default: the volatile paths);
# prints the differences, sets $DIFFS to their number.
compare_tree() {
  local exclude=${3:-$TREE_VOLATILE}
  LC_ALL=C sort "$1" | grep -Ev "$exclude" >got.txt || true
  grep -Ev "$exclude" "$2" >want.txt || true
  diff want.txt got.txt >diff.txt || true
  DIFFS=$(grep -c '^[<>]' diff.txt || true)
  echo "differences from ${2##*/}$([ -n "${3:-}" ] || echo ' (outside volatile paths)'): $DIFFS"
  head -40 diff.txt
}

# registry_up [USER:PASS | --token USER:PASS]: start_registry with busybox:latest pushed
# (umoci + skopeo, with USER:PASS), and a store in GUISE_ROOT; everything is stopped and removed
# when the test ends.
registry_up() {
  [ -r "$GUISE_TEST_CACHE/busybox.tar" ] || skip "fixture busybox.tar missing"
  local creds=${1:-}
  [ "$creds" != --token ] || creds=$2
  start_registry "$@"
  registry_push_rootfs "$PORT" "$GUISE_TEST_CACHE/busybox.tar" "$TEST_TMP" busybox "$creds" >/dev/null ||
    fail "could not push the busybox fixture"
  export GUISE_ROOT=$TEST_TMP/store
  export XDG_RUNTIME_DIR=$TEST_TMP/run
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
}

# push_upload NAME:TAG [USER:PASS]: pull $REG/busybox:latest, keep it only as localhost/NAME:TAG
# and push that to $REG/NAME:TAG in 100000-byte chunks: with no name of this registry to mount
# from, a real upload (POST, PATCH, PUT), which skopeo (with USER:PASS) must copy back intact.
push_upload() {
  local ref=$1 creds=${2:-}
  run_guise pull -q docker://$REG/busybox:latest
  assert_status 0
  run_guise tag busybox localhost/$ref
  run_guise rmi $REG/busybox:latest
  GUISE_PUSH_CHUNK_SIZE=100000 run_guise push --quiet localhost/$ref docker://$REG/$ref
  assert_status 0
  assert_not_contains "$ERR" "mounted"
  skopeo copy --quiet --src-tls-verify=false ${creds:+--src-creds "$creds"} docker://$REG/$ref \
    oci:$TEST_TMP/check:x || fail "skopeo cannot copy the upload $ref (blob corrupt?)"
}

# request_root_verify NAME LAYOUT TAG REFERENCE exact|volatile: have the image LAYOUT:TAG (an
# OCI layout directory, moved into the request) unpacked by umoci as real root once this file's
# tests are done, and its treelist compared with REFERENCE, a root-made listing in
# $GUISE_TEST_CACHE: every line with `treelist -n` (exact), or outside TREE_VOLATILE without
# (volatile).  tests/run-all.sh does it (tests/setup/root-verify.sh) and reports
# root-verify/FILE.NAME; as another user than root it reports a skip.
request_root_verify() {
  local name=$1 layout=$2 tag=$3 reference=$4 mode=$5
  if [ -z "${GUISE_TEST_ROOT_REQUESTS:-}" ]; then
    note "no root verification of $name (only tests/run-all.sh does it)"
    return 0
  fi
  local req
  req=$GUISE_TEST_ROOT_REQUESTS/$(basename "$0" .sh).$name
  [ ! -e "$req" ] || fail "root verification $name requested twice"
  mkdir "$req"
  mv "$layout" "$req/layout"
  printf '%s' "$tag" >"$req/tag"
  printf '%s' "$reference" >"$req/reference"
  printf '%s' "$mode" >"$req/mode"
  note "root verification of $name requested"
}

# ---- the runner ----------------------------------------------------------------------------

_on_error() {
  [[ $- == *e* ]] || return 0
  [ -e "$TEST_TMP/.reason" ] || echo "command failed (status $1): $BASH_COMMAND" >"$TEST_TMP/.reason"
}

_remove_tree() {
  # The container may have left read-only directories behind (its root owns them, and that
  # is us); --one-file-system so that nothing outside the test dir can ever be touched.
  chmod -R u+rwX "$1" 2>/dev/null || true
  rm -rf --one-file-system "$1"
}

# The tests of the sourcing file, in the order they are defined.
_test_names() {
  grep -oE '^test_[A-Za-z0-9_]+ *\(\)' "$0" | sed -E 's/ *\(\)$//'
}

run_tests() {
  local file passed=0 failed=0 skipped=0 name status reason log
  file=$(basename "$0" .sh)
  local base=${TMPDIR:-/tmp}
  for name in $(_test_names); do
    if [ -n "${GUISE_TEST_FILTER:-}" ] && ! [[ $name =~ $GUISE_TEST_FILTER ]]; then
      continue
    fi
    TEST_TMP=$(mktemp -d "$base/guise-$name.XXXXXX")
    export TEST_TMP
    log=$TEST_TMP/.log
    # Not `( ... ) || status=$?`: bash ignores set -e inside a subshell left of ||.
    set +e
    (
      set -e
      # Name the command that stopped a test under set -e (unless an assertion said why).
      # -E: the trap must reach into the test function; $- check: only where errexit applies.
      set -E
      trap '_on_error $?' ERR
      _on_exit_cmds=()
      trap _run_on_exit EXIT
      cd "$TEST_TMP"
      "$name"
    ) >"$log" 2>&1 </dev/null
    status=$?
    reason=$(cat "$TEST_TMP/.reason" 2>/dev/null || true)
    case "$status" in
    0)
      passed=$((passed + 1))
      if [ -s "$TEST_TMP/.note" ]; then
        echo "ok - $name # $(paste -sd' ' "$TEST_TMP/.note")"
      else
        echo "ok - $name"
      fi
      _record ok "$file/$name"
      ;;
    77)
      skipped=$((skipped + 1))
      echo "skip - $name: ${reason:-no reason given}"
      _record skip "$file/$name"
      ;;
    *)
      failed=$((failed + 1))
      echo "FAIL - $name: ${reason:-a command failed (exit $status), see the log}"
      sed -n '1,60s/^/    # /p' "$log"
      _record FAIL "$file/$name"
      ;;
    esac
    if [ "$status" != 0 ] && [ "$status" != 77 ] && [ "${GUISE_TEST_KEEP:-}" = 1 ]; then
      echo "    # kept $TEST_TMP"
    else
      _remove_tree "$TEST_TMP"
    fi
  done
  echo "# $file: $passed passed, $failed failed, $skipped skipped"
  [ "$failed" -eq 0 ]
}

_record() {
  [ -z "${GUISE_TEST_RESULTS:-}" ] || echo "$1 $2" >>"$GUISE_TEST_RESULTS"
}
