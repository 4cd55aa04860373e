/* commands_backend.c -- :backend, :compare and `nocklab compare`. */
#include "repl/commands_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/backend.h"
#include "interp/nock.h"
#include "interp/text.h"
#include "profiler/monitor.h"
#include "repl/commands_kernel.h"
#include "repl/compare.h"
#include "repl/store.h"

#define COMPARE_DIRECTORY "nocklab-compare"
#define COMPARE_DEFAULT_EVENTS 200
#define MAX_WORKERS_SHOWN 64

/* Split the rest of the line into at most `max` words (in a copy the
 * caller frees). */
static char *rest_words(const struct command_arguments *arguments, char **words, int max, int *count)
{
    size_t length = arguments->rest_end - arguments->rest_start;
    char *text = malloc(length + 1);
    *count = 0;
    if (!text)
        return NULL;
    memcpy(text, arguments->line + arguments->rest_start, length);
    text[length] = '\0';
    for (char *word = strtok(text, " \t"); word && *count < max; word = strtok(NULL, " \t"))
        words[(*count)++] = word;
    return text;
}

static void show_worker(const struct session_output *output, size_t index, const struct kernel_worker_status *status)
{
    if (!status->busy) {
        session_print(output, "  worker %zu: idle", index + 1);
        return;
    }
    struct text_buffer id;
    text_buffer_init(&id);
    struct text_print_options options = { .max_cells = 8 };
    bool printed = text_print(&id, status->spawn.id, &options) && id.data;
    char process[32] = "";
    if (status->process_id)
        snprintf(process, sizeof process, ", pid %ld", status->process_id);
    session_print(output, "  worker %zu: spawn %.*s (effect %u of event %llu), running %.2f s%s", index + 1,
                  printed ? (int)id.length : 1, printed ? id.data : "?", status->spawn.effect_index,
                  (unsigned long long)status->spawn.event_number, (double)status->running_ns / 1e9, process);
    text_buffer_free(&id);
}

static void show_backend(struct session *session, const struct session_output *output)
{
    struct store *store = commands_kernel_open_store(session);
    unsigned workers = commands_kernel_backend_workers();
    char workers_text[32] = "default workers", nice_text[48] = "";
    if (workers)
        snprintf(workers_text, sizeof workers_text, "%u worker%s", workers, workers == 1 ? "" : "s");
    if (strcmp(commands_kernel_backend_name(), "fork") == 0)
        snprintf(nice_text, sizeof nice_text, ", children at nice +%d", commands_kernel_backend_nice());
    session_print(output, "backend %s, %s%s, outcomes in %s order", commands_kernel_backend_name(), workers_text,
                  nice_text, commands_kernel_backend_ordered() ? "spawn" : "finish");
    session_print(output, "%%par: %s%s", nock_par_mapper() ? "mapped in parallel" : "runs its body",
                  nock_par_checking() ? ", checked against the body" : "");
    if (!store) {
        session_print(output, "no store open: spawns start once a kernel is booted or poked");
        return;
    }
    struct kernel_backend *backend = store_backend(store);
    if (backend->workers) {
        struct kernel_worker_status statuses[MAX_WORKERS_SHOWN];
        size_t count = backend->workers(backend->self, statuses, MAX_WORKERS_SHOWN);
        session_print(output, "%zu %s", count, strcmp(backend->name, "fork") == 0 ? "children running" : "workers");
        for (size_t i = 0; i < count && i < MAX_WORKERS_SHOWN; i++)
            show_worker(output, i, &statuses[i]);
    } else {
        session_print(output, "no workers: spawns run inline when their event is committed");
    }
    if (backend->stats) {
        struct kernel_backend_stats stats;
        backend->stats(backend->self, &stats);
        session_print(output, "since it started: %llu spawns, %llu bytes back, dedup %llu hits of %llu lookups, "
                      "%llu %%par maps of %llu items",
                      (unsigned long long)stats.spawns, (unsigned long long)stats.bytes_back,
                      (unsigned long long)stats.dedup_hits, (unsigned long long)stats.dedup_lookups,
                      (unsigned long long)stats.par_maps, (unsigned long long)stats.par_items);
        if (strcmp(backend->name, "fork") == 0 && stats.spawns)
            session_print(output, "%llu child processes started (the other spawns ran in a child waiting for one); "
                          "starting a spawn took %.3f ms on average",
                          (unsigned long long)stats.processes_started, (double)stats.start_ns / (double)stats.spawns / 1e6);
    }
}

