/* Unit tests for the profiler's sampling parts: the evaluator's sample
 * seam (interp/nock.h: requests answered at a safe point, the call
 * subjects and trace a sampler sees, results unchanged), folded stacks
 * (profiler/folded.h), clue text (profiler/clue.h) and the monitor's
 * percentiles and recent events (profiler/monitor.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp/nock.h"
#include "interp/noun.h"
#include "profiler/clue.h"
#include "profiler/folded.h"
#include "profiler/monitor.h"
#include "profiler/sampler.h"
#include "tests/support/support.h"

#define TAG_SPOT 0x746f7073u
#define DECREMENT "[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]"

static struct noun_home *home;
static struct nock_context *context;

static int setup(void **state) { return support_evaluator_open(&home, &context); }
static int teardown(void **state) { return support_evaluator_close(&home, &context); }

static noun parse(const char *text) { return support_parse(nock_context_region(context), text); }

/* What the test sampler saw. */
static struct {
    int samples;
    size_t levels;
    size_t trace_pairs;
    noun innermost_tag, innermost_clue;
    bool stop_after_one;
} seen;

static void record_sample(void *argument, struct nock_context *nock)
{
    noun subjects[64];
    seen.levels = nock_context_call_subjects(nock, subjects, 64);
    const noun *trace = nock_context_trace(nock, &seen.trace_pairs);
    if (seen.trace_pairs) {
        seen.innermost_tag = trace[2 * (seen.trace_pairs - 1)];
        seen.innermost_clue = trace[2 * (seen.trace_pairs - 1) + 1];
    }
    __atomic_add_fetch(&seen.samples, 1, __ATOMIC_RELAXED);
    if (seen.stop_after_one)
        nock_interrupt(nock);
}

/* Asks for samples until told to stop, like the sampler's timer. */
static int requester_quit;
static void *requester(void *argument)
{
    while (!__atomic_load_n(&requester_quit, __ATOMIC_RELAXED)) {
        if (nock_context_running(context))
            nock_request_sample(context);
        usleep(200);
    }
    return NULL;
}

static void test_sample_sees_trace_and_calls(void **state)
{
    memset(&seen, 0, sizeof seen);
    seen.stop_after_one = true;
    nock_set_sampler(context, record_sample, NULL);
    nock_context_reset(context);
    /* an endless loop, a non-tail call under a %spot hint */
    noun subject = parse("[2 [0 1] 0 1]");
    noun formula = parse("[11 [%spot 1 [%sys %test 0] [12 3] 12 9] 2 [0 1] 0 1]");
    pthread_t thread;
    requester_quit = 0;
    assert_int_equal(pthread_create(&thread, NULL, requester, NULL), 0);
    struct nock_outcome outcome = nock_evaluate(context, subject, formula);
    __atomic_store_n(&requester_quit, 1, __ATOMIC_RELAXED);
    pthread_join(thread, NULL);
    nock_set_sampler(context, NULL, NULL);
    assert_int_equal(outcome.status, NOCK_INTERRUPTED);
    assert_true(seen.samples >= 1);
    assert_true(seen.levels >= 2); /* the evaluation and the call under the hint */
    assert_int_equal(seen.trace_pairs, 1);
    assert_int_equal(seen.innermost_tag, TAG_SPOT);
    char text[100];
    clue_format(seen.innermost_tag, seen.innermost_clue, text, sizeof text);
    assert_string_equal(text, "%spot /sys/test 12:3");
}

static void test_sampling_leaves_results_alone(void **state)
{
    memset(&seen, 0, sizeof seen);
    nock_set_sampler(context, record_sample, NULL);
    nock_context_reset(context);
    pthread_t thread;
    requester_quit = 0;
    assert_int_equal(pthread_create(&thread, NULL, requester, NULL), 0);
    noun decrement = parse(DECREMENT);
    struct nock_outcome outcome = nock_evaluate(context, 3000000, decrement);
    __atomic_store_n(&requester_quit, 1, __ATOMIC_RELAXED);
    pthread_join(thread, NULL);
    nock_set_sampler(context, NULL, NULL);
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 2999999);
    assert_false(nock_context_running(context));
}

