/* command.h -- the `:command` table.
 *
 * Every command a line can start with (`:jam EXPR`, `:load NAME PATH`, ...)
 * is one row of one table: its name, handler, the shape of its arguments,
 * a usage line, a one-line summary and a longer help with an example.  The
 * dispatcher checks the arguments against the shape before the handler
 * runs, `:help` and `--help` print from the table, and the interactive REPL
 * completes names from it.
 */
#ifndef NOCKLAB_COMMAND_H
#define NOCKLAB_COMMAND_H

#include <stddef.h>
#include "repl/session.h"

/* The shape of a command's arguments.  A "word" is a run of non-blank
 * characters; the "rest" is everything after, trimmed (an expression or a
 * path, which may contain blanks). */
enum command_arity {
    COMMAND_TAKES_NOTHING,       /* :quit */
    COMMAND_TAKES_OPTIONAL_REST, /* :help [COMMAND] */
    COMMAND_TAKES_REST,          /* :jam EXPR */
    COMMAND_TAKES_WORD_AND_REST, /* :load NAME PATH */
};

/* A line's arguments, as the dispatcher split them.  Offsets index `line`,
 * so handlers report columns of the whole line.  `word` is set only for
 * COMMAND_TAKES_WORD_AND_REST; `rest_start == rest_end` when there is no
 * rest. */
struct command_arguments {
    const char *line;
    size_t length;
    size_t word_start, word_end;
    size_t rest_start, rest_end;
};

typedef enum session_result command_handler(struct session *session, const struct command_arguments *arguments,
                                            const struct session_output *output);

/* One row of the table. */
struct command {
    const char *name;     /* without the ':' */
    command_handler *handler;
    enum command_arity arity;
    const char *usage;    /* e.g. ":load NAME PATH" */
    const char *summary;  /* one line for lists */
    const char *help;     /* a few lines for `:help NAME`, with an example */
};

/* The whole table, in the order help lists it. */
const struct command *command_table(size_t *count);
/* The command with exactly this name (no ':'), or NULL. */
const struct command *command_find(const char *name, size_t length);
/* The command whose name is nearest (edit distance) to `name`, and that
 * distance; NULL only for an empty table. */
const struct command *command_nearest(const char *name, size_t length, size_t *distance);

/* Run the `:command ...` line whose ':' is at line[start]. */
enum session_result command_run(struct session *session, const char *line, size_t length, size_t start,
                                const struct session_output *output);

#endif
