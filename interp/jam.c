/* jam.c -- jam and cue (the encoding is described in jam.h).
 *
 * jam works in two passes.  Pass 1 puts the noun in canonical form: every
 * distinct subnoun gets a number, found by hashing a cell's pair of child
 * numbers (hash-consing), so structurally equal subnouns share a number and
 * equality is never checked by walking nouns; cells shared by pointer are
 * recognised by address and walked once.  Pass 2 writes the canonical form
 * in pre-order (head before tail), and "was an equal noun written before,
 * and where" is an array lookup by number.  Neither pass writes to the noun,
 * so several threads may jam the same noun at once.
 *
 * cue reads nouns in the order they begin, which is increasing bit offset.
 * So numbering nouns as they begin gives each offset a dense index: a bitmap
 * of offsets where a noun began, with a running count per 64-bit word, turns
 * a backreference into an index in O(1) with no hashing, and the nouns
 * themselves sit in an array in that order.
 */
#include "interp/jam.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "jam.c treats atom words as little-endian bytes and assumes a little-endian host"
#endif

/* Significant bits of a 64-bit value (0 for 0). */
static inline unsigned bit_width(uint64_t value)
{
    return value == 0 ? 0 : 64 - (unsigned)__builtin_clzll(value);
}

static inline uint64_t low_mask(unsigned bits)
{
    return bits >= 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
}

/* ======================================================================== */
/* jam                                                                        */
/* ======================================================================== */

/* The output bit stream.  The word holding bit_count has its bits at or
 * past bit_count clear, and the words after it are not written yet (nor
 * zeroed: zeroing a buffer the size of a big snapshot only to overwrite it
 * costs a page fault per page twice over), so writing starts a word with a
 * store and goes on in it with an OR.  `capacity` words are allocated;
 * writer_reserve keeps one spare word past the last bit in use so a write
 * may spill into the next word without a check. */
struct bit_writer {
    uint64_t *words;
    size_t capacity;
    uint64_t bit_count;
};

/* Most bits one mat of an atom of `bits` bits can take: up to 64 zeros, a
 * one, 63 length bits, then the value. */
#define MAT_OVERHEAD_BITS 130

static bool writer_reserve(struct bit_writer *writer, uint64_t more_bits)
{
    uint64_t needed = (writer->bit_count + more_bits) / 64 + 2;
    if (needed <= writer->capacity)
        return true;
    size_t capacity = writer->capacity ? writer->capacity : 256;
    while (capacity < needed) {
        if (capacity > SIZE_MAX / 16)
            return false;
        capacity *= 2;
    }
    uint64_t *words = realloc(writer->words, capacity * sizeof *words);
    if (!words)
        return false;
    noun_advise_huge_pages(words, capacity * sizeof *words);
    writer->words = words;
    writer->capacity = capacity;
    return true;
}

/* Append the low `count` (<= 64) bits of `value`; higher bits must be 0. */
static inline void writer_put(struct bit_writer *writer, uint64_t value, unsigned count)
{
    uint64_t position = writer->bit_count;
    size_t index = (size_t)(position >> 6);
    unsigned shift = (unsigned)(position & 63);
    if (shift == 0) {
        writer->words[index] = value;
    } else {
        writer->words[index] |= value << shift;
        if (shift + count > 64)
            writer->words[index + 1] = value >> (64 - shift);
    }
    writer->bit_count = position + count;
}

static void writer_put_atom(struct bit_writer *writer, noun atom, uint64_t bits)
{
    if (noun_is_direct(atom)) {
        writer_put(writer, atom, (unsigned)bits);
        return;
    }
    const struct noun_atom *big = noun_to_atom(atom);
    uint64_t last = big->length - 1;
    for (uint64_t i = 0; i < last; i++)
        writer_put(writer, big->words[i], 64);
    writer_put(writer, big->words[last], (unsigned)(bits - 64 * last));
}

/* mat: the self-delimiting encoding of an atom of `bits` bits. */
static void writer_mat(struct bit_writer *writer, noun atom, uint64_t bits)
{
    if (bits == 0) {
        writer_put(writer, 1, 1);
        return;
    }
    unsigned length_bits = bit_width(bits);
    writer_put(writer, 0, length_bits);
    writer_put(writer, 1, 1);
    writer_put(writer, bits & low_mask(length_bits - 1), length_bits - 1);
    writer_put_atom(writer, atom, bits);
}

/* ---- canonical form ------------------------------------------------------ */
/* Pass 1 numbers every distinct subnoun, so that structurally equal nouns
 * get the same reference and jam never compares two nouns deeply (mugs are
 * too weak for that: along a long nest they fall into a cycle, and equal
 * mugs all the way down make every equality check walk the whole nest). */

/* A reference to a subnoun in canonical form: a direct atom is itself (top
 * bit clear); otherwise the top two bits say which array the low bits index
 * (the distinct cells or the distinct indirect atoms). */
#define REF_CELL     (UINT64_C(3) << 62)
#define REF_INDIRECT (UINT64_C(2) << 62)
#define REF_TAG_MASK (UINT64_C(3) << 62)
#define REF_NONE     UINT64_MAX
/* Interning slots hold a 32-bit number, so that many distinct nouns at most. */
#define MAX_DISTINCT (UINT64_C(0xfffffffe))

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* New entries wait in a queue this long, their slot prefetched, before
 * they are placed in a table, so placing one doesn't stall on a miss. */
#define PLACE_QUEUE 16

/* How far ahead loops over independent random accesses prefetch. */
#define PREFETCH_AHEAD 16

/* A table's next size: four times bigger while small, to spend less time
 * rehashing, then twice, to keep memory in bounds. */
static inline size_t grown_capacity(size_t capacity)
{
    return capacity < ((size_t)1 << 20) ? 4 * capacity : 2 * capacity;
}

/* Tables grow when more than 70% full. */
static inline bool table_too_full(size_t count, size_t mask)
{
    return count * 10 > (mask + 1) * 7;
}

/* Which cells pass 1 has visited: one bit per 8 bytes of address space
 * (cells are 8-aligned and bigger than 8 bytes), kept per 2 MiB chunk of
 * address space that holds any cell, the chunks found through a small
 * table keyed by chunk number.  It is exact, and a chunk's bits are 1/64 of
 * its size, so it mostly stays in cache while the map below would not: the
 * first visit of a cell, by far the most common case, costs no probe of
 * the address map at all. */
#define CHUNK_SHIFT 21
#define CHUNK_WORDS ((size_t)1 << (CHUNK_SHIFT - 3 - 6))

