# Sourced by the setup scripts that build a package repository and the tree of a root install
# from it (aptrepo.sh, rpmrepo.sh): as root, once, cached in ${GUISE_TEST_CACHE:-/var/cache/guise-tests}.
CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}

# reference_start NAME VERSION PRODUCT MESSAGE: exit the script when $CACHE/NAME.stamp says
# VERSION and $CACHE/PRODUCT is there; else (the bookworm fixture made first) print MESSAGE and
# make $work, a scratch directory removed when the script exits.
reference_start() {
  local name=$1 version=$2 product=$3
  [ "$(id -u)" -eq 0 ] || { echo "$name: must run as root" >&2; exit 1; }
  if [ -f "$CACHE/$name.stamp" ] && [ "$(cat "$CACHE/$name.stamp")" = "$version" ] &&
    [ -s "$CACHE/$product" ]; then
    exit 0
  fi
  bash "$(dirname "${BASH_SOURCE[0]}")/fixtures.sh" bookworm >/dev/null
  echo "$name: $4"
  work=$(mktemp -d "/var/tmp/guise-$name.XXXXXX")
  trap 'rm -rf --one-file-system "$work"' EXIT
}

# in_chroot ROOT COMMAND [ARG...]: run COMMAND chrooted into ROOT, in a private mount namespace
# with /proc and the host's /dev; when ROOT has a /repo directory, $work/repo is bound there.
in_chroot() {
  local root=$1
  shift
  unshare -m --propagation private sh -c '
    root=$1 repo=$2; shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    [ -d "$root/repo" ] && mount --bind "$repo" "$root/repo"
    exec chroot "$root" "$@"' sh "$root" "$work/repo" "$@"
}
