/* support.h -- what the unit tests share: finding ../shared, reading its
 * vector files and parsing noun text, failing the running cmocka test with
 * a clear message when any of it goes wrong. */
#ifndef NOCKLAB_TEST_SUPPORT_H
#define NOCKLAB_TEST_SUPPORT_H

#include <stddef.h>
#include <stdio.h>
#include "interp/noun.h"

/* $SHARED/name (default ../shared/name) in buffer. */
const char *support_shared_path(const char *name, char *buffer, size_t size);
/* A whole file, malloc'd and NUL-terminated; fails the test if unreadable. */
char *support_read_file(const char *path, size_t *length);
/* Noun text parsed into region; fails the test with the parser's message. */
noun support_parse(struct noun_region *region, const char *text);

/* Noun text parsed into region and copied to home; fails the test when it
 * can't be parsed or home is full. */
noun support_parse_home(struct noun_home *home, struct noun_region *region, const char *text);
/* A home of `home_bytes` reserved and a 1 GiB scratch region to build its
 * nouns in, for tests of kernels and backends; 0 on success (cmocka setup). */
int support_home_open(struct noun_home **home, struct noun_region **region, size_t home_bytes);
int support_home_close(struct noun_home **home, struct noun_region **region);

/* A scratch region for a test file (halves of 8 GiB reserved, not used),
 * whose exhaustion fails the running test; 0 on success, for cmocka's
 * group setup and teardown. */
int support_region_open(struct noun_region **region);
int support_region_close(struct noun_region **region);

/* A home (8 GiB reserved) and an evaluator over it, for tests of Nock;
 * 0 on success (cmocka group setup and teardown). */
struct nock_context;
int support_evaluator_open(struct noun_home **home, struct nock_context **context);
int support_evaluator_close(struct noun_home **home, struct nock_context **context);

/* The nth Fibonacci number (fib 0 = 0), for checking Nock that computes it. */
uint64_t support_fibonacci(uint64_t n);

/* Reading a tab-separated vector file of ../shared/vectors. */
FILE *support_open_vectors(const char *name);
/* The next row's fields (split in place in `line`, comments and blank lines
 * skipped); false at the end.  Fails the test if a row has fewer than
 * `count` fields. */
bool support_next_vector(FILE *file, char *line, size_t size, char **fields, int count);

#endif
