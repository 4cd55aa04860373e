/* commands_kernel.h -- the kernel commands and subcommands.
 *
 *   :boot NAME KERNEL   start a kernel in the current store
 *   :poke EVENT         apply one event, print its effects
 *   :state              the kernel's event number, mug and size
 *   :replay [--from N] [--to M]   rebuild from the log, checking mugs
 *   :snap save | load [N] | info  snapshots of the kernel
 *   :runs               list profile runs
 *   :profile [RUN]      summarize a run
 *   :export RUN PATH    write a run as Chrome trace JSON or CSV
 *   :event N            one logged event: noun, effects, mug, profile rows
 *
 *   nocklab gen SAMPLE N STORE [--seed S] [--snapshot K] [--snap-every N]
 *   nocklab replay STORE [--from N] [--to M] [--snapshot K] [--snap-every N] [--scratch]
 *
 * The store is opened on first use from the session's store directory
 * (--store DIR, default ./nocklab-store) and kept with the session.
 */
#ifndef NOCKLAB_COMMANDS_KERNEL_H
#define NOCKLAB_COMMANDS_KERNEL_H

#include <stdbool.h>

#include "repl/command.h"
#include "repl/session.h"

struct store;

command_handler commands_kernel_boot, commands_kernel_poke, commands_kernel_state, commands_kernel_replay,
    commands_kernel_snap, commands_kernel_runs, commands_kernel_profile, commands_kernel_export, commands_kernel_event;

/* The rows repl/command.c puts in its table. */
#define COMMANDS_KERNEL_ROWS                                                                                      \
    { "boot", commands_kernel_boot, COMMAND_TAKES_WORD_AND_REST, ":boot NAME KERNEL",                             \
      "start the kernel KERNEL (an expression) in the store",                                                     \
      "KERNEL is a Nock gate: battery at axis 2, sample at 6.  Events are applied\n"                              \
      "as *[kernel [9 2 10 [6 1 event] 0 1]], giving [effects new-kernel].  The\n"                               \
      "store (--store DIR, default ./nocklab-store) is made if needed and must\n"                                 \
      "not hold a kernel already.  docs/kernels.md describes the samples.\n"                                      \
      "Example: :load kv samples/kv.nock   then   :boot kv kv" },                                               \
    { "poke", commands_kernel_poke, COMMAND_TAKES_REST, ":poke EVENT",                                            \
      "apply one event to the kernel and print its effects",                                                     \
      "The event is logged and committed before its effects are printed; spawn\n"                                \
      "effects run, and their outcomes are applied (and printed) as events too.\n"                               \
      "An event that crashes is refused: nothing changes and the trace is shown.\n"                             \
      "Example: :poke [%put 0x1.2345 42]" },                                                                      \
    { "state", commands_kernel_state, COMMAND_TAKES_NOTHING, ":state",                                            \
      "show the kernel's event number, mug and size",                                                            \
      "Example: :state" },                                                                                        \
    { "replay", commands_kernel_replay, COMMAND_TAKES_OPTIONAL_REST, ":replay [--from N] [--to M]",               \
      "rebuild the kernel from the log, checking every event's mug",                                             \
      "Applies the logged events to a kernel of its own (the live one is left\n"                                 \
      "alone), from the newest valid snapshot before N (or before M, or the\n"                                   \
      "end) or else from the boot kernel, and stops at the first event whose\n"                                  \
      "mug differs from the log.  Events from N on are profiled as a replay run.\n"                              \
      "Example: :replay --to 1000" },                                                                             \
    { "snap", commands_kernel_snap, COMMAND_TAKES_OPTIONAL_REST, ":snap save | load [N] | info",                  \
      "save, load or list snapshots of the kernel",                                                              \
      ":snap save writes a snapshot of the live kernel now.  :snap load rebuilds\n"                             \
      "the live kernel from the newest valid snapshot (or the one of event N)\n"                                 \
      "and the events logged after it.  :snap info lists the snapshot files:\n"                                  \
      "size, event and mug, or what is wrong with each.  A store keeps one kind\n"                               \
      "(--snapshot jam); --snap-every N snapshots every N events.\n"                                             \
      "Example: :snap save" },                                                                                    \
    { "runs", commands_kernel_runs, COMMAND_TAKES_NOTHING, ":runs",                                               \
      "list the profile runs kept in the store",                                                                 \
      "One line per run: its id, kind (live, gen, replay), events, time and status.\n"                           \
      "Example: :runs" },                                                                                         \
    { "profile", commands_kernel_profile, COMMAND_TAKES_OPTIONAL_REST, ":profile [RUN]",                          \
      "summarize a run: percentiles per metric, the slowest events",                                             \
      "RUN is a run id from :runs, or `last` (the default).  Shows count, total,\n"                              \
      "p50/p90/p99/max of wall and CPU time, Nock steps, bytes allocated,\n"                                      \
      "copy-out bytes and dedup lookups and hits, then the ten slowest events.\n"                                \
      "Example: :profile last" },                                                                                 \
    { "event", commands_kernel_event, COMMAND_TAKES_REST, ":event N",                                            \
      "show logged event N: the event, its effects, the mug after it, its profile rows",                          \
      "Replays the log from the boot kernel up to event N in a kernel of its\n"                                   \
      "own (the live kernel is left alone; no run is recorded), then prints the\n"                               \
      "event, its effects and the mug after it, and its profile row in every run\n"                              \
      "that has one.\n"                                                                                            \
      "Example: :event 42" },                                                                                     \
    { "export", commands_kernel_export, COMMAND_TAKES_WORD_AND_REST, ":export RUN PATH",                          \
      "write a run as Chrome trace JSON (.json) or CSV (.csv)",                                                  \
      "A .json file opens in Perfetto (ui.perfetto.dev) or chrome://tracing: one\n"                              \
      "span per event, %bout spans nested inside.  A .csv file has one line per\n"                              \
      "event with every metric.  RUN is a run id or `last`.\n"                                                    \
      "Example: :export last /tmp/trace.json" },

