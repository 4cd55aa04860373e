/* hoon.c -- compiling and running Hoon against a booted kernel (see hoon.h).
 *
 * Every evaluation here is a separate nock_evaluate in the caller's
 * context, and a scratch collection during one may move any scratch noun
 * held across it.  So whatever must outlive the next evaluation (the type,
 * the formula, the product, a crash trace, rendered tanks) is copied to home
 * first; home is hash-consed, so the standard library's pieces inside these
 * nouns cost nothing to copy.
 */
#include "interp/hoon.h"
#include "interp/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The gates this file wishes for, each compiled once per runtime. */
enum hoon_gate {
    GATE_COMPILE,   /* cord -> [type formula], against the standard library */
    GATE_PRINT,     /* [width vase] -> wall: Hoon's printer */
    GATE_MOOK,      /* trace -> tang: Hoon's rendering of stack frames */
    GATE_WASH,      /* [width tang] -> wall */
    GATE_COUNT
};

static const char *const gate_texts[GATE_COUNT] = {
    [GATE_COMPILE] = "|=(a=@t (~(mint ut -:!>(+>.$)) %noun (rain /eval a)))",
    [GATE_PRINT] = "|=([w=@ v=vase] (wash [0 w] (sell v)))",
    [GATE_MOOK] = "|=(t=(list [@ta *]) =/(o (mook [%2 t]) ?>(?=(%2 -.o) p.o)))",
    [GATE_WASH] = "|=([w=@ t=(list tank)] (zing (turn t |=(k=tank (wash [0 w] k)))))",
};

/* Traces longer than this are cut to their innermost entries (mook itself
 * skips frames past 1,024). */
#define HOON_MAX_TRACE_ENTRIES 1000

#define TAG_MEAN UINT64_C(0x6e61656d)
#define TAG_LEAF UINT64_C(0x6661656c)

/* The kernel and the gates wished from it, all home roots (0 until made). */
struct hoon_runtime {
    struct noun_home *home;
    noun kernel;
    noun gates[GATE_COUNT];
};

struct hoon_runtime *hoon_runtime_new(struct noun_home *home, noun kernel)
{
    struct hoon_runtime *runtime = calloc(1, sizeof *runtime);
    if (!runtime)
        return NULL;
    runtime->home = home;
    runtime->kernel = kernel;
    bool ok = noun_home_root_add(home, &runtime->kernel);
    for (int i = 0; i < GATE_COUNT && ok; i++)
        ok = noun_home_root_add(home, &runtime->gates[i]);
    if (!ok) {
        hoon_runtime_free(runtime);
        return NULL;
    }
    return runtime;
}

void hoon_runtime_free(struct hoon_runtime *runtime)
{
    if (!runtime)
        return;
    noun_home_root_remove(runtime->home, &runtime->kernel);
    for (int i = 0; i < GATE_COUNT; i++)
        noun_home_root_remove(runtime->home, &runtime->gates[i]);
    free(runtime);
}

noun hoon_runtime_kernel(const struct hoon_runtime *runtime) { return runtime->kernel; }

/* ---- evaluating ----------------------------------------------------------- */

static const char *status_text(enum nock_status status)
{
    switch (status) {
    case NOCK_OK: return "ok";
    case NOCK_CRASH: return "crashed";
    case NOCK_OUT_OF_MEMORY: return "out of memory";
    case NOCK_TOO_DEEP: return "nested too deep";
    case NOCK_INTERRUPTED: return "interrupted";
    case NOCK_BLOCKED: return "blocked on a scry";
    }
    return "failed";
}

/* *[gate [9 2 [10 [6 [1 sample]] [0 1]]]]: call a gate. */
static struct nock_outcome slam(struct nock_context *nock, noun gate, noun sample)
{
    struct noun_region *region = nock_context_region(nock);
    noun edit = noun_trel(region, 10, noun_cell_new(region, 6, noun_cell_new(region, 1, sample)),
                          noun_cell_new(region, 0, 1));
    noun formula = noun_trel(region, 9, 2, edit);
    return nock_evaluate(nock, gate, formula);
}

static noun cord(struct noun_region *region, const char *text, size_t length)
{
    return noun_atom_from_bytes(region, (const uint8_t *)text, length);
}

