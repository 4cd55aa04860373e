/* sampler.h -- the Nock sampling profiler: where the evaluator spends time.
 *
 * `hz` times per second of CPU time of the thread that started sampling, a
 * kernel timer signals that thread (SAMPLER_SIGNAL), whose handler asks
 * the watched evaluator for a sample (nock_request_sample); at its next
 * safe point the evaluator hands its stack over, on its own thread.
 * Samples measure CPU time, as Vere's -P (ITIMER_PROF) does: a thread
 * waiting (for input, a lock, a disk) is not sampled.  The kernel checks
 * CPU timers at its scheduler tick (CONFIG_HZ, commonly 250 or 1000), so
 * that is the highest rate reached; what the ticks cost is
 * bench_sampler's figure.
 *
 * Each call in progress is named by the %fast label of the core it runs
 * in (as the jet dashboard knows it: "k140/one/two/by/put"), calls in
 * unlabelled cores are left out, and runs of the same label are folded
 * into one frame; the innermost %spot clue, if any, is added as the last
 * frame ("spot /sys/hoon 1234").  That is Vere's -P, which names arms by
 * %fast as well.  Without a labeller (a kernel no jet dashboard watches),
 * a call is named by the mug of its core's battery instead ("core
 * 0x1a2b3c").  The stacks are counted in a `struct folded`
 * (profiler/folded.h).
 *
 * A sample is taken when the evaluator next starts a call: a long jet or a
 * long copy-out is charged to the call after it, and time outside any
 * evaluation is not sampled at all.
 */
#ifndef NOCKLAB_SAMPLER_H
#define NOCKLAB_SAMPLER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "interp/nock.h"
#include "profiler/folded.h"

#define SAMPLER_DEFAULT_HZ 100
/* The ticks' signal: a real-time one nothing else in nocklab uses (the
 * native sampler has SIGPROF).  Its handler stays installed. */
#define SAMPLER_SIGNAL (SIGRTMIN + 5)
#define SAMPLER_MIN_HZ 1
#define SAMPLER_MAX_HZ 10000

/* The %fast label of a core, or NULL (jets_dashboard_label fits). */
typedef const char *sampler_labeller(void *context, noun core);

struct sampler;

/* A sampler counting into `folded` (kept by the caller). */
struct sampler *sampler_new(struct folded *folded);
/* Stops it first. */
void sampler_free(struct sampler *sampler);

/* Start sampling `evaluator` `hz` times a second, naming cores with
 * `labeller` (NULL: by battery mug).  A sampler already running is
 * stopped first.  False (with errno) when the timer can't be made.  Call
 * it, and sampler_stop, on the thread that runs the evaluations (its CPU
 * time is what is sampled, and the ticks signal it) while `evaluator` is
 * not running.  That thread's slow system calls may return EINTR while
 * sampling (poll, nanosleep; the rest restart). */
bool sampler_start(struct sampler *sampler, struct nock_context *evaluator, unsigned hz,
                   sampler_labeller *labeller, void *labeller_context);
void sampler_stop(struct sampler *sampler);
/* Sample another evaluator from now on (a replay's kernel, say) with the
 * same rate; NULL pauses sampling.  Same rule as sampler_start. */
void sampler_watch(struct sampler *sampler, struct nock_context *evaluator, sampler_labeller *labeller,
                   void *labeller_context);
/* Whether a tick that finds the watched evaluator idle counts a sample
 * of SAMPLER_OUTSIDE (default: no, it is skipped).  A run that applies
 * events (replay, gen) spends most of its time outside its kernel's Nock
 * (reading the log, cue, copy-out, commits, spawns on the backend), and
 * this shows how much. */
#define SAMPLER_OUTSIDE "(outside Nock)"
void sampler_count_outside(struct sampler *sampler, bool count);
bool sampler_running(const struct sampler *sampler);
unsigned sampler_hz(const struct sampler *sampler);
/* Ticks per CPU-second over the last start..stop (0 when it ran for too
 * little CPU time to say): below sampler_hz when the kernel's tick is
 * slower than the rate asked. */
double sampler_tick_rate(const struct sampler *sampler);
struct folded *sampler_folded(struct sampler *sampler);

#endif
