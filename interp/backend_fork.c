/* backend_fork.c -- the fork backend: every spawn runs in a child process.
 *
 * fork() gives the child the parent's memory copy-on-write, so the kernel
 * and everything in home is there for free.  The child evaluates the spawn
 * in a runner the parent made before forking, jams the outcome event and
 * writes it, after a fixed header, to a pipe; then it _exits.  The parent,
 * which goes on applying events meanwhile, reads the pipes when asked
 * (take), cues each outcome into its own scratch and copies it into home,
 * where dedup re-unifies it with what home already holds.
 *
 * Safety of fork in a process with threads (readline, SQLite, watchdogs):
 * the child touches nothing those threads may hold locked except malloc,
 * which glibc makes fork-safe; it never prints (the runners it uses have
 * no %slog hook, so spawns' %slog is dropped under fork), never runs exit
 * handlers (_exit), and ignores SIGINT (the parent kills it on Ctrl-C).
 *
 * Outcomes:
 *   the pipe brought a whole message      DONE / CRASH / FAILED as it says
 *   the deadline passed                   SIGKILL, then TIMEOUT
 *   interrupt() (Ctrl-C)                  SIGKILL, then FAILED "interrupted"
 *   the child died otherwise              FAILED, saying of what
 *
 * Children live in a fixed array of slots (no realloc), so interrupt, which
 * may run in a signal handler, can walk it.
 */
#define _GNU_SOURCE
#include "interp/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interp/clock.h"
#include "interp/fifo.h"
#include "interp/jam.h"

/* Children that may run at once when options.workers doesn't say. */
#define FORK_DEFAULT_CHILDREN 16
#define FORK_MAX_CHILDREN 256
#define FORK_MESSAGE_MAGIC 0x6b726f66u /* "fork" */

/* What a child writes first; `length` bytes follow: the jammed event, or
 * the reason text when FAILED.  Both ends are the same program, so the
 * header is sent as the struct is laid out. */
struct fork_message {
    uint32_t magic;
    uint32_t result;          /* enum kernel_spawn_result */
    struct kernel_cost cost;  /* of the evaluation, in the child */
    uint64_t length;
};

/* One running child.  `pid` is nonzero while the slot is in use (read by
 * interrupt from a signal handler).  `received` holds what came down the
 * pipe so far. */
struct fork_child {
    volatile pid_t pid;
    int pipe_fd;
    struct kernel_spawn spawn;
    uint64_t submitted_ns;
    uint64_t start_ns;        /* how long fork() and the pipe took */
    uint64_t deadline_ns;     /* 0: none */
    uint8_t *received;
    size_t received_length, received_capacity;
};

struct fork_backend {
    struct kernel_backend interface;
    struct noun_home *home;
    struct kernel_backend_options options;
    unsigned max_children;
    struct kernel_spawn_runner *runner;          /* children evaluate here */
    struct kernel_spawn_runner *limited_runner;  /* ... or here, for a memory limit */
    struct kernel_spawn_runner *receiver;        /* the parent cues outcomes here */
    struct fork_child children[FORK_MAX_CHILDREN];
    unsigned running;
    volatile sig_atomic_t interrupted;
    struct fifo ready;                           /* kernel_outcomes finished, not yet taken */
    /* Children whose whole outcome arrived but that may still be exiting:
     * tearing down a copy of a big address space takes milliseconds, so
     * they are reaped later (WNOHANG) rather than waited for. */
    pid_t *exiting;
    size_t exiting_count, exiting_capacity;
    struct kernel_backend_stats stats;
};

/* ---- the child ----------------------------------------------------------------- */

static bool write_all(int fd, const void *data, size_t length)
{
    const uint8_t *at = data;
    while (length > 0) {
        ssize_t written = write(fd, at, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return false;
        at += written;
        length -= (size_t)written;
    }
    return true;
}

static void child_main(struct fork_backend *backend, struct kernel_spawn_runner *runner,
                       const struct kernel_spawn *spawn, int pipe_fd)
{
    signal(SIGINT, SIG_IGN);
    if (backend->options.child_nice)
        setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + backend->options.child_nice);
    struct kernel_outcome outcome;
    kernel_spawn_runner_evaluate(runner, spawn, &outcome);
    uint8_t *payload = (uint8_t *)outcome.why;
    size_t length = strlen(outcome.why);
    if (outcome.result != KERNEL_SPAWN_FAILED && !jam_to_bytes(outcome.event, &payload, &length)) {
        outcome.result = KERNEL_SPAWN_FAILED;
        snprintf(outcome.why, sizeof outcome.why, "out of memory while jamming its outcome");
        payload = (uint8_t *)outcome.why;
        length = strlen(outcome.why);
    }
    struct fork_message message = {
        .magic = FORK_MESSAGE_MAGIC, .result = outcome.result, .cost = outcome.cost, .length = length
    };
    bool ok = write_all(pipe_fd, &message, sizeof message) && write_all(pipe_fd, payload, length);
    _exit(ok ? 0 : 1);
}

