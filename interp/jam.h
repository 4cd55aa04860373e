/* jam.h -- jam and cue: Urbit's noun serialization, bit for bit as Vere.
 *
 * A jammed noun is an atom read as a little-endian bit stream.  Each noun is
 *
 *   0 mat(value)          an atom
 *   1 0 head tail         a cell (the two tag bits are written 1 then 0)
 *   1 1 mat(offset)       a backreference to the noun that began at `offset`
 *
 * where mat(0) is the single bit 1, and otherwise mat(a) is, for a of `n`
 * significant bits and n of `m`: m zero bits, a one bit, the low m-1 bits of
 * n, then the n bits of a.
 *
 * jam writes a backreference for a cell whenever an equal noun (structural
 * equality) was written before, and for an atom only when the earlier
 * offset has strictly fewer significant bits than the atom (Vere's rule), so
 * jam(cue(x)) == x for anything Vere jammed.
 *
 * cue reads the first noun of the stream and ignores any bits after it, as
 * Vere does.  Unlike Vere, which reads past the end of the atom as zeros, cue
 * rejects any noun whose encoding runs past the last input byte (no output
 * of jam ever needs those bits).  It also rejects: length prefixes longer
 * than 63 bits, lengths that claim more bits than remain, and
 * backreferences that don't point at the start of an earlier, complete noun.
 * Memory use is linear in the input and no length is trusted before it has
 * been checked against the bits remaining.
 */
#ifndef NOCKLAB_JAM_H
#define NOCKLAB_JAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/noun.h"

/* Why a cue failed: the bit offset where the bad encoding starts (or where
 * input ran out), and a one-line message naming what was wrong. */
struct jam_error {
    uint64_t bit_offset;
    char message[128];
};

/* jam `n` into malloc'd little-endian bytes of the jam atom, with no
 * trailing zero bytes (jam of 0 is the atom 2: one byte 0x02).  The caller
 * frees *bytes_out.  False only when memory runs out. */
bool jam_to_bytes(noun n, uint8_t **bytes_out, size_t *length_out);

/* jam `n` into an atom allocated in `region`.  NOUN_NONE if malloc fails for
 * the working memory. */
noun jam_to_atom(struct noun_region *region, noun n);

/* cue the jam atom whose little-endian bytes these are, building the noun in
 * `region`.  On bad input: false, *error filled, *out untouched. */
bool jam_cue_bytes(struct noun_region *region, const uint8_t *bytes, size_t length, noun *out,
                   struct jam_error *error);

/* The direct atom at `axis` of the noun jammed in these bytes, read
 * without building the noun (for a look at one part, as the STM backend
 * reads an event's key before it runs): false when that part is a cell or
 * an indirect atom, the axis goes through an atom, or the input ends.  It
 * reads only the bits on the way there, so it does not check the input as
 * cue does: for bytes cue rejects, it may give false or any atom. */
bool jam_peek_direct_atom(const uint8_t *bytes, size_t length, uint64_t axis, noun *out);

/* cue a jam atom. */
bool jam_cue_atom(struct noun_region *region, noun atom, noun *out, struct jam_error *error);

#endif
