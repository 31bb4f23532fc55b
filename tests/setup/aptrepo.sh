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
. "$here/reference.sh"
PACKAGES="cron dbus sudo man-db iputils-ping fuse3 openssh-server tcpdump"
VERSION="1 $PACKAGES"
treelist=$1
stamp=$CACHE/aptrepo.stamp

reference_start aptrepo "$VERSION" apt-reference.txt "downloading $PACKAGES and making the root reference (once)"

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
echo "deb [trusted=yes] file:/repo ./" >"$work/ref/etc/apt/sources.list"
in_chroot "$work/ref" sh -c "apt-get update -q && apt-get install -y -q $PACKAGES" >"$work/ref-install.log" 2>&1 ||
  { tail -20 "$work/ref-install.log" >&2; exit 1; }
rmdir "$work/ref/repo"
"$treelist" "$work/ref" | LC_ALL=C sort >"$work/apt-reference.txt"

rm -rf "$CACHE/aptrepo"
mv "$work/repo" "$CACHE/aptrepo"
mv "$work/apt-reference.txt" "$CACHE/apt-reference.txt"
chmod -R a+rX "$CACHE/aptrepo" "$CACHE/apt-reference.txt"
echo "$VERSION" >"$stamp"
echo "aptrepo: $(ls "$CACHE/aptrepo" | grep -c '\.deb$') packages, reference of $(wc -l <"$CACHE/apt-reference.txt") files"
