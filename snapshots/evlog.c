/* evlog.c -- the event log in SQLite.
 *
 * On disk (format 2, PRAGMA user_version = 2, PRAGMA application_id =
 * 0x4e4f434b, "NOCK"), in DIRECTORY/events.sqlite:
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
 *     checksum INTEGER  the chained checksum (below), stored signed
 *
 * The chained checksum of event N is XXH64, seed 0, of 32 bytes, each
 * field a little-endian word:
 *
 *     number (8) | kind (4) | mug (4) | XXH64(contents, seed 0) (8) | checksum of event N-1 (8)
 *
 * where the contents are the jam bytes (kind 0) or source_event then
 * source_effect as two 64-bit words (kind 1), and the checksum "of event
 * 0" is 0.  Chaining makes every row vouch for all the rows before it: a
 * row changed, moved or dropped breaks the checksum of the next.
 *
 * DIRECTORY/events.head says how far the log was committed, where losing
 * the end of events.sqlite (deleted rows, a deleted -wal file) can't take
 * it along.  Two slots of 32 bytes at offsets 0 and 32, written in turn:
 *
 *     "nockhead" (8) | event number (8) | its chained checksum (8) | XXH64 of the first 24 bytes (8)
 *
 * The valid slot with the larger event number counts; a torn write spoils
 * at most the slot being written, and the other still holds the commit
 * before.  A store whose log ends before that event, or whose row there
 * has another checksum, has lost committed events, and the cursor says so.
 *
 * Crash safety.  The database is in WAL mode with synchronous=FULL: a
 * COMMIT returns only after the WAL frames of the transaction are fsynced,
 * so a committed batch survives a process kill or a power cut, and a batch
 * cut short is rolled back by SQLite on the next open.  Then evlog_commit
 * writes the head slot and fdatasyncs it, before it returns: the head never
 * names an event the log doesn't hold durably, and every event whose
 * effects were released is named by it.  A crash between the two leaves
 * the head one batch behind, which is only a weaker proof, never a false
 * alarm.  Events are applied in memory first, appended, and their effects
 * released only after the commit, so no effect the world saw belongs to an
 * event the log could lose without a word.
 *
 * The directory lock: an exclusive flock on DIRECTORY/lock, held from open
 * to close, so two processes never append to one log.  A store on a
 * read-only file system (or whose lock file can't be opened for writing)
 * opens read-only: a shared lock if the lock file exists, SQLite opened
 * read-only, and every write refused.
 */
#include "snapshots/evlog.h"
#include "snapshots/atomic_file.h"

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

#define EVLOG_APPLICATION_ID 0x4e4f434b /* "NOCK" */
#define HEAD_MAGIC "nockhead"
#define HEAD_SLOT_BYTES 32

/* An open log.  `uncommitted` counts rows appended in the open
 * transaction; `in_transaction` says whether one is open.  `last_checksum`
 * is the chained checksum of `last_event` (0 for none).  `head_*` is what
 * events.head says was committed, `head_slot` the slot to write next.
 * `damage`, when set, is why nothing may be appended (the log has lost
 * committed events); `read_only` says why when it was opened read-only. */
struct evlog {
    char *directory;
    sqlite3 *database;
    int lock_fd;
    int head_fd;
    sqlite3_stmt *insert_event;
    bool in_transaction;
    bool has_boot;
    uint64_t uncommitted;
    uint64_t last_event;
    uint64_t last_checksum;
    uint64_t head_event;
    uint64_t head_checksum;
    int head_slot;
    char *damage;
    char *read_only;
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

/* SQLite failed while doing `what`: corruption is said to be corruption
 * (and no command is suggested: anything that writes could make it
 * worse); anything else is passed on as SQLite words it. */
static void database_failure(struct evlog *log, struct evlog_error *error, uint64_t event_number, const char *what)
{
    int code = sqlite3_errcode(log->database) & 0xff;
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB)
        set_error(error, event_number,
                  "store %s is damaged: SQLite finds its events.sqlite corrupt (%s) while %s; nothing was written "
                  "to it -- copy the store aside before any repair",
                  log->directory, sqlite3_errmsg(log->database), what);
    else
        set_error(error, event_number, "store %s: %s failed: %s", log->directory, what,
                  sqlite3_errmsg(log->database));
}

