/* main.c -- the nocklab program: options, batch mode, and Ctrl-C.
 *
 *   nocklab -e LINE [-e LINE ...]   run each line in order, then exit
 *   nocklab FILE                    run the lines of a file (- for stdin)
 *   nocklab -i FILE                 run a file, then the interactive REPL
 *   nocklab                         stdin a terminal: the interactive REPL;
 *                                   otherwise read lines from stdin
 *
 * An interactive session first runs the init file
 * ($XDG_CONFIG_HOME/nocklab/init).  --home-max and --scratch-max size the
 * address space reserved (repl/memory.h).
 *
 * -e lines and files run in the order given, in one session, so bindings
 * carry from one to the next.  The exit status is 0 when every line
 * succeeded, 1 when any failed, 2 for a bad command line.
 *
 * SIGINT while a line runs asks the evaluator to stop (the line fails with
 * "interrupted after N steps" and the next one runs); between lines in
 * batch mode it ends the program as usual, and at the interactive prompt it
 * is ignored.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "interp/backend.h"
#include "interp/nock.h"
#include "profiler/backtrace.h"
#include "repl/command.h"
#include "repl/commands_backend.h"
#include "repl/commands_kernel.h"
#include "repl/interactive.h"
#include "repl/memory.h"
#include "repl/commands_profile.h"
#include "repl/session.h"

#define NOCKLAB_VERSION "0.1.0"

/* What the SIGINT handler acts on.  Set once before the handler is
 * installed; `interactive` is set before the REPL starts. */
static struct session *interrupt_target;
static volatile sig_atomic_t interactive;

static void on_interrupt(int signal_number)
{
    if (session_interrupt(interrupt_target) || interactive)
        return;
    /* Nothing to stop: end the program the way SIGINT normally does. */
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void install_interrupt_handler(struct session *session)
{
    interrupt_target = session;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGINT, &action, NULL);
}

static void print_usage(FILE *stream)
{
    fputs("usage: nocklab [--tui] [--prof FILE] [--store DIR] [--snapshot jam|pma] [--snap-every N]\n"
          "               [-e LINE]... [-i FILE] [FILE]...\n"
          "       nocklab [--tui] [--prof FILE] gen SAMPLE N STORE [--seed S]\n"
          "       nocklab [--tui] [--prof FILE] replay STORE [--from N] [--to M]\n"
          "       nocklab [--tui] compare SAMPLE [N]\n"
          "\n"
          "A workbench for Nock: evaluate Nock 4K, jam/cue/mug as Vere does.\n"
          "\n"
          "  -e LINE       run LINE (repeatable; lines run in order)\n"
          "  FILE          run the lines of FILE ('-' reads standard input); a line\n"
          "                that leaves a '[' open continues on the next, as typed\n"
          "  -i FILE       run FILE, then stay in the interactive REPL\n"
          "  --store DIR   the kernel store of :boot, :poke, :replay ... (default\n"
          "                ./nocklab-store)\n"
          "  --backend NAME  run spawns on serial, fork or threads, or events in\n"
          "                parallel batches on stm (:backend)\n"
          "  --workers N   worker threads (threads, stm) or children (fork) at once\n"
          "  --nice N      run fork's children N nicer than nocklab (0 to 19)\n"
          "  --ordered     apply spawn outcomes in spawn order, not finish order\n"
          "  --home-max SIZE     address space reserved for home (4G, 512M; default\n"
          "                      64G, or half of what `ulimit -v` leaves)\n"
          "  --scratch-max SIZE  each half of a scratch region (default 8G, or what\n"
          "                      fits under `ulimit -v`)\n"
          "  --tui         the REPL (or replay, gen, compare) under the live panes\n"
          "  --prof FILE   sample the Nock that runs; write folded stacks to FILE\n"
          "  --snapshot jam|pma  the kind of snapshots the store keeps (chosen\n"
          "                once; the store remembers it): jam files, or home\n"
          "                in a file mapped at a fixed address (pma)\n"
          "  --snap-every N  :poke and the other kernel commands snapshot the\n"
          "                kernel every N events\n"
          "  -h, --help    show this help\n"
          "  --version     print the version\n"
          "\n"
          "With no LINE or FILE: the interactive REPL on a terminal, else the\n"
          "lines of standard input.  An interactive session first runs the lines\n"
          "of $XDG_CONFIG_HOME/nocklab/init (~/.config/nocklab/init), such as :set.  Each line that has a value prints it on one\n"
          "line of standard output; a failing line prints 'error: ...' on standard\n"
          "error and the next line still runs.  Exit status: 0 if every line\n"
          "succeeded, 1 if any failed, 2 for a bad command line.\n"
          "\n"
          "Lines:\n"
          "  NOUN              print it: 42, 0x2a, %foo, 'cord', \"tape\", [1 2 3]\n"
          "  *[a f]            Nock: formula f on subject a; also /[n a] slot,\n"
          "                    #[n b c] edit, ?x cell test, +x increment,\n"
          "                    =[a b] equality; they nest: [+5 *[42 [4 0 1]]]\n"
          "  =NAME EXPR        bind NAME (letters, digits, -) for later lines\n"
          "  :: comment        ignored, as are blank lines\n"
          "\n"
          "Commands:\n",
          stream);
    size_t count;
    const struct command *commands = command_table(&count);
    for (size_t i = 0; i < count; i++)
        fprintf(stream, "  %-17s %s\n", commands[i].usage, commands[i].summary);
    fputs("\nSubcommands:\n", stream);
    fputs(commands_kernel_usage, stream);
    fputs("\n"
          "Example:\n"
          "  nocklab -e '=dec [8 [1 0] 8 [1 6 [5 [0 7] 4 0 6] [0 6] 9 2 [0 2] [4 0 6] 0 7] 9 2 0 1]' \\\n"
          "          -e '*[42 dec]'\n"
          "prints 41.  docs/line-syntax.md has the whole line syntax.\n",
          stream);
}

