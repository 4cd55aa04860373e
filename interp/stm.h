/* stm.h -- the STM backend: a batch of events run in parallel, with the
 * outcome of running them one by one.
 *
 * The scheme is Block-STM (Gelashvili et al., 2022) with the kernel's
 * declared shards as the unit of memory (docs/stm.md tells it with a worked
 * example):
 *
 *   - Shards: a kernel declares the axes of independent parts of its state
 *     with [%shards axis ...] at axis 14 (docs/kernels.md).  The cells on
 *     the paths from the root down to the shard roots are the spine;
 *     everything else outside the shards (the battery, the declaration,
 *     other state) is "the rest".
 *   - Multi-version memory: each shard has a version per event of the batch
 *     that wrote it.  An event runs speculatively, on some worker, against
 *     the committed state with the shards that earlier events not yet
 *     committed wrote replaced by their newest versions.
 *   - Tracking: the event runs in a read-tracking evaluator (nock.h,
 *     struct nock_tracker).  A walk through a shard root reads that shard;
 *     a noun looked at as a whole (equality, a formula, %memo, the effects
 *     and written values themselves) reads every shard whose root or spine
 *     cell it holds.  Writes are the shards whose root differs between the
 *     assembled kernel and the result; any other difference on the spine
 *     or in the rest writes (and reads) everything.
 *   - Commit, in event order, by whichever worker holds the commit lock
 *     (held only to validate and merge; runs happen outside it): an event
 *     whose every read saw the version committed by then commits;
 *     otherwise its run is thrown away and it is run again at the commit
 *     point, on the committed versions, where it cannot be wrong.  An event
 *     at the commit point that nobody runs is run there by the first free
 *     worker; one whose worker is slow (preempted, on a shared machine) is
 *     run there by another as well, and the first run to finish counts.
 *     Committing makes its versions of the shards it wrote the committed
 *     ones (the state itself is made once, at the end of the epoch); its
 *     effects stand as computed.  An event that writes everything ends the
 *     epoch: what follows runs on its state, with the shards that state
 *     declares.
 *   - Dependency estimate: the backend watches how often commits find stale
 *     reads (in parallel) or how often neighbouring events write the same
 *     shard (in serial), and runs whole stretches of the batch serially,
 *     with plain kernel_apply, while conflicts would waste the second core.
 *     A kernel with no shards is always run that way.
 *
 * Memory: events are cued into each worker's own scratch; what an attempt
 * produces (written shards, effects, the views it ran on) goes to that
 * worker's batch region, readable by the others and dropped at the end of
 * an epoch (pages kept).  Home is written only by the calling thread,
 * which commits: in a routed epoch it moves results that are ready there
 * while the other workers still run, and the rest when the epoch ends.
 * (A result moved early that a stale run's re-run replaces is garbage in
 * home until its next collection.)
 *
 * Nothing here prints or exits.
 */
#ifndef NOCKLAB_STM_H
#define NOCKLAB_STM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/kernel.h"

/* Shards beyond this many make a declaration the backend ignores (the
 * kernel then runs serially). */
#define STM_MAX_SHARDS 64

/* One event of a batch: its jam. */
struct stm_event {
    const uint8_t *jam;
    size_t length;
};

/* What it took to commit one event. */
struct stm_event_stats {
    uint32_t attempts;         /* executions, the committed one included */
    uint32_t reruns;           /* executions thrown away for stale reads */
    uint64_t conflict_shards;  /* bit s: a stale read of shard s */
    uint64_t wasted_steps;     /* Nock steps of the thrown-away runs */
    bool parallel;             /* ran in a parallel epoch (else serially) */
};

/* The result of one event, as kernel_apply would give it.  A batch of
 * results is more than the cache holds, so what is written for every
 * event comes first, on three cache lines (status, stats, and applied up
 * to its cost's spans); the spans, kilobytes rarely used, and the error,
 * written only for an event that was refused, come after. */
struct stm_result {
    enum kernel_status status;
    struct stm_event_stats stats;
    struct kernel_applied applied; /* on KERNEL_OK: effects in home, mug, cost */
    struct kernel_error error;     /* unless KERNEL_OK (else not written): why, trace in home */
};

