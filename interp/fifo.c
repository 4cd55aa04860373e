/* fifo.c -- a growing first-in first-out queue of fixed-size items. */
#include "interp/fifo.h"

#include <stdlib.h>
#include <string.h>

void fifo_init(struct fifo *fifo, size_t item_size)
{
    memset(fifo, 0, sizeof *fifo);
    fifo->item_size = item_size;
}

void fifo_free(struct fifo *fifo)
{
    free(fifo->items);
    fifo_init(fifo, fifo->item_size);
}

bool fifo_push(struct fifo *fifo, const void *item)
{
    if (fifo->count == 0)
        fifo->first = 0;
    if (fifo->first + fifo->count == fifo->capacity) {
        if (fifo->first > 0) {
            memmove(fifo->items, fifo->items + fifo->first * fifo->item_size, fifo->count * fifo->item_size);
            fifo->first = 0;
        } else {
            size_t capacity = fifo->capacity ? fifo->capacity * 2 : 8;
            char *bigger = realloc(fifo->items, capacity * fifo->item_size);
            if (!bigger)
                return false;
            fifo->items = bigger;
            fifo->capacity = capacity;
        }
    }
    memcpy(fifo->items + (fifo->first + fifo->count++) * fifo->item_size, item, fifo->item_size);
    return true;
}

bool fifo_pop(struct fifo *fifo, void *item)
{
    if (fifo->count == 0)
        return false;
    memcpy(item, fifo->items + fifo->first * fifo->item_size, fifo->item_size);
    fifo->first++;
    fifo->count--;
    return true;
}

void *fifo_at(const struct fifo *fifo, size_t index)
{
    return fifo->items + (fifo->first + index) * fifo->item_size;
}
