/* test_backtrace.c -- the fault handler (profiler/backtrace.h) when the
 * fault comes inside malloc.  Naming frames allocates, and the heap's lock
 * is then held by the thread that faulted: the report must still be
 * written and the process must still die of its signal (the handler once
 * waited for that lock for ever).  Children are forked, each with a
 * main thread allocating without pause, and sent SIGSEGV there; most such
 * signals land inside the allocator, and about one in three where
 * naming is stuck (so the old handler hung in about half the runs of
 * this test; the new one must end every time).  tests/integration/
 * test_backtrace.sh covers an ordinary fault. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "profiler/backtrace.h"

#define CHILDREN 6

static uint64_t allocations;

/* Allocate without pause: the small blocks a thousand at a time before
 * any is freed (so malloc's lock-free cache of them is mostly empty), and
 * between them blocks too big for that cache, whose malloc and free take
 * the heap's lock. */
static void *allocate_for_ever(void *argument)
{
    (void)argument;
    static void *small[1000];
    for (uint64_t round = 0;; round++) {
        for (size_t i = 0; i < 1000; i++) {
            small[i] = malloc(16 + (round + i) % 64);
            free(malloc(1100 + i % 3000));
            __atomic_store_n(&allocations, round * 1000 + i + 1, __ATOMIC_RELAXED);
        }
        for (size_t i = 0; i < 1000; i++)
            free(small[i]);
    }
    return NULL;
}

/* Send the allocating thread SIGSEGV once it has been at it a while. */
static void *fault_it(void *argument)
{
    pthread_t *allocating = argument;
    while (__atomic_load_n(&allocations, __ATOMIC_RELAXED) < 100000)
        sched_yield();
    pthread_kill(*allocating, SIGSEGV);
    return NULL;
}

/* The child: what it prints goes to `report_fd` (standard error), its
 * crash report file to `directory`; its main thread allocates (in the
 * main heap, as the REPL's does) until another thread faults it. */
static void child(int report_fd, const char *directory)
{
    dup2(report_fd, STDERR_FILENO);
    setenv("TMPDIR", directory, 1);
    if (!backtrace_install())
        _exit(2);
    static pthread_t self, thread;
    self = pthread_self();
    if (pthread_create(&thread, NULL, fault_it, &self) != 0)
        _exit(2);
    allocate_for_ever(NULL);
    _exit(3);
}

static void test_fault_inside_malloc_is_reported(void **state)
{
    (void)state;
    int stuck = 0;
    char directory[] = "/tmp/nocklab-test-backtrace-XXXXXX";
    assert_non_null(mkdtemp(directory));
    for (int attempt = 0; attempt < CHILDREN; attempt++) {
        char path[100];
        snprintf(path, sizeof path, "%s/stderr", directory);
        int report = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        assert_true(report >= 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child(report, directory);
        /* wait for the child to end; a minute with no end is a hang (a
         * report takes well under a second, or NAMING_SECONDS when
         * naming was stuck) */
        int status = 0;
        pid_t ended = 0;
        for (int tenth = 0; tenth < 600 && (ended = waitpid(pid, &status, WNOHANG)) == 0; tenth++)
            usleep(100000);
        if (ended == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            unlink(path);
            fail_msg("a child that faulted inside malloc did not end in a minute: its report hung");
        }
        char text[8192] = "";
        ssize_t length = pread(report, text, sizeof text - 1, 0);
        close(report);
        unlink(path);
        text[length > 0 ? length : 0] = 0;
        char crash_file[120];
        snprintf(crash_file, sizeof crash_file, "%s/nocklab-crash-%d.txt", directory, (int)pid);
        unlink(crash_file);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
            fail_msg("the child did not die of SIGSEGV (status %#x); it wrote:\n%s", status, text);
        assert_non_null(strstr(text, "nocklab: fatal signal SIGSEGV"));
        assert_non_null(strstr(text, "\n  0x")); /* frames, named or not */
        stuck += strstr(text, "naming the frames is stuck") != NULL;
    }
    rmdir(directory);
    print_message("%d of %d faults came where naming the frames was stuck\n", stuck, CHILDREN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_inside_malloc_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
