/* profile.c -- per-event profile rows in the store's database, their
 * summaries, and exports as Chrome trace JSON and CSV.
 *
 * Tables (part of store format 1; docs/formats.md):
 *
 *   runs     id, kind ('live' | 'replay' | 'gen' | 'rebuild'), backend, started_at (UTC
 *            ISO 8601), note, status ('running' until the run ends, then
 *            'done' or what stopped it), first_event, last_event, events,
 *            wall_ns (run start to end)
 *   profile  (run, event) primary key; start_ns (from the run's start),
 *            wall_ns, cpu_ns, steps, bytes_allocated, copy_out_bytes,
 *            dedup_lookups, dedup_hits, and what the machine did besides
 *            Nock: scratch_collections, scratch_collect_ns, copy_out_ns,
 *            home_collect_ns (just before the event), commit_wait_ns (the
 *            commit of its batch); dirty_pages and write_faults (a PMA
 *            store: home pages the event wrote first since the last
 *            snapshot, and the write faults that found them); stores made
 *            before these seven columns get them (0) the first time their
 *            profile is read
 *   spans    run, event, offset_ns (from the event's start), duration_ns,
 *            name (the %bout clue when a term or cord, else '%bout')
 *   snapshots  one row per snapshot saved: run (NULL when none), event,
 *            kind, file, pages_written, bytes, serialize_ns, write_ns,
 *            directory_ns, fsync_ns, total_ns, taken_at (UTC ISO 8601)
 *
 * A run killed before it ended keeps status 'running'; its event counts
 * are computed from its profile rows, which is why :runs reads them from
 * there rather than from the runs row.
 */
#include "profiler/profile.h"
#include "snapshots/atomic_file.h"
#include "interp/clock.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char profile_schema[] =
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL,"
    "  backend TEXT NOT NULL,"
    "  started_at TEXT NOT NULL,"
    "  note TEXT,"
    "  status TEXT NOT NULL,"
    "  first_event INTEGER,"
    "  last_event INTEGER,"
    "  events INTEGER NOT NULL DEFAULT 0,"
    "  wall_ns INTEGER);"
    "CREATE TABLE IF NOT EXISTS profile ("
    "  run INTEGER NOT NULL,"
    "  event INTEGER NOT NULL,"
    "  start_ns INTEGER NOT NULL,"
    "  wall_ns INTEGER NOT NULL,"
    "  cpu_ns INTEGER NOT NULL,"
    "  steps INTEGER NOT NULL,"
    "  bytes_allocated INTEGER NOT NULL,"
    "  copy_out_bytes INTEGER NOT NULL,"
    "  dedup_lookups INTEGER NOT NULL,"
    "  dedup_hits INTEGER NOT NULL,"
    "  scratch_collections INTEGER NOT NULL DEFAULT 0,"
    "  scratch_collect_ns INTEGER NOT NULL DEFAULT 0,"
    "  copy_out_ns INTEGER NOT NULL DEFAULT 0,"
    "  home_collect_ns INTEGER NOT NULL DEFAULT 0,"
    "  commit_wait_ns INTEGER NOT NULL DEFAULT 0,"
    "  dirty_pages INTEGER NOT NULL DEFAULT 0,"
    "  write_faults INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (run, event)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS spans ("
    "  run INTEGER NOT NULL,"
    "  event INTEGER NOT NULL,"
    "  offset_ns INTEGER NOT NULL,"
    "  duration_ns INTEGER NOT NULL,"
    "  name TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS spans_by_run ON spans (run, event);"
    "CREATE TABLE IF NOT EXISTS snapshots ("
    "  run INTEGER,"
    "  event INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  file TEXT NOT NULL,"
    "  pages_written INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  serialize_ns INTEGER NOT NULL,"
    "  write_ns INTEGER NOT NULL,"
    "  directory_ns INTEGER NOT NULL,"
    "  fsync_ns INTEGER NOT NULL,"
    "  total_ns INTEGER NOT NULL,"
    "  taken_at TEXT NOT NULL);"
    /* one row per spawn outcome applied, on any backend */
    "CREATE TABLE IF NOT EXISTS spawns ("
    "  run INTEGER NOT NULL,"
    "  event INTEGER NOT NULL,"
    "  source_event INTEGER NOT NULL,"
    "  source_effect INTEGER NOT NULL,"
    "  result TEXT NOT NULL,"
    "  start_ns INTEGER NOT NULL,"
    "  run_ns INTEGER NOT NULL,"
    "  cpu_ns INTEGER NOT NULL,"
    "  steps INTEGER NOT NULL,"
    "  bytes_back INTEGER NOT NULL,"
    "  dedup_lookups INTEGER NOT NULL,"
    "  dedup_hits INTEGER NOT NULL,"
    "  PRIMARY KEY (run, event)) WITHOUT ROWID;"
    /* the STM backend: one row per event it committed, one per batch */
    "CREATE TABLE IF NOT EXISTS stm_events ("
    "  run INTEGER NOT NULL,"
    "  event INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  reruns INTEGER NOT NULL,"
    "  conflict_shards INTEGER NOT NULL,"
    "  wasted_steps INTEGER NOT NULL,"
    "  parallel INTEGER NOT NULL,"
    "  PRIMARY KEY (run, event)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS stm_batches ("
    "  run INTEGER NOT NULL,"
    "  first_event INTEGER NOT NULL,"
    "  events INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  reruns INTEGER NOT NULL,"
    "  wasted_steps INTEGER NOT NULL,"
    "  parallel_events INTEGER NOT NULL,"
    "  serial_events INTEGER NOT NULL,"
    "  epochs INTEGER NOT NULL,"
    "  shards INTEGER NOT NULL,"
    "  conflicts TEXT NOT NULL,"
    "  workers INTEGER NOT NULL DEFAULT 0,"
    "  epoch_ns INTEGER NOT NULL DEFAULT 0,"
    "  running_ns INTEGER NOT NULL DEFAULT 0,"
    "  committing_ns INTEGER NOT NULL DEFAULT 0,"
    "  finish_ns INTEGER NOT NULL DEFAULT 0,"
    "  serial_ns INTEGER NOT NULL DEFAULT 0,"
    "  copying_ns INTEGER NOT NULL DEFAULT 0);";

/* stm_batches' columns added after its first version, which stores made
 * then lack (add_missing_columns adds them, zero in the old rows) */
static const char *const stm_batch_time_columns[] = {
    "workers", "epoch_ns", "running_ns", "committing_ns", "finish_ns", "serial_ns", "copying_ns",
};

static const char *const metric_names[PROFILE_METRIC_COUNT] = {
    "wall_ns", "cpu_ns", "steps", "bytes_allocated", "copy_out_bytes", "dedup_lookups", "dedup_hits",
    "scratch_collections", "scratch_collect_ns", "copy_out_ns", "home_collect_ns", "commit_wait_ns",
    "dirty_pages", "write_faults",
};
/* The metric columns in that order, for SELECTs. */
#define METRIC_COLUMNS                                                                                 \
    "wall_ns, cpu_ns, steps, bytes_allocated, copy_out_bytes, dedup_lookups, dedup_hits, "             \
    "scratch_collections, scratch_collect_ns, copy_out_ns, home_collect_ns, commit_wait_ns, dirty_pages, "      \
    "write_faults"
