/* test_expression.c -- the expression language of a line (repl/expression.h).
 *
 * Noun text, each of the spec's operators and their nesting, names, every
 * Nock vector written as `*[subject formula]`, errors with their columns,
 * values waiting on the stack while the evaluator collects scratch, and
 * inputs nested a million deep (and ten million deep, unclosed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "repl/expression.h"

static const char dec_formula[] = "[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]";

static struct noun_home *home;
static struct nock_context *context;
static struct expression_evaluator *evaluator;
/* Names the resolver knows, bound to nouns in home. */
static noun bound_dec, bound_pair;

static noun resolve(void *resolver_context, const char *name, size_t length)
{
    (void)resolver_context;
    if (length == 3 && memcmp(name, "dec", 3) == 0)
        return bound_dec;
    if (length == 7 && memcmp(name, "my-pair", 7) == 0)
        return bound_pair;
    return NOUN_NONE;
}

static noun parse_noun(const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(nock_context_region(context), text, strlen(text), NULL, NULL, &n, &error))
        fail_msg("cannot parse %s: %s", text, error.message);
    return n;
}

static noun keep(const char *text)
{
    return noun_home_copy_out(home, nock_context_region(context), parse_noun(text));
}

static int setup_with_scratch(size_t scratch_bytes)
{
    home = noun_home_new(noun_arena_memory((size_t)8 << 30));
    struct nock_config config = { .scratch_max_bytes = scratch_bytes };
    context = home ? nock_context_new(home, &config) : NULL;
    evaluator = expression_evaluator_new();
    if (!home || !context || !evaluator)
        return -1;
    bound_dec = keep(dec_formula);
    bound_pair = keep("[7 7]");
    noun_home_root_add(home, &bound_dec);
    noun_home_root_add(home, &bound_pair);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with_scratch(0);
}

/* A small scratch, so a loop of a few million steps collects it. */
static int setup_small_scratch(void **state)
{
    (void)state;
    return setup_with_scratch((size_t)8 << 20);
}

static int teardown(void **state)
{
    (void)state;
    expression_evaluator_free(evaluator);
    nock_context_free(context);
    noun_home_free(home);
    return 0;
}

static enum expression_status run_length(const char *text, size_t length, noun *out, struct expression_error *error)
{
    nock_context_reset(context);
    struct expression_environment environment = { .nock = context, .resolve_name = resolve };
    return expression_evaluate(evaluator, &environment, text, length, 0, out, error);
}

static enum expression_status run(const char *text, noun *out, struct expression_error *error)
{
    return run_length(text, strlen(text), out, error);
}

/* The expression's value must equal the noun text `expected`. */
static void expect_expression_value(const char *text, const char *expected)
{
    noun value;
    struct expression_error error;
    if (run(text, &value, &error) != EXPRESSION_OK)
        fail_msg("%s failed (status %d): %s", text, error.status, error.message);
    noun wanted = parse_noun(expected);
    if (!noun_equal(value, wanted)) {
        char *got = text_format(value);
        fail_msg("%s gave %s, wanted %s", text, got ? got : "?", expected);
    }
}

/* The expression must fail with this status at this column (0: any). */
/* The message docs/noun-text.md gives for `text` in its table of
 * errors, into `out`; fails the test if the docs have no such line. */
static void documented_error(const char *text, char *out, size_t size)
{
    FILE *docs = fopen("docs/noun-text.md", "r");
    assert_non_null(docs);
    char line[512];
    size_t length = strlen(text);
    out[0] = '\0';
    while (fgets(line, sizeof line, docs)) {
        if (strncmp(line, text, length) != 0 || line[length] != ' ')
            continue;
        char *message = line + length;
        while (*message == ' ')
            message++;
        message[strcspn(message, "\n")] = '\0';
        snprintf(out, size, "%s", message);
        break;
    }
    fclose(docs);
    if (!out[0])
        fail_msg("docs/noun-text.md has no error line for %s", text);
}

static void expect_expression_failure(const char *text, enum expression_status status, size_t column)
{
    noun value;
    struct expression_error error;
    enum expression_status got = run(text, &value, &error);
    if (got != status)
        fail_msg("%s gave status %d (%s), wanted %d", text, got, error.message, status);
    if (column && error.column != column)
        fail_msg("%s failed at column %zu (%s), wanted column %zu", text, error.column, error.message, column);
    assert_true(strlen(error.message) > 0);
}

/* ---- tests -------------------------------------------------------------- */

static void test_noun_text(void **state)
{
    (void)state;
    expect_expression_value("42", "42");
    expect_expression_value("  42  ", "42");
    expect_expression_value("[1 2 3]", "[1 [2 3]]");
    expect_expression_value("[[1 2] [3 4]]", "[[1 2] 3 4]");
    expect_expression_value("0x2a", "42");
    expect_expression_value("1.000.000", "1000000");
    expect_expression_value("%foo", "7303014");
    expect_expression_value("'a'", "97");
    expect_expression_value("\"hi\"", "[104 105 0]");
    expect_expression_value("[\"a\\\"b\" 1]", "[[97 34 98 0] 1]");
    expect_expression_value("18446744073709551616", "0x1.0000.0000.0000.0000");
    expect_expression_value("[ 1\t2 ]", "[1 2]");
}

