/* test_jam.c -- jam and cue (interp/jam.h): Vere's vectors, a byte-for-byte
 * comparison with a naive reference jam written straight from Hoon's
 * definition, seeded random round trips, nouns nested ten million deep both
 * ways, malformed input of every kind (each must fail with an error, never
 * crash), and the ivory pill: cue, mug 0x2a2274c9, and jam back to exactly
 * the file's bytes.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/noun.h"
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


/* "0x1a2b" as little-endian bytes, without leading zeros. */
static size_t read_hex_bytes(const char *text, uint8_t *out, size_t size)
{
    assert_true(text[0] == '0' && text[1] == 'x');
    const char *digits = text + 2;
    size_t count = 0;
    while (isxdigit((unsigned char)digits[count]))
        count++;
    size_t length = (count + 1) / 2;
    assert_true(length <= size);
    memset(out, 0, length);
    for (size_t i = 0; i < count; i++) {
        char c = digits[count - 1 - i];
        unsigned value = isdigit((unsigned char)c) ? (unsigned)(c - '0') : (unsigned)(tolower(c) - 'a' + 10);
        out[i / 2] |= (uint8_t)(value << (4 * (i % 2)));
    }
    while (length > 0 && out[length - 1] == 0)
        length--;
    return length;
}


/* ---- helpers -------------------------------------------------------------- */

static noun cue_or_fail(const uint8_t *bytes, size_t length)
{
    noun out = NOUN_NONE;
    struct jam_error error = {0};
    if (!jam_cue_bytes(region, bytes, length, &out, &error))
        fail_msg("cue failed at bit %llu: %s", (unsigned long long)error.bit_offset, error.message);
    return out;
}

/* jam, cue back, compare, and jam the copy again: the same bytes. */
static void assert_round_trip(noun n)
{
    uint8_t *bytes = NULL, *again = NULL;
    size_t length = 0, again_length = 0;
    assert_true(jam_to_bytes(n, &bytes, &length));
    assert_true(length > 0 && bytes[length - 1] != 0);
    noun copy = cue_or_fail(bytes, length);
    assert_true(noun_equal(copy, n));
    assert_int_equal(mug_noun(copy), mug_noun(n));
    assert_true(jam_to_bytes(copy, &again, &again_length));
    assert_int_equal(again_length, length);
    assert_memory_equal(again, bytes, length);
    free(bytes);
    free(again);
}

/* Expect cue to reject the bytes, with a message. */
static struct jam_error expect_cue_error(const uint8_t *bytes, size_t length)
{
    noun out = 12345;
    struct jam_error error = {0};
    assert_false(jam_cue_bytes(region, bytes, length, &out, &error));
    assert_int_equal(out, 12345);
    assert_true(error.message[0] != 0);
    return error;
}

/* Pack a stream given as '0'/'1' characters, first bit first; spaces are
 * ignored.  Returns the byte length. */
static size_t pack_bits(const char *stream, uint8_t *out, size_t size)
{
    memset(out, 0, size);
    size_t bit = 0;
    for (const char *p = stream; *p; p++) {
        if (*p == ' ')
            continue;
        assert_true(bit / 8 < size);
        if (*p == '1')
            out[bit / 8] |= (uint8_t)(1u << (bit % 8));
        bit++;
    }
    return (bit + 7) / 8;
}

/* ---- a reference jam, straight from Hoon's ++jam -------------------------- */
/* Slow and simple: a bit at a time, a linear search of everything written
 * with noun_equal.  Only for small nouns. */

struct reference_stream {
    uint8_t *bytes;
    size_t bits, capacity;
};

static void reference_bit(struct reference_stream *stream, int bit)
{
    if (stream->bits / 8 >= stream->capacity) {
        size_t capacity = stream->capacity ? stream->capacity * 2 : 256;
        stream->bytes = realloc(stream->bytes, capacity);
        assert_non_null(stream->bytes);
        memset(stream->bytes + stream->capacity, 0, capacity - stream->capacity);
        stream->capacity = capacity;
    }
    if (bit)
        stream->bytes[stream->bits / 8] |= (uint8_t)(1u << (stream->bits % 8));
    stream->bits++;
}

