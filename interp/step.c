/* step.c -- the teaching reducer (interface and semantics in step.h).
 *
 * The term being reduced is a tree of `struct term` nodes in one growable
 * array, linked by index.  A node is a noun, a cell of two terms, or one of
 * the spec's six operators applied to an operand term.  Reduction keeps a
 * stack of the nodes being worked on (innermost on top):
 *
 *   - a noun node is done: pop it, its parent looks at it next;
 *   - a cell node whose two sides are nouns becomes the noun of their cell;
 *     otherwise its first unfinished side is pushed (left before right);
 *   - an operator node whose operand is a noun is rewritten in place by the
 *     one spec rule that matches it (or crashes); otherwise the operand is
 *     pushed, one level deeper.
 *
 * Each rule is written below as the spec writes it, building the rule's
 * right-hand side as terms, so checking this file against the spec is a
 * line-by-line read.  Nodes that are used up go on a free list, so memory
 * follows the size of the live term, not the number of steps.
 */
#include "interp/step.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum term_kind {
    TERM_FREE,      /* on the free list; `left` is the next free node */
    TERM_NOUN,      /* a noun: `value` */
    TERM_CELL,      /* [left right], two terms */
    TERM_NOCK,      /* *left */
    TERM_SLOT,      /* /left */
    TERM_EDIT,      /* #left */
    TERM_TEST,      /* ?left */
    TERM_INCREMENT, /* +left */
    TERM_EQUAL,     /* =left */
};

/* One node of the term.  `left` and `right` are node indexes; which are
 * meaningful depends on `kind` (see enum term_kind).  A node is referenced
 * by at most one parent, so rewriting a node in place rewrites the term. */
struct term {
    enum term_kind kind;
    size_t left, right;
    noun value;
};

/* A node on the work stack and its display depth.  An operand is one level
 * deeper than its operator.  The two sides of a cell are at the cell's
 * level, except when the cell is what an operator was rewritten into
 * (*[a [b c] d] -> [*[a b c] *[a d]]): then they are one deeper, as the
 * sub-computations they are.  `sides_deeper` records that case. */
struct frame {
    size_t term;
    uint64_t depth;
    bool sides_deeper;
};

/* Recently printed nouns and their text, so a line that shows the same big
 * subject as the line before costs a table lookup, not a fresh count of
 * everything elided.  Nouns don't move during a run (nothing collects the
 * region), so a noun word identifies its text. */
#define PRINT_CACHE_SIZE 64
#define PRINT_CACHE_MIN_LENGTH 64 /* shorter texts are cheaper to redo */
struct printed {
    noun key;  /* NOUN_NONE when empty */
    char *text;
    size_t length;
};

#define NO_TERM SIZE_MAX

/* A run.  `terms[0..term_count)` are allocated nodes, free ones chained
 * from `free_term`.  `hidden_pending` counts reductions hidden since the
 * last line written (a "..." line is owed for them), the first of them
 * being step `hidden_first_step` at depth `hidden_depth`.  `jump` is where
 * running out of memory goes. */
struct stepper {
    struct noun_region *region;
    const struct step_options *options;
    struct step_result *result;
    struct term *terms;
    size_t term_count, term_capacity, free_term;
    struct frame *frames;
    size_t frame_count, frame_capacity;
    struct text_buffer line;
    struct text_buffer scratch_text;
    struct printed printed[PRINT_CACHE_SIZE];
    uint64_t hidden_pending, hidden_first_step;
    bool stopped;
    jmp_buf jump;
};

/* ---- memory ------------------------------------------------------------- */

static void out_of_memory(struct stepper *s) { longjmp(s->jump, 1); }

static void region_out_of_memory(void *context) { out_of_memory(context); }

static size_t term_new(struct stepper *s, enum term_kind kind, size_t left, size_t right, noun value)
{
    size_t index = s->free_term;
    if (index != NO_TERM) {
        s->free_term = s->terms[index].left;
    } else {
        if (s->term_count == s->term_capacity) {
            size_t capacity = s->term_capacity ? s->term_capacity * 2 : 256;
            struct term *grown = realloc(s->terms, capacity * sizeof *grown);
            if (!grown)
                out_of_memory(s);
            s->terms = grown;
            s->term_capacity = capacity;
        }
        index = s->term_count++;
    }
    s->terms[index] = (struct term){ .kind = kind, .left = left, .right = right, .value = value };
    return index;
}

