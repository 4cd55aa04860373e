/* nock.h -- the Nock 4K evaluator.
 *
 * An evaluation runs in a nock_context: its own scratch region, its code
 * cache (formulas compiled to an internal form on first use), its %memo
 * cache, its counters and hooks.  A context has no shared mutable state
 * with other contexts, so several may run at once on threads over one home
 * that none of them writes.
 *
 * The outcome of an evaluation is a value: a product, a Nock crash with the
 * trace of %spot/%hunk/%mean/%lose clues it was under (innermost first), or
 * one of the non-Nock outcomes (out of memory, too deep, interrupted), which
 * leave home untouched.  Nouns in an outcome live in the context's scratch
 * until the next nock_context_reset; copy them out with noun_home_copy_out.
 */
#ifndef NOCKLAB_NOCK_H
#define NOCKLAB_NOCK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include "noun.h"

struct nock_context;

enum nock_status {
    NOCK_OK,
    NOCK_CRASH,          /* Nock itself crashed: trace says where */
    NOCK_OUT_OF_MEMORY,  /* scratch reached its limit */
    NOCK_TOO_DEEP,       /* more nested calls than config.max_depth */
    NOCK_INTERRUPTED,    /* nock_interrupt was called (Ctrl-C, timeout) */
    NOCK_BLOCKED,        /* Nock 12 found no value: its scry gate gave ~.  Only
                            nested evaluations (nock_evaluate_nested) block */
};

struct nock_outcome {
    enum nock_status status;
    noun product;   /* NOCK_OK: the product; NOCK_BLOCKED: the path asked for */
    noun trace;     /* NOCK_CRASH: list of [tag clue], innermost first */
    const char *reason; /* a short why for a crash, e.g. "fragment of an atom" */
    /* Nested evaluations only: how many levels out a crash or block belongs.
     * 0: the nested computation's own.  A scry gate runs as part of the
     * computation that gave it (+mink's caller), so a crash or block of the
     * gate belongs one level further out than the Nock 12 that called it. */
    uint32_t escalation;
};

/* What the evaluator counts; cumulative over a context's life. */
struct nock_counters {
    uint64_t steps;               /* Nock reductions (autocons counts one) */
    uint64_t steps_by_opcode[13]; /* 0..11, and [12] for autocons */
    uint64_t hints;               /* hints evaluated (static and dynamic) */
    uint64_t memo_hits;
    uint64_t memo_clears;         /* kept caches cleared for outgrowing their bound */
    uint64_t fast_registrations;  /* %fast hints seen */
    uint64_t scratch_collections;
    uint64_t scratch_collect_ns;  /* wall time spent in them */
    uint64_t compiled_formulas;
    uint64_t jet_calls;           /* Nock 9 calls a jet computed */
};

/* Called by the evaluator; all optional.  They run on the evaluating
 * thread, must not touch the context's scratch except to read the nouns
 * given, and must not evaluate in the same context. */
struct nock_hooks {
    void *context;
    /* %slog: the clue's product, [priority tank] by convention */
    void (*slog)(void *context, noun clue);
    /* %bout: nanoseconds the hinted body took, and the hint's clue (its
     * name, when it is a term or a cord) */
    void (*bout)(void *context, uint64_t nanoseconds, noun clue);
    /* %fast: clue and the core it labels (for jet registration) */
    void (*fast)(void *context, noun clue, noun core);
};

/* NOCK_JET_PASS_ON: the call comes to the outcome given to nock_jet_pass_on
 * (a nested evaluation's crash, block or non-Nock outcome). */
enum nock_jet_result { NOCK_JET_DECLINED, NOCK_JET_DONE, NOCK_JET_CRASH, NOCK_JET_PASS_ON };

/* Jets, as a jet dashboard (interp/jets.h) provides them.  For each compiled
 * formula the evaluator asks is_candidate once (and again whenever
 * *generation changes): could a Nock 9 that calls this formula as an arm
 * have a jet?  Only calls of candidates reach `run`, which either computes
 * the product (allocating in nock_context_region(nock), never collecting),
 * declines (the Nock runs), or crashes (it may set a reason with
 * nock_set_crash_reason).  A jet must give exactly what the Nock gives. */
struct nock_jet_hooks {
    void *context;
    const uint64_t *generation;
    bool (*is_candidate)(void *context, noun formula);
    enum nock_jet_result (*run)(void *context, struct nock_context *nock, noun core, noun axis,
                                noun formula, noun *product);
};

