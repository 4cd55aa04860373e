/* expression.c -- parse and evaluate a line's expression in one pass.
 *
 * The parser is a shift-reduce loop over two explicit stacks:
 *
 *   values  nouns finished so far that still wait for their enclosing `[`
 *   frames  open constructs: a `[` (whose elements start at some index of
 *           values) or an operator waiting for its operand
 *
 * Reading an operand either opens a frame (`[` or an operator) or produces a
 * noun (an atom literal, a name).  A produced noun first satisfies every
 * operator on top of the frame stack, innermost first; then it is either the
 * whole expression or the next element of the innermost `[`.  A `]` turns
 * that bracket's elements into a right-nested cell, which is produced in
 * turn.  Nothing recurses, so `[[[[...` ten million deep costs memory, not C
 * stack.
 *
 * The text is read twice: a first pass checks it all (syntax, names) with
 * operators not applied, so nothing runs before the end of the line has
 * been seen; the second pass evaluates.
 *
 * Operators are applied as soon as their operand is complete, so `*` may run
 * the evaluator while other values wait on the stack.  The evaluator may
 * collect scratch and move them; protect_waiting_values copies them to home
 * before each evaluation, since home does not move within a line.
 */
#include "repl/expression.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An open construct.  `kind` is '[' or an operator character; `column` is
 * where it was written (1-based); `value_start` (brackets only) is the index
 * in the value stack of the bracket's first element. */
struct frame {
    size_t column;
    size_t value_start;
    char kind;
};

/* The reusable stacks.  Between evaluations both are empty; after a failure
 * (or a longjmp out) they are emptied at the start of the next one. */
struct expression_evaluator {
    noun *values;
    size_t value_count, value_capacity;
    struct frame *frames;
    size_t frame_count, frame_capacity;
};

/* One evaluation in progress: where it reads, what it builds in, where its
 * error goes. */
struct evaluation {
    struct expression_evaluator *stacks;
    const struct expression_environment *environment;
    struct noun_region *region;
    struct noun_home *home;
    const char *text;
    size_t length;
    size_t position;
    struct expression_error *error;
    bool checking; /* the first pass: read the whole text, run nothing */
};

static const char operator_characters[] = "*/#?+=";

struct expression_evaluator *expression_evaluator_new(void)
{
    return calloc(1, sizeof(struct expression_evaluator));
}

void expression_evaluator_free(struct expression_evaluator *evaluator)
{
    if (!evaluator)
        return;
    free(evaluator->values);
    free(evaluator->frames);
    free(evaluator);
}

