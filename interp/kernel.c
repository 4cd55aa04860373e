/* kernel.c -- applying events to kernels, reading effects, running spawns.
 *
 * The cycle of one event (kernel_apply):
 *
 *   1. subject = [event kernel] in the kernel's scratch
 *   2. *[subject [9 2 10 [6 0 2] 0 3]], which is the gate call
 *      *[kernel [9 2 10 [6 1 event] 0 1]] with the event taken from the
 *      subject instead of quoted into a new formula each time, so the
 *      formula stays in home and its compiled code is reused
 *   3. check the product is [effects new-kernel] with a proper list
 *   4. copy the new kernel and the effects to home (hash-consed: the parts
 *      the event didn't touch are already there and cost nothing), mug it
 *   5. reset scratch once enough has piled up in it
 *
 * Allocation outside the evaluator (the subject cell, outcome events, cue)
 * runs under an allocation guard: the region's out-of-memory handler is
 * pointed at a longjmp back to the caller for the duration, because the
 * evaluator's own handler is only valid while nock_evaluate runs.
 */
#include "interp/kernel.h"
#include "interp/clock.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/fifo.h"
#include "interp/jam.h"
#include "interp/mug.h"

/* After an event, scratch is reset once it holds this much: resetting is
 * cheap but not free (it drops code compiled for scratch formulas), and
 * everything worth keeping has been copied to home by then. */
#define KERNEL_SCRATCH_KEEP ((size_t)256 << 10)

/* ---- small helpers --------------------------------------------------------- */

/* Where the %bout hook of a context writes: the cost being filled and the
 * wall time its work began.  `cost` is NULL between runs. */
struct span_recorder {
    struct kernel_cost *cost;
    uint64_t started_ns;
};

/* A span's name: the clue's bytes when it is a short atom of printable
 * ASCII (a term or cord), else "". */
static void span_name(noun clue, char name[24])
{
    name[0] = '\0';
    if (!noun_is_atom(clue) || clue == 0 || noun_atom_byte_length(clue) > 23)
        return;
    size_t length = noun_atom_byte_length(clue);
    uint8_t bytes[23];
    noun_atom_to_bytes(clue, bytes, length);
    for (size_t i = 0; i < length; i++)
        if (bytes[i] < 0x20 || bytes[i] > 0x7e)
            return;
    memcpy(name, bytes, length);
    name[length] = '\0';
}

static void record_bout(void *context, uint64_t nanoseconds, noun clue)
{
    struct span_recorder *recorder = context;
    struct kernel_cost *cost = recorder->cost;
    if (!cost)
        return;
    uint64_t began = clock_wall_nanoseconds() - nanoseconds;
    uint64_t offset = began > recorder->started_ns ? began - recorder->started_ns : 0;
    if (cost->span_count < KERNEL_MAX_SPANS) {
        struct kernel_span *span = &cost->spans[cost->span_count++];
        span->offset_ns = offset;
        span->duration_ns = nanoseconds;
        span_name(clue, span->name);
    } else {
        cost->spans_dropped++;
    }
}

void kernel_cost_add(struct kernel_cost *total, const struct kernel_cost *more, uint64_t offset_ns)
{
    total->wall_ns += more->wall_ns;
    total->cpu_ns += more->cpu_ns;
    total->steps += more->steps;
    total->bytes_allocated += more->bytes_allocated;
    total->copy_out_bytes += more->copy_out_bytes;
    total->dedup_lookups += more->dedup_lookups;
    total->dedup_hits += more->dedup_hits;
    total->scratch_collections += more->scratch_collections;
    total->scratch_collect_ns += more->scratch_collect_ns;
    total->copy_out_ns += more->copy_out_ns;
    total->home_collect_ns += more->home_collect_ns;
    total->commit_wait_ns += more->commit_wait_ns;
    total->dirty_pages += more->dirty_pages;
    total->write_faults += more->write_faults;
    total->spans_dropped += more->spans_dropped;
    for (uint32_t i = 0; i < more->span_count; i++) {
        if (total->span_count == KERNEL_MAX_SPANS) {
            total->spans_dropped += more->span_count - i;
            break;
        }
        struct kernel_span span = more->spans[i];
        span.offset_ns += offset_ns;
        total->spans[total->span_count++] = span;
    }
}

/* What a stretch of work cost in a context, measured from `before`. */
struct cost_mark {
    uint64_t wall, cpu, steps, bytes_allocated, home_used, collections, collect_ns;
    struct noun_dedup_stats dedup;
};

