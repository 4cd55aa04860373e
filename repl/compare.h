/* compare.h -- one workload under every backend, side by side.
 *
 * `nocklab compare SAMPLE [N]` and `:compare SAMPLE [N]` boot the sample
 * in a fresh store per backend (DIRECTORY/BACKEND), generate the same N
 * events there (outcomes applied as spawns finish) and measure each run.
 * Every run is a "gen" profile run in its store, so `nocklab --store
 * DIRECTORY/BACKEND -e :runs` lists it for :profile and :export.
 */
#ifndef NOCKLAB_COMPARE_H
#define NOCKLAB_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/noun.h"

/* One backend's run.  `cpu_seconds` counts this process and the children
 * it reaped (fork's); `gap_*` are store_generate_result's; the rest are
 * the backend's totals (kernel_backend_stats). */
struct compare_row {
    char backend[16];
    bool ok;
    char error[200];
    double wall_seconds, cpu_seconds;
    uint64_t events;         /* events logged, outcomes included */
    uint64_t gap_p50_ns, gap_p99_ns;
    uint64_t spawns, bytes_back, dedup_lookups, dedup_hits, par_maps;
    uint64_t start_ns;       /* summed time to start spawns (fork, hand-off) */
    uint32_t mug;
    int64_t run_id;
};

struct store;
struct store_listener;

/* Whoever follows the runs (the live panes, Ctrl-C).  `running` is told
 * each backend's name, its place (index of count) and the store it runs
 * in, before its run, and called again with store NULL after it (the
 * store is closed next); returning false before a run stops the
 * comparison there.  `listener` is handed to every run.  Either may be
 * NULL. */
struct compare_observer {
    void *context;
    bool (*running)(void *context, const char *backend, size_t index, size_t count, struct store *store);
    const struct store_listener *listener;
};

/* Run `count` events of `sample` (seed 1) under each backend, in stores
 * under `directory` (made if needed; a store already there is replaced).
 * Fills rows[0 .. *row_count) in registry order (fewer when the observer
 * stopped it).  False with why only when nothing could be run (unknown
 * sample, no directory). */
bool compare_backends(struct noun_home *home, const char *sample, uint64_t count, const char *directory,
                      unsigned workers, int child_nice, const struct compare_observer *observer,
                      struct compare_row *rows, size_t max_rows, size_t *row_count, char *why, size_t why_size);

/* One line per backend for a short summary: "fork 0.61s 0.85x" (or
 * "fork failed"), separated by "; ", into `out`. */
void compare_summary(const struct compare_row *rows, size_t row_count, char *out, size_t size);

/* The table, one line per element of `lines` (each up to 160 bytes). */
size_t compare_format(const struct compare_row *rows, size_t row_count, char lines[][160], size_t max_lines);

#endif
