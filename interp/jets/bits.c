/* bits.c -- jets for bit arithmetic and bit logic: Hoon's sections 2c (bex,
 * can, cat, cut, end, lsh, met, rap, rep, rip, rsh, xeb) and 2d (con, dis,
 * mix).
 *
 * A bloq b is a block of 2^b bits; a bite is a bloq or [bloq step], step
 * blocks (one when only a bloq is given).  Sizes are computed in bits as
 * 64-bit numbers; a size that overflows is "more bits than any atom has",
 * which decides end, rsh and met outright.  A result that would need more
 * than JETS_BITS_MAX bits is declined: the Nock can't build it either, and
 * will run out of memory or be interrupted.
 */
#include "interp/jets/jet.h"

#include <string.h>

#include "interp/jets/atom.h"

/* Bigger results are declined rather than allocated (2^36 bits = 8 GiB). */
#define JETS_BITS_MAX (UINT64_C(1) << 36)
/* "More bits than any atom could have." */
#define BITS_HUGE UINT64_MAX

/* The block size of a bloq in bits, BITS_HUGE when it is 2^64 or more. */
static uint64_t bloq_bits(noun bloq)
{
    if (!noun_is_direct(bloq) || bloq >= 64)
        return BITS_HUGE;
    return UINT64_C(1) << bloq;
}

/* step blocks of a bloq, in bits, saturating at BITS_HUGE. */
static uint64_t blocks_bits(noun bloq, noun step)
{
    uint64_t step_value;
    if (step == 0)
        return 0;
    uint64_t block = bloq_bits(bloq);
    if (block == BITS_HUGE || !jets_atom_to_u64(step, &step_value))
        return BITS_HUGE;
    if (step_value > (BITS_HUGE - 1) / block)
        return BITS_HUGE;
    return step_value * block;
}

/* A bite: an atom bloq (one block) or [bloq step]; false if malformed. */
static bool bite_bits(noun bite, noun *bloq, uint64_t *bits)
{
    noun step = 1;
    if (noun_is_cell(bite)) {
        *bloq = noun_head(bite);
        step = noun_tail(bite);
        if (!noun_is_atom(*bloq) || !noun_is_atom(step))
            return false;
    } else {
        *bloq = bite;
    }
    *bits = blocks_bits(*bloq, step);
    return true;
}

/* (met a b): blocks of 2^a bits needed to hold b. */
static uint64_t met_blocks(noun bloq, noun b)
{
    uint64_t length = noun_atom_bit_length(b);
    uint64_t block = bloq_bits(bloq);
    if (length == 0)
        return 0;
    if (block == BITS_HUGE)
        return 1;
    return (length + block - 1) >> bloq;
}