/* Where the STM backend's wall-clock time went, in nanoseconds.  A
 * parallel epoch's time is each worker's running events, holding the
 * commit lock, copying results to home (worker 0, in a routed epoch, once
 * its own events are run), or none of these (waiting: for the event at
 * the commit point, for the other workers at the end); then the calling
 * thread alone copies the rest of the state and effects to home
 * (finishing). */
struct stm_time {
    uint32_t workers;          /* threads in parallel epochs, the caller's included */
    uint64_t epoch_ns;         /* parallel epochs, from start to every worker done */
    uint64_t running_ns;       /* summed over the workers */
    uint64_t committing_ns;    /* summed over the workers */
    uint64_t copying_ns;       /* summed over the workers */
    uint64_t finish_ns;        /* the copies to home after parallel epochs */
    uint64_t serial_ns;        /* events run serially */
};

/* The same as percentages: of the workers' time in parallel epochs,
 * running, committing, copying and waiting; and finishing's share of the
 * epochs' and finishing's time together. */
struct stm_time_shares {
    double running, committing, copying, waiting, finishing;
};

void stm_time_add(struct stm_time *sum, const struct stm_time *more);
struct stm_time_shares stm_time_shares(const struct stm_time *time);

/* Totals for one batch. */
struct stm_batch_stats {
    uint64_t events;           /* events committed (refused ones included) */
    uint64_t attempts;
    uint64_t reruns;
    uint64_t wasted_steps;
    uint64_t parallel_events;  /* committed in parallel epochs */
    uint64_t serial_events;    /* run serially (no shards, or contended) */
    uint64_t epochs;           /* parallel epochs */
    uint64_t routed_epochs;    /* of them, routed by the declaration's routes */
    uint32_t shard_count;      /* shards of the last layout seen */
    uint64_t conflicts_by_shard[STM_MAX_SHARDS];
    struct stm_time time;
};

struct stm_options {
    unsigned workers;          /* threads, the caller's included; 0: one per CPU, at least 2 */
    size_t scratch_max_bytes;  /* each worker's scratch, as kernel_options */
    bool no_cpu_time;          /* as kernel_options */
    /* %slog clues of committed events, delivered in event order on the
     * calling thread (speculative runs' slogs are not shown). */
    void (*slog)(void *context, noun clue);
    void *slog_context;
    /* For tests: every event runs speculatively first, on the epoch's
     * pre-state, never a newer version, so nearly every read of a shard
     * written earlier in the epoch is stale and must be caught; and it
     * stays parallel however much conflicts.  Slower, never wrong. */
    bool stale_views;
    /* For tests: events are handed to workers as if routed (docs/stm.md,
     * "Routes"), whatever the kernel declares, and to the wrong ones: a
     * worker runs events that touch another's shards.  Slower, never
     * wrong. */
    bool misroute;
};

struct stm;

/* An STM engine over `home`; NULL (with why) when threads or memory can't
 * be had. */
struct stm *stm_new(struct noun_home *home, const struct stm_options *options, char *why, size_t why_size);
void stm_free(struct stm *stm);

/* Apply events[0 .. count) to `kernel` in order, exactly as kernel_apply
 * one after the other would.  Every event is committed with its result in
 * results[i], refused ones too (they change nothing), unless
 * `stop_at_refusal`, when the first refused event is the last one taken.
 * Returns how many were taken; the kernel's state and event number are
 * those after them.  An interrupt (stm_interrupt) stops the batch early:
 * the event it stopped is not taken and results[taken] says
 * KERNEL_INTERRUPTED.  `stats` (may be NULL) gets the batch's totals. */
size_t stm_apply_batch(struct stm *stm, struct kernel *kernel, const struct stm_event *events, size_t count,
                       bool stop_at_refusal, struct stm_result *results, struct stm_batch_stats *stats);

/* Stop the batch now running, if any.  Safe from a signal handler. */
void stm_interrupt(struct stm *stm);

/* The shards `state` declares, as kernels.md says: their count (0 when it
 * declares none, or a declaration this backend can't use, which it then
 * says in `why` when given). */
size_t stm_shard_count(noun state, char *why, size_t why_size);

#endif
