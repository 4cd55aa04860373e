/* Unit tests for interp/clock: the CPU meter events are charged by
 * (clock_cpu_nanoseconds_for_events) against the exact thread CPU clock.
 * Each test waits for an amount of CPU time or wall time to pass, never
 * for a fixed time, and compares the two clocks over the same span, so a
 * busy machine changes how long it takes, not what it checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "interp/clock.h"

/* Burn `nanoseconds` of this thread's CPU time. */
static void burn(uint64_t nanoseconds)
{
    uint64_t until = clock_cpu_nanoseconds() + nanoseconds;
    volatile uint64_t sink = 0;
    while (clock_cpu_nanoseconds() < until)
        for (int i = 0; i < 1000; i++)
            sink += (uint64_t)i * (uint64_t)i;
}

/* Let at least `nanoseconds` of wall time pass without using the CPU. */
static void idle(uint64_t nanoseconds)
{
    uint64_t until = clock_wall_nanoseconds() + nanoseconds;
    while (clock_wall_nanoseconds() < until) {
        struct timespec pause = { 0, 1000000 };
        nanosleep(&pause, NULL);
    }
}

/* Make the meter's next reading exact: an interval of wall time passes. */
static void settle(void)
{
    idle(2 * CLOCK_CPU_READ_INTERVAL);
    clock_cpu_nanoseconds_for_events();
}

static void test_never_goes_back(void **state)
{
    uint64_t last = clock_cpu_nanoseconds_for_events();
    for (int i = 0; i < 200000; i++) {
        uint64_t now = clock_cpu_nanoseconds_for_events();
        assert_true(now >= last);
        last = now;
        if (i % 50000 == 0)
            idle(CLOCK_CPU_READ_INTERVAL); /* the share drops: still no step back */
    }
}

/* Over a long busy span the meter agrees with the exact clock to within
 * one interval (the estimate at the start). */
static void test_busy_span_is_exact_to_an_interval(void **state)
{
    settle();
    uint64_t meter_start = clock_cpu_nanoseconds_for_events(), exact_start = clock_cpu_nanoseconds();
    burn(30 * CLOCK_CPU_READ_INTERVAL);
    uint64_t exact = clock_cpu_nanoseconds() - exact_start;
    idle(CLOCK_CPU_READ_INTERVAL); /* so the closing reading is exact */
    uint64_t metered = clock_cpu_nanoseconds_for_events() - meter_start;
    uint64_t difference = metered > exact ? metered - exact : exact - metered;
    assert_true(difference <= 2 * CLOCK_CPU_READ_INTERVAL);
}

/* A thread that sleeps is not charged for the sleep. */
static void test_idle_span_costs_next_to_nothing(void **state)
{
    burn(3 * CLOCK_CPU_READ_INTERVAL); /* a busy interval: the share is near 1 */
    uint64_t start = clock_cpu_nanoseconds_for_events();
    idle(50 * CLOCK_CPU_READ_INTERVAL);
    uint64_t charged = clock_cpu_nanoseconds_for_events() - start;
    assert_true(charged <= 2 * CLOCK_CPU_READ_INTERVAL);
}

/* Many short spans, one after another, add up to the exact total. */
static void test_short_spans_add_up(void **state)
{
    settle();
    uint64_t exact_start = clock_cpu_nanoseconds(), charged = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t start = clock_cpu_nanoseconds_for_events();
        volatile uint64_t sink = 0;
        for (int j = 0; j < 20000; j++)
            sink += (uint64_t)j * (uint64_t)j;
        charged += clock_cpu_nanoseconds_for_events() - start;
    }
    uint64_t exact = clock_cpu_nanoseconds() - exact_start;
    /* Never more than the thread used, give or take an interval at each
     * end: the meter stays within an interval of the exact clock.  Less
     * only by what falls between spans: the loop's few instructions, and
     * on a machine busy enough that the thread's share jumps from one
     * millisecond to the next, a correction made at a span's start (so
     * this allows half). */
    assert_true(charged <= exact + 2 * CLOCK_CPU_READ_INTERVAL);
    assert_true(charged * 2 >= exact);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_goes_back),
        cmocka_unit_test(test_busy_span_is_exact_to_an_interval),
        cmocka_unit_test(test_idle_span_costs_next_to_nothing),
        cmocka_unit_test(test_short_spans_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
