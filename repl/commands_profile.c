/* commands_profile.c -- :prof and :tui (see commands_profile.h).
 *
 * The samplers count into two folded tables (profiler/folded.h) that live
 * as long as the process, so samples survive `:prof off` until dumped or
 * cleared.
 */
#include "repl/commands_profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/jets.h"
#include "profiler/native.h"

#define TOP_DEFAULT 15
#define TOP_MAX 200

static struct {
    struct folded *nock_samples, *native_samples;
    struct sampler *nock;
    struct native_sampler *native;
    bool tui_requested, tui_on;
    /* what commands_profile_start sampled, to come back to */
    struct nock_context *home_evaluator;
    struct jets_dashboard *home_jets;
} profiling;

static bool ensure_profiling(void)
{
    if (!profiling.nock_samples)
        profiling.nock_samples = folded_new();
    if (!profiling.native_samples)
        profiling.native_samples = folded_new();
    if (profiling.nock_samples && !profiling.nock)
        profiling.nock = sampler_new(profiling.nock_samples);
    if (profiling.native_samples && !profiling.native)
        profiling.native = native_sampler_new(profiling.native_samples);
    return profiling.nock && profiling.native;
}

static struct profile_request request;

const struct profile_request *commands_profile_request(void) { return &request; }

bool commands_profile_take_options(int *argc, char **argv)
{
    int kept = 1;
    bool options_done = false;
    for (int i = 1; i < *argc; i++) {
        if (!options_done && strcmp(argv[i], "--") == 0)
            options_done = true;
        if (!options_done && strcmp(argv[i], "-e") == 0 && i + 1 < *argc) {
            argv[kept++] = argv[i++]; /* a line to run is never an option */
        } else if (!options_done && strcmp(argv[i], "--tui") == 0) {
            request.tui = true;
            continue;
        } else if (!options_done && strcmp(argv[i], "--prof") == 0) {
            if (i + 1 >= *argc) {
                fprintf(stderr, "nocklab: --prof needs a file to write the folded stacks to\n");
                return false;
            }
            request.prof_path = argv[++i];
            continue;
        } else if (!options_done && strncmp(argv[i], "--prof=", 7) == 0) {
            request.prof_path = argv[i] + 7;
            continue;
        }
        argv[kept++] = argv[i];
    }
    argv[kept] = NULL;
    *argc = kept;
    return true;
}

struct sampler *commands_profile_sampler(void)
{
    return ensure_profiling() ? profiling.nock : NULL;
}

static const char *label_from_jets(void *context, noun core)
{
    return jets_dashboard_label(context, core);
}

bool commands_profile_start(struct session *session, struct nock_context *evaluator, unsigned hz)
{
    if (!ensure_profiling()) {
        errno = ENOMEM;
        return false;
    }
    struct jets_dashboard *jets = session ? session_jets(session) : NULL;
    profiling.home_evaluator = evaluator;
    profiling.home_jets = jets;
    return sampler_start(profiling.nock, evaluator, hz, jets ? label_from_jets : NULL, jets);
}

void commands_profile_follow(struct nock_context *evaluator)
{
    if (!profiling.nock || !sampler_running(profiling.nock))
        return;
    if (evaluator)
        sampler_watch(profiling.nock, evaluator, NULL, NULL);
    else
        sampler_watch(profiling.nock, profiling.home_evaluator, profiling.home_jets ? label_from_jets : NULL,
                      profiling.home_jets);
}

bool commands_profile_take_tui_request(bool *on)
{
    bool requested = profiling.tui_requested;
    profiling.tui_requested = false;
    *on = profiling.tui_on;
    return requested;
}

bool commands_profile_write(const char *path)
{
    uint64_t lines = 0;
    if (!ensure_profiling() || !folded_write(profiling.nock_samples, path, &lines)) {
        fprintf(stderr, "nocklab: cannot write the profile to %s: %s\n", path, strerror(errno));
        return false;
    }
    fprintf(stderr, "nocklab: %llu samples in %llu stacks written to %s\n",
            (unsigned long long)folded_samples(profiling.nock_samples), (unsigned long long)lines, path);
    return true;
}

