/* profile.h -- per-event profiles: recording, summaries, exports.
 *
 * Every event of a live run, a generated run or a replay records one row:
 * when it started within the run, its wall and CPU time, Nock steps, bytes
 * allocated, copy-out bytes and dedup lookups and hits (struct kernel_cost),
 * plus one row per %bout span inside it, and one row per snapshot saved.
 * Rows live in the store's SQLite database beside the event log (tables
 * `runs`, `profile`, `spans`, `snapshots`, `spawns`, `stm_events`,
 * `stm_batches`;
 * docs/formats.md), so runs can be compared afterwards with nocklab or the
 * sqlite3 shell.
 *
 * Rows are written into the log's open transaction (evlog_begin), in
 * groups (profile_write), so a live run's profile rows commit with its
 * events; a replay, which appends no events, commits them with
 * profile_flush.
 *
 * Nothing here prints: summaries come back as data, exports go to files.
 */
#ifndef NOCKLAB_PROFILE_H
#define NOCKLAB_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/kernel.h"
#include "interp/stm.h"
#include "snapshots/evlog.h"
#include "snapshots/snapshot.h"

struct profile_error {
    char message[300];
};

/* ---- recording -------------------------------------------------------------- */

struct profile_run;

/* Start a run: `kind` is "live", "replay", "gen" or
 * "rebuild" (the replay that rebuilds a store's kernel when it is opened); `backend` the execution
 * backend's name; `note` a short free text (may be NULL).  Makes the
 * profile tables if the database has none yet. */
struct profile_run *profile_run_begin(struct evlog *log, const char *kind, const char *backend, const char *note,
                                      struct profile_error *error);
int64_t profile_run_id(const struct profile_run *run);
/* Nanoseconds (CLOCK_MONOTONIC) the run began at: record's start times are
 * measured from it. */
uint64_t profile_run_started_ns(const struct profile_run *run);
/* Record one event that began at `started_ns` (CLOCK_MONOTONIC). */
bool profile_record(struct profile_run *run, uint64_t event_number, uint64_t started_ns,
                    const struct kernel_cost *cost, struct profile_error *error);
/* Rows are kept in memory and inserted in groups.  profile_write inserts
 * those waiting into the open transaction (call it before committing a
 * batch of events, so their rows commit with them; `run` may be NULL);
 * profile_flush inserts them and commits. */
bool profile_write(struct profile_run *run, struct profile_error *error);
/* What the STM backend did for one event it committed, and for a batch
 * (tables `stm_events` and `stm_batches`, docs/formats.md); written into
 * the open transaction at once. */
bool profile_record_stm_event(struct profile_run *run, uint64_t event_number, const struct stm_event_stats *stats,
                              struct profile_error *error);
bool profile_record_stm_batch(struct profile_run *run, uint64_t first_event, const struct stm_batch_stats *stats,
                              struct profile_error *error);
/* The spawn whose outcome event `event_number` applied: where it ran and
 * what moving it cost (table `spawns`, docs/formats.md); written into the
 * open transaction at once. */
bool profile_record_spawn(struct profile_run *run, uint64_t event_number, const struct kernel_outcome *outcome,
                          struct profile_error *error);
/* Forget rows not yet inserted (their events were rolled back). */
void profile_discard(struct profile_run *run);
/* Commit the rows recorded so far (and anything else in the open
 * transaction). */
bool profile_flush(struct profile_run *run, struct profile_error *error);
/* Events first..last of the run waited `nanoseconds` for the commit that
 * covers them (their rows are written already): their rows get it with
 * the next write (profile_write, profile_flush, profile_run_end). */
void profile_note_commit_wait(struct profile_run *run, uint64_t first_event, uint64_t last_event,
                              uint64_t nanoseconds);
/* Stop the run's clock (later calls keep the first reading) and return
 * its wall time: what profile_run_end records, so a caller that reports
 * the run's speed says what :runs will say. */
uint64_t profile_run_stop(struct profile_run *run);
/* Finish the run: store its totals and `status` ("done", or what went
 * wrong), commit, and free it.  `run` may be NULL. */
bool profile_run_end(struct profile_run *run, const char *status, struct profile_error *error);

/* Record a snapshot saved during `run` (NULL: outside any run) in the
 * `snapshots` table: its event, kind, file, size and the time of each
 * phase.  Inserted into the open transaction, if any. */
bool profile_record_snapshot(struct evlog *log, const struct profile_run *run,
                             const struct snapshot_save_report *report, struct profile_error *error);

/* ---- reading ------------------------------------------------------------------ */

