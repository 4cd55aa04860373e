/* commands_kernel.c -- :boot :poke :state :replay :runs :profile :export,
 * and the subcommands `nocklab gen` and `nocklab replay`.
 *
 * The session holds one store (repl/store.h) as its attachment, opened
 * the first time a kernel command needs it; opening an existing store
 * rebuilds the live kernel by replaying its log, with a progress bar on a
 * terminal.  Everything here turns store results into lines of output.
 */
#include "repl/commands_kernel.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "interp/backend.h"
#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/text.h"
#include "profiler/monitor.h"
#include "profiler/profile.h"
#include "repl/memory.h"
#include "profiler/tui.h"
#include "repl/commands_profile.h"
#include "repl/samples.h"
#include "repl/store.h"

/* Effects and traces print at most this many cells each. */
#define PRINT_MAX_CELLS 10000

/* The backend stores are opened with (nocklab --backend NAME --workers N
 * --nice N --ordered); :backend changes the open store's. */
static struct {
    char name[16];
    unsigned workers;
    int child_nice;
    bool ordered;
} backend_choice = { "serial", 0, 0, false };

void commands_kernel_choose_backend(const char *name, unsigned workers, int child_nice, bool ordered)
{
    snprintf(backend_choice.name, sizeof backend_choice.name, "%s", name);
    backend_choice.workers = workers;
    backend_choice.child_nice = child_nice;
    backend_choice.ordered = ordered;
}

/* Put a newly opened store on the chosen backend. */
static bool use_chosen_backend(struct store *store, struct store_error *error)
{
    store_set_ordered(store, backend_choice.ordered);
    if (strcmp(backend_choice.name, "serial") == 0 && !backend_choice.workers)
        return true;
    return store_set_backend(store, backend_choice.name, backend_choice.workers, backend_choice.child_nice, error);
}

/* What the session keeps: the directory and, once opened, the store. */
struct kernel_commands {
    char *directory;
    struct store *store;
    /* A threads backend of the session's own, so %par in REPL lines runs
     * on its helpers (NULL unless the chosen backend is threads). */
    struct kernel_backend *line_backend;
};

static void release_commands(void *state)
{
    struct kernel_commands *commands = state;
    store_close(commands->store);
    kernel_backend_free(commands->line_backend);
    free(commands->directory);
    free(commands);
}

static void interrupt_commands(void *state)
{
    struct kernel_commands *commands = state;
    if (commands->store)
        store_interrupt(commands->store);
}

/* ---- printing ------------------------------------------------------------------ */

/* "1,234,567" */
static void format_count(uint64_t value, char *out, size_t size)
{
    char digits[32];
    int length = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    size_t at = 0;
    for (int i = 0; i < length && at + 2 < size; i++) {
        if (i > 0 && (length - i) % 3 == 0)
            out[at++] = ',';
        out[at++] = digits[i];
    }
    out[at] = '\0';
}

/* "48.1 ms", "2.35 s", "310 us", "820 ns". */
static void format_nanoseconds(uint64_t nanoseconds, char *out, size_t size)
{
    double value = (double)nanoseconds;
    if (value >= 1e9)
        snprintf(out, size, "%.2f s", value / 1e9);
    else if (value >= 1e6)
        snprintf(out, size, "%.1f ms", value / 1e6);
    else if (value >= 1e3)
        snprintf(out, size, "%.1f us", value / 1e3);
    else
        snprintf(out, size, "%llu ns", (unsigned long long)nanoseconds);
}


/* An effect [%tag rest...] with the tag as a term and the rest as the
 * tuple's further elements.  A spawn's formula is elided early: it is
 * code, often long, and the id and subject are what a reader wants. */
static bool append_effect(struct text_buffer *buffer, noun effect)
{
    struct text_print_options options = { .style = TEXT_TERM, .max_cells = PRINT_MAX_CELLS };
    if (!noun_is_cell(effect))
        return text_print(buffer, effect, &options);
    char tag[9];
    if (kernel_effect_tag(effect, tag) && strcmp(tag, "spawn") == 0)
        options.max_cells = 8;
    struct text_buffer rest;
    text_buffer_init(&rest);
    bool ok = text_print(&rest, noun_tail(effect), &options) && rest.data;
    if (ok) {
        const char *text = rest.data;
        size_t length = rest.length;
        /* [a b c] printed as a tail: drop its brackets to continue the tuple */
        if (noun_is_cell(noun_tail(effect)) && length >= 2 && text[0] == '[' && text[length - 1] == ']') {
            text++;
            length -= 2;
        }
        ok = text_buffer_append(buffer, "[", 1) && session_append_term(buffer, noun_head(effect)) &&
             text_buffer_append(buffer, " ", 1) && text_buffer_append(buffer, text, length) &&
             text_buffer_append(buffer, "]", 1);
    }
    text_buffer_free(&rest);
    return ok;
}


/* `n` as a noun of `home`: itself when home has it, else a copy (a pma
 * store's nouns live in its own home, which is collected, and closed,
 * apart from the caller's).  0 when memory is short. */
static noun into_home(struct noun_home *home, noun n)
{
    if (noun_is_direct(n) || noun_home_holds(home, n))
        return n;
    uint8_t *jam = NULL;
    size_t length = 0;
    struct noun_region *region = noun_region_new((size_t)1 << 30);
    noun cued = 0, kept = 0;
    struct jam_error error;
    if (region && jam_to_bytes(n, &jam, &length) && jam_cue_bytes(region, jam, length, &cued, &error))
        kept = noun_home_copy_out(home, region, cued);
    free(jam);
    noun_region_free(region);
    return kept == NOUN_NONE ? 0 : kept;
}

/* A store's failure: its message, then the kernel's crash trace when an
 * event was refused, which :trace shows again afterwards. */
static void print_store_error(struct session *session, const struct session_output *output, const char *prefix,
                              const struct store_error *error)
{
    session_print_error(output, "error: %s%s", prefix, error->message);
    if (error->trace) {
        session_print_trace(output, error->trace);
        noun kept = into_home(session_home(session), error->trace);
        if (kept)
            session_keep_crash(session, kept, error->message);
    }
}

/* Whether this line was interrupted (a Ctrl-C during one step of it stops
 * the steps after it too); says so when it was. */
static bool line_interrupted(struct session *session, const struct session_output *output)
{
    if (!session_interrupted(session))
        return false;
    session_print_error(output, "error: interrupted");
    return true;
}

/* A progress bar on standard error, when it is a terminal.  The last
 * call leaves the bar where the run stopped, and says so when that is
 * short of the end. */
static void show_progress(void *context, const char *what, uint64_t done, uint64_t total, double seconds,
                          bool final)
{
    if (!isatty(STDERR_FILENO))
        return;
    int width = 30;
    int filled = total ? (int)((double)done / (double)total * width) : width;
    if (filled > width)
        filled = width;
    char bar[64];
    memset(bar, '#', (size_t)filled);
    memset(bar + filled, final && done < total ? '.' : ' ', (size_t)(width - filled));
    bar[width] = '\0';
    double rate = seconds > 0 ? (double)done / seconds : 0;
    double left = rate > 0 && total > done ? (double)(total - done) / rate : 0;
    char done_text[32], total_text[32], rate_text[32];
    format_count(done, done_text, sizeof done_text);
    format_count(total, total_text, sizeof total_text);
    format_count((uint64_t)rate, rate_text, sizeof rate_text);
    if (final && done < total)
        fprintf(stderr, "\r%s [%s] stopped at %s of %s events  %s events/s\033[K\n", what, bar, done_text,
                total_text, rate_text);
    else
        fprintf(stderr, "\r%s [%s] %s/%s events  %s events/s  %.1f s left \033[K%s", what, bar, done_text,
                total_text, rate_text, left, final ? "\n" : "");
    fflush(stderr);
}

