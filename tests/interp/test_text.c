/* test_text.c -- the noun text parser and printer (interp/text.h).
 *
 * Round trips over the shared vectors, every input form, every error with
 * its column, big atoms, the print styles, elision, and nouns nested ten
 * million deep both ways (parsed and printed without the C stack).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "interp/jam.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "tests/support/support.h"

static struct noun_region *region;

static int setup(void **state)
{
    return support_region_open(&region);
}

static int teardown(void **state)
{
    return support_region_close(&region);
}

static int reset_region(void **state)
{
    (void)state;
    noun_region_reset(region);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static noun parse_length(const char *text, size_t length)
{
    noun out = NOUN_NONE;
    struct text_error error = {0};
    if (!text_parse(region, text, length, NULL, NULL, &out, &error))
        fail_msg("parse of '%.60s' failed: %s (offset %zu)", text, error.message, error.offset);
    return out;
}

static noun parse(const char *text) { return parse_length(text, strlen(text)); }

/* The printed form of n in `style` (malloc'd). */
static char *print_style(noun n, enum text_atom_style style, uint64_t max_depth, uint64_t max_cells)
{
    struct text_buffer b;
    text_buffer_init(&b);
    struct text_print_options options = {.style = style, .max_depth = max_depth, .max_cells = max_cells};
    assert_true(text_print(&b, n, &options));
    assert_non_null(b.data);
    assert_int_equal(strlen(b.data), b.length);
    return b.data;
}

static void assert_prints(noun n, enum text_atom_style style, const char *expected)
{
    char *text = print_style(n, style, 0, 0);
    assert_string_equal(text, expected);
    free(text);
}

/* Parsing `input` gives a noun that prints canonically as `canonical`, and
 * that text parses back to the same noun. */
static void assert_canonical(const char *input, const char *canonical)
{
    noun n = parse(input);
    char *text = text_format(n);
    assert_non_null(text);
    assert_string_equal(text, canonical);
    assert_true(noun_equal(parse(text), n));
    free(text);
}

static void assert_parse_error(const char *input, size_t length, size_t offset, const char *message)
{
    noun out = 12345;
    struct text_error error = {0};
    assert_false(text_parse(region, input, length, NULL, NULL, &out, &error));
    assert_int_equal(out, 12345);
    assert_string_equal(error.message, message);
    assert_int_equal(error.offset, offset);
}

static void assert_atom_words(noun atom, const uint64_t *words, size_t count)
{
    uint64_t single;
    size_t have;
    const uint64_t *w = noun_atom_words(atom, &single, &have);
    assert_true(noun_is_atom(atom));
    assert_int_equal(have, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(w[i], words[i]);
}

/* ---- round trips over the shared vectors -------------------------------- */

static const char *shared_dir(void)
{
    const char *shared = getenv("SHARED");
    return shared && *shared ? shared : "../shared";
}

/* Every field of every vector file is noun text (except "!", a crash). */
static void test_vectors_round_trip(void **state)
{
    (void)state;
    static const char *files[] = {"jam.tsv", "mug.tsv", "nock.tsv"};
    size_t fields = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/vectors/%s", shared_dir(), files[f]);
        FILE *file = fopen(path, "r");
        if (!file)
            fail_msg("cannot open %s (set SHARED)", path);
        char line[8192];
        while (fgets(line, sizeof line, file)) {
            if (line[0] == '#' || line[0] == '\n')
                continue;
            line[strcspn(line, "\r\n")] = '\0';
            char *save = NULL;
            for (char *field = strtok_r(line, "\t", &save); field; field = strtok_r(NULL, "\t", &save)) {
                if (strcmp(field, "!") == 0)
                    continue;
                noun n = parse(field);
                char *printed = text_format(n);
                noun again = parse(printed);
                if (!noun_equal(n, again))
                    fail_msg("%s: '%s' printed as '%s' parses differently", files[f], field, printed);
                /* Printing is a fixed point: canonical text prints as itself. */
                char *twice = text_format(again);
                assert_string_equal(printed, twice);
                free(printed);
                free(twice);
                fields++;
            }
        }
        fclose(file);
    }
    assert_true(fields > 100);
}

