/* bench_hoon.c -- lite boot of the ivory pill and :hoon (add 2 2), the way
 * Vere's `urbit eval` measures: boot from the pill's bytes to a kernel, then
 * one expression from a booted kernel (wishing for the gates it needs
 * included, as `urbit eval` does on every run).  Then the Hoon compile
 * workload: parser- and type-heavy expressions and a 50-line core, each
 * compiled from a cold boot (wishing for the compile gate included) and
 * again (warm: the %memo cache kept, as the REPL keeps it).  Each figure is
 * the median of several runs, each in a fresh evaluator (so no compiled
 * code, memo or jet registration carries over), printed as
 *
 *     <name>: <measured> (target <= <target>, Vere <figure>) <ratio>x OK|MISSED
 *
 * followed by where the time went.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "interp/clock.h"
#include "interp/hoon.h"
#include "interp/ivory.h"
#include "interp/jets.h"
#include "interp/nock.h"
#include "interp/noun.h"
#include "tests/bench/bench.h"

#define RUNS 5
#define COMPILE_RUNS 3

/* The compile workload: the parsing examples and a core. */
static const char core_50_lines[] =
    "|%\n"
    "++  square\n"
    "  |=  a=@ud\n"
    "  ^-  @ud\n"
    "  (mul a a)\n"
    "++  sum-list\n"
    "  |=  l=(list @ud)\n"
    "  ^-  @ud\n"
    "  (roll l add)\n"
    "++  squares\n"
    "  |=  n=@ud\n"
    "  ^-  (list @ud)\n"
    "  (turn (gulf 1 n) square)\n"
    "++  fizz\n"
    "  |=  n=@ud\n"
    "  ^-  tape\n"
    "  ?:  =(0 (mod n 15))  \"fizzbuzz\"\n"
    "  ?:  =(0 (mod n 5))  \"buzz\"\n"
    "  ?:  =(0 (mod n 3))  \"fizz\"\n"
    "  (scow %ud n)\n"
    "++  count-evens\n"
    "  |=  l=(list @ud)\n"
    "  =|  count=@ud\n"
    "  |-  ^-  @ud\n"
    "  ?~  l  count\n"
    "  $(l t.l, count ?:(=(0 (mod i.l 2)) +(count) count))\n"
    "++  index\n"
    "  |=  l=(list @t)\n"
    "  ^-  (map @t @ud)\n"
    "  =|  m=(map @t @ud)\n"
    "  =/  i=@ud  0\n"
    "  |-\n"
    "  ?~  l  m\n"
    "  $(l t.l, i +(i), m (~(put by m) i.l i))\n"
    "++  pair-up\n"
    "  |=  [a=(list @ud) b=(list @ud)]\n"
    "  ^-  (list [@ud @ud])\n"
    "  ?~  a  ~\n"
    "  ?~  b  ~\n"
    "  [[i.a i.b] $(a t.a, b t.b)]\n"
    "++  shout\n"
    "  |=  t=tape\n"
    "  ^-  tape\n"
    "  (cuss t)\n"
    "++  parse-number\n"
    "  |=  t=@t\n"
    "  ^-  (unit @ud)\n"
    "  (rush t dem)\n"
    "++  total\n"
    "  |=  n=@ud\n"
    "  (sum-list (squares n))\n"
    "--\n";

static const struct {
    const char *name, *text;
} compile_workload[] = {
    { "(scan \"  \" gay)", "(scan \"  \" gay)" },
    { "(rash '52' dem:ag)", "(rash '52' dem:ag)" },
    { "(slay '~zod')", "(slay '~zod')" },
    { "a 50-line core", core_50_lines },
};
#define COMPILE_WORKLOAD_SIZE (sizeof compile_workload / sizeof compile_workload[0])

struct machine {
    struct noun_home *home;
    struct jets_dashboard *jets;
    struct nock_context *nock;
};

static void machine_fast(void *context, noun clue, noun core)
{
    struct machine *machine = context;
    jets_dashboard_fast(machine->jets, machine->nock, clue, core);
}

static void die(const char *message)
{
    fprintf(stderr, "bench_hoon: %s\n", message);
    exit(1);
}

