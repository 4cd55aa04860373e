/* commands_explore.c -- :step, :trace, :set, :formula and :show.
 *
 * These commands show what Nock does rather than what it gives: the
 * reduction by the spec's rules (the reducer is interp/step.c), the hint
 * trace of a crash, a formula's shape.  Their output can be long, so it goes
 * through repl/pager.h, which pages only at an interactive terminal.
 *
 * :set is one table of settings (name, values, how to apply and describe
 * one); a new setting is a new row.
 */
#include "repl/commands_explore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/jets.h"
#include "interp/nock.h"
#include "interp/mug.h"
#include "interp/step.h"
#include "interp/text.h"
#include "repl/expression.h"
#include "repl/memory.h"
#include "repl/pager.h"

/* :formula stops after this many lines (a quoted battery can be huge). */
#define FORMULA_MAX_LINES 100000
/* Clues and quoted nouns print at most this many cells. */
#define CLUE_MAX_CELLS 200
#define QUOTE_MAX_CELLS 24
/* A quoted cell is expanded as a formula when it is one and has at least
 * this many cells (so [1 0 1] stays a plain quote). */
#define QUOTE_EXPAND_MIN_CELLS 6
/* Where the rule column of :step starts. */
#define STEP_RULE_COLUMN 44

/* :step's limits, for the process (one session per program). */
static uint64_t step_max_steps = STEP_DEFAULT_MAX_STEPS;
static uint64_t step_max_depth = 6;
static uint64_t step_max_cells = 20;

/* ---- helpers ------------------------------------------------------------ */

static bool on_terminal(struct session *session)
{
    return session_is_interactive(session) && isatty(STDOUT_FILENO);
}

static struct pager *open_pager(struct session *session, const struct session_output *output)
{
    struct pager *pager = pager_open(output, on_terminal(session));
    if (!pager)
        session_print_error(output, "error: out of memory");
    return pager;
}


static bool atom_is_printable(noun atom, size_t max_bytes)
{
    if (!noun_is_atom(atom) || atom == 0)
        return false;
    size_t length = noun_atom_byte_length(atom);
    if (length > max_bytes)
        return false;
    uint8_t *bytes = malloc(length);
    if (!bytes)
        return false;
    noun_atom_to_bytes(atom, bytes, length);
    bool printable = true;
    for (size_t i = 0; i < length && printable; i++)
        printable = bytes[i] >= 0x20 && bytes[i] <= 0x7e;
    free(bytes);
    return printable;
}

/* Append the bytes of a printable atom as they are (no quotes). */
static bool append_atom_text(struct text_buffer *buffer, noun atom)
{
    size_t length = noun_atom_byte_length(atom);
    uint8_t *bytes = malloc(length ? length : 1);
    if (!bytes)
        return false;
    noun_atom_to_bytes(atom, bytes, length);
    bool ok = text_buffer_append(buffer, (const char *)bytes, length);
    free(bytes);
    return ok;
}

/* Whether `n` is a tape of printable bytes (possibly empty). */
static bool is_printable_tape(noun n)
{
    for (; noun_is_cell(n); n = noun_tail(n))
        if (!noun_is_direct(noun_head(n)) || noun_head(n) < 0x20 || noun_head(n) > 0x7e)
            return false;
    return n == 0;
}

static bool append_tape(struct text_buffer *buffer, noun tape)
{
    for (; noun_is_cell(tape); tape = noun_tail(tape)) {
        char c = (char)noun_head(tape);
        if (!text_buffer_append(buffer, &c, 1))
            return false;
    }
    return true;
}

/* ---- :set --------------------------------------------------------------- */

/* One setting.  `apply` parses a value and sets it (printing an error line
 * and returning false on a bad value); `describe` writes the current value. */
struct setting {
    const char *name;
    const char *values;
    const char *summary;
    bool (*apply)(struct session *session, const char *value, size_t length, const struct session_output *output);
    void (*describe)(struct session *session, char *out, size_t size);
};

static bool word_is(const char *word, size_t length, const char *expected)
{
    return strlen(expected) == length && memcmp(word, expected, length) == 0;
}

/* A decimal count (dots allowed, as Hoon writes them) within [minimum,
 * maximum]. */
static bool parse_count(const char *value, size_t length, uint64_t minimum, uint64_t maximum, uint64_t *out,
                        const char *name, const struct session_output *output)
{
    uint64_t result = 0;
    size_t digits = 0;
    bool overflow = false;
    for (size_t i = 0; i < length; i++) {
        if (value[i] == '.' && i > 0 && i + 1 < length)
            continue;
        if (value[i] < '0' || value[i] > '9') {
            digits = 0;
            break;
        }
        if (result > (UINT64_MAX - 9) / 10)
            overflow = true;
        result = result * 10 + (uint64_t)(value[i] - '0');
        digits++;
    }
    if (digits == 0 || overflow || result < minimum || result > maximum) {
        session_print_error(output, "error: usage: :set %s N, with N from %llu to %llu", name,
                            (unsigned long long)minimum, (unsigned long long)maximum);
        return false;
    }
    *out = result;
    return true;
}

