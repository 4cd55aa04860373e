#!/bin/bash
# test_cli.sh -- bin/nocklab's batch mode, end to end: every line form, the
# shared Nock, jam and mug vectors, bindings, :load/:save round trips
# (ivory.pill included), files and stdin, errors and exit statuses, Ctrl-C
# during an endless loop, and inputs deep enough to break a recursive parser.
# Prints one "PASS name" or "FAIL name" line per check.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

DEC='[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]'
LOOP='[2 [0 1] 0 1]'   # *[LOOP LOOP] reduces to itself: runs forever

# check NAME CONDITION-STATUS [DETAIL...]: PASS when the status is 0.
check() {
    local name=$1 status=$2; shift 2
    if [ "$status" -eq 0 ]; then pass "$name"; else fail "$name" "$@"; fi
}

# run_capture ARGS...: runs nocklab, leaving $out, $err and $status.
run_capture() {
    out=$("$NOCKLAB" "$@" 2>"$work/stderr")
    status=$?
    err=$(cat "$work/stderr")
}

# ---- the program itself ----------------------------------------------------

expect_output version "nocklab 0.1.0" --version
expect_status version-status 0 --version
run_capture --help
help_ok=0
for word in -e --version --help :help :jam :cue :mug :load :save :time :names :stats :quit '=NAME EXPR' '::'; do
    [[ "$out" == *"$word"* ]] || { help_ok=1; missing=$word; }
done
check help-lists-everything $help_ok "missing: $missing"
check help-status "$status" "exit $status"
expect_status bad-option 2 --frobnicate
expect_status e-without-line 2 -e
expect_stderr_match bad-option-message 'unknown option --frobnicate' --frobnicate

# ---- line forms --------------------------------------------------------------

expect_output atom "42" -e '42'
expect_output cell "[1 2 3]" -e '[1 [2 3]]'
expect_output cell-left "[[1 2] 3]" -e '[[1 2] 3]'
expect_output hex-atom "42" -e '0x2a'
expect_output term "7303014" -e '%foo'
expect_output tape "[104 105 0]" -e '"hi"'
expect_output big-atom "18446744073709551616" -e '18446744073709551616'
expect_output nock "43" -e '*[42 [4 0 1]]'
expect_output slot "2" -e '/[3 [1 2]]'
expect_output edit "[9 2 3]" -e '#[2 9 [1 2 3]]'
expect_output edit-deep "[1 2 9]" -e '#[7 9 [1 2 3]]'
expect_output cell-test-cell "0" -e '?[1 2]'
expect_output cell-test-atom "1" -e '?7'
expect_output increment "6" -e '+5'
expect_output increment-carry "9223372036854775808" -e '+9223372036854775807'
expect_output equal "0" -e '=[[1 2] [1 2]]'
expect_output not-equal "1" -e '=[1 2]'
expect_output nested-nock "2" -e '*[*[1 [1 2 3]] [0 2]]'
expect_output nested-mixed "[6 43]" -e '[+5 *[42 [4 0 1]]]'
expect_output nested-operators "[0 1 7]" -e '[?[1 2] =[1 2] ++5]'
expect_output blank-and-comment "1" -e '' -e '   ' -e ':: a comment' -e '  :: indented comment' -e '1'
expect_output contract-example "41" -e "=dec $DEC" -e '*[42 dec]'

# ---- the shared Nock vectors, each as *[subject formula] ---------------------

