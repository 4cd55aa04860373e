/* pma.c -- the persistent memory arena (see pma.h).
 *
 * The file is a sequence of 4096-byte pages, little-endian throughout:
 *
 *   page 0, page 1   metadata slots A and B, written alternately
 *   pages 2 ..       data pages (copies of arena pages) and directory
 *                    nodes (pma_directory.c has their format), placed
 *                    wherever a free page was
 *
 * A metadata slot (the rest of its page is zero):
 *
 *   offset  size  field
 *        0     8  magic "nockpma\0"
 *        8     4  format version (PMA_VERSION)
 *       12     4  page size, 4096
 *       16     8  sequence: one more than the newest slot's when written
 *       24     8  base address of the arena
 *       32     8  home bytes in use (the arena's first used bytes)
 *       40     8  kernel noun
 *       48     8  pending noun
 *       56     8  event number
 *       64     4  kernel mug
 *       68     4  directory depth (0: empty)
 *       72     8  directory root file page (0: empty)
 *       80     8  data pages: logical pages 0 .. N-1, N = ceil(used / 4096)
 *       88     8  directory nodes
 *       96     8  file pages when written (the file may be longer)
 *      104     8  xxh3-64 of bytes 0 .. 103
 *
 * Committing a snapshot (pma_snapshot), and why a crash at any instant
 * leaves the previous one loadable:
 *
 *   1. Each dirty arena page is written to a free file page: never one
 *      that either slot's snapshot uses, so both stay whole.
 *   2. The directory nodes on the paths to those pages are written, again
 *      to free pages (copy-on-write: the old nodes stay as they were).
 *   3. fdatasync: data and nodes are on disk before anything points at
 *      them.
 *   4. The slot holding the older snapshot is overwritten with the new
 *      metadata (sequence one higher), then fdatasync.  A crash before
 *      this write completes leaves that slot torn (its checksum fails) or
 *      old, and the newest slot untouched, so the previous snapshot loads;
 *      after the fsync the new one does.
 *
 * Free pages.  A page the new snapshot no longer uses (the old copy of a
 * dirty page, a replaced node) is still used by the snapshot before it,
 * which the other slot describes until the snapshot after next overwrites
 * that slot.  So pages released by snapshot K become free only once
 * snapshot K+1 is durable.  On load the free list is rebuilt: every page
 * neither slot's directory uses is free, and the pages only the older slot
 * uses wait for the next snapshot.
 *
 * Loading maps each run of consecutive data pages that sit in consecutive
 * file pages with one mmap, MAP_PRIVATE: writes go to private copies and
 * the file changes only through snapshots.  When the runs would need too
 * many mappings, the pages are read (pread) into anonymous memory instead.
 *
 * Dirty tracking.  Pages of the last snapshot are read-only; the SIGSEGV
 * handler below sets the page's bit in an atomic bitmap and makes the page
 * writable.  It uses only atomics and mprotect, both safe in a handler and
 * from several threads at once.  When mprotect fails (a process may only
 * have so many mappings, and each unprotected page can split one), the
 * handler opens the page's whole 2 MiB block, or failing that the whole
 * arena, and counts all of it dirty: slower snapshots, never a lost write.
 */
#define _GNU_SOURCE
#include "snapshots/pma.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "interp/clock.h"
#include "snapshots/pma_directory.h"

#define PAGE PMA_PAGE_BYTES
#define SLOT_BYTES 112
#define SLOT_CHECKSUMMED 104
#define FIRST_DATA_PAGE 2
static const char slot_magic[8] = { 'n', 'o', 'c', 'k', 'p', 'm', 'a', 0 };
/* More runs than this are read rather than mapped (the kernel's default
 * limit is 65,530 mappings per process, and dirty tracking splits some). */
#define MAX_MAPPED_RUNS 16384
/* Pages the fault handler opens at once when one page cannot be. */
#define FALLBACK_BLOCK_PAGES 512
#define MAX_OPEN 16
/* Where a new file may put its arena when the default address is taken. */
#define PMA_BASE_CHOICES 16
#define PMA_BASE_STRIDE ((uintptr_t)1 << 42)
/* Writes of data pages are gathered into runs of at most this many. */
#define MAX_WRITE_RUN_PAGES 4096

/* A metadata slot, decoded. */
struct slot {
    uint64_t sequence;
    uint64_t base;
    struct pma_roots roots;
    uint32_t depth;
    uint64_t root_page;
    uint64_t data_pages;
    uint64_t nodes;
    uint64_t file_pages;
};

/* The open PMA.  `arena` comes first so the arena's pointer is the
 * PMA's.  The first `tracked_pages` pages of the arena are those of the
 * last snapshot (loaded or saved): read-only until written, when their bit
 * in `dirty_bits` is set.  Pages from there to `committed` are plain
 * anonymous memory.  The rest of `capacity` is reserved, inaccessible. */
struct pma {
    struct noun_arena arena;
    char *path;
    int fd;
    char *base;
    size_t capacity;
    size_t committed;
    uint64_t tracked_pages;
    uint64_t *dirty_bits;        /* capacity / PAGE bits, atomically set */
    size_t dirty_bits_bytes;
    uint64_t dirty_tracked;      /* bits set (atomic) */
    uint64_t write_faults;       /* (atomic) */

    struct pma_directory *directory;
    uint64_t file_pages;         /* pages the file has (or will have) */
    struct pma_page_list free_pages;   /* sorted descending: the smallest is last */
    struct pma_page_list held;         /* released by the newest snapshot */
    struct pma_page_list released;     /* released by the snapshot being made */
    int newest_slot;             /* -1: neither slot holds a snapshot we know */
    uint64_t newest_sequence;    /* highest sequence either slot claimed */
    bool loaded;
    struct pma_roots loaded_roots;
    struct pma_stats last;
    int registry_index;
    bool tracking;               /* false: nothing protected, every page dirty */
    /* Until free_pages_known: the pages the loaded snapshot uses (a bitmap
     * over file_pages) and the other slot, whose pages are held. */
    bool free_pages_known;
    uint8_t *in_use;
    bool other_valid;
    struct slot other_slot;
};

/* Write tracking is on unless the environment variable NOCKLAB_PMA_TRACKING
 * is "0" when the PMA is opened: then no page is protected and each
 * snapshot writes every page -- for debuggers that stop at each SIGSEGV,
 * and to measure what tracking costs. */
static bool tracking_wanted(void)
{
    const char *text = getenv("NOCKLAB_PMA_TRACKING");
    return !(text && strcmp(text, "0") == 0);
}

static void set_error(struct pma_error *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct pma_error *error, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
}