static void print_slog(void *context, noun clue) { session_print_slog(context, clue); }

static void print_notice(void *context, const char *text)
{
    const struct session_output *output = context;
    session_print_error(output, "note: %s", text);
}

/* One line per effect of a committed event. */
static void print_effects(void *context, const struct store_event_info *event, noun effects)
{
    const struct session_output *output = context;
    char label[96];
    int length = snprintf(label, sizeof label, "event %llu", (unsigned long long)event->number);
    if (event->is_outcome)
        snprintf(label + length, sizeof label - (size_t)length, " (outcome of effect %u of event %llu)",
                 event->source_effect, (unsigned long long)event->source_event);
    if (!noun_is_cell(effects)) {
        session_print(output, "%s: no effects", label);
        return;
    }
    for (noun rest = effects; noun_is_cell(rest); rest = noun_tail(rest)) {
        struct text_buffer buffer;
        text_buffer_init(&buffer);
        if (text_buffer_printf(&buffer, "%s: ", label) && append_effect(&buffer, noun_head(rest)))
            output->value(output->context, buffer.data, buffer.length);
        else
            session_print_error(output, "error: out of memory while printing an effect");
        text_buffer_free(&buffer);
    }
}

static void follow_evaluator(void *context, struct nock_context *nock);

static struct store_listener listener_for(const struct session_output *output)
{
    return (struct store_listener){
        .context = (void *)output,
        .effects = print_effects,
        .notice = print_notice,
        .progress = show_progress,
        .slog = print_slog,
        .evaluator = follow_evaluator,
    };
}

/* ---- the session's store --------------------------------------------------------- */

static struct kernel_commands *commands_of(struct session *session)
{
    struct kernel_commands *commands = session_attached(session);
    if (commands)
        return commands;
    commands = calloc(1, sizeof *commands);
    const char *directory = session_store_directory(session);
    if (!commands || !(commands->directory = strdup(directory ? directory : STORE_DEFAULT_DIRECTORY))) {
        free(commands);
        return NULL;
    }
    struct session_attachment attachment = { commands, release_commands, interrupt_commands };
    session_attach(session, &attachment);
    return commands;
}

/* The session's store, opened on first use.  `create`: make the store
 * when there is none (only :boot does).  `rebuild`: the command needs the
 * live kernel, so rebuild it from the log if that isn't done yet; commands
 * that only read the log (:runs, :profile, :export, :replay, :event) never
 * pay for that.  `held` (or NULL) is a home noun the caller keeps:
 * rebuilding the kernel may collect home, so it is a root meanwhile. */
static struct store *open_store(struct session *session, bool create, bool rebuild, noun *held,
                                const struct session_output *output)
{
    struct kernel_commands *commands = commands_of(session);
    if (!commands) {
        session_print_error(output, "error: out of memory");
        return NULL;
    }
    struct store_error error = { 0 };
    if (!commands->store) {
        commands->store = store_open(commands->directory, create, session_home(session), &error);
        if (!commands->store) {
            print_store_error(session, output, "", &error);
            if (!create && !strstr(error.message, "--store"))
                session_print_error(output, "  (--store DIR picks another store)");
            return NULL;
        }
        if (!use_chosen_backend(commands->store, &error))
            print_store_error(session, output, "", &error); /* it stays on serial */
        const char *read_only = evlog_read_only(store_log(commands->store));
        if (read_only)
            session_print_error(output, "note: store %s is read-only (%s): you can inspect and replay it, but nothing "
                                "will be saved to it", commands->directory, read_only);
        struct store_snapshot_options snapshots = { .every = session_snap_every(session) };
        const char *kind = session_snapshot_kind(session);
        if ((kind && !snapshot_kind_parse(kind, &snapshots.kind)) ||
            !store_use_snapshots(commands->store, &snapshots, &error)) {
            if (kind && !snapshots.kind)
                snprintf(error.message, sizeof error.message, "--snapshot takes jam or pma, not %s", kind);
            print_store_error(session, output, "", &error);
            store_close(commands->store);
            commands->store = NULL;
            return NULL;
        }
    }
    if (line_interrupted(session, output))
        return NULL;
    if (!rebuild)
        return commands->store;
    struct store_listener listener = listener_for(output);
    struct noun_home *home = session_home(session);
    if (held && !noun_home_root_add(home, held)) {
        session_print_error(output, "error: out of memory");
        return NULL;
    }
    bool recovered = store_recover(commands->store, &listener, &error);
    if (held)
        noun_home_root_remove(home, held);
    if (!recovered) {
        print_store_error(session, output, "", &error);
        return NULL;
    }
    if (line_interrupted(session, output))
        return NULL;
    return commands->store;
}

struct store *commands_kernel_open_store(struct session *session)
{
    struct kernel_commands *commands = commands_of(session);
    return commands ? commands->store : NULL;
}

bool commands_kernel_use_backend(struct session *session, const char *chosen, unsigned workers, int child_nice,
                                 const struct session_output *output)
{
    char name[sizeof backend_choice.name];
    snprintf(name, sizeof name, "%s", chosen); /* chosen may be backend_choice.name */
    struct kernel_commands *commands = commands_of(session);
    if (!commands) {
        session_print_error(output, "error: out of memory");
        return false;
    }
    struct store_error error = { 0 };
    if (commands->store && !store_set_backend(commands->store, name, workers, child_nice, &error)) {
        print_store_error(session, output, "", &error);
        return false;
    }
    commands_kernel_choose_backend(name, workers, child_nice, backend_choice.ordered);
    kernel_backend_free(commands->line_backend);
    commands->line_backend = NULL;
    if (strcmp(name, "threads") == 0) {
        struct kernel_backend_options options = { .workers = workers };
        char why[200];
        commands->line_backend = backend_new(name, session_home(session), &options, why, sizeof why);
        if (!commands->line_backend) {
            session_print_error(output, "error: %s", why);
            return false;
        }
    }
    return true;
}

const char *commands_kernel_backend_name(void) { return backend_choice.name; }
unsigned commands_kernel_backend_workers(void) { return backend_choice.workers; }
int commands_kernel_backend_nice(void) { return backend_choice.child_nice; }
bool commands_kernel_backend_ordered(void) { return backend_choice.ordered; }

static struct store *open_store_with_kernel(struct session *session, noun *held, const struct session_output *output)
{
    struct store *store = open_store(session, false, true, held, output);
    if (store && !store_kernel(store)) {
        session_print_error(output, "error: store %s has no kernel yet (:boot NAME KERNEL starts one)",
                            store_directory(store));
        return NULL;
    }
    return store;
}

