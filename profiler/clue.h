/* clue.h -- short text for a trace clue, safe inside a fault handler.
 *
 * The sampler names a frame by its innermost %spot, and the crash report
 * lists the %spot/%hunk/%mean/%lose trace that was running when nocklab
 * died.  Neither may allocate (a fault handler can't, and the sampler runs
 * inside the evaluator), so this writes into the caller's buffer, walking
 * the noun to a bounded depth and cutting long text with "...".
 *
 * A %spot clue, [path [[line col] [line col]]] with path a list of cords,
 * is written "/sys/hoon 1234:5"; anything else as noun text with cords
 * shown as 'text', e.g. %mean ['bad input' 42].
 */
#ifndef NOCKLAB_CLUE_H
#define NOCKLAB_CLUE_H

#include <stddef.h>

#include "interp/noun.h"

/* Write "%tag clue" (tag as a term when it is one) into out[0 .. size),
 * NUL-terminated; returns the length written. */
size_t clue_format(noun tag, noun clue, char *out, size_t size);
/* Only the clue, as above; a %spot clue in its short form when `tag` is
 * %spot. */
size_t clue_format_value(noun tag, noun clue, char *out, size_t size);

#endif
