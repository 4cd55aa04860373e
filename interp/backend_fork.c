/* backend_fork.c -- the fork backend: every spawn runs in a child process.
 *
 * fork() gives the child the parent's memory copy-on-write, so the kernel
 * and everything in home is there for free.  The child evaluates the spawn
 * in a runner the parent made before forking, jams the outcome event and
 * writes it, after a fixed header, to its socket.  The parent, which goes
 * on applying events meanwhile, reads the sockets when asked (take), cues
 * each outcome into its own scratch and copies it into home, where dedup
 * re-unifies it with what home already holds.
 *
 * A child that has sent its outcome does not exit at once: it waits on its
 * socket for another spawn.  Home only grows between collections and never
 * changes a noun it holds (noun_home_mark), so a child forked at a mark can
 * run any later spawn whose id, subject and formula home already held
 * then, and give the outcome a new child would.  Such a spawn is sent to
 * the waiting child (a write and a read instead of a fork: forking a
 * process with a big home costs milliseconds of page-table copying and
 * copy-on-write faults on both sides, and its exit as much again).  A spawn
 * naming nouns made since, or any spawn after a home collection, gets a
 * new child, and the waiting one is retired (killed).  One child at most
 * waits; the others exit once their outcome is whole.
 *
 * Safety of fork in a process with threads (readline, SQLite, watchdogs):
 * the child touches nothing those threads may hold locked except malloc,
 * which glibc makes fork-safe; it never prints (the runners it uses have
 * no %slog hook, so spawns' %slog is dropped under fork), never runs exit
 * handlers (_exit), and ignores SIGINT (the parent kills it on Ctrl-C).
 *
 * Outcomes:
 *   the socket brought a whole message    DONE / CRASH / FAILED as it says
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interp/clock.h"
#include "interp/fifo.h"
#include "interp/jam.h"

/* Children that may run at once when options.workers doesn't say. */
#define FORK_DEFAULT_CHILDREN 16
#define FORK_MAX_CHILDREN 256
#define FORK_MESSAGE_MAGIC 0x6b726f66u /* "fork" */
#define FORK_REQUEST_MAGIC 0x6e757221u /* "!run" */

/* What a child writes first; `length` bytes follow: the jammed event, or
 * the reason text when FAILED.  Both ends are the same program, so the
 * header is sent as the struct is laid out. */
struct fork_message {
    uint32_t magic;
    uint32_t result;          /* enum kernel_spawn_result */
    struct kernel_cost cost;  /* of the evaluation, in the child */
    uint64_t length;
};

/* What the parent sends a waiting child: the next spawn, whose nouns are
 * at the same addresses in the child (see the top of the file). */
struct fork_request {
    uint32_t magic;
    uint32_t unused;
    struct kernel_spawn spawn;
};

/* One child process.  `pid` is nonzero while the slot holds one; `busy`
 * while it runs a spawn (both read by interrupt from a signal handler).  A
 * child not busy is waiting for another spawn.  `received` holds what came
 * down the socket so far for the spawn it runs. */
struct fork_child {
    volatile pid_t pid;
    volatile sig_atomic_t busy;
    int socket_fd;
    struct noun_home_mark mark;  /* home as the child has it: as when forked */
    struct kernel_spawn spawn;
    uint64_t submitted_ns;
    uint64_t start_ns;        /* how long fork() (or sending the spawn) took */
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
    unsigned running;                            /* busy children */
    volatile sig_atomic_t interrupted;
    struct fifo ready;                           /* kernel_outcomes finished, not yet taken */
    /* Children told to go (retired, or done and not kept): tearing down a
     * copy of a big address space takes milliseconds, so they are reaped
     * later (WNOHANG) rather than waited for. */
    pid_t *exiting;
    size_t exiting_count, exiting_capacity;
    struct kernel_backend_stats stats;
};

/* ---- both sides ------------------------------------------------------------------ */

static bool write_all(int fd, const void *data, size_t length)
{
    const uint8_t *at = data;
    while (length > 0) {
        ssize_t written = send(fd, at, length, MSG_NOSIGNAL);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return false;
        at += written;
        length -= (size_t)written;
    }
    return true;
}

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

/* ---- the child ----------------------------------------------------------------- */

