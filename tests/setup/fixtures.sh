#!/usr/bin/env bash
# Build the root filesystems the integration tests run in, once, and cache them outside the
# repository in ${GUISE_TEST_CACHE:-/var/cache/guise-tests}:
#   busybox.tar            a small image made from Debian's busybox-static
#   bookworm-minbase.tar   mmdebstrap --variant=minbase bookworm (takes a few minutes once)
# Each tarball has a stamp file; it is rebuilt only when the stamp's recipe changes.
# Must run as root (mmdebstrap's root mode, numeric root ownership in the tarballs).
# The tarballs are world readable: the unprivileged test user extracts them per test.
#
#   bash tests/setup/fixtures.sh [busybox|bookworm]...   (default: all)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

# Bump a version when its recipe below changes: the stamp decides rebuilds.
BUSYBOX_VERSION=1
BOOKWORM_VERSION=1

log() { echo "fixtures: $*"; }

build_busybox() {
  local recipe
  recipe="busybox $BUSYBOX_VERSION $(dpkg-query -W -f='${Version}' busybox-static)"
  up_to_date busybox "$recipe" && return 0
  log "building busybox.tar"
  local dir
  new_work_dir
  dir=$WORK_DIR
  local r=$dir/rootfs
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,home,var/log,mnt}
  install -d -m 1777 "$r/tmp" "$r/var/tmp"
  install -d -m 700 "$r/root"
  install -m 755 /bin/busybox "$r/bin/busybox"
  # Every applet as a symlink at its canonical path, as `busybox --install -s` would.
  local applet
  for applet in $(/bin/busybox --list-full); do
    [ -e "$r/$applet" ] || ln -s /bin/busybox "$r/$applet"
  done
  cat >"$r/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
  cat >"$r/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
  # Files a runtime bind-mounts over; images ship them (possibly empty).
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$r/etc/hosts"
  : >"$r/etc/hostname"
  : >"$r/etc/resolv.conf"
  chown -R 0:0 "$r"
  publish busybox "$r" "$recipe"
}

build_bookworm() {
  local mirror recipe
  mirror=$(debian_mirror)
  recipe="bookworm-minbase $BOOKWORM_VERSION $mirror"
  up_to_date bookworm-minbase "$recipe" && return 0
  log "building bookworm-minbase.tar from $mirror (a few minutes, once)"
  local dir
  new_work_dir
  dir=$WORK_DIR
  mmdebstrap --quiet --mode=root --variant=minbase bookworm "$dir/rootfs" "$mirror"
  # No device nodes: an unprivileged user could not extract them, and the runtime
  # provides /dev anyway.
  find "$dir/rootfs/dev" -mindepth 1 \( -type b -o -type c \) -delete
  publish bookworm-minbase "$dir/rootfs" "$recipe"
}

if [ "$(id -u)" -ne 0 ]; then
  echo "fixtures: must run as root (it builds root-owned images)" >&2
  exit 1
fi
install -d -m 755 "$CACHE"
[ $# -gt 0 ] || set -- busybox bookworm
for fixture in "$@"; do
  case "$fixture" in
  busybox) build_busybox ;;
  bookworm) build_bookworm ;;
  *)
    echo "fixtures: unknown fixture $fixture" >&2
    exit 2
    ;;
  esac
done
