#!/bin/bash
# test_snapshots.sh -- snapshots end to end through bin/nocklab:
#   - gen --snap-every writes the two jam files; replay starts from the
#     newest and ends with the line a replay from scratch (--scratch) ends
#     with
#   - a replay killed with SIGKILL part way, run again, starts from the
#     newest snapshot it left and ends with the same line
#   - a store made without snapshots takes them later (replay --snap-every)
#     and keeps the kind: --snapshot pma is refused with one line
#   - a corrupt or truncated newest file: one line naming it and why, then
#     the older one is used; the final line is the same
#   - :snap info, :snap save, :snap load [N] in a session
#   - the snapshots profile table has a row per snapshot
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- gen and replay -------------------------------------------------------------

gen_out=$("$NOCKLAB" gen kv 3000 "$work/kv" --snap-every 1000 2>"$work/gen.err")
check "gen --snap-every succeeds" $? "$(cat "$work/gen.err")"
[ -s "$work/kv/snapshot-a.jam" ] && [ -s "$work/kv/snapshot-b.jam" ] && ! ls "$work/kv"/*.tmp >/dev/null 2>&1
check "gen writes both snapshot files and leaves no temporary one" $? "$(ls -la "$work/kv")"

replay_out=$("$NOCKLAB" replay "$work/kv" 2>"$work/replay.err")
[ "$replay_out" == "$gen_out" ] && grep -q "replayed 0 events after the snapshot of event 3000" "$work/replay.err"
check "replay starts from the newest snapshot and ends with the generated line" $? "gen: $gen_out" \
    "replay: $replay_out" "$(cat "$work/replay.err")"

scratch_out=$("$NOCKLAB" replay "$work/kv" --scratch 2>"$work/scratch.err")
[ "$scratch_out" == "$gen_out" ] && grep -q "replayed 3,000 events in" "$work/scratch.err"
check "replay --scratch replays from the boot kernel to the same line" $? "$scratch_out" "$(cat "$work/scratch.err")"

from_out=$("$NOCKLAB" replay "$work/kv" --from 2500 2>"$work/from.err")
[ "$from_out" == "$gen_out" ] && grep -q "replayed 1,000 events after the snapshot of event 2000" "$work/from.err"
check "replay --from N starts from the newest snapshot before N" $? "$from_out" "$(cat "$work/from.err")"

# ---- a replay killed part way, run again ------------------------------------------

"$NOCKLAB" gen kv 60000 "$work/big" >"$work/big.out" 2>/dev/null
"$NOCKLAB" replay "$work/big" --snap-every 2000 >/dev/null 2>&1 &
replayer=$!
# wait for the replay's first snapshot (the store had none), then kill it
for _ in $(seq 1 600); do
    [ -e "$work/big/snapshot-a.jam" ] && break
    kill -0 "$replayer" 2>/dev/null || break
    sleep 0.05
done
kill -9 "$replayer" 2>/dev/null
wait "$replayer" 2>/dev/null
again_out=$("$NOCKLAB" replay "$work/big" --snap-every 2000 2>"$work/again.err")
[ "$again_out" == "$(cat "$work/big.out")" ] && grep -q "after the snapshot of event" "$work/again.err"
check "a replay killed part way starts again from its newest snapshot and ends with the same line" $? \
    "gen: $(cat "$work/big.out")" "again: $again_out" "$(cat "$work/again.err")"

# ---- a store without snapshots takes a kind, then keeps it ---------------------------

"$NOCKLAB" gen counter 50 "$work/plain" >"$work/plain.out" 2>/dev/null
plain_out=$("$NOCKLAB" replay "$work/plain" --snap-every 20 2>/dev/null)
[ "$plain_out" == "$(cat "$work/plain.out")" ] && [ -s "$work/plain/snapshot-a.jam" ] &&
    [ "$(sqlite3 "$work/plain/events.sqlite" "SELECT value FROM settings WHERE name = 'snapshot_kind'")" == jam ]
check "a store made without snapshots takes jam snapshots on replay --snap-every" $? "$plain_out"

pma_err=$("$NOCKLAB" replay "$work/plain" --snapshot pma 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [ "$(echo "$pma_err" | wc -l)" -eq 1 ] && [[ "$pma_err" == *"keeps jam snapshots and cannot take pma ones"* ]]
check "asking a jam store for pma snapshots is refused in one line" $? "status $status" "$pma_err"

new_pma_err=$("$NOCKLAB" gen kv 10 "$work/pma" --snapshot pma 2>&1 >/dev/null)
[[ "$new_pma_err" == *"pma snapshots are not available"* ]]
check "--snapshot pma says it is not available yet" $? "$new_pma_err"

# ---- bad files -----------------------------------------------------------------------

cp -r "$work/kv" "$work/flipped"
printf 'Z' | dd of="$work/flipped/snapshot-a.jam" bs=1 seek=200 conv=notrunc 2>/dev/null
newest=$(sqlite3 "$work/kv/events.sqlite" "SELECT file FROM snapshots ORDER BY event DESC LIMIT 1")
older=$([ "$newest" == snapshot-a.jam ] && echo snapshot-b.jam || echo snapshot-a.jam)
cp -r "$work/kv" "$work/corrupt"
printf 'Z' | dd of="$work/corrupt/$newest" bs=1 seek=200 conv=notrunc 2>/dev/null
corrupt_out=$("$NOCKLAB" replay "$work/corrupt" 2>"$work/corrupt.err")
[ "$corrupt_out" == "$gen_out" ] &&
    grep -q "^note: snapshot $work/corrupt/$newest skipped: corrupt: the checksum does not match its contents$" "$work/corrupt.err" &&
    grep -q "after the snapshot of event 2000" "$work/corrupt.err"
check "a corrupt newest snapshot is named, skipped, and the older one used" $? "$corrupt_out" "$(cat "$work/corrupt.err")"

cp -r "$work/kv" "$work/torn"
truncate -s 1000 "$work/torn/$newest"
torn_out=$("$NOCKLAB" replay "$work/torn" 2>"$work/torn.err")
[ "$torn_out" == "$gen_out" ] && grep -q "^note: snapshot $work/torn/$newest skipped: truncated: " "$work/torn.err"
check "a truncated newest snapshot is named, skipped, and the older one used" $? "$torn_out" "$(cat "$work/torn.err")"

cp -r "$work/kv" "$work/foreign"
echo "not a snapshot" >"$work/foreign/$older"
truncate -s 10 "$work/foreign/$newest"
foreign_out=$("$NOCKLAB" replay "$work/foreign" 2>"$work/foreign.err")
[ "$foreign_out" == "$gen_out" ] && grep -q "skipped: not a nocklab jam snapshot" "$work/foreign.err" &&
    grep -q "replayed 3,000 events in" "$work/foreign.err"
check "with both files bad, replay starts from the boot kernel" $? "$foreign_out" "$(cat "$work/foreign.err")"

# ---- in a session ----------------------------------------------------------------------

session=$("$NOCKLAB" --store "$work/kv" -e ':snap info' -e ':poke [%put 0x1.0001 2]' -e ':snap save' -e ':snap info' \
    -e ':snap load 2000' -e ':snap load' -e ':snap load 7' 2>&1)
echo "$session" | grep -q "^snapshots of $work/kv: kind jam$" &&
    echo "$session" | grep -q "snapshot-.\.jam .* bytes  event 3000  mug 0x" &&
    echo "$session" | grep -q "^saved a jam snapshot of event 3001 (mug 0x[0-9a-f]*) to $older: " &&
    echo "$session" | grep -q "^loaded the snapshot of event 3001 and replayed 0 events after it: event 3001" &&
    echo "$session" | grep -q "^error: no valid snapshot of event 2000 in $work/kv" &&
    echo "$session" | grep -q "^error: no valid snapshot of event 7 in $work/kv"
check ":snap info, save and load in a session" $? "$session"

"$NOCKLAB" --store "$work/kv" --snap-every 2 -e ':poke [%put 0x1.0003 4]' -e ':poke [%put 0x1.0005 6]' >/dev/null 2>&1
info=$("$NOCKLAB" --store "$work/kv" -e ':snap info' 2>/dev/null)
echo "$info" | grep -q "event 3003  mug"
check "--snap-every in a session snapshots after pokes" $? "$info"

rows=$(sqlite3 "$work/kv/events.sqlite" "SELECT count(*), min(event), sum(bytes > 0) FROM snapshots WHERE kind = 'jam'")
[[ "$rows" =~ ^([0-9]+)\|1000\|([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 4 ] && [ "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" ]
check "every snapshot has a row in the snapshots profile table" $? "$rows"