static void cost_mark(struct cost_mark *mark, struct nock_context *nock, struct noun_home *home, bool cpu)
{
    mark->wall = clock_wall_nanoseconds();
    mark->cpu = cpu ? clock_cpu_nanoseconds_for_events() : 0;
    mark->steps = nock_context_counters(nock)->steps;
    mark->collections = nock_context_counters(nock)->scratch_collections;
    mark->collect_ns = nock_context_counters(nock)->scratch_collect_ns;
    mark->bytes_allocated = noun_region_bytes_allocated(nock_context_region(nock));
    mark->home_used = noun_home_used(home);
    noun_home_dedup_stats(home, &mark->dedup);
}

static void cost_since(struct kernel_cost *cost, const struct cost_mark *before, struct nock_context *nock,
                       struct noun_home *home, bool cpu)
{
    struct cost_mark now;
    cost_mark(&now, nock, home, cpu);
    cost->wall_ns = now.wall - before->wall;
    cost->cpu_ns = now.cpu - before->cpu;
    cost->steps = now.steps - before->steps;
    cost->scratch_collections = now.collections - before->collections;
    cost->scratch_collect_ns = now.collect_ns - before->collect_ns;
    cost->bytes_allocated = now.bytes_allocated - before->bytes_allocated;
    /* home shrinks only by collection, which never runs mid-event */
    cost->copy_out_bytes = now.home_used > before->home_used ? now.home_used - before->home_used : 0;
    cost->dedup_lookups = now.dedup.lookups - before->dedup.lookups;
    cost->dedup_hits = now.dedup.hits - before->dedup.hits;
}

/* ---- allocation guard ------------------------------------------------------ */

/* While installed, a full region longjmps to `exit` instead of calling the
 * evaluator's handler.  Install, then setjmp(guard.exit) in the same frame. */
struct allocation_guard {
    jmp_buf exit;
    struct noun_region *region;
    void (*saved_handler)(void *context);
    void *saved_context;
};

static void guard_out_of_memory(void *context)
{
    struct allocation_guard *guard = context;
    longjmp(guard->exit, 1);
}

static void guard_install(struct allocation_guard *guard, struct noun_region *region)
{
    guard->region = region;
    guard->saved_handler = region->out_of_memory;
    guard->saved_context = region->out_of_memory_context;
    region->out_of_memory = guard_out_of_memory;
    region->out_of_memory_context = guard;
}

static void guard_remove(struct allocation_guard *guard)
{
    guard->region->out_of_memory = guard->saved_handler;
    guard->region->out_of_memory_context = guard->saved_context;
}

/* [head tail] in `region`, or NOUN_NONE when it is full. */
static noun guarded_cell(struct noun_region *region, noun head, noun tail)
{
    struct allocation_guard guard;
    guard_install(&guard, region);
    if (setjmp(guard.exit)) {
        guard_remove(&guard);
        return NOUN_NONE;
    }
    noun cell = noun_cell_new(region, head, tail);
    guard_remove(&guard);
    return cell;
}

/* [a b c] in `region`, or NOUN_NONE when it is full. */
static noun guarded_trel(struct noun_region *region, noun a, noun b, noun c)
{
    noun tail = guarded_cell(region, b, c);
    return tail == NOUN_NONE ? NOUN_NONE : guarded_cell(region, a, tail);
}

/* ---- kernels ----------------------------------------------------------------- */

/* A kernel.  `state` and `call_formula` are home roots (registered slots),
 * so the struct never moves.  `recorder` is the %bout hook's target while
 * an event runs. */
struct kernel {
    struct noun_home *home;
    struct nock_context *nock;
    noun state;
    noun call_formula;     /* [9 2 10 [6 0 2] 0 3] */
    uint64_t event_number;
    bool state_rooted, formula_rooted;
    bool cpu_time;         /* measure cost.cpu_ns */
    struct span_recorder recorder;
    void (*slog)(void *context, noun clue);
    void *slog_context;
};

static void kernel_hook_slog(void *context, noun clue)
{
    struct kernel *kernel = context;
    if (kernel->slog)
        kernel->slog(kernel->slog_context, clue);
}

static void kernel_hook_bout(void *context, uint64_t nanoseconds, noun clue)
{
    struct kernel *kernel = context;
    record_bout(&kernel->recorder, nanoseconds, clue);
}

static bool in_home_or_direct(struct noun_home *home, noun n)
{
    return noun_is_direct(n) || noun_home_holds(home, n);
}

/* Build [9 2 10 [6 0 2] 0 3] in scratch and copy it to home. */
static noun make_call_formula(struct kernel *kernel)
{
    struct noun_region *region = nock_context_region(kernel->nock);
    noun parts[6];
    parts[0] = guarded_cell(region, 0, 2);                                   /* [0 2] */
    parts[1] = parts[0] == NOUN_NONE ? NOUN_NONE : guarded_cell(region, 6, parts[0]);
    parts[2] = parts[1] == NOUN_NONE ? NOUN_NONE : guarded_cell(region, 0, 3);
    parts[3] = parts[2] == NOUN_NONE ? NOUN_NONE : guarded_trel(region, 10, parts[1], parts[2]);
    parts[4] = parts[3] == NOUN_NONE ? NOUN_NONE : guarded_trel(region, 9, 2, parts[3]);
    parts[5] = parts[4] == NOUN_NONE ? NOUN_NONE : noun_home_copy_out(kernel->home, region, parts[4]);
    nock_context_reset(kernel->nock);
    return parts[5];
}