/* Evaluate the rest of the line and copy the value to home. */
static bool evaluate_to_home(struct session *session, const struct command_arguments *arguments,
                             const struct session_output *output, noun *value)
{
    noun scratch_value;
    if (!session_evaluate(session, arguments->line, arguments->rest_end, arguments->rest_start, output,
                          &scratch_value))
        return false;
    *value = noun_home_copy_out(session_home(session), nock_context_region(session_nock(session)), scratch_value);
    if (*value == NOUN_NONE) {
        session_print_error(output, "error: out of memory: home is full");
        return false;
    }
    return true;
}

/* ---- :boot :poke :state ------------------------------------------------------------ */

enum session_result commands_kernel_boot(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    size_t name_length = arguments->word_end - arguments->word_start;
    char name[128];
    if (name_length >= sizeof name) {
        session_print_error(output, "error: the kernel name at column %zu is longer than %zu characters",
                            arguments->word_start + 1, sizeof name - 1);
        return SESSION_FAILED;
    }
    memcpy(name, arguments->line + arguments->word_start, name_length);
    name[name_length] = '\0';
    noun kernel;
    if (!evaluate_to_home(session, arguments, output, &kernel))
        return SESSION_FAILED;
    if (!noun_is_cell(kernel)) {
        session_print_error(output, "error: a kernel is a gate, a cell [battery [sample context]], and the value at "
                            "column %zu is an atom", arguments->rest_start + 1);
        return SESSION_FAILED;
    }
    struct store *store = open_store(session, true, true, &kernel, output);
    if (!store)
        return SESSION_FAILED;
    struct store_error error = { 0 };
    if (!store_boot(store, name, kernel, &error)) {
        print_store_error(session, output, "", &error);
        return SESSION_FAILED;
    }
    struct noun_census census;
    noun_census(kernel, &census);
    char cells[32];
    format_count(census.cells, cells, sizeof cells);
    session_print(output, "booted %s in %s: event 0, mug 0x%x, %s cells", name, store_directory(store),
                  (unsigned)kernel_mug(store_kernel(store)), cells);
    return SESSION_OK;
}

enum session_result commands_kernel_poke(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    noun event;
    if (!evaluate_to_home(session, arguments, output, &event))
        return SESSION_FAILED;
    struct store *store = open_store_with_kernel(session, &event, output);
    if (!store)
        return SESSION_FAILED;
    struct store_listener listener = listener_for(output);
    struct store_error error = { 0 };
    if (!store_poke(store, event, &listener, &error)) {
        print_store_error(session, output, "event refused: ", &error);
        return SESSION_FAILED;
    }
    return SESSION_OK;
}

enum session_result commands_kernel_state(struct session *session, const struct command_arguments *arguments,
                                          const struct session_output *output)
{
    struct store *store = open_store_with_kernel(session, NULL, output);
    if (!store)
        return SESSION_FAILED;
    struct kernel *kernel = store_kernel(store);
    struct noun_census census;
    noun_census(kernel_state(kernel), &census);
    char cells[32], atoms[32];
    format_count(census.cells, cells, sizeof cells);
    format_count(census.atoms, atoms, sizeof atoms);
    session_print(output, "kernel %s in %s: event %llu, mug 0x%x, %s cells, %s atoms, %.1f KiB",
                  store_kernel_name(store), store_directory(store), (unsigned long long)kernel_event_number(kernel),
                  (unsigned)kernel_mug(kernel), cells, atoms, (double)census.bytes / 1024.0);
    return SESSION_OK;
}

/* ---- :replay ------------------------------------------------------------------------- */

/* A count, seed or event number: decimal digits, at most the largest
 * SQLite integer (2^63-1); anything else, including a number that doesn't
 * fit, is refused rather than clamped. */
static bool parse_count(const char *text, uint64_t *value)
{
    uint64_t number = 0;
    if (!*text)
        return false;
    for (const char *at = text; *at; at++) {
        if (*at < '0' || *at > '9' || number > (INT64_MAX - (uint64_t)(*at - '0')) / 10)
            return false;
        number = number * 10 + (uint64_t)(*at - '0');
    }
    *value = number;
    return true;
}

/* Parse "--from N" and "--to M" (also --from=N) from words; false with a
 * message on anything else. */
static bool parse_range(int count, char **words, uint64_t *from, uint64_t *to, char *why, size_t why_size)
{
    *from = 0;
    *to = 0;
    for (int i = 0; i < count; i++) {
        uint64_t *target = NULL;
        const char *value = NULL;
        if (strncmp(words[i], "--from", 6) == 0)
            target = from, value = words[i] + 6;
        else if (strncmp(words[i], "--to", 4) == 0)
            target = to, value = words[i] + 4;
        if (!target) {
            snprintf(why, why_size, "unexpected %s (use --from N and --to M)", words[i]);
            return false;
        }
        if (*value == '=')
            value++;
        else if (*value == '\0' && i + 1 < count)
            value = words[++i];
        else if (*value != '\0') {
            snprintf(why, why_size, "unexpected %s (use --from N and --to M)", words[i]);
            return false;
        }
        uint64_t number;
        if (!parse_count(value, &number) || number == 0) {
            snprintf(why, why_size, "expected an event number (1 to 2^63-1) after %.*s, not '%s'",
                     target == from ? 6 : 4, target == from ? "--from" : "--to", value);
            return false;
        }
        *target = number;
    }
    if (*to && *from > *to) {
        snprintf(why, why_size, "--from %llu is after --to %llu", (unsigned long long)*from, (unsigned long long)*to);
        return false;
    }
    return true;
}

/* Split text into words in place (blanks separate); at most `capacity`. */
static int split_words(char *text, char **words, int capacity)
{
    int count = 0;
    for (char *word = strtok(text, " \t"); word && count < capacity; word = strtok(NULL, " \t"))
        words[count++] = word;
    return count;
}

static void describe_replay(char *out, size_t size, const struct store_replay_result *result)
{
    char events[32], rate[32];
    format_count(result->events, events, sizeof events);
    format_count(result->seconds > 0 ? (uint64_t)((double)result->events / result->seconds) : 0, rate, sizeof rate);
    char start[64] = "";
    if (result->snapshot_event)
        snprintf(start, sizeof start, " after the snapshot of event %llu", (unsigned long long)result->snapshot_event);
    int length = snprintf(out, size, "replayed %s events%s in %.2f s (%s events/s): event %llu mug 0x%x matches the log",
                          events, start, result->seconds, rate, (unsigned long long)result->last_event,
                          (unsigned)result->mug);
    if (length >= 0 && (size_t)length < size)
        snprintf(out + length, size - (size_t)length, result->run_id ? " (run %lld)" : " (not recorded: the store is read-only)",
                 (long long)result->run_id);
}

