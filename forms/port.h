/* What differs between Linux and Windows below forms/: opening a file by
 * its UTF-8 name, converting GB18030, the day in China, and the POSIX
 * regular expressions of the catalogue's regex(). Everything above
 * forms/ reaches files, processes and time through libuv; forms/ is pure
 * and links no libuv, so these few live here. */
#ifndef DAIBAN_FORMS_PORT_H
#define DAIBAN_FORMS_PORT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef _WIN32
/* TRE: POSIX regcomp/regexec, built from Debian's source (packaging/windows) */
#include <tre/regex.h>
#else
#include <regex.h>
#endif

#ifdef _WIN32
#include <wchar.h>
/* POSIX 2008, missing from the Windows C library */
char *strndup(const char *s, size_t n);

/* A UTF-8 string in UTF-16 for the wide API, malloc'd; NULL with errno
 * (EINVAL: not UTF-8). sync/platform.c uses it too. */
wchar_t *port_widen(const char *s);
#endif

/* Open PATH (UTF-8) for reading, in binary mode. A file descriptor, or
 * -1 with errno set. On Windows the name goes through the wide API, so
 * a path with Chinese characters opens whatever the ANSI code page. */
int port_open_read(const char *path);

/* Convert GB18030 to UTF-8 into a malloc'd buffer (*ret, *ret_len).
 * 0, -ENOMEM, -EILSEQ (not GB18030) or -ENOTSUP (no converter). */
int port_gb18030_to_utf8(const char *in, size_t inlen, char **ret, size_t *ret_len);

/* The civil date of NOW where the station is: the system's local time on
 * Linux (the station's zone), China Standard Time (UTC+8, no summer
 * time) on Windows, whatever the PC's zone setting. */
int port_civil_date(time_t now, int *year, int *month, int *day);

/* now as the station's local time into *tm, and that time's offset east
 * of UTC in seconds: China Standard Time (+28800) on Windows whatever
 * the PC's zone setting; the system's local time elsewhere. 0 or
 * -EINVAL. */
int port_local_time(time_t now, struct tm *tm, long *ret_gmtoff);

#endif
