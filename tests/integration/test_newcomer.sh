#!/bin/bash
# test_newcomer.sh -- what a new user tripped over (issue 11), end to end in
# batch mode: read-only store commands that must not rebuild the kernel,
# directories that are not stores, gen's messages, an interrupted spawn,
# whole-line parsing, files read like the REPL, -i and the init file, :time
# on any line, the one printer for traces and effects, elision counts,
# :event, memory reservations under `ulimit -v`, and an installed nocklab.
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
background=
cleanup() { [[ -n "$background" ]] && kill "$background" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
case "$NOCKLAB" in /*) program=$NOCKLAB ;; *) program=$PWD/$NOCKLAB ;; esac

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for line in "$@"; do echo "  ${line:0:600}"; done; }
# check NAME STATUS [DETAIL...]: PASS when STATUS is 0.
check() { local name=$1 status=$2; shift 2; if [ "$status" -eq 0 ]; then pass "$name"; else fail "$name" "$@"; fi; }
# run ARGS...: nocklab with a private config directory; sets $out $err $status.
run() {
    out=$(XDG_CONFIG_HOME="$work/config" "$program" "$@" 2>"$work/stderr")
    status=$?
    err=$(cat "$work/stderr")
}
# wait_for_file_line FILE REGEX: until a line of FILE matches (at most 60 s).
wait_for_file_line() {
    local i
    for ((i = 0; i < 3000; i++)); do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}

# ---- stores --------------------------------------------------------------------

"$program" gen kv 300 "$work/kv" >/dev/null 2>&1
run --store "$work/kv" -e ':runs' -e ':profile last' -e ':export last '"$work/trace.json" -e ':runs'
runs_rows=$(grep -c '^ *[0-9]\+  ' <<<"$out")
# Each :runs shows the one gen run: nothing was rebuilt in between.
[[ $runs_rows -eq 2 && $status -eq 0 && -s "$work/trace.json" ]] && ! grep -q rebuild <<<"$out" &&
    pass read-only-commands-add-no-run || fail read-only-commands-add-no-run "$out" "$err"
run --store "$work/kv" -e ':state' -e ':runs'
grep -Eq '^ +[0-9]+  rebuild ' <<<"$out" && pass opening-with-replay-adds-a-rebuild-run ||
    fail opening-with-replay-adds-a-rebuild-run "$out" "$err"

mkdir "$work/empty" "$work/foreign"
echo keep > "$work/foreign/notes.txt"
run --store "$work/empty" -e ':runs'
[[ "$err" == *"is not a nocklab store"* && "$err" != *SQL* ]] && pass empty-directory-is-not-a-store ||
    fail empty-directory-is-not-a-store "$err"
run gen kv 5 "$work/foreign"
[[ $status -ne 0 && "$err" == *"holds other files"* && ! -e "$work/foreign/events.sqlite" ]] &&
    pass gen-leaves-foreign-directory-alone || fail gen-leaves-foreign-directory-alone "$err" "$(ls "$work/foreign")"
run --store "$work/foreign" -e ':load c samples/counter.nock' -e ':boot c c'
[[ $status -ne 0 && ! -e "$work/foreign/events.sqlite" && $(ls "$work/foreign") == notes.txt ]] &&
    pass boot-leaves-foreign-directory-alone || fail boot-leaves-foreign-directory-alone "$err" "$(ls "$work/foreign")"
run gen kv 5 "$work/kv"
[[ $status -ne 0 && "$err" != *--store* && "$err" == *"already holds a kernel"* ]] && pass gen-error-text ||
    fail gen-error-text "$err"

# A spawn interrupted while it runs: its event stays committed and the
# message says so (it is not "event refused").
"$program" --store "$work/jobs" -e ':load jobs samples/jobs.nock' -e ':boot jobs jobs' >/dev/null 2>&1
"$program" --store "$work/jobs" -e ':poke [%fib 7 60 0]' -e ':state' >"$work/spawn.out" 2>"$work/spawn.err" &
background=$!
if wait_for_file_line "$work/spawn.out" '^event 1: \[%spawn'; then
    kill -INT "$background"
    wait "$background"
    background=
    spawn_err=$(cat "$work/spawn.err")
    [[ "$spawn_err" == *"event 1 stands"*"interrupted"* && "$spawn_err" != *refused* ]] &&
        grep -q 'event 1, mug' "$work/spawn.out" && pass interrupted-spawn-message ||
        fail interrupted-spawn-message "$spawn_err" "$(cat "$work/spawn.out")"
else
    fail interrupted-spawn-message "the spawn's event never showed" "$(cat "$work/spawn.err")"
fi
