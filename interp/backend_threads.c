/* backend_threads.c -- the threads backend: spawns and %par maps on worker
 * threads.
 *
 * Spawns.  A pool of workers (options.workers, default one per core), each
 * with its own spawn runner, hence its own scratch.  submit queues the
 * spawn; a free worker evaluates it (reading home, never writing it) and
 * leaves the outcome event in its scratch; take, on the thread that owns
 * home, copies the event into home and frees the worker for the next
 * spawn.  So copy-out is serialized on the event loop's thread, and home
 * is only read by workers.  Callers must not collect home while spawns
 * run (kernel.h says so for every backend).
 *
 * Timeouts: a watchdog thread interrupts a worker's runner as a timeout
 * once its deadline passes.
 *
 * %par.  A second team of helper threads, each with its own evaluator
 * context and a holding region, serves the %par mapper (nock.h).  The
 * calling thread, stopped inside its OP_PAR, publishes the items; helpers
 * take them by index, slam the gate on each (reading the caller's nouns,
 * which don't move while it waits), and copy each product out of their
 * scratch into their holding region.  The caller then copies the products
 * into its own scratch and conses the list.  A %par met on a helper or a
 * spawn worker, or in a forked child, runs its body instead (no nested
 * parallelism, and no waiting on a team that is busy).
 *
 * Invariants: worker state (`state`, `outcome`) is under the backend's
 * lock; a worker touches its runner only while RUNNING, the owner thread
 * only while FINISHED.  The team's job fields are written by the caller
 * before the job's generation is published under the team lock and read
 * by helpers after they see it.
 */
#include "interp/backend.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp/clock.h"
#include "interp/fifo.h"

/* Helpers' holding regions: the most their products may take at once. */
#define PAR_HOLDING_BYTES ((size_t)4 << 30)

/* Set on every thread this file starts: %par there runs its body. */
static __thread bool on_pool_thread;

/* ---- copying a noun between regions ------------------------------------------------ */

/* Copies nouns out of one region into another, keeping shared subtrees
 * shared (a table from source noun to copy) and leaving nouns outside the
 * source region (home, other regions) as they are.  Explicit stacks; the
 * buffers are kept between copies. */
struct region_copier {
    noun *tasks;         /* nouns to copy; NOUN_NONE over a cell: build it */
    size_t task_count, task_capacity;
    noun *results;
    size_t result_count, result_capacity;
    noun *table_keys, *table_values;
    size_t table_capacity, table_count;
};

static bool copier_push(noun **items, size_t *count, size_t *capacity, noun value)
{
    if (*count == *capacity) {
        size_t bigger = *capacity ? *capacity * 2 : 256;
        noun *grown = realloc(*items, bigger * sizeof *grown);
        if (!grown)
            return false;
        *items = grown;
        *capacity = bigger;
    }
    (*items)[(*count)++] = value;
    return true;
}

static size_t copier_slot(const struct region_copier *copier, noun key)
{
    size_t mask = copier->table_capacity - 1;
    size_t i = (size_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> 20) & mask;
    while (copier->table_keys[i] && copier->table_keys[i] != key)
        i = (i + 1) & mask;
    return i;
}

static bool copier_remember(struct region_copier *copier, noun key, noun value)
{
    if ((copier->table_count + 1) * 2 > copier->table_capacity) {
        size_t old_capacity = copier->table_capacity;
        noun *old_keys = copier->table_keys, *old_values = copier->table_values;
        size_t capacity = old_capacity ? old_capacity * 2 : 1024;
        copier->table_keys = calloc(capacity, sizeof *copier->table_keys);
        copier->table_values = malloc(capacity * sizeof *copier->table_values);
        if (!copier->table_keys || !copier->table_values) {
            free(copier->table_keys);
            free(copier->table_values);
            copier->table_keys = old_keys;
            copier->table_values = old_values;
            return false;
        }
        copier->table_capacity = capacity;
        copier->table_count = 0;
        for (size_t i = 0; i < old_capacity; i++)
            if (old_keys[i])
                copier_remember(copier, old_keys[i], old_values[i]);
        free(old_keys);
        free(old_values);
    }
    size_t slot = copier_slot(copier, key);
    if (!copier->table_keys[slot])
        copier->table_count++;
    copier->table_keys[slot] = key;
    copier->table_values[slot] = value;
    return true;
}

