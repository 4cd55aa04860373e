/* monitor.c -- the live numbers behind the panes (see monitor.h).
 *
 * Recent events sit in a ring.  Percentiles over a whole run come from a
 * log-linear histogram of wall times: eight buckets per power of two, so a
 * percentile is within 12.5% of the true value, in constant memory however
 * long the run.
 */
#include "profiler/monitor.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/clock.h"

#define HISTOGRAM_BUCKETS 512
/* Events per second: monitor_read notes the event count every
 * CHECKPOINT_NS and divides what happened since the one about a second
 * back; the ring of recent events alone can't say (a run that applies a
 * few thousand events between two commits fills it in milliseconds). */
#define CHECKPOINTS 32
#define CHECKPOINT_NS 100000000u

struct monitor {
    pthread_mutex_t lock;
    int watched;                             /* atomic */
    char activity[96];
    uint64_t events, done, total;
    struct monitor_event ring[MONITOR_RECENT]; /* ring[(next - 1) % N] is the newest */
    uint64_t next;
    uint64_t histogram[HISTOGRAM_BUCKETS];
    uint64_t max_wall_ns;
    struct noun_dedup_stats dedup;
    uint64_t dedup_saved_at_start;
    bool dedup_start_known;
    struct monitor_snapshots snapshots;
    struct monitor_backend backend;
    uint64_t state_reported_ns;              /* see monitor_state_due */
    struct {
        uint64_t ns, events;
    } checkpoints[CHECKPOINTS];              /* checkpoints[(checkpoint_next - 1) % N] is the newest */
    uint64_t checkpoint_next;
};

static struct monitor *the_monitor;
static pthread_once_t made = PTHREAD_ONCE_INIT;

static void make_monitor(void)
{
    the_monitor = calloc(1, sizeof *the_monitor);
    if (the_monitor)
        pthread_mutex_init(&the_monitor->lock, NULL);
}

struct monitor *monitor_process(void)
{
    pthread_once(&made, make_monitor);
    return the_monitor;
}

bool monitor_watched(const struct monitor *monitor)
{
    return monitor && __atomic_load_n(&monitor->watched, __ATOMIC_RELAXED);
}

void monitor_set_watched(struct monitor *monitor, bool watched)
{
    __atomic_store_n(&monitor->watched, watched, __ATOMIC_RELAXED);
}

static size_t bucket_of(uint64_t value)
{
    if (value < 8)
        return (size_t)value;
    int exponent = 63 - __builtin_clzll(value);
    return 8 + (size_t)(exponent - 3) * 8 + ((value >> (exponent - 3)) & 7);
}

/* The largest value that falls in bucket `index`. */
static uint64_t bucket_top(size_t index)
{
    if (index < 8)
        return index;
    size_t exponent = (index - 8) / 8 + 3, sub = (index - 8) % 8;
    return ((8 + sub + 1) << (exponent - 3)) - 1;
}

void monitor_begin_run(struct monitor *monitor, const char *activity, uint64_t total)
{
    pthread_mutex_lock(&monitor->lock);
    snprintf(monitor->activity, sizeof monitor->activity, "%s", activity);
    monitor->events = monitor->done = 0;
    monitor->total = total;
    monitor->next = 0;
    memset(monitor->histogram, 0, sizeof monitor->histogram);
    monitor->max_wall_ns = 0;
    monitor->dedup_start_known = false;
    monitor->checkpoint_next = 0;
    pthread_mutex_unlock(&monitor->lock);
}

void monitor_set_activity(struct monitor *monitor, const char *activity)
{
    pthread_mutex_lock(&monitor->lock);
    snprintf(monitor->activity, sizeof monitor->activity, "%s", activity);
    pthread_mutex_unlock(&monitor->lock);
}

void monitor_progress(struct monitor *monitor, uint64_t done, uint64_t total)
{
    if (!monitor_watched(monitor))
        return;
    pthread_mutex_lock(&monitor->lock);
    monitor->done = done;
    monitor->total = total;
    pthread_mutex_unlock(&monitor->lock);
}

void monitor_event(struct monitor *monitor, uint64_t number, const struct kernel_cost *cost)
{
    if (!monitor_watched(monitor))
        return;
    struct monitor_event event = {
        .number = number,
        .finished_ns = clock_wall_nanoseconds(),
        .wall_ns = cost->wall_ns,
        .cpu_ns = cost->cpu_ns,
        .steps = cost->steps,
        .bytes_allocated = cost->bytes_allocated,
        .copy_out_bytes = cost->copy_out_bytes,
        .dedup_lookups = cost->dedup_lookups,
        .dedup_hits = cost->dedup_hits,
        .dirty_pages = cost->dirty_pages,
        .write_faults = cost->write_faults,
    };
    pthread_mutex_lock(&monitor->lock);
    monitor->ring[monitor->next++ % MONITOR_RECENT] = event;
    monitor->events++;
    monitor->histogram[bucket_of(event.wall_ns)]++;
    if (event.wall_ns > monitor->max_wall_ns)
        monitor->max_wall_ns = event.wall_ns;
    pthread_mutex_unlock(&monitor->lock);
}

