#!/usr/bin/env bash
# The root verification phase of the integration tests: what an unprivileged test made (an OCI
# image that guise pushed) is unpacked by umoci as real root and compared, file for file, with
# a listing root made.  tests/run-all.sh runs this as root on every request a test file left
# (lib.sh's request_root_verify), after that file's unprivileged run.
#
#   bash tests/setup/root-verify.sh REQUEST TREELIST
#
# REQUEST is a directory the test user wrote:
#   layout/     an OCI image layout          tag        the tag in it to unpack
#   reference   the name of a root-made listing in $GUISE_TEST_CACHE (apt-reference.txt, ...)
#   mode        exact (treelist -n, every line) or volatile (lib.sh's TREE_VOLATILE left out)
# Nothing in it is trusted: it is read as the test user (tar), only regular files and
# directories are accepted, and everything root does happens in its own mktemp directory,
# removed at the end.  Prints `ok|FAIL - root-verify/NAME ...` and appends `ok|FAIL NAME` to
# $GUISE_TEST_RESULTS (NAME: root-verify/ and the request's directory name).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req=$1
treelist=$2
CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}
name=root-verify/${req##*/}
. "$here/test-user.sh"
. "$here/../integration/lib.sh"

result() { # ok|FAIL TEXT
  echo "$1 - $name${2:+$([ "$1" = ok ] && echo ' #' || echo :) $2}"
  [ -z "${GUISE_TEST_RESULTS:-}" ] || echo "$1 $name" >>"$GUISE_TEST_RESULTS"
}
bad() { result FAIL "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || bad "root-verify.sh must run as root"
[[ ${req##*/} =~ ^[A-Za-z0-9._-]+$ ]] || bad "request name '${req##*/}' is not [A-Za-z0-9._-]+"
work=$(mktemp -d /var/tmp/guise-rootverify.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
cd "$work"

# Read as the user who wrote it: a link in it can only reach what that user can read.
as_test_user tar -C "$req" -cf - . >request.tar 2>tar.err || bad "reading $req as $GUISE_TEST_USER: $(head -3 tar.err)"
tar -tvf request.tar >members.txt
! grep -qv '^[-d]' members.txt || bad "request holds something else than files and directories: $(grep -v '^[-d]' members.txt | head -3)"
tar -tf request.tar >names.txt
! grep -qE '(^|/)\.\.(/|$)|^/' names.txt || bad "request holds a name with .. or a leading /"
mkdir req
tar -xf request.tar -C req --no-same-owner --no-same-permissions
rm request.tar

field() { # FILE REGEX: the content of req/FILE if it matches REGEX
  local value
  value=$(head -c 200 "req/$1" 2>/dev/null) && [[ $value =~ $2 ]] && printf '%s' "$value"
}
tag=$(field tag '^[A-Za-z0-9._-]+$') || bad "request's tag missing or not [A-Za-z0-9._-]+"
reference=$(field reference '^[A-Za-z0-9._-]+\.txt$') || bad "request's reference missing or not a file name"
mode=$(field mode '^(exact|volatile)$') || bad "request's mode missing or not exact|volatile"
[ -r "$CACHE/$reference" ] || bad "reference $CACHE/$reference missing"

# umoci as real root: chown, mknod and security.capability are applied for real.
timeout 600 umoci unpack --image "req/layout:$tag" bundle >umoci.log 2>&1 ||
  bad "umoci unpack --image layout:$tag as root failed: $(tail -3 umoci.log)"
rm -rf req
if [ "$mode" = exact ]; then
  "$treelist" -n bundle/rootfs >tree.txt
  compare_tree tree.txt "$CACHE/$reference" '^$' >compare.txt # '^$': no line is left out
else
  "$treelist" bundle/rootfs >tree.txt
  # Shown, not counted: how the volatile paths differ.
  mkdir all && (cd all && compare_tree ../tree.txt "$CACHE/$reference" '^$' >/dev/null && echo "$DIFFS") >volatile.txt
  compare_tree tree.txt "$CACHE/$reference" >compare.txt
  volatile=" (and $(($(cat volatile.txt) - DIFFS)) in volatile paths, not counted)"
fi
summary="$DIFFS differences ($mode, $(wc -l <want.txt) files compared)${volatile:-} between umoci's unpack as root and $reference"
if [ "$DIFFS" = 0 ]; then
  result ok "$summary"
else
  result FAIL "$summary"
  sed 's/^/    # /' compare.txt
  exit 1
fi
