/* mug.c -- Vere's 31-bit noun hash (see mug.h for the definition).
 *
 * The traversal is post-order over an explicit stack of cells whose mug is
 * still unknown.  The invariant: every cell on the stack has mug 0, and a
 * cell is popped only once both its children have a mug (cached, or cheap to
 * compute because they are atoms), at which point its own is stored.  Since
 * the stores are cached in the nouns, work done is never lost, which is what
 * lets the fallback below make progress with no stack at all.
 */
#include "interp/mug.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mug.c hashes atom words in place and assumes a little-endian host"
#endif

#define MUG_ATOM_SEED 0xcafebabeu
#define MUG_CELL_SEED 0xdeadbeefu
#define MUG_SEED_TRIES 8
#define MUG_ATOM_FALLBACK 0x7fffu /* Vere's answer when all seeds fold to 0 */
#define MUG_CELL_FALLBACK 0xfffeu

/* ---- MurmurHash3, x86 32-bit variant ------------------------------------ */

static inline uint32_t rotate_left(uint32_t x, int bits)
{
    return (x << bits) | (x >> (32 - bits));
}

static inline uint32_t murmur_scramble(uint32_t block)
{
    block *= 0xcc9e2d51u;
    block = rotate_left(block, 15);
    return block * 0x1b873593u;
}

/* Vere passes the length as a 32-bit word, so the finalizer mixes the length
 * modulo 2^32; we do the same. */
static uint32_t murmur3_32(const uint8_t *data, size_t length, uint32_t seed)
{
    uint32_t hash = seed;
    size_t blocks = length / 4;
    for (size_t i = 0; i < blocks; i++) {
        uint32_t block;
        memcpy(&block, data + 4 * i, 4);
        hash ^= murmur_scramble(block);
        hash = rotate_left(hash, 13);
        hash = hash * 5 + 0xe6546b64u;
    }
    const uint8_t *rest = data + 4 * blocks;
    uint32_t last = 0;
    switch (length & 3) {
    case 3: last |= (uint32_t)rest[2] << 16; /* fall through */
    case 2: last |= (uint32_t)rest[1] << 8;  /* fall through */
    case 1: last |= rest[0]; hash ^= murmur_scramble(last);
    }
    hash ^= (uint32_t)length;
    hash ^= hash >> 16;
    hash *= 0x85ebca6bu;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35u;
    hash ^= hash >> 16;
    return hash;
}

/* Murmur folded to 31 bits, retried with successive seeds while it folds to
 * 0 (a mug of 0 would read as "not computed"). */
static uint32_t mug_hash(const uint8_t *bytes, size_t length, uint32_t seed, uint32_t fallback)
{
    for (uint32_t try = 0; try < MUG_SEED_TRIES; try++) {
        uint32_t hash = murmur3_32(bytes, length, seed + try);
        uint32_t folded = (hash >> 31) ^ (hash & 0x7fffffffu);
        if (folded != 0)
            return folded;
    }
    return fallback;
}

/* ---- atoms and cells ------------------------------------------------------ */

uint32_t mug_murmur3(const uint8_t *bytes, size_t length, uint32_t seed)
{
    return murmur3_32(bytes, length, seed);
}

uint32_t mug_bytes(const uint8_t *bytes, size_t length)
{
    while (length > 0 && bytes[length - 1] == 0)
        length--;
    return mug_hash(bytes, length, MUG_ATOM_SEED, MUG_ATOM_FALLBACK);
}

/* Murmur of exactly two 4-byte blocks: the usual cell, whose tail mug has
 * all four bytes.  Same arithmetic as murmur3_32, unrolled. */
static inline uint32_t murmur3_32_two_blocks(uint32_t first, uint32_t second, uint32_t seed)
{
    uint32_t hash = seed ^ murmur_scramble(first);
    hash = rotate_left(hash, 13) * 5 + 0xe6546b64u;
    hash ^= murmur_scramble(second);
    hash = rotate_left(hash, 13) * 5 + 0xe6546b64u;
    hash ^= 8;
    hash ^= hash >> 16;
    hash *= 0x85ebca6bu;
    hash ^= hash >> 13;
    hash *= 0xc2b2ae35u;
    hash ^= hash >> 16;
    return hash;
}

uint32_t mug_both(uint32_t head_mug, uint32_t tail_mug)
{
    if (tail_mug >= (UINT32_C(1) << 24)) {
        uint32_t hash = murmur3_32_two_blocks(head_mug, tail_mug, MUG_CELL_SEED);
        uint32_t folded = (hash >> 31) ^ (hash & 0x7fffffffu);
        if (folded != 0)
            return folded;
    }
    uint8_t buffer[8];
    for (int i = 0; i < 4; i++) {
        buffer[i] = (uint8_t)(head_mug >> (8 * i));
        buffer[4 + i] = (uint8_t)(tail_mug >> (8 * i));
    }
    size_t tail_bytes = tail_mug == 0 ? 0 : (size_t)(32 - __builtin_clz(tail_mug) + 7) / 8;
    return mug_hash(buffer, 4 + tail_bytes, MUG_CELL_SEED, MUG_CELL_FALLBACK);
}

/* Direct atoms are the most common leaves (opcodes, axes, loobeans, terms)
 * and can't cache their mug in the noun, so their mugs are memoized in a
 * small direct-mapped table per thread (per thread, so the value and the mug
 * of an entry are always written together). */