static enum nock_jet_result jet_met(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_atom_from_u64(call->region, met_blocks(a, b));
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_bex(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_direct(a) || a >= JETS_BITS_MAX)
        return NOCK_JET_DECLINED;
    *product = jets_atom_shift_left(call->region, 1, a);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_end(struct jets_call *call, noun *product)
{
    noun bite, b, bloq;
    uint64_t bits;
    if (!jets_split(jets_sample(call), &bite, &b) || !noun_is_atom(b) || !bite_bits(bite, &bloq, &bits))
        return NOCK_JET_DECLINED;
    *product = bits == BITS_HUGE ? b : jets_atom_slice(call->region, b, 0, bits);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_rsh(struct jets_call *call, noun *product)
{
    noun bite, b, bloq;
    uint64_t bits;
    if (!jets_split(jets_sample(call), &bite, &b) || !noun_is_atom(b) || !bite_bits(bite, &bloq, &bits))
        return NOCK_JET_DECLINED;
    *product = bits == BITS_HUGE ? 0 : jets_atom_slice(call->region, b, bits, BITS_HUGE);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_lsh(struct jets_call *call, noun *product)
{
    noun bite, b, bloq;
    uint64_t bits;
    if (!jets_split(jets_sample(call), &bite, &b) || !noun_is_atom(b) || !bite_bits(bite, &bloq, &bits))
        return NOCK_JET_DECLINED;
    if (b == 0 || bits == 0) {
        *product = b;
        return NOCK_JET_DONE;
    }
    if (bits >= JETS_BITS_MAX || noun_atom_bit_length(b) + bits >= JETS_BITS_MAX)
        return NOCK_JET_DECLINED;
    *product = jets_atom_shift_left(call->region, b, bits);
    return NOCK_JET_DONE;
}

/* (cut a [b c] d): c blocks of d from block b. */
static enum nock_jet_result jet_cut(struct jets_call *call, noun *product)
{
    noun a, range, d, b, c;
    noun rest;
    if (!jets_split(jets_sample(call), &a, &rest) || !jets_split(rest, &range, &d) ||
        !jets_split(range, &b, &c) || !noun_is_atom(a) || !noun_is_atom(b) || !noun_is_atom(c) ||
        !noun_is_atom(d))
        return NOCK_JET_DECLINED;
    uint64_t from = blocks_bits(a, b), count = blocks_bits(a, c);
    if (from == BITS_HUGE || count == 0) {
        *product = 0;
        return NOCK_JET_DONE;
    }
    *product = jets_atom_slice(call->region, d, from, count);
    return NOCK_JET_DONE;
}

/* (cat a b c): c above b, b taking whole blocks. */
static enum nock_jet_result jet_cat(struct jets_call *call, noun *product)
{
    noun a, b, c;
    if (!jets_three_atoms(jets_sample(call), &a, &b, &c))
        return NOCK_JET_DECLINED;
    uint64_t shift = blocks_bits(a, met_blocks(a, b));
    if (c == 0) {
        *product = b;
        return NOCK_JET_DONE;
    }
    if (shift >= JETS_BITS_MAX || shift + noun_atom_bit_length(c) >= JETS_BITS_MAX)
        return NOCK_JET_DECLINED;
    *product = jets_atom_or_shifted(call->region, b, c, shift);
    return NOCK_JET_DONE;
}

/* A list walk shared by can, rep and rap: each element gives a piece (some
 * bits of an atom) and how far the next piece starts above this one.  The
 * first pass sizes the result (and checks the list); the second copies. */
enum assembly { ASSEMBLE_CAN, ASSEMBLE_REP, ASSEMBLE_RAP };

/* For element `item`: the atom whose low `*piece_bits` bits are the piece,
 * and `*advance` bits to the next.  False if the element is malformed. */
static bool assembly_piece(enum assembly kind, noun bloq, uint64_t step_bits, noun item, noun *atom,
                           uint64_t *piece_bits, uint64_t *advance)
{
    switch (kind) {
    case ASSEMBLE_CAN: {
        noun step;
        if (!jets_split(item, &step, atom) || !noun_is_atom(step) || !noun_is_atom(*atom))
            return false;
        *advance = blocks_bits(bloq, step);
        break;
    }
    case ASSEMBLE_REP:
        if (!noun_is_atom(item))
            return false;
        *atom = item;
        *advance = step_bits;
        break;
    case ASSEMBLE_RAP:
        if (!noun_is_atom(item))
            return false;
        *atom = item;
        *advance = blocks_bits(bloq, met_blocks(bloq, item));
        break;
    }
    uint64_t length = noun_atom_bit_length(*atom);
    *piece_bits = length < *advance ? length : *advance;
    return true;
}

static enum nock_jet_result assemble(struct jets_call *call, noun *product, enum assembly kind, noun bloq,
                                     uint64_t step_bits, noun list)
{
    uint64_t offset = 0, end = 0;
    noun rest, item, atom;
    for (rest = list; noun_is_cell(rest); rest = noun_tail(rest)) {
        uint64_t piece_bits, advance;
        item = noun_head(rest);
        if (!assembly_piece(kind, bloq, step_bits, item, &atom, &piece_bits, &advance))
            return NOCK_JET_DECLINED;
        if (piece_bits && offset + piece_bits > end)
            end = offset + piece_bits;
        if (end >= JETS_BITS_MAX)
            return NOCK_JET_DECLINED;
        /* past the limit only pieces of nothing could follow; let the Nock
         * decide what it makes of that */
        if (advance >= JETS_BITS_MAX || offset + advance >= JETS_BITS_MAX) {
            offset = JETS_BITS_MAX;
            continue;
        }
        offset += advance;
    }
    if (rest != 0)
        return NOCK_JET_DECLINED;
    if (end == 0) {
        *product = 0;
        return NOCK_JET_DONE;
    }
    struct noun_atom *result = jets_atom_zeroed(call->region, (end + 63) / 64);
    offset = 0;
    for (rest = list; noun_is_cell(rest); rest = noun_tail(rest)) {
        uint64_t piece_bits, advance;
        assembly_piece(kind, bloq, step_bits, noun_head(rest), &atom, &piece_bits, &advance);
        if (piece_bits) {
            uint64_t single;
            size_t count;
            const uint64_t *words = noun_atom_words(atom, &single, &count);
            jets_bits_copy(result->words, offset, words, count, 0, piece_bits);
        }
        if (advance >= end - offset)
            break; /* everything after this starts past the last bit */
        offset += advance;
    }
    *product = noun_atom_normalize(result);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_can(struct jets_call *call, noun *product)
{
    noun a, list;
    if (!jets_split(jets_sample(call), &a, &list) || !noun_is_atom(a))
        return NOCK_JET_DECLINED;
    return assemble(call, product, ASSEMBLE_CAN, a, 0, list);
}

static enum nock_jet_result jet_rep(struct jets_call *call, noun *product)
{
    noun bite, list, bloq;
    uint64_t bits;
    if (!jets_split(jets_sample(call), &bite, &list) || !bite_bits(bite, &bloq, &bits))
        return NOCK_JET_DECLINED;
    return assemble(call, product, ASSEMBLE_REP, bloq, bits, list);
}

static enum nock_jet_result jet_rap(struct jets_call *call, noun *product)
{
    noun a, list;
    if (!jets_split(jets_sample(call), &a, &list) || !noun_is_atom(a))
        return NOCK_JET_DECLINED;
    return assemble(call, product, ASSEMBLE_RAP, a, 0, list);
}

/* (rip a b): b cut into pieces of one bite each, least significant first. */
static enum nock_jet_result jet_rip(struct jets_call *call, noun *product)
{
    noun bite, b, bloq;
    uint64_t bits;
    if (!jets_split(jets_sample(call), &bite, &b) || !noun_is_atom(b) || !bite_bits(bite, &bloq, &bits))
        return NOCK_JET_DECLINED;
    if (b == 0) {
        *product = 0;
        return NOCK_JET_DONE;
    }
    if (bits == 0)
        return NOCK_JET_DECLINED; /* the Nock loops forever: so be it */
    uint64_t length = noun_atom_bit_length(b);
    if (bits >= length) {
        *product = noun_cell_new(call->region, b, 0);
        return NOCK_JET_DONE;
    }
    uint64_t pieces = (length + bits - 1) / bits;
    noun list = 0;
    for (uint64_t i = pieces; i-- > 0;)
        list = noun_cell_new(call->region, jets_atom_slice(call->region, b, i * bits, bits), list);
    *product = list;
    return NOCK_JET_DONE;
}

static enum nock_jet_result bitwise(struct jets_call *call, noun *product, enum jets_bitwise operation)
{
    noun a, b;
    if (!jets_two_atoms(jets_sample(call), &a, &b))
        return NOCK_JET_DECLINED;
    *product = jets_atom_bitwise(call->region, a, b, operation);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_con(struct jets_call *call, noun *product)
{
    return bitwise(call, product, JETS_OR);
}

static enum nock_jet_result jet_dis(struct jets_call *call, noun *product)
{
    return bitwise(call, product, JETS_AND);
}

static enum nock_jet_result jet_mix(struct jets_call *call, noun *product)
{
    return bitwise(call, product, JETS_XOR);
}

static enum nock_jet_result jet_xeb(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_atom(a))
        return NOCK_JET_DECLINED;
    *product = noun_atom_bit_length(a);
    return NOCK_JET_DONE;
}

static const struct jets_arm bits_arms[] = {
    { "one/two/bex", 2, jet_bex }, { "one/two/can", 2, jet_can }, { "one/two/cat", 2, jet_cat },
    { "one/two/cut", 2, jet_cut }, { "one/two/end", 2, jet_end }, { "one/two/lsh", 2, jet_lsh },
    { "one/two/met", 2, jet_met }, { "one/two/rap", 2, jet_rap }, { "one/two/rep", 2, jet_rep },
    { "one/two/rip", 2, jet_rip }, { "one/two/rsh", 2, jet_rsh }, { "one/two/xeb", 2, jet_xeb },
    { "one/two/con", 2, jet_con }, { "one/two/dis", 2, jet_dis }, { "one/two/mix", 2, jet_mix },
};

const struct jets_family jets_family_bits = { "bits", bits_arms, sizeof bits_arms / sizeof bits_arms[0] };