static int atom_bit(noun atom, uint64_t index)
{
    uint64_t scratch;
    size_t count;
    const uint64_t *words = noun_atom_words(atom, &scratch, &count);
    return index / 64 < count && ((words[index / 64] >> (index % 64)) & 1);
}

static void reference_mat(struct reference_stream *stream, noun atom)
{
    uint64_t bits = noun_atom_bit_length(atom);
    if (bits == 0) {
        reference_bit(stream, 1);
        return;
    }
    uint64_t length_bits = noun_atom_bit_length(bits);
    for (uint64_t i = 0; i < length_bits; i++)
        reference_bit(stream, 0);
    reference_bit(stream, 1);
    for (uint64_t i = 0; i + 1 < length_bits; i++)
        reference_bit(stream, (int)((bits >> i) & 1));
    for (uint64_t i = 0; i < bits; i++)
        reference_bit(stream, atom_bit(atom, i));
}

static void reference_jam(noun root, struct reference_stream *stream)
{
    size_t capacity = 1024, count = 0, depth = 0;
    noun *keys = malloc(capacity * sizeof *keys);
    uint64_t *offsets = malloc(capacity * sizeof *offsets);
    noun *stack = malloc(capacity * sizeof *stack);
    stack[depth++] = root;
    while (depth > 0) {
        noun n = stack[--depth];
        size_t found = count;
        for (size_t i = 0; i < count; i++) {
            if (noun_equal(keys[i], n)) {
                found = i;
                break;
            }
        }
        if (found < count) {
            bool atom_is_shorter = noun_is_atom(n) &&
                                   noun_atom_bit_length(n) <= noun_atom_bit_length(offsets[found]);
            if (!atom_is_shorter) {
                reference_bit(stream, 1);
                reference_bit(stream, 1);
                reference_mat(stream, offsets[found]);
                continue;
            }
        } else {
            if (count == capacity) {
                capacity *= 2;
                keys = realloc(keys, capacity * sizeof *keys);
                offsets = realloc(offsets, capacity * sizeof *offsets);
                stack = realloc(stack, capacity * sizeof *stack);
            }
            keys[count] = n;
            offsets[count] = stream->bits;
            count++;
        }
        if (noun_is_atom(n)) {
            reference_bit(stream, 0);
            reference_mat(stream, n);
        } else {
            reference_bit(stream, 1);
            reference_bit(stream, 0);
            stack[depth++] = noun_tail(n);
            stack[depth++] = noun_head(n);
        }
    }
    free(keys);
    free(offsets);
    free(stack);
}

/* ---- random nouns ---------------------------------------------------------- */

static uint64_t random_state;

static uint64_t random_next(void)
{
    uint64_t x = random_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return random_state = x;
}

static noun random_atom(void)
{
    switch (random_next() % 8) {
    case 0: return 0;
    case 1: return random_next() % 4;
    case 2: return random_next() % 64;
    case 3: return random_next() % 100000;
    case 4: return random_next() >> 1; /* up to 2^63 - 1 */
    case 5: {
        uint64_t words[2] = { random_next(), 1 }; /* exactly 65 bits */
        return noun_atom_from_words(region, words, 2);
    }
    case 6: {
        uint8_t bytes[40];
        size_t length = 1 + random_next() % sizeof bytes;
        for (size_t i = 0; i < length; i++)
            bytes[i] = (uint8_t)random_next();
        return noun_atom_from_bytes(region, bytes, length);
    }
    default: return (random_next() % 3) << 62 >> 1; /* 0, 2^61, 2^62 */
    }
}

/* A noun built from `size` steps over a pool, so subtrees are shared by
 * pointer; replaying the same seed builds an equal noun from fresh cells.
 * The tree (sharing unfolded) is kept under `max_tree` nodes, because
 * comparing two such nouns with noun_equal walks the whole tree. */