static void term_free(struct stepper *s, size_t index)
{
    s->terms[index].kind = TERM_FREE;
    s->terms[index].left = s->free_term;
    s->free_term = index;
}

static void frame_push(struct stepper *s, size_t term, uint64_t depth, bool sides_deeper)
{
    if (s->frame_count == s->frame_capacity) {
        size_t capacity = s->frame_capacity ? s->frame_capacity * 2 : 64;
        struct frame *grown = realloc(s->frames, capacity * sizeof *grown);
        if (!grown)
            out_of_memory(s);
        s->frames = grown;
        s->frame_capacity = capacity;
    }
    s->frames[s->frame_count++] = (struct frame){ .term = term, .depth = depth, .sides_deeper = sides_deeper };
}

/* Term builders, one per kind of node, so a rule's right-hand side reads as
 * it is written: *[*[a b] c] is nock_term(cell_term(nock_term(noun_term(
 * [a b])), noun_term(c))). */
static size_t noun_term(struct stepper *s, noun value) { return term_new(s, TERM_NOUN, NO_TERM, NO_TERM, value); }
static size_t cell_term(struct stepper *s, size_t left, size_t right)
{
    return term_new(s, TERM_CELL, left, right, 0);
}
static size_t nock_term(struct stepper *s, size_t operand) { return term_new(s, TERM_NOCK, operand, NO_TERM, 0); }
static size_t slot_term(struct stepper *s, size_t operand) { return term_new(s, TERM_SLOT, operand, NO_TERM, 0); }
static size_t edit_term(struct stepper *s, size_t operand) { return term_new(s, TERM_EDIT, operand, NO_TERM, 0); }
static size_t test_term(struct stepper *s, size_t operand) { return term_new(s, TERM_TEST, operand, NO_TERM, 0); }
static size_t increment_term(struct stepper *s, size_t operand)
{
    return term_new(s, TERM_INCREMENT, operand, NO_TERM, 0);
}
static size_t equal_term(struct stepper *s, size_t operand) { return term_new(s, TERM_EQUAL, operand, NO_TERM, 0); }

/* The noun [a b], in scratch. */
static noun cell(struct stepper *s, noun a, noun b) { return noun_cell_new(s->region, a, b); }

/* The term *[subject formula], the most common part of a rule. */
static size_t nock_on(struct stepper *s, noun subject, noun formula)
{
    return nock_term(s, noun_term(s, cell(s, subject, formula)));
}

/* ---- atom arithmetic for axes ------------------------------------------- */

/* a / 2, rounding down. */
static noun atom_half(struct stepper *s, noun atom)
{
    if (noun_is_direct(atom))
        return atom >> 1;
    uint64_t scratch_word;
    size_t count;
    const uint64_t *words = noun_atom_words(atom, &scratch_word, &count);
    struct noun_atom *half = noun_atom_alloc(s->region, count);
    for (size_t i = 0; i < count; i++)
        half->words[i] = (words[i] >> 1) | (i + 1 < count ? words[i + 1] << 63 : 0);
    return noun_atom_normalize(half);
}

static bool atom_is_odd(noun atom)
{
    uint64_t scratch_word;
    size_t count;
    const uint64_t *words = noun_atom_words(atom, &scratch_word, &count);
    return count > 0 && (words[0] & 1);
}

/* a with its lowest bit set to `bit`: a + 1 for an even a, a - 1 for an
 * odd one, without carries. */
static noun atom_with_low_bit(struct stepper *s, noun atom, bool bit)
{
    if (noun_is_direct(atom))
        return bit ? (atom | 1) : (atom & ~(noun)1);
    uint64_t scratch_word;
    size_t count;
    const uint64_t *words = noun_atom_words(atom, &scratch_word, &count);
    struct noun_atom *copy = noun_atom_alloc(s->region, count);
    memcpy(copy->words, words, count * sizeof *words);
    copy->words[0] = bit ? (copy->words[0] | 1) : (copy->words[0] & ~UINT64_C(1));
    return noun_atom_normalize(copy);
}

/* ---- lines -------------------------------------------------------------- */

static void append(struct stepper *s, const char *text)
{
    if (!text_buffer_append(&s->line, text, strlen(text)))
        out_of_memory(s);
}

