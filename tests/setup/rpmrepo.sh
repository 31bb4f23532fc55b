#!/usr/bin/env bash
# The rpm repository, base image and root references for the rpm/dnf acceptance test
# (tests/integration/test_build_rpm.sh), made once as root and cached in
# ${GUISE_TEST_CACHE:-/var/cache/guise-tests}:
#   rpmrepo/             guise-test-common and guise-test-tools 1.0, and their 1.1 update
#                        (fixtures/rpm/guise-test.spec, built with rpmbuild); createrepo_c
#                        indexes 1.0 only
#   rpm-base.tar         the bookworm minbase fixture plus Debian's rpm and dnf (apt-get in a
#                        chroot), rpm's database in /var/lib/rpm with guise-rpm-base in it
#                        (fixtures/rpm/guise-rpm-base.spec: /bin/sh, $releasever), and
#                        /etc/yum.repos.d/guise-test.repo pointing at file:///repo
#   rpm-reference-S.txt  for each scenario S of $RPM_SCENARIOS: treelist
#                        (tests/helpers/treelist.c) after `rpm_steps S` were run, one after the
#                        other, as real root in a chroot of rpm-base.tar with rpmrepo/ at /repo
#
#   bash tests/setup/rpmrepo.sh TREELIST     (TREELIST: the static helper, build/helpers/treelist)
#   . tests/setup/rpmrepo.sh                 (only defines RPM_SCENARIOS and rpm_steps)
RPM_SCENARIOS="rpm dnf upgrade remove"
# rpm_steps SCENARIO: its commands, one a line (the test runs each in a RUN of its own).
rpm_steps() {
  case $1 in
  rpm | upgrade)
    echo "rpm -i /repo/guise-test-common-1.0-1.noarch.rpm /repo/guise-test-tools-1.0-1.noarch.rpm"
    [ "$1" = rpm ] ||
      echo "rpm -U /repo/guise-test-common-1.1-1.noarch.rpm /repo/guise-test-tools-1.1-1.noarch.rpm"
    ;;
  dnf | remove)
    echo "dnf install -y -q guise-test-tools"
    [ "$1" = dnf ] || echo "dnf remove -y -q guise-test-tools"
    ;;
  esac
}
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
specs=$(cd "$here/../../fixtures/rpm" && pwd)
. "$here/common.sh"
treelist=$1
# Rebuilt when a spec, the commands or this script change.
VERSION="1 $(cat "$specs"/*.spec "$0" | sha256sum | cut -c1-16)"

reference_start rpmrepo "$VERSION" rpm-reference-remove.txt \
  "building the rpm packages, the rpm base image and the root references (once)"

# The packages, built as root (rpmbuild records the %attr/%dev/%caps entries; nothing special is
# created on disk) and indexed.
mkdir -p "$work/repo"
for spec in "$specs"/*.spec; do
  rpmbuild --quiet --define "_topdir $work/rpmbuild" -bb "$spec"
done
rpmbuild --quiet --define "_topdir $work/rpmbuild" --define "guise_upgrade 1" -bb "$specs/guise-test.spec"
mv "$work"/rpmbuild/RPMS/noarch/guise-test-*.rpm "$work/repo/"
createrepo_c --quiet --excludes '*-1.1-*' "$work/repo"

# The base: rpm and dnf from Debian's mirror; rpm's database where rpm-based systems have it
# (Debian's rpm defaults to ~/.rpmdb), initialised, knowing what Debian provides.
base=$work/base
mkdir "$base"
tar -xf "$CACHE/bookworm-minbase.tar" -C "$base"
cp "$base/etc/resolv.conf" "$work/resolv.conf"
cp /etc/resolv.conf "$base/etc/resolv.conf"
in_chroot "$base" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends rpm dnf && apt-get clean &&
  rm -rf /var/lib/apt/lists/*' >"$work/base.log" 2>&1 || { tail -20 "$work/base.log" >&2; exit 1; }
cp "$work/resolv.conf" "$base/etc/resolv.conf"
mkdir -p "$base/etc/rpm" "$base/etc/yum.repos.d" "$base/repo"
echo '%_dbpath /var/lib/rpm' >"$base/etc/rpm/macros"
cat >"$base/etc/yum.repos.d/guise-test.repo" <<'REPO'
[guise-test]
name=guise test packages
baseurl=file:///repo
gpgcheck=0
REPO
cp "$work"/rpmbuild/RPMS/noarch/guise-rpm-base-*.rpm "$base/guise-rpm-base.rpm"
in_chroot "$base" sh -c 'rpmdb --initdb && rpm -i --quiet /guise-rpm-base.rpm' 2>&1 |
  grep -v -e 'should not be used directly' -e 'assuming you know what you are doing' >&2 || true
rm "$base/guise-rpm-base.rpm"
rmdir "$base/repo"
in_chroot "$base" rpm -q guise-rpm-base >/dev/null
tar --create --file "$work/rpm-base.tar" --directory "$base" --numeric-owner \
  --xattrs --xattrs-include='*' --sort=name .

# The references: each scenario as root, from the same repository, in a fresh copy of the base.
CHROOT_BINDS=("$work/repo:/repo")
for scenario in $RPM_SCENARIOS; do
  ref=$work/ref-$scenario
  mkdir -p "$ref"
  tar -xf "$work/rpm-base.tar" -C "$ref"
  mkdir "$ref/repo"
  while read -r step; do
    in_chroot "$ref" sh -c "$step" </dev/null >>"$work/ref-$scenario.log" 2>&1 ||
      { tail -20 "$work/ref-$scenario.log" >&2; exit 1; }
  done < <(rpm_steps "$scenario")
  rmdir "$ref/repo"
  "$treelist" "$ref" | LC_ALL=C sort >"$work/rpm-reference-$scenario.txt"
done
CHROOT_BINDS=()

rm -rf "$CACHE/rpmrepo"
mv "$work/repo" "$CACHE/rpmrepo"
mv "$work/rpm-base.tar" "$work"/rpm-reference-*.txt "$CACHE/"
chmod -R a+rX "$CACHE/rpmrepo" "$CACHE/rpm-base.tar" "$CACHE"/rpm-reference-*.txt
echo "$VERSION" >"$CACHE/rpmrepo.stamp"
echo "rpmrepo: $(ls "$CACHE/rpmrepo" | grep -c '\.rpm$') packages, references of" \
  "$(cd "$CACHE" && wc -l rpm-reference-*.txt | head -n -1 | tr -s ' \n' ' ')"
