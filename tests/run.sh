#!/bin/bash
# Runs every unit test binary ($BUILD/tests/*/test_*) and every integration
# script (tests/integration/*.sh), and ends with the line "N passed, N failed".
# Unit tests use cmocka; integration scripts print "PASS name" / "FAIL name"
# lines through tests/integration/lib.sh.
#
# With arguments, runs only the tests they name: unit tests as
# layer/test_name (interp/test_nock), scripts by file name (test_cli.sh).
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export NOCKLAB_BIN=${NOCKLAB_BIN:-bin/nocklab}
export SHARED=${SHARED:-../shared}
passed=0
failed=0
failures=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
selected=("$@")
is_selected() {
    [ ${#selected[@]} -eq 0 ] && return 0
    local name
    for name in "${selected[@]}"; do [ "$name" == "$1" ] && return 0; done
    return 1
}

for test in "$BUILD"/tests/*/test_*; do
    [ -x "$test" ] || continue
    case "$test" in *.d|*.o) continue ;; esac
    name=${test#"$BUILD"/tests/}
    is_selected "$name" || continue
    "$test" >"$log" 2>&1
    status=$?
    ok=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    bad=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
    ok=${ok:-0}; bad=${bad:-0}
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    passed=$((passed + ok)); failed=$((failed + bad))
    if [ "$bad" -ne 0 ]; then
        failures+=("$name"); echo "--- $name"; cat "$log"
    else
        echo "ok   $name ($ok)"
    fi
done

for script in tests/integration/*.sh; do
    [ -f "$script" ] || continue
    case "$script" in */lib.sh) continue ;; esac
    name=${script#tests/integration/}
    is_selected "$name" || continue
    bash "$script" >"$log" 2>&1
    status=$?
    ok=$(grep -c '^PASS ' "$log")
    bad=$(grep -c '^FAIL ' "$log")
    if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; echo "FAIL $name exited $status" >>"$log"; fi
    passed=$((passed + ok)); failed=$((failed + bad))
    if [ "$bad" -ne 0 ]; then
        failures+=("$name"); echo "--- $name"; grep -v '^PASS ' "$log"
    else
        echo "ok   $name ($ok)"
    fi
done

[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
