/* step.h -- a teaching reducer: Nock 4K one rule at a time, as the spec says.
 *
 * The evaluator in nock.c is built for speed; this one is built to be read
 * and believed.  It rewrites a term with exactly the reduction rules of the
 * Nock 4K specification (including / and #, rule by rule) and reports each
 * rule it applies as one line: the term it reduced, written in the spec's
 * notation with the actual nouns (elided as asked), and the rule's text,
 * e.g. "*[42 2 [0 1] 1 4 0 1]" with "*[a 2 b c] -> *[*[a b] *[a c]]".
 *
 * A term is a noun or one of the spec's operators (* / # ? + =) applied to
 * a term, or a cell of two terms.  The leftmost innermost operator whose
 * operand is already a noun is reduced next, so the order is the one a
 * reader follows on paper.  A line's depth is how many operators enclose
 * the term it reduces: reducing *[*[a b] c] shows *[a b] one level deeper.
 * A rule that replaces a term by another (*[a 7 b c] -> *[*[a b] c]) keeps
 * the depth, so a loop in tail position stays at its level.
 *
 * Everything is iterative with heap-allocated stacks; the step limit bounds
 * time and memory.  Nouns are built in the caller's scratch region, which
 * this module never collects; if it fills, the run ends with
 * STEP_OUT_OF_MEMORY (the region's out_of_memory handler is replaced for the
 * duration of step_run and put back after).  Nothing here prints: lines go
 * to the caller's callback.
 */
#ifndef NOCKLAB_STEP_H
#define NOCKLAB_STEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "interp/noun.h"
#include "interp/text.h"

/* How a run ended. */
enum step_status {
    STEP_DONE,          /* the term reduced to a noun: result.product */
    STEP_CRASH,         /* no rule reduces some term (the spec's *a -> *a) */
    STEP_LIMIT,         /* max_steps reductions were made; more remain */
    STEP_STOPPED,       /* the line callback returned false */
    STEP_INTERRUPTED,   /* the interrupted callback returned true */
    STEP_OUT_OF_MEMORY, /* the scratch region or the heap ran out */
};

/* One line of output.  For a reduction: `step` counts reductions from 1,
 * `depth` is the nesting level (0 for the whole term), `text` is the term
 * reduced, followed by " -> " and the noun it became when the rule gives a
 * noun, and `rule` is the spec's rule (static text).  For a crash, `text`
 * is the term and `rule` the spec's crash rule ("*a -> *a"), `crash` true.
 * For lines hidden by max_depth, one summary line is written where they
 * were: `hidden` is how many reductions it stands for, `text` is "...",
 * `rule` NULL.  `text` is NUL-terminated and valid only during the call. */
struct step_line {
    uint64_t step;
    uint64_t depth;
    const char *text;
    size_t length;
    const char *rule;
    uint64_t hidden;
    bool crash;
};

/* Receives each line; returns false to stop the run (STEP_STOPPED). */
typedef bool step_line_writer(void *context, const struct step_line *line);
/* Asked every STEP_POLL_INTERVAL reductions whether to stop (Ctrl-C). */
typedef bool step_interrupt_check(void *context);
#define STEP_POLL_INTERVAL 1024

/* What to run with.
 *   max_steps   reductions allowed (0 = STEP_DEFAULT_MAX_STEPS)
 *   max_depth   deepest level whose lines are written; deeper reductions
 *               still happen but are summarized ("..." lines)
 *   print       how each noun in a line is written: atom style, and
 *               max_cells / max_depth elision applied to each noun alone
 *               (the subject and the formula of *[a f] get a budget each)
 *   write_line  receives every line; `interrupted` (may be NULL) is polled;
 *               both get `context` */
struct step_options {
    uint64_t max_steps;
    uint64_t max_depth;
    struct text_print_options print;
    step_line_writer *write_line;
    step_interrupt_check *interrupted;
    void *context;
};

#define STEP_DEFAULT_MAX_STEPS 10000

/* The outcome.  `product` is valid for STEP_DONE (in the region);
 * `steps` counts reductions made; `lines_hidden` those not written because
 * of max_depth; `message` says what happened when status is not STEP_DONE
 * (which term crashed, or that the limit was reached), one line. */
struct step_result {
    enum step_status status;
    noun product;
    uint64_t steps;
    uint64_t lines_hidden;
    char message[240];
};

/* Reduce *[subject formula], writing one line per rule applied.  subject
 * and formula may live in `region` or in home. */
void step_run(struct noun_region *region, noun subject, noun formula, const struct step_options *options,
              struct step_result *result);

#endif