static void append_noun(struct stepper *s, noun n)
{
    if (noun_is_direct(n)) {
        if (!text_print(&s->line, n, &s->options->print))
            out_of_memory(s);
        return;
    }
    struct printed *slot = &s->printed[(size_t)((n * UINT64_C(0x9e3779b97f4a7c15)) >> 58) % PRINT_CACHE_SIZE];
    if (slot->key == n) {
        if (!text_buffer_append(&s->line, slot->text, slot->length))
            out_of_memory(s);
        return;
    }
    s->scratch_text.length = 0;
    if (!text_print(&s->scratch_text, n, &s->options->print) ||
        !text_buffer_append(&s->line, s->scratch_text.data, s->scratch_text.length))
        out_of_memory(s);
    if (s->scratch_text.length >= PRINT_CACHE_MIN_LENGTH) {
        char *copy = malloc(s->scratch_text.length);
        if (!copy)
            return; /* not cached; no harm */
        memcpy(copy, s->scratch_text.data, s->scratch_text.length);
        free(slot->text);
        *slot = (struct printed){ .key = n, .text = copy, .length = s->scratch_text.length };
    }
}

/* The elements of a tuple without its brackets, so [a f] with f = [2 b c]
 * reads "a 2 b c" as the spec writes it.  An atom (or a cell elided as a
 * whole) is written as it is. */
static void append_elements(struct stepper *s, noun n)
{
    size_t start = s->line.length;
    append_noun(s, n);
    size_t end = s->line.length;
    if (noun_is_cell(n) && end - start >= 2 && s->line.data[start] == '[' && s->line.data[end - 1] == ']') {
        memmove(s->line.data + start, s->line.data + start + 1, end - start - 2);
        s->line.length = end - 2;
        s->line.data[s->line.length] = '\0';
    }
}

/* The text of operator `kind` applied to the noun `operand`, as the spec
 * writes it: *[a 2 b c], /[3 a], #[2 b c], ?a, +a, =[a b]. */
static void append_term(struct stepper *s, enum term_kind kind, noun operand)
{
    static const char *const symbols[] = {
        [TERM_NOCK] = "*", [TERM_SLOT] = "/", [TERM_EDIT] = "#",
        [TERM_TEST] = "?", [TERM_INCREMENT] = "+", [TERM_EQUAL] = "=",
    };
    append(s, symbols[kind]);
    bool two_parts = kind == TERM_NOCK || kind == TERM_SLOT || kind == TERM_EDIT || kind == TERM_EQUAL;
    if (!two_parts || !noun_is_cell(operand)) {
        append_noun(s, operand);
        return;
    }
    append(s, "[");
    append_noun(s, noun_head(operand));
    append(s, " ");
    noun rest = noun_tail(operand);
    if (kind == TERM_EDIT && noun_is_cell(rest)) {
        append_noun(s, noun_head(rest));
        append(s, " ");
        rest = noun_tail(rest);
    }
    append_elements(s, rest);
    append(s, "]");
}

static bool write_line(struct stepper *s, const struct step_line *line)
{
    if (s->stopped)
        return false;
    if (!s->options->write_line(s->options->context, line))
        s->stopped = true;
    return !s->stopped;
}

/* Write the "..." line owed for hidden reductions, if any. */
static void flush_hidden(struct stepper *s)
{
    if (s->hidden_pending == 0)
        return;
    struct step_line line = {
        .step = s->hidden_first_step,
        .depth = s->options->max_depth + 1,
        .text = "...",
        .length = 3,
        .hidden = s->hidden_pending,
    };
    s->hidden_pending = 0;
    write_line(s, &line);
}

/* Whether the reduction about to be made at `depth` gets a line; counts it
 * as hidden when not. */
static bool line_shown(struct stepper *s, uint64_t depth)
{
    if (depth <= s->options->max_depth)
        return true;
    if (s->hidden_pending == 0)
        s->hidden_first_step = s->result->steps;
    s->hidden_pending++;
    s->result->lines_hidden++;
    return false;
}

/* Write the line for a reduction of `kind` on `operand` by `rule`, giving
 * `product` (NOUN_NONE when the rule gives another term). */
static void report(struct stepper *s, uint64_t depth, enum term_kind kind, noun operand, const char *rule,
                   noun product)
{
    if (!line_shown(s, depth))
        return;
    flush_hidden(s);
    s->line.length = 0;
    if (s->line.data)
        s->line.data[0] = '\0';
    append_term(s, kind, operand);
    if (product != NOUN_NONE) {
        append(s, " -> ");
        append_noun(s, product);
    }
    struct step_line line = {
        .step = s->result->steps,
        .depth = depth,
        .text = s->line.data,
        .length = s->line.length,
        .rule = rule,
    };
    write_line(s, &line);
}

