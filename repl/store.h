/* store.h -- a kernel store: its event log, the live kernel built from it,
 * and the runs that apply, generate and replay events.
 *
 * A store is a directory (nocklab --store DIR, default ./nocklab-store)
 * holding events.sqlite (snapshots/evlog.h).  This file is the loop that
 * ties the layers together, one event at a time:
 *
 *   apply the event to the kernel (interp/kernel.h)
 *   append it to the log and record its profile row, in the open batch
 *   when no more events are waiting, or the batch is full: commit, then
 *   release the batch's effects -- show them, and submit its spawns to the
 *   backend, whose outcomes become events in turn
 *
 * and the replay that rebuilds a kernel from the boot kernel (or the
 * newest snapshot, snapshots/snapshot.h) and the log, checking every
 * event's mug.  Runs take a snapshot every N events when asked to.
 *
 * Nothing here prints: what the user sees goes through a store_listener,
 * and failures come back as a store_error.
 */
#ifndef NOCKLAB_STORE_H
#define NOCKLAB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/kernel.h"
#include "interp/noun.h"
#include "snapshots/evlog.h"
#include "snapshots/snapshot.h"

#define STORE_DEFAULT_DIRECTORY "nocklab-store"

/* Why something failed.  `event_number` names the event at fault (0 when
 * none); `trace` is a crash trace in home when an event crashed (else 0). */
struct store_error {
    uint64_t event_number;
    noun trace;
    char message[400];
};

/* Where an event came from, for whoever shows its effects. */
struct store_event_info {
    uint64_t number;
    bool is_outcome;        /* the outcome of a spawn: */
    uint64_t source_event;  /* ... of effect source_effect of this event */
    uint32_t source_effect;
};

/* What a store tells its user while it works; every member may be NULL. */
struct store_listener {
    void *context;
    /* An event was committed and these are its effects (home; valid
     * during the call). */
    void (*effects)(void *context, const struct store_event_info *event, noun effects);
    /* Something worth saying that doesn't stop the work: a spawn that gave
     * no event, an outcome the kernel refused. */
    void (*notice)(void *context, const char *text);
    /* Progress of a long run: `done` of `total` events after `seconds`.
     * Called a few times a second, and once more at the end with `final`
     * set: done < total then says where an interrupted or failed run
     * stopped. */
    void (*progress)(void *context, const char *what, uint64_t done, uint64_t total, double seconds, bool final);
    /* %slog from the kernel or a spawn. */
    void (*slog)(void *context, noun clue);
    /* The evaluator that will apply the events from now on (a replay's
     * own kernel, or the live one), and NULL when the work ends: for a
     * sampling profiler to follow. */
    void (*evaluator)(void *context, struct nock_context *nock);
};

struct store;

/* Open (with `create`, make) the store in `directory`, with kernels kept
 * in `home`.  The live kernel is not rebuilt yet: see store_recover. */
struct store *store_open(const char *directory, bool create, struct noun_home *home, struct store_error *error);
/* Close the store: ends the live run, if any. */
void store_close(struct store *store);
const char *store_directory(const struct store *store);
struct evlog *store_log(struct store *store);

/* Whether a kernel was booted in the store, and its name ("" if not). */
bool store_booted(const struct store *store);
const char *store_kernel_name(const struct store *store);
/* The live kernel: NULL until store_boot or store_recover. */
struct kernel *store_kernel(struct store *store);

/* Boot `kernel` (a noun in home) under `name` as event 0 of an empty
 * store. */
bool store_boot(struct store *store, const char *name, noun kernel, struct store_error *error);
/* Rebuild the live kernel, when it isn't built yet: load the newest valid
 * snapshot (files that fail are noticed and skipped), then replay the
 * events logged after it (checking mugs).  Records a replay run. */
bool store_recover(struct store *store, const struct store_listener *listener, struct store_error *error);

/* Apply one event (a noun in home) to the live kernel, then every event
 * its effects cause (spawn outcomes), each committed before its effects
 * are released.  Records each in the live run's profile.  False when the
 * event was refused (nothing logged) or the log failed. */
bool store_poke(struct store *store, noun event, const struct store_listener *listener, struct store_error *error);

/* The events of `sample`'s generator, seeded: apply and log `count` of
 * them (and the outcomes they cause) in batches, as a "gen" run. */
