/* test_jets.c -- every jet family (interp/jets/ files) against known values and
 * against GMP as an oracle on random big atoms, the declines and crashes
 * each promises, the treap jets against the invariants of Hoon's maps and
 * sets, and the dashboard's registration and matching (interp/jets.c) on
 * hand-made cores with %fast hints, including check mode catching a jet
 * that disagrees with its Nock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gmp.h>

#include "interp/jets.h"
#include "interp/jets/atom.h"
#include "interp/jets/jet.h"
#include "interp/mug.h"
#include "interp/nock.h"
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

static noun parse(const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(region, text, strlen(text), NULL, NULL, &n, &error))
        fail_msg("bad test noun %s: %s", text, error.message);
    return n;
}

static const struct jets_family *const all_families[] = {
    &jets_family_math, &jets_family_bits, &jets_family_tree, &jets_family_order, &jets_family_lists, &jets_family_sets,
    &jets_family_parse,
};

static jets_function *find_jet(const char *path)
{
    for (size_t f = 0; f < sizeof all_families / sizeof all_families[0]; f++)
        for (size_t i = 0; i < all_families[f]->count; i++)
            if (strcmp(all_families[f]->arms[i].path, path) == 0)
                return all_families[f]->arms[i].function;
    fail_msg("no jet for %s", path);
    return NULL;
}

/* A gate [battery [sample context]]; for door arms the context is a door
 * [battery [tree 0]], so the tree sits at axis 30. */
static enum nock_jet_result call_with(const char *path, noun sample, noun tree, noun *product, const char **reason)
{
    noun door = noun_trel(region, 0, tree, 0);
    noun core = noun_trel(region, 0, sample, door);
    struct jets_call call = { .nock = NULL, .region = region, .core = core };
    enum nock_jet_result result = find_jet(path)(&call, product);
    if (reason)
        *reason = call.reason;
    return result;
}

static void expect_text(const char *path, const char *sample, const char *expected)
{
    noun product = NOUN_NONE;
    enum nock_jet_result result = call_with(path, parse(sample), 0, &product, NULL);
    if (result != NOCK_JET_DONE)
        fail_msg("%s %s: declined or crashed, wanted %s", path, sample, expected);
    if (!noun_equal(product, parse(expected))) {
        char *got = text_format(product);
        fail_msg("%s %s: got %s, wanted %s", path, sample, got, expected);
    }
}

static void expect_result(const char *path, const char *sample, enum nock_jet_result wanted)
{
    noun product;
    assert_int_equal(call_with(path, parse(sample), 0, &product, NULL), wanted);
}

/* ---- known values --------------------------------------------------------- */

static void test_math_known(void **state)
{
    (void)state;
    expect_text("one/add", "[2 2]", "4");
    expect_text("one/add", "[0x7fff.ffff.ffff.ffff 1]", "0x8000.0000.0000.0000");
    expect_text("one/add", "[0xffff.ffff.ffff.ffff.ffff.ffff 1]", "0x1.0000.0000.0000.0000.0000.0000");
    expect_text("one/dec", "1", "0");
    expect_text("one/dec", "0x1.0000.0000.0000.0000", "0xffff.ffff.ffff.ffff");
    expect_result("one/dec", "0", NOCK_JET_DECLINED);
    expect_text("one/sub", "[10 3]", "7");
    expect_text("one/sub", "[0x1.0000.0000.0000.0000 1]", "0xffff.ffff.ffff.ffff");
    expect_result("one/sub", "[3 10]", NOCK_JET_DECLINED); /* Nock gets there fast */
    noun product;
    const char *reason = NULL;
    assert_int_equal(call_with("one/sub", parse("[0x1.0000.0000 0x2.0000.0000]"), 0, &product, &reason),
                     NOCK_JET_CRASH);
    assert_string_equal(reason, "subtract-underflow");
    expect_text("one/mul", "[123.456.789 987.654.321]", "121.932.631.112.635.269");
    expect_text("one/mul", "[0xffff.ffff.ffff.ffff 0xffff.ffff.ffff.ffff]",
                "0xffff.ffff.ffff.fffe.0000.0000.0000.0001");
    expect_text("one/mul", "[0 0xffff.ffff.ffff.ffff.ffff]", "0");
    expect_text("one/div", "[100 7]", "14");
    expect_text("one/mod", "[100 7]", "2");
    expect_text("one/dvr", "[100 7]", "[14 2]");
    expect_text("one/div", "[0x1.0000.0000.0000.0000.0000 0x1.0000]", "0x1.0000.0000.0000.0000");
    expect_text("one/div", "[5 0x1.0000.0000.0000.0000]", "0");
    expect_result("one/div", "[5 0]", NOCK_JET_DECLINED);
    expect_result("one/mod", "[5 0]", NOCK_JET_DECLINED);
    expect_result("one/dvr", "[5 0]", NOCK_JET_DECLINED);
    expect_text("one/gth", "[5 3]", "0");
    expect_text("one/gth", "[3 3]", "1");
    expect_text("one/gte", "[3 3]", "0");
    expect_text("one/lth", "[3 0x1.0000.0000.0000.0000]", "0");
    expect_text("one/lte", "[0x1.0000.0000.0000.0000 3]", "1");
    expect_text("one/max", "[3 0x1.0000.0000.0000.0000]", "0x1.0000.0000.0000.0000");
    expect_text("one/min", "[3 0x1.0000.0000.0000.0000]", "3");
    expect_text("one/two/pow", "[2 100]", "1.267.650.600.228.229.401.496.703.205.376");
    expect_text("one/two/pow", "[7 0]", "1");
    expect_text("one/two/pow", "[0 5]", "0");
    expect_text("one/two/sqt", "17", "[4 1]");
    expect_text("one/two/sqt", "0", "[0 0]");
    expect_text("one/two/sqt", "0x1.0000.0000.0000.0000.0000.0000.0000.0000", "[0x1.0000.0000.0000.0000 0]");
    /* not atoms: the Nock decides */
    expect_result("one/add", "[[1 2] 3]", NOCK_JET_DECLINED);
    expect_result("one/add", "5", NOCK_JET_DECLINED);
}

