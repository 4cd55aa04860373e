/* store.c -- the event loop over a store: apply, append, commit, release;
 * generate; replay.
 *
 * Invariants:
 *   - An event's effects are released (shown, spawns started) only after
 *     the commit that covers its row.  Events applied since the last
 *     commit wait in `unreleased` with their effects.
 *   - The live kernel never runs ahead of the log for long: if appending
 *     or committing fails, the kernel goes back to the state it had before
 *     the batch (`batch_base_state`), and the batch's effects are dropped.
 *   - Every home noun the store holds while home may be collected is a
 *     root: kernels and the spawns a replay remembers are root slots; the
 *     event being poked, the batch's base state, the effects waiting for
 *     their commit or being released, the outcome being applied and the
 *     outcomes an ordered run holds back (`waiting`) are
 *     visited by store_roots.  Home is collected before an event (never
 *     while one is applied) and only when the backend holds no spawn
 *     (a submitted spawn's nouns are the backend's to keep, unrooted).
 *     In collection stress mode (interp/noun.h) that is before every event.
 */
#include "repl/store.h"
#include "interp/clock.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/backend.h"
#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/stm.h"
#include "interp/text.h"
#include "profiler/monitor.h"
#include "profiler/profile.h"
#include "repl/samples.h"
#include "snapshots/snapshot.h"

/* A batch is committed when no more events are waiting, or once it holds
 * this many events or has been open this long. */
#define STORE_BATCH_EVENTS 1024
#define STORE_BATCH_NANOSECONDS (50 * 1000000ull)
/* Home is collected between batches once it has grown past twice what
 * survived the last collection, and past this floor. */
#define STORE_COLLECT_FLOOR ((size_t)8 << 20)
/* Progress is reported at most this often. */
#define STORE_PROGRESS_NANOSECONDS (100 * 1000000ull)
/* A replay commits its profile rows every this many events. */
#define STORE_REPLAY_FLUSH_EVENTS 8192

/* A spawn, by where it came from. */
struct spawn_key {
    uint64_t event_number;
    uint32_t effect_index;
};

/* An applied event waiting for its commit. */
struct unreleased {
    struct store_event_info info;
    noun effects;
};

/* A spawn seen while replaying, waiting for the row that holds its
 * outcome.  The nouns in `spawn` are home roots, so it is heap-allocated
 * and never moves. */
struct remembered_spawn {
    struct remembered_spawn *next;
    struct kernel_spawn spawn;
};

/* The store.  `listener` is the caller's, for the call now running.
 * `batch_open` is true from the first event applied after a commit until
 * the next commit; `batch_base_*` is the kernel before that first event. */
struct store {
    char *directory;
    /* Where kernels live: the home the caller gave (`given_home`), or, for
     * a pma store, the home mapped from its PMA, which nothing outside may
     * point into and which must never point outside itself: nouns from
     * the caller's home enter it jammed and cued (bring_home). */
    struct noun_home *home;
    struct noun_home *given_home;
    struct evlog *log;
    char *kernel_name;
    struct kernel *kernel;
    struct kernel_backend *backend;
    struct stm *stm;               /* events run under STM when set */
    /* What STM did since the store opened, for the live panes: events
     * committed, events that met a conflict, executions thrown away, and
     * where its time went (stm_batch_stats). */
    uint64_t stm_commits, stm_conflicts, stm_reruns;
    struct stm_time stm_time;
    struct profile_run *live_run;
    const struct store_listener *listener;

    struct unreleased *unreleased;
    size_t unreleased_count, unreleased_capacity;
    struct unreleased *releasing;  /* a committed batch being released */
    size_t releasing_count;
    noun releasing_rest;           /* the effects of releasing[i] not yet started */
    noun poked_event;              /* store_poke's event, 0 when none */
    struct kernel_outcome outcome; /* the spawn outcome being applied */
    bool outcome_held;             /* ... when this is true */
    bool roots_registered;
    bool batch_open;
    struct profile_run *batch_run; /* the run recording the open batch */
    noun batch_base_state;
    uint64_t batch_base_number;
    uint64_t batch_started_ns;
    uint64_t home_collect_ns;  /* a collection not yet charged to an event */

    volatile sig_atomic_t interrupt_requested;
    struct kernel *volatile replay_kernel;
    struct kernel_backend *volatile replay_backend;

    /* The backend spawns run on (store_set_backend), and whether outcomes
     * apply in the order spawns were made.  `waiting` holds outcomes taken
     * ahead of their turn in ordered mode (nouns in home, unrooted: home is
     * not collected while any is held). */
    char backend_name[16];
    unsigned workers;
    int child_nice;
    bool ordered;
    struct kernel_outcome *waiting;
    size_t waiting_count, waiting_capacity;
    struct spawn_key *order;
    size_t order_count, order_capacity;

    /* Snapshots (snapshots/snapshot.h): a run takes one whenever the
     * kernel is `snap_every` events past `last_snapshot_event` (the event
     * of the last snapshot saved or loaded) and everything is committed.
     * With `ignore_snapshots`, kernels are rebuilt from the log alone. */
    struct snapshot_store *snapshots;
    uint64_t snap_every;
    uint64_t last_snapshot_event;
    uint64_t snapshots_taken;   /* saved since the store was opened, for the panes */
    /* A pma store's dirty pages and write faults as last read, so each
     * event is charged what it added (snapshot_store_counters). */
    uint64_t dirty_mark, fault_mark;
    bool ignore_snapshots;
};

/* ---- small helpers ----------------------------------------------------------- */

static bool fail(struct store_error *error, uint64_t event_number, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct store_error *error, uint64_t event_number, const char *format, ...)
{
    error->event_number = event_number;
    error->trace = 0;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
    return false;
}

static void notice(struct store *store, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void notice(struct store *store, const char *format, ...)
{
    const struct store_listener *listener = store->listener;
    if (!listener || !listener->notice)
        return;
    char text[400];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    listener->notice(listener->context, text);
}

/* A short canonical text of a noun (a spawn id) for messages. */
static void noun_label(noun n, char *out, size_t size)
{
    struct text_print_options options = { .max_cells = 8 };
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    if (text_print(&buffer, n, &options) && buffer.data)
        snprintf(out, size, "%.*s", (int)(buffer.length > 60 ? 60 : buffer.length), buffer.data);
    else
        snprintf(out, size, "?");
    text_buffer_free(&buffer);
}

static void store_slog(void *context, noun clue)
{
    struct store *store = context;
    const struct store_listener *listener = store->listener;
    if (listener && listener->slog)
        listener->slog(listener->context, clue);
}

static void visit_outcome(struct noun_collector *collector, struct kernel_outcome *outcome)
{
    noun_collector_visit(collector, &outcome->event);
    noun_collector_visit(collector, &outcome->spawn.id);
    noun_collector_visit(collector, &outcome->spawn.subject);
    noun_collector_visit(collector, &outcome->spawn.formula);
}

/* Visit every home noun the store holds outside root slots (see the
 * invariants at the top). */
static void store_roots(void *context, struct noun_collector *collector)
{
    struct store *store = context;
    noun_collector_visit(collector, &store->batch_base_state);
    noun_collector_visit(collector, &store->poked_event);
    noun_collector_visit(collector, &store->releasing_rest);
    for (size_t i = 0; i < store->unreleased_count; i++)
        noun_collector_visit(collector, &store->unreleased[i].effects);
    for (size_t i = 0; i < store->releasing_count; i++)
        noun_collector_visit(collector, &store->releasing[i].effects);
    if (store->outcome_held)
        visit_outcome(collector, &store->outcome);
    for (size_t i = 0; i < store->waiting_count; i++)
        visit_outcome(collector, &store->waiting[i]);
}

/* Collect home, before an event, if it has grown enough (or always, in
 * collection stress mode) and `backend` holds no spawn.  The time it took
 * is charged to the next event applied (its profile row's
 * home_collect_ns). */
static void maybe_collect(struct store *store, struct kernel_backend *backend)
{
    if (backend->running(backend->self))
        return;
    size_t used = noun_home_used(store->home);
    size_t floor = noun_home_used_after_collect(store->home);
    if (floor < STORE_COLLECT_FLOOR / 2)
        floor = STORE_COLLECT_FLOOR / 2;
    if (used > 2 * floor || noun_collection_stress()) {
        uint64_t started = clock_wall_nanoseconds();
        noun_home_collect(store->home);
        store->home_collect_ns += clock_wall_nanoseconds() - started;
    }
}

/* Progress, at most every STORE_PROGRESS_NANOSECONDS unless `final`. */
struct progress {
    const char *what;
    uint64_t total;
    uint64_t started_ns;
    uint64_t reported_ns;
};

static void progress_start(struct progress *progress, const char *what, uint64_t total)
{
    progress->what = what;
    progress->total = total;
    progress->started_ns = progress->reported_ns = clock_wall_nanoseconds();
}

static void progress_report(struct store *store, struct progress *progress, uint64_t done, bool final)
{
    const struct store_listener *listener = store->listener;
    if (!listener || !listener->progress)
        return;
    uint64_t now = clock_wall_nanoseconds();
    if (!final && now - progress->reported_ns < STORE_PROGRESS_NANOSECONDS)
        return;
    progress->reported_ns = now;
    listener->progress(listener->context, progress->what, done, progress->total,
                       (double)(now - progress->started_ns) / 1e9, final);
}

/* Tell the listener which evaluator runs the events now (NULL: none). */
static void tell_evaluator(struct store *store, struct kernel *kernel)
{
    const struct store_listener *listener = store->listener;
    if (listener && listener->evaluator)
        listener->evaluator(listener->context, kernel ? kernel_evaluator(kernel) : NULL);
}

/* Charge the event just applied with the home pages it wrote (a pma
 * store; 0 otherwise). */
static void count_home_writes(struct store *store, struct kernel_cost *cost)
{
    uint64_t dirty, faults;
    snapshot_store_counters(store->snapshots, &dirty, &faults);
    cost->dirty_pages = dirty >= store->dirty_mark ? dirty - store->dirty_mark : dirty;
    cost->write_faults = faults >= store->fault_mark ? faults - store->fault_mark : faults;
    store->dirty_mark = dirty;
    store->fault_mark = faults;
}

/* An STM result's cost, charged with the home pages written since the
 * last event (a batch's writes all go to its first event). */
static const struct kernel_cost *stm_cost(struct store *store, const struct stm_result *result)
{
    static __thread struct kernel_cost cost;
    /* (not the whole struct: its spans are kilobytes, mostly unused) */
    const struct kernel_cost *from = &result->applied.cost;
    memcpy(&cost, from, offsetof(struct kernel_cost, spans));
    memcpy(cost.spans, from->spans, from->span_count * sizeof from->spans[0]);
    count_home_writes(store, &cost);
    return &cost;
}

/* What a busy worker runs, most telling first (a narrow pane cuts the
 * end): "0.20s spawn 7 @12", for how long, which spawn, of which event. */
static void describe_worker(const struct kernel_worker_status *status, char *out, size_t size)
{
    struct text_buffer id;
    text_buffer_init(&id);
    struct text_print_options options = { .max_cells = 4 };
    bool printed = text_print(&id, status->spawn.id, &options) && id.data;
    snprintf(out, size, "%.2fs spawn %.*s @%llu", (double)status->running_ns / 1e9, printed ? (int)id.length : 1,
             printed ? id.data : "?", (unsigned long long)status->spawn.event_number);
    text_buffer_free(&id);
}

/* The backend's state for the panes: its workers and what each runs,
 * spawns queued and in flight, fork's children, what STM did. */
static void report_backend(struct store *store, struct kernel_backend *backend, uint64_t applying)
{
    struct monitor_backend state = { .applying = applying, .in_flight = backend->running(backend->self),
                                     .stm_commits = store->stm_commits, .stm_conflicts = store->stm_conflicts,
                                     .stm_reruns = store->stm_reruns, .stm_time = store->stm_time };
    snprintf(state.name, sizeof state.name, "%s", backend->name);
    struct kernel_worker_status workers[MONITOR_MAX_WORKERS];
    size_t count = backend->workers ? backend->workers(backend->self, workers, MONITOR_MAX_WORKERS) : 0;
    size_t busy = 0;
    for (size_t i = 0; i < count && i < MONITOR_MAX_WORKERS; i++)
        if (workers[i].busy) {
            describe_worker(&workers[i], state.doing[i], sizeof state.doing[i]);
            busy++;
        }
    state.workers = (uint32_t)count;
    /* fork's workers are its children: one per spawn running */
    if (strcmp(backend->name, "fork") == 0)
        state.fork_children = count;
    state.queued = state.in_flight > busy ? state.in_flight - busy : 0;
    if (backend->stats) {
        struct kernel_backend_stats stats;
        backend->stats(backend->self, &stats);
        state.spawns = stats.spawns;
    }
    monitor_backend(monitor_process(), &state);
}

/* An event was applied and profiled: the live panes see it too. */
static void report_event(struct store *store, struct kernel_backend *backend, uint64_t number,
                         const struct kernel_cost *cost)
{
    struct monitor *monitor = monitor_process();
    if (!monitor_watched(monitor))
        return;
    monitor_event(monitor, number, cost);
    if (!monitor_state_due(monitor))
        return;
    struct noun_dedup_stats dedup;
    noun_home_dedup_stats(store->home, &dedup);
    monitor_dedup(monitor, &dedup);
    report_backend(store, backend, number);
}

/* ---- opening and closing ------------------------------------------------------- */

/* Whether `directory` may be opened as a store: one that holds
 * events.sqlite is one; with `create`, a directory that doesn't exist yet
 * or is empty (a stale lock file aside) may become one.  Anything else is
 * someone's directory, never turned into a store behind their back. */
static bool check_store_directory(const char *directory, bool create, struct store_error *error)
{
    DIR *listing = opendir(directory);
    if (!listing)
        return errno == ENOENT && create ? true
               : errno == ENOENT          ? fail(error, 0, "no store at %s (nocklab gen or :boot makes one)", directory)
               : errno == ENOTDIR         ? fail(error, 0, "store %s is not a directory", directory)
                                          : fail(error, 0, "cannot open store %s: %s", directory, strerror(errno));
    bool has_log = false, has_other = false;
    struct dirent *entry;
    while ((entry = readdir(listing))) {
        const char *name = entry->d_name;
        if (strcmp(name, "events.sqlite") == 0)
            has_log = true;
        else if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strcmp(name, "lock") != 0)
            has_other = true;
    }
    closedir(listing);
    if (has_log)
        return true;
    if (!create)
        return fail(error, 0, "%s is not a nocklab store (it has no events.sqlite; nocklab gen or :boot makes one)",
                    directory);
    if (has_other)
        return fail(error, 0, "%s holds other files and is not a nocklab store; give a new or empty directory",
                    directory);
    return true;
}

