/* The county's authority over what a station says: an application's
 * reviewer, decider, time limit and matter follow from the catalogue
 * version it names and from the division tree, never from the event.
 * Asked of every received event before its feed's ref moves (sync,
 * stick, the hall's pre-receive check), see feed_trust in sync/feed.h. */
#include "agent/authority.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "forms/catalog.h"
#include "sync/changeset.h"

/* The home's catalogue cache is filled on demand; one check at a time
 * (libuv's threads, as everywhere in daiban: they are Windows' too). */
static uv_mutex_t lock;
static uv_once_t lock_once = UV_ONCE_INIT;

static void lock_init(void)
{
        if (uv_mutex_init(&lock) != 0)
                abort();        /* no mutex: nothing here can be checked safely */
}

static const char *str(json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

/* A sender's value as a refusal may quote it: letters, digits and . _ -,
 * at most 32 of them (a reason is read by people and matched by kind; it
 * must not carry the sender's own sentences). */
static const char *quote(const char *v, char *buf, size_t n)
{
        size_t k = 0;

        if (!v)
                return "(none)";
        for (; v[k] && k + 1 < n && k < 32; k++)
                buf[k] = (strchr("._-", v[k]) || (v[k] >= '0' && v[k] <= '9') || (v[k] >= 'a' && v[k] <= 'z') ||
                          (v[k] >= 'A' && v[k] <= 'Z')) ? v[k] : '?';
        buf[k] = '\0';
        if (v[k] && k >= 3)
                memcpy(buf + k - 3, "...", 3);
        return buf;
}

static bool same(const char *a, const char *b)
{
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int authority_route(const catalog *cat, const char *origin, const char *matter, const char *bundle,
                    struct authority_route *ret, char *err, size_t errlen)
{
        const struct cat_division *div = catalog_find_division(cat, origin);
        const struct cat_matter *m = catalog_find_matter(cat, matter);
        char qm[40], qb[40];

        memset(ret, 0, sizeof *ret);
        if (!div) {
                snprintf(err, errlen, "%s is not a division of the catalogue", quote(origin, qm, sizeof qm));
                return -EPERM;
        }
        if (!m) {
                snprintf(err, errlen, "the catalogue has no matter %s", quote(matter, qm, sizeof qm));
                return -EPERM;
        }
        if (bundle) {
                const struct cat_bundle *b = catalog_find_bundle(cat, bundle);
                bool in = false;
                for (size_t i = 0; b && i < b->nmatters && !in; i++)
                        in = b->matters[i] == m;
                if (!b || !in) {
                        snprintf(err, errlen, "the catalogue has no bundle %s holding matter %s",
                                 quote(bundle, qb, sizeof qb), quote(matter, qm, sizeof qm));
                        return -EPERM;
                }
                if (!catalog_bundle_may_accept(b, div)) {
                        snprintf(err, errlen, "the catalogue does not delegate bundle %s to %s",
                                 quote(bundle, qb, sizeof qb), origin);
                        return -EPERM;
                }
        } else if (!catalog_may_accept(m, div)) {
                snprintf(err, errlen, "the catalogue does not delegate matter %s to %s", quote(matter, qm, sizeof qm),
                         origin);
                return -EPERM;
        }
        ret->matter = m;
        ret->reviewer = m->review_at ? catalog_division_at(div, m->review_at) : NULL;
        ret->decider = catalog_division_at(div, m->decide_at);
        if (!ret->decider || (m->review_at && !ret->reviewer)) {
                snprintf(err, errlen, "the catalogue's division tree has no office above %s to handle matter %s",
                         origin, matter);
                return -EPERM;
        }
        return 0;
}

/* An app.created: every field that carries authority must be what the
 * catalogue version it names derives for its origin. */
static int check_created(struct home *h, const struct cs_event *e, json_t *b, char *err, size_t errlen)
{
        const char *version = str(b, "catalog"), *matter = str(b, "matter");
        struct authority_route rt;
        char why[256], qm[40], qv[40], qg[40];

        if (!version || !matter) {
                snprintf(err, errlen, "%s's application %s names no catalogue version or matter: refused, for its"
                         " reviewer, decider and time limit follow from them", e->node, e->app);
                return -EPERM;
        }
        version = quote(version, qv, sizeof qv);
        const catalog *cat = home_catalog_for(h, str(b, "catalog"));
        if (!cat) {
                snprintf(err, errlen, "%s's application %s was captured under catalogue version %.12s, which has not"
                         " reached this node yet; it is taken once the version arrives (sync with the county)",
                         e->node, e->app, version);
                return -EAGAIN;
        }
        if (!str(b, "bundle") != !str(b, "bundle_code")) {
                snprintf(err, errlen, "%s's application %s is refused: it names a bundle without its code, or a code"
                         " without a bundle", e->node, e->app);
                return -EPERM;
        }
        if (authority_route(cat, e->node, matter, str(b, "bundle_code"), &rt, why, sizeof why) < 0) {
                snprintf(err, errlen, "%s's application %s is refused: %s (catalogue version %.12s)", e->node, e->app,
                         why, version);
                return -EPERM;
        }
        const char *field = NULL, *want = NULL, *got = NULL;
        char wl[32], gl[32];
        json_t *tl = json_object_get(b, "time_limit");
        if (!same(str(b, "origin"), e->node))
                field = "origin", want = e->node, got = str(b, "origin");
        else if (!same(str(b, "reviewer"), rt.reviewer ? rt.reviewer->code : NULL))
                field = "reviewer", want = rt.reviewer ? rt.reviewer->code : "(none)", got = str(b, "reviewer");
        else if (!same(str(b, "decider"), rt.decider->code))
                field = "decider", want = rt.decider->code, got = str(b, "decider");
        else if (!json_is_integer(tl) || json_integer_value(tl) != rt.matter->time_limit_days) {
                snprintf(wl, sizeof wl, "%d", rt.matter->time_limit_days);
                snprintf(gl, sizeof gl, "%lld", json_is_integer(tl) ? (long long)json_integer_value(tl) : -1LL);
                field = "time_limit", want = wl, got = json_is_integer(tl) ? gl : NULL;
        } else if (!same(str(b, "matter_name"), rt.matter->name_zh))
                field = "matter_name", want = rt.matter->name_zh, got = str(b, "matter_name");
        if (field) {
                snprintf(err, errlen, "%s's application %s (matter %s) is refused: its %s is %s, but catalogue version"
                         " %.12s gives %s. An application's origin, reviewer, decider, time limit and name follow"
                         " from the county's catalogue, not from the station", e->node, e->app, quote(matter, qm, sizeof qm),
                         field, quote(got, qg, sizeof qg), version, want);
                return -EPERM;
        }
        return 0;
}

int authority_admit(void *ud, const struct cs_event *e, char *err, size_t errlen)
{
        struct home *h = ud;
        int r = 0;

        if (!e->app || strcmp(e->type, "app.created") != 0)
                return 0;       /* the rest is the fold's: status and office, from what was created */
        json_t *b = json_loads(e->body, 0, NULL);
        if (!json_is_object(b)) {
                json_decref(b);
                return 0;       /* the fold records it as a conflict */
        }
        uv_once(&lock_once, lock_init);
        uv_mutex_lock(&lock);
        r = check_created(h, e, b, err, errlen);
        uv_mutex_unlock(&lock);
        json_decref(b);
        return r;
}

void authority_trust(struct home *h, const struct roster *ro, struct feed_trust *ret)
{
        /* whole: a field left out (catch_up_own) must be false, not the stack's */
        *ret = (struct feed_trust){ .ro = ro, .admit = authority_admit, .ud = h };
}
