/* test_ivory.c -- lite boot of $SHARED/ivory.pill (interp/ivory.h) and Hoon
 * against the booted kernel (interp/hoon.h): the kernel's mug is Vere's,
 * a dozen expressions give the products and printed text Hoon gives, parse
 * and type errors come back as Hoon's own messages, and jet check mode
 * (interp/jets.h) finds no difference between any jet and its Nock over
 * the boot and the same expressions.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "interp/hoon.h"
#include "interp/ivory.h"
#include "interp/jets.h"
#include "interp/mug.h"
#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "tests/support/support.h"

/* One evaluator with jets, booted once for the whole group. */
struct machine {
    struct noun_home *home;
    struct jets_dashboard *jets;
    struct nock_context *nock;
    struct hoon_runtime *hoon;
    struct ivory_boot boot;
};

static struct machine booted;
static char pill_path[4096];

static void machine_fast(void *context, noun clue, noun core)
{
    struct machine *machine = context;
    jets_dashboard_fast(machine->jets, machine->nock, clue, core);
}

static bool machine_open(struct machine *machine, enum jets_mode mode)
{
    memset(machine, 0, sizeof *machine);
    machine->home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    if (!machine->home)
        return false;
    machine->jets = jets_dashboard_new(machine->home);
    if (!machine->jets)
        return false;
    jets_dashboard_set_mode(machine->jets, mode);
    struct nock_config config = {
        .hooks = { .context = machine, .fast = machine_fast },
        .jets = jets_dashboard_hooks(machine->jets),
    };
    machine->nock = nock_context_new(machine->home, &config);
    return machine->nock != NULL;
}

static bool machine_boot(struct machine *machine)
{
    char why[256];
    if (!ivory_boot_file(machine->nock, pill_path, &machine->boot, why, sizeof why)) {
        print_error("boot failed: %s\n", why);
        return false;
    }
    machine->hoon = hoon_runtime_new(machine->home, machine->boot.kernel);
    nock_context_reset(machine->nock);
    return machine->hoon != NULL;
}

static void machine_close(struct machine *machine)
{
    hoon_runtime_free(machine->hoon);
    if (machine->nock)
        nock_context_free(machine->nock);
    jets_dashboard_free(machine->jets);
    if (machine->home)
        noun_home_free(machine->home);
    memset(machine, 0, sizeof *machine);
}

static int group_setup(void **state)
{
    (void)state;
    support_shared_path("ivory.pill", pill_path, sizeof pill_path);
    if (!machine_open(&booted, JETS_ON) || !machine_boot(&booted))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    machine_close(&booted);
    return 0;
}

/* ---- boot ----------------------------------------------------------------- */

static void test_boot_gives_vere_kernel(void **state)
{
    (void)state;
    assert_int_equal(booted.boot.kernel_mug, IVORY_KERNEL_MUG);
    assert_int_equal(mug_noun(hoon_runtime_kernel(booted.hoon)), 0x4bb376f0);
    assert_true(noun_home_holds(booted.home, booted.boot.kernel));
    assert_true(booted.boot.nock_steps > 100000);
    struct jets_stats stats;
    jets_dashboard_stats(booted.jets, &stats);
    /* the boot registers Hoon's cores and already uses jets */
    assert_true(stats.cores > 50);
    assert_true(stats.calls > 1000);
    print_message("boot: cue %.1f ms, pill to home %.1f ms, boot formula %.1f ms (%llu steps), kernel to home %.1f ms\n",
                  booted.boot.cue_seconds * 1e3, booted.boot.home_seconds * 1e3, booted.boot.nock_seconds * 1e3,
                  (unsigned long long)booted.boot.nock_steps, booted.boot.keep_seconds * 1e3);
}

