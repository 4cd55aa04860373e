/* pager.c -- a screen at a time (interface in pager.h).
 *
 * Three ways to show a long output, tried in order: the program in $PAGER,
 * `less -FRX` (colours pass, and what was shown stays on the screen after
 * quitting, as git and psql leave it), and a `--More--` prompt of our own that reads single keys from
 * the terminal.  A program pager gets the lines over a pipe; when the reader
 * quits it, the next write fails with EPIPE (SIGPIPE is ignored while a
 * pager is open), and that is how the command learns to stop.
 */
#include "repl/pager.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Lines are held before deciding whether to page, as long as they fit in
 * the screen's height less the prompt's line (`screen_lines` rows, long
 * lines counted by the rows they wrap to).  `held` is one malloc'd block of
 * NUL-separated lines.  `program` is the pager program's pipe once paging
 * started with one; `more_prompt` is set when paging with the built-in
 * prompt instead, with `lines_on_screen` counting rows since the last
 * prompt. */
struct pager {
    const struct session_output *output;
    bool on_terminal;
    bool paging;
    bool quit;
    size_t screen_lines;
    char *held;
    size_t held_length, held_capacity, held_lines;
    FILE *program;
    bool more_prompt;
    size_t lines_on_screen;  /* screen rows, counting wrapped lines */
    size_t screen_columns;
    size_t held_rows;
    struct sigaction saved_sigpipe;
};

static size_t terminal_columns(void)
{
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

/* Screen rows a line takes once the terminal wraps it. */
static size_t rows_for(const struct pager *pager, size_t length)
{
    return length == 0 ? 1 : (length + pager->screen_columns - 1) / pager->screen_columns;
}

static size_t terminal_rows(void)
{
    struct winsize size;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 2)
        return size.ws_row;
    const char *lines = getenv("LINES");
    long rows = lines ? strtol(lines, NULL, 10) : 0;
    return rows > 2 ? (size_t)rows : 24;
}

struct pager *pager_open(const struct session_output *output, bool on_terminal)
{
    struct pager *pager = calloc(1, sizeof *pager);
    if (!pager)
        return NULL;
    pager->output = output;
    pager->on_terminal = on_terminal;
    pager->screen_lines = on_terminal ? terminal_rows() - 1 : 0;
    pager->screen_columns = on_terminal ? terminal_columns() : 80;
    return pager;
}

/* Whether `name` is an executable somewhere on $PATH. */
static bool program_exists(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char candidate[4096];
    while (*path) {
        size_t length = strcspn(path, ":");
        if (length > 0 && length + strlen(name) + 2 < sizeof candidate) {
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)length, path, name);
            if (access(candidate, X_OK) == 0)
                return true;
        }
        path += length + (path[length] == ':');
    }
    return false;
}

static void start_paging(struct pager *pager)
{
    pager->paging = true;
    fflush(stdout);
    const char *command = getenv("PAGER");
    if (!command || !*command)
        command = program_exists("less") ? "less -FRX" : NULL;
    if (command) {
        struct sigaction ignore;
        memset(&ignore, 0, sizeof ignore);
        ignore.sa_handler = SIG_IGN;
        sigemptyset(&ignore.sa_mask);
        sigaction(SIGPIPE, &ignore, &pager->saved_sigpipe);
        pager->program = popen(command, "w");
        if (pager->program)
            return;
        sigaction(SIGPIPE, &pager->saved_sigpipe, NULL);
    }
    pager->more_prompt = true;
}

/* The built-in prompt: a key from the terminal, unbuffered and unechoed.
 * Space shows a screen more, Enter one line, q (or end of input) quits. */
