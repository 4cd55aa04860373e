/* session.h -- what a nocklab run keeps between lines, and running a line.
 *
 * A session holds the evaluator context (with its scratch region), home, and
 * the names bound with `=name EXPR` or `:load`.  Batch mode (-e, files,
 * stdin) and the interactive REPL both feed it lines through
 * session_run_line; everything a line shows goes through a session_output,
 * so the same code serves a terminal, a pipe or a test.
 *
 * After each line the session copies what it keeps to home, resets scratch,
 * and collects home once it has grown past twice its size after the last
 * collection.  Bound nouns are home roots, so they survive collections.
 */
#ifndef NOCKLAB_SESSION_H
#define NOCKLAB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"

/* Where a line's output goes.  `value` receives each line of normal output
 * (a printed noun, a command's report); `error` each line of failure (the
 * `error: ...` line and the trace lines under it); `notice` what a running
 * computation says on the side (%slog).  Lines come without their newline;
 * `text` is not necessarily NUL-terminated beyond `length`. */
struct session_output {
    void *context;
    void (*value)(void *context, const char *text, size_t length);
    void (*error)(void *context, const char *text, size_t length);
    void (*notice)(void *context, const char *text, size_t length);
};

/* The usual output: values to stdout, errors and notices to stderr, each
 * line flushed as it is written. */
extern const struct session_output session_output_stdio;

/* What a line came to. */
enum session_result {
    SESSION_OK,      /* ran (and printed what it had to print) */
    SESSION_FAILED,  /* printed an error */
    SESSION_QUIT,    /* asked to end the session (:quit) */
};

/* Sizes a session is made with; zero fields take the defaults. */
struct session_options {
    size_t scratch_max_bytes; /* each half of scratch (default: the evaluator's) */
    size_t home_capacity;     /* address space reserved for home (default 64 GiB) */
    uint64_t print_max_cells; /* values print at most this many cells, the
                                 rest elided as `...(N cells)` (default 1M):
                                 a noun that shares subtrees can be
                                 exponentially bigger as text than in memory */
    const char *store_directory; /* the kernel store (--store DIR); NULL:
                                    ./nocklab-store */
    const char *snapshot_kind;   /* --snapshot: "jam" or "pma"; NULL: what
                                    the store keeps */
    uint64_t snap_every;         /* --snap-every: kernel commands snapshot
                                    every this many events; 0: never */
};

struct session;

/* A new session; NULL with a reason in `why` when it can't be made. */
struct session *session_new(const struct session_options *options, char *why, size_t why_size);
void session_free(struct session *session);

/* Run one line (without its newline; a trailing '\r' is ignored).  Blank
 * lines and comments (`::` first) do nothing. */
enum session_result session_run_line(struct session *session, const char *line, size_t length,
                                     const struct session_output *output);

/* Run every entry of a stream as session_run_line would: a line that
 * leaves a '[' open continues on the next, as at the REPL (repl/entry.h).
 * Error lines say where: `NAME:LINE: error: ...`.  Stops early only for
 * :quit.  Returns whether every entry succeeded. */
bool session_run_stream(struct session *session, FILE *stream, const char *name,
                        const struct session_output *output);

/* Whether a line asked to end the session (:quit). */
bool session_quit_requested(const struct session *session);

/* Ask the evaluation now running, if any, to stop (it then fails with
 * "interrupted after N steps").  Async-signal-safe: meant for a SIGINT
 * handler.  Returns whether a line was running to receive the request. */
bool session_interrupt(struct session *session);
/* Whether session_interrupt was called during the line now running: for
 * commands that loop outside the evaluator (:step) to stop early. */
bool session_interrupted(const struct session *session);

/* The interactive loop on a terminal: prompt, read, run, until end of input
 * or :quit.  Returns the exit status the program should end with. */
int session_interactive(struct session *session);

/* How session_print_noun writes values: atom style and elision.  A session
 * starts canonical (decimal), cut at print_max_cells; :set changes it. */
void session_set_print_options(struct session *session, const struct text_print_options *options);
struct text_print_options session_print_options(const struct session *session);

/* Whether the session serves a person at a terminal REPL, so commands may
 * page long output (batch mode never does). */