static const char *const style_names[] = {
    [TEXT_DECIMAL] = "dec", [TEXT_HEX] = "hex", [TEXT_HOON] = "hoon", [TEXT_CORD] = "cord", [TEXT_TAPE] = "tape",
    [TEXT_TERM] = "term",
};

static bool apply_print(struct session *session, const char *value, size_t length, const struct session_output *output)
{
    for (size_t i = 0; i < sizeof style_names / sizeof style_names[0]; i++) {
        if (word_is(value, length, style_names[i])) {
            struct text_print_options options = session_print_options(session);
            options.style = (enum text_atom_style)i;
            session_set_print_options(session, &options);
            return true;
        }
    }
    session_print_error(output, "error: usage: :set print dec|hex|hoon|cord|tape|term");
    return false;
}

static void describe_print(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%s", style_names[session_print_options(session).style]);
}

/* print-cells and print-depth: one limit of the session's printer. */
static bool apply_print_limit(struct session *session, const char *value, size_t length,
                              const struct session_output *output, const char *name, bool depth)
{
    uint64_t limit;
    if (!parse_count(value, length, 0, UINT64_MAX / 2, &limit, name, output))
        return false;
    struct text_print_options options = session_print_options(session);
    *(depth ? &options.max_depth : &options.max_cells) = limit;
    session_set_print_options(session, &options);
    return true;
}

static bool apply_print_cells(struct session *session, const char *value, size_t length,
                              const struct session_output *output)
{
    return apply_print_limit(session, value, length, output, "print-cells", false);
}

static void describe_print_cells(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%llu", (unsigned long long)session_print_options(session).max_cells);
}

static bool apply_print_depth(struct session *session, const char *value, size_t length,
                              const struct session_output *output)
{
    return apply_print_limit(session, value, length, output, "print-depth", true);
}

static void describe_print_depth(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%llu", (unsigned long long)session_print_options(session).max_depth);
}

static bool apply_step_limit(struct session *session, const char *value, size_t length,
                             const struct session_output *output)
{
    /* The reducer never collects scratch (about 25 bytes a step), so the
     * limit also bounds its memory: 10M steps is about 250 MB. */
    return parse_count(value, length, 1, 10000000, &step_max_steps, "step-limit", output);
}

static void describe_step_limit(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%llu", (unsigned long long)step_max_steps);
}

static bool apply_step_depth(struct session *session, const char *value, size_t length,
                             const struct session_output *output)
{
    return parse_count(value, length, 0, 1000000, &step_max_depth, "step-depth", output);
}

static void describe_step_depth(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%llu", (unsigned long long)step_max_depth);
}

static bool apply_step_cells(struct session *session, const char *value, size_t length,
                             const struct session_output *output)
{
    return parse_count(value, length, 1, 1000000, &step_max_cells, "step-cells", output);
}

static void describe_step_cells(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%llu", (unsigned long long)step_max_cells);
}

static bool apply_jets(struct session *session, const char *value, size_t length, const struct session_output *output)
{
    enum jets_mode mode;
    if (word_is(value, length, "on"))
        mode = JETS_ON;
    else if (word_is(value, length, "off"))
        mode = JETS_OFF;
    else if (word_is(value, length, "check"))
        mode = JETS_CHECK;
    else {
        session_print_error(output, "error: usage: :set jets on|off|check");
        return false;
    }
    struct jets_dashboard *jets = session_jets(session);
    if (!jets) {
        session_print_error(output, "error: this session has no jet dashboard");
        return false;
    }
    jets_dashboard_set_mode(jets, mode);
    return true;
}

static void describe_jets(struct session *session, char *out, size_t size)
{
    struct jets_dashboard *jets = session_jets(session);
    snprintf(out, size, "%s", jets ? jets_mode_name(jets_dashboard_mode(jets)) : "none");
}

static bool apply_par(struct session *session, const char *value, size_t length, const struct session_output *output)
{
    if (word_is(value, length, "on"))
        nock_set_par_check(false);
    else if (word_is(value, length, "check"))
        nock_set_par_check(true);
    else {
        session_print_error(output, "error: usage: :set par on|check");
        return false;
    }
    return true;
}

static void describe_par(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%s", nock_par_checking() ? "check" : "on");
}

/* Home is reserved once, when the session starts: its size is shown here
 * and chosen with --home-max. */
static bool apply_home_max(struct session *session, const char *value, size_t length,
                           const struct session_output *output)
{
    session_print_error(output, "error: home is reserved when nocklab starts; start it with --home-max SIZE "
                        "(this session's is shown by :set home-max)");
    return false;
}

static void describe_home_max(struct session *session, char *out, size_t size)
{
    memory_format_size(session_home_capacity(session), out, size);
}

