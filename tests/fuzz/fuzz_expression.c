/* fuzz_expression.c -- libFuzzer target for the REPL's expression language
 * (repl/expression.c): what a user types after the prompt, `*[a f]`,
 * `/[n a]`, `#[n b c]`, `?x`, `+x`, `=[a b]`, nested in noun text.
 *
 * Any input must come back as a value or as an error with a column inside
 * the text: never a crash, a hang or a leak.  Evaluations run on a small
 * scratch region and a shallow call limit, and a watchdog thread interrupts
 * any that runs past 50 ms, as Ctrl-C would.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interp/clock.h"
#include "interp/nock.h"
#include "interp/noun.h"
#include "repl/expression.h"

#define WATCHDOG_NANOSECONDS (50u * 1000 * 1000)

static struct noun_home *home;
static struct nock_context *nock;
static struct expression_evaluator *evaluator;
/* When the current evaluation started (0: none running). */
static _Atomic uint64_t started;

static void *watchdog(void *argument)
{
    (void)argument;
    for (;;) {
        usleep(10 * 1000);
        uint64_t since = atomic_load(&started);
        if (since && clock_wall_nanoseconds() - since > WATCHDOG_NANOSECONDS)
            nock_interrupt(nock);
    }
    return NULL;
}

/* One bound name, `x`, so the name path is exercised; any other is unknown. */
static noun resolve(void *context, const char *name, size_t length)
{
    (void)context;
    return length == 1 && name[0] == 'x' ? 42 : NOUN_NONE;
}

static void region_exhausted(void *context)
{
    (void)context;
    fprintf(stderr, "fuzz_expression: scratch exhausted outside an evaluation\n");
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct nock_config config = { .scratch_max_bytes = (size_t)64 << 20, .max_depth = 10000 };
    nock = home ? nock_context_new(home, &config) : NULL;
    evaluator = expression_evaluator_new();
    if (!nock || !evaluator)
        abort();
    nock_context_region(nock)->out_of_memory = region_exhausted;
    pthread_t thread;
    pthread_create(&thread, NULL, watchdog, NULL);
    pthread_detach(thread);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct expression_environment environment = {
        .nock = nock,
        .resolve_name = resolve,
    };
    noun out;
    struct expression_error error;
    atomic_store(&started, clock_wall_nanoseconds());
    enum expression_status status =
        expression_evaluate(evaluator, &environment, (const char *)data, size, 0, &out, &error);
    atomic_store(&started, 0);
    if (status != EXPRESSION_OK && error.column > size + 1) {
        fprintf(stderr, "fuzz_expression: error column %zu past the input (%zu bytes): %s\n", error.column,
                size, error.message);
        abort();
    }
    nock_context_reset(nock);
    /* Home only grows by what expressions copy out; start afresh now and
     * then so a long run stays small. */
    if (noun_home_used(home) > ((size_t)256 << 20)) {
        noun_home_collect(home);
    }
    return 0;
}
