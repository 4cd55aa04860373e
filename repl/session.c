/* session.c -- a nocklab session: bindings, running lines, the line cycle.
 *
 * Every line goes through the same cycle, whichever way it arrived:
 *
 *   1. classify: blank or `::` comment, `:command`, `=name EXPR`, or EXPR
 *   2. run it, printing through the caller's session_output
 *   3. reset scratch (whatever is kept was copied to home already)
 *   4. collect home if it has more than doubled since the last collection
 *
 * Scratch running out outside the evaluator (while parsing a huge literal,
 * say) calls the region's out_of_memory handler, which this file points at a
 * longjmp back to the line's start; the line then fails like any other.
 */
#include "repl/session.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp/hoon.h"
#include "interp/jets.h"
#include "interp/text.h"
#include "repl/colour.h"
#include "repl/command.h"
#include "repl/commands_explore.h"
#include "repl/entry.h"
#include "repl/expression.h"
#include "repl/interactive.h"

/* Home is never collected while smaller than this, so a session of small
 * lines doesn't collect after every one. */
#define SESSION_HOME_COLLECT_FLOOR ((size_t)4 << 20)
#define SESSION_DEFAULT_HOME_CAPACITY ((size_t)64 << 30)
/* A crash trace longer than this prints its innermost entries and a count
 * of the rest: a runaway recursion can leave a million entries. */
#define SESSION_MAX_TRACE_LINES 1000
/* Clues in trace lines print at most this many cells. */
#define SESSION_MAX_TRACE_CELLS 2000
#define SESSION_DEFAULT_PRINT_MAX_CELLS 1000000

/* A bound name.  `value` is a home root (registered with
 * noun_home_root_add), so the struct never moves once made.  Bindings are
 * chained per hash bucket and, separately, in the order they were made. */
struct binding {
    struct binding *next_in_bucket;
    struct binding *next_in_order;
    noun value;
    size_t name_length;
    char name[];
};

/* The session.  `line_running` is read by the SIGINT handler: true from
 * the start of a line to its end.  `out_of_memory_exit` is valid while
 * `out_of_memory_armed`. */
struct session {
    struct noun_home *home;
    struct nock_context *nock;
    struct expression_evaluator *expressions;
    struct binding **buckets;
    size_t bucket_count;       /* a power of two */
    size_t binding_count;
    struct binding *first_binding, *last_binding;
    const struct session_output *output; /* of the running line, for hooks */
    struct text_print_options print;     /* how session_print_noun writes */
    bool interactive;                    /* at a terminal REPL (may page) */
    /* The last Nock crash: its trace (a home root; 0 for none) and message. */
    noun last_crash_trace;
    bool has_crashed;
    char last_crash_message[200];
    volatile sig_atomic_t line_running;
    volatile sig_atomic_t interrupt_requested; /* during this line */
    bool quit_requested;
    bool out_of_memory_armed;
    jmp_buf out_of_memory_exit;
    /* The handler nock_context_new put on the region: back in place
     * whenever the evaluator runs, and between lines. */
    char *store_directory;                /* NULL: the default */
    size_t home_capacity;                 /* address space home reserved */
    char *snapshot_kind;                  /* --snapshot's value, or NULL */
    uint64_t snap_every;
    struct session_attachment attachment; /* state NULL when none */
    struct jets_dashboard *jets;          /* the evaluator's jets */
    struct hoon_runtime *hoon;            /* :ivory's kernel, or NULL */
};

/* ---- output ------------------------------------------------------------- */

static void stdio_line(FILE *stream, const char *text, size_t length)
{
    fwrite(text, 1, length, stream);
    fputc('\n', stream);
    fflush(stream);
}

static void stdio_value(void *context, const char *text, size_t length) { stdio_line(stdout, text, length); }

/* An error line's "error:" in colour at a terminal that shows it. */
static void stdio_error(void *context, const char *text, size_t length)
{
    static int coloured = -1;
    if (coloured < 0)
        coloured = colour_enabled(STDERR_FILENO);
    const char *at = NULL;
    for (size_t i = 0; i + 6 <= length && !at; i++)
        if (memcmp(text + i, "error:", 6) == 0)
            at = text + i;
    if (!coloured || !at) {
        stdio_line(stderr, text, length);
        return;
    }
    size_t before = (size_t)(at - text);
    fprintf(stderr, "%.*s" COLOUR_ERROR "error:" COLOUR_RESET, (int)before, text);
    stdio_line(stderr, at + 6, length - before - 6);
}