/* Take --backend NAME, --workers N, --nice N and --ordered out of argv (they may
 * come anywhere before `--`) and hand them to the kernel commands.  False,
 * with the reason printed, for a bad one. */
static bool take_backend_options(int *argc, char **argv)
{
    const char *name = "serial";
    unsigned long workers = 0;
    long child_nice = 0;
    bool ordered = false;
    int kept = 1;
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            while (i < *argc)
                argv[kept++] = argv[i++];
            break;
        }
        if (strcmp(argv[i], "-e") == 0 || strcmp(argv[i], "--store") == 0) {
            argv[kept++] = argv[i];
            if (i + 1 < *argc)
                argv[kept++] = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--backend") == 0) {
            if (i + 1 >= *argc || !backend_find(argv[i + 1])) {
                fprintf(stderr, "nocklab: --backend needs one of %s\n", backend_names());
                return false;
            }
            name = argv[++i];
        } else if (strcmp(argv[i], "--workers") == 0) {
            char *end = NULL;
            if (i + 1 < *argc)
                workers = strtoul(argv[i + 1], &end, 10);
            if (i + 1 >= *argc || !end || *end || workers < 1 || workers > 256) {
                fprintf(stderr, "nocklab: --workers needs a number from 1 to 256\n");
                return false;
            }
            i++;
        } else if (strcmp(argv[i], "--nice") == 0) {
            char *end = NULL;
            if (i + 1 < *argc)
                child_nice = strtol(argv[i + 1], &end, 10);
            if (i + 1 >= *argc || !end || end == argv[i + 1] || *end || child_nice < 0 || child_nice > 19) {
                fprintf(stderr, "nocklab: --nice needs a number from 0 to 19 (how much nicer fork's children run)\n");
                return false;
            }
            i++;
        } else if (strcmp(argv[i], "--ordered") == 0) {
            ordered = true;
        } else {
            argv[kept++] = argv[i];
        }
    }
    argv[kept] = NULL;
    *argc = kept;
    commands_kernel_choose_backend(name, (unsigned)workers, (int)child_nice, ordered);
    return true;
}

/* Run one file argument; '-' is standard input. */
static bool run_file(struct session *session, const char *path)
{
    if (strcmp(path, "-") == 0)
        return session_run_stream(session, stdin, "stdin", &session_output_stdio);
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "error: cannot open %s: %m\n", path);
        return false;
    }
    struct stat status;
    if (fstat(fileno(file), &status) == 0 && S_ISDIR(status.st_mode)) {
        fprintf(stderr, "error: %s is a directory, not a file of lines to run (--store DIR names a store)\n", path);
        fclose(file);
        return false;
    }
    bool ok = session_run_stream(session, file, path, &session_output_stdio);
    fclose(file);
    return ok;
}