static bool run_sql(struct evlog *log, const char *sql, const char *what, struct evlog_error *error)
{
    if (sqlite3_exec(log->database, sql, NULL, NULL, NULL) == SQLITE_OK)
        return true;
    database_failure(log, error, 0, what);
    return false;
}

static void put_word(uint8_t *bytes, uint64_t value, int width)
{
    for (int i = 0; i < width; i++)
        bytes[i] = (uint8_t)(value >> (8 * i));
}

static uint64_t get_word(const uint8_t *bytes)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = value << 8 | bytes[i];
    return value;
}

/* The chained checksum of a row (see the top of the file). */
static uint64_t chained_checksum(const struct evlog_record *record, uint64_t previous)
{
    uint64_t contents;
    if (record->kind == EVLOG_SPAWN_OUTCOME) {
        uint8_t sources[16];
        put_word(sources, record->source_event, 8);
        put_word(sources + 8, record->source_effect, 8);
        contents = XXH64(sources, sizeof sources, 0);
    } else {
        contents = XXH64(record->event, record->event_length, 0);
    }
    uint8_t bytes[32];
    put_word(bytes, record->number, 8);
    put_word(bytes + 8, (uint64_t)record->kind, 4);
    put_word(bytes + 12, record->mug, 4);
    put_word(bytes + 16, contents, 8);
    put_word(bytes + 24, previous, 8);
    return XXH64(bytes, sizeof bytes, 0);
}

static char *path_in(const char *directory, const char *name)
{
    size_t length = strlen(directory) + strlen(name) + 2;
    char *path = malloc(length);
    if (path)
        snprintf(path, length, "%s/%s", directory, name);
    return path;
}

/* ---- the head file --------------------------------------------------------- */

/* Read events.head into log->head_*; a missing or unreadable file is an
 * error unless `may_be_new` (a store being made). */
static bool read_head(struct evlog *log, bool may_be_new, struct evlog_error *error)
{
    uint8_t slots[2 * HEAD_SLOT_BYTES];
    ssize_t length = pread(log->head_fd, slots, sizeof slots, 0);
    if (length < 0) {
        set_error(error, 0, "store %s: cannot read events.head: %s", log->directory, strerror(errno));
        return false;
    }
    bool found = false;
    for (int slot = 0; slot < 2; slot++) {
        const uint8_t *bytes = slots + slot * HEAD_SLOT_BYTES;
        if (length < (slot + 1) * HEAD_SLOT_BYTES || memcmp(bytes, HEAD_MAGIC, 8) != 0 ||
            XXH64(bytes, 24, 0) != get_word(bytes + 24))
            continue;
        uint64_t event = get_word(bytes + 8);
        if (!found || event > log->head_event) {
            log->head_event = event;
            log->head_checksum = get_word(bytes + 16);
            log->head_slot = 1 - slot;
        }
        found = true;
    }
    if (!found && !(may_be_new && length == 0)) {
        set_error(error, 0,
                  "store %s: events.head holds no valid record, so nothing proves how far the log was committed",
                  log->directory);
        return false;
    }
    return true;
}

/* Record that events through `event` (chained checksum `checksum`) are
 * committed: write the older slot, and make it durable. */
static bool write_head(struct evlog *log, uint64_t event, uint64_t checksum, struct evlog_error *error)
{
    uint8_t bytes[HEAD_SLOT_BYTES];
    memcpy(bytes, HEAD_MAGIC, 8);
    put_word(bytes + 8, event, 8);
    put_word(bytes + 16, checksum, 8);
    put_word(bytes + 24, XXH64(bytes, 24, 0), 8);
    off_t offset = (off_t)log->head_slot * HEAD_SLOT_BYTES;
    if (pwrite(log->head_fd, bytes, sizeof bytes, offset) != (ssize_t)sizeof bytes || fdatasync(log->head_fd) != 0) {
        set_error(error, event, "store %s: events through %llu are committed, but events.head can't say so: %s",
                  log->directory, (unsigned long long)event, strerror(errno ? errno : EIO));
        return false;
    }
    log->head_event = event;
    log->head_checksum = checksum;
    log->head_slot = 1 - log->head_slot;
    return true;
}

/* Open events.head.  A new store (`creating`) makes it, and so does a
 * store with no events yet; one that holds events must have it. */
