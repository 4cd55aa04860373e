/* expression.h -- the expression language of a nocklab line.
 *
 * An expression is noun text extended with the Nock 4K specification's
 * operators, each written directly before its operand:
 *
 *   *[a f]    Nock: evaluate formula f against subject a
 *   /[n a]    slot: the fragment of a at axis n
 *   #[n b c]  edit: c with the fragment at axis n replaced by b
 *   ?x        cell test: 0 if x is a cell, 1 if an atom
 *   +x        increment an atom
 *   =[a b]    equality: 0 if a and b are equal, 1 if not
 *
 * Operands are themselves expressions, so operators nest anywhere a noun can
 * stand: `[+5 *[42 [4 0 1]]]`.  Atom literals are whatever text_parse_atom
 * accepts (decimal, 0x hex, %term, ...); a word starting with a letter is a
 * name, looked up through the caller's resolver.  `[a b c]` is `[a [b c]]`.
 *
 * The whole text is parsed (syntax and names checked) before any of it is
 * evaluated.  Parsing and evaluation use explicit,
 * heap-allocated stacks, so nesting depth is bounded by memory, never by the
 * C stack.  Nouns are built in the nock context's scratch region; the result
 * lives there until the caller copies it out.  Intermediate results that must
 * survive a Nock evaluation (which may collect scratch) are copied to home
 * first; they are not rooted there, so home must not be collected while an
 * expression is being evaluated.
 *
 * Scratch allocation may call the region's out_of_memory handler, which the
 * caller must have set to something that leaves (longjmp).  The evaluator
 * keeps its stacks inside the struct expression_evaluator, so leaving that
 * way loses nothing.
 */
#ifndef NOCKLAB_EXPRESSION_H
#define NOCKLAB_EXPRESSION_H

#include <stddef.h>
#include <stdint.h>
#include "interp/nock.h"
#include "interp/noun.h"
#include "interp/text.h"

enum expression_status {
    EXPRESSION_OK,
    EXPRESSION_SYNTAX,        /* the text is not a well-formed expression */
    EXPRESSION_CRASH,         /* Nock, or one of the spec's operators, crashed */
    EXPRESSION_OUT_OF_MEMORY, /* scratch, home or the parser's stacks ran out */
    EXPRESSION_TOO_DEEP,      /* Nock nested calls past the evaluator's limit */
    EXPRESSION_INTERRUPTED,   /* nock_interrupt stopped an evaluation */
};

/* Why an expression failed.  `column` is 1-based in the text given (0 when
 * no single place is at fault); `message` is one line without the column.
 * `trace` is the crash trace of a Nock crash ([tag clue] list, innermost
 * first; 0 when there is none), in scratch until the next reset.  `steps`
 * counts Nock steps the expression ran, whatever its status. */
struct expression_error {
    enum expression_status status;
    size_t column;
    char message[200];
    noun trace;
    uint64_t steps;
};

/* What an expression may reach: the evaluator context (its scratch region
 * and home) and the names bound by the caller.  `resolve_name` may be NULL,
 * in which case every name is unknown.  Scratch running out outside an
 * evaluation goes to whatever handler the caller put on the region;
 * nock_evaluate puts its own in place while it runs. */
struct expression_environment {
    struct nock_context *nock;
    text_name_resolver *resolve_name;
    void *resolver_context;
};

struct expression_evaluator;

/* An evaluator owns the stacks reused by every evaluation.  NULL when
 * memory is short. */
struct expression_evaluator *expression_evaluator_new(void);
void expression_evaluator_free(struct expression_evaluator *evaluator);

/* Evaluate the expression in text[start, length).  Columns in errors count
 * from text[0], so a caller passing a whole line gets line columns.  On
 * EXPRESSION_OK, *out is the value (in scratch or home). */
enum expression_status expression_evaluate(struct expression_evaluator *evaluator,
                                           const struct expression_environment *environment,
                                           const char *text, size_t length, size_t start,
                                           noun *out, struct expression_error *error);

/* Length of the name at the start of text (letters, digits and `-`, first a
 * letter); 0 when text does not start with a name. */
size_t expression_name_length(const char *text, size_t length);

/* Whether c separates the parts of an expression (space or tab). */
static inline int expression_is_space(char c) { return c == ' ' || c == '\t'; }

#endif
