/* backtrace.c -- native backtraces on a fault (see backtrace.h).
 *
 * The handler runs on its own stack (sigaltstack) and uses only what is
 * safe there: write(2) and libunwind's local unwinding, which libunwind
 * documents as usable from a signal handler.  It then restores the default
 * action and re-raises, so the exit status still says which signal it was.
 */
#define UNW_LOCAL_ONLY
#include "profiler/backtrace.h"

#include <libunwind.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLER_STACK_BYTES (256 * 1024)
#define MAX_FRAMES 64

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };

static void write_text(const char *text)
{
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
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

static void write_frames(void)
{
    unw_context_t context;
    unw_cursor_t cursor;
    if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) {
        write_text("  (no backtrace: libunwind could not start)\n");
        return;
    }
    for (int frame = 0; frame < MAX_FRAMES && unw_step(&cursor) > 0; frame++) {
        unw_word_t pc = 0, offset = 0;
        char name[128];
        unw_get_reg(&cursor, UNW_REG_IP, &pc);
        write_text("  ");
        write_hex((unsigned long)pc);
        if (unw_get_proc_name(&cursor, name, sizeof name, &offset) == 0) {
            write_text(" ");
            write_text(name);
            write_text("+");
            write_hex((unsigned long)offset);
        }
        write_text("\n");
    }
}

static void on_fault(int signal_number)
{
    write_text("nocklab: fatal signal ");
    const char *name = signal_number == SIGSEGV ? "SIGSEGV"
                       : signal_number == SIGBUS ? "SIGBUS"
                       : signal_number == SIGFPE ? "SIGFPE"
                       : signal_number == SIGILL ? "SIGILL"
                                                 : "SIGABRT";
    write_text(name);
    write_text(" (a bug in nocklab; please report it with this backtrace)\n");
    write_frames();
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

bool backtrace_install(void)
{
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
