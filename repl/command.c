/* command.c -- the `:command` table and its handlers.
 *
 * To add a command: write its handler, add a row to `commands`.  The
 * dispatcher (command_run) splits the arguments by the row's arity and
 * prints the usage line when they don't fit, so handlers only check what
 * is particular to them (a name being bound, an atom being an atom).
 */
#include "repl/command.h"
#include "interp/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "interp/jam.h"
#include "interp/mug.h"
#include "interp/text.h"
#include "repl/commands_explore.h"
#include "repl/commands_hoon.h"
#include "repl/commands_backend.h"
#include "repl/commands_kernel.h"
#include "repl/commands_profile.h"
#include "repl/expression.h"
#include "snapshots/atomic_file.h"

/* :save writes noun text only for nouns this small as a tree: text repeats
 * every shared subtree, so a compact noun can be astronomically long as
 * text. */
#define COMMAND_SAVE_TEXT_MAX_CELLS 10000000
#define COMMAND_SAVE_TEXT_MAX_TEXT "10,000,000"

static command_handler command_help, command_jam, command_cue, command_mug, command_time, command_load,
    command_save, command_names, command_stats, command_quit;

static const struct command commands[] = {
    { "help", command_help, COMMAND_TAKES_OPTIONAL_REST, ":help [COMMAND]",
      "list the commands, or explain one",
      "With no argument, lists every command and the forms a line can take.\n"
      "With a command name (with or without its ':'), shows its usage and an example.\n"
      "Example: :help load" },
    { "jam", command_jam, COMMAND_TAKES_REST, ":jam EXPR",
      "print the jam of EXPR as a hex atom",
      "Serializes the value of EXPR exactly as Urbit's jam does and prints the\n"
      "resulting atom in lowercase hex.\n"
      "Example: :jam [1 2]   prints 0x1231" },
    { "cue", command_cue, COMMAND_TAKES_REST, ":cue EXPR",
      "print the noun a jam atom encodes",
      "EXPR must be an atom holding a jam (any atom syntax, usually 0x hex).\n"
      "Bad encodings fail with the bit offset where they go wrong.\n"
      "Example: :cue 0x1231   prints [1 2]" },
    { "mug", command_mug, COMMAND_TAKES_REST, ":mug EXPR",
      "print the mug (31-bit hash) of EXPR in hex",
      "The mug is Vere's structural hash of a noun, bit for bit.\n"
      "Example: :mug 0   prints 0x79ff04e8" },
    { "time", command_time, COMMAND_TAKES_REST, ":time LINE",
      "run LINE (an expression, =NAME EXPR or a :command), then say what it cost",
      "Runs the line as usual, then prints a line with the wall and CPU time,\n"
      "the Nock steps the session's evaluator ran, the scratch bytes allocated\n"
      "and the dedup hits while copying values to home -- also when the line\n"
      "fails.  (A kernel's own steps show in :profile.)\n"
      "Example: :time *[1000 dec]   :time :poke [%put 1 2]" },
    { "load", command_load, COMMAND_TAKES_WORD_AND_REST, ":load NAME PATH",
      "read a jam file (or .noun/.nock text) and bind it to NAME",
      "A file ending in .noun or .nock is read as noun text, where '::' starts\n"
      "a comment running to the end of the line; any other file is read as the\n"
      "bytes of a jam atom.  Prints the file size, the distinct cells and atoms,\n"
      "the mug and the time taken.\n"
      "Example: :load ivory /work/shared/ivory.pill" },
    { "save", command_save, COMMAND_TAKES_WORD_AND_REST, ":save NAME PATH",
      "write the noun bound to NAME to a file (jam bytes, or text)",
      "Writes the jam bytes of the bound noun, or its noun text when PATH ends\n"
      "in .noun or .nock, so :load reads it back.\n"
      "Example: :save dec /tmp/dec.jam" },
    { "names", command_names, COMMAND_TAKES_NOTHING, ":names",
      "list the bound names with their size and mug",
      "One line per name, in the order they were first bound.\n"
      "Example: :names" },
    { "stats", command_stats, COMMAND_TAKES_NOTHING, ":stats",
      "show home's size, dedup and evaluator counters",
      "Home is the long-lived heap holding bound nouns.  Shows the bytes it\n"
      "uses and used right after its last collection (0 before the first); the\n"
      "dedup table (lookups and hits while copying to home, bytes saved, entries\n"
      "and slots); and the evaluator's counters since the session began.\n"
      "Example: :stats" },
    COMMANDS_KERNEL_ROWS
    COMMANDS_BACKEND_ROWS
    COMMANDS_HOON_ROWS
    COMMANDS_EXPLORE_ROWS
    COMMANDS_PROFILE_ROWS
    { "quit", command_quit, COMMAND_TAKES_NOTHING, ":quit",
      "end the session (no further lines run)",
      "In a file or a list of -e lines, the lines after :quit are not run.\n"
      "Example: :quit" },
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

const struct command *command_table(size_t *count)
{
    *count = COMMAND_COUNT;
    return commands;
}

const struct command *command_find(const char *name, size_t length)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strlen(commands[i].name) == length && memcmp(commands[i].name, name, length) == 0)
            return &commands[i];
    return NULL;
}

