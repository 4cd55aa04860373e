/* Unit tests for interp/kernel: applying events, refusing bad ones,
 * effects and spawns (done, crash, timeout, memory limit), %bout spans,
 * and that each sample kernel in samples/ does what its header says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/kernel.h"
#include "interp/mug.h"
#include "interp/noun.h"
#include "interp/text.h"
#include "repl/samples.h"
#include "tests/support/support.h"

static struct noun_home *home;
static struct noun_region *region; /* where tests parse their nouns */

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

static struct kernel *new_kernel(noun state)
{
    char why[200];
    struct kernel *kernel = kernel_new(home, state, 0, NULL, why, sizeof why);
    if (!kernel)
        fail_msg("kernel_new: %s", why);
    return kernel;
}

static struct kernel *load_sample(const char *name)
{
    noun kernel;
    char why[300];
    if (!samples_load_kernel(name, home, &kernel, why, sizeof why))
        fail_msg("%s", why);
    return new_kernel(kernel);
}

/* Apply an event given as text; fail the test unless it is accepted. */
static struct kernel_applied apply(struct kernel *kernel, const char *event)
{
    struct kernel_applied applied;
    struct kernel_error error;
    if (kernel_apply(kernel, parse(event), &applied, &error) != KERNEL_OK)
        fail_msg("%s refused: %s", event, error.message);
    return applied;
}

static enum kernel_status refuse(struct kernel *kernel, const char *event, struct kernel_error *error)
{
    struct kernel_applied applied;
    uint64_t before_number = kernel_event_number(kernel);
    noun before = kernel_state(kernel);
    enum kernel_status status = kernel_apply(kernel, parse(event), &applied, error);
    assert_int_not_equal(status, KERNEL_OK);
    assert_true(kernel_state(kernel) == before);
    assert_int_equal(kernel_event_number(kernel), before_number);
    return status;
}

/* Whether a trace holds [tag clue] with clue equal to the cord `text`. */
static bool trace_has(noun trace, const char *tag, const char *text)
{
    noun cord = noun_atom_from_bytes(region, (const uint8_t *)text, strlen(text));
    for (; noun_is_cell(trace); trace = noun_tail(trace)) {
        noun entry = noun_head(trace);
        if (noun_is_cell(entry) && noun_head(entry) == noun_short_term(tag) && noun_equal(noun_tail(entry), cord))
            return true;
    }
    return false;
}

/* ---- the kernel cycle ------------------------------------------------------ */

static void test_counter_counts(void **state)
{
    struct kernel *kernel = load_sample("counter");
    for (int i = 1; i <= 3; i++) {
        struct kernel_applied applied = apply(kernel, i == 2 ? "['any' %noun 7]" : "%inc");
        char expected[64];
        snprintf(expected, sizeof expected, "[[%%out %d] 0]", i);
        assert_noun(applied.effects, expected);
        assert_int_equal(kernel_event_number(kernel), i);
        assert_int_equal(applied.mug, kernel_mug(kernel));
        assert_int_equal(noun_fragment(7, kernel_state(kernel)), i);
        assert_int_equal(noun_fragment(6, kernel_state(kernel)), 0);
        assert_true(noun_home_holds(home, kernel_state(kernel)));
        assert_true(applied.cost.steps > 0);
    }
    kernel_free(kernel);
}

static void test_bad_products_are_refused(void **state)
{
    struct kernel_error error;
    /* a "kernel" whose arm gives an atom */
    struct kernel *atom_kernel = new_kernel(parse("[[1 42] 0 0]"));
    assert_int_equal(refuse(atom_kernel, "%inc", &error), KERNEL_BAD_PRODUCT);
    kernel_free(atom_kernel);
    /* effects that are not a null-terminated list */
    struct kernel *bad_list = new_kernel(parse("[[[1 [1 2]] 0 1] 0 0]"));
    assert_int_equal(refuse(bad_list, "%inc", &error), KERNEL_BAD_PRODUCT);
    assert_non_null(strstr(error.message, "list"));
    kernel_free(bad_list);
    /* a crash, with its trace */
    struct kernel *crashing = new_kernel(parse("[[11 [%mean 1 'nope'] 0 0] 0 0]"));
    assert_int_equal(refuse(crashing, "%inc", &error), KERNEL_CRASH);
    assert_true(trace_has(error.trace, "mean", "nope"));
    kernel_free(crashing);
    /* not a gate at all */
    struct kernel *atom = new_kernel(7);
    assert_int_equal(refuse(atom, "%inc", &error), KERNEL_CRASH);
    kernel_free(atom);
}

