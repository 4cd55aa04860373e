/* interactive.h -- the REPL at a terminal: GNU readline, history, completion.
 *
 * Keys are readline's (Emacs by default, vi with `set editing-mode vi` in
 * ~/.inputrc, in a `$if nocklab` block if wanted).  History is kept across
 * runs in $XDG_STATE_HOME/nocklab/history (~/.local/state/nocklab/history by
 * default).  Tab completes command names, bound names, hint tags, setting
 * names and values, and file paths after :load / :save.  A line with an
 * unclosed '[' continues on the next, under a "...>" prompt.  Ctrl-C
 * discards the line being typed, or interrupts the running evaluation;
 * Ctrl-D or :quit ends the session.  docs/repl.md is the user's page.
 */
#ifndef NOCKLAB_INTERACTIVE_H
#define NOCKLAB_INTERACTIVE_H

#include "repl/session.h"

/* Make the session one a person reads at a terminal: values elided to a
 * screenful (print-cells 400, print-depth 12) and long output paged.
 * Done before the init file runs, so its :set lines win. */
void interactive_prepare(struct session *session);

/* Run the REPL on the terminal until end of input or :quit.  Takes over
 * SIGINT and SIGWINCH while it runs (and puts the old handlers back).
 * Returns the program's exit status. */
int interactive_run(struct session *session);

/* The history file's path ($XDG_STATE_HOME/nocklab/history, or
 * $HOME/.local/state/nocklab/history), written into `out`; false when
 * neither variable is set or the path does not fit. */
bool interactive_history_path(char *out, size_t size);

#endif