struct kernel *kernel_new(struct noun_home *home, noun state, uint64_t event_number,
                          const struct kernel_options *options, char *why, size_t why_size)
{
    struct kernel_options defaults = { 0 };
    if (!options)
        options = &defaults;
    if (!in_home_or_direct(home, state)) {
        snprintf(why, why_size, "the kernel noun must be copied to home first");
        return NULL;
    }
    struct kernel *kernel = calloc(1, sizeof *kernel);
    if (!kernel) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    kernel->home = home;
    kernel->state = state;
    kernel->call_formula = 0;
    kernel->event_number = event_number;
    kernel->slog = options->slog;
    kernel->slog_context = options->slog_context;
    kernel->cpu_time = !options->no_cpu_time;
    /* events run one at a time here, and home is written between them */
    struct nock_config config = {
        .scratch_max_bytes = options->scratch_max_bytes,
        .keep_memo = true,
        .hooks = { .context = kernel, .slog = kernel_hook_slog, .bout = kernel_hook_bout },
    };
    kernel->nock = nock_context_new(home, &config);
    if (!kernel->nock) {
        snprintf(why, why_size, "cannot make an evaluator for the kernel (out of memory or address space)");
        kernel_free(kernel);
        return NULL;
    }
    kernel->state_rooted = noun_home_root_add(home, &kernel->state);
    kernel->formula_rooted = noun_home_root_add(home, &kernel->call_formula);
    kernel->call_formula = make_call_formula(kernel);
    if (!kernel->state_rooted || !kernel->formula_rooted || kernel->call_formula == NOUN_NONE) {
        snprintf(why, why_size, "out of memory while making the kernel");
        kernel_free(kernel);
        return NULL;
    }
    return kernel;
}

void kernel_free(struct kernel *kernel)
{
    if (!kernel)
        return;
    if (kernel->state_rooted)
        noun_home_root_remove(kernel->home, &kernel->state);
    if (kernel->formula_rooted)
        noun_home_root_remove(kernel->home, &kernel->call_formula);
    if (kernel->nock)
        nock_context_free(kernel->nock);
    free(kernel);
}

noun kernel_state(const struct kernel *kernel) { return kernel->state; }
uint64_t kernel_event_number(const struct kernel *kernel) { return kernel->event_number; }
uint32_t kernel_mug(const struct kernel *kernel) { return mug_noun(kernel->state); }
struct noun_home *kernel_home(const struct kernel *kernel) { return kernel->home; }
struct noun_region *kernel_region(struct kernel *kernel) { return nock_context_region(kernel->nock); }
struct nock_context *kernel_evaluator(struct kernel *kernel) { return kernel->nock; }

bool kernel_set_state(struct kernel *kernel, noun state, uint64_t event_number)
{
    if (!in_home_or_direct(kernel->home, state))
        return false;
    kernel->state = state;
    kernel->event_number = event_number;
    return true;
}

void kernel_interrupt(struct kernel *kernel)
{
    nock_interrupt(kernel->nock);
}

bool kernel_cue_event(struct kernel *kernel, const uint8_t *bytes, size_t length, noun *event, char *why,
                      size_t why_size)
{
    struct noun_region *region = nock_context_region(kernel->nock);
    struct allocation_guard guard;
    struct jam_error error = { 0 };
    guard_install(&guard, region);
    if (setjmp(guard.exit)) {
        guard_remove(&guard);
        nock_context_reset(kernel->nock);
        snprintf(why, why_size, "the event is too big for scratch");
        return false;
    }
    bool ok = jam_cue_bytes(region, bytes, length, event, &error);
    guard_remove(&guard);
    if (!ok)
        snprintf(why, why_size, "%s (at bit %llu)", error.message, (unsigned long long)error.bit_offset);
    return ok;
}

bool kernel_build_event(struct kernel *kernel, noun (*build)(void *context, struct noun_region *region),
                        void *context, noun *event)
{
    struct noun_region *region = nock_context_region(kernel->nock);
    struct allocation_guard guard;
    guard_install(&guard, region);
    if (setjmp(guard.exit)) {
        guard_remove(&guard);
        nock_context_reset(kernel->nock);
        return false;
    }
    *event = build(context, region);
    guard_remove(&guard);
    return *event != NOUN_NONE;
}

