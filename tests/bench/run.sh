#!/bin/bash
# make bench: runs every benchmark program and prints each figure beside its
# target.  Workloads and other runtimes' figures: ../shared/bench/README.md.
# A figure that misses its target says MISSED; the script still runs the rest
# and ends with a count, exiting 1 if any target was missed.
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export SHARED=${SHARED:-../shared}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run() {
    "$@" 2>&1 | tee -a "$out"
}

echo "== evaluator (each workload in its own process, median of 5)"
run "$BUILD/bench/bench_nock" dec-1e7 5
run "$BUILD/bench/bench_nock" dec-1e8 1
run "$BUILD/bench/bench_nock" fib-25 5
run "$BUILD/bench/bench_nock" fib-30 5
for program in "$BUILD"/bench/bench_*; do
    [ -x "$program" ] || continue
    case "$program" in *.d|*/bench_nock) continue ;; esac
    echo "== ${program##*/bench_}"
    run "$program"
done
ok=$(grep -c ' OK$' "$out")
missed=$(grep -c ' MISSED$' "$out")
echo "targets: $ok met, $missed missed"
[ "$missed" -eq 0 ]
