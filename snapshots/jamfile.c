/* jamfile.c -- a jam snapshot file: the format, a durable write, a check.
 *
 * On disk (version 1).  All integers little-endian.
 *
 *   offset  size  field
 *        0     8  magic: the ASCII bytes "NOCKSNAP"
 *        8     4  format version: 1
 *       12     4  header length: 64
 *       16     8  event number: the kernel is the state after this event
 *       24     4  mug of the kernel (31 bits, as :mug prints it)
 *       28     4  reserved, 0
 *       32     8  payload length in bytes
 *       40     8  reserved, 0
 *       48    16  checksum: XXH3-128 (seed 0) of bytes 0..47 followed by
 *                 the payload, in xxHash's canonical form (big-endian,
 *                 high half first)
 *       64     -  payload: the bytes of a jam atom, least significant
 *                 first, no trailing zero byte (what jam_to_bytes gives)
 *
 * The file is exactly 64 + payload length bytes; anything else is torn or
 * padded and is refused.  What the payload's noun means is the caller's
 * business (snapshot.c: [kernel pending-spawns]).  The checksum covers the
 * header too, so a flipped event number or mug is caught like a flipped
 * payload byte; the version is checked before the checksum, so a file of
 * a later version is reported as that rather than as corrupt.
 *
 * Crash safety of a write.  The new file is written under a temporary name
 * (NAME.tmp), then:
 *
 *   1. fsync(file)       its bytes are on disk before any name points at it
 *   2. rename(NAME.tmp, NAME)   atomic: NAME is the old file or the new one
 *   3. fsync(directory)  the rename itself is on disk
 *
 * A crash before 2 leaves NAME as it was (and a NAME.tmp that no reader
 * looks at; the next write truncates it).  A crash between 2 and 3 leaves
 * either the old or the new NAME, each whole.  Only after 3 does the caller
 * count the new snapshot, so a snapshot it reports as saved survives a
 * power cut.  A failed write (disk full, read-only directory) removes the
 * temporary file and leaves NAME untouched: a failed save loses nothing.
 */
#include "snapshots/jamfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "interp/clock.h"
#include "interp/noun.h"

static const uint8_t jamfile_magic[8] = { 'N', 'O', 'C', 'K', 'S', 'N', 'A', 'P' };

#define CHECKSUM_OFFSET 48

static void put_u32(uint8_t *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}

static void put_u64(uint8_t *at, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}

static uint32_t get_u32(const uint8_t *at)
{
    uint32_t value = 0;
    for (int i = 3; i >= 0; i--)
        value = value << 8 | at[i];
    return value;
}

static uint64_t get_u64(const uint8_t *at)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = value << 8 | at[i];
    return value;
}

static XXH128_canonical_t checksum_of(const uint8_t *header, const uint8_t *payload, size_t payload_length)
{
    XXH128_canonical_t canonical;
    XXH3_state_t *state = XXH3_createState();
    XXH128_hash_t hash;
    if (state && XXH3_128bits_reset(state) == XXH_OK && XXH3_128bits_update(state, header, CHECKSUM_OFFSET) == XXH_OK &&
        XXH3_128bits_update(state, payload, payload_length) == XXH_OK) {
        hash = XXH3_128bits_digest(state);
    } else {
        /* Only allocation can fail; hashing the two parts apart then is
         * still a checksum, just a different one, so a file written this
         * way fails to check rather than passing wrongly. */
        hash.low64 = XXH3_64bits(header, CHECKSUM_OFFSET) ^ XXH3_64bits(payload, payload_length);
        hash.high64 = 0;
    }
    XXH3_freeState(state);
    XXH128_canonicalFromHash(&canonical, hash);
    return canonical;
}