static void test_not_a_pill(void **state)
{
    (void)state;
    struct ivory_boot boot;
    char why[256];
    const uint8_t jam_of_zero[] = { 0x02 };
    assert_false(ivory_boot_bytes(booted.nock, jam_of_zero, 1, &boot, why, sizeof why));
    assert_non_null(strstr(why, "not an ivory pill"));
    const uint8_t garbage[] = { 0x00, 0x00 };
    assert_false(ivory_boot_bytes(booted.nock, garbage, 2, &boot, why, sizeof why));
    assert_false(ivory_boot_file(booted.nock, "/nonexistent/ivory.pill", &boot, why, sizeof why));
    assert_non_null(strstr(why, "cannot open"));
    nock_context_reset(booted.nock);
}

/* ---- expressions ---------------------------------------------------------- */

struct example {
    const char *hoon;
    const char *product;   /* noun text; NULL: Hoon says no */
    const char *printed;   /* Hoon's printer, first line; or a line of
                              Hoon's error message */
};

static const struct example examples[] = {
    { "(add 2 2)", "4", "4" },
    { "(sub 10 3)", "7", "7" },
    { "(mul 123.456.789 987.654.321)", "121932631112635269", "121.932.631.112.635.269" },
    { "(pow 2 100)", "1267650600228229401496703205376", "1.267.650.600.228.229.401.496.703.205.376" },
    { "[(div 100 7) (mod 100 7)]", "[14 2]", "[14 2]" },
    { "(lent \"hello\")", "5", "5" },
    { "(flop ~[1 2 3])", "[3 2 1 0]", "~[3 2 1]" },
    { "(weld \"ab\" \"cd\")", "\"abcd\"", "\"abcd\"" },
    { "(crip \"hello\")", "'hello'", "'hello'" },
    { "(~(get by (malt ~[[1 2] [3 4]])) 3)", "[0 4]", "[~ 4]" },
    { "(~(has in (silt ~[1 2 3])) 2)", "0", "%.y" },
    { "(cut 3 [1 2] 'abcdef')", "'bc'", "25.442" },
    { "(scot %ud 1.234)", "'1.234'", "~.1.234" },
    { "(roll (gulf 1 10) add)", "55", "55" },
    { "`@ux`(bex 70)", "0x40.0000.0000.0000.0000", "0x40.0000.0000.0000.0000" },
    /* the jets that hide a crash of %140's own Hoon, as Vere's do: bend's
     * documented examples (the Nock crashes when raq says ~), and muk,
     * whose Hoon doesn't pad the key (crashes) */
    { "(scan \"aa\" ;~((bend |=([a=char b=char] ?.(=(a b) ~ (some +(a))))) prn prn))", "98", "98" },
    { "(;~((bend |=([a=char b=char] ?.(=(a b) ~ (some +(a))))) prn prn) [1 1] \"qs\")",
      "[[1 3] 0 113 [1 2] \"s\"]", "[p=[p=1 q=3] q=[~ u=[p=113 q=[p=[p=1 q=2] q=\"s\"]]]]" },
    { "(muk 0 0 0)", "0", "0" },
    { "(muk 0xcafe.babe 4 'abcd')", "803860271", "803.860.271" },
};
#define EXAMPLE_COUNT (sizeof examples / sizeof examples[0])

static noun parse_text(struct nock_context *nock, const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(nock_context_region(nock), text, strlen(text), NULL, NULL, &n, &error))
        fail_msg("bad expected noun %s: %s", text, error.message);
    return n;
}

static bool lines_contain(const struct hoon_result *result, const char *text);

static void run_example(struct machine *machine, const struct example *example)
{
    struct hoon_result result;
    bool ok = hoon_evaluate(machine->hoon, machine->nock, example->hoon, strlen(example->hoon), HOON_PRINT, 80,
                            &result);
    if (!example->product) {
        if (ok || result.status != HOON_ERROR || !lines_contain(&result, example->printed))
            fail_msg("%s: wanted Hoon's error with \"%s\", got %s \"%s\"", example->hoon, example->printed,
                     ok ? "a product," : result.failure, result.line_count ? result.lines[0] : "");
        hoon_result_free(&result);
        nock_context_reset(machine->nock);
        return;
    }
    if (!ok)
        fail_msg("%s: %s%s%s", example->hoon, result.failure, result.line_count ? ": " : "",
                 result.line_count ? result.lines[0] : "");
    if (!noun_equal(result.product, parse_text(machine->nock, example->product))) {
        char *got = text_format(result.product);
        fail_msg("%s gave %s, wanted %s", example->hoon, got, example->product);
    }
    if (result.line_count == 0 || strcmp(result.lines[0], example->printed) != 0)
        fail_msg("%s printed \"%s\", wanted \"%s\"", example->hoon, result.line_count ? result.lines[0] : "",
                 example->printed);
    hoon_result_free(&result);
    nock_context_reset(machine->nock);
}