/* Scratch regions made from now on (kernels, replays, spawns without a
 * memory limit of their own) reserve this much per half. */
static bool apply_scratch_max(struct session *session, const char *value, size_t length,
                              const struct session_output *output)
{
    size_t bytes;
    char why[200];
    if (!memory_parse_size(value, length, &bytes)) {
        session_print_error(output, "error: usage: :set scratch-max SIZE, like 512M or 2G");
        return false;
    }
    if (!memory_scratch_fits(bytes, why, sizeof why)) {
        session_print_error(output, "error: %s", why);
        return false;
    }
    nock_set_default_scratch_bytes(bytes);
    return true;
}

static void describe_scratch_max(struct session *session, char *out, size_t size)
{
    memory_format_size(nock_default_scratch_bytes(), out, size);
}

/* :load reads at most this many MiB unless set: 1/160 of the machine's
 * memory (between 16 MiB and 1 GiB).  Deeply nested text costs about 35
 * times its size to parse (docs/memory.md), so the largest file allowed
 * by default parses within a quarter of the machine. */
static uint64_t load_limit_mib;

static uint64_t default_load_limit_mib(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
    uint64_t share = pages > 0 && page_size > 0 ? ((uint64_t)pages * (uint64_t)page_size / 160) >> 20 : 64;
    return share < 16 ? 16 : share > 1024 ? 1024 : share;
}

uint64_t commands_explore_load_limit_bytes(void)
{
    if (!load_limit_mib)
        load_limit_mib = default_load_limit_mib();
    return load_limit_mib << 20;
}

static bool apply_load_limit(struct session *session, const char *value, size_t length,
                             const struct session_output *output)
{
    return parse_count(value, length, 1, 1 << 20, &load_limit_mib, "load-limit", output);
}

static void describe_load_limit(struct session *session, char *out, size_t size)
{
    snprintf(out, size, "%llu", (unsigned long long)(commands_explore_load_limit_bytes() >> 20));
}

static const struct setting settings[] = {
    { "print", "dec|hex|hoon|cord|tape|term", "how atoms print", apply_print, describe_print },
    { "print-cells", "N", "values print at most N cells, the rest elided (0: no limit)", apply_print_cells,
      describe_print_cells },
    { "print-depth", "N", "values print at most N brackets deep (0: no limit)", apply_print_depth,
      describe_print_depth },
    { "step-limit", "N", ":step stops after N reductions", apply_step_limit, describe_step_limit },
    { "step-depth", "N", ":step shows reductions nested at most N deep", apply_step_depth, describe_step_depth },
    { "step-cells", "N", ":step shows each noun in at most N cells", apply_step_cells, describe_step_cells },
    { "jets", "on|off|check", "run jets, pure Nock, or both and compare", apply_jets, describe_jets },
    { "par", "on|check", "%par maps in parallel (threads), or that and the body, compared", apply_par,
      describe_par },
    { "home-max", "SIZE", "address space home reserved at start (--home-max)", apply_home_max, describe_home_max },
    { "scratch-max", "SIZE", "each scratch half of kernels and spawns made from now on", apply_scratch_max,
      describe_scratch_max },
    { "load-limit", "N", ":load reads files of at most N MiB", apply_load_limit, describe_load_limit },
};

#define SETTING_COUNT (sizeof settings / sizeof settings[0])

const char *commands_explore_setting_name(size_t index)
{
    return index < SETTING_COUNT ? settings[index].name : NULL;
}

const char *commands_explore_setting_values(size_t index)
{
    return index < SETTING_COUNT ? settings[index].values : NULL;
}

static void print_setting(struct session *session, const struct setting *setting, const struct session_output *output)
{
    char value[64];
    setting->describe(session, value, sizeof value);
    session_print(output, "%-12s %-8s %-24s %s", setting->name, value, setting->values, setting->summary);
}

enum session_result commands_explore_set(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    const char *line = arguments->line;
    size_t name_start = arguments->rest_start, end = arguments->rest_end;
    if (name_start == end) {
        for (size_t i = 0; i < SETTING_COUNT; i++)
            print_setting(session, &settings[i], output);
        return SESSION_OK;
    }
    size_t name_end = name_start;
    while (name_end < end && !expression_is_space(line[name_end]))
        name_end++;
    size_t value_start = name_end;
    while (value_start < end && expression_is_space(line[value_start]))
        value_start++;
    const struct setting *setting = NULL;
    for (size_t i = 0; i < SETTING_COUNT && !setting; i++)
        if (word_is(line + name_start, name_end - name_start, settings[i].name))
            setting = &settings[i];
    if (!setting) {
        session_print_error(output, "error: no setting '%.*s' at column %zu (:set lists them)",
                            (int)(name_end - name_start > 64 ? 64 : name_end - name_start), line + name_start,
                            name_start + 1);
        return SESSION_FAILED;
    }
    if (value_start == end) {
        print_setting(session, setting, output);
        return SESSION_OK;
    }
    if (!setting->apply(session, line + value_start, end - value_start, output))
        return SESSION_FAILED;
    char value[64];
    setting->describe(session, value, sizeof value);
    session_print(output, "%s %s", setting->name, value);
    return SESSION_OK;
}

