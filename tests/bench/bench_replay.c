/* bench_replay.c -- how fast a store replays: generate a kv store of N
 * events (default 100,000) in a temporary directory, replay it from the
 * boot kernel three times, and report the median events per second (wall
 * clock) against the target.  The CPU time of each replay is reported on
 * standard error too: on a machine busy with other work the wall figure
 * drops while the CPU one doesn't.
 *
 *   build/bench/bench_replay [N]
 *
 * With NOCKLAB_BENCH_KEEP set, the store is left behind (its path is
 * printed) for a look with the sqlite3 shell.
 * Prints one line:
 *   replay kv: <events/s> events/s (target >= 50000) <ratio>x OK|MISSED
 * and exits 1 if the replayed mug differs from the generated one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/noun.h"
#include "repl/samples.h"
#include "repl/store.h"
#include "interp/clock.h"
#include "tests/bench/bench.h"

#define TARGET_EVENTS_PER_SECOND 50000.0
#define REPLAYS 3

static void remove_store(const char *directory)
{
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    if (system(command) != 0)
        fprintf(stderr, "bench_replay: could not remove %s\n", directory);
}

static int generate(const char *directory, uint64_t count, uint32_t *mug, double *seconds)
{
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(directory, true, home, &error) : NULL;
    char why[300];
    noun kernel;
    if (!store || !samples_load_kernel("kv", home, &kernel, why, sizeof why)) {
        fprintf(stderr, "bench_replay: %s\n", store ? why : error.message);
        return 1;
    }
    struct store_generate_result result;
    if (!store_boot(store, "kv", kernel, &error) || !store_generate(store, "kv", count, 1, NULL, &result, &error)) {
        fprintf(stderr, "bench_replay: %s\n", error.message);
        return 1;
    }
    *mug = result.mug;
    *seconds = result.seconds;
    store_close(store);
    noun_home_free(home);
    return 0;
}

static int replay(const char *directory, struct store_replay_result *result)
{
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(directory, false, home, &error) : NULL;
    if (!store || !store_replay(store, 1, 0, NULL, result, &error)) {
        fprintf(stderr, "bench_replay: %s\n", error.message);
        return 1;
    }
    store_close(store);
    noun_home_free(home);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    char base[] = "/tmp/nocklab-bench-XXXXXX";
    if (!mkdtemp(base)) {
        perror("bench_replay: mkdtemp");
        return 1;
    }
    char directory[sizeof base + 16];
    snprintf(directory, sizeof directory, "%s/store", base);

    uint32_t generated_mug = 0;
    double generate_seconds = 0;
    struct store_replay_result result = { 0 };
    double rates[REPLAYS], cpu_rates[REPLAYS];
    int status = generate(directory, count, &generated_mug, &generate_seconds);
    for (int i = 0; i < REPLAYS && status == 0; i++) {
        double cpu_before = clock_process_cpu_seconds();
        status = replay(directory, &result);
        rates[i] = (double)result.events / result.seconds;
        cpu_rates[i] = (double)result.events / (clock_process_cpu_seconds() - cpu_before);
        if (status == 0 && (result.mug != generated_mug || result.last_event != count)) {
            fprintf(stderr, "bench_replay: replay ended at event %llu mug 0x%x; generation at %llu mug 0x%x\n",
                    (unsigned long long)result.last_event, result.mug, (unsigned long long)count, generated_mug);
            status = 1;
        }
    }
    if (getenv("NOCKLAB_BENCH_KEEP"))
        fprintf(stderr, "bench_replay: kept the store in %s\n", directory);
    else
        remove_store(base);
    if (status != 0)
        return status;
    bench_sort(rates, REPLAYS);
    bench_sort(cpu_rates, REPLAYS);
    double rate = rates[REPLAYS / 2];
    fprintf(stderr, "bench_replay: generated %llu kv events in %.2f s (%.0f events/s); replays: %.0f %.0f %.0f events/s "
            "by the wall clock, %.0f events per CPU second (median)\n",
            (unsigned long long)count, generate_seconds, (double)count / generate_seconds, rates[0], rates[1], rates[2],
            cpu_rates[REPLAYS / 2]);
    printf("replay kv: %.0f events/s (target >= %.0f) %.2fx %s\n", rate, TARGET_EVENTS_PER_SECOND,
           rate / TARGET_EVENTS_PER_SECOND, rate >= TARGET_EVENTS_PER_SECOND ? "OK" : "MISSED");
    return 0;
}
