/* Unit tests for snapshots/pma: an arena saved and mapped back at its
 * address; dirty tracking (faults, counts, several threads); free pages
 * reused so a steady workload stops growing the file; an arena that
 * shrinks; a taken address refused; and the corruption matrix -- a flipped
 * byte in each metadata slot, a directory node and a data page, a
 * truncated file, both slots with one sequence -- each loading the other
 * snapshot or none, never a wrong one.
 *
 * The arena's contents are a pattern determined by the event number the
 * snapshot was saved with, so a loaded arena is checked whole against the
 * event its slot names. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "snapshots/pma.h"

#define PAGE 4096u
/* Each test uses its own address, so a leak in one can't break another. */
#define TEST_BASE ((uintptr_t)0x300000000000)
#define TEST_CAPACITY ((size_t)1 << 30)

static char directory[64];
static char path[128];
static char notices[4096];

static int make_directory(void **state)
{
    snprintf(directory, sizeof directory, "/tmp/nocklab-test-pma-XXXXXX");
    if (!mkdtemp(directory))
        return -1;
    snprintf(path, sizeof path, "%s/home.pma", directory);
    return 0;
}

static int remove_directory(void **state)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    return system(command) == 0 ? 0 : -1;
}

static void collect_notice(void *context, const char *text)
{
    size_t length = strlen(notices);
    snprintf(notices + length, sizeof notices - length, "%s\n", text);
}

static struct pma *open_pma(uintptr_t base, const struct pma_options *extra)
{
    struct pma_options options = { .base = base, .capacity = TEST_CAPACITY, .create = true };
    if (extra) {
        options.exactly_event = extra->exactly_event;
        options.verify_pages = extra->verify_pages;
    }
    struct pma_error error;
    notices[0] = 0;
    struct pma *pma = pma_open(path, &options, collect_notice, NULL, &error);
    if (!pma)
        fail_msg("pma_open: %s", error.message);
    return pma;
}

/* The word at index i of an arena saved at `event`: pages below `event %
 * 7` + 3 change with every event, the rest only with the event's tens. */
static uint64_t pattern(uint64_t event, uint64_t index)
{
    uint64_t page = index * 8 / PAGE;
    uint64_t epoch = page < 3 + event % 7 ? event : event / 10;
    return (index * 0x9e3779b97f4a7c15ull) ^ (epoch << 40) ^ page;
}

static void fill(struct pma *pma, uint64_t event, size_t bytes, bool only_changes)
{
    struct noun_arena *arena = pma_arena(pma);
    assert_true(arena->commit(arena, bytes));
    uint64_t *words = (uint64_t *)arena->base;
    for (size_t i = 0; i < bytes / 8; i++) {
        uint64_t value = pattern(event, i);
        if (!only_changes || words[i] != value)
            words[i] = value;
    }
}

static void check_contents(struct pma *pma, uint64_t event, size_t bytes)
{
    const uint64_t *words = (const uint64_t *)pma_arena(pma)->base;
    for (size_t i = 0; i < bytes / 8; i++)
        if (words[i] != pattern(event, i))
            fail_msg("word %zu of the arena of event %llu is wrong", i, (unsigned long long)event);
}

static void snapshot(struct pma *pma, uint64_t event, size_t bytes, struct pma_snapshot_report *report)
{
    char *base = pma_arena(pma)->base;
    struct pma_roots roots = {
        .used_bytes = bytes,
        .kernel = noun_from_cell((struct noun_cell *)(base + 64)),
        .pending = 7,
        .event_number = event,
        .mug = (uint32_t)event * 3,
    };
    struct pma_error error;
    struct pma_snapshot_report ignored;
    if (!pma_snapshot(pma, &roots, report ? report : &ignored, &error))
        fail_msg("pma_snapshot: %s", error.message);
}

/* Open, and check that what loaded is the snapshot of `event` (0: none). */
static struct pma *expect_load(uintptr_t base, uint64_t event, size_t bytes, const struct pma_options *extra)
{
    struct pma *pma = open_pma(base, extra);
    struct pma_roots roots;
    bool loaded = pma_loaded(pma, &roots);
    if (event == 0) {
        assert_false(loaded);
        return pma;
    }
    if (!loaded)
        fail_msg("no snapshot loaded (wanted event %llu): %s", (unsigned long long)event, notices);
    assert_int_equal(roots.event_number, event);
    assert_int_equal(roots.mug, (uint32_t)event * 3);
    assert_int_equal(roots.used_bytes, bytes);
    assert_int_equal(roots.kernel, noun_from_cell((struct noun_cell *)(pma_arena(pma)->base + 64)));
    check_contents(pma, event, bytes);
    return pma;
}