const struct session_output session_output_stdio = {
    .context = NULL,
    .value = stdio_value,
    .error = stdio_error,
    .notice = stdio_error,
};

static void print_line(void (*write_line)(void *, const char *, size_t), void *context,
                       const char *format, va_list arguments)
{
    char small[512];
    va_list again;
    va_copy(again, arguments);
    int length = vsnprintf(small, sizeof small, format, arguments);
    if (length < 0) {
        va_end(again);
        return;
    }
    if ((size_t)length < sizeof small) {
        write_line(context, small, (size_t)length);
    } else {
        char *big = malloc((size_t)length + 1);
        if (big) {
            vsnprintf(big, (size_t)length + 1, format, again);
            write_line(context, big, (size_t)length);
            free(big);
        } else {
            write_line(context, small, sizeof small - 1);
        }
    }
    va_end(again);
}

void session_print(const struct session_output *output, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    print_line(output->value, output->context, format, arguments);
    va_end(arguments);
}

void session_print_error(const struct session_output *output, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    print_line(output->error, output->context, format, arguments);
    va_end(arguments);
}

bool session_print_noun(struct session *session, const struct session_output *output, noun value)
{
    struct text_print_options options = session->print;
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    bool ok = text_print(&buffer, value, &options);
    if (ok)
        output->value(output->context, buffer.data ? buffer.data : "", buffer.length);
    else
        session_print_error(output, "error: out of memory while printing the result");
    text_buffer_free(&buffer);
    return ok;
}

/* ---- hooks: what a running computation says on the side ----------------- */

/* %leaf as an atom: the bytes "leaf", least significant first. */
#define SESSION_TERM_LEAF UINT64_C(0x6661656c)

/* Append a tape (a null-terminated list of printable bytes) as plain text;
 * false, with nothing appended, when `tape` is not one. */
static bool append_tape_text(struct text_buffer *buffer, noun tape)
{
    size_t count = 0;
    noun rest = tape;
    for (; noun_is_cell(rest); rest = noun_tail(rest), count++) {
        noun item = noun_head(rest);
        if (!noun_is_direct(item) || item < 0x20 || item > 0x7e)
            return false;
    }
    if (rest != 0 || count == 0)
        return false;
    for (rest = tape; noun_is_cell(rest); rest = noun_tail(rest)) {
        char c = (char)noun_head(rest);
        if (!text_buffer_append(buffer, &c, 1))
            return false;
    }
    return true;
}

void session_print_slog(const struct session_output *output, noun clue)
{
    if (!output || !output->notice)
        return;
    /* By convention the clue is [priority tank].  A tank shows as its text
     * (commands_explore_append_clue), anything else as noun text. */
    noun tank = noun_is_cell(clue) ? noun_tail(clue) : clue;
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    bool ok = text_buffer_append(&buffer, "slog: ", 6);
    size_t prefix = buffer.length;
    if (ok && !(noun_is_cell(tank) && noun_head(tank) == SESSION_TERM_LEAF &&
                append_tape_text(&buffer, noun_tail(tank)))) {
        buffer.length = prefix;
        buffer.data[prefix] = '\0';
        ok = commands_explore_append_clue(&buffer, 0, tank);
    }
    if (ok)
        output->notice(output->context, buffer.data, buffer.length);
    text_buffer_free(&buffer);
}

static void hook_slog(void *context, noun clue)
{
    struct session *session = context;
    session_print_slog(session->output, clue);
}

/* %fast: a core to register with the jet dashboard. */
static void hook_fast(void *context, noun clue, noun core)
{
    struct session *session = context;
    jets_dashboard_fast(session->jets, session->nock, clue, core);
}

static void hook_bout(void *context, uint64_t nanoseconds, noun clue)
{
    struct session *session = context;
    const struct session_output *output = session->output;
    if (!output || !output->notice)
        return;
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    struct text_print_options options = { .style = TEXT_TERM, .max_cells = 20 };
    bool ok = text_buffer_printf(&buffer, "bout: %.3f ms", (double)nanoseconds / 1e6);
    if (ok && clue != 0)
        ok = text_buffer_append(&buffer, " ", 1) && text_print(&buffer, clue, &options);
    if (ok)
        output->notice(output->context, buffer.data, buffer.length);
    text_buffer_free(&buffer);
}

