/* memory.c -- sizing the reservations to the address space (memory.h). */
#include "repl/memory.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#define MEMORY_DEFAULT_HOME ((size_t)64 << 30)
#define MEMORY_DEFAULT_SCRATCH_HALF ((size_t)8 << 30)
/* Scratch halves a session may hold at once: its own region, the live
 * kernel's, a replay's and a spawn runner's, two halves each. */
#define MEMORY_SCRATCH_HALVES 8
/* Kept free for what isn't home or scratch: malloc, SQLite, readline,
 * thread stacks. */
#define MEMORY_MARGIN ((size_t)256 << 20)
#define MEMORY_MINIMUM_SCRATCH_HALF ((size_t)4 << 20)
#define MEMORY_UNIT ((size_t)1 << 20)

/* The address-space limit (0: none). */
static uint64_t address_space_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return 0;
    return (uint64_t)limit.rlim_cur;
}

/* Address space the process uses now (its VmSize). */
static uint64_t address_space_used(void)
{
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (statm) {
        if (fscanf(statm, "%llu", &pages) != 1)
            pages = 0;
        fclose(statm);
    }
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static size_t round_down(uint64_t bytes) { return (size_t)(bytes / MEMORY_UNIT * MEMORY_UNIT); }

/* A quarter of the machine's memory (0 when unknown): the most a scratch
 * half gets unless asked for more, so that a computation runs out of
 * scratch (a clean outcome) before the machine runs out of memory. */
static uint64_t quarter_of_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || page_size <= 0)
        return 0;
    return (uint64_t)pages / 4 * (uint64_t)page_size;
}

/* What is left under the limit, less the margin (0 when nothing). */
static uint64_t address_space_left(uint64_t limit)
{
    uint64_t used = address_space_used() + MEMORY_MARGIN;
    return limit > used ? limit - used : 0;
}

bool memory_plan_make(size_t home_request, size_t scratch_request, struct memory_plan *plan, char *why,
                      size_t why_size)
{
    plan->limit_bytes = address_space_limit();
    plan->home_bytes = home_request ? home_request : MEMORY_DEFAULT_HOME;
    plan->scratch_half_bytes = scratch_request ? scratch_request : MEMORY_DEFAULT_SCRATCH_HALF;
    uint64_t quarter = quarter_of_physical_memory();
    if (!scratch_request && quarter && plan->scratch_half_bytes > quarter)
        plan->scratch_half_bytes = round_down(quarter);
    if (!plan->limit_bytes)
        return true;
    uint64_t left = address_space_left(plan->limit_bytes);
    char limit_text[32], left_text[32];
    memory_format_size(plan->limit_bytes, limit_text, sizeof limit_text);
    memory_format_size(left, left_text, sizeof left_text);
    if (!home_request)
        plan->home_bytes = round_down(scratch_request ? (left > (uint64_t)scratch_request * MEMORY_SCRATCH_HALVES
                                                             ? left - (uint64_t)scratch_request * MEMORY_SCRATCH_HALVES
                                                             : 0)
                                                      : left / 2);
    if (!scratch_request)
        plan->scratch_half_bytes =
            round_down(left > plan->home_bytes ? (left - plan->home_bytes) / MEMORY_SCRATCH_HALVES : 0);
    if (plan->home_bytes > MEMORY_DEFAULT_HOME && !home_request)
        plan->home_bytes = MEMORY_DEFAULT_HOME;
    if (plan->scratch_half_bytes > MEMORY_DEFAULT_SCRATCH_HALF && !scratch_request)
        plan->scratch_half_bytes = MEMORY_DEFAULT_SCRATCH_HALF;
    if (!scratch_request && quarter && plan->scratch_half_bytes > quarter)
        plan->scratch_half_bytes = round_down(quarter);
    uint64_t wanted = (uint64_t)plan->home_bytes + (uint64_t)plan->scratch_half_bytes * MEMORY_SCRATCH_HALVES;
    if (wanted > left || plan->home_bytes < MEMORY_UNIT || plan->scratch_half_bytes < MEMORY_MINIMUM_SCRATCH_HALF) {
        char home_text[32], scratch_text[32];
        memory_format_size(plan->home_bytes, home_text, sizeof home_text);
        memory_format_size(plan->scratch_half_bytes, scratch_text, sizeof scratch_text);
        snprintf(why, why_size,
                 "home %s and scratch %s per half (x%d) don't fit the address-space limit of %s (ulimit -v; %s "
                 "left): choose smaller --home-max and --scratch-max, or raise the limit",
                 home_text, scratch_text, MEMORY_SCRATCH_HALVES, limit_text, left_text);
        return false;
    }
    return true;
}

bool memory_scratch_fits(size_t bytes, char *why, size_t why_size)
{
    uint64_t limit = address_space_limit();
    if (!limit)
        return true;
    /* The kernels and spawns that would use it: up to three regions. */
    uint64_t wanted = (uint64_t)bytes * (MEMORY_SCRATCH_HALVES - 2);
    uint64_t left = address_space_left(limit);
    if (wanted <= left)
        return true;
    char limit_text[32], left_text[32];
    memory_format_size(limit, limit_text, sizeof limit_text);
    memory_format_size(left, left_text, sizeof left_text);
    snprintf(why, why_size, "scratch halves of that size don't fit: %s of the %s address-space limit is left",
             left_text, limit_text);
    return false;
}

bool memory_parse_size(const char *text, size_t length, size_t *bytes)
{
    uint64_t value = 0;
    size_t i = 0;
    for (; i < length && text[i] >= '0' && text[i] <= '9'; i++) {
        if (value > (UINT64_MAX - 9) / 10)
            return false;
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    if (i == 0)
        return false;
    unsigned shift = 0;
    if (i < length) {
        switch (text[i]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: return false;
        }
        i++;
        if (i < length && (text[i] == 'i' || text[i] == 'I'))
            i++;
        if (i < length && (text[i] == 'b' || text[i] == 'B'))
            i++;
    }
    if (i != length || value == 0 || value > (UINT64_MAX >> 1) >> shift)
        return false;
    *bytes = (size_t)(value << shift);
    return true;
}

void memory_format_size(uint64_t bytes, char *out, size_t size)
{
    if (bytes >= ((uint64_t)1 << 30))
        snprintf(out, size, bytes % ((uint64_t)1 << 30) ? "%.1f GiB" : "%.0f GiB", (double)bytes / (double)(1 << 30));
    else
        snprintf(out, size, "%llu MiB", (unsigned long long)(bytes >> 20));
}
