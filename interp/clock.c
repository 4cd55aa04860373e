/* clock.c -- wall and CPU clocks (see clock.h). */
#include "interp/clock.h"

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
