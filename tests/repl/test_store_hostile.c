/* Unit tests for repl/store and the kernel commands over stores that hold
 * what a live run would never log: an event the kernel loops on forever,
 * an event the kernel refuses.  Such logs come from other tools, damaged
 * disks or older nocklabs; they are made here through the store and log
 * interfaces directly.  What is checked: one interrupt stops the whole
 * line (the replay that opening the store runs and whatever the line would
 * run next), and a refused event's %mean trace is shown the same way by
 * :poke, :trace and replay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/jam.h"
#include "repl/session.h"
#include "repl/store.h"
#include "tests/support/support.h"

static struct noun_region *region;
static char base[64];

static int set_up(void **state)
{
    snprintf(base, sizeof base, "/tmp/nocklab-test-store-XXXXXX");
    if (!mkdtemp(base))
        return -1;
    return support_region_open(&region);
}

static int tear_down(void **state)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    return system(command) == 0 ? support_region_close(&region) : -1;
}

/* A store in base/name booted with the kernel `kernel_text`, whose log
 * holds `events` (noun text each) as events 1, 2, ... with mug 0: logged as
 * if the kernel had accepted them, whatever it does with them. */
static void make_store(const char *name, const char *kernel_text, const char *const *events, int count,
                       char *directory, size_t size)
{
    snprintf(directory, size, "%s/%s", base, name);
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    assert_non_null(home);
    struct store_error error = { 0 };
    struct store *store = store_open(directory, true, home, &error);
    if (!store)
        fail_msg("store_open: %s", error.message);
    noun kernel = noun_home_copy_out(home, region, support_parse(region, kernel_text));
    if (!store_boot(store, "crafted", kernel, &error))
        fail_msg("store_boot: %s", error.message);
    struct evlog *log = store_log(store);
    struct evlog_error log_error = { 0 };
    for (int i = 0; i < count; i++) {
        uint8_t *jam;
        size_t length;
        assert_true(jam_to_bytes(support_parse(region, events[i]), &jam, &length));
        struct evlog_record record = { .number = (uint64_t)i + 1, .kind = EVLOG_PLAIN, .event = jam,
                                       .event_length = length };
        if (!evlog_append(log, &record, &log_error))
            fail_msg("evlog_append: %s", log_error.message);
        free(jam);
    }
    assert_true(evlog_commit(log, &log_error));
    store_close(store);
    noun_home_free(home);
}

/* What a session printed, and the session to interrupt at the first
 * %slog (as a Ctrl-C arriving while the kernel runs would). */
struct captured {
    struct session *session;
    int slogs, interrupts;
    char errors[4096];
    char values[4096];
};

static void append_line(char *to, size_t size, const char *text, size_t length)
{
    size_t used = strlen(to);
    snprintf(to + used, size - used, "%.*s\n", (int)length, text);
}

static void capture_value(void *context, const char *text, size_t length)
{
    struct captured *captured = context;
    append_line(captured->values, sizeof captured->values, text, length);
}

static void capture_error(void *context, const char *text, size_t length)
{
    struct captured *captured = context;
    append_line(captured->errors, sizeof captured->errors, text, length);
}

static void capture_notice(void *context, const char *text, size_t length)
{
    struct captured *captured = context;
    if (length >= 5 && memcmp(text, "slog:", 5) == 0 && captured->slogs++ == 0) {
        captured->interrupts++;
        session_interrupt(captured->session);
    }
}

static struct session *new_session(const char *directory)
{
    char why[200];
    struct session_options options = { .store_directory = directory };
    struct session *session = session_new(&options, why, sizeof why);
    if (!session)
        fail_msg("session_new: %s", why);
    return session;
}

static enum session_result run(struct session *session, struct captured *captured, const char *line)
{
    const struct session_output output = { captured, capture_value, capture_error, capture_notice };
    captured->errors[0] = captured->values[0] = '\0';
    return session_run_line(session, line, strlen(line), &output);
}

static int count_of(const char *text, const char *part)
{
    int count = 0;
    for (const char *at = strstr(text, part); at; at = strstr(at + 1, part))
        count++;
    return count;
}

/* :replay, interrupted once at the kernel's first %slog: the line fails,
 * the kernel ran once, and the interruption is told once. */