/* Read tracking, for the STM backend (interp/stm.h).  When `walk` is set,
 * the context compiles formulas with extra instructions that report what
 * the code looks at: `walk` for every axis walk (Nock 0 from the subject,
 * Nock 10 from its target, Nock 9 from its core) and `whole` for every
 * noun inspected as a whole (both sides of a Nock 5, a Nock 2 formula, the
 * arm a Nock 9 calls, the subject of a %memo).  A context without a
 * tracker compiles exactly the code it always did, so the hot loop pays
 * nothing for this.  The hooks run on the evaluating thread, must not
 * allocate in the context's scratch, and may call nock_interrupt to stop
 * the evaluation early. */
struct nock_tracker {
    void *context;
    void (*walk)(void *context, noun from, noun axis);
    void (*whole)(void *context, noun n);
};

struct nock_config {
    size_t scratch_max_bytes; /* each half of scratch; 0 = the default (8 GiB
                                 unless nock_set_default_scratch_bytes) */
    /* Keep the %memo cache across nock_context_reset: its entries are copied
     * to home there (so reset writes home: only for a context whose owner
     * may), kept until a home collection drops them, and cleared when they
     * pass NOCK_MEMO_MAX_ENTRIES or NOCK_MEMO_MAX_HOME_BYTES.  Without it the
     * cache lasts until the next reset. */
    bool keep_memo;
    uint64_t max_depth;       /* nested non-tail calls; 0 = default (10M) */
    struct nock_hooks hooks;
    struct nock_jet_hooks jets;
    struct nock_tracker tracker;
};

#define NOCK_MEMO_MAX_ENTRIES ((size_t)1 << 18)
#define NOCK_MEMO_MAX_HOME_BYTES ((size_t)512 << 20)

struct nock_context;

/* The size of each scratch half for contexts made with scratch_max_bytes
 * 0 from now on (0 puts back 8 GiB).  Not thread-safe: set it before
 * making contexts on other threads. */
void nock_set_default_scratch_bytes(size_t bytes);
size_t nock_default_scratch_bytes(void);

struct nock_context *nock_context_new(struct noun_home *home, const struct nock_config *config);
void nock_context_free(struct nock_context *context);

/* *[subject formula].  subject and formula may live in home or in this
 * context's scratch.  Other scratch nouns the caller holds may be moved by
 * a collection during the evaluation: copy them out first. */
struct nock_outcome nock_evaluate(struct nock_context *context, noun subject, noun formula);

/* Ask a running evaluation to stop soon with NOCK_INTERRUPTED.  Safe from a
 * signal handler or another thread.  A request made while nothing runs is
 * cleared when the next evaluation starts. */
void nock_interrupt(struct nock_context *context);

/* The scratch region nouns of this context are built in (for parsers and
 * cue that want to build nouns the evaluator will read). */
struct noun_region *nock_context_region(struct nock_context *context);
struct noun_home *nock_context_home(struct nock_context *context);
/* Drop all scratch nouns (after their useful parts were copied out). */
void nock_context_reset(struct nock_context *context);
const struct nock_counters *nock_context_counters(const struct nock_context *context);
/* ---- sampling profilers ----------------------------------------------------
 *
 * A sampler (profiler/sampler.h) asks, from another thread or a signal
 * handler, for a look at the running evaluation; the machine answers at its
 * next safe point (the start of a call, usually well under a microsecond
 * away) by calling the sampler on the evaluating thread, where it may read
 * the stack with the two functions below.  Asking costs the machine
 * nothing while no one asks: it rides on the safe-point test it makes
 * anyway.  The sampler must not allocate in scratch or evaluate. */
typedef void nock_sampler(void *sampler_context, struct nock_context *nock);
void nock_set_sampler(struct nock_context *context, nock_sampler *sampler, void *sampler_context);
/* Async-signal-safe and thread-safe.  A request not answered when its
 * evaluation ends is answered at the start of the next one (so evaluations
 * shorter than a call's length are sampled too, as their outermost call);
 * samplers ask only while nock_context_running says one runs. */
void nock_request_sample(struct nock_context *context);
/* Whether an evaluation is running in the context now (thread-safe; the
 * answer may be stale by the time it is used). */
bool nock_context_running(const struct nock_context *context);
/* During a sampler's call: the subjects of the calls in progress (Nock 2
 * and 9 that were not tail calls, plus the evaluation itself), outermost
 * first, the last being the subject of the formula now entered.  At most
 * `max` are written, the innermost ones when there are more. */
size_t nock_context_call_subjects(const struct nock_context *context, noun *subjects, size_t max);
/* The %spot/%hunk/%mean/%lose clues the running evaluation is under, as
 * `*pairs` pairs [tag clue], outermost first.  Only reads the context, so
 * a fault handler on the evaluating thread may call it (a fault in the
 * middle of a trace push can leave the last pair stale). */
