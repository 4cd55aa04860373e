/* tui.c -- the live panes (see tui.h).
 *
 * One thread, the screen thread, does every ncurses call; nothing else
 * touches the screen.  It wakes on a key, on output arriving in the pipe
 * that standard output and error were pointed at, on a change of the
 * prompt line (the wake pipe), or every FRAME_MS, and
 * redraws the whole screen from a fresh monitor_read (ncurses sends only
 * what changed).  What other threads hand it (the prompt line, the
 * summary, output lines) goes through `lock`.
 *
 * Layout, recomputed on every frame so a resize needs nothing special: a
 * title bar; the events pane on the left; snapshot, dedup, backend and hot
 * arms stacked on the right; the output area and (REPL) the prompt at the
 * bottom.  Text that doesn't fit is cut, never wrapped.
 */
#include "profiler/tui.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "interp/clock.h"
#include "profiler/monitor.h"

#define FRAME_MS 100
#define OUTPUT_LINES 200
#define OUTPUT_LINE_BYTES 240
#define PROMPT_BYTES 4096
#define HOT_ROWS 32
/* ASCII levels, lowest first: they draw the same in every terminal and
 * font, with or without a UTF-8 locale. */
static const char spark_levels[] = "_.,:-=+*#%@";

enum pane { PANE_EVENTS, PANE_SNAPSHOT, PANE_DEDUP, PANE_BACKEND, PANE_HOT, PANE_COUNT };
static const char *const pane_titles[PANE_COUNT] = { "events", "snapshot", "dedup", "backend", "hot arms" };
/* The focus: a pane, or (REPL) the prompt. */
#define FOCUS_PROMPT PANE_COUNT

enum colour { COLOUR_TITLE = 1, COLOUR_FOCUS, COLOUR_NUMBER, COLOUR_BAR };

struct tui {
    struct tui_options options;
    pthread_t thread;
    pthread_mutex_t lock;
    bool quit;                       /* the screen thread should end */
    bool finished;                   /* tui_finish was called */
    bool closing;                    /* q was pressed */
    pthread_cond_t closed;
    bool leave_requested;
    char summary[1024];
    /* output area: a ring of lines; `partial` collects a line not ended yet */
    char output[OUTPUT_LINES][OUTPUT_LINE_BYTES];
    size_t output_next;
    char partial[OUTPUT_LINE_BYTES];
    size_t partial_length;
    /* prompt */
    char prompt[64];
    char line[PROMPT_BYTES];
    size_t cursor;
    /* screen thread only */
    SCREEN *screen;
    FILE *screen_in, *screen_out;
    bool own_screen_files;
    bool colour;
    int focus;
    size_t events_scroll, hot_scroll;
    unsigned long frames;
    struct monitor_view view;
    struct folded_frame hot[HOT_ROWS];
    size_t hot_count;
    /* descriptors */
    int saved_stdout, saved_stderr;  /* -1 when not redirected */
    int output_pipe[2];
    int key_pipe[2];
    int notify_pipe[2];
    int wake_pipe[2];                /* tui_set_prompt (redraw now), tui_close (quit now) */
};

/* ---- formatting --------------------------------------------------------------- */

/* A duration in at most 7 characters: 812ns, 12.3us, 4.56ms, 1.20s,
 * 12.5s, 3m05s. */