/* ---- :step -------------------------------------------------------------- */

/* What :step's line writer needs. */
struct step_printer {
    struct session *session;
    struct pager *pager;
    struct text_buffer line;
    bool out_of_memory;
};

static bool write_step_line(void *context, const struct step_line *line)
{
    struct step_printer *printer = context;
    if (session_interrupted(printer->session))
        return false;
    struct text_buffer *b = &printer->line;
    b->length = 0;
    bool ok;
    if (!line->rule) {
        ok = text_buffer_printf(b, "%6s %*s...(%llu %s deeper than level %llu not shown)", "",
                                (int)(2 * (line->depth > 40 ? 40 : line->depth)), "",
                                (unsigned long long)line->hidden, line->hidden == 1 ? "step" : "steps",
                                (unsigned long long)(line->depth - 1));
    } else {
        /* Deep nesting indents at most 40 levels; the rest is in the
         * number, so a line never starts off the screen. */
        uint64_t shown_depth = line->depth > 40 ? 40 : line->depth;
        ok = text_buffer_printf(b, "%6llu %*s%s", (unsigned long long)line->step, (int)(2 * shown_depth), "",
                                line->text);
        if (ok && line->depth > 40)
            ok = text_buffer_printf(b, "  [level %llu]", (unsigned long long)line->depth);
        size_t pad = b->length < STEP_RULE_COLUMN ? STEP_RULE_COLUMN - b->length : 2;
        ok = ok && text_buffer_printf(b, "%*s%s%s", (int)pad, "", line->crash ? "crash: " : "", line->rule);
    }
    if (!ok) {
        printer->out_of_memory = true;
        return false;
    }
    return pager_line(printer->pager, b->data, b->length);
}

static bool step_interrupted(void *context)
{
    struct step_printer *printer = context;
    return session_interrupted(printer->session);
}

/* :step *[A F] or :step [A F]: the operand of the leading * evaluates to
 * the cell of subject and formula. */
enum session_result commands_explore_step(struct session *session, const struct command_arguments *arguments,
                                          const struct session_output *output)
{
    size_t start = arguments->rest_start;
    if (arguments->line[start] == '*')
        start++;
    noun pair;
    if (!session_evaluate(session, arguments->line, arguments->rest_end, start, output, &pair))
        return SESSION_FAILED;
    if (!noun_is_cell(pair)) {
        session_print_error(output, "error: :step needs *[subject formula]; the expression at column %zu is an atom",
                            start + 1);
        return SESSION_FAILED;
    }
    struct step_printer printer = { .session = session, .pager = open_pager(session, output) };
    if (!printer.pager)
        return SESSION_FAILED;
    text_buffer_init(&printer.line);
    struct text_print_options print = session_print_options(session);
    print.max_cells = step_max_cells;
    print.max_depth = 0;
    struct step_options options = {
        .max_steps = step_max_steps,
        .max_depth = step_max_depth,
        .print = print,
        .write_line = write_step_line,
        .interrupted = step_interrupted,
        .context = &printer,
    };
    struct step_result result;
    step_run(nock_context_region(session_nock(session)), noun_head(pair), noun_tail(pair), &options, &result);

    enum session_result outcome = SESSION_OK;
    switch (result.status) {
    case STEP_DONE: {
        struct text_buffer *b = &printer.line;
        b->length = 0;
        struct text_print_options value_print = session_print_options(session);
        if (text_buffer_printf(b, "= ") && text_print(b, result.product, &value_print))
            pager_line(printer.pager, b->data, b->length);
        if (result.lines_hidden)
            pager_printf(printer.pager, "%llu steps (%llu deeper than level %llu not shown; :set step-depth N)",
                         (unsigned long long)result.steps, (unsigned long long)result.lines_hidden,
                         (unsigned long long)step_max_depth);
        else
            pager_printf(printer.pager, "%llu steps", (unsigned long long)result.steps);
        break;
    }
    case STEP_LIMIT:
        pager_printf(printer.pager, "%s (:set step-limit N)", result.message);
        break;
    case STEP_STOPPED:
        if (printer.out_of_memory) {
            session_print_error(output, "error: out of memory while printing a step");
            outcome = SESSION_FAILED;
        } else if (session_interrupted(session)) {
            pager_close(printer.pager);
            printer.pager = NULL;
            session_print_error(output, "error: interrupted after %llu steps", (unsigned long long)result.steps);
            outcome = SESSION_FAILED;
        }
        break; /* otherwise the reader quit the pager: nothing more to say */
    case STEP_CRASH:
    case STEP_INTERRUPTED:
    case STEP_OUT_OF_MEMORY:
        pager_close(printer.pager);
        printer.pager = NULL;
        session_print_error(output, "error: %s", result.message);
        outcome = SESSION_FAILED;
        break;
    }
    pager_close(printer.pager);
    text_buffer_free(&printer.line);
    return outcome;
}