struct visited_chunk {
    uint64_t number;   /* address >> CHUNK_SHIFT, plus 1 (0: empty slot) */
    uint64_t *bits;
};

struct visited_set {
    struct visited_chunk *chunks;
    size_t mask, count;
    uint64_t last_number;    /* one-entry cache: nouns are mostly local */
    uint64_t *last_bits;
};

static bool visited_init(struct visited_set *set)
{
    memset(set, 0, sizeof *set);
    set->mask = 63;
    set->chunks = calloc(64, sizeof *set->chunks);
    return set->chunks != NULL;
}

static void visited_free(struct visited_set *set)
{
    for (size_t i = 0; set->chunks && i <= set->mask; i++)
        free(set->chunks[i].bits);
    free(set->chunks);
}

static struct visited_chunk *visited_find(struct visited_chunk *chunks, size_t mask, uint64_t number)
{
    size_t index = (size_t)mix64(number) & mask;
    while (chunks[index].number != 0 && chunks[index].number != number)
        index = (index + 1) & mask;
    return &chunks[index];
}

/* The bits of the chunk holding `address`, made if new.  NULL on no memory. */
static uint64_t *visited_chunk_bits(struct visited_set *set, uint64_t address)
{
    uint64_t number = (address >> CHUNK_SHIFT) + 1;
    if (number == set->last_number)
        return set->last_bits;
    struct visited_chunk *chunk = visited_find(set->chunks, set->mask, number);
    if (chunk->number == 0) {
        if (table_too_full(set->count + 1, set->mask)) {
            size_t capacity = 4 * (set->mask + 1);
            struct visited_chunk *chunks = calloc(capacity, sizeof *chunks);
            if (!chunks)
                return NULL;
            for (size_t i = 0; i <= set->mask; i++)
                if (set->chunks[i].number != 0)
                    *visited_find(chunks, capacity - 1, set->chunks[i].number) = set->chunks[i];
            free(set->chunks);
            set->chunks = chunks;
            set->mask = capacity - 1;
            chunk = visited_find(set->chunks, set->mask, number);
        }
        chunk->bits = calloc(CHUNK_WORDS, sizeof(uint64_t));
        if (!chunk->bits)
            return NULL;
        chunk->number = number;
        set->count++;
    }
    set->last_number = number;
    set->last_bits = chunk->bits;
    return chunk->bits;
}

/* Cells visited, by address, mapped to their visit number (cells are
 * numbered in the order they are first reached); only looked at when a cell
 * is reached a second time.  Linear probing; key 0 marks an empty slot.  New
 * entries wait in a short queue, their slot prefetched, before they are
 * placed, so entering one doesn't stall on a cache miss.  `count` includes
 * the queued ones. */
struct address_slot {
    noun key;
    uint64_t visit;
};

struct address_map {
    struct address_slot *slots;
    size_t mask, count;
    struct address_slot queued[PLACE_QUEUE];
    size_t queue_count;
};

static inline size_t address_home(size_t mask, noun key)
{
    return (size_t)mix64(key) & mask;
}

static void address_place(struct address_slot *slots, size_t mask, noun key, uint64_t visit)
{
    size_t index = address_home(mask, key);
    while (slots[index].key != 0)
        index = (index + 1) & mask;
    slots[index].key = key;
    slots[index].visit = visit;
}

static bool address_grow(struct address_map *map)
{
    size_t capacity = grown_capacity(map->mask + 1);
    struct address_slot *slots = noun_table_memory(capacity * sizeof *slots);
    if (!slots)
        return false;
    /* Placing is a random write per entry: fetch a few entries ahead so the
     * misses overlap instead of queueing one after another. */
    for (size_t i = 0; i <= map->mask; i++) {
        if (i + PREFETCH_AHEAD <= map->mask && map->slots[i + PREFETCH_AHEAD].key != 0)
            __builtin_prefetch(&slots[address_home(capacity - 1, map->slots[i + PREFETCH_AHEAD].key)], 1);
        if (map->slots[i].key != 0)
            address_place(slots, capacity - 1, map->slots[i].key, map->slots[i].visit);
    }
    noun_table_memory_free(map->slots, (map->mask + 1) * sizeof *slots);
    map->slots = slots;
    map->mask = capacity - 1;
    return true;
}

/* Enter `key`, which is not there yet. */
static bool address_insert(struct address_map *map, noun key, uint64_t visit)
{
    if (map->queue_count == PLACE_QUEUE) {
        address_place(map->slots, map->mask, map->queued[0].key, map->queued[0].visit);
        map->queue_count--;
        memmove(map->queued, map->queued + 1, map->queue_count * sizeof map->queued[0]);
    }
    __builtin_prefetch(&map->slots[address_home(map->mask, key)], 1);
    map->queued[map->queue_count].key = key;
    map->queued[map->queue_count].visit = visit;
    map->queue_count++;
    map->count++;
    return !table_too_full(map->count, map->mask) || address_grow(map);
}

/* The visit number of `key`, which is there. */
static uint64_t address_find(const struct address_map *map, noun key)
{
    for (size_t i = 0; i < map->queue_count; i++)
        if (map->queued[i].key == key)
            return map->queued[i].visit;
    size_t index = address_home(map->mask, key);
    while (map->slots[index].key != key)
        index = (index + 1) & map->mask;
    return map->slots[index].visit;
}

/* A distinct cell: the references of its head and tail. */
struct canonical_cell {
    uint64_t head, tail;
};

/* The canonical form of one noun.  cells[0 .. cell_count) are the distinct
 * cells, atoms[0 .. atom_count) the distinct indirect atoms (first copy
 * seen).  cell_slots and atom_slots find a distinct cell or atom by content:
 * each slot is 0 (empty) or the high 32 bits of its hash over 1 + its index. */
struct canonical {
    struct visited_set visited;
    struct address_map addresses;
    uint64_t *visit_refs; /* by visit number: see canonical_ref */
    size_t visit_count, visit_capacity;
    struct canonical_cell *cells;
    size_t cell_count, cell_capacity;
    uint64_t *cell_slots;
    size_t cell_mask;
    size_t queued[PLACE_QUEUE]; /* new cells not yet in cell_slots, oldest first */
    size_t queue_count;
    noun *atoms;
    size_t atom_count, atom_capacity;
    uint64_t *atom_slots;
    size_t atom_mask;
};

