/* commands_explore.h -- commands for seeing what Nock does.
 *
 *   :step *[A F]        reduce one spec rule at a time (interp/step.h)
 *   :trace              the hint trace of the last crash, %spot clues rendered
 *   :set [NAME [VALUE]] the settings: print style and elision, :step's
 *                       limits, jets (one table, commands_explore_settings)
 *   :formula EXPR       a formula, one opcode per line, indented
 *   :show NAME AXIS     the fragment of a bound noun at an axis
 *
 * Long output (:step, :formula, :trace) is paged on a terminal
 * (repl/pager.h).
 */
#ifndef NOCKLAB_COMMANDS_EXPLORE_H
#define NOCKLAB_COMMANDS_EXPLORE_H

#include <stddef.h>
#include <stdint.h>
#include "repl/command.h"
#include "repl/session.h"

command_handler commands_explore_step, commands_explore_trace, commands_explore_set, commands_explore_formula,
    commands_explore_show;

/* The settings :set knows, for completion: the name of setting i and the
 * values it takes ("dec|hex|hoon|cord|tape", or "N" for a number); NULL
 * past the last. */
const char *commands_explore_setting_name(size_t index);
const char *commands_explore_setting_values(size_t index);

/* One trace entry's clue as the REPL shows it everywhere (:trace, crash
 * traces, refused events): a %spot clue as /path:<[l c].[l c]>, a tank as
 * its text, anything else with terms, cords and tapes as such. */
struct text_buffer;
bool commands_explore_append_clue(struct text_buffer *buffer, noun tag, noun clue);

/* The most :load reads, in bytes (:set load-limit, in MiB). */
uint64_t commands_explore_load_limit_bytes(void);

/* The rows repl/command.c puts in its table. */
#define COMMANDS_EXPLORE_ROWS                                                                                   \
    { "step", commands_explore_step, COMMAND_TAKES_REST, ":step *[A F]",                                        \
      "reduce *[A F] one rule of the Nock spec at a time, showing each",                                        \
      "Each line is one reduction: the step number, the term reduced (indented\n"                               \
      "by how deeply it is nested; nouns elided to :set step-cells cells) and\n"                                \
      "the spec's rule that applies, e.g. *[a 2 b c] -> *[*[a b] *[a c]].  A\n"                                 \
      "rule that gives a noun shows it after ->.  Reductions nested deeper than\n"                              \
      ":set step-depth are counted on a '...' line; the run stops after :set\n"                                 \
      "step-limit steps.  The leading * is optional.  Long output is paged.\n"                                  \
      "Example: :step *[42 [2 [0 1] 1 4 0 1]]" },                                                               \
    { "trace", commands_explore_trace, COMMAND_TAKES_NOTHING, ":trace",                                         \
      "show the hint trace of the last crash, %spot clues as source ranges",                                    \
      "The trace is the list of %spot, %hunk, %mean and %lose clues the crash\n"                                \
      "happened under, innermost first.  A %spot clue [path [[l c] [l c]]]\n"                                   \
      "shows as /path:<[l c].[l c]>; a %leaf tank as its text; cords as 'text'.\n"                              \
      "Example: *[0 [11 [%mean 1 'oops'] 0 2]]  then  :trace" },                                                \
    { "set", commands_explore_set, COMMAND_TAKES_OPTIONAL_REST, ":set [NAME [VALUE]]",                          \
      "show or change settings: print style and elision, :step limits, jets",                                   \
      "With no argument, lists every setting, its value and what it takes;\n"                                   \
      "with a name, shows that one.  Settings:\n"                                                               \
      "  print dec|hex|hoon|cord|tape|term  how atoms print (hoon: 1.000.000;\n"                             \
      "                   term: %terms, 'cords' and \"tapes\" as such)\n"                                      \
      "  print-cells N    values print at most N cells, the rest elided (0: all)\n"                             \
      "  print-depth N    values print N brackets deep, the rest elided (0: all)\n"                             \
      "  step-limit N     :step stops after N reductions\n"                                                     \
      "  step-depth N     :step shows reductions nested at most N deep\n"                                       \
      "  step-cells N     :step shows each noun in at most N cells\n"                                           \
      "  jets on|off|check  run jets, pure Nock, or both and compare\n"                                         \
      "  home-max         home's reserved address space (set at start: --home-max)\n"                             \
      "  scratch-max SIZE each scratch half of kernels and spawns made after\n"                                  \
      "Example: :set print hoon" },                                                                             \
    { "formula", commands_explore_formula, COMMAND_TAKES_REST, ":formula EXPR",                                 \
      "pretty-print a formula: one opcode per line, operands indented",                                         \
      "Each line is an opcode and its name (0 slot, 1 quote, 2 eval, ... 11\n"                                  \
      "hint) with its immediate operands; the formulas it runs are indented\n"                                  \
      "below it, labelled by role where that helps (test/then/else).  A quoted\n"                               \
      "noun that is itself a formula (a battery) is expanded too.\n"                                            \
      "Example: :formula dec" },                                                                                \
    { "show", commands_explore_show, COMMAND_TAKES_WORD_AND_REST, ":show NAME AXIS",                            \
      "print the fragment of a bound noun at an axis, with its size",                                           \
      "AXIS is any atom expression: 1 is the whole noun, 2 its head, 3 its tail,\n"                             \
      "6 the head of the tail, and so on.  Shows the fragment's size and mug,\n"                                \
      "then the fragment itself, elided like any value (:set print-cells).\n"                                   \
      "Example: :show dec 6" },

#endif
