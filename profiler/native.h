/* native.h -- sampling nocklab's own C stack, to profile the interpreter.
 *
 * A timer thread sends SIGPROF to the thread that started sampling, `hz`
 * times a second; the handler walks that thread's stack with libunwind
 * (local unwinding, which libunwind allows in a signal handler) and leaves
 * the frames' addresses in a ring.  The timer thread empties it into a
 * `struct folded` (profiler/folded.h), outermost frame first, as the Nock
 * sampler does, naming each frame by its function (a name cache of its
 * own keeps that cheap; naming allocates, so the handler can't).  Static
 * functions are named too (libunwind reads the symbol table), so the
 * evaluator shows as `machine`.
 */
#ifndef NOCKLAB_NATIVE_H
#define NOCKLAB_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profiler/folded.h"

struct native_sampler;

struct native_sampler *native_sampler_new(struct folded *folded);
void native_sampler_free(struct native_sampler *sampler);
/* Sample the calling thread `hz` times a second (1..1000).  Takes over
 * SIGPROF while it runs.  False with errno when it can't start. */
bool native_sampler_start(struct native_sampler *sampler, unsigned hz);
void native_sampler_stop(struct native_sampler *sampler);
bool native_sampler_running(const struct native_sampler *sampler);

/* The name of the function holding `address` in this process, and the
 * address's offset in it; false when libunwind can't tell.  It allocates,
 * so it is not for a signal handler (backtrace.c calls it from its fault
 * handler only under an alarm). */
bool native_function_name(uintptr_t address, char *name, size_t size, uintptr_t *offset);

#endif
