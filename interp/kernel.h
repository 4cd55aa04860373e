/* kernel.h -- kernels: applying events to a Nock gate, reading its effects,
 * and running the computations it spawns.
 *
 * A kernel is a Nock gate in Hoon's calling convention: battery at axis 2,
 * sample at axis 6.  An event E is applied as a gate call,
 *
 *     [effects new-kernel] = *[kernel [9 2 10 [6 1 E] 0 1]]
 *
 * (evaluated here, equivalently, as *[[E kernel] [9 2 10 [6 0 2] 0 3]], so
 * one formula in home serves every event and is compiled once).  `effects`
 * is a null-terminated list.  The effects the runtime acts on:
 *
 *   [%spawn id subject formula]              run *[subject formula] off the
 *   [%spawn id subject formula [ms mb]]      event loop, optionally with a
 *                                            timeout and a memory limit
 *   [%out noun]                              shown to the user
 *
 * Any other effect is passed on as it is.  A spawn's outcome comes back as
 * an event: [%done id product], [%crash id trace] or [%timeout id].
 *
 * An event whose evaluation crashes, or whose product is not [effects
 * new-kernel] with a proper list of effects, is refused: the kernel stays
 * as it was and the caller gets the reason.
 *
 * Memory: the kernel noun lives in home and is a home root, so home may be
 * collected between events.  Each kernel evaluates in its own nock_context
 * (its own scratch), so callers' scratch is never disturbed.
 *
 * Spawns run behind a small interface, struct kernel_backend: submit a
 * spawn, take finished outcomes.  This file provides the serial backend
 * (each spawn runs inline when submitted); the fork, threads and STM
 * backends plug in behind the same two calls.
 *
 * Nothing here prints, exits, or knows about the event log.
 */
#ifndef NOCKLAB_KERNEL_H
#define NOCKLAB_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/nock.h"
#include "interp/noun.h"

/* %bout spans kept per event; more are counted in spans_dropped. */
#define KERNEL_MAX_SPANS 64

/* One %bout-hinted stretch of work: it started `offset_ns` after the event
 * (or spawn) began and took `duration_ns`. */
struct kernel_span {
    uint64_t offset_ns;
    uint64_t duration_ns;
    char name[24];        /* the %bout clue when a term or cord, else "" */
};

/* What applying one event (or running one spawn) cost.  Times are wall
 * (CLOCK_MONOTONIC) and CPU (this thread's) nanoseconds; steps are Nock
 * reductions; bytes_allocated is scratch allocation; copy_out_bytes is what
 * home grew by when the results were copied there, and dedup_* count the
 * hash-consing lookups made by that copy and the ones that found a cell
 * already in home. */
struct kernel_cost {
    uint64_t wall_ns;
    uint64_t cpu_ns;
    uint64_t steps;
    uint64_t bytes_allocated;
    uint64_t copy_out_bytes;
    uint64_t dedup_lookups;
    uint64_t dedup_hits;
    /* What the machine did besides Nock: scratch collections (how many,
     * and their wall time), copying the result out to home, the home
     * collection run just before the event (between batches), and the wait
     * for the commit that covers the event (the store fills the last two). */
    uint64_t scratch_collections;
    uint64_t scratch_collect_ns;
    uint64_t copy_out_ns;
    uint64_t home_collect_ns;
    uint64_t commit_wait_ns;
    /* For a store whose home is a PMA (snapshots/pma.h), which the store
     * fills: home pages the event wrote for the first time since the last
     * snapshot, and the write faults that found them. */
    uint64_t dirty_pages;
    uint64_t write_faults;
    uint32_t span_count;      /* spans[0 .. span_count) are valid */
    uint32_t spans_dropped;   /* spans past KERNEL_MAX_SPANS, not kept */
    struct kernel_span spans[KERNEL_MAX_SPANS];
};

/* Add `more` to `total`: counters and times summed, spans appended with
 * their offsets moved by `offset_ns` (where `more` began within `total`). */
void kernel_cost_add(struct kernel_cost *total, const struct kernel_cost *more, uint64_t offset_ns);