enum session_result commands_kernel_replay(struct session *session, const struct command_arguments *arguments,
                                           const struct session_output *output)
{
    size_t length = arguments->rest_end - arguments->rest_start;
    char *text = malloc(length + 1);
    if (!text) {
        session_print_error(output, "error: out of memory");
        return SESSION_FAILED;
    }
    memcpy(text, arguments->line + arguments->rest_start, length);
    text[length] = '\0';
    char *words[8];
    int count = split_words(text, words, 8);
    uint64_t from, to;
    char why[160];
    bool parsed = parse_range(count, words, &from, &to, why, sizeof why);
    free(text);
    if (!parsed) {
        session_print_error(output, "error: %s", why);
        return SESSION_FAILED;
    }
    /* The replay builds a kernel of its own from the boot kernel. */
    struct store *store = open_store(session, false, false, NULL, output);
    if (!store)
        return SESSION_FAILED;
    if (!store_booted(store)) {
        session_print_error(output, "error: store %s has no kernel yet (:boot NAME KERNEL starts one)",
                            store_directory(store));
        return SESSION_FAILED;
    }
    struct store_listener listener = listener_for(output);
    struct store_replay_result result;
    struct store_error error = { 0 };
    if (!store_replay(store, from, to, &listener, &result, &error)) {
        print_store_error(session, output, "replay stopped: ", &error);
        return SESSION_FAILED;
    }
    char line[256];
    describe_replay(line, sizeof line, &result);
    session_print(output, "%s", line);
    return SESSION_OK;
}

/* ---- :snap ------------------------------------------------------------------------------ */

static void print_saved(const struct session_output *output, const struct snapshot_save_report *report)
{
    char bytes[32], total[32], fsync[32];
    format_count(report->bytes, bytes, sizeof bytes);
    format_nanoseconds(report->total_ns, total, sizeof total);
    format_nanoseconds(report->fsync_ns, fsync, sizeof fsync);
    session_print(output, "saved a %s snapshot of event %llu (mug 0x%x) to %s: %s bytes, fsync %s, total %s",
                  snapshot_kind_name(report->kind), (unsigned long long)report->event_number, (unsigned)report->mug,
                  report->file, bytes, fsync, total);
}

static enum session_result snap_info(struct session *session, struct store *store, const struct session_output *output)
{
    struct snapshot_description description;
    struct store_error error = { 0 };
    if (!store_snapshot_describe(store, &description, &error)) {
        print_store_error(session, output, "", &error);
        return SESSION_FAILED;
    }
    session_print(output, "snapshots of %s: kind %s", store_directory(store), snapshot_kind_name(description.kind));
    for (size_t i = 0; i < description.file_count; i++) {
        const struct snapshot_file_info *file = &description.files[i];
        char bytes[32];
        format_count(file->bytes, bytes, sizeof bytes);
        if (!file->present)
            session_print(output, "  %-16s none", file->name);
        else if (file->valid)
            session_print(output, "  %-16s %s bytes  event %llu  mug 0x%x", file->name, bytes,
                          (unsigned long long)file->event_number, (unsigned)file->mug);
        else
            session_print(output, "  %-16s %s bytes  not valid: %s", file->name, bytes, file->problem);
    }
    if (description.has_pma) {
        const struct pma_stats *pma = &description.pma;
        char size[32], in_use[32], held[32], free_pages[32], dirty[32], written[32], fsync[32];
        format_count(pma->file_bytes, size, sizeof size);
        format_count(pma->pages_in_use, in_use, sizeof in_use);
        format_count(pma->pages_held, held, sizeof held);
        format_count(pma->pages_free, free_pages, sizeof free_pages);
        format_count(pma->last_dirty_pages, dirty, sizeof dirty);
        format_count(pma->last_bytes_written, written, sizeof written);
        format_nanoseconds(pma->last_fsync_ns, fsync, sizeof fsync);
        session_print(output, "  pma at 0x%llx: file %s bytes; pages %s in use, %s held for the older snapshot, %s "
                      "free; directory depth %u, %llu nodes", (unsigned long long)pma->base, size, in_use, held,
                      free_pages, pma->directory_depth, (unsigned long long)pma->directory_nodes);
        if (description.pma_loaded_event)
            session_print(output, "  home holds the snapshot of event %llu", (unsigned long long)description.pma_loaded_event);
        session_print(output, "  last snapshot this session: %s dirty pages, %s bytes written, fsync %s; %llu write "
                      "faults", dirty, written, fsync, (unsigned long long)pma->write_faults);
    }
    return SESSION_OK;
}

enum session_result commands_kernel_snap(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    const char *text = arguments->line + arguments->rest_start;
    size_t length = arguments->rest_end - arguments->rest_start;
    size_t verb_length = 0;
    while (verb_length < length && text[verb_length] != ' ' && text[verb_length] != '\t')
        verb_length++;
    const char *argument = text + verb_length;
    size_t argument_length = length - verb_length;
    while (argument_length && (*argument == ' ' || *argument == '\t'))
        argument++, argument_length--;
    bool is_save = verb_length == 4 && memcmp(text, "save", 4) == 0;
    bool is_load = verb_length == 4 && memcmp(text, "load", 4) == 0;
    bool is_info = verb_length == 0 || (verb_length == 4 && memcmp(text, "info", 4) == 0);
    if (!is_save && !is_load && !is_info) {
        session_print_error(output, "error: :snap takes save, load [N] or info, not '%.*s' (column %zu)",
                            (int)verb_length, text, arguments->rest_start + 1);
        return SESSION_FAILED;
    }
    uint64_t event_number = 0;
    if (argument_length) {
        char number[24];
        char *end;
        if (!is_load || argument_length >= sizeof number) {
            session_print_error(output, "error: unexpected '%.*s' at column %zu", (int)argument_length, argument,
                                (size_t)(argument - arguments->line) + 1);
            return SESSION_FAILED;
        }
        memcpy(number, argument, argument_length);
        number[argument_length] = '\0';
        event_number = strtoull(number, &end, 10);
        if (*end || number[0] < '1' || number[0] > '9') {
            session_print_error(output, "error: expected the event number of a snapshot at column %zu, not '%s'",
                                (size_t)(argument - arguments->line) + 1, number);
            return SESSION_FAILED;
        }
    }
    struct store *store = is_info ? open_store(session, false, false, NULL, output) : open_store_with_kernel(session, NULL, output);
    if (!store)
        return SESSION_FAILED;
    if (is_info)
        return snap_info(session, store, output);
    struct store_error error = { 0 };
    if (is_save) {
        struct snapshot_save_report report;
        if (!store_snapshot_save(store, &report, &error)) {
            print_store_error(session, output, "", &error);
            return SESSION_FAILED;
        }
        print_saved(output, &report);
        return SESSION_OK;
    }
    struct store_listener listener = listener_for(output);
    struct store_replay_result result;
    if (!store_snapshot_load(store, event_number, &listener, &result, &error)) {
        print_store_error(session, output, "", &error);
        return SESSION_FAILED;
    }
    session_print(output, "loaded the snapshot of event %llu and replayed %llu events after it: event %llu mug 0x%x",
                  (unsigned long long)result.snapshot_event, (unsigned long long)result.events,
                  (unsigned long long)result.last_event, (unsigned)result.mug);
    return SESSION_OK;
}

/* ---- :runs :profile :export ------------------------------------------------------------ */

/* Where :runs writes, and how wide a line may be (0: any width). */
struct run_table {
    const struct session_output *output;
    size_t width;
};

/* The terminal's width when a person reads the session there, else 0. */
static size_t table_width(struct session *session)
{
    struct winsize size;
    if (session_is_interactive(session) && isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 &&
        size.ws_col > 20)
        return size.ws_col;
    return 0;
}

/* A table line, cut to the table's width (the last column, the note, is
 * what gets cut). */
