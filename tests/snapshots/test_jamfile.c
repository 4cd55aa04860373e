/* Unit tests for snapshots/jamfile: a written file reads back and checks;
 * every byte of it is covered (a flip anywhere fails the check, with the
 * reason the format promises); a file cut at any length fails; a failed
 * write leaves the file it would replace untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshots/jamfile.h"

static char directory[64];

static int make_directory(void **state)
{
    snprintf(directory, sizeof directory, "/tmp/nocklab-test-jamfile-XXXXXX");
    return mkdtemp(directory) ? 0 : -1;
}

static int remove_directory(void **state)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    return system(command) == 0 ? 0 : -1;
}

/* A payload that looks like a jam: nonzero last byte. */
static void fill_payload(uint8_t *payload, size_t length, unsigned seed)
{
    for (size_t i = 0; i < length; i++)
        payload[i] = (uint8_t)(i * 31 + seed);
    payload[length - 1] = 0x5a;
}

static void write_file(const char *name, uint64_t event_number, uint32_t mug, const uint8_t *payload, size_t length)
{
    struct jamfile_header header = { .event_number = event_number, .mug = mug };
    struct jamfile_timing timing;
    char why[300];
    if (!jamfile_write(directory, name, &header, payload, length, &timing, why, sizeof why))
        fail_msg("jamfile_write: %s", why);
}

static uint8_t *read_file(const char *name, size_t *length)
{
    char path[128], why[300];
    uint8_t *bytes;
    snprintf(path, sizeof path, "%s/%s", directory, name);
    if (!jamfile_read(path, &bytes, length, why, sizeof why))
        fail_msg("jamfile_read: %s", why);
    return bytes;
}

/* A file with a payload of `payload_length` bytes, written and read back. */
static uint8_t *written(const char *name, uint64_t event_number, uint32_t mug, size_t payload_length, unsigned seed,
                        size_t *length)
{
    uint8_t *payload = malloc(payload_length);
    assert_non_null(payload);
    fill_payload(payload, payload_length, seed);
    write_file(name, event_number, mug, payload, payload_length);
    free(payload);
    return read_file(name, length);
}

static void test_round_trip(void **state)
{
    uint8_t payload[1000];
    fill_payload(payload, sizeof payload, 3);
    write_file("round.jam", 12345, 0x1234567, payload, sizeof payload);
    size_t length;
    uint8_t *bytes = read_file("round.jam", &length);
    assert_int_equal(length, JAMFILE_HEADER_BYTES + sizeof payload);
    struct jamfile_header header;
    const uint8_t *read_payload;
    char why[300];
    assert_true(jamfile_check(bytes, length, &header, &read_payload, why, sizeof why));
    assert_int_equal(header.event_number, 12345);
    assert_int_equal(header.mug, 0x1234567);
    assert_int_equal(header.version, JAMFILE_VERSION);
    assert_int_equal(header.payload_length, sizeof payload);
    assert_memory_equal(read_payload, payload, sizeof payload);
    assert_memory_equal(bytes, "NOCKSNAP", 8);

    char path[128];
    uint64_t file_bytes;
    snprintf(path, sizeof path, "%s/round.jam", directory);
    assert_true(jamfile_peek(path, &header, &file_bytes, why, sizeof why));
    assert_int_equal(file_bytes, length);
    assert_int_equal(header.event_number, 12345);
    /* no temporary file is left behind */
    snprintf(path, sizeof path, "%s/round.jam.tmp", directory);
    assert_int_not_equal(access(path, F_OK), 0);
    free(bytes);
}

/* Flip every bit of every byte: each flip must fail the check. */
static void test_every_flip_fails(void **state)
{
    size_t length;
    uint8_t *bytes = written("flip.jam", 77, 0x55aa, 200, 7, &length);
    struct jamfile_header header;
    const uint8_t *read_payload;
    char why[300];
    for (size_t at = 0; at < length; at++) {
        for (int bit = 0; bit < 8; bit++) {
            bytes[at] ^= (uint8_t)(1u << bit);
            if (jamfile_check(bytes, length, &header, &read_payload, why, sizeof why))
                fail_msg("flipping bit %d of byte %zu went unnoticed", bit, at);
            if (at < 8)
                assert_non_null(strstr(why, "not a nocklab jam snapshot"));
            else if (at >= 8 && at < 12)
                assert_non_null(strstr(why, "format version"));
            else if (at >= 48)
                assert_true(strstr(why, "checksum") || strstr(why, "not a jam"));
            bytes[at] ^= (uint8_t)(1u << bit);
        }
    }
    assert_true(jamfile_check(bytes, length, &header, &read_payload, why, sizeof why));
    free(bytes);
}

