/* stm.c -- the STM backend: Block-STM over a kernel's declared shards.
 *
 * stm.h tells the scheme; docs/stm.md walks through a conflict.  The parts
 * of this file, in order:
 *
 *   layout     the shards a state declares and the spine above them
 *   maps       which cells of one assembled kernel are spine cells or shard
 *              roots, so the tracker can tell a read from a walk
 *   tracking   the nock_tracker hooks: walks and whole-noun looks -> reads
 *   attempts   one execution of one event on one worker
 *   epochs     the parallel loop: claim, run, validate, commit
 *   batches    serial stretches, parallel epochs, copying out to home
 *
 * Invariants:
 *   - An attempt, once published in its slot (release store), is never
 *     written again; everything it points to lives in its worker's batch
 *     region until the epoch ends.
 *   - Slot states go IDLE -> EXECUTING (a claim, by compare-and-swap, so
 *     each run has one owner) -> DONE; the commit lock's holder sends a
 *     DONE slot whose run was stale back to IDLE, to be claimed again.  A
 *     slot's spare (a second run of the event at the commit point) is made
 *     by at most one worker at a time (spare_claimed).
 *   - Events below commit_index are committed, in order; the committed
 *     state is the epoch's pre-state with the versions committed_writer[]
 *     names, and committed_writer[] and commit_index change only under
 *     the commit lock, inside the commit_sequence seqlock for readers.
 *     The state is made as a noun once, at the end of the epoch; a commit
 *     only works out its mug, from the mugs of its parts.
 *   - Views and that last state are built from the pre-state's parts, laid
 *     out in arrays at the start of the epoch, and the versions' roots (a
 *     worker's later views from its own last one): no worker reads a
 *     spine cell another made (each such read is a cache miss across
 *     cores).
 *   - A run started while its event is at the commit point sees exactly
 *     the committed versions, which cannot change until it commits; but
 *     in a routed epoch an event's first run takes its worker's own
 *     versions wherever the commit point is (own_versions), and only a
 *     run after a stale one is sure to commit.
 *   - Home is written only by the thread that called stm_apply_batch
 *     (worker 0, the committer): in a routed epoch it moves results that
 *     are ready while the others run (move_ready_results), the other
 *     workers' newest versions of their shards every so often
 *     (move_others_versions), and the rest when the epoch has ended.
 *     Moves never write the nouns they move (their marks are beside the
 *     batch regions), so the other workers may read those meanwhile.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "interp/stm.h"
#include "interp/clock.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp/jam.h"
#include "interp/mug.h"

/* How far past the commit point workers may run events speculatively. */
#define SPECULATION_WINDOW 32
/* Routing (route_parts, route_decide).  An event is routed by reading
 * its tag and key from its jam, without cueing it (jam_peek_direct_atom;
 * struct routes); jams longer than ROUTE_MAX_JAM_BYTES are not, which
 * bounds the bits a look passes over.  Routes are only worth taking when
 * the events spread over the workers: none with more than
 * ROUTE_MOST_SHARE of them, and at most ROUTE_UNROUTED_SHARE of them
 * without a route (those go to worker 0). */
#define ROUTE_MAX_JAM_BYTES 4096
#define ROUTE_MOST_SHARE 0.75
#define ROUTE_UNROUTED_SHARE 0.125
/* The contention estimate looks at this many recent events ... */
#define ESTIMATE_WINDOW 64
/* ... and runs serially while more than this many of them conflicted
 * (parallel: stale reads found at commit; serial: an event wrote a shard
 * one of the two events before it wrote). */
#define ESTIMATE_SERIAL_ABOVE 24
#define ESTIMATE_PARALLEL_BELOW 12
/* In a serial stretch the estimate looks at one window of events (and the
 * two before it) in this many: working out what an event wrote (`written`)
 * took about 2.5% of a kv event's time, which serial application does not
 * pay, and contention that has gone is still seen within a batch. */
#define ESTIMATE_PROBE_EVERY 256
/* A whole-noun look gives up, and reads everything, past this many fresh
 * cells (shared structure built in scratch could otherwise take time
 * exponential in its size). */
#define WHOLE_LOOK_BUDGET 4096
/* Each worker's batch region, per half. */
#define BATCH_REGION_BYTES ((size_t)4 << 30)
/* A worker's scratch is reset once it holds this much between events.  A
 * reset is not free (nock_context_reset drops the code compiled from
 * scratch formulas: about 700 of them for kv, two per event, and clears
 * every call cache), but a scratch that stays small stays in the cache:
 * on alternate blocks of 20 epochs of kv, 96 KB made an epoch with its
 * copy 1-10% shorter than 256 KB (seven runs, none slower; routed and
 * not); 64 KB was 4-5% slower than 256 KB on a very slow stretch of the
 * machine, 7-9% faster on a normal one. */
#define SCRATCH_KEEP ((size_t)96 << 10)

static uint64_t shard_bit(size_t shard) { return UINT64_C(1) << shard; }

/* Make *array hold at least `needed` nouns.  False when memory is short. */
static bool ensure_nouns(noun **array, size_t *capacity, size_t needed)
{
    if (needed <= *capacity)
        return true;
    noun *bigger = realloc(*array, needed * sizeof *bigger);
    if (!bigger)
        return false;
    *array = bigger;
    *capacity = needed;
    return true;
}

/* ---- layout ------------------------------------------------------------------ */

/* A child of a spine node: another spine node (>= 0), a shard (-1 - s), or
 * a part of the rest (CHILD_REST). */
#define CHILD_REST INT32_MIN

/* A cell on the path from the kernel's root to a shard root.  `under` has a
 * bit for every shard below it. */
struct spine_node {
    uint64_t axis;
    int32_t child[2];
    uint64_t under;
};

/* How events find their shard before they run, when the kernel says
 * (docs/kernels.md, "Shard declarations"): an event [tag ...] whose tag
 * is tags[k] holds at its axis event_axes[k] a key, which read as an axis
 * under the kernel's axis `base` names the part of the state the event
 * will touch. */
#define STM_MAX_ROUTES 16
struct routes {
    size_t count;                 /* 0: events are not routed */
    uint64_t base;
    uint64_t tags[STM_MAX_ROUTES], event_axes[STM_MAX_ROUTES];
};

/* The shards a state declares.  nodes[0] is the root (axis 1); a node's
 * parent comes before it (nodes are in axis order). */
struct layout {
    size_t shard_count;
    uint64_t axes[STM_MAX_SHARDS];
    uint64_t all;                 /* a bit per shard */
    struct spine_node *nodes;
    size_t node_count, node_capacity;
    noun declaration;             /* the noun at axis 14 it was read from */
    struct routes routes;
};

static void layout_clear(struct layout *layout)
{
    layout->shard_count = 0;
    layout->all = 0;
    layout->node_count = 0;
    layout->declaration = NOUN_NONE;
    layout->routes.count = 0;
}

static int bit_length(uint64_t x) { return 64 - __builtin_clzll(x); }

/* Whether axis a is b or above it. */
static bool axis_covers(uint64_t a, uint64_t b)
{
    int shift = bit_length(b) - bit_length(a);
    return shift >= 0 && (b >> shift) == a;
}

static int compare_axes(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static int32_t find_node(const struct layout *layout, uint64_t axis)
{
    size_t low = 0, high = layout->node_count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (layout->nodes[middle].axis < axis)
            low = middle + 1;
        else
            high = middle;
    }
    return low < layout->node_count && layout->nodes[low].axis == axis ? (int32_t)low : -1;
}

#define TERM_SHARDS 0x736472616873u /* %shards */
#define TERM_ROUTE 0x6574756f72u    /* %route */

/* Read [%route base [[tag axis] ...] rest] into *routes; *rest is the
 * declaration it wraps.  False, with why, when it is malformed. */
static bool routes_read(struct routes *routes, noun declaration, noun *rest, char *why, size_t why_size)
{
    noun base = noun_fragment(6, declaration), list = noun_fragment(14, declaration);
    *rest = noun_fragment(15, declaration);
    if (base == NOUN_NONE || !noun_is_direct(base) || base == 0 || list == NOUN_NONE || *rest == NOUN_NONE) {
        snprintf(why, why_size, "a route declaration is [%%route base [[tag axis] ...] %%shards ...]");
        return false;
    }
    routes->base = base;
    routes->count = 0;
    for (; noun_is_cell(list); list = noun_tail(list)) {
        noun route = noun_head(list);
        if (routes->count == STM_MAX_ROUTES) {
            snprintf(why, why_size, "more than %d routes", STM_MAX_ROUTES);
            return false;
        }
        if (!noun_is_cell(route) || !noun_is_direct(noun_head(route)) || !noun_is_direct(noun_tail(route)) ||
            noun_tail(route) == 0) {
            snprintf(why, why_size, "route %zu is not [tag axis]", routes->count);
            return false;
        }
        routes->tags[routes->count] = noun_head(route);
        routes->event_axes[routes->count++] = noun_tail(route);
    }
    if (list != 0 || routes->count == 0) {
        snprintf(why, why_size, routes->count ? "the route list does not end in ~" : "the route list is empty");
        return false;
    }
    return true;
}

/* Read the declaration of `state` into *layout.  False, with why, when it
 * declares no shards this backend can use. */
static bool layout_read(struct layout *layout, noun state, char *why, size_t why_size)
{
    layout_clear(layout);
    noun declaration = noun_fragment(14, state);
    layout->declaration = declaration;
    if (declaration != NOUN_NONE && noun_is_cell(declaration) && noun_head(declaration) == TERM_ROUTE &&
        !routes_read(&layout->routes, declaration, &declaration, why, why_size)) {
        layout->routes.count = 0;
        return false;
    }
    if (declaration == NOUN_NONE || !noun_is_cell(declaration) || noun_head(declaration) != TERM_SHARDS) {
        layout->routes.count = 0;
        snprintf(why, why_size, "no [%%shards ...] at axis 14");
        return false;
    }
    size_t count = 0;
    noun list = noun_tail(declaration);
    for (; noun_is_cell(list); list = noun_tail(list)) {
        noun axis = noun_head(list);
        if (count == STM_MAX_SHARDS) {
            snprintf(why, why_size, "more than %d shards", STM_MAX_SHARDS);
            return false;
        }
        if (!noun_is_direct(axis) || axis < 2) {
            snprintf(why, why_size, "shard %zu is not an axis above 1 that fits 63 bits", count);
            return false;
        }
        if (axis_covers(axis, 14) || axis_covers(14, axis)) {
            snprintf(why, why_size, "shard axis %llu holds or is inside the declaration at 14",
                     (unsigned long long)axis);
            return false;
        }
        layout->axes[count++] = axis;
    }
    if (list != 0 || count == 0) {
        snprintf(why, why_size, count ? "the shard list does not end in ~" : "the shard list is empty");
        return false;
    }
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < count; j++)
            if (i != j && axis_covers(layout->axes[i], layout->axes[j])) {
                snprintf(why, why_size, "shard axis %llu holds shard axis %llu",
                         (unsigned long long)layout->axes[i], (unsigned long long)layout->axes[j]);
                return false;
            }
    /* the spine: every proper ancestor of a shard axis, sorted, unique */
    size_t needed = 0;
    for (size_t i = 0; i < count; i++)
        needed += (size_t)bit_length(layout->axes[i]) - 1;
    if (needed > layout->node_capacity) {
        struct spine_node *nodes = realloc(layout->nodes, needed * sizeof *nodes);
        if (!nodes) {
            snprintf(why, why_size, "out of memory");
            return false;
        }
        layout->nodes = nodes;
        layout->node_capacity = needed;
    }
    uint64_t *ancestors = malloc(needed * sizeof *ancestors);
    uint64_t *sorted_shards = malloc(count * sizeof *sorted_shards);
    if (!ancestors || !sorted_shards) {
        free(ancestors);
        free(sorted_shards);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        for (uint64_t a = layout->axes[i] >> 1; a >= 1; a >>= 1)
            ancestors[n++] = a;
    qsort(ancestors, n, sizeof *ancestors, compare_axes);
    size_t unique = 0;
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || ancestors[unique - 1] != ancestors[i])
            ancestors[unique++] = ancestors[i];
    for (size_t i = 0; i < unique; i++)
        layout->nodes[i] = (struct spine_node){ .axis = ancestors[i] };
    layout->node_count = unique;
    free(ancestors);
    free(sorted_shards);
    layout->shard_count = count;
    layout->all = count == 64 ? UINT64_MAX : shard_bit(count) - 1;
    for (size_t k = 0; k < unique; k++) {
        struct spine_node *node = &layout->nodes[k];
        for (int side = 0; side < 2; side++) {
            uint64_t child = node->axis * 2 + (uint64_t)side;
            int32_t index = node->axis <= (UINT64_MAX >> 2) ? find_node(layout, child) : -1;
            node->child[side] = CHILD_REST;
            if (index >= 0) {
                node->child[side] = index;
            } else {
                for (size_t s = 0; s < count; s++)
                    if (layout->axes[s] == child)
                        node->child[side] = -1 - (int32_t)s;
            }
        }
    }
    for (size_t k = unique; k-- > 0;) {
        struct spine_node *node = &layout->nodes[k];
        node->under = 0;
        for (int side = 0; side < 2; side++) {
            int32_t c = node->child[side];
            if (c >= 0)
                node->under |= layout->nodes[c].under;
            else if (c != CHILD_REST)
                node->under |= shard_bit((size_t)(-1 - c));
        }
    }
    /* every spine position must be a cell in this state */
    for (size_t k = 0; k < unique; k++) {
        noun at = noun_fragment(layout->nodes[k].axis, state);
        if (at == NOUN_NONE || !noun_is_cell(at)) {
            snprintf(why, why_size, "axis %llu, above a shard, is not a cell yet",
                     (unsigned long long)layout->nodes[k].axis);
            layout_clear(layout);
            return false;
        }
    }
    return true;
}

size_t stm_shard_count(noun state, char *why, size_t why_size)
{
    struct layout layout = { 0 };
    char ignored[8];
    bool ok = layout_read(&layout, state, why ? why : ignored, why ? why_size : sizeof ignored);
    size_t count = ok ? layout.shard_count : 0;
    free(layout.nodes);
    return count;
}

/* The nouns at the spine positions of `root` (nodes order), into `at`. */
static void spine_cells(const struct layout *layout, noun root, noun *at)
{
    at[0] = root;
    for (size_t k = 0; k < layout->node_count; k++)
        for (int side = 0; side < 2; side++) {
            int32_t c = layout->node_count ? layout->nodes[k].child[side] : CHILD_REST;
            if (c >= 0)
                at[c] = side ? noun_tail(at[k]) : noun_head(at[k]);
        }
}

/* The shard roots of `root`, given its spine cells. */
static void shard_values(const struct layout *layout, const noun *at, noun *values)
{
    for (size_t k = 0; k < layout->node_count; k++)
        for (int side = 0; side < 2; side++) {
            int32_t c = layout->nodes[k].child[side];
            if (c < 0 && c != CHILD_REST)
                values[-1 - c] = side ? noun_tail(at[k]) : noun_head(at[k]);
        }
}

