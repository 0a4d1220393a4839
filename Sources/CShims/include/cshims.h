#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <microhttpd.h>

/* MHD_start_daemon is variadic: Swift cannot call it. Options used by DuraGraph's server. */
struct MHD_Daemon *dg_mhd_start(unsigned int flags, const char *host, uint16_t port,
                                MHD_AccessHandlerCallback handler, void *handler_cls,
                                MHD_RequestCompletedCallback done, void *done_cls,
                                unsigned int thread_pool_size, unsigned int connection_limit,
                                unsigned int connection_timeout_s, int listen_fd);

/* fork + (optional setgid/setuid) + execve, with PR_SET_PDEATHSIG so a child never outlives a
 * killed supervisor, and a clean signal mask. Returns the pid or -1 (errno set). uid < 0: keep. */
pid_t dg_spawn(const char *path, char *const argv[], char *const envp[], int uid, int gid,
               int death_signal, int stderr_fd);

/* Line-buffer stdout (Swift 6 rejects touching the C global from Swift). */
void dg_stdout_line_buffered(void);

/* Blocks every signal in the calling thread (call first in main: threads inherit the mask). */
void dg_block_signals(const int *signals, int count);
/* Waits for one of the given signals; returns its number. */
int dg_wait_signal(const int *signals, int count, int timeout_ms);

/* pthread_setname_np is a GNU extension (name truncated to 15 bytes). */
void dg_set_thread_name(const char *name);

/* The peer's address as text (MHD_get_connection_info is variadic). 0 on success. */
int dg_client_address(struct MHD_Connection *conn, char *buf, size_t len);

/* An HTTP date (IMF-fixdate) as Unix seconds, or -1 (strptime/timegm are not in Swift's Glibc). */
long long dg_parse_http_date(const char *s);
