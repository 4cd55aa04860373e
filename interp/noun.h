/* noun.h -- nouns as 64-bit words, and the two kinds of memory they live in.
 *
 * A noun is a 64-bit word (type `noun`).  Its two top bits say what it is:
 *
 *   0x...  (bit 63 clear)  a direct atom: the word is the value, 0 .. 2^63-1
 *   10...                  an indirect atom: low 62 bits address a noun_atom
 *   11...                  a cell: low 62 bits address a noun_cell
 *
 * NOUN_NONE (all ones) means "no noun" and is never dereferenced.
 *
 * Atoms are canonical: an atom below 2^63 is always direct, and an indirect
 * atom has no leading zero words, so equal atoms are equal bit for bit and
 * atom equality never needs arithmetic.
 *
 * Memory (see docs/memory.md):
 *
 *   scratch  a noun_region: bump allocation for one running computation.
 *            Nothing is freed one by one.  The owner resets it when the
 *            computation ends, and may collect it while it runs: live nouns,
 *            found from roots the owner enumerates, are copied to the other
 *            half of the region and the rest is dropped.
 *   home     a noun_home: the long-lived heap (kernel state, bindings,
 *            caches).  Nouns get there only by noun_home_copy_out, which
 *            hash-conses them: a cell whose head and tail are already in
 *            home is looked up by (head, tail) and shared when present.
 *            Home takes its memory from a noun_arena, so a file-backed arena
 *            at a fixed address (the PMA) can stand in for plain memory.
 *
 * Invariant: home never points into scratch; scratch may point into home.
 * So a scratch collection leaves home alone, and several computations, each
 * with its own scratch, may read one home at the same time.
 *
 * Nothing here recurses on the C stack: every traversal keeps its own stack.
 */
#ifndef NOCKLAB_NOUN_H
#define NOCKLAB_NOUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t noun;

#define NOUN_NONE         UINT64_MAX
#define NOUN_DIRECT_MAX   ((UINT64_C(1) << 63) - 1)
#define NOUN_TAG_MASK     (UINT64_C(3) << 62)
#define NOUN_TAG_INDIRECT (UINT64_C(2) << 62)
#define NOUN_TAG_CELL     (UINT64_C(3) << 62)
#define NOUN_ADDRESS_MASK (~NOUN_TAG_MASK)

/* A cell.  `mug` is 0 until computed, then the 31-bit mug; it is written at
 * most once with the same value by any thread, so racing readers are fine
 * (accessed with relaxed atomics).  `flags` is used by collectors.  Cells and
 * atoms share the first word (mug, flags) so a collector scanning objects
 * laid end to end can tell them apart by NOUN_FLAG_ATOM. */
struct noun_cell {
    uint32_t mug;
    uint32_t flags;
    noun head;
    noun tail;
};

/* An indirect atom: `length` little-endian 64-bit words, the last nonzero,
 * the value at least 2^63.  `mug` and `flags` as for cells. */
struct noun_atom {
    uint32_t mug;
    uint32_t flags;
    uint64_t length;
    uint64_t words[];
};

/* flags bit set on an object a collector has moved; the new noun is then in
 * head (cells) or words[0] (atoms). */
#define NOUN_FLAG_FORWARDED 1u
/* flags bit every indirect atom carries from birth, and no cell does. */
#define NOUN_FLAG_ATOM 2u

static inline bool noun_is_atom(noun n) { return (n >> 63) == 0 || (n & NOUN_TAG_MASK) == NOUN_TAG_INDIRECT; }
static inline bool noun_is_cell(noun n) { return (n & NOUN_TAG_MASK) == NOUN_TAG_CELL && n != NOUN_NONE; }
static inline bool noun_is_direct(noun n) { return (n >> 63) == 0; }
static inline bool noun_is_indirect(noun n) { return (n & NOUN_TAG_MASK) == NOUN_TAG_INDIRECT; }

static inline struct noun_cell *noun_to_cell(noun n) { return (struct noun_cell *)(uintptr_t)(n & NOUN_ADDRESS_MASK); }
static inline struct noun_atom *noun_to_atom(noun n) { return (struct noun_atom *)(uintptr_t)(n & NOUN_ADDRESS_MASK); }
static inline noun noun_from_cell(const struct noun_cell *c) { return (noun)(uintptr_t)c | NOUN_TAG_CELL; }
static inline noun noun_from_atom(const struct noun_atom *a) { return (noun)(uintptr_t)a | NOUN_TAG_INDIRECT; }

/* The first word (mug and flags) of an indirect noun's object, as one
 * word.  A copy out of a region (noun.c's copy-out and move-out, the STM
 * backend's copy to its batch region) marks an object copied by storing
 * its copy there: a noun with bit 63 set, which no mug-and-flags word
 * has. */