static void copier_free(struct region_copier *copier)
{
    free(copier->tasks);
    free(copier->results);
    free(copier->table_keys);
    free(copier->table_values);
    memset(copier, 0, sizeof *copier);
}

/* Copy `n` into `target`.  Allocation in target may leave through its
 * out-of-memory handler; the caller arranges for that.  NOUN_NONE when the
 * copier's own buffers can't grow. */
static noun copier_copy(struct region_copier *copier, struct noun_region *target, const struct noun_region *source,
                        noun n)
{
    copier->task_count = copier->result_count = 0;
    if (copier->table_count) {
        memset(copier->table_keys, 0, copier->table_capacity * sizeof *copier->table_keys);
        copier->table_count = 0;
    }
    if (!copier_push(&copier->tasks, &copier->task_count, &copier->task_capacity, n))
        return NOUN_NONE;
    while (copier->task_count) {
        noun task = copier->tasks[--copier->task_count];
        noun made;
        if (task == NOUN_NONE) {
            noun original = copier->tasks[--copier->task_count];
            noun tail = copier->results[--copier->result_count];
            noun head = copier->results[--copier->result_count];
            made = noun_cell_new(target, head, tail);
            if (!copier_remember(copier, original, made))
                return NOUN_NONE;
        } else if (!noun_region_holds(source, task)) {
            made = task;
        } else if (copier->table_capacity && copier->table_keys[copier_slot(copier, task)] == task) {
            made = copier->table_values[copier_slot(copier, task)];
        } else if (noun_is_indirect(task)) {
            const struct noun_atom *atom = noun_to_atom(task);
            struct noun_atom *copy = noun_atom_alloc(target, atom->length);
            memcpy(copy->words, atom->words, atom->length * sizeof *atom->words);
            made = noun_atom_normalize(copy);
            if (!copier_remember(copier, task, made))
                return NOUN_NONE;
        } else {
            if (!copier_push(&copier->tasks, &copier->task_count, &copier->task_capacity, task) ||
                !copier_push(&copier->tasks, &copier->task_count, &copier->task_capacity, NOUN_NONE) ||
                !copier_push(&copier->tasks, &copier->task_count, &copier->task_capacity, noun_tail(task)) ||
                !copier_push(&copier->tasks, &copier->task_count, &copier->task_capacity, noun_head(task)))
                return NOUN_NONE;
            continue;
        }
        if (!copier_push(&copier->results, &copier->result_count, &copier->result_capacity, made))
            return NOUN_NONE;
    }
    return copier->results[0];
}

/* ---- spawn workers ------------------------------------------------------------------ */

enum worker_state { WORKER_IDLE, WORKER_RUNNING, WORKER_FINISHED };

struct threads_backend;

/* One worker thread.  `runner` is its own; `limited` is made by the owner
 * thread for a spawn with a memory limit and freed when its outcome is
 * taken.  `active` is the runner evaluating now (read by interrupt). */
struct worker {
    struct threads_backend *backend;
    pthread_t thread;
    bool started;
    struct kernel_spawn_runner *runner;
    struct kernel_spawn_runner *limited;
    struct kernel_spawn_runner *active;
    enum worker_state state;
    struct kernel_spawn spawn;
    uint64_t queued_ns, started_ns, deadline_ns, finish_sequence;
    struct kernel_outcome outcome;
};

/* A spawn waiting for a worker, with the runner made for its limit. */
struct pending {
    struct kernel_spawn spawn;
    struct kernel_spawn_runner *limited;
    uint64_t queued_ns;
};

/* The %par team: helpers and the one job they work on. */
struct par_helper {
    struct par_team *team;
    pthread_t thread;
    bool started;
    struct nock_context *nock;
    struct noun_region *holding;   /* products and traces, until the caller copies them */
    jmp_buf holding_full;
    struct region_copier copier;
};