static void print_table_line(const struct run_table *table, const char *line)
{
    size_t length = strlen(line);
    if (table->width && length > table->width - 1)
        length = table->width - 1;
    table->output->value(table->output->context, line, length);
}

static void print_run(void *context, const struct profile_run_info *info)
{
    const struct run_table *table = context;
    char range[48], time[32], rate[32];
    if (info->events)
        snprintf(range, sizeof range, "%llu..%llu", (unsigned long long)info->first_event,
                 (unsigned long long)info->last_event);
    else
        snprintf(range, sizeof range, "-");
    format_nanoseconds(info->wall_ns, time, sizeof time);
    /* A live run waits for input between events: its speed is over the
     * time it spent working, not the time it was open. */
    uint64_t busy_ns = strcmp(info->kind, "live") == 0 ? info->working_ns : info->wall_ns;
    format_count(busy_ns ? (uint64_t)((double)info->events * 1e9 / (double)busy_ns) : 0, rate, sizeof rate);
    char line[1024];
    snprintf(line, sizeof line, "%4lld  %-7s  %-7s  %8llu  %-15s  %9s  %10s  %-20s  %-8s  %s", (long long)info->id,
             info->kind, info->backend, (unsigned long long)info->events, range, time, rate, info->started_at,
             info->status, info->note);
    print_table_line(table, line);
}

enum session_result commands_kernel_runs(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    struct store *store = open_store(session, false, false, NULL, output);
    if (!store)
        return SESSION_FAILED;
    if (!profile_last_run(store_log(store))) {
        session_print(output, "no runs yet in %s", store_directory(store));
        return SESSION_OK;
    }
    struct run_table table = { output, table_width(session) };
    char header[256];
    snprintf(header, sizeof header, "%4s  %-7s  %-7s  %8s  %-15s  %9s  %10s  %-20s  %-8s  %s", "run", "kind",
             "backend", "events", "range", "time", "events/s", "started (UTC)", "status", "note");
    print_table_line(&table, header);
    struct profile_error error = { { 0 } };
    if (!profile_each_run(store_log(store), print_run, &table, &error)) {
        session_print_error(output, "error: %s", error.message);
        return SESSION_FAILED;
    }
    return SESSION_OK;
}

/* ---- :event ----------------------------------------------------------------------------- */

static void print_event(void *context, const struct store_event_info *event, noun event_noun, noun effects,
                        uint32_t mug)
{
    const struct session_output *output = context;
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    struct text_print_options options = { .style = TEXT_TERM, .max_cells = PRINT_MAX_CELLS };
    bool ok = text_buffer_printf(&buffer, "event %llu", (unsigned long long)event->number) &&
              (!event->is_outcome ||
               text_buffer_printf(&buffer, " (outcome of effect %u of event %llu)", event->source_effect,
                                  (unsigned long long)event->source_event)) &&
              text_buffer_append(&buffer, ": ", 2) &&
              (event_noun == NOUN_NONE ? text_buffer_printf(&buffer, "(not shown)")
                                       : text_print(&buffer, event_noun, &options));
    if (ok)
        output->value(output->context, buffer.data, buffer.length);
    text_buffer_free(&buffer);
    session_print(output, "mug after it: 0x%x", (unsigned)mug);
    if (!noun_is_cell(effects)) {
        session_print(output, "effects: none");
        return;
    }
    session_print(output, "effects:");
    for (noun rest = effects; noun_is_cell(rest); rest = noun_tail(rest)) {
        text_buffer_init(&buffer);
        if (text_buffer_append(&buffer, "  ", 2) && append_effect(&buffer, noun_head(rest)))
            output->value(output->context, buffer.data, buffer.length);
        text_buffer_free(&buffer);
    }
}

struct event_rows {
    const struct session_output *output;
    uint64_t count;
};

static void print_event_row(void *context, const struct profile_event_row *row)
{
    struct event_rows *rows = context;
    if (rows->count++ == 0)
        session_print(rows->output, "  %4s  %-7s  %10s  %10s  %10s  %12s  %12s  %8s  %8s", "run", "kind", "wall", "cpu",
                      "steps", "allocated", "copied out", "lookups", "hits");
    char wall[32], cpu[32], steps[32], allocated[32], copied[32];
    format_nanoseconds(row->metrics[PROFILE_WALL_NS], wall, sizeof wall);
    format_nanoseconds(row->metrics[PROFILE_CPU_NS], cpu, sizeof cpu);
    format_count(row->metrics[PROFILE_STEPS], steps, sizeof steps);
    format_count(row->metrics[PROFILE_BYTES_ALLOCATED], allocated, sizeof allocated);
    format_count(row->metrics[PROFILE_COPY_OUT_BYTES], copied, sizeof copied);
    session_print(rows->output, "  %4lld  %-7s  %10s  %10s  %10s  %12s  %12s  %8llu  %8llu", (long long)row->run,
                  row->kind, wall, cpu, steps, allocated, copied,
                  (unsigned long long)row->metrics[PROFILE_DEDUP_LOOKUPS],
                  (unsigned long long)row->metrics[PROFILE_DEDUP_HITS]);
}

enum session_result commands_kernel_event(struct session *session, const struct command_arguments *arguments,
                                          const struct session_output *output)
{
    const char *text = arguments->line + arguments->rest_start;
    size_t length = arguments->rest_end - arguments->rest_start;
    uint64_t number = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9' || number > UINT64_MAX / 10 - 10) {
            session_print_error(output, "error: expected an event number at column %zu", arguments->rest_start + 1);
            return SESSION_FAILED;
        }
        number = number * 10 + (uint64_t)(text[i] - '0');
    }
    struct store *store = open_store(session, false, false, NULL, output);
    if (!store)
        return SESSION_FAILED;
    struct store_listener listener = listener_for(output);
    struct store_error error = { 0 };
    if (!store_event(store, number, &listener, print_event, (void *)output, &error)) {
        print_store_error(session, output, "", &error);
        return SESSION_FAILED;
    }
    struct event_rows rows = { output, 0 };
    struct profile_error profile_error = { { 0 } };
    session_print(output, "profile rows:");
    if (!profile_each_row_of_event(store_log(store), number, print_event_row, &rows, &profile_error)) {
        session_print_error(output, "error: %s", profile_error.message);
        return SESSION_FAILED;
    }
    if (rows.count == 0)
        session_print(output, "  none (no run profiled event %llu)", (unsigned long long)number);
    return SESSION_OK;
}

/* RUN: a number, or `last` / nothing for the newest. */
static bool parse_run(struct store *store, const char *text, size_t length, size_t column, int64_t *run,
                      const struct session_output *output)
{
    if (length == 0 || (length == 4 && memcmp(text, "last", 4) == 0)) {
        *run = profile_last_run(store_log(store));
        if (*run)
            return true;
        session_print_error(output, "error: no runs yet in %s", store_directory(store));
        return false;
    }
    int64_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9' || value > INT64_MAX / 10 - 10) {
            session_print_error(output, "error: expected a run id (a number from :runs) or `last` at column %zu",
                                column);
            return false;
        }
        value = value * 10 + (text[i] - '0');
    }
    *run = value;
    return true;
}

