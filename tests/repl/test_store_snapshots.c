/* Snapshots through the store (repl/store.h, snapshots/snapshot.h): a
 * corruption matrix -- a byte flipped in each field of each jam file, each
 * file cut short or padded, a file from another store, a file ahead of the
 * log, both files bad -- after which opening the store falls back to the
 * other file or to the boot kernel, says which file and why, and ends with
 * exactly the state a replay of the log from scratch gives (mug and jam).
 * Also: pending spawns survive a snapshot, a failed save loses nothing,
 * and a store keeps one kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profiler/monitor.h"
#include "repl/store.h"
#include "tests/support/store_support.h"

#define HOME_BYTES ((size_t)1 << 30)

static char base[64];

static int make_base(void **state)
{
    return support_store_base("nocklab-test-snapshots", base, sizeof base) ? 0 : -1;
}

static int remove_base(void **state)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    return system(command) == 0 ? 0 : -1;
}

static void run(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void run(const char *format, ...)
{
    char command[600];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(command, sizeof command, format, arguments);
    va_end(arguments);
    if (system(command) != 0)
        fail_msg("command failed: %s", command);
}

static void make_store_named(const char *name, const char *sample, uint64_t events, uint64_t every, uint64_t seed)
{
    char directory[128];
    snprintf(directory, sizeof directory, "%s/%s", base, name);
    support_make_store(directory, sample, events, every, seed, SNAPSHOT_JAM);
}

static void rebuild_named(const char *name, bool ignore_snapshots, struct support_rebuilt *out)
{
    char directory[128];
    snprintf(directory, sizeof directory, "%s/%s", base, name);
    support_rebuild(directory, ignore_snapshots, out);
}

static void file_of(const char *store, const char *file, char *path, size_t size)
{
    snprintf(path, size, "%s/%s/%s", base, store, file);
}

static long file_size(const char *path)
{
    struct stat status;
    return stat(path, &status) == 0 ? (long)status.st_size : -1;
}

static void flip_byte(const char *store, const char *file, long offset)
{
    char path[160];
    file_of(store, file, path, sizeof path);
    FILE *stream = fopen(path, "r+b");
    assert_non_null(stream);
    assert_int_equal(fseek(stream, offset, SEEK_SET), 0);
    int byte = fgetc(stream);
    assert_int_not_equal(byte, EOF);
    assert_int_equal(fseek(stream, offset, SEEK_SET), 0);
    fputc(byte ^ 0x40, stream);
    fclose(stream);
}

static void cut_to(const char *store, const char *file, long length)
{
    char path[160];
    file_of(store, file, path, sizeof path);
    assert_int_equal(truncate(path, length), 0);
}

/* The reference: "kv" with 60 events, snapshots at 20, 40 and 60, so
 * snapshot-a.jam holds event 60 (the newest) and snapshot-b.jam event 40. */
static struct support_rebuilt reference;

static int make_reference(void **state)
{
    if (make_base(state) != 0)
        return -1;
    make_store_named("kv", "kv", 60, 20, 1);
    rebuild_named("kv", true, &reference);
    return 0;
}

static int drop_reference(void **state)
{
    free(reference.jam);
    return remove_base(state);
}

static void expect_fallback(const char *name, const char *skipped, uint64_t loaded_event)
{
    struct support_rebuilt got;
    rebuild_named(name, false, &got);
    support_assert_same_state(&got, &reference);
    char wanted[200];
    if (skipped) {
        snprintf(wanted, sizeof wanted, "snapshot %s/%s/%s skipped: ", base, name, skipped);
        if (!strstr(got.notices, wanted))
            fail_msg("expected a notice \"%s...\", heard:\n%s", wanted, got.notices);
    } else if (strstr(got.notices, "skipped")) {
        fail_msg("expected no file skipped, heard:\n%s", got.notices);
    }
    if (loaded_event) {
        snprintf(wanted, sizeof wanted, "loaded the snapshot of event %llu ", (unsigned long long)loaded_event);
        if (!strstr(got.notices, wanted))
            fail_msg("expected \"%s\", heard:\n%s", wanted, got.notices);
    } else if (strstr(got.notices, "loaded the snapshot")) {
        fail_msg("expected a replay from the boot kernel, heard:\n%s", got.notices);
    }
    free(got.jam);
}

