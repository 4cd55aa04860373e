/* clock.h -- the two clocks nocklab measures with.
 *
 * Wall time is CLOCK_MONOTONIC (never jumps with the date); CPU time is the
 * calling thread's, so a backend's worker is charged only for its own work.
 */
#ifndef NOCKLAB_CLOCK_H
#define NOCKLAB_CLOCK_H

#include <stdint.h>

uint64_t clock_wall_nanoseconds(void);
/* The calling thread's CPU time, exactly: a system call (1.4 us on the
 * virtual machine nocklab was tuned on, as long as a small event). */
uint64_t clock_cpu_nanoseconds(void);
/* The calling thread's CPU time, for charging it to events: read exactly
 * (clock_cpu_nanoseconds) at most once per CLOCK_CPU_READ_INTERVAL of wall
 * time; in between, the wall time since the last reading counted at the
 * share of the CPU the thread had over the interval before it.  Never
 * goes back.  A span of at least one interval is exact to within the
 * estimate at its start (under an interval's worth); a shorter one is
 * its wall time at that share. */
uint64_t clock_cpu_nanoseconds_for_events(void);
#define CLOCK_CPU_READ_INTERVAL 1000000u /* ns */
/* Wall time in seconds, for durations printed to people. */
double clock_wall_seconds(void);
/* CPU seconds of the whole process and of the children it has reaped
 * (the fork backend's): what a run cost whatever else the machine did. */
double clock_process_cpu_seconds(void);

#endif
