/* Unit tests for in-place home collection (a home whose arena has no
 * sibling, as the PMA's) and for adopting an arena that already holds
 * nouns (interp/noun.h, docs/memory.md).
 *
 * Homes are built from random noun graphs with sharing and big atoms; what
 * the roots hold is jammed before each collection and must jam the same
 * after it, with each object's cached mug kept in its first word.  A
 * collection must leave exactly the live bytes, shared structure must
 * still be found by copy-out afterwards, and the copying collector run on
 * the same graphs must agree (same jams, same bytes in use). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/noun.h"
#include "tests/support/support.h"

#define HOME_BYTES ((size_t)1 << 30)
#define ROOT_SLOTS 24
#define HELD_COUNT 24

static struct noun_region *region;

static int setup(void **state) { return support_region_open(&region); }
static int teardown(void **state) { return support_region_close(&region); }

/* ---- random noun graphs --------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t rng_below(size_t n) { return (size_t)(rng_next() % n); }

/* An atom of 1..12 words with its top word nonzero, so it stays indirect. */
static noun random_big_atom(void)
{
    uint64_t words[12];
    size_t count = 1 + rng_below(12);
    for (size_t i = 0; i < count; i++)
        words[i] = rng_next();
    words[count - 1] |= UINT64_C(1) << 63;
    return noun_atom_from_words(region, words, count);
}

/* A pool of `count` scratch nouns, each a small atom, a big atom, or a cell
 * of two earlier ones (so later nouns share earlier structure); also some
 * equal cells built apart, which copy-out turns into one. */
static noun *random_pool(size_t count)
{
    noun *pool = malloc(count * sizeof *pool);
    assert_non_null(pool);
    for (size_t i = 0; i < count; i++) {
        size_t kind = i < 8 ? 0 : rng_below(10);
        if (kind == 0)
            pool[i] = rng_below(50);
        else if (kind == 1)
            pool[i] = random_big_atom();
        else if (kind == 2)
            pool[i] = noun_cell_new(region, rng_below(4), rng_below(4));
        else
            pool[i] = noun_cell_new(region, pool[rng_below(i)], pool[rng_below(i)]);
    }
    return pool;
}

/* ---- homes of the two kinds ------------------------------------------------ */

/* The sibling of a copying arena, made here so the differential test is a
 * copying one whatever NOCKLAB_HOME_COMPACT says about noun_arena_memory. */
static struct noun_arena *copying_sibling(struct noun_arena *arena)
{
    struct noun_arena *sibling = noun_arena_memory_in_place(arena->capacity);
    if (sibling) {
        sibling->sibling = copying_sibling;
        sibling->trim = NULL;
    }
    return sibling;
}

static struct noun_home *copying_home(void)
{
    struct noun_arena *arena = copying_sibling(&(struct noun_arena){ .capacity = HOME_BYTES });
    struct noun_home *home = noun_home_new(arena);
    assert_non_null(home);
    return home;
}

static struct noun_home *in_place_home(struct noun_arena **arena_out)
{
    struct noun_arena *arena = noun_arena_memory_in_place(HOME_BYTES);
    assert_non_null(arena);
    assert_null(arena->sibling);
    if (arena_out)
        *arena_out = arena;
    struct noun_home *home = noun_home_new(arena);
    assert_non_null(home);
    return home;
}

/* What a home keeps: root slots registered one by one (the first one
 * twice) and an array visited by a root enumerator. */
struct keeper {
    struct noun_home *home;
    noun slots[ROOT_SLOTS];
    noun held[HELD_COUNT];
};

static void visit_held(void *context, struct noun_collector *collector)
{
    struct keeper *keeper = context;
    noun_collector_visit_many(collector, keeper->held, HELD_COUNT);
    /* a slot visited twice moves once */
    noun_collector_visit(collector, &keeper->held[0]);
}

