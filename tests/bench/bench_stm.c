/* bench_stm.c -- the STM backend against serial application, in events
 * per second, on the kv sample and on a kernel with no shards.
 *
 * Each workload is a list of jammed events applied to a booted kernel two
 * ways: serially (kernel_cue_event + kernel_apply, what replay does per
 * event) and with stm_apply_batch in batches of 1,024 (the store's batch).
 * The event log and profile rows are left out, so the figures are the
 * engine's; home is collected between batches when it has grown as the
 * store lets it (store.c, maybe_collect), so the dedup table is as big as
 * in a real replay (left to grow, it makes every serial event miss the
 * cache far more than the STM's batched copy-out does, and flatters STM).
 *
 * How the two are timed.  This machine's speed drifts over seconds (serial
 * kv alone has run anywhere from 205,000 to 485,000 events a second), so
 * two ways timed one after the other are timed on different machines.
 * Each way has a home of its own, as if it were a process of its own, and
 * within a run the two take turns a block of BLOCK_BATCHES batches at a
 * time (about 10 ms), the order swapped each block: both see the same
 * stretches of the machine.  A run is `count` events from the booted
 * state; its ratio is the serial way's time over the STM's; the figure is
 * the median of RUNS runs' ratios, and the rates the medians of each way's.
 * (Timed as whole runs in turn, the ratios of one bench's five runs ranged
 * over as much as 1.67x-2.59x; see docs/stm.md, Speed.)  Each way keeps
 * its kernel (and STM its backend) from one run to the next, as a replay
 * keeps them from one batch to the next (struct way).  Both ways must end
 * each run in the same state (the program stops there if not), and the
 * program exits 1 if a target is missed, as the other benches do.
 * Output, one line per workload, the STM's statistics summed over its
 * runs:
 *
 *   stm <name>: <ratio>x serial (target >= <t>x; serial N/s, stm N/s;
 *       conflicts C, re-runs R, parallel P of E; runs r1-r2x) OK|MISSED
 *
 *   stm <name>: CPU per event: serial S us, stm T us (all threads)
 *
 *   stm <name>: time per event: parallel epochs E us (workers running
 *       events R%, committing C%, copying to home H%, waiting W%), then
 *       copying to home F us, serial S us
 *
 * and, first, each CPU's speed and the most any parallel program could
 * gain on them (cpus.h), since the target assumes two cores of equal
 * speed, which a shared virtual machine does not always give: on the one
 * this was tuned on, one vCPU ran at half speed for seconds at a time.
 *
 * Workloads: kv with keys over all 16 shards (target 1.6x on two cores),
 * the same with kv's routes taken out of its declaration (so every event
 * may run on any worker, as Block-STM schedules them; the same target),
 * kv with every key in one shard (0.9x), counter, which declares no
 * shards (0.9x: within 10% of serial).
 *
 * Usage: bench_stm [events [workload]]: 200,000 events each by default;
 * a workload's whole name runs only that one, and a word ("uniform", "one
 * shard", "counter") the ones whose names hold it.  With BENCH_STM_PAIRS
 * set, each run's rates and ratio go to standard error as well.
 */
#define _GNU_SOURCE /* cpus.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/clock.h"
#include "interp/jam.h"
#include "interp/kernel.h"
#include "interp/noun.h"
#include "interp/stm.h"
#include "repl/samples.h"
#include "tests/bench/bench.h"
#include "tests/bench/cpus.h"

#define RUNS 5
#define BATCH 1024
/* Batches a way runs before the other takes its turn. */
#define BLOCK_BATCHES 4
/* store.c's STORE_COLLECT_FLOOR: home is collected once it holds twice
 * what survived the last collection, and at least this much */
#define COLLECT_FLOOR ((size_t)8 << 20)

static uint64_t random_state = 1;

