#!/bin/bash
# test_tutorial.sh -- docs/tutorial.md is true: every command in its
# ```nocklab blocks runs through bin/nocklab, in one session (with
# --store store) from top to bottom, and prints exactly the lines shown under it (standard output and
# error together; timings like "95 us" may differ).  Also checks that
# every command :help lists is documented in docs/repl.md and the man
# page, and that the man page renders.  Lines of ```console blocks that
# start "$ bin/nocklab" run in a shell in the same directory, after the
# session, and must print what is shown under them too.  Prints "PASS name" / "FAIL name".
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

tutorial=docs/tutorial.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL $1"; shift; for line in "$@"; do echo "$line" | sed 's/^/  /'; done; }

# ---- extract -------------------------------------------------------------------

commands=()
expected=()
in_block=0
while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ $in_block -eq 0 ]]; then
        [[ "$line" == '```nocklab' ]] && in_block=1
        continue
    fi
    if [[ "$line" == '```' ]]; then
        in_block=0
    elif [[ "$line" == "nocklab> "* ]]; then
        commands+=("${line#nocklab> }")
        expected+=("")
    elif [[ ${#commands[@]} -gt 0 ]]; then
        last=$((${#commands[@]} - 1))
        expected[$last]+="$line"$'\n'
    fi
done <"$tutorial"

if [[ ${#commands[@]} -lt 40 ]]; then
    fail tutorial-extract "only ${#commands[@]} commands found in $tutorial"
fi

# ---- run -----------------------------------------------------------------------

# A line after each command whose output is the same whatever the settings
# (a mug prints as hex in every print style), to split the output.
marker_line=':mug 7777777'
marker=$("$NOCKLAB" -e "$marker_line")
arguments=()
for command in "${commands[@]}"; do arguments+=(-e "$command" -e "$marker_line"); done
# The kernel part keeps its store in ./store, as the tutorial says; here
# that is $work/store, and paths are printed as the tutorial shows them.
"$NOCKLAB" --store "$work/store" "${arguments[@]}" 2>&1 | sed "s#$work/##g" >"$work/out"

# Timings vary from run to run.
normalize() { sed -E 's/[0-9]+(\.[0-9]+)? (us|ms|s)$/TIME/; s/[0-9]+(\.[0-9]+)? (us|ms|s),/TIME,/'; }

index=0
chunk=""
while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == "$marker" ]]; then
        actual_chunks[$index]=$chunk
        index=$((index + 1))
        chunk=""
    else
        chunk+="$line"$'\n'
    fi
done <"$work/out"

for ((i = 0; i < ${#commands[@]}; i++)); do
    want=$(printf '%s' "${expected[$i]}" | normalize)
    got=$(printf '%s' "${actual_chunks[$i]-<no output: the session ended early>}" | normalize)
    name="tutorial-$((i + 1)): ${commands[$i]:0:60}"
    if [[ "$want" == "$got" ]]; then
        pass "$name"
    else
        fail "$name" "--- the tutorial shows:" "$want" "--- nocklab printed:" "$got"
    fi
done

# ---- shell commands ----------------------------------------------------------------
# ```console blocks: each "$ bin/nocklab ..." line runs (bin/nocklab being
# the nocklab under test) in the directory the session ran in, after it,
# and prints the lines shown; timings and rates may differ.

console_normalize() { sed -E 's/[0-9]+(\.[0-9]+)? (us|ms|s)\b/TIME/g; s/[0-9,]+ events\/s/RATE/g'; }
nocklab_path=$(cd "$(dirname "$NOCKLAB")" && pwd)/$(basename "$NOCKLAB")
shell_commands=()
shell_expected=()
in_block=0
while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ $in_block -eq 0 ]]; then
        [[ "$line" == '```console' ]] && in_block=1
        continue
    fi
    if [[ "$line" == '```' ]]; then
        in_block=0
    elif [[ "$line" == '$ '* ]]; then
        shell_commands+=("${line#\$ }")
        shell_expected+=("")
    elif [[ ${#shell_commands[@]} -gt 0 ]]; then
        last=$((${#shell_commands[@]} - 1))
        shell_expected[$last]+="$line"$'\n'
    fi
done <"$tutorial"
for ((i = 0; i < ${#shell_commands[@]}; i++)); do
    command=${shell_commands[$i]}
    name="tutorial-shell-$((i + 1)): ${command:0:60}"
    if [[ "$command" != "bin/nocklab "* ]]; then
        fail "$name" "only bin/nocklab commands run here"
        continue
    fi
    # the words are the tutorial's, quoted as a shell would read them
    got=$(cd "$work" && bash -c "\"\$0\" ${command#bin/nocklab }" "$nocklab_path" 2>&1 | sed "s#$work/##g" |
        console_normalize)
    want=$(printf '%s' "${shell_expected[$i]}" | console_normalize)
    if [[ "$want" == "$got" ]]; then
        pass "$name"
    else
        fail "$name" "--- the tutorial shows:" "$want" "--- nocklab printed:" "$got"
    fi
done

# ---- the :compare table ------------------------------------------------------------

# Its figures vary, so the table is shown in a plain block; what must hold
# is its shape: the header and the backends, in order, that :compare
# prints (stm among them).
shown=$(awk '/^nocklab> :compare /{on=1; next} on && /^```/{exit} on' "$tutorial")
printed=$(cd "$work" && "$nocklab_path" compare kv 20 2>&1)
shown_shape=$(printf '%s\n' "$shown" | awk 'NR == 1 || /^[a-z]+ +[0-9.]+s /{print $1}')
printed_shape=$(printf '%s\n' "$printed" | awk '/^backend /{on=1} on && (/^backend / || /^[a-z]+ +[0-9.]+s /){print $1}')
if [[ -n "$shown" && "$shown_shape" == "$printed_shape" && "$shown_shape" == *stm* &&
    "$(head -1 <<<"$shown")" == "$(grep -m1 '^backend ' <<<"$printed")" ]]; then
    pass tutorial-compare-table
else
    fail tutorial-compare-table "--- the tutorial shows:" "$shown" "--- nocklab compare kv 20 printed:" "$printed"
fi

# ---- every command documented --------------------------------------------------

mapfile -t names < <("$NOCKLAB" -e ':help' | sed -nE 's/^  :([a-z-]+).*/\1/p')
if [[ ${#names[@]} -lt 10 ]]; then
    fail help-lists-commands "only ${#names[@]} commands in :help"
fi
man_text=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' docs/nocklab.1)
missing_repl=() missing_man=()
for name in "${names[@]}"; do
    grep -q -- ":$name\b" docs/repl.md || missing_repl+=(":$name")
    grep -q -- ":$name\b" <<<"$man_text" || missing_man+=(":$name")
done
[[ ${#missing_repl[@]} -eq 0 ]] && pass repl-md-covers-commands || fail repl-md-covers-commands "missing: ${missing_repl[*]}"
[[ ${#missing_man[@]} -eq 0 ]] && pass man-page-covers-commands || fail man-page-covers-commands "missing: ${missing_man[*]}"

mapfile -t settings < <("$NOCKLAB" -e ':set' | awk '{print $1}')
missing=()
for setting in "${settings[@]}"; do
    grep -q -- ":set $setting\b" docs/repl.md || missing+=("$setting")
done
[[ ${#settings[@]} -ge 5 && ${#missing[@]} -eq 0 ]] && pass repl-md-covers-settings ||
    fail repl-md-covers-settings "missing: ${missing[*]}"

if command -v man >/dev/null 2>&1; then
    rendered=$(MANWIDTH=80 man -l docs/nocklab.1 2>&1 | col -b 2>/dev/null)
    [[ "$rendered" == *"NAME"*"nocklab"*"SYNOPSIS"*"COMMANDS"* ]] && pass man-page-renders ||
        fail man-page-renders "$(echo "$rendered" | head -5)"
fi
