/* See throttle.h. */
#include "agent/throttle.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS 256               /* per table */
#define GOOD 4                  /* addresses an operator signed in from */
#define FORGET_MS (3600u * 1000u)

struct slot {
        char key[72];
        bool used, known, busy;
        unsigned n;             /* failures */
        uint64_t until, last;   /* ms */
        char good[GOOD][64];
        unsigned ngood;
};

struct throttle {
        struct slot op[SLOTS], ip[SLOTS];
};

struct throttle *throttle_new(void)
{
        return calloc(1, sizeof(struct throttle));
}

void throttle_free(struct throttle *t)
{
        free(t);
}

static void forget_old(struct slot *s, uint64_t now)
{
        if (s->n && now - s->last > FORGET_MS)
                s->n = 0, s->until = 0;
}

/* Is slot s worth keeping against a newcomer? A registered operator's
 * slot with failures or addresses to remember always is. */
static bool pinned(const struct slot *s, uint64_t now)
{
        return s->busy || (s->known && ((s->n && now - s->last <= FORGET_MS) || s->ngood));
}

/* The slot of key in table v (created unless create is false), or NULL
 * when the table is full of slots that must stay. */
static struct slot *find(struct slot *v, const char *key, bool known, bool create, uint64_t now)
{
        struct slot *victim = NULL;

        for (size_t i = 0; i < SLOTS; i++) {
                if (v[i].used && strcmp(v[i].key, key) == 0) {
                        forget_old(&v[i], now);
                        return &v[i];
                }
                if (pinned(&v[i], now))
                        continue;
                /* an empty slot, else the least recent of the others,
                 * unregistered names before registered operators */
                if (!victim || (!v[i].used && victim->used) ||
                    (v[i].used && victim->used &&
                     (v[i].known < victim->known || (v[i].known == victim->known && v[i].last < victim->last))))
                        victim = &v[i];
        }
        if (!create || !victim)
                return NULL;
        memset(victim, 0, sizeof *victim);
        victim->used = true;
        victim->known = known;
        strncpy(victim->key, key, sizeof victim->key - 1);
        return victim;
}

static unsigned wait_of(const struct slot *s, uint64_t now)
{
        return s && s->n >= 3 && s->until > now ? (unsigned)((s->until - now + 999) / 1000) : 0;
}

static bool is_good(const struct slot *s, const char *addr)
{
        for (unsigned i = 0; s && i < s->ngood && i < GOOD; i++)
                if (strcmp(s->good[i], addr) == 0)
                        return true;
        return false;
}

static unsigned note_failure(struct slot *s, uint64_t now)
{
        unsigned wait = 0;

        s->n++;
        if (s->n >= 3) {
                unsigned e = s->n - 2;
                wait = e >= 6 ? 60 : 1u << e;
        }
        s->last = now;
        s->until = now + wait * 1000ull;
        return wait;
}

unsigned throttle_begin(struct throttle *t, const char *op, bool known, const char *addr, uint64_t now)
{
        struct slot *o = find(t->op, op, known, true, now), *a = find(t->ip, addr, false, true, now);
        unsigned wait;

        if (!o || !a)
                return 60;      /* every slot is a registered operator's under attack */
        wait = wait_of(a, now);
        if (!is_good(o, addr) && wait_of(o, now) > wait)
                wait = wait_of(o, now);
        if (!wait && (o->busy || a->busy))
                wait = 1;
        if (!wait) {
                o->busy = a->busy = true;
                o->last = o->last > now ? o->last : now;
                a->last = a->last > now ? a->last : now;
        }
        return wait;
}

unsigned throttle_end(struct throttle *t, const char *op, bool known, const char *addr, bool ok, uint64_t now,
                      unsigned *ret_failures)
{
        struct slot *o = find(t->op, op, known, false, now), *a = find(t->ip, addr, false, false, now);
        unsigned w1 = 0, w2 = 0;

        if (o)
                o->busy = false;
        if (a)
                a->busy = false;
        if (ok) {
                if (a)
                        a->n = 0, a->until = 0;
                if (o && !is_good(o, addr)) {
                        strncpy(o->good[o->ngood % GOOD], addr, sizeof o->good[0] - 1);
                        o->good[o->ngood % GOOD][sizeof o->good[0] - 1] = '\0';
                        o->ngood++;
                }
        } else {
                if (o)
                        w1 = note_failure(o, now);
                if (a)
                        w2 = note_failure(a, now);
        }
        if (ret_failures)
                *ret_failures = o ? o->n : 0;
        return w1 > w2 ? w1 : w2;
}

void throttle_cancel(struct throttle *t, const char *op, bool known, const char *addr, uint64_t now)
{
        struct slot *o = find(t->op, op, known, false, now), *a = find(t->ip, addr, false, false, now);

        if (o)
                o->busy = false;
        if (a)
                a->busy = false;
}
