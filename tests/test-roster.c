/* Tests of the roster chain (sync/roster.c) in its layout of a file per
 * node: enrollments written on a roster read lazily keep every other
 * node's file; a node verifies the chain from its root, or from a commit
 * verified before, to the same roster; a commit is checked by the files
 * it changes (a malformed or misnamed file, or a county key's signature
 * missing, refuses the chain); a file removed drops that node. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

#include "sync/refs.h"
#include "sync/roster.h"
#include "sync/signed.h"
#include "sync/store.h"
#include "tests/harness.h"

#define COUNTY "330225"
#define VILLAGES 40
#define REF ROSTER_PREFIX COUNTY

struct world {
        git_repository *repo;
        store *county;                  /* the county's store: it writes */
        struct sshsig_key ck;           /* the county's key */
        struct sshsig_key vk[VILLAGES];
        char village[VILLAGES][16];
        git_oid after[VILLAGES];        /* the chain's tip after each enrollment */
        char dir[4096];
};

static store *fresh_store(struct world *w, const char *name)
{
        char path[4200], err[256];
        store *s = NULL;

        snprintf(path, sizeof path, "%s/%s.db", w->dir, name);
        remove(path);
        return store_open(path, true, &s, err, sizeof err) == 0 ? s : NULL;
}

/* The county's own roster, then VILLAGES enrollments, each as the hall
 * makes one: the roster read at the tip, one entry added, written. */
static int make_world(struct world *w, const char *name)
{
        struct roster ro = { 0 };
        struct roster_entry e = { 0 };
        char path[4200], err[512];

        memset(w, 0, sizeof *w);
        snprintf(w->dir, sizeof w->dir, "%s/%s", test_tmpdir(), name);
        snprintf(path, sizeof path, "%s/repo", w->dir);
        if (git_repository_init(&w->repo, path, 1) < 0 || !(w->county = fresh_store(w, "county")) ||
            sshsig_keygen(&w->ck) < 0)
                return -1;
        snprintf(ro.county, sizeof ro.county, COUNTY);
        snprintf(e.node, sizeof e.node, COUNTY);
        memcpy(e.pk, w->ck.pk, sizeof e.pk);
        e.from = 1;
        snprintf(e.by, sizeof e.by, "test");
        if (roster_add(&ro, &e) < 0 || roster_commit(w->county, w->repo, &ro, &w->ck, "roster: county\n", err,
                                                     sizeof err) < 0) {
                fprintf(stderr, "%s\n", err);
                return -1;
        }
        roster_free(&ro);
        for (int i = 0; i < VILLAGES; i++) {
                bool present = false;
                snprintf(w->village[i], sizeof w->village[i], COUNTY "1%02d2%02d", i % 7, i);
                if (sshsig_keygen(&w->vk[i]) < 0 ||
                    roster_open(w->county, w->repo, COUNTY, &ro, &present, err, sizeof err) < 0 || !present ||
                    !ro.lazy || roster_lists(&ro, w->village[i])) {
                        fprintf(stderr, "open %d: %s\n", i, err);
                        return -1;
                }
                snprintf(e.node, sizeof e.node, "%s", w->village[i]);
                memcpy(e.pk, w->vk[i].pk, sizeof e.pk);
                e.from = 1 + i;
                if (roster_add(&ro, &e) < 0 ||
                    roster_commit(w->county, w->repo, &ro, &w->ck, "roster: enroll\n", err, sizeof err) < 0 ||
                    git_reference_name_to_id(&w->after[i], w->repo, REF) < 0) {
                        fprintf(stderr, "enroll %d: %s\n", i, err);
                        return -1;
                }
                roster_free(&ro);
        }
        return 0;
}

static void free_world(struct world *w)
{
        store_close(w->county);
        git_repository_free(w->repo);
}

static size_t node_files(git_repository *repo, const char *rev)
{
        git_object *o = NULL;
        size_t n = 0;

        if (git_revparse_single(&o, repo, rev) == 0 && git_object_type(o) == GIT_OBJECT_TREE)
                n = git_tree_entrycount((git_tree *)o);
        git_object_free(o);
        return n;
}