/* A whole number from `low` to `high`, all of `word`. */
static bool parse_bounded(const char *word, long low, long high, long *value)
{
    char *end;
    *value = strtol(word, &end, 10);
    return end != word && !*end && *value >= low && *value <= high;
}

/* [--workers N] [--nice N], each at most once, in any order. */
static bool parse_backend_options(char **words, int count, unsigned *workers, int *child_nice)
{
    bool seen_workers = false, seen_nice = false;
    for (int i = 0; i < count; i += 2) {
        long value;
        if (i + 1 >= count)
            return false;
        if (strcmp(words[i], "--workers") == 0 && !seen_workers && parse_bounded(words[i + 1], 1, 256, &value)) {
            *workers = (unsigned)value;
            seen_workers = true;
        } else if (strcmp(words[i], "--nice") == 0 && !seen_nice && parse_bounded(words[i + 1], 0, 19, &value)) {
            *child_nice = (int)value;
            seen_nice = true;
        } else {
            return false;
        }
    }
    return true;
}

enum session_result commands_backend_backend(struct session *session, const struct command_arguments *arguments,
                                             const struct session_output *output)
{
    char *words[7];
    int count;
    char *text = rest_words(arguments, words, 7, &count);
    if (!text) {
        session_print_error(output, "error: out of memory");
        return SESSION_FAILED;
    }
    enum session_result result = SESSION_OK;
    unsigned workers = 0;
    int child_nice = 0;
    if (count == 0) {
        show_backend(session, output);
    } else if (!backend_find(words[0])) {
        session_print_error(output, "error: no backend named %s (the backends are %s)", words[0], backend_names());
        result = SESSION_FAILED;
    } else if (!parse_backend_options(words + 1, count - 1, &workers, &child_nice)) {
        session_print_error(output, "error: usage: :backend NAME [--workers N] [--nice N] "
                                    "(workers from 1 to 256; nice, for fork's children, from 0 to 19)");
        result = SESSION_FAILED;
    } else if (!commands_kernel_use_backend(session, words[0], workers, child_nice, output)) {
        result = SESSION_FAILED;
    } else {
        session_print(output, "backend %s", words[0]);
    }
    free(text);
    return result;
}

/* Run the comparison and print its table through `print`; a one-line
 * summary into `summary` (may be NULL). */
static bool run_compare(struct noun_home *home, const char *sample, uint64_t count,
                        const struct compare_observer *observer, void (*print)(void *, const char *), void *context,
                        char *summary, size_t summary_size, char *why, size_t why_size)
{
    struct compare_row rows[8];
    size_t row_count;
    if (!compare_backends(home, sample, count, COMPARE_DIRECTORY, commands_kernel_backend_workers(),
                          commands_kernel_backend_nice(), observer, rows, 8, &row_count, why, why_size))
        return false;
    if (summary)
        compare_summary(rows, row_count, summary, summary_size);
    char lines[9][160];
    size_t line_count = compare_format(rows, row_count, lines, 9);
    for (size_t i = 0; i < line_count; i++)
        print(context, lines[i]);
    char note[200];
    snprintf(note, sizeof note, "%llu %s events per backend; runs kept in %s/BACKEND (see :runs there)",
             (unsigned long long)count, sample, COMPARE_DIRECTORY);
    print(context, note);
    return true;
}

/* The live panes follow each backend's run as a run of its own:
 * "threads (3 of 4)", its events from the first. */
static void show_backend_run(const char *backend, size_t index, size_t count)
{
    char activity[96];
    snprintf(activity, sizeof activity, "%s (%zu of %zu)", backend, index + 1, count);
    monitor_begin_run(monitor_process(), activity, 0);
}