/* ---- :trace ------------------------------------------------------------- */

#define TERM_LEAF UINT64_C(0x6661656c) /* %leaf */
#define TERM_ROSE UINT64_C(0x65736f72) /* %rose */
#define TERM_PALM UINT64_C(0x6d6c6170) /* %palm */
#define TERM_SPOT UINT64_C(0x746f7073) /* %spot */

/* Render a tank on one line, as Hoon's flat printer would: a leaf is its
 * text; a rose or palm is its opening, its tanks joined by its separator,
 * and its closing.  Iterative: work items are tanks to render or tapes to
 * copy, on a heap stack.  False when `tank` is not a tank (nothing useful
 * appended) or memory ran out. */
static bool append_tank(struct text_buffer *buffer, noun tank)
{
    struct work { noun n; bool is_tape; };
    size_t count = 0, capacity = 16;
    struct work *stack = malloc(capacity * sizeof *stack);
    if (!stack)
        return false;
    bool ok = true;
    stack[count++] = (struct work){ tank, false };
    while (ok && count > 0 && buffer->length < 4000) {
        struct work item = stack[--count];
        if (item.is_tape) {
            ok = append_tape(buffer, item.n);
            continue;
        }
        noun t = item.n;
        if (!noun_is_cell(t)) {
            ok = false;
            break;
        }
        noun tag = noun_head(t), body = noun_tail(t);
        if (tag == TERM_LEAF && is_printable_tape(body)) {
            ok = append_tape(buffer, body);
            continue;
        }
        if ((tag != TERM_ROSE && tag != TERM_PALM) || !noun_is_cell(body) || !noun_is_cell(noun_head(body)) ||
            !noun_is_cell(noun_tail(noun_head(body)))) {
            ok = false;
            break;
        }
        /* rose: [[separator open close] tanks]; palm: [[separator open
         * close end] tanks]. */
        noun tapes = noun_head(body), tanks = noun_tail(body);
        noun separator = noun_head(tapes), open = noun_head(noun_tail(tapes));
        noun after_open = noun_tail(noun_tail(tapes));
        noun close = noun_is_cell(after_open) && tag == TERM_PALM ? noun_head(after_open) : after_open;
        if (!is_printable_tape(separator) || !is_printable_tape(open) || !is_printable_tape(close)) {
            ok = false;
            break;
        }
        size_t items = 0;
        for (noun rest = tanks; noun_is_cell(rest); rest = noun_tail(rest))
            items++;
        if (count + 2 * items + 2 > capacity) {
            capacity = count + 2 * items + 16;
            struct work *grown = realloc(stack, capacity * sizeof *stack);
            if (!grown) {
                ok = false;
                break;
            }
            stack = grown;
        }
        /* Pushed in reverse: close, then items last to first with
         * separators between, then open. */
        stack[count++] = (struct work){ close, true };
        size_t first = count;
        for (noun rest = tanks; noun_is_cell(rest); rest = noun_tail(rest)) {
            if (count > first)
                stack[count++] = (struct work){ separator, true };
            stack[count++] = (struct work){ noun_head(rest), false };
        }
        for (size_t i = first, j = count - 1; i < j; i++, j--) {
            struct work swap = stack[i];
            stack[i] = stack[j];
            stack[j] = swap;
        }
        stack[count++] = (struct work){ open, true };
    }
    free(stack);
    return ok;
}

/* A %spot clue [path [[line column] [line column]]] as /a/b:<[l c].[l c]>;
 * false (nothing appended) when the clue has another shape. */
static bool append_spot(struct text_buffer *buffer, noun clue)
{
    if (!noun_is_cell(clue))
        return false;
    noun path = noun_head(clue), range = noun_tail(clue);
    noun rest = path;
    for (; noun_is_cell(rest); rest = noun_tail(rest))
        if (!atom_is_printable(noun_head(rest), 256))
            return false;
    if (rest != 0 || !noun_is_cell(range) || !noun_is_cell(noun_head(range)) || !noun_is_cell(noun_tail(range)))
        return false;
    noun from = noun_head(range), to = noun_tail(range);
    noun numbers[4] = { noun_head(from), noun_tail(from), noun_head(to), noun_tail(to) };
    for (int i = 0; i < 4; i++)
        if (!noun_is_direct(numbers[i]))
            return false;
    size_t start = buffer->length;
    bool ok = true;
    for (rest = path; ok && noun_is_cell(rest); rest = noun_tail(rest))
        ok = text_buffer_append(buffer, "/", 1) && append_atom_text(buffer, noun_head(rest));
    if (ok && buffer->length == start)
        ok = text_buffer_append(buffer, "/", 1);
    return ok && text_buffer_printf(buffer, ":<[%llu %llu].[%llu %llu]>", (unsigned long long)numbers[0],
                                    (unsigned long long)numbers[1], (unsigned long long)numbers[2],
                                    (unsigned long long)numbers[3]);
}