/* Edit distance counting a swap of two neighbouring letters as one edit
 * (`:stpe` is one edit from `:step`), over three rows; `b` is a command name
 * (short), `a` is cut at 64. */
static size_t edit_distance(const char *a, size_t a_length, const char *b)
{
    size_t b_length = strlen(b);
    if (a_length > 64)
        a_length = 64;
    if (b_length > 64)
        b_length = 64;
    size_t before[65], previous[65], row[65];
    for (size_t j = 0; j <= b_length; j++)
        previous[j] = j;
    for (size_t i = 1; i <= a_length; i++) {
        row[0] = i;
        for (size_t j = 1; j <= b_length; j++) {
            size_t best = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            if (previous[j] + 1 < best)
                best = previous[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && before[j - 2] + 1 < best)
                best = before[j - 2] + 1;
            row[j] = best;
        }
        memcpy(before, previous, sizeof previous);
        memcpy(previous, row, sizeof row);
    }
    return previous[b_length];
}

const struct command *command_nearest(const char *name, size_t length, size_t *distance)
{
    const struct command *best = NULL;
    size_t best_distance = SIZE_MAX;
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        size_t d = edit_distance(name, length, commands[i].name);
        if (d < best_distance) {
            best = &commands[i];
            best_distance = d;
        }
    }
    if (distance)
        *distance = best_distance;
    return best;
}

/* The nearest command when it is near enough to be what was meant (at
 * most two edits, or half the name), else NULL. */
static const struct command *plausible_command(const char *name, size_t length)
{
    size_t distance;
    const struct command *nearest = command_nearest(name, length, &distance);
    return distance <= 2 || distance * 2 <= length ? nearest : NULL;
}

/* ---- helpers ------------------------------------------------------------ */

/* "48.1 ms", "2.35 s", "310 us". */
static void format_duration(double seconds, char *out, size_t size)
{
    if (seconds >= 1.0)
        snprintf(out, size, "%.2f s", seconds);
    else if (seconds >= 0.001)
        snprintf(out, size, "%.1f ms", seconds * 1e3);
    else
        snprintf(out, size, "%.0f us", seconds * 1e6);
}

/* The rest of the line as a NUL-terminated string (paths); NULL when memory
 * runs out, after saying so. */
static char *copy_rest(const struct command_arguments *arguments, const struct session_output *output)
{
    size_t length = arguments->rest_end - arguments->rest_start;
    char *copy = malloc(length + 1);
    if (!copy) {
        session_print_error(output, "error: out of memory");
        return NULL;
    }
    memcpy(copy, arguments->line + arguments->rest_start, length);
    copy[length] = '\0';
    return copy;
}

static bool is_text_path(const char *path)
{
    size_t length = strlen(path);
    return (length >= 5 && strcmp(path + length - 5, ".noun") == 0) ||
           (length >= 5 && strcmp(path + length - 5, ".nock") == 0);
}

/* The word argument must be a name. */
static bool check_name(const struct command_arguments *arguments, const struct session_output *output)
{
    size_t length = arguments->word_end - arguments->word_start;
    if (expression_name_length(arguments->line + arguments->word_start, length) == length)
        return true;
    session_print_error(output, "error: expected a name at column %zu (letters, digits and '-', starting with a letter)",
                        arguments->word_start + 1);
    return false;
}

static bool evaluate_rest(struct session *session, const struct command_arguments *arguments,
                          const struct session_output *output, noun *value)
{
    return session_evaluate(session, arguments->line, arguments->rest_end, arguments->rest_start, output, value);
}

