/* monitor.h -- the live numbers behind the panes, fed as the work runs.
 *
 * The store (repl/store.c) reports each event as it is applied, and the
 * state of its snapshot store and execution backend; the panes
 * (profiler/tui.h) read a consistent copy ten times a second.  There is
 * one monitor per process (monitor_process), like Redis's one `server`:
 * whoever does the work reports to it and whoever draws reads from it,
 * without being wired to each other.  Reporting costs one test of a flag
 * while nobody watches, and one short lock per event while the panes are
 * up.
 *
 * The store reports its snapshot kind when its snapshots are chosen and
 * each snapshot it saves (jam snapshots have no dirty pages: only a PMA
 * would call monitor_dirty_pages); until one is saved the snapshot pane
 * says "no snapshots".  The backend pane shows whatever backend reported
 * last.
 */
#ifndef NOCKLAB_MONITOR_H
#define NOCKLAB_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/kernel.h"
#include "interp/noun.h"
#include "interp/stm.h"

/* Events the panes keep for the latest-events list and the sparklines. */
#define MONITOR_RECENT 512

/* One event's costs, as it finished. */
struct monitor_event {
    uint64_t number;
    uint64_t finished_ns;     /* CLOCK_MONOTONIC (interp/clock.h) */
    uint64_t wall_ns, cpu_ns, steps, bytes_allocated, copy_out_bytes;
    uint64_t dedup_lookups, dedup_hits;
    uint64_t dirty_pages;     /* pages the event wrote (0 without a PMA) */
    uint64_t write_faults;    /* write faults that found them (0 without a PMA) */
};

/* The snapshot store, as it reports itself. */
struct monitor_snapshots {
    char kind[24];            /* "jam files", "pma"; "" = no snapshot store */
    uint64_t taken;           /* snapshots written so far */
    uint64_t event;           /* the last one's event number (the newest
                                 on disk while none was taken) */
    uint64_t pages, bytes, wall_ns; /* what the last one wrote, how long */
    uint64_t file_bytes;      /* size of the store's files now */
};

#define MONITOR_MAX_WORKERS 8

/* The execution backend, as it reports itself. */
struct monitor_backend {
    char name[16];            /* "serial", "fork", "threads", "stm" */
    uint32_t workers;         /* threads in the pool, or fork's children
                                 running; 0: spawns run inline */
    char doing[MONITOR_MAX_WORKERS][48]; /* what each worker runs, "" idle */
    uint64_t applying;        /* the event the store applies now */
    uint64_t queued;          /* spawns waiting for a worker */
    uint64_t in_flight;       /* spawns submitted, outcome not yet taken */
    uint64_t fork_children;   /* child processes running spawns */
    uint64_t spawns;          /* outcomes handed back so far */
    uint64_t stm_commits, stm_conflicts, stm_reruns;
    struct stm_time stm_time; /* where STM's time went */
};

/* What the panes draw: a copy taken under the monitor's lock. */
struct monitor_view {
    char activity[96];        /* "replaying events 1..5000", "done", ... */
    uint64_t events;          /* events reported since the run began */
    uint64_t done, total;     /* progress of the run (total 0: unknown) */
    double events_per_second; /* over the last second or so */
    uint64_t p50_wall_ns, p99_wall_ns, max_wall_ns; /* over the run */
    size_t recent_count;      /* recent[0] is the newest */
    struct monitor_event recent[MONITOR_RECENT];
    struct noun_dedup_stats dedup;
    uint64_t dedup_saved_in_run; /* bytes saved since the run began */
    struct monitor_snapshots snapshots;
    struct monitor_backend backend;
};

struct monitor;

/* The process's monitor (made on first use; NULL only if memory ran out). */
struct monitor *monitor_process(void);

/* Whether someone draws: reporters may skip work that only feeds panes. */
bool monitor_watched(const struct monitor *monitor);
void monitor_set_watched(struct monitor *monitor, bool watched);

/* A new run starts (clears the events and percentiles, keeps the rest). */
void monitor_begin_run(struct monitor *monitor, const char *activity, uint64_t total);
void monitor_set_activity(struct monitor *monitor, const char *activity);
void monitor_progress(struct monitor *monitor, uint64_t done, uint64_t total);
/* Reporters; each does nothing while nobody watches. */
void monitor_event(struct monitor *monitor, uint64_t number, const struct kernel_cost *cost);
/* The pages event `number` dirtied (a PMA store knows after the event);
 * attached to that event if it is the newest. */
void monitor_dirty_pages(struct monitor *monitor, uint64_t number, uint64_t pages);
/* The panes redraw ten times a second, so state that is not per event
 * (dedup table, backend, snapshots) need not be reported more often than
 * this: true at most once per MONITOR_STATE_PERIOD_NS while watched. */
#define MONITOR_STATE_PERIOD_NS 20000000u
bool monitor_state_due(struct monitor *monitor);
void monitor_dedup(struct monitor *monitor, const struct noun_dedup_stats *dedup);
void monitor_snapshots(struct monitor *monitor, const struct monitor_snapshots *snapshots);
void monitor_backend(struct monitor *monitor, const struct monitor_backend *backend);

/* A consistent copy of everything, for drawing. */
void monitor_read(struct monitor *monitor, struct monitor_view *view);

#endif
