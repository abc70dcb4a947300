/* syscall_probe NAME: make one syscall the seccomp tests care about, and
 * print "NAME ok" or "NAME <errno name>" (exit 0 either way). Built static
 * by the tests, so it runs in the busybox image. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EFAULT: return "EFAULT";
    case EBADF: return "EBADF";
    default: return strerror(e);
    }
}

int main(int argc, char **argv) {
    long r;
    if (argc != 2) return 2;
    const char *n = argv[1];
    if (!strcmp(n, "unshare-user")) r = unshare(CLONE_NEWUSER);
    else if (!strcmp(n, "keyctl")) r = syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0);
    else if (!strcmp(n, "add_key")) r = syscall(SYS_add_key, "user", "minipod", "v", 1, -2 /* process */);
    else if (!strcmp(n, "mount")) r = mount("none", "/tmp", "tmpfs", 0, NULL);
    else if (!strcmp(n, "bpf")) r = syscall(SYS_bpf, 0 /* MAP_CREATE */, NULL, 0);
    else if (!strcmp(n, "kexec_load")) r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
    else if (!strcmp(n, "getpid")) r = syscall(SYS_getpid);
    else return 2;
    printf("%s %s\n", n, r < 0 ? errname(errno) : "ok");
    return 0;
}
