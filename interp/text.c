/* text.c -- the noun text parser and printer (syntax in docs/noun-text.md).
 *
 * Parsing is one loop over the bytes with two heap stacks: the nouns of the
 * tuples still open (`elements`) and, per open '[', where its elements start
 * and where the '[' was (`frames`).  A ']' folds its elements right to left
 * into the right-nested cell.  So a '[' nested ten million deep costs stack
 * entries, not C stack frames.
 *
 * Printing walks the noun with a stack of the tuples still open: for each,
 * the part not yet printed (`rest`).  An element that is a cell opens a new
 * tuple; when an element is done, the innermost tuple's rest either is a
 * cell (its head is the next element: flattening [a [b c]] into [a b c]) or
 * an atom (its last element, then ']').  Only heads deepen the stack, so a
 * list a hundred million long uses one entry.
 *
 * Elision counts the hidden cells as a tree; with shared subtrees a tree can
 * be exponentially bigger than the noun in memory, so counts are memoized by
 * cell address (one table per print) and stop growing at 2^63; past that
 * the marker gives the distinct cells instead, counted by a walk of its own.
 */
#include "interp/text.h"

#include <gmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- character classes -------------------------------------------------- */

static inline bool is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline bool is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline bool is_name_char(unsigned char c) { return is_letter(c) || is_digit(c) || c == '-'; }
static inline bool is_printable(uint64_t c) { return c >= 0x20 && c <= 0x7e; }

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- growable stacks ---------------------------------------------------- */

/* A growable array of fixed-size items on the heap.  items[0..count) are in
 * use; capacity is how many fit. */
struct stack {
    void *items;
    size_t count, capacity, item_size;
};

static void stack_init(struct stack *s, size_t item_size)
{
    s->items = NULL;
    s->count = s->capacity = 0;
    s->item_size = item_size;
}

static void stack_free(struct stack *s)
{
    free(s->items);
    s->items = NULL;
    s->count = s->capacity = 0;
}

/* Make room for one more item; false when memory runs out. */
static bool stack_reserve_one(struct stack *s)
{
    if (s->count < s->capacity)
        return true;
    size_t capacity = s->capacity ? s->capacity * 2 : 64;
    void *items = realloc(s->items, capacity * s->item_size);
    if (!items)
        return false;
    s->items = items;
    s->capacity = capacity;
    return true;
}

static inline noun *noun_items(struct stack *s) { return (noun *)s->items; }

static bool noun_push(struct stack *s, noun n)
{
    if (!stack_reserve_one(s))
        return false;
    noun_items(s)[s->count++] = n;
    return true;
}

/* ---- errors ------------------------------------------------------------- */

/* The parser's state: the text, where it is, and where errors go. */
struct parser {
    struct noun_region *region;
    const char *text;
    size_t length;
    size_t position;
    text_name_resolver *resolver;
    void *context;
    struct text_error *error;
};

