/* pma_directory.h -- the PMA's page directory: a copy-on-write B+ tree that
 * says, for each logical page of the arena, which page of the file holds it
 * (and that page's checksum).
 *
 * The whole tree is kept in memory while the PMA is open (a 1 GiB home
 * needs about 1,600 nodes).  Each node remembers the file page it was read
 * from or last written to; changing a node forgets that page (it is
 * "released": the durable snapshot still uses it, so it may be reused only
 * once a later snapshot no longer does) and the node is written to a fresh
 * page by the next pma_directory_write.  So a snapshot writes only the
 * nodes on the paths to the pages that changed, and never overwrites a node
 * the last durable snapshot uses.
 *
 * The node format, byte by byte, is at the top of pma_directory.c and in
 * docs/formats.md.  Nothing here prints or exits.
 */
#ifndef NOCKLAB_PMA_DIRECTORY_H
#define NOCKLAB_PMA_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMA_PAGE_BYTES 4096u

/* Little-endian integers in the file's pages, whatever the machine. */
static inline void pma_put32(uint8_t *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}

static inline void pma_put64(uint8_t *at, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}

static inline uint32_t pma_get32(const uint8_t *at)
{
    uint32_t value = 0;
    for (int i = 0; i < 4; i++)
        value |= (uint32_t)at[i] << (8 * i);
    return value;
}

static inline uint64_t pma_get64(const uint8_t *at)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value |= (uint64_t)at[i] << (8 * i);
    return value;
}

/* A growing list of file page numbers (released pages, free pages). */
struct pma_page_list {
    uint64_t *pages;
    size_t count, capacity;
};
bool pma_page_list_push(struct pma_page_list *list, uint64_t page);
void pma_page_list_free(struct pma_page_list *list);

/* Where one logical page lives: its file page and the xxh3-64 of its
 * bytes, seeded with the logical page number. */
struct pma_page_entry {
    uint64_t file_page;
    uint64_t checksum;
};

struct pma_directory;

struct pma_directory *pma_directory_new(void);
void pma_directory_free(struct pma_directory *directory);

/* Map `logical` to `entry`.  The file page it replaces, and the file page
 * of every written node this changes, are pushed on `released`.  False
 * only when memory is short (the tree is then unchanged but for nodes
 * marked changed). */
bool pma_directory_set(struct pma_directory *directory, uint64_t logical, const struct pma_page_entry *entry,
                       struct pma_page_list *released);
/* Drop every logical page at or past `first_gone`; their file pages and
 * those of the nodes changed or dropped are pushed on `released`. */
bool pma_directory_truncate(struct pma_directory *directory, uint64_t first_gone, struct pma_page_list *released);
/* (Reads the leaf from the file if it was not read yet.) */
bool pma_directory_get(struct pma_directory *directory, uint64_t logical, struct pma_page_entry *entry);

/* Logical pages mapped; levels (0 for an empty tree, 1 for a lone leaf);
 * nodes. */
uint64_t pma_directory_count(const struct pma_directory *directory);
unsigned pma_directory_depth(const struct pma_directory *directory);
uint64_t pma_directory_nodes(const struct pma_directory *directory);

/* Call `visit` for each logical page in increasing order (reading every
 * leaf not read yet: false when one can't be). */
typedef void pma_directory_visitor(void *context, uint64_t logical, const struct pma_page_entry *entry);
bool pma_directory_each(struct pma_directory *directory, pma_directory_visitor *visit, void *context);
/* Call `visit` with the file page of every node (all written). */
void pma_directory_each_node(const struct pma_directory *directory, void (*visit)(void *context, uint64_t file_page),
                             void *context);

/* Write every changed node, children before parents, each to the file
 * page `allocate` returns, into `fd`.  *root receives the root's page (0
 * for an empty tree), *written the nodes written.  False, with why, when
 * a write fails (nodes written so far keep their new pages). */
bool pma_directory_write(struct pma_directory *directory, int fd, uint64_t (*allocate)(void *context),
                         void *context, uint64_t *root, uint64_t *written, char *why, size_t why_size);

/* Read the tree whose root is file page `root` (0: empty) of `fd`, with
 * `depth` levels, checking every node: magic, checksum, kind and level,
 * counts, keys in order and within their parent's bounds, and that no file
 * page (below `file_pages`, at or past `first_page`) is used twice, by a
 * node or a data page.  `used`, when not NULL, is a bitmap of file_pages
 * bits that receives every page the tree uses; `visit`, when not NULL, is
 * called for every entry in increasing order.  Leaves are kept as stubs
 * and read again from `fd` when first needed, so `fd` must stay open as
 * long as the tree is used.  NULL, with why, when anything fails. */
struct pma_directory *pma_directory_read(int fd, uint64_t root, unsigned depth, uint64_t first_page,
                                         uint64_t file_pages, uint8_t *used, pma_directory_visitor *visit,
                                         void *context, char *why, size_t why_size);

#endif
