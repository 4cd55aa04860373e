/* jets.c -- the jet dashboard (see jets.h for what it does).
 *
 * State:
 *
 *   cores       every registered core (struct registered_core), in the order
 *               registered; also chained in two hash tables: by battery
 *               address (home nouns) and by battery mug (to recognise a
 *               battery that sits in scratch, structurally).
 *   candidates  every arm formula with a jet (struct candidate), chained by
 *               formula address and by formula mug the same way.
 *
 * Invariant: every noun the dashboard keeps is in home and is a home root
 * (batteries, root payloads, arm formulas, verified parents), so a home
 * collection moves them in place; the address tables are rebuilt after it.
 * Scratch nouns are never kept: they move when scratch is collected.
 *
 * The evaluator re-asks is_candidate whenever `generation` changes, which
 * happens when a core with jets registers, when the mode changes, and when
 * the tables are rebuilt.
 */
#include "interp/jets.h"
#include "interp/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/jets/jet.h"
#include "interp/mug.h"
#include "interp/text.h"

#define DEFAULT_CHECK_BUDGET_MS 20
/* The check context's scratch is reset once it holds this much. */
#define CHECK_RESET_BYTES ((size_t)64 << 20)
/* Names longer than this (as text) are not labels a kernel would use. */
#define MAX_NAME_BYTES 64
/* Parent chains deeper than this aren't cached as verified. */
#define MAX_VERIFY_DEPTH 64
/* Samples in mismatch reports print at most this many cells. */
#define REPORT_MAX_CELLS 200

static const struct jets_family *const families[] = {
    &jets_family_math, &jets_family_bits, &jets_family_tree,
    &jets_family_order, &jets_family_lists, &jets_family_sets, &jets_family_parse, &jets_family_virtual,
    &jets_family_types,
};
#define FAMILY_COUNT (sizeof families / sizeof families[0])

struct registered_core;

/* One jetted arm of a registered core.  `formula` (a home root) is the arm
 * at `arm->axis` of the core, as it was when the core registered. */
struct jetted_arm {
    const struct jets_arm *arm;
    const char *family;
    noun formula;
    uint32_t formula_mug;
    uint64_t calls, declines, crashes, checks, mismatches, skipped;
};

/* A core registered by a %fast hint.  `parent` is NULL for a root, whose
 * payload must then equal `root_payload`.  `verified_parent` caches a home
 * parent core already checked all the way to the root (0 when none). */
struct registered_core {
    noun battery;
    uint32_t battery_mug;
    noun root_payload;
    noun verified_parent;
    struct registered_core *parent;
    uint64_t parent_axis;
    char *path;
    struct jetted_arm *arms;
    size_t arm_count;
    struct registered_core *next_by_address, *next_by_mug;
};

/* An arm formula with a jet: which core and which of its arms.  Several
 * candidates may share a formula (the same gate under two labels). */
struct candidate {
    struct registered_core *core;
    struct jetted_arm *arm;
    struct candidate *next_by_address, *next_by_mug;
};

/* A chained hash table of pointers; the chain link lives in the items. */
struct chain_table {
    void **buckets;
    size_t capacity; /* a power of two */
};

/* Interrupts the check context when a check outlives its budget.  The
 * thread polls every WATCHDOG_TICK_MS rather than being signalled, so
 * arming and disarming (once per checked call) are two atomic stores.
 * `deadline_ms` is 0 when disarmed. */
#define WATCHDOG_TICK_MS 2
struct watchdog {
    pthread_t thread;
    bool started;
    int quit;                    /* atomic */
    uint64_t deadline_ms;        /* atomic: monotonic milliseconds */
    uint64_t period_ms;
    struct nock_context *target;
};

struct jets_dashboard {
    struct noun_home *home;
    enum jets_mode mode;
    uint64_t generation;
    struct registered_core **cores;
    size_t core_count, core_capacity;
    struct candidate **candidates;
    size_t candidate_count, candidate_capacity;
    struct chain_table cores_by_address, cores_by_mug;
    struct chain_table candidates_by_address, candidates_by_mug;
    struct jets_stats stats;
    /* check mode */
    struct nock_context *check_nock;
    struct candidate *checking;  /* the arm under check: pure Nock in the
                                    check context, recursion included */
    uint64_t check_budget_ms;
    struct watchdog watchdog;
    uint64_t *checked;           /* open-addressing set of calls checked
                                    already: arm and core mug (0 = empty) */
    size_t checked_count, checked_capacity;
    char *mismatches[JETS_MAX_MISMATCH_REPORTS];
    size_t mismatch_count;
};

/* ---- hash tables ---------------------------------------------------------- */

