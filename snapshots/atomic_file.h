/* atomic_file.h -- replacing a file whole or not at all.
 *
 * Every file nocklab writes (:save, :export, snapshots) goes through here:
 * the bytes go to a new temporary file in the same directory, which is
 * fsynced, renamed over the file's path, and the directory fsynced.  A
 * failure at any point (a full disk, a write error, a crash) leaves the
 * file at that path exactly as it was, or absent if there was none; a
 * reader never sees a half-written file.
 *
 * Nothing here prints: failures come back as a message naming the path.
 */
#ifndef NOCKLAB_ATOMIC_FILE_H
#define NOCKLAB_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct atomic_file;

/* Begin replacing `path`; write through atomic_file_stream, then commit or
 * abandon.  NULL (with why) when the temporary file can't be made. */
struct atomic_file *atomic_file_begin(const char *path, char *why, size_t why_size);
FILE *atomic_file_stream(struct atomic_file *file);
/* Flush, fsync, rename over the path and fsync the directory; frees
 * `file`.  False (with why, the temporary file removed, the old file
 * untouched) if any write or step failed. */
bool atomic_file_commit(struct atomic_file *file, char *why, size_t why_size);
/* Give up: remove the temporary file, leave the path alone; frees `file`. */
void atomic_file_abandon(struct atomic_file *file);

/* fsync a directory, so that files just made or renamed in it stay. */
bool atomic_file_sync_directory(const char *directory);

/* The whole dance for bytes already in memory. */
bool atomic_file_write(const char *path, const void *bytes, size_t length, char *why, size_t why_size);

#endif
