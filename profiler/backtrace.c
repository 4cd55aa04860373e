/* backtrace.c -- native backtraces on a fault (see backtrace.h).
 *
 * The handler runs on its own stack (sigaltstack) and uses only what is
 * safe there: open(2), write(2), libunwind's local unwinding, which
 * libunwind documents as usable from a signal handler, and clue_format,
 * which only reads nouns.  Everything goes both to standard error and to
 * the crash report file.  It then restores the default action and
 * re-raises, so the exit status still says which signal it was.
 *
 * One thing it does is not safe: naming the frames.  libunwind's
 * unw_get_proc_name reads the program's ELF image and allocates, and a
 * fault inside malloc (glibc aborts there when it finds the heap
 * corrupted) leaves the heap's lock held, so that allocation would wait
 * for ever.  So the handler first takes every frame's address, then names
 * them one by one under an alarm: if naming is stuck for
 * NAMING_SECONDS, the alarm's handler writes the rest of the report
 * without names and ends the process with the fault's signal.
 */
#define UNW_LOCAL_ONLY
#include "profiler/backtrace.h"

#include <fcntl.h>
#include <libunwind.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "profiler/clue.h"
#include "profiler/native.h"

#define HANDLER_STACK_BYTES (256 * 1024)
#define MAX_FRAMES 64

#define MAX_TRACE_ENTRIES 40
#define NAMING_SECONDS 3

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

/* The evaluator whose trace a report shows, and where reports go: the
 * directory part is fixed at install, the process id added when it
 * happens (a forked child reports as itself). */
static struct nock_context *volatile watched;
static char report_directory[512];
static int report_fd = -1;

static void write_fd(int fd, const char *text)
{
    ssize_t ignored = write(fd, text, strlen(text));
    (void)ignored;
}

static void write_text(const char *text)
{
    write_fd(STDERR_FILENO, text);
    if (report_fd >= 0)
        write_fd(report_fd, text);
}

