/* sampler.c -- the Nock sampling profiler (see sampler.h).
 *
 * The ticks come from a POSIX timer on the CPU clock of the thread that
 * started sampling (timer_create), which sends that thread SAMPLER_SIGNAL
 * every 1/hz s of its CPU time.  The signal handler only asks: two atomic
 * stores into the watched evaluator (nock_request_sample, async-signal-
 * safe), or, when it is idle and outside time is counted, one atomic add.
 * At its next safe point the evaluator hands its stack over on its own
 * thread (take_sample), which reads and counts it.
 *
 * Why this and not, as before, a thread that sleeps 1/hz s and asks: every
 * such wake-up is an interrupt of its own and a context switch, 25-35 us
 * of CPU each on a paravirtualized machine like the one nocklab is built
 * on, 3-8% of the CPU at 1000 Hz; and on a busy machine the woken thread
 * competes with the evaluator it samples (dec ran 4-13% slower in wall
 * time at load 8).  The kernel checks CPU timers at its scheduler tick, so
 * these ticks cost no interrupt of their own and the evaluator nothing
 * but the signal, and a thread waiting for input (the REPL at its prompt)
 * gets none.  The price: CPU timers fire at most at the kernel's tick rate
 * (CONFIG_HZ, 250 or 1000), so a higher rate asked gives that many.
 *
 * The handler finds its sampler through `slots` (the timer's signal
 * carries the slot's index), which sampler_stop empties before it deletes
 * the timer: a signal still on its way then finds nothing to do.  Sample
 * buffers are used only by the evaluating thread, one sample at a time.
 */
#include "profiler/sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "interp/mug.h"
#include "profiler/clue.h"

/* Calls looked at per sample: the innermost ones when the stack is deeper
 * (the frames a flame graph shows widest are the outer ones, but the time
 * goes where the inner ones are). */
#define SAMPLER_MAX_LEVELS 4096
#define SAMPLER_SPOT_TEXT 120
#define TAG_SPOT 0x746f7073u
/* Samplers running at once (one per process in practice). */
#define SAMPLER_SLOTS 8

struct sampler {
    struct folded *folded;
    bool running;
    unsigned hz;
    int slot;                      /* index in `slots` while running */
    timer_t timer;
    /* read by the signal handler: atomics */
    struct nock_context *evaluator;
    int count_outside;             /* sampler_count_outside */
    uint64_t outside_pending;      /* idle ticks not yet in `folded` */
    uint64_t ticks;                /* signals received since start */
    clockid_t cpu_clock;           /* the sampled thread's CPU clock */
    uint64_t cpu_started_ns;
    double tick_rate;              /* ticks per CPU-second of the last run */
    /* used by the evaluating thread only */
    sampler_labeller *labeller;
    void *labeller_context;
    noun subjects[SAMPLER_MAX_LEVELS];
    const char *frames[SAMPLER_MAX_LEVELS + 2];
    char battery_names[SAMPLER_MAX_LEVELS][16];
    char spot[SAMPLER_SPOT_TEXT];
};