bool commands_explore_append_clue(struct text_buffer *buffer, noun tag, noun clue)
{
    size_t start = buffer->length;
    if (tag == TERM_SPOT && append_spot(buffer, clue))
        return true;
    buffer->length = start;
    if (noun_is_cell(clue) && append_tank(buffer, clue))
        return true;
    buffer->length = start;
    if (buffer->data)
        buffer->data[start] = '\0';
    if (atom_is_printable(clue, 4096))
        return text_buffer_append(buffer, "'", 1) && append_atom_text(buffer, clue) &&
               text_buffer_append(buffer, "'", 1);
    struct text_print_options options = { .style = TEXT_TERM, .max_cells = CLUE_MAX_CELLS };
    return text_print(buffer, clue, &options);
}

enum session_result commands_explore_trace(struct session *session, const struct command_arguments *arguments,
                                           const struct session_output *output)
{
    noun trace;
    const char *message;
    if (!session_last_crash(session, &trace, &message)) {
        session_print(output, "no crash yet in this session");
        return SESSION_OK;
    }
    struct pager *pager = open_pager(session, output);
    if (!pager)
        return SESSION_FAILED;
    uint64_t entries = 0;
    for (noun rest = trace; noun_is_cell(rest); rest = noun_tail(rest))
        entries++;
    pager_printf(pager, "last crash: %s", message);
    if (entries == 0)
        pager_printf(pager, "  (no %%spot, %%hunk, %%mean or %%lose hints were active)");
    struct text_buffer line;
    text_buffer_init(&line);
    uint64_t index = 0;
    bool ok = true;
    for (noun rest = trace; ok && noun_is_cell(rest); rest = noun_tail(rest), index++) {
        noun entry = noun_head(rest);
        line.length = 0;
        ok = text_buffer_printf(&line, "%4llu  ", (unsigned long long)index + 1);
        ok = ok && session_append_trace_entry(&line, entry);
        ok = ok && pager_line(pager, line.data, line.length);
    }
    text_buffer_free(&line);
    pager_close(pager);
    return SESSION_OK;
}

/* ---- :formula ----------------------------------------------------------- */

/* Whether `n` is a well-formed formula (every opcode with the operands it
 * needs, quotes holding anything), looking at no more than `budget` cells;
 * `*cells` receives the cells looked at. */
static bool is_formula(noun n, uint64_t budget, uint64_t *cells)
{
    size_t count = 0, capacity = 32;
    noun *stack = malloc(capacity * sizeof *stack);
    *cells = 0;
    if (!stack)
        return false;
    bool ok = true;
    stack[count++] = n;
    while (ok && count > 0) {
        noun f = stack[--count];
        if (!noun_is_cell(f) || ++*cells > budget) {
            ok = false;
            break;
        }
        noun op = noun_head(f), rest = noun_tail(f);
        noun pushes[3];
        size_t push_count = 0;
        if (noun_is_cell(op)) {
            pushes[push_count++] = op;
            pushes[push_count++] = rest;
        } else if (!noun_is_direct(op) || op > 11) {
            ok = false;
        } else if (op == 0) {
            ok = noun_is_atom(rest);
        } else if (op == 1) {
            /* anything */
        } else if (op == 3 || op == 4) {
            pushes[push_count++] = rest;
        } else if (!noun_is_cell(rest)) {
            ok = false;
        } else if (op == 6) {
            ok = noun_is_cell(noun_tail(rest));
            if (ok) {
                pushes[push_count++] = noun_head(rest);
                pushes[push_count++] = noun_head(noun_tail(rest));
                pushes[push_count++] = noun_tail(noun_tail(rest));
            }
        } else if (op == 9) {
            ok = noun_is_atom(noun_head(rest));
            pushes[push_count++] = noun_tail(rest);
        } else if (op == 10) {
            ok = noun_is_cell(noun_head(rest)) && noun_is_atom(noun_head(noun_head(rest)));
            if (ok) {
                pushes[push_count++] = noun_tail(noun_head(rest));
                pushes[push_count++] = noun_tail(rest);
            }
        } else if (op == 11) {
            noun hint = noun_head(rest);
            if (noun_is_cell(hint))
                pushes[push_count++] = noun_tail(hint);
            pushes[push_count++] = noun_tail(rest);
        } else {
            pushes[push_count++] = noun_head(rest);
            pushes[push_count++] = noun_tail(rest);
        }
        if (ok && count + push_count > capacity) {
            capacity = 2 * capacity + push_count;
            noun *grown = realloc(stack, capacity * sizeof *stack);
            if (!grown) {
                ok = false;
                break;
            }
            stack = grown;
        }
        for (size_t i = 0; ok && i < push_count; i++)
            stack[count++] = pushes[i];
    }
    free(stack);
    return ok;
}

