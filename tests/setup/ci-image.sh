#!/usr/bin/env bash
# Make the CI image the engine tests run guise in: the cached bookworm minbase rootfs, the
# built guise binaries, and the shared libraries they load, copied from this host (found with
# ldd), plus a user 1000 with a home.  Written as a rootfs tarball that every engine imports
# (`podman import`, `docker import`), so no registry is ever asked for anything.
#
#   bash tests/setup/ci-image.sh BUILD_DIR OUT.tar     (as root; BUILD_DIR has guise, guise-full)
set -euo pipefail

build=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

[ -r "$CACHE/bookworm-minbase.tar" ] || {
  echo "ci-image: $CACHE/bookworm-minbase.tar missing (tests/setup/fixtures.sh bookworm)" >&2
  exit 1
}
new_work_dir
r=$WORK_DIR/rootfs
mkdir "$r"
tar -xf "$CACHE/bookworm-minbase.tar" -C "$r"
install -m 755 "$build/guise" "$build/guise-full" "$r/usr/local/bin/"
# Every library the binaries load, at the path the host's loader found it (same Debian release
# as the image, so the loader and libc match).
for lib in $(ldd "$build/guise" "$build/guise-full" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
  real=$(readlink -f "$lib")
  dir=$r$(dirname "$real") # /lib is usr/lib in both (merged /usr): one canonical place
  mkdir -p "$dir"
  [ -e "$dir/$(basename "$real")" ] || cp "$real" "$dir/"
  [ -e "$dir/$(basename "$lib")" ] || ln -s "$(basename "$real")" "$dir/$(basename "$lib")"
done
chroot "$r" /usr/local/bin/guise-full --help >/dev/null 2>&1 || {
  echo "ci-image: guise-full does not start in the image (missing libraries?)" >&2
  chroot "$r" /usr/local/bin/guise-full --help >&2 || true
  exit 1
}
# The unprivileged CI user (`--user 1000`), with a home guise can keep its store in.
echo 'ci:x:1000:1000:CI user:/home/ci:/bin/sh' >>"$r/etc/passwd"
echo 'ci:x:1000:' >>"$r/etc/group"
install -d -o 1000 -g 1000 -m 755 "$r/home/ci"
chmod 1777 "$r/tmp"
tar --numeric-owner -C "$r" -cf "$out.tmp" .
mv "$out.tmp" "$out"
