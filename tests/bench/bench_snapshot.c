/* bench_snapshot.c -- what a snapshot costs for a big home, jam and PMA: a
 * kernel state of SIZE MiB (default 1024: a balanced tree of 16 KiB atoms),
 * then an event that replaces about 1 MiB of it, then loading the snapshot
 * back.
 *
 *   build/bench/bench_snapshot [SIZE-MiB]
 *
 * The store is a temporary directory under $TMPDIR (default /tmp: a disk,
 * so fsync costs what it costs).  Its log holds two event rows whose mugs
 * are those of the two states, so snapshot_load checks them as it does in
 * a real store; the states themselves are built directly rather than by
 * applying events (a kernel that grows to a GiB by events would take longer
 * to build than to measure).
 *
 * Prints the time of each phase of the save (jam, write, fsync) and of the
 * load (read and check, cue and copy to home).  Then the same state is
 * built again in a home whose arena is a PMA (snapshots/pma.h) and saved,
 * changed the same way and saved again, and loaded (a map, then the same
 * with every page's checksum checked).  Targets: the PMA saves the 1 MiB
 * change at least 50x faster than jam, and loads in under 50 ms.
 *
 * First, what dirty tracking costs a replay: a kv store of KV_EVENTS
 * events replayed from the boot kernel with home in plain memory, and in a
 * PMA taking a snapshot every KV_SNAP_EVERY events (its pages write-
 * protected after each, the first write to each page faulting), five
 * runs of each in turn; the overhead is the median of each run's tracked
 * time over its plain one (the times printed are each kind's medians).
 * The PMA's time is the replay's less the time its snapshots took (the
 * snapshots table).  Home is compacted in place in both
 * (NOCKLAB_HOME_COMPACT=1, set before any home is made), as a PMA's must
 * be, so what differs is the tracking: faults, marking the pages a
 * compaction rewrites, and reading the counts after each event.  Target:
 * under 10%.  For reference, a PMA without tracking (NOCKLAB_PMA_TRACKING=0:
 * nothing protected, every page written by every snapshot) is timed too.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/clock.h"
#include "interp/jam.h"
#include "interp/kernel.h"
#include "interp/mug.h"
#include "interp/noun.h"
#include "repl/samples.h"
#include "repl/store.h"
#include "snapshots/evlog.h"
#include "snapshots/pma.h"
#include "snapshots/snapshot.h"
#include "tests/bench/bench.h"

#define LEAF_WORDS 2048 /* 16 KiB */
#define CHANGED_LEAVES 64 /* 1 MiB */
#define KV_EVENTS 50000
#define KV_SNAP_EVERY 5000
#define KV_RUNS 5

static uint64_t random_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

static noun random_leaf(struct noun_region *region)
{
    struct noun_atom *atom = noun_atom_alloc(region, LEAF_WORDS);
    for (size_t i = 0; i < LEAF_WORDS; i++)
        atom->words[i] = next_random() | 1;
    return noun_atom_normalize(atom);
}

/* A balanced tree over leaves[0 .. count), built bottom up in `region`. */
static noun tree_of(struct noun_region *region, const noun *leaves, size_t count, noun *level)
{
    memcpy(level, leaves, count * sizeof *level);
    while (count > 1) {
        size_t next = 0;
        for (size_t i = 0; i + 1 < count; i += 2)
            level[next++] = noun_cell_new(region, level[i], level[i + 1]);
        if (count % 2)
            level[next++] = level[count - 1];
        count = next;
    }
    return level[0];
}

static bool log_event(struct evlog *log, uint64_t number, uint32_t mug)
{
    uint8_t event = 0x02; /* jam of 0 */
    struct evlog_record record = { .number = number, .kind = EVLOG_PLAIN, .event = &event, .event_length = 1,
                                   .mug = mug };
    struct evlog_error error = { 0 };
    if (evlog_append(log, &record, &error) && evlog_commit(log, &error))
        return true;
    fprintf(stderr, "bench_snapshot: %s\n", error.message);
    return false;
}

