/* folded.h -- counted stacks, the common form of nocklab's two samplers.
 *
 * A sampler (profiler/sampler.h for Nock, profiler/native.h for nocklab's
 * own C stack) adds one stack per sample: frame names, outermost first.
 * Equal stacks are counted once with their number of samples, and written
 * as "folded stacks", one line per stack:
 *
 *     frame;frame;frame count
 *
 * which flamegraph.pl, inferno and speedscope read.  The same counts give
 * the hottest frames (`:prof top`), by samples in which a frame was the
 * innermost (self) or anywhere on the stack (total), and, for the hot arms
 * pane, the innermost frames of the last second or so.
 *
 * A `struct folded` locks itself: one thread may add while another reads.
 */
#ifndef NOCKLAB_FOLDED_H
#define NOCKLAB_FOLDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct folded;

struct folded *folded_new(void);
void folded_free(struct folded *folded);
/* Forget every sample. */
void folded_clear(struct folded *folded);

/* Count one sample of `frames[0 .. count)`, outermost first.  Names are
 * copied; ';' and line ends in them become '_' (they would split the
 * line), and an empty stack is counted as "(none)".  `now_seconds` (any
 * clock that counts seconds) dates it for folded_recent.  False when
 * memory ran out (the sample is then not counted). */
bool folded_add(struct folded *folded, const char *const *frames, size_t count, uint64_t now_seconds);

/* Samples counted so far. */
uint64_t folded_samples(struct folded *folded);

/* Write every stack as a folded line, the most sampled first.  Returns
 * the number of lines through *lines; false with errno set when the file
 * can't be written. */
bool folded_write(struct folded *folded, const char *path, uint64_t *lines);

/* A frame and its samples. */
struct folded_frame {
    char name[160];
    uint64_t self;   /* samples where it was the innermost frame */
    uint64_t total;  /* samples where it was on the stack at all */
};

/* The `max` frames with the most `total` samples (ties: most self),
 * into `out`; returns how many. */
size_t folded_top(struct folded *folded, struct folded_frame *out, size_t max);
/* The `max` frames that were innermost most often in the samples dated
 * this second and the one before (`now_seconds` as for folded_add); their
 * `total` is those samples' count. */
size_t folded_recent(struct folded *folded, uint64_t now_seconds, struct folded_frame *out, size_t max);

#endif