/* A formula still to be shown: the noun, its indentation level and the
 * role it plays in its parent ("test", "then", ...; NULL for none). */
struct formula_item {
    noun formula;
    uint64_t depth;
    const char *role;
};

struct formula_printer {
    struct formula_item *stack;
    size_t count, capacity;
    struct text_buffer line;
    struct text_print_options quote_print;
    bool out_of_memory;
};

static void formula_push(struct formula_printer *p, noun formula, uint64_t depth, const char *role)
{
    if (p->count == p->capacity) {
        size_t capacity = p->capacity ? 2 * p->capacity : 64;
        struct formula_item *grown = realloc(p->stack, capacity * sizeof *grown);
        if (!grown) {
            p->out_of_memory = true;
            return;
        }
        p->stack = grown;
        p->capacity = capacity;
    }
    p->stack[p->count++] = (struct formula_item){ formula, depth, role };
}

/* Push the children of one opcode, last first so they print in order. */
static void push_children(struct formula_printer *p, uint64_t depth, const noun *children, const char *const *roles,
                          size_t count)
{
    for (size_t i = count; i-- > 0;)
        formula_push(p, children[i], depth + 1, roles ? roles[i] : NULL);
}

/* Write the line for one formula (its opcode and immediate operands) into
 * p->line and push the formulas it runs. */
static bool describe_formula(struct formula_printer *p, const struct formula_item *item)
{
    struct text_buffer *b = &p->line;
    noun f = item->formula;
    if (!noun_is_cell(f))
        return text_buffer_append(b, "(an atom, not a formula) ", 25) && text_print(b, f, &p->quote_print);
    noun op = noun_head(f), rest = noun_tail(f);
    bool has_pair = noun_is_cell(rest);
    noun b1 = has_pair ? noun_head(rest) : NOUN_NONE, c1 = has_pair ? noun_tail(rest) : NOUN_NONE;
    if (noun_is_cell(op)) {
        noun children[2] = { op, rest };
        static const char *const roles[] = { "head", "tail" };
        push_children(p, item->depth, children, roles, 2);
        return text_buffer_printf(b, "cons");
    }
    switch (noun_is_direct(op) ? op : 99) {
    case 0:
        if (!noun_is_atom(rest))
            break;
        return text_buffer_printf(b, "0 slot ") && text_print(b, rest, NULL);
    case 1: {
        bool ok = text_buffer_printf(b, "1 quote ") && text_print(b, rest, &p->quote_print);
        uint64_t cells;
        if (ok && is_formula(rest, FORMULA_MAX_LINES, &cells) && cells * 2 >= QUOTE_EXPAND_MIN_CELLS) {
            formula_push(p, rest, item->depth + 1, "quoted formula");
        }
        return ok;
    }
    case 2: {
        if (!has_pair)
            break;
        noun children[2] = { b1, c1 };
        static const char *const roles[] = { "subject", "formula" };
        push_children(p, item->depth, children, roles, 2);
        return text_buffer_printf(b, "2 eval");
    }
    case 3:
    case 4:
        push_children(p, item->depth, &rest, NULL, 1);
        return text_buffer_printf(b, op == 3 ? "3 cell?" : "4 increment");
    case 5: {
        if (!has_pair)
            break;
        noun children[2] = { b1, c1 };
        push_children(p, item->depth, children, NULL, 2);
        return text_buffer_printf(b, "5 equal");
    }
    case 6: {
        if (!has_pair || !noun_is_cell(c1))
            break;
        noun children[3] = { b1, noun_head(c1), noun_tail(c1) };
        static const char *const roles[] = { "test", "then", "else" };
        push_children(p, item->depth, children, roles, 3);
        return text_buffer_printf(b, "6 if");
    }
    case 7:
    case 8: {
        if (!has_pair)
            break;
        noun children[2] = { b1, c1 };
        static const char *const compose_roles[] = { "subject", "then" };
        static const char *const push_roles[] = { "pushed", "then" };
        push_children(p, item->depth, children, op == 7 ? compose_roles : push_roles, 2);
        return text_buffer_printf(b, op == 7 ? "7 compose" : "8 push");
    }
    case 9:
        if (!has_pair || !noun_is_atom(b1))
            break;
        push_children(p, item->depth, &c1, (const char *const[]){ "core" }, 1);
        return text_buffer_printf(b, "9 call arm ") && text_print(b, b1, NULL);
    case 10: {
        if (!has_pair || !noun_is_cell(b1) || !noun_is_atom(noun_head(b1)))
            break;
        noun children[2] = { noun_tail(b1), c1 };
        static const char *const roles[] = { "value", "target" };
        push_children(p, item->depth, children, roles, 2);
        return text_buffer_printf(b, "10 edit axis ") && text_print(b, noun_head(b1), NULL);
    }
    case 11: {
        if (!has_pair)
            break;
        bool ok = text_buffer_printf(b, "11 hint ") && session_append_term(b, noun_is_cell(b1) ? noun_head(b1) : b1);
        if (noun_is_cell(b1)) {
            noun children[2] = { noun_tail(b1), c1 };
            static const char *const roles[] = { "clue", "body" };
            push_children(p, item->depth, children, roles, 2);
        } else {
            push_children(p, item->depth, &c1, (const char *const[]){ "body" }, 1);
        }
        return ok;
    }
    default:
        break;
    }
    return text_buffer_printf(b, "(not a formula) ") && text_print(b, f, &p->quote_print);
}

