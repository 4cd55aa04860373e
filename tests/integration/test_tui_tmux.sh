#!/bin/bash
# test_tui_tmux.sh -- the live panes, driven through a real terminal (tmux).
# A replay of a store big enough to run for a few seconds under the panes:
# every pane's title, numbers that change between two captures, the summary
# that stays until q.  Then 80x24 with NO_COLOR, a resize and q in the
# middle of a run; a pma store's dirty pages and write faults; compare,
# whose backend pane follows fork, threads and stm in turn; the REPL with
# a line typed and run while the panes are up, :tui off/on, Tab and one q;
# and --tui without a terminal.  Every wait is
# for something on the screen, never a fixed time.  "SKIP" without tmux.
cd "$(dirname "$0")/../.." || exit 1
source tests/integration/lib.sh

if ! command -v tmux >/dev/null 2>&1; then
    echo "SKIP test_tui_tmux.sh: tmux is not installed"
    exit 0
fi

work=$(mktemp -d)
starts=0
socket="nocklab-tui-$$-0"
tmux_() { tmux -L "$socket" -f /dev/null "$@"; }
cleanup() {
    local i
    for ((i = 0; i <= starts; i++)); do
        tmux -L "nocklab-tui-$$-$i" kill-server >/dev/null 2>&1
        rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/nocklab-tui-$$-$i"
    done
    rm -rf "$work"
}
trap cleanup EXIT
case "$NOCKLAB" in /*) program=$NOCKLAB ;; *) program=$PWD/$NOCKLAB ;; esac

fail() { echo "FAIL $1"; shift; for line in "$@"; do echo "  ${line:0:600}"; done; }

# start WIDTH HEIGHT COMMAND...: run a command in a fresh pane of that size.
start() {
    local width=$1 height=$2; shift 2
    tmux_ kill-server >/dev/null 2>&1
    starts=$((starts + 1))
    socket="nocklab-tui-$$-$starts"
    tmux_ new-session -d -s tui -x "$width" -y "$height" \
        "cd $work && env HOME=$work TERM=xterm-256color INPUTRC=/dev/null LC_ALL=C $*; echo nocklab-exited-\$?; sleep 60"
}
screen() { tmux_ capture-pane -p -t tui 2>/dev/null; }
screen_escapes() { tmux_ capture-pane -p -e -t tui 2>/dev/null; }
keys() { tmux_ send-keys -t tui "$@"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
wait_for() {
    local pattern=$1 limit_ms=$(( ${2:-10} * 1000 )) start
    start=$(now_ms)
    while :; do
        screen | grep -Eq -- "$pattern" && return 0
        (( $(now_ms) - start > limit_ms )) && return 1
        sleep 0.05
    done
}
# wait_plain_prompt [SECONDS]: until one capture shows the plain prompt
# and no pane (the panes' own bottom line is a "nocklab> " prompt too).
wait_plain_prompt() {
    local limit_ms=$(( ${1:-10} * 1000 )) start shown
    start=$(now_ms)
    while :; do
        shown=$(screen)
        grep -Eq '^nocklab> *$' <<<"$shown" && ! grep -Eq -- '- events -|\[events\]' <<<"$shown" && return 0
        (( $(now_ms) - start > limit_ms )) && return 1
        sleep 0.05
    done
}
expect() {
    if wait_for "$2" "${3:-10}"; then pass "$1"; else fail "$1" "wanted a line matching: $2" "$(screen | tail -24)"; fi
}
# The newest event number in the events pane (the first row under its header).
top_event() { screen | grep -A1 ' event  *wall' | sed -n '2s/^| *\([0-9][0-9]*\) .*/\1/p'; }

# ---- a store that takes a few seconds to replay --------------------------------------
# (counter events replay at about 200,000 a second on an idle machine: the
# panes must be caught while the replay is still going)
"$NOCKLAB" gen counter 600000 "$work/store" >/dev/null 2>&1 || fail store-generated "nocklab gen failed"

# ---- replay under the panes -----------------------------------------------------------
start 100 32 "$program --tui replay store"
expect replay-panes-up 'replaying [0-9]+/600000' 20
first=$(screen)
for title in events snapshot dedup backend 'hot arms'; do
    if grep -q -- "- $title -\|\[$title\]" <<<"$first"; then pass "title-${title// /-}"; else fail "title-${title// /-}" "$first"; fi
done
grep -q 'no snapshots' <<<"$first" && pass snapshot-none || fail snapshot-none "$first"
grep -q 'serial' <<<"$first" && pass backend-serial || fail backend-serial "$first"
grep -Eq 'p50 [0-9.]+[num]s? p99' <<<"$first" && pass percentiles-shown || fail percentiles-shown "$first"
first_event=$(top_event)
expect hot-arms-sampled '[0-9]+% core 0x' 
# the second capture: wait until the newest event is another one
changed=""
deadline=$(( $(now_ms) + 20000 ))
while (( $(now_ms) < deadline )); do
    second_event=$(top_event)
    if [[ -n "$first_event" && -n "$second_event" && "$second_event" != "$first_event" ]]; then changed=1; break; fi
    grep -q 'done: press q' <<<"$(screen)" && break
    sleep 0.05
done
[[ -n "$changed" ]] && pass events-change ||
    fail events-change "first $first_event second $second_event" "$(screen | head -8)"
table_first=$(grep -o 'table [0-9.k]*/' <<<"$first")
second=$(screen)
table_second=$(grep -o 'table [0-9.k]*/' <<<"$second")
[[ "$table_first" != "$table_second" ]] && pass dedup-table-grows ||
    { grep -q 'done: press q' <<<"$second" || fail dedup-table-grows "$table_first / $table_second"; }
