/* Unit tests for nouns held across collections (issue 8): every way a
 * formula reaches the evaluator from scratch, with scratch collected under
 * it, gives the product it gives from home; home collections between
 * evaluations drop what was keyed by home addresses; and the collection
 * stress mode makes a noun held across a collection without being a root
 * fault at once instead of reading whatever moved in.
 *
 * Each evaluation case runs twice: with the usual collection bound (and a
 * check that scratch was in fact collected under it) and in stress mode
 * (interp/noun.h), which collects at every safe point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "tests/support/support.h"

#define TAG_MEMO 0x6f6d656du

static bool stress_at_start;
static char *fib_text;

/* A home and an evaluator made with stress mode on or off. */
struct machine {
    struct noun_home *home;
    struct nock_context *nock;
    struct noun_region *region;
};

static void machine_open(struct machine *m, bool stress)
{
    noun_collection_stress_set(stress);
    m->home = noun_home_new(noun_arena_memory((size_t)4 << 30));
    assert_non_null(m->home);
    m->nock = nock_context_new(m->home, NULL);
    assert_non_null(m->nock);
    m->region = nock_context_region(m->nock);
}

static void machine_close(struct machine *m)
{
    nock_context_free(m->nock);
    noun_home_free(m->home);
    noun_collection_stress_set(stress_at_start);
}

/* The benchmark's fibonacci formula, parsed into scratch. */
static noun fib_formula(struct machine *m)
{
    return support_parse(m->region, fib_text);
}

/* fib(n) as text, for expect(); three buffers in turn. */
static const char *fib(uint64_t n)
{
    static char text[3][32];
    static int next;
    char *out = text[next++ % 3];
    snprintf(out, sizeof text[0], "%llu", (unsigned long long)support_fibonacci(n));
    return out;
}

/* *[subject formula] must give the noun `expected` (text, parsed after the
 * evaluation: a noun built before it would be moved by its collections),
 * and scratch must have been collected while it ran. */
static void expect(struct machine *m, noun subject, noun formula, const char *expected_text, const char *what)
{
    uint64_t collections = nock_context_counters(m->nock)->scratch_collections;
    struct nock_outcome outcome = nock_evaluate(m->nock, subject, formula);
    if (outcome.status != NOCK_OK)
        fail_msg("%s: status %d (%s)", what, outcome.status, outcome.reason ? outcome.reason : "");
    noun expected = support_parse(m->region, expected_text);
    if (!noun_equal(outcome.product, expected)) {
        char *got = text_format(outcome.product);
        fail_msg("%s: gave %s, wanted %s", what, got, expected_text);
    }
    if (nock_context_counters(m->nock)->scratch_collections == collections)
        fail_msg("%s: scratch was never collected, so the case tests nothing", what);
}

/* n for fib: big enough for several collections at the usual bound; in
 * stress mode every call collects, so smaller does. */
static uint64_t fib_input(bool stress)
{
    return stress ? 18 : 25;
}

static void typed_inline(bool stress)
{
    struct machine m;
    machine_open(&m, stress);
    for (uint64_t n = fib_input(stress) - 4; n <= fib_input(stress); n += 2) {
        nock_context_reset(m.nock);
        expect(&m, n, fib_formula(&m), fib(n), "fib typed inline (formula in scratch)");
    }
    /* the same formula kept in home */
    nock_context_reset(m.nock);
    noun kept = noun_home_copy_out(m.home, m.region, fib_formula(&m));
    nock_context_reset(m.nock);
    expect(&m, fib_input(stress), kept, fib(fib_input(stress)), "fib in home");
    machine_close(&m);
}

static void test_formula_typed_inline(void **state) { typed_inline(false); }
static void test_formula_typed_inline_stress(void **state) { typed_inline(true); }

/* *[[n fib] [2 [0 2] [0 3]]]: the formula comes out of the subject. */
static void computed_by_nock_2(bool stress)
{
    struct machine m;
    machine_open(&m, stress);
    uint64_t n = fib_input(stress);
    noun subject = noun_cell_new(m.region, n, fib_formula(&m));
    noun formula = support_parse(m.region, "[2 [0 2] [0 3]]");
    expect(&m, subject, formula, fib(n), "fib run by Nock 2 from the subject");
    machine_close(&m);
}

static void test_formula_computed_by_nock_2(void **state) { computed_by_nock_2(false); }
static void test_formula_computed_by_nock_2_stress(void **state) { computed_by_nock_2(true); }