/* Specific vectors with their exact canonical text. */
static void test_vector_values(void **state)
{
    (void)state;
    assert_canonical("%fast", "1953718630");
    assert_canonical("[%fast %full]", "[1953718630 1819047270]");
    assert_canonical("0x3a39b0b37c0", "4001215756224");
    assert_canonical("[[1 2] [1 2] 1 2]", "[[1 2] [1 2] 1 2]");
    assert_canonical("[[[1 [[2 [[3 [[4 [[5 6 [7 [[8 0] 0]]] 0]] 0]] 0]] 0]] 0] 0]",
                     "[[[1 [2 [3 [4 [5 6 7 [8 0] 0] 0] 0] 0] 0] 0] 0]");
    assert_canonical("[340282366920938463463374607431768211455 1]", "[340282366920938463463374607431768211455 1]");
    noun n = parse("[[4 0 3] 9]");
    assert_int_equal(noun_head(noun_head(n)), 4);
    assert_int_equal(noun_tail(noun_tail(noun_head(n))), 3);
    assert_int_equal(noun_tail(n), 9);
}

/* ---- input forms -------------------------------------------------------- */

static void test_decimal(void **state)
{
    (void)state;
    assert_int_equal(parse("0"), 0);
    assert_int_equal(parse("42"), 42);
    assert_int_equal(parse("007"), 7);
    assert_int_equal(parse("9223372036854775807"), NOUN_DIRECT_MAX);
    uint64_t two63[] = {UINT64_C(1) << 63};
    assert_atom_words(parse("9223372036854775808"), two63, 1);
    uint64_t max64[] = {UINT64_MAX};
    assert_atom_words(parse("18446744073709551615"), max64, 1);
    uint64_t two64[] = {0, 1};
    assert_atom_words(parse("18446744073709551616"), two64, 2);
    assert_atom_words(parse("18.446.744.073.709.551.616"), two64, 2);
    uint64_t two200[] = {0, 0, 0, 256};
    assert_atom_words(parse("1606938044258990275541962092341162602522202993782792835301376"), two200, 4);
    assert_atom_words(parse("1.606.938.044.258.990.275.541.962.092.341.162.602.522.202.993.782.792.835.301.376"),
                      two200, 4);
    /* Leading zeros beyond the small path still give a canonical atom. */
    assert_int_equal(parse("000000000000000000000000000000000001"), 1);
    assert_int_equal(parse("1.000.000"), 1000000);
    assert_int_equal(parse("999.999"), 999999);
    assert_int_equal(parse("12.345"), 12345);
    assert_canonical("2.000.000.000.000.000.000.000", "2000000000000000000000");
}

static void test_hex(void **state)
{
    (void)state;
    assert_int_equal(parse("0x0"), 0);
    assert_int_equal(parse("0x1f"), 31);
    assert_int_equal(parse("0xdead.beef"), 0xdeadbeef);
    assert_int_equal(parse("0xDEADBEEF"), 0xdeadbeef);
    assert_int_equal(parse("0x1.0000"), 0x10000);
    assert_int_equal(parse("0x7fff.ffff.ffff.ffff"), NOUN_DIRECT_MAX);
    uint64_t two63[] = {UINT64_C(1) << 63};
    assert_atom_words(parse("0x8000000000000000"), two63, 1);
    uint64_t two64[] = {0, 1};
    assert_atom_words(parse("0x1.0000.0000.0000.0000"), two64, 2);
    assert_atom_words(parse("0x00000000000000000000000000010000000000000000"), two64, 2);
    uint64_t two200[] = {0, 0, 0, 256};
    assert_atom_words(parse("0x100000000000000000000000000000000000000000000000000"), two200, 4);
    uint64_t mixed[] = {UINT64_C(0x0123456789abcdef), UINT64_C(0xfedcba9876543210)};
    assert_atom_words(parse("0xfedc.ba98.7654.3210.0123.4567.89ab.cdef"), mixed, 2);
}

static void test_cord(void **state)
{
    (void)state;
    assert_int_equal(parse("''"), 0);
    assert_int_equal(parse("'a'"), 97);
    assert_int_equal(parse("'ab'"), 0x6261);
    assert_int_equal(parse("'it\\'s'"), 0x73277469);
    assert_int_equal(parse("'\\\\'"), '\\');
    assert_int_equal(parse("'\\0a'"), 10);
    assert_int_equal(parse("'\\0A\\ff'"), 0xff0a);
    assert_int_equal(parse("'a\\00'"), 97); /* trailing zero bytes vanish */
    assert_int_equal(parse("'\\00a'"), 97 << 8);
    assert_int_equal(parse("'[x y]'"), parse("0x5d.7920.785b"));
    uint64_t words[] = {UINT64_C(0x6867666564636261), UINT64_C(0x6a69)};
    assert_atom_words(parse("'abcdefghij'"), words, 2);
    assert_int_equal(parse("'abcdefgh'") >> 63, 0); /* 'h' = 0x68: still direct */
}

