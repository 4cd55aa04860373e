/* native.c -- native stack sampling (see native.h).
 *
 * The signal handler may not allocate or lock: it could have stopped the
 * thread inside malloc, holding the heap's lock.  So it only walks the
 * stack and writes return addresses into the ring of samples, made
 * before sampling starts, and publishes a sample by a release store of
 * `written`.  Naming a frame is the timer thread's: libunwind's
 * unw_get_proc_name reads the program's ELF image and allocates (a
 * handler that named frames once hung for good in a SIGPROF that landed
 * inside calloc).  The timer thread, the only reader of the ring and the
 * only user of the name cache (an open-addressing table from instruction
 * address to a name in an append-only arena), consumes up to `written`.
 */
#define UNW_LOCAL_ONLY
#include "profiler/native.h"

#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NATIVE_MAX_FRAMES 96
#define NATIVE_RING 64              /* samples waiting for the timer thread */
#define NATIVE_CACHE_SLOTS 16384    /* a power of two */
#define NATIVE_ARENA_BYTES (1 << 20)

struct native_sample {
    uint32_t depth;
    uintptr_t addresses[NATIVE_MAX_FRAMES];  /* innermost first */
};

struct cache_slot {
    uintptr_t address;    /* 0 when empty */
    uint32_t name;        /* arena offset */
};

struct native_sampler {
    struct folded *folded;
    pthread_t target, timer;
    bool running;
    int quit;                       /* atomic */
    unsigned hz;
    struct sigaction previous;
    uint64_t written, read;         /* atomic: samples published, consumed */
    struct native_sample ring[NATIVE_RING];
    struct cache_slot cache[NATIVE_CACHE_SLOTS];
    char *arena;
    size_t arena_used;
    uint32_t unknown_name;          /* "(unknown)" */
};

/* The sampler the handler fills; set while one runs (one per process). */
static struct native_sampler *active;

static uint32_t arena_add(struct native_sampler *s, const char *text)
{
    size_t length = strlen(text) + 1;
    if (s->arena_used + length > NATIVE_ARENA_BYTES)
        return s->unknown_name;
    uint32_t at = (uint32_t)s->arena_used;
    memcpy(s->arena + at, text, length);
    s->arena_used += length;
    return at;
}

/* A cursor of this thread's whose instruction pointer is set to the
 * address: libunwind names the function there as if the thread ran it. */
bool native_function_name(uintptr_t address, char *name, size_t size, uintptr_t *offset)
{
    unw_context_t context;
    unw_cursor_t cursor;
    unw_word_t within = 0;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0 ||
        unw_set_reg(&cursor, UNW_REG_IP, (unw_word_t)address) != 0 ||
        unw_get_proc_name(&cursor, name, size, &within) != 0)
        return false;
    *offset = (uintptr_t)within;
    return true;
}

static uint32_t look_up_name(struct native_sampler *s, uintptr_t address)
{
    char name[128];
    uintptr_t offset;
    return native_function_name(address, name, sizeof name, &offset) ? arena_add(s, name) : s->unknown_name;
}

/* The name of the function holding `address`, through the cache. */
static uint32_t frame_name(struct native_sampler *s, uintptr_t address)
{
    size_t i = (address >> 2) * 0x9E3779B97F4A7C15u >> 50 & (NATIVE_CACHE_SLOTS - 1);
    for (size_t probes = 0; probes < 32; probes++, i = (i + 1) & (NATIVE_CACHE_SLOTS - 1)) {
        if (s->cache[i].address == address)
            return s->cache[i].name;
        if (s->cache[i].address == 0) {
            s->cache[i].name = look_up_name(s, address);
            s->cache[i].address = address;
            return s->cache[i].name;
        }
    }
    return s->unknown_name; /* (the cache is that full: the arena would be too) */
}

