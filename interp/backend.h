/* backend.h -- the execution backends by name: where spawns (and %par
 * maps) run.
 *
 * Every backend is a struct kernel_backend (interp/kernel.h) made by a
 * constructor of one shape; this registry maps names to constructors so
 * the command line (--backend NAME), the REPL (:backend NAME) and
 * `nocklab compare` choose among them without knowing any by name.
 *
 *   serial    every spawn inline, one at a time (interp/kernel.c)
 *   fork      every spawn in a child process (interp/backend_fork.c)
 *   threads   spawns and %par maps on a pool of threads
 *             (interp/backend_threads.c)
 *   stm       events themselves in parallel batches (interp/stm.h); its
 *             spawns run inline as serial's do.  The store sees
 *             `runs_events` and applies events through an struct stm.
 *
 * Adding a backend: write its constructor, declare it here, add a row to
 * the table in backend.c.  Nothing else changes.
 */
#ifndef NOCKLAB_BACKEND_H
#define NOCKLAB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "interp/kernel.h"
#include "interp/noun.h"

/* Makes a backend over `home`; NULL when it can't (memory, threads). */
typedef struct kernel_backend *backend_constructor(struct noun_home *home,
                                                   const struct kernel_backend_options *options);

struct backend_entry {
    const char *name;
    const char *summary;      /* one line for help and listings */
    backend_constructor *make;
    /* True when the backend's point is running events, not spawns: the
     * store then applies events in batches with stm_apply_batch (stm). */
    bool runs_events;
};

/* Every backend, serial first; *count is set to how many. */
const struct backend_entry *backend_list(size_t *count);
/* The backend called `name`, or NULL. */
const struct backend_entry *backend_find(const char *name);
/* "serial, fork, threads, stm": the names, for messages. */
const char *backend_names(void);

/* Make the backend called `name`.  NULL with why when there is no such
 * backend or it cannot be made. */
struct kernel_backend *backend_new(const char *name, struct noun_home *home,
                                   const struct kernel_backend_options *options, char *why, size_t why_size);

/* The constructors. */
backend_constructor backend_fork_new, backend_threads_new, backend_stm_new;

/* Cores this machine offers (at least 1): the default worker count. */
unsigned backend_cores(void);

#endif
