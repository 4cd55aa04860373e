/* Unit tests for snapshots/evlog: the schema and its version, appending in
 * batches, what survives a close without commit, reading back, and the
 * checks a cursor makes (checksums, gaps, kinds), the boot row, the lock. */
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
    run_sql("PRAGMA user_version = 1");
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
        cmocka_unit_test(test_one_process_at_a_time),
    };
    return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
