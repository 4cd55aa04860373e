/* evlog.c -- the event log in SQLite.
 *
 * On disk (format 1, PRAGMA user_version = 1), in DIRECTORY/events.sqlite:
 *
 *   boot    one row (id = 1): the kernel the store was booted with
 *     id INTEGER PRIMARY KEY CHECK (id = 1)
 *     name TEXT       the name given to :boot
 *     kernel BLOB     jam of the boot kernel (bytes of the jam atom, LSB first)
 *     mug INTEGER     its mug
 *     checksum INTEGER  XXH64 of `kernel`, seed 0, as a signed 64-bit integer
 *     created_at TEXT UTC, ISO 8601
 *
 *   events  one row per event, numbered from 1 without gaps
 *     number INTEGER PRIMARY KEY
 *     kind INTEGER    0: plain, `event` holds the jam of the event
 *                     1: spawn outcome, the event is the outcome of running
 *                        spawn effect `source_effect` (from 0) of event
 *                        `source_event`; replay recomputes it
 *     event BLOB      kind 0: jam bytes; kind 1: NULL
 *     source_event INTEGER, source_effect INTEGER   kind 1; NULL for kind 0
 *     mug INTEGER     mug of the kernel after this event
 *     checksum INTEGER  XXH64, seeded with the event number, of the jam
 *                     bytes (kind 0) or of the two source numbers as
 *                     little-endian 64-bit words (kind 1), stored signed
 *
 * Crash safety.  The database is in WAL mode with synchronous=FULL: a
 * COMMIT returns only after the WAL frames of the transaction are fsynced,
 * so a committed batch survives a process kill or a power cut, and a batch
 * cut short is rolled back by SQLite on the next open.  Events are applied
 * in memory first, appended, and their effects released only after the
 * commit, so no effect the world saw belongs to an event the log could
 * lose.  The checksum catches rows changed behind SQLite's back (a bad disk,
 * a stray UPDATE): SQLite checks its own pages, not what they say.
 *
 * The directory lock: an exclusive flock on DIRECTORY/lock, held from open
 * to close, so two processes never append to one log.
 */
#include "snapshots/evlog.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

/* An open log.  `uncommitted` counts rows appended in the open
 * transaction; `in_transaction` says whether one is open. */
struct evlog {
    char *directory;
    sqlite3 *database;
    int lock_fd;
    sqlite3_stmt *insert_event;
    bool in_transaction;
    uint64_t uncommitted;
    uint64_t last_event;
};

static void set_error(struct evlog_error *error, uint64_t event_number, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(struct evlog_error *error, uint64_t event_number, const char *format, ...)
{
    if (!error)
        return;
    error->event_number = event_number;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
}

static bool run_sql(struct evlog *log, const char *sql, struct evlog_error *error)
{
    char *message = NULL;
    if (sqlite3_exec(log->database, sql, NULL, NULL, &message) == SQLITE_OK)
        return true;
    set_error(error, 0, "store %s: %s", log->directory, message ? message : sqlite3_errmsg(log->database));
    sqlite3_free(message);
    return false;
}

static int64_t checksum_of(const void *bytes, size_t length, uint64_t seed)
{
    return (int64_t)XXH64(bytes, length, seed);
}

static int64_t outcome_checksum(uint64_t number, uint64_t source_event, uint64_t source_effect)
{
    uint8_t bytes[16];
    for (int i = 0; i < 8; i++) {
        bytes[i] = (uint8_t)(source_event >> (8 * i));
        bytes[8 + i] = (uint8_t)(source_effect >> (8 * i));
    }
    return checksum_of(bytes, sizeof bytes, number);
}

/* ---- opening ------------------------------------------------------------ */

static const char schema[] =
    "CREATE TABLE boot ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  name TEXT NOT NULL,"
    "  kernel BLOB NOT NULL,"
    "  mug INTEGER NOT NULL,"
    "  checksum INTEGER NOT NULL,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE events ("
    "  number INTEGER PRIMARY KEY,"
    "  kind INTEGER NOT NULL,"
    "  event BLOB,"
    "  source_event INTEGER,"
    "  source_effect INTEGER,"
    "  mug INTEGER NOT NULL,"
    "  checksum INTEGER NOT NULL);"
    "PRAGMA user_version = 1;";

static bool take_lock(struct evlog *log, struct evlog_error *error)
{
    size_t length = strlen(log->directory) + 8;
    char *path = malloc(length);
    if (!path) {
        set_error(error, 0, "out of memory");
        return false;
    }
    snprintf(path, length, "%s/lock", log->directory);
    log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (log->lock_fd < 0) {
        set_error(error, 0, "store %s: cannot open its lock file: %s", log->directory, strerror(errno));
        return false;
    }
    if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        set_error(error, 0, "store %s is in use by another nocklab process", log->directory);
        return false;
    }
    return true;
}

