/* The catalogue loader's memory: one arena per catalogue for everything
 * the model points to (freed at once), string-keyed hash maps for lookups
 * by code (open addressing, so loading stays linear in the size of the
 * sheets), and growable vectors for rows while a sheet is read. See
 * catalog-int.h. */
#include "forms/catalog-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena -------------------------------------------------------- */

struct arena_block {
        struct arena_block *next;
        size_t used, size;
        max_align_t data[];
};

void *cat_arena_alloc(struct arena *a, size_t n)
{
        struct arena_block *b = a->head;

        n = (n + 15) & ~(size_t)15;
        if (!b || b->size - b->used < n) {
                size_t size = n > 65536 ? n : 65536;
                b = malloc(sizeof *b + size);
                if (!b) {
                        a->oom = true;
                        return NULL;
                }
                b->next = a->head;
                b->used = 0;
                b->size = size;
                a->head = b;
        }
        void *p = (char *)b->data + b->used;
        b->used += n;
        memset(p, 0, n);
        return p;
}

/* A copy of s in the arena. Out of memory, it returns an empty string
 * and marks the arena: the loader then goes on harmlessly to its end,
 * where catalog_load sees the mark and fails with -ENOMEM. */
char *cat_arena_strndup(struct arena *a, const char *s, size_t n)
{
        static char empty[1];
        char *p = cat_arena_alloc(a, n + 1);

        if (!p)
                return empty;
        memcpy(p, s, n);
        p[n] = '\0';
        return p;
}

void *cat_arena_dup(struct arena *a, const void *src, size_t n)
{
        void *p = n ? cat_arena_alloc(a, n) : NULL;

        if (p)
                memcpy(p, src, n);
        return p;
}

void cat_arena_free(struct arena *a)
{
        while (a->head) {
                struct arena_block *n = a->head->next;
                free(a->head);
                a->head = n;
        }
}

/* ---- a string-keyed hash map (open addressing) --------------------- */

static uint64_t hash_str(const char *s)
{
        uint64_t h = 1469598103934665603ull;   /* FNV-1a */

        while (*s)
                h = (h ^ (unsigned char)*s++) * 1099511628211ull;
        return h;
}

void *cat_map_get(const struct map *m, const char *key)
{
        if (!m->cap)
                return NULL;
        for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
                if (!m->keys[i])
                        return NULL;
                if (strcmp(m->keys[i], key) == 0)
                        return m->vals[i];
        }
}

/* Insert key (borrowed, must outlive the map). Returns 0, -EEXIST, -ENOMEM. */
int cat_map_add(struct map *m, const char *key, void *val)
{
        if ((m->n + 1) * 2 > m->cap) {
                size_t cap = m->cap ? m->cap * 2 : 64;
                struct map nm = { calloc(cap, sizeof(char *)), calloc(cap, sizeof(void *)), 0, cap };
                if (!nm.keys || !nm.vals) {
                        free(nm.keys);
                        free(nm.vals);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < m->cap; i++)
                        if (m->keys[i])
                                cat_map_add(&nm, m->keys[i], m->vals[i]);
                free(m->keys);
                free(m->vals);
                *m = nm;
        }
        size_t i = hash_str(key) & (m->cap - 1);
        for (; m->keys[i]; i = (i + 1) & (m->cap - 1))
                if (strcmp(m->keys[i], key) == 0)
                        return -EEXIST;
        m->keys[i] = key;
        m->vals[i] = val;
        m->n++;
        return 0;
}

void cat_map_free(struct map *m)
{
        free(m->keys);
        free(m->vals);
        memset(m, 0, sizeof *m);
}

/* ---- growable vectors ------------------------------------------------ */

void *cat_vec_push(struct vec *v)
{
        if (v->n == v->cap) {
                size_t cap = v->cap ? v->cap * 2 : 8;
                void *nv = realloc(v->v, cap * v->size);
                if (!nv)
                        return NULL;
                v->v = nv;
                v->cap = cap;
        }
        void *p = (char *)v->v + v->n++ * v->size;
        memset(p, 0, v->size);
        return p;
}

/* Undo the last cat_vec_push (when a push that goes with it failed). */
void cat_vec_unpush(struct vec *v, const void *p)
{
        if (p)
                v->n--;
}

void *cat_vec_freeze(struct arena *a, const struct vec *v, size_t *ret_n)
{
        void *p = cat_arena_dup(a, v->v, v->n * v->size);

        *ret_n = p ? v->n : 0;
        return p;
}
