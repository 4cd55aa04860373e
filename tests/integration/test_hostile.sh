#!/bin/bash
# test_hostile.sh -- files, stores and arguments under bad input, through
# bin/nocklab:
#   - :save and :export on a full disk fail and leave the old file whole
#     (a small tmpfs when mount works here, else RLIMIT_FSIZE)
#   - :load refuses FIFOs and devices, stops at :set load-limit, can be
#     interrupted while standard input is silent, and refuses text cut
#     mid-noun; `nocklab DIR` is an error
#   - a store proves its log is whole: rows deleted from the end, a -wal file
#     deleted after a kill, stray rows, a mug stored as text, a corrupt
#     page and a foreign database are each named, never replayed as whole
#   - a store on a read-only file system replays and lists its runs, with a
#     note, and refuses writes
#   - numbers out of range are usage errors
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
mounted=()
cleanup() {
    for point in "${mounted[@]}"; do umount "$point" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

# A small tmpfs at $1 (size $2) when this machine lets us mount one.
try_mount() {
    mkdir -p "$1"
    if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o "size=$2" tmpfs "$1" 2>/dev/null; then
        mounted+=("$1")
        return 0
    fi
    return 1
}

# ---- the disk fills up -------------------------------------------------------------

# A value whose jam is about 300 KB: an atom of 300,000 random bytes.
printf '0x%s\n' "$(head -c 300000 /dev/urandom | od -An -v -t x1 | tr -d ' \n' | sed 's/^0*//')" >"$work/big.noun"
disk="$work/disk"
if try_mount "$disk" 256k; then
    limit() { "$@"; }
    fill() { head -c 1000000 /dev/zero >"$disk/filler" 2>/dev/null; }
    how="a 256 KiB tmpfs"
else
    # no mount here: a file size limit makes writes past 200 KiB fail alike
    mkdir -p "$disk"
    limit() { (trap '' XFSZ; ulimit -f 200; "$@"); }
    fill() { :; }
    how="RLIMIT_FSIZE"
fi
"$NOCKLAB" -e '=small [1 2 3]' -e ":save small $disk/value.jam" -e ":save small $disk/value.noun" >/dev/null 2>&1
cp "$disk/value.jam" "$work/value.jam.before"
cp "$disk/value.noun" "$work/value.noun.before"
err=$(limit "$NOCKLAB" -e ":load big $work/big.noun" -e ":save big $disk/value.jam" 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [[ "$err" == *"the file there is as it was"* ]] && cmp -s "$disk/value.jam" "$work/value.jam.before"
check "full disk ($how): :save fails and the old jam file is whole" $? "exit $status: $err"
err=$(limit "$NOCKLAB" -e ":load big $work/big.noun" -e ":save big $disk/value.noun" 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && cmp -s "$disk/value.noun" "$work/value.noun.before"
check "full disk: :save of text fails and the old .noun file is whole" $? "exit $status: $err"

# :export over an older export, with the disk full
"$NOCKLAB" gen counter 3000 "$work/runs" >/dev/null 2>&1
echo "an older export" >"$disk/old.csv"
fill
err=$(limit "$NOCKLAB" --store "$work/runs" -e ":export last $disk/old.json" -e ":export last $disk/old.csv" 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [ "$(cat "$disk/old.csv")" == "an older export" ] && [ ! -e "$disk/old.json" ]
check "full disk: :export fails, leaving the old export whole and no half-written one" $? "exit $status: $err"
rm -f "$disk/filler"
leftovers=$(ls -A "$disk" | grep -c '\.tmp-')
[ "$leftovers" -eq 0 ]
check "full disk: no temporary file is left behind" $? "$(ls -A "$disk")"

# ---- :load -------------------------------------------------------------------------

mkfifo "$work/fifo"
err=$(timeout 10 "$NOCKLAB" -e ":load x $work/fifo" 2>&1)
status=$?
[ $status -eq 1 ] && [[ "$err" == *"is a FIFO"* ]]
check ":load of a FIFO with no writer is refused at once" $? "exit $status: $err"
err=$(timeout 10 "$NOCKLAB" -e ":load x /dev/zero" 2>&1)
status=$?
[ $status -eq 1 ] && [[ "$err" == *"/dev/zero is a character device"* ]]
check ":load of /dev/zero is refused at once" $? "exit $status: $err"
"$NOCKLAB" -e '=v [1 2]' -e ":save v $work/v.jam" >/dev/null 2>&1
out=$("$NOCKLAB" -e ':load x -' -e '/[3 x]' <"$work/v.jam" 2>&1)
[[ "$out" == *$'\n2' ]]
check ":load NAME - reads standard input" $? "$out"
head -c 3000000 /dev/urandom >"$work/three-mib.jam"
err=$("$NOCKLAB" -e ':set load-limit 2' -e ":load x $work/three-mib.jam" 2>&1 >/dev/null)
[[ "$err" == *"bigger than the load limit of 2 MiB"* ]]
check ":load stops at :set load-limit" $? "$err"
out=$("$NOCKLAB" -e ':set load-limit' 2>&1)
[[ "$out" =~ load-limit\ +[0-9]+ ]]
check ":set load-limit shows its default" $? "$out"

# interrupted while standard input says nothing
mkfifo "$work/silent"
sleep 300 >"$work/silent" &
writer=$!
"$NOCKLAB" -e ':load x -' <"$work/silent" >"$work/load.out" 2>"$work/load.err" &
loader=$!
for _ in $(seq 1 200); do
    grep -q poll "/proc/$loader/wchan" 2>/dev/null && break
    sleep 0.05
done
kill -INT "$loader"
for _ in $(seq 1 200); do kill -0 "$loader" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$loader" 2>/dev/null; then kill -9 "$loader"; fi
wait "$loader"
status=$?
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
[ $status -eq 1 ] && grep -q "interrupted" "$work/load.err"
check ":load - stops at Ctrl-C while nothing comes" $? "exit $status: $(cat "$work/load.err")"

printf '[1 2 3]\n' >"$work/whole.noun"
printf '[1 2 3] 12' | head -c 8 >"$work/cut.noun"
printf '123' >"$work/atom.noun"
out=$("$NOCKLAB" -e ":load a $work/whole.noun" 2>&1)
err=$("$NOCKLAB" -e ":load a $work/atom.noun" 2>&1)
status=$?
[[ "$out" == a:* ]] && [ $status -eq 1 ] && [[ "$err" == *"ends mid-noun"* ]]
check "a .noun file that ends mid-noun is an error" $? "$out" "exit $status: $err"

err=$("$NOCKLAB" "$work" 2>&1)
status=$?
[ $status -eq 1 ] && [[ "$err" == *"is a directory"* ]]
check "nocklab DIR says it is a directory and exits 1" $? "exit $status: $err"

# ---- the log proves it is whole ------------------------------------------------------

"$NOCKLAB" gen kv 3000 "$work/kv" >"$work/kv.out" 2>/dev/null
fresh() { rm -rf "$work/$1"; cp -r "$work/kv" "$work/$1"; rm -f "$work/$1/lock"; }

fresh cut
sqlite3 "$work/cut/events.sqlite" "DELETE FROM events WHERE number > 2990"
err=$("$NOCKLAB" replay "$work/cut" 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [[ "$err" == *"lost committed events"* && "$err" == *"event 2991 is the first missing"* ]]
check "replay of a log with its last rows deleted names the first missing event" $? "exit $status: $err"

fresh stray
sqlite3 "$work/stray/events.sqlite" "INSERT INTO events (number, kind, event, mug, checksum) VALUES (-5, 0, X'01', 0, 0)"
err=$("$NOCKLAB" replay "$work/stray" 2>&1 >/dev/null)
status=$?
[ $status -eq 1 ] && [[ "$err" == *"stray row numbered -5"* ]]
check "a stray row numbered -5 is named and fails the replay" $? "exit $status: $err"

fresh textmug
sqlite3 "$work/textmug/events.sqlite" "UPDATE events SET mug = printf('0x%x', mug) WHERE number = 17"
err=$("$NOCKLAB" replay "$work/textmug" 2>&1 >/dev/null)
[[ "$err" == *"event 17: its mug column holds text, not an integer"* ]]
check "a mug stored as text is named as a column of the wrong type" $? "$err"

fresh corrupt
size=$(stat -c %s "$work/corrupt/events.sqlite")
for offset in $(seq 8192 4096 $((size - 1))); do
    printf 'garbage garbage garbage!' | dd of="$work/corrupt/events.sqlite" bs=1 seek="$offset" conv=notrunc 2>/dev/null
done
err=$("$NOCKLAB" --store "$work/corrupt" -e ':state' 2>&1 >/dev/null)
[[ "$err" == *"store $work/corrupt is damaged"* && "$err" != *":boot"* ]]
check "a corrupt database is reported as corruption of the store, suggesting no writing command" $? "$err"

sqlite3 "$work/foreign.sqlite" "CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine')"
mkdir -p "$work/foreign"
cp "$work/foreign.sqlite" "$work/foreign/events.sqlite"
err=$("$NOCKLAB" gen kv 10 "$work/foreign" 2>&1 >/dev/null)
status=$?
tables=$(sqlite3 "$work/foreign/events.sqlite" "SELECT group_concat(name) FROM sqlite_master")
[ $status -eq 1 ] && [[ "$err" == *"not a nocklab store"*"tables: notes"* ]] && [ "$tables" == "notes" ]
check "gen into a database that is not a nocklab store is refused, adding nothing" $? "exit $status: $err" "$tables"

# kill -9 during a long gen, then delete the -wal file: events committed
# in it are gone, and replay must say so whenever events.head knew of them
"$NOCKLAB" gen kv 10000000 "$work/killed" >/dev/null 2>&1 &
generator=$!
for _ in $(seq 1 400); do
    [ -s "$work/killed/events.sqlite-wal" ] && [ "$(stat -c %s "$work/killed/events.head" 2>/dev/null)" == 64 ] && break
    sleep 0.05
done
sleep 0.3
kill -9 "$generator"
wait "$generator" 2>/dev/null
rm -f "$work/killed/events.sqlite-wal" "$work/killed/events.sqlite-shm" "$work/killed/lock"
head_event() { # the larger event number of events.head's two slots
    local a b
    a=$(od -An -t u8 -j 8 -N 8 "$1" | tr -d ' ')
    b=$(od -An -t u8 -j 40 -N 8 "$1" | tr -d ' ')
    echo $((a > b ? a : b))
}
committed=$(head_event "$work/killed/events.head")
kept=$(sqlite3 "$work/killed/events.sqlite" "SELECT coalesce(max(number), 0) FROM events" 2>/dev/null || echo 0)
err=$("$NOCKLAB" replay "$work/killed" 2>&1 >/dev/null)
status=$?
if [ "${kept:-0}" -lt "$committed" ]; then
    [ $status -eq 1 ] && [[ "$err" == *"event $((kept + 1)) is the first missing"* || "$err" == *"lost its log"* ]]
else
    [ $status -eq 0 ]
fi
check "a deleted -wal file never replays as a whole log (head $committed, rows $kept)" $? "exit $status: $err"

# ---- a read-only store --------------------------------------------------------------------

if try_mount "$work/ro" 8m; then
    cp -r "$work/kv" "$work/ro/kv"
    rm -f "$work/ro/kv/lock"
    # a store whose profile table predates a column this nocklab reads
    cp -r "$work/kv" "$work/ro/old"
    rm -f "$work/ro/old/lock"
    sqlite3 "$work/ro/old/events.sqlite" "ALTER TABLE profile DROP COLUMN commit_wait_ns"
    old_sum=$(cksum <"$work/ro/old/events.sqlite")
    mount -o remount,ro "$work/ro"
    out=$("$NOCKLAB" replay "$work/ro/kv" 2>"$work/ro.err")
    status=$?
    [ $status -eq 0 ] && [ "$out" == "$(cat "$work/kv.out")" ] && grep -q "read-only" "$work/ro.err"
    check "a store on a read-only file system replays, with a note" $? "exit $status: $out $(cat "$work/ro.err")"
    out=$("$NOCKLAB" --store "$work/ro/kv" -e ':runs' -e ':profile' -e ":export last $work/ro-export.csv" 2>&1)
    status=$?
    [ $status -eq 0 ] && [[ "$out" == *"nothing will be saved"* && "$out" == *"gen"* ]] && [ -s "$work/ro-export.csv" ]
    check ":runs, :profile and :export read a read-only store" $? "exit $status: $out"
    err=$("$NOCKLAB" --store "$work/ro/kv" -e ':poke [%put 1 2]' 2>&1 >/dev/null)
    [[ "$err" == *"read-only"* ]]
    check ":poke into a read-only store is refused, saying why" $? "$err"
    out=$("$NOCKLAB" --store "$work/ro/old" -e ':profile' 2>&1)
    status=$?
    [ $status -ne 0 ] && [[ "$out" == *"older nocklab"*"commit_wait_ns"* ]] &&
        [ "$(cksum <"$work/ro/old/events.sqlite")" == "$old_sum" ]
    check "a read-only store from an older nocklab is not altered, and :profile says why it can't read it" $? \
        "exit $status: $out"
else
    pass "read-only store checks skipped: no mount here"
fi

# ---- numbers out of range --------------------------------------------------------------

expect_status "gen with N past 2^64 is a usage error" 2 gen kv 99999999999999999999999 "$work/never"
expect_status "gen with N past 2^63-1 is a usage error" 2 gen kv 9223372036854775808 "$work/never"
expect_status "gen with a seed past 2^64 is a usage error" 2 gen kv 10 "$work/never" --seed 18446744073709551616
expect_status "replay --from past 2^64 is a usage error" 2 replay "$work/kv" --from 99999999999999999999999
[ ! -e "$work/never" ]
check "nothing was made by a refused gen" $?

# ---- limits before the machine's memory --------------------------------------------------

# Text nested deeply costs about 35 times its size to parse (docs/memory.md):
# the default load limit keeps that within a quarter of the machine.
limit_mib=$("$NOCKLAB" -e ':set load-limit' 2>&1 | awk '{print $2}')
memory_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
[ -n "$limit_mib" ] && [ $((limit_mib * 1024 * 35)) -le $((memory_kib / 4)) -o "$limit_mib" -eq 16 ]
check "the default load limit ($limit_mib MiB) parses within a quarter of memory" $? "MemTotal $memory_kib KiB"
