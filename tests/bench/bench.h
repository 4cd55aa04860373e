/* bench.h -- what the benchmark programs share: sorting a run's timings to
 * take a median or a best.  Header only, since each bench is one file
 * linked with libnocklab alone.  CPU time comes from interp/clock.h. */
#ifndef NOCKLAB_BENCH_H
#define NOCKLAB_BENCH_H

#include <stddef.h>
#include <stdlib.h>

static inline int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sort `count` figures in place, smallest first. */
static inline void bench_sort(double *values, size_t count)
{
    qsort(values, count, sizeof *values, bench_compare_doubles);
}

#endif
