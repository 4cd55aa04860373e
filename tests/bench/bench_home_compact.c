/* bench_home_compact.c -- what home collection costs in place (a home whose
 * arena has no sibling: the PMA's) against copying into a sibling arena,
 * and what adopting an arena that already holds nouns costs.
 *
 *   build/bench/bench_home_compact [COLLECT-MiB [ADOPT-MiB]]
 *
 * Collection: a home of COLLECT-MiB (default 384) filled by copy-out with
 * chunks of about 200 KiB (lists of distinct pairs, a 4-word atom in every
 * 64th), every other chunk kept by a root and the rest garbage, so half of
 * home is garbage spread all through it; collected once by each collector,
 * each in a home built the same way.
 *
 * Adopt: a home of ADOPT-MiB (default 1024) built the same way and all of
 * it kept, its arena handed to noun_home_adopt (the arena is kept mapped
 * when the first home is freed, as a PMA's file stays mapped); then the
 * first copy-out, which rebuilds the dedup table by one scan of the
 * objects.
 *
 * Prints wall and CPU seconds of each; no targets (the PMA's load target
 * is for mapping; its bench is bench_snapshot).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/clock.h"
#include "interp/noun.h"

#define CHUNK_ELEMENTS 4096
#define MIB ((size_t)1 << 20)

static struct noun_region *region;
static uint64_t counter;

/* Chunks kept by the home's root enumerator. */
struct kept {
    noun *chunks;
    size_t count, capacity;
};

static void visit_kept(void *context, struct noun_collector *collector)
{
    struct kept *kept = context;
    noun_collector_visit_many(collector, kept->chunks, kept->count);
}

static void keep(struct kept *kept, noun chunk)
{
    if (kept->count == kept->capacity) {
        kept->capacity = kept->capacity ? 2 * kept->capacity : 1024;
        kept->chunks = realloc(kept->chunks, kept->capacity * sizeof *kept->chunks);
        if (!kept->chunks) {
            fputs("bench_home_compact: out of memory\n", stderr);
            exit(1);
        }
    }
    kept->chunks[kept->count++] = chunk;
}

/* One chunk copied out to home: a list of distinct pairs, a big atom in
 * every 64th. */
static noun chunk_out(struct noun_home *home)
{
    noun_region_reset(region);
    noun list = 0;
    for (size_t i = 0; i < CHUNK_ELEMENTS; i++) {
        counter++;
        noun element;
        if (i % 64 == 0) {
            uint64_t words[4] = { counter, counter * 3, counter * 5, counter | (UINT64_C(1) << 63) };
            element = noun_atom_from_words(region, words, 4);
        } else {
            element = noun_cell_new(region, counter, counter + 1);
        }
        list = noun_cell_new(region, element, list);
    }
    noun out = noun_home_copy_out(home, region, list);
    if (out == NOUN_NONE) {
        fputs("bench_home_compact: home is full\n", stderr);
        exit(1);
    }
    return out;
}

/* Fill home to `bytes`, keeping every chunk when `keep_every` is 1, every
 * other one when it is 2. */
static void fill(struct noun_home *home, struct kept *kept, size_t bytes, int keep_every)
{
    for (size_t i = 0; noun_home_used(home) < bytes; i++) {
        noun chunk = chunk_out(home);
        if (i % (size_t)keep_every == 0)
            keep(kept, chunk);
    }
    noun_region_reset(region);
}

static void collect_once(const char *what, struct noun_arena *arena, size_t bytes)
{
    struct noun_home *home = noun_home_new(arena);
    struct kept kept = { 0 };
    if (!home || !noun_home_root_enumerator_add(home, visit_kept, &kept)) {
        fputs("bench_home_compact: cannot make a home\n", stderr);
        exit(1);
    }
    counter = 0;
    fill(home, &kept, bytes, 2);
    size_t before = noun_home_used(home);
    double wall = clock_wall_seconds(), cpu = clock_process_cpu_seconds();
    if (!noun_home_collect(home)) {
        fputs("bench_home_compact: collection failed\n", stderr);
        exit(1);
    }
    wall = clock_wall_seconds() - wall;
    cpu = clock_process_cpu_seconds() - cpu;
    printf("  %-28s %7.3f s wall %7.3f s cpu  (%zu -> %zu MiB, %.0f MiB/s of home)\n", what, wall, cpu,
           before / MIB, noun_home_used(home) / MIB, (double)before / MIB / wall);
    noun_home_free(home);
    free(kept.chunks);
}

/* An arena release that leaves the mapping in place, so a second home can
 * adopt what the first one built (as a PMA file stays mapped). */
static void keep_mapped(struct noun_arena *arena) { (void)arena; }

static void adopt(size_t bytes)
{
    struct noun_arena *arena = noun_arena_memory_in_place(2 * bytes);
    if (!arena) {
        fputs("bench_home_compact: cannot reserve the arena\n", stderr);
        exit(1);
    }
    void (*release)(struct noun_arena *) = arena->release;
    arena->release = keep_mapped;
    struct noun_home *home = noun_home_new(arena);
    struct kept kept = { 0 };
    counter = 0;
    fill(home, &kept, bytes, 1);
    size_t used = noun_home_used(home);
    struct noun_dedup_stats stats;
    noun_home_dedup_stats(home, &stats);
    noun_home_free(home);
    arena->release = release;

    double wall = clock_wall_seconds();
    home = noun_home_adopt(arena, used);
    double adopt_wall = clock_wall_seconds() - wall;
    if (!home) {
        fputs("bench_home_compact: adopt failed\n", stderr);
        exit(1);
    }
    /* the first copy-out rebuilds the dedup table, and finds the chunk */
    noun first = kept.chunks[0];
    counter = 0;
    wall = clock_wall_seconds();
    double cpu = clock_process_cpu_seconds();
    noun again = chunk_out(home);
    wall = clock_wall_seconds() - wall;
    cpu = clock_process_cpu_seconds() - cpu;
    printf("  %-28s %7.3f ms\n", "adopt (nothing read)", adopt_wall * 1e3);
    printf("  %-28s %7.3f s wall %7.3f s cpu  (%zu MiB, %llu objects, %.1f M objects/s)%s\n",
           "first copy-out: table scan", wall, cpu, used / MIB, (unsigned long long)stats.entries,
           (double)stats.entries / wall / 1e6, again == first ? "" : "  NOT SHARED");
    noun_home_free(home);
    free(kept.chunks);
}

int main(int argc, char **argv)
{
    size_t collect_mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 384;
    size_t adopt_mib = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
    region = noun_region_new((size_t)1 << 30);
    if (!region) {
        fputs("bench_home_compact: cannot reserve scratch\n", stderr);
        return 1;
    }
    printf("home collection, %zu MiB with every other 200 KiB chunk garbage\n", collect_mib);
    collect_once("copying to a sibling", noun_arena_memory((size_t)8 << 30), collect_mib * MIB);
    collect_once("compacting in place", noun_arena_memory_in_place((size_t)8 << 30), collect_mib * MIB);
    printf("adopting a home of %zu MiB\n", adopt_mib);
    adopt(adopt_mib * MIB);
    noun_region_free(region);
    return 0;
}
