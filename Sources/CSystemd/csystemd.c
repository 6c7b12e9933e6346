#define _GNU_SOURCE
#include "csystemd.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*sd_notify_fn)(int, const char *);
typedef int (*sd_watchdog_enabled_fn)(int, uint64_t *);
typedef int (*sd_listen_fds_with_names_fn)(int, char ***);
typedef int (*sd_journal_sendv_fn)(const struct iovec *, int);

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded = 0;
static char load_error[512] = "libsystemd not loaded yet";
static sd_notify_fn p_sd_notify;
static sd_watchdog_enabled_fn p_sd_watchdog_enabled;
static sd_listen_fds_with_names_fn p_sd_listen_fds_with_names;
static sd_journal_sendv_fn p_sd_journal_sendv;

static void load_library(void) {
    void *handle = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "%s", e ? e : "dlopen(libsystemd.so.0) failed");
        return;
    }
    p_sd_notify = (sd_notify_fn)dlsym(handle, "sd_notify");
    p_sd_watchdog_enabled = (sd_watchdog_enabled_fn)dlsym(handle, "sd_watchdog_enabled");
    p_sd_listen_fds_with_names = (sd_listen_fds_with_names_fn)dlsym(handle, "sd_listen_fds_with_names");
    p_sd_journal_sendv = (sd_journal_sendv_fn)dlsym(handle, "sd_journal_sendv");
    if (!p_sd_notify || !p_sd_watchdog_enabled || !p_sd_listen_fds_with_names || !p_sd_journal_sendv) {
        snprintf(load_error, sizeof load_error, "libsystemd.so.0 lacks a needed symbol");
        return;
    }
    load_error[0] = 0;
    loaded = 1;
}

int csd_load(void) {
    pthread_once(&load_once, load_library);
    return loaded;
}

const char *csd_load_error(void) {
    csd_load();
    return load_error;
}

int csd_notify(int unset_environment, const char *state) {
    if (!csd_load()) return -ENOSYS;
    return p_sd_notify(unset_environment, state);
}

int csd_watchdog_enabled(int unset_environment, uint64_t *usec) {
    if (!csd_load()) return -ENOSYS;
    return p_sd_watchdog_enabled(unset_environment, usec);
}

int csd_listen_fds_with_names(int unset_environment, char ***names) {
    if (!csd_load()) return -ENOSYS;
    return p_sd_listen_fds_with_names(unset_environment, names);
}

int csd_journal_sendv(const struct iovec *iov, int n) {
    if (!csd_load()) return -ENOSYS;
    return p_sd_journal_sendv(iov, n);
}

void csd_free_names(char **names, int n) {
    if (names == NULL) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int csd_notify_socket_open(const char *path) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) return -ENAMETOOLONG;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* Notify messages are small; a large receive buffer absorbs a burst of READY=1 from
       hundreds of instances starting together. */
    int size = 4 * 1024 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

ssize_t csd_notify_recv(int fd, char *buf, size_t len, int timeout_ms, pid_t *pid, uid_t *uid, gid_t *gid) {
    if (len == 0) return -EINVAL;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int ready;
    do {
        ready = poll(&pfd, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return -errno;
    if (ready == 0) return 0;

    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = len - 1};
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = &control;
    message.msg_controllen = sizeof control;
    ssize_t n;
    do {
        n = recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    if ((size_t)n > len - 1) n = (ssize_t)(len - 1);
    buf[n] = 0;
    *pid = 0;
    *uid = 0;
    *gid = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
            *pid = credentials.pid;
            *uid = credentials.uid;
            *gid = credentials.gid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int fds[16];
            if (count > 16) count = 16;
            memcpy(fds, CMSG_DATA(c), count * sizeof(int));
            for (size_t i = 0; i < count; i++) close(fds[i]);
        }
    }
    return n == 0 ? 1 : n; /* an empty datagram still counts as received */
}

/* --- spawn ------------------------------------------------------------------------------ */

