/* noun.c -- nouns, scratch regions, and the hash-consed home heap.
 *
 * Scratch collection is Cheney's copying algorithm between the two halves of
 * a region.  The invariant it relies on: nothing outside the region's active
 * half points into it except the roots the owner enumerates (home never
 * points into scratch).  An object that has been copied gets
 * NOUN_FLAG_FORWARDED and the address of its copy in its first noun field,
 * so shared structure stays shared.
 *
 * Home collection is the same algorithm between two arenas, and rebuilds the
 * dedup table from the survivors; an arena with no sibling (the PMA's) is
 * compacted in place instead (mark bits on the side, slide down, see
 * "in-place home compaction").  Copy-out hash-conses bottom-up: a cell
 * whose children are already canonical home nouns is identified by the pair
 * of their addresses, so a lookup never compares deeper than one level.
 */
#include "interp/noun.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

/* ---- explicit stacks ---------------------------------------------------- */

/* A growable stack of words used by every traversal in this file, so none of
 * them recurses on the C stack.  Starts in a small inline buffer. */
struct word_stack {
    uint64_t *items;
    size_t count, capacity;
    uint64_t inline_items[64];
};

static void word_stack_init(struct word_stack *s)
{
    s->items = s->inline_items;
    s->count = 0;
    s->capacity = sizeof s->inline_items / sizeof s->inline_items[0];
}

static void word_stack_free(struct word_stack *s)
{
    if (s->items != s->inline_items)
        free(s->items);
}

static bool word_stack_grow(struct word_stack *s)
{
    size_t capacity = s->capacity * 2;
    uint64_t *items = s->items == s->inline_items ? malloc(capacity * sizeof *items)
                                                  : realloc(s->items, capacity * sizeof *items);
    if (!items)
        return false;
    if (s->items == s->inline_items)
        memcpy(items, s->inline_items, sizeof s->inline_items);
    s->items = items;
    s->capacity = capacity;
    return true;
}

static inline bool word_stack_push(struct word_stack *s, uint64_t word)
{
    if (s->count == s->capacity && !word_stack_grow(s))
        return false;
    s->items[s->count++] = word;
    return true;
}

static inline uint64_t word_stack_pop(struct word_stack *s) { return s->items[--s->count]; }

/* ---- address space ------------------------------------------------------ */

/* Keep freed malloc memory instead of handing it back at once.  jam, cue
 * and the dedup and code tables malloc and free blocks of 100 KiB and more
 * per event; with glibc's defaults each free at the top of the heap shrinks
 * it (brk) and each big one unmaps, and every such unmap flushes the TLB of
 * every core the process runs on -- on a paravirtualized machine through
 * the hypervisor.  Measured: 32% of bench_stm's time, and 7,210 brk calls
 * (0.4 s of system time) in `nocklab gen kv 3000`.  Blocks up to 32 MiB now
 * come from the heap, and the heap gives back its top only past 64 MiB
 * free.  Run before main, while there is one thread. */
__attribute__((constructor)) static void keep_freed_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

/* Reserved address space for scratch halves and home arenas.  Huge pages
 * where the system allows them: nouns are reached by pointer chasing, and
 * fewer TLB misses make every traversal faster. */
