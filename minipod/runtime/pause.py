"""pause: PID 1 of a pod. Holds the pod's namespaces, reaps every child.

Modelled on kubernetes build/pause/linux/pause.c: SIGINT/SIGTERM exit 0,
SIGCHLD reaps with waitpid(-1, WNOHANG) in a loop, otherwise it sleeps.
It also writes one line "PID CODE TIME" to stdout for every child it reaps:
app containers are re-parented to pause (they are orphaned inside the
pod's PID namespace on purpose), so this is how minipod learns their exit
codes without keeping a monitor process per container.

This file runs as a fresh interpreter (``pause -S -I pause.py``, where
``pause`` is a symlink to python3 so the kernel names the process "pause")
and imports only the standard library and minipod's syscall and procfs
modules (both stdlib-only). It then rewrites its own command line to
"/pause", so `ps` in a pod shows what it shows on a Kubernetes node and
no path of the host leaks into the pod.

Environment (set by minipod.runtime.podns):
  PAUSE_ROOT      empty directory to pivot_root into
  PAUSE_READY_FD  pipe on which "ready HOSTPID" or "error: MSG" is written
"""

import ctypes
import os
import signal
import sys
import time

# Run as a script: make the package importable (an import failure ends up in
# pause.log, which the runtime quotes when pause is not ready).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from minipod import procfs  # noqa: E402  (stdlib-only modules)
from minipod.runtime import syscalls  # noqa: E402

VERSION = "minipod-pause 0.1.0"
PR_SET_DUMPABLE = 4
TITLE = b"/pause"


def _set_cmdline(title: bytes):
    """Overwrite this process's argv area (what /proc/PID/cmdline reads) with
    ``title``, as setproctitle(3) does: it is our own stack memory, so no
    privilege is needed (PR_SET_MM would want CAP_SYS_RESOURCE). Python
    keeps its own copy of argv, so nothing in the interpreter changes.

    The last byte of the area is made non-NUL: the kernel then returns the
    area up to the first NUL, i.e. exactly ``title`` (fs/proc/base.c,
    get_mm_proctitle), instead of the title followed by NUL padding.
    """
    fields = procfs.parse_stat(open("/proc/self/stat").read())
    arg_start, arg_end = int(fields[47]), int(fields[48])  # fields 48, 49 (proc(5))
    size = arg_end - arg_start
    if size < len(title) + 2:
        return
    ctypes.memset(arg_start, 0, size)
    ctypes.memmove(arg_start, title, len(title))
    ctypes.memset(arg_end - 1, 0x20, 1)


def _setup(root):
    """An empty root: pause must not keep the host's filesystem reachable
    through /proc/1/root from the pod's containers. (The hostname was set
    before exec, by the runtime.)"""
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_PRIVATE)
    syscalls.mount(root, root, None, syscalls.MS_BIND)
    os.chdir(root)
    # pivot_root(".", ".") then detaching the old root (as runc does) leaves
    # no directory of the host mounted in this mount namespace.
    syscalls.pivot_root(".", ".")
    syscalls.umount2(".", syscalls.MNT_DETACH)
    os.chdir("/")
    # Not dumpable: /proc/1/fd and /proc/1/root are then off limits to the
    # containers (ptrace access checks), like runc's init.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _reap_all():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        try:
            os.write(1, f"{pid} {procfs.exit_code(status)} {time.time():.3f}\n".encode())
        except OSError:
            pass  # the exit log is a convenience; reaping must go on


def main(argv):
    if "-v" in argv[1:]:
        print(VERSION)
        return 0
    ready_fd = int(os.environ.get("PAUSE_READY_FD", "-1"))
    # Block the signals we wait for before announcing readiness, so none is
    # lost between a check and a sleep (sigwait has no such race).
    waited = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    try:
        host_pid = os.readlink("/proc/self")
        _set_cmdline(TITLE)  # while the host's /proc is still mounted
        _setup(os.environ["PAUSE_ROOT"])
    except Exception as e:  # report to the runtime, which cleans up
        if ready_fd >= 0:
            os.write(ready_fd, f"error: pause setup failed: {e}\n".encode())
        return 1
    for key in ("PAUSE_ROOT", "PAUSE_READY_FD"):
        os.environ.pop(key, None)
    if ready_fd >= 0:
        os.write(ready_fd, f"ready {host_pid}\n".encode())
        os.close(ready_fd)
    # Containers may have joined (and exited) while this interpreter
    # started: reap what is already waiting.
    _reap_all()
    while True:
        sig = signal.sigwait(waited)
        if sig == signal.SIGCHLD:
            _reap_all()
        else:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
