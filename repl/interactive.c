/* interactive.c -- the REPL at a terminal (interface in interactive.h).
 *
 * Readline runs in its callback mode: the loop waits in poll() for a key,
 * hands it to rl_callback_read_char, and gets whole lines through
 * on_line().  That keeps signals ours.  SIGINT while waiting for a key
 * interrupts poll(); the loop then throws the typed line away (and any
 * unfinished multi-line entry) and starts a fresh prompt.  SIGINT while a
 * line runs goes to session_interrupt, which stops the evaluator; the line
 * then fails with "interrupted after N steps" and bindings are untouched.
 * While a line runs, readline is uninstalled so the terminal is in its
 * normal mode and the line's output appears as it is written.
 *
 * An entry is what runs as one line: usually one line typed, or several
 * when a '[' is still open at the end of a line.  The lines of a
 * multi-line entry lose their `::` comments and are joined with spaces;
 * history keeps the joined form, so Up brings the whole entry back.
 */
#include "repl/interactive.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "profiler/monitor.h"
#include "profiler/tui.h"
#include "repl/colour.h"
#include "repl/command.h"
#include "repl/commands_explore.h"
#include "repl/commands_profile.h"
#include "repl/entry.h"
#include "repl/expression.h"
#include "repl/pager.h"

#define PROMPT "nocklab> "
#define CONTINUATION_PROMPT "    ...> "
#define HISTORY_MAX_ENTRIES 1000
/* At a terminal, values print at most this many cells and this many
 * brackets deep unless :set says otherwise, so a 1 MB core prints as a
 * screenful with counts of what is hidden. */
#define INTERACTIVE_PRINT_MAX_CELLS 400
#define INTERACTIVE_PRINT_MAX_DEPTH 12

static const char *const hint_tags[] = { "%spot", "%hunk", "%mean", "%lose", "%slog", "%memo", "%bout", "%fast" };

/* The live panes (:tui on, --tui), while they are up: readline then reads
 * the keys the panes pass on (keys) and draws its line through them
 * (tui_set_prompt); `quiet` swallows what readline would write to the
 * terminal itself.  `started_sampler`: the hot arms pane needed the Nock
 * sampler, so leaving the panes stops it. */
struct panes {
    struct tui *tui;
    FILE *keys, *quiet;
    bool started_sampler;
};

/* The REPL's state.  Readline's callbacks take no context argument, so it
 * is one static object (there is one terminal).
 *   entry           the entry being assembled (repl/entry.h)
 *   completed       the line on_line received (NULL at end of input),
 *                   valid when line_ready
 *   interrupted     SIGINT arrived with no line running
 *   resized         SIGWINCH arrived
 *   candidates      completion candidates of the current Tab */
static struct {
    struct session *session;
    char history_path[4096];
    bool has_history_file;
    struct entry entry;
    char *completed;
    bool line_ready;
    volatile sig_atomic_t interrupted;
    volatile sig_atomic_t resized;
    bool coloured_prompt, coloured_errors;
    char **candidates;
    size_t candidate_count, candidate_capacity;
    struct panes panes;
} repl;

/* ---- entries ------------------------------------------------------------ */

static void entry_discard(void) { entry_clear(&repl.entry); }

/* ---- history ------------------------------------------------------------ */

bool interactive_history_path(char *out, size_t size)
{
    const char *state = getenv("XDG_STATE_HOME");
    int written;
    if (state && state[0] == '/') {
        written = snprintf(out, size, "%s/nocklab/history", state);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return false;
        written = snprintf(out, size, "%s/.local/state/nocklab/history", home);
    }
    return written > 0 && (size_t)written < size;
}

/* mkdir -p of the directory part of `path`. */
static bool make_parent_directories(const char *path)
{
    char directory[4096];
    snprintf(directory, sizeof directory, "%s", path);
    char *slash = strrchr(directory, '/');
    if (!slash || slash == directory)
        return true;
    *slash = '\0';
    for (char *p = directory + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(directory, 0700) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(directory, 0700) == 0 || errno == EEXIST;
}

static void history_open(void)
{
    using_history();
    stifle_history(HISTORY_MAX_ENTRIES);
    if (!interactive_history_path(repl.history_path, sizeof repl.history_path))
        return;
    if (!make_parent_directories(repl.history_path)) {
        fprintf(stderr, "nocklab: cannot make the directory for %s (%s); history will not be kept\n",
                repl.history_path, strerror(errno));
        return;
    }
    /* append_history needs the file to exist. */
    int fd = open(repl.history_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) {
        fprintf(stderr, "nocklab: cannot open %s (%s); history will not be kept\n", repl.history_path,
                strerror(errno));
        return;
    }
    close(fd);
    repl.has_history_file = true;
    read_history(repl.history_path);
}

static void history_remember(const char *entry)
{
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, entry) == 0)
        return;
    add_history(entry);
    if (repl.has_history_file)
        append_history(1, repl.history_path);
}

