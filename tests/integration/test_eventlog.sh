#!/bin/bash
# test_eventlog.sh -- kernels, the event log and replay, end to end through
# bin/nocklab:
#   - gen + replay of 100,000 kv events (3,000 in collection stress mode)
#     give the same final mug
#   - a changed byte in one event row stops replay naming that event
#   - kill -9 during a run of pokes loses no committed event, and the log
#     replays to a consistent kernel
#   - :boot/:poke/:state/:replay in a session, spawn outcomes logged by
#     reference (jobs), and exports: the trace is JSON with one span per event
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- 100,000 kv events: generated (live) and replayed --------------------------

# In collection stress mode (make check) home is collected before every
# event, so the big log is smaller there.
if [ -n "$NOCKLAB_GC_STRESS" ] && [ "$NOCKLAB_GC_STRESS" != 0 ]; then kv_events=3000; else kv_events=100000; fi
gen_out=$("$NOCKLAB" gen kv $kv_events "$work/kv" 2>"$work/gen.err")
check "gen kv $kv_events succeeds" $? "$(cat "$work/gen.err")"
[[ "$gen_out" =~ ^event\ $kv_events\ mug\ 0x[0-9a-f]+$ ]]
check "gen prints the final event and mug" $? "$gen_out"

replay_out=$("$NOCKLAB" replay "$work/kv" 2>"$work/replay.err")
check "replay of $kv_events kv events succeeds" $? "$(cat "$work/replay.err")"
[ "$replay_out" == "$gen_out" ]
check "replay reproduces the generated kernel's mug exactly" $? "gen:    $gen_out" "replay: $replay_out"

# the same seed gives the same events, so the same mug, in another store
"$NOCKLAB" gen kv 2000 "$work/kv-a" >"$work/a.out" 2>/dev/null
"$NOCKLAB" gen kv 2000 "$work/kv-b" >"$work/b.out" 2>/dev/null
"$NOCKLAB" gen kv 2000 "$work/kv-c" --seed 7 >"$work/c.out" 2>/dev/null
cmp -s "$work/a.out" "$work/b.out" && ! cmp -s "$work/a.out" "$work/c.out"
check "generators are seeded and reproducible" $? "$(cat "$work/a.out" "$work/b.out" "$work/c.out")"

rows=$(sqlite3 "$work/kv/events.sqlite" "SELECT count(*), min(number), max(number), sum(kind) FROM events" 2>&1)
[ "$rows" == "$kv_events|1|$kv_events|0" ]
check "the sqlite3 shell reads the event rows" $? "$rows"

# ---- a changed byte ------------------------------------------------------------------

cp -r "$work/kv" "$work/bad"
rm -f "$work/bad/lock"
target=$((kv_events / 2 + 321))
hex=$(sqlite3 "$work/bad/events.sqlite" "SELECT hex(event) FROM events WHERE number = $target")
# flip the low bit of the last byte
last=${hex: -2}
flipped=$(printf '%02X' $(( 0x$last ^ 1 )))
sqlite3 "$work/bad/events.sqlite" "UPDATE events SET event = X'${hex:0:${#hex}-2}$flipped' WHERE number = $target"
changed=$(sqlite3 "$work/bad/events.sqlite" "SELECT hex(event) != '$hex' FROM events WHERE number = $target")
bad_out=$("$NOCKLAB" replay "$work/bad" 2>"$work/bad.err")
bad_status=$?
[ "$changed" == "1" ] && [ $bad_status -eq 1 ] && grep -q "event $target" "$work/bad.err" && [ -z "$bad_out" ]
check "replay stops at the changed event $target, naming it" $? "status $bad_status" "$(cat "$work/bad.err")"

# a changed mug is caught by the row's checksum, at that event
cp -r "$work/kv" "$work/badmug"
rm -f "$work/badmug/lock"
sqlite3 "$work/badmug/events.sqlite" "UPDATE events SET mug = (mug | 1) - (mug & 1) WHERE number = 777"
"$NOCKLAB" replay "$work/badmug" >/dev/null 2>"$work/badmug.err"
[ $? -eq 1 ] && grep -q "event 777 fails its checksum" "$work/badmug.err"
check "replay reports a changed mug at its event" $? "$(cat "$work/badmug.err")"

# ---- kill -9 during a run of pokes ----------------------------------------------------

"$NOCKLAB" --store "$work/counter" -e ":load c samples/counter.nock" -e ":boot counter c" >/dev/null 2>&1
for i in $(seq 1 5000); do echo ":poke %inc"; done >"$work/pokes"
"$NOCKLAB" --store "$work/counter" "$work/pokes" >"$work/pokes.out" 2>&1 &
poker=$!
# wait until a good number of pokes have printed, then kill without warning
for _ in $(seq 1 100); do
    [ "$(grep -c '^event ' "$work/pokes.out" 2>/dev/null)" -ge 100 ] && break
    sleep 0.05
done
kill -9 $poker 2>/dev/null
wait $poker 2>/dev/null
printed=$(grep -o '^event [0-9]*' "$work/pokes.out" | tail -1 | cut -d' ' -f2)
logged=$(sqlite3 "$work/counter/events.sqlite" "SELECT max(number) FROM events")
[ -n "$printed" ] && [ "$printed" -ge 50 ] && [ "$printed" -lt 5000 ] && [ "$logged" -ge "$printed" ]
check "kill -9 loses no event whose poke printed" $? "last printed $printed, last logged $logged"