static void test_intact_store_loads_newest(void **state)
{
    run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
    expect_fallback("case", NULL, 60);
}

/* Byte offsets of each field of the header (jamfile.c), and of the
 * payload's first, middle and last bytes (filled in per file). */
static const long header_fields[] = { 0, 8, 12, 16, 24, 28, 32, 40, 48, 63 };

static void test_flip_each_field_of_newest(void **state)
{
    char path[160];
    file_of("kv", "snapshot-a.jam", path, sizeof path);
    long size = file_size(path);
    long offsets[sizeof header_fields / sizeof *header_fields + 3];
    size_t count = 0;
    for (size_t i = 0; i < sizeof header_fields / sizeof *header_fields; i++)
        offsets[count++] = header_fields[i];
    offsets[count++] = 64;
    offsets[count++] = 64 + (size - 64) / 2;
    offsets[count++] = size - 1;
    for (size_t i = 0; i < count; i++) {
        run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
        flip_byte("case", "snapshot-a.jam", offsets[i]);
        expect_fallback("case", "snapshot-a.jam", 40);
    }
}

static void test_flip_older_file(void **state)
{
    /* the newest is whole, so it is used; the older one's header flaw is
     * still reported */
    run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
    flip_byte("case", "snapshot-b.jam", 0);
    expect_fallback("case", "snapshot-b.jam", 60);
    run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
    flip_byte("case", "snapshot-b.jam", 70);
    expect_fallback("case", NULL, 60);
}

static void test_truncate_and_pad(void **state)
{
    char path[160];
    file_of("kv", "snapshot-a.jam", path, sizeof path);
    long size = file_size(path);
    const long cuts[] = { 0, 5, 30, 64, 65, size / 2, size - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
        cut_to("case", "snapshot-a.jam", cuts[i]);
        expect_fallback("case", "snapshot-a.jam", 40);
    }
    run("rm -rf %s/case && cp -r %s/kv %s/case && printf x >>%s/case/snapshot-a.jam", base, base, base, base);
    expect_fallback("case", "snapshot-a.jam", 40);
}

static void test_both_bad_replays_from_boot(void **state)
{
    run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
    flip_byte("case", "snapshot-a.jam", 100);
    cut_to("case", "snapshot-b.jam", 10);
    expect_fallback("case", "snapshot-a.jam", 0);
    expect_fallback("case", "snapshot-b.jam", 0);
    run("rm -f %s/case/snapshot-a.jam %s/case/snapshot-b.jam", base, base);
    expect_fallback("case", NULL, 0);
}

static void test_foreign_and_ahead(void **state)
{
    /* a snapshot from a store with other events: its mug is not the log's */
    make_store_named("other", "kv", 60, 20, 2);
    run("rm -rf %s/case && cp -r %s/kv %s/case && cp %s/other/snapshot-a.jam %s/case/", base, base, base, base, base);
    expect_fallback("case", "snapshot-a.jam", 40);
    struct support_rebuilt got;
    rebuild_named("case", false, &got);
    assert_non_null(strstr(got.notices, "another store"));
    free(got.jam);

    /* a snapshot of event 60 in a store whose log ends at 40 */
    make_store_named("short", "kv", 40, 20, 1);
    run("cp %s/kv/snapshot-a.jam %s/short/snapshot-a.jam", base, base);
    rebuild_named("short", false, &got);
    assert_int_equal(got.event_number, 40);
    assert_non_null(strstr(got.notices, "the log ends at event 40"));
    assert_non_null(strstr(got.notices, "loaded the snapshot of event 40 "));
    free(got.jam);
}

