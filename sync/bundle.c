/* USB bundles: git bundle v2 files carrying feeds, scan chains, the
 * catalogue and the roster between nodes without a link. Export writes
 * one atomically; import checks its header, indexes its pack into the
 * quarantine and offers its refs as incoming. See bundle.h and
 * docs/sync.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms/division.h"
#include "sync/bundle.h"
#include "sync/durable.h"
#include "sync/incoming.h"
#include "sync/platform.h"

static const char *gerr(void)
{
        const git_error *e = git_error_last();
        return e && e->message ? e->message : "unknown git error";
}

#define BUNDLE_SIG "# v2 git bundle\n"

/* refs/catalog/<county>: the county's catalogue chain (sync/catfeed.h) */
static bool is_catalog_ref(const char *name)
{
        const char *c = name + strlen(CATFEED_PREFIX);
        return strncmp(name, CATFEED_PREFIX, strlen(CATFEED_PREFIX)) == 0 && division_code_level(c) == 1;
}

/* refs/roster/<county>: the county's key roster (sync/roster.h) */
static bool is_roster_ref(const char *name)
{
        const char *c = name + strlen(ROSTER_PREFIX);
        return strncmp(name, ROSTER_PREFIX, strlen(ROSTER_PREFIX)) == 0 && division_code_level(c) == 1;
}

int feed_bundle_parse_header(const char *data, size_t len, char ***ret_names, git_oid **ret_ids, size_t *ret_n,
                             size_t *ret_pack_off, char *err, size_t errlen)
{
        size_t off = strlen(BUNDLE_SIG), n = 0;
        char **names = NULL;
        git_oid *ids = NULL;

        if (len < off || memcmp(data, BUNDLE_SIG, off) != 0) {
                snprintf(err, errlen, "not a git bundle (version 2)");
                return -EINVAL;
        }
        for (;;) {
                const char *nl = memchr(data + off, '\n', len - off);
                size_t l;
                if (!nl) {
                        snprintf(err, errlen, "the bundle's header is truncated");
                        goto bad;
                }
                l = (size_t)(nl - (data + off));
                if (l == 0) {
                        off++;
                        break;
                }
                if (data[off] == '-') {
                        snprintf(err, errlen, "the bundle needs prerequisite commits; daiban writes complete bundles");
                        goto bad;
                }
                if (l < 42 || l > 200 || data[off + 40] != ' ' || n >= 100000) {
                        snprintf(err, errlen, "bad line in the bundle's header");
                        goto bad;
                }
                char hex[41], name[201];
                memcpy(hex, data + off, 40);
                hex[40] = '\0';
                memcpy(name, data + off + 41, l - 41);
                name[l - 41] = '\0';
                char part[32], writer[32];
                git_oid id;
                /* check the hex here: libgit2 reports a bad id through its
                 * error state, which needs git_libgit2_init */
                if (strspn(hex, "0123456789abcdef") != 40 || git_oid_fromstr(&id, hex) < 0 ||
                    ((!feed_parse_ref(name, part, sizeof part, writer, sizeof writer) ||
                      strncmp(name, FEED_PREFIX, strlen(FEED_PREFIX)) != 0) && !is_catalog_ref(name) &&
                     !is_roster_ref(name) &&
                     (!scan_parse_ref(name, part, sizeof part, writer, sizeof writer) ||
                      strncmp(name, SCAN_PREFIX, strlen(SCAN_PREFIX)) != 0))) {
                        snprintf(err, errlen, "the bundle holds '%s', which is not a feed", name);
                        goto bad;
                }
                char **nn = realloc(names, (n + 1) * sizeof *names);
                git_oid *ni = nn ? realloc(ids, (n + 1) * sizeof *ids) : NULL;
                if (nn)
                        names = nn;
                if (!ni || !(names[n] = strdup(name))) {
                        if (ni)
                                ids = ni;
                        snprintf(err, errlen, "out of memory");
                        goto bad;
                }
                ids = ni;
                ids[n++] = id;
                off += l + 1;
        }
        if (off + 12 > len || memcmp(data + off, "PACK", 4) != 0) {
                snprintf(err, errlen, "the bundle's pack is missing or truncated");
                goto bad;
        }
        *ret_names = names;
        *ret_ids = ids;
        *ret_n = n;
        *ret_pack_off = off;
        return 0;
bad:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(ids);
        return -EINVAL;
}

