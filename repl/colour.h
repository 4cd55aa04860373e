/* colour.h -- ANSI colour where it helps: the prompt, errors, the caret.
 *
 * Colour is on only for a terminal that can show it: off when NO_COLOR is
 * set (to anything, https://no-color.org), when TERM is unset or "dumb",
 * and when the stream is not a terminal (a pipe, a file).
 */
#ifndef NOCKLAB_COLOUR_H
#define NOCKLAB_COLOUR_H

#include <stdbool.h>

#define COLOUR_ERROR "\033[1;31m"  /* bold red: "error:" and the caret */
#define COLOUR_PROMPT "\033[1;36m" /* bold cyan: the prompt */
#define COLOUR_RESET "\033[0m"

/* Whether output to file descriptor `fd` may be coloured. */
bool colour_enabled(int fd);

#endif
