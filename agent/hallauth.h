/* How the hall reads who is asking: the Authorization header of a
 * request, "Bearer <token>" (what daiban sends) or "Basic base64(node:
 * token)" (stock git's), where a token is "<node>.<secret>". Pure: no
 * store, no network (the hall then compares the token's SHA-256 with the
 * one it keeps). */
#ifndef DAIBAN_AGENT_HALLAUTH_H
#define DAIBAN_AGENT_HALLAUTH_H

#include <stddef.h>

/* Read authorization (NULL: no header). 0 with the token in tok
 * (NUL-terminated, at most toklen - 1 bytes) and its node's code in node
 * (a valid division code: what precedes the token's first '.');
 * -ENOENT without a header; -EACCES for anything else (a malformed
 * header, a Basic user that is not the token's node, no node). */
int hallauth_parse(const char *authorization, char *tok, size_t toklen, char node[32]);

#endif
