#!/usr/bin/env bash
# guise run: namespaces, id mapping, capabilities, no_new_privs, rlimits, masked and
# read-only paths, /dev.
. "$(dirname "$0")/lib.sh"

DOCKER_DEFAULT_CAPS=00000000a80425fb

# cap_field TEXT NAME: the hex value of NAME (CapBnd, ...) in a /proc/PID/status dump.
cap_field() {
  printf '%s\n' "$1" | awk -v f="$2:" '$1 == f { print $2 }'
}

test_user_namespace_single_mapping() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups'
  assert_status 0
  lines=$(printf '%s\n' "$OUT" | awk '{ $1 = $1; print }')
  assert_eq "0 $(id -u) 1"$'\n'"0 $(id -g) 1"$'\n'"deny" "$lines" "uid_map, gid_map, setgroups"
}

test_namespaces_are_new() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'for ns in user mnt pid ipc uts cgroup net; do echo "$ns $(readlink /proc/self/ns/$ns)"; done'
  assert_status 0
  for ns in user mnt pid ipc uts cgroup; do
    inside=$(printf '%s\n' "$OUT" | awk -v ns="$ns" '$1 == ns { print $2 }')
    [ -n "$inside" ] || fail "no $ns namespace link inside: $OUT"
    assert_ne "$(readlink /proc/self/ns/$ns)" "$inside" "$ns namespace"
  done
  # --net host (the default) shares the network namespace.
  inside=$(printf '%s\n' "$OUT" | awk '$1 == "net" { print $2 }')
  assert_eq "$(readlink /proc/self/ns/net)" "$inside" "net namespace with --net host"
}

test_default_capabilities() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- grep Cap /proc/self/status
  assert_status 0
  assert_eq "$DOCKER_DEFAULT_CAPS" "$(cap_field "$OUT" CapBnd)" "CapBnd"
  assert_eq "$DOCKER_DEFAULT_CAPS" "$(cap_field "$OUT" CapEff)" "CapEff"
  assert_eq "$DOCKER_DEFAULT_CAPS" "$(cap_field "$OUT" CapPrm)" "CapPrm"
  assert_eq 0000000000000000 "$(cap_field "$OUT" CapAmb)" "CapAmb"
}

test_cap_drop_all() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --cap-drop ALL --rootfs "$rootfs" -- grep Cap /proc/self/status
  assert_status 0
  for f in CapBnd CapEff CapPrm CapInh CapAmb; do
    assert_eq 0000000000000000 "$(cap_field "$OUT" $f)" "$f"
  done
}

test_cap_add_sys_admin() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --cap-add SYS_ADMIN --rootfs "$rootfs" -- grep Cap /proc/self/status
  assert_status 0
  # bit 21 = CAP_SYS_ADMIN
  assert_eq 00000000a82425fb "$(cap_field "$OUT" CapBnd)" "CapBnd"
  assert_eq 00000000a82425fb "$(cap_field "$OUT" CapEff)" "CapEff"
}

test_cap_add_with_prefix_and_drop() {
  rootfs=$(fixture_rootfs busybox)
  # CAP_ prefix accepted; dropping NET_RAW (bit 13) and CHOWN (bit 0).
  run_guise run --cap-add CAP_SYS_PTRACE --cap-drop NET_RAW --cap-drop chown \
    --rootfs "$rootfs" -- grep CapBnd /proc/self/status
  assert_status 0
  # a80425fb + (1<<19) - (1<<13) - 1 = a80c05fa
  assert_eq 00000000a80c05fa "$(cap_field "$OUT" CapBnd)" "CapBnd"
}

test_cap_unknown_rejected() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --cap-add NOT_A_CAP --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" NOT_A_CAP "stderr"
}

test_capabilities_work_inside() {
  rootfs=$(fixture_rootfs busybox)
  # CAP_CHOWN to ourselves and CAP_DAC_OVERRIDE on a mode-000 file work for mapped ids.
  run_in "$rootfs" 'echo x >/tmp/f; chmod 000 /tmp/f; cat /tmp/f; chown 0:0 /tmp/f && echo chowned'
  assert_status 0
  assert_eq $'x\nchowned' "$OUT"
  run_in "$rootfs" 'echo x >/tmp/f; chmod 000 /tmp/f; cat /tmp/f' --cap-drop DAC_OVERRIDE
  assert_status 1
  assert_contains "$ERR" "Permission denied"
}