#define METRIC_COLUMNS_OF_P                                                                            \
    "p.wall_ns, p.cpu_ns, p.steps, p.bytes_allocated, p.copy_out_bytes, p.dedup_lookups, p.dedup_hits, " \
    "p.scratch_collections, p.scratch_collect_ns, p.copy_out_ns, p.home_collect_ns, p.commit_wait_ns, "  \
    "p.dirty_pages, p.write_faults"

const char *profile_metric_name(enum profile_metric metric) { return metric_names[metric]; }

static void set_error(struct profile_error *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct profile_error *error, const char *format, ...)
{
    if (!error)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
}

static void copy_evlog_error(struct profile_error *error, const struct evlog_error *from)
{
    set_error(error, "%s", from->message);
}

/* ---- recording -------------------------------------------------------------- */

/* Profile rows are inserted PROFILE_BATCH_ROWS at a time with one
 * multi-row INSERT: SQLite's cost per statement is most of the cost of a
 * one-row insert, and a replay records a row for every event. */
#define PROFILE_BATCH_ROWS 64
#define PROFILE_ROW_COLUMNS (3 + PROFILE_METRIC_COUNT)

/* A run being recorded.  The insert statements are prepared once;
 * `pending` holds rows recorded but not yet inserted (pending_count of
 * them, each PROFILE_ROW_COLUMNS values in column order); the totals go to
 * the runs row at the end. */
struct profile_run {
    struct evlog *log;
    int64_t id;
    uint64_t started_ns;
    uint64_t last_end_ns;
    uint64_t first_event, last_event, events;
    sqlite3_stmt *insert_row;
    sqlite3_stmt *insert_batch;
    sqlite3_stmt *insert_span;
    sqlite3_stmt *note_commit;
    uint64_t stopped_ns;        /* profile_run_stop's reading, 0 before */
    /* A commit wait waiting to be written into its rows with the next
     * batch (so noting it costs no transaction of its own). */
    bool has_commit_wait;
    uint64_t commit_first, commit_last, commit_wait_ns;
    sqlite3_stmt *insert_stm_event, *insert_stm_batch, *insert_spawn; /* prepared when first used */
    size_t pending_count;
    int64_t pending[PROFILE_BATCH_ROWS][PROFILE_ROW_COLUMNS];
};

static bool prepare(sqlite3 *database, const char *sql, sqlite3_stmt **statement, struct profile_error *error)
{
    if (sqlite3_prepare_v2(database, sql, -1, statement, NULL) == SQLITE_OK)
        return true;
    /* A read-only store from an older nocklab can't be given the columns
     * added since (add_missing_columns): say so rather than just which. */
    if (sqlite3_db_readonly(database, "main") == 1 && strncmp(sqlite3_errmsg(database), "no such column", 14) == 0)
        set_error(error,
                  "profile: this read-only store's profile was written by an older nocklab and lacks a column "
                  "this one reads (%s); make the store writable once so nocklab can add it",
                  sqlite3_errmsg(database));
    else
        set_error(error, "profile: %s", sqlite3_errmsg(database));
    return false;
}

static void add_column_if_missing(sqlite3 *database, const char *table, const char *column)
{
    char sql[200];
    sqlite3_stmt *probe;
    snprintf(sql, sizeof sql, "SELECT %s FROM %s LIMIT 0", column, table);
    if (sqlite3_prepare_v2(database, sql, -1, &probe, NULL) == SQLITE_OK) {
        sqlite3_finalize(probe);
        return;
    }
    snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s INTEGER NOT NULL DEFAULT 0", table, column);
    sqlite3_exec(database, sql, NULL, NULL, NULL);
}

/* Add the columns a store made by an older nocklab lacks (ALTER TABLE ADD
 * COLUMN only writes the schema).  A read-only store is not written to:
 * the query that needs a missing column says so (prepare), or for the STM
 * times finds none and leaves them zero (summarize_stm). */
static void add_missing_columns(sqlite3 *database)
{
    if (sqlite3_db_readonly(database, "main") != 0)
        return;
    for (int m = PROFILE_SCRATCH_COLLECTIONS; m < PROFILE_METRIC_COUNT; m++)
        add_column_if_missing(database, "profile", metric_names[m]);
    for (size_t c = 0; c < sizeof stm_batch_time_columns / sizeof *stm_batch_time_columns; c++)
        add_column_if_missing(database, "stm_batches", stm_batch_time_columns[c]);
}

static bool ensure_tables(struct evlog *log, struct profile_error *error)
{
    char *message = NULL;
    if (sqlite3_exec(evlog_database(log), profile_schema, NULL, NULL, &message) == SQLITE_OK) {
        add_missing_columns(evlog_database(log));
        return true;
    }
    set_error(error, "profile: cannot make the profile tables: %s", message ? message : "unknown error");
    sqlite3_free(message);
    return false;
}

/* INSERT INTO profile VALUES (?,...), ... for PROFILE_BATCH_ROWS rows. */
static bool prepare_batch_insert(sqlite3 *database, sqlite3_stmt **statement, struct profile_error *error)
{
    char sql[PROFILE_BATCH_ROWS * (PROFILE_ROW_COLUMNS * 2 + 4) + 64];
    size_t length = (size_t)snprintf(sql, sizeof sql, "INSERT INTO profile VALUES ");
    for (int row = 0; row < PROFILE_BATCH_ROWS; row++) {
        length += (size_t)snprintf(sql + length, sizeof sql - length, "%s(", row ? "," : "");
        for (int column = 0; column < PROFILE_ROW_COLUMNS; column++)
            length += (size_t)snprintf(sql + length, sizeof sql - length, "%s?", column ? "," : "");
        length += (size_t)snprintf(sql + length, sizeof sql - length, ")");
    }
    return prepare(database, sql, statement, error);
}

static void run_free(struct profile_run *run)
{
    sqlite3_finalize(run->note_commit);
    sqlite3_finalize(run->insert_row);
    sqlite3_finalize(run->insert_batch);
    sqlite3_finalize(run->insert_span);
    sqlite3_finalize(run->insert_stm_event);
    sqlite3_finalize(run->insert_stm_batch);
    sqlite3_finalize(run->insert_spawn);
    free(run);
}

struct profile_run *profile_run_begin(struct evlog *log, const char *kind, const char *backend, const char *note,
                                      struct profile_error *error)
{
    struct profile_run *run = calloc(1, sizeof *run);
    if (!run) {
        set_error(error, "out of memory");
        return NULL;
    }
    run->log = log;
    run->started_ns = clock_wall_nanoseconds();
    sqlite3 *database = evlog_database(log);
    struct evlog_error log_error = { 0 };
    sqlite3_stmt *insert_run = NULL;
    bool ok = evlog_begin(log, &log_error);
    if (!ok)
        copy_evlog_error(error, &log_error);
    ok = ok && ensure_tables(log, error) &&
         prepare(database,
                 "INSERT INTO runs (kind, backend, started_at, note, status) "
                 "VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?3, 'running')",
                 &insert_run, error);
    if (ok) {
        sqlite3_bind_text(insert_run, 1, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert_run, 2, backend, -1, SQLITE_STATIC);
        if (note)
            sqlite3_bind_text(insert_run, 3, note, -1, SQLITE_STATIC);
        ok = sqlite3_step(insert_run) == SQLITE_DONE;
        if (!ok)
            set_error(error, "profile: cannot start a run: %s", sqlite3_errmsg(database));
        run->id = sqlite3_last_insert_rowid(database);
    }
    sqlite3_finalize(insert_run);
    ok = ok &&
         prepare(database,
                 "INSERT INTO profile (run, event, start_ns, " METRIC_COLUMNS ") "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                 &run->insert_row, error) &&
         prepare(database,
                 "INSERT INTO spans (run, event, offset_ns, duration_ns, name) VALUES (?1, ?2, ?3, ?4, ?5)",
                 &run->insert_span, error) &&
         prepare(database,
                 "UPDATE profile SET commit_wait_ns = ?4 WHERE run = ?1 AND event BETWEEN ?2 AND ?3",
                 &run->note_commit, error) &&
         prepare_batch_insert(database, &run->insert_batch, error);
    if (ok && !evlog_commit(log, &log_error)) {
        copy_evlog_error(error, &log_error);
        ok = false;
    }
    if (!ok) {
        evlog_rollback(log);
        run_free(run);
        return NULL;
    }
    return run;
}

