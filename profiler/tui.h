/* tui.h -- the live panes: what each event costs, as it runs.
 *
 * While the panes are up they own the terminal.  A thread of their own
 * draws them ten times a second from the process's monitor
 * (profiler/monitor.h) and the Nock sampler's counts (the hot arms), reads
 * the keys, and shows everything the program writes to standard output and
 * standard error (both are redirected into it) in an output area at the
 * bottom.  The thread that does the work never waits for the screen.
 *
 *   +- nocklab  replay store  replaying 1200/5000 ----------- q quits -+
 *   | events                       | snapshot                         |
 *   |  latest events, a sparkline  | dedup                            |
 *   |  of wall time, p50 p99 max,  | backend                          |
 *   |  events/s                    | hot arms                         |
 *   | output lines ...                                                |
 *   | nocklab> the prompt (REPL mode)                                 |
 *
 * Two modes.  TUI_RUN (replay, gen): no prompt; `q` before the end asks
 * the work to stop through the quit callback (tui_finish then returns at
 * once); once tui_finish shows the summary, `q` closes.  TUI_REPL: the bottom line is the REPL's prompt; the REPL keeps
 * its line editor (readline, in callback mode) on its own thread, reading
 * the keys the panes pass on through tui_key_fd and showing its line with
 * tui_set_prompt.  Tab on an empty prompt, and Tab on a pane, move the
 * focus; on a pane, arrows scroll it and `q` asks to leave the panes
 * (tui_leave_requested, signalled on tui_notify_fd).
 *
 * NO_COLOR in the environment (any value) turns colour off; focus and
 * titles are then shown with reverse video and bold only.
 */
#ifndef NOCKLAB_TUI_H
#define NOCKLAB_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "profiler/folded.h"

enum tui_mode { TUI_RUN, TUI_REPL };

struct tui_options {
    enum tui_mode mode;
    const char *title;            /* e.g. "replay ./store" */
    struct folded *hot;           /* Nock samples for the hot arms pane; may be NULL */
    void (*quit)(void *context);  /* TUI_RUN: q before the work ended (may be NULL) */
    void *quit_context;
    /* The terminal to draw on, for tests and benchmarks; NULL: the
     * process's standard input and output, which must be a terminal. */
    FILE *screen_in, *screen_out;
};

struct tui;

/* Whether standard input and output are a terminal the panes can use;
 * false with the reason in `why`. */
bool tui_terminal_usable(char *why, size_t why_size);

/* Put the panes up; NULL with the reason in `why`. */
struct tui *tui_open(const struct tui_options *options, char *why, size_t why_size);
/* Take them down and give the terminal, standard output and standard
 * error back (output written meanwhile is drained into the output area
 * first; it is not repeated on the terminal). */
void tui_close(struct tui *tui);

/* TUI_RUN: the work ended; show `summary` (lines separated by '\n') and
 * wait until the user presses q (unless q already stopped the work). */
void tui_finish(struct tui *tui, const char *summary);

/* TUI_REPL: the read end of the keys typed at the prompt, for the line
 * editor; a descriptor that becomes readable when the user asks to leave
 * the panes; whether they asked. */
int tui_key_fd(struct tui *tui);
int tui_notify_fd(struct tui *tui);
bool tui_leave_requested(struct tui *tui);
/* What the prompt line shows: the prompt, the line typed so far and the
 * cursor's offset in it. */
void tui_set_prompt(struct tui *tui, const char *prompt, const char *line, size_t cursor);

/* For benchmarks: frames drawn so far. */
unsigned long tui_frames(struct tui *tui);

#endif
