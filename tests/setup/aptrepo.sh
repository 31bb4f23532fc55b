#!/usr/bin/env bash
# The local apt repository and the rootful reference for the apt acceptance test (issue 3),
# made once as root and cached in ${GUISE_TEST_CACHE:-/var/cache/guise-tests}:
#   aptrepo/           the .debs `apt-get install PACKAGES` needs on top of the bookworm minbase
#                      fixture, downloaded from Debian's mirror, indexed with apt-ftparchive
#                      (Packages, Release), to be served over HTTP on 127.0.0.1 by the test
#   apt-reference.txt  treelist (tests/helpers/treelist.c) of the same install done as real root
#                      in a chroot of the fixture, from that repository
#
#   bash tests/setup/aptrepo.sh TREELIST     (TREELIST: the static helper, build/helpers/treelist)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
PACKAGES="cron dbus sudo man-db iputils-ping fuse3 openssh-server tcpdump"
VERSION="1 $PACKAGES"
treelist=$1
stamp=$CACHE/aptrepo.stamp

[ "$(id -u)" -eq 0 ] || { echo "aptrepo: must run as root" >&2; exit 1; }
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$VERSION" ] && [ -s "$CACHE/apt-reference.txt" ]; then
  exit 0
fi
bash "$here/fixtures.sh" bookworm >/dev/null
echo "aptrepo: downloading $PACKAGES and making the root reference (once)"
new_work_dir
work=$WORK_DIR

mkdir -p "$work/dl" "$work/repo"
tar -xf "$CACHE/bookworm-minbase.tar" -C "$work/dl"
cp /etc/resolv.conf "$work/dl/etc/resolv.conf"
in_chroot "$work/dl" sh -c "apt-get update -q && apt-get install -y -q --download-only $PACKAGES"
cp "$work"/dl/var/cache/apt/archives/*.deb "$work/repo/"
(cd "$work/repo" && apt-ftparchive packages . >Packages && gzip -k9 Packages &&
  apt-ftparchive release . >Release)

# The reference: the same install, as root, from the same repository.
mkdir -p "$work/ref"
tar -xf "$CACHE/bookworm-minbase.tar" -C "$work/ref"
mkdir "$work/ref/repo"
CHROOT_BINDS=("$work/repo:/repo")
echo "deb [trusted=yes] file:/repo ./" >"$work/ref/etc/apt/sources.list"
quietly "$work/ref-install.log" in_chroot "$work/ref" sh -c "apt-get update -q && apt-get install -y -q $PACKAGES"
rmdir "$work/ref/repo"
publish_reference "$treelist" "$work/ref" apt-reference.txt "$work/repo" aptrepo "$stamp" "$VERSION"
echo "aptrepo: $(ls "$CACHE/aptrepo" | grep -c '\.deb$') packages, reference of $(wc -l <"$CACHE/apt-reference.txt") files"
