/* The nodes' tokens at the hall: `hall token NODE` issues one (printed
 * once) and the front checks a request's (hall_token_node). A token is
 * "<node>.<48 hex digits>"; the hall keeps only its SHA-256, under the
 * meta key hall.token.<node>. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

#include "agent/cli.h"
#include "agent/digest.h"
#include "agent/hall-int.h"
#include "agent/hallauth.h"
#include "agent/http.h"
#include "sync/feed.h"

/* Returns 0 with the node's code,
 * -ENOENT when the request carries no token, -EACCES for a wrong one. */
int hall_token_node(store *st, const struct http_request *req, char node[32])
{
        char tok[256], hex[65], key[64];
        char *want = NULL;
        int r = hallauth_parse(http_header_get(req, "Authorization"), tok, sizeof tok, node);

        if (r < 0)
                return r;
        r = -EACCES;
        snprintf(key, sizeof key, "hall.token.%s", node);
        if (store_meta_get(st, key, &want) < 0 || !want || strlen(want) != 64) {
                free(want);
                return -EACCES;
        }
        sha256_hex(tok, strlen(tok), hex);
        if (CRYPTO_memcmp(hex, want, 64) == 0)
                r = 0;
        free(want);
        return r;
}

int hall_token(int argc, char **argv)
{
        static const struct option lo[] = {
                { "home", required_argument, NULL, 'H' }, { "revoke", no_argument, NULL, 'r' }, { NULL, 0, NULL, 0 },
        };
        const char *homeopt = NULL, *node;
        bool revoke = false;
        struct home h;
        unsigned char rnd[24];
        char tok[128], hex[65], key[64];
        int c, r;

        optind = 1;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
                if (c == 'H')
                        homeopt = optarg;
                else if (c == 'r')
                        revoke = true;
                else {
                        fputs(usage_hall, stderr);
                        return EXIT_USAGE;
                }
        }
        if (argc - optind != 1) {
                fputs(usage_hall, stderr);
                return EXIT_USAGE;
        }
        node = argv[optind];
        if ((r = home_open(home_path(homeopt), &h)))
                return r;
        if (strcmp(h.role, "county") != 0) {
                cli_error("%s", cli_msg("tokens are issued by the county hall's home; this home is not the county's",
                                        "令牌只能由县级服务端签发；本目录不是县级节点"));
                home_close(&h);
                return EXIT_REFUSED;
        }
        if (!catalog_find_division(h.cat, node) || !feed_entitled(h.node, node)) {
                cli_error(cli_msg("%s is not a division of this county in the catalogue (divisions.csv)",
                                  "%s 不是本县目录（divisions.csv）中的行政区划"),
                          node);
                home_close(&h);
                return EXIT_REFUSED;
        }
        snprintf(key, sizeof key, "hall.token.%s", node);
        if (!revoke) {
                if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
                        cli_error("cannot read random bytes: %s", strerror(errno));
                        home_close(&h);
                        return EXIT_REFUSED;
                }
                int n = snprintf(tok, sizeof tok, "%s.", node);
                for (size_t i = 0; i < sizeof rnd; i++)
                        n += snprintf(tok + n, sizeof tok - (size_t)n, "%02x", rnd[i]);
                sha256_hex(tok, strlen(tok), hex);
        }
        if (store_begin(h.st) < 0 || store_meta_set(h.st, key, revoke ? "" : hex) < 0 || store_commit(h.st) < 0) {
                cli_error(cli_msg("cannot store the token: %s", "无法保存令牌：%s"), store_errmsg(h.st));
                store_rollback(h.st);
                home_close(&h);
                return EXIT_REFUSED;
        }
        if (revoke)
                printf(cli_msg("token of %s revoked\n", "已作废 %s 的令牌\n"), node);
        else
                printf("%s\n", tok);
        home_close(&h);
        return 0;
}