/* Whether `effects` is a null-terminated list. */
static bool is_list(noun effects)
{
    while (noun_is_cell(effects))
        effects = noun_tail(effects);
    return effects == 0;
}

static enum kernel_status refuse(struct kernel_error *error, enum kernel_status status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static enum kernel_status refuse(struct kernel_error *error, enum kernel_status status, const char *format, ...)
{
    error->status = status;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
    return status;
}

/* Turn an evaluation that did not succeed into the kernel's error. */
static enum kernel_status refuse_outcome(struct kernel *kernel, const struct nock_outcome *outcome,
                                         uint64_t steps, struct kernel_error *error)
{
    switch (outcome->status) {
    case NOCK_CRASH: {
        noun trace = noun_home_copy_out(kernel->home, nock_context_region(kernel->nock), outcome->trace);
        error->trace = trace == NOUN_NONE ? 0 : trace;
        return refuse(error, KERNEL_CRASH, "the event crashed: %s",
                      outcome->reason ? outcome->reason : "Nock crash");
    }
    case NOCK_OUT_OF_MEMORY:
        return refuse(error, KERNEL_OUT_OF_MEMORY, "out of memory: the kernel's scratch region is full");
    case NOCK_TOO_DEEP:
        return refuse(error, KERNEL_TOO_DEEP, "the event nested calls too deeply");
    case NOCK_INTERRUPTED:
        return refuse(error, KERNEL_INTERRUPTED, "interrupted after %llu steps", (unsigned long long)steps);
    case NOCK_BLOCKED: /* only nested evaluations block; a top-level Nock 12 crashes */
        return refuse(error, KERNEL_CRASH, "the event blocked on a scry");
    case NOCK_OK:
        break;
    }
    return KERNEL_OK;
}

/* Steps 3 and 4 of the cycle: check the product, keep the new kernel. */
static enum kernel_status accept_product(struct kernel *kernel, noun product, struct kernel_applied *applied,
                                         struct kernel_error *error)
{
    if (!noun_is_cell(product))
        return refuse(error, KERNEL_BAD_PRODUCT,
                      "the kernel gave an atom, not [effects new-kernel]: is it a gate (battery at 2, sample at 6)?");
    noun effects = noun_head(product);
    if (!is_list(effects))
        return refuse(error, KERNEL_BAD_PRODUCT,
                      "the kernel's effects (the head of its product) are not a null-terminated list");
    struct noun_region *region = nock_context_region(kernel->nock);
    uint64_t copy_started = clock_wall_nanoseconds();
    noun new_state = noun_home_copy_out(kernel->home, region, noun_tail(product));
    noun kept_effects = new_state == NOUN_NONE ? NOUN_NONE : noun_home_copy_out(kernel->home, region, effects);
    applied->cost.copy_out_ns = clock_wall_nanoseconds() - copy_started;
    if (kept_effects == NOUN_NONE)
        return refuse(error, KERNEL_OUT_OF_MEMORY, "out of memory: home is full");
    kernel->state = new_state;
    kernel->event_number++;
    applied->effects = kept_effects;
    applied->mug = mug_noun(new_state);
    return KERNEL_OK;
}

enum kernel_status kernel_apply(struct kernel *kernel, noun event, struct kernel_applied *applied,
                                struct kernel_error *error)
{
    memset(applied, 0, sizeof *applied);
    error->status = KERNEL_OK;
    error->trace = 0;
    error->steps = 0;
    error->message[0] = '\0';
    struct cost_mark before;
    cost_mark(&before, kernel->nock, kernel->home, kernel->cpu_time);
    kernel->recorder.cost = &applied->cost;
    kernel->recorder.started_ns = before.wall;

    enum kernel_status status;
    noun subject = guarded_cell(nock_context_region(kernel->nock), event, kernel->state);
    if (subject == NOUN_NONE) {
        status = refuse(error, KERNEL_OUT_OF_MEMORY, "out of memory: the kernel's scratch region is full");
    } else {
        struct nock_outcome outcome = nock_evaluate(kernel->nock, subject, kernel->call_formula);
        uint64_t steps = nock_context_counters(kernel->nock)->steps - before.steps;
        error->steps = steps;
        status = refuse_outcome(kernel, &outcome, steps, error);
        if (status == KERNEL_OK)
            status = accept_product(kernel, outcome.product, applied, error);
    }
    kernel->recorder.cost = NULL;
    cost_since(&applied->cost, &before, kernel->nock, kernel->home, kernel->cpu_time);
    if (noun_region_used(nock_context_region(kernel->nock)) > KERNEL_SCRATCH_KEEP || status != KERNEL_OK)
        nock_context_reset(kernel->nock);
    return status;
}

/* ---- effects ------------------------------------------------------------------- */

bool kernel_effect_tag(noun effect, char tag[9])
{
    if (!noun_is_cell(effect) || !noun_is_atom(noun_head(effect)) || noun_atom_byte_length(noun_head(effect)) > 8)
        return false;
    memset(tag, 0, 9);
    noun_atom_to_bytes(noun_head(effect), (uint8_t *)tag, 8);
    return true;
}

uint64_t kernel_effect_count(noun effects)
{
    uint64_t count = 0;
    for (; noun_is_cell(effects); effects = noun_tail(effects))
        count++;
    return count;
}

/* [ms mb], both atoms that fit a direct word. */
static bool is_options(noun n)
{
    return noun_is_cell(n) && noun_is_direct(noun_head(n)) && noun_is_direct(noun_tail(n));
}

bool kernel_parse_spawn(noun effect, uint64_t event_number, uint32_t effect_index, struct kernel_spawn *spawn)
{
    if (!noun_is_cell(effect) || noun_head(effect) != noun_short_term("spawn"))
        return false;
    noun rest = noun_tail(effect);            /* [id subject formula-and-options] */
    if (!noun_is_cell(rest) || !noun_is_cell(noun_tail(rest)))
        return false;
    noun id = noun_head(rest);
    noun subject = noun_head(noun_tail(rest));
    noun formula = noun_tail(noun_tail(rest));
    noun options = 0;
    if (!noun_is_cell(formula))
        return false;
    /* [formula [ms mb]]: a formula is a cell, so a cell in the head of the
     * last part means the options are there (see docs/kernels.md for the
     * one ambiguous case). */
    if (noun_is_cell(noun_head(formula)) && is_options(noun_tail(formula))) {
        options = noun_tail(formula);
        formula = noun_head(formula);
    }
    *spawn = (struct kernel_spawn){
        .event_number = event_number,
        .effect_index = effect_index,
        .id = id,
        .subject = subject,
        .formula = formula,
        .timeout_ms = options ? noun_head(options) : 0,
        .memory_mb = options ? noun_tail(options) : 0,
    };
    return true;
}

/* ---- spawn runners ---------------------------------------------------------------- */

/* A context that runs spawns.  `timed_out` is set by whoever enforces the
 * timeout just before interrupting, so an interrupted run can tell a
 * timeout from Ctrl-C. */
struct kernel_spawn_runner {
    struct noun_home *home;
    struct nock_context *nock;
    uint64_t memory_mb;
    struct span_recorder recorder;
    int timed_out;         /* atomic: set from the watchdog's thread */
    void (*slog)(void *context, noun clue);
    void *slog_context;
};

static void runner_hook_slog(void *context, noun clue)
{
    struct kernel_spawn_runner *runner = context;
    if (runner->slog)
        runner->slog(runner->slog_context, clue);
}

static void runner_hook_bout(void *context, uint64_t nanoseconds, noun clue)
{
    struct kernel_spawn_runner *runner = context;
    record_bout(&runner->recorder, nanoseconds, clue);
}

struct kernel_spawn_runner *kernel_spawn_runner_new(struct noun_home *home, uint64_t memory_mb,
                                                    const struct kernel_backend_options *options)
{
    if (memory_mb > ((uint64_t)1 << 24)) /* 16 TiB: more is a mistake, and overflows */
        return NULL;
    struct kernel_spawn_runner *runner = calloc(1, sizeof *runner);
    if (!runner)
        return NULL;
    runner->home = home;
    runner->memory_mb = memory_mb;
    if (options) {
        runner->slog = options->slog;
        runner->slog_context = options->slog_context;
    }
    struct nock_config config = {
        .scratch_max_bytes = (size_t)memory_mb << 20,
        .hooks = { .context = runner, .slog = runner_hook_slog, .bout = runner_hook_bout },
    };
    runner->nock = nock_context_new(home, &config);
    if (!runner->nock) {
        free(runner);
        return NULL;
    }
    return runner;
}

void kernel_spawn_runner_free(struct kernel_spawn_runner *runner)
{
    if (!runner)
        return;
    nock_context_free(runner->nock);
    free(runner);
}

uint64_t kernel_spawn_runner_memory_mb(const struct kernel_spawn_runner *runner) { return runner->memory_mb; }

void kernel_spawn_runner_time_out(struct kernel_spawn_runner *runner)
{
    __atomic_store_n(&runner->timed_out, 1, __ATOMIC_RELAXED);
    nock_interrupt(runner->nock);
}

void kernel_spawn_runner_interrupt(struct kernel_spawn_runner *runner)
{
    nock_interrupt(runner->nock);
}

static void spawn_failed(struct kernel_outcome *outcome, const char *why)
{
    outcome->result = KERNEL_SPAWN_FAILED;
    outcome->event = NOUN_NONE;
    snprintf(outcome->why, sizeof outcome->why, "%s", why);
}

/* Make the outcome event from what the evaluation gave, in the runner's
 * scratch. */
static void make_outcome_event(struct kernel_spawn_runner *runner, const struct nock_outcome *result,
                               struct kernel_outcome *outcome)
{
    struct noun_region *region = nock_context_region(runner->nock);
    const struct kernel_spawn *spawn = &outcome->spawn;
    noun event = NOUN_NONE;
    switch (result->status) {
    case NOCK_OK:
        outcome->result = KERNEL_SPAWN_DONE;
        event = guarded_trel(region, noun_short_term("done"), spawn->id, result->product);
        break;
    case NOCK_CRASH:
        outcome->result = KERNEL_SPAWN_CRASH;
        event = guarded_trel(region, noun_short_term("crash"), spawn->id, result->trace);
        break;
    case NOCK_INTERRUPTED:
        if (!__atomic_load_n(&runner->timed_out, __ATOMIC_RELAXED)) {
            spawn_failed(outcome, "interrupted");
            return;
        }
        outcome->result = KERNEL_SPAWN_TIMEOUT;
        event = guarded_cell(region, noun_short_term("timeout"), spawn->id);
        break;
    case NOCK_OUT_OF_MEMORY: {
        char why[96];
        if (runner->memory_mb)
            snprintf(why, sizeof why, "out of memory (its limit is %llu MiB of scratch)",
                     (unsigned long long)runner->memory_mb);
        else
            snprintf(why, sizeof why, "out of memory (scratch is full)");
        spawn_failed(outcome, why);
        return;
    }
    case NOCK_TOO_DEEP:
        spawn_failed(outcome, "nested calls too deeply");
        return;
    case NOCK_BLOCKED: /* only nested evaluations block */
        spawn_failed(outcome, "blocked on a scry");
        return;
    }
    if (event == NOUN_NONE)
        spawn_failed(outcome, "out of memory while making its outcome");
    else
        outcome->event = event;
}

void kernel_spawn_runner_evaluate(struct kernel_spawn_runner *runner, const struct kernel_spawn *spawn,
                                  struct kernel_outcome *outcome)
{
    memset(outcome, 0, sizeof *outcome);
    outcome->spawn = *spawn;
    nock_context_reset(runner->nock);
    __atomic_store_n(&runner->timed_out, 0, __ATOMIC_RELAXED);
    uint64_t wall = clock_wall_nanoseconds(), cpu = clock_cpu_nanoseconds_for_events();
    uint64_t steps = nock_context_counters(runner->nock)->steps;
    uint64_t allocated = noun_region_bytes_allocated(nock_context_region(runner->nock));
    outcome->started_ns = wall;
    runner->recorder.cost = &outcome->cost;
    runner->recorder.started_ns = wall;
    struct nock_outcome result = nock_evaluate(runner->nock, spawn->subject, spawn->formula);
    runner->recorder.cost = NULL;
    make_outcome_event(runner, &result, outcome);
    outcome->cost.wall_ns = clock_wall_nanoseconds() - wall;
    outcome->cost.cpu_ns = clock_cpu_nanoseconds_for_events() - cpu;
    outcome->cost.steps = nock_context_counters(runner->nock)->steps - steps;
    outcome->cost.bytes_allocated = noun_region_bytes_allocated(nock_context_region(runner->nock)) - allocated;
}

void kernel_spawn_runner_keep(struct kernel_spawn_runner *runner, struct kernel_outcome *outcome)
{
    if (outcome->result != KERNEL_SPAWN_FAILED) {
        uint64_t wall = clock_wall_nanoseconds();
        size_t home_before = noun_home_used(runner->home);
        struct noun_dedup_stats before, after;
        noun_home_dedup_stats(runner->home, &before);
        noun kept = noun_home_copy_out(runner->home, nock_context_region(runner->nock), outcome->event);
        noun_home_dedup_stats(runner->home, &after);
        size_t home_after = noun_home_used(runner->home);
        outcome->cost.copy_out_bytes += home_after > home_before ? home_after - home_before : 0;
        outcome->cost.dedup_lookups += after.lookups - before.lookups;
        outcome->cost.dedup_hits += after.hits - before.hits;
        outcome->cost.wall_ns += clock_wall_nanoseconds() - wall;
        if (kept == NOUN_NONE)
            spawn_failed(outcome, "out of memory while keeping its outcome");
        else
            outcome->event = kept;
    }
    nock_context_reset(runner->nock);
}

void kernel_spawn_runner_run(struct kernel_spawn_runner *runner, const struct kernel_spawn *spawn,
                             struct kernel_outcome *outcome)
{
    kernel_spawn_runner_evaluate(runner, spawn, outcome);
    kernel_spawn_runner_keep(runner, outcome);
}

bool kernel_spawn_runner_cue_outcome(struct kernel_spawn_runner *runner, const uint8_t *bytes, size_t length,
                                     struct kernel_outcome *outcome)
{
    struct noun_region *region = nock_context_region(runner->nock);
    nock_context_reset(runner->nock);
    struct allocation_guard guard;
    struct jam_error error = { 0 };
    guard_install(&guard, region);
    if (setjmp(guard.exit)) {
        guard_remove(&guard);
        nock_context_reset(runner->nock);
        spawn_failed(outcome, "its outcome is too big for scratch");
        return false;
    }
    noun event;
    bool ok = jam_cue_bytes(region, bytes, length, &event, &error);
    guard_remove(&guard);
    if (!ok) {
        snprintf(outcome->why, sizeof outcome->why, "its outcome came back damaged: %.100s (at bit %llu)",
                 error.message, (unsigned long long)error.bit_offset);
        outcome->result = KERNEL_SPAWN_FAILED;
        outcome->event = NOUN_NONE;
        nock_context_reset(runner->nock);
        return false;
    }
    outcome->event = event;
    kernel_spawn_runner_keep(runner, outcome);
    return outcome->result != KERNEL_SPAWN_FAILED;
}

bool kernel_spawn_runner_timeout_outcome(struct kernel_spawn_runner *runner, struct kernel_outcome *outcome)
{
    nock_context_reset(runner->nock);
    noun event = guarded_cell(nock_context_region(runner->nock), noun_short_term("timeout"), outcome->spawn.id);
    if (event == NOUN_NONE) {
        spawn_failed(outcome, "out of memory while making its outcome");
        return false;
    }
    outcome->result = KERNEL_SPAWN_TIMEOUT;
    outcome->event = event;
    kernel_spawn_runner_keep(runner, outcome);
    return outcome->result != KERNEL_SPAWN_FAILED;
}

struct noun_region *kernel_spawn_runner_region(struct kernel_spawn_runner *runner)
{
    return nock_context_region(runner->nock);
}

/* ---- the serial backend ------------------------------------------------------------ */

/* Interrupts the running spawn when its deadline passes.  `deadline_ns`
 * (CLOCK_MONOTONIC) is 0 when nothing is armed; `target` is the runner to
 * time out.  All fields under `lock`. */
struct watchdog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool started, quit;
    uint64_t deadline_ns;
    struct kernel_spawn_runner *target;
};

