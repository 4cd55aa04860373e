/* bench_nock -- the evaluator's benchmark workloads from ../shared/bench.
 *
 *   bench_nock WORKLOAD [RUNS]
 *
 * WORKLOAD is one of dec-1e7, dec-1e8, fib-25, fib-30.  Runs it RUNS times
 * (default 5) in this process, checks the product and the step count, and
 * prints the median wall time and this process's peak resident memory, each
 * beside its target, as one line per figure:
 *
 *   dec 1e7: 0.210 s (target <= 0.300 s, Vere 0.86 s) 1.43x OK
 *
 * The ratio is measured / target, as in the other benchmarks: for times and
 * memory, below 1 is within target.  Each workload runs in its own process (see run.sh) so that peak
 * memory is that workload's alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "interp/clock.h"
#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "tests/bench/bench.h"

struct workload {
    const char *name;        /* as given on the command line */
    const char *label;       /* as printed */
    const char *formula_file;
    uint64_t subject, product, steps;
    double target_seconds;   /* 0: no time target (memory only) */
    const char *vere_time;
    double target_megabytes;
};

static const struct workload workloads[] = {
    { "dec-1e7", "dec 1e7", "dec.formula", 10000000, 9999999, 120000000, 0.3, "0.86 s", 100 },
    { "dec-1e8", "dec 1e8", "dec.formula", 100000000, 99999999, 1200000000, 0, "-", 100 },
    { "fib-25", "fib 25", "fib.formula", 25, 75025, 22533615, 0, "0.19 s", 100 },
    { "fib-30", "fib 30", "fib.formula", 30, 832040, 266006487, 0.8, "2.20 s", 100 },
};

static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text && fread(text, 1, (size_t)size, file) != (size_t)size) {
        free(text);
        text = NULL;
    }
    if (text)
        text[size] = 0;
    fclose(file);
    return text;
}

static void report(const char *label, double measured, double target, const char *unit, const char *vere)
{
    printf("%s: %.3f %s (target <= %.3f %s, Vere %s) %.2fx %s\n", label, measured, unit, target, unit, vere,
           measured / target, measured <= target ? "OK" : "MISSED");
}

int main(int argc, char **argv)
{
    const struct workload *work = NULL;
    for (size_t i = 0; argc > 1 && i < sizeof workloads / sizeof workloads[0]; i++)
        if (strcmp(argv[1], workloads[i].name) == 0)
            work = &workloads[i];
    if (!work) {
        fprintf(stderr, "usage: bench_nock dec-1e7|dec-1e8|fib-25|fib-30 [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 100)
        runs = 5;
    const char *shared = getenv("SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/bench/%s", shared && *shared ? shared : "../shared", work->formula_file);
    char *text = read_file(path);
    if (!text) {
        fprintf(stderr, "bench_nock: cannot read %s\n", path);
        return 1;
    }
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct nock_context *context = home ? nock_context_new(home, NULL) : NULL;
    if (!context) {
        fprintf(stderr, "bench_nock: cannot make an evaluator\n");
        return 1;
    }
    noun formula;
    struct text_error error;
    if (!text_parse(nock_context_region(context), text, strlen(text), NULL, NULL, &formula, &error)) {
        fprintf(stderr, "bench_nock: %s: %s at column %zu\n", path, error.message, error.offset + 1);
        return 1;
    }
    formula = noun_home_copy_out(home, nock_context_region(context), formula);
    double times[100];
    for (int run = 0; run < runs; run++) {
        nock_context_reset(context);
        uint64_t steps_before = nock_context_counters(context)->steps;
        double start = clock_wall_seconds();
        struct nock_outcome outcome = nock_evaluate(context, work->subject, formula);
        times[run] = clock_wall_seconds() - start;
        uint64_t steps = nock_context_counters(context)->steps - steps_before;
        if (outcome.status != NOCK_OK || outcome.product != work->product || steps != work->steps) {
            fprintf(stderr, "bench_nock: %s gave status %d, product %llu, %llu steps (wanted %llu, %llu)\n",
                    work->label, outcome.status, (unsigned long long)outcome.product,
                    (unsigned long long)steps, (unsigned long long)work->product,
                    (unsigned long long)work->steps);
            return 1;
        }
    }
    bench_sort(times, (size_t)runs);
    double median = times[runs / 2];
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double megabytes = (double)usage.ru_maxrss / 1024.0;
    char label[64];
    if (work->target_seconds > 0)
        report(work->label, median, work->target_seconds, "s", work->vere_time);
    else
        printf("%s: %.3f s (median of %d; no time target)\n", work->label, median, runs);
    snprintf(label, sizeof label, "%s peak RSS", work->label);
    report(label, megabytes, work->target_megabytes, "MB", "7 MB");
    printf("%s: %.2f ns per Nock step\n", work->label, median * 1e9 / (double)work->steps);
    nock_context_free(context);
    noun_home_free(home);
    free(text);
    return 0;
}
