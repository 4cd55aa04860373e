/* types.c -- the type checker's hot arms, memoized as Vere's jets do it.
 *
 * Compiling Hoon is the `ut` door (section 5c) checking and generating:
 * play (the type of an expression), mint (its type and formula, given the
 * type it must nest in), nest's inner dext (does one type nest in another),
 * peek and rest.  They are called again and again with the same types, and
 * hoon.hoon's own %memo hints key on the whole subject, which differs
 * between calls in state that doesn't change the answer (the sets of pairs
 * under consideration, the gates' other samples).  Vere's jets for these
 * arms key on what does change it: the arm, the door's flags `vrf` ([vet
 * fab]: check, and allow `fab`), the subject type `sut` and the arm's
 * sample.  These do the same, keeping the answers in the evaluator's %memo
 * cache (nock_memo_find/save), so they live as long as it does; on a miss
 * they run the arm's own Nock in a nested evaluation.  dext's answer is
 * kept only when it didn't lean on an assumption of the pairs under
 * consideration (yes with `reg` empty, no with `seg` empty), as in Vere.
 *
 * Keys are [[sut sample] [tag flags battery]]: the door's battery is in the
 * key so two kernels' type checkers never share answers.
 *
 * A crash declines (the Nock then crashes the same way, with Hoon's own
 * trace: a type error's message); too deep a nesting of these calls
 * declines too, so that the C stack stays bounded.
 */
#include "interp/jets/jet.h"

/* Axes in the ut door (van): its sample `sut`, and the flags. */
#define VAN_SUBJECT_TYPE 6
#define VAN_FLAGS 59      /* vrf: [vet fab] */
#define VAN_VET 118

/* Nested evaluations deeper than this decline: each costs C stack. */
#define MAX_NESTING 600

#define TAG_PLAY 0x79616c70u
#define TAG_MINT 0x746e696du
#define TAG_DEXT 0x74786564u
#define TAG_PEEK 0x6b656570u
#define TAG_REST 0x74736572u

/* [[sut sample] [tag flags battery]] for the door `van`; NOUN_NONE if the
 * door isn't shaped like one. */
static noun memo_key(struct jets_call *call, noun van, uint64_t tag, noun flags, noun sample)
{
    noun sut = noun_fragment(VAN_SUBJECT_TYPE, van);
    if (sut == NOUN_NONE || flags == NOUN_NONE || sample == NOUN_NONE)
        return NOUN_NONE;
    struct noun_region *region = call->region;
    return noun_cell_new(region, noun_cell_new(region, sut, sample),
                         noun_trel(region, tag, flags, noun_head(van)));
}

/* Which answers are worth keeping: all of them, or (dext) yes only when
 * `yes` and no only when `no`. */
struct keep_rule {
    bool all, yes, no;
};
static const struct keep_rule keep_all = { true, true, true };

/* Find the answer under `key`, or run the arm's own Nock (*[core battery],
 * the core being a gate or a one-arm core whose battery is the arm) and
 * keep its answer as `rule` says. */
static enum nock_jet_result memoized(struct jets_call *call, noun key, struct keep_rule rule, noun *product)
{
    if (key == NOUN_NONE || nock_nesting(call->nock) > MAX_NESTING)
        return NOCK_JET_DECLINED;
    if (nock_memo_find(call->nock, key, product))
        return NOCK_JET_DONE;
    noun *const held[] = { &call->core, &key };
    struct nock_outcome outcome =
        nock_evaluate_nested(call->nock, call->core, noun_head(call->core), NOUN_NONE, held, 2);
    if (outcome.status != NOCK_OK)
        return jets_pass_on_or_decline(call, outcome);
    if (rule.all || (outcome.product == JETS_YES && rule.yes) || (outcome.product == JETS_NO && rule.no))
        nock_memo_save(call->nock, key, outcome.product);
    *product = outcome.product;
    return NOCK_JET_DONE;
}

/* play |=(gen=hoon ...), mint |=([gol=type gen=hoon] ...), peek
 * |=([way=?(%read %rite %both %free) axe=axis] ...) and rest
 * |=(leg=(list [p=type q=hoon]) ...): gates on the door (their context, at
 * 7), their whole sample (at 6) in the key. */
static enum nock_jet_result door_gate(struct jets_call *call, uint64_t tag, noun *product)
{
    noun van = noun_fragment(7, call->core);
    if (van == NOUN_NONE)
        return NOCK_JET_DECLINED;
    noun key = memo_key(call, van, tag, noun_fragment(VAN_FLAGS, van), noun_fragment(6, call->core));
    return memoized(call, key, keep_all, product);
}

static enum nock_jet_result jet_play(struct jets_call *call, noun *product)
{
    return door_gate(call, TAG_PLAY, product);
}

static enum nock_jet_result jet_mint(struct jets_call *call, noun *product)
{
    return door_gate(call, TAG_MINT, product);
}

static enum nock_jet_result jet_peek(struct jets_call *call, noun *product)
{
    return door_gate(call, TAG_PEEK, product);
}

static enum nock_jet_result jet_rest(struct jets_call *call, noun *product)
{
    return door_gate(call, TAG_REST, product);
}

/* nest's dext: a one-arm core inside nest-in, the gate
 * |=([[seg=(set type) reg=(set type)] gil=(set [type type])] ...) inside
 * nest, the gate |=([tel=? ref=type] ...) on the door.  So: nest-in at 3,
 * its seg, reg at 12, 26 of it; nest at 7 of nest-in; ref at 13 and the
 * door at 7 of nest.  The key has ref and vet (not fab). */
static enum nock_jet_result jet_nest_dext(struct jets_call *call, noun *product)
{
    noun nest_in = noun_fragment(3, call->core);
    noun nest = nest_in == NOUN_NONE ? NOUN_NONE : noun_fragment(7, nest_in);
    if (nest == NOUN_NONE)
        return NOCK_JET_DECLINED;
    noun seg = noun_fragment(12, nest_in), reg = noun_fragment(26, nest_in);
    noun ref = noun_fragment(13, nest), van = noun_fragment(7, nest);
    if (seg == NOUN_NONE || reg == NOUN_NONE || ref == NOUN_NONE || van == NOUN_NONE)
        return NOCK_JET_DECLINED;
    noun key = memo_key(call, van, TAG_DEXT, noun_fragment(VAN_VET, van), ref);
    /* yes with no assumed pairs in reg, or no with none in seg */
    struct keep_rule rule = { false, reg == 0, seg == 0 };
    return memoized(call, key, rule, product);
}

static const struct jets_arm types_arms[] = {
    { "one/two/tri/qua/pen/ut/play", 2, jet_play },
    { "one/two/tri/qua/pen/ut/mint", 2, jet_mint },
    { "one/two/tri/qua/pen/ut/peek", 2, jet_peek },
    { "one/two/tri/qua/pen/ut/rest", 2, jet_rest },
    { "one/two/tri/qua/pen/ut/nest/nest-in/nest-dext", 2, jet_nest_dext },
};

const struct jets_family jets_family_types = { "types", types_arms, sizeof types_arms / sizeof types_arms[0] };