enum kernel_status {
    KERNEL_OK,
    KERNEL_CRASH,          /* the evaluation crashed: error->trace says where */
    KERNEL_BAD_PRODUCT,    /* the product is not [effects new-kernel] */
    KERNEL_OUT_OF_MEMORY,  /* scratch or home ran out */
    KERNEL_TOO_DEEP,       /* nested calls past the evaluator's limit */
    KERNEL_INTERRUPTED,    /* kernel_interrupt (Ctrl-C) stopped it */
};

/* Why an event was refused.  `trace` (KERNEL_CRASH) is the crash trace,
 * [tag clue] list innermost first, copied to home (0 when there is none). */
struct kernel_error {
    enum kernel_status status;
    noun trace;
    uint64_t steps;        /* Nock steps run before it stopped */
    char message[200];
};

/* Sizes a kernel is made with; zero fields take the defaults. */
struct kernel_options {
    size_t scratch_max_bytes; /* each half of the kernel's scratch */
    /* Called for each %slog the kernel's code runs (clue as given); may be
     * NULL.  Runs on the evaluating thread, must not evaluate. */
    void (*slog)(void *context, noun clue);
    void *slog_context;
    /* Leave cost.cpu_ns at 0: reading a thread's CPU clock is a system
     * call, and a caller applying many events in a row (replay) reads it
     * once per event itself instead of twice. */
    bool no_cpu_time;
};

struct kernel;

/* A kernel whose state is `state` (copied to home when it isn't there),
 * after `event_number` events.  NULL (with why) when memory is short. */
struct kernel *kernel_new(struct noun_home *home, noun state, uint64_t event_number,
                          const struct kernel_options *options, char *why, size_t why_size);
void kernel_free(struct kernel *kernel);

/* The kernel noun (in home) and the number of the last event applied. */
noun kernel_state(const struct kernel *kernel);
uint64_t kernel_event_number(const struct kernel *kernel);
/* Its mug (cached in the noun, so cheap after the first time). */
uint32_t kernel_mug(const struct kernel *kernel);
struct noun_home *kernel_home(const struct kernel *kernel);
/* The scratch region events may be built in (replay cues into it). */
struct noun_region *kernel_region(struct kernel *kernel);
/* The evaluator that applies its events (for a sampling profiler). */
struct nock_context *kernel_evaluator(struct kernel *kernel);

/* The result of one applied event. */
struct kernel_applied {
    noun effects;        /* the effect list, in home */
    uint32_t mug;        /* mug of the new kernel */
    struct kernel_cost cost;
};

/* Apply `event`, which must be in home or in kernel_region(kernel).  On
 * KERNEL_OK the kernel is the new one and its event number is one more;
 * otherwise nothing changed and *error says why.  Either way, nouns in the
 * kernel's scratch region (the event, if it was there) may be gone when
 * this returns: take what you need from them first. */
enum kernel_status kernel_apply(struct kernel *kernel, noun event, struct kernel_applied *applied,
                                struct kernel_error *error);

/* cue a jammed event into kernel_region(kernel), ready for kernel_apply.
 * False, with why (which names the bit where the encoding goes wrong),
 * when the bytes are not a jam or scratch can't hold the noun. */
bool kernel_cue_event(struct kernel *kernel, const uint8_t *bytes, size_t length, noun *event, char *why,
                      size_t why_size);

/* Run `build`, which makes an event in the region it is given (the
 * kernel's scratch), with scratch running out turned into a false return
 * instead of a jump into the evaluator.  On true, *event is what build
 * returned, ready for kernel_apply. */
bool kernel_build_event(struct kernel *kernel, noun (*build)(void *context, struct noun_region *region),
                        void *context, noun *event);

/* Ask the evaluation now running in this kernel, if any, to stop.  Safe
 * from a signal handler. */
void kernel_interrupt(struct kernel *kernel);

/* Replace the state (from a snapshot, say): `state` is copied to home. */
bool kernel_set_state(struct kernel *kernel, noun state, uint64_t event_number);

/* ---- effects ------------------------------------------------------------- */

/* A computation a kernel asked for: effect number `effect_index` (from 0,
 * in list order) of event `event_number`.  Nouns are in home.
 * timeout_ms and memory_mb are 0 when not given. */
