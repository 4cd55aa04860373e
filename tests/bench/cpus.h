/* cpus.h -- how fast each CPU is, for the benches that run in parallel
 * (bench_stm, bench_backends).  Header only, as bench.h; the including
 * file defines _GNU_SOURCE before its first #include (sched_setaffinity). */
#ifndef NOCKLAB_BENCH_CPUS_H
#define NOCKLAB_BENCH_CPUS_H

#include <sched.h>
#include <stdint.h>
#include <stdio.h>

#include "interp/clock.h"

/* Times a fixed integer loop (`iterations` long, best of `trials`) on
 * each CPU this process may use, into nanoseconds[] with the CPU numbers
 * in cpus[]; returns how many (0 when affinity can't be set). */
static inline int bench_time_cpus(uint64_t iterations, int trials, double *nanoseconds, int *cpus, int most)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return 0;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && count < most; cpu++) {
        if (!CPU_ISSET(cpu, &allowed))
            continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0)
            continue;
        double best = 0;
        for (int trial = 0; trial < trials; trial++) {
            uint64_t started = clock_wall_nanoseconds();
            volatile uint64_t sum = 0;
            for (uint64_t i = 0; i < iterations; i++)
                sum += i * i;
            double taken = (double)(clock_wall_nanoseconds() - started);
            if (trial == 0 || taken < best)
                best = taken;
        }
        cpus[count] = cpu;
        nanoseconds[count++] = best;
    }
    sched_setaffinity(0, sizeof allowed, &allowed);
    return count;
}

/* How fast each CPU is, as a fraction of the fastest, and the most a
 * perfectly parallel program could gain over one thread on the fastest:
 * the sum of the fractions.  On a virtual machine the CPUs need not be
 * equal: on the one these benches were tuned on, one vCPU runs at half
 * the other's speed for seconds at a time (its host core is busy with
 * someone else), which caps a two-thread speedup near 1.5x whatever the
 * program does.  Prints one line,
 * "cpus: 0:0.46 1:1.00 -> at most 1.46x in parallel", and returns the
 * ceiling (0 when affinity can't be set). */
static inline double bench_parallel_ceiling(void)
{
    enum { MOST = 64 };
    double nanoseconds[MOST];
    int cpus[MOST];
    int count = bench_time_cpus(20000000, 3, nanoseconds, cpus, MOST);
    if (count == 0)
        return 0;
    double fastest = nanoseconds[0], ceiling = 0;
    for (int i = 1; i < count; i++)
        if (nanoseconds[i] < fastest)
            fastest = nanoseconds[i];
    printf("cpus:");
    for (int i = 0; i < count; i++) {
        printf(" %d:%.2f", cpus[i], fastest / nanoseconds[i]);
        ceiling += fastest / nanoseconds[i];
    }
    printf(" -> at most %.2fx in parallel\n", ceiling);
    fflush(stdout);
    return ceiling;
}

#endif
