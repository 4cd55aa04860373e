/* fuzz_differential.c -- libFuzzer target: the evaluator (interp/nock.c),
 * in collection stress mode, against the step reducer (interp/step.c).
 *
 * The input's bytes steer a generator of formulas that terminate by
 * construction: every opcode, counted loops (a core whose arm decrements a
 * counter and recurses), Nock 2 over formulas computed at run time (built
 * by autocons, or taken out of the subject), edits, static and dynamic
 * hints (%memo, %spot, %slog, %bout, %fast, and unknown ones), and nesting
 * past the compiler's limit.  The formula and subject are built in the
 * evaluator's scratch and, by the input's choice, run from there or from
 * home; scratch is collected at every safe point (noun.h, stress mode),
 * and home after every input.
 *
 * The step reducer runs first with a step limit; when it ends (a product
 * or a crash), the evaluator must end the same way, with an equal product.
 * Anything else aborts with both sides printed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/step.h"
#include "interp/text.h"

#define STEP_LIMIT 200000

static struct noun_home *home;
static struct nock_context *nock;
static struct noun_region *step_region;

/* The generator's state: the input read byte by byte (zeros past its
 * end), and the region nouns are built in. */
struct generator {
    const uint8_t *data;
    size_t size, at;
    struct noun_region *region;
};

static unsigned next_byte(struct generator *g)
{
    return g->at < g->size ? g->data[g->at++] : 0;
}

static noun cell(struct generator *g, noun head, noun tail) { return noun_cell_new(g->region, head, tail); }
static noun trel(struct generator *g, noun a, noun b, noun c) { return noun_trel(g->region, a, b, c); }
static noun qual(struct generator *g, noun a, noun b, noun c, noun d) { return noun_qual(g->region, a, b, c, d); }

static noun parse(struct generator *g, const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(g->region, text, strlen(text), NULL, NULL, &n, &error))
        abort();
    return n;
}

/* A small noun: mostly small atoms, now and then one past 2^64. */
static noun data(struct generator *g, int budget)
{
    unsigned byte = next_byte(g);
    if (budget <= 0 || byte < 160) {
        if (byte % 17 == 16) {
            uint64_t words[2] = { byte, 1 };
            return noun_atom_from_words(g->region, words, 2);
        }
        return byte % 13;
    }
    return cell(g, data(g, budget - 1), data(g, budget - 1));
}

static noun formula(struct generator *g, int budget);

/* *[a L] runs *[a body] `count` times, each product the next subject:
 *   [8 [1 count] 8 [1 arm] 9 2 0 1], core [arm counter a]
 *   arm = [6 [5 [1 0] 0 6] [0 7] 9 2 [0 2] [7 [0 6] dec] 7 [0 7] body] */
static noun counted_loop(struct generator *g, unsigned count, noun body)
{
    noun dec = parse(g, "[8 [1 0] 8 [1 6 [5 [4 0 6] 0 7] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]");
    noun next = trel(g, cell(g, 0, 2), trel(g, 7, cell(g, 0, 6), dec), trel(g, 7, cell(g, 0, 7), body));
    noun arm = qual(g, 6, trel(g, 5, cell(g, 1, 0), cell(g, 0, 6)), cell(g, 0, 7), trel(g, 9, 2, next));
    return trel(g, 8, cell(g, 1, count), trel(g, 8, cell(g, 1, arm), trel(g, 9, 2, cell(g, 0, 1))));
}

/* A hint tag as the atom of its name (%memo). */
static noun tag(const char *name)
{
    uint64_t atom = 0;
    memcpy(&atom, name, strlen(name));
    return atom;
}

static noun hint(struct generator *g, int budget)
{
    /* the ones the evaluator acts on, and one it doesn't */
    static const char *const names[] = { "spot", "hunk", "mean", "lose", "slog", "memo", "bout", "fast", "foo" };
    noun tags[9];
    for (int i = 0; i < 9; i++)
        tags[i] = tag(names[i]);
    unsigned byte = next_byte(g);
    noun body = formula(g, budget - 1);
    if (byte < 40)
        return trel(g, 11, byte % 5 ? tags[byte % 9] : byte, body);
    noun clue = formula(g, budget - 2);
    return trel(g, 11, cell(g, tags[byte % 9], clue), body);
}

/* Nock 2 over a formula made while running: a constant, one built afresh
 * by autocons, or one carried in the subject. */
static noun computed_call(struct generator *g, int budget)
{
    unsigned byte = next_byte(g);
    noun subject = formula(g, budget - 1);
    noun inner = formula(g, budget - 1);
    switch (byte % 3) {
    case 0:
        return trel(g, 2, subject, cell(g, 1, inner));
    case 1: /* [[1 h] [1 t]] builds [h t] = inner */
        return trel(g, 2, subject, cell(g, cell(g, 1, noun_head(inner)), cell(g, 1, noun_tail(inner))));
    default: /* [7 [[1 inner] subject] 2 [0 3] 0 2]: the formula from the subject */
        return trel(g, 7, cell(g, cell(g, 1, inner), subject), trel(g, 2, cell(g, 0, 3), cell(g, 0, 2)));
    }
}

/* A formula; `budget` bounds its nesting (loops and calls only run
 * formulas made with a smaller budget, so everything terminates). */