static void test_term(void **state)
{
    (void)state;
    assert_int_equal(parse("%foo"), 0x6f6f66);
    assert_int_equal(parse("%foo"), parse("'foo'"));
    assert_int_equal(parse("%a-b1"), parse("'a-b1'"));
    assert_int_equal(parse("%Fo"), parse("'Fo'"));
    assert_int_equal(parse("%.y"), 0);
    assert_int_equal(parse("%.n"), 1);
    assert_int_equal(parse("%&"), 0);
    assert_int_equal(parse("%|"), 1);
    assert_int_equal(parse("%$"), 0);
    assert_true(noun_equal(parse("[%.y %.n]"), parse("[0 1]")));
}

static void test_tape(void **state)
{
    (void)state;
    assert_int_equal(parse("\"\""), 0);
    assert_true(noun_equal(parse("\"hi\""), parse("[104 105 0]")));
    assert_true(noun_equal(parse("\"a\\\"b\""), parse("[97 34 98 0]")));
    assert_true(noun_equal(parse("[1 \"ab\"]"), parse("[1 97 98 0]")));
}

static void test_cells(void **state)
{
    (void)state;
    noun n = parse("[1 2]");
    assert_true(noun_is_cell(n));
    assert_int_equal(noun_head(n), 1);
    assert_int_equal(noun_tail(n), 2);
    assert_true(noun_equal(parse("[1 2 3]"), parse("[1 [2 3]]")));
    assert_false(noun_equal(parse("[1 2 3]"), parse("[[1 2] 3]")));
    assert_canonical("[1 [2 3]]", "[1 2 3]");
    assert_canonical("[[1 2] 3]", "[[1 2] 3]");
    assert_canonical("  \t[ 1\t2\n\n 3\r\n]\n ", "[1 2 3]");
    assert_canonical("[[[1 2] [3 4]] [[5 6] 7 8] 9]", "[[[1 2] 3 4] [[5 6] 7 8] 9]");
    assert_canonical("[[1 2] [[3 4] 5]]", "[[1 2] [3 4] 5]");
    assert_canonical("[1 [2 [3 [4 5]]] 6]", "[1 [2 3 4 5] 6]");
    assert_canonical(" 42 ", "42");
    assert_canonical("[0x10 'a' %b \"c\" 1.000]", "[16 97 98 [99 0] 1000]");
    assert_canonical("[0x10 'a' %b \"c\"]", "[16 97 98 99 0]");
}

static noun resolve_test_name(void *context, const char *name, size_t length)
{
    struct noun_region *r = context;
    if (length == 1 && name[0] == 'x')
        return 42;
    if (length == 4 && memcmp(name, "pair", 4) == 0)
        return noun_cell_new(r, 1, 2);
    if (length == 4 && memcmp(name, "a-b2", 4) == 0)
        return 7;
    return NOUN_NONE;
}

