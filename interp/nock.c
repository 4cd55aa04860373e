/* nock.c -- the Nock 4K evaluator.
 *
 * A formula is compiled, the first time it is evaluated, into threaded code
 * for a small stack machine (struct nock_code), and the code is cached by
 * the formula's mug and structure; each call site also remembers the code
 * it called last.  The machine keeps every live noun in three places
 * the scratch collector can find: the subject register, the value stack and
 * the frame stack.  Calls (Nock 2 and 9) in tail position replace the
 * subject and jump, so loops run in constant frame space; other calls push a
 * frame.  Nothing here recurses on the C stack while evaluating; compiling
 * recurses on the formula's shape only to a fixed depth, past which the
 * deeper part becomes its own code, compiled when reached.
 *
 * Safe points: scratch is collected, and interrupts are honoured, only when
 * a call starts, where all live nouns are in those three places.
 */
#include "interp/nock.h"
#include "interp/clock.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/mug.h"

_Static_assert(offsetof(struct noun_cell, head) == 8 && offsetof(struct noun_cell, tail) == 16,
               "the fragment walk in the machine relies on this layout");

#define DEFAULT_SCRATCH_BYTES ((size_t)8 << 30)
/* What scratch_max_bytes 0 means: the program sizes it to its address
 * space once, at start or from a setting (nock_set_default_scratch_bytes). */
static size_t default_scratch_bytes = DEFAULT_SCRATCH_BYTES;

void nock_set_default_scratch_bytes(size_t bytes) { default_scratch_bytes = bytes ? bytes : DEFAULT_SCRATCH_BYTES; }
size_t nock_default_scratch_bytes(void) { return default_scratch_bytes; }
#define DEFAULT_MAX_DEPTH 10000000
/* Formula nesting compiled into one piece of code before the rest is
 * deferred to code of its own. */
#define COMPILE_MAX_NESTING 512

/* Hint tags, as atoms (bytes least significant first). */
#define TAG_SPOT 0x746f7073u
#define TAG_HUNK 0x6b6e7568u
#define TAG_MEAN 0x6e61656du
#define TAG_LOSE 0x65736f6cu
#define TAG_SLOG 0x676f6c73u
#define TAG_MEMO 0x6f6d656du
#define TAG_BOUT 0x74756f62u
#define TAG_FAST 0x74736166u
#define TAG_PAR  0x726170u

/* Machine instructions.  Operands follow the instruction word in the code;
 * "noun" operands may point into scratch and are relocated by collections
 * (their offsets are listed in the code's relocation table). */
enum nock_op {
    OP_SUBJECT,        /* push subject                          Nock 0 1 */
    OP_HEAD,           /* push head of subject                  Nock 0 2 */
    OP_TAIL,           /* push tail of subject                  Nock 0 3 */
    OP_FRAGMENT,       /* axis(direct) : push /axis of subject  Nock 0 */
    /* OP_AXIS_4 .. OP_AXIS_63: push /N of subject, the walk unrolled */
    OP_AXIS_4,
    OP_AXIS_63 = OP_AXIS_4 + 59,
    OP_FRAGMENT_BIG,   /* axis(noun)                            Nock 0 */
    OP_CONSTANT,       /* value(noun) : push                    Nock 1 */
    OP_CONS,           /* pop tail, head; push [head tail]      autocons */
    OP_IS_CELL,        /* Nock 3 */
    OP_INCREMENT,      /* Nock 4 */
    OP_EQUAL,          /* Nock 5 */
    OP_BRANCH,         /* else-target : pop test; 0 falls through, 1 jumps  Nock 6 */
    OP_JUMP,           /* target */
    OP_SUBJECT_ENTER,  /* pop v; push subject; subject = v      Nock 7 */
    OP_SUBJECT_SET,    /* subject = pop  (tail position)        Nock 7 */
    OP_PIN_ENTER,      /* pop v; push subject; subject = [v subject]  Nock 8 */
    OP_PIN_SET,        /* subject = [pop subject] (tail)        Nock 8 */
    OP_SUBJECT_LEAVE,  /* pop result; subject = pop; push result */
    OP_EVAL,           /* cache(2 words) : pop formula, subject; call       Nock 2 */
    OP_EVAL_TAIL,      /* cache(2 words) */
    OP_EVAL_DEFERRED,  /* cache : as OP_EVAL_TAIL/EVAL, but counts no step */
    OP_EVAL_DEFERRED_TAIL,
    OP_ARM,            /* axis(noun) cache(2) : pop core; call /axis of it  Nock 9 */
    OP_ARM_TAIL,
    OP_EDIT,           /* axis(noun) : pop target, value; push edited        Nock 10 */
    OP_HINT_STATIC,    /* count a static hint                   Nock 11 */
    OP_HINT_DROP,      /* pop a dynamic clue we don't act on    Nock 11 */
    OP_TRACE_PUSH,     /* tag : pop clue onto the trace          Nock 11 */
    OP_TRACE_POP,
    OP_SLOG,           /* pop clue; tell the slog hook           Nock 11 */
    OP_MEMO_LOOKUP,    /* formula(noun) done-target : key [subject formula]  Nock 11 */
    OP_MEMO_STORE,
    OP_BOUT_START,     /* Nock 11 */
    OP_BOUT_END,
    OP_FAST,           /* pop core, clue; tell the fast hook; push core     Nock 11 */
    OP_PAR,            /* done-target : pop clue; map it in parallel, or run the body  Nock 11 */
    OP_PAR_END,        /* pop body product, flag; check against the map's product */
    OP_SCRY,           /* pop path, ref; push the scry gate's answer       Nock 12 */
    OP_CRASH,          /* reason(char *) */
    OP_TRACK,          /* kind axis(noun) : report a read (only in contexts
                          with a tracker: see nock.h and enum track_kind) */
    OP_RETURN,
    OP_HALT,
    OP_COUNT
};

/* Compiled code for one formula.  `ops` holds instruction words (label
 * addresses once threaded) and operands.  `relocations` lists the indices of
 * noun operands, so a scratch collection can move the nouns they name.
 * `max_stack` is the most values this code pushes beyond its entry, so the
 * machine reserves stack once per call instead of per push. */
struct nock_code {
    noun formula;
    uint32_t mug;                 /* the formula's mug: the cache's key */
    struct nock_code *next_all;   /* list of every code in the context */
    uint32_t length;
    uint32_t relocation_count;
    uint32_t max_stack;
    uint32_t call_cache_count;
    /* 2 * (the jet dashboard generation it was last checked at), plus 1 if
     * some jet may match calls of this arm: one compare on the hot path
     * tells "checked and no jet". */
    uint64_t jet_stamp;
    uint32_t *relocations;
    uint32_t *call_caches;        /* indices of call-site cache words */
    uint64_t *ops;
};

/* A call's return: where to continue and the caller's subject. */
struct nock_frame {
    uint64_t *return_pc;
    noun subject;
};

struct memo_entry {
    noun key;     /* [subject formula], 0 when the slot is empty */
    noun value;
};

struct nock_context {
    struct noun_home *home;
    struct noun_region *region;
    struct nock_config config;
    struct nock_counters counters;
    volatile int interrupt_requested;
    /* Sampling: nock_request_sample sets sample_requested and zeroes the
     * region's collection trigger, so the safe-point test the machine
     * makes anyway also catches it and the hot loop pays nothing extra;
     * the machine then calls `sampler` on its own thread. */
    volatile int sample_requested;
    int evaluations_running;      /* nock_evaluate calls in progress (atomic) */
    nock_sampler *sampler;
    void *sampler_context;

    /* machine state; valid in these fields at safe points */
    noun subject;
    noun *stack;                  /* value stack */
    size_t stack_capacity, stack_count;
    struct nock_frame *frames;
    size_t frame_capacity, frame_count;
    size_t frame_limit;           /* min(frame_capacity, max_depth) */
    noun *trace;                  /* [tag clue] pairs, innermost last */
    size_t trace_capacity, trace_count;

    /* code cache: formula (by mug, then structure) -> code, open addressing */
    struct nock_code **code_table;
    size_t code_table_capacity, code_table_count;
    struct nock_code *all_code;
    struct nock_code *halt_code;

    struct memo_entry *memo;
    size_t memo_capacity, memo_count;
    size_t memo_home_bytes;       /* home the kept entries took (keep_memo) */

    /* Nested evaluations (jets that run Nock) run on top of the stacks:
     * the running one owns the entries from these floors up (0, 0, 0 and
     * nesting 0 for a top-level evaluation). */
    size_t stack_floor, frame_floor, trace_floor;
    uint32_t nesting;
    /* the scry gates of the nested evaluations given one, innermost last */
    noun *scry_gates;
    size_t scry_capacity, scry_count;
    /* what a jet that returned NOCK_JET_PASS_ON passes on */
    struct nock_outcome passed;

    const void *const *labels;    /* instruction number -> machine label */
    jmp_buf escape;               /* out of memory leaves through here */
    const char *crash_reason;
};

/* ---- code cache ---------------------------------------------------------- */

/* Codes are found by the formula's mug and then structural equality, so a
 * formula rebuilt at a new address each time round a loop reuses one code,
 * and a collection that moves formulas needs no rehash. */
static struct nock_code *code_lookup(struct nock_context *context, noun formula)
{
    uint32_t mug = mug_noun(formula);
    size_t mask = context->code_table_capacity - 1;
    for (size_t i = mug & mask; context->code_table[i]; i = (i + 1) & mask) {
        struct nock_code *code = context->code_table[i];
        if (code->mug == mug && (code->formula == formula || noun_equal(code->formula, formula)))
            return code;
    }
    return NULL;
}

static bool code_table_insert(struct nock_context *context, struct nock_code *code);

static bool code_table_rebuild(struct nock_context *context, size_t capacity)
{
    struct nock_code **table = calloc(capacity, sizeof *table);
    if (!table)
        return false;
    free(context->code_table);
    context->code_table = table;
    context->code_table_capacity = capacity;
    context->code_table_count = 0;
    for (struct nock_code *code = context->all_code; code; code = code->next_all)
        code_table_insert(context, code);
    return true;
}