static void test_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < EXAMPLE_COUNT; i++)
        run_example(&booted, &examples[i]);
}

/* (turn (gulf 1 100) |=(a=@ (mul a a))): the squares, as a list. */
static void test_squares(void **state)
{
    (void)state;
    const char *text = "(turn (gulf 1 100) |=(a=@ (mul a a)))";
    struct hoon_result result;
    assert_true(hoon_evaluate(booted.hoon, booted.nock, text, strlen(text), HOON_PRINT, 80, &result));
    noun list = result.product;
    for (uint64_t i = 1; i <= 100; i++) {
        assert_true(noun_is_cell(list));
        assert_int_equal(noun_head(list), i * i);
        list = noun_tail(list);
    }
    assert_int_equal(list, 0);
    /* too wide for one 80-column line: Hoon's printer breaks it */
    assert_true(result.line_count > 1);
    assert_string_equal(result.lines[0], "~[");
    hoon_result_free(&result);
    nock_context_reset(booted.nock);
}

static void test_compile_only(void **state)
{
    (void)state;
    struct hoon_result result;
    assert_true(hoon_evaluate(booted.hoon, booted.nock, "(add 2 2)", 9, HOON_COMPILE, 80, &result));
    assert_int_equal(result.product, NOUN_NONE);
    /* a call of the library's add: [8 [9 <add> 0 <core>] 9 2 10 [6 ...] 0 2] */
    assert_true(noun_is_cell(result.formula));
    assert_int_equal(noun_head(result.formula), 8);
    assert_true(noun_equal(result.formula,
                           parse_text(booted.nock, "[8 [9 36 0 4095] 9 2 10 [6 [7 [0 3] 1 2] 7 [0 3] 1 2] 0 2]")));
    hoon_result_free(&result);
    nock_context_reset(booted.nock);
}

static bool lines_contain(const struct hoon_result *result, const char *text)
{
    for (size_t i = 0; i < result->line_count; i++)
        if (strstr(result->lines[i], text))
            return true;
    return false;
}

static void expect_hoon_error(const char *text, const char *message, const char *also)
{
    struct hoon_result result;
    assert_false(hoon_evaluate(booted.hoon, booted.nock, text, strlen(text), HOON_PRINT, 80, &result));
    assert_int_equal(result.status, HOON_ERROR);
    if (!lines_contain(&result, message) || (also && !lines_contain(&result, also)))
        fail_msg("%s: wanted \"%s\" in Hoon's message, got %zu lines, first \"%s\"", text, message,
                 result.line_count, result.line_count ? result.lines[0] : "");
    hoon_result_free(&result);
    nock_context_reset(booted.nock);
}

static void test_hoon_errors(void **state)
{
    (void)state;
    expect_hoon_error("(add 2", "syntax error", "{1 7}");
    expect_hoon_error("(add \"a\" 2)", "nest-fail", "-need.@");
    expect_hoon_error("(no-such-arm 2)", "-find.no-such-arm", NULL);
    expect_hoon_error("(dec 0)", "decrement-underflow", NULL);
    expect_hoon_error("~|(%my-own-words !!)", "my-own-words", NULL);
    expect_hoon_error("(muk 1 2 'abc')", "subtract-underflow", NULL);
    /* after all that, still fine */
    run_example(&booted, &examples[0]);
}

/* ---- history --------------------------------------------------------------- */

