/* entry.c -- assembling an entry from lines (interface in entry.h). */
#include "repl/entry.h"

#include <stdlib.h>
#include <string.h>

#include "repl/expression.h"

/* Scan a line outside quotes: add each '[' and subtract each ']' to
 * *depth, and return where its `::` comment starts (length if none). */
static size_t scan_line(const char *line, size_t length, long *depth)
{
    char quote = 0;
    for (size_t i = 0; i < length; i++) {
        char c = line[i];
        if (quote) {
            if (c == '\\' && i + 1 < length)
                i++;
            else if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == ':' && i + 1 < length && line[i + 1] == ':') {
            return i;
        } else if (c == '[') {
            ++*depth;
        } else if (c == ']') {
            --*depth;
        }
    }
    return length;
}

long entry_bracket_depth(const char *line, size_t length, long depth)
{
    scan_line(line, length, &depth);
    return depth;
}

/* Length of a line without its `::` comment (outside quotes). */
static size_t without_comment(const char *line, size_t length)
{
    long ignored = 0;
    return scan_line(line, length, &ignored);
}

static bool append(struct entry *entry, const char *text, size_t length)
{
    if (entry->length + length + 1 > entry->capacity) {
        size_t capacity = 2 * (entry->length + length + 1);
        char *grown = realloc(entry->text, capacity);
        if (!grown)
            return false;
        entry->text = grown;
        entry->capacity = capacity;
    }
    memcpy(entry->text + entry->length, text, length);
    entry->length += length;
    entry->text[entry->length] = '\0';
    return true;
}

bool entry_add_line(struct entry *entry, const char *line, size_t length)
{
    while (length > 0 && (line[length - 1] == '\n' || line[length - 1] == '\r'))
        length--;
    long depth_before = entry->depth;
    entry->depth = entry_bracket_depth(line, length, entry->depth);
    /* A line alone keeps its comment (the line cycle skips a comment
     * line); a line of a longer entry loses it, or it would swallow the
     * lines joined after it. */
    if (depth_before > 0 || entry->depth > 0) {
        length = without_comment(line, length);
        while (length > 0 && expression_is_space(line[length - 1]))
            length--;
    }
    if (entry->lines == entry->line_starts_capacity) {
        size_t capacity = entry->line_starts_capacity ? 2 * entry->line_starts_capacity : 8;
        size_t *grown = realloc(entry->line_starts, capacity * sizeof *grown);
        if (!grown) {
            entry_clear(entry);
            return false;
        }
        entry->line_starts = grown;
        entry->line_starts_capacity = capacity;
    }
    if ((entry->lines > 0 && !append(entry, " ", 1))) {
        entry_clear(entry);
        return false;
    }
    entry->line_starts[entry->lines] = entry->length;
    if (!append(entry, line, length)) {
        entry_clear(entry);
        return false;
    }
    entry->lines++;
    return true;
}

bool entry_complete(const struct entry *entry) { return entry->lines > 0 && entry->depth <= 0; }

size_t entry_line_of_column(const struct entry *entry, size_t column)
{
    size_t line = 0;
    while (line + 1 < entry->lines && entry->line_starts[line + 1] < column)
        line++;
    return line;
}

void entry_clear(struct entry *entry)
{
    entry->length = 0;
    entry->lines = 0;
    entry->depth = 0;
    if (entry->text)
        entry->text[0] = '\0';
}

void entry_free(struct entry *entry)
{
    free(entry->text);
    free(entry->line_starts);
    memset(entry, 0, sizeof *entry);
}