static bool code_table_insert(struct nock_context *context, struct nock_code *code)
{
    if ((context->code_table_count + 1) * 2 > context->code_table_capacity) {
        /* the new code is already on all_code, so the rebuild inserts it */
        return code_table_rebuild(context, context->code_table_capacity * 2);
    }
    size_t mask = context->code_table_capacity - 1, i = code->mug & mask;
    while (context->code_table[i])
        i = (i + 1) & mask;
    context->code_table[i] = code;
    context->code_table_count++;
    return true;
}

static void code_free(struct nock_code *code)
{
    free(code->relocations);
    free(code->call_caches);
    free(code->ops);
    free(code);
}

/* Forget the call-site caches that name codes about to be freed. */
static void code_clear_call_caches(struct nock_context *context);

/* Drop codes whose formula satisfies `doomed` (all of them if NULL). */
static void code_drop(struct nock_context *context, bool (*doomed)(struct nock_context *, struct nock_code *))
{
    code_clear_call_caches(context);
    struct nock_code **link = &context->all_code;
    while (*link) {
        struct nock_code *code = *link;
        if (!doomed || doomed(context, code)) {
            *link = code->next_all;
            code_free(code);
        } else {
            link = &code->next_all;
        }
    }
    code_table_rebuild(context, context->code_table_capacity);
}

static bool code_in_scratch(struct nock_context *context, struct nock_code *code)
{
    return noun_region_holds(context->region, code->formula);
}

static void memo_clear(struct nock_context *context);

/* Home nouns moved: codes of home formulas and the kept %memo entries name
 * old addresses, so both go. */
static void on_home_collect(void *context)
{
    code_drop(context, NULL);
    memo_clear(context);
}

/* ---- compiling ----------------------------------------------------------- */

/* Code under construction. */
struct assembler {
    uint64_t *ops;
    size_t length, capacity;
    uint32_t *relocations;
    size_t relocation_count, relocation_capacity;
    uint32_t *call_caches;
    size_t call_cache_count, call_cache_capacity;
    int stack_depth, max_stack;
    bool failed;
    bool track;       /* emit the read-tracking instructions */
};

static void emit(struct assembler *a, uint64_t word)
{
    if (a->length == a->capacity) {
        size_t capacity = a->capacity ? a->capacity * 2 : 32;
        uint64_t *ops = realloc(a->ops, capacity * sizeof *ops);
        if (!ops) {
            a->failed = true;
            return;
        }
        a->ops = ops;
        a->capacity = capacity;
    }
    a->ops[a->length++] = word;
}

/* Remember the index of the word about to be emitted in a list. */
static void note_index(struct assembler *a, uint32_t **list, size_t *count, size_t *capacity)
{
    if (*count == *capacity) {
        size_t bigger = *capacity ? *capacity * 2 : 8;
        uint32_t *r = realloc(*list, bigger * sizeof *r);
        if (!r) {
            a->failed = true;
            return;
        }
        *list = r;
        *capacity = bigger;
    }
    (*list)[(*count)++] = (uint32_t)a->length;
}

static void emit_noun(struct assembler *a, noun n)
{
    if (!noun_is_direct(n))
        note_index(a, &a->relocations, &a->relocation_count, &a->relocation_capacity);
    emit(a, n);
}

/* Track the value-stack height the code reaches. */
static void stack_change(struct assembler *a, int delta)
{
    a->stack_depth += delta;
    if (a->stack_depth > a->max_stack)
        a->max_stack = a->stack_depth;
}

static void emit_op(struct assembler *a, enum nock_op op, int stack_delta)
{
    emit(a, op);
    stack_change(a, stack_delta);
}

static void emit_crash(struct assembler *a, const char *reason)
{
    emit_op(a, OP_CRASH, 0);
    emit(a, (uint64_t)(uintptr_t)reason);
}

/* A call-site cache: the code last called from here. */
static void emit_call_cache(struct assembler *a)
{
    note_index(a, &a->call_caches, &a->call_cache_count, &a->call_cache_capacity);
    emit(a, 0);
}

static void compile(struct assembler *a, noun formula, bool tail, int nesting);

static void compile_return_if_tail(struct assembler *a, bool tail)
{
    if (tail)
        emit_op(a, OP_RETURN, 0);
}

/* What an OP_TRACK reports, about what the next instruction looks at. */
enum track_kind {
    TRACK_WALK,             /* a walk of `axis` from the subject (Nock 0) */
    TRACK_WALK_TOP,         /* ... from the top value (Nock 10's target) */
    TRACK_ARM,              /* that walk, then the arm as a whole (Nock 9) */
    TRACK_WHOLE_TOP,        /* the top value as a whole (Nock 2's formula) */
    TRACK_WHOLE_TOP_TWO,    /* the two top values, unless one word (Nock 5) */
    TRACK_WHOLE_SUBJECT,    /* the subject as a whole (%memo) */
};

/* In a tracking context: report what the next instruction will look at.
 * One instruction for every kind, whose work is out of line, so that the
 * machine's hot loop compiles as it does without it. */
static void emit_track(struct assembler *a, enum track_kind kind, noun axis)
{
    if (!a->track)
        return;
    emit_op(a, OP_TRACK, 0);
    emit(a, kind);
    emit_noun(a, axis);
}

static void compile_fragment(struct assembler *a, noun axis)
{
    if (axis != 0 && axis != 1 && noun_is_atom(axis))
        emit_track(a, TRACK_WALK, axis);
    if (axis == 0 || !noun_is_atom(axis)) {
        emit_crash(a, noun_is_atom(axis) ? "Nock 0 with axis 0" : "Nock 0 with a cell for an axis");
        stack_change(a, 1);
    } else if (axis == 1) {
        emit_op(a, OP_SUBJECT, 1);
    } else if (axis == 2) {
        emit_op(a, OP_HEAD, 1);
    } else if (axis == 3) {
        emit_op(a, OP_TAIL, 1);
    } else if (axis >= 4 && axis <= 63) {
        emit_op(a, (enum nock_op)(OP_AXIS_4 + (axis - 4)), 1);
    } else if (noun_is_direct(axis)) {
        emit_op(a, OP_FRAGMENT, 1);
        emit(a, axis);
    } else {
        emit_op(a, OP_FRAGMENT_BIG, 1);
        emit_noun(a, axis);
    }
}

/* Unpack [x y] or fail; the compiled code then crashes when reached. */
static bool split(noun n, noun *head, noun *tail)
{
    if (!noun_is_cell(n))
        return false;
    *head = noun_head(n);
    *tail = noun_tail(n);
    return true;
}

static void compile_branch(struct assembler *a, noun arguments, bool tail, int nesting)
{
    noun test, rest, yes, no;
    if (!split(arguments, &test, &rest) || !split(rest, &yes, &no)) {
        emit_crash(a, "Nock 6 needs [test yes no]");
        stack_change(a, 1);
        compile_return_if_tail(a, tail);
        return;
    }
    compile(a, test, false, nesting + 1);
    emit_op(a, OP_BRANCH, -1);
    size_t else_operand = a->length;
    emit(a, 0);
    int depth = a->stack_depth;
    compile(a, yes, tail, nesting + 1);
    size_t end_operand = 0;
    if (!tail) {
        emit_op(a, OP_JUMP, 0);
        end_operand = a->length;
        emit(a, 0);
    }
    if (!a->failed)
        a->ops[else_operand] = a->length;
    a->stack_depth = depth;
    compile(a, no, tail, nesting + 1);
    if (!tail && !a->failed)
        a->ops[end_operand] = a->length;
}

/* Nock 7 and 8: evaluate `product` as the new subject (8: pinned to the
 * old one) and `body` against it. */
static void compile_compose(struct assembler *a, noun arguments, bool pin, bool tail, int nesting)
{
    noun product, body;
    if (!split(arguments, &product, &body)) {
        emit_crash(a, pin ? "Nock 8 needs [b c]" : "Nock 7 needs [b c]");
        stack_change(a, 1);
        compile_return_if_tail(a, tail);
        return;
    }
    compile(a, product, false, nesting + 1);
    if (tail) {
        emit_op(a, pin ? OP_PIN_SET : OP_SUBJECT_SET, -1);
        compile(a, body, true, nesting + 1);
    } else {
        emit_op(a, pin ? OP_PIN_ENTER : OP_SUBJECT_ENTER, 0);
        compile(a, body, false, nesting + 1);
        emit_op(a, OP_SUBJECT_LEAVE, -1);
    }
}

static void compile_hint(struct assembler *a, noun arguments, bool tail, int nesting)
{
    noun hint, body;
    if (!split(arguments, &hint, &body)) {
        emit_crash(a, "Nock 11 needs [hint body]");
        stack_change(a, 1);
        compile_return_if_tail(a, tail);
        return;
    }
    if (noun_is_atom(hint)) {
        emit_op(a, OP_HINT_STATIC, 0);
        compile(a, body, tail, nesting + 1);
        return;
    }
    noun tag = noun_head(hint), clue = noun_tail(hint);
    compile(a, clue, false, nesting + 1);
    switch (noun_is_direct(tag) ? tag : 0) {
    case TAG_SPOT: case TAG_HUNK: case TAG_MEAN: case TAG_LOSE:
        emit_op(a, OP_TRACE_PUSH, -1);
        emit(a, tag);
        compile(a, body, false, nesting + 1);
        emit_op(a, OP_TRACE_POP, 0);
        break;
    case TAG_SLOG:
        emit_op(a, OP_SLOG, -1);
        compile(a, body, tail, nesting + 1);
        return;
    case TAG_MEMO: {
        emit_op(a, OP_HINT_DROP, -1);
        emit_track(a, TRACK_WHOLE_SUBJECT, 0);
        emit_op(a, OP_MEMO_LOOKUP, 1);
        emit_noun(a, body);
        size_t done_operand = a->length;
        emit(a, 0);
        compile(a, body, false, nesting + 1);
        emit_op(a, OP_MEMO_STORE, -1);
        if (!a->failed)
            a->ops[done_operand] = a->length;
        break;
    }
    case TAG_BOUT:
        /* the clue stays under the start time, to name the span */
        emit_op(a, OP_BOUT_START, 1);
        compile(a, body, false, nesting + 1);
        emit_op(a, OP_BOUT_END, -2);
        break;
    case TAG_FAST:
        compile(a, body, false, nesting + 1);
        emit_op(a, OP_FAST, -1);
        break;
    case TAG_PAR: {
        /* OP_PAR leaves [map-product flag] for OP_PAR_END to check the
         * body against, or jumps past both with the map's product. */
        emit_op(a, OP_PAR, 1);
        size_t done_operand = a->length;
        emit(a, 0);
        compile(a, body, false, nesting + 1);
        emit_op(a, OP_PAR_END, -2);
        if (!a->failed)
            a->ops[done_operand] = a->length;
        break;
    }
    default:
        emit_op(a, OP_HINT_DROP, -1);
        compile(a, body, tail, nesting + 1);
        return;
    }
    compile_return_if_tail(a, tail);
}

