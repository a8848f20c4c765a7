/* The Windows service's side of the Service Control Manager: see
 * winservice.h and docs/windows.md ("The service"). Windows only. */
#include "agent/winservice.h"
#include "agent/daemon-stop.h"
#include "agent/log.h"
#include "forms/port.h"

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <wchar.h>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include "sync/platform.h"        /* last: on Windows its names are macros */

/* UTF-8 to a new UTF-16 string with '/' made '\', or NULL */
/* UTF-8 to a new UTF-16 string (forms/port.c's), with '/' made '\\'
 * when it is a path; NULL when s is not UTF-8 */
static wchar_t *widen(const char *s, bool path)
{
        wchar_t *w = port_widen(s);

        for (wchar_t *p = w; path && p && *p; p++)
                if (*p == L'/')
                        *p = L'\\';
        return w;
}

/* err := "<en> (Windows error N)", "<zh>（Windows 错误 N）"; -1 */
static int fail(struct winservice_err *err, const char *en, const char *zh, DWORD code)
{
        snprintf(err->en, sizeof err->en, "%s (Windows error %lu)", en, (unsigned long)code);
        snprintf(err->zh, sizeof err->zh, "%s（Windows 错误 %lu）", zh, (unsigned long)code);
        return -1;
}

/* err := en, zh; -1 */
static int say(struct winservice_err *err, const char *en, const char *zh)
{
        snprintf(err->en, sizeof err->en, "%s", en);
        snprintf(err->zh, sizeof err->zh, "%s", zh);
        return -1;
}

/* ---- install, uninstall ------------------------------------------------------------ */

/* Description and failure actions: restart spec->restart_ms after each
 * failure (the count reset after a day), a stop with an error exit code
 * counting as a failure too. */
static int configure(SC_HANDLE svc, const struct winservice_spec *spec, const wchar_t *desc, struct winservice_err *err)
{
        SERVICE_DESCRIPTIONW d = { (wchar_t *)desc };
        SC_ACTION act[3];
        SERVICE_FAILURE_ACTIONSW fa = { 86400, NULL, NULL, 3, act };
        SERVICE_FAILURE_ACTIONS_FLAG ff = { TRUE };

        for (int i = 0; i < 3; i++) {
                act[i].Type = SC_ACTION_RESTART;
                act[i].Delay = spec->restart_ms;
        }
        if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d))
                return fail(err, "cannot set the service's description", "无法设置服务说明", GetLastError());
        if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa))
                return fail(err, "cannot set the service's recovery", "无法设置服务的故障恢复", GetLastError());
        /* Wine's SCM has no level 4 (ERROR_INVALID_LEVEL); Windows has
         * had it since Vista (docs/windows.md) */
        if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &ff) && GetLastError() != ERROR_INVALID_LEVEL)
                return fail(err, "cannot set the service's recovery", "无法设置服务的故障恢复", GetLastError());
        return 0;
}