struct store *store_open(const char *directory, bool create, struct noun_home *home, struct store_error *error)
{
    if (!check_store_directory(directory, create, error))
        return NULL;
    struct evlog_error log_error = { 0 };
    struct evlog *log = evlog_open(directory, create, &log_error);
    if (!log) {
        fail(error, 0, "%s", log_error.message);
        return NULL;
    }
    struct store *store = calloc(1, sizeof *store);
    if (!store || !(store->directory = strdup(directory))) {
        free(store);
        evlog_close(log);
        fail(error, 0, "out of memory opening store %s", directory);
        return NULL;
    }
    store->log = log;
    store->given_home = store->home = home;
    snprintf(store->backend_name, sizeof store->backend_name, "serial");
    struct snapshot_error snapshot_error;
    store->snapshots = snapshot_store_open(log, SNAPSHOT_NONE, &snapshot_error);
    if (!store->snapshots) {
        fail(error, 0, "%s", snapshot_error.message);
        store_close(store);
        return NULL;
    }
    if (snapshot_store_home(store->snapshots))
        store->home = snapshot_store_home(store->snapshots);
    struct kernel_backend_options options = { .slog = store_slog, .slog_context = store };
    store->backend = kernel_backend_serial(store->home, &options);
    store->roots_registered = store->backend && noun_home_root_enumerator_add(store->home, store_roots, store);
    if (!store->roots_registered) {
        store_close(store);
        fail(error, 0, "out of memory opening store %s", directory);
        return NULL;
    }
    /* Pace periodic snapshots from the newest one on disk, as far as its
     * header can be believed before it is read: never past the log. */
    store->last_snapshot_event = snapshot_store_newest_claimed(store->snapshots);
    if (store->last_snapshot_event > evlog_last_event(log))
        store->last_snapshot_event = evlog_last_event(log);
    return store;
}

/* The options every backend of this store is made with. */
static struct kernel_backend_options backend_options(struct store *store, bool replaying)
{
    return (struct kernel_backend_options){
        .ignore_timeouts = replaying,
        .slog = store_slog,
        .slog_context = store,
        .workers = store->workers,
        .child_nice = store->child_nice,
    };
}

/* Apply events through an STM engine (stm_apply_batch) from now on, or
 * one at a time again. */
static bool use_stm(struct store *store, bool wanted, struct store_error *error)
{
    if (!wanted) {
        stm_free(store->stm);
        store->stm = NULL;
        return true;
    }
    stm_free(store->stm);
    char why[200];
    struct stm_options options = { .workers = store->workers, .slog = store_slog, .slog_context = store };
    store->stm = stm_new(store->home, &options, why, sizeof why);
    return store->stm || fail(error, 0, "%s", why);
}

/* Move the store to `home` (a PMA's, chosen after the store was opened):
 * only while no kernel or spawn holds nouns in the old one. */
static bool switch_home(struct store *store, struct noun_home *home, struct store_error *error)
{
    if (store->roots_registered)
        noun_home_root_enumerator_remove(store->home, store_roots, store);
    store->roots_registered = false;
    kernel_backend_free(store->backend);
    store->home = home;
    struct kernel_backend_options options = backend_options(store, false);
    char why[200];
    store->backend = backend_new(store->backend_name, home, &options, why, sizeof why);
    if (!store->backend)
        store->backend = kernel_backend_serial(home, &options);
    store->roots_registered = store->backend && noun_home_root_enumerator_add(home, store_roots, store);
    if (!store->roots_registered)
        return fail(error, 0, "out of memory moving store %s to its PMA", store->directory);
    return !store->stm || use_stm(store, true, error);
}

/* `n`, a noun of the caller's home, as a noun of the store's home (the
 * same noun when they are one home): jammed, cued into `kernel`'s scratch
 * and copied out, so a PMA never points outside itself. */
static bool bring_home(struct store *store, struct kernel *kernel, noun n, noun *out, struct store_error *error)
{
    *out = n;
    if (store->home == store->given_home || noun_is_direct(n) || noun_home_holds(store->home, n))
        return true;
    uint8_t *jam = NULL;
    size_t length = 0;
    if (!jam_to_bytes(n, &jam, &length))
        return fail(error, 0, "out of memory copying a noun into the store's PMA");
    noun cued = 0;
    char why[200];
    bool ok = kernel_cue_event(kernel, jam, length, &cued, why, sizeof why);
    free(jam);
    if (!ok)
        return fail(error, 0, "%s", why);
    *out = noun_home_copy_out(store->home, kernel_region(kernel), cued);
    return *out != NOUN_NONE || fail(error, 0, "out of memory: home is full");
}

bool store_set_backend(struct store *store, const char *name, unsigned workers, int child_nice,
                       struct store_error *error)
{
    if (store->backend->running(store->backend->self) || store->waiting_count)
        return fail(error, 0, "spawns are still running on the %s backend", store->backend->name);
    unsigned saved_workers = store->workers;
    int saved_nice = store->child_nice;
    store->workers = workers;
    store->child_nice = child_nice;
    struct kernel_backend_options options = backend_options(store, false);
    char why[200];
    /* the old one first: a threads backend installs the %par mapper, and
     * the newest must be the one installed */
    kernel_backend_free(store->backend);
    store->backend = backend_new(name, store->home, &options, why, sizeof why);
    if (!store->backend) {
        store->workers = saved_workers;
        store->child_nice = saved_nice;
        options = backend_options(store, false);
        store->backend = backend_new(store->backend_name, store->home, &options, why, sizeof why);
        if (!store->backend)
            store->backend = kernel_backend_serial(store->home, &options);
        return fail(error, 0, "%s", why);
    }
    snprintf(store->backend_name, sizeof store->backend_name, "%s", name);
    if (!use_stm(store, backend_find(name)->runs_events, error))
        return false;
    /* a live run records one backend: the next poke starts a new one */
    struct profile_error profile_error;
    profile_run_end(store->live_run, "done", &profile_error);
    store->live_run = NULL;
    return true;
}

void store_set_ordered(struct store *store, bool ordered) { store->ordered = ordered; }
bool store_ordered(const struct store *store) { return store->ordered; }
struct kernel_backend *store_backend(struct store *store) { return store->backend; }
unsigned store_workers(const struct store *store) { return store->workers; }

void store_close(struct store *store)
{
    if (!store)
        return;
    struct profile_error profile_error;
    profile_run_end(store->live_run, "done", &profile_error);
    kernel_free(store->kernel);
    kernel_backend_free(store->backend);
    if (store->roots_registered)
        noun_home_root_enumerator_remove(store->home, store_roots, store);
    stm_free(store->stm);
    if (store->snapshots)
        snapshot_store_close(store->snapshots); /* a pma store's home goes with it */
    evlog_close(store->log);
    free(store->waiting);
    free(store->order);
    free(store->unreleased);
    free(store->kernel_name);
    free(store->directory);
    free(store);
}

const char *store_directory(const struct store *store) { return store->directory; }
struct evlog *store_log(struct store *store) { return store->log; }
bool store_booted(const struct store *store) { return evlog_has_boot(store->log); }
const char *store_kernel_name(const struct store *store) { return store->kernel_name ? store->kernel_name : ""; }
struct kernel *store_kernel(struct store *store) { return store->kernel; }

