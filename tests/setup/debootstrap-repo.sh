#!/usr/bin/env bash
# What the debootstrap acceptance test (tests/integration/test_fake_debootstrap.sh) needs, made
# once as root and cached in ${GUISE_TEST_CACHE:-/var/cache/guise-tests}:
#   debootstrap-host.tar        the bookworm minbase fixture with debootstrap (and wget) installed:
#                               the rootfs debootstrap runs in, inside `guise run`
#   debootstrap-mirror/         a Debian mirror (pool/, dists/bookworm/Release, unsigned, and
#                               main/binary-ARCH/Packages{,.gz}) holding exactly the packages
#                               `debootstrap --variant=minbase bookworm` installs, downloaded
#                               once from this machine's mirror, served on 127.0.0.1 by the test
#   debootstrap-reference.txt   treelist (tests/helpers/treelist.c) of the target of that same
#                               debootstrap run as real root (in a chroot of the host rootfs),
#                               from that mirror over HTTP on 127.0.0.1
#
#   bash tests/setup/debootstrap-repo.sh TREELIST   (TREELIST: the static helper, build/helpers/treelist)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
# Bump when the recipe below changes: the stamps decide rebuilds.
HOST_VERSION=1
MIRROR_VERSION=1
treelist=$(realpath "$1")
arch=$(dpkg --print-architecture)
log() { echo "debootstrap-repo: $*"; }

[ "$(id -u)" -eq 0 ] || { echo "debootstrap-repo: must run as root" >&2; exit 1; }
bash "$here/fixtures.sh" bookworm >/dev/null
mirror=$(debian_mirror)

# The host rootfs: apt-get install debootstrap in a chroot of the fixture, from the real mirror.
host_recipe="debootstrap-host $HOST_VERSION $(cat "$CACHE/bookworm-minbase.stamp")"
if ! up_to_date debootstrap-host "$host_recipe"; then
  log "building debootstrap-host.tar (once)"
  new_work_dir
  host=$WORK_DIR/host
  mkdir "$host"
  tar -xf "$CACHE/bookworm-minbase.tar" -C "$host"
  cp "$host/etc/resolv.conf" "$WORK_DIR/resolv.conf"
  cp /etc/resolv.conf "$host/etc/resolv.conf"
  # --no-install-recommends: no gnupg (the test's mirror is unsigned, --no-check-gpg).
  quietly "$WORK_DIR/install.log" in_chroot "$host" sh -c 'apt-get update -q &&
    apt-get install -y -q --no-install-recommends debootstrap wget && apt-get clean'
  rm -rf "$host"/var/lib/apt/lists/*
  cp "$WORK_DIR/resolv.conf" "$host/etc/resolv.conf"
  publish debootstrap-host "$host" "$host_recipe"
fi

mirror_recipe="$MIRROR_VERSION $arch $(cat "$CACHE/debootstrap-host.stamp")"
stamp=$CACHE/debootstrap.stamp
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$mirror_recipe" ] && [ -s "$CACHE/debootstrap-reference.txt" ]; then
  exit 0
fi
log "downloading a minbase bookworm from $mirror and making the root reference (once)"
new_work_dir
work=$WORK_DIR
mkdir "$work/host"
tar -xf "$CACHE/debootstrap-host.tar" -C "$work/host"

# The packages, downloaded by the debootstrap that the test runs (the host rootfs's).
cp /etc/resolv.conf "$work/host/etc/resolv.conf"
quietly "$work/download.log" in_chroot "$work/host" \
  debootstrap --download-only --variant=minbase bookworm /dl "$mirror"
dl=$work/host/dl

# The mirror: each .deb at its pool path, the archive's own Packages stanzas for exactly those
# versions (so Priority, Essential and the rest are the archive's), a Release with their hashes.
repo=$work/mirror
dists=$repo/dists/bookworm
mkdir -p "$dists/main/binary-$arch"
while read -r pkg version uri; do
  path=${uri#"${mirror%/}/"}
  [ "$path" != "$uri" ] || { echo "debootstrap-repo: $uri is not on $mirror" >&2; exit 1; }
  mkdir -p "$repo/$(dirname "$path")"
  deb=$(awk -v p="$pkg" '$1 == p { print $2 }' "$dl/debootstrap/debpaths")
  cp "$dl/$deb" "$repo/$path"
  echo "$pkg $version"
done <"$dl/debootstrap/deburis" >"$work/wanted"
awk 'NR == FNR { want[$1 " " $2] = 1; next }
  /^Package: / { pkg = $2 } /^Version: / { ver = $2 }
  { stanza = stanza $0 "\n" }
  /^$/ { if ((pkg " " ver) in want) printf "%s", stanza; stanza = ""; pkg = ""; ver = "" }' \
  "$work/wanted" "$dl"/var/lib/apt/lists/*_dists_bookworm_main_binary-"${arch}"_Packages \
  >"$dists/main/binary-$arch/Packages"
got=$(grep -c '^Package: ' "$dists/main/binary-$arch/Packages")
[ "$got" -eq "$(wc -l <"$work/wanted")" ] ||
  { echo "debootstrap-repo: $got Packages stanzas for $(wc -l <"$work/wanted") packages" >&2; exit 1; }
gzip -k9n "$dists/main/binary-$arch/Packages"
apt-ftparchive -o APT::FTPArchive::Release::Suite=bookworm \
  -o APT::FTPArchive::Release::Codename=bookworm \
  -o APT::FTPArchive::Release::Architectures="$arch" \
  -o APT::FTPArchive::Release::Components=main release "$dists" >"$work/Release"
mv "$work/Release" "$dists/Release"

# The reference: the same debootstrap as real root, from the mirror on 127.0.0.1.
serve_loopback "$repo"
quietly "$work/reference.log" in_chroot "$work/host" \
  debootstrap --no-check-gpg --variant=minbase bookworm /target "http://127.0.0.1:$PORT/"
publish_reference "$treelist" "$work/host/target" debootstrap-reference.txt "$repo" \
  debootstrap-mirror "$stamp" "$mirror_recipe"
log "$got packages, reference of $(wc -l <"$CACHE/debootstrap-reference.txt") files"