size_t expression_name_length(const char *text, size_t length)
{
    if (length == 0 || !((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z')))
        return 0;
    size_t end = 1;
    while (end < length) {
        char c = text[end];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            break;
        end++;
    }
    return end;
}

/* ---- errors ------------------------------------------------------------- */

static bool fail(struct evaluation *e, enum expression_status status, size_t column, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(struct evaluation *e, enum expression_status status, size_t column, const char *format, ...)
{
    e->error->status = status;
    e->error->column = column;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(e->error->message, sizeof e->error->message, format, arguments);
    va_end(arguments);
    return false;
}

/* A short printable description of the character at a position, for
 * messages such as "unexpected ')'". */
static const char *describe_character(char c, char buffer[16])
{
    if (c >= 0x21 && c <= 0x7e)
        snprintf(buffer, 16, "'%c'", c);
    else if (c == ' ' || c == '\t')
        snprintf(buffer, 16, "a blank");
    else
        snprintf(buffer, 16, "byte 0x%02x", (unsigned char)c);
    return buffer;
}

/* ---- stacks ------------------------------------------------------------- */

static bool grow(void **items, size_t *capacity, size_t item_size)
{
    size_t wanted = *capacity ? *capacity * 2 : 64;
    void *bigger = realloc(*items, wanted * item_size);
    if (!bigger)
        return false;
    *items = bigger;
    *capacity = wanted;
    return true;
}

static bool push_value(struct evaluation *e, noun value)
{
    struct expression_evaluator *s = e->stacks;
    if (s->value_count == s->value_capacity &&
        !grow((void **)&s->values, &s->value_capacity, sizeof *s->values))
        return fail(e, EXPRESSION_OUT_OF_MEMORY, 0, "out of memory: the expression is too big to hold");
    s->values[s->value_count++] = value;
    return true;
}

static bool push_frame(struct evaluation *e, char kind, size_t column)
{
    struct expression_evaluator *s = e->stacks;
    if (s->frame_count == s->frame_capacity &&
        !grow((void **)&s->frames, &s->frame_capacity, sizeof *s->frames))
        return fail(e, EXPRESSION_OUT_OF_MEMORY, 0, "out of memory: the expression is nested too deeply to hold");
    s->frames[s->frame_count++] = (struct frame){ .column = column, .value_start = s->value_count, .kind = kind };
    return true;
}

static struct frame *top_frame(struct evaluation *e)
{
    struct expression_evaluator *s = e->stacks;
    return s->frame_count ? &s->frames[s->frame_count - 1] : NULL;
}

/* ---- applying operators ------------------------------------------------- */

/* Before the evaluator runs, move every waiting scratch value to home: a
 * scratch collection during the evaluation would otherwise leave them
 * dangling.  Values already in home, and direct atoms, stay as they are. */
static bool protect_waiting_values(struct evaluation *e)
{
    struct expression_evaluator *s = e->stacks;
    for (size_t i = 0; i < s->value_count; i++) {
        if (!noun_region_holds(e->region, s->values[i]))
            continue;
        noun copy = noun_home_copy_out(e->home, e->region, s->values[i]);
        if (copy == NOUN_NONE)
            return fail(e, EXPRESSION_OUT_OF_MEMORY, 0, "out of memory: home is full");
        s->values[i] = copy;
    }
    return true;
}

/* Run *[subject formula] and turn its outcome into a product or an error
 * attributed to the operator at `column`. */
static bool run_nock(struct evaluation *e, size_t column, noun subject, noun formula, noun *product)
{
    if (!protect_waiting_values(e))
        return false;
    struct nock_outcome outcome = nock_evaluate(e->environment->nock, subject, formula);

    switch (outcome.status) {
    case NOCK_OK:
        *product = outcome.product;
        return true;
    case NOCK_CRASH:
        e->error->trace = outcome.trace;
        return fail(e, EXPRESSION_CRASH, column, "%s", outcome.reason ? outcome.reason : "Nock crashed");
    case NOCK_OUT_OF_MEMORY:
        return fail(e, EXPRESSION_OUT_OF_MEMORY, column, "out of memory: the evaluation filled its scratch region");
    case NOCK_TOO_DEEP:
        return fail(e, EXPRESSION_TOO_DEEP, column, "too deep: Nock calls nested past the evaluator's limit");
    case NOCK_INTERRUPTED:
        return fail(e, EXPRESSION_INTERRUPTED, column, "interrupted");
    case NOCK_BLOCKED: /* only nested evaluations block */
        break;
    }
    return fail(e, EXPRESSION_CRASH, column, "the evaluator returned an unknown outcome");
}

static bool apply_nock(struct evaluation *e, size_t column, noun operand, noun *result)
{
    if (!noun_is_cell(operand))
        return fail(e, EXPRESSION_CRASH, column, "*a of an atom: * needs a cell [subject formula]");
    return run_nock(e, column, noun_head(operand), noun_tail(operand), result);
}

static bool apply_slot(struct evaluation *e, size_t column, noun operand, noun *result)
{
    if (!noun_is_cell(operand) || !noun_is_atom(noun_head(operand)))
        return fail(e, EXPRESSION_CRASH, column, "/ needs a cell [axis noun] whose head is an atom");
    noun axis = noun_head(operand);
    noun fragment = noun_fragment(axis, noun_tail(operand));
    if (fragment == NOUN_NONE)
        return fail(e, EXPRESSION_CRASH, column,
                    axis == 0 ? "/[0 a]: there is no axis 0" : "/[n a]: the axis leads through an atom");
    *result = fragment;
    return true;
}

/* #[n b c] is what Nock 10 computes, so let the evaluator do it:
 * *[[b c] [10 [n [0 2]] [0 3]]]. */
static bool apply_edit(struct evaluation *e, size_t column, noun operand, noun *result)
{
    if (!noun_is_cell(operand) || !noun_is_atom(noun_head(operand)) || !noun_is_cell(noun_tail(operand)))
        return fail(e, EXPRESSION_CRASH, column, "# needs a triple [axis new-value target] whose head is an atom");
    struct noun_region *r = e->region;
    noun axis = noun_head(operand);
    if (axis == 0)
        return fail(e, EXPRESSION_CRASH, column, "#[0 b c]: there is no axis 0");
    noun formula = noun_cell_new(r, 10, noun_cell_new(r, noun_cell_new(r, axis, noun_cell_new(r, 0, 2)),
                                                      noun_cell_new(r, 0, 3)));
    return run_nock(e, column, noun_tail(operand), formula, result);
}

static bool apply_increment(struct evaluation *e, size_t column, noun operand, noun *result)
{
    if (!noun_is_atom(operand))
        return fail(e, EXPRESSION_CRASH, column, "+ of a cell: + needs an atom");
    *result = noun_atom_increment(e->region, operand);
    return true;
}

static bool apply_equal(struct evaluation *e, size_t column, noun operand, noun *result)
{
    if (!noun_is_cell(operand))
        return fail(e, EXPRESSION_CRASH, column, "= of an atom: = needs a cell [a b]");
    *result = noun_equal(noun_head(operand), noun_tail(operand)) ? 0 : 1;
    return true;
}

static bool apply_operator(struct evaluation *e, const struct frame *frame, noun operand, noun *result)
{
    switch (frame->kind) {
    case '*': return apply_nock(e, frame->column, operand, result);
    case '/': return apply_slot(e, frame->column, operand, result);
    case '#': return apply_edit(e, frame->column, operand, result);
    case '?': *result = noun_is_cell(operand) ? 0 : 1; return true;
    case '+': return apply_increment(e, frame->column, operand, result);
    case '=': return apply_equal(e, frame->column, operand, result);
    }
    return fail(e, EXPRESSION_SYNTAX, frame->column, "unknown operator");
}

/* ---- reading ------------------------------------------------------------ */

static void skip_spaces(struct evaluation *e)
{
    while (e->position < e->length && expression_is_space(e->text[e->position]))
        e->position++;
}

static bool read_name(struct evaluation *e, noun *value)
{
    const char *start = e->text + e->position;
    size_t length = expression_name_length(start, e->length - e->position);
    noun bound = NOUN_NONE;
    if (e->environment->resolve_name)
        bound = e->environment->resolve_name(e->environment->resolver_context, start, length);
    if (bound == NOUN_NONE)
        return fail(e, EXPRESSION_SYNTAX, e->position + 1, "unknown name %.*s at column %zu",
                    (int)(length > 64 ? 64 : length), start, e->position + 1);
    e->position += length;
    *value = bound;
    return true;
}

static bool read_atom(struct evaluation *e, noun *value)
{
    struct text_error text_error = { 0 };
    size_t position = e->position;
    if (!text_parse_atom(e->region, e->text, e->length, &position, value, &text_error))
        return fail(e, EXPRESSION_SYNTAX, text_error.offset + 1, "%s", text_error.message);
    if (position <= e->position) {
        char buffer[16];
        return fail(e, EXPRESSION_SYNTAX, e->position + 1, "unexpected %s at column %zu",
                    describe_character(e->text[e->position], buffer), e->position + 1);
    }
    e->position = position;
    return true;
}

/* A tape ("text") is noun text but not an atom, so text_parse_atom won't
 * read it: find its closing quote and hand just that span to text_parse. */
static bool read_tape(struct evaluation *e, noun *value)
{
    size_t open = e->position, i = open + 1;
    while (i < e->length && e->text[i] != '"')
        i += (e->text[i] == '\\' && i + 1 < e->length) ? 2 : 1;
    if (i >= e->length)
        return fail(e, EXPRESSION_SYNTAX, e->length + 1,
                    "expected '\"' at column %zu to end the tape that opens at column %zu", e->length + 1, open + 1);
    struct text_error text_error = { 0 };
    if (!text_parse(e->region, e->text + open, i + 1 - open, NULL, NULL, value, &text_error)) {
        size_t column = open + text_error.offset + 1;
        return fail(e, EXPRESSION_SYNTAX, column,
                    "bad character or escape in the tape at column %zu (escapes are \\\\, \\\" and two hex digits like \\0a)",
                    column);
    }
    e->position = i + 1;
    return true;
}

enum operand_result { OPERAND_FAILED, OPERAND_OPENED, OPERAND_VALUE };

/* Read what stands where an operand is expected: open a frame for `[` or an
 * operator, or produce a noun. */
static enum operand_result read_operand(struct evaluation *e, noun *value)
{
    struct frame *top = top_frame(e);
    bool after_operator = top && top->kind != '[';
    if (!after_operator)
        skip_spaces(e);
    if (e->position >= e->length) {
        if (after_operator)
            fail(e, EXPRESSION_SYNTAX, e->length + 1, "expected an operand after the '%c' at column %zu",
                 top->kind, top->column);
        else if (top)
            fail(e, EXPRESSION_SYNTAX, e->length + 1, "expected ']' at column %zu to close the '[' at column %zu",
                 e->length + 1, top->column);
        else
            fail(e, EXPRESSION_SYNTAX, e->length + 1, "expected an expression at column %zu", e->length + 1);
        return OPERAND_FAILED;
    }
    char c = e->text[e->position];
    size_t column = e->position + 1;
    if (after_operator && expression_is_space(c)) {
        fail(e, EXPRESSION_SYNTAX, column, "expected an operand at column %zu, right after the '%c', found a blank",
             column, top->kind);
        return OPERAND_FAILED;
    }
    if (c == '[' || (c != '\0' && strchr(operator_characters, c))) {
        if (!push_frame(e, c, column))
            return OPERAND_FAILED;
        e->position++;
        return OPERAND_OPENED;
    }
    if (c == ']') {
        fail(e, EXPRESSION_SYNTAX, column, "expected %s at column %zu, found ']'",
             after_operator ? "an operand" : "a noun", column);
        return OPERAND_FAILED;
    }
    bool ok;
    if (expression_name_length(e->text + e->position, e->length - e->position))
        ok = read_name(e, value);
    else if (c == '"')
        ok = read_tape(e, value);
    else
        ok = read_atom(e, value);
    return ok ? OPERAND_VALUE : OPERAND_FAILED;
}

/* Replace the innermost bracket's elements by the right-nested cell they
 * make. */
static bool close_bracket(struct evaluation *e, noun *cell)
{
    struct expression_evaluator *s = e->stacks;
    struct frame bracket = s->frames[--s->frame_count];
    size_t count = s->value_count - bracket.value_start;
    if (count < 2) /* the fault is at the ']', just read */
        return fail(e, EXPRESSION_SYNTAX, e->position, "expected %s element at column %zu: the cell opened at column %zu needs two",
                    count ? "a second" : "an", e->position, bracket.column);
    noun result = s->values[s->value_count - 1];
    for (size_t i = s->value_count - 1; i-- > bracket.value_start;)
        result = noun_cell_new(e->region, s->values[i], result);
    s->value_count = bracket.value_start;
    *cell = result;
    return true;
}

/* A noun was produced: apply waiting operators, then place it.  Returns
 * false on failure; sets *finished when it was the whole expression. */
static bool reduce(struct evaluation *e, noun value, noun *out, bool *finished)
{
    for (;;) {
        struct frame *top;
        while ((top = top_frame(e)) && top->kind != '[') {
            struct frame op = *top;
            e->stacks->frame_count--;
            if (e->checking)
                value = 0; /* a stand-in: the operator runs in the second pass */
            else if (!apply_operator(e, &op, value, &value))
                return false;
        }
        if (!top) {
            skip_spaces(e);
            if (e->position < e->length) {
                char buffer[16];
                return fail(e, EXPRESSION_SYNTAX, e->position + 1, "expected the end of the line at column %zu, found %s",
                            e->position + 1, describe_character(e->text[e->position], buffer));
            }
            *out = value;
            *finished = true;
            return true;
        }
        if (!push_value(e, value))
            return false;
        size_t before = e->position;
        skip_spaces(e);
        if (e->position < e->length && e->text[e->position] == ']') {
            e->position++;
            if (!close_bracket(e, &value))
                return false;
            continue;
        }
        if (e->position >= e->length)
            return fail(e, EXPRESSION_SYNTAX, e->length + 1, "expected ']' at column %zu to close the '[' at column %zu",
                        e->length + 1, top->column);
        if (e->position == before) {
            char buffer[16];
            return fail(e, EXPRESSION_SYNTAX, e->position + 1,
                        "expected a blank or ']' after an element at column %zu, found %s", e->position + 1,
                        describe_character(e->text[e->position], buffer));
        }
        *finished = false;
        return true;
    }
}

static bool evaluate_all(struct evaluation *e, noun *out)
{
    for (;;) {
        noun value = 0;
        switch (read_operand(e, &value)) {
        case OPERAND_FAILED:
            return false;
        case OPERAND_OPENED:
            continue;
        case OPERAND_VALUE:
            break;
        }
        bool finished = false;
        if (!reduce(e, value, out, &finished))
            return false;
        if (finished)
            return true;
    }
}

enum expression_status expression_evaluate(struct expression_evaluator *evaluator,
                                           const struct expression_environment *environment,
                                           const char *text, size_t length, size_t start,
                                           noun *out, struct expression_error *error)
{
    struct nock_context *nock = environment->nock;
    uint64_t steps_at_start = nock_context_counters(nock)->steps;
    memset(error, 0, sizeof *error);
    evaluator->value_count = 0;
    evaluator->frame_count = 0;
    struct evaluation e = {
        .stacks = evaluator,
        .environment = environment,
        .region = nock_context_region(nock),
        .home = nock_context_home(nock),
        .text = text,
        .length = length,
        .position = start,
        .error = error,
    };
    /* Read the whole text before running any of it, so a mistake at the
     * end of the line is reported at once, not after (or instead of) a
     * long evaluation. */
    e.checking = true;
    bool ok = evaluate_all(&e, out);
    if (ok) {
        evaluator->value_count = 0;
        evaluator->frame_count = 0;
        e.checking = false;
        e.position = start;
        ok = evaluate_all(&e, out);
    }
    error->steps = nock_context_counters(nock)->steps - steps_at_start;
    evaluator->value_count = 0;
    evaluator->frame_count = 0;
    if (ok)
        error->status = EXPRESSION_OK;
    return error->status;
}
