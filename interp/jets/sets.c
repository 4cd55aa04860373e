/* sets.c -- jets for Hoon's treap maps and sets: get, has and put of the
 * map engine `by` (2i) and has and put of the set engine `in` (2h).
 *
 * A set is a tree [n l r] (or 0) of items; a map is the same with [key
 * value] pairs for items.  Keys are placed by +gor (mug order) and balanced
 * by +mor (mug of mug) as a treap.  The arm is a gate built by the door
 * (`~(put by a)`), so the gate's sample is at axis 6 and the door's tree at
 * axis 30 of the gate core.
 *
 * put walks down remembering the path (an explicit stack of at most
 * SETS_MAX_DEPTH nodes: deeper, malformed or adversarial trees are left to
 * the Nock), then rebuilds upwards applying the rotation the Hoon applies
 * at each level.
 */
#include "interp/jets/jet.h"

#include "interp/jets/atom.h"
#include "interp/mug.h"

#define SETS_MAX_DEPTH 4096
/* The door's sample, seen from the gate its arm built. */
#define SETS_TREE_AXIS 30

/* A tree node [n l r]; false for anything else but 0. */
static bool node_parts(noun tree, noun *item, noun *left, noun *right)
{
    noun rest;
    return jets_split(tree, item, &rest) && jets_split(rest, left, right);
}

/* The gate's sample and the door's tree. */
static bool door_parts(struct jets_call *call, noun *sample, noun *tree)
{
    *sample = jets_sample(call);
    *tree = noun_fragment(SETS_TREE_AXIS, call->core);
    return *sample != NOUN_NONE && *tree != NOUN_NONE;
}

/* The key of a node's item: the item itself in a set, its head in a map. */
static bool item_key(noun item, bool map, noun *key)
{
    if (!map) {
        *key = item;
        return true;
    }
    if (!noun_is_cell(item))
        return false;
    *key = noun_head(item);
    return true;
}

/* Walk down to `key`: DONE with *found (the item, or NOUN_NONE if absent),
 * or DECLINED for a malformed tree. */
static enum nock_jet_result find(noun tree, noun key, bool map, noun *found)
{
    for (;;) {
        noun item, left, right, here;
        if (tree == 0) {
            *found = NOUN_NONE;
            return NOCK_JET_DONE;
        }
        if (!node_parts(tree, &item, &left, &right) || !item_key(item, map, &here))
            return NOCK_JET_DECLINED;
        if (key == here || noun_equal(key, here)) {
            *found = item;
            return NOCK_JET_DONE;
        }
        tree = jets_order_mug(key, here) ? left : right;
    }
}

static enum nock_jet_result jet_by_get(struct jets_call *call, noun *product)
{
    noun key, tree, found;
    if (!door_parts(call, &key, &tree) || find(tree, key, true, &found) != NOCK_JET_DONE)
        return NOCK_JET_DECLINED;
    *product = found == NOUN_NONE ? 0 : noun_cell_new(call->region, 0, noun_tail(found));
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_by_has(struct jets_call *call, noun *product)
{
    noun key, tree, found;
    if (!door_parts(call, &key, &tree) || find(tree, key, true, &found) != NOCK_JET_DONE)
        return NOCK_JET_DECLINED;
    *product = found == NOUN_NONE ? JETS_NO : JETS_YES;
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_in_has(struct jets_call *call, noun *product)
{
    noun key, tree, found;
    if (!door_parts(call, &key, &tree) || find(tree, key, false, &found) != NOCK_JET_DONE)
        return NOCK_JET_DECLINED;
    *product = found == NOUN_NONE ? JETS_NO : JETS_YES;
    return NOCK_JET_DONE;
}

static noun node_new(struct noun_region *region, noun item, noun left, noun right)
{
    return noun_cell_new(region, item, noun_cell_new(region, left, right));
}

/* Insert `item` (keyed by `key`) and rebalance, as +put:by / +put:in. */
static enum nock_jet_result insert(struct jets_call *call, noun tree, noun key, noun item, bool map,
                                   noun *product)
{
    noun path[SETS_MAX_DEPTH];
    bool went_left[SETS_MAX_DEPTH];
    size_t depth = 0;
    noun result;
    /* down */
    for (;;) {
        noun here_item, left, right, here;
        if (tree == 0) {
            result = node_new(call->region, item, 0, 0);
            break;
        }
        if (!node_parts(tree, &here_item, &left, &right) || !item_key(here_item, map, &here))
            return NOCK_JET_DECLINED;
        if (key == here || noun_equal(key, here)) {
            if (!map || noun_equal(noun_tail(item), noun_tail(here_item)))
                result = tree; /* already there, with the same value */
            else
                result = node_new(call->region, item, left, right);
            break;
        }
        if (depth == SETS_MAX_DEPTH)
            return NOCK_JET_DECLINED;
        path[depth] = tree;
        went_left[depth] = jets_order_mug(key, here);
        tree = went_left[depth] ? left : right;
        depth++;
    }
    /* up: `result` replaces the child we came through */
    while (depth-- > 0) {
        noun above = path[depth], above_item = 0, above_left = 0, above_right = 0, above_key = 0;
        noun child_item, child_left, child_right, child_key;
        /* checked on the way down; can't fail */
        if (!node_parts(above, &above_item, &above_left, &above_right) || !item_key(above_item, map, &above_key))
            return NOCK_JET_DECLINED;
        if (!node_parts(result, &child_item, &child_left, &child_right) || !item_key(child_item, map, &child_key))
            return NOCK_JET_DECLINED;
        bool keep = jets_order_double_mug(above_key, child_key);
        if (went_left[depth])
            result = keep ? node_new(call->region, above_item, result, above_right)
                          : node_new(call->region, child_item, child_left,
                                     node_new(call->region, above_item, child_right, above_right));
        else
            result = keep ? node_new(call->region, above_item, above_left, result)
                          : node_new(call->region, child_item,
                                     node_new(call->region, above_item, above_left, child_left), child_right);
    }
    *product = result;
    return NOCK_JET_DONE;
}

static enum nock_jet_result jet_by_put(struct jets_call *call, noun *product)
{
    noun sample, tree;
    if (!door_parts(call, &sample, &tree) || !noun_is_cell(sample))
        return NOCK_JET_DECLINED;
    /* the new item is [b c]; a fresh pair, as the Hoon builds it */
    noun item = noun_cell_new(call->region, noun_head(sample), noun_tail(sample));
    return insert(call, tree, noun_head(sample), item, true, product);
}

static enum nock_jet_result jet_in_put(struct jets_call *call, noun *product)
{
    noun sample, tree;
    if (!door_parts(call, &sample, &tree))
        return NOCK_JET_DECLINED;
    return insert(call, tree, sample, sample, false, product);
}

static const struct jets_arm sets_arms[] = {
    { "one/two/by/get", 2, jet_by_get }, { "one/two/by/has", 2, jet_by_has },
    { "one/two/by/put", 2, jet_by_put }, { "one/two/in/has", 2, jet_in_has },
    { "one/two/in/put", 2, jet_in_put },
};

const struct jets_family jets_family_sets = { "sets", sets_arms, sizeof sets_arms / sizeof sets_arms[0] };