static void tell(pma_notice *notice, void *context, const char *format, ...) __attribute__((format(printf, 3, 4)));

static void tell(pma_notice *notice, void *context, const char *format, ...)
{
    if (!notice)
        return;
    char text[700];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    notice(context, text);
}

/* ---- the fault handler ----------------------------------------------------------- */

static struct pma *registry[MAX_OPEN];       /* read by the handler (atomic loads) */
static struct sigaction previous_action;     /* the handler before ours */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

static void mark_range(struct pma *pma, uint64_t first, uint64_t count)
{
    for (uint64_t page = first; page < first + count; page++) {
        uint64_t bit = UINT64_C(1) << (page % 64);
        uint64_t old = __atomic_fetch_or(&pma->dirty_bits[page / 64], bit, __ATOMIC_RELAXED);
        if (!(old & bit))
            __atomic_add_fetch(&pma->dirty_tracked, 1, __ATOMIC_RELAXED);
    }
}

static void pass_on(int signal_number, siginfo_t *info, void *ucontext)
{
    if (previous_action.sa_flags & SA_SIGINFO) {
        previous_action.sa_sigaction(signal_number, info, ucontext);
        return;
    }
    if (previous_action.sa_handler == SIG_DFL || previous_action.sa_handler == SIG_IGN) {
        /* Returning re-runs the faulting instruction, which now gets the
         * default action. */
        struct sigaction fallback;
        memset(&fallback, 0, sizeof fallback);
        fallback.sa_handler = SIG_DFL;
        sigemptyset(&fallback.sa_mask);
        sigaction(SIGSEGV, &fallback, NULL);
        return;
    }
    previous_action.sa_handler(signal_number);
}

static void on_fault(int signal_number, siginfo_t *info, void *ucontext)
{
    char *address = info->si_addr;
    for (int i = 0; i < MAX_OPEN; i++) {
        struct pma *pma = __atomic_load_n(&registry[i], __ATOMIC_ACQUIRE);
        if (!pma)
            continue;
        uint64_t tracked = __atomic_load_n(&pma->tracked_pages, __ATOMIC_ACQUIRE);
        if (address < pma->base || address >= pma->base + tracked * PAGE)
            continue;
        uint64_t page = (uint64_t)(address - pma->base) / PAGE;
        __atomic_add_fetch(&pma->write_faults, 1, __ATOMIC_RELAXED);
        mark_range(pma, page, 1);
        if (mprotect(pma->base + page * PAGE, PAGE, PROT_READ | PROT_WRITE) == 0)
            return;
        uint64_t first = page / FALLBACK_BLOCK_PAGES * FALLBACK_BLOCK_PAGES;
        uint64_t count = first + FALLBACK_BLOCK_PAGES > tracked ? tracked - first : FALLBACK_BLOCK_PAGES;
        mark_range(pma, first, count);
        if (mprotect(pma->base + first * PAGE, count * PAGE, PROT_READ | PROT_WRITE) == 0)
            return;
        mark_range(pma, 0, tracked);
        if (mprotect(pma->base, tracked * PAGE, PROT_READ | PROT_WRITE) == 0)
            return;
        break; /* nothing more to try: a real fault */
    }
    pass_on(signal_number, info, ucontext);
}

/* Put our handler in front of whatever handles SIGSEGV now, unless it is
 * there already (someone may have installed another since). */
static bool install_handler(void)
{
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) != 0)
        return false;
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fault)
        return true;
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_fault;
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&ours.sa_mask);
    previous_action = current;
    return sigaction(SIGSEGV, &ours, NULL) == 0;
}

