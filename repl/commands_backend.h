/* commands_backend.h -- choosing and comparing execution backends.
 *
 *   :backend                       the backend now, its workers and what
 *                                  each runs, %par and totals
 *   :backend NAME [--workers N] [--nice N]
 *                                  switch (serial, fork, threads, stm)
 *   :compare SAMPLE [N]            N events of SAMPLE under every backend
 *   nocklab compare SAMPLE [N]     the same, from the shell
 */
#ifndef NOCKLAB_COMMANDS_BACKEND_H
#define NOCKLAB_COMMANDS_BACKEND_H

#include <stdbool.h>

#include "repl/command.h"
#include "repl/session.h"

command_handler commands_backend_backend, commands_backend_compare;

/* The rows repl/command.c puts in its table. */
#define COMMANDS_BACKEND_ROWS                                                                                     \
    { "backend", commands_backend_backend, COMMAND_TAKES_OPTIONAL_REST,                                           \
      ":backend [NAME [--workers N] [--nice N]]", "show or choose where spawns and %par maps run",               \
      "NAME is serial (inline), fork (a child process per spawn) or threads (a\n"                                \
      "pool of worker threads; %par maps run in parallel too).  --workers N\n"                                   \
      "sets the threads (default: one per core) or the children at once (fork).\n"                               \
      "--nice N (0 to 19) runs fork's children N nicer than nocklab.\n"                                          \
      "Alone, :backend shows the backend, each worker and the spawn it runs.\n"                                  \
      "Example: :backend threads --workers 2" },                                                                  \
    { "compare", commands_backend_compare, COMMAND_TAKES_OPTIONAL_REST, ":compare SAMPLE [N]",                    \
      "run N events of a sample under every backend and tabulate them",                                         \
      "Boots SAMPLE (counter, kv, jobs, mix) in a fresh store per backend under\n"                               \
      "./nocklab-compare and generates N events (default 200) in each; prints\n"                                 \
      "wall and CPU time, speedup over serial, events/s, p50/p99 wait of a new\n"                                \
      "event, spawns, bytes back from children, dedup hits and %par maps.\n"                                     \
      "Example: :compare mix 200" },

/* `nocklab compare SAMPLE [N]`: argv[1] is "compare".  The exit status. */
int commands_backend_compare_main(int argc, char **argv);

#endif