static inline size_t address_hash(noun n) { return (size_t)((n >> 3) * UINT64_C(0x9E3779B97F4A7C15) >> 20); }

static bool chain_table_init(struct chain_table *table, size_t capacity)
{
    table->buckets = calloc(capacity, sizeof *table->buckets);
    table->capacity = capacity;
    return table->buckets != NULL;
}

static void chain_table_clear(struct chain_table *table)
{
    memset(table->buckets, 0, table->capacity * sizeof *table->buckets);
}

static size_t bucket_of(const struct chain_table *table, size_t hash) { return hash & (table->capacity - 1); }

static struct registered_core *core_by_address(const struct jets_dashboard *d, noun battery)
{
    struct registered_core *core = d->cores_by_address.buckets[bucket_of(&d->cores_by_address, address_hash(battery))];
    while (core && core->battery != battery)
        core = core->next_by_address;
    return core;
}

/* A battery that is not in home: found by structure. */
static struct registered_core *core_by_structure(const struct jets_dashboard *d, noun battery)
{
    uint32_t mug = mug_noun(battery);
    struct registered_core *core = d->cores_by_mug.buckets[bucket_of(&d->cores_by_mug, mug)];
    for (; core; core = core->next_by_mug)
        if (core->battery_mug == mug && noun_equal(core->battery, battery))
            return core;
    return NULL;
}

static struct registered_core *core_for_battery(const struct jets_dashboard *d, noun battery)
{
    if (noun_home_holds(d->home, battery))
        return core_by_address(d, battery);
    return core_by_structure(d, battery);
}

static void index_core(struct jets_dashboard *d, struct registered_core *core)
{
    size_t a = bucket_of(&d->cores_by_address, address_hash(core->battery));
    core->next_by_address = d->cores_by_address.buckets[a];
    d->cores_by_address.buckets[a] = core;
    size_t m = bucket_of(&d->cores_by_mug, core->battery_mug);
    core->next_by_mug = d->cores_by_mug.buckets[m];
    d->cores_by_mug.buckets[m] = core;
}

static void index_candidate(struct jets_dashboard *d, struct candidate *candidate)
{
    size_t a = bucket_of(&d->candidates_by_address, address_hash(candidate->arm->formula));
    candidate->next_by_address = d->candidates_by_address.buckets[a];
    d->candidates_by_address.buckets[a] = candidate;
    size_t m = bucket_of(&d->candidates_by_mug, candidate->arm->formula_mug);
    candidate->next_by_mug = d->candidates_by_mug.buckets[m];
    d->candidates_by_mug.buckets[m] = candidate;
}

/* The first candidate for this formula; `by_structure` says which chain to
 * follow from it (see next_candidate). */
static struct candidate *first_candidate(const struct jets_dashboard *d, noun formula, bool *by_structure)
{
    *by_structure = !noun_home_holds(d->home, formula);
    if (!*by_structure) {
        struct candidate *c = d->candidates_by_address.buckets[bucket_of(&d->candidates_by_address, address_hash(formula))];
        while (c && c->arm->formula != formula)
            c = c->next_by_address;
        return c;
    }
    uint32_t mug = mug_noun(formula);
    struct candidate *c = d->candidates_by_mug.buckets[bucket_of(&d->candidates_by_mug, mug)];
    while (c && !(c->arm->formula_mug == mug && noun_equal(c->arm->formula, formula)))
        c = c->next_by_mug;
    return c;
}

static struct candidate *next_candidate(struct candidate *c, noun formula, bool by_structure)
{
    if (!by_structure) {
        for (c = c->next_by_address; c && c->arm->formula != formula; c = c->next_by_address) {
        }
        return c;
    }
    for (c = c->next_by_mug; c && !(c->arm->formula_mug == mug_noun(formula) && noun_equal(c->arm->formula, formula));
         c = c->next_by_mug) {
    }
    return c;
}

/* After a home collection every kept noun has moved (its root slot was
 * updated), so the address chains are rebuilt; mugs don't change. */
static void reindex(struct jets_dashboard *d)
{
    chain_table_clear(&d->cores_by_address);
    chain_table_clear(&d->cores_by_mug);
    chain_table_clear(&d->candidates_by_address);
    chain_table_clear(&d->candidates_by_mug);
    for (size_t i = 0; i < d->core_count; i++)
        index_core(d, d->cores[i]);
    for (size_t i = 0; i < d->candidate_count; i++)
        index_candidate(d, d->candidates[i]);
}