static void format_duration(uint64_t ns, char *out, size_t size)
{
    if (ns < 1000)
        snprintf(out, size, "%lluns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(out, size, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(out, size, "%.*fms", ns < 100000000 ? 2 : 1, (double)ns / 1e6);
    else if (ns < 100000000000ull)
        snprintf(out, size, "%.*fs", ns < 10000000000ull ? 2 : 1, (double)ns / 1e9);
    else
        snprintf(out, size, "%llum%02llus", (unsigned long long)(ns / 60000000000ull),
                 (unsigned long long)(ns / 1000000000ull % 60));
}

/* A count in a few characters, with `unit` after it: 950, 12.3k, 4.5M,
 * 1.2G (unit "") or 950B, 12.3KB (unit "B"). */
static void format_scaled(uint64_t n, const char *unit, char *out, size_t size)
{
    static const char prefixes[] = "kMG";
    if (n < 10000) {
        snprintf(out, size, "%llu%s", (unsigned long long)n, unit);
        return;
    }
    double value = (double)n / 1e3;
    int prefix = 0;
    while (value >= 1000 && prefix < 2) {
        value /= 1e3;
        prefix++;
    }
    char letter = prefixes[prefix];
    if (*unit && letter == 'k')
        letter = 'K';
    snprintf(out, size, "%.1f%c%s", value, letter, unit);
}

static void format_count(uint64_t n, char *out, size_t size) { format_scaled(n, "", out, size); }
static void format_bytes(uint64_t n, char *out, size_t size) { format_scaled(n, "B", out, size); }

/* ---- drawing helpers ---------------------------------------------------------- */

/* A rectangle of the screen. */
struct box {
    int top, left, height, width;
};

/* Text at (row, column) of the screen, cut at `width` columns. */
static void put(int row, int column, int width, const char *text)
{
    if (width <= 0 || row < 0 || row >= LINES)
        return;
    mvaddnstr(row, column, text, width);
}

static void put_attr(int row, int column, int width, const char *text, attr_t attributes)
{
    attron(attributes);
    put(row, column, width, text);
    attroff(attributes);
}

static attr_t colour(const struct tui *tui, enum colour which)
{
    return tui->colour ? COLOR_PAIR(which) : A_NORMAL;
}

/* A frame around `box` with its title; the focused pane is marked. */
static void draw_frame(struct tui *tui, const struct box *box, int pane)
{
    if (box->height < 2 || box->width < 4)
        return;
    bool focused = tui->focus == pane;
    attr_t frame = focused ? (tui->colour ? colour(tui, COLOUR_FOCUS) | A_BOLD : A_BOLD) : A_NORMAL;
    /* plain ASCII frames, like the sparklines: the same in every terminal,
     * in tmux, and in a text capture of the screen */
    attron(frame);
    mvhline(box->top, box->left + 1, '-', box->width - 2);
    mvhline(box->top + box->height - 1, box->left + 1, '-', box->width - 2);
    mvvline(box->top + 1, box->left, '|', box->height - 2);
    mvvline(box->top + 1, box->left + box->width - 1, '|', box->height - 2);
    mvaddch(box->top, box->left, '+');
    mvaddch(box->top, box->left + box->width - 1, '+');
    mvaddch(box->top + box->height - 1, box->left, '+');
    mvaddch(box->top + box->height - 1, box->left + box->width - 1, '+');
    attroff(frame);
    char title[48];
    snprintf(title, sizeof title, focused ? "[%s]" : " %s ", pane_titles[pane]);
    attr_t title_attributes = focused ? A_REVERSE | A_BOLD : colour(tui, COLOUR_TITLE) | A_BOLD;
    put_attr(box->top, box->left + 2, box->width - 4, title, title_attributes);
}

/* Row `index` inside a framed box, or -1 when it doesn't fit. */
static int inner_row(const struct box *box, int index)
{
    return index >= 0 && index < box->height - 2 ? box->top + 1 + index : -1;
}

static void put_inner(const struct box *box, int index, const char *text)
{
    int row = inner_row(box, index);
    if (row >= 0)
        put(row, box->left + 1, box->width - 2, text);
}

/* How a sparkline is scaled and its newest value written. */
enum spark_kind {
    SPARK_TIME,   /* durations, on a log scale: one slow commit among
                     microsecond events must not flatten the rest */
    SPARK_COUNT,  /* counts, linear from zero */
};

/* A sparkline of values[0 .. count) (oldest first) into `out` (count
 * characters plus a NUL).  The lowest level is zero; a log scale spans
 * the smallest value above zero to the largest, and falls back to a
 * linear one when they are within a factor of 4. */
static void sparkline(const uint64_t *values, size_t count, enum spark_kind kind, char *out)
{
    uint64_t max = 0, min = UINT64_MAX;
    for (size_t i = 0; i < count; i++) {
        if (values[i] > max)
            max = values[i];
        if (values[i] && values[i] < min)
            min = values[i];
    }
    size_t top = sizeof spark_levels - 2;
    bool logarithmic = kind == SPARK_TIME && max > 0 && max / min >= 4;
    double span = logarithmic ? log((double)max / (double)min) : 0;
    for (size_t i = 0; i < count; i++) {
        size_t level = 0;
        if (values[i] && logarithmic)
            level = 1 + (size_t)(log((double)values[i] / (double)min) / span * (double)(top - 1) + 0.5);
        else if (values[i])
            level = (size_t)((double)values[i] / (double)max * (double)top + 0.5);
        out[i] = spark_levels[level];
    }
    out[count] = 0;
}

/* "label newest sparkline": one metric of the newest events, the newest
 * value written out (a sparkline alone can't say 4 from 4,000), fitted to
 * the box's inner width. */
static void put_spark(const struct tui *tui, const struct box *box, int index, const char *label,
                      size_t offset_of_metric, enum spark_kind kind)
{
    int row = inner_row(box, index);
    if (row < 0)
        return;
    const struct monitor_view *view = &tui->view;
    char head[48], value[16] = "-";
    if (view->recent_count) {
        uint64_t newest = *(const uint64_t *)((const char *)&view->recent[0] + offset_of_metric);
        if (kind == SPARK_TIME)
            format_duration(newest, value, sizeof value);
        else
            format_count(newest, value, sizeof value);
    }
    snprintf(head, sizeof head, "%s %7s ", label, value);
    int head_length = (int)strlen(head);
    int width = box->width - 2 - head_length;
    put(row, box->left + 1, box->width - 2, head);
    if (width < 4)
        return;
    size_t count = view->recent_count < (size_t)width ? view->recent_count : (size_t)width;
    uint64_t values[MONITOR_RECENT];
    for (size_t i = 0; i < count; i++)
        values[i] = *(const uint64_t *)((const char *)&view->recent[count - 1 - i] + offset_of_metric);
    char line[MONITOR_RECENT + 1];
    sparkline(values, count, kind, line);
    attron(colour(tui, COLOUR_BAR));
    put(row, box->left + 1 + head_length, width, line);
    attroff(colour(tui, COLOUR_BAR));
}

/* ---- the panes ---------------------------------------------------------------- */

static void draw_events(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_EVENTS);
    const struct monitor_view *view = &tui->view;
    char line[256], a[16], b[16], c[16], d[16], e[16], f[16];
    int rows = box->height - 2;
    /* a wider pane shows dedup per event, and dirty pages, too */
    int inner = box->width - 2;
    bool with_dedup = inner >= 46 + 14, with_dirty = inner >= 46 + 14 + 14;
    snprintf(line, sizeof line, "  event    wall     cpu  steps   alloc copyout%s%s", with_dedup ? " looked   hits" : "",
             with_dirty ? "  dirty faults" : "");
    put_inner(box, 0, line);
    int list_rows = rows - 3;
    if (tui->events_scroll + (size_t)(list_rows > 0 ? list_rows : 0) > view->recent_count)
        tui->events_scroll = view->recent_count > (size_t)list_rows ? view->recent_count - (size_t)list_rows : 0;
    for (int i = 0; i < list_rows; i++) {
        size_t at = tui->events_scroll + (size_t)i;
        if (at >= view->recent_count) {
            if (i == 0)
                put_inner(box, 1, view->events ? "" : "  (no events yet)");
            break;
        }
        const struct monitor_event *event = &view->recent[at];
        format_duration(event->wall_ns, a, sizeof a);
        format_duration(event->cpu_ns, b, sizeof b);
        format_count(event->steps, c, sizeof c);
        format_bytes(event->bytes_allocated, d, sizeof d);
        format_bytes(event->copy_out_bytes, e, sizeof e);
        int used = snprintf(line, sizeof line, "%7llu %7s %7s %6s %7s %7s", (unsigned long long)event->number, a, b,
                            c, d, e);
        if (with_dedup) {
            format_count(event->dedup_lookups, a, sizeof a);
            format_count(event->dedup_hits, b, sizeof b);
            used += snprintf(line + used, sizeof line - (size_t)used, " %6s %6s", a, b);
        }
        if (with_dirty) {
            format_count(event->dirty_pages, a, sizeof a);
            format_count(event->write_faults, b, sizeof b);
            snprintf(line + used, sizeof line - (size_t)used, " %6s %6s", a, b);
        }
        put_inner(box, 1 + i, line);
    }
    put_spark(tui, box, rows - 2, "wall", offsetof(struct monitor_event, wall_ns), SPARK_TIME);
    format_duration(view->p50_wall_ns, a, sizeof a);
    format_duration(view->p99_wall_ns, b, sizeof b);
    format_duration(view->max_wall_ns, c, sizeof c);
    format_count((uint64_t)(view->events_per_second + 0.5), f, sizeof f);
    if (view->events)
        snprintf(line, sizeof line, "p50 %s p99 %s max %s  %s ev/s", a, b, c, f);
    else
        snprintf(line, sizeof line, "p50 - p99 - max -  0 ev/s");
    int row = inner_row(box, rows - 1);
    if (row >= 0)
        put_attr(row, box->left + 1, box->width - 2, line, colour(tui, COLOUR_NUMBER) | A_BOLD);
}