/* One item's result, in its helper's holding region. */
struct par_result {
    enum nock_status status;
    noun noun;           /* product (OK) or trace (CRASH) */
    const char *reason;  /* CRASH: the evaluator's why (a static string) */
    unsigned helper;
};

struct par_team {
    struct threads_backend *backend;
    unsigned helper_count;
    struct par_helper *helpers;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    uint64_t generation;           /* bumped for each job */
    unsigned helpers_done;
    bool quit;
    pthread_mutex_t busy;          /* held by the caller for the whole job */
    /* the job */
    struct nock_context *caller;
    noun gate;
    noun *items;
    size_t item_count, item_capacity;
    size_t next_item;              /* atomic: the next item to take */
    struct par_result *results;
    size_t result_capacity;
    struct region_copier copier;   /* the caller's, for assembling */
    jmp_buf caller_full;           /* the caller's scratch filled while assembling */
    noun slam_formula;             /* [9 2 10 [6 0 2] 0 3], in home, a root */
    bool slam_rooted;
    struct nock_par_mapper mapper;
};

struct threads_backend {
    struct kernel_backend interface;
    struct noun_home *home;
    struct kernel_backend_options options;
    /* options without %slog: the listener prints, and only the thread that
     * owns the session may (spawns' %slog is dropped under threads) */
    struct kernel_backend_options quiet;
    pthread_mutex_t lock;
    pthread_cond_t work;         /* workers wait for spawns */
    pthread_cond_t finished;     /* the owner waits for outcomes */
    pthread_cond_t tick;         /* the watchdog waits for deadlines */
    bool quit;
    unsigned worker_count;
    struct worker *workers;
    struct fifo pending;         /* struct pending, in submission order */
    uint64_t finish_sequence;
    size_t outstanding;          /* submitted, not taken (owner thread only) */
    int interrupted;             /* atomic: interrupt() was called */
    pthread_t watchdog;
    bool watchdog_started;
    struct kernel_backend_stats stats;
    struct par_team team;
    bool owns_mapper;            /* ours is the installed %par mapper */
    pid_t process;               /* a forked child is another process: no pool there */
};

static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    struct threads_backend *backend = worker->backend;
    on_pool_thread = true;
    pthread_mutex_lock(&backend->lock);
    for (;;) {
        while (!backend->quit && (worker->state != WORKER_IDLE || backend->pending.count == 0))
            pthread_cond_wait(&backend->work, &backend->lock);
        if (backend->quit)
            break;
        struct pending job;
        fifo_pop(&backend->pending, &job);
        worker->spawn = job.spawn;
        worker->limited = job.limited;
        __atomic_store_n(&worker->active, job.limited ? job.limited : worker->runner, __ATOMIC_RELAXED);
        worker->queued_ns = job.queued_ns;
        worker->started_ns = clock_wall_nanoseconds();
        worker->deadline_ns = job.spawn.timeout_ms && !backend->options.ignore_timeouts &&
                                      job.spawn.timeout_ms < UINT64_MAX / 2000000u
                                  ? worker->started_ns + job.spawn.timeout_ms * 1000000u
                                  : 0;
        worker->state = WORKER_RUNNING;
        pthread_cond_signal(&backend->tick);
        bool interrupted = __atomic_load_n(&backend->interrupted, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&backend->lock);

        struct kernel_outcome outcome;
        if (interrupted) {
            memset(&outcome, 0, sizeof outcome);
            outcome.spawn = worker->spawn;
            outcome.result = KERNEL_SPAWN_FAILED;
            outcome.event = NOUN_NONE;
            snprintf(outcome.why, sizeof outcome.why, "interrupted");
        } else {
            kernel_spawn_runner_evaluate(worker->active, &worker->spawn, &outcome);
        }

        pthread_mutex_lock(&backend->lock);
        worker->outcome = outcome;
        worker->state = WORKER_FINISHED;
        worker->finish_sequence = ++backend->finish_sequence;
        pthread_cond_broadcast(&backend->finished);
    }
    pthread_mutex_unlock(&backend->lock);
    return NULL;
}

