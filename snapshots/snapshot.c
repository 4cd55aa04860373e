/* snapshot.c -- a store's snapshots: its kind, the two jam files, which one
 * to write next and which to load.
 *
 * On disk, beside events.sqlite:
 *
 *   snapshot-a.jam, snapshot-b.jam   jam snapshot files (jamfile.c has the
 *                                    format), written alternately
 *   snapshot-?.jam.tmp               a write in progress or cut short;
 *                                    never read
 *
 * and in events.sqlite (docs/formats.md):
 *
 *   CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)
 *     row ('snapshot_kind', 'jam' | 'pma')
 *
 * A store whose settings row is missing but which has snapshot files
 * (the row is written in whatever transaction the log has open, which a
 * crash may roll back) is taken to be of the kind of its files.
 *
 * Which file to write.  Never the one holding the newest snapshot known
 * to be valid: a save goes to the other file, so that while it is being
 * written (and if it fails) the newest snapshot is still whole on disk.
 * "Known" comes from the last load (which checked files whole) or save;
 * before either, from the headers alone (newest event number wins).  A
 * save never reads the old files back.
 *
 * The payload of a jam snapshot is jam([kernel pending]).
 */
#include "snapshots/snapshot.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "interp/clock.h"
#include "interp/jam.h"
#include "snapshots/jamfile.h"

static const char *const jam_file_names[SNAPSHOT_MAX_FILES] = { "snapshot-a.jam", "snapshot-b.jam" };

/* The store's snapshots.  `known_newest` is the file (0 or 1) holding the
 * newest snapshot believed valid, -1 when neither is; `newest_claimed` the
 * highest event number a header claimed at open or a save wrote since. */
struct snapshot_store {
    struct evlog *log;
    enum snapshot_kind kind;
    int known_newest;
    uint64_t newest_claimed;
};

static void set_error(struct snapshot_error *error, const char *format, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct snapshot_error *error, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error->message, sizeof error->message, format, arguments);
    va_end(arguments);
}