static void test_names(void **state)
{
    (void)state;
    noun out;
    struct text_error error;
    const char *text = "[x pair a-b2]";
    assert_true(text_parse(region, text, strlen(text), resolve_test_name, region, &out, &error));
    char *printed = text_format(out);
    assert_string_equal(printed, "[42 [1 2] 7]");
    free(printed);

    text = "[x\n  y]";
    assert_false(text_parse(region, text, strlen(text), resolve_test_name, region, &out, &error));
    assert_string_equal(error.message, "unknown name 'y' at line 2, column 3");
    assert_int_equal(error.offset, 5);
    assert_parse_error("[1 foo]", 7, 3, "unknown name 'foo' at column 4");

    char long_name[120];
    memset(long_name, 'q', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_parse_error(long_name, strlen(long_name), 0,
                       "unknown name 'qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...' at column 1");
}

static void test_parse_atom(void **state)
{
    (void)state;
    const char *text = "12 %foo 'x'y 0x1f]1.000";
    size_t length = strlen(text), position = 0;
    noun out;
    struct text_error error;
    assert_true(text_parse_atom(region, text, length, &position, &out, &error));
    assert_int_equal(out, 12);
    assert_int_equal(position, 2);
    position = 3;
    assert_true(text_parse_atom(region, text, length, &position, &out, &error));
    assert_int_equal(out, parse("'foo'"));
    assert_int_equal(position, 7);
    position = 8;
    assert_true(text_parse_atom(region, text, length, &position, &out, &error));
    assert_int_equal(out, 'x');
    assert_int_equal(position, 11);
    /* 'y' is a name, not an atom literal: position stays. */
    assert_false(text_parse_atom(region, text, length, &position, &out, &error));
    assert_int_equal(position, 11);
    assert_string_equal(error.message, "expected an atom at column 12, found 'y'");
    position = 13;
    assert_true(text_parse_atom(region, text, length, &position, &out, &error));
    assert_int_equal(out, 31);
    assert_int_equal(position, 17);
    position = 18;
    assert_true(text_parse_atom(region, text, length, &position, &out, &error));
    assert_int_equal(out, 1000);
    assert_int_equal(position, length);
    assert_false(text_parse_atom(region, text, length, &position, &out, &error));
    assert_string_equal(error.message, "expected an atom at column 24, found the end of the input");
}

/* ---- errors ------------------------------------------------------------- */

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *input;
        size_t offset;
        const char *message;
    } cases[] = {
        {"", 0, "expected a noun at column 1, found the end of the input"},
        {"   ", 3, "expected a noun at column 4, found the end of the input"},
        {"]", 0, "expected a noun at column 1, found ']'"},
        {"[1 ?]", 3, "expected a noun at column 4, found '?'"},
        {"[1 2", 4, "expected ']' at column 5 to close the '[' at column 1"},
        {"[1 2 3 4 5 ", 11, "expected ']' at column 12 to close the '[' at column 1"},
        {"[1 [2 3]", 8, "expected ']' at column 9 to close the '[' at column 1"},
        {"[", 1, "expected a noun at column 2, found the end of the input"},
        {"[1]", 2, "expected a second element at column 3: the cell opened at column 1 needs two"},
        {"[[1 2]]", 6, "expected a second element at column 7: the cell opened at column 1 needs two"},
        {"[]", 0, "empty brackets at column 1: a cell needs at least two elements"},
        {"[1 [ ] 2]", 3, "empty brackets at column 4: a cell needs at least two elements"},
        {"[1 2]x", 5, "expected the end of the input after the noun at column 6, found 'x'"},
        {"[1 2] 3", 6, "expected the end of the input after the noun at column 7, found '3'"},
        {"[1 2x]", 4, "expected a blank or ']' after an element at column 5, found 'x'"},
        {"[[1 2][3 4]]", 6, "expected a blank or ']' after an element at column 7, found '['"},
        {"12abc", 2, "expected the end of the input after the noun at column 3, found 'a'"},
        {"1.00", 2, "expected exactly 3 digits after '.' in a dotted decimal at column 3"},
        {"1.0000", 2, "expected exactly 3 digits after '.' in a dotted decimal at column 3"},
        {"1.", 2, "expected exactly 3 digits after '.' in a dotted decimal at column 3"},
        {"[1 1.000.00]", 9, "expected exactly 3 digits after '.' in a dotted decimal at column 10"},
        {"1000.000", 0, "expected 1 to 3 digits before the first '.' of a dotted decimal at column 1"},
        {"0x", 2, "expected a hex digit after '0x' at column 3, found the end of the input"},
        {"0xg", 2, "expected a hex digit after '0x' at column 3, found 'g'"},
        {"0xdead.bee", 7, "expected exactly 4 digits after '.' in a dotted hex atom at column 8"},
        {"0x12345.6789", 2, "expected 1 to 4 digits before the first '.' of a dotted hex atom at column 3"},
        {"'abc", 4, "expected ' at column 5 to end the cord that opens at column 1"},
        {"[1 \"ab]", 7, "expected \" at column 8 to end the tape that opens at column 4"},
        {"'a\\qb'", 2, "invalid escape at column 3: in a cord write \\\\, \\' or two hex digits like \\0a"},
        {"'a\\0'", 2, "invalid escape at column 3: in a cord write \\\\, \\' or two hex digits like \\0a"},
        {"'a\tb'", 2, "control character 0x09 in a cord at column 3 (write it as \\09)"},
        {"'a\nb'", 2, "control character 0x0a in a cord at column 3 (write it as \\0a)"},
        {"%", 1, "expected a letter after '%' (or %.y, %.n, %$) at column 2, found the end of the input"},
        {"%1", 1, "expected a letter after '%' (or %.y, %.n, %$) at column 2, found '1'"},
        {"%.x", 2, "expected 'y' or 'n' after '%.' at column 3, found 'x'"},
        {"[1 foo]", 3, "unknown name 'foo' at column 4"},
        {"[1\n 2\n x]", 7, "unknown name 'x' at line 3, column 2"},
        {"[1\n 2", 5, "expected ']' at line 2, column 3 to close the '[' at column 1"},
        {"-1", 0, "expected a noun at column 1, found '-'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_parse_error(cases[i].input, strlen(cases[i].input), cases[i].offset, cases[i].message);
    /* Bytes that are not text are named by value; the length is respected. */
    assert_parse_error("[1 \0]", 5, 3, "expected a noun at column 4, found byte 0x00");
    assert_parse_error("[1 2]", 4, 4, "expected ']' at column 5 to close the '[' at column 1");
    assert_parse_error("[1 \xff]", 5, 3, "expected a noun at column 4, found byte 0xff");
}

/* ---- printing ----------------------------------------------------------- */

static void test_print_styles(void **state)
{
    (void)state;
    noun n = parse("[1.000.000 0 'hi' [%foo \"ab\"] 0xdead.beef.0000.0000.0000]");
    assert_prints(n, TEXT_DECIMAL, "[1000000 0 26984 [7303014 97 98 0] 1051570404137199630024704]");
    assert_prints(n, TEXT_HEX, "[0xf4240 0x0 0x6968 [0x6f6f66 0x61 0x62 0x0] 0xdeadbeef000000000000]");
    assert_prints(n, TEXT_HOON, "[1.000.000 0 26.984 [7.303.014 97 98 0] 0xdead.beef.0000.0000.0000]");
    assert_prints(n, TEXT_CORD, "[1000000 0 'hi' ['foo' 'a' 'b' 0] 1051570404137199630024704]");
    assert_prints(n, TEXT_TAPE, "[1000000 0 26984 [7303014 \"ab\"] 1051570404137199630024704]");
    assert_prints(n, TEXT_TERM, "[1000000 0 %hi [%foo \"ab\"] 1051570404137199630024704]");
    /* terms, cords, one-byte atoms as numbers, and what is neither */
    assert_prints(parse("[%done 7 55 17.711 'oops!' %a-b1 'Hi!' 0x1.0000]"), TEXT_TERM,
                  "[%done 7 55 17711 'oops!' %a-b1 'Hi!' 65536]");

    assert_prints(parse("\"hello, world\""), TEXT_TAPE, "\"hello, world\"");
    assert_prints(parse("[\"a\" \"b\"]"), TEXT_TAPE, "[\"a\" \"b\"]");
    assert_prints(parse("[1 2 104 105 0]"), TEXT_TAPE, "[1 2 \"hi\"]");
    assert_prints(parse("[104 105 1 104 105 0]"), TEXT_TAPE, "[104 105 1 \"hi\"]");
    assert_prints(parse("[104 105 1]"), TEXT_TAPE, "[104 105 1]");
    assert_prints(parse("\"q\\\"b\\\\s\""), TEXT_TAPE, "\"q\\\"b\\\\s\"");
    assert_prints(parse("'it\\'s \\\\'"), TEXT_CORD, "'it\\'s \\\\'");
    assert_prints(parse("'a\\0ab'"), TEXT_CORD, "6425185");
    assert_prints(parse("0x7fff.ffff.ffff.ffff"), TEXT_HOON, "9.223.372.036.854.775.807");
    assert_prints(parse("18446744073709551615"), TEXT_HOON, "18.446.744.073.709.551.615");
    assert_prints(parse("18446744073709551616"), TEXT_HOON, "0x1.0000.0000.0000.0000");
    assert_prints(parse("18446744073709551616"), TEXT_HEX, "0x10000000000000000");
    assert_prints(parse("123"), TEXT_HOON, "123");
    assert_prints(parse("1234"), TEXT_HOON, "1.234");

    /* Big atoms in every style, and each style parses back. */
    noun two200 = parse("0x100000000000000000000000000000000000000000000000000");
    assert_prints(two200, TEXT_DECIMAL, "1606938044258990275541962092341162602522202993782792835301376");
    assert_prints(two200, TEXT_HOON, "0x100.0000.0000.0000.0000.0000.0000.0000.0000.0000.0000.0000.0000");
    static const char *samples[] = {
        "[1.000.000 0 'hi' [%foo \"ab\"] 0xdead.beef.0000.0000.0000]",
        "[\"it's\" 'a\\'b' \"q\\\"\" 18446744073709551616 [9223372036854775808 1] 0]",
        "[[[1 2] 3] [4 [5 6]] \"\" '' 126 127 32 31]",
    };
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        noun sample = parse(samples[i]);
        for (int style = TEXT_DECIMAL; style <= TEXT_TERM; style++) {
            char *text = print_style(sample, (enum text_atom_style)style, 0, 0);
            if (!noun_equal(parse(text), sample))
                fail_msg("style %d: '%s' does not parse back", style, text);
            free(text);
        }
    }
}

