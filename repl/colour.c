/* colour.c -- whether to colour (interface in colour.h). */
#include "repl/colour.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool colour_enabled(int fd)
{
    if (getenv("NO_COLOR"))
        return false;
    const char *term = getenv("TERM");
    if (!term || !*term || strcmp(term, "dumb") == 0)
        return false;
    return isatty(fd) != 0;
}