int64_t profile_run_id(const struct profile_run *run) { return run->id; }
uint64_t profile_run_started_ns(const struct profile_run *run) { return run->started_ns; }

static bool insert_spans(struct profile_run *run, uint64_t event_number, const struct kernel_cost *cost,
                         struct profile_error *error)
{
    sqlite3_stmt *insert = run->insert_span;
    for (uint32_t i = 0; i < cost->span_count; i++) {
        sqlite3_reset(insert);
        sqlite3_bind_int64(insert, 1, run->id);
        sqlite3_bind_int64(insert, 2, (sqlite3_int64)event_number);
        sqlite3_bind_int64(insert, 3, (sqlite3_int64)cost->spans[i].offset_ns);
        sqlite3_bind_int64(insert, 4, (sqlite3_int64)cost->spans[i].duration_ns);
        const char *name = cost->spans[i].name;
        sqlite3_bind_text(insert, 5, name[0] ? name : "%bout", -1, SQLITE_TRANSIENT);
        if (sqlite3_step(insert) != SQLITE_DONE) {
            set_error(error, "profile: cannot record a span of event %llu: %s", (unsigned long long)event_number,
                      sqlite3_errmsg(evlog_database(run->log)));
            sqlite3_reset(insert);
            return false;
        }
    }
    sqlite3_reset(insert);
    return true;
}

static bool write_commit_wait(struct profile_run *run, struct profile_error *error);

/* Insert the pending rows (and a noted commit wait) into the open
 * transaction. */
static bool write_pending(struct profile_run *run, struct profile_error *error)
{
    if (!run->pending_count && !run->has_commit_wait)
        return true;
    struct evlog_error log_error = { 0 };
    if (!evlog_begin(run->log, &log_error)) {
        copy_evlog_error(error, &log_error);
        return false;
    }
    /* rows first: the commit wait may be for rows still pending */
    if (!run->pending_count)
        return write_commit_wait(run, error);
    bool full = run->pending_count == PROFILE_BATCH_ROWS;
    size_t rows = full ? 1 : run->pending_count;
    sqlite3_stmt *insert = full ? run->insert_batch : run->insert_row;
    size_t per_statement = full ? PROFILE_BATCH_ROWS : 1;
    for (size_t row = 0; row < rows; row++) {
        sqlite3_reset(insert);
        for (size_t r = 0; r < per_statement; r++)
            for (int column = 0; column < PROFILE_ROW_COLUMNS; column++)
                sqlite3_bind_int64(insert, (int)(r * PROFILE_ROW_COLUMNS + (size_t)column) + 1,
                                   run->pending[row + r][column]);
        if (sqlite3_step(insert) != SQLITE_DONE) {
            set_error(error, "profile: cannot record event %lld: %s", (long long)run->pending[row][1],
                      sqlite3_errmsg(evlog_database(run->log)));
            sqlite3_reset(insert);
            return false;
        }
    }
    sqlite3_reset(insert);
    run->pending_count = 0;
    return write_commit_wait(run, error);
}

bool profile_record(struct profile_run *run, uint64_t event_number, uint64_t started_ns,
                    const struct kernel_cost *cost, struct profile_error *error)
{
    uint64_t start = started_ns > run->started_ns ? started_ns - run->started_ns : 0;
    int64_t *row = run->pending[run->pending_count++];
    row[0] = run->id;
    row[1] = (int64_t)event_number;
    row[2] = (int64_t)start;
    row[3] = (int64_t)cost->wall_ns;
    row[4] = (int64_t)cost->cpu_ns;
    row[5] = (int64_t)cost->steps;
    row[6] = (int64_t)cost->bytes_allocated;
    row[7] = (int64_t)cost->copy_out_bytes;
    row[8] = (int64_t)cost->dedup_lookups;
    row[9] = (int64_t)cost->dedup_hits;
    row[10] = (int64_t)cost->scratch_collections;
    row[11] = (int64_t)cost->scratch_collect_ns;
    row[12] = (int64_t)cost->copy_out_ns;
    row[13] = (int64_t)cost->home_collect_ns;
    row[14] = (int64_t)cost->commit_wait_ns;
    row[15] = (int64_t)cost->dirty_pages;
    row[16] = (int64_t)cost->write_faults;
    if (run->pending_count == PROFILE_BATCH_ROWS && !write_pending(run, error))
        return false;
    if (cost->span_count) {
        struct evlog_error log_error = { 0 };
        if (!evlog_begin(run->log, &log_error)) {
            copy_evlog_error(error, &log_error);
            return false;
        }
        if (!insert_spans(run, event_number, cost, error))
            return false;
    }
    if (!run->events || event_number < run->first_event)
        run->first_event = event_number;
    if (event_number > run->last_event)
        run->last_event = event_number;
    run->events++;
    if (start + cost->wall_ns > run->last_end_ns)
        run->last_end_ns = start + cost->wall_ns;
    return true;
}

/* Run `insert` (its parameters bound) in the open transaction. */
static bool step_insert(struct profile_run *run, sqlite3_stmt *insert, const char *what, struct profile_error *error)
{
    struct evlog_error log_error = { 0 };
    if (!evlog_begin(run->log, &log_error)) {
        copy_evlog_error(error, &log_error);
        return false;
    }
    bool ok = sqlite3_step(insert) == SQLITE_DONE;
    if (!ok)
        set_error(error, "profile: cannot record %s: %s", what, sqlite3_errmsg(evlog_database(run->log)));
    sqlite3_reset(insert);
    return ok;
}