static bool canonical_init(struct canonical *canon)
{
    memset(canon, 0, sizeof *canon);
    bool visited_ok = visited_init(&canon->visited);
    canon->addresses.mask = 4095;
    canon->addresses.slots = noun_table_memory(4096 * sizeof(struct address_slot));
    canon->cell_mask = 4095;
    canon->cell_slots = noun_table_memory(4096 * sizeof(uint64_t));
    canon->atom_mask = 255;
    canon->atom_slots = calloc(256, sizeof(uint64_t));
    return visited_ok && canon->addresses.slots && canon->cell_slots && canon->atom_slots;
}

static void canonical_free(struct canonical *canon)
{
    visited_free(&canon->visited);
    noun_table_memory_free(canon->addresses.slots, (canon->addresses.mask + 1) * sizeof(struct address_slot));
    free(canon->visit_refs);
    free(canon->cells);
    noun_table_memory_free(canon->cell_slots, (canon->cell_mask + 1) * sizeof(uint64_t));
    free(canon->atoms);
    free(canon->atom_slots);
}

static inline uint64_t pair_hash(uint64_t head, uint64_t tail)
{
    return mix64(head + mix64(tail));
}

static uint64_t atom_content_hash(noun atom)
{
    const struct noun_atom *big = noun_to_atom(atom);
    return XXH3_64bits(big->words, big->length * sizeof(uint64_t));
}

static bool atoms_same(noun a, noun b)
{
    const struct noun_atom *x = noun_to_atom(a), *y = noun_to_atom(b);
    return x->length == y->length && memcmp(x->words, y->words, x->length * sizeof(uint64_t)) == 0;
}

/* Put `number` (an index) into the first empty slot for `hash`. */
static void slot_place(uint64_t *slots, size_t mask, uint64_t hash, size_t number)
{
    size_t index = (size_t)hash & mask;
    while (slots[index] != 0)
        index = (index + 1) & mask;
    slots[index] = (hash >> 32) << 32 | (uint64_t)(number + 1);
}

static bool grow_array(void **items, size_t *capacity, size_t item_size)
{
    size_t grown = *capacity ? *capacity * 2 : 4096;
    void *bigger = realloc(*items, grown * item_size);
    if (!bigger)
        return false;
    *items = bigger;
    *capacity = grown;
    return true;
}

static void cell_table_rebuild(struct canonical *canon, uint64_t *slots, size_t mask)
{
    for (size_t i = 0; i < canon->cell_count; i++) {
        if (i + PREFETCH_AHEAD < canon->cell_count) {
            const struct canonical_cell *ahead = &canon->cells[i + PREFETCH_AHEAD];
            __builtin_prefetch(&slots[(size_t)pair_hash(ahead->head, ahead->tail) & mask], 1);
        }
        slot_place(slots, mask, pair_hash(canon->cells[i].head, canon->cells[i].tail), i);
    }
    canon->queue_count = 0; /* everything is placed now */
}

static void place_oldest_queued(struct canonical *canon)
{
    size_t number = canon->queued[0];
    const struct canonical_cell *cell = &canon->cells[number];
    slot_place(canon->cell_slots, canon->cell_mask, pair_hash(cell->head, cell->tail), number);
    canon->queue_count--;
    memmove(canon->queued, canon->queued + 1, canon->queue_count * sizeof canon->queued[0]);
}

/* The reference of the cell [head tail], given its children's references.
 *
 * A pair can only be new if neither child is the cell created last: any
 * cell having that one as a child would have been created after it.  Such
 * cells (most of them, in a noun without much repetition) skip the lookup;
 * the others look in the queue, then in the table. */
static uint64_t intern_cell(struct canonical *canon, uint64_t head, uint64_t tail)
{
    uint64_t last = canon->cell_count ? (REF_CELL | (canon->cell_count - 1)) : REF_NONE;
    uint64_t hash = pair_hash(head, tail);
    if (head != last && tail != last) {
        for (size_t i = 0; i < canon->queue_count; i++) {
            const struct canonical_cell *cell = &canon->cells[canon->queued[i]];
            if (cell->head == head && cell->tail == tail)
                return REF_CELL | canon->queued[i];
        }
        uint64_t tag = hash >> 32;
        size_t index = (size_t)hash & canon->cell_mask;
        for (;;) {
            uint64_t slot = canon->cell_slots[index];
            if (slot == 0)
                break;
            if (slot >> 32 == tag) {
                size_t number = (size_t)(slot & 0xffffffffu) - 1;
                if (canon->cells[number].head == head && canon->cells[number].tail == tail)
                    return REF_CELL | number;
            }
            index = (index + 1) & canon->cell_mask;
        }
    }
    if (canon->cell_count >= MAX_DISTINCT)
        return REF_NONE;
    if (canon->cell_count == canon->cell_capacity &&
        !grow_array((void **)&canon->cells, &canon->cell_capacity, sizeof *canon->cells))
        return REF_NONE;
    size_t number = canon->cell_count++;
    canon->cells[number].head = head;
    canon->cells[number].tail = tail;
    if (table_too_full(canon->cell_count, canon->cell_mask)) {
        size_t capacity = grown_capacity(canon->cell_mask + 1);
        uint64_t *slots = noun_table_memory(capacity * sizeof *slots);
        if (!slots)
            return REF_NONE;
        cell_table_rebuild(canon, slots, capacity - 1);
        noun_table_memory_free(canon->cell_slots, (canon->cell_mask + 1) * sizeof *slots);
        canon->cell_slots = slots;
        canon->cell_mask = capacity - 1;
        return REF_CELL | number;
    }
    if (canon->queue_count == PLACE_QUEUE)
        place_oldest_queued(canon);
    __builtin_prefetch(&canon->cell_slots[(size_t)hash & canon->cell_mask], 1);
    canon->queued[canon->queue_count++] = number;
    return REF_CELL | number;
}

/* The reference of an indirect atom, by content. */
static uint64_t intern_atom(struct canonical *canon, noun atom)
{
    uint64_t hash = atom_content_hash(atom);
    uint64_t tag = hash >> 32;
    size_t index = (size_t)hash & canon->atom_mask;
    for (;;) {
        uint64_t slot = canon->atom_slots[index];
        if (slot == 0)
            break;
        if (slot >> 32 == tag) {
            size_t number = (size_t)(slot & 0xffffffffu) - 1;
            if (atoms_same(canon->atoms[number], atom))
                return REF_INDIRECT | number;
        }
        index = (index + 1) & canon->atom_mask;
    }
    if (canon->atom_count >= MAX_DISTINCT)
        return REF_NONE;
    if (canon->atom_count == canon->atom_capacity &&
        !grow_array((void **)&canon->atoms, &canon->atom_capacity, sizeof *canon->atoms))
        return REF_NONE;
    size_t number = canon->atom_count++;
    canon->atoms[number] = atom;
    canon->atom_slots[index] = tag << 32 | (uint64_t)(number + 1);
    if (table_too_full(canon->atom_count, canon->atom_mask)) {
        size_t capacity = 2 * (canon->atom_mask + 1);
        uint64_t *slots = calloc(capacity, sizeof *slots);
        if (!slots)
            return REF_NONE;
        for (size_t i = 0; i < canon->atom_count; i++)
            slot_place(slots, capacity - 1, atom_content_hash(canon->atoms[i]), i);
        free(canon->atom_slots);
        canon->atom_slots = slots;
        canon->atom_mask = capacity - 1;
    }
    return REF_INDIRECT | number;
}