static bool register_pma(struct pma *pma)
{
    pthread_mutex_lock(&registry_lock);
    bool ok = install_handler();
    pma->registry_index = -1;
    for (int i = 0; ok && i < MAX_OPEN; i++) {
        if (!registry[i]) {
            __atomic_store_n(&registry[i], pma, __ATOMIC_RELEASE);
            pma->registry_index = i;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return ok && pma->registry_index >= 0;
}

static void unregister_pma(struct pma *pma)
{
    if (pma->registry_index < 0)
        return;
    pthread_mutex_lock(&registry_lock);
    __atomic_store_n(&registry[pma->registry_index], NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&registry_lock);
    pma->registry_index = -1;
}

/* ---- metadata slots ------------------------------------------------------------------ */

static void encode_slot(const struct slot *slot, uint8_t page[PAGE])
{
    memset(page, 0, PAGE);
    memcpy(page, slot_magic, 8);
    pma_put32(page + 8, PMA_VERSION);
    pma_put32(page + 12, PAGE);
    pma_put64(page + 16, slot->sequence);
    pma_put64(page + 24, slot->base);
    pma_put64(page + 32, slot->roots.used_bytes);
    pma_put64(page + 40, slot->roots.kernel);
    pma_put64(page + 48, slot->roots.pending);
    pma_put64(page + 56, slot->roots.event_number);
    pma_put32(page + 64, slot->roots.mug);
    pma_put32(page + 68, slot->depth);
    pma_put64(page + 72, slot->root_page);
    pma_put64(page + 80, slot->data_pages);
    pma_put64(page + 88, slot->nodes);
    pma_put64(page + 96, slot->file_pages);
    pma_put64(page + SLOT_CHECKSUMMED, XXH3_64bits(page, SLOT_CHECKSUMMED));
}

/* Whether `n` is a direct atom or names an address in the arena's used
 * part where a whole object header fits. */
static bool noun_in(noun n, uint64_t base, uint64_t used)
{
    if (noun_is_direct(n))
        return true;
    uint64_t address = n & NOUN_ADDRESS_MASK;
    return n != NOUN_NONE && address % 8 == 0 && address >= base && address - base + sizeof(struct noun_cell) <= used;
}

/* Decode and check one slot on its own (its directory is checked apart). */
static bool decode_slot(const uint8_t *page, size_t length, uint64_t actual_pages, struct slot *slot, char *why,
                        size_t why_size)
{
    if (length < SLOT_BYTES) {
        snprintf(why, why_size, "the file ends inside it (truncated)");
        return false;
    }
    bool blank = true;
    for (size_t i = 0; i < SLOT_BYTES && blank; i++)
        blank = page[i] == 0;
    if (blank) {
        snprintf(why, why_size, "empty");
        return false;
    }
    if (memcmp(page, slot_magic, 8) != 0) {
        snprintf(why, why_size, "not a nocklab PMA metadata slot (bad magic)");
        return false;
    }
    if (pma_get64(page + SLOT_CHECKSUMMED) != XXH3_64bits(page, SLOT_CHECKSUMMED)) {
        snprintf(why, why_size, "its checksum does not match (torn or corrupt)");
        return false;
    }
    if (pma_get32(page + 8) != PMA_VERSION || pma_get32(page + 12) != PAGE) {
        snprintf(why, why_size, "format version %u with %u-byte pages; this nocklab reads version %d with %u",
                 pma_get32(page + 8), pma_get32(page + 12), PMA_VERSION, PAGE);
        return false;
    }
    slot->sequence = pma_get64(page + 16);
    slot->base = pma_get64(page + 24);
    slot->roots.used_bytes = pma_get64(page + 32);
    slot->roots.kernel = pma_get64(page + 40);
    slot->roots.pending = pma_get64(page + 48);
    slot->roots.event_number = pma_get64(page + 56);
    slot->roots.mug = pma_get32(page + 64);
    slot->depth = pma_get32(page + 68);
    slot->root_page = pma_get64(page + 72);
    slot->data_pages = pma_get64(page + 80);
    slot->nodes = pma_get64(page + 88);
    slot->file_pages = pma_get64(page + 96);
    const char *problem = NULL;
    if (slot->base == 0 || slot->base % PAGE != 0 || slot->base >= (UINT64_C(1) << 47))
        problem = "its base address is not a usable page address";
    else if (slot->roots.used_bytes > (UINT64_C(1) << 46) || slot->base + slot->roots.used_bytes >= (UINT64_C(1) << 47))
        problem = "its arena would reach past the user address space";
    else if (slot->data_pages != (slot->roots.used_bytes + PAGE - 1) / PAGE)
        problem = "its page count does not match its bytes in use";
    else if (slot->file_pages < FIRST_DATA_PAGE || slot->file_pages > actual_pages)
        problem = NULL; /* reported below with the numbers */
    else if (!noun_in(slot->roots.kernel, slot->base, slot->roots.used_bytes) ||
             !noun_in(slot->roots.pending, slot->base, slot->roots.used_bytes))
        problem = "its roots point outside the arena";
    if (problem) {
        snprintf(why, why_size, "%s", problem);
        return false;
    }
    if (slot->file_pages < FIRST_DATA_PAGE || slot->file_pages > actual_pages) {
        snprintf(why, why_size, "it describes a file of %llu pages, but the file has %llu (truncated)",
                 (unsigned long long)slot->file_pages, (unsigned long long)actual_pages);
        return false;
    }
    return true;
}

static bool read_slot(int fd, int index, uint64_t actual_pages, struct slot *slot, char *why, size_t why_size)
{
    uint8_t page[PAGE];
    ssize_t got = pread(fd, page, sizeof page, (off_t)index * PAGE);
    if (got < 0) {
        snprintf(why, why_size, "cannot be read: %s", strerror(errno));
        return false;
    }
    return decode_slot(page, (size_t)got, actual_pages, slot, why, why_size);
}

/* Runs of data pages consecutive both in the arena and in the file, as a
 * directory is read. */
struct run {
    uint64_t logical, file, length;
};

struct run_list {
    struct run *runs;
    size_t count, capacity;
    bool out_of_memory;
};

static void gather_run(void *context, uint64_t logical, const struct pma_page_entry *entry)
{
    struct run_list *list = context;
    struct run *last = list->count ? &list->runs[list->count - 1] : NULL;
    if (last && logical == last->logical + last->length && entry->file_page == last->file + last->length) {
        last->length++;
        return;
    }
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        struct run *runs = realloc(list->runs, capacity * sizeof *runs);
        if (!runs) {
            list->out_of_memory = true;
            return;
        }
        list->runs = runs;
        list->capacity = capacity;
    }
    list->runs[list->count++] = (struct run){ logical, entry->file_page, 1 };
}

/* Read a checked slot's directory, checking it against the slot; its runs
 * of pages go to `runs` when not NULL. */
static struct pma_directory *read_slot_directory(int fd, const struct slot *slot, uint8_t *used,
                                                 struct run_list *runs, char *why, size_t why_size)
{
    char directory_why[250];
    struct pma_directory *directory = pma_directory_read(fd, slot->root_page, slot->depth, FIRST_DATA_PAGE,
                                                         slot->file_pages, used, runs ? gather_run : NULL, runs,
                                                         directory_why, sizeof directory_why);
    if (!directory) {
        snprintf(why, why_size, "its directory is damaged: %s", directory_why);
        return NULL;
    }
    struct pma_page_entry last;
    bool dense = pma_directory_count(directory) == slot->data_pages &&
                 (slot->data_pages == 0 || pma_directory_get(directory, slot->data_pages - 1, &last));
    if (!dense || pma_directory_nodes(directory) != slot->nodes) {
        snprintf(why, why_size, "its directory maps %llu pages in %llu nodes, the slot says %llu in %llu",
                 (unsigned long long)pma_directory_count(directory), (unsigned long long)pma_directory_nodes(directory),
                 (unsigned long long)slot->data_pages, (unsigned long long)slot->nodes);
        pma_directory_free(directory);
        return NULL;
    }
    return directory;
}

/* ---- page checks ------------------------------------------------------------------------ */

struct page_check {
    int fd;
    const char *memory;      /* the arena, when mapped; else read from fd */
    uint64_t bad_logical;
    bool bad;
    bool unreadable;
};

static void check_page(void *context, uint64_t logical, const struct pma_page_entry *entry)
{
    struct page_check *check = context;
    if (check->bad)
        return;
    uint8_t buffer[PAGE];
    const void *bytes = buffer;
    if (check->memory) {
        bytes = check->memory + logical * PAGE;
    } else if (pread(check->fd, buffer, PAGE, (off_t)(entry->file_page * PAGE)) != PAGE) {
        check->bad = check->unreadable = true;
        check->bad_logical = logical;
        return;
    }
    if (XXH3_64bits_withSeed(bytes, PAGE, logical) != entry->checksum) {
        check->bad = true;
        check->bad_logical = logical;
    }
}

/* ---- inspecting without mapping ---------------------------------------------------------- */

static void describe_slot(struct pma_slot_info *info, const struct slot *slot)
{
    info->sequence = slot->sequence;
    info->event_number = slot->roots.event_number;
    info->mug = slot->roots.mug;
    info->base = (uintptr_t)slot->base;
    info->used_bytes = slot->roots.used_bytes;
    info->data_pages = slot->data_pages;
    info->directory_nodes = slot->nodes;
    info->directory_depth = slot->depth;
    info->file_pages = slot->file_pages;
}

static uint64_t pages_of_file(int fd)
{
    struct stat status;
    if (fstat(fd, &status) != 0 || status.st_size < 0)
        return 0;
    return (uint64_t)status.st_size / PAGE;
}

bool pma_inspect(const char *path, bool verify_pages, struct pma_slot_info slots[2], uint64_t *file_bytes,
                 struct pma_error *error)
{
    memset(slots, 0, 2 * sizeof slots[0]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(error, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    struct stat status;
    *file_bytes = fstat(fd, &status) == 0 ? (uint64_t)status.st_size : 0;
    uint64_t actual = pages_of_file(fd);
    for (int index = 0; index < 2; index++) {
        struct slot slot;
        struct pma_slot_info *info = &slots[index];
        if (!read_slot(fd, index, actual, &slot, info->problem, sizeof info->problem))
            continue;
        describe_slot(info, &slot);
        struct pma_directory *directory =
            read_slot_directory(fd, &slot, NULL, NULL, info->problem, sizeof info->problem);
        if (!directory)
            continue;
        info->valid = true;
        if (verify_pages) {
            struct page_check check = { .fd = fd };
            if (!pma_directory_each(directory, check_page, &check) && !check.bad)
                check.bad = check.unreadable = true;
            if (check.bad) {
                info->valid = false;
                snprintf(info->problem, sizeof info->problem, "data page %llu %s",
                         (unsigned long long)check.bad_logical,
                         check.unreadable ? "cannot be read" : "fails its checksum");
            }
        }
        pma_directory_free(directory);
    }
    close(fd);
    return true;
}

/* ---- mapping ------------------------------------------------------------------------------ */

/* Reserve [base, base + capacity) without touching anything already mapped
 * there. */
static bool reserve(char *base, size_t capacity, struct pma_error *error)
{
    void *got = mmap(base, capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
                     -1, 0);
    if (got == MAP_FAILED) {
        if (errno == EEXIST)
            set_error(error, "the PMA's address 0x%llx..0x%llx is already in use in this process (another PMA "
                      "open, or a library mapped there); nothing was mapped",
                      (unsigned long long)(uintptr_t)base, (unsigned long long)((uintptr_t)base + capacity));
        else
            set_error(error, "cannot reserve %zu bytes at 0x%llx for the PMA: %s", capacity,
                      (unsigned long long)(uintptr_t)base, strerror(errno));
        return false;
    }
    if (got != base) {
        /* A kernel older than MAP_FIXED_NOREPLACE takes it as a hint. */
        munmap(got, capacity);
        set_error(error, "the PMA's address 0x%llx is already in use in this process; nothing was mapped",
                  (unsigned long long)(uintptr_t)base);
        return false;
    }
    /* Where home grows past the last snapshot the memory is anonymous:
     * huge pages there, as in a plain home (fewer faults; a page the
     * tracking protects is split back to 4 KiB when written). */
    madvise(base, capacity, MADV_HUGEPAGE);
    return true;
}

/* Put the arena back to reserved-only (after a failed load). */
static void unmap_all(struct pma *pma)
{
    mmap(pma->base, pma->capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    pma->committed = 0;
    __atomic_store_n(&pma->tracked_pages, 0, __ATOMIC_RELEASE);
}

/* Map `runs` (data_pages pages) read-only (writable when untracked);
 * `populate`: fault them all in now (they are about to be checked). */
static bool map_pages(struct pma *pma, const struct run_list *runs, uint64_t data_pages, bool populate, char *why,
                      size_t why_size)
{
    size_t bytes = data_pages * PAGE;
    bool read_instead = runs->count > MAX_MAPPED_RUNS;
    int protection = pma->tracking ? PROT_READ : PROT_READ | PROT_WRITE;
    if (read_instead && bytes && mprotect(pma->base, bytes, PROT_READ | PROT_WRITE) != 0) {
        snprintf(why, why_size, "cannot make room for its pages: %s", strerror(errno));
        return false;
    }
    int error_number = 0;
    for (size_t i = 0; i < runs->count && !error_number; i++) {
        char *at = pma->base + runs->runs[i].logical * PAGE;
        size_t length = runs->runs[i].length * PAGE;
        off_t offset = (off_t)(runs->runs[i].file * PAGE);
        if (!read_instead) {
            if (mmap(at, length, protection, MAP_PRIVATE | MAP_FIXED | (populate ? MAP_POPULATE : 0), pma->fd,
                     offset) == MAP_FAILED)
                error_number = errno;
            continue;
        }
        for (size_t done = 0; done < length && !error_number;) {
            ssize_t got = pread(pma->fd, at + done, length - done, offset + (off_t)done);
            if (got <= 0)
                error_number = got < 0 ? errno : EIO;
            else
                done += (size_t)got;
        }
    }
    if (!error_number && read_instead && bytes && pma->tracking && mprotect(pma->base, bytes, PROT_READ) != 0)
        error_number = errno;
    if (error_number) {
        snprintf(why, why_size, "its pages cannot be %s: %s", read_instead ? "read" : "mapped",
                 strerror(error_number));
        unmap_all(pma);
        return false;
    }
    pma->committed = bytes;
    __atomic_store_n(&pma->tracked_pages, data_pages, __ATOMIC_RELEASE);
    return true;
}

/* Untracked (tracking off): every page in use counts as written. */
static void mark_all_untracked(struct pma *pma)
{
    if (!pma->tracking)
        mark_range(pma, 0, pma->tracked_pages);
}

/* ---- the arena -------------------------------------------------------------------------- */

static bool arena_commit(struct noun_arena *arena, size_t bytes)
{
    struct pma *pma = (struct pma *)arena;
    if (bytes > pma->capacity)
        return false;
    size_t rounded = (bytes + PAGE - 1) / PAGE * PAGE;
    if (rounded <= pma->committed)
        return true;
    if (mprotect(pma->base + pma->committed, rounded - pma->committed, PROT_READ | PROT_WRITE) != 0)
        return false;
    pma->committed = rounded;
    return true;
}

static void arena_release(struct noun_arena *arena) { pma_close((struct pma *)arena); }

/* Home is about to compact [from, to) in place: open those pages and mark
 * them dirty at once rather than fault on each. */
static void arena_will_rewrite(struct noun_arena *arena, size_t from, size_t to)
{
    struct pma *pma = (struct pma *)arena;
    uint64_t tracked = pma->tracked_pages;
    uint64_t first = from / PAGE, end = (to + PAGE - 1) / PAGE;
    if (end > tracked)
        end = tracked;
    if (first >= end)
        return;
    mark_range(pma, first, end - first);
    if (mprotect(pma->base + first * PAGE, (end - first) * PAGE, PROT_READ | PROT_WRITE) != 0) {
        mark_range(pma, 0, tracked);
        mprotect(pma->base, tracked * PAGE, PROT_READ | PROT_WRITE);
    }
}

/* After compaction nothing lives in [from, to): drop the pages' memory.
 * A page of the last snapshot reverts to the file's copy, which is
 * harmless: home writes before it reads anything it allocates there, and
 * the next snapshot cuts the directory at home's new end. */
static void arena_trim(struct noun_arena *arena, size_t from, size_t to)
{
    struct pma *pma = (struct pma *)arena;
    uint64_t first = (from + PAGE - 1) / PAGE, end = (to + PAGE - 1) / PAGE;
    if (first < end)
        madvise(pma->base + first * PAGE, (end - first) * PAGE, MADV_DONTNEED);
}

struct noun_arena *pma_arena(struct pma *pma) { return &pma->arena; }

/* ---- opening ------------------------------------------------------------------------------ */

static int compare_descending(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void sort_free_pages(struct pma *pma)
{
    if (pma->free_pages.count > 1)
        qsort(pma->free_pages.pages, pma->free_pages.count, sizeof(uint64_t), compare_descending);
}

/* Rebuild the free list from which pages the newest snapshot (`in_use`)
 * and the other slot's (`other`, may be NULL) use. */
static bool rebuild_free_pages(struct pma *pma, const uint8_t *in_use, const uint8_t *other)
{
    for (uint64_t page = pma->file_pages; page-- > FIRST_DATA_PAGE;) {
        bool used = in_use && (in_use[page / 8] >> (page % 8) & 1);
        bool held = other && (other[page / 8] >> (page % 8) & 1);
        if (used)
            continue;
        if (!pma_page_list_push(held ? &pma->held : &pma->free_pages, page))
            return false;
    }
    sort_free_pages(pma);
    return true;
}

/* Work out the free and held pages, if not done yet (a load leaves it
 * until a snapshot needs them, to map sooner). */
static bool know_free_pages(struct pma *pma)
{
    if (pma->free_pages_known)
        return true;
    uint8_t *other_use = calloc(pma->file_pages / 8 + 1, 1);
    if (!other_use)
        return false;
    bool held = false;
    if (pma->other_valid) {
        char ignored[320];
        struct pma_directory *other =
            read_slot_directory(pma->fd, &pma->other_slot, other_use, NULL, ignored, sizeof ignored);
        held = other != NULL;
        pma_directory_free(other);
    }
    bool ok = rebuild_free_pages(pma, pma->in_use, held ? other_use : NULL);
    free(other_use);
    if (ok) {
        free(pma->in_use);
        pma->in_use = NULL;
        pma->free_pages_known = true;
    }
    return ok;
}

static bool slot_fits(const struct slot *slot, const struct pma_options *options)
{
    if (options->exactly_event && slot->roots.event_number != options->exactly_event)
        return false;
    if (options->limit_event && slot->roots.event_number > options->at_most_event)
        return false;
    return true;
}

/* Try to load slot `index`: read its directory, reserve and map. */
static bool load_slot(struct pma *pma, const struct pma_options *options, const struct slot *slot,
                      uint8_t *in_use, char *why, size_t why_size, struct pma_error *error, bool *fatal)
{
    struct run_list runs = { 0 };
    pma->directory = read_slot_directory(pma->fd, slot, in_use, &runs, why, why_size);
    if (pma->directory && runs.out_of_memory) {
        snprintf(why, why_size, "out of memory reading its directory");
        pma_directory_free(pma->directory);
        pma->directory = NULL;
    }
    if (!pma->directory) {
        free(runs.runs);
        return false;
    }
    size_t capacity = options->capacity ? options->capacity : PMA_DEFAULT_CAPACITY;
    capacity = (capacity + PAGE - 1) / PAGE * PAGE;
    if (capacity < slot->data_pages * PAGE)
        capacity = slot->data_pages * PAGE;
    if (!pma->base || pma->base != (char *)(uintptr_t)slot->base || pma->capacity < capacity) {
        if (pma->base)
            munmap(pma->base, pma->capacity);
        pma->base = NULL;
        if (!reserve((char *)(uintptr_t)slot->base, capacity, error)) {
            *fatal = true;
            pma_directory_free(pma->directory);
            pma->directory = NULL;
            free(runs.runs);
            return false;
        }
        pma->base = (char *)(uintptr_t)slot->base;
        pma->capacity = capacity;
    }
    bool mapped = map_pages(pma, &runs, slot->data_pages, options->verify_pages, why, why_size);
    free(runs.runs);
    if (!mapped) {
        pma_directory_free(pma->directory);
        pma->directory = NULL;
        return false;
    }
    if (options->verify_pages) {
        struct page_check check = { .memory = pma->base };
        if (!pma_directory_each(pma->directory, check_page, &check) && !check.bad)
            check.bad = true;
        if (check.bad) {
            snprintf(why, why_size, "data page %llu fails its checksum", (unsigned long long)check.bad_logical);
            unmap_all(pma);
            pma_directory_free(pma->directory);
            pma->directory = NULL;
            return false;
        }
    }
    return true;
}

static bool open_file(struct pma *pma, const char *path, bool create, struct pma_error *error)
{
    pma->fd = open(path, O_RDWR | O_CLOEXEC);
    if (pma->fd < 0 && errno == ENOENT && create) {
        pma->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (pma->fd >= 0) {
            /* Two empty slots, durable along with the file's name. */
            bool ok = ftruncate(pma->fd, FIRST_DATA_PAGE * PAGE) == 0 && fsync(pma->fd) == 0;
            char directory[4200];
            snprintf(directory, sizeof directory, "%s", path);
            char *slash = strrchr(directory, '/');
            if (slash)
                *(slash == directory ? slash + 1 : slash) = 0;
            else
                snprintf(directory, sizeof directory, ".");
            int directory_fd = ok ? open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
            ok = ok && directory_fd >= 0 && fsync(directory_fd) == 0;
            if (directory_fd >= 0)
                close(directory_fd);
            if (!ok) {
                set_error(error, "cannot make the PMA file %s: %s", path, strerror(errno));
                close(pma->fd);
                unlink(path);
                pma->fd = -1;
                return false;
            }
        }
    }
    if (pma->fd < 0) {
        set_error(error, "cannot open the PMA file %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

struct pma *pma_open(const char *path, const struct pma_options *options, pma_notice *notice, void *context,
                     struct pma_error *error)
{
    struct pma *pma = calloc(1, sizeof *pma);
    if (!pma || !(pma->path = strdup(path))) {
        free(pma);
        set_error(error, "out of memory");
        return NULL;
    }
    pma->registry_index = -1;
    pma->newest_slot = -1;
    pma->tracking = tracking_wanted();
    pma->arena.commit = arena_commit;
    pma->arena.release = arena_release;
    pma->arena.sibling = NULL;
    pma->arena.will_rewrite = arena_will_rewrite;
    pma->arena.trim = arena_trim;
    pma->arena.context = pma;
    if (!open_file(pma, path, options->create, error)) {
        free(pma->path);
        free(pma);
        return NULL;
    }
    uint64_t actual = pages_of_file(pma->fd);
    pma->file_pages = actual < FIRST_DATA_PAGE ? FIRST_DATA_PAGE : actual;

    /* Both slots, newest first. */
    struct slot slots[2];
    bool valid[2];
    char why[2][320];
    for (int index = 0; index < 2; index++) {
        valid[index] = read_slot(pma->fd, index, actual, &slots[index], why[index], sizeof why[index]);
        if (valid[index] && slots[index].sequence > pma->newest_sequence)
            pma->newest_sequence = slots[index].sequence;
        if (!valid[index] && strcmp(why[index], "empty") != 0)
            tell(notice, context, "PMA %s: metadata slot %c skipped: %s", path, 'A' + index, why[index]);
    }
    int order[2] = { 0, 1 };
    if (valid[0] && valid[1] && slots[0].sequence == slots[1].sequence) {
        tell(notice, context, "PMA %s: both metadata slots claim sequence %llu; trying the one of the later event "
             "first", path, (unsigned long long)slots[0].sequence);
        if (slots[1].roots.event_number > slots[0].roots.event_number)
            order[0] = 1, order[1] = 0;
    } else if (valid[1] && (!valid[0] || slots[1].sequence > slots[0].sequence)) {
        order[0] = 1, order[1] = 0;
    }

    size_t bitmap_bytes = pma->file_pages / 8 + 1;
    uint8_t *in_use = calloc(bitmap_bytes, 1), *other_use = calloc(bitmap_bytes, 1);
    if (!in_use || !other_use) {
        free(in_use);
        free(other_use);
        set_error(error, "out of memory");
        pma_close(pma);
        return NULL;
    }
    int chosen = -1;
    for (int i = 0; i < 2 && chosen < 0; i++) {
        int index = order[i];
        if (!valid[index] || !slot_fits(&slots[index], options))
            continue;
        memset(in_use, 0, bitmap_bytes);
        char load_why[320];
        bool fatal = false;
        if (load_slot(pma, options, &slots[index], in_use, load_why, sizeof load_why, error, &fatal)) {
            chosen = index;
            break;
        }
        if (fatal) {
            free(in_use);
            free(other_use);
            pma_close(pma);
            return NULL;
        }
        valid[index] = false;
        tell(notice, context, "PMA %s: snapshot in slot %c (event %llu) skipped: %s", path, 'A' + index,
             (unsigned long long)slots[index].roots.event_number, load_why);
    }
    /* The other slot's pages stay untouched until the next snapshot; which
     * they are is read when the free pages are first needed. */
    bool other_held = false;
    if (chosen >= 0) {
        pma->other_valid = valid[1 - chosen];
        pma->other_slot = slots[1 - chosen];
    }
    if (chosen < 0) {
        /* Nothing loaded: an empty arena where a new file would put it. */
        pma->directory = pma_directory_new();
        uintptr_t base = valid[0] ? slots[0].base : valid[1] ? slots[1].base
                         : options->base ? options->base : PMA_DEFAULT_BASE;
        size_t capacity = options->capacity ? options->capacity : PMA_DEFAULT_CAPACITY;
        capacity = (capacity + PAGE - 1) / PAGE * PAGE;
        if (pma->base)
            munmap(pma->base, pma->capacity);
        pma->base = NULL;
        /* A file with no snapshot yet may go anywhere: when the default
         * address is taken (another PMA open in this process), the next
         * free one of a few past it.  Its first snapshot records it. */
        bool roam = !valid[0] && !valid[1] && !options->base, reserved = false;
        for (int attempt = 0; roam && pma->directory && !reserved && attempt < PMA_BASE_CHOICES; attempt++) {
            struct pma_error ignored;
            reserved = reserve((char *)(base + (uintptr_t)attempt * PMA_BASE_STRIDE), capacity, &ignored);
            if (reserved)
                base += (uintptr_t)attempt * PMA_BASE_STRIDE;
        }
        if (!pma->directory || (!reserved && !reserve((char *)base, capacity, error))) {
            if (!pma->directory)
                set_error(error, "out of memory");
            free(in_use);
            free(other_use);
            pma_close(pma);
            return NULL;
        }
        pma->base = (char *)base;
        pma->capacity = capacity;
        /* Pages either slot might still describe are held, not freed. */
        for (int index = 0; index < 2; index++) {
            if (valid[index]) {
                char ignored[320];
                struct pma_directory *old = read_slot_directory(pma->fd, &slots[index], other_use, NULL, ignored,
                                                                sizeof ignored);
                other_held = other_held || old != NULL;
                pma_directory_free(old);
            }
        }
    }
    bool ok = true;
    if (chosen >= 0) {
        pma->in_use = in_use;
    } else {
        ok = rebuild_free_pages(pma, NULL, other_held ? other_use : NULL);
        pma->free_pages_known = true;
        free(in_use);
    }
    free(other_use);
    pma->dirty_bits_bytes = (pma->capacity / PAGE + 63) / 64 * 8;
    pma->dirty_bits = mmap(NULL, pma->dirty_bits_bytes, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (pma->dirty_bits == MAP_FAILED)
        pma->dirty_bits = NULL;
    if (!ok || !pma->dirty_bits) {
        set_error(error, "out of memory");
        pma_close(pma);
        return NULL;
    }
    pma->arena.base = pma->base;
    pma->arena.capacity = pma->capacity;
    if (!register_pma(pma)) {
        set_error(error, "cannot install the PMA's write-fault handler (or %d PMAs are open already)", MAX_OPEN);
        pma_close(pma);
        return NULL;
    }
    mark_all_untracked(pma);
    if (chosen >= 0) {
        pma->newest_slot = chosen;
        pma->loaded = true;
        pma->loaded_roots = slots[chosen].roots;
    } else {
        /* The next snapshot goes to the slot that failed or is older. */
        pma->newest_slot = valid[0] ? 0 : valid[1] ? 1 : -1;
    }
    return pma;
}

void pma_close(struct pma *pma)
{
    if (!pma)
        return;
    unregister_pma(pma);
    if (pma->base)
        munmap(pma->base, pma->capacity);
    if (pma->dirty_bits)
        munmap(pma->dirty_bits, pma->dirty_bits_bytes);
    if (pma->fd >= 0)
        close(pma->fd);
    pma_directory_free(pma->directory);
    pma_page_list_free(&pma->free_pages);
    pma_page_list_free(&pma->held);
    pma_page_list_free(&pma->released);
    free(pma->in_use);
    free(pma->path);
    free(pma);
}

bool pma_loaded(const struct pma *pma, struct pma_roots *roots)
{
    if (pma->loaded)
        *roots = pma->loaded_roots;
    return pma->loaded;
}

uint64_t pma_write_faults(const struct pma *pma) { return __atomic_load_n(&pma->write_faults, __ATOMIC_RELAXED); }

uint64_t pma_dirty_pages(const struct pma *pma, size_t used_bytes)
{
    uint64_t pages = (used_bytes + PAGE - 1) / PAGE;
    uint64_t tracked = pma->tracked_pages;
    return __atomic_load_n(&pma->dirty_tracked, __ATOMIC_RELAXED) + (pages > tracked ? pages - tracked : 0);
}

void pma_stats(struct pma *pma, struct pma_stats *out)
{
    know_free_pages(pma);
    *out = pma->last;
    out->base = (uintptr_t)pma->base;
    struct stat status;
    out->file_bytes = fstat(pma->fd, &status) == 0 ? (uint64_t)status.st_size : 0;
    out->directory_depth = pma_directory_depth(pma->directory);
    out->directory_nodes = pma_directory_nodes(pma->directory);
    out->pages_in_use = pma->newest_slot >= 0 ? pma_directory_count(pma->directory) + out->directory_nodes : 0;
    out->pages_held = pma->held.count;
    out->pages_free = pma->free_pages.count;
    out->sequence = pma->newest_slot >= 0 ? pma->newest_sequence : 0;
    out->write_faults = pma_write_faults(pma);
}

/* ---- snapshots ------------------------------------------------------------------------ */

static uint64_t allocate_page(void *context)
{
    struct pma *pma = context;
    if (pma->free_pages.count)
        return pma->free_pages.pages[--pma->free_pages.count];
    return pma->file_pages++;
}

static bool write_all(int fd, const void *bytes, size_t length, off_t offset)
{
    const char *at = bytes;
    while (length > 0) {
        ssize_t done = pwrite(fd, at, length, offset);
        if (done < 0 && errno == EINTR)
            continue;
        if (done <= 0) {
            if (done == 0)
                errno = ENOSPC;
            return false;
        }
        at += done;
        length -= (size_t)done;
        offset += done;
    }
    return true;
}

/* The data pages a snapshot writes, gathered into runs for pwrite. */
struct page_writer {
    struct pma *pma;
    uint64_t *logical, *file, *checksum;   /* one per dirty page */
    size_t count, capacity;
    uint64_t run_logical, run_file, run_length;
    bool failed;
    int error_number;
};

static bool writer_flush(struct page_writer *writer)
{
    if (writer->run_length == 0 || writer->failed)
        return !writer->failed;
    struct pma *pma = writer->pma;
    if (!write_all(pma->fd, pma->base + writer->run_logical * PAGE, writer->run_length * PAGE,
                   (off_t)(writer->run_file * PAGE))) {
        writer->failed = true;
        writer->error_number = errno;
    }
    writer->run_length = 0;
    return !writer->failed;
}

static bool writer_add(struct page_writer *writer, uint64_t logical)
{
    if (writer->count == writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity * 2 : 1024;
        uint64_t *l = realloc(writer->logical, capacity * sizeof *l);
        if (l)
            writer->logical = l;
        uint64_t *f = realloc(writer->file, capacity * sizeof *f);
        if (f)
            writer->file = f;
        uint64_t *c = realloc(writer->checksum, capacity * sizeof *c);
        if (c)
            writer->checksum = c;
        if (!l || !f || !c) {
            writer->failed = true;
            writer->error_number = ENOMEM;
            return false;
        }
        writer->capacity = capacity;
    }
    struct pma *pma = writer->pma;
    uint64_t file = allocate_page(pma);
    writer->logical[writer->count] = logical;
    writer->file[writer->count] = file;
    writer->checksum[writer->count] = XXH3_64bits_withSeed(pma->base + logical * PAGE, PAGE, logical);
    writer->count++;
    if (writer->run_length && logical == writer->run_logical + writer->run_length &&
        file == writer->run_file + writer->run_length && writer->run_length < MAX_WRITE_RUN_PAGES) {
        writer->run_length++;
        return true;
    }
    if (!writer_flush(writer))
        return false;
    writer->run_logical = logical;
    writer->run_file = file;
    writer->run_length = 1;
    return true;
}

static void writer_free(struct page_writer *writer)
{
    free(writer->logical);
    free(writer->file);
    free(writer->checksum);
}

/* Make the pages the snapshot saved read-only again and clear their bits;
 * pages past the new end go back to plain memory. */
static bool rearm(struct pma *pma, uint64_t new_pages)
{
    uint64_t old_tracked = pma->tracked_pages;
    __atomic_store_n(&pma->tracked_pages, 0, __ATOMIC_RELEASE);
    bool ok = true;
    if (!pma->tracking) {
        memset(pma->dirty_bits, 0, (old_tracked + 63) / 64 * 8);
        __atomic_store_n(&pma->dirty_tracked, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&pma->tracked_pages, new_pages, __ATOMIC_RELEASE);
        mark_all_untracked(pma);
        return true;
    }
    uint64_t limit = old_tracked < new_pages ? old_tracked : new_pages;
    uint64_t run_start = 0, run_length = 0;
    for (uint64_t word = 0; word * 64 < limit; word++) {
        uint64_t bits = pma->dirty_bits[word];
        if (!bits && !run_length)
            continue;
        for (uint64_t page = word * 64; page < word * 64 + 64 && page < limit; page++) {
            if (bits >> (page % 64) & 1) {
                if (!run_length)
                    run_start = page;
                run_length++;
            } else if (run_length) {
                ok = mprotect(pma->base + run_start * PAGE, run_length * PAGE, PROT_READ) == 0 && ok;
                run_length = 0;
            }
        }
    }
    if (run_length)
        ok = mprotect(pma->base + run_start * PAGE, run_length * PAGE, PROT_READ) == 0 && ok;
    if (new_pages > old_tracked)
        ok = mprotect(pma->base + old_tracked * PAGE, (new_pages - old_tracked) * PAGE, PROT_READ) == 0 && ok;
    if (new_pages < old_tracked) {
        /* Beyond the end: no longer the file's, so plain writable memory,
         * on huge pages as where home first grew (a fresh mapping loses
         * the arena's advice, and home regrowing there after a compaction
         * took a 4 KiB fault per page: 2,400 faults, 14% of a kv replay). */
        char *from = pma->base + new_pages * PAGE;
        size_t bytes = (old_tracked - new_pages) * PAGE;
        ok = mmap(from, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
                  0) != MAP_FAILED && ok;
        madvise(from, bytes, MADV_HUGEPAGE);
    }
    memset(pma->dirty_bits, 0, (old_tracked + 63) / 64 * 8);
    __atomic_store_n(&pma->dirty_tracked, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&pma->tracked_pages, new_pages, __ATOMIC_RELEASE);
    return ok;
}

static bool page_dirty(const struct pma *pma, uint64_t page)
{
    return page >= pma->tracked_pages || (pma->dirty_bits[page / 64] >> (page % 64) & 1);
}

bool pma_snapshot(struct pma *pma, const struct pma_roots *roots, struct pma_snapshot_report *report,
                  struct pma_error *error)
{
    memset(report, 0, sizeof *report);
    uint64_t started = clock_wall_nanoseconds();
    if (roots->used_bytes > pma->committed) {
        set_error(error, "snapshot not saved: %llu bytes in use, but only %zu of the PMA are committed",
                  (unsigned long long)roots->used_bytes, pma->committed);
        return false;
    }
    if (!noun_in(roots->kernel, (uintptr_t)pma->base, roots->used_bytes) ||
        !noun_in(roots->pending, (uintptr_t)pma->base, roots->used_bytes)) {
        set_error(error, "snapshot not saved: its roots are not nouns in the PMA's arena");
        return false;
    }
    pthread_mutex_lock(&registry_lock);
    install_handler();
    pthread_mutex_unlock(&registry_lock);
    if (!know_free_pages(pma)) {
        set_error(error, "snapshot not saved: out of memory reading which pages of %s are free", pma->path);
        return false;
    }
    uint64_t new_pages = (roots->used_bytes + PAGE - 1) / PAGE;

    /* 1. Dirty data pages to free file pages. */
    struct page_writer writer = { .pma = pma };
    for (uint64_t page = 0; page < new_pages && !writer.failed; page++)
        if (page_dirty(pma, page))
            writer_add(&writer, page);
    writer_flush(&writer);
    uint64_t written = clock_wall_nanoseconds();
    bool ok = !writer.failed;
    if (!ok)
        set_error(error, "snapshot not saved: cannot write data pages to %s: %s", pma->path,
                  strerror(writer.error_number));

    /* 2. The directory: entries for the new pages, the end cut. */
    for (size_t i = 0; i < writer.count; i++) {
        if (!ok) {
            /* Not in the directory: free once this snapshot's turn is over. */
            pma_page_list_push(&pma->released, writer.file[i]);
            continue;
        }
        struct pma_page_entry entry = { writer.file[i], writer.checksum[i] };
        if (!pma_directory_set(pma->directory, writer.logical[i], &entry, &pma->released)) {
            set_error(error, "snapshot not saved: out of memory for the page directory");
            ok = false;
        }
    }
    if (ok && !pma_directory_truncate(pma->directory, new_pages, &pma->released)) {
        set_error(error, "snapshot not saved: out of memory for the page directory");
        ok = false;
    }
    uint64_t root = 0, nodes_written = 0;
    char why[300];
    if (ok && !pma_directory_write(pma->directory, pma->fd, allocate_page, pma, &root, &nodes_written, why,
                                   sizeof why)) {
        set_error(error, "snapshot not saved: %s", why);
        ok = false;
    }
    uint64_t directory_done = clock_wall_nanoseconds();

    /* 3, 4. Data and nodes durable, then the slot the older snapshot is in. */
    int slot_index = pma->newest_slot == 0 ? 1 : 0;
    struct slot slot = {
        .sequence = pma->newest_sequence + 1,
        .base = (uintptr_t)pma->base,
        .roots = *roots,
        .depth = pma_directory_depth(pma->directory),
        .root_page = root,
        .data_pages = new_pages,
        .nodes = pma_directory_nodes(pma->directory),
        .file_pages = pma->file_pages,
    };
    uint8_t page[PAGE];
    encode_slot(&slot, page);
    if (ok && fdatasync(pma->fd) != 0) {
        set_error(error, "snapshot not saved: fsync of %s failed: %s", pma->path, strerror(errno));
        ok = false;
    }
    if (ok && !write_all(pma->fd, page, PAGE, (off_t)slot_index * PAGE)) {
        set_error(error, "snapshot not saved: cannot write metadata slot %c of %s: %s", 'A' + slot_index, pma->path,
                  strerror(errno));
        ok = false;
    }
    if (ok && fdatasync(pma->fd) != 0) {
        set_error(error, "snapshot not saved: fsync of %s failed: %s", pma->path, strerror(errno));
        ok = false;
    }
    uint64_t synced = clock_wall_nanoseconds();
    if (!ok) {
        writer_free(&writer);
        return false;
    }

    /* Durable.  What the previous snapshot released is free now. */
    for (size_t i = 0; i < pma->held.count; i++)
        pma_page_list_push(&pma->free_pages, pma->held.pages[i]);
    sort_free_pages(pma);
    struct pma_page_list swap = pma->held;
    pma->held = pma->released;
    pma->released = swap;
    pma->released.count = 0;
    pma->newest_slot = slot_index;
    pma->newest_sequence = slot.sequence;
    if (!rearm(pma, new_pages)) {
        /* Pages left writable are no longer tracked: say every page is
         * dirty until the next snapshot rewrites them all. */
        mark_range(pma, 0, pma->tracked_pages);
    }

    report->sequence = slot.sequence;
    report->slot = (unsigned)slot_index;
    report->pages_written = writer.count;
    report->nodes_written = nodes_written;
    report->bytes_written = (writer.count + nodes_written + 1) * PAGE;
    report->write_ns = written - started;
    report->directory_ns = directory_done - written;
    report->fsync_ns = synced - directory_done;
    report->total_ns = clock_wall_nanoseconds() - started;
    pma->last.last_dirty_pages = writer.count;
    pma->last.last_bytes_written = report->bytes_written;
    pma->last.last_fsync_ns = report->fsync_ns;
    writer_free(&writer);
    return true;
}