/* A loop that, each turn, builds fib's formula afresh with autocons
 * ([[1 h] [1 t]] makes a new cell [h t]) and runs it with Nock 2, so
 * earlier turns' formulas are garbage when scratch is collected.
 *   subject [counter n];  loop = [8 [1 body] 9 2 0 1], core [body counter n]
 *   body = [6 [5 [1 0] 0 6] run-fib [8 run-fib 9 2 [0 6] [7 [0 14] dec] 0 15]]
 *   run-fib = [2 [0 7] [1 h] [1 t]]
 * Product: fib(n), computed counter + 1 times. */
static void built_at_run_time(bool stress)
{
    struct machine m;
    machine_open(&m, stress);
    struct noun_region *r = m.region;
    uint64_t n = fib_input(stress) - 2;
    noun f = fib_formula(&m);
    noun build = noun_cell_new(r, noun_cell_new(r, 1, noun_head(f)), noun_cell_new(r, 1, noun_tail(f)));
    noun run_fib = noun_trel(r, 2, noun_cell_new(r, 0, 7), build);
    noun dec = support_parse(r, "[8 [1 0] 8 [1 6 [5 [4 0 6] 0 7] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]");
    /* after [8 run-fib ...] the subject is [fib body counter n] */
    noun next_core = noun_trel(r, noun_cell_new(r, 0, 6), noun_trel(r, 7, noun_cell_new(r, 0, 14), dec),
                               noun_cell_new(r, 0, 15));
    noun again = noun_trel(r, 8, run_fib, noun_trel(r, 9, 2, next_core));
    noun body = noun_qual(r, 6, noun_trel(r, 5, noun_cell_new(r, 1, 0), noun_cell_new(r, 0, 6)), run_fib, again);
    noun loop = noun_trel(r, 8, noun_cell_new(r, 1, body), noun_trel(r, 9, 2, noun_cell_new(r, 0, 1)));
    expect(&m, noun_cell_new(r, 3, n), loop, fib(n), "fib formulas built at run time and run by Nock 2");
    machine_close(&m);
}

static void test_formula_built_at_run_time(void **state) { built_at_run_time(false); }
static void test_formula_built_at_run_time_stress(void **state) { built_at_run_time(true); }

/* fib nested under 600 [7 [0 1] ...]: past the compile nesting limit,
 * the inner part is compiled when reached, from a constant of the code. */
static void deferred_past_nesting_limit(bool stress)
{
    struct machine m;
    machine_open(&m, stress);
    uint64_t n = fib_input(stress);
    noun formula = fib_formula(&m);
    for (int i = 0; i < 600; i++)
        formula = noun_trel(m.region, 7, noun_cell_new(m.region, 0, 1), formula);
    expect(&m, n, formula, fib(n), "fib deferred past the compile nesting limit");
    machine_close(&m);
}

static void test_formula_deferred(void **state) { deferred_past_nesting_limit(false); }
static void test_formula_deferred_stress(void **state) { deferred_past_nesting_limit(true); }

/* [M [[7 [1 k] fib] M]] with M = [11 [%memo 1 0] fib]: the first M stores
 * its key, fib k runs (collecting), the second M must hit. */
static void memo_key(bool stress)
{
    struct machine m;
    machine_open(&m, stress);
    struct noun_region *r = m.region;
    uint64_t n = fib_input(stress) - 2, k = fib_input(stress);
    noun memo = noun_trel(r, 11, noun_trel(r, TAG_MEMO, 1, 0), fib_formula(&m));
    noun between = noun_trel(r, 7, noun_cell_new(r, 1, k), fib_formula(&m));
    noun formula = noun_cell_new(r, memo, noun_cell_new(r, between, memo));
    uint64_t hits = nock_context_counters(m.nock)->memo_hits;
    char expected[100];
    snprintf(expected, sizeof expected, "[%s %s %s]", fib(n), fib(k), fib(n));
    expect(&m, n, formula, expected, "%memo around fib, twice, with fib between");
    assert_int_equal(nock_context_counters(m.nock)->memo_hits, hits + 1);
    machine_close(&m);
}

static void test_memo_key(void **state) { memo_key(false); }
static void test_memo_key_stress(void **state) { memo_key(true); }

/* A home collection between evaluations moves the home formula the
 * context has code for; the code cache must not find the old address.
 * Each round drops a noun kept below the formula, so that it moves under
 * in-place compaction too (NOCKLAB_HOME_COMPACT=1), not only when copied. */
static void home_collected_between(bool stress)
{
    struct machine m;
    machine_open(&m, stress);
    noun below[3];
    for (int round = 0; round < 3; round++) {
        below[round] = noun_home_copy_out(m.home, m.region, noun_trel(m.region, round, 1000 + (uint64_t)round, 7));
        assert_true(noun_home_root_add(m.home, &below[round]));
    }
    noun kept = noun_home_copy_out(m.home, m.region, fib_formula(&m));
    assert_true(noun_home_root_add(m.home, &kept));
    uint64_t n = fib_input(stress);
    for (int round = 0; round < 3; round++) {
        nock_context_reset(m.nock);
        expect(&m, n, kept, fib(n), "fib in home, home collected between runs");
        noun_home_root_remove(m.home, &below[round]);
        nock_context_reset(m.nock);
        noun before = kept;
        assert_true(noun_home_collect(m.home));
        assert_true(kept != before);
    }
    noun_home_root_remove(m.home, &kept);
    machine_close(&m);
}

