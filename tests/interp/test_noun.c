/* Unit tests for interp/noun: atoms, equality, fragments, scratch
 * collection, copy-out with hash-consing, moving out of several regions,
 * and home collection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "interp/mug.h"
#include "interp/noun.h"

static struct noun_region *region;

static int setup(void **state)
{
    region = noun_region_new((size_t)4 << 30);
    return region ? 0 : -1;
}

static int teardown(void **state)
{
    noun_region_free(region);
    return 0;
}

static void test_atoms_are_canonical(void **state)
{
    uint64_t words[3] = { 5, 0, 0 };
    assert_true(noun_is_direct(noun_atom_from_words(region, words, 3)));
    assert_int_equal(noun_atom_from_words(region, words, 3), 5);
    uint64_t big[2] = { 1, 1 };
    noun a = noun_atom_from_words(region, big, 2);
    assert_true(noun_is_indirect(a));
    assert_int_equal(noun_atom_bit_length(a), 65);
    uint8_t bytes[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 1 };
    assert_true(noun_equal(a, noun_atom_from_bytes(region, bytes, 9)));
    /* 2^63 is the first indirect atom */
    noun top = noun_atom_increment(region, NOUN_DIRECT_MAX);
    assert_true(noun_is_indirect(top));
    assert_int_equal(noun_atom_bit_length(top), 64);
    assert_int_equal(noun_atom_bit_length(0), 0);
    assert_int_equal(noun_atom_byte_length(256), 2);
}

static void test_increment_carries(void **state)
{
    uint64_t words[2] = { UINT64_MAX, UINT64_MAX };
    noun a = noun_atom_increment(region, noun_atom_from_words(region, words, 2));
    uint64_t single;
    size_t count;
    const uint64_t *w = noun_atom_words(a, &single, &count);
    assert_int_equal(count, 3);
    assert_int_equal(w[0], 0);
    assert_int_equal(w[1], 0);
    assert_int_equal(w[2], 1);
}

static void test_equality_and_fragments(void **state)
{
    noun x = noun_trel(region, 1, noun_cell_new(region, 2, 3), 4);
    noun y = noun_trel(region, 1, noun_cell_new(region, 2, 3), 4);
    noun z = noun_trel(region, 1, noun_cell_new(region, 2, 5), 4);
    assert_true(noun_equal(x, y));
    assert_false(noun_equal(x, z));
    assert_false(noun_equal(x, 1));
    assert_int_equal(noun_fragment(2, x), 1);
    assert_int_equal(noun_fragment(13, x), 3);
    assert_int_equal(noun_fragment(7, x), 4);
    assert_int_equal(noun_fragment(0, x), NOUN_NONE);
    assert_int_equal(noun_fragment(4, x), NOUN_NONE);
    /* an indirect axis: 2^64 walks 64 heads down */
    noun deep = 9;
    for (int i = 0; i < 64; i++)
        deep = noun_cell_new(region, deep, 0);
    uint64_t axis_words[2] = { 0, 1 };
    assert_int_equal(noun_fragment(noun_atom_from_words(region, axis_words, 2), deep), 9);
}

/* Equality, census and copy-out on a list ten million long and a tree
 * nested ten million deep: none of them may use the C stack per level. */
static void test_deep_nouns(void **state)
{
    const int depth = 10 * 1000 * 1000;
    noun list = 0, other = 0, nest = 7, nest2 = 7;
    for (int i = 0; i < depth; i++) {
        list = noun_cell_new(region, i, list);
        other = noun_cell_new(region, i, other);
        nest = noun_cell_new(region, nest, i);
        nest2 = noun_cell_new(region, nest2, i);
    }
    assert_true(noun_equal(list, other));
    assert_true(noun_equal(nest, nest2));
    struct noun_census census;
    noun_census(nest, &census);
    assert_int_equal(census.cells, depth);
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    assert_non_null(home);
    noun copied = noun_home_copy_out(home, region, nest);
    assert_true(noun_home_holds(home, copied));
    assert_true(noun_equal(copied, nest));
    noun copied_list = noun_home_copy_out(home, region, list);
    assert_true(noun_equal(copied_list, list));
    noun_home_free(home);
    noun_region_reset(region);
}

