/* atom.c -- atom arithmetic and bit slicing for jets.
 *
 * Direct atoms (below 2^63) take fast paths in plain 64- and 128-bit
 * arithmetic; anything bigger is done on word arrays with GMP's mpn
 * functions, whose limbs are 64-bit words like ours.  Results are allocated
 * in the region before any GMP call writes them, so an out-of-memory exit
 * never strands memory.
 */
#include "interp/jets/atom.h"

#include <gmp.h>
#include <string.h>

_Static_assert(sizeof(mp_limb_t) == sizeof(uint64_t), "GMP limbs must be 64-bit words");

struct noun_atom *jets_atom_zeroed(struct noun_region *region, uint64_t words)
{
    struct noun_atom *atom = noun_atom_alloc(region, words);
    memset(atom->words, 0, atom->length * sizeof(uint64_t));
    return atom;
}

noun jets_atom_from_u64(struct noun_region *region, uint64_t value)
{
    if (value <= NOUN_DIRECT_MAX)
        return value;
    return noun_atom_from_words(region, &value, 1);
}

int jets_atom_compare(noun a, noun b)
{
    if (noun_is_direct(a) && noun_is_direct(b))
        return a < b ? -1 : a > b;
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    if (an != bn)
        return an < bn ? -1 : 1;
    for (size_t i = an; i-- > 0;)
        if (aw[i] != bw[i])
            return aw[i] < bw[i] ? -1 : 1;
    return 0;
}

/* Swap two operands' words so the first is the longer, as mpn_add and
 * mpn_mul require. */
static void longer_first(const uint64_t **aw, size_t *an, const uint64_t **bw, size_t *bn)
{
    if (*an >= *bn)
        return;
    const uint64_t *words = *aw;
    *aw = *bw;
    *bw = words;
    size_t count = *an;
    *an = *bn;
    *bn = count;
}

noun jets_atom_add(struct noun_region *region, noun a, noun b)
{
    if (noun_is_direct(a) && noun_is_direct(b))
        return jets_atom_from_u64(region, a + b); /* both below 2^63: no wrap */
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    longer_first(&aw, &an, &bw, &bn);
    if (bn == 0)
        return a == 0 ? b : a;
    struct noun_atom *sum = noun_atom_alloc(region, an + 1);
    sum->words[an] = mpn_add((mp_limb_t *)sum->words, (const mp_limb_t *)aw, (mp_size_t)an,
                             (const mp_limb_t *)bw, (mp_size_t)bn);
    return noun_atom_normalize(sum);
}

noun jets_atom_subtract(struct noun_region *region, noun a, noun b)
{
    if (noun_is_direct(a) && noun_is_direct(b))
        return a - b;
    if (b == 0)
        return a;
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    struct noun_atom *difference = noun_atom_alloc(region, an);
    mpn_sub((mp_limb_t *)difference->words, (const mp_limb_t *)aw, (mp_size_t)an, (const mp_limb_t *)bw,
            (mp_size_t)bn);
    return noun_atom_normalize(difference);
}

noun jets_atom_multiply(struct noun_region *region, noun a, noun b)
{
    if (a == 0 || b == 0)
        return 0;
    if (noun_is_direct(a) && noun_is_direct(b)) {
        unsigned __int128 product = (unsigned __int128)a * b;
        uint64_t words[2] = { (uint64_t)product, (uint64_t)(product >> 64) };
        return noun_atom_from_words(region, words, 2);
    }
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    longer_first(&aw, &an, &bw, &bn);
    struct noun_atom *product = noun_atom_alloc(region, an + bn);
    mpn_mul((mp_limb_t *)product->words, (const mp_limb_t *)aw, (mp_size_t)an, (const mp_limb_t *)bw,
            (mp_size_t)bn);
    return noun_atom_normalize(product);
}

void jets_atom_divide(struct noun_region *region, noun a, noun b, noun *quotient, noun *remainder)
{
    if (noun_is_direct(a) && noun_is_direct(b)) {
        if (quotient)
            *quotient = a / b;
        if (remainder)
            *remainder = a % b;
        return;
    }
    if (jets_atom_compare(a, b) < 0) {
        if (quotient)
            *quotient = 0;
        if (remainder)
            *remainder = a;
        return;
    }
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    struct noun_atom *q = noun_atom_alloc(region, an - bn + 1);
    struct noun_atom *r = noun_atom_alloc(region, bn);
    mpn_tdiv_qr((mp_limb_t *)q->words, (mp_limb_t *)r->words, 0, (const mp_limb_t *)aw, (mp_size_t)an,
                (const mp_limb_t *)bw, (mp_size_t)bn);
    if (quotient)
        *quotient = noun_atom_normalize(q);
    if (remainder)
        *remainder = noun_atom_normalize(r);
}

/* ---- bits ----------------------------------------------------------------- */

