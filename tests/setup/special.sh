#!/usr/bin/env bash
# The "special" fixture image for the image round trip (tests/integration/test_images_roundtrip.sh),
# made once as root and cached in ${GUISE_TEST_CACHE:-/var/cache/guise-tests}:
#   special-oci.tar        an OCI image layout (tag latest), made by umoci as real root from the
#                          busybox fixture plus what an unprivileged user cannot put on disk:
#                          a char and a block device, a fifo, setuid and setgid files, files and
#                          directories of other owners, a file capability, symlinks (one owned
#                          by 1000), hard links
#   special-reference.txt  `treelist -n` of that rootfs as root made it, before umoci packed it
#
#   bash tests/setup/special.sh TREELIST     (TREELIST: the static helper, build/helpers/treelist)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
treelist=$1
stamp=$CACHE/special.stamp

[ "$(id -u)" -eq 0 ] || { echo "special: must run as root" >&2; exit 1; }
bash "$here/fixtures.sh" busybox
# Bump the number when the recipe below changes: the stamp decides rebuilds.
VERSION="special 1 $(cat "$CACHE/busybox.stamp")"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$VERSION" ] && [ -s "$CACHE/special-oci.tar" ] &&
  [ -s "$CACHE/special-reference.txt" ]; then
  exit 0
fi
echo "special: making the special-file image with umoci as root (once)"
new_work_dir
work=$WORK_DIR

layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci config --image "$layout:latest" --config.cmd /bin/sh --os linux \
  --architecture "$(dpkg --print-architecture)"
umoci unpack --image "$layout:latest" "$work/bundle" >/dev/null
r=$work/bundle/rootfs
tar -xf "$CACHE/busybox.tar" -C "$r" --numeric-owner --same-owner --preserve-permissions

# Devices and a fifo outside /dev (which a runtime mounts over).
mkdir -p "$r/srv/dev"
mknod -m 666 "$r/srv/dev/null" c 1 3
mknod -m 660 "$r/srv/dev/loop0" b 7 0
chown 0:6 "$r/srv/dev/loop0"
mkfifo -m 620 "$r/srv/dev/initctl"
# setuid root, setgid group 42 (shadow on Debian), and a hard link to the setuid file.
cp "$r/bin/busybox" "$r/usr/bin/suid-tool"
chmod 4755 "$r/usr/bin/suid-tool"
ln "$r/usr/bin/suid-tool" "$r/usr/sbin/suid-tool-link"
cp "$r/bin/busybox" "$r/usr/bin/sgid-tool"
chown 0:42 "$r/usr/bin/sgid-tool"
chmod 2755 "$r/usr/bin/sgid-tool"
echo 'shadow:x:42:' >>"$r/etc/group"
# A file capability.
cp "$r/bin/busybox" "$r/usr/bin/raw-tool"
setcap cap_net_raw+ep "$r/usr/bin/raw-tool"
# Other owners: a user's home (with a hard link and a symlink it owns), nobody's directory.
echo 'user:x:1000:1000::/home/user:/bin/sh' >>"$r/etc/passwd"
echo 'user:x:1000:' >>"$r/etc/group"
mkdir -p "$r/home/user/private"
echo 'export PS1=$ ' >"$r/home/user/.profile"
ln "$r/home/user/.profile" "$r/home/user/profile.hardlink"
ln -s .profile "$r/home/user/profile.symlink"
echo secret >"$r/home/user/private/key"
chmod 600 "$r/home/user/private/key"
chmod 700 "$r/home/user/private"
chmod 750 "$r/home/user"
chown -hR 1000:1000 "$r/home/user"
mkdir -p "$r/var/lib/nobody"
echo data >"$r/var/lib/nobody/state"
chown -R 65534:65534 "$r/var/lib/nobody"
chmod 0640 "$r/var/lib/nobody/state"
install -d -m 1777 "$r/srv/shared"
install -m 0640 -o 0 -g 42 /dev/null "$r/etc/gshadow-like"

"$treelist" -n "$r" | LC_ALL=C sort >"$work/special-reference.txt"
umoci repack --image "$layout:latest" "$work/bundle" >/dev/null
# The layout as a tarball (the tests extract it); owned by nobody in particular.
tar --create --file "$CACHE/.special-oci.tar.tmp" --directory "$layout" --sort=name \
  --owner=0 --group=0 --numeric-owner .
chmod 644 "$CACHE/.special-oci.tar.tmp" "$work/special-reference.txt"
mv -f "$CACHE/.special-oci.tar.tmp" "$CACHE/special-oci.tar"
mv -f "$work/special-reference.txt" "$CACHE/special-reference.txt"
echo "$VERSION" >"$stamp"
chmod 644 "$stamp"
echo "special: $(grep -cE ' [cbp] |nlink=|cap=| [0-9]*[1-9]:| [0-9]+:[1-9]| [4267][0-7]{3} ' "$CACHE/special-reference.txt") special entries in $(wc -l <"$CACHE/special-reference.txt") files"