static void assert_elided(const char *input, uint64_t max_depth, uint64_t max_cells, const char *expected)
{
    char *text = print_style(parse(input), TEXT_DECIMAL, max_depth, max_cells);
    assert_string_equal(text, expected);
    free(text);
}

static void test_elision(void **state)
{
    (void)state;
    assert_elided("[1 2 3 4 5]", 0, 2, "[1 2 ...(2 cells)]");
    assert_elided("[1 2 3 4 5]", 0, 3, "[1 2 3 ...(1 cell)]");
    assert_elided("[1 2 3 4 5]", 0, 4, "[1 2 3 4 5]");
    assert_elided("[1 2 3 4 5]", 0, 1, "[1 ...(3 cells)]");
    assert_elided("[[1 2] [3 4] 5]", 1, 0, "[...(1 cell) ...(1 cell) 5]");
    assert_elided("[[1 2] [3 4] 5]", 2, 0, "[[1 2] [3 4] 5]");
    assert_elided("[[1 [2 [3 4] 5]] 6]", 2, 0, "[[1 2 ...(1 cell) 5] 6]");
    assert_elided("[1 2 3]", 0, 0, "[1 2 3]");
    /* Once the budget is spent, atoms still show but every cell is elided. */
    assert_elided("[[1 2 3] [4 5] 6]", 0, 2, "[[1 ...(1 cell)] ...(2 cells)]");
    assert_elided("[[1 2 3] 6]", 0, 2, "[[1 ...(1 cell)] 6]");
    /* A root cell beyond the limits is one marker. */
    assert_elided("[[1 2] 3]", 0, 0, "[[1 2] 3]");
    char *text;

    /* Tapes count their cells against the budget. */
    char *tape_text = print_style(parse("[\"abc\" \"de\"]"), TEXT_TAPE, 0, 2);
    assert_string_equal(tape_text, "[[97 ...(2 cells)] ...(2 cells)]");
    free(tape_text);
    tape_text = print_style(parse("[\"abc\" \"de\"]"), TEXT_TAPE, 0, 4);
    assert_string_equal(tape_text, "[\"abc\" ...(2 cells)]");
    free(tape_text);
    tape_text = print_style(parse("[\"abc\" \"de\"]"), TEXT_TAPE, 0, 6);
    assert_string_equal(tape_text, "[\"abc\" \"de\"]");
    free(tape_text);
    tape_text = print_style(parse("[1 [\"abc\" 2] 3]"), TEXT_TAPE, 1, 0);
    assert_string_equal(tape_text, "[1 ...(4 cells) 3]");
    free(tape_text);

    /* A long list: the count is dotted. */
    struct text_buffer b;
    text_buffer_init(&b);
    assert_true(text_buffer_append(&b, "[", 1));
    for (int i = 0; i < 1300; i++)
        assert_true(text_buffer_printf(&b, "%d ", i));
    assert_true(text_buffer_append(&b, "0]", 2));
    text = print_style(parse(b.data), TEXT_DECIMAL, 0, 3);
    assert_string_equal(text, "[0 1 2 ...(1.297 cells)]");
    free(text);
    text_buffer_free(&b);

    /* s(i) = [[s(i-1) s(i-1)] 0]: 2^200 cells as a tree but 401 in memory.
     * Counting is memoized by address; past 2^63 the marker gives the
     * distinct cells (200 pairs, 199 [pair 0] cells and [1 2]). */
    noun shared = noun_cell_new(region, 1, 2);
    for (int i = 0; i < 200; i++)
        shared = noun_cell_new(region, noun_cell_new(region, shared, shared), 0);
    text = print_style(shared, TEXT_DECIMAL, 1, 0);
    assert_string_equal(text, "[...(400 distinct cells) 0]");
    free(text);
    noun small_shared = noun_cell_new(region, 1, 2);
    for (int i = 0; i < 10; i++)
        small_shared = noun_cell_new(region, noun_cell_new(region, small_shared, small_shared), 0);
    text = print_style(small_shared, TEXT_DECIMAL, 1, 0);
    assert_string_equal(text, "[...(3.069 cells) 0]");
    free(text);
    text = print_style(small_shared, TEXT_DECIMAL, 0, 1);
    assert_string_equal(text, "[...(3.069 cells) 0]");
    free(text);
}