static void expect_one_interruption(struct captured *captured)
{
    assert_int_equal(run(captured->session, captured, ":replay"), SESSION_FAILED);
    assert_int_equal(captured->interrupts, 1);
    if (captured->slogs != 1)
        fail_msg("the kernel ran %d times on one line after one interrupt; errors:\n%s", captured->slogs,
                 captured->errors);
    if (count_of(captured->errors, "interrupted") != 1)
        fail_msg("the interruption should be told once:\n%s", captured->errors);
    session_free(captured->session);
}

/* [11 [%slog [1 0 %loop]] *[L L]] with L = [2 [0 1] [0 1]]: says %loop,
 * then loops forever in constant space. */
#define LOOPING_KERNEL \
    "[[11 [1.735.355.507 [1 0 1.886.351.212]] [2 [1 2 [0 1] 0 1] [1 2 [0 1] 0 1]]] 0 0]"

static void test_one_interrupt_stops_the_line(void **state)
{
    char directory[128];
    const char *const events[] = { "1" };
    make_store("loop", LOOPING_KERNEL, events, 1, directory, sizeof directory);
    struct captured captured = { 0 };
    captured.session = new_session(directory);
    /* opening the store replays event 1 (the first %slog, interrupted),
     * and :replay must not start a second endless replay */
    expect_one_interruption(&captured);
}

/* [11 [%slog [1 0 %loop]] [1 0] 0 1]: says %loop, then accepts the event
 * at once (no more Nock calls, so the evaluator never looks at the
 * interrupt flag again during the event). */
#define QUICK_KERNEL "[[11 [1.735.355.507 [1 0 1.886.351.212]] [1 0] 0 1] 0 0]"

static void test_interrupt_late_in_an_event_stops_the_line(void **state)
{
    char directory[160];
    snprintf(directory, sizeof directory, "%s/quick", base);
    struct captured captured = { 0 };
    captured.session = new_session(directory);
    assert_int_equal(run(captured.session, &captured, "=k " QUICK_KERNEL), SESSION_OK);
    assert_int_equal(run(captured.session, &captured, ":boot quick k"), SESSION_OK);
    captured.slogs = 1; /* no interrupt while poking */
    assert_int_equal(run(captured.session, &captured, ":poke 1"), SESSION_OK);
    session_free(captured.session);

    captured = (struct captured){ 0 };
    captured.session = new_session(directory);
    expect_one_interruption(&captured);
}

/* A kernel that refuses every event under [%mean 'no thanks']. */
#define REFUSING_KERNEL "[[11 [1.851.876.717 [1 'no thanks']] 0 0] 0 0]"

static void test_refused_event_keeps_its_trace(void **state)
{
    char directory[128];
    const char *const events[] = { "42" };
    make_store("refusing", REFUSING_KERNEL, events, 1, directory, sizeof directory);
    struct captured captured = { 0 };
    captured.session = new_session(directory);
    /* replay on open */
    assert_int_equal(run(captured.session, &captured, ":state"), SESSION_FAILED);
    if (!strstr(captured.errors, "%mean 'no thanks'"))
        fail_msg("replay on open lost the trace:\n%s", captured.errors);
    session_free(captured.session);

    /* :replay */
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct store_error error = { 0 };
    struct store *store = store_open(directory, false, home, &error);
    assert_non_null(store);
    struct store_replay_result result;
    assert_false(store_replay(store, 1, 0, NULL, &result, &error));
    assert_int_equal(error.event_number, 1);
    assert_true(noun_is_cell(error.trace));
    store_close(store);
    noun_home_free(home);

    /* :poke, then :trace, in a store of its own */
    char fresh[160];
    snprintf(fresh, sizeof fresh, "%s/poked", base);
    captured.session = new_session(fresh);
    assert_int_equal(run(captured.session, &captured, "=k " REFUSING_KERNEL), SESSION_OK);
    assert_int_equal(run(captured.session, &captured, ":boot refusing k"), SESSION_OK);
    assert_int_equal(run(captured.session, &captured, ":poke 42"), SESSION_FAILED);
    if (!strstr(captured.errors, "%mean 'no thanks'"))
        fail_msg(":poke lost the trace:\n%s", captured.errors);
    assert_int_equal(run(captured.session, &captured, ":trace"), SESSION_OK);
    if (!strstr(captured.values, "no thanks"))
        fail_msg(":trace after a refused poke:\n%s%s", captured.values, captured.errors);
    session_free(captured.session);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_interrupt_stops_the_line),
        cmocka_unit_test(test_interrupt_late_in_an_event_stops_the_line),
        cmocka_unit_test(test_refused_event_keeps_its_trace),
    };
    return cmocka_run_group_tests(tests, set_up, tear_down);
}
