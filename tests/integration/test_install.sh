#!/usr/bin/env bash
# make install: the installed guise works from its prefix without the source tree (run, pull,
# build: guise finds guise-full in PREFIX/libexec/guise, also without /proc), says its version,
# and has a man page per command and bash and zsh completions.  tests/run-all.sh makes the
# install tree (`make install DESTDIR=... PREFIX=/usr`) and names it in GUISE_INSTALL_TREE.
. "$(dirname "$0")/lib.sh"

# installed: GUISE becomes the installed guise, with a store of this test's own.
installed() {
  [ -n "${GUISE_INSTALL_TREE:-}" ] || skip "GUISE_INSTALL_TREE not set (tests/run-all.sh makes it)"
  TREE=$GUISE_INSTALL_TREE
  [ -x "$TREE/usr/bin/guise" ] || fail "no $TREE/usr/bin/guise: make install failed (see the run's install.log)"
  GUISE=$TREE/usr/bin/guise
  export XDG_DATA_HOME=$TEST_TMP/data
}

test_installed_layout_version_docs() {
  installed
  [ -x "$TREE/usr/libexec/guise/guise-full" ] || fail "guise-full not in PREFIX/libexec/guise"
  [ ! -e "$TREE/usr/bin/guise-full" ] || fail "guise-full in PREFIX/bin"
  run_guise --version
  assert_status 0
  assert_match '^guise version [0-9]+\.[0-9]+\.[0-9]+' "$OUT" "guise --version"
  local version=$OUT
  run_guise version
  assert_eq "$version" "$OUT" "guise version"
  # A man page per command that guise --help lists, made from the command's --help.
  run_guise --help
  local commands
  commands=$(printf '%s\n' "$OUT" | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p')
  [ "$(printf '%s\n' "$commands" | wc -l)" -gt 15 ] || fail "commands in guise --help: $commands"
  local man=$TREE/usr/share/man/man1 c
  grep -q '^\.TH GUISE ' "$man/guise.1" || fail "no guise(1)"
  for c in $commands; do
    grep -q "^\.TH GUISE-${c^^} " "$man/guise-$c.1" || fail "no man page guise-$c(1)"
  done
  grep -q -- '\\-\\-save' "$man/guise-fake.1" || fail "guise-fake(1) lacks --save"
  grep -q -- '\\-\\-rootfs' "$man/guise-run.1" || fail "guise-run(1) lacks --rootfs"
  # bash: commands, then a command's options; anything else is left to file names.
  local comp=$TREE/usr/share/bash-completion/completions/guise
  out=$(bash -c '. "$1"; COMP_WORDS=(guise fa); COMP_CWORD=1; _guise; echo "${COMPREPLY[*]}"
    COMP_WORDS=(guise fake --sa); COMP_CWORD=2; _guise; echo "${COMPREPLY[*]}"
    COMP_WORDS=(guise run --rootfs /x --read); COMP_CWORD=4; _guise; echo "${COMPREPLY[*]}"
    complete -p guise' _ "$comp")
  assert_eq "fake
--save
--read-only
complete -o default -F _guise guise" "$out" "bash completion"
  # zsh: loads, and offers the commands.
  local zcomp=$TREE/usr/share/zsh/site-functions/_guise
  head -1 "$zcomp" | grep -qx '#compdef guise' || fail "_guise lacks #compdef"
  command -v zsh >/dev/null || fail "zsh not installed (tests/setup/install-deps.sh)"
  zsh -n "$zcomp" || fail "_guise is not valid zsh"
  grep -q "'fake:run a host command" "$zcomp" || fail "_guise lacks the fake command"
}

test_installed_run_pull_build() {
  installed
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'touch /f && chown 3:4 /f && stat -c %u:%g /f'
  assert_status 0
  assert_eq "3:4" "$OUT" "guise run --rootfs from the install"
  # Image commands run in guise-full, found in PREFIX/libexec/guise.
  tarball_image "$(_fixture_tarball busybox)" bb
  run_guise push bb oci:layout:bb
  assert_status 0
  run_guise rmi bb
  assert_status 0
  run_guise pull oci:layout:bb
  assert_status 0
  assert_contains "$ERR" "Pulled localhost/layout:bb" "pull from an oci: layout"
  mkdir ctx
  printf 'FROM localhost/layout:bb\nRUN touch /built && chown 5:6 /built\n' >ctx/Containerfile
  run_guise build -q -t built ctx
  assert_status 0
  run_guise run --rm built stat -c %u:%g /built
  assert_status 0
  assert_eq "5:6" "$OUT" "an image built by the installed guise"
}

# Without /proc (a tmpfs over it), guise finds itself from argv[0] or PATH.
test_installed_finds_guise_full_without_proc() {
  installed
  local bin=$TREE/usr/bin
  out=$(unshare -Urm bash -c 'mount -t tmpfs none /proc && [ ! -e /proc/self ] &&
    "$1/guise" images -q && echo absolute-ok && cd / && PATH=/nonexistent:$1 guise images -q &&
    echo path-ok' _ "$bin" 2>&1) || fail "guise images without /proc: $out"
  assert_eq "absolute-ok
path-ok" "$out" "guise images without /proc"
}

run_tests