static void test_bits_known(void **state)
{
    (void)state;
    expect_text("one/two/bex", "0", "1");
    expect_text("one/two/bex", "64", "0x1.0000.0000.0000.0000");
    expect_text("one/two/met", "[0 0]", "0");
    expect_text("one/two/met", "[0 255]", "8");
    expect_text("one/two/met", "[3 256]", "2");
    expect_text("one/two/met", "[3 'abcdef']", "6");
    expect_text("one/two/met", "[70 5]", "1");
    expect_text("one/two/end", "[3 'abcdef']", "'a'");
    expect_text("one/two/end", "[[3 2] 'abcdef']", "'ab'");
    expect_text("one/two/end", "[[6 1] 0x1.2345.6789.abcd.ef01.2345]", "0x6789.abcd.ef01.2345");
    expect_text("one/two/end", "[[80 1] 12345]", "12345");
    expect_text("one/two/rsh", "[3 'abcdef']", "'bcdef'");
    expect_text("one/two/rsh", "[[3 6] 'abcdef']", "0");
    expect_text("one/two/rsh", "[[0 4] 0x1.2345.6789.abcd.ef01.2345]", "0x1234.5678.9abc.def0.1234");
    expect_text("one/two/rsh", "[90 5]", "0");
    expect_text("one/two/lsh", "[3 'a']", "0x6100");
    expect_text("one/two/lsh", "[[0 68] 1]", "0x10.0000.0000.0000.0000");
    expect_text("one/two/lsh", "[[3 0] 7]", "7");
    expect_text("one/two/cut", "[3 [1 2] 'abcdef']", "'bc'");
    expect_text("one/two/cut", "[0 [4 8] 0xabcd]", "0xbc");
    expect_text("one/two/cut", "[3 [10 2] 'abcdef']", "0");
    expect_text("one/two/cat", "[3 'ab' 'cd']", "'abcd'");
    expect_text("one/two/cat", "[3 0 'cd']", "'cd'");
    expect_text("one/two/cat", "[0 1 1]", "3");
    expect_text("one/two/can", "[3 [1 'a'] [2 'bcd'] [1 'e'] 0]", "'abce'");
    expect_text("one/two/can", "[3 0]", "0");
    expect_text("one/two/can", "[0 [2 0] [1 1] 0]", "4");
    expect_text("one/two/rep", "[3 [97 98 99 0]]", "'abc'");
    expect_text("one/two/rep", "[[3 2] ['ab' 'cde' 'f' 0]]", "'abcdf'");
    expect_text("one/two/rap", "[3 ['ab' 0 'cd' 0]]", "'abcd'");
    expect_text("one/two/rip", "[3 'abc']", "[97 98 99 0]");
    expect_text("one/two/rip", "[[3 2] 'abcde']", "['ab' 'cd' 'e' 0]");
    expect_text("one/two/rip", "[3 0]", "0");
    expect_text("one/two/rip", "[0 5]", "[1 0 1 0]");
    expect_text("one/two/con", "[10 5]", "15");
    expect_text("one/two/con", "[0x1.0000.0000.0000.0000 1]", "0x1.0000.0000.0000.0001");
    expect_text("one/two/dis", "[0x1.0000.0000.0000.0003 6]", "2");
    expect_text("one/two/mix", "[0x1.0000.0000.0000.0003 0x1.0000.0000.0000.0001]", "2");
    expect_text("one/two/xeb", "0x1.0000.0000.0000.0000", "65");
    expect_result("one/two/can", "[3 [1 'a'] 5]", NOCK_JET_DECLINED); /* not a list */
    expect_result("one/two/rip", "[[3 0] 5]", NOCK_JET_DECLINED);     /* the Nock loops */
}

