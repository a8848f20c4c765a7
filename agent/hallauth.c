/* How the hall reads who is asking. See hallauth.h. */
#include "agent/hallauth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "forms/division.h"

int hallauth_parse(const char *auth, char *tok, size_t toklen, char node[32])
{
        const char *dot;

        if (!auth)
                return -ENOENT;
        if (toklen < 2)
                return -EACCES;
        if (strncasecmp(auth, "Bearer ", 7) == 0) {
                if (strlen(auth + 7) >= toklen)
                        return -EACCES;
                snprintf(tok, toklen, "%s", auth + 7);
        } else if (strncasecmp(auth, "Basic ", 6) == 0) {
                /* stock git: user = the node, password = the token */
                unsigned char dec[256];
                size_t in = strlen(auth + 6);
                int n;
                char *colon;
                if (in > 320 || in % 4)
                        return -EACCES;
                n = EVP_DecodeBlock(dec, (const unsigned char *)auth + 6, (int)in);
                if (n <= 0)
                        return -EACCES;
                while (n > 0 && dec[n - 1] == '\0')
                        n--;    /* EVP_DecodeBlock counts the padding */
                dec[n] = '\0';
                if (!(colon = strchr((char *)dec, ':')) || strlen(colon + 1) >= toklen)
                        return -EACCES;
                snprintf(tok, toklen, "%s", colon + 1);
                *colon = '\0';
                if (dec[0] && strncmp((char *)dec, tok, strlen((char *)dec)) != 0)
                        return -EACCES;
        } else {
                return -EACCES;
        }
        dot = strchr(tok, '.');
        if (!dot || (size_t)(dot - tok) >= 32)
                return -EACCES;
        memcpy(node, tok, (size_t)(dot - tok));
        node[dot - tok] = '\0';
        return division_code_valid(node) ? 0 : -EACCES;
}