/* Run one spawn and send its outcome; false when the socket is gone. */
static bool child_run(struct kernel_spawn_runner *runner, const struct kernel_spawn *spawn, int socket_fd)
{
    struct kernel_outcome outcome;
    if (runner) {
        kernel_spawn_runner_evaluate(runner, spawn, &outcome);
    } else {
        memset(&outcome, 0, sizeof outcome);
        outcome.result = KERNEL_SPAWN_FAILED;
        snprintf(outcome.why, sizeof outcome.why, "cannot make an evaluator with %llu MiB of scratch",
                 (unsigned long long)spawn->memory_mb);
    }
    uint8_t *payload = (uint8_t *)outcome.why, *jammed = NULL;
    size_t length = strlen(outcome.why);
    if (outcome.result != KERNEL_SPAWN_FAILED) {
        if (jam_to_bytes(outcome.event, &jammed, &length)) {
            payload = jammed;
        } else {
            outcome.result = KERNEL_SPAWN_FAILED;
            snprintf(outcome.why, sizeof outcome.why, "out of memory while jamming its outcome");
            length = strlen(outcome.why);
        }
    }
    struct fork_message message = {
        .magic = FORK_MESSAGE_MAGIC, .result = outcome.result, .cost = outcome.cost, .length = length
    };
    bool sent = write_all(socket_fd, &message, sizeof message) && write_all(socket_fd, payload, length);
    free(jammed);
    return sent;
}

/* Wait for the next spawn; false at end of file (the parent let go). */
static bool child_receive(int socket_fd, struct kernel_spawn *spawn)
{
    struct fork_request request;
    size_t got = 0;
    while (got < sizeof request) {
        ssize_t read_now = read(socket_fd, (uint8_t *)&request + got, sizeof request - got);
        if (read_now < 0 && errno == EINTR)
            continue;
        if (read_now <= 0)
            return false;
        got += (size_t)read_now;
    }
    if (request.magic != FORK_REQUEST_MAGIC)
        return false;
    *spawn = request.spawn;
    return true;
}

static void child_main(struct fork_backend *backend, struct kernel_spawn_runner *runner,
                       const struct kernel_spawn *first, int socket_fd)
{
    signal(SIGINT, SIG_IGN);
    /* The parent's ends of its other children's sockets came along with
     * fork; holding them would keep those children from seeing their end
     * of file. */
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++)
        if (backend->children[i].pid)
            close(backend->children[i].socket_fd);
    if (backend->options.child_nice)
        setpriority(PRIO_PROCESS, 0, getpriority(PRIO_PROCESS, 0) + backend->options.child_nice);
    struct kernel_spawn spawn = *first;
    for (;;) {
        if (!child_run(runner, &spawn, socket_fd))
            _exit(1);
        if (!child_receive(socket_fd, &spawn))
            _exit(0);
        runner = runner_for(backend, spawn.memory_mb);
    }
}

/* ---- the parent ----------------------------------------------------------------- */

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

/* Empty the slot of a child that is gone or going. */
static void free_slot(struct fork_child *child)
{
    close(child->socket_fd);
    free(child->received);
    child->received = NULL;
    child->received_length = child->received_capacity = 0;
    child->busy = 0;
    child->pid = 0;
}

/* Kill a child whose work is over and leave it to reap_exiting (or reap
 * it now when the list can't grow). */