static void test_same_event_in_both(void **state)
{
    run("rm -rf %s/case && cp -r %s/kv %s/case && cp %s/case/snapshot-a.jam %s/case/snapshot-b.jam", base, base, base,
        base, base);
    expect_fallback("case", NULL, 60);
}

/* jobs spawns computations whose outcomes are logged as later events: a
 * snapshot between a spawn and its outcome must carry the spawn. */
static void test_pending_spawns_survive(void **state)
{
    make_store_named("jobs", "jobs", 90, 7, 3);
    struct support_rebuilt scratch, snapshot;
    rebuild_named("jobs", true, &scratch);
    rebuild_named("jobs", false, &snapshot);
    support_assert_same_state(&snapshot, &scratch);
    assert_non_null(strstr(snapshot.notices, "loaded the snapshot of event "));
    free(snapshot.jam);
    /* replaying from each of the two snapshots reaches the same end */
    char directory[128];
    snprintf(directory, sizeof directory, "%s/jobs", base);
    struct noun_home *home = noun_home_new(noun_arena_memory(HOME_BYTES));
    struct store_error error = { 0 };
    struct store *store = store_open(directory, false, home, &error);
    assert_non_null(store);
    struct store_replay_result newest, older;
    assert_true(store_replay(store, 0, 0, NULL, &newest, &error));
    assert_true(newest.snapshot_event > 0);
    assert_true(store_replay(store, newest.snapshot_event, 0, NULL, &older, &error));
    assert_true(older.snapshot_event > 0 && older.snapshot_event < newest.snapshot_event);
    assert_int_equal(newest.mug, scratch.mug);
    assert_int_equal(older.mug, scratch.mug);
    store_close(store);
    noun_home_free(home);

    /* snapshots taken by a replay, one at each event k in turn: from each,
     * opening the store reaches the same state */
    make_store_named("jobs-bare", "jobs", 12, 0, 3);
    struct support_rebuilt bare;
    rebuild_named("jobs-bare", true, &bare);
    for (uint64_t k = 1; k <= bare.event_number; k++) {
        run("rm -rf %s/jobs-k && cp -r %s/jobs-bare %s/jobs-k", base, base, base);
        snprintf(directory, sizeof directory, "%s/jobs-k", base);
        home = noun_home_new(noun_arena_memory(HOME_BYTES));
        store = store_open(directory, false, home, &error);
        assert_non_null(store);
        struct store_snapshot_options every_event = { .every = 1 };
        struct store_replay_result replayed;
        if (!store_use_snapshots(store, &every_event, &error) || !store_replay(store, 0, k, NULL, &replayed, &error))
            fail_msg("replay to %llu: %s", (unsigned long long)k, error.message);
        store_close(store);
        noun_home_free(home);
        rebuild_named("jobs-k", false, &snapshot);
        char wanted[64];
        snprintf(wanted, sizeof wanted, "loaded the snapshot of event %llu ", (unsigned long long)k);
        if (!strstr(snapshot.notices, wanted))
            fail_msg("expected \"%s\", heard:\n%s", wanted, snapshot.notices);
        support_assert_same_state(&snapshot, &bare);
        free(snapshot.jam);
    }
    free(bare.jam);
    free(scratch.jam);
}

/* Open the store in base/case (its name goes in `directory`) in a home
 * of its own and rebuild its kernel. */
static struct store *open_case(char *directory, size_t size, struct noun_home **home)
{
    snprintf(directory, size, "%s/case", base);
    *home = noun_home_new(noun_arena_memory(HOME_BYTES));
    struct store_error error = { 0 };
    struct store *store = store_open(directory, false, *home, &error);
    assert_non_null(store);
    assert_true(store_recover(store, NULL, &error));
    return store;
}