# every printed event n said [%out n]: the counter counted exactly the logged events
bad_lines=$(grep '^event ' "$work/pokes.out" | awk '{ n = $2; sub(":", "", n); if ($0 != "event " n ": [%out " n "]") print }' | head -3)
[ -z "$bad_lines" ]
check "each printed poke shows its own count" $? "$bad_lines"

after=$("$NOCKLAB" replay "$work/counter" 2>"$work/counter.err")
[ $? -eq 0 ] && [ "$after" == "$(echo "$after" | grep "^event $logged mug 0x")" ]
check "replay after kill -9 is consistent" $? "$after" "$(cat "$work/counter.err")"

state=$("$NOCKLAB" --store "$work/counter" -e ":state" -e ":poke %inc" 2>&1)
next=$((logged + 1))
echo "$state" | grep -q "event $logged," && echo "$state" | grep -q "^event $next: \[%out $next\]"
check "the store reopens at the last committed event and goes on" $? "$state"

# ---- a session: boot, poke, refusals, spawns, replay, exports -------------------------

session=$("$NOCKLAB" --store "$work/jobs" \
    -e ":load jobs samples/jobs.nock" -e ":boot jobs jobs" \
    -e ":poke [%fib 1 12 0]" -e ":poke [%boom 2]" -e ":poke [%fib 3 10 [60000 64]]" \
    -e ":poke [%bogus 4]" -e ":state" -e ":replay" -e ":export last $work/jobs.json" \
    -e ":export last $work/jobs.csv" -e ":runs" -e ":profile last" 2>"$work/session.err")
session_status=$?
echo "$session" | grep -q "^event 2 (outcome of effect 0 of event 1): \[%out %done 1 144\]"
check "a spawn's outcome comes back as the next event" $? "$session"
echo "$session" | grep -q "^event 4 (outcome of effect 0 of event 3): \[%out %crash 2 " &&
    grep -q "%mean 'jobs: unknown event'" "$work/session.err" && [ $session_status -eq 1 ]
check "crashing spawns and refused events" $? "$session" "$(cat "$work/session.err")"
refs=$(sqlite3 "$work/jobs/events.sqlite" "SELECT number, kind, source_event, source_effect, event IS NULL FROM events WHERE kind = 1")
[ "$refs" == "$(printf '2|1|1|0|1\n4|1|3|0|1\n6|1|5|0|1')" ]
check "outcomes are logged as effect K of event N, not as products" $? "$refs"
echo "$session" | grep -q "event 6 mug 0x[0-9a-f]* matches the log"
check ":replay recomputes the spawns and matches" $? "$session"

python3 - "$work/jobs.json" <<'EOF'
import json, sys
trace = json.load(open(sys.argv[1]))
events = [e for e in trace["traceEvents"] if e.get("cat") == "event"]
bouts = [e for e in trace["traceEvents"] if e.get("cat") == "bout"]
assert [e["name"] for e in events] == ["event %d" % n for n in range(1, 7)], events
assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)
# every %bout span sits inside its event's span
for b in bouts:
    parent = [e for e in events if e["args"]["event"] == b["args"]["event"]][0]
    assert parent["ts"] <= b["ts"] and b["ts"] + b["dur"] <= parent["ts"] + parent["dur"] + 0.002, (b, parent)
assert len(bouts) == 2, bouts
EOF
check "the exported trace is JSON with one span per event, %bout nested" $?
[ "$(wc -l <"$work/jobs.csv")" -eq 7 ] && head -1 "$work/jobs.csv" | grep -q '^event,start_ns,wall_ns,cpu_ns,steps'
check "the CSV export has a header and one line per event" $? "$(cat "$work/jobs.csv")"

# the big replay run exports too
"$NOCKLAB" --store "$work/kv" -e ":export 2 $work/kv.json" >/dev/null 2>&1
python3 -c "
import json, sys
t = json.load(open(sys.argv[1]))
assert sum(1 for e in t['traceEvents'] if e.get('cat') == 'event') == $kv_events" "$work/kv.json"
check "a $kv_events-event trace is valid JSON with $kv_events spans" $?

# ---- errors ------------------------------------------------------------------------------

expect_status "gen into a store that has a kernel fails" 1 gen kv 10 "$work/kv"
expect_status "gen with a bad count is a usage error" 2 gen kv many "$work/x"
expect_status "gen of an unknown sample is a usage error" 2 gen nothing 10 "$work/x"
expect_stderr_match "replay of a missing store says so" "no store at" replay "$work/none"
expect_stderr_match ":poke with no store says how to make one" "no store at .*:boot" --store "$work/none" -e ":poke 1"
{ echo ":state"; sleep 3; } | "$NOCKLAB" --store "$work/kv-a" >/dev/null 2>&1 &
holder=$!
sleep 0.5
expect_stderr_match "a second process can't open a busy store" "in use" --store "$work/kv-a" -e ":state"
kill $holder 2>/dev/null
# the holder dies of the TERM we sent it: that status is not the script's
wait $holder 2>/dev/null || true
exit 0
