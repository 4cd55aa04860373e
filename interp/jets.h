/* jets.h -- the jet dashboard: which cores are labelled, which arms have
 * jets, and running them.
 *
 * A %fast hint registers a core under a label.  Its clue is what Hoon's ~%
 * emits: [name parent hooks], where name is a term (or [term number], read
 * as "k140"), parent is the formula [0 axis] that finds the parent core in
 * this one, or [1 0] for a root core, and hooks are ignored.  Matching is
 * "hashless", as Vere's `urbit eval` does it: a core is known by its label
 * and its parent's, never by a hash of its battery.  A core whose parent is
 * not registered is not registered either.
 *
 * Registered cores are keyed by the address of their battery in home (home
 * is hash-consed, so equal batteries share one address), and so are the arm
 * formulas that have jets: the evaluator asks is_candidate once per compiled
 * formula, and a Nock 9 on a candidate reaches run, which checks that the
 * core really is the registered one (battery, then each parent up to the
 * root's payload) and calls the jet.
 *
 * Modes: on (jets run), off (pure Nock), check (each jet's product is
 * compared with the Nock's, computed in a second evaluator context with
 * jets on for the calls inside; a difference is recorded with the label and
 * the sample, and the Nock's answer is the one used).
 *
 * The dashboard keeps its nouns in home, as roots, and rebuilds its tables
 * after each home collection.  It is not thread-safe: one evaluating thread
 * uses it at a time.
 */
#ifndef NOCKLAB_JETS_H
#define NOCKLAB_JETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/nock.h"
#include "interp/noun.h"

struct jets_dashboard;

enum jets_mode { JETS_ON, JETS_OFF, JETS_CHECK };

/* A dashboard over `home`; NULL when memory runs out. */
struct jets_dashboard *jets_dashboard_new(struct noun_home *home);
void jets_dashboard_free(struct jets_dashboard *dashboard);

/* The evaluator's jet hooks for this dashboard (config.jets). */
struct nock_jet_hooks jets_dashboard_hooks(struct jets_dashboard *dashboard);
/* What a context's %fast hook calls (nock_hooks.fast is called with the
 * hooks' own context, so the owner of the hooks forwards here, naming the
 * context that evaluated the hint: its scratch may hold the core). */
void jets_dashboard_fast(struct jets_dashboard *dashboard, struct nock_context *nock, noun clue, noun core);

void jets_dashboard_set_mode(struct jets_dashboard *dashboard, enum jets_mode mode);
enum jets_mode jets_dashboard_mode(const struct jets_dashboard *dashboard);
const char *jets_mode_name(enum jets_mode mode);

/* In check mode, how long the Nock of one call may run before the check is
 * given up (counted as skipped, the jet's product used).  Default 20 ms. */
void jets_dashboard_set_check_budget(struct jets_dashboard *dashboard, uint64_t milliseconds);

/* Forget every registration (after loading a new kernel, say). */
void jets_dashboard_clear(struct jets_dashboard *dashboard);

/* Totals since the dashboard was made (or cleared). */
struct jets_stats {
    uint64_t cores;              /* registered cores */
    uint64_t jetted_arms;        /* arms of registered cores that have a jet */
    uint64_t registrations_seen; /* %fast hints received */
    uint64_t rejected;           /* clues not understood, or parent unknown */
    uint64_t calls;              /* jets that computed a product */
    uint64_t declines;
    uint64_t crashes;
    uint64_t checks;             /* check mode: jet and Nock compared */
    uint64_t check_agreements;
    uint64_t check_mismatches;
    uint64_t check_skipped;      /* Nock ran out of its budget */
};
void jets_dashboard_stats(const struct jets_dashboard *dashboard, struct jets_stats *out);

/* The label path of a core whose battery (in home) a %fast hint
 * registered, e.g. "k140/one/two/by/put"; NULL for any other core.  Looks
 * at the battery's address only, not the parents (cheap enough for a
 * sampling profiler, which calls it for every frame of a sample). */
const char *jets_dashboard_label(const struct jets_dashboard *d, noun core);

/* A registered core, for listings.  `path` is its labels from the root,
 * e.g. "k140/one/two/by/put". */
struct jets_core_info {
    const char *path;
    uint64_t parent_axis;        /* 0 for a root */
    size_t jetted_arms;
};
void jets_dashboard_each_core(const struct jets_dashboard *dashboard,
                              void (*visit)(void *context, const struct jets_core_info *core), void *context);

/* A jetted arm of a registered core, with its counters. */
struct jets_arm_info {
    const char *path;
    uint64_t axis;
    const char *family;
    uint64_t calls, declines, crashes;
    uint64_t checks, mismatches, skipped;
};
void jets_dashboard_each_arm(const struct jets_dashboard *dashboard,
                             void (*visit)(void *context, const struct jets_arm_info *arm), void *context);

/* Check-mode differences, oldest first; each is one line naming the label,
 * the sample (elided past a few hundred cells) and both answers.  At most
 * JETS_MAX_MISMATCH_REPORTS are kept; the count of all is in the stats. */
#define JETS_MAX_MISMATCH_REPORTS 100
size_t jets_dashboard_mismatch_count(const struct jets_dashboard *dashboard);
const char *jets_dashboard_mismatch(const struct jets_dashboard *dashboard, size_t index);

/* Every label path some family has a jet for (for help and tests). */
size_t jets_table_size(void);
void jets_table_entry(size_t index, const char **path, uint64_t *axis, const char **family);

#endif