static void print_hex_atom(const struct session_output *output, noun atom)
{
    struct text_print_options options = { .style = TEXT_HEX };
    struct text_buffer buffer;
    text_buffer_init(&buffer);
    if (text_print(&buffer, atom, &options))
        output->value(output->context, buffer.data, buffer.length);
    else
        session_print_error(output, "error: out of memory while printing");
    text_buffer_free(&buffer);
}

/* Whether n, written out as a tree (shared subtrees counted each time they
 * appear), has at most `limit` cells.  Stops counting past the limit, so it
 * costs at most O(limit) however much the noun shares. */
static bool tree_cells_at_most(noun n, uint64_t limit, bool *out_of_memory)
{
    size_t capacity = 64, count = 0;
    noun *stack = malloc(capacity * sizeof *stack);
    uint64_t cells = 0;
    *out_of_memory = stack == NULL;
    if (stack)
        stack[count++] = n;
    while (count > 0 && cells <= limit) {
        noun top = stack[--count];
        if (!noun_is_cell(top))
            continue;
        cells++;
        if (count + 2 > capacity) {
            noun *bigger = realloc(stack, capacity * 2 * sizeof *stack);
            if (!bigger) {
                *out_of_memory = true;
                break;
            }
            stack = bigger;
            capacity *= 2;
        }
        stack[count++] = noun_tail(top);
        stack[count++] = noun_head(top);
    }
    free(stack);
    return cells <= limit && !*out_of_memory;
}

/* ---- the handlers ------------------------------------------------------- */

static void print_help_list(const struct session_output *output)
{
    session_print(output, "A line is one of:");
    session_print(output, "  EXPR              print the value of a noun or expression");
    session_print(output, "                    (*[a f] Nock, /[n a] slot, #[n b c] edit, ?x cell test,");
    session_print(output, "                    +x increment, =[a b] equality; they nest)");
    session_print(output, "  =NAME EXPR        bind NAME to the value of EXPR");
    session_print(output, "  :: comment        ignored, like a blank line");
    session_print(output, "Commands:");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        session_print(output, "  %-17s %s", commands[i].usage, commands[i].summary);
    session_print(output, ":help COMMAND explains one; docs/line-syntax.md has the whole syntax.");
}

/* Print a multi-line text one line at a time. */
static void print_lines(const struct session_output *output, const char *text)
{
    while (*text) {
        const char *end = strchr(text, '\n');
        size_t length = end ? (size_t)(end - text) : strlen(text);
        session_print(output, "  %.*s", (int)length, text);
        text += length + (end ? 1 : 0);
    }
}

static enum session_result command_help(struct session *session, const struct command_arguments *arguments,
                                        const struct session_output *output)
{
    if (arguments->rest_start == arguments->rest_end) {
        print_help_list(output);
        return SESSION_OK;
    }
    const char *name = arguments->line + arguments->rest_start;
    size_t length = arguments->rest_end - arguments->rest_start;
    if (length > 0 && name[0] == ':') {
        name++;
        length--;
    }
    const struct command *command = command_find(name, length);
    if (!command) {
        const struct command *nearest = plausible_command(name, length);
        if (nearest)
            session_print_error(output, "error: no command :%.*s; did you mean :%s?", (int)(length > 64 ? 64 : length),
                                name, nearest->name);
        else
            session_print_error(output, "error: no command :%.*s (:help lists the commands)",
                                (int)(length > 64 ? 64 : length), name);
        return SESSION_FAILED;
    }
    session_print(output, "%s -- %s", command->usage, command->summary);
    print_lines(output, command->help);
    return SESSION_OK;
}

static enum session_result command_jam(struct session *session, const struct command_arguments *arguments,
                                       const struct session_output *output)
{
    noun value;
    if (!evaluate_rest(session, arguments, output, &value))
        return SESSION_FAILED;
    noun jammed = jam_to_atom(nock_context_region(session_nock(session)), value);
    if (jammed == NOUN_NONE) {
        session_print_error(output, "error: out of memory while jamming");
        return SESSION_FAILED;
    }
    print_hex_atom(output, jammed);
    return SESSION_OK;
}

