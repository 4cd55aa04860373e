#!/bin/bash
# test_backends.sh -- same answers on every backend, for random workloads.
#
# Each round picks a sample (jobs: spawns with and without limits, crashing
# spawns; mix: %par maps in events, nested %par, spawns that map with
# %par; kv: plain events), a size and a seed, then:
#   - `nocklab --backend B --ordered gen` under serial, fork and threads
#     writes the same events table, row for row
#   - `nocklab --backend B replay` of that log, under every backend, ends
#     on the same `event N mug 0x...` as the generation
# and random %par maps from the REPL line (with crashing items and nested
# maps) print the same product or the same crash trace under serial,
# threads, and threads with `:set par check`.
# The seed of the run is printed so a failure can be repeated:
#   BACKENDS_SEED=1234 tests/integration/test_backends.sh
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
seed=${BACKENDS_SEED:-$RANDOM}
RANDOM=$seed
echo "test_backends: seed $seed"
backends="serial fork threads"

events_table() {
    sqlite3 "$1/events.sqlite" "select number, kind, hex(event), source_event, source_effect, mug from events order by number"
}

# ---- generated workloads ---------------------------------------------------------------

samples=(jobs mix kv mix jobs)
for round in 0 1 2; do
    sample=${samples[$((RANDOM % ${#samples[@]}))]}
    count=$((30 + RANDOM % 50))
    [ "$sample" == kv ] && count=$((count * 20))
    gen_seed=$((1 + RANDOM))
    name="round $round: $sample, $count events, seed $gen_seed"
    reference=""
    reference_out=""
    same=0
    for backend in $backends; do
        store="$work/r$round-$backend"
        out=$("$NOCKLAB" --backend "$backend" --ordered gen "$sample" "$count" "$store" --seed "$gen_seed" 2>"$work/err")
        if [ $? -ne 0 ]; then
            fail "$name: gen under $backend" "$(cat "$work/err")"
            same=1
            continue
        fi
        table=$(events_table "$store")
        if [ -z "$reference" ]; then
            reference=$table
            reference_out=$out
        elif [ "$table" != "$reference" ] || [ "$out" != "$reference_out" ]; then
            fail "$name: the $backend log differs from serial's" "serial: $reference_out" "$backend: $out" \
                "$(diff <(echo "$reference") <(echo "$table") | head -5)"
            same=1
        fi
    done
    [ $same -eq 0 ] && pass "$name: --ordered logs are identical under $backends"
    replayed=0
    for backend in $backends; do
        out=$("$NOCKLAB" --backend "$backend" replay "$work/r$round-serial" 2>"$work/err")
        if [ "$out" != "$reference_out" ]; then
            fail "$name: replay under $backend" "gen:    $reference_out" "replay: $out" "$(tail -2 "$work/err")"
            replayed=1
        fi
    done
    [ $replayed -eq 0 ] && pass "$name: replay ends on $reference_out under every backend"
done

# ---- %par from the REPL line -------------------------------------------------------------

# TURN is (turn list gate) in plain Nock on the subject [gate list]; CRASHY
# increments its sample and crashes under %mean on 99; NESTED maps CRASHY
# over [n n ~] with %par itself.
T='[6 [3 0 7] [[9 2 10 [6 0 14] 0 6] [2 [[0 2] [0 6] [0 15]] [0 2]]] [1 0]]'
TURN="[2 [[1 $T] [0 2] [0 3]] [1 $T]]"
CRASHY="[[6 [5 [1 99] 0 6] [11 [%mean 1 'bad item'] 0 0] 11 [%spot 1 %crashy] 4 0 6] 0 0]"
NESTED="[[11 [%par [1 $CRASHY] [0 6] [0 6] [1 0]] 7 [[1 $CRASHY] [0 6] [0 6] [1 0]] $TURN] 0 0]"
par_line() { # GATE LIST
    echo "*[[$1 $2] [11 [%spot 1 %outer] 11 [%par [0 1]] $TURN]]"
}
lines=()
for i in 0 1 2 3 4 5; do
    list=""
    length=$((1 + RANDOM % 12))
    for ((j = 0; j < length; j++)); do
        if [ $((RANDOM % 8)) -eq 0 ]; then list="$list 99"; else list="$list $((RANDOM % 1000))"; fi
    done
    [ $i -eq 0 ] && list="$list 99 $((RANDOM % 1000))" # one crash for sure
    gate=$CRASHY
    [ $((i % 3)) -eq 2 ] && gate=$NESTED
    lines+=("$(par_line "$gate" "[$list 0]")")
done
run_lines() { # BACKEND [SETTING]
    local arguments=(--backend "$1")
    [ -n "$2" ] && arguments+=(-e "$2")
    for line in "${lines[@]}"; do arguments+=(-e "$line"); done
    "$NOCKLAB" "${arguments[@]}" 2>&1 | grep -v '^par '
}
serial_out=$(run_lines serial)
threads_out=$(run_lines threads)
check_out=$(run_lines threads ":set par check")
if [ "$serial_out" == "$threads_out" ] && [ "$serial_out" == "$check_out" ]; then
    pass "random %par maps (crashing items, nested maps): threads gives serial's products and traces"
else
    fail "random %par maps give different results" "serial:  $serial_out" "threads: $threads_out" "check:   $check_out"
fi
# the item's %mean, then the %spot around the %par: innermost first
if grep -A1 '%mean' <<<"$threads_out" | grep -q '%spot'; then
    pass "a crashing item's trace sits inside the trace around the %par"
else
    fail "the crashing item's trace is missing or lost its outer part" "$threads_out"
fi

# ---- fork's nice level and the spawns table ----------------------------------------------

store="$work/nice"
if "$NOCKLAB" --backend fork --nice 20 gen jobs 10 "$store" >/dev/null 2>"$work/err"; then
    fail "--nice 20 is accepted" "$(cat "$work/err")"
elif grep -q -- '--nice needs a number from 0 to 19' "$work/err"; then
    pass "--nice 20 is refused with the range"
else
    fail "--nice 20 is refused without the range" "$(cat "$work/err")"
fi
out=$("$NOCKLAB" --backend fork --nice 4 gen jobs 40 "$store" --seed 3 2>"$work/err")
spawns=$(sqlite3 "$store/events.sqlite" \
    "select count(*) from spawns s join events e on e.number = s.event where e.kind = 1 and s.result in ('done', 'crash')" 2>&1)
outcomes=$(sqlite3 "$store/events.sqlite" "select count(*) from events where kind = 1" 2>&1)
if [ -n "$out" ] && [ "$spawns" -gt 0 ] 2>/dev/null && [ "$spawns" == "$outcomes" ]; then
    pass "fork --nice 4 gen: one spawns row per outcome event ($spawns)"
else
    fail "fork --nice 4 gen: spawns rows" "gen: $out" "spawns rows: $spawns, outcome events: $outcomes" "$(cat "$work/err")"
fi
profile=$("$NOCKLAB" --store "$store" -e ':profile last' 2>&1)
if grep -q "spawns: $spawns outcomes applied" <<<"$profile" && grep -q 'start (fork)' <<<"$profile"; then
    pass ":profile sums the spawns rows"
else
    fail ":profile does not show the spawns" "$profile"
fi
shown=$("$NOCKLAB" -e ':backend fork --workers 3 --nice 6' -e ':backend' 2>&1)
if grep -q 'backend fork, 3 workers, children at nice +6' <<<"$shown"; then
    pass ":backend fork --workers 3 --nice 6 is shown by :backend"
else
    fail ":backend does not show the nice level" "$shown"
fi