static void tell(snapshot_notice *notice, void *context, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void tell(snapshot_notice *notice, void *context, const char *format, ...)
{
    if (!notice)
        return;
    char text[600];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(text, sizeof text, format, arguments);
    va_end(arguments);
    notice(context, text);
}

const char *snapshot_kind_name(enum snapshot_kind kind)
{
    switch (kind) {
    case SNAPSHOT_JAM:
        return "jam";
    case SNAPSHOT_PMA:
        return "pma";
    case SNAPSHOT_NONE:
        break;
    }
    return "none";
}

bool snapshot_kind_parse(const char *text, enum snapshot_kind *kind)
{
    if (strcmp(text, "jam") == 0)
        *kind = SNAPSHOT_JAM;
    else if (strcmp(text, "pma") == 0)
        *kind = SNAPSHOT_PMA;
    else
        return false;
    return true;
}

static void file_path(const struct snapshot_store *store, int file, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", evlog_directory(store->log), jam_file_names[file]);
}

/* ---- the remembered kind ------------------------------------------------------ */

static bool settings_table(sqlite3 *database, struct snapshot_error *error)
{
    char *message = NULL;
    if (sqlite3_exec(database, "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                     NULL, NULL, &message) == SQLITE_OK)
        return true;
    set_error(error, "cannot make the settings table: %s", message ? message : sqlite3_errmsg(database));
    sqlite3_free(message);
    return false;
}

static bool read_kind(struct evlog *log, enum snapshot_kind *kind, struct snapshot_error *error)
{
    sqlite3 *database = evlog_database(log);
    *kind = SNAPSHOT_NONE;
    if (!settings_table(database, error))
        return false;
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(database, "SELECT value FROM settings WHERE name = 'snapshot_kind'", -1, &statement,
                           NULL) != SQLITE_OK) {
        set_error(error, "store %s: %s", evlog_directory(log), sqlite3_errmsg(database));
        return false;
    }
    bool ok = true;
    if (sqlite3_step(statement) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(statement, 0);
        if (!text || !snapshot_kind_parse(text, kind)) {
            set_error(error, "store %s: its settings name an unknown snapshot kind '%s'", evlog_directory(log),
                      text ? text : "");
            ok = false;
        }
    }
    sqlite3_finalize(statement);
    return ok;
}

static bool write_kind(struct evlog *log, enum snapshot_kind kind, struct snapshot_error *error)
{
    sqlite3 *database = evlog_database(log);
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2(database, "INSERT OR REPLACE INTO settings VALUES ('snapshot_kind', ?)", -1, &statement,
                           NULL) != SQLITE_OK) {
        set_error(error, "store %s: %s", evlog_directory(log), sqlite3_errmsg(database));
        return false;
    }
    sqlite3_bind_text(statement, 1, snapshot_kind_name(kind), -1, SQLITE_STATIC);
    bool ok = sqlite3_step(statement) == SQLITE_DONE;
    if (!ok)
        set_error(error, "store %s: cannot remember its snapshot kind: %s", evlog_directory(log),
                  sqlite3_errmsg(database));
    sqlite3_finalize(statement);
    return ok;
}

static bool any_jam_file(const struct snapshot_store *store)
{
    for (int file = 0; file < SNAPSHOT_MAX_FILES; file++) {
        char path[4200];
        struct stat status;
        file_path(store, file, path, sizeof path);
        if (stat(path, &status) == 0)
            return true;
    }
    return false;
}

/* What a file's header claims, as far as it checks out without reading the
 * payload. */
struct peeked {
    bool usable;
    uint64_t event_number;
    char path[4200];
    char why[320]; /* when not usable: "not there" for a missing file */
};

static void peek_files(const struct snapshot_store *store, struct peeked peeked[SNAPSHOT_MAX_FILES])
{
    for (int file = 0; file < SNAPSHOT_MAX_FILES; file++) {
        struct jamfile_header header;
        uint64_t bytes;
        file_path(store, file, peeked[file].path, sizeof peeked[file].path);
        peeked[file].usable = jamfile_peek(peeked[file].path, &header, &bytes, peeked[file].why, sizeof peeked[file].why);
        peeked[file].event_number = peeked[file].usable ? header.event_number : 0;
    }
}

/* The file whose header claims the newest event, -1 if neither header
 * checks out; that event in *event (0 if none). */
static int newest_by_header(const struct snapshot_store *store, uint64_t *event)
{
    struct peeked peeked[SNAPSHOT_MAX_FILES];
    peek_files(store, peeked);
    int newest = -1;
    *event = 0;
    for (int file = 0; file < SNAPSHOT_MAX_FILES; file++) {
        if (peeked[file].usable && (newest < 0 || peeked[file].event_number > *event)) {
            newest = file;
            *event = peeked[file].event_number;
        }
    }
    return newest;
}

struct snapshot_store *snapshot_store_open(struct evlog *log, enum snapshot_kind wanted, struct snapshot_error *error)
{
    struct snapshot_store *store = calloc(1, sizeof *store);
    if (!store) {
        set_error(error, "out of memory");
        return NULL;
    }
    store->log = log;
    const char *directory = evlog_directory(log);
    enum snapshot_kind kept;
    if (!read_kind(log, &kept, error)) {
        free(store);
        return NULL;
    }
    if (kept == SNAPSHOT_NONE && any_jam_file(store))
        kept = SNAPSHOT_JAM;
    if (wanted == SNAPSHOT_PMA && kept != SNAPSHOT_JAM) {
        set_error(error, "store %s: pma snapshots are not available in this nocklab yet; use --snapshot jam",
                  directory);
        free(store);
        return NULL;
    }
    if (kept != SNAPSHOT_NONE && wanted != SNAPSHOT_NONE && wanted != kept) {
        set_error(error, "store %s keeps %s snapshots and cannot take %s ones (use --snapshot %s, or leave it out)",
                  directory, snapshot_kind_name(kept), snapshot_kind_name(wanted), snapshot_kind_name(kept));
        free(store);
        return NULL;
    }
    if (kept == SNAPSHOT_NONE && wanted != SNAPSHOT_NONE) {
        if (!write_kind(log, wanted, error)) {
            free(store);
            return NULL;
        }
        kept = wanted;
    }
    store->kind = kept;
    store->known_newest = newest_by_header(store, &store->newest_claimed);
    return store;
}

void snapshot_store_close(struct snapshot_store *store) { free(store); }

enum snapshot_kind snapshot_store_kind(const struct snapshot_store *store) { return store->kind; }

uint64_t snapshot_store_newest_claimed(const struct snapshot_store *store) { return store->newest_claimed; }

uint64_t snapshot_store_file_bytes(const struct snapshot_store *store)
{
    uint64_t total = 0;
    for (int file = 0; file < SNAPSHOT_MAX_FILES; file++) {
        char path[4200];
        struct stat status;
        file_path(store, file, path, sizeof path);
        if (stat(path, &status) == 0)
            total += (uint64_t)status.st_size;
    }
    return total;
}

/* ---- the log's word on an event ------------------------------------------------ */

/* The mug the log recorded after event `number`. */
static bool logged_mug(struct evlog *log, uint64_t number, uint32_t *mug, char *why, size_t why_size)
{
    struct evlog_error log_error = { 0 };
    if (number == 0) {
        char *name;
        uint8_t *jam;
        size_t length;
        if (!evlog_read_boot(log, &name, &jam, &length, mug, &log_error)) {
            snprintf(why, why_size, "%s", log_error.message);
            return false;
        }
        free(name);
        free(jam);
        return true;
    }
    if (number > evlog_last_event(log)) {
        snprintf(why, why_size, "it is of event %llu, but the log ends at event %llu", (unsigned long long)number,
                 (unsigned long long)evlog_last_event(log));
        return false;
    }
    struct evlog_cursor *cursor = evlog_cursor_open(log, number, number, &log_error);
    if (!cursor) {
        snprintf(why, why_size, "%s", log_error.message);
        return false;
    }
    struct evlog_record record;
    enum evlog_step step = evlog_cursor_next(cursor, &record, &log_error);
    if (step == EVLOG_ROW)
        *mug = record.mug;
    else
        snprintf(why, why_size, "%s", step == EVLOG_BAD ? log_error.message : "the log has no such event");
    evlog_cursor_close(cursor);
    return step == EVLOG_ROW;
}

/* Read file `file` whole and check it, and that the log agrees with it.
 * On success *bytes (malloc'd) holds the file and *payload points into it. */
static bool read_checked(struct snapshot_store *store, int file, uint8_t **bytes, size_t *length,
                         struct jamfile_header *header, const uint8_t **payload, char *why, size_t why_size)
{
    char path[4200];
    file_path(store, file, path, sizeof path);
    if (!jamfile_read(path, bytes, length, why, why_size))
        return false;
    uint32_t log_mug;
    bool ok = jamfile_check(*bytes, *length, header, payload, why, why_size) &&
              logged_mug(store->log, header->event_number, &log_mug, why, why_size);
    if (ok && log_mug != header->mug) {
        snprintf(why, why_size, "it says the kernel after event %llu has mug 0x%x, the log says 0x%x (a snapshot of "
                 "another store?)", (unsigned long long)header->event_number, (unsigned)header->mug, (unsigned)log_mug);
        ok = false;
    }
    if (!ok) {
        free(*bytes);
        *bytes = NULL;
    }
    return ok;
}

/* ---- saving ------------------------------------------------------------------------ */

struct pair_parts {
    noun head, tail;
};

static noun build_pair(void *context, struct noun_region *region)
{
    struct pair_parts *parts = context;
    return noun_cell_new(region, parts->head, parts->tail);
}

bool snapshot_save(struct snapshot_store *store, struct kernel *kernel, noun pending,
                   struct snapshot_save_report *report, struct snapshot_error *error)
{
    memset(report, 0, sizeof *report);
    const char *directory = evlog_directory(store->log);
    uint64_t event_number = kernel_event_number(kernel);
    if (event_number == 0) {
        set_error(error, "the kernel is at event 0, which the store's boot kernel already is: nothing to snapshot");
        return false;
    }
    if (event_number > evlog_last_event(store->log)) {
        set_error(error, "the kernel is at event %llu, ahead of the log (event %llu): commit first",
                  (unsigned long long)event_number, (unsigned long long)evlog_last_event(store->log));
        return false;
    }
    if (store->kind == SNAPSHOT_NONE) {
        if (!write_kind(store->log, SNAPSHOT_JAM, error))
            return false;
        store->kind = SNAPSHOT_JAM;
    }
    uint64_t started = clock_wall_nanoseconds();
    struct pair_parts parts = { kernel_state(kernel), pending };
    noun payload_noun;
    uint8_t *payload = NULL;
    size_t payload_length = 0;
    if (!kernel_build_event(kernel, build_pair, &parts, &payload_noun) ||
        !jam_to_bytes(payload_noun, &payload, &payload_length)) {
        set_error(error, "out of memory while jamming the kernel for a snapshot");
        return false;
    }
    uint64_t jammed = clock_wall_nanoseconds();
    int file = store->known_newest == 0 ? 1 : 0;
    struct jamfile_header header = { .event_number = event_number, .mug = kernel_mug(kernel) };
    struct jamfile_timing timing;
    char why[sizeof error->message - 40];
    bool ok = jamfile_write(directory, jam_file_names[file], &header, payload, payload_length, &timing, why,
                            sizeof why);
    free(payload);
    if (!ok) {
        set_error(error, "snapshot not saved: %s", why);
        return false;
    }
    store->known_newest = file;
    if (event_number > store->newest_claimed)
        store->newest_claimed = event_number;
    report->kind = SNAPSHOT_JAM;
    report->event_number = event_number;
    report->mug = header.mug;
    snprintf(report->file, sizeof report->file, "%s", jam_file_names[file]);
    report->bytes = JAMFILE_HEADER_BYTES + payload_length;
    report->serialize_ns = jammed - started;
    report->write_ns = timing.write_ns;
    report->fsync_ns = timing.fsync_ns;
    report->total_ns = clock_wall_nanoseconds() - started;
    return true;
}

/* ---- loading ------------------------------------------------------------------------ */

/* Cue the checked payload into the kernel: state, event number, pending.
 * Leaves the kernel as it was when anything fails. */
static bool install(struct kernel *kernel, const struct jamfile_header *header, const uint8_t *payload,
                    noun *pending, char *why, size_t why_size)
{
    noun cued;
    char cue_why[200];
    if (!kernel_cue_event(kernel, payload, header->payload_length, &cued, cue_why, sizeof cue_why)) {
        snprintf(why, why_size, "its payload does not cue: %s", cue_why);
        return false;
    }
    if (!noun_is_cell(cued)) {
        snprintf(why, why_size, "its payload is an atom, not [kernel pending]");
        return false;
    }
    struct noun_home *home = kernel_home(kernel);
    noun kept = noun_home_copy_out(home, kernel_region(kernel), cued);
    if (kept == NOUN_NONE) {
        snprintf(why, why_size, "out of memory: home is full");
        return false;
    }
    noun old_state = kernel_state(kernel);
    uint64_t old_number = kernel_event_number(kernel);
    kernel_set_state(kernel, noun_head(kept), header->event_number);
    if (kernel_mug(kernel) != header->mug) {
        snprintf(why, why_size, "its kernel's mug is 0x%x, but its header says 0x%x", (unsigned)kernel_mug(kernel),
                 (unsigned)header->mug);
        kernel_set_state(kernel, old_state, old_number);
        return false;
    }
    *pending = noun_tail(kept);
    return true;
}

enum snapshot_load_result snapshot_load(struct snapshot_store *store, struct kernel *kernel,
                                        const struct snapshot_choice *choice, noun *pending,
                                        struct snapshot_load_report *report, snapshot_notice *notice,
                                        void *notice_context, struct snapshot_error *error)
{
    memset(report, 0, sizeof *report);
    *pending = 0;
    if (store->kind == SNAPSHOT_PMA) {
        set_error(error, "pma snapshots are not available in this nocklab yet");
        return SNAPSHOT_LOAD_FAILED;
    }
    /* Order the files newest first by what their headers claim; a file
     * whose header fails is noticed now and not tried. */
    struct peeked peeked[SNAPSHOT_MAX_FILES];
    peek_files(store, peeked);
    int order[SNAPSHOT_MAX_FILES];
    uint64_t claimed[SNAPSHOT_MAX_FILES];
    int count = 0;
    for (int file = 0; file < SNAPSHOT_MAX_FILES; file++) {
        if (!peeked[file].usable) {
            if (strcmp(peeked[file].why, "not there") != 0)
                tell(notice, notice_context, "snapshot %s skipped: %s", peeked[file].path, peeked[file].why);
            continue;
        }
        int at = count++;
        while (at > 0 && claimed[at - 1] < peeked[file].event_number) {
            order[at] = order[at - 1];
            claimed[at] = claimed[at - 1];
            at--;
        }
        order[at] = file;
        claimed[at] = peeked[file].event_number;
    }
    store->known_newest = -1;
    for (int i = 0; i < count; i++) {
        int file = order[i];
        if ((choice->exactly && claimed[i] != choice->exactly) || claimed[i] > choice->at_most)
            continue;
        char path[4200], why[320];
        file_path(store, file, path, sizeof path);
        uint64_t started = clock_wall_nanoseconds();
        uint8_t *bytes;
        size_t length;
        struct jamfile_header header;
        const uint8_t *payload;
        if (!read_checked(store, file, &bytes, &length, &header, &payload, why, sizeof why)) {
            tell(notice, notice_context, "snapshot %s skipped: %s", path, why);
            continue;
        }
        uint64_t read = clock_wall_nanoseconds();
        bool installed = install(kernel, &header, payload, pending, why, sizeof why);
        free(bytes);
        if (!installed) {
            if (strncmp(why, "out of memory", 13) == 0) {
                set_error(error, "cannot load snapshot %s: %s", path, why);
                return SNAPSHOT_LOAD_FAILED;
            }
            tell(notice, notice_context, "snapshot %s skipped: %s", path, why);
            continue;
        }
        /* The next save goes to the other file, whatever became of it. */
        store->known_newest = file;
        report->event_number = header.event_number;
        report->mug = header.mug;
        snprintf(report->file, sizeof report->file, "%s", jam_file_names[file]);
        report->bytes = length;
        report->read_ns = read - started;
        report->cue_ns = clock_wall_nanoseconds() - read;
        return SNAPSHOT_LOADED;
    }
    if (choice->exactly)
        set_error(error, "no valid snapshot of event %llu in %s", (unsigned long long)choice->exactly,
                  evlog_directory(store->log));
    else
        set_error(error, "no valid snapshot in %s", evlog_directory(store->log));
    return SNAPSHOT_NOT_FOUND;
}

/* ---- describing ---------------------------------------------------------------------- */

bool snapshot_describe(struct snapshot_store *store, struct snapshot_description *description,
                       struct snapshot_error *error)
{
    memset(description, 0, sizeof *description);
    description->kind = store->kind;
    description->file_count = SNAPSHOT_MAX_FILES;
    for (int file = 0; file < SNAPSHOT_MAX_FILES; file++) {
        struct snapshot_file_info *info = &description->files[file];
        snprintf(info->name, sizeof info->name, "%s", jam_file_names[file]);
        char path[4200];
        struct stat status;
        file_path(store, file, path, sizeof path);
        if (stat(path, &status) != 0)
            continue;
        info->present = true;
        info->bytes = (uint64_t)status.st_size;
        uint8_t *bytes;
        size_t length;
        struct jamfile_header header;
        const uint8_t *payload;
        if (read_checked(store, file, &bytes, &length, &header, &payload, info->problem, sizeof info->problem)) {
            info->valid = true;
            info->event_number = header.event_number;
            info->mug = header.mug;
            free(bytes);
        }
    }
    return true;
}
