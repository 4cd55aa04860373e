/* samples.h -- the sample kernels (samples/NAME.nock) and their event
 * generators.
 *
 *   counter  counts events; every event is %inc
 *   kv       a key-value store in 16 shards; 90% [%put key value], 10%
 *            [%get key], keys spread evenly over all shards
 *   jobs     spawns Fibonacci computations: [%fib id n opts] with n from
 *            5 to 18, some with limits; now and then a [%boom id]
 *   mix      cheap [%tick] events among %fib spawns, %par maps of fib in
 *            the event ([%par id ns], nested: [%nest id ns]) and spawns
 *            of such maps ([%pfib id ns])
 *
 * docs/kernels.md describes each kernel; the .nock files say how their
 * state is laid out.  Generators are seeded and reproducible: the same
 * sample and seed give the same events on every machine.
 */
#ifndef NOCKLAB_SAMPLES_H
#define NOCKLAB_SAMPLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/noun.h"

/* The sample names, comma separated, for messages. */
const char *samples_names(void);
bool samples_known(const char *name);

/* Find samples/NAME.nock: in $NOCKLAB_SAMPLES if set, else beside the
 * program (../samples, ../../samples or ../share/nocklab/samples from the
 * executable's directory),
 * else ./samples.  False (with why) when none exists. */
bool samples_find(const char *name, char *path, size_t size, char *why, size_t why_size);

/* Read a .nock file: noun text where `::` starts a comment running to the
 * end of its line.  The noun is built in `region`.  False with why (file
 * and line of a parse error) on failure. */
bool samples_load_file(const char *path, struct noun_region *region, noun *out, char *why, size_t why_size);

/* Find and read the named sample's kernel, and copy it to home.  False
 * with why when it can't be found, read or parsed. */
struct noun_home;
bool samples_load_kernel(const char *name, struct noun_home *home, noun *kernel, char *why, size_t why_size);

struct samples_generator;

/* A generator for the named sample; NULL for an unknown name or no memory. */
struct samples_generator *samples_generator_new(const char *name, uint64_t seed);
void samples_generator_free(struct samples_generator *generator);
/* The next event, built in `region` (callers run this under
 * kernel_build_event, which catches scratch running out). */
noun samples_generator_next(struct samples_generator *generator, struct noun_region *region);

#endif