/* Any prefix, and any file with bytes added, fails. */
static void test_truncated_and_padded(void **state)
{
    size_t length;
    uint8_t *bytes = written("cut.jam", 5, 9, 300, 11, &length);
    struct jamfile_header header;
    const uint8_t *read_payload;
    char why[300];
    for (size_t cut = 0; cut < length; cut++) {
        if (jamfile_check(bytes, cut, &header, &read_payload, why, sizeof why))
            fail_msg("a file cut to %zu of %zu bytes checked out", cut, length);
        if (cut >= 8)
            assert_non_null(strstr(why, "truncated"));
    }
    uint8_t *longer = malloc(length + 1);
    memcpy(longer, bytes, length);
    longer[length] = 0;
    assert_false(jamfile_check(longer, length + 1, &header, &read_payload, why, sizeof why));
    assert_non_null(strstr(why, "past the end"));
    free(longer);
    free(bytes);
}

/* A write that cannot complete leaves the file it would replace as it was,
 * and no temporary file. */
static void test_failed_write_keeps_old_file(void **state)
{
    uint8_t payload[100];
    fill_payload(payload, sizeof payload, 1);
    write_file("keep.jam", 1, 1, payload, sizeof payload);
    size_t before_length;
    uint8_t *before = read_file("keep.jam", &before_length);

    /* the temporary name is taken by a directory: the write cannot start */
    char path[128];
    snprintf(path, sizeof path, "%s/keep.jam.tmp", directory);
    assert_int_equal(mkdir(path, 0755), 0);
    struct jamfile_header header = { .event_number = 2, .mug = 2 };
    struct jamfile_timing timing;
    char why[300];
    assert_false(jamfile_write(directory, "keep.jam", &header, payload, sizeof payload, &timing, why, sizeof why));
    assert_non_null(strstr(why, "keep.jam.tmp"));
    assert_int_equal(rmdir(path), 0);

    size_t after_length;
    uint8_t *after = read_file("keep.jam", &after_length);
    assert_int_equal(after_length, before_length);
    assert_memory_equal(after, before, before_length);
    free(after);

    /* the final name is a directory with something in it: rename fails */
    snprintf(path, sizeof path, "%s/other.jam", directory);
    assert_int_equal(mkdir(path, 0755), 0);
    char inside[160];
    snprintf(inside, sizeof inside, "%s/x", path);
    FILE *file = fopen(inside, "w");
    assert_non_null(file);
    fclose(file);
    assert_false(jamfile_write(directory, "other.jam", &header, payload, sizeof payload, &timing, why, sizeof why));
    assert_non_null(strstr(why, "rename"));
    snprintf(path, sizeof path, "%s/other.jam.tmp", directory);
    assert_int_not_equal(access(path, F_OK), 0);
    free(before);
}

static void test_peek_reports(void **state)
{
    char path[128], why[300];
    struct jamfile_header header;
    uint64_t bytes;
    snprintf(path, sizeof path, "%s/missing.jam", directory);
    assert_false(jamfile_peek(path, &header, &bytes, why, sizeof why));
    assert_string_equal(why, "not there");
    snprintf(path, sizeof path, "%s/empty.jam", directory);
    FILE *file = fopen(path, "w");
    fclose(file);
    assert_false(jamfile_peek(path, &header, &bytes, why, sizeof why));
    assert_string_equal(why, "the file is empty");
    file = fopen(path, "w");
    fputs("SQLite format 3", file);
    fclose(file);
    assert_false(jamfile_peek(path, &header, &bytes, why, sizeof why));
    assert_non_null(strstr(why, "not a nocklab jam snapshot"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_flip_fails),
        cmocka_unit_test(test_truncated_and_padded),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test(test_peek_reports),
    };
    return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
