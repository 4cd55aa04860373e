/* order.c -- jets for insecure hashing and noun ordering: Hoon's mug (2e)
 * and aor, dor, gor, mor (2f).
 *
 * mug is the evaluator's own mug (interp/mug.c), bit for bit Hoon's.  The
 * orders walk both nouns together as the Hoon does: equal nouns are ordered
 * (&); a cell pair descends into the heads, or into the tails when the
 * heads are equal; an atom comes before a cell; two atoms compare by value
 * (dor) or byte by byte from the least significant (aor).  gor and mor
 * order by mug, or by mug of mug, and fall back to dor on a tie.  Every walk
 * is a loop: no recursion on the C stack.
 */
#include "interp/jets/jet.h"

#include "interp/jets/atom.h"
#include "interp/mug.h"

/* The byte of atom `a` at index `i` (0 past the end). */
static unsigned atom_byte(noun a, uint64_t i)
{
    uint64_t single;
    size_t count;
    const uint64_t *words = noun_atom_words(a, &single, &count);
    if (i / 8 >= count)
        return 0;
    return (unsigned)(words[i / 8] >> (8 * (i % 8))) & 0xff;
}

/* Two unequal atoms, least significant byte first. */
static bool atoms_alphabetical(noun a, noun b)
{
    uint64_t bytes_a = noun_atom_byte_length(a), bytes_b = noun_atom_byte_length(b);
    uint64_t bytes = bytes_a > bytes_b ? bytes_a : bytes_b;
    for (uint64_t i = 0; i < bytes; i++) {
        unsigned x = atom_byte(a, i), y = atom_byte(b, i);
        if (x != y)
            return x < y;
    }
    return true; /* equal after all: ordered */
}

/* The shared walk of aor and dor. */
static bool ordered(noun a, noun b, bool alphabetical)
{
    for (;;) {
        if (a == b || noun_equal(a, b))
            return true;
        if (noun_is_cell(a)) {
            if (!noun_is_cell(b))
                return false;
            if (noun_equal(noun_head(a), noun_head(b))) {
                a = noun_tail(a);
                b = noun_tail(b);
            } else {
                a = noun_head(a);
                b = noun_head(b);
            }
            continue;
        }
        if (noun_is_cell(b))
            return true;
        return alphabetical ? atoms_alphabetical(a, b) : jets_atom_compare(a, b) < 0;
    }
}

static enum nock_jet_result order_with(struct jets_call *call, noun *product, bool alphabetical)
{
    noun a, b;
    if (!jets_split(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = ordered(a, b, alphabetical) ? JETS_YES : JETS_NO;
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_aor(struct jets_call *call, noun *product)
{
    return order_with(call, product, true);
}

static enum nock_jet_result jet_dor(struct jets_call *call, noun *product)
{
    return order_with(call, product, false);
}

bool jets_order_mug(noun a, noun b)
{
    uint32_t c = mug_noun(a), d = mug_noun(b);
    return c == d ? ordered(a, b, false) : c < d;
}

bool jets_order_double_mug(noun a, noun b)
{
    uint32_t c = mug_noun(mug_noun(a)), d = mug_noun(mug_noun(b));
    return c == d ? ordered(a, b, false) : c < d;
}

static enum nock_jet_result jet_gor(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_split(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_order_mug(a, b) ? JETS_YES : JETS_NO;
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_mor(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_split(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_order_double_mug(a, b) ? JETS_YES : JETS_NO;
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_mug(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (a == NOUN_NONE)
        return NOCK_JET_DECLINED;
    *product = mug_noun(a);
    return NOCK_JET_DONE;
}

static const struct jets_arm order_arms[] = {
    { "one/two/mug", 2, jet_mug }, { "one/two/aor", 2, jet_aor }, { "one/two/dor", 2, jet_dor },
    { "one/two/gor", 2, jet_gor }, { "one/two/mor", 2, jet_mor },
};

const struct jets_family jets_family_order = { "order", order_arms, sizeof order_arms / sizeof order_arms[0] };