bool hoon_wish(struct hoon_runtime *runtime, struct nock_context *nock, const char *text, noun *value,
               char *why, size_t why_size)
{
    struct noun_region *region = nock_context_region(nock);
    /* [7 [9 10 0 1] 9 2 10 [6 1 text] 0 1]: make the wish gate, slam it */
    noun make_wish = noun_trel(region, 9, 10, noun_cell_new(region, 0, 1));
    noun edit = noun_trel(region, 10,
                          noun_cell_new(region, 6, noun_cell_new(region, 1, cord(region, text, strlen(text)))),
                          noun_cell_new(region, 0, 1));
    noun formula = noun_trel(region, 7, make_wish, noun_trel(region, 9, 2, edit));
    struct nock_outcome outcome = nock_evaluate(nock, runtime->kernel, formula);
    if (outcome.status != NOCK_OK) {
        snprintf(why, why_size, "wish %s: %s%s%s", text, status_text(outcome.status), outcome.reason ? ": " : "",
                 outcome.reason ? outcome.reason : "");
        return false;
    }
    *value = outcome.product;
    return true;
}

/* The gate for `which`, wished for and kept in home the first time. */
static bool gate(struct hoon_runtime *runtime, struct nock_context *nock, enum hoon_gate which, noun *out,
                 char *why, size_t why_size)
{
    if (!runtime->gates[which]) {
        noun value;
        if (!hoon_wish(runtime, nock, gate_texts[which], &value, why, why_size))
            return false;
        noun kept = noun_home_copy_out(runtime->home, nock_context_region(nock), value);
        if (kept == NOUN_NONE) {
            snprintf(why, why_size, "out of memory: home is full");
            return false;
        }
        runtime->gates[which] = kept;
    }
    *out = runtime->gates[which];
    return true;
}

static noun keep(struct hoon_runtime *runtime, struct nock_context *nock, noun n)
{
    return noun_home_copy_out(runtime->home, nock_context_region(nock), n);
}

/* ---- text ----------------------------------------------------------------- */

static bool push_line(char ***lines, size_t *count, size_t *capacity, char *line)
{
    if (!line)
        return false;
    if (*count == *capacity) {
        size_t bigger = *capacity ? *capacity * 2 : 16;
        char **grown = realloc(*lines, bigger * sizeof *grown);
        if (!grown) {
            free(line);
            return false;
        }
        *lines = grown;
        *capacity = bigger;
    }
    (*lines)[(*count)++] = line;
    return true;
}

static void free_lines(char **lines, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(lines[i]);
    free(lines);
}

/* A tape (list of byte atoms) as a malloc'd C string; NULL if it isn't one
 * or memory runs out.  Atoms above 255 contribute all their bytes. */
static char *tape_text(noun tape)
{
    size_t length = 0, capacity = 64;
    char *text = malloc(capacity);
    for (; text && noun_is_cell(tape); tape = noun_tail(tape)) {
        noun item = noun_head(tape);
        if (!noun_is_atom(item)) {
            free(text);
            return NULL;
        }
        uint64_t bytes = noun_atom_byte_length(item);
        if (length + bytes + 1 > capacity) {
            while (length + bytes + 1 > capacity)
                capacity *= 2;
            char *grown = realloc(text, capacity);
            if (!grown) {
                free(text);
                return NULL;
            }
            text = grown;
        }
        noun_atom_to_bytes(item, (uint8_t *)text + length, bytes);
        length += bytes;
    }
    if (!text || tape != 0) {
        free(text);
        return NULL;
    }
    text[length] = '\0';
    return text;
}

/* A wall (list of tapes) as lines. */
static bool wall_lines(noun wall, char ***lines, size_t *count)
{
    size_t capacity = 0;
    *lines = NULL;
    *count = 0;
    for (; noun_is_cell(wall); wall = noun_tail(wall)) {
        if (!push_line(lines, count, &capacity, tape_text(noun_head(wall)))) {
            free_lines(*lines, *count);
            *lines = NULL;
            *count = 0;
            return false;
        }
    }
    return true;
}

/* [%leaf tape] for a cord. */
static noun leaf_of_cord(struct noun_region *region, noun text)
{
    uint64_t single;
    size_t count;
    const uint64_t *words = noun_atom_words(text, &single, &count);
    noun tape = 0;
    for (uint64_t i = noun_atom_byte_length(text); i-- > 0;)
        tape = noun_cell_new(region, (words[i / 8] >> (8 * (i % 8))) & 0xff, tape);
    return noun_cell_new(region, TAG_LEAF, tape);
}