static inline uint64_t *noun_first_word(noun n) { return (uint64_t *)(uintptr_t)(n & NOUN_ADDRESS_MASK); }

static inline noun noun_head(noun cell) { return noun_to_cell(cell)->head; }
static inline noun noun_tail(noun cell) { return noun_to_cell(cell)->tail; }

/* ---- scratch regions ---------------------------------------------------- */

/* A scratch region: two halves of reserved address space, one active.
 * `cursor` .. `limit` is the free part of the active half; allocation bumps
 * cursor.  Fields other than cursor and limit are private to noun.c. */
struct noun_region {
    char *cursor;
    char *limit;
    char *active_base;      /* start of the active half */
    char *other_base;       /* start of the idle half (collection target) */
    size_t half_bytes;      /* reserved size of each half */
    size_t live_after_collect; /* bytes that survived the last collection */
    size_t collect_trigger; /* collect once active half use passes this */
    size_t high_water;      /* most bytes ever in use */
    uint64_t bytes_allocated;  /* allocated before the last collection or
                                  reset; see noun_region_bytes_allocated */
    uint64_t collections;
    bool stress;            /* collection stress mode (noun_collection_stress) */
    size_t stress_copy_offset; /* stress: where in the idle half the next
                                  collection starts copying */
    size_t stress_active_offset; /* stress: where in the active half its
                                    use began (before: poisoned already) */
    void (*out_of_memory)(void *context); /* called when a half is full; must not return */
    void *out_of_memory_context;
};

/* Zeroed memory for a struct that one thread writes often while others
 * run: aligned to, and padded to, a pair of cache lines (the unit the
 * hardware's adjacent-line prefetch moves), so no other thread's data
 * shares its lines.  Freed with free(). */
#define NOUN_CACHE_LINE_PAIR 128
void *noun_cache_line_calloc(size_t bytes);

/* Reserve a region whose halves may each grow to `max_bytes`.  NULL when the
 * address space can't be had. */
struct noun_region *noun_region_new(size_t max_bytes);
void noun_region_free(struct noun_region *region);
/* Drop everything allocated in the region. */
void noun_region_reset(struct noun_region *region);
/* Whether `n` is an indirect noun that lives in this region's active half.
 * (Inline: the STM tracker and copy loops ask it for every cell they meet.) */
static inline bool noun_region_holds(const struct noun_region *region, noun n)
{
    if (noun_is_direct(n) || n == NOUN_NONE)
        return false;
    const char *p = (const char *)(uintptr_t)(n & NOUN_ADDRESS_MASK);
    return p >= region->active_base && p < region->active_base + region->half_bytes;
}
size_t noun_region_used(const struct noun_region *region);
/* Bytes allocated in the region since it was made (copies made by
 * collections not counted). */
uint64_t noun_region_bytes_allocated(const struct noun_region *region);
/* The most bytes the region has held at once. */
size_t noun_region_high_water(const struct noun_region *region);
/* Whether enough has been allocated since the last collection that the
 * owner should collect at its next safe point. */
static inline bool noun_region_wants_collect(const struct noun_region *region)
{
    /* relaxed atomic: nock_interrupt stores 0 here from other threads */
    /* nock_interrupt stores 0 here from other threads.  The plain load is
     * what the evaluator's hot loop can afford (an aligned word, reloaded
     * at each safe point); ThreadSanitizer builds say it is atomic. */
#if defined(__SANITIZE_THREAD__)
    return (size_t)(region->cursor - region->active_base) >
           __atomic_load_n(&region->collect_trigger, __ATOMIC_RELAXED);
#else
    return (size_t)(region->cursor - region->active_base) > region->collect_trigger;
#endif
}

/* Put back the collection trigger that someone zeroed to make the owner
 * stop at its next safe point (nock_interrupt, nock_request_sample), when
 * no collection is due after all.  Only the owner's thread calls this. */
void noun_region_restore_trigger(struct noun_region *region);

void *noun_region_alloc_slow(struct noun_region *region, size_t bytes);

/* Allocate `bytes` (a multiple of 8) in the region.  Never returns NULL: a
 * full region calls out_of_memory, which must leave (longjmp). */
static inline void *noun_region_alloc(struct noun_region *region, size_t bytes)
{
    char *p = region->cursor;
    if ((size_t)(region->limit - p) < bytes)
        return noun_region_alloc_slow(region, bytes);
    region->cursor = p + bytes;
    return p;
}

