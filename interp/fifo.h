/* fifo.h -- a first-in first-out queue of fixed-size items, growing as
 * needed: the backends' queues of spawns waiting to run and of outcomes
 * waiting to be taken.
 *
 * Items live in one malloc'd array, `count` of them from `first`; a push
 * that finds the end full moves them to the front, or doubles the array.
 */
#ifndef NOCKLAB_FIFO_H
#define NOCKLAB_FIFO_H

#include <stdbool.h>
#include <stddef.h>

struct fifo {
    char *items;
    size_t item_size;
    size_t first, count, capacity;
};

void fifo_init(struct fifo *fifo, size_t item_size);
void fifo_free(struct fifo *fifo);
/* Copy `item` in at the back; false when memory is short. */
bool fifo_push(struct fifo *fifo, const void *item);
/* Copy the front item out and drop it; false when empty. */
bool fifo_pop(struct fifo *fifo, void *item);
/* The item `index` places from the front (index < count). */
void *fifo_at(const struct fifo *fifo, size_t index);

#endif