/* No rule applies: write the crash line (whatever its depth), say why, and
 * return NO_TERM for the reducer to return. */
static size_t crash(struct stepper *s, uint64_t depth, enum term_kind kind, noun operand, const char *rule,
                  const char *why)
{
    flush_hidden(s);
    s->line.length = 0;
    if (s->line.data)
        s->line.data[0] = '\0';
    append_term(s, kind, operand);
    struct step_line line = {
        .step = s->result->steps,
        .depth = depth,
        .text = s->line.data,
        .length = s->line.length,
        .rule = rule,
        .crash = true,
    };
    write_line(s, &line);
    snprintf(s->result->message, sizeof s->result->message, "crash at step %llu: %s (%s)",
             (unsigned long long)line.step, why, s->line.data);
    s->result->status = STEP_CRASH;
    return NO_TERM;
}

/* ---- the rules ---------------------------------------------------------- */

/* Each reducer rewrites node `at`, whose operand was the noun `v`, by one
 * rule: either into a noun (*value set, NO_TERM returned) or into a new
 * term (returned; the caller moves it into `at`).  A crash returns NO_TERM
 * with s->result->status set to STEP_CRASH. */

static size_t reduce_nock(struct stepper *s, uint64_t depth, noun v, noun *value)
{
    if (!noun_is_cell(v))
        return crash(s, depth, TERM_NOCK, v, "*a -> *a", "Nock of an atom");
    noun a = noun_head(v), formula = noun_tail(v);
    if (!noun_is_cell(formula))
        return crash(s, depth, TERM_NOCK, v, "*a -> *a", "the formula is an atom");
    noun op = noun_head(formula), rest = noun_tail(formula);
    noun b = noun_is_cell(rest) ? noun_head(rest) : NOUN_NONE;
    noun c = noun_is_cell(rest) ? noun_tail(rest) : NOUN_NONE;
    const char *rule;
    size_t rhs;

    if (noun_is_cell(op)) {
        rule = "*[a [b c] d] -> [*[a b c] *[a d]]";
        rhs = cell_term(s, nock_on(s, a, op), nock_on(s, a, rest));
        report(s, depth, TERM_NOCK, v, rule, NOUN_NONE);
        return rhs;
    }
    if (!noun_is_direct(op) || op > 11)
        return crash(s, depth, TERM_NOCK, v, "*a -> *a", op == 12 ? "opcode 12 is not part of Nock 4K"
                                                                  : "no such opcode");
    switch (op) {
    case 0:
        rule = "*[a 0 b] -> /[b a]";
        rhs = slot_term(s, noun_term(s, cell(s, rest, a)));
        break;
    case 1:
        rule = "*[a 1 b] -> b";
        report(s, depth, TERM_NOCK, v, rule, rest);
        *value = rest;
        return NO_TERM;
    case 2:
        if (b == NOUN_NONE)
            goto malformed;
        rule = "*[a 2 b c] -> *[*[a b] *[a c]]";
        rhs = nock_term(s, cell_term(s, nock_on(s, a, b), nock_on(s, a, c)));
        break;
    case 3:
        rule = "*[a 3 b] -> ?*[a b]";
        rhs = test_term(s, nock_on(s, a, rest));
        break;
    case 4:
        rule = "*[a 4 b] -> +*[a b]";
        rhs = increment_term(s, nock_on(s, a, rest));
        break;
    case 5:
        if (b == NOUN_NONE)
            goto malformed;
        rule = "*[a 5 b c] -> =[*[a b] *[a c]]";
        rhs = equal_term(s, cell_term(s, nock_on(s, a, b), nock_on(s, a, c)));
        break;
    case 6: {
        if (b == NOUN_NONE || !noun_is_cell(c))
            goto malformed;
        rule = "*[a 6 b c d] -> *[a *[[c d] 0 *[[2 3] 0 *[a 4 4 b]]]]";
        /* c here is the spec's [c d]. */
        noun a_4_4_b = cell(s, a, cell(s, 4, cell(s, 4, b)));
        size_t choose = nock_term(s, cell_term(s, noun_term(s, cell(s, 2, 3)),
                                               cell_term(s, noun_term(s, 0), nock_term(s, noun_term(s, a_4_4_b)))));
        size_t branch = nock_term(s, cell_term(s, noun_term(s, c), cell_term(s, noun_term(s, 0), choose)));
        rhs = nock_term(s, cell_term(s, noun_term(s, a), branch));
        break;
    }
    case 7:
        if (b == NOUN_NONE)
            goto malformed;
        rule = "*[a 7 b c] -> *[*[a b] c]";
        rhs = nock_term(s, cell_term(s, nock_on(s, a, b), noun_term(s, c)));
        break;
    case 8:
        if (b == NOUN_NONE)
            goto malformed;
        rule = "*[a 8 b c] -> *[[*[a b] a] c]";
        rhs = nock_term(s, cell_term(s, cell_term(s, nock_on(s, a, b), noun_term(s, a)), noun_term(s, c)));
        break;
    case 9:
        if (b == NOUN_NONE)
            goto malformed;
        rule = "*[a 9 b c] -> *[*[a c] 2 [0 1] 0 b]";
        noun call = cell(s, 2, cell(s, cell(s, 0, 1), cell(s, 0, b)));
        rhs = nock_term(s, cell_term(s, nock_on(s, a, c), noun_term(s, call)));
        break;
    case 10: {
        if (b == NOUN_NONE || !noun_is_cell(b))
            goto malformed;
        rule = "*[a 10 [b c] d] -> #[b *[a c] *[a d]]";
        /* b here is the spec's [b c], c its d. */
        noun axis = noun_head(b), replacement = noun_tail(b);
        rhs = edit_term(s, cell_term(s, noun_term(s, axis),
                                     cell_term(s, nock_on(s, a, replacement), nock_on(s, a, c))));
        break;
    }
    case 11:
        if (b == NOUN_NONE)
            goto malformed;
        if (noun_is_cell(b)) {
            rule = "*[a 11 [b c] d] -> *[[*[a c] *[a d]] 0 3]";
            /* b here is the spec's [b c] (tag and clue formula), c its d. */
            noun clue = noun_tail(b);
            rhs = nock_term(s, cell_term(s, cell_term(s, nock_on(s, a, clue), nock_on(s, a, c)),
                            noun_term(s, cell(s, 0, 3))));
        } else {
            rule = "*[a 11 b c] -> *[a c]";
            rhs = nock_on(s, a, c);
        }
        break;
    default:
        goto malformed;
    }
    report(s, depth, TERM_NOCK, v, rule, NOUN_NONE);
    return rhs;

malformed:
    return crash(s, depth, TERM_NOCK, v, "*a -> *a", "no rule matches this formula's shape");
}