static void test_bout_spans_are_recorded(void **state)
{
    /* decrements the event (by counting up to it) under %bout, keeps it */
    struct kernel *kernel = new_kernel(parse(
        "[[[1 0] [0 2] [1 0] 11 [%bout 1 0] 7 [0 6] 8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1] 0 0]"));
    struct kernel_applied applied = apply(kernel, "1000");
    assert_int_equal(applied.cost.span_count, 1);
    assert_int_equal(noun_fragment(7, kernel_state(kernel)), 999);
    assert_true(applied.cost.spans[0].duration_ns > 0);
    assert_true(applied.cost.spans[0].offset_ns + applied.cost.spans[0].duration_ns <= applied.cost.wall_ns);
    kernel_free(kernel);
}

/* ---- kv ------------------------------------------------------------------------ */

/* The root of shard s in a kv kernel. */
static noun shard_root(struct kernel *kernel, unsigned s) { return noun_fragment(496 + s, kernel_state(kernel)); }

static void test_kv_puts_and_gets(void **state)
{
    struct kernel *kernel = load_sample("kv");
    struct kernel_applied applied = apply(kernel, "[%put 0x1.2345 42]");
    assert_noun(applied.effects, "0");
    applied = apply(kernel, "[%get 0x1.2345]");
    assert_noun(applied.effects, "[[%out 0x1.2345 42] 0]");
    applied = apply(kernel, "[%get 0x1.2346]");
    assert_noun(applied.effects, "[[%out 0x1.2346 0] 0]");
    applied = apply(kernel, "[%put 0x1.2345 [1 2 3]]");
    applied = apply(kernel, "[%get 0x1.2345]");
    assert_noun(applied.effects, "[[%out 0x1.2345 1 2 3] 0]");
    /* a get changes nothing but the event number */
    uint32_t mug = kernel_mug(kernel);
    apply(kernel, "[%get 0x1.ffff]");
    assert_int_equal(kernel_mug(kernel), mug);
    kernel_free(kernel);
}

static void test_kv_refuses_bad_keys_and_events(void **state)
{
    struct kernel *kernel = load_sample("kv");
    apply(kernel, "[%put 0x1.0000 1]");
    struct kernel_error error;
    const char *bad[] = { "[%put 0xffff 1]", "[%put 0x2.0000 1]", "[%put 5 1]", "[%get 0x2.0001]", "[%get 1]" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(refuse(kernel, bad[i], &error), KERNEL_CRASH);
        assert_true(trace_has(error.trace, "mean", "kv: key out of range"));
    }
    assert_int_equal(refuse(kernel, "[%del 0x1.0000]", &error), KERNEL_CRASH);
    assert_true(trace_has(error.trace, "mean", "kv: unknown event"));
    kernel_free(kernel);
}

static void test_kv_declares_its_shards(void **state)
{
    struct kernel *kernel = load_sample("kv");
    apply(kernel, "[%get 0x1.0000]"); /* builds the table */
    /* [%route 31 [[%put 6] [%get 3] ~] %shards 496 ... 511 ~]: a key, at
     * axis 6 of a %put and 3 of a %get, is an axis of the table (31) */
    noun routed = noun_fragment(14, kernel_state(kernel));
    assert_true(noun_is_cell(routed));
    assert_int_equal(noun_head(routed), noun_short_term("route"));
    assert_int_equal(noun_fragment(6, routed), 31);
    noun routes = noun_fragment(14, routed);
    assert_int_equal(noun_fragment(4, routes), noun_short_term("put"));
    assert_int_equal(noun_fragment(5, routes), 6);
    assert_int_equal(noun_fragment(12, routes), noun_short_term("get"));
    assert_int_equal(noun_fragment(13, routes), 3);
    assert_int_equal(noun_fragment(7, routes), 0);
    noun declaration = noun_fragment(15, routed);
    assert_true(noun_is_cell(declaration));
    assert_int_equal(noun_head(declaration), noun_short_term("shards"));
    unsigned count = 0;
    for (noun axes = noun_tail(declaration); noun_is_cell(axes); axes = noun_tail(axes), count++) {
        noun axis = noun_head(axes);
        assert_int_equal(axis, 496 + count);
        assert_true(noun_fragment(axis, kernel_state(kernel)) != NOUN_NONE);
    }
    assert_int_equal(count, 16);
    kernel_free(kernel);
}

