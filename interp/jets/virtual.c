/* virtual.c -- +mink, Hoon's virtual Nock, run by the evaluator itself.
 *
 * (mink [subject formula] scry) gives a tone: [%0 product]; [%1 path] when
 * a Nock 12 [ref path] inside asked the scry gate and it said ~ (no value
 * yet); [%2 trace] for a crash, the trace innermost first.  The Hoon arm
 * interprets Nock in Nock, thousands of times slower than the evaluator;
 * Vere's jet does what this one does, a nested evaluation whose Nock 12
 * slams the scry gate.  Everything virtual in Hoon goes through +mink:
 * mock, mack, mook, mule, mute, mure, mole and soft.
 *
 * What the nested evaluation can't turn into a tone is the jet's caller's:
 * a crash or block of the scry gate itself (the gate belongs to the
 * caller), and running out of memory, nesting too deep or an interrupt.
 */
#include "interp/jets/jet.h"

static enum nock_jet_result jet_mink(struct jets_call *call, noun *product)
{
    noun request, gate, subject, formula;
    if (!jets_split(jets_sample(call), &request, &gate) || !jets_split(request, &subject, &formula))
        return NOCK_JET_DECLINED;
    noun *const held[] = { &call->core };
    struct nock_outcome outcome = nock_evaluate_nested(call->nock, subject, formula, gate, held, 1);
    if (outcome.escalation == 0) {
        switch (outcome.status) {
        case NOCK_OK:
            *product = noun_cell_new(call->region, 0, outcome.product);
            return NOCK_JET_DONE;
        case NOCK_BLOCKED:
            *product = noun_cell_new(call->region, 1, outcome.product);
            return NOCK_JET_DONE;
        case NOCK_CRASH:
            *product = noun_cell_new(call->region, 2, outcome.trace);
            return NOCK_JET_DONE;
        case NOCK_OUT_OF_MEMORY: case NOCK_TOO_DEEP: case NOCK_INTERRUPTED:
            break;
        }
    } else {
        outcome.escalation--; /* one level out: this call's caller */
    }
    return nock_jet_pass_on(call->nock, outcome);
}

struct nock_outcome jets_slam(struct jets_call *call, noun gate, noun sample, noun *const *held, size_t held_count)
{
    struct noun_region *region = call->region;
    /* *[[gate sample] [9 2 10 [6 0 3] 0 2]] */
    noun subject = noun_cell_new(region, gate, sample);
    noun formula = noun_trel(region, 9, 2,
                             noun_trel(region, 10, noun_trel(region, 6, 0, 3), noun_cell_new(region, 0, 2)));
    return nock_evaluate_nested(call->nock, subject, formula, NOUN_NONE, held, held_count);
}

enum nock_jet_result jets_pass_on_or_decline(struct jets_call *call, struct nock_outcome outcome)
{
    if (outcome.status == NOCK_CRASH && outcome.escalation == 0)
        return NOCK_JET_DECLINED;
    return nock_jet_pass_on(call->nock, outcome);
}

static const struct jets_arm virtual_arms[] = {
    { "one/two/tri/qua/mink", 2, jet_mink },
};

const struct jets_family jets_family_virtual = { "virtual", virtual_arms,
                                                 sizeof virtual_arms / sizeof virtual_arms[0] };