static void test_buffer(void **state)
{
    (void)state;
    struct text_buffer b;
    text_buffer_init(&b);
    assert_null(b.data);
    assert_true(text_buffer_append(&b, "", 0));
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    assert_true(text_buffer_printf(&b, "%d-%s", 7, "x"));
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_true(text_buffer_printf(&b, "<%s>", big));
    assert_int_equal(b.length, 3 + 2 + 999);
    assert_int_equal(strlen(b.data), b.length);
    assert_int_equal(b.data[4], 'z');
    /* text_print appends. */
    assert_true(text_print(&b, parse("[1 2]"), NULL));
    assert_string_equal(b.data + b.length - 5, "[1 2]");
    text_buffer_free(&b);
    assert_null(b.data);
    char *text = text_format(0);
    assert_string_equal(text, "0");
    free(text);
}

/* ---- depth and length --------------------------------------------------- */

#define DEEP 10000000

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* [[[[1 2] 3] 3] ... 3], ten million brackets deep in the head. */
static void test_deep_left(void **state)
{
    (void)state;
    size_t length = DEEP + 3 + (size_t)(DEEP - 1) * 3 + 1;
    char *text = malloc(length + 1);
    assert_non_null(text);
    char *p = text;
    memset(p, '[', DEEP);
    p += DEEP;
    memcpy(p, "1 2]", 4);
    p += 4;
    for (size_t i = 1; i < DEEP; i++) {
        memcpy(p, " 3]", 3);
        p += 3;
    }
    *p = '\0';
    length = (size_t)(p - text);

    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    noun n = parse_length(text, length);
    double parse_seconds = seconds_since(&start);
    size_t depth = 0;
    noun cursor = n;
    while (noun_is_cell(cursor)) {
        depth++;
        assert_int_equal(noun_tail(cursor), depth == DEEP ? 2 : 3);
        cursor = noun_head(cursor);
    }
    assert_int_equal(depth, DEEP);
    assert_int_equal(cursor, 1);

    clock_gettime(CLOCK_MONOTONIC, &start);
    char *printed = text_format(n);
    double print_seconds = seconds_since(&start);
    assert_non_null(printed);
    assert_int_equal(strlen(printed), length);
    assert_true(memcmp(printed, text, length) == 0);
    print_message("deep left: %zu bytes parsed in %.2f s, printed in %.2f s\n", length, parse_seconds,
                  print_seconds);
    free(printed);

    /* Elision cuts it short, with the hidden count. */
    printed = print_style(n, TEXT_DECIMAL, 3, 0);
    assert_string_equal(printed, "[[[...(9.999.997 cells) 3] 3] 3]");
    free(printed);
    free(text);
}