static size_t reduce_slot(struct stepper *s, uint64_t depth, noun v, noun *value)
{
    if (!noun_is_cell(v) || !noun_is_atom(noun_head(v)) || noun_head(v) == 0)
        return crash(s, depth, TERM_SLOT, v, "/a -> /a", "axis 0, or not an axis");
    noun axis = noun_head(v), a = noun_tail(v);
    if (axis == 1) {
        report(s, depth, TERM_SLOT, v, "/[1 a] -> a", a);
        *value = a;
        return NO_TERM;
    }
    if (axis == 2 || axis == 3) {
        if (!noun_is_cell(a))
            return crash(s, depth, TERM_SLOT, v, "/a -> /a", "fragment of an atom");
        *value = axis == 2 ? noun_head(a) : noun_tail(a);
        report(s, depth, TERM_SLOT, v, axis == 2 ? "/[2 a b] -> a" : "/[3 a b] -> b", *value);
        return NO_TERM;
    }
    noun half = atom_half(s, axis);
    if (atom_is_odd(axis)) {
        report(s, depth, TERM_SLOT, v, "/[(a + a + 1) b] -> /[3 /[a b]]", NOUN_NONE);
        return slot_term(s, cell_term(s, noun_term(s, 3), slot_term(s, noun_term(s, cell(s, half, a)))));
    }
    report(s, depth, TERM_SLOT, v, "/[(a + a) b] -> /[2 /[a b]]", NOUN_NONE);
    return slot_term(s, cell_term(s, noun_term(s, 2), slot_term(s, noun_term(s, cell(s, half, a)))));
}

