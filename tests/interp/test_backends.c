/* Unit tests for the execution backends (interp/backend*.c) and %par:
 * every backend gives serial's outcomes; timeouts, memory limits and
 * interrupts; %par products, crash traces, nesting and check mode.  Also
 * run under ThreadSanitizer by `make check`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/backend.h"
#include "interp/kernel.h"
#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "tests/support/support.h"

static struct noun_home *home;
static struct noun_region *region;

static int setup(void **state) { return support_home_open(&home, &region, (size_t)8 << 30); }
static int teardown(void **state) { return support_home_close(&home, &region); }

/* Parse noun text and copy it to home. */
static noun parse(const char *text) { return support_parse_home(home, region, text); }

static void assert_noun(noun actual, const char *expected)
{
    if (!noun_equal(actual, parse(expected))) {
        char *text = text_format(actual);
        fail_msg("got %s, wanted %s", text ? text : "?", expected);
    }
}

static struct kernel_backend *make(const char *name, unsigned workers)
{
    struct kernel_backend_options options = { .workers = workers };
    char why[200];
    struct kernel_backend *backend = backend_new(name, home, &options, why, sizeof why);
    if (!backend)
        fail_msg("%s", why);
    return backend;
}

/* (turn list gate) in plain Nock on the subject [gate list] */
#define TURN_LOOP "[6 [3 0 7] [[9 2 10 [6 0 14] 0 6] [2 [[0 2] [0 6] [0 15]] [0 2]]] [1 0]]"
#define TURN "[2 [[1 " TURN_LOOP "] [0 2] [0 3]] [1 " TURN_LOOP "]]"
/* a gate: its sample + 1, but a crash under %mean <sample> on 90..99 */
#define CRASHY "[[6 [6 [5 [1 90] 0 6] [1 0] 6 [5 [1 91] 0 6] [1 0] [1 1]] [11 [%mean 0 6] 0 0] 4 0 6] 0 0]"
/* a fib gate, plain Nock: fib(n) by the doubly recursive definition */
#define FIB_GATE                                                                                             \
    "[[7 [0 6] 7 [[1 [6 [5 [0 3] 1 0] [1 0] 6 [5 [0 3] 1 1] [1 1] 8 [9 10 [0 2] [0 3] 1 0] 8 [9 10 [0 6] [0 2] 1 0] " \
    "9 11 [0 14] [9 4 [0 14] 0 2] [1 0] 9 4 [0 14] 0 6] [6 [5 [4 0 7] 0 6] [0 7] 9 10 [0 2] [0 6] 4 0 7] 6 [5 [0 14] 0 6] " \
    "[0 15] 9 11 [0 2] [0 6] [4 0 14] 4 0 15] 0 1] 9 4 0 1] 0 0]"

static struct nock_outcome par(struct nock_context *nock, const char *gate, const char *list)
{
    char text[4096];
    snprintf(text, sizeof text, "[[%s %s] [11 [%%spot 1 %%outer] 11 [%%par 0 1] " TURN "]]", gate, list);
    noun both = parse(text);
    nock_context_reset(nock);
    return nock_evaluate(nock, noun_head(both), noun_tail(both));
}

/* ---- spawns: the same outcomes everywhere ------------------------------------------------ */

static void test_outcomes_match_serial(void **state)
{
    const char *formulas[] = {
        "[4 0 1]",                                  /* done */
        "[11 [%mean 1 'no'] 0 0]",                  /* crash with a trace */
        "[7 [1 " FIB_GATE "] 9 2 10 [6 1 15] 0 1]", /* some work */
    };
    const char *names[] = { "serial", "fork", "threads" };
    noun reference[3];
    for (size_t b = 0; b < 3; b++) {
        struct kernel_backend *backend = make(names[b], 2);
        char why[200];
        for (size_t i = 0; i < 3; i++) {
            struct kernel_spawn spawn = { .event_number = 1, .effect_index = (uint32_t)i, .id = i + 1,
                                          .subject = 41, .formula = parse(formulas[i]) };
            assert_true(backend->submit(backend->self, &spawn, why, sizeof why));
        }
        noun got[3] = { 0, 0, 0 };
        for (size_t i = 0; i < 3; i++) {
            struct kernel_outcome outcome;
            assert_true(backend->take(backend->self, true, &outcome));
            assert_true(outcome.result == KERNEL_SPAWN_DONE || outcome.result == KERNEL_SPAWN_CRASH);
            got[outcome.spawn.effect_index] = outcome.event;
        }
        assert_int_equal(backend->running(backend->self), 0);
        for (size_t i = 0; i < 3; i++) {
            if (b == 0)
                reference[i] = got[i];
            else if (!noun_equal(got[i], reference[i]))
                fail_msg("%s: outcome %zu differs from serial's", names[b], i);
        }
        kernel_backend_free(backend);
    }
    assert_noun(reference[0], "[%done 1 42]");
    assert_noun(reference[1], "[%crash 2 [[%mean 'no'] 0]]");
    assert_noun(reference[2], "[%done 3 610]");
}