int feed_bundle_export(git_repository *repo, const char *dir, const char *self, const char *target, long *ret_refs,
                       feed_log_fn log, void *ud)
{
        git_reference_iterator *it = NULL;
        git_reference *ref;
        git_packbuilder *pb = NULL;
        git_revwalk *walk = NULL;
        git_buf pack = { 0 };
        char *hdr = NULL, path[4096], tmp[4200];
        size_t hlen = 0, hcap = 0;
        long nrefs = 0;
        FILE *f = NULL;
        int r = -EIO;

        *ret_refs = 0;
        char county_ref[64], roster_ref[64], county[7];
        catfeed_county(target, county);
        snprintf(county_ref, sizeof county_ref, CATFEED_PREFIX "%s", county);
        snprintf(roster_ref, sizeof roster_ref, ROSTER_PREFIX "%s", county);
        if (git_packbuilder_new(&pb, repo) < 0 || git_revwalk_new(&walk, repo) < 0 ||
            git_reference_iterator_glob_new(&it, repo, "refs/*") < 0)
                goto out;
        hdr = strdup(BUNDLE_SIG);
        hlen = hcap = strlen(BUNDLE_SIG);
        while (hdr && git_reference_next(&ref, it) == 0) {
                char part[32], writer[32], line[256];
                const git_oid *id = git_reference_target(ref);
                /* what the target may hold: its partition and those below
                 * it, and its county's catalogue */
                if (id && ((strncmp(git_reference_name(ref), FEED_PREFIX, strlen(FEED_PREFIX)) == 0 &&
                            feed_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                            feed_entitled(target, part)) ||
                           (strncmp(git_reference_name(ref), SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0 &&
                            scan_parse_ref(git_reference_name(ref), part, sizeof part, writer, sizeof writer) &&
                            feed_entitled(target, part)) ||
                           strcmp(git_reference_name(ref), county_ref) == 0 ||
                           strcmp(git_reference_name(ref), roster_ref) == 0)) {
                        char hex[GIT_OID_HEXSZ + 1];
                        int l = snprintf(line, sizeof line, "%s %s\n", git_oid_tostr(hex, sizeof hex, id),
                                         git_reference_name(ref));
                        if (hlen + (size_t)l + 2 > hcap) {
                                char *nh = realloc(hdr, (hlen + (size_t)l + 2) * 2);
                                if (!nh) {
                                        git_reference_free(ref);
                                        goto out;
                                }
                                hdr = nh;
                                hcap = (hlen + (size_t)l + 2) * 2;
                        }
                        memcpy(hdr + hlen, line, (size_t)l);
                        hlen += (size_t)l;
                        if (git_revwalk_push(walk, id) < 0) {
                                git_reference_free(ref);
                                goto out;
                        }
                        nrefs++;
                }
                git_reference_free(ref);
        }
        if (!hdr)
                goto out;
        hdr[hlen++] = '\n';
        if (git_packbuilder_insert_walk(pb, walk) < 0 || git_packbuilder_write_buf(&pack, pb) < 0)
                goto out;
        snprintf(path, sizeof path, "%s/daiban-%s-to-%s.bundle", dir, self, target);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "wb");
        /* readable on the next machine, whose user is another (a stick
         * formatted ext4): the file leaves this PC by hand either way */
        if (f)
                fchmod(fileno(f), 0644);
        if (!f || fwrite(hdr, 1, hlen, f) != hlen || fwrite(pack.ptr, 1, pack.size, f) != pack.size ||
            fflush(f) != 0 || fsync(fileno(f)) < 0) {
                if (log)
                        log(ud, "cannot write %s", tmp);
                goto out;
        }
        fclose(f);
        f = NULL;
        if (rename(tmp, path) < 0 || durable_sync_parent(path) < 0) {
                if (log)
                        log(ud, "cannot write %s", path);
                goto out;
        }
        *ret_refs = nrefs;
        r = 0;
out:
        if (r < 0 && log && git_error_last())
                log(ud, "bundle export failed: %s", gerr());
        if (f) {
                fclose(f);
                unlink(tmp);
        }
        git_buf_dispose(&pack);
        free(hdr);
        git_reference_iterator_free(it);
        git_revwalk_free(walk);
        git_packbuilder_free(pb);
        return r;
}