/* `nocklab gen ...` and `nocklab replay ...`: argv[0] is the program,
 * argv[1] the subcommand.  Returns the exit status (0 ok, 1 failed, 2 bad
 * command line). */
bool commands_kernel_is_subcommand(const char *word);
int commands_kernel_main(int argc, char **argv);

/* The backend every store is opened with from now on (nocklab --backend
 * NAME --workers N --nice N --ordered); NAME must be a known backend.
 * `child_nice` (0 to 19) is how much nicer fork's children run. */
void commands_kernel_choose_backend(const char *name, unsigned workers, int child_nice, bool ordered);
/* The session's store if it is open, else NULL. */
struct store *commands_kernel_open_store(struct session *session);
/* Switch the session to backend NAME with `workers` workers (0: default)
 * and fork children `child_nice` nicer: the open store's spawns, and %par
 * in the session's own lines. */
bool commands_kernel_use_backend(struct session *session, const char *name, unsigned workers, int child_nice,
                                 const struct session_output *output);
/* The backend chosen now. */
const char *commands_kernel_backend_name(void);
unsigned commands_kernel_backend_workers(void);
int commands_kernel_backend_nice(void);
bool commands_kernel_backend_ordered(void);

/* For a subcommand that works on stores (gen, replay, compare).
 * work_on: the store Ctrl-C and q on the panes interrupt from now on
 * (NULL between two); once one was given, Ctrl-C stops the work rather
 * than the process, and work_stopped says it was asked.
 * watch_begin: the live panes and the Nock sampler as --tui and --prof
 * FILE ask (NULL: no panes); `listener` gets what feeds them.
 * watch_end: the panes show `summary` until q, then close; --prof's file
 * is written. */
struct tui;
struct store_listener;
void commands_kernel_work_on(struct store *store);
bool commands_kernel_work_stopped(void);
struct tui *commands_kernel_watch_begin(const char *title, const char *activity, struct store_listener *listener);
void commands_kernel_watch_end(struct tui *tui, const char *summary);

/* The usage lines of the subcommands, for nocklab --help. */
extern const char commands_kernel_usage[];

#endif