test_no_new_privs_default_on() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --rootfs "$rootfs" -- grep NoNewPrivs /proc/self/status
  assert_status 0
  assert_match '^NoNewPrivs:[[:space:]]+1$' "$OUT" "NoNewPrivs"
}

test_no_new_privs_can_be_disabled() {
  rootfs=$(fixture_rootfs busybox)
  run_guise run --security-opt no-new-privileges=false --rootfs "$rootfs" -- grep NoNewPrivs /proc/self/status
  assert_status 0
  assert_match '^NoNewPrivs:[[:space:]]+0$' "$OUT" "NoNewPrivs"
  run_guise run --security-opt no-new-privileges --rootfs "$rootfs" -- grep NoNewPrivs /proc/self/status
  assert_match '^NoNewPrivs:[[:space:]]+1$' "$OUT" "NoNewPrivs"
}

test_ulimit_nofile() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ulimit -n; ulimit -Hn; grep "open files" /proc/self/limits' --ulimit nofile=100:200
  assert_status 0
  assert_eq 100 "$(printf '%s\n' "$OUT" | sed -n 1p)" "soft nofile"
  assert_eq 200 "$(printf '%s\n' "$OUT" | sed -n 2p)" "hard nofile"
  assert_match 'Max open files +100 +200 ' "$OUT" "/proc/self/limits"
}

test_ulimit_soft_only_and_bad() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ulimit -n; ulimit -Hn' --ulimit nofile=64
  assert_status 0
  assert_eq $'64\n64' "$OUT" "nofile=64 sets soft and hard"
  run_guise run --ulimit nofile=300:200 --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "nofile" "stderr"
  run_guise run --ulimit bogus=1 --rootfs "$rootfs" -- true
  assert_status 125
  assert_contains "$ERR" "bogus" "stderr"
}

test_masked_paths_read_empty() {
  rootfs=$(fixture_rootfs busybox)
  checked=""
  for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats \
    /proc/timer_stats; do
    [ -e "$p" ] && checked="$checked $p"
  done
  [ -n "$checked" ] || skip "none of the masked /proc files exists on this kernel"
  # Masked = /dev/null bound over it: readable (even /proc/timer_list, root-only on the host,
  # and /proc/kcore), empty, and a mount point.
  run_in "$rootfs" "set -o pipefail; for p in $checked; do
      n=\$(cat \$p | wc -c) && echo \"\$p \$n\"
      awk -v p=\$p '\$5 == p { print \"mounted\", p }' /proc/self/mountinfo | tail -1
    done"
  assert_status 0
  for p in $checked; do
    assert_line "$OUT" "$p 0" "bytes read from $p"
    assert_line "$OUT" "mounted $p" "a mount over $p"
  done
  # A masked directory is empty (runc mounts a read-only tmpfs there).
  if [ -d /proc/scsi ] || [ -d /proc/acpi ]; then
    run_in "$rootfs" 'ls -A /proc/acpi /proc/scsi 2>/dev/null | grep -v ":$" | grep . || echo empty'
    assert_eq empty "$OUT" "masked /proc/acpi and /proc/scsi"
  fi
}

test_proc_readonly_paths() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
      [ -e $p ] || continue
      opts=$(awk -v p=$p '\''$5 == p { print $6 }'\'' /proc/self/mountinfo | tail -1)
      echo "$p $opts"
    done
    { echo 1 >/proc/sys/kernel/ns_last_pid; } 2>&1 || true'
  assert_status 0
  for p in /proc/sys /proc/sysrq-trigger /proc/bus /proc/fs /proc/irq; do
    [ -e "$p" ] || continue
    line=$(printf '%s\n' "$OUT" | awk -v p="$p" '$1 == p')
    assert_match "^$p (ro|ro,.*)$" "$line" "mount options of $p"
  done
  assert_contains "$OUT" "Read-only file system" "writing /proc/sys"
}

