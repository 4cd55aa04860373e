/* atomic_file.c -- write a temporary file, fsync, rename, fsync the
 * directory.
 *
 * Why each step:
 *   - The temporary file is in the target's directory, because rename is
 *     atomic only within one file system.  Its name is `.NAME.tmp-PID-N`,
 *     made with O_EXCL so two writers never share one, and mode 0666 less
 *     the umask, as a plain fopen would give.
 *   - fsync before rename: otherwise a crash after the rename can leave the
 *     new name pointing at a file whose blocks never reached the disk (an
 *     empty or short file, on ext4 with delayed allocation).
 *   - rename replaces the old file in one step: a reader sees the old file
 *     or the new one, never a mix.
 *   - fsync of the directory makes the rename itself durable.
 * Any failure removes the temporary file, so the old file is all that is
 * left, as it was.
 */
#include "snapshots/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* `path` the file to replace, `temporary` the file being written,
 * `directory` the directory both are in (for its fsync). */
struct atomic_file {
    char *path;
    char *temporary;
    char *directory;
    FILE *stream;
};

static void say(char *why, size_t why_size, const char *format, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_size, const char *format, ...)
{
    if (!why || !why_size)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(why, why_size, format, arguments);
    va_end(arguments);
}

static void free_file(struct atomic_file *file)
{
    free(file->path);
    free(file->temporary);
    free(file->directory);
    free(file);
}

/* The directory part of `path` ("." when it has none) and its last part. */
static bool split_path(const char *path, char **directory, const char **name)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *directory = strdup(".");
        *name = path;
    } else {
        size_t length = slash == path ? 1 : (size_t)(slash - path);
        *directory = strndup(path, length);
        *name = slash + 1;
    }
    return *directory != NULL;
}

struct atomic_file *atomic_file_begin(const char *path, char *why, size_t why_size)
{
    static unsigned counter;
    struct atomic_file *file = calloc(1, sizeof *file);
    const char *name = NULL;
    if (!file || !(file->path = strdup(path)) || !split_path(path, &file->directory, &name)) {
        if (file)
            free_file(file);
        say(why, why_size, "out of memory");
        return NULL;
    }
    if (!*name) {
        say(why, why_size, "cannot write %s: it names a directory, not a file", path);
        free_file(file);
        return NULL;
    }
    size_t size = strlen(file->directory) + strlen(name) + 64;
    file->temporary = malloc(size);
    int fd = -1;
    for (int attempt = 0; file->temporary && fd < 0 && attempt < 100; attempt++) {
        snprintf(file->temporary, size, "%s/.%s.tmp-%ld-%u", file->directory, name, (long)getpid(), counter++);
        fd = open(file->temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        say(why, why_size, "cannot write %s: %s", path, file->temporary ? strerror(errno) : "out of memory");
        free_file(file);
        return NULL;
    }
    struct stat old;
    if (stat(path, &old) == 0 && S_ISREG(old.st_mode))
        fchmod(fd, old.st_mode & 07777); /* a replacement keeps the old file's mode */
    file->stream = fdopen(fd, "wb");
    if (!file->stream) {
        say(why, why_size, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(file->temporary);
        free_file(file);
        return NULL;
    }
    return file;
}

FILE *atomic_file_stream(struct atomic_file *file) { return file->stream; }

void atomic_file_abandon(struct atomic_file *file)
{
    if (!file)
        return;
    if (file->stream)
        fclose(file->stream);
    unlink(file->temporary);
    free_file(file);
}

bool atomic_file_sync_directory(const char *directory)
{
    int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

bool atomic_file_commit(struct atomic_file *file, char *why, size_t why_size)
{
    FILE *stream = file->stream;
    file->stream = NULL;
    errno = 0;
    bool written = !ferror(stream) && fflush(stream) == 0 && fsync(fileno(stream)) == 0;
    int saved = errno ? errno : EIO;
    if (fclose(stream) != 0 && written) {
        written = false;
        saved = errno;
    }
    if (!written) {
        say(why, why_size, "cannot write %s: %s (the file there is as it was)", file->path, strerror(saved));
        atomic_file_abandon(file);
        return false;
    }
    if (rename(file->temporary, file->path) != 0) {
        say(why, why_size, "cannot write %s: %s (the file there is as it was)", file->path, strerror(errno));
        atomic_file_abandon(file);
        return false;
    }
    bool synced = atomic_file_sync_directory(file->directory);
    if (!synced)
        say(why, why_size, "wrote %s, but cannot sync its directory: %s", file->path, strerror(errno));
    free_file(file);
    return synced;
}

bool atomic_file_write(const char *path, const void *bytes, size_t length, char *why, size_t why_size)
{
    struct atomic_file *file = atomic_file_begin(path, why, why_size);
    if (!file)
        return false;
    if (length && fwrite(bytes, 1, length, file->stream) != length) {
        say(why, why_size, "cannot write %s: %s (the file there is as it was)", path, strerror(errno ? errno : EIO));
        atomic_file_abandon(file);
        return false;
    }
    return atomic_file_commit(file, why, why_size);
}