static enum session_result command_cue(struct session *session, const struct command_arguments *arguments,
                                       const struct session_output *output)
{
    noun value;
    if (!evaluate_rest(session, arguments, output, &value))
        return SESSION_FAILED;
    if (!noun_is_atom(value)) {
        session_print_error(output, "error: :cue needs an atom (a jam), and the expression at column %zu is a cell",
                            arguments->rest_start + 1);
        return SESSION_FAILED;
    }
    noun product;
    struct jam_error error = { 0 };
    if (!jam_cue_atom(nock_context_region(session_nock(session)), value, &product, &error)) {
        session_print_error(output, "error: cue: %s (at bit %llu)", error.message,
                            (unsigned long long)error.bit_offset);
        return SESSION_FAILED;
    }
    return session_print_noun(session, output, product) ? SESSION_OK : SESSION_FAILED;
}

static enum session_result command_mug(struct session *session, const struct command_arguments *arguments,
                                       const struct session_output *output)
{
    noun value;
    if (!evaluate_rest(session, arguments, output, &value))
        return SESSION_FAILED;
    session_print(output, "0x%x", (unsigned)mug_noun(value));
    return SESSION_OK;
}

/* :time LINE: run any line (an expression, a binding, a command) and say
 * what it cost, whether it succeeded or not. */
static enum session_result command_time(struct session *session, const struct command_arguments *arguments,
                                        const struct session_output *output)
{
    struct nock_context *nock = session_nock(session);
    struct noun_region *region = nock_context_region(nock);
    struct noun_home *home = session_home(session);
    struct noun_dedup_stats dedup_before, dedup_after;
    noun_home_dedup_stats(home, &dedup_before);
    uint64_t steps_before = nock_context_counters(nock)->steps;
    uint64_t bytes_before = noun_region_bytes_allocated(region);
    uint64_t cpu_before = clock_cpu_nanoseconds();
    double started = clock_wall_seconds();

    enum session_result result;
    char first = arguments->line[arguments->rest_start];
    if (first == ':' || first == '=') {
        result = session_dispatch(session, arguments->line, arguments->rest_end, arguments->rest_start, output);
    } else {
        /* An expression: copying its value to home is part of what it
         * costs, and where dedup hits happen. */
        noun value, kept = NOUN_NONE;
        result = SESSION_FAILED;
        if (evaluate_rest(session, arguments, output, &value)) {
            kept = noun_home_copy_out(home, region, value);
            if (kept == NOUN_NONE)
                session_print_error(output, "error: out of memory: home is full");
            else if (session_print_noun(session, output, kept))
                result = SESSION_OK;
        }
    }

    double elapsed = clock_wall_seconds() - started;
    uint64_t cpu = clock_cpu_nanoseconds() - cpu_before;
    uint64_t steps = nock_context_counters(nock)->steps - steps_before;
    uint64_t bytes = noun_region_bytes_allocated(region) - bytes_before;
    noun_home_dedup_stats(home, &dedup_after);
    char duration[32], cpu_text[32];
    format_duration(elapsed, duration, sizeof duration);
    format_duration((double)cpu / 1e9, cpu_text, sizeof cpu_text);
    session_print(output, "time: %s (cpu %s), %llu steps, %llu bytes allocated, %llu dedup hits%s", duration,
                  cpu_text, (unsigned long long)steps, (unsigned long long)bytes,
                  (unsigned long long)(dedup_after.hits - dedup_before.hits),
                  result == SESSION_FAILED ? " (the line failed)" : "");
    return result;
}

/* What a file argument of :load is, for the message that refuses it. */
static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "not a regular file";
}

/* Open what :load reads: `-` is standard input; anything else must be a
 * regular file (a FIFO with no writer would block forever, /dev/zero
 * never ends).  The open doesn't block: O_NONBLOCK, cleared once it is
 * known to be a regular file. */
