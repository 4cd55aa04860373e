/* bench_dirty_tracking.c -- how the PMA could learn which pages of home an
 * event wrote: the three ways Linux offers, measured on one workload.
 *
 *   mprotect    after a snapshot the pages written since the last one are
 *               made read-only again (the first time, the whole region);
 *               the first write to a page faults (SIGSEGV) and the handler
 *               records the page and makes it writable again
 *   soft-dirty  after a snapshot "4" is written to /proc/self/clear_refs;
 *               at the next one /proc/self/pagemap says (bit 55) which
 *               pages were written since
 *   uffd-wp     userfaultfd write-protect: the region is registered in
 *               write-protect mode, and the pages written are protected
 *               again after a snapshot (like mprotect's); a write
 *               stops the writer until a handler thread has recorded the
 *               page and lifted the protection of that page
 *
 * Workload: a region of REGION_MIB MiB (every page written once first),
 * events that each write one word in PAGES_PER_EVENT random pages, and a
 * snapshot -- collect the dirty set, then re-arm -- every EVENTS_PER_SNAPSHOT
 * events.  Each method's dirty set is checked against the pages actually
 * written.  Anonymous memory (the PMA would map a file MAP_PRIVATE; faults
 * are handled the same way).
 *
 *   build/bench/bench_dirty_tracking [region-MiB]
 *
 * Prints per method: nanoseconds per event and the overhead over no
 * tracking, nanoseconds per write fault, milliseconds per snapshot to
 * collect and re-arm, and whether the dirty set was exact; then the
 * process's CPU time per event, which a machine busy with other work
 * inflates less than the wall clock figures.  This is a
 * measurement to choose by; it has no target.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interp/clock.h"

#define PAGE 4096u
#define REGION_MIB_DEFAULT 1024u
#define PAGES_PER_EVENT 8u
#define EVENTS_PER_SNAPSHOT 64u
#define SNAPSHOTS 40u

static char *region;
static size_t region_pages;
static uint8_t *written;      /* pages the workload wrote since the last arm */
static uint8_t *recorded;     /* pages the method says were written */
static volatile uint64_t faults;
static uint64_t random_state = 88172645463325252ull;

static uint64_t next_random(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

/* ---- the methods --------------------------------------------------------------- */

struct method {
    const char *name;
    bool (*start)(char *why, size_t why_size);   /* once */
    bool (*arm)(void);                           /* after each snapshot */
    bool (*collect)(void);                       /* fill `recorded` */
    void (*stop)(void);
};

static bool nothing_start(char *why, size_t why_size) { return true; }
static bool nothing(void) { return true; }
static void nothing_stop(void) {}

/* mprotect + SIGSEGV */
static void on_write_fault(int signal_number, siginfo_t *info, void *context)
{
    char *address = info->si_addr;
    if (address < region || address >= region + region_pages * PAGE) {
        signal(SIGSEGV, SIG_DFL);
        return;
    }
    size_t page = (size_t)(address - region) / PAGE;
    recorded[page] = 1;
    faults++;
    if (mprotect(region + page * PAGE, PAGE, PROT_READ | PROT_WRITE) != 0)
        _exit(70); /* too many mappings: the kernel's vm.max_map_count */
}

static bool mprotect_start(char *why, size_t why_size)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_write_fault;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGSEGV, &action, NULL) == 0;
}

/* Re-arm only what the last interval unprotected: runs of recorded pages
 * (the first time, the whole region).  `protect` does one run. */
static bool armed_once; /* reset for each method */

static bool rearm_recorded(bool (*protect)(char *start, size_t bytes))
{
    if (!armed_once) {
        armed_once = true;
        memset(recorded, 0, region_pages);
        return protect(region, region_pages * PAGE);
    }
    for (size_t page = 0; page < region_pages;) {
        if (!recorded[page]) {
            page++;
            continue;
        }
        size_t end = page;
        while (end < region_pages && recorded[end])
            recorded[end++] = 0;
        if (!protect(region + page * PAGE, (end - page) * PAGE))
            return false;
        page = end;
    }
    return true;
}

static bool read_only(char *start, size_t bytes) { return mprotect(start, bytes, PROT_READ) == 0; }

static bool mprotect_arm(void) { return rearm_recorded(read_only); }

static void mprotect_stop(void)
{
    mprotect(region, region_pages * PAGE, PROT_READ | PROT_WRITE);
    signal(SIGSEGV, SIG_DFL);
}

/* soft-dirty */
static int pagemap_fd = -1, clear_refs_fd = -1;