static void keeper_open(struct keeper *keeper, struct noun_home *home)
{
    memset(keeper, 0, sizeof *keeper);
    keeper->home = home;
    for (size_t i = 0; i < ROOT_SLOTS; i++)
        assert_true(noun_home_root_add(home, &keeper->slots[i]));
    assert_true(noun_home_root_add(home, &keeper->slots[0]));
    assert_true(noun_home_root_enumerator_add(home, visit_held, keeper));
}

static noun *keeper_slot(struct keeper *keeper, size_t i)
{
    return i < ROOT_SLOTS ? &keeper->slots[i] : &keeper->held[i - ROOT_SLOTS];
}

#define KEPT (ROOT_SLOTS + HELD_COUNT)

/* The jam of each kept noun, and the mug each had cached. */
struct picture {
    uint8_t *jam[KEPT];
    size_t length[KEPT];
    uint32_t mug[KEPT];
};

static void picture_take(struct picture *picture, struct keeper *keeper)
{
    for (size_t i = 0; i < KEPT; i++) {
        noun n = *keeper_slot(keeper, i);
        assert_true(jam_to_bytes(n, &picture->jam[i], &picture->length[i]));
        picture->mug[i] = mug_noun(n);
    }
}

/* Every kept noun jams as it did, and an indirect one still has its mug
 * cached in its first word (read before anything could recompute it). */
static void picture_check(struct picture *picture, struct keeper *keeper)
{
    for (size_t i = 0; i < KEPT; i++) {
        noun n = *keeper_slot(keeper, i);
        if (!noun_is_direct(n)) {
            assert_true(noun_home_holds(keeper->home, n));
            uint32_t cached = noun_is_cell(n) ? noun_to_cell(n)->mug : noun_to_atom(n)->mug;
            assert_int_equal(cached, picture->mug[i]);
        }
        uint8_t *bytes;
        size_t length;
        assert_true(jam_to_bytes(n, &bytes, &length));
        assert_int_equal(length, picture->length[i]);
        assert_memory_equal(bytes, picture->jam[i], length);
        free(bytes);
    }
}

static void picture_free(struct picture *picture)
{
    for (size_t i = 0; i < KEPT; i++)
        free(picture->jam[i]);
}

/* Bytes of the distinct home objects the kept nouns reach: a scratch list
 * of them, censused, less the list's own cells. */
static uint64_t kept_bytes(struct keeper *keeper)
{
    noun list = 0;
    for (size_t i = 0; i < KEPT; i++)
        list = noun_cell_new(region, *keeper_slot(keeper, i), list);
    struct noun_census census;
    noun_census(list, &census);
    return census.bytes - KEPT * sizeof(struct noun_cell);
}

/* One round: copy out `copies` random nouns of a fresh pool, keep some of
 * them in random slots (dropping what those held), collect, and check. */
static void round_of(struct keeper *keeper, size_t pool_size, size_t copies)
{
    noun_region_reset(region);
    noun *pool = random_pool(pool_size);
    for (size_t i = 0; i < copies; i++) {
        noun kept = noun_home_copy_out(keeper->home, region, pool[rng_below(pool_size)]);
        assert_int_not_equal(kept, NOUN_NONE);
        if (rng_below(3) == 0)
            *keeper_slot(keeper, rng_below(KEPT)) = kept;
    }
    free(pool);
    noun_region_reset(region);
    struct picture picture;
    picture_take(&picture, keeper);
    uint64_t live = kept_bytes(keeper);
    noun_region_reset(region);
    size_t before = noun_home_used(keeper->home);
    assert_true(noun_home_collect(keeper->home));
    assert_int_equal(noun_home_used(keeper->home), live);
    assert_int_equal(noun_home_used_after_collect(keeper->home), live);
    assert_true(live <= before);
    picture_check(&picture, keeper);
    picture_free(&picture);
}

/* ---- the tests ---------------------------------------------------------------- */

