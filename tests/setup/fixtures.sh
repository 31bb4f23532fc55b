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

CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}
# Bump a version when its recipe below changes: the stamp decides rebuilds.
BUSYBOX_VERSION=1
BOOKWORM_VERSION=1

log() { echo "fixtures: $*"; }

# Build trees are removed however the script ends (a failed mmdebstrap leaves a big one).
WORK_DIRS=()
remove_work_dirs() {
  local d
  for d in "${WORK_DIRS[@]}"; do rm -rf --one-file-system "$d"; done
}
trap remove_work_dirs EXIT

# new_work_dir: a fresh build directory in $WORK_DIR (not printed: a $(...) subshell could
# not register it for removal).
new_work_dir() {
  WORK_DIR=$(mktemp -d /var/tmp/guise-fixture.XXXXXX)
  WORK_DIRS+=("$WORK_DIR")
}

# The Debian mirror this machine's apt uses (deb822 .sources or one-line .list); only
# that mirror is reachable from CI, so mmdebstrap must use it too.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # Stanzas are separated by blank lines; pick one whose Suites has plain "bookworm".
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
          if ($i ~ /^Suites:/) { suites = " " $i " "; sub(/^Suites:/, "", suites) }
        }
        if (suites ~ /[ \t]bookworm[ \t]/ && uris != "") { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    uri=$(sed -E 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }')
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo "http://deb.debian.org/debian"
}

# up_to_date NAME RECIPE: true when NAME.tar exists and was built from RECIPE.
up_to_date() {
  [ -f "$CACHE/$1.tar" ] && [ -f "$CACHE/$1.stamp" ] && [ "$(cat "$CACHE/$1.stamp")" = "$2" ]
}

# publish NAME DIR RECIPE: tar DIR into the cache atomically, then write the stamp.
publish() {
  local name=$1 dir=$2 recipe=$3
  # --numeric-owner: the ids must not be remapped through this machine's /etc/passwd.
  tar --create --file "$CACHE/.$name.tar.tmp" --directory "$dir" --numeric-owner \
    --xattrs --xattrs-include='*' --sort=name .
  chmod 644 "$CACHE/.$name.tar.tmp"
  mv -f "$CACHE/.$name.tar.tmp" "$CACHE/$name.tar"
  echo "$recipe" >"$CACHE/$name.stamp"
  chmod 644 "$CACHE/$name.stamp"
}

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
