/* tree.c -- jets for tree addressing: Hoon's cap, mas and peg.
 *
 * An axis written in binary is a path: after the leading 1, each 0 goes to
 * the head and each 1 to the tail.  cap is the first step (2 or 3), mas the
 * rest of the path from there, peg the path of b continued from a.  Axes 0
 * and 1 (and b = 0 for peg) make the Nock crash or loop; those are declined.
 */
#include "interp/jets/jet.h"

#include "interp/jets/atom.h"

/* The bit below the leading one: 0 for the head side, 1 for the tail. */
static enum nock_jet_result jet_cap(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_atom(a) || a < 2)
        return NOCK_JET_DECLINED;
    uint64_t length = noun_atom_bit_length(a);
    *product = 2 + jets_atom_slice(call->region, a, length - 2, 1);
    return NOCK_JET_DONE;
}

/* Drop the bit below the leading one. */
static enum nock_jet_result jet_mas(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_atom(a) || a < 2)
        return NOCK_JET_DECLINED;
    uint64_t length = noun_atom_bit_length(a);
    noun low = jets_atom_slice(call->region, a, 0, length - 2);
    *product = jets_atom_or_shifted(call->region, low, 1, length - 2);
    return NOCK_JET_DONE;
}

/* a's bits, then b's bits below b's leading one. */
static enum nock_jet_result jet_peg(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b) || a == 0 || b == 0)
        return NOCK_JET_DECLINED;
    uint64_t length = noun_atom_bit_length(b);
    noun low = jets_atom_slice(call->region, b, 0, length - 1);
    *product = jets_atom_or_shifted(call->region, low, a, length - 1);
    return NOCK_JET_DONE;
}

static const struct jets_arm tree_arms[] = {
    { "one/cap", 2, jet_cap },
    { "one/mas", 2, jet_mas },
    { "one/peg", 2, jet_peg },
};

const struct jets_family jets_family_tree = { "tree", tree_arms, sizeof tree_arms / sizeof tree_arms[0] };