test_sys_is_readonly() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ls /sys | head -3; touch /sys/x 2>&1; mkdir /sys/fs/cgroup/x 2>&1; true'
  assert_status 0
  assert_contains "$OUT" "Read-only file system" "touch /sys/x"
  [ "$(printf '%s\n' "$OUT" | grep -c 'Read-only file system')" -ge 2 ] ||
    fail "/sys/fs/cgroup writable: $OUT"
  assert_contains "$OUT" "class" "/sys is populated"
}

test_dev_is_minimal() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'ls -A /dev; echo ---; ls -A /dev/pts; echo ---; for l in fd stdin stdout stderr; do readlink /dev/$l; done'
  assert_status 0
  devs=$(printf '%s\n' "$OUT" | sed -n '1,/^---$/p' | grep -v '^---$')
  for d in null zero full random urandom tty pts ptmx shm mqueue fd stdin stdout stderr; do
    assert_line "$devs" "$d" "/dev"
  done
  for d in $devs; do
    case "$d" in
    null | zero | full | random | urandom | tty | pts | ptmx | shm | mqueue | fd | stdin | stdout | stderr | console | core) ;;
    .guise-delegate) ;; # guise's own: the faking supervisor's channel for a nested guise
    *) fail "unexpected /dev/$d (host devices must not leak in): $devs" ;;
    esac
  done
  assert_contains "$OUT" /proc/self/fd "/dev/fd link"
  assert_contains "$OUT" /proc/self/fd/0 "/dev/stdin link"
}

test_dev_nodes_work() {
  rootfs=$(fixture_rootfs busybox)
  run_in "$rootfs" 'echo gone >/dev/null && echo null-ok
    head -c 4 /dev/zero | od -An -tx1 | tr -d " "
    head -c 16 /dev/urandom | wc -c
    echo x >/dev/full 2>/dev/null || echo full-enospc
    echo shm >/dev/shm/f && cat /dev/shm/f'
  assert_status 0
  assert_eq $'null-ok\n00000000\n16\nfull-enospc\nshm' "$OUT"
}

# ---- what the container can reach of its caller: terminal, descriptors, init's descriptors ----

# in_terminal GUISE-ARGS...: run guise in a terminal of its own (helper ptyrun: a new session
# whose controlling terminal is a fresh pty), followed by what the user's interactive shell does
# once guise returns: read a line from the terminal and run it.  The line is only there if the
# container typed it (TIOCSTI).  Leaves $OUT (what the terminal showed) and $STATUS.
in_terminal() {
  local ptyrun
  ptyrun=$(helper ptyrun)
  STATUS=0
  timeout --kill-after=5 "$GUISE_TEST_TIMEOUT" "$ptyrun" bash -c \
    '"$@"; read -r -t 2 line && eval "$line"; true' in_terminal "$GUISE" "$@" \
    </dev/null >terminal.out 2>&1 || STATUS=$?
  OUT=$(tr -d '\r' <terminal.out)
  printf '+ ptyrun guise %s\n  status %s\n  terminal: %s\n' "$*" "$STATUS" "$(_abbrev "$OUT")"
  check_sanitizers "$OUT"
}

# assert_nothing_typed WHAT: the tiocsti helper ran in the container (in_terminal) and typed
# nothing that the caller's shell ran: no ./INJECTED.
assert_nothing_typed() {
  [ ! -e INJECTED ] || fail "$1: the caller's shell ran what the container typed: $(_abbrev "$OUT")"
  ! printf '%s\n' "$OUT" | grep -E ' injected$' ||
    fail "$1: TIOCSTI into the caller's terminal succeeded: $(_abbrev "$OUT")"
  assert_eq 0 "$STATUS" "$1: status"
  printf '%s\n' "$OUT" | grep -q '^/dev/tty refused: ' ||
    fail "$1: the tiocsti helper did not run: $(_abbrev "$OUT")"
}