static noun random_noun(uint64_t seed, size_t size, uint64_t max_tree)
{
    random_state = seed * 0x9E3779B97F4A7C15u + 1;
    noun pool[64];
    uint64_t tree_size[64];
    size_t count = 0;
    for (size_t step = 0; step < size; step++) {
        noun n = NOUN_NONE;
        uint64_t nodes = 1;
        if (count >= 2 && random_next() % 3 != 0) {
            size_t head = random_next() % count, tail = random_next() % count;
            nodes = 1 + tree_size[head] + tree_size[tail];
            if (nodes <= max_tree)
                n = noun_cell_new(region, pool[head], pool[tail]);
        }
        if (n == NOUN_NONE) {
            n = random_atom();
            nodes = 1;
        }
        size_t slot = count < 64 ? count++ : random_next() % 64;
        pool[slot] = n;
        tree_size[slot] = nodes;
    }
    return pool[random_next() % count];
}

/* ---- the vectors ------------------------------------------------------------ */

static void test_vectors(void **state)
{
    (void)state;
    char path[4096], line[8192];
    FILE *file = fopen(support_shared_path("vectors/jam.tsv", path, sizeof path), "r");
    assert_non_null(file);
    int rows = 0;
    while (fgets(line, sizeof line, file)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = 0;
        uint8_t expected[256];
        size_t expected_length = read_hex_bytes(tab + 1, expected, sizeof expected);
        noun n = support_parse(region, line);

        uint8_t *bytes = NULL;
        size_t length = 0;
        assert_true(jam_to_bytes(n, &bytes, &length));
        if (length != expected_length || memcmp(bytes, expected, length) != 0)
            fail_msg("jam of %s differs from the vector %s", line, tab + 1);
        free(bytes);

        noun atom = jam_to_atom(region, n);
        assert_true(noun_equal(atom, noun_atom_from_bytes(region, expected, expected_length)));

        noun back = NOUN_NONE;
        struct jam_error error = {0};
        assert_true(jam_cue_atom(region, atom, &back, &error));
        if (!noun_equal(back, n))
            fail_msg("cue(jam(%s)) is a different noun", line);
        rows++;
    }
    fclose(file);
    assert_true(rows >= 15);
}

static void test_small_cases(void **state)
{
    (void)state;
    /* jam of 0 is the atom 2: one byte. */
    uint8_t *bytes = NULL;
    size_t length = 0;
    assert_true(jam_to_bytes(0, &bytes, &length));
    assert_int_equal(length, 1);
    assert_int_equal(bytes[0], 2);
    free(bytes);
    assert_int_equal(jam_to_atom(region, 0), 2);
    assert_int_equal(cue_or_fail((const uint8_t[]){ 2 }, 1), 0);

    /* Atoms around the direct/indirect boundary and across word edges. */
    uint64_t boundary[] = { 62, 63, 64, 65, 127, 128, 129, 191, 192, 1000 };
    for (size_t i = 0; i < sizeof boundary / sizeof boundary[0]; i++) {
        uint64_t words[16] = {0};
        uint64_t bits = boundary[i];
        for (uint64_t b = 0; b < bits; b += 3)
            words[b / 64] |= UINT64_C(1) << (b % 64);
        words[(bits - 1) / 64] |= UINT64_C(1) << ((bits - 1) % 64);
        noun atom = noun_atom_from_words(region, words, 16);
        assert_int_equal(noun_atom_bit_length(atom), bits);
        assert_round_trip(atom);
        assert_round_trip(noun_cell_new(region, atom, noun_cell_new(region, 1, atom)));
    }
    assert_round_trip(NOUN_DIRECT_MAX);
}

/* The backreference rule for atoms: a repeat is written again unless the
 * earlier offset has fewer bits than the atom. */
static void test_atom_backref_rule(void **state)
{
    (void)state;
    for (uint64_t value = 0; value < 300; value++) {
        noun n = noun_cell_new(region, value, noun_cell_new(region, value, value));
        struct reference_stream reference = {0};
        reference_jam(n, &reference);
        uint8_t *bytes = NULL;
        size_t length = 0;
        assert_true(jam_to_bytes(n, &bytes, &length));
        assert_int_equal(length, (reference.bits + 7) / 8);
        assert_memory_equal(bytes, reference.bytes, length);
        free(bytes);
        free(reference.bytes);
    }
}

/* ---- against the reference, and random round trips ------------------------- */