/* The words of the arguments, split on blanks (at most `max`). */
static size_t split_words(const struct command_arguments *arguments, char words[][256], size_t max)
{
    size_t count = 0, at = arguments->rest_start;
    while (at < arguments->rest_end && count < max) {
        while (at < arguments->rest_end && (arguments->line[at] == ' ' || arguments->line[at] == '\t'))
            at++;
        size_t start = at;
        while (at < arguments->rest_end && arguments->line[at] != ' ' && arguments->line[at] != '\t')
            at++;
        if (at > start) {
            size_t length = at - start < 255 ? at - start : 255;
            memcpy(words[count], arguments->line + start, length);
            words[count++][length] = 0;
        }
    }
    return count;
}

/* A whole number in [low, high] from a word; false (with an error
 * printed) otherwise. */
static bool parse_number(const char *word, unsigned long low, unsigned long high, const char *what,
                         unsigned long *value, const struct session_output *output)
{
    char *end;
    errno = 0;
    unsigned long parsed = strtoul(word, &end, 10);
    if (errno || end == word || *end || parsed < low || parsed > high) {
        session_print_error(output, "error: %s must be a whole number from %lu to %lu, not '%s'", what, low, high,
                            word);
        return false;
    }
    *value = parsed;
    return true;
}

static enum session_result print_top(struct folded *samples, const char *count_word, const char *what,
                                     const struct session_output *output)
{
    unsigned long count = TOP_DEFAULT;
    if (count_word && !parse_number(count_word, 1, TOP_MAX, "the number of frames", &count, output))
        return SESSION_FAILED;
    uint64_t total = folded_samples(samples);
    if (total == 0) {
        session_print(output, "no %s samples yet (:prof %son starts sampling)", what,
                      strcmp(what, "native") == 0 ? "native " : "");
        return SESSION_OK;
    }
    struct folded_frame *frames = calloc(count, sizeof *frames);
    if (!frames) {
        session_print_error(output, "error: out of memory");
        return SESSION_FAILED;
    }
    size_t found = folded_top(samples, frames, count);
    session_print(output, "%llu %s samples; hottest frames by time on the stack:",
                  (unsigned long long)total, what);
    session_print(output, "  %6s %6s  %s", "total", "self", "frame");
    for (size_t i = 0; i < found; i++)
        session_print(output, "  %5.1f%% %5.1f%%  %s", 100.0 * (double)frames[i].total / (double)total,
                      100.0 * (double)frames[i].self / (double)total, frames[i].name);
    free(frames);
    return SESSION_OK;
}

static enum session_result dump(struct folded *samples, const char *path, const struct session_output *output)
{
    uint64_t lines = 0;
    if (!folded_write(samples, path, &lines)) {
        session_print_error(output, "error: cannot write %s: %s", path, strerror(errno));
        return SESSION_FAILED;
    }
    session_print(output, "%llu samples in %llu stacks written to %s (folded: flamegraph.pl, inferno, speedscope)",
                  (unsigned long long)folded_samples(samples), (unsigned long long)lines, path);
    return SESSION_OK;
}

static enum session_result prof_native(char words[][256], size_t count, const struct session_output *output)
{
    const char *verb = count > 1 ? words[1] : "";
    if (strcmp(verb, "on") == 0 && count <= 3) {
        unsigned long hz = SAMPLER_DEFAULT_HZ;
        if (count == 3 && !parse_number(words[2], 1, 1000, "the native sampling rate (Hz)", &hz, output))
            return SESSION_FAILED;
        if (!native_sampler_start(profiling.native, (unsigned)hz)) {
            session_print_error(output, "error: cannot start native sampling: %s", strerror(errno));
            return SESSION_FAILED;
        }
        session_print(output, "native sampling on at %lu Hz", hz);
        return SESSION_OK;
    }
    if (strcmp(verb, "off") == 0 && count == 2) {
        native_sampler_stop(profiling.native);
        session_print(output, "native sampling off; %llu samples kept",
                      (unsigned long long)folded_samples(profiling.native_samples));
        return SESSION_OK;
    }
    if (strcmp(verb, "dump") == 0 && count == 3)
        return dump(profiling.native_samples, words[2], output);
    if (strcmp(verb, "top") == 0 && count <= 3)
        return print_top(profiling.native_samples, count == 3 ? words[2] : NULL, "native", output);
    if (strcmp(verb, "clear") == 0 && count == 2) {
        folded_clear(profiling.native_samples);
        session_print(output, "native samples cleared");
        return SESSION_OK;
    }
    session_print_error(output, "error: usage: :prof native on [HZ] | off | dump FILE | top [N] | clear");
    return SESSION_FAILED;
}

