/* The Windows service's side of the Service Control Manager (Windows
 * only; `daiban service`, agent/cmd-service.c). Nothing here prints:
 * what fails comes back in err, in both languages. */
#ifndef DAIBAN_AGENT_WINSERVICE_H
#define DAIBAN_AGENT_WINSERVICE_H

#include <stdbool.h>
#include <stddef.h>

/* Why a call failed, in English and Chinese (cli_error_both). */
struct winservice_err {
        char en[512];
        char zh[512];
};

/* The service as installed. */
struct winservice_spec {
        const char *name;               /* "daiban" */
        const char *display;            /* shown in services.msc */
        const char *description;
        const char *account;            /* "NT AUTHORITY\\LocalService" */
        const char *command_line;       /* what the SCM starts (UTF-8) */
        unsigned restart_ms;            /* after a failure, start again */
};

/* Create the service (or update one already there) to start with
 * Windows, as spec->account, restarting spec->restart_ms after a failure
 * (also when it stops with an error), and start it unless start is
 * false. 0, or -1 with err. */
int winservice_install(const struct winservice_spec *spec, bool start, struct winservice_err *err);

/* Stop the service (waiting up to wait_ms for it to stop) and delete it.
 * 0; 1 when there is no such service; -1 with err. */
int winservice_uninstall(const char *name, unsigned wait_ms, struct winservice_err *err);

/* Run body(argc, argv) as the service name, in the process the SCM
 * started: reports START_PENDING, then RUNNING, and STOPPED with body's
 * exit code when it returns. STOP and SHUTDOWN report STOP_PENDING and
 * call daemon_stop_request() (agent/daemon-stop.h); when body has not
 * returned stop_ms later, STOPPED is reported and the process ends.
 * Started, stdout and stderr go to the end of the file log_path (a
 * service has no console). Returns body's exit code; -1 with err when
 * the SCM did not start this process (run from a command line). */
int winservice_run(const char *name, int (*body)(int argc, char **argv), int argc, char **argv, unsigned stop_ms,
                   const char *log_path, struct winservice_err *err);

/* Give dir (made if absent, with its missing parents) a protected
 * access list: full control for LocalService and Administrators only,
 * inherited by everything in it. Folders this call made get the same
 * list. 0, or -1 with err. */
int winservice_protect(const char *dir, struct winservice_err *err);


#endif