static void on_home_collect(void *context)
{
    struct jets_dashboard *d = context;
    reindex(d);
    for (size_t i = 0; i < d->core_count; i++) {
        noun_home_root_remove(d->home, &d->cores[i]->verified_parent);
        d->cores[i]->verified_parent = 0;
    }
    if (d->checked)
        memset(d->checked, 0, d->checked_capacity * sizeof *d->checked);
    d->checked_count = 0;
    d->generation++;
}

/* ---- growing arrays ------------------------------------------------------- */

static bool ensure_capacity(void **items, size_t *capacity, size_t needed, size_t item_size)
{
    if (needed <= *capacity)
        return true;
    size_t bigger = *capacity ? *capacity * 2 : 64;
    while (bigger < needed)
        bigger *= 2;
    void *grown = realloc(*items, bigger * item_size);
    if (!grown)
        return false;
    *items = grown;
    *capacity = bigger;
    return true;
}

/* Tables grow when their load passes 1: rebuild at double size. */
static void maybe_grow_tables(struct jets_dashboard *d)
{
    struct chain_table *tables[] = { &d->cores_by_address, &d->cores_by_mug, &d->candidates_by_address,
                                     &d->candidates_by_mug };
    size_t load = d->core_count > d->candidate_count ? d->core_count : d->candidate_count;
    if (load < d->cores_by_address.capacity)
        return;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        struct chain_table bigger;
        if (!chain_table_init(&bigger, tables[i]->capacity * 2))
            return; /* keep the old size: chains get longer, nothing breaks */
        free(tables[i]->buckets);
        *tables[i] = bigger;
    }
    reindex(d);
}

/* ---- making and freeing --------------------------------------------------- */

struct jets_dashboard *jets_dashboard_new(struct noun_home *home)
{
    struct jets_dashboard *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->home = home;
    d->mode = JETS_ON;
    d->generation = 1; /* compiled code starts at generation 0: ask at once */
    d->check_budget_ms = DEFAULT_CHECK_BUDGET_MS;
    if (!chain_table_init(&d->cores_by_address, 256) || !chain_table_init(&d->cores_by_mug, 256) ||
        !chain_table_init(&d->candidates_by_address, 256) || !chain_table_init(&d->candidates_by_mug, 256) ||
        !noun_home_listen(home, on_home_collect, d)) {
        free(d->cores_by_address.buckets);
        free(d->cores_by_mug.buckets);
        free(d->candidates_by_address.buckets);
        free(d->candidates_by_mug.buckets);
        free(d);
        return NULL;
    }
    return d;
}

static void forget_core(struct jets_dashboard *d, struct registered_core *core)
{
    noun_home_root_remove(d->home, &core->battery);
    noun_home_root_remove(d->home, &core->root_payload);
    noun_home_root_remove(d->home, &core->verified_parent);
    for (size_t i = 0; i < core->arm_count; i++)
        noun_home_root_remove(d->home, &core->arms[i].formula);
    free(core->arms);
    free(core->path);
    free(core);
}

void jets_dashboard_clear(struct jets_dashboard *d)
{
    for (size_t i = 0; i < d->core_count; i++)
        forget_core(d, d->cores[i]);
    for (size_t i = 0; i < d->candidate_count; i++)
        free(d->candidates[i]);
    d->core_count = 0;
    d->candidate_count = 0;
    if (d->checked)
        memset(d->checked, 0, d->checked_capacity * sizeof *d->checked);
    d->checked_count = 0;
    for (size_t i = 0; i < d->mismatch_count && i < JETS_MAX_MISMATCH_REPORTS; i++)
        free(d->mismatches[i]);
    d->mismatch_count = 0;
    memset(&d->stats, 0, sizeof d->stats);
    reindex(d);
    d->generation++;
}

static void watchdog_stop(struct watchdog *w);

void jets_dashboard_free(struct jets_dashboard *d)
{
    if (!d)
        return;
    jets_dashboard_clear(d);
    watchdog_stop(&d->watchdog);
    if (d->check_nock)
        nock_context_free(d->check_nock);
    noun_home_unlisten(d->home, on_home_collect, d);
    free(d->cores);
    free(d->candidates);
    free(d->checked);
    free(d->cores_by_address.buckets);
    free(d->cores_by_mug.buckets);
    free(d->candidates_by_address.buckets);
    free(d->candidates_by_mug.buckets);
    free(d);
}

/* ---- matching a core ------------------------------------------------------ */

static bool same_noun(const struct jets_dashboard *d, noun candidate, noun kept)
{
    return candidate == kept || (!noun_home_holds(d->home, candidate) && noun_equal(candidate, kept));
}