/* Two DAGs built apart, each 200 levels of [x x], unfold to 2^200 leaves:
 * equality must still answer at once, both ways. */
static void test_equal_dags_built_apart(void **state)
{
    noun_region_reset(region);
    noun x = 1, y = 1, z = 1;
    for (int i = 0; i < 200; i++) {
        x = noun_cell_new(region, x, x);
        y = noun_cell_new(region, y, y);
        z = noun_cell_new(region, z, i == 199 ? 2 : z);
    }
    assert_true(noun_equal(x, y));
    assert_false(noun_equal(x, z));
}

/* Roots for the collection test: an array of slots. */
struct root_array {
    noun *slots;
    size_t count;
};

static void visit_root_array(void *context, struct noun_collector *collector)
{
    struct root_array *roots = context;
    noun_collector_visit_many(collector, roots->slots, roots->count);
}

static void test_scratch_collection_keeps_live_and_sharing(void **state)
{
    noun_region_reset(region);
    noun shared = noun_cell_new(region, 1, 2);
    uint64_t big[2] = { 3, 4 };
    noun atom = noun_atom_from_words(region, big, 2);
    noun live[2] = { noun_trel(region, shared, shared, atom), 42 };
    for (int i = 0; i < 100000; i++)
        noun_cell_new(region, i, i); /* garbage */
    size_t before = noun_region_used(region);
    struct root_array roots = { live, 2 };
    noun_region_collect(region, visit_root_array, &roots);
    assert_true(noun_region_used(region) < before / 100);
    assert_int_equal(live[1], 42);
    noun head = noun_head(live[0]);
    noun second = noun_head(noun_tail(live[0]));
    assert_int_equal(head, second); /* sharing survives */
    assert_int_equal(noun_head(head), 1);
    assert_int_equal(noun_tail(head), 2);
    uint64_t single;
    size_t count;
    const uint64_t *w = noun_atom_words(noun_tail(noun_tail(live[0])), &single, &count);
    assert_int_equal(count, 2);
    assert_int_equal(w[1], 4);
    assert_true(noun_region_holds(region, live[0]));
    /* collecting twice in a row is fine too */
    noun_region_collect(region, visit_root_array, &roots);
    assert_int_equal(noun_head(noun_head(live[0])), 1);
    assert_true(noun_region_bytes_allocated(region) >= 100000 * sizeof(struct noun_cell));
}

static void test_copy_out_dedups(void **state)
{
    noun_region_reset(region);
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    assert_non_null(home);
    noun a = noun_home_copy_out(home, region, noun_trel(region, 1, 2, 3));
    noun b = noun_home_copy_out(home, region, noun_cell_new(region, 0, noun_trel(region, 1, 2, 3)));
    assert_int_equal(noun_tail(b), a); /* the same home cell */
    struct noun_dedup_stats stats;
    noun_home_dedup_stats(home, &stats);
    assert_int_equal(stats.lookups, 5);
    assert_int_equal(stats.hits, 2);
    assert_int_equal(stats.bytes_saved, 2 * sizeof(struct noun_cell));
    /* a noun already in home is returned as it is */
    assert_int_equal(noun_home_copy_out(home, region, a), a);
    /* structure shared inside one scratch noun is copied once */
    noun x = noun_cell_new(region, 5, 6);
    noun pair = noun_cell_new(region, x, x);
    noun c = noun_home_copy_out(home, region, pair);
    assert_int_equal(noun_head(c), noun_tail(c));
    noun_home_free(home);
}


/* A move of one noun; NOUN_NONE when home is full. */
static noun move_one(struct noun_home *home, struct noun_move_marks *const *marks, noun n)
{
    return noun_home_move_out_each(home, marks, 2, &n, 1) ? n : NOUN_NONE;
}