static void test_timeout_and_memory_limit(void **state)
{
    const char *names[] = { "fork", "threads" };
    for (size_t b = 0; b < 2; b++) {
        struct kernel_backend *backend = make(names[b], 2);
        char why[200];
        struct kernel_spawn endless = { .event_number = 2, .id = 7, .subject = 0, .timeout_ms = 50,
                                        .formula = parse("[8 [1 6 [1 1] [0 0] 9 2 0 1] 9 2 0 1]") };
        struct kernel_spawn hungry = { .event_number = 2, .effect_index = 1, .id = 8, .subject = 0, .memory_mb = 1,
                                       .formula = parse("[8 [1 6 [5 [1 0] 1 1] [0 0] 9 2 [0 2] [4 0 6] [0 6] 0 7] 9 2 [0 2] [1 0] 0 3]") };
        assert_true(backend->submit(backend->self, &endless, why, sizeof why));
        assert_true(backend->submit(backend->self, &hungry, why, sizeof why));
        for (int i = 0; i < 2; i++) {
            struct kernel_outcome outcome;
            assert_true(backend->take(backend->self, true, &outcome));
            if (outcome.spawn.id == 7) {
                assert_int_equal(outcome.result, KERNEL_SPAWN_TIMEOUT);
                assert_noun(outcome.event, "[%timeout 7]");
            } else {
                assert_int_equal(outcome.result, KERNEL_SPAWN_FAILED);
                assert_non_null(strstr(outcome.why, "memory"));
            }
        }
        kernel_backend_free(backend);
    }
}

static void test_interrupt_fails_running_spawns(void **state)
{
    const char *names[] = { "fork", "threads" };
    for (size_t b = 0; b < 2; b++) {
        struct kernel_backend *backend = make(names[b], 1);
        char why[200];
        struct kernel_spawn endless = { .event_number = 3, .id = 9, .subject = 0,
                                        .formula = parse("[8 [1 6 [1 1] [0 0] 9 2 0 1] 9 2 0 1]") };
        assert_true(backend->submit(backend->self, &endless, why, sizeof why));
        /* wait until it runs, so the interrupt stops a running spawn */
        struct kernel_worker_status status;
        while (backend->workers(backend->self, &status, 1) == 0 || !status.busy)
            ;
        backend->interrupt(backend->self);
        struct kernel_outcome outcome;
        assert_true(backend->take(backend->self, true, &outcome));
        assert_int_equal(outcome.result, KERNEL_SPAWN_FAILED);
        assert_non_null(strstr(outcome.why, "interrupted"));
        kernel_backend_free(backend);
    }
}

static void test_fork_reports_bytes_and_dedup(void **state)
{
    struct kernel_backend *backend = make("fork", 2);
    char why[200];
    /* the product is the subject itself, already in home: dedup finds it */
    noun subject = parse("[1 2 3 4 5 6 7 8 9 10 0]");
    struct kernel_spawn spawn = { .event_number = 4, .id = 1, .subject = subject, .formula = parse("[0 1]") };
    assert_true(backend->submit(backend->self, &spawn, why, sizeof why));
    struct kernel_outcome outcome;
    assert_true(backend->take(backend->self, true, &outcome));
    assert_int_equal(outcome.result, KERNEL_SPAWN_DONE);
    assert_true(outcome.bytes_back > 0);
    assert_true(outcome.cost.dedup_hits >= 10);
    struct kernel_backend_stats stats;
    backend->stats(backend->self, &stats);
    assert_int_equal(stats.spawns, 1);
    assert_int_equal(stats.bytes_back, outcome.bytes_back);
    kernel_backend_free(backend);
}

/* Submit `spawn` to `backend`, take its outcome and check its event. */
static void run_one(struct kernel_backend *backend, const struct kernel_spawn *spawn, const char *expected)
{
    char why[200];
    assert_true(backend->submit(backend->self, spawn, why, sizeof why));
    struct kernel_outcome outcome;
    assert_true(backend->take(backend->self, true, &outcome));
    if (expected)
        assert_noun(outcome.event, expected);
    else
        assert_int_equal(outcome.result, KERNEL_SPAWN_FAILED);
}

static uint64_t processes_started(struct kernel_backend *backend)
{
    struct kernel_backend_stats stats;
    backend->stats(backend->self, &stats);
    return stats.processes_started;
}

/* A fork child waits for more spawns; it runs those whose nouns home held
 * when it was forked, and a new child runs the others. */