static void test_random_against_reference(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        noun first = random_noun(seed, 10 + seed % 200, 2000);
        noun second = random_noun(seed, 10 + seed % 200, 2000); /* equal, not shared */
        noun n = noun_cell_new(region, first, noun_cell_new(region, random_atom(), second));
        struct reference_stream reference = {0};
        reference_jam(n, &reference);
        uint8_t *bytes = NULL;
        size_t length = 0;
        assert_true(jam_to_bytes(n, &bytes, &length));
        if (length != (reference.bits + 7) / 8 || memcmp(bytes, reference.bytes, length) != 0)
            fail_msg("seed %llu: jam differs from the reference", (unsigned long long)seed);
        free(bytes);
        free(reference.bytes);
        assert_round_trip(n);
    }
}

static void test_random_round_trips(void **state)
{
    (void)state;
    for (uint64_t seed = 1000; seed < 1400; seed++)
        assert_round_trip(random_noun(seed, 1 + seed % 3000, 50000));
}

/* Trailing bytes after the noun are ignored, as Vere does. */
static void test_trailing_garbage_ignored(void **state)
{
    (void)state;
    noun n = random_noun(77, 500, 50000);
    uint8_t *bytes = NULL;
    size_t length = 0;
    assert_true(jam_to_bytes(n, &bytes, &length));
    uint8_t *longer = malloc(length + 16);
    memcpy(longer, bytes, length);
    for (size_t i = 0; i < 16; i++)
        longer[length + i] = (uint8_t)(0xa5 ^ i);
    assert_true(noun_equal(cue_or_fail(longer, length + 16), n));
    free(longer);
    free(bytes);
}

/* ---- deep nouns --------------------------------------------------------------- */

#ifndef DEEP
#define DEEP 10000000 /* override with -DDEEP=... for slow sanitizer builds */
#endif

static void assert_deep_round_trip(noun n)
{
    uint8_t *bytes = NULL, *again = NULL;
    size_t length = 0, again_length = 0;
    assert_true(jam_to_bytes(n, &bytes, &length));
    noun copy = cue_or_fail(bytes, length);
    assert_true(noun_equal(copy, n));
    assert_true(jam_to_bytes(copy, &again, &again_length));
    assert_int_equal(again_length, length);
    assert_memory_equal(again, bytes, length);
    free(bytes);
    free(again);
}

static void test_deep_list(void **state)
{
    (void)state;
    noun list = 0;
    for (uint64_t i = DEEP; i-- > 0;)
        list = noun_cell_new(region, i, list);
    assert_deep_round_trip(list);
}

static void test_deep_nest(void **state)
{
    (void)state;
    noun nest = 0;
    for (uint64_t i = 1; i <= DEEP; i++)
        nest = noun_cell_new(region, nest, i & 7);
    assert_deep_round_trip(nest);
}

/* ---- malformed input ---------------------------------------------------------- */

static void test_error_empty_and_cell(void **state)
{
    (void)state;
    expect_cue_error((const uint8_t *)"", 0);
    /* The atom 0 as bytes: all zero bits, a length prefix that never ends. */
    uint8_t zeros[16] = {0};
    struct jam_error error = expect_cue_error(zeros, sizeof zeros);
    assert_int_equal(error.bit_offset, 1);
    noun out;
    assert_false(jam_cue_atom(region, noun_cell_new(region, 1, 2), &out, &error));
    assert_false(jam_cue_atom(region, 0, &out, &error));
}

static void test_error_truncated(void **state)
{
    (void)state;
    /* Every proper prefix of a jam is rejected: its last bit is always needed. */
    for (uint64_t seed = 2000; seed < 2040; seed++) {
        noun n = random_noun(seed, 100, 5000);
        uint8_t *bytes = NULL;
        size_t length = 0;
        assert_true(jam_to_bytes(n, &bytes, &length));
        for (size_t cut = 1; cut < length; cut++)
            expect_cue_error(bytes, cut);
        free(bytes);
    }
    /* A cell whose tail is missing: "10" then atom 1 ("0" + mat 1 = "011"). */
    uint8_t buffer[32];
    size_t length = pack_bits("10 0 011", buffer, sizeof buffer);
    struct jam_error error = expect_cue_error(buffer, length);
    assert_true(error.bit_offset >= 6);
    assert_non_null(strstr(error.message, "truncated"));
}

