/* Unit tests for snapshots/evlog: the schema and its version, appending in
 * batches, what survives a close without commit, reading back, and the
 * checks a cursor makes (checksums, gaps, kinds, column types, stray rows,
 * events lost from the end), the boot row, the lock, foreign and old
 * databases, corruption. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshots/evlog.h"

static char directory[64];

static int make_directory(void **state)
{
    char base[] = "/tmp/nocklab-test-evlog-XXXXXX";
    if (!mkdtemp(base))
        return -1;
    snprintf(directory, sizeof directory, "%s/store", base);
    return 0;
}

static int remove_directory(void **state)
{
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%.*s'", (int)(strrchr(directory, '/') - directory), directory);
    return system(command) == 0 ? 0 : -1;
}

static struct evlog *open_log(bool create)
{
    struct evlog_error error = { 0 };
    struct evlog *log = evlog_open(directory, create, &error);
    if (!log)
        fail_msg("evlog_open: %s", error.message);
    return log;
}

/* Event i's bytes: i copies of the byte i (never empty). */
static void event_bytes(uint64_t i, uint8_t *bytes, size_t *length)
{
    *length = (size_t)(i % 50) + 1;
    memset(bytes, (int)(i & 0xff), *length);
}

static void append_plain(struct evlog *log, uint64_t number)
{
    uint8_t bytes[64];
    size_t length;
    event_bytes(number, bytes, &length);
    struct evlog_record record = { .number = number, .kind = EVLOG_PLAIN, .event = bytes, .event_length = length,
                                   .mug = (uint32_t)(number * 7919) & 0x7fffffff };
    struct evlog_error error = { 0 };
    if (!evlog_append(log, &record, &error))
        fail_msg("append %llu: %s", (unsigned long long)number, error.message);
}

/* Read every event; returns how many, failing on a bad row. */
static uint64_t read_all(struct evlog *log)
{
    struct evlog_error error = { 0 };
    struct evlog_cursor *cursor = evlog_cursor_open(log, 1, 0, &error);
    assert_non_null(cursor);
    struct evlog_record record;
    enum evlog_step step;
    uint64_t count = 0;
    while ((step = evlog_cursor_next(cursor, &record, &error)) == EVLOG_ROW) {
        count++;
        assert_int_equal(record.number, count);
        if (record.kind == EVLOG_PLAIN) {
            uint8_t bytes[64];
            size_t length;
            event_bytes(count, bytes, &length);
            assert_int_equal(record.event_length, length);
            assert_memory_equal(record.event, bytes, length);
            assert_int_equal(record.mug, (uint32_t)(count * 7919) & 0x7fffffff);
        }
    }
    if (step == EVLOG_BAD)
        fail_msg("bad row: %s", error.message);
    evlog_cursor_close(cursor);
    return count;
}

static void run_sql(const char *sql)
{
    char path[128];
    snprintf(path, sizeof path, "%s/events.sqlite", directory);
    sqlite3 *database;
    assert_int_equal(sqlite3_open(path, &database), SQLITE_OK);
    char *message = NULL;
    if (sqlite3_exec(database, sql, NULL, NULL, &message) != SQLITE_OK)
        fail_msg("%s: %s", sql, message);
    sqlite3_close(database);
}

/* The first bad row's event number and message. */
static uint64_t first_bad(struct evlog *log, char *message, size_t size)
{
    struct evlog_error error = { 0 };
    struct evlog_cursor *cursor = evlog_cursor_open(log, 1, 0, &error);
    struct evlog_record record;
    enum evlog_step step;
    while ((step = evlog_cursor_next(cursor, &record, &error)) == EVLOG_ROW)
        ;
    evlog_cursor_close(cursor);
    assert_int_equal(step, EVLOG_BAD);
    snprintf(message, size, "%s", error.message);
    return error.event_number;
}