static int read_user_version(struct evlog *log)
{
    sqlite3_stmt *statement;
    int version = -1;
    if (sqlite3_prepare_v2(log->database, "PRAGMA user_version", -1, &statement, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(statement) == SQLITE_ROW)
        version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    return version;
}

/* Make the schema in a new database, or check an existing one's format. */
static bool prepare_schema(struct evlog *log, bool create, struct evlog_error *error)
{
    int version = read_user_version(log);
    if (version == EVLOG_FORMAT)
        return true;
    if (version < 0) {
        set_error(error, 0, "store %s: events.sqlite is not a readable SQLite database: %s", log->directory,
                  sqlite3_errmsg(log->database));
        return false;
    }
    if (version != 0) {
        set_error(error, 0, "store %s: events.sqlite has format %d; this nocklab reads format %d", log->directory,
                  version, EVLOG_FORMAT);
        return false;
    }
    if (!create) {
        set_error(error, 0, "store %s holds no event log", log->directory);
        return false;
    }
    return run_sql(log, "BEGIN IMMEDIATE", error) && run_sql(log, schema, error) && run_sql(log, "COMMIT", error);
}

static bool make_directory(const char *directory, bool create, struct evlog_error *error)
{
    struct stat status;
    if (stat(directory, &status) == 0) {
        if (S_ISDIR(status.st_mode))
            return true;
        set_error(error, 0, "store %s is not a directory", directory);
        return false;
    }
    if (!create) {
        set_error(error, 0, "no store at %s", directory);
        return false;
    }
    if (mkdir(directory, 0755) != 0) {
        set_error(error, 0, "cannot make the store directory %s: %s", directory, strerror(errno));
        return false;
    }
    return true;
}

static uint64_t query_last_event(struct evlog *log)
{
    sqlite3_stmt *statement;
    uint64_t last = 0;
    if (sqlite3_prepare_v2(log->database, "SELECT max(number) FROM events", -1, &statement, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(statement) == SQLITE_ROW)
        last = (uint64_t)sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return last;
}

struct evlog *evlog_open(const char *directory, bool create, struct evlog_error *error)
{
    if (!make_directory(directory, create, error))
        return NULL;
    struct evlog *log = calloc(1, sizeof *log);
    if (!log || !(log->directory = strdup(directory))) {
        free(log);
        set_error(error, 0, "out of memory");
        return NULL;
    }
    log->lock_fd = -1;
    if (!take_lock(log, error)) {
        evlog_close(log);
        return NULL;
    }
    size_t length = strlen(directory) + 16;
    char *path = malloc(length);
    if (!path) {
        set_error(error, 0, "out of memory");
        evlog_close(log);
        return NULL;
    }
    snprintf(path, length, "%s/events.sqlite", directory);
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int status = sqlite3_open_v2(path, &log->database, flags, NULL);
    free(path);
    if (status != SQLITE_OK) {
        set_error(error, 0, "store %s: cannot open events.sqlite: %s", directory,
                  log->database ? sqlite3_errmsg(log->database) : sqlite3_errstr(status));
        evlog_close(log);
        return NULL;
    }
    if (!run_sql(log, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", error) ||
        !prepare_schema(log, create, error) ||
        sqlite3_prepare_v2(log->database,
                           "INSERT INTO events (number, kind, event, source_event, source_effect, mug, checksum) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &log->insert_event, NULL) != SQLITE_OK) {
        if (error && !error->message[0])
            set_error(error, 0, "store %s: %s", directory, sqlite3_errmsg(log->database));
        evlog_close(log);
        return NULL;
    }
    log->last_event = query_last_event(log);
    return log;
}

void evlog_close(struct evlog *log)
{
    if (!log)
        return;
    if (log->in_transaction)
        evlog_rollback(log);
    sqlite3_finalize(log->insert_event);
    if (log->database)
        sqlite3_close(log->database);
    if (log->lock_fd >= 0)
        close(log->lock_fd); /* releases the flock */
    free(log->directory);
    free(log);
}

const char *evlog_directory(const struct evlog *log) { return log->directory; }
struct sqlite3 *evlog_database(struct evlog *log) { return log->database; }

/* ---- boot ---------------------------------------------------------------- */

bool evlog_has_boot(struct evlog *log)
{
    sqlite3_stmt *statement;
    bool has = false;
    if (sqlite3_prepare_v2(log->database, "SELECT 1 FROM boot WHERE id = 1", -1, &statement, NULL) != SQLITE_OK)
        return false;
    has = sqlite3_step(statement) == SQLITE_ROW;
    sqlite3_finalize(statement);
    return has;
}

bool evlog_write_boot(struct evlog *log, const char *name, const uint8_t *jam, size_t length, uint32_t mug,
                      struct evlog_error *error)
{
    if (evlog_has_boot(log)) {
        set_error(error, 0, "store %s already holds a booted kernel", log->directory);
        return false;
    }
    if (!evlog_begin(log, error))
        return false;
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(log->database,
                           "INSERT INTO boot (id, name, kernel, mug, checksum, created_at) "
                           "VALUES (1, ?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                           -1, &statement, NULL) != SQLITE_OK) {
        set_error(error, 0, "store %s: %s", log->directory, sqlite3_errmsg(log->database));
        return false;
    }
    sqlite3_bind_text(statement, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(statement, 2, jam, length, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 3, mug);
    sqlite3_bind_int64(statement, 4, checksum_of(jam, length, 0));
    bool ok = sqlite3_step(statement) == SQLITE_DONE;
    if (!ok)
        set_error(error, 0, "store %s: cannot record the boot kernel: %s", log->directory,
                  sqlite3_errmsg(log->database));
    sqlite3_finalize(statement);
    if (!ok) {
        evlog_rollback(log);
        return false;
    }
    return evlog_commit(log, error);
}

bool evlog_read_boot(struct evlog *log, char **name, uint8_t **jam, size_t *length, uint32_t *mug,
                     struct evlog_error *error)
{
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(log->database, "SELECT name, kernel, mug, checksum FROM boot WHERE id = 1", -1,
                           &statement, NULL) != SQLITE_OK) {
        set_error(error, 0, "store %s: %s", log->directory, sqlite3_errmsg(log->database));
        return false;
    }
    bool ok = false;
    if (sqlite3_step(statement) != SQLITE_ROW) {
        set_error(error, 0, "store %s has no booted kernel (:boot NAME KERNEL starts one)", log->directory);
    } else {
        const char *text = (const char *)sqlite3_column_text(statement, 0);
        const void *blob = sqlite3_column_blob(statement, 1);
        size_t size = (size_t)sqlite3_column_bytes(statement, 1);
        if (checksum_of(blob, size, 0) != sqlite3_column_int64(statement, 3)) {
            set_error(error, 0, "store %s: the boot kernel's bytes fail their checksum (the row was changed)",
                      log->directory);
        } else {
            *name = strdup(text ? text : "");
            *jam = malloc(size ? size : 1);
            if (!*name || !*jam) {
                free(*name);
                free(*jam);
                set_error(error, 0, "out of memory");
            } else {
                if (size)
                    memcpy(*jam, blob, size);
                *length = size;
                *mug = (uint32_t)sqlite3_column_int64(statement, 2);
                ok = true;
            }
        }
    }
    sqlite3_finalize(statement);
    return ok;
}

/* ---- appending ----------------------------------------------------------- */

bool evlog_begin(struct evlog *log, struct evlog_error *error)
{
    if (log->in_transaction)
        return true;
    if (!run_sql(log, "BEGIN IMMEDIATE", error))
        return false;
    log->in_transaction = true;
    log->uncommitted = 0;
    return true;
}

bool evlog_commit(struct evlog *log, struct evlog_error *error)
{
    if (!log->in_transaction)
        return true;
    if (!run_sql(log, "COMMIT", error)) {
        evlog_rollback(log);
        return false;
    }
    log->in_transaction = false;
    log->uncommitted = 0;
    return true;
}

void evlog_rollback(struct evlog *log)
{
    if (!log->in_transaction)
        return;
    sqlite3_exec(log->database, "ROLLBACK", NULL, NULL, NULL);
    log->in_transaction = false;
    log->uncommitted = 0;
    log->last_event = query_last_event(log);
}

uint64_t evlog_uncommitted(const struct evlog *log) { return log->uncommitted; }
uint64_t evlog_last_event(const struct evlog *log) { return log->last_event; }

bool evlog_append(struct evlog *log, const struct evlog_record *record, struct evlog_error *error)
{
    if (record->number != log->last_event + 1) {
        set_error(error, record->number, "store %s: event %llu appended after event %llu", log->directory,
                  (unsigned long long)record->number, (unsigned long long)log->last_event);
        return false;
    }
    if (!evlog_begin(log, error))
        return false;
    sqlite3_stmt *insert = log->insert_event;
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    sqlite3_bind_int64(insert, 1, (sqlite3_int64)record->number);
    sqlite3_bind_int(insert, 2, (int)record->kind);
    if (record->kind == EVLOG_PLAIN) {
        sqlite3_bind_blob64(insert, 3, record->event, record->event_length, SQLITE_STATIC);
        sqlite3_bind_int64(insert, 7, checksum_of(record->event, record->event_length, record->number));
    } else {
        sqlite3_bind_int64(insert, 4, (sqlite3_int64)record->source_event);
        sqlite3_bind_int64(insert, 5, record->source_effect);
        sqlite3_bind_int64(insert, 7, outcome_checksum(record->number, record->source_event, record->source_effect));
    }
    sqlite3_bind_int64(insert, 6, record->mug);
    bool ok = sqlite3_step(insert) == SQLITE_DONE;
    if (!ok)
        set_error(error, record->number, "store %s: cannot append event %llu: %s", log->directory,
                  (unsigned long long)record->number, sqlite3_errmsg(log->database));
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert); /* the blob was bound without a copy */
    if (ok) {
        log->last_event = record->number;
        log->uncommitted++;
    }
    return ok;
}

/* ---- reading ------------------------------------------------------------- */

/* A cursor over events [from, to].  `expected` is the number the next row
 * must have. */
struct evlog_cursor {
    struct evlog *log;
    sqlite3_stmt *select;
    uint64_t expected;
    uint64_t to;
};

struct evlog_cursor *evlog_cursor_open(struct evlog *log, uint64_t from, uint64_t to, struct evlog_error *error)
{
    struct evlog_cursor *cursor = calloc(1, sizeof *cursor);
    if (!cursor) {
        set_error(error, 0, "out of memory");
        return NULL;
    }
    if (from == 0)
        from = 1;
    cursor->log = log;
    cursor->expected = from;
    cursor->to = to ? to : UINT64_MAX;
    if (sqlite3_prepare_v2(log->database,
                           "SELECT number, kind, event, source_event, source_effect, mug, checksum FROM events "
                           "WHERE number >= ?1 AND number <= ?2 ORDER BY number",
                           -1, &cursor->select, NULL) != SQLITE_OK) {
        set_error(error, 0, "store %s: %s", log->directory, sqlite3_errmsg(log->database));
        free(cursor);
        return NULL;
    }
    sqlite3_bind_int64(cursor->select, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(cursor->select, 2, to ? (sqlite3_int64)to : INT64_MAX);
    return cursor;
}

void evlog_cursor_close(struct evlog_cursor *cursor)
{
    if (!cursor)
        return;
    sqlite3_finalize(cursor->select);
    free(cursor);
}

/* Check one row's contents against its checksum and kind rules. */
static enum evlog_step check_row(struct evlog_cursor *cursor, struct evlog_record *record, int64_t checksum,
                                 int event_type, struct evlog_error *error)
{
    const char *directory = cursor->log->directory;
    unsigned long long number = (unsigned long long)record->number;
    if (record->kind == EVLOG_PLAIN) {
        if (event_type != SQLITE_BLOB && event_type != SQLITE_NULL) {
            set_error(error, record->number, "store %s: event %llu: its event column is not a blob", directory,
                      number);
            return EVLOG_BAD;
        }
        if (checksum_of(record->event, record->event_length, record->number) != checksum) {
            set_error(error, record->number,
                      "store %s: event %llu: its stored bytes fail their checksum (the row was changed)", directory,
                      number);
            return EVLOG_BAD;
        }
        return EVLOG_ROW;
    }
    if (record->kind == EVLOG_SPAWN_OUTCOME) {
        if (record->source_event == 0 || record->source_event >= record->number) {
            set_error(error, record->number, "store %s: event %llu: names event %llu as its source, which is not before it",
                      directory, number, (unsigned long long)record->source_event);
            return EVLOG_BAD;
        }
        if (outcome_checksum(record->number, record->source_event, record->source_effect) != checksum) {
            set_error(error, record->number,
                      "store %s: event %llu: its source fails its checksum (the row was changed)", directory, number);
            return EVLOG_BAD;
        }
        return EVLOG_ROW;
    }
    set_error(error, record->number, "store %s: event %llu has unknown kind %d", directory, number,
              (int)record->kind);
    return EVLOG_BAD;
}

enum evlog_step evlog_cursor_next(struct evlog_cursor *cursor, struct evlog_record *record,
                                  struct evlog_error *error)
{
    sqlite3_stmt *select = cursor->select;
    int status = sqlite3_step(select);
    if (status == SQLITE_DONE)
        return EVLOG_END;
    if (status != SQLITE_ROW) {
        set_error(error, cursor->expected, "store %s: cannot read event %llu: %s", cursor->log->directory,
                  (unsigned long long)cursor->expected, sqlite3_errmsg(cursor->log->database));
        return EVLOG_BAD;
    }
    memset(record, 0, sizeof *record);
    record->number = (uint64_t)sqlite3_column_int64(select, 0);
    if (record->number != cursor->expected) {
        set_error(error, cursor->expected, "store %s: event %llu is missing from the log (the next is %llu)",
                  cursor->log->directory, (unsigned long long)cursor->expected,
                  (unsigned long long)record->number);
        return EVLOG_BAD;
    }
    record->kind = (enum evlog_kind)sqlite3_column_int(select, 1);
    int event_type = sqlite3_column_type(select, 2);
    record->event = sqlite3_column_blob(select, 2);
    record->event_length = (size_t)sqlite3_column_bytes(select, 2);
    record->source_event = (uint64_t)sqlite3_column_int64(select, 3);
    record->source_effect = (uint32_t)sqlite3_column_int64(select, 4);
    record->mug = (uint32_t)sqlite3_column_int64(select, 5);
    enum evlog_step step = check_row(cursor, record, sqlite3_column_int64(select, 6), event_type, error);
    if (step == EVLOG_ROW)
        cursor->expected++;
    return step;
}
