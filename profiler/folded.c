/* folded.c -- counted stacks (see folded.h).
 *
 * Frame names are interned: each distinct name gets a number, and a stack
 * is kept as its numbers.  Two open-addressing tables find a name's number
 * and a stack's counter.  Per frame we also keep its self and total counts
 * (so `top` needs no pass over the stacks) and its innermost counts in two
 * one-second buckets, the current second and the one before, for the hot
 * arms pane.
 */
#include "profiler/folded.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLDED_MAX_NAME 159

/* One interned frame name.  `stamp` is the number of the last sample that
 * counted it in `total`, so a recursive frame counts once per sample. */
struct frame {
    char *name;
    uint64_t hash;
    uint64_t self, total, stamp;
    uint64_t recent[2];   /* innermost samples in the seconds of `bucket_second` */
};

/* One distinct stack: frame numbers outermost first, and its samples. */
struct stack {
    uint64_t hash;
    uint32_t depth;
    uint64_t count;
    uint32_t ids[];
};

struct folded {
    pthread_mutex_t lock;
    struct frame *frames;
    size_t frame_count, frame_capacity;
    uint32_t *frame_slots;          /* id + 1, 0 when empty */
    size_t frame_slot_capacity;     /* a power of two */
    struct stack **stacks;          /* open addressing, NULL when empty */
    size_t stack_count, stack_capacity;
    uint64_t samples;
    uint64_t bucket_second[2];      /* which second each recent[] bucket holds */
    uint32_t *scratch_ids;          /* the stack being added */
    size_t scratch_capacity;
};

static uint64_t hash_bytes(const char *bytes, size_t length)
{
    uint64_t hash = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < length; i++)
        hash = (hash ^ (unsigned char)bytes[i]) * 1099511628211u;
    return hash;
}

static uint64_t hash_ids(const uint32_t *ids, size_t count)
{
    uint64_t hash = 0x9E3779B97F4A7C15u ^ count;
    for (size_t i = 0; i < count; i++)
        hash = (hash ^ ids[i]) * 0xff51afd7ed558ccdu;
    return hash ^ (hash >> 29);
}

struct folded *folded_new(void)
{
    struct folded *folded = calloc(1, sizeof *folded);
    if (!folded)
        return NULL;
    pthread_mutex_init(&folded->lock, NULL);
    folded->frame_slot_capacity = 256;
    folded->frame_slots = calloc(folded->frame_slot_capacity, sizeof *folded->frame_slots);
    folded->stack_capacity = 256;
    folded->stacks = calloc(folded->stack_capacity, sizeof *folded->stacks);
    if (!folded->frame_slots || !folded->stacks) {
        folded_free(folded);
        return NULL;
    }
    return folded;
}

static void forget_everything(struct folded *folded)
{
    for (size_t i = 0; i < folded->frame_count; i++)
        free(folded->frames[i].name);
    folded->frame_count = 0;
    for (size_t i = 0; i < folded->stack_capacity; i++) {
        free(folded->stacks[i]);
        folded->stacks[i] = NULL;
    }
    folded->stack_count = 0;
    memset(folded->frame_slots, 0, folded->frame_slot_capacity * sizeof *folded->frame_slots);
    folded->samples = 0;
}

void folded_free(struct folded *folded)
{
    if (!folded)
        return;
    if (folded->frame_slots && folded->stacks)
        forget_everything(folded);
    free(folded->frames);
    free(folded->frame_slots);
    free(folded->stacks);
    free(folded->scratch_ids);
    pthread_mutex_destroy(&folded->lock);
    free(folded);
}

void folded_clear(struct folded *folded)
{
    pthread_mutex_lock(&folded->lock);
    forget_everything(folded);
    pthread_mutex_unlock(&folded->lock);
}

static bool grow_frame_slots(struct folded *folded)
{
    size_t capacity = folded->frame_slot_capacity * 2;
    uint32_t *slots = calloc(capacity, sizeof *slots);
    if (!slots)
        return false;
    for (size_t id = 0; id < folded->frame_count; id++) {
        size_t i = folded->frames[id].hash & (capacity - 1);
        while (slots[i])
            i = (i + 1) & (capacity - 1);
        slots[i] = (uint32_t)id + 1;
    }
    free(folded->frame_slots);
    folded->frame_slots = slots;
    folded->frame_slot_capacity = capacity;
    return true;
}