bool profile_record_stm_event(struct profile_run *run, uint64_t event_number, const struct stm_event_stats *stats,
                              struct profile_error *error)
{
    if (!run->insert_stm_event &&
        !prepare(evlog_database(run->log), "INSERT OR REPLACE INTO stm_events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                 &run->insert_stm_event, error))
        return false;
    sqlite3_stmt *insert = run->insert_stm_event;
    sqlite3_bind_int64(insert, 1, run->id);
    sqlite3_bind_int64(insert, 2, (sqlite3_int64)event_number);
    sqlite3_bind_int64(insert, 3, stats->attempts);
    sqlite3_bind_int64(insert, 4, stats->reruns);
    sqlite3_bind_int64(insert, 5, (sqlite3_int64)stats->conflict_shards);
    sqlite3_bind_int64(insert, 6, (sqlite3_int64)stats->wasted_steps);
    sqlite3_bind_int64(insert, 7, stats->parallel);
    return step_insert(run, insert, "an STM event", error);
}

bool profile_record_spawn(struct profile_run *run, uint64_t event_number, const struct kernel_outcome *outcome,
                          struct profile_error *error)
{
    static const char *const results[] = { "done", "crash", "timeout", "failed" };
    if (!run->insert_spawn &&
        !prepare(evlog_database(run->log),
                 "INSERT OR REPLACE INTO spawns VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                 &run->insert_spawn, error))
        return false;
    sqlite3_stmt *insert = run->insert_spawn;
    sqlite3_bind_int64(insert, 1, run->id);
    sqlite3_bind_int64(insert, 2, (sqlite3_int64)event_number);
    sqlite3_bind_int64(insert, 3, (sqlite3_int64)outcome->spawn.event_number);
    sqlite3_bind_int64(insert, 4, outcome->spawn.effect_index);
    sqlite3_bind_text(insert, 5, results[outcome->result <= KERNEL_SPAWN_FAILED ? outcome->result : 3], -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(insert, 6, (sqlite3_int64)outcome->start_ns);
    sqlite3_bind_int64(insert, 7, (sqlite3_int64)outcome->cost.wall_ns);
    sqlite3_bind_int64(insert, 8, (sqlite3_int64)outcome->cost.cpu_ns);
    sqlite3_bind_int64(insert, 9, (sqlite3_int64)outcome->cost.steps);
    sqlite3_bind_int64(insert, 10, (sqlite3_int64)outcome->bytes_back);
    sqlite3_bind_int64(insert, 11, (sqlite3_int64)outcome->cost.dedup_lookups);
    sqlite3_bind_int64(insert, 12, (sqlite3_int64)outcome->cost.dedup_hits);
    return step_insert(run, insert, "a spawn", error);
}

bool profile_record_stm_batch(struct profile_run *run, uint64_t first_event, const struct stm_batch_stats *stats,
                              struct profile_error *error)
{
    if (!run->insert_stm_batch &&
        !prepare(evlog_database(run->log),
                 "INSERT INTO stm_batches (run, first_event, events, attempts, reruns, wasted_steps, "
                 "parallel_events, serial_events, epochs, shards, conflicts, workers, epoch_ns, running_ns, "
                 "committing_ns, finish_ns, serial_ns, copying_ns) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                 &run->insert_stm_batch, error))
        return false;
    /* conflicts as "shard:count ..." for the shards that had any */
    char conflicts[STM_MAX_SHARDS * 24] = "";
    size_t length = 0;
    for (int shard = 0; shard < STM_MAX_SHARDS; shard++)
        if (stats->conflicts_by_shard[shard])
            length += (size_t)snprintf(conflicts + length, sizeof conflicts - length, "%s%d:%llu",
                                       length ? " " : "", shard,
                                       (unsigned long long)stats->conflicts_by_shard[shard]);
    sqlite3_stmt *insert = run->insert_stm_batch;
    sqlite3_bind_int64(insert, 1, run->id);
    sqlite3_bind_int64(insert, 2, (sqlite3_int64)first_event);
    sqlite3_bind_int64(insert, 3, (sqlite3_int64)stats->events);
    sqlite3_bind_int64(insert, 4, (sqlite3_int64)stats->attempts);
    sqlite3_bind_int64(insert, 5, (sqlite3_int64)stats->reruns);
    sqlite3_bind_int64(insert, 6, (sqlite3_int64)stats->wasted_steps);
    sqlite3_bind_int64(insert, 7, (sqlite3_int64)stats->parallel_events);
    sqlite3_bind_int64(insert, 8, (sqlite3_int64)stats->serial_events);
    sqlite3_bind_int64(insert, 9, (sqlite3_int64)stats->epochs);
    sqlite3_bind_int64(insert, 10, stats->shard_count);
    sqlite3_bind_text(insert, 11, conflicts, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert, 12, stats->time.workers);
    sqlite3_bind_int64(insert, 13, (sqlite3_int64)stats->time.epoch_ns);
    sqlite3_bind_int64(insert, 14, (sqlite3_int64)stats->time.running_ns);
    sqlite3_bind_int64(insert, 15, (sqlite3_int64)stats->time.committing_ns);
    sqlite3_bind_int64(insert, 16, (sqlite3_int64)stats->time.finish_ns);
    sqlite3_bind_int64(insert, 17, (sqlite3_int64)stats->time.serial_ns);
    sqlite3_bind_int64(insert, 18, (sqlite3_int64)stats->time.copying_ns);
    return step_insert(run, insert, "an STM batch", error);
}

bool profile_write(struct profile_run *run, struct profile_error *error)
{
    return !run || write_pending(run, error);
}

void profile_note_commit_wait(struct profile_run *run, uint64_t first_event, uint64_t last_event,
                              uint64_t nanoseconds)
{
    if (!run)
        return;
    /* One batch's wait is kept at a time: the next batch writes it. */
    run->has_commit_wait = true;
    run->commit_first = first_event;
    run->commit_last = last_event;
    run->commit_wait_ns = nanoseconds;
}

static bool write_commit_wait(struct profile_run *run, struct profile_error *error)
{
    if (!run->has_commit_wait)
        return true;
    run->has_commit_wait = false;
    sqlite3_stmt *update = run->note_commit;
    sqlite3_reset(update);
    sqlite3_bind_int64(update, 1, run->id);
    sqlite3_bind_int64(update, 2, (sqlite3_int64)run->commit_first);
    sqlite3_bind_int64(update, 3, (sqlite3_int64)run->commit_last);
    sqlite3_bind_int64(update, 4, (sqlite3_int64)run->commit_wait_ns);
    bool ok = sqlite3_step(update) == SQLITE_DONE;
    if (!ok)
        set_error(error, "profile: cannot note the commit of events %llu..%llu: %s",
                  (unsigned long long)run->commit_first, (unsigned long long)run->commit_last,
                  sqlite3_errmsg(evlog_database(run->log)));
    sqlite3_reset(update);
    return ok;
}

uint64_t profile_run_stop(struct profile_run *run)
{
    if (!run->stopped_ns)
        run->stopped_ns = clock_wall_nanoseconds();
    return run->stopped_ns - run->started_ns;
}

void profile_discard(struct profile_run *run)
{
    if (run)
        run->pending_count = 0;
}

bool profile_flush(struct profile_run *run, struct profile_error *error)
{
    if (!write_pending(run, error))
        return false;
    struct evlog_error log_error = { 0 };
    if (evlog_commit(run->log, &log_error))
        return true;
    copy_evlog_error(error, &log_error);
    return false;
}

bool profile_run_end(struct profile_run *run, const char *status, struct profile_error *error)
{
    if (!run)
        return true;
    sqlite3 *database = evlog_database(run->log);
    struct evlog_error log_error = { 0 };
    sqlite3_stmt *update = NULL;
    bool ok = write_pending(run, error) && evlog_begin(run->log, &log_error);
    if (!ok && log_error.message[0])
        copy_evlog_error(error, &log_error);
    ok = ok && prepare(database,
                       "UPDATE runs SET status = ?2, first_event = ?3, last_event = ?4, events = ?5, wall_ns = ?6 "
                       "WHERE id = ?1",
                       &update, error);
    if (ok) {
        sqlite3_bind_int64(update, 1, run->id);
        sqlite3_bind_text(update, 2, status, -1, SQLITE_STATIC);
        if (run->events) {
            sqlite3_bind_int64(update, 3, (sqlite3_int64)run->first_event);
            sqlite3_bind_int64(update, 4, (sqlite3_int64)run->last_event);
        }
        sqlite3_bind_int64(update, 5, (sqlite3_int64)run->events);
        sqlite3_bind_int64(update, 6, (sqlite3_int64)profile_run_stop(run));
        ok = sqlite3_step(update) == SQLITE_DONE;
        if (!ok)
            set_error(error, "profile: cannot finish run %lld: %s", (long long)run->id, sqlite3_errmsg(database));
    }
    sqlite3_finalize(update);
    if (ok && !evlog_commit(run->log, &log_error)) {
        copy_evlog_error(error, &log_error);
        ok = false;
    }
    run_free(run);
    return ok;
}

/* ---- reading runs ------------------------------------------------------------- */

static void copy_text(char *out, size_t size, const unsigned char *text)
{
    snprintf(out, size, "%s", text ? (const char *)text : "");
}

/* Runs with the counts taken from their rows (see the file comment). */
static const char runs_query[] =
    "SELECT r.id, r.kind, r.backend, r.started_at, r.note, r.status, r.wall_ns, "
    "       (SELECT count(*) FROM profile p WHERE p.run = r.id), "
    "       (SELECT min(event) FROM profile p WHERE p.run = r.id), "
    "       (SELECT max(event) FROM profile p WHERE p.run = r.id), "
    "       (SELECT max(start_ns + wall_ns) FROM profile p WHERE p.run = r.id), "
    "       (SELECT sum(wall_ns + home_collect_ns + commit_wait_ns) FROM profile p WHERE p.run = r.id) "
    "FROM runs r";

static void read_run_info(sqlite3_stmt *select, struct profile_run_info *info)
{
    memset(info, 0, sizeof *info);
    info->id = sqlite3_column_int64(select, 0);
    copy_text(info->kind, sizeof info->kind, sqlite3_column_text(select, 1));
    copy_text(info->backend, sizeof info->backend, sqlite3_column_text(select, 2));
    copy_text(info->started_at, sizeof info->started_at, sqlite3_column_text(select, 3));
    copy_text(info->note, sizeof info->note, sqlite3_column_text(select, 4));
    copy_text(info->status, sizeof info->status, sqlite3_column_text(select, 5));
    info->events = (uint64_t)sqlite3_column_int64(select, 7);
    info->first_event = (uint64_t)sqlite3_column_int64(select, 8);
    info->last_event = (uint64_t)sqlite3_column_int64(select, 9);
    /* a run that ended has its own wall time; a killed one, its rows' */
    info->wall_ns = sqlite3_column_type(select, 6) == SQLITE_NULL ? (uint64_t)sqlite3_column_int64(select, 10)
                                                                   : (uint64_t)sqlite3_column_int64(select, 6);
    info->working_ns = (uint64_t)sqlite3_column_int64(select, 11);
}

/* Whether the database has the profile tables (a store that never ran has
 * none). */
static bool has_tables(sqlite3 *database)
{
    sqlite3_stmt *select;
    if (sqlite3_prepare_v2(database, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'", -1,
                           &select, NULL) != SQLITE_OK)
        return false;
    bool has = sqlite3_step(select) == SQLITE_ROW;
    sqlite3_finalize(select);
    if (has)
        add_missing_columns(database);
    return has;
}

bool profile_each_run(struct evlog *log, void (*visit)(void *context, const struct profile_run_info *info),
                      void *context, struct profile_error *error)
{
    sqlite3 *database = evlog_database(log);
    if (!has_tables(database))
        return true;
    char sql[sizeof runs_query + 32];
    snprintf(sql, sizeof sql, "%s ORDER BY r.id", runs_query);
    sqlite3_stmt *select;
    if (!prepare(database, sql, &select, error))
        return false;
    int status;
    while ((status = sqlite3_step(select)) == SQLITE_ROW) {
        struct profile_run_info info;
        read_run_info(select, &info);
        visit(context, &info);
    }
    sqlite3_finalize(select);
    if (status != SQLITE_DONE) {
        set_error(error, "profile: cannot list runs: %s", sqlite3_errmsg(database));
        return false;
    }
    return true;
}

int64_t profile_last_run(struct evlog *log)
{
    sqlite3 *database = evlog_database(log);
    if (!has_tables(database))
        return 0;
    sqlite3_stmt *select;
    int64_t id = 0;
    if (sqlite3_prepare_v2(database, "SELECT max(id) FROM runs", -1, &select, NULL) != SQLITE_OK)
        return 0;
    if (sqlite3_step(select) == SQLITE_ROW)
        id = sqlite3_column_int64(select, 0);
    sqlite3_finalize(select);
    return id;
}

static bool find_run(struct evlog *log, int64_t run_id, struct profile_run_info *info, struct profile_error *error)
{
    sqlite3 *database = evlog_database(log);
    if (!has_tables(database)) {
        set_error(error, "store %s has no profile runs yet", evlog_directory(log));
        return false;
    }
    char sql[sizeof runs_query + 32];
    snprintf(sql, sizeof sql, "%s WHERE r.id = ?1", runs_query);
    sqlite3_stmt *select;
    if (!prepare(database, sql, &select, error))
        return false;
    sqlite3_bind_int64(select, 1, run_id);
    bool found = sqlite3_step(select) == SQLITE_ROW;
    if (found)
        read_run_info(select, info);
    else
        set_error(error, "store %s has no run %lld (:runs lists them)", evlog_directory(log), (long long)run_id);
    sqlite3_finalize(select);
    return found;
}

/* ---- summaries ------------------------------------------------------------------ */

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values. */
static uint64_t percentile(const uint64_t *sorted, uint64_t count, unsigned percent)
{
    if (!count)
        return 0;
    uint64_t rank = (count * percent + 99) / 100;
    return sorted[rank ? rank - 1 : 0];
}

static void note_slow(struct profile_summary *summary, uint64_t event, uint64_t wall, uint64_t steps)
{
    size_t count = summary->slowest_count;
    if (count == PROFILE_SLOWEST && summary->slowest[count - 1].wall_ns >= wall)
        return;
    size_t at = count < PROFILE_SLOWEST ? count : PROFILE_SLOWEST - 1;
    while (at > 0 && summary->slowest[at - 1].wall_ns < wall) {
        summary->slowest[at] = summary->slowest[at - 1];
        at--;
    }
    summary->slowest[at] = (struct profile_slow_event){ event, wall, steps };
    if (count < PROFILE_SLOWEST)
        summary->slowest_count++;
}

static uint64_t count_spans(sqlite3 *database, int64_t run_id)
{
    sqlite3_stmt *select;
    uint64_t count = 0;
    if (sqlite3_prepare_v2(database, "SELECT count(*) FROM spans WHERE run = ?1", -1, &select, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_int64(select, 1, run_id);
    if (sqlite3_step(select) == SQLITE_ROW)
        count = (uint64_t)sqlite3_column_int64(select, 0);
    sqlite3_finalize(select);
    return count;
}

/* Read every row's metrics into columns[metric][i]. */
static bool read_metrics(sqlite3 *database, int64_t run_id, uint64_t count, uint64_t *columns[],
                         struct profile_summary *summary, struct profile_error *error)
{
    sqlite3_stmt *select;
    if (!prepare(database,
                 "SELECT event, " METRIC_COLUMNS " FROM profile WHERE run = ?1 ORDER BY event",
                 &select, error))
        return false;
    sqlite3_bind_int64(select, 1, run_id);
    uint64_t row = 0;
    int status;
    while ((status = sqlite3_step(select)) == SQLITE_ROW && row < count) {
        for (int m = 0; m < PROFILE_METRIC_COUNT; m++) {
            uint64_t value = (uint64_t)sqlite3_column_int64(select, m + 1);
            columns[m][row] = value;
            summary->metrics[m].total += value;
        }
        note_slow(summary, (uint64_t)sqlite3_column_int64(select, 0), columns[PROFILE_WALL_NS][row],
                  columns[PROFILE_STEPS][row]);
        row++;
    }
    sqlite3_finalize(select);
    summary->count = row;
    if (status != SQLITE_DONE && status != SQLITE_ROW) {
        set_error(error, "profile: cannot read run %lld: %s", (long long)run_id, sqlite3_errmsg(database));
        return false;
    }
    return true;
}

/* The STM rows of a run, if it has any (older stores have no tables). */
static bool summarize_stm(sqlite3 *database, int64_t run_id, struct profile_stm_summary *stm,
                          struct profile_error *error)
{
    sqlite3_stmt *select = NULL;
    if (sqlite3_prepare_v2(database,
                           "SELECT attempts, reruns, conflict_shards, wasted_steps, parallel FROM stm_events "
                           "WHERE run = ?1",
                           -1, &select, NULL) != SQLITE_OK)
        return true; /* no such table: nothing ran under STM here */
    sqlite3_bind_int64(select, 1, run_id);
    int step;
    while ((step = sqlite3_step(select)) == SQLITE_ROW) {
        stm->events++;
        stm->attempts += (uint64_t)sqlite3_column_int64(select, 0);
        stm->reruns += (uint64_t)sqlite3_column_int64(select, 1);
        uint64_t conflicts = (uint64_t)sqlite3_column_int64(select, 2);
        for (uint64_t m = conflicts; m; m &= m - 1)
            stm->conflicts_by_shard[__builtin_ctzll(m)]++;
        stm->wasted_steps += (uint64_t)sqlite3_column_int64(select, 3);
        stm->parallel_events += sqlite3_column_int64(select, 4) != 0;
    }
    sqlite3_finalize(select);
    if (step != SQLITE_DONE) {
        set_error(error, "profile: cannot read the STM rows of run %lld: %s", (long long)run_id,
                  sqlite3_errmsg(database));
        return false;
    }
    if (sqlite3_prepare_v2(database, "SELECT count(*), sum(epochs), max(shards) FROM stm_batches WHERE run = ?1", -1,
                           &select, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(select, 1, run_id);
        if (sqlite3_step(select) == SQLITE_ROW) {
            stm->batches = (uint64_t)sqlite3_column_int64(select, 0);
            stm->epochs = (uint64_t)sqlite3_column_int64(select, 1);
            stm->shards = (uint64_t)sqlite3_column_int64(select, 2);
        }
        sqlite3_finalize(select);
    }
    /* (a read-only store from before these columns has none: left zero) */
    if (sqlite3_prepare_v2(database,
                           "SELECT max(workers), sum(epoch_ns), sum(running_ns), sum(committing_ns), sum(finish_ns), "
                           "sum(serial_ns), sum(copying_ns) FROM stm_batches WHERE run = ?1",
                           -1, &select, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(select, 1, run_id);
        if (sqlite3_step(select) == SQLITE_ROW) {
            stm->time.workers = (uint32_t)sqlite3_column_int64(select, 0);
            stm->time.epoch_ns = (uint64_t)sqlite3_column_int64(select, 1);
            stm->time.running_ns = (uint64_t)sqlite3_column_int64(select, 2);
            stm->time.committing_ns = (uint64_t)sqlite3_column_int64(select, 3);
            stm->time.finish_ns = (uint64_t)sqlite3_column_int64(select, 4);
            stm->time.serial_ns = (uint64_t)sqlite3_column_int64(select, 5);
            stm->time.copying_ns = (uint64_t)sqlite3_column_int64(select, 6);
        }
        sqlite3_finalize(select);
    }
    return true;
}

/* Sort `values` and fill `d` from them. */
static void distribute(uint64_t *values, uint64_t count, struct profile_distribution *d)
{
    if (count)
        qsort(values, count, sizeof(uint64_t), compare_u64);
    d->total = 0;
    for (uint64_t i = 0; i < count; i++)
        d->total += values[i];
    d->p50 = percentile(values, count, 50);
    d->p90 = percentile(values, count, 90);
    d->p99 = percentile(values, count, 99);
    d->max = count ? values[count - 1] : 0;
}

/* The spawn rows of a run, if it has any (older stores have no table). */
static bool summarize_spawns(sqlite3 *database, int64_t run_id, struct profile_spawn_summary *spawns,
                             struct profile_error *error)
{
    sqlite3_stmt *select = NULL;
    if (sqlite3_prepare_v2(database,
                           "SELECT start_ns, run_ns, bytes_back, dedup_lookups, dedup_hits, result = 'timeout' "
                           "FROM spawns WHERE run = ?1",
                           -1, &select, NULL) != SQLITE_OK)
        return true; /* no such table: a store from before it */
    sqlite3_bind_int64(select, 1, run_id);
    uint64_t *starts = NULL, *runs = NULL;
    size_t capacity = 0;
    int step;
    bool ok = true;
    while (ok && (step = sqlite3_step(select)) == SQLITE_ROW) {
        if (spawns->spawns == capacity) {
            capacity = capacity ? 2 * capacity : 256;
            uint64_t *more_starts = realloc(starts, capacity * sizeof *starts);
            if (more_starts)
                starts = more_starts;
            uint64_t *more_runs = more_starts ? realloc(runs, capacity * sizeof *runs) : NULL;
            if (more_runs)
                runs = more_runs;
            if (!more_starts || !more_runs) {
                set_error(error, "out of memory summarizing the spawns of run %lld", (long long)run_id);
                ok = false;
                break;
            }
        }
        starts[spawns->spawns] = (uint64_t)sqlite3_column_int64(select, 0);
        runs[spawns->spawns] = (uint64_t)sqlite3_column_int64(select, 1);
        spawns->spawns++;
        spawns->bytes_back += (uint64_t)sqlite3_column_int64(select, 2);
        spawns->dedup_lookups += (uint64_t)sqlite3_column_int64(select, 3);
        spawns->dedup_hits += (uint64_t)sqlite3_column_int64(select, 4);
        spawns->timeouts += sqlite3_column_int64(select, 5) != 0;
    }
    sqlite3_finalize(select);
    if (ok && step != SQLITE_DONE) {
        set_error(error, "profile: cannot read the spawn rows of run %lld: %s", (long long)run_id,
                  sqlite3_errmsg(database));
        ok = false;
    }
    if (ok) {
        distribute(starts, spawns->spawns, &spawns->start_ns);
        distribute(runs, spawns->spawns, &spawns->run_ns);
    }
    free(starts);
    free(runs);
    return ok;
}

bool profile_summarize(struct evlog *log, int64_t run_id, struct profile_summary *summary,
                       struct profile_error *error)
{
    memset(summary, 0, sizeof *summary);
    if (!find_run(log, run_id, &summary->run, error))
        return false;
    sqlite3 *database = evlog_database(log);
    uint64_t count = summary->run.events;
    uint64_t *columns[PROFILE_METRIC_COUNT] = { 0 };
    bool ok = true;
    for (int m = 0; m < PROFILE_METRIC_COUNT && ok; m++)
        ok = (columns[m] = malloc((count ? count : 1) * sizeof(uint64_t))) != NULL;
    if (!ok)
        set_error(error, "out of memory summarizing %llu events", (unsigned long long)count);
    ok = ok && read_metrics(database, run_id, count, columns, summary, error);
    for (int m = 0; ok && m < PROFILE_METRIC_COUNT; m++) {
        qsort(columns[m], summary->count, sizeof(uint64_t), compare_u64);
        struct profile_distribution *d = &summary->metrics[m];
        d->p50 = percentile(columns[m], summary->count, 50);
        d->p90 = percentile(columns[m], summary->count, 90);
        d->p99 = percentile(columns[m], summary->count, 99);
        d->max = summary->count ? columns[m][summary->count - 1] : 0;
    }
    for (int m = 0; m < PROFILE_METRIC_COUNT; m++)
        free(columns[m]);
    summary->spans = ok ? count_spans(database, run_id) : 0;
    return ok && summarize_stm(database, run_id, &summary->stm, error) &&
           summarize_spawns(database, run_id, &summary->spawns, error);
}

/* ---- exports ---------------------------------------------------------------------- */

/* Write nanoseconds as microseconds with three decimals, exactly. */
static void write_microseconds(FILE *file, uint64_t nanoseconds)
{
    fprintf(file, "%llu.%03llu", (unsigned long long)(nanoseconds / 1000), (unsigned long long)(nanoseconds % 1000));
}

/* A JSON string body: quotes, backslashes and control characters escaped. */
static void write_json_text(FILE *file, const char *text)
{
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\')
            fprintf(file, "\\%c", *c);
        else if (*c < 0x20)
            fprintf(file, "\\u%04x", *c);
        else
            fputc(*c, file);
    }
}

/* Finish an export: commit the file when everything went well, else leave
 * whatever was at the path as it was. */
static bool close_export(struct atomic_file *file, bool ok, struct profile_error *error)
{
    if (!ok) {
        atomic_file_abandon(file);
        return false;
    }
    char why[300];
    if (atomic_file_commit(file, why, sizeof why))
        return true;
    set_error(error, "%s", why);
    return false;
}

static void write_trace_header(FILE *file, const struct profile_run_info *info)
{
    fprintf(file, "{\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"nocklab_run\":%lld,\"kind\":\"", (long long)info->id);
    write_json_text(file, info->kind);
    fputs("\",\"note\":\"", file);
    write_json_text(file, info->note);
    fputs("\"},\n\"traceEvents\":[\n", file);
    fprintf(file, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"nocklab run %lld (",
            (long long)info->id);
    write_json_text(file, info->kind);
    fputs(")\"}},\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"events\"}}", file);
    fputs(",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":2,\"args\":{\"name\":\"machine "
          "(collections, copy-out, commits)\"}}",
          file);
}

/* A slice on the "machine" track (tid 2): what ran besides Nock. */
static void write_machine_slice(FILE *file, const char *name, uint64_t start_ns, uint64_t duration_ns,
                                unsigned long long event)
{
    fprintf(file, ",\n{\"name\":\"%s\",\"cat\":\"machine\",\"ph\":\"X\",\"ts\":", name);
    write_microseconds(file, start_ns);
    fputs(",\"dur\":", file);
    write_microseconds(file, duration_ns);
    fprintf(file, ",\"pid\":1,\"tid\":2,\"args\":{\"event\":%llu}}", event);
}

/* A counter track sample ("ph":"C"): Perfetto draws one track per name. */
static void write_counter(FILE *file, const char *name, uint64_t at_ns, const char *series, unsigned long long value)
{
    fprintf(file, ",\n{\"name\":\"%s\",\"ph\":\"C\",\"ts\":", name);
    write_microseconds(file, at_ns);
    fprintf(file, ",\"pid\":1,\"args\":{\"%s\":%llu}}", series, value);
}

/* Per event: its slice (tid 1, every metric in args), counter samples
 * (steps, bytes, dedup hits), and on the machine track (tid 2) the home
 * collection just before it, then its scratch collections and copy-out at
 * its end (they are measured as totals, so placed where they mostly fall:
 * copy-out last, collections before it).  The events of a batch share one
 * commit wait (the same value in each row): one slice after the batch's
 * last event. */
static bool write_trace_events(FILE *file, sqlite3 *database, int64_t run_id, uint64_t *written,
                               struct profile_error *error)
{
    sqlite3_stmt *select;
    if (!prepare(database, "SELECT event, start_ns, " METRIC_COLUMNS " FROM profile WHERE run = ?1 ORDER BY event",
                 &select, error))
        return false;
    sqlite3_bind_int64(select, 1, run_id);
    int status;
    uint64_t commit_at = 0, commit_wait = 0;
    unsigned long long commit_event = 0;
    while ((status = sqlite3_step(select)) == SQLITE_ROW) {
        unsigned long long v[2 + PROFILE_METRIC_COUNT];
        for (int i = 0; i < 2 + PROFILE_METRIC_COUNT; i++)
            v[i] = (unsigned long long)sqlite3_column_int64(select, i);
        const unsigned long long *m = v + 2;
        uint64_t start = v[1], end = v[1] + m[PROFILE_WALL_NS];
        fprintf(file, ",\n{\"name\":\"event %llu\",\"cat\":\"event\",\"ph\":\"X\",\"ts\":", v[0]);
        write_microseconds(file, start);
        fputs(",\"dur\":", file);
        write_microseconds(file, m[PROFILE_WALL_NS]);
        fprintf(file, ",\"pid\":1,\"tid\":1,\"args\":{\"event\":%llu", v[0]);
        for (int i = 1; i < PROFILE_METRIC_COUNT; i++)
            fprintf(file, ",\"%s\":%llu", metric_names[i], m[i]);
        fputs("}}", file);
        write_counter(file, "steps", start, "steps", m[PROFILE_STEPS]);
        write_counter(file, "bytes allocated", start, "bytes", m[PROFILE_BYTES_ALLOCATED]);
        write_counter(file, "copy-out bytes", start, "bytes", m[PROFILE_COPY_OUT_BYTES]);
        write_counter(file, "dedup hits", start, "hits", m[PROFILE_DEDUP_HITS]);
        if (m[PROFILE_HOME_COLLECT_NS])
            write_machine_slice(file, "home collection",
                                start > m[PROFILE_HOME_COLLECT_NS] ? start - m[PROFILE_HOME_COLLECT_NS] : 0,
                                m[PROFILE_HOME_COLLECT_NS], v[0]);
        uint64_t copy_start = end > m[PROFILE_COPY_OUT_NS] ? end - m[PROFILE_COPY_OUT_NS] : start;
        if (m[PROFILE_SCRATCH_COLLECTIONS])
            write_machine_slice(file, "scratch collections",
                                copy_start > m[PROFILE_SCRATCH_COLLECT_NS] ? copy_start - m[PROFILE_SCRATCH_COLLECT_NS]
                                                                          : start,
                                m[PROFILE_SCRATCH_COLLECT_NS], v[0]);
        if (m[PROFILE_COPY_OUT_NS])
            write_machine_slice(file, "copy-out", copy_start, m[PROFILE_COPY_OUT_NS], v[0]);
        if (m[PROFILE_COMMIT_WAIT_NS] != commit_wait && commit_wait)
            write_machine_slice(file, "commit", commit_at, commit_wait, commit_event);
        commit_wait = m[PROFILE_COMMIT_WAIT_NS];
        commit_at = end;
        commit_event = v[0];
        (*written)++;
    }
    if (commit_wait)
        write_machine_slice(file, "commit", commit_at, commit_wait, commit_event);
    sqlite3_finalize(select);
    if (status != SQLITE_DONE) {
        set_error(error, "profile: cannot read run %lld: %s", (long long)run_id, sqlite3_errmsg(database));
        return false;
    }
    return true;
}

static bool write_trace_spans(FILE *file, sqlite3 *database, int64_t run_id, struct profile_error *error)
{
    sqlite3_stmt *select;
    if (!prepare(database,
                 "SELECT s.event, p.start_ns + s.offset_ns, s.duration_ns, s.name FROM spans s "
                 "JOIN profile p ON p.run = s.run AND p.event = s.event WHERE s.run = ?1 ORDER BY s.event, s.offset_ns",
                 &select, error))
        return false;
    sqlite3_bind_int64(select, 1, run_id);
    int status;
    while ((status = sqlite3_step(select)) == SQLITE_ROW) {
        fputs(",\n{\"name\":\"", file);
        write_json_text(file, (const char *)sqlite3_column_text(select, 3));
        fputs("\",\"cat\":\"bout\",\"ph\":\"X\",\"ts\":", file);
        write_microseconds(file, (uint64_t)sqlite3_column_int64(select, 1));
        fputs(",\"dur\":", file);
        write_microseconds(file, (uint64_t)sqlite3_column_int64(select, 2));
        fprintf(file, ",\"pid\":1,\"tid\":1,\"args\":{\"event\":%llu}}",
                (unsigned long long)sqlite3_column_int64(select, 0));
    }
    sqlite3_finalize(select);
    if (status != SQLITE_DONE) {
        set_error(error, "profile: cannot read the spans of run %lld: %s", (long long)run_id,
                  sqlite3_errmsg(database));
        return false;
    }
    return true;
}

bool profile_export_trace(struct evlog *log, int64_t run_id, const char *path, uint64_t *events_written,
                          struct profile_error *error)
{
    struct profile_run_info info;
    *events_written = 0;
    if (!find_run(log, run_id, &info, error))
        return false;
    char why[300];
    struct atomic_file *export = atomic_file_begin(path, why, sizeof why);
    if (!export) {
        set_error(error, "%s", why);
        return false;
    }
    FILE *file = atomic_file_stream(export);
    write_trace_header(file, &info);
    bool ok = write_trace_events(file, evlog_database(log), run_id, events_written, error) &&
              write_trace_spans(file, evlog_database(log), run_id, error);
    fputs("\n]}\n", file);
    return close_export(export, ok, error);
}

bool profile_export_csv(struct evlog *log, int64_t run_id, const char *path, uint64_t *events_written,
                        struct profile_error *error)
{
    struct profile_run_info info;
    *events_written = 0;
    if (!find_run(log, run_id, &info, error))
        return false;
    sqlite3 *database = evlog_database(log);
    sqlite3_stmt *select;
    if (!prepare(database,
                 "SELECT p.event, p.start_ns, " METRIC_COLUMNS_OF_P ", "
                 "(SELECT count(*) FROM spans s WHERE s.run = p.run AND s.event = p.event), "
                 "(SELECT coalesce(sum(duration_ns), 0) FROM spans s WHERE s.run = p.run AND s.event = p.event) "
                 "FROM profile p WHERE p.run = ?1 ORDER BY p.event",
                 &select, error))
        return false;
    char why[300];
    struct atomic_file *export = atomic_file_begin(path, why, sizeof why);
    if (!export) {
        sqlite3_finalize(select);
        set_error(error, "%s", why);
        return false;
    }
    FILE *file = atomic_file_stream(export);
    sqlite3_bind_int64(select, 1, run_id);
    fputs("event,start_ns,wall_ns,cpu_ns,steps,bytes_allocated,copy_out_bytes,dedup_lookups,dedup_hits,"
          "scratch_collections,scratch_collect_ns,copy_out_ns,home_collect_ns,commit_wait_ns,dirty_pages,"
          "write_faults,bout_spans,bout_ns\n",
          file);
    int status;
    while ((status = sqlite3_step(select)) == SQLITE_ROW) {
        for (int i = 0; i < 4 + PROFILE_METRIC_COUNT; i++)
            fprintf(file, i ? ",%llu" : "%llu", (unsigned long long)sqlite3_column_int64(select, i));
        fputc('\n', file);
        (*events_written)++;
    }
    sqlite3_finalize(select);
    bool ok = status == SQLITE_DONE;
    if (!ok)
        set_error(error, "profile: cannot read run %lld: %s", (long long)run_id, sqlite3_errmsg(database));
    return close_export(export, ok, error);
}

/* ---- one event across runs ------------------------------------------------------ */

bool profile_each_row_of_event(struct evlog *log, uint64_t event_number,
                               void (*visit)(void *context, const struct profile_event_row *row), void *context,
                               struct profile_error *error)
{
    sqlite3 *database = evlog_database(log);
    sqlite3_stmt *select = NULL;
    /* No profile table yet (a store with no runs) is no rows. */
    if (!has_tables(database))
        return true;
    if (!prepare(database,
                 "SELECT p.run, r.kind, " METRIC_COLUMNS_OF_P " FROM profile p JOIN runs r ON r.id = p.run "
                 "WHERE p.event = ?1 ORDER BY p.run",
                 &select, error))
        return false;
    sqlite3_bind_int64(select, 1, (sqlite3_int64)event_number);
    int status;
    while ((status = sqlite3_step(select)) == SQLITE_ROW) {
        struct profile_event_row row = { .run = sqlite3_column_int64(select, 0) };
        copy_text(row.kind, sizeof row.kind, sqlite3_column_text(select, 1));
        for (int m = 0; m < PROFILE_METRIC_COUNT; m++)
            row.metrics[m] = (uint64_t)sqlite3_column_int64(select, 2 + m);
        visit(context, &row);
    }
    if (status != SQLITE_DONE)
        set_error(error, "profile: cannot read the rows of event %llu: %s", (unsigned long long)event_number,
                  sqlite3_errmsg(database));
    sqlite3_finalize(select);
    return status == SQLITE_DONE;
}

/* ---- snapshots ------------------------------------------------------------------ */

bool profile_record_snapshot(struct evlog *log, const struct profile_run *run,
                             const struct snapshot_save_report *report, struct profile_error *error)
{
    if (!ensure_tables(log, error))
        return false;
    sqlite3 *database = evlog_database(log);
    sqlite3_stmt *statement;
    if (!prepare(database,
                 "INSERT INTO snapshots VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                 "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                 &statement, error))
        return false;
    if (run)
        sqlite3_bind_int64(statement, 1, run->id);
    sqlite3_bind_int64(statement, 2, (int64_t)report->event_number);
    sqlite3_bind_text(statement, 3, snapshot_kind_name(report->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 4, report->file, -1, SQLITE_TRANSIENT);
    const uint64_t numbers[] = { report->pages_written, report->bytes,    report->serialize_ns, report->write_ns,
                                 report->directory_ns,  report->fsync_ns, report->total_ns };
    for (int i = 0; i < 7; i++)
        sqlite3_bind_int64(statement, 5 + i, (int64_t)numbers[i]);
    bool ok = sqlite3_step(statement) == SQLITE_DONE;
    if (!ok)
        set_error(error, "profile: cannot record the snapshot of event %llu: %s",
                  (unsigned long long)report->event_number, sqlite3_errmsg(database));
    sqlite3_finalize(statement);
    return ok;
}