/* "column N" or "line L, column N", 1-based, for a byte offset. */
static void describe_place(const struct parser *p, size_t offset, char *out, size_t size)
{
    size_t line = 1, line_start = 0;
    for (size_t i = 0; i < offset && i < p->length; i++) {
        if (p->text[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    if (line == 1)
        snprintf(out, size, "column %zu", offset + 1);
    else
        snprintf(out, size, "line %zu, column %zu", line, offset - line_start + 1);
}

/* What is at an offset, for "found ..." : 'x', byte 0x01, or the end. */
static void describe_found(const struct parser *p, size_t offset, char *out, size_t size)
{
    if (offset >= p->length)
        snprintf(out, size, "the end of the input");
    else if (is_printable((unsigned char)p->text[offset]))
        snprintf(out, size, "'%c'", p->text[offset]);
    else
        snprintf(out, size, "byte 0x%02x", (unsigned char)p->text[offset]);
}

/* Fill the error with a printf-style message for a byte offset.  Always
 * returns false so callers can `return fail(...)`. */
static bool fail(struct parser *p, size_t offset, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct parser *p, size_t offset, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(p->error->message, sizeof p->error->message, format, args);
    va_end(args);
    p->error->offset = offset;
    return false;
}

/* The common shape: "<what> at <place>". */
#define PLACE_SIZE 48
static bool fail_at(struct parser *p, size_t offset, const char *what)
{
    char place[PLACE_SIZE];
    describe_place(p, offset, place, sizeof place);
    return fail(p, offset, "%s at %s", what, place);
}

/* "expected <what> at <place>, found <thing there>". */
static bool fail_expected(struct parser *p, size_t offset, const char *expected)
{
    char place[PLACE_SIZE], found[32];
    describe_place(p, offset, place, sizeof place);
    describe_found(p, offset, found, sizeof found);
    return fail(p, offset, "expected %s at %s, found %s", expected, place, found);
}

static bool fail_memory(struct parser *p)
{
    return fail(p, p->position, "out of memory while parsing");
}

/* ---- atoms -------------------------------------------------------------- */

/* Decimal digits (no dots) of at most 19 digits fit in a uint64_t. */
#define SMALL_DECIMAL_DIGITS 19

static noun atom_from_word(struct noun_region *region, uint64_t word)
{
    return noun_atom_from_words(region, &word, 1);
}

/* A big decimal from its digits (dots already removed), through GMP. */
static bool atom_from_decimal_digits(struct parser *p, const char *digits, noun *out)
{
    mpz_t value;
    if (mpz_init_set_str(value, digits, 10) != 0) {
        mpz_clear(value);
        return fail_at(p, p->position, "invalid decimal");
    }
    size_t words = (mpz_sizeinbase(value, 2) + 63) / 64;
    struct noun_atom *atom = noun_atom_alloc(p->region, words);
    size_t written = 0;
    mpz_export(atom->words, &written, -1, sizeof(uint64_t), 0, 0, value);
    for (size_t i = written; i < atom->length; i++)
        atom->words[i] = 0;
    mpz_clear(value);
    *out = noun_atom_normalize(atom);
    return true;
}

/* Scan the dotted groups after a first group of digits ending at *end, each
 * '.' followed by exactly `group` digits accepted by `is_group_digit`.
 * Returns false (error set) on a malformed group. */
static bool scan_dotted_groups(struct parser *p, size_t first_start, size_t *end, int group,
                               int max_first, bool hex, const char *kind)
{
    size_t i = *end;
    if (i >= p->length || p->text[i] != '.')
        return true;
    if (i - first_start > (size_t)max_first) {
        char what[96];
        snprintf(what, sizeof what, "expected 1 to %d digits before the first '.' of a dotted %s", max_first, kind);
        return fail_at(p, first_start, what);
    }
    while (i < p->length && p->text[i] == '.') {
        size_t group_start = i + 1, j = group_start;
        while (j < p->length && (hex ? hex_value((unsigned char)p->text[j]) >= 0 : is_digit((unsigned char)p->text[j])))
            j++;
        if (j - group_start != (size_t)group) {
            char what[96];
            snprintf(what, sizeof what, "expected exactly %d digits after '.' in a dotted %s", group, kind);
            return fail_at(p, group_start, what);
        }
        i = j;
    }
    *end = i;
    return true;
}

/* Decimal: 123, 1.000.000 (Hoon's groups of three), any size. */
static bool parse_decimal(struct parser *p, noun *out)
{
    size_t start = p->position, end = start;
    while (end < p->length && is_digit((unsigned char)p->text[end]))
        end++;
    if (!scan_dotted_groups(p, start, &end, 3, 3, false, "decimal"))
        return false;
    size_t digit_count = 0;
    uint64_t small = 0;
    for (size_t i = start; i < end; i++) {
        if (p->text[i] == '.')
            continue;
        digit_count++;
        small = small * 10 + (uint64_t)(p->text[i] - '0');
    }
    if (digit_count <= SMALL_DECIMAL_DIGITS) {
        *out = atom_from_word(p->region, small);
        p->position = end;
        return true;
    }
    char *digits = malloc(digit_count + 1);
    if (!digits)
        return fail_memory(p);
    size_t k = 0;
    for (size_t i = start; i < end; i++)
        if (p->text[i] != '.')
            digits[k++] = p->text[i];
    digits[k] = '\0';
    bool ok = atom_from_decimal_digits(p, digits, out);
    free(digits);
    if (ok)
        p->position = end;
    return ok;
}

/* Hexadecimal: 0x1f, 0xdead.beef (groups of four), any size. */
static bool parse_hex(struct parser *p, noun *out)
{
    size_t start = p->position + 2, end = start;
    while (end < p->length && hex_value((unsigned char)p->text[end]) >= 0)
        end++;
    if (end == start)
        return fail_expected(p, start, "a hex digit after '0x'");
    if (!scan_dotted_groups(p, start, &end, 4, 4, true, "hex atom"))
        return false;
    size_t digit_count = 0;
    for (size_t i = start; i < end; i++)
        digit_count += p->text[i] != '.';
    if (digit_count <= 16) {
        uint64_t small = 0;
        for (size_t i = start; i < end; i++)
            if (p->text[i] != '.')
                small = small << 4 | (uint64_t)hex_value((unsigned char)p->text[i]);
        *out = atom_from_word(p->region, small);
        p->position = end;
        return true;
    }
    size_t words = (digit_count + 15) / 16;
    struct noun_atom *atom = noun_atom_alloc(p->region, words);
    memset(atom->words, 0, words * sizeof(uint64_t));
    /* Digits fill the words from the least significant end. */
    size_t digit = 0;
    for (size_t i = end; i-- > start;) {
        if (p->text[i] == '.')
            continue;
        uint64_t value = (uint64_t)hex_value((unsigned char)p->text[i]);
        atom->words[digit / 16] |= value << (4 * (digit % 16));
        digit++;
    }
    *out = noun_atom_normalize(atom);
    p->position = end;
    return true;
}

/* Scan a quoted string ('cord' or "tape") opening at p->position: check it
 * and count its decoded bytes.  *end is set past the closing quote and
 * *escaped to whether any escape occurs. */
static bool scan_quoted(struct parser *p, char quote, const char *kind, size_t *end, size_t *decoded,
                        bool *escaped)
{
    size_t open = p->position, i = open + 1, count = 0;
    *escaped = false;
    for (;;) {
        if (i >= p->length) {
            char place[PLACE_SIZE], open_place[PLACE_SIZE];
            describe_place(p, i, place, sizeof place);
            describe_place(p, open, open_place, sizeof open_place);
            return fail(p, i, "expected %c at %s to end the %s that opens at %s", quote, place, kind, open_place);
        }
        unsigned char c = (unsigned char)p->text[i];
        if (c == (unsigned char)quote)
            break;
        if (c == '\\') {
            *escaped = true;
            if (i + 1 < p->length && (p->text[i + 1] == '\\' || p->text[i + 1] == quote)) {
                i += 2;
            } else if (i + 2 < p->length && hex_value((unsigned char)p->text[i + 1]) >= 0 &&
                       hex_value((unsigned char)p->text[i + 2]) >= 0) {
                i += 3;
            } else {
                char place[PLACE_SIZE];
                describe_place(p, i, place, sizeof place);
                return fail(p, i, "invalid escape at %s: in a %s write \\\\, \\%c or two hex digits like \\0a",
                            place, kind, quote);
            }
        } else if (c < 0x20 || c == 0x7f) {
            char place[PLACE_SIZE];
            describe_place(p, i, place, sizeof place);
            return fail(p, i, "control character 0x%02x in a %s at %s (write it as \\%02x)", c, kind, place, c);
        } else {
            i++;
        }
        count++;
    }
    *end = i + 1;
    *decoded = count;
    return true;
}

/* Decode the already-scanned quoted string between open+1 and end-1. */
static void decode_quoted(const char *text, size_t open, size_t end, char quote, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = open + 1; i < end - 1;) {
        if (text[i] != '\\') {
            out[k++] = (uint8_t)text[i++];
        } else if (text[i + 1] == '\\' || text[i + 1] == quote) {
            out[k++] = (uint8_t)text[i + 1];
            i += 2;
        } else {
            out[k++] = (uint8_t)(hex_value((unsigned char)text[i + 1]) * 16 + hex_value((unsigned char)text[i + 2]));
            i += 3;
        }
    }
}

/* The decoded bytes of a quoted string, in a malloc'd buffer only when
 * escapes make one necessary (*owned says so). */
static bool quoted_bytes(struct parser *p, char quote, const char *kind, const uint8_t **bytes,
                         size_t *count, uint8_t **owned, size_t *end)
{
    bool escaped;
    if (!scan_quoted(p, quote, kind, end, count, &escaped))
        return false;
    *owned = NULL;
    if (!escaped) {
        *bytes = (const uint8_t *)p->text + p->position + 1;
        return true;
    }
    *owned = malloc(*count ? *count : 1);
    if (!*owned)
        return fail_memory(p);
    decode_quoted(p->text, p->position, *end, quote, *owned);
    *bytes = *owned;
    return true;
}

/* Cord: 'text', bytes least significant first. */
static bool parse_cord(struct parser *p, noun *out)
{
    const uint8_t *bytes;
    uint8_t *owned;
    size_t count, end;
    if (!quoted_bytes(p, '\'', "cord", &bytes, &count, &owned, &end))
        return false;
    *out = noun_atom_from_bytes(p->region, bytes, count);
    free(owned);
    p->position = end;
    return true;
}

/* Tape: "text", the list of its bytes ending in 0. */
static bool parse_tape(struct parser *p, noun *out)
{
    const uint8_t *bytes;
    uint8_t *owned;
    size_t count, end;
    if (!quoted_bytes(p, '"', "tape", &bytes, &count, &owned, &end))
        return false;
    noun list = 0;
    for (size_t i = count; i-- > 0;)
        list = noun_cell_new(p->region, bytes[i], list);
    free(owned);
    *out = list;
    p->position = end;
    return true;
}

/* Term: %foo (its bytes), and the Hoon constants %.y %& %$ (0), %.n %| (1). */
static bool parse_term(struct parser *p, noun *out)
{
    size_t start = p->position + 1;
    unsigned char c = start < p->length ? (unsigned char)p->text[start] : 0;
    if (c == '$' || c == '&' || c == '|') {
        *out = c == '|';
        p->position = start + 1;
        return true;
    }
    if (c == '.') {
        unsigned char flag = start + 1 < p->length ? (unsigned char)p->text[start + 1] : 0;
        if (flag != 'y' && flag != 'n')
            return fail_expected(p, start + 1, "'y' or 'n' after '%.'");
        *out = flag == 'n';
        p->position = start + 2;
        return true;
    }
    if (start >= p->length || !is_letter(c))
        return fail_expected(p, start, "a letter after '%' (or %.y, %.n, %$)");
    size_t end = start;
    while (end < p->length && is_name_char((unsigned char)p->text[end]))
        end++;
    *out = noun_atom_from_bytes(p->region, (const uint8_t *)p->text + start, end - start);
    p->position = end;
    return true;
}

/* Any atom literal at p->position. */
static bool parse_atom_literal(struct parser *p, noun *out)
{
    if (p->position >= p->length)
        return fail_expected(p, p->position, "an atom");
    unsigned char c = (unsigned char)p->text[p->position];
    if (c == '0' && p->position + 1 < p->length && p->text[p->position + 1] == 'x')
        return parse_hex(p, out);
    if (is_digit(c))
        return parse_decimal(p, out);
    if (c == '\'')
        return parse_cord(p, out);
    if (c == '%')
        return parse_term(p, out);
    return fail_expected(p, p->position, "an atom");
}

bool text_parse_atom(struct noun_region *region, const char *text, size_t length, size_t *position,
                     noun *out, struct text_error *error)
{
    struct text_error ignored;
    struct parser p = {.region = region, .text = text, .length = text ? length : 0, .position = *position,
                       .error = error ? error : &ignored};
    if (!parse_atom_literal(&p, out))
        return false;
    *position = p.position;
    return true;
}

/* ---- names and elements ------------------------------------------------- */

/* Longest part of a name quoted in an error message. */
#define NAME_QUOTE_MAX 40

static bool parse_name(struct parser *p, noun *out)
{
    size_t start = p->position, end = start;
    while (end < p->length && is_name_char((unsigned char)p->text[end]))
        end++;
    size_t length = end - start;
    noun value = p->resolver ? p->resolver(p->context, p->text + start, length) : NOUN_NONE;
    if (value == NOUN_NONE) {
        char place[PLACE_SIZE];
        describe_place(p, start, place, sizeof place);
        int shown = length > NAME_QUOTE_MAX ? NAME_QUOTE_MAX : (int)length;
        return fail(p, start, "unknown name '%.*s%s' at %s", shown, p->text + start,
                    length > NAME_QUOTE_MAX ? "..." : "", place);
    }
    *out = value;
    p->position = end;
    return true;
}

/* Any element other than a bracketed cell. */
static bool parse_leaf(struct parser *p, noun *out)
{
    unsigned char c = (unsigned char)p->text[p->position];
    if (c == '"')
        return parse_tape(p, out);
    if (is_letter(c))
        return parse_name(p, out);
    if (is_digit(c) || c == '\'' || c == '%')
        return parse_atom_literal(p, out);
    return fail_expected(p, p->position, "a noun");
}

static void skip_blanks(struct parser *p)
{
    while (p->position < p->length && is_blank((unsigned char)p->text[p->position]))
        p->position++;
}

/* ---- the noun parser ---------------------------------------------------- */

/* One open '[': its elements are elements[first..), and it opened at
 * byte offset `open`. */
struct parse_frame {
    size_t first;
    size_t open;
};

/* Fold the innermost tuple's elements into [e0 [e1 [... en]]], replacing
 * them on the element stack by the cell. */
static void close_tuple(struct parser *p, struct stack *elements, size_t first)
{
    noun *items = noun_items(elements);
    noun cell = items[elements->count - 1];
    for (size_t i = elements->count - 1; i-- > first;)
        cell = noun_cell_new(p->region, items[i], cell);
    elements->count = first;
    items[elements->count++] = cell;
}

/* At a '[': open a tuple and move to its first element. */
static bool open_tuple(struct parser *p, struct stack *elements, struct stack *frames)
{
    if (!stack_reserve_one(frames))
        return fail_memory(p);
    struct parse_frame *frame = (struct parse_frame *)frames->items + frames->count++;
    frame->first = elements->count;
    frame->open = p->position;
    p->position++;
    skip_blanks(p);
    if (p->position < p->length && p->text[p->position] == ']') {
        char place[PLACE_SIZE];
        describe_place(p, frame->open, place, sizeof place);
        return fail(p, frame->open, "empty brackets at %s: a cell needs at least two elements", place);
    }
    return true;
}

/* What follows an element. */
enum after_element { AFTER_ERROR, AFTER_NEXT_ELEMENT, AFTER_END };

/* After an element: close the tuples that end here, then either step over
 * the blanks to the next element or, outside all tuples, check that only
 * blanks remain. */
static enum after_element finish_element(struct parser *p, struct stack *elements, struct stack *frames)
{
    for (;;) {
        if (frames->count == 0) {
            skip_blanks(p);
            if (p->position == p->length)
                return AFTER_END;
            fail_expected(p, p->position, "the end of the input after the noun");
            return AFTER_ERROR;
        }
        struct parse_frame *frame = (struct parse_frame *)frames->items + frames->count - 1;
        bool blank = p->position < p->length && is_blank((unsigned char)p->text[p->position]);
        skip_blanks(p);
        char place[PLACE_SIZE], open_place[PLACE_SIZE];
        if (p->position < p->length && p->text[p->position] == ']') {
            if (elements->count - frame->first < 2) {
                describe_place(p, p->position, place, sizeof place);
                describe_place(p, frame->open, open_place, sizeof open_place);
                fail(p, p->position, "expected a second element at %s: the cell opened at %s needs two", place,
                     open_place);
                return AFTER_ERROR;
            }
            close_tuple(p, elements, frame->first);
            frames->count--;
            p->position++;
            continue;
        }
        if (p->position >= p->length) {
            describe_place(p, p->position, place, sizeof place);
            describe_place(p, frame->open, open_place, sizeof open_place);
            fail(p, p->position, "expected ']' at %s to close the '[' at %s", place, open_place);
            return AFTER_ERROR;
        }
        if (!blank) {
            fail_expected(p, p->position, "a blank or ']' after an element");
            return AFTER_ERROR;
        }
        return AFTER_NEXT_ELEMENT;
    }
}

static bool parse_noun(struct parser *p, struct stack *elements, struct stack *frames, noun *out)
{
    skip_blanks(p);
    for (;;) {
        if (p->position >= p->length)
            return fail_expected(p, p->position, "a noun");
        if (p->text[p->position] == '[') {
            if (!open_tuple(p, elements, frames))
                return false;
            continue;
        }
        noun leaf;
        if (!parse_leaf(p, &leaf))
            return false;
        if (!noun_push(elements, leaf))
            return fail_memory(p);
        switch (finish_element(p, elements, frames)) {
        case AFTER_ERROR:
            return false;
        case AFTER_END:
            *out = noun_items(elements)[0];
            return true;
        case AFTER_NEXT_ELEMENT:
            break;
        }
    }
}

bool text_parse(struct noun_region *region, const char *text, size_t length,
                text_name_resolver *resolver, void *context, noun *out, struct text_error *error)
{
    struct text_error ignored;
    struct parser p = {.region = region, .text = text, .length = text ? length : 0,
                       .resolver = resolver, .context = context, .error = error ? error : &ignored};
    struct stack elements, frames;
    stack_init(&elements, sizeof(noun));
    stack_init(&frames, sizeof(struct parse_frame));
    bool ok = parse_noun(&p, &elements, &frames, out);
    stack_free(&elements);
    stack_free(&frames);
    return ok;
}

/* ---- output buffers ----------------------------------------------------- */

void text_buffer_init(struct text_buffer *b)
{
    b->data = NULL;
    b->length = b->capacity = 0;
}

void text_buffer_free(struct text_buffer *b)
{
    free(b->data);
    text_buffer_init(b);
}

/* Make room for `extra` more bytes plus the terminating NUL. */
static bool buffer_reserve(struct text_buffer *b, size_t extra)
{
    if (extra >= SIZE_MAX / 2 - b->length)
        return false;
    size_t needed = b->length + extra + 1;
    if (needed <= b->capacity)
        return true;
    size_t capacity = b->capacity ? b->capacity : 64;
    while (capacity < needed)
        capacity *= 2;
    char *data = realloc(b->data, capacity);
    if (!data)
        return false;
    b->data = data;
    b->capacity = capacity;
    b->data[b->length] = '\0';
    return true;
}

bool text_buffer_append(struct text_buffer *b, const char *s, size_t n)
{
    if (!buffer_reserve(b, n))
        return false;
    if (n)
        memcpy(b->data + b->length, s, n);
    b->length += n;
    b->data[b->length] = '\0';
    return true;
}

bool text_buffer_printf(struct text_buffer *b, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char small[256];
    int needed = vsnprintf(small, sizeof small, format, args);
    va_end(args);
    if (needed < 0)
        return false;
    if ((size_t)needed < sizeof small)
        return text_buffer_append(b, small, (size_t)needed);
    if (!buffer_reserve(b, (size_t)needed))
        return false;
    va_start(args, format);
    vsnprintf(b->data + b->length, (size_t)needed + 1, format, args);
    va_end(args);
    b->length += (size_t)needed;
    return true;
}

static inline bool buffer_put(struct text_buffer *b, char c)
{
    if (b->length + 1 >= b->capacity && !buffer_reserve(b, 1))
        return false;
    b->data[b->length++] = c;
    b->data[b->length] = '\0';
    return true;
}

/* ---- printing atoms ----------------------------------------------------- */

/* Decimal digits of a word into the end of a 20-byte buffer; returns the
 * first digit. */
static char *word_decimal(uint64_t value, char *buffer_end)
{
    char *p = buffer_end;
    do {
        *--p = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    return p;
}

/* Append digits, inserting a '.' every `group` digits counted from the
 * right (group 0: no dots). */
static bool append_grouped(struct text_buffer *b, const char *digits, size_t count, size_t group)
{
    if (group == 0 || count <= group)
        return text_buffer_append(b, digits, count);
    size_t dots = (count - 1) / group;
    if (!buffer_reserve(b, count + dots))
        return false;
    char *out = b->data + b->length + count + dots;
    for (size_t i = 0; i < count; i++) {
        if (i > 0 && i % group == 0)
            *--out = '.';
        *--out = digits[count - 1 - i];
    }
    b->length += count + dots;
    b->data[b->length] = '\0';
    return true;
}

static bool append_word_decimal(struct text_buffer *b, uint64_t value, bool dotted)
{
    char digits[24];
    char *first = word_decimal(value, digits + sizeof digits);
    return append_grouped(b, first, (size_t)(digits + sizeof digits - first), dotted ? 3 : 0);
}

/* Decimal of an indirect atom, through GMP. */
static bool append_big_decimal(struct text_buffer *b, noun atom, bool dotted)
{
    const struct noun_atom *a = noun_to_atom(atom);
    mpz_t value;
    mpz_init(value);
    mpz_import(value, a->length, -1, sizeof(uint64_t), 0, 0, a->words);
    size_t size = mpz_sizeinbase(value, 10) + 2;
    bool ok;
    if (!dotted) {
        ok = buffer_reserve(b, size);
        if (ok) {
            mpz_get_str(b->data + b->length, 10, value);
            b->length += strlen(b->data + b->length);
        }
    } else {
        char *digits = malloc(size);
        ok = digits != NULL;
        if (ok) {
            mpz_get_str(digits, 10, value);
            ok = append_grouped(b, digits, strlen(digits), 3);
            free(digits);
        }
    }
    mpz_clear(value);
    return ok;
}

static bool append_decimal(struct text_buffer *b, noun atom, bool dotted)
{
    if (noun_is_direct(atom))
        return append_word_decimal(b, atom, dotted);
    return append_big_decimal(b, atom, dotted);
}

/* 0x followed by lowercase hex digits, dotted in fours when asked. */
static bool append_hex(struct text_buffer *b, noun atom, bool dotted)
{
    uint64_t single;
    size_t words;
    const uint64_t *w = noun_atom_words(atom, &single, &words);
    uint64_t bits = noun_atom_bit_length(atom);
    size_t digits = bits ? (size_t)((bits + 3) / 4) : 1;
    size_t dots = dotted ? (digits - 1) / 4 : 0;
    if (!text_buffer_append(b, "0x", 2) || !buffer_reserve(b, digits + dots))
        return false;
    static const char hex_digits[] = "0123456789abcdef";
    char *out = b->data + b->length + digits + dots;
    for (size_t i = 0; i < digits; i++) {
        if (dotted && i > 0 && i % 4 == 0)
            *--out = '.';
        uint64_t word = i / 16 < words ? w[i / 16] : 0;
        *--out = hex_digits[(word >> (4 * (i % 16))) & 15];
    }
    b->length += digits + dots;
    b->data[b->length] = '\0';
    return true;
}

static inline uint8_t atom_byte(const uint64_t *words, uint64_t i)
{
    return (uint8_t)(words[i / 8] >> (8 * (i % 8)));
}

/* 'text' when every byte is printable ASCII; decimal otherwise (and for 0). */
static bool append_cord_or_decimal(struct text_buffer *b, noun atom)
{
    uint64_t single;
    size_t words;
    const uint64_t *w = noun_atom_words(atom, &single, &words);
    uint64_t bytes = noun_atom_byte_length(atom);
    bool printable = bytes > 0;
    for (uint64_t i = 0; i < bytes && printable; i++)
        printable = is_printable(atom_byte(w, i));
    if (!printable)
        return append_decimal(b, atom, false);
    if (!buffer_put(b, '\''))
        return false;
    for (uint64_t i = 0; i < bytes; i++) {
        char c = (char)atom_byte(w, i);
        if ((c == '\'' || c == '\\') && !buffer_put(b, '\\'))
            return false;
        if (!buffer_put(b, c))
            return false;
    }
    return buffer_put(b, '\'');
}

/* %term when the atom is a term (a lowercase letter, then lowercase
 * letters, digits and '-') of two bytes or more, else 'cord' when it is
 * printable and three bytes or more, else decimal.  Short atoms are far
 * likelier numbers: 55 is not '7', nor 17711 '/E'. */
static bool append_term_cord_or_decimal(struct text_buffer *b, noun atom)
{
    uint64_t single;
    size_t words;
    const uint64_t *w = noun_atom_words(atom, &single, &words);
    uint64_t bytes = noun_atom_byte_length(atom);
    if (bytes < 2)
        return append_decimal(b, atom, false);
    bool term = bytes > 0 && atom_byte(w, 0) >= 'a' && atom_byte(w, 0) <= 'z';
    for (uint64_t i = 1; i < bytes && term; i++) {
        uint8_t c = atom_byte(w, i);
        term = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    }
    if (!term)
        return bytes < 3 ? append_decimal(b, atom, false) : append_cord_or_decimal(b, atom);
    if (!buffer_put(b, '%'))
        return false;
    for (uint64_t i = 0; i < bytes; i++)
        if (!buffer_put(b, (char)atom_byte(w, i)))
            return false;
    return true;
}

/* Atoms of 2^64 and up print in hex in the Hoon style. */
static bool atom_is_big(noun atom)
{
    return noun_is_indirect(atom) && noun_to_atom(atom)->length > 1;
}

static bool append_atom(struct text_buffer *b, noun atom, enum text_atom_style style)
{
    switch (style) {
    case TEXT_HEX:
        return append_hex(b, atom, false);
    case TEXT_HOON:
        return atom_is_big(atom) ? append_hex(b, atom, true) : append_decimal(b, atom, true);
    case TEXT_CORD:
        return append_cord_or_decimal(b, atom);
    case TEXT_TERM:
        return append_term_cord_or_decimal(b, atom);
    case TEXT_DECIMAL:
    case TEXT_TAPE:
    default:
        return append_decimal(b, atom, false);
    }
}

/* ---- counting hidden cells ---------------------------------------------- */

/* Memo of tree cell counts by cell address: open addressing over entries
 * that keep key and count together (one cache line per probe), key 0 empty
 * (no cell noun is 0), capacity a power of two, at most half full. */
struct memo_entry {
    noun cell;
    uint64_t count;
};

struct count_memo {
    struct memo_entry *entries;
    size_t capacity, count;
};

static inline size_t memo_slot(const struct count_memo *m, noun key)
{
    return (size_t)(((key >> 3) * UINT64_C(0x9E3779B97F4A7C15)) >> 24) & (m->capacity - 1);
}

/* The entry for `key`, or NULL. */
static const struct memo_entry *memo_find(const struct count_memo *m, noun key)
{
    if (!m->capacity)
        return NULL;
    for (size_t i = memo_slot(m, key);; i = (i + 1) & (m->capacity - 1)) {
        const struct memo_entry *entry = &m->entries[i];
        if (entry->cell == key)
            return entry;
        if (entry->cell == 0)
            return NULL;
    }
}

static void memo_insert_new(struct count_memo *m, noun key, uint64_t count)
{
    size_t i = memo_slot(m, key);
    while (m->entries[i].cell != 0)
        i = (i + 1) & (m->capacity - 1);
    m->entries[i].cell = key;
    m->entries[i].count = count;
    m->count++;
}

static bool memo_put(struct count_memo *m, noun key, uint64_t count)
{
    if ((m->count + 1) * 2 > m->capacity) {
        struct count_memo bigger = {.capacity = m->capacity ? m->capacity * 2 : 1024};
        bigger.entries = calloc(bigger.capacity, sizeof(struct memo_entry));
        if (!bigger.entries)
            return false;
        for (size_t i = 0; i < m->capacity; i++)
            if (m->entries[i].cell)
                memo_insert_new(&bigger, m->entries[i].cell, m->entries[i].count);
        free(m->entries);
        *m = bigger;
    }
    memo_insert_new(m, key, count);
    return true;
}

static void memo_free(struct count_memo *m)
{
    free(m->entries);
}

/* Counts stop at COUNT_CAP, meaning "at least 2^63": exact below it. */
#define COUNT_CAP (UINT64_C(1) << 63)

static inline uint64_t add_saturating(uint64_t a, uint64_t b)
{
    return a >= COUNT_CAP - b ? COUNT_CAP : a + b;
}

/* Tree cells of a child: 0 for an atom, else its memoized count. */
static uint64_t child_count(const struct count_memo *memo, noun child)
{
    if (!noun_is_cell(child))
        return 0;
    const struct memo_entry *entry = memo_find(memo, child);
    return entry ? entry->count : 0;
}

/* A work entry with this bit set means "children counted, now sum"; cell
 * nouns are 8-byte aligned addresses, so bit 0 is free. */
#define COUNT_CHILDREN_DONE 1u

/* Cells of n as a tree (0 for an atom), post-order over an explicit stack.
 * A cell is summed only once its children are in the memo; a cell reached
 * twice before it is summed is skipped the second time by the memo check. */
static bool count_tree_cells(struct count_memo *memo, struct stack *work, noun n, uint64_t *out)
{
    if (!noun_is_cell(n)) {
        *out = 0;
        return true;
    }
    work->count = 0;
    if (!noun_push(work, n))
        return false;
    while (work->count) {
        noun entry = noun_items(work)[--work->count];
        noun cell = entry & ~(noun)COUNT_CHILDREN_DONE;
        noun head = noun_head(cell), tail = noun_tail(cell);
        if (entry & COUNT_CHILDREN_DONE) {
            uint64_t count = add_saturating(1, add_saturating(child_count(memo, head), child_count(memo, tail)));
            if (!memo_put(memo, cell, count))
                return false;
            continue;
        }
        if (memo_find(memo, cell))
            continue;
        if (!noun_push(work, cell | COUNT_CHILDREN_DONE))
            return false;
        if (noun_is_cell(head) && !memo_find(memo, head) && !noun_push(work, head))
            return false;
        if (noun_is_cell(tail) && !memo_find(memo, tail) && !noun_push(work, tail))
            return false;
    }
    *out = child_count(memo, n);
    return true;
}

/* Distinct cells of n (0 for an atom): a depth-first walk that visits each
 * cell once, with `seen` as the set of cells met. */
static bool count_distinct_cells(struct stack *work, noun n, uint64_t *out)
{
    struct count_memo seen = {0};
    uint64_t distinct = 0;
    bool ok = true;
    work->count = 0;
    if (noun_is_cell(n))
        ok = noun_push(work, n);
    while (ok && work->count) {
        noun cell = noun_items(work)[--work->count];
        if (memo_find(&seen, cell))
            continue;
        ok = memo_put(&seen, cell, 0);
        distinct++;
        noun head = noun_head(cell), tail = noun_tail(cell);
        if (ok && noun_is_cell(head) && !memo_find(&seen, head))
            ok = noun_push(work, head);
        if (ok && noun_is_cell(tail) && !memo_find(&seen, tail))
            ok = noun_push(work, tail);
    }
    memo_free(&seen);
    *out = distinct;
    return ok;
}

/* ---- the noun printer --------------------------------------------------- */

/* What a tape check found: `length` cells if the list is a tape, else where
 * a later check could first succeed (`resume`: the tail after the failing
 * element, or an atom when no suffix can be a tape). */
struct tape_check {
    bool is_tape;
    uint64_t length;
    noun resume;
};

static struct tape_check check_tape(noun list)
{
    struct tape_check result = {.is_tape = false, .length = 0, .resume = NOUN_NONE};
    noun cursor = list;
    while (noun_is_cell(cursor)) {
        noun head = noun_head(cursor);
        if (!noun_is_direct(head) || !is_printable(head)) {
            result.resume = noun_tail(cursor);
            return result;
        }
        result.length++;
        cursor = noun_tail(cursor);
    }
    if (cursor != 0) {
        result.resume = cursor;
        return result;
    }
    result.is_tape = true;
    return result;
}

/* The printer's state.  `open` holds, per tuple being printed, the part of
 * it not printed yet; its depth is the bracket depth.  `resume` parallels it
 * in the TAPE style: the rest at which a tape check may next succeed
 * (NOUN_NONE: check now). */
struct printer {
    struct text_buffer *out;
    enum text_atom_style style;
    uint64_t max_depth, max_cells;
    uint64_t cells_printed;
    struct stack open, resume, count_work;
    struct count_memo memo;
};

/* TAPE and TERM print tapes as "text". */
static bool prints_tapes(const struct printer *pr) { return pr->style == TEXT_TAPE || pr->style == TEXT_TERM; }

static bool budget_spent(const struct printer *pr)
{
    return pr->max_cells && pr->cells_printed >= pr->max_cells;
}

static bool budget_allows(const struct printer *pr, uint64_t cells)
{
    return !pr->max_cells || cells <= pr->max_cells - pr->cells_printed;
}

/* `...(N cells)` for the hidden subtree n. */
static bool print_marker(struct printer *pr, noun n)
{
    uint64_t hidden;
    if (!count_tree_cells(&pr->memo, &pr->count_work, n, &hidden))
        return false;
    if (hidden >= COUNT_CAP) {
        /* Too many as a tree to count: say how many there are in memory. */
        uint64_t distinct;
        if (!count_distinct_cells(&pr->count_work, n, &distinct))
            return false;
        return text_buffer_append(pr->out, "...(", 4) && append_word_decimal(pr->out, distinct, true) &&
               text_buffer_append(pr->out, " distinct cells)", 16);
    }
    return text_buffer_append(pr->out, "...(", 4) && append_word_decimal(pr->out, hidden, true) &&
           text_buffer_append(pr->out, hidden == 1 ? " cell)" : " cells)", hidden == 1 ? 6 : 7);
}

static bool print_tape(struct printer *pr, noun list, uint64_t length)
{
    if (!buffer_put(pr->out, '"'))
        return false;
    for (noun cursor = list; noun_is_cell(cursor); cursor = noun_tail(cursor)) {
        char c = (char)noun_head(cursor);
        if ((c == '"' || c == '\\') && !buffer_put(pr->out, '\\'))
            return false;
        if (!buffer_put(pr->out, c))
            return false;
    }
    pr->cells_printed += length;
    return buffer_put(pr->out, '"');
}

/* Print a cell that stands as an element: a marker, a tape, or '[' with a
 * new open tuple.  *descend is set when the caller must print *element (the
 * cell's head) next. */
static bool print_cell_element(struct printer *pr, noun *element, bool *descend)
{
    noun cell = *element;
    *descend = false;
    if (pr->max_depth && pr->open.count + 1 > pr->max_depth)
        return print_marker(pr, cell);
    if (budget_spent(pr))
        return print_marker(pr, cell);
    noun resume = NOUN_NONE;
    if (prints_tapes(pr)) {
        struct tape_check check = check_tape(cell);
        if (check.is_tape && budget_allows(pr, check.length))
            return print_tape(pr, cell, check.length);
        /* A tape too long for the budget: suffixes would be too, mostly;
         * never check this tuple again rather than re-walk it per element. */
        resume = check.is_tape ? 0 : check.resume;
    }
    if (!buffer_put(pr->out, '[') || !noun_push(&pr->open, noun_tail(cell)))
        return false;
    if (prints_tapes(pr) && !noun_push(&pr->resume, resume))
        return false;
    pr->cells_printed++;
    *element = noun_head(cell);
    *descend = true;
    return true;
}

static void pop_tuple(struct printer *pr)
{
    pr->open.count--;
    if (prints_tapes(pr))
        pr->resume.count--;
}

/* In the TAPE style, whether the rest of the innermost tuple (a cell) is a
 * tape to print as its last element; updates where to check next. */
static bool rest_is_tape(struct printer *pr, noun rest, uint64_t *length)
{
    noun *resume = &noun_items(&pr->resume)[pr->resume.count - 1];
    if (*resume != NOUN_NONE && *resume != rest)
        return false;
    struct tape_check check = check_tape(rest);
    if (check.is_tape && budget_allows(pr, check.length)) {
        *length = check.length;
        return true;
    }
    *resume = check.is_tape ? 0 : check.resume;
    return false;
}

/* After an element: close finished tuples, and find the next element.
 * Returns false on memory failure; *done when the whole noun is printed. */
static bool print_next(struct printer *pr, noun *element, bool *done)
{
    for (;;) {
        if (pr->open.count == 0) {
            *done = true;
            return true;
        }
        noun rest = noun_items(&pr->open)[pr->open.count - 1];
        if (!buffer_put(pr->out, ' '))
            return false;
        if (!noun_is_cell(rest)) {
            if (!append_atom(pr->out, rest, pr->style) || !buffer_put(pr->out, ']'))
                return false;
            pop_tuple(pr);
            continue;
        }
        if (budget_spent(pr)) {
            if (!print_marker(pr, rest) || !buffer_put(pr->out, ']'))
                return false;
            pop_tuple(pr);
            continue;
        }
        uint64_t tape_length;
        if (prints_tapes(pr) && rest_is_tape(pr, rest, &tape_length)) {
            if (!print_tape(pr, rest, tape_length) || !buffer_put(pr->out, ']'))
                return false;
            pop_tuple(pr);
            continue;
        }
        pr->cells_printed++;
        noun_items(&pr->open)[pr->open.count - 1] = noun_tail(rest);
        *element = noun_head(rest);
        *done = false;
        return true;
    }
}

static bool print_noun(struct printer *pr, noun n)
{
    noun element = n;
    for (;;) {
        if (noun_is_cell(element)) {
            bool descend;
            if (!print_cell_element(pr, &element, &descend))
                return false;
            if (descend)
                continue;
        } else if (!append_atom(pr->out, element, pr->style)) {
            return false;
        }
        bool done;
        if (!print_next(pr, &element, &done))
            return false;
        if (done)
            return true;
    }
}

bool text_print(struct text_buffer *out, noun n, const struct text_print_options *options)
{
    struct printer pr = {.out = out};
    if (options) {
        pr.style = options->style;
        pr.max_depth = options->max_depth;
        pr.max_cells = options->max_cells;
    }
    stack_init(&pr.open, sizeof(noun));
    stack_init(&pr.resume, sizeof(noun));
    stack_init(&pr.count_work, sizeof(noun));
    bool ok = print_noun(&pr, n);
    stack_free(&pr.open);
    stack_free(&pr.resume);
    stack_free(&pr.count_work);
    memo_free(&pr.memo);
    return ok;
}

char *text_format(noun n)
{
    struct text_buffer b;
    text_buffer_init(&b);
    if (!text_print(&b, n, NULL)) {
        text_buffer_free(&b);
        return NULL;
    }
    return b.data;
}
