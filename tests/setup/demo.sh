#!/usr/bin/env bash
# The main job, end to end on a fresh machine: as root, make the test user and the Debian
# bookworm minbase fixture (cached); then, as that unprivileged user (no capabilities, no
# subuid range), install packages with apt inside a guise container and show that the
# owners, setuid bits and file capabilities apt/dpkg set are there, faked and recorded.
#
#   make demo        (root: sets up, then drops to the test user)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
PACKAGES=${GUISE_DEMO_PACKAGES:-"sudo cron iputils-ping openssh-server"}

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates the unprivileged user it then runs as): sudo make demo" >&2
  exit 1
fi
bash "$here/test-user.sh"
bash "$here/fixtures.sh" bookworm
. "$here/test-user.sh"

work=$(mktemp -d /tmp/guise-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
install -m 0755 "$repo/build/release/guise" "$repo/build/release/guise-full" "$work/"
chown "$GUISE_TEST_USER:" "$work"
cat >"$work/demo.sh" <<DEMO
set -euo pipefail
cd "$work"
echo "demo: running as \$(id -un) (uid \$(id -u)), capabilities: \$(grep CapEff /proc/self/status)"
grep -q "^\$(id -un):" /etc/subuid 2>/dev/null && echo "demo: unexpected subuid entry" && exit 1
mkdir rootfs && tar -xf /var/cache/guise-tests/bookworm-minbase.tar -C rootfs
echo "demo: guise run apt-get install -y $PACKAGES"
./guise run --rootfs rootfs -- sh -c 'apt-get update -q && apt-get install -y -q $PACKAGES'
echo "demo: what the container sees (faked) against what is on disk:"
./guise run --rootfs rootfs -- sh -c 'ls -ln /usr/bin/sudo /usr/bin/crontab /usr/bin/ping; getcap /usr/bin/ping'
ls -ln rootfs/usr/bin/sudo rootfs/usr/bin/crontab
./guise db --rootfs rootfs ls | head -20
./guise db --rootfs rootfs check
DEMO
as_test_user bash "$work/demo.sh"
echo "demo: done"