/* A cell whose reference is being worked out, and its visit number.
 * visit_refs[visit] is REF_NONE while its head is worked on, then the head's
 * reference while its tail is, and the cell's own reference after that.
 * (No descendant can look a pending cell up: nouns are acyclic.)  Keeping
 * that state in an array by visit number rather than in the address map
 * means each cell costs one probe there, and the stores to visit_refs,
 * made in reverse visit order for a long list, stay cache friendly. */
struct canonical_frame {
    noun cell;
    uint64_t visit;
};

/* The reference of `n` if known without walking it; else, for a cell seen
 * for the first time, REF_NONE with *visit set. */
static uint64_t canonical_lookup(struct canonical *canon, noun n, uint64_t *visit, bool *no_memory)
{
    if (noun_is_direct(n))
        return n;
    if (noun_is_indirect(n)) {
        uint64_t ref = intern_atom(canon, n);
        *no_memory = ref == REF_NONE;
        return ref;
    }
    uint64_t address = n & NOUN_ADDRESS_MASK;
    uint64_t *bits = visited_chunk_bits(&canon->visited, address);
    if (!bits) {
        *no_memory = true;
        return REF_NONE;
    }
    size_t offset = (size_t)(address & ((UINT64_C(1) << CHUNK_SHIFT) - 1)) >> 3;
    uint64_t bit = UINT64_C(1) << (offset % 64);
    if (bits[offset / 64] & bit) {
        *visit = address_find(&canon->addresses, n);
        return canon->visit_refs[*visit];
    }
    bits[offset / 64] |= bit;
    *visit = canon->visit_count;
    if ((canon->visit_count == canon->visit_capacity &&
         !grow_array((void **)&canon->visit_refs, &canon->visit_capacity, sizeof *canon->visit_refs)) ||
        !address_insert(&canon->addresses, n, *visit)) {
        *no_memory = true;
        return REF_NONE;
    }
    canon->visit_refs[canon->visit_count++] = REF_NONE;
    return REF_NONE;
}

/* Pass 1: the reference of `root`, filling in `canon`.  Post-order over
 * cells not seen before by address, with an explicit stack.  REF_NONE when
 * memory runs out. */
static uint64_t canonical_ref(struct canonical *canon, noun root)
{
    struct canonical_frame *frames = NULL;
    size_t depth = 0, capacity = 0;
    bool no_memory = false;
    uint64_t ref, visit = 0;
    noun n = root;
    for (;;) {
        /* Descend along heads until a noun's reference is known. */
        while ((ref = canonical_lookup(canon, n, &visit, &no_memory)) == REF_NONE) {
            if (no_memory || (depth == capacity && !grow_array((void **)&frames, &capacity, sizeof *frames)))
                goto out_of_memory;
            frames[depth].cell = n;
            frames[depth].visit = visit;
            depth++;
            /* Misses are the cost of pass 1, so start them early: the
             * tail is read after the head's subtree, so fetch its cell now;
             * a cell of two small atoms is interned right away, so fetch
             * its slot in the cell table. */
            noun head = noun_head(n), tail = noun_tail(n);
            if (noun_is_cell(tail)) {
                __builtin_prefetch(noun_to_cell(tail));
            } else if (noun_is_direct(head) && noun_is_direct(tail)) {
                __builtin_prefetch(&canon->cell_slots[(size_t)pair_hash(head, tail) & canon->cell_mask]);
            }
            n = head;
        }
        /* Climb, finishing cells whose tail this completes. */
        for (;;) {
            if (depth == 0) {
                free(frames);
                return ref;
            }
            struct canonical_frame *top = &frames[depth - 1];
            uint64_t head_ref = canon->visit_refs[top->visit];
            if (head_ref == REF_NONE) {
                canon->visit_refs[top->visit] = ref;
                n = noun_tail(top->cell);
                break;
            }
            ref = intern_cell(canon, head_ref, ref);
            if (ref == REF_NONE)
                goto out_of_memory;
            canon->visit_refs[top->visit] = ref;
            depth--;
        }
    }
out_of_memory:
    free(frames);
    return REF_NONE;
}

/* ---- writing -------------------------------------------------------------- */

/* Where direct atoms worth a backreference were first written: linear
 * probing by value, value 0 marks an empty slot (see jam_direct_atom for why
 * small atoms are never entered). */
struct direct_slot {
    uint64_t value;
    uint64_t offset;
};

struct direct_map {
    struct direct_slot *slots;
    size_t mask, count;
};

static struct direct_slot *direct_find(const struct direct_map *map, uint64_t value)
{
    size_t index = (size_t)mix64(value) & map->mask;
    while (map->slots[index].value != 0 && map->slots[index].value != value)
        index = (index + 1) & map->mask;
    return &map->slots[index];
}

static bool direct_insert(struct direct_map *map, uint64_t value, uint64_t offset)
{
    if (table_too_full(map->count + 1, map->mask)) {
        struct direct_map bigger = { calloc(2 * (map->mask + 1), sizeof(struct direct_slot)),
                                     2 * map->mask + 1, map->count };
        if (!bigger.slots)
            return false;
        for (size_t i = 0; i <= map->mask; i++)
            if (map->slots[i].value != 0)
                *direct_find(&bigger, map->slots[i].value) = map->slots[i];
        free(map->slots);
        *map = bigger;
    }
    struct direct_slot *slot = direct_find(map, value);
    slot->value = value;
    slot->offset = offset;
    map->count++;
    return true;
}

/* Write a backreference to `offset`. */
static bool write_backref(struct bit_writer *writer, uint64_t offset)
{
    if (!writer_reserve(writer, 2 + MAT_OVERHEAD_BITS + 64))
        return false;
    writer_put(writer, 3, 2);
    writer_mat(writer, offset, bit_width(offset));
    return true;
}

