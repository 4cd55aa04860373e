#!/bin/bash
# test_prof.sh -- the sampling profilers.  A sampled Hoon compile on the
# ivory pill writes folded stacks that parse (every line "frames count",
# the counts summing to the samples taken) and whose top frames are the
# compiler's arms by %fast label; `nocklab --prof FILE replay` writes the
# same for a kernel (and how much of the replay is outside its Nock);
# native sampling names nocklab's own functions; a fault
# under a %spot hint puts the Nock trace in the crash report file.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL $1"; shift; for line in "$@"; do echo "  ${line:0:800}"; done; }

# check_folded NAME FILE SAMPLES: every line is "frame;frame count" and
# the counts add up to SAMPLES.
check_folded() {
    local name=$1 file=$2 samples=$3
    local bad total
    bad=$(grep -Evc '^[^ ;][^;]*(;[^;]+)* [0-9]+$' "$file")
    total=$(awk '{ sum += $NF } END { print sum + 0 }' "$file")
    if [[ -s "$file" && "$bad" == 0 ]]; then pass "$name-lines-parse"; else fail "$name-lines-parse" "$bad bad lines" "$(head -3 "$file")"; fi
    if [[ "$total" == "$samples" && "$samples" -gt 0 ]]; then pass "$name-counts-sum"; else fail "$name-counts-sum" "counts $total, samples $samples"; fi
}

# ---- a sampled Hoon compile ------------------------------------------------------------
out=$("$NOCKLAB" -e ":ivory $SHARED/ivory.pill" -e ':prof on 1000' \
    -e ':hoon =/  f  |=(n=@ ?:((lth n 2) n (add $(n (dec n)) $(n (sub n 2)))))  (f 12)' \
    -e ':prof off' -e ":prof dump $work/hoon.folded" -e ':prof top 10' 2>&1)
samples=$(sed -n 's/^\([0-9][0-9]*\) samples in [0-9]* stacks written.*/\1/p' <<<"$out")
grep -q '^144$' <<<"$out" && pass hoon-still-right || fail hoon-still-right "$out"
check_folded hoon "$work/hoon.folded" "${samples:-0}"
top=$(sed -n '/hottest frames/,$p' <<<"$out" | sed -n '3,12p')
if grep -Eq 'k140/.*/ut(/[a-z-]+)?$' <<<"$top"; then pass hoon-top-frames-name-compiler-arms; else fail hoon-top-frames-name-compiler-arms "$top"; fi
if grep -Eq '/ut/(mint|play|nest|mull|crop|fish|fuse|find|peek|rest|fond|burn|mite)' "$work/hoon.folded"; then
    pass hoon-folded-has-ut-arms
else
    fail hoon-folded-has-ut-arms "$(head -3 "$work/hoon.folded")"
fi

# ---- --prof FILE on a replay --------------------------------------------------------------
"$NOCKLAB" gen counter 20000 "$work/store" >/dev/null 2>&1
err=$("$NOCKLAB" --prof "$work/replay.folded" replay "$work/store" 2>&1 >/dev/null)
samples=$(sed -n 's/.*: \([0-9][0-9]*\) samples in [0-9]* stacks written to.*/\1/p' <<<"$err")
check_folded replay "$work/replay.folded" "${samples:-0}"
# a kernel without %fast labels: calls are named by battery mug; the rest
# of a replay's time is outside the kernel's evaluator
if grep -Evq "^(core 0x[0-9a-f]+(;core 0x[0-9a-f]+)*|\(outside Nock\)) [0-9]+$" "$work/replay.folded"; then
    fail replay-frames-named "$(head -3 "$work/replay.folded")"
else
    pass replay-frames-named
fi

# ---- native sampling ---------------------------------------------------------------------
out=$("$NOCKLAB" -e ':prof native on 1000' -e '=dec [8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]' \
    -e '*[3000000 dec]' -e ':prof native off' -e ":prof native dump $work/native.folded" -e ':prof native top 30' 2>&1)
samples=$(sed -n 's/^\([0-9][0-9]*\) samples in [0-9]* stacks written.*/\1/p' <<<"$out")
check_folded native "$work/native.folded" "${samples:-0}"
grep -q 'nock_evaluate' <<<"$out" && pass native-names-the-evaluator || fail native-names-the-evaluator "$out"
grep -q '^_start;.*;main;' "$work/native.folded" && pass native-stacks-outermost-first || fail native-stacks-outermost-first "$(head -2 "$work/native.folded")"

# ---- a fault writes the Nock trace into a crash report ----------------------------------------------
TMPDIR=$work "$NOCKLAB" -e '*[[2 [0 1] 0 1] [11 [%spot 1 [%sys %test 0] [12 3] 12 9] 2 [0 1] 0 1]]' 2>"$work/fault.err" &
pid=$!
# wait until it is in the loop: it has used some CPU time
for ((i = 0; i < 400; i++)); do
    ticks=$(awk '{ print $14 }' "/proc/$pid/stat" 2>/dev/null)
    [[ -n "$ticks" && "$ticks" -ge 5 ]] && break
    sleep 0.02
done
kill -SEGV $pid
wait $pid
report=$(sed -n 's/^nocklab: crash report written to //p' "$work/fault.err")
[[ "$report" == "$work/nocklab-crash-$pid.txt" && -f "$report" ]] && pass crash-report-path-printed || fail crash-report-path-printed "$(cat "$work/fault.err")"
grep -q '%spot /sys/test 12:3' "$work/fault.err" && pass crash-prints-nock-trace || fail crash-prints-nock-trace "$(cat "$work/fault.err")"
if [[ -f "$report" ]] && grep -q '^nocklab: fatal signal SIGSEGV' "$report" && grep -q '%spot /sys/test 12:3' "$report" &&
    grep -q 'nock_evaluate' "$report"; then
    pass crash-report-has-both
else
    fail crash-report-has-both "$(cat "$report" 2>/dev/null | head -5)"
fi
exit 0