/* Whether `core` is an instance of `registered`: its parent (and its
 * parent's parent...) carry the registered batteries, and the root carries
 * the registered payload.  The battery of `core` itself is checked by the
 * caller. */
static bool chain_matches(struct jets_dashboard *d, struct registered_core *registered, noun core)
{
    struct registered_core *visited[MAX_VERIFY_DEPTH];
    noun parents[MAX_VERIFY_DEPTH];
    size_t depth = 0;
    for (;;) {
        if (!registered->parent) {
            noun payload = noun_tail(core);
            if (payload != registered->root_payload && !noun_equal(payload, registered->root_payload))
                return false;
            break;
        }
        noun parent = noun_fragment(registered->parent_axis, core);
        if (parent == NOUN_NONE || !noun_is_cell(parent))
            return false;
        if (parent == registered->verified_parent)
            break;
        if (!same_noun(d, noun_head(parent), registered->parent->battery))
            return false;
        if (depth < MAX_VERIFY_DEPTH) {
            visited[depth] = registered;
            parents[depth] = parent;
            depth++;
        }
        registered = registered->parent;
        core = parent;
    }
    /* remember verified home parents, so the next call stops at once */
    for (size_t i = 0; i < depth; i++) {
        if (noun_home_holds(d->home, parents[i]) && visited[i]->verified_parent != parents[i]) {
            if (!visited[i]->verified_parent && !noun_home_root_add(d->home, &visited[i]->verified_parent))
                continue;
            visited[i]->verified_parent = parents[i];
        }
    }
    return true;
}

/* ---- registration --------------------------------------------------------- */

/* A clue's name as text: a term, or [term number] as "k140". */
static bool name_text(noun name, char *out, size_t size)
{
    noun number = NOUN_NONE;
    if (noun_is_cell(name)) {
        number = noun_tail(name);
        name = noun_head(name);
        if (!noun_is_direct(number))
            return false;
    }
    if (!noun_is_atom(name))
        return false;
    uint64_t length = noun_atom_byte_length(name);
    if (length == 0 || length > MAX_NAME_BYTES || length + 24 > size)
        return false;
    noun_atom_to_bytes(name, (uint8_t *)out, length);
    for (uint64_t i = 0; i < length; i++)
        if (out[i] <= ' ' || out[i] > '~' || out[i] == '/')
            return false;
    out[length] = '\0';
    if (number != NOUN_NONE)
        snprintf(out + length, size - length, "%llu", (unsigned long long)number);
    return true;
}

/* The parent axis from a clue's parent formula: [1 0] is a root (0), [0 a]
 * names axis a; [11 hint f] wrappers are looked through.  False otherwise. */
static bool parent_axis(noun formula, uint64_t *axis)
{
    while (noun_is_cell(formula) && noun_head(formula) == 11 && noun_is_cell(noun_tail(formula)))
        formula = noun_tail(noun_tail(formula));
    if (!noun_is_cell(formula))
        return false;
    noun op = noun_head(formula), argument = noun_tail(formula);
    if (op == 1 && argument == 0) {
        *axis = 0;
        return true;
    }
    if (op == 0 && noun_is_direct(argument) && argument >= 2) {
        *axis = argument;
        return true;
    }
    return false;
}

/* `noun` in home; for a noun in the context's scratch, its home copy. */
static noun in_home(struct jets_dashboard *d, struct nock_context *nock, noun n)
{
    if (noun_is_direct(n) || noun_home_holds(d->home, n))
        return n;
    return noun_home_copy_out(d->home, nock ? nock_context_region(nock) : NULL, n);
}

static bool keep_root(struct jets_dashboard *d, noun *slot, noun value)
{
    *slot = value;
    return noun_home_root_add(d->home, slot);
}

/* Find the family rows for `path` (below the root) and fill core->arms. */
static bool attach_arms(struct jets_dashboard *d, struct registered_core *core, noun core_noun)
{
    const char *below_root = strchr(core->path, '/');
    if (!below_root)
        return true;
    below_root++;
    size_t count = 0;
    for (size_t f = 0; f < FAMILY_COUNT; f++)
        for (size_t i = 0; i < families[f]->count; i++)
            count += strcmp(families[f]->arms[i].path, below_root) == 0;
    if (count == 0)
        return true;
    core->arms = calloc(count, sizeof *core->arms);
    if (!core->arms)
        return false;
    for (size_t f = 0; f < FAMILY_COUNT; f++) {
        for (size_t i = 0; i < families[f]->count; i++) {
            const struct jets_arm *arm = &families[f]->arms[i];
            if (strcmp(arm->path, below_root) != 0)
                continue;
            noun formula = noun_fragment(arm->axis, core_noun);
            if (formula == NOUN_NONE)
                continue;
            /* an arm is inside the battery, which is in home already */
            formula = in_home(d, NULL, formula);
            if (formula == NOUN_NONE)
                continue;
            struct jetted_arm *jetted = &core->arms[core->arm_count];
            jetted->arm = arm;
            jetted->family = families[f]->name;
            jetted->formula_mug = mug_noun(formula);
            if (!keep_root(d, &jetted->formula, formula))
                return false;
            core->arm_count++;
        }
    }
    return true;
}

