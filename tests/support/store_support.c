/* store_support.c -- making and reopening stores for tests. */
#include "tests/support/store_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/jam.h"
#include "repl/samples.h"
#include "repl/store.h"

#define SUPPORT_HOME_BYTES ((size_t)1 << 30)

bool support_store_base(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);
    return mkdtemp(out) != NULL;
}

void support_make_store(const char *directory, const char *sample, uint64_t events, uint64_t every, uint64_t seed,
                        enum snapshot_kind kind)
{
    struct noun_home *home = noun_home_new(noun_arena_memory(SUPPORT_HOME_BYTES));
    assert_non_null(home);
    struct store_error error = { 0 };
    struct store *store = store_open(directory, true, home, &error);
    if (!store)
        fail_msg("store_open %s: %s", directory, error.message);
    struct store_snapshot_options options = { .kind = kind, .every = every };
    noun kernel;
    char why[400];
    if (!samples_load_kernel(sample, home, &kernel, why, sizeof why))
        fail_msg("samples_load_kernel: %s", why);
    struct store_generate_result result;
    if (!store_use_snapshots(store, &options, &error) || !store_boot(store, sample, kernel, &error) ||
        !store_generate(store, sample, events, seed, NULL, &result, &error))
        fail_msg("making %s: %s", directory, error.message);
    store_close(store);
    noun_home_free(home);
}

static void hear(void *context, const char *text)
{
    struct support_rebuilt *out = context;
    size_t used = strlen(out->notices);
    snprintf(out->notices + used, sizeof out->notices - used, "%s\n", text);
}

void support_rebuild(const char *directory, bool ignore_snapshots, struct support_rebuilt *out)
{
    memset(out, 0, sizeof *out);
    struct noun_home *home = noun_home_new(noun_arena_memory(SUPPORT_HOME_BYTES));
    assert_non_null(home);
    struct store_error error = { 0 };
    struct store *store = store_open(directory, false, home, &error);
    if (!store)
        fail_msg("store_open %s: %s", directory, error.message);
    struct store_snapshot_options options = { .ignore = ignore_snapshots };
    struct store_listener listener = { .context = out, .notice = hear };
    if (!store_use_snapshots(store, &options, &error) || !store_recover(store, &listener, &error))
        fail_msg("opening %s: %s\nnotices:\n%s", directory, error.message, out->notices);
    struct kernel *kernel = store_kernel(store);
    assert_non_null(kernel);
    out->event_number = kernel_event_number(kernel);
    out->mug = kernel_mug(kernel);
    assert_true(jam_to_bytes(kernel_state(kernel), &out->jam, &out->jam_length));
    store_close(store);
    noun_home_free(home);
}

void support_assert_same_state(const struct support_rebuilt *a, const struct support_rebuilt *b)
{
    assert_int_equal(a->event_number, b->event_number);
    assert_int_equal(a->mug, b->mug);
    assert_int_equal(a->jam_length, b->jam_length);
    assert_memory_equal(a->jam, b->jam, a->jam_length);
}
