# Shared by the fixture scripts in tests/setup (sourced, not run): the cache directory, build
# directories removed however the script ends, the Debian mirror this machine uses, a chroot
# with /proc and /dev, a static HTTP server on the loopback.  Every caller runs as root.

CACHE=${GUISE_TEST_CACHE:-/var/cache/guise-tests}

# Build trees are removed however the script ends (a failed mmdebstrap leaves a big one), and
# servers started with serve_loopback are stopped.
WORK_DIRS=()
WORK_PIDS=()
remove_work_dirs() {
  local d p
  for p in "${WORK_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
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
# that mirror is reachable from CI, so mmdebstrap and debootstrap must use it too.
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

# publish NAME DIR RECIPE: tar DIR (a root filesystem) into the cache atomically, then write the stamp.
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

# publish_reference TREELIST TREE REFERENCE REPO NAME STAMP RECIPE: the sorted treelist of TREE
# (made by the static helper TREELIST) becomes $CACHE/REFERENCE, the directory REPO replaces
# $CACHE/NAME (both world readable), then RECIPE goes to STAMP.
publish_reference() {
  local treelist=$1 tree=$2 reference=$3 repo=$4 name=$5 stamp=$6 recipe=$7
  "$treelist" "$tree" | LC_ALL=C sort >"$CACHE/.$reference.tmp"
  rm -rf "$CACHE/$name"
  mv "$repo" "$CACHE/$name"
  mv "$CACHE/.$reference.tmp" "$CACHE/$reference"
  chmod -R a+rX "$CACHE/$name" "$CACHE/$reference"
  echo "$recipe" >"$stamp"
  chmod 644 "$stamp"
}

# quietly LOG COMMAND...: run COMMAND with its output in LOG; on failure show LOG's end.
quietly() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 || { tail -20 "$log" >&2; return 1; }
}

# in_chroot ROOT COMMAND...: run COMMAND chrooted into ROOT, in a private mount namespace with
# /proc, the host's /dev, and each "SRC:DST" of the array CHROOT_BINDS bound (DST, a path
# inside ROOT, must exist).  The network is the host's.
CHROOT_BINDS=()
in_chroot() {
  local root=$1
  shift
  unshare -m --propagation private sh -c '
    root=$1; binds=$2; shift 2
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    for b in $binds; do mount --bind "${b%%:*}" "$root/${b#*:}"; done
    exec chroot "$root" "$@"' sh "$root" "${CHROOT_BINDS[*]}" "$@"
}

# serve_loopback DIR: a static HTTP server for DIR on a free port of 127.0.0.1 until the script
# ends; sets $PORT.
serve_loopback() {
  local log
  log=$(mktemp)
  python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >"$log" 2>&1 &
  WORK_PIDS+=($!)
  for _ in $(seq 50); do
    PORT=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$PORT" ] && { rm -f "$log"; return 0; }
    sleep 0.1
  done
  echo "serving $1 over HTTP failed: $(cat "$log")" >&2
  return 1
}

# reference_start NAME VERSION PRODUCT MESSAGE: for the scripts that make a package repository
# and the tree of a root install from it: exit the script when $CACHE/NAME.stamp says VERSION
# and $CACHE/PRODUCT is there; else (the bookworm fixture made first) print MESSAGE and make
# $work, a build directory removed when the script ends.
reference_start() {
  local name=$1 version=$2 product=$3
  [ "$(id -u)" -eq 0 ] || { echo "$name: must run as root" >&2; exit 1; }
  if [ -f "$CACHE/$name.stamp" ] && [ "$(cat "$CACHE/$name.stamp")" = "$version" ] &&
    [ -s "$CACHE/$product" ]; then
    exit 0
  fi
  bash "$(dirname "${BASH_SOURCE[0]}")/fixtures.sh" bookworm >/dev/null
  echo "$name: $4"
  new_work_dir
  work=$WORK_DIR
}