/* Times out workers past their deadlines, and passes on interrupts.  A
 * stop request made just before a worker's evaluation begins is cleared
 * when it begins (nock.h), so both are repeated every tick while the
 * worker still runs: they are idempotent. */
#define WATCHDOG_TICK_NANOSECONDS (20 * 1000000ull)

static void *watchdog_main(void *argument)
{
    struct threads_backend *backend = argument;
    on_pool_thread = true;
    pthread_mutex_lock(&backend->lock);
    while (!backend->quit) {
        uint64_t now = clock_wall_nanoseconds(), nearest = 0;
        bool interrupted = __atomic_load_n(&backend->interrupted, __ATOMIC_RELAXED);
        for (unsigned i = 0; i < backend->worker_count; i++) {
            struct worker *worker = &backend->workers[i];
            if (worker->state != WORKER_RUNNING)
                continue;
            uint64_t wake = 0;
            if (interrupted) {
                kernel_spawn_runner_interrupt(worker->active);
                wake = now + WATCHDOG_TICK_NANOSECONDS;
            } else if (worker->deadline_ns && worker->deadline_ns <= now) {
                kernel_spawn_runner_time_out(worker->active);
                wake = now + WATCHDOG_TICK_NANOSECONDS;
            } else if (worker->deadline_ns) {
                wake = worker->deadline_ns;
            } else {
                /* nothing to time out, but an interrupt may come */
                wake = now + 5 * WATCHDOG_TICK_NANOSECONDS;
            }
            if (wake && (!nearest || wake < nearest))
                nearest = wake;
        }
        if (!nearest) {
            pthread_cond_wait(&backend->tick, &backend->lock);
            continue;
        }
        struct timespec until = { .tv_sec = (time_t)(nearest / 1000000000u), .tv_nsec = (long)(nearest % 1000000000u) };
        pthread_cond_timedwait(&backend->tick, &backend->lock, &until);
    }
    pthread_mutex_unlock(&backend->lock);
    return NULL;
}