static void print_distribution(const struct session_output *output, enum profile_metric metric,
                               const struct profile_distribution *d)
{
    static const char *const labels[PROFILE_METRIC_COUNT] = {
        "wall time", "cpu time", "nock steps", "bytes allocated", "copy-out bytes", "dedup lookups", "dedup hits",
        "scratch gcs", "scratch gc time", "copy-out time", "home gc time", "commit wait", "dirty pages",
        "write faults",
    };
    char cells[5][32];
    const uint64_t values[5] = { d->total, d->p50, d->p90, d->p99, d->max };
    for (int i = 0; i < 5; i++) {
        if (metric == PROFILE_WALL_NS || metric == PROFILE_CPU_NS || metric == PROFILE_SCRATCH_COLLECT_NS ||
            metric == PROFILE_COPY_OUT_NS || metric == PROFILE_HOME_COLLECT_NS || metric == PROFILE_COMMIT_WAIT_NS)
            format_nanoseconds(values[i], cells[i], sizeof cells[i]);
        else
            format_count(values[i], cells[i], sizeof cells[i]);
    }
    session_print(output, "  %-16s %14s %11s %11s %11s %11s", labels[metric], cells[0], cells[1], cells[2], cells[3],
                  cells[4]);
}

/* Where the STM backend's time went: in its parallel epochs, the share of
 * the workers' time spent running events, committing and waiting; then
 * the copies to home after them (the calling thread alone) and the events
 * run serially.  (Runs stored by a nocklab before these were kept show
 * nothing.) */
static void print_stm_time(const struct session_output *output, const struct profile_stm_summary *stm)
{
    const struct stm_time *time = &stm->time;
    if (!time->epoch_ns && !time->serial_ns)
        return;
    char epochs[32], finish[32], serial[32];
    format_nanoseconds(time->epoch_ns, epochs, sizeof epochs);
    format_nanoseconds(time->finish_ns, finish, sizeof finish);
    format_nanoseconds(time->serial_ns, serial, sizeof serial);
    struct stm_time_shares shares = stm_time_shares(time);
    if (!time->epoch_ns)
        session_print(output, "  stm time: %s running events serially", serial);
    else
        session_print(output,
                      "  stm time: %s in parallel epochs on %u workers (%.0f%% running events, %.0f%% committing, "
                      "%.0f%% copying results to home, %.0f%% waiting), %s copying the rest to home after "
                      "them, %s running events serially",
                      epochs, time->workers, shares.running, shares.committing, shares.copying, shares.waiting, finish,
                      serial);
}

/* What the STM backend did in the run, if it ran there. */
static void print_stm_summary(const struct session_output *output, const struct profile_stm_summary *stm)
{
    if (!stm->events)
        return;
    char wasted[32];
    format_count(stm->wasted_steps, wasted, sizeof wasted);
    session_print(output, "  stm: %llu events in %llu batches (%llu shards), %llu in %llu parallel epochs; "
                  "%llu attempts, %llu re-runs, %s steps wasted",
                  (unsigned long long)stm->events, (unsigned long long)stm->batches, (unsigned long long)stm->shards,
                  (unsigned long long)stm->parallel_events, (unsigned long long)stm->epochs,
                  (unsigned long long)stm->attempts, (unsigned long long)stm->reruns, wasted);
    char line[STM_MAX_SHARDS * 24] = "";
    size_t length = 0;
    for (int shard = 0; shard < STM_MAX_SHARDS; shard++)
        if (stm->conflicts_by_shard[shard])
            length += (size_t)snprintf(line + length, sizeof line - length, " %d:%llu", shard,
                                       (unsigned long long)stm->conflicts_by_shard[shard]);
    session_print(output, "  stm conflicts by shard (shard:events re-run):%s", length ? line : " none");
    print_stm_time(output, stm);
}

/* The run's spawns: how long they took to start (a fork, or a hand-off to
 * a worker) and to run, and what came back to home. */
static void print_spawn_summary(const struct session_output *output, const struct profile_spawn_summary *spawns)
{
    if (!spawns->spawns)
        return;
    session_print(output, "  spawns: %llu outcomes applied (%llu timeouts), %llu bytes back, dedup %llu hits of %llu "
                  "lookups on the way in",
                  (unsigned long long)spawns->spawns, (unsigned long long)spawns->timeouts,
                  (unsigned long long)spawns->bytes_back, (unsigned long long)spawns->dedup_hits,
                  (unsigned long long)spawns->dedup_lookups);
    session_print(output, "  %-16s %14s %11s %11s %11s %11s", "per spawn", "total", "p50", "p90", "p99", "max");
    const struct profile_distribution *rows[2] = { &spawns->start_ns, &spawns->run_ns };
    const char *labels[2] = { "start (fork)", "run" };
    for (int r = 0; r < 2; r++) {
        char cells[5][32];
        const uint64_t values[5] = { rows[r]->total, rows[r]->p50, rows[r]->p90, rows[r]->p99, rows[r]->max };
        for (int i = 0; i < 5; i++)
            format_nanoseconds(values[i], cells[i], sizeof cells[i]);
        session_print(output, "  %-16s %14s %11s %11s %11s %11s", labels[r], cells[0], cells[1], cells[2], cells[3],
                      cells[4]);
    }
}

enum session_result commands_kernel_profile(struct session *session, const struct command_arguments *arguments,
                                            const struct session_output *output)
{
    struct store *store = open_store(session, false, false, NULL, output);
    int64_t run;
    if (!store || !parse_run(store, arguments->line + arguments->rest_start, arguments->rest_end - arguments->rest_start,
                             arguments->rest_start + 1, &run, output))
        return SESSION_FAILED;
    struct profile_summary *summary = malloc(sizeof *summary);
    struct profile_error error = { { 0 } };
    if (!summary || !profile_summarize(store_log(store), run, summary, &error)) {
        session_print_error(output, "error: %s", summary ? error.message : "out of memory");
        free(summary);
        return SESSION_FAILED;
    }
    char events[32], time[32];
    format_count(summary->count, events, sizeof events);
    format_nanoseconds(summary->run.wall_ns, time, sizeof time);
    session_print(output, "run %lld (%s, %s backend%s%s): %s events %llu..%llu in %s, %s",
                  (long long)summary->run.id, summary->run.kind, summary->run.backend, summary->run.note[0] ? ", " : "",
                  summary->run.note, events, (unsigned long long)summary->run.first_event,
                  (unsigned long long)summary->run.last_event, time, summary->run.status);
    if (summary->count) {
        session_print(output, "  %-16s %14s %11s %11s %11s %11s", "per event", "total", "p50", "p90", "p99", "max");
        for (int m = 0; m < PROFILE_METRIC_COUNT; m++)
            print_distribution(output, (enum profile_metric)m, &summary->metrics[m]);
        session_print(output, "  %%bout spans: %llu", (unsigned long long)summary->spans);
        session_print(output, "  slowest events:");
        for (size_t i = 0; i < summary->slowest_count; i++) {
            char wall[32], steps[32];
            format_nanoseconds(summary->slowest[i].wall_ns, wall, sizeof wall);
            format_count(summary->slowest[i].steps, steps, sizeof steps);
            session_print(output, "    event %-10llu %10s  %s steps", (unsigned long long)summary->slowest[i].event_number,
                          wall, steps);
        }
    }
    print_stm_summary(output, &summary->stm);
    print_spawn_summary(output, &summary->spawns);
    free(summary);
    return SESSION_OK;
}