/* Emit code that pushes *[subject formula] (or, in tail position, returns
 * it or tail-calls). */
static void compile(struct assembler *a, noun formula, bool tail, int nesting)
{
    if (a->failed)
        return;
    if (nesting > COMPILE_MAX_NESTING) {
        emit_op(a, OP_SUBJECT, 1);
        emit_op(a, OP_CONSTANT, 1);
        emit_noun(a, formula);
        emit_op(a, tail ? OP_EVAL_DEFERRED_TAIL : OP_EVAL_DEFERRED, -1);
        emit_call_cache(a);
        return;
    }
    noun op, arguments;
    if (!split(formula, &op, &arguments)) {
        emit_crash(a, "a formula must be a cell");
        stack_change(a, 1);
        compile_return_if_tail(a, tail);
        return;
    }
    if (noun_is_cell(op)) {
        compile(a, op, false, nesting + 1);
        compile(a, arguments, false, nesting + 1);
        emit_op(a, OP_CONS, -1);
        compile_return_if_tail(a, tail);
        return;
    }
    noun b, c;
    switch (noun_is_direct(op) && op <= 12 ? op : 13) {
    case 0:
        compile_fragment(a, arguments);
        break;
    case 1:
        emit_op(a, OP_CONSTANT, 1);
        emit_noun(a, arguments);
        break;
    case 2:
        if (!split(arguments, &b, &c))
            goto malformed;
        compile(a, b, false, nesting + 1);
        compile(a, c, false, nesting + 1);
        emit_track(a, TRACK_WHOLE_TOP, 0);
        emit_op(a, tail ? OP_EVAL_TAIL : OP_EVAL, -1);
        emit_call_cache(a);
        return;
    case 3: case 4:
        compile(a, arguments, false, nesting + 1);
        emit_op(a, op == 3 ? OP_IS_CELL : OP_INCREMENT, 0);
        break;
    case 5:
        if (!split(arguments, &b, &c))
            goto malformed;
        compile(a, b, false, nesting + 1);
        compile(a, c, false, nesting + 1);
        emit_track(a, TRACK_WHOLE_TOP_TWO, 0);
        emit_op(a, OP_EQUAL, -1);
        break;
    case 6:
        compile_branch(a, arguments, tail, nesting);
        return;
    case 7: case 8:
        compile_compose(a, arguments, op == 8, tail, nesting);
        return;
    case 9:
        if (!split(arguments, &b, &c))
            goto malformed;
        if (!noun_is_atom(b) || b == 0) {
            emit_crash(a, "Nock 9 needs an axis above 0");
            stack_change(a, 1);
            break;
        }
        compile(a, c, false, nesting + 1);
        emit_track(a, TRACK_ARM, b);
        emit_op(a, tail ? OP_ARM_TAIL : OP_ARM, 0);
        emit_noun(a, b);
        emit_call_cache(a);
        return;
    case 10: {
        noun axis, value;
        if (!split(arguments, &b, &c) || !split(b, &axis, &value))
            goto malformed;
        if (!noun_is_atom(axis) || axis == 0) {
            emit_crash(a, "Nock 10 needs an axis above 0");
            stack_change(a, 1);
            break;
        }
        compile(a, value, false, nesting + 1);
        compile(a, c, false, nesting + 1);
        emit_track(a, TRACK_WALK_TOP, axis);
        emit_op(a, OP_EDIT, -1);
        emit_noun(a, axis);
        break;
    }
    case 11:
        compile_hint(a, arguments, tail, nesting);
        return;
    case 12:
        if (!split(arguments, &b, &c))
            goto malformed;
        compile(a, b, false, nesting + 1);
        compile(a, c, false, nesting + 1);
        emit_op(a, OP_SCRY, -1);
        break;
    default:
        emit_crash(a, "no such Nock opcode");
        stack_change(a, 1);
        break;
    }
    compile_return_if_tail(a, tail);
    return;
malformed:
    emit_crash(a, "malformed formula");
    stack_change(a, 1);
    compile_return_if_tail(a, tail);
}

/* Turn instruction numbers into label addresses (threaded code). */
static void thread_code(struct nock_context *context, struct nock_code *code, const uint8_t *is_instruction)
{
    for (uint32_t i = 0; i < code->length; i++)
        if (is_instruction[i])
            code->ops[i] = (uint64_t)(uintptr_t)context->labels[code->ops[i]];
}

static int op_operand_count(enum nock_op op)
{
    switch (op) {
    case OP_FRAGMENT: case OP_FRAGMENT_BIG: case OP_CONSTANT: case OP_BRANCH: case OP_JUMP:
    case OP_EVAL: case OP_EVAL_TAIL: case OP_EVAL_DEFERRED: case OP_EVAL_DEFERRED_TAIL:
    case OP_EDIT: case OP_TRACE_PUSH: case OP_CRASH:
        return 1;
    case OP_PAR:
        return 1;
    case OP_ARM: case OP_ARM_TAIL: case OP_MEMO_LOOKUP: case OP_TRACK:
        return 2;
    default:
        return 0;
    }
}

static struct nock_code *code_compile(struct nock_context *context, noun formula)
{
    struct assembler a = { .track = context->config.tracker.walk != NULL };
    compile(&a, formula, true, 0);
    struct nock_code *code = calloc(1, sizeof *code);
    uint8_t *is_instruction = calloc(a.length + 1, 1);
    if (a.failed || !code || !is_instruction) {
        free(a.ops);
        free(a.relocations);
        free(a.call_caches);
        free(code);
        free(is_instruction);
        return NULL;
    }
    for (size_t i = 0; i < a.length; i += 1 + op_operand_count((enum nock_op)a.ops[i]))
        is_instruction[i] = 1;
    /* Branch targets were recorded as indices; make them addresses. */
    for (size_t i = 0; i < a.length; i += 1 + op_operand_count((enum nock_op)a.ops[i])) {
        enum nock_op op = (enum nock_op)a.ops[i];
        if (op == OP_BRANCH || op == OP_JUMP)
            a.ops[i + 1] = (uint64_t)(uintptr_t)(a.ops + a.ops[i + 1]);
        else if (op == OP_MEMO_LOOKUP)
            a.ops[i + 2] = (uint64_t)(uintptr_t)(a.ops + a.ops[i + 2]);
        else if (op == OP_PAR)
            a.ops[i + 1] = (uint64_t)(uintptr_t)(a.ops + a.ops[i + 1]);
    }
    code->formula = formula;
    code->mug = mug_noun(formula);
    code->ops = a.ops;
    code->length = (uint32_t)a.length;
    code->relocations = a.relocations;
    code->relocation_count = (uint32_t)a.relocation_count;
    code->call_caches = a.call_caches;
    code->call_cache_count = (uint32_t)a.call_cache_count;
    code->max_stack = (uint32_t)a.max_stack + 2;
    thread_code(context, code, is_instruction);
    free(is_instruction);
    code->next_all = context->all_code;
    context->all_code = code;
    code_table_insert(context, code);
    context->counters.compiled_formulas++;
    return code;
}

static void code_clear_call_caches(struct nock_context *context)
{
    for (struct nock_code *code = context->all_code; code; code = code->next_all)
        for (uint32_t i = 0; i < code->call_cache_count; i++)
            code->ops[code->call_caches[i]] = 0;
}

/* ---- collection ---------------------------------------------------------- */

static void memo_relocate(struct nock_context *context, struct noun_collector *collector);
static void take_sample(struct nock_context *context);

static void enumerate_roots(void *argument, struct noun_collector *collector)
{
    struct nock_context *context = argument;
    noun_collector_visit(collector, &context->subject);
    noun_collector_visit_many(collector, context->stack, context->stack_count);
    for (size_t i = 0; i < context->frame_count; i++)
        noun_collector_visit(collector, &context->frames[i].subject);
    noun_collector_visit_many(collector, context->trace, context->trace_count);
    noun_collector_visit_many(collector, context->scry_gates, context->scry_count);
    /* A code's formula and operands move only when the formula is in the
     * half being evacuated.  (noun_region_holds would be the wrong test
     * here: during a collection it answers for the half being filled.) */
    for (struct nock_code *code = context->all_code; code; code = code->next_all) {
        if (!noun_collector_moves(collector, code->formula))
            continue;
        noun_collector_visit(collector, &code->formula);
        for (uint32_t i = 0; i < code->relocation_count; i++)
            noun_collector_visit(collector, &code->ops[code->relocations[i]]);
    }
    memo_relocate(context, collector);
}

static void collect_scratch(struct nock_context *context)
{
    uint64_t started = clock_wall_nanoseconds();
    noun_region_collect(context->region, enumerate_roots, context);
    context->counters.scratch_collections++;
    context->counters.scratch_collect_ns += clock_wall_nanoseconds() - started;
}

/* ---- memo ---------------------------------------------------------------- */

static size_t memo_find(struct nock_context *context, noun key, uint32_t mug)
{
    size_t mask = context->memo_capacity - 1, i = mug & mask;
    while (context->memo[i].key && !noun_equal(context->memo[i].key, key))
        i = (i + 1) & mask;
    return i;
}

static bool memo_insert(struct nock_context *context, noun key, noun value)
{
    if ((context->memo_count + 1) * 2 > context->memo_capacity) {
        size_t old_capacity = context->memo_capacity;
        struct memo_entry *old = context->memo;
        size_t capacity = old_capacity ? old_capacity * 2 : 256;
        context->memo = calloc(capacity, sizeof *context->memo);
        if (!context->memo) {
            context->memo = old;
            return false;
        }
        context->memo_capacity = capacity;
        context->memo_count = 0;
        for (size_t i = 0; i < old_capacity; i++)
            if (old[i].key)
                memo_insert(context, old[i].key, old[i].value);
        free(old);
    }
    size_t i = memo_find(context, key, mug_noun(key));
    if (!context->memo[i].key)
        context->memo_count++;
    context->memo[i].key = key;
    context->memo[i].value = value;
    return true;
}

