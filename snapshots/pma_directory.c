/* pma_directory.c -- the PMA's page directory, a copy-on-write B+ tree from
 * logical page to file page (see pma_directory.h).
 *
 * On disk a node is one 4096-byte page of the PMA file, little-endian:
 *
 *   offset  size  field
 *        0     4  magic "PMAN"
 *        4     2  kind: 1 leaf, 2 branch
 *        6     2  count: entries in use (1 .. 169 in a leaf, 1 .. 254 in a
 *                 branch)
 *        8     4  level: 0 for a leaf, one more than its children for a
 *                 branch
 *       12     4  zero
 *       16     8  checksum: xxh3-64 of the whole page with these 8 bytes
 *                 zero
 *       24        entries, in increasing key order:
 *                   leaf    24 bytes each: logical page, file page,
 *                           xxh3-64 of the data page's 4096 bytes
 *                           seeded with the logical page number (so a
 *                           page moved to another place fails it)
 *                   branch  16 bytes each: the first logical page under
 *                           the child, the child's file page
 *                 the rest of the page is zero
 *
 * Invariants: keys strictly increase within a node; a branch's key i is
 * its child i's first key and every key under child i is below key i+1;
 * all leaves are at level 0.  In memory, a node whose file_page is 0 has
 * changed since it was written, and so has every node above it (a change
 * touches the whole path from the root), so writing starts at the root
 * and skips any subtree whose root is unchanged.
 *
 * Splits: when a full node receives an entry past its last one (the arena
 * grows at its end), the new entry alone starts the right sibling, so a
 * tree built by appending has full nodes; any other split halves the node.
 * Truncation (the arena shrinking after a collection) may leave the
 * rightmost nodes underfull, which costs space, never correctness.
 *
 * Leaves are read lazily.  Reading a tree walks every node once (checking
 * each, and passing every entry to the caller, who maps the pages), but
 * keeps only the branches; a leaf stays a stub (its count and file page)
 * until something needs its entries, when it is read again and checked
 * again.  A 1 GiB home has some 1,550 leaves and 10 branches, and touching
 * fresh memory for all the leaves would cost more than the rest of a load.
 * A stub's file page is never reused while the stub exists: it belongs to
 * the durable snapshot until the stub is loaded and changed.
 */
#include "snapshots/pma_directory.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define NODE_MAGIC 0x4e414d50u /* "PMAN" little-endian */
#define NODE_KIND_LEAF 1
#define NODE_KIND_BRANCH 2
#define NODE_HEADER_BYTES 24
#define LEAF_CAPACITY 169
#define BRANCH_CAPACITY 254
/* Deeper than any tree of 2^64 pages could be: a bound for bad input. */
#define MAX_DEPTH 12

struct node {
    uint32_t count;
    uint16_t level;      /* 0 for a leaf */
    uint16_t stub;       /* a leaf whose keys and entries are not read yet */
    uint64_t file_page;  /* where it is on disk; 0 when changed since */
    uint64_t keys[BRANCH_CAPACITY];
    union {
        struct pma_page_entry entries[LEAF_CAPACITY];
        struct node *children[BRANCH_CAPACITY];
    } u;
};

struct pma_directory {
    struct node *root;   /* NULL when empty */
    unsigned depth;      /* levels: root->level + 1, 0 when empty */
    uint64_t count;      /* logical pages mapped */
    uint64_t nodes;
    int fd;              /* where stubs are read from (-1: none) */
};

static bool decode_node(const uint8_t page[PMA_PAGE_BYTES], uint64_t page_number, uint32_t level, char *why,
                        size_t why_size);

/* A stub is only the node's first fields and its first key. */
#define STUB_BYTES (offsetof(struct node, keys) + sizeof(uint64_t))

/* Replace the stub leaf in *slot (if it is one) by the whole leaf, read
 * from its page and checked as when the tree was read. */