static bool add_candidates(struct jets_dashboard *d, struct registered_core *core)
{
    for (size_t i = 0; i < core->arm_count; i++) {
        if (!ensure_capacity((void **)&d->candidates, &d->candidate_capacity, d->candidate_count + 1,
                             sizeof *d->candidates))
            return false;
        struct candidate *candidate = calloc(1, sizeof *candidate);
        if (!candidate)
            return false;
        candidate->core = core;
        candidate->arm = &core->arms[i];
        d->candidates[d->candidate_count++] = candidate;
        index_candidate(d, candidate);
    }
    return true;
}

/* Register `core_noun` (battery already in home as `battery`). */
static void register_core(struct jets_dashboard *d, struct nock_context *nock, noun clue, noun core_noun,
                          noun battery)
{
    noun parent_formula;
    char name_buffer[MAX_NAME_BYTES + 32];
    uint64_t axis;
    if (!noun_is_cell(clue) || !noun_is_cell(noun_tail(clue)) || !name_text(noun_head(clue), name_buffer, sizeof name_buffer)) {
        d->stats.rejected++;
        return;
    }
    parent_formula = noun_head(noun_tail(clue));
    if (!parent_axis(parent_formula, &axis)) {
        d->stats.rejected++;
        return;
    }
    struct registered_core *parent = NULL;
    if (axis != 0) {
        noun parent_noun = noun_fragment(axis, core_noun);
        if (parent_noun == NOUN_NONE || !noun_is_cell(parent_noun) ||
            !(parent = core_for_battery(d, noun_head(parent_noun))) || !chain_matches(d, parent, parent_noun)) {
            d->stats.rejected++;
            return;
        }
    }
    if (!ensure_capacity((void **)&d->cores, &d->core_capacity, d->core_count + 1, sizeof *d->cores))
        return;
    struct registered_core *core = calloc(1, sizeof *core);
    size_t path_size = (parent ? strlen(parent->path) + 1 : 0) + strlen(name_buffer) + 1;
    char *path = malloc(path_size);
    if (!core || !path) {
        free(core);
        free(path);
        return;
    }
    snprintf(path, path_size, "%s%s%s", parent ? parent->path : "", parent ? "/" : "", name_buffer);
    core->path = path;
    core->parent = parent;
    core->parent_axis = axis;
    core->battery_mug = mug_noun(battery);
    bool ok = keep_root(d, &core->battery, battery);
    if (ok && !parent) {
        noun payload = in_home(d, nock, noun_tail(core_noun));
        ok = payload != NOUN_NONE && keep_root(d, &core->root_payload, payload);
    }
    ok = ok && attach_arms(d, core, core_noun);
    if (!ok) {
        forget_core(d, core);
        return;
    }
    d->cores[d->core_count++] = core;
    index_core(d, core);
    if (core->arm_count) {
        add_candidates(d, core);
        d->generation++;
    }
    maybe_grow_tables(d);
}

void jets_dashboard_fast(struct jets_dashboard *d, struct nock_context *nock, noun clue, noun core)
{
    d->stats.registrations_seen++;
    if (!noun_is_cell(core))
        return;
    noun battery = noun_head(core);
    if (core_for_battery(d, battery))
        return; /* known: the usual case, every time a jetted gate is built */
    if (!noun_home_holds(d->home, battery)) {
        battery = in_home(d, nock, battery);
        if (battery == NOUN_NONE || core_by_address(d, battery))
            return;
    }
    register_core(d, nock, clue, core, battery);
}

const char *jets_dashboard_label(const struct jets_dashboard *d, noun core)
{
    if (!noun_is_cell(core))
        return NULL;
    noun battery = noun_head(core);
    if (!noun_home_holds(d->home, battery))
        return NULL;
    struct registered_core *registered = core_by_address(d, battery);
    return registered ? registered->path : NULL;
}

/* ---- running -------------------------------------------------------------- */

static bool is_candidate(void *context, noun formula)
{
    struct jets_dashboard *d = context;
    bool by_structure;
    return d->mode != JETS_OFF && d->candidate_count > 0 && first_candidate(d, formula, &by_structure) != NULL;
}