# A hostile container types a command into the caller's terminal (TIOCSTI) for the caller's
# shell to run after guise: through /dev/tty, through an inherited terminal fd (stdout, stdin
# with -i), with TIOCSCTTY first, from PID 1 or without init.  The container has a session of
# its own, so the caller's terminal is no controlling terminal of its (runc and crun do that).
test_run_cannot_type_into_callers_terminal() {
  rootfs=$(fixture_rootfs busybox)
  cp "$(helper tiocsti)" "$rootfs/tiocsti"
  # tty_nr (field 7 of stat) of PID 1 and of the command: 0 is no controlling terminal.
  script='/tiocsti "touch INJECTED"; echo "tty_nr $(cut -d" " -f7 /proc/1/stat) $(cut -d" " -f7 /proc/self/stat)"'
  for mode in "" -i --no-init "--cap-add ALL" "-i --cap-add ALL --no-init"; do
    # shellcheck disable=SC2086 # the mode is several words
    in_terminal run $mode --rootfs "$rootfs" -- sh -c "$script"
    assert_nothing_typed "guise run $mode"
    assert_line "$OUT" "tty_nr 0 0" "guise run $mode: no controlling terminal in the container"
  done
  # With -t the container's terminal is its own pty, not the caller's.
  in_terminal run -t --rootfs "$rootfs" -- /tiocsti "touch INJECTED"
  assert_eq 0 "$STATUS" "guise run -t: status"
  [ ! -e INJECTED ] || fail "guise run -t: the caller's shell ran what the container typed"
}

test_build_run_cannot_type_into_callers_terminal() {
  mkdir ctx
  cp "$(_fixture_tarball busybox)" ctx/busybox.tar
  cp "$(helper tiocsti)" ctx/tiocsti
  printf 'FROM scratch\nADD busybox.tar /\nCOPY tiocsti /tiocsti\nRUN /tiocsti "touch INJECTED"\n' \
    >ctx/Containerfile
  in_terminal build --root store -t typed ctx
  assert_nothing_typed "guise build"
  # Quiet: the step's output goes to a file and guise keeps the terminal in other descriptors
  # meanwhile; the step fails so that its output is shown.
  printf 'FROM scratch\nADD busybox.tar /\nCOPY tiocsti /tiocsti\nRUN /tiocsti "touch INJECTED"; exit 3\n' \
    >ctx/Containerfile
  in_terminal build -q --root store -t typed ctx
  STATUS=0 # the build fails, by design
  assert_nothing_typed "guise build -q"
}

# type_on_terminal TEXT: what a user types, on the controlling terminal (run in_terminal).
# shellcheck disable=SC2016 # expanded by the inner shell
TYPE_ON_TERMINAL='type_on_terminal() { python3 -c "import fcntl, sys, termios
for c in sys.argv[1].encode(): fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))" "$1" </dev/tty; }'

