/* daiban-hall-check: the hall's pre-receive check (`hall pre-receive`)
 * and its fetch gate (`hall cgi`, a fetch's wants checked) in a program
 * of their own. They run once a push and once a fetch; daiban itself
 * loads 37 libraries (libarchive's, OpenSSL's, the station's) before
 * its main, which took a third of each run's CPU. This one links only
 * what the two need. The hall finds it as it finds
 * daiban-hall-helper (agent/hall.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/cli.h"
#include "agent/hall-int.h"

int main(int argc, char **argv)
{
        /* as daiban's main: a pusher gone mid-answer is an error return,
         * and what this creates (the roster, the refusals' log) is the
         * hall's user's alone */
        signal(SIGPIPE, SIG_IGN);
        umask(077);
        if (argc == 2 && strcmp(argv[1], "--version") == 0) {
                printf("daiban-hall-check %s\n", DAIBAN_VERSION);
                return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "pre-receive") == 0)
                return hall_pre_receive(argc - 1, argv + 1);
        if (argc >= 2 && strcmp(argv[1], "cgi") == 0)
                return hall_cgi(argc - 1, argv + 1);
        fprintf(stderr, "daiban-hall-check checks pushes and fetches for 'daiban hall serve'; it is not for use by hand\n");
        return 2;
}
