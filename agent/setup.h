/* The first run in the browser: `daiban serve` on a home that does not
 * exist yet serves a setup page instead of the station, guarded by a
 * one-time code that it tells (setup_tell), logs and writes beside the home
 * (HOME.setup-code, for the installer to show). The page joins the
 * county through its hall (`daiban init --from-hall`: the catalogue
 * fetched, the division read from the token), registers the first
 * operator and their password, and ends by showing the station's key
 * fingerprint for the county to enroll. Then the station itself starts
 * on the same address. See docs/http-api.md ("First run"). */
#ifndef DAIBAN_AGENT_SETUP_H
#define DAIBAN_AGENT_SETUP_H

#include <stdbool.h>

struct tls_ctx;

/* Does home need the first run (no store.db)? */
bool setup_needed(const char *home);

/* What the first run tells a person, in both languages: say what they
 * need (the one-time code, where to open the page, that it is done);
 * warn a failure or a warning (the log). */
struct setup_tell {
        void (*say)(void *ud, const char *en, const char *zh);
        void (*warn)(void *ud, const char *en, const char *zh);
        void *ud;
};

/* Serve the setup page on listen until a station is set up (0) or a
 * signal stops it (1); -1 when it cannot (the reason told through
 * t->warn). Nothing here prints. */
int setup_run(const char *home, const char *listen, struct tls_ctx *tls, const struct setup_tell *t);

/* setup_run telling the command line's way (agent/cli-home.c): say on
 * stdout, warn as cli_error_both. */
int setup_serve(const char *home, const char *listen, struct tls_ctx *tls);

#endif