static void memo_relocate(struct nock_context *context, struct noun_collector *collector)
{
    for (size_t i = 0; i < context->memo_capacity; i++) {
        if (context->memo[i].key) {
            noun_collector_visit(collector, &context->memo[i].key);
            noun_collector_visit(collector, &context->memo[i].value);
        }
    }
}

static void memo_clear(struct nock_context *context)
{
    memset(context->memo, 0, context->memo_capacity * sizeof *context->memo);
    context->memo_count = 0;
    context->memo_home_bytes = 0;
}

/* Entries keyed by scratch nouns die with scratch. */
static void memo_drop_scratch(struct nock_context *context)
{
    struct memo_entry *old = context->memo;
    size_t capacity = context->memo_capacity;
    bool any = false;
    for (size_t i = 0; i < capacity && !any; i++)
        any = old[i].key && (noun_region_holds(context->region, old[i].key) ||
                             noun_region_holds(context->region, old[i].value));
    if (!any)
        return;
    context->memo = calloc(capacity, sizeof *context->memo);
    context->memo_count = 0;
    if (!context->memo) {
        context->memo = old;
        memset(old, 0, capacity * sizeof *old);
        return;
    }
    for (size_t i = 0; i < capacity; i++)
        if (old[i].key && !noun_region_holds(context->region, old[i].key) &&
            !noun_region_holds(context->region, old[i].value))
            memo_insert(context, old[i].key, old[i].value);
    free(old);
}

/* ---- the %par mapper ------------------------------------------------------ */

/* Process-wide: which backend runs %par, and whether to check it.  Read
 * only by OP_PAR, so evaluation without %par never looks at them. */
static const struct nock_par_mapper *par_mapper;
static bool par_check;

void nock_set_par_mapper(const struct nock_par_mapper *mapper)
{
    __atomic_store_n(&par_mapper, mapper, __ATOMIC_RELEASE);
}

const struct nock_par_mapper *nock_par_mapper(void)
{
    return __atomic_load_n(&par_mapper, __ATOMIC_ACQUIRE);
}

void nock_set_par_check(bool check)
{
    __atomic_store_n(&par_check, check, __ATOMIC_RELAXED);
}

bool nock_par_checking(void)
{
    return __atomic_load_n(&par_check, __ATOMIC_RELAXED);
}

/* At reset, with config.keep_memo: copy every entry's scratch parts to home
 * (a key or value keeps its mug, so it keeps its slot).  Home is
 * hash-consed, so what entries share with the kernel or with each other
 * is stored once.  Past the bounds, or if home is full, start afresh. */
static void memo_keep(struct nock_context *context)
{
    struct noun_home *home = context->home;
    if (context->memo_count > NOCK_MEMO_MAX_ENTRIES || context->memo_home_bytes > NOCK_MEMO_MAX_HOME_BYTES) {
        memo_clear(context);
        context->counters.memo_clears++;
        return;
    }
    size_t used_before = noun_home_used(home);
    for (size_t i = 0; i < context->memo_capacity; i++) {
        struct memo_entry *entry = &context->memo[i];
        if (!entry->key)
            continue;
        noun key = noun_home_copy_out(home, context->region, entry->key);
        noun value = key == NOUN_NONE ? NOUN_NONE : noun_home_copy_out(home, context->region, entry->value);
        if (value == NOUN_NONE) {
            memo_clear(context);
            return;
        }
        entry->key = key;
        entry->value = value;
    }
    context->memo_home_bytes += noun_home_used(home) - used_before;
}

bool nock_memo_find(struct nock_context *context, noun key, noun *value)
{
    size_t slot = memo_find(context, key, mug_noun(key));
    if (!context->memo[slot].key)
        return false;
    context->counters.memo_hits++;
    *value = context->memo[slot].value;
    return true;
}

void nock_memo_save(struct nock_context *context, noun key, noun value)
{
    memo_insert(context, key, value);
}

/* ---- the context --------------------------------------------------------- */

static void out_of_memory(void *argument)
{
    struct nock_context *context = argument;
    longjmp(context->escape, 1);
}

static struct nock_outcome run(struct nock_context *context, noun subject, noun formula);

struct nock_context *nock_context_new(struct noun_home *home, const struct nock_config *config)
{
    struct nock_context *context = noun_cache_line_calloc(sizeof *context); /* its counters are hot */
    if (!context)
        return NULL;
    if (config)
        context->config = *config;
    if (!context->config.scratch_max_bytes)
        context->config.scratch_max_bytes = default_scratch_bytes;
    if (!context->config.max_depth)
        context->config.max_depth = DEFAULT_MAX_DEPTH;
    context->home = home;
    context->region = noun_region_new(context->config.scratch_max_bytes);
    context->stack_capacity = 1024;
    context->stack = malloc(context->stack_capacity * sizeof *context->stack);
    context->frame_capacity = 256;
    context->frame_limit = context->frame_capacity < context->config.max_depth ? context->frame_capacity
                                                                               : context->config.max_depth;
    context->frames = malloc(context->frame_capacity * sizeof *context->frames);
    context->trace_capacity = 64;
    context->trace = malloc(context->trace_capacity * sizeof *context->trace);
    context->code_table_capacity = 1024;
    context->code_table = calloc(context->code_table_capacity, sizeof *context->code_table);
    context->memo_capacity = 256;
    context->memo = calloc(context->memo_capacity, sizeof *context->memo);
    context->scry_capacity = 8;
    context->scry_gates = malloc(context->scry_capacity * sizeof *context->scry_gates);
    if (!context->region || !context->stack || !context->frames || !context->trace || !context->scry_gates ||
        !context->code_table || !context->memo || (home && !noun_home_listen(home, on_home_collect, context))) {
        nock_context_free(context);
        return NULL;
    }
    context->region->out_of_memory = out_of_memory;
    context->region->out_of_memory_context = context;
    /* Runs the machine once with no code to learn its label addresses. */
    run(context, 0, NOUN_NONE);
    return context;
}

void nock_context_free(struct nock_context *context)
{
    if (!context)
        return;
    if (context->home)
        noun_home_unlisten(context->home, on_home_collect, context);
    while (context->all_code) {
        struct nock_code *next = context->all_code->next_all;
        code_free(context->all_code);
        context->all_code = next;
    }
    if (context->halt_code)
        code_free(context->halt_code);
    noun_region_free(context->region);
    free(context->stack);
    free(context->frames);
    free(context->trace);
    free(context->scry_gates);
    free(context->code_table);
    free(context->memo);
    free(context);
}

void nock_interrupt(struct nock_context *context)
{
    __atomic_store_n(&context->interrupt_requested, 1, __ATOMIC_RELAXED);
    /* so that the machine's next safe point looks (see `enter`) */
    __atomic_store_n(&context->region->collect_trigger, 0, __ATOMIC_RELAXED);
}

struct noun_region *nock_context_region(struct nock_context *context) { return context->region; }
struct noun_home *nock_context_home(struct nock_context *context) { return context->home; }

const struct nock_counters *nock_context_counters(const struct nock_context *context)
{
    return &context->counters;
}

void nock_set_sampler(struct nock_context *context, nock_sampler *sampler, void *sampler_context)
{
    context->sampler = sampler;
    context->sampler_context = sampler_context;
}

bool nock_context_running(const struct nock_context *context)
{
    return __atomic_load_n(&context->evaluations_running, __ATOMIC_RELAXED) > 0;
}

void nock_request_sample(struct nock_context *context)
{
    __atomic_store_n(&context->sample_requested, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&context->region->collect_trigger, 0, __ATOMIC_RELEASE);
}

/* At a safe point with a sample asked for: put the trigger back first (a
 * request arriving meanwhile zeroes it again and is seen at the next safe
 * point), then let the sampler look. */
static void take_sample(struct nock_context *context)
{
    __atomic_store_n(&context->sample_requested, 0, __ATOMIC_RELAXED);
    noun_region_restore_trigger(context->region);
    if (context->sampler)
        context->sampler(context->sampler_context, context);
}

size_t nock_context_call_subjects(const struct nock_context *context, noun *subjects, size_t max)
{
    /* frames[0] returns to HALT with the evaluation's subject; frames[i]
     * (i >= 1) holds the subject of the level that made call i; the
     * innermost level's subject is the machine's register, spilled. */
    size_t levels = context->frame_count;
    size_t first = levels > max ? levels - max : 0;
    size_t written = 0;
    for (size_t level = first; level < levels; level++)
        subjects[written++] = level + 1 < levels ? context->frames[level + 1].subject : context->subject;
    return written;
}

const noun *nock_context_trace(const struct nock_context *context, size_t *pairs)
{
    *pairs = context->trace_count / 2;
    return context->trace;
}

void nock_set_crash_reason(struct nock_context *context, const char *reason)
{
    context->crash_reason = reason;
}

bool nock_interrupt_requested(const struct nock_context *context)
{
    return __atomic_load_n(&context->interrupt_requested, __ATOMIC_RELAXED);
}

void nock_context_forget(struct nock_context *context)
{
    on_home_collect(context);
    nock_context_reset(context);
}

void nock_context_reset(struct nock_context *context)
{
    code_drop(context, code_in_scratch);
    if (context->config.keep_memo && context->home)
        memo_keep(context);
    else
        memo_drop_scratch(context);
    noun_region_reset(context->region);
    context->stack_count = 0;
    context->frame_count = 0;
    context->trace_count = 0;
    context->subject = 0;
}

struct nock_outcome nock_evaluate(struct nock_context *context, noun subject, noun formula)
{
    __atomic_store_n(&context->interrupt_requested, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&context->evaluations_running, 1, __ATOMIC_RELAXED);
    /* a jet that left through the out-of-memory exit left these behind */
    context->stack_floor = context->frame_floor = context->trace_floor = 0;
    context->nesting = 0;
    context->scry_count = 0;
    struct nock_outcome outcome = run(context, subject, formula);
    __atomic_sub_fetch(&context->evaluations_running, 1, __ATOMIC_RELAXED);
    uint64_t steps = 0;
    for (int i = 0; i < 13; i++)
        steps += context->counters.steps_by_opcode[i];
    context->counters.steps = steps;
    return outcome;
}

