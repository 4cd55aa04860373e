/* jamfile.h -- one jam snapshot file: its format, writing it durably, and
 * checking one read back.
 *
 * A jam snapshot file is a 64-byte header and a payload (the bytes of a jam
 * atom); jamfile.c has the format byte by byte.  This module knows nothing
 * of which of a store's two files is newer: snapshots/snapshot.c decides
 * that.  It is its own module so tests and the fuzzer can check bytes
 * without a store.
 *
 * Nothing here prints or exits; failures come back as one line in `why`.
 */
#ifndef NOCKLAB_JAMFILE_H
#define NOCKLAB_JAMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JAMFILE_VERSION 1
#define JAMFILE_HEADER_BYTES 64

/* What a header says.  `payload_length` bytes of payload follow it. */
struct jamfile_header {
    uint32_t version;
    uint64_t event_number;
    uint32_t mug;              /* mug of the kernel saved */
    uint64_t payload_length;
};

/* How long each phase of a write took, in nanoseconds. */
struct jamfile_timing {
    uint64_t write_ns;         /* writing header and payload */
    uint64_t fsync_ns;         /* fsync of the file, then of the directory */
};

/* The header bytes for `payload`, checksum included (fills
 * header->version and payload_length; the caller sets event_number and
 * mug). */
void jamfile_encode_header(struct jamfile_header *header, const uint8_t *payload, size_t payload_length,
                           uint8_t bytes[JAMFILE_HEADER_BYTES]);

/* Check the whole contents of a file: magic, version, length and checksum.
 * On success fills *header and points *payload into `bytes`. */
bool jamfile_check(const uint8_t *bytes, size_t length, struct jamfile_header *header, const uint8_t **payload,
                   char *why, size_t why_size);

/* Read just the header of `path` and check what can be checked without the
 * payload (magic, version, the file's length against the header's); used to
 * guess which file is newer without reading either whole. */
bool jamfile_peek(const char *path, struct jamfile_header *header, uint64_t *file_bytes, char *why,
                  size_t why_size);

/* Read all of `path` into malloc'd memory (the caller frees *bytes). */
bool jamfile_read(const char *path, uint8_t **bytes, size_t *length, char *why, size_t why_size);

/* Write a snapshot file named `name` in `directory` so that it is either
 * wholly there and durable when this returns true, or not there at all
 * (the file of that name it replaces, if any, stays as it was).  Fills
 * header->version and payload_length. */
bool jamfile_write(const char *directory, const char *name, struct jamfile_header *header, const uint8_t *payload,
                   size_t payload_length, struct jamfile_timing *timing, char *why, size_t why_size);

#endif