static void test_kv_event_touches_one_shard(void **state)
{
    struct kernel *kernel = load_sample("kv");
    apply(kernel, "[%get 0x1.0000]");
    for (unsigned shard = 0; shard < 16; shard++) {
        noun before[16];
        for (unsigned s = 0; s < 16; s++)
            before[s] = shard_root(kernel, s);
        noun battery = noun_fragment(2, kernel_state(kernel));
        char event[64];
        snprintf(event, sizeof event, "[%%put %u %u]", 0x10000 + shard * 0x1000 + 77 * shard, shard + 1000);
        apply(kernel, event);
        for (unsigned s = 0; s < 16; s++) {
            bool same = noun_equal(before[s], shard_root(kernel, s));
            assert_int_equal(same, s != shard);
        }
        assert_true(noun_fragment(2, kernel_state(kernel)) == battery);
        assert_int_equal(noun_fragment(6, kernel_state(kernel)), 0);
    }
    kernel_free(kernel);
}

/* ---- jobs and spawns --------------------------------------------------------------- */

/* The single spawn among an event's effects. */
static struct kernel_spawn only_spawn(noun effects, uint64_t event_number)
{
    assert_int_equal(kernel_effect_count(effects), 1);
    struct kernel_spawn spawn;
    assert_true(kernel_parse_spawn(noun_head(effects), event_number, 0, &spawn));
    return spawn;
}

static void test_jobs_spawns_fibonacci(void **state)
{
    struct kernel *kernel = load_sample("jobs");
    struct kernel_backend *backend = kernel_backend_serial(home, NULL);
    assert_non_null(backend);
    for (uint64_t n = 0; n <= 14; n++) {
        char event[64];
        snprintf(event, sizeof event, "[%%fib %llu %llu 0]", (unsigned long long)(100 + n), (unsigned long long)n);
        struct kernel_applied applied = apply(kernel, event);
        struct kernel_spawn spawn = only_spawn(applied.effects, kernel_event_number(kernel));
        assert_int_equal(spawn.id, 100 + n);
        assert_int_equal(spawn.subject, n);
        assert_int_equal(spawn.timeout_ms, 0);
        char why[200];
        assert_true(backend->submit(backend->self, &spawn, why, sizeof why));
        struct kernel_outcome outcome;
        assert_true(backend->take(backend->self, false, &outcome));
        struct kernel_outcome extra;
        assert_false(backend->take(backend->self, false, &extra));
        assert_int_equal(outcome.result, KERNEL_SPAWN_DONE);
        char expected[96];
        snprintf(expected, sizeof expected, "[%%done %llu %llu]", (unsigned long long)(100 + n),
                 (unsigned long long)support_fibonacci(n));
        assert_noun(outcome.event, expected);
        assert_int_equal(outcome.cost.span_count, 1); /* FIB runs under %bout */
        /* the outcome goes back in, is kept and shown */
        struct kernel_applied kept;
        struct kernel_error error;
        assert_int_equal(kernel_apply(kernel, outcome.event, &kept, &error), KERNEL_OK);
        assert_true(noun_equal(noun_head(noun_fragment(15, kernel_state(kernel))), outcome.event));
    }
    assert_int_equal(noun_fragment(14, kernel_state(kernel)), 15); /* started */
    kernel_backend_free(backend);
    kernel_free(kernel);
}

static void test_jobs_options_boom_and_unknown(void **state)
{
    struct kernel *kernel = load_sample("jobs");
    struct kernel_spawn spawn = only_spawn(apply(kernel, "[%fib 7 10 [1500 64]]").effects, 1);
    assert_int_equal(spawn.timeout_ms, 1500);
    assert_int_equal(spawn.memory_mb, 64);
    assert_true(noun_is_cell(spawn.formula) && noun_head(spawn.formula) == 7);

    spawn = only_spawn(apply(kernel, "[%boom 8]").effects, 2);
    struct kernel_backend *backend = kernel_backend_serial(home, NULL);
    char why[200];
    struct kernel_outcome outcome;
    assert_true(backend->submit(backend->self, &spawn, why, sizeof why));
    assert_true(backend->take(backend->self, false, &outcome));
    assert_int_equal(outcome.result, KERNEL_SPAWN_CRASH);
    assert_int_equal(noun_head(outcome.event), noun_short_term("crash"));
    assert_true(trace_has(noun_tail(noun_tail(outcome.event)), "mean", "jobs: boom"));
    kernel_backend_free(backend);

    struct kernel_error error;
    assert_int_equal(refuse(kernel, "[%nope 1]", &error), KERNEL_CRASH);
    assert_true(trace_has(error.trace, "mean", "jobs: unknown event"));
    kernel_free(kernel);
}

