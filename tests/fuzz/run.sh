#!/bin/bash
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer program with AddressSanitizer
# and UndefinedBehaviorSanitizer, against the interp/ sources compiled here by
# clang (not the gcc-built libnocklab.a), then runs each in turn for
# $FUZZ_SECONDS seconds on inputs of at most 4096 bytes.
#
# Seeds: tests/fuzz/corpus/<name>/ (handwritten), plus, generated at run
# time, the noun text of every shared vector (for text) and the bytes of
# every jam vector (for cue).  What libFuzzer finds interesting goes to
# $BUILD/corpus/<name>/, crashes to $BUILD/artifacts/.
#
# FUZZ_ONLY=NAME runs only fuzz_NAME (make fuzz FUZZ_ONLY=store).
#
# Exits non-zero if any fuzzer fails to build or finds a crash, a leak, a
# timeout or an out-of-memory.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
SHARED=${SHARED:-../shared}
FUZZ_CC=${FUZZ_CC:-clang}
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=gnu11 -O1 -g -I. -pthread -Wall -Wextra -Wno-unused-parameter $SANITIZE"
LIBS="-lgmp -lsqlite3 -lreadline -lncurses -lxxhash -lunwind -lm -pthread"

mkdir -p "$BUILD/obj" "$BUILD/artifacts" || exit 1

# Compile the library sources, each only when it or any header changed
# since its object was made: every layer (the store fuzzer replays through
# repl/store.c), but not the program's main.  They go in an archive, so
# each fuzzer links only what it uses.
objects=()
newest_header=$(ls -t interp/*.h interp/jets/*.h snapshots/*.h profiler/*.h repl/*.h 2>/dev/null | head -1)
for source in interp/*.c interp/jets/*.c snapshots/*.c profiler/*.c repl/*.c; do
    [ "$source" == repl/main.c ] && continue
    [ -f "$source" ] || continue
    object="$BUILD/obj/${source%.c}.o"
    mkdir -p "$(dirname "$object")"
    if [ ! -f "$object" ] || [ "$source" -nt "$object" ] || [ "$newest_header" -nt "$object" ]; then
        echo "cc $source"
        $FUZZ_CC $CFLAGS -fsanitize=fuzzer-no-link -c -o "$object" "$source" || exit 1
    fi
    objects+=("$object")
done

# Seeds generated from the shared vectors.
seed_text_vectors() {
    local dir=$1 file field count=0
    for file in "$SHARED"/vectors/*.tsv; do
        [ -f "$file" ] || continue
        while IFS= read -r line; do
            case "$line" in '#'*|'') continue ;; esac
            IFS=$'\t' read -r -a fields <<<"$line"
            for field in "${fields[@]}"; do
                [ "$field" = "!" ] && continue
                count=$((count + 1))
                printf '%s' "$field" >"$dir/vector-$count"
            done
        done <"$file"
    done
}

# A jam vector's hex atom as the little-endian bytes cue reads.
seed_cue_vectors() {
    local dir=$1 count=0 noun hex escaped i
    [ -f "$SHARED/vectors/jam.tsv" ] || return 0
    while IFS=$'\t' read -r noun hex; do
        case "$noun" in '#'*|'') continue ;; esac
        hex=${hex#0x}
        [ $(( ${#hex} % 2 )) -eq 1 ] && hex="0$hex"
        escaped=""
        for ((i = ${#hex} - 2; i >= 0; i -= 2)); do escaped+="\\x${hex:i:2}"; done
        count=$((count + 1))
        printf '%b' "$escaped" >"$dir/jam-$count"
    done <"$SHARED/vectors/jam.tsv"
}

rm -f "$BUILD/libfuzz.a"
ar rcs "$BUILD/libfuzz.a" "${objects[@]}" || exit 1

failed=()
for fuzzer in tests/fuzz/fuzz_*.c; do
    name=$(basename "$fuzzer" .c)
    name=${name#fuzz_}
    [ -n "${FUZZ_ONLY:-}" ] && [ "$name" != "$FUZZ_ONLY" ] && continue
    program="$BUILD/fuzz_$name"
    echo "build $program"
    if ! $FUZZ_CC $CFLAGS -fsanitize=fuzzer -o "$program" "$fuzzer" "$BUILD/libfuzz.a" $LIBS; then
        failed+=("$name (build)")
        continue
    fi
    corpus="$BUILD/corpus/$name"
    seeds="$BUILD/seeds/$name"
    rm -rf "$seeds"
    mkdir -p "$corpus" "$seeds"
    [ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$seeds"/ 2>/dev/null
    case "$name" in
        text) seed_text_vectors "$seeds" ;;
        cue) seed_cue_vectors "$seeds" ;;
    esac
    log="$BUILD/fuzz_$name.log"
    echo "run  $program for ${FUZZ_SECONDS}s (log $log)"
    "$program" -max_len=4096 -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$name-" "$corpus" "$seeds" >"$log" 2>&1
    status=$?
    grep -a -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -1 | sed 's/^/     /'
    if [ "$status" -ne 0 ]; then
        failed+=("$name")
        echo "--- fuzz_$name failed (exit $status); the end of its log:"
        grep -a -v -E '^#[0-9]+' "$log" | tail -40
        ls "$BUILD/artifacts/$name-"* 2>/dev/null | sed 's/^/     artifact: /'
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzers that failed: ${failed[*]}"
    exit 1
fi
echo "all fuzzers ran ${FUZZ_SECONDS}s without a finding"