static void *watchdog_main(void *argument)
{
    struct watchdog *watchdog = argument;
    pthread_mutex_lock(&watchdog->lock);
    while (!watchdog->quit) {
        if (!watchdog->deadline_ns) {
            pthread_cond_wait(&watchdog->wake, &watchdog->lock);
            continue;
        }
        if (clock_wall_nanoseconds() >= watchdog->deadline_ns) {
            kernel_spawn_runner_time_out(watchdog->target);
            watchdog->deadline_ns = 0;
            watchdog->target = NULL;
            continue;
        }
        struct timespec until = { .tv_sec = (time_t)(watchdog->deadline_ns / 1000000000u),
                                  .tv_nsec = (long)(watchdog->deadline_ns % 1000000000u) };
        pthread_cond_timedwait(&watchdog->wake, &watchdog->lock, &until);
    }
    pthread_mutex_unlock(&watchdog->lock);
    return NULL;
}

static bool watchdog_start(struct watchdog *watchdog)
{
    if (watchdog->started)
        return true;
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    bool ok = pthread_mutex_init(&watchdog->lock, NULL) == 0;
    ok = ok && pthread_cond_init(&watchdog->wake, &attributes) == 0;
    pthread_condattr_destroy(&attributes);
    ok = ok && pthread_create(&watchdog->thread, NULL, watchdog_main, watchdog) == 0;
    watchdog->started = ok;
    return ok;
}

