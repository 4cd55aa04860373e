/* Unit tests for interp/stm: random workloads run under the STM backend
 * and serially (kernel_apply, one event after another) must agree event by
 * event (status, effects, crash trace, message, the mug after it) and in
 * the final state.  Workloads: kv with keys spread evenly, skewed to a hot
 * shard, and all on one shard; a small sharded kernel ("toy", below) whose
 * events read and write shards, look at the whole table, copy one shard
 * into another, crash, rewrite the rest of the state and the battery, and
 * change the shard declaration; and a kernel with no shards.  Batches come
 * in random sizes, so epochs start and end everywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/jam.h"
#include "interp/kernel.h"
#include "interp/mug.h"
#include "interp/noun.h"
#include "interp/stm.h"
#include "interp/text.h"
#include "repl/samples.h"
#include "tests/support/support.h"

static struct noun_home *home;
static struct noun_region *region; /* where tests build their nouns */

static int setup(void **state) { return support_home_open(&home, &region, (size_t)16 << 30); }
static int teardown(void **state) { return support_home_close(&home, &region); }

/* Parse noun text and copy it to home. */
static noun parse(const char *text) { return support_parse_home(home, region, text); }

static uint64_t random_state;

static uint64_t next_random(void)
{
    uint64_t z = (random_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---- the workloads ------------------------------------------------------------ */

/* A workload: the jams of its events. */
struct workload {
    struct stm_event *events;
    uint8_t **jams;
    size_t count;
};

static void workload_add(struct workload *w, noun event)
{
    uint8_t *bytes;
    size_t length;
    assert_true(jam_to_bytes(event, &bytes, &length));
    w->jams = realloc(w->jams, (w->count + 1) * sizeof *w->jams);
    w->events = realloc(w->events, (w->count + 1) * sizeof *w->events);
    w->jams[w->count] = bytes;
    w->events[w->count] = (struct stm_event){ .jam = bytes, .length = length };
    w->count++;
}

static void workload_free(struct workload *w)
{
    for (size_t i = 0; i < w->count; i++)
        free(w->jams[i]);
    free(w->jams);
    free(w->events);
}

enum kv_spread { KV_UNIFORM, KV_HOT_SHARD, KV_ONE_SHARD };

/* kv events: puts and gets, a few that crash (keys out of range, an
 * unknown tag, an atom). */
static void kv_workload_add(struct workload *w, enum kv_spread spread, size_t count, bool with_crashes)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t draw = next_random();
        uint64_t shard = draw % 16;
        if (spread == KV_ONE_SHARD || (spread == KV_HOT_SHARD && (draw >> 8) % 2 == 0))
            shard = 5;
        noun key = 0x10000 + shard * 0x1000 + (draw >> 16) % 64;
        noun event;
        unsigned kind = (unsigned)((draw >> 32) % 100);
        if (with_crashes && kind < 3)
            event = kind == 0 ? noun_trel(region, noun_short_term("put"), 0x20000 + kind, 1)
                  : kind == 1 ? noun_cell_new(region, noun_short_term("bad"), key)
                              : noun_short_term("get");
        else if (kind < 15)
            event = noun_cell_new(region, noun_short_term("get"), key);
        else
            event = noun_trel(region, noun_short_term("put"), key, (draw >> 40) % 1000);
        workload_add(w, event);
    }
}

static struct workload kv_workload(enum kv_spread spread, size_t count, bool with_crashes)
{
    struct workload w = { 0 };
    kv_workload_add(&w, spread, count, with_crashes);
    return w;
}

/* The toy kernel: state [battery [sample [decl [rest table]]]] with
 * table [[s0 s1] [s2 s3]], so the shards s0..s3 are at axes 124..127.  The
 * battery is [8 [1 N] 7 [0 3] DISPATCH]: N (at kernel axis 21) changes
 * nothing but the battery.  Events (axes are kernel axes):
 *   [%inc a]        increment the atom at a; no effects
 *   [%inc2 a b]     increment a, then b in the kernel that made
 *   [%copy a b]     the noun at a put at b
 *   [%set a v]      v put at a
 *   [%eq a b]       effect [%out (a = b)]
 *   [%show ~]       effect [%out table]: the whole table, spine and all
 *   [%rest v]       v put at 30 (the rest)
 *   [%bump ~]       N + 1 (the battery)
 *   [%decl list]    the declaration becomes [%shards list]
 *   anything else   crashes
 * Every event leaves 0 in the sample. */
