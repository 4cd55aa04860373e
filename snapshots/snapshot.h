/* snapshot.h -- a store's snapshots: save the kernel at event N, load the
 * newest valid one, say what is on disk.
 *
 * A snapshot lets a store reopen without replaying its whole log: load the
 * newest snapshot (kernel state and its event number N), then replay the
 * logged events after N.  A snapshot is only ever taken of a state the log
 * already holds (events through N committed), and a loaded one is checked
 * against the log: its kernel's mug must equal the mug the log recorded
 * after event N, so a snapshot from another store, or one that is ahead of
 * the log, is never used.
 *
 * Kinds (DESIGN.md, "Persistence"):
 *
 *   jam  two files in the store directory, snapshot-a.jam and
 *        snapshot-b.jam, written alternately (snapshots/jamfile.c has the
 *        format and the crash-safety argument): the newest valid one is
 *        loaded, the other is the fallback.
 *   pma  home itself in a file-backed arena at a fixed address: home.pma
 *        (snapshots/pma.c has the format).  The store's kernels must live
 *        in the home snapshot_store_home gives; a save writes the pages
 *        home changed since the last one, a load takes the kernel the
 *        newest snapshot saved (mapped when the store was opened).
 *
 * A store's kind is chosen once -- by --snapshot when the store is opened
 * with one and has none yet -- and kept in the `settings` table of its
 * events.sqlite; asking for the other kind later is refused.
 *
 * Besides the kernel, a snapshot keeps one more noun for its caller,
 * `pending`: repl/store.c keeps there the spawns whose outcomes may still
 * appear in the log after N, which replay needs to recompute them.
 *
 * Nothing here prints or exits.  Problems that don't stop a load (a torn
 * or corrupt file, which is then skipped) are passed to a notice callback
 * as one line naming the file and what is wrong.
 */
#ifndef NOCKLAB_SNAPSHOT_H
#define NOCKLAB_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/kernel.h"
#include "interp/noun.h"
#include "snapshots/evlog.h"
#include "snapshots/pma.h"

enum snapshot_kind {
    SNAPSHOT_NONE = 0,  /* not chosen yet (or: whatever the store has) */
    SNAPSHOT_JAM,
    SNAPSHOT_PMA,
};

/* "jam", "pma", "none". */
const char *snapshot_kind_name(enum snapshot_kind kind);
/* "jam" or "pma"; false for anything else. */
bool snapshot_kind_parse(const char *text, enum snapshot_kind *kind);

struct snapshot_error {
    char message[400];
};

struct snapshot_store;

/* The snapshots of the store whose log is `log` (kept open by the caller
 * for as long as this is).  `wanted`: the kind asked for, or SNAPSHOT_NONE
 * to take whatever the store has.  A store with no kind yet takes `wanted`
 * now.  Refused, with a line saying why, when the store keeps the other
 * kind or `wanted` is not available. */
struct snapshot_store *snapshot_store_open(struct evlog *log, enum snapshot_kind wanted,
                                           struct snapshot_error *error);
void snapshot_store_close(struct snapshot_store *store);
/* The store's kind; SNAPSHOT_NONE until one is chosen (the first save
 * chooses jam). */
enum snapshot_kind snapshot_store_kind(const struct snapshot_store *store);
/* The newest event a snapshot file claimed to hold when the store was
 * opened, or a save wrote since (0: none); for pacing periodic snapshots,
 * so a replay that starts further back doesn't overwrite newer ones. */
uint64_t snapshot_store_newest_claimed(const struct snapshot_store *store);
/* The bytes the store's snapshot files take on disk now (their sizes, not
 * read or checked: cheap enough to ask after every save). */
uint64_t snapshot_store_file_bytes(const struct snapshot_store *store);
/* A pma store's home (the PMA's arena, holding the newest snapshot when
 * the store was opened): the store's kernels must live in it.  NULL for
 * the other kinds.  Owned by the snapshot store. */
struct noun_home *snapshot_store_home(struct snapshot_store *store);
/* For a pma store: pages written since the last snapshot, and write
 * faults taken since it was opened (both 0 for the other kinds). */
void snapshot_store_counters(const struct snapshot_store *store, uint64_t *dirty_pages, uint64_t *write_faults);

/* What a save did, for :snap save and the profiler's snapshots table.
 * Times in nanoseconds: serialize (jam), write, directory (page directory
 * of the PMA; 0 for jam), fsync (file and directory), total. */
struct snapshot_save_report {
    enum snapshot_kind kind;
    uint64_t event_number;
    uint32_t mug;
    char file[64];             /* the file written, within the store */
    uint64_t bytes;            /* bytes written */
    uint64_t pages_written;    /* 4 KiB pages (PMA); 0 for jam */
    uint64_t serialize_ns, write_ns, directory_ns, fsync_ns, total_ns;
};

/* Save `kernel` (its state and event number) with `pending` (a noun in
 * home or in kernel_region(kernel)).  Call only when every event through the kernel's
 * number is committed to the log.  When this returns true the snapshot is
 * durable; when false, every snapshot saved before is still there. */
bool snapshot_save(struct snapshot_store *store, struct kernel *kernel, noun pending,
                   struct snapshot_save_report *report, struct snapshot_error *error);

typedef void snapshot_notice(void *context, const char *text);

/* Which snapshot to load: the newest valid one whose event number is at
 * most `at_most` (UINT64_MAX: any), or, when `exactly` is not 0, only the
 * one of that event. */
struct snapshot_choice {
    uint64_t exactly;
    uint64_t at_most;
};

struct snapshot_load_report {
    uint64_t event_number;
    uint32_t mug;
    char file[64];
    uint64_t bytes;
    uint64_t read_ns, cue_ns;  /* reading and checking; cue and copy to home */
};

enum snapshot_load_result {
    SNAPSHOT_LOADED,      /* the kernel is now the snapshot's state */
    SNAPSHOT_NOT_FOUND,   /* no valid snapshot fits the choice: the kernel
                             is untouched (each file skipped was noticed) */
    SNAPSHOT_LOAD_FAILED, /* *error says why (out of memory, say); the
                             kernel is untouched */
};

/* Load a snapshot into `kernel` (state and event number), checked: the
 * file's checksum, that the log holds its event, that the log's mug after
 * that event and the loaded kernel's mug both equal the file's.  A file
 * that fails is noticed and the other tried.  *pending receives the noun
 * saved with it, in home (the caller roots it before home is collected). */
enum snapshot_load_result snapshot_load(struct snapshot_store *store, struct kernel *kernel,
                                        const struct snapshot_choice *choice, noun *pending,
                                        struct snapshot_load_report *report, snapshot_notice *notice,
                                        void *notice_context, struct snapshot_error *error);

/* What is on disk, each file read and checked (not cued). */
struct snapshot_file_info {
    char name[64];
    bool present;
    uint64_t bytes;            /* the file's size */
    bool valid;
    uint64_t event_number;     /* when valid */
    uint32_t mug;
    char problem[320];         /* when present and not valid */
};

#define SNAPSHOT_MAX_FILES 2

struct snapshot_description {
    enum snapshot_kind kind;
    size_t file_count;
    struct snapshot_file_info files[SNAPSHOT_MAX_FILES]; /* pma: its two slots */
    bool has_pma;                  /* pma: the open PMA's figures */
    struct pma_stats pma;
    uint64_t pma_loaded_event;     /* the snapshot home holds (0: none) */
};

bool snapshot_describe(struct snapshot_store *store, struct snapshot_description *description,
                       struct snapshot_error *error);

#endif