static void test_random_graphs_collected_repeatedly(void **state)
{
    rng_state = 0x2545F4914F6CDD1Dull;
    struct keeper keeper;
    keeper_open(&keeper, in_place_home(NULL));
    for (int round = 0; round < 12; round++)
        round_of(&keeper, 2000, 200);
    /* collecting again with nothing dropped keeps everything */
    size_t used = noun_home_used(keeper.home);
    round_of(&keeper, 10, 0);
    assert_int_equal(noun_home_used(keeper.home), used);
    noun_home_free(keeper.home);
}

/* Roots dropped: nothing survives. */
static void test_no_roots_leaves_nothing(void **state)
{
    struct noun_home *home = in_place_home(NULL);
    assert_true(noun_home_collect(home)); /* empty */
    noun_region_reset(region);
    rng_state = 7;
    noun *pool = random_pool(1000);
    for (size_t i = 0; i < 1000; i++)
        assert_int_not_equal(noun_home_copy_out(home, region, pool[i]), NOUN_NONE);
    free(pool);
    assert_true(noun_home_used(home) > 0);
    assert_true(noun_home_collect(home));
    assert_int_equal(noun_home_used(home), 0);
    struct noun_dedup_stats stats;
    noun_home_dedup_stats(home, &stats);
    assert_int_equal(stats.entries, 0);
    noun_home_free(home);
}

/* After compaction, copy-out finds what is kept: a scratch copy of a kept
 * noun comes back as the very home noun, and nothing is allocated. */
static void test_dedup_shares_after_compaction(void **state)
{
    rng_state = 99;
    struct keeper keeper;
    keeper_open(&keeper, in_place_home(NULL));
    for (int round = 0; round < 3; round++)
        round_of(&keeper, 2000, 200);
    for (size_t i = 0; i < KEPT; i++) {
        noun kept = *keeper_slot(&keeper, i);
        uint8_t *bytes;
        size_t length;
        assert_true(jam_to_bytes(kept, &bytes, &length));
        noun_region_reset(region);
        noun fresh;
        struct jam_error error;
        assert_true(jam_cue_bytes(region, bytes, length, &fresh, &error));
        free(bytes);
        size_t used = noun_home_used(keeper.home);
        assert_int_equal(noun_home_copy_out(keeper.home, region, fresh), kept);
        assert_int_equal(noun_home_used(keeper.home), used);
    }
    struct noun_dedup_stats stats;
    noun_home_dedup_stats(keeper.home, &stats);
    assert_true(stats.hits > 0);
    noun_home_free(keeper.home);
}

/* The copying collector and in-place compaction, given the same copy-outs
 * and the same roots, keep the same nouns in the same number of bytes. */
static void test_agrees_with_copying_collector(void **state)
{
    struct keeper copying, in_place;
    keeper_open(&copying, copying_home());
    keeper_open(&in_place, in_place_home(NULL));
    rng_state = 12345;
    for (int round = 0; round < 8; round++) {
        noun_region_reset(region);
        noun *pool = random_pool(2000);
        for (size_t i = 0; i < 200; i++) {
            noun n = pool[rng_below(2000)];
            noun a = noun_home_copy_out(copying.home, region, n);
            noun b = noun_home_copy_out(in_place.home, region, n);
            if (rng_below(3) == 0) {
                size_t slot = rng_below(KEPT);
                *keeper_slot(&copying, slot) = a;
                *keeper_slot(&in_place, slot) = b;
            }
        }
        free(pool);
        assert_int_equal(noun_home_used(copying.home), noun_home_used(in_place.home));
        struct picture picture, in_place_picture;
        picture_take(&picture, &copying);
        picture_take(&in_place_picture, &in_place);
        assert_true(noun_home_collect(copying.home));
        assert_true(noun_home_collect(in_place.home));
        assert_int_equal(noun_home_used(copying.home), noun_home_used(in_place.home));
        picture_check(&picture, &copying);
        picture_check(&in_place_picture, &in_place);
        for (size_t i = 0; i < KEPT; i++) {
            assert_int_equal(picture.length[i], in_place_picture.length[i]);
            assert_memory_equal(picture.jam[i], in_place_picture.jam[i], picture.length[i]);
        }
        picture_free(&picture);
        picture_free(&in_place_picture);
        struct noun_dedup_stats a, b;
        noun_home_dedup_stats(copying.home, &a);
        noun_home_dedup_stats(in_place.home, &b);
        assert_int_equal(a.entries, b.entries);
    }
    noun_home_free(copying.home);
    noun_home_free(in_place.home);
}

