/* Unit tests for interp/nock: the shared Nock vectors, crash traces, hints,
 * the non-Nock outcomes, bounded memory in long loops, and deep nesting. */
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

#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "tests/support/support.h"

static struct noun_home *home;
static struct nock_context *context;

static int setup(void **state) { return support_evaluator_open(&home, &context); }
static int teardown(void **state) { return support_evaluator_close(&home, &context); }

/* Parse noun text into this context's scratch, failing the test if bad. */
static noun parse(const char *text)
{
    return support_parse(nock_context_region(context), text);
}

static struct nock_outcome evaluate_text(const char *subject, const char *formula)
{
    noun s = parse(subject);
    noun f = parse(formula);
    return nock_evaluate(context, s, f);
}

static void expect_product(const char *subject, const char *formula, const char *product)
{
    nock_context_reset(context);
    struct nock_outcome outcome = evaluate_text(subject, formula);
    if (outcome.status != NOCK_OK)
        fail_msg("*[%s %s] gave status %d (%s), wanted %s", subject, formula, outcome.status,
                 outcome.reason ? outcome.reason : "", product);
    noun expected = parse(product);
    if (!noun_equal(outcome.product, expected)) {
        char *got = text_format(outcome.product);
        fail_msg("*[%s %s] gave %s, wanted %s", subject, formula, got, product);
    }
}

static void expect_crash(const char *subject, const char *formula)
{
    nock_context_reset(context);
    struct nock_outcome outcome = evaluate_text(subject, formula);
    if (outcome.status != NOCK_CRASH)
        fail_msg("*[%s %s] gave status %d, wanted a crash", subject, formula, outcome.status);
}


static void test_shared_vectors(void **state)
{
    FILE *file = support_open_vectors("nock.tsv");
    char line[8192], *fields[3];
    int checked = 0;
    while (support_next_vector(file, line, sizeof line, fields, 3)) {
        const char *subject = fields[0], *formula = fields[1], *product = fields[2];
        if (strcmp(product, "!") == 0)
            expect_crash(subject, formula);
        else
            expect_product(subject, formula, product);
        checked++;
    }
    fclose(file);
    assert_true(checked >= 25);
}

static void test_every_opcode(void **state)
{
    expect_product("[[1 2] 3]", "[0 5]", "2");
    expect_product("0", "[1 [0 0]]", "[0 0]");
    expect_product("[[4 0 1] 41]", "[2 [0 3] [0 2]]", "42");
    expect_product("[1 2]", "[3 [0 1]]", "0");
    expect_product("9223372036854775807", "[4 0 1]", "9223372036854775808");
    expect_product("[[1 2] [1 2]]", "[5 [0 2] [0 3]]", "0");
    expect_product("[340282366920938463463374607431768211456 340282366920938463463374607431768211456]",
                   "[5 [0 2] [0 3]]", "0");
    expect_product("1", "[6 [1 1] [1 0] [1 5]]", "5");
    expect_product("[1 2]", "[7 [0 3] [4 0 1]]", "3");
    expect_product("5", "[8 [4 0 1] [0 1]]", "[6 5]");
    expect_product("[[0 3] 7]", "[9 2 [0 1]]", "7");
    expect_product("[1 2 3]", "[10 [6 [1 0]] [0 1]]", "[1 0 3]");
    expect_product("5", "[11 [1 [1 7]] [4 0 1]]", "6");
    expect_product("0", "[10 [5 [1 7]] [1 [1 2] 3]]", "[[1 7] 3]");
    /* an edit through an atom crashes, at a big axis too */
    expect_crash("0", "[10 [18446744073709551616 [1 7]] [1 0]]");
    expect_crash("0", "[12 [1 0] [1 0]]");
    expect_crash("0", "[13 0 1]");
    expect_crash("0", "7");
    expect_crash("0", "[10 [0 [1 7]] [1 0]]");
    expect_crash("[1 2]", "[9 4 [0 1]]");
    expect_crash("0", "[6 [1 0] [1 1]]");
    /* an untaken malformed branch is not a crash */
    expect_product("0", "[6 [1 0] [1 1] [99 99]]", "1");
}

static void test_crash_trace(void **state)
{
    nock_context_reset(context);
    /* [11 [%spot [1 1]] [11 [%mean [1 2]] [0 0]]]: the mean is innermost */
    struct nock_outcome outcome =
        evaluate_text("0", "[11 [1953460339 [1 1]] [11 [1851876717 [1 2]] [0 0]]]");
    assert_int_equal(outcome.status, NOCK_CRASH);
    assert_non_null(outcome.reason);
    assert_true(noun_equal(outcome.trace, parse("[[1851876717 2] [1953460339 1] 0]")));
    /* a trace hint whose body succeeds leaves nothing behind */
    nock_context_reset(context);
    outcome = evaluate_text("0", "[[11 [1953460339 [1 1]] [1 5]] [0 0]]");
    assert_int_equal(outcome.status, NOCK_CRASH);
    assert_int_equal(outcome.trace, 0);
}