static bool soft_dirty_arm(void) { return pwrite(clear_refs_fd, "4", 1, 0) == 1; }

static bool soft_dirty_collect(void)
{
    static uint64_t entries[4096];
    off_t offset = (off_t)((uintptr_t)region / PAGE * sizeof(uint64_t));
    for (size_t done = 0; done < region_pages;) {
        size_t count = region_pages - done < 4096 ? region_pages - done : 4096;
        ssize_t got = pread(pagemap_fd, entries, count * sizeof(uint64_t), offset + (off_t)(done * sizeof(uint64_t)));
        if (got != (ssize_t)(count * sizeof(uint64_t)))
            return false;
        for (size_t i = 0; i < count; i++)
            recorded[done + i] = (entries[i] >> 55) & 1;
        done += count;
    }
    return true;
}

static bool soft_dirty_start(char *why, size_t why_size)
{
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    clear_refs_fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (pagemap_fd < 0 || clear_refs_fd < 0) {
        snprintf(why, why_size, "cannot open /proc/self/pagemap or clear_refs: %s", strerror(errno));
        return false;
    }
    /* does the kernel keep the bit at all? */
    if (!soft_dirty_arm())
        return snprintf(why, why_size, "clear_refs refuses 4: %s", strerror(errno)), false;
    region[0] = 1;
    if (!soft_dirty_collect() || !recorded[0]) {
        snprintf(why, why_size, "pagemap never reports a page soft-dirty (kernel without CONFIG_MEM_SOFT_DIRTY?)");
        return false;
    }
    return true;
}

static void soft_dirty_stop(void)
{
    close(pagemap_fd);
    close(clear_refs_fd);
}

/* userfaultfd write-protect, faults served by a thread */
static int uffd = -1;
static pthread_t uffd_thread;
static volatile int uffd_stopping;

static bool protect_range(char *start, size_t bytes, bool protect)
{
    struct uffdio_writeprotect request = {
        .range = { .start = (uintptr_t)start, .len = bytes },
        .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
    };
    return ioctl(uffd, UFFDIO_WRITEPROTECT, &request) == 0;
}

static void *serve_faults(void *unused)
{
    struct pollfd wait = { .fd = uffd, .events = POLLIN };
    while (!uffd_stopping) {
        if (poll(&wait, 1, 50) <= 0)
            continue;
        struct uffd_msg message;
        if (read(uffd, &message, sizeof message) != sizeof message)
            continue;
        if (message.event != UFFD_EVENT_PAGEFAULT || !(message.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP))
            continue;
        uintptr_t address = (uintptr_t)message.arg.pagefault.address & ~(uintptr_t)(PAGE - 1);
        recorded[(address - (uintptr_t)region) / PAGE] = 1;
        faults++;
        protect_range((char *)address, PAGE, false); /* also wakes the writer */
    }
    return NULL;
}

static bool uffd_start(char *why, size_t why_size)
{
    uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (uffd < 0) {
        snprintf(why, why_size, "userfaultfd: %s", strerror(errno));
        return false;
    }
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
    struct uffdio_register registration = {
        .range = { .start = (uintptr_t)region, .len = region_pages * PAGE },
        .mode = UFFDIO_REGISTER_MODE_WP,
    };
    if (ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &registration) != 0) {
        snprintf(why, why_size, "userfaultfd write-protect not available: %s", strerror(errno));
        close(uffd);
        return false;
    }
    uffd_stopping = 0;
    return pthread_create(&uffd_thread, NULL, serve_faults, NULL) == 0;
}

static bool write_protect(char *start, size_t bytes) { return protect_range(start, bytes, true); }

static bool uffd_arm(void) { return rearm_recorded(write_protect); }

static void uffd_stop(void)
{
    protect_range(region, region_pages * PAGE, false);
    uffd_stopping = 1;
    pthread_join(uffd_thread, NULL);
    close(uffd);
}

static const struct method methods[] = {
    { "none", nothing_start, nothing, nothing, nothing_stop },
    { "mprotect", mprotect_start, mprotect_arm, nothing, mprotect_stop },
    { "soft-dirty", soft_dirty_start, soft_dirty_arm, soft_dirty_collect, soft_dirty_stop },
    { "uffd-wp", uffd_start, uffd_arm, nothing, uffd_stop },
};

/* ---- the workload -------------------------------------------------------------- */

struct result {
    uint64_t event_ns, snapshot_ns, faults;
    uint64_t cpu_ns;          /* the process's CPU time (every thread), whole run */
    uint64_t missed, extra;   /* pages written but not recorded, and the reverse */
};