#define DIRECT_MUG_SLOTS 4096
struct direct_mug_slot {
    uint64_t value;
    uint32_t mug; /* 0: the slot is empty */
};
static __thread struct direct_mug_slot direct_mug_cache[DIRECT_MUG_SLOTS];

static uint32_t direct_atom_mug(uint64_t value)
{
    struct direct_mug_slot *slot =
        &direct_mug_cache[(value * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - 12)];
    if (slot->mug && slot->value == value)
        return slot->mug;
    size_t length = value == 0 ? 0 : (size_t)(64 - __builtin_clzll(value) + 7) / 8;
    uint32_t mug = mug_hash((const uint8_t *)&value, length, MUG_ATOM_SEED, MUG_ATOM_FALLBACK);
    slot->value = value;
    slot->mug = mug;
    return mug;
}

static uint32_t indirect_atom_mug(struct noun_atom *atom)
{
    uint32_t mug = __atomic_load_n(&atom->mug, __ATOMIC_RELAXED);
    if (mug)
        return mug;
    uint64_t top = atom->words[atom->length - 1];
    size_t length = 8 * (size_t)(atom->length - 1) + (size_t)(64 - __builtin_clzll(top) + 7) / 8;
    mug = mug_hash((const uint8_t *)atom->words, length, MUG_ATOM_SEED, MUG_ATOM_FALLBACK);
    __atomic_store_n(&atom->mug, mug, __ATOMIC_RELAXED);
    return mug;
}

static inline uint32_t cell_cached_mug(const struct noun_cell *cell)
{
    return __atomic_load_n(&cell->mug, __ATOMIC_RELAXED);
}

/* Whether `n` is a cell whose mug still has to be computed. */
static inline bool needs_traversal(noun n)
{
    return noun_is_cell(n) && cell_cached_mug(noun_to_cell(n)) == 0;
}

/* The mug of a noun that is an atom or an already-mugged cell. */
static inline uint32_t ready_mug(noun n)
{
    if (noun_is_direct(n))
        return direct_atom_mug(n);
    if (noun_is_indirect(n))
        return indirect_atom_mug(noun_to_atom(n));
    return cell_cached_mug(noun_to_cell(n));
}

static inline void store_cell_mug(struct noun_cell *cell)
{
    uint32_t mug = mug_both(ready_mug(cell->head), ready_mug(cell->tail));
    __atomic_store_n(&cell->mug, mug, __ATOMIC_RELAXED);
}

/* Compute the mug of one cell somewhere under `cell` (which needs it) using
 * no memory: walk down towards any child still unmugged until reaching a
 * cell whose children are both ready.  Used only when the stack can't grow;
 * quadratic in depth, but it always makes progress. */
static void mug_one_without_stack(struct noun_cell *cell)
{
    for (;;) {
        if (needs_traversal(cell->head))
            cell = noun_to_cell(cell->head);
        else if (needs_traversal(cell->tail))
            cell = noun_to_cell(cell->tail);
        else {
            store_cell_mug(cell);
            return;
        }
    }
}

/* ---- the traversal -------------------------------------------------------- */

/* Cells whose mug is pending, innermost on top.  Starts in an inline buffer
 * so mugging a small noun doesn't touch malloc. */
struct mug_stack {
    struct noun_cell **items;
    size_t count, capacity;
    struct noun_cell *inline_items[256];
};

static bool mug_stack_push(struct mug_stack *stack, struct noun_cell *cell)
{
    if (stack->count == stack->capacity) {
        size_t capacity = stack->capacity * 2;
        struct noun_cell **items = stack->items == stack->inline_items
                                       ? malloc(capacity * sizeof *items)
                                       : realloc(stack->items, capacity * sizeof *items);
        if (!items)
            return false;
        if (stack->items == stack->inline_items)
            memcpy(items, stack->inline_items, sizeof stack->inline_items);
        stack->items = items;
        stack->capacity = capacity;
    }
    stack->items[stack->count++] = cell;
    return true;
}

uint32_t mug_noun(noun n)
{
    if (!noun_is_cell(n))
        return ready_mug(n);
    struct noun_cell *root = noun_to_cell(n);
    uint32_t mug = cell_cached_mug(root);
    if (mug)
        return mug;

    struct mug_stack stack;
    stack.items = stack.inline_items;
    stack.capacity = sizeof stack.inline_items / sizeof stack.inline_items[0];
    stack.count = 0;
    mug_stack_push(&stack, root);

    while (stack.count > 0) {
        struct noun_cell *cell = stack.items[stack.count - 1];
        /* Tail first: in a noun built bottom-up (by cue, say) a cell sits
         * right after its tail, while its head is far away; fetching the
         * head now lets that miss overlap the walk of the tail. */
        if (noun_is_cell(cell->head))
            __builtin_prefetch(noun_to_cell(cell->head));
        noun pending = NOUN_NONE;
        if (needs_traversal(cell->tail))
            pending = cell->tail;
        else if (needs_traversal(cell->head))
            pending = cell->head;
        if (pending == NOUN_NONE) {
            store_cell_mug(cell);
            stack.count--;
        } else if (!mug_stack_push(&stack, noun_to_cell(pending))) {
            mug_one_without_stack(noun_to_cell(pending));
        }
    }
    if (stack.items != stack.inline_items)
        free(stack.items);
    return cell_cached_mug(root);
}