/* Long lists and big atoms: marking keeps its own stack. */
static void test_deep_list_and_big_atoms(void **state)
{
    struct noun_home *home = in_place_home(NULL);
    noun_region_reset(region);
    noun list = 0;
    uint64_t words[300];
    for (size_t i = 0; i < 300; i++)
        words[i] = i + 1;
    for (int i = 0; i < 1000000; i++) {
        list = noun_cell_new(region, i % 1000 == 0 ? noun_atom_from_words(region, words, 2 + i % 298) : (noun)i, list);
        if (i % 100000 == 0) /* garbage between */
            noun_home_copy_out(home, region, noun_cell_new(region, i, list));
    }
    noun kept = noun_home_copy_out(home, region, list);
    assert_true(noun_home_root_add(home, &kept));
    uint8_t *before, *after;
    size_t before_length, after_length;
    assert_true(jam_to_bytes(kept, &before, &before_length));
    size_t used = noun_home_used(home);
    assert_true(noun_home_collect(home));
    assert_true(noun_home_used(home) < used);
    assert_true(jam_to_bytes(kept, &after, &after_length));
    assert_int_equal(before_length, after_length);
    assert_memory_equal(before, after, before_length);
    free(before);
    free(after);
    noun_home_free(home);
}

/* The arena hooks: will_rewrite announces the range compaction writes
 * (from the first dead byte to the old end), trim the range it freed. */
struct hook_calls {
    int rewrites, trims;
    size_t rewrite_from, rewrite_to, trim_from, trim_to;
    void (*memory_trim)(struct noun_arena *arena, size_t from, size_t to);
};

static void record_rewrite(struct noun_arena *arena, size_t from, size_t to)
{
    struct hook_calls *calls = arena->context;
    calls->rewrites++;
    calls->rewrite_from = from;
    calls->rewrite_to = to;
}

static void record_trim(struct noun_arena *arena, size_t from, size_t to)
{
    struct hook_calls *calls = arena->context;
    calls->trims++;
    calls->trim_from = from;
    calls->trim_to = to;
    calls->memory_trim(arena, from, to);
}

static void test_arena_hooks(void **state)
{
    /* out of stress mode, which poisons the freed tail instead of trimming */
    bool stress = noun_collection_stress();
    noun_collection_stress_set(false);
    struct noun_arena *arena;
    struct noun_home *home = in_place_home(&arena);
    noun_collection_stress_set(stress);
    struct hook_calls calls = { .memory_trim = arena->trim };
    arena->context = &calls;
    arena->will_rewrite = record_rewrite;
    arena->trim = record_trim;
    noun_region_reset(region);
    noun a = noun_home_copy_out(home, region, support_parse(region, "[1 2 3]"));
    size_t a_end = noun_home_used(home);
    noun_home_copy_out(home, region, support_parse(region, "[4 5 6 7]"));
    noun c = noun_home_copy_out(home, region, support_parse(region, "[8 9]"));
    size_t old_used = noun_home_used(home);
    assert_true(noun_home_root_add(home, &a));
    assert_true(noun_home_root_add(home, &c));
    assert_true(noun_home_collect(home));
    assert_int_equal(calls.rewrites, 1);
    assert_int_equal(calls.rewrite_from, a_end);
    assert_int_equal(calls.rewrite_to, old_used);
    assert_int_equal(calls.trims, 1);
    assert_int_equal(calls.trim_from, noun_home_used(home));
    assert_int_equal(calls.trim_to, old_used);
    assert_int_equal(noun_home_used(home), old_used - 3 * sizeof(struct noun_cell));
    assert_true(noun_equal(c, support_parse(region, "[8 9]")));
    assert_true(noun_equal(a, support_parse(region, "[1 2 3]")));
    /* nothing dead: nothing written, nothing trimmed */
    assert_true(noun_home_collect(home));
    assert_int_equal(calls.rewrites, 1);
    assert_int_equal(calls.trims, 1);
    /* trimmed pages are used again */
    noun d = noun_home_copy_out(home, region, support_parse(region, "[10 11 [12 13]]"));
    assert_true(noun_equal(d, support_parse(region, "[10 11 [12 13]]")));
    noun_home_free(home);
}

