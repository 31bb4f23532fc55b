#!/bin/sh
# The checks tests/engines/test_engines.sh runs inside each engine's container (or sandbox), as
# that container's user, with the fixture cache at $GUISE_FX (default /fx, read-only) and guise on PATH.  Prints
# "== STEP" before each step and "status N" after it; the test asserts on the transcript.
# GUISE_RUN_OPTS: options for the run step's `guise run` (e.g. --isolation=namespaces).
#   sh inside.sh [run] [fake] [push] [build] [apt]      (default: the first four)
set -u
fx=${GUISE_FX:-/fx}
work=$(mktemp -d "${TMPDIR:-/tmp}/guise-ci.XXXXXX") || exit 1
cd "$work" || exit 1
export GUISE_ROOT="$work/store"
steps=${*:-run fake push build}
for step in $steps; do
  echo "== $step"
  case $step in
  run)
    mkdir bb && tar --no-same-owner -xf "$fx/busybox.tar" -C bb &&
      guise run ${GUISE_RUN_OPTS:-} --rootfs bb -- sh -c 'echo "inner uid $(id -u) hostname $(hostname) etc $(cat /etc/hostname) self $(readlink /proc/self)"' &&
      # A faked chown of the caller's own descriptor named by the id its /proc gives it (the
      # outer pid namespace's where the outer /proc is bound in).
      guise run ${GUISE_RUN_OPTS:-} --rootfs bb -- sh -c 'touch /f && (p=$(cut -d" " -f4 /proc/self/stat); exec chown 1:2 /proc/$p/fd/3 3</f) && echo "proc fd chown $(stat -c %u:%g /f)"'
    ;;
  fake)
    # The README's populate step: the tarball's owners, modes and devices go to mb's database.
    mkdir mb && guise fake --rootfs mb -- tar -xpf "$fx/bookworm-minbase.tar" -C mb &&
      guise fake --rootfs mb -- stat -c 'faked %u:%g %a %n' mb/var/log/wtmp mb/usr/bin/passwd
    ;;
  build)
    # README's CI jobs: a RUN step, the image written to an archive.
    mkdir ctx && cp "$fx/busybox.tar" ctx/ &&
      printf 'FROM scratch\nADD busybox.tar /\nRUN echo built >/built\n' >ctx/Containerfile &&
      guise build -q --output "oci-archive:$work/app.tar" ctx >/dev/null &&
      tar -tf "$work/app.tar" index.json && echo built
    ;;
  apt)
    # README's demo build: apt-get install from the test's local repository ($APT_PORT,
    # $APT_PACKAGES), the image written as an OCI layout to $GUISE_OUT/layout for umoci.
    mkdir actx && cp "$fx/bookworm-minbase.tar" actx/base.tar &&
      printf 'FROM scratch\nADD base.tar /\nRUN echo "deb [trusted=yes] http://127.0.0.1:%s/ ./" >/etc/apt/sources.list && apt-get update -q && apt-get install -y -q %s\n' \
        "$APT_PORT" "$APT_PACKAGES" >actx/Containerfile &&
      guise build -q --output "oci:${GUISE_OUT:-/out}/layout:apt" actx >/dev/null && echo built apt
    ;;
  push)
    { guise import "$fx/busybox.tar" localhost/bb:1 >/dev/null 2>"$work/import.err" ||
      { cat "$work/import.err" >&2 && false; }; } &&
      guise push localhost/bb:1 "oci:$work/out:bb" &&
      grep -q '"org.opencontainers.image.ref.name": "bb"' "$work/out/index.json" && echo pushed bb
    ;;
  esac
  echo "status $?"
done
cd / && rm -rf "$work" 2>/dev/null
exit 0