/* noun_home_move_out_each copies in the reverse of the order it found the
 * objects, finishing first a child it finds not copied yet (noun.c,
 * move_out): on a random DAG spread over two regions, with shared cells,
 * indirect atoms and nouns already in home, it must give what copy-out
 * gives, keep the mugs computed in the regions, find again what an earlier
 * move moved, and leave the regions' objects as they were (its marks are
 * kept beside them). */
static void test_move_out_matches_copy_out(void **state)
{
    noun_region_reset(region);
    struct noun_region *other = noun_region_new((size_t)1 << 30);
    struct noun_home *reference = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    assert_non_null(other);
    assert_non_null(reference);
    assert_non_null(home);
    const struct noun_region *regions[2] = { region, other };
    struct noun_move_marks *marks[2] = { noun_move_marks_new(region), noun_move_marks_new(other) };
    assert_non_null(marks[0]);
    assert_non_null(marks[1]);
    enum { POOL = 6000 };
    static noun pool[POOL];
    static uint32_t region_mugs[POOL / 97 + 1];
    size_t count = 0;
    uint64_t random = 12345;
    for (; count < 40; count++) {
        random = random * 6364136223846793005u + 1442695040888963407u;
        struct noun_region *where = count % 2 ? region : other;
        uint64_t words[2] = { random, count };
        pool[count] = count % 3 == 0   ? (noun)(count % 7)
                      : count % 3 == 1 ? noun_atom_from_words(where, words, 2)
                                       : noun_home_copy_out(home, where, noun_cell_new(where, count, 7));
    }
    for (; count < POOL; count++) {
        random = random * 6364136223846793005u + 1442695040888963407u;
        noun head = pool[(random >> 20) % count], tail = pool[(random >> 40) % count];
        pool[count] = noun_cell_new((random >> 7) & 1 ? region : other, head, tail);
        if (count % 97 == 0) /* some region cells carry their mug */
            region_mugs[count / 97] = mug_noun(pool[count]);
    }
    noun root = 0;
    for (size_t i = POOL - 300; i < POOL; i++)
        root = noun_cell_new(region, pool[i], root);
    noun expected = noun_home_copy_out_many(reference, regions, 2, root);
    uint32_t mug = mug_noun(expected);
    noun inner = pool[POOL - 2]; /* at axis 6 of root */
    size_t home_before = noun_home_used(home);
    /* every region object's words, to compare after the moves */
    size_t region_bytes = noun_region_used(region), other_bytes = noun_region_used(other);
    char *region_before = malloc(region_bytes), *other_before = malloc(other_bytes);
    assert_non_null(region_before);
    assert_non_null(other_before);
    memcpy(region_before, region->active_base, region_bytes);
    memcpy(other_before, other->active_base, other_bytes);
    noun moved = move_one(home, marks, root);
    assert_true(moved != NOUN_NONE);
    assert_true(noun_home_holds(home, moved));
    assert_true(noun_equal(moved, expected));
    assert_int_equal(mug_noun(moved), mug);
    /* hash-consed as copy-out does: the same objects, so the same bytes */
    assert_int_equal(noun_home_used(home) - home_before, noun_home_used(reference));
    /* mugs computed in the regions came along: the home copies have them
     * without being asked (a move of a moved cell gives its copy) */
    for (size_t i = 97; i < POOL; i += 97) {
        noun copy = move_one(home, marks, pool[i]);
        assert_true(noun_home_holds(home, copy));
        assert_int_equal(noun_to_cell(copy)->mug, region_mugs[i / 97]);
    }
    /* a part moved already is found, not copied again */
    size_t used = noun_home_used(home);
    noun again = move_one(home, marks, inner);
    assert_int_equal(noun_home_used(home), used);
    assert_int_equal(again, noun_fragment(6, moved));
    /* the objects moved were only read */
    assert_memory_equal(region->active_base, region_before, region_bytes);
    assert_memory_equal(other->active_base, other_before, other_bytes);
    free(region_before);
    free(other_before);
    /* a region cell equal to one home had before is that cell: pool[5] is
     * the home copy of [5 7] */
    noun wrapped = move_one(home, marks, noun_cell_new(region, noun_cell_new(other, 5, 7), 9));
    assert_int_equal(noun_head(wrapped), pool[5]);
    /* cleared marks forget the moves: the same noun is found in home by
     * its contents, and nothing is copied */
    noun_move_marks_clear(marks[0]);
    noun_move_marks_clear(marks[1]);
    used = noun_home_used(home);
    assert_int_equal(move_one(home, marks, root), moved);
    assert_int_equal(noun_home_used(home), used);
    /* several nouns in one move: region nouns moved and not, a direct
     * atom, a home noun, each replaced by what a move of it alone gives */
    noun_move_marks_clear(marks[0]);
    noun_move_marks_clear(marks[1]);
    noun nouns[5] = { pool[POOL - 7], root, 5, pool[5], pool[POOL - 7] };
    assert_true(noun_home_move_out_each(home, marks, 2, nouns, 5));
    assert_int_equal(nouns[1], moved);
    assert_int_equal(nouns[2], 5);
    assert_int_equal(nouns[3], pool[5]);
    assert_int_equal(nouns[0], nouns[4]);
    assert_true(noun_home_holds(home, nouns[0]));
    assert_true(noun_equal(nouns[0], noun_home_copy_out_many(reference, regions, 2, pool[POOL - 7])));
    assert_int_equal(noun_home_used(home), used);
    /* a long list, whose every cell waits for the one after it, and a
     * tree whose two halves are one noun, moved with the list */
    noun list = 0;
    for (size_t i = 0; i < 50000; i++)
        list = noun_cell_new(i % 2 ? region : other, noun_cell_new(region, i, i + 1), list);
    noun half = noun_trel(other, 1, 2, 3);
    for (int depth = 0; depth < 12; depth++)
        half = noun_cell_new(depth % 2 ? region : other, half, half);
    noun both[2] = { list, half };
    assert_true(noun_home_move_out_each(home, marks, 2, both, 2));
    assert_true(noun_home_holds(home, both[0]) && noun_home_holds(home, both[1]));
    assert_true(noun_equal(both[0], noun_home_copy_out_many(reference, regions, 2, list)));
    assert_true(noun_equal(both[1], noun_home_copy_out_many(reference, regions, 2, half)));
    assert_int_equal(noun_head(both[1]), noun_tail(both[1]));
    assert_int_equal(mug_noun(both[0]), mug_noun(list));
    noun_move_marks_free(marks[0]);
    noun_move_marks_free(marks[1]);
    noun_home_free(home);
    noun_home_free(reference);
    noun_region_free(other);
}