static void test_fork_reuses_a_child_while_home_holds_the_nouns(void **state)
{
    struct kernel_backend *backend = make("fork", 2);
    /* every noun but `fresh` is in home before the first child is forked */
    struct kernel_spawn spawn = { .event_number = 5, .id = 1, .subject = 41, .formula = parse("[4 0 1]") };
    struct kernel_spawn hungry = { .event_number = 5, .id = 3, .subject = 0, .memory_mb = 1,
                                   .formula = parse("[8 [1 6 [5 [1 0] 1 1] [0 0] 9 2 [0 2] [4 0 6] [0 6] 0 7] 9 2 [0 2] [1 0] 0 3]") };
    struct kernel_spawn endless = { .event_number = 5, .id = 5, .subject = 0, .timeout_ms = 20,
                                    .formula = parse("[8 [1 6 [1 1] [0 0] 9 2 0 1] 9 2 0 1]") };
    run_one(backend, &spawn, "[%done 1 42]");
    assert_int_equal(processes_started(backend), 1);
    /* the same nouns, a new id (direct): the waiting child runs it */
    spawn.id = 2;
    run_one(backend, &spawn, "[%done 2 42]");
    /* a memory limit the child has no runner for: it makes one, runs out,
     * and still runs the next spawn */
    run_one(backend, &hungry, NULL);
    run_one(backend, &spawn, "[%done 2 42]");
    assert_int_equal(processes_started(backend), 1);
    /* a subject made since the child was forked: a new child */
    noun fresh_subject = parse("[7 8]");
    struct kernel_spawn fresh = { .event_number = 5, .id = 4, .subject = fresh_subject, .formula = 7 };
    run_one(backend, &fresh, "[%crash 4 0]");
    assert_int_equal(processes_started(backend), 2);
    /* a timeout kills the child that ran it */
    run_one(backend, &endless, "[%timeout 5]");
    run_one(backend, &spawn, "[%done 2 42]");
    assert_int_equal(processes_started(backend), 3);
    /* after a home collection every noun moved: a new child */
    noun kept = fresh_subject;
    assert_true(noun_home_root_add(home, &kept));
    assert_true(noun_home_collect(home));
    struct kernel_spawn moved = { .event_number = 5, .id = 6, .subject = kept, .formula = parse("[0 1]") };
    run_one(backend, &moved, "[%done 6 7 8]");
    assert_int_equal(processes_started(backend), 4);
    noun_home_root_remove(home, &kept);
    kernel_backend_free(backend);
}

/* The nice value of process `pid` (field 19 of /proc/PID/stat), or -100. */
static int process_nice(long pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file)
        return -100;
    size_t length = fread(line, 1, sizeof line - 1, file);
    fclose(file);
    line[length] = '\0';
    /* fields after the command name, which ends at the last ')' */
    char *at = strrchr(line, ')');
    int nice = -100;
    if (at)
        sscanf(at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %d", &nice);
    return nice;
}

static void test_fork_children_run_nicer(void **state)
{
    struct kernel_backend_options options = { .workers = 1, .child_nice = 3 };
    struct kernel_backend *backend = backend_fork_new(home, &options);
    assert_non_null(backend);
    char why[200];
    struct kernel_spawn endless = { .event_number = 6, .id = 1, .subject = 0,
                                    .formula = parse("[8 [1 6 [1 1] [0 0] 9 2 0 1] 9 2 0 1]") };
    assert_true(backend->submit(backend->self, &endless, why, sizeof why));
    struct kernel_worker_status status;
    assert_int_equal(backend->workers(backend->self, &status, 1), 1);
    int mine = process_nice(getpid()), child = -100;
    int wanted = mine + 3 > 19 ? 19 : mine + 3; /* the system's ceiling */
    /* the child renices itself first thing after fork: wait until it has */
    for (long tries = 0; tries < 10000000 && child != wanted; tries++)
        child = process_nice(status.process_id);
    assert_int_equal(child, wanted);
    backend->interrupt(backend->self);
    struct kernel_outcome outcome;
    assert_true(backend->take(backend->self, true, &outcome));
    assert_int_equal(outcome.result, KERNEL_SPAWN_FAILED);
    kernel_backend_free(backend);
}

/* ---- %par ---------------------------------------------------------------------------------- */