static void print_save(const char *what, const struct snapshot_save_report *report)
{
    printf("  %-34s %8.3f s  (jam %.3f s, write %.3f s, fsync %.3f s; %.1f MiB)\n", what,
           (double)report->total_ns / 1e9, (double)report->serialize_ns / 1e9, (double)report->write_ns / 1e9,
           (double)report->fsync_ns / 1e9, (double)report->bytes / 1048576.0);
}

/* The state: leaf_count random leaves (the same ones on every call: the
 * generator restarts) under a balanced tree, in home. */
static noun build_state(struct noun_home *home, struct noun_region *region, noun *leaves, noun *level,
                        size_t leaf_count)
{
    random_state = 0x9e3779b97f4a7c15ull;
    /* leaves go to home one by one, so the array stays valid when scratch
     * is reset */
    for (size_t i = 0; i < leaf_count; i++) {
        leaves[i] = noun_home_copy_out(home, region, random_leaf(region));
        if (i % 1024 == 1023)
            noun_region_reset(region);
    }
    noun_region_reset(region);
    return noun_home_copy_out(home, region, tree_of(region, leaves, leaf_count, level));
}

/* An event that replaces CHANGED_LEAVES leaves (1 MiB). */
static noun change_state(struct noun_home *home, struct noun_region *region, noun *leaves, noun *level,
                         size_t leaf_count)
{
    noun_region_reset(region);
    for (size_t i = 0; i < CHANGED_LEAVES; i++)
        leaves[next_random() % leaf_count] = noun_home_copy_out(home, region, random_leaf(region));
    return noun_home_copy_out(home, region, tree_of(region, leaves, leaf_count, level));
}

static void verdict(const char *what, double figure, const char *unit, bool met, const char *target)
{
    printf("  %-34s %8.3f %-3s (target %s) %s\n", what, figure, unit, target, met ? "OK" : "MISSED");
}

/* Open the PMA at `path` three times (checking what loads): the median
 * wall time, and the CPU time of that run (the machine may be busy). */
static bool time_load(const char *path, bool verify, uint32_t mug, uint64_t *wall, uint64_t *cpu)
{
    struct pma_options options = { .capacity = (size_t)16 << 30, .verify_pages = verify };
    uint64_t wall_runs[3], cpu_runs[3];
    for (int run = 0; run < 3; run++) {
        struct pma_error error;
        uint64_t started = clock_wall_nanoseconds(), cpu_started = clock_cpu_nanoseconds();
        struct pma *pma = pma_open(path, &options, NULL, NULL, &error);
        wall_runs[run] = clock_wall_nanoseconds() - started;
        cpu_runs[run] = clock_cpu_nanoseconds() - cpu_started;
        struct pma_roots loaded;
        if (!pma || !pma_loaded(pma, &loaded) || loaded.event_number != 2 || mug_noun(loaded.kernel) != mug) {
            fprintf(stderr, "bench_snapshot: the PMA did not load back as saved%s%s\n", pma ? "" : ": ",
                    pma ? "" : error.message);
            return false;
        }
        pma_close(pma);
    }
    int middle = 0;
    for (int run = 0; run < 3; run++) {
        int below = 0;
        for (int other = 0; other < 3; other++)
            below += wall_runs[other] < wall_runs[run] || (wall_runs[other] == wall_runs[run] && other < run);
        if (below == 1)
            middle = run;
    }
    *wall = wall_runs[middle];
    *cpu = cpu_runs[middle];
    return true;
}