static bool load_leaf(const struct pma_directory *directory, struct node **slot)
{
    struct node *stub = *slot;
    if (!stub->stub)
        return true;
    uint8_t page[PMA_PAGE_BYTES];
    char why[200];
    if (directory->fd < 0 ||
        pread(directory->fd, page, sizeof page, (off_t)(stub->file_page * PMA_PAGE_BYTES)) != (ssize_t)sizeof page ||
        !decode_node(page, stub->file_page, 0, why, sizeof why))
        return false;
    uint32_t count = (uint32_t)page[6] | (uint32_t)page[7] << 8;
    if (count != stub->count || pma_get64(page + NODE_HEADER_BYTES) != stub->keys[0])
        return false;
    struct node *leaf = calloc(1, sizeof *leaf);
    if (!leaf)
        return false;
    leaf->count = count;
    leaf->file_page = stub->file_page;
    const uint8_t *at = page + NODE_HEADER_BYTES;
    for (uint32_t i = 0; i < count; i++, at += 24) {
        leaf->keys[i] = pma_get64(at);
        leaf->u.entries[i].file_page = pma_get64(at + 8);
        leaf->u.entries[i].checksum = pma_get64(at + 16);
    }
    free(stub);
    *slot = leaf;
    return true;
}

static void say(char *why, size_t why_size, const char *format, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_size, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(why, why_size, format, arguments);
    va_end(arguments);
}

bool pma_page_list_push(struct pma_page_list *list, uint64_t page)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 256;
        uint64_t *pages = realloc(list->pages, capacity * sizeof *pages);
        if (!pages)
            return false;
        list->pages = pages;
        list->capacity = capacity;
    }
    list->pages[list->count++] = page;
    return true;
}

void pma_page_list_free(struct pma_page_list *list)
{
    free(list->pages);
    memset(list, 0, sizeof *list);
}

static unsigned capacity_of(const struct node *node) { return node->level == 0 ? LEAF_CAPACITY : BRANCH_CAPACITY; }