static bool threads_submit(void *self, const struct kernel_spawn *spawn, char *why, size_t why_size)
{
    struct threads_backend *backend = self;
    struct pending job = { .spawn = *spawn, .queued_ns = clock_wall_nanoseconds() };
    if (spawn->memory_mb) {
        /* made here, on the thread that owns home (a new context registers
         * with home) */
        job.limited = kernel_spawn_runner_new(backend->home, spawn->memory_mb, &backend->quiet);
        if (!job.limited) {
            snprintf(why, why_size, "cannot make an evaluator with %llu MiB of scratch",
                     (unsigned long long)spawn->memory_mb);
            return false;
        }
    }
    pthread_mutex_lock(&backend->lock);
    if (backend->outstanding == 0)
        __atomic_store_n(&backend->interrupted, 0, __ATOMIC_RELAXED);
    bool queued = fifo_push(&backend->pending, &job);
    if (queued)
        pthread_cond_broadcast(&backend->work);
    pthread_mutex_unlock(&backend->lock);
    if (!queued) {
        kernel_spawn_runner_free(job.limited);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    backend->outstanding++;
    return true;
}

/* The finished worker that finished first, or NULL.  Under the lock. */
static struct worker *first_finished(struct threads_backend *backend)
{
    struct worker *first = NULL;
    for (unsigned i = 0; i < backend->worker_count; i++) {
        struct worker *worker = &backend->workers[i];
        if (worker->state == WORKER_FINISHED && (!first || worker->finish_sequence < first->finish_sequence))
            first = worker;
    }
    return first;
}

static bool threads_take(void *self, bool wait, struct kernel_outcome *outcome)
{
    struct threads_backend *backend = self;
    if (!backend->outstanding)
        return false;
    pthread_mutex_lock(&backend->lock);
    struct worker *worker;
    while (!(worker = first_finished(backend)) && wait)
        pthread_cond_wait(&backend->finished, &backend->lock);
    if (worker)
        *outcome = worker->outcome;
    pthread_mutex_unlock(&backend->lock);
    if (!worker)
        return false;
    /* The worker waits in FINISHED, so its runner is ours until IDLE. */
    outcome->start_ns = worker->started_ns - worker->queued_ns;
    kernel_spawn_runner_keep(worker->active, outcome);
    kernel_spawn_runner_free(worker->limited);
    backend->stats.spawns++;
    backend->stats.start_ns += outcome->start_ns;
    backend->stats.run_ns += outcome->cost.wall_ns;
    backend->stats.dedup_lookups += outcome->cost.dedup_lookups;
    backend->stats.dedup_hits += outcome->cost.dedup_hits;
    pthread_mutex_lock(&backend->lock);
    worker->limited = NULL;
    __atomic_store_n(&worker->active, NULL, __ATOMIC_RELAXED);
    worker->state = WORKER_IDLE;
    pthread_cond_broadcast(&backend->work);
    pthread_mutex_unlock(&backend->lock);
    backend->outstanding--;
    return true;
}

static size_t threads_running(void *self)
{
    struct threads_backend *backend = self;
    return backend->outstanding;
}

/* Async-signal-safe: no locks; runners' interrupt is a pair of stores. */
static void threads_interrupt(void *self)
{
    struct threads_backend *backend = self;
    __atomic_store_n(&backend->interrupted, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < backend->worker_count; i++) {
        struct kernel_spawn_runner *active = __atomic_load_n(&backend->workers[i].active, __ATOMIC_RELAXED);
        if (active)
            kernel_spawn_runner_interrupt(active);
    }
    for (unsigned i = 0; i < backend->team.helper_count; i++)
        if (backend->team.helpers[i].nock)
            nock_interrupt(backend->team.helpers[i].nock);
}

static size_t threads_workers(void *self, struct kernel_worker_status *out, size_t max)
{
    struct threads_backend *backend = self;
    uint64_t now = clock_wall_nanoseconds();
    pthread_mutex_lock(&backend->lock);
    for (unsigned i = 0; i < backend->worker_count && i < max; i++) {
        struct worker *worker = &backend->workers[i];
        out[i] = (struct kernel_worker_status){ .busy = worker->state != WORKER_IDLE };
        if (out[i].busy) {
            out[i].spawn = worker->spawn;
            out[i].running_ns = now - worker->started_ns;
        }
    }
    pthread_mutex_unlock(&backend->lock);
    return backend->worker_count;
}

static void threads_stats(void *self, struct kernel_backend_stats *out)
{
    struct threads_backend *backend = self;
    *out = backend->stats;
}

/* ---- %par ---------------------------------------------------------------------------- */

static void holding_full(void *context)
{
    struct par_helper *helper = context;
    longjmp(helper->holding_full, 1);
}

/* Slam the gate on item `index` and keep the result in holding. */
static void par_run_item(struct par_helper *helper, size_t index)
{
    struct par_team *team = helper->team;
    struct par_result *result = &team->results[index];
    result->helper = (unsigned)(helper - team->helpers);
    if (setjmp(helper->holding_full)) {
        result->status = NOCK_OUT_OF_MEMORY;
        nock_context_reset(helper->nock);
        return;
    }
    noun subject = noun_cell_new(helper->holding, team->items[index], team->gate);
    struct nock_outcome outcome = nock_evaluate(helper->nock, subject, team->slam_formula);
    result->status = outcome.status;
    result->reason = outcome.reason;
    result->noun = 0;
    struct noun_region *scratch = nock_context_region(helper->nock);
    if (outcome.status == NOCK_OK || outcome.status == NOCK_CRASH) {
        noun kept = copier_copy(&helper->copier, helper->holding, scratch,
                                outcome.status == NOCK_OK ? outcome.product : outcome.trace);
        if (kept == NOUN_NONE)
            result->status = NOCK_OUT_OF_MEMORY;
        result->noun = kept;
    }
    nock_context_reset(helper->nock);
}

/* [9 2 10 [6 0 2] 0 3] in home: the gate call with the sample from the
 * subject's head, as kernel.c applies events. */
static noun make_slam_formula(struct noun_home *home)
{
    struct noun_region *region = noun_region_new((size_t)1 << 20);
    if (!region)
        return NOUN_NONE;
    noun edit = noun_trel(region, 10, noun_cell_new(region, 6, noun_cell_new(region, 0, 2)), noun_cell_new(region, 0, 3));
    noun formula = noun_home_copy_out(home, region, noun_trel(region, 9, 2, edit));
    noun_region_free(region);
    return formula;
}

static void caller_full(void *context)
{
    struct par_team *team = context;
    longjmp(team->caller_full, 1);
}

static void *helper_main(void *argument)
{
    struct par_helper *helper = argument;
    struct par_team *team = helper->team;
    on_pool_thread = true;
    uint64_t seen = 0;
    pthread_mutex_lock(&team->lock);
    for (;;) {
        while (!team->quit && team->generation == seen)
            pthread_cond_wait(&team->start, &team->lock);
        if (team->quit)
            break;
        seen = team->generation;
        pthread_mutex_unlock(&team->lock);
        for (;;) {
            size_t index = __atomic_fetch_add(&team->next_item, 1, __ATOMIC_RELAXED);
            if (index >= team->item_count)
                break;
            par_run_item(helper, index);
        }
        pthread_mutex_lock(&team->lock);
        team->helpers_done++;
        pthread_cond_broadcast(&team->done);
    }
    pthread_mutex_unlock(&team->lock);
    return NULL;
}

/* Assemble the products into a list in the caller's scratch, or find the
 * lowest-numbered item that did not finish. */
static enum nock_par_result par_assemble(struct par_team *team, struct nock_context *caller, noun *product)
{
    for (size_t i = 0; i < team->item_count; i++) {
        switch (team->results[i].status) {
        case NOCK_OK:
            continue;
        case NOCK_CRASH:
            nock_set_crash_reason(caller, team->results[i].reason);
            *product = copier_copy(&team->copier, nock_context_region(caller),
                                   team->helpers[team->results[i].helper].holding, team->results[i].noun);
            return *product == NOUN_NONE ? NOCK_PAR_OUT_OF_MEMORY : NOCK_PAR_CRASH;
        case NOCK_INTERRUPTED:
            return NOCK_PAR_INTERRUPTED;
        case NOCK_OUT_OF_MEMORY:
        case NOCK_TOO_DEEP:
        case NOCK_BLOCKED: /* (only nested evaluations block) */
            /* the body, in the caller's own limits, gives the answer */
            return NOCK_PAR_DECLINED;
        }
    }
    noun list = 0;
    for (size_t i = team->item_count; i-- > 0;) {
        noun item = copier_copy(&team->copier, nock_context_region(caller),
                                team->helpers[team->results[i].helper].holding, team->results[i].noun);
        if (item == NOUN_NONE)
            return NOCK_PAR_OUT_OF_MEMORY;
        list = noun_cell_new(nock_context_region(caller), item, list);
    }
    *product = list;
    return NOCK_PAR_DONE;
}

/* Gather the items of `list`; false when it is not a proper list (the
 * body then crashes where serial does) or memory is short. */
static bool par_gather(struct par_team *team, noun list)
{
    team->item_count = 0;
    for (; noun_is_cell(list); list = noun_tail(list)) {
        if (team->item_count == team->item_capacity) {
            size_t capacity = team->item_capacity ? team->item_capacity * 2 : 64;
            noun *items = realloc(team->items, capacity * sizeof *items);
            if (!items)
                return false;
            team->items = items;
            team->item_capacity = capacity;
        }
        team->items[team->item_count++] = noun_head(list);
    }
    if (list != 0)
        return false;
    if (team->item_count > team->result_capacity) {
        struct par_result *results = realloc(team->results, team->item_count * sizeof *results);
        if (!results)
            return false;
        team->results = results;
        team->result_capacity = team->item_count;
    }
    return true;
}

static enum nock_par_result par_map(void *context, struct nock_context *caller, noun gate, noun list, noun *product)
{
    struct par_team *team = context;
    if (on_pool_thread || getpid() != team->backend->process || pthread_mutex_trylock(&team->busy) != 0)
        return NOCK_PAR_DECLINED;
    if (!par_gather(team, list) || team->item_count < 2) {
        pthread_mutex_unlock(&team->busy);
        return NOCK_PAR_DECLINED;
    }
    pthread_mutex_lock(&team->lock);
    for (unsigned i = 0; i < team->helper_count; i++) {
        struct par_helper *helper = &team->helpers[i];
        /* the last job's formulas lived in memory that may be reused now */
        nock_context_forget(helper->nock);
        noun_region_reset(helper->holding);
    }
    team->caller = caller;
    team->gate = gate;
    team->next_item = 0;
    team->helpers_done = 0;
    team->generation++;
    pthread_cond_broadcast(&team->start);
    /* wait, passing on an interrupt of the caller to the helpers */
    while (team->helpers_done < team->helper_count) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&team->done, &team->lock, &until);
        if (nock_interrupt_requested(caller))
            for (unsigned i = 0; i < team->helper_count; i++)
                nock_interrupt(team->helpers[i].nock);
    }
    pthread_mutex_unlock(&team->lock);
    enum nock_par_result result = NOCK_PAR_INTERRUPTED;
    if (!nock_interrupt_requested(caller)) {
        /* the caller's scratch filling up must come back here, where the
         * team can be let go, not to the evaluator's exit */
        struct noun_region *region = nock_context_region(caller);
        void (*saved_handler)(void *) = region->out_of_memory;
        void *saved_context = region->out_of_memory_context;
        region->out_of_memory = caller_full;
        region->out_of_memory_context = team;
        if (setjmp(team->caller_full))
            result = NOCK_PAR_OUT_OF_MEMORY;
        else
            result = par_assemble(team, caller, product);
        region->out_of_memory = saved_handler;
        region->out_of_memory_context = saved_context;
    }
    team->backend->stats.par_maps++;
    team->backend->stats.par_items += team->item_count;
    pthread_mutex_unlock(&team->busy);
    return result;
}

