/* The container floor: fork, unshare the five namespaces, fork again (PID 1
 * of the new PID namespace), mount an overlay of the image, /proc,
 * pivot_root, exec /bin/true, wait. No networking, no capabilities, no state.
 * usage: floor LOWERDIR SCRATCHDIR   (SCRATCHDIR gets upper/, work/, merged/) */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) { perror(what); _exit(1); }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: floor LOWER SCRATCH\n"); return 2; }
    char upper[4096], work[4096], merged[4096], opts[16384];
    snprintf(upper, sizeof upper, "%s/upper", argv[2]);
    snprintf(work, sizeof work, "%s/work", argv[2]);
    snprintf(merged, sizeof merged, "%s/merged", argv[2]);
    mkdir(upper, 0755); mkdir(work, 0755); mkdir(merged, 0755);
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", argv[1], upper, work);
    pid_t outer = fork();
    if (outer == 0) {
        if (unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)) die("unshare");
        pid_t init = fork();
        if (init == 0) {
            if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("private");
            if (mount("overlay", merged, "overlay", 0, opts)) die("overlay");
            char proc[4200]; snprintf(proc, sizeof proc, "%s/proc", merged);
            if (mount("proc", proc, "proc", 0, NULL)) die("proc");
            if (chdir(merged)) die("chdir");
            if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root");
            if (umount2(".", MNT_DETACH)) die("umount");
            chdir("/");
            execl("/bin/true", "true", (char *)NULL);
            die("exec");
        }
        int st; waitpid(init, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
    }
    int st; waitpid(outer, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