/* ---- nested evaluations --------------------------------------------------- */

static bool grow_array(void **items, size_t *capacity, size_t needed, size_t item_size);
static bool grow_frames(struct nock_context *context);

/* Run on top of the caller's stacks.  The caller's subject and the nouns it
 * holds go on the value stack below the new floor, where collections find
 * them, and come back from there. */
static struct nock_outcome nested(struct nock_context *context, noun subject, noun formula, noun scry_gate,
                                  noun *const *held, size_t held_count)
{
    /* the machine tests the depth only when it reaches frame_limit */
    if (context->frame_count + 2 >= context->config.max_depth)
        return (struct nock_outcome){ .status = NOCK_TOO_DEEP };
    if (!grow_array((void **)&context->stack, &context->stack_capacity, context->stack_count + held_count + 2,
                    sizeof *context->stack) ||
        (context->frame_count + 1 > context->frame_capacity && !grow_frames(context)) ||
        (scry_gate != NOUN_NONE && !grow_array((void **)&context->scry_gates, &context->scry_capacity,
                                               context->scry_count + 1, sizeof *context->scry_gates)))
        return (struct nock_outcome){ .status = NOCK_OUT_OF_MEMORY };
    size_t stack_floor = context->stack_floor, frame_floor = context->frame_floor;
    size_t trace_floor = context->trace_floor, scry_count = context->scry_count;
    for (size_t i = 0; i < held_count; i++)
        context->stack[context->stack_count++] = *held[i];
    context->stack[context->stack_count++] = context->subject;
    if (scry_gate != NOUN_NONE)
        context->scry_gates[context->scry_count++] = scry_gate;
    context->stack_floor = context->stack_count;
    context->frame_floor = context->frame_count;
    context->trace_floor = context->trace_count;
    context->nesting++;
    jmp_buf escape;
    memcpy(escape, context->escape, sizeof escape);
    struct nock_outcome outcome = run(context, subject, formula);
    memcpy(context->escape, escape, sizeof escape);
    context->nesting--;
    context->scry_count = scry_count;
    context->trace_count = context->trace_floor;
    context->frame_count = context->frame_floor;
    context->stack_count = context->stack_floor;
    context->subject = context->stack[--context->stack_count];
    for (size_t i = held_count; i-- > 0;)
        *held[i] = context->stack[--context->stack_count];
    context->stack_floor = stack_floor;
    context->frame_floor = frame_floor;
    context->trace_floor = trace_floor;
    return outcome;
}

struct nock_outcome nock_evaluate_nested(struct nock_context *context, noun subject, noun formula, noun scry_gate,
                                         noun *const *held, size_t held_count)
{
    return nested(context, subject, formula, scry_gate, held, held_count);
}

uint32_t nock_nesting(const struct nock_context *context) { return context->nesting; }

enum nock_jet_result nock_jet_pass_on(struct nock_context *context, struct nock_outcome outcome)
{
    context->passed = outcome;
    return NOCK_JET_PASS_ON;
}

/* ---- growing the machine's stacks ---------------------------------------- */

static bool grow_array(void **items, size_t *capacity, size_t needed, size_t item_size)
{
    if (needed <= *capacity)
        return true;
    size_t c = *capacity;
    while (c < needed)
        c *= 2;
    void *p = realloc(*items, c * item_size);
    if (!p)
        return false;
    *items = p;
    *capacity = c;
    return true;
}

static bool grow_frames(struct nock_context *context)
{
    if (!grow_array((void **)&context->frames, &context->frame_capacity, context->frame_count + 1,
                    sizeof *context->frames))
        return false;
    uint64_t depth = context->config.max_depth;
    context->frame_limit = context->frame_capacity < depth ? context->frame_capacity : depth;
    return true;
}

/* Build the crash trace list from the trace stack, innermost first. */
static noun trace_list(struct nock_context *context)
{
    noun list = 0;
    for (size_t i = context->trace_floor; i + 1 < context->trace_count; i += 2)
        list = noun_cell_new(context->region,
                             noun_cell_new(context->region, context->trace[i], context->trace[i + 1]), list);
    return list;
}

/* `inner` (a list) followed by `outer`, in scratch. */
static noun trace_append(struct nock_context *context, noun inner, noun outer)
{
    size_t count = 0;
    for (noun rest = inner; noun_is_cell(rest); rest = noun_tail(rest))
        count++;
    noun *items = malloc((count ? count : 1) * sizeof *items);
    if (!items)
        return inner;
    count = 0;
    for (noun rest = inner; noun_is_cell(rest); rest = noun_tail(rest))
        items[count++] = noun_head(rest);
    noun list = outer;
    while (count > 0)
        list = noun_cell_new(context->region, items[--count], list);
    free(items);
    return list;
}

/* #[axis value target]: rebuild the cells on the path to axis. */
static noun edit(struct nock_context *context, noun axis, noun value, noun target)
{
    uint64_t bits = noun_atom_bit_length(axis);
    if (bits > 1 << 20)
        return NOUN_NONE;
    /* the cells passed on the way down; on the C stack for usual axes */
    noun nearby[64];
    noun *path = bits <= 64 ? nearby : malloc((bits + 1) * sizeof *path);
    if (!path)
        return NOUN_NONE;
    uint64_t single;
    size_t words;
    const uint64_t *w = noun_atom_words(axis, &single, &words);
    noun at = target;
    /* walk down, remembering each cell passed */
    for (uint64_t i = bits - 1; i-- > 0;) {
        if (!noun_is_cell(at)) {
            if (path != nearby)
                free(path);
            return NOUN_NONE;
        }
        path[i] = at;
        at = (w[i / 64] >> (i % 64)) & 1 ? noun_tail(at) : noun_head(at);
    }
    noun result = value;
    for (uint64_t i = 0; i + 1 < bits; i++) {
        noun cell = path[i];
        result = (w[i / 64] >> (i % 64)) & 1 ? noun_cell_new(context->region, noun_head(cell), result)
                                              : noun_cell_new(context->region, result, noun_tail(cell));
    }
    if (path != nearby)
        free(path);
    return result;
}

/* ---- jets ----------------------------------------------------------------- */

static const uint64_t no_jets_generation = 0;

/* Ask the jet dashboard again whether calls of this code may have a jet. */
static void code_refresh_jet(struct nock_context *context, struct nock_code *code)
{
    const struct nock_jet_hooks *jets = &context->config.jets;
    bool candidate = jets->is_candidate && jets->is_candidate(jets->context, code->formula);
    code->jet_stamp = (jets->generation ? *jets->generation : 0) * 2 + candidate;
}

/* Whether calls of this code may have a jet, refreshing a stale answer. */
static bool jet_candidate(struct nock_context *context, struct nock_code *code)
{
    const uint64_t *generation = context->config.jets.generation;
    if (code->jet_stamp >> 1 != (generation ? *generation : 0))
        code_refresh_jet(context, code);
    return code->jet_stamp & 1;
}

static enum nock_jet_result try_jet(struct nock_context *context, noun core, noun axis, noun formula,
                                    noun *product)
{
    const struct nock_jet_hooks *jets = &context->config.jets;
    context->crash_reason = NULL;
    enum nock_jet_result result = jets->run(jets->context, context, core, axis, formula, product);
    if (result == NOCK_JET_DONE)
        context->counters.jet_calls++;
    return result;
}

static struct nock_outcome nested(struct nock_context *context, noun subject, noun formula, noun scry_gate,
                                  noun *const *held, size_t held_count);

/* Slam the innermost scry gate with [ref path].  The gate runs as part of
 * the computation that gave it, so it is off the scry stack meanwhile (a
 * Nock 12 inside it goes to the next gate out). */
static struct nock_outcome scry_call(struct nock_context *context, noun ref, noun path)
{
    struct noun_region *region = context->region;
    noun gate = context->scry_gates[--context->scry_count];
    /* *[[gate ref path] [9 2 10 [6 0 3] 0 2]] */
    noun subject = noun_cell_new(region, gate, noun_cell_new(region, ref, path));
    noun formula = noun_trel(region, 9, 2,
                             noun_trel(region, 10, noun_trel(region, 6, 0, 3), noun_cell_new(region, 0, 2)));
    noun *const held[] = { &gate };
    struct nock_outcome outcome = nested(context, subject, formula, NOUN_NONE, held, 1);
    context->scry_gates[context->scry_count++] = gate;
    return outcome;
}

/* ---- read tracking --------------------------------------------------------- */

/* An OP_TRACK: tell the tracker what the next instruction looks at.  The
 * machine has spilled its registers, so the values are on the context's
 * stack. */
static __attribute__((noinline)) void track(struct nock_context *context, uint64_t kind, noun axis)
{
    const struct nock_tracker *tracker = &context->config.tracker;
    noun top = context->stack_count ? context->stack[context->stack_count - 1] : 0;
    switch ((enum track_kind)kind) {
    case TRACK_WALK:
        tracker->walk(tracker->context, context->subject, axis);
        break;
    case TRACK_WALK_TOP:
        tracker->walk(tracker->context, top, axis);
        break;
    case TRACK_ARM: {
        tracker->walk(tracker->context, top, axis);
        noun arm = noun_fragment(axis, top);
        if (arm != NOUN_NONE)
            tracker->whole(tracker->context, arm);
        break;
    }
    case TRACK_WHOLE_TOP:
        tracker->whole(tracker->context, top);
        break;
    case TRACK_WHOLE_TOP_TWO: {
        noun under = context->stack[context->stack_count - 2];
        if (top != under) {
            tracker->whole(tracker->context, top);
            tracker->whole(tracker->context, under);
        }
        break;
    }
    case TRACK_WHOLE_SUBJECT:
        tracker->whole(tracker->context, context->subject);
        break;
    }
}

/* ---- the machine --------------------------------------------------------- */

