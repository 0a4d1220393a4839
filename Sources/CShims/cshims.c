#define _GNU_SOURCE
#include "cshims.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

struct MHD_Daemon *dg_mhd_start(unsigned int flags, const char *host, uint16_t port,
                                MHD_AccessHandlerCallback handler, void *handler_cls,
                                MHD_RequestCompletedCallback done, void *done_cls,
                                unsigned int thread_pool_size, unsigned int connection_limit,
                                unsigned int connection_timeout_s, int listen_fd) {
    struct MHD_OptionItem ops[8];
    int n = 0;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    ops[n].option = MHD_OPTION_NOTIFY_COMPLETED; ops[n].value = (intptr_t)done; ops[n].ptr_value = done_cls; n++;
    if (thread_pool_size > 0) { ops[n].option = MHD_OPTION_THREAD_POOL_SIZE; ops[n].value = thread_pool_size; ops[n].ptr_value = NULL; n++; }
    /* The default limit is FD_SETSIZE-4 even with epoll: always set it. */
    ops[n].option = MHD_OPTION_CONNECTION_LIMIT; ops[n].value = connection_limit; ops[n].ptr_value = NULL; n++;
    ops[n].option = MHD_OPTION_CONNECTION_TIMEOUT; ops[n].value = connection_timeout_s; ops[n].ptr_value = NULL; n++;
    if (listen_fd >= 0) {
        ops[n].option = MHD_OPTION_LISTEN_SOCKET; ops[n].value = listen_fd; ops[n].ptr_value = NULL; n++;
    } else if (host && *host) {
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { errno = EINVAL; return NULL; }
        ops[n].option = MHD_OPTION_SOCK_ADDR; ops[n].value = 0; ops[n].ptr_value = &addr; n++;
    }
    ops[n].option = MHD_OPTION_END; ops[n].value = 0; ops[n].ptr_value = NULL;
    return MHD_start_daemon(flags, port, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

pid_t dg_spawn(const char *path, char *const argv[], char *const envp[], int uid, int gid,
               int death_signal, int stderr_fd) {
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* child: only async-signal-safe calls from here on */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (death_signal > 0) {
        prctl(PR_SET_PDEATHSIG, death_signal);
        if (getppid() != parent) _exit(127);   /* parent died before prctl */
    }
    if (stderr_fd >= 0) { dup2(stderr_fd, 1); dup2(stderr_fd, 2); }
    if (gid >= 0) { if (setgroups(0, NULL) != 0 || setgid((gid_t)gid) != 0) _exit(126); }
    if (uid >= 0) { if (setuid((uid_t)uid) != 0) _exit(126); }
    execve(path, argv, envp);
    _exit(127);
}

void dg_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

void dg_block_signals(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int dg_wait_signal(const int *signals, int count, int timeout_ms) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    int s = sigtimedwait(&set, NULL, timeout_ms < 0 ? NULL : &ts);
    return s < 0 ? 0 : s;
}

void dg_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, 15);
    buf[15] = 0;
    pthread_setname_np(pthread_self(), buf);
}

int dg_client_address(struct MHD_Connection *conn, char *buf, size_t len) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return -1;
    const struct sockaddr *sa = info->client_addr;
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len) ? 0 : -1;
    if (sa->sa_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len) ? 0 : -1;
    return -1;
}

long long dg_parse_http_date(const char *s) {
    struct tm t;
    memset(&t, 0, sizeof t);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &t);
    if (!end) return -1;
    return (long long)timegm(&t);
}
