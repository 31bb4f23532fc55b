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
cp "$repo/fixtures/build/debian-apt/Containerfile" "$work/"
cat >"$work/demo.sh" <<DEMO
set -euo pipefail
cd "$work"
echo "demo: building as \$(id -un) (uid \$(id -u)), \$(grep CapEff /proc/self/status)"
if grep -q "^\$(id -un):" /etc/subuid 2>/dev/null; then echo "demo: unexpected subuid entry" >&2; exit 1; fi
mkdir ctx
cp Containerfile ctx/
ln /var/cache/guise-tests/bookworm-minbase.tar ctx/base.tar 2>/dev/null ||
  cp /var/cache/guise-tests/bookworm-minbase.tar ctx/base.tar
./guise build --root store -t debian-apt ctx
echo "demo: the image's last layer, as a root build would have written it:"
python3 - store <<'PY'
import json, sys, tarfile
store = sys.argv[1]
blob = lambda d: f"{store}/blobs/sha256/{d.split(':')[1]}"
idx = json.load(open(f"{store}/index.json"))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
for e in tarfile.open(blob(man["layers"][-1]["digest"])).getmembers():
    cap = e.pax_headers.get("SCHILY.xattr.security.capability")
    if e.mode & 0o6000 or cap:
        print(f"  {e.mode:04o} {e.uid}:{e.gid} /{e.name}" + (" security.capability=" + cap.encode("latin1").hex() if cap else ""))
PY
./guise images --root store
DEMO
as_test_user bash "$work/demo.sh"
echo "demo: done"