static void test_par_matches_serial(void **state)
{
    struct nock_context *nock = nock_context_new(home, NULL);
    const char *lists[] = { "[1 2 3 4 5 6 7 8 9 10 0]", "[5 0]", "0", "[1 2 3]" };
    noun serial[4];
    int serial_status[4];
    for (int i = 0; i < 4; i++) {
        struct nock_outcome outcome = par(nock, CRASHY, lists[i]);
        serial_status[i] = outcome.status;
        serial[i] = outcome.status == NOCK_OK ? noun_home_copy_out(home, nock_context_region(nock), outcome.product) : 0;
    }
    struct kernel_backend *threads = make("threads", 2);
    assert_non_null(nock_par_mapper());
    for (int check = 0; check < 2; check++) {
        nock_set_par_check(check);
        for (int i = 0; i < 4; i++) {
            struct nock_outcome outcome = par(nock, CRASHY, lists[i]);
            assert_int_equal(outcome.status, serial_status[i]);
            if (outcome.status == NOCK_OK && !noun_equal(outcome.product, serial[i]))
                fail_msg("list %d: the threads product differs (check %d)", i, check);
        }
    }
    nock_set_par_check(false);
    struct kernel_backend_stats stats;
    threads->stats(threads->self, &stats);
    assert_true(stats.par_maps >= 2);
    kernel_backend_free(threads);
    assert_null(nock_par_mapper());
    nock_context_free(nock);
}

static void test_par_crash_is_the_lowest_item(void **state)
{
    struct nock_context *nock = nock_context_new(home, NULL);
    const char *list = "[1 2 3 91 4 5 90 6 7 8 9 0]";
    struct nock_outcome outcome = par(nock, CRASHY, list);
    assert_int_equal(outcome.status, NOCK_CRASH);
    noun serial_trace = noun_home_copy_out(home, nock_context_region(nock), outcome.trace);
    const char *serial_reason = outcome.reason;
    assert_noun(serial_trace, "[[%mean 91] [%spot %outer] 0]");
    struct kernel_backend *threads = make("threads", 2);
    for (int run = 0; run < 5; run++) {
        outcome = par(nock, CRASHY, list);
        assert_int_equal(outcome.status, NOCK_CRASH);
        assert_true(noun_equal(outcome.trace, serial_trace));
        assert_string_equal(outcome.reason, serial_reason);
    }
    kernel_backend_free(threads);
    nock_context_free(nock);
}

static void test_par_nested_and_in_spawns(void **state)
{
    /* each item maps fib over [n n ~] with %par itself */
    const char *nested = "[[11 [%par [1 " FIB_GATE "] [0 6] [0 6] [1 0]] 7 [[1 " FIB_GATE "] [0 6] [0 6] [1 0]] " TURN
                         "] 0 0]";
    struct nock_context *nock = nock_context_new(home, NULL);
    struct kernel_backend *threads = make("threads", 2);
    struct nock_outcome outcome = par(nock, nested, "[5 6 7 0]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_noun(outcome.product, "[[5 5 0] [8 8 0] [13 13 0] 0]");

    /* a spawn on a worker runs %par as its body: same product */
    char text[4096], why[200];
    snprintf(text, sizeof text, "[11 [%%par [1 %s] 0 1] 7 [[1 %s] 0 1] " TURN "]", FIB_GATE, FIB_GATE);
    struct kernel_spawn spawn = { .event_number = 5, .id = 3, .subject = parse("[10 11 12 0]"), .formula = parse(text) };
    assert_true(threads->submit(threads->self, &spawn, why, sizeof why));
    struct kernel_outcome spawned;
    assert_true(threads->take(threads->self, true, &spawned));
    assert_noun(spawned.event, "[%done 3 55 89 144 0]");
    kernel_backend_free(threads);
    nock_context_free(nock);
}

static void test_par_check_catches_a_wrong_body(void **state)
{
    /* the body gives 42, not the map: the promise is broken */
    noun both = parse("[[" CRASHY " [1 2 0]] [11 [%par 0 1] 1 42]]");
    struct nock_context *nock = nock_context_new(home, NULL);
    struct kernel_backend *threads = make("threads", 2);
    struct nock_outcome outcome = nock_evaluate(nock, noun_head(both), noun_tail(both));
    assert_int_equal(outcome.status, NOCK_OK); /* trusted: the map's product */
    assert_noun(outcome.product, "[2 3 0]");
    nock_set_par_check(true);
    outcome = nock_evaluate(nock, noun_head(both), noun_tail(both));
    nock_set_par_check(false);
    assert_int_equal(outcome.status, NOCK_CRASH);
    assert_non_null(strstr(outcome.reason, "%par check"));
    kernel_backend_free(threads);
    nock_context_free(nock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes_match_serial),
        cmocka_unit_test(test_timeout_and_memory_limit),
        cmocka_unit_test(test_interrupt_fails_running_spawns),
        cmocka_unit_test(test_fork_reports_bytes_and_dedup),
        cmocka_unit_test(test_fork_reuses_a_child_while_home_holds_the_nouns),
        cmocka_unit_test(test_fork_children_run_nicer),
        cmocka_unit_test(test_par_matches_serial),
        cmocka_unit_test(test_par_crash_is_the_lowest_item),
        cmocka_unit_test(test_par_nested_and_in_spawns),
        cmocka_unit_test(test_par_check_catches_a_wrong_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