#define RESET "[10 [6 1 0] 0 1]"
#define TOY_BATTERY                                                                                 \
    "[8 [1 0] 7 [0 3] "                                                                             \
    "6 [5 [1 %inc] 0 12] [[1 0] 2 [0 1] [1 10] [1 [6 1 0]] [1 10] [[0 13] [1 4] [1 0] 0 13] 1 0 1] " \
    "6 [5 [1 %inc2] 0 12] [[1 0] 2 [0 1] [1 10] [1 [6 1 0]] [1 7] "                                   \
    "[[1 10] [[0 26] [1 4] [1 0] 0 26] 1 0 1] [1 10] [[0 27] [1 4] [1 0] 0 27] 1 0 1] "                 \
    "6 [5 [1 %copy] 0 12] [[1 0] 2 [0 1] [1 10] [1 [6 1 0]] [1 10] [[0 27] [1 0] 0 26] 1 0 1] "      \
    "6 [5 [1 %set] 0 12] [[1 0] 2 [0 1] [1 10] [1 [6 1 0]] [1 10] [[0 26] [1 1] 0 27] 1 0 1] "       \
    "6 [5 [1 %eq] 0 12] [[[[1 %out] 2 [0 1] [1 5] [[1 0] 0 26] [1 0] 0 27] 1 0] " RESET "] "          \
    "6 [5 [1 %show] 0 12] [[[[1 %out] 0 31] 1 0] " RESET "] "                                       \
    "6 [5 [1 %rest] 0 12] [[1 0] 10 [30 0 13] " RESET "] "                                          \
    "6 [5 [1 %bump] 0 12] [[1 0] 10 [21 4 0 21] " RESET "] "                                        \
    "6 [5 [1 %decl] 0 12] [[1 0] 10 [14 [1 %shards] 0 13] " RESET "] "                              \
    "0 0]"

static noun toy_kernel(void)
{
    return parse("[" TOY_BATTERY " 0 [%shards 124 125 126 127 0] 0 [0 0] 0 0]");
}

static noun toy_axis(void) { return 124 + next_random() % 4; }

/* A shard, or now and then a spine cell above some (looked at whole). */
static noun toy_source(void)
{
    static const noun spine[] = { 31, 62, 63 };
    return next_random() % 6 ? toy_axis() : spine[next_random() % 3];
}

static struct workload toy_workload(size_t count)
{
    struct workload w = { 0 };
    static const char *const declarations[] = {
        "[124 125 126 127 0]", "[62 63 0]", "[62 126 127 0]", "[31 0]", "[125 0]",
        "[7 0]" /* holds 14: refused, so no shards */, "[15 0]", "[124 124 0]" /* twice */, "0",
    };
    for (size_t i = 0; i < count; i++) {
        unsigned kind = (unsigned)(next_random() % 100);
        noun event;
        if (kind < 45)
            event = noun_cell_new(region, noun_short_term("inc"), toy_axis());
        else if (kind < 55)
            event = noun_trel(region, noun_short_term("inc2"), toy_axis(), toy_axis());
        else if (kind < 65)
            event = noun_trel(region, noun_short_term("copy"), toy_source(), toy_axis());
        else if (kind < 72) {
            uint64_t v = next_random() % 3;
            noun value = v == 0 ? 7 : v == 1 ? noun_cell_new(region, 1, 2) : 0;
            noun where = next_random() % 8 == 0 ? 62 + next_random() % 2 : toy_axis();
            /* an atom at 62 or 63 takes two shards' paths away for a while */
            if (where < 124 && value != 0 && noun_is_direct(value))
                value = noun_cell_new(region, 0, 0);
            if (where < 124 && next_random() % 4 == 0)
                value = 9;
            event = noun_trel(region, noun_short_term("set"), where, value);
        } else if (kind < 80)
            event = noun_trel(region, noun_short_term("eq"), toy_source(), toy_source());
        else if (kind < 83)
            event = noun_cell_new(region, noun_short_term("show"), 0);
        else if (kind < 86)
            event = noun_cell_new(region, noun_short_term("rest"), next_random() % 5);
        else if (kind < 89)
            event = noun_cell_new(region, noun_short_term("bump"), 0);
        else if (kind < 92)
            event = noun_cell_new(region, noun_short_term("decl"),
                                  parse(declarations[next_random() % (sizeof declarations / sizeof *declarations)]));
        else if (kind < 96)
            event = noun_cell_new(region, noun_short_term("boom"), 0);
        else
            event = noun_cell_new(region, noun_short_term("inc"), 63); /* a cell: crashes */
        workload_add(&w, event);
    }
    return w;
}

