/* bench_serial.c -- how fast jam, cue and mug are on real and synthetic
 * nouns, against the targets and Vere's figures on this machine.
 *
 * Each figure is the median of 5 runs (wall time, clock_gettime); the last
 * line is the peak RSS of the whole program (getrusage).  Output, one line
 * per figure:
 *
 *   <name>: <measured> (target <= <target>, Vere <figure>) <ratio>x OK|MISSED
 *
 * where ratio is measured / target, so anything at or below 1.00x is OK.
 * The pill is read from $SHARED/ivory.pill (default ../shared).  Every run
 * also checks its result (the pill's mug, jam giving back the pill's bytes,
 * the tree coming back equal) and exits 1 if a result is wrong.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "interp/clock.h"
#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/noun.h"
#include "tests/bench/bench.h"

#define RUNS 5
#define PILL_MUG 0x2a2274c9u
#define TREE_DEPTH 20

static double median(double *samples, int count)
{
    bench_sort(samples, (size_t)count);
    return samples[count / 2];
}

static int missed = 0; /* figures over target, for the summary */

static void report(const char *name, double seconds, double target_seconds, const char *vere)
{
    double ratio = seconds / target_seconds;
    bool ok = seconds <= target_seconds;
    if (!ok)
        missed++;
    if (target_seconds < 1.0)
        printf("%s: %.1f ms (target <= %.0f ms, Vere %s) %.2fx %s\n", name, seconds * 1e3,
               target_seconds * 1e3, vere, ratio, ok ? "OK" : "MISSED");
    else
        printf("%s: %.3f s (target <= %.2f s, Vere %s) %.2fx %s\n", name, seconds, target_seconds, vere,
               ratio, ok ? "OK" : "MISSED");
    fflush(stdout);
}

static void die(const char *message)
{
    fprintf(stderr, "bench_serial: %s\n", message);
    exit(1);
}

static void region_exhausted(void *context)
{
    (void)context;
    die("scratch region exhausted");
}

static uint8_t *read_file(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    uint8_t *data = size > 0 ? malloc((size_t)size) : NULL;
    if (data && fread(data, 1, (size_t)size, file) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(file);
    *length = (size_t)size;
    return data;
}

static noun cue_or_die(struct noun_region *region, const uint8_t *bytes, size_t length)
{
    noun out;
    struct jam_error error;
    if (!jam_cue_bytes(region, bytes, length, &out, &error)) {
        fprintf(stderr, "bench_serial: cue failed at bit %llu: %s\n", (unsigned long long)error.bit_offset,
                error.message);
        exit(1);
    }
    return out;
}

static void bench_pill(struct noun_region *region, const uint8_t *pill, size_t length)
{
    double cue_times[RUNS], mug_times[RUNS], jam_times[RUNS];
    for (int run = 0; run < RUNS; run++) {
        /* A fresh cue each run, so mug starts cold (no mug cached) and jam
         * from nouns nobody has walked yet. */
        noun_region_reset(region);
        double start = clock_wall_seconds();
        noun kernel = cue_or_die(region, pill, length);
        cue_times[run] = clock_wall_seconds() - start;

        start = clock_wall_seconds();
        uint32_t mug = mug_noun(kernel);
        mug_times[run] = clock_wall_seconds() - start;
        if (mug != PILL_MUG)
            die("wrong mug for the cued pill");

        noun_region_reset(region);
        kernel = cue_or_die(region, pill, length);
        uint8_t *bytes;
        size_t jam_length;
        start = clock_wall_seconds();
        if (!jam_to_bytes(kernel, &bytes, &jam_length))
            die("jam ran out of memory");
        jam_times[run] = clock_wall_seconds() - start;
        if (jam_length != length || memcmp(bytes, pill, length) != 0)
            die("jam of the cued pill differs from the pill");
        free(bytes);
    }
    report("cue ivory.pill", median(cue_times, RUNS), 0.050, "n/a");
    report("mug of the cued pill, cold", median(mug_times, RUNS), 0.010, "n/a");
    report("jam of the cued pill", median(jam_times, RUNS), 0.075, "n/a");
}

/* A complete binary tree of the given depth whose leaves, left to right,
 * are the atoms 0 .. 2^depth - 1.  Built bottom-up, level by level. */
static noun build_tree(struct noun_region *region, int depth)
{
    size_t count = (size_t)1 << depth;
    noun *level = malloc(count * sizeof *level);
    if (!level)
        die("out of memory building the tree");
    for (size_t i = 0; i < count; i++)
        level[i] = i;
    for (; count > 1; count /= 2)
        for (size_t i = 0; i < count / 2; i++)
            level[i] = noun_cell_new(region, level[2 * i], level[2 * i + 1]);
    noun root = level[0];
    free(level);
    return root;
}

static void bench_tree(struct noun_region *region)
{
    double times[RUNS];
    for (int run = 0; run < RUNS; run++) {
        noun_region_reset(region);
        noun tree = build_tree(region, TREE_DEPTH);
        double start = clock_wall_seconds();
        uint8_t *bytes;
        size_t length;
        if (!jam_to_bytes(tree, &bytes, &length))
            die("jam ran out of memory");
        noun back = cue_or_die(region, bytes, length);
        times[run] = clock_wall_seconds() - start;
        free(bytes);
        if (!noun_equal(back, tree))
            die("the tree came back different");
    }
    report("jam + cue of a depth-20 tree, 2^20 distinct leaves", median(times, RUNS), 0.5, "2.66 s");
}

int main(void)
{
    const char *shared = getenv("SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/ivory.pill", shared ? shared : "../shared");
    size_t length;
    uint8_t *pill = read_file(path, &length);
    if (!pill) {
        fprintf(stderr, "bench_serial: can't read %s\n", path);
        return 1;
    }
    struct noun_region *region = noun_region_new((size_t)4 << 30);
    if (!region)
        die("can't reserve a scratch region");
    region->out_of_memory = region_exhausted;

    bench_pill(region, pill, length);
    bench_tree(region);

    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("peak RSS: %.0f MB\n", (double)usage.ru_maxrss / 1024.0);
    /* Wall times on a 2-core machine double when something else runs. */
    double load[1];
    if (getloadavg(load, 1) == 1)
        printf("load average while measuring: %.2f\n", load[0]);

    noun_region_free(region);
    free(pill);
    return 0;
}