static bool team_start(struct par_team *team, struct threads_backend *backend, unsigned helpers)
{
    team->backend = backend;
    pthread_mutex_init(&team->lock, NULL);
    pthread_mutex_init(&team->busy, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_cond_init(&team->start, NULL);
    pthread_cond_init(&team->done, NULL);
    pthread_condattr_destroy(&attributes);
    team->helpers = calloc(helpers, sizeof *team->helpers);
    if (!team->helpers)
        return false;
    team->slam_rooted = noun_home_root_add(backend->home, &team->slam_formula);
    team->slam_formula = make_slam_formula(backend->home);
    if (!team->slam_rooted || team->slam_formula == NOUN_NONE)
        return false;
    team->helper_count = helpers;
    for (unsigned i = 0; i < helpers; i++) {
        struct par_helper *helper = &team->helpers[i];
        helper->team = team;
        /* no jets (the dashboard is single-threaded) and no hooks: the
         * products are the same, computed in plain Nock */
        helper->nock = nock_context_new(backend->home, NULL);
        helper->holding = noun_region_new(PAR_HOLDING_BYTES);
        if (!helper->nock || !helper->holding)
            return false;
        helper->holding->out_of_memory = holding_full;
        helper->holding->out_of_memory_context = helper;
    }
    for (unsigned i = 0; i < helpers; i++) {
        if (pthread_create(&team->helpers[i].thread, NULL, helper_main, &team->helpers[i]) != 0)
            return false;
        team->helpers[i].started = true;
    }
    team->mapper = (struct nock_par_mapper){ .context = team, .map = par_map };
    return true;
}

static void team_stop(struct par_team *team)
{
    if (!team->helpers)
        return;
    pthread_mutex_lock(&team->lock);
    team->quit = true;
    pthread_cond_broadcast(&team->start);
    pthread_mutex_unlock(&team->lock);
    for (unsigned i = 0; i < team->helper_count; i++) {
        struct par_helper *helper = &team->helpers[i];
        if (helper->started)
            pthread_join(helper->thread, NULL);
        nock_context_free(helper->nock);
        noun_region_free(helper->holding);
        copier_free(&helper->copier);
    }
    free(team->helpers);
    if (team->slam_rooted)
        noun_home_root_remove(team->backend->home, &team->slam_formula);
    free(team->items);
    free(team->results);
    copier_free(&team->copier);
    pthread_cond_destroy(&team->start);
    pthread_cond_destroy(&team->done);
    pthread_mutex_destroy(&team->lock);
    pthread_mutex_destroy(&team->busy);
}

/* ---- making and freeing ------------------------------------------------------------------- */

static void threads_free(void *self)
{
    struct threads_backend *backend = self;
    if (backend->owns_mapper)
        nock_set_par_mapper(NULL);
    threads_interrupt(backend);
    struct kernel_outcome outcome;
    while (threads_take(backend, true, &outcome))
        ;
    pthread_mutex_lock(&backend->lock);
    backend->quit = true;
    pthread_cond_broadcast(&backend->work);
    pthread_cond_broadcast(&backend->tick);
    pthread_mutex_unlock(&backend->lock);
    for (unsigned i = 0; i < backend->worker_count; i++) {
        if (backend->workers[i].started)
            pthread_join(backend->workers[i].thread, NULL);
        kernel_spawn_runner_free(backend->workers[i].runner);
    }
    if (backend->watchdog_started)
        pthread_join(backend->watchdog, NULL);
    for (size_t i = 0; i < backend->pending.count; i++)
        kernel_spawn_runner_free(((struct pending *)fifo_at(&backend->pending, i))->limited);
    team_stop(&backend->team);
    fifo_free(&backend->pending);
    free(backend->workers);
    pthread_cond_destroy(&backend->work);
    pthread_cond_destroy(&backend->finished);
    pthread_cond_destroy(&backend->tick);
    pthread_mutex_destroy(&backend->lock);
    free(backend);
}

struct kernel_backend *backend_threads_new(struct noun_home *home, const struct kernel_backend_options *options)
{
    struct threads_backend *backend = calloc(1, sizeof *backend);
    if (!backend)
        return NULL;
    backend->home = home;
    fifo_init(&backend->pending, sizeof(struct pending));
    if (options)
        backend->options = *options;
    backend->quiet = backend->options;
    backend->quiet.slog = NULL;
    backend->process = getpid();
    backend->worker_count = backend->options.workers ? backend->options.workers : backend_cores();
    pthread_mutex_init(&backend->lock, NULL);
    pthread_cond_init(&backend->work, NULL);
    pthread_cond_init(&backend->finished, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&backend->tick, &attributes);
    pthread_condattr_destroy(&attributes);
    backend->interface = (struct kernel_backend){
        .name = "threads",
        .self = backend,
        .submit = threads_submit,
        .take = threads_take,
        .running = threads_running,
        .interrupt = threads_interrupt,
        .free = threads_free,
        .workers = threads_workers,
        .stats = threads_stats,
    };
    backend->workers = calloc(backend->worker_count, sizeof *backend->workers);
    bool ok = backend->workers != NULL;
    for (unsigned i = 0; ok && i < backend->worker_count; i++) {
        struct worker *worker = &backend->workers[i];
        worker->backend = backend;
        worker->runner = kernel_spawn_runner_new(home, 0, &backend->quiet);
        ok = worker->runner && pthread_create(&worker->thread, NULL, worker_main, worker) == 0;
        worker->started = ok;
    }
    ok = ok && pthread_create(&backend->watchdog, NULL, watchdog_main, backend) == 0;
    backend->watchdog_started = ok;
    ok = ok && team_start(&backend->team, backend, backend->worker_count);
    if (!ok) {
        if (!backend->workers)
            backend->worker_count = 0;
        threads_free(backend);
        return NULL;
    }
    /* The first threads backend alive maps %par for the whole process;
     * later ones (a replay's, say) leave it be. */
    if (!nock_par_mapper()) {
        nock_set_par_mapper(&backend->team.mapper);
        backend->owns_mapper = true;
    }
    return &backend->interface;
}
