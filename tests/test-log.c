/* Tests of agent/log.c, the daemons' one log: a line is "<UTC time,
 * ISO 8601 with Z> daiban <name>: <message>", written whole; a long
 * message is cut but keeps its newline; -1 drops lines; a client's
 * value is made fit for one line. */
#include <regex.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "agent/log.h"
#include "tests/harness.h"

/* What the log wrote into a pipe, NUL-terminated; its length. */
static size_t drain(int fd, char *buf, size_t cap)
{
        ssize_t n = read(fd, buf, cap - 1);

        buf[n > 0 ? n : 0] = '\0';
        return n > 0 ? (size_t)n : 0;
}

static bool matches(const char *s, const char *re)
{
        regex_t rx;
        bool ok = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) == 0 && regexec(&rx, s, 0, NULL, 0) == 0;

        regfree(&rx);
        return ok;
}

TEST(a_line_is_stamped_in_utc_and_named)
{
        int p[2];
        char buf[4096];

        CHECK(pipe(p) == 0);
        log_open("hall", p[1]);
        log_line("%s pushed %d refs", "330225101001", 3);
        drain(p[0], buf, sizeof buf);
        CHECK(matches(buf, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z daiban hall: "
                           "330225101001 pushed 3 refs\n$"));
        /* the sync library's callbacks come out the same way */
        log_open("serve", p[1]);
        log_feed(NULL, "catalogue version %s published", "abc");
        drain(p[0], buf, sizeof buf);
        CHECK(matches(buf, "Z daiban serve: catalogue version abc published\n$"));
        close(p[0]);
        close(p[1]);
}

TEST(a_long_message_is_cut_and_keeps_its_newline)
{
        int p[2];
        char big[4000], buf[8192];

        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        CHECK(pipe(p) == 0);
        log_open("hall", p[1]);
        log_line("%s", big);
        size_t n = drain(p[0], buf, sizeof buf);
        CHECK(n > 1000 && n < sizeof big);
        CHECK(buf[n - 1] == '\n');
        CHECK(strchr(buf, '\n') == buf + n - 1);
        close(p[0]);
        close(p[1]);
}

TEST(no_descriptor_drops_lines)
{
        log_open("hall", -1);
        log_line("%s", "nowhere");      /* nothing to check but that it returns */
        log_open("test", 2);
}

TEST(a_client_value_fits_one_line)
{
        char out[8];

        CHECK_STR(log_safe("a\nb\x7f" "c", out, sizeof out), "a?b?c");
        CHECK_STR(log_safe("0123456789", out, sizeof out), "0123456");
        CHECK_STR(log_safe(NULL, out, sizeof out), "");
}
