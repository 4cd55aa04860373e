#!/bin/bash
# test_hoon.sh -- the Hoon commands through bin/nocklab: :ivory boots the
# shared pill (kernel mug 0x4bb376f0) and binds it, :hoon prints products as
# nouns and through Hoon's printer, :hoon-nock shows formulas, Hoon's parse
# and type errors come out as Hoon's messages with a failing exit status,
# :jets and :set jets on|off|check, and the usage errors.
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

PILL="$SHARED/ivory.pill"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run_capture ARGS...: runs nocklab, leaving $out, $err and $status.
run_capture() {
    out=$("$NOCKLAB" "$@" 2>"$work/stderr")
    status=$?
    err=$(cat "$work/stderr")
}

# contains NAME HAYSTACK NEEDLE: PASS when the text contains the needle.
contains() {
    if [[ "$2" == *"$3"* ]]; then pass "$1"; else fail "$1" "wanted: $3" "got: $2"; fi
}

if [ ! -f "$PILL" ]; then
    fail ivory-pill-present "no pill at $PILL (set SHARED)"
    exit 0
fi

# ---- boot and expressions ----------------------------------------------------

run_capture -e ":ivory $PILL" -e ':hoon (add 2 2)' -e ':hoon (turn (gulf 1 5) |=(a=@ (mul a a)))' \
    -e ':hoon "hello"' -e ':hoon (crip "hello")' -e ':mug hoon' -e ':names'
if [ "$status" -eq 0 ]; then pass boot-and-run-status; else fail boot-and-run-status "exit $status" "$err"; fi
contains ivory-mug "$out" "hoon: kernel mug 0x4bb376f0"
contains add-noun "$out" $'\n4\n> 4'
contains squares-noun "$out" "[1 4 9 16 25 0]"
contains squares-printed "$out" "> ~[1 4 9 16 25]"
contains tape-printed "$out" '> "hello"'
contains cord-printed "$out" "> 'hello'"
contains hoon-bound "$out" "0x4bb376f0"
contains names-lists-hoon "$out" "hoon:"

# the hundred squares, as :hoon prints the noun
squares=$(for i in $(seq 1 100); do printf '%d ' $((i * i)); done)
expected="[${squares}0]"
run_capture -e ":ivory $PILL" -e ':hoon (turn (gulf 1 100) |=(a=@ (mul a a)))'
contains hundred-squares "$out" "$expected"

# ---- formulas ------------------------------------------------------------------

run_capture -e ":ivory $PILL" -e ':hoon-nock (add 2 2)' -e ':hoon-nock 42'
contains nock-of-add "$out" "[8 [9 36 0 4095] 9 2 10 [6 [7 [0 3] 1 2] 7 [0 3] 1 2] 0 2]"
contains nock-of-constant "$out" $'\n[1 42]'

# ---- Hoon's errors -------------------------------------------------------------

run_capture -e ":ivory $PILL" -e ':hoon (add 2'
if [ "$status" -ne 0 ]; then pass parse-error-status; else fail parse-error-status "exit 0"; fi
contains parse-error-message "$err" "syntax error"
contains parse-error-place "$err" "{1 7}"
run_capture -e ":ivory $PILL" -e ':hoon (add "a" 2)'
contains type-error-message "$err" "nest-fail"
contains type-error-need "$err" "-need.@"
run_capture -e ":ivory $PILL" -e ':hoon (dec 0)'
contains runtime-crash-message "$err" "decrement-underflow"
# a failed line doesn't spoil the next
run_capture -e ":ivory $PILL" -e ':hoon (add 2' -e ':hoon (add 40 2)'
contains recovers-after-error "$out" $'\n42\n> 42'

# ---- virtual Nock and the issue's examples, in two orders, on and check --------

mule_error=':hoon (mule |.(~|(%error !!)))'
mule_trip=':hoon (mule |.((trip %ab)))'
mack_trip=":hoon (mack |.((trip %ab)) [9 2 0 1])"
muk_jerry=":hoon (muk 6 15 'jerry')"
bend_ba=':hoon (scan "ba" ;~((bend |=([a=char b=char] ?.(=(a b) ~ (some +(a))))) prn prn))'
check_examples() { # NAME: $out and $err of a run of the five
    contains "$1-mule-error" "$out" '> [%.n p=~[[%leaf p="%error"]]]'
    contains "$1-mule-trip" "$out" '> [%.y p="ab"]'
    contains "$1-mack-trip" "$out" '> [~ [97 98 0]]'
    contains "$1-muk" "$out" '> 2.881.503.571'
    contains "$1-bend" "$err" $'  {1 3}\n  syntax error'
}
run_capture -e ":ivory $PILL" -e "$mule_error" -e "$mule_trip" -e "$mack_trip" -e "$muk_jerry" -e "$bend_ba"
check_examples first-after-ivory
run_capture -e ":ivory $PILL" -e ':hoon (add 1 1)' -e "$bend_ba" -e "$muk_jerry" -e "$mack_trip" -e "$mule_trip" \
    -e "$mule_error"
check_examples after-another-line
run_capture -e ":ivory $PILL" -e ':set jets check' -e "$mule_error" -e "$mule_trip" -e "$mack_trip" -e "$muk_jerry" \
    -e "$bend_ba" -e ':jets'
check_examples check-mode
contains check-mode-examples-clean "$out" "0 differed"

# ---- jets ----------------------------------------------------------------------

run_capture -e ":ivory $PILL" -e ':hoon (mul 6 7)' -e ':jets'
contains jets-mode "$out" "jets on:"
contains jets-lists-mul "$out" "k140/one/mul"
contains jets-lists-add "$out" "k140/one/add"
run_capture -e ":ivory $PILL" -e ':set jets check' -e ':hoon (add 2 2)' -e ':hoon (weld "ab" "cd")' -e ':jets'
contains check-mode-set "$out" "jets check"
contains check-mode-runs "$out" $'\n4\n> 4'
contains check-mode-clean "$out" "0 differed"
if [[ "$err" == *"jet mismatch"* ]]; then fail check-mode-no-mismatch "$err"; else pass check-mode-no-mismatch; fi
# off: the arms run as Nock (compiling Hoon that way would take hours, so
# only a plain Nock line runs here), then back on
run_capture -e ":ivory $PILL" -e ':set jets off' -e ':jets' -e '*[[2 3] [0 2]]' -e ':set jets on' -e ':hoon (add 1 1)'
contains jets-off-listed "$out" "jets off:"
contains jets-off-then-on "$out" $'\n2\n> 2'

# ---- usage ---------------------------------------------------------------------

run_capture -e ':hoon (add 2 2)'
if [ "$status" -ne 0 ]; then pass hoon-before-ivory-status; else fail hoon-before-ivory-status "exit 0"; fi
contains hoon-before-ivory "$err" ":ivory"
run_capture -e ':ivory /nonexistent/pill'
contains ivory-missing-file "$err" "cannot open /nonexistent/pill"
run_capture -e ":ivory $work"
contains ivory-directory "$err" "error: :ivory"
printf '\x02' > "$work/zero.jam"
run_capture -e ":ivory $work/zero.jam"
contains ivory-not-a-pill "$err" "not an ivory pill"
run_capture -e ':set jets sideways'
contains set-usage "$err" "check"
run_capture -e ':help hoon'
contains help-hoon "$out" ":hoon EXPR"
