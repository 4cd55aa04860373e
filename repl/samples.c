/* samples.c -- finding and reading the sample kernels, and generating
 * their events.
 *
 * The generators draw from splitmix64, a 64-bit counter passed through a
 * fixed mixing function: tiny, fast, and the same sequence everywhere for a
 * given seed, which is what reproducible event logs need.
 */
#include "repl/samples.h"

#include "interp/nock.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interp/text.h"

static const char *const sample_names[] = { "counter", "kv", "jobs", "mix" };
#define SAMPLE_COUNT (sizeof sample_names / sizeof sample_names[0])

const char *samples_names(void) { return "counter, kv, jobs, mix"; }

bool samples_known(const char *name)
{
    for (size_t i = 0; i < SAMPLE_COUNT; i++)
        if (strcmp(name, sample_names[i]) == 0)
            return true;
    return false;
}

/* ---- finding and reading ------------------------------------------------- */

static bool readable(const char *path) { return access(path, R_OK) == 0; }

/* The directory the running program is in ("" when unknown). */
static void program_directory(char *out, size_t size)
{
    ssize_t length = readlink("/proc/self/exe", out, size - 1);
    if (length <= 0) {
        out[0] = '\0';
        return;
    }
    out[length] = '\0';
    char *slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
}

bool samples_find(const char *name, char *path, size_t size, char *why, size_t why_size)
{
    if (!samples_known(name)) {
        snprintf(why, why_size, "no sample named %s (the samples are %s)", name, samples_names());
        return false;
    }
    const char *from_environment = getenv("NOCKLAB_SAMPLES");
    if (from_environment && *from_environment) {
        snprintf(path, size, "%s/%s.nock", from_environment, name);
        if (readable(path))
            return true;
        snprintf(why, why_size, "no %s.nock in $NOCKLAB_SAMPLES (%s)", name, from_environment);
        return false;
    }
    char directory[4096];
    program_directory(directory, sizeof directory);
    /* bin/nocklab in the source tree, build/x/nocklab, and PREFIX/bin/nocklab
     * after `make install`. */
    const char *relative[] = { "../samples", "../../samples", "../share/nocklab/samples" };
    for (size_t i = 0; directory[0] && i < sizeof relative / sizeof relative[0]; i++) {
        snprintf(path, size, "%s/%s/%s.nock", directory, relative[i], name);
        if (readable(path))
            return true;
    }
    snprintf(path, size, "samples/%s.nock", name);
    if (readable(path))
        return true;
    snprintf(why, why_size, "cannot find %s.nock beside the program, in its share/nocklab/samples or in ./samples (set NOCKLAB_SAMPLES to its directory)",
             name);
    return false;
}

/* Blank out `::` comments outside quotes, in place, keeping offsets. */
static void blank_comments(char *text, size_t length)
{
    char quote = 0;
    for (size_t i = 0; i < length; i++) {
        if (quote) {
            if (text[i] == '\\' && i + 1 < length)
                i++;
            else if (text[i] == quote || text[i] == '\n')
                quote = 0;
        } else if (text[i] == '\'' || text[i] == '"') {
            quote = text[i];
        } else if (text[i] == ':' && i + 1 < length && text[i + 1] == ':') {
            while (i < length && text[i] != '\n')
                text[i++] = ' ';
        }
    }
}

static char *read_whole_file(const char *path, size_t *length, char *why, size_t why_size)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    long size = fseek(file, 0, SEEK_END) == 0 ? ftell(file) : -1;
    if (size >= 0 && fseek(file, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1)) != NULL) {
        *length = fread(text, 1, (size_t)size, file);
        text[*length] = '\0';
        if (ferror(file)) {
            free(text);
            text = NULL;
        }
    }
    if (!text)
        snprintf(why, why_size, "cannot read %s: %s", path, errno ? strerror(errno) : "out of memory");
    fclose(file);
    return text;
}

/* While parsing, a full region jumps back here instead of to whoever owns
 * the region's handler. */
struct parse_guard {
    jmp_buf exit;
};

static void parse_out_of_memory(void *context)
{
    longjmp(((struct parse_guard *)context)->exit, 1);
}

static bool parse_guarded(struct noun_region *region, const char *text, size_t length, noun *out,
                          struct text_error *error)
{
    struct parse_guard guard;
    void (*saved_handler)(void *) = region->out_of_memory;
    void *saved_context = region->out_of_memory_context;
    region->out_of_memory = parse_out_of_memory;
    region->out_of_memory_context = &guard;
    bool ok;
    if (setjmp(guard.exit)) {
        snprintf(error->message, sizeof error->message, "the noun is too big for scratch");
        ok = false;
    } else {
        ok = text_parse(region, text, length, NULL, NULL, out, error);
    }
    region->out_of_memory = saved_handler;
    region->out_of_memory_context = saved_context;
    return ok;
}

bool samples_load_file(const char *path, struct noun_region *region, noun *out, char *why, size_t why_size)
{
    size_t length = 0;
    char *text = read_whole_file(path, &length, why, why_size);
    if (!text)
        return false;
    blank_comments(text, length);
    struct text_error error = { 0 };
    bool ok = parse_guarded(region, text, length, out, &error);
    if (!ok)
        snprintf(why, why_size, "%s: %s", path, error.message);
    free(text);
    return ok;
}