static void test_operators(void **state)
{
    (void)state;
    expect_expression_value("*[42 [4 0 1]]", "43");
    expect_expression_value("/[3 [1 2]]", "2");
    expect_expression_value("/[1 5]", "5");
    expect_expression_value("#[2 9 [1 2 3]]", "[9 2 3]");
    expect_expression_value("#[7 9 [1 2 3]]", "[1 2 9]");
    expect_expression_value("#[1 9 [1 2]]", "9");
    expect_expression_value("?[1 2]", "0");
    expect_expression_value("?5", "1");
    expect_expression_value("+5", "6");
    expect_expression_value("+9223372036854775807", "9223372036854775808");
    expect_expression_value("=[1 1]", "0");
    expect_expression_value("=[[1 2] [1 2]]", "0");
    expect_expression_value("=[1 2]", "1");
}

static void test_nesting(void **state)
{
    (void)state;
    expect_expression_value("*[*[1 [1 2 3]] [0 2]]", "2");
    expect_expression_value("[+5 *[42 [4 0 1]]]", "[6 43]");
    expect_expression_value("++5", "7");
    expect_expression_value("?+5", "1");
    expect_expression_value("=[+1 2]", "0");
    expect_expression_value("/[+1 [4 5]]", "4");
    expect_expression_value("[1 [2 +2] ?[0 0] =[3 3]]", "[1 [2 3] 0 0]");
    expect_expression_value("*[[+41 0] [0 2]]", "42");
}

static void test_names(void **state)
{
    (void)state;
    expect_expression_value("*[42 dec]", "41");
    expect_expression_value("my-pair", "[7 7]");
    expect_expression_value("=my-pair", "0");
    expect_expression_value("[dec my-pair]", "[[8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1] 7 7]");
    expect_expression_failure("nope", EXPRESSION_SYNTAX, 1);
    expect_expression_failure("[1 nope]", EXPRESSION_SYNTAX, 4);
    assert_int_equal(expression_name_length("my-pair rest", 12), 7);
    assert_int_equal(expression_name_length("a1-b2]", 6), 5);
    assert_int_equal(expression_name_length("1abc", 4), 0);
    assert_int_equal(expression_name_length("-abc", 4), 0);
    assert_int_equal(expression_name_length("", 0), 0);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_expression_failure("", EXPRESSION_SYNTAX, 1);
    expect_expression_failure("[1 2", EXPRESSION_SYNTAX, 5);
    expect_expression_failure("[1]", EXPRESSION_SYNTAX, 3);
    expect_expression_failure("[]", EXPRESSION_SYNTAX, 2);
    expect_expression_failure("1 2", EXPRESSION_SYNTAX, 3);
    expect_expression_failure("[1 2]]", EXPRESSION_SYNTAX, 6);
    expect_expression_failure("[1 2]x", EXPRESSION_SYNTAX, 6);
    expect_expression_failure("[1[2 3]]", EXPRESSION_SYNTAX, 3);
    expect_expression_failure("* [1 2]", EXPRESSION_SYNTAX, 2);
    expect_expression_failure("*", EXPRESSION_SYNTAX, 2);
    expect_expression_failure("[+]", EXPRESSION_SYNTAX, 3);
    expect_expression_failure("0x", EXPRESSION_SYNTAX, 0);
    expect_expression_failure("@", EXPRESSION_SYNTAX, 1);
    expect_expression_failure("\"abc", EXPRESSION_SYNTAX, 5);
    expect_expression_failure("[1 2 \x01]", EXPRESSION_SYNTAX, 6);
    /* A NUL byte inside the text is just a bad character, not the end. */
    noun value;
    struct expression_error error;
    assert_int_equal(run_length("[1 \0 2]", 7, &value, &error), EXPRESSION_SYNTAX);
    assert_int_equal(error.column, 4);
}

static void test_crashes(void **state)
{
    (void)state;
    expect_expression_failure("*[42 [0 2]]", EXPRESSION_CRASH, 1);
    expect_expression_failure("*42", EXPRESSION_CRASH, 1);
    expect_expression_failure("[1 *[42 [0 2]]]", EXPRESSION_CRASH, 4);
    expect_expression_failure("+[1 2]", EXPRESSION_CRASH, 1);
    expect_expression_failure("=5", EXPRESSION_CRASH, 1);
    expect_expression_failure("/[0 5]", EXPRESSION_CRASH, 1);
    expect_expression_failure("/[2 5]", EXPRESSION_CRASH, 1);
    expect_expression_failure("/[[1 2] 5]", EXPRESSION_CRASH, 1);
    expect_expression_failure("/5", EXPRESSION_CRASH, 1);
    expect_expression_failure("#[0 1 2]", EXPRESSION_CRASH, 1);
    expect_expression_failure("#[2 1 2]", EXPRESSION_CRASH, 1);
    expect_expression_failure("#[2 1]", EXPRESSION_CRASH, 1);
    /* A crash in a nested operand is reported at that operand's operator. */
    expect_expression_failure("[1 ++[1 2]]", EXPRESSION_CRASH, 5);
}