static int read_key(void)
{
    struct termios saved, raw;
    bool restore = tcgetattr(STDIN_FILENO, &saved) == 0;
    if (restore) {
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    /* Ctrl-C (EINTR) quits like q. */
    unsigned char key = 'q';
    if (read(STDIN_FILENO, &key, 1) != 1)
        key = 'q';
    if (restore)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    return key;
}

static bool more_prompt_line(struct pager *pager, const char *text, size_t length)
{
    size_t rows = rows_for(pager, length);
    if (pager->lines_on_screen + rows > pager->screen_lines && pager->lines_on_screen > 0) {
        fputs("--More-- (space: a screen, enter: a line, q: quit)", stdout);
        fflush(stdout);
        int key = read_key();
        fputs("\r\033[K", stdout);
        if (key == 'q' || key == 'Q' || key == 3 || key == 4) {
            pager->quit = true;
            fflush(stdout);
            return false;
        }
        /* Enter: room for just this line; space: a whole screen. */
        bool one_line = (key == '\n' || key == '\r') && rows < pager->screen_lines;
        pager->lines_on_screen = one_line ? pager->screen_lines - rows : 0;
    }
    fwrite(text, 1, length, stdout);
    fputc('\n', stdout);
    pager->lines_on_screen += rows;
    return true;
}

/* Send one line to wherever paging goes. */
static bool paged_line(struct pager *pager, const char *text, size_t length)
{
    if (pager->more_prompt)
        return more_prompt_line(pager, text, length);
    /* The pipe is block-buffered: a reader who quit shows up as EPIPE on a
     * later write, a buffer or so after. */
    if (fwrite(text, 1, length, pager->program) != length || fputc('\n', pager->program) == EOF) {
        pager->quit = true;
        return false;
    }
    return true;
}

static bool hold_line(struct pager *pager, const char *text, size_t length)
{
    if (pager->held_length + length + 1 > pager->held_capacity) {
        size_t capacity = (pager->held_capacity + length + 1) * 2;
        char *grown = realloc(pager->held, capacity);
        if (!grown)
            return false;
        pager->held = grown;
        pager->held_capacity = capacity;
    }
    memcpy(pager->held + pager->held_length, text, length);
    pager->held[pager->held_length + length] = '\0';
    pager->held_length += length + 1;
    pager->held_lines++;
    pager->held_rows += rows_for(pager, length);
    return true;
}

/* Send the held lines on: to the session output, or to the pager. */
static void release_held(struct pager *pager)
{
    size_t offset = 0;
    for (size_t i = 0; i < pager->held_lines && !pager->quit; i++) {
        size_t length = strlen(pager->held + offset);
        if (pager->paging)
            paged_line(pager, pager->held + offset, length);
        else
            pager->output->value(pager->output->context, pager->held + offset, length);
        offset += length + 1;
    }
    pager->held_length = pager->held_lines = pager->held_rows = 0;
}

bool pager_line(struct pager *pager, const char *text, size_t length)
{
    if (pager->quit)
        return false;
    if (!pager->on_terminal) {
        pager->output->value(pager->output->context, text, length);
        return true;
    }
    if (pager->paging)
        return paged_line(pager, text, length);
    if (pager->held_rows + rows_for(pager, length) <= pager->screen_lines && hold_line(pager, text, length))
        return true;
    start_paging(pager);
    release_held(pager);
    return !pager->quit && paged_line(pager, text, length);
}

bool pager_printf(struct pager *pager, const char *format, ...)
{
    char small[1024];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(small, sizeof small, format, arguments);
    va_end(arguments);
    if (length < 0)
        return !pager->quit;
    if ((size_t)length >= sizeof small)
        length = sizeof small - 1;
    return pager_line(pager, small, (size_t)length);
}

void pager_flush(struct pager *pager)
{
    if (pager && !pager->paging)
        release_held(pager);
}

void pager_close(struct pager *pager)
{
    if (!pager)
        return;
    if (!pager->paging)
        release_held(pager);
    if (pager->program) {
        pclose(pager->program);
        sigaction(SIGPIPE, &pager->saved_sigpipe, NULL);
    }
    fflush(stdout);
    free(pager->held);
    free(pager);
}
