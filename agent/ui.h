/* The web UI's files, built into the binary (agent/ui/, embedded at build
 * time by agent/ui/embed.py): each with its type, its bytes, the same
 * gzip-compressed, and an ETag. */
#ifndef DAIBAN_AGENT_UI_H
#define DAIBAN_AGENT_UI_H

#include <stddef.h>

struct ui_file {
        const char *path;               /* "/", "/ui/app.js" */
        const char *type;               /* "text/html; charset=utf-8" */
        const unsigned char *data;
        size_t len;
        const unsigned char *gz;        /* gzip of data */
        size_t gzlen;
        const char *etag;               /* "\"<hex>\"" */
};

extern const struct ui_file ui_files[];
extern const size_t ui_nfiles;

#endif
