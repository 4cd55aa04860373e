/* ivory.c -- lite boot of an ivory pill (see ivory.h). */
#include "interp/ivory.h"
#include "interp/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "interp/jam.h"
#include "interp/mug.h"

/* 'ivory' as an atom: its bytes, least significant first. */
#define IVORY_TAG UINT64_C(0x79726f7669)

static const char *status_text(enum nock_status status)
{
    switch (status) {
    case NOCK_OK: return "ok";
    case NOCK_CRASH: return "crashed";
    case NOCK_OUT_OF_MEMORY: return "ran out of memory";
    case NOCK_TOO_DEEP: return "nested too deep";
    case NOCK_INTERRUPTED: return "was interrupted";
    case NOCK_BLOCKED: return "blocked on a scry";
    }
    return "failed";
}

bool ivory_boot_bytes(struct nock_context *nock, const uint8_t *bytes, size_t length, struct ivory_boot *out,
                      char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    out->pill_bytes = length;
    struct noun_region *region = nock_context_region(nock);
    struct noun_home *home = nock_context_home(nock);
    double started = clock_wall_seconds();
    noun pill;
    struct jam_error error = { 0 };
    if (!jam_cue_bytes(region, bytes, length, &pill, &error)) {
        snprintf(why, why_size, "not a jammed noun: %s (at bit %llu)", error.message,
                 (unsigned long long)error.bit_offset);
        return false;
    }
    double cued = clock_wall_seconds();
    out->cue_seconds = cued - started;
    if (!noun_is_cell(pill) || noun_head(pill) != IVORY_TAG) {
        snprintf(why, why_size, "not an ivory pill: expected [%%ivory nok ver ~], the head is not %%ivory");
        return false;
    }
    noun body = noun_home_copy_out(home, region, noun_tail(pill));
    if (body == NOUN_NONE) {
        snprintf(why, why_size, "out of memory: home is full");
        return false;
    }
    double homed = clock_wall_seconds();
    out->home_seconds = homed - cued;

    /* *[body [2 [0 3] [0 2]]] */
    noun formula = noun_trel(region, 2, noun_cell_new(region, 0, 3), noun_cell_new(region, 0, 2));
    uint64_t steps_before = nock_context_counters(nock)->steps;
    struct nock_outcome outcome = nock_evaluate(nock, body, formula);
    double ran = clock_wall_seconds();
    out->nock_seconds = ran - homed;
    out->nock_steps = nock_context_counters(nock)->steps - steps_before;
    if (outcome.status != NOCK_OK) {
        snprintf(why, why_size, "the boot formula %s%s%s", status_text(outcome.status),
                 outcome.reason ? ": " : "", outcome.reason ? outcome.reason : "");
        return false;
    }
    noun kernel = noun_fragment(7, outcome.product);
    if (kernel == NOUN_NONE) {
        snprintf(why, why_size, "the boot formula's product has no axis 7 (not a lite kernel)");
        return false;
    }
    out->kernel = noun_home_copy_out(home, region, kernel);
    if (out->kernel == NOUN_NONE) {
        snprintf(why, why_size, "out of memory: home is full");
        return false;
    }
    out->keep_seconds = clock_wall_seconds() - ran;
    out->kernel_mug = mug_noun(out->kernel);
    return true;
}

bool ivory_boot_file(struct nock_context *nock, const char *path, struct ivory_boot *out, char *why,
                     size_t why_size)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        snprintf(why, why_size, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    size_t capacity = 1 << 20, used = 0;
    uint8_t *bytes = malloc(capacity);
    while (bytes) {
        used += fread(bytes + used, 1, capacity - used, file);
        if (used < capacity)
            break;
        uint8_t *bigger = realloc(bytes, capacity * 2);
        if (!bigger) {
            free(bytes);
            bytes = NULL;
            break;
        }
        bytes = bigger;
        capacity *= 2;
    }
    bool read_failed = ferror(file);
    fclose(file);
    if (!bytes) {
        snprintf(why, why_size, "out of memory reading %s", path);
        return false;
    }
    if (read_failed) {
        snprintf(why, why_size, "cannot read %s", path);
        free(bytes);
        return false;
    }
    bool ok = ivory_boot_bytes(nock, bytes, used, out, why, why_size);
    free(bytes);
    return ok;
}