static void test_error_bad_backrefs(void **state)
{
    (void)state;
    uint8_t buffer[32];
    struct jam_error error;
    /* [0 <backref to bit 1>]: no noun begins at bit 1. */
    size_t length = pack_bits("10 01 11 011", buffer, sizeof buffer);
    error = expect_cue_error(buffer, length);
    assert_int_equal(error.bit_offset, 4);
    assert_non_null(strstr(error.message, "no noun begins"));
    /* [<backref to bit 0> 0]: bit 0 is the cell being read. */
    length = pack_bits("10 11 1 01", buffer, sizeof buffer);
    error = expect_cue_error(buffer, length);
    assert_int_equal(error.bit_offset, 2);
    assert_non_null(strstr(error.message, "contains"));
    /* A backreference that is the whole noun points at itself. */
    length = pack_bits("11 1", buffer, sizeof buffer);
    error = expect_cue_error(buffer, length);
    assert_int_equal(error.bit_offset, 0);
    /* [0 <backref to bit 500>]: forward. */
    length = pack_bits("10 01 11 00001 100 001011111", buffer, sizeof buffer);
    error = expect_cue_error(buffer, length);
    assert_int_equal(error.bit_offset, 4);
    /* A backreference offset of 70 bits with a bit set above bit 64. */
    char stream[256];
    /* mat of a 70-bit value: 7 zeros, a 1, then 70's low 6 bits, LSB first. */
    strcpy(stream, "10 01 11 0000000 1 011000 ");
    size_t at = strlen(stream);
    for (int i = 0; i < 70; i++)
        stream[at++] = i == 69 ? '1' : '0';
    stream[at] = 0;
    length = pack_bits(stream, buffer, sizeof buffer);
    error = expect_cue_error(buffer, length);
    assert_non_null(strstr(error.message, "64 bits"));
    /* The same length with only zeros above bit 2 points at bit 2: valid. */
    stream[at - 1] = '0';
    stream[at - 70 + 1] = '1'; /* offset 2: the atom 0 at bit 2 */
    length = pack_bits(stream, buffer, sizeof buffer);
    noun n = cue_or_fail(buffer, length);
    assert_true(noun_equal(n, noun_cell_new(region, 0, 0)));
    /* [<256-bit atom> <backref to bit 200>]: bit 200 is inside the atom, in
     * a word of the start index where no noun begins at all (cue leaves
     * such words unwritten). */
    char long_stream[512];
    strcpy(long_stream, "10 0 000000000 1 00000000 ");
    at = strlen(long_stream);
    for (int i = 0; i < 256; i++)
        long_stream[at++] = '1';
    strcpy(long_stream + at, " 11 0000 1 000 00010011");
    uint8_t longer[64];
    length = pack_bits(long_stream, longer, sizeof longer);
    error = expect_cue_error(longer, length);
    assert_int_equal(error.bit_offset, 277);
    assert_non_null(strstr(error.message, "no noun begins"));
}

static void test_error_counts_no_padding(void **state)
{
    (void)state;
    uint8_t buffer[8];
    /* An atom whose length says 8 bits, with only 1 of them given; the
     * 6 zero bits that pad the second byte are not input that remains. */
    size_t length = pack_bits("0 0000 1 000 1", buffer, sizeof buffer);
    assert_int_equal(length, 2);
    struct jam_error error = expect_cue_error(buffer, length);
    if (!strstr(error.message, "claims 8 bits but only 1 remain"))
        fail_msg("%s", error.message);
}