static void watchdog_arm(struct watchdog *watchdog, struct kernel_spawn_runner *runner, uint64_t milliseconds)
{
    if (milliseconds > UINT64_MAX / 2000000u)
        return; /* longer than any run: as good as no timeout */
    pthread_mutex_lock(&watchdog->lock);
    watchdog->deadline_ns = clock_wall_nanoseconds() + milliseconds * 1000000u;
    watchdog->target = runner;
    pthread_cond_signal(&watchdog->wake);
    pthread_mutex_unlock(&watchdog->lock);
}

static void watchdog_disarm(struct watchdog *watchdog)
{
    pthread_mutex_lock(&watchdog->lock);
    watchdog->deadline_ns = 0;
    watchdog->target = NULL;
    pthread_mutex_unlock(&watchdog->lock);
}

static void watchdog_stop(struct watchdog *watchdog)
{
    if (!watchdog->started)
        return;
    pthread_mutex_lock(&watchdog->lock);
    watchdog->quit = true;
    pthread_cond_signal(&watchdog->wake);
    pthread_mutex_unlock(&watchdog->lock);
    pthread_join(watchdog->thread, NULL);
    pthread_cond_destroy(&watchdog->wake);
    pthread_mutex_destroy(&watchdog->lock);
}

/* The serial backend.  Outcomes wait in `ready`
 * until taken.  `active` is the runner evaluating now (NULL otherwise),
 * read by interrupt from a signal handler. */
