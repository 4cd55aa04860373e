/* clock.c -- wall and CPU clocks (see clock.h). */
#include "interp/clock.h"

#include <stdbool.h>
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

/* One thread's meter: its last exact reading, the CPU share (in parts per
 * 2^20 of wall time) over the interval before it, and the last value
 * given, which later ones never fall below. */
static _Thread_local struct {
    bool started;
    uint64_t wall, cpu, given;
    uint64_t share;
} meter;

#define SHARE_ONE (UINT64_C(1) << 20)

uint64_t clock_cpu_nanoseconds_for_events(void)
{
    uint64_t wall = clock_wall_nanoseconds(), value;
    if (!meter.started || wall - meter.wall >= CLOCK_CPU_READ_INTERVAL) {
        uint64_t cpu = clock_cpu_nanoseconds();
        meter.share = SHARE_ONE;
        if (meter.started && wall > meter.wall && cpu >= meter.cpu) {
            uint64_t share = (cpu - meter.cpu) * SHARE_ONE / (wall - meter.wall);
            meter.share = share < SHARE_ONE ? share : SHARE_ONE;
        }
        meter.started = true;
        meter.wall = wall;
        meter.cpu = cpu;
        value = cpu;
    } else {
        value = meter.cpu + (wall - meter.wall) * meter.share / SHARE_ONE;
    }
    if (value < meter.given)
        value = meter.given;
    meter.given = value;
    return value;
}

static double usage_seconds(int who)
{
    struct rusage usage;
    getrusage(who, &usage);
    return (double)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           (double)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double clock_process_cpu_seconds(void) { return usage_seconds(RUSAGE_SELF) + usage_seconds(RUSAGE_CHILDREN); }
