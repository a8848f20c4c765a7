/* A watchdog for a link that goes silent; see netwatch.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#ifndef _WIN32
#include <pthread.h>
#include <signal.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/netwatch.h"
#include "agent/cli.h"
#include "agent/console.h"
#ifdef _WIN32
#include <uv.h>
#include <windows.h>

#include "sync/netidle.h"
#endif
#include "sync/platform.h"        /* last: on Windows its names are macros */

#define IDLE_DEFAULT_S 90

#ifdef _WIN32
/* Windows: libgit2's WinHTTP transport waits without a time limit too,
 * and no signal interrupts a call waiting in it. The HTTP(S) transport
 * is the timed one (sync/netidle.c), and a thread looks once a second
 * how long its read or write under way has waited; past the limit it
 * says the farewell the caller set, as the caller would have, and ends
 * the process with exit 1: every sync step is crash-safe, and nothing
 * after the silent call would be tried in this round anyway. Without a
 * farewell (a caller that may not end the process) the watch only
 * waits. */
struct netwatch {
        uv_thread_t thread;
        uv_mutex_t mu;
        uv_cond_t cv;
        unsigned idle_s;
        bool stop;
        char *en, *zh;
};

static void watch(void *arg)
{
        struct netwatch *w = arg;

        uv_mutex_lock(&w->mu);
        while (!w->stop) {
                uv_cond_timedwait(&w->cv, &w->mu, 1000000000ull);
                if (!w->stop && w->en && netidle_blocked_ms() >= (uint64_t)w->idle_s * 1000) {
                        cli_error_both(w->en, w->zh);
                        fflush(stderr);
                        TerminateProcess(GetCurrentProcess(), EXIT_REFUSED);
                }
        }
        uv_mutex_unlock(&w->mu);
}

struct netwatch *netwatch_start(unsigned idle_s)
{
        struct netwatch *w;

        if (netidle_install() < 0 || !(w = calloc(1, sizeof *w)))
                return NULL;
        w->idle_s = idle_s ? idle_s : 1;
        if (uv_mutex_init(&w->mu) < 0) {
                free(w);
                return NULL;
        }
        if (uv_cond_init(&w->cv) < 0) {
                uv_mutex_destroy(&w->mu);
                free(w);
                return NULL;
        }
        if (uv_thread_create(&w->thread, watch, w) < 0) {
                uv_cond_destroy(&w->cv);
                uv_mutex_destroy(&w->mu);
                free(w);
                return NULL;
        }
        return w;
}

void netwatch_farewell(struct netwatch *w, const char *en, const char *zh)
{
        if (!w)
                return;
        uv_mutex_lock(&w->mu);
        free(w->en);
        free(w->zh);
        w->en = strdup(en);
        w->zh = strdup(zh);
        if (!w->en || !w->zh) {
                free(w->en);
                free(w->zh);
                w->en = w->zh = NULL;
        }
        uv_mutex_unlock(&w->mu);
}

bool netwatch_fired(const struct netwatch *w)
{
        (void)w;
        return false;   /* when it fires, the process ends */
}

void netwatch_stop(struct netwatch *w)
{
        if (!w)
                return;
        uv_mutex_lock(&w->mu);
        w->stop = true;
        uv_cond_signal(&w->cv);
        uv_mutex_unlock(&w->mu);
        uv_thread_join(&w->thread);
        uv_cond_destroy(&w->cv);
        uv_mutex_destroy(&w->mu);
        free(w->en);
        free(w->zh);
        free(w);
}
#else
struct netwatch {
        pthread_t watched, thread;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        char task[64];                  /* /proc/self/task/TID */
        unsigned idle_s;
        bool stop;
        volatile bool fired;
};

static void on_alarm(int sig)
{
        (void)sig;      /* only to make the blocked call return EINTR */
}

/* How much the watched thread has done: its context switches (it wakes
 * each time data arrives on the socket it waits on, which its I/O
 * counters do not show: recv and send are not counted there), its CPU
 * time and the bytes its read and write calls moved. A thread blocked
 * on a silent socket moves none of them. -1 if unreadable. */