void store_interrupt(struct store *store)
{
    if (!store)
        return;
    store->interrupt_requested = 1;
    if (store->kernel)
        kernel_interrupt(store->kernel);
    struct kernel *replaying = store->replay_kernel;
    if (replaying)
        kernel_interrupt(replaying);
    store->backend->interrupt(store->backend->self);
    if (store->stm)
        stm_interrupt(store->stm);
    struct kernel_backend *replay_backend = store->replay_backend;
    if (replay_backend)
        replay_backend->interrupt(replay_backend->self);
}

/* `replaying`: the replay loop measures CPU time itself (see replay_into). */
static struct kernel *new_kernel(struct store *store, noun state, bool replaying, struct store_error *error)
{
    char why[200];
    struct kernel_options options = { .slog = store_slog, .slog_context = store, .no_cpu_time = replaying };
    struct kernel *kernel = kernel_new(store->home, state, 0, &options, why, sizeof why);
    if (!kernel)
        fail(error, 0, "%s", why);
    return kernel;
}

bool store_boot(struct store *store, const char *name, noun kernel_noun, struct store_error *error)
{
    if (store_booted(store))
        return fail(error, 0, "store %s already holds a kernel (%s); a new kernel needs a new or empty directory",
                    store->directory, store_kernel_name(store)[0] ? store_kernel_name(store) : "booted before");
    uint8_t *jam = NULL;
    size_t length = 0;
    if (!jam_to_bytes(kernel_noun, &jam, &length))
        return fail(error, 0, "out of memory while jamming the kernel");
    bool own_home = store->home != store->given_home;
    struct kernel *kernel = new_kernel(store, own_home ? 0 : kernel_noun, false, error);
    noun brought = kernel_noun;
    if (kernel && own_home && (!bring_home(store, kernel, kernel_noun, &brought, error) ||
                               !kernel_set_state(kernel, brought, 0))) {
        if (!error->message[0])
            fail(error, 0, "out of memory: home is full");
        free(jam);
        kernel_free(kernel);
        return false;
    }
    struct evlog_error log_error = { 0 };
    bool ok = kernel && evlog_write_boot(store->log, name, jam, length, kernel_mug(kernel), &log_error);
    free(jam);
    if (!ok) {
        if (kernel)
            fail(error, 0, "%s", log_error.message);
        kernel_free(kernel);
        return false;
    }
    kernel_free(store->kernel);
    store->kernel = kernel;
    free(store->kernel_name);
    store->kernel_name = strdup(name);
    return true;
}

/* A kernel holding the store's boot kernel, checked against its mug. */
static struct kernel *kernel_from_boot(struct store *store, bool replaying, struct store_error *error)
{
    char *name = NULL;
    uint8_t *jam = NULL;
    size_t length = 0;
    uint32_t mug = 0;
    struct evlog_error log_error = { 0 };
    if (!evlog_read_boot(store->log, &name, &jam, &length, &mug, &log_error)) {
        fail(error, 0, "%s", log_error.message);
        return NULL;
    }
    struct kernel *kernel = new_kernel(store, 0, replaying, error);
    noun boot = NOUN_NONE;
    char why[200];
    if (kernel && !kernel_cue_event(kernel, jam, length, &boot, why, sizeof why))
        fail(error, 0, "store %s: the boot kernel is not a valid jam: %s", store->directory, why);
    noun kept = boot == NOUN_NONE ? NOUN_NONE : noun_home_copy_out(store->home, kernel_region(kernel), boot);
    if (boot != NOUN_NONE && kept == NOUN_NONE)
        fail(error, 0, "out of memory: home is full");
    if (kept != NOUN_NONE) {
        kernel_set_state(kernel, kept, 0);
        if (kernel_mug(kernel) != mug) {
            fail(error, 0, "store %s: the boot kernel's mug is 0x%x, but the store says 0x%x", store->directory,
                 (unsigned)kernel_mug(kernel), (unsigned)mug);
            kept = NOUN_NONE;
        }
    }
    free(jam);
    if (kept == NOUN_NONE) {
        free(name);
        kernel_free(kernel);
        return NULL;
    }
    free(store->kernel_name);
    store->kernel_name = name;
    return kernel;
}

/* ---- the batch ----------------------------------------------------------------------- */

enum applied_as { APPLIED, REFUSED, LOG_FAILED };

/* Give up the open batch: nothing in it was committed, so the kernel goes
 * back to where it was and its effects are never released. */
static void abandon_batch(struct store *store)
{
    evlog_rollback(store->log);
    profile_discard(store->batch_run);
    if (store->batch_open)
        kernel_set_state(store->kernel, store->batch_base_state, store->batch_base_number);
    store->batch_open = false;
    store->unreleased_count = 0;
}

static bool hold_effects(struct store *store, const struct store_event_info *info, noun effects)
{
    if (store->unreleased_count == store->unreleased_capacity) {
        size_t capacity = store->unreleased_capacity ? store->unreleased_capacity * 2 : 64;
        struct unreleased *bigger = realloc(store->unreleased, capacity * sizeof *bigger);
        if (!bigger)
            return false;
        store->unreleased = bigger;
        store->unreleased_capacity = capacity;
    }
    store->unreleased[store->unreleased_count++] = (struct unreleased){ *info, effects };
    return true;
}

/* The cost to record for an outcome event: its spawn's work and then its
 * application, as one span from when the spawn started. */
static struct kernel_cost outcome_cost(const struct kernel_outcome *outcome, const struct kernel_cost *applied,
                                       uint64_t applied_at)
{
    struct kernel_cost total = outcome->cost;
    kernel_cost_add(&total, applied, applied_at - outcome->started_ns);
    total.wall_ns = applied_at + applied->wall_ns - outcome->started_ns;
    return total;
}

/* Apply one event to the live kernel and append it to the open batch.
 * `outcome` is set when the event is a spawn's outcome: it is then logged
 * as a reference to the spawn (a timeout, not being deterministic, is
 * logged as itself). */
static enum applied_as apply_event(struct store *store, noun event, const struct kernel_outcome *outcome,
                                   struct profile_run *run, struct store_error *error)
{
    bool by_reference = outcome && outcome->result != KERNEL_SPAWN_TIMEOUT;
    uint8_t *jam = NULL;
    size_t jam_length = 0;
    if (!by_reference && !jam_to_bytes(event, &jam, &jam_length)) {
        fail(error, 0, "out of memory while jamming the event");
        return REFUSED;
    }
    store->batch_run = run;
    if (!store->batch_open) {
        store->batch_open = true;
        store->batch_base_state = kernel_state(store->kernel);
        store->batch_base_number = kernel_event_number(store->kernel);
        store->batch_started_ns = clock_wall_nanoseconds();
    }
    uint64_t started = clock_wall_nanoseconds();
    struct kernel_applied applied;
    struct kernel_error kernel_error;
    if (kernel_apply(store->kernel, event, &applied, &kernel_error) != KERNEL_OK) {
        free(jam);
        fail(error, 0, "%s", kernel_error.message);
        error->trace = kernel_error.trace;
        return REFUSED;
    }
    struct store_event_info info = { .number = kernel_event_number(store->kernel) };
    struct evlog_record record = { .number = info.number, .kind = EVLOG_PLAIN, .event = jam,
                                   .event_length = jam_length, .mug = applied.mug };
    if (by_reference) {
        info.is_outcome = true;
        info.source_event = outcome->spawn.event_number;
        info.source_effect = outcome->spawn.effect_index;
        record.kind = EVLOG_SPAWN_OUTCOME;
        record.source_event = info.source_event;
        record.source_effect = info.source_effect;
    }
    struct kernel_cost cost = outcome ? outcome_cost(outcome, &applied.cost, started) : applied.cost;
    count_home_writes(store, &cost);
    cost.home_collect_ns += store->home_collect_ns;
    store->home_collect_ns = 0;
    struct evlog_error log_error = { 0 };
    struct profile_error profile_error = { { 0 } };
    bool logged = evlog_append(store->log, &record, &log_error);
    free(jam);
    if (!logged)
        fail(error, info.number, "%s", log_error.message);
    else if (!profile_record(run, info.number, outcome ? outcome->started_ns : started, &cost, &profile_error) ||
             (outcome && !profile_record_spawn(run, info.number, outcome, &profile_error)))
        logged = !fail(error, info.number, "%s", profile_error.message);
    else if (!hold_effects(store, &info, applied.effects))
        logged = !fail(error, info.number, "out of memory holding the effects of event %llu",
                       (unsigned long long)info.number);
    if (logged)
        report_event(store, store->backend, info.number, &cost);
    if (!logged) {
        abandon_batch(store);
        return LOG_FAILED;
    }
    return APPLIED;
}

/* A spawn's outcome arrived: apply it as an event (or say why not). */
static bool apply_outcome(struct store *store, const struct kernel_outcome *outcome, struct profile_run *run,
                          struct store_error *error)
{
    char id[64];
    noun_label(outcome->spawn.id, id, sizeof id);
    if (outcome->result == KERNEL_SPAWN_FAILED) {
        notice(store, "event %llu stands (it is committed); its spawn %s (effect %u) gave no outcome event: %s",
               (unsigned long long)outcome->spawn.event_number, id, outcome->spawn.effect_index, outcome->why);
        return true;
    }
    switch (apply_event(store, outcome->event, outcome, run, error)) {
    case APPLIED:
        return true;
    case REFUSED:
        notice(store, "the kernel refused the outcome of spawn %s (effect %u of event %llu): %s", id,
               outcome->spawn.effect_index, (unsigned long long)outcome->spawn.event_number, error->message);
        return true;
    case LOG_FAILED:
        break;
    }
    return false;
}

/* Apply `outcome`, taken from the backend, holding it in store->outcome
 * (a root) while home is collected before it when that is due. */
static bool apply_held(struct store *store, const struct kernel_outcome *outcome, struct profile_run *run,
                       struct store_error *error)
{
    store->outcome = *outcome;
    store->outcome_held = true;
    maybe_collect(store, store->backend);
    bool ok = apply_outcome(store, &store->outcome, run, error);
    store->outcome_held = false;
    return ok;
}

/* Take one outcome the backend has finished (waiting for it if `wait`)
 * and apply it.  False when none was taken; *ok is false when applying it
 * failed. */
static bool apply_finished(struct store *store, bool wait, struct profile_run *run, bool *ok,
                           struct store_error *error)
{
    struct kernel_backend *backend = store->backend;
    struct kernel_outcome outcome;
    *ok = true;
    if (!backend->take(backend->self, wait, &outcome))
        return false;
    *ok = apply_held(store, &outcome, run, error);
    return true;
}

/* ---- ordered outcomes ----------------------------------------------------------------- */

/* In ordered mode the spawns a batch releases are all submitted first, and
 * their outcomes applied afterwards in the order the spawns were made:
 * exactly where serial execution puts them in the log, whatever order they
 * finish in.  store->order lists the spawns submitted and not yet applied. */

