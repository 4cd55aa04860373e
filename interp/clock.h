/* clock.h -- the two clocks nocklab measures with.
 *
 * Wall time is CLOCK_MONOTONIC (never jumps with the date); CPU time is the
 * calling thread's, so a backend's worker is charged only for its own work.
 */
#ifndef NOCKLAB_CLOCK_H
#define NOCKLAB_CLOCK_H

#include <stdint.h>

uint64_t clock_wall_nanoseconds(void);
uint64_t clock_cpu_nanoseconds(void);
/* Wall time in seconds, for durations printed to people. */
double clock_wall_seconds(void);
/* CPU seconds of the whole process and of the children it has reaped
 * (the fork backend's): what a run cost whatever else the machine did. */
double clock_process_cpu_seconds(void);

#endif