static void history_close(void)
{
    if (repl.has_history_file)
        history_truncate_file(repl.history_path, HISTORY_MAX_ENTRIES);
}

/* ---- completion --------------------------------------------------------- */

static void candidates_clear(void)
{
    for (size_t i = 0; i < repl.candidate_count; i++)
        free(repl.candidates[i]);
    repl.candidate_count = 0;
}

static void candidate_add(const char *prefix, const char *text, size_t length)
{
    if (repl.candidate_count == repl.candidate_capacity) {
        size_t capacity = repl.candidate_capacity ? 2 * repl.candidate_capacity : 32;
        char **grown = realloc(repl.candidates, capacity * sizeof *grown);
        if (!grown)
            return;
        repl.candidates = grown;
        repl.candidate_capacity = capacity;
    }
    size_t prefix_length = strlen(prefix);
    char *copy = malloc(prefix_length + length + 1);
    if (!copy)
        return;
    memcpy(copy, prefix, prefix_length);
    memcpy(copy + prefix_length, text, length);
    copy[prefix_length + length] = '\0';
    repl.candidates[repl.candidate_count++] = copy;
}

static char *candidate_generator(const char *text, int state)
{
    static size_t index, length;
    if (state == 0) {
        index = 0;
        length = strlen(text);
    }
    while (index < repl.candidate_count) {
        const char *candidate = repl.candidates[index++];
        if (strncmp(candidate, text, length) == 0)
            return strdup(candidate);
    }
    return NULL;
}

static void add_command_names(const char *prefix)
{
    size_t count;
    const struct command *commands = command_table(&count);
    for (size_t i = 0; i < count; i++)
        candidate_add(prefix, commands[i].name, strlen(commands[i].name));
}

static void add_binding(void *context, const char *name, noun value)
{
    candidate_add("", name, strlen(name));
}

static void add_setting_values(const char *setting, size_t length)
{
    for (size_t i = 0; commands_explore_setting_name(i); i++) {
        const char *name = commands_explore_setting_name(i);
        if (strlen(name) != length || memcmp(name, setting, length) != 0)
            continue;
        const char *values = commands_explore_setting_values(i);
        while (*values) {
            size_t value_length = strcspn(values, "|");
            if (!(value_length == 1 && values[0] == 'N'))
                candidate_add("", values, value_length);
            values += value_length + (values[value_length] == '|');
        }
    }
}

/* Words of line[0, end): their starts and lengths, at most `max`. */
static size_t split_words(const char *line, size_t end, size_t *starts, size_t *lengths, size_t max)
{
    size_t count = 0, i = 0;
    while (i < end && count < max) {
        while (i < end && expression_is_space(line[i]))
            i++;
        if (i == end)
            break;
        starts[count] = i;
        while (i < end && !expression_is_space(line[i]))
            i++;
        lengths[count] = i - starts[count];
        count++;
    }
    return count;
}

static bool word_equals(const char *word, size_t length, const char *expected)
{
    return strlen(expected) == length && memcmp(word, expected, length) == 0;
}