/* ---- running both ways ------------------------------------------------------------ */

/* The jam of a noun as text-free bytes, for comparing. */
static void assert_same_noun(noun a, noun b, const char *what, size_t event)
{
    if (!noun_equal(a, b)) {
        char *ta = text_format(a), *tb = text_format(b);
        fail_msg("event %zu: %s differ: stm %s, serial %s", event, what, ta ? ta : "?", tb ? tb : "?");
    }
}

static struct kernel *new_kernel(noun state)
{
    char why[200];
    struct kernel *kernel = kernel_new(home, state, 0, NULL, why, sizeof why);
    if (!kernel)
        fail_msg("kernel_new: %s", why);
    return kernel;
}

/* Run the workload both ways from `state`, in random batch sizes up to
 * `most`, and compare everything.  Returns the STM totals. */
static struct stm_batch_stats run_both_with(noun state, const struct workload *w, size_t most, unsigned workers,
                                            bool stale_views, bool misroute)
{
    struct kernel *serial = new_kernel(state);
    struct kernel *parallel = new_kernel(state);
    char why[200];
    struct stm_options options = { .workers = workers, .stale_views = stale_views, .misroute = misroute };
    struct stm *stm = stm_new(home, &options, why, sizeof why);
    if (!stm)
        fail_msg("stm_new: %s", why);
    struct stm_result *results = calloc(w->count, sizeof *results);
    struct stm_batch_stats totals = { 0 };
    size_t done = 0;
    while (done < w->count) {
        size_t size = 1 + next_random() % most;
        if (size > w->count - done)
            size = w->count - done;
        struct stm_batch_stats stats;
        size_t taken = stm_apply_batch(stm, parallel, w->events + done, size, false, results + done, &stats);
        assert_int_equal(taken, size);
        totals.events += stats.events;
        totals.attempts += stats.attempts;
        totals.reruns += stats.reruns;
        totals.parallel_events += stats.parallel_events;
        totals.serial_events += stats.serial_events;
        totals.epochs += stats.epochs;
        totals.routed_epochs += stats.routed_epochs;
        /* where the time went: parallel epochs are timed, each worker's
         * running, committing and copying fit in it (copying only when
         * the epochs are routed), a copy to home follows each */
        const struct stm_time *t = &stats.time;
        if (stats.epochs) {
            assert_int_equal(t->workers, workers);
            assert_true(t->epoch_ns > 0 && t->running_ns > 0 && t->finish_ns > 0);
            assert_true(t->running_ns + t->committing_ns + t->copying_ns <= (uint64_t)workers * t->epoch_ns);
            if (!stats.routed_epochs)
                assert_true(t->copying_ns == 0);
        } else {
            assert_true(t->epoch_ns == 0 && t->running_ns == 0 && t->finish_ns == 0 && t->copying_ns == 0);
        }
        if (stats.serial_events)
            assert_true(t->serial_ns > 0);
        /* the same events, serially; compare before home may move */
        for (size_t i = done; i < done + size; i++) {
            noun event;
            assert_true(kernel_cue_event(serial, w->events[i].jam, w->events[i].length, &event, why, sizeof why));
            struct kernel_applied applied;
            struct kernel_error error = { 0 };
            enum kernel_status status = kernel_apply(serial, event, &applied, &error);
            const struct stm_result *r = &results[i];
            if (status != r->status)
                fail_msg("event %zu: stm says %d (%s), serial %d (%s)", i, r->status, r->error.message, status,
                         error.message);
            if (status == KERNEL_OK) {
                assert_same_noun(r->applied.effects, applied.effects, "effects", i);
                if (r->applied.mug != applied.mug)
                    fail_msg("event %zu: mug after it: stm %x, serial %x", i, r->applied.mug, applied.mug);
                assert_true(noun_home_holds(home, r->applied.effects) || noun_is_direct(r->applied.effects));
            } else {
                assert_string_equal(r->error.message, error.message);
                assert_same_noun(r->error.trace, error.trace, "crash traces", i);
            }
            assert_true(r->stats.attempts >= 1);
        }
        assert_same_noun(kernel_state(parallel), kernel_state(serial), "states", done + size - 1);
        assert_int_equal(kernel_event_number(parallel), kernel_event_number(serial));
        assert_true(noun_home_holds(home, kernel_state(parallel)));
        done += size;
    }
    free(results);
    stm_free(stm);
    kernel_free(serial);
    kernel_free(parallel);
    return totals;
}