[[ $(screen_escapes) == *$'\e['*3?m* || $(screen_escapes) == *$'\e[38;5;'* ]] && pass colour-without-NO_COLOR ||
    fail colour-without-NO_COLOR "no colour escapes on the screen"
expect summary-stays 'done: press q to quit' 60
expect summary-line 'replayed 600,000 events in'
keys q
expect replay-exits-after-q 'nocklab-exited-0' 10
expect replay-prints-mug-after 'event 600000 mug 0x'

# ---- 80x24, NO_COLOR, a resize, q in the middle ------------------------------------------
start 80 24 "NO_COLOR=1 $program --tui replay store"
expect small-panes-up 'replaying [0-9]+/600000' 20
small=$(screen)
ok=1
for title in events snapshot dedup backend 'hot arms'; do grep -q -- "- $title -\|\[$title\]" <<<"$small" || ok=""; done
[[ -n "$ok" ]] && pass small-all-titles || fail small-all-titles "$small"
widest=$(awk '{ if (length($0) > w) w = length($0) } END { print w }' <<<"$small")
(( widest <= 80 )) && pass small-fits-80 || fail small-fits-80 "widest line $widest"
escapes=$(screen_escapes)
if grep -Eq $'\e\\[(3[0-7]|38;5;[0-9]+)m' <<<"$escapes"; then fail no-colour-with-NO_COLOR "colour escapes found"; else pass no-colour-with-NO_COLOR; fi
tmux_ resize-window -t tui -x 110 -y 30
if wait_for '^\+.{108}\+$' 10; then pass resize-wider; else fail resize-wider "$(screen | head -3)"; fi
tmux_ resize-window -t tui -x 80 -y 24
if wait_for '^\+.{78}\+$' 10; then pass resize-back; else fail resize-back "$(screen | head -3)"; fi
keys Tab
expect tab-moves-focus '\[snapshot\]'
keys q
expect q-ends-the-run 'nocklab-exited-[01]' 20

# ---- a pma store: the snapshot pane shows its dirty pages and write faults ----------------------
start 80 24 "$program --tui gen kv 60000 pmastore --snapshot pma --snap-every 500"
expect pma-snapshots-saved '\|pma, [0-9]+ saved, ' 30
expect pma-last-snapshot-pages '\|last @[0-9]+ [0-9.]+[mu]?s [0-9]+ pages' 30
expect pma-dirty-sparkline '\|dirty +[0-9]+ [_.,:=+*#%@-]+\|' 10
expect pma-faults-sparkline '\|faults +[0-9]+ [_.,:=+*#%@-]+\|' 10
keys q
expect pma-q-ends-the-run 'nocklab-exited-[01]' 20

# ---- stm: the backend pane says where its time goes --------------------------------------------
start 100 32 "$program --tui --backend stm gen kv 60000 stmstore"
expect stm-pane '\| *stm: spawns run inline' 30
expect stm-commits '\| *commits [0-9]+  conflicts [0-9]+' 30
expect stm-time-shares '\| *run [0-9]+% commit [0-9]+% copy [0-9]+% wait [0-9]+% finish [0-9]+%' 30
keys q
expect stm-q-ends-the-run 'nocklab-exited-[01]' 20

# ---- compare under the panes: the backend pane follows each backend in turn ------------------
start 100 32 "$program --tui compare mix 600"
expect compare-panes-up 'compare mix 600 ' 20
expect compare-fork-runs 'fork \(2 of 4\)' 60
expect compare-fork-children '\| *fork: [0-9]+ child(ren)? running' 30
expect compare-threads-runs 'threads \(3 of 4\)' 60
expect compare-threads-workers '\| *threads: [0-9]+ workers? ' 30
expect compare-threads-worker-lines '\| *w1 ' 30
expect compare-stm-counts '\| *commits [0-9]+  conflicts [0-9]+' 60
expect compare-summary 'serial [0-9.]+s 1\.00x; fork [0-9.]+s [0-9.]+x; threads [0-9.]+s [0-9.]+x; stm ' 60
keys q
expect compare-table-after-q '^stm +[0-9.]+s' 10
expect compare-exits 'nocklab-exited-0' 10

# ---- the REPL under the panes ------------------------------------------------------------------
start 80 24 "$program --store store --tui"
expect repl-panes-up 'nocklab +REPL' 20
expect repl-prompt '^nocklab> *$'
keys '*[42 [4 0 1]]'
expect repl-typed-line-shown '^nocklab> \*\[42 \[4 0 1\]\]'
keys Enter
expect repl-line-runs '^43 *$'
grep -q -- '- events -' <<<"$(screen)" && pass repl-panes-stay || fail repl-panes-stay "$(screen)"
keys ':tui off' Enter
if wait_plain_prompt 10; then pass tui-off; else fail tui-off "$(screen)"; fi
keys ':tui on' Enter
expect tui-on-again '- events -'
keys Tab
expect repl-tab-focus '\[events\]'
keys q
# one q, taken at once (the panes go within a frame)
if wait_plain_prompt 10; then pass repl-q-leaves-panes; else fail repl-q-leaves-panes "$(screen)"; fi
keys '*[1 [4 0 1]]' Enter
expect repl-works-after '^2$'
keys C-d
expect repl-exits 'nocklab-exited-0'

# ---- without a terminal ------------------------------------------------------------------
out=$("$NOCKLAB" --tui replay "$work/store" </dev/null 2>"$work/err")
grep -q 'need a terminal' "$work/err" && pass no-terminal-says-so || fail no-terminal-says-so "$(cat "$work/err")"
[[ "$out" == "event 600000 mug 0x"* ]] && pass no-terminal-runs-plain || fail no-terminal-runs-plain "$out"
exit 0