int winservice_install(const struct winservice_spec *spec, bool start, struct winservice_err *err)
{
        wchar_t *name = widen(spec->name, false), *display = widen(spec->display, false);
        wchar_t *desc = widen(spec->description, false), *account = widen(spec->account, false);
        wchar_t *cmd = widen(spec->command_line, false);
        SC_HANDLE scm = NULL, svc = NULL;
        int r = -1;

        if (!name || !display || !desc || !account || !cmd) {
                say(err, "invalid UTF-8", "非法的 UTF-8");
                goto out;
        }
        scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
        if (!scm) {
                fail(err, "cannot reach the Service Control Manager (run as administrator)",
                     "无法连接服务控制管理器（请以管理员身份运行）", GetLastError());
                goto out;
        }
        svc = CreateServiceW(scm, name, display, SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                             SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, account, NULL);
        if (!svc && GetLastError() == ERROR_SERVICE_EXISTS) {
                /* installed before: the same service, its settings renewed */
                svc = OpenServiceW(scm, name, SERVICE_ALL_ACCESS);
                if (svc && !ChangeServiceConfigW(svc, SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                                                 cmd, NULL, NULL, NULL, account, NULL, display)) {
                        fail(err, "cannot update the service", "无法更新服务", GetLastError());
                        goto out;
                }
        }
        if (!svc) {
                fail(err, "cannot create the service", "无法创建服务", GetLastError());
                goto out;
        }
        if (configure(svc, spec, desc, err) < 0)
                goto out;
        /* the SCM's database is locked while it starts the services of
         * a booting system (Wine's too, at its first process): wait */
        bool restarted = false;
        for (int tries = 0; start && !StartServiceW(svc, 0, NULL); tries++) {
                DWORD e = GetLastError();
                if (e == ERROR_SERVICE_ALREADY_RUNNING && restarted) {
                        fail(err, "the service did not stop to take the new settings: restart the PC",
                             "服务未能停止以采用新设置：请重启电脑", e);
                        goto out;
                }
                if (e == ERROR_SERVICE_ALREADY_RUNNING) {
                        restarted = true;
                        /* installed again over a running service (a new
                         * address or home): it runs the old command line
                         * until it starts again, so it is stopped first */
                        SERVICE_STATUS ss;
                        if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss) &&
                            GetLastError() != ERROR_SERVICE_NOT_ACTIVE) {
                                fail(err, "the service runs and could not be stopped to take the new settings",
                                     "服务正在运行，无法停止以采用新设置", GetLastError());
                                goto out;
                        }
                        for (int w = 0; w < 60 && QueryServiceStatus(svc, &ss) &&
                                        ss.dwCurrentState != SERVICE_STOPPED; w++)
                                Sleep(250);
                        tries = -1;     /* and started again */
                        continue;
                }
                if (e != ERROR_SERVICE_DATABASE_LOCKED || tries == 60) {
                        fail(err, "the service is installed but did not start", "服务已安装，但未能启动", e);
                        goto out;
                }
                Sleep(500);
        }
        r = 0;
out:
        if (svc)
                CloseServiceHandle(svc);
        if (scm)
                CloseServiceHandle(scm);
        free(name);
        free(display);
        free(desc);
        free(account);
        free(cmd);
        return r;
}

int winservice_uninstall(const char *name_utf8, unsigned wait_ms, struct winservice_err *err)
{
        wchar_t *name = widen(name_utf8, false);
        SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
        SC_HANDLE svc = NULL;
        HANDLE proc = NULL;
        SERVICE_STATUS ss;
        int r = -1;

        if (!scm || !name) {
                fail(err, "cannot reach the Service Control Manager (run as administrator)",
                     "无法连接服务控制管理器（请以管理员身份运行）", GetLastError());
                goto out;
        }
        svc = OpenServiceW(scm, name, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
        if (!svc) {
                if (GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST)
                        r = 1;
                else
                        fail(err, "cannot open the service", "无法打开服务", GetLastError());
                goto out;
        }
        /* its process, to wait for it to end: its program may then be
         * replaced or removed */
        SERVICE_STATUS_PROCESS sp;
        DWORD need;
        if (QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&sp, sizeof sp, &need) && sp.dwProcessId)
                proc = OpenProcess(SYNCHRONIZE, FALSE, sp.dwProcessId);
        if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss) && GetLastError() != ERROR_SERVICE_NOT_ACTIVE) {
                fail(err, "cannot stop the service", "无法停止服务", GetLastError());
                goto out;
        }
        for (unsigned waited = 0;; waited += 200) {
                if (!QueryServiceStatus(svc, &ss)) {
                        fail(err, "cannot ask the service's state", "无法查询服务状态", GetLastError());
                        goto out;
                }
                if (ss.dwCurrentState == SERVICE_STOPPED)
                        break;
                if (waited >= wait_ms) {
                        snprintf(err->en, sizeof err->en, "the service did not stop within %u s", wait_ms / 1000);
                        snprintf(err->zh, sizeof err->zh, "服务未在 %u 秒内停止", wait_ms / 1000);
                        goto out;
                }
                Sleep(200);
        }
        if (proc)
                WaitForSingleObject(proc, 5000);
        if (!DeleteService(svc) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE) {
                fail(err, "cannot remove the service", "无法删除服务", GetLastError());
                goto out;
        }
        r = 0;
out:
        if (proc)
                CloseHandle(proc);
        if (svc)
                CloseServiceHandle(svc);
        if (scm)
                CloseServiceHandle(scm);
        free(name);
        return r;
}

/* ---- running as the service ------------------------------------------------------------ */

static int log_to(const char *path);