# With -i but no -t the container's stdin is fed by guise from the caller's terminal: it reads
# what is typed while guise runs in the foreground, and nothing typed to the caller's shell
# while guise is in the background or stopped (the container's own session is out of reach of
# the terminal's job control, guise is not).
test_run_i_reads_callers_terminal_only_in_foreground() {
  command -v python3 >/dev/null || skip "python3 missing"
  rootfs=$(fixture_rootfs busybox)
  ptyrun=$(helper ptyrun)
  read_line='read l; echo "container read [$l]"'
  timeout 60 "$ptyrun" bash -c "$TYPE_ON_TERMINAL"'
    (sleep 1; type_on_terminal "hello
") &
    "$@"; wait' sh "$GUISE" run -i --rootfs "$rootfs" -- sh -c "$read_line" </dev/null >fg.out 2>&1 ||
    fail "guise run -i in the foreground: $(cat fg.out)"
  assert_line "$(tr -d '\r' <fg.out)" "container read [hello]" "guise run -i in the foreground"
  # A job-control shell, guise in the background: what is typed is the shell's.
  timeout 60 "$ptyrun" bash -c "$TYPE_ON_TERMINAL"'
    set -m
    "$@" &
    sleep 1; type_on_terminal "secret
"
    read -r -t 5 l; echo "shell read [$l]"; kill -KILL %1' sh "$GUISE" run -i --rootfs "$rootfs" -- \
    sh -c "$read_line" </dev/null >bg.out 2>&1 || true
  out=$(tr -d '\r' <bg.out)
  printf 'background run: %s\n' "$out"
  assert_not_contains "$out" "container read [secret]" "guise run -i in the background"
  assert_line "$out" "shell read [secret]" "the caller's shell"
}

# Ctrl-C on the caller's terminal reaches every process of the container's group, as it did
# when the container shared the caller's session: sh does not wait for its sleep to end.
test_ctrl_c_reaches_the_whole_container() {
  command -v python3 >/dev/null || skip "python3 missing"
  rootfs=$(fixture_rootfs busybox)
  ptyrun=$(helper ptyrun)
  mkdir started
  for mode in "" -i --no-init; do
    rm -f started/now
    start=$SECONDS
    # shellcheck disable=SC2086 # the mode is one word or none
    timeout 60 "$ptyrun" bash -c "$TYPE_ON_TERMINAL"'
      (for _ in $(seq 300); do [ -e started/now ] && break; sleep 0.1; done; type_on_terminal "$(printf "\003")") &
      "$@"; echo "status $?"; wait' sh "$GUISE" run $mode -v "$TEST_TMP/started:/started" \
      --rootfs "$rootfs" -- sh -c 'touch /started/now; sleep 30; echo after' </dev/null \
      >ctrl-c.out 2>&1 || true
    out=$(tr -d '\r' <ctrl-c.out)
    printf 'guise run %s: %s (%s s)\n' "$mode" "$out" $((SECONDS - start))
    assert_line "$out" "status 130" "guise run $mode after Ctrl-C"
    [ $((SECONDS - start)) -lt 20 ] || fail "guise run $mode: Ctrl-C did not stop sleep"
  done
}

# Ctrl-Z stops the container with guise, `bg` resumes it: job control as in the caller's
# process group.  The container counts into a bound file (renamed, so never read half-written).
test_ctrl_z_stops_the_whole_container() {
  command -v python3 >/dev/null || skip "python3 missing"
  rootfs=$(fixture_rootfs busybox)
  ptyrun=$(helper ptyrun)
  mkdir ticks
  count='i=0; while :; do i=$((i+1)); echo $i >/ticks/t && mv /ticks/t /ticks/n; sleep 0.1; done'
  for mode in "" -i --no-init; do
    rm -f ticks/n
    # shellcheck disable=SC2086 # the mode is one word or none
    timeout 60 "$ptyrun" bash -c "$TYPE_ON_TERMINAL"'
      set -m
      (for _ in $(seq 300); do [ -s ticks/n ] && break; sleep 0.1; done; type_on_terminal "$(printf "\032")") &
      "$@"
      a=$(cat ticks/n); sleep 1; b=$(cat ticks/n); echo "stopped: $a $b"
      bg %2 >/dev/null; sleep 1; c=$(cat ticks/n); echo "resumed: $c"
      kill -KILL $(jobs -p) 2>/dev/null; true' sh "$GUISE" run $mode -v "$TEST_TMP/ticks:/ticks" \
      --rootfs "$rootfs" -- sh -c "$count" </dev/null >ctrl-z.out 2>&1 || true
    out=$(tr -d '\r' <ctrl-z.out)
    printf 'guise run %s: %s\n' "$mode" "$out"
    stopped=$(printf '%s\n' "$out" | sed -n 's/^stopped: //p')
    resumed=$(printf '%s\n' "$out" | sed -n 's/^resumed: //p')
    set -- $stopped
    [ -n "${1:-}" ] && [ "$1" = "${2:-}" ] || fail "guise run $mode: the container ran on after Ctrl-Z ($stopped)"
    [ -n "$resumed" ] && [ "$resumed" -gt "$1" ] || fail "guise run $mode: bg did not resume the container ($stopped, $resumed)"
  done
}

# fd_leak_probe: a directory of the caller's, open as fd 7 in the caller (`exec 7<dir`), with a
# sentinel in it; prints the container script that tries to read and write through it.
fd_leak_probe() {
  mkdir home
  echo secret >home/sentinel
  # The shell's own open descriptors: the glob's directory is closed again when -L runs.
  echo 'cd /proc/$$/fd && fds= && for n in *; do [ -L $n ] && fds="$fds $n"; done; echo "fds:$fds"; cat /proc/self/fd/7/sentinel; echo x >/proc/self/fd/7/escaped; true'
}

# assert_no_fd_leak: the probe saw only stdin, stdout and stderr, and reached nothing.
assert_no_fd_leak() {
  assert_line "$OUT" "fds: 0 1 2" "$1: the container's descriptors"
  assert_not_contains "$OUT" secret "$1: reading through the caller's fd 7"
  [ ! -e home/escaped ] || fail "$1: the container wrote into the caller's directory through fd 7"
}

test_run_gets_no_caller_fds() {
  rootfs=$(fixture_rootfs busybox)
  probe=$(fd_leak_probe)
  exec 7<home
  run_in "$rootfs" "$probe"
  assert_status 0
  assert_no_fd_leak "guise run"
  run_in "$rootfs" "$probe" --no-init
  assert_status 0
  assert_no_fd_leak "guise run --no-init"
}

test_build_run_gets_no_caller_fds() {
  probe=$(fd_leak_probe)
  mkdir ctx
  cp "$(_fixture_tarball busybox)" ctx/busybox.tar
  printf 'FROM scratch\nADD busybox.tar /\nRUN %s\n' "$probe" >ctx/Containerfile
  exec 7<home
  run_guise build --root store -t leak ctx
  assert_status 0
  assert_no_fd_leak "guise build (progress)"
  # Quiet builds keep the caller's stdout and stderr in other descriptors during the step.
  printf 'FROM scratch\nADD busybox.tar /\nRUN %s; exit 3\n' "$probe" >ctx/Containerfile
  run_guise build -q --root store -t leak ctx
  assert_status 1
  OUT=$ERR # the failed step's output
  assert_no_fd_leak "guise build -q"
}

# guise's init is PID 1 and never execs: whatever guise had open (the store, the container's
# directory, the build context, even with O_CLOEXEC) it would keep, and a container allowed to
# ptrace it (--cap-add SYS_PTRACE or ALL) would reach the host through /proc/1/fd/N/...
test_init_holds_no_host_fds() {
  export GUISE_ROOT=$TEST_TMP/store
  echo secret >sentinel
  tarball_image "$(_fixture_tarball busybox)" bb
  run_guise run --rm --cap-add ALL bb sh -c \
    'cd /proc/1/fd && echo "init fds:" *; for f in /proc/1/fd/*; do cat $f/../sentinel $f/../../sentinel $f/../../../sentinel; done 2>/dev/null; true'
  assert_status 0
  assert_line "$OUT" "init fds: 0 1 2" "PID 1's descriptors"
  assert_not_contains "$OUT" secret "the host through /proc/1/fd"
}

# The same for a build step's init, seen from the host (the step itself has no CAP_SYS_PTRACE).
test_build_init_holds_no_host_fds() {
  mkdir ctx
  cp "$(_fixture_tarball busybox)" ctx/busybox.tar
  printf 'FROM scratch\nADD busybox.tar /\nRUN touch /started; sleep 30\n' >ctx/Containerfile
  start_guise build --root store -t slow ctx
  init=""
  for _ in $(seq 200); do
    init=$(pgrep -P "$GUISE_PID" -x guise-init || true)
    [ -n "$init" ] && [ -n "$(pgrep -P "$init" -x sleep || true)" ] && break
    sleep 0.1
  done
  [ -n "$init" ] || fail "no guise-init under guise build (pid $GUISE_PID)"
  fds=$(ls /proc/"$init"/fd | sort -n | paste -sd' ')
  links=$(for f in /proc/"$init"/fd/*; do readlink "$f"; done | paste -sd' ')
  kill "$GUISE_PID"
  wait_guise
  assert_eq "0 1 2" "$fds" "the build step's init's descriptors ($links)"
}

run_tests