/* The kernel made of a spine whose cells are `at` (and whose other parts
 * are `rest`, two per spine node, as spine_rest gives them) with the
 * shards in `replaced` set to values[s]: new cells, in `region`, on the
 * paths down to them, with their mugs when `mugs` gives the mug of each
 * spine node of the result (else 0: computed when asked).  at[] is updated
 * to the new spine cells.  No old spine cell is read: the arrays are what
 * the other workers share, and the cells are in some worker's cache. */
static noun rebuild(const struct layout *layout, noun *at, const noun *rest, size_t node, uint64_t replaced,
                    const noun *values, const uint32_t *mugs, struct noun_region *region)
{
    const struct spine_node *n = &layout->nodes[node];
    if (!(n->under & replaced))
        return at[node];
    noun parts[2];
    for (int side = 0; side < 2; side++) {
        int32_t c = n->child[side];
        if (c >= 0)
            parts[side] = rebuild(layout, at, rest, (size_t)c, replaced, values, mugs, region);
        else if (c != CHILD_REST)
            parts[side] = values[-1 - c];
        else
            parts[side] = rest[2 * node + (size_t)side];
    }
    noun cell = noun_cell_new(region, parts[0], parts[1]);
    if (mugs)
        noun_to_cell(cell)->mug = mugs[node];
    at[node] = cell;
    return cell;
}

/* The parts of `root` outside its spine and shards, two per spine node
 * (NOUN_NONE on a side that is a spine node or a shard), into `rest`. */
static void spine_rest(const struct layout *layout, const noun *at, noun *rest)
{
    for (size_t k = 0; k < layout->node_count; k++)
        for (int side = 0; side < 2; side++)
            rest[2 * k + (size_t)side] = layout->nodes[k].child[side] == CHILD_REST
                                             ? (side ? noun_tail(at[k]) : noun_head(at[k]))
                                             : NOUN_NONE;
}

/* The mug of every spine node of a kernel whose shard roots have the mugs
 * value_mugs[] and whose other parts have rest_mugs[] (as spine_rest lays
 * them out), for the nodes above the shards in `changed` (all of them
 * when it is the layout's `all`): mug_both of the children's, deepest
 * first, so no cell is read. */
static void spine_mugs(const struct layout *layout, uint64_t changed, const uint32_t *value_mugs,
                       const uint32_t *rest_mugs, uint32_t *mugs)
{
    for (size_t k = layout->node_count; k-- > 0;) {
        const struct spine_node *n = &layout->nodes[k];
        if (!(n->under & changed))
            continue;
        uint32_t child_mugs[2];
        for (int side = 0; side < 2; side++) {
            int32_t c = n->child[side];
            child_mugs[side] = c >= 0 ? mugs[c] : c != CHILD_REST ? value_mugs[-1 - c] : rest_mugs[2 * k + (size_t)side];
        }
        mugs[k] = mug_both(child_mugs[0], child_mugs[1]);
    }
}

/* What `result` wrote, compared position by position with `before` (at
 * spine node `node`; 0 for whole kernels): shard bits, or everything when
 * the spine or the rest differs.  The new root of each shard written goes
 * in values[s] (when `values` is not NULL and not everything was
 * written).  Only the paths that differ are walked. */
static uint64_t written(const struct layout *layout, size_t node, noun before, noun result, noun *values,
                        bool *everything)
{
    if (result == before)
        return 0;
    if (!noun_is_cell(result) || !noun_is_cell(before)) {
        *everything = true;
        return layout->all;
    }
    uint64_t writes = 0;
    const struct spine_node *n = &layout->nodes[node];
    for (int side = 0; side < 2 && !*everything; side++) {
        noun mine = side ? noun_tail(result) : noun_head(result);
        noun theirs = side ? noun_tail(before) : noun_head(before);
        int32_t c = n->child[side];
        if (c >= 0)
            writes |= written(layout, (size_t)c, theirs, mine, values, everything);
        else if (mine != theirs) {
            if (c == CHILD_REST) {
                *everything = true;
            } else {
                writes |= shard_bit((size_t)(-1 - c));
                if (values)
                    values[-1 - c] = mine;
            }
        }
    }
    return *everything ? layout->all : writes;
}

/* ---- maps --------------------------------------------------------------------- */

/* Facts about one cell (or indirect atom) of an assembled kernel, found by
 * address.  One address may sit at several positions (hash-consing shares
 * equal subtrees), so the facts are the union over them all: reading
 * through it reads every shard any of them would. */
struct map_entry {
    noun key;
    uint32_t stamp;       /* the map's stamp when filled; else empty */
    bool spine;           /* a spine cell somewhere */
    uint64_t roots;       /* the root of these shards */
    uint64_t under;       /* shards below it as a spine cell */
    uint64_t child[2];    /* shards that are its head / tail as a spine cell */
};

struct shard_map {
    struct map_entry *slots;
    size_t capacity;      /* a power of two */
    size_t count;         /* slots filled since the last clear */
    uint32_t stamp;       /* moved on each clear, so nothing needs clearing */
};

static size_t map_hash(noun key) { return (size_t)((key >> 3) * UINT64_C(0x9E3779B97F4A7C15) >> 40); }

static const struct map_entry *map_find(const struct shard_map *map, noun key)
{
    size_t mask = map->capacity - 1;
    for (size_t i = map_hash(key) & mask;; i = (i + 1) & mask) {
        const struct map_entry *e = &map->slots[i];
        if (e->stamp != map->stamp)
            return NULL;
        if (e->key == key)
            return e;
    }
}

static struct map_entry *map_entry(struct shard_map *map, noun key)
{
    size_t mask = map->capacity - 1;
    size_t i = map_hash(key) & mask;
    while (map->slots[i].stamp == map->stamp && map->slots[i].key != key)
        i = (i + 1) & mask;
    struct map_entry *e = &map->slots[i];
    if (e->stamp != map->stamp) {
        *e = (struct map_entry){ .key = key, .stamp = map->stamp };
        map->count++;
    }
    return e;
}

/* A map is made for one kernel and then told of the next ones a worker
 * assembles, which differ from it in a few shards (map_add): the cells of
 * the kernels before stay in it.  Those are not part of the kernel now
 * run, so nothing it holds reaches them, unless hash-consing in home
 * shares a cell with one of them; the map then says that cell is read
 * through more shards than it is, which can only make a conflict that is
 * not real, never miss one.  A map has room for MAP_KERNELS kernels' worth
 * of cells and is cleared (map_clear) before it is a quarter full: most
 * probes are for cells that are not in it (the tracker asks about every
 * cell a walk meets), and one of those takes longer the fuller the table
 * (at half full, measured, the saving of assembling kernels this way was
 * lost); the slots stay in the core's first cache. */
#define MAP_KERNELS 4

/* Empty `map`, with room for MAP_KERNELS kernels of this layout.  False
 * when memory is short. */
static bool map_clear(struct shard_map *map, const struct layout *layout)
{
    size_t needed = 4;
    while (needed < 2 * MAP_KERNELS * (layout->node_count + layout->shard_count))
        needed *= 2;
    if (map->capacity < needed) {
        free(map->slots);
        map->slots = calloc(needed, sizeof *map->slots);
        map->capacity = map->slots ? needed : 0;
        map->stamp = 0;
        if (!map->slots)
            return false;
    }
    if (++map->stamp == 0) { /* wrapped: clear for real */
        memset(map->slots, 0, map->capacity * sizeof *map->slots);
        map->stamp = 1;
    }
    map->count = 0;
    return true;
}

/* Whether `map` has room for one more kernel of this layout. */
static bool map_has_room(const struct shard_map *map, const struct layout *layout)
{
    return map->count + layout->node_count + layout->shard_count <= map->capacity / 4;
}

/* Tell `map` of the kernel whose spine cells are `at` and shard roots
 * `values`, where it differs from the last kernel told: the spine cells
 * above the shards in `changed`, and those shards' roots (all of it when
 * `changed` is the layout's `all`).  Needs room (map_has_room). */
static void map_add(struct shard_map *map, const struct layout *layout, const noun *at, const noun *values,
                    uint64_t changed)
{
    for (size_t k = 0; k < layout->node_count; k++) {
        if (!(layout->nodes[k].under & changed))
            continue;
        struct map_entry *e = map_entry(map, at[k]);
        e->spine = true;
        e->under |= layout->nodes[k].under;
        for (int side = 0; side < 2; side++) {
            int32_t c = layout->nodes[k].child[side];
            if (c < 0 && c != CHILD_REST)
                e->child[side] |= shard_bit((size_t)(-1 - c));
        }
    }
    for (uint64_t m = changed & layout->all; m; m &= m - 1) {
        size_t s = (size_t)__builtin_ctzll(m);
        if (!noun_is_direct(values[s]))
            map_entry(map, values[s])->roots |= shard_bit(s);
    }
}

/* ---- tracking ------------------------------------------------------------------- */

/* What one execution has read so far.  Fresh nouns (in the worker's
 * scratch) were built by the execution itself and are looked through;
 * anything else is either in `map` (a spine cell or shard root) or not part
 * of the state's shards at all. */
struct tracking {
    const struct shard_map *map;
    const struct noun_region *fresh;
    uint64_t reads;
    uint64_t all;
    noun *stack;          /* for whole-noun looks */
    size_t stack_capacity;
};

/* One step of a walk, from `at` (not fresh) to its `side` child: what it
 * reads.  False when the walk leaves the spine (nothing further down can
 * be a spine cell or a shard root). */
static inline bool track_step(struct tracking *t, noun at, int side)
{
    const struct map_entry *e = map_find(t->map, at);
    if (!e)
        return false; /* inside a shard already, or in the rest */
    t->reads |= e->roots;
    if (!e->spine)
        return false;
    t->reads |= e->child[side];
    /* An edit copies the other child into its new cell: a shard that is a
     * direct atom can't be recognised later, so count it read now. */
    noun other = side ? noun_head(at) : noun_tail(at);
    if (noun_is_direct(other))
        t->reads |= e->child[!side];
    return true;
}

/* The end of a walk: a shard root reached is read. */
static inline void track_arrive(struct tracking *t, noun at)
{
    if (!noun_is_direct(at) && !noun_region_holds(t->fresh, at)) {
        const struct map_entry *e = map_find(t->map, at);
        if (e)
            t->reads |= e->roots;
    }
}

/* A walk by an axis that is an indirect atom (deeper than 62 levels). */
static void track_walk_long(struct tracking *t, noun from, noun axis)
{
    uint64_t single;
    size_t words;
    const uint64_t *w = noun_atom_words(axis, &single, &words);
    if (words == 0)
        return;
    uint64_t bits = (uint64_t)(words - 1) * 64 + (uint64_t)bit_length(w[words - 1]);
    noun at = from;
    for (uint64_t i = bits - 1; i-- > 0;) {
        if (!noun_is_cell(at))
            return;
        int side = (int)((w[i / 64] >> (i % 64)) & 1);
        if (!noun_region_holds(t->fresh, at) && !track_step(t, at, side))
            return;
        at = side ? noun_tail(at) : noun_head(at);
    }
    track_arrive(t, at);
}

static void track_walk(void *context, noun from, noun axis)
{
    struct tracking *t = context;
    if (t->reads == t->all || axis == 0)
        return;
    if (!noun_is_direct(axis)) {
        track_walk_long(t, from, axis);
        return;
    }
    noun at = from;
    for (int i = bit_length(axis) - 1; i-- > 0;) {
        if (!noun_is_cell(at))
            return;
        int side = (int)((axis >> i) & 1);
        if (!noun_region_holds(t->fresh, at) && !track_step(t, at, side))
            return;
        at = side ? noun_tail(at) : noun_head(at);
    }
    track_arrive(t, at);
}

/* A noun looked at whole that the run did not build (not fresh): it reads
 * every shard it is the root of, or is above.  track_whole looks through
 * what the run built to find such nouns; what the run leaves (effects,
 * trace, the shards it wrote) is looked through by the copy that keeps
 * it (copy_root), in the same walk. */
static inline void track_held(struct tracking *t, noun n)
{
    if (noun_is_direct(n) || t->reads == t->all)
        return;
    const struct map_entry *e = map_find(t->map, n);
    if (e)
        t->reads |= e->roots | e->under;
}

static void track_whole(void *context, noun n)
{
    struct tracking *t = context;
    if (noun_is_direct(n) || t->reads == t->all)
        return;
    size_t count = 0, budget = WHOLE_LOOK_BUDGET;
    t->stack[count++] = n;
    while (count) {
        noun x = t->stack[--count];
        if (noun_is_direct(x))
            continue;
        if (!noun_region_holds(t->fresh, x)) {
            track_held(t, x);
            continue;
        }
        if (!noun_is_cell(x))
            continue;
        if (budget-- == 0 || count + 2 > t->stack_capacity) {
            t->reads = t->all;
            return;
        }
        t->stack[count++] = noun_head(x);
        t->stack[count++] = noun_tail(x);
    }
}

/* ---- attempts ---------------------------------------------------------------------- */

/* One execution of one event.  `seen[s]` is the attempt whose version of
 * shard s the kernel it ran on held (NULL: the epoch's pre-state).  Nouns
 * are in the batch region of the worker that made it.  Both arrays have
 * one entry per shard of the epoch's layout and follow the struct in its
 * chunk (an attempt is made per event, so it is kept small). */
struct attempt {
    uint32_t event;
    enum kernel_status status;
    bool everything;          /* wrote (and so read) everything */
    uint64_t reads, writes;
    const struct attempt **seen;
    noun *values;             /* new roots of the shards written */
    uint32_t *value_mugs;     /* and their mugs */
    noun result;              /* the whole new kernel, when `everything` */
    noun effects;
    noun trace;               /* KERNEL_CRASH */
    noun slogs;               /* %slog clues, newest first */
    const char *reason;       /* why it was refused, a static string */
    /* what the run cost (kernel_cost's first fields; not the whole struct,
     * whose spans would make every attempt kilobytes) */
    struct {
        uint64_t wall_ns, cpu_ns, steps, bytes_allocated;
    } cost;
};

/* Attempts are carved from chunks a worker owns, given back with its
 * epoch. */
#define ATTEMPT_CHUNK_BYTES ((size_t)60 << 10)
struct attempt_chunk {
    struct attempt_chunk *next;
    size_t used;
    _Alignas(16) unsigned char bytes[ATTEMPT_CHUNK_BYTES];
};

enum slot_state { SLOT_IDLE, SLOT_EXECUTING, SLOT_DONE };

/* One event of an epoch.  `latest` is the newest finished run (what later
 * events read as its version); `spare` a run made by a worker that found
 * the event at the commit point still being run by another (which may
 * have lost its core), taken by the committer if it comes first. */
struct slot {
    _Atomic int state;
    _Atomic(struct attempt *) latest;
    _Atomic(struct attempt *) spare;
    _Atomic bool spare_claimed;     /* someone is making the spare */
    _Atomic uint32_t runs;          /* executions started and finished */
    _Atomic uint64_t late_steps;    /* steps of runs finished after commit */
    bool invalidated;               /* a run of it was stale: re-runs see the newest versions */
    const struct attempt *committed;  /* under the commit lock */
    struct stm_event_stats stats;   /* written under the commit lock */
    uint64_t mug;                   /* of the state after it, at commit */
};

struct epoch;

/* A worker: its evaluator (with the tracker), scratch, batch region.
 * Each starts a cache line pair of its own (its tracking is written at
 * every walk). */