/* One run, as :runs lists it. */
struct profile_run_info {
    int64_t id;
    char kind[16];
    char backend[16];
    char started_at[32];   /* UTC, ISO 8601 */
    char note[128];
    char status[96];
    uint64_t first_event, last_event, events;
    uint64_t wall_ns;      /* from the run's start to its end (or last row) */
    uint64_t working_ns;   /* its events' wall, home collection and commit
                              time: wall_ns less the time spent idle */
};

/* Call `visit` for each run, oldest first.  False on a database error. */
bool profile_each_run(struct evlog *log, void (*visit)(void *context, const struct profile_run_info *info),
                      void *context, struct profile_error *error);
/* The newest run's id, 0 when there is none. */
int64_t profile_last_run(struct evlog *log);

/* The metrics of a profile row, in the order the summary lists them. */
enum profile_metric {
    PROFILE_WALL_NS,
    PROFILE_CPU_NS,
    PROFILE_STEPS,
    PROFILE_BYTES_ALLOCATED,
    PROFILE_COPY_OUT_BYTES,
    PROFILE_DEDUP_LOOKUPS,
    PROFILE_DEDUP_HITS,
    PROFILE_SCRATCH_COLLECTIONS,  /* what the machine did besides Nock: */
    PROFILE_SCRATCH_COLLECT_NS,
    PROFILE_COPY_OUT_NS,
    PROFILE_HOME_COLLECT_NS,
    PROFILE_COMMIT_WAIT_NS,
    PROFILE_DIRTY_PAGES,          /* a PMA store's home pages first written */
    PROFILE_WRITE_FAULTS,
    PROFILE_METRIC_COUNT
};
/* The column name of a metric ("wall_ns", ...). */
const char *profile_metric_name(enum profile_metric metric);

/* One event's profile row in one run, for looking at an event across
 * runs (:event). */
struct profile_event_row {
    int64_t run;
    char kind[16];
    uint64_t metrics[PROFILE_METRIC_COUNT];
};
/* Call `visit` for each run's row of event `event_number`, oldest run
 * first.  False on a database error. */
bool profile_each_row_of_event(struct evlog *log, uint64_t event_number,
                               void (*visit)(void *context, const struct profile_event_row *row), void *context,
                               struct profile_error *error);

/* Percentiles are nearest-rank over the run's events. */
struct profile_distribution {
    uint64_t total, p50, p90, p99, max;
};

#define PROFILE_SLOWEST 10

struct profile_slow_event {
    uint64_t event_number;
    uint64_t wall_ns;
    uint64_t steps;
};

/* Totals of a run's STM rows (all zero when it ran on another backend). */
struct profile_stm_summary {
    uint64_t events, attempts, reruns, wasted_steps, parallel_events;
    uint64_t batches, epochs, shards;
    uint64_t conflicts_by_shard[STM_MAX_SHARDS]; /* events that re-ran for that shard */
    struct stm_time time;
};

/* A run's `spawns` rows: how many, how long each took to start (fork,
 * or handing it to a worker) and to run, and what came back. */
struct profile_spawn_summary {
    uint64_t spawns, timeouts;
    struct profile_distribution start_ns, run_ns;
    uint64_t bytes_back, dedup_lookups, dedup_hits;
};

struct profile_summary {
    struct profile_run_info run;
    struct profile_stm_summary stm;
    struct profile_spawn_summary spawns;
    uint64_t count;
    struct profile_distribution metrics[PROFILE_METRIC_COUNT];
    size_t slowest_count;
    struct profile_slow_event slowest[PROFILE_SLOWEST]; /* slowest first */
    uint64_t spans;        /* %bout spans recorded */
};

/* Summarize run `run_id`.  False (with a message) when there is no such run. */
bool profile_summarize(struct evlog *log, int64_t run_id, struct profile_summary *summary,
                       struct profile_error *error);

/* ---- exports -------------------------------------------------------------------- */

/* Chrome trace JSON (Perfetto and chrome://tracing open it): one complete
 * ("X") span per event named "event N", with its metrics as args, and a
 * nested span "%bout" for each %bout-hinted stretch inside it.  Returns
 * the number of event spans written through *events_written. */
bool profile_export_trace(struct evlog *log, int64_t run_id, const char *path, uint64_t *events_written,
                          struct profile_error *error);
/* CSV: a header line, then one line per event with every metric. */
bool profile_export_csv(struct evlog *log, int64_t run_id, const char *path, uint64_t *events_written,
                        struct profile_error *error);

#endif