/* ---- bindings ----------------------------------------------------------- */

static size_t hash_name(const char *name, size_t length)
{
    uint64_t hash = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)name[i]) * UINT64_C(1099511628211);
    return (size_t)hash;
}

static struct binding *find_binding(struct session *session, const char *name, size_t length)
{
    struct binding *b = session->buckets[hash_name(name, length) & (session->bucket_count - 1)];
    for (; b; b = b->next_in_bucket)
        if (b->name_length == length && memcmp(b->name, name, length) == 0)
            return b;
    return NULL;
}

static bool grow_buckets(struct session *session)
{
    size_t count = session->bucket_count * 2;
    struct binding **buckets = calloc(count, sizeof *buckets);
    if (!buckets)
        return false;
    for (struct binding *b = session->first_binding; b; b = b->next_in_order) {
        size_t index = hash_name(b->name, b->name_length) & (count - 1);
        b->next_in_bucket = buckets[index];
        buckets[index] = b;
    }
    free(session->buckets);
    session->buckets = buckets;
    session->bucket_count = count;
    return true;
}

noun session_lookup(struct session *session, const char *name, size_t name_length)
{
    struct binding *b = find_binding(session, name, name_length);
    return b ? b->value : NOUN_NONE;
}

static noun resolve_name(void *context, const char *name, size_t length)
{
    return session_lookup(context, name, length);
}

bool session_bind(struct session *session, const char *name, size_t name_length, noun value,
                  const struct session_output *output)
{
    noun kept = noun_home_copy_out(session->home, nock_context_region(session->nock), value);
    if (kept == NOUN_NONE) {
        session_print_error(output, "error: out of memory: home is full; %.*s is not bound", (int)name_length, name);
        return false;
    }
    struct binding *b = find_binding(session, name, name_length);
    if (b) {
        b->value = kept;
        return true;
    }
    if (session->binding_count >= session->bucket_count && !grow_buckets(session)) {
        session_print_error(output, "error: out of memory while binding %.*s", (int)name_length, name);
        return false;
    }
    b = malloc(sizeof *b + name_length + 1);
    if (!b) {
        session_print_error(output, "error: out of memory while binding %.*s", (int)name_length, name);
        return false;
    }
    memcpy(b->name, name, name_length);
    b->name[name_length] = '\0';
    b->name_length = name_length;
    b->value = kept;
    b->next_in_order = NULL;
    if (!noun_home_root_add(session->home, &b->value)) {
        free(b);
        session_print_error(output, "error: out of memory while binding %.*s", (int)name_length, name);
        return false;
    }
    size_t index = hash_name(name, name_length) & (session->bucket_count - 1);
    b->next_in_bucket = session->buckets[index];
    session->buckets[index] = b;
    if (session->last_binding)
        session->last_binding->next_in_order = b;
    else
        session->first_binding = b;
    session->last_binding = b;
    session->binding_count++;
    return true;
}

void session_each_binding(struct session *session,
                          void (*visit)(void *context, const char *name, noun value), void *context)
{
    for (struct binding *b = session->first_binding; b; b = b->next_in_order)
        visit(context, b->name, b->value);
}

/* ---- making and freeing ------------------------------------------------- */

struct nock_context *session_nock(struct session *session) { return session->nock; }
struct noun_home *session_home(struct session *session) { return session->home; }
const char *session_store_directory(const struct session *session) { return session->store_directory; }
size_t session_home_capacity(const struct session *session) { return session->home_capacity; }
const char *session_snapshot_kind(const struct session *session) { return session->snapshot_kind; }
uint64_t session_snap_every(const struct session *session) { return session->snap_every; }
void *session_attached(struct session *session) { return session->attachment.state; }

struct jets_dashboard *session_jets(struct session *session) { return session->jets; }
struct hoon_runtime *session_hoon(struct session *session) { return session->hoon; }

void session_set_hoon(struct session *session, struct hoon_runtime *runtime)
{
    if (session->hoon != runtime)
        hoon_runtime_free(session->hoon);
    session->hoon = runtime;
}

void session_attach(struct session *session, const struct session_attachment *attachment)
{
    /* The SIGINT handler may read the attachment while a line runs: clear
     * the interrupt hook first and set it last, so it never sees a hook
     * paired with state it doesn't belong to. */
    session->attachment.interrupt = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    session->attachment.state = attachment->state;
    session->attachment.release = attachment->release;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    session->attachment.interrupt = attachment->interrupt;
}