/* The PMA half: returns false on any failure (said on stderr). */
static bool bench_pma(const char *directory, size_t leaf_count, noun *leaves, noun *level, uint64_t jam_change_ns,
                      uint64_t jam_load_ns)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/home.pma", directory);
    struct pma_options options = { .create = true, .capacity = (size_t)16 << 30 };
    struct pma_error error;
    struct pma *pma = pma_open(path, &options, NULL, NULL, &error);
    struct noun_home *home = pma ? noun_home_new(pma_arena(pma)) : NULL;
    struct noun_region *region = noun_region_new((size_t)8 << 30);
    if (!home || !region) {
        fprintf(stderr, "bench_snapshot: %s\n", pma ? "out of memory" : error.message);
        return false;
    }
    uint64_t started = clock_wall_nanoseconds();
    noun state = build_state(home, region, leaves, level, leaf_count);
    printf("pma snapshot of the same state in %s\n", path);
    printf("  %-34s %8.3f s\n", "building the state", (double)(clock_wall_nanoseconds() - started) / 1e9);
    uint32_t mug = mug_noun(state);
    struct pma_roots roots = { .used_bytes = noun_home_used(home), .kernel = state, .event_number = 1, .mug = mug };
    struct pma_snapshot_report report;
    if (!pma_snapshot(pma, &roots, &report, &error)) {
        fprintf(stderr, "bench_snapshot: %s\n", error.message);
        return false;
    }
    printf("  %-34s %8.3f s  (write %.3f s, directory %.3f s, fsync %.3f s; %llu pages, %llu nodes)\n",
           "first snapshot", (double)report.total_ns / 1e9, (double)report.write_ns / 1e9,
           (double)report.directory_ns / 1e9, (double)report.fsync_ns / 1e9,
           (unsigned long long)report.pages_written, (unsigned long long)report.nodes_written);

    uint64_t faults = pma_write_faults(pma);
    noun changed = change_state(home, region, leaves, level, leaf_count);
    roots = (struct pma_roots){ .used_bytes = noun_home_used(home), .kernel = changed, .event_number = 2,
                                .mug = mug_noun(changed) };
    uint64_t dirty = pma_dirty_pages(pma, roots.used_bytes);
    if (!pma_snapshot(pma, &roots, &report, &error)) {
        fprintf(stderr, "bench_snapshot: %s\n", error.message);
        return false;
    }
    printf("  %-34s %8.3f s  (write %.3f s, directory %.3f s, fsync %.3f s; %llu pages dirty, %llu write "
           "faults, %llu nodes)\n", "snapshot after a 1 MiB change", (double)report.total_ns / 1e9,
           (double)report.write_ns / 1e9, (double)report.directory_ns / 1e9, (double)report.fsync_ns / 1e9,
           (unsigned long long)dirty, (unsigned long long)(pma_write_faults(pma) - faults),
           (unsigned long long)report.nodes_written);
    uint32_t changed_mug = roots.mug;
    noun_home_free(home); /* closes the PMA */
    noun_region_free(region);

    uint64_t times[2], cpu[2];
    for (int verify = 0; verify < 2; verify++)
        if (!time_load(path, verify, changed_mug, &times[verify], &cpu[verify]))
            return false;
    printf("  %-34s %8.3f s  (cpu %.3f s)\n", "load (map)", (double)times[0] / 1e9, (double)cpu[0] / 1e9);
    printf("  %-34s %8.3f s  (cpu %.3f s)\n", "load, every page's checksum checked", (double)times[1] / 1e9,
           (double)cpu[1] / 1e9);
    double ratio = (double)jam_change_ns / (double)report.total_ns;
    verdict("save after 1 MiB: jam / pma", ratio, "x", ratio >= 50, ">= 50x");
    verdict("pma load", (double)times[0] / 1e6, "ms", times[0] < 50000000, "< 50 ms");
    printf("  %-34s %8.1f x\n", "load: jam / pma", (double)jam_load_ns / (double)times[0]);
    return true;
}

/* ---- dirty tracking on kv replay ------------------------------------------------------ */

/* Make `work` a copy of the store at `source`. */
static bool copy_store(const char *source, const char *work)
{
    char command[13000];
    snprintf(command, sizeof command, "rm -rf '%s' && cp -r '%s' '%s'", work, source, work);
    return system(command) == 0;
}

static bool make_kv_store(const char *directory)
{
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(directory, true, home, &error) : NULL;
    char why[300];
    noun kernel;
    struct store_generate_result result;
    bool ok = store && samples_load_kernel("kv", home, &kernel, why, sizeof why) &&
              store_boot(store, "kv", kernel, &error) &&
              store_generate(store, "kv", KV_EVENTS, 1, NULL, &result, &error);
    if (!ok)
        fprintf(stderr, "bench_snapshot: %s\n", error.message[0] ? error.message : why);
    store_close(store);
    noun_home_free(home);
    return ok;
}