/* Every village, as the roster at hand gives it. */
static int all_there(struct world *w, const struct roster *ro)
{
        for (int i = 0; i < VILLAGES; i++) {
                const struct roster_entry *x = roster_find(ro, w->village[i], w->vk[i].pk);
                char err[512];
                if (!x || x->from != 1 + i || roster_began(ro, w->village[i]) != 1 + i ||
                    roster_check(ro, w->village[i], 1 + i, 1 + i, true, w->vk[i].pk, err, sizeof err) != 0 ||
                    roster_check(ro, w->village[i], 1 + i, 1 + i, true, w->vk[(i + 1) % VILLAGES].pk, err, sizeof err) == 0)
                        return i;
        }
        return -1;
}

TEST(enrollments_on_a_lazy_roster_keep_every_other_file)
{
        struct world w;
        struct roster ro = { 0 };
        bool present = false;
        char err[512];

        git_libgit2_init();
        CHECK(make_world(&w, "lazy") == 0);
        /* each enrollment wrote one file over the tree it read */
        CHECK_INT(node_files(w.repo, REF ":nodes"), ==, VILLAGES + 1);
        CHECK_INT(node_files(w.repo, REF "~10:nodes"), ==, VILLAGES + 1 - 10);
        /* the county reads it lazily, and every node is found */
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0 && present);
        CHECK(ro.lazy != NULL);
        CHECK_INT(ro.n, ==, 1);         /* the county's entry, read at once */
        CHECK_INT(all_there(&w, &ro), ==, -1);
        CHECK(!roster_lists(&ro, COUNTY "199299"));
        CHECK(roster_load_all(&ro, err, sizeof err) == 0);
        CHECK(ro.lazy == NULL);
        CHECK_INT(ro.n, ==, VILLAGES + 1);
        CHECK_INT(all_there(&w, &ro), ==, -1);
        roster_free(&ro);
        free_world(&w);
}

TEST(verified_from_the_root_or_from_the_middle_the_roster_is_the_same)
{
        struct world w;
        struct roster ro = { 0 };
        bool present = false;
        char err[512], hex[GIT_OID_HEXSZ + 1];
        store *s;

        git_libgit2_init();
        CHECK(make_world(&w, "verify") == 0);
        /* a node that never verified it: from the root */
        CHECK((s = fresh_store(&w, "fresh")) != NULL);
        CHECK(roster_open(s, w.repo, w.village[3], &ro, &present, err, sizeof err) == 0 && present);
        CHECK(ro.lazy == NULL);         /* verified: read whole */
        CHECK_INT(ro.n, ==, VILLAGES + 1);
        CHECK_INT(all_there(&w, &ro), ==, -1);
        roster_free(&ro);
        /* verified once, it is read lazily at that tip */
        CHECK(roster_open(s, w.repo, w.village[3], &ro, &present, err, sizeof err) == 0 && ro.lazy);
        CHECK_INT(all_there(&w, &ro), ==, -1);
        roster_free(&ro);
        /* a node that verified up to the 15th enrollment: from there */
        CHECK(store_meta_set(s, "roster.verified", git_oid_tostr(hex, sizeof hex, &w.after[14])) == 0);
        CHECK(roster_open(s, w.repo, w.village[3], &ro, &present, err, sizeof err) == 0 && !ro.lazy);
        CHECK_INT(ro.n, ==, VILLAGES + 1);
        CHECK_INT(all_there(&w, &ro), ==, -1);
        roster_free(&ro);
        CHECK(roster_verify_update(w.repo, COUNTY, NULL, &w.after[5], &w.after[VILLAGES - 1], err, sizeof err) == 0);
        store_close(s);
        free_world(&w);
}

/* A commit on the chain's tip whose nodes/ tree is the tip's with one
 * file put in (name, text), signed by key. */
