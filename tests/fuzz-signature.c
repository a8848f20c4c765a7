/* libFuzzer target for the signature and roster readers: the input is
 * split at the first NUL byte into a text and a message. The text is read
 * as an armored SSH signature over the message, as an OpenSSH key file,
 * as a public key line, as a roster.json of version 1 and as the
 * roster's files of version 2 (county.json, and a node's file). Nothing may crash; a signature that verifies must name a
 * key, and a node's file that parses must hold only that node's entries
 * and ranges that do not run backwards, and must come back the same
 * through roster_node_build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/roster.h"
#include "sync/sshsig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *d = (const char *)data;
        const char *nul = memchr(d, '\0', size);
        size_t tl = nul ? (size_t)(nul - d) : size;
        const char *msg = nul ? nul + 1 : "";
        size_t ml = nul ? size - tl - 1 : 0;
        uint8_t pk[SSHSIG_PK_BYTES];
        struct sshsig_key k;
        struct roster ro;
        char err[512], *text;

        err[0] = '\0';
        if (sshsig_verify(d, tl, msg, ml, pk, err, sizeof err) != 0 && !err[0])
                abort();
        err[0] = '\0';
        if (sshsig_key_decode(d, tl, &k, err, sizeof err) != 0 && !err[0])
                abort();
        if (!(text = malloc(tl + 1)))
                return 0;
        memcpy(text, d, tl);
        text[tl] = '\0';
        if (sshsig_pubkey_parse(text, pk) == 0) {
                char line[160];
                uint8_t back[SSHSIG_PK_BYTES];
                sshsig_pubkey_line(pk, NULL, line, sizeof line);
                if (sshsig_pubkey_parse(line, back) != 0 || memcmp(back, pk, sizeof pk) != 0)
                        abort();
        }
        free(text);
        /* the whole roster as 0.1.0 wrote it */
        err[0] = '\0';
        if (roster_parse_v1(d, tl, "330225", &ro, err, sizeof err) == 0) {
                for (size_t i = 0; i < ro.n; i++)
                        if (strncmp(ro.e[i].node, "330225", 6) != 0 || ro.e[i].from < 1 ||
                            (ro.e[i].until && ro.e[i].until < ro.e[i].from))
                                abort();
                roster_free(&ro);
        } else if (!err[0]) {
                abort();
        }
        /* the roster's files: county.json, and a village's file */
        memset(&ro, 0, sizeof ro);
        err[0] = '\0';
        if (roster_head_parse(d, tl, "330225", &ro, err, sizeof err) == 0) {
                if (strcmp(ro.county, "330225") != 0)
                        abort();
        } else if (!err[0]) {
                abort();
        }
        memset(&ro, 0, sizeof ro);
        memcpy(ro.county, "330225", 7);
        err[0] = '\0';
        if (roster_node_parse(d, tl, "330225101202", &ro, err, sizeof err) == 0) {
                char *json;
                size_t jl;
                struct roster again = { .county = "330225" };
                for (size_t i = 0; i < ro.n; i++)
                        if (strcmp(ro.e[i].node, "330225101202") != 0 || ro.e[i].from < 1 ||
                            (ro.e[i].until && ro.e[i].until < ro.e[i].from))
                                abort();
                if (ro.n < 1 || roster_node_build(&ro, "330225101202", &json, &jl) != 0)
                        abort();
                if (roster_node_parse(json, jl, "330225101202", &again, err, sizeof err) != 0 || again.n != ro.n)
                        abort();
                for (size_t i = 0; i < ro.n; i++)
                        if (memcmp(&again.e[i], &ro.e[i], sizeof ro.e[i]) != 0)
                                abort();
                roster_free(&again);
                free(json);
        } else if (!err[0] || ro.n != 0) {
                abort();
        }
        roster_free(&ro);
        return 0;
}