struct kernel_spawn {
    uint64_t event_number;
    uint32_t effect_index;
    noun id;
    noun subject;
    noun formula;
    uint64_t timeout_ms;
    uint64_t memory_mb;
};

/* Whether `effect` is a well-formed %spawn; if so fills *spawn (with the
 * given event number and index).  A %spawn whose options are not a pair
 * of atoms below 2^63, or with extra parts, is not well formed (it is then
 * passed on like any other effect). */
bool kernel_parse_spawn(noun effect, uint64_t event_number, uint32_t effect_index, struct kernel_spawn *spawn);

/* The tag of an effect, when it is a cell whose head is an atom of at
 * most 8 bytes (%spawn, %out): its bytes, NUL-terminated, in `tag`;
 * otherwise false. */
bool kernel_effect_tag(noun effect, char tag[9]);

/* Count the effects of a list (stops at the first atom). */
uint64_t kernel_effect_count(noun effects);

/* ---- spawns and backends --------------------------------------------------- */

enum kernel_spawn_result {
    KERNEL_SPAWN_DONE,     /* event: [%done id product] */
    KERNEL_SPAWN_CRASH,    /* event: [%crash id trace] */
    KERNEL_SPAWN_TIMEOUT,  /* event: [%timeout id] (not deterministic) */
    KERNEL_SPAWN_FAILED,   /* no event: the interpreter gave up (memory,
                              depth, interrupted); `why` says which */
};

/* A finished spawn.  `event` is in home (NOUN_NONE when FAILED). */
struct kernel_outcome {
    struct kernel_spawn spawn;
    enum kernel_spawn_result result;
    noun event;
    uint64_t started_ns;   /* CLOCK_MONOTONIC when it began to run */
    struct kernel_cost cost;
    /* What running it elsewhere cost (0 on serial): time to start its
     * process or hand it to a worker, and bytes of the jammed outcome that
     * came back between processes. */
    uint64_t start_ns;
    uint64_t bytes_back;
    char why[160];
};

/* What one worker of a backend is doing, for :backend.  `spawn` is valid
 * when `busy`; `running_ns` is how long it has been at it. */
struct kernel_worker_status {
    bool busy;
    struct kernel_spawn spawn;
    uint64_t running_ns;
    long process_id;       /* fork: the child's pid; 0 otherwise */
};

/* Totals a backend keeps since it was made. */
struct kernel_backend_stats {
    uint64_t spawns;           /* outcomes handed over */
    uint64_t start_ns;         /* summed kernel_outcome.start_ns */
    uint64_t run_ns;           /* summed wall time of the runs */
    uint64_t bytes_back;       /* summed kernel_outcome.bytes_back */
    uint64_t dedup_lookups;    /* made copying outcomes into home */
    uint64_t dedup_hits;
    uint64_t par_maps;         /* %par maps run in parallel */
    uint64_t par_items;
    /* fork: child processes made; the other spawns ran in a child that
     * was waiting for one (backend_fork.c) */
    uint64_t processes_started;
};

/* An execution backend: where spawned computations run.
 *
 *   submit   start the spawn (its nouns stay valid until its outcome is
 *            taken: callers must not collect home meanwhile).  False with
 *            `why` when it can't be started at all.
 *   take     hand over one finished outcome and return true; when none
 *            is finished, wait for one if `wait` and any is running,
 *            otherwise return false.
 *   running  spawns submitted whose outcomes were not taken yet.
 *   interrupt  stop whatever runs now (async-signal-safe); the outcomes
 *            are FAILED.
 *   free     release it (no spawn may be running).
 *   workers  optional (NULL when the backend has no workers of its own):
 *            fill up to `max` statuses, return how many workers there are.
 *   stats    optional: the backend's totals.
 *
 * Outcomes must not depend on the backend: the same spawn gives the same
 * DONE/CRASH event on every backend (timeouts and failures excepted). */