static void decimal(unsigned long value, char *out)
{
    char digits[24];
    size_t at = sizeof digits;
    digits[--at] = 0;
    do {
        digits[--at] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    memcpy(out, digits + at, sizeof digits - at);
}

/* Open <directory>/nocklab-crash-<pid>.txt into report_fd; its path into
 * `path`. */
static void open_report(char *path, size_t size)
{
    char pid[24];
    decimal((unsigned long)getpid(), pid);
    size_t length = strlen(report_directory);
    const char *name = "/nocklab-crash-";
    if (length + strlen(name) + strlen(pid) + 5 > size)
        return;
    memcpy(path, report_directory, length);
    memcpy(path + length, name, strlen(name) + 1);
    strcat(path, pid);
    strcat(path, ".txt");
    report_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

/* The %spot/%hunk/%mean/%lose trace the watched evaluator was under. */
static void write_nock_trace(void)
{
    struct nock_context *context = watched;
    if (!context)
        return;
    size_t pairs;
    const noun *trace = nock_context_trace(context, &pairs);
    write_text("Nock trace (innermost first):\n");
    if (pairs == 0)
        write_text("  (empty: no evaluation was under a %spot/%hunk/%mean/%lose hint)\n");
    for (size_t shown = 0; shown < pairs && shown < MAX_TRACE_ENTRIES; shown++) {
        size_t i = pairs - 1 - shown;
        char line[400];
        clue_format(trace[2 * i], trace[2 * i + 1], line, sizeof line);
        write_text("  ");
        write_text(line);
        write_text("\n");
    }
    if (pairs > MAX_TRACE_ENTRIES)
        write_text("  ...\n");
}

/* Hex without printf, which is not safe in a handler. */
static void write_hex(unsigned long value)
{
    char digits[2 + 2 * sizeof value + 1];
    size_t at = sizeof digits - 1;
    digits[at] = 0;
    do {
        digits[--at] = "0123456789abcdef"[value & 15];
        value >>= 4;
    } while (value && at > 2);
    digits[--at] = 'x';
    digits[--at] = '0';
    write_text(digits + at);
}

/* The fault being reported, its frames' addresses (innermost first), and
 * the frame being named: the alarm's handler finishes from there. */
static int fault_signal;
static char report_path[600];
static unw_word_t frame_addresses[MAX_FRAMES];
static int frame_count;
static volatile sig_atomic_t naming_frame = -1;

static void take_frames(void)
{
    unw_context_t context;
    unw_cursor_t cursor;
    frame_count = 0;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0)
        return;
    while (frame_count < MAX_FRAMES && unw_step(&cursor) > 0)
        unw_get_reg(&cursor, UNW_REG_IP, &frame_addresses[frame_count++]);
}

/* The Nock trace, the report's path, and death by the fault's signal
 * (which is blocked while its handler runs: unblocked to be raised from
 * the alarm's). */
static void finish_report(void)
{
    write_nock_trace();
    if (report_fd >= 0) {
        close(report_fd);
        report_fd = -1;
        write_fd(STDERR_FILENO, "nocklab: crash report written to ");
        write_fd(STDERR_FILENO, report_path);
        write_fd(STDERR_FILENO, "\n");
    }
    signal(fault_signal, SIG_DFL);
    sigset_t fault;
    sigemptyset(&fault);
    sigaddset(&fault, fault_signal);
    raise(fault_signal);
    sigprocmask(SIG_UNBLOCK, &fault, NULL);
}

static void on_naming_stuck(int signal_number)
{
    (void)signal_number;
    write_text(" (naming the frames is stuck: the fault came inside the allocator?)\n");
    for (int frame = naming_frame + 1; frame < frame_count; frame++) {
        write_text("  ");
        write_hex((unsigned long)frame_addresses[frame]);
        write_text("\n");
    }
    finish_report();
}

static void write_frames(void)
{
    take_frames();
    if (frame_count == 0) {
        write_text("  (no backtrace: libunwind could not start)\n");
        return;
    }
    struct sigaction stuck;
    memset(&stuck, 0, sizeof stuck);
    stuck.sa_handler = on_naming_stuck;
    stuck.sa_flags = SA_ONSTACK;
    sigemptyset(&stuck.sa_mask);
    sigaction(SIGALRM, &stuck, NULL);
    sigset_t alarm_signal;
    sigemptyset(&alarm_signal);
    sigaddset(&alarm_signal, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &alarm_signal, NULL);
    alarm(NAMING_SECONDS);
    for (int frame = 0; frame < frame_count; frame++) {
        naming_frame = frame;
        char name[128];
        uintptr_t offset = 0;
        write_text("  ");
        write_hex((unsigned long)frame_addresses[frame]);
        if (native_function_name((uintptr_t)frame_addresses[frame], name, sizeof name, &offset)) {
            write_text(" ");
            write_text(name);
            write_text("+");
            write_hex((unsigned long)offset);
        }
        write_text("\n");
    }
    alarm(0);
}

static void on_fault(int signal_number)
{
    fault_signal = signal_number;
    open_report(report_path, sizeof report_path);
    write_text("nocklab: fatal signal ");
    const char *name = signal_number == SIGSEGV ? "SIGSEGV"
                       : signal_number == SIGBUS ? "SIGBUS"
                       : signal_number == SIGFPE ? "SIGFPE"
                       : signal_number == SIGILL ? "SIGILL"
                                                 : "SIGABRT";
    write_text(name);
    write_text(" (a bug in nocklab; please report it with this backtrace)\n");
    write_frames();
    finish_report();
}

void backtrace_watch(struct nock_context *evaluator) { watched = evaluator; }

bool backtrace_install(void)
{
    const char *directory = getenv("TMPDIR");
    snprintf(report_directory, sizeof report_directory, "%s", directory && *directory ? directory : "/tmp");
    stack_t handler_stack = { .ss_size = HANDLER_STACK_BYTES, .ss_flags = 0 };
    handler_stack.ss_sp = malloc(HANDLER_STACK_BYTES);
    if (!handler_stack.ss_sp || sigaltstack(&handler_stack, NULL) != 0)
        return false;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_fault;
    action.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &action, NULL);
    return true;
}