static void test_steps_counted(void **state)
{
    (void)state;
    noun value;
    struct expression_error error;
    assert_int_equal(run("*[10 dec]", &value, &error), EXPRESSION_OK);
    assert_int_equal(value, 9);
    assert_int_equal(error.steps, 120); /* 12 per count, as shared/bench says */
    assert_int_equal(run("[1 2]", &value, &error), EXPRESSION_OK);
    assert_int_equal(error.steps, 0);
}

/* Every vector of the shared Nock file, as the line `*[subject formula]`. */
static void test_nock_vectors(void **state)
{
    (void)state;
    const char *shared = getenv("SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/vectors/nock.tsv", shared && *shared ? shared : "../shared");
    FILE *file = fopen(path, "r");
    if (!file)
        fail_msg("cannot open %s (set SHARED)", path);
    char line[8192], text[8300];
    int count = 0;
    while (fgets(line, sizeof line, file)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *subject = line, *formula = strchr(subject, '\t');
        assert_non_null(formula);
        *formula++ = '\0';
        char *product = strchr(formula, '\t');
        assert_non_null(product);
        *product++ = '\0';
        snprintf(text, sizeof text, "*[%s %s]", subject, formula);
        if (strcmp(product, "!") == 0)
            expect_expression_failure(text, EXPRESSION_CRASH, 1);
        else
            expect_expression_value(text, product);
        count++;
    }
    fclose(file);
    assert_true(count >= 25);
}

/* Values waiting on the stack must survive scratch collections made by a
 * later evaluation in the same expression (run with a small scratch). */
static void test_waiting_values_survive_collection(void **state)
{
    (void)state;
    uint64_t collections_before = nock_context_counters(context)->scratch_collections;
    expect_expression_value("[[1 2 +3 [4 5] 18446744073709551616] 'kept' *[400000 dec] [6 7] *[5 dec]]",
                 "[[1 2 4 [4 5] 18446744073709551616] 'kept' 399999 [6 7] 4]");
    assert_true(nock_context_counters(context)->scratch_collections > collections_before);
}

/* Depth is bounded by memory, not the C stack. */
static void test_deep_nesting(void **state)
{
    (void)state;
    size_t depth = 1000000;
    size_t length = depth * 4 + 8;
    char *text = malloc(length);
    assert_non_null(text);
    size_t at = 0;
    memset(text, '[', depth);
    at = depth;
    text[at++] = '1';
    for (size_t i = 0; i < depth; i++) {
        memcpy(text + at, " 2]", 3);
        at += 3;
    }
    noun value;
    struct expression_error error;
    assert_int_equal(run_length(text, at, &value, &error), EXPRESSION_OK);
    size_t measured = 0;
    while (noun_is_cell(value)) {
        assert_int_equal(noun_tail(value), 2);
        value = noun_head(value);
        measured++;
    }
    assert_int_equal(measured, depth);
    assert_int_equal(value, 1);

    /* A million increments in a row: operators nest as deeply. */
    memset(text, '+', depth);
    text[depth] = '0';
    assert_int_equal(run_length(text, depth + 1, &value, &error), EXPRESSION_OK);
    assert_int_equal(value, depth);
    free(text);
}

static void test_ten_million_unclosed(void **state)
{
    (void)state;
    size_t depth = 10000000;
    char *text = malloc(depth);
    assert_non_null(text);
    memset(text, '[', depth);
    noun value;
    struct expression_error error;
    assert_int_equal(run_length(text, depth, &value, &error), EXPRESSION_SYNTAX);
    assert_int_equal(error.column, depth + 1);
    free(text);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* The errors the line syntax gives are the ones the docs show. */
static void test_errors_agree_with_the_docs(void **state)
{
    const char *const texts[] = { "[1]", "[[1 2][3 4]]", "[1 2 3 4 5" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char documented[300];
        documented_error(texts[i], documented, sizeof documented);
        noun value;
        struct expression_error error;
        assert_int_equal(run(texts[i], &value, &error), EXPRESSION_SYNTAX);
        if (strcmp(error.message, documented) != 0)
            fail_msg("%s: the line syntax says \"%s\", docs/noun-text.md \"%s\"", texts[i], error.message,
                     documented);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_noun_text),
        TEST(test_operators),
        TEST(test_nesting),
        TEST(test_names),
        TEST(test_syntax_errors),
        TEST(test_errors_agree_with_the_docs),
        TEST(test_crashes),
        TEST(test_steps_counted),
        TEST(test_nock_vectors),
        TEST(test_deep_nesting),
        TEST(test_ten_million_unclosed),
        cmocka_unit_test_setup_teardown(test_waiting_values_survive_collection, setup_small_scratch, teardown),
    };
    return cmocka_run_group_tests_name("expression", tests, NULL, NULL);
}