static uint64_t next_random(void)
{
    uint64_t z = (random_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void die(const char *message)
{
    fprintf(stderr, "bench_stm: %s\n", message);
    exit(1);
}

/* kv events as samples.c makes them (90% puts), keys in one shard or all. */
static struct stm_event *make_events(const char *sample, size_t count, bool one_shard)
{
    struct noun_region *region = noun_region_new((size_t)1 << 30);
    struct stm_event *events = calloc(count, sizeof *events);
    if (!region || !events)
        die("out of memory");
    for (size_t i = 0; i < count; i++) {
        noun event;
        if (strcmp(sample, "kv") == 0) {
            uint64_t draw = next_random();
            noun key = 0x10000 + (one_shard ? 0x7000 + (draw & 0xfff) : (draw & 0xffff));
            event = (draw >> 16) % 10 == 0 ? noun_cell_new(region, noun_short_term("get"), key)
                                           : noun_trel(region, noun_short_term("put"), key, (draw >> 32) & 0xffffffffu);
        } else {
            event = noun_short_term("inc");
        }
        uint8_t *bytes;
        size_t length;
        if (!jam_to_bytes(event, &bytes, &length))
            die("out of memory");
        events[i] = (struct stm_event){ .jam = bytes, .length = length };
    }
    noun_region_free(region);
    return events;
}

/* The sample's kernel in `home` after its first event, `first` (kv builds
 * its table then). */
static noun booted(struct noun_home *home, const char *sample, const struct stm_event *first)
{
    noun state;
    char why[300];
    if (!samples_load_kernel(sample, home, &state, why, sizeof why))
        die(why);
    struct kernel_options options = { .no_cpu_time = true };
    struct kernel *kernel = kernel_new(home, state, 0, &options, why, sizeof why);
    if (!kernel)
        die(why);
    noun event;
    struct kernel_applied applied;
    struct kernel_error error;
    if (!kernel_cue_event(kernel, first->jam, first->length, &event, why, sizeof why) ||
        kernel_apply(kernel, event, &applied, &error) != KERNEL_OK)
        die("the first event was refused");
    noun after = kernel_state(kernel);
    kernel_free(kernel);
    return after;
}

/* `state` with its declaration's routes taken out: [%route base routes
 * decl] at axis 14 becomes decl. */
static noun without_routes(struct noun_home *home, noun state)
{
    noun declaration = noun_fragment(14, state);
    if (!noun_is_cell(declaration) || noun_head(declaration) != noun_short_term("route"))
        die("the kernel's declaration has no routes to take out");
    struct noun_region *region = noun_region_new((size_t)1 << 20);
    if (!region)
        die("out of memory");
    noun context = noun_cell_new(region, noun_fragment(15, declaration), noun_fragment(15, state));
    noun tail = noun_cell_new(region, noun_fragment(6, state), context);
    noun edited = noun_home_copy_out(home, region, noun_cell_new(region, noun_fragment(2, state), tail));
    noun_region_free(region);
    return edited;
}

/* Collect home if it has grown as much as the store lets it. */
static void collect_like_the_store(struct noun_home *home)
{
    size_t floor = noun_home_used_after_collect(home);
    if (floor < COLLECT_FLOOR / 2)
        floor = COLLECT_FLOOR / 2;
    if (noun_home_used(home) > 2 * floor)
        noun_home_collect(home);
}

/* One way of applying the events, with a home of its own (so neither
 * way's dedup table holds the other's cells, and equal states are not
 * shared between them) and a kernel, and STM its backend, made once for a
 * workload and used by all its runs, as a replay uses one of each for all
 * its batches.  (Made for each run, the STM's first batch paid for its
 * workers' regions being touched the first time: on this machine's fresh
 * memory, up to 14 ms a run.)  Each run starts from the booted state and
 * leaves it there. */
struct way {
    struct noun_home *home;
    noun booted;                /* a root of home */
    struct kernel *kernel;
    struct stm *stm;            /* NULL for the serial way */
    struct stm_result *results; /* made once and reused, as the store does */
    double seconds, cpu_seconds; /* of the run under way */
};

static void way_make(struct way *way, const char *sample, const struct stm_event *first, bool routes,
                     bool parallel)
{
    char why[200];
    way->home = noun_home_new(noun_arena_memory((size_t)32 << 30));
    if (!way->home)
        die("no home");
    way->booted = booted(way->home, sample, first);
    if (!routes)
        way->booted = without_routes(way->home, way->booted);
    noun_home_root_add(way->home, &way->booted);
    struct kernel_options options = { .no_cpu_time = true };
    way->kernel = kernel_new(way->home, way->booted, 1, &options, why, sizeof why);
    if (!way->kernel)
        die(why);
    way->stm = NULL;
    way->results = NULL;
    if (parallel) {
        struct stm_options stm_options = { .no_cpu_time = true };
        way->stm = stm_new(way->home, &stm_options, why, sizeof why);
        way->results = calloc(BATCH, sizeof *way->results);
        if (!way->stm || !way->results)
            die(way->stm ? "out of memory" : why);
    }
}

static void way_free(struct way *way)
{
    if (way->stm)
        stm_free(way->stm);
    free(way->results);
    kernel_free(way->kernel);
    noun_home_free(way->home);
}

/* Set the way's kernel to its booted state and collect its home.
 * (kernel_set_state only refuses a state outside home, which would be
 * this program's bug.) */
static void way_reset(struct way *way)
{
    if (!kernel_set_state(way->kernel, way->booted, 1))
        die("the booted state is not in home");
    noun_home_collect(way->home);
    way->seconds = way->cpu_seconds = 0;
}

/* Apply events[begin .. end), whole batches but maybe the last, the way's
 * way, adding the time taken to its run's, and the STM's statistics to
 * *totals.  CPU time: the serial way's is this thread's; all the process
 * has besides, in either way's turn, is the STM's (its workers spin for up
 * to a millisecond after its turn, stm.c POOL_SPIN_NANOSECONDS, into the
 * serial way's). */
static void way_apply(struct way *way, struct way *stm_way, const struct stm_event *events, size_t begin,
                      size_t end, struct stm_batch_stats *totals)
{
    char why[200];
    double process_cpu = clock_process_cpu_seconds();
    uint64_t thread_cpu = clock_cpu_nanoseconds();
    uint64_t started = clock_wall_nanoseconds();
    for (size_t done = begin; done < end;) {
        size_t size = end - done < BATCH ? end - done : BATCH;
        if (!way->stm) {
            for (size_t i = done; i < done + size; i++) {
                noun event;
                struct kernel_applied applied;
                struct kernel_error error;
                if (!kernel_cue_event(way->kernel, events[i].jam, events[i].length, &event, why, sizeof why) ||
                    kernel_apply(way->kernel, event, &applied, &error) != KERNEL_OK)
                    die("serial: an event was refused");
            }
        } else {
            struct stm_batch_stats stats;
            if (stm_apply_batch(way->stm, way->kernel, events + done, size, true, way->results, &stats) != size)
                die("stm: an event was refused");
            totals->events += stats.events;
            totals->reruns += stats.reruns;
            totals->parallel_events += stats.parallel_events;
            for (int s = 0; s < STM_MAX_SHARDS; s++)
                totals->conflicts_by_shard[s] += stats.conflicts_by_shard[s];
            stm_time_add(&totals->time, &stats.time);
        }
        done += size;
        collect_like_the_store(way->home);
    }
    way->seconds += (double)(clock_wall_nanoseconds() - started) / 1e9;
    double process = clock_process_cpu_seconds() - process_cpu;
    double thread = (double)(clock_cpu_nanoseconds() - thread_cpu) / 1e9;
    way->cpu_seconds += way->stm ? process : thread;
    if (!way->stm)
        stm_way->cpu_seconds += process - thread;
}

/* One run: events[0 .. count) both ways, taking turns a block at a time,
 * the order swapped each block.  Both must end in the same state. */
static void run_both(struct way *serial, struct way *parallel, const struct stm_event *events, size_t count,
                     struct stm_batch_stats *totals)
{
    way_reset(serial);
    way_reset(parallel);
    size_t block = (size_t)BLOCK_BATCHES * BATCH;
    for (size_t begin = 0, turn = 0; begin < count; begin += block, turn++) {
        size_t end = count - begin < block ? count : begin + block;
        struct way *first = turn % 2 ? parallel : serial, *second = turn % 2 ? serial : parallel;
        way_apply(first, parallel, events, begin, end, totals);
        way_apply(second, parallel, events, begin, end, totals);
    }
    if (kernel_mug(serial->kernel) != kernel_mug(parallel->kernel))
        die("stm and serial ended in different states");
}

static int missed = 0;

/* Where the STM runs' time went, per event (struct stm_time). */
static void print_time(const char *name, const struct stm_time *time, size_t count)
{
    double per_event = 1e-3 / (double)count; /* ns in all -> us per event */
    if (!time->epoch_ns) {
        printf("stm %s: time per event: serial %.2f us\n", name, (double)time->serial_ns * per_event);
        return;
    }
    struct stm_time_shares shares = stm_time_shares(time);
    printf("stm %s: time per event: parallel epochs %.2f us (workers running events %.0f%%, committing %.0f%%, "
           "copying to home %.0f%%, waiting %.0f%%), then copying to home %.2f us, serial %.2f us\n",
           name, (double)time->epoch_ns * per_event, shares.running, shares.committing, shares.copying,
           shares.waiting, (double)time->finish_ns * per_event, (double)time->serial_ns * per_event);
}

/* argv[2]: run just the workload of this name, or else those whose names
 * hold it */
static const char *only;
static bool exact;

static void bench(const char *name, const char *sample, bool one_shard, bool routes, size_t count, double target)
{
    if (only && (exact ? strcmp(name, only) != 0 : !strstr(name, only)))
        return;
    struct stm_event *first = make_events(sample, 1, false);
    struct stm_event *events = make_events(sample, count, one_shard);
    double serial[RUNS], parallel[RUNS], serial_cpu[RUNS], parallel_cpu[RUNS], ratios[RUNS];
    struct stm_batch_stats stats = { 0 };
    struct way serial_way, stm_way;
    way_make(&serial_way, sample, first, routes, false);
    way_make(&stm_way, sample, first, routes, true);
    for (int run = 0; run < RUNS; run++) {
        run_both(&serial_way, &stm_way, events, count, &stats);
        serial[run] = serial_way.seconds;
        parallel[run] = stm_way.seconds;
        serial_cpu[run] = serial_way.cpu_seconds;
        parallel_cpu[run] = stm_way.cpu_seconds;
        ratios[run] = serial[run] / parallel[run];
        if (getenv("BENCH_STM_PAIRS"))
            fprintf(stderr, "run %d: serial %.0f/s, stm %.0f/s: %.2fx\n", run, (double)count / serial[run],
                    (double)count / parallel[run], ratios[run]);
    }
    way_free(&stm_way);
    way_free(&serial_way);
    bench_sort(ratios, RUNS);
    bench_sort(serial, RUNS);
    bench_sort(parallel, RUNS);
    bench_sort(serial_cpu, RUNS);
    bench_sort(parallel_cpu, RUNS);
    double serial_rate = (double)count / serial[RUNS / 2], stm_rate = (double)count / parallel[RUNS / 2];
    double ratio = ratios[RUNS / 2];
    uint64_t conflicts = 0;
    for (int s = 0; s < STM_MAX_SHARDS; s++)
        conflicts += stats.conflicts_by_shard[s];
    bool ok = ratio >= target;
    missed += !ok;
    printf("stm %s: %.2fx serial (target >= %.1fx; serial %.0f/s, stm %.0f/s; conflicts %llu, re-runs %llu, "
           "parallel %llu of %llu; runs %.2f-%.2fx) %s\n",
           name, ratio, target, serial_rate, stm_rate, (unsigned long long)conflicts,
           (unsigned long long)stats.reruns, (unsigned long long)stats.parallel_events,
           (unsigned long long)stats.events, ratios[0], ratios[RUNS - 1], ok ? "OK" : "MISSED");
    printf("stm %s: CPU per event: serial %.2f us, stm %.2f us (all threads)\n", name,
           serial_cpu[RUNS / 2] / (double)count * 1e6, parallel_cpu[RUNS / 2] / (double)count * 1e6);
    print_time(name, &stats.time, stats.events);
    fflush(stdout);
    for (size_t i = 0; i < count; i++)
        free((void *)events[i].jam);
    free(events);
    free((void *)first->jam);
    free(first);
}

int main(int argc, char **argv)
{
    size_t count = 200000;
    if (argc > 1) {
        char *end;
        count = strtoull(argv[1], &end, 10);
        if (argc > 3 || *argv[1] < '0' || *argv[1] > '9' || *end || count == 0) {
            fprintf(stderr, "usage: bench_stm [events [workload]]\n"
                            "  events: how many per workload (200000 if not given), at least 1\n"
                            "  workload: a workload's whole name, or a word of the names to run\n");
            return 2;
        }
    }
    only = argc > 2 ? argv[2] : NULL;
    static const struct {
        const char *name, *sample;
        bool one_shard, routes;
        double target;
    } workloads[] = {
        { "kv uniform, 16 shards", "kv", false, true, 1.6 },
        { "kv uniform, 16 shards, no routes", "kv", false, false, 1.6 },
        { "kv, all in one shard", "kv", true, true, 0.9 },
        { "counter, no shards", "counter", false, true, 0.9 },
    };
    size_t workload_count = sizeof workloads / sizeof workloads[0];
    for (size_t i = 0; only && i < workload_count; i++)
        exact = exact || !strcmp(workloads[i].name, only);
    bench_parallel_ceiling(); /* what two threads can gain here, now */
    for (size_t i = 0; i < workload_count; i++)
        bench(workloads[i].name, workloads[i].sample, workloads[i].one_shard, workloads[i].routes, count,
              workloads[i].target);
    return missed ? 1 : 0;
}