static struct sampler *slots[SAMPLER_SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

struct sampler *sampler_new(struct folded *folded)
{
    struct sampler *sampler = calloc(1, sizeof *sampler);
    if (!sampler)
        return NULL;
    sampler->folded = folded;
    sampler->hz = SAMPLER_DEFAULT_HZ;
    sampler->slot = -1;
    return sampler;
}

void sampler_free(struct sampler *sampler)
{
    if (!sampler)
        return;
    sampler_stop(sampler);
    free(sampler);
}

/* Without labels (a kernel that no jet dashboard watches), a call is named
 * by the mug of its core's battery: the same arm gets the same name in
 * every sample, and in :mug's notation. */
static const char *battery_name(struct sampler *sampler, size_t level)
{
    noun core = sampler->subjects[level];
    if (!noun_is_cell(core))
        return NULL;
    snprintf(sampler->battery_names[level], sizeof sampler->battery_names[level], "core 0x%x",
             (unsigned)mug_noun(noun_head(core)));
    return sampler->battery_names[level];
}

/* Count the idle ticks the signal handler noted (evaluating thread, or
 * after the timer is gone). */
static void flush_outside(struct sampler *sampler)
{
    uint64_t pending = __atomic_exchange_n(&sampler->outside_pending, 0, __ATOMIC_ACQ_REL);
    if (!pending)
        return;
    static const char *const outside[] = { SAMPLER_OUTSIDE };
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    while (pending--)
        folded_add(sampler->folded, outside, 1, (uint64_t)now.tv_sec);
}

/* On the evaluating thread, at a safe point: fold the stack into frames. */
static void take_sample(void *argument, struct nock_context *evaluator)
{
    struct sampler *sampler = argument;
    flush_outside(sampler);
    size_t levels = nock_context_call_subjects(evaluator, sampler->subjects, SAMPLER_MAX_LEVELS);
    size_t count = 0;
    if (levels == SAMPLER_MAX_LEVELS)
        sampler->frames[count++] = "(deeper calls)";
    for (size_t i = 0; i < levels; i++) {
        const char *label = sampler->labeller ? sampler->labeller(sampler->labeller_context, sampler->subjects[i])
                                              : battery_name(sampler, i);
        if (!label || (count && strcmp(sampler->frames[count - 1], label) == 0))
            continue;
        sampler->frames[count++] = label;
    }
    size_t pairs;
    const noun *trace = nock_context_trace(evaluator, &pairs);
    for (size_t i = pairs; i-- > 0;) {
        if (trace[2 * i] != TAG_SPOT)
            continue;
        memcpy(sampler->spot, "spot ", 5);
        clue_format_value(TAG_SPOT, trace[2 * i + 1], sampler->spot + 5, sizeof sampler->spot - 5);
        sampler->frames[count++] = sampler->spot;
        break;
    }
    if (count == 0)
        sampler->frames[count++] = "(no %fast label)";
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    folded_add(sampler->folded, sampler->frames, count, (uint64_t)now.tv_sec);
}

/* A tick, on the sampling thread, in a signal handler: ask, or note an
 * idle tick.  Atomics only. */
static void on_tick(int signal_number, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    int slot = info->si_value.sival_int;
    struct sampler *sampler = info->si_code == SI_TIMER && slot >= 0 && slot < SAMPLER_SLOTS
                                  ? __atomic_load_n(&slots[slot], __ATOMIC_ACQUIRE)
                                  : NULL;
    if (sampler)
        __atomic_add_fetch(&sampler->ticks, 1, __ATOMIC_RELAXED);
    struct nock_context *evaluator = sampler ? __atomic_load_n(&sampler->evaluator, __ATOMIC_ACQUIRE) : NULL;
    if (evaluator && nock_context_running(evaluator))
        nock_request_sample(evaluator);
    else if (evaluator && __atomic_load_n(&sampler->count_outside, __ATOMIC_RELAXED))
        __atomic_add_fetch(&sampler->outside_pending, 1, __ATOMIC_RELAXED);
    errno = saved_errno;
}

/* The handler stays once installed: a tick of a deleted timer may still be
 * on its way, and a real-time signal's default action ends the process. */
static bool install_handler(void)
{
    static bool installed;
    if (installed)
        return true;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_tick;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    if (sigaction(SAMPLER_SIGNAL, &action, NULL) != 0)
        return false;
    installed = true;
    return true;
}

void sampler_watch(struct sampler *sampler, struct nock_context *evaluator, sampler_labeller *labeller,
                   void *labeller_context)
{
    struct nock_context *previous = __atomic_load_n(&sampler->evaluator, __ATOMIC_ACQUIRE);
    if (previous)
        nock_set_sampler(previous, NULL, NULL);
    /* the handler sees no evaluator while the labeller changes */
    __atomic_store_n(&sampler->evaluator, NULL, __ATOMIC_RELEASE);
    sampler->labeller = labeller;
    sampler->labeller_context = labeller_context;
    if (evaluator)
        nock_set_sampler(evaluator, take_sample, sampler);
    __atomic_store_n(&sampler->evaluator, evaluator, __ATOMIC_RELEASE);
}

static int take_slot(struct sampler *sampler)
{
    pthread_mutex_lock(&slots_lock);
    int slot = -1;
    for (int i = 0; i < SAMPLER_SLOTS && slot < 0; i++)
        if (!slots[i])
            slot = i;
    if (slot >= 0)
        __atomic_store_n(&slots[slot], sampler, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&slots_lock);
    return slot;
}

static void give_slot(int slot)
{
    pthread_mutex_lock(&slots_lock);
    __atomic_store_n(&slots[slot], NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&slots_lock);
}

static uint64_t cpu_nanoseconds(clockid_t clock)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* The timer that signals this thread every 1/hz s of its CPU time, with
 * the sampler's slot. */
static bool start_timer(struct sampler *sampler)
{
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SAMPLER_SIGNAL;
    event.sigev_value.sival_int = sampler->slot;
    event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (pthread_getcpuclockid(pthread_self(), &sampler->cpu_clock) != 0 ||
        timer_create(sampler->cpu_clock, &event, &sampler->timer) != 0)
        return false;
    sampler->ticks = 0;
    sampler->cpu_started_ns = cpu_nanoseconds(sampler->cpu_clock);
    long period = 1000000000L / (long)sampler->hz;
    struct timespec every = { period / 1000000000L, period % 1000000000L };
    struct itimerspec ticks = { .it_interval = every, .it_value = every };
    if (timer_settime(sampler->timer, 0, &ticks, NULL) == 0)
        return true;
    int saved = errno;
    timer_delete(sampler->timer);
    errno = saved;
    return false;
}

bool sampler_start(struct sampler *sampler, struct nock_context *evaluator, unsigned hz,
                   sampler_labeller *labeller, void *labeller_context)
{
    sampler_stop(sampler);
    if (hz < SAMPLER_MIN_HZ)
        hz = SAMPLER_MIN_HZ;
    if (hz > SAMPLER_MAX_HZ)
        hz = SAMPLER_MAX_HZ;
    sampler->hz = hz;
    sampler_watch(sampler, evaluator, labeller, labeller_context);
    if (!install_handler())
        goto failed;
    sampler->slot = take_slot(sampler);
    if (sampler->slot < 0) {
        errno = EBUSY;
        goto failed;
    }
    if (!start_timer(sampler)) {
        int saved = errno;
        give_slot(sampler->slot);
        errno = saved;
        goto failed;
    }
    sampler->running = true;
    return true;
failed:
    sampler->slot = -1;
    sampler_watch(sampler, NULL, NULL, NULL);
    return false;
}

void sampler_stop(struct sampler *sampler)
{
    if (!sampler->running)
        return;
    give_slot(sampler->slot);
    timer_delete(sampler->timer);
    uint64_t cpu_ns = cpu_nanoseconds(sampler->cpu_clock) - sampler->cpu_started_ns;
    /* under a twentieth of a second of CPU says little about the rate */
    sampler->tick_rate = cpu_ns >= 50000000u ? (double)__atomic_load_n(&sampler->ticks, __ATOMIC_RELAXED) * 1e9 / (double)cpu_ns : 0;
    sampler->slot = -1;
    sampler->running = false;
    sampler_watch(sampler, NULL, NULL, NULL);
    flush_outside(sampler);
}

void sampler_count_outside(struct sampler *sampler, bool count)
{
    __atomic_store_n(&sampler->count_outside, count ? 1 : 0, __ATOMIC_RELAXED);
}

bool sampler_running(const struct sampler *sampler) { return sampler->running; }
unsigned sampler_hz(const struct sampler *sampler) { return sampler->hz; }
double sampler_tick_rate(const struct sampler *sampler) { return sampler->tick_rate; }
struct folded *sampler_folded(struct sampler *sampler) { return sampler->folded; }