/* Readline's completion entry: choose candidates by where the cursor is. */
static char **complete(const char *text, int start, int end)
{
    rl_attempted_completion_over = 1;
    candidates_clear();
    const char *line = rl_line_buffer;
    size_t starts[4], lengths[4];
    size_t words = split_words(line, (size_t)start, starts, lengths, 4);
    bool is_command = repl.entry.lines == 0 && ((words > 0 && line[starts[0]] == ':') ||
                                                 (words == 0 && text[0] == ':'));
    if (is_command && words == 0) {
        add_command_names(":");
        return rl_completion_matches(text, candidate_generator);
    }
    if (is_command) {
        const char *command = line + starts[0] + 1;
        size_t command_length = lengths[0] - 1;
        size_t argument = words; /* 1 for the first argument */
        if (word_equals(command, command_length, "help") && argument == 1) {
            add_command_names("");
            return rl_completion_matches(text, candidate_generator);
        }
        if (word_equals(command, command_length, "set")) {
            if (argument == 1) {
                for (size_t i = 0; commands_explore_setting_name(i); i++)
                    candidate_add("", commands_explore_setting_name(i), strlen(commands_explore_setting_name(i)));
            } else if (argument == 2) {
                add_setting_values(line + starts[1], lengths[1]);
            }
            return rl_completion_matches(text, candidate_generator);
        }
        if ((word_equals(command, command_length, "load") || word_equals(command, command_length, "save")) &&
            argument >= 2)
            return rl_completion_matches(text, rl_filename_completion_function);
    }
    if (text[0] == '%') {
        for (size_t i = 0; i < sizeof hint_tags / sizeof hint_tags[0]; i++)
            candidate_add("", hint_tags[i], strlen(hint_tags[i]));
    } else {
        session_each_binding(repl.session, add_binding, NULL);
    }
    return rl_completion_matches(text, candidate_generator);
}

/* ---- output ------------------------------------------------------------- */

/* Wraps the stdio output so an error that names a column gets a caret
 * under that column of what was typed, before the error line. */
struct caret_output {
    const char *entry;
    size_t length;
    bool multi_line;
    bool done;
    struct pager *pager; /* values go through it (NULL: straight out) */
};

static void caret_value(void *context, const char *text, size_t length)
{
    struct caret_output *caret = context;
    if (caret->pager)
        pager_line(caret->pager, text, length);
    else
        session_output_stdio.value(session_output_stdio.context, text, length);
}

static void caret_notice(void *context, const char *text, size_t length)
{
    struct caret_output *caret = context;
    if (caret->pager)
        pager_flush(caret->pager);
    session_output_stdio.notice(session_output_stdio.context, text, length);
}

static void caret_error(void *context, const char *text, size_t length)
{
    struct caret_output *caret = context;
    /* What went before the error must be on the screen first. */
    if (caret->pager)
        pager_flush(caret->pager);
    if (!caret->done && length >= 6 && memcmp(text, "error:", 6) == 0) {
        caret->done = true;
        size_t column = session_error_column(text, length);
        const char *on = repl.coloured_errors ? COLOUR_ERROR : "", *off = repl.coloured_errors ? COLOUR_RESET : "";
        if (column >= 1 && column <= caret->length + 1) {
            if (caret->multi_line)
                fprintf(stderr, "  %.*s\n%*s%s^%s\n", (int)caret->length, caret->entry, (int)(column + 1), "", on, off);
            else
                fprintf(stderr, "%*s%s^%s\n", (int)(strlen(PROMPT) + column - 1), "", on, off);
        }
    }
    session_output_stdio.error(session_output_stdio.context, text, length);
}

/* ---- the panes ---------------------------------------------------------- */

/* The prompt as the panes show it: without what readline is told not to
 * count (the colour codes between \001 and \002), which the panes would
 * print as such; they draw the prompt in their own colour. */
static void visible_prompt(const char *prompt, char *out, size_t size)
{
    size_t used = 0;
    bool hidden = false;
    for (; *prompt && used + 1 < size; prompt++) {
        if (*prompt == '\001' || *prompt == '\002')
            hidden = *prompt == '\001';
        else if (!hidden)
            out[used++] = *prompt;
    }
    out[used] = '\0';
}

static void panes_redisplay(void)
{
    char prompt[64];
    visible_prompt(rl_display_prompt ? rl_display_prompt : "", prompt, sizeof prompt);
    tui_set_prompt(repl.panes.tui, prompt, rl_line_buffer, (size_t)rl_point);
}

/* The dedup pane follows home as lines copy their values into it. */
static void panes_report_home(void)
{
    if (!repl.panes.tui)
        return;
    struct noun_dedup_stats dedup;
    noun_home_dedup_stats(session_home(repl.session), &dedup);
    monitor_dedup(monitor_process(), &dedup);
}

static void terminal_left_alone(int meta) { (void)meta; }
static void terminal_left_alone_too(void) {}

