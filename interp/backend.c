/* backend.c -- the table of execution backends.  One row per backend; the
 * order is the order `nocklab compare` runs them in. */
#include "interp/backend.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct backend_entry backends[] = {
    { "serial", "every spawn runs inline, one at a time", kernel_backend_serial, false },
    { "fork", "every spawn runs in a child process sharing home copy-on-write", backend_fork_new, false },
    { "threads", "spawns and %par maps run on a pool of worker threads", backend_threads_new, false },
    { "stm", "events run in parallel batches under STM; spawns run inline", backend_stm_new, true },
};

#define BACKEND_COUNT (sizeof backends / sizeof backends[0])

const struct backend_entry *backend_list(size_t *count)
{
    *count = BACKEND_COUNT;
    return backends;
}

const struct backend_entry *backend_find(const char *name)
{
    for (size_t i = 0; i < BACKEND_COUNT; i++)
        if (strcmp(backends[i].name, name) == 0)
            return &backends[i];
    return NULL;
}

const char *backend_names(void)
{
    static char names[128];
    if (!names[0]) {
        size_t at = 0;
        for (size_t i = 0; i < BACKEND_COUNT && at < sizeof names; i++)
            at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", backends[i].name);
    }
    return names;
}

struct kernel_backend *backend_new(const char *name, struct noun_home *home,
                                   const struct kernel_backend_options *options, char *why, size_t why_size)
{
    const struct backend_entry *entry = backend_find(name);
    if (!entry) {
        snprintf(why, why_size, "no backend named %s (the backends are %s)", name, backend_names());
        return NULL;
    }
    struct kernel_backend *backend = entry->make(home, options);
    if (!backend)
        snprintf(why, why_size, "cannot start the %s backend (out of memory or threads)", name);
    return backend;
}

/* STM's spawns: serial's, under its own name so runs record "stm".  The
 * events are the store's to batch (runs_events). */
struct kernel_backend *backend_stm_new(struct noun_home *home, const struct kernel_backend_options *options)
{
    struct kernel_backend *backend = kernel_backend_serial(home, options);
    if (backend)
        backend->name = "stm";
    return backend;
}

unsigned backend_cores(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores > 0 ? (unsigned)cores : 1;
}