static void test_folded_counts_and_writes(void **state)
{
    struct folded *folded = folded_new();
    assert_non_null(folded);
    const char *a[] = { "main", "eval", "mint" };
    const char *b[] = { "main", "eval" };
    const char *c[] = { "main", "odd;name" };
    /* dated as a clock would: seconds never go back */
    assert_true(folded_add(folded, c, 2, 90));
    for (int i = 0; i < 5; i++)
        assert_true(folded_add(folded, a, 3, 100));
    for (int i = 0; i < 3; i++)
        assert_true(folded_add(folded, b, 2, 101));
    assert_true(folded_add(folded, NULL, 0, 101));
    assert_int_equal(folded_samples(folded), 10);

    struct folded_frame top[4];
    size_t found = folded_top(folded, top, 4);
    assert_int_equal(found, 4);
    assert_string_equal(top[0].name, "main");
    assert_int_equal(top[0].total, 9);
    assert_string_equal(top[1].name, "eval");
    assert_int_equal(top[1].total, 8);
    assert_int_equal(top[1].self, 3);

    /* seconds 100 and 101 are recent at 101; the sample at 90 is not */
    struct folded_frame recent[4];
    found = folded_recent(folded, 101, recent, 4);
    assert_int_equal(found, 3);
    assert_string_equal(recent[0].name, "mint");
    assert_int_equal(recent[0].self, 5);

    char path[] = "/tmp/nocklab-test-folded-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    uint64_t lines = 0;
    assert_true(folded_write(folded, path, &lines));
    assert_int_equal(lines, 4);
    FILE *file = fopen(path, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, file));
    assert_string_equal(line, "main;eval;mint 5\n");
    uint64_t sum = 5;
    while (fgets(line, sizeof line, file))
        sum += strtoull(strrchr(line, ' ') + 1, NULL, 10);
    fclose(file);
    assert_int_equal(sum, 10);
    unlink(path);

    folded_clear(folded);
    assert_int_equal(folded_samples(folded), 0);
    folded_free(folded);
}

static void test_clue_text(void **state)
{
    nock_context_reset(context);
    char text[64];
    clue_format(0x6e61656d /* %mean */, parse("['bad input' 42]"), text, sizeof text);
    assert_string_equal(text, "%mean ['bad input' 42]");
    /* not a spot's shape: printed as a noun */
    clue_format_value(TAG_SPOT, parse("[1 2]"), text, sizeof text);
    assert_string_equal(text, "[1 2]");
    /* a long noun is cut, and the text always ends */
    clue_format(TAG_SPOT, parse("[[[[[[[[1 2] 3] 4] 5] 6] 7] 8] 9]"), text, 16);
    assert_int_equal(strlen(text), 15);
    assert_string_equal(text + 12, "...");
}

static void test_monitor_percentiles(void **state)
{
    struct monitor *monitor = monitor_process();
    assert_non_null(monitor);
    monitor_set_watched(monitor, true);
    monitor_begin_run(monitor, "testing", 0);
    struct kernel_cost cost;
    memset(&cost, 0, sizeof cost);
    /* wall times 1..1000 microseconds */
    for (uint64_t i = 1; i <= 1000; i++) {
        cost.wall_ns = i * 1000;
        cost.steps = i;
        monitor_event(monitor, i, &cost);
    }
    static struct monitor_view view;
    monitor_read(monitor, &view);
    monitor_set_watched(monitor, false);
    assert_int_equal(view.events, 1000);
    assert_int_equal(view.recent_count, MONITOR_RECENT);
    assert_int_equal(view.recent[0].number, 1000);
    assert_int_equal(view.recent[1].steps, 999);
    /* within the histogram's 12.5% of the true values, never above max */
    assert_true(view.p50_wall_ns >= 500000 && view.p50_wall_ns <= 562500);
    assert_true(view.p99_wall_ns >= 990000 && view.p99_wall_ns <= 1000000);
    assert_int_equal(view.max_wall_ns, 1000000);
    assert_true(view.events_per_second > 0);
    assert_string_equal(view.activity, "testing");
    /* dirty pages reach the newest event only */
    monitor_dirty_pages(monitor, 1000, 7);
    monitor_dirty_pages(monitor, 999, 9);
    monitor_set_watched(monitor, true);
    monitor_dirty_pages(monitor, 1000, 7);
    monitor_dirty_pages(monitor, 999, 9);
    monitor_set_watched(monitor, false);
    monitor_read(monitor, &view);
    assert_int_equal(view.recent[0].dirty_pages, 7);
    assert_int_equal(view.recent[1].dirty_pages, 0);
    /* nothing is recorded while nobody watches */
    monitor_event(monitor, 1001, &cost);
    monitor_read(monitor, &view);
    assert_int_equal(view.events, 1000);
}