struct kernel_backend {
    const char *name;
    void *self;
    bool (*submit)(void *self, const struct kernel_spawn *spawn, char *why, size_t why_size);
    bool (*take)(void *self, bool wait, struct kernel_outcome *outcome);
    size_t (*running)(void *self);
    void (*interrupt)(void *self);
    void (*free)(void *self);
    size_t (*workers)(void *self, struct kernel_worker_status *out, size_t max);
    void (*stats)(void *self, struct kernel_backend_stats *out);
};

/* Options for running spawns. */
struct kernel_backend_options {
    /* Ignore spawns' timeouts (replay: the log says the spawn finished, so
     * it must finish again, however slow this machine is). */
    bool ignore_timeouts;
    /* %slog from spawned code, as for kernel_options. */
    void (*slog)(void *context, noun clue);
    void *slog_context;
    /* Threads: worker threads (0: one per core).  Fork: children that may
     * run at once (0: no limit but the process table's). */
    unsigned workers;
    /* Fork: the nice increment of each child (0: as the parent). */
    int child_nice;
};

/* The serial backend: submit runs the spawn to its end on the calling
 * thread (a timeout is enforced by a watchdog thread that interrupts it; a
 * memory limit by running it in a nock_context whose scratch is that big).
 * NULL when memory is short. */
struct kernel_backend *kernel_backend_serial(struct noun_home *home, const struct kernel_backend_options *options);
void kernel_backend_free(struct kernel_backend *backend);

/* What every backend runs a spawn with: an evaluator context (scratch of
 * memory_mb MiB per half, 0 for the default) that turns a spawn into its
 * outcome.  One runner runs one spawn at a time; a backend that runs
 * several at once (threads) makes one per worker. */
struct kernel_spawn_runner;
struct kernel_spawn_runner *kernel_spawn_runner_new(struct noun_home *home, uint64_t memory_mb,
                                                    const struct kernel_backend_options *options);
void kernel_spawn_runner_free(struct kernel_spawn_runner *runner);
uint64_t kernel_spawn_runner_memory_mb(const struct kernel_spawn_runner *runner);
/* Run the spawn to its end and fill *outcome (its event copied to home).
 * The runner's scratch is reset before and after. */
void kernel_spawn_runner_run(struct kernel_spawn_runner *runner, const struct kernel_spawn *spawn,
                             struct kernel_outcome *outcome);
/* The two halves of kernel_spawn_runner_run, for backends that evaluate
 * away from the thread that owns home.  evaluate leaves the outcome event
 * in the runner's scratch (it reads home, never writes it: safe on a
 * worker thread while another thread copies into home); keep copies it to
 * home (on the thread that owns home), adds the copy-out to the cost and
 * resets scratch.  keep of a FAILED outcome only resets. */
void kernel_spawn_runner_evaluate(struct kernel_spawn_runner *runner, const struct kernel_spawn *spawn,
                                  struct kernel_outcome *outcome);
void kernel_spawn_runner_keep(struct kernel_spawn_runner *runner, struct kernel_outcome *outcome);
/* cue `bytes` (a jammed outcome event another process evaluated) into the
 * runner's scratch as outcome->event, then keep it.  False, with why in
 * outcome->why and the outcome FAILED, when the bytes are not a jam or do
 * not fit. */
bool kernel_spawn_runner_cue_outcome(struct kernel_spawn_runner *runner, const uint8_t *bytes, size_t length,
                                     struct kernel_outcome *outcome);
/* Make outcome->event [%timeout id] in home and the outcome a TIMEOUT (for
 * a backend that stopped the spawn from outside).  False, FAILED, when
 * memory runs out. */
bool kernel_spawn_runner_timeout_outcome(struct kernel_spawn_runner *runner, struct kernel_outcome *outcome);
/* The scratch region evaluate leaves the event in. */
struct noun_region *kernel_spawn_runner_region(struct kernel_spawn_runner *runner);
/* Stop the running spawn: as a timeout (its outcome is [%timeout id]) or
 * as an interrupt (FAILED).  Both are safe from another thread or a signal
 * handler; a request made while nothing runs is dropped at the next run. */
void kernel_spawn_runner_time_out(struct kernel_spawn_runner *runner);
void kernel_spawn_runner_interrupt(struct kernel_spawn_runner *runner);

#endif