static void test_spawn_timeout_and_memory_limit(void **state)
{
    struct kernel_backend *backend = kernel_backend_serial(home, NULL);
    struct kernel_outcome outcome;
    char why[200];
    /* an endless loop with a 50 ms timeout */
    struct kernel_spawn spawn = { .event_number = 3, .effect_index = 1, .id = 9, .subject = 0,
                                  .formula = parse("[8 [1 6 [1 1] [0 0] 9 2 0 1] 9 2 0 1]"), .timeout_ms = 50 };
    assert_true(backend->submit(backend->self, &spawn, why, sizeof why));
    assert_true(backend->take(backend->self, false, &outcome));
    assert_int_equal(outcome.result, KERNEL_SPAWN_TIMEOUT);
    assert_noun(outcome.event, "[%timeout 9]");
    assert_true(outcome.cost.wall_ns >= 40 * 1000000ull);
    assert_int_equal(outcome.spawn.event_number, 3);
    assert_int_equal(outcome.spawn.effect_index, 1);

    /* a loop that keeps every number it makes, in 1 MiB of scratch */
    spawn.timeout_ms = 0;
    spawn.memory_mb = 1;
    spawn.subject = 0;
    spawn.formula = parse("[8 [1 6 [5 [1 0] 1 1] [0 0] 9 2 [0 2] [4 0 6] [0 6] 0 7] 9 2 [0 2] [1 0] 0 3]");
    assert_true(backend->submit(backend->self, &spawn, why, sizeof why));
    assert_true(backend->take(backend->self, false, &outcome));
    assert_int_equal(outcome.result, KERNEL_SPAWN_FAILED);
    assert_true(outcome.event == NOUN_NONE);
    assert_non_null(strstr(outcome.why, "memory"));
    kernel_backend_free(backend);
}

static void test_parse_spawn_shapes(void **state)
{
    struct kernel_spawn spawn;
    assert_true(kernel_parse_spawn(parse("[%spawn 1 2 [4 0 1]]"), 5, 2, &spawn));
    assert_int_equal(spawn.id, 1);
    assert_int_equal(spawn.subject, 2);
    assert_noun(spawn.formula, "[4 0 1]");
    assert_int_equal(spawn.event_number, 5);
    assert_int_equal(spawn.effect_index, 2);
    assert_int_equal(spawn.timeout_ms, 0);
    assert_true(kernel_parse_spawn(parse("[%spawn 1 2 [4 0 1] [10 20]]"), 5, 2, &spawn));
    assert_noun(spawn.formula, "[4 0 1]");
    assert_int_equal(spawn.timeout_ms, 10);
    assert_int_equal(spawn.memory_mb, 20);
    assert_false(kernel_parse_spawn(parse("[%spawn 1 2]"), 5, 2, &spawn));
    assert_false(kernel_parse_spawn(parse("[%spawn 1 2 3]"), 5, 2, &spawn));
    assert_false(kernel_parse_spawn(parse("[%out 1 2 [4 0 1]]"), 5, 2, &spawn));
    assert_false(kernel_parse_spawn(7, 5, 2, &spawn));
    char tag[9];
    assert_true(kernel_effect_tag(parse("[%out 1]"), tag));
    assert_string_equal(tag, "out");
    assert_false(kernel_effect_tag(parse("[[1 2] 3]"), tag));
    assert_int_equal(kernel_effect_count(parse("[1 2 3 0]")), 3);
}

static void test_kernel_survives_home_collection(void **state)
{
    struct kernel *kernel = load_sample("counter");
    apply(kernel, "%inc");
    uint32_t mug = kernel_mug(kernel);
    assert_true(noun_home_collect(home));
    assert_int_equal(kernel_mug(kernel), mug);
    struct kernel_applied applied = apply(kernel, "%inc");
    assert_noun(applied.effects, "[[%out 2] 0]");
    kernel_free(kernel);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_counts),
        cmocka_unit_test(test_bad_products_are_refused),
        cmocka_unit_test(test_bout_spans_are_recorded),
        cmocka_unit_test(test_kv_puts_and_gets),
        cmocka_unit_test(test_kv_refuses_bad_keys_and_events),
        cmocka_unit_test(test_kv_declares_its_shards),
        cmocka_unit_test(test_kv_event_touches_one_shard),
        cmocka_unit_test(test_jobs_spawns_fibonacci),
        cmocka_unit_test(test_jobs_options_boom_and_unknown),
        cmocka_unit_test(test_spawn_timeout_and_memory_limit),
        cmocka_unit_test(test_parse_spawn_shapes),
        cmocka_unit_test(test_kernel_survives_home_collection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
