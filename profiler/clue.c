/* clue.c -- short text for trace clues (see clue.h).
 *
 * Everything writes through a `struct writer`, which stops at the end of
 * the buffer and remembers that it did, so callers need no length checks.
 * The noun walk recurses, but only to CLUE_MAX_DEPTH, and a cell's tail is
 * walked in a loop (lists don't deepen the recursion).
 */
#include "profiler/clue.h"

#include <stdbool.h>
#include <stdint.h>

#define CLUE_MAX_DEPTH 6
#define CLUE_MAX_ITEMS 12
#define TAG_SPOT 0x746f7073u

struct writer {
    char *out;
    size_t size, length;
};

static void put_char(struct writer *w, char c)
{
    if (w->length + 1 < w->size)
        w->out[w->length++] = c;
}

static void put_text(struct writer *w, const char *text)
{
    while (*text)
        put_char(w, *text++);
}

static void put_decimal(struct writer *w, uint64_t value)
{
    char digits[24];
    size_t at = sizeof digits;
    do {
        digits[--at] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (at < sizeof digits)
        put_char(w, digits[at++]);
}

/* The bytes of an atom (least significant first) when it has at most
 * `max` of them; 0 otherwise. */
static size_t atom_bytes(noun atom, uint8_t *bytes, size_t max)
{
    uint64_t single;
    size_t words;
    const uint64_t *word = noun_atom_words(atom, &single, &words);
    size_t count = 0;
    for (size_t i = 0; i < words; i++)
        for (int b = 0; b < 8; b++) {
            uint8_t byte = (uint8_t)(word[i] >> (8 * b));
            if (count >= max && byte)
                return 0;
            if (count < max)
                bytes[count++] = byte;
        }
    while (count && bytes[count - 1] == 0)
        count--;
    return count;
}

/* Whether the atom is printable text, which is then written (quoted if
 * `quote`, which also allows blanks). */
static bool put_cord(struct writer *w, noun atom, bool quote)
{
    uint8_t bytes[96];
    size_t count = atom_bytes(atom, bytes, sizeof bytes);
    if (count == 0)
        return false;
    for (size_t i = 0; i < count; i++) {
        bool term = (bytes[i] >= 'a' && bytes[i] <= 'z') || (bytes[i] >= '0' && bytes[i] <= '9') || bytes[i] == '-';
        if (quote ? bytes[i] < 32 || bytes[i] > 126 || bytes[i] == '\'' : !term)
            return false;
    }
    if (quote)
        put_char(w, '\'');
    for (size_t i = 0; i < count; i++)
        put_char(w, (char)bytes[i]);
    if (quote)
        put_char(w, '\'');
    return true;
}

static void put_atom(struct writer *w, noun atom)
{
    if (noun_is_direct(atom) && atom < 256) {
        put_decimal(w, atom);
        return;
    }
    if (put_cord(w, atom, true))
        return;
    if (noun_is_direct(atom)) {
        put_decimal(w, atom);
        return;
    }
    put_text(w, "<");
    put_decimal(w, noun_atom_bit_length(atom));
    put_text(w, "-bit atom>");
}

static void put_noun(struct writer *w, noun n, int depth)
{
    if (noun_is_atom(n)) {
        put_atom(w, n);
        return;
    }
    if (depth >= CLUE_MAX_DEPTH) {
        put_text(w, "[...]");
        return;
    }
    put_char(w, '[');
    int items = 0;
    while (noun_is_cell(n) && items < CLUE_MAX_ITEMS) {
        if (items)
            put_char(w, ' ');
        put_noun(w, noun_head(n), depth + 1);
        n = noun_tail(n);
        items++;
    }
    put_char(w, ' ');
    if (noun_is_cell(n))
        put_text(w, "...");
    else
        put_noun(w, n, depth + 1);
    put_char(w, ']');
}

/* [path [[line col] [line col]]] as "/a/b line:col"; false when the clue
 * is not of that shape (nothing is written then). */
static bool put_spot(struct writer *w, noun clue)
{
    if (!noun_is_cell(clue))
        return false;
    noun path = noun_head(clue), range = noun_tail(clue);
    size_t mark = w->length;
    for (int parts = 0; noun_is_cell(path) && parts < 16; parts++, path = noun_tail(path)) {
        put_char(w, '/');
        if (!put_cord(w, noun_head(path), false)) {
            w->length = mark;
            return false;
        }
    }
    if (path != 0) {
        w->length = mark;
        return false;
    }
    if (noun_is_cell(range) && noun_is_cell(noun_head(range))) {
        noun start = noun_head(range);
        if (noun_is_direct(noun_head(start)) && noun_is_direct(noun_tail(start))) {
            put_char(w, ' ');
            put_decimal(w, noun_head(start));
            put_char(w, ':');
            put_decimal(w, noun_tail(start));
        }
    }
    return true;
}

static size_t finish(struct writer *w)
{
    if (w->size == 0)
        return 0;
    if (w->length + 1 >= w->size && w->size > 4) {
        w->length = w->size - 4;
        put_text(w, "...");
    }
    w->out[w->length] = 0;
    return w->length;
}

size_t clue_format_value(noun tag, noun clue, char *out, size_t size)
{
    struct writer w = { out, size, 0 };
    if (!(tag == TAG_SPOT && put_spot(&w, clue)))
        put_noun(&w, clue, 0);
    return finish(&w);
}

size_t clue_format(noun tag, noun clue, char *out, size_t size)
{
    struct writer w = { out, size, 0 };
    put_char(&w, '%');
    if (!put_cord(&w, tag, false))
        put_atom(&w, tag);
    put_char(&w, ' ');
    finish(&w);
    size_t length = w.length;
    return length + clue_format_value(tag, clue, out + length, size > length ? size - length : 0);
}