/* The first index whose key is at least `key`. */
static uint32_t lower_bound(const uint64_t *keys, uint32_t count, uint64_t key)
{
    uint32_t low = 0, high = count;
    while (low < high) {
        uint32_t middle = (low + high) / 2;
        if (keys[middle] < key)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

/* The child of a branch whose range holds `key`. */
static uint32_t child_for(const struct node *node, uint64_t key)
{
    uint32_t at = lower_bound(node->keys, node->count, key);
    if (at < node->count && node->keys[at] == key)
        return at;
    return at == 0 ? 0 : at - 1;
}

struct pma_directory *pma_directory_new(void)
{
    struct pma_directory *directory = calloc(1, sizeof(struct pma_directory));
    if (directory)
        directory->fd = -1;
    return directory;
}

static void free_subtree(struct node *node)
{
    if (!node)
        return;
    if (node->level > 0)
        for (uint32_t i = 0; i < node->count; i++)
            free_subtree(node->u.children[i]);
    free(node);
}

void pma_directory_free(struct pma_directory *directory)
{
    if (!directory)
        return;
    free_subtree(directory->root);
    free(directory);
}

uint64_t pma_directory_count(const struct pma_directory *directory) { return directory->count; }
unsigned pma_directory_depth(const struct pma_directory *directory) { return directory->depth; }
uint64_t pma_directory_nodes(const struct pma_directory *directory) { return directory->nodes; }

bool pma_directory_get(struct pma_directory *directory, uint64_t logical, struct pma_page_entry *entry)
{
    struct node **slot = &directory->root;
    while (*slot && (*slot)->level > 0)
        slot = &(*slot)->u.children[child_for(*slot, logical)];
    if (!*slot || !load_leaf(directory, slot))
        return false;
    const struct node *node = *slot;
    uint32_t at = lower_bound(node->keys, node->count, logical);
    if (at == node->count || node->keys[at] != logical)
        return false;
    *entry = node->u.entries[at];
    return true;
}

/* Mark `node` changed, releasing the page the durable tree has it on. */
static bool touch(struct node *node, struct pma_page_list *released)
{
    if (node->file_page == 0)
        return true;
    if (!pma_page_list_push(released, node->file_page))
        return false;
    node->file_page = 0;
    return true;
}

/* Put (key, entry or child) at index `at` of `node`, which has room. */
static void place(struct node *node, uint32_t at, uint64_t key, const struct pma_page_entry *entry,
                  struct node *child)
{
    memmove(&node->keys[at + 1], &node->keys[at], (node->count - at) * sizeof node->keys[0]);
    node->keys[at] = key;
    if (node->level == 0) {
        memmove(&node->u.entries[at + 1], &node->u.entries[at], (node->count - at) * sizeof node->u.entries[0]);
        node->u.entries[at] = *entry;
    } else {
        memmove(&node->u.children[at + 1], &node->u.children[at], (node->count - at) * sizeof node->u.children[0]);
        node->u.children[at] = child;
    }
    node->count++;
}

/* Insert into `node` at `at`, splitting it when full: the new right
 * sibling (unwritten) goes to *split. */
static bool insert_at(struct pma_directory *directory, struct node *node, uint32_t at, uint64_t key,
                      const struct pma_page_entry *entry, struct node *child, struct node **split)
{
    *split = NULL;
    if (node->count < capacity_of(node)) {
        place(node, at, key, entry, child);
        return true;
    }
    struct node *right = calloc(1, sizeof *right);
    if (!right)
        return false;
    directory->nodes++;
    right->level = node->level;
    uint32_t split_at = at == node->count ? node->count : node->count / 2;
    right->count = node->count - split_at;
    memcpy(right->keys, &node->keys[split_at], right->count * sizeof node->keys[0]);
    if (node->level == 0)
        memcpy(right->u.entries, &node->u.entries[split_at], right->count * sizeof node->u.entries[0]);
    else
        memcpy(right->u.children, &node->u.children[split_at], right->count * sizeof node->u.children[0]);
    node->count = split_at;
    if (at >= split_at)
        place(right, at - split_at, key, entry, child);
    else
        place(node, at, key, entry, child);
    *split = right;
    return true;
}

static bool insert(struct pma_directory *directory, struct node **slot, uint64_t key,
                   const struct pma_page_entry *entry, struct pma_page_list *released, struct node **split)
{
    *split = NULL;
    if (!load_leaf(directory, slot))
        return false;
    struct node *node = *slot;
    if (!touch(node, released))
        return false;
    if (node->level == 0) {
        uint32_t at = lower_bound(node->keys, node->count, key);
        if (at < node->count && node->keys[at] == key) {
            uint64_t old = node->u.entries[at].file_page;
            if (old && old != entry->file_page && !pma_page_list_push(released, old))
                return false;
            node->u.entries[at] = *entry;
            return true;
        }
        if (!insert_at(directory, node, at, key, entry, NULL, split))
            return false;
        directory->count++;
        return true;
    }
    uint32_t at = child_for(node, key);
    if (key < node->keys[at])
        node->keys[at] = key; /* a new first key under child 0 */
    struct node *child_split;
    if (!insert(directory, &node->u.children[at], key, entry, released, &child_split))
        return false;
    if (!child_split)
        return true;
    return insert_at(directory, node, at + 1, child_split->keys[0], NULL, child_split, split);
}

bool pma_directory_set(struct pma_directory *directory, uint64_t logical, const struct pma_page_entry *entry,
                       struct pma_page_list *released)
{
    if (!directory->root) {
        struct node *leaf = calloc(1, sizeof *leaf);
        if (!leaf)
            return false;
        directory->root = leaf;
        directory->depth = 1;
        directory->nodes = 1;
    }
    struct node *split;
    if (!insert(directory, &directory->root, logical, entry, released, &split))
        return false;
    if (!split)
        return true;
    struct node *root = calloc(1, sizeof *root);
    if (!root) {
        /* Keep the tree whole: the split's entries go back. */
        struct node *left = directory->root;
        for (uint32_t i = 0; i < split->count; i++)
            left->keys[left->count + i] = split->keys[i];
        if (left->count + split->count <= capacity_of(left)) {
            if (left->level == 0)
                memcpy(&left->u.entries[left->count], split->u.entries, split->count * sizeof split->u.entries[0]);
            else
                memcpy(&left->u.children[left->count], split->u.children,
                       split->count * sizeof split->u.children[0]);
            left->count += split->count;
            free(split);
            directory->nodes--;
        }
        return false;
    }
    directory->nodes++;
    root->level = directory->root->level + 1;
    root->count = 2;
    root->keys[0] = directory->root->keys[0];
    root->keys[1] = split->keys[0];
    root->u.children[0] = directory->root;
    root->u.children[1] = split;
    directory->root = root;
    directory->depth++;
    return true;
}

/* Drop a whole subtree: its nodes' and data pages' file pages released. */
static bool drop_subtree(struct pma_directory *directory, struct node *node, struct pma_page_list *released)
{
    if (!load_leaf(directory, &node)) {
        /* Its data pages can't be named: they stay used until reopened. */
        directory->count -= node->count;
        free(node);
        directory->nodes--;
        return false;
    }
    bool ok = node->file_page == 0 || pma_page_list_push(released, node->file_page);
    if (node->level == 0) {
        for (uint32_t i = 0; i < node->count; i++)
            ok = ok && (node->u.entries[i].file_page == 0 ||
                        pma_page_list_push(released, node->u.entries[i].file_page));
        directory->count -= node->count;
    } else {
        for (uint32_t i = 0; i < node->count; i++)
            ok = drop_subtree(directory, node->u.children[i], released) && ok;
    }
    free(node);
    directory->nodes--;
    return ok;
}

static bool truncate_node(struct pma_directory *directory, struct node **slot, uint64_t first_gone,
                          struct pma_page_list *released)
{
    if (!load_leaf(directory, slot))
        return false;
    struct node *node = *slot;
    uint32_t at = lower_bound(node->keys, node->count, first_gone);
    if (node->level == 0) {
        if (at == node->count)
            return true;
        if (!touch(node, released))
            return false;
        for (uint32_t i = at; i < node->count; i++)
            if (node->u.entries[i].file_page && !pma_page_list_push(released, node->u.entries[i].file_page))
                return false;
        directory->count -= node->count - at;
        node->count = at;
        return true;
    }
    bool ok = true;
    if (at < node->count) {
        ok = touch(node, released);
        for (uint32_t i = at; i < node->count; i++)
            ok = drop_subtree(directory, node->u.children[i], released) && ok;
        node->count = at;
    }
    if (node->count == 0)
        return ok;
    struct node **last_slot = &node->u.children[node->count - 1];
    bool was_written = (*last_slot)->file_page != 0;
    ok = ok && truncate_node(directory, last_slot, first_gone, released);
    struct node *last = *last_slot;
    if (was_written && last->file_page == 0)
        ok = ok && touch(node, released);
    if (last->count == 0) {
        free(last);
        directory->nodes--;
        node->count--;
    }
    return ok;
}

bool pma_directory_truncate(struct pma_directory *directory, uint64_t first_gone, struct pma_page_list *released)
{
    if (!directory->root)
        return true;
    bool ok = truncate_node(directory, &directory->root, first_gone, released);
    /* A root left with one child gives way to it; an empty root goes. */
    while (directory->root && (directory->root->count == 0 ||
                               (directory->root->level > 0 && directory->root->count == 1))) {
        struct node *old = directory->root;
        ok = touch(old, released) && ok;
        directory->root = old->count == 0 ? NULL : old->u.children[0];
        free(old);
        directory->nodes--;
        directory->depth = directory->root ? directory->root->level + 1 : 0;
    }
    return ok;
}

static bool each_entry(const struct pma_directory *directory, struct node **slot, pma_directory_visitor *visit,
                       void *context)
{
    if (!load_leaf(directory, slot))
        return false;
    struct node *node = *slot;
    for (uint32_t i = 0; i < node->count; i++) {
        if (node->level == 0)
            visit(context, node->keys[i], &node->u.entries[i]);
        else if (!each_entry(directory, &node->u.children[i], visit, context))
            return false;
    }
    return true;
}

bool pma_directory_each(struct pma_directory *directory, pma_directory_visitor *visit, void *context)
{
    return !directory->root || each_entry(directory, &directory->root, visit, context);
}

static void each_node(const struct node *node, void (*visit)(void *context, uint64_t file_page), void *context)
{
    visit(context, node->file_page);
    if (node->level > 0)
        for (uint32_t i = 0; i < node->count; i++)
            each_node(node->u.children[i], visit, context);
}

void pma_directory_each_node(const struct pma_directory *directory, void (*visit)(void *context, uint64_t file_page),
                             void *context)
{
    if (directory->root)
        each_node(directory->root, visit, context);
}

/* ---- on disk ------------------------------------------------------------------ */

static uint64_t node_checksum(const uint8_t page[PMA_PAGE_BYTES])
{
    uint8_t copy[PMA_PAGE_BYTES];
    memcpy(copy, page, sizeof copy);
    memset(copy + 16, 0, 8);
    return XXH3_64bits(copy, sizeof copy);
}

static void encode_node(const struct node *node, uint8_t page[PMA_PAGE_BYTES])
{
    memset(page, 0, PMA_PAGE_BYTES);
    pma_put32(page, NODE_MAGIC);
    page[4] = node->level == 0 ? NODE_KIND_LEAF : NODE_KIND_BRANCH;
    page[6] = (uint8_t)node->count;
    page[7] = (uint8_t)(node->count >> 8);
    pma_put32(page + 8, node->level);
    uint8_t *at = page + NODE_HEADER_BYTES;
    for (uint32_t i = 0; i < node->count; i++) {
        pma_put64(at, node->keys[i]);
        if (node->level == 0) {
            pma_put64(at + 8, node->u.entries[i].file_page);
            pma_put64(at + 16, node->u.entries[i].checksum);
            at += 24;
        } else {
            pma_put64(at + 8, node->u.children[i]->file_page);
            at += 16;
        }
    }
    pma_put64(page + 16, node_checksum(page));
}

static bool write_node(struct node *node, int fd, uint64_t (*allocate)(void *context), void *context,
                       uint64_t *written, char *why, size_t why_size)
{
    if (node->file_page)
        return true;
    if (node->level > 0)
        for (uint32_t i = 0; i < node->count; i++)
            if (!write_node(node->u.children[i], fd, allocate, context, written, why, why_size))
                return false;
    uint64_t page_number = allocate(context);
    if (page_number == 0) {
        say(why, why_size, "no file page for a directory node");
        return false;
    }
    uint8_t page[PMA_PAGE_BYTES];
    encode_node(node, page);
    ssize_t done = pwrite(fd, page, sizeof page, (off_t)(page_number * PMA_PAGE_BYTES));
    if (done != (ssize_t)sizeof page) {
        say(why, why_size, "cannot write a directory node at page %llu: %s", (unsigned long long)page_number,
            done < 0 ? strerror(errno) : "short write");
        return false;
    }
    node->file_page = page_number;
    (*written)++;
    return true;
}

bool pma_directory_write(struct pma_directory *directory, int fd, uint64_t (*allocate)(void *context),
                         void *context, uint64_t *root, uint64_t *written, char *why, size_t why_size)
{
    *written = 0;
    *root = 0;
    if (!directory->root)
        return true;
    if (!write_node(directory->root, fd, allocate, context, written, why, why_size))
        return false;
    *root = directory->root->file_page;
    return true;
}

/* What reading a tree needs to check page use, and whom to tell each
 * entry. */
struct reading {
    int fd;
    uint64_t first_page, file_pages;
    uint8_t *used;
    struct pma_directory *directory;
    pma_directory_visitor *visit;
    void *context;
    char *why;
    size_t why_size;
};

/* Check a node's page on its own: magic, checksum, kind and level, count. */
static bool decode_node(const uint8_t page[PMA_PAGE_BYTES], uint64_t page_number, uint32_t level, char *why,
                        size_t why_size)
{
    const char *problem = NULL;
    uint32_t count = (uint32_t)page[6] | (uint32_t)page[7] << 8;
    if (pma_get32(page) != NODE_MAGIC)
        problem = "not a directory node (bad magic)";
    else if (pma_get64(page + 16) != node_checksum(page))
        problem = "its checksum does not match";
    else if (page[4] != (level == 0 ? NODE_KIND_LEAF : NODE_KIND_BRANCH) || page[5] != 0 ||
             pma_get32(page + 8) != level)
        problem = "it is not of the level its parent says";
    else if (count == 0 || count > (level == 0 ? LEAF_CAPACITY : BRANCH_CAPACITY))
        problem = "its entry count is out of range";
    if (problem)
        say(why, why_size, "directory node at page %llu: %s", (unsigned long long)page_number, problem);
    return problem == NULL;
}

static bool claim_page(struct reading *reading, uint64_t page, const char *what)
{
    if (page < reading->first_page || page >= reading->file_pages) {
        say(reading->why, reading->why_size, "%s names file page %llu, outside pages %llu..%llu", what,
            (unsigned long long)page, (unsigned long long)reading->first_page,
            (unsigned long long)reading->file_pages - 1);
        return false;
    }
    if (reading->used[page / 8] & (1u << (page % 8))) {
        say(reading->why, reading->why_size, "file page %llu is used twice (%s)", (unsigned long long)page, what);
        return false;
    }
    reading->used[page / 8] |= (uint8_t)(1u << (page % 8));
    return true;
}

/* Read the node at `page`, which must be at `level` and hold keys in
 * [low, high) (high 0: no bound) with `low` its first key when `exact`. */
static struct node *read_node(struct reading *reading, uint64_t page_number, uint32_t level, uint64_t low,
                              uint64_t high, bool exact)
{
    if (!claim_page(reading, page_number, "a directory node"))
        return NULL;
    uint8_t page[PMA_PAGE_BYTES];
    ssize_t got = pread(reading->fd, page, sizeof page, (off_t)(page_number * PMA_PAGE_BYTES));
    if (got != (ssize_t)sizeof page) {
        say(reading->why, reading->why_size, "directory node at page %llu cannot be read: %s",
            (unsigned long long)page_number, got < 0 ? strerror(errno) : "the file ends first");
        return NULL;
    }
    if (!decode_node(page, page_number, level, reading->why, reading->why_size))
        return NULL;
    uint32_t count = (uint32_t)page[6] | (uint32_t)page[7] << 8;
    struct node *node = calloc(1, level == 0 ? STUB_BYTES : sizeof *node);
    if (!node) {
        say(reading->why, reading->why_size, "out of memory reading the directory");
        return NULL;
    }
    reading->directory->nodes++;
    node->level = (uint16_t)level;
    node->stub = level == 0;
    node->file_page = page_number;
    const uint8_t *at = page + NODE_HEADER_BYTES;
    size_t entry_bytes = level == 0 ? 24 : 16;
    uint64_t previous = 0;
    for (uint32_t i = 0; i < count; i++, at += entry_bytes) {
        uint64_t key = pma_get64(at);
        bool in_order = i == 0 ? (exact ? key == low : key >= low) : key > previous;
        if (!in_order || (high && key >= high)) {
            say(reading->why, reading->why_size, "directory node at page %llu: its keys are out of order",
                (unsigned long long)page_number);
            free_subtree(node);
            return NULL;
        }
        previous = key;
        if (i == 0 || level > 0)
            node->keys[i] = key;
        node->count = i + 1;
        if (level == 0) {
            struct pma_page_entry entry = { pma_get64(at + 8), pma_get64(at + 16) };
            if (!claim_page(reading, entry.file_page, "a data page")) {
                free_subtree(node);
                return NULL;
            }
            if (reading->visit)
                reading->visit(reading->context, key, &entry);
            reading->directory->count++;
        } else {
            node->count = i; /* the child is counted once it is read */
            uint64_t child_high = high;
            if (i + 1 < count) {
                uint64_t next = pma_get64(at + entry_bytes);
                child_high = next;
            }
            struct node *child = read_node(reading, pma_get64(at + 8), level - 1, key, child_high, true);
            if (!child) {
                free_subtree(node);
                return NULL;
            }
            node->u.children[i] = child;
            node->count = i + 1;
        }
    }
    return node;
}

struct pma_directory *pma_directory_read(int fd, uint64_t root, unsigned depth, uint64_t first_page,
                                         uint64_t file_pages, uint8_t *used, pma_directory_visitor *visit,
                                         void *context, char *why, size_t why_size)
{
    struct pma_directory *directory = pma_directory_new();
    if (!directory) {
        say(why, why_size, "out of memory reading the directory");
        return NULL;
    }
    if (root == 0 || depth == 0) {
        if (root != 0 || depth != 0) {
            say(why, why_size, "the directory's root and depth disagree (root page %llu, depth %u)",
                (unsigned long long)root, depth);
            free(directory);
            return NULL;
        }
        return directory;
    }
    if (depth > MAX_DEPTH) {
        say(why, why_size, "the directory claims %u levels (at most %d make sense)", depth, MAX_DEPTH);
        free(directory);
        return NULL;
    }
    uint8_t *own = NULL;
    if (!used) {
        own = calloc(file_pages / 8 + 1, 1);
        if (!own) {
            say(why, why_size, "out of memory reading the directory");
            free(directory);
            return NULL;
        }
        used = own;
    }
    struct reading reading = { fd, first_page, file_pages, used, directory, visit, context, why, why_size };
    directory->fd = fd;
    directory->root = read_node(&reading, root, depth - 1, 0, 0, false);
    free(own);
    if (!directory->root) {
        free(directory);
        return NULL;
    }
    directory->depth = depth;
    return directory;
}