/* ---- the parent ----------------------------------------------------------------- */

static struct kernel_spawn_runner *runner_for(struct fork_backend *backend, uint64_t memory_mb)
{
    /* no %slog in children: see the top of the file */
    struct kernel_backend_options quiet = backend->options;
    quiet.slog = NULL;
    if (!memory_mb) {
        if (!backend->runner)
            backend->runner = kernel_spawn_runner_new(backend->home, 0, &quiet);
        return backend->runner;
    }
    if (backend->limited_runner && kernel_spawn_runner_memory_mb(backend->limited_runner) == memory_mb)
        return backend->limited_runner;
    kernel_spawn_runner_free(backend->limited_runner);
    backend->limited_runner = kernel_spawn_runner_new(backend->home, memory_mb, &quiet);
    return backend->limited_runner;
}

static void failed(struct kernel_outcome *outcome, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void failed(struct kernel_outcome *outcome, const char *format, ...)
{
    outcome->result = KERNEL_SPAWN_FAILED;
    outcome->event = NOUN_NONE;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(outcome->why, sizeof outcome->why, format, arguments);
    va_end(arguments);
}

/* Turn what the child sent (and how it ended) into its outcome. */
static void read_message(struct fork_backend *backend, struct fork_child *child, int status,
                         struct kernel_outcome *outcome)
{
    struct fork_message message;
    if (child->received_length < sizeof message) {
        if (backend->interrupted)
            failed(outcome, "interrupted");
        else if (WIFSIGNALED(status))
            failed(outcome, "its process died of signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            failed(outcome, "its process exited (status %d) without an outcome", WEXITSTATUS(status));
        return;
    }
    memcpy(&message, child->received, sizeof message);
    if (message.magic != FORK_MESSAGE_MAGIC || message.length != child->received_length - sizeof message ||
        message.result > KERNEL_SPAWN_FAILED) {
        failed(outcome, "its process sent a damaged outcome");
        return;
    }
    outcome->cost = message.cost;
    const uint8_t *payload = child->received + sizeof message;
    if (message.result == KERNEL_SPAWN_FAILED) {
        failed(outcome, "%.*s", (int)message.length, (const char *)payload);
        return;
    }
    outcome->result = (enum kernel_spawn_result)message.result;
    outcome->bytes_back = message.length;
    kernel_spawn_runner_cue_outcome(backend->receiver, payload, message.length, outcome);
}

/* Whether the child's whole message has arrived. */
static bool message_complete(const struct fork_child *child)
{
    struct fork_message message;
    if (child->received_length < sizeof message)
        return false;
    memcpy(&message, child->received, sizeof message);
    return message.magic == FORK_MESSAGE_MAGIC && child->received_length - sizeof message >= message.length;
}

/* Reap exiting children that are gone (all of them if `wait`). */
static void reap_exiting(struct fork_backend *backend, bool wait)
{
    size_t kept = 0;
    for (size_t i = 0; i < backend->exiting_count; i++) {
        pid_t done;
        while ((done = waitpid(backend->exiting[i], NULL, wait ? 0 : WNOHANG)) < 0 && errno == EINTR)
            ;
        if (done == 0)
            backend->exiting[kept++] = backend->exiting[i];
    }
    backend->exiting_count = kept;
}

/* Reap the child now, or leave it to reap_exiting when its message is
 * whole (it is only exiting).  The status, when reaped here. */
static int reap_child(struct fork_backend *backend, struct fork_child *child, bool complete)
{
    int status = 0;
    if (complete) {
        if (backend->exiting_count == backend->exiting_capacity) {
            size_t capacity = backend->exiting_capacity ? backend->exiting_capacity * 2 : 16;
            pid_t *bigger = realloc(backend->exiting, capacity * sizeof *bigger);
            if (bigger) {
                backend->exiting = bigger;
                backend->exiting_capacity = capacity;
            }
        }
        if (backend->exiting_count < backend->exiting_capacity) {
            backend->exiting[backend->exiting_count++] = child->pid;
            return 0;
        }
    }
    while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* The child is done (its message whole, its pipe at an end, or killed):
 * reap it, make its outcome and free the slot. */
static void finish_child(struct fork_backend *backend, struct fork_child *child, bool timed_out)
{
    int status = reap_child(backend, child, !timed_out && message_complete(child));
    struct kernel_outcome outcome;
    memset(&outcome, 0, sizeof outcome);
    outcome.spawn = child->spawn;
    outcome.event = NOUN_NONE;
    outcome.started_ns = child->submitted_ns;
    outcome.start_ns = child->start_ns;
    if (timed_out && !backend->interrupted) {
        outcome.cost.wall_ns = clock_wall_nanoseconds() - child->submitted_ns;
        kernel_spawn_runner_timeout_outcome(backend->receiver, &outcome);
    } else {
        read_message(backend, child, status, &outcome);
    }
    backend->stats.spawns++;
    backend->stats.start_ns += outcome.start_ns;
    backend->stats.run_ns += outcome.cost.wall_ns;
    backend->stats.bytes_back += outcome.bytes_back;
    backend->stats.dedup_lookups += outcome.cost.dedup_lookups;
    backend->stats.dedup_hits += outcome.cost.dedup_hits;
    if (!fifo_push(&backend->ready, &outcome))
        backend->stats.spawns--; /* lost for want of memory: running() no longer counts it */
    close(child->pipe_fd);
    free(child->received);
    child->received = NULL;
    child->received_length = child->received_capacity = 0;
    child->pid = 0;
    backend->running--;
}

/* Read what the child's pipe holds; true at end of file. */
static bool drain_pipe(struct fork_child *child)
{
    for (;;) {
        if (child->received_capacity - child->received_length < 4096) {
            size_t capacity = child->received_capacity ? child->received_capacity * 2 : 8192;
            uint8_t *bigger = realloc(child->received, capacity);
            if (!bigger)
                return true; /* treated as a damaged message */
            child->received = bigger;
            child->received_capacity = capacity;
        }
        ssize_t got = read(child->pipe_fd, child->received + child->received_length,
                           child->received_capacity - child->received_length);
        if (got > 0) {
            child->received_length += (size_t)got;
            continue;
        }
        if (got == 0)
            return true;
        if (errno == EINTR)
            continue;
        return errno != EAGAIN && errno != EWOULDBLOCK;
    }
}

/* Wait at most `timeout_ms` (-1: until something happens) for children to
 * finish or pass their deadlines, and finish those that did. */
static void poll_children(struct fork_backend *backend, int timeout_ms)
{
    struct pollfd fds[FORK_MAX_CHILDREN];
    struct fork_child *owners[FORK_MAX_CHILDREN];
    nfds_t count = 0;
    uint64_t now = clock_wall_nanoseconds(), nearest = 0;
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++) {
        struct fork_child *child = &backend->children[i];
        if (!child->pid)
            continue;
        if (child->deadline_ns && (!nearest || child->deadline_ns < nearest))
            nearest = child->deadline_ns;
        fds[count] = (struct pollfd){ .fd = child->pipe_fd, .events = POLLIN };
        owners[count++] = child;
    }
    if (nearest) {
        uint64_t until = nearest > now ? (nearest - now + 999999) / 1000000 : 0;
        if (timeout_ms < 0 || until < (uint64_t)timeout_ms)
            timeout_ms = (int)(until > 1000000 ? 1000000 : until);
    }
    reap_exiting(backend, false);
    if (poll(fds, count, timeout_ms) < 0 && errno != EINTR)
        return;
    now = clock_wall_nanoseconds();
    for (nfds_t i = 0; i < count; i++) {
        struct fork_child *child = owners[i];
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && (drain_pipe(child) || message_complete(child))) {
            finish_child(backend, child, false);
        } else if (child->deadline_ns && now >= child->deadline_ns) {
            kill(child->pid, SIGKILL);
            finish_child(backend, child, true);
        }
    }
}

static bool fork_submit(void *self, const struct kernel_spawn *spawn, char *why, size_t why_size)
{
    struct fork_backend *backend = self;
    struct kernel_spawn_runner *runner = runner_for(backend, spawn->memory_mb);
    if (!runner) {
        snprintf(why, why_size, "cannot make an evaluator with %llu MiB of scratch",
                 (unsigned long long)spawn->memory_mb);
        return false;
    }
    if (backend->running == 0)
        backend->interrupted = 0;
    while (backend->running >= backend->max_children)
        poll_children(backend, -1);
    struct fork_child *child = NULL;
    for (unsigned i = 0; i < FORK_MAX_CHILDREN && !child; i++)
        if (!backend->children[i].pid)
            child = &backend->children[i];
    uint64_t began = clock_wall_nanoseconds();
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0) {
        snprintf(why, why_size, "cannot make a pipe: %s", strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "cannot fork: %s", strerror(errno));
        close(ends[0]);
        close(ends[1]);
        return false;
    }
    if (pid == 0) {
        close(ends[0]);
        child_main(backend, runner, spawn, ends[1]);
    }
    close(ends[1]);
    fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK);
    uint64_t now = clock_wall_nanoseconds();
    child->pipe_fd = ends[0];
    child->spawn = *spawn;
    child->submitted_ns = began;
    child->start_ns = now - began;
    child->deadline_ns = spawn->timeout_ms && !backend->options.ignore_timeouts &&
                                 spawn->timeout_ms < UINT64_MAX / 2000000u
                             ? now + spawn->timeout_ms * 1000000u
                             : 0;
    child->pid = pid;
    backend->running++;
    return true;
}

