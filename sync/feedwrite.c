/* Writing this node's feeds: its events not yet on a feed become
 * change-set commits, signed, on refs/feeds/<partition>/<self>. See
 * feed.h and docs/change-set.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/store-int.h"
#include "sync/changeset.h"
#include "sync/feed.h"
#include "sync/feed-int.h"
#include "sync/signed.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

static char *col_dup(sqlite3_stmt *st, int i)
{
        const unsigned char *t = sqlite3_column_text(st, i);
        return t ? strdup((const char *)t) : NULL;
}

static int commit_batch(git_repository *repo, const char *ref, const git_oid *parent, bool has_parent,
                        const struct changeset *cs, const struct sshsig_key *key, feed_log_fn log, void *ud)
{
        char *hdr = NULL, *evs = NULL, msg[256];
        size_t hl, el;
        git_oid hb, eb, tree_id, commit_id;
        git_treebuilder *tb = NULL;
        git_tree *tree = NULL;
        git_signature *sig = NULL;
        int r = changeset_build(cs, &hdr, &hl, &evs, &el);

        if (r < 0)
                return r;
        r = -EIO;
        if (git_blob_create_from_buffer(&hb, repo, hdr, hl) < 0 || git_blob_create_from_buffer(&eb, repo, evs, el) < 0 ||
            git_treebuilder_new(&tb, repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, "changeset.json", &hb, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_insert(NULL, tb, "events.jsonl", &eb, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0)
                goto out;
        /* the writer and the time of its last event: the same events make
         * the same commit */
        if (git_signature_new(&sig, cs->writer, "daiban@localhost", cs->ev[cs->n - 1].wall_ms / 1000, 0) < 0)
                goto out;
        snprintf(msg, sizeof msg, "change set: %zu events of %s in partition %s (seq %" PRId64 "..%" PRId64 ")\n",
                 cs->n, cs->writer, cs->partition, cs->ev[0].seq, cs->ev[cs->n - 1].seq);
        if (signed_commit(repo, ref, has_parent ? parent : NULL, sig, msg, tree, key, &commit_id) < 0)
                goto out;
        r = 0;
out:
        if (r < 0 && log)
                log(ud, "cannot write the change set on %s: %s", ref, gerr());
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        free(hdr);
        free(evs);
        return r;
}

int feed_commit_local(store *s, git_repository *repo, const char *self, const struct sshsig_key *key,
                      struct feed_report *rep, feed_log_fn log, void *ud)
{
        sqlite3 *db = store_db(s);
        sqlite3_stmt *parts = NULL, *evq = NULL;
        int r = 0;

        /* a restored home signs nothing before it has caught up: its
         * events may already be on a feed it has not fetched back */
        if (store_restore_pending(s))
                return 0;
        if (sqlite3_prepare_v2(db, "SELECT DISTINCT part FROM events WHERE node = ? ORDER BY part", -1, &parts, NULL) ||
            sqlite3_prepare_v2(db, "SELECT node, seq, hlc, wall, operator, type, app, part, body FROM events"
                               " WHERE node = ?1 AND part = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4", -1, &evq, NULL)) {
                sqlite3_finalize(parts);
                return -EIO;
        }
        sqlite3_bind_text(parts, 1, self, -1, SQLITE_STATIC);
        while (r == 0 && sqlite3_step(parts) == SQLITE_ROW) {
                char part[32], ref[128];
                snprintf(part, sizeof part, "%s", (const char *)sqlite3_column_text(parts, 0));
                snprintf(ref, sizeof ref, FEED_PREFIX "%s/%s", part, self);
                for (;;) {
                        struct changeset cs = { 0 };
                        int64_t last;
                        git_oid head;
                        bool exists;

                        if (feed_last_seq(repo, ref, &last, &head, &exists) < 0) {
                                if (log)
                                        log(ud, "the feed %s cannot be read; it was not extended", ref);
                                r = -EIO;
                                break;
                        }
                        sqlite3_bind_text(evq, 1, self, -1, SQLITE_STATIC);
                        sqlite3_bind_text(evq, 2, part, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(evq, 3, last);
                        sqlite3_bind_int64(evq, 4, CHANGESET_MAX_EVENTS);
                        cs.writer = strdup(self);
                        cs.partition = strdup(part);
                        cs.ev = calloc(CHANGESET_MAX_EVENTS, sizeof *cs.ev);
                        while (cs.ev && sqlite3_step(evq) == SQLITE_ROW) {
                                struct cs_event *e = &cs.ev[cs.n++];
                                e->node = col_dup(evq, 0);
                                e->seq = sqlite3_column_int64(evq, 1);
                                e->hlc = (uint64_t)sqlite3_column_int64(evq, 2);
                                e->wall_ms = sqlite3_column_int64(evq, 3);
                                e->operator = col_dup(evq, 4);
                                e->type = col_dup(evq, 5);
                                e->app = col_dup(evq, 6);
                                e->part = col_dup(evq, 7);
                                e->body = col_dup(evq, 8);
                        }
                        sqlite3_reset(evq);
                        if (!cs.ev || !cs.writer || !cs.partition) {
                                changeset_free(&cs);
                                r = -ENOMEM;
                                break;
                        }
                        if (cs.n == 0) {
                                changeset_free(&cs);
                                break;
                        }
                        r = commit_batch(repo, ref, &head, exists, &cs, key, log, ud);
                        if (r == 0 && rep) {
                                rep->committed++;
                                rep->committed_events += (long)cs.n;
                        }
                        changeset_free(&cs);
                        if (r < 0)
                                break;
                }
        }
        sqlite3_finalize(parts);
        sqlite3_finalize(evq);
        return r;
}