/* Whether the store tracks dirty pages: a PMA does (its kind says so
 * before any event dirtied a page, so the pane doesn't change shape). */
static bool dirty_pages_known(const struct monitor_view *view)
{
    if (strncmp(view->snapshots.kind, "pma", 3) == 0)
        return true;
    for (size_t i = 0; i < view->recent_count; i++)
        if (view->recent[i].dirty_pages)
            return true;
    return false;
}

static void draw_snapshot(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_SNAPSHOT);
    const struct monitor_snapshots *snapshots = &tui->view.snapshots;
    char line[160], a[16], b[16], c[16];
    if (!snapshots->kind[0]) {
        put_inner(box, 0, "no snapshots kept");
        put_inner(box, 1, "(--snapshot jam keeps them)");
        return;
    }
    format_bytes(snapshots->file_bytes, c, sizeof c);
    snprintf(line, sizeof line, "%s, %llu saved, %s", snapshots->kind, (unsigned long long)snapshots->taken, c);
    put_inner(box, 0, line);
    if (snapshots->taken == 0 && snapshots->event) {
        snprintf(line, sizeof line, "newest @%llu, none saved yet", (unsigned long long)snapshots->event);
        put_inner(box, 1, line);
    } else if (snapshots->taken == 0) {
        put_inner(box, 1, "no snapshots saved yet");
    } else {
        format_bytes(snapshots->bytes, a, sizeof a);
        format_duration(snapshots->wall_ns, b, sizeof b);
        /* what matters most first: a narrow pane cuts the end */
        if (snapshots->pages)
            snprintf(line, sizeof line, "last @%llu %s %llu pages %s", (unsigned long long)snapshots->event, b,
                     (unsigned long long)snapshots->pages, a);
        else
            snprintf(line, sizeof line, "last @%llu %s %s", (unsigned long long)snapshots->event, b, a);
        put_inner(box, 1, line);
    }
    /* dirty pages are a PMA's: a jam snapshot rewrites the whole kernel */
    if (dirty_pages_known(&tui->view)) {
        put_spark(tui, box, 2, "dirty ", offsetof(struct monitor_event, dirty_pages), SPARK_COUNT);
        put_spark(tui, box, 3, "faults", offsetof(struct monitor_event, write_faults), SPARK_COUNT);
    } else
        put_inner(box, 2, strstr(snapshots->kind, "jam") ? "dirty pages: jam has none" : "dirty pages: none yet");
}

static void draw_dedup(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_DEDUP);
    const struct noun_dedup_stats *dedup = &tui->view.dedup;
    char line[160], a[16], b[16], c[16];
    format_count(dedup->entries, a, sizeof a);
    format_count(dedup->capacity, b, sizeof b);
    format_bytes(tui->view.dedup_saved_in_run, c, sizeof c);
    if (dedup->capacity)
        snprintf(line, sizeof line, "table %s/%s %.0f%% load", a, b,
                 100.0 * (double)dedup->entries / (double)dedup->capacity);
    else
        snprintf(line, sizeof line, "table: not read yet");
    put_inner(box, 0, line);
    put_spark(tui, box, 1, "looked", offsetof(struct monitor_event, dedup_lookups), SPARK_COUNT);
    put_spark(tui, box, 2, "hits  ", offsetof(struct monitor_event, dedup_hits), SPARK_COUNT);
    snprintf(line, sizeof line, "hit rate %.1f%%  saved %s",
             dedup->lookups ? 100.0 * (double)dedup->hits / (double)dedup->lookups : 0.0, c);
    put_inner(box, 3, line);
}