static void panes_begin(void)
{
    struct sampler *sampler = commands_profile_sampler();
    repl.panes.started_sampler = false;
    if (sampler && !sampler_running(sampler))
        repl.panes.started_sampler =
            commands_profile_start(repl.session, session_nock(repl.session), SAMPLER_DEFAULT_HZ);
    struct tui_options options = {
        .mode = TUI_REPL,
        .title = "REPL",
        .hot = sampler ? sampler_folded(sampler) : NULL,
    };
    char why[200];
    rl_callback_handler_remove();
    struct tui *tui = tui_open(&options, why, sizeof why);
    if (!tui) {
        fprintf(stderr, "error: cannot show the panes: %s\n", why);
        if (repl.panes.started_sampler)
            sampler_stop(sampler);
        return;
    }
    repl.panes.tui = tui;
    panes_report_home();
    repl.panes.keys = fdopen(dup(tui_key_fd(tui)), "r");
    repl.panes.quiet = fopen("/dev/null", "w");
    rl_instream = repl.panes.keys;
    rl_outstream = repl.panes.quiet;
    rl_redisplay_function = panes_redisplay;
    rl_prep_term_function = terminal_left_alone;
    rl_deprep_term_function = terminal_left_alone_too;
}

static void panes_end(void)
{
    if (!repl.panes.tui)
        return;
    rl_callback_handler_remove();
    tui_close(repl.panes.tui);
    repl.panes.tui = NULL;
    rl_instream = stdin;
    rl_outstream = stdout;
    rl_redisplay_function = rl_redisplay;
    rl_prep_term_function = rl_prep_terminal;
    rl_deprep_term_function = rl_deprep_terminal;
    if (repl.panes.keys)
        fclose(repl.panes.keys);
    if (repl.panes.quiet)
        fclose(repl.panes.quiet);
    repl.panes.keys = repl.panes.quiet = NULL;
    if (repl.panes.started_sampler)
        sampler_stop(commands_profile_sampler());
}

/* After each entry: put the panes up or take them down if :tui asked. */
static void panes_follow_request(void)
{
    bool on;
    if (!commands_profile_take_tui_request(&on))
        return;
    if (on && !repl.panes.tui)
        panes_begin();
    else if (!on)
        panes_end();
}

/* ---- the loop ----------------------------------------------------------- */

static void on_interrupt(int signal_number)
{
    /* The terminal has echoed ^C where the cursor was; the interrupted
     * message starts on a line of its own. */
    if (session_interrupt(repl.session))
        (void)!write(STDOUT_FILENO, "\n", 1);
    else
        repl.interrupted = 1;
}

static void on_resize(int signal_number) { repl.resized = 1; }

static void on_line(char *line)
{
    /* Uninstalled here, inside the callback, so readline doesn't draw the
     * next prompt before the line has run. */
    rl_callback_handler_remove();
    repl.completed = line;
    repl.line_ready = true;
}

static void prompt_install(void)
{
    using_history();
    /* Readline counts the prompt's width: the colour codes go between
     * \001 and \002 so they count as nothing. */
    const char *prompt = repl.entry.depth > 0 ? CONTINUATION_PROMPT : PROMPT;
    char coloured[64];
    if (repl.coloured_prompt) {
        snprintf(coloured, sizeof coloured, "\001" COLOUR_PROMPT "\002%s\001" COLOUR_RESET "\002", prompt);
        prompt = coloured;
    }
    rl_callback_handler_install(prompt, on_line);
}

/* Ctrl-C at the prompt: drop what was typed, start a fresh prompt. */
static void discard_typed(void)
{
    repl.interrupted = 0;
    /* Show ^C after all that was typed, before readline lets go of the
     * terminal (which returns the cursor to the line's start). */
    rl_point = rl_end;
    rl_redisplay();
    fputs("^C", stdout);
    fflush(stdout);
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_callback_handler_remove();
    fputs("\n", stdout);
    fflush(stdout);
    entry_discard();
    prompt_install();
}

/* Run the assembled entry; returns whether it asked to quit. */
static bool run_entry(void)
{
    char *text = repl.entry.text;
    size_t start = 0, end = repl.entry.length;
    while (start < end && expression_is_space(text[start]))
        start++;
    while (end > start && expression_is_space(text[end - 1]))
        end--;
    bool multi_line = repl.entry.lines > 1;
    bool quit = false;
    if (end > start) {
        text[end] = '\0';
        history_remember(text + start);
        if (repl.panes.tui) /* the panes' output area shows what was run */
            printf("%s%s\n", PROMPT, text + start);
        /* Long output is paged, and stays on the screen afterwards. */
        struct caret_output caret = {
            .entry = text + (multi_line ? start : 0),
            .length = multi_line ? end - start : end,
            .multi_line = multi_line,
            .pager = pager_open(&session_output_stdio, isatty(STDOUT_FILENO)),
        };
        struct session_output output = {
            .context = &caret,
            .value = caret_value,
            .error = caret_error,
            .notice = caret_notice,
        };
        /* A single line runs as typed, so columns match the screen. */
        quit = session_run_line(repl.session, caret.entry, caret.length, &output) == SESSION_QUIT;
        pager_close(caret.pager);
    }
    entry_discard();
    return quit;
}

