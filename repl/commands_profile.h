/* commands_profile.h -- the profilers and panes at the command line.
 *
 *   :prof on [HZ]          sample the Nock the session runs (default 100 Hz)
 *   :prof off              stop sampling (the samples are kept)
 *   :prof dump FILE        write the samples as folded stacks
 *   :prof top [N]          the N hottest frames (default 15)
 *   :prof clear            forget the samples
 *   :prof native on [HZ] / off / dump FILE / top [N] / clear
 *                          the same for nocklab's own C stack (libunwind)
 *   :tui on|off            the live panes (repl/interactive.c runs them)
 *
 * One profiling state per process (a REPL has one session), which
 * `nocklab --prof FILE` also uses for batch lines and the replay and gen
 * subcommands.
 */
#ifndef NOCKLAB_COMMANDS_PROFILE_H
#define NOCKLAB_COMMANDS_PROFILE_H

#include <stdbool.h>

#include "interp/nock.h"
#include "profiler/sampler.h"
#include "repl/command.h"
#include "repl/session.h"

command_handler commands_profile_prof, commands_profile_tui;

#define COMMANDS_PROFILE_ROWS                                                                                     \
    { "prof", commands_profile_prof, COMMAND_TAKES_OPTIONAL_REST, ":prof on [HZ]|off|dump FILE|top [N]|native ...", \
      "sample where Nock (or nocklab itself) spends its time; folded stacks",                                    \
      "`:prof on [HZ]` samples the running Nock HZ times a second (default 100)\n"                               \
      "and names each call by its core's %fast label; `:prof dump FILE` writes\n"                                \
      "folded stacks (flamegraph.pl, inferno, speedscope); `:prof top [N]` lists\n"                              \
      "the hottest frames; `:prof off`, `:prof clear`.  `:prof native on|off|\n"                                  \
      "dump|top|clear` does the same for nocklab's own C stack.\n"                                               \
      "Example: :prof on 500" },                                                                                  \
    { "tui", commands_profile_tui, COMMAND_TAKES_REST, ":tui on|off",                                             \
      "show the live panes (events, snapshot, dedup, backend, hot arms)",                                        \
      "The panes fill the terminal above the prompt and refresh ten times a\n"                                   \
      "second; the prompt keeps working under them.  Tab moves the focus,\n"                                     \
      "arrows scroll the events pane, q (on a pane) or `:tui off` leaves them.\n"                                \
      "Example: :tui on" },

/* What the command line asked for (--tui, --prof FILE), for main and the
 * subcommands. */
struct profile_request {
    bool tui;
    const char *prof_path;
};
const struct profile_request *commands_profile_request(void);
/* Take --tui and --prof FILE (or --prof=FILE) out of argv, wherever they
 * are before a "--"; false (with a message on stderr) when --prof has no
 * file. */
bool commands_profile_take_options(int *argc, char **argv);

/* The Nock sampler's state for everything in this process. */
struct sampler *commands_profile_sampler(void);
/* Start the Nock sampler on `evaluator` (labels from the session's jet
 * dashboard when `session` is given) at `hz`.  False with errno. */
bool commands_profile_start(struct session *session, struct nock_context *evaluator, unsigned hz);
/* While the store applies events on `evaluator` (a kernel's), sample it
 * instead; NULL goes back to what commands_profile_start sampled.  Does
 * nothing while the sampler is off.  A store_listener's `evaluator`. */
void commands_profile_follow(struct nock_context *evaluator);
/* Whether `:tui on` asked for the panes (and clear the request); `off`
 * likewise for `:tui off`. */
bool commands_profile_take_tui_request(bool *on);
/* Write the Nock samples to `path` as folded stacks (for --prof FILE at
 * exit); prints a line to stderr saying where, or why not. */
bool commands_profile_write(const char *path);

#endif