enum session_result commands_profile_prof(struct session *session, const struct command_arguments *arguments,
                                          const struct session_output *output)
{
    char words[4][256];
    size_t count = split_words(arguments, words, 4);
    if (!ensure_profiling()) {
        session_print_error(output, "error: out of memory");
        return SESSION_FAILED;
    }
    const char *verb = count ? words[0] : "";
    if (strcmp(verb, "native") == 0)
        return prof_native(words, count, output);
    if (strcmp(verb, "on") == 0 && count <= 2) {
        unsigned long hz = SAMPLER_DEFAULT_HZ;
        if (count == 2 && !parse_number(words[1], SAMPLER_MIN_HZ, SAMPLER_MAX_HZ, "the sampling rate (Hz)", &hz,
                                        output))
            return SESSION_FAILED;
        if (!commands_profile_start(session, session_nock(session), (unsigned)hz)) {
            session_print_error(output, "error: cannot start sampling: %s", strerror(errno));
            return SESSION_FAILED;
        }
        session_print(output, "Nock sampling on at %lu Hz of CPU time", hz);
        return SESSION_OK;
    }
    if (strcmp(verb, "off") == 0 && count == 1) {
        bool was_running = sampler_running(profiling.nock);
        sampler_stop(profiling.nock);
        session_print(output, "Nock sampling off; %llu samples kept",
                      (unsigned long long)folded_samples(profiling.nock_samples));
        /* CPU timers fire at most at the kernel's tick: say so when that
         * held the rate well below what was asked */
        double rate = sampler_tick_rate(profiling.nock);
        if (was_running && rate > 0 && rate < 0.8 * sampler_hz(profiling.nock))
            session_print(output, "(the ticks came about %.0f times a CPU-second, not %u: the kernel's timer tick "
                                  "limits the rate)",
                          rate, sampler_hz(profiling.nock));
        return SESSION_OK;
    }
    if (strcmp(verb, "dump") == 0 && count == 2)
        return dump(profiling.nock_samples, words[1], output);
    if (strcmp(verb, "top") == 0 && count <= 2)
        return print_top(profiling.nock_samples, count == 2 ? words[1] : NULL, "Nock", output);
    if (strcmp(verb, "clear") == 0 && count == 1) {
        folded_clear(profiling.nock_samples);
        session_print(output, "Nock samples cleared");
        return SESSION_OK;
    }
    if (count == 0) {
        session_print(output, "Nock sampling %s (%llu samples); native sampling %s (%llu samples)",
                      sampler_running(profiling.nock) ? "on" : "off",
                      (unsigned long long)folded_samples(profiling.nock_samples),
                      native_sampler_running(profiling.native) ? "on" : "off",
                      (unsigned long long)folded_samples(profiling.native_samples));
        return SESSION_OK;
    }
    session_print_error(output, "error: usage: :prof on [HZ] | off | dump FILE | top [N] | clear | native ...");
    return SESSION_FAILED;
}

enum session_result commands_profile_tui(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    char words[2][256];
    size_t count = split_words(arguments, words, 2);
    if (count != 1 || (strcmp(words[0], "on") != 0 && strcmp(words[0], "off") != 0)) {
        session_print_error(output, "error: usage: :tui on|off");
        return SESSION_FAILED;
    }
    bool on = strcmp(words[0], "on") == 0;
    if (on && !session_is_interactive(session)) {
        session_print_error(output, "error: the panes need the interactive REPL on a terminal");
        return SESSION_FAILED;
    }
    profiling.tui_requested = true;
    profiling.tui_on = on;
    return SESSION_OK;
}