/* noun_fragment for a direct axis above 0, inline for the machine's calls. */
static inline noun direct_fragment(uint64_t axis, noun at)
{
    for (int bit = 62 - __builtin_clzll(axis); bit >= 0; bit--) {
        if (at >> 62 != 3)
            return NOUN_NONE;
        at = *(const noun *)(uintptr_t)((at & NOUN_ADDRESS_MASK) + 8 + (((axis >> bit) & 1) << 3));
    }
    return at;
}

#define NEXT() goto *(void *)(uintptr_t)(*pc)
#define COUNT(opcode) (steps[opcode]++)
#define PUSH(x) (*sp++ = (x))
#define POP() (*--sp)
#define TOP() (sp[-1])
#define CRASH(why) do { context->crash_reason = (why); goto crash; } while (0)
/* Spill the machine registers to the context, where collection and the
 * crash path find them; and reload them after. */
#define SPILL() (context->stack_count = (size_t)(sp - context->stack), context->subject = subject)
#define RELOAD() (sp = context->stack + context->stack_count, subject = context->subject)
/* code = the code for formula `a`, through the call-site cache at `slot` */
#define RESOLVE(slot)                                                        \
    do {                                                                     \
        code = (struct nock_code *)(uintptr_t)*(slot);                       \
        if (__builtin_expect(!code || code->formula != a, 0)) {              \
            code = code_lookup(context, a);                                  \
            if (!code && !(code = code_compile(context, a)))                 \
                longjmp(context->escape, 1);                                 \
            *(slot) = (uint64_t)(uintptr_t)code;                             \
        }                                                                    \
    } while (0)
#define PUSH_FRAME(return_to)                                                \
    do {                                                                     \
        if (__builtin_expect(context->frame_count == context->frame_limit, 0)) { \
            if (context->frame_count >= context->config.max_depth)           \
                goto too_deep;                                               \
            if (!grow_frames(context))                                       \
                longjmp(context->escape, 1);                                 \
        }                                                                    \
        context->frames[context->frame_count].return_pc = (return_to);       \
        context->frames[context->frame_count].subject = subject;             \
        context->frame_count++;                                              \
    } while (0)
/* The arm at `axis` of `core`; axis 2 (the usual gate call) inline. */
/* One step of a fragment walk: into the head or tail of `at`, which must
 * be a cell (nouns in the machine are never NOUN_NONE, so two top bits set
 * means a cell). */
#define HOP(at, field)                                                       \
    do {                                                                     \
        if (__builtin_expect((at) >> 62 != 3, 0))                            \
            CRASH("Nock 0: axis through an atom");                           \
        (at) = noun_to_cell(at)->field;                                      \
    } while (0)
#define ARM_FORMULA(axis, core)                                              \
    ((axis) == 2 && IS_CELL(core) ? noun_head(core)                          \
     : noun_is_direct(axis) ? direct_fragment((axis), (core)) : noun_fragment((axis), (core)))
/* Cell test for nouns in the machine, which are never NOUN_NONE. */
#define IS_CELL(n) ((n) >> 62 == 3)

static struct nock_outcome machine(struct nock_context *context, noun subject, noun formula)
{
    static const void *const labels[OP_COUNT] = {
        [OP_SUBJECT] = &&op_subject, [OP_HEAD] = &&op_head, [OP_TAIL] = &&op_tail,
        [OP_FRAGMENT] = &&op_fragment, [OP_FRAGMENT_BIG] = &&op_fragment_big,
        [OP_AXIS_4 + 0] = &&op_axis_4, [OP_AXIS_4 + 1] = &&op_axis_5, [OP_AXIS_4 + 2] = &&op_axis_6,
        [OP_AXIS_4 + 3] = &&op_axis_7, [OP_AXIS_4 + 4] = &&op_axis_8, [OP_AXIS_4 + 5] = &&op_axis_9,
        [OP_AXIS_4 + 6] = &&op_axis_10, [OP_AXIS_4 + 7] = &&op_axis_11, [OP_AXIS_4 + 8] = &&op_axis_12,
        [OP_AXIS_4 + 9] = &&op_axis_13, [OP_AXIS_4 + 10] = &&op_axis_14, [OP_AXIS_4 + 11] = &&op_axis_15,
        [OP_AXIS_4 + 12] = &&op_axis_16, [OP_AXIS_4 + 13] = &&op_axis_17, [OP_AXIS_4 + 14] = &&op_axis_18,
        [OP_AXIS_4 + 15] = &&op_axis_19, [OP_AXIS_4 + 16] = &&op_axis_20, [OP_AXIS_4 + 17] = &&op_axis_21,
        [OP_AXIS_4 + 18] = &&op_axis_22, [OP_AXIS_4 + 19] = &&op_axis_23, [OP_AXIS_4 + 20] = &&op_axis_24,
        [OP_AXIS_4 + 21] = &&op_axis_25, [OP_AXIS_4 + 22] = &&op_axis_26, [OP_AXIS_4 + 23] = &&op_axis_27,
        [OP_AXIS_4 + 24] = &&op_axis_28, [OP_AXIS_4 + 25] = &&op_axis_29, [OP_AXIS_4 + 26] = &&op_axis_30,
        [OP_AXIS_4 + 27] = &&op_axis_31, [OP_AXIS_4 + 28] = &&op_axis_32, [OP_AXIS_4 + 29] = &&op_axis_33,
        [OP_AXIS_4 + 30] = &&op_axis_34, [OP_AXIS_4 + 31] = &&op_axis_35, [OP_AXIS_4 + 32] = &&op_axis_36,
        [OP_AXIS_4 + 33] = &&op_axis_37, [OP_AXIS_4 + 34] = &&op_axis_38, [OP_AXIS_4 + 35] = &&op_axis_39,
        [OP_AXIS_4 + 36] = &&op_axis_40, [OP_AXIS_4 + 37] = &&op_axis_41, [OP_AXIS_4 + 38] = &&op_axis_42,
        [OP_AXIS_4 + 39] = &&op_axis_43, [OP_AXIS_4 + 40] = &&op_axis_44, [OP_AXIS_4 + 41] = &&op_axis_45,
        [OP_AXIS_4 + 42] = &&op_axis_46, [OP_AXIS_4 + 43] = &&op_axis_47, [OP_AXIS_4 + 44] = &&op_axis_48,
        [OP_AXIS_4 + 45] = &&op_axis_49, [OP_AXIS_4 + 46] = &&op_axis_50, [OP_AXIS_4 + 47] = &&op_axis_51,
        [OP_AXIS_4 + 48] = &&op_axis_52, [OP_AXIS_4 + 49] = &&op_axis_53, [OP_AXIS_4 + 50] = &&op_axis_54,
        [OP_AXIS_4 + 51] = &&op_axis_55, [OP_AXIS_4 + 52] = &&op_axis_56, [OP_AXIS_4 + 53] = &&op_axis_57,
        [OP_AXIS_4 + 54] = &&op_axis_58, [OP_AXIS_4 + 55] = &&op_axis_59, [OP_AXIS_4 + 56] = &&op_axis_60,
        [OP_AXIS_4 + 57] = &&op_axis_61, [OP_AXIS_4 + 58] = &&op_axis_62, [OP_AXIS_4 + 59] = &&op_axis_63,
        [OP_CONSTANT] = &&op_constant, [OP_CONS] = &&op_cons, [OP_IS_CELL] = &&op_is_cell,
        [OP_INCREMENT] = &&op_increment, [OP_EQUAL] = &&op_equal, [OP_BRANCH] = &&op_branch,
        [OP_JUMP] = &&op_jump, [OP_SUBJECT_ENTER] = &&op_subject_enter,
        [OP_SUBJECT_SET] = &&op_subject_set, [OP_PIN_ENTER] = &&op_pin_enter,
        [OP_PIN_SET] = &&op_pin_set, [OP_SUBJECT_LEAVE] = &&op_subject_leave,
        [OP_EVAL] = &&op_eval, [OP_EVAL_TAIL] = &&op_eval_tail,
        [OP_EVAL_DEFERRED] = &&op_eval_deferred, [OP_EVAL_DEFERRED_TAIL] = &&op_eval_deferred_tail,
        [OP_ARM] = &&op_arm, [OP_ARM_TAIL] = &&op_arm_tail, [OP_EDIT] = &&op_edit,
        [OP_HINT_STATIC] = &&op_hint_static, [OP_HINT_DROP] = &&op_hint_drop,
        [OP_TRACE_PUSH] = &&op_trace_push, [OP_TRACE_POP] = &&op_trace_pop, [OP_SLOG] = &&op_slog,
        [OP_MEMO_LOOKUP] = &&op_memo_lookup, [OP_MEMO_STORE] = &&op_memo_store,
        [OP_BOUT_START] = &&op_bout_start, [OP_BOUT_END] = &&op_bout_end, [OP_FAST] = &&op_fast,
        [OP_PAR] = &&op_par, [OP_PAR_END] = &&op_par_end,
        [OP_SCRY] = &&op_scry,
        [OP_CRASH] = &&op_crash, [OP_RETURN] = &&op_return, [OP_HALT] = &&op_halt,
        [OP_TRACK] = &&op_track,
    };
    struct nock_outcome outcome = { .status = NOCK_OK, .product = 0, .trace = 0, .reason = NULL };
    if (formula == NOUN_NONE) {
        /* First call from nock_context_new: publish the labels and build
         * the one-instruction code that ends an evaluation. */
        context->labels = labels;
        struct nock_code *halt = calloc(1, sizeof *halt);
        if (halt && (halt->ops = malloc(2 * sizeof *halt->ops))) {
            halt->ops[0] = (uint64_t)(uintptr_t)labels[OP_HALT];
            halt->ops[1] = 0; /* never cached into: see `call` */
            halt->length = 2;
        }
        context->halt_code = halt;
        return outcome;
    }
    if (!context->halt_code || !context->halt_code->ops) {
        outcome.status = NOCK_OUT_OF_MEMORY;
        return outcome;
    }

    uint64_t *const steps = context->counters.steps_by_opcode;
    const uint64_t *const jet_generation = context->config.jets.generation ? context->config.jets.generation
                                                                           : &no_jets_generation;
    struct noun_region *const region = context->region;
    noun *sp;
    uint64_t *pc;
    struct nock_code *code;
    noun a, b, c;
    bool tail_call;
    noun par_trace = NOUN_NONE; /* a crashing %par item's trace, inner to the machine's */

