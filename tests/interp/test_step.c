/* Unit tests for interp/step, the teaching reducer: the exact lines of
 * small reductions, agreement with the shared Nock vectors and with the
 * evaluator on real programs, crashes, the step and depth limits, the
 * callback stopping a run, big axes, and running out of scratch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/step.h"
#include "interp/text.h"
#include "tests/support/support.h"

static struct noun_home *home;
static struct nock_context *context;

/* Lines a run wrote, kept as "depth|text|rule" strings (rule "-" for a
 * summary line, which also records its hidden count). */
struct recorded {
    char **lines;
    size_t count, capacity;
    uint64_t hidden_total;
    size_t stop_after; /* 0 = never stop */
};

static bool record_line(void *context_pointer, const struct step_line *line)
{
    struct recorded *r = context_pointer;
    if (r->count == r->capacity) {
        r->capacity = r->capacity ? r->capacity * 2 : 64;
        r->lines = realloc(r->lines, r->capacity * sizeof *r->lines);
        assert_non_null(r->lines);
    }
    char buffer[4096];
    if (line->rule)
        snprintf(buffer, sizeof buffer, "%llu|%s|%s%s", (unsigned long long)line->depth, line->text, line->rule,
                 line->crash ? "|crash" : "");
    else
        snprintf(buffer, sizeof buffer, "%llu|%s|-%llu", (unsigned long long)line->depth, line->text,
                 (unsigned long long)line->hidden);
    assert_int_equal(strlen(line->text), line->length);
    r->lines[r->count++] = strdup(buffer);
    r->hidden_total += line->hidden;
    return r->stop_after == 0 || r->count < r->stop_after;
}

static void recorded_free(struct recorded *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->lines[i]);
    free(r->lines);
    memset(r, 0, sizeof *r);
}

static int setup(void **state) { return support_evaluator_open(&home, &context); }
static int teardown(void **state) { return support_evaluator_close(&home, &context); }

static noun parse(const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(nock_context_region(context), text, strlen(text), NULL, NULL, &n, &error))
        fail_msg("cannot parse %s: %s", text, error.message);
    return n;
}

static struct step_options default_options(struct recorded *r)
{
    struct step_options options = {
        .max_steps = 1000000,
        .max_depth = UINT64_MAX - 1,
        .write_line = record_line,
        .context = r,
    };
    return options;
}

static void run_text(const char *subject, const char *formula, const struct step_options *options,
                     struct step_result *result)
{
    nock_context_reset(context);
    step_run(nock_context_region(context), parse(subject), parse(formula), options, result);
}

static void expect_lines(const struct recorded *r, const char *const *expected, size_t count)
{
    for (size_t i = 0; i < count && i < r->count; i++)
        if (strcmp(r->lines[i], expected[i]) != 0)
            fail_msg("line %zu is\n  %s\nwanted\n  %s", i + 1, r->lines[i], expected[i]);
    if (r->count != count)
        fail_msg("%zu lines, wanted %zu", r->count, count);
}

static void expect_noun(noun got, const char *wanted)
{
    if (!noun_equal(got, parse(wanted))) {
        char *text = text_format(got);
        fail_msg("got %s, wanted %s", text, wanted);
    }
}

/* ---- exact lines -------------------------------------------------------- */