static void test_tree_known(void **state)
{
    (void)state;
    expect_text("one/cap", "2", "2");
    expect_text("one/cap", "3", "3");
    expect_text("one/cap", "12", "3");
    expect_text("one/cap", "9", "2");
    expect_text("one/mas", "2", "1");
    expect_text("one/mas", "12", "4");
    expect_text("one/mas", "13", "5");
    expect_text("one/mas", "0x1.0000.0000.0000.0000.0000", "0x8000.0000.0000.0000.0000");
    expect_text("one/peg", "[1 5]", "5");
    expect_text("one/peg", "[5 1]", "5");
    expect_text("one/peg", "[3 6]", "14");
    expect_text("one/peg", "[7 6]", "30");
    expect_text("one/peg", "[0x8000.0000.0000.0000 3]", "0x1.0000.0000.0000.0001");
    expect_result("one/cap", "1", NOCK_JET_DECLINED);
    expect_result("one/mas", "0", NOCK_JET_DECLINED);
    expect_result("one/peg", "[0 5]", NOCK_JET_DECLINED);
}

static void test_order_known(void **state)
{
    (void)state;
    expect_text("one/two/mug", "0", "0x79ff.04e8");
    noun product;
    noun sample = parse("[1 [2 3] 'some text']");
    assert_int_equal(call_with("one/two/mug", sample, 0, &product, NULL), NOCK_JET_DONE);
    assert_int_equal(product, mug_noun(sample));
    /* dor: atoms before cells, atoms by value, cells by head then tail */
    expect_text("one/two/dor", "[1 2]", "0");
    expect_text("one/two/dor", "[2 1]", "1");
    expect_text("one/two/dor", "[5 [1 1]]", "0");
    expect_text("one/two/dor", "[[1 1] 5]", "1");
    expect_text("one/two/dor", "[[1 2] [1 3]]", "0");
    expect_text("one/two/dor", "[[1 3] [1 2]]", "1");
    expect_text("one/two/dor", "[[1 2] [1 2]]", "0");
    /* aor: bytes from the least significant */
    expect_text("one/two/aor", "['ab' 'ba']", "0");
    expect_text("one/two/aor", "[0x201 0x102]", "0");
    expect_text("one/two/aor", "[0x102 0x201]", "1");
    expect_text("one/two/aor", "['a' 'ab']", "0");
    /* gor and mor order by mug, then by mug of mug */
    noun a = parse("'alpha'"), b = parse("'beta'");
    uint32_t ma = mug_noun(a), mb = mug_noun(b);
    assert_int_equal(call_with("one/two/gor", noun_cell_new(region, a, b), 0, &product, NULL), NOCK_JET_DONE);
    assert_int_equal(product, ma < mb ? 0 : 1);
    uint32_t mma = mug_noun(ma), mmb = mug_noun(mb);
    assert_int_equal(call_with("one/two/mor", noun_cell_new(region, a, b), 0, &product, NULL), NOCK_JET_DONE);
    assert_int_equal(product, mma < mmb ? 0 : 1);
    expect_text("one/two/gor", "[7 7]", "0");
}