static struct stm_batch_stats run_both(noun state, const struct workload *w, size_t most, unsigned workers,
                                       bool stale_views)
{
    return run_both_with(state, w, most, workers, stale_views, false);
}

static noun kv_kernel(void)
{
    noun kernel;
    char why[300];
    if (!samples_load_kernel("kv", home, &kernel, why, sizeof why))
        fail_msg("%s", why);
    return kernel;
}

static void test_kv_uniform(void **state)
{
    random_state = 1;
    struct workload w = kv_workload(KV_UNIFORM, 3000, false);
    struct stm_batch_stats stats = run_both(kv_kernel(), &w, 700, 2, false);
    print_message("kv uniform: %llu events, %llu parallel, %llu re-runs\n", (unsigned long long)stats.events,
                  (unsigned long long)stats.parallel_events, (unsigned long long)stats.reruns);
    /* the first event builds the table (a write of everything); then the
     * shards are there and the rest runs in parallel, routed (kv declares
     * where each event's key is) */
    assert_true(stats.parallel_events > stats.events / 2);
    assert_true(stats.routed_epochs > 0);
    workload_free(&w);
}

static void test_kv_hot_shard_with_crashes(void **state)
{
    random_state = 2;
    struct workload w = kv_workload(KV_HOT_SHARD, 3000, true);
    run_both(kv_kernel(), &w, 500, 3, false);
    workload_free(&w);
}

static void test_kv_one_shard(void **state)
{
    random_state = 3;
    struct workload w = kv_workload(KV_ONE_SHARD, 2000, false);
    struct stm_batch_stats stats = run_both(kv_kernel(), &w, 1000, 2, false);
    print_message("kv one shard: %llu events, %llu serial, %llu re-runs\n", (unsigned long long)stats.events,
                  (unsigned long long)stats.serial_events, (unsigned long long)stats.reruns);
    /* Runs thrown away are bounded by the dependency estimate: past 24
     * re-runs in 64 commits it goes serial and stays there.  (How many
     * events run serially depends on how often the two workers really run
     * at once, which on a loaded machine may be seldom: then there are
     * few conflicts, and parallel epochs cost nothing.  Unloaded, nearly
     * all 2,000 run serially.) */
    assert_true(stats.reruns <= stats.events * 24 / 64 + 64);
    /* every key in one shard would leave the other worker idle: not routed */
    assert_int_equal(stats.routed_epochs, 0);
    workload_free(&w);
}

static void test_toy_spine_battery_and_changing_shards(void **state)
{
    for (uint64_t seed = 10; seed < 16; seed++) {
        random_state = seed;
        struct workload w = toy_workload(1500);
        struct stm_batch_stats stats = run_both(toy_kernel(), &w, 1 + seed * 40, seed % 2 ? 2 : 4, seed % 3 != 0);
        print_message("toy seed %llu: %llu events, %llu parallel in %llu epochs, %llu re-runs\n",
                      (unsigned long long)seed, (unsigned long long)stats.events,
                      (unsigned long long)stats.parallel_events, (unsigned long long)stats.epochs,
                      (unsigned long long)stats.reruns);
        workload_free(&w);
    }
}

/* Events handed to the wrong workers (stm_options.misroute): a worker
 * runs events on another's shards, on its own stale versions of them,
 * and every such read must be caught at the commit. */
static void test_misrouted(void **state)
{
    random_state = 6;
    struct workload w = kv_workload(KV_HOT_SHARD, 2000, true);
    struct stm_batch_stats stats = run_both_with(kv_kernel(), &w, 700, 2, false, true);
    print_message("kv misrouted: %llu events, %llu in %llu routed epochs, %llu re-runs\n",
                  (unsigned long long)stats.events, (unsigned long long)stats.parallel_events,
                  (unsigned long long)stats.routed_epochs, (unsigned long long)stats.reruns);
    assert_true(stats.routed_epochs > 0);
    /* with stale views it stays parallel however much it conflicts */
    stats = run_both_with(kv_kernel(), &w, 700, 2, true, true);
    assert_true(stats.parallel_events > stats.events / 2 && stats.routed_epochs > 0);
    workload_free(&w);
    for (uint64_t seed = 20; seed < 23; seed++) {
        random_state = seed;
        w = toy_workload(1200);
        run_both_with(toy_kernel(), &w, 1 + seed * 30, seed % 2 ? 2 : 3, false, true);
        workload_free(&w);
    }
}