struct serial_backend {
    struct kernel_backend interface;
    struct noun_home *home;
    struct kernel_backend_options options;
    struct kernel_spawn_runner *runner;          /* spawns without a memory limit */
    struct kernel_spawn_runner *limited_runner;  /* for the last memory limit asked */
    struct kernel_spawn_runner *volatile active;
    struct fifo ready;                            /* of struct kernel_outcome */
    struct watchdog watchdog;
    struct kernel_backend_stats stats;
};

static struct kernel_spawn_runner *serial_runner_for(struct serial_backend *serial, uint64_t memory_mb)
{
    if (!memory_mb) {
        if (!serial->runner)
            serial->runner = kernel_spawn_runner_new(serial->home, 0, &serial->options);
        return serial->runner;
    }
    if (serial->limited_runner && kernel_spawn_runner_memory_mb(serial->limited_runner) == memory_mb)
        return serial->limited_runner;
    kernel_spawn_runner_free(serial->limited_runner);
    serial->limited_runner = kernel_spawn_runner_new(serial->home, memory_mb, &serial->options);
    return serial->limited_runner;
}

static bool serial_submit(void *self, const struct kernel_spawn *spawn, char *why, size_t why_size)
{
    struct serial_backend *serial = self;
    struct kernel_spawn_runner *runner = serial_runner_for(serial, spawn->memory_mb);
    if (!runner) {
        snprintf(why, why_size, "cannot make an evaluator with %llu MiB of scratch",
                 (unsigned long long)spawn->memory_mb);
        return false;
    }
    bool timed = spawn->timeout_ms && !serial->options.ignore_timeouts;
    if (timed && !watchdog_start(&serial->watchdog)) {
        snprintf(why, why_size, "cannot start the timeout thread: %s", strerror(errno));
        return false;
    }
    struct kernel_outcome *outcome = malloc(sizeof *outcome);
    if (!outcome) {
        snprintf(why, why_size, "out of memory");
        return false;
    }
    if (timed)
        watchdog_arm(&serial->watchdog, runner, spawn->timeout_ms);
    serial->active = runner;
    kernel_spawn_runner_run(runner, spawn, outcome);
    serial->active = NULL;
    if (timed)
        watchdog_disarm(&serial->watchdog);
    serial->stats.spawns++;
    serial->stats.run_ns += outcome->cost.wall_ns;
    serial->stats.dedup_lookups += outcome->cost.dedup_lookups;
    serial->stats.dedup_hits += outcome->cost.dedup_hits;
    bool queued = fifo_push(&serial->ready, outcome);
    free(outcome);
    if (!queued)
        snprintf(why, why_size, "out of memory while queueing its outcome");
    return queued;
}

