/* entry.h -- an entry: what runs as one line, typed or read over several.
 *
 * A line that leaves a '[' open continues on the next; the lines of such
 * an entry lose their `::` comments and are joined with single spaces.
 * The REPL (repl/interactive.c) and files and stdin (session_run_stream)
 * assemble entries the same way, so what works typed works in a file.
 */
#ifndef NOCKLAB_ENTRY_H
#define NOCKLAB_ENTRY_H

#include <stdbool.h>
#include <stddef.h>

/* An entry being assembled.  `text` is NUL-terminated (NULL while empty);
 * `line_starts[i]` is where its line i begins in `text`, for mapping a
 * column of the entry back to the line it came from. */
struct entry {
    char *text;
    size_t length, capacity;
    size_t lines;
    long depth;           /* bracket depth so far: > 0 means more to come */
    size_t *line_starts;
    size_t line_starts_capacity;
};

/* The bracket depth after `line`: `depth` before it, plus one per '[' and
 * minus one per ']' outside quotes and `::` comments. */
long entry_bracket_depth(const char *line, size_t length, long depth);

/* Add a line (without its newline).  False when memory runs out (the
 * entry is then discarded). */
bool entry_add_line(struct entry *entry, const char *line, size_t length);
/* Whether the entry is whole (no '[' left open) and holds something. */
bool entry_complete(const struct entry *entry);
/* The line of the entry (0-based) that column `column` (1-based) of its
 * text falls in. */
size_t entry_line_of_column(const struct entry *entry, size_t column);
/* Empty it for the next entry; entry_free releases its memory. */
void entry_clear(struct entry *entry);
void entry_free(struct entry *entry);

#endif