static enum nock_jet_result check_call(struct jets_dashboard *d, struct nock_context *nock, struct candidate *c,
                                       noun core, enum nock_jet_result result, noun *product);

static enum nock_jet_result run(void *context, struct nock_context *nock, noun core, noun axis, noun formula,
                                noun *product)
{
    struct jets_dashboard *d = context;
    if (d->mode == JETS_OFF || !noun_is_cell(core))
        return NOCK_JET_DECLINED;
    bool by_structure;
    for (struct candidate *c = first_candidate(d, formula, &by_structure); c;
         c = next_candidate(c, formula, by_structure)) {
        if (axis != c->arm->arm->axis || !same_noun(d, noun_head(core), c->core->battery) ||
            !chain_matches(d, c->core, core))
            continue;
        if (nock == d->check_nock && c == d->checking)
            return NOCK_JET_DECLINED;
        struct jets_call call = { .nock = nock, .region = nock_context_region(nock), .core = core };
        enum nock_jet_result result = c->arm->arm->function(&call, product);
        /* call.core, not core: a jet that ran Nock may have seen it move */
        if (d->mode == JETS_CHECK && nock != d->check_nock &&
            (result == NOCK_JET_DONE || result == NOCK_JET_CRASH))
            result = check_call(d, nock, c, call.core, result, product);
        switch (result) {
        case NOCK_JET_PASS_ON: /* a nested evaluation's crash, block or failure */
        case NOCK_JET_DONE:
            c->arm->calls++;
            d->stats.calls++;
            break;
        case NOCK_JET_DECLINED:
            c->arm->declines++;
            d->stats.declines++;
            break;
        case NOCK_JET_CRASH:
            c->arm->crashes++;
            d->stats.crashes++;
            nock_set_crash_reason(nock, call.reason ? call.reason : "jet crashed");
            break;
        }
        return result;
    }
    return NOCK_JET_DECLINED;
}

struct nock_jet_hooks jets_dashboard_hooks(struct jets_dashboard *d)
{
    struct nock_jet_hooks hooks = {
        .context = d,
        .generation = &d->generation,
        .is_candidate = is_candidate,
        .run = run,
    };
    return hooks;
}

/* ---- check mode ----------------------------------------------------------- */

static void *watchdog_main(void *argument)
{
    struct watchdog *w = argument;
    struct timespec tick = { 0, WATCHDOG_TICK_MS * 1000000L };
    while (!__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE)) {
        nanosleep(&tick, NULL);
        uint64_t deadline = __atomic_load_n(&w->deadline_ms, __ATOMIC_ACQUIRE);
        if (deadline && clock_wall_nanoseconds() / 1000000u >= deadline) {
            /* ask again every period while armed: a request that lands
             * before the evaluation starts is cleared when it does */
            nock_interrupt(w->target);
            __atomic_compare_exchange_n(&w->deadline_ms, &deadline, deadline + w->period_ms, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        }
    }
    return NULL;
}

static bool watchdog_start(struct watchdog *w, struct nock_context *target)
{
    if (w->started)
        return true;
    w->target = target;
    w->quit = 0;
    w->deadline_ms = 0;
    if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0)
        return false;
    w->started = true;
    return true;
}