static int open_for_load(const char *path, const struct session_output *output)
{
    if (strcmp(path, "-") == 0)
        return STDIN_FILENO;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        session_print_error(output, "error: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        session_print_error(output, "error: %s is %s; :load reads regular files (or - for standard input)", path,
                            fstat(fd, &status) != 0 ? "unreadable" : file_kind(status.st_mode));
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

/* Wait until `fd` has something to read or the line is interrupted;
 * standard input may be a terminal or a pipe that stays silent. */
static bool wait_readable(struct session *session, int fd)
{
    struct pollfd wanted = { .fd = fd, .events = POLLIN };
    while (!session_interrupted(session)) {
        int ready = poll(&wanted, 1, 100);
        if (ready > 0 || (ready < 0 && errno != EINTR))
            return true;
    }
    return false;
}

/* The whole file in malloc'd memory, at most :set load-limit; NULL (after
 * saying why) on failure, on an interrupt, or past the limit. */
static uint8_t *read_file(struct session *session, const char *path, size_t *length,
                          const struct session_output *output)
{
    int fd = open_for_load(path, output);
    if (fd < 0)
        return NULL;
    uint64_t limit = commands_explore_load_limit_bytes();
    size_t capacity = 1 << 16, used = 0;
    uint8_t *bytes = malloc(capacity);
    const char *failure = bytes ? NULL : "out of memory";
    while (!failure) {
        if (session_interrupted(session) || (fd == STDIN_FILENO && !wait_readable(session, fd))) {
            failure = "interrupted";
            break;
        }
        if (used == capacity) {
            uint8_t *bigger = capacity <= SIZE_MAX / 2 ? realloc(bytes, capacity * 2) : NULL;
            if (!bigger) {
                failure = "out of memory";
                break;
            }
            bytes = bigger;
            capacity *= 2;
        }
        ssize_t got = read(fd, bytes + used, capacity - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            failure = strerror(errno);
            break;
        }
        if (got == 0)
            break;
        used += (size_t)got;
        if (used > limit)
            failure = "too big";
    }
    if (fd != STDIN_FILENO)
        close(fd);
    if (failure && strcmp(failure, "too big") == 0)
        session_print_error(output, "error: %s is bigger than the load limit of %llu MiB (:set load-limit N raises it)",
                            path, (unsigned long long)(limit >> 20));
    else if (failure)
        session_print_error(output, "error: cannot read %s: %s", path, failure);
    if (failure) {
        free(bytes);
        return NULL;
    }
    *length = used;
    return bytes;
}

/* Blank out `::` comments (to the end of their line) outside quotes, in
 * place, so error offsets still point into the file as written. */
static void blank_comments(char *text, size_t length)
{
    char quote = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text[i];
        if (quote) {
            if (c == '\\' && i + 1 < length)
                i++;
            else if (c == quote || c == '\n')
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == ':' && i + 1 < length && text[i + 1] == ':') {
            while (i < length && text[i] != '\n')
                text[i++] = ' ';
        }
    }
}

/* Whether noun text stops inside an atom or name: `123` cut from `12345`
 * parses, as another noun.  Text that ends with a blank, a ']' or a
 * closing quote ends where its writer ended it. */
static bool ends_mid_noun(const char *text, size_t length)
{
    if (length == 0)
        return false;
    char last = text[length - 1];
    return last != ' ' && last != '\t' && last != '\n' && last != '\r' && last != ']' && last != '\'' && last != '"';
}

static enum session_result command_load(struct session *session, const struct command_arguments *arguments,
                                        const struct session_output *output)
{
    if (!check_name(arguments, output))
        return SESSION_FAILED;
    char *path = copy_rest(arguments, output);
    if (!path)
        return SESSION_FAILED;
    double started = clock_wall_seconds();
    size_t length = 0;
    uint8_t *bytes = read_file(session, path, &length, output);
    if (!bytes) {
        free(path);
        return SESSION_FAILED;
    }

    struct noun_region *region = nock_context_region(session_nock(session));
    noun value;
    bool parsed;
    if (is_text_path(path)) {
        blank_comments((char *)bytes, length);
        struct text_error error = { 0 };
        parsed = text_parse(region, (const char *)bytes, length, NULL, NULL, &value, &error);
        if (!parsed)
            session_print_error(output, "error: %s: %s", path, error.message);
        else if ((parsed = !ends_mid_noun((const char *)bytes, length)) == false)
            session_print_error(output,
                                "error: %s ends mid-noun, with no blank after its last atom at byte %zu: it may have "
                                "been cut short (a whole file ends with a newline, as :save writes it)",
                                path, length);
    } else {
        struct jam_error error = { 0 };
        parsed = jam_cue_bytes(region, bytes, length, &value, &error);
        if (!parsed)
            session_print_error(output, "error: %s is not a jam file: %s (at bit %llu)", path, error.message,
                                (unsigned long long)error.bit_offset);
    }
    free(bytes);
    const char *name = arguments->line + arguments->word_start;
    size_t name_length = arguments->word_end - arguments->word_start;
    if (!parsed || !session_bind(session, name, name_length, value, output)) {
        free(path);
        return SESSION_FAILED;
    }
    free(path);

    noun kept = session_lookup(session, name, name_length);
    struct noun_census census;
    noun_census(kept, &census);
    uint32_t mug = mug_noun(kept);
    char duration[32];
    format_duration(clock_wall_seconds() - started, duration, sizeof duration);
    session_print(output, "%.*s: %zu bytes, %llu cells, %llu atoms, mug 0x%x, %s", (int)name_length, name, length,
                  (unsigned long long)census.cells, (unsigned long long)census.atoms, (unsigned)mug, duration);
    return SESSION_OK;
}