void monitor_dirty_pages(struct monitor *monitor, uint64_t number, uint64_t pages)
{
    if (!monitor_watched(monitor))
        return;
    pthread_mutex_lock(&monitor->lock);
    struct monitor_event *newest = monitor->next ? &monitor->ring[(monitor->next - 1) % MONITOR_RECENT] : NULL;
    if (newest && newest->number == number)
        newest->dirty_pages = pages;
    pthread_mutex_unlock(&monitor->lock);
}

bool monitor_state_due(struct monitor *monitor)
{
    if (!monitor_watched(monitor))
        return false;
    uint64_t now = clock_wall_nanoseconds();
    uint64_t last = __atomic_load_n(&monitor->state_reported_ns, __ATOMIC_RELAXED);
    if (now - last < MONITOR_STATE_PERIOD_NS)
        return false;
    __atomic_store_n(&monitor->state_reported_ns, now, __ATOMIC_RELAXED);
    return true;
}

void monitor_dedup(struct monitor *monitor, const struct noun_dedup_stats *dedup)
{
    if (!monitor_watched(monitor))
        return;
    pthread_mutex_lock(&monitor->lock);
    if (!monitor->dedup_start_known) {
        monitor->dedup_saved_at_start = dedup->bytes_saved;
        monitor->dedup_start_known = true;
    }
    monitor->dedup = *dedup;
    pthread_mutex_unlock(&monitor->lock);
}

void monitor_snapshots(struct monitor *monitor, const struct monitor_snapshots *snapshots)
{
    pthread_mutex_lock(&monitor->lock);
    monitor->snapshots = *snapshots;
    pthread_mutex_unlock(&monitor->lock);
}

void monitor_backend(struct monitor *monitor, const struct monitor_backend *backend)
{
    pthread_mutex_lock(&monitor->lock);
    monitor->backend = *backend;
    pthread_mutex_unlock(&monitor->lock);
}

static uint64_t percentile(const struct monitor *monitor, double fraction)
{
    if (monitor->events == 0)
        return 0;
    uint64_t rank = (uint64_t)(fraction * (double)monitor->events + 0.999999);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++) {
        seen += monitor->histogram[i];
        if (seen >= rank) {
            uint64_t top = bucket_top(i);
            return top < monitor->max_wall_ns ? top : monitor->max_wall_ns;
        }
    }
    return monitor->max_wall_ns;
}

/* Events per second over about the last second, from the checkpoints
 * (under the lock); negative when they don't span enough time yet. */
static double checkpoint_rate(struct monitor *monitor, uint64_t now)
{
    uint64_t newest = monitor->checkpoint_next;
    if (newest == 0 || now - monitor->checkpoints[(newest - 1) % CHECKPOINTS].ns >= CHECKPOINT_NS) {
        monitor->checkpoints[newest % CHECKPOINTS].ns = now;
        monitor->checkpoints[newest % CHECKPOINTS].events = monitor->events;
        monitor->checkpoint_next = ++newest;
    }
    /* the newest checkpoint a second old or more, else the oldest kept
     * if it is at least a fifth of a second old */
    uint64_t kept = newest < CHECKPOINTS ? newest : CHECKPOINTS;
    for (uint64_t back = 1; back <= kept; back++) {
        const uint64_t index = (newest - back) % CHECKPOINTS;
        uint64_t age = now - monitor->checkpoints[index].ns;
        if (age >= 1000000000u || (back == kept && age >= 200000000u))
            return (double)(monitor->events - monitor->checkpoints[index].events) * 1e9 / (double)age;
    }
    return -1;
}

void monitor_read(struct monitor *monitor, struct monitor_view *view)
{
    uint64_t now = clock_wall_nanoseconds();
    pthread_mutex_lock(&monitor->lock);
    snprintf(view->activity, sizeof view->activity, "%s", monitor->activity);
    view->events = monitor->events;
    view->done = monitor->done;
    view->total = monitor->total;
    size_t count = monitor->next < MONITOR_RECENT ? (size_t)monitor->next : MONITOR_RECENT;
    for (size_t i = 0; i < count; i++)
        view->recent[i] = monitor->ring[(monitor->next - 1 - i) % MONITOR_RECENT];
    view->recent_count = count;
    view->p50_wall_ns = percentile(monitor, 0.50);
    view->p99_wall_ns = percentile(monitor, 0.99);
    view->max_wall_ns = monitor->max_wall_ns;
    view->dedup = monitor->dedup;
    view->dedup_saved_in_run = monitor->dedup_start_known ? monitor->dedup.bytes_saved - monitor->dedup_saved_at_start : 0;
    view->snapshots = monitor->snapshots;
    view->backend = monitor->backend;
    double rate = checkpoint_rate(monitor, now);
    pthread_mutex_unlock(&monitor->lock);
    if (rate >= 0) {
        view->events_per_second = rate;
        return;
    }
    /* a first look: the events that finished in the last second, or the
     * rate across the ring when it holds less than a second */
    size_t in_second = 0;
    while (in_second < count && now - view->recent[in_second].finished_ns <= 1000000000u)
        in_second++;
    if (in_second == count && count > 1) {
        uint64_t span = now - view->recent[count - 1].finished_ns;
        view->events_per_second = span ? (double)count * 1e9 / (double)span : 0;
    } else {
        view->events_per_second = (double)in_second;
    }
}