static bool open_head(struct evlog *log, bool creating, struct evlog_error *error)
{
    char *path = path_in(log->directory, "events.head");
    if (!path) {
        set_error(error, 0, "out of memory");
        return false;
    }
    bool may_make = !log->read_only && (creating || log->last_event == 0);
    int flags = (log->read_only ? O_RDONLY : O_RDWR) | (may_make ? O_CREAT : 0);
    log->head_fd = open(path, flags | O_CLOEXEC, 0644);
    int open_errno = errno;
    free(path);
    if (log->head_fd < 0) {
        if (open_errno == ENOENT && log->last_event == 0)
            return true; /* read-only and empty: nothing to prove */
        set_error(error, 0, "store %s: cannot open events.head (%s), so nothing proves how far its log was committed",
                  log->directory, strerror(open_errno));
        return false;
    }
    if (may_make && !atomic_file_sync_directory(log->directory)) {
        set_error(error, 0, "store %s: cannot sync the directory: %s", log->directory, strerror(errno));
        return false;
    }
    return read_head(log, log->last_event == 0, error);
}

/* Whether events.head holds anything: a store whose database is empty
 * but whose head isn't has lost its log, and must not be made anew. */
static bool head_has_records(const char *directory)
{
    char *path = path_in(directory, "events.head");
    struct stat status;
    bool has = path && stat(path, &status) == 0 && status.st_size > 0;
    free(path);
    return has;
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
    "PRAGMA application_id = 1313817419;" /* EVLOG_APPLICATION_ID */
    "PRAGMA user_version = 2;";

static bool take_lock(struct evlog *log, bool create, struct evlog_error *error)
{
    char *path = path_in(log->directory, "lock");
    if (!path) {
        set_error(error, 0, "out of memory");
        return false;
    }
    log->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (log->lock_fd < 0 && !create && (errno == EROFS || errno == EACCES || errno == EPERM)) {
        /* Nothing can be written here: inspect the store without changing it. */
        char reason[160];
        snprintf(reason, sizeof reason, "its directory is not writable (%s)", strerror(errno));
        log->read_only = strdup(reason);
        log->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
        free(path);
        if (!log->read_only) {
            set_error(error, 0, "out of memory");
            return false;
        }
        if (log->lock_fd >= 0 && flock(log->lock_fd, LOCK_SH | LOCK_NB) != 0) {
            set_error(error, 0, "store %s is in use by another nocklab process", log->directory);
            return false;
        }
        return true;
    }
    int open_errno = errno;
    free(path);
    if (log->lock_fd < 0) {
        set_error(error, 0, "store %s: cannot open its lock file: %s", log->directory, strerror(open_errno));
        return false;
    }
    if (flock(log->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        set_error(error, 0, "store %s is in use by another nocklab process", log->directory);
        return false;
    }
    return true;
}

/* One integer from a query without parameters; false on a database error. */
static bool query_integer(struct evlog *log, const char *sql, int64_t *value, bool *is_null)
{
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(log->database, sql, -1, &statement, NULL) != SQLITE_OK)
        return false;
    int status = sqlite3_step(statement);
    *value = 0;
    if (is_null)
        *is_null = status != SQLITE_ROW || sqlite3_column_type(statement, 0) == SQLITE_NULL;
    if (status == SQLITE_ROW)
        *value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return status == SQLITE_ROW || status == SQLITE_DONE;
}

/* The names of the database's tables, for saying what a foreign database
 * holds: "a, b, c" (at most a line's worth). */
static void table_names(struct evlog *log, char *out, size_t size)
{
    sqlite3_stmt *statement;
    size_t used = 0;
    out[0] = '\0';
    if (sqlite3_prepare_v2(log->database, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1,
                           &statement, NULL) != SQLITE_OK)
        return;
    while (sqlite3_step(statement) == SQLITE_ROW && used + 1 < size) {
        const char *name = (const char *)sqlite3_column_text(statement, 0);
        int written = snprintf(out + used, size - used, "%s%s", used ? ", " : "", name ? name : "?");
        if (written < 0)
            break;
        used += (size_t)written < size - used ? (size_t)written : size - used - 1;
    }
    sqlite3_finalize(statement);
}

/* Make the schema in a new database, or check that an existing one is a
 * nocklab store of this format.  *created says whether it was made now. */
static bool prepare_schema(struct evlog *log, bool create, bool *created, struct evlog_error *error)
{
    int64_t version, application, tables;
    *created = false;
    if (!query_integer(log, "PRAGMA user_version", &version, NULL) ||
        !query_integer(log, "PRAGMA application_id", &application, NULL) ||
        !query_integer(log, "SELECT count(*) FROM sqlite_master", &tables, NULL)) {
        int code = sqlite3_errcode(log->database) & 0xff;
        if (code == SQLITE_NOTADB)
            set_error(error, 0, "store %s: events.sqlite is not an SQLite database (%s)", log->directory,
                      sqlite3_errmsg(log->database));
        else
            database_failure(log, error, 0, "reading its format");
        return false;
    }
    if (application == EVLOG_APPLICATION_ID && version == EVLOG_FORMAT)
        return true;
    if (application == EVLOG_APPLICATION_ID) {
        set_error(error, 0, "store %s: events.sqlite has format %d; this nocklab reads format %d", log->directory,
                  (int)version, EVLOG_FORMAT);
        return false;
    }
    char names[160];
    table_names(log, names, sizeof names);
    if (application == 0 && version == 1 && strstr(names, "boot") && strstr(names, "events")) {
        set_error(error, 0,
                  "store %s was written by an older nocklab (format 1, without chained checksums); this nocklab "
                  "reads format %d and leaves it as it is -- replay it with the nocklab that made it, or make the "
                  "store again",
                  log->directory, EVLOG_FORMAT);
        return false;
    }
    if (application != 0 || version != 0 || tables != 0) {
        set_error(error, 0,
                  "store %s: events.sqlite is an SQLite database but not a nocklab store (application_id %lld, "
                  "user_version %lld, tables: %s); nocklab leaves it alone",
                  log->directory, (long long)application, (long long)version, tables ? names : "none");
        return false;
    }
    if (head_has_records(log->directory)) {
        set_error(error, 0,
                  "store %s has lost its log: events.sqlite is empty, but events.head says events were committed",
                  log->directory);
        return false;
    }
    if (!create) {
        set_error(error, 0, "store %s holds no event log", log->directory);
        return false;
    }
    *created = true;
    return run_sql(log, "BEGIN IMMEDIATE", "making its tables", error) &&
           run_sql(log, schema, "making its tables", error) && run_sql(log, "COMMIT", "making its tables", error);
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

/* The last event, its checksum and whether there is a boot row; each value
 * checked for its type. */
static bool read_tail(struct evlog *log, struct evlog_error *error)
{
    int64_t boot, last, checksum;
    bool last_null, checksum_null;
    if (!query_integer(log, "SELECT count(*) FROM boot", &boot, NULL) ||
        !query_integer(log, "SELECT max(number) FROM events", &last, &last_null)) {
        database_failure(log, error, 0, "reading its last event");
        return false;
    }
    log->has_boot = boot > 0;
    log->last_event = last_null || last < 0 ? 0 : (uint64_t)last;
    log->last_checksum = 0;
    if (log->last_event == 0)
        return true;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT checksum FROM events WHERE number = %lld AND typeof(checksum) = 'integer'",
             (long long)last);
    if (!query_integer(log, sql, &checksum, &checksum_null)) {
        database_failure(log, error, log->last_event, "reading its last event");
        return false;
    }
    log->last_checksum = (uint64_t)checksum;
    return true;
}

/* The SQLite URI that opens `path` read-only; `immutable` also tells
 * SQLite the file can't change, for read-only media with no -shm file. */
static char *read_only_uri(const char *path, bool immutable)
{
    size_t length = strlen(path);
    char *uri = malloc(3 * length + 40);
    if (!uri)
        return NULL;
    char *out = uri + sprintf(uri, "file:");
    for (const char *in = path; *in; in++) {
        if (*in == '%' || *in == '?' || *in == '#')
            out += sprintf(out, "%%%02X", (unsigned char)*in);
        else
            *out++ = *in;
    }
    sprintf(out, "?mode=ro%s", immutable ? "&immutable=1" : "");
    return uri;
}

static bool open_database(struct evlog *log, bool create, struct evlog_error *error)
{
    char *path = path_in(log->directory, "events.sqlite");
    if (!path) {
        set_error(error, 0, "out of memory");
        return false;
    }
    int status;
    /* NOMUTEX: one thread at a time uses a log's connection (the one
     * applying events; the workers, the screen and the samplers never
     * touch it), so SQLite's lock around every call, taken per bound
     * value, buys nothing: measured, it was 8% of an STM replay. */
    if (!log->read_only) {
        int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
        status = sqlite3_open_v2(path, &log->database, flags, NULL);
    } else {
        /* Read-only media has no -shm file for WAL readers: SQLite then
         * reads the database only as immutable. */
        status = SQLITE_CANTOPEN;
        for (int immutable = 0; immutable < 2 && status != SQLITE_OK; immutable++) {
            char *uri = read_only_uri(path, immutable);
            if (log->database)
                sqlite3_close(log->database);
            log->database = NULL;
            int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
            status = uri ? sqlite3_open_v2(uri, &log->database, flags, NULL) : SQLITE_NOMEM;
            int64_t ignored;
            if (status == SQLITE_OK && !query_integer(log, "PRAGMA user_version", &ignored, NULL))
                status = sqlite3_errcode(log->database);
            free(uri);
        }
    }
    free(path);
    if (status != SQLITE_OK) {
        set_error(error, 0, "store %s: cannot open events.sqlite: %s", log->directory,
                  log->database ? sqlite3_errmsg(log->database) : sqlite3_errstr(status));
        return false;
    }
    return true;
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
    log->lock_fd = log->head_fd = -1;
    bool created = false;
    bool ok = take_lock(log, create, error) && open_database(log, create, error);
    if (ok && !log->read_only)
        ok = run_sql(log, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;", "opening it", error);
    ok = ok && prepare_schema(log, create, &created, error) && read_tail(log, error) &&
         open_head(log, created, error);
    if (ok && !log->read_only &&
        sqlite3_prepare_v2(log->database,
                           "INSERT INTO events (number, kind, event, source_event, source_effect, mug, checksum) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &log->insert_event, NULL) != SQLITE_OK) {
        database_failure(log, error, 0, "opening it");
        ok = false;
    }
    if (!ok) {
        evlog_close(log);
        return NULL;
    }
    if (log->last_event < log->head_event) {
        char damage[300];
        snprintf(damage, sizeof damage,
                 "store %s has lost committed events: its log ends at event %llu, but events.head says event %llu "
                 "was committed (event %llu is the first missing); nocklab will not append to it",
                 directory, (unsigned long long)log->last_event, (unsigned long long)log->head_event,
                 (unsigned long long)log->last_event + 1);
        log->damage = strdup(damage);
    }
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
    if (log->head_fd >= 0)
        close(log->head_fd);
    if (log->lock_fd >= 0)
        close(log->lock_fd); /* releases the flock */
    free(log->damage);
    free(log->read_only);
    free(log->directory);
    free(log);
}

const char *evlog_directory(const struct evlog *log) { return log->directory; }
struct sqlite3 *evlog_database(struct evlog *log) { return log->database; }
const char *evlog_read_only(const struct evlog *log) { return log->read_only; }

/* ---- boot ---------------------------------------------------------------- */

bool evlog_has_boot(struct evlog *log) { return log->has_boot; }

bool evlog_write_boot(struct evlog *log, const char *name, const uint8_t *jam, size_t length, uint32_t mug,
                      struct evlog_error *error)
{
    if (log->has_boot) {
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
        database_failure(log, error, 0, "recording the boot kernel");
        return false;
    }
    sqlite3_bind_text(statement, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob64(statement, 2, jam, length, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 3, mug);
    sqlite3_bind_int64(statement, 4, (int64_t)XXH64(jam, length, 0));
    bool ok = sqlite3_step(statement) == SQLITE_DONE;
    if (!ok)
        database_failure(log, error, 0, "recording the boot kernel");
    sqlite3_finalize(statement);
    if (!ok) {
        evlog_rollback(log);
        return false;
    }
    if (!evlog_commit(log, error))
        return false;
    log->has_boot = true;
    return true;
}

static const char *type_name(int type)
{
    switch (type) {
    case SQLITE_INTEGER: return "an integer";
    case SQLITE_FLOAT: return "a real number";
    case SQLITE_TEXT: return "text";
    case SQLITE_BLOB: return "a blob";
    default: return "NULL";
    }
}

/* Whether column `column` of the row has type `type`; if not, says so in
 * *error: "store S: ITEM: its COLUMN column holds text, not an integer". */
static bool column_is(struct evlog *log, sqlite3_stmt *row, int column, int type, const char *item,
                      uint64_t event_number, struct evlog_error *error)
{
    int actual = sqlite3_column_type(row, column);
    if (actual == type)
        return true;
    set_error(error, event_number, "store %s: %s: its %s column holds %s, not %s", log->directory, item,
              sqlite3_column_name(row, column), type_name(actual), type_name(type));
    return false;
}

bool evlog_read_boot(struct evlog *log, char **name, uint8_t **jam, size_t *length, uint32_t *mug,
                     struct evlog_error *error)
{
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(log->database, "SELECT name, kernel, mug, checksum FROM boot WHERE id = 1", -1,
                           &statement, NULL) != SQLITE_OK) {
        database_failure(log, error, 0, "reading the boot kernel");
        return false;
    }
    bool ok = false;
    int status = sqlite3_step(statement);
    if (status == SQLITE_DONE) {
        set_error(error, 0, "store %s has no booted kernel (:boot NAME KERNEL starts one)", log->directory);
    } else if (status != SQLITE_ROW) {
        database_failure(log, error, 0, "reading the boot kernel");
    } else if (column_is(log, statement, 1, SQLITE_BLOB, "the boot kernel", 0, error) &&
               column_is(log, statement, 2, SQLITE_INTEGER, "the boot kernel", 0, error) &&
               column_is(log, statement, 3, SQLITE_INTEGER, "the boot kernel", 0, error)) {
        const char *text = (const char *)sqlite3_column_text(statement, 0);
        const void *blob = sqlite3_column_blob(statement, 1);
        size_t size = (size_t)sqlite3_column_bytes(statement, 1);
        if ((int64_t)XXH64(blob, size, 0) != sqlite3_column_int64(statement, 3)) {
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
    if (log->read_only) {
        set_error(error, 0, "store %s is read-only (%s): nothing can be saved to it", log->directory,
                  log->read_only);
        return false;
    }
    if (log->damage) {
        set_error(error, 0, "%s", log->damage);
        return false;
    }
    if (!run_sql(log, "BEGIN IMMEDIATE", "beginning a transaction", error))
        return false;
    log->in_transaction = true;
    log->uncommitted = 0;
    return true;
}

bool evlog_commit(struct evlog *log, struct evlog_error *error)
{
    if (!log->in_transaction)
        return true;
    if (!run_sql(log, "COMMIT", "committing", error)) {
        evlog_rollback(log);
        return false;
    }
    log->in_transaction = false;
    log->uncommitted = 0;
    if (log->head_fd >= 0 && (log->last_event != log->head_event || log->head_checksum != log->last_checksum))
        return write_head(log, log->last_event, log->last_checksum, error);
    return true;
}

void evlog_rollback(struct evlog *log)
{
    if (!log->in_transaction)
        return;
    sqlite3_exec(log->database, "ROLLBACK", NULL, NULL, NULL);
    log->in_transaction = false;
    log->uncommitted = 0;
    read_tail(log, NULL);
}

uint64_t evlog_uncommitted(const struct evlog *log) { return log->uncommitted; }
uint64_t evlog_last_event(const struct evlog *log) { return log->last_event; }
uint64_t evlog_committed_event(const struct evlog *log) { return log->head_event; }

bool evlog_append(struct evlog *log, const struct evlog_record *record, struct evlog_error *error)
{
    if (record->number != log->last_event + 1) {
        set_error(error, record->number, "store %s: event %llu appended after event %llu", log->directory,
                  (unsigned long long)record->number, (unsigned long long)log->last_event);
        return false;
    }
    if (!evlog_begin(log, error))
        return false;
    uint64_t checksum = chained_checksum(record, log->last_checksum);
    sqlite3_stmt *insert = log->insert_event;
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert);
    sqlite3_bind_int64(insert, 1, (sqlite3_int64)record->number);
    sqlite3_bind_int(insert, 2, (int)record->kind);
    if (record->kind == EVLOG_PLAIN) {
        sqlite3_bind_blob64(insert, 3, record->event, record->event_length, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(insert, 4, (sqlite3_int64)record->source_event);
        sqlite3_bind_int64(insert, 5, record->source_effect);
    }
    sqlite3_bind_int64(insert, 6, record->mug);
    sqlite3_bind_int64(insert, 7, (sqlite3_int64)checksum);
    bool ok = sqlite3_step(insert) == SQLITE_DONE;
    if (!ok) {
        char what[64];
        snprintf(what, sizeof what, "appending event %llu", (unsigned long long)record->number);
        database_failure(log, error, record->number, what);
    }
    sqlite3_reset(insert);
    sqlite3_clear_bindings(insert); /* the blob was bound without a copy */
    if (ok) {
        log->last_event = record->number;
        log->last_checksum = checksum;
        log->uncommitted++;
    }
    return ok;
}

/* ---- reading ------------------------------------------------------------- */

/* A cursor over events [from, to].  `expected` is the number the next row
 * must have and `previous` the chained checksum of the row before it.
 * `first_failure`, when set, is a fault found on opening that the first
 * step reports (a stray row, a broken link before `from`). */
struct evlog_cursor {
    struct evlog *log;
    sqlite3_stmt *select;
    uint64_t expected;
    uint64_t to;
    uint64_t previous;
    struct evlog_error first_failure;
};

/* Rows numbered 0 or below are no events at all: name the first. */
static bool find_stray_row(struct evlog_cursor *cursor)
{
    struct evlog *log = cursor->log;
    int64_t stray;
    bool none;
    if (!query_integer(log, "SELECT max(number) FROM events WHERE number <= 0", &stray, &none)) {
        database_failure(log, &cursor->first_failure, 0, "looking for stray rows");
        return true;
    }
    if (!none)
        set_error(&cursor->first_failure, 0,
                  "store %s: its log holds a stray row numbered %lld (events are numbered from 1)", log->directory,
                  (long long)stray);
    return !none;
}

/* The chained checksum of event `number` - 1, which the row `number`
 * links to. */
static void find_link(struct evlog_cursor *cursor, uint64_t number)
{
    struct evlog *log = cursor->log;
    if (number <= 1)
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT checksum FROM events WHERE number = %llu AND typeof(checksum) = 'integer'",
             (unsigned long long)(number - 1));
    int64_t checksum;
    bool missing;
    if (!query_integer(log, sql, &checksum, &missing))
        database_failure(log, &cursor->first_failure, number - 1, "reading the log");
    else if (missing)
        set_error(&cursor->first_failure, number - 1, "store %s: event %llu is missing from the log", log->directory,
                  (unsigned long long)(number - 1));
    cursor->previous = (uint64_t)checksum;
}

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
        database_failure(log, error, 0, "reading the log");
        free(cursor);
        return NULL;
    }
    sqlite3_bind_int64(cursor->select, 1, (sqlite3_int64)from);
    sqlite3_bind_int64(cursor->select, 2, to && to < INT64_MAX ? (sqlite3_int64)to : INT64_MAX);
    if (!find_stray_row(cursor))
        find_link(cursor, from);
    return cursor;
}

void evlog_cursor_close(struct evlog_cursor *cursor)
{
    if (!cursor)
        return;
    sqlite3_finalize(cursor->select);
    free(cursor);
}

/* Check the types of a row's columns, and its kind's rules. */
static enum evlog_step check_columns(struct evlog_cursor *cursor, sqlite3_stmt *row, uint64_t number,
                                     struct evlog_error *error)
{
    struct evlog *log = cursor->log;
    char item[48];
    snprintf(item, sizeof item, "event %llu", (unsigned long long)number);
    if (!column_is(log, row, 1, SQLITE_INTEGER, item, number, error) ||
        !column_is(log, row, 5, SQLITE_INTEGER, item, number, error) ||
        !column_is(log, row, 6, SQLITE_INTEGER, item, number, error))
        return EVLOG_BAD;
    int64_t kind = sqlite3_column_int64(row, 1);
    if (kind == EVLOG_PLAIN) {
        if (sqlite3_column_type(row, 2) != SQLITE_NULL && !column_is(log, row, 2, SQLITE_BLOB, item, number, error))
            return EVLOG_BAD;
    } else if (kind == EVLOG_SPAWN_OUTCOME) {
        if (!column_is(log, row, 3, SQLITE_INTEGER, item, number, error) ||
            !column_is(log, row, 4, SQLITE_INTEGER, item, number, error))
            return EVLOG_BAD;
        int64_t effect = sqlite3_column_int64(row, 4);
        if (effect < 0 || effect > UINT32_MAX) {
            set_error(error, number, "store %s: event %llu: names effect %lld, which no event has", log->directory,
                      (unsigned long long)number, (long long)effect);
            return EVLOG_BAD;
        }
    } else {
        set_error(error, number, "store %s: event %llu has unknown kind %lld", log->directory,
                  (unsigned long long)number, (long long)kind);
        return EVLOG_BAD;
    }
    int64_t mug = sqlite3_column_int64(row, 5);
    if (mug < 0 || mug > UINT32_MAX) {
        set_error(error, number, "store %s: event %llu: its mug %lld is not a 32-bit mug", log->directory,
                  (unsigned long long)number, (long long)mug);
        return EVLOG_BAD;
    }
    return EVLOG_ROW;
}

/* Check one row's contents against its chained checksum and kind rules. */
static enum evlog_step check_row(struct evlog_cursor *cursor, struct evlog_record *record, uint64_t checksum,
                                 struct evlog_error *error)
{
    const char *directory = cursor->log->directory;
    unsigned long long number = (unsigned long long)record->number;
    if (record->kind == EVLOG_SPAWN_OUTCOME &&
        (record->source_event == 0 || record->source_event >= record->number)) {
        set_error(error, record->number, "store %s: event %llu: names event %llu as its source, which is not before it",
                  directory, number, (unsigned long long)record->source_event);
        return EVLOG_BAD;
    }
    if (chained_checksum(record, cursor->previous) != checksum) {
        set_error(error, record->number,
                  "store %s: event %llu fails its checksum: the row was changed, or a row before it was", directory,
                  number);
        return EVLOG_BAD;
    }
    return EVLOG_ROW;
}

/* The end of the rows: the log must reach the last event it is known to
 * have committed (within the range read), and its row there must be the
 * one committed. */
static enum evlog_step check_end(struct evlog_cursor *cursor, struct evlog_error *error)
{
    struct evlog *log = cursor->log;
    uint64_t last_read = cursor->expected - 1;
    uint64_t committed = log->head_event < cursor->to ? log->head_event : cursor->to;
    if (last_read < committed) {
        set_error(error, last_read + 1,
                  "store %s has lost committed events: its log ends at event %llu, but events.head says event %llu "
                  "was committed; event %llu is the first missing",
                  log->directory, (unsigned long long)last_read, (unsigned long long)log->head_event,
                  (unsigned long long)last_read + 1);
        return EVLOG_BAD;
    }
    return EVLOG_END;
}

enum evlog_step evlog_cursor_next(struct evlog_cursor *cursor, struct evlog_record *record,
                                  struct evlog_error *error)
{
    if (cursor->first_failure.message[0]) {
        if (error)
            *error = cursor->first_failure;
        return EVLOG_BAD;
    }
    sqlite3_stmt *select = cursor->select;
    int status = sqlite3_step(select);
    if (status == SQLITE_DONE)
        return check_end(cursor, error);
    if (status != SQLITE_ROW) {
        char what[64];
        snprintf(what, sizeof what, "reading event %llu", (unsigned long long)cursor->expected);
        database_failure(cursor->log, error, cursor->expected, what);
        return EVLOG_BAD;
    }
    memset(record, 0, sizeof *record);
    record->number = (uint64_t)sqlite3_column_int64(select, 0);
    if (record->number != cursor->expected) {
        set_error(error, cursor->expected, "store %s: event %llu is missing from the log (the next row is %llu)",
                  cursor->log->directory, (unsigned long long)cursor->expected,
                  (unsigned long long)record->number);
        return EVLOG_BAD;
    }
    if (check_columns(cursor, select, record->number, error) != EVLOG_ROW)
        return EVLOG_BAD;
    record->kind = (enum evlog_kind)sqlite3_column_int(select, 1);
    record->event = sqlite3_column_blob(select, 2);
    record->event_length = (size_t)sqlite3_column_bytes(select, 2);
    record->source_event = (uint64_t)sqlite3_column_int64(select, 3);
    record->source_effect = (uint32_t)sqlite3_column_int64(select, 4);
    record->mug = (uint32_t)sqlite3_column_int64(select, 5);
    uint64_t checksum = (uint64_t)sqlite3_column_int64(select, 6);
    if (check_row(cursor, record, checksum, error) != EVLOG_ROW)
        return EVLOG_BAD;
    if (record->number == cursor->log->head_event && checksum != cursor->log->head_checksum) {
        set_error(error, record->number,
                  "store %s: event %llu is not the event that was committed as %llu (events.head has another "
                  "checksum for it)",
                  cursor->log->directory, (unsigned long long)record->number, (unsigned long long)record->number);
        return EVLOG_BAD;
    }
    cursor->previous = checksum;
    cursor->expected++;
    return EVLOG_ROW;
}
