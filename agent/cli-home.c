/* The command line's face of a home, of joining a county and of the
 * first run (home.h, join.h, setup.h). Those modules never print: they
 * answer with a struct core_result (the first run through its tell
 * callbacks); these print the message, as every command did before,
 * and turn the status into an exit code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/cli.h"
#include "agent/log.h"
#include "agent/core/result.h"
#include "agent/home.h"
#include "agent/join.h"
#include "agent/setup.h"

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

int home_open_cmd(const char *home_opt, bool bad_usage, const char *usage, struct home *h)
{
        if (bad_usage) {
                fputs(usage, stderr);
                return EXIT_USAGE;
        }
        return home_open(home_path(home_opt), h);
}

int home_key(struct home *h, const struct sshsig_key **ret)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, home_key_load(h, ret, &res));
}

int home_open_repo(const struct home *h, struct git_repository **ret)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, home_repo_open(h, ret, &res));
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

/* ---- joining a county (join.h) -------------------------------------------------- */

static void say_stderr(void *ud, const char *en, const char *zh)
{
        (void)ud;
        cli_error_both(en, zh);
}

int join_check_remote(const char *url, const char *token, const char *pin, const char *node)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, join_remote_check(url, token, pin, node, &res));
}

int join_set_remote(struct home *h, const char *url, const char *token, const char *pin)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, join_remote_set(h, url, token, pin, &res));
}

int join_fetch_catalog(const char *url, const char *token, const char *pin, const char *county_key, const char *node,
                       const char *work, char *catdir, size_t catlen, char *role, size_t rolelen)
{
        struct core_result res;

        core_result_init(&res);
        return told(&res, join_catalog_fetch(url, token, pin, county_key, node, work, catdir, catlen, role, rolelen,
                                             say_stderr, NULL, &res));
}

/* ---- the first run (setup.h) ---------------------------------------------------- */

static void say_stdout(void *ud, const char *en, const char *zh)
{
        (void)ud;
        printf("%s\n", cli_zh() ? zh : en);
        fflush(stdout);
}

/* the first run's failures and warnings are the daemon's log lines */
static void warn_log(void *ud, const char *en, const char *zh)
{
        (void)ud;
        (void)zh;
        log_line("%s", en);
}

int setup_serve(const char *home, const char *listen, struct tls_ctx *tls)
{
        static const struct setup_tell t = { say_stdout, warn_log, NULL };

        return setup_run(home, listen, tls, &t);
}