struct worker {
    _Alignas(NOUN_CACHE_LINE_PAIR) struct stm *stm;
    size_t index;
    pthread_t thread;
    bool started;
    struct nock_context *nock;
    struct noun_region *batch;     /* what attempts and commits keep */
    struct noun_move_marks *moved; /* which of the batch region's nouns are in home */
    struct tracking tracking;
    struct shard_map map;
    noun *spine_at;                /* spine cells of the kernel assembled */
    size_t spine_capacity;
    /* Whether spine_at and `map` are those of the last kernel a run of
     * this epoch assembled, whose shard roots are view_values: the next
     * is made from it by replacing the shards whose versions differ
     * (prepare), as a worker's run mostly differs from its last in the
     * one shard that wrote. */
    bool view_ready;
    noun view_values[STM_MAX_SHARDS];
    noun *move_roots;              /* what move_ready_results moves */
    size_t move_root_capacity;
    struct attempt_chunk *chunks;       /* this epoch's attempts */
    struct attempt_chunk *spare_chunks; /* kept for the next epochs */
    struct attempt *current;       /* the attempt running, for the slog hook */
    /* In a routed epoch: the next of its own events to look at, and the
     * newest run of its own that wrote each shard (what its own runs
     * take as that shard's version; NULL: the pre-state's). */
    size_t route_cursor;
    const struct attempt *own_latest[STM_MAX_SHARDS];
    /* the events whose shards it read (route_parts), by shard, and those
     * without one */
    size_t route_per_shard[STM_MAX_SHARDS], route_unrouted;
    /* set by the committer when a run of one of its own events was found
     * stale: it then takes part in re-running them (run_own_events) */
    _Atomic bool own_run_stale;
    /* this epoch's wall-clock time running events, holding the commit
     * lock, and moving its results to home (read by the calling thread
     * once the epoch is over); copying_ahead_ns is the part of the moves
     * route_split must not count as worker 0's load (move_others_versions) */
    uint64_t running_ns, committing_ns, copying_ns, copying_ahead_ns;
    /* ... and, for route_split, the runs it made, when it set out, when
     * its last run ended and its time committing and moving by then;
     * from which the calling thread keeps `event_ns`, what a run of one
     * of its own events in a routed epoch takes it, all told (0: not
     * measured). */
    size_t runs;
    uint64_t set_out_ns, last_run_ended_ns, aside_by_last_run_ns;
    double event_ns;
    jmp_buf *escape;               /* where a full region leaves to */
    /* a copy's bookkeeping: the marks to undo (pairs: address, first
     * word) and the work stack */
    uint64_t *copy_undo;
    size_t copy_undo_count, copy_undo_capacity;
    noun *copy_work;
    size_t copy_work_capacity;
};

/* ---- copying results out of scratch -------------------------------------------- */

static void region_full(void *context)
{
    struct worker *worker = context;
    longjmp(*worker->escape, 1);
}

static bool copy_reserve(struct worker *w, size_t needed)
{
    if (needed <= w->copy_work_capacity)
        return true;
    size_t capacity = w->copy_work_capacity ? w->copy_work_capacity : 256;
    while (capacity < needed)
        capacity *= 2;
    noun *work = realloc(w->copy_work, capacity * sizeof *work);
    if (!work)
        return false;
    w->copy_work = work;
    w->copy_work_capacity = capacity;
    return true;
}

/* Copying marks each scratch object it has copied by storing its copy, a
 * batch noun, in the object's first word (noun_first_word, the same mark
 * as home's copy-out).  Scratch is the worker's own, so no other thread
 * sees a mark; the words are put back (copy_undo) before the copy
 * returns. */
static inline bool copied(noun n) { return *noun_first_word(n) >> 63; }

static bool copy_mark(struct worker *w, noun original, noun copy)
{
    if (w->copy_undo_count + 2 > w->copy_undo_capacity) {
        size_t capacity = w->copy_undo_capacity ? 2 * w->copy_undo_capacity : 512;
        uint64_t *undo = realloc(w->copy_undo, capacity * sizeof *undo);
        if (!undo)
            return false;
        w->copy_undo = undo;
        w->copy_undo_capacity = capacity;
    }
    uint64_t *first = noun_first_word(original);
    w->copy_undo[w->copy_undo_count++] = (uint64_t)(uintptr_t)first;
    w->copy_undo[w->copy_undo_count++] = *first;
    *first = copy;
    return true;
}

static void copy_unmark(struct worker *w)
{
    for (size_t i = 0; i < w->copy_undo_count; i += 2)
        *(uint64_t *)(uintptr_t)w->copy_undo[i] = w->copy_undo[i + 1];
    w->copy_undo_count = 0;
}

/* `n`'s copy in the batch region, or n itself when it is not in scratch. */
static inline noun copy_of(const struct noun_region *scratch, noun n)
{
    return noun_region_holds(scratch, n) ? (noun)*noun_first_word(n) : n;
}

/* Copy `root`, in scratch, to the batch region; the copy, or NOUN_NONE
 * when the C heap is out.  Post-order: a cell is built once both its
 * children are copied, with its mug, which it keeps from scratch or gets
 * from theirs here: every kept noun needs its mug (the committer's mug of
 * the state, home's dedup table when it is moved), and working it out
 * now, on the worker that ran the event, costs no second walk and leaves
 * none to the committer.  What it holds from outside scratch is noted as
 * read (track_held). */
static noun copy_root(struct worker *w, const struct noun_region *scratch, noun root)
{
    if (!noun_region_holds(scratch, root)) {
        track_held(&w->tracking, root);
        return root;
    }
    size_t top = 0;
    if (!copy_reserve(w, 1))
        return NOUN_NONE;
    w->copy_work[top++] = root;
    while (top) {
        noun x = w->copy_work[top - 1];
        if (copied(x)) {
            top--;
            continue;
        }
        if (noun_is_indirect(x)) {
            const struct noun_atom *atom = noun_to_atom(x);
            if (!copy_mark(w, x, noun_atom_from_words(w->batch, atom->words, atom->length)))
                return NOUN_NONE;
            top--;
            continue;
        }
        noun head = noun_head(x), tail = noun_tail(x);
        bool head_waits = noun_region_holds(scratch, head) && !copied(head);
        bool tail_waits = noun_region_holds(scratch, tail) && !copied(tail);
        if (!head_waits && !tail_waits) {
            if (!noun_region_holds(scratch, head))
                track_held(&w->tracking, head);
            if (!noun_region_holds(scratch, tail))
                track_held(&w->tracking, tail);
            noun head_copy = copy_of(scratch, head), tail_copy = copy_of(scratch, tail);
            uint32_t mug = noun_to_cell(x)->mug;
            if (!mug)
                mug = mug_both(mug_noun(head_copy), mug_noun(tail_copy));
            noun copy = noun_cell_new(w->batch, head_copy, tail_copy);
            noun_to_cell(copy)->mug = mug;
            if (!copy_mark(w, x, copy))
                return NOUN_NONE;
            top--;
            continue;
        }
        if (!copy_reserve(w, top + 2))
            return NOUN_NONE;
        if (head_waits)
            w->copy_work[top++] = head;
        if (tail_waits)
            w->copy_work[top++] = tail;
    }
    return copy_of(scratch, root);
}

/* Copy what of `roots[0..count)` lives in the worker's scratch into its
 * batch region, in place, keeping shared structure shared.  Runs under the
 * worker's escape (a full region longjmps; the worker's scratch is reset
 * then, so the marks left need no undoing).  False when the C heap is out. */
static bool copy_to_batch(struct worker *w, noun *roots, size_t root_count)
{
    const struct noun_region *scratch = nock_context_region(w->nock);
    w->copy_undo_count = 0;
    bool ok = true;
    for (size_t r = 0; ok && r < root_count; r++) {
        noun copy = copy_root(w, scratch, roots[r]);
        ok = copy != NOUN_NONE;
        if (ok)
            roots[r] = copy;
    }
    copy_unmark(w);
    return ok;
}

/* ---- the engine ------------------------------------------------------------------ */

/* Why an epoch ended before its last event. */
enum epoch_end {
    EPOCH_RAN_OUT,       /* every event committed */
    EPOCH_EVERYTHING,    /* an event wrote the spine or the rest */
    EPOCH_REFUSED,       /* a refused event, and the caller stops there */
    EPOCH_CONTENDED,     /* too many stale reads: go serial */
    EPOCH_INTERRUPTED,
    EPOCH_FAILED,        /* out of memory */
};

/* Events begin .. end of a batch, run in parallel on one layout. */
struct epoch {
    const struct stm_event *events;
    size_t begin, end;
    struct slot *slots;                 /* slots[i - begin] */
    bool stop_at_refusal;
    bool stale_views;                   /* stm_options.stale_views */
    /* Routed (see route_decide): the worker that runs each event, by
     * index from begin; NULL when the epoch is not routed. */
    const uint8_t *route;
    const struct layout *layout;
    /* Setting out: the epoch is handed to the workers before the rest of
     * it is laid out, so that they read the events' shards (route_parts)
     * beside the calling thread when `routing`; every worker but it then
     * waits for `ready`, and reads nothing else of the epoch before. */
    bool routing;
    _Alignas(NOUN_CACHE_LINE_PAIR) _Atomic size_t route_next_part, route_parts_done;
    _Atomic bool ready;
    /* The epoch's pre-state, laid out for views to be built from without
     * reading its cells: its spine cells, shard roots, other parts (two
     * per spine node, spine_rest), and their mugs.  Read-only. */
    noun pre_state;
    noun *pre_at;
    noun pre_values[STM_MAX_SHARDS];
    noun *pre_rest;
    uint32_t pre_value_mugs[STM_MAX_SHARDS];
    uint32_t *rest_mugs;

    /* The lines other workers read at each step are apart from those
     * written at each run or commit, or a worker in a routed epoch, which
     * looks at stop before each run of its own, would wait on a line the
     * committer took just then. */
    _Alignas(NOUN_CACHE_LINE_PAIR) _Atomic bool stop;
    _Atomic unsigned waiters;           /* written only when a worker sleeps */
    enum epoch_end ended;               /* under commit_lock */
    pthread_mutex_t wait_lock;
    pthread_cond_t wait_cond;
    char failure[120];
    /* written at each commit, and at each run in an unrouted epoch */
    _Alignas(NOUN_CACHE_LINE_PAIR) _Atomic size_t commit_index; /* events below it are committed */
    _Atomic uint64_t progress;          /* runs finished + commits */
    _Atomic size_t next_execute;        /* the next event to claim */

    _Alignas(NOUN_CACHE_LINE_PAIR) pthread_mutex_t commit_lock;
    /* The attempt whose version of each shard is committed (NULL: the
     * pre-state's); written under commit_lock, read by anyone, with
     * commit_index, as a seqlock: the committer makes commit_sequence odd
     * while it changes them, even after.  The committed state is the
     * pre-state with these versions; it is made as a noun only at the end
     * of the epoch (or is everything_result, when an event wrote the spine
     * or the rest). */
    _Atomic(const struct attempt *) committed_writer[STM_MAX_SHARDS];
    /* ... and those versions' roots, read in the same seqlock, so that a
     * view takes them from here and not from each writer's attempt (on
     * the other core) */
    _Atomic noun committed_values[STM_MAX_SHARDS];
    _Atomic uint64_t commit_sequence;
    noun everything_result;             /* under commit_lock */
    /* The committed state's mugs, for each event's result: its shard
     * roots' and its spine nodes' (under commit_lock). */
    uint32_t committed_value_mugs[STM_MAX_SHARDS];
    uint32_t *committed_mugs;
    uint8_t recent[ESTIMATE_WINDOW];    /* 1: that commit needed a re-run */
    unsigned recent_sum, recent_count;
    /* what move_ready_results has moved: worker 0's own shards, and the
     * effects of the events before moved_through (worker 0's) */
    bool moved_own_shards;
    size_t moved_through;
    /* For move_others_versions (worker 0's): of the events before
     * moved_through that other workers ran, the newest to write each
     * shard, the shards one wrote since their last move, and how many
     * such events there were since. */
    const struct attempt *others_newest[STM_MAX_SHARDS];
    uint64_t others_unmoved;
    size_t others_events_unmoved;
    /* home before the epoch, for its copies' cost (epoch_finish) */
    size_t home_used_before;
    struct noun_dedup_stats dedup_before;
};

struct stm {
    struct noun_home *home;
    struct stm_options options;
    size_t worker_count;
    struct worker *workers;
    noun call_formula;          /* [9 2 10 [6 0 2] 0 3], a home root */
    bool formula_rooted;

    /* every worker's marks (batch_marks, in worker order), for moves to
     * home (noun_home_move_out_each) */
    struct noun_move_marks **batch_marks;
    pthread_mutex_t lock;       /* the pool: epoch handed out, workers done */
    pthread_cond_t wake, finished;
    struct epoch *epoch;
    /* written under the lock, and read without it by threads spinning
     * before they sleep (pool_spin) */
    _Atomic uint64_t generation;
    _Atomic size_t running;
    _Atomic bool quitting;
    bool spin;                  /* a CPU for every worker: pool_spin may spin */
    _Atomic int interrupted;

    struct slot *slots;         /* an epoch's, kept for the next */
    noun *finish_roots;         /* what epoch_finish moves, kept too */
    size_t finish_root_capacity;
    uint8_t *routes;            /* an epoch's routes (struct epoch), kept too */
    size_t route_capacity;
    /* worker 0's commit of an event, and its move of an event's results
     * during the epoch, for route_split (0: not measured) */
    double commit_ns, move_ns;
    size_t slot_capacity;
    struct layout layout;
    bool layout_known;          /* `layout` is current for the kernel */
    bool layout_valid;
    /* axis 14 of the state it was read from: a home root, so a home
     * collection moves it with the state's and the identity test in
     * layout_refresh stays true (an unrooted one could be a freed address
     * that a different declaration comes to occupy) */
    noun declaration_seen;
    bool declaration_rooted;
    bool spine_pending;         /* declared well, but not all cells yet */
    /* the dependency estimate */
    bool contended;
    uint8_t recent[ESTIMATE_WINDOW];
    unsigned recent_sum, recent_count;
    uint64_t previous_writes[2];
    size_t serial_seen;         /* events run since it went serial */
};

static void estimate_reset(struct stm *stm)
{
    memset(stm->recent, 0, sizeof stm->recent);
    stm->recent_sum = stm->recent_count = 0;
    stm->previous_writes[0] = stm->previous_writes[1] = 0;
}

/* Note one serial event's writes (counted: it has two events before it in
 * the window); maybe leave serial mode.  The layout is then read again
 * (layout_refresh), since the events between windows were not looked at
 * and one of them may have changed the spine. */
static void estimate_serial(struct stm *stm, uint64_t writes, bool counted)
{
    uint8_t conflict = (writes & (stm->previous_writes[0] | stm->previous_writes[1])) != 0;
    stm->previous_writes[1] = stm->previous_writes[0];
    stm->previous_writes[0] = writes;
    if (!counted)
        return;
    size_t at = stm->recent_count++ % ESTIMATE_WINDOW;
    stm->recent_sum += conflict - stm->recent[at];
    stm->recent[at] = conflict;
    if (stm->recent_count >= ESTIMATE_WINDOW && stm->recent_sum < ESTIMATE_PARALLEL_BELOW) {
        stm->contended = false;
        stm->layout_known = false;
        estimate_reset(stm);
    }
}