static void test_error_huge_lengths(void **state)
{
    (void)state;
    uint8_t buffer[64];
    char stream[600];
    /* An atom claiming 2^40 bits in a few bytes. */
    strcpy(stream, "0 ");
    size_t at = strlen(stream);
    for (int i = 0; i < 41; i++)
        stream[at++] = '0';
    stream[at++] = '1';
    for (int i = 0; i < 40; i++)
        stream[at++] = '0';
    stream[at] = 0;
    size_t length = pack_bits(stream, buffer, sizeof buffer);
    struct jam_error error = expect_cue_error(buffer, length);
    assert_int_equal(error.bit_offset, 1);
    assert_non_null(strstr(error.message, "claims"));
    /* A length prefix of 70 zeros, then a 1, within the input. */
    at = 1;
    stream[0] = '0';
    for (int i = 0; i < 70; i++)
        stream[at++] = '0';
    for (int i = 0; i < 200; i++)
        stream[at++] = '1';
    stream[at] = 0;
    length = pack_bits(stream, buffer, sizeof buffer);
    error = expect_cue_error(buffer, length);
    assert_non_null(strstr(error.message, "64 or more"));
    /* An atom one bit longer than what remains. */
    length = pack_bits("0 0001 11 1111111", buffer, sizeof buffer); /* claims 7 bits, 7 remain */
    cue_or_fail(buffer, length);
    length = pack_bits("0 0001 11 1", buffer, sizeof buffer); /* claims 7, 1 remains */
    error = expect_cue_error(buffer, length);
    assert_int_equal(error.bit_offset, 1);
}

/* Random bytes, `rounds` inputs of 1 to `longest` bytes, each in a
 * buffer of exactly its length (under ASan in make check, a read past it
 * shows), handed to `look`. */
static void with_random_bytes(int rounds, size_t longest, void (*look)(const uint8_t *, size_t))
{
    for (int round = 0; round < rounds; round++) {
        size_t length = 1 + random_next() % longest;
        uint8_t *bytes = malloc(length);
        assert_non_null(bytes);
        for (size_t i = 0; i < length; i++)
            bytes[i] = (uint8_t)random_next();
        look(bytes, length);
        free(bytes);
    }
}

/* Jams of random nouns (seeds first_seed to first_seed + 99, of `size`
 * steps: random_noun), each with a bit flipped fifty times, one at a
 * time, handed to `look`. */
static void with_flipped_jams(uint64_t first_seed, size_t size, uint64_t max_tree,
                              void (*look)(const uint8_t *, size_t))
{
    for (uint64_t seed = first_seed; seed < first_seed + 100; seed++) {
        noun n = random_noun(seed, size, max_tree);
        uint8_t *bytes = NULL;
        size_t length = 0;
        assert_true(jam_to_bytes(n, &bytes, &length));
        for (int flip = 0; flip < 50; flip++) {
            size_t bit = random_next() % (length * 8);
            bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            look(bytes, length);
            bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        free(bytes);
    }
}

/* A cue either fails with an error or gives a noun that round-trips. */
static void cue_if_valid(const uint8_t *bytes, size_t length)
{
    noun out;
    struct jam_error error;
    if (jam_cue_bytes(region, bytes, length, &out, &error))
        assert_round_trip(out);
}

/* Random bytes, and valid jams with bits flipped: every outcome is either a
 * noun that round-trips or an error; nothing crashes. */
static void test_garbage_never_crashes(void **state)
{
    (void)state;
    random_state = 42;
    with_random_bytes(20000, 256, cue_if_valid);
    with_flipped_jams(3000, 300, 5000, cue_if_valid);
}

/* ---- peeking at one part ---------------------------------------------------- */

/* jam_peek_direct_atom at `axis` of bytes jam made from n gives what
 * noun_fragment does, when that is a direct atom, and false otherwise. */
static void assert_peek_agrees(noun n, const uint8_t *bytes, size_t length, uint64_t axis)
{
    noun expected = noun_fragment(axis, n), got = NOUN_NONE;
    bool found = jam_peek_direct_atom(bytes, length, axis, &got);
    bool direct = expected != NOUN_NONE && noun_is_direct(expected);
    if (found != direct || (found && got != expected))
        fail_msg("axis %llu: peek %s %llu, the noun holds %s", (unsigned long long)axis, found ? "gave" : "found no",
                 (unsigned long long)got, direct ? "a direct atom" : "no direct atom");
}

/* Every axis of the top eleven levels, and random deeper ones, of random
 * nouns whose shared subtrees jam as backreferences (which the peek
 * follows); and events shaped like kv's, whose key may be a backreference
 * to the tag or the value one to the key. */
static void test_peek_matches_fragment(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        noun n = random_noun(seed, 5 + seed % 300, 5000);
        uint8_t *bytes = NULL;
        size_t length = 0;
        assert_true(jam_to_bytes(n, &bytes, &length));
        for (uint64_t axis = 1; axis < 2048; axis++)
            assert_peek_agrees(n, bytes, length, axis);
        for (int look = 0; look < 200; look++)
            assert_peek_agrees(n, bytes, length, random_next() >> (1 + random_next() % 63) | 1); /* direct, not 0 */
        free(bytes);
    }
    const noun tag = 0x747570; /* %put */
    const noun keys[] = { 0x10000, 0x1ffff, tag, 0, 1, UINT64_C(1) << 62 };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        noun events[] = {
            noun_trel(region, tag, keys[k], keys[k]),
            noun_trel(region, tag, keys[k], noun_cell_new(region, keys[k], tag)),
            noun_cell_new(region, tag, keys[k]),
        };
        for (size_t e = 0; e < sizeof events / sizeof events[0]; e++) {
            uint8_t *bytes = NULL;
            size_t length = 0;
            assert_true(jam_to_bytes(events[e], &bytes, &length));
            for (uint64_t axis = 1; axis < 64; axis++)
                assert_peek_agrees(events[e], bytes, length, axis);
            free(bytes);
        }
    }
}

