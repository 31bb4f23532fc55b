#!/usr/bin/env bash
# The unprivileged user the integration tests run as: a system user with a home, no
# capabilities and, on purpose, no /etc/subuid or /etc/subgid entry (guise must work with
# a single id mapping, as for any user an administrator never set up).
#
#   bash tests/setup/test-user.sh              as root: create the user (idempotent)
#   bash tests/setup/test-user.sh exec CMD...  run CMD as the test user
#   . tests/setup/test-user.sh                 defines test_user_setup and as_test_user
#
# When not root (a developer running as themselves), there is no user to switch to:
# as_test_user runs the command as the current user.

GUISE_TEST_USER=${GUISE_TEST_USER:-guise-test}
GUISE_TEST_HOME=${GUISE_TEST_HOME:-/var/lib/guise-test}

# Remove NAME's and UID's lines from a subordinate id file; fail if one survives.
_test_user_scrub_subids() {
  local file=$1 uid=$2
  [ -e "$file" ] || return 0
  if grep -qE "^(${GUISE_TEST_USER}|${uid}):" "$file"; then
    sed -i -E "/^(${GUISE_TEST_USER}|${uid}):/d" "$file"
  fi
  if grep -qE "^(${GUISE_TEST_USER}|${uid}):" "$file"; then
    echo "test-user: $file still has an entry for ${GUISE_TEST_USER} (uid $uid)" >&2
    return 1
  fi
}

test_user_setup() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-user: not root, integration tests run as $(id -un) instead of ${GUISE_TEST_USER}"
    return 0
  fi
  if ! getent passwd "$GUISE_TEST_USER" >/dev/null; then
    # --system: no subuid range is allocated for system users (useradd does for normal ones).
    useradd --system --user-group --create-home --home-dir "$GUISE_TEST_HOME" \
      --shell /bin/sh --comment "guise integration tests" "$GUISE_TEST_USER"
  fi
  # An existing user (made by hand or an older script) is brought to the expected shape.
  local home shell
  home=$(getent passwd "$GUISE_TEST_USER" | cut -d: -f6)
  shell=$(getent passwd "$GUISE_TEST_USER" | cut -d: -f7)
  if [ "$home" != "$GUISE_TEST_HOME" ] || [ "$shell" != /bin/sh ]; then
    usermod --home "$GUISE_TEST_HOME" --shell /bin/sh "$GUISE_TEST_USER"
  fi
  local uid gid
  uid=$(id -u "$GUISE_TEST_USER")
  gid=$(id -g "$GUISE_TEST_USER")
  mkdir -p "$GUISE_TEST_HOME"
  chown "$uid:$gid" "$GUISE_TEST_HOME"
  chmod 700 "$GUISE_TEST_HOME"
  _test_user_scrub_subids /etc/subuid "$uid"
  _test_user_scrub_subids /etc/subgid "$uid"
  # XDG_RUNTIME_DIR as a login session would have it: owned by the user, mode 700.
  install -d -o "$uid" -g "$gid" -m 700 "/run/user/$uid"
}

# as_test_user CMD...: run CMD as the test user with a clean environment.  Variables named
# in GUISE_TEST_PASSENV (space separated) are passed through.  No --no-new-privs here:
# whether the container gets no_new_privs is guise's decision, under test.
as_test_user() {
  local keep=() name
  for name in ${GUISE_TEST_PASSENV:-}; do
    [ -n "${!name+set}" ] && keep+=("$name=${!name}")
  done
  if [ "$(id -u)" -ne 0 ]; then
    env "${keep[@]}" "$@"
    return
  fi
  local uid
  uid=$(id -u "$GUISE_TEST_USER")
  # --reset-env sets HOME, USER, LOGNAME, SHELL and PATH from the user's passwd entry.
  setpriv --reuid="$GUISE_TEST_USER" --regid="$GUISE_TEST_USER" --clear-groups \
    --inh-caps=-all --bounding-set=-all --reset-env \
    env XDG_RUNTIME_DIR="/run/user/$uid" LANG=C.UTF-8 "${keep[@]}" "$@"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
  exec)
    shift
    as_test_user "$@"
    ;;
  "") test_user_setup ;;
  *)
    echo "usage: $0 [exec CMD...]" >&2
    exit 2
    ;;
  esac
fi