static bool fork_take(void *self, bool wait, struct kernel_outcome *outcome)
{
    struct fork_backend *backend = self;
    if (!backend->ready.count && backend->running)
        poll_children(backend, 0);
    while (wait && !backend->ready.count && backend->running)
        poll_children(backend, -1);
    return fifo_pop(&backend->ready, outcome);
}

static size_t fork_running(void *self)
{
    struct fork_backend *backend = self;
    return backend->running + backend->ready.count;
}

static void fork_interrupt(void *self)
{
    struct fork_backend *backend = self;
    backend->interrupted = 1;
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++) {
        pid_t pid = backend->children[i].pid;
        if (pid)
            kill(pid, SIGKILL);
    }
}

static size_t fork_workers(void *self, struct kernel_worker_status *out, size_t max)
{
    struct fork_backend *backend = self;
    size_t count = 0;
    uint64_t now = clock_wall_nanoseconds();
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++) {
        struct fork_child *child = &backend->children[i];
        if (!child->pid)
            continue;
        if (count < max)
            out[count] = (struct kernel_worker_status){ .busy = true, .spawn = child->spawn,
                                                        .running_ns = now - child->submitted_ns,
                                                        .process_id = child->pid };
        count++;
    }
    return count;
}

static void fork_stats(void *self, struct kernel_backend_stats *out)
{
    struct fork_backend *backend = self;
    *out = backend->stats;
}

