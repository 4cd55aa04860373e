/* hoon.h -- compiling and running Hoon against a booted kernel.
 *
 * This is what Vere's `urbit eval` does, taken apart so each piece can be
 * shown and timed.  Vere wishes for the gate
 *
 *     |=(a=@t (sell (slap !>(+>.$) (rain /eval a))))
 *
 * (a wish is the kernel's arm at axis 10, a gate from text to the value of
 * that text compiled against the whole standard library) and slams it with
 * the expression.  Here the gate only compiles:
 *
 *     |=(a=@t (~(mint ut -:!>(+>.$)) %noun (rain /eval a)))
 *
 * giving [type formula]; the formula is then evaluated by nocklab against
 * the gate's context (+>.$, the standard library), and the product is
 * printed by Hoon's own printer: `sell` (vase to tank) and `wash` (tank to
 * lines of text).  A crash is rendered as Vere renders one: the trace goes
 * through `mook` (after each %mean trap is run by nocklab directly, which
 * spares mook's +mack a nested evaluation per trap), the tanks are flopped
 * to outermost first and washed.
 *
 * Gates wished for are cached in home (as roots), so only the first
 * expression pays for compiling them.
 */
#ifndef NOCKLAB_HOON_H
#define NOCKLAB_HOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/nock.h"
#include "interp/noun.h"

struct hoon_runtime;

/* A runtime for `kernel` (a home noun: a lite kernel from ivory_boot); the
 * runtime keeps it as a home root.  NULL when memory runs out. */
struct hoon_runtime *hoon_runtime_new(struct noun_home *home, noun kernel);
void hoon_runtime_free(struct hoon_runtime *runtime);
noun hoon_runtime_kernel(const struct hoon_runtime *runtime);

/* How far to take an expression. */
enum hoon_stage {
    HOON_COMPILE,   /* parse and compile: type and formula */
    HOON_RUN,       /* ... and evaluate: product */
    HOON_PRINT,     /* ... and print with Hoon's printer: lines */
};

enum hoon_status {
    HOON_OK,
    HOON_ERROR,     /* Hoon said no (parse error, type error, crash): the
                       lines are Hoon's own message */
    HOON_FAILED,    /* nocklab couldn't finish (out of memory, interrupted,
                       too deep, a kernel that isn't one): see `failure` */
};

/* What an expression came to.  Nouns live in the context's scratch (or
 * home) until the caller resets it; `lines` are malloc'd. */
struct hoon_result {
    enum hoon_status status;
    noun type, formula, product;   /* NOUN_NONE where not reached */
    char **lines;                  /* printed product, or Hoon's error */
    size_t line_count;
    char failure[160];
    /* costs, for :time-like reports and the bench */
    double compile_seconds, run_seconds, print_seconds;
    uint64_t compile_steps, run_steps, print_steps;
};

/* Take the Hoon text in text[0..length) to `stage`, evaluating in `nock`
 * (whose home is the runtime's).  `width` is the column width Hoon's
 * printer wraps at.  Returns result->status == HOON_OK. */
bool hoon_evaluate(struct hoon_runtime *runtime, struct nock_context *nock, const char *text, size_t length,
                   enum hoon_stage stage, unsigned width, struct hoon_result *result);
void hoon_result_free(struct hoon_result *result);

/* Render a crash trace (a list of [tag clue], innermost first, as the
 * evaluator reports it) as Hoon prints one: lines, outermost first.  False
 * (and no lines) when the rendering itself fails. */
bool hoon_render_trace(struct hoon_runtime *runtime, struct nock_context *nock, noun trace, unsigned width,
                       char ***lines, size_t *line_count);

/* Wish: the value of Hoon text against the standard library, as the
 * kernel's own wish arm computes it (uncached).  False with a reason. */
bool hoon_wish(struct hoon_runtime *runtime, struct nock_context *nock, const char *text, noun *value,
               char *why, size_t why_size);

#endif