const noun *nock_context_trace(const struct nock_context *context, size_t *pairs);

/* For jets: the reason a NOCK_JET_CRASH reports (a static string). */
void nock_set_crash_reason(struct nock_context *context, const char *reason);
/* Whether nock_interrupt was called since the evaluation began. */
bool nock_interrupt_requested(const struct nock_context *context);
/* Drop all compiled code and %memo entries, and reset scratch: for a
 * context that evaluated formulas living in memory about to be reused
 * (another context's scratch). */
void nock_context_forget(struct nock_context *context);

/* ---- %par ------------------------------------------------------------------
 *
 * [11 [%par clue] body], where *[subject clue] is [gate list] and body
 * computes (turn list gate) in plain Nock.  With no mapper installed, the
 * clue is computed and dropped and body runs (as for any hint).  A mapper
 * (the threads backend) may instead slam gate on every item in parallel:
 * it builds the product list in nock_context_region(nock) and returns
 * DONE, or returns CRASH with *product the trace (innermost first) of the
 * lowest-numbered crashing item, which the evaluator puts inside its own
 * trace, and that item's reason set with nock_set_crash_reason.  DECLINED runs body.  While map runs, the calling context's
 * scratch does not move, so other threads may read gate and list.
 *
 * Check mode (nock_set_par_check): when the mapper maps, body runs too and
 * a difference crashes with a trace that says so. */
enum nock_par_result {
    NOCK_PAR_DECLINED,
    NOCK_PAR_DONE,
    NOCK_PAR_CRASH,
    NOCK_PAR_INTERRUPTED,
    NOCK_PAR_OUT_OF_MEMORY,
};
struct nock_par_mapper {
    void *context;
    enum nock_par_result (*map)(void *context, struct nock_context *nock, noun gate, noun list, noun *product);
};
/* Install (NULL: remove) the mapper every context uses.  Process-wide: the
 * backend is chosen for the whole program, and contexts are made in every
 * layer.  The mapper must outlive its installation. */
void nock_set_par_mapper(const struct nock_par_mapper *mapper);
const struct nock_par_mapper *nock_par_mapper(void);
void nock_set_par_check(bool check);
bool nock_par_checking(void);

/* For jets that run Nock (+mink, higher-order arms): *[subject formula]
 * evaluated inside the running evaluation of `context`, on top of its
 * stacks, with its own trace (a crash's trace holds only the hints met
 * inside) and its crash returned as a value.  Scratch may be collected
 * meanwhile: every scratch noun the jet still needs afterwards must be
 * named in `held` (their slots are updated), and the jet's core too.
 *
 * `scry_gate`, if not NOUN_NONE, answers Nock 12 [ref path] inside, as
 * +mink's gate does: it is slammed with [ref path] as part of the caller's
 * computation; ~ blocks (NOCK_BLOCKED, product = path), [~ ~] crashes with
 * [%hunk [ref path]] on the trace, [~ ~ value] gives value.  Without one,
 * Nock 12 goes to the gate of the nearest enclosing nested evaluation that
 * has one, or crashes when there is none.
 *
 * Out of memory, too deep and interrupted come back as such; the jet
 * returns nock_jet_pass_on(context, outcome) for them (and for an outcome
 * whose escalation says it belongs further out), so they end the
 * evaluation the jet runs in the same way. */
struct nock_outcome nock_evaluate_nested(struct nock_context *context, noun subject, noun formula, noun scry_gate,
                                         noun *const *held, size_t held_count);
/* For jets that memoize (as Vere's type-checker jets do): the %memo cache,
 * under a key the jet builds.  So that no %memo hint can make the same key
 * (a hint's key is [subject formula]), a jet's key is a cell whose tail is
 * [tag ...] with `tag` an atom above 12, which no formula starts with. */
bool nock_memo_find(struct nock_context *context, noun key, noun *value);
void nock_memo_save(struct nock_context *context, noun key, noun value);

/* How many nested evaluations are running now (0 in a jet called from a
 * top-level evaluation): each holds C stack, so a jet that would nest
 * deeper than it cares to declines instead. */
uint32_t nock_nesting(const struct nock_context *context);

/* What a jet returns to make its call come to `outcome`, as seen from the
 * jet's caller: a crash (escalation 0) crashes there, with the caller's
 * trace; a block blocks there; a non-Nock outcome ends the evaluation. */
enum nock_jet_result nock_jet_pass_on(struct nock_context *context, struct nock_outcome outcome);


#endif