static size_t reduce_edit(struct stepper *s, uint64_t depth, noun v, noun *value)
{
    if (!noun_is_cell(v) || !noun_is_cell(noun_tail(v)) || !noun_is_atom(noun_head(v)) || noun_head(v) == 0)
        return crash(s, depth, TERM_EDIT, v, "#a -> #a", "axis 0, or not an axis");
    /* The spec's #[axis b c]: put b at axis in c. */
    noun axis = noun_head(v), b = noun_head(noun_tail(v)), c = noun_tail(noun_tail(v));
    if (axis == 1) {
        report(s, depth, TERM_EDIT, v, "#[1 a b] -> a", b);
        *value = b;
        return NO_TERM;
    }
    noun half = atom_half(s, axis);
    if (atom_is_odd(axis)) {
        report(s, depth, TERM_EDIT, v, "#[(a + a + 1) b c] -> #[a [/[(a + a) c] b] c]", NOUN_NONE);
        noun sibling = atom_with_low_bit(s, axis, false);
        size_t pair = cell_term(s, slot_term(s, noun_term(s, cell(s, sibling, c))), noun_term(s, b));
        return edit_term(s, cell_term(s, noun_term(s, half), cell_term(s, pair, noun_term(s, c))));
    }
    report(s, depth, TERM_EDIT, v, "#[(a + a) b c] -> #[a [b /[(a + a + 1) c]] c]", NOUN_NONE);
    noun sibling = atom_with_low_bit(s, axis, true);
    size_t pair = cell_term(s, noun_term(s, b), slot_term(s, noun_term(s, cell(s, sibling, c))));
    return edit_term(s, cell_term(s, noun_term(s, half), cell_term(s, pair, noun_term(s, c))));
}

static size_t reduce_test(struct stepper *s, uint64_t depth, noun v, noun *value)
{
    *value = noun_is_cell(v) ? 0 : 1;
    report(s, depth, TERM_TEST, v, noun_is_cell(v) ? "?[a b] -> 0" : "?a -> 1", *value);
    return NO_TERM;
}

static size_t reduce_increment(struct stepper *s, uint64_t depth, noun v, noun *value)
{
    if (noun_is_cell(v))
        return crash(s, depth, TERM_INCREMENT, v, "+[a b] -> +[a b]", "increment of a cell");
    *value = noun_atom_increment(s->region, v);
    report(s, depth, TERM_INCREMENT, v, "+a -> 1 + a", *value);
    return NO_TERM;
}

static size_t reduce_equal(struct stepper *s, uint64_t depth, noun v, noun *value)
{
    if (!noun_is_cell(v))
        return crash(s, depth, TERM_EQUAL, v, "=a -> =a", "equality of an atom");
    bool same = noun_equal(noun_head(v), noun_tail(v));
    *value = same ? 0 : 1;
    report(s, depth, TERM_EQUAL, v, same ? "=[a a] -> 0" : "=[a b] -> 1", *value);
    return NO_TERM;
}

/* Reduce the operator node `at` (operand already a noun) by one rule.
 * False when it crashed. */
static bool reduce_operator(struct stepper *s, size_t at, uint64_t depth)
{
    enum term_kind kind = s->terms[at].kind;
    size_t operand = s->terms[at].left;
    noun v = s->terms[operand].value;
    term_free(s, operand);
    s->result->steps++;

    noun value = NOUN_NONE;
    size_t rhs;
    switch (kind) {
    case TERM_NOCK: rhs = reduce_nock(s, depth, v, &value); break;
    case TERM_SLOT: rhs = reduce_slot(s, depth, v, &value); break;
    case TERM_EDIT: rhs = reduce_edit(s, depth, v, &value); break;
    case TERM_TEST: rhs = reduce_test(s, depth, v, &value); break;
    case TERM_INCREMENT: rhs = reduce_increment(s, depth, v, &value); break;
    case TERM_EQUAL: rhs = reduce_equal(s, depth, v, &value); break;
    default: rhs = NO_TERM; break;
    }
    if (rhs != NO_TERM) {
        s->terms[at] = s->terms[rhs];
        term_free(s, rhs);
        return true;
    }
    if (s->result->status == STEP_CRASH) {
        s->result->steps--; /* the crash is not a reduction */
        return false;
    }
    s->terms[at] = (struct term){ .kind = TERM_NOUN, .left = NO_TERM, .right = NO_TERM, .value = value };
    return true;
}