void session_set_interactive(struct session *session, bool interactive);
bool session_is_interactive(const struct session *session);

/* The last Nock crash of the session: its trace ([tag clue] list, innermost
 * first, kept in home until the next crash) and its message.  False before
 * any crash. */
bool session_last_crash(struct session *session, noun *trace, const char **message);
/* Keep a crash that happened elsewhere (a kernel refusing an event) as the
 * last one, for :trace; `trace` is a noun in home. */
void session_keep_crash(struct session *session, noun trace, const char *message);

/* ---- for commands (repl/command.c) -------------------------------------- */

/* Evaluate the expression in line[start, length) and print nothing.  On
 * failure the error lines are written to `output` and false is returned.
 * The value lives in scratch until the line ends. */
bool session_evaluate(struct session *session, const char *line, size_t length, size_t start,
                      const struct session_output *output, noun *value);

/* Run the line text[start, length) inside the running line (for :time):
 * a command, a binding or an expression, without the line cycle. */
enum session_result session_dispatch(struct session *session, const char *line, size_t length, size_t start,
                                     const struct session_output *output);

/* Bind `name` to `value` (copied to home).  False (with an error written)
 * when home is full or memory runs out. */
bool session_bind(struct session *session, const char *name, size_t name_length, noun value,
                  const struct session_output *output);
/* The noun bound to a name, or NOUN_NONE. */
noun session_lookup(struct session *session, const char *name, size_t name_length);
/* Call `visit` for every binding, in the order names were first bound. */
void session_each_binding(struct session *session,
                          void (*visit)(void *context, const char *name, noun value), void *context);

struct nock_context *session_nock(struct session *session);
struct noun_home *session_home(struct session *session);
/* The address space home reserved when the session was made. */
size_t session_home_capacity(const struct session *session);
/* The store directory the session was made with (NULL: the default). */
const char *session_store_directory(const struct session *session);
/* The --snapshot and --snap-every the session was made with (NULL, 0 when
 * not given). */
const char *session_snapshot_kind(const struct session *session);
uint64_t session_snap_every(const struct session *session);

/* State a command module keeps for the session's life (the kernel store
 * of repl/commands_kernel.c).  `release` runs first in session_free;
 * `interrupt`, when set, runs from session_interrupt while a line runs,
 * so it must be async-signal-safe.  One attachment per session. */
struct session_attachment {
    void *state;
    void (*release)(void *state);
    void (*interrupt)(void *state);
};
void session_attach(struct session *session, const struct session_attachment *attachment);
/* The attached state, or NULL. */
void *session_attached(struct session *session);

/* The jet dashboard the session's evaluator uses (interp/jets.h), and the
 * Hoon runtime :ivory made (interp/hoon.h; NULL before).  Setting a runtime
 * frees the one before; the session frees the last. */
struct jets_dashboard;
struct hoon_runtime;
struct jets_dashboard *session_jets(struct session *session);
struct hoon_runtime *session_hoon(struct session *session);
void session_set_hoon(struct session *session, struct hoon_runtime *runtime);

/* The N of the first "column N" in an error line (0 when none): where
 * the caret goes, and which line of a file an error is on. */
size_t session_error_column(const char *text, size_t length);

/* Write one line through output->value / output->error, printf-style. */
void session_print(const struct session_output *output, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void session_print_error(const struct session_output *output, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* Append an atom as %term when it is one (lowercase letters, digits, '-'),
 * otherwise canonically. */
bool session_append_term(struct text_buffer *buffer, noun tag);
/* A crash trace as error lines, one per entry, innermost first
 * (`  %mean 'oops'`), long traces cut.  Every trace the REPL shows goes
 * through session_append_trace_entry: the tag as %term, the clue as
 * commands_explore_append_clue renders it. */
void session_print_trace(const struct session_output *output, noun trace);
bool session_append_trace_entry(struct text_buffer *buffer, noun entry);
/* A %slog clue ([priority tank]) as one notice line: `slog: text`. */
void session_print_slog(const struct session_output *output, noun clue);

/* Write the canonical text of a noun as one value line, elided past the
 * session's print_max_cells (an error line when memory runs out).  Returns
 * whether it was printed. */
bool session_print_noun(struct session *session, const struct session_output *output, noun value);

#endif
