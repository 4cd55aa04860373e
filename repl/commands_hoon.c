/* commands_hoon.c -- :ivory, :hoon, :hoon-nock, :jets and :set jets.
 *
 * The work is in interp/ivory.c (boot), interp/hoon.c (compile, run,
 * print) and interp/jets.c (the dashboard); this file turns their results
 * into lines.  A Hoon error prints Hoon's own message, indented under one
 * `error:` line, the way the session prints a crash trace.
 */
#include "repl/commands_hoon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/hoon.h"
#include "interp/ivory.h"
#include "interp/jets.h"

/* Columns Hoon's printer wraps at. */
#define HOON_PRINT_WIDTH 80

static char *rest_text(const struct command_arguments *arguments, const struct session_output *output)
{
    size_t length = arguments->rest_end - arguments->rest_start;
    char *text = malloc(length + 1);
    if (!text) {
        session_print_error(output, "error: out of memory");
        return NULL;
    }
    memcpy(text, arguments->line + arguments->rest_start, length);
    text[length] = '\0';
    return text;
}

/* Check-mode differences found since `before`, as error lines. */
static void print_new_mismatches(struct session *session, size_t before, const struct session_output *output)
{
    struct jets_dashboard *jets = session_jets(session);
    size_t now = jets ? jets_dashboard_mismatch_count(jets) : 0;
    for (size_t i = before; i < now && i < JETS_MAX_MISMATCH_REPORTS; i++)
        session_print_error(output, "%s", jets_dashboard_mismatch(jets, i));
    if (now > JETS_MAX_MISMATCH_REPORTS && before < now)
        session_print_error(output, "(%zu jet mismatches in all; the first %d are kept, see :jets)", now,
                            JETS_MAX_MISMATCH_REPORTS);
}

static size_t mismatches_so_far(struct session *session)
{
    struct jets_dashboard *jets = session_jets(session);
    return jets ? jets_dashboard_mismatch_count(jets) : 0;
}

enum session_result commands_hoon_ivory(struct session *session, const struct command_arguments *arguments,
                                        const struct session_output *output)
{
    char *path = rest_text(arguments, output);
    if (!path)
        return SESSION_FAILED;
    size_t mismatches_before = mismatches_so_far(session);
    struct ivory_boot boot;
    char why[256];
    bool booted = ivory_boot_file(session_nock(session), path, &boot, why, sizeof why);
    print_new_mismatches(session, mismatches_before, output);
    if (!booted) {
        session_print_error(output, "error: :ivory %s: %s", path, why);
        free(path);
        return SESSION_FAILED;
    }
    free(path);
    if (!session_bind(session, "hoon", 4, boot.kernel, output))
        return SESSION_FAILED;
    struct hoon_runtime *runtime = hoon_runtime_new(session_home(session), session_lookup(session, "hoon", 4));
    if (!runtime) {
        session_print_error(output, "error: out of memory while keeping the kernel");
        return SESSION_FAILED;
    }
    session_set_hoon(session, runtime);
    double total = boot.cue_seconds + boot.home_seconds + boot.nock_seconds + boot.keep_seconds;
    session_print(output, "hoon: kernel mug 0x%x%s, booted in %.1f ms", (unsigned)boot.kernel_mug,
                  boot.kernel_mug == IVORY_KERNEL_MUG ? " (the shared ivory pill)" : "", total * 1e3);
    session_print(output, "  cue %.1f ms (%llu bytes), pill to home %.1f ms, boot formula %.1f ms (%llu steps), "
                  "kernel to home %.1f ms",
                  boot.cue_seconds * 1e3, (unsigned long long)boot.pill_bytes, boot.home_seconds * 1e3,
                  boot.nock_seconds * 1e3, (unsigned long long)boot.nock_steps, boot.keep_seconds * 1e3);
    struct jets_dashboard *jets = session_jets(session);
    if (jets) {
        struct jets_stats stats;
        jets_dashboard_stats(jets, &stats);
        session_print(output, "  jets %s: %llu cores registered, %llu jetted arms, %llu jet calls",
                      jets_mode_name(jets_dashboard_mode(jets)), (unsigned long long)stats.cores,
                      (unsigned long long)stats.jetted_arms, (unsigned long long)stats.calls);
    }
    return SESSION_OK;
}

static struct hoon_runtime *require_runtime(struct session *session, const struct session_output *output)
{
    struct hoon_runtime *runtime = session_hoon(session);
    if (!runtime)
        session_print_error(output, "error: no Hoon kernel yet: boot one with :ivory PATH (e.g. :ivory ../shared/ivory.pill)");
    return runtime;
}

/* A failed expression: Hoon's message indented under one error line. */
static void print_hoon_failure(const struct hoon_result *result, const struct session_output *output)
{
    if (result->status == HOON_FAILED) {
        session_print_error(output, "error: hoon: %s", result->failure);
        return;
    }
    session_print_error(output, "error: hoon: %s", result->failure[0] ? result->failure : "crashed");
    for (size_t i = 0; i < result->line_count; i++)
        session_print_error(output, "  %s", result->lines[i]);
}