/* A save that fails leaves both snapshots as they were. */
static void test_failed_save_loses_nothing(void **state)
{
    run("rm -rf %s/case && cp -r %s/kv %s/case && mkdir %s/case/snapshot-b.jam.tmp", base, base, base, base);
    char directory[128];
    struct noun_home *home;
    struct store *store = open_case(directory, sizeof directory, &home);
    struct store_error error = { 0 };
    struct snapshot_save_report report;
    assert_false(store_snapshot_save(store, &report, &error));
    assert_non_null(strstr(error.message, "snapshot-b.jam"));
    assert_non_null(strstr(error.message, "untouched"));
    struct snapshot_description description;
    assert_true(store_snapshot_describe(store, &description, &error));
    assert_true(description.files[0].valid && description.files[0].event_number == 60);
    assert_true(description.files[1].valid && description.files[1].event_number == 40);
    store_close(store);
    noun_home_free(home);
}

/* The panes' snapshot pane reads what the store reported: its kind when
 * the snapshots are chosen, then the last snapshot saved. */
static void test_saves_reach_the_panes(void **state)
{
    run("rm -rf %s/case && cp -r %s/kv %s/case", base, base, base);
    char directory[128];
    struct noun_home *home;
    struct store *store = open_case(directory, sizeof directory, &home);
    struct store_error error = { 0 };
    struct store_snapshot_options keep = { .kind = SNAPSHOT_NONE };
    assert_true(store_use_snapshots(store, &keep, &error));
    struct monitor_view *view = malloc(sizeof *view);
    assert_non_null(view);
    monitor_read(monitor_process(), view);
    assert_string_equal(view->snapshots.kind, "jam files");
    assert_int_equal(view->snapshots.taken, 0);
    struct snapshot_save_report report;
    assert_true(store_snapshot_save(store, &report, &error));
    monitor_read(monitor_process(), view);
    assert_int_equal(view->snapshots.taken, 1);
    assert_int_equal(view->snapshots.event, report.event_number);
    assert_int_equal(view->snapshots.bytes, report.bytes);
    assert_int_equal(view->snapshots.wall_ns, report.total_ns);
    assert_true(view->snapshots.wall_ns > 0);
    char a[160], b[160];
    snprintf(a, sizeof a, "%s/snapshot-a.jam", directory);
    snprintf(b, sizeof b, "%s/snapshot-b.jam", directory);
    assert_int_equal(view->snapshots.file_bytes, file_size(a) + file_size(b));
    assert_true(view->snapshots.file_bytes >= report.bytes);
    free(view);
    store_close(store);
    noun_home_free(home);
}

static void test_one_kind_per_store(void **state)
{
    char directory[128];
    snprintf(directory, sizeof directory, "%s/kv", base);
    struct noun_home *home = noun_home_new(noun_arena_memory(HOME_BYTES));
    struct store_error error = { 0 };
    struct store *store = store_open(directory, false, home, &error);
    assert_non_null(store);
    assert_int_equal(store_snapshot_kind(store), SNAPSHOT_JAM);
    struct store_snapshot_options pma = { .kind = SNAPSHOT_PMA };
    assert_false(store_use_snapshots(store, &pma, &error));
    assert_non_null(strstr(error.message, "keeps jam snapshots"));
    store_close(store);
    noun_home_free(home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact_store_loads_newest),
        cmocka_unit_test(test_flip_each_field_of_newest),
        cmocka_unit_test(test_flip_older_file),
        cmocka_unit_test(test_truncate_and_pad),
        cmocka_unit_test(test_both_bad_replays_from_boot),
        cmocka_unit_test(test_foreign_and_ahead),
        cmocka_unit_test(test_same_event_in_both),
        cmocka_unit_test(test_pending_spawns_survive),
        cmocka_unit_test(test_failed_save_loses_nothing),
        cmocka_unit_test(test_one_kind_per_store),
        cmocka_unit_test(test_saves_reach_the_panes),
    };
    return cmocka_run_group_tests(tests, make_reference, drop_reference);
}
