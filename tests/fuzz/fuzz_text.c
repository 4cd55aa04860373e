/* fuzz_text.c -- libFuzzer target for the noun text parser and printer.
 *
 * Any input either fails to parse with an error inside the text, or parses
 * to a noun that, printed in every style, parses back to the same noun.
 * Printing with depth and cell limits must not crash, and its text, when it
 * parses (nothing elided), must give the same noun too.  Anything else aborts (a finding).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/noun.h"
#include "interp/text.h"

#define REGION_BYTES ((size_t)256 << 20)

static struct noun_region *region;

static void fuzz_check(bool condition, const char *what, const uint8_t *data, size_t size)
{
    if (condition)
        return;
    fprintf(stderr, "fuzz_text: %s\ninput: %.*s\n", what, (int)size, (const char *)data);
    abort();
}

/* A few names, so the name path is exercised: x, pair, big. */
static noun resolve(void *context, const char *name, size_t length)
{
    struct noun_region *r = context;
    if (length == 1 && name[0] == 'x')
        return 42;
    if (length == 4 && memcmp(name, "pair", 4) == 0)
        return noun_cell_new(r, 1, noun_cell_new(r, 2, 3));
    if (length == 3 && memcmp(name, "big", 3) == 0) {
        uint64_t words[2] = {5, 1};
        return noun_atom_from_words(r, words, 2);
    }
    return NOUN_NONE;
}

static void check_error(const struct text_error *error, size_t size, const uint8_t *data)
{
    fuzz_check(error->offset <= size, "error offset past the end of the input", data, size);
    fuzz_check(memchr(error->message, '\0', sizeof error->message) != NULL, "error message not terminated",
               data, size);
    fuzz_check(error->message[0] != '\0', "empty error message", data, size);
}

/* Print n with the options.  Without limits the text must parse back to n.
 * With limits, text that parses must still give n (an elision marker never
 * parses), and text that doesn't must hold a marker. */
static void print_and_check(noun n, const struct text_print_options *options, const uint8_t *data, size_t size)
{
    struct text_buffer b;
    text_buffer_init(&b);
    fuzz_check(text_print(&b, n, options), "text_print failed", data, size);
    fuzz_check(b.data && strlen(b.data) == b.length, "printed text length is wrong", data, size);
    bool limited = options->max_depth || options->max_cells;
    noun again;
    struct text_error error;
    if (!text_parse(region, b.data, b.length, NULL, NULL, &again, &error)) {
        if (!limited || !strstr(b.data, "...(")) {
            fprintf(stderr, "printed: %s\nerror: %s\n", b.data, error.message);
            fuzz_check(false, "printed text does not parse", data, size);
        }
    } else if (!noun_equal(again, n)) {
        fprintf(stderr, "printed: %s (style %d)\n", b.data, options->style);
        fuzz_check(false, "printed text parses to a different noun", data, size);
    }
    text_buffer_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!region) {
        region = noun_region_new(REGION_BYTES);
        if (!region)
            abort();
    }
    noun_region_reset(region);
    const char *text = (const char *)data;

    /* The atom lexer on its own, from the first byte. */
    size_t position = 0;
    noun atom;
    struct text_error error;
    if (text_parse_atom(region, text, size, &position, &atom, &error)) {
        fuzz_check(position > 0 && position <= size && noun_is_atom(atom), "bad atom parse", data, size);
    } else {
        check_error(&error, size, data);
        fuzz_check(position == 0, "position moved on failure", data, size);
    }

    noun n = NOUN_NONE;
    if (!text_parse(region, text, size, resolve, region, &n, &error)) {
        check_error(&error, size, data);
        fuzz_check(n == NOUN_NONE, "output written on failure", data, size);
        return 0;
    }
    for (int style = TEXT_DECIMAL; style <= TEXT_TAPE; style++) {
        struct text_print_options options = {.style = (enum text_atom_style)style};
        print_and_check(n, &options, data, size);
    }
    /* Limits taken from the input's length, so the corpus explores them. */
    struct text_print_options limited = {.style = (enum text_atom_style)(size % 5), .max_depth = 1 + size % 4,
                                         .max_cells = 1 + size % 7};
    print_and_check(n, &limited, data, size);
    char *canonical = text_format(n);
    fuzz_check(canonical != NULL, "text_format failed", data, size);
    free(canonical);
    return 0;
}