static void fork_free(void *self)
{
    struct fork_backend *backend = self;
    fork_interrupt(backend);
    while (backend->running)
        poll_children(backend, -1);
    kernel_spawn_runner_free(backend->runner);
    kernel_spawn_runner_free(backend->limited_runner);
    kernel_spawn_runner_free(backend->receiver);
    reap_exiting(backend, true);
    free(backend->exiting);
    fifo_free(&backend->ready);
    free(backend);
}

struct kernel_backend *backend_fork_new(struct noun_home *home, const struct kernel_backend_options *options)
{
    struct fork_backend *backend = calloc(1, sizeof *backend);
    if (!backend)
        return NULL;
    backend->home = home;
    fifo_init(&backend->ready, sizeof(struct kernel_outcome));
    if (options)
        backend->options = *options;
    unsigned wanted = backend->options.workers ? backend->options.workers : FORK_DEFAULT_CHILDREN;
    backend->max_children = wanted > FORK_MAX_CHILDREN ? FORK_MAX_CHILDREN : wanted;
    backend->receiver = kernel_spawn_runner_new(home, 0, NULL);
    if (!backend->receiver) {
        free(backend);
        return NULL;
    }
    backend->interface = (struct kernel_backend){
        .name = "fork",
        .self = backend,
        .submit = fork_submit,
        .take = fork_take,
        .running = fork_running,
        .interrupt = fork_interrupt,
        .free = fork_free,
        .workers = fork_workers,
        .stats = fork_stats,
    };
    return &backend->interface;
}
