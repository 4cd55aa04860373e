/* Unit tests for profiler/profile: recording rows and spans, run listing,
 * summaries (nearest-rank percentiles, the slowest events), and the trace
 * and CSV exports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/profile.h"

static char base[] = "/tmp/nocklab-test-profile-XXXXXX";
static char directory[64];
static struct evlog *event_log;

static int setup(void **state)
{
    if (!mkdtemp(base))
        return -1;
    snprintf(directory, sizeof directory, "%s/store", base);
    struct evlog_error error = { 0 };
    event_log = evlog_open(directory, true, &error);
    return event_log ? 0 : -1;
}

static int teardown(void **state)
{
    evlog_close(event_log);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    return system(command) == 0 ? 0 : -1;
}

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    static char text[1 << 20];
    size_t length = fread(text, 1, sizeof text - 1, file);
    text[length] = '\0';
    fclose(file);
    return text;
}

static size_t count_of(const char *text, const char *needle)
{
    size_t count = 0;
    for (const char *at = text; (at = strstr(at, needle)); at += strlen(needle))
        count++;
    return count;
}

/* Record 100 events: event i takes i microseconds and 10*i steps; event
 * 50 has two %bout spans (one named by its clue) and a scratch collection;
 * all wait 12.345 us for one commit. */
static int64_t record_run(void)
{
    struct profile_error error = { { 0 } };
    struct profile_run *run = profile_run_begin(event_log, "replay", "serial", "a \"test\" run", &error);
    if (!run)
        fail_msg("%s", error.message);
    uint64_t at = profile_run_started_ns(run);
    for (uint64_t i = 1; i <= 100; i++) {
        struct kernel_cost cost = { .wall_ns = i * 1000, .cpu_ns = i * 900, .steps = 10 * i, .bytes_allocated = 64,
                                    .copy_out_bytes = 32, .dedup_lookups = 2, .dedup_hits = i % 2,
                                    .copy_out_ns = 7 };
        if (i == 50) {
            cost.scratch_collections = 1;
            cost.scratch_collect_ns = 400;
            cost.span_count = 2;
            cost.spans[0] = (struct kernel_span){ 1000, 2000, "" };
            cost.spans[1] = (struct kernel_span){ 10000, 30000, "work" };
        }
        if (!profile_record(run, i, at, &cost, &error))
            fail_msg("%s", error.message);
        at += cost.wall_ns + 500;
    }
    int64_t id = profile_run_id(run);
    profile_note_commit_wait(run, 1, 100, 12345);
    assert_true(profile_run_end(run, "done", &error));
    return id;
}

static void test_summary(void **state)
{
    int64_t id = record_run();
    assert_int_equal(profile_last_run(event_log), id);
    struct profile_summary summary;
    struct profile_error error = { { 0 } };
    assert_true(profile_summarize(event_log, id, &summary, &error));
    assert_int_equal(summary.count, 100);
    assert_string_equal(summary.run.kind, "replay");
    assert_string_equal(summary.run.status, "done");
    assert_int_equal(summary.run.first_event, 1);
    assert_int_equal(summary.run.last_event, 100);
    const struct profile_distribution *wall = &summary.metrics[PROFILE_WALL_NS];
    assert_int_equal(wall->total, 5050 * 1000);
    assert_int_equal(wall->p50, 50 * 1000);
    assert_int_equal(wall->p90, 90 * 1000);
    assert_int_equal(wall->p99, 99 * 1000);
    assert_int_equal(wall->max, 100 * 1000);
    assert_int_equal(summary.metrics[PROFILE_STEPS].p50, 500);
    assert_int_equal(summary.metrics[PROFILE_DEDUP_HITS].total, 50);
    assert_int_equal(summary.metrics[PROFILE_COPY_OUT_NS].total, 700);
    assert_int_equal(summary.metrics[PROFILE_SCRATCH_COLLECTIONS].total, 1);
    assert_int_equal(summary.metrics[PROFILE_SCRATCH_COLLECT_NS].max, 400);
    assert_int_equal(summary.metrics[PROFILE_COMMIT_WAIT_NS].total, 100 * 12345);
    assert_int_equal(summary.slowest_count, PROFILE_SLOWEST);
    for (size_t i = 0; i < PROFILE_SLOWEST; i++)
        assert_int_equal(summary.slowest[i].event_number, 100 - i);
    assert_int_equal(summary.spans, 2);
    assert_false(profile_summarize(event_log, id + 100, &summary, &error));
    assert_non_null(strstr(error.message, "no run"));
}

static void count_run(void *context, const struct profile_run_info *info)
{
    (*(int *)context)++;
    assert_int_equal(info->events, 100);
}

static void test_runs_are_listed(void **state)
{
    int runs = 0;
    struct profile_error error = { { 0 } };
    assert_true(profile_each_run(event_log, count_run, &runs, &error));
    assert_int_equal(runs, 1);
}

static void test_trace_export(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/trace.json", base);
    uint64_t written = 0;
    struct profile_error error = { { 0 } };
    assert_true(profile_export_trace(event_log, profile_last_run(event_log), path, &written, &error));
    assert_int_equal(written, 100);
    const char *text = read_text(path);
    assert_int_equal(text[0], '{');
    assert_non_null(strstr(text, "\"traceEvents\":["));
    assert_int_equal(count_of(text, "\"cat\":\"event\""), 100);
    assert_int_equal(count_of(text, "\"cat\":\"bout\""), 2);
    assert_int_equal(count_of(text, "\"name\":\"work\",\"cat\":\"bout\""), 1);
    assert_int_equal(count_of(text, "\"name\":\"%bout\",\"cat\":\"bout\""), 1);
    assert_int_equal(count_of(text, "\"ph\":\"C\""), 4 * 100);
    assert_int_equal(count_of(text, "\"name\":\"copy-out\",\"cat\":\"machine\""), 100);
    assert_int_equal(count_of(text, "\"name\":\"scratch collections\",\"cat\":\"machine\""), 1);
    assert_int_equal(count_of(text, "\"name\":\"commit\",\"cat\":\"machine\""), 1); /* one batch */
    assert_non_null(strstr(text, "\"name\":\"event 50\""));
    assert_non_null(strstr(text, "a \\\"test\\\" run")); /* the note, escaped */
    /* event 1 starts at 0 and lasts 1 us */
    assert_non_null(strstr(text, "\"name\":\"event 1\",\"cat\":\"event\",\"ph\":\"X\",\"ts\":0.000,\"dur\":1.000"));
    assert_non_null(strstr(text, "]}\n"));
}

static void test_csv_export(void **state)
{
    char path[128];
    snprintf(path, sizeof path, "%s/run.csv", base);
    uint64_t written = 0;
    struct profile_error error = { { 0 } };
    assert_true(profile_export_csv(event_log, profile_last_run(event_log), path, &written, &error));
    assert_int_equal(written, 100);
    const char *text = read_text(path);
    assert_int_equal(count_of(text, "\n"), 101);
    assert_true(strncmp(text, "event,start_ns,wall_ns,cpu_ns,steps,", 36) == 0);
    assert_non_null(strstr(text, "\n50,"));
    assert_non_null(strstr(text, ",2,32000\n")); /* event 50: two spans, 32 us of %bout */
    assert_false(profile_export_csv(event_log, profile_last_run(event_log), "/nonexistent/dir/x.csv", &written, &error));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_runs_are_listed),
        cmocka_unit_test(test_trace_export),
        cmocka_unit_test(test_csv_export),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