/* The init file: $XDG_CONFIG_HOME/nocklab/init, else
 * ~/.config/nocklab/init; false when neither variable helps. */
static bool init_file_path(char *out, size_t size)
{
    const char *config = getenv("XDG_CONFIG_HOME");
    int written;
    if (config && config[0] == '/') {
        written = snprintf(out, size, "%s/nocklab/init", config);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return false;
        written = snprintf(out, size, "%s/.config/nocklab/init", home);
    }
    return written > 0 && (size_t)written < size;
}

/* Before an interactive session: the init file's lines, when it exists. */
static void run_init_file(struct session *session)
{
    char path[4096];
    if (!init_file_path(path, sizeof path) || access(path, F_OK) != 0)
        return;
    run_file(session, path);
}

/* Options that take a value (the next argument, or after '='). */
static const char *const valued_options[] = { "-e",         "-i",         "--store",
                                              "--home-max", "--scratch-max", "--snapshot", "--snap-every" };

/* Which valued option `argument` is (with its value inline after '=' for
 * the long ones), or NULL. */
static const char *valued_option(const char *argument, const char **inline_value)
{
    *inline_value = NULL;
    for (size_t i = 0; i < sizeof valued_options / sizeof valued_options[0]; i++) {
        const char *name = valued_options[i];
        size_t length = strlen(name);
        if (strcmp(argument, name) == 0)
            return name;
        if (name[1] == '-' && strncmp(argument, name, length) == 0 && argument[length] == '=') {
            *inline_value = argument + length + 1;
            return name;
        }
    }
    return NULL;
}

/* What the command line asks for, besides the lines and files to run. */
struct command_line {
    const char *store;
    size_t home_max, scratch_max;
    const char *snapshot_kind; /* --snapshot: "jam" or "pma", or NULL */
    uint64_t snap_every;       /* --snap-every: 0 when not given */
    bool has_work;       /* -e lines or files */
    bool stay_interactive; /* -i FILE */
};

/* Check the command line before running anything, so a typo in the last
 * argument doesn't leave half the lines run.  Returns whether it is good. */
static bool check_arguments(int argc, char **argv, struct command_line *line)
{
    memset(line, 0, sizeof *line);
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *argument = argv[i], *value;
        const char *option = options_done ? NULL : valued_option(argument, &value);
        if (!options_done && strcmp(argument, "--") == 0) {
            options_done = true;
        } else if (option) {
            if (!value) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "nocklab: %s needs a value (nocklab --help says which)\n", option);
                    return false;
                }
                value = argv[++i];
            }
            if (strcmp(option, "--store") == 0) {
                line->store = value;
            } else if (strcmp(option, "--home-max") == 0 || strcmp(option, "--scratch-max") == 0) {
                size_t *target = option[2] == 'h' ? &line->home_max : &line->scratch_max;
                if (!memory_parse_size(value, strlen(value), target)) {
                    fprintf(stderr, "nocklab: %s takes a size like 4G, 512M or 65536K, not '%s'\n", option, value);
                    return false;
                }
            } else if (strcmp(option, "--snapshot") == 0) {
                if (strcmp(value, "jam") != 0 && strcmp(value, "pma") != 0) {
                    fprintf(stderr, "nocklab: --snapshot takes jam or pma, not '%s'\n", value);
                    return false;
                }
                line->snapshot_kind = value;
            } else if (strcmp(option, "--snap-every") == 0) {
                char *end = NULL;
                if (value[0] < '1' || value[0] > '9' || (line->snap_every = strtoull(value, &end, 10), *end != '\0')) {
                    fprintf(stderr, "nocklab: --snap-every needs a number of events (1 or more), not '%s'\n", value);
                    return false;
                }
            } else {
                line->has_work = true;
                if (strcmp(option, "-i") == 0)
                    line->stay_interactive = true;
            }
        } else if (!options_done && argument[0] == '-' && argument[1] != '\0') {
            fprintf(stderr, "nocklab: unknown option %s (nocklab --help lists them)\n", argument);
            return false;
        } else {
            line->has_work = true;
        }
    }
    return true;
}