static void saved_arena_maps_back(void **state)
{
    size_t bytes = 300 * PAGE + 123 * 8;
    struct pma *pma = open_pma(TEST_BASE, NULL);
    assert_false(pma_loaded(pma, &(struct pma_roots){ 0 }));
    assert_ptr_equal(pma_arena(pma)->base, (char *)TEST_BASE);
    assert_null(pma_arena(pma)->sibling);
    fill(pma, 1, bytes, false);
    struct pma_snapshot_report report;
    snapshot(pma, 1, bytes, &report);
    assert_int_equal(report.pages_written, 301);
    assert_int_equal(report.sequence, 1);
    /* Unsaved changes are dropped by a close. */
    fill(pma, 2, bytes, true);
    pma_close(pma);
    pma = expect_load(TEST_BASE, 1, bytes, NULL);
    /* A second open of the same file in this process wants the same
     * address: refused, and the first is left alone. */
    struct pma_options options = { .capacity = TEST_CAPACITY };
    struct pma_error error;
    assert_null(pma_open(path, &options, NULL, NULL, &error));
    assert_non_null(strstr(error.message, "already in use"));
    check_contents(pma, 1, bytes);
    pma_close(pma);
}

static void dirty_pages_are_counted_and_only_they_written(void **state)
{
    size_t bytes = 200 * PAGE;
    struct pma *pma = open_pma(TEST_BASE + (1ull << 32), NULL);
    fill(pma, 10, bytes, false);
    snapshot(pma, 10, bytes, NULL);
    assert_int_equal(pma_dirty_pages(pma, bytes), 0);
    uint64_t faults = pma_write_faults(pma);
    /* Event 11 changes pages 0..4 (3 + 11 % 7 = 7 pages differ from the
     * tens epoch?  pages below 7 take the event, the rest event/10 = 1,
     * unchanged). */
    fill(pma, 11, bytes, true);
    assert_int_equal(pma_dirty_pages(pma, bytes), 7);
    assert_int_equal(pma_write_faults(pma) - faults, 7);
    /* Growing the arena: the new pages count as dirty without faults. */
    fill(pma, 11, bytes + 3 * PAGE, true);
    assert_int_equal(pma_dirty_pages(pma, bytes + 3 * PAGE), 10);
    struct pma_snapshot_report report;
    snapshot(pma, 11, bytes + 3 * PAGE, &report);
    assert_int_equal(report.pages_written, 10);
    assert_true(report.nodes_written >= 1 && report.nodes_written <= 3);
    pma_close(pma);
    pma = expect_load(TEST_BASE + (1ull << 32), 11, bytes + 3 * PAGE, NULL);
    pma_close(pma);
}

struct writer_thread {
    char *base;
    unsigned first;
};

static void *write_pages(void *context)
{
    struct writer_thread *writer = context;
    for (unsigned page = writer->first; page < 64; page += 2)
        ((volatile uint64_t *)(writer->base + page * PAGE))[page % 8] += 1;
    for (unsigned page = 0; page < 64; page++) /* the same pages as the other thread */
        __atomic_fetch_add((uint64_t *)(writer->base + page * PAGE + 2048), 1, __ATOMIC_RELAXED);
    return NULL;
}