static uint64_t process_cpu_ns(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return ((uint64_t)usage.ru_utime.tv_sec + (uint64_t)usage.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)usage.ru_utime.tv_usec + (uint64_t)usage.ru_stime.tv_usec) * 1000u;
}

static bool measure(const struct method *method, struct result *result, char *why, size_t why_size)
{
    memset(result, 0, sizeof *result);
    random_state = 88172645463325252ull;
    if (!method->start(why, why_size))
        return false;
    faults = 0;
    armed_once = false;
    uint64_t cpu_started = process_cpu_ns();
    bool ok = method->arm();
    memset(written, 0, region_pages);
    for (unsigned snapshot = 0; ok && snapshot < SNAPSHOTS; snapshot++) {
        uint64_t started = clock_wall_nanoseconds();
        for (unsigned event = 0; event < EVENTS_PER_SNAPSHOT; event++) {
            for (unsigned i = 0; i < PAGES_PER_EVENT; i++) {
                size_t page = next_random() % region_pages;
                written[page] = 1;
                region[page * PAGE + (next_random() % (PAGE / 8)) * 8] ^= 1;
            }
        }
        uint64_t events_done = clock_wall_nanoseconds();
        ok = method->collect();
        uint64_t collected = clock_wall_nanoseconds();
        if (ok && strcmp(method->name, "none") != 0) {
            for (size_t page = 0; page < region_pages; page++) {
                result->missed += written[page] && !recorded[page];
                result->extra += !written[page] && recorded[page];
            }
        }
        uint64_t checked = clock_wall_nanoseconds();
        ok = ok && method->arm();
        memset(written, 0, region_pages);
        result->event_ns += events_done - started;
        result->snapshot_ns += (collected - events_done) + (clock_wall_nanoseconds() - checked);
    }
    result->faults = faults;
    result->cpu_ns = process_cpu_ns() - cpu_started;
    method->stop();
    if (!ok)
        snprintf(why, why_size, "failed while running: %s", strerror(errno));
    return ok;
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : REGION_MIB_DEFAULT;
    if (!mib)
        mib = REGION_MIB_DEFAULT;
    region_pages = mib * 1024 * 1024 / PAGE;
    region = mmap(NULL, region_pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    written = calloc(region_pages, 1);
    recorded = calloc(region_pages, 1);
    if (region == MAP_FAILED || !written || !recorded) {
        fprintf(stderr, "bench_dirty_tracking: cannot map %zu MiB\n", mib);
        return 1;
    }
    madvise(region, region_pages * PAGE, MADV_NOHUGEPAGE);
    for (size_t page = 0; page < region_pages; page++)
        region[page * PAGE] = 1;
    printf("dirty tracking: %zu MiB region, %u pages written per event, snapshot every %u events, %u snapshots\n",
           mib, PAGES_PER_EVENT, EVENTS_PER_SNAPSHOT, SNAPSHOTS);
    double baseline = 0, baseline_cpu = 0;
    for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
        struct result result;
        char why[200] = "";
        if (!measure(&methods[m], &result, why, sizeof why)) {
            printf("  %-10s  not measured: %s\n", methods[m].name, why);
            continue;
        }
        double events = (double)SNAPSHOTS * EVENTS_PER_SNAPSHOT;
        double per_event = (double)result.event_ns / events;
        double cpu_per_event = (double)result.cpu_ns / events;
        if (m == 0) {
            baseline = per_event;
            baseline_cpu = cpu_per_event;
            printf("  %-10s  %8.0f ns/event (cpu %.0f ns/event)\n", methods[m].name, per_event, cpu_per_event);
            continue;
        }
        printf("  %-10s  %8.0f ns/event (+%.0f%%), %6.0f ns per write fault, %7.2f ms per snapshot to collect "
               "and re-arm, dirty set %s (missed %llu, extra %llu)\n",
               methods[m].name, per_event, baseline > 0 ? (per_event / baseline - 1) * 100 : 0,
               result.faults ? (double)(result.event_ns - baseline * events) / (double)result.faults : 0,
               (double)result.snapshot_ns / SNAPSHOTS / 1e6,
               result.missed == 0 && result.extra == 0 ? "exact" : result.missed ? "WRONG" : "a superset",
               (unsigned long long)result.missed, (unsigned long long)result.extra);
        printf("  %-10s  cpu %.0f ns/event, %.0f ns per write fault (snapshots included)\n", "",
               cpu_per_event, result.faults ? (cpu_per_event - baseline_cpu) * events / (double)result.faults : 0);
    }
    return 0;
}