static struct attempt *attempt_new(struct worker *w, size_t shard_count)
{
    size_t bytes = sizeof(struct attempt) + shard_count * (sizeof(struct attempt *) + sizeof(noun) + sizeof(uint32_t));
    bytes = (bytes + 15) & ~(size_t)15;
    if (!w->chunks || w->chunks->used + bytes > ATTEMPT_CHUNK_BYTES) {
        /* chunks outlive epochs (freeing and taking them back each time
         * makes the C heap shrink and grow, which costs system calls) */
        struct attempt_chunk *chunk = w->spare_chunks;
        if (chunk)
            w->spare_chunks = chunk->next;
        else if (!(chunk = malloc(sizeof *chunk)))
            return NULL;
        chunk->next = w->chunks;
        chunk->used = 0;
        w->chunks = chunk;
    }
    struct attempt *a = (struct attempt *)(void *)(w->chunks->bytes + w->chunks->used);
    w->chunks->used += bytes;
    memset(a, 0, sizeof *a);
    a->seen = (const struct attempt **)(void *)(a + 1);
    a->values = (noun *)(void *)(a->seen + shard_count);
    a->value_mugs = (uint32_t *)(void *)(a->values + shard_count);
    return a;
}

static void worker_drop_epoch(struct worker *w)
{
    while (w->chunks) {
        struct attempt_chunk *next = w->chunks->next;
        w->chunks->next = w->spare_chunks;
        w->spare_chunks = w->chunks;
        w->chunks = next;
    }
    if (w->moved)
        noun_move_marks_clear(w->moved);
    if (w->batch)
        noun_region_reset(w->batch);
    w->view_ready = false;
    if (noun_region_used(nock_context_region(w->nock)) > SCRATCH_KEEP)
        nock_context_reset(w->nock);
}

static void worker_free_chunks(struct worker *w)
{
    worker_drop_epoch(w);
    while (w->spare_chunks) {
        struct attempt_chunk *next = w->spare_chunks->next;
        free(w->spare_chunks);
        w->spare_chunks = next;
    }
}

/* Whether `effects` is a null-terminated list. */
static bool is_list(noun effects)
{
    while (noun_is_cell(effects))
        effects = noun_tail(effects);
    return effects == 0;
}

static void refuse(struct attempt *a, enum kernel_status status, const char *reason)
{
    a->status = status;
    a->reason = reason;
}

/* Pick the version of every shard event i runs on: the newest any earlier
 * event has published, else the committed one (for the event at the commit
 * point these are exactly the committed versions, which cannot change
 * before it commits), or with `stale` the epoch's pre-state (see
 * stm_options.stale_views).  False when an earlier event not yet committed
 * wrote everything: running on anything else is wasted. */
static bool choose_versions(struct epoch *e, size_t i, bool stale, struct attempt *a, noun *values,
                            uint64_t *replaced)
{
    uint64_t found = 0, all = e->layout->all;
    size_t shard_count = e->layout->shard_count;
    *replaced = 0;
    if (stale) {
        memset(a->seen, 0, shard_count * sizeof a->seen[0]);
        memcpy(values, e->pre_values, shard_count * sizeof *values);
        return true;
    }
    /* the committed versions, as of one commit */
    size_t floor;
    for (;;) {
        uint64_t sequence = atomic_load_explicit(&e->commit_sequence, memory_order_acquire);
        if (sequence & 1) {
            __builtin_ia32_pause();
            continue;
        }
        floor = atomic_load_explicit(&e->commit_index, memory_order_acquire);
        for (size_t s = 0; s < shard_count; s++) {
            a->seen[s] = atomic_load_explicit(&e->committed_writer[s], memory_order_acquire);
            values[s] = atomic_load_explicit(&e->committed_values[s], memory_order_acquire);
        }
        /* (the loads above acquire, so this one cannot move before them) */
        if (atomic_load_explicit(&e->commit_sequence, memory_order_relaxed) == sequence)
            break;
    }
    /* ... and anything newer that earlier events not committed yet wrote */
    for (size_t j = i; j-- > floor && found != all;) {
        const struct attempt *earlier = atomic_load_explicit(&e->slots[j - e->begin].latest, memory_order_acquire);
        if (!earlier)
            continue;
        if (earlier->everything)
            return false;
        uint64_t fresh = earlier->writes & ~found;
        for (uint64_t m = fresh; m; m &= m - 1) {
            size_t s = (size_t)__builtin_ctzll(m);
            a->seen[s] = earlier;
            values[s] = earlier->values[s];
        }
        found |= fresh;
    }
    /* every shard not at its pre-state version is replaced in the view */
    for (size_t s = 0; s < shard_count; s++)
        if (a->seen[s])
            found |= shard_bit(s);
    *replaced = found;
    return true;
}

/* Run `body(context)` with both of w's regions leaving through a longjmp
 * when full.  False when one was full. */
static bool guarded(struct worker *w, void (*body)(void *context), void *context)
{
    struct noun_region *regions[2] = { nock_context_region(w->nock), w->batch };
    void (*saved[2])(void *);
    void *saved_context[2];
    for (int r = 0; r < 2; r++) {
        saved[r] = regions[r]->out_of_memory;
        saved_context[r] = regions[r]->out_of_memory_context;
        regions[r]->out_of_memory = region_full;
        regions[r]->out_of_memory_context = w;
    }
    jmp_buf escape;
    w->escape = &escape;
    bool ok = !setjmp(escape);
    if (ok)
        body(context);
    for (int r = 0; r < 2; r++) {
        regions[r]->out_of_memory = saved[r];
        regions[r]->out_of_memory_context = saved_context[r];
    }
    return ok;
}

/* The first part of an attempt: the kernel it runs on and its event. */
struct preparation {
    struct worker *worker;
    struct epoch *epoch;
    const struct attempt *attempt;
    size_t event_index;
    uint64_t replaced;    /* the pre-state with these shards' versions ... */
    noun values[STM_MAX_SHARDS]; /* ... whose roots these are (all shards) */
    noun view, event, subject;
    bool cued, mapped;
};

static void prepare(void *context)
{
    struct preparation *p = context;
    struct worker *w = p->worker;
    struct epoch *e = p->epoch;
    const struct layout *layout = e->layout;
    /* the last kernel this worker assembled, with new spine cells on the
     * paths to the shards whose versions differ from its; or, the first
     * time in the epoch, the pre-state with new cells on the paths to the
     * shards whose versions are newer */
    bool from_last = w->view_ready && map_has_room(&w->map, layout);
    w->view_ready = false; /* until both are made (a full region leaves) */
    uint64_t changed = 0;
    if (from_last) {
        for (size_t s = 0; s < layout->shard_count; s++)
            if (p->values[s] != w->view_values[s])
                changed |= shard_bit(s);
        p->mapped = true;
    } else {
        memcpy(w->spine_at, e->pre_at, layout->node_count * sizeof *w->spine_at);
        changed = p->replaced;
        p->mapped = map_clear(&w->map, layout);
    }
    p->view = rebuild(layout, w->spine_at, e->pre_rest, 0, changed, p->values, NULL, w->batch);
    if (!p->mapped)
        return;
    map_add(&w->map, layout, w->spine_at, p->values, from_last ? changed : layout->all);
    memcpy(w->view_values, p->values, layout->shard_count * sizeof *p->values);
    w->view_ready = true;
    struct jam_error cue_error = { 0 };
    const struct stm_event *source = &e->events[p->event_index];
    struct noun_region *scratch = nock_context_region(w->nock);
    p->cued = jam_cue_bytes(scratch, source->jam, source->length, &p->event, &cue_error);
    if (p->cued)
        p->subject = noun_cell_new(scratch, p->event, p->view);
}

/* The last part: what others may read, into the batch region. */
struct keeping {
    struct worker *worker;
    noun *roots;
    size_t count;
    bool ok;
};

static void keep(void *context)
{
    struct keeping *k = context;
    k->ok = copy_to_batch(k->worker, k->roots, k->count);
}

/* Look at the product of an attempt that finished: its effects and what it
 * wrote. */
static void take_product(struct worker *w, const struct layout *layout, struct attempt *a, noun product)
{
    if (!noun_is_cell(product)) {
        refuse(a, KERNEL_BAD_PRODUCT,
               "the kernel gave an atom, not [effects new-kernel]: is it a gate (battery at 2, sample at 6)?");
        return;
    }
    if (!is_list(noun_head(product))) {
        refuse(a, KERNEL_BAD_PRODUCT, "the kernel's effects (the head of its product) are not a null-terminated list");
        return;
    }
    a->effects = noun_head(product);
    noun result = noun_tail(product);
    bool everything = false;
    a->writes = written(layout, 0, w->spine_at[0], result, a->values, &everything);
    a->everything = everything;
    if (everything) {
        /* the whole result is kept instead: drop the roots written() noted
         * before it met the write to the spine or the rest */
        memset(a->values, 0, layout->shard_count * sizeof *a->values);
        a->result = result;
        w->tracking.reads = layout->all;
    }
    /* (what it wrote and the effects it made are looked at whole when
     * they are kept: copy_root) */
}

static void notify_progress(struct epoch *e);

static void epoch_fail(struct epoch *e)
{
    atomic_store(&e->stop, true);
    pthread_mutex_lock(&e->commit_lock);
    e->ended = EPOCH_FAILED;
    snprintf(e->failure, sizeof e->failure, "out of memory in the STM backend");
    pthread_mutex_unlock(&e->commit_lock);
    notify_progress(e);
}

/* Whether the epoch is routed and event i is w's to run. */
static bool routed_to(const struct epoch *e, size_t i, const struct worker *w)
{
    return e->route && e->route[i - e->begin] == w->index;
}

/* The versions a run of one of w's own events takes in a routed epoch:
 * its own newest for every shard it has written, the pre-state's for the
 * rest.  Its own events touch only its own shards, unless the routes are
 * wrong, which the commit's check of every read catches like any other
 * stale read; and nothing another worker wrote is read. */
static void own_versions(struct worker *w, struct epoch *e, struct attempt *a, noun *values, uint64_t *replaced)
{
    *replaced = 0;
    for (size_t s = 0; s < e->layout->shard_count; s++) {
        const struct attempt *own = w->own_latest[s];
        a->seen[s] = own;
        values[s] = own ? own->values[s] : e->pre_values[s];
        if (own)
            *replaced |= shard_bit(s);
    }
}

/* After a run of one of w's own events: its writes are w's newest, unless
 * a later event of w's wrote the shard already (a run made again at the
 * commit point is of an earlier event). */
static void own_versions_note(struct worker *w, const struct attempt *a)
{
    if (a->status != KERNEL_OK || a->everything)
        return;
    for (uint64_t m = a->writes; m; m &= m - 1) {
        const struct attempt **own = &w->own_latest[__builtin_ctzll(m)];
        if (!*own || (*own)->event <= a->event)
            *own = a;
    }
}

/* Run event i once on worker w, on the versions choose_versions picks, or
 * own_versions for the first run of w's own event in a routed epoch (even
 * at the commit point: the committed versions are written by the
 * committer on the other core, and reading them there cost a cache miss a
 * line).  NULL when it was not run (see choose_versions) or memory ran
 * out (then the epoch is stopped). */
static struct attempt *execute(struct worker *w, struct epoch *e, size_t i, bool stale)
{
    struct stm *stm = w->stm;
    const struct layout *layout = e->layout;
    struct attempt *a = attempt_new(w, layout->shard_count);
    if (!a) {
        epoch_fail(e);
        return NULL;
    }
    a->event = (uint32_t)i;
    struct preparation p = { .worker = w, .epoch = e, .attempt = a, .event_index = i };
    if (routed_to(e, i, w) && !stale && !e->slots[i - e->begin].invalidated)
        own_versions(w, e, a, p.values, &p.replaced);
    else if (!choose_versions(e, i, stale, a, p.values, &p.replaced))
        return NULL;
    uint64_t started = clock_wall_nanoseconds();
    uint64_t cpu_started = stm->options.no_cpu_time ? 0 : clock_cpu_nanoseconds_for_events();
    struct noun_region *scratch = nock_context_region(w->nock);
    uint64_t steps_before = nock_context_counters(w->nock)->steps;
    uint64_t bytes_before = noun_region_bytes_allocated(scratch);

    noun subject = NOUN_NONE;
    if (!guarded(w, prepare, &p) || !p.mapped) {
        refuse(a, KERNEL_OUT_OF_MEMORY, "out of memory: a worker's scratch or batch region is full");
    } else if (!p.cued) {
        refuse(a, KERNEL_BAD_PRODUCT, "the event is not a valid jam");
    } else {
        subject = p.subject;
    }
    w->tracking.map = &w->map;
    w->tracking.fresh = scratch;
    w->tracking.all = layout->all;
    if (subject != NOUN_NONE) {
        w->tracking.reads = 0;
        w->current = a;
        struct nock_outcome outcome = nock_evaluate(w->nock, subject, stm->call_formula);
        w->current = NULL;
        switch (outcome.status) {
        case NOCK_OK:
            take_product(w, layout, a, outcome.product);
            break;
        case NOCK_CRASH:
            a->trace = outcome.trace; /* (looked at whole when kept) */
            refuse(a, KERNEL_CRASH, outcome.reason ? outcome.reason : "Nock crash");
            break;
        case NOCK_OUT_OF_MEMORY:
            refuse(a, KERNEL_OUT_OF_MEMORY, "out of memory: the kernel's scratch region is full");
            break;
        case NOCK_TOO_DEEP:
            refuse(a, KERNEL_TOO_DEEP, "the event nested calls too deeply");
            break;
        case NOCK_INTERRUPTED:
            refuse(a, KERNEL_INTERRUPTED, "interrupted");
            break;
        case NOCK_BLOCKED: /* only nested evaluations block, as kernel_apply says */
            refuse(a, KERNEL_CRASH, "the event blocked on a scry");
            break;
        }
    } else {
        w->tracking.reads = layout->all;
    }
    a->cost.steps = nock_context_counters(w->nock)->steps - steps_before;
    a->cost.bytes_allocated = noun_region_bytes_allocated(scratch) - bytes_before;

    noun roots[STM_MAX_SHARDS + 3];
    size_t count = 0;
    roots[count++] = a->effects;
    roots[count++] = a->trace;
    roots[count++] = a->result;
    for (uint64_t m = a->everything ? 0 : a->writes; m; m &= m - 1)
        roots[count++] = a->values[__builtin_ctzll(m)];
    struct keeping k = { .worker = w, .roots = roots, .count = count };
    if (!guarded(w, keep, &k) || !k.ok) {
        nock_context_reset(w->nock);
        epoch_fail(e);
        return NULL;
    }
    a->reads = w->tracking.reads; /* (the copy added what the output holds) */
    a->effects = roots[0];
    a->trace = roots[1];
    a->result = roots[2];
    count = 3;
    for (uint64_t m = a->everything ? 0 : a->writes; m; m &= m - 1) {
        size_t s = (size_t)__builtin_ctzll(m);
        a->values[s] = roots[count++];
        a->value_mugs[s] = mug_noun(a->values[s]); /* here, so the committer needn't */
    }
    if (noun_region_used(scratch) > SCRATCH_KEEP)
        nock_context_reset(w->nock);
    w->last_run_ended_ns = clock_wall_nanoseconds();
    a->cost.wall_ns = w->last_run_ended_ns - started;
    w->running_ns += a->cost.wall_ns;
    a->cost.cpu_ns = stm->options.no_cpu_time ? 0 : clock_cpu_nanoseconds_for_events() - cpu_started;
    return a;
}

