#!/usr/bin/env bash
# guise in guise: a guise running inside a guise container fakes its own container's calls
# through the outer supervisor (delegation), records them in the INNER database and never in
# the outer one; where no delegation can be had it refuses with a clear error instead of
# letting the outer supervisor answer (a silently wrong image).
#
# Most outer containers are OCI bundles without masked /proc paths; the test_nested_plain_*
# cases use a plain `guise run`, whose /proc masks make the kernel refuse the inner guise a
# fresh /proc ("mount too revealing"): it binds the outer /proc instead, whose pid namespace
# is not the inner container's (ids in /proc and /proc/self are then the outer namespace's).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nested.sh"

# What the innermost container does: a chown, device nodes, a setuid bit; it prints what it sees.
INNER_SCRIPT='touch /f && chown 1234:5678 /f && mknod /dev0 c 4 5 && mknod /blk b 8 1 && touch /s && chmod 4755 /s && stat -c "%n %u:%g %F %t:%T %A" /f /dev0 /blk /s'
INNER_SEEN='/f 1234:5678 regular empty file 0:0 -rw-r--r--
/dev0 0:0 character special file 4:5 crw-r--r--
/blk 0:0 block special file 8:1 brw-r--r--
/s 0:0 regular empty file 0:0 -rwsr-xr-x'

# assert_recorded ROOTFS PATH TEXT: `guise db` of ROOTFS shows TEXT for PATH.
assert_recorded() {
  run_guise db --rootfs "$1" show "$2"
  assert_status 0
  assert_contains "$OUT" "$3" "faked state of $2 in the database of $1"
}

# assert_not_recorded ROOTFS PATH: ROOTFS's database (if any) has nothing faked for PATH.
assert_not_recorded() {
  [ -e "$1.fakefs.db" ] || return 0
  run_guise db --rootfs "$1" show "$2"
  assert_not_contains "$OUT" "faked (" "faked state of $2 in the database of $1"
}

# What a level-3 container does and sees.
LEVEL3_SCRIPT='touch /f && chown 1234:5678 /f && mknod /dev0 c 4 5 && stat -c "%n %u:%g %F %t:%T" /f /dev0'
LEVEL3_SEEN='/f 1234:5678 regular empty file 0:0
/dev0 0:0 character special file 4:5'