/* Home fills up in the middle of a routed epoch (worker 0 moves results
 * to home while the other worker runs, then the rest at the end): the
 * batch stops there, refused for memory, with the kernel's state that of
 * the events before the epoch, as serial application has it. */
static void test_home_fills_up(void **state)
{
    random_state = 7;
    struct noun_home *small = noun_home_new(noun_arena_memory((size_t)1 << 20));
    assert_non_null(small);
    noun kv;
    char why[300];
    assert_true(samples_load_kernel("kv", small, &kv, why, sizeof why));
    struct kernel *parallel = kernel_new(small, kv, 0, NULL, why, sizeof why);
    struct stm_options options = { .workers = 2 };
    struct stm *stm = stm_new(small, &options, why, sizeof why);
    assert_non_null(parallel);
    assert_non_null(stm);
    enum { MOST = 60000, BATCH = 1024 };
    struct workload w = kv_workload(KV_UNIFORM, MOST, false);
    struct stm_result *results = calloc(BATCH, sizeof *results);
    size_t done = 0, taken = 0;
    struct stm_batch_stats stats = { 0 };
    for (; done < MOST; done += taken) {
        size_t size = MOST - done < BATCH ? MOST - done : BATCH;
        taken = stm_apply_batch(stm, parallel, w.events + done, size, false, results, &stats);
        if (taken < size)
            break;
    }
    print_message("home full after %zu events (%llu routed epochs in the last batch), %zu bytes\n", done + taken,
                  (unsigned long long)stats.routed_epochs, noun_home_used(small));
    assert_true(done < MOST);
    assert_int_equal(results[taken].status, KERNEL_OUT_OF_MEMORY);
    /* the state is serial's after the events taken */
    struct kernel *serial = new_kernel(kv_kernel());
    for (size_t i = 0; i < done + taken; i++) {
        noun event;
        struct kernel_applied applied;
        struct kernel_error error = { 0 };
        assert_true(kernel_cue_event(serial, w.events[i].jam, w.events[i].length, &event, why, sizeof why));
        assert_int_equal(kernel_apply(serial, event, &applied, &error), KERNEL_OK);
    }
    assert_int_equal(kernel_event_number(parallel), kernel_event_number(serial));
    assert_int_equal(mug_noun(kernel_state(parallel)), mug_noun(kernel_state(serial)));
    kernel_free(serial);
    free(results);
    stm_free(stm);
    kernel_free(parallel);
    noun_home_free(small);
    workload_free(&w);
}

/* Contention that ends is noticed: after a stretch on one shard, which
 * goes serial when the workers really overlap, events spread over all
 * shards run in parallel again.  (The serial stretch looks at one window of
 * events in ESTIMATE_PROBE_EVERY, so this also checks that windows come
 * round; stuck serial, the parallel events would be the one-shard
 * stretch's few.) */
static void test_kv_contention_ends(void **state)
{
    random_state = 9;
    struct workload w = { 0 };
    kv_workload_add(&w, KV_ONE_SHARD, 2000, false);
    kv_workload_add(&w, KV_UNIFORM, 3000, false);
    struct stm_batch_stats stats = run_both(kv_kernel(), &w, 1000, 2, false);
    print_message("kv one shard then uniform: %llu events, %llu serial, %llu parallel\n",
                  (unsigned long long)stats.events, (unsigned long long)stats.serial_events,
                  (unsigned long long)stats.parallel_events);
    assert_true(stats.parallel_events > 1500);
    workload_free(&w);
}

static void test_no_shards_runs_serially(void **state)
{
    random_state = 4;
    struct workload w = { 0 };
    for (int i = 0; i < 500; i++)
        workload_add(&w, noun_short_term("inc"));
    noun counter;
    char why[300];
    if (!samples_load_kernel("counter", home, &counter, why, sizeof why))
        fail_msg("%s", why);
    assert_int_equal(stm_shard_count(counter, NULL, 0), 0);
    struct stm_batch_stats stats = run_both(counter, &w, 200, 2, false);
    assert_int_equal(stats.parallel_events, 0);
    assert_int_equal(stats.serial_events, 500);
    workload_free(&w);
}

