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
    int wake_pipe[2];                /* tui_set_prompt: redraw now */
};

/* ---- formatting --------------------------------------------------------------- */

/* A duration in a few characters: 812n, 12.3u, 4.56m, 1.20s. */
static void format_duration(uint64_t ns, char *out, size_t size)
{
    if (ns < 1000)
        snprintf(out, size, "%llun", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(out, size, "%.1fu", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(out, size, "%.2fm", (double)ns / 1e6);
    else
        snprintf(out, size, "%.2fs", (double)ns / 1e9);
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

/* A sparkline of values[0 .. count) (oldest first), scaled to their max,
 * into `out` (count characters plus a NUL). */
static void sparkline(const uint64_t *values, size_t count, char *out)
{
    uint64_t max = 0;
    for (size_t i = 0; i < count; i++)
        if (values[i] > max)
            max = values[i];
    size_t levels = sizeof spark_levels - 1;
    for (size_t i = 0; i < count; i++)
        out[i] = spark_levels[max ? (size_t)((double)values[i] / (double)max * (double)(levels - 1) + 0.5) : 0];
    out[count] = 0;
}

/* A labelled sparkline of one metric of the newest events, fitted to the
 * box's inner width. */
static void put_spark(const struct tui *tui, const struct box *box, int index, const char *label,
                      size_t offset_of_metric)
{
    int row = inner_row(box, index);
    int width = box->width - 2 - (int)strlen(label) - 1;
    if (row < 0 || width < 4)
        return;
    size_t count = tui->view.recent_count < (size_t)width ? tui->view.recent_count : (size_t)width;
    uint64_t values[512];
    for (size_t i = 0; i < count; i++) {
        const struct monitor_event *event = &tui->view.recent[count - 1 - i];
        values[i] = *(const uint64_t *)((const char *)event + offset_of_metric);
    }
    char line[600];
    sparkline(values, count, line);
    put(row, box->left + 1, box->width - 2, label);
    attron(colour(tui, COLOUR_BAR));
    put(row, box->left + 1 + (int)strlen(label) + 1, width, line);
    attroff(colour(tui, COLOUR_BAR));
}

/* ---- the panes ---------------------------------------------------------------- */

static void draw_events(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_EVENTS);
    const struct monitor_view *view = &tui->view;
    char line[256], a[16], b[16], c[16], d[16], e[16], f[16];
    int rows = box->height - 2;
    put_inner(box, 0, "   event    wall     cpu  steps  alloc copyout");
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
        snprintf(line, sizeof line, "%8llu %7s %7s %6s %6s %7s", (unsigned long long)event->number, a, b, c, d, e);
        put_inner(box, 1 + i, line);
    }
    put_spark(tui, box, rows - 2, "wall", offsetof(struct monitor_event, wall_ns));
    format_duration(view->p50_wall_ns, a, sizeof a);
    format_duration(view->p99_wall_ns, b, sizeof b);
    format_duration(view->max_wall_ns, c, sizeof c);
    format_count((uint64_t)(view->events_per_second + 0.5), f, sizeof f);
    snprintf(line, sizeof line, "p50 %s p99 %s max %s  %s ev/s", a, b, c, f);
    int row = inner_row(box, rows - 1);
    if (row >= 0)
        put_attr(row, box->left + 1, box->width - 2, line, colour(tui, COLOUR_NUMBER) | A_BOLD);
}

static void draw_snapshot(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_SNAPSHOT);
    const struct monitor_snapshots *snapshots = &tui->view.snapshots;
    char line[160], a[16], b[16], c[16];
    if (!snapshots->kind[0] || snapshots->taken == 0) {
        snprintf(line, sizeof line, "store %s: no snapshots", snapshots->kind[0] ? snapshots->kind : "none");
        put_inner(box, 0, line);
        put_spark(tui, box, 1, "dirty", offsetof(struct monitor_event, dirty_pages));
        return;
    }
    snprintf(line, sizeof line, "store %s, %llu taken", snapshots->kind, (unsigned long long)snapshots->taken);
    put_inner(box, 0, line);
    put_spark(tui, box, 1, "dirty", offsetof(struct monitor_event, dirty_pages));
    format_bytes(snapshots->bytes, a, sizeof a);
    format_duration(snapshots->wall_ns, b, sizeof b);
    format_bytes(snapshots->file_bytes, c, sizeof c);
    snprintf(line, sizeof line, "last @%llu: %llu pages %s %s", (unsigned long long)snapshots->event,
             (unsigned long long)snapshots->pages, a, b);
    put_inner(box, 2, line);
    snprintf(line, sizeof line, "file %s", c);
    put_inner(box, 3, line);
}

