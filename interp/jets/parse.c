/* parse.c -- jets for the first-order parser rules of Hoon's section 4f:
 * the `fun` gates that (just c), (mask list), (shim low high) and (easy x)
 * build.  Each takes a nail [[line column] tape] and gives an edge: [hair
 * ~] when it fails, or [hair [~ [product nail]]] when it consumes a
 * character (+next: the line counts up on a newline, the column otherwise)
 * or, for easy, nothing.
 *
 * The rule's own argument is the sample of the builder gate, which is the
 * context of the `fun` gate: axis 30 of the `fun` core.  Of the combinators
 * that call other rules, only bend has a jet (it must: see jet_bend); cook,
 * stag, pose, plug, stir and the rest run as Nock.
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

/* +last: the later of two hairs [line column]; false if not atoms. */
static bool later_hair(noun first, noun second, noun *later)
{
    noun line_1, column_1, line_2, column_2;
    if (!jets_split(first, &line_1, &column_1) || !jets_split(second, &line_2, &column_2) ||
        !noun_is_atom(line_1) || !noun_is_atom(column_1) || !noun_is_atom(line_2) || !noun_is_atom(column_2))
        return false;
    int lines = jets_atom_compare(line_1, line_2);
    if (lines == 0)
        *later = jets_atom_compare(column_1, column_2) > 0 ? first : second;
    else
        *later = lines > 0 ? first : second;
    return true;
}

/* ((bend raq) vex sab): after the edge vex, try the rule sab; if it too
 * succeeds, (raq a b) of the two results decides: ~ keeps vex's result
 * (the suffix is not taken), [~ u] takes u and sab's rest.
 *
 * This one is a jet because %140's Nock for it is wrong: bend's `fun` is a
 * wet gate, and its battery was compiled once, for the default raq, whose
 * product is never ~, so the compiler dropped the test of raq's product and
 * the Nock takes u of ~ ("axis through an atom") whenever the real raq says
 * no.  Vere's jet makes the test; so does this one, and so both give what
 * the Hoon says.  vex is the sample's head, sab its tail, raq at axis 30. */
static enum nock_jet_result jet_bend(struct jets_call *call, noun *product)
{
    noun raq = noun_fragment(PARSE_ARGUMENT_AXIS, call->core), vex, sab, p_vex, q_vex, puq_vex, quq_vex;
    if (raq == NOUN_NONE || !jets_split(jets_sample(call), &vex, &sab) || !jets_split(vex, &p_vex, &q_vex))
        return NOCK_JET_DECLINED;
    if (!noun_is_cell(q_vex)) {
        *product = vex;
        return NOCK_JET_DONE;
    }
    if (!jets_split(noun_tail(q_vex), &puq_vex, &quq_vex))
        return NOCK_JET_DECLINED;
    noun *const held[] = { &call->core, &raq, &p_vex, &q_vex, &puq_vex };
    struct nock_outcome yit = jets_slam(call, sab, quq_vex, held, sizeof held / sizeof held[0]);
    if (yit.status != NOCK_OK)
        return jets_pass_on_or_decline(call, yit);
    noun p_yit, q_yit, puq_yit, quq_yit, yur;
    if (!jets_split(yit.product, &p_yit, &q_yit) || !later_hair(p_vex, p_yit, &yur))
        return NOCK_JET_DECLINED;
    if (!noun_is_cell(q_yit)) {
        *product = noun_cell_new(call->region, yur, q_vex);
        return NOCK_JET_DONE;
    }
    if (!jets_split(noun_tail(q_yit), &puq_yit, &quq_yit))
        return NOCK_JET_DECLINED;
    noun *const kept[] = { &call->core, &q_vex, &yur, &quq_yit };
    struct nock_outcome vux =
        jets_slam(call, raq, noun_cell_new(call->region, puq_vex, puq_yit), kept, sizeof kept / sizeof kept[0]);
    if (vux.status != NOCK_OK)
        return jets_pass_on_or_decline(call, vux);
    if (vux.product == 0) {
        *product = noun_cell_new(call->region, yur, q_vex);
        return NOCK_JET_DONE;
    }
    if (!noun_is_cell(vux.product))
        return NOCK_JET_DECLINED;
    noun result = noun_cell_new(call->region, noun_tail(vux.product), quq_yit);
    *product = noun_cell_new(call->region, yur, noun_cell_new(call->region, 0, result));
    return NOCK_JET_DONE;
}

static const struct jets_arm parse_arms[] = {
    { "one/two/tri/qua/bend/fun", 2, jet_bend },
    { "one/two/tri/qua/just/fun", 2, jet_just },
    { "one/two/tri/qua/mask/fun", 2, jet_mask },
    { "one/two/tri/qua/shim/fun", 2, jet_shim },
    { "one/two/tri/qua/easy/fun", 2, jet_easy },
};

const struct jets_family jets_family_parse = { "parse", parse_arms, sizeof parse_arms / sizeof parse_arms[0] };
