/* Crash torture for snapshots.  Each round, a child process opens a store
 * (rebuilding its kernel from the newest snapshot and the log), generates
 * events with a snapshot every few of them, and is killed with SIGKILL at
 * a random moment.  The stores alternate between the kv sample and jobs,
 * whose spawns' outcomes are logged as later events (so snapshots carry
 * pending spawns).  Then the store must open again with:
 *
 *   - no snapshot file skipped (a jam file is renamed into place whole, so
 *     a torn file is never under a snapshot's name; a PMA's metadata slot
 *     is one write of one page, which a killed process never tears),
 *   - exactly the state a replay of the log from the boot kernel gives
 *     (event number, mug and jam), which holds only committed events,
 *   - no committed event lost (the log never shrinks).
 *
 * NOCKLAB_TORTURE_ITERATIONS rounds per snapshot kind (default 200, 20 in
 * collection stress mode; `make torture` runs thousands); NOCKLAB_TORTURE_SEED fixes the random kill
 * times (printed, so a failure can be repeated).  The store starts afresh
 * every STORE_ROUNDS rounds so a replay from scratch stays cheap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interp/clock.h"
#include "interp/noun.h"
#include "repl/samples.h"
#include "repl/store.h"
#include "tests/support/store_support.h"

#define STORE_ROUNDS 25
#define EVENTS_PER_CHILD 40

static char base[96];
static uint64_t random_state;

static uint64_t next_random(void)
{
    /* xorshift64* */
    random_state ^= random_state >> 12;
    random_state ^= random_state << 25;
    random_state ^= random_state >> 27;
    return random_state * UINT64_C(2685821657736338717);
}

static int make_base(void **state)
{
    return support_store_base("nocklab-torture", base, sizeof base) ? 0 : -1;
}

static int remove_base(void **state)
{
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    return system(command) == 0 ? 0 : -1;
}

/* The child: open (or boot) the store, then generate events with
 * snapshots every `every`.  Exits 0 when it got to the end. */
static void child_work(const char *directory, const char *sample, enum snapshot_kind kind, uint64_t every,
                       uint64_t seed)
{
    struct noun_home *home = noun_home_new(noun_arena_memory((size_t)1 << 30));
    struct store_error error = { 0 };
    struct store *store = home ? store_open(directory, true, home, &error) : NULL;
    struct store_snapshot_options options = { .kind = kind, .every = every };
    if (!store || !store_use_snapshots(store, &options, &error))
        _exit(3);
    if (!store_booted(store)) {
        noun kernel;
        char why[400];
        if (!samples_load_kernel(sample, home, &kernel, why, sizeof why) || !store_boot(store, sample, kernel, &error))
            _exit(4);
    } else if (!store_recover(store, NULL, &error)) {
        _exit(5);
    }
    struct store_generate_result result;
    if (!store_generate(store, sample, EVENTS_PER_CHILD, seed, NULL, &result, &error))
        _exit(6);
    store_close(store);
    _exit(0);
}

/* Run a child and kill it after `delay_ns` (0: let it finish).  Returns
 * how long it ran. */
static uint64_t run_child(const char *directory, const char *sample, enum snapshot_kind kind, uint64_t every,
                          uint64_t seed, uint64_t delay_ns, bool *killed)
{
    uint64_t started = clock_wall_nanoseconds();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_work(directory, sample, kind, every, seed);
    int status;
    *killed = false;
    if (delay_ns) {
        struct timespec pause = { (time_t)(delay_ns / 1000000000u), (long)(delay_ns % 1000000000u) };
        nanosleep(&pause, NULL);
        *killed = kill(pid, SIGKILL) == 0;
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fail_msg("the child failed on its own (exit %d) in %s", WEXITSTATUS(status), directory);
    *killed = WIFSIGNALED(status);
    return clock_wall_nanoseconds() - started;
}

/* Rounds per kind: NOCKLAB_TORTURE_ITERATIONS, else 200, or 20 in
 * collection stress mode (make check), where every round's replay from
 * the boot kernel collects at every safe point: 200 took over 15 minutes
 * there, and that run is for the collections, the kill points being
 * covered by make test and make torture. */
static uint64_t iterations(void)
{
    const char *text = getenv("NOCKLAB_TORTURE_ITERATIONS");
    uint64_t count = text ? strtoull(text, NULL, 10) : 0;
    return count ? count : noun_collection_stress() ? 20 : 200;
}

static void torture(enum snapshot_kind kind)
{
    const char *seed_text = getenv("NOCKLAB_TORTURE_SEED");
    random_state = seed_text ? strtoull(seed_text, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (!random_state)
        random_state = 1;
    printf("torture (%s): %llu rounds, NOCKLAB_TORTURE_SEED=%llu\n", snapshot_kind_name(kind),
           (unsigned long long)iterations(), (unsigned long long)random_state);
    char directory[160];
    const char *sample = "kv";
    uint64_t child_ns = 0, committed = 0, kills = 0, loaded = 0;
    for (uint64_t round = 0; round < iterations(); round++) {
        if (round % STORE_ROUNDS == 0) {
            sample = round / STORE_ROUNDS % 2 ? "jobs" : "kv";
            snprintf(directory, sizeof directory, "%s/%s-%s-%llu", base, snapshot_kind_name(kind), sample,
                     (unsigned long long)round);
            committed = 0;
            /* a first child that runs to its end: boots the store and
             * tells how long a child takes, to spread the kills over */
            bool killed;
            child_ns = run_child(directory, sample, kind, 3, round + 1, 0, &killed);
        }
        uint64_t every = 2 + next_random() % 4;
        uint64_t delay = 1 + next_random() % (child_ns + child_ns / 5);
        bool killed;
        run_child(directory, sample, kind, every, round + 1000, delay, &killed);
        kills += killed;

        struct support_rebuilt from_snapshot, from_log;
        support_rebuild(directory, false, &from_snapshot);
        if (strstr(from_snapshot.notices, "skipped"))
            fail_msg("round %llu (%s): a snapshot file was skipped after a kill:\n%s", (unsigned long long)round,
                     directory, from_snapshot.notices);
        loaded += strstr(from_snapshot.notices, "loaded the snapshot") != NULL;
        support_rebuild(directory, true, &from_log);
        support_assert_same_state(&from_snapshot, &from_log);
        if (from_snapshot.event_number < committed)
            fail_msg("round %llu: the store went back from event %llu to %llu", (unsigned long long)round,
                     (unsigned long long)committed, (unsigned long long)from_snapshot.event_number);
        committed = from_snapshot.event_number;
        free(from_snapshot.jam);
        free(from_log.jam);
    }
    printf("torture (%s): %llu children killed mid-run, %llu reopened from a snapshot\n", snapshot_kind_name(kind),
           (unsigned long long)kills, (unsigned long long)loaded);
    /* a torture in which nothing was ever killed, or no snapshot ever
     * loaded, tested nothing */
    assert_true(kills > 0);
    assert_true(loaded > 0);
}

static void test_jam_torture(void **state) { torture(SNAPSHOT_JAM); }
static void test_pma_torture(void **state) { torture(SNAPSHOT_PMA); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jam_torture),
        cmocka_unit_test(test_pma_torture),
    };
    return cmocka_run_group_tests(tests, make_base, remove_base);
}