/* The number of a frame name (cleaned as folded.h says), adding it if
 * new; -1 when memory ran out. */
static long intern(struct folded *folded, const char *raw)
{
    char name[FOLDED_MAX_NAME + 1];
    size_t length = 0;
    for (; raw[length] && length < FOLDED_MAX_NAME; length++)
        name[length] = raw[length] == ';' || raw[length] == '\n' || raw[length] == '\r' ? '_' : raw[length];
    name[length] = 0;
    uint64_t hash = hash_bytes(name, length);
    size_t mask = folded->frame_slot_capacity - 1;
    size_t i = hash & mask;
    for (; folded->frame_slots[i]; i = (i + 1) & mask) {
        struct frame *frame = &folded->frames[folded->frame_slots[i] - 1];
        if (frame->hash == hash && strcmp(frame->name, name) == 0)
            return folded->frame_slots[i] - 1;
    }
    if (folded->frame_count == folded->frame_capacity) {
        size_t capacity = folded->frame_capacity ? folded->frame_capacity * 2 : 64;
        struct frame *frames = realloc(folded->frames, capacity * sizeof *frames);
        if (!frames)
            return -1;
        folded->frames = frames;
        folded->frame_capacity = capacity;
    }
    char *copy = strdup(name);
    if (!copy)
        return -1;
    size_t id = folded->frame_count++;
    folded->frames[id] = (struct frame){ .name = copy, .hash = hash };
    folded->frame_slots[i] = (uint32_t)id + 1;
    if (folded->frame_count * 2 > folded->frame_slot_capacity)
        grow_frame_slots(folded);
    return (long)id;
}

static bool grow_stacks(struct folded *folded)
{
    size_t capacity = folded->stack_capacity * 2;
    struct stack **stacks = calloc(capacity, sizeof *stacks);
    if (!stacks)
        return false;
    for (size_t j = 0; j < folded->stack_capacity; j++) {
        struct stack *stack = folded->stacks[j];
        if (!stack)
            continue;
        size_t i = stack->hash & (capacity - 1);
        while (stacks[i])
            i = (i + 1) & (capacity - 1);
        stacks[i] = stack;
    }
    free(folded->stacks);
    folded->stacks = stacks;
    folded->stack_capacity = capacity;
    return true;
}

/* Count one sample of the stack ids[0 .. depth). */
static bool count_stack(struct folded *folded, const uint32_t *ids, size_t depth)
{
    uint64_t hash = hash_ids(ids, depth);
    size_t mask = folded->stack_capacity - 1, i = hash & mask;
    for (; folded->stacks[i]; i = (i + 1) & mask) {
        struct stack *stack = folded->stacks[i];
        if (stack->hash == hash && stack->depth == depth && memcmp(stack->ids, ids, depth * sizeof *ids) == 0) {
            stack->count++;
            return true;
        }
    }
    struct stack *stack = malloc(sizeof *stack + depth * sizeof *ids);
    if (!stack)
        return false;
    stack->hash = hash;
    stack->depth = (uint32_t)depth;
    stack->count = 1;
    memcpy(stack->ids, ids, depth * sizeof *ids);
    folded->stacks[i] = stack;
    folded->stack_count++;
    if (folded->stack_count * 2 > folded->stack_capacity)
        grow_stacks(folded);
    return true;
}

/* Make bucket `second & 1` hold `second`, emptying it if it held another. */
static void date_bucket(struct folded *folded, uint64_t second)
{
    int bucket = (int)(second & 1);
    if (folded->bucket_second[bucket] == second)
        return;
    folded->bucket_second[bucket] = second;
    for (size_t i = 0; i < folded->frame_count; i++)
        folded->frames[i].recent[bucket] = 0;
}

