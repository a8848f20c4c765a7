/* Tests of sync/repack.c: packing keeps every object, reachable or not
 * (scans are blobs no tree names), removes only what it listed and
 * packed, leaves a push's kept pack alone, merges packs into one, and a
 * cancelled packing removes nothing. A reader opened before the packing
 * still finds everything after it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#include "sync/durable.h"
#include "sync/repack.h"
#include "sync/platform.h"
#include "tests/harness.h"

#define MAXOBJ 64

struct objs {
        git_oid id[MAXOBJ];
        char data[MAXOBJ][48];
        size_t n;
};

/* count blobs, none named by a tree (a scan's pieces) */
static int add_blobs(git_repository *repo, struct objs *o, size_t count, const char *tag)
{
        for (size_t i = 0; i < count && o->n < MAXOBJ; i++, o->n++) {
                snprintf(o->data[o->n], sizeof o->data[o->n], "%s piece %zu of a scan", tag, i);
                if (git_blob_create_from_buffer(&o->id[o->n], repo, o->data[o->n], strlen(o->data[o->n])) < 0)
                        return -1;
        }
        return 0;
}

/* one blob in a tree in a commit on refs/feeds/x: reachable */
static int add_commit(git_repository *repo, struct objs *o, git_oid *commit)
{
        git_treebuilder *tb = NULL;
        git_signature *sig = NULL;
        git_tree *tree = NULL;
        git_oid tid;
        int r = -1;

        if (add_blobs(repo, o, 1, "events") < 0 || git_treebuilder_new(&tb, repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, "events", &o->id[o->n - 1], GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_write(&tid, tb) < 0 || git_tree_lookup(&tree, repo, &tid) < 0 ||
            git_signature_new(&sig, "t", "t@example.org", 1700000000, 0) < 0 ||
            git_commit_create(commit, repo, "refs/feeds/x", sig, sig, NULL, "change set", tree, 0, NULL) < 0)
                goto out;
        r = 0;
out:
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        return r;
}

/* every blob reads back whole through repo */
static int all_there(git_repository *repo, const struct objs *o)
{
        for (size_t i = 0; i < o->n; i++) {
                git_blob *b = NULL;
                if (git_blob_lookup(&b, repo, &o->id[i]) < 0)
                        return (int)i + 1;
                bool same = git_blob_rawsize(b) == strlen(o->data[i]) &&
                            memcmp(git_blob_rawcontent(b), o->data[i], strlen(o->data[i])) == 0;
                git_blob_free(b);
                if (!same)
                        return (int)i + 1;
        }
        return 0;
}

static git_repository *fresh(const char *name)
{
        char path[4096];
        git_repository *repo = NULL;

        snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
        if (git_repository_init(&repo, path, 1) < 0 || durable_prepare_repo(path) < 0)
                return NULL;
        return repo;
}

static const char *dir_of(git_repository *repo)
{
        static char d[4096];
        snprintf(d, sizeof d, "%s", git_repository_path(repo));
        return d;
}

TEST(loose_objects_are_packed_reachable_or_not)
{
        git_libgit2_init();
        git_repository *repo = fresh("a"), *reader = NULL;
        struct objs o = { .n = 0 };
        struct repack_report rep;
        size_t loose, packs;
        git_oid commit;
        char err[256];

        CHECK(repo);
        CHECK_INT(add_blobs(repo, &o, 10, "a"), ==, 0);
        CHECK_INT(add_commit(repo, &o, &commit), ==, 0);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(loose, ==, 13);       /* 11 blobs, a tree, a commit */
        CHECK_INT(packs, ==, 0);
        /* a reader that opened the repository before, as a fetch would have */
        CHECK_INT(git_repository_open_bare(&reader, dir_of(repo)), ==, 0);
        CHECK_INT(all_there(reader, &o), ==, 0);

        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.loose, ==, 13);
        CHECK_INT(rep.objects, ==, 13);
        CHECK_INT(rep.merged, ==, 0);
        CHECK(rep.pack[0]);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(loose, ==, 0);
        CHECK_INT(packs, ==, 1);
        /* the scans nobody references are kept, and the reader finds all */
        CHECK_INT(all_there(reader, &o), ==, 0);
        git_commit *c = NULL;
        CHECK_INT(git_commit_lookup(&c, reader, &commit), ==, 0);
        git_commit_free(c);
        git_repository_free(reader);

        /* nothing loose: nothing written */
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK(!rep.pack[0]);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

TEST(packs_merge_into_one_but_a_kept_pack_is_left_alone)
{
        git_libgit2_init();
        git_repository *repo = fresh("b"), *again = NULL;
        struct objs o = { .n = 0 };
        struct repack_report rep;
        size_t loose, packs;
        char err[256], tag[8], keep[4096 + 64];

        CHECK(repo);
        for (int round = 0; round < 3; round++) {
                snprintf(tag, sizeof tag, "r%d", round);
                CHECK_INT(add_blobs(repo, &o, 5, tag), ==, 0);
                CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
                CHECK_INT(rep.loose, ==, 5);
        }
        /* a push's pack, still kept by receive-pack */
        CHECK_INT(add_blobs(repo, &o, 4, "pushed"), ==, 0);
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        snprintf(keep, sizeof keep, "%sobjects/pack/pack-%s.keep", dir_of(repo), rep.pack);
        FILE *f = fopen(keep, "w");
        CHECK(f);
        fclose(f);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(packs, ==, 3);        /* the kept one is not counted */
        CHECK_INT(add_blobs(repo, &o, 2, "late"), ==, 0);

        CHECK_INT(repack_run(repo, true, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.merged, ==, 3);
        CHECK_INT(rep.loose, ==, 2);
        CHECK_INT(rep.objects, ==, 17); /* 3 x 5 merged, 2 loose; not the kept 4 */
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(loose, ==, 0);
        CHECK_INT(packs, ==, 1);
        CHECK(access(keep, F_OK) == 0);
        /* a new handle, reading only what is on disk now */
        CHECK_INT(git_repository_open_bare(&again, dir_of(repo)), ==, 0);
        CHECK_INT(all_there(again, &o), ==, 0);
        git_repository_free(again);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

TEST(a_cancelled_packing_removes_nothing)
{
        git_libgit2_init();
        git_repository *repo = fresh("c");
        struct objs o = { .n = 0 };
        struct repack_report rep;
        size_t loose, packs;
        atomic_bool cancel = true;
        char err[256];

        CHECK(repo);
        CHECK_INT(add_blobs(repo, &o, 6, "c"), ==, 0);
        CHECK_INT(repack_run(repo, false, &cancel, &rep, err, sizeof err), ==, -ECANCELED);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(loose, ==, 6);
        CHECK_INT(packs, ==, 0);
        CHECK_INT(all_there(repo, &o), ==, 0);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

TEST(empty_ref_folders_are_pruned_and_refs_kept)
{
        git_libgit2_init();
        git_repository *repo = fresh("d");
        struct objs o = { .n = 0 };
        git_oid commit;
        char path[4096 + 64], dir[4096];

        CHECK(repo);
        snprintf(dir, sizeof dir, "%s", dir_of(repo));
        CHECK_INT(add_commit(repo, &o, &commit), ==, 0);     /* refs/feeds/x, loose */
        /* what packing the refs leaves: empty folders of partitions */
        for (int i = 0; i < 5; i++) {
                snprintf(path, sizeof path, "%srefs/feeds/33022510%d", dir, i);
                CHECK_INT(mkdir(path, 0755), ==, 0);
                snprintf(path, sizeof path, "%srefs/feeds/33022510%d/33022510%d201", dir, i, i);
                CHECK_INT(mkdir(path, 0755), ==, 0);
        }
        CHECK_INT(git_reference_create(NULL, repo, "refs/feeds/330225101/330225101", &commit, 0, "t"), ==, 0);
        CHECK_INT(repack_prune_ref_dirs(dir), ==, 9);   /* 5 writers' folders, 4 partitions' */
        snprintf(path, sizeof path, "%srefs/feeds/330225101/330225101", dir);
        CHECK(access(path, F_OK) == 0);
        snprintf(path, sizeof path, "%srefs/feeds/330225100", dir);
        CHECK(access(path, F_OK) != 0);
        snprintf(path, sizeof path, "%srefs/heads", dir);
        CHECK(access(path, F_OK) == 0);
        snprintf(path, sizeof path, "%srefs/tags", dir);
        CHECK(access(path, F_OK) == 0);
        /* the repository still opens, and its refs resolve */
        git_repository *again = NULL;
        git_oid got;
        CHECK_INT(git_repository_open_bare(&again, dir), ==, 0);
        CHECK_INT(git_reference_name_to_id(&got, again, "refs/feeds/x"), ==, 0);
        CHECK(git_oid_equal(&got, &commit));
        CHECK_INT(git_reference_name_to_id(&got, again, "refs/feeds/330225101/330225101"), ==, 0);
        git_repository_free(again);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

TEST(a_listing_keeps_objects_where_they_are)
{
        git_libgit2_init();
        git_repository *repo = fresh("e");
        struct objs o = { .n = 0 };
        struct repack_report rep;
        size_t loose, packs;
        char err[256];

        CHECK(repo);
        CHECK_INT(add_blobs(repo, &o, 7, "e"), ==, 0);
        /* a backup lists every object meanwhile */
        int lk = repack_lock(dir_of(repo), false);
        CHECK(lk >= 0);
        CHECK_INT(repack_lock(dir_of(repo), true), ==, -EWOULDBLOCK);
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK(rep.pack[0]);             /* packed, */
        CHECK_INT(rep.loose, ==, 0);    /* but nothing removed */
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(loose, ==, 7);
        CHECK_INT(packs, ==, 1);
        repack_unlock(lk);
        /* the next packing removes them */
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.loose, ==, 7);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(loose, ==, 0);
        CHECK_INT(all_there(repo, &o), ==, 0);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

TEST(a_large_pack_waits_until_the_rest_reach_half_its_size)
{
        git_libgit2_init();
        git_repository *repo = fresh("f");
        struct objs o = { .n = 0 };
        struct repack_report rep;
        size_t loose, packs;
        char err[256], big[8192];
        git_oid id;

        CHECK(repo);
        /* one big pack: incompressible bytes */
        for (int k = 0; k < 4; k++) {
                for (size_t i = 0; i < sizeof big; i++)
                        big[i] = (char)(rand() & 0xff);
                CHECK_INT(git_blob_create_from_buffer(&id, repo, big, sizeof big), ==, 0);
        }
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        char large[64];
        snprintf(large, sizeof large, "%s", rep.pack);
        /* two small ones */
        CHECK_INT(add_blobs(repo, &o, 3, "s1"), ==, 0);
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(add_blobs(repo, &o, 3, "s2"), ==, 0);
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(packs, ==, 3);
        CHECK_INT(repack_run(repo, true, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.merged, ==, 2);   /* the small ones only */
        CHECK_INT(rep.objects, ==, 6);
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(packs, ==, 2);
        char path[4096 + 64];
        snprintf(path, sizeof path, "%sobjects/pack/pack-%s.pack", dir_of(repo), large);
        CHECK(access(path, F_OK) == 0);
        CHECK_INT(all_there(repo, &o), ==, 0);
        git_repository_free(repo);
        git_libgit2_shutdown();
}

static off_t pack_size(git_repository *repo, const char *name)
{
        char path[4096 + 128];
        struct stat sb;

        snprintf(path, sizeof path, "%sobjects/pack/pack-%s.pack", dir_of(repo), name);
        return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* Scans (blobs that do not compress) go into a pack of their own with no
 * delta search; text still gets its deltas. Twenty near-copies of each:
 * with deltas either pack would hold one copy and nineteen small deltas. */
TEST(scans_are_packed_apart_with_no_delta_search)
{
        git_libgit2_init();
        git_repository *repo = fresh("g");
        struct repack_report rep;
        enum { COPIES = 20, SIZE = 32 << 10 };
        static char scan[SIZE], text[SIZE];
        git_oid ids[2 * COPIES];
        char err[256];

        CHECK(repo);
        srand(7);
        for (size_t i = 0; i < SIZE; i++)
                scan[i] = (char)(rand() & 0xff);
        static const char line[] = "{\"node\":\"330225101202\",\"seq\":";
        for (size_t i = 0; i < SIZE; i++)       /* JSON-like lines, each its own */
                text[i] = i % 64 == 63 ? '\n' : line[i % (sizeof line - 1)] ^ (char)((i / 64) % 7 == 0);
        for (int k = 0; k < COPIES; k++) {
                scan[k * 97] ^= 0x5a;           /* each copy differs in a byte */
                memcpy(text + k * 97 + 1, (char[]){ '#', (char)('a' + k), '#' }, 3);
                CHECK_INT(git_blob_create_from_buffer(&ids[k], repo, scan, SIZE), ==, 0);
                CHECK_INT(git_blob_create_from_buffer(&ids[COPIES + k], repo, text, SIZE), ==, 0);
        }
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.objects, ==, 2 * COPIES);
        CHECK_INT(rep.stored, ==, COPIES);
        CHECK(rep.pack[0] && rep.stored_pack[0]);
        /* the scans' pack holds every copy whole: no delta was searched */
        CHECK(pack_size(repo, rep.stored_pack) >= (off_t)COPIES * SIZE);
        /* the text's pack has its deltas: far less than its copies deflated */
        CHECK(pack_size(repo, rep.pack) < (off_t)SIZE);
        for (int k = 0; k < 2 * COPIES; k++) {
                git_blob *b = NULL;
                CHECK_INT(git_blob_lookup(&b, repo, &ids[k]), ==, 0);
                CHECK_INT((long)git_blob_rawsize(b), ==, SIZE);
                git_blob_free(b);
        }
        /* twelve more scans (a pack over half the first scans' pack) and a
         * change set, then a merge of all the packs: the scans come out
         * apart again (the change set makes the other pack a new one: one
         * the same as a pack there, and open, cannot replace it on Windows) */
        git_oid one;
        CHECK_INT(git_blob_create_from_buffer(&one, repo, "a change set", 12), ==, 0);
        for (int k = 0; k < 12; k++) {
                scan[k * 89 + 1] ^= 0x33;
                CHECK_INT(git_blob_create_from_buffer(&ids[k], repo, scan, SIZE), ==, 0);
        }
        CHECK_INT(repack_run(repo, false, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.stored, ==, 12);
        CHECK_INT(repack_run(repo, true, NULL, &rep, err, sizeof err), ==, 0);
        CHECK_INT(rep.merged, ==, 4);
        CHECK_INT(rep.objects, ==, 2 * COPIES + 12 + 1);
        CHECK_INT(rep.stored, ==, COPIES + 12);
        CHECK(pack_size(repo, rep.stored_pack) >= (off_t)(COPIES + 12) * SIZE);
        CHECK(pack_size(repo, rep.pack) < (off_t)SIZE);
        size_t loose, packs;
        CHECK_INT(repack_count(dir_of(repo), &loose, &packs), ==, 0);
        CHECK_INT(packs, ==, 2);
        git_repository_free(repo);
        git_libgit2_shutdown();
}