static void test_lists_known(void **state)
{
    (void)state;
    expect_text("one/two/lent", "[1 2 3 0]", "3");
    expect_text("one/two/lent", "0", "0");
    expect_result("one/two/lent", "[1 2 3]", NOCK_JET_DECLINED);
    expect_text("one/two/flop", "[1 2 3 0]", "[3 2 1 0]");
    expect_text("one/two/flop", "0", "0");
    expect_text("one/two/weld", "[[1 2 0] [3 4 0]]", "[1 2 3 4 0]");
    expect_text("one/two/weld", "[0 [3 4 0]]", "[3 4 0]");
    expect_text("one/two/scag", "[2 [1 2 3 0]]", "[1 2 0]");
    expect_text("one/two/scag", "[9 [1 2 3 0]]", "[1 2 3 0]");
    expect_text("one/two/scag", "[0x1.0000.0000.0000.0000 [1 0]]", "[1 0]");
    expect_text("one/two/slag", "[2 [1 2 3 0]]", "[3 0]");
    expect_text("one/two/slag", "[9 [1 2 3 0]]", "0");
    expect_text("one/two/snag", "[1 [1 2 3 0]]", "2");
    expect_result("one/two/snag", "[3 [1 2 3 0]]", NOCK_JET_DECLINED); /* snag-fail */
    expect_text("one/two/reap", "[3 [1 2]]", "[[1 2] [1 2] [1 2] 0]");
    expect_text("one/two/reap", "[0 5]", "0");
    expect_text("one/two/tri/qua/trip", "'abc'", "[97 98 99 0]");
    expect_text("one/two/tri/qua/trip", "0", "0");
    expect_text("one/two/tri/qua/trip", "0x61.0062", "[0x62 0 0x61 0]");
}

/* ---- parser rules ----------------------------------------------------------- */

/* The rule's argument sits where the door's tree does in call_with. */
static void expect_rule(const char *path, const char *argument, const char *nail, const char *expected)
{
    noun product = NOUN_NONE;
    if (call_with(path, parse(nail), parse(argument), &product, NULL) != NOCK_JET_DONE)
        fail_msg("%s %s on %s: declined", path, argument, nail);
    if (!noun_equal(product, parse(expected))) {
        char *got = text_format(product);
        fail_msg("%s %s on %s: got %s, wanted %s", path, argument, nail, got, expected);
    }
}

static void test_parse_rules(void **state)
{
    (void)state;
    /* a match consumes one character: the column counts up, or on a
     * newline the line does and the column starts again */
    expect_rule("one/two/tri/qua/just/fun", "'a'", "[[1 1] \"ab\"]", "[[1 2] 0 'a' [1 2] \"b\"]");
    expect_rule("one/two/tri/qua/just/fun", "10", "[[3 7] [10 0]]", "[[4 1] 0 10 [4 1] 0]");
    expect_rule("one/two/tri/qua/just/fun", "'a'", "[[1 1] \"b\"]", "[[1 1] 0]");
    expect_rule("one/two/tri/qua/just/fun", "'a'", "[[1 1] 0]", "[[1 1] 0]");
    expect_rule("one/two/tri/qua/mask/fun", "\"xyz\"", "[[1 1] \"yes\"]", "[[1 2] 0 'y' [1 2] \"es\"]");
    expect_rule("one/two/tri/qua/mask/fun", "\"xyz\"", "[[1 1] \"no\"]", "[[1 1] 0]");
    expect_rule("one/two/tri/qua/shim/fun", "['a' 'z']", "[[1 1] \"q\"]", "[[1 2] 0 'q' [1 2] 0]");
    expect_rule("one/two/tri/qua/shim/fun", "['a' 'z']", "[[1 1] \"Q\"]", "[[1 1] 0]");
    expect_rule("one/two/tri/qua/easy/fun", "%foo", "[[2 5] \"rest\"]", "[[2 5] 0 %foo [2 5] \"rest\"]");
    noun product;
    /* shapes the Nock would crash on are left to it */
    assert_int_equal(call_with("one/two/tri/qua/mask/fun", parse("[[1 1] \"a\"]"), parse("[1 2]"), &product, NULL),
                     NOCK_JET_DECLINED);
    assert_int_equal(call_with("one/two/tri/qua/shim/fun", parse("[[1 1] [[1 2] 0]]"), parse("[1 2]"), &product, NULL),
                     NOCK_JET_DECLINED);
    assert_int_equal(call_with("one/two/tri/qua/just/fun", parse("[[1 1] 5]"), 'a', &product, NULL),
                     NOCK_JET_DECLINED);
}

/* ---- maps and sets -------------------------------------------------------- */

static bool gor(noun a, noun b)
{
    uint32_t c = mug_noun(a), d = mug_noun(b);
    noun product;
    if (c != d)
        return c < d;
    call_with("one/two/dor", noun_cell_new(region, a, b), 0, &product, NULL);
    return product == 0;
}