static int slog_count;
static noun slog_clue;
static void count_slog(void *argument, noun clue)
{
    slog_count++;
    slog_clue = clue;
}

static void test_hints(void **state)
{
    struct nock_config config = { .hooks = { .slog = count_slog } };
    struct nock_context *own = nock_context_new(home, &config);
    assert_non_null(own);
    struct nock_context *saved = context;
    context = own;
    slog_count = 0;
    /* %slog with clue [0 'hi'] */
    struct nock_outcome outcome = evaluate_text("7", "[11 [1735355507 [1 0 26984]] [4 0 1]]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 8);
    assert_int_equal(slog_count, 1);
    assert_true(noun_equal(slog_clue, parse("[0 26984]")));
    /* %memo: the second evaluation of the same subject and formula is a hit */
    outcome = evaluate_text("[5 [11 [1869440365 [1 0]] [4 0 2]]]", "[[2 [0 1] [0 3]] [2 [0 1] [0 3]]]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_true(noun_equal(outcome.product, parse("[6 6]")));
    assert_int_equal(nock_context_counters(own)->memo_hits, 1);
    /* a dynamic hint whose clue crashes crashes */
    outcome = evaluate_text("7", "[11 [1 [0 0]] [4 0 1]]");
    assert_int_equal(outcome.status, NOCK_CRASH);
    context = saved;
    nock_context_free(own);
}

/* A decrement loop of 10^6 allocates ~48 MB; scratch must stay bounded. */
static void test_long_loop_runs_in_bounded_scratch(void **state)
{
    nock_context_reset(context);
    struct nock_outcome outcome = evaluate_text(
        "1000000", "[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 999999);
    /* counters are cumulative: at least this evaluation's 12 per count */
    assert_true(nock_context_counters(context)->steps >= 12000000);
    struct noun_region *region = nock_context_region(context);
    assert_true(region->high_water < (size_t)16 << 20);
    assert_true(noun_region_bytes_allocated(region) > (size_t)40 << 20);
}

static void test_too_deep_and_out_of_memory(void **state)
{
    struct nock_config config = { .max_depth = 10000, .scratch_max_bytes = (size_t)64 << 20 };
    struct nock_context *own = nock_context_new(home, &config);
    assert_non_null(own);
    struct nock_context *saved = context;
    context = own;
    /* non-tail recursion forever: [2 [0 1] [0 1]] inside a cons */
    struct nock_outcome outcome = evaluate_text("[[[2 [0 1] [0 2]] [1 0]] 0]", "[2 [0 1] [0 2]]");
    assert_int_equal(outcome.status, NOCK_TOO_DEEP);
    /* a loop whose sample grows by a cell each turn and stays live */
    nock_context_reset(own);
    outcome = evaluate_text("0", "[8 [1 0] 8 [1 9 2 [0 2] [[0 6] [0 6]] 0 7] 9 2 0 1]");
    assert_int_equal(outcome.status, NOCK_OUT_OF_MEMORY);
    /* the context still works afterwards */
    nock_context_reset(own);
    outcome = evaluate_text("41", "[4 0 1]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 42);
    context = saved;
    nock_context_free(own);
}

static void *interrupt_later(void *argument)
{
    usleep(200 * 1000);
    nock_interrupt(argument);
    return NULL;
}

static void test_interrupt(void **state)
{
    nock_context_reset(context);
    pthread_t thread;
    pthread_create(&thread, NULL, interrupt_later, context);
    /* an endless tail loop */
    struct nock_outcome outcome = evaluate_text("[2 [0 1] [0 1]]", "[2 [0 1] [0 1]]");
    pthread_join(thread, NULL);
    assert_int_equal(outcome.status, NOCK_INTERRUPTED);
    nock_context_reset(context);
    outcome = evaluate_text("1", "[4 0 1]");
    assert_int_equal(outcome.product, 2);
}

/* A formula nested a million deep compiles in pieces and runs. */
static void test_deep_formula(void **state)
{
    nock_context_reset(context);
    struct noun_region *region = nock_context_region(context);
    noun formula = noun_cell_new(region, 0, 1);
    for (int i = 0; i < 1000000; i++)
        formula = noun_cell_new(region, 4, formula);
    struct nock_outcome outcome = nock_evaluate(context, 5, formula);
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 1000005);
}

/* A loop that builds its increment formula afresh each time round compiles
 * it once: codes are found by structure, not address. */
static void test_fresh_formulas_reuse_code(void **state)
{
    nock_context_reset(context);
    uint64_t before = nock_context_counters(context)->compiled_formulas;
    struct nock_outcome outcome = evaluate_text(
        "100000", "[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [2 [0 6] [1 4] [1 0 1]] 0 7] 9 2 0 1]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 99999);
    assert_true(nock_context_counters(context)->compiled_formulas - before < 10);
}

/* A code compiled from a scratch formula keeps its formula (and the
 * constants in it) through scratch collections: once the collector has
 * moved and reused the memory, an equal formula still finds that code, and
 * running it gives the constant, not whatever now lies at its old address. */
static void test_scratch_codes_survive_collections(void **state)
{
    nock_context_reset(context);
    const char *formula = "[1 [7 8 9] 10 11]";
    struct nock_outcome outcome = evaluate_text("0", formula);
    assert_int_equal(outcome.status, NOCK_OK);
    uint64_t compiled = nock_context_counters(context)->compiled_formulas;
    uint64_t collections = nock_context_counters(context)->scratch_collections;
    /* a loop that allocates ~48 MB: many collections */
    outcome = evaluate_text("1000000", "[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]");
    assert_int_equal(outcome.status, NOCK_OK);
    assert_true(nock_context_counters(context)->scratch_collections >= collections + 2);
    compiled = nock_context_counters(context)->compiled_formulas;
    outcome = evaluate_text("0", formula);
    assert_int_equal(outcome.status, NOCK_OK);
    assert_true(noun_equal(outcome.product, parse("[[7 8 9] 10 11]")));
    assert_int_equal(nock_context_counters(context)->compiled_formulas, compiled);
}

/* With keep_memo, %memo answers outlive a reset (they are copied to home)
 * and are dropped by a home collection, which moves what they name. */
static void test_memo_kept_across_resets(void **state)
{
    struct nock_config config = { .keep_memo = true };
    struct nock_context *own = nock_context_new(home, &config);
    assert_non_null(own);
    struct nock_context *saved = context;
    context = own;
    /* [11 [%memo 1 0] [4 0 1]] on a cell subject built in scratch */
    const char *formula = "[11 [1869440365 1 0] 4 0 3]";
    struct nock_outcome outcome = evaluate_text("[7 41]", formula);
    assert_int_equal(outcome.status, NOCK_OK);
    assert_int_equal(outcome.product, 42);
    uint64_t hits = nock_context_counters(own)->memo_hits;
    nock_context_reset(own);
    outcome = evaluate_text("[7 41]", formula);
    assert_int_equal(outcome.product, 42);
    assert_int_equal(nock_context_counters(own)->memo_hits, hits + 1);
    nock_context_reset(own);
    assert_true(noun_home_collect(home));
    outcome = evaluate_text("[7 41]", formula);
    assert_int_equal(outcome.product, 42);
    assert_int_equal(nock_context_counters(own)->memo_hits, hits + 1);
    /* without keep_memo a reset forgets */
    nock_context_reset(context = saved);
    outcome = evaluate_text("[7 41]", formula);
    hits = nock_context_counters(saved)->memo_hits;
    nock_context_reset(saved);
    outcome = evaluate_text("[7 41]", formula);
    assert_int_equal(nock_context_counters(saved)->memo_hits, hits);
    nock_context_free(own);
}

/* Two contexts on two threads over one home give the same answers. */
struct thread_job {
    noun subject, formula, product;
};

static void *run_job(void *argument)
{
    struct thread_job *job = argument;
    struct nock_context *own = nock_context_new(home, NULL);
    struct nock_outcome outcome = nock_evaluate(own, job->subject, job->formula);
    job->product = outcome.status == NOCK_OK ? noun_is_direct(outcome.product) ? outcome.product : 1 : 0;
    nock_context_free(own);
    return NULL;
}

static void test_threads_share_home(void **state)
{
    nock_context_reset(context);
    noun formula = noun_home_copy_out(
        home, nock_context_region(context),
        parse("[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]"));
    struct thread_job jobs[2] = { { 300000, formula, 0 }, { 200000, formula, 0 } };
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, run_job, &jobs[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    assert_int_equal(jobs[0].product, 299999);
    assert_int_equal(jobs[1].product, 199999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_vectors),
        cmocka_unit_test(test_every_opcode),
        cmocka_unit_test(test_crash_trace),
        cmocka_unit_test(test_hints),
        cmocka_unit_test(test_long_loop_runs_in_bounded_scratch),
        cmocka_unit_test(test_too_deep_and_out_of_memory),
        cmocka_unit_test(test_interrupt),
        cmocka_unit_test(test_deep_formula),
        cmocka_unit_test(test_fresh_formulas_reuse_code),
        cmocka_unit_test(test_scratch_codes_survive_collections),
        cmocka_unit_test(test_memo_kept_across_resets),
        cmocka_unit_test(test_threads_share_home),
    };
    return cmocka_run_group_tests_name("nock", tests, setup, teardown);
}