/* A typed line arrived: add it to the entry, run the entry when it is
 * complete.  Returns whether the session should end. */
static bool take_line(const char *line, size_t length)
{
    if (!entry_add_line(&repl.entry, line, length)) {
        fputs("error: out of memory; the entry is discarded\n", stderr);
        return false;
    }
    if (!entry_complete(&repl.entry))
        return false;
    return run_entry();
}

static void read_loop(void)
{
    if (commands_profile_request()->tui)
        panes_begin();
    prompt_install();
    for (;;) {
        if (repl.interrupted) {
            discard_typed();
            continue;
        }
        if (repl.resized) {
            repl.resized = 0;
            if (!repl.panes.tui)
                rl_resize_terminal();
        }
        struct pollfd input[2] = {
            { .fd = repl.panes.tui ? fileno(repl.panes.keys) : STDIN_FILENO, .events = POLLIN },
            { .fd = repl.panes.tui ? tui_notify_fd(repl.panes.tui) : -1, .events = POLLIN },
        };
        int ready = poll(input, 2, -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (repl.panes.tui && tui_leave_requested(repl.panes.tui)) {
            /* q on a pane: back to the plain prompt */
            panes_end();
            prompt_install();
            continue;
        }
        rl_callback_read_char();
        if (!repl.line_ready)
            continue;
        repl.line_ready = false;
        if (!repl.completed) { /* Ctrl-D on an empty line */
            fputc('\n', stdout);
            break;
        }
        /* A bracketed paste can hold several lines: each counts as typed. */
        bool quit = false;
        for (const char *line = repl.completed; !quit;) {
            size_t length = strcspn(line, "\n");
            quit = take_line(line, length);
            if (line[length] == '\0')
                break;
            line += length + 1;
        }
        free(repl.completed);
        repl.completed = NULL;
        if (quit)
            break;
        panes_report_home();
        panes_follow_request();
        prompt_install();
    }
    rl_callback_handler_remove();
    panes_end();
}

void interactive_prepare(struct session *session)
{
    session_set_interactive(session, true);
    struct text_print_options print = session_print_options(session);
    if (print.max_cells == 0 || print.max_cells > INTERACTIVE_PRINT_MAX_CELLS)
        print.max_cells = INTERACTIVE_PRINT_MAX_CELLS;
    if (print.max_depth == 0)
        print.max_depth = INTERACTIVE_PRINT_MAX_DEPTH;
    session_set_print_options(session, &print);
}

int interactive_run(struct session *session)
{
    memset(&repl, 0, sizeof repl);
    repl.session = session;
    if (!session_is_interactive(session))
        interactive_prepare(session);

    repl.coloured_prompt = colour_enabled(STDOUT_FILENO);
    repl.coloured_errors = colour_enabled(STDERR_FILENO);
    rl_readline_name = "nocklab";
    rl_attempted_completion_function = complete;
    rl_completer_word_break_characters = " \t\n[]*#?+=\"'";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    history_open();

    struct sigaction interrupt_action, resize_action, saved_interrupt, saved_resize;
    memset(&interrupt_action, 0, sizeof interrupt_action);
    interrupt_action.sa_handler = on_interrupt;
    sigemptyset(&interrupt_action.sa_mask);
    resize_action = interrupt_action;
    resize_action.sa_handler = on_resize;
    sigaction(SIGINT, &interrupt_action, &saved_interrupt);
    sigaction(SIGWINCH, &resize_action, &saved_resize);

    printf("nocklab: :help lists the commands, Tab completes, Ctrl-D or :quit ends\n");
    fflush(stdout);
    read_loop();

    sigaction(SIGINT, &saved_interrupt, NULL);
    sigaction(SIGWINCH, &saved_resize, NULL);
    history_close();
    candidates_clear();
    free(repl.candidates);
    entry_free(&repl.entry);
    session_set_interactive(session, false);
    return 0;
}
