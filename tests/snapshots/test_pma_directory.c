/* Unit tests for snapshots/pma_directory: the B+ tree against a plain
 * array under thousands of random updates and truncations, written and
 * read back (copy-on-write leaves the old tree readable), and a damaged
 * node refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshots/pma_directory.h"

#define PAGES 6000

/* The model: file page (0: none) and checksum of each logical page. */
static uint64_t model_file[PAGES], model_sum[PAGES];
static uint64_t next_file_page = 2;

static uint64_t random_below(uint64_t bound) { return (uint64_t)random() % bound; }

static uint64_t allocate(void *context)
{
    (void)context;
    return next_file_page++;
}

static void set(struct pma_directory *directory, uint64_t logical, struct pma_page_list *released)
{
    struct pma_page_entry entry = { next_file_page++, random() };
    assert_true(pma_directory_set(directory, logical, &entry, released));
    model_file[logical] = entry.file_page;
    model_sum[logical] = entry.checksum;
}

struct comparison {
    uint64_t expected_next;
    uint64_t seen;
};

static void compare_entry(void *context, uint64_t logical, const struct pma_page_entry *entry)
{
    struct comparison *comparison = context;
    while (comparison->expected_next < PAGES && model_file[comparison->expected_next] == 0)
        comparison->expected_next++;
    assert_int_equal(logical, comparison->expected_next);
    assert_int_equal(entry->file_page, model_file[logical]);
    assert_int_equal(entry->checksum, model_sum[logical]);
    comparison->expected_next++;
    comparison->seen++;
}

static void compare(struct pma_directory *directory)
{
    uint64_t present = 0;
    for (uint64_t page = 0; page < PAGES; page++) {
        struct pma_page_entry entry;
        bool found = pma_directory_get(directory, page, &entry);
        assert_int_equal(found, model_file[page] != 0);
        if (found) {
            assert_int_equal(entry.file_page, model_file[page]);
            present++;
        }
    }
    assert_int_equal(pma_directory_count(directory), present);
    struct comparison comparison = { 0, 0 };
    pma_directory_each(directory, compare_entry, &comparison);
    assert_int_equal(comparison.seen, present);
}

