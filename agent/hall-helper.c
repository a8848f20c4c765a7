/* daiban-hall-helper: what the hall runs, instead of daiban itself, for
 * the requests and hooks that need only agent/hallcgi.c (see there):
 *
 *   daiban-hall-helper cgi BACKEND                   the gate, then git http-backend
 *   daiban-hall-helper reference-transaction STATE   git's hook (the hook
 *                                                    file execs this)
 *   daiban-hall-helper --version                     which daiban it belongs to
 *
 * The hall runs the copy it opened at its start (/proc/<hall>/fd/N), so
 * an upgrade that replaces the file cannot mix versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/hallcgi.h"

int main(int argc, char **argv)
{
        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("daiban-hall-helper %s\n", DAIBAN_VERSION);
                return 0;
        }
        if (argc == 3 && strcmp(argv[1], "reference-transaction") == 0)
                return hallcgi_ref_sync(argv[2]);
        if (argc == 3 && strcmp(argv[1], "cgi") == 0 && getenv("DAIBAN_PUSHER")) {
                if (hallcgi_start() < 0)
                        return 1;
                if (!hallcgi_push_ok())
                        return 0;               /* answered */
                hallcgi_exec(argv[2]);
                return 1;
        }
        fprintf(stderr, "daiban-hall-helper runs git http-backend and git's hooks for 'daiban hall serve'; it is not"
                        " for use by hand\n");
        return 2;
}