static bool remember_order(struct store *store, const struct kernel_spawn *spawn)
{
    if (store->order_count == store->order_capacity) {
        size_t capacity = store->order_capacity ? store->order_capacity * 2 : 64;
        struct spawn_key *bigger = realloc(store->order, capacity * sizeof *bigger);
        if (!bigger)
            return false;
        store->order = bigger;
        store->order_capacity = capacity;
    }
    store->order[store->order_count++] = (struct spawn_key){ spawn->event_number, spawn->effect_index };
    return true;
}

static bool hold_waiting(struct store *store, const struct kernel_outcome *outcome)
{
    if (store->waiting_count == store->waiting_capacity) {
        size_t capacity = store->waiting_capacity ? store->waiting_capacity * 2 : 16;
        struct kernel_outcome *bigger = realloc(store->waiting, capacity * sizeof *bigger);
        if (!bigger)
            return false;
        store->waiting = bigger;
        store->waiting_capacity = capacity;
    }
    store->waiting[store->waiting_count++] = *outcome;
    return true;
}

/* Take the outcome of `key`, waiting for it; others taken meanwhile wait
 * their turn in store->waiting. */
static bool take_in_order(struct store *store, struct spawn_key key, struct kernel_outcome *outcome)
{
    struct kernel_backend *backend = store->backend;
    for (;;) {
        for (size_t i = 0; i < store->waiting_count; i++) {
            if (store->waiting[i].spawn.event_number == key.event_number &&
                store->waiting[i].spawn.effect_index == key.effect_index) {
                *outcome = store->waiting[i];
                store->waiting[i] = store->waiting[--store->waiting_count];
                return true;
            }
        }
        struct kernel_outcome taken;
        if (!backend->take(backend->self, true, &taken) || !hold_waiting(store, &taken))
            return false;
    }
}

/* Apply the outcomes of the spawns submitted so far, in spawn order. */
static bool apply_in_order(struct store *store, struct profile_run *run, struct store_error *error)
{
    size_t count = store->order_count;
    struct spawn_key *keys = store->order;
    store->order = NULL;
    store->order_count = store->order_capacity = 0;
    bool ok = true;
    for (size_t i = 0; i < count && ok; i++) {
        struct kernel_outcome outcome;
        if (!take_in_order(store, keys[i], &outcome))
            ok = fail(error, keys[i].event_number, "the outcome of effect %u of event %llu never came back",
                      keys[i].effect_index, (unsigned long long)keys[i].event_number);
        else
            ok = apply_held(store, &outcome, run, error);
    }
    free(keys);
    return ok;
}

/* Live mode: apply the outcomes that are ready now, in the order they
 * finished. */
static bool take_finished(struct store *store, struct profile_run *run, struct store_error *error)
{
    struct kernel_backend *backend = store->backend;
    bool ok = true;
    while (ok && backend->running(backend->self) && apply_finished(store, false, run, &ok, error))
        ;
    return ok;
}

/* Start the spawns among an event's effects, applying each outcome as it
 * is ready.  The walk's place in the list is store->releasing_rest, a
 * root, since home may be collected before each outcome is applied. */
static bool start_spawns(struct store *store, const struct store_event_info *info, noun effects,
                         struct profile_run *run, struct store_error *error)
{
    struct kernel_backend *backend = store->backend;
    uint32_t index = 0;
    bool ok = true;
    for (store->releasing_rest = effects; ok && noun_is_cell(store->releasing_rest);
         store->releasing_rest = noun_tail(store->releasing_rest), index++) {
        struct kernel_spawn spawn;
        if (!kernel_parse_spawn(noun_head(store->releasing_rest), info->number, index, &spawn))
            continue;
        char why[200];
        if (!backend->submit(backend->self, &spawn, why, sizeof why)) {
            char id[64];
            noun_label(spawn.id, id, sizeof id);
            notice(store, "spawn %s (effect %u of event %llu) could not start: %s", id, index,
                   (unsigned long long)info->number, why);
            continue;
        }
        if (store->ordered) {
            if (!remember_order(store, &spawn))
                return fail(error, info->number, "out of memory remembering the order of spawns");
            continue;
        }
        while (ok && apply_finished(store, false, run, &ok, error))
            ;
    }
    store->releasing_rest = 0;
    return ok;
}

static bool snapshot_due(const struct store *store, const struct kernel *kernel)
{
    return store->snap_every && kernel_event_number(kernel) >= store->last_snapshot_event + store->snap_every;
}

/* A batch also ends where a snapshot is due, so the snapshot is of a
 * committed state taken every snap_every events, not every batch -- but
 * not while spawns are out, since no snapshot is taken then (cutting
 * there would only make one-event batches until they are back).
 * Ordered runs cut batches by count alone (events, and snapshot points,
 * which are event numbers too; their spawns are all back between
 * batches), so where outcomes fall in the log does not depend on timing. */
static bool batch_is_full(const struct store *store)
{
    bool snapshot_point = snapshot_due(store, store->kernel) && !store->backend->running(store->backend->self);
    return store->unreleased_count >= STORE_BATCH_EVENTS || snapshot_point ||
           (!store->ordered && clock_wall_nanoseconds() - store->batch_started_ns >= STORE_BATCH_NANOSECONDS);
}

static void snapshot_if_due(struct store *store, struct kernel *kernel, const struct remembered_spawn *spawns,
                            struct profile_run *run);

/* Right after a commit, before the batch's effects are released, the
 * kernel is a state the log holds, and the spawns whose outcomes may still
 * be logged are exactly those of the batch: every earlier spawn has run
 * (the serial backend runs them on release; a backend with spawns still
 * out is skipped) and its outcome, if any, is in the log. */
static void snapshot_committed(struct store *store, struct profile_run *run)
{
    if (!snapshot_due(store, store->kernel) || store->waiting_count || store->backend->running(store->backend->self))
        return;
    struct remembered_spawn *spawns = NULL;
    bool listed = true;
    for (size_t i = 0; i < store->unreleased_count && listed; i++) {
        uint32_t index = 0;
        for (noun rest = store->unreleased[i].effects; noun_is_cell(rest) && listed; rest = noun_tail(rest), index++) {
            struct kernel_spawn spawn;
            if (!kernel_parse_spawn(noun_head(rest), store->unreleased[i].info.number, index, &spawn))
                continue;
            struct remembered_spawn *entry = malloc(sizeof *entry);
            if (entry) {
                entry->spawn = spawn;
                entry->next = spawns;
                spawns = entry;
            }
            listed = entry != NULL;
        }
    }
    if (listed)
        snapshot_if_due(store, store->kernel, spawns, run);
    else
        notice(store, "out of memory listing spawns: no snapshot of event %llu",
               (unsigned long long)kernel_event_number(store->kernel));
    while (spawns) {
        struct remembered_spawn *next = spawns->next;
        free(spawns);
        spawns = next;
    }
}

/* Commit the open batch, then release its effects: show them and start
 * their spawns (whose outcomes open the next batch). */
static bool commit_and_release(struct store *store, struct profile_run *run, struct store_error *error)
{
    if (!store->unreleased_count)
        return true;
    struct evlog_error log_error = { 0 };
    struct profile_error profile_error = { { 0 } };
    uint64_t commit_started = clock_wall_nanoseconds();
    if (!profile_write(run, &profile_error)) {
        abandon_batch(store);
        return fail(error, 0, "%s", profile_error.message);
    }
    if (!evlog_commit(store->log, &log_error)) {
        abandon_batch(store);
        return fail(error, log_error.event_number, "%s", log_error.message);
    }
    /* Every event of the batch waited for this commit before its effects
     * were released. */
    profile_note_commit_wait(run, store->unreleased[0].info.number,
                             store->unreleased[store->unreleased_count - 1].info.number,
                             clock_wall_nanoseconds() - commit_started);
    store->batch_open = false;
    snapshot_committed(store, run);
    /* a batch is applied in a burst, then nothing is reported while the
     * next one runs (STM): the panes show the state at its end */
    if (monitor_watched(monitor_process())) {
        struct noun_dedup_stats dedup;
        noun_home_dedup_stats(store->home, &dedup);
        monitor_dedup(monitor_process(), &dedup);
        report_backend(store, store->backend, store->unreleased[store->unreleased_count - 1].info.number);
    }
    /* The batch moves to `releasing`, still visited by store_roots, and
     * the outcomes its spawns give open the next batch in `unreleased`. */
    store->releasing = store->unreleased;
    store->releasing_count = store->unreleased_count;
    store->unreleased = NULL;
    store->unreleased_count = store->unreleased_capacity = 0;
    const struct store_listener *listener = store->listener;
    bool ok = true;
    for (size_t i = 0; i < store->releasing_count; i++) {
        if (listener && listener->effects)
            listener->effects(listener->context, &store->releasing[i].info, store->releasing[i].effects);
        if (ok)
            ok = start_spawns(store, &store->releasing[i].info, store->releasing[i].effects, run, error);
    }
    free(store->releasing);
    store->releasing = NULL;
    store->releasing_count = 0;
    if (store->ordered && ok)
        ok = apply_in_order(store, run, error);
    return ok;
}


/* Where new events come from: `next` makes one (in home or the kernel's
 * scratch); `remaining` counts down. */
struct event_source {
    bool (*next)(void *context, struct store *store, noun *event, struct store_error *error);
    void *context;
    uint64_t remaining;
};

/* The loop: apply events from the source, committing and releasing in
 * batches, until the source is done and every consequence is logged.  An
 * event the kernel refuses stops the source (what came before it is still
 * committed and released) and makes the result false. */
static bool drive_stm(struct store *store, struct event_source *source, struct profile_run *run,
                      struct store_error *error);

static bool drive(struct store *store, struct event_source *source, struct profile_run *run,
                  struct store_error *error)
{
    if (store->stm)
        return drive_stm(store, source, run, error);
    bool refused = false;
    for (;;) {
        /* An interrupt stops the source; when it has nothing more to give
         * (a :poke whose spawn was interrupted), nothing was refused. */
        if (store->interrupt_requested && !refused && source->remaining > 0) {
            refused = true;
            fail(error, 0, "interrupted after event %llu: the %llu events after it were not applied",
                 (unsigned long long)kernel_event_number(store->kernel), (unsigned long long)source->remaining);
        }
        bool more = !refused && source->remaining > 0;
        if (store->unreleased_count && (!more || batch_is_full(store))) {
            if (!commit_and_release(store, run, error))
                return false;
            continue;
        }
        if (!more)
            break;
        maybe_collect(store, store->backend); /* everything held is a root */
        if (!store->ordered && !take_finished(store, run, error))
            return false;
        noun event;
        if (!source->next(source->context, store, &event, error)) {
            refused = true;
            continue;
        }
        source->remaining--;
        switch (apply_event(store, event, NULL, run, error)) {
        case APPLIED:
            break;
        case REFUSED:
            refused = true;
            break;
        case LOG_FAILED:
            return false;
        }
    }
    /* Backends that run spawns in the background: wait for the rest. */
    bool ok = true;
    while (store->backend->running(store->backend->self) && apply_finished(store, true, run, &ok, error)) {
        if (!ok || !commit_and_release(store, run, error))
            return false;
    }
    return !refused;
}

