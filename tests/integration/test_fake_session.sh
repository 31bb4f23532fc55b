#!/usr/bin/env bash
# guise fake is like fakeroot: without --db the faked state lives as long as the command (in
# memory, nothing written anywhere); -s FILE saves it when the command ends and -i FILE starts
# from it.
. "$(dirname "$0")/lib.sh"

test_session_state_lives_as_long_as_the_command() {
  touch f
  run_guise fake -- sh -c 'chown 123:456 f && mknod dev c 1 3 && stat -c "%u:%g" f && stat -c "%F %t:%T" dev'
  assert_status 0
  assert_eq "123:456
character special file 1:3" "$OUT" "faked state within the command"
  assert_eq "$(id -u):$(id -g)" "$(stat -c %u:%g f)" "owner on disk"
  # Gone after it: the caller's file is root's again, the device an empty file.
  run_guise fake -- stat -c "%u:%g %F" f dev
  assert_status 0
  assert_eq "0:0 regular empty file
0:0 regular empty file" "$OUT" "a second command's view"
  assert_eq "dev
f" "$(ls)" "files in the directory (no database left)"
}

test_save_then_load() {
  touch f
  run_guise fake -s state -- sh -c 'chown 7:8 f && mknod dev b 8 1'
  assert_status 0
  [ -f state ] || fail "-s did not save the state"
  run_guise fake -i state -- stat -c "%u:%g %F %t:%T" f dev
  assert_status 0
  assert_eq "7:8 regular empty file 0:0
0:0 block special file 8:1" "$OUT" "state loaded with -i"
  # -i and -s on the same file go on from it; -i alone leaves it as it was.
  run_guise fake -i state -s state -- chown 9 f
  assert_status 0
  run_guise fake --load state -- chown 10 f
  assert_status 0
  run_guise fake -i state -- stat -c "%u:%g" f
  assert_eq "9:8" "$OUT" "state after -i -s, then -i alone"
  # The saved file is guise's database format: guise db reads it.
  run_guise db --db state ls
  assert_status 0
  assert_contains "$OUT" "/dev" "guise db ls of a saved state"
  assert_eq "" "$(ls state.tmp.* 2>/dev/null)" "temp files left beside the saved state"
}

# fakeroot saves whatever happened: the command's status is kept, and a save that fails says so.
test_save_on_failure_and_errors() {
  touch f
  run_guise fake --save state -- sh -c 'chown 5 f; exit 3'
  assert_status 3
  run_guise fake -i state -- stat -c %u f
  assert_eq 5 "$OUT" "state saved after a failing command"
  run_guise fake -i missing -- true
  assert_status 125
  assert_contains "$ERR" "loading the faked state missing failed: No such file or directory"
  echo 'not a database at all, clearly' >garbage
  run_guise fake -i garbage -- true
  assert_status 125
  assert_contains "$ERR" "garbage"
  run_guise fake -s "$TEST_TMP/no/such/dir/state" -- sh -c 'echo ran'
  assert_status 125
  assert_eq ran "$OUT" "the command ran"
  assert_contains "$ERR" "saving the faked state to $TEST_TMP/no/such/dir/state failed"
  run_guise fake -s state --db other.db -- true
  assert_status 125
  assert_contains "$ERR" "use one or the other"
  [ ! -e other.db ] || fail "a database made despite the usage error"
}

run_tests