/* ---- traces --------------------------------------------------------------- */

bool hoon_render_trace(struct hoon_runtime *runtime, struct nock_context *nock, noun trace, unsigned width,
                       char ***lines, size_t *line_count)
{
    char why[256];
    noun mook_gate, wash_gate;
    *lines = NULL;
    *line_count = 0;
    /* Home copies: every step below is an evaluation. */
    trace = keep(runtime, nock, trace);
    if (trace == NOUN_NONE || !gate(runtime, nock, GATE_MOOK, &mook_gate, why, sizeof why) ||
        !gate(runtime, nock, GATE_WASH, &wash_gate, why, sizeof why))
        return false;
    size_t count = 0;
    for (noun rest = trace; noun_is_cell(rest) && count < HOON_MAX_TRACE_ENTRIES; rest = noun_tail(rest))
        count++;
    if (count == 0)
        return true;
    noun *tanks = calloc(count, sizeof *tanks);   /* innermost first, home */
    if (!tanks)
        return false;
    bool ok = true;
    /* %mean: a cord is a leaf; a trap is run here (as mook would, through
     * +mack); a trap that fails shows as "####". */
    size_t index = 0;
    for (noun rest = trace; index < count; rest = noun_tail(rest), index++) {
        noun entry = noun_head(rest);
        if (!noun_is_cell(entry) || noun_head(entry) != TAG_MEAN)
            continue;
        noun clue = noun_tail(entry);
        struct noun_region *region = nock_context_region(nock);
        noun tank;
        if (noun_is_atom(clue)) {
            tank = leaf_of_cord(region, clue);
        } else {
            struct nock_outcome outcome =
                nock_evaluate(nock, clue, noun_trel(nock_context_region(nock), 9, 2, noun_cell_new(region, 0, 1)));
            region = nock_context_region(nock);
            tank = outcome.status == NOCK_OK ? outcome.product : leaf_of_cord(region, 0x23232323);
        }
        tanks[index] = keep(runtime, nock, tank);
        ok = ok && tanks[index] != NOUN_NONE;
    }
    /* Everything else through mook, in one call, in order. */
    if (ok) {
        struct noun_region *region = nock_context_region(nock);
        noun others = 0;
        index = count;
        noun *entries = calloc(count, sizeof *entries);
        if (!entries) {
            free(tanks);
            return false;
        }
        size_t at = 0;
        for (noun rest = trace; at < count; rest = noun_tail(rest), at++)
            entries[at] = noun_head(rest);
        for (size_t i = count; i-- > 0;)
            if (!tanks[i])
                others = noun_cell_new(region, entries[i], others);
        if (others) {
            struct nock_outcome outcome = slam(nock, mook_gate, others);
            noun tang = outcome.status == NOCK_OK ? keep(runtime, nock, outcome.product) : NOUN_NONE;
            ok = tang != NOUN_NONE;
            for (size_t i = 0; ok && i < count; i++) {
                if (tanks[i])
                    continue;
                if (!noun_is_cell(tang)) {
                    ok = false;
                    break;
                }
                tanks[i] = noun_head(tang);
                tang = noun_tail(tang);
            }
        }
        free(entries);
    }
    if (ok) {
        /* outermost first, as Vere prints a crash */
        struct noun_region *region = nock_context_region(nock);
        noun tang = 0;
        for (size_t i = 0; i < count; i++)
            tang = noun_cell_new(region, tanks[i], tang);
        struct nock_outcome outcome = slam(nock, wash_gate, noun_cell_new(region, width, tang));
        ok = outcome.status == NOCK_OK && wall_lines(outcome.product, lines, line_count);
    }
    free(tanks);
    return ok;
}

/* ---- expressions ---------------------------------------------------------- */

/* Fill `result` for a failed step: Hoon's rendering of a crash, or why
 * nocklab stopped. */