/* Up to 64 bits of src starting at bit `at`; bits past the end read 0. */
static inline uint64_t read_bits(const uint64_t *src, size_t count, uint64_t at, unsigned length)
{
    uint64_t index = at / 64;
    unsigned shift = (unsigned)(at % 64);
    if (index >= count)
        return 0;
    uint64_t value = src[index] >> shift;
    if (shift && index + 1 < count)
        value |= src[index + 1] << (64 - shift);
    if (length < 64)
        value &= (UINT64_C(1) << length) - 1;
    return value;
}

void jets_bits_copy(uint64_t *dst, uint64_t to, const uint64_t *src, size_t src_count, uint64_t from,
                    uint64_t count)
{
    uint64_t src_bits = (uint64_t)src_count * 64;
    if (from >= src_bits)
        return;
    if (count > src_bits - from)
        count = src_bits - from;
    unsigned to_shift = (unsigned)(to % 64);
    if (to_shift == 0 && from % 64 == 0) {
        /* aligned: whole words, then a tail */
        uint64_t whole = count / 64;
        memcpy(dst + to / 64, src + from / 64, whole * sizeof(uint64_t));
        unsigned rest = (unsigned)(count % 64);
        if (rest)
            dst[to / 64 + whole] |= src[from / 64 + whole] & ((UINT64_C(1) << rest) - 1);
        return;
    }
    while (count > 0) {
        unsigned length = count < 64 ? (unsigned)count : 64;
        uint64_t value = read_bits(src, src_count, from, length);
        uint64_t index = to / 64;
        unsigned shift = (unsigned)(to % 64);
        dst[index] |= value << shift;
        if (shift && shift + length > 64)
            dst[index + 1] |= value >> (64 - shift);
        from += length;
        to += length;
        count -= length;
    }
}

noun jets_atom_slice(struct noun_region *region, noun a, uint64_t from, uint64_t count)
{
    if (count == 0)
        return 0;
    if (noun_is_direct(a)) {
        if (from >= 64)
            return 0;
        uint64_t value = a >> from;
        if (count < 64)
            value &= (UINT64_C(1) << count) - 1;
        return value;
    }
    uint64_t bits = noun_atom_bit_length(a);
    if (from >= bits)
        return 0;
    if (count > bits - from)
        count = bits - from;
    if (from == 0 && count == bits)
        return a;
    const struct noun_atom *x = noun_to_atom(a);
    struct noun_atom *slice = jets_atom_zeroed(region, (count + 63) / 64);
    jets_bits_copy(slice->words, 0, x->words, x->length, from, count);
    return noun_atom_normalize(slice);
}

noun jets_atom_shift_left(struct noun_region *region, noun a, uint64_t bits)
{
    if (a == 0 || bits == 0)
        return a;
    uint64_t length = noun_atom_bit_length(a);
    if (noun_is_direct(a) && length + bits <= 63)
        return a << bits;
    uint64_t single;
    size_t count;
    const uint64_t *words = noun_atom_words(a, &single, &count);
    struct noun_atom *shifted = jets_atom_zeroed(region, (length + bits + 63) / 64);
    jets_bits_copy(shifted->words, bits, words, count, 0, length);
    return noun_atom_normalize(shifted);
}

noun jets_atom_or_shifted(struct noun_region *region, noun a, noun b, uint64_t bits)
{
    if (b == 0)
        return a;
    uint64_t a_length = noun_atom_bit_length(a), b_length = noun_atom_bit_length(b);
    uint64_t length = b_length + bits > a_length ? b_length + bits : a_length;
    if (length <= 63)
        return a | (b << bits);
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    struct noun_atom *result = jets_atom_zeroed(region, (length + 63) / 64);
    jets_bits_copy(result->words, 0, aw, an, 0, a_length);
    jets_bits_copy(result->words, bits, bw, bn, 0, b_length);
    return noun_atom_normalize(result);
}

noun jets_atom_bitwise(struct noun_region *region, noun a, noun b, enum jets_bitwise operation)
{
    if (noun_is_direct(a) && noun_is_direct(b)) {
        switch (operation) {
        case JETS_OR: return a | b;
        case JETS_AND: return a & b;
        case JETS_XOR: return a ^ b;
        }
    }
    uint64_t a_single, b_single;
    size_t an, bn;
    const uint64_t *aw = noun_atom_words(a, &a_single, &an);
    const uint64_t *bw = noun_atom_words(b, &b_single, &bn);
    size_t longest = an > bn ? an : bn;
    size_t shortest = an < bn ? an : bn;
    size_t length = operation == JETS_AND ? shortest : longest;
    if (length == 0)
        return 0;
    struct noun_atom *result = noun_atom_alloc(region, length);
    for (size_t i = 0; i < length; i++) {
        uint64_t p = i < an ? aw[i] : 0, q = i < bn ? bw[i] : 0;
        result->words[i] = operation == JETS_OR ? (p | q) : operation == JETS_AND ? (p & q) : (p ^ q);
    }
    return noun_atom_normalize(result);
}