static int forge(struct world *w, const char *name, const char *text, const struct sshsig_key *key)
{
        git_object *o = NULL, *h = NULL;
        git_treebuilder *nb = NULL, *tb = NULL;
        git_tree *nodes, *tree = NULL;
        git_signature *sig = NULL;
        git_oid tip, blob, nid, tid, head, out;
        int r = -1;

        if (git_reference_name_to_id(&tip, w->repo, REF) < 0 || git_revparse_single(&o, w->repo, REF ":nodes") < 0 ||
            git_revparse_single(&h, w->repo, REF ":county.json") < 0)
                goto out;
        nodes = (git_tree *)o;
        git_oid_cpy(&head, git_object_id(h));
        git_object_free(h);
        if (git_blob_create_from_buffer(&blob, w->repo, text, strlen(text)) < 0 ||
            git_treebuilder_new(&nb, w->repo, nodes) < 0 ||
            git_treebuilder_insert(NULL, nb, name, &blob, GIT_FILEMODE_BLOB) < 0 || git_treebuilder_write(&nid, nb) < 0 ||
            git_treebuilder_new(&tb, w->repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, "county.json", &head, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_insert(NULL, tb, "nodes", &nid, GIT_FILEMODE_TREE) < 0 ||
            git_treebuilder_write(&tid, tb) < 0 || git_tree_lookup(&tree, w->repo, &tid) < 0 ||
            git_signature_new(&sig, COUNTY, "daiban@localhost", 1700000000, 0) < 0 ||
            signed_commit(w->repo, REF, &tip, sig, "roster: forged\n", tree, key, &out) < 0)
                goto out;
        r = 0;
out:
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        git_treebuilder_free(nb);
        git_object_free(o);
        return r;
}

/* Does a node that never verified the chain refuse it, saying `want`? */
static int refused_saying(struct world *w, const char *want)
{
        struct roster ro = { 0 };
        bool present = false;
        char err[512] = "";
        store *s = fresh_store(w, "judge");
        int r = s ? roster_open(s, w->repo, w->village[0], &ro, &present, err, sizeof err) : 0;

        roster_free(&ro);
        store_close(s);
        if (r != -EINVAL || !strstr(err, want)) {
                fprintf(stderr, "roster_open %d: %s (wanted: %s)\n", r, err, want);
                return 0;
        }
        return 1;
}

static int rewind_chain(struct world *w)
{
        git_reference *ref = NULL;
        int r = git_reference_create(&ref, w->repo, REF, &w->after[VILLAGES - 1], 1, "test: back") < 0 ? -1 : 0;

        git_reference_free(ref);
        return r;
}

TEST(a_commit_is_checked_by_the_files_it_changes)
{
        struct world w;
        char good[512], line[160];
        struct sshsig_key stranger;

        git_libgit2_init();
        CHECK(make_world(&w, "forged") == 0);
        CHECK(sshsig_keygen(&stranger) == 0);
        sshsig_pubkey_line(stranger.pk, NULL, line, sizeof line);
        snprintf(good, sizeof good, "{\"node\":\"%s\",\"entries\":[{\"key\":\"%s\",\"from\":1,\"until\":null,"
                 "\"by\":\"x\",\"at\":1}]}", w.village[2], line);
        /* the county's own key, but the file names another node */
        CHECK(forge(&w, "330225101299.json", good, &w.ck) == 0);
        CHECK(refused_saying(&w, "the roster's file of 330225101299 is malformed"));
        CHECK(rewind_chain(&w) == 0);
        /* a file that is no node's */
        CHECK(forge(&w, "README.json", "{}", &w.ck) == 0);
        CHECK(refused_saying(&w, "the roster names README, which is not a division of county 330225"));
        CHECK(rewind_chain(&w) == 0);
        CHECK(forge(&w, "README", "{}", &w.ck) == 0);
        CHECK(refused_saying(&w, "which is not a node's file"));
        CHECK(rewind_chain(&w) == 0);
        /* a well-formed change, signed by a key that is not the county's */
        char name[32];
        snprintf(name, sizeof name, "%s.json", w.village[2]);
        CHECK(forge(&w, name, good, &stranger) == 0);
        CHECK(refused_saying(&w, "which is not the county's key"));
        CHECK(rewind_chain(&w) == 0);
        /* the same change signed by the county's key is taken */
        snprintf(good, sizeof good, "{\"node\":\"330225101299\",\"entries\":[{\"key\":\"%s\",\"from\":1,"
                 "\"until\":null,\"by\":\"x\",\"at\":1}]}", line);
        CHECK(forge(&w, "330225101299.json", good, &w.ck) == 0);
        {
                struct roster ro = { 0 };
                bool present = false;
                char err[512];
                store *s = fresh_store(&w, "judge");
                CHECK(s && roster_open(s, w.repo, w.village[0], &ro, &present, err, sizeof err) == 0);
                CHECK(roster_find(&ro, "330225101299", stranger.pk) != NULL);
                CHECK_INT(ro.n, ==, VILLAGES + 2);
                roster_free(&ro);
                store_close(s);
        }
        free_world(&w);
}

TEST(a_whole_roster_written_again_drops_a_node_left_out)
{
        struct world w;
        struct roster ro = { 0 };
        bool present = false;
        char err[512];
        git_oid before;
        git_object *o = NULL;

        git_libgit2_init();
        CHECK(make_world(&w, "drop") == 0);
        CHECK(git_revparse_single(&o, w.repo, REF ":nodes/330225101201.json") == 0);
        git_oid_cpy(&before, git_object_id(o));
        git_object_free(o);
        /* as `daiban roster revoke` does: the whole roster, one entry ended */
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0);
        CHECK(roster_load_all(&ro, err, sizeof err) == 0);
        size_t k = 0;
        for (size_t i = 0; i < ro.n; i++) {
                if (strcmp(ro.e[i].node, w.village[5]) == 0)
                        ro.e[i].until = ro.e[i].from;
                if (strcmp(ro.e[i].node, w.village[6]) != 0)
                        ro.e[k++] = ro.e[i];    /* and one node left out */
        }
        ro.n = k;
        CHECK(roster_commit(w.county, w.repo, &ro, &w.ck, "roster: revoke\n", err, sizeof err) == 0);
        roster_free(&ro);
        CHECK_INT(node_files(w.repo, REF ":nodes"), ==, VILLAGES);
        /* the files not changed are the same blobs */
        CHECK(git_revparse_single(&o, w.repo, REF ":nodes/330225101201.json") == 0);
        CHECK(git_oid_equal(&before, git_object_id(o)));
        git_object_free(o);
        /* a node verifying the chain sees both changes */
        store *s = fresh_store(&w, "after");
        CHECK(s && roster_open(s, w.repo, w.village[0], &ro, &present, err, sizeof err) == 0);
        CHECK(!roster_lists(&ro, w.village[6]));
        CHECK(roster_check(&ro, w.village[5], 6, 6, true, w.vk[5].pk, err, sizeof err) == -EINVAL);
        CHECK(strstr(err, "ended at seq 6") != NULL);
        CHECK(roster_check(&ro, w.village[7], 8, 8, true, w.vk[7].pk, err, sizeof err) == 0);
        roster_free(&ro);
        store_close(s);
        free_world(&w);
}