static char *reserve_address_space(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* ---- collection stress ---------------------------------------------------- */

/* A switch set by an environment variable to anything but "" or "0", read
 * once: `setting` is -1 until then, then 0 or 1. */
static bool environment_switch(int *setting, const char *variable)
{
    int value = __atomic_load_n(setting, __ATOMIC_RELAXED);
    if (value < 0) {
        const char *text = getenv(variable);
        value = text && *text && strcmp(text, "0") != 0;
        __atomic_store_n(setting, value, __ATOMIC_RELAXED);
    }
    return value;
}

static int stress_setting = -1;

bool noun_collection_stress(void)
{
    return environment_switch(&stress_setting, "NOCKLAB_GC_STRESS");
}

void noun_collection_stress_set(bool on)
{
    __atomic_store_n(&stress_setting, on ? 1 : 0, __ATOMIC_RELAXED);
}

/* Overwrite dropped nouns so that a stale pointer to one leads to an
 * address that is never mapped. */
static void poison(char *base, size_t bytes)
{
    uint64_t *word = (uint64_t *)base;
    for (size_t i = 0; i < bytes / sizeof *word; i++)
        word[i] = NOUN_POISON;
}

static size_t round_to_pages(size_t bytes)
{
    return (bytes + 4095) & ~(size_t)4095;
}

/* ---- scratch regions ---------------------------------------------------- */

#define REGION_MIN_TRIGGER ((size_t)512 << 10)
/* Stress mode collects at every safe point while less than this survives,
 * and reuses an evacuated address only after this much was copied into
 * the half after it. */
#define REGION_STRESS_EVERY_CALL ((size_t)256 << 10)
#define REGION_STRESS_WRAP ((size_t)4 << 20)
/* After a collection, pages of the idle half above this much stay resident
 * only if they were needed; the rest are given back to the system. */
#define REGION_KEEP_RESIDENT ((size_t)64 << 20)

static void region_default_out_of_memory(void *context)
{
    (void)context;
    fputs("nocklab: scratch region exhausted with no handler installed\n", stderr);
    abort();
}

void *noun_cache_line_calloc(size_t bytes)
{
    size_t rounded = (bytes + NOUN_CACHE_LINE_PAIR - 1) & ~(size_t)(NOUN_CACHE_LINE_PAIR - 1);
    void *memory = aligned_alloc(NOUN_CACHE_LINE_PAIR, rounded);
    if (memory)
        memset(memory, 0, rounded);
    return memory;
}

struct noun_region *noun_region_new(size_t max_bytes)
{
    /* on cache lines of its own: the cursor is written at every
     * allocation, and another thread's region (the STM backend's workers)
     * must not share its line */
    struct noun_region *region = noun_cache_line_calloc(sizeof *region);
    if (!region)
        return NULL;
    max_bytes = (max_bytes + 4095) & ~(size_t)4095;
    char *base = reserve_address_space(2 * max_bytes);
    if (!base) {
        free(region);
        return NULL;
    }
    region->active_base = base;
    region->other_base = base + max_bytes;
    region->half_bytes = max_bytes;
    region->cursor = base;
    region->limit = base + max_bytes;
    region->stress = noun_collection_stress();
    __atomic_store_n(&region->collect_trigger, region->stress ? 0 : REGION_MIN_TRIGGER, __ATOMIC_RELAXED); /* see nock_interrupt */
    region->out_of_memory = region_default_out_of_memory;
    return region;
}

void noun_region_free(struct noun_region *region)
{
    if (!region)
        return;
    char *base = region->active_base < region->other_base ? region->active_base : region->other_base;
    munmap(base, 2 * region->half_bytes);
    free(region);
}

size_t noun_region_used(const struct noun_region *region)
{
    return (size_t)(region->cursor - region->active_base);
}

uint64_t noun_region_bytes_allocated(const struct noun_region *region)
{
    return region->bytes_allocated + noun_region_used(region) - region->live_after_collect;
}

size_t noun_region_high_water(const struct noun_region *region)
{
    size_t used = noun_region_used(region);
    return used > region->high_water ? used : region->high_water;
}

/* Fold what was allocated since the last collection or reset into the
 * totals, before the active half is abandoned. */
static void region_account(struct noun_region *region)
{
    size_t used = noun_region_used(region);
    if (used > region->high_water)
        region->high_water = used;
    region->bytes_allocated += used - region->live_after_collect;
}

/* Give back resident pages of a half beyond what steady use needs. */
static void region_trim(char *half_base, size_t used)
{
    if (used > REGION_KEEP_RESIDENT)
        madvise(half_base + REGION_KEEP_RESIDENT, used - REGION_KEEP_RESIDENT, MADV_DONTNEED);
}

/* Allocate twice what survived before collecting again, so copying
 * costs at most half as much as allocating however much is live. */
static size_t region_trigger_after(size_t live)
{
    return live + (2 * live > REGION_MIN_TRIGGER ? 2 * live : REGION_MIN_TRIGGER);
}

void noun_region_restore_trigger(struct noun_region *region)
{
    size_t trigger = region->stress ? 0 : region_trigger_after(region->live_after_collect);
    __atomic_store_n(&region->collect_trigger, trigger, __ATOMIC_RELAXED);
}

void noun_region_reset(struct noun_region *region)
{
    size_t used = noun_region_used(region);
    region_account(region);
    if (region->stress) {
        poison(region->active_base + region->stress_active_offset, used - region->stress_active_offset);
        region->stress_active_offset = 0;
    } else {
        region_trim(region->active_base, used);
    }
    region->cursor = region->active_base;
    region->live_after_collect = 0;
    __atomic_store_n(&region->collect_trigger, region->stress ? 0 : REGION_MIN_TRIGGER, __ATOMIC_RELAXED); /* see nock_interrupt */
}

void *noun_region_alloc_slow(struct noun_region *region, size_t bytes)
{
    if ((size_t)(region->limit - region->cursor) < bytes)
        region->out_of_memory(region->out_of_memory_context);
    /* out_of_memory must not return; if it did, fail loudly rather than
     * hand out memory past the reservation. */
    abort();
}

noun noun_trel(struct noun_region *region, noun a, noun b, noun c)
{
    return noun_cell_new(region, a, noun_cell_new(region, b, c));
}

noun noun_qual(struct noun_region *region, noun a, noun b, noun c, noun d)
{
    return noun_cell_new(region, a, noun_trel(region, b, c, d));
}

/* ---- atoms -------------------------------------------------------------- */

static size_t atom_bytes_for(uint64_t length)
{
    return sizeof(struct noun_atom) + length * sizeof(uint64_t);
}

struct noun_atom *noun_atom_alloc(struct noun_region *region, uint64_t length)
{
    if (length == 0)
        length = 1;
    struct noun_atom *atom = noun_region_alloc(region, atom_bytes_for(length));
    atom->mug = 0;
    atom->flags = NOUN_FLAG_ATOM;
    atom->length = length;
    return atom;
}

noun noun_atom_normalize(struct noun_atom *atom)
{
    uint64_t length = atom->length;
    while (length > 0 && atom->words[length - 1] == 0)
        length--;
    if (length == 0)
        return 0;
    if (length == 1 && atom->words[0] <= NOUN_DIRECT_MAX)
        return atom->words[0];
    atom->length = length;
    return noun_from_atom(atom);
}

noun noun_atom_from_words(struct noun_region *region, const uint64_t *words, size_t count)
{
    while (count > 0 && words[count - 1] == 0)
        count--;
    if (count == 0)
        return 0;
    if (count == 1 && words[0] <= NOUN_DIRECT_MAX)
        return words[0];
    struct noun_atom *atom = noun_atom_alloc(region, count);
    memcpy(atom->words, words, count * sizeof(uint64_t));
    return noun_from_atom(atom);
}

noun noun_atom_from_bytes(struct noun_region *region, const uint8_t *bytes, size_t count)
{
    while (count > 0 && bytes[count - 1] == 0)
        count--;
    if (count <= 8) {
        uint64_t word = 0;
        for (size_t i = 0; i < count; i++)
            word |= (uint64_t)bytes[i] << (8 * i);
        if (word <= NOUN_DIRECT_MAX)
            return word;
    }
    size_t length = (count + 7) / 8;
    struct noun_atom *atom = noun_atom_alloc(region, length);
    atom->words[length - 1] = 0;
    memcpy(atom->words, bytes, count);
    return noun_from_atom(atom);
}

noun noun_atom_increment(struct noun_region *region, noun atom)
{
    if (noun_is_direct(atom)) {
        if (atom < NOUN_DIRECT_MAX)
            return atom + 1;
        struct noun_atom *big = noun_atom_alloc(region, 1);
        big->words[0] = atom + 1;
        return noun_from_atom(big);
    }
    const struct noun_atom *old = noun_to_atom(atom);
    uint64_t length = old->length;
    struct noun_atom *big = noun_atom_alloc(region, length + 1);
    uint64_t carry = 1;
    for (uint64_t i = 0; i < length; i++) {
        uint64_t word = old->words[i] + carry;
        carry = carry && word == 0;
        big->words[i] = word;
    }
    big->words[length] = carry;
    return noun_atom_normalize(big);
}

const uint64_t *noun_atom_words(noun atom, uint64_t *scratch_word, size_t *count)
{
    if (noun_is_direct(atom)) {
        *scratch_word = atom;
        *count = atom != 0;
        return scratch_word;
    }
    const struct noun_atom *a = noun_to_atom(atom);
    *count = a->length;
    return a->words;
}

uint64_t noun_atom_bit_length(noun atom)
{
    if (noun_is_direct(atom))
        return atom == 0 ? 0 : 64 - (uint64_t)__builtin_clzll(atom);
    const struct noun_atom *a = noun_to_atom(atom);
    return 64 * (a->length - 1) + 64 - (uint64_t)__builtin_clzll(a->words[a->length - 1]);
}

uint64_t noun_atom_byte_length(noun atom)
{
    return (noun_atom_bit_length(atom) + 7) / 8;
}

void noun_atom_to_bytes(noun atom, uint8_t *out, size_t count)
{
    uint64_t single;
    size_t words;
    const uint64_t *w = noun_atom_words(atom, &single, &words);
    size_t have = words * 8;
    size_t copy = have < count ? have : count;
    memcpy(out, w, copy);
    if (copy < count)
        memset(out + copy, 0, count - copy);
}

/* ---- equality, fragments, census ---------------------------------------- */

/* A cell's dedup hash, from its children's words (home addresses or direct
 * atoms): a multiply-xorshift mix so that neighbouring addresses spread. */
static inline uint64_t mix_pair(noun head, noun tail)
{
    uint64_t h = (head ^ (tail * UINT64_C(0x9E3779B97F4A7C15))) * UINT64_C(0xBF58476D1CE4E5B9);
    h ^= h >> 31;
    h *= UINT64_C(0x94D049BB133111EB);
    return h ^ (h >> 29);
}


static bool atoms_equal(noun a, noun b)
{
    if (noun_is_direct(a) || noun_is_direct(b))
        return a == b;
    const struct noun_atom *x = noun_to_atom(a), *y = noun_to_atom(b);
    if (x->mug && y->mug && x->mug != y->mug)
        return false;
    return x->length == y->length && memcmp(x->words, y->words, x->length * 8) == 0;
}

/* Pairs of cells already compared (or being compared) by noun_equal.
 * Equality of the whole is the conjunction over every pair visited, so a
 * pair met again adds nothing and is skipped: two equal DAGs built apart
 * (two cues of one pill) are compared in time linear in their distinct
 * cells, not in their unfolded trees.  Empty slots have first == 0. */
struct pair_set {
    uint64_t *first, *second;
    size_t capacity, count;
};

static bool pair_set_resize(struct pair_set *set, size_t capacity)
{
    uint64_t *first = calloc(capacity, sizeof *first), *second = malloc(capacity * sizeof *second);
    if (!first || !second) {
        free(first);
        free(second);
        return false;
    }
    size_t mask = capacity - 1;
    for (size_t i = 0; i < set->capacity; i++) {
        if (!set->first[i])
            continue;
        size_t j = mix_pair(set->first[i], set->second[i]) & mask;
        while (first[j])
            j = (j + 1) & mask;
        first[j] = set->first[i];
        second[j] = set->second[i];
    }
    free(set->first);
    free(set->second);
    set->first = first;
    set->second = second;
    set->capacity = capacity;
    return true;
}

/* 1 if the pair is new (and now in the set), 0 if seen, -1 out of memory. */
static int pair_set_insert(struct pair_set *set, uint64_t a, uint64_t b)
{
    if ((set->count + 1) * 2 > set->capacity && !pair_set_resize(set, set->capacity ? set->capacity * 2 : 4096))
        return -1;
    size_t mask = set->capacity - 1, i = mix_pair(a, b) & mask;
    for (; set->first[i]; i = (i + 1) & mask)
        if (set->first[i] == a && set->second[i] == b)
            return 0;
    set->first[i] = a;
    set->second[i] = b;
    set->count++;
    return 1;
}

/* Cell pairs compared before noun_equal starts remembering them: most
 * comparisons end sooner and never pay for the set. */
#define EQUAL_PLAIN_VISITS 4096

bool noun_equal(noun a, noun b)
{
    struct word_stack stack;
    struct pair_set seen = {0};
    uint64_t visits = 0;
    word_stack_init(&stack);
    bool equal = true;
    for (;;) {
        if (a != b) {
            if (noun_is_cell(a) && noun_is_cell(b)) {
                const struct noun_cell *x = noun_to_cell(a), *y = noun_to_cell(b);
                uint32_t mx = __atomic_load_n(&x->mug, __ATOMIC_RELAXED);
                uint32_t my = __atomic_load_n(&y->mug, __ATOMIC_RELAXED);
                if (mx && my && mx != my) {
                    equal = false;
                    break;
                }
                int fresh = ++visits > EQUAL_PLAIN_VISITS ? pair_set_insert(&seen, a, b) : 1;
                if (fresh == 0)
                    goto next;
                if (fresh < 0 || !word_stack_push(&stack, x->tail) || !word_stack_push(&stack, y->tail)) {
                    equal = false; /* out of memory: can't tell, report unequal */
                    break;
                }
                a = x->head;
                b = y->head;
                continue;
            }
            if (noun_is_cell(a) || noun_is_cell(b) || !atoms_equal(a, b)) {
                equal = false;
                break;
            }
        }
    next:
        if (stack.count == 0)
            break;
        b = word_stack_pop(&stack);
        a = word_stack_pop(&stack);
    }
    word_stack_free(&stack);
    free(seen.first);
    free(seen.second);
    return equal;
}

noun noun_fragment(noun axis, noun subject)
{
    if (noun_is_direct(axis)) {
        if (axis == 0)
            return NOUN_NONE;
        int bit = 62 - __builtin_clzll(axis | 1);
        for (; bit >= 0; bit--) {
            if (!noun_is_cell(subject))
                return NOUN_NONE;
            const struct noun_cell *c = noun_to_cell(subject);
            subject = (axis >> bit) & 1 ? c->tail : c->head;
        }
        return subject;
    }
    const struct noun_atom *a = noun_to_atom(axis);
    uint64_t bits = noun_atom_bit_length(axis);
    for (uint64_t i = bits - 1; i-- > 0;) {
        if (!noun_is_cell(subject))
            return NOUN_NONE;
        const struct noun_cell *c = noun_to_cell(subject);
        subject = (a->words[i / 64] >> (i % 64)) & 1 ? c->tail : c->head;
    }
    return subject;
}

/* An open-addressing set of addresses, for traversals that must visit each
 * shared object once. Key 0 is empty. */
struct address_set {
    uint64_t *slots;
    size_t capacity, count;
};

static inline size_t address_hash(uint64_t key) { return (size_t)((key >> 3) * UINT64_C(0x9E3779B97F4A7C15) >> 17); }

static bool address_set_init(struct address_set *set, size_t capacity)
{
    set->capacity = capacity;
    set->count = 0;
    set->slots = calloc(capacity, sizeof *set->slots);
    return set->slots != NULL;
}

static bool address_set_grow(struct address_set *set)
{
    struct address_set bigger;
    if (!address_set_init(&bigger, set->capacity * 2))
        return false;
    for (size_t i = 0; i < set->capacity; i++) {
        uint64_t key = set->slots[i];
        if (!key)
            continue;
        size_t j = address_hash(key) & (bigger.capacity - 1);
        while (bigger.slots[j])
            j = (j + 1) & (bigger.capacity - 1);
        bigger.slots[j] = key;
    }
    bigger.count = set->count;
    free(set->slots);
    *set = bigger;
    return true;
}

/* Insert; returns 1 if new, 0 if present, -1 on out of memory. */
static int address_set_insert(struct address_set *set, uint64_t key)
{
    if (set->count * 2 >= set->capacity && !address_set_grow(set))
        return -1;
    size_t mask = set->capacity - 1, i = address_hash(key) & mask;
    while (set->slots[i]) {
        if (set->slots[i] == key)
            return 0;
        i = (i + 1) & mask;
    }
    set->slots[i] = key;
    set->count++;
    return 1;
}

void noun_census(noun n, struct noun_census *out)
{
    memset(out, 0, sizeof *out);
    struct address_set seen;
    if (!address_set_init(&seen, 1024))
        return;
    struct word_stack stack;
    word_stack_init(&stack);
    word_stack_push(&stack, n);
    while (stack.count) {
        noun x = word_stack_pop(&stack);
        if (noun_is_direct(x)) {
            out->atoms++;
            continue;
        }
        int fresh = address_set_insert(&seen, x);
        if (fresh < 0)
            break;
        if (!fresh)
            continue;
        if (noun_is_cell(x)) {
            out->cells++;
            out->bytes += sizeof(struct noun_cell);
            if (!word_stack_push(&stack, noun_tail(x)) || !word_stack_push(&stack, noun_head(x)))
                break;
        } else {
            out->atoms++;
            out->indirect_atoms++;
            out->bytes += atom_bytes_for(noun_to_atom(x)->length);
        }
    }
    word_stack_free(&stack);
    free(seen.slots);
}

/* ---- copying collection ------------------------------------------------- */

/* State of one copying collection: objects in [from_low, from_high) move.
 * Copies are bump-allocated at `cursor` below `limit`; `refill` may move
 * the limit (home commits more of its arena) and says whether it could.
 * [start of copies, cursor) is also the Cheney scan's queue. */
struct home_compaction;
struct noun_collector {
    char *from_low, *from_high;
    char *cursor, *limit;
    bool (*refill)(struct noun_collector *collector, size_t bytes);
    void *target;
    bool failed;
    /* set when home compacts in place: root visits mark and are recorded
     * there instead of copying (see noun_collector_visit) */
    struct home_compaction *compaction;
};

static inline char *collector_allocate(struct noun_collector *collector, size_t bytes)
{
    if ((size_t)(collector->limit - collector->cursor) < bytes &&
        (!collector->refill || !collector->refill(collector, bytes)))
        return NULL;
    char *p = collector->cursor;
    collector->cursor = p + bytes;
    return p;
}

static inline bool collector_moves(const struct noun_collector *collector, noun n)
{
    if (noun_is_direct(n) || n == NOUN_NONE)
        return false;
    const char *p = (const char *)(uintptr_t)(n & NOUN_ADDRESS_MASK);
    return p >= collector->from_low && p < collector->from_high;
}

/* Copy one object (not its children) to the target, leaving a forwarding
 * address behind; return the new noun. */
static noun collector_forward(struct noun_collector *collector, noun n)
{
    if (noun_is_cell(n)) {
        struct noun_cell *old = noun_to_cell(n);
        if (old->flags & NOUN_FLAG_FORWARDED)
            return old->head;
        struct noun_cell *copy = (struct noun_cell *)collector_allocate(collector, sizeof *copy);
        if (!copy) {
            collector->failed = true;
            return n;
        }
        *copy = *old;
        noun moved = noun_from_cell(copy);
        old->flags |= NOUN_FLAG_FORWARDED;
        old->head = moved;
        return moved;
    }
    struct noun_atom *old = noun_to_atom(n);
    if (old->flags & NOUN_FLAG_FORWARDED)
        return old->words[0];
    size_t bytes = atom_bytes_for(old->length);
    struct noun_atom *copy = (struct noun_atom *)collector_allocate(collector, bytes);
    if (!copy) {
        collector->failed = true;
        return n;
    }
    memcpy(copy, old, bytes);
    noun moved = noun_from_atom(copy);
    old->flags |= NOUN_FLAG_FORWARDED;
    old->words[0] = moved;
    return moved;
}

static inline void collector_visit(struct noun_collector *collector, noun *slot)
{
    if (collector_moves(collector, *slot))
        *slot = collector_forward(collector, *slot);
}

static void compaction_visit_root(struct home_compaction *compaction, noun *slot);

void noun_collector_visit(struct noun_collector *collector, noun *slot)
{
    if (collector->compaction)
        compaction_visit_root(collector->compaction, slot);
    else
        collector_visit(collector, slot);
}

bool noun_collector_moves(const struct noun_collector *collector, noun n)
{
    return collector_moves(collector, n);
}

void noun_collector_visit_many(struct noun_collector *collector, noun *slots, size_t count)
{
    if (collector->compaction) {
        for (size_t i = 0; i < count; i++)
            compaction_visit_root(collector->compaction, &slots[i]);
        return;
    }
    for (size_t i = 0; i < count; i++)
        collector_visit(collector, &slots[i]);
}

/* Cheney scan: walk the copied objects in [scan, *end) in the order they
 * were copied, forwarding their children, until no new objects appear.
 * Cells and atoms are told apart by NOUN_FLAG_ATOM in their shared first
 * word. */
static void collector_scan(struct noun_collector *collector, char *scan)
{
    while (scan < collector->cursor) {
        struct noun_atom *atom = (struct noun_atom *)scan;
        if (atom->flags & NOUN_FLAG_ATOM) {
            scan += atom_bytes_for(atom->length);
            continue;
        }
        struct noun_cell *cell = (struct noun_cell *)scan;
        collector_visit(collector, &cell->head);
        collector_visit(collector, &cell->tail);
        scan += sizeof *cell;
    }
}

void noun_region_collect(struct noun_region *region, noun_root_enumerator *roots, void *context)
{
    size_t used_before = noun_region_used(region);
    region_account(region);
    /* Stress mode copies into the idle half past what it held last time
     * (see stress_copy_offset), so an evacuated address stays poisoned for
     * many collections instead of holding a copy after the next one. */
    size_t copy_offset = region->stress ? region->stress_copy_offset : 0;
    struct noun_collector collector = {
        .from_low = region->active_base,
        .from_high = region->active_base + region->half_bytes,
        .cursor = region->other_base + copy_offset,
        .limit = region->other_base + region->half_bytes,
        .target = region,
    };
    char *from_base = region->active_base;
    /* Copies land in the idle half, which becomes the active one. */
    region->active_base = region->other_base;
    region->other_base = from_base;
    roots(context, &collector);
    collector_scan(&collector, region->active_base + copy_offset);
    region->cursor = collector.cursor;
    region->limit = region->active_base + region->half_bytes;
    if (collector.failed)
        region->out_of_memory(region->out_of_memory_context);
    size_t live = noun_region_used(region);
    region->live_after_collect = live;
    __atomic_store_n(&region->collect_trigger, region_trigger_after(live), __ATOMIC_RELAXED);
    region->collections++;
    if (region->stress) {
        /* Every pointer into the evacuated half is stale now: make the
         * first use of one fault, and collect again at the next chance --
         * or, once much survives, after a quarter of it was allocated
         * again, so a big live set costs a constant factor, not a square. */
        size_t copied = live - copy_offset;
        __atomic_store_n(&region->collect_trigger, copied < REGION_STRESS_EVERY_CALL ? live : live + copied / 4,
                         __ATOMIC_RELAXED);
        size_t evacuated_from = region->stress_active_offset;
        poison(from_base + evacuated_from, used_before - evacuated_from);
        region->stress_active_offset = copy_offset;
        size_t wrap = region->half_bytes / 4 < REGION_STRESS_WRAP ? region->half_bytes / 4 : REGION_STRESS_WRAP;
        region->stress_copy_offset = used_before < wrap ? (used_before + 15) & ~(size_t)15 : 0;
    } else {
        region_trim(from_base, used_before);
    }
}

/* Zeroed memory for a big hash table.  Tables are probed at random, so
 * past a few megabytes TLB misses cost as much as cache misses: ask for
 * transparent huge pages.  Freed with noun_table_memory_free(ptr, bytes). */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

void *noun_table_memory(size_t bytes)
{
    if (bytes < HUGE_PAGE_BYTES)
        return calloc(1, bytes);
    /* Huge pages only back aligned 2 MiB ranges: over-map, then trim. */
    size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
    char *mapped = mmap(NULL, rounded + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED)
        return NULL;
    char *aligned = (char *)(((uintptr_t)mapped + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
    if (aligned > mapped)
        munmap(mapped, (size_t)(aligned - mapped));
    size_t after = (size_t)(mapped + rounded + HUGE_PAGE_BYTES - (aligned + rounded));
    if (after > 0)
        munmap(aligned + rounded, after);
    madvise(aligned, rounded, MADV_HUGEPAGE);
    return aligned;
}

void noun_advise_huge_pages(void *start, size_t bytes)
{
    uintptr_t first = ((uintptr_t)start + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    uintptr_t end = ((uintptr_t)start + bytes) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    if (end > first)
        madvise((void *)first, end - first, MADV_HUGEPAGE);
}

void noun_table_memory_free(void *memory, size_t bytes)
{
    if (!memory)
        return;
    if (bytes < HUGE_PAGE_BYTES) {
        free(memory);
        return;
    }
    munmap(memory, (bytes + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1));
}

/* ---- arenas ------------------------------------------------------------- */

/* Plain memory: reserved without backing; pages appear as they are touched,
 * so committing is free. */
static bool memory_arena_commit(struct noun_arena *arena, size_t bytes)
{
    return bytes <= arena->capacity;
}

static void memory_arena_release(struct noun_arena *arena)
{
    munmap(arena->base, arena->capacity);
    free(arena);
}

static struct noun_arena *memory_arena_sibling(struct noun_arena *arena)
{
    return noun_arena_memory(arena->capacity);
}

/* Pages past what in-place compaction kept go back to the system (they
 * read as zeros if touched again). */
static void memory_arena_trim(struct noun_arena *arena, size_t from, size_t to)
{
    size_t first = round_to_pages(from);
    if (to > first)
        madvise(arena->base + first, round_to_pages(to) - first, MADV_DONTNEED);
}

static int compact_setting = -1;

static bool home_compact_forced(void)
{
    return environment_switch(&compact_setting, "NOCKLAB_HOME_COMPACT");
}

struct noun_arena *noun_arena_memory_in_place(size_t capacity)
{
    struct noun_arena *arena = calloc(1, sizeof *arena);
    if (!arena)
        return NULL;
    capacity = round_to_pages(capacity);
    arena->base = reserve_address_space(capacity);
    if (!arena->base) {
        free(arena);
        return NULL;
    }
    arena->capacity = capacity;
    arena->commit = memory_arena_commit;
    arena->release = memory_arena_release;
    arena->trim = memory_arena_trim;
    return arena;
}

struct noun_arena *noun_arena_memory(size_t capacity)
{
    struct noun_arena *arena = noun_arena_memory_in_place(capacity);
    if (arena && !home_compact_forced()) {
        arena->sibling = memory_arena_sibling;
        arena->trim = NULL;
    }
    return arena;
}

/* ---- home --------------------------------------------------------------- */

#define HOME_COMMIT_STEP ((size_t)64 << 20)
#define HOME_MAX_LISTENERS 64

/* A dedup table slot: a home object and its hash, side by side so a probe
 * reads one cache line and compares hashes before touching the object.
 * object == 0 marks an empty slot (no indirect noun is 0). */
struct home_entry {
    noun object;
    uint64_t hash;
};

/* The home heap.  Objects are bump-allocated from arena->base; `used` bytes
 * are in use and the first `committed` are backed.  `table` holds every
 * object in home (open addressing, NOUN_NONE-free: 0 marks an empty slot
 * since no indirect noun is 0), so copy-out can find an equal one. */
struct noun_home {
    struct noun_arena *arena;
    size_t used, committed;
    size_t used_after_collect;
    uint64_t collections;     /* collections (copying or in place) finished */
    struct home_entry *table;
    size_t table_capacity, table_count;
    /* an adopted home's table is empty until its first copy-out or
     * collection fills it from the objects (home_table_refill) */
    bool table_stale;
    struct noun_dedup_stats stats;
    noun **roots;
    size_t root_count, root_capacity;
    struct { noun_home_listener *listener; void *context; } listeners[HOME_MAX_LISTENERS];
    size_t listener_count;
    struct { noun_root_enumerator *roots; void *context; } enumerators[HOME_MAX_LISTENERS];
    size_t enumerator_count;
    /* stress mode: arenas left by collection, inaccessible, released in
     * turn once NOUN_STRESS_QUARANTINE newer ones are kept */
    bool stress;
    struct noun_arena *quarantine[NOUN_STRESS_QUARANTINE];
    size_t quarantine_next;
};


static inline uint64_t hash_atom_words(const struct noun_atom *atom)
{
    return XXH3_64bits(atom->words, atom->length * sizeof(uint64_t));
}

static uint64_t hash_object(noun n)
{
    if (noun_is_cell(n)) {
        const struct noun_cell *c = noun_to_cell(n);
        return mix_pair(c->head, c->tail);
    }
    return hash_atom_words(noun_to_atom(n));
}

/* Put n (with its hash) in the first free slot of its probe sequence. */
static void table_place(struct home_entry *table, size_t capacity, noun n, uint64_t hash)
{
    size_t mask = capacity - 1, j = hash & mask;
    while (table[j].object)
        j = (j + 1) & mask;
    table[j].object = n;
    table[j].hash = hash;
}

static bool home_table_resize(struct noun_home *home, size_t capacity)
{
    struct home_entry *table = noun_table_memory(capacity * sizeof *table);
    if (!table)
        return false;
    for (size_t i = 0; i < home->table_capacity; i++)
        if (home->table[i].object)
            table_place(table, capacity, home->table[i].object, home->table[i].hash);
    noun_table_memory_free(home->table, home->table_capacity * sizeof *home->table);
    home->table = table;
    home->table_capacity = capacity;
    return true;
}

static void *home_allocate(struct noun_home *home, size_t bytes)
{
    if (home->used + bytes > home->committed) {
        size_t want = (home->used + bytes + HOME_COMMIT_STEP - 1) / HOME_COMMIT_STEP * HOME_COMMIT_STEP;
        if (want > home->arena->capacity)
            want = home->arena->capacity;
        if (home->used + bytes > want || !home->arena->commit(home->arena, want))
            return NULL;
        home->committed = want;
    }
    void *p = home->arena->base + home->used;
    /* (read by noun_home_holds, which other threads may call while one
     * moves nouns to home: see noun_home_move_out_each) */
    __atomic_store_n(&home->used, home->used + bytes, __ATOMIC_RELAXED);
    return p;
}

#define HOME_MIN_TABLE ((size_t)1 << 16)

struct noun_home *noun_home_new(struct noun_arena *arena)
{
    if (!arena)
        return NULL;
    struct noun_home *home = calloc(1, sizeof *home);
    if (!home || !home_table_resize(home, HOME_MIN_TABLE)) {
        free(home);
        arena->release(arena);
        return NULL;
    }
    home->arena = arena;
    home->stress = noun_collection_stress();
    return home;
}

struct noun_home *noun_home_adopt(struct noun_arena *arena, size_t used_bytes)
{
    if (arena && (used_bytes % 8 || used_bytes > arena->capacity)) {
        arena->release(arena);
        return NULL;
    }
    struct noun_home *home = noun_home_new(arena);
    if (!home)
        return NULL;
    home->used = home->committed = home->used_after_collect = used_bytes;
    home->table_stale = used_bytes > 0;
    return home;
}

void noun_home_free(struct noun_home *home)
{
    if (!home)
        return;
    home->arena->release(home->arena);
    for (size_t i = 0; i < NOUN_STRESS_QUARANTINE; i++)
        if (home->quarantine[i])
            home->quarantine[i]->release(home->quarantine[i]);
    noun_table_memory_free(home->table, home->table_capacity * sizeof *home->table);
    free(home->roots);
    free(home);
}

bool noun_home_holds(const struct noun_home *home, noun n)
{
    if (noun_is_direct(n) || n == NOUN_NONE)
        return false;
    const char *p = (const char *)(uintptr_t)(n & NOUN_ADDRESS_MASK);
    return p >= home->arena->base && p < home->arena->base + __atomic_load_n(&home->used, __ATOMIC_RELAXED);
}

size_t noun_home_used(const struct noun_home *home) { return home->used; }

void noun_home_dedup_stats(const struct noun_home *home, struct noun_dedup_stats *out)
{
    *out = home->stats;
    out->entries = home->table_count;
    out->capacity = home->table_capacity;
}

static bool home_table_make_room(struct noun_home *home)
{
    if ((home->table_count + 1) * 4 < home->table_capacity * 3)
        return true;
    return home_table_resize(home, home->table_capacity * 2);
}

/* The home cell [head tail], shared if home has it.  head and tail are home
 * nouns (or direct atoms); `hash` is mix_pair(head, tail). */
static noun home_intern_cell_hashed(struct noun_home *home, noun head, noun tail, uint64_t hash)
{
    home->stats.lookups++;
    if (!home_table_make_room(home))
        return NOUN_NONE;
    size_t mask = home->table_capacity - 1, i = hash & mask;
    for (noun n; (n = home->table[i].object); i = (i + 1) & mask) {
        if (home->table[i].hash == hash && noun_is_cell(n) && noun_head(n) == head && noun_tail(n) == tail) {
            home->stats.hits++;
            home->stats.bytes_saved += sizeof(struct noun_cell);
            return n;
        }
    }
    struct noun_cell *cell = home_allocate(home, sizeof *cell);
    if (!cell)
        return NOUN_NONE;
    cell->mug = 0;
    cell->flags = 0;
    cell->head = head;
    cell->tail = tail;
    home->table[i].object = noun_from_cell(cell);
    home->table[i].hash = hash;
    home->table_count++;
    return home->table[i].object;
}

static noun home_intern_cell(struct noun_home *home, noun head, noun tail)
{
    return home_intern_cell_hashed(home, head, tail, mix_pair(head, tail));
}

/* The same for an atom; `hash` is hash_atom_words(atom). */
static noun home_intern_atom_hashed(struct noun_home *home, const struct noun_atom *atom, uint64_t hash)
{
    home->stats.lookups++;
    if (!home_table_make_room(home))
        return NOUN_NONE;
    size_t bytes = atom_bytes_for(atom->length);
    size_t mask = home->table_capacity - 1, i = hash & mask;
    for (noun n; (n = home->table[i].object); i = (i + 1) & mask) {
        if (home->table[i].hash == hash && noun_is_indirect(n)) {
            const struct noun_atom *other = noun_to_atom(n);
            if (other->length == atom->length && memcmp(other->words, atom->words, atom->length * 8) == 0) {
                home->stats.hits++;
                home->stats.bytes_saved += bytes;
                return n;
            }
        }
    }
    struct noun_atom *copy = home_allocate(home, bytes);
    if (!copy)
        return NOUN_NONE;
    memcpy(copy, atom, bytes);
    copy->flags = NOUN_FLAG_ATOM;
    home->table[i].object = noun_from_atom(copy);
    home->table[i].hash = hash;
    home->table_count++;
    return home->table[i].object;
}

static noun home_intern_atom(struct noun_home *home, const struct noun_atom *atom)
{
    return home_intern_atom_hashed(home, atom, hash_atom_words(atom));
}

/* Copy-out marks each scratch object it has copied by overwriting the
 * object's first word (mug and flags) with the home noun it became: a home
 * noun has bit 63 set, which no mug-and-flags word has, so shared structure
 * is copied once without a side table.  The overwritten words are logged
 * and put back before copy-out returns, so scratch is left as it was. */
struct undo_log {
    uint64_t *entries;   /* pairs: address, original first word */
    size_t count, capacity;
    uint64_t inline_entries[256]; /* small copy-outs need no malloc */
};

static void undo_log_init(struct undo_log *log)
{
    log->entries = log->inline_entries;
    log->count = 0;
    log->capacity = sizeof log->inline_entries / sizeof log->inline_entries[0];
}

static bool undo_log_push(struct undo_log *log, uint64_t *address, uint64_t original)
{
    if (log->count + 2 > log->capacity) {
        size_t capacity = log->capacity * 2;
        uint64_t *entries = log->entries == log->inline_entries ? malloc(capacity * sizeof *entries)
                                                                : realloc(log->entries, capacity * sizeof *entries);
        if (!entries)
            return false;
        if (log->entries == log->inline_entries)
            memcpy(entries, log->inline_entries, sizeof log->inline_entries);
        log->entries = entries;
        log->capacity = capacity;
    }
    log->entries[log->count++] = (uint64_t)(uintptr_t)address;
    log->entries[log->count++] = original;
    return true;
}

static void undo_log_restore(struct undo_log *log)
{
    for (size_t i = 0; i < log->count; i += 2)
        *(uint64_t *)(uintptr_t)log->entries[i] = log->entries[i + 1];
    if (log->entries != log->inline_entries)
        free(log->entries);
}

/* Work items of copy-out: a noun to enter, or a cell whose children are
 * done and whose home copy is to be built from the two results on top of
 * the result stack. */
enum { COPY_ENTER = 0, COPY_BUILD = 1 };

/* Whether `n` lives in one of the regions. */
static bool regions_hold(const struct noun_region *const *regions, size_t count, noun n)
{
    for (size_t i = 0; i < count; i++)
        if (noun_region_holds(regions[i], n))
            return true;
    return false;
}

noun noun_home_copy_out(struct noun_home *home, const struct noun_region *region, noun n)
{
    return region ? noun_home_copy_out_many(home, &region, 1, n) : n;
}

static bool home_table_refill(struct noun_home *home);
static noun copy_out(struct noun_home *home, const struct noun_region *const *regions, size_t count, noun n);

noun noun_home_copy_out_many(struct noun_home *home, const struct noun_region *const *regions, size_t count, noun n)
{
    return copy_out(home, regions, count, n);
}

static bool move_out(struct noun_home *home, struct noun_move_marks *const *marks, size_t count, noun *nouns,
                     size_t noun_count);

bool noun_home_move_out_each(struct noun_home *home, struct noun_move_marks *const *marks, size_t count,
                             noun *nouns, size_t noun_count)
{
    return move_out(home, marks, count, nouns, noun_count);
}

/* Copy-out marks each object it copied with its home copy (the top bit of
 * its first word says so), which shares what is reached twice; the marks
 * are undone at the end. */
static noun copy_out(struct noun_home *home, const struct noun_region *const *regions, size_t count, noun n)
{
    if (!regions_hold(regions, count, n))
        return n;
    if (home->table_stale && !home_table_refill(home))
        return NOUN_NONE;
    struct word_stack work, results;
    struct undo_log log;
    undo_log_init(&log);
    word_stack_init(&work);
    word_stack_init(&results);
    noun answer = NOUN_NONE;
    if (!word_stack_push(&work, n) || !word_stack_push(&work, COPY_ENTER))
        goto done;
    while (work.count) {
        uint64_t mode = word_stack_pop(&work);
        noun x = word_stack_pop(&work);
        noun result;
        if (mode == COPY_BUILD) {
            noun tail = word_stack_pop(&results);
            noun head = word_stack_pop(&results);
            result = home_intern_cell(home, head, tail);
            uint64_t *first = noun_first_word(x);
            if (result == NOUN_NONE || !undo_log_push(&log, first, *first))
                goto done;
            /* a mug computed in scratch holds in home (it depends only on
             * the content): keep it, so home's copy needs no second pass */
            uint32_t mug = __atomic_load_n(&noun_to_cell(x)->mug, __ATOMIC_RELAXED);
            struct noun_cell *copy = noun_to_cell(result);
            if (mug && !__atomic_load_n(&copy->mug, __ATOMIC_RELAXED))
                __atomic_store_n(&copy->mug, mug, __ATOMIC_RELAXED);
            *first = result;
        } else if (!regions_hold(regions, count, x)) {
            result = x;
        } else if (*noun_first_word(x) >> 63) {
            result = *noun_first_word(x); /* copied already */
        } else if (noun_is_indirect(x)) {
            result = home_intern_atom(home, noun_to_atom(x));
            uint64_t *first = noun_first_word(x);
            if (result == NOUN_NONE || !undo_log_push(&log, first, *first))
                goto done;
            *first = result;
        } else {
            const struct noun_cell *c = noun_to_cell(x);
            if (!word_stack_push(&work, x) || !word_stack_push(&work, COPY_BUILD) ||
                !word_stack_push(&work, c->tail) || !word_stack_push(&work, COPY_ENTER) ||
                !word_stack_push(&work, c->head) || !word_stack_push(&work, COPY_ENTER))
                goto done;
            continue;
        }
        if (!word_stack_push(&results, result))
            goto done;
    }
    answer = word_stack_pop(&results);
done:
    undo_log_restore(&log);
    word_stack_free(&work);
    word_stack_free(&results);
    return answer;
}

/* Moving out, in one sweep.  A big move (the STM backend's state after an
 * epoch: thousands of new cells over a table far bigger than the cache) is
 * bound by the dedup table's cache misses, one per object, and copy_out's
 * depth-first order makes each wait for the one before (a cell's hash needs
 * its children's home addresses).  So move_out first finds the objects to
 * copy, breadth first, then copies them in the reverse of that order,
 * working out each one's hash MOVE_LOOKAHEAD objects before it is copied
 * and prefetching its table slot then, so that the misses overlap.  An
 * object is found before its children (breadth first, they are queued
 * when it is looked at), so in reverse they come before it: all that can
 * go wrong is a child found within the lookahead (near the roots, where
 * the queue is short), whose copy is then finished first, or a child
 * shared with an object found earlier (a noun that is a DAG), copied
 * there and then depth first.  (The first version sorted the objects by
 * height instead; working the heights out took more than a third of the
 * move.)
 *
 * The objects are only read.  What a move knows of each is in its
 * region's marks (struct noun_move_marks): while it runs, an object found
 * but not yet copied is marked MOVE_FOUND; once copied, with its home
 * noun (bit 63), which later moves find. */
#define MOVE_FOUND (UINT64_C(1) << 62)
#define MOVE_LOOKAHEAD 8

/* A region's marks: words[i] for the object at byte 8 * i of its active
 * half (0: not moved), reserved for the whole half and touched only where
 * objects were moved; `high` is one past the highest word marked since the
 * last clear. */
struct noun_move_marks {
    const struct noun_region *region;
    uint64_t *words;
    size_t reserved_bytes;
    size_t high;
};

struct noun_move_marks *noun_move_marks_new(const struct noun_region *region)
{
    struct noun_move_marks *marks = calloc(1, sizeof *marks);
    if (!marks)
        return NULL;
    marks->region = region;
    marks->reserved_bytes = region->half_bytes;
    void *words = mmap(NULL, marks->reserved_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (words == MAP_FAILED) {
        free(marks);
        return NULL;
    }
    marks->words = words;
    return marks;
}

/* Past this, clearing hands the pages back rather than zeroing them. */
#define MARKS_ZERO_BYTES ((size_t)1 << 20)

void noun_move_marks_clear(struct noun_move_marks *marks)
{
    size_t bytes = marks->high * sizeof *marks->words;
    if (bytes > MARKS_ZERO_BYTES)
        madvise(marks->words, round_to_pages(bytes), MADV_DONTNEED);
    else
        memset(marks->words, 0, bytes);
    marks->high = 0;
}

void noun_move_marks_free(struct noun_move_marks *marks)
{
    if (!marks)
        return;
    munmap(marks->words, marks->reserved_bytes);
    free(marks);
}

/* The marks of the region holding n, and n's word in them; NULL when n is
 * in none of the regions (so in home, or direct). */
static inline uint64_t *move_mark(struct noun_move_marks *const *marks, size_t count, noun n,
                                  struct noun_move_marks **owner)
{
    for (size_t i = 0; i < count; i++) {
        if (noun_region_holds(marks[i]->region, n)) {
            const char *p = (const char *)(uintptr_t)(n & NOUN_ADDRESS_MASK);
            if (owner)
                *owner = marks[i];
            return &marks[i]->words[(size_t)(p - marks[i]->region->active_base) / sizeof(uint64_t)];
        }
    }
    return NULL;
}

struct move {
    noun *objects;          /* in the order found */
    size_t count, capacity;
};

static bool move_reserve(struct move *m)
{
    if (m->count < m->capacity)
        return true;
    size_t capacity = m->capacity ? 2 * m->capacity : 1024;
    noun *objects = realloc(m->objects, capacity * sizeof *objects);
    if (!objects)
        return false;
    m->objects = objects;
    m->capacity = capacity;
    return true;
}

/* Find the objects under nouns[0 .. noun_count) to move, breadth first.  The queue is read
 * far behind where it is written, so each object's line is fetched
 * MOVE_LOOKAHEAD places before it is looked at (most were written by
 * other workers and sit in their caches).  A noun may be queued twice;
 * the second time it is found already.  False when memory ran out. */
static bool move_find(struct move *m, struct noun_move_marks *const *marks, size_t count, const noun *nouns,
                      size_t noun_count)
{
    struct word_stack queue;
    word_stack_init(&queue);
    bool ok = true;
    for (size_t i = 0; ok && i < noun_count; i++)
        if (move_mark(marks, count, nouns[i], NULL))
            ok = word_stack_push(&queue, nouns[i]);
    for (size_t q = 0; ok && q < queue.count; q++) {
        if (q + MOVE_LOOKAHEAD < queue.count) {
            noun ahead = queue.items[q + MOVE_LOOKAHEAD];
            __builtin_prefetch(noun_first_word(ahead));
            __builtin_prefetch(move_mark(marks, count, ahead, NULL), 1);
        }
        noun x = queue.items[q];
        struct noun_move_marks *owner = NULL; /* (set: only region nouns are queued) */
        uint64_t *mark = move_mark(marks, count, x, &owner);
        if (*mark >> 62) /* found, or moved by an earlier move */
            continue;
        if (!(ok = move_reserve(m)))
            break;
        m->objects[m->count++] = x;
        *mark = MOVE_FOUND;
        size_t word = (size_t)(mark - owner->words);
        if (word >= owner->high)
            owner->high = word + 1;
        if (noun_is_indirect(x))
            continue;
        noun head = noun_head(x), tail = noun_tail(x);
        if (move_mark(marks, count, head, NULL))
            ok = word_stack_push(&queue, head);
        if (ok && move_mark(marks, count, tail, NULL))
            ok = word_stack_push(&queue, tail);
    }
    word_stack_free(&queue);
    return ok;
}

/* Whether `child` is an object found by this move and not copied yet. */
static inline bool move_waits_for(struct noun_move_marks *const *marks, size_t count, noun child)
{
    const uint64_t *mark = move_mark(marks, count, child, NULL);
    return mark && !(*mark >> 63);
}

/* A child as home knows it: its home copy when it was moved. */
static inline noun move_resolved(struct noun_move_marks *const *marks, size_t count, noun child)
{
    const uint64_t *mark = move_mark(marks, count, child, NULL);
    return mark ? (noun)*mark : child;
}

/* One object on its way to home: what its copy needs, worked out (and its
 * table slot prefetched) MOVE_LOOKAHEAD objects before it is made. */
struct move_pending {
    noun object;
    noun head, tail;        /* resolved, for a cell */
    uint64_t hash;
};

/* The copies in flight, a ring of MOVE_LOOKAHEAD: `first` the oldest. */
struct move_pipeline {
    struct move_pending pending[MOVE_LOOKAHEAD];
    size_t first, count;
};

static void move_prepare(struct noun_home *home, struct noun_move_marks *const *marks, size_t count, noun x,
                         struct move_pending *p)
{
    p->object = x;
    if (noun_is_indirect(x)) {
        p->hash = hash_atom_words(noun_to_atom(x));
    } else {
        p->head = move_resolved(marks, count, noun_head(x));
        p->tail = move_resolved(marks, count, noun_tail(x));
        p->hash = mix_pair(p->head, p->tail);
    }
    __builtin_prefetch(&home->table[p->hash & (home->table_capacity - 1)]);
}

/* Make one object's home copy and mark the object with it. */
static bool move_make(struct noun_home *home, struct noun_move_marks *const *marks, size_t count,
                      const struct move_pending *p)
{
    noun x = p->object;
    noun result;
    if (noun_is_indirect(x)) {
        result = home_intern_atom_hashed(home, noun_to_atom(x), p->hash);
    } else {
        result = home_intern_cell_hashed(home, p->head, p->tail, p->hash);
        /* a mug computed in the region holds in home: keep it (another
         * thread may be giving the region's cell its mug just now) */
        uint32_t mug = __atomic_load_n(&noun_to_cell(x)->mug, __ATOMIC_RELAXED);
        if (result != NOUN_NONE && mug && !__atomic_load_n(&noun_to_cell(result)->mug, __ATOMIC_RELAXED))
            __atomic_store_n(&noun_to_cell(result)->mug, mug, __ATOMIC_RELAXED);
    }
    if (result == NOUN_NONE)
        return false;
    *move_mark(marks, count, x, NULL) = result;
    return true;
}

/* Make every copy in flight, oldest first. */
static bool move_drain(struct noun_home *home, struct noun_move_marks *const *marks, size_t count,
                       struct move_pipeline *line)
{
    for (; line->count; line->count--, line->first = (line->first + 1) % MOVE_LOOKAHEAD)
        if (!move_make(home, marks, count, &line->pending[line->first]))
            return false;
    return true;
}

/* Copy x, whose children may not be copied yet, depth first (rare: see
 * above).  False when home is full or memory ran out. */
static bool move_depth_first(struct noun_home *home, struct noun_move_marks *const *marks, size_t count, noun x)
{
    struct word_stack stack;
    word_stack_init(&stack);
    bool ok = word_stack_push(&stack, x);
    while (ok && stack.count) {
        noun y = stack.items[stack.count - 1];
        if (!move_waits_for(marks, count, y)) { /* (pushed twice, copied already) */
            stack.count--;
            continue;
        }
        bool head_waits = noun_is_cell(y) && move_waits_for(marks, count, noun_head(y));
        bool tail_waits = noun_is_cell(y) && move_waits_for(marks, count, noun_tail(y));
        if (head_waits || tail_waits) {
            if (head_waits)
                ok = word_stack_push(&stack, noun_head(y));
            if (ok && tail_waits)
                ok = word_stack_push(&stack, noun_tail(y));
            continue;
        }
        struct move_pending p;
        move_prepare(home, marks, count, y, &p);
        ok = move_make(home, marks, count, &p);
        stack.count--;
    }
    word_stack_free(&stack);
    return ok;
}

/* Copy the objects found, in the reverse of the order found, through the
 * pipeline.  False when home is full or memory ran out. */
static bool move_make_all(struct noun_home *home, const struct move *m, struct noun_move_marks *const *marks,
                          size_t count)
{
    struct move_pipeline line = { .first = 0, .count = 0 };
    for (size_t i = m->count; i-- > 0;) {
        noun x = m->objects[i];
        if (!move_waits_for(marks, count, x)) /* copied depth first already */
            continue;
        if (noun_is_cell(x) &&
            (move_waits_for(marks, count, noun_head(x)) || move_waits_for(marks, count, noun_tail(x)))) {
            if (!move_drain(home, marks, count, &line) || !move_depth_first(home, marks, count, x))
                return false;
            continue;
        }
        if (line.count == MOVE_LOOKAHEAD) {
            if (!move_make(home, marks, count, &line.pending[line.first]))
                return false;
            line.first = (line.first + 1) % MOVE_LOOKAHEAD;
            line.count--;
        }
        move_prepare(home, marks, count, x, &line.pending[(line.first + line.count) % MOVE_LOOKAHEAD]);
        line.count++;
    }
    return move_drain(home, marks, count, &line);
}

/* Move nouns[0 .. noun_count) to home together, each replaced by its home
 * noun.  False when home is full (then some may have been moved). */
static bool move_out(struct noun_home *home, struct noun_move_marks *const *marks, size_t count, noun *nouns,
                     size_t noun_count)
{
    if (home->table_stale && !home_table_refill(home))
        return false;
    struct move m = { 0 };
    bool ok = move_find(&m, marks, count, nouns, noun_count) && move_make_all(home, &m, marks, count);
    /* what was found and not copied is forgotten (copies made stay known:
     * they are good home nouns) */
    for (size_t i = 0; !ok && i < m.count; i++) {
        uint64_t *mark = move_mark(marks, count, m.objects[i], NULL);
        if (!(*mark >> 63))
            *mark = 0;
    }
    free(m.objects);
    for (size_t i = 0; ok && i < noun_count; i++)
        nouns[i] = move_resolved(marks, count, nouns[i]);
    return ok;
}

bool noun_home_root_add(struct noun_home *home, noun *slot)
{
    if (home->root_count == home->root_capacity) {
        size_t capacity = home->root_capacity ? home->root_capacity * 2 : 64;
        noun **roots = realloc(home->roots, capacity * sizeof *roots);
        if (!roots)
            return false;
        home->roots = roots;
        home->root_capacity = capacity;
    }
    home->roots[home->root_count++] = slot;
    return true;
}

void noun_home_root_remove(struct noun_home *home, noun *slot)
{
    for (size_t i = home->root_count; i-- > 0;) {
        if (home->roots[i] == slot) {
            home->roots[i] = home->roots[--home->root_count];
            return;
        }
    }
}

bool noun_home_listen(struct noun_home *home, noun_home_listener *listener, void *context)
{
    if (home->listener_count == HOME_MAX_LISTENERS)
        return false;
    home->listeners[home->listener_count].listener = listener;
    home->listeners[home->listener_count].context = context;
    home->listener_count++;
    return true;
}

void noun_home_unlisten(struct noun_home *home, noun_home_listener *listener, void *context)
{
    for (size_t i = 0; i < home->listener_count; i++) {
        if (home->listeners[i].listener == listener && home->listeners[i].context == context) {
            home->listeners[i] = home->listeners[--home->listener_count];
            return;
        }
    }
}

bool noun_home_root_enumerator_add(struct noun_home *home, noun_root_enumerator *roots, void *context)
{
    if (home->enumerator_count == HOME_MAX_LISTENERS)
        return false;
    home->enumerators[home->enumerator_count].roots = roots;
    home->enumerators[home->enumerator_count].context = context;
    home->enumerator_count++;
    return true;
}

void noun_home_root_enumerator_remove(struct noun_home *home, noun_root_enumerator *roots, void *context)
{
    for (size_t i = 0; i < home->enumerator_count; i++) {
        if (home->enumerators[i].roots == roots && home->enumerators[i].context == context) {
            home->enumerators[i] = home->enumerators[--home->enumerator_count];
            return;
        }
    }
}

/* Give back the arena a collection left.  In stress mode it is kept a
 * while, inaccessible and without its pages, so that a stale pointer into
 * it faults rather than finding a noun of a later arena at its address. */
static void home_retire_arena(struct noun_home *home, struct noun_arena *arena, size_t used)
{
    if (!home->stress) {
        arena->release(arena);
        return;
    }
    size_t bytes = round_to_pages(used);
    if (bytes) {
        madvise(arena->base, bytes, MADV_DONTNEED);
        mprotect(arena->base, bytes, PROT_NONE);
    }
    struct noun_arena **slot = &home->quarantine[home->quarantine_next];
    if (*slot)
        (*slot)->release(*slot);
    *slot = arena;
    home->quarantine_next = (home->quarantine_next + 1) % NOUN_STRESS_QUARANTINE;
}

/* The collector bumps its own cursor; when it reaches what the target home
 * has committed, commit more (home_allocate does) and carry on. */
static bool home_collect_refill(struct noun_collector *collector, size_t bytes)
{
    struct noun_home *target = collector->target;
    target->used = (size_t)(collector->cursor - target->arena->base);
    if (!home_allocate(target, bytes))
        return false;
    target->used -= bytes;
    collector->limit = target->arena->base + target->committed;
    return true;
}

/* An empty dedup table with room for `objects` entries under the load
 * home_table_make_room keeps.  The table in place is reused (cleared) when
 * it is big enough but not more than four times so. */
static bool home_table_clear(struct noun_home *home, size_t objects)
{
    size_t capacity = HOME_MIN_TABLE;
    while (capacity * 3 <= objects * 4)
        capacity *= 2;
    struct home_entry *table = NULL;
    if (home->table_capacity < capacity || home->table_capacity > 4 * capacity)
        table = noun_table_memory(capacity * sizeof *table);
    if (table) {
        noun_table_memory_free(home->table, home->table_capacity * sizeof *home->table);
        home->table = table;
        home->table_capacity = capacity;
    } else if (home->table_capacity >= capacity) {
        memset(home->table, 0, home->table_capacity * sizeof *home->table);
    } else {
        return false;
    }
    home->table_count = 0;
    return true;
}

/* Entries on their way into a dedup table being rebuilt.  Each one's slot
 * is prefetched when it is added and written TABLE_BATCH additions later,
 * so the cache misses of a rebuild (one per object, the table being
 * probed at random) overlap instead of coming one after another.  The
 * table must have room for every entry added (home_table_clear). */
#define TABLE_BATCH 16

struct table_batch {
    noun objects[TABLE_BATCH];
    uint64_t hashes[TABLE_BATCH];
    size_t count;
};

static inline void table_batch_add(struct noun_home *home, struct table_batch *batch, noun n, uint64_t hash)
{
    size_t i = batch->count++ % TABLE_BATCH;
    if (batch->count > TABLE_BATCH)
        table_place(home->table, home->table_capacity, batch->objects[i], batch->hashes[i]);
    __builtin_prefetch(&home->table[hash & (home->table_capacity - 1)], 1);
    batch->objects[i] = n;
    batch->hashes[i] = hash;
}

static void table_batch_finish(struct noun_home *home, struct table_batch *batch)
{
    size_t pending = batch->count < TABLE_BATCH ? batch->count : TABLE_BATCH;
    for (size_t i = 0; i < pending; i++)
        table_place(home->table, home->table_capacity, batch->objects[i], batch->hashes[i]);
    home->table_count += batch->count;
    batch->count = 0;
}

/* Enter every object of home in the (empty) dedup table, scanning them end
 * to end from the arena's base.  Stops at an object that would run past
 * `used` (an adopted arena that is not what it claims).  The table was
 * made for used/24 objects (home_table_clear), which no home exceeds. */
static void home_table_fill_by_scan(struct noun_home *home)
{
    struct table_batch batch = { .count = 0 };
    char *p = home->arena->base, *end = p + home->used;
    while ((size_t)(end - p) >= sizeof(struct noun_cell)) {
        struct noun_atom *atom = (struct noun_atom *)p;
        noun n;
        if (atom->flags & NOUN_FLAG_ATOM) {
            if (atom->length > (size_t)(end - p - sizeof *atom) / sizeof(uint64_t))
                break;
            n = noun_from_atom(atom);
            p += atom_bytes_for(atom->length);
        } else {
            n = noun_from_cell((struct noun_cell *)p);
            p += sizeof(struct noun_cell);
        }
        table_batch_add(home, &batch, n, hash_object(n));
    }
    table_batch_finish(home, &batch);
}

/* The table of an adopted home, filled from its objects.  Objects are at
 * least a cell's size, so used/24 bounds their number and the table never
 * grows during the scan. */
static bool home_table_refill(struct noun_home *home)
{
    if (!home_table_clear(home, home->used / sizeof(struct noun_cell)))
        return false;
    home->table_stale = false;
    home_table_fill_by_scan(home);
    return true;
}

/* Nouns moved: say so to the listeners and to noun_home_held_at. */
static void home_notify_listeners(struct noun_home *home)
{
    home->collections++;
    for (size_t i = 0; i < home->listener_count; i++)
        home->listeners[i].listener(home->listeners[i].context);
}

/* Collection by copying the live objects into a sibling arena (Cheney),
 * then rebuilding the dedup table from them.  Survivors were unique
 * before, so they stay unique; only the slots move. */
static bool home_collect_by_copying(struct noun_home *home)
{
    struct noun_arena *target_arena = home->arena->sibling(home->arena);
    if (!target_arena)
        return false;
    struct noun_home target = { .arena = target_arena };
    struct noun_collector collector = {
        .from_low = home->arena->base,
        .from_high = home->arena->base + home->used,
        .cursor = target_arena->base,
        .limit = target_arena->base,
        .refill = home_collect_refill,
        .target = &target,
    };
    for (size_t i = 0; i < home->root_count; i++)
        collector_visit(&collector, home->roots[i]);
    for (size_t i = 0; i < home->enumerator_count; i++)
        home->enumerators[i].roots(home->enumerators[i].context, &collector);
    collector_scan(&collector, target_arena->base);
    target.used = (size_t)(collector.cursor - target_arena->base);
    if (collector.failed) {
        /* Only possible if the sibling can't commit as much as the old
         * arena held; the old objects are forwarded and unusable now. */
        abort();
    }
    home_retire_arena(home, home->arena, home->used);
    home->arena = target_arena;
    home->used = target.used;
    home->committed = target.committed;
    home->used_after_collect = target.used;
    /* Rebuild the dedup table from the survivors, in address order: no more
     * than were in it before (when it was not stale), so the table in
     * place always has room.  A stale one that can't be had stays stale,
     * for the next copy-out to try again. */
    size_t survivors = home->used / sizeof(struct noun_cell);
    if (!home->table_stale && survivors > home->table_count)
        survivors = home->table_count;
    if (home_table_clear(home, survivors)) {
        home->table_stale = false;
        home_table_fill_by_scan(home);
    }
    home_notify_listeners(home);
    return true;
}

/* ---- in-place home compaction -------------------------------------------- */

/* A home whose arena has no sibling (the PMA, at a fixed address) is
 * compacted where it is, in four steps (a sliding mark-compact in the
 * manner of the Compressor collector):
 *
 *   mark   from the roots, with an explicit stack, set in `live` the bit of
 *          every word of every object reachable (one bit per 8-byte word of
 *          [base, base+used)); each root slot is recorded with its noun;
 *   count  before[g] = live words in the groups of GROUP_WORDS words
 *          ahead of group g.  A live object's new offset is then before[g]
 *          plus the live bits below it in its group: found in O(1) from
 *          the side tables, so no object needs a forwarding word and every
 *          first word keeps its mug;
 *   slide  walk the live objects in address order, move each down to the
 *          end of those already moved, its head and tail rewritten to
 *          their new addresses, and enter it in the dedup table;
 *   roots  write each recorded slot's new noun.
 *
 * Order is kept, so objects stay laid end to end and children stay below
 * parents where they were.  Side memory: used/64 bytes of bitmap, used/256
 * of counts, the recorded roots and the mark stack.  All of it is had
 * before the first write, so a failure leaves home as it was. */
#define GROUP_BITMAP_WORDS 4
#define GROUP_WORDS (64 * GROUP_BITMAP_WORDS)

/* Forwarding is counting bits, a few popcounts per pointer.  Without the
 * processor's popcount instruction (not in the baseline x86-64 the build
 * targets) each is a library call, and the slide takes twice as long; so
 * on x86-64 the functions that count get a clone that uses it, chosen when
 * the program loads.  Not under ThreadSanitizer: the loader runs the
 * clone's chooser before the sanitizer's runtime is up, and it faults. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define COUNTS_BITS __attribute__((target_clones("popcnt", "default")))
#else
#define COUNTS_BITS
#endif

struct root_record {
    noun *slot;
    noun old;
};

struct home_compaction {
    char *base;
    size_t words;                /* home's use before compaction, in words */
    uint64_t *live;              /* the mark bitmap */
    uint64_t *before;            /* live words ahead of each group */
    size_t bitmap_words, groups;
    struct word_stack stack;     /* nouns to mark */
    struct root_record *records; /* root slots visited, with the noun each held */
    size_t record_count, record_capacity;
    size_t live_objects, live_words;
    bool failed;
};

static inline bool compaction_holds(const struct home_compaction *c, noun n)
{
    if (noun_is_direct(n) || n == NOUN_NONE)
        return false;
    uintptr_t p = (uintptr_t)(n & NOUN_ADDRESS_MASK);
    return p >= (uintptr_t)c->base && p - (uintptr_t)c->base < c->words * 8;
}

static inline size_t compaction_word(const struct home_compaction *c, noun n)
{
    return ((uintptr_t)(n & NOUN_ADDRESS_MASK) - (uintptr_t)c->base) / 8;
}

static inline bool compaction_marked(const struct home_compaction *c, size_t word)
{
    return c->live[word >> 6] >> (word & 63) & 1;
}

static void bitmap_set_range(uint64_t *bits, size_t from, size_t count)
{
    for (size_t end = from + count; from < end;) {
        size_t bit = from & 63, take = 64 - bit < end - from ? 64 - bit : end - from;
        bits[from >> 6] |= (take == 64 ? ~UINT64_C(0) : (UINT64_C(1) << take) - 1) << bit;
        from += take;
    }
}

/* Push a child to mark unless it is outside home or marked already. */
static inline bool compaction_push(struct home_compaction *c, noun n)
{
    if (!compaction_holds(c, n) || compaction_marked(c, compaction_word(c, n)))
        return true;
    __builtin_prefetch((const void *)(uintptr_t)(n & NOUN_ADDRESS_MASK));
    return word_stack_push(&c->stack, n);
}

/* Mark `n` and everything reachable from it.  An object that would run
 * past home's end fails the compaction (before anything was written). */
static void compaction_mark(struct home_compaction *c, noun n)
{
    if (!compaction_push(c, n)) {
        c->failed = true;
        return;
    }
    while (c->stack.count) {
        noun x = word_stack_pop(&c->stack);
        size_t word = compaction_word(c, x);
        if (compaction_marked(c, word))
            continue;
        size_t room = c->words - word, size = 3;
        if (room < size || (noun_is_indirect(x) && noun_to_atom(x)->length > room - 2)) {
            c->failed = true;
            return;
        }
        if (noun_is_indirect(x))
            size = 2 + noun_to_atom(x)->length;
        bitmap_set_range(c->live, word, size);
        c->live_objects++;
        c->live_words += size;
        if (noun_is_cell(x) && (!compaction_push(c, noun_tail(x)) || !compaction_push(c, noun_head(x)))) {
            c->failed = true;
            return;
        }
    }
}

static void compaction_visit_root(struct home_compaction *c, noun *slot)
{
    noun n = *slot;
    if (c->failed || !compaction_holds(c, n))
        return;
    if (c->record_count == c->record_capacity) {
        size_t capacity = c->record_capacity ? 2 * c->record_capacity : 256;
        struct root_record *records = realloc(c->records, capacity * sizeof *records);
        if (!records) {
            c->failed = true;
            return;
        }
        c->records = records;
        c->record_capacity = capacity;
    }
    c->records[c->record_count++] = (struct root_record){ slot, n };
    compaction_mark(c, n);
}

COUNTS_BITS static void compaction_count(struct home_compaction *c)
{
    uint64_t total = 0;
    for (size_t g = 0; g < c->groups; g++) {
        c->before[g] = total;
        for (size_t i = g * GROUP_BITMAP_WORDS; i < (g + 1) * GROUP_BITMAP_WORDS; i++)
            total += (uint64_t)__builtin_popcountll(c->live[i]);
    }
}

/* Where a live object of home (or anything else, unchanged) is after the
 * slide. */
static inline noun compaction_forward(const struct home_compaction *c, noun n)
{
    if (!compaction_holds(c, n))
        return n;
    size_t word = compaction_word(c, n), group = word / GROUP_WORDS;
    uint64_t below = c->before[group];
    for (size_t i = group * GROUP_BITMAP_WORDS; i < word >> 6; i++)
        below += (uint64_t)__builtin_popcountll(c->live[i]);
    below += (uint64_t)__builtin_popcountll(c->live[word >> 6] & ((UINT64_C(1) << (word & 63)) - 1));
    return (n & NOUN_TAG_MASK) | ((uintptr_t)c->base + below * 8);
}

/* The first marked word at or after `word` (c->words when none). */
static size_t compaction_next_live(const struct home_compaction *c, size_t word)
{
    if (word >= c->words)
        return c->words;
    size_t index = word >> 6;
    uint64_t bits = c->live[index] & (~UINT64_C(0) << (word & 63));
    while (!bits) {
        if (++index == c->bitmap_words)
            return c->words;
        bits = c->live[index];
    }
    return index * 64 + (size_t)__builtin_ctzll(bits);
}

/* The first word that is not live: everything below it stays put. */
static size_t compaction_first_dead(const struct home_compaction *c)
{
    for (size_t i = 0; i < c->bitmap_words; i++)
        if (~c->live[i]) {
            size_t word = i * 64 + (size_t)__builtin_ctzll(~c->live[i]);
            return word < c->words ? word : c->words;
        }
    return c->words;
}

/* Slide every live object down over the dead ones, in address order, and
 * enter each in the (empty) dedup table.  An object that stays put is
 * written only where a child moved, so its page is not dirtied for
 * nothing. */
COUNTS_BITS static void compaction_slide(struct noun_home *home, const struct home_compaction *c)
{
    struct table_batch batch = { .count = 0 };
    uint64_t *to = (uint64_t *)(void *)c->base;
    for (size_t word = compaction_next_live(c, 0); word < c->words;) {
        uint64_t *from = (uint64_t *)(void *)c->base + word;
        size_t size;
        noun moved;
        uint64_t hash;
        if (((struct noun_atom *)from)->flags & NOUN_FLAG_ATOM) {
            size = 2 + ((struct noun_atom *)from)->length;
            if (to != from)
                memmove(to, from, size * 8);
            moved = noun_from_atom((struct noun_atom *)to);
            hash = hash_atom_words((struct noun_atom *)to);
        } else {
            /* read all three words first: the copy may overlap them */
            uint64_t first = from[0];
            noun head = compaction_forward(c, from[1]), tail = compaction_forward(c, from[2]);
            size = 3;
            if (to != from)
                to[0] = first;
            if (to != from || from[1] != head)
                to[1] = head;
            if (to != from || from[2] != tail)
                to[2] = tail;
            moved = noun_from_cell((struct noun_cell *)to);
            hash = mix_pair(head, tail);
        }
        table_batch_add(home, &batch, moved, hash);
        to += size;
        word = compaction_next_live(c, word + size);
    }
    table_batch_finish(home, &batch);
}

static void compaction_free(struct home_compaction *c)
{
    noun_table_memory_free(c->live, c->bitmap_words * sizeof *c->live);
    noun_table_memory_free(c->before, c->groups * sizeof *c->before);
    word_stack_free(&c->stack);
    free(c->records);
}

static bool home_compact_in_place(struct noun_home *home)
{
    struct home_compaction c = { .base = home->arena->base, .words = home->used / 8 };
    c.groups = (c.words + GROUP_WORDS - 1) / GROUP_WORDS;
    c.bitmap_words = c.groups * GROUP_BITMAP_WORDS;
    word_stack_init(&c.stack);
    if (c.words == 0) {
        home_notify_listeners(home);
        return true;
    }
    c.live = noun_table_memory(c.bitmap_words * sizeof *c.live);
    c.before = noun_table_memory(c.groups * sizeof *c.before);
    c.failed = !c.live || !c.before;
    struct noun_collector collector = {
        .from_low = c.base,
        .from_high = c.base + home->used,
        .compaction = &c,
    };
    for (size_t i = 0; i < home->root_count && !c.failed; i++)
        compaction_visit_root(&c, home->roots[i]);
    for (size_t i = 0; i < home->enumerator_count && !c.failed; i++)
        home->enumerators[i].roots(home->enumerators[i].context, &collector);
    /* the table is made at most half full: compaction knows how many
     * objects it will hold, and copy-out will add more */
    bool everything_live = c.live_words == c.words && !home->table_stale;
    if (c.failed || (!everything_live && !home_table_clear(home, c.live_objects + c.live_objects / 2))) {
        compaction_free(&c);
        return false;
    }
    size_t old_used = home->used, used = c.live_words * 8;
    if (!everything_live) {
        compaction_count(&c);
        size_t first_dead = compaction_first_dead(&c);
        if (home->arena->will_rewrite && first_dead < c.words)
            home->arena->will_rewrite(home->arena, first_dead * 8, old_used);
        compaction_slide(home, &c);
        for (size_t i = 0; i < c.record_count; i++)
            *c.records[i].slot = compaction_forward(&c, c.records[i].old);
        home->table_stale = false;
    }
    home->used = used;
    home->used_after_collect = used;
    if (used < old_used) {
        if (home->stress) {
            /* a stale pointer into the freed tail reads poison and faults;
             * one into the kept part finds whichever noun slid there */
            poison(c.base + used, old_used - used);
        } else if (home->arena->trim) {
            home->arena->trim(home->arena, used, old_used);
            home->committed = used;
        }
    }
    compaction_free(&c);
    home_notify_listeners(home);
    return true;
}

bool noun_home_collect(struct noun_home *home)
{
    if (home->arena->sibling)
        return home_collect_by_copying(home);
    return home_compact_in_place(home);
}

size_t noun_home_used_after_collect(const struct noun_home *home) { return home->used_after_collect; }

struct noun_home_mark noun_home_mark_now(const struct noun_home *home)
{
    return (struct noun_home_mark){ .collections = home->collections, .used = home->used };
}

bool noun_home_held_at(const struct noun_home *home, struct noun_home_mark mark, noun n)
{
    if (noun_is_direct(n))
        return true;
    if (n == NOUN_NONE || mark.collections != home->collections)
        return false;
    const char *p = (const char *)(uintptr_t)(n & NOUN_ADDRESS_MASK);
    return p >= home->arena->base && p < home->arena->base + mark.used;
}
