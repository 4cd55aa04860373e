/* backtrace.h -- native backtraces when nocklab itself faults.
 *
 * A fault in nocklab (a segmentation fault, a bus error, an abort) is a bug
 * in nocklab, never in the Nock it runs.  backtrace_install makes such a
 * fault write "nocklab: fatal signal ..." and the native call stack, as
 * libunwind walks it, to standard error before the process dies of the
 * same signal, so a report carries where it happened.  A handler stack of
 * its own means a C stack overflow is reported too.
 */
#ifndef NOCKLAB_BACKTRACE_H
#define NOCKLAB_BACKTRACE_H

#include <stdbool.h>

/* Install the fault handlers; false if the signal stack can't be had. */
bool backtrace_install(void);

#endif