static void machine_open(struct machine *machine)
{
    machine->home = noun_home_new(noun_arena_memory((size_t)16 << 30));
    machine->jets = machine->home ? jets_dashboard_new(machine->home) : NULL;
    if (!machine->jets)
        die("out of memory");
    struct nock_config config = {
        .keep_memo = true, /* as the REPL has it */
        .hooks = { .context = machine, .fast = machine_fast },
        .jets = jets_dashboard_hooks(machine->jets),
    };
    machine->nock = nock_context_new(machine->home, &config);
    if (!machine->nock)
        die("cannot make an evaluator");
}

static void machine_close(struct machine *machine)
{
    nock_context_free(machine->nock);
    jets_dashboard_free(machine->jets);
    noun_home_free(machine->home);
}


static double median(double *samples, int count)
{
    bench_sort(samples, (size_t)count);
    return samples[count / 2];
}

static int missed = 0;

static void report(const char *name, double seconds, double target_seconds, const char *vere)
{
    double ratio = seconds / target_seconds;
    bool ok = seconds <= target_seconds;
    if (!ok)
        missed++;
    if (target_seconds < 1.0)
        printf("%s: %.1f ms (target <= %.0f ms, Vere %s) %.2fx %s\n", name, seconds * 1e3, target_seconds * 1e3,
               vere, ratio, ok ? "OK" : "MISSED");
    else
        printf("%s: %.3f s (target <= %.2f s, Vere %s) %.2fx %s\n", name, seconds, target_seconds, vere, ratio,
               ok ? "OK" : "MISSED");
    fflush(stdout);
}

static uint8_t *read_pill(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    rewind(file);
    uint8_t *bytes = size > 0 ? malloc((size_t)size) : NULL;
    if (bytes && fread(bytes, 1, (size_t)size, file) != (size_t)size) {
        free(bytes);
        bytes = NULL;
    }
    fclose(file);
    *length = (size_t)size;
    return bytes;
}

/* Boot a fresh machine from the pill; its runtime in *runtime. */
static void boot_machine(struct machine *machine, const uint8_t *pill, size_t length, struct ivory_boot *booted,
                         struct hoon_runtime **runtime)
{
    char why[256];
    machine_open(machine);
    if (!ivory_boot_bytes(machine->nock, pill, length, booted, why, sizeof why))
        die(why);
    nock_context_reset(machine->nock);
    *runtime = hoon_runtime_new(machine->home, booted->kernel);
    if (!*runtime)
        die("out of memory");
}

/* Seconds to compile `text` with hoon_evaluate, dying if Hoon says no. */
static double compile_seconds(struct machine *machine, struct hoon_runtime *runtime, const char *name,
                              const char *text, uint64_t *steps)
{
    struct hoon_result result;
    double started = clock_wall_seconds();
    if (!hoon_evaluate(runtime, machine->nock, text, strlen(text), HOON_COMPILE, 80, &result)) {
        fprintf(stderr, "bench_hoon: %s: %s %s\n", name, result.failure, result.line_count ? result.lines[0] : "");
        exit(1);
    }
    double seconds = clock_wall_seconds() - started;
    *steps = result.compile_steps;
    hoon_result_free(&result);
    nock_context_reset(machine->nock);
    return seconds;
}

static void bench_compile_workload(const uint8_t *pill, size_t length)
{
    for (size_t i = 0; i < COMPILE_WORKLOAD_SIZE; i++) {
        double cold[COMPILE_RUNS], warm[COMPILE_RUNS];
        uint64_t cold_steps = 0, warm_steps = 0;
        for (int run = 0; run < COMPILE_RUNS; run++) {
            struct machine machine;
            struct ivory_boot booted;
            struct hoon_runtime *runtime;
            boot_machine(&machine, pill, length, &booted, &runtime);
            cold[run] = compile_seconds(&machine, runtime, compile_workload[i].name, compile_workload[i].text,
                                        &cold_steps);
            warm[run] = compile_seconds(&machine, runtime, compile_workload[i].name, compile_workload[i].text,
                                        &warm_steps);
            hoon_runtime_free(runtime);
            machine_close(&machine);
        }
        char name[96];
        snprintf(name, sizeof name, "compile %s, cold", compile_workload[i].name);
        report(name, median(cold, COMPILE_RUNS), 1.0, "not measured here");
        printf("  %llu Nock steps, wishing for the compile gate included\n", (unsigned long long)cold_steps);
        snprintf(name, sizeof name, "compile %s, warm", compile_workload[i].name);
        report(name, median(warm, COMPILE_RUNS), 0.1, "not measured here");
        printf("  %llu Nock steps\n", (unsigned long long)warm_steps);
    }
}

