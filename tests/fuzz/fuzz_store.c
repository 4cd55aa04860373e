/* fuzz_store.c -- libFuzzer target for the store reader: replay of a
 * mutated events.sqlite.
 *
 * Once per process, a good store is made: the kv sample booted and 100
 * generated events, its final event number and mug noted.  Each input is
 * a recipe of changes to that store's events.sqlite (its events.head is
 * kept as it was), read in 4-byte steps:
 *
 *     byte 0 bit 7 set: cut the file at offset (bytes 1..3 as a 24-bit
 *                       number, modulo its size)
 *     else:             write byte 0 at that offset
 *
 * Then the store is opened and replayed in full.  Either the replay fails
 * with a message, or it succeeds with exactly the good store's last event
 * and mug: a replay that succeeds short of the last event would claim a
 * shorter log is whole.  A crash, a sanitizer report or either claim
 * wrong aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repl/samples.h"
#include "repl/store.h"

#define FUZZ_EVENTS 100

static char good[64], trial[64];
static uint64_t good_last_event;
static uint32_t good_mug;
static uint8_t *good_bytes;
static size_t good_length;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_store: %s: %s\n", what, why);
    abort();
}

static uint8_t *read_whole(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        die("cannot read", path);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    uint8_t *bytes = malloc(size > 0 ? (size_t)size : 1);
    if (!bytes || fread(bytes, 1, (size_t)size, file) != (size_t)size)
        die("cannot read", path);
    fclose(file);
    *length = (size_t)size;
    return bytes;
}

static void write_whole(const char *path, const uint8_t *bytes, size_t length)
{
    FILE *file = fopen(path, "wb");
    if (!file || fwrite(bytes, 1, length, file) != length || fclose(file) != 0)
        die("cannot write", path);
}

static void remove_stores(void)
{
    char command[200];
    snprintf(command, sizeof command, "rm -rf '%s' '%s'", good, trial);
    if (system(command) != 0)
        fprintf(stderr, "fuzz_store: could not remove %s\n", good);
}

static void make_good_store(void)
{
    snprintf(good, sizeof good, "/tmp/nocklab-fuzz-store-%ld", (long)getpid());
    snprintf(trial, sizeof trial, "%s-trial", good);
    atexit(remove_stores);
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    char why[400];
    noun kernel;
    if (!home || !samples_load_kernel("kv", home, &kernel, why, sizeof why))
        die("kv", home ? why : "no home");
    struct store_error error = { 0 };
    struct store *store = store_open(good, true, home, &error);
    struct store_generate_result result;
    if (!store || !store_boot(store, "kv", kernel, &error) ||
        !store_generate(store, "kv", FUZZ_EVENTS, 1, NULL, &result, &error))
        die("making the good store", error.message);
    good_last_event = result.last_event;
    good_mug = result.mug;
    store_close(store); /* checkpoints the WAL into events.sqlite */
    noun_home_free(home);
    char path[128];
    snprintf(path, sizeof path, "%s/events.sqlite", good);
    good_bytes = read_whole(path, &good_length);
    mkdir(trial, 0755);
    char from[128], to[128];
    snprintf(from, sizeof from, "%s/events.head", good);
    snprintf(to, sizeof to, "%s/events.head", trial);
    size_t head_length;
    uint8_t *head = read_whole(from, &head_length);
    write_whole(to, head, head_length);
    free(head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!good_bytes)
        make_good_store();
    uint8_t *bytes = malloc(good_length);
    if (!bytes)
        return 0;
    memcpy(bytes, good_bytes, good_length);
    size_t length = good_length;
    for (size_t i = 0; i + 4 <= size && length > 0; i += 4) {
        size_t offset = ((size_t)data[i + 1] | (size_t)data[i + 2] << 8 | (size_t)data[i + 3] << 16) % length;
        if (data[i] & 0x80)
            length = offset;
        else
            bytes[offset] = data[i];
    }
    char path[128];
    snprintf(path, sizeof path, "%s/events.sqlite", trial);
    write_whole(path, bytes, length);
    free(bytes);
    snprintf(path, sizeof path, "%s/events.sqlite-wal", trial);
    unlink(path);
    snprintf(path, sizeof path, "%s/events.sqlite-shm", trial);
    unlink(path);

    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    if (!home)
        return 0;
    struct store_error error = { 0 };
    struct store *store = store_open(trial, false, home, &error);
    if (store) {
        struct store_replay_result result;
        if (store_replay(store, 1, 0, NULL, &result, &error)) {
            if (result.last_event != good_last_event || result.mug != good_mug) {
                fprintf(stderr, "replay claims event %llu mug 0x%x is the whole log; it is event %llu mug 0x%x\n",
                        (unsigned long long)result.last_event, (unsigned)result.mug,
                        (unsigned long long)good_last_event, (unsigned)good_mug);
                abort();
            }
        } else if (!error.message[0]) {
            die("replay failed", "without a message");
        }
        store_close(store);
    } else if (!error.message[0]) {
        die("open failed", "without a message");
    }
    noun_home_free(home);
    return 0;
}