enum session_result commands_explore_formula(struct session *session, const struct command_arguments *arguments,
                                             const struct session_output *output)
{
    noun formula;
    if (!session_evaluate(session, arguments->line, arguments->rest_end, arguments->rest_start, output, &formula))
        return SESSION_FAILED;
    struct pager *pager = open_pager(session, output);
    if (!pager)
        return SESSION_FAILED;
    struct formula_printer p = { 0 };
    text_buffer_init(&p.line);
    p.quote_print = session_print_options(session);
    p.quote_print.max_cells = QUOTE_MAX_CELLS;
    formula_push(&p, formula, 0, NULL);
    uint64_t lines = 0;
    bool reading = true;
    while (p.count > 0 && reading && !p.out_of_memory && !session_interrupted(session)) {
        struct formula_item item = p.stack[--p.count];
        if (lines == FORMULA_MAX_LINES) {
            pager_printf(pager, "...(stopped after %d lines)", FORMULA_MAX_LINES);
            break;
        }
        p.line.length = 0;
        uint64_t indent = item.depth > 60 ? 60 : item.depth;
        bool ok = text_buffer_printf(&p.line, "%*s", (int)(2 * indent), "");
        if (ok && item.role)
            ok = text_buffer_printf(&p.line, "%s: ", item.role);
        ok = ok && describe_formula(&p, &item);
        if (!ok) {
            p.out_of_memory = true;
            break;
        }
        reading = pager_line(pager, p.line.data, p.line.length);
        lines++;
    }
    pager_close(pager);
    free(p.stack);
    text_buffer_free(&p.line);
    if (p.out_of_memory) {
        session_print_error(output, "error: out of memory while showing the formula");
        return SESSION_FAILED;
    }
    return SESSION_OK;
}

/* ---- :show -------------------------------------------------------------- */

enum session_result commands_explore_show(struct session *session, const struct command_arguments *arguments,
                                          const struct session_output *output)
{
    const char *name = arguments->line + arguments->word_start;
    size_t name_length = arguments->word_end - arguments->word_start;
    noun value = session_lookup(session, name, name_length);
    if (value == NOUN_NONE) {
        session_print_error(output, "error: unknown name '%.*s' at column %zu (:names lists them)",
                            (int)(name_length > 64 ? 64 : name_length), name, arguments->word_start + 1);
        return SESSION_FAILED;
    }
    noun axis;
    if (!session_evaluate(session, arguments->line, arguments->rest_end, arguments->rest_start, output, &axis))
        return SESSION_FAILED;
    if (!noun_is_atom(axis) || axis == 0) {
        session_print_error(output, "error: the axis at column %zu must be an atom of 1 or more",
                            arguments->rest_start + 1);
        return SESSION_FAILED;
    }
    noun fragment = noun_fragment(axis, value);
    struct text_buffer axis_text;
    text_buffer_init(&axis_text);
    if (!text_print(&axis_text, axis, NULL)) {
        session_print_error(output, "error: out of memory");
        return SESSION_FAILED;
    }
    if (fragment == NOUN_NONE) {
        session_print_error(output, "error: %.*s has no axis %s: the path goes through an atom", (int)name_length,
                            name, axis_text.data);
        text_buffer_free(&axis_text);
        return SESSION_FAILED;
    }
    struct noun_census census;
    noun_census(fragment, &census);
    if (noun_is_cell(fragment))
        session_print(output, "/[%s %.*s]: a cell; %llu distinct %s, %llu distinct %s; mug 0x%x", axis_text.data,
                      (int)name_length, name, (unsigned long long)census.cells, census.cells == 1 ? "cell" : "cells",
                      (unsigned long long)census.atoms, census.atoms == 1 ? "atom" : "atoms",
                      (unsigned)mug_noun(fragment));
    else
        session_print(output, "/[%s %.*s]: an atom of %llu bits, mug 0x%x", axis_text.data, (int)name_length, name,
                      (unsigned long long)noun_atom_bit_length(fragment), (unsigned)mug_noun(fragment));
    text_buffer_free(&axis_text);
    return session_print_noun(session, output, fragment) ? SESSION_OK : SESSION_FAILED;
}
