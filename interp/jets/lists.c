/* lists.c -- jets for first-order list functions: Hoon's flop, lent, reap,
 * scag, slag, snag, weld (2b) and trip (4b).
 *
 * A list is a chain of cells ending in 0.  Where the Hoon would crash on a
 * chain ending in another atom (or on an index past the end: snag-fail),
 * the jet declines so the Nock gives Hoon's own crash.  New lists are laid
 * out as one block of consecutive cells, built front to back in a single
 * pass over the input.  Higher-order list functions (turn, roll, skim,
 * sort, ...) slam a gate and so have no jet here.
 */
#include "interp/jets/jet.h"

#include "interp/jets/atom.h"

/* Lists longer than this are left to the Nock rather than copied in one
 * block (2^32 cells is 96 GiB). */
#define LISTS_MAX_CELLS (UINT64_C(1) << 32)

/* Cells of `list` up to its terminating atom; false if that atom isn't 0. */
static bool list_length(noun list, uint64_t *length)
{
    uint64_t count = 0;
    while (noun_is_cell(list)) {
        count++;
        list = noun_tail(list);
    }
    *length = count;
    return list == 0;
}

/* `count` consecutive cells; the caller fills heads and tails. */
static struct noun_cell *cells_block(struct noun_region *region, uint64_t count)
{
    struct noun_cell *cells = noun_region_alloc(region, count * sizeof *cells);
    for (uint64_t i = 0; i < count; i++) {
        cells[i].mug = 0;
        cells[i].flags = 0;
    }
    return cells;
}

/* The first `count` items of `list` (which has at least that many) as a new
 * list ending in `end`. */
static noun copy_prefix(struct noun_region *region, noun list, uint64_t count, noun end)
{
    if (count == 0)
        return end;
    struct noun_cell *cells = cells_block(region, count);
    for (uint64_t i = 0; i < count; i++) {
        cells[i].head = noun_head(list);
        cells[i].tail = i + 1 < count ? noun_from_cell(&cells[i + 1]) : end;
        list = noun_tail(list);
    }
    return noun_from_cell(&cells[0]);
}