/* Where STM's time went, as :profile says it: the workers' time in its
 * parallel epochs running events, committing, copying results to home
 * and waiting, and the share of all its time the copies after the
 * epochs (finishing) took. */
static void stm_time_line(const struct monitor_backend *backend, char *line, size_t size)
{
    struct stm_time_shares shares = stm_time_shares(&backend->stm_time);
    snprintf(line, size, "run %.0f%% commit %.0f%% copy %.0f%% wait %.0f%% finish %.0f%%", shares.running,
             shares.committing, shares.copying, shares.waiting, shares.finishing);
}

static void draw_backend(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_BACKEND);
    const struct monitor_backend *backend = &tui->view.backend;
    char line[200];
    if (!backend->name[0]) {
        put_inner(box, 0, "serial (no events yet)");
        return;
    }
    bool fork = strcmp(backend->name, "fork") == 0, stm = strcmp(backend->name, "stm") == 0;
    if (fork)
        snprintf(line, sizeof line, "fork: %llu child%s running", (unsigned long long)backend->fork_children,
                 backend->fork_children == 1 ? "" : "ren");
    else if (backend->workers)
        snprintf(line, sizeof line, "%s: %u worker%s", backend->name, backend->workers,
                 backend->workers == 1 ? "" : "s");
    else
        snprintf(line, sizeof line, "%s: spawns run inline", backend->name);
    put_inner(box, 0, line);
    /* the newest event reported, when the backend's state is older (it is
     * reported every few events, and not after the last) */
    uint64_t applying = backend->applying;
    if (tui->view.recent_count && tui->view.recent[0].number > applying)
        applying = tui->view.recent[0].number;
    snprintf(line, sizeof line, "event %llu  outcomes %llu", (unsigned long long)applying,
             (unsigned long long)backend->spawns);
    put_inner(box, 1, line);
    int index = 2;
    if (stm || backend->stm_commits) {
        snprintf(line, sizeof line, "commits %llu  conflicts %llu", (unsigned long long)backend->stm_commits,
                 (unsigned long long)backend->stm_conflicts);
        put_inner(box, index++, line);
        snprintf(line, sizeof line, "re-runs %llu", (unsigned long long)backend->stm_reruns);
        put_inner(box, index++, line);
        if (backend->stm_time.epoch_ns) {
            stm_time_line(backend, line, sizeof line);
            put_inner(box, index++, line);
        }
    }
    /* stm runs its spawns inline, as serial does: no queue to show */
    if (!stm || backend->in_flight) {
        snprintf(line, sizeof line, "queue %llu  in flight %llu", (unsigned long long)backend->queued,
                 (unsigned long long)backend->in_flight);
        put_inner(box, index++, line);
    }
    uint32_t shown = backend->workers < MONITOR_MAX_WORKERS ? backend->workers : MONITOR_MAX_WORKERS;
    for (uint32_t w = 0; w < shown; w++) {
        snprintf(line, sizeof line, "%s%u %s", fork ? "child " : "w", w + 1,
                 backend->doing[w][0] ? backend->doing[w] : "idle");
        put_inner(box, index++, line);
    }
}

/* A name in `width` columns, into `out`: of a long label path the end,
 * which says the most, after ".." ("..ut/mint"); other names keep their
 * start (the pane cuts them). */
static void label_tail(const char *name, int width, char *out, size_t size)
{
    int length = (int)strlen(name);
    if (length <= width || width < 4 || !strchr(name, '/'))
        snprintf(out, size, "%s", name);
    else
        snprintf(out, size, "..%s", name + (length - (width - 2)));
}

static void draw_hot(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_HOT);
    if (!tui->options.hot) {
        put_inner(box, 0, "(no sampler)");
        return;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < tui->hot_count; i++)
        total += tui->hot[i].self;
    if (tui->hot_count == 0) {
        put_inner(box, 0, "(none in the last second)");
        return;
    }
    int rows = box->height - 2;
    if (tui->hot_scroll >= tui->hot_count)
        tui->hot_scroll = tui->hot_count - 1;
    for (int i = 0; i < rows && tui->hot_scroll + (size_t)i < tui->hot_count; i++) {
        const struct folded_frame *frame = &tui->hot[tui->hot_scroll + (size_t)i];
        char line[200], name[sizeof frame->name + 2];
        label_tail(frame->name, box->width - 2 - 6, name, sizeof name);
        snprintf(line, sizeof line, "%4.0f%% %s", 100.0 * (double)frame->self / (double)total, name);
        put_inner(box, i, line);
    }
}

/* ---- the whole screen --------------------------------------------------------- */

static void draw_title(struct tui *tui)
{
    char line[512], progress[64] = "";
    const struct monitor_view *view = &tui->view;
    if (view->total)
        snprintf(progress, sizeof progress, " %llu/%llu", (unsigned long long)view->done,
                 (unsigned long long)view->total);
    const char *keys = tui->options.mode == TUI_REPL ? "Tab focus  q leaves (on a pane)"
                                                      : "Tab focus  arrows scroll  q quits";
    snprintf(line, sizeof line, " nocklab  %s  %s%s", tui->options.title ? tui->options.title : "",
             view->activity, progress);
    attron(A_REVERSE);
    mvhline(0, 0, ' ', COLS);
    put(0, 0, COLS, line);
    int keys_length = (int)strlen(keys);
    if ((int)strlen(line) + keys_length + 2 < COLS)
        put(0, COLS - keys_length - 1, keys_length, keys);
    attroff(A_REVERSE);
}