static void retire(struct fork_backend *backend, struct fork_child *child)
{
    kill(child->pid, SIGKILL);
    if (backend->exiting_count == backend->exiting_capacity) {
        size_t capacity = backend->exiting_capacity ? backend->exiting_capacity * 2 : 16;
        pid_t *bigger = realloc(backend->exiting, capacity * sizeof *bigger);
        if (bigger) {
            backend->exiting = bigger;
            backend->exiting_capacity = capacity;
        }
    }
    if (backend->exiting_count < backend->exiting_capacity)
        backend->exiting[backend->exiting_count++] = child->pid;
    else
        while (waitpid(child->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    free_slot(child);
}

/* The child that waits for a spawn, if any. */
static struct fork_child *waiting_child(struct fork_backend *backend)
{
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++)
        if (backend->children[i].pid && !backend->children[i].busy)
            return &backend->children[i];
    return NULL;
}

/* Whether `child` has every noun `spawn` names, as the parent has them. */
static bool child_can_run(const struct fork_backend *backend, const struct fork_child *child,
                          const struct kernel_spawn *spawn)
{
    return noun_home_held_at(backend->home, child->mark, spawn->id) &&
           noun_home_held_at(backend->home, child->mark, spawn->subject) &&
           noun_home_held_at(backend->home, child->mark, spawn->formula);
}

/* The child's spawn is over (its message whole, its socket at an end, or
 * killed): make its outcome, and keep the child waiting for another spawn
 * or let it go. */
static void finish_child(struct fork_backend *backend, struct fork_child *child, bool timed_out)
{
    bool complete = !timed_out && message_complete(child);
    int status = 0;
    if (!complete) {
        /* dead or killed: its status says why, when there is no message */
        while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
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
    backend->running--;
    if (!complete) {
        free_slot(child);
    } else if (backend->interrupted || waiting_child(backend) ||
               child->mark.collections != noun_home_mark_now(backend->home).collections) {
        retire(backend, child);
    } else {
        child->received_length = 0;
        child->busy = 0;
    }
}

/* Read what the child's socket holds; true at end of file. */
static bool drain_socket(struct fork_child *child)
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
        ssize_t got = read(child->socket_fd, child->received + child->received_length,
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

/* Wait at most `timeout_ms` (-1: until something happens) for busy
 * children to finish or pass their deadlines, and finish those that did. */
static void poll_children(struct fork_backend *backend, int timeout_ms)
{
    struct pollfd fds[FORK_MAX_CHILDREN];
    struct fork_child *owners[FORK_MAX_CHILDREN];
    nfds_t count = 0;
    uint64_t now = clock_wall_nanoseconds(), nearest = 0;
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++) {
        struct fork_child *child = &backend->children[i];
        if (!child->pid || !child->busy)
            continue;
        if (child->deadline_ns && (!nearest || child->deadline_ns < nearest))
            nearest = child->deadline_ns;
        fds[count] = (struct pollfd){ .fd = child->socket_fd, .events = POLLIN };
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
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && (drain_socket(child) || message_complete(child))) {
            finish_child(backend, child, false);
        } else if (child->deadline_ns && now >= child->deadline_ns) {
            kill(child->pid, SIGKILL);
            finish_child(backend, child, true);
        }
    }
}

/* Note that `child` now runs `spawn`, submitted at `began`. */
static void start_child(struct fork_backend *backend, struct fork_child *child, const struct kernel_spawn *spawn,
                        uint64_t began)
{
    uint64_t now = clock_wall_nanoseconds();
    child->spawn = *spawn;
    child->submitted_ns = began;
    child->start_ns = now - began;
    child->deadline_ns = spawn->timeout_ms && !backend->options.ignore_timeouts &&
                                 spawn->timeout_ms < UINT64_MAX / 2000000u
                             ? now + spawn->timeout_ms * 1000000u
                             : 0;
    child->received_length = 0;
    child->busy = 1;
    backend->running++;
}

/* Hand `spawn` to the waiting child when it has the spawn's nouns; a
 * waiting child that hasn't, or that can't be reached, is retired. */
static bool send_to_waiting(struct fork_backend *backend, const struct kernel_spawn *spawn, uint64_t began)
{
    struct fork_child *child = waiting_child(backend);
    if (!child)
        return false;
    struct fork_request request = { .magic = FORK_REQUEST_MAGIC, .spawn = *spawn };
    if (!child_can_run(backend, child, spawn) || !write_all(child->socket_fd, &request, sizeof request)) {
        retire(backend, child);
        return false;
    }
    start_child(backend, child, spawn, began);
    return true;
}

static bool fork_submit(void *self, const struct kernel_spawn *spawn, char *why, size_t why_size)
{
    struct fork_backend *backend = self;
    if (backend->running == 0)
        backend->interrupted = 0;
    while (backend->running >= backend->max_children)
        poll_children(backend, -1);
    uint64_t began = clock_wall_nanoseconds();
    if (send_to_waiting(backend, spawn, began))
        return true;
    struct kernel_spawn_runner *runner = runner_for(backend, spawn->memory_mb);
    if (!runner) {
        snprintf(why, why_size, "cannot make an evaluator with %llu MiB of scratch",
                 (unsigned long long)spawn->memory_mb);
        return false;
    }
    struct fork_child *child = NULL;
    for (unsigned i = 0; i < FORK_MAX_CHILDREN && !child; i++)
        if (!backend->children[i].pid)
            child = &backend->children[i];
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
        snprintf(why, why_size, "cannot make a socket pair: %s", strerror(errno));
        return false;
    }
    struct noun_home_mark mark = noun_home_mark_now(backend->home);
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
    child->socket_fd = ends[0];
    child->mark = mark;
    child->pid = pid;
    start_child(backend, child, spawn, began);
    backend->stats.processes_started++;
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
        if (pid && backend->children[i].busy)
            kill(pid, SIGKILL);
    }
}

/* A home collection moved every noun: the waiting child's home is out of
 * date for good, and it keeps the old arena's pages alive.  Let it go. */
static void on_home_collect(void *context)
{
    struct fork_backend *backend = context;
    struct fork_child *child = waiting_child(backend);
    if (child)
        retire(backend, child);
}

static size_t fork_workers(void *self, struct kernel_worker_status *out, size_t max)
{
    struct fork_backend *backend = self;
    size_t count = 0;
    uint64_t now = clock_wall_nanoseconds();
    for (unsigned i = 0; i < FORK_MAX_CHILDREN; i++) {
        struct fork_child *child = &backend->children[i];
        if (!child->pid || !child->busy)
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
    struct fork_child *child = waiting_child(backend);
    if (child)
        retire(backend, child);
    noun_home_unlisten(backend->home, on_home_collect, backend);
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
    if (!backend->receiver || !noun_home_listen(home, on_home_collect, backend)) {
        kernel_spawn_runner_free(backend->receiver);
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
