/* libFuzzer target for the signature and roster readers: the input is
 * split at the first NUL byte into a text and a message. The text is read
 * as an armored SSH signature over the message, as an OpenSSH key file,
 * as a public key line and as a roster (roster.json). Nothing may crash;
 * a signature that verifies must name a key, and a roster that parses
 * must hold only its county's nodes and ranges that do not run backwards,
 * and must come back the same through roster_build. */
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
        err[0] = '\0';
        if (roster_parse(d, tl, "330225", &ro, err, sizeof err) == 0) {
                char *json;
                size_t jl;
                struct roster again;
                for (size_t i = 0; i < ro.n; i++)
                        if (strncmp(ro.e[i].node, "330225", 6) != 0 || ro.e[i].from < 1 ||
                            (ro.e[i].until && ro.e[i].until < ro.e[i].from))
                                abort();
                if (roster_build(&ro, &json, &jl) == 0) {
                        if (roster_parse(json, jl, "330225", &again, err, sizeof err) != 0 || again.n != ro.n)
                                abort();
                        for (size_t i = 0; i < ro.n; i++)
                                if (memcmp(&again.e[i], &ro.e[i], sizeof ro.e[i]) != 0)
                                        abort();
                        roster_free(&again);
                        free(json);
                }
                roster_free(&ro);
        } else if (!err[0]) {
                abort();
        }
        return 0;
}
