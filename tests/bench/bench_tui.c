/* bench_tui.c -- what the live panes cost the work they watch.
 *
 * Generates a kv store of N events (default 50,000), then replays it
 * REPLAYS times plain and REPLAYS times under the panes, alternating: the
 * panes drawing ten times a second (to /dev/null, as a 120x40 xterm), the
 * monitor fed every event and the Nock sampler at 100 Hz, as
 * `nocklab --tui replay` runs them.  Reported on standard error: the
 * median of the paired differences in the replaying thread's CPU time,
 * wall time, and the whole process's CPU time (the screen thread's
 * included).  On a shared machine those vary by more than the 2% to be
 * shown, so the figure judged is measured directly: the CPU time the
 * working thread spends reporting one event while the panes draw (two
 * million reports), relative to an event's CPU time in the plain replay.
 *
 *   build/bench/bench_tui [N]
 *
 * NOCKLAB_BENCH_PARTS (e.g. "monitor", "sampler", "screen sampler") runs
 * only those parts under the "panes" replays, to see what costs what; the
 * monitor is always fed.
 *
 * Prints one line:
 *   panes cost: <percent>% of an event's CPU time (target < 2%) <ratio>x OK|MISSED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp/noun.h"
#include "profiler/folded.h"
#include "profiler/monitor.h"
#include "profiler/sampler.h"
#include "profiler/tui.h"
#include "repl/samples.h"
#include "repl/store.h"
#include "interp/clock.h"
#include "tests/bench/bench.h"

#define TARGET_PERCENT 2.0
#define REPLAYS 5

static struct sampler *sampler;

static double thread_cpu_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static int generate(const char *directory, uint64_t count)
{
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(directory, true, home, &error) : NULL;
    char why[300];
    noun kernel;
    struct store_generate_result result;
    if (!store || !samples_load_kernel("kv", home, &kernel, why, sizeof why) ||
        !store_boot(store, "kv", kernel, &error) || !store_generate(store, "kv", count, 1, NULL, &result, &error)) {
        fprintf(stderr, "bench_tui: %s\n", store ? error.message : "cannot make the store");
        return 1;
    }
    store_close(store);
    noun_home_free(home);
    return 0;
}

static void follow(void *context, struct nock_context *nock) { sampler_watch(sampler, nock, NULL, NULL); }

/* One replay, watched or not: its wall seconds, the replaying thread's
 * CPU seconds and the whole process's. */
static int replay(const char *directory, bool watched, double *seconds, double *work_cpu, double *cpu)
{
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(directory, false, home, &error) : NULL;
    if (!store) {
        fprintf(stderr, "bench_tui: %s\n", error.message);
        return 1;
    }
    struct tui *tui = NULL;
    FILE *screen = NULL, *keys = NULL;
    int key_pipe[2] = { -1, -1 };
    struct store_listener listener = { .evaluator = follow };
    const char *parts = getenv("NOCKLAB_BENCH_PARTS");
    bool with_sampler = !parts || strstr(parts, "sampler"), with_screen = !parts || strstr(parts, "screen");
    if (watched) {
        screen = fopen("/dev/null", "w");
        if (pipe(key_pipe) == 0)
            keys = fdopen(key_pipe[0], "r");
        if (with_sampler) {
            sampler_start(sampler, NULL, SAMPLER_DEFAULT_HZ, NULL, NULL);
            sampler_count_outside(sampler, true);
        }
        monitor_begin_run(monitor_process(), "replaying", 0);
        monitor_set_watched(monitor_process(), true);
    }
    if (watched && with_screen) {
        struct tui_options options = { .mode = TUI_RUN, .title = "bench", .hot = sampler_folded(sampler),
                                       .screen_in = keys, .screen_out = screen };
        char why[200];
        tui = tui_open(&options, why, sizeof why);
        if (!tui) {
            fprintf(stderr, "bench_tui: %s\n", why);
            return 1;
        }
    }
    double cpu_before = clock_process_cpu_seconds(), work_before = thread_cpu_seconds();
    struct store_replay_result result;
    bool ok = store_replay(store, 1, 0, watched ? &listener : NULL, &result, &error);
    *work_cpu = thread_cpu_seconds() - work_before;
    *cpu = clock_process_cpu_seconds() - cpu_before;
    *seconds = result.seconds;
    if (watched) {
        tui_close(tui);
        monitor_set_watched(monitor_process(), false);
        sampler_stop(sampler);
        fclose(screen);
        fclose(keys);
        close(key_pipe[1]);
    }
    if (!ok)
        fprintf(stderr, "bench_tui: %s\n", error.message);
    store_close(store);
    noun_home_free(home);
    return ok ? 0 : 1;
}

/* The cost the panes add to each event on the working thread, measured
 * directly: `calls` reports of an event (monitor_event, and the state
 * reports when due) while the panes draw the monitor ten times a second on
 * their own thread.  Nanoseconds of the reporting thread's CPU per event. */