/* Expressions whose answers once depended on what ran before them (state
 * left in the evaluator by earlier lines changed them): each must print the
 * same first line whatever order they run in, each order on a fresh boot. */
static const struct example order_examples[] = {
    { "(add 1 1)", "2", "2" },
    { "(mule |.(~|(%error !!)))", "[1 [1717658988 \"%error\"] 0]", "[%.n p=~[[%leaf p=\"%error\"]]]" },
    { "(mule |.((trip %ab)))", "[0 \"ab\"]", "[%.y p=\"ab\"]" },
    { "(mack |.((trip %ab)) [9 2 0 1])", "[0 \"ab\"]", "[~ [97 98 0]]" },
    { "(mack |.((lsh 3 1)) [9 2 0 1])", "[0 256]", "[~ 256]" },
    { "(muk 6 15 'jerry')", "2881503571", "2.881.503.571" },
    { "(scan \"ba\" ;~((bend |=([a=char b=char] ?.(=(a b) ~ (some +(a))))) prn prn))", NULL, "{1 3}" },
};
#define ORDER_EXAMPLE_COUNT (sizeof order_examples / sizeof order_examples[0])

static void run_in_order(const size_t *order)
{
    struct machine fresh;
    assert_true(machine_open(&fresh, JETS_ON));
    assert_true(machine_boot(&fresh));
    for (size_t i = 0; i < ORDER_EXAMPLE_COUNT; i++)
        run_example(&fresh, &order_examples[order[i]]);
    machine_close(&fresh);
}

static void test_answers_do_not_depend_on_order(void **state)
{
    (void)state;
    size_t order[ORDER_EXAMPLE_COUNT];
    for (size_t i = 0; i < ORDER_EXAMPLE_COUNT; i++)
        order[i] = i;
    run_in_order(order);
    for (size_t i = 0; i < ORDER_EXAMPLE_COUNT; i++)
        order[i] = ORDER_EXAMPLE_COUNT - 1 - i;
    run_in_order(order);
}

/* ---- virtual Nock ------------------------------------------------------------ */

/* +mink's three tones and what its scry gate's answers do: ~ blocks, [~ ~]
 * crashes with a %hunk on the trace, [~ ~ v] gives v; a crash of the gate
 * itself is a crash of the +mink call (so +mule around it sees it); and a
 * block inside an inner gate blocks the outer +mink. */
static const struct example virtual_examples[] = {
    { "(mink [[7 8] [0 3]] ,~)", "[0 8]", "[%0 product=8]" },
    { "(mink [0 12 [1 %ref] 1 /foo] |=(^ ~))", "[1 7303014 0]", "[%1 block=[7.303.014 0]]" },
    { "(mink [0 12 [1 %ref] 1 /foo] |=(^ ``42))", "[0 42]", "[%0 product=42]" },
    { "(mink [0 12 [1 %ref] 1 /foo] |=(^ [~ ~]))", "[2 [1802401128 6710642 7303014 0] 0]",
      "[%2 trace=~[[~.hunk [6.710.642 7.303.014 0]]]]" },
    { "(mule |.((mink [0 12 [1 %ref] 1 /foo] |=(^ !!))))", "[1 0]", "[%.n p=~]" },
    { "(mink [~ [%9 2 %1 |.((mink [0 [12 [1 %r] 1 /a]] |=(a=^ ;;((unit (unit)) .*(a [12 [0 2] 0 3])))))]] |=(^ ~))",
      "[1 97 0]", "[%1 block=[97 0]]" },
    { "(mink [~ [%9 2 %1 |.((mink [0 [12 [1 %r] 1 /a]] |=(a=^ ``.*(a [12 [0 2] 0 3]))))]] |=(^ ``7))",
      "[0 0 7]", "[%0 product=[0 7]]" },
    { "(mock [0 [11 [%spot 1 [/a [[1 2] [3 4]]]] 0 5]] |=(^ ~))",
      "[2 [1702063986 [[58 0] 0 0] [1702063986 [[47 0] [47 0] 0] [1717658988 97 0] 0] "
      "[1717658988 \"<[1 2].[3 4]>\"] 0] 0]",
      "[ %2" },
};
#define VIRTUAL_EXAMPLE_COUNT (sizeof virtual_examples / sizeof virtual_examples[0])

