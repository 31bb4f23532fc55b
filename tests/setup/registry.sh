#!/usr/bin/env bash
# A throwaway OCI registry on 127.0.0.1 for the image tests: Debian's docker-registry (the
# CNCF distribution registry), storage in a directory of the caller's, any user.
#
#   bash tests/setup/registry.sh start DIR [USER:PASSWORD]   start; prints the port
#   bash tests/setup/registry.sh stop DIR                    stop it
#   bash tests/setup/registry.sh push-busybox PORT TARBALL DIR [REPO]
#        make an OCI image of a rootfs tarball with umoci (rootless) and push it with skopeo
#        to 127.0.0.1:PORT/REPO:latest (default busybox)
#   . tests/setup/registry.sh                                defines the functions below
#
# With USER:PASSWORD the registry requires that login (htpasswd, bcrypt from htpasswd(1) or
# python3's bcrypt module).
set -euo pipefail

REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}

_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_bcrypt_line() { # USER PASSWORD
  if command -v htpasswd >/dev/null; then
    htpasswd -nbB "$1" "$2" | head -1
  else
    python3 -c 'import bcrypt,sys; print(sys.argv[1] + ":" + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt()).decode())' "$1" "$2"
  fi
}

# registry_start DIR [USER:PASSWORD]: echo the port once the registry answers.
registry_start() {
  local dir=$1 creds=${2:-} port i
  [ -x "$REGISTRY_BIN" ] || { echo "registry: $REGISTRY_BIN missing (apt-get install docker-registry)" >&2; return 1; }
  mkdir -p "$dir/storage"
  port=$(_free_port)
  {
    echo "version: 0.1"
    echo "log: {level: warn}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $dir/storage}"
    echo "  delete: {enabled: true}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  headers: {X-Content-Type-Options: [nosniff]}"
    if [ -n "$creds" ]; then
      _bcrypt_line "${creds%%:*}" "${creds#*:}" >"$dir/htpasswd"
      echo "auth:"
      echo "  htpasswd: {realm: guise-test, path: $dir/htpasswd}"
    fi
  } >"$dir/config.yml"
  "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/pid"
  for i in $(seq 100); do
    if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null; then
      echo "$port" >"$dir/port"
      echo "$port"
      return 0
    fi
    kill -0 "$(cat "$dir/pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "registry: did not start: $(tail -5 "$dir/registry.log")" >&2
  registry_stop "$dir"
  return 1
}

registry_stop() {
  local dir=$1 pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

# registry_push_rootfs PORT TARBALL WORKDIR [REPO] [CREDS]: OCI image from a rootfs tarball.
registry_push_rootfs() {
  local port=$1 tarball=$2 work=$3 repo=${4:-busybox} creds=${5:-}
  local layout=$work/oci-$repo
  rm -rf "$layout" "$work/bundle-$repo"
  umoci init --layout "$layout"
  umoci new --image "$layout:latest"
  umoci config --image "$layout:latest" --config.cmd /bin/sh --os linux \
    --architecture "$(dpkg --print-architecture 2>/dev/null || echo amd64)"
  umoci unpack --rootless --image "$layout:latest" "$work/bundle-$repo" >/dev/null
  tar -xf "$tarball" -C "$work/bundle-$repo/rootfs" --no-same-owner 2>/dev/null || true
  umoci repack --image "$layout:latest" "$work/bundle-$repo" >/dev/null
  chmod -R u+rwX "$work/bundle-$repo" && rm -rf "$work/bundle-$repo"
  skopeo copy --quiet --dest-tls-verify=false ${creds:+--dest-creds "$creds"} \
    "oci:$layout:latest" "docker://127.0.0.1:$port/$repo:latest"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
  start) registry_start "$2" "${3:-}" ;;
  stop) registry_stop "$2" ;;
  push-busybox) registry_push_rootfs "$2" "$3" "$4" "${5:-busybox}" ;;
  *)
    echo "usage: $0 start DIR [USER:PASS] | stop DIR | push-busybox PORT TARBALL DIR [REPO]" >&2
    exit 2
    ;;
  esac
fi
