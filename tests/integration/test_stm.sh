#!/bin/bash
# test_stm.sh -- the STM backend end to end: `nocklab --backend stm gen`
# writes the log serial gen writes (every row: number, kind, jammed event,
# mug), `--backend stm replay` replays a serial log (and serial replays the
# STM one), the jobs sample (spawns: outcomes logged by reference) under
# STM gives the serial log too, the STM rows land in the profile tables and
# :profile shows them, and an unknown backend is refused.
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rows() { sqlite3 "$1/events.sqlite" "SELECT number, kind, hex(event), source_event, source_effect, mug FROM events ORDER BY number"; }

# ---- kv: the same log both ways ------------------------------------------------------
serial_out=$("$NOCKLAB" gen kv 30000 "$work/serial" --seed 7 2>"$work/serial.err")
stm_out=$("$NOCKLAB" --backend stm gen kv 30000 "$work/stm" --seed 7 2>"$work/stm.err")
check "stm gen kv succeeds" $? "$(cat "$work/stm.err")"
[ -n "$stm_out" ] && [ "$stm_out" == "$serial_out" ]
check "stm gen ends at the serial event and mug" $? "$serial_out" "$stm_out"
[ "$(rows "$work/serial" | md5sum)" == "$(rows "$work/stm" | md5sum)" ] && [ "$(rows "$work/stm" | wc -l)" -eq 30000 ]
check "stm gen writes the log serial gen writes, row for row" $?

replay_out=$("$NOCKLAB" --backend stm replay "$work/serial" 2>"$work/replay.err")
[ "$replay_out" == "$serial_out" ] && grep -q "matches the log" "$work/replay.err"
check "stm replay of a serial log matches every mug" $? "$replay_out" "$(cat "$work/replay.err")"
replay_out=$("$NOCKLAB" replay "$work/stm" --backend serial 2>"$work/replay2.err")
[ "$replay_out" == "$serial_out" ]
check "serial replay of the stm log" $? "$replay_out" "$(cat "$work/replay2.err")"

# ---- the profile tables ----------------------------------------------------------------
committed=$(sqlite3 "$work/stm/events.sqlite" "SELECT count(*), sum(attempts) >= count(*), sum(parallel) > 0 FROM stm_events WHERE run = 1")
[ "$committed" == "30000|1|1" ]
check "one stm_events row per event, attempts counted, parallel epochs ran" $? "$committed"
batches=$(sqlite3 "$work/stm/events.sqlite" "SELECT sum(events), max(shards) FROM stm_batches WHERE run = 1")
[ "$batches" == "30000|16" ]
check "stm_batches add up to the events and saw kv's 16 shards" $? "$batches"
backend=$(sqlite3 "$work/stm/events.sqlite" "SELECT backend FROM runs WHERE id = 1")
[ "$backend" == "stm" ]
check "the run is recorded as an stm run" $? "$backend"
profile=$("$NOCKLAB" --store "$work/stm" -e ":profile 1" 2>&1)
echo "$profile" | grep -q "^  stm: 30000 events in [0-9]* batches (16 shards)" &&
    echo "$profile" | grep -q "^  stm conflicts by shard (shard:events re-run):"
check ":profile shows what the STM backend did" $? "$profile"

# ---- jobs: spawns and their outcomes under STM -----------------------------------------
# (where outcomes land among the generated events depends on when a batch
# closes, on a timer, so this log is checked by replaying it, not against
# a serial one)
jobs_out=$("$NOCKLAB" --backend stm gen jobs 60 "$work/jobs-stm" 2>"$work/jobs.err")
replay_out=$("$NOCKLAB" replay "$work/jobs-stm" 2>"$work/jobs-replay.err")
[ -n "$jobs_out" ] && [ "$replay_out" == "$jobs_out" ] &&
    [ "$(sqlite3 "$work/jobs-stm/events.sqlite" "SELECT count(*) FROM events WHERE kind = 1")" -gt 0 ]
check "stm gen jobs logs spawn outcomes by reference, and serial replay matches" $? "$jobs_out" "$replay_out" \
    "$(cat "$work/jobs.err" "$work/jobs-replay.err")"
"$NOCKLAB" gen jobs 60 "$work/jobs-serial" >/dev/null 2>&1
"$NOCKLAB" --backend stm replay "$work/jobs-serial" >/dev/null 2>"$work/jobs-replay2.err"
check "stm replay recomputes spawn outcomes of a serial log" $? "$(cat "$work/jobs-replay2.err")"

# ---- refusals ----------------------------------------------------------------------------
expect_stderr_match "an unknown backend is refused" "--backend needs one of serial, fork, threads, stm" --backend nope replay "$work/serial"