static void test_virtual_nock(void **state)
{
    (void)state;
    for (size_t i = 0; i < VIRTUAL_EXAMPLE_COUNT; i++)
        run_example(&booted, &virtual_examples[i]);
    struct hoon_result result;
    const char *top_scry = ".*(0 [12 [1 0] 1 0])";
    assert_false(hoon_evaluate(booted.hoon, booted.nock, top_scry, strlen(top_scry), HOON_PRINT, 80, &result));
    assert_true(lines_contain(&result, "no scry gate"));
    hoon_result_free(&result);
    nock_context_reset(booted.nock);
}

static void *interrupt_when_running(void *argument)
{
    struct machine *machine = argument;
    /* wait for the endless loop to be under way: compiling the line takes
     * under a million Nock 9 steps, the loop one a turn */
    const uint64_t *calls = &nock_context_counters(machine->nock)->steps_by_opcode[9];
    uint64_t seen = __atomic_load_n(calls, __ATOMIC_RELAXED);
    while (__atomic_load_n(calls, __ATOMIC_RELAXED) < seen + 20000000)
        sched_yield();
    nock_interrupt(machine->nock);
    return NULL;
}

/* An interrupt inside +mule is not a crash +mule catches: the line stops. */
static void test_interrupt_inside_mule(void **state)
{
    (void)state;
    const char *endless = "(mule |.(|-($)))";
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, interrupt_when_running, &booted), 0);
    struct hoon_result result;
    assert_false(hoon_evaluate(booted.hoon, booted.nock, endless, strlen(endless), HOON_PRINT, 80, &result));
    pthread_join(thread, NULL);
    assert_int_equal(result.status, HOON_FAILED);
    assert_string_equal(result.failure, "running the expression: interrupted");
    hoon_result_free(&result);
    nock_context_reset(booted.nock);
    run_example(&booted, &order_examples[2]);
}

/* ---- check mode ------------------------------------------------------------- */

static void test_check_mode_finds_no_difference(void **state)
{
    (void)state;
    struct machine checked;
    assert_true(machine_open(&checked, JETS_CHECK));
    jets_dashboard_set_check_budget(checked.jets, 50);
    assert_true(machine_boot(&checked));
    assert_int_equal(checked.boot.kernel_mug, IVORY_KERNEL_MUG);
    for (size_t i = 0; i < EXAMPLE_COUNT; i++)
        run_example(&checked, &examples[i]);
    for (size_t i = 0; i < ORDER_EXAMPLE_COUNT; i++)
        run_example(&checked, &order_examples[i]);
    struct jets_stats stats;
    jets_dashboard_stats(checked.jets, &stats);
    print_message("check mode: %llu calls compared, %llu agreed, %llu differed, %llu skipped\n",
                  (unsigned long long)stats.checks, (unsigned long long)stats.check_agreements,
                  (unsigned long long)stats.check_mismatches, (unsigned long long)stats.check_skipped);
    for (size_t i = 0; i < jets_dashboard_mismatch_count(checked.jets) && i < 10; i++)
        print_error("%s\n", jets_dashboard_mismatch(checked.jets, i));
    assert_int_equal(stats.check_mismatches, 0);
    assert_true(stats.checks > 1000);
    /* most checks finish inside the budget */
    assert_true(stats.check_skipped * 10 < stats.checks);
    machine_close(&checked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_gives_vere_kernel),
        cmocka_unit_test(test_not_a_pill),
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_squares),
        cmocka_unit_test(test_compile_only),
        cmocka_unit_test(test_hoon_errors),
        cmocka_unit_test(test_answers_do_not_depend_on_order),
        cmocka_unit_test(test_virtual_nock),
        cmocka_unit_test(test_interrupt_inside_mule),
        cmocka_unit_test(test_check_mode_finds_no_difference),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
