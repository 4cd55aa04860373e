/* fuzz_snapshot.c -- libFuzzer target for the jam-snapshot loader: the
 * file check of snapshots/jamfile.h, then what snapshots/snapshot.c does
 * with a payload that passes (cue it, take [kernel pending] apart, copy
 * the kernel to home and mug it).
 *
 * The first input byte picks how the rest is read:
 *
 *   even  a whole snapshot file.  The check fails with a message, or
 *         passes and its header and payload must describe the input.
 *   odd   a payload, given a valid header (event number and mug taken
 *         from the next 12 bytes) so that the check passes and the
 *         payload path is reached whatever the bytes are.
 *
 * Whatever passes must cue or fail with a message; a cued noun's jam,
 * sealed again, must check and cue back to an equal noun.  Anything else
 * aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/noun.h"
#include "snapshots/jamfile.h"

#define REGION_BYTES ((size_t)256 << 20)
#define HOME_BYTES ((size_t)1 << 30)

static struct noun_region *region;
static struct noun_home *home;

static void fuzz_check(bool condition, const char *what)
{
    if (condition)
        return;
    fprintf(stderr, "fuzz_snapshot: %s\n", what);
    abort();
}

/* A file for `payload`: the header bytes then the payload (malloc'd). */
static uint8_t *seal(const uint8_t *payload, size_t length, uint64_t event_number, uint32_t mug, size_t *file_length)
{
    struct jamfile_header header = { .event_number = event_number, .mug = mug };
    uint8_t *file = malloc(JAMFILE_HEADER_BYTES + length + 1);
    fuzz_check(file != NULL, "out of memory");
    jamfile_encode_header(&header, payload, length, file);
    memcpy(file + JAMFILE_HEADER_BYTES, payload, length);
    *file_length = JAMFILE_HEADER_BYTES + length;
    return file;
}

static void load_payload(const struct jamfile_header *header, const uint8_t *payload)
{
    noun cued = NOUN_NONE;
    struct jam_error error;
    if (!jam_cue_bytes(region, payload, header->payload_length, &cued, &error)) {
        fuzz_check(error.message[0] != '\0', "a cue failed without a message");
        fuzz_check(cued == NOUN_NONE, "a failed cue wrote its output");
        return;
    }
    if (noun_is_cell(cued)) {
        noun kernel = noun_home_copy_out(home, region, noun_head(cued));
        fuzz_check(kernel != NOUN_NONE, "home is full");
        fuzz_check(mug_noun(kernel) == mug_noun(noun_head(cued)), "the copy in home has another mug");
    }
    /* jam what was cued, seal it, and it must come back whole */
    uint8_t *jammed;
    size_t jammed_length, file_length;
    fuzz_check(jam_to_bytes(cued, &jammed, &jammed_length), "jam failed");
    uint8_t *file = seal(jammed, jammed_length, header->event_number, header->mug, &file_length);
    struct jamfile_header again;
    const uint8_t *again_payload;
    char why[300];
    fuzz_check(jamfile_check(file, file_length, &again, &again_payload, why, sizeof why), "a sealed jam fails its check");
    fuzz_check(again.event_number == header->event_number && again.mug == header->mug, "the header changed");
    noun recued;
    fuzz_check(jam_cue_bytes(region, again_payload, again.payload_length, &recued, &error), "the sealed jam does not cue");
    fuzz_check(noun_equal(recued, cued), "the sealed jam cues to another noun");
    free(file);
    free(jammed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!region) {
        region = noun_region_new(REGION_BYTES);
        home = noun_home_new(noun_arena_memory(HOME_BYTES));
        fuzz_check(region && home, "cannot reserve memory");
    }
    noun_region_reset(region);
    if (size == 0)
        return 0;
    uint8_t *file;
    size_t length;
    if (data[0] & 1) {
        uint8_t numbers[12] = { 0 };
        size_t taken = size - 1 < sizeof numbers ? size - 1 : sizeof numbers;
        memcpy(numbers, data + 1, taken);
        uint64_t event_number = 0;
        uint32_t mug = 0;
        memcpy(&event_number, numbers, 8);
        memcpy(&mug, numbers + 8, 4);
        file = seal(data + 1 + taken, size - 1 - taken, event_number, mug, &length);
    } else {
        length = size - 1;
        file = malloc(length ? length : 1);
        fuzz_check(file != NULL, "out of memory");
        memcpy(file, data + 1, length);
    }
    struct jamfile_header header;
    const uint8_t *payload;
    char why[300];
    if (jamfile_check(file, length, &header, &payload, why, sizeof why)) {
        fuzz_check(header.version == JAMFILE_VERSION, "a file of another version passed");
        fuzz_check(JAMFILE_HEADER_BYTES + header.payload_length == length, "the payload length is not the file's");
        fuzz_check(payload == file + JAMFILE_HEADER_BYTES, "the payload is not after the header");
        load_payload(&header, payload);
    } else {
        fuzz_check(why[0] != '\0' && memchr(why, '\0', sizeof why), "a failed check without a message");
        /* a payload sealed here is refused only when it cannot be a jam */
        fuzz_check(!(data[0] & 1) || strstr(why, "not a jam"), "a sealed file was refused");
    }
    free(file);
    return 0;
}