static bool write_atom(struct bit_writer *writer, noun atom, uint64_t bits)
{
    if (!writer_reserve(writer, 1 + MAT_OVERHEAD_BITS + bits))
        return false;
    writer_put(writer, 0, 1); /* tag 0 */
    writer_mat(writer, atom, bits);
    return true;
}

/* An atom is written again rather than referred back to unless the earlier
 * offset has strictly fewer significant bits than the atom (Vere's rule).
 * `*first_offset` is 1 + where an equal atom was first written, or 0.
 *
 * An atom first written at b can only ever win a backreference when it has
 * more bits than b, and later offsets are larger, so an atom that doesn't
 * beat its own offset is not recorded: that changes nothing.  Every atom
 * that isn't the whole noun begins at bit 2 or later, so atoms of 2 bits or
 * fewer are never recorded at all (and need no lookup). */
static bool jam_atom(struct bit_writer *writer, noun atom, uint64_t bits, uint64_t *first_offset)
{
    uint64_t position = writer->bit_count;
    if (*first_offset != 0) {
        uint64_t offset = *first_offset - 1;
        if (bits > bit_width(offset))
            return write_backref(writer, offset);
    } else if (bits > bit_width(position)) {
        *first_offset = position + 1;
    }
    return write_atom(writer, atom, bits);
}

static bool jam_direct_atom(struct bit_writer *writer, struct direct_map *directs, uint64_t value)
{
    uint64_t bits = bit_width(value);
    if (bits <= 2)
        return write_atom(writer, value, bits);
    struct direct_slot *slot = direct_find(directs, value);
    uint64_t first_offset = slot->value ? slot->offset : 0;
    if (!jam_atom(writer, value, bits, &first_offset))
        return false;
    if (!slot->value && first_offset != 0 && !direct_insert(directs, value, first_offset))
        return false;
    return true;
}

/* Pass 2: pre-order over the canonical form.  A distinct cell or indirect
 * atom is "already written" by array index, so no hashing is left here
 * except for direct atoms.  Offsets are stored plus one (0: not written). */
static bool jam_canonical(const struct canonical *canon, uint64_t root, struct bit_writer *writer)
{
    size_t cell_offsets_bytes = (canon->cell_count + 1) * sizeof(uint64_t);
    uint64_t *cell_offsets = noun_table_memory(cell_offsets_bytes);
    uint64_t *atom_offsets = calloc(canon->atom_count + 1, sizeof *atom_offsets);
    struct direct_map directs = { calloc(1024, sizeof(struct direct_slot)), 1023, 0 };
    uint64_t *stack = NULL;
    size_t depth = 0, capacity = 0;
    bool ok = cell_offsets && atom_offsets && directs.slots;
    uint64_t ref = root;
    while (ok) {
        uint64_t tag = ref & REF_TAG_MASK;
        size_t number = (size_t)(ref & ~REF_TAG_MASK);
        if (tag == REF_CELL) {
            if (cell_offsets[number] != 0) {
                ok = write_backref(writer, cell_offsets[number] - 1);
            } else {
                cell_offsets[number] = writer->bit_count + 1;
                if (!(ok = writer_reserve(writer, 2)))
                    break;
                writer_put(writer, 1, 2);
                if (depth == capacity && !(ok = grow_array((void **)&stack, &capacity, sizeof *stack)))
                    break;
                stack[depth++] = canon->cells[number].tail;
                ref = canon->cells[number].head;
                continue;
            }
        } else if (tag == REF_INDIRECT) {
            noun atom = canon->atoms[number];
            ok = jam_atom(writer, atom, noun_atom_bit_length(atom), &atom_offsets[number]);
        } else {
            ok = jam_direct_atom(writer, &directs, ref);
        }
        if (depth == 0)
            break;
        ref = stack[--depth];
    }
    free(stack);
    free(directs.slots);
    free(atom_offsets);
    noun_table_memory_free(cell_offsets, cell_offsets_bytes);
    return ok;
}

/* Bits the jam of a canonical form takes at least: every distinct indirect
 * atom written once, every distinct cell's tag.  Reserving this before pass
 * 2 means a noun made mostly of big atoms (a snapshot of a big kernel) is
 * written into one buffer that is never copied to grow it. */
static uint64_t least_jam_bits(const struct canonical *canon)
{
    uint64_t bits = 2 * (uint64_t)canon->cell_count;
    for (size_t i = 0; i < canon->atom_count; i++)
        bits += 1 + noun_atom_bit_length(canon->atoms[i]);
    return bits;
}

static bool jam_write(noun root, struct bit_writer *writer)
{
    struct canonical canon;
    bool ok = canonical_init(&canon);
    uint64_t ref = ok ? canonical_ref(&canon, root) : REF_NONE;
    ok = ref != REF_NONE && writer_reserve(writer, least_jam_bits(&canon)) && jam_canonical(&canon, ref, writer);
    canonical_free(&canon);
    return ok;
}

bool jam_to_bytes(noun n, uint8_t **bytes_out, size_t *length_out)
{
    struct bit_writer writer = {0};
    if (!writer_reserve(&writer, 64) || !jam_write(n, &writer)) {
        free(writer.words);
        return false;
    }
    /* The last bit written is always a 1 (the top bit of a value, or a mat
     * of 0), so there are no trailing zero bytes to strip. */
    size_t length = (size_t)((writer.bit_count + 7) / 8);
    uint8_t *bytes = realloc(writer.words, length);
    *bytes_out = bytes ? bytes : (uint8_t *)writer.words;
    *length_out = length;
    return true;
}

/* The output of a jam_to_atom whose region ran out of memory and jumped out
 * of noun_atom_from_words; freed by the next call on the same thread. */
static __thread uint64_t *jam_words_in_flight;

noun jam_to_atom(struct noun_region *region, noun n)
{
    free(jam_words_in_flight);
    jam_words_in_flight = NULL;
    struct bit_writer writer = {0};
    if (!writer_reserve(&writer, 64) || !jam_write(n, &writer)) {
        free(writer.words);
        return NOUN_NONE;
    }
    jam_words_in_flight = writer.words;
    noun atom = noun_atom_from_words(region, writer.words, (size_t)((writer.bit_count + 63) / 64));
    jam_words_in_flight = NULL;
    free(writer.words);
    return atom;
}

/* ======================================================================== */
/* cue                                                                        */
/* ======================================================================== */

/* The input: `length` bytes, little-endian, read as `total_bits` bits. */
struct bit_reader {
    const uint8_t *bytes;
    size_t length;
    uint64_t total_bits;
    uint64_t atom_bits; /* up to the highest set bit: what messages count */
};

