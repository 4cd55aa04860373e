/* fuzz_cue.c -- libFuzzer target for cue (interp/jam.h).
 *
 * Arbitrary bytes either fail to cue with an error, or cue to a noun whose
 * jam cues back to an equal noun, and jamming that gives the same bytes
 * again (jam is a function of the noun).  The noun's text, printed with a
 * cell budget (cued nouns share subtrees, so their trees can be huge), must
 * parse back when nothing was elided.  jam_peek_direct_atom, on any input,
 * must return; where cue accepts the input, it must find the direct atoms
 * noun_fragment finds at the axes of the top six levels, and nothing
 * else.  Anything else aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/jam.h"
#include "interp/noun.h"
#include "interp/text.h"

#define REGION_BYTES ((size_t)256 << 20)

static struct noun_region *region;

static void fuzz_check(bool condition, const char *what)
{
    if (condition)
        return;
    fprintf(stderr, "fuzz_cue: %s\n", what);
    abort();
}

static void check_text(noun n)
{
    struct text_buffer b;
    text_buffer_init(&b);
    struct text_print_options options = {.style = TEXT_DECIMAL, .max_cells = 256};
    fuzz_check(text_print(&b, n, &options), "text_print failed");
    if (!strstr(b.data, "...(")) {
        noun again;
        struct text_error error;
        fuzz_check(text_parse(region, b.data, b.length, NULL, NULL, &again, &error), "printed text does not parse");
        fuzz_check(noun_equal(again, n), "printed text parses to a different noun");
    }
    text_buffer_free(&b);
}

/* The peek at each axis of the top six levels: where cued (n is not
 * NOUN_NONE), the direct atom noun_fragment gives there, or false. */
static void check_peek(const uint8_t *data, size_t size, noun n)
{
    for (uint64_t axis = 1; axis < 128; axis++) {
        noun got = NOUN_NONE;
        bool found = jam_peek_direct_atom(data, size, axis, &got);
        if (n == NOUN_NONE)
            continue;
        noun expected = noun_fragment(axis, n);
        bool direct = expected != NOUN_NONE && noun_is_direct(expected);
        fuzz_check(found == direct, "the peek and the cued noun disagree on a direct atom's place");
        fuzz_check(!found || got == expected, "the peek found another atom than the cued noun holds");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!region) {
        region = noun_region_new(REGION_BYTES);
        if (!region)
            abort();
    }
    noun_region_reset(region);

    noun n = NOUN_NONE;
    struct jam_error error;
    if (!jam_cue_bytes(region, data, size, &n, &error)) {
        fuzz_check(memchr(error.message, '\0', sizeof error.message) != NULL, "error message not terminated");
        fuzz_check(error.message[0] != '\0', "empty error message");
        fuzz_check(error.bit_offset <= (uint64_t)size * 8, "error offset past the input");
        fuzz_check(n == NOUN_NONE, "output written on failure");
        check_peek(data, size, NOUN_NONE);
        return 0;
    }
    uint8_t *jammed = NULL, *rejammed = NULL;
    size_t jammed_length = 0, rejammed_length = 0;
    fuzz_check(jam_to_bytes(n, &jammed, &jammed_length), "jam failed");
    noun again = NOUN_NONE;
    fuzz_check(jam_cue_bytes(region, jammed, jammed_length, &again, &error), "cue of jam failed");
    fuzz_check(noun_equal(n, again), "cue(jam(x)) differs from x");
    fuzz_check(jam_to_bytes(again, &rejammed, &rejammed_length), "second jam failed");
    fuzz_check(rejammed_length == jammed_length && memcmp(jammed, rejammed, jammed_length) == 0,
               "jam(cue(jam(x))) differs from jam(x)");
    free(jammed);
    free(rejammed);
    check_text(n);
    check_peek(data, size, n);
    return 0;
}
