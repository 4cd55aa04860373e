/* compare.c -- run one workload under each backend and tabulate it. */
#include "repl/compare.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp/backend.h"
#include "interp/clock.h"
#include "repl/samples.h"
#include "repl/store.h"


/* Remove a store directory this module made before: the files a store
 * has (and nothing else, so a directory of someone else's is left). */
static void remove_store(const char *path)
{
    char file[600];
    const char *names[] = { "events.sqlite", "events.sqlite-wal", "events.sqlite-shm", "events.head",
                            "snapshot-a.jam", "snapshot-b.jam", "lock" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        unlink(file);
    }
    rmdir(path);
}

/* Run one backend into `row`; false when the observer stopped it before
 * it began. */
static bool run_one(struct noun_home *home, const char *backend, const char *sample, uint64_t count,
                    const char *directory, unsigned workers, int child_nice, const struct compare_observer *observer,
                    size_t index, size_t backend_count, struct compare_row *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->backend, sizeof row->backend, "%s", backend);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", directory, backend);
    remove_store(path);
    noun kernel;
    struct store_error error = { 0 };
    if (!samples_load_kernel(sample, home, &kernel, row->error, sizeof row->error))
        return true;
    struct store *store = store_open(path, true, home, &error);
    if (!store) {
        snprintf(row->error, sizeof row->error, "%.199s", error.message);
        return true;
    }
    bool (*running)(void *, const char *, size_t, size_t, struct store *) = observer ? observer->running : NULL;
    if (running && !running(observer->context, backend, index, backend_count, store)) {
        running(observer->context, backend, index, backend_count, NULL);
        store_close(store);
        return false;
    }
    struct store_generate_result result;
    double cpu_before = clock_process_cpu_seconds();
    bool ok = store_set_backend(store, backend, workers, child_nice, &error) &&
              store_boot(store, sample, kernel, &error) &&
              store_generate(store, sample, count, 1, observer ? observer->listener : NULL, &result, &error);
    row->cpu_seconds = clock_process_cpu_seconds() - cpu_before;
    if (ok) {
        struct kernel_backend *used = store_backend(store);
        struct kernel_backend_stats stats = { 0 };
        if (used->stats)
            used->stats(used->self, &stats);
        row->ok = true;
        row->wall_seconds = result.seconds;
        row->events = result.last_event;
        row->gap_p50_ns = result.gap_p50_ns;
        row->gap_p99_ns = result.gap_p99_ns;
        row->spawns = stats.spawns;
        row->bytes_back = stats.bytes_back;
        row->dedup_lookups = stats.dedup_lookups;
        row->dedup_hits = stats.dedup_hits;
        row->par_maps = stats.par_maps;
        row->start_ns = stats.start_ns;
        row->mug = result.mug;
        row->run_id = result.run_id;
    } else {
        snprintf(row->error, sizeof row->error, "%.199s", error.message);
    }
    if (running)
        running(observer->context, backend, index, backend_count, NULL);
    store_close(store);
    return true;
}

bool compare_backends(struct noun_home *home, const char *sample, uint64_t count, const char *directory,
                      unsigned workers, int child_nice, const struct compare_observer *observer,
                      struct compare_row *rows, size_t max_rows, size_t *row_count, char *why, size_t why_size)
{
    *row_count = 0;
    if (!samples_known(sample)) {
        snprintf(why, why_size, "no sample named %s (the samples are %s)", sample, samples_names());
        return false;
    }
    if (mkdir(directory, 0777) != 0 && errno != EEXIST) {
        snprintf(why, why_size, "cannot make %s: %s", directory, strerror(errno));
        return false;
    }
    size_t backend_count;
    const struct backend_entry *backends = backend_list(&backend_count);
    for (size_t i = 0; i < backend_count && *row_count < max_rows; i++) {
        if (!run_one(home, backends[i].name, sample, count, directory, workers, child_nice, observer, i,
                     backend_count, &rows[*row_count]))
            break;
        (*row_count)++;
    }
    return true;
}

void compare_summary(const struct compare_row *rows, size_t row_count, char *out, size_t size)
{
    double serial_wall = 0;
    for (size_t i = 0; i < row_count; i++)
        if (rows[i].ok && strcmp(rows[i].backend, "serial") == 0)
            serial_wall = rows[i].wall_seconds;
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < row_count && used < size; i++) {
        const struct compare_row *row = &rows[i];
        const char *separator = i ? "; " : "";
        int written;
        if (!row->ok)
            written = snprintf(out + used, size - used, "%s%s failed", separator, row->backend);
        else if (serial_wall > 0 && row->wall_seconds > 0)
            written = snprintf(out + used, size - used, "%s%s %.2fs %.2fx", separator, row->backend,
                               row->wall_seconds, serial_wall / row->wall_seconds);
        else
            written = snprintf(out + used, size - used, "%s%s %.2fs", separator, row->backend, row->wall_seconds);
        if (written < 0)
            break;
        used += (size_t)written;
    }
}

/* "48.1 ms", "2.35 s", "310 us". */
static void format_duration(uint64_t nanoseconds, char *out, size_t size)
{
    double value = (double)nanoseconds;
    if (value >= 1e9)
        snprintf(out, size, "%.2f s", value / 1e9);
    else if (value >= 1e6)
        snprintf(out, size, "%.1f ms", value / 1e6);
    else
        snprintf(out, size, "%.0f us", value / 1e3);
}

size_t compare_format(const struct compare_row *rows, size_t row_count, char lines[][160], size_t max_lines)
{
    size_t line = 0;
    if (max_lines < row_count + 1)
        return 0;
    snprintf(lines[line++], 160, "%-8s %8s %8s %7s %9s %9s %9s %6s %9s %10s %11s %8s", "backend", "wall", "cpu",
             "speedup", "events/s", "p50 wait", "p99 wait", "spawns", "start", "bytes back", "dedup hits", "%par");
    double serial_wall = 0;
    for (size_t i = 0; i < row_count; i++)
        if (rows[i].ok && strcmp(rows[i].backend, "serial") == 0)
            serial_wall = rows[i].wall_seconds;
    for (size_t i = 0; i < row_count; i++) {
        const struct compare_row *row = &rows[i];
        if (!row->ok) {
            snprintf(lines[line++], 160, "%-8s failed: %.140s", row->backend, row->error);
            continue;
        }
        char p50[16], p99[16], speedup[16], hits[32], start[16] = "-";
        format_duration(row->gap_p50_ns, p50, sizeof p50);
        if (row->spawns)
            format_duration(row->start_ns / row->spawns, start, sizeof start);
        format_duration(row->gap_p99_ns, p99, sizeof p99);
        snprintf(speedup, sizeof speedup, "%.2fx", serial_wall > 0 && row->wall_seconds > 0 ? serial_wall / row->wall_seconds : 0);
        snprintf(hits, sizeof hits, "%llu/%llu", (unsigned long long)row->dedup_hits,
                 (unsigned long long)row->dedup_lookups);
        snprintf(lines[line++], 160, "%-8s %7.2fs %7.2fs %7s %9.0f %9s %9s %6llu %9s %10llu %11s %8llu", row->backend,
                 row->wall_seconds, row->cpu_seconds, speedup,
                 row->wall_seconds > 0 ? (double)row->events / row->wall_seconds : 0, p50, p99,
                 (unsigned long long)row->spawns, start, (unsigned long long)row->bytes_back, hits,
                 (unsigned long long)row->par_maps);
    }
    return line;
}