static void test_shard_declarations(void **state)
{
    char why[120];
    assert_int_equal(stm_shard_count(toy_kernel(), why, sizeof why), 4);
    assert_int_equal(stm_shard_count(parse("[0 0 [%shards 62 63 0] 0 [0 0] 0 0]"), why, sizeof why), 2);
    assert_int_equal(stm_shard_count(parse("[0 0 [%shards 7 0] 0 0]"), why, sizeof why), 0);
    assert_non_null(strstr(why, "declaration"));
    assert_int_equal(stm_shard_count(parse("[0 0 [%shards 62 124 0] 0 [0 0] 0 0]"), why, sizeof why), 0);
    assert_non_null(strstr(why, "holds"));
    /* the table not built yet: the path to the shards goes through an atom */
    assert_int_equal(stm_shard_count(parse("[0 0 [%shards 124 125 0] 0 0]"), why, sizeof why), 0);
    assert_non_null(strstr(why, "not a cell"));
    assert_int_equal(stm_shard_count(kv_kernel(), why, sizeof why), 0);
    /* a route wraps a declaration: [%route base [[tag axis] ...] %shards ...] */
    assert_int_equal(stm_shard_count(parse("[0 0 [%route 3 [[%put 6] 0] %shards 62 63 0] 0 [0 0] 0 0]"), why,
                                     sizeof why), 2);
    assert_int_equal(stm_shard_count(parse("[0 0 [%route 0 [[%put 6] 0] %shards 62 63 0] 0 [0 0] 0 0]"), why,
                                     sizeof why), 0);
    assert_non_null(strstr(why, "route declaration"));
    assert_int_equal(stm_shard_count(parse("[0 0 [%route 3 0 %shards 62 63 0] 0 [0 0] 0 0]"), why, sizeof why), 0);
    assert_non_null(strstr(why, "route list is empty"));
    assert_int_equal(stm_shard_count(parse("[0 0 [%route 3 [[%put 6] 5] %shards 62 63 0] 0 [0 0] 0 0]"), why,
                                     sizeof why), 0);
    assert_non_null(strstr(why, "does not end in ~"));
    assert_int_equal(stm_shard_count(parse("[0 0 [%route 3 [[%put 0] 0] %shards 62 63 0] 0 [0 0] 0 0]"), why,
                                     sizeof why), 0);
    assert_non_null(strstr(why, "not [tag axis]"));
    assert_int_equal(stm_shard_count(parse("[0 0 [%route 3 [[%put 6] 0] %other 62 63 0] 0 [0 0] 0 0]"), why,
                                     sizeof why), 0);
    assert_non_null(strstr(why, "no [%shards"));
}

static void test_stop_at_refusal(void **state)
{
    random_state = 5;
    struct workload w = { 0 };
    for (int i = 0; i < 40; i++)
        workload_add(&w, noun_cell_new(region, noun_short_term("inc"), 124 + i % 4));
    workload_add(&w, noun_cell_new(region, noun_short_term("boom"), 0));
    for (int i = 0; i < 40; i++)
        workload_add(&w, noun_cell_new(region, noun_short_term("inc"), 124 + i % 4));
    struct kernel *kernel = new_kernel(toy_kernel());
    char why[200];
    struct stm_options options = { .workers = 2 };
    struct stm *stm = stm_new(home, &options, why, sizeof why);
    assert_non_null(stm);
    struct stm_result results[81];
    size_t taken = stm_apply_batch(stm, kernel, w.events, w.count, true, results, NULL);
    assert_int_equal(taken, 41);
    assert_int_equal(results[40].status, KERNEL_CRASH);
    assert_int_equal(kernel_event_number(kernel), 40);
    assert_int_equal(noun_fragment(124, kernel_state(kernel)), 10);
    stm_free(stm);
    kernel_free(kernel);
    workload_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shard_declarations),
        cmocka_unit_test(test_kv_uniform),
        cmocka_unit_test(test_kv_hot_shard_with_crashes),
        cmocka_unit_test(test_kv_one_shard),
        cmocka_unit_test(test_kv_contention_ends),
        cmocka_unit_test(test_toy_spine_battery_and_changing_shards),
        cmocka_unit_test(test_misrouted),
        cmocka_unit_test(test_home_fills_up),
        cmocka_unit_test(test_no_shards_runs_serially),
        cmocka_unit_test(test_stop_at_refusal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