/* Stress mode: what compaction freed is poisoned, and nothing else changes. */
static void test_stress_poisons_freed_tail(void **state)
{
    bool stress = noun_collection_stress();
    noun_collection_stress_set(true);
    struct noun_arena *arena;
    struct keeper keeper;
    keeper_open(&keeper, in_place_home(&arena));
    noun_collection_stress_set(stress);
    rng_state = 4242;
    for (int round = 0; round < 4; round++) {
        noun_region_reset(region);
        noun *pool = random_pool(2000);
        for (size_t i = 0; i < 200; i++) {
            noun kept = noun_home_copy_out(keeper.home, region, pool[rng_below(2000)]);
            if (rng_below(4) == 0)
                *keeper_slot(&keeper, rng_below(KEPT)) = kept;
        }
        free(pool);
        struct picture picture;
        picture_take(&picture, &keeper);
        size_t before = noun_home_used(keeper.home);
        assert_true(noun_home_collect(keeper.home));
        size_t after = noun_home_used(keeper.home);
        assert_true(after < before);
        const uint64_t *words = (const uint64_t *)(const void *)arena->base;
        for (size_t i = after / 8; i < before / 8; i++)
            assert_int_equal(words[i], NOUN_POISON);
        picture_check(&picture, &keeper);
        picture_free(&picture);
    }
    noun_home_free(keeper.home);
}

/* ---- adopting a file-backed arena -------------------------------------------- */

/* A small file-backed arena at a fixed address, as the PMA maps one: the
 * whole capacity is mapped shared from the file, and commit grows the file
 * so the pages written are backed.  Released, its mapping goes and the
 * file stays. */
struct file_arena {
    struct noun_arena arena;
    int fd;
    size_t file_bytes;
};

static bool file_arena_commit(struct noun_arena *arena, size_t bytes)
{
    struct file_arena *file = arena->context;
    if (bytes > arena->capacity)
        return false;
    if (bytes > file->file_bytes) {
        if (ftruncate(file->fd, (off_t)bytes) != 0)
            return false;
        file->file_bytes = bytes;
    }
    return true;
}

static void file_arena_release(struct noun_arena *arena)
{
    struct file_arena *file = arena->context;
    munmap(arena->base, arena->capacity);
    free(file);
}

#define FILE_ARENA_BYTES ((size_t)64 << 20)

static struct noun_arena *file_arena_map(int fd, char *address)
{
    struct file_arena *file = calloc(1, sizeof *file);
    assert_non_null(file);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size >= 0);
    void *base = mmap(address, FILE_ARENA_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
    assert_true(base != MAP_FAILED);
    assert_ptr_equal(base, address);
    file->fd = fd;
    file->file_bytes = (size_t)size;
    file->arena = (struct noun_arena){
        .base = base,
        .capacity = FILE_ARENA_BYTES,
        .commit = file_arena_commit,
        .release = file_arena_release,
        .context = file,
    };
    return &file->arena;
}