/* The sum of a query's one number over the store's events.sqlite. */
static uint64_t query_number(const char *directory, const char *sql)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/events.sqlite", directory);
    sqlite3 *database;
    uint64_t value = 0;
    if (sqlite3_open_v2(path, &database, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *statement;
        if (sqlite3_prepare_v2(database, sql, -1, &statement, NULL) == SQLITE_OK) {
            if (sqlite3_step(statement) == SQLITE_ROW)
                value = (uint64_t)sqlite3_column_int64(statement, 0);
            sqlite3_finalize(statement);
        }
    }
    sqlite3_close(database);
    return value;
}

/* Replay the kv store at `source` (a copy, in `work`) from the boot kernel,
 * in plain memory or a PMA: the wall time less snapshot time. */
static bool replay_kv(const char *source, const char *work, bool pma, bool tracking, double *seconds,
                      double *snapshot_seconds, uint64_t *faults)
{
    if (tracking)
        unsetenv("NOCKLAB_PMA_TRACKING");
    else
        setenv("NOCKLAB_PMA_TRACKING", "0", 1);
    if (!copy_store(source, work))
        return false;
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(work, false, home, &error) : NULL;
    struct store_snapshot_options options = { .kind = pma ? SNAPSHOT_PMA : SNAPSHOT_NONE,
                                               .every = pma ? KV_SNAP_EVERY : 0 };
    struct store_replay_result result;
    bool ok = store && store_use_snapshots(store, &options, &error) && store_replay(store, 1, 0, NULL, &result, &error);
    if (!ok)
        fprintf(stderr, "bench_snapshot: %s\n", error.message);
    store_close(store);
    noun_home_free(home);
    unsetenv("NOCKLAB_PMA_TRACKING");
    *seconds = result.seconds;
    *snapshot_seconds = (double)query_number(work, "SELECT total(total_ns) FROM snapshots") / 1e9;
    *faults = query_number(work, "SELECT total(write_faults) FROM profile");
    return ok;
}

static bool bench_tracking(const char *directory)
{
    char source[4200], work[4200];
    snprintf(source, sizeof source, "%s/kv", directory);
    snprintf(work, sizeof work, "%s/kv-replay", directory);
    if (!make_kv_store(source))
        return false;
    double plain[KV_RUNS], tracked[KV_RUNS], untracked[KV_RUNS], overheads[KV_RUNS], whole = 0;
    double snapshots[2] = { 0, 0 };
    uint64_t faults = 0, ignored;
    for (int run = 0; run < KV_RUNS; run++) {
        double snapshot_seconds;
        if (!replay_kv(source, work, false, true, &plain[run], &snapshot_seconds, &ignored) ||
            !replay_kv(source, work, true, true, &whole, &snapshots[0], &faults))
            return false;
        tracked[run] = whole - snapshots[0];
        if (!replay_kv(source, work, true, false, &whole, &snapshots[1], &ignored))
            return false;
        untracked[run] = whole - snapshots[1];
        /* against the plain replay of the same run, seconds before: this
         * machine's speed drifts more than the overhead from one run to
         * the next, and a ratio of medians taken from different runs
         * read anything from -1% to +23% */
        overheads[run] = (tracked[run] / plain[run] - 1) * 100;
    }
    bench_sort(overheads, KV_RUNS);
    bench_sort(plain, KV_RUNS);
    bench_sort(tracked, KV_RUNS);
    bench_sort(untracked, KV_RUNS);
    double overhead = overheads[KV_RUNS / 2];
    printf("kv replay of %d events, median of %d (a PMA snapshot every %d events)\n", KV_EVENTS, KV_RUNS,
           KV_SNAP_EVERY);
    printf("  %-34s %8.3f s\n", "home in plain memory (compacted)", plain[KV_RUNS / 2]);
    printf("  %-34s %8.3f s  (besides %.3f s in snapshots; %llu write faults)\n", "pma, writes tracked",
           tracked[KV_RUNS / 2], snapshots[0], (unsigned long long)faults);
    printf("  %-34s %8.3f s  (besides %.3f s in snapshots)\n", "pma, untracked", untracked[KV_RUNS / 2],
           snapshots[1]);
    printf("  %-34s %8.1f to %.1f %%\n", "tracked over plain, each run", overheads[0], overheads[KV_RUNS - 1]);
    verdict("dirty tracking overhead", overhead, "%", overhead < 10, "< 10%");
    printf("  %-34s %8.1f %%\n", "tracked over untracked", (tracked[KV_RUNS / 2] / untracked[KV_RUNS / 2] - 1) * 100);
    return true;
}