static long long activity(const char *task)
{
        char path[96], buf[1024];
        long long sum = 0, v;
        unsigned long long ut = 0, st = 0;
        int found = 0;
        FILE *f;

        snprintf(path, sizeof path, "%s/status", task);
        if (!(f = fopen(path, "re")))
                return -1;
        while (fgets(buf, sizeof buf, f))
                if (sscanf(buf, "voluntary_ctxt_switches: %lld", &v) == 1 ||
                    sscanf(buf, "nonvoluntary_ctxt_switches: %lld", &v) == 1) {
                        sum += v;
                        found++;
                }
        fclose(f);
        snprintf(path, sizeof path, "%s/stat", task);
        if ((f = fopen(path, "re"))) {
                if (fgets(buf, sizeof buf, f)) {
                        const char *p = strrchr(buf, ')');
                        /* after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
                         * cmajflt utime stime */
                        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
                                sum += (long long)(ut + st);
                }
                fclose(f);
        }
        snprintf(path, sizeof path, "%s/io", task);
        if ((f = fopen(path, "re"))) {
                while (fgets(buf, sizeof buf, f))
                        if (sscanf(buf, "rchar: %lld", &v) == 1 || sscanf(buf, "wchar: %lld", &v) == 1)
                                sum += v;
                fclose(f);
        }
        return found == 2 ? sum : -1;
}

static time_t mono_s(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return t.tv_sec;
}

static void *watch(void *arg)
{
        struct netwatch *w = arg;
        long long last = activity(w->task), now;
        time_t quiet_since = mono_s();
        struct timespec until;

        /* the monotonic clock: a PC's wall clock set right by hours (NTP
         * on a machine with a dead CMOS battery) neither fires the watch
         * nor keeps it from firing */
        pthread_mutex_lock(&w->mu);
        while (!w->stop) {
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_sec += 1;
                pthread_cond_timedwait(&w->cv, &w->mu, &until);
                if (w->stop)
                        break;
                now = activity(w->task);
                if (now != last) {
                        last = now;
                        quiet_since = mono_s();
                } else if (mono_s() - quiet_since >= (time_t)w->idle_s) {
                        w->fired = true;
                        pthread_kill(w->watched, SIGALRM);
                }
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

struct netwatch *netwatch_start(unsigned idle_s)
{
        struct netwatch *w = calloc(1, sizeof *w);
        struct sigaction sa;

        if (!w)
                return NULL;
        snprintf(w->task, sizeof w->task, "/proc/self/task/%d", (int)gettid());
        if (activity(w->task) < 0) {
                free(w);
                return NULL;
        }
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;       /* no SA_RESTART */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
        w->watched = pthread_self();
        w->idle_s = idle_s ? idle_s : 1;
        pthread_mutex_init(&w->mu, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cv, &ca);
        pthread_condattr_destroy(&ca);
        if (pthread_create(&w->thread, NULL, watch, w) != 0) {
                pthread_mutex_destroy(&w->mu);
                pthread_cond_destroy(&w->cv);
                free(w);
                return NULL;
        }
        return w;
}

bool netwatch_fired(const struct netwatch *w)
{
        return w && w->fired;
}

void netwatch_stop(struct netwatch *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
}

void netwatch_farewell(struct netwatch *w, const char *en, const char *zh)
{
        (void)w;        /* the interrupted call returns: the caller says it */
        (void)en;
        (void)zh;
}

#endif

unsigned netwatch_idle_limit(void)
{
        const char *e = console_getenv("DAIBAN_SYNC_IDLE_S");
        char *end;
        unsigned long v;

        if (!e || !*e)
                return IDLE_DEFAULT_S;
        errno = 0;
        v = strtoul(e, &end, 10);
        return errno || *end || v == 0 || v > 86400 ? IDLE_DEFAULT_S : (unsigned)v;
}
