#!/usr/bin/env bash
# Make sure every Debian package that building and testing guise needs is installed.
# As root: installs what is missing.  Otherwise: prints the apt-get command and fails.
# Quiet when nothing is missing, because it runs at every `make check`.
set -euo pipefail

# The one list.  Add a package here and every entry point (make check, make deps, CI) picks it up.
BUILD_PACKAGES=(
  gcc make pkg-config
  libseccomp-dev libcap-dev libarchive-dev libsqlite3-dev libjansson-dev
  libcurl4-openssl-dev libssl-dev zlib1g-dev libcmocka-dev
  help2man # man pages for make install (tools/gen-docs.sh)
)
TEST_PACKAGES=(
  busybox-static mmdebstrap debootstrap
  util-linux # setpriv, script
  procps iproute2 tmux bubblewrap crun runc sqlite3 hyperfine
  fakeroot pseudo proot dpkg-dev apt-utils
  python3 python3-jsonschema libcap2-bin ca-certificates
  docker-registry skopeo umoci apache2-utils # a local registry and image tools for test_images_*.sh
  openssl python3-jwt python3-cryptography # the registry's token server (tests/setup/token_server.py)
  golang-github-opencontainers-image-spec-dev # the OCI image-spec JSON schemas (test_images_archives.sh)
  xz-utils # compressed archives in test_images_archives.sh
  clang libclang-rt-dev # the libFuzzer targets (make fuzz, make fuzz-smoke; tests/fuzz/)
  rpm createrepo-c # rpmbuild and the repository for test_build_rpm.sh (tests/setup/rpmrepo.sh)
  podman docker.io # guise in CI containers (tests/engines/test_engines.sh)
  golang-github-docker-docker-dev # Docker's default seccomp profile (contrib/seccomp/generate.py)
  zsh # the zsh completion is checked in test_install.sh
)

missing=()
for pkg in "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; do
  # "install ok installed" is the only state in which the package's files are all there.
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]}" >&2
  echo "install-deps: run as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