bool folded_add(struct folded *folded, const char *const *frames, size_t count, uint64_t now_seconds)
{
    static const char *const none[] = { "(none)" };
    if (count == 0) {
        frames = none;
        count = 1;
    }
    pthread_mutex_lock(&folded->lock);
    bool ok = true;
    if (count > folded->scratch_capacity) {
        uint32_t *ids = realloc(folded->scratch_ids, count * sizeof *ids);
        ok = ids != NULL;
        if (ok) {
            folded->scratch_ids = ids;
            folded->scratch_capacity = count;
        }
    }
    for (size_t i = 0; ok && i < count; i++) {
        long id = intern(folded, frames[i]);
        ok = id >= 0;
        if (ok)
            folded->scratch_ids[i] = (uint32_t)id;
    }
    ok = ok && count_stack(folded, folded->scratch_ids, count);
    if (ok) {
        uint64_t sample = ++folded->samples;
        date_bucket(folded, now_seconds);
        for (size_t i = 0; i < count; i++) {
            struct frame *frame = &folded->frames[folded->scratch_ids[i]];
            if (frame->stamp != sample) {
                frame->stamp = sample;
                frame->total++;
            }
        }
        struct frame *leaf = &folded->frames[folded->scratch_ids[count - 1]];
        leaf->self++;
        leaf->recent[now_seconds & 1]++;
    }
    pthread_mutex_unlock(&folded->lock);
    return ok;
}

uint64_t folded_samples(struct folded *folded)
{
    pthread_mutex_lock(&folded->lock);
    uint64_t samples = folded->samples;
    pthread_mutex_unlock(&folded->lock);
    return samples;
}

static int by_count_descending(const void *a, const void *b)
{
    const struct stack *x = *(struct stack *const *)a, *y = *(struct stack *const *)b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

bool folded_write(struct folded *folded, const char *path, uint64_t *lines)
{
    FILE *file = fopen(path, "w");
    if (!file)
        return false;
    pthread_mutex_lock(&folded->lock);
    struct stack **sorted = malloc((folded->stack_count + 1) * sizeof *sorted);
    bool ok = sorted != NULL;
    size_t count = 0;
    if (ok) {
        for (size_t i = 0; i < folded->stack_capacity; i++)
            if (folded->stacks[i])
                sorted[count++] = folded->stacks[i];
        qsort(sorted, count, sizeof *sorted, by_count_descending);
        for (size_t i = 0; i < count; i++) {
            for (uint32_t d = 0; d < sorted[i]->depth; d++)
                fprintf(file, "%s%s", d ? ";" : "", folded->frames[sorted[i]->ids[d]].name);
            fprintf(file, " %llu\n", (unsigned long long)sorted[i]->count);
        }
    } else {
        errno = ENOMEM;
    }
    pthread_mutex_unlock(&folded->lock);
    free(sorted);
    if (fclose(file) != 0)
        ok = false;
    if (lines)
        *lines = count;
    return ok;
}

/* Keep the `max` best of the frames in `out` (sorted best first) as they
 * are offered: an insertion into a short list. */
static size_t offer(struct folded_frame *out, size_t have, size_t max, const char *name, uint64_t self,
                    uint64_t total)
{
    size_t at = have;
    while (at > 0 && (out[at - 1].total < total || (out[at - 1].total == total && out[at - 1].self < self)))
        at--;
    if (at >= max)
        return have;
    size_t moved = (have < max ? have : max - 1) - at;
    memmove(&out[at + 1], &out[at], moved * sizeof *out);
    snprintf(out[at].name, sizeof out[at].name, "%s", name);
    out[at].self = self;
    out[at].total = total;
    return have < max ? have + 1 : have;
}

size_t folded_top(struct folded *folded, struct folded_frame *out, size_t max)
{
    size_t have = 0;
    if (max == 0)
        return 0;
    pthread_mutex_lock(&folded->lock);
    for (size_t i = 0; i < folded->frame_count; i++)
        have = offer(out, have, max, folded->frames[i].name, folded->frames[i].self, folded->frames[i].total);
    pthread_mutex_unlock(&folded->lock);
    return have;
}

size_t folded_recent(struct folded *folded, uint64_t now_seconds, struct folded_frame *out, size_t max)
{
    size_t have = 0;
    if (max == 0)
        return 0;
    pthread_mutex_lock(&folded->lock);
    for (size_t i = 0; i < folded->frame_count; i++) {
        uint64_t recent = 0;
        for (int bucket = 0; bucket < 2; bucket++)
            if (folded->bucket_second[bucket] + 1 >= now_seconds && folded->bucket_second[bucket] <= now_seconds)
                recent += folded->frames[i].recent[bucket];
        if (recent)
            have = offer(out, have, max, folded->frames[i].name, recent, recent);
    }
    pthread_mutex_unlock(&folded->lock);
    return have;
}