/* An atom whose length counts zero bits above its value (64 here, for a
 * value of 63 bits) is one cue takes, as a direct atom; the peek must
 * too (libFuzzer found this). */
static void test_peek_long_length(void **state)
{
    (void)state;
    static const uint8_t bytes[] = { 0x00, 0x01, 0x35, 0xa5, 0xe7, 0x60, 0x20, 0x00, 0x02, 0xab, 0x09, 0x18 };
    noun cued = cue_or_fail(bytes, sizeof bytes);
    assert_true(noun_is_direct(cued));
    assert_peek_agrees(cued, bytes, sizeof bytes, 1);
}

/* The peek at every axis of the top levels of `length` bytes: where cue
 * takes them, the answers agree; else the peek must merely come back. */
static void assert_peek_survives(const uint8_t *bytes, size_t length)
{
    noun cued = NOUN_NONE, got;
    bool valid = jam_cue_bytes(region, bytes, length, &cued, NULL);
    for (uint64_t axis = 1; axis < 64; axis++) {
        if (valid)
            assert_peek_agrees(cued, bytes, length, axis);
        else
            (void)jam_peek_direct_atom(bytes, length, axis, &got);
    }
}

/* On bytes cue rejects the peek may give any answer, but it must come
 * back: random bytes and jams with a bit flipped. */
static void test_peek_garbage(void **state)
{
    (void)state;
    random_state = 7;
    with_random_bytes(20000, 64, assert_peek_survives);
    with_flipped_jams(4000, 100, 2000, assert_peek_survives);
}

/* ---- the workspace kept between cues ------------------------------------------ */

/* Jam n and cue it back, expecting an equal noun. */
static void assert_cues_back(noun n)
{
    uint8_t *bytes = NULL;
    size_t length = 0;
    assert_true(jam_to_bytes(n, &bytes, &length));
    assert_true(noun_equal(cue_or_fail(bytes, length), n));
    free(bytes);
}

/* Cue keeps its arrays from one cue to the next on a thread: a big cue
 * marks noun starts far into its start index and a small one after it must
 * see none of them (a start left over would let a bad backreference
 * resolve, or a good one resolve to the wrong noun).  Sizes alternate
 * across the keep limit, so kept arrays are both reused and given back. */
static void test_workspace_kept_between_cues(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 150; seed++) {
        assert_cues_back(random_noun(seed, 50 + seed * 40, 1u << 20));
        assert_cues_back(random_noun(seed + 5000, 1 + seed % 30, 5000));
        /* a bad backreference in a small input, after the big one */
        static const uint8_t backref_to_nothing[] = { 0x0f, 0x07 };
        struct jam_error error;
        noun out;
        assert_false(jam_cue_bytes(region, backref_to_nothing, sizeof backref_to_nothing, &out, &error));
    }
}

static jmp_buf region_full_escape;

static void leave_full_region(void *context)
{
    (void)context;
    longjmp(region_full_escape, 1);
}

/* [[0 0] [1 1] ... [99 99] [0 100] ...]: `length` items, twice as many
 * cells, with backreferences in its jam. */
