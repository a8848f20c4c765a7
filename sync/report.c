/* A node's reports to the county (report.h). */
#include "sync/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sync/incoming.h"
#include "sync/signed.h"
#include "sync/platform.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown libgit2 error";
}

int report_commit(git_repository *repo, const char *self, const struct sshsig_key *key, const char *pending_path,
                  long *ret_lines, char *err, size_t errlen)
{
        char ref[96], msg[128], *buf = NULL;
        size_t len = 0, cap = REPORT_MAX_BYTES + 128;
        long lines = 0, left_out = 0;
        git_oid blob, tree_id, head, out;
        git_treebuilder *tb = NULL;
        git_tree *tree = NULL;
        git_signature *sig = NULL;
        FILE *f = fopen(pending_path, "r");
        char *line = NULL;
        size_t lcap = 0;
        ssize_t n;
        int r = -EIO;

        *ret_lines = 0;
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        if (!(buf = malloc(cap))) {
                fclose(f);
                return -ENOMEM;
        }
        while ((n = getline(&line, &lcap, f)) > 0) {
                if (line[n - 1] != '\n')
                        continue;                       /* a line cut by a crash */
                if (len + (size_t)n > REPORT_MAX_BYTES) {
                        left_out++;
                        continue;
                }
                memcpy(buf + len, line, (size_t)n);
                len += (size_t)n;
                lines++;
        }
        free(line);
        fclose(f);
        if (left_out)
                len += (size_t)snprintf(buf + len, cap - len,
                                        "{\"at\":%lld,\"node\":\"%.12s\",\"ref\":\"\",\"why\":\"%ld more refusals left"
                                        " out of this report\"}\n", (long long)time(NULL), self, left_out);
        if (!len) {
                free(buf);
                unlink(pending_path);
                return 0;
        }
        snprintf(ref, sizeof ref, REPORT_PREFIX "%s", self);
        bool has = git_reference_name_to_id(&head, repo, ref) == 0;
        if (git_blob_create_from_buffer(&blob, repo, buf, len) < 0 || git_treebuilder_new(&tb, repo, NULL) < 0 ||
            git_treebuilder_insert(NULL, tb, REPORT_FILE, &blob, GIT_FILEMODE_BLOB) < 0 ||
            git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0 ||
            git_signature_now(&sig, self, "daiban@localhost") < 0) {
                snprintf(err, errlen, "cannot write the report: %s", gerr());
                goto out;
        }
        snprintf(msg, sizeof msg, "report: %ld refusals noted at %s\n", lines, self);
        if (signed_commit(repo, ref, has ? &head : NULL, sig, msg, tree, key, &out) < 0) {
                snprintf(err, errlen, "cannot write the report: %s", gerr());
                goto out;
        }
        /* committed: the lines are in the chain now (a crash before this
         * sends them twice, never not at all) */
        unlink(pending_path);
        *ret_lines = lines;
        r = 0;
out:
        git_signature_free(sig);
        git_tree_free(tree);
        git_treebuilder_free(tb);
        free(buf);
        return r;
}

static void append_line(void *ud, const char *text)
{
        FILE *f = ud;

        fprintf(f, "%s\n", text);
}

int report_adopt(git_repository *repo, const char *self, const char *pending_path, char *err, size_t errlen)
{
        char inc_name[96], ref[96];
        git_oid inc, mine, base;
        git_reference *moved = NULL;
        int r = 0;

        snprintf(inc_name, sizeof inc_name, REPORT_INCOMING "%s", self);
        snprintf(ref, sizeof ref, REPORT_PREFIX "%s", self);
        if (feed_incoming_id(repo, inc_name, &inc) < 0)
                return 0;
        bool have = git_reference_name_to_id(&mine, repo, ref) == 0;
        if (have && (git_oid_equal(&mine, &inc) || git_graph_descendant_of(repo, &mine, &inc) == 1))
                goto out;       /* the hall has nothing this home lacks */
        /* the hall's is ahead, or the two went apart: this home's reports
         * after their common point go back to waiting */
        bool apart = have && git_graph_descendant_of(repo, &inc, &mine) != 1;
        bool has_base = apart && git_merge_base(&base, repo, &mine, &inc) == 0;
        if (apart) {
                FILE *f = fopen(pending_path, "a");
                if (!f || report_read(repo, has_base ? &base : NULL, &mine, append_line, f) < 0 || fflush(f) != 0 ||
                    fsync(fileno(f)) < 0) {
                        snprintf(err, errlen, "cannot keep this home's reports in %s: %s", pending_path,
                                 strerror(errno ? errno : EIO));
                        if (f)
                                fclose(f);
                        r = -EIO;
                        goto out;
                }
                fclose(f);
        }
        if (feed_quarantine_keep(repo, has_base ? &base : have && !apart ? &mine : NULL, &inc) < 0 ||
            git_reference_create(&moved, repo, ref, &inc, 1, "daiban: the hall's reports adopted") < 0) {
                snprintf(err, errlen, "cannot take the hall's copy of the reports: %s", gerr());
                r = -EIO;
        }
        git_reference_free(moved);
out:
        feed_incoming_drop(repo, inc_name);
        return r;
}