static void draw_dedup(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_DEDUP);
    const struct noun_dedup_stats *dedup = &tui->view.dedup;
    char line[160], a[16], b[16], c[16];
    format_count(dedup->entries, a, sizeof a);
    format_count(dedup->capacity, b, sizeof b);
    snprintf(line, sizeof line, "table %s/%s (%.0f%% load)", a, b,
             dedup->capacity ? 100.0 * (double)dedup->entries / (double)dedup->capacity : 0.0);
    put_inner(box, 0, line);
    put_spark(tui, box, 1, "looked", offsetof(struct monitor_event, dedup_lookups));
    put_spark(tui, box, 2, "hits  ", offsetof(struct monitor_event, dedup_hits));
    format_bytes(tui->view.dedup_saved_in_run, c, sizeof c);
    snprintf(line, sizeof line, "hit rate %.1f%%  saved %s",
             dedup->lookups ? 100.0 * (double)dedup->hits / (double)dedup->lookups : 0.0, c);
    put_inner(box, 3, line);
}

static void draw_backend(struct tui *tui, const struct box *box)
{
    draw_frame(tui, box, PANE_BACKEND);
    const struct monitor_backend *backend = &tui->view.backend;
    char line[160];
    if (!backend->name[0]) {
        put_inner(box, 0, "serial (no run yet)");
        return;
    }
    snprintf(line, sizeof line, "%s, %u worker%s", backend->name, backend->workers, backend->workers == 1 ? "" : "s");
    put_inner(box, 0, line);
    snprintf(line, sizeof line, "queue %llu  in flight %llu", (unsigned long long)backend->queued,
             (unsigned long long)backend->in_flight);
    put_inner(box, 1, line);
    int index = 2;
    if (backend->fork_children || strcmp(backend->name, "fork") == 0) {
        snprintf(line, sizeof line, "fork children %llu", (unsigned long long)backend->fork_children);
        put_inner(box, index++, line);
    }
    if (backend->stm_commits || backend->stm_conflicts || strcmp(backend->name, "stm") == 0) {
        snprintf(line, sizeof line, "stm commits %llu conflicts %llu re-runs %llu",
                 (unsigned long long)backend->stm_commits, (unsigned long long)backend->stm_conflicts,
                 (unsigned long long)backend->stm_reruns);
        put_inner(box, index++, line);
    }
    for (uint32_t w = 0; w < backend->workers && w < MONITOR_MAX_WORKERS; w++) {
        snprintf(line, sizeof line, "w%u: %s", w, backend->doing[w][0] ? backend->doing[w] : "idle");
        put_inner(box, index++, line);
    }
}

/* The end of a long label path, which says the most ("..ut/mint"); other
 * names keep their start. */
static const char *label_tail(const char *name, int width)
{
    int length = (int)strlen(name);
    return length <= width || !strchr(name, '/') ? name : name + (length - width);
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
        char line[200];
        int name_width = box->width - 2 - 6;
        snprintf(line, sizeof line, "%4.0f%% %s", 100.0 * (double)frame->self / (double)total,
                 label_tail(frame->name, name_width > 0 ? name_width : 1));
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

/* The output area's lines, newest last, into rows [top, top + rows). */
static void draw_output(struct tui *tui, int top, int rows)
{
    for (int i = 0; i < rows; i++) {
        size_t back = (size_t)(rows - i); /* 1 = newest */
        const char *text = tui->output[(tui->output_next + OUTPUT_LINES - back) % OUTPUT_LINES];
        put(top + i, 0, COLS, text);
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
    /* the right column: snapshot and dedup want 4 lines each, backend 2
     * or more, hot arms whatever is left */
    int heights[4] = { 4, 6, 4, 0 };
    int fixed = heights[0] + heights[1] + heights[2];
    if (pane_rows - fixed < 4) {
        heights[0] = heights[1] = heights[2] = pane_rows / 4;
        fixed = 3 * heights[0];
    }
    heights[3] = pane_rows - fixed;
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
        /* long summary lines wrap rather than lose their end */
        for (char *line = strtok(summary, "\n"); line && row < LINES - 1; line = strtok(NULL, "\n"))
            for (size_t at = 0, length = strlen(line); at < length && row < LINES - 1; at += (size_t)COLS)
                put_attr(row++, 0, COLS, line + at, A_BOLD);
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