static inline noun noun_cell_new(struct noun_region *region, noun head, noun tail)
{
    struct noun_cell *c = (struct noun_cell *)noun_region_alloc(region, sizeof(struct noun_cell));
    c->mug = 0;
    c->flags = 0;
    c->head = head;
    c->tail = tail;
    return noun_from_cell(c);
}

/* Build `[a b]`, `[a b c]`, `[a b c d]` right-nested. */
noun noun_trel(struct noun_region *region, noun a, noun b, noun c);
noun noun_qual(struct noun_region *region, noun a, noun b, noun c, noun d);

/* Allocate an indirect atom of `length` words for the caller to fill, then
 * pass it to noun_atom_normalize, which strips leading zero words and turns
 * small values into direct atoms. */
struct noun_atom *noun_atom_alloc(struct noun_region *region, uint64_t length);
noun noun_atom_normalize(struct noun_atom *atom);
/* An atom from little-endian words or bytes (copied). */
noun noun_atom_from_words(struct noun_region *region, const uint64_t *words, size_t count);
noun noun_atom_from_bytes(struct noun_region *region, const uint8_t *bytes, size_t count);
/* Atom + 1, spilling into an indirect atom at 2^63. */
noun noun_atom_increment(struct noun_region *region, noun atom);

/* A short term (the first 7 bytes of `text`, so always a direct atom), as
 * Hoon writes %foo: the bytes little-endian. */
static inline noun noun_short_term(const char *text)
{
    uint64_t value = 0;
    for (size_t i = 0; text[i] && i < 7; i++)
        value |= (uint64_t)(unsigned char)text[i] << (8 * i);
    return value;
}

/* Words of an atom without allocating: for a direct atom, `*scratch_word`
 * receives the value and the result points at it.  *count is 0 for atom 0. */
const uint64_t *noun_atom_words(noun atom, uint64_t *scratch_word, size_t *count);
/* Significant bits of an atom (0 for 0). */
uint64_t noun_atom_bit_length(noun atom);
/* Byte length: (bit_length + 7) / 8. */
uint64_t noun_atom_byte_length(noun atom);
/* Copy the atom's low `count` bytes into `out` (zero-padded). */
void noun_atom_to_bytes(noun atom, uint8_t *out, size_t count);

/* Structural equality, iterative.  Pointer-equal subtrees are skipped, and
 * so are pairs of cells already compared, so equal DAGs built apart compare
 * in time linear in their distinct cells. */
bool noun_equal(noun a, noun b);

/* Fragment (axis) lookup, Nock 0: NOUN_NONE when the axis is 0 or leads
 * through an atom. */
noun noun_fragment(noun axis, noun subject);

/* Counts of distinct-by-address cells and atoms, and total bytes as nouns
 * are laid out here, without recursing.  Shared subtrees are counted once. */
struct noun_census { uint64_t cells, atoms, indirect_atoms, bytes; };
void noun_census(noun n, struct noun_census *out);

/* Zeroed memory for a big, randomly probed table (dedup, jam), on huge
 * pages when it is large enough that TLB misses would cost as much as cache
 * misses.  NULL on failure; free with the same byte count. */
void *noun_table_memory(size_t bytes);
void noun_table_memory_free(void *memory, size_t bytes);
/* Ask for huge pages over the whole 2 MiB pages inside a big malloc'd
 * buffer about to be filled from start to end (a snapshot's jam, a file
 * read whole): on a virtual machine each 4 KiB page fault costs
 * microseconds, and a GiB has 262,144 of them. */
void noun_advise_huge_pages(void *start, size_t bytes);

/* ---- collection --------------------------------------------------------- */

/* Collection stress mode, for finding nouns held across a collection that
 * moves them without being roots.  On when the environment variable
 * NOCKLAB_GC_STRESS is set to anything but "" or "0" (read once), or after
 * noun_collection_stress_set(true); regions and homes made while it is on
 * behave so:
 *   - a scratch region wants collecting whenever anything is in it, so the
 *     evaluator collects at every safe point (once more than 256 KiB
 *     survive, at the first safe point after a quarter of that was
 *     allocated again: a big live set costs a constant factor, not a
 *     square);
 *   - the half a scratch collection evacuated, and what a reset dropped, is
 *     overwritten with NOUN_POISON, so a stale pointer to a moved or
 *     dropped noun reads a cell whose head and tail point at an address
 *     that is never mapped, and faults at once;
 *   - an arena home collection left is kept inaccessible (the last
 *     NOUN_STRESS_QUARANTINE of them) instead of being returned at once, so
 *     its addresses are not handed out again; a home compacted in place
 *     has the tail it freed overwritten with NOUN_POISON instead (a stale
 *     pointer below the new end finds whatever slid there: not caught).
 * Callers that collect home on a schedule (the REPL after a line, a store
 * between events) collect at every opportunity when this is on.  Nothing
 * in the evaluator's loop tests it: it only changes the region's trigger. */
