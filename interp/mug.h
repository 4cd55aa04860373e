/* mug.h -- the mug: Vere's 31-bit structural hash of a noun, bit for bit.
 *
 * The mug of an atom is MurmurHash3 (x86, 32-bit) of its little-endian
 * bytes (exactly as many as the atom has, none for 0) with seed 0xcafebabe,
 * folded to 31 bits by xoring the top bit into the rest; a fold that gives 0
 * is retried with the next seed, up to eight seeds, after which the mug is
 * 0x7fff.  The mug of a cell hashes the head's mug (4 bytes, little-endian)
 * followed by the tail's mug (only as many bytes as it has) with seed
 * 0xdeadbeef, the same fold and retry, and 0xfffe if all eight fail.  A mug
 * is never 0, which is why 0 in a cached slot means "not yet computed".
 */
#ifndef NOCKLAB_MUG_H
#define NOCKLAB_MUG_H

#include <stddef.h>
#include <stdint.h>

#include "interp/noun.h"

/* The mug of any noun.  Cells and indirect atoms remember their mug (a
 * relaxed atomic store of the same value, so threads may race on it).  Never
 * recurses on the C stack; needs no memory to succeed (if its explicit stack
 * can't grow it falls back to a slower stackless walk). */
uint32_t mug_noun(noun n);

/* The mug of the atom whose little-endian bytes these are.  Trailing zero
 * bytes are not part of an atom, so they are ignored. */
uint32_t mug_bytes(const uint8_t *bytes, size_t length);

/* The mug of a cell whose head and tail have these mugs. */
uint32_t mug_both(uint32_t head_mug, uint32_t tail_mug);

/* Plain MurmurHash3 (x86, 32-bit) of `length` bytes, as Hoon's +muk and
 * Vere's jet of it compute it: no fold, no retry. */
uint32_t mug_murmur3(const uint8_t *bytes, size_t length, uint32_t seed);

#endif
