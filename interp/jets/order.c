/* order.c -- jets for insecure hashing and noun ordering: Hoon's mug and
 * muk (2e) and aor, dor, gor, mor (2f).
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

/* (muk seed length key): MurmurHash3 of the key's bytes, zero-padded to
 * `length` bytes, with the seed's low 32 bits, as Vere's jet has it.  The
 * Hoon arm of %140 cuts the key into 32-bit words without the padding and
 * crashes (snag-fail) on any key whose length isn't a multiple of four
 * below `length`; Vere's jet, and so this one, give the hash.  A key longer
 * than `length` crashes in both (subtract-underflow): declined. */
static enum nock_jet_result jet_muk(struct jets_call *call, noun *product)
{
    noun seed, rest, length, key;
    uint64_t bytes;
    if (!jets_split(jets_sample(call), &seed, &rest) || !jets_split(rest, &length, &key) || !noun_is_atom(seed) ||
        !noun_is_atom(key) || !jets_atom_to_u64(length, &bytes) || bytes > UINT32_MAX ||
        noun_atom_byte_length(key) > bytes)
        return NOCK_JET_DECLINED;
    uint64_t single;
    size_t count;
    const uint64_t *seed_words = noun_atom_words(seed, &single, &count);
    uint32_t seed_bits = count ? (uint32_t)seed_words[0] : 0;
    /* the padded key, in a scratch atom's words (no malloc: see jet.h) */
    struct noun_atom *padded = jets_atom_zeroed(call->region, bytes / 8 + 1);
    noun_atom_to_bytes(key, (uint8_t *)padded->words, noun_atom_byte_length(key));
    uint32_t hash = mug_murmur3((const uint8_t *)padded->words, bytes, seed_bits);
    *product = hash;
    return NOCK_JET_DONE;
}

static const struct jets_arm order_arms[] = {
    { "one/two/muk", 2, jet_muk },
    { "one/two/mug", 2, jet_mug }, { "one/two/aor", 2, jet_aor }, { "one/two/dor", 2, jet_dor },
    { "one/two/gor", 2, jet_gor }, { "one/two/mor", 2, jet_mor },
};

const struct jets_family jets_family_order = { "order", order_arms, sizeof order_arms / sizeof order_arms[0] };