static struct {
        wchar_t *name;
        const char *log_path;
        int (*body)(int, char **);
        int argc;
        char **argv;
        unsigned stop_ms;
        int rc;
        SERVICE_STATUS_HANDLE h;
        SERVICE_STATUS st;
        CRITICAL_SECTION lock;
        bool stopping, stopped;
        HANDLE done;            /* set when body has returned */
} svc;

static void report(DWORD state, int rc, DWORD wait_hint)
{
        EnterCriticalSection(&svc.lock);
        if (!svc.stopped) {
                svc.st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
                svc.st.dwCurrentState = state;
                svc.st.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
                svc.st.dwWin32ExitCode = rc ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
                svc.st.dwServiceSpecificExitCode = (DWORD)rc;
                svc.st.dwWaitHint = wait_hint;
                svc.st.dwCheckPoint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING
                                              ? svc.st.dwCheckPoint + 1 : 0;
                svc.stopped = state == SERVICE_STOPPED;
                SetServiceStatus(svc.h, &svc.st);
        }
        LeaveCriticalSection(&svc.lock);
}

/* A daemon that has not stopped in time (a write stuck on a dead disk):
 * the SCM is told it stopped and the process ends; what was written is
 * safe as after a power cut (SQLite's journal, docs/DESIGN.md). */
static DWORD WINAPI watchdog(void *arg)
{
        (void)arg;
        if (WaitForSingleObject(svc.done, svc.stop_ms) == WAIT_TIMEOUT) {
                log_line("did not stop within %u s: ending the process", svc.stop_ms / 1000);
                report(SERVICE_STOPPED, 1, 0);
                TerminateProcess(GetCurrentProcess(), 1);
        }
        return 0;
}

static DWORD WINAPI on_control(DWORD control, DWORD type, void *data, void *ctx)
{
        (void)type;
        (void)data;
        (void)ctx;
        switch (control) {
        case SERVICE_CONTROL_STOP:
        case SERVICE_CONTROL_SHUTDOWN:
                EnterCriticalSection(&svc.lock);
                bool first = !svc.stopping;
                svc.stopping = true;
                LeaveCriticalSection(&svc.lock);
                if (first) {
                        report(SERVICE_STOP_PENDING, 0, svc.stop_ms);
                        daemon_stop_request();
                        HANDLE t = CreateThread(NULL, 0, watchdog, NULL, 0, NULL);
                        if (t)
                                CloseHandle(t);
                }
                return NO_ERROR;
        case SERVICE_CONTROL_INTERROGATE:
                return NO_ERROR;
        default:
                return ERROR_CALL_NOT_IMPLEMENTED;
        }
}

static void WINAPI service_main(DWORD argc, wchar_t **argv)
{
        (void)argc;
        (void)argv;
        log_to(svc.log_path);   /* else nowhere, as before */
        svc.h = RegisterServiceCtrlHandlerExW(svc.name, on_control, NULL);
        if (!svc.h) {
                svc.rc = -1;
                return;
        }
        report(SERVICE_START_PENDING, 0, 10000);
        /* running from here: a daemon that cannot start (its port taken,
         * the home locked) stops with an error and the SCM restarts it */
        report(SERVICE_RUNNING, 0, 0);
        svc.rc = svc.body(svc.argc, svc.argv);
        SetEvent(svc.done);
        report(SERVICE_STOPPED, svc.rc, 0);
}

