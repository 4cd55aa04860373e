/* commands_hoon.h -- the Hoon and jet commands.
 *
 *   :ivory PATH        lite-boot an ivory pill, bind the kernel to `hoon`
 *   :hoon EXPR         compile EXPR with the kernel, run it, print it
 *   :hoon-nock EXPR    show the formula EXPR compiles to
 *   :jets              registered cores, jetted arms, call counts
 *   :set jets MODE     on, off (pure Nock) or check (jet against Nock); a row
 *                      of :set's settings table in repl/commands_explore.c
 *
 * The kernel's runtime (interp/hoon.h) and the jet dashboard
 * (interp/jets.h) are the session's (session_hoon, session_jets).
 */
#ifndef NOCKLAB_COMMANDS_HOON_H
#define NOCKLAB_COMMANDS_HOON_H

#include "repl/command.h"
#include "repl/session.h"

command_handler commands_hoon_ivory, commands_hoon_hoon, commands_hoon_nock, commands_hoon_jets;

/* The rows repl/command.c puts in its table. */
#define COMMANDS_HOON_ROWS                                                                                        \
    { "ivory", commands_hoon_ivory, COMMAND_TAKES_REST, ":ivory PATH",                                            \
      "lite-boot an ivory pill (Hoon's stdlib and compiler), bind it to hoon",                                   \
      "Cues the pill, runs *[tail [2 [0 3] [0 2]]] and takes axis 7 as the\n"                                    \
      "kernel, as Vere's `urbit eval` does; jets register from the %fast hints\n"                                \
      "on the way.  Prints the kernel's mug (0x4bb376f0 for the shared pill) and\n"                              \
      "what each step cost.  :hoon then compiles against this kernel.\n"                                         \
      "Example: :ivory ../shared/ivory.pill" },                                                                   \
    { "hoon", commands_hoon_hoon, COMMAND_TAKES_REST, ":hoon EXPR",                                               \
      "compile a Hoon expression with the booted kernel, run and print it",                                      \
      "Prints the product as a noun, then (lines starting '> ') as Hoon's own\n"                                 \
      "printer shows it for its type.  Parse and type errors print Hoon's own\n"                                 \
      "message.  Needs :ivory first.\n"                                                                           \
      "Example: :hoon (turn (gulf 1 5) |=(a=@ (mul a a)))   prints ~[1 4 9 16 25]" },                            \
    { "hoon-nock", commands_hoon_nock, COMMAND_TAKES_REST, ":hoon-nock EXPR",                                     \
      "show the Nock formula a Hoon expression compiles to",                                                     \
      "The formula runs against the standard library's subject (the kernel's\n"                                  \
      "wish context).  Needs :ivory first.\n"                                                                     \
      "Example: :hoon-nock (add 2 2)" },                                                                          \
    { "jets", commands_hoon_jets, COMMAND_TAKES_OPTIONAL_REST, ":jets [all]",                                     \
      "list jetted arms with call counts, and check-mode differences",                                           \
      "Shows the mode, totals, each registered core's jetted arms with how often\n"                              \
      "the jet ran, declined, crashed (and in check mode: checked, differed,\n"                                  \
      "skipped), then any differences check mode found.  `:jets all` also lists\n"                               \
      "every registered core by its label path.\n"                                                                \
      "Example: :jets" },

#endif