static void scratch_out_of_memory(void *context);

struct session *session_new(const struct session_options *options, char *why, size_t why_size)
{
    struct session_options defaults = { 0 };
    if (!options)
        options = &defaults;
    struct session *session = calloc(1, sizeof *session);
    if (!session) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    session->print.max_cells = options->print_max_cells ? options->print_max_cells : SESSION_DEFAULT_PRINT_MAX_CELLS;
    if (options->store_directory && !(session->store_directory = strdup(options->store_directory))) {
        snprintf(why, why_size, "out of memory");
        free(session);
        return NULL;
    }
    if (options->snapshot_kind && !(session->snapshot_kind = strdup(options->snapshot_kind))) {
        snprintf(why, why_size, "out of memory");
        free(session->store_directory);
        free(session);
        return NULL;
    }
    session->snap_every = options->snap_every;
    size_t home_capacity = options->home_capacity ? options->home_capacity : SESSION_DEFAULT_HOME_CAPACITY;
    session->home_capacity = home_capacity;
    struct noun_arena *arena = noun_arena_memory(home_capacity);
    session->home = arena ? noun_home_new(arena) : NULL;
    if (!session->home) {
        snprintf(why, why_size, "cannot reserve %zu MiB of address space for home", home_capacity >> 20);
        session_free(session);
        return NULL;
    }
    session->jets = jets_dashboard_new(session->home);
    if (!session->jets || !noun_home_root_add(session->home, &session->last_crash_trace)) {
        snprintf(why, why_size, "out of memory");
        session_free(session);
        return NULL;
    }
    struct nock_config config = {
        .scratch_max_bytes = options->scratch_max_bytes,
        .keep_memo = true,
        .hooks = { .context = session, .slog = hook_slog, .bout = hook_bout, .fast = hook_fast },
        .jets = jets_dashboard_hooks(session->jets),
    };
    session->nock = nock_context_new(session->home, &config);
    session->expressions = expression_evaluator_new();
    session->bucket_count = 16;
    session->buckets = calloc(session->bucket_count, sizeof *session->buckets);
    if (!session->nock || !session->expressions || !session->buckets) {
        snprintf(why, why_size, "cannot make the evaluator (out of memory or address space)");
        session_free(session);
        return NULL;
    }
    /* Scratch running out outside an evaluation leaves the line through
     * here; nock_evaluate puts its own exit in place while it runs. */
    struct noun_region *region = nock_context_region(session->nock);
    region->out_of_memory = scratch_out_of_memory;
    region->out_of_memory_context = session;
    return session;
}

void session_free(struct session *session)
{
    if (!session)
        return;
    /* first: the attachment (a kernel store) keeps nouns in home */
    if (session->attachment.state && session->attachment.release)
        session->attachment.release(session->attachment.state);
    hoon_runtime_free(session->hoon);
    free(session->store_directory);
    free(session->snapshot_kind);
    struct binding *b = session->first_binding;
    while (b) {
        struct binding *next = b->next_in_order;
        noun_home_root_remove(session->home, &b->value);
        free(b);
        b = next;
    }
    free(session->buckets);
    expression_evaluator_free(session->expressions);
    if (session->nock)
        nock_context_free(session->nock);
    jets_dashboard_free(session->jets);
    if (session->home) {
        noun_home_root_remove(session->home, &session->last_crash_trace);
        noun_home_free(session->home);
    }
    free(session);
}

/* ---- evaluating --------------------------------------------------------- */

/* Print an atom that is a term (lowercase letters, digits, '-') as %term,
 * anything else canonically. */
bool session_append_term(struct text_buffer *buffer, noun tag)
{
    if (noun_is_atom(tag) && tag != 0 && noun_atom_byte_length(tag) <= 32) {
        uint8_t bytes[32];
        size_t length = noun_atom_byte_length(tag);
        noun_atom_to_bytes(tag, bytes, length);
        bool term = bytes[0] >= 'a' && bytes[0] <= 'z'; /* a term starts with a letter */
        for (size_t i = 0; i < length && term; i++)
            term = (bytes[i] >= 'a' && bytes[i] <= 'z') || (bytes[i] >= '0' && bytes[i] <= '9') || bytes[i] == '-';
        if (term)
            return text_buffer_printf(buffer, "%%%.*s", (int)length, (const char *)bytes);
    }
    return text_print(buffer, tag, NULL);
}