/* A node's file that cannot be read is no node's consent: lookups find
 * nothing, and nothing is written on that roster (which would drop the
 * node's entries, revocations with them). */
TEST(a_file_that_cannot_be_read_fails_closed)
{
        struct world w;
        struct roster ro = { 0 };
        struct roster_entry e = { 0 };
        bool present = false;
        char err[512], rev[64], path[4400], hex[GIT_OID_HEXSZ + 1];
        git_object *o = NULL;
        git_oid before, after;

        git_libgit2_init();
        CHECK(make_world(&w, "broken") == 0);
        snprintf(rev, sizeof rev, REF ":nodes/%s.json", w.village[9]);
        CHECK(git_revparse_single(&o, w.repo, rev) == 0);
        git_oid_tostr(hex, sizeof hex, git_object_id(o));
        git_object_free(o);
        snprintf(path, sizeof path, "%s/repo/objects/%.2s/%s", w.dir, hex, hex + 2);
        chmod(path, 0600);              /* git writes objects read-only: Windows removes none such */
        CHECK(remove(path) == 0);
        CHECK(git_reference_name_to_id(&before, w.repo, REF) == 0);
        /* a fresh handle: nothing cached */
        git_repository_free(w.repo);
        snprintf(path, sizeof path, "%s/repo", w.dir);
        CHECK(git_repository_open(&w.repo, path) == 0);
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0 && ro.lazy);
        CHECK(!roster_lists(&ro, w.village[9]));
        CHECK(roster_check(&ro, w.village[9], 10, 10, true, w.vk[9].pk, err, sizeof err) == -EINVAL);
        CHECK(roster_lists(&ro, w.village[8]));
        /* the hall's enrollment of that node again is not written */
        snprintf(e.node, sizeof e.node, "%s", w.village[9]);
        memcpy(e.pk, w.vk[9].pk, sizeof e.pk);
        e.from = 50;
        snprintf(e.by, sizeof e.by, "hall");
        CHECK(roster_add(&ro, &e) == 0);
        CHECK(roster_commit(w.county, w.repo, &ro, &w.ck, "roster: enroll\n", err, sizeof err) == -EIO);
        CHECK(strstr(err, "cannot be read") != NULL);
        CHECK(roster_load_all(&ro, err, sizeof err) == -EIO);
        roster_free(&ro);
        CHECK(git_reference_name_to_id(&after, w.repo, REF) == 0);
        CHECK(git_oid_equal(&before, &after));
        free_world(&w);
}

