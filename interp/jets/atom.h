/* atom.h -- atom arithmetic and bit slicing for jets.
 *
 * Every function takes atoms (direct or indirect) and builds its result in
 * the region given, canonical (no leading zero words, small values direct).
 * Big operands go through GMP's mpn layer on the atoms' own words, so
 * nothing here keeps malloc'd memory across a region allocation (a jet may
 * leave through the region's out-of-memory exit at any allocation).
 */
#ifndef NOCKLAB_JETS_ATOM_H
#define NOCKLAB_JETS_ATOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/noun.h"

/* -1, 0 or 1 as a < b, a == b, a > b. */
int jets_atom_compare(noun a, noun b);

noun jets_atom_add(struct noun_region *region, noun a, noun b);
/* a - b; the caller makes sure a >= b. */
noun jets_atom_subtract(struct noun_region *region, noun a, noun b);
noun jets_atom_multiply(struct noun_region *region, noun a, noun b);
/* Quotient and remainder of a / b; b is not 0.  Either out may be NULL. */
void jets_atom_divide(struct noun_region *region, noun a, noun b, noun *quotient, noun *remainder);

/* `count` bits of `a` starting at bit `from` (rsh then end).  Bits past the
 * atom's end read as 0. */
noun jets_atom_slice(struct noun_region *region, noun a, uint64_t from, uint64_t count);
/* a << bits. */
noun jets_atom_shift_left(struct noun_region *region, noun a, uint64_t bits);
/* a | (b << bits): b placed above position `bits`, or-ed with a. */
noun jets_atom_or_shifted(struct noun_region *region, noun a, noun b, uint64_t bits);

enum jets_bitwise { JETS_OR, JETS_AND, JETS_XOR };
noun jets_atom_bitwise(struct noun_region *region, noun a, noun b, enum jets_bitwise operation);

/* A value as a direct atom when it fits, else a one-word indirect atom. */
noun jets_atom_from_u64(struct noun_region *region, uint64_t value);
/* The atom's value if it is below 2^64. */
static inline bool jets_atom_to_u64(noun atom, uint64_t *value)
{
    if (noun_is_direct(atom)) {
        *value = atom;
        return true;
    }
    const struct noun_atom *a = noun_to_atom(atom);
    if (a->length != 1)
        return false;
    *value = a->words[0];
    return true;
}

/* An atom of `words` zeroed words to fill in, for builders; finish it with
 * noun_atom_normalize. */
struct noun_atom *jets_atom_zeroed(struct noun_region *region, uint64_t words);

/* Or `count` bits of src (starting at bit `from`; bits past src_count words
 * read as 0) into dst starting at bit `to`.  dst must have room. */
void jets_bits_copy(uint64_t *dst, uint64_t to, const uint64_t *src, size_t src_count, uint64_t from,
                    uint64_t count);

#endif