static bool ends_with(const char *text, const char *suffix)
{
    size_t length = strlen(text), suffix_length = strlen(suffix);
    return length >= suffix_length && strcmp(text + length - suffix_length, suffix) == 0;
}

enum session_result commands_kernel_export(struct session *session, const struct command_arguments *arguments,
                                           const struct session_output *output)
{
    struct store *store = open_store(session, false, false, NULL, output);
    int64_t run;
    if (!store || !parse_run(store, arguments->line + arguments->word_start, arguments->word_end - arguments->word_start,
                             arguments->word_start + 1, &run, output))
        return SESSION_FAILED;
    size_t length = arguments->rest_end - arguments->rest_start;
    char *path = malloc(length + 1);
    if (!path) {
        session_print_error(output, "error: out of memory");
        return SESSION_FAILED;
    }
    memcpy(path, arguments->line + arguments->rest_start, length);
    path[length] = '\0';
    struct profile_error error = { { 0 } };
    uint64_t written = 0;
    bool ok;
    if (ends_with(path, ".json")) {
        ok = profile_export_trace(store_log(store), run, path, &written, &error);
    } else if (ends_with(path, ".csv")) {
        ok = profile_export_csv(store_log(store), run, path, &written, &error);
    } else {
        ok = false;
        snprintf(error.message, sizeof error.message,
                 "%s: the path must end in .json (Chrome trace) or .csv", path);
    }
    if (ok)
        session_print(output, "run %lld: %llu events written to %s", (long long)run, (unsigned long long)written, path);
    else
        session_print_error(output, "error: %s", error.message);
    free(path);
    return ok ? SESSION_OK : SESSION_FAILED;
}

/* ---- nocklab gen / nocklab replay -------------------------------------------------------- */

const char commands_kernel_usage[] =
    "  nocklab [--backend NAME] [--workers N] [--nice N] [--ordered] gen|replay ...\n"
    "                run spawns on backend NAME (serial, fork, threads) with\n"
    "                N workers, or events in parallel batches (stm);\n"
    "                --ordered applies spawn outcomes in spawn order,\n"
    "                so gen writes the same log under every backend\n"
    "  nocklab gen SAMPLE N STORE [--seed S] [--snapshot jam|pma] [--snap-every K]\n"
    "                boot sample SAMPLE (counter, kv, jobs, mix) in the new store\n"
    "                STORE and log N generated events (seed 1 by default);\n"
    "                with --snap-every, snapshot the kernel every K events\n"
    "  nocklab replay STORE [--from N] [--to M] [--snapshot jam|pma] [--snap-every K]\n"
    "                [--scratch]\n"
    "                replay STORE's log from its newest valid snapshot (from\n"
    "                the boot kernel with --scratch), checking every mug; ends\n"
    "                by printing `event N mug 0x...` for the final kernel\n"
    "  --tui         (before or after either) show the live panes while it\n"
    "                runs, and the summary at the end until q\n"
    "  --prof FILE   sample the kernel's Nock and write folded stacks to FILE\n";

bool commands_kernel_is_subcommand(const char *word)
{
    return strcmp(word, "gen") == 0 || strcmp(word, "replay") == 0;
}

/* The store a subcommand works on now, for SIGINT and q on the panes;
 * `work_stopped` once either asked it to stop (compare then runs no more
 * backends).  Once work began, SIGINT only stops it, even between two
 * stores; before, it ends the process as usual. */
static struct store *volatile subcommand_store;
static volatile sig_atomic_t work_began, work_stopped;

static void stop_work(void)
{
    work_stopped = 1;
    struct store *store = subcommand_store;
    if (store)
        store_interrupt(store);
}

static void on_subcommand_interrupt(int signal_number)
{
    if (work_began) {
        stop_work();
        return;
    }
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void catch_interrupts(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_subcommand_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, NULL);
}

void commands_kernel_work_on(struct store *store)
{
    static bool catching;
    if (!catching)
        catch_interrupts();
    catching = true;
    subcommand_store = store;
    if (store)
        work_began = 1;
}

bool commands_kernel_work_stopped(void) { return work_stopped; }

static void stderr_notice(void *context, const char *text) { fprintf(stderr, "note: %s\n", text); }

static struct store_listener subcommand_listener(void)
{
    return (struct store_listener){ .notice = stderr_notice, .progress = show_progress };
}



/* ---- panes and sampling for a subcommand (--tui, --prof FILE) ----------------------- */

/* The sampler follows whichever evaluator the store runs events on. */
static void follow_evaluator(void *context, struct nock_context *nock) { commands_profile_follow(nock); }

static void progress_to_monitor(void *context, const char *what, uint64_t done, uint64_t total, double seconds, bool final)
{
    monitor_progress(monitor_process(), done, total);
}

static void quit_from_panes(void *context) { stop_work(); }

/* Start what the command line asked for; returns the panes, or NULL when
 * there are none (not asked for, or no terminal: then it says so). */
struct tui *commands_kernel_watch_begin(const char *title, const char *activity, struct store_listener *listener)
{
    const struct profile_request *request = commands_profile_request();
    struct sampler *sampler = NULL;
    if (request->tui || request->prof_path) {
        sampler = commands_profile_sampler();
        if (sampler && !sampler_running(sampler) && !commands_profile_start(NULL, NULL, SAMPLER_DEFAULT_HZ))
            sampler = NULL;
        if (sampler)
            sampler_count_outside(sampler, true);
        listener->evaluator = follow_evaluator;
    }
    if (!request->tui)
        return NULL;
    char why[200];
    if (!tui_terminal_usable(why, sizeof why)) {
        fprintf(stderr, "nocklab: --tui: %s; running without them\n", why);
        return NULL;
    }
    monitor_begin_run(monitor_process(), activity, 0);
    struct tui_options options = {
        .mode = TUI_RUN,
        .title = title,
        .hot = sampler ? sampler_folded(sampler) : NULL,
        .quit = quit_from_panes,
    };
    struct tui *tui = tui_open(&options, why, sizeof why);
    if (!tui) {
        fprintf(stderr, "nocklab: --tui: %s; running without the panes\n", why);
        return NULL;
    }
    listener->progress = progress_to_monitor;
    return tui;
}

/* The work is over: the panes show `summary` until q; the profile is
 * written if --prof asked for it. */
void commands_kernel_watch_end(struct tui *tui, const char *summary)
{
    struct sampler *sampler = commands_profile_sampler();
    if (sampler)
        sampler_stop(sampler);
    if (tui) {
        monitor_set_activity(monitor_process(), "done");
        tui_finish(tui, summary);
        tui_close(tui);
    }
    const char *path = commands_profile_request()->prof_path;
    if (path)
        commands_profile_write(path);
}

/* Show the outcome (in the panes until q, if they are up, then on the
 * terminal: the report on stderr, the final `event N mug` line on
 * stdout) and close the store. */
static void finish_subcommand(struct tui *tui, struct store *store, const char *report, const char *last)
{
    char summary[800];
    snprintf(summary, sizeof summary, "%s\n%s", report, last);
    commands_kernel_watch_end(tui, summary);
    fprintf(stderr, "%s\n", report);
    if (last[0])
        printf("%s\n", last);
    commands_kernel_work_on(NULL);
    store_close(store);
}

