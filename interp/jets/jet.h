/* jet.h -- how a jet is written, and the jet families' tables.
 *
 * A jet is a C function that computes what one arm of a labelled core
 * computes in Nock, bit for bit.  The dashboard (interp/jets.c) calls it
 * when a Nock 9 reaches an arm whose core was registered by a %fast hint
 * under a label path that some family's table names.
 *
 * The rules a jet follows:
 *   - It reads the core (for a gate, the sample is at axis 6) and never
 *     changes it.
 *   - It allocates its product in call->region only (bump allocation).
 *     Running out of scratch leaves through the region's out-of-memory
 *     exit, so a jet keeps nothing in malloc'd memory across an allocation.
 *   - It may run Nock with nock_evaluate_nested (virtual.c does, for
 *     +mink).  The region may be collected then, so every scratch noun the
 *     jet needs afterwards, call->core included, is named in `held`; and
 *     an outcome the jet does not turn into its product is handed on with
 *     nock_jet_pass_on.  Between nested evaluations the region is not
 *     collected.
 *   - It returns NOCK_JET_DONE with the product, NOCK_JET_DECLINED when the
 *     Nock should run instead (odd input, or a crash the Nock reaches
 *     quickly and reports better, with Hoon's own trace), or NOCK_JET_CRASH
 *     (with call->reason set) for a crash the Nock would take too long to
 *     reach.
 *
 * Each family (math.c, bits.c, tree.c, order.c, lists.c, sets.c, parse.c,
 * virtual.c, types.c) exports
 * one table of jets_arm rows.  A path names the core by its labels from
 * the child of the kernel's root down, e.g. "one/add", "two/by/get"; the
 * root (Hoon's "k140") is left out so one table serves every kernel
 * version whose arms mean the same.
 */
#ifndef NOCKLAB_JETS_JET_H
#define NOCKLAB_JETS_JET_H

#include <stddef.h>
#include <stdint.h>

#include "interp/nock.h"
#include "interp/noun.h"

/* One call of a jet.  `core` is the core the Nock 9 was given (a jet that
 * runs Nock holds it across, so it stays current); `region` is where the
 * product goes; `reason` receives a static string for a crash. */
struct jets_call {
    struct nock_context *nock;
    struct noun_region *region;
    noun core;
    const char *reason;
};

typedef enum nock_jet_result jets_function(struct jets_call *call, noun *product);

/* One row of a family's table: the arm at `axis` of the core labelled
 * `path` (2 for a gate's only arm) is computed by `function`. */
struct jets_arm {
    const char *path;
    uint64_t axis;
    jets_function *function;
};

/* A few jets, like Vere's, give a product where the kernel's Hoon crashes
 * on a bug of its own (order.c's muk, parse.c's bend): check mode doesn't
 * count that crash as a mismatch, and the jet's product stands.  Those
 * arms' paths, as in the tables. */
extern const char *const jets_hiding_a_hoon_crash[];
extern const size_t jets_hiding_a_hoon_crash_count;

/* A family's table. */
struct jets_family {
    const char *name;
    const struct jets_arm *arms;
    size_t count;
};

extern const struct jets_family jets_family_math;
extern const struct jets_family jets_family_bits;
extern const struct jets_family jets_family_tree;
extern const struct jets_family jets_family_order;
extern const struct jets_family jets_family_lists;
extern const struct jets_family jets_family_sets;
extern const struct jets_family jets_family_parse;
extern const struct jets_family jets_family_virtual;
extern const struct jets_family jets_family_types;

/* For jets that call a gate they were given: (gate sample), a nested
 * evaluation with no scry gate of its own (see nock_evaluate_nested for
 * `held`).  jets_pass_on_or_decline then says what to do with an outcome
 * that isn't a product: a Nock crash declines, so that the arm's Nock
 * crashes in the same place with Hoon's own trace; anything else (a
 * block, a crash that belongs further out, a non-Nock outcome) is passed
 * on as it is, the gate being part of the jet caller's computation. */
struct nock_outcome jets_slam(struct jets_call *call, noun gate, noun sample, noun *const *held, size_t held_count);
enum nock_jet_result jets_pass_on_or_decline(struct jets_call *call, struct nock_outcome outcome);

/* The gate's sample (axis 6 of the core), or NOUN_NONE. */
static inline noun jets_sample(const struct jets_call *call)
{
    noun core = call->core;
    if (!noun_is_cell(core) || !noun_is_cell(noun_tail(core)))
        return NOUN_NONE;
    return noun_head(noun_tail(core));
}

/* Split a cell into head and tail; false for an atom or NOUN_NONE. */
static inline bool jets_split(noun n, noun *head, noun *tail)
{
    if (!noun_is_cell(n))
        return false;
    *head = noun_head(n);
    *tail = noun_tail(n);
    return true;
}

/* [a b] where both are atoms. */
static inline bool jets_two_atoms(noun sample, noun *a, noun *b)
{
    return jets_split(sample, a, b) && noun_is_atom(*a) && noun_is_atom(*b);
}

/* [a b c] where all three are atoms. */
static inline bool jets_three_atoms(noun sample, noun *a, noun *b, noun *c)
{
    noun rest;
    return jets_split(sample, a, &rest) && jets_split(rest, b, c) && noun_is_atom(*a) && noun_is_atom(*b) &&
           noun_is_atom(*c);
}

/* Loobeans, as Hoon has them: & is 0, | is 1. */
#define JETS_YES 0
#define JETS_NO 1

/* Hoon's +gor (by mug, then depth order on a tie) and +mor (by mug of
 * mug): the orders of treaps, shared by the order jets and the map and set
 * jets (order.c). */
bool jets_order_mug(noun a, noun b);
bool jets_order_double_mug(noun a, noun b);

#endif