bool noun_collection_stress(void);
void noun_collection_stress_set(bool on);
/* A word that, read as a noun, is a cell at an address that is never
 * mapped: what dropped scratch is filled with in stress mode. */
#define NOUN_POISON (NOUN_TAG_CELL | UINT64_C(0xf08))
#define NOUN_STRESS_QUARANTINE 32

struct noun_collector;
/* Relocate one root slot during a collection (scratch or home). */
void noun_collector_visit(struct noun_collector *collector, noun *slot);
void noun_collector_visit_many(struct noun_collector *collector, noun *slots, size_t count);
/* Whether this collection moves `n` (it lives in the space being
 * evacuated).  Root enumerators ask this, never noun_region_holds, which
 * during a collection answers for the half being filled. */
bool noun_collector_moves(const struct noun_collector *collector, noun n);
/* The roots of a collection are given by a callback that visits each slot. */
typedef void noun_root_enumerator(void *context, struct noun_collector *collector);

/* Copy everything reachable from the roots into the idle half, swap halves.
 * Only nouns in this region move; pointers into home are left as they are. */
void noun_region_collect(struct noun_region *region, noun_root_enumerator *roots, void *context);

/* ---- home --------------------------------------------------------------- */

/* Where home gets its memory.  `base`..`base+capacity` is reserved address
 * space; `commit` makes the first `bytes` of it usable (and, for a file-
 * backed arena, durable-to-be).  A plain-memory arena is noun_arena_memory.
 * Offsets below are bytes from `base`. */
struct noun_arena {
    char *base;
    size_t capacity;
    bool (*commit)(struct noun_arena *arena, size_t bytes);
    void (*release)(struct noun_arena *arena);
    /* A new empty arena of the same kind, for home collection to copy into;
     * NULL for an arena at a fixed address (the PMA): home then compacts in
     * place (noun_home_collect). */
    struct noun_arena *(*sibling)(struct noun_arena *arena);
    /* Optional (may be NULL).  In-place compaction is about to write bytes
     * [from, to): the objects it slides down and the pointers it rewrites.
     * Called once, before the first write, so an arena that tracks writes
     * by faults can open and mark those pages at once.  When every object
     * was allocated by copy-out and home was only ever compacted in place
     * (children then lie below parents), nothing outside the range is
     * written; a home once collected by copying may also see a few writes
     * below `from` (a kept object whose child moved), which reach the
     * arena's usual write tracking. */
    void (*will_rewrite)(struct noun_arena *arena, size_t from, size_t to);
    /* Optional.  After in-place compaction, bytes [from, to) hold nothing
     * (from is home's new use): the arena may give back their pages.  Home
     * calls commit again before it allocates there.  Not called in
     * collection stress mode, which poisons that range instead. */
    void (*trim)(struct noun_arena *arena, size_t from, size_t to);
    void *context;
};
/* A plain anonymous-memory arena reserving `capacity` bytes; NULL on failure.
 * Home collection copies it into a sibling arena, unless the environment
 * variable NOCKLAB_HOME_COMPACT is set to anything but "" or "0" (read
 * once): then it has no sibling, like noun_arena_memory_in_place. */
struct noun_arena *noun_arena_memory(size_t capacity);
/* The same with no sibling, so home compacts it in place as it does the
 * PMA's (and trims freed pages with MADV_DONTNEED). */
struct noun_arena *noun_arena_memory_in_place(size_t capacity);

/* Hash-consing statistics, cumulative since the home was made. */
struct noun_dedup_stats {
    uint64_t lookups;      /* cells and indirect atoms looked up on copy-out */
    uint64_t hits;         /* ... found already in home and shared */
    uint64_t bytes_saved;  /* bytes not allocated thanks to hits */
    uint64_t entries;      /* objects in the table now */
    uint64_t capacity;     /* table slots */
};

struct noun_home;

/* A home over `arena` (taken over: freed with the home).  NULL on failure. */
struct noun_home *noun_home_new(struct noun_arena *arena);
/* A home over an arena whose first `used_bytes` already hold home objects
 * laid end to end (a mapped PMA file: what home had used when it was
 * saved).  Taken over as by noun_home_new; NULL (and the arena released)
 * when used_bytes is not a multiple of 8 or exceeds the capacity, or
 * memory runs out.  Nothing is read at once: the dedup table is rebuilt by
 * one scan of the objects at the first copy-out that needs it (or the
 * first collection), so adopting costs no more than mapping; a scan that
 * meets an object running past used_bytes stops there, and what lies
 * after is not shared.  The objects are trusted otherwise (check the
 * file's checksums first).  The caller registers its roots again. */
