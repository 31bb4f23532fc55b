#!/usr/bin/env bash
# A throwaway OCI registry on 127.0.0.1 for the image tests: Debian's docker-registry (the
# CNCF distribution registry), storage in a directory of the caller's, any user.
#
#   bash tests/setup/registry.sh start DIR [USER:PASSWORD]   start; prints the port
#   bash tests/setup/registry.sh start DIR --token USER:PASSWORD
#   bash tests/setup/registry.sh stop DIR                    stop it (and its token server)
#   bash tests/setup/registry.sh push-busybox PORT TARBALL DIR [REPO]
#        make an OCI image of a rootfs tarball with umoci (rootless) and push it with skopeo
#        to 127.0.0.1:PORT/REPO:latest (default busybox)
#   . tests/setup/registry.sh                                defines the functions below
#
# With USER:PASSWORD the registry requires that login (htpasswd, bcrypt from htpasswd(1) or
# python3's bcrypt module).  With --token USER:PASSWORD it uses token auth instead: a throwaway
# RSA key and self-signed certificate (openssl), and tests/setup/token_server.py (python3-jwt)
# on another loopback port as the realm, which gives USER:PASSWORD tokens for whatever scope
# they ask and anonymous clients tokens for nothing; it logs the requests to DIR/token.log.
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

_port_open() { # PORT
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$1" 2>/dev/null
}

# _token_server_start DIR USER:PASSWORD: key, certificate and token server; echo its port.
_token_server_start() {
  local dir=$1 creds=$2 i
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=guise-test-issuer \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$dir/openssl.log" ||
    { echo "registry: openssl: $(cat "$dir/openssl.log")" >&2; return 1; }
  rm -f "$dir/token-port"
  # Debian's python3 with python3-jwt and python3-cryptography, whatever python3 is on PATH.
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/token_server.py" "$dir" "$creds" guise-test-issuer \
    >"$dir/token-server.log" 2>&1 &
  echo $! >"$dir/token-pid"
  for i in $(seq 100); do
    if [ -s "$dir/token-port" ] && _port_open "$(cat "$dir/token-port")"; then
      cat "$dir/token-port"
      return 0
    fi
    kill -0 "$(cat "$dir/token-pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "registry: token server did not start: $(tail -5 "$dir/token-server.log")" >&2
  return 1
}

# registry_start DIR [USER:PASSWORD | --token USER:PASSWORD]: echo the port once the registry
# answers.
registry_start() {
  local dir=$1 creds=${2:-} token= tport port i
  if [ "$creds" = --token ]; then
    token=1 creds=${3:?--token needs USER:PASSWORD}
  fi
  [ -x "$REGISTRY_BIN" ] || { echo "registry: $REGISTRY_BIN missing (apt-get install docker-registry)" >&2; return 1; }
  mkdir -p "$dir/storage"
  if [ -n "$token" ]; then
    tport=$(_token_server_start "$dir" "$creds") || { registry_stop "$dir"; return 1; }
  fi
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
    if [ -n "$token" ]; then
      echo "auth:"
      echo "  token:"
      echo "    realm: http://127.0.0.1:$tport/token"
      echo "    service: guise-test-registry"
      echo "    issuer: guise-test-issuer"
      echo "    rootcertbundle: $dir/cert.pem"
    elif [ -n "$creds" ]; then
      _bcrypt_line "${creds%%:*}" "${creds#*:}" >"$dir/htpasswd"
      echo "auth:"
      echo "  htpasswd: {realm: guise-test, path: $dir/htpasswd}"
    fi
  } >"$dir/config.yml"
  "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/pid"
  for i in $(seq 100); do
    if _port_open "$port"; then
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
  local dir=$1 pidfile pid
  for pidfile in "$dir/pid" "$dir/token-pid"; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
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
  start) registry_start "$2" "${3:-}" "${4:-}" ;;
  stop) registry_stop "$2" ;;
  push-busybox) registry_push_rootfs "$2" "$3" "$4" "${5:-busybox}" ;;
  *)
    echo "usage: $0 start DIR [USER:PASS | --token USER:PASS] | stop DIR | push-busybox PORT TARBALL DIR [REPO]" >&2
    exit 2
    ;;
  esac
fi