static bool mor(noun a, noun b)
{
    uint32_t c = mug_noun(mug_noun(a)), d = mug_noun(mug_noun(b));
    noun product;
    if (c != d)
        return c < d;
    call_with("one/two/dor", noun_cell_new(region, a, b), 0, &product, NULL);
    return product == 0;
}

/* Hoon's +apt: keys ordered by gor left to right, nodes by mor top down.
 * `lower`/`upper` bound the keys of this subtree (NOUN_NONE: unbounded).
 * Recursion depth is the tree's depth, a few dozen here. */
static void check_treap(noun tree, bool map, noun lower, noun upper, int *count)
{
    if (tree == 0)
        return;
    noun item = noun_head(tree), left = noun_head(noun_tail(tree)), right = noun_tail(noun_tail(tree));
    noun key = map ? noun_head(item) : item;
    (*count)++;
    if (lower != NOUN_NONE)
        assert_true(gor(key, lower) && !noun_equal(key, lower));
    if (upper != NOUN_NONE)
        assert_true(gor(upper, key) && !noun_equal(key, upper));
    if (left) {
        noun left_item = noun_head(left);
        assert_true(mor(key, map ? noun_head(left_item) : left_item));
    }
    if (right) {
        noun right_item = noun_head(right);
        assert_true(mor(key, map ? noun_head(right_item) : right_item));
    }
    check_treap(left, map, key, upper, count);
    check_treap(right, map, lower, key, count);
}

static void test_sets_and_maps(void **state)
{
    (void)state;
    noun set = 0, map = 0, product;
    for (uint64_t i = 0; i < 500; i++) {
        uint64_t key = (i * 7919) % 1000;
        assert_int_equal(call_with("one/two/in/put", key, set, &set, NULL), NOCK_JET_DONE);
        assert_int_equal(call_with("one/two/by/put", noun_cell_new(region, key, i), map, &map, NULL), NOCK_JET_DONE);
    }
    int count = 0;
    check_treap(set, false, NOUN_NONE, NOUN_NONE, &count);
    assert_int_equal(count, 500);
    count = 0;
    check_treap(map, true, NOUN_NONE, NOUN_NONE, &count);
    assert_int_equal(count, 500);
    for (uint64_t i = 0; i < 500; i++) {
        uint64_t key = (i * 7919) % 1000;
        assert_int_equal(call_with("one/two/in/has", key, set, &product, NULL), NOCK_JET_DONE);
        assert_int_equal(product, 0);
        assert_int_equal(call_with("one/two/by/has", key, map, &product, NULL), NOCK_JET_DONE);
        assert_int_equal(product, 0);
        assert_int_equal(call_with("one/two/by/get", key, map, &product, NULL), NOCK_JET_DONE);
        assert_true(noun_equal(product, noun_cell_new(region, 0, i)));
    }
    /* absent keys */
    assert_int_equal(call_with("one/two/in/has", 1001, set, &product, NULL), NOCK_JET_DONE);
    assert_int_equal(product, 1);
    assert_int_equal(call_with("one/two/by/get", 1001, map, &product, NULL), NOCK_JET_DONE);
    assert_int_equal(product, 0);
    /* putting what is there changes nothing; a new value replaces the old */
    noun again;
    assert_int_equal(call_with("one/two/in/put", 7919 % 1000, set, &again, NULL), NOCK_JET_DONE);
    assert_true(noun_equal(again, set));
    assert_int_equal(call_with("one/two/by/put", noun_cell_new(region, 0, 77), map, &again, NULL), NOCK_JET_DONE);
    assert_int_equal(call_with("one/two/by/get", 0, again, &product, NULL), NOCK_JET_DONE);
    assert_true(noun_equal(product, noun_cell_new(region, 0, 77)));
    /* a malformed tree is left to the Nock */
    assert_int_equal(call_with("one/two/in/has", 5, parse("[1 2]"), &product, NULL), NOCK_JET_DECLINED);
}

/* ---- GMP as the oracle on random big atoms -------------------------------- */

static void to_mpz(mpz_t out, noun atom)
{
    uint64_t single;
    size_t count;
    const uint64_t *words = noun_atom_words(atom, &single, &count);
    mpz_import(out, count, -1, sizeof(uint64_t), 0, 0, words);
}