struct store_generate_result {
    uint64_t generated;     /* generated events applied */
    uint64_t last_event;    /* the number of the last event logged */
    uint32_t mug;           /* the kernel's mug after it */
    double seconds;
    int64_t run_id;
    /* Percentiles of the time between the loop taking one generated event
     * and the next: how long a new event waited for the loop (spawns run
     * inline on serial hold it up). */
    uint64_t gap_p50_ns, gap_p99_ns;
};
bool store_generate(struct store *store, const char *sample, uint64_t count, uint64_t seed,
                    const struct store_listener *listener, struct store_generate_result *result,
                    struct store_error *error);

/* Replay events through `to` (to = 0: all) into a kernel of its own (the
 * live one is left alone), checking each event's mug against the log;
 * events from `from` on are profiled, as a "replay" run.  It starts from
 * the newest valid snapshot before `from` (from = 0: the newest at or
 * before `to`), or from the boot kernel.  Stops at the first event that
 * doesn't match, with its number in the error. */
struct store_replay_result {
    uint64_t snapshot_event;            /* the snapshot started from; 0: none */
    uint64_t first_event, last_event;   /* the profiled range */
    uint64_t events;                    /* events applied */
    uint32_t mug;                       /* after last_event */
    double seconds;
    int64_t run_id;
};
bool store_replay(struct store *store, uint64_t from, uint64_t to, const struct store_listener *listener,
                  struct store_replay_result *result, struct store_error *error);

/* Run spawns on the backend called `name` (interp/backend.h) with
 * `workers` workers (0: its default) from now on, for live runs,
 * generation and replay alike; fork's children run `child_nice` nicer
 * than nocklab (0 to 19).  Refused while spawns are running.  A backend
 * that runs events (stm) makes the store apply events in parallel
 * batches (interp/stm.h), with the same log. */
bool store_set_backend(struct store *store, const char *name, unsigned workers, int child_nice,
                       struct store_error *error);
struct kernel_backend *store_backend(struct store *store);
unsigned store_workers(const struct store *store);
/* Ordered: spawn outcomes are applied in the order the spawns were made
 * (and batches are cut by count alone), so a generated log is the same,
 * byte for byte, under every backend.  Otherwise they apply as they
 * finish. */
void store_set_ordered(struct store *store, bool ordered);
bool store_ordered(const struct store *store);
/* Replay events 1..number from the boot kernel into a kernel of its own
 * (no profile run; the live kernel is left alone), checking mugs, and call
 * `visit` once with event `number`: the event (NOUN_NONE if it cannot be
 * shown), its effects and the kernel's mug after it.  The nouns are valid
 * during the call only. */
typedef void store_event_visitor(void *context, const struct store_event_info *event, noun event_noun,
                                 noun effects, uint32_t mug);
bool store_event(struct store *store, uint64_t number, const struct store_listener *listener,
                 store_event_visitor *visit, void *context, struct store_error *error);
/* ---- snapshots ------------------------------------------------------------ */

struct store_snapshot_options {
    enum snapshot_kind kind;   /* SNAPSHOT_NONE: whatever the store keeps */
    uint64_t every;            /* runs snapshot every this many events; 0: never */
    bool ignore;               /* rebuild kernels from the log alone */
};
/* Choose how the store snapshots.  Refused (nothing changed) when the
 * store keeps the other kind. */
bool store_use_snapshots(struct store *store, const struct store_snapshot_options *options,
                         struct store_error *error);
enum snapshot_kind store_snapshot_kind(const struct store *store);
/* Snapshot the live kernel now (nothing may be running). */
bool store_snapshot_save(struct store *store, struct snapshot_save_report *report, struct store_error *error);
/* Rebuild the live kernel from the snapshot of event `event_number` (0:
 * the newest valid one) and the events logged after it.  On failure the
 * live kernel is as it was. */
bool store_snapshot_load(struct store *store, uint64_t event_number, const struct store_listener *listener,
                         struct store_replay_result *result, struct store_error *error);
/* The snapshot files, each read and checked. */
bool store_snapshot_describe(struct store *store, struct snapshot_description *description,
                             struct store_error *error);

/* Ask the work now running to stop (its run then fails with
 * "interrupted").  Async-signal-safe. */
void store_interrupt(struct store *store);

#endif