static void write_pid(char *out, const char *prefix, pid_t pid) {
    /* async-signal-safe formatting of "PREFIX<pid>" */
    size_t i = 0;
    while (prefix[i]) { out[i] = prefix[i]; i++; }
    char digits[24];
    int d = 0;
    unsigned long value = (unsigned long)pid;
    do { digits[d++] = (char)('0' + value % 10); value /= 10; } while (value > 0);
    while (d > 0) out[i++] = digits[--d];
    out[i] = 0;
}

static void child_fail(int report_fd, int error) {
    ssize_t ignored = write(report_fd, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

static void close_from(int lowest, int keep) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lowest, ~0U, 0) == 0) {
        (void)keep;
        return;
    }
#endif
    struct rlimit limit;
    long max = getrlimit(RLIMIT_NOFILE, &limit) == 0 ? (long)limit.rlim_cur : 4096;
    if (max > 65536) max = 65536;
    for (long fd = lowest; fd < max; fd++) {
        if (fd != keep) close((int)fd);
    }
}

pid_t csd_spawn(const csd_spawn_options *o) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        return -e;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls from here on. */
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (int s = 1; s < NSIG; s++) {
            if (s == SIGKILL || s == SIGSTOP) continue;
            signal(s, SIG_DFL);
        }
        if (o->new_process_group && setpgid(0, 0) < 0) child_fail(report[1], errno);
        if (o->parent_death_signal) {
            if (prctl(PR_SET_PDEATHSIG, o->parent_death_signal) < 0) child_fail(report[1], errno);
            if (getppid() != parent) _exit(127); /* the parent died before prctl took effect */
        }
        if (o->working_directory && chdir(o->working_directory) < 0) child_fail(report[1], errno);

        /* Standard streams. */
        int in = o->stdin_fd;
        if (in < 0) {
            in = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (in < 0) child_fail(report[1], errno);
        }
        if (dup2(in, 0) < 0) child_fail(report[1], errno);
        if (o->stdout_fd >= 0 && dup2(o->stdout_fd, 1) < 0) child_fail(report[1], errno);
        if (o->stderr_fd >= 0 && dup2(o->stderr_fd, 2) < 0) child_fail(report[1], errno);

        /* Passed fds: first move every one above the target range so that none overwrites
           another, then into 3, 4, ... without close-on-exec. The report pipe moves too. */
        int n = o->pass_fd_count;
        int high = 3 + n + 1;
        int report_fd = fcntl(report[1], F_DUPFD_CLOEXEC, high);
        if (report_fd < 0) child_fail(report[1], errno);
        high = report_fd + 1;
        int moved[256];
        if (n > 256) child_fail(report_fd, EINVAL);
        for (int i = 0; i < n; i++) {
            moved[i] = fcntl(o->pass_fds[i], F_DUPFD_CLOEXEC, high);
            if (moved[i] < 0) child_fail(report_fd, errno);
            high = moved[i] + 1;
        }
        for (int i = 0; i < n; i++) {
            if (dup2(moved[i], 3 + i) < 0) child_fail(report_fd, errno);
        }
        /* Close everything else (the report pipe is close-on-exec and is kept until exec). */
        for (int fd = 3 + n; fd < high; fd++) {
            if (fd != report_fd) close(fd);
        }
        close_from(high, report_fd);

        char listen_pid[48];
        if (o->listen_pid_slot >= 0) {
            write_pid(listen_pid, "LISTEN_PID=", getpid());
            o->envp[o->listen_pid_slot] = listen_pid;
        }
        if (strchr(o->path, '/') != NULL) {
            execve(o->path, o->argv, o->envp);
        } else {
            execvpe(o->path, o->argv, o->envp);
        }
        child_fail(report_fd, errno);
    }
    close(report[1]);
    int error = 0;
    ssize_t got;
    do {
        got = read(report[0], &error, sizeof error);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof error) {
        /* exec failed: reap the child, which exits at once */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return -error;
    }
    return pid;
}

long csd_raise_nofile_limit(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0) return -errno;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) < 0) return -errno;
    return (long)limit.rlim_cur;
}
