/*
 * pause: PID 1 of a minipod pod. Holds the pod's namespaces, reaps every
 * child. Modelled on kubernetes build/pause/linux/pause.c: SIGINT/SIGTERM
 * exit 0, SIGCHLD reaps with waitpid(-1, WNOHANG) in a loop, otherwise it
 * sleeps. It also writes one line "PID CODE TIME" to stdout for every child
 * it reaps: app containers are re-parented to pause (they are orphaned
 * inside the pod's PID namespace on purpose), so this is how minipod learns
 * their exit codes without keeping a monitor process per container.
 *
 * Before that it leaves the host's filesystem: it pivots into an empty
 * directory (PAUSE_ROOT) and makes itself non-dumpable, so that a container
 * of the pod cannot reach the host through /proc/1/root or /proc/1/fd
 * (runc's init does the same). Once set up it writes "ready HOSTPID" on the
 * descriptor PAUSE_READY_FD ("error: ..." if it could not), which
 * minipod.runtime.podns waits for.
 *
 * Compiled by minipod (minipod.runtime.pausebin: gcc -Os -static) the first
 * time a pod is made; about 800 KB on disk and 100 KB of memory, where a
 * Python interpreter costs 4 MB per pod.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "minipod-pause 0.2.0"

static int ready_fd = -1;

static void fail(const char *what) {
	if (ready_fd >= 0)
		dprintf(ready_fd, "error: pause setup failed: %s: %s\n", what, strerror(errno));
	_exit(1);
}

/* An empty root: nothing of the host stays mounted in pause's mount namespace. */
static void leave_the_host(const char *root) {
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("make / private");
	if (mount(root, root, NULL, MS_BIND, NULL) < 0)
		fail("bind the empty root");
	if (chdir(root) < 0)
		fail("chdir to the empty root");
	/* pivot_root(".", ".") then detaching the old root, as runc does */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		fail("detach the old root");
	if (chdir("/") < 0)
		fail("chdir /");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fail("PR_SET_DUMPABLE");
}

static int exit_code(int status) {
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static void reap_all(void) {
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		struct timeval now;
		gettimeofday(&now, NULL);
		/* the exit log is a convenience: reaping goes on if it cannot be written */
		dprintf(1, "%d %d %ld.%03ld\n", pid, exit_code(status), (long)now.tv_sec, (long)now.tv_usec / 1000);
	}
}

int main(int argc, char **argv) {
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0) {
			printf("%s\n", VERSION);
			return 0;
		}
	}
	const char *fd = getenv("PAUSE_READY_FD");
	ready_fd = fd ? atoi(fd) : -1;
	/* Blocked before "ready": none of them is lost between a check and a wait. */
	sigset_t waited;
	sigemptyset(&waited);
	sigaddset(&waited, SIGCHLD);
	sigaddset(&waited, SIGTERM);
	sigaddset(&waited, SIGINT);
	sigprocmask(SIG_BLOCK, &waited, NULL);

	char self[32] = {0};
	if (readlink("/proc/self", self, sizeof(self) - 1) < 0) /* the host's pid: /proc is still the host's */
		fail("readlink /proc/self");
	const char *root = getenv("PAUSE_ROOT");
	if (root == NULL) {
		errno = EINVAL;
		fail("PAUSE_ROOT");
	}
	leave_the_host(root);
	unsetenv("PAUSE_ROOT");
	unsetenv("PAUSE_READY_FD");
	if (ready_fd >= 0) {
		dprintf(ready_fd, "ready %s\n", self);
		close(ready_fd);
	}
	/* Containers may have joined (and exited) while pause started: reap what is waiting. */
	reap_all();
	for (;;) {
		int sig = sigwaitinfo(&waited, NULL);
		if (sig == SIGCHLD)
			reap_all();
		else if (sig == SIGTERM || sig == SIGINT)
			return 0;
	}
}