bool session_append_trace_entry(struct text_buffer *buffer, noun entry)
{
    if (!noun_is_cell(entry)) {
        struct text_print_options options = { .style = TEXT_TERM, .max_cells = SESSION_MAX_TRACE_CELLS };
        return text_print(buffer, entry, &options);
    }
    return session_append_term(buffer, noun_head(entry)) && text_buffer_append(buffer, " ", 1) &&
           commands_explore_append_clue(buffer, noun_head(entry), noun_tail(entry));
}

/* One line per trace entry, innermost first: `  %mean 'oops'`. */
void session_print_trace(const struct session_output *output, noun trace)
{
    uint64_t printed = 0, left_over = 0;
    for (noun rest = trace; noun_is_cell(rest); rest = noun_tail(rest)) {
        if (printed == SESSION_MAX_TRACE_LINES) {
            left_over++;
            continue;
        }
        struct text_buffer buffer;
        text_buffer_init(&buffer);
        if (text_buffer_append(&buffer, "  ", 2) && session_append_trace_entry(&buffer, noun_head(rest)))
            output->error(output->context, buffer.data, buffer.length);
        text_buffer_free(&buffer);
        printed++;
    }
    if (left_over)
        session_print_error(output, "  ...(%llu more trace entries)", (unsigned long long)left_over);
}

static void print_expression_error(const struct session_output *output, const struct expression_error *error)
{
    switch (error->status) {
    case EXPRESSION_OK:
        return;
    case EXPRESSION_SYNTAX:
        session_print_error(output, "error: %s", error->message);
        return;
    case EXPRESSION_CRASH:
        session_print_error(output, "error: crash: %s", error->message);
        session_print_trace(output, error->trace);
        return;
    case EXPRESSION_OUT_OF_MEMORY:
    case EXPRESSION_TOO_DEEP:
        session_print_error(output, "error: %s", error->message);
        return;
    case EXPRESSION_INTERRUPTED:
        session_print_error(output, "error: interrupted after %llu steps", (unsigned long long)error->steps);
        return;
    }
}

/* Keep a crash's trace in home for :trace (a trace too big for home is
 * kept as empty). */
static void remember_crash(struct session *session, const struct expression_error *error)
{
    noun kept = noun_home_copy_out(session->home, nock_context_region(session->nock), error->trace);
    session->last_crash_trace = kept == NOUN_NONE ? 0 : kept;
    session->has_crashed = true;
    snprintf(session->last_crash_message, sizeof session->last_crash_message, "%s", error->message);
}

void session_keep_crash(struct session *session, noun trace, const char *message)
{
    session->last_crash_trace = trace;
    session->has_crashed = true;
    snprintf(session->last_crash_message, sizeof session->last_crash_message, "%s", message);
}

bool session_last_crash(struct session *session, noun *trace, const char **message)
{
    if (!session->has_crashed)
        return false;
    *trace = session->last_crash_trace;
    *message = session->last_crash_message;
    return true;
}

void session_set_print_options(struct session *session, const struct text_print_options *options)
{
    session->print = *options;
}

struct text_print_options session_print_options(const struct session *session) { return session->print; }

void session_set_interactive(struct session *session, bool interactive) { session->interactive = interactive; }
bool session_is_interactive(const struct session *session) { return session->interactive; }

bool session_evaluate(struct session *session, const char *line, size_t length, size_t start,
                      const struct session_output *output, noun *value)
{
    struct expression_environment environment = {
        .nock = session->nock,
        .resolve_name = resolve_name,
        .resolver_context = session,
    };
    struct expression_error error;
    if (expression_evaluate(session->expressions, &environment, line, length, start, value, &error) == EXPRESSION_OK)
        return true;
    if (error.status == EXPRESSION_CRASH)
        remember_crash(session, &error);
    print_expression_error(output, &error);
    return false;
}

/* ---- the line cycle ----------------------------------------------------- */

static void scratch_out_of_memory(void *context)
{
    struct session *session = context;
    if (session->out_of_memory_armed)
        longjmp(session->out_of_memory_exit, 1);
    /* Not armed means allocation outside any line, which this file never
     * does; there is nowhere sensible to go. */
    abort();
}