void jamfile_encode_header(struct jamfile_header *header, const uint8_t *payload, size_t payload_length,
                           uint8_t bytes[JAMFILE_HEADER_BYTES])
{
    header->version = JAMFILE_VERSION;
    header->payload_length = payload_length;
    memset(bytes, 0, JAMFILE_HEADER_BYTES);
    memcpy(bytes, jamfile_magic, sizeof jamfile_magic);
    put_u32(bytes + 8, header->version);
    put_u32(bytes + 12, JAMFILE_HEADER_BYTES);
    put_u64(bytes + 16, header->event_number);
    put_u32(bytes + 24, header->mug);
    put_u64(bytes + 32, header->payload_length);
    XXH128_canonical_t checksum = checksum_of(bytes, payload, payload_length);
    memcpy(bytes + CHECKSUM_OFFSET, checksum.digest, sizeof checksum.digest);
}

/* The checks that need only the header and the file's length. */
static bool check_header(const uint8_t *bytes, size_t available, uint64_t file_bytes, struct jamfile_header *header,
                         char *why, size_t why_size)
{
    if (file_bytes == 0) {
        snprintf(why, why_size, "the file is empty");
        return false;
    }
    if (available < sizeof jamfile_magic || memcmp(bytes, jamfile_magic, sizeof jamfile_magic) != 0) {
        snprintf(why, why_size, "not a nocklab jam snapshot (it does not begin with NOCKSNAP)");
        return false;
    }
    if (file_bytes < JAMFILE_HEADER_BYTES || available < JAMFILE_HEADER_BYTES) {
        snprintf(why, why_size, "truncated: %llu bytes, shorter than the %d-byte header",
                 (unsigned long long)file_bytes, JAMFILE_HEADER_BYTES);
        return false;
    }
    header->version = get_u32(bytes + 8);
    header->event_number = get_u64(bytes + 16);
    header->mug = get_u32(bytes + 24);
    header->payload_length = get_u64(bytes + 32);
    if (header->version != JAMFILE_VERSION) {
        snprintf(why, why_size, "format version %u; this nocklab reads version %d", header->version, JAMFILE_VERSION);
        return false;
    }
    if (get_u32(bytes + 12) != JAMFILE_HEADER_BYTES) {
        snprintf(why, why_size, "corrupt header: header length %u, not %d", get_u32(bytes + 12), JAMFILE_HEADER_BYTES);
        return false;
    }
    uint64_t expected = JAMFILE_HEADER_BYTES + header->payload_length;
    if (header->payload_length > UINT64_MAX - JAMFILE_HEADER_BYTES || file_bytes < expected) {
        snprintf(why, why_size, "truncated: the header promises %llu bytes of payload, the file holds %llu",
                 (unsigned long long)header->payload_length, (unsigned long long)(file_bytes - JAMFILE_HEADER_BYTES));
        return false;
    }
    if (file_bytes > expected) {
        snprintf(why, why_size, "%llu bytes past the end of the payload the header describes",
                 (unsigned long long)(file_bytes - expected));
        return false;
    }
    return true;
}

bool jamfile_check(const uint8_t *bytes, size_t length, struct jamfile_header *header, const uint8_t **payload,
                   char *why, size_t why_size)
{
    if (!check_header(bytes, length, length, header, why, why_size))
        return false;
    XXH128_canonical_t computed = checksum_of(bytes, bytes + JAMFILE_HEADER_BYTES, header->payload_length);
    if (memcmp(computed.digest, bytes + CHECKSUM_OFFSET, sizeof computed.digest) != 0) {
        snprintf(why, why_size, "corrupt: the checksum does not match its contents");
        return false;
    }
    if (header->payload_length == 0 || bytes[length - 1] == 0) {
        snprintf(why, why_size, "corrupt: the payload is not a jam (%s)",
                 header->payload_length == 0 ? "it is empty" : "it ends in a zero byte");
        return false;
    }
    *payload = bytes + JAMFILE_HEADER_BYTES;
    return true;
}

bool jamfile_peek(const char *path, struct jamfile_header *header, uint64_t *file_bytes, char *why, size_t why_size)
{
    *file_bytes = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "%s", errno == ENOENT ? "not there" : strerror(errno));
        return false;
    }
    struct stat status;
    uint8_t bytes[JAMFILE_HEADER_BYTES];
    ssize_t got = -1;
    if (fstat(fd, &status) == 0) {
        *file_bytes = (uint64_t)status.st_size;
        got = pread(fd, bytes, sizeof bytes, 0);
    }
    int saved = errno;
    close(fd);
    if (got < 0) {
        snprintf(why, why_size, "cannot read it: %s", strerror(saved));
        return false;
    }
    return check_header(bytes, (size_t)got, *file_bytes, header, why, why_size);
}