/* The sampler's ticks (a timer on this thread's CPU clock) reach the
 * evaluator: decrement loops are sampled, their stacks named by battery
 * mug, and the tick rate is measured. */
static void test_sampler_samples_a_running_evaluation(void **state)
{
    struct folded *folded = folded_new();
    struct sampler *sampler = sampler_new(folded);
    assert_non_null(sampler);
    struct timespec cpu_before, cpu_after;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_before);
    assert_true(sampler_start(sampler, context, 1000, NULL, NULL));
    struct nock_outcome outcome = { .status = NOCK_OK };
    /* until a few samples came (each loop is a million calls) */
    for (int round = 0; round < 400 && folded_samples(folded) < 10; round++) {
        nock_context_reset(context);
        outcome = nock_evaluate(context, 1000000, parse(DECREMENT));
        assert_int_equal(outcome.status, NOCK_OK);
    }
    sampler_stop(sampler);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu_after);
    assert_false(sampler_running(sampler));
    assert_true(folded_samples(folded) > 0);
    assert_int_equal(outcome.product, 999999);
    struct folded_frame top[4];
    assert_true(folded_top(folded, top, 4) >= 1);
    assert_memory_equal(top[0].name, "core 0x", 7);
    /* the rate is measured once a twentieth of a CPU-second went by */
    double cpu = (double)(cpu_after.tv_sec - cpu_before.tv_sec) + (double)(cpu_after.tv_nsec - cpu_before.tv_nsec) / 1e9;
    if (cpu > 0.06)
        assert_true(sampler_tick_rate(sampler) > 0);
    sampler_free(sampler);
    folded_free(folded);
}

/* Ticks that find the evaluator idle while the thread works elsewhere
 * count as (outside Nock) when asked, and are flushed by sampler_stop. */
static void test_sampler_counts_outside(void **state)
{
    struct folded *folded = folded_new();
    struct sampler *sampler = sampler_new(folded);
    assert_true(sampler_start(sampler, context, 1000, NULL, NULL));
    sampler_count_outside(sampler, true);
    volatile uint64_t spin = 0;
    /* burn CPU outside Nock, a few milliseconds at a time, until a tick
     * came (the timer counts CPU time; stopping flushes what it noted) */
    for (int round = 0; round < 1000 && folded_samples(folded) == 0; round++) {
        for (uint64_t i = 0; i < 5000000; i++)
            spin += i;
        sampler_stop(sampler);
        if (folded_samples(folded) > 0)
            break;
        assert_true(sampler_start(sampler, context, 1000, NULL, NULL));
        sampler_count_outside(sampler, true);
    }
    sampler_stop(sampler);
    struct folded_frame top[2];
    assert_int_equal(folded_top(folded, top, 2), 1);
    assert_string_equal(top[0].name, SAMPLER_OUTSIDE);
    sampler_free(sampler);
    folded_free(folded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_sees_trace_and_calls),
        cmocka_unit_test(test_sampling_leaves_results_alone),
        cmocka_unit_test(test_folded_counts_and_writes),
        cmocka_unit_test(test_clue_text),
        cmocka_unit_test(test_monitor_percentiles),
        cmocka_unit_test(test_sampler_samples_a_running_evaluation),
        cmocka_unit_test(test_sampler_counts_outside),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
