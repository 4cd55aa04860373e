/* sampler.c -- the Nock sampling profiler (see sampler.h).
 *
 * Two threads meet here.  The timer thread only sleeps and calls
 * nock_request_sample on the evaluator it was told to watch (read under
 * `lock`).  The evaluating thread, inside take_sample, reads its own stack
 * and counts it.  Sample buffers live in the sampler and are used only by
 * the evaluating thread, one sample at a time.
 */
#include "profiler/sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/mug.h"
#include "profiler/clue.h"

/* Calls looked at per sample: the innermost ones when the stack is deeper
 * (the frames a flame graph shows widest are the outer ones, but the time
 * goes where the inner ones are). */
#define SAMPLER_MAX_LEVELS 4096
#define SAMPLER_SPOT_TEXT 120
#define TAG_SPOT 0x746f7073u

struct sampler {
    struct folded *folded;
    pthread_mutex_t lock;          /* guards evaluator, quit */
    pthread_cond_t wake;
    pthread_t thread;
    bool running;
    bool quit;
    unsigned hz;
    struct nock_context *evaluator;
    bool count_outside;            /* sampler_count_outside */
    sampler_labeller *labeller;
    void *labeller_context;
    /* used by the evaluating thread only */
    noun subjects[SAMPLER_MAX_LEVELS];
    const char *frames[SAMPLER_MAX_LEVELS + 2];
    char battery_names[SAMPLER_MAX_LEVELS][16];
    char spot[SAMPLER_SPOT_TEXT];
};

struct sampler *sampler_new(struct folded *folded)
{
    struct sampler *sampler = calloc(1, sizeof *sampler);
    if (!sampler)
        return NULL;
    sampler->folded = folded;
    pthread_mutex_init(&sampler->lock, NULL);
    pthread_cond_init(&sampler->wake, NULL);
    sampler->hz = SAMPLER_DEFAULT_HZ;
    return sampler;
}

void sampler_free(struct sampler *sampler)
{
    if (!sampler)
        return;
    sampler_stop(sampler);
    pthread_cond_destroy(&sampler->wake);
    pthread_mutex_destroy(&sampler->lock);
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

/* On the evaluating thread, at a safe point: fold the stack into frames. */
static void take_sample(void *argument, struct nock_context *evaluator)
{
    struct sampler *sampler = argument;
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

static void *timer_main(void *argument)
{
    /* signals (Ctrl-C, a fault sent with kill) are for the working thread */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    struct sampler *sampler = argument;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&sampler->lock);
    while (!sampler->quit) {
        uint64_t period = 1000000000u / sampler->hz;
        next.tv_nsec += (long)period;
        while (next.tv_nsec >= 1000000000) {
            next.tv_nsec -= 1000000000;
            next.tv_sec++;
        }
        /* the condition variable waits on CLOCK_REALTIME by default; use
         * a monotonic one so a date change doesn't stall sampling */
        pthread_cond_timedwait(&sampler->wake, &sampler->lock, &next);
        if (sampler->quit || !sampler->evaluator)
            continue;
        if (nock_context_running(sampler->evaluator)) {
            nock_request_sample(sampler->evaluator);
        } else if (sampler->count_outside) {
            static const char *const outside[] = { SAMPLER_OUTSIDE };
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            folded_add(sampler->folded, outside, 1, (uint64_t)now.tv_sec);
        }
    }
    pthread_mutex_unlock(&sampler->lock);
    return NULL;
}

void sampler_watch(struct sampler *sampler, struct nock_context *evaluator, sampler_labeller *labeller,
                   void *labeller_context)
{
    pthread_mutex_lock(&sampler->lock);
    if (sampler->evaluator)
        nock_set_sampler(sampler->evaluator, NULL, NULL);
    sampler->evaluator = evaluator;
    sampler->labeller = labeller;
    sampler->labeller_context = labeller_context;
    if (evaluator)
        nock_set_sampler(evaluator, take_sample, sampler);
    pthread_mutex_unlock(&sampler->lock);
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
    sampler->quit = false;
    sampler_watch(sampler, evaluator, labeller, labeller_context);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_destroy(&sampler->wake);
    pthread_cond_init(&sampler->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    int failed = pthread_create(&sampler->thread, NULL, timer_main, sampler);
    if (failed) {
        sampler_watch(sampler, NULL, NULL, NULL);
        errno = failed;
        return false;
    }
    sampler->running = true;
    return true;
}

void sampler_stop(struct sampler *sampler)
{
    if (!sampler->running)
        return;
    pthread_mutex_lock(&sampler->lock);
    sampler->quit = true;
    pthread_cond_signal(&sampler->wake);
    pthread_mutex_unlock(&sampler->lock);
    pthread_join(sampler->thread, NULL);
    sampler->running = false;
    sampler_watch(sampler, NULL, NULL, NULL);
}

void sampler_count_outside(struct sampler *sampler, bool count)
{
    pthread_mutex_lock(&sampler->lock);
    sampler->count_outside = count;
    pthread_mutex_unlock(&sampler->lock);
}

bool sampler_running(const struct sampler *sampler) { return sampler->running; }
unsigned sampler_hz(const struct sampler *sampler) { return sampler->hz; }
struct folded *sampler_folded(struct sampler *sampler) { return sampler->folded; }
