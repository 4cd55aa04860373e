/* backtrace.h -- native backtraces when nocklab itself faults.
 *
 * A fault in nocklab (a segmentation fault, a bus error, an abort) is a bug
 * in nocklab, never in the Nock it runs.  backtrace_install makes such a
 * fault write "nocklab: fatal signal ...", the native call stack, as
 * libunwind walks it, and the Nock trace (%spot, %hunk, %mean, %lose
 * clues) the watched evaluator was under, to standard error and to a
 * crash report file, $TMPDIR/nocklab-crash-PID.txt (/tmp without
 * TMPDIR), whose path it prints last; then the process dies of the same
 * signal, so a report carries where it happened.  A handler stack of its
 * own means a C stack overflow is reported too.
 */
#ifndef NOCKLAB_BACKTRACE_H
#define NOCKLAB_BACKTRACE_H

#include <stdbool.h>

#include "interp/nock.h"

/* Install the fault handlers; false if the signal stack can't be had. */
bool backtrace_install(void);
/* The evaluator whose Nock trace a crash report shows (NULL: none). */
void backtrace_watch(struct nock_context *evaluator);

#endif