static double reporting_nanoseconds(uint64_t calls)
{
    FILE *screen = fopen("/dev/null", "w");
    int key_pipe[2];
    if (!screen || pipe(key_pipe) != 0)
        return -1;
    FILE *keys = fdopen(key_pipe[0], "r");
    struct tui_options options = { .mode = TUI_RUN, .title = "bench", .screen_in = keys, .screen_out = screen };
    char why[200];
    monitor_begin_run(monitor_process(), "reporting", 0);
    struct tui *tui = tui_open(&options, why, sizeof why);
    if (!tui)
        return -1;
    struct kernel_cost cost;
    memset(&cost, 0, sizeof cost);
    cost.wall_ns = 5000;
    cost.steps = 46;
    struct noun_dedup_stats dedup = { 0 };
    struct monitor_backend backend = { .name = "serial", .workers = 1 };
    double before = thread_cpu_seconds();
    for (uint64_t i = 1; i <= calls; i++) {
        monitor_event(monitor_process(), i, &cost);
        if (monitor_state_due(monitor_process())) {
            monitor_dedup(monitor_process(), &dedup);
            monitor_backend(monitor_process(), &backend);
        }
    }
    double spent = thread_cpu_seconds() - before;
    tui_close(tui);
    fclose(screen);
    fclose(keys);
    close(key_pipe[1]);
    return spent / (double)calls * 1e9;
}

int main(int argc, char **argv)
{
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 50000;
    setenv("TERM", "xterm-256color", 0);
    setenv("COLUMNS", "120", 1);
    setenv("LINES", "40", 1);
    char base[] = "/tmp/nocklab-bench-tui-XXXXXX";
    if (!mkdtemp(base)) {
        perror("bench_tui: mkdtemp");
        return 1;
    }
    char directory[sizeof base + 16];
    snprintf(directory, sizeof directory, "%s/store", base);
    struct folded *samples = folded_new();
    sampler = samples ? sampler_new(samples) : NULL;
    int status = sampler ? generate(directory, count) : 1;
    double plain[REPLAYS], watched[REPLAYS], differences[REPLAYS], plain_cpu[REPLAYS], watched_cpu[REPLAYS];
    double plain_work[REPLAYS], watched_work[REPLAYS];
    double warm, warm_work, warm_cpu;
    if (status == 0)
        status = replay(directory, false, &warm, &warm_work, &warm_cpu); /* page cache, allocator */
    for (int i = 0; i < REPLAYS && status == 0; i++) {
        status = replay(directory, false, &plain[i], &plain_work[i], &plain_cpu[i]);
        status = status ? status : replay(directory, true, &watched[i], &watched_work[i], &watched_cpu[i]);
        differences[i] = (watched_work[i] - plain_work[i]) / plain_work[i] * 100.0;
    }
    char command[200];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    if (system(command) != 0)
        fprintf(stderr, "bench_tui: could not remove %s\n", base);
    if (status != 0)
        return status;
    bench_sort(differences, REPLAYS);
    bench_sort(plain, REPLAYS);
    bench_sort(watched, REPLAYS);
    bench_sort(plain_cpu, REPLAYS);
    bench_sort(watched_cpu, REPLAYS);
    double paired = differences[REPLAYS / 2];
    double per_event_ns = reporting_nanoseconds(2000000);
    double plain_per_event_ns = plain_work[REPLAYS / 2] / (double)count * 1e9;
    double cost = per_event_ns / plain_per_event_ns * 100.0;
    bench_sort(plain_work, REPLAYS);
    bench_sort(watched_work, REPLAYS);
    fprintf(stderr,
            "bench_tui: %llu kv events; replaying thread's CPU median %.3f s plain, %.3f s under the panes; wall "
            "median %.3f s plain, %.3f s under the panes; process CPU median %.3f s plain, %.3f s under the panes "
            "(%+.1f%%, the screen thread included); %llu Nock samples\n",
            (unsigned long long)count, plain_work[REPLAYS / 2], watched_work[REPLAYS / 2], plain[REPLAYS / 2],
            watched[REPLAYS / 2], plain_cpu[REPLAYS / 2],
            watched_cpu[REPLAYS / 2], (watched_cpu[REPLAYS / 2] - plain_cpu[REPLAYS / 2]) / plain_cpu[REPLAYS / 2] * 100,
            (unsigned long long)folded_samples(samples));
    fprintf(stderr,
            "bench_tui: paired replays: %+.2f%% of the replaying thread's CPU (median; this machine's noise is "
            "larger than 2%%); reporting an event costs %.0f ns of the working thread with the panes drawing, "
            "%.2f us of CPU per event in the plain replay\n",
            paired, per_event_ns, plain_per_event_ns / 1e3);
    double shown = cost > 0 ? cost : 0;
    printf("panes cost: %.2f%% of an event's CPU time (target < %.0f%%) %.2fx %s\n", shown, TARGET_PERCENT,
           shown > 0 ? TARGET_PERCENT / shown : 99.0, shown < TARGET_PERCENT ? "OK" : "MISSED");
    sampler_free(sampler);
    folded_free(samples);
    return 0;
}
