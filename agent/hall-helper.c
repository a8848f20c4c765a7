/* daiban-hall-helper: what the hall runs, instead of daiban itself, for
 * the requests and hooks that need only agent/hallcgi.c (see there):
 *
 *   daiban-hall-helper cgi BACKEND    the gate, then git http-backend
 *   reference-transaction STATE       git's hook (the hook file is a
 *                                     link to this program)
 *
 * The hall runs the copy it opened at its start (/proc/<hall>/fd/N), so
 * an upgrade that replaces the file cannot mix versions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/hallcgi.h"

int main(int argc, char **argv)
{
        const char *self = argv[0] ? strrchr(argv[0], '/') : NULL;

        self = self ? self + 1 : argv[0] ? argv[0] : "";
        if (strcmp(self, "reference-transaction") == 0)
                return hallcgi_ref_sync(argc > 1 ? argv[1] : NULL);
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