/* The shards a's run saw a version of that is no longer the committed one
 * (all events before it are committed). */
static uint64_t stale_reads(struct epoch *e, const struct attempt *a)
{
    uint64_t stale = 0;
    uint64_t looked = a->everything ? e->layout->all : a->reads;
    for (uint64_t m = looked; m; m &= m - 1) {
        size_t s = (size_t)__builtin_ctzll(m);
        if (a->seen[s] != atomic_load_explicit(&e->committed_writer[s], memory_order_relaxed))
            stale |= shard_bit(s);
    }
    return stale;
}

static void stop_epoch(struct epoch *e, enum epoch_end why)
{
    e->ended = why;
    atomic_store(&e->stop, true);
    notify_progress(e);
}

/* Commit what is ready at the commit point, in order, while its run is
 * finished (or a spare of it is).  Holds commit_lock, only as long as
 * validating and merging take: runs happen outside it.  A run found stale
 * is thrown away and its event made claimable again; whoever claims it
 * then runs it at the commit point, where it cannot be stale. */
static void commit_ready(struct worker *w, struct epoch *e)
{
    const struct layout *layout = e->layout;
    while (!atomic_load(&e->stop)) {
        size_t c = atomic_load_explicit(&e->commit_index, memory_order_relaxed);
        if (c >= e->end)
            return;
        struct slot *slot = &e->slots[c - e->begin];
        /* a spare first: it ran at the commit point */
        struct attempt *a = atomic_load_explicit(&slot->spare, memory_order_acquire);
        bool done = atomic_load_explicit(&slot->state, memory_order_acquire) == SLOT_DONE;
        if (a && done) /* the other run finished too: thrown away */
            slot->stats.wasted_steps += atomic_load_explicit(&slot->latest, memory_order_relaxed)->cost.steps;
        else if (!a && done)
            a = atomic_load_explicit(&slot->latest, memory_order_acquire);
        if (!a)
            return;
        uint64_t stale = stale_reads(e, a);
        if (stale) {
            slot->stats.conflict_shards |= stale;
            slot->stats.wasted_steps += a->cost.steps;
            slot->invalidated = true;
            if (e->route)
                atomic_store_explicit(&w->stm->workers[e->route[c - e->begin]].own_run_stale, true,
                                      memory_order_relaxed);
            if (a == atomic_load_explicit(&slot->spare, memory_order_relaxed)) {
                /* (a spare runs at the commit point and is never stale;
                 * should one be, it is dropped and made again) */
                atomic_store_explicit(&slot->spare, NULL, memory_order_relaxed);
                atomic_store_explicit(&slot->spare_claimed, false, memory_order_release);
            } else {
                atomic_store_explicit(&slot->state, SLOT_IDLE, memory_order_release);
            }
            notify_progress(e);
            return;
        }
        slot->stats.parallel = true;
        slot->committed = a;
        /* the estimate: how many recent commits needed a re-run */
        size_t at = e->recent_count++ % ESTIMATE_WINDOW;
        uint8_t conflicted = slot->invalidated;
        e->recent_sum += conflicted - e->recent[at];
        e->recent[at] = conflicted;

        if (a->status != KERNEL_OK) {
            slot->mug = e->committed_mugs[0];
            atomic_store_explicit(&e->commit_index, c + 1, memory_order_release);
            notify_progress(e);
            if (e->stop_at_refusal) {
                stop_epoch(e, EPOCH_REFUSED);
                return;
            }
            continue;
        }
        if (a->everything) {
            e->everything_result = a->result;
            slot->mug = mug_noun(a->result);
            atomic_store_explicit(&e->commit_index, c + 1, memory_order_release);
            stop_epoch(e, EPOCH_EVERYTHING);
            return;
        }
        if (a->writes) {
            /* the new state's mug, from its parts' (no cell is read) */
            for (uint64_t m = a->writes; m; m &= m - 1) {
                size_t s = (size_t)__builtin_ctzll(m);
                e->committed_value_mugs[s] = a->value_mugs[s];
            }
            spine_mugs(layout, a->writes, e->committed_value_mugs, e->rest_mugs, e->committed_mugs);
            uint64_t sequence = atomic_load_explicit(&e->commit_sequence, memory_order_relaxed);
            /* (the stores below release, so this one cannot move after them) */
            atomic_store_explicit(&e->commit_sequence, sequence + 1, memory_order_relaxed);
            for (uint64_t m = a->writes; m; m &= m - 1) {
                size_t s = (size_t)__builtin_ctzll(m);
                atomic_store_explicit(&e->committed_writer[s], a, memory_order_release);
                atomic_store_explicit(&e->committed_values[s], a->values[s], memory_order_release);
            }
            atomic_store_explicit(&e->commit_index, c + 1, memory_order_release);
            atomic_store_explicit(&e->commit_sequence, sequence + 2, memory_order_release);
        } else {
            atomic_store_explicit(&e->commit_index, c + 1, memory_order_release);
        }
        slot->mug = e->committed_mugs[0];
        notify_progress(e);
        if (e->recent_count >= ESTIMATE_WINDOW && e->recent_sum > ESTIMATE_SERIAL_ABOVE && !e->stale_views) {
            stop_epoch(e, EPOCH_CONTENDED);
            return;
        }
    }
}

/* commit_ready, its time counted to the worker, when the event at the
 * commit point has a run to commit (the clock is read only then). */
static void commit_ready_timed(struct worker *w, struct epoch *e)
{
    size_t c = atomic_load_explicit(&e->commit_index, memory_order_relaxed);
    if (c >= e->end)
        return;
    const struct slot *slot = &e->slots[c - e->begin];
    if (atomic_load_explicit(&slot->state, memory_order_relaxed) != SLOT_DONE &&
        !atomic_load_explicit(&slot->spare, memory_order_relaxed))
        return;
    uint64_t started = clock_wall_nanoseconds();
    commit_ready(w, e);
    w->committing_ns += clock_wall_nanoseconds() - started;
}

/* Something happened that a waiting worker may act on: a run finished,
 * an event committed, the epoch stopped. */
static void notify_progress(struct epoch *e)
{
    atomic_fetch_add_explicit(&e->progress, 1, memory_order_release);
    if (atomic_load(&e->waiters)) {
        pthread_mutex_lock(&e->wait_lock);
        pthread_cond_broadcast(&e->wait_cond);
        pthread_mutex_unlock(&e->wait_lock);
    }
}

/* How long a worker with nothing to do spins before it sleeps: a few
 * events' time, since the other worker is usually that close to done,
 * and no longer, so an idle worker gives its core away on a shared
 * machine (and a preempted one gets it back sooner). */
#define SPIN_NANOSECONDS 20000
/* A sleeping worker looks around again after this long. */
#define SLEEP_NANOSECONDS 200000

/* A run finished that only a worker waiting on its slot can act on (in a
 * routed epoch, where the other workers run only their own events): wake
 * a sleeping one, without moving progress, a line every run and commit
 * would then write.  The fence orders the slot's new state before the
 * look at waiters, as wait_for_progress's count of itself comes before
 * its look at the state. */
static void notify_run_quietly(struct epoch *e)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&e->waiters, memory_order_relaxed)) {
        pthread_mutex_lock(&e->wait_lock);
        pthread_cond_broadcast(&e->wait_cond);
        pthread_mutex_unlock(&e->wait_lock);
    }
}

/* Whether a waiting worker can act again: progress moved past `seen`, the
 * epoch stopped, or the run of the slot it watches (the commit point's)
 * finished. */
static bool moved_on(struct epoch *e, uint64_t seen, const struct slot *watched)
{
    return atomic_load_explicit(&e->progress, memory_order_acquire) != seen || atomic_load(&e->stop) ||
           atomic_load_explicit(&watched->state, memory_order_acquire) == SLOT_DONE;
}

/* Wait until moved_on, or a while has passed.  True when it moved on. */
static bool wait_for_progress(struct epoch *e, uint64_t seen, const struct slot *watched)
{
    uint64_t started = clock_wall_nanoseconds();
    for (unsigned spin = 1;; spin++) {
        if (moved_on(e, seen, watched))
            return true;
        __builtin_ia32_pause();
        if (spin % 64 == 0 && clock_wall_nanoseconds() - started > SPIN_NANOSECONDS)
            break;
    }
    atomic_fetch_add(&e->waiters, 1);
    pthread_mutex_lock(&e->wait_lock);
    if (!moved_on(e, seen, watched)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SLEEP_NANOSECONDS;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&e->wait_cond, &e->wait_lock, &until);
    }
    pthread_mutex_unlock(&e->wait_lock);
    atomic_fetch_sub(&e->waiters, 1);
    return moved_on(e, seen, watched);
}

/* Claim event i for a run; false when someone else has it. */
static bool claim(struct epoch *e, size_t i)
{
    int idle = SLOT_IDLE;
    return atomic_compare_exchange_strong(&e->slots[i - e->begin].state, &idle, SLOT_EXECUTING);
}

/* Count a finished run of event i; one that finished after the event
 * committed (another run of it came first) is wasted.  Only a spare runs
 * beside another run of the same event (a re-run starts after the stale
 * run was looked at), so the commit point, a line the committer writes
 * at every commit, is read only when there is one. */
static void count_run(struct epoch *e, struct slot *slot, size_t i, const struct attempt *a)
{
    atomic_fetch_add_explicit(&slot->runs, 1, memory_order_relaxed);
    if (atomic_load_explicit(&slot->spare_claimed, memory_order_relaxed) &&
        atomic_load_explicit(&e->commit_index, memory_order_acquire) > i)
        atomic_fetch_add_explicit(&slot->late_steps, a->cost.steps, memory_order_relaxed);
}

/* Note for route_split's measure that w made a run (a, NULL when it was
 * not made), a spare one too: its time is between the last run's end and
 * this one's. */
static void run_noted(struct worker *w, const struct attempt *a)
{
    w->runs++;
    if (!a) /* (else execute noted when it ended) */
        w->last_run_ended_ns = clock_wall_nanoseconds();
    w->aside_by_last_run_ns = w->committing_ns + w->copying_ns;
}

/* Run event i, claimed, and publish the run (or give the claim back). */
static void run_claimed(struct worker *w, struct epoch *e, size_t i)
{
    struct slot *slot = &e->slots[i - e->begin];
    /* (stale views: every first run is made on the pre-state, see stm.h) */
    bool stale = e->stale_views && !slot->invalidated;
    struct attempt *a = execute(w, e, i, stale);
    run_noted(w, a);
    if (a && routed_to(e, i, w))
        own_versions_note(w, a);
    if (a) {
        count_run(e, slot, i, a);
        atomic_store_explicit(&slot->latest, a, memory_order_release);
    }
    atomic_store_explicit(&slot->state, a ? SLOT_DONE : SLOT_IDLE, memory_order_release);
    if (a && e->route && w->index != 0)
        notify_run_quietly(e); /* (only the committer acts on its runs) */
    else
        notify_progress(e);
}

/* Event c, at the commit point, is being run by another worker that has
 * been at it a long while (on a shared machine it may have lost its core):
 * run it here too, once, and offer that run to the committer. */
static void run_spare(struct worker *w, struct epoch *e, size_t c)
{
    struct slot *slot = &e->slots[c - e->begin];
    bool unclaimed = false;
    if (!atomic_compare_exchange_strong(&slot->spare_claimed, &unclaimed, true))
        return;
    struct attempt *a = execute(w, e, c, false);
    run_noted(w, a);
    if (a) {
        count_run(e, slot, c, a);
        atomic_store_explicit(&slot->spare, a, memory_order_release);
    } else {
        atomic_store_explicit(&slot->spare_claimed, false, memory_order_release);
    }
    notify_progress(e);
}

/* The next of w's own events in a routed epoch not run yet, claimed;
 * false when it has none left. */
static bool claim_own(struct worker *w, struct epoch *e, size_t *claimed)
{
    for (; w->route_cursor < e->end; w->route_cursor++) {
        size_t i = w->route_cursor;
        if (routed_to(e, i, w) && claim(e, i)) {
            *claimed = i;
            w->route_cursor++;
            return true;
        }
    }
    return false;
}

enum claim_result { CLAIMED, LOOK_AGAIN, NOTHING_TO_CLAIM };

/* An event for w to run past the commit point c: its own next in a routed
 * epoch, else the next in order within SPECULATION_WINDOW of c.
 * LOOK_AGAIN when another worker moved first. */
static enum claim_result claim_next(struct worker *w, struct epoch *e, size_t c, size_t *claimed)
{
    if (e->route)
        return claim_own(w, e, claimed) ? CLAIMED : NOTHING_TO_CLAIM;
    size_t i = atomic_load(&e->next_execute);
    if (i <= c) {
        atomic_compare_exchange_weak(&e->next_execute, &i, c + 1);
        return LOOK_AGAIN;
    }
    if (i >= e->end || i >= c + SPECULATION_WINDOW)
        return NOTHING_TO_CLAIM;
    if (!atomic_compare_exchange_weak(&e->next_execute, &i, i + 1) || !claim(e, i))
        return LOOK_AGAIN;
    *claimed = i;
    return CLAIMED;
}

/* Move w->move_roots[0 .. count) to home, the time taken added to *ns. */
static void move_roots_timed(struct worker *w, size_t count, uint64_t *ns)
{
    struct stm *stm = w->stm;
    uint64_t started = clock_wall_nanoseconds();
    noun_home_move_out_each(stm->home, stm->batch_marks, stm->worker_count, w->move_roots, count);
    *ns += clock_wall_nanoseconds() - started;
}

/* Worker 0, the committer, with nothing to claim in a routed epoch (its
 * own events are run, the others' are not yet done): move to home what is
 * ready, while the others still run, so that the copy at the epoch's end
 * finds it there.  The first time, its own newest version of each shard
 * it owns (final, unless a run is found stale); each time, the effects of
 * the events done since its last move, in order, noting the shards the
 * other workers' events among them wrote (move_others_versions).  What
 * it moves is what the epoch commits unless a run is found stale: then
 * what replaces it is moved at the end, and the early copy is garbage
 * until home's next collection.  A move only reads what it moves, so the
 * other workers may read the same nouns meanwhile.  Only this thread
 * writes home (as at the epoch's end): the other workers were tried
 * moving their own results, and took twice as long per event as worker
 * 0, the dedup table's lines being in its cache.  False when there was
 * nothing new to move. */