bool jamfile_read(const char *path, uint8_t **bytes, size_t *length, char *why, size_t why_size)
{
    *bytes = NULL;
    *length = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "%s", errno == ENOENT ? "not there" : strerror(errno));
        return false;
    }
    struct stat status;
    if (fstat(fd, &status) != 0) {
        snprintf(why, why_size, "cannot read it: %s", strerror(errno));
        close(fd);
        return false;
    }
    size_t size = (size_t)status.st_size;
    uint8_t *buffer = malloc(size ? size : 1);
    if (!buffer) {
        snprintf(why, why_size, "out of memory reading %zu bytes", size);
        close(fd);
        return false;
    }
    noun_advise_huge_pages(buffer, size); /* a big snapshot: see noun.h */
    size_t done = 0;
    while (done < size) {
        ssize_t got = pread(fd, buffer + done, size - done, (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            snprintf(why, why_size, "cannot read it: %s", got < 0 ? strerror(errno) : "it shrank while being read");
            free(buffer);
            close(fd);
            return false;
        }
        done += (size_t)got;
    }
    close(fd);
    *bytes = buffer;
    *length = size;
    return true;
}

static bool write_all(int fd, const uint8_t *bytes, size_t length)
{
    while (length > 0) {
        ssize_t wrote = write(fd, bytes, length);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0) {
            if (wrote == 0)
                errno = ENOSPC;
            return false;
        }
        bytes += wrote;
        length -= (size_t)wrote;
    }
    return true;
}

static bool fsync_directory(const char *directory)
{
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return ok;
}

bool jamfile_write(const char *directory, const char *name, struct jamfile_header *header, const uint8_t *payload,
                   size_t payload_length, struct jamfile_timing *timing, char *why, size_t why_size)
{
    memset(timing, 0, sizeof *timing);
    uint8_t bytes[JAMFILE_HEADER_BYTES];
    jamfile_encode_header(header, payload, payload_length, bytes);

    char final_path[4096], temporary_path[4096];
    if (snprintf(final_path, sizeof final_path, "%s/%s", directory, name) >= (int)sizeof final_path ||
        snprintf(temporary_path, sizeof temporary_path, "%s/%s.tmp", directory, name) >= (int)sizeof temporary_path) {
        snprintf(why, why_size, "the path %s/%s is too long", directory, name);
        return false;
    }
    uint64_t started = clock_wall_nanoseconds();
    int fd = open(temporary_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(why, why_size, "cannot create %s: %s (the previous %s is untouched)", temporary_path, strerror(errno),
                 name);
        return false;
    }
    const char *failed_at = NULL;
    if (!write_all(fd, bytes, sizeof bytes) || !write_all(fd, payload, payload_length))
        failed_at = "write";
    uint64_t written = clock_wall_nanoseconds();
    if (!failed_at && fsync(fd) != 0)
        failed_at = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !failed_at) {
        failed_at = "close";
        saved = errno;
    }
    if (!failed_at && rename(temporary_path, final_path) != 0) {
        failed_at = "rename";
        saved = errno;
    }
    if (failed_at) {
        unlink(temporary_path);
        snprintf(why, why_size, "cannot %s %s: %s (the previous %s is untouched)", failed_at,
                 strcmp(failed_at, "rename") == 0 ? final_path : temporary_path, strerror(saved), name);
        return false;
    }
    if (!fsync_directory(directory)) {
        snprintf(why, why_size, "cannot fsync the directory %s: %s (%s may not survive a power cut)", directory,
                 strerror(errno), name);
        return false;
    }
    uint64_t finished = clock_wall_nanoseconds();
    timing->write_ns = written - started;
    timing->fsync_ns = finished - written;
    return true;
}
