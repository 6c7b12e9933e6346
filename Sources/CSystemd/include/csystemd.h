#ifndef CSYSTEMD_H
#define CSYSTEMD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/// Loads libsystemd.so.0 once (thread-safe). Returns 1 when the library and its symbols are
/// there, 0 otherwise; `csd_load_error` then says why.
int csd_load(void);
const char *csd_load_error(void);

/// Thin wrappers over the libsystemd functions of the same name. They return -ENOSYS when
/// libsystemd could not be loaded, otherwise what libsystemd returns (negative errno on error).
int csd_notify(int unset_environment, const char *state);
int csd_watchdog_enabled(int unset_environment, uint64_t *usec);
int csd_listen_fds_with_names(int unset_environment, char ***names);
int csd_journal_sendv(const struct iovec *iov, int n);
void csd_free_names(char **names, int n);

/// Opens an AF_UNIX datagram socket bound at `path` with SO_PASSCRED, close-on-exec and
/// non-blocking. Returns the fd or -errno.
int csd_notify_socket_open(const char *path);

/// Receives one notify datagram. Waits at most `timeout_ms` (-1: forever). Returns the number of
/// bytes written to `buf` (NUL-terminated, truncated to len-1), 0 on timeout, -errno on error.
/// `pid`, `uid`, `gid` come from SCM_CREDENTIALS (0 when absent). File descriptors passed with
/// SCM_RIGHTS are closed, never leaked.
ssize_t csd_notify_recv(int fd, char *buf, size_t len, int timeout_ms, pid_t *pid, uid_t *uid, gid_t *gid);

/// Options of `csd_spawn`.
typedef struct {
    const char *path;          ///< executable (searched in PATH when it has no '/')
    char *const *argv;         ///< NULL-terminated
    char **envp;               ///< NULL-terminated; may be patched in the child (listen_pid_slot)
    const int *pass_fds;       ///< fds that become 3, 4, ... in the child
    int pass_fd_count;
    int listen_pid_slot;       ///< index in envp replaced by "LISTEN_PID=<child pid>", or -1
    int new_process_group;     ///< setpgid(0, 0) in the child
    int parent_death_signal;   ///< PR_SET_PDEATHSIG, 0 for none
    int stdin_fd;              ///< -1: /dev/null
    int stdout_fd;             ///< -1: inherit
    int stderr_fd;             ///< -1: inherit
    const char *working_directory; ///< NULL: inherit
} csd_spawn_options;

/// Forks and execs. Returns the child's pid, or -errno when the fork or the exec failed (an exec
/// failure is reported through a close-on-exec pipe, so the caller learns it synchronously).
/// The child gets default signal dispositions and an empty signal mask, and no other fds.
pid_t csd_spawn(const csd_spawn_options *options);

/// Raises RLIMIT_NOFILE's soft limit to its hard limit. Returns the new soft limit or -errno.
long csd_raise_nofile_limit(void);

#endif