/* The output area's lines, newest last, into rows [top, top + rows); a
 * line wider than the screen wraps (an error's end is what says what to
 * do), so the newest lines are laid out from the bottom up. */
static void draw_output(struct tui *tui, int top, int rows)
{
    int width = COLS > 0 ? COLS : 1;
    int row = top + rows;
    for (size_t back = 1; back <= OUTPUT_LINES && back <= tui->output_next && row > top; back++) {
        const char *text = tui->output[(tui->output_next - back) % OUTPUT_LINES];
        int length = (int)strlen(text);
        int pieces = length == 0 ? 1 : (length + width - 1) / width;
        for (int piece = pieces - 1; piece >= 0 && row > top; piece--)
            put(--row, 0, width, text + piece * width);
    }
}

static void draw_prompt(struct tui *tui, int row)
{
    int prompt_length = (int)strlen(tui->prompt);
    int room = COLS - prompt_length - 1;
    if (room < 1)
        return;
    /* keep the cursor on screen: show the part of the line around it */
    size_t start = tui->cursor > (size_t)room ? tui->cursor - (size_t)room : 0;
    attr_t attributes = tui->focus == FOCUS_PROMPT ? A_BOLD : A_DIM;
    put_attr(row, 0, COLS, tui->prompt, attributes);
    put(row, prompt_length, room + 1, tui->line + start);
    if (tui->focus == FOCUS_PROMPT)
        move(row, prompt_length + (int)(tui->cursor - start));
}

/* Rows of the right column's panes (snapshot, dedup, backend, hot arms),
 * frames included, out of `rows`: each gets 3 to begin with, then more
 * in order of what it loses most by going without, and hot arms the rest. */
static void right_column_heights(int rows, int snapshot_lines, int backend_lines, int heights[4])
{
    if (rows < 12) {
        heights[0] = heights[1] = heights[2] = rows / 4;
        heights[3] = rows - 3 * (rows / 4);
        return;
    }
    static const struct {
        int pane, height;
    } steps[] = { { 0, 5 }, { 1, 5 }, { 2, 5 }, { 3, 4 }, { 0, 6 }, { 1, 6 }, { 2, 2 + 3 + 1 + MONITOR_MAX_WORKERS } };
    int left = rows - 12;
    for (int i = 0; i < 4; i++)
        heights[i] = 3;
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int pane = steps[i].pane, height = steps[i].height;
        if (pane == 2 && height > 2 + backend_lines)
            height = 2 + backend_lines;
        if (pane == 0 && height > 2 + snapshot_lines)
            height = 2 + snapshot_lines;
        while (heights[pane] < height && left > 0) {
            heights[pane]++;
            left--;
        }
    }
    heights[3] += left;
}

static void draw(struct tui *tui)
{
    monitor_read(monitor_process(), &tui->view);
    if (tui->options.hot) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        tui->hot_count = folded_recent(tui->options.hot, (uint64_t)now.tv_sec, tui->hot, HOT_ROWS);
    }
    erase();
    pthread_mutex_lock(&tui->lock);
    bool repl = tui->options.mode == TUI_REPL;
    int bottom_rows = repl ? (LINES >= 30 ? 6 : 3) + 1 : (tui->finished ? 5 : 2);
    int pane_rows = LINES - 1 - bottom_rows;
    if (pane_rows < 8) {
        bottom_rows = LINES - 1 - 8 > 1 ? LINES - 1 - 8 : 1;
        pane_rows = LINES - 1 - bottom_rows;
    }
    draw_title(tui);
    int left_width = COLS * 52 / 100;
    if (left_width < 48 && COLS >= 80)
        left_width = 48;
    struct box events = { 1, 0, pane_rows, left_width };
    draw_events(tui, &events);
    int right_left = left_width, right_width = COLS - left_width;
    /* the right column: snapshot 3 lines inside, dedup 4, backend 3 and
     * a line for STM and each worker, hot arms the rest (at least 2) */
    const struct monitor_backend *backend = &tui->view.backend;
    int backend_lines = 3 + (strcmp(backend->name, "stm") == 0 || backend->stm_commits ? 1 : 0) +
                        (backend->stm_time.epoch_ns ? 1 : 0) +
                        (int)(backend->workers < MONITOR_MAX_WORKERS ? backend->workers : MONITOR_MAX_WORKERS);
    int heights[4];
    /* a PMA's dirty pages and write faults take a line each */
    int snapshot_lines = dirty_pages_known(&tui->view) ? 4 : 3;
    right_column_heights(pane_rows, snapshot_lines, backend_lines, heights);
    int top = 1;
    void (*draw_pane[4])(struct tui *, const struct box *) = { draw_snapshot, draw_dedup, draw_backend, draw_hot };
    for (int i = 0; i < 4; i++) {
        struct box box = { top, right_left, heights[i], right_width };
        draw_pane[i](tui, &box);
        top += heights[i];
    }
    int output_top = 1 + pane_rows;
    if (repl) {
        draw_output(tui, output_top, bottom_rows - 1);
        draw_prompt(tui, LINES - 1);
    } else if (tui->finished) {
        char summary[sizeof tui->summary];
        memcpy(summary, tui->summary, sizeof summary);
        int row = output_top;
        /* long summary lines wrap, between words, rather than lose their end */
        for (char *line = strtok(summary, "\n"); line && row < LINES - 1; line = strtok(NULL, "\n"))
            for (size_t at = 0, length = strlen(line); at < length && row < LINES - 1;) {
                size_t piece = length - at;
                if (piece > (size_t)COLS) {
                    piece = (size_t)COLS;
                    while (piece > (size_t)COLS / 2 && line[at + piece] != ' ')
                        piece--;
                    if (line[at + piece] != ' ')
                        piece = (size_t)COLS;
                }
                char text[sizeof tui->summary];
                snprintf(text, sizeof text, "%.*s", (int)piece, line + at);
                put_attr(row++, 0, COLS, text, A_BOLD);
                at += piece;
                while (at < length && line[at] == ' ')
                    at++;
            }
        put_attr(LINES - 1, 0, COLS, "done: press q to quit", A_REVERSE);
    } else {
        draw_output(tui, output_top, bottom_rows);
    }
    pthread_mutex_unlock(&tui->lock);
    if (!repl || tui->focus != FOCUS_PROMPT)
        move(LINES - 1, COLS - 1);
    curs_set(repl && tui->focus == FOCUS_PROMPT ? 1 : 0);
    refresh();
    tui->frames++;
}