static void test_home_collection(void **state)
{
    noun_region_reset(region);
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    assert_non_null(home);
    noun keep = noun_home_copy_out(home, region, noun_trel(region, 1, 2, 3));
    for (int i = 0; i < 1000; i++)
        noun_home_copy_out(home, region, noun_cell_new(region, i, 99));
    size_t before = noun_home_used(home);
    assert_true(noun_home_root_add(home, &keep));
    assert_true(noun_home_collect(home));
    assert_true(noun_home_used(home) < before);
    assert_true(noun_home_holds(home, keep));
    assert_int_equal(noun_head(keep), 1);
    /* the dedup table was rebuilt: copying [2 3] again finds the survivor */
    noun again = noun_home_copy_out(home, region, noun_cell_new(region, 2, 3));
    assert_int_equal(again, noun_tail(keep));
    noun_home_root_remove(home, &keep);
    noun_home_free(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_atoms_are_canonical),
        cmocka_unit_test(test_increment_carries),
        cmocka_unit_test(test_equality_and_fragments),
        cmocka_unit_test(test_deep_nouns),
        cmocka_unit_test(test_equal_dags_built_apart),
        cmocka_unit_test(test_scratch_collection_keeps_live_and_sharing),
        cmocka_unit_test(test_copy_out_dedups),
        cmocka_unit_test(test_move_out_matches_copy_out),
        cmocka_unit_test(test_home_collection),
    };
    return cmocka_run_group_tests_name("noun", tests, setup, teardown);
}