static enum session_result run_hoon(struct session *session, const struct command_arguments *arguments,
                                    const struct session_output *output, enum hoon_stage stage)
{
    struct hoon_runtime *runtime = require_runtime(session, output);
    if (!runtime)
        return SESSION_FAILED;
    size_t mismatches_before = mismatches_so_far(session);
    struct hoon_result result;
    hoon_evaluate(runtime, session_nock(session), arguments->line + arguments->rest_start,
                  arguments->rest_end - arguments->rest_start, stage, HOON_PRINT_WIDTH, &result);
    print_new_mismatches(session, mismatches_before, output);
    enum session_result outcome = SESSION_OK;
    if (result.status != HOON_OK) {
        print_hoon_failure(&result, output);
        outcome = SESSION_FAILED;
    } else if (stage == HOON_COMPILE) {
        if (!session_print_noun(session, output, result.formula))
            outcome = SESSION_FAILED;
    } else {
        if (!session_print_noun(session, output, result.product))
            outcome = SESSION_FAILED;
        for (size_t i = 0; i < result.line_count; i++)
            session_print(output, "> %s", result.lines[i]);
        if (result.line_count == 0 && result.failure[0])
            session_print(output, "> (no rendering: %s)", result.failure);
    }
    hoon_result_free(&result);
    return outcome;
}

enum session_result commands_hoon_hoon(struct session *session, const struct command_arguments *arguments,
                                       const struct session_output *output)
{
    return run_hoon(session, arguments, output, HOON_PRINT);
}

enum session_result commands_hoon_nock(struct session *session, const struct command_arguments *arguments,
                                       const struct session_output *output)
{
    return run_hoon(session, arguments, output, HOON_COMPILE);
}

/* ---- :jets ------------------------------------------------------------------ */

struct listing {
    const struct session_output *output;
    bool check_columns;
    size_t count;
};

static void print_arm(void *context, const struct jets_arm_info *arm)
{
    struct listing *listing = context;
    listing->count++;
    if (listing->check_columns)
        session_print(listing->output, "  %-44s %4llu %-6s %10llu %8llu %6llu %8llu %6llu %7llu", arm->path,
                      (unsigned long long)arm->axis, arm->family, (unsigned long long)arm->calls,
                      (unsigned long long)arm->declines, (unsigned long long)arm->crashes,
                      (unsigned long long)arm->checks, (unsigned long long)arm->mismatches,
                      (unsigned long long)arm->skipped);
    else
        session_print(listing->output, "  %-44s %4llu %-6s %10llu %8llu %6llu", arm->path,
                      (unsigned long long)arm->axis, arm->family, (unsigned long long)arm->calls,
                      (unsigned long long)arm->declines, (unsigned long long)arm->crashes);
}

static void print_core(void *context, const struct jets_core_info *core)
{
    struct listing *listing = context;
    listing->count++;
    session_print(listing->output, "  %s%s", core->path, core->jetted_arms ? "  (jetted)" : "");
}

enum session_result commands_hoon_jets(struct session *session, const struct command_arguments *arguments,
                                       const struct session_output *output)
{
    struct jets_dashboard *jets = session_jets(session);
    const char *rest = arguments->line + arguments->rest_start;
    size_t rest_length = arguments->rest_end - arguments->rest_start;
    bool all = rest_length == 3 && memcmp(rest, "all", 3) == 0;
    if (rest_length && !all) {
        session_print_error(output, "error: usage: :jets [all]  (`all` also lists every registered core)");
        return SESSION_FAILED;
    }
    if (!jets) {
        session_print_error(output, "error: this session has no jet dashboard");
        return SESSION_FAILED;
    }
    struct jets_stats stats;
    jets_dashboard_stats(jets, &stats);
    enum jets_mode mode = jets_dashboard_mode(jets);
    session_print(output, "jets %s: %llu cores registered (%llu %%fast hints, %llu not understood or orphaned), "
                  "%llu jetted arms",
                  jets_mode_name(mode), (unsigned long long)stats.cores, (unsigned long long)stats.registrations_seen,
                  (unsigned long long)stats.rejected, (unsigned long long)stats.jetted_arms);
    session_print(output, "calls %llu, declined %llu, crashed %llu", (unsigned long long)stats.calls,
                  (unsigned long long)stats.declines, (unsigned long long)stats.crashes);
    bool check_columns = stats.checks || stats.check_skipped || mode == JETS_CHECK;
    if (check_columns)
        session_print(output, "check: %llu compared, %llu agreed, %llu differed, %llu skipped (Nock over budget)",
                      (unsigned long long)stats.checks, (unsigned long long)stats.check_agreements,
                      (unsigned long long)stats.check_mismatches, (unsigned long long)stats.check_skipped);
    struct listing listing = { .output = output, .check_columns = check_columns };
    if (check_columns)
        session_print(output, "  %-44s %4s %-6s %10s %8s %6s %8s %6s %7s", "arm", "axis", "family", "calls",
                      "declined", "crash", "checked", "differ", "skipped");
    else
        session_print(output, "  %-44s %4s %-6s %10s %8s %6s", "arm", "axis", "family", "calls", "declined",
                      "crash");
    jets_dashboard_each_arm(jets, print_arm, &listing);
    if (listing.count == 0)
        session_print(output, "  (none yet: cores register as their %%fast hints run, e.g. during :ivory)");
    if (all) {
        session_print(output, "registered cores:");
        listing.count = 0;
        jets_dashboard_each_core(jets, print_core, &listing);
    }
    size_t mismatches = jets_dashboard_mismatch_count(jets);
    for (size_t i = 0; i < mismatches && i < JETS_MAX_MISMATCH_REPORTS; i++)
        session_print(output, "%s", jets_dashboard_mismatch(jets, i));
    return SESSION_OK;
}