static enum nock_jet_result jet_lent(struct jets_call *call, noun *product)
{
    uint64_t length;
    if (!list_length(jets_sample(call), &length))
        return NOCK_JET_DECLINED;
    *product = jets_atom_from_u64(call->region, length);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_flop(struct jets_call *call, noun *product)
{
    noun list = jets_sample(call);
    uint64_t length;
    if (!list_length(list, &length) || length > LISTS_MAX_CELLS)
        return NOCK_JET_DECLINED;
    if (length == 0) {
        *product = 0;
        return NOCK_JET_DONE;
    }
    struct noun_cell *cells = cells_block(call->region, length);
    /* item i goes to position length-1-i */
    for (uint64_t i = 0; i < length; i++) {
        uint64_t at = length - 1 - i;
        cells[at].head = noun_head(list);
        cells[at].tail = at + 1 < length ? noun_from_cell(&cells[at + 1]) : 0;
        list = noun_tail(list);
    }
    *product = noun_from_cell(&cells[0]);
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_weld(struct jets_call *call, noun *product)
{
    noun a, b;
    uint64_t length;
    /* b is not walked: the Hoon puts it after a's items as it is */
    if (!jets_split(jets_sample(call), &a, &b) || !list_length(a, &length) || length > LISTS_MAX_CELLS)
        return NOCK_JET_DECLINED;
    *product = copy_prefix(call->region, a, length, b);
    return NOCK_JET_DONE;
}

/* (scag a b): the first a items of b. */
static enum nock_jet_result jet_scag(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_split(jets_sample(call), &a, &b) || !noun_is_atom(a))
        return NOCK_JET_DECLINED;
    uint64_t wanted, available = 0;
    if (!jets_atom_to_u64(a, &wanted))
        wanted = UINT64_MAX;
    noun rest = b;
    while (available < wanted && noun_is_cell(rest)) {
        available++;
        rest = noun_tail(rest);
    }
    if (available < wanted && rest != 0)
        return NOCK_JET_DECLINED;
    if (available > LISTS_MAX_CELLS)
        return NOCK_JET_DECLINED;
    *product = copy_prefix(call->region, b, available, 0);
    return NOCK_JET_DONE;
}

/* (slag a b): b without its first a items. */
static enum nock_jet_result jet_slag(struct jets_call *call, noun *product)
{
    noun a, b;
    if (!jets_split(jets_sample(call), &a, &b) || !noun_is_atom(a))
        return NOCK_JET_DECLINED;
    uint64_t skip;
    if (!jets_atom_to_u64(a, &skip))
        skip = UINT64_MAX;
    for (; skip > 0; skip--) {
        if (b == 0)
            break;
        if (!noun_is_cell(b))
            return NOCK_JET_DECLINED;
        b = noun_tail(b);
    }
    *product = b;
    return NOCK_JET_DONE;
}

/* (snag a b): item a of b, counting from 0. */
static enum nock_jet_result jet_snag(struct jets_call *call, noun *product)
{
    noun a, b;
    uint64_t index;
    if (!jets_split(jets_sample(call), &a, &b) || !noun_is_atom(a) || !jets_atom_to_u64(a, &index))
        return NOCK_JET_DECLINED;
    for (; index > 0 && noun_is_cell(b); index--)
        b = noun_tail(b);
    if (!noun_is_cell(b))
        return NOCK_JET_DECLINED; /* snag-fail, as the Nock says it */
    *product = noun_head(b);
    return NOCK_JET_DONE;
}

/* (reap a b): a copies of b. */
static enum nock_jet_result jet_reap(struct jets_call *call, noun *product)
{
    noun a, b;
    uint64_t count;
    if (!jets_split(jets_sample(call), &a, &b) || !noun_is_atom(a) || !jets_atom_to_u64(a, &count) ||
        count > LISTS_MAX_CELLS)
        return NOCK_JET_DECLINED;
    if (count == 0) {
        *product = 0;
        return NOCK_JET_DONE;
    }
    struct noun_cell *cells = cells_block(call->region, count);
    for (uint64_t i = 0; i < count; i++) {
        cells[i].head = b;
        cells[i].tail = i + 1 < count ? noun_from_cell(&cells[i + 1]) : 0;
    }
    *product = noun_from_cell(&cells[0]);
    return NOCK_JET_DONE;
}

/* (trip a): the bytes of a cord as a tape, least significant first. */
static enum nock_jet_result jet_trip(struct jets_call *call, noun *product)
{
    noun a = jets_sample(call);
    if (!noun_is_atom(a))
        return NOCK_JET_DECLINED;
    uint64_t length = noun_atom_byte_length(a);
    if (length == 0) {
        *product = 0;
        return NOCK_JET_DONE;
    }
    if (length > LISTS_MAX_CELLS)
        return NOCK_JET_DECLINED;
    uint64_t single;
    size_t count;
    const uint64_t *words = noun_atom_words(a, &single, &count);
    uint64_t copy = single;
    if (words == &single)
        words = &copy;
    struct noun_cell *cells = cells_block(call->region, length);
    for (uint64_t i = 0; i < length; i++) {
        cells[i].head = (words[i / 8] >> (8 * (i % 8))) & 0xff;
        cells[i].tail = i + 1 < length ? noun_from_cell(&cells[i + 1]) : 0;
    }
    *product = noun_from_cell(&cells[0]);
    return NOCK_JET_DONE;
}

static const struct jets_arm lists_arms[] = {
    { "one/two/flop", 2, jet_flop }, { "one/two/lent", 2, jet_lent }, { "one/two/reap", 2, jet_reap },
    { "one/two/scag", 2, jet_scag }, { "one/two/slag", 2, jet_slag }, { "one/two/snag", 2, jet_snag },
    { "one/two/weld", 2, jet_weld }, { "one/two/tri/qua/trip", 2, jet_trip },
};

const struct jets_family jets_family_lists = { "lists", lists_arms, sizeof lists_arms / sizeof lists_arms[0] };