/* [1 [1 [1 ... [1 2]]]] written with explicit brackets, and the same noun
 * built in memory: it prints flattened as one ten-million-element tuple. */
static void test_deep_right(void **state)
{
    (void)state;
    size_t length = (size_t)DEEP * 3 + 1 + DEEP;
    char *text = malloc(length + 1);
    assert_non_null(text);
    char *p = text;
    for (size_t i = 0; i < DEEP; i++) {
        memcpy(p, "[1 ", 3);
        p += 3;
    }
    *p++ = '2';
    memset(p, ']', DEEP);
    p += DEEP;
    *p = '\0';

    noun n = parse_length(text, length);
    free(text);
    noun built = 2;
    for (size_t i = 0; i < DEEP; i++)
        built = noun_cell_new(region, 1, built);
    assert_true(noun_equal(n, built));

    char *printed = text_format(built);
    assert_non_null(printed);
    size_t printed_length = strlen(printed);
    assert_int_equal(printed_length, 1 + (size_t)DEEP * 2 + 2);
    assert_true(memcmp(printed, "[1 1 1 ", 7) == 0);
    assert_string_equal(printed + printed_length - 7, " 1 1 2]");
    assert_true(noun_equal(parse_length(printed, printed_length), built));
    free(printed);
}

/* Printing speed on a wide, varied noun of about a megabyte of text. */
static void test_print_speed(void **state)
{
    (void)state;
    noun list = 0;
    for (uint64_t i = 0; i < 100000; i++) {
        noun item = noun_trel(region, i * 2654435761u, noun_cell_new(region, i, 7), i & 1023);
        list = noun_cell_new(region, item, list);
    }
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char *printed = text_format(list);
    double seconds = seconds_since(&start);
    assert_non_null(printed);
    size_t length = strlen(printed);
    print_message("printed %zu bytes in %.3f s\n", length, seconds);
    assert_true(length > 2000000);
    clock_gettime(CLOCK_MONOTONIC, &start);
    assert_true(noun_equal(parse_length(printed, length), list));
    print_message("parsed back in %.3f s\n", seconds_since(&start));
    free(printed);
}