__attribute__((noinline)) static noun long_list(noun length)
{
    noun list = 0;
    for (noun i = 0; i < length; i++)
        list = noun_cell_new(region, noun_cell_new(region, i % 100, i), list);
    return list;
}

/* A region's out-of-memory handler may jump out of a cue half done: the
 * next cue on the thread starts clean. */
static void test_workspace_after_jumped_out_cue(void **state)
{
    (void)state;
    noun big = long_list(3000);
    uint8_t *bytes = NULL;
    size_t length = 0;
    assert_true(jam_to_bytes(big, &bytes, &length));
    for (int round = 0; round < 20; round++) {
        struct noun_region *small = noun_region_new(4096);
        assert_non_null(small);
        small->out_of_memory = leave_full_region;
        noun out;
        struct jam_error error;
        if (!setjmp(region_full_escape)) {
            jam_cue_bytes(small, bytes, length, &out, &error);
            fail_msg("the cue fitted in a 4 KiB region");
        }
        noun_region_free(small);
        assert_cues_back(random_noun(200 + (uint64_t)round, 10 + (size_t)round * 7, 5000));
        assert_true(jam_cue_bytes(region, bytes, length, &out, &error));
        assert_true(noun_equal(out, big));
    }
    free(bytes);
}

/* ---- the ivory pill ----------------------------------------------------------- */


static void test_ivory_pill(void **state)
{
    (void)state;
    char path[4096];
    size_t length = 0;
    uint8_t *pill = (uint8_t *)support_read_file(support_shared_path("ivory.pill", path, sizeof path), &length);
    assert_non_null(pill);
    noun kernel = cue_or_fail(pill, length);
    assert_int_equal(mug_noun(kernel), 0x2a2274c9);

    uint8_t *bytes = NULL;
    size_t jam_length = 0;
    assert_true(jam_to_bytes(kernel, &bytes, &jam_length));
    assert_int_equal(jam_length, length);
    assert_memory_equal(bytes, pill, length);
    free(bytes);

    /* The same through atoms. */
    noun pill_atom = noun_atom_from_bytes(region, pill, length);
    noun again = NOUN_NONE;
    struct jam_error error;
    assert_true(jam_cue_atom(region, pill_atom, &again, &error));
    /* (Not noun_equal: unfolded, the pill is a tree far too big to walk.) */
    assert_int_equal(mug_noun(again), 0x2a2274c9);
    assert_true(noun_equal(jam_to_atom(region, again), pill_atom));

    /* Cut short anywhere in the last kilobyte, the pill is rejected. */
    for (size_t cut = length - 1024; cut < length; cut += 128)
        expect_cue_error(pill, cut);
    free(pill);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vectors, reset_region),
        cmocka_unit_test_setup(test_small_cases, reset_region),
        cmocka_unit_test_setup(test_atom_backref_rule, reset_region),
        cmocka_unit_test_setup(test_random_against_reference, reset_region),
        cmocka_unit_test_setup(test_random_round_trips, reset_region),
        cmocka_unit_test_setup(test_trailing_garbage_ignored, reset_region),
        cmocka_unit_test_setup(test_error_empty_and_cell, reset_region),
        cmocka_unit_test_setup(test_error_truncated, reset_region),
        cmocka_unit_test_setup(test_error_bad_backrefs, reset_region),
        cmocka_unit_test_setup(test_error_counts_no_padding, reset_region),
        cmocka_unit_test_setup(test_error_huge_lengths, reset_region),
        cmocka_unit_test_setup(test_garbage_never_crashes, reset_region),
        cmocka_unit_test_setup(test_peek_matches_fragment, reset_region),
        cmocka_unit_test_setup(test_peek_long_length, reset_region),
        cmocka_unit_test_setup(test_peek_garbage, reset_region),
        cmocka_unit_test_setup(test_workspace_kept_between_cues, reset_region),
        cmocka_unit_test_setup(test_workspace_after_jumped_out_cue, reset_region),
        cmocka_unit_test_setup(test_ivory_pill, reset_region),
        cmocka_unit_test_setup(test_deep_list, reset_region),
        cmocka_unit_test_setup(test_deep_nest, reset_region),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