struct noun_home *noun_home_adopt(struct noun_arena *arena, size_t used_bytes);
void noun_home_free(struct noun_home *home);
/* Whether `n` is an indirect noun in home. */
bool noun_home_holds(const struct noun_home *home, noun n);
/* Copy `n` (which may point into `region`, or into home already) into home,
 * sharing structure home already has.  `region` may be NULL when `n` is
 * known to be in home.  Returns NOUN_NONE only if home is out of memory. */
noun noun_home_copy_out(struct noun_home *home, const struct noun_region *region, noun n);
/* The same for a noun spread over several regions (the STM backend's
 * workers each build in their own). */
noun noun_home_copy_out_many(struct noun_home *home, const struct noun_region *const *regions, size_t count, noun n);
/* Marks kept beside a region (one word for each 8 bytes of its active
 * half, reserved, touched where objects were moved) of which of its
 * objects noun_home_move_out_each moved to home, and where to.  For a
 * region that is reset, never collected; clear its marks when it is. */
struct noun_move_marks;
struct noun_move_marks *noun_move_marks_new(const struct noun_region *region);
void noun_move_marks_clear(struct noun_move_marks *marks);
void noun_move_marks_free(struct noun_move_marks *marks);
/* The same as copy-out, faster, for nouns[0 .. noun_count) spread over
 * regions that have marks (marks[0 .. count)), in one move (its cache
 * misses overlap across them all), each replaced by its home noun.  A
 * move finds what earlier moves out of the same regions moved, and copies
 * it no more.  The regions' objects are only read, so other threads may
 * read them meanwhile (the STM backend's workers go on running while
 * worker 0 moves results); moves must not run at once with each other,
 * nor with anything else that writes home.  False when home is out of
 * memory (then some nouns may be replaced and some not). */
bool noun_home_move_out_each(struct noun_home *home, struct noun_move_marks *const *marks, size_t count,
                             noun *nouns, size_t noun_count);
/* Register / remove a root slot for home collection; the slot must stay at
 * that address until removed. */
bool noun_home_root_add(struct noun_home *home, noun *slot);
void noun_home_root_remove(struct noun_home *home, noun *slot);
/* Register / remove a callback that visits root slots of its own (an array
 * that grows, nouns a caller holds for a moment) at each home collection. */
bool noun_home_root_enumerator_add(struct noun_home *home, noun_root_enumerator *roots, void *context);
void noun_home_root_enumerator_remove(struct noun_home *home, noun_root_enumerator *roots, void *context);
/* Collect home from its roots.  Never call this while any computation that
 * reads home is running.  Moves nouns: every root slot is updated.
 *
 * An arena with a sibling is copied into it (Cheney).  One without (the
 * PMA) is compacted in place: live objects are marked (a bitmap, one bit
 * per word), slid down in address order, and every pointer and root slot
 * is rewritten, with side memory of about used/50 bytes.  Objects keep
 * their mugs, stay laid end to end, and keep their order.  False, with
 * home untouched, when the side memory can't be had (or the sibling
 * can't be made). */
bool noun_home_collect(struct noun_home *home);
size_t noun_home_used(const struct noun_home *home);
/* Bytes in use right after the last collection (0 before any). */
size_t noun_home_used_after_collect(const struct noun_home *home);
/* Home as it is at one moment.  Home only grows between collections and
 * never changes a noun it holds (a cached mug is the same value whoever
 * writes it), so what it held at a mark is there, unchanged and at the
 * same address, until the next collection.  A process forked at a mark
 * (the fork backend's children) can read any noun held at it. */
struct noun_home_mark {
    uint64_t collections;  /* collections before the mark */
    size_t used;           /* bytes in use at the mark */
};
struct noun_home_mark noun_home_mark_now(const struct noun_home *home);
/* Whether `n` is a direct atom, or a noun home held at `mark` and has not
 * been collected since. */
bool noun_home_held_at(const struct noun_home *home, struct noun_home_mark mark, noun n);
void noun_home_dedup_stats(const struct noun_home *home, struct noun_dedup_stats *out);
/* Listeners called after each home collection, so caches keyed by home
 * addresses can be dropped (every evaluator context's code cache is one). */
typedef void noun_home_listener(void *context);
bool noun_home_listen(struct noun_home *home, noun_home_listener *listener, void *context);
void noun_home_unlisten(struct noun_home *home, noun_home_listener *listener, void *context);

#endif