/* The bits of the atom the bytes spell: zero bits above its highest set
 * bit (in its last byte, or whole zero bytes) pad it, and a message that
 * counts the bits that remain leaves them out. */
static uint64_t atom_bit_length(const uint8_t *bytes, size_t length)
{
    while (length > 0 && bytes[length - 1] == 0)
        length--;
    return length ? (uint64_t)(length - 1) * 8 + (uint64_t)(32 - __builtin_clz(bytes[length - 1])) : 0;
}

/* The 64 bits starting at bit `position`; bits past the end read as 0
 * (callers check lengths against total_bits themselves). */
static inline uint64_t reader_window(const struct bit_reader *reader, uint64_t position)
{
    size_t first = (size_t)(position >> 3);
    unsigned shift = (unsigned)(position & 7);
    uint64_t low, high;
    if (first + 9 <= reader->length) {
        memcpy(&low, reader->bytes + first, 8);
        high = reader->bytes[first + 8];
    } else {
        low = 0;
        high = 0;
        for (size_t i = 0; i < 8 && first + i < reader->length; i++)
            low |= (uint64_t)reader->bytes[first + i] << (8 * i);
        if (first + 8 < reader->length)
            high = reader->bytes[first + 8];
    }
    return shift ? (low >> shift) | (high << (64 - shift)) : low;
}

/* Copy `bits` bits from `position` into `count` words (bits <= 64*count, and
 * position + bits <= total_bits). */
static void reader_copy_bits(const struct bit_reader *reader, uint64_t position, uint64_t bits,
                             uint64_t *out, size_t count)
{
    size_t first = (size_t)(position >> 3);
    unsigned shift = (unsigned)(position & 7);
    size_t span = (size_t)((shift + bits + 7) / 8); /* <= 8*count + 1 */
    size_t room = 8 * count;
    size_t direct = span < room ? span : room;
    memcpy(out, reader->bytes + first, direct);
    memset((uint8_t *)out + direct, 0, room - direct);
    uint64_t spill = span > room ? reader->bytes[first + room] : 0;
    if (shift) {
        for (size_t k = 0; k < count; k++) {
            uint64_t next = k + 1 < count ? out[k + 1] : spill;
            out[k] = (out[k] >> shift) | (next << (64 - shift));
        }
    }
    out[count - 1] &= low_mask((unsigned)(bits - 64 * (count - 1)));
}

/* One word of the start index: `bits` has bit j set when a noun (not a
 * backreference) began at bit 64*i + j of the input; `before` is how many
 * nouns began before bit 64*i (kept only in words where a noun began).
 * So a noun's number, the order in which it began, is before + the set
 * bits below it in its word. */
struct start_word {
    uint64_t bits;
    uint64_t before;
};

/* A cell being read: its number, and its head once that is read
 * (NOUN_NONE while it is being read). */
struct pending_cell {
    uint64_t number;
    noun head;
};

/* Everything cue needs besides the region.
 *
 * nouns[k] is the noun numbered k once it is finished, NOUN_NONE until then
 * (so a backreference to a cell that contains it is caught by that alone).
 * pending holds the cells being read, outermost first.  starts has a word
 * for every 64 bits of input; those at or past start_words_used are all
 * zero, and so are those before it in which no noun began. */
struct cue_workspace {
    struct start_word *starts;
    size_t start_capacity, start_words_used;
    noun *nouns;
    size_t noun_count, noun_capacity;
    struct pending_cell *pending;
    size_t pending_count, pending_capacity;
};

/* The workspace of the cue running on this thread.  It lives here rather
 * than on the C stack so that if the region's out-of-memory handler jumps
 * out of a cue, the next cue on the thread can still clean it up.  Its
 * arrays are kept from one cue to the next while they are small: replay
 * cues an event at a time, and allocating them afresh each time was a
 * dozen kilobytes through malloc per event, which glibc serves from its
 * arena's slow path (measured: 6-8% of a serial kv event, and about 6% of
 * an STM worker's time).  A thread's arrays are freed when it exits. */
static __thread struct cue_workspace cue_space;

/* Arrays up to this many bytes in all are kept for the next cue. */
#define WORKSPACE_KEEP_BYTES ((size_t)1 << 20)

static pthread_once_t workspace_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t workspace_key;

static void workspace_free(struct cue_workspace *space)
{
    free(space->starts);
    free(space->nouns);
    free(space->pending);
    memset(space, 0, sizeof *space);
}

static void workspace_at_thread_exit(void *space) { workspace_free(space); }

static void workspace_make_key(void) { pthread_key_create(&workspace_key, workspace_at_thread_exit); }

static size_t workspace_bytes(const struct cue_workspace *space)
{
    return space->start_capacity * sizeof *space->starts + space->noun_capacity * sizeof *space->nouns +
           space->pending_capacity * sizeof *space->pending;
}

/* After a cue (or before one, for a cue that was jumped out of): empty the
 * workspace, keeping its arrays if they are small.  Only the start words
 * below start_words_used can have been written. */
static void workspace_release(struct cue_workspace *space)
{
    if (workspace_bytes(space) > WORKSPACE_KEEP_BYTES) {
        workspace_free(space);
        return;
    }
    if (space->starts)
        memset(space->starts, 0, space->start_words_used * sizeof *space->starts);
    space->start_words_used = 0;
    space->noun_count = 0;
    space->pending_count = 0;
}

