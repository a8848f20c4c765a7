/* See port.h. */
#include "forms/port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <io.h>
#include <windows.h>
#else
#include <iconv.h>
#include <unistd.h>
#endif

#ifdef _WIN32

char *strndup(const char *s, size_t n)
{
        size_t len = strnlen(s, n);
        char *d = malloc(len + 1);

        if (d) {
                memcpy(d, s, len);
                d[len] = '\0';
        }
        return d;
}

wchar_t *port_widen(const char *s)
{
        int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
        wchar_t *w;

        if (n <= 0) {
                errno = EINVAL;
                return NULL;
        }
        if (!(w = malloc((size_t)n * sizeof *w))) {
                errno = ENOMEM;
                return NULL;
        }
        MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
        return w;
}

int port_open_read(const char *path)
{
        wchar_t *w = port_widen(path);
        int fd;

        if (!w)
                return -1;
        fd = _wopen(w, _O_RDONLY | _O_BINARY | _O_NOINHERIT);
        free(w);
        return fd;
}

/* GB18030 is code page 54936 to Windows; the conversion is exact both ways */
int port_gb18030_to_utf8(const char *in, size_t inlen, char **ret, size_t *ret_len)
{
        int wn, n;
        wchar_t *w;
        char *buf;

        if (inlen == 0) {
                if (!(*ret = malloc(1)))
                        return -ENOMEM;
                *ret_len = 0;
                return 0;
        }
        if (inlen > INT32_MAX / 4)
                return -ENOMEM;
        /* Windows has GB18030 as code page 54936; Wine 8 has not, and
         * there GBK (936), its two-byte part, is what can be read */
        UINT cp = IsValidCodePage(54936) ? 54936 : 936;
        wn = MultiByteToWideChar(cp, MB_ERR_INVALID_CHARS, in, (int)inlen, NULL, 0);
        if (wn <= 0)
                return GetLastError() == ERROR_NO_UNICODE_TRANSLATION ? -EILSEQ : -ENOTSUP;
        if (!(w = malloc((size_t)wn * sizeof *w)))
                return -ENOMEM;
        MultiByteToWideChar(cp, MB_ERR_INVALID_CHARS, in, (int)inlen, w, wn);
        n = WideCharToMultiByte(CP_UTF8, 0, w, wn, NULL, 0, NULL, NULL);
        if (n <= 0 || !(buf = malloc((size_t)n))) {
                free(w);
                return n <= 0 ? -EILSEQ : -ENOMEM;
        }
        WideCharToMultiByte(CP_UTF8, 0, w, wn, buf, n, NULL, NULL);
        free(w);
        *ret = buf;
        *ret_len = (size_t)n;
        return 0;
}

int port_local_time(time_t now, struct tm *tm, long *ret_gmtoff)
{
        time_t cst = now + 8 * 3600;

        if (gmtime_s(tm, &cst) != 0)
                return -EINVAL;
        *ret_gmtoff = 8 * 3600;
        return 0;
}

int port_civil_date(time_t now, int *year, int *month, int *day)
{
        struct tm tm;
        long off;

        if (port_local_time(now, &tm, &off) < 0)
                return -EINVAL;
        *year = tm.tm_year + 1900;
        *month = tm.tm_mon + 1;
        *day = tm.tm_mday;
        return 0;
}

#else

int port_open_read(const char *path)
{
        return open(path, O_RDONLY | O_CLOEXEC);
}

int port_gb18030_to_utf8(const char *in, size_t inlen, char **ret, size_t *ret_len)
{
        iconv_t cd = iconv_open("UTF-8", "GB18030");
        size_t cap = inlen * 2 + 16, left_in = inlen, left_out = cap;
        char *buf, *src = (char *)in, *dst;

        if (cd == (iconv_t)-1)
                return -ENOTSUP;
        buf = malloc(cap);
        if (!buf) {
                iconv_close(cd);
                return -ENOMEM;
        }
        dst = buf;
        if (iconv(cd, &src, &left_in, &dst, &left_out) == (size_t)-1) {
                free(buf);
                iconv_close(cd);
                return -EILSEQ;
        }
        iconv_close(cd);
        *ret = buf;
        *ret_len = cap - left_out;
        return 0;
}

int port_local_time(time_t now, struct tm *tm, long *ret_gmtoff)
{
        if (!localtime_r(&now, tm))
                return -EINVAL;
        *ret_gmtoff = tm->tm_gmtoff;
        return 0;
}

int port_civil_date(time_t now, int *year, int *month, int *day)
{
        struct tm tm;
        long off;

        if (port_local_time(now, &tm, &off) < 0)
                return -EINVAL;
        *year = tm.tm_year + 1900;
        *month = tm.tm_mon + 1;
        *day = tm.tm_mday;
        return 0;
}

#endif