static bool move_ready_results(struct worker *w, struct epoch *e)
{
    size_t events = e->end - e->begin, count = 0;
    if (!ensure_nouns(&w->move_roots, &w->move_root_capacity, e->layout->shard_count + events))
        return false;
    if (!e->moved_own_shards) {
        e->moved_own_shards = true;
        for (size_t s = 0; s < e->layout->shard_count; s++)
            if (w->own_latest[s])
                w->move_roots[count++] = w->own_latest[s]->values[s];
    }
    for (; e->moved_through < e->end; e->moved_through++) {
        const struct attempt *a =
            atomic_load_explicit(&e->slots[e->moved_through - e->begin].latest, memory_order_acquire);
        if (!a)
            break;
        if (a->status != KERNEL_OK)
            continue;
        w->move_roots[count++] = a->effects;
        if (!a->everything && !routed_to(e, e->moved_through, w)) {
            for (uint64_t m = a->writes; m; m &= m - 1)
                e->others_newest[__builtin_ctzll(m)] = a;
            e->others_unmoved |= a->writes;
            e->others_events_unmoved++;
        }
    }
    if (!count)
        return false;
    move_roots_timed(w, count, &w->copying_ns);
    return true;
}

/* How many of the other workers' events move_others_versions waits for
 * between its moves.  Each move copies the top of every shard written
 * since the last again (the cells above the slots written, which later
 * events replace), so moving more often leaves more garbage in home:
 * measured on kv, every 64 events added a tenth to what an epoch left in
 * home, and every 32 or 128 did no better. */
#define MOVE_OTHERS_EVERY 64

/* Worker 0 in a routed epoch, when move_ready_results found nothing new:
 * move the other workers' newest versions of the shards they wrote since
 * the last such move, once MOVE_OTHERS_EVERY of their events are done.
 * The copy at the epoch's end then finds much of their shards moved, and
 * the other workers wait less for it: measured on kv with blocks of 20
 * epochs done each way in turn, that copy went from 309-478 us to
 * 207-317, and an epoch with its copy took 0.4-5.6% less (five runs).  A
 * version a later event replaces is garbage in home, as an early move of
 * worker 0's own is.  The time is not counted as worker 0's load for
 * route_split (copying_ahead_ns): these moves fill time worker 0 would
 * spend waiting, and counted, they gave it fewer events until the others
 * finished last (2.2-3.7% less, against 3.4-5.6 uncounted, in the same
 * three runs).  False when there was nothing to move. */
static bool move_others_versions(struct worker *w, struct epoch *e)
{
    if (e->others_events_unmoved < MOVE_OTHERS_EVERY || !e->others_unmoved)
        return false;
    if (!ensure_nouns(&w->move_roots, &w->move_root_capacity, e->layout->shard_count))
        return false;
    size_t count = 0;
    for (uint64_t m = e->others_unmoved; m; m &= m - 1) {
        size_t s = (size_t)__builtin_ctzll(m);
        w->move_roots[count++] = e->others_newest[s]->values[s];
    }
    e->others_unmoved = 0;
    e->others_events_unmoved = 0;
    move_roots_timed(w, count, &w->copying_ahead_ns);
    return true;
}

/* A worker other than the committer, in a routed epoch: its own events,
 * in order, one after another, looking at nothing the committer writes
 * at each commit (the commit point, progress), lines that would come from
 * the committer's core before every run.  Once a run of its own is found
 * stale, the rest is run_epoch's, as is the end of the epoch (a spare
 * run, waiting): there it re-runs its stale events at the commit point
 * with the committer, rather than run on ahead from the stale version
 * its own later events would take (measured: left to the committer
 * alone, such chains of stale runs took the re-runs of a 200,000-event
 * kv run from about 60 to as many as 285). */
static void run_own_events(struct worker *w, struct epoch *e)
{
    size_t i;
    while (!atomic_load_explicit(&e->stop, memory_order_acquire) &&
           !atomic_load_explicit(&w->stm->interrupted, memory_order_relaxed) &&
           !atomic_load_explicit(&w->own_run_stale, memory_order_relaxed) && claim_own(w, e, &i))
        run_claimed(w, e, i);
}

/* Whether w is the one to run the event at the commit point c, when
 * nobody is: anyone in an unrouted epoch; in a routed one its owner, or
 * worker 0, the committer, when a run of it was found stale (the owner
 * is likely busy with a later event of its own, and the committer would
 * only wait for it). */
static bool runs_commit_point(const struct worker *w, const struct epoch *e, size_t c)
{
    return !e->route || routed_to(e, c, w) || (w->index == 0 && e->slots[c - e->begin].invalidated);
}

static void route_parts(struct worker *w, struct epoch *e);

/* A turn of a short wait for another worker: a pause when every worker
 * has a CPU, else the CPU given up (the one waited for may need it). */
static void wait_a_moment(const struct stm *stm)
{
    if (stm->spin)
        __builtin_ia32_pause();
    else
        sched_yield();
}

/* One worker's part of an epoch: commit what is ready; run the event at
 * the commit point when nobody is; otherwise run the next event
 * speculatively; otherwise wait a little for the worker running the event
 * at the commit point, and when it is slow, run that event too.  In a
 * routed epoch a worker runs only its own events, in order (and the
 * commit point's as runs_commit_point says), and only worker 0 commits:
 * measured, commits taken by both cost a fifth more, each reading the
 * other's runs across cores. */
static void run_epoch(struct worker *w, struct epoch *e)
{
    if (w->index != 0) { /* (worker 0 made the epoch ready) */
        if (e->routing)
            route_parts(w, e);
        while (!atomic_load_explicit(&e->ready, memory_order_acquire))
            wait_a_moment(w->stm);
    }
    w->set_out_ns = w->last_run_ended_ns = clock_wall_nanoseconds();
    if (e->route && w->index != 0)
        run_own_events(w, e);
    while (!atomic_load(&e->stop)) {
        if (atomic_load_explicit(&w->stm->interrupted, memory_order_relaxed)) {
            pthread_mutex_lock(&e->commit_lock);
            stop_epoch(e, EPOCH_INTERRUPTED);
            pthread_mutex_unlock(&e->commit_lock);
            break;
        }
        uint64_t seen = atomic_load_explicit(&e->progress, memory_order_acquire);
        if ((!e->route || w->index == 0) && pthread_mutex_trylock(&e->commit_lock) == 0) {
            commit_ready_timed(w, e);
            pthread_mutex_unlock(&e->commit_lock);
        }
        size_t c = atomic_load_explicit(&e->commit_index, memory_order_acquire);
        if (c >= e->end || atomic_load(&e->stop))
            break;
        if (runs_commit_point(w, e, c) && claim(e, c)) {
            run_claimed(w, e, c);
            continue;
        }
        size_t next;
        enum claim_result got = claim_next(w, e, c, &next);
        if (got == CLAIMED)
            run_claimed(w, e, next);
        if (got != NOTHING_TO_CLAIM)
            continue;
        if (e->route && w->index == 0 && (move_ready_results(w, e) || move_others_versions(w, e)))
            continue;
        /* nothing to claim: the event at the commit point is running or
         * waits for the commit lock */
        struct slot *slot = &e->slots[c - e->begin];
        if (atomic_load_explicit(&e->progress, memory_order_acquire) != seen || wait_for_progress(e, seen, slot))
            continue;
        if (atomic_load_explicit(&e->commit_index, memory_order_acquire) == c &&
            atomic_load_explicit(&slot->state, memory_order_acquire) == SLOT_EXECUTING)
            run_spare(w, e, c);
    }
}

/* ---- the worker pool ------------------------------------------------------------------ */

/* How long a worker that ran an epoch spins for the next one before it
 * sleeps, and the calling thread for the workers to finish one.  Waking a
 * sleeping thread took about 100 us on the 2-vCPU machine this was tuned
 * on (a halted vCPU is the host's to schedule again): at both ends of an
 * epoch of 1,024 kv events, 7% of its time.  The calling thread's copy to
 * home between epochs takes about 0.7 ms; a longer gap (the store writing
 * its log, a collection) is slept through.  With more workers than CPUs
 * to run them, nobody spins: a spinning worker would take the CPU from
 * the calling thread's copy. */
#define POOL_SPIN_NANOSECONDS 1000000

/* Spin until `done(stm, value)` or POOL_SPIN_NANOSECONDS have passed. */
static void pool_spin(struct stm *stm, bool (*done)(struct stm *, uint64_t), uint64_t value)
{
    if (!stm->spin)
        return;
    uint64_t started = clock_wall_nanoseconds();
    for (unsigned spin = 1; !done(stm, value); spin++) {
        __builtin_ia32_pause();
        if (spin % 64 == 0 && clock_wall_nanoseconds() - started > POOL_SPIN_NANOSECONDS)
            return;
    }
}

static bool new_epoch_or_quitting(struct stm *stm, uint64_t seen)
{
    return atomic_load(&stm->quitting) || atomic_load(&stm->generation) != seen;
}

static bool workers_done(struct stm *stm, uint64_t unused)
{
    (void)unused;
    return atomic_load(&stm->running) == 0;
}

static void *worker_main(void *argument)
{
    struct worker *w = argument;
    struct stm *stm = w->stm;
    uint64_t seen = 0;
    for (;;) {
        pool_spin(stm, new_epoch_or_quitting, seen);
        pthread_mutex_lock(&stm->lock);
        while (!new_epoch_or_quitting(stm, seen))
            pthread_cond_wait(&stm->wake, &stm->lock);
        if (atomic_load(&stm->quitting)) {
            pthread_mutex_unlock(&stm->lock);
            break;
        }
        seen = atomic_load(&stm->generation);
        struct epoch *e = stm->epoch;
        pthread_mutex_unlock(&stm->lock);
        run_epoch(w, e);
        pthread_mutex_lock(&stm->lock);
        if (atomic_fetch_sub(&stm->running, 1) == 1)
            pthread_cond_signal(&stm->finished);
        pthread_mutex_unlock(&stm->lock);
    }
    return NULL;
}

static void slog_ignored(void *context, noun clue)
{
    struct worker *w = context;
    track_whole(&w->tracking, clue);
}

static bool worker_init(struct stm *stm, struct worker *w, size_t index)
{
    w->stm = stm;
    w->index = index;
    w->tracking.stack_capacity = 2 * WHOLE_LOOK_BUDGET + 4;
    w->tracking.stack = malloc(w->tracking.stack_capacity * sizeof *w->tracking.stack);
    struct nock_config config = {
        .scratch_max_bytes = stm->options.scratch_max_bytes,
        .hooks = { .context = w, .slog = slog_ignored },
        .tracker = { .context = &w->tracking, .walk = track_walk, .whole = track_whole },
    };
    w->nock = nock_context_new(stm->home, &config);
    w->batch = noun_region_new(BATCH_REGION_BYTES);
    w->moved = w->batch ? noun_move_marks_new(w->batch) : NULL;
    stm->batch_marks[index] = w->moved;
    return w->tracking.stack && w->nock && w->batch && w->moved;
}

static void worker_free(struct worker *w)
{
    worker_free_chunks(w);
    if (w->nock)
        nock_context_free(w->nock);
    noun_move_marks_free(w->moved);
    if (w->batch)
        noun_region_free(w->batch);
    free(w->tracking.stack);
    free(w->map.slots);
    free(w->spine_at);
    free(w->move_roots);
    free(w->copy_undo);
    free(w->copy_work);
}

/* [9 2 10 [6 0 2] 0 3] in home: the gate call with the event at the head
 * of the subject (kernel.h). */
static noun make_call_formula(struct noun_home *home)
{
    struct noun_region *region = noun_region_new((size_t)1 << 20);
    if (!region)
        return NOUN_NONE;
    noun sample = noun_trel(region, 6, 0, 2);
    noun edit = noun_trel(region, 10, sample, noun_cell_new(region, 0, 3));
    noun formula = noun_home_copy_out(home, region, noun_trel(region, 9, 2, edit));
    noun_region_free(region);
    return formula;
}

struct stm *stm_new(struct noun_home *home, const struct stm_options *options, char *why, size_t why_size)
{
    struct stm *stm = calloc(1, sizeof *stm);
    if (!stm) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    stm->home = home;
    if (options)
        stm->options = *options;
    size_t workers = stm->options.workers;
    if (!workers) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        workers = cpus < 2 ? 2 : (size_t)cpus;
    }
    stm->worker_count = workers;
    cpu_set_t usable;
    stm->spin = sched_getaffinity(0, sizeof usable, &usable) == 0 && (size_t)CPU_COUNT(&usable) >= workers;
    pthread_mutex_init(&stm->lock, NULL);
    pthread_cond_init(&stm->wake, NULL);
    pthread_cond_init(&stm->finished, NULL);
    stm->formula_rooted = noun_home_root_add(home, &stm->call_formula);
    stm->call_formula = make_call_formula(home);
    stm->declaration_seen = NOUN_NONE;
    stm->declaration_rooted = noun_home_root_add(home, &stm->declaration_seen);
    stm->workers = noun_cache_line_calloc(workers * sizeof *stm->workers);
    stm->batch_marks = calloc(workers, sizeof *stm->batch_marks);
    bool ok = stm->formula_rooted && stm->declaration_rooted && stm->call_formula != NOUN_NONE && stm->workers &&
              stm->batch_marks;
    for (size_t i = 0; ok && i < workers; i++)
        ok = worker_init(stm, &stm->workers[i], i);
    /* worker 0 is the calling thread */
    for (size_t i = 1; ok && i < workers; i++) {
        ok = pthread_create(&stm->workers[i].thread, NULL, worker_main, &stm->workers[i]) == 0;
        stm->workers[i].started = ok;
    }
    if (!ok) {
        snprintf(why, why_size, "cannot start the STM backend's %zu workers (out of memory or threads)", workers);
        stm_free(stm);
        return NULL;
    }
    return stm;
}

void stm_free(struct stm *stm)
{
    if (!stm)
        return;
    pthread_mutex_lock(&stm->lock);
    atomic_store(&stm->quitting, true);
    pthread_cond_broadcast(&stm->wake);
    pthread_mutex_unlock(&stm->lock);
    for (size_t i = 0; stm->workers && i < stm->worker_count; i++) {
        if (stm->workers[i].started)
            pthread_join(stm->workers[i].thread, NULL);
        worker_free(&stm->workers[i]);
    }
    free(stm->workers);
    free(stm->batch_marks);
    if (stm->formula_rooted)
        noun_home_root_remove(stm->home, &stm->call_formula);
    if (stm->declaration_rooted)
        noun_home_root_remove(stm->home, &stm->declaration_seen);
    free(stm->layout.nodes);
    free(stm->slots);
    free(stm->finish_roots);
    free(stm->routes);
    pthread_mutex_destroy(&stm->lock);
    pthread_cond_destroy(&stm->wake);
    pthread_cond_destroy(&stm->finished);
    free(stm);
}

void stm_interrupt(struct stm *stm)
{
    atomic_store(&stm->interrupted, 1);
    for (size_t i = 0; i < stm->worker_count; i++)
        if (stm->workers[i].nock)
            nock_interrupt(stm->workers[i].nock);
}

/* ---- batches ---------------------------------------------------------------------------- */

void stm_time_add(struct stm_time *sum, const struct stm_time *more)
{
    if (more->workers > sum->workers)
        sum->workers = more->workers;
    sum->epoch_ns += more->epoch_ns;
    sum->running_ns += more->running_ns;
    sum->committing_ns += more->committing_ns;
    sum->copying_ns += more->copying_ns;
    sum->finish_ns += more->finish_ns;
    sum->serial_ns += more->serial_ns;
}