static uint64_t random_state = 0x243f6a8885a308d3;
static uint64_t next_random(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

/* Sizes that cross the direct/indirect line and word boundaries. */
static noun random_atom(void)
{
    static const unsigned sizes[] = { 0, 1, 7, 62, 63, 64, 65, 127, 128, 129, 300, 1000 };
    unsigned bits = sizes[next_random() % (sizeof sizes / sizeof sizes[0])];
    uint64_t words[16] = { 0 };
    for (unsigned i = 0; i < (bits + 63) / 64; i++)
        words[i] = next_random();
    if (bits % 64)
        words[bits / 64] &= (UINT64_C(1) << (bits % 64)) - 1;
    return noun_atom_from_words(region, words, (bits + 63) / 64);
}

static void expect_mpz(const char *what, noun product, const mpz_t wanted, noun a, noun b)
{
    mpz_t got;
    mpz_init(got);
    to_mpz(got, product);
    if (mpz_cmp(got, wanted) != 0) {
        char *sa = text_format(a), *sb = text_format(b);
        fail_msg("%s of %s and %s differs from GMP", what, sa, sb);
    }
    /* canonical: a small value must be direct */
    if (mpz_sizeinbase(wanted, 2) <= 63)
        assert_true(noun_is_direct(product));
    mpz_clear(got);
}

static void test_against_gmp(void **state)
{
    (void)state;
    mpz_t x, y, r, q;
    mpz_inits(x, y, r, q, NULL);
    for (int round = 0; round < 3000; round++) {
        noun_region_reset(region);
        noun a = random_atom(), b = random_atom(), product;
        to_mpz(x, a);
        to_mpz(y, b);
        noun pair = noun_cell_new(region, a, b);
        call_with("one/add", pair, 0, &product, NULL);
        mpz_add(r, x, y);
        expect_mpz("add", product, r, a, b);
        call_with("one/mul", pair, 0, &product, NULL);
        mpz_mul(r, x, y);
        expect_mpz("mul", product, r, a, b);
        if (mpz_cmp(x, y) >= 0) {
            call_with("one/sub", pair, 0, &product, NULL);
            mpz_sub(r, x, y);
            expect_mpz("sub", product, r, a, b);
        }
        if (b != 0) {
            call_with("one/dvr", pair, 0, &product, NULL);
            mpz_tdiv_qr(q, r, x, y);
            expect_mpz("div", noun_head(product), q, a, b);
            expect_mpz("mod", noun_tail(product), r, a, b);
        }
        call_with("one/two/con", pair, 0, &product, NULL);
        mpz_ior(r, x, y);
        expect_mpz("con", product, r, a, b);
        call_with("one/two/dis", pair, 0, &product, NULL);
        mpz_and(r, x, y);
        expect_mpz("dis", product, r, a, b);
        call_with("one/two/mix", pair, 0, &product, NULL);
        mpz_xor(r, x, y);
        expect_mpz("mix", product, r, a, b);
        call_with("one/lth", pair, 0, &product, NULL);
        assert_int_equal(product, mpz_cmp(x, y) < 0 ? 0 : 1);
        /* shifts and slices by a random count of bits (bloq 0) */
        uint64_t shift = next_random() % 200, count = next_random() % 200;
        call_with("one/two/lsh", noun_cell_new(region, noun_cell_new(region, 0, shift), a), 0, &product, NULL);
        mpz_mul_2exp(r, x, shift);
        expect_mpz("lsh", product, r, a, shift);
        call_with("one/two/rsh", noun_cell_new(region, noun_cell_new(region, 0, shift), a), 0, &product, NULL);
        mpz_tdiv_q_2exp(r, x, shift);
        expect_mpz("rsh", product, r, a, shift);
        call_with("one/two/end", noun_cell_new(region, noun_cell_new(region, 0, count), a), 0, &product, NULL);
        mpz_tdiv_r_2exp(r, x, count);
        expect_mpz("end", product, r, a, count);
        call_with("one/two/cut", noun_trel(region, 0, noun_cell_new(region, shift, count), a), 0, &product, NULL);
        mpz_tdiv_q_2exp(r, x, shift);
        mpz_tdiv_r_2exp(r, r, count);
        expect_mpz("cut", product, r, a, shift);
        /* cat with bytes: a below, b above (met 3 a) bytes up */
        call_with("one/two/cat", noun_trel(region, 3, a, b), 0, &product, NULL);
        size_t a_bytes = mpz_sgn(x) ? (mpz_sizeinbase(x, 2) + 7) / 8 : 0;
        mpz_mul_2exp(r, y, 8 * a_bytes);
        mpz_ior(r, r, x);
        expect_mpz("cat", product, r, a, b);
        /* rip then rep by bytes is the identity */
        noun pieces;
        call_with("one/two/rip", noun_cell_new(region, 3, a), 0, &pieces, NULL);
        call_with("one/two/rep", noun_cell_new(region, 3, pieces), 0, &product, NULL);
        expect_mpz("rep of rip", product, x, a, 3);
    }
    mpz_clears(x, y, r, q, NULL);
}

/* ---- the dashboard -------------------------------------------------------- */

/* A kernel in miniature, labelled as Hoon's is:
 *   root  [[1 111] 140]          clue [[%k 140] [1 0] 0]   (a root: "k140")
 *   one   [[1 222] root]         clue [%one [0 3] 0]       ("k140/one")
 *   add   [[0 13] [[a b] one]]   clue [%add [0 7] 0]       ("k140/one/add")
 * add's "Nock" here is [0 13], which gives b: so the jet (a + b) and the
 * Nock differ whenever a isn't 0, and which one ran is plain to see. */
struct mini {
    struct noun_home *home;
    struct jets_dashboard *jets;
    struct nock_context *nock;
};

static void mini_fast(void *context, noun clue, noun core)
{
    struct mini *mini = context;
    jets_dashboard_fast(mini->jets, mini->nock, clue, core);
}

static void mini_open(struct mini *mini)
{
    mini->home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    assert_non_null(mini->home);
    mini->jets = jets_dashboard_new(mini->home);
    assert_non_null(mini->jets);
    struct nock_config config = {
        .hooks = { .context = mini, .fast = mini_fast },
        .jets = jets_dashboard_hooks(mini->jets),
    };
    mini->nock = nock_context_new(mini->home, &config);
    assert_non_null(mini->nock);
}

static void mini_close(struct mini *mini)
{
    nock_context_free(mini->nock);
    jets_dashboard_free(mini->jets);
    noun_home_free(mini->home);
}

/* Noun text, in home. */
static noun mini_noun(struct mini *mini, const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(nock_context_region(mini->nock), text, strlen(text), NULL, NULL, &n, &error))
        fail_msg("bad test noun %s: %s", text, error.message);
    return noun_home_copy_out(mini->home, nock_context_region(mini->nock), n);
}