int winservice_run(const char *name, int (*body)(int, char **), int argc, char **argv, unsigned stop_ms,
                   const char *log_path, struct winservice_err *err)
{
        SERVICE_TABLE_ENTRYW table[2] = { { NULL, service_main }, { NULL, NULL } };

        svc.name = table[0].lpServiceName = widen(name, false);
        svc.body = body;
        svc.argc = argc;
        svc.argv = argv;
        svc.stop_ms = stop_ms;
        svc.log_path = log_path;
        InitializeCriticalSection(&svc.lock);
        svc.done = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (!svc.name || !svc.done)
                return fail(err, "out of memory", "内存不足", GetLastError());
        if (!StartServiceCtrlDispatcherW(table)) {
                DWORD e = GetLastError();
                if (e == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
                        say(err, "this is what the Windows service runs, not a command for a console: "
                                 "use 'daiban serve' there",
                            "这是 Windows 服务运行的命令，不能在命令行中使用：请用“daiban serve”");
                else
                        fail(err, "cannot run as a service", "无法作为服务运行", e);
                return -1;
        }
        return svc.rc;
}

/* ---- the home's access list and the log ------------------------------------------------ */

/* LocalService (LS) and Administrators (BA), full control, inherited by
 * folders and files (OICI); P: nothing inherited from above */
static const wchar_t home_sddl[] = L"D:P(A;OICI;FA;;;LS)(A;OICI;FA;;;BA)";

static int protect_one(const wchar_t *path, PACL dacl, struct winservice_err *err)
{
        DWORD e = SetNamedSecurityInfoW((wchar_t *)path, SE_FILE_OBJECT,
                                        DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL,
                                        dacl, NULL);

        return e == ERROR_SUCCESS ? 0
                                  : fail(err, "cannot restrict the home's access", "无法限制数据目录的访问权限", e);
}

int winservice_protect(const char *dir, struct winservice_err *err)
{
        wchar_t *w = widen(dir, true);
        PSECURITY_DESCRIPTOR sd = NULL;
        PACL dacl = NULL;
        BOOL present = FALSE, defaulted = FALSE;
        size_t made[32], nmade = 0;
        int r = -1;

        if (!w) {
                say(err, "invalid UTF-8", "非法的 UTF-8");
                return -1;
        }
        for (size_t n = wcslen(w); n > 3 && w[n - 1] == L'\\'; n--)
                w[n - 1] = L'\0';
        if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(home_sddl, SDDL_REVISION_1, &sd, NULL) ||
            !GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) || !present) {
                fail(err, "cannot make the access list", "无法生成访问控制列表", GetLastError());
                goto out;
        }
        /* the missing folders, from the top (after "C:\" or "\\server\share\") */
        for (size_t i = 3; ; i++) {
                if (w[i] != L'\\' && w[i] != L'\0')
                        continue;
                wchar_t c = w[i];
                w[i] = L'\0';
                if (GetFileAttributesW(w) == INVALID_FILE_ATTRIBUTES) {
                        if (!CreateDirectoryW(w, NULL) && GetLastError() != ERROR_ALREADY_EXISTS) {
                                fail(err, "cannot make the home's folder", "无法创建数据目录", GetLastError());
                                w[i] = c;
                                goto out;
                        }
                        if (nmade < sizeof made / sizeof made[0])
                                made[nmade++] = i;
                }
                w[i] = c;
                if (!c)
                        break;
        }
        for (size_t k = 0; k < nmade; k++) {
                wchar_t c = w[made[k]];
                w[made[k]] = L'\0';
                int e = protect_one(w, dacl, err);
                w[made[k]] = c;
                if (e < 0)
                        goto out;
        }
        r = protect_one(w, dacl, err);
out:
        LocalFree(sd);
        free(w);
        return r;
}

/* stdout and stderr (the daemon's log, agent/log.h) to the end of path.
 * A process started without a console has its C runtime's streams on no
 * descriptor (_file -2), and freopen refuses such a stream (Wine's
 * msvcrt): descriptors 1 and 2 are made the file, and the two streams
 * put on them. */
static int log_to(const char *path)
{
        wchar_t *w = widen(path, true);
        int fd = w ? _wopen(w, _O_WRONLY | _O_APPEND | _O_CREAT | _O_BINARY, _S_IREAD | _S_IWRITE) : -1;

        free(w);
        if (fd < 0)
                return -1;
        platform_private_file(path);    /* the log names villagers' applications */
        if (_dup2(fd, 1) < 0 || _dup2(fd, 2) < 0) {
                _close(fd);
                return -1;
        }
        _close(fd);
#ifndef _UCRT
        if (stdout->_file < 0) {
                stdout->_file = 1;
                stdout->_flag = _IOWRT;
        }
        if (stderr->_file < 0) {
                stderr->_file = 2;
                stderr->_flag = _IOWRT;
        }
#endif
        setvbuf(stdout, NULL, _IONBF, 0);
        setvbuf(stderr, NULL, _IONBF, 0);
        SetStdHandle(STD_OUTPUT_HANDLE, (HANDLE)_get_osfhandle(1));
        SetStdHandle(STD_ERROR_HANDLE, (HANDLE)_get_osfhandle(2));
        return 0;
}
