#!/bin/bash
# test_collections.sh -- nouns held across collections (issue 8), end to end
# through bin/nocklab:
#   - the fibonacci formula typed inline, run by Nock 2 from the subject,
#     and bound first, gives the right numbers however often scratch is
#     collected under it
#   - :poke as the first command on a store whose replay collects home
#   - gen, replay, spawns (jobs) and the REPL's bindings in collection
#     stress mode (NOCKLAB_GC_STRESS=1: scratch collected at every safe
#     point, home before every event and after every line) give exactly
#     what they give without it
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

check() {
    local name=$1 status=$2; shift 2
    if [ "$status" -eq 0 ]; then echo "PASS $name"; else echo "FAIL $name"; for line in "$@"; do echo "  ${line:0:400}"; done; fi
}
stress() { NOCKLAB_GC_STRESS=1 "$NOCKLAB" "$@"; }

fib=$(cat "$SHARED/bench/fib.formula")

# ---- formulas from scratch ---------------------------------------------------------

expect_output "fib 21 typed inline" "10946" -e "*[21 $fib]"
expect_output "fib 22 typed inline" "17711" -e "*[22 $fib]"
expect_output "fib 25 typed inline" "75025" -e "*[25 $fib]"
expect_output "fib 25 bound first" "75025" -e "=f $fib" -e "*[25 f]"
expect_output "fib 25 run by Nock 2 from the subject" "75025" -e "*[[25 $fib] [2 [0 2] [0 3]]]"
out=$(stress -e "*[18 $fib]" -e "*[[17 $fib] [2 [0 2] [0 3]]]" 2>&1)
check "stress: fib typed inline and by Nock 2" $? "$out"
[ "$out" == $'2584\n1597' ]
check "stress: fib typed inline and by Nock 2 give 2584 and 1597" $? "$out"

# the REPL's bindings survive a home collection after every line
out=$(stress -e "=f $fib" -e "=p [1 2 [3 4] 0x1.0000.0000.0000.0000]" -e "=q [p p]" -e "*[16 f]" -e "q" -e "*[17 f]" 2>&1)
[ "$out" == $'987\n[[1 2 [3 4] 18446744073709551616] 1 2 [3 4] 18446744073709551616]\n1597' ]
check "stress: bindings kept across home collections after every line" $? "$out"

# ---- stores: poke, gen, replay, spawns -------------------------------------------------

# Opening a store replays its log, and home is collected on the way; the
# event :poke evaluated before that must still be the event it applies.
"$NOCKLAB" gen kv 20000 "$work/kv" >"$work/kv.gen" 2>"$work/kv.err"
check "gen kv 20000" $? "$(cat "$work/kv.err")"
out=$("$NOCKLAB" --store "$work/kv" -e ':poke [%get 0x1.0005]' 2>&1)
[ "$out" == "event 20001: [%out 65541 0]" ]
check ":poke as the first command on a 20,000-event store prints its effect" $? "$out"

# the same, small, with home collected before every event
"$NOCKLAB" gen kv 400 "$work/kv-plain" >"$work/plain.out" 2>/dev/null
stress gen kv 400 "$work/kv-stress" >"$work/stress.out" 2>"$work/stress.err"
check "stress: gen kv 400" $? "$(cat "$work/stress.err")"
cmp -s "$work/plain.out" "$work/stress.out"
check "stress: gen kv gives the mug it gives without stress" $? "$(cat "$work/plain.out" "$work/stress.out")"
out=$(stress replay "$work/kv-plain" 2>"$work/replay.err")
[ "$out" == "$(cat "$work/plain.out")" ]
check "stress: replay of kv reproduces the mug" $? "$out" "$(cat "$work/replay.err")"
out=$(stress --store "$work/kv-stress" -e ':poke [%get 0x1.0005]' -e ':state' 2>&1)
[[ "$out" == "event 401: [%out 65541 "* ]] && [[ "$out" == *"event 401"* ]]
check "stress: :poke as the first command prints its effect" $? "$out"

# spawns: their outcomes come back as events while effects are held
"$NOCKLAB" gen jobs 40 "$work/jobs-plain" >"$work/jobs-plain.out" 2>/dev/null
stress gen jobs 40 "$work/jobs-stress" >"$work/jobs-stress.out" 2>"$work/jobs.err"
check "stress: gen jobs 40 (spawns)" $? "$(cat "$work/jobs.err")"
cmp -s "$work/jobs-plain.out" "$work/jobs-stress.out"
check "stress: gen jobs gives the mug it gives without stress" $? "$(cat "$work/jobs-plain.out" "$work/jobs-stress.out")"
out=$(stress replay "$work/jobs-plain" 2>"$work/jobs-replay.err")
[ "$out" == "$(cat "$work/jobs-plain.out")" ]
check "stress: replay of jobs recomputes the spawns and reproduces the mug" $? "$out" "$(cat "$work/jobs-replay.err")"
out=$(stress --store "$work/jobs-stress" -e ':poke [%fib 1.000 12 0]' -e ':poke [%fib 1.001 11 [60000 64]]' 2>&1)
grep -q "outcome of effect 0 of event .*1000 144\]" <<<"$out" && grep -q "outcome of effect 0 of event .*1001 89\]" <<<"$out"
check "stress: pokes whose spawns finish apply the outcomes" $? "$out"

# ---- home compacted in place (the PMA's collector, on plain memory) ------------------

# NOCKLAB_HOME_COMPACT=1 gives plain homes no sibling, so each home
# collection (before every event, after every line, in stress mode) is the
# in-place mark-compact; the results must not change.
in_place() { NOCKLAB_HOME_COMPACT=1 NOCKLAB_GC_STRESS=1 "$NOCKLAB" "$@"; }
out=$(in_place -e "=f $fib" -e "=p [1 2 [3 4] 0x1.0000.0000.0000.0000]" -e "=q [p p]" -e "*[16 f]" -e "q" -e "*[17 f]" 2>&1)
[ "$out" == $'987\n[[1 2 [3 4] 18446744073709551616] 1 2 [3 4] 18446744073709551616]\n1597' ]
check "in place: bindings kept across home compactions after every line" $? "$out"
in_place gen kv 400 "$work/kv-in-place" >"$work/in-place.out" 2>"$work/in-place.err"
cmp -s "$work/plain.out" "$work/in-place.out"
check "in place: gen kv 400 gives the mug it gives with a copying home" $? "$(cat "$work/plain.out" "$work/in-place.out" "$work/in-place.err")"
out=$(in_place replay "$work/jobs-plain" 2>"$work/jobs-in-place.err")
[ "$out" == "$(cat "$work/jobs-plain.out")" ]
check "in place: replay of jobs (spawns) reproduces the mug" $? "$out" "$(cat "$work/jobs-in-place.err")"