static noun mini_cell(struct mini *mini, noun head, noun tail)
{
    struct noun_region *r = nock_context_region(mini->nock);
    return noun_home_copy_out(mini->home, r, noun_cell_new(r, head, tail));
}

/* Evaluate [11 [%fast [1 clue]] [0 1]] against the core. */
static void mini_fast_hint(struct mini *mini, noun core, const char *clue)
{
    char text[256];
    snprintf(text, sizeof text, "[11 [%%fast [1 %s]] 0 1]", clue);
    struct nock_outcome outcome = nock_evaluate(mini->nock, core, mini_noun(mini, text));
    assert_int_equal(outcome.status, NOCK_OK);
}

/* The gate called on [a b]. */
static noun mini_call(struct mini *mini, noun gate, uint64_t a, uint64_t b)
{
    char text[128];
    snprintf(text, sizeof text, "[9 2 10 [6 1 [%llu %llu]] 0 1]", (unsigned long long)a, (unsigned long long)b);
    struct nock_outcome outcome = nock_evaluate(mini->nock, gate, mini_noun(mini, text));
    assert_int_equal(outcome.status, NOCK_OK);
    return outcome.product;
}

static uint64_t mini_calls(struct mini *mini)
{
    struct jets_stats stats;
    jets_dashboard_stats(mini->jets, &stats);
    return stats.calls;
}

