/* store_support.h -- what the store and snapshot tests share: making a
 * store of a sample's generated events, and opening one to see what
 * kernel it rebuilds (with the notices it gave), failing the running
 * cmocka test when any of it goes wrong. */
#ifndef NOCKLAB_TEST_STORE_SUPPORT_H
#define NOCKLAB_TEST_STORE_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshots/snapshot.h"

/* A directory for stores: on tmpfs when there is one, since every commit
 * and snapshot fsyncs and a killed process leaves the page cache as it
 * was either way.  `name` is a mkdtemp prefix; the path goes in `out`. */
bool support_store_base(const char *name, char *out, size_t size);

/* A new store in `directory` booted with `sample` and `events` generated
 * events (seed `seed`), snapshotted (kind `kind`) every `every` events. */
void support_make_store(const char *directory, const char *sample, uint64_t events, uint64_t every, uint64_t seed,
                        enum snapshot_kind kind);

/* What opening a store rebuilt: the kernel's event, mug and jam, and the
 * store's notices, one per line. */
struct support_rebuilt {
    uint64_t event_number;
    uint32_t mug;
    uint8_t *jam;
    size_t jam_length;
    char notices[4000];
};

/* Open the store in `directory` in a home of its own, rebuild its kernel
 * (from its snapshots, or with `ignore_snapshots` from the log alone), and
 * close it.  Free out->jam afterwards. */
void support_rebuild(const char *directory, bool ignore_snapshots, struct support_rebuilt *out);

/* Fail the test unless both rebuilt the same kernel (event, mug, jam). */
void support_assert_same_state(const struct support_rebuilt *a, const struct support_rebuilt *b);

#endif