struct stm_time_shares stm_time_shares(const struct stm_time *time)
{
    struct stm_time_shares shares = { 0 };
    double worker_ns = (double)time->epoch_ns * (time->workers ? time->workers : 1);
    if (worker_ns > 0) {
        shares.running = 100.0 * (double)time->running_ns / worker_ns;
        shares.committing = 100.0 * (double)time->committing_ns / worker_ns;
        shares.copying = 100.0 * (double)time->copying_ns / worker_ns;
        shares.waiting = 100.0 - shares.running - shares.committing - shares.copying;
        if (shares.waiting < 0) /* (the clock read at an epoch's ends and in it can round) */
            shares.waiting = 0;
    }
    uint64_t parallel_ns = time->epoch_ns + time->finish_ns;
    if (parallel_ns)
        shares.finishing = 100.0 * (double)time->finish_ns / (double)parallel_ns;
    return shares;
}

/* Results are big (their costs carry spans) and a batch's don't fit the
 * cache, so each is cleared just before it is filled, never in a pass of
 * its own, and only its first lines (struct stm_result): the error is
 * written whole when there is one. */
static void result_clear(struct stm_result *result)
{
    result->status = KERNEL_OK;
    memset(&result->stats, 0, sizeof result->stats);
}

/* Fetch for writing the lines of a result that every event fills in (all
 * but its spans and its error).  Results sit about 3 KB apart, a page each
 * mostly, where the hardware fetches nothing ahead, and a batch's were
 * evicted long before they are filled again, so each was a stall of its
 * own.  Timed on alternate epochs of one run, the fill at an epoch's end
 * took 20 us fetching 8 results ahead against 30 without (and 41 fetching
 * 4 ahead, 38 fetching 24, against 36 and 31 for 8): 0.5% of an epoch.
 * Before a serial run, kv on one shard ran 1% faster (median of six runs
 * on alternate blocks of batches; -2.7% to +4.5%). */
static void result_prefetch(struct stm_result *result)
{
    uintptr_t line = (uintptr_t)result & ~(uintptr_t)63, end = (uintptr_t)&result->applied.cost.spans;
    for (; line < end; line += 64)
        __builtin_prefetch((const void *)line, 1);
}

/* How many results ahead epoch_finish fetches the one it will fill. */
#define RESULT_PREFETCH_AHEAD 8

static void totals_add(struct stm_batch_stats *totals, const struct stm_event_stats *s)
{
    totals->events++;
    totals->attempts += s->attempts;
    totals->reruns += s->reruns;
    totals->wasted_steps += s->wasted_steps;
    for (uint64_t m = s->conflict_shards; m; m &= m - 1)
        totals->conflicts_by_shard[__builtin_ctzll(m)]++;
}

static void result_refused(struct stm_result *result, enum kernel_status status, const char *format, const char *what)
{
    result_clear(result);
    result->status = status;
    result->error.status = status;
    result->error.trace = 0;
    result->error.steps = 0;
    snprintf(result->error.message, sizeof result->error.message, format, what);
}

/* Make sure stm->layout describes `state`.  Reading a layout is cheap but
 * not free, so it is read again only when the declaration changed, or the
 * last one was good but its spine was not built yet (kv's first event). */
static void layout_refresh(struct stm *stm, noun state)
{
    noun declaration = noun_fragment(14, state);
    if (stm->layout_known && declaration == stm->declaration_seen && !stm->spine_pending)
        return;
    char why[120];
    stm->layout_valid = layout_read(&stm->layout, state, why, sizeof why);
    stm->layout_known = true;
    stm->declaration_seen = declaration;
    stm->spine_pending = !stm->layout_valid && strstr(why, "not a cell yet") != NULL;
}

/* One event the plain way (kernel_apply), noting its writes for the
 * estimate when it falls in a window (ESTIMATE_PROBE_EVERY).  False when
 * the batch stops here. */
static bool serial_one(struct stm *stm, struct kernel *kernel, const struct stm_event *event,
                       struct stm_result *result, bool stop_at_refusal)
{
    noun before = kernel_state(kernel);
    noun parsed;
    char why[200];
    result_prefetch(result);
    result_clear(result);
    if (!kernel_cue_event(kernel, event->jam, event->length, &parsed, why, sizeof why)) {
        result_refused(result, KERNEL_BAD_PRODUCT, "the event is not a valid jam: %.150s", why);
        return !stop_at_refusal;
    }
    /* into structs in the cache, then the parts that hold something into
     * the result (which a batch's worth of would not fit there) */
    struct kernel_applied applied;
    struct kernel_error error;
    result->status = kernel_apply(kernel, parsed, &applied, &error);
    result->stats.attempts = 1;
    if (result->status != KERNEL_OK) {
        result->error.status = error.status;
        result->error.trace = error.trace;
        result->error.steps = error.steps;
        memcpy(result->error.message, error.message, strnlen(error.message, sizeof error.message - 1) + 1);
        return !stop_at_refusal && result->status != KERNEL_INTERRUPTED;
    }
    memcpy(&result->applied, &applied, offsetof(struct kernel_applied, cost) + offsetof(struct kernel_cost, spans));
    memcpy(result->applied.cost.spans, applied.cost.spans, applied.cost.span_count * sizeof applied.cost.spans[0]);
    /* Serial for want of a layout (layout_refresh looks at each new
     * state's declaration) or of a second worker: no estimate to keep. */
    if (!stm->layout_valid || !stm->contended)
        return true;
    size_t at = stm->serial_seen++ % ESTIMATE_PROBE_EVERY;
    if (at >= ESTIMATE_WINDOW + 2)
        return true;
    if (at == 0)
        estimate_reset(stm);
    bool everything = false;
    uint64_t writes = written(&stm->layout, 0, before, kernel_state(kernel), NULL, &everything);
    if (everything)
        stm->layout_known = false;
    else
        estimate_serial(stm, writes, at >= 2);
    return true;
}

/* The committed state as a noun: the pre-state with the committed
 * versions, in the calling thread's batch region. */
struct final_state {
    struct epoch *epoch;
    struct worker *worker;
    noun state;
};

static void make_final_state(void *context)
{
    struct final_state *f = context;
    struct epoch *e = f->epoch;
    const struct layout *layout = e->layout;
    noun values[STM_MAX_SHARDS];
    uint64_t written = 0;
    for (size_t s = 0; s < layout->shard_count; s++) {
        const struct attempt *writer = atomic_load_explicit(&e->committed_writer[s], memory_order_relaxed);
        values[s] = writer ? writer->values[s] : e->pre_values[s];
        if (writer)
            written |= shard_bit(s);
    }
    f->worker->view_ready = false;
    memcpy(f->worker->spine_at, e->pre_at, layout->node_count * sizeof *e->pre_at);
    f->state = rebuild(layout, f->worker->spine_at, e->pre_rest, 0, written, values, e->committed_mugs, f->worker->batch);
}

/* Copy an epoch's committed state and effects to home and fill results.
 * Runs on the calling thread while no worker runs.  What it moved during
 * the epoch (move_ready_results) is found moved; the rest goes in one
 * move, the state with every committed event's effects (or trace). */
static bool epoch_finish(struct stm *stm, struct kernel *kernel, struct epoch *e, size_t committed,
                         struct stm_result *results, struct stm_batch_stats *totals)
{
    struct final_state final = { .epoch = e, .worker = &stm->workers[0], .state = e->everything_result };
    if (final.state == NOUN_NONE && !guarded(final.worker, make_final_state, &final))
        return false;
    if (!ensure_nouns(&stm->finish_roots, &stm->finish_root_capacity, committed + 1))
        return false;
    noun *roots = stm->finish_roots;
    roots[0] = final.state;
    for (size_t i = e->begin; i < e->begin + committed; i++) {
        const struct attempt *a = e->slots[i - e->begin].committed;
        roots[1 + i - e->begin] = a->status == KERNEL_OK ? a->effects : a->trace;
    }
    if (!noun_home_move_out_each(stm->home, stm->batch_marks, stm->worker_count, roots, committed + 1))
        return false;
    uint64_t number = kernel_event_number(kernel);
    for (size_t i = e->begin; i < e->begin + committed; i++) {
        struct slot *slot = &e->slots[i - e->begin];
        const struct attempt *a = slot->committed;
        struct stm_result *result = &results[i];
        if (i + RESULT_PREFETCH_AHEAD < e->begin + committed)
            result_prefetch(&results[i + RESULT_PREFETCH_AHEAD]);
        result_clear(result);
        result->stats = slot->stats;
        /* every run counts, those that finished after the commit too */
        uint32_t runs = atomic_load_explicit(&slot->runs, memory_order_relaxed);
        result->stats.attempts = runs;
        result->stats.reruns = runs - 1;
        result->stats.wasted_steps += atomic_load_explicit(&slot->late_steps, memory_order_relaxed);
        totals_add(totals, &result->stats);
        result->status = a->status;
        memset(&result->applied, 0, offsetof(struct kernel_applied, cost));
        struct kernel_cost *cost = &result->applied.cost;
        memset(cost, 0, offsetof(struct kernel_cost, spans));
        cost->wall_ns = a->cost.wall_ns;
        cost->cpu_ns = a->cost.cpu_ns;
        cost->steps = a->cost.steps;
        cost->bytes_allocated = a->cost.bytes_allocated;
        if (a->status == KERNEL_OK) {
            result->applied.effects = roots[1 + i - e->begin];
            result->applied.mug = (uint32_t)slot->mug;
            number++;
        } else {
            result->error.status = a->status;
            result->error.steps = a->cost.steps;
            result->error.trace = roots[1 + i - e->begin];
            snprintf(result->error.message, sizeof result->error.message,
                     a->status == KERNEL_CRASH ? "the event crashed: %s" : "%s", a->reason);
        }
    }
    if (committed) {
        /* the epoch's copies to home, the workers' included, are counted
         * to its last event */
        struct noun_dedup_stats dedup;
        noun_home_dedup_stats(stm->home, &dedup);
        struct kernel_cost *cost = &results[e->begin + committed - 1].applied.cost;
        cost->copy_out_bytes = noun_home_used(stm->home) - e->home_used_before;
        cost->dedup_lookups = dedup.lookups - e->dedup_before.lookups;
        cost->dedup_hits = dedup.hits - e->dedup_before.hits;
    }
    return kernel_set_state(kernel, roots[0], number);
}


/* Lay out the pre-state in e (struct epoch says how) with `arrays` for the
 * per-node parts; the committed state starts as it. */
static void epoch_lay_out_pre_state(struct epoch *e, noun state, noun *arrays)
{
    const struct layout *layout = e->layout;
    size_t nodes = layout->node_count;
    e->pre_state = state;
    e->pre_at = arrays;
    e->pre_rest = arrays + nodes;
    e->rest_mugs = (uint32_t *)(void *)(arrays + 3 * nodes);
    e->committed_mugs = e->rest_mugs + 2 * nodes;
    e->everything_result = NOUN_NONE;
    spine_cells(layout, state, e->pre_at);
    shard_values(layout, e->pre_at, e->pre_values);
    spine_rest(layout, e->pre_at, e->pre_rest);
    for (size_t i = 0; i < 2 * nodes; i++)
        e->rest_mugs[i] = e->pre_rest[i] == NOUN_NONE ? 0 : mug_noun(e->pre_rest[i]);
    for (size_t s = 0; s < layout->shard_count; s++)
        e->pre_value_mugs[s] = e->committed_value_mugs[s] = mug_noun(e->pre_values[s]);
    spine_mugs(layout, layout->all, e->pre_value_mugs, e->rest_mugs, e->committed_mugs);
}

/* The shard an event touches, as the declaration's routes say, or -1. */
static int route_shard(const struct layout *layout, const struct stm_event *event)
{
    const struct routes *routes = &layout->routes;
    noun tag, key;
    if (event->length > ROUTE_MAX_JAM_BYTES || !jam_peek_direct_atom(event->jam, event->length, 2, &tag))
        return -1;
    size_t r = 0;
    while (r < routes->count && routes->tags[r] != tag)
        r++;
    if (r == routes->count || !jam_peek_direct_atom(event->jam, event->length, routes->event_axes[r], &key) ||
        key == 0 || bit_length(key) + bit_length(routes->base) > 64)
        return -1;
    /* the key as an axis under base (peg) */
    int below = bit_length(key) - 1;
    uint64_t axis = routes->base << below | (key & ((UINT64_C(1) << below) - 1));
    for (size_t s = 0; s < layout->shard_count; s++)
        if (axis_covers(layout->axes[s], axis))
            return (int)s;
    return -1;
}

/* The worker that owns shard s of `shards` before route_split has
 * measured the workers: blocks of consecutive shards, worker 0's a shard
 * smaller when each has four or more, since worker 0 also commits
 * (measured on kv: a tenth of the workers' time; with 7 of 16 shards
 * rather than 8, parallel epochs took 10% less time). */
static size_t shard_owner(size_t s, size_t shards, size_t workers)
{
    size_t first = shards / workers >= 4 ? shards / workers - 1 : shards / workers;
    if (s < first || workers == 1)
        return 0;
    return 1 + (s - first) * (workers - 1) / (shards - first);
}

/* How long worker w would take over `events` events of its own of an
 * epoch of `count`, as measured (worker 0 also commits them all, and
 * moves their results to home). */
static double predicted_ns(const struct stm *stm, size_t w, size_t events, size_t count)
{
    const struct worker *worker = &stm->workers[w];
    return (double)events * worker->event_ns + (w == 0 ? (double)count * (stm->commit_ns + stm->move_ns) : 0);
}

/* Whether the shards, with per_shard[s] events each (and `unrouted`
 * events more for worker 0), go to the workers in consecutive blocks
 * with nobody predicted to take longer than `limit` ns; the blocks into
 * owner[] when they do. */
static bool split_within(const struct stm *stm, const size_t *per_shard, size_t shards, size_t unrouted,
                         size_t count, double limit, uint8_t *owner)
{
    size_t w = 0, load = unrouted;
    for (size_t s = 0; s < shards; s++) {
        while (w + 1 < stm->worker_count && predicted_ns(stm, w, load + per_shard[s], count) > limit) {
            w++;
            load = 0;
        }
        owner[s] = (uint8_t)w;
        load += per_shard[s];
    }
    return predicted_ns(stm, w, load, count) <= limit;
}

/* Which worker owns each shard this epoch: blocks of consecutive shards
 * (so that an event's shard is often owned by the worker that owned it
 * the epoch before), sized so that the workers are predicted to finish
 * together, from the events of each shard this epoch and what each
 * worker's own events, and worker 0's commits and moves, took in recent
 * epochs.  The
 * two vCPUs this was built on are often unequal for seconds at a time,
 * and a worker reading what the other wrote is slower than the other;
 * with fixed blocks, kv's epochs took a tenth longer (docs/stm.md,
 * "Speed").  Until every worker has been measured, shard_owner. */
static void route_split(const struct stm *stm, const size_t *per_shard, size_t shards, size_t unrouted,
                        size_t count, uint8_t *owner)
{
    bool measured = stm->commit_ns > 0;
    for (size_t w = 0; w < stm->worker_count; w++)
        measured = measured && stm->workers[w].event_ns > 0;
    if (!measured) {
        for (size_t s = 0; s < shards; s++)
            owner[s] = (uint8_t)shard_owner(s, shards, stm->worker_count);
        return;
    }
    /* the shortest longest time a split gives, by bisection: every split
     * fits in the time worker 0 would take over all */
    double low = 0, high = predicted_ns(stm, 0, count, count);
    for (int step = 0; step < 32; step++) {
        double middle = (low + high) / 2;
        if (split_within(stm, per_shard, shards, unrouted, count, middle, owner))
            high = middle;
        else
            low = middle;
    }
    split_within(stm, per_shard, shards, unrouted, count, high, owner);
}