static void test_dashboard(void **state)
{
    (void)state;
    struct mini mini;
    mini_open(&mini);
    noun root = mini_noun(&mini, "[[1 111] 140]");
    mini_fast_hint(&mini, root, "[[%k 140] [1 0] 0]");
    noun one = mini_cell(&mini, mini_noun(&mini, "[1 222]"), root);
    mini_fast_hint(&mini, one, "[%one [0 3] 0]");
    static noun gate;
    gate = mini_cell(&mini, mini_noun(&mini, "[0 13]"), mini_cell(&mini, mini_noun(&mini, "[0 0]"), one));
    /* a parent formula under a hint wrapper is still [0 7] */
    mini_fast_hint(&mini, gate, "[%add [11 %hint 0 7] 0]");
    struct jets_stats stats;
    jets_dashboard_stats(mini.jets, &stats);
    assert_int_equal(stats.cores, 3);
    assert_int_equal(stats.jetted_arms, 1);
    assert_int_equal(stats.rejected, 0);

    /* the jet runs */
    assert_int_equal(mini_call(&mini, gate, 7, 5), 12);
    assert_int_equal(mini_calls(&mini), 1);
    /* the same battery in another context is not add: a wrong parent
     * battery, or the right one over a root with another payload */
    noun stranger = mini_cell(&mini, mini_noun(&mini, "[1 333]"), root);
    noun impostor = mini_cell(&mini, mini_noun(&mini, "[0 13]"), mini_cell(&mini, 0, stranger));
    assert_int_equal(mini_call(&mini, impostor, 7, 5), 5);
    noun other_root = mini_noun(&mini, "[[1 111] 141]");
    noun other_one = mini_cell(&mini, mini_noun(&mini, "[1 222]"), other_root);
    impostor = mini_cell(&mini, mini_noun(&mini, "[0 13]"), mini_cell(&mini, 0, other_one));
    assert_int_equal(mini_call(&mini, impostor, 7, 5), 5);
    assert_int_equal(mini_calls(&mini), 1);

    /* off: the Nock */
    jets_dashboard_set_mode(mini.jets, JETS_OFF);
    assert_int_equal(mini_call(&mini, gate, 7, 5), 5);
    assert_int_equal(mini_calls(&mini), 1);

    /* check: the jet disagrees with this Nock; the Nock's answer stands and
     * the difference is reported with label and sample */
    jets_dashboard_set_mode(mini.jets, JETS_CHECK);
    assert_int_equal(mini_call(&mini, gate, 7, 5), 5);
    jets_dashboard_stats(mini.jets, &stats);
    assert_int_equal(stats.check_mismatches, 1);
    assert_int_equal(jets_dashboard_mismatch_count(mini.jets), 1);
    const char *report = jets_dashboard_mismatch(mini.jets, 0);
    assert_non_null(strstr(report, "k140/one/add"));
    assert_non_null(strstr(report, "[7 5]"));
    assert_non_null(strstr(report, "jet gives 12"));
    assert_non_null(strstr(report, "nock gives 5"));
    /* where they agree (a = 0) nothing is reported */
    assert_int_equal(mini_call(&mini, gate, 0, 5), 5);
    jets_dashboard_stats(mini.jets, &stats);
    assert_int_equal(stats.check_mismatches, 1);
    assert_int_equal(stats.check_agreements, 1);

    /* a home collection moves everything; the tables follow */
    jets_dashboard_set_mode(mini.jets, JETS_ON);
    assert_true(noun_home_root_add(mini.home, &gate));
    nock_context_reset(mini.nock);
    assert_true(noun_home_collect(mini.home));
    uint64_t before = mini_calls(&mini);
    assert_int_equal(mini_call(&mini, gate, 7, 5), 12);
    assert_int_equal(mini_calls(&mini), before + 1);
    noun_home_root_remove(mini.home, &gate);

    /* clues it can't read, and cores whose parent isn't registered, are
     * counted and skipped */
    noun loose = mini_noun(&mini, "[[1 444] 3]");
    mini_fast_hint(&mini, loose, "[%x [0 7] 0]");  /* no parent at 7 */
    mini_fast_hint(&mini, loose, "5");             /* not [name parent hooks] */
    mini_fast_hint(&mini, loose, "[%y [4 0 1] 0]"); /* not [0 axis] or [1 0] */
    mini_fast_hint(&mini, loose, "[%z [0 3] 0]");   /* parent 3 is an atom */
    jets_dashboard_stats(mini.jets, &stats);
    assert_int_equal(stats.cores, 3);
    assert_int_equal(stats.rejected, 4);

    jets_dashboard_clear(mini.jets);
    jets_dashboard_stats(mini.jets, &stats);
    assert_int_equal(stats.cores, 0);
    mini_close(&mini);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_math_known),
        cmocka_unit_test(test_bits_known),
        cmocka_unit_test(test_tree_known),
        cmocka_unit_test(test_order_known),
        cmocka_unit_test(test_lists_known),
        cmocka_unit_test(test_sets_and_maps),
        cmocka_unit_test(test_parse_rules),
        cmocka_unit_test(test_against_gmp),
        cmocka_unit_test(test_dashboard),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