static int run_gen(struct noun_home *home, const char *sample, uint64_t count, const char *directory, uint64_t seed,
                   const struct store_snapshot_options *snapshots)
{
    char why[400];
    noun kernel;
    if (!samples_load_kernel(sample, home, &kernel, why, sizeof why)) {
        fprintf(stderr, "nocklab gen: %s\n", why);
        return 1;
    }
    struct store_error error = { 0 };
    struct store *store = store_open(directory, true, home, &error);
    if (!store) {
        fprintf(stderr, "nocklab gen: %s\n", error.message);
        return 1;
    }
    if (!use_chosen_backend(store, &error)) {
        fprintf(stderr, "nocklab gen: %s\n", error.message);
        store_close(store);
        return 1;
    }
    commands_kernel_work_on(store);
    struct store_listener listener = subcommand_listener();
    char title[300];
    snprintf(title, sizeof title, "gen %s %s", sample, directory);
    struct tui *tui = commands_kernel_watch_begin(title, "generating", &listener);
    struct store_generate_result result;
    int status = 0;
    char report[600], last[120] = "";
    if (!store_use_snapshots(store, snapshots, &error) || !store_boot(store, sample, kernel, &error) ||
        !store_generate(store, sample, count, seed, &listener, &result, &error)) {
        snprintf(report, sizeof report, "nocklab gen: %s", error.message);
        status = 1;
    } else {
        char events[32], rate[32];
        format_count(result.generated, events, sizeof events);
        format_count(result.seconds > 0 ? (uint64_t)((double)result.generated / result.seconds) : 0, rate, sizeof rate);
        snprintf(report, sizeof report, "generated %s %s events in %.2f s (%s events/s) into %s", events, sample,
                 result.seconds, rate, directory);
        snprintf(last, sizeof last, "event %llu mug 0x%x", (unsigned long long)result.last_event, (unsigned)result.mug);
    }
    finish_subcommand(tui, store, report, last);
    return status;
}

static int run_replay(struct noun_home *home, const char *directory, uint64_t from, uint64_t to,
                      const struct store_snapshot_options *snapshots)
{
    struct store_error error = { 0 };
    struct store *store = store_open(directory, false, home, &error);
    if (!store) {
        fprintf(stderr, "nocklab replay: %s\n", error.message);
        return 1;
    }
    if (!use_chosen_backend(store, &error)) {
        fprintf(stderr, "nocklab replay: %s\n", error.message);
        store_close(store);
        return 1;
    }
    if (evlog_read_only(store_log(store)))
        fprintf(stderr, "note: store %s is read-only (%s): the replay is not recorded in it\n", directory,
                evlog_read_only(store_log(store)));
    commands_kernel_work_on(store);
    struct store_listener listener = subcommand_listener();
    char title[300];
    snprintf(title, sizeof title, "replay %s", directory);
    struct tui *tui = commands_kernel_watch_begin(title, "replaying", &listener);
    struct store_replay_result result;
    int status = 0;
    char report[600], last[120] = "";
    if (!store_use_snapshots(store, snapshots, &error)) {
        snprintf(report, sizeof report, "nocklab replay: %s", error.message);
        status = 1;
    } else if (!store_replay(store, from, to, &listener, &result, &error)) {
        snprintf(report, sizeof report, "nocklab replay: replay stopped: %s", error.message);
        status = 1;
    } else {
        describe_replay(report, sizeof report, &result);
        snprintf(last, sizeof last, "event %llu mug 0x%x", (unsigned long long)result.last_event, (unsigned)result.mug);
    }
    if (status && error.trace)
        error.trace = into_home(home, error.trace); /* the store's home may close with it */
    finish_subcommand(tui, store, report, last);
    /* The refused event's trace (a home noun, so it outlives the store)
     * comes after the report, once the panes are closed. */
    if (status && error.trace)
        session_print_trace(&session_output_stdio, error.trace);
    return status;
}

static int usage_error(const char *format, const char *detail)
{
    fprintf(stderr, "nocklab: ");
    fprintf(stderr, format, detail);
    fprintf(stderr, "\nusage:\n%s", commands_kernel_usage);
    return 2;
}

int commands_kernel_main(int argc, char **argv)
{
    const char *subcommand = argv[1];
    char *words[16];
    int count = 0;
    uint64_t seed = 1;
    char *range_words[8];
    int range_count = 0;
    struct store_snapshot_options snapshots = { 0 };
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && strcmp(subcommand, "gen") == 0) {
            if (i + 1 >= argc || !parse_count(argv[i + 1], &seed))
                return usage_error("--seed needs a number from 0 to 2^63-1%s", "");
            i++;
        } else if (strcmp(argv[i], "--snapshot") == 0) {
            if (i + 1 >= argc || !snapshot_kind_parse(argv[i + 1], &snapshots.kind))
                return usage_error("--snapshot takes jam or pma%s", "");
            i++;
        } else if (strcmp(argv[i], "--snap-every") == 0) {
            if (i + 1 >= argc || !parse_count(argv[i + 1], &snapshots.every) || snapshots.every == 0)
                return usage_error("--snap-every needs a number of events (1 or more)%s", "");
            i++;
        } else if (strcmp(argv[i], "--scratch") == 0 && strcmp(subcommand, "replay") == 0) {
            snapshots.ignore = true;
        } else if ((strncmp(argv[i], "--from", 6) == 0 || strncmp(argv[i], "--to", 4) == 0) &&
                   strcmp(subcommand, "replay") == 0 && range_count < 6) {
            range_words[range_count++] = argv[i];
            if (!strchr(argv[i], '=') && i + 1 < argc)
                range_words[range_count++] = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage_error("unknown option %s", argv[i]);
        } else if (count < 16) {
            words[count++] = argv[i];
        }
    }
    char why[400];
    struct memory_plan plan;
    if (!memory_plan_make(0, 0, &plan, why, sizeof why)) {
        fprintf(stderr, "nocklab: %s\n", why);
        return 1;
    }
    nock_set_default_scratch_bytes(plan.scratch_half_bytes);
    struct noun_home *home = noun_home_new(noun_arena_memory(plan.home_bytes));
    if (!home) {
        fprintf(stderr, "nocklab: cannot reserve address space for home\n");
        return 1;
    }
    commands_kernel_work_on(NULL);
    int status;
    if (strcmp(subcommand, "gen") == 0) {
        uint64_t events;
        if (count != 3)
            status = usage_error("gen takes SAMPLE N STORE%s", "");
        else if (!samples_known(words[0]))
            status = usage_error("no sample named %s (the samples are counter, kv, jobs, mix)", words[0]);
        else if (!parse_count(words[1], &events))
            status = usage_error("N must be a number of events (0 to 2^63-1), not %s", words[1]);
        else
            status = run_gen(home, words[0], events, words[2], seed, &snapshots);
    } else {
        uint64_t from, to;
        char why[160];
        if (count != 1)
            status = usage_error("replay takes one STORE%s", "");
        else if (!parse_range(range_count, range_words, &from, &to, why, sizeof why))
            status = usage_error("%s", why);
        else
            status = run_replay(home, words[0], from, to, &snapshots);
    }
    noun_home_free(home);
    return status;
}