/* ---- the loop ----------------------------------------------------------- */

static void run(struct stepper *s, noun subject, noun formula)
{
    uint64_t max_steps = s->options->max_steps ? s->options->max_steps : STEP_DEFAULT_MAX_STEPS;
    size_t root = nock_on(s, subject, formula);
    frame_push(s, root, 0, false);
    while (s->frame_count > 0 && !s->stopped) {
        struct frame top = s->frames[s->frame_count - 1];
        struct term *t = &s->terms[top.term];
        switch (t->kind) {
        case TERM_NOUN:
            s->frame_count--;
            break;
        case TERM_CELL: {
            size_t left = t->left, right = t->right;
            uint64_t sides_depth = top.depth + (top.sides_deeper ? 1 : 0);
            if (s->terms[left].kind != TERM_NOUN) {
                frame_push(s, left, sides_depth, false);
            } else if (s->terms[right].kind != TERM_NOUN) {
                frame_push(s, right, sides_depth, false);
            } else {
                noun value = cell(s, s->terms[left].value, s->terms[right].value);
                term_free(s, left);
                term_free(s, right);
                s->terms[top.term] = (struct term){ .kind = TERM_NOUN, .left = NO_TERM, .right = NO_TERM,
                                                    .value = value };
                s->frame_count--;
            }
            break;
        }
        default:
            if (s->terms[t->left].kind != TERM_NOUN) {
                frame_push(s, t->left, top.depth + 1, false);
            } else if (s->result->steps % STEP_POLL_INTERVAL == STEP_POLL_INTERVAL - 1 && s->options->interrupted &&
                       s->options->interrupted(s->options->context)) {
                flush_hidden(s);
                s->result->status = STEP_INTERRUPTED;
                snprintf(s->result->message, sizeof s->result->message, "interrupted after %llu steps",
                         (unsigned long long)s->result->steps);
                return;
            } else if (s->result->steps >= max_steps) {
                flush_hidden(s);
                s->result->status = STEP_LIMIT;
                snprintf(s->result->message, sizeof s->result->message,
                         "stopped after %llu steps (the step limit); the reduction is not finished",
                         (unsigned long long)s->result->steps);
                return;
            } else if (!reduce_operator(s, top.term, top.depth)) {
                return;
            } else if (s->terms[top.term].kind == TERM_CELL) {
                s->frames[s->frame_count - 1].sides_deeper = true;
            }
            break;
        }
    }
    flush_hidden(s);
    if (s->stopped) {
        s->result->status = STEP_STOPPED;
        snprintf(s->result->message, sizeof s->result->message, "stopped after %llu steps",
                 (unsigned long long)s->result->steps);
        return;
    }
    s->result->status = STEP_DONE;
    s->result->product = s->terms[root].value;
}

void step_run(struct noun_region *region, noun subject, noun formula, const struct step_options *options,
              struct step_result *result)
{
    memset(result, 0, sizeof *result);
    result->product = NOUN_NONE;
    struct stepper *s = calloc(1, sizeof *s);
    if (!s) {
        result->status = STEP_OUT_OF_MEMORY;
        snprintf(result->message, sizeof result->message, "out of memory");
        return;
    }
    s->region = region;
    s->options = options;
    s->result = result;
    s->free_term = NO_TERM;
    text_buffer_init(&s->line);
    text_buffer_init(&s->scratch_text);
    for (size_t i = 0; i < PRINT_CACHE_SIZE; i++)
        s->printed[i].key = NOUN_NONE;

    void (*saved_handler)(void *) = region->out_of_memory;
    void *saved_context = region->out_of_memory_context;
    region->out_of_memory = region_out_of_memory;
    region->out_of_memory_context = s;
    if (setjmp(s->jump) == 0) {
        run(s, subject, formula);
    } else {
        result->status = STEP_OUT_OF_MEMORY;
        result->product = NOUN_NONE;
        snprintf(result->message, sizeof result->message, "out of memory after %llu steps",
                 (unsigned long long)result->steps);
    }
    region->out_of_memory = saved_handler;
    region->out_of_memory_context = saved_context;

    text_buffer_free(&s->line);
    text_buffer_free(&s->scratch_text);
    for (size_t i = 0; i < PRINT_CACHE_SIZE; i++)
        free(s->printed[i].text);
    free(s->terms);
    free(s->frames);
    free(s);
}