/* Fold one epoch's measure into an estimate: half the weight to it, so a
 * vCPU that slows is followed within a few epochs, but no more than four
 * times the estimate (a worker that lost its vCPU for a while says
 * little of the next epoch). */
static void estimate_fold(double *estimate, double measured)
{
    if (*estimate <= 0) {
        *estimate = measured;
        return;
    }
    if (measured > 4 * *estimate)
        measured = 4 * *estimate;
    *estimate = (*estimate + measured) / 2;
}

/* After a routed epoch: fold what the workers' own runs, and worker 0's
 * commits and moves to home, took into the figures route_split goes by.
 * (When worker 0 was still running as the last event committed, it moved
 * nothing during the epoch: the move estimate stays as it was.) */
static void route_costs_note(struct stm *stm, size_t committed)
{
    uint64_t committing_ns = 0;
    for (size_t i = 0; i < stm->worker_count; i++) {
        struct worker *w = &stm->workers[i];
        committing_ns += w->committing_ns;
        if (!w->runs)
            continue;
        uint64_t busy = w->last_run_ended_ns - w->set_out_ns - w->aside_by_last_run_ns;
        estimate_fold(&w->event_ns, (double)busy / (double)w->runs);
    }
    if (committed)
        estimate_fold(&stm->commit_ns, (double)committing_ns / (double)committed);
    if (committed && stm->workers[0].copying_ns)
        estimate_fold(&stm->move_ns, (double)stm->workers[0].copying_ns / (double)committed);
}

/* Events are routed in parts of this many, claimed in turn by whichever
 * worker is free: the calling thread alone if the others are asleep. */
#define ROUTE_PART_EVENTS 128

/* Whether the epoch's events are to be routed by their shards (the
 * layout has routes), with the route table big enough for them. */
static bool routes_wanted(struct stm *stm, size_t count)
{
    if ((!stm->layout.routes.count && !stm->options.misroute) || stm->worker_count > UINT8_MAX)
        return false;
    if (count > stm->route_capacity) {
        uint8_t *routes = realloc(stm->routes, count);
        if (!routes)
            return false;
        stm->routes = routes;
        stm->route_capacity = count;
    }
    return true;
}

/* How many parts the epoch's events make. */
static size_t route_part_count(const struct epoch *e)
{
    return (e->end - e->begin + ROUTE_PART_EVENTS - 1) / ROUTE_PART_EVENTS;
}

/* w's share of reading the events' shards: parts claimed until none is
 * left, each event's shard into the route table (1 + the shard, 0 for
 * none) and counted in w's own totals. */
static void route_parts(struct worker *w, struct epoch *e)
{
    size_t count = e->end - e->begin, parts = route_part_count(e);
    for (size_t part; (part = atomic_fetch_add(&e->route_next_part, 1)) < parts;) {
        size_t to = (part + 1) * ROUTE_PART_EVENTS < count ? (part + 1) * ROUTE_PART_EVENTS : count;
        for (size_t i = part * ROUTE_PART_EVENTS; i < to; i++) {
            int shard = route_shard(e->layout, &e->events[e->begin + i]);
            w->stm->routes[i] = (uint8_t)(shard + 1);
            if (shard < 0)
                w->route_unrouted++;
            else
                w->route_per_shard[shard]++;
        }
        atomic_fetch_add_explicit(&e->route_parts_done, 1, memory_order_release);
    }
}

/* Worker 0's share of reading the shards, then the others' end. */
static void route_all(struct stm *stm, struct epoch *e)
{
    route_parts(&stm->workers[0], e);
    while (atomic_load_explicit(&e->route_parts_done, memory_order_acquire) < route_part_count(e))
        wait_a_moment(stm);
}

/* Once every part is read: each event's worker in the route table, by
 * shard (route_split), or NULL when the shards would not spread the work
 * (the epoch then runs unrouted).  With stm_options.misroute, a route
 * that ignores the shards. */
static const uint8_t *route_decide(struct stm *stm, size_t count)
{
    size_t workers = stm->worker_count, shards = stm->layout.shard_count;
    if (stm->options.misroute) {
        for (size_t i = 0; i < count; i++)
            stm->routes[i] = (uint8_t)((i * 7 + 3) % workers);
        return stm->routes;
    }
    size_t per_shard[STM_MAX_SHARDS] = { 0 }, unrouted = 0;
    for (size_t w = 0; w < workers; w++) {
        unrouted += stm->workers[w].route_unrouted;
        for (size_t s = 0; s < shards; s++)
            per_shard[s] += stm->workers[w].route_per_shard[s];
    }
    /* whether the events spread: judged on the fixed blocks, since a
     * split of measured workers may rightly leave one of them most of the
     * events when the other's vCPU is slow */
    size_t per_worker[workers];
    memset(per_worker, 0, sizeof per_worker);
    per_worker[0] = unrouted;
    for (size_t s = 0; s < shards; s++)
        per_worker[shard_owner(s, shards, workers)] += per_shard[s];
    for (size_t w = 0; w < workers; w++)
        if ((double)per_worker[w] > ROUTE_MOST_SHARE * (double)count)
            return NULL;
    if ((double)unrouted > ROUTE_UNROUTED_SHARE * (double)count)
        return NULL;
    uint8_t owner[1 + STM_MAX_SHARDS];
    owner[0] = 0; /* (events without a route go to worker 0) */
    route_split(stm, per_shard, shards, unrouted, count, owner + 1);
    for (size_t i = 0; i < count; i++)
        stm->routes[i] = owner[stm->routes[i]];
    return stm->routes;
}

/* Run events[begin .. end) in parallel on the current layout.  Returns how
 * many were committed, and why it stopped in *ended. */
static size_t run_parallel(struct stm *stm, struct kernel *kernel, const struct stm_event *events, size_t begin,
                           size_t end, bool stop_at_refusal, struct stm_result *results,
                           struct stm_batch_stats *totals, enum epoch_end *ended, bool *failed)
{
    struct layout *layout = &stm->layout;
    size_t nodes = layout->node_count;
    struct epoch *e = noun_cache_line_calloc(sizeof *e); /* (its lines laid out: see struct epoch) */
    /* pre_at, pre_rest (two per node), then rest_mugs (two per node) and
     * committed_mugs */
    noun *arrays = malloc(3 * nodes * sizeof(noun) + 3 * nodes * sizeof(uint32_t));
    if (end - begin > stm->slot_capacity) {
        free(stm->slots);
        stm->slots = malloc((end - begin) * sizeof *stm->slots);
        stm->slot_capacity = stm->slots ? end - begin : 0;
    }
    struct slot *slots = stm->slots;
    if (slots)
        memset(slots, 0, (end - begin) * sizeof *slots);
    bool ok = e && arrays && slots;
    for (size_t i = 0; ok && i < stm->worker_count; i++) {
        struct worker *w = &stm->workers[i];
        ok = ensure_nouns(&w->spine_at, &w->spine_capacity, nodes);
    }
    if (!ok) {
        free(e);
        free(arrays);
        *failed = true;
        return 0;
    }
    e->events = events;
    e->begin = begin;
    e->end = end;
    e->layout = layout;
    bool routed = routes_wanted(stm, end - begin);
    e->routing = routed && !stm->options.misroute;
    atomic_init(&e->route_next_part, 0);
    atomic_init(&e->route_parts_done, 0);
    atomic_init(&e->ready, false);
    for (size_t i = 0; i < stm->worker_count; i++) {
        struct worker *w = &stm->workers[i];
        memset(w->route_per_shard, 0, sizeof w->route_per_shard);
        w->route_unrouted = 0;
    }
    /* handed out now: the others read shards while this thread lays out
     * the rest */
    pthread_mutex_lock(&stm->lock);
    stm->epoch = e;
    atomic_store(&stm->running, stm->worker_count - 1);
    atomic_fetch_add(&stm->generation, 1); /* (after the epoch and the count: a spinning worker reads them next) */
    pthread_cond_broadcast(&stm->wake);
    pthread_mutex_unlock(&stm->lock);

    e->slots = slots;
    e->stop_at_refusal = stop_at_refusal;
    e->stale_views = stm->options.stale_views;
    epoch_lay_out_pre_state(e, kernel_state(kernel), arrays);
    e->moved_through = begin;
    e->home_used_before = noun_home_used(stm->home);
    noun_home_dedup_stats(stm->home, &e->dedup_before);
    for (size_t i = 0; i < stm->worker_count; i++) {
        stm->workers[i].route_cursor = begin;
        memset(stm->workers[i].own_latest, 0, sizeof stm->workers[i].own_latest);
        atomic_store_explicit(&stm->workers[i].own_run_stale, false, memory_order_relaxed);
    }
    atomic_init(&e->next_execute, begin);
    atomic_init(&e->commit_index, begin);
    atomic_init(&e->stop, false);
    e->ended = EPOCH_RAN_OUT;
    pthread_mutex_init(&e->commit_lock, NULL);
    pthread_mutex_init(&e->wait_lock, NULL);
    pthread_cond_init(&e->wait_cond, NULL);
    atomic_init(&e->progress, 0);
    atomic_init(&e->waiters, 0);
    for (size_t s = 0; s < layout->shard_count; s++) {
        atomic_init(&e->committed_writer[s], NULL);
        atomic_init(&e->committed_values[s], e->pre_values[s]);
    }
    atomic_init(&e->commit_sequence, 0);
    for (size_t i = 0; i < end - begin; i++) {
        atomic_init(&slots[i].state, SLOT_IDLE);
        atomic_init(&slots[i].latest, NULL);
        atomic_init(&slots[i].spare, NULL);
        atomic_init(&slots[i].spare_claimed, false);
        atomic_init(&slots[i].runs, 0);
        atomic_init(&slots[i].late_steps, 0);
    }
    for (size_t i = 0; i < stm->worker_count; i++) {
        struct worker *w = &stm->workers[i];
        w->running_ns = w->committing_ns = w->copying_ns = w->copying_ahead_ns = w->runs = 0;
    }
    if (e->routing)
        route_all(stm, e);
    e->route = routed ? route_decide(stm, end - begin) : NULL;
    totals->routed_epochs += e->route != NULL;
    atomic_store_explicit(&e->ready, true, memory_order_release);
    uint64_t epoch_started = clock_wall_nanoseconds();
    run_epoch(&stm->workers[0], e);
    pool_spin(stm, workers_done, 0);
    pthread_mutex_lock(&stm->lock);
    while (atomic_load(&stm->running))
        pthread_cond_wait(&stm->finished, &stm->lock);
    stm->epoch = NULL;
    pthread_mutex_unlock(&stm->lock);
    uint64_t finish_started = clock_wall_nanoseconds();
    totals->time.workers = (uint32_t)stm->worker_count;
    totals->time.epoch_ns += finish_started - epoch_started;
    for (size_t i = 0; i < stm->worker_count; i++) {
        totals->time.running_ns += stm->workers[i].running_ns;
        totals->time.committing_ns += stm->workers[i].committing_ns;
        totals->time.copying_ns += stm->workers[i].copying_ns + stm->workers[i].copying_ahead_ns;
    }

    size_t committed = atomic_load(&e->commit_index) - begin;
    if (e->route && !stm->options.misroute)
        route_costs_note(stm, committed);
    *ended = e->ended;
    struct stm_batch_stats epoch_totals = { 0 };
    bool finished = e->ended != EPOCH_FAILED && epoch_finish(stm, kernel, e, committed, results, &epoch_totals);
    totals->time.finish_ns += clock_wall_nanoseconds() - finish_started;
    if (!finished) {
        *failed = true;
        committed = 0; /* the kernel's state was left as it was */
    } else {
        totals->events += epoch_totals.events;
        totals->attempts += epoch_totals.attempts;
        totals->reruns += epoch_totals.reruns;
        totals->wasted_steps += epoch_totals.wasted_steps;
        for (size_t s = 0; s < STM_MAX_SHARDS; s++)
            totals->conflicts_by_shard[s] += epoch_totals.conflicts_by_shard[s];
    }
    for (size_t i = 0; i < stm->worker_count; i++)
        worker_drop_epoch(&stm->workers[i]);
    pthread_mutex_destroy(&e->commit_lock);
    pthread_mutex_destroy(&e->wait_lock);
    pthread_cond_destroy(&e->wait_cond);
    free(e);
    free(arrays);
    return committed;
}

/* Events per parallel epoch at most: bounds what the batch regions hold. */
#define EPOCH_MAX_EVENTS 4096

size_t stm_apply_batch(struct stm *stm, struct kernel *kernel, const struct stm_event *events, size_t count,
                       bool stop_at_refusal, struct stm_result *results, struct stm_batch_stats *stats)
{
    struct stm_batch_stats totals = { 0 };
    atomic_store(&stm->interrupted, 0);
    size_t taken = 0;
    uint64_t serial_started = 0; /* of the stretch of serial events running, if one is */
    while (taken < count) {
        if (atomic_load(&stm->interrupted)) {
            result_refused(&results[taken], KERNEL_INTERRUPTED, "%s", "interrupted");
            break;
        }
        layout_refresh(stm, kernel_state(kernel));
        if (stm->layout_valid)
            totals.shard_count = (uint32_t)stm->layout.shard_count;
        if (!stm->layout_valid || stm->contended || stm->worker_count < 2) {
            if (!serial_started)
                serial_started = clock_wall_nanoseconds();
            bool go_on = serial_one(stm, kernel, &events[taken], &results[taken], stop_at_refusal);
            if (results[taken].status == KERNEL_INTERRUPTED)
                break;
            totals.serial_events++;
            totals_add(&totals, &results[taken].stats);
            taken++;
            if (!go_on)
                break;
            continue;
        }
        if (serial_started) {
            totals.time.serial_ns += clock_wall_nanoseconds() - serial_started;
            serial_started = 0;
        }
        size_t end = count - taken > EPOCH_MAX_EVENTS ? taken + EPOCH_MAX_EVENTS : count;
        enum epoch_end ended = EPOCH_RAN_OUT;
        bool failed = false;
        size_t committed = run_parallel(stm, kernel, events, taken, end, stop_at_refusal, results, &totals, &ended,
                                        &failed);
        totals.epochs++;
        totals.parallel_events += committed;
        taken += committed;
        if (failed) {
            if (taken < count)
                result_refused(&results[taken], KERNEL_OUT_OF_MEMORY, "%s", "out of memory in the STM backend");
            break;
        }
        if (ended == EPOCH_EVERYTHING)
            stm->layout_known = false;
        else if (ended == EPOCH_CONTENDED) {
            stm->contended = true;
            stm->serial_seen = 0;
            estimate_reset(stm);
        } else if (ended == EPOCH_REFUSED) {
            break;
        } else if (ended == EPOCH_INTERRUPTED) {
            if (taken < count)
                result_refused(&results[taken], KERNEL_INTERRUPTED, "%s", "interrupted");
            break;
        }
    }
    if (serial_started)
        totals.time.serial_ns += clock_wall_nanoseconds() - serial_started;
    if (stats)
        *stats = totals;
    return taken;
}