/* The county never signs a roster its readers would refuse. */
TEST(the_writer_holds_the_readers_limits)
{
        struct world w;
        struct roster ro = { 0 };
        struct roster_entry e = { 0 };
        bool present = false;
        char err[512];
        git_oid before, after;

        git_libgit2_init();
        CHECK(make_world(&w, "limits") == 0);
        CHECK(git_reference_name_to_id(&before, w.repo, REF) == 0);
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0);
        snprintf(e.node, sizeof e.node, "%s", w.village[4]);
        snprintf(e.by, sizeof e.by, "op");
        snprintf(e.note, sizeof e.note, "%0200d", 0);
        for (int i = 0; i < 200; i++) {
                memset(e.pk, i + 1, sizeof e.pk);
                e.from = 100 + i;
                e.until = 101 + i;
                CHECK(roster_add(&ro, &e) == 0);
        }
        CHECK(roster_commit(w.county, w.repo, &ro, &w.ck, "roster: many\n", err, sizeof err) == -EINVAL);
        CHECK(strstr(err, "more keys on the roster than it may hold") != NULL);
        roster_free(&ro);
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0);
        snprintf(e.node, sizeof e.node, "330226101201");        /* another county's village */
        CHECK(roster_add(&ro, &e) == 0);
        CHECK(roster_commit(w.county, w.repo, &ro, &w.ck, "roster: other\n", err, sizeof err) == -EINVAL);
        CHECK(strstr(err, "not a division of county 330225") != NULL);
        roster_free(&ro);
        CHECK(git_reference_name_to_id(&after, w.repo, REF) == 0);
        CHECK(git_oid_equal(&before, &after));
        free_world(&w);
}

/* A county upgraded from 0.1.0: its chain begins with commits holding
 * the whole roster in roster.json (version 1); its next change is
 * written as version 2, and every node verifies the chain across both. */
