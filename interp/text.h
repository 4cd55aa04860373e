/* text.h -- nouns as text: the parser and the printer.
 *
 * The syntax (docs/noun-text.md has the full page):
 *
 *   42  1.000.000            decimal, plain or dotted in groups of three
 *   0x1f  0xdead.beef        hexadecimal, plain or dotted in groups of four
 *   'text'  ''               a cord: the bytes, least significant first
 *   %foo  %.y  %.n  %$       a term (its bytes), the loobeans 0 and 1, empty
 *   "text"                   a tape: a null-terminated list of byte atoms
 *   [a b c]                  the cell [a [b c]]; elements separated by blanks
 *   name                     a noun the caller names (text_name_resolver)
 *
 * The printer writes the canonical form: right-nested tuples flattened,
 * atoms in decimal unless asked otherwise.  Every style it prints parses
 * back to the same noun, unless parts were elided (`...(N cells)`).
 *
 * Neither side recurses on the C stack: a noun nested ten million deep
 * parses and prints with heap-allocated stacks.  Nothing here prints or
 * exits; problems come back as a text_error.
 */
#ifndef NOCKLAB_TEXT_H
#define NOCKLAB_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "noun.h"

/* What went wrong while parsing, and where.  `offset` is the byte offset
 * (0-based) into the text of the problem.  `message` is one line a user can
 * act on; it names the place as "column N" (1-based, counting bytes), or
 * "line L, column N" when the text has several lines. */
struct text_error {
    size_t offset;
    char message[160];
};

/* Resolves a name (letters, digits, '-', starting with a letter) to its
 * noun; NOUN_NONE if unknown.  `name` is not NUL-terminated. */
typedef noun text_name_resolver(void *context, const char *name, size_t length);

/* Parse one noun from text[0..length), allocating in `region`.  `resolver`
 * may be NULL, and then every name is an error.  Blanks (space, tab,
 * newline, carriage return) may surround the noun; anything else after it is
 * an error.  On failure returns false, fills *error and leaves *out alone
 * (whatever was allocated in the region stays there, unreferenced). */
bool text_parse(struct noun_region *region, const char *text, size_t length,
                text_name_resolver *resolver, void *context, noun *out, struct text_error *error);

/* Parse one atom literal (decimal, dotted decimal, hex, cord or term form)
 * starting at text[*position], and advance *position past it.  What follows
 * the literal is the caller's business.  False, with *error set and
 * *position unchanged, when there is no valid atom literal there. */
bool text_parse_atom(struct noun_region *region, const char *text, size_t length, size_t *position,
                     noun *out, struct text_error *error);

/* A growable output buffer.  `data` is malloc'd and NUL-terminated at
 * data[length] once anything was appended (NULL before); `capacity` is the
 * allocated size, always more than `length` when data is not NULL. */
struct text_buffer {
    char *data;
    size_t length;
    size_t capacity;
};

void text_buffer_init(struct text_buffer *b);
void text_buffer_free(struct text_buffer *b);
/* Append n bytes.  False (buffer unchanged) only when memory runs out. */
bool text_buffer_append(struct text_buffer *b, const char *s, size_t n);
/* Append printf-style.  False (buffer unchanged) only when memory runs out. */
bool text_buffer_printf(struct text_buffer *b, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* How atoms are written.  Every style parses back to the same atom.
 *   TEXT_DECIMAL  1000000 (the default)
 *   TEXT_HEX      0xf4240
 *   TEXT_HOON     dotted like Hoon: 1.000.000 below 2^64, 0xdead.beef from
 *                 2^64 up (big atoms read better in hex)
 *   TEXT_CORD     'text' when every byte of the atom is printable ASCII
 *                 (space to '~'), otherwise decimal; 0 stays 0
 *   TEXT_TAPE     decimal atoms, but a null-terminated list of printable
 *                 ASCII atoms (at least one) prints as "text", also as the
 *                 last elements of a tuple: [1 "hi"]
 *   TEXT_TERM     an atom of two bytes or more as %term when it is a term (a
 *                 lowercase letter, then lowercase letters, digits and '-'),
 *                 of three or more as TEXT_CORD; tapes as in TEXT_TAPE;
 *                 shorter atoms in decimal: [%done 7 17711 'oops!' "hi"] */
enum text_atom_style { TEXT_DECIMAL, TEXT_HEX, TEXT_HOON, TEXT_CORD, TEXT_TAPE, TEXT_TERM };

/* Printer options; all-zero means canonical decimal, nothing elided.
 *   max_depth  0 = unlimited; a cell nested deeper than this many brackets
 *              prints as an elision marker.
 *   max_cells  0 = unlimited; once this many cells have been printed, each
 *              remaining cell subtree prints as an elision marker (atoms
 *              still print).
 * The marker is `...(N cells)`, N being the number of cells hidden, counted
 * as a tree (a shared subtree counts each time it appears), written with
 * Hoon's dots: `[1 2 ...(1.204 cells)]`; when a shared noun's tree has
 * 2^63 cells or more, the cells it has in memory: `...(390.214 distinct
 * cells)`.  A marker stands for one element,
 * or, at the end of a tuple, for the rest of its elements.  Marked output
 * does not parse, on purpose. */
struct text_print_options {
    enum text_atom_style style;
    uint64_t max_depth;
    uint64_t max_cells;
};

/* Append the text of n to `out`.  `options` may be NULL (canonical).  False
 * only when memory runs out (out then holds a valid but partial text). */
bool text_print(struct text_buffer *out, noun n, const struct text_print_options *options);

/* Canonical decimal text of n as a malloc'd string; NULL if memory runs out. */
char *text_format(noun n);

#endif
