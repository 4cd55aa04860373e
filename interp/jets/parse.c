/* parse.c -- jets for the first-order parser rules of Hoon's section 4f:
 * the `fun` gates that (just c), (mask list), (shim low high) and (easy x)
 * build.  Each takes a nail [[line column] tape] and gives an edge: [hair
 * ~] when it fails, or [hair [~ [product nail]]] when it consumes a
 * character (+next: the line counts up on a newline, the column otherwise)
 * or, for easy, nothing.
 *
 * The rule's own argument is the sample of the builder gate, which is the
 * context of the `fun` gate: axis 30 of the `fun` core.  The combinators
 * that call other rules (cook, stag, pose, plug, stir, ...) slam a gate and
 * have no jet here.
 */
#include "interp/jets/jet.h"

#include "interp/jets/atom.h"

/* The builder's sample, seen from the `fun` gate. */
#define PARSE_ARGUMENT_AXIS 30
#define NEWLINE 10

/* A nail [[line column] tape]; false for anything the Nock would crash on
 * before deciding (the decision itself needs the line and column as
 * atoms only when a character is consumed). */
static bool nail_parts(noun nail, noun *line, noun *column, noun *tape)
{
    noun hair;
    return jets_split(nail, &hair, tape) && jets_split(hair, line, column);
}

/* [hair ~] */
static noun failed(struct jets_call *call, noun line, noun column)
{
    return noun_cell_new(call->region, noun_cell_new(call->region, line, column), 0);
}

/* +next on a nail whose tape is known to be a cell: consume its head. */
static bool consume(struct jets_call *call, noun line, noun column, noun tape, noun *product)
{
    noun character = noun_head(tape);
    if (!noun_is_atom(line) || !noun_is_atom(column))
        return false;
    noun hair = character == NEWLINE
                    ? noun_cell_new(call->region, noun_atom_increment(call->region, line), 1)
                    : noun_cell_new(call->region, line, noun_atom_increment(call->region, column));
    noun rest = noun_cell_new(call->region, hair, noun_tail(tape));
    noun result = noun_cell_new(call->region, 0, noun_cell_new(call->region, character, rest));
    *product = noun_cell_new(call->region, hair, result);
    return true;
}

/* The shared shape of just, mask and shim: fail on an empty tape or when
 * `accepts` says no, else consume.  `accepts` returns -1 for input the
 * Nock would crash on. */
static enum nock_jet_result match_one(struct jets_call *call, noun *product,
                                      int (*accepts)(noun argument, noun character))
{
    noun line, column, tape;
    noun argument = noun_fragment(PARSE_ARGUMENT_AXIS, call->core);
    if (argument == NOUN_NONE || !nail_parts(jets_sample(call), &line, &column, &tape))
        return NOCK_JET_DECLINED;
    if (tape == 0) {
        *product = failed(call, line, column);
        return NOCK_JET_DONE;
    }
    if (!noun_is_cell(tape))
        return NOCK_JET_DECLINED;
    int verdict = accepts(argument, noun_head(tape));
    if (verdict < 0)
        return NOCK_JET_DECLINED;
    if (!verdict) {
        *product = failed(call, line, column);
        return NOCK_JET_DONE;
    }
    return consume(call, line, column, tape, product) ? NOCK_JET_DONE : NOCK_JET_DECLINED;
}

static int just_accepts(noun wanted, noun character)
{
    return wanted == character || noun_equal(wanted, character);
}

/* +lien over the list with =(character item); -1 if the list is improper. */
static int mask_accepts(noun list, noun character)
{
    for (; noun_is_cell(list); list = noun_tail(list))
        if (noun_equal(noun_head(list), character))
            return 1;
    return list == 0 ? 0 : -1;
}

/* (gte c low) and (lte c high); -1 when those would crash (non-atoms). */
static int shim_accepts(noun range, noun character)
{
    noun low, high;
    if (!jets_split(range, &low, &high) || !noun_is_atom(low) || !noun_is_atom(high) || !noun_is_atom(character))
        return -1;
    return jets_atom_compare(character, low) >= 0 && jets_atom_compare(character, high) <= 0;
}

static enum nock_jet_result jet_just(struct jets_call *call, noun *product)
{
    return match_one(call, product, just_accepts);
}

static enum nock_jet_result jet_mask(struct jets_call *call, noun *product)
{
    return match_one(call, product, mask_accepts);
}

static enum nock_jet_result jet_shim(struct jets_call *call, noun *product)
{
    return match_one(call, product, shim_accepts);
}

/* [p.tub [~ [huf tub]]] */
static enum nock_jet_result jet_easy(struct jets_call *call, noun *product)
{
    noun nail = jets_sample(call), hair, tape;
    noun value = noun_fragment(PARSE_ARGUMENT_AXIS, call->core);
    if (value == NOUN_NONE || !jets_split(nail, &hair, &tape))
        return NOCK_JET_DECLINED;
    noun result = noun_cell_new(call->region, 0, noun_cell_new(call->region, value, nail));
    *product = noun_cell_new(call->region, hair, result);
    return NOCK_JET_DONE;
}

static const struct jets_arm parse_arms[] = {
    { "one/two/tri/qua/just/fun", 2, jet_just },
    { "one/two/tri/qua/mask/fun", 2, jet_mask },
    { "one/two/tri/qua/shim/fun", 2, jet_shim },
    { "one/two/tri/qua/easy/fun", 2, jet_easy },
};

const struct jets_family jets_family_parse = { "parse", parse_arms, sizeof parse_arms / sizeof parse_arms[0] };
