/* evlog.h -- the event log: a store's SQLite database of events.
 *
 * A store is a directory.  Its events.sqlite (WAL mode) holds the boot
 * kernel, jammed, and one row per event: the jammed event (or, for the
 * outcome of a spawn, which effect of which earlier event to recompute it
 * from), the mug of the kernel after it and a checksum.  The same database
 * holds the profiler's tables.  docs/formats.md has the schema.
 *
 * Appending is batched: evlog_append adds a row to the open transaction
 * (beginning one if needed) and evlog_commit makes every row appended so
 * far durable.  A caller must not release an event's effects before the
 * evlog_commit that covers it has returned.
 *
 * One process at a time: evlog_open takes an exclusive lock on the
 * directory (a `lock` file held with flock) for as long as the log is open.
 * A store that can't be written (a read-only file system) opens read-only:
 * reading works, every write fails saying so.
 *
 * The log proves it is whole: rows carry chained checksums, and
 * events.head, beside the database, keeps the number and checksum of the
 * last committed event, so a cursor reading to the end reports events
 * lost from the end (deleted rows, a deleted -wal file), naming the first.
 *
 * Nothing here prints or exits; errors come back as a message naming the
 * store, and the event number when one is at fault.
 */
#ifndef NOCKLAB_EVLOG_H
#define NOCKLAB_EVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The format this code writes, kept in PRAGMA user_version. */
#define EVLOG_FORMAT 2

struct evlog;
struct sqlite3;

struct evlog_error {
    uint64_t event_number; /* the event at fault, 0 when none */
    char message[300];
};

/* Open the store in `directory`.  With `create`, make the directory and an
 * empty log when there is none; without, a missing store is an error. */
struct evlog *evlog_open(const char *directory, bool create, struct evlog_error *error);
/* Close it; a transaction still open is rolled back (its rows were never
 * committed, so nothing promised is lost). */
void evlog_close(struct evlog *log);
const char *evlog_directory(const struct evlog *log);
/* Why the store was opened read-only, or NULL when it is writable. */
const char *evlog_read_only(const struct evlog *log);
/* The database, for modules that keep their own tables in it (profiler). */
struct sqlite3 *evlog_database(struct evlog *log);

/* ---- the boot kernel ------------------------------------------------------ */

/* Whether a kernel was booted in this store. */
bool evlog_has_boot(struct evlog *log);
/* Record the boot kernel: its name, jam and mug.  Only once per store. */
bool evlog_write_boot(struct evlog *log, const char *name, const uint8_t *jam, size_t length, uint32_t mug,
                      struct evlog_error *error);
/* The boot kernel.  *name and *jam are malloc'd; the caller frees them. */
bool evlog_read_boot(struct evlog *log, char **name, uint8_t **jam, size_t *length, uint32_t *mug,
                     struct evlog_error *error);

/* ---- events --------------------------------------------------------------- */

enum evlog_kind {
    EVLOG_PLAIN = 0,         /* the row holds the jammed event */
    EVLOG_SPAWN_OUTCOME = 1, /* the event is the outcome of spawn effect
                                source_effect of event source_event */
};

/* One event row.  `event` points at `event_length` bytes (EVLOG_PLAIN);
 * from a cursor they stay valid until its next step. */
struct evlog_record {
    uint64_t number;
    enum evlog_kind kind;
    const uint8_t *event;
    size_t event_length;
    uint64_t source_event;
    uint32_t source_effect;
    uint32_t mug;
};

/* Append an event in the open batch (begun if none is open).  Its number
 * must be one more than the last event's. */
bool evlog_append(struct evlog *log, const struct evlog_record *record, struct evlog_error *error);
/* Begin a transaction if none is open (for callers batching rows of their
 * own tables, such as profiles). */
bool evlog_begin(struct evlog *log, struct evlog_error *error);
/* Commit the open batch, if any: when this returns true, every row
 * appended so far survives a crash of the process or the machine. */
bool evlog_commit(struct evlog *log, struct evlog_error *error);
/* Drop the open batch, if any. */
void evlog_rollback(struct evlog *log);
/* Rows appended but not committed yet. */
uint64_t evlog_uncommitted(const struct evlog *log);
/* The number of the last event appended (committed or not); 0 for none. */
uint64_t evlog_last_event(const struct evlog *log);
/* The last event events.head says was committed (the log may be ahead of
 * it by a batch after a crash, never behind unless events were lost). */
uint64_t evlog_committed_event(const struct evlog *log);

/* Reading events in order. */
struct evlog_cursor;

/* Events numbered `from` through `to` (to = 0: through the last). */
struct evlog_cursor *evlog_cursor_open(struct evlog *log, uint64_t from, uint64_t to, struct evlog_error *error);
void evlog_cursor_close(struct evlog_cursor *cursor);

enum evlog_step { EVLOG_ROW, EVLOG_END, EVLOG_BAD };
/* The next event, checked: its number follows the previous one (no gaps),
 * its columns have their types, its kind is known and its chained checksum
 * matches.  At the end, the log must reach the last committed event (or
 * `to`).  A stray row (numbered 0 or below) fails the first step.
 * EVLOG_BAD fills *error with the event number and what is wrong. */
enum evlog_step evlog_cursor_next(struct evlog_cursor *cursor, struct evlog_record *record,
                                  struct evlog_error *error);

#endif
