/* test_native.c -- the native sampler (profiler/native.h): it names the
 * program's own functions, static ones too, and samples that land inside
 * malloc neither hang nor crash the program.  (Its signal handler once
 * named frames itself; libunwind's naming allocates, and a SIGPROF that
 * landed inside calloc, holding the heap's lock, hung the REPL for good in
 * test_prof.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/folded.h"
#include "profiler/native.h"

static struct folded *folded;
static struct native_sampler *sampler;

static int setup(void **state)
{
    folded = folded_new();
    sampler = folded ? native_sampler_new(folded) : NULL;
    return sampler ? 0 : -1;
}

static int teardown(void **state)
{
    native_sampler_free(sampler);
    folded_free(folded);
    return 0;
}

/* Whether a frame of this name is among the most sampled, and was the
 * innermost frame of a sample (the one the signal stopped). */
static bool sampled_innermost(const char *name)
{
    struct folded_frame top[64];
    size_t count = folded_top(folded, top, 64);
    for (size_t i = 0; i < count; i++)
        if (strcmp(top[i].name, name) == 0)
            return top[i].self > 0;
    return false;
}

static volatile uint64_t sink;

/* Work the sampler should find this function doing. */
__attribute__((noinline)) static void spin_for_the_sampler(void)
{
    for (int i = 0; i < 100000; i++)
        sink = sink * 6364136223846793005u + 1442695040888963407u;
}

/* A static function is named (libunwind reads the symbol table), as the
 * frame the signal stopped. */
static void test_names_a_static_function(void **state)
{
    (void)state;
    folded_clear(folded);
    assert_true(native_sampler_start(sampler, 1000));
    /* wait for the samples, not for a time: up to 5,000 of them */
    while (!sampled_innermost("spin_for_the_sampler") && folded_samples(folded) < 5000)
        spin_for_the_sampler();
    native_sampler_stop(sampler);
    assert_true(sampled_innermost("spin_for_the_sampler"));
}

/* Progress of the loop below, for the watchdog. */
static uint64_t allocations;
static int watchdog_quit;

/* A hung test would hang the suite: if the loop stops moving for a
 * minute (it makes millions of allocations a second), say so and end the
 * process, which the runner counts as a failure. */
static void *watchdog(void *argument)
{
    (void)argument;
    uint64_t last = UINT64_MAX;
    int still = 0;
    while (!__atomic_load_n(&watchdog_quit, __ATOMIC_ACQUIRE)) {
        uint64_t now = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
        still = now == last ? still + 1 : 0;
        last = now;
        if (still >= 600) {
            fprintf(stderr, "test_native: the allocating thread stopped moving: a sample inside malloc hung it\n");
            _exit(1);
        }
        usleep(100000);
    }
    return NULL;
}

/* Samples taken while the thread is nearly always inside malloc, calloc
 * or free, most of them with the heap's lock held: the handler must touch
 * none of it.  The small blocks are taken a thousand at a time before any
 * is given back, so that malloc's per-thread cache of them (which needs
 * no lock, and would serve a handler's small allocation) is empty most of
 * the time, as it was when the REPL hung. */
static void test_samples_inside_malloc(void **state)
{
    (void)state;
    folded_clear(folded);
    pthread_t dog;
    __atomic_store_n(&watchdog_quit, 0, __ATOMIC_RELEASE);
    assert_int_equal(pthread_create(&dog, NULL, watchdog, NULL), 0);
    assert_true(native_sampler_start(sampler, 1000));
    enum { SMALL = 1000 };
    static void *small[SMALL];
    for (uint64_t round = 0; folded_samples(folded) < 500; round++) {
        for (size_t i = 0; i < SMALL; i++) {
            small[i] = malloc(16 + (round + i) % 64);
            free(calloc(1024 + i % 512, 8));
            __atomic_store_n(&allocations, round * SMALL + i, __ATOMIC_RELAXED);
        }
        for (size_t i = 0; i < SMALL; i++)
            free(small[i]);
    }
    native_sampler_stop(sampler);
    __atomic_store_n(&watchdog_quit, 1, __ATOMIC_RELEASE);
    pthread_join(dog, NULL);
    assert_true(folded_samples(folded) >= 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_a_static_function),
        cmocka_unit_test(test_samples_inside_malloc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
