#!/bin/bash
# test_snapshots.sh -- snapshots end to end through bin/nocklab:
#   - gen --snap-every writes the two jam files; replay starts from the
#     newest and ends with the line a replay from scratch (--scratch) ends
#     with
#   - a replay killed with SIGKILL part way, run again, starts from the
#     newest snapshot it left and ends with the same line
#   - a store made without snapshots takes them later (replay --snap-every)
#     and keeps the kind: --snapshot pma is refused with one line
#   - a pma store: gen and replay through home.pma, a corrupt newest slot
#     falls back to the older, a truncated file to the boot kernel, a
#     killed replay restarts from its newest snapshot, :snap in a session
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

# ---- the PMA -----------------------------------------------------------------------------

pma_gen=$("$NOCKLAB" gen kv 3000 "$work/pma" --snapshot pma --snap-every 1000 2>"$work/pma.err")
[ "$pma_gen" == "$gen_out" ] && [ -s "$work/pma/home.pma" ] && ! ls "$work/pma"/snapshot-* >/dev/null 2>&1 &&
    [ "$(sqlite3 "$work/pma/events.sqlite" "SELECT value FROM settings WHERE name = 'snapshot_kind'")" == pma ]
check "gen --snapshot pma keeps home in home.pma and ends with the same line" $? "$pma_gen" "$(cat "$work/pma.err")"

pma_replay=$("$NOCKLAB" replay "$work/pma" 2>"$work/pma-replay.err")
[ "$pma_replay" == "$gen_out" ] && grep -q "replayed 0 events after the snapshot of event 3000" "$work/pma-replay.err"
check "replay maps the PMA's newest snapshot and ends with the same line" $? "$pma_replay" "$(cat "$work/pma-replay.err")"

jam_err=$("$NOCKLAB" replay "$work/pma" --snapshot jam 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [[ "$jam_err" == *"keeps pma snapshots and cannot take jam ones"* ]]
check "asking a pma store for jam snapshots is refused" $? "status $status" "$jam_err"

# slots A, B, A hold events 1000, 2000, 3000: flip a byte of A's sequence
cp -r "$work/pma" "$work/pma-flipped"
printf 'Z' | dd of="$work/pma-flipped/home.pma" bs=1 seek=20 conv=notrunc 2>/dev/null
flipped_out=$("$NOCKLAB" replay "$work/pma-flipped" 2>"$work/pma-flipped.err")
[ "$flipped_out" == "$gen_out" ] &&
    grep -q "^note: PMA $work/pma-flipped/home.pma: metadata slot A skipped: its checksum does not match" \
        "$work/pma-flipped.err" &&
    grep -q "replayed 1,000 events after the snapshot of event 2000" "$work/pma-flipped.err"
check "a PMA whose newest slot is corrupt is named, and its older snapshot used" $? "$flipped_out" \
    "$(cat "$work/pma-flipped.err")"

cp -r "$work/pma" "$work/pma-cut"
truncate -s 100000 "$work/pma-cut/home.pma"
cut_out=$("$NOCKLAB" replay "$work/pma-cut" 2>"$work/pma-cut.err")
[ "$cut_out" == "$gen_out" ] && grep -q "metadata slot A skipped: .*truncated" "$work/pma-cut.err" &&
    grep -q "replayed 3,000 events in" "$work/pma-cut.err"
check "a truncated PMA is named and the log replayed from the boot kernel" $? "$cut_out" "$(cat "$work/pma-cut.err")"

"$NOCKLAB" gen kv 60000 "$work/pma-big" >"$work/pma-big.out" 2>/dev/null
"$NOCKLAB" replay "$work/pma-big" --snapshot pma --snap-every 2000 >/dev/null 2>&1 &
replayer=$!
# home.pma starts as its two empty slots (8 KiB): wait for a snapshot
for _ in $(seq 1 600); do
    [ "$(stat -c %s "$work/pma-big/home.pma" 2>/dev/null || echo 0)" -gt 8192 ] && break
    kill -0 "$replayer" 2>/dev/null || break
    sleep 0.05
done
kill -9 "$replayer" 2>/dev/null
wait "$replayer" 2>/dev/null
pma_again=$("$NOCKLAB" replay "$work/pma-big" --snap-every 2000 2>"$work/pma-again.err")
[ "$pma_again" == "$(cat "$work/pma-big.out")" ] && grep -q "after the snapshot of event" "$work/pma-again.err"
check "a pma replay killed part way starts again from its newest snapshot and ends with the same line" $? \
    "gen: $(cat "$work/pma-big.out")" "again: $pma_again" "$(cat "$work/pma-again.err")"

pma_session=$("$NOCKLAB" --store "$work/pma" -e ':poke [%put 0x1.0001 2]' -e ':snap save' -e ':snap info' \
    -e ':snap load 3000' -e ':snap load 7' -e ':snap load' 2>&1)
echo "$pma_session" | grep -q "^saved a pma snapshot of event 3001 (mug 0x[0-9a-f]*) to home.pma slot B: " &&
    echo "$pma_session" | grep -q "^snapshots of $work/pma: kind pma$" &&
    echo "$pma_session" | grep -q "home.pma slot A .* event 3000  mug 0x" &&
    echo "$pma_session" | grep -q "home.pma slot B .* event 3001  mug 0x" &&
    echo "$pma_session" | grep -q "^  pma at 0x200000000000: file .* bytes; pages .* in use, .* free; directory depth [0-9]" &&
    echo "$pma_session" | grep -q "^  last snapshot this session: [0-9,]* dirty pages, [0-9,]* bytes written, fsync" &&
    echo "$pma_session" | grep -q "^error: the PMA in $work/pma keeps its newest snapshot (event 3001) mapped as home; its older one cannot be loaded" &&
    echo "$pma_session" | grep -q "^error: no snapshot of event 7 in $work/pma: a PMA keeps only its newest two" &&
    echo "$pma_session" | grep -q "^loaded the snapshot of event 3001 and replayed 0 events after it: event 3001"
check ":snap save, info and load on a pma store" $? "$pma_session"

pma_rows=$(sqlite3 "$work/pma/events.sqlite" "SELECT count(*), sum(pages_written > 0), min(file) FROM snapshots WHERE kind = 'pma'")
[[ "$pma_rows" =~ ^([0-9]+)\|([0-9]+)\|home.pma\ slot\ [AB]$ ]] && [ "${BASH_REMATCH[1]}" -ge 4 ] &&
    [ "${BASH_REMATCH[1]}" == "${BASH_REMATCH[2]}" ]
check "every pma snapshot has a row with its pages in the snapshots table" $? "$pma_rows"

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