static int one_report(git_repository *repo, const git_commit *c, const git_blob **ret_blob, git_blob **keep, char *err,
                      size_t errlen)
{
        git_tree *t = NULL;
        const git_tree_entry *e;
        int r = -EINVAL;

        if (git_commit_tree(&t, c) < 0) {
                snprintf(err, errlen, "a report's tree is missing");
                return -EINVAL;
        }
        if (git_tree_entrycount(t) != 1 || !(e = git_tree_entry_byindex(t, 0)) ||
            strcmp(git_tree_entry_name(e), REPORT_FILE) != 0 || git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
                snprintf(err, errlen, "a report holds exactly one file, " REPORT_FILE);
        } else {
                git_odb *odb = NULL;
                size_t size = 0;
                git_object_t type;
                /* its size from the object's header, before reading it */
                if (git_repository_odb(&odb, repo) < 0 ||
                    git_odb_read_header(&size, &type, odb, git_tree_entry_id(e)) < 0) {
                        snprintf(err, errlen, "a report's file is missing");
                } else if (size > REPORT_MAX_BYTES) {
                        snprintf(err, errlen, "a report is larger than %u KiB", REPORT_MAX_BYTES / 1024);
                } else if (keep && git_blob_lookup(keep, repo, git_tree_entry_id(e)) < 0) {
                        snprintf(err, errlen, "a report's file cannot be read");
                } else {
                        if (keep)
                                *ret_blob = *keep;
                        r = 0;
                }
                git_odb_free(odb);
        }
        git_tree_free(t);
        return r;
}

int report_check(git_repository *repo, const git_oid *old, const git_oid *new, char *err, size_t errlen)
{
        git_oid id = *new;
        int k = 0;

        for (;;) {
                git_commit *c = NULL;
                if (!git_oid_is_zero(old) && git_oid_equal(&id, old))
                        return 0;
                if (++k > REPORT_MAX_COMMITS) {
                        snprintf(err, errlen, "more than %d new reports in one push", REPORT_MAX_COMMITS);
                        return -EINVAL;
                }
                if (git_commit_lookup(&c, repo, &id) < 0) {
                        snprintf(err, errlen, "a report commit is missing");
                        return -EINVAL;
                }
                unsigned np = git_commit_parentcount(c);
                int r = one_report(repo, c, NULL, NULL, err, errlen);
                if (r == 0 && (np > 1 || (np == 0 && !git_oid_is_zero(old)))) {
                        snprintf(err, errlen, "the reports are not one line of commits from the last one held");
                        r = -EINVAL;
                }
                if (r == 0 && np == 1)
                        id = *git_commit_parent_id(c, 0);
                git_commit_free(c);
                if (r < 0)
                        return r;
                if (np == 0)
                        return 0;
        }
}

int report_read(git_repository *repo, const git_oid *from, const git_oid *to,
                void (*line)(void *ud, const char *text), void *ud)
{
        git_revwalk *w = NULL;
        git_oid id;
        char err[128];
        int r = -EIO;

        if (git_revwalk_new(&w, repo) < 0 || git_revwalk_sorting(w, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
            git_revwalk_push(w, to) < 0 || (from && git_revwalk_hide(w, from) < 0))
                goto out;
        while (git_revwalk_next(&id, w) == 0) {
                git_commit *c = NULL;
                git_blob *b = NULL;
                const git_blob *blob = NULL;
                if (git_commit_lookup(&c, repo, &id) < 0)
                        goto out;
                if (one_report(repo, c, &blob, &b, err, sizeof err) == 0) {
                        const char *p = git_blob_rawcontent(blob), *end = p + git_blob_rawsize(blob);
                        while (p < end) {
                                const char *nl = memchr(p, '\n', (size_t)(end - p));
                                size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
                                char *text = strndup(p, l);
                                if (text) {
                                        line(ud, text);
                                        free(text);
                                }
                                p += l + 1;
                        }
                }
                git_blob_free(b);
                git_commit_free(c);
        }
        r = 0;
out:
        git_revwalk_free(w);
        return r;
}