static void on_profile_signal(int signal_number)
{
    struct native_sampler *s = active;
    if (!s)
        return;
    int saved_errno = errno;
    uint64_t written = __atomic_load_n(&s->written, __ATOMIC_RELAXED);
    if (written - __atomic_load_n(&s->read, __ATOMIC_ACQUIRE) < NATIVE_RING) {
        struct native_sample *sample = &s->ring[written % NATIVE_RING];
        unw_context_t context;
        unw_cursor_t cursor;
        sample->depth = 0;
        if (unw_getcontext(&context) == 0 && unw_init_local(&cursor, &context) == 0) {
            /* the cursor starts in this handler's frame; its first step
             * is to the kernel's signal trampoline, not the program's,
             * and its second to the frame the signal stopped */
            int skip = 1;
            while (unw_step(&cursor) > 0 && sample->depth < NATIVE_MAX_FRAMES) {
                if (skip > 0) {
                    skip--;
                    continue;
                }
                unw_word_t pc = 0;
                unw_get_reg(&cursor, UNW_REG_IP, &pc);
                sample->addresses[sample->depth++] = (uintptr_t)pc;
            }
        }
        __atomic_store_n(&s->written, written + 1, __ATOMIC_RELEASE);
    }
    errno = saved_errno;
}

/* Move published samples into the folded table. */
static void drain(struct native_sampler *s)
{
    uint64_t written = __atomic_load_n(&s->written, __ATOMIC_ACQUIRE);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    while (s->read < written) {
        struct native_sample *sample = &s->ring[s->read % NATIVE_RING];
        const char *frames[NATIVE_MAX_FRAMES];
        for (uint32_t i = 0; i < sample->depth; i++)
            frames[i] = s->arena + frame_name(s, sample->addresses[sample->depth - 1 - i]);
        folded_add(s->folded, frames, sample->depth, (uint64_t)now.tv_sec);
        __atomic_store_n(&s->read, s->read + 1, __ATOMIC_RELEASE);
    }
}

static void *timer_main(void *argument)
{
    /* signals (Ctrl-C, a fault sent with kill) are for the working thread */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    struct native_sampler *s = argument;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!__atomic_load_n(&s->quit, __ATOMIC_ACQUIRE)) {
        next.tv_nsec += 1000000000L / s->hz;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        pthread_kill(s->target, SIGPROF);
        drain(s);
    }
    return NULL;
}

struct native_sampler *native_sampler_new(struct folded *folded)
{
    struct native_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->arena = malloc(NATIVE_ARENA_BYTES);
    if (!s->arena) {
        free(s);
        return NULL;
    }
    s->folded = folded;
    s->unknown_name = 0;
    arena_add(s, "(unknown)");
    return s;
}

void native_sampler_free(struct native_sampler *s)
{
    if (!s)
        return;
    native_sampler_stop(s);
    free(s->arena);
    free(s);
}

bool native_sampler_start(struct native_sampler *s, unsigned hz)
{
    if (s->running)
        native_sampler_stop(s);
    if (active) {
        errno = EBUSY;
        return false;
    }
    s->hz = hz < 1 ? 1 : hz > 1000 ? 1000 : hz;
    s->target = pthread_self();
    s->quit = 0;
    s->written = s->read = 0;
    active = s;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_profile_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGPROF, &action, &s->previous) != 0) {
        active = NULL;
        return false;
    }
    int failed = pthread_create(&s->timer, NULL, timer_main, s);
    if (failed) {
        sigaction(SIGPROF, &s->previous, NULL);
        active = NULL;
        errno = failed;
        return false;
    }
    s->running = true;
    return true;
}

void native_sampler_stop(struct native_sampler *s)
{
    if (!s->running)
        return;
    __atomic_store_n(&s->quit, 1, __ATOMIC_RELEASE);
    pthread_join(s->timer, NULL);
    /* a SIGPROF still on its way must not kill us: SIGPROF's default
     * action ends the process */
    if (s->previous.sa_handler == SIG_DFL && !(s->previous.sa_flags & SA_SIGINFO))
        s->previous.sa_handler = SIG_IGN;
    sigaction(SIGPROF, &s->previous, NULL);
    active = NULL;
    drain(s);
    s->running = false;
}

bool native_sampler_running(const struct native_sampler *s) { return s->running; }