/* Replace the file at `path` whole (snapshots/atomic_file.h): on any
 * failure, what was there stays as it was. */
static bool write_file(const char *path, const char *bytes, size_t length, const struct session_output *output)
{
    char why[300];
    if (atomic_file_write(path, bytes, length, why, sizeof why))
        return true;
    session_print_error(output, "error: %s", why);
    return false;
}

static enum session_result command_save(struct session *session, const struct command_arguments *arguments,
                                        const struct session_output *output)
{
    if (!check_name(arguments, output))
        return SESSION_FAILED;
    const char *name = arguments->line + arguments->word_start;
    size_t name_length = arguments->word_end - arguments->word_start;
    noun value = session_lookup(session, name, name_length);
    if (value == NOUN_NONE) {
        session_print_error(output, "error: unknown name %.*s at column %zu", (int)name_length, name,
                            arguments->word_start + 1);
        return SESSION_FAILED;
    }
    char *path = copy_rest(arguments, output);
    if (!path)
        return SESSION_FAILED;

    bool ok;
    size_t length = 0;
    bool out_of_memory = false;
    if (is_text_path(path) && !tree_cells_at_most(value, COMMAND_SAVE_TEXT_MAX_CELLS, &out_of_memory)) {
        session_print_error(output, "error: %.*s %s; save it as jam (a path not ending in .noun or .nock)",
                            (int)name_length, name,
                            out_of_memory ? "is too big to check as text"
                                          : "has more than " COMMAND_SAVE_TEXT_MAX_TEXT " cells written out as text");
        ok = false;
    } else if (is_text_path(path)) {
        struct text_buffer buffer;
        text_buffer_init(&buffer);
        ok = text_print(&buffer, value, NULL) && text_buffer_append(&buffer, "\n", 1);
        if (ok) {
            length = buffer.length;
            ok = write_file(path, buffer.data, buffer.length, output);
        } else {
            session_print_error(output, "error: out of memory while printing %.*s", (int)name_length, name);
        }
        text_buffer_free(&buffer);
    } else {
        uint8_t *bytes = NULL;
        ok = jam_to_bytes(value, &bytes, &length);
        if (ok)
            ok = write_file(path, (const char *)bytes, length, output);
        else
            session_print_error(output, "error: out of memory while jamming %.*s", (int)name_length, name);
        free(bytes);
    }
    if (ok)
        session_print(output, "%.*s: %zu bytes written to %s", (int)name_length, name, length, path);
    free(path);
    return ok ? SESSION_OK : SESSION_FAILED;
}

static void print_binding(void *context, const char *name, noun value)
{
    const struct session_output *output = context;
    struct noun_census census;
    noun_census(value, &census);
    session_print(output, "%s: %llu cells, %llu atoms, mug 0x%x", name, (unsigned long long)census.cells,
                  (unsigned long long)census.atoms, (unsigned)mug_noun(value));
}

static enum session_result command_names(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    session_each_binding(session, print_binding, (void *)output);
    return SESSION_OK;
}