static bool serial_take(void *self, bool wait, struct kernel_outcome *outcome)
{
    struct serial_backend *serial = self;
    /* nothing runs in the background: waiting can't help */
    return fifo_pop(&serial->ready, outcome);
}

static size_t serial_running(void *self)
{
    struct serial_backend *serial = self;
    return serial->ready.count;
}

static void serial_interrupt(void *self)
{
    struct serial_backend *serial = self;
    struct kernel_spawn_runner *active = serial->active;
    if (active)
        kernel_spawn_runner_interrupt(active);
}

static void serial_stats(void *self, struct kernel_backend_stats *out)
{
    struct serial_backend *serial = self;
    *out = serial->stats;
}

static void serial_free(void *self)
{
    struct serial_backend *serial = self;
    watchdog_stop(&serial->watchdog);
    kernel_spawn_runner_free(serial->runner);
    kernel_spawn_runner_free(serial->limited_runner);
    fifo_free(&serial->ready);
    free(serial);
}

struct kernel_backend *kernel_backend_serial(struct noun_home *home, const struct kernel_backend_options *options)
{
    struct serial_backend *serial = calloc(1, sizeof *serial);
    if (!serial)
        return NULL;
    serial->home = home;
    fifo_init(&serial->ready, sizeof(struct kernel_outcome));
    if (options)
        serial->options = *options;
    serial->interface = (struct kernel_backend){
        .name = "serial",
        .self = serial,
        .submit = serial_submit,
        .take = serial_take,
        .running = serial_running,
        .interrupt = serial_interrupt,
        .free = serial_free,
        .stats = serial_stats,
    };
    return &serial->interface;
}

void kernel_backend_free(struct kernel_backend *backend)
{
    if (backend)
        backend->free(backend->self);
}