    /* A nested evaluation starts above its caller's entries (the floors);
     * the caller made room for the first value and frame. */
    const size_t stack_floor = context->stack_floor, frame_floor = context->frame_floor;
    context->stack_count = stack_floor;
    context->frame_count = frame_floor;
    context->trace_count = context->trace_floor;
    context->crash_reason = NULL;
    context->subject = subject;
    /* The evaluation starts as a call of `formula` that returns to HALT. */
    context->stack[stack_floor] = formula;
    context->stack_count = stack_floor + 1;
    /* A frame that returns to HALT, then a call of the formula. */
    context->frames[frame_floor].return_pc = context->halt_code->ops;
    context->frames[frame_floor].subject = subject;
    context->frame_count = frame_floor + 1;
    RELOAD();
    a = POP();
    {
        uint64_t no_cache = 0;
        RESOLVE(&no_cache);
    }
    goto enter;

op_subject:
    COUNT(0);
    PUSH(subject);
    pc++;
    NEXT();
op_head:
    COUNT(0);
    if (!IS_CELL(subject))
        CRASH("Nock 0: axis 2 of an atom");
    PUSH(noun_head(subject));
    pc++;
    NEXT();
op_tail:
    COUNT(0);
    if (!IS_CELL(subject))
        CRASH("Nock 0: axis 3 of an atom");
    PUSH(noun_tail(subject));
    pc++;
    NEXT();
op_fragment: {
    COUNT(0);
    uint64_t axis = pc[1];
    noun at = subject;
    for (int bit = 62 - __builtin_clzll(axis); bit >= 0; bit--) {
        if ((at >> 62) != 3) /* not a cell (NOUN_NONE is never a subject) */
            CRASH("Nock 0: axis through an atom");
        /* head is the word at offset 8, tail at 16: one load, no select */
        at = *(const noun *)(uintptr_t)((at & NOUN_ADDRESS_MASK) + 8 + (((axis >> bit) & 1) << 3));
    }
    PUSH(at);
    pc += 2;
    NEXT();
}
    /* Axes 4 to 63, the ones cores use most, walk without a loop: H and T
     * step into the head and tail. */
#define H HOP(a, head)
#define T HOP(a, tail)
#define AXIS_OP(axis, walk) op_axis_##axis: COUNT(0); a = subject; walk; PUSH(a); pc++; NEXT();
    AXIS_OP(4, H; H)
    AXIS_OP(5, H; T)
    AXIS_OP(6, T; H)
    AXIS_OP(7, T; T)
    AXIS_OP(8, H; H; H)
    AXIS_OP(9, H; H; T)
    AXIS_OP(10, H; T; H)
    AXIS_OP(11, H; T; T)
    AXIS_OP(12, T; H; H)
    AXIS_OP(13, T; H; T)
    AXIS_OP(14, T; T; H)
    AXIS_OP(15, T; T; T)
    AXIS_OP(16, H; H; H; H)
    AXIS_OP(17, H; H; H; T)
    AXIS_OP(18, H; H; T; H)
    AXIS_OP(19, H; H; T; T)
    AXIS_OP(20, H; T; H; H)
    AXIS_OP(21, H; T; H; T)
    AXIS_OP(22, H; T; T; H)
    AXIS_OP(23, H; T; T; T)
    AXIS_OP(24, T; H; H; H)
    AXIS_OP(25, T; H; H; T)
    AXIS_OP(26, T; H; T; H)
    AXIS_OP(27, T; H; T; T)
    AXIS_OP(28, T; T; H; H)
    AXIS_OP(29, T; T; H; T)
    AXIS_OP(30, T; T; T; H)
    AXIS_OP(31, T; T; T; T)
    AXIS_OP(32, H; H; H; H; H)
    AXIS_OP(33, H; H; H; H; T)
    AXIS_OP(34, H; H; H; T; H)
    AXIS_OP(35, H; H; H; T; T)
    AXIS_OP(36, H; H; T; H; H)
    AXIS_OP(37, H; H; T; H; T)
    AXIS_OP(38, H; H; T; T; H)
    AXIS_OP(39, H; H; T; T; T)
    AXIS_OP(40, H; T; H; H; H)
    AXIS_OP(41, H; T; H; H; T)
    AXIS_OP(42, H; T; H; T; H)
    AXIS_OP(43, H; T; H; T; T)
    AXIS_OP(44, H; T; T; H; H)
    AXIS_OP(45, H; T; T; H; T)
    AXIS_OP(46, H; T; T; T; H)
    AXIS_OP(47, H; T; T; T; T)
    AXIS_OP(48, T; H; H; H; H)
    AXIS_OP(49, T; H; H; H; T)
    AXIS_OP(50, T; H; H; T; H)
    AXIS_OP(51, T; H; H; T; T)
    AXIS_OP(52, T; H; T; H; H)
    AXIS_OP(53, T; H; T; H; T)
    AXIS_OP(54, T; H; T; T; H)
    AXIS_OP(55, T; H; T; T; T)
    AXIS_OP(56, T; T; H; H; H)
    AXIS_OP(57, T; T; H; H; T)
    AXIS_OP(58, T; T; H; T; H)
    AXIS_OP(59, T; T; H; T; T)
    AXIS_OP(60, T; T; T; H; H)
    AXIS_OP(61, T; T; T; H; T)
    AXIS_OP(62, T; T; T; T; H)
    AXIS_OP(63, T; T; T; T; T)
#undef AXIS_OP
#undef T
#undef H
op_fragment_big:
    COUNT(0);
    a = noun_fragment(pc[1], subject);
    if (a == NOUN_NONE)
        CRASH("Nock 0: axis through an atom");
    PUSH(a);
    pc += 2;
    NEXT();
op_constant:
    COUNT(1);
    PUSH(pc[1]);
    pc += 2;
    NEXT();
op_cons:
    COUNT(12);
    b = POP();
    a = TOP();
    /* Keep head and tail in general registers: loading both stack slots
     * as one 16-byte vector stalls on store forwarding, as each was
     * stored separately a moment ago. */
    __asm__("" : "+r"(a), "+r"(b));
    TOP() = noun_cell_new(region, a, b);
    pc++;
    NEXT();
op_is_cell:
    COUNT(3);
    TOP() = IS_CELL(TOP()) ? 0 : 1;
    pc++;
    NEXT();
op_increment:
    COUNT(4);
    a = TOP();
    if (noun_is_direct(a) && a < NOUN_DIRECT_MAX)
        TOP() = a + 1;
    else if (IS_CELL(a))
        CRASH("Nock 4: increment of a cell");
    else
        TOP() = noun_atom_increment(region, a);
    pc++;
    NEXT();
op_equal:
    COUNT(5);
    b = POP();
    a = TOP();
    TOP() = (a == b || (!noun_is_direct(a) && !noun_is_direct(b) && noun_equal(a, b))) ? 0 : 1;
    pc++;
    NEXT();
op_branch:
    COUNT(6);
    a = POP();
    if (a == 0) {
        pc += 2;
        NEXT();
    }
    if (a == 1) {
        pc = (uint64_t *)(uintptr_t)pc[1];
        NEXT();
    }
    CRASH("Nock 6: test is neither 0 nor 1");
op_jump:
    pc = (uint64_t *)(uintptr_t)pc[1];
    NEXT();
op_subject_enter:
    COUNT(7);
    a = TOP();
    TOP() = subject;
    subject = a;
    pc++;
    NEXT();
op_subject_set:
    COUNT(7);
    subject = POP();
    pc++;
    NEXT();
op_pin_enter:
    COUNT(8);
    a = TOP();
    TOP() = subject;
    subject = noun_cell_new(region, a, subject);
    pc++;
    NEXT();
op_pin_set:
    COUNT(8);
    a = POP();
    subject = noun_cell_new(region, a, subject);
    pc++;
    NEXT();
op_subject_leave:
    a = POP();
    subject = TOP();
    TOP() = a;
    pc++;
    NEXT();

    /* Calls.  `a` is the formula; the new subject is `b`.  Non-tail calls
     * push a frame returning past the call-site cache. */
    /* Calls.  `a` is the formula, resolved to code through the call
     * site's cache word; non-tail calls push a frame that returns past the
     * call's operands. */
op_eval:
    COUNT(2);
op_eval_deferred:
    a = POP();
    b = POP();
    RESOLVE(pc + 1);
    PUSH_FRAME(pc + 2);
    subject = b;
    goto enter;
op_eval_tail:
    COUNT(2);
op_eval_deferred_tail:
    a = POP();
    subject = POP();
    RESOLVE(pc + 1);
    goto enter;
op_arm:
    tail_call = false;
    goto arm;
op_arm_tail:
    tail_call = true;
arm:
    COUNT(9);
    b = TOP();
    a = ARM_FORMULA(pc[1], b);
    if (a == NOUN_NONE)
        CRASH("Nock 9: no arm at that axis");
    RESOLVE(pc + 2);
    if (__builtin_expect(code->jet_stamp != *jet_generation * 2, 0) && jet_candidate(context, code)) {
        /* a jet may run Nock (nock_evaluate_nested), collecting scratch */
        SPILL();
        enum nock_jet_result jet = try_jet(context, b, pc[1], a, &c);
        RELOAD();
        b = TOP();
        switch (jet) {
        case NOCK_JET_DONE:
            TOP() = c;
            if (tail_call)
                goto op_return;
            pc += 3;
            NEXT();
        case NOCK_JET_CRASH:
            CRASH(context->crash_reason ? context->crash_reason : "jet crashed");
        case NOCK_JET_PASS_ON:
            outcome = context->passed;
            goto passed_on;
        case NOCK_JET_DECLINED:
            break;
        }
    }
    if (tail_call) {
        subject = POP();
        goto enter;
    }
    (void)POP();
    PUSH_FRAME(pc + 3);
    subject = b;
    goto enter;