/* ---- input -------------------------------------------------------------------- */

/* Pass a key on to the line editor as the bytes a terminal would send. */
static void forward_key(struct tui *tui, int key)
{
    const char *sequence = NULL;
    char single[2] = { 0, 0 };
    switch (key) {
    case KEY_UP: sequence = "\033[A"; break;
    case KEY_DOWN: sequence = "\033[B"; break;
    case KEY_RIGHT: sequence = "\033[C"; break;
    case KEY_LEFT: sequence = "\033[D"; break;
    case KEY_HOME: sequence = "\033[H"; break;
    case KEY_END: sequence = "\033[F"; break;
    case KEY_DC: sequence = "\033[3~"; break;
    case KEY_BACKSPACE: single[0] = 127; break;
    case KEY_ENTER: single[0] = '\r'; break;
    default:
        if (key < 0 || key > 255)
            return;
        single[0] = (char)key;
    }
    if (!sequence)
        sequence = single;
    size_t length = sequence == single ? 1 : strlen(sequence);
    ssize_t written = write(tui->key_pipe[1], sequence, length);
    (void)written;
}

static void scroll_focused(struct tui *tui, long delta)
{
    size_t *scroll = tui->focus == PANE_HOT ? &tui->hot_scroll : tui->focus == PANE_EVENTS ? &tui->events_scroll
                                                                                          : NULL;
    if (!scroll)
        return;
    if (delta < 0)
        *scroll = *scroll > (size_t)-delta ? *scroll - (size_t)-delta : 0;
    else
        *scroll += (size_t)delta;
}

static void request_leave(struct tui *tui)
{
    pthread_mutex_lock(&tui->lock);
    tui->leave_requested = true;
    pthread_mutex_unlock(&tui->lock);
    ssize_t written = write(tui->notify_pipe[1], "q", 1);
    (void)written;
}

static void handle_key(struct tui *tui, int key)
{
    bool repl = tui->options.mode == TUI_REPL;
    if (repl && tui->focus == FOCUS_PROMPT) {
        pthread_mutex_lock(&tui->lock);
        bool empty = tui->line[0] == 0;
        pthread_mutex_unlock(&tui->lock);
        if (key == '\t' && empty)
            tui->focus = PANE_EVENTS;
        else
            forward_key(tui, key);
        return;
    }
    switch (key) {
    case '\t':
        tui->focus = tui->focus + 1;
        if (tui->focus >= PANE_COUNT)
            tui->focus = repl ? FOCUS_PROMPT : PANE_EVENTS;
        return;
    case KEY_BTAB:
        tui->focus = tui->focus == 0 ? (repl ? FOCUS_PROMPT : PANE_COUNT - 1) : tui->focus - 1;
        return;
    case KEY_UP: scroll_focused(tui, -1); return;
    case KEY_DOWN: scroll_focused(tui, 1); return;
    case KEY_PPAGE: scroll_focused(tui, -10); return;
    case KEY_NPAGE: scroll_focused(tui, 10); return;
    case KEY_HOME: scroll_focused(tui, -1000000); return;
    case 'q': case 'Q':
        if (repl) {
            request_leave(tui);
        } else {
            /* q quits: before the end it stops the work, and the
             * summary then doesn't wait for another q */
            pthread_mutex_lock(&tui->lock);
            bool finished = tui->finished;
            tui->closing = true;
            pthread_cond_broadcast(&tui->closed);
            pthread_mutex_unlock(&tui->lock);
            if (!finished && tui->options.quit)
                tui->options.quit(tui->options.quit_context);
        }
        return;
    case 27: /* Escape: back to the prompt */
        if (repl)
            tui->focus = FOCUS_PROMPT;
        return;
    default:
        if (repl && key >= 32 && key < 127) {
            tui->focus = FOCUS_PROMPT;
            forward_key(tui, key);
        }
        return;
    }
}

