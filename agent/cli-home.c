/* The command line's face of a home (home.h, "The command line's
 * wrappers"): the home module answers with a struct core_result; these
 * print its message, as every command did before, and turn its status
 * into an exit code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/cli.h"
#include "agent/core/result.h"
#include "agent/home.h"

/* Print res's message when it failed; its exit code. */
static int told(struct core_result *res, int r)
{
        if (r && res->en)
                cli_error_both(res->en, res->zh);
        core_result_finish(res);
        return r ? core_exit_code((enum core_status)r) : 0;
}

void home_log_stderr(void *ud, const char *fmt, ...)
{
        va_list ap;

        (void)ud;
        fputs("daiban: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int home_init(const char *dir, const char *node, const char *role, const char *catalog_dir,
              const struct home_init_opts *opt)
{
        struct core_result res;
        int r;

        core_result_init(&res);
        r = home_create(dir, node, role, catalog_dir, opt, &res);
        if (r == 0 && res.en)
                printf("%s\n", cli_zh() ? res.zh : res.en);
        return told(&res, r);
}

int home_open(const char *dir, struct home *h)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, home_load(dir, h, &res));
}

int home_key(struct home *h, const struct sshsig_key **ret)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, home_key_load(h, ret, &res));
}

int home_install_catalog(const char *home_dir, const char *src, store *st, char hex[41])
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, home_catalog_install(home_dir, src, st, hex, &res));
}

int home_county_restoring(struct home *h)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, home_county_held(h, &res));
}

static int lock_repo(const struct home *h, bool wait)
{
        struct core_result res;
        int fd;

        core_result_init(&res);
        fd = home_repo_lock(h, wait, home_log_stderr, NULL, &res);
        if (fd == -1 && res.en)
                cli_error_both(res.en, res.zh);
        core_result_finish(&res);
        return fd;
}

int home_lock_repo(const struct home *h)
{
        return lock_repo(h, true);
}

int home_trylock_repo(const struct home *h)
{
        return lock_repo(h, false);
}

int home_lock_daemon(const struct home *h, const char *which)
{
        struct core_result res;
        int fd;

        core_result_init(&res);
        fd = home_daemon_lock(h, which, &res);
        if (fd < 0 && res.en)
                cli_error_both(res.en, res.zh);
        core_result_finish(&res);
        return fd;
}