bool samples_load_kernel(const char *name, struct noun_home *home, noun *kernel, char *why, size_t why_size)
{
    char path[4200];
    if (!samples_find(name, path, sizeof path, why, why_size))
        return false;
    /* A kernel's text is small; within the scratch size the process chose
     * (repl/memory.h) so it starts under a tight `ulimit -v`. */
    size_t scratch = nock_default_scratch_bytes();
    struct noun_region *region = noun_region_new(scratch < ((size_t)1 << 30) ? scratch : (size_t)1 << 30);
    if (!region) {
        snprintf(why, why_size, "cannot reserve scratch to read %s", path);
        return false;
    }
    noun parsed;
    bool ok = samples_load_file(path, region, &parsed, why, why_size);
    if (ok) {
        *kernel = noun_home_copy_out(home, region, parsed);
        if (*kernel == NOUN_NONE) {
            snprintf(why, why_size, "out of memory: home is full");
            ok = false;
        }
    }
    noun_region_free(region);
    return ok;
}

/* ---- generators ------------------------------------------------------------ */

enum sample_kind { SAMPLE_COUNTER, SAMPLE_KV, SAMPLE_JOBS, SAMPLE_MIX };

/* A generator: which sample, the PRNG state, and how many events it made
 * (jobs uses it for spawn ids). */
struct samples_generator {
    enum sample_kind kind;
    uint64_t state;
    uint64_t made;
};

static uint64_t next_random(struct samples_generator *generator)
{
    uint64_t z = (generator->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

struct samples_generator *samples_generator_new(const char *name, uint64_t seed)
{
    enum sample_kind kind;
    if (strcmp(name, "counter") == 0)
        kind = SAMPLE_COUNTER;
    else if (strcmp(name, "kv") == 0)
        kind = SAMPLE_KV;
    else if (strcmp(name, "jobs") == 0)
        kind = SAMPLE_JOBS;
    else if (strcmp(name, "mix") == 0)
        kind = SAMPLE_MIX;
    else
        return NULL;
    struct samples_generator *generator = calloc(1, sizeof *generator);
    if (generator) {
        generator->kind = kind;
        generator->state = seed;
    }
    return generator;
}

void samples_generator_free(struct samples_generator *generator) { free(generator); }

/* kv: a key is 0x1.0000 + shard * 0x1000 + slot (see samples/kv.nock). */
static noun kv_event(struct samples_generator *generator, struct noun_region *region)
{
    uint64_t draw = next_random(generator);
    noun key = 0x10000 + (draw & 0xffff);
    if ((draw >> 16) % 10 == 0)
        return noun_cell_new(region, noun_short_term("get"), key);
    noun value = (draw >> 32) & 0xffffffffu;
    return noun_trel(region, noun_short_term("put"), key, value);
}

/* jobs: mostly fib(5..18), every 8th with limits, every 16th a %boom. */
static noun jobs_event(struct samples_generator *generator, struct noun_region *region)
{
    uint64_t draw = next_random(generator);
    noun id = generator->made + 1;
    if (generator->made % 16 == 15)
        return noun_cell_new(region, noun_short_term("boom"), id);
    noun n = 5 + draw % 14;
    noun options = 0;
    if (generator->made % 8 == 7)
        options = noun_cell_new(region, 60000, 512); /* a minute, 512 MiB: generous on purpose */
    return noun_qual(region, noun_short_term("fib"), id, n, options);
}

/* A list of `count` numbers from `low` to `high`. */
static noun random_list(struct samples_generator *generator, struct noun_region *region, uint64_t count, uint64_t low,
                        uint64_t high)
{
    noun list = 0;
    for (uint64_t i = 0; i < count; i++)
        list = noun_cell_new(region, low + next_random(generator) % (high - low + 1), list);
    return list;
}

/* mix: 70% cheap %tick; 15% a %fib spawn of fib(16..20); 8% a %par map
 * of 4 to 8 fib(10..15); 4% a %pfib spawn of such a map; 3% a %nest. */
static noun mix_event(struct samples_generator *generator, struct noun_region *region)
{
    uint64_t draw = next_random(generator) % 100;
    noun id = generator->made + 1;
    if (draw < 70)
        return noun_cell_new(region, noun_short_term("tick"), 0);
    if (draw < 85)
        return noun_trel(region, noun_short_term("fib"), id, 16 + next_random(generator) % 5);
    uint64_t count = 4 + next_random(generator) % 5;
    noun list = random_list(generator, region, count, 10, 15);
    if (draw < 93)
        return noun_trel(region, noun_short_term("par"), id, list);
    if (draw < 97)
        return noun_trel(region, noun_short_term("pfib"), id, list);
    return noun_trel(region, noun_short_term("nest"), id, random_list(generator, region, 2, 8, 12));
}

noun samples_generator_next(struct samples_generator *generator, struct noun_region *region)
{
    noun event;
    switch (generator->kind) {
    case SAMPLE_KV:
        event = kv_event(generator, region);
        break;
    case SAMPLE_JOBS:
        event = jobs_event(generator, region);
        break;
    case SAMPLE_MIX:
        event = mix_event(generator, region);
        break;
    case SAMPLE_COUNTER:
    default:
        event = noun_short_term("inc");
        break;
    }
    generator->made++;
    return event;
}