/* Take what arrived on the output pipe into the output area. */
static void read_output(struct tui *tui)
{
    char buffer[4096];
    for (;;) {
        ssize_t got = read(tui->output_pipe[0], buffer, sizeof buffer);
        if (got <= 0)
            return;
        pthread_mutex_lock(&tui->lock);
        for (ssize_t i = 0; i < got; i++) {
            char c = buffer[i];
            if (c == '\r')
                continue;
            if (c == '\n' || tui->partial_length + 1 >= OUTPUT_LINE_BYTES) {
                tui->partial[tui->partial_length] = 0;
                memcpy(tui->output[tui->output_next % OUTPUT_LINES], tui->partial, tui->partial_length + 1);
                tui->output_next++;
                tui->partial_length = 0;
                if (c == '\n')
                    continue;
            }
            tui->partial[tui->partial_length++] = (char)((unsigned char)c < 32 && c != '\t' ? '?' : c);
        }
        pthread_mutex_unlock(&tui->lock);
    }
}

/* Follow the terminal's size (ncurses' own SIGWINCH handling is not there
 * when someone else owns SIGWINCH, as the REPL does). */
static void follow_size(struct tui *tui)
{
    struct winsize size;
    if (ioctl(fileno(tui->screen_out), TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0 &&
        (size.ws_row != LINES || size.ws_col != COLS))
        resizeterm(size.ws_row, size.ws_col);
}

static void *screen_main(void *argument)
{
    struct tui *tui = argument;
    /* signals are for the thread doing the work (Ctrl-C interrupts it) */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    uint64_t next_frame = 0;
    for (;;) {
        pthread_mutex_lock(&tui->lock);
        bool quit = tui->quit;
        pthread_mutex_unlock(&tui->lock);
        if (quit)
            break;
        uint64_t now = clock_wall_nanoseconds();
        int wait_ms = next_frame > now ? (int)((next_frame - now) / 1000000) + 1 : 0;
        struct pollfd watched[3] = {
            { .fd = fileno(tui->screen_in), .events = POLLIN },
            { .fd = tui->output_pipe[0], .events = POLLIN },
            { .fd = tui->wake_pipe[0], .events = POLLIN },
        };
        int ready = poll(watched, 3, wait_ms);
        pthread_mutex_lock(&tui->lock);
        quit = tui->quit;
        pthread_mutex_unlock(&tui->lock);
        if (quit)
            break;
        bool redraw = false;
        if (ready > 0 && (watched[1].revents & POLLIN)) {
            read_output(tui);
            redraw = true;
        }
        if (ready > 0 && (watched[2].revents & POLLIN)) {
            char drained[64];
            while (read(tui->wake_pipe[0], drained, sizeof drained) > 0)
                continue;
            redraw = true;
        }
        follow_size(tui);
        int key;
        while ((key = getch()) != ERR) {
            if (key != KEY_RESIZE)
                handle_key(tui, key);
            redraw = true;
        }
        now = clock_wall_nanoseconds();
        if (redraw || now >= next_frame) {
            draw(tui);
            if (now >= next_frame)
                next_frame = now + FRAME_MS * 1000000ull;
        }
    }
    return NULL;
}

/* ---- opening and closing ------------------------------------------------------ */

bool tui_terminal_usable(char *why, size_t why_size)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        snprintf(why, why_size, "the panes need a terminal (standard input and output are not one)");
        return false;
    }
    const char *term = getenv("TERM");
    if (!term || !*term || strcmp(term, "dumb") == 0) {
        snprintf(why, why_size, "the panes need a terminal that can move the cursor (TERM is %s)",
                 term && *term ? term : "not set");
        return false;
    }
    return true;
}

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void close_pair(int pair[2])
{
    for (int i = 0; i < 2; i++)
        if (pair[i] >= 0) {
            close(pair[i]);
            pair[i] = -1;
        }
}

/* Point standard output and error at the output pipe (remembering where
 * they went). */
static bool redirect_output(struct tui *tui)
{
    fflush(stdout);
    fflush(stderr);
    tui->saved_stdout = dup(STDOUT_FILENO);
    tui->saved_stderr = dup(STDERR_FILENO);
    if (tui->saved_stdout < 0 || tui->saved_stderr < 0 || dup2(tui->output_pipe[1], STDOUT_FILENO) < 0 ||
        dup2(tui->output_pipe[1], STDERR_FILENO) < 0)
        return false;
    return true;
}

static void restore_output(struct tui *tui)
{
    fflush(stdout);
    fflush(stderr);
    if (tui->saved_stdout >= 0) {
        dup2(tui->saved_stdout, STDOUT_FILENO);
        close(tui->saved_stdout);
        tui->saved_stdout = -1;
    }
    if (tui->saved_stderr >= 0) {
        dup2(tui->saved_stderr, STDERR_FILENO);
        close(tui->saved_stderr);
        tui->saved_stderr = -1;
    }
}

static void free_tui(struct tui *tui)
{
    close_pair(tui->output_pipe);
    close_pair(tui->key_pipe);
    close_pair(tui->notify_pipe);
    close_pair(tui->wake_pipe);
    if (tui->own_screen_files) {
        if (tui->screen_in)
            fclose(tui->screen_in);
        if (tui->screen_out)
            fclose(tui->screen_out);
    }
    pthread_cond_destroy(&tui->closed);
    pthread_mutex_destroy(&tui->lock);
    free(tui);
}