/* `=name EXPR`: bind the value of EXPR. */
static enum session_result run_binding(struct session *session, const char *line, size_t length, size_t start,
                                       const struct session_output *output)
{
    size_t name_start = start + 1;
    size_t name_length = expression_name_length(line + name_start, length - name_start);
    size_t after = name_start + name_length;
    if (after < length && !expression_is_space(line[after])) {
        session_print_error(output, "error: expected a space after the name at column %zu "
                            "(a name is letters, digits and '-', starting with a letter)", after + 1);
        return SESSION_FAILED;
    }
    size_t expression_start = after;
    while (expression_start < length && expression_is_space(line[expression_start]))
        expression_start++;
    if (expression_start == length) {
        session_print_error(output, "error: expected an expression at column %zu: =%.*s EXPR binds a name",
                            length + 1, (int)name_length, line + name_start);
        return SESSION_FAILED;
    }
    noun value;
    if (!session_evaluate(session, line, length, expression_start, output, &value))
        return SESSION_FAILED;
    return session_bind(session, line + name_start, name_length, value, output) ? SESSION_OK : SESSION_FAILED;
}

static enum session_result run_expression(struct session *session, const char *line, size_t length, size_t start,
                                          const struct session_output *output)
{
    noun value;
    if (!session_evaluate(session, line, length, start, output, &value))
        return SESSION_FAILED;
    return session_print_noun(session, output, value) ? SESSION_OK : SESSION_FAILED;
}

/* `=WORD EXPR` where WORD is not a name (`=1bad 5`): meant as a binding,
 * since `=` of a noun is written `=[a b]` and a word and more after it
 * can't be one operand. */
static bool looks_like_binding(const char *line, size_t length, size_t start)
{
    size_t i = start + 1;
    if (i >= length || line[i] == '[' || expression_is_space(line[i]) || strchr("*/#?+=\"", line[i]))
        return false;
    while (i < length && !expression_is_space(line[i]) && line[i] != '[' && line[i] != ']')
        i++;
    while (i < length && expression_is_space(line[i]))
        i++;
    return i < length && (i == start + 1 || expression_is_space(line[i - 1]));
}

/* Dispatch on the line's first character.  A separate function from
 * session_run_line so nothing it keeps in locals is live across setjmp. */
enum session_result session_dispatch(struct session *session, const char *line, size_t length, size_t start,
                                    const struct session_output *output)
{
    if (line[start] == ':')
        return command_run(session, line, length, start, output);
    if (line[start] == '=' && expression_name_length(line + start + 1, length - start - 1) > 0)
        return run_binding(session, line, length, start, output);
    if (line[start] == '=' && looks_like_binding(line, length, start)) {
        size_t end = start + 1;
        while (end < length && !expression_is_space(line[end]))
            end++;
        session_print_error(output, "error: %.*s at column %zu is not a valid name (a name is letters, digits and "
                            "'-', starting with a letter)", (int)(end - start - 1 > 64 ? 64 : end - start - 1),
                            line + start + 1, start + 2);
        return SESSION_FAILED;
    }
    return run_expression(session, line, length, start, output);
}

/* Between lines: scratch holds nothing worth keeping.  Home is collected
 * once it has doubled, or after every line in collection stress mode. */
static void finish_line(struct session *session)
{
    nock_context_reset(session->nock);
    size_t used = noun_home_used(session->home);
    size_t after_last = noun_home_used_after_collect(session->home);
    if (after_last < SESSION_HOME_COLLECT_FLOOR / 2)
        after_last = SESSION_HOME_COLLECT_FLOOR / 2;
    if (used > 2 * after_last || noun_collection_stress())
        noun_home_collect(session->home);
}

/* Run a line that has something to run, with scratch's out-of-memory exit
 * pointed back here.  Kept apart from session_run_line so that no local
 * changed after setjmp is read after the longjmp. */
static enum session_result run_guarded(struct session *session, const char *line, size_t length, size_t start,
                                       const struct session_output *output)
{
    volatile enum session_result result = SESSION_FAILED;
    if (setjmp(session->out_of_memory_exit) == 0) {
        session->out_of_memory_armed = true;
        result = session_dispatch(session, line, length, start, output);
    } else {
        session_print_error(output, "error: out of memory: the scratch region is full");
        result = SESSION_FAILED;
    }
    session->out_of_memory_armed = false;
    return result;
}

