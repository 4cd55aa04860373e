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
 *
 * A pma store keeps home.pma beside events.sqlite (snapshots/pma.c has
 * its format).  Opening the store maps it: the newest snapshot whose event
 * the log holds with the same mug, every page's checksum checked, becomes
 * the store's home (noun_home_adopt), and that snapshot's kernel and
 * pending nouns are kept as roots of it.  Loading "the snapshot" later is
 * then taking those nouns (nouns never change, so they are still the
 * snapshot's state, wherever a collection moved them); a save replaces
 * them.  The older of the file's two snapshots cannot be loaded while the
 * store is open, since home is mapped from the newer: :snap load says so.
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
#include "snapshots/pma.h"

static const char *const jam_file_names[SNAPSHOT_MAX_FILES] = { "snapshot-a.jam", "snapshot-b.jam" };
static const char pma_file_name[] = "home.pma";
#define MAX_HELD_NOTICES 4

/* The store's snapshots.  `known_newest` is the file (0 or 1) holding the
 * newest snapshot believed valid, -1 when neither is; `newest_claimed` the
 * highest event number a header claimed at open or a save wrote since. */
struct snapshot_store {
    struct evlog *log;
    enum snapshot_kind kind;
    int known_newest;
    uint64_t newest_claimed;

    /* pma: the home mapped from home.pma (it owns the PMA), the newest
     * snapshot's kernel and pending nouns (roots of that home; event 0:
     * none), and what opening it had to say, told at the first load. */
    struct pma *pma;
    struct noun_home *pma_home;
    noun pma_state, pma_pending;
    uint64_t pma_event;
    uint32_t pma_mug;
    uint64_t pma_open_ns;
    bool pma_roots_registered;
    char held_notices[MAX_HELD_NOTICES][400];
    int held_notice_count;
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

static void pma_path(const struct snapshot_store *store, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", evlog_directory(store->log), pma_file_name);
}

static bool open_pma(struct snapshot_store *store, struct snapshot_error *error);

static bool pma_file_there(const struct snapshot_store *store)
{
    char path[4200];
    struct stat status;
    pma_path(store, path, sizeof path);
    return stat(path, &status) == 0;
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
    if (kept == SNAPSHOT_NONE && pma_file_there(store))
        kept = SNAPSHOT_PMA;
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
    if (kept == SNAPSHOT_PMA) {
        store->known_newest = -1;
        if (!open_pma(store, error)) {
            free(store);
            return NULL;
        }
        return store;
    }
    store->known_newest = newest_by_header(store, &store->newest_claimed);
    return store;
}

void snapshot_store_close(struct snapshot_store *store)
{
    if (!store)
        return;
    if (store->pma_home) {
        if (store->pma_roots_registered) {
            noun_home_root_remove(store->pma_home, &store->pma_state);
            noun_home_root_remove(store->pma_home, &store->pma_pending);
        }
        noun_home_free(store->pma_home); /* closes the PMA */
    }
    free(store);
}

struct noun_home *snapshot_store_home(struct snapshot_store *store) { return store->pma_home; }

void snapshot_store_counters(const struct snapshot_store *store, uint64_t *dirty_pages, uint64_t *write_faults)
{
    *dirty_pages = 0;
    *write_faults = 0;
    if (!store->pma)
        return;
    *dirty_pages = pma_dirty_pages(store->pma, noun_home_used(store->pma_home));
    *write_faults = pma_write_faults(store->pma);
}

enum snapshot_kind snapshot_store_kind(const struct snapshot_store *store) { return store->kind; }

uint64_t snapshot_store_newest_claimed(const struct snapshot_store *store) { return store->newest_claimed; }

uint64_t snapshot_store_file_bytes(const struct snapshot_store *store)
{
    if (store->kind == SNAPSHOT_PMA) {
        char path[4200];
        struct stat status;
        pma_path(store, path, sizeof path);
        return stat(path, &status) == 0 ? (uint64_t)status.st_size : 0;
    }
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

/* ---- the PMA ------------------------------------------------------------------------ */

static void hold_notice(void *context, const char *text)
{
    struct snapshot_store *store = context;
    if (store->held_notice_count >= MAX_HELD_NOTICES)
        return;
    char *held = store->held_notices[store->held_notice_count++];
    size_t length = strnlen(text, sizeof store->held_notices[0] - 1);
    memcpy(held, text, length);
    held[length] = '\0';
}

static void tell_held_notices(struct snapshot_store *store, snapshot_notice *notice, void *context)
{
    for (int i = 0; i < store->held_notice_count; i++)
        tell(notice, context, "%s", store->held_notices[i]);
    store->held_notice_count = 0;
}

/* Map home.pma: the newest snapshot the log agrees with (its event logged
 * with its mug), or none; then make the home over it. */
static bool open_pma(struct snapshot_store *store, struct snapshot_error *error)
{
    char path[4200];
    pma_path(store, path, sizeof path);
    uint64_t started = clock_wall_nanoseconds();
    struct pma_options options = { .create = true, .verify_pages = true, .limit_event = true,
                                   .at_most_event = evlog_last_event(store->log) };
    struct pma_roots roots = { 0 };
    bool loaded = false;
    struct pma *pma = NULL;
    for (int attempt = 0; attempt < 3 && !loaded; attempt++) {
        struct pma_error pma_error;
        pma = pma_open(path, &options, hold_notice, store, &pma_error);
        if (!pma) {
            set_error(error, "%s", pma_error.message);
            return false;
        }
        if (!pma_loaded(pma, &roots))
            break;
        uint32_t log_mug = 0;
        char why[320];
        if (roots.event_number == 0 || !logged_mug(store->log, roots.event_number, &log_mug, why, sizeof why)) {
            if (roots.event_number == 0)
                snprintf(why, sizeof why, "it claims event 0");
        } else if (log_mug == roots.mug) {
            loaded = true;
            break;
        } else {
            snprintf(why, sizeof why, "it says the kernel after event %llu has mug 0x%x, the log says 0x%x (a "
                     "snapshot of another store?)", (unsigned long long)roots.event_number, (unsigned)roots.mug,
                     (unsigned)log_mug);
        }
        char line[700];
        snprintf(line, sizeof line, "snapshot %.200s (event %llu) skipped: %.320s", path,
                 (unsigned long long)roots.event_number, why);
        hold_notice(store, line);
        pma_close(pma);
        pma = NULL;
        if (roots.event_number == 0)
            break;
        options.at_most_event = roots.event_number - 1;
    }
    if (!pma) {
        /* Every snapshot was refused: open with none loaded. */
        struct pma_error pma_error;
        options.exactly_event = UINT64_MAX;
        pma = pma_open(path, &options, NULL, NULL, &pma_error);
        if (!pma) {
            set_error(error, "%s", pma_error.message);
            return false;
        }
    }
    store->pma = pma;
    store->pma_home = loaded ? noun_home_adopt(pma_arena(pma), roots.used_bytes) : noun_home_new(pma_arena(pma));
    if (!store->pma_home) {
        set_error(error, "out of memory making the home in %s", path);
        store->pma = NULL;
        return false;
    }
    store->pma_state = loaded ? roots.kernel : 0;
    store->pma_pending = loaded ? roots.pending : 0;
    store->pma_event = loaded ? roots.event_number : 0;
    store->pma_mug = loaded ? roots.mug : 0;
    store->newest_claimed = store->pma_event;
    store->pma_open_ns = clock_wall_nanoseconds() - started;
    store->pma_roots_registered = noun_home_root_add(store->pma_home, &store->pma_state) &&
                                  noun_home_root_add(store->pma_home, &store->pma_pending);
    if (!store->pma_roots_registered) {
        noun_home_root_remove(store->pma_home, &store->pma_state);
        noun_home_free(store->pma_home);
        store->pma_home = NULL;
        store->pma = NULL;
        set_error(error, "out of memory making the home in %s", path);
        return false;
    }
    return true;
}

static bool save_pma(struct snapshot_store *store, struct kernel *kernel, noun pending,
                     struct snapshot_save_report *report, struct snapshot_error *error)
{
    struct noun_home *home = store->pma_home;
    if (kernel_home(kernel) != home) {
        set_error(error, "snapshot not saved: the kernel does not live in the store's PMA");
        return false;
    }
    uint64_t started = clock_wall_nanoseconds();
    noun kept = noun_home_copy_out(home, kernel_region(kernel), pending);
    if (kept == NOUN_NONE) {
        set_error(error, "snapshot not saved: out of memory: home is full");
        return false;
    }
    if (!noun_is_direct(kept) && !noun_home_holds(home, kept)) {
        set_error(error, "snapshot not saved: the pending spawns are not in the store's PMA");
        return false;
    }
    struct pma_roots roots = {
        .kernel = kernel_state(kernel),
        .pending = kept,
        .event_number = kernel_event_number(kernel),
        .mug = kernel_mug(kernel),
    };
    roots.used_bytes = noun_home_used(home); /* after the mug, which may write */
    uint64_t prepared = clock_wall_nanoseconds();
    struct pma_snapshot_report written;
    struct pma_error pma_error;
    if (!pma_snapshot(store->pma, &roots, &written, &pma_error)) {
        set_error(error, "%s", pma_error.message);
        return false;
    }
    store->pma_state = roots.kernel;
    store->pma_pending = roots.pending;
    store->pma_event = roots.event_number;
    store->pma_mug = roots.mug;
    if (roots.event_number > store->newest_claimed)
        store->newest_claimed = roots.event_number;
    report->kind = SNAPSHOT_PMA;
    report->event_number = roots.event_number;
    report->mug = roots.mug;
    snprintf(report->file, sizeof report->file, "%s slot %c", pma_file_name, 'A' + written.slot);
    report->bytes = written.bytes_written;
    report->pages_written = written.pages_written;
    report->serialize_ns = prepared - started;
    report->write_ns = written.write_ns;
    report->directory_ns = written.directory_ns;
    report->fsync_ns = written.fsync_ns;
    report->total_ns = clock_wall_nanoseconds() - started;
    return true;
}

static enum snapshot_load_result load_pma(struct snapshot_store *store, struct kernel *kernel,
                                          const struct snapshot_choice *choice, noun *pending,
                                          struct snapshot_load_report *report, struct snapshot_error *error)
{
    const char *directory = evlog_directory(store->log);
    if (store->pma_event == 0) {
        set_error(error, "no valid snapshot in %s", directory);
        return SNAPSHOT_NOT_FOUND;
    }
    if ((choice->exactly && choice->exactly != store->pma_event) || store->pma_event > choice->at_most) {
        uint64_t wanted = choice->exactly ? choice->exactly : choice->at_most;
        char path[4200];
        pma_path(store, path, sizeof path);
        struct pma_slot_info slots[2];
        uint64_t file_bytes;
        struct pma_error pma_error;
        bool older = false;
        if (pma_inspect(path, false, slots, &file_bytes, &pma_error))
            for (int i = 0; i < 2; i++)
                older = older || (slots[i].valid && slots[i].event_number != store->pma_event &&
                                  (choice->exactly ? slots[i].event_number == wanted
                                                   : slots[i].event_number <= wanted));
        if (older)
            set_error(error, "the PMA in %s keeps its newest snapshot (event %llu) mapped as home; its older one "
                      "cannot be loaded while the store is open (a PMA keeps only these two)", directory,
                      (unsigned long long)store->pma_event);
        else if (choice->exactly)
            set_error(error, "no snapshot of event %llu in %s: a PMA keeps only its newest two, and the newest is "
                      "of event %llu", (unsigned long long)choice->exactly, directory,
                      (unsigned long long)store->pma_event);
        else
            set_error(error, "no valid snapshot at or before event %llu in %s (the PMA's newest is of event %llu)",
                      (unsigned long long)choice->at_most, directory, (unsigned long long)store->pma_event);
        return SNAPSHOT_NOT_FOUND;
    }
    if (kernel_home(kernel) != store->pma_home) {
        set_error(error, "cannot load the PMA snapshot into a kernel that does not live in the store's PMA");
        return SNAPSHOT_LOAD_FAILED;
    }
    noun old_state = kernel_state(kernel);
    uint64_t old_number = kernel_event_number(kernel);
    if (!kernel_set_state(kernel, store->pma_state, store->pma_event)) {
        set_error(error, "out of memory loading the PMA snapshot");
        return SNAPSHOT_LOAD_FAILED;
    }
    if (kernel_mug(kernel) != store->pma_mug) {
        set_error(error, "the PMA snapshot's kernel has mug 0x%x, but its metadata says 0x%x",
                  (unsigned)kernel_mug(kernel), (unsigned)store->pma_mug);
        kernel_set_state(kernel, old_state, old_number);
        return SNAPSHOT_LOAD_FAILED;
    }
    *pending = store->pma_pending;
    report->event_number = store->pma_event;
    report->mug = store->pma_mug;
    snprintf(report->file, sizeof report->file, "%s", pma_file_name);
    report->bytes = noun_home_used(store->pma_home);
    report->read_ns = store->pma_open_ns;
    store->pma_open_ns = 0; /* mapped once: later loads cost nothing */
    return SNAPSHOT_LOADED;
}

static bool describe_pma(struct snapshot_store *store, struct snapshot_description *description,
                         struct snapshot_error *error)
{
    char path[4200];
    pma_path(store, path, sizeof path);
    struct pma_slot_info slots[2];
    uint64_t file_bytes = 0;
    struct pma_error pma_error;
    bool present = pma_inspect(path, false, slots, &file_bytes, &pma_error);
    description->file_count = 2;
    for (int i = 0; i < 2; i++) {
        struct snapshot_file_info *info = &description->files[i];
        snprintf(info->name, sizeof info->name, "%s slot %c", pma_file_name, 'A' + i);
        if (!present)
            continue;
        info->present = true;
        info->bytes = file_bytes;
        info->valid = slots[i].valid;
        info->event_number = slots[i].event_number;
        info->mug = slots[i].mug;
        if (!slots[i].valid) {
            snprintf(info->problem, sizeof info->problem, "%s", slots[i].problem);
            continue;
        }
        uint32_t log_mug;
        char why[320];
        if (!logged_mug(store->log, slots[i].event_number, &log_mug, why, sizeof why) || log_mug != slots[i].mug) {
            info->valid = false;
            if (log_mug != slots[i].mug && !why[0])
                snprintf(why, sizeof why, "the log says the kernel after event %llu has mug 0x%x",
                         (unsigned long long)slots[i].event_number, (unsigned)log_mug);
            snprintf(info->problem, sizeof info->problem, "%s", why);
        }
    }
    if (store->pma) {
        description->has_pma = true;
        pma_stats(store->pma, &description->pma);
        description->pma_loaded_event = store->pma_event;
    }
    return true;
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
    if (store->kind == SNAPSHOT_PMA)
        return save_pma(store, kernel, pending, report, error);
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
        tell_held_notices(store, notice, notice_context);
        return load_pma(store, kernel, choice, pending, report, error);
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
    if (store->kind == SNAPSHOT_PMA)
        return describe_pma(store, description, error);
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