int main(int argc, char **argv)
{
    setenv("NOCKLAB_HOME_COMPACT", "1", 1); /* read once, when the first home is made */
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
    if (!mib)
        mib = 1024;
    size_t leaf_count = mib * 1024 * 1024 / (LEAF_WORDS * 8);
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char directory[4096];
    snprintf(directory, sizeof directory, "%s/nocklab-bench-snapshot-XXXXXX", tmp);
    if (!mkdtemp(directory)) {
        perror("bench_snapshot: mkdtemp");
        return 1;
    }
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    struct noun_region *region = noun_region_new((size_t)8 << 30);
    noun *leaves = malloc(leaf_count * sizeof *leaves), *level = malloc(leaf_count * sizeof *level);
    struct evlog_error log_error = { 0 };
    struct evlog *log = home && region && leaves && level ? evlog_open(directory, true, &log_error) : NULL;
    uint8_t boot_jam = 0x02;
    if (!log || !evlog_write_boot(log, "bench", &boot_jam, 1, mug_noun(0), &log_error)) {
        fprintf(stderr, "bench_snapshot: %s\n", log ? log_error.message : "out of memory");
        return 1;
    }
    if (!bench_tracking(directory))
        return 1;
    printf("jam snapshot of a %zu MiB kernel state (%zu leaves of 16 KiB) in %s\n", mib, leaf_count, directory);

    uint64_t started = clock_wall_nanoseconds();
    noun state = build_state(home, region, leaves, level, leaf_count);
    printf("  %-34s %8.3f s\n", "building the state", (double)(clock_wall_nanoseconds() - started) / 1e9);

    char why[200];
    struct kernel_options options = { 0 };
    struct kernel *kernel = kernel_new(home, state, 1, &options, why, sizeof why);
    struct snapshot_error error;
    struct snapshot_store *snapshots = kernel ? snapshot_store_open(log, SNAPSHOT_JAM, &error) : NULL;
    struct snapshot_save_report report;
    if (!snapshots || !log_event(log, 1, kernel_mug(kernel)) || !snapshot_save(snapshots, kernel, 0, &report, &error)) {
        fprintf(stderr, "bench_snapshot: %s\n", kernel ? error.message : why);
        return 1;
    }
    print_save("first snapshot", &report);

    noun changed = change_state(home, region, leaves, level, leaf_count);
    kernel_set_state(kernel, changed, 2);
    if (!log_event(log, 2, kernel_mug(kernel)) || !snapshot_save(snapshots, kernel, 0, &report, &error)) {
        fprintf(stderr, "bench_snapshot: %s\n", error.message);
        return 1;
    }
    print_save("snapshot after a 1 MiB change", &report);
    uint64_t jam_change_ns = report.total_ns;

    struct kernel *loaded = kernel_new(home, 0, 0, &options, why, sizeof why);
    struct snapshot_choice choice = { .at_most = UINT64_MAX };
    struct snapshot_load_report load;
    noun pending;
    if (!loaded || snapshot_load(snapshots, loaded, &choice, &pending, &load, NULL, NULL, &error) != SNAPSHOT_LOADED) {
        fprintf(stderr, "bench_snapshot: %s\n", loaded ? error.message : why);
        return 1;
    }
    printf("  %-34s %8.3f s  (read and check %.3f s, cue and copy to home %.3f s)\n", "load",
           (double)(load.read_ns + load.cue_ns) / 1e9, (double)load.read_ns / 1e9, (double)load.cue_ns / 1e9);
    kernel_free(loaded);
    kernel_free(kernel);
    snapshot_store_close(snapshots);
    evlog_close(log);
    noun_home_free(home);
    noun_region_free(region);
    bool ok = bench_pma(directory, leaf_count, leaves, level, jam_change_ns, load.read_ns + load.cue_ns);
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    return system(command) == 0 && ok ? 0 : 1;
}