static void threads_fault_at_once(void **state)
{
    size_t bytes = 64 * PAGE;
    struct pma *pma = open_pma(TEST_BASE + (2ull << 32), NULL);
    fill(pma, 5, bytes, false);
    snapshot(pma, 5, bytes, NULL);
    char *base = pma_arena(pma)->base;
    pthread_t threads[2];
    struct writer_thread writers[2] = { { base, 0 }, { base, 1 } };
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, write_pages, &writers[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(pma_dirty_pages(pma, bytes), 64);
    for (unsigned page = 0; page < 64; page++)
        assert_int_equal(*(uint64_t *)(base + page * PAGE + 2048), pattern(5, page * PAGE / 8 + 256) + 2);
    pma_close(pma);
}

static void steady_work_stops_growing_the_file(void **state)
{
    size_t bytes = 100 * PAGE;
    struct pma *pma = open_pma(TEST_BASE + (3ull << 32), NULL);
    fill(pma, 1, bytes, false);
    snapshot(pma, 1, bytes, NULL);
    struct stat status;
    off_t sizes[40];
    for (uint64_t event = 2; event < 42; event++) {
        fill(pma, event, bytes, true);
        snapshot(pma, event, bytes, NULL);
        assert_int_equal(stat(path, &status), 0);
        sizes[event - 2] = status.st_size;
    }
    /* Once the free pages circulate, the size is steady. */
    assert_int_equal(sizes[39], sizes[20]);
    struct pma_stats stats;
    pma_stats(pma, &stats);
    assert_true(stats.pages_free + stats.pages_held > 0);
    assert_int_equal(stats.pages_in_use, 100 + stats.directory_nodes);
    pma_close(pma);
    pma = expect_load(TEST_BASE + (3ull << 32), 41, bytes, NULL);
    pma_close(pma);
}

static void a_shrinking_arena_is_cut(void **state)
{
    uintptr_t base = TEST_BASE + (4ull << 32);
    struct pma *pma = open_pma(base, NULL);
    fill(pma, 3, 900 * PAGE, false);
    snapshot(pma, 3, 900 * PAGE, NULL);
    /* A collection compacted home to 50 pages. */
    fill(pma, 4, 50 * PAGE, true);
    snapshot(pma, 4, 50 * PAGE, NULL);
    struct pma_stats stats;
    pma_stats(pma, &stats);
    assert_int_equal(stats.directory_depth, 1);
    /* Past the end is plain memory again: writing there faults nothing. */
    uint64_t faults = pma_write_faults(pma);
    memset(pma_arena(pma)->base + 60 * PAGE, 1, 10 * PAGE);
    assert_int_equal(pma_write_faults(pma), faults);
    fill(pma, 5, 70 * PAGE, true);
    snapshot(pma, 5, 70 * PAGE, NULL);
    pma_close(pma);
    pma = expect_load(base, 5, 70 * PAGE, NULL);
    pma_close(pma);
    /* The older slot is event 4's, loadable by name. */
    struct pma_options older = { .exactly_event = 4 };
    pma = expect_load(base, 4, 50 * PAGE, &older);
    pma_close(pma);
}

static void a_new_file_moves_past_a_taken_address(void **state)
{
    /* Two new files, neither with a base of its own: the second goes
     * elsewhere, and keeps that address when reopened. */
    struct pma_options options = { .capacity = TEST_CAPACITY, .create = true };
    struct pma_error error;
    char other[200];
    snprintf(other, sizeof other, "%s/other.pma", directory);
    struct pma *first = pma_open(path, &options, NULL, NULL, &error);
    assert_non_null(first);
    struct pma *second = pma_open(other, &options, NULL, NULL, &error);
    assert_non_null(second);
    char *second_base = pma_arena(second)->base;
    assert_ptr_equal(pma_arena(first)->base, (char *)PMA_DEFAULT_BASE);
    assert_true(second_base != pma_arena(first)->base);
    struct noun_arena *arena = pma_arena(second);
    assert_true(arena->commit(arena, PAGE));
    memset(arena->base, 7, PAGE);
    struct pma_roots roots = { .used_bytes = PAGE, .kernel = 1, .event_number = 1 };
    struct pma_snapshot_report report;
    assert_true(pma_snapshot(second, &roots, &report, &error));
    pma_close(second);
    pma_close(first);
    second = pma_open(other, &options, NULL, NULL, &error);
    assert_non_null(second);
    assert_ptr_equal(pma_arena(second)->base, second_base);
    assert_int_equal((uint8_t)pma_arena(second)->base[100], 7);
    pma_close(second);
}

static void a_taken_address_is_refused(void **state)
{
    uintptr_t base = TEST_BASE + (5ull << 32);
    struct pma *pma = open_pma(base, NULL);
    fill(pma, 1, 10 * PAGE, false);
    snapshot(pma, 1, 10 * PAGE, NULL);
    pma_close(pma);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);
    void *squatter = mmap((char *)base + 5 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    assert_true(squatter != MAP_FAILED);
    struct pma_options options = { .capacity = TEST_CAPACITY };
    struct pma_error error;
    assert_null(pma_open(path, &options, NULL, NULL, &error));
    assert_non_null(strstr(error.message, "0x300500000000"));
    assert_non_null(strstr(error.message, "already in use"));
    munmap(squatter, PAGE);
    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(after.st_mtime, before.st_mtime);
    pma = expect_load(base, 1, 10 * PAGE, NULL);
    pma_close(pma);
}

/* ---- the corruption matrix ------------------------------------------------- */

static void flip(off_t offset)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, offset), 1);
    byte ^= 0x41;
    assert_int_equal(pwrite(fd, &byte, 1, offset), 1);
    close(fd);
}