static int import_one(git_repository *repo, const char *path, const char *sender, feed_log_fn log, void *ud)
{
        char err[256], **names = NULL;
        git_oid *ids = NULL;
        size_t n = 0, off;
        git_odb *odb = NULL;
        git_odb_writepack *wp = NULL;
        git_indexer_progress stats = { 0 };
        struct stat sb;
        char *data = NULL;
        FILE *f = NULL;
        int r = -EINVAL, bad = 0;

        if (stat(path, &sb) < 0 || (size_t)sb.st_size > FEED_BUNDLE_MAX) {
                if (log)
                        log(ud, "refused %s: larger than %u MiB or unreadable", path, FEED_BUNDLE_MAX >> 20);
                return -EINVAL;
        }
        data = malloc((size_t)sb.st_size + 1);
        f = fopen(path, "rb");
        if (!data || !f || fread(data, 1, (size_t)sb.st_size, f) != (size_t)sb.st_size) {
                if (log)
                        log(ud, "cannot read %s", path);
                goto out;
        }
        if (feed_bundle_parse_header(data, (size_t)sb.st_size, &names, &ids, &n, &off, err, sizeof err) < 0) {
                if (log)
                        log(ud, "refused %s: %s", path, err);
                goto out;
        }
        if (feed_incoming_odb(repo, &odb) < 0 || git_odb_write_pack(&wp, odb, NULL, NULL) < 0 ||
            wp->append(wp, data + off, (size_t)sb.st_size - off, &stats) < 0 || wp->commit(wp, &stats) < 0) {
                if (log)
                        log(ud, "refused %s: its pack is corrupt or truncated (%s)", path, gerr());
                goto out;
        }
        r = 0;
        for (size_t i = 0; i < n && r == 0; i++) {
                char inc[256];
                git_reference *ref = NULL;
                git_object *obj = NULL;
                if (git_object_lookup(&obj, repo, &ids[i], GIT_OBJECT_COMMIT) < 0) {
                        if (log)
                                log(ud, "refused %s: %s points to a commit the bundle lacks", path, names[i]);
                        r = -EINVAL;
                        break;
                }
                git_object_free(obj);
                /* a stick carries only what its sender may hold (the
                 * signatures are checked when the feeds are accepted) */
                char part[32], writer[32];
                if ((feed_split_ref(names[i], FEED_PREFIX, FEED_PREFIX, part, sizeof part, writer, sizeof writer) ||
                     scan_parse_ref(names[i], part, sizeof part, writer, sizeof writer)) &&
                    !feed_entitled(sender, part)) {
                        if (log)
                                log(ud, "refused %s from %s: %s may not carry partition %s", names[i], path, sender,
                                    part);
                        bad++;
                        continue;
                }
                if (is_catalog_ref(names[i]))
                        snprintf(inc, sizeof inc, CATFEED_INCOMING "%s", names[i] + strlen(CATFEED_PREFIX));
                else if (is_roster_ref(names[i]))
                        snprintf(inc, sizeof inc, ROSTER_INCOMING "%s", names[i] + strlen(ROSTER_PREFIX));
                else if (strncmp(names[i], SCAN_PREFIX, strlen(SCAN_PREFIX)) == 0)
                        snprintf(inc, sizeof inc, SCAN_INCOMING "%s", names[i] + strlen(SCAN_PREFIX));
                else
                        snprintf(inc, sizeof inc, FEED_INCOMING "%s", names[i] + strlen(FEED_PREFIX));
                if (git_reference_create(&ref, feed_incoming_repo(repo), inc, &ids[i], 1, "daiban: bundle import") < 0)
                        r = -EIO;
                git_reference_free(ref);
        }
out:
        if (wp)
                wp->free(wp);
        git_odb_free(odb);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        free(ids);
        if (f)
                fclose(f);
        free(data);
        return r < 0 ? r : bad > 0;
}

int feed_bundle_import(git_repository *repo, const char *dir, const char *self, char ***ret_senders, size_t *ret_n,
                       feed_log_fn log, void *ud)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        char suffix[64];
        int r = 0;

        *ret_senders = NULL;
        *ret_n = 0;
        if (!d) {
                if (log)
                        log(ud, "cannot open %s", dir);
                return -EIO;
        }
        snprintf(suffix, sizeof suffix, "-to-%s.bundle", self);
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name), sl = strlen(suffix);
                char path[4096], sender[32];
                if (l <= sl + 7 || strncmp(e->d_name, "daiban-", 7) != 0 || strcmp(e->d_name + l - sl, suffix) != 0)
                        continue;
                if (l - sl - 7 >= sizeof sender)
                        continue;
                memcpy(sender, e->d_name + 7, l - sl - 7);
                sender[l - sl - 7] = '\0';
                if (!division_code_valid(sender))
                        continue;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                int ir = import_one(repo, path, sender, log, ud);
                if (ir < 0) {
                        r = -EINVAL;
                        continue;
                }
                if (ir > 0)
                        r = -EINVAL;    /* refs it may not carry were left out; the rest went in */
                char **ns = realloc(*ret_senders, (*ret_n + 1) * sizeof **ret_senders);
                if (ns) {
                        *ret_senders = ns;
                        if ((ns[*ret_n] = strdup(sender)))
                                (*ret_n)++;
                }
        }
        closedir(d);
        return r;
}