static void test_home_collected_between(void **state) { home_collected_between(false); }
static void test_home_collected_between_stress(void **state) { home_collected_between(true); }

/* In a child: hold a noun across a collection without rooting it, then
 * walk it.  Stress mode must make the walk fault (ASan, when present,
 * turns the fault into an error exit); the child reports success only if
 * it got through. */
static void expect_stale_use_faults(void (*hold_and_walk)(void))
{
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        /* cmocka catches faults to fail a test; here one must end the child */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        hold_and_walk();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        fail_msg("a noun held across a collection was walked without a fault");
}

static void hold_scratch_noun_across_evaluation(void)
{
    struct machine m;
    machine_open(&m, true);
    noun held = support_parse(m.region, "[1 2 [3 4] 5]");
    /* a call, so a safe point: scratch is collected and `held` moves */
    struct nock_outcome outcome = nock_evaluate(m.nock, 0, support_parse(m.region, "[2 [1 0] [1 4 0 1]]"));
    if (outcome.status != NOCK_OK)
        _exit(2);
    struct noun_census census;
    noun_census(noun_tail(noun_tail(held)), &census);
    _exit(0);
}

static void hold_home_noun_across_collection(void)
{
    struct machine m;
    machine_open(&m, true);
    noun held = noun_home_copy_out(m.home, m.region, support_parse(m.region, "[1 2 [3 4] 5]"));
    noun_home_collect(m.home);
    struct noun_census census;
    noun_census(held, &census);
    _exit(0);
}

static void test_stress_catches_unrooted_scratch_noun(void **state)
{
    expect_stale_use_faults(hold_scratch_noun_across_evaluation);
}

static void test_stress_catches_unrooted_home_noun(void **state)
{
    expect_stale_use_faults(hold_home_noun_across_collection);
}

/* The home root enumerator: slots only it knows are updated. */
static void visit_array(void *context, struct noun_collector *collector)
{
    noun_collector_visit_many(collector, context, 2);
}

static void test_home_root_enumerator(void **state)
{
    struct machine m;
    machine_open(&m, stress_at_start);
    noun held[2];
    /* garbage first, so that in-place compaction moves what is held too */
    noun_home_copy_out(m.home, m.region, support_parse(m.region, "[7 8 9]"));
    held[0] = noun_home_copy_out(m.home, m.region, support_parse(m.region, "[1 2 3]"));
    held[1] = noun_home_copy_out(m.home, m.region, support_parse(m.region, "[[4 5] 6]"));
    assert_true(noun_home_root_enumerator_add(m.home, visit_array, held));
    noun before = held[0];
    assert_true(noun_home_collect(m.home));
    assert_true(held[0] != before);
    assert_true(noun_equal(held[0], support_parse(m.region, "[1 2 3]")));
    assert_true(noun_equal(held[1], support_parse(m.region, "[[4 5] 6]")));
    noun_home_root_enumerator_remove(m.home, visit_array, held);
    machine_close(&m);
}

static int setup(void **state)
{
    stress_at_start = noun_collection_stress();
    char path[1024];
    size_t length;
    fib_text = support_read_file(support_shared_path("bench/fib.formula", path, sizeof path), &length);
    return fib_text ? 0 : -1;
}

static int teardown(void **state)
{
    free(fib_text);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formula_typed_inline),
        cmocka_unit_test(test_formula_typed_inline_stress),
        cmocka_unit_test(test_formula_computed_by_nock_2),
        cmocka_unit_test(test_formula_computed_by_nock_2_stress),
        cmocka_unit_test(test_formula_built_at_run_time),
        cmocka_unit_test(test_formula_built_at_run_time_stress),
        cmocka_unit_test(test_formula_deferred),
        cmocka_unit_test(test_formula_deferred_stress),
        cmocka_unit_test(test_memo_key),
        cmocka_unit_test(test_memo_key_stress),
        cmocka_unit_test(test_home_collected_between),
        cmocka_unit_test(test_home_collected_between_stress),
        cmocka_unit_test(test_stress_catches_unrooted_scratch_noun),
        cmocka_unit_test(test_stress_catches_unrooted_home_noun),
        cmocka_unit_test(test_home_root_enumerator),
    };
    return cmocka_run_group_tests_name("collections", tests, setup, teardown);
}
