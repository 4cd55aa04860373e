/* clock.c -- wall and CPU clocks (see clock.h). */
#include "interp/clock.h"

#include <sys/resource.h>
#include <time.h>

static uint64_t read_clock(clockid_t which)
{
    struct timespec t;
    clock_gettime(which, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t clock_wall_nanoseconds(void) { return read_clock(CLOCK_MONOTONIC); }
uint64_t clock_cpu_nanoseconds(void) { return read_clock(CLOCK_THREAD_CPUTIME_ID); }
double clock_wall_seconds(void) { return (double)read_clock(CLOCK_MONOTONIC) / 1e9; }

static double usage_seconds(int who)
{
    struct rusage usage;
    getrusage(who, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double clock_process_cpu_seconds(void) { return usage_seconds(RUSAGE_SELF) + usage_seconds(RUSAGE_CHILDREN); }