vectors=0
while IFS=$'\t' read -r subject formula product; do
    [[ -z "$subject" || "$subject" == \#* ]] && continue
    vectors=$((vectors + 1))
    run_capture -e "*[$subject $formula]" -e '7'
    if [ "$product" == "!" ]; then
        [[ $status -eq 1 && "$out" == "7" && "$err" == error:* ]]
        check "nock-vector-$vectors crashes" $? "*[$subject $formula]: exit $status, stdout '$out', stderr '$err'"
    else
        [[ $status -eq 0 && "$out" == "$product"$'\n7' && -z "$err" ]]
        check "nock-vector-$vectors" $? "*[$subject $formula]: wanted $product, got '$out' (exit $status) $err"
    fi
done <"$SHARED/vectors/nock.tsv"
[ "$vectors" -ge 25 ]
check nock-vectors-read $? "only $vectors vectors in $SHARED/vectors/nock.tsv"

# ---- jam, cue and mug against the shared vectors -----------------------------

count=0
while IFS=$'\t' read -r noun jammed; do
    [[ -z "$noun" || "$noun" == \#* ]] && continue
    count=$((count + 1))
    expect_output "jam-vector-$count" "$jammed" -e ":jam $noun"
    # cue must give the same noun: print both and compare.
    printed=$("$NOCKLAB" -e "$noun")
    expect_output "cue-vector-$count" "$printed" -e ":cue $jammed"
    expect_output "cue-jam-vector-$count" "$jammed" -e "=x $noun" -e "=y x" -e ":jam y"
done <"$SHARED/vectors/jam.tsv"
[ "$count" -ge 10 ]
check jam-vectors-read $? "only $count jam vectors"

count=0
while IFS=$'\t' read -r noun mug; do
    [[ -z "$noun" || "$noun" == \#* ]] && continue
    count=$((count + 1))
    expect_output "mug-vector-$count" "$mug" -e ":mug $noun"
done <"$SHARED/vectors/mug.tsv"
[ "$count" -ge 10 ]
check mug-vectors-read $? "only $count mug vectors"

expect_output jam-of-expression "0x1231" -e ':jam [1 +1]'
expect_output cue-of-expression "[1 2]" -e ':cue *[0 [1 0x1231]]'
expect_stderr_match cue-of-cell '^error: :cue needs an atom' -e ':cue [1 2]'
expect_stderr_match cue-bad-jam '^error: cue: .*bit' -e ':cue 0x0'
expect_status cue-bad-jam-status 1 -e ':cue 0x0'

# ---- bindings ----------------------------------------------------------------

expect_output bind-prints-nothing "" -e '=a 5'
expect_output bind-and-use "[5 5]" -e '=a 5' -e '[a a]'
expect_output bind-chain "[6 5]" -e '=a 5' -e '=b [+a a]' -e 'b'
expect_output rebind "[2 1]" -e '=a 1' -e '=b a' -e '=a 2' -e '[a b]'
expect_output bind-names-with-dashes "3" -e '=my-value-2 3' -e 'my-value-2'
expect_output bind-computed "41" -e "=dec $DEC" -e '=n *[42 dec]' -e 'n'
expect_stderr_match unknown-name '^error: unknown name nope at column 4' -e '[1 nope]'
expect_stderr_match bind-without-value '^error: expected an expression' -e '=a'
expect_stderr_match bind-bad-name "^error: expected a space after the name" -e '=a! 5'
expect_output names-command "a: 1 cells, 2 atoms, mug 0x6b32ec46" -e '=a [1 1]' -e ':names'
# A binding survives many lines that each leave a 100,000-cell list of
# garbage in home, and the home collections they cause.  (LIST builds
# [n-1 ... 1 0 seed] from the subject [n seed]; distinct seeds keep dedup
# from sharing the lists.)
LIST='[8 [[1 0] [0 3]] 8 [1 [6 [5 [0 12] [0 14]] [0 13] [9 2 [[0 2] [[4 0 12] [[0 12] 0 13]] [0 7]]]]] 9 2 0 1]'
expect_output list-formula "[2 1 0 7]" -e "=list $LIST" -e '*[[3 7] list]'
lines=()
for i in $(seq 1 12); do lines+=(-e "=junk *[[100000 $i] list]"); done
run_capture -e "=list $LIST" -e '=keep [7 8]' "${lines[@]}" -e '[keep /[2 junk] /[2.097.150 junk]]' -e ':stats'
[[ $status -eq 0 && "$out" == $'[[7 8] 99999 99980]\n'home:\ *\ bytes\ used,\ [1-9]* && ! "$out" =~ ,\ 0\ after ]]
check binding-survives-home-collections $? "exit $status: $out $err"

# ---- :load and :save ---------------------------------------------------------

pill="$SHARED/ivory.pill"
run_capture -e ":load ivory $pill" -e ':mug ivory'
[[ $status -eq 0 && "$out" =~ ^ivory:\ 1136643\ bytes,\ [0-9]+\ cells,\ [0-9]+\ atoms,\ mug\ 0x2a2274c9,\ [0-9.]+\ (us|ms|s)$'\n'0x2a2274c9$ ]]
check load-ivory $? "exit $status: $out $err"
run_capture -e ":load ivory $pill" -e ":save ivory $work/ivory-copy.pill"
cmp -s "$pill" "$work/ivory-copy.pill"
check save-ivory-identical-bytes $? "$out $err"
[[ "$out" == *"ivory: 1136643 bytes written to $work/ivory-copy.pill" ]]
check save-reports "$?" "$out"
run_capture -e ":load copy $work/ivory-copy.pill" -e ':mug copy'
[[ $status -eq 0 && "$out" == *$'\n0x2a2274c9' ]]
check load-saved-copy $? "$out $err"

run_capture -e "=dec $DEC" -e ":save dec $work/dec.jam" -e ":load dec2 $work/dec.jam" -e '=[dec dec2]' -e '*[42 dec2]'
[[ $status -eq 0 && "$out" == *$'\n0\n41' ]]
check save-load-jam-round-trip $? "$out $err"
run_capture -e "=dec $DEC" -e ":save dec $work/dec.noun" -e ":load dec2 $work/dec.noun" -e '=[dec dec2]'
[[ $status -eq 0 && "$out" == *$'\n0' && "$(cat "$work/dec.noun")" == "$DEC" ]]
check save-load-text-round-trip $? "$out $err"
cat >"$work/counter.nock" <<'EOF'
:: the decrement formula, with Hoon-style comments
[8 [1 0]          :: counter starts at 0
 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7]
 9 2 0 1]         :: call the arm
:: a comment marker inside a cord is text: '::'
EOF
run_capture -e ":load dec $work/counter.nock" -e '*[100 dec]'
[[ $status -eq 0 && "$out" == *$'\n99' ]]
check load-nock-text-with-comments $? "exit $status: $out $err"
run_capture -e ":load dec $work/counter.nock"
[[ "$out" =~ ^dec:\ [0-9]+\ bytes,\ [0-9]+\ cells,\ [0-9]+\ atoms,\ mug\ 0x[0-9a-f]+, ]]
check load-nock-report $? "$out $err"
printf "'a::b'" >"$work/cord.noun"
run_capture -e ":load c $work/cord.noun" -e "=[c 'a::b']"
[[ $status -eq 0 && "$out" == *$'\n0' ]]
check load-cord-keeps-colons $? "exit $status: $out $err"
expect_stderr_match load-missing-file '^error: cannot open .*nothing-here' -e ":load x $work/nothing-here"
expect_status load-missing-file-status 1 -e ":load x $work/nothing-here"
printf '\xff\xff\xff' >"$work/bad.jam"
expect_stderr_match load-bad-jam '^error: .*bad.jam is not a jam file' -e ":load x $work/bad.jam"
printf '[1 2' >"$work/bad.noun"
expect_stderr_match load-bad-text '^error: .*bad.noun: .*column' -e ":load x $work/bad.noun"
expect_stderr_match load-bad-name '^error: expected a name' -e ":load 9x $pill"
expect_stderr_match save-unknown-name '^error: unknown name nope' -e ":save nope $work/x.jam"
expect_stderr_match save-unwritable '^error: cannot write' -e '=a 1' -e ":save a $work/no/such/dir/a.jam"
expect_stderr_match save-ivory-as-text '^error: ivory has more than' -e ":load ivory $pill" -e ":save ivory $work/ivory.noun"

# ---- :time, :help, :quit, unknown commands -----------------------------------

run_capture -e "=dec $DEC" -e ':time *[1000 dec]'
[[ $status -eq 0 && "$out" =~ ^999$'\n'time:\ [0-9.]+\ (us|ms|s)\ \(cpu\ [0-9.]+\ (us|ms|s)\),\ 12000\ steps,\ [0-9]+\ bytes\ allocated,\ [0-9]+\ dedup\ hits$ ]]
check time-report $? "$out $err"
run_capture -e '=a [1 2]' -e ':time [1 2]'
[[ "$out" =~ ,\ 2\ dedup\ hits$ || "$out" =~ ,\ [1-9][0-9]*\ dedup\ hits$ ]]
check time-dedup-hits $? "$out"
run_capture -e ':help'
[[ $status -eq 0 && "$out" == *":load NAME PATH"* && "$out" == *":time LINE"* ]]
check help-command $? "$out"
run_capture -e ':help load'
[[ $status -eq 0 && "$out" == *"Example:"* ]]
check help-one-command $? "$out"
expect_stderr_match help-unknown '^error: no command :lod; did you mean :load\?' -e ':help lod'
expect_output quit-stops-lines "1" -e '1' -e ':quit' -e '2'
expect_stderr_match unknown-command-suggests '^error: unknown command :jm; did you mean :jam\?' -e ':jm 5'
expect_stderr_match unknown-command-suggests-load 'did you mean :load\?' -e ':laod x y'
expect_stderr_match unknown-command-far '^error: unknown command :xyzzyplugh' -e ':xyzzyplugh'
expect_stderr_match command-usage '^error: usage: :load NAME PATH' -e ':load onlyname'
expect_stderr_match command-needs-expression '^error: usage: :jam EXPR' -e ':jam'
expect_stderr_match command-takes-nothing '^error: usage: :quit' -e ':quit now'
expect_stderr_match bare-colon '^error: expected a command name' -e ':'

# ---- errors, exit statuses, later lines still running -------------------------

expect_stderr_match parse-error-column '^error: expected .* at column 5' -e '[1 2'
expect_stderr_match parse-error-trailing 'column 3' -e '1 2'
expect_stderr_match operator-space 'column 2' -e '* [1 2]'
expect_stderr_match crash-line '^error: crash' -e '*[42 [0 2]]'
expect_status crash-status 1 -e '*[42 [0 2]]'
expect_status ok-status 0 -e '1' -e '2'
run_capture -e '1' -e '*[42 [0 2]]' -e '2' -e '[1' -e '3'
[[ $status -eq 1 && "$out" == $'1\n2\n3' && $(grep -c '^error:' <<<"$err") -eq 2 ]]
check later-lines-run-after-errors $? "exit $status, out '$out', err '$err'"
run_capture -e '*[42 [11 [%mean [1 %foo]] [11 [%spot [1 [1 2]]] [0 2]]]]'
[[ $status -eq 1 && "$err" == $'error: crash: '*$'\n  %spot [1 2]\n  %mean \'foo\'' ]]
check crash-trace-innermost-first $? "$err"
expect_stderr_match pseudo-operator-crash '^error: crash: \+ of a cell' -e '+[1 2]'
expect_stderr_match too-deep '^error: too deep' -e '*[[4 2 [0 1] 0 1] [4 2 [0 1] 0 1]]'
expect_output too-deep-then-next "5" -e '*[[4 2 [0 1] 0 1] [4 2 [0 1] 0 1]]' -e '5'
run_capture -e '*[42 [11 [%slog [1 [0 [%leaf "hello"]]]] [0 1]]]'
[[ $status -eq 0 && "$out" == "42" && "$err" == "slog: hello" ]]
check slog-notice $? "out '$out' err '$err'"

# ---- files and standard input ------------------------------------------------

cat >"$work/lines.nl" <<EOF
:: a file of lines
=dec $DEC

*[42 dec]
  :: indented comment
[1 nope]
:mug 0
EOF
run_capture "$work/lines.nl"
[[ $status -eq 1 && "$out" == $'41\n0x79ff04e8' && "$err" == "$work/lines.nl:6: error: unknown name nope at column 4" ]]
check file-of-lines $? "exit $status, out '$out', err '$err'"
printf '1\r\n[2 3]\r\n' >"$work/crlf.nl"
expect_output file-crlf $'1\n[2 3]' "$work/crlf.nl"
printf '5\n+5' >"$work/no-newline.nl"
expect_output file-last-line-without-newline $'5\n6' "$work/no-newline.nl"
out=$(printf '=a 7\n+a\n' | "$NOCKLAB")
[ "$out" == "8" ]
check stdin-lines $? "got '$out'"
out=$(printf '+1\n' | "$NOCKLAB" -e '=a 1' -)
[ "$out" == "2" ]
check stdin-dash $? "got '$out'"
printf '=b 10\n' >"$work/bind.nl"
expect_output files-share-a-session "11" "$work/bind.nl" -e '+b'
expect_stderr_match missing-file '^error: cannot open' "$work/absent.nl"
expect_status missing-file-status 1 "$work/absent.nl"
expect_output quit-in-file "1" "$(printf '1\n:quit\n2\n' >"$work/quit.nl"; echo "$work/quit.nl")" -e '3'

# ---- Ctrl-C ------------------------------------------------------------------

# *[LOOP LOOP] reduces to itself; make sure it really loops before relying on it.
timeout 1 "$NOCKLAB" -e "*[$LOOP $LOOP]" >/dev/null 2>&1
[ $? -eq 124 ]
check endless-loop-is-endless $? "the loop formula finished by itself"
started=$(date +%s%N)
out=$(timeout --preserve-status -s INT 1 "$NOCKLAB" -e "=loop $LOOP" -e '*[loop loop]' -e '+41' 2>"$work/stderr")
status=$?
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
err=$(cat "$work/stderr")
[[ $status -eq 1 && "$out" == "42" && "$err" =~ ^error:\ interrupted\ after\ [1-9][0-9]*\ steps$ ]]
check interrupt-endless-loop $? "exit $status, out '$out', err '$err', ${elapsed_ms} ms"
# Between lines (nothing evaluating), SIGINT ends the program as usual.
sleep 2 | timeout --preserve-status -s INT 0.5 "$NOCKLAB" >/dev/null 2>&1
status=$?
[ $status -eq 130 ]
check interrupt-between-lines-ends-program $? "exit $status"

# ---- deep and hostile input --------------------------------------------------

python3 -c "print('[' * 10000000)" >"$work/deep-open.nl"
run_capture "$work/deep-open.nl"
[[ $status -eq 1 && "$err" == "$work/deep-open.nl:1: error: expected ']' at column 10000001 to close the '[' at column 10000000" ]]
check ten-million-open-brackets $? "exit $status: ${err:0:200}"
python3 -c "n = 1000000; print('[' * n + '1' + ' 2]' * n)" >"$work/deep-cell.nl"
out=$("$NOCKLAB" "$work/deep-cell.nl" | wc -c)
[ "$out" -eq 4000002 ]
check million-deep-cell-prints $? "printed $out bytes"
python3 -c "n = 1000000; print(':mug ' + '[' * n + '1' + ' 2]' * n); print(':jam ' + '+' * n + '0')" >"$work/deep-mug.nl"
run_capture "$work/deep-mug.nl"
[[ $status -eq 0 && "$out" =~ ^0x[0-9a-f]+$'\n'0x[0-9a-f]+$ ]]
check million-deep-mug-and-operators $? "exit $status: ${out:0:100} ${err:0:200}"
expect_output million-increments "$(( 1000000 ))" "$(python3 -c "print('+' * 1000000 + '0')" >"$work/inc.nl"; echo "$work/inc.nl")"
head -c 200000 /dev/urandom | tr -d '\n' | fold -w 97 >"$work/garbage.nl"
"$NOCKLAB" "$work/garbage.nl" >/dev/null 2>&1
status=$?
[ $status -le 1 ]
check random-garbage-does-not-crash $? "exit $status"
run_capture -e ':cue 0xffffffffffffffffffffffffffffffffffffffffff' -e ':load x /dev/null' -e '#[0 1 2]' -e '/[0 1]' -e '=5' -e '1'
[[ $status -eq 1 && "$out" == "1" && $(grep -c '^error:' <<<"$err") -eq 5 ]]
check hostile-lines-fail-cleanly $? "exit $status out '$out' err '$err'"