static int temporary_file(void)
{
    char path[] = "/tmp/nocklab-test-pma-directory-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static struct pma_directory *write_and_read(struct pma_directory *directory, int fd, uint64_t *root)
{
    uint64_t written;
    char why[300];
    if (!pma_directory_write(directory, fd, allocate, NULL, root, &written, why, sizeof why))
        fail_msg("write: %s", why);
    struct pma_directory *read = pma_directory_read(fd, *root, pma_directory_depth(directory), 2, next_file_page,
                                                    NULL, NULL, NULL, why, sizeof why);
    if (!read)
        fail_msg("read: %s", why);
    assert_int_equal(pma_directory_nodes(read), pma_directory_nodes(directory));
    return read;
}

static void random_updates_match_an_array(void **state)
{
    srandom(12);
    memset(model_file, 0, sizeof model_file);
    struct pma_directory *directory = pma_directory_new();
    struct pma_page_list released = { 0 };
    /* Appends first, as an arena grows, then random rewrites. */
    for (uint64_t page = 0; page < PAGES / 2; page++)
        set(directory, page, &released);
    assert_int_equal(released.count, 0);
    compare(directory);
    assert_true(pma_directory_depth(directory) >= 2);
    /* Appending fills nodes: 3000 entries in 18 full leaves (169 each). */
    assert_int_equal(pma_directory_nodes(directory), 18 + 1);
    for (int i = 0; i < 20000; i++)
        set(directory, random_below(PAGES), &released);
    compare(directory);
    pma_page_list_free(&released);
    pma_directory_free(directory);
}

/* Which pages a tree uses, as a bitmap over next_file_page. */
static void mark_node(void *context, uint64_t page) { ((uint8_t *)context)[page / 8] |= (uint8_t)(1u << (page % 8)); }
static void mark_data(void *context, uint64_t logical, const struct pma_page_entry *entry)
{
    mark_node(context, entry->file_page);
}

static void copy_on_write_keeps_the_old_tree(void **state)
{
    srandom(7);
    memset(model_file, 0, sizeof model_file);
    next_file_page = 2;
    int fd = temporary_file();
    struct pma_directory *directory = pma_directory_new();
    struct pma_page_list released = { 0 };
    for (uint64_t page = 0; page < 4000; page++)
        set(directory, page, &released);
    uint64_t first_root;
    struct pma_directory *first = write_and_read(directory, fd, &first_root);
    compare(first);
    uint64_t saved_file[PAGES];
    memcpy(saved_file, model_file, sizeof saved_file);

    for (int round = 0; round < 30; round++) {
        released.count = 0;
        uint8_t *before = calloc(next_file_page / 8 + 1, 1);
        pma_directory_each_node(directory, mark_node, before);
        pma_directory_each(directory, mark_data, before);
        uint64_t before_limit = next_file_page;
        if (round % 5 == 4) {
            uint64_t cut = 1000 + random_below(PAGES - 1000);
            assert_true(pma_directory_truncate(directory, cut, &released));
            for (uint64_t page = cut; page < PAGES; page++)
                model_file[page] = 0;
        }
        /* Each page at most once per round, as a snapshot writes it. */
        int changes = 1 + (int)random_below(300);
        static bool chosen[PAGES];
        memset(chosen, 0, sizeof chosen);
        for (int i = 0; i < changes; i++) {
            uint64_t page = random_below(PAGES);
            if (!chosen[page])
                set(directory, page, &released);
            chosen[page] = true;
        }
        compare(directory);
        /* Everything released was in use before, and nothing twice. */
        for (size_t i = 0; i < released.count; i++) {
            uint64_t page = released.pages[i];
            assert_true(page < before_limit);
            assert_true(before[page / 8] >> (page % 8) & 1);
            before[page / 8] &= (uint8_t)~(1u << (page % 8));
        }
        free(before);
        uint64_t root;
        struct pma_directory *read = write_and_read(directory, fd, &root);
        compare(read);
        /* Go on with the tree as read: its leaves are read as changed. */
        pma_directory_free(directory);
        directory = read;
    }
    /* The first tree's pages were never overwritten: it reads as it was. */
    char why[300];
    struct pma_directory *again = pma_directory_read(fd, first_root, pma_directory_depth(first), 2, next_file_page,
                                                     NULL, NULL, NULL, why, sizeof why);
    assert_non_null(again);
    memcpy(model_file, saved_file, sizeof saved_file);
    struct pma_page_entry entry;
    for (uint64_t page = 0; page < 4000; page++) {
        assert_true(pma_directory_get(again, page, &entry));
        assert_int_equal(entry.file_page, saved_file[page]);
    }
    pma_directory_free(again);
    pma_directory_free(first);
    pma_directory_free(directory);
    pma_page_list_free(&released);
    close(fd);
}

static void truncation_to_nothing_and_back(void **state)
{
    memset(model_file, 0, sizeof model_file);
    struct pma_directory *directory = pma_directory_new();
    struct pma_page_list released = { 0 };
    for (uint64_t page = 0; page < 2000; page++)
        set(directory, page, &released);
    assert_true(pma_directory_truncate(directory, 0, &released));
    assert_int_equal(pma_directory_count(directory), 0);
    assert_int_equal(pma_directory_depth(directory), 0);
    assert_int_equal(pma_directory_nodes(directory), 0);
    memset(model_file, 0, sizeof model_file);
    for (uint64_t page = 0; page < 500; page++)
        set(directory, page, &released);
    compare(directory);
    assert_true(pma_directory_truncate(directory, 100, &released));
    for (uint64_t page = 100; page < 500; page++)
        model_file[page] = 0;
    compare(directory);
    assert_int_equal(pma_directory_depth(directory), 1);
    pma_page_list_free(&released);
    pma_directory_free(directory);
}

static void damaged_nodes_are_refused(void **state)
{
    memset(model_file, 0, sizeof model_file);
    next_file_page = 2;
    int fd = temporary_file();
    struct pma_directory *directory = pma_directory_new();
    struct pma_page_list released = { 0 };
    for (uint64_t page = 0; page < 1000; page++)
        set(directory, page, &released);
    uint64_t root;
    struct pma_directory *read = write_and_read(directory, fd, &root);
    pma_directory_free(read);
    char why[300];
    /* A flipped byte anywhere in the root node. */
    for (int offset = 0; offset < 4096; offset += 97) {
        uint8_t byte;
        assert_int_equal(pread(fd, &byte, 1, (off_t)(root * 4096 + offset)), 1);
        uint8_t flipped = byte ^ 0x10;
        assert_int_equal(pwrite(fd, &flipped, 1, (off_t)(root * 4096 + offset)), 1);
        read = pma_directory_read(fd, root, pma_directory_depth(directory), 2, next_file_page, NULL, NULL, NULL, why,
                                  sizeof why);
        assert_null(read);
        assert_non_null(strstr(why, "directory node"));
        assert_int_equal(pwrite(fd, &byte, 1, (off_t)(root * 4096 + offset)), 1);
    }
    /* Pages past the end, a wrong depth, a root that is a data page. */
    assert_null(pma_directory_read(fd, root, pma_directory_depth(directory), 2, root, NULL, NULL, NULL, why, sizeof why));
    assert_null(pma_directory_read(fd, root, pma_directory_depth(directory) + 1, 2, next_file_page, NULL, NULL, NULL, why,
                                   sizeof why));
    assert_null(pma_directory_read(fd, 2, 1, 2, next_file_page, NULL, NULL, NULL, why, sizeof why));
    assert_null(pma_directory_read(fd, root, 40, 2, next_file_page, NULL, NULL, NULL, why, sizeof why));
    pma_page_list_free(&released);
    pma_directory_free(directory);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_updates_match_an_array),
        cmocka_unit_test(copy_on_write_keeps_the_old_tree),
        cmocka_unit_test(truncation_to_nothing_and_back),
        cmocka_unit_test(damaged_nodes_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