int main(void)
{
    const char *shared = getenv("SHARED");
    char path[4096];
    snprintf(path, sizeof path, "%s/ivory.pill", shared && *shared ? shared : "../shared");
    size_t length;
    uint8_t *pill = read_pill(path, &length);
    if (!pill)
        die("can't read the ivory pill ($SHARED/ivory.pill)");

    double boot[RUNS], cue[RUNS], home[RUNS], formula[RUNS], cold[RUNS], warm[RUNS];
    struct hoon_result last_cold, last_warm;
    struct jets_stats jet_stats = { 0 };
    uint64_t boot_steps = 0;
    for (int run = 0; run < RUNS; run++) {
        struct machine machine;
        machine_open(&machine);
        struct ivory_boot booted;
        char why[256];
        double started = clock_wall_seconds();
        if (!ivory_boot_bytes(machine.nock, pill, length, &booted, why, sizeof why))
            die(why);
        boot[run] = clock_wall_seconds() - started;
        cue[run] = booted.cue_seconds;
        home[run] = booted.home_seconds + booted.keep_seconds;
        formula[run] = booted.nock_seconds;
        boot_steps = booted.nock_steps;
        nock_context_reset(machine.nock);

        struct hoon_runtime *runtime = hoon_runtime_new(machine.home, booted.kernel);
        if (!runtime)
            die("out of memory");
        started = clock_wall_seconds();
        if (!hoon_evaluate(runtime, machine.nock, "(add 2 2)", 9, HOON_PRINT, 80, &last_cold) ||
            last_cold.product != 4)
            die("(add 2 2) did not give 4");
        cold[run] = clock_wall_seconds() - started;
        hoon_result_free(&last_cold);
        nock_context_reset(machine.nock);
        started = clock_wall_seconds();
        if (!hoon_evaluate(runtime, machine.nock, "(add 2 2)", 9, HOON_PRINT, 80, &last_warm) ||
            last_warm.product != 4)
            die("(add 2 2) did not give 4 the second time");
        warm[run] = clock_wall_seconds() - started;
        hoon_result_free(&last_warm);
        jets_dashboard_stats(machine.jets, &jet_stats);
        hoon_runtime_free(runtime);
        machine_close(&machine);
    }

    report("ivory lite boot", median(boot, RUNS), 0.1, "not measured here");
    printf("  cue %.1f ms, copying to home %.1f ms, boot formula %.1f ms (%llu Nock steps)\n", median(cue, RUNS) * 1e3,
           median(home, RUNS) * 1e3, median(formula, RUNS) * 1e3, (unsigned long long)boot_steps);
    report(":hoon (add 2 2) from a booted kernel", median(cold, RUNS), 1.0,
           "2.5 s arithmetic jets only, 0.27 s full jet set");
    printf("  compile %.1f ms (%llu steps, including wishing for the compile gate), run %.3f ms, print %.1f ms "
           "(%llu steps, including wishing for the printer)\n",
           last_cold.compile_seconds * 1e3, (unsigned long long)last_cold.compile_steps,
           last_cold.run_seconds * 1e3, last_cold.print_seconds * 1e3, (unsigned long long)last_cold.print_steps);
    /* No target of its own (urbit eval never reuses its gates): a figure,
     * not a check. */
    printf(":hoon (add 2 2) again (gates cached): %.3f s (no target)\n", median(warm, RUNS));
    printf("  compile %.1f ms (%llu steps), print %.1f ms (%llu steps)\n", last_warm.compile_seconds * 1e3,
           (unsigned long long)last_warm.compile_steps, last_warm.print_seconds * 1e3,
           (unsigned long long)last_warm.print_steps);
    printf("  jets over boot and both expressions: %llu cores registered, %llu jetted arms, %llu calls\n",
           (unsigned long long)jet_stats.cores, (unsigned long long)jet_stats.jetted_arms,
           (unsigned long long)jet_stats.calls);
    bench_compile_workload(pill, length);
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("peak RSS: %.0f MB\n", (double)usage.ru_maxrss / 1024.0);
    free(pill);
    return missed ? 1 : 0;
}
