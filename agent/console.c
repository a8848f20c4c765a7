/* The console and the process's surroundings: see console.h. */
#include "agent/console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <uv.h>
#include <windows.h>
#include <shellapi.h>
#else
#include <termios.h>
#include <unistd.h>
#endif

/* a line of standard input without its end; -1 at its end */
static int read_line(char *buf, size_t n)
{
        if (!fgets(buf, (int)n, stdin))
                return -1;
        buf[strcspn(buf, "\r\n")] = '\0';
        return 0;
}

#ifdef _WIN32
/* UTF-16 to a new UTF-8 string, or NULL */
static char *narrow(const wchar_t *w)
{
        int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
        char *s = n > 0 ? malloc((size_t)n) : NULL;

        if (s && WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
                free(s);
                s = NULL;
        }
        return s;
}

static UINT old_out, old_in;

static void console_restore(void)
{
        fflush(stdout);
        fflush(stderr);
        if (old_out)
                SetConsoleOutputCP(old_out);
        if (old_in)
                SetConsoleCP(old_in);
}

void console_start(int *argc, char ***argv)
{
        int n = 0;
        wchar_t **w = CommandLineToArgvW(GetCommandLineW(), &n);
        char **v = w && n > 0 ? calloc((size_t)n + 1, sizeof *v) : NULL;

        /* the window's own code pages come back at exit: cmd.exe and the
         * batch files run after daiban read and print in them */
        old_out = GetConsoleOutputCP();
        old_in = GetConsoleCP();
        if (old_out || old_in)
                atexit(console_restore);
        SetConsoleOutputCP(CP_UTF8);
        SetConsoleCP(CP_UTF8);
        if (!v) {
                LocalFree(w);
                return;         /* the runtime's arguments, as they are */
        }
        for (int i = 0; i < n; i++)
                if (!(v[i] = narrow(w[i]))) {
                        LocalFree(w);
                        return;
                }
        LocalFree(w);
        *argc = n;
        *argv = v;      /* the process's for its life */
}

/* one copy per name asked, kept: callers hold the pointers */
static struct env_copy {
        char name[64];
        char *value;
} env_copies[32];
static size_t env_ncopies;
static uv_mutex_t env_lock;
static uv_once_t env_once = UV_ONCE_INIT;

static void env_init(void)
{
        if (uv_mutex_init(&env_lock) != 0)
                abort();
}

const char *console_getenv(const char *name)
{
        char small[256], *buf = small;
        size_t len = sizeof small;
        const char *ret = NULL;
        int r;

        uv_once(&env_once, env_init);
        uv_mutex_lock(&env_lock);
        r = uv_os_getenv(name, buf, &len);
        if (r == UV_ENOBUFS && (buf = malloc(len)))
                r = uv_os_getenv(name, buf, &len);
        if (r == 0) {
                size_t i;
                for (i = 0; i < env_ncopies && strcmp(env_copies[i].name, name); i++)
                        ;
                if (i < env_ncopies && !strcmp(env_copies[i].value, buf))
                        ret = env_copies[i].value;
                else if (i < sizeof env_copies / sizeof env_copies[0] && strlen(name) < sizeof env_copies[i].name) {
                        /* a value set again is copied again; the old copy
                         * stays for whoever holds it */
                        char *v = strdup(buf);
                        if (v) {
                                snprintf(env_copies[i].name, sizeof env_copies[i].name, "%s", name);
                                env_copies[i].value = v;
                                if (i == env_ncopies)
                                        env_ncopies++;
                                ret = v;
                        }
                }
        }
        if (buf != small)
                free(buf);
        uv_mutex_unlock(&env_lock);
        return ret;
}

bool console_system_zh(void)
{
        return PRIMARYLANGID(GetUserDefaultUILanguage()) == LANG_CHINESE;
}

int console_read_secret(const char *prompt, char *buf, size_t n)
{
        HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
        DWORD old = 0;
        bool tty = GetConsoleMode(in, &old) != 0;
        int r = -1;

        if (!tty)
                return read_line(buf, n);
        fputs(prompt, stderr);
        SetConsoleMode(in, old & ~(DWORD)ENABLE_ECHO_INPUT);
        {
                /* the console's wide read: with the input code page UTF-8,
                 * a byte read (fgets, ReadFile) gets each character beyond
                 * ASCII as a NUL on Windows 10 */
                wchar_t w[512];
                DWORD got = 0;
                if (ReadConsoleW(in, w, sizeof w / sizeof w[0] - 1, &got, NULL)) {
                        w[got] = 0;
                        w[wcscspn(w, L"\r\n")] = 0;
                        r = WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)n, NULL, NULL) > 0 ? 0 : -1;
                        SecureZeroMemory(w, sizeof w);
                }
        }
        SetConsoleMode(in, old);
        fputc('\n', stderr);
        return r;
}
#else
void console_start(int *argc, char ***argv)
{
        (void)argc;
        (void)argv;
}

const char *console_getenv(const char *name)
{
        return getenv(name);
}

bool console_system_zh(void)
{
        return false;
}

int console_read_secret(const char *prompt, char *buf, size_t n)
{
        struct termios old, quiet;
        bool tty = isatty(0) && tcgetattr(0, &old) == 0;

        if (tty) {
                fputs(prompt, stderr);
                quiet = old;
                quiet.c_lflag &= ~(tcflag_t)ECHO;
                tcsetattr(0, TCSAFLUSH, &quiet);
        }
        int r = read_line(buf, n);
        if (tty) {
                tcsetattr(0, TCSAFLUSH, &old);
                fputc('\n', stderr);
        }
        return r;
}
#endif