static void test_adopt_file_arena(void **state)
{
    char path[] = "/tmp/nocklab-home-adopt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    /* an address nobody uses, for both mappings */
    char *address = mmap(NULL, FILE_ARENA_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(address != MAP_FAILED);
    munmap(address, FILE_ARENA_BYTES);

    struct keeper keeper;
    keeper_open(&keeper, noun_home_new(file_arena_map(fd, address)));
    rng_state = 31337;
    for (int round = 0; round < 3; round++)
        round_of(&keeper, 2000, 200);
    struct picture picture;
    picture_take(&picture, &keeper);
    noun saved[KEPT];
    for (size_t i = 0; i < KEPT; i++)
        saved[i] = *keeper_slot(&keeper, i);
    size_t used = noun_home_used(keeper.home);
    noun_home_free(keeper.home);

    /* map it again and adopt: the same nouns at the same addresses */
    struct noun_home *home = noun_home_adopt(file_arena_map(fd, address), used);
    assert_non_null(home);
    assert_int_equal(noun_home_used(home), used);
    keeper_open(&keeper, home);
    for (size_t i = 0; i < KEPT; i++)
        *keeper_slot(&keeper, i) = saved[i];
    picture_check(&picture, &keeper);
    /* copy-out shares what the adopted arena holds */
    struct noun_dedup_stats stats;
    for (size_t i = 0; i < KEPT; i++) {
        noun_region_reset(region);
        noun fresh;
        struct jam_error error;
        assert_true(jam_cue_bytes(region, picture.jam[i], picture.length[i], &fresh, &error));
        assert_int_equal(noun_home_copy_out(home, region, fresh), saved[i]);
        assert_int_equal(noun_home_used(home), used);
    }
    noun_home_dedup_stats(home, &stats);
    assert_true(stats.entries > 0);
    /* and it collects in place, in the file */
    round_of(&keeper, 2000, 200);
    picture_free(&picture);
    noun_home_free(home);
    close(fd);
}

/* What adopt refuses, and an adopted use that cuts an object short: the
 * scan stops there and copy-out still works. */
static void test_adopt_refuses_and_survives_short_use(void **state)
{
    assert_null(noun_home_adopt(noun_arena_memory_in_place(1 << 20), 12));
    assert_null(noun_home_adopt(noun_arena_memory_in_place(1 << 20), (size_t)2 << 20));
    struct noun_arena *arena = noun_arena_memory_in_place(1 << 20);
    struct noun_home *home = noun_home_new(arena);
    assert_non_null(home);
    uint64_t words[4] = { 1, 2, 3, 4 };
    noun_region_reset(region);
    noun_home_copy_out(home, region, noun_cell_new(region, 1, noun_atom_from_words(region, words, 4)));
    /* the atom (48 bytes) comes first; claim all but its last word */
    char copy[48];
    memcpy(copy, arena->base, sizeof copy);
    struct noun_arena *other = noun_arena_memory_in_place(1 << 20);
    memcpy(other->base, copy, sizeof copy);
    noun_home_free(home);
    home = noun_home_adopt(other, 40);
    assert_non_null(home);
    noun fresh = noun_home_copy_out(home, region, noun_cell_new(region, 5, noun_atom_from_words(region, words, 4)));
    assert_true(noun_equal(fresh, noun_cell_new(region, 5, noun_atom_from_words(region, words, 4))));
    noun_home_free(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_graphs_collected_repeatedly),
        cmocka_unit_test(test_no_roots_leaves_nothing),
        cmocka_unit_test(test_dedup_shares_after_compaction),
        cmocka_unit_test(test_agrees_with_copying_collector),
        cmocka_unit_test(test_deep_list_and_big_atoms),
        cmocka_unit_test(test_arena_hooks),
        cmocka_unit_test(test_stress_poisons_freed_tail),
        cmocka_unit_test(test_adopt_file_arena),
        cmocka_unit_test(test_adopt_refuses_and_survives_short_use),
    };
    return cmocka_run_group_tests_name("home_compact", tests, setup, teardown);
}
