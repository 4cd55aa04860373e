/* test_mug.c -- mug (interp/mug.h): Vere's published vectors, atoms given
 * as words and as bytes, caching, and nouns nested ten million deep both
 * ways, checked against a mug built up independently with mug_both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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



/* ---- the vectors ---------------------------------------------------------- */

static void test_vectors(void **state)
{
    (void)state;
    char path[4096], line[8192];
    FILE *file = fopen(support_shared_path("vectors/mug.tsv", path, sizeof path), "r");
    assert_non_null(file);
    int rows = 0;
    while (fgets(line, sizeof line, file)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *tab = strchr(line, '\t');
        assert_non_null(tab);
        *tab = 0;
        uint32_t expected = (uint32_t)strtoul(tab + 1, NULL, 16);
        noun n = support_parse(region, line);
        uint32_t got = mug_noun(n);
        if (got != expected)
            fail_msg("mug of %s: got 0x%x, expected 0x%x", line, got, expected);
        /* Cached now, and asking again gives the same answer. */
        assert_int_equal(mug_noun(n), expected);
        if (noun_is_cell(n))
            assert_int_equal(__atomic_load_n(&noun_to_cell(n)->mug, __ATOMIC_RELAXED), expected);
        if (noun_is_indirect(n))
            assert_int_equal(__atomic_load_n(&noun_to_atom(n)->mug, __ATOMIC_RELAXED), expected);
        rows++;
    }
    fclose(file);
    assert_true(rows >= 20);
}

/* ---- atoms and cells by parts --------------------------------------------- */

static void test_atoms_as_bytes(void **state)
{
    (void)state;
    /* The first three vectors, through mug_bytes. */
    assert_int_equal(mug_bytes(NULL, 0), 0x79ff04e8);
    uint8_t one = 1, two = 2;
    assert_int_equal(mug_bytes(&one, 1), 0x715c2a60);
    assert_int_equal(mug_bytes(&two, 1), 0x718b9468);
    /* Trailing zero bytes are not part of the atom. */
    uint8_t padded[5] = { 1, 0, 0, 0, 0 };
    assert_int_equal(mug_bytes(padded, 5), 0x715c2a60);
    uint8_t zeros[3] = { 0, 0, 0 };
    assert_int_equal(mug_bytes(zeros, 3), 0x79ff04e8);

    /* Atoms of every size up to 40 bytes agree between the word and byte
     * views, and direct and indirect forms (2^63 - 1 and 2^63). */
    uint8_t bytes[40];
    for (size_t length = 1; length <= sizeof bytes; length++) {
        for (size_t i = 0; i < length; i++)
            bytes[i] = (uint8_t)(0x9d * (i + 1) + length);
        bytes[length - 1] |= 1;
        noun atom = noun_atom_from_bytes(region, bytes, length);
        assert_int_equal(mug_noun(atom), mug_bytes(bytes, length));
    }
    noun direct_max = NOUN_DIRECT_MAX;
    assert_int_equal(mug_noun(direct_max), 0x7a9f252e);
    uint8_t two63[8] = { 0, 0, 0, 0, 0, 0, 0, 0x80 };
    noun indirect = noun_atom_from_bytes(region, two63, 8);
    assert_true(noun_is_indirect(indirect));
    assert_int_equal(mug_noun(indirect), mug_bytes(two63, 8));
}

static void test_cells_by_parts(void **state)
{
    (void)state;
    /* [0 0] and [1 2 3] from the vectors, assembled with mug_both. */
    assert_int_equal(mug_both(0x79ff04e8, 0x79ff04e8), 0x192f5588);
    uint32_t three = mug_noun(3);
    assert_int_equal(mug_both(mug_noun(1), mug_both(mug_noun(2), three)), 0x3a811aec);
    /* A tail mug with fewer than four significant bytes hashes fewer bytes:
     * both answers are valid 31-bit nonzero mugs and differ. */
    uint32_t small = mug_both(0x12345678, 0x1234);
    uint32_t large = mug_both(0x12345678, 0x12340000);
    assert_true(small != 0 && small <= 0x7fffffff);
    assert_true(large != 0 && large <= 0x7fffffff);
    assert_true(small != large);
    /* Shared subtrees mug the same as copies. */
    noun leaf = noun_cell_new(region, 7, 8);
    noun shared = noun_cell_new(region, leaf, leaf);
    noun copied = noun_cell_new(region, noun_cell_new(region, 7, 8), noun_cell_new(region, 7, 8));
    assert_int_equal(mug_noun(shared), mug_noun(copied));
    assert_int_equal(mug_noun(shared), mug_both(mug_noun(leaf), mug_noun(leaf)));
}

/* ---- deep nouns ----------------------------------------------------------- */

#ifndef DEEP
#define DEEP 10000000 /* override with -DDEEP=... for slow sanitizer builds */
#endif

static uint32_t atom_mug_by_bytes(uint64_t value)
{
    uint8_t bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(value >> (8 * i));
    return mug_bytes(bytes, 8);
}

/* [0 1 2 ... DEEP-1 0]: deep in the tail. */
static void test_deep_list(void **state)
{
    (void)state;
    noun list = 0;
    uint32_t expected = atom_mug_by_bytes(0);
    for (uint64_t i = DEEP; i-- > 0;) {
        list = noun_cell_new(region, i % 1000, list);
        expected = mug_both(atom_mug_by_bytes(i % 1000), expected);
    }
    assert_int_equal(mug_noun(list), expected);
}

/* [[[[0 1] 2] 3] ...]: deep in the head. */
static void test_deep_nest(void **state)
{
    (void)state;
    noun nest = 0;
    uint32_t expected = atom_mug_by_bytes(0);
    for (uint64_t i = 1; i <= DEEP; i++) {
        nest = noun_cell_new(region, nest, i);
        expected = mug_both(expected, atom_mug_by_bytes(i));
    }
    assert_int_equal(mug_noun(nest), expected);
}

/* A DAG of depth 64 whose tree would have 2^64 leaves: each cell is mugged
 * once, so this only finishes if caching works. */
static void test_shared_dag(void **state)
{
    (void)state;
    noun n = 5;
    uint32_t expected = mug_noun(5);
    for (int i = 0; i < 64; i++) {
        n = noun_cell_new(region, n, n);
        expected = mug_both(expected, expected);
    }
    assert_int_equal(mug_noun(n), expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_vectors, reset_region),
        cmocka_unit_test_setup(test_atoms_as_bytes, reset_region),
        cmocka_unit_test_setup(test_cells_by_parts, reset_region),
        cmocka_unit_test_setup(test_deep_list, reset_region),
        cmocka_unit_test_setup(test_deep_nest, reset_region),
        cmocka_unit_test_setup(test_shared_dag, reset_region),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