static void test_schema_and_version(void **state)
{
    struct evlog *log = open_log(true);
    assert_int_equal(evlog_last_event(log), 0);
    assert_false(evlog_has_boot(log));
    sqlite3_stmt *select;
    assert_int_equal(sqlite3_prepare_v2(evlog_database(log), "PRAGMA user_version", -1, &select, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(select), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(select, 0), EVLOG_FORMAT);
    sqlite3_finalize(select);
    assert_int_equal(sqlite3_prepare_v2(evlog_database(log), "PRAGMA journal_mode", -1, &select, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(select), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(select, 0), "wal");
    sqlite3_finalize(select);
    evlog_close(log);

    run_sql("PRAGMA user_version = 99");
    struct evlog_error error = { 0 };
    assert_null(evlog_open(directory, false, &error));
    assert_non_null(strstr(error.message, "format 99"));
    run_sql("PRAGMA user_version = 2");
}

static void test_missing_store(void **state)
{
    struct evlog_error error = { 0 };
    assert_null(evlog_open("/tmp/nocklab-no-such-store-here", false, &error));
    assert_non_null(strstr(error.message, "no store"));
}

static void test_boot_row(void **state)
{
    struct evlog *log = open_log(true);
    const uint8_t jam[] = { 0x31, 0x12 };
    struct evlog_error error = { 0 };
    assert_true(evlog_write_boot(log, "kv", jam, sizeof jam, 0x1234, &error));
    assert_false(evlog_write_boot(log, "again", jam, sizeof jam, 0x1234, &error));
    assert_non_null(strstr(error.message, "already"));
    char *name;
    uint8_t *bytes;
    size_t length;
    uint32_t mug;
    assert_true(evlog_read_boot(log, &name, &bytes, &length, &mug, &error));
    assert_string_equal(name, "kv");
    assert_int_equal(length, sizeof jam);
    assert_memory_equal(bytes, jam, sizeof jam);
    assert_int_equal(mug, 0x1234);
    free(name);
    free(bytes);
    evlog_close(log);
}

static void test_append_commit_and_read_back(void **state)
{
    struct evlog *log = open_log(true);
    for (uint64_t i = 1; i <= 1000; i++) {
        append_plain(log, i);
        if (i % 100 == 0) {
            struct evlog_error error = { 0 };
            assert_true(evlog_commit(log, &error));
            assert_int_equal(evlog_uncommitted(log), 0);
        }
    }
    struct evlog_record outcome = { .number = 1001, .kind = EVLOG_SPAWN_OUTCOME, .source_event = 990,
                                    .source_effect = 3, .mug = 5 };
    struct evlog_error error = { 0 };
    assert_true(evlog_append(log, &outcome, &error));
    assert_int_equal(evlog_uncommitted(log), 1);
    assert_true(evlog_commit(log, &error));
    /* out of order is refused */
    outcome.number = 1005;
    assert_false(evlog_append(log, &outcome, &error));
    assert_int_equal(error.event_number, 1005);
    evlog_close(log);

    log = open_log(false);
    assert_int_equal(evlog_last_event(log), 1001);
    assert_int_equal(read_all(log), 1001);
    /* the outcome row reads back as a reference */
    struct evlog_cursor *cursor = evlog_cursor_open(log, 1001, 1001, &error);
    struct evlog_record record;
    assert_int_equal(evlog_cursor_next(cursor, &record, &error), EVLOG_ROW);
    assert_int_equal(record.kind, EVLOG_SPAWN_OUTCOME);
    assert_int_equal(record.source_event, 990);
    assert_int_equal(record.source_effect, 3);
    assert_int_equal(evlog_cursor_next(cursor, &record, &error), EVLOG_END);
    evlog_cursor_close(cursor);
    /* a range */
    cursor = evlog_cursor_open(log, 10, 20, &error);
    uint64_t count = 0;
    while (evlog_cursor_next(cursor, &record, &error) == EVLOG_ROW)
        assert_int_equal(record.number, 10 + count++);
    assert_int_equal(count, 11);
    evlog_cursor_close(cursor);
    evlog_close(log);
}

static void test_uncommitted_batch_is_dropped(void **state)
{
    struct evlog *log = open_log(false);
    uint64_t last = evlog_last_event(log);
    for (uint64_t i = last + 1; i <= last + 50; i++)
        append_plain(log, i);
    assert_int_equal(evlog_last_event(log), last + 50);
    evlog_close(log); /* no commit */
    log = open_log(false);
    assert_int_equal(evlog_last_event(log), last);
    evlog_rollback(log); /* nothing open: harmless */
    evlog_close(log);
}

static void test_changed_byte_is_caught(void **state)
{
    struct evlog *log = open_log(false);
    evlog_close(log);
    /* event 500 has 1 byte 0xf4; make it 0xf5 */
    run_sql("UPDATE events SET event = X'f5' WHERE number = 500");
    log = open_log(false);
    char message[300];
    assert_int_equal(first_bad(log, message, sizeof message), 500);
    assert_non_null(strstr(message, "event 500"));
    assert_non_null(strstr(message, "checksum"));
    evlog_close(log);
    run_sql("UPDATE events SET event = X'f4' WHERE number = 500");

    run_sql("UPDATE events SET source_effect = 4 WHERE number = 1001");
    log = open_log(false);
    assert_int_equal(first_bad(log, message, sizeof message), 1001);
    evlog_close(log);
    run_sql("UPDATE events SET source_effect = 3 WHERE number = 1001");

    log = open_log(false);
    assert_int_equal(read_all(log), 1001);
    evlog_close(log);
}

static void test_gap_and_kind_are_caught(void **state)
{
    run_sql("CREATE TABLE saved AS SELECT * FROM events WHERE number = 77; DELETE FROM events WHERE number = 77");
    struct evlog *log = open_log(false);
    char message[300];
    assert_int_equal(first_bad(log, message, sizeof message), 77);
    assert_non_null(strstr(message, "missing"));
    evlog_close(log);
    run_sql("INSERT INTO events SELECT * FROM saved; DROP TABLE saved; UPDATE events SET kind = 7 WHERE number = 3");
    log = open_log(false);
    assert_int_equal(first_bad(log, message, sizeof message), 3);
    assert_non_null(strstr(message, "kind"));
    evlog_close(log);
    run_sql("UPDATE events SET kind = 0 WHERE number = 3");
}


/* The first bad row when the log is read from `from` to the end. */
static enum evlog_step step_to_end(struct evlog *log, uint64_t from, struct evlog_error *error)
{
    struct evlog_cursor *cursor = evlog_cursor_open(log, from, 0, error);
    assert_non_null(cursor);
    struct evlog_record record;
    enum evlog_step step;
    while ((step = evlog_cursor_next(cursor, &record, error)) == EVLOG_ROW)
        ;
    evlog_cursor_close(cursor);
    return step;
}

static void test_lost_tail_is_named(void **state)
{
    /* rows deleted from the end: the log still reads as a whole log but
     * for events.head */
    run_sql("CREATE TABLE saved AS SELECT * FROM events WHERE number > 995; DELETE FROM events WHERE number > 995");
    struct evlog *log = open_log(false);
    assert_int_equal(evlog_committed_event(log), 1001);
    struct evlog_error error = { 0 };
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_int_equal(error.event_number, 996);
    assert_non_null(strstr(error.message, "event 996 is the first missing"));
    /* and nothing more may be appended to it */
    uint8_t byte = 1;
    struct evlog_record record = { .number = 996, .kind = EVLOG_PLAIN, .event = &byte, .event_length = 1 };
    assert_false(evlog_append(log, &record, &error));
    assert_non_null(strstr(error.message, "lost committed events"));
    evlog_close(log);
    /* other rows put in their place fail where they differ from what
     * was committed */
    run_sql("INSERT INTO events SELECT * FROM saved WHERE number < 1001;"
            "INSERT INTO events SELECT number, kind, event, source_event, source_effect + 1, mug, checksum "
            "FROM saved WHERE number = 1001");
    log = open_log(false);
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_int_equal(error.event_number, 1001);
    evlog_close(log);
    run_sql("DELETE FROM events WHERE number = 1001; INSERT INTO events SELECT * FROM saved WHERE number = 1001;"
            "DROP TABLE saved");
    log = open_log(false);
    assert_int_equal(read_all(log), 1001);
    evlog_close(log);
}

static void test_stray_rows_are_named(void **state)
{
    run_sql("INSERT INTO events (number, kind, event, mug, checksum) VALUES (-5, 0, X'01', 0, 0)");
    struct evlog *log = open_log(false);
    struct evlog_error error = { 0 };
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_non_null(strstr(error.message, "stray row numbered -5"));
    evlog_close(log);
    run_sql("UPDATE events SET number = 0 WHERE number = -5");
    log = open_log(false);
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_non_null(strstr(error.message, "stray row numbered 0"));
    evlog_close(log);
    run_sql("DELETE FROM events WHERE number = 0; INSERT INTO events (number, kind, event, mug, checksum) "
            "VALUES (5000, 0, X'01', 0, 0)");
    log = open_log(false);
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_int_equal(error.event_number, 1002);
    assert_non_null(strstr(error.message, "next row is 5000"));
    evlog_close(log);
    run_sql("DELETE FROM events WHERE number = 5000");
}

static void test_wrong_column_type_is_named(void **state)
{
    /* a column with INTEGER affinity keeps text that isn't a number */
    run_sql("CREATE TABLE saved AS SELECT mug FROM events WHERE number = 10;"
            "UPDATE events SET mug = printf('0x%x', mug) WHERE number = 10");
    struct evlog *log = open_log(false);
    struct evlog_error error = { 0 };
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_int_equal(error.event_number, 10);
    assert_non_null(strstr(error.message, "its mug column holds text, not an integer"));
    evlog_close(log);
    run_sql("UPDATE events SET mug = (SELECT mug FROM saved) WHERE number = 10; DROP TABLE saved;"
            "UPDATE events SET event = CAST(event AS TEXT) WHERE number = 11");
    log = open_log(false);
    assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
    assert_non_null(strstr(error.message, "its event column holds text, not a blob"));
    evlog_close(log);
    run_sql("UPDATE events SET event = CAST(event AS BLOB) WHERE number = 11");
    log = open_log(false);
    assert_int_equal(read_all(log), 1001);
    evlog_close(log);
}

/* A database at `path` made by `sql`, then opened as a store. */
static void expect_refused(const char *sql, const char *expected)
{
    char store[128], path[160];
    snprintf(store, sizeof store, "%s-foreign", directory);
    snprintf(path, sizeof path, "%s/events.sqlite", store);
    char command[300];
    snprintf(command, sizeof command, "rm -rf '%s' && mkdir -p '%s'", store, store);
    assert_int_equal(system(command), 0);
    sqlite3 *database;
    assert_int_equal(sqlite3_open(path, &database), SQLITE_OK);
    assert_int_equal(sqlite3_exec(database, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(database);
    struct evlog_error error = { 0 };
    assert_null(evlog_open(store, true, &error));
    if (!strstr(error.message, expected))
        fail_msg("expected \"%s\" in: %s", expected, error.message);
    /* nothing was added to it */
    assert_int_equal(sqlite3_open(path, &database), SQLITE_OK);
    sqlite3_stmt *select;
    assert_int_equal(sqlite3_prepare_v2(database, "SELECT count(*) FROM sqlite_master WHERE name = 'runs' OR "
                                        "name = 'boot' AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'old')",
                                        -1, &select, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(select), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(select, 0), 0);
    sqlite3_finalize(select);
    sqlite3_close(database);
}

static void test_foreign_and_old_databases_are_refused(void **state)
{
    expect_refused("CREATE TABLE notes (body TEXT); CREATE TABLE tags (name TEXT)",
                   "not a nocklab store (application_id 0, user_version 0, tables: notes, tags)");
    expect_refused("PRAGMA application_id = 42", "not a nocklab store (application_id 42");
    expect_refused("CREATE TABLE boot (id); CREATE TABLE events (number); CREATE TABLE old (x); "
                   "PRAGMA user_version = 1",
                   "older nocklab (format 1");
}

static void test_corruption_is_named(void **state)
{
    char store[128], path[160], command[400];
    snprintf(store, sizeof store, "%s-corrupt", directory);
    snprintf(command, sizeof command, "rm -rf '%s' && cp -r '%s' '%s'", store, directory, store);
    assert_int_equal(system(command), 0);
    /* scribble over the pages after the first: the tables' b-trees */
    snprintf(path, sizeof path, "%s/events.sqlite", store);
    FILE *file = fopen(path, "r+b");
    assert_non_null(file);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    for (long at = 4096; at < size; at += 4096) {
        fseek(file, at, SEEK_SET);
        fwrite("\xff\xff\xff\xff\x13\x37\x13\x37garbage garbage", 1, 24, file);
    }
    fclose(file);
    struct evlog_error error = { 0 };
    struct evlog *log = evlog_open(store, false, &error);
    if (log) {
        char *name;
        uint8_t *bytes;
        size_t length;
        uint32_t mug;
        if (evlog_read_boot(log, &name, &bytes, &length, &mug, &error)) {
            free(name);
            free(bytes);
            assert_int_equal(step_to_end(log, 1, &error), EVLOG_BAD);
        }
        evlog_close(log);
    }
    if (!strstr(error.message, "is damaged") || !strstr(error.message, store) || strstr(error.message, ":boot"))
        fail_msg("not named as corruption: %s", error.message);
}

static void test_one_process_at_a_time(void **state)
{
    struct evlog *log = open_log(false);
    struct evlog_error error = { 0 };
    /* flock locks belong to the open file, so a second open in this
     * process conflicts just as another process would */
    assert_null(evlog_open(directory, false, &error));
    assert_non_null(strstr(error.message, "in use"));
    evlog_close(log);
    log = open_log(false);
    evlog_close(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_and_version),
        cmocka_unit_test(test_missing_store),
        cmocka_unit_test(test_boot_row),
        cmocka_unit_test(test_append_commit_and_read_back),
        cmocka_unit_test(test_uncommitted_batch_is_dropped),
        cmocka_unit_test(test_changed_byte_is_caught),
        cmocka_unit_test(test_gap_and_kind_are_caught),
        cmocka_unit_test(test_lost_tail_is_named),
        cmocka_unit_test(test_stray_rows_are_named),
        cmocka_unit_test(test_wrong_column_type_is_named),
        cmocka_unit_test(test_foreign_and_old_databases_are_refused),
        cmocka_unit_test(test_corruption_is_named),
        cmocka_unit_test(test_one_process_at_a_time),
    };
    return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