enum session_result session_run_line(struct session *session, const char *line, size_t length,
                                     const struct session_output *output)
{
    while (length > 0 && (line[length - 1] == '\r' || line[length - 1] == '\n'))
        length--;
    size_t start = 0;
    while (start < length && expression_is_space(line[start]))
        start++;
    if (start == length || (length - start >= 2 && line[start] == ':' && line[start + 1] == ':'))
        return SESSION_OK;

    session->output = output;
    session->interrupt_requested = 0;
    session->line_running = 1;
    enum session_result result = run_guarded(session, line, length, start, output);
    finish_line(session);
    if (result == SESSION_QUIT)
        session->quit_requested = true;
    session->line_running = 0;
    session->output = NULL;
    return result;
}

/* Error lines of an entry read from a file get `FILE:LINE: ` in front:
 * the line the error's column falls in, or the entry's first line. */
struct located_output {
    const struct session_output *inner;
    const char *name;
    const struct entry *entry;
    size_t first_line;          /* 1-based line of the file the entry starts on */
};

size_t session_error_column(const char *text, size_t length)
{
    static const char key[] = "column ";
    for (size_t i = 0; i + sizeof key - 1 < length; i++) {
        if (memcmp(text + i, key, sizeof key - 1) != 0)
            continue;
        size_t column = 0;
        for (size_t j = i + sizeof key - 1; j < length && text[j] >= '0' && text[j] <= '9' && column < 1000000; j++)
            column = column * 10 + (size_t)(text[j] - '0');
        return column;
    }
    return 0;
}

static void located_value(void *context, const char *text, size_t length)
{
    struct located_output *located = context;
    located->inner->value(located->inner->context, text, length);
}

static void located_notice(void *context, const char *text, size_t length)
{
    struct located_output *located = context;
    located->inner->notice(located->inner->context, text, length);
}

static void located_error(void *context, const char *text, size_t length)
{
    struct located_output *located = context;
    if (length < 6 || memcmp(text, "error:", 6) != 0) {
        located->inner->error(located->inner->context, text, length);
        return;
    }
    size_t column = session_error_column(text, length);
    size_t line = located->first_line + (column ? entry_line_of_column(located->entry, column) : 0);
    session_print_error(located->inner, "%s:%zu: %.*s", located->name, line, (int)length, text);
}

bool session_run_stream(struct session *session, FILE *stream, const char *name,
                        const struct session_output *output)
{
    char *line = NULL;
    size_t capacity = 0;
    ssize_t length;
    bool all_ok = true;
    struct entry entry = { 0 };
    size_t line_number = 0, first_line = 1;
    struct located_output located = { .inner = output, .name = name, .entry = &entry };
    const struct session_output located_output = {
        .context = &located, .value = located_value, .error = located_error, .notice = located_notice,
    };
    for (;;) {
        length = getline(&line, &capacity, stream);
        if (length >= 0) {
            line_number++;
            if (entry.lines == 0)
                first_line = line_number;
            if (!entry_add_line(&entry, line, (size_t)length)) {
                session_print_error(output, "%s:%zu: error: out of memory", name, line_number);
                all_ok = false;
                continue;
            }
            if (!entry_complete(&entry))
                continue;
        } else if (entry.lines == 0) {
            break;
        } else {
            /* The file ended inside an entry: run it, so the parser says
             * which '[' is still open. */
        }
        located.first_line = first_line;
        enum session_result result = session_run_line(session, entry.text, entry.length, &located_output);
        entry_clear(&entry);
        if (result == SESSION_FAILED)
            all_ok = false;
        if (result == SESSION_QUIT || length < 0)
            break;
    }
    free(line);
    entry_free(&entry);
    return all_ok;
}

bool session_quit_requested(const struct session *session) { return session->quit_requested; }

bool session_interrupted(const struct session *session) { return session->interrupt_requested != 0; }

bool session_interrupt(struct session *session)
{
    if (!session || !session->line_running)
        return false;
    session->interrupt_requested = 1;
    nock_interrupt(session->nock);
    if (session->attachment.state && session->attachment.interrupt)
        session->attachment.interrupt(session->attachment.state);
    return true;
}

/* The REPL itself is repl/interactive.c. */
int session_interactive(struct session *session) { return interactive_run(session); }
