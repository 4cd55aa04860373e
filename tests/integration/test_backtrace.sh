#!/bin/bash
# A fault in nocklab itself prints a native backtrace (libunwind) before
# the process dies of the same signal.  The fault is simulated by sending
# SIGSEGV to a process busy in an endless loop.
source "$(dirname "$0")/lib.sh"
err=$(mktemp)
trap 'rm -f "$err"' EXIT

"$NOCKLAB" -e '*[[2 [0 1] 0 1] [2 [0 1] 0 1]]' 2>"$err" &
pid=$!
sleep 0.5
kill -SEGV $pid
wait $pid
status=$?
if [ $status -eq 139 ]; then echo "PASS a fault still ends the process with its signal"; else echo "FAIL fault exit status $status, wanted 139"; fi
if grep -q '^nocklab: fatal signal SIGSEGV' "$err"; then echo "PASS the fault is named"; else echo "FAIL no fault line"; cat "$err"; fi
if grep -q 'nock_evaluate\|main' "$err"; then echo "PASS the backtrace names nocklab's frames"; else echo "FAIL no frames"; cat "$err"; fi
exit 0