static bool cue_fail(struct jam_error *error, uint64_t offset, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static bool cue_fail(struct jam_error *error, uint64_t offset, const char *format, ...)
{
    if (error) {
        error->bit_offset = offset;
        va_list args;
        va_start(args, format);
        vsnprintf(error->message, sizeof error->message, format, args);
        va_end(args);
    }
    return false;
}

static bool out_of_memory(struct jam_error *error, uint64_t offset)
{
    return cue_fail(error, offset, "out of memory while decoding");
}

/* Set bits in a word.  Written out because without -mpopcnt the builtin
 * is a library call, and this runs for every backreference. */
static inline uint64_t count_bits(uint64_t word)
{
    word -= (word >> 1) & UINT64_C(0x5555555555555555);
    word = (word & UINT64_C(0x3333333333333333)) + ((word >> 2) & UINT64_C(0x3333333333333333));
    word = (word + (word >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (word * UINT64_C(0x0101010101010101)) >> 56;
}

/* Size the arrays for an input of `total_bits`.  The start index has one
 * word per 64 input bits.  A noun takes at least 2 bits, but real jams
 * average several times that, so the noun array starts at a fraction of
 * the bound (at most 128 MiB) and grows. */
static bool workspace_prepare(struct cue_workspace *space, uint64_t total_bits)
{
    pthread_once(&workspace_key_once, workspace_make_key);
    size_t start_words = (size_t)(total_bits / 64 + 1);
    if (start_words > space->start_capacity) {
        free(space->starts);
        space->starts = calloc(start_words, sizeof *space->starts);
        space->start_capacity = space->starts ? start_words : 0;
    }
    uint64_t guess = total_bits / 8 + 1024;
    size_t nouns = (size_t)(guess < (UINT64_C(1) << 24) ? guess : (UINT64_C(1) << 24));
    if (nouns > space->noun_capacity) {
        free(space->nouns);
        space->nouns = malloc(nouns * sizeof *space->nouns);
        space->noun_capacity = space->nouns ? nouns : 0;
    }
    if (space->pending_capacity < 1024) {
        free(space->pending);
        space->pending = malloc(1024 * sizeof *space->pending);
        space->pending_capacity = space->pending ? 1024 : 0;
    }
    /* (the thread's exit frees what is kept) */
    if (pthread_getspecific(workspace_key) != space)
        pthread_setspecific(workspace_key, space);
    return space->starts && space->nouns && space->pending;
}

/* Record that a noun began at `position` (below total_bits) and give it the
 * next number. */
static bool record_start(struct cue_workspace *space, uint64_t position, noun value, uint64_t *number)
{
    size_t word = (size_t)(position >> 6);
    if (space->start_words_used <= word) {
        /* Words skipped over (inside a long atom) stay as calloc left
         * them, with no bits set, so no lookup ever reads their `before`;
         * not writing them leaves their pages untouched. */
        space->starts[word].before = space->noun_count;
        space->start_words_used = word + 1;
    }
    space->starts[word].bits |= UINT64_C(1) << (position & 63);

    if (space->noun_count == space->noun_capacity &&
        !grow_array((void **)&space->nouns, &space->noun_capacity, sizeof *space->nouns))
        return false;
    space->nouns[space->noun_count] = value;
    *number = space->noun_count++;
    return true;
}

static bool pending_push(struct cue_workspace *space, uint64_t number)
{
    if (space->pending_count == space->pending_capacity &&
        !grow_array((void **)&space->pending, &space->pending_capacity, sizeof *space->pending))
        return false;
    space->pending[space->pending_count].number = number;
    space->pending[space->pending_count].head = NOUN_NONE;
    space->pending_count++;
    return true;
}

/* Read a mat's length prefix at *position: *bits is how many value bits
 * follow, already checked against the bits remaining; *position advances to
 * the value. */
static bool read_length(const struct bit_reader *reader, uint64_t *position, uint64_t *bits,
                        struct jam_error *error)
{
    uint64_t start = *position;
    uint64_t window = reader_window(reader, start);
    if (window == 0) {
        if (reader->total_bits - start <= 64)
            return cue_fail(error, start, "truncated: input ends inside a length prefix");
        return cue_fail(error, start, "length prefix of 64 or more zero bits (a length of 2^63 bits or more)");
    }
    /* Bits past the end read as 0, so the 1 that ends the zeros is real. */
    unsigned zeros = (unsigned)__builtin_ctzll(window);
    if (zeros == 0) {
        *bits = 0;
        *position = start + 1;
        return true;
    }
    uint64_t after = start + zeros + 1;
    unsigned low_bits = zeros - 1;
    if (low_bits > reader->total_bits - after)
        return cue_fail(error, start, "truncated: input ends inside a length prefix");
    uint64_t length = (UINT64_C(1) << low_bits) | (reader_window(reader, after) & low_mask(low_bits));
    after += low_bits;
    if (length > reader->total_bits - after)
        return cue_fail(error, start, "length claims %llu bits but only %llu remain",
                        (unsigned long long)length,
                        (unsigned long long)(reader->atom_bits > after ? reader->atom_bits - after : 0));
    *bits = length;
    *position = after;
    return true;
}

/* Read an atom's mat at *position into the region. */
static bool read_atom(struct noun_region *region, const struct bit_reader *reader, uint64_t *position,
                      noun *out, struct jam_error *error)
{
    uint64_t bits;
    if (!read_length(reader, position, &bits, error))
        return false;
    uint64_t at = *position;
    *position = at + bits;
    if (bits <= 63) {
        *out = reader_window(reader, at) & low_mask((unsigned)bits);
        return true;
    }
    size_t count = (size_t)((bits + 63) / 64);
    struct noun_atom *atom = noun_atom_alloc(region, count);
    reader_copy_bits(reader, at, bits, atom->words, count);
    *out = noun_atom_normalize(atom);
    return true;
}

/* Read a backreference's mat at *position as a bit offset. */
static bool read_offset(const struct bit_reader *reader, uint64_t *position, uint64_t *offset,
                        struct jam_error *error)
{
    uint64_t start = *position, bits;
    if (!read_length(reader, position, &bits, error))
        return false;
    uint64_t at = *position;
    *offset = reader_window(reader, at) & low_mask(bits < 64 ? (unsigned)bits : 64);
    /* A long encoding is fine as long as its high bits are zero. */
    for (uint64_t scan = at + 64; scan < at + bits; scan += 64) {
        uint64_t chunk = at + bits - scan;
        if (reader_window(reader, scan) & low_mask(chunk < 64 ? (unsigned)chunk : 64))
            return cue_fail(error, start, "backreference offset does not fit in 64 bits");
    }
    *position = at + bits;
    return true;
}

/* The noun a backreference at `here` to bit `target` stands for. */
static bool resolve_backref(const struct cue_workspace *space, uint64_t here, uint64_t target, noun *out,
                            struct jam_error *error)
{
    if (target >= here)
        return cue_fail(error, here, "backreference to bit %llu, which is not before it",
                        (unsigned long long)target);
    size_t word = (size_t)(target >> 6);
    uint64_t bit = UINT64_C(1) << (target & 63);
    if (word >= space->start_words_used || !(space->starts[word].bits & bit))
        return cue_fail(error, here, "backreference to bit %llu, where no noun begins",
                        (unsigned long long)target);
    uint64_t number = space->starts[word].before + count_bits(space->starts[word].bits & (bit - 1));
    *out = space->nouns[number];
    if (*out == NOUN_NONE)
        return cue_fail(error, here, "backreference to bit %llu, a cell that contains it",
                        (unsigned long long)target);
    return true;
}

/* Read one noun that begins at *position.  Cells are not finished here:
 * their number is pushed on `pending` and *out is NOUN_NONE. */
static bool read_noun_start(struct cue_workspace *space, struct noun_region *region,
                            const struct bit_reader *reader, uint64_t *position, noun *out,
                            struct jam_error *error)
{
    uint64_t start = *position;
    if (start >= reader->total_bits)
        return cue_fail(error, start, "truncated: input ends where a noun should begin");
    uint64_t tag = reader_window(reader, start);
    uint64_t number;
    if (!(tag & 1)) {
        *position = start + 1;
        if (!read_atom(region, reader, position, out, error))
            return false;
        if (!record_start(space, start, *out, &number))
            return out_of_memory(error, start);
        return true;
    }
    if (start + 1 >= reader->total_bits)
        return cue_fail(error, start, "truncated: input ends inside a tag");
    *position = start + 2;
    if (!(tag & 2)) {
        if (!record_start(space, start, NOUN_NONE, &number) || !pending_push(space, number))
            return out_of_memory(error, start);
        *out = NOUN_NONE;
        return true;
    }
    uint64_t target;
    if (!read_offset(reader, position, &target, error))
        return false;
    return resolve_backref(space, start, target, out, error);
}

static bool cue_run(struct cue_workspace *space, struct noun_region *region, const struct bit_reader *reader,
                    noun *out, struct jam_error *error)
{
    uint64_t position = 0;
    for (;;) {
        noun value = NOUN_NONE;
        if (!read_noun_start(space, region, reader, &position, &value, error))
            return false;
        if (value == NOUN_NONE)
            continue; /* a cell began: read its head next */
        /* A noun is finished: it completes heads and tails up the stack. */
        for (;;) {
            if (space->pending_count == 0) {
                *out = value;
                return true;
            }
            struct pending_cell *top = &space->pending[space->pending_count - 1];
            if (top->head == NOUN_NONE) {
                top->head = value; /* head done; its tail is next */
                break;
            }
            value = noun_cell_new(region, top->head, value);
            space->nouns[top->number] = value;
            space->pending_count--;
        }
    }
}

bool jam_cue_bytes(struct noun_region *region, const uint8_t *bytes, size_t length, noun *out,
                   struct jam_error *error)
{
    struct cue_workspace *space = &cue_space;
    workspace_release(space); /* anything a jumped-out cue left behind */
    if (length == 0)
        return cue_fail(error, 0, "empty input (the atom 0 is no jam)");
    if (length > UINT64_MAX / 8)
        return cue_fail(error, 0, "input too large");
    struct bit_reader reader = { bytes, length, (uint64_t)length * 8, atom_bit_length(bytes, length) };
    bool ok = workspace_prepare(space, reader.total_bits) ? cue_run(space, region, &reader, out, error)
                                                           : out_of_memory(error, 0);
    workspace_release(space);
    return ok;
}

/* ---- peeking ---------------------------------------------------------------- */

/* Move *position past the noun that begins there, reading only tags and
 * lengths.  The pending count is the nouns still to pass: a cell's tag
 * replaces one with two.  False when the input ends first (read_length
 * never lets a length run past it). */
static bool skip_noun(const struct bit_reader *reader, uint64_t *position)
{
    for (uint64_t pending = 1; pending > 0;) {
        uint64_t start = *position;
        if (start >= reader->total_bits)
            return false;
        uint64_t tag = reader_window(reader, start), bits;
        bool cell = (tag & 3) == 1;
        *position = start + ((tag & 1) ? 2 : 1);
        if (cell) {
            pending++;
            continue;
        }
        if ((tag & 1) && start + 1 >= reader->total_bits)
            return false;
        if (!read_length(reader, position, &bits, NULL))
            return false;
        *position += bits; /* an atom's bits, or a backreference's offset */
        pending--;
    }
    return true;
}

/* Where the noun at `axis` begins, walking down from bit `start`: a cell
 * is entered (its head follows its tag; its tail, the head passed over),
 * and a backreference is followed to the earlier noun it stands for.
 * False when the input ends, an atom is met above the axis, or a
 * backreference does not point back. */
static bool find_axis(const struct bit_reader *reader, uint64_t start, uint64_t axis, uint64_t *found)
{
    int depth = 63 - __builtin_clzll(axis);
    for (;;) {
        if (start >= reader->total_bits)
            return false;
        uint64_t tag = reader_window(reader, start);
        if ((tag & 3) == 3) {
            uint64_t position = start + 2, target;
            if (start + 1 >= reader->total_bits || !read_offset(reader, &position, &target, NULL) || target >= start)
                return false;
            start = target; /* (strictly earlier each time: this ends) */
            continue;
        }
        if (depth == 0) {
            *found = start;
            return true;
        }
        if (!(tag & 1))
            return false; /* an atom has no parts */
        uint64_t position = start + 2;
        if ((axis >> --depth) & 1 && !skip_noun(reader, &position))
            return false;
        start = position;
    }
}

bool jam_peek_direct_atom(const uint8_t *bytes, size_t length, uint64_t axis, noun *out)
{
    if (axis == 0 || length == 0 || length > UINT64_MAX / 8)
        return false;
    struct bit_reader reader = { bytes, length, (uint64_t)length * 8, 0 };
    uint64_t start, bits;
    if (!find_axis(&reader, 0, axis, &start) || (reader_window(&reader, start) & 1))
        return false;
    uint64_t position = start + 1;
    if (!read_length(&reader, &position, &bits, NULL))
        return false;
    uint64_t value = reader_window(&reader, position) & low_mask(bits < 64 ? (unsigned)bits : 64);
    if (value >> 63)
        return false; /* (no direct atom) */
    /* a length may count zero bits above the value (cue takes those) */
    for (uint64_t scan = position + 64; scan < position + bits; scan += 64) {
        uint64_t chunk = position + bits - scan;
        if (reader_window(&reader, scan) & low_mask(chunk < 64 ? (unsigned)chunk : 64))
            return false;
    }
    *out = value;
    return true;
}

bool jam_cue_atom(struct noun_region *region, noun atom, noun *out, struct jam_error *error)
{
    if (!noun_is_atom(atom))
        return cue_fail(error, 0, "cue needs an atom, not a cell");
    uint64_t scratch;
    size_t words;
    const uint64_t *data = noun_atom_words(atom, &scratch, &words);
    return jam_cue_bytes(region, (const uint8_t *)data, (size_t)noun_atom_byte_length(atom), out, error);
}