    /* Enter `code` with the subject set: the safe point. */
enter:
    /* nock_interrupt also drops the collection trigger, so this one test
     * covers both. */
    if (__builtin_expect(noun_region_wants_collect(region), 0)) {
        if (__atomic_load_n(&context->interrupt_requested, __ATOMIC_RELAXED))
            goto interrupted;
        SPILL();
        if (context->sample_requested) {
            take_sample(context);
            if (context->interrupt_requested)
                goto interrupted;
        }
        /* the formula is held by the code, which collection relocates */
        if (noun_region_wants_collect(region))
            collect_scratch(context);
        RELOAD();
        if (__atomic_load_n(&context->interrupt_requested, __ATOMIC_RELAXED))
            goto interrupted;
    }
    if (__builtin_expect((size_t)(sp - context->stack) + code->max_stack > context->stack_capacity, 0)) {
        size_t count = (size_t)(sp - context->stack);
        if (!grow_array((void **)&context->stack, &context->stack_capacity, count + code->max_stack,
                        sizeof *context->stack))
            longjmp(context->escape, 1);
        sp = context->stack + count;
    }
    pc = code->ops;
    NEXT();

op_return:
    context->frame_count--;
    pc = context->frames[context->frame_count].return_pc;
    subject = context->frames[context->frame_count].subject;
    NEXT();

op_edit:
    COUNT(10);
    b = POP(); /* target */
    a = TOP(); /* value */
    SPILL();
    c = edit(context, pc[1], a, b);
    if (c == NOUN_NONE)
        CRASH("Nock 10: axis through an atom");
    TOP() = c;
    pc += 2;
    NEXT();

op_hint_static:
    COUNT(11);
    context->counters.hints++;
    pc++;
    NEXT();
op_hint_drop:
    COUNT(11);
    context->counters.hints++;
    (void)POP();
    pc++;
    NEXT();
op_trace_push:
    COUNT(11);
    context->counters.hints++;
    if (context->trace_count + 2 > context->trace_capacity &&
        !grow_array((void **)&context->trace, &context->trace_capacity, context->trace_count + 2,
                    sizeof *context->trace))
        longjmp(context->escape, 1);
    context->trace[context->trace_count++] = pc[1];
    context->trace[context->trace_count++] = POP();
    pc += 2;
    NEXT();
op_trace_pop:
    context->trace_count -= 2;
    pc++;
    NEXT();
op_slog:
    COUNT(11);
    context->counters.hints++;
    a = POP();
    if (context->config.hooks.slog)
        context->config.hooks.slog(context->config.hooks.context, a);
    pc++;
    NEXT();
op_memo_lookup: {
    SPILL();
    noun key = noun_cell_new(region, subject, pc[1]);
    size_t slot = memo_find(context, key, mug_noun(key));
    if (context->memo[slot].key) {
        context->counters.memo_hits++;
        PUSH(context->memo[slot].value);
        pc = (uint64_t *)(uintptr_t)pc[2];
        NEXT();
    }
    PUSH(key);
    pc += 3;
    NEXT();
}
op_memo_store:
    a = POP();
    b = TOP();
    TOP() = a;
    SPILL();
    memo_insert(context, b, a);
    pc++;
    NEXT();
op_bout_start:
    COUNT(11);
    context->counters.hints++;
    PUSH(clock_wall_nanoseconds() & NOUN_DIRECT_MAX);
    pc++;
    NEXT();
op_bout_end:
    a = POP();
    b = POP();
    c = TOP();
    TOP() = a;
    if (context->config.hooks.bout)
        context->config.hooks.bout(context->config.hooks.context, (clock_wall_nanoseconds() & NOUN_DIRECT_MAX) - b, c);
    pc++;
    NEXT();
op_fast:
    COUNT(11);
    context->counters.hints++;
    context->counters.fast_registrations++;
    a = POP(); /* core */
    b = TOP(); /* clue */
    TOP() = a;
    if (context->config.hooks.fast)
        context->config.hooks.fast(context->config.hooks.context, b, a);
    pc++;
    NEXT();
op_par: {
    COUNT(11);
    context->counters.hints++;
    a = POP(); /* clue: [gate list] */
    const struct nock_par_mapper *mapper = __atomic_load_n(&par_mapper, __ATOMIC_ACQUIRE);
    bool check = __atomic_load_n(&par_check, __ATOMIC_RELAXED);
    enum nock_par_result result = NOCK_PAR_DECLINED;
    c = 0;
    context->crash_reason = NULL;
    if (mapper && noun_is_cell(a)) {
        SPILL();
        result = mapper->map(mapper->context, context, noun_head(a), noun_tail(a), &c);
        RELOAD();
    }
    switch (result) {
    case NOCK_PAR_DECLINED:
        PUSH(0);
        PUSH(0);
        break;
    case NOCK_PAR_DONE:
        PUSH(c);
        if (!check) {
            pc = (uint64_t *)(uintptr_t)pc[1];
            NEXT();
        }
        PUSH(1);
        break;
    case NOCK_PAR_CRASH:
        if (!check) {
            par_trace = c; /* crash_reason is the item's, set by the mapper */
            goto crash;
        }
        PUSH(c);
        PUSH(2);
        break;
    case NOCK_PAR_INTERRUPTED:
        goto interrupted;
    case NOCK_PAR_OUT_OF_MEMORY:
        longjmp(context->escape, 1);
    }
    pc += 2;
    NEXT();
}
op_par_end:
    a = POP(); /* the body's product */
    b = POP(); /* 0: not mapped, 1: mapped, 2: the map crashed */
    if (b == 1 && !noun_equal(a, TOP()))
        CRASH("%par check: the parallel map's product differs from the body's");
    if (b == 2)
        CRASH("%par check: the parallel map crashed but the body did not");
    TOP() = a;
    pc++;
    NEXT();
op_scry:
    /* [ref path] stay on the stack, where a collection finds them, while
     * the gate runs */
    if (context->scry_count == 0)
        CRASH("Nock 12 (scry) with no scry gate (only +mink gives one)");
    SPILL();
    outcome = scry_call(context, sp[-2], sp[-1]);
    RELOAD();
    if (outcome.status == NOCK_OK) {
        a = outcome.product;
        if (a == 0) { /* ~: no value yet */
            outcome.status = NOCK_BLOCKED;
            outcome.product = TOP();
            goto blocked;
        }
        if (IS_CELL(a) && noun_head(a) == 0 && noun_tail(a) == 0) { /* [~ ~]: no value ever */
            b = POP();
            TOP() = noun_cell_new(region, TOP(), b);
            if (context->trace_count + 2 > context->trace_capacity &&
                !grow_array((void **)&context->trace, &context->trace_capacity, context->trace_count + 2,
                            sizeof *context->trace))
                longjmp(context->escape, 1);
            context->trace[context->trace_count++] = TAG_HUNK;
            context->trace[context->trace_count++] = TOP();
            CRASH("Nock 12: the scry gate says the path has no value");
        }
        if (!IS_CELL(a) || noun_head(a) != 0 || !IS_CELL(noun_tail(a)) || noun_head(noun_tail(a)) != 0)
            CRASH("Nock 12: the scry gate gave no (unit (unit))");
        (void)POP();
        TOP() = noun_tail(noun_tail(a));
        pc++;
        NEXT();
    }
    /* the gate's own crash or block belongs to the level that gave it */
    if (outcome.status == NOCK_CRASH || outcome.status == NOCK_BLOCKED)
        outcome.escalation++;
    goto passed_on;

op_crash:
    context->crash_reason = (const char *)(uintptr_t)pc[1];
    goto crash;

    /* Read tracking: report, change nothing, go on. */
op_track: __attribute__((cold));
    SPILL();
    track(context, pc[1], pc[2]);
    pc += 3;
    NEXT();

op_halt:
    outcome.product = POP();
    context->stack_count = stack_floor;
    return outcome;

    /* `outcome` came from a nested evaluation, through a jet or a scry gate */
passed_on:
    switch (outcome.status) {
    case NOCK_OUT_OF_MEMORY:
        longjmp(context->escape, 1);
    case NOCK_TOO_DEEP:
        goto too_deep;
    case NOCK_INTERRUPTED:
        goto interrupted;
    case NOCK_OK:
        CRASH("a jet passed on a product");
    case NOCK_CRASH: case NOCK_BLOCKED:
        if (outcome.escalation > 0 && context->nesting > 0)
            goto belongs_further_out;
        if (outcome.status == NOCK_CRASH || context->nesting == 0)
            CRASH(outcome.reason ? outcome.reason : "crashed in a nested evaluation");
        goto blocked;
    }
    CRASH("a jet passed on an unknown outcome");

crash:
    SPILL();
    outcome.status = NOCK_CRASH;
    outcome.reason = context->crash_reason;
    outcome.trace = trace_list(context);
    if (par_trace != NOUN_NONE)
        outcome.trace = trace_append(context, par_trace, outcome.trace);
    outcome.escalation = 0;
    context->stack_count = stack_floor;
    context->frame_count = frame_floor;
    return outcome;
blocked:
    if (context->nesting == 0)
        CRASH("Nock 12 blocked with no +mink to report it to");
    outcome.escalation = 0;
    /* fall through: product is the path */
belongs_further_out:
    context->stack_count = stack_floor;
    context->frame_count = frame_floor;
    return outcome;
too_deep:
    outcome.status = NOCK_TOO_DEEP;
    context->stack_count = stack_floor;
    context->frame_count = frame_floor;
    return outcome;
interrupted:
    outcome.status = NOCK_INTERRUPTED;
    context->stack_count = stack_floor;
    context->frame_count = frame_floor;
    return outcome;
}

/* The machine leaves through `escape` when scratch or the C heap runs out;
 * setjmp lives here so the machine's registers need not survive it. */
static struct nock_outcome run(struct nock_context *context, noun subject, noun formula)
{
    /* While the machine runs, a full region escapes to here; before and
     * after, the region's owner may have its own handler. */
    struct noun_region *region = context->region;
    void (*saved_handler)(void *) = region->out_of_memory;
    void *saved_context = region->out_of_memory_context;
    region->out_of_memory = out_of_memory;
    region->out_of_memory_context = context;
    struct nock_outcome outcome;
    if (formula != NOUN_NONE && setjmp(context->escape)) {
        outcome = (struct nock_outcome){ .status = NOCK_OUT_OF_MEMORY };
        context->stack_count = context->stack_floor;
        context->frame_count = context->frame_floor;
    } else {
        outcome = machine(context, subject, formula);
    }
    region->out_of_memory = saved_handler;
    region->out_of_memory_context = saved_context;
    return outcome;
}
