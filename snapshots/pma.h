/* pma.h -- the persistent memory arena: home in a file, mapped at a fixed
 * address, saved by writing only the pages that changed.
 *
 * A PMA is a struct noun_arena (interp/noun.h) whose memory is a file's
 * pages mapped at the address the file records, so the nouns in it (and
 * the pointers between them) are valid again after a reopen: a load is a
 * map, not a cue.  A snapshot (pma_snapshot) makes the arena's current
 * contents durable together with a few roots (the kernel noun, a pending
 * noun, the event number and mug); a load gives back the arena as it was
 * at the newest valid snapshot, or at an older one of the two the file
 * keeps.
 *
 * The file: two metadata slots, then data pages and the nodes of a page
 * directory (snapshots/pma_directory.h) in any order; pma.c has the format
 * byte by byte and the crash-safety argument, docs/formats.md too.
 *
 * Dirty tracking: after a snapshot the pages it saved are read-only; the
 * first write to one faults, and a SIGSEGV handler records the page and
 * makes it writable (any other fault goes on to the handler that was
 * there before, such as the crash report's).  Pages past the last
 * snapshot's end are not protected: they are all written by the next one.
 *
 * One process may have several PMAs open, each at its own address.
 * Nothing here prints or exits.
 */
#ifndef NOCKLAB_PMA_H
#define NOCKLAB_PMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/noun.h"

#define PMA_VERSION 1
/* Where a new PMA file puts its arena unless told otherwise, and how much
 * address space it reserves. */
#define PMA_DEFAULT_BASE ((uintptr_t)0x200000000000)
#define PMA_DEFAULT_CAPACITY ((size_t)64 << 30)

struct pma_error {
    char message[400];
};

/* What a snapshot keeps besides the pages: the arena's first used_bytes
 * hold home, `kernel` and `pending` are nouns in it (or direct atoms). */
struct pma_roots {
    uint64_t used_bytes;
    noun kernel;
    noun pending;
    uint64_t event_number;
    uint32_t mug;
};

struct pma_options {
    uintptr_t base;         /* for a new file; 0: PMA_DEFAULT_BASE.  An
                               existing file maps where it says. */
    size_t capacity;        /* address space to reserve; 0: the default */
    /* Which snapshot to load: the newest valid one whose event is at most
     * at_most_event (when limit_event is set), or only the one of
     * exactly_event (0: any). */
    uint64_t exactly_event;
    bool limit_event;
    uint64_t at_most_event;
    bool verify_pages;      /* check every data page's checksum on load */
    bool create;            /* make the file when it is not there */
};

typedef void pma_notice(void *context, const char *text);

struct pma;

/* Open (or, with options->create, make) the PMA file at `path` and load a
 * snapshot as options say.  A slot or directory that fails its checks is
 * noticed (one line naming the file and what is wrong) and the other slot
 * tried; when none fits, the arena opens empty (pma_loaded says so) and
 * the slots stay as they are until the next snapshot.  NULL, with *error,
 * when the file cannot be opened or the address it needs is taken (then
 * nothing was mapped). */
struct pma *pma_open(const char *path, const struct pma_options *options, pma_notice *notice, void *context,
                     struct pma_error *error);
/* Unmap and close (unsaved changes are dropped: the file has only what
 * snapshots wrote).  A home given pma_arena closes the PMA when freed. */
void pma_close(struct pma *pma);
/* The arena (fixed address: its `sibling` is NULL).  Its release closes
 * the PMA. */
struct noun_arena *pma_arena(struct pma *pma);
/* The roots of the snapshot loaded by pma_open; false when none was. */
bool pma_loaded(const struct pma *pma, struct pma_roots *roots);

/* What a snapshot did.  Times in nanoseconds. */
struct pma_snapshot_report {
    uint64_t sequence;
    unsigned slot;              /* 0 or 1 */
    uint64_t pages_written;     /* data pages */
    uint64_t nodes_written;     /* directory nodes */
    uint64_t bytes_written;     /* both, and the metadata slot */
    uint64_t write_ns, directory_ns, fsync_ns, total_ns;
};

/* Make the arena's first roots->used_bytes durable with `roots`.  When
 * this returns true a crash at any later instant loads this snapshot (or
 * a newer one); when false (a full disk, say), the snapshots already in
 * the file are untouched and the next call tries again. */
bool pma_snapshot(struct pma *pma, const struct pma_roots *roots, struct pma_snapshot_report *report,
                  struct pma_error *error);

/* Pages written since the last snapshot, counting every page from the
 * last snapshot's end to `used_bytes` as written. */
uint64_t pma_dirty_pages(const struct pma *pma, size_t used_bytes);
/* Write faults taken since the PMA was opened. */
uint64_t pma_write_faults(const struct pma *pma);

struct pma_stats {
    uintptr_t base;
    uint64_t file_bytes;
    uint64_t pages_in_use;      /* data pages and nodes of the newest snapshot */
    uint64_t pages_held;        /* only the older snapshot uses: reusable after the next one */
    uint64_t pages_free;
    unsigned directory_depth;
    uint64_t directory_nodes;
    uint64_t sequence;          /* of the newest snapshot, 0 if none */
    uint64_t last_dirty_pages;  /* pages the last snapshot wrote */
    uint64_t last_bytes_written;
    uint64_t last_fsync_ns;
    uint64_t write_faults;
};
void pma_stats(struct pma *pma, struct pma_stats *out);

/* One metadata slot as read from a file. */
struct pma_slot_info {
    bool valid;                 /* slot, directory (and pages, when asked) check out */
    char problem[320];          /* when not valid */
    uint64_t sequence;
    uint64_t event_number;
    uint32_t mug;
    uintptr_t base;
    uint64_t used_bytes;
    uint64_t data_pages;
    uint64_t directory_nodes;
    unsigned directory_depth;
    uint64_t file_pages;
};

/* Read and check both slots of the file at `path` and the directory of
 * each (and every data page's checksum when verify_pages), mapping
 * nothing.  False, with *error, only when the file cannot be read. */
bool pma_inspect(const char *path, bool verify_pages, struct pma_slot_info slots[2], uint64_t *file_bytes,
                 struct pma_error *error);

#endif