# assert_level3 ROOTFS [OUTER-ROOTFS PATH]...: the level-3 run succeeded, saw LEVEL3_SEEN, and
# its faked state is in ROOTFS's database, not at PATH in any OUTER-ROOTFS's.
assert_level3() {
  assert_status 0
  assert_eq "$LEVEL3_SEEN" "$OUT" "what the level-3 container sees"
  assert_recorded "$1" /f "uid 1234 gid 5678"
  assert_recorded "$1" /dev0 "char 4,5"
  shift
  while [ $# -ge 2 ]; do
    assert_not_recorded "$1" "$2"
    shift 2
  done
}

test_nested_faking_goes_to_the_inner_database() {
  local b=$TEST_TMP/b1
  nested_bundle "$b" \
    "$(python3 -c 'import json,sys; print(json.dumps(["guise", "run", "--rootfs", "/inner", "--", "sh", "-c", sys.argv[1]]))' "$INNER_SCRIPT")"
  run_guise run --bundle "$b"
  assert_status 0
  assert_eq "$INNER_SEEN" "$OUT" "what the inner container sees"
  assert_recorded "$b/rootfs/inner" /f "uid 1234 gid 5678"
  assert_recorded "$b/rootfs/inner" /dev0 "char 4,5"
  assert_recorded "$b/rootfs/inner" /blk "block 8,1"
  assert_not_contains "$ERR" "ptrace" "no fallback to ptrace"
  assert_eq 4755 "$(stat -c %a "$b/rootfs/inner/s")" "the setuid bit on disk"
  for p in /inner/f /inner/dev0 /inner/blk; do
    assert_not_recorded "$b/rootfs" "$p"
  done
  # A later container of the inner rootfs, run directly, sees the same.
  run_in "$b/rootfs/inner" 'stat -c "%n %u:%g %F %t:%T %A" /f /dev0 /blk /s'
  assert_status 0
  assert_eq "$INNER_SEEN" "$OUT" "the inner rootfs seen from the host"
}

test_nested_three_levels() {
  local b=$TEST_TMP/b1 busy
  busy=$(fixture_rootfs busybox)
  mv "$busy" "$b-rootfs"
  add_guise "$b-rootfs"
  # Level 2: a bundle inside level 1 (uid 0 there is the test user), itself running guise.
  busy=$(fixture_rootfs busybox)
  add_guise "$busy"
  mkdir -p "$b-rootfs/b2"
  mv "$busy" "$b-rootfs/b2/rootfs"
  busy=$(fixture_rootfs busybox)
  mv "$busy" "$b-rootfs/b2/rootfs/l3"
  (
    make_bundle "$TEST_TMP/b2tmp" 0 0 \
      "$(python3 -c 'import json,sys; print(json.dumps(["guise", "run", "--rootfs", "/l3", "--", "sh", "-c", sys.argv[1]]))' "$LEVEL3_SCRIPT")"
  )
  mv "$TEST_TMP/b2tmp/config.json" "$b-rootfs/b2/config.json"
  make_bundle "$b" "$(id -u)" "$(id -g)" '["guise", "run", "--bundle", "/b2"]'
  mv "$b-rootfs" "$b/rootfs"
  run_guise run --bundle "$b"
  assert_level3 "$b/rootfs/b2/rootfs/l3" "$b/rootfs/b2/rootfs" /l3/f "$b/rootfs" /b2/rootfs/l3/f
}

# Without a delegation channel (as under a seccomp supervisor that is not guise's), and with
# the ptrace backend (which the outer listener would pre-empt), the inner guise refuses.
test_nested_refuses_without_delegation() {
  local b=$TEST_TMP/b1
  nested_bundle "$b" \
    '["sh", "-c", "GUISE_DELEGATE=/nowhere guise run --rootfs /inner -- chown 1:2 /bin; echo status $?; guise run --fake-backend ptrace --rootfs /inner -- chown 1:2 /bin; echo status $?"]'
  run_guise run --bundle "$b"
  assert_status 0
  assert_eq "status 125
status 125" "$OUT" "both inner runs refused"
  assert_contains "$ERR" "no outer guise offers to delegate at /nowhere" "the cause, without a channel"
  assert_contains "$ERR" "outer supervisor holds a seccomp listener" "the cause, with ptrace"
  assert_not_recorded "$b/rootfs/inner" /bin
  assert_not_recorded "$b/rootfs" /inner/bin
}

# The inner supervisor killed: its container's calls are never answered by the outer one (which
# would record them in the wrong database); the inner guise stops its container and says why.
test_nested_inner_supervisor_killed() {
  local b=$TEST_TMP/b1
  nested_bundle "$b" '["sh", "/kill-inner.sh"]'
  cat >"$b/rootfs/kill-inner.sh" <<'EOF2'
guise run --rootfs /inner -- sh -c 'touch /f && echo >/ready && sleep 2 && chown 7:7 /f && echo chowned' &
inner=$!
while [ ! -e /inner/ready ]; do sleep 0.1; done
for comm in /proc/[0-9]*/comm; do
  [ "$(cat "$comm" 2>/dev/null)" = guise-fakefs ] || continue
  pid=${comm%/comm}
  kill -9 "${pid#/proc/}" && echo killed
done
wait "$inner"
echo "inner status $?"
EOF2
  run_guise run --bundle "$b"
  assert_status 0
  assert_eq "killed
inner status 125" "$OUT" "the inner container stopped before its chown returned"
  assert_contains "$ERR" "syscall-faking supervisor (pid" "the inner guise says why"
  assert_contains "$ERR" "was killed by signal 9" "the inner guise says why"
  assert_not_recorded "$b/rootfs" /inner/f
  assert_not_recorded "$b/rootfs/inner" /f
}

# The inner supervisor stopped for longer than the outer one waits for room on its socket (as
# Ctrl-Z does: it stops the outer container's process group, not the inner container's own
# session) while 300 threads of the inner container go on calling: once it runs again, the calls
# forwarded meanwhile are answered and the inner container finishes, not left hanging unanswered.
test_nested_inner_supervisor_stopped() {
  local b=$TEST_TMP/b1
  nested_bundle "$b" '["sh", "/stop-inner.sh"]'
  cp "$(helper fakehostile)" "$b/rootfs/inner/fakehostile"
  cat >"$b/rootfs/stop-inner.sh" <<'EOF2'
timeout 40 guise run --rootfs /inner -- sh -c '/fakehostile callers 300 /stop & echo >/ready; while [ ! -e /cont ]; do sleep 1; done; touch /stop; wait' &
inner=$!
while [ ! -e /inner/ready ]; do sleep 0.1; done
sleep 1
for comm in /proc/[0-9]*/comm; do
  [ "$(cat "$comm" 2>/dev/null)" = guise-fakefs ] || continue
  pid=${comm%/comm}
  pid=${pid#/proc/}
done
kill -STOP "$pid" && sleep 12 && kill -CONT "$pid" && echo >/inner/cont
wait "$inner"
echo "inner status $?"
EOF2
  run_guise run --bundle "$b"
  assert_status 0
  assert_eq "callers done
inner status 0" "$OUT" "the inner container finished"
}

# Many processes of the inner container making faked calls at once: every one is forwarded,
# answered by the inner supervisor and recorded in the inner database.
test_nested_parallel_calls() {
  local b=$TEST_TMP/b1
  nested_bundle "$b" '["guise", "run", "--rootfs", "/inner", "--", "sh", "-c", "mkdir /d && for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do (for j in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do touch /d/$i.$j && chown $i:$j /d/$i.$j || echo failed $i.$j; done) & done; wait; ls -ln /d | grep -c ^-; stat -c %u:%g /d/16.25 /d/3.7"]'
  run_guise run --bundle "$b"
  assert_status 0
  assert_eq "400
16:25
3:7" "$OUT" "files and owners seen by the inner container"
  run_guise db --rootfs "$b/rootfs/inner" ls /d
  assert_status 0
  assert_eq 400 "$(printf '%s\n' "$OUT" | grep -c 'uid,gid')" "faked owners in the inner database"
  assert_not_recorded "$b/rootfs" /inner/d/16.25
}

PROC_FALLBACK='a new /proc is refused'

test_nested_plain_run_two_levels() {
  local outer inner
  outer=$(guise_rootfs)
  inner=$(fixture_rootfs busybox)
  mv "$inner" "$outer/inner"
  run_guise run --rootfs "$outer" -- guise run --rootfs /inner -- sh -c "$INNER_SCRIPT"
  assert_status 0
  assert_eq "$INNER_SEEN" "$OUT" "what the inner container sees"
  assert_contains "$ERR" "$PROC_FALLBACK" "the inner container has the outer /proc"
  assert_not_contains "$ERR" "ptrace" "no fallback to ptrace"
  assert_recorded "$outer/inner" /f "uid 1234 gid 5678"
  assert_recorded "$outer/inner" /dev0 "char 4,5"
  assert_not_recorded "$outer" /inner/f
}

# chain_rootfs LEVELS: print the path of a guise rootfs holding another at /n, and so on:
# LEVELS rootfs in all, the innermost plain busybox.  `chain_run LEVELS ARGS...` runs ARGS in it.
chain_rootfs() {
  local dir rest
  if [ "$1" -le 1 ]; then
    fixture_rootfs busybox
    return
  fi
  dir=$(guise_rootfs)
  rest=$(chain_rootfs $(($1 - 1)))
  mv "$rest" "$dir/n"
  printf '%s\n' "$dir"
}
chain_run() {
  local levels=$1 outer=$2 args=() i
  shift 2
  args=(run --rootfs "$outer" --)
  for ((i = 2; i < levels; i++)); do args+=(guise run --rootfs /n --); done
  args+=(guise run --rootfs /n -- "$@")
  run_guise "${args[@]}"
}

# Level 3's guise supervises from a container whose /proc is level 1's: the calls forwarded to
# it name processes by their ids there, not in its own pid namespace.
test_nested_plain_run_three_levels() {
  local outer
  outer=$(chain_rootfs 3)
  chain_run 3 "$outer" sh -c "$LEVEL3_SCRIPT"
  assert_level3 "$outer/n/n" "$outer/n" /n/f "$outer" /n/n/f
}

# A process's own descriptors named through /proc/PID/... with the id its /proc gives it (which,
# under the bound outer /proc, is the outer pid namespace's, not its own) are its own: the
# supervisor picks the level of the process's ids that the procfs at its /proc uses.
PROC_SELF_SCRIPT='touch /a /b /c
(p=$(cut -d" " -f4 /proc/self/stat); exec chown 1:2 /proc/$p/fd/3 3</a) || echo failed a
(p=$(cut -d" " -f4 /proc/self/stat); exec chown 3:4 /proc/$p/task/$p/fd/3 3</b) || echo failed b
(exec chown 5:6 /proc/thread-self/fd/3 3</c) || echo failed c
stat -c "%n %u:%g" /a /b /c'
PROC_SELF_SEEN='/a 1:2
/b 3:4
/c 5:6'

test_nested_proc_self_in_the_outer_proc() {
  local outer l1 levels
  outer=$(chain_rootfs 4)
  printf '%s\n' "$PROC_SELF_SCRIPT" | tee "$outer/n/s.sh" "$outer/n/n/s.sh" >"$outer/n/n/n/s.sh"
  # Levels 2, 3 and 4: the outer /proc bound in, the supervisors delegates; at level 4 the
  # level-3 supervisor, itself with level 1's /proc, serves a delegate of its own.
  for levels in 2 3 4; do
    chain_run "$levels" "$outer" sh /s.sh
    assert_status 0
    assert_eq "$PROC_SELF_SEEN" "$OUT" "owners faked through /proc/PID/fd/N at level $levels"
    assert_contains "$ERR" "$PROC_FALLBACK" "the inner container has the outer /proc"
  done
  assert_recorded "$outer/n" /b "uid 3 gid 4"
  assert_recorded "$outer/n/n" /a "uid 1 gid 2"
  assert_recorded "$outer/n/n/n" /c "uid 5 gid 6"
  # The same in a container of the host, whose /proc is its own.
  l1=$(fixture_rootfs busybox)
  run_in "$l1" "$PROC_SELF_SCRIPT"
  assert_status 0
  assert_eq "$PROC_SELF_SEEN" "$OUT" "owners faked through /proc/PID/fd/N at level 1"
}

# An outer container run as another user (-u 1000: the faked ids are not the real ones) with a
# nested guise: the uid map takes the real id, and the inner container's capabilities are set
# by its own supervisor's answers, not refused by the outer one's view of user 1000.
test_nested_plain_run_as_user() {
  local outer inner
  outer=$(guise_rootfs)
  inner=$(fixture_rootfs busybox)
  mv "$inner" "$outer/inner"
  run_guise run -u 1000 --rootfs "$outer" -- sh -c 'id -u; guise run --rootfs /inner -- sh -c "id -u; touch /f && chown 12:34 /f && stat -c %u:%g /f"'
  assert_status 0
  assert_eq "1000
0
12:34" "$OUT" "ids and owner seen at each level"
  assert_recorded "$outer/inner" /f "uid 12 gid 34"
  assert_not_recorded "$outer" /inner/f
}

run_tests