static uint64_t slot_field(int slot, int offset)
{
    int fd = open(path, O_RDONLY);
    uint64_t value = 0;
    assert_int_equal(pread(fd, &value, 8, (off_t)slot * PAGE + offset), 8);
    close(fd);
    return value;
}

static void copy_file(const char *from, const char *to)
{
    char command[400];
    snprintf(command, sizeof command, "cp '%s' '%s'", from, to);
    assert_int_equal(system(command), 0);
}

/* Two snapshots, events 20 (slot A) and 21 (slot B), kept as a pristine
 * copy to restore before each damage. */
static uintptr_t matrix_base = TEST_BASE + (6ull << 32);
static const size_t matrix_bytes = 400 * PAGE;

static void make_two_snapshots(char *pristine, size_t size)
{
    struct pma *pma = open_pma(matrix_base, NULL);
    fill(pma, 20, matrix_bytes, false);
    snapshot(pma, 20, matrix_bytes, NULL);
    fill(pma, 21, matrix_bytes, true);
    snapshot(pma, 21, matrix_bytes, NULL);
    pma_close(pma);
    snprintf(pristine, size, "%s.pristine", path);
    copy_file(path, pristine);
}

struct damage {
    const char *name;
    off_t offset;            /* byte to flip; -1: none */
    off_t truncate_to;       /* -1: none */
    bool verify_pages;
    uint64_t expect_event;   /* what must load: 0 for nothing */
    const char *expect_notice;
};

static void corruption_matrix(void **state)
{
    char pristine[200];
    make_two_snapshots(pristine, sizeof pristine);
    uint64_t root_b = slot_field(1, 72);
    /* A page only event 21 wrote: logical page 0 differs between them. */
    uint64_t depth_b = slot_field(1, 68) & 0xffffffff;
    assert_true(depth_b >= 1);
    int fd = open(path, O_RDONLY);
    struct stat status;
    fstat(fd, &status);
    close(fd);
    /* Find event 21's copy of logical page 0 through its directory: the
     * leaf's first entry (descend the first child of each branch). */
    uint64_t node = root_b;
    fd = open(path, O_RDONLY);
    for (uint64_t level = depth_b; level > 1; level--)
        assert_int_equal(pread(fd, &node, 8, (off_t)(node * PAGE + 24 + 8)), 8);
    uint64_t data_page_b;
    assert_int_equal(pread(fd, &data_page_b, 8, (off_t)(node * PAGE + 24 + 8)), 8);
    close(fd);

    const struct damage damages[] = {
        { "slot B's sequence", 1 * PAGE + 16, -1, false, 20, "slot B skipped: its checksum" },
        { "slot B's checksum", 1 * PAGE + 104, -1, false, 20, "slot B skipped" },
        { "slot B's magic", 1 * PAGE + 0, -1, false, 20, "bad magic" },
        { "slot A's roots", 0 * PAGE + 40, -1, false, 21, "slot A skipped" },
        { "slot B's directory root", (off_t)(root_b * PAGE + 30), -1, false, 20, "directory is damaged" },
        { "slot B's leaf", (off_t)(node * PAGE + 100), -1, false, 20, "directory" },
        { "a data page of slot B", (off_t)(data_page_b * PAGE + 9), -1, true, 20, "fails its checksum" },
        { "the file cut to one page", -1, PAGE, false, 0, "truncated" },
        { "the file cut to its slots", -1, 2 * PAGE, false, 0, "truncated" },
        { "the file cut by one page", -1, status.st_size - PAGE, false, 0, NULL },
    };
    for (size_t i = 0; i < sizeof damages / sizeof damages[0]; i++) {
        const struct damage *damage = &damages[i];
        copy_file(pristine, path);
        if (damage->offset >= 0)
            flip(damage->offset);
        if (damage->truncate_to >= 0)
            assert_int_equal(truncate(path, damage->truncate_to), 0);
        struct pma_options extra = { .verify_pages = damage->verify_pages };
        struct pma *pma = open_pma(matrix_base, &extra);
        struct pma_roots roots;
        bool loaded = pma_loaded(pma, &roots);
        if (damage->expect_event == 0 && damage->expect_notice == NULL) {
            /* Cut by a page: whichever snapshot still checks out, whole. */
            if (loaded)
                check_contents(pma, roots.event_number, matrix_bytes);
        } else if (damage->expect_event == 0) {
            if (loaded)
                fail_msg("%s: loaded event %llu", damage->name, (unsigned long long)roots.event_number);
        } else {
            if (!loaded)
                fail_msg("%s: nothing loaded: %s", damage->name, notices);
            assert_int_equal(roots.event_number, damage->expect_event);
            check_contents(pma, roots.event_number, matrix_bytes);
        }
        if (damage->expect_notice && !strstr(notices, damage->expect_notice))
            fail_msg("%s: notices lack \"%s\": %s", damage->name, damage->expect_notice, notices);
        /* A snapshot after any damage is good and loads. */
        fill(pma, 30, matrix_bytes, loaded);
        snapshot(pma, 30, matrix_bytes, NULL);
        pma_close(pma);
        pma = expect_load(matrix_base, 30, matrix_bytes, NULL);
        pma_close(pma);
    }

    /* Both slots claiming one sequence (slot B given slot A's, its
     * checksum redone): reported, and what loads is whole. */
    copy_file(pristine, path);
    fd = open(path, O_RDWR);
    uint8_t slot_a[PAGE], slot_b[PAGE];
    assert_int_equal(pread(fd, slot_a, PAGE, 0), PAGE);
    assert_int_equal(pread(fd, slot_b, PAGE, PAGE), PAGE);
    memcpy(slot_b + 16, slot_a + 16, 8);
    uint64_t checksum = XXH3_64bits(slot_b, 104);
    memcpy(slot_b + 104, &checksum, 8);
    assert_int_equal(pwrite(fd, slot_b, PAGE, PAGE), PAGE);
    close(fd);
    struct pma *pma = open_pma(matrix_base, NULL);
    assert_non_null(strstr(notices, "both metadata slots claim sequence"));
    struct pma_roots roots;
    assert_true(pma_loaded(pma, &roots));
    assert_int_equal(roots.event_number, 21);
    check_contents(pma, 21, matrix_bytes);
    fill(pma, 31, matrix_bytes, true);
    snapshot(pma, 31, matrix_bytes, NULL);
    pma_close(pma);
    pma = expect_load(matrix_base, 31, matrix_bytes, NULL);
    pma_close(pma);
    unlink(pristine);
}