static void test_increment_lines(void **state)
{
    struct recorded r = { 0 };
    struct step_options options = default_options(&r);
    struct step_result result;
    run_text("42", "[4 0 1]", &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    expect_noun(result.product, "43");
    static const char *const expected[] = {
        "0|*[42 4 0 1]|*[a 4 b] -> +*[a b]",
        "1|*[42 0 1]|*[a 0 b] -> /[b a]",
        "1|/[1 42] -> 42|/[1 a] -> a",
        "0|+42 -> 43|+a -> 1 + a",
    };
    expect_lines(&r, expected, 4);
    assert_int_equal(result.steps, 4);
    recorded_free(&r);
}

static void test_nock_2_lines(void **state)
{
    struct recorded r = { 0 };
    struct step_options options = default_options(&r);
    struct step_result result;
    run_text("42", "[2 [0 1] 1 4 0 1]", &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    expect_noun(result.product, "43");
    static const char *const expected[] = {
        "0|*[42 2 [0 1] 1 4 0 1]|*[a 2 b c] -> *[*[a b] *[a c]]",
        "1|*[42 0 1]|*[a 0 b] -> /[b a]",
        "1|/[1 42] -> 42|/[1 a] -> a",
        "1|*[42 1 4 0 1] -> [4 0 1]|*[a 1 b] -> b",
        "0|*[42 4 0 1]|*[a 4 b] -> +*[a b]",
        "1|*[42 0 1]|*[a 0 b] -> /[b a]",
        "1|/[1 42] -> 42|/[1 a] -> a",
        "0|+42 -> 43|+a -> 1 + a",
    };
    expect_lines(&r, expected, 8);
    recorded_free(&r);
}

/* The two sides of an autocons are sub-computations, one level down. */
static void test_autocons_lines(void **state)
{
    struct recorded r = { 0 };
    struct step_options options = default_options(&r);
    struct step_result result;
    run_text("42", "[[4 0 1] 1 7]", &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    expect_noun(result.product, "[43 7]");
    static const char *const expected[] = {
        "0|*[42 [4 0 1] 1 7]|*[a [b c] d] -> [*[a b c] *[a d]]",
        "1|*[42 4 0 1]|*[a 4 b] -> +*[a b]",
        "2|*[42 0 1]|*[a 0 b] -> /[b a]",
        "2|/[1 42] -> 42|/[1 a] -> a",
        "1|+42 -> 43|+a -> 1 + a",
        "1|*[42 1 7] -> 7|*[a 1 b] -> b",
    };
    expect_lines(&r, expected, 6);
    recorded_free(&r);
}

static void test_slot_and_edit_rules(void **state)
{
    struct recorded r = { 0 };
    struct step_options options = default_options(&r);
    struct step_result result;
    run_text("[1 2 3]", "[0 6]", &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    expect_noun(result.product, "2");
    static const char *const slot[] = {
        "0|*[[1 2 3] 0 6]|*[a 0 b] -> /[b a]",
        "0|/[6 1 2 3]|/[(a + a) b] -> /[2 /[a b]]",
        "1|/[3 1 2 3] -> [2 3]|/[3 a b] -> b",
        "0|/[2 2 3] -> 2|/[2 a b] -> a",
    };
    expect_lines(&r, slot, 4);
    recorded_free(&r);

    run_text("[1 2 3]", "[10 [2 1 9] 0 1]", &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    expect_noun(result.product, "[9 2 3]");
    assert_string_equal(r.lines[0], "0|*[[1 2 3] 10 [2 1 9] 0 1]|*[a 10 [b c] d] -> #[b *[a c] *[a d]]");
    bool saw_edit_rule = false;
    for (size_t i = 0; i < r.count; i++)
        if (strstr(r.lines[i], "|#[2 9 1 2 3]|#[(a + a) b c] -> #[a [b /[(a + a + 1) c]] c]"))
            saw_edit_rule = true;
    assert_true(saw_edit_rule);
    assert_string_equal(r.lines[r.count - 1], "0|#[1 [9 2 3] 1 2 3] -> [9 2 3]|#[1 a b] -> a");
    recorded_free(&r);
}

/* ---- agreement ---------------------------------------------------------- */

static const char *shared_path(const char *name, char *buffer, size_t size)
{
    const char *shared = getenv("SHARED");
    snprintf(buffer, size, "%s/%s", shared && *shared ? shared : "../shared", name);
    return buffer;
}

static bool ignore_line(void *context_pointer, const struct step_line *line) { return true; }

static void test_shared_vectors(void **state)
{
    char path[4096];
    FILE *file = fopen(shared_path("vectors/nock.tsv", path, sizeof path), "r");
    if (!file)
        fail_msg("cannot open %s", path);
    char *line = NULL;
    size_t capacity = 0;
    int checked = 0;
    struct step_options options = { .max_steps = 1000000, .max_depth = 0, .write_line = ignore_line };
    while (getline(&line, &capacity, file) > 0) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *subject = strtok(line, "\t"), *formula = strtok(NULL, "\t"), *product = strtok(NULL, "\t");
        assert_non_null(product);
        struct step_result result;
        run_text(subject, formula, &options, &result);
        if (strcmp(product, "!") == 0) {
            if (result.status != STEP_CRASH)
                fail_msg("*[%s %s] gave status %d, wanted a crash", subject, formula, result.status);
        } else {
            if (result.status != STEP_DONE)
                fail_msg("*[%s %s] gave status %d (%s), wanted %s", subject, formula, result.status,
                         result.message, product);
            expect_noun(result.product, product);
        }
        checked++;
    }
    free(line);
    fclose(file);
    assert_true(checked >= 25);
}

#define DEC "[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]"

/* The reducer and the evaluator agree on programs using every opcode. */
static void test_agrees_with_evaluator(void **state)
{
    static const char *const cases[][2] = {
        { "17", DEC },
        { "[3 4]", "[8 [1 0] 8 [1 6 [5 [0 6] 0 15] [0 14] 9 2 [0 2] [4 0 6] [4 0 14] 0 15] 9 2 0 1]" },
        { "[1 2 3 4]", "[[0 7] [3 0 2] [5 [0 2] 0 6] 11 [%spot 1 5] 0 14]" },
        { "[1 2 3 4]", "[10 [7 4 0 14] 11 %foo 0 1]" },
        { "[[4 5] 6 7]", "[10 [5 1 0] 7 [0 1] 6 [3 0 2] [0 1] 1 9]" },
        { "0", "[6 [1 1] [1 7] 1 8]" },
    };
    struct step_options options = { .max_steps = 1000000, .max_depth = 1, .write_line = ignore_line };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nock_context_reset(context);
        struct nock_outcome outcome = nock_evaluate(context, parse(cases[i][0]), parse(cases[i][1]));
        assert_int_equal(outcome.status, NOCK_OK);
        noun kept = noun_home_copy_out(home, nock_context_region(context), outcome.product);
        struct step_result result;
        step_run(nock_context_region(context), parse(cases[i][0]), parse(cases[i][1]), &options, &result);
        if (result.status != STEP_DONE)
            fail_msg("case %zu: status %d (%s)", i, result.status, result.message);
        if (!noun_equal(result.product, kept))
            fail_msg("case %zu: the reducer and the evaluator differ", i);
    }
}

/* ---- failures and limits ------------------------------------------------ */

static void test_crashes(void **state)
{
    struct recorded r = { 0 };
    struct step_options options = default_options(&r);
    struct step_result result;
    run_text("42", "[0 2]", &options, &result);
    assert_int_equal(result.status, STEP_CRASH);
    assert_non_null(strstr(result.message, "fragment of an atom"));
    assert_string_equal(r.lines[r.count - 1], "0|/[2 42]|/a -> /a|crash");
    recorded_free(&r);

    run_text("42", "[4 1 [1 2]]", &options, &result);
    assert_int_equal(result.status, STEP_CRASH);
    assert_non_null(strstr(result.message, "increment of a cell"));
    recorded_free(&r);

    run_text("42", "[12 0 1]", &options, &result);
    assert_int_equal(result.status, STEP_CRASH);
    assert_non_null(strstr(result.message, "opcode 12"));
    recorded_free(&r);

    /* Nock 6 on something other than 0 or 1 crashes, as the spec's
     * expansion does (/[4 [2 3]]). */
    run_text("42", "[6 [1 2] [1 7] 1 8]", &options, &result);
    assert_int_equal(result.status, STEP_CRASH);
    recorded_free(&r);
}

#define LOOP "[2 [0 1] 0 1]"

static void test_step_limit(void **state)
{
    struct recorded r = { 0 };
    struct step_options options = default_options(&r);
    options.max_steps = 100;
    struct step_result result;
    run_text(LOOP, LOOP, &options, &result);
    assert_int_equal(result.status, STEP_LIMIT);
    assert_int_equal(result.steps, 100);
    assert_int_equal(r.count, 100);
    assert_non_null(strstr(result.message, "step limit"));
    recorded_free(&r);
}

static void test_depth_limit(void **state)
{
    struct recorded all = { 0 }, top = { 0 };
    struct step_options options = default_options(&all);
    struct step_result full, limited;
    run_text("5", DEC, &options, &full);
    assert_int_equal(full.status, STEP_DONE);
    assert_int_equal(full.lines_hidden, 0);

    options.context = &top;
    options.max_depth = 0;
    run_text("5", DEC, &options, &limited);
    assert_int_equal(limited.status, STEP_DONE);
    expect_noun(limited.product, "4");
    assert_int_equal(limited.steps, full.steps);
    assert_true(limited.lines_hidden > 0);
    assert_int_equal(top.hidden_total, limited.lines_hidden);
    size_t shown = 0;
    for (size_t i = 0; i < top.count; i++) {
        if (strncmp(top.lines[i], "0|", 2) == 0)
            shown++;
        else if (strncmp(top.lines[i], "1|...|-", 7) != 0)
            fail_msg("unexpected line %s", top.lines[i]);
    }
    assert_int_equal(shown + limited.lines_hidden, full.steps);
    recorded_free(&all);
    recorded_free(&top);
}

static void test_callback_stops(void **state)
{
    struct recorded r = { .stop_after = 5 };
    struct step_options options = default_options(&r);
    struct step_result result;
    run_text(LOOP, LOOP, &options, &result);
    assert_int_equal(result.status, STEP_STOPPED);
    assert_int_equal(r.count, 5);
    recorded_free(&r);
}

static bool interrupt_after_three_polls(void *context_pointer)
{
    int *polls = context_pointer;
    return ++*polls >= 3;
}

static bool ignore_line_with_context(void *context_pointer, const struct step_line *line) { return true; }

/* The interrupt check is polled every STEP_POLL_INTERVAL reductions and
 * ends the run when it says so. */
static void test_interrupt_check(void **state)
{
    int polls = 0;
    struct step_options options = { .max_steps = 100000000, .max_depth = 0, .write_line = ignore_line_with_context,
                                    .interrupted = interrupt_after_three_polls, .context = &polls };
    struct step_result result;
    run_text(LOOP, LOOP, &options, &result);
    assert_int_equal(result.status, STEP_INTERRUPTED);
    assert_int_equal(polls, 3);
    assert_int_equal(result.steps, 3 * STEP_POLL_INTERVAL - 1);
    assert_non_null(strstr(result.message, "interrupted after"));
}

/* An axis past 2^63 is an indirect atom; halving and the edit's sibling
 * axes must work on its words. */
static void test_big_axis(void **state)
{
    struct noun_region *region = nock_context_region(context);
    nock_context_reset(context);
    /* A noun whose leftmost leaf, 64 levels down, is 7; axis 2^64. */
    noun deep = 7;
    for (int i = 0; i < 64; i++)
        deep = noun_cell_new(region, deep, 0);
    uint64_t words[2] = { 0, 1 };
    noun axis = noun_atom_from_words(region, words, 2);
    struct step_options options = { .max_steps = 1000000, .max_depth = 0, .write_line = ignore_line };
    struct step_result result;
    noun formula = noun_cell_new(region, 0, axis);
    step_run(region, deep, formula, &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    assert_int_equal(result.product, 7);

    /* Edit the same leaf to 9, then read it back with the fast evaluator. */
    noun edit = noun_cell_new(region, 10, noun_cell_new(region, noun_cell_new(region, axis, noun_cell_new(region, 1, 9)),
                                                        noun_cell_new(region, 0, 1)));
    step_run(region, deep, edit, &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    assert_int_equal(noun_fragment(axis, result.product), 9);
    assert_true(noun_equal(noun_fragment(3, result.product), 0));
}

/* A formula nested 200,000 deep (autocons heads inside heads) reduces
 * without recursing on the C stack. */
static void test_deep_formula(void **state)
{
    struct noun_region *region = nock_context_region(context);
    nock_context_reset(context);
    noun formula = noun_cell_new(region, 0, 1);
    for (int i = 0; i < 200000; i++)
        formula = noun_cell_new(region, formula, noun_cell_new(region, 1, 5));
    struct step_options options = { .max_steps = 10000000, .max_depth = 0, .write_line = ignore_line };
    options.print.max_cells = 50;
    struct step_result result;
    step_run(region, 42, formula, &options, &result);
    assert_int_equal(result.status, STEP_DONE);
    noun leftmost = result.product;
    for (int i = 0; i < 200000; i++) {
        assert_true(noun_is_cell(leftmost));
        assert_int_equal(noun_tail(leftmost), 5);
        leftmost = noun_head(leftmost);
    }
    assert_int_equal(leftmost, 42);
}

static void never_returns(void *context_pointer) { fail_msg("the caller's handler was called"); }

static void test_out_of_memory(void **state)
{
    struct noun_region *region = noun_region_new((size_t)1 << 20);
    assert_non_null(region);
    region->out_of_memory = never_returns;
    /* Every reduction builds cells and the reducer never collects, so an
     * endless loop fills the region. */
    noun formula, subject;
    struct text_error error;
    assert_true(text_parse(region, LOOP, strlen(LOOP), NULL, NULL, &formula, &error));
    subject = formula;
    struct step_options options = { .max_steps = 100000000, .max_depth = 0, .write_line = ignore_line };
    struct step_result result;
    step_run(region, subject, formula, &options, &result);
    assert_int_equal(result.status, STEP_OUT_OF_MEMORY);
    assert_ptr_equal(region->out_of_memory, never_returns);
    noun_region_free(region);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_increment_lines),
        cmocka_unit_test(test_nock_2_lines),
        cmocka_unit_test(test_autocons_lines),
        cmocka_unit_test(test_slot_and_edit_rules),
        cmocka_unit_test(test_shared_vectors),
        cmocka_unit_test(test_agrees_with_evaluator),
        cmocka_unit_test(test_crashes),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_interrupt_check),
        cmocka_unit_test(test_big_axis),
        cmocka_unit_test(test_deep_formula),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
