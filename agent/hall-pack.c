/* Packing the hall's objects (sync/repack.h): on a worker thread while
 * the hall serves, once enough loose objects or packs are there, and
 * `hall pack` by hand. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <git2.h>
#include <uv.h>

#include "agent/cli.h"
#include "agent/hall-int.h"
#include "agent/log.h"
#include "sync/repack.h"

/* On a worker thread, with a repository handle of its own: count the
 * loose objects and packs, and pack them when there are enough. Pushes,
 * fetches and ingests go on meanwhile (sync/repack.h says why that is
 * safe); it takes no lock. */
static void repack_work(uv_work_t *w)
{
        struct hall *H = w->data;
        git_repository *repo = NULL;

        memset(&H->rrep, 0, sizeof H->rrep);
        H->rerr[0] = '\0';
        if ((H->rr = repack_count(H->repo_dir, &H->rloose, &H->rpacks)) < 0) {
                char why[128];
                snprintf(H->rerr, sizeof H->rerr, "cannot count the objects: %s", strerror_r(-H->rr, why, sizeof why));
                return;
        }
        if (H->rloose < H->pack_loose && H->rpacks < HALL_MERGE_PACKS)
                return;
        if (git_repository_open_bare(&repo, H->repo_dir) < 0) {
                snprintf(H->rerr, sizeof H->rerr, "cannot open the repository: %s",
                         git_error_last() ? git_error_last()->message : "?");
                H->rr = -EIO;
                return;
        }
        H->rr = repack_run(repo, H->rpacks + 1 >= HALL_MERGE_PACKS, &H->stopping, &H->rrep, H->rerr, sizeof H->rerr);
        git_repository_free(repo);
}

static void repack_after(uv_work_t *w, int status)
{
        struct hall *H = w->data;
        const struct repack_report *rep = &H->rrep;

        (void)status;
        H->repacking = false;
        if (H->rr == -ECANCELED) {
                log_line("packing the objects: stopped (nothing was removed)");
        } else if (H->rr < 0) {
                log_line("packing the objects: %s (tried again in a minute)", H->rerr);
                H->repacked_at = uv_now(H->loop);
                H->objects_moved = true;
        } else if (rep->pack[0] || rep->stored_pack[0]) {
                if (rep->merged) {
                        /* libgit2 keeps a pack it read open, removed or not: the
                         * handles start afresh, or every merge would stay on disk
                         * (the ingest's when it next starts) */
                        hall_reopen(H, &H->repo);
                        H->reopen_wrepo = true;
                }
                char merged[48] = "";
                if (rep->merged)
                        snprintf(merged, sizeof merged, " and %zu packs", rep->merged);
                log_line("packed %zu loose objects%s into %s%s%s%s (%zu objects, %zu of them scans, with no delta"
                         " search)", rep->loose, merged, rep->pack[0] ? "pack-" : "", rep->pack,
                         rep->pack[0] && rep->stored_pack[0] ? " and pack-" : rep->stored_pack[0] ? "pack-" : "",
                         rep->stored_pack, rep->objects, rep->stored);
                H->repacked_at = uv_now(H->loop);
        }
}

/* Look at the objects when pushes or ingests added some; not within a
 * minute of the last packing, not while one runs, not once stopping. */
void hall_repack(struct hall *H)
{
        if (!H->pack_loose || H->repacking || H->stopping || !H->objects_moved)
                return;
        if (H->repacked_at && uv_now(H->loop) - H->repacked_at < HALL_PACK_PAUSE_MS)
                return;
        H->objects_moved = false;
        H->repacking = true;
        H->repack_work.data = H;
        if (uv_queue_work(H->loop, &H->repack_work, repack_work, repack_after) < 0)
                H->repacking = false;
}

void hall_limit_mapped(void)
{
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)HALL_PACK_MAPPED / 4);
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)HALL_PACK_MAPPED);
}

/* `hall pack [--merge]`: pack the repository's loose objects now, as the
 * running hall does on its own (--pack-loose); beside it or not. */
int hall_pack(int argc, char **argv)
{
        bool merge;
        struct home h;
        struct repack_report rep;
        git_repository *repo = NULL;
        char path[PATH_MAX + 8], err[512];
        int r;

        if ((r = hall_open_with_flag(argc, argv, "merge", &merge, &h)))
                return r;
        git_libgit2_init();
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        hall_limit_mapped();
        snprintf(path, sizeof path, "%s/repo", h.dir);
        r = EXIT_REFUSED;
        if (git_repository_open_bare(&repo, path) < 0) {
                cli_error(cli_msg("cannot open the repository %s: %s", "无法打开仓库 %s：%s"), path,
                          git_error_last() ? git_error_last()->message : "?");
        } else if (repack_run(repo, merge, NULL, &rep, err, sizeof err) < 0) {
                cli_error(cli_msg("cannot pack %s: %s", "无法打包 %s：%s"), path, err);
        } else {
                if (!rep.pack[0] && !rep.stored_pack[0])
                        printf("%s", cli_msg("nothing to pack\n", "没有需要打包的对象\n"));
                else if (!rep.stored_pack[0])
                        printf(cli_msg("packed %zu loose objects and %zu packs into pack-%s (%zu objects)\n",
                                       "已将 %zu 个松散对象和 %zu 个包打包为 pack-%s（共 %zu 个对象）\n"),
                               rep.loose, rep.merged, rep.pack, rep.objects);
                else
                        printf(cli_msg("packed %zu loose objects and %zu packs into %zu objects: %zu in pack-%s, %zu"
                                       " scans (no delta search) in pack-%s\n",
                                       "已将 %zu 个松散对象和 %zu 个包打包为 %zu 个对象：%zu 个在 pack-%s，%zu 个扫描件"
                                       "（不做增量压缩）在 pack-%s\n"),
                               rep.loose, rep.merged, rep.objects, rep.objects - rep.stored,
                               rep.pack[0] ? rep.pack : "(none)", rep.stored, rep.stored_pack);
                r = 0;
        }
        git_repository_free(repo);
        git_libgit2_shutdown();
        home_close(&h);
        return r;
}