static void inspect_reads_without_mapping(void **state)
{
    char pristine[200];
    make_two_snapshots(pristine, sizeof pristine);
    struct pma_slot_info slots[2];
    uint64_t file_bytes;
    struct pma_error error;
    assert_true(pma_inspect(path, true, slots, &file_bytes, &error));
    assert_true(slots[0].valid && slots[1].valid);
    assert_int_equal(slots[0].event_number, 20);
    assert_int_equal(slots[1].event_number, 21);
    assert_int_equal(slots[1].sequence, slots[0].sequence + 1);
    assert_int_equal(slots[1].base, matrix_base);
    flip(2 * PAGE + 5);
    assert_true(pma_inspect(path, true, slots, &file_bytes, &error));
    assert_false(slots[0].valid && slots[1].valid);
    unlink(pristine);
}

static void a_big_event_commits(void **state)
{
    /* 32 MiB changed in one go: no limit on pages per snapshot. */
    uintptr_t base = TEST_BASE + (7ull << 32);
    size_t bytes = (size_t)32 << 20;
    struct pma *pma = open_pma(base, NULL);
    fill(pma, 40, bytes, false);
    snapshot(pma, 40, bytes, NULL);
    memset(pma_arena(pma)->base, 0, bytes);
    fill(pma, 41, bytes, false);
    assert_int_equal(pma_dirty_pages(pma, bytes), bytes / PAGE);
    struct pma_snapshot_report report;
    snapshot(pma, 41, bytes, &report);
    assert_int_equal(report.pages_written, bytes / PAGE);
    pma_close(pma);
    pma = expect_load(base, 41, bytes, NULL);
    pma_close(pma);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(saved_arena_maps_back, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(dirty_pages_are_counted_and_only_they_written, make_directory,
                                        remove_directory),
        cmocka_unit_test_setup_teardown(threads_fault_at_once, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(steady_work_stops_growing_the_file, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(a_shrinking_arena_is_cut, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(a_taken_address_is_refused, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(a_new_file_moves_past_a_taken_address, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(corruption_matrix, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(inspect_reads_without_mapping, make_directory, remove_directory),
        cmocka_unit_test_setup_teardown(a_big_event_commits, make_directory, remove_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