static bool start_screen(struct tui *tui, char *why, size_t why_size)
{
    tui->screen = newterm(NULL, tui->screen_out, tui->screen_in);
    if (!tui->screen) {
        snprintf(why, why_size, "the terminal (TERM=%s) is not one ncurses knows", getenv("TERM") ? getenv("TERM") : "");
        return false;
    }
    set_term(tui->screen);
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    tui->colour = has_colors() && getenv("NO_COLOR") == NULL;
    if (tui->colour) {
        start_color();
        use_default_colors();
        init_pair(COLOUR_TITLE, COLOR_CYAN, -1);
        init_pair(COLOUR_FOCUS, COLOR_YELLOW, -1);
        init_pair(COLOUR_NUMBER, COLOR_GREEN, -1);
        init_pair(COLOUR_BAR, COLOR_MAGENTA, -1);
    }
    return true;
}

struct tui *tui_open(const struct tui_options *options, char *why, size_t why_size)
{
    if (!options->screen_out && !tui_terminal_usable(why, why_size))
        return NULL;
    struct tui *tui = calloc(1, sizeof *tui);
    if (!tui) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    tui->options = *options;
    tui->saved_stdout = tui->saved_stderr = -1;
    tui->output_pipe[0] = tui->output_pipe[1] = tui->key_pipe[0] = tui->key_pipe[1] = -1;
    tui->notify_pipe[0] = tui->notify_pipe[1] = tui->wake_pipe[0] = tui->wake_pipe[1] = -1;
    pthread_mutex_init(&tui->lock, NULL);
    pthread_cond_init(&tui->closed, NULL);
    tui->focus = options->mode == TUI_REPL ? FOCUS_PROMPT : PANE_EVENTS;
    snprintf(tui->prompt, sizeof tui->prompt, "nocklab> ");
    if (options->screen_out) {
        tui->screen_in = options->screen_in;
        tui->screen_out = options->screen_out;
    } else {
        int in = dup(STDIN_FILENO), out = dup(STDOUT_FILENO);
        tui->screen_in = in >= 0 ? fdopen(in, "r") : NULL;
        tui->screen_out = out >= 0 ? fdopen(out, "w") : NULL;
        tui->own_screen_files = true;
    }
    bool ok = tui->screen_in && tui->screen_out && pipe(tui->output_pipe) == 0 && pipe(tui->key_pipe) == 0 &&
              pipe(tui->notify_pipe) == 0 && pipe(tui->wake_pipe) == 0;
    if (!ok) {
        snprintf(why, why_size, "cannot set up the panes: %s", strerror(errno));
        free_tui(tui);
        return NULL;
    }
    set_nonblocking(tui->output_pipe[0]);
    set_nonblocking(tui->wake_pipe[0]);
    set_nonblocking(tui->wake_pipe[1]);
    if (!start_screen(tui, why, why_size)) {
        free_tui(tui);
        return NULL;
    }
    if (!options->screen_out && !redirect_output(tui)) {
        snprintf(why, why_size, "cannot redirect output into the panes: %s", strerror(errno));
        restore_output(tui);
        endwin();
        delscreen(tui->screen);
        free_tui(tui);
        return NULL;
    }
    monitor_set_watched(monitor_process(), true);
    draw(tui);
    int failed = pthread_create(&tui->thread, NULL, screen_main, tui);
    if (failed) {
        snprintf(why, why_size, "cannot start the screen thread: %s", strerror(failed));
        monitor_set_watched(monitor_process(), false);
        restore_output(tui);
        endwin();
        delscreen(tui->screen);
        free_tui(tui);
        return NULL;
    }
    return tui;
}

void tui_close(struct tui *tui)
{
    if (!tui)
        return;
    fflush(stdout);
    fflush(stderr);
    pthread_mutex_lock(&tui->lock);
    tui->quit = true;
    pthread_mutex_unlock(&tui->lock);
    /* wake the screen thread out of its wait for the next frame, so the
     * panes go as soon as they are asked to (q, :tui off), not up to a
     * frame later */
    ssize_t written = write(tui->wake_pipe[1], "", 1);
    (void)written;
    pthread_join(tui->thread, NULL);
    monitor_set_watched(monitor_process(), false);
    read_output(tui);
    endwin();
    delscreen(tui->screen);
    restore_output(tui);
    free_tui(tui);
}

void tui_finish(struct tui *tui, const char *summary)
{
    fflush(stdout);
    fflush(stderr);
    pthread_mutex_lock(&tui->lock);
    snprintf(tui->summary, sizeof tui->summary, "%s", summary);
    tui->finished = true;
    while (!tui->closing)
        pthread_cond_wait(&tui->closed, &tui->lock);
    pthread_mutex_unlock(&tui->lock);
}

int tui_key_fd(struct tui *tui) { return tui->key_pipe[0]; }
int tui_notify_fd(struct tui *tui) { return tui->notify_pipe[0]; }

bool tui_leave_requested(struct tui *tui)
{
    pthread_mutex_lock(&tui->lock);
    bool requested = tui->leave_requested;
    pthread_mutex_unlock(&tui->lock);
    return requested;
}

void tui_set_prompt(struct tui *tui, const char *prompt, const char *line, size_t cursor)
{
    pthread_mutex_lock(&tui->lock);
    snprintf(tui->prompt, sizeof tui->prompt, "%s", prompt ? prompt : "");
    snprintf(tui->line, sizeof tui->line, "%s", line ? line : "");
    size_t length = strlen(tui->line);
    tui->cursor = cursor < length ? cursor : length;
    pthread_mutex_unlock(&tui->lock);
    /* typing shows at once, not at the next frame (a full pipe means a
     * redraw is pending anyway) */
    ssize_t written = write(tui->wake_pipe[1], "", 1);
    (void)written;
}

unsigned long tui_frames(struct tui *tui) { return tui->frames; }
