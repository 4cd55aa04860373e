/* bench_sampler.c -- what the Nock sampler costs the evaluation it watches.
 *
 * Runs dec 3e7 (../shared/bench/dec.formula with 3e7: twelve Nock
 * steps and one call per count, so thirty million safe points) RUNS times
 * plain and RUNS times under the sampler at each rate, interleaved so a
 * change in the machine's load hits every rate alike, and reports for each
 * rate the fastest run's CPU time of the evaluating thread against the
 * fastest plain run's (the figure judged), the whole process's CPU (what
 * ticking costs besides) and wall time, with the samples taken.
 *
 *   build/bench/bench_sampler [RUNS]
 *
 * The sampler counts CPU time (profiler/sampler.h), so the rate reached is
 * at most the kernel's tick rate: the samples per CPU-second say it.
 *
 * Prints two lines per rate:
 *   sampler at 1000 Hz: 83 samples a run (256 per CPU-second); process CPU +0.1%, wall +0.3%
 *   sampler at 1000 Hz: evaluating thread's CPU +0.1% (target < 2%) 0.05x OK
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/clock.h"
#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "profiler/folded.h"
#include "profiler/sampler.h"

#define TARGET_PERCENT 2.0
#define DEFAULT_RUNS 15
#define MAX_RUNS 51
#define SUBJECT 30000000u
#define PRODUCT 29999999u

static const unsigned rates[] = { 0, 100, 1000 };
#define RATE_COUNT (sizeof rates / sizeof rates[0])

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = NULL;
    size_t length = 0;
    if (fseek(file, 0, SEEK_END) == 0) {
        long size = ftell(file);
        rewind(file);
        text = size >= 0 ? malloc((size_t)size + 1) : NULL;
        length = text ? fread(text, 1, (size_t)size, file) : 0;
    }
    fclose(file);
    if (text)
        text[length] = 0;
    return text;
}

/* What one evaluation cost: the evaluating thread's CPU seconds, the
 * whole process's (the sampler's timer included) and wall seconds. */
struct cost {
    double thread, process, wall;
};

/* One evaluation with the sampler at `hz` (0: none); false when the
 * product is wrong. */
static bool run_once(struct nock_context *context, noun formula, struct sampler *sampler, unsigned hz,
                     struct cost *cost)
{
    nock_context_reset(context);
    if (hz)
        sampler_start(sampler, context, hz, NULL, NULL);
    double thread = (double)clock_cpu_nanoseconds() / 1e9, process = clock_process_cpu_seconds(),
           wall = clock_wall_seconds();
    struct nock_outcome outcome = nock_evaluate(context, SUBJECT, formula);
    if (hz)
        sampler_stop(sampler);
    cost->thread = (double)clock_cpu_nanoseconds() / 1e9 - thread;
    cost->process = clock_process_cpu_seconds() - process;
    cost->wall = clock_wall_seconds() - wall;
    return outcome.status == NOCK_OK && outcome.product == PRODUCT;
}

/* The fastest of `count` runs: on a shared machine whatever else runs
 * only ever adds time, so the fastest run is the closest to the work's own
 * cost (a median still moved by 10% or more between two runs at load 8). */
static double fastest(const double *values, int count)
{
    double best = values[0];
    for (int i = 1; i < count; i++)
        if (values[i] < best)
            best = values[i];
    return best;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : DEFAULT_RUNS;
    if (runs < 1 || runs > MAX_RUNS)
        runs = DEFAULT_RUNS;
    const char *shared = getenv("SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/bench/dec.formula", shared && *shared ? shared : "../shared");
    char *text = read_text(path);
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct nock_context *context = home ? nock_context_new(home, NULL) : NULL;
    struct folded *folded = folded_new();
    struct sampler *sampler = folded ? sampler_new(folded) : NULL;
    if (!text || !context || !sampler) {
        fprintf(stderr, "bench_sampler: cannot %s\n", text ? "set up the evaluator and sampler" : "read dec.formula");
        return 1;
    }
    noun formula;
    struct text_error error;
    if (!text_parse(nock_context_region(context), text, strlen(text), NULL, NULL, &formula, &error)) {
        fprintf(stderr, "bench_sampler: %s: %s\n", path, error.message);
        return 1;
    }
    formula = noun_home_copy_out(home, nock_context_region(context), formula);
    struct cost cost;
    run_once(context, formula, sampler, 0, &cost); /* code compiled, pages touched */

    double thread[RATE_COUNT][MAX_RUNS], process[RATE_COUNT][MAX_RUNS], wall[RATE_COUNT][MAX_RUNS];
    uint64_t samples[RATE_COUNT] = { 0 };
    /* each round starts at another rate, so no rate always runs first */
    for (int run = 0; run < runs; run++)
        for (size_t step = 0; step < RATE_COUNT; step++) {
            size_t rate = (step + (size_t)run) % RATE_COUNT;
            uint64_t before = folded_samples(folded);
            if (!run_once(context, formula, sampler, rates[rate], &cost)) {
                fprintf(stderr, "bench_sampler: dec 3e7 gave a wrong product at %u Hz\n", rates[rate]);
                return 1;
            }
            samples[rate] += folded_samples(folded) - before;
            thread[rate][run] = cost.thread;
            process[rate][run] = cost.process;
            wall[rate][run] = cost.wall;
        }
    double plain_thread = fastest(thread[0], runs), plain_process = fastest(process[0], runs),
           plain_wall = fastest(wall[0], runs);
    printf("sampler: dec 3e7 unsampled: %.3f s CPU, %.3f s wall (fastest of %d runs)\n", plain_thread, plain_wall,
           runs);
    for (size_t rate = 1; rate < RATE_COUNT; rate++) {
        double thread_percent = 100.0 * (fastest(thread[rate], runs) - plain_thread) / plain_thread;
        double process_percent = 100.0 * (fastest(process[rate], runs) - plain_process) / plain_process;
        double wall_percent = 100.0 * (fastest(wall[rate], runs) - plain_wall) / plain_wall;
        double cpu_total = 0;
        for (int run = 0; run < runs; run++)
            cpu_total += thread[rate][run];
        printf("sampler at %u Hz: %.0f samples a run (%.0f per CPU-second); process CPU %+.1f%%, wall %+.1f%%\n",
               rates[rate], (double)samples[rate] / runs, (double)samples[rate] / cpu_total, process_percent,
               wall_percent);
        printf("sampler at %u Hz: evaluating thread's CPU %+.1f%% (target < %.0f%%) %.2fx %s\n", rates[rate],
               thread_percent, TARGET_PERCENT, thread_percent / TARGET_PERCENT,
               thread_percent < TARGET_PERCENT ? "OK" : "MISSED");
    }
    sampler_free(sampler);
    folded_free(folded);
    nock_context_free(context);
    noun_home_free(home);
    free(text);
    return 0;
}
