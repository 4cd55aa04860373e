# Shared helpers for integration tests: source it, then call expect_* and
# each check prints "PASS name" or "FAIL name" with what differed.
NOCKLAB=${NOCKLAB_BIN:-bin/nocklab}
SHARED=${SHARED:-../shared}

# expect_output NAME EXPECTED-STDOUT ARGS... : runs nocklab ARGS, compares stdout.
expect_output() {
    local name=$1 expected=$2; shift 2
    local actual
    actual=$("$NOCKLAB" "$@" 2>/tmp/nocklab-test-stderr.$$)
    if [ "$actual" == "$expected" ]; then
        echo "PASS $name"
    else
        echo "FAIL $name"
        echo "  expected: $expected"
        echo "  actual:   $actual"
        sed 's/^/  stderr: /' /tmp/nocklab-test-stderr.$$
    fi
    rm -f /tmp/nocklab-test-stderr.$$
}

# expect_status NAME STATUS ARGS... : runs nocklab ARGS, checks the exit status.
expect_status() {
    local name=$1 expected=$2; shift 2
    "$NOCKLAB" "$@" >/dev/null 2>&1
    local actual=$?
    if [ "$actual" == "$expected" ]; then echo "PASS $name"; else echo "FAIL $name (exit $actual, wanted $expected)"; fi
}

# expect_stderr_match NAME REGEX ARGS... : stderr must match the regex.
expect_stderr_match() {
    local name=$1 pattern=$2; shift 2
    local err
    err=$("$NOCKLAB" "$@" 2>&1 >/dev/null)
    if [[ "$err" =~ $pattern ]]; then echo "PASS $name"; else echo "FAIL $name"; echo "  stderr: $err"; fi
}

# pass NAME / fail NAME LINE... / check NAME STATUS LINE...: for checks
# made in the script itself; check passes when STATUS is 0, else prints
# the lines (each cut to 400 characters) under the FAIL.
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; shift; for line in "$@"; do echo "  ${line:0:400}"; done; }
check() {
    local name=$1 status=$2; shift 2
    if [ "$status" -eq 0 ]; then pass "$name"; else fail "$name" "$@"; fi
}