TEST(a_chain_of_version_1_continues_as_version_2)
{
        struct world w;
        struct roster ro = { 0 };
        struct roster_entry e = { 0 };
        bool present = false;
        char err[512], path[4200], ck[160], vk[160], json[2048];
        git_treebuilder *tb = NULL;
        git_tree *tree = NULL;
        git_signature *sig = NULL;
        git_oid blob, tid, root;
        store *s;

        git_libgit2_init();
        memset(&w, 0, sizeof w);
        snprintf(w.dir, sizeof w.dir, "%s/v1", test_tmpdir());
        snprintf(path, sizeof path, "%s/repo", w.dir);
        CHECK(git_repository_init(&w.repo, path, 1) == 0);
        CHECK((w.county = fresh_store(&w, "county")) != NULL);
        CHECK(sshsig_keygen(&w.ck) == 0 && sshsig_keygen(&w.vk[0]) == 0 && sshsig_keygen(&w.vk[1]) == 0);
        sshsig_pubkey_line(w.ck.pk, NULL, ck, sizeof ck);
        sshsig_pubkey_line(w.vk[0].pk, NULL, vk, sizeof vk);
        snprintf(json, sizeof json, "{\"county\":\"" COUNTY "\",\"format\":\"daiban-roster\",\"version\":1,\"entries\":["
                 "{\"node\":\"" COUNTY "\",\"key\":\"%s\",\"from\":1,\"until\":null,\"by\":\"daiban init\",\"at\":1},"
                 "{\"node\":\"330225101201\",\"key\":\"%s\",\"from\":3,\"until\":null,\"by\":\"hall\",\"at\":2}]}",
                 ck, vk);
        CHECK(git_blob_create_from_buffer(&blob, w.repo, json, strlen(json)) == 0);
        CHECK(git_treebuilder_new(&tb, w.repo, NULL) == 0);
        CHECK(git_treebuilder_insert(NULL, tb, "roster.json", &blob, GIT_FILEMODE_BLOB) == 0);
        CHECK(git_treebuilder_write(&tid, tb) == 0 && git_tree_lookup(&tree, w.repo, &tid) == 0);
        CHECK(git_signature_new(&sig, COUNTY, "daiban@localhost", 1700000000, 0) == 0);
        CHECK(signed_commit(w.repo, REF, NULL, sig, "roster: the county's own key\n", tree, &w.ck, &root) == 0);
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        /* the county reads it (whole: version 1 has no node files) and
         * enrolls a second village: written as version 2 */
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0 && present);
        CHECK(roster_lists(&ro, "330225101201"));
        snprintf(e.node, sizeof e.node, "330225101202");
        memcpy(e.pk, w.vk[1].pk, sizeof e.pk);
        e.from = 1;
        snprintf(e.by, sizeof e.by, "hall");
        CHECK(roster_add(&ro, &e) == 0);
        CHECK(roster_commit(w.county, w.repo, &ro, &w.ck, "roster: enroll\n", err, sizeof err) == 0);
        roster_free(&ro);
        CHECK_INT(node_files(w.repo, REF ":nodes"), ==, 3);
        /* a station verifies both from the root */
        CHECK((s = fresh_store(&w, "station")) != NULL);
        CHECK(roster_open(s, w.repo, "330225101201", &ro, &present, err, sizeof err) == 0);
        CHECK_INT(ro.n, ==, 3);
        CHECK(roster_check(&ro, "330225101201", 3, 5, true, w.vk[0].pk, err, sizeof err) == 0);
        CHECK(roster_check(&ro, "330225101202", 1, 2, true, w.vk[1].pk, err, sizeof err) == 0);
        CHECK(roster_check(&ro, "330225101202", 1, 2, true, w.vk[0].pk, err, sizeof err) == -EINVAL);
        roster_free(&ro);
        /* and the county's next open is lazy at the version 2 tip */
        CHECK(roster_open(w.county, w.repo, COUNTY, &ro, &present, err, sizeof err) == 0 && ro.lazy);
        CHECK(roster_lists(&ro, "330225101201") && roster_lists(&ro, "330225101202"));
        roster_free(&ro);
        store_close(s);
        free_world(&w);
}