static enum session_result command_stats(struct session *session, const struct command_arguments *arguments,
                                         const struct session_output *output)
{
    struct noun_home *home = session_home(session);
    struct noun_dedup_stats dedup;
    noun_home_dedup_stats(home, &dedup);
    const struct nock_counters *counters = nock_context_counters(session_nock(session));
    session_print(output, "home: %zu bytes used, %zu after the last collection", noun_home_used(home),
                  noun_home_used_after_collect(home));
    struct noun_region *region = nock_context_region(session_nock(session));
    session_print(output, "scratch: high-water %zu bytes, %llu bytes allocated in all", noun_region_high_water(region),
                  (unsigned long long)noun_region_bytes_allocated(region));
    session_print(output, "dedup: %llu lookups, %llu hits, %llu bytes saved, %llu entries in %llu slots",
                  (unsigned long long)dedup.lookups, (unsigned long long)dedup.hits,
                  (unsigned long long)dedup.bytes_saved, (unsigned long long)dedup.entries,
                  (unsigned long long)dedup.capacity);
    session_print(output, "nock: %llu steps, %llu hints, %llu memo hits, %llu jet calls, %llu formulas compiled, "
                  "%llu scratch collections",
                  (unsigned long long)counters->steps, (unsigned long long)counters->hints,
                  (unsigned long long)counters->memo_hits, (unsigned long long)counters->jet_calls,
                  (unsigned long long)counters->compiled_formulas,
                  (unsigned long long)counters->scratch_collections);
    struct text_buffer by_opcode;
    text_buffer_init(&by_opcode);
    bool ok = text_buffer_printf(&by_opcode, "steps by opcode:");
    for (int op = 0; op <= 11 && ok; op++)
        if (counters->steps_by_opcode[op])
            ok = text_buffer_printf(&by_opcode, " %d=%llu", op, (unsigned long long)counters->steps_by_opcode[op]);
    if (ok && counters->steps_by_opcode[12])
        ok = text_buffer_printf(&by_opcode, " cons=%llu", (unsigned long long)counters->steps_by_opcode[12]);
    if (ok)
        session_print(output, "%s", by_opcode.data);
    text_buffer_free(&by_opcode);
    return SESSION_OK;
}

static enum session_result command_quit(struct session *session, const struct command_arguments *arguments,
                                        const struct session_output *output)
{
    return SESSION_QUIT;
}

/* ---- dispatch ----------------------------------------------------------- */

static size_t skip_blanks(const char *line, size_t position, size_t length)
{
    while (position < length && expression_is_space(line[position]))
        position++;
    return position;
}

static void print_usage_error(const struct command *command, const struct session_output *output)
{
    session_print_error(output, "error: usage: %s  (%s)", command->usage, command->summary);
}

enum session_result command_run(struct session *session, const char *line, size_t length, size_t start,
                                const struct session_output *output)
{
    size_t name_start = start + 1;
    size_t name_length = expression_name_length(line + name_start, length - name_start);
    if (name_length == 0) {
        session_print_error(output, "error: expected a command name after the ':' at column %zu (:help lists them)",
                            start + 1);
        return SESSION_FAILED;
    }
    const char *name = line + name_start;
    const struct command *command = command_find(name, name_length);
    if (!command) {
        const struct command *nearest = plausible_command(name, name_length);
        if (nearest)
            session_print_error(output, "error: unknown command :%.*s; did you mean :%s?", (int)(name_length > 64 ? 64 : name_length),
                                name, nearest->name);
        else
            session_print_error(output, "error: unknown command :%.*s (:help lists the commands)",
                                (int)(name_length > 64 ? 64 : name_length), name);
        return SESSION_FAILED;
    }

    struct command_arguments arguments = { .line = line, .length = length };
    size_t end = length;
    while (end > name_start + name_length && expression_is_space(line[end - 1]))
        end--;
    size_t after_name = skip_blanks(line, name_start + name_length, end);
    arguments.rest_start = after_name;
    arguments.rest_end = end;
    arguments.word_start = arguments.word_end = after_name;
    bool has_rest = after_name < end;
    switch (command->arity) {
    case COMMAND_TAKES_NOTHING:
        if (has_rest) {
            print_usage_error(command, output);
            return SESSION_FAILED;
        }
        break;
    case COMMAND_TAKES_OPTIONAL_REST:
        break;
    case COMMAND_TAKES_REST:
        if (!has_rest) {
            print_usage_error(command, output);
            return SESSION_FAILED;
        }
        break;
    case COMMAND_TAKES_WORD_AND_REST: {
        size_t word_end = after_name;
        while (word_end < end && !expression_is_space(line[word_end]))
            word_end++;
        arguments.word_end = word_end;
        arguments.rest_start = skip_blanks(line, word_end, end);
        if (word_end == after_name || arguments.rest_start == end) {
            print_usage_error(command, output);
            return SESSION_FAILED;
        }
        break;
    }
    }
    return command->handler(session, &arguments, output);
}