/* :compare under :tui on: the panes are the REPL's. */
static bool follow_in_session(void *context, const char *backend, size_t index, size_t count, struct store *store)
{
    if (store)
        show_backend_run(backend, index, count);
    return true;
}

/* nocklab compare: Ctrl-C and q on the panes stop the run going on and
 * the backends after it. */
static bool follow_from_command_line(void *context, const char *backend, size_t index, size_t count,
                                     struct store *store)
{
    commands_kernel_work_on(store);
    if (!store)
        return true;
    if (commands_kernel_work_stopped())
        return false;
    show_backend_run(backend, index, count);
    return true;
}

static bool parse_compare(char **words, int count, uint64_t *events)
{
    *events = COMPARE_DEFAULT_EVENTS;
    if (count < 1 || count > 2)
        return false;
    if (count == 2) {
        char *end;
        *events = strtoull(words[1], &end, 10);
        if (*end || *events == 0)
            return false;
    }
    return true;
}

static void print_to_output(void *context, const char *line)
{
    session_print(context, "%s", line);
}

enum session_result commands_backend_compare(struct session *session, const struct command_arguments *arguments,
                                             const struct session_output *output)
{
    char *words[4];
    int count;
    char *text = rest_words(arguments, words, 4, &count);
    uint64_t events;
    if (!text || !parse_compare(words, count, &events)) {
        free(text);
        session_print_error(output, "error: usage: :compare SAMPLE [N]");
        return SESSION_FAILED;
    }
    char why[200];
    struct compare_observer observer = { .running = follow_in_session };
    bool ok = run_compare(session_home(session), words[0], events, &observer, print_to_output, (void *)output, NULL, 0,
                          why, sizeof why);
    if (!ok)
        session_print_error(output, "error: %s", why);
    free(text);
    return ok ? SESSION_OK : SESSION_FAILED;
}

static void print_to_stdout(void *context, const char *line) { puts(line); }

/* Under the panes, the table waits until they close (q). */
struct held_lines {
    char lines[12][160];
    size_t count;
};

static void hold_line(void *context, const char *line)
{
    struct held_lines *held = context;
    if (held->count < sizeof held->lines / sizeof held->lines[0])
        snprintf(held->lines[held->count++], sizeof held->lines[0], "%s", line);
}

int commands_backend_compare_main(int argc, char **argv)
{
    uint64_t events;
    if (!parse_compare(argv + 2, argc - 2, &events)) {
        fprintf(stderr, "nocklab: usage: nocklab compare SAMPLE [N]\n");
        return 2;
    }
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)64 << 30));
    if (!home) {
        fprintf(stderr, "nocklab: cannot reserve address space for home\n");
        return 1;
    }
    struct store_listener listener = { 0 };
    char title[160];
    snprintf(title, sizeof title, "compare %s %llu", argv[2], (unsigned long long)events);
    struct tui *tui = commands_kernel_watch_begin(title, "comparing", &listener);
    struct compare_observer observer = { .running = follow_from_command_line, .listener = &listener };
    struct held_lines held = { .count = 0 };
    char why[200], summary[600] = "", compared[800];
    bool ok = run_compare(home, argv[2], events, &observer, tui ? hold_line : print_to_stdout, &held, summary,
                          sizeof summary, why, sizeof why);
    if (!ok)
        snprintf(compared, sizeof compared, "nocklab compare: %s", why);
    else
        snprintf(compared, sizeof compared, "%s%llu %s events each: %s\nthe table follows when the panes close",
                 commands_kernel_work_stopped() ? "stopped; " : "", (unsigned long long)events, argv[2], summary);
    commands_kernel_watch_end(tui, compared);
    commands_kernel_work_on(NULL);
    for (size_t i = 0; i < held.count; i++)
        puts(held.lines[i]);
    if (!ok)
        fprintf(stderr, "nocklab compare: %s\n", why);
    noun_home_free(home);
    return ok && !commands_kernel_work_stopped() ? 0 : 1;
}