static bool fail(struct hoon_runtime *runtime, struct nock_context *nock, const char *step,
                 struct nock_outcome *outcome, unsigned width, struct hoon_result *result)
{
    if (outcome->status != NOCK_CRASH) {
        result->status = HOON_FAILED;
        snprintf(result->failure, sizeof result->failure, "%s: %s", step, status_text(outcome->status));
        return false;
    }
    result->status = HOON_ERROR;
    const char *reason = outcome->reason;
    if (!hoon_render_trace(runtime, nock, outcome->trace, width, &result->lines, &result->line_count)) {
        result->lines = NULL;
        result->line_count = 0;
    }
    /* a crash with no trace to render (or a jet's own crash) says why */
    if (reason && result->line_count == 0) {
        size_t capacity = 0;
        char *line = malloc(strlen(reason) + 1);
        if (line)
            strcpy(line, reason);
        push_line(&result->lines, &result->line_count, &capacity, line);
    }
    snprintf(result->failure, sizeof result->failure, "%s failed", step);
    return false;
}

bool hoon_evaluate(struct hoon_runtime *runtime, struct nock_context *nock, const char *text, size_t length,
                   enum hoon_stage stage, unsigned width, struct hoon_result *result)
{
    memset(result, 0, sizeof *result);
    result->type = result->formula = result->product = NOUN_NONE;
    const struct nock_counters *counters = nock_context_counters(nock);
    noun compile_gate;
    double started = clock_wall_seconds();
    uint64_t steps = counters->steps;
    if (!gate(runtime, nock, GATE_COMPILE, &compile_gate, result->failure, sizeof result->failure)) {
        result->status = HOON_FAILED;
        return false;
    }
    struct nock_outcome outcome = slam(nock, compile_gate, cord(nock_context_region(nock), text, length));
    if (outcome.status != NOCK_OK)
        return fail(runtime, nock, "compiling the expression", &outcome, width, result);
    noun minted = keep(runtime, nock, outcome.product);
    if (minted == NOUN_NONE || !noun_is_cell(minted)) {
        result->status = HOON_FAILED;
        snprintf(result->failure, sizeof result->failure,
                 minted == NOUN_NONE ? "out of memory: home is full" : "the compiler gave no [type formula]");
        return false;
    }
    result->type = noun_head(minted);
    result->formula = noun_tail(minted);
    result->compile_seconds = clock_wall_seconds() - started;
    result->compile_steps = counters->steps - steps;
    if (stage == HOON_COMPILE) {
        result->status = HOON_OK;
        return true;
    }

    /* the expression runs against the gate's context: the library */
    started = clock_wall_seconds();
    steps = counters->steps;
    noun subject = noun_fragment(7, compile_gate);
    if (subject == NOUN_NONE) {
        result->status = HOON_FAILED;
        snprintf(result->failure, sizeof result->failure, "the compile gate has no context (not a kernel?)");
        return false;
    }
    outcome = nock_evaluate(nock, subject, result->formula);
    result->run_seconds = clock_wall_seconds() - started;
    result->run_steps = counters->steps - steps;
    if (outcome.status != NOCK_OK)
        return fail(runtime, nock, "running the expression", &outcome, width, result);
    result->product = outcome.product;
    if (stage == HOON_RUN) {
        result->status = HOON_OK;
        return true;
    }

    started = clock_wall_seconds();
    steps = counters->steps;
    result->product = keep(runtime, nock, result->product);
    noun print_gate;
    result->status = HOON_OK;
    if (result->product == NOUN_NONE) {
        result->status = HOON_FAILED;
        snprintf(result->failure, sizeof result->failure, "out of memory: home is full");
        return false;
    }
    if (!gate(runtime, nock, GATE_PRINT, &print_gate, result->failure, sizeof result->failure))
        return true; /* the product stands; only the printing is missing */
    struct noun_region *region = nock_context_region(nock);
    outcome = slam(nock, print_gate,
                   noun_cell_new(region, width, noun_cell_new(region, result->type, result->product)));
    if (outcome.status == NOCK_OK && !wall_lines(outcome.product, &result->lines, &result->line_count))
        snprintf(result->failure, sizeof result->failure, "Hoon's printer gave something other than lines");
    else if (outcome.status != NOCK_OK)
        snprintf(result->failure, sizeof result->failure, "Hoon's printer %s", status_text(outcome.status));
    result->print_seconds = clock_wall_seconds() - started;
    result->print_steps = counters->steps - steps;
    return true;
}

void hoon_result_free(struct hoon_result *result)
{
    free_lines(result->lines, result->line_count);
    result->lines = NULL;
    result->line_count = 0;
}
