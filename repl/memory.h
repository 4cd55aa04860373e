/* memory.h -- how much address space home and scratch reserve.
 *
 * Home and every scratch region reserve address space up front (pages are
 * only used as they are touched).  Without a limit that is 64 GiB for home
 * and 8 GiB per scratch half, or a quarter of the machine's memory if
 * that is less (so a computation runs out of scratch, a clean outcome,
 * before the machine runs out of memory); under an address-space limit (RLIMIT_AS,
 * `ulimit -v`) the sizes are cut to fit it: half of what is left for home,
 * the rest shared by the scratch regions a session may hold at once (its
 * own, the live kernel's, a replay's and a spawn's, two halves each).
 * --home-max and --scratch-max choose them instead; docs/memory.md says
 * more.
 */
#ifndef NOCKLAB_MEMORY_H
#define NOCKLAB_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The sizes chosen, and the limit they were fitted to (0: none). */
struct memory_plan {
    size_t home_bytes;
    size_t scratch_half_bytes;
    uint64_t limit_bytes;
};

/* Choose the sizes; a request of 0 means "fit it".  False, with a reason a
 * user can act on, when a request doesn't fit under the limit. */
bool memory_plan_make(size_t home_request, size_t scratch_request, struct memory_plan *plan, char *why,
                      size_t why_size);

/* Whether a scratch half of `bytes` still fits beside what is reserved
 * now (for :set scratch-max); false with a reason when it doesn't. */
bool memory_scratch_fits(size_t bytes, char *why, size_t why_size);

/* "64G", "512M", "4096K" or bytes (binary units; lowercase too).  False
 * for anything else, or 0. */
bool memory_parse_size(const char *text, size_t length, size_t *bytes);
/* "64 GiB", "1.5 GiB", "512 MiB". */
void memory_format_size(uint64_t bytes, char *out, size_t size);

#endif
