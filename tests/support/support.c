/* support.c -- helpers shared by the unit tests (see support.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "interp/nock.h"
#include "interp/text.h"
#include "tests/support/support.h"

const char *support_shared_path(const char *name, char *buffer, size_t size)
{
    const char *shared = getenv("SHARED");
    snprintf(buffer, size, "%s/%s", shared && *shared ? shared : "../shared", name);
    return buffer;
}

char *support_read_file(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        fail_msg("cannot open %s", path);
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *bytes = malloc((size_t)size + 1);
    if (!bytes || fread(bytes, 1, (size_t)size, file) != (size_t)size)
        fail_msg("cannot read %s", path);
    bytes[size] = 0;
    fclose(file);
    if (length)
        *length = (size_t)size;
    return bytes;
}

noun support_parse(struct noun_region *region, const char *text)
{
    noun n;
    struct text_error error;
    if (!text_parse(region, text, strlen(text), NULL, NULL, &n, &error))
        fail_msg("cannot parse %s: %s", text, error.message);
    return n;
}

noun support_parse_home(struct noun_home *home, struct noun_region *region, const char *text)
{
    noun kept = noun_home_copy_out(home, region, support_parse(region, text));
    if (kept == NOUN_NONE)
        fail_msg("home is full copying %s", text);
    return kept;
}

int support_home_open(struct noun_home **home, struct noun_region **region, size_t home_bytes)
{
    *home = noun_home_new(noun_arena_memory(home_bytes));
    *region = noun_region_new((size_t)1 << 30);
    return *home && *region ? 0 : -1;
}

int support_home_close(struct noun_home **home, struct noun_region **region)
{
    noun_region_free(*region);
    noun_home_free(*home);
    *region = NULL;
    *home = NULL;
    return 0;
}

FILE *support_open_vectors(const char *name)
{
    char path[1024], relative[256];
    snprintf(relative, sizeof relative, "vectors/%s", name);
    FILE *file = fopen(support_shared_path(relative, path, sizeof path), "r");
    if (!file)
        fail_msg("cannot open %s (set SHARED to the shared folder)", path);
    return file;
}

bool support_next_vector(FILE *file, char *line, size_t size, char **fields, int count)
{
    while (fgets(line, (int)size, file)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *cursor = line;
        for (int i = 0; i < count; i++) {
            fields[i] = cursor;
            char *tab = cursor ? strchr(cursor, '\t') : NULL;
            if (!cursor)
                fail_msg("vector row has fewer than %d fields", count);
            if (tab)
                *tab = 0;
            cursor = tab ? tab + 1 : NULL;
        }
        return true;
    }
    return false;
}

static void region_exhausted(void *context)
{
    (void)context;
    fail_msg("scratch region exhausted");
    abort();
}

int support_region_open(struct noun_region **region)
{
    *region = noun_region_new((size_t)8 << 30);
    if (!*region)
        return -1;
    (*region)->out_of_memory = region_exhausted;
    return 0;
}

int support_region_close(struct noun_region **region)
{
    noun_region_free(*region);
    *region = NULL;
    return 0;
}

int support_evaluator_open(struct noun_home **home, struct nock_context **context)
{
    *home = noun_home_new(noun_arena_memory((size_t)8 << 30));
    *context = *home ? nock_context_new(*home, NULL) : NULL;
    return *home && *context ? 0 : -1;
}

int support_evaluator_close(struct noun_home **home, struct nock_context **context)
{
    nock_context_free(*context);
    noun_home_free(*home);
    *context = NULL;
    *home = NULL;
    return 0;
}

uint64_t support_fibonacci(uint64_t n)
{
    uint64_t a = 0, b = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t next = a + b;
        a = b;
        b = next;
    }
    return a;
}