/* The events of one STM batch, jammed (as the log keeps them). */
struct stm_batch {
    struct stm_event events[STORE_BATCH_EVENTS];
    struct stm_result results[STORE_BATCH_EVENTS];
    size_t count;
};

static void stm_batch_clear(struct stm_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        free((void *)batch->events[i].jam);
    batch->count = 0;
}

/* An event STM committed: count what it cost STM, then report it as
 * report_event does. */
static void report_stm_event(struct store *store, struct kernel_backend *backend, uint64_t number,
                             const struct stm_result *result)
{
    store->stm_commits++;
    store->stm_conflicts += result->stats.reruns > 0;
    store->stm_reruns += result->stats.reruns;
    report_event(store, backend, number, &result->applied.cost);
}

/* Log and hold what an STM batch applied: the same rows apply_event makes
 * one at a time, plus the STM rows.  Stops at a refused event (the batch
 * took none after it). */
static enum applied_as log_stm_batch(struct store *store, struct stm_batch *batch, size_t taken, uint64_t first,
                                     uint64_t started, const struct stm_batch_stats *stats, struct profile_run *run,
                                     struct store_error *error)
{
    struct evlog_error log_error = { 0 };
    struct profile_error profile_error = { { 0 } };
    uint64_t at = started;
    stm_time_add(&store->stm_time, &stats->time);
    for (size_t i = 0; i < taken; i++) {
        const struct stm_result *result = &batch->results[i];
        if (result->status != KERNEL_OK) {
            fail(error, 0, "%s", result->error.message);
            error->trace = result->error.trace;
            return REFUSED;
        }
        struct store_event_info info = { .number = first + i };
        struct evlog_record record = { .number = info.number, .kind = EVLOG_PLAIN,
                                       .event = (uint8_t *)batch->events[i].jam,
                                       .event_length = batch->events[i].length, .mug = result->applied.mug };
        bool logged = evlog_append(store->log, &record, &log_error);
        if (!logged)
            fail(error, info.number, "%s", log_error.message);
        else if (!profile_record(run, info.number, at, stm_cost(store, result), &profile_error) ||
                 !profile_record_stm_event(run, info.number, &result->stats, &profile_error))
            logged = !fail(error, info.number, "%s", profile_error.message);
        else if (!hold_effects(store, &info, result->applied.effects))
            logged = !fail(error, info.number, "out of memory holding the effects of event %llu",
                           (unsigned long long)info.number);
        if (!logged) {
            abandon_batch(store);
            return LOG_FAILED;
        }
        report_stm_event(store, store->backend, info.number, result);
        at += result->applied.cost.wall_ns;
    }
    if (!profile_record_stm_batch(run, first, stats, &profile_error)) {
        fail(error, first, "%s", profile_error.message);
        abandon_batch(store);
        return LOG_FAILED;
    }
    return APPLIED;
}

/* drive, with the source's events taken a batch at a time and run under
 * STM (see interp/stm.h); what they do and what is logged is the same. */
static bool drive_stm(struct store *store, struct event_source *source, struct profile_run *run,
                      struct store_error *error)
{
    struct stm_batch *batch = calloc(1, sizeof *batch);
    if (!batch)
        return fail(error, 0, "out of memory");
    bool refused = false, ok = true;
    while (ok && !refused && source->remaining > 0) {
        if (store->interrupt_requested) {
            refused = true;
            fail(error, 0, "interrupted");
            break;
        }
        maybe_collect(store, store->backend); /* between batches nothing unrooted is held */
        while (batch->count < STORE_BATCH_EVENTS && source->remaining > 0) {
            noun event;
            uint8_t *jam;
            size_t length;
            if (!source->next(source->context, store, &event, error)) {
                refused = true;
                break;
            }
            source->remaining--;
            if (!jam_to_bytes(event, &jam, &length)) {
                refused = !fail(error, 0, "out of memory while jamming the event");
                break;
            }
            batch->events[batch->count++] = (struct stm_event){ .jam = jam, .length = length };
        }
        if (!batch->count)
            break;
        store->batch_run = run;
        store->batch_open = true;
        store->batch_base_state = kernel_state(store->kernel);
        store->batch_base_number = kernel_event_number(store->kernel);
        store->batch_started_ns = clock_wall_nanoseconds();
        uint64_t first = kernel_event_number(store->kernel) + 1;
        struct stm_batch_stats stats;
        size_t taken = stm_apply_batch(store->stm, store->kernel, batch->events, batch->count, true, batch->results,
                                       &stats);
        switch (log_stm_batch(store, batch, taken, first, store->batch_started_ns, &stats, run, error)) {
        case APPLIED:
            if (taken < batch->count)
                refused = !fail(error, 0, "%s", batch->results[taken].error.message);
            break;
        case REFUSED:
            refused = true;
            break;
        case LOG_FAILED:
            ok = false;
            break;
        }
        stm_batch_clear(batch);
        if (ok && !commit_and_release(store, run, error))
            ok = false;
        if (!store->unreleased_count)
            store->batch_open = false;
    }
    stm_batch_clear(batch);
    free(batch);
    if (!ok)
        return false;
    /* spawns the released effects started, as drive waits for them */
    bool applied = true;
    while (store->backend->running(store->backend->self) && apply_finished(store, true, run, &applied, error)) {
        if (!applied || !commit_and_release(store, run, error))
            return false;
    }
    if (store->unreleased_count && !commit_and_release(store, run, error))
        return false;
    return !refused;
}

/* ---- poking ---------------------------------------------------------------------------- */

static bool next_given_event(void *context, struct store *store, noun *event, struct store_error *error)
{
    *event = store->poked_event; /* a root: home may have been collected */
    return true;
}

static bool need_kernel(struct store *store, struct store_error *error)
{
    if (store->kernel)
        return true;
    if (!store_booted(store))
        return fail(error, 0, "store %s has no kernel yet (:boot NAME KERNEL starts one)", store->directory);
    return fail(error, 0, "store %s: its kernel was not rebuilt from the log", store->directory);
}

bool store_poke(struct store *store, noun event, const struct store_listener *listener, struct store_error *error)
{
    if (!need_kernel(store, error))
        return false;
    store->interrupt_requested = 0;
    if (!store->live_run) {
        struct profile_error profile_error;
        store->live_run = profile_run_begin(store->log, "live", store->backend->name, NULL, &profile_error);
        if (!store->live_run)
            return fail(error, 0, "%s", profile_error.message);
    }
    if (!bring_home(store, store->kernel, event, &event, error))
        return false;
    store->listener = listener;
    store->poked_event = event;
    tell_evaluator(store, store->kernel);
    struct event_source source = { .next = next_given_event, .context = NULL, .remaining = 1 };
    bool ok = drive(store, &source, store->live_run, error);
    tell_evaluator(store, NULL);
    store->poked_event = 0;
    store->listener = NULL;
    return ok;
}

/* ---- generating ------------------------------------------------------------------------ */

/* `gaps` are the times between the loop taking one generated event and
 * the next: how long a new event would have waited for the loop. */
struct generation {
    struct samples_generator *generator;
    struct progress progress;
    uint64_t made;
    uint64_t last_taken_ns;
    uint64_t *gaps;
    size_t gap_count, gap_capacity;
};

static void note_gap(struct generation *generation)
{
    uint64_t now = clock_wall_nanoseconds();
    if (generation->last_taken_ns) {
        if (generation->gap_count == generation->gap_capacity) {
            size_t capacity = generation->gap_capacity ? generation->gap_capacity * 2 : 1024;
            uint64_t *bigger = realloc(generation->gaps, capacity * sizeof *bigger);
            if (!bigger)
                return;
            generation->gaps = bigger;
            generation->gap_capacity = capacity;
        }
        generation->gaps[generation->gap_count++] = now - generation->last_taken_ns;
    }
    generation->last_taken_ns = now;
}