/* A real 1.1 MB jammed Hoon core: its tree is astronomically large (shared
 * subtrees), so it prints with a cell budget, and must do so fast. */
static void test_print_ivory(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/ivory.pill", shared_dir());
    FILE *file = fopen(path, "rb");
    if (!file) {
        print_message("no %s; skipped\n", path);
        skip();
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    rewind(file);
    uint8_t *bytes = malloc((size_t)size);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)size, file), (size_t)size);
    fclose(file);
    noun core;
    struct jam_error error;
    if (!jam_cue_bytes(region, bytes, (size_t)size, &core, &error))
        fail_msg("cue of ivory.pill failed: %s", error.message);
    free(bytes);
    static const uint64_t budgets[] = {1000, 1000000};
    for (size_t i = 0; i < 2; i++) {
        for (int style = TEXT_DECIMAL; style <= TEXT_TAPE; style++) {
            struct text_buffer b;
            text_buffer_init(&b);
            struct text_print_options options = {.style = (enum text_atom_style)style, .max_cells = budgets[i]};
            struct timespec start;
            clock_gettime(CLOCK_MONOTONIC, &start);
            assert_true(text_print(&b, core, &options));
            double seconds = seconds_since(&start);
            if (style == TEXT_DECIMAL)
                print_message("ivory.pill, max_cells %llu: %zu bytes in %.3f s\n", (unsigned long long)budgets[i],
                              b.length, seconds);
            /* How long it took is reported, not asserted: speed is make
             * bench's business. */
            assert_non_null(strstr(b.data, " distinct cells)"));
            text_buffer_free(&b);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vectors_round_trip, reset_region),
        cmocka_unit_test_setup(test_vector_values, reset_region),
        cmocka_unit_test_setup(test_decimal, reset_region),
        cmocka_unit_test_setup(test_hex, reset_region),
        cmocka_unit_test_setup(test_cord, reset_region),
        cmocka_unit_test_setup(test_term, reset_region),
        cmocka_unit_test_setup(test_tape, reset_region),
        cmocka_unit_test_setup(test_cells, reset_region),
        cmocka_unit_test_setup(test_names, reset_region),
        cmocka_unit_test_setup(test_parse_atom, reset_region),
        cmocka_unit_test_setup(test_errors, reset_region),
        cmocka_unit_test_setup(test_print_styles, reset_region),
        cmocka_unit_test_setup(test_elision, reset_region),
        cmocka_unit_test_setup(test_buffer, reset_region),
        cmocka_unit_test_setup(test_deep_left, reset_region),
        cmocka_unit_test_setup(test_deep_right, reset_region),
        cmocka_unit_test_setup(test_print_speed, reset_region),
        cmocka_unit_test_setup(test_print_ivory, reset_region),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