static noun formula(struct generator *g, int budget)
{
    unsigned byte = next_byte(g);
    if (budget <= 0)
        return byte & 1 ? cell(g, 0, 1 + byte % 15) : cell(g, 1, byte % 7);
    switch (byte % 16) {
    case 0:
        return cell(g, 0, 1 + next_byte(g) % 31);
    case 1:
        return cell(g, 1, data(g, 3));
    case 2:
        return computed_call(g, budget);
    case 3:
        return cell(g, 3, formula(g, budget - 1));
    case 4:
        return cell(g, 4, formula(g, budget - 1));
    case 5:
        return trel(g, 5, formula(g, budget - 1), formula(g, budget - 1));
    case 6: {
        /* a test that is 0 or 1 most of the time, anything now and then */
        noun test = next_byte(g) < 200 ? trel(g, 5, formula(g, budget - 2), formula(g, budget - 2))
                                       : formula(g, budget - 1);
        return qual(g, 6, test, formula(g, budget - 1), formula(g, budget - 1));
    }
    case 7:
        return trel(g, 7, formula(g, budget - 1), formula(g, budget - 1));
    case 8:
        return trel(g, 8, formula(g, budget - 1), formula(g, budget - 1));
    case 9: /* *[a 9 2 [[1 f] c]]: the arm f runs on the core [f *[a c]] */
        return trel(g, 9, 2, cell(g, cell(g, 1, formula(g, budget - 1)), formula(g, budget - 1)));
    case 10:
        return trel(g, 10, cell(g, 1 + next_byte(g) % 15, formula(g, budget - 1)), formula(g, budget - 1));
    case 11:
        return hint(g, budget);
    case 12:
        return counted_loop(g, next_byte(g) % 6, formula(g, budget - 1));
    case 13:
        if (budget >= 3) { /* past the compile nesting limit (512) */
            noun deep = formula(g, budget - 2);
            for (int i = 0; i < 520; i++)
                deep = trel(g, 7, cell(g, 0, 1), deep);
            return deep;
        }
        return cell(g, 0, 1);
    case 14: /* Nock 9 into a core built from the subject */
        return trel(g, 9, 1 + next_byte(g) % 7, formula(g, budget - 1));
    default:
        return cell(g, formula(g, budget - 1), formula(g, budget - 1));
    }
}

static bool keep_line(void *context, const struct step_line *line)
{
    (void)context;
    (void)line;
    return true;
}

static void step_region_exhausted(void *context)
{
    (void)context;
    fprintf(stderr, "fuzz_differential: the step region filled outside a run\n");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    noun_collection_stress_set(true);
    home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct nock_config config = { .scratch_max_bytes = (size_t)256 << 20, .max_depth = 100000 };
    nock = home ? nock_context_new(home, &config) : NULL;
    step_region = noun_region_new((size_t)256 << 20);
    if (!nock || !step_region)
        abort();
    step_region->out_of_memory = step_region_exhausted;
    return 0;
}

static void report_difference(const char *what, struct nock_outcome *outcome, struct step_result *stepped,
                              noun subject, noun formula_noun)
{
    char *subject_text = text_format(subject), *formula_text = text_format(formula_noun);
    char *product = outcome->status == NOCK_OK ? text_format(outcome->product) : NULL;
    char *expected = stepped->status == STEP_DONE ? text_format(stepped->product) : NULL;
    fprintf(stderr, "fuzz_differential: %s\n  subject %s\n  formula %s\n  evaluator: status %d %s %s\n"
                    "  step reducer: status %d %s %s\n",
            what, subject_text ? subject_text : "?", formula_text ? formula_text : "?", outcome->status,
            outcome->reason ? outcome->reason : "", product ? product : "", stepped->status,
            stepped->message, expected ? expected : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    struct generator g = { .data = input, .size = size, .region = nock_context_region(nock) };
    unsigned placement = next_byte(&g);
    noun subject = data(&g, 4);
    noun generated = formula(&g, 6);
    /* home copies: for the step reducer, and to run from home */
    noun subject_home = noun_home_copy_out(home, g.region, subject);
    noun formula_home = noun_home_copy_out(home, g.region, generated);
    if (subject_home == NOUN_NONE || formula_home == NOUN_NONE)
        abort();

    struct step_options options = {
        .max_steps = STEP_LIMIT,
        .max_depth = 0,
        .print = { .max_cells = 4 },
        .write_line = keep_line,
    };
    /* The reducer writes a line for every reduction at depth 0; run the
     * formula one level down, as the tail of [[1 0] formula], so that all
     * but one are summarized instead of printed.  The product's tail is
     * the formula's. */
    noun wrapped = noun_cell_new(step_region, noun_cell_new(step_region, 1, 0), formula_home);
    struct step_result stepped;
    step_run(step_region, subject_home, wrapped, &options, &stepped);
    if (stepped.status == STEP_DONE)
        stepped.product = noun_tail(stepped.product);
    if (stepped.status == STEP_DONE || stepped.status == STEP_CRASH) {
        /* from scratch (collected under it) or from home, as the input says */
        noun run_subject = placement & 1 ? subject_home : subject;
        noun run_formula = placement & 2 ? formula_home : generated;
        struct nock_outcome outcome = nock_evaluate(nock, run_subject, run_formula);
        if (outcome.status == NOCK_OK && stepped.status == STEP_DONE) {
            if (!noun_equal(outcome.product, stepped.product))
                report_difference("different products", &outcome, &stepped, subject_home, formula_home);
        } else if (outcome.status == NOCK_OK || outcome.status == NOCK_CRASH) {
            /* one gave a product and the other crashed */
            if ((outcome.status == NOCK_CRASH) != (stepped.status == STEP_CRASH))
                report_difference("one crashed, the other did not", &outcome, &stepped, subject_home,
                                  formula_home);
        } else if (outcome.status != NOCK_TOO_DEEP && outcome.status != NOCK_OUT_OF_MEMORY) {
            report_difference("the evaluator gave up", &outcome, &stepped, subject_home, formula_home);
        }
    }
    nock_context_reset(nock);
    noun_region_reset(step_region);
    /* nothing is rooted: home empties, and the codes keyed by its
     * addresses must go with it */
    noun_home_collect(home);
    return 0;
}