static void watchdog_stop(struct watchdog *w)
{
    if (!w->started)
        return;
    __atomic_store_n(&w->quit, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    w->started = false;
}

static void watchdog_arm(struct watchdog *w, uint64_t milliseconds)
{
    w->period_ms = milliseconds;
    __atomic_store_n(&w->deadline_ms, clock_wall_nanoseconds() / 1000000u + milliseconds, __ATOMIC_RELEASE);
}

static void watchdog_disarm(struct watchdog *w)
{
    __atomic_store_n(&w->deadline_ms, 0, __ATOMIC_RELEASE);
}

static void check_fast_hook(void *context, noun clue, noun core)
{
    struct jets_dashboard *d = context;
    jets_dashboard_fast(d, d->check_nock, clue, core);
}

static bool ensure_check_context(struct jets_dashboard *d)
{
    if (d->check_nock)
        return d->watchdog.started || watchdog_start(&d->watchdog, d->check_nock);
    struct nock_config config = {
        .hooks = { .context = d, .fast = check_fast_hook },
        .jets = jets_dashboard_hooks(d),
    };
    d->check_nock = nock_context_new(d->home, &config);
    return d->check_nock && watchdog_start(&d->watchdog, d->check_nock);
}

/* Whether a call with this key (the arm, and the mug of the core) was
 * checked already; remembers it if not.  Keyed by mug so a repeated call is
 * skipped before its core is copied anywhere: a collision only means one
 * call goes unchecked. */
static bool checked_before(struct jets_dashboard *d, uint64_t core)
{
    if ((d->checked_count + 1) * 2 > d->checked_capacity) {
        size_t capacity = d->checked_capacity ? d->checked_capacity * 2 : 1024;
        uint64_t *bigger = calloc(capacity, sizeof *bigger);
        if (!bigger)
            return false;
        for (size_t i = 0; i < d->checked_capacity; i++) {
            if (!d->checked[i])
                continue;
            size_t j = address_hash(d->checked[i]) & (capacity - 1);
            while (bigger[j])
                j = (j + 1) & (capacity - 1);
            bigger[j] = d->checked[i];
        }
        free(d->checked);
        d->checked = bigger;
        d->checked_capacity = capacity;
    }
    size_t mask = d->checked_capacity - 1, i = address_hash(core) & mask;
    for (; d->checked[i]; i = (i + 1) & mask)
        if (d->checked[i] == core)
            return true;
    d->checked[i] = core;
    d->checked_count++;
    return false;
}

static void append_text(struct text_buffer *buffer, noun n)
{
    struct text_print_options options = { .style = TEXT_HOON, .max_cells = REPORT_MAX_CELLS };
    text_print(buffer, n, &options);
}

static void record_mismatch(struct jets_dashboard *d, struct candidate *c, noun core, const char *jet_said,
                            noun jet_product, const char *nock_said, noun nock_product)
{
    d->stats.check_mismatches++;
    c->arm->mismatches++;
    size_t index = d->mismatch_count++;
    if (index >= JETS_MAX_MISMATCH_REPORTS)
        return;
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    text_buffer_printf(&buffer, "jet mismatch: %s (arm %llu): sample ", c->core->path,
                       (unsigned long long)c->arm->arm->axis);
    noun sample = noun_fragment(6, core);
    if (sample != NOUN_NONE)
        append_text(&buffer, sample);
    text_buffer_printf(&buffer, "; jet %s", jet_said);
    if (jet_product != NOUN_NONE) {
        text_buffer_append(&buffer, " ", 1);
        append_text(&buffer, jet_product);
    }
    text_buffer_printf(&buffer, "; nock %s", nock_said);
    if (nock_product != NOUN_NONE) {
        text_buffer_append(&buffer, " ", 1);
        append_text(&buffer, nock_product);
    }
    d->mismatches[index] = buffer.data; /* taken over; NULL if printing failed */
}

const char *const jets_hiding_a_hoon_crash[] = { "one/two/muk", "one/two/tri/qua/bend/fun" };
const size_t jets_hiding_a_hoon_crash_count = sizeof jets_hiding_a_hoon_crash / sizeof jets_hiding_a_hoon_crash[0];

static bool hides_a_hoon_crash(const struct jets_arm *arm)
{
    for (size_t i = 0; i < jets_hiding_a_hoon_crash_count; i++)
        if (strcmp(arm->path, jets_hiding_a_hoon_crash[i]) == 0)
            return true;
    return false;
}

/* Compare the jet's outcome with the Nock's.  The core is copied to home so
 * the check context holds no pointer into another context's scratch.  On a
 * difference the main context runs the Nock itself (DECLINED), so what it
 * computes is what the Nock computes. */
static enum nock_jet_result check_call(struct jets_dashboard *d, struct nock_context *nock, struct candidate *c,
                                       noun core, enum nock_jet_result result, noun *product)
{
    if (!ensure_check_context(d))
        return result;
    uint64_t key = ((uint64_t)mug_noun(core) << 32) ^ (uint64_t)(uintptr_t)c->arm;
    if (checked_before(d, key ? key : 1))
        return result;
    noun kept = in_home(d, nock, core);
    if (kept == NOUN_NONE)
        return result;
    struct noun_region *region = nock_context_region(d->check_nock);
    /* in home, so every check of this arm shares one compiled formula */
    noun formula = in_home(d, d->check_nock, noun_qual(region, 9, c->arm->arm->axis, 0, 1));
    if (formula == NOUN_NONE)
        return result;
    watchdog_arm(&d->watchdog, d->check_budget_ms);
    d->checking = c;
    struct nock_outcome outcome = nock_evaluate(d->check_nock, kept, formula);
    d->checking = NULL;
    watchdog_disarm(&d->watchdog);
    enum nock_jet_result answer = result;
    if (outcome.status == NOCK_INTERRUPTED) {
        d->stats.check_skipped++;
        c->arm->skipped++;
    } else if (outcome.status == NOCK_CRASH && result == NOCK_JET_DONE && hides_a_hoon_crash(c->arm->arm)) {
        /* the Hoon's own bug, which the jet (like Vere's) hides: no verdict,
         * and the jet's product stands */
        d->stats.check_skipped++;
        c->arm->skipped++;
    } else if (outcome.status == NOCK_OK || outcome.status == NOCK_CRASH) {
        d->stats.checks++;
        c->arm->checks++;
        bool jet_done = result == NOCK_JET_DONE, nock_done = outcome.status == NOCK_OK;
        if (jet_done == nock_done && (!jet_done || noun_equal(*product, outcome.product))) {
            d->stats.check_agreements++;
        } else {
            record_mismatch(d, c, kept, jet_done ? "gives" : "crashes", jet_done ? *product : NOUN_NONE,
                            nock_done ? "gives" : "crashes", nock_done ? outcome.product : NOUN_NONE);
            answer = NOCK_JET_DECLINED;
        }
    } else {
        d->stats.check_skipped++; /* out of memory or too deep: no verdict */
        c->arm->skipped++;
    }
    /* Resetting costs a walk over the context's compiled code, so garbage
     * from many checks is let pile up (collections inside the evaluator
     * keep it bounded while checks run) and dropped now and then. */
    if (noun_region_used(nock_context_region(d->check_nock)) > CHECK_RESET_BYTES)
        nock_context_reset(d->check_nock);
    return answer;
}

/* ---- settings and listings ------------------------------------------------ */

void jets_dashboard_set_mode(struct jets_dashboard *d, enum jets_mode mode)
{
    if (d->mode != mode) {
        d->mode = mode;
        d->generation++;
    }
}

enum jets_mode jets_dashboard_mode(const struct jets_dashboard *d) { return d->mode; }

const char *jets_mode_name(enum jets_mode mode)
{
    switch (mode) {
    case JETS_ON: return "on";
    case JETS_OFF: return "off";
    case JETS_CHECK: return "check";
    }
    return "?";
}

void jets_dashboard_set_check_budget(struct jets_dashboard *d, uint64_t milliseconds)
{
    d->check_budget_ms = milliseconds ? milliseconds : 1;
}

void jets_dashboard_stats(const struct jets_dashboard *d, struct jets_stats *out)
{
    *out = d->stats;
    out->cores = d->core_count;
    out->jetted_arms = d->candidate_count;
}

void jets_dashboard_each_core(const struct jets_dashboard *d,
                              void (*visit)(void *context, const struct jets_core_info *core), void *context)
{
    for (size_t i = 0; i < d->core_count; i++) {
        struct jets_core_info info = {
            .path = d->cores[i]->path,
            .parent_axis = d->cores[i]->parent_axis,
            .jetted_arms = d->cores[i]->arm_count,
        };
        visit(context, &info);
    }
}

void jets_dashboard_each_arm(const struct jets_dashboard *d,
                             void (*visit)(void *context, const struct jets_arm_info *arm), void *context)
{
    for (size_t i = 0; i < d->core_count; i++) {
        const struct registered_core *core = d->cores[i];
        for (size_t j = 0; j < core->arm_count; j++) {
            const struct jetted_arm *arm = &core->arms[j];
            struct jets_arm_info info = {
                .path = core->path,
                .axis = arm->arm->axis,
                .family = arm->family,
                .calls = arm->calls,
                .declines = arm->declines,
                .crashes = arm->crashes,
                .checks = arm->checks,
                .mismatches = arm->mismatches,
                .skipped = arm->skipped,
            };
            visit(context, &info);
        }
    }
}

size_t jets_dashboard_mismatch_count(const struct jets_dashboard *d) { return d->mismatch_count; }

const char *jets_dashboard_mismatch(const struct jets_dashboard *d, size_t index)
{
    if (index >= d->mismatch_count || index >= JETS_MAX_MISMATCH_REPORTS)
        return NULL;
    return d->mismatches[index] ? d->mismatches[index] : "jet mismatch (out of memory while describing it)";
}

size_t jets_table_size(void)
{
    size_t total = 0;
    for (size_t f = 0; f < FAMILY_COUNT; f++)
        total += families[f]->count;
    return total;
}

void jets_table_entry(size_t index, const char **path, uint64_t *axis, const char **family)
{
    for (size_t f = 0; f < FAMILY_COUNT; f++) {
        if (index < families[f]->count) {
            *path = families[f]->arms[index].path;
            *axis = families[f]->arms[index].axis;
            *family = families[f]->name;
            return;
        }
        index -= families[f]->count;
    }
    *path = NULL;
    *axis = 0;
    *family = NULL;
}
