/* fuzz_pma.c -- libFuzzer target for the PMA's metadata and directory
 * reader (snapshots/pma.c, snapshots/pma_directory.c).
 *
 * A small valid PMA file is made once (two snapshots of a 7-page arena).
 * Each input edits a copy of it:
 *
 *   byte 0     flags: bit 0 redo both slots' checksums after the edits,
 *              bit 1 redo the checksum of every page that starts like a
 *              directory node (so edits reach past the checksums into
 *              the fields behind them), bit 2 cut the file to byte 1
 *              pages
 *   then       4-byte edits: page, offset (2 bytes), value -- the byte at
 *              page * 4096 + offset becomes value (a page past the end
 *              grows the file)
 *
 * The file is then inspected (pma_inspect, every page checked) and opened
 * (pma_open, every page checked).  Either may refuse the file with a
 * message; neither may crash, leak, or load an arena whose pages fail
 * their checksums: a loaded arena must be one of the two snapshots, byte
 * for byte, in the pages its used bytes cover.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "snapshots/pma.h"

#define PAGE 4096u
#define FUZZ_BASE ((uintptr_t)0x400000000000)
#define ARENA_PAGES 7u

static char path[200];
static uint8_t *pristine;
static size_t pristine_length;

static void fuzz_check(bool condition, const char *what)
{
    if (condition)
        return;
    fprintf(stderr, "fuzz_pma: %s\n", what);
    abort();
}

static uint8_t arena_byte(uint64_t event, size_t index) { return (uint8_t)(index * 7 + event * (index / PAGE + 1)); }

static void make_pristine(void)
{
    char directory[] = "/tmp/nocklab-fuzz-pma-XXXXXX";
    fuzz_check(mkdtemp(directory) != NULL, "no temporary directory");
    snprintf(path, sizeof path, "%s/home.pma", directory);
    struct pma_options options = { .base = FUZZ_BASE, .capacity = (size_t)64 << 20, .create = true };
    struct pma_error error;
    struct pma *pma = pma_open(path, &options, NULL, NULL, &error);
    fuzz_check(pma != NULL, error.message);
    struct noun_arena *arena = pma_arena(pma);
    size_t bytes = ARENA_PAGES * PAGE;
    fuzz_check(arena->commit(arena, bytes), "commit");
    for (uint64_t event = 1; event <= 2; event++) {
        for (size_t i = 0; i < bytes; i++)
            if ((i / PAGE) % 2 == 0 || event == 1)
                arena->base[i] = (char)arena_byte(event, i);
        struct pma_roots roots = { .used_bytes = bytes - 8 * event, .kernel = 5, .event_number = event };
        struct pma_snapshot_report report;
        fuzz_check(pma_snapshot(pma, &roots, &report, &error), error.message);
    }
    pma_close(pma);
    int fd = open(path, O_RDONLY);
    fuzz_check(fd >= 0, "reopen");
    pristine_length = (size_t)lseek(fd, 0, SEEK_END);
    pristine = malloc(pristine_length);
    fuzz_check(pread(fd, pristine, pristine_length, 0) == (ssize_t)pristine_length, "read back");
    close(fd);
}

static void redo_checksums(uint8_t *file, size_t length, bool slots, bool nodes)
{
    for (size_t page = 0; page * PAGE + PAGE <= length; page++) {
        uint8_t *at = file + page * PAGE;
        if (slots && page < 2) {
            uint64_t sum = XXH3_64bits(at, 104);
            memcpy(at + 104, &sum, 8);
        } else if (nodes && page >= 2 && memcmp(at, "PMAN", 4) == 0) {
            memset(at + 16, 0, 8);
            uint64_t sum = XXH3_64bits(at, PAGE);
            memcpy(at + 16, &sum, 8);
        }
    }
}

static void ignore_notice(void *context, const char *text)
{
    (void)context;
    fuzz_check(text[0] != 0, "an empty notice");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pristine)
        make_pristine();
    if (size < 2)
        return 0;
    size_t length = pristine_length;
    size_t capacity = pristine_length + 4 * PAGE;
    uint8_t *file = calloc(capacity, 1);
    memcpy(file, pristine, pristine_length);
    for (size_t i = 2; i + 4 <= size; i += 4) {
        size_t page = data[i] % (capacity / PAGE);
        size_t offset = page * PAGE + ((size_t)data[i + 1] | (size_t)data[i + 2] << 8) % PAGE;
        file[offset] = data[i + 3];
        if ((page + 1) * PAGE > length)
            length = (page + 1) * PAGE;
    }
    redo_checksums(file, length, data[0] & 1, data[0] & 2);
    if (data[0] & 4) {
        size_t cut = (size_t)data[1] * PAGE;
        if (cut < length)
            length = cut;
    }
    int fd = open(path, O_RDWR | O_TRUNC);
    fuzz_check(fd >= 0, "cannot write the trial file");
    fuzz_check(pwrite(fd, file, length, 0) == (ssize_t)length, "short write");
    close(fd);

    struct pma_slot_info slots[2];
    uint64_t file_bytes;
    struct pma_error error;
    fuzz_check(pma_inspect(path, true, slots, &file_bytes, &error), "inspect failed on a readable file");
    for (int i = 0; i < 2; i++)
        fuzz_check(slots[i].valid || slots[i].problem[0], "an invalid slot without a reason");

    struct pma_options options = { .capacity = (size_t)64 << 20, .verify_pages = true };
    struct pma *pma = pma_open(path, &options, ignore_notice, NULL, &error);
    if (!pma) {
        fuzz_check(error.message[0] != 0, "open failed without a message");
    } else {
        struct pma_roots roots;
        if (pma_loaded(pma, &roots)) {
            const uint8_t *arena = (const uint8_t *)pma_arena(pma)->base;
            bool first = true, second = true;
            for (size_t i = 0; i < roots.used_bytes && i < ARENA_PAGES * PAGE; i++) {
                first = first && arena[i] == arena_byte(1, i);
                uint64_t event = (i / PAGE) % 2 == 0 ? 2 : 1;
                second = second && arena[i] == arena_byte(event, i);
            }
            fuzz_check(first || second, "a loaded arena is neither snapshot");
        }
        pma_close(pma);
    }
    free(file);
    return 0;
}