/* Run the -e lines and files in order; returns whether all succeeded. */
static bool run_arguments(struct session *session, int argc, char **argv)
{
    bool options_done = false;
    bool all_ok = true;
    for (int i = 1; i < argc; i++) {
        enum session_result result = SESSION_OK;
        const char *value;
        const char *option = options_done ? NULL : valued_option(argv[i], &value);
        if (!options_done && strcmp(argv[i], "--") == 0) {
            options_done = true;
            continue;
        }
        if (option) {
            if (!value)
                value = argv[++i];
            if (strcmp(option, "-e") == 0)
                result = session_run_line(session, value, strlen(value), &session_output_stdio);
            else if (strcmp(option, "-i") == 0 && !run_file(session, value))
                result = SESSION_FAILED;
        } else if (!run_file(session, argv[i])) {
            result = SESSION_FAILED;
        }
        if (result == SESSION_FAILED)
            all_ok = false;
        if (result == SESSION_QUIT || session_quit_requested(session))
            break;
    }
    return all_ok;
}

int main(int argc, char **argv)
{
    backtrace_install();
    if (!take_backend_options(&argc, argv))
        return 2;
    if (!commands_profile_take_options(&argc, argv))
        return 2;
    if (argc >= 2 && strcmp(argv[1], "compare") == 0)
        return commands_backend_compare_main(argc, argv);
    if (argc >= 2 && commands_kernel_is_subcommand(argv[1]))
        return commands_kernel_main(argc, argv);
    for (int i = 1; i < argc; i++) {
        const char *value;
        if (strcmp(argv[i], "--") == 0)
            break;
        if (valued_option(argv[i], &value)) {
            i += value ? 0 : 1;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            puts("nocklab " NOCKLAB_VERSION);
            return 0;
        }
    }
    struct command_line line;
    if (!check_arguments(argc, argv, &line))
        return 2;

    char why[400];
    struct memory_plan plan;
    if (!memory_plan_make(line.home_max, line.scratch_max, &plan, why, sizeof why)) {
        fprintf(stderr, "nocklab: %s\n", why);
        return 1;
    }
    nock_set_default_scratch_bytes(plan.scratch_half_bytes);
    struct session_options options = {
        .store_directory = line.store,
        .home_capacity = plan.home_bytes,
        .scratch_max_bytes = plan.scratch_half_bytes,
        .snapshot_kind = line.snapshot_kind,
        .snap_every = line.snap_every,
    };
    struct session *session = session_new(&options, why, sizeof why);
    if (!session) {
        fprintf(stderr, "nocklab: %s\n", why);
        return 1;
    }
    install_interrupt_handler(session);
    if (strcmp(commands_kernel_backend_name(), "serial") != 0 &&
        !commands_kernel_use_backend(session, commands_kernel_backend_name(), commands_kernel_backend_workers(),
                                     commands_kernel_backend_nice(), &session_output_stdio)) {
        session_free(session);
        return 1;
    }
    backtrace_watch(session_nock(session));
    const struct profile_request *profiling = commands_profile_request();
    if (profiling->prof_path && !commands_profile_start(session, session_nock(session), SAMPLER_DEFAULT_HZ))
        fprintf(stderr, "nocklab: --prof: cannot start sampling: %m\n");

    int status = 0;
    bool at_terminal = isatty(STDIN_FILENO);
    bool goes_interactive = at_terminal && (!line.has_work || line.stay_interactive);
    if (profiling->tui && !goes_interactive)
        fprintf(stderr, "nocklab: --tui needs the interactive REPL on a terminal (or replay, gen, compare); running without the panes\n");
    if (goes_interactive) {
        interactive_prepare(session);
        run_init_file(session);
    }
    if (line.has_work)
        status = run_arguments(session, argc, argv) ? 0 : 1;
    if (!line.has_work && !at_terminal)
        status = session_run_stream(session, stdin, "stdin", &session_output_stdio) ? 0 : 1;
    if (goes_interactive && !session_quit_requested(session)) {
        interactive = 1;
        status = session_interactive(session);
    }
    if (profiling->prof_path) {
        sampler_stop(commands_profile_sampler());
        commands_profile_write(profiling->prof_path);
    }
    backtrace_watch(NULL);
    interrupt_target = NULL;
    session_free(session);
    return status;
}