static int compare_gaps(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of the gaps, sorted first. */
static uint64_t gap_percentile(struct generation *generation, unsigned p)
{
    if (!generation->gap_count)
        return 0;
    size_t index = (generation->gap_count - 1) * p / 100;
    return generation->gaps[index];
}

static noun build_generated(void *context, struct noun_region *region)
{
    return samples_generator_next(context, region);
}

static bool next_generated_event(void *context, struct store *store, noun *event, struct store_error *error)
{
    struct generation *generation = context;
    note_gap(generation);
    if (!kernel_build_event(store->kernel, build_generated, generation->generator, event))
        return fail(error, 0, "out of memory while generating an event");
    progress_report(store, &generation->progress, generation->made++, false);
    return true;
}

bool store_generate(struct store *store, const char *sample, uint64_t count, uint64_t seed,
                    const struct store_listener *listener, struct store_generate_result *result,
                    struct store_error *error)
{
    memset(result, 0, sizeof *result);
    if (!need_kernel(store, error))
        return false;
    struct generation generation = { .generator = samples_generator_new(sample, seed) };
    if (!generation.generator)
        return fail(error, 0, "no event generator for %s (the samples are %s)", sample, samples_names());
    char note[128];
    snprintf(note, sizeof note, "%s: %llu events, seed %llu", sample, (unsigned long long)count,
             (unsigned long long)seed);
    struct profile_error profile_error;
    struct profile_run *run = profile_run_begin(store->log, "gen", store->backend->name, note, &profile_error);
    if (!run) {
        samples_generator_free(generation.generator);
        return fail(error, 0, "%s", profile_error.message);
    }
    store->interrupt_requested = 0;
    store->listener = listener;
    progress_start(&generation.progress, "generating", count);
    struct event_source source = { .next = next_generated_event, .context = &generation, .remaining = count };
    tell_evaluator(store, store->kernel);
    bool ok = drive(store, &source, run, error);
    tell_evaluator(store, NULL);
    progress_report(store, &generation.progress, count - source.remaining, true);
    store->listener = NULL;
    result->generated = count - source.remaining;
    result->last_event = kernel_event_number(store->kernel);
    result->mug = kernel_mug(store->kernel);
    /* the run's own clock, so the rate printed is the one :runs shows */
    result->seconds = (double)profile_run_stop(run) / 1e9;
    result->run_id = profile_run_id(run);
    qsort(generation.gaps, generation.gap_count, sizeof *generation.gaps, compare_gaps);
    result->gap_p50_ns = gap_percentile(&generation, 50);
    result->gap_p99_ns = gap_percentile(&generation, 99);
    free(generation.gaps);
    store->batch_run = NULL;
    ok = profile_run_end(run, ok ? "done" : error->message, &profile_error) && ok;
    samples_generator_free(generation.generator);
    return ok;
}

/* ---- replaying ------------------------------------------------------------------------- */

/* Spawns a replay has seen and not yet found the outcome of. */
struct replay {
    struct store *store;
    struct kernel *kernel;
    struct kernel_backend *backend;
    struct remembered_spawn *spawns;
    struct profile_run *run;
};

static bool remember_spawn(struct replay *replay, const struct kernel_spawn *spawn)
{
    struct remembered_spawn *entry = calloc(1, sizeof *entry);
    if (!entry)
        return false;
    entry->spawn = *spawn;
    struct noun_home *home = replay->store->home;
    bool rooted = noun_home_root_add(home, &entry->spawn.id);
    rooted = rooted && noun_home_root_add(home, &entry->spawn.subject);
    rooted = rooted && noun_home_root_add(home, &entry->spawn.formula);
    if (!rooted) {
        noun_home_root_remove(home, &entry->spawn.id);
        noun_home_root_remove(home, &entry->spawn.subject);
        free(entry);
        return false;
    }
    entry->next = replay->spawns;
    replay->spawns = entry;
    return true;
}

static void forget_spawn(struct replay *replay, struct remembered_spawn **link)
{
    struct remembered_spawn *entry = *link;
    *link = entry->next;
    struct noun_home *home = replay->store->home;
    noun_home_root_remove(home, &entry->spawn.id);
    noun_home_root_remove(home, &entry->spawn.subject);
    noun_home_root_remove(home, &entry->spawn.formula);
    free(entry);
}

static struct remembered_spawn **find_spawn(struct replay *replay, uint64_t event_number, uint32_t effect_index)
{
    for (struct remembered_spawn **link = &replay->spawns; *link; link = &(*link)->next)
        if ((*link)->spawn.event_number == event_number && (*link)->spawn.effect_index == effect_index)
            return link;
    return NULL;
}

static bool remember_spawns(struct replay *replay, uint64_t event_number, noun effects)
{
    uint32_t index = 0;
    for (noun rest = effects; noun_is_cell(rest); rest = noun_tail(rest), index++) {
        struct kernel_spawn spawn;
        if (kernel_parse_spawn(noun_head(rest), event_number, index, &spawn) && !remember_spawn(replay, &spawn))
            return false;
    }
    return true;
}

/* ---- snapshots ------------------------------------------------------------------------- */

/* A snapshot keeps, beside the kernel, the spawns a replay has seen and
 * not found the outcome of yet (their outcomes may be logged after the
 * snapshot's event, and replay recomputes them from these), as a list of
 * [event effect id subject formula timeout-ms memory-mb]. */
static noun build_pending(void *context, struct noun_region *region)
{
    noun list = 0;
    for (const struct remembered_spawn *entry = context; entry; entry = entry->next) {
        const struct kernel_spawn *spawn = &entry->spawn;
        noun limits = noun_cell_new(region, spawn->timeout_ms, spawn->memory_mb);
        noun item = noun_qual(region, spawn->event_number, spawn->effect_index, spawn->id,
                              noun_trel(region, spawn->subject, spawn->formula, limits));
        list = noun_cell_new(region, item, list);
    }
    return list;
}

/* One pending spawn back from a snapshot; false when it is not of the
 * form build_pending makes. */
static bool parse_pending(noun item, struct kernel_spawn *spawn)
{
    noun parts[5];
    for (int i = 0; i < 5; i++) {
        if (!noun_is_cell(item))
            return false;
        parts[i] = noun_head(item);
        item = noun_tail(item);
    }
    if (!noun_is_cell(item) || !noun_is_direct(parts[0]) || !noun_is_direct(parts[1]) || parts[1] > UINT32_MAX ||
        !noun_is_direct(noun_head(item)) || !noun_is_direct(noun_tail(item)))
        return false;
    *spawn = (struct kernel_spawn){ .event_number = parts[0], .effect_index = (uint32_t)parts[1], .id = parts[2],
                                    .subject = parts[3], .formula = parts[4], .timeout_ms = noun_head(item),
                                    .memory_mb = noun_tail(item) };
    return true;
}

static bool restore_spawns(struct replay *replay, noun pending, struct store_error *error)
{
    for (noun rest = pending; noun_is_cell(rest); rest = noun_tail(rest)) {
        struct kernel_spawn spawn;
        if (!parse_pending(noun_head(rest), &spawn))
            return fail(error, 0, "the snapshot's list of pending spawns is malformed");
        if (!remember_spawn(replay, &spawn))
            return fail(error, 0, "out of memory remembering the snapshot's pending spawns");
    }
    return true;
}

/* Tell the panes (profiler/monitor.h) the store's snapshot kind and, when
 * `last` is not NULL, the snapshot just saved.  Once per snapshot, not per
 * event, so it is reported whether or not anyone watches: panes put up
 * later still show the last one. */
static void report_snapshots(struct store *store, const struct snapshot_save_report *last)
{
    struct monitor *monitor = monitor_process();
    if (!monitor)
        return;
    enum snapshot_kind kind = snapshot_store_kind(store->snapshots);
    struct monitor_snapshots state = { .taken = store->snapshots_taken };
    if (kind != SNAPSHOT_NONE)
        snprintf(state.kind, sizeof state.kind, "%s%s", snapshot_kind_name(kind), kind == SNAPSHOT_JAM ? " files" : "");
    state.event = store->last_snapshot_event; /* the newest on disk until one is saved */
    if (last) {
        state.event = last->event_number;
        state.pages = last->pages_written;
        state.bytes = last->bytes;
        state.wall_ns = last->total_ns;
    }
    state.file_bytes = snapshot_store_file_bytes(store->snapshots);
    monitor_snapshots(monitor, &state);
}

/* Save a snapshot of `kernel`, whose events are all committed, with the
 * spawns still waiting for outcomes, and record it in the profile. */
static bool save_snapshot(struct store *store, struct kernel *kernel, const struct remembered_spawn *spawns,
                          struct profile_run *run, struct snapshot_save_report *report, struct store_error *error)
{
    uint64_t number = kernel_event_number(kernel);
    noun pending = 0;
    if (spawns && !kernel_build_event(kernel, build_pending, (void *)spawns, &pending))
        return fail(error, number, "out of memory listing the pending spawns for a snapshot");
    struct snapshot_error snapshot_error;
    if (!snapshot_save(store->snapshots, kernel, pending, report, &snapshot_error))
        return fail(error, number, "%s", snapshot_error.message);
    store->last_snapshot_event = number;
    store->snapshots_taken++;
    store->dirty_mark = 0; /* a snapshot starts the count again */
    report_snapshots(store, report);
    struct profile_error profile_error;
    if (!profile_record_snapshot(store->log, run, report, &profile_error))
        return fail(error, number, "%s", profile_error.message);
    return true;
}

/* A periodic snapshot.  One that fails is a notice, not a stop: the log
 * holds every event, so nothing is lost, and the next one is tried
 * snap_every events later. */
static void snapshot_if_due(struct store *store, struct kernel *kernel, const struct remembered_spawn *spawns,
                            struct profile_run *run)
{
    if (!snapshot_due(store, kernel))
        return;
    struct snapshot_save_report report;
    struct store_error error;
    if (!save_snapshot(store, kernel, spawns, run, &report, &error)) {
        store->last_snapshot_event = kernel_event_number(kernel);
        notice(store, "%s", error.message);
    }
}

static void snapshot_noticed(void *context, const char *text) { notice(context, "%s", text); }

/* Move `kernel`, which holds the boot kernel, to the newest valid snapshot
 * that fits `choice`, if there is one (else it stays at event 0; each file
 * skipped was noticed).  *pending gets the snapshot's pending spawns, in
 * home, to be restored before home is collected. */
static bool start_from_snapshot(struct store *store, struct kernel *kernel, const struct snapshot_choice *choice,
                                noun *pending, struct snapshot_load_report *report, struct store_error *error)
{
    *pending = 0;
    memset(report, 0, sizeof *report);
    if (store->ignore_snapshots && !choice->exactly)
        return true;
    struct snapshot_error snapshot_error;
    switch (snapshot_load(store->snapshots, kernel, choice, pending, report, snapshot_noticed, store,
                          &snapshot_error)) {
    case SNAPSHOT_LOADED:
        if (report->event_number > store->last_snapshot_event)
            store->last_snapshot_event = report->event_number;
        return true;
    case SNAPSHOT_NOT_FOUND:
        return !choice->exactly || fail(error, 0, "%s", snapshot_error.message);
    case SNAPSHOT_LOAD_FAILED:
        break;
    }
    return fail(error, 0, "%s", snapshot_error.message);
}

/* Recompute the outcome the row refers to (into *outcome), and apply it. */
static bool replay_outcome(struct replay *replay, const struct evlog_record *record, struct kernel_applied *applied,
                           struct kernel_cost *cost, uint64_t *started, noun *event_out,
                           struct kernel_outcome *outcome_out, struct store_error *error)
{
    struct remembered_spawn **link = find_spawn(replay, record->source_event, record->source_effect);
    if (!link)
        return fail(error, record->number,
                    "event %llu: it is the outcome of effect %u of event %llu, which is not a spawn the kernel asked for",
                    (unsigned long long)record->number, record->source_effect,
                    (unsigned long long)record->source_event);
    char why[200];
    struct kernel_outcome outcome;
    struct kernel_backend *backend = replay->backend;
    bool ran = backend->submit(backend->self, &(*link)->spawn, why, sizeof why) &&
               backend->take(backend->self, true, &outcome);
    forget_spawn(replay, link);
    if (!ran)
        return fail(error, record->number, "event %llu: its spawn could not run again: %s",
                    (unsigned long long)record->number, why);
    if (outcome.result == KERNEL_SPAWN_FAILED || outcome.result == KERNEL_SPAWN_TIMEOUT)
        return fail(error, record->number, "event %llu: its spawn gave no outcome this time: %s",
                    (unsigned long long)record->number, outcome.result == KERNEL_SPAWN_FAILED ? outcome.why : "timeout");
    struct kernel_error kernel_error;
    uint64_t applied_at = clock_wall_nanoseconds();
    if (kernel_apply(replay->kernel, outcome.event, applied, &kernel_error) != KERNEL_OK) {
        fail(error, record->number, "event %llu: the kernel refused it on replay: %s",
             (unsigned long long)record->number, kernel_error.message);
        error->trace = kernel_error.trace;
        return false;
    }
    *cost = outcome_cost(&outcome, &applied->cost, applied_at);
    *started = outcome.started_ns;
    *outcome_out = outcome;
    if (event_out)
        *event_out = outcome.event;
    return true;
}

static bool replay_plain(struct replay *replay, const struct evlog_record *record, struct kernel_applied *applied,
                         noun *event_out, struct store_error *error)
{
    noun event;
    char why[200];
    if (!kernel_cue_event(replay->kernel, record->event, record->event_length, &event, why, sizeof why))
        return fail(error, record->number, "event %llu: the stored event is not a valid jam: %s",
                    (unsigned long long)record->number, why);
    struct kernel_error kernel_error;
    if (kernel_apply(replay->kernel, event, applied, &kernel_error) != KERNEL_OK) {
        fail(error, record->number, "event %llu: the kernel refused it on replay: %s",
             (unsigned long long)record->number, kernel_error.message);
        error->trace = kernel_error.trace;
        return false;
    }
    if (event_out)
        *event_out = event;
    return true;
}

/* replay_one, handing back what the event gave: `applied` (effects in
 * home until the next collection) and the event noun (NULL: not wanted). */
static bool replay_one_applied(struct replay *replay, const struct evlog_record *record, uint64_t profile_from,
                               uint64_t *cpu_mark, struct kernel_applied *out, noun *event_out,
                               struct store_error *error)
{
    struct kernel_applied applied;
    struct kernel_cost cost;
    struct kernel_outcome outcome;
    uint64_t started = clock_wall_nanoseconds();
    bool spawned = record->kind == EVLOG_SPAWN_OUTCOME;
    if (spawned) {
        if (!replay_outcome(replay, record, &applied, &cost, &started, event_out, &outcome, error))
            return false;
    } else {
        if (!replay_plain(replay, record, &applied, event_out, error))
            return false;
        cost = applied.cost;
    }
    if (kernel_event_number(replay->kernel) != record->number)
        return fail(error, record->number, "event %llu: the replayed kernel is at event %llu",
                    (unsigned long long)record->number, (unsigned long long)kernel_event_number(replay->kernel));
    if (applied.mug != record->mug)
        return fail(error, record->number,
                    "event %llu: the kernel's mug after it is 0x%x, but the log says 0x%x (replay diverged here)",
                    (unsigned long long)record->number, (unsigned)applied.mug, (unsigned)record->mug);
    if (!remember_spawns(replay, record->number, applied.effects))
        return fail(error, record->number, "out of memory remembering the spawns of event %llu",
                    (unsigned long long)record->number);
    count_home_writes(replay->store, &cost);
    uint64_t cpu = clock_cpu_nanoseconds_for_events();
    cost.cpu_ns = cpu - *cpu_mark;
    *cpu_mark = cpu;
    struct profile_error profile_error;
    if (replay->run && record->number >= profile_from &&
        (!profile_record(replay->run, record->number, started, &cost, &profile_error) ||
         (spawned && !profile_record_spawn(replay->run, record->number, &outcome, &profile_error))))
        return fail(error, record->number, "%s", profile_error.message);
    report_event(replay->store, replay->backend, record->number, &cost);
    *out = applied;
    return true;
}

/* Apply one logged event and check the kernel's mug against the log.
 * CPU time is read once per event: *cpu_mark is the reading at the end of
 * the previous one, so an event's CPU time includes reading and decoding
 * its row. */
static bool replay_one(struct replay *replay, const struct evlog_record *record, uint64_t profile_from,
                       uint64_t *cpu_mark, struct store_error *error)
{
    struct kernel_applied applied;
    return replay_one_applied(replay, record, profile_from, cpu_mark, &applied, NULL, error);
}

/* Replay the plain events gathered in `batch` under STM, checking each
 * against its row as replay_one does. */
static bool replay_stm_batch(struct replay *replay, struct stm_batch *batch, const uint64_t *mugs, uint64_t profile_from,
                             struct store_error *error)
{
    if (!batch->count)
        return true;
    struct store *store = replay->store;
    uint64_t first = kernel_event_number(replay->kernel) + 1;
    uint64_t started = clock_wall_nanoseconds();
    struct stm_batch_stats stats;
    size_t taken = stm_apply_batch(store->stm, replay->kernel, batch->events, batch->count, true, batch->results, &stats);
    stm_time_add(&store->stm_time, &stats.time);
    struct profile_error profile_error;
    bool ok = true;
    for (size_t i = 0; ok && i < taken; i++) {
        const struct stm_result *result = &batch->results[i];
        uint64_t number = first + i;
        if (result->status != KERNEL_OK) {
            ok = fail(error, number, "event %llu: the kernel refused it on replay: %s", (unsigned long long)number,
                      result->error.message);
            error->trace = result->error.trace;
        } else if (result->applied.mug != mugs[i]) {
            ok = fail(error, number,
                      "event %llu: the kernel's mug after it is 0x%x, but the log says 0x%x (replay diverged here)",
                      (unsigned long long)number, (unsigned)result->applied.mug, (unsigned)mugs[i]);
        } else if (!remember_spawns(replay, number, result->applied.effects)) {
            ok = fail(error, number, "out of memory remembering the spawns of event %llu", (unsigned long long)number);
        } else if (number >= profile_from &&
                   (!profile_record(replay->run, number, started, stm_cost(store, result), &profile_error) ||
                    !profile_record_stm_event(replay->run, number, &result->stats, &profile_error))) {
            ok = fail(error, number, "%s", profile_error.message);
        }
        if (ok)
            report_stm_event(store, replay->backend, number, result);
        started += result->applied.cost.wall_ns;
    }
    if (ok && taken < batch->count)
        ok = fail(error, first + taken, "%s", batch->results[taken].error.message);
    if (ok && !profile_record_stm_batch(replay->run, first, &stats, &profile_error))
        ok = fail(error, first, "%s", profile_error.message);
    stm_batch_clear(batch);
    return ok;
}

/* Replay the log's events after the kernel's own event number, through
 * `to`, into `kernel`: the boot kernel (event 0), or a kernel loaded from a
 * snapshot of event N, with `pending` the spawns saved with it (in home,
 * not yet rooted: nothing may collect home before they are remembered
 * here).  The run is profiled as `kind`.  Takes a snapshot whenever one is
 * due. */
static bool replay_into(struct store *store, struct kernel *kernel, uint64_t from, uint64_t to, const char *kind,
                        const char *note, noun pending, struct store_replay_result *result, struct store_error *error)
{
    struct kernel_backend_options options = backend_options(store, true);
    struct profile_error profile_error;
    struct evlog_error log_error = { 0 };
    struct replay replay = { .store = store, .kernel = kernel };
    char why[200];
    replay.backend = backend_new(store->backend_name, store->home, &options, why, sizeof why);
    if (!replay.backend)
        return fail(error, 0, "%s", why);
    /* A read-only store replays without recording a run: nothing can be
     * saved to it. */
    bool read_only = evlog_read_only(store->log) != NULL;
    if (!read_only)
        replay.run = profile_run_begin(store->log, kind, replay.backend->name, note, &profile_error);
    bool started = replay.run || read_only;
    if (started && !restore_spawns(&replay, pending, error)) {
        if (replay.run)
            profile_run_end(replay.run, error->message, &profile_error);
        while (replay.spawns)
            forget_spawn(&replay, &replay.spawns);
        kernel_backend_free(replay.backend);
        return false;
    }
    struct evlog_cursor *cursor = started ? evlog_cursor_open(store->log, kernel_event_number(kernel) + 1, to, &log_error) : NULL;
    if (!cursor) {
        fail(error, 0, "%s", started ? log_error.message : profile_error.message);
        while (replay.spawns)
            forget_spawn(&replay, &replay.spawns);
        profile_run_end(replay.run, error->message, &profile_error);
        kernel_backend_free(replay.backend);
        return false;
    }
    uint64_t start = kernel_event_number(kernel);
    store->replay_kernel = kernel;
    store->replay_backend = replay.backend;
    tell_evaluator(store, kernel);
    uint64_t last = evlog_last_event(store->log);
    struct progress progress;
    progress_start(&progress, "replaying", to && to < last ? to : last);
    bool ok = true;
    struct evlog_record record;
    enum evlog_step step = EVLOG_END;
    uint64_t cpu_mark = clock_cpu_nanoseconds_for_events();
    /* under STM, plain rows are gathered into batches; a spawn's outcome
     * (which needs the spawns of the events before it) runs alone */
    struct stm_batch *batch = store->stm ? calloc(1, sizeof *batch) : NULL;
    uint64_t *mugs = store->stm ? malloc(STORE_BATCH_EVENTS * sizeof *mugs) : NULL;
    if (store->stm && (!batch || !mugs))
        ok = fail(error, 0, "out of memory");
    while (ok && (step = evlog_cursor_next(cursor, &record, &log_error)) == EVLOG_ROW) {
        if (store->interrupt_requested) {
            ok = fail(error, record.number, "interrupted at event %llu", (unsigned long long)record.number);
            break;
        }
        /* before an event: the kernels and remembered spawns are roots */
        if (record.number % STORE_REPLAY_FLUSH_EVENTS == 1 || noun_collection_stress())
            maybe_collect(store, replay.backend);
        if (batch && record.kind == EVLOG_PLAIN) {
            uint8_t *copy = malloc(record.event_length ? record.event_length : 1);
            if (!copy) {
                ok = fail(error, record.number, "out of memory");
                break;
            }
            memcpy(copy, record.event, record.event_length);
            mugs[batch->count] = record.mug;
            batch->events[batch->count++] = (struct stm_event){ .jam = copy, .length = record.event_length };
            if (batch->count == STORE_BATCH_EVENTS) {
                uint64_t before = batch->count;
                ok = replay_stm_batch(&replay, batch, mugs, from, error);
                result->events += ok ? before : 0;
                if (ok && record.number / STORE_REPLAY_FLUSH_EVENTS != (record.number - before) / STORE_REPLAY_FLUSH_EVENTS) {
                    ok = profile_flush(replay.run, &profile_error) || fail(error, record.number, "%s", profile_error.message);
                }
            }
            progress_report(store, &progress, record.number, false);
            continue;
        }
        if (batch && batch->count) {
            uint64_t before = batch->count;
            ok = replay_stm_batch(&replay, batch, mugs, from, error);
            result->events += ok ? before : 0;
            if (!ok)
                break;
        }
        ok = replay_one(&replay, &record, from, &cpu_mark, error);
        result->events += ok;
        if (ok && !read_only) /* a read-only store takes no snapshots */
            snapshot_if_due(store, kernel, replay.spawns, replay.run);
        if (ok && replay.run && record.number % STORE_REPLAY_FLUSH_EVENTS == 0)
            ok = profile_flush(replay.run, &profile_error) || fail(error, record.number, "%s", profile_error.message);
        progress_report(store, &progress, record.number, false);
    }
    if (ok && batch && batch->count) {
        uint64_t before = batch->count;
        ok = replay_stm_batch(&replay, batch, mugs, from, error);
        result->events += ok ? before : 0;
    }
    if (batch) {
        stm_batch_clear(batch);
        free(batch);
        free(mugs);
    }
    if (ok && step == EVLOG_BAD)
        ok = fail(error, log_error.event_number, "%s", log_error.message);
    /* an interrupt that came while the last event ran, after the kernel's
     * last look, still stops the replay */
    if (ok && store->interrupt_requested)
        ok = fail(error, kernel_event_number(kernel), "interrupted after event %llu",
                  (unsigned long long)kernel_event_number(kernel));
    evlog_cursor_close(cursor);
    if (ok && to && kernel_event_number(kernel) < to)
        ok = fail(error, 0, "the log ends at event %llu, before event %llu", (unsigned long long)kernel_event_number(kernel),
                  (unsigned long long)to);
    progress_report(store, &progress, kernel_event_number(kernel), true);
    tell_evaluator(store, NULL);
    store->replay_kernel = NULL;
    store->replay_backend = NULL;
    result->first_event = from > start + 1 ? from : start + 1;
    result->last_event = kernel_event_number(kernel);
    result->mug = kernel_mug(kernel);
    result->seconds = replay.run ? (double)profile_run_stop(replay.run) / 1e9
                                 : (double)(clock_wall_nanoseconds() - progress.started_ns) / 1e9;
    result->run_id = replay.run ? profile_run_id(replay.run) : 0;
    if (!profile_run_end(replay.run, ok ? "done" : error->message, &profile_error) && ok)
        ok = fail(error, 0, "%s", profile_error.message);
    while (replay.spawns)
        forget_spawn(&replay, &replay.spawns);
    kernel_backend_free(replay.backend);
    return ok;
}

bool store_replay(struct store *store, uint64_t from, uint64_t to, const struct store_listener *listener,
                  struct store_replay_result *result, struct store_error *error)
{
    memset(result, 0, sizeof *result);
    if (to && from > to)
        return fail(error, 0, "--from %llu is after --to %llu", (unsigned long long)from, (unsigned long long)to);
    uint64_t last = evlog_last_event(store->log);
    if ((to && to > last) || from > (last ? last : 1))
        return fail(error, 0, "store %s: the log ends at event %llu", store->directory, (unsigned long long)last);
    struct kernel *kernel = kernel_from_boot(store, true, error);
    if (!kernel)
        return false;
    store->interrupt_requested = 0;
    store->listener = listener;
    /* Start from the newest snapshot before the first event to profile
     * (from = 0: before the end, or `to`). */
    struct snapshot_choice choice = { .at_most = from ? from - 1 : UINT64_MAX };
    if (to && to < choice.at_most)
        choice.at_most = to;
    struct snapshot_load_report loaded;
    noun pending;
    bool ok = start_from_snapshot(store, kernel, &choice, &pending, &loaded, error);
    if (ok) {
        uint64_t first = from > kernel_event_number(kernel) ? from : kernel_event_number(kernel) + 1;
        char note[96];
        if (to)
            snprintf(note, sizeof note, "events %llu..%llu", (unsigned long long)first, (unsigned long long)to);
        else
            snprintf(note, sizeof note, "events %llu..end", (unsigned long long)first);
        ok = replay_into(store, kernel, from, to, "replay", note, pending, result, error);
        result->snapshot_event = loaded.event_number;
    }
    store->listener = NULL;
    kernel_free(kernel);
    return ok;
}

bool store_event(struct store *store, uint64_t number, const struct store_listener *listener,
                 store_event_visitor *visit, void *context, struct store_error *error)
{
    uint64_t last = evlog_last_event(store->log);
    if (number == 0 || number > last)
        return fail(error, 0, "store %s has events 1..%llu; there is no event %llu", store->directory,
                    (unsigned long long)last, (unsigned long long)number);
    struct kernel *kernel = kernel_from_boot(store, true, error);
    if (!kernel)
        return false;
    struct kernel_backend_options options = { .ignore_timeouts = true, .slog = store_slog, .slog_context = store };
    struct replay replay = { .store = store, .kernel = kernel };
    replay.backend = kernel_backend_serial(store->home, &options);
    struct evlog_error log_error = { 0 };
    struct evlog_cursor *cursor = replay.backend ? evlog_cursor_open(store->log, 1, number, &log_error) : NULL;
    if (!cursor) {
        kernel_backend_free(replay.backend);
        kernel_free(kernel);
        return replay.backend ? fail(error, 0, "%s", log_error.message) : fail(error, 0, "out of memory");
    }
    store->interrupt_requested = 0;
    store->listener = listener;
    store->replay_kernel = kernel;
    store->replay_backend = replay.backend;
    struct progress progress;
    progress_start(&progress, "replaying", number);
    bool ok = true, shown = false;
    struct evlog_record record;
    enum evlog_step step;
    uint64_t cpu_mark = clock_cpu_nanoseconds_for_events();
    while (ok && !shown && (step = evlog_cursor_next(cursor, &record, &log_error)) == EVLOG_ROW) {
        if (store->interrupt_requested) {
            ok = fail(error, record.number, "interrupted at event %llu", (unsigned long long)record.number);
            break;
        }
        struct kernel_applied applied;
        noun event = NOUN_NONE;
        bool is_it = record.number == number;
        /* No profile rows: looking at an event is not a run. */
        ok = replay_one_applied(&replay, &record, UINT64_MAX, &cpu_mark, &applied, is_it ? &event : NULL, error);
        if (ok && is_it) {
            char why[200];
            /* A plain event's noun may have gone with the kernel's scratch:
             * cue it again from the log for the visitor. */
            if (record.kind != EVLOG_SPAWN_OUTCOME &&
                !kernel_cue_event(kernel, record.event, record.event_length, &event, why, sizeof why))
                event = NOUN_NONE;
            struct store_event_info info = { .number = record.number,
                                             .is_outcome = record.kind == EVLOG_SPAWN_OUTCOME,
                                             .source_event = record.source_event,
                                             .source_effect = record.source_effect };
            visit(context, &info, event, applied.effects, applied.mug);
            shown = true;
        } else if (ok && record.number % STORE_REPLAY_FLUSH_EVENTS == 0) {
            maybe_collect(store, replay.backend);
        }
        progress_report(store, &progress, record.number, false);
    }
    if (ok && !shown)
        ok = fail(error, log_error.event_number, "%s", log_error.message[0] ? log_error.message : "the log ended early");
    progress_report(store, &progress, kernel_event_number(kernel), true);
    evlog_cursor_close(cursor);
    store->replay_kernel = NULL;
    store->replay_backend = NULL;
    store->listener = NULL;
    while (replay.spawns)
        forget_spawn(&replay, &replay.spawns);
    kernel_backend_free(replay.backend);
    kernel_free(kernel);
    return ok;
}

/* Make the live kernel anew: from snapshot `exactly` (0: the newest, if
 * any), then the events logged after it.  `announce`: say which snapshot
 * was loaded, as a notice. */
static bool rebuild_live_kernel(struct store *store, uint64_t exactly, bool announce,
                                struct store_replay_result *result, struct store_error *error)
{
    struct kernel *kernel = kernel_from_boot(store, false, error);
    if (!kernel)
        return false;
    struct snapshot_choice choice = { .exactly = exactly, .at_most = UINT64_MAX };
    struct snapshot_load_report loaded;
    noun pending;
    bool ok = start_from_snapshot(store, kernel, &choice, &pending, &loaded, error);
    /* the newest valid snapshot: pace the next one from it, whatever a
     * damaged newer file claimed */
    if (ok && loaded.event_number && !exactly)
        store->last_snapshot_event = loaded.event_number;
    if (ok && loaded.event_number && announce)
        notice(store, "loaded the snapshot of event %llu (%s, %.1f KiB) in %.1f ms; replaying the %llu events after it",
               (unsigned long long)loaded.event_number, loaded.file, (double)loaded.bytes / 1024.0,
               (double)(loaded.read_ns + loaded.cue_ns) / 1e6,
               (unsigned long long)(evlog_last_event(store->log) - loaded.event_number));
    ok = ok && (evlog_last_event(store->log) == kernel_event_number(kernel) ||
                replay_into(store, kernel, 1, 0, "rebuild", "the kernel rebuilt from the log on open", pending, result,
                             error));
    result->snapshot_event = loaded.event_number;
    if (!ok) {
        kernel_free(kernel);
        return false;
    }
    kernel_free(store->kernel);
    store->kernel = kernel;
    return true;
}

bool store_recover(struct store *store, const struct store_listener *listener, struct store_error *error)
{
    if (store->kernel || !store_booted(store))
        return true;
    struct store_replay_result result = { 0 };
    store->interrupt_requested = 0;
    store->listener = listener;
    bool ok = rebuild_live_kernel(store, 0, true, &result, error);
    store->listener = NULL;
    return ok;
}

/* ---- snapshots on request ---------------------------------------------------------------- */

bool store_use_snapshots(struct store *store, const struct store_snapshot_options *options, struct store_error *error)
{
    if (options->kind != SNAPSHOT_NONE && options->kind != snapshot_store_kind(store->snapshots)) {
        struct snapshot_error snapshot_error;
        struct snapshot_store *chosen = snapshot_store_open(store->log, options->kind, &snapshot_error);
        if (!chosen)
            return fail(error, 0, "%s", snapshot_error.message);
        struct noun_home *pma_home = snapshot_store_home(chosen);
        if (pma_home && (store->kernel || store->unreleased_count || store->waiting_count)) {
            snapshot_store_close(chosen);
            return fail(error, 0, "store %s: pma snapshots must be chosen when the store is opened, before its "
                        "kernel is built (--snapshot pma)", store->directory);
        }
        bool switched = !pma_home || switch_home(store, pma_home, error);
        snapshot_store_close(store->snapshots);
        store->snapshots = chosen; /* even when switching failed: home is chosen's now */
        if (!switched)
            return false;
    }
    store->snap_every = options->every;
    store->ignore_snapshots = options->ignore;
    report_snapshots(store, NULL);
    return true;
}

enum snapshot_kind store_snapshot_kind(const struct store *store) { return snapshot_store_kind(store->snapshots); }

bool store_snapshot_save(struct store *store, struct snapshot_save_report *report, struct store_error *error)
{
    if (!need_kernel(store, error))
        return false;
    if (store->unreleased_count || store->waiting_count || store->backend->running(store->backend->self))
        return fail(error, 0, "events are still being applied; save a snapshot when they are done");
    return save_snapshot(store, store->kernel, NULL, store->live_run, report, error);
}

bool store_snapshot_load(struct store *store, uint64_t event_number, const struct store_listener *listener,
                         struct store_replay_result *result, struct store_error *error)
{
    memset(result, 0, sizeof *result);
    if (!need_kernel(store, error))
        return false;
    if (store->unreleased_count || store->waiting_count || store->backend->running(store->backend->self))
        return fail(error, 0, "events are still being applied; load a snapshot when they are done");
    store->interrupt_requested = 0;
    store->listener = listener;
    bool ok = rebuild_live_kernel(store, event_number, false, result, error);
    if (ok && !event_number && !result->snapshot_event)
        ok = fail(error, 0, "store %s has no valid snapshot (:snap save takes one)", store->directory);
    store->listener = NULL;
    if (ok) {
        result->last_event = kernel_event_number(store->kernel);
        result->mug = kernel_mug(store->kernel);
    }
    return ok;
}

bool store_snapshot_describe(struct store *store, struct snapshot_description *description,
                             struct store_error *error)
{
    struct snapshot_error snapshot_error;
    if (!snapshot_describe(store->snapshots, description, &snapshot_error))
        return fail(error, 0, "%s", snapshot_error.message);
    return true;
}
