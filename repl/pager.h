/* pager.h -- long command output on a terminal, a screen at a time.
 *
 * A command that can write thousands of lines (:step, :formula) writes them
 * through a pager.  Off a terminal (batch mode, a pipe, a test) every line
 * goes straight to the session output.  On a terminal, lines are held until
 * they would overflow the screen; output that fits is written as is, longer
 * output goes to $PAGER, else `less -FRX` when it is installed (what was
 * shown stays on the screen after quitting it), else a
 * built-in `--More--` prompt.  When the reader quits the pager, pager_line
 * returns false so the command can stop producing.
 */
#ifndef NOCKLAB_PAGER_H
#define NOCKLAB_PAGER_H

#include <stdbool.h>
#include <stddef.h>
#include "repl/session.h"

struct pager;

/* A pager writing to `output`, paging only when `on_terminal`.  NULL when
 * memory runs out. */
struct pager *pager_open(const struct session_output *output, bool on_terminal);
/* Write one line (without its newline).  False once the reader has quit
 * (or writing failed); later lines are dropped. */
bool pager_line(struct pager *pager, const char *text, size_t length);
/* printf-style pager_line. */
bool pager_printf(struct pager *pager, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Write the lines held so far as they are (before an error line, say);
 * later lines are held and measured afresh. */
void pager_flush(struct pager *pager);
/* Write what is held, wait for the pager program to end, free. */
void pager_close(struct pager *pager);

#endif
