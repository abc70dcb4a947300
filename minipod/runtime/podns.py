"""Start a pod's pause process in fresh namespaces.

    runtime (CLI)             P0 (fork)                    P1 = pause (PID 1)
      | fork ------------------> unshare(net?,ipc,uts,pid,mnt)
      |                          fork -----------------------> sethostname
      | <----------------------- "pid HOSTPID START"           exec pause (pause.c)
      | waitpid(P0) <----------- _exit(0)                      pivot_root
      | (pin netns, CNI ADD, ... while pause starts)             |
      | wait_ready() <------------------------------------------ "ready HOSTPID"
      v                                                        sigwait loop

P0 exists only because a process's own PID namespace never changes: the
new PID namespace applies to P0's children, and its first child is PID 1.
The namespaces exist as soon as P1 does, so the caller can use them while
pause sets itself up and confirm readiness later.
"""

import os
import select
import time
from pathlib import Path

from minipod import procfs
from minipod.errors import ContainerStartError
from minipod.runtime import cgroup, pausebin, syscalls

PAUSE_OOM_SCORE_ADJ = -998  # the kubelet's value for pause (qos.PodInfraOOMAdj)
READY_TIMEOUT = 10.0


class Pause:
    """A pause process being started: ``pid``/``start`` at once,
    ``wait_ready()`` later."""

    def __init__(self, pid: int, start: int, reader, stderr_log: Path):
        self.pid = pid
        self.start = start
        self._reader = reader
        self._stderr_log = stderr_log

    def wait_ready(self) -> None:
        """Block until pause reports its setup done; raise if it failed."""
        try:
            line = self._reader.line(READY_TIMEOUT)
        finally:
            self._reader.close()
        if line.startswith("ready "):
            return
        detail = line[len("error: "):] if line.startswith("error: ") else "pause exited before it was ready"
        try:
            tail = self._stderr_log.read_text().strip().splitlines()[-1:]
        except OSError:
            tail = []
        raise ContainerStartError(detail + (f" ({tail[0]})" if tail else ""))


def start_pause(*, bin_dir: Path, root: Path, hostname: str, exits_log: Path,
                stderr_log: Path, new_netns: bool = True, new_ipc: bool = True, new_pid: bool = True,
                cgroup_path: str = None) -> Pause:
    """Start pause in new namespaces; return as soon as its pid is known.

    ``root`` is an empty directory pause pivots into; ``exits_log`` receives
    one "PID CODE" line per reaped child; ``cgroup_path`` is the cgroup
    pause runs in (joined before the namespaces exist). ``new_netns``,
    ``new_ipc``, ``new_pid`` False: pause (and the pod) stays in the host's
    (Kubernetes' hostNetwork, hostIPC, hostPID).
    """
    exe = str(pausebin.ensure(bin_dir))
    flags = syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWNS
    for wanted, flag in ((new_netns, syscalls.CLONE_NEWNET), (new_ipc, syscalls.CLONE_NEWIPC),
                         (new_pid, syscalls.CLONE_NEWPID)):
        if wanted:
            flags |= flag
    ready_r, ready_w = os.pipe()
    out_fd = os.open(exits_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    err_fd = os.open(stderr_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    # MINIPOD_POD_DIR stays in pause's environment: gc uses it to tell
    # whose pause a process is.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MINIPOD_POD_DIR": str(root.parent),
           "PAUSE_ROOT": str(root), "PAUSE_READY_FD": "3"}
    p0 = os.fork()
    if p0 == 0:  # P0
        code = 1
        try:
            os.close(ready_r)
            if cgroup_path:
                cgroup.join(cgroup_path)
            syscalls.unshare(flags)
            if os.fork() == 0:  # P1: PID 1 of the new PID namespace
                os.setsid()
                # Before exec: containers may join the UTS namespace before
                # pause is up.
                syscalls.sethostname(hostname)
                # Protected from the OOM killer as the kubelet protects
                # pause: its death would take the pod's namespaces along.
                # -998 needs CAP_SYS_RESOURCE, which root lacks on some
                # hosts (a container, a restricted VM): then as low as the
                # kernel allows, and `pod inspect` shows which.
                procfs.set_own_oom_score_adj(PAUSE_OOM_SCORE_ADJ)
                # Our identity as the host sees it (/proc is still the
                # host's), written before exec so it precedes pause's "ready".
                me = procfs.self_identity()
                os.write(ready_w, f"pid {me['pid']} {me['start']}\n".encode())
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(out_fd, 1)
                os.dup2(err_fd, 2)
                os.dup2(ready_w, 3)  # dup2 makes fd 3 inheritable
                syscalls.close_from(4)  # all of them: the open-files limit is above 1024
                # "/pause": what `ps` in a pod shows on a Kubernetes node, and no path of the host
                os.execve(exe, ["/pause"], env)
            code = 0
        except BaseException as e:
            try:
                os.write(ready_w, f"error: cannot create pod namespaces: {e}\n".encode())
            except BaseException:
                pass
        finally:
            os._exit(code)
    os.close(ready_w)
    os.close(out_fd)
    os.close(err_fd)
    reader = _LineReader(ready_r)
    try:
        os.waitpid(p0, 0)
        line = reader.line(READY_TIMEOUT)
    except BaseException:
        reader.close()
        raise
    if line.startswith("pid "):
        _, pid, start = line.split()
        return Pause(int(pid), int(start), reader, stderr_log)
    reader.close()
    raise ContainerStartError(line[len("error: "):] if line.startswith("error: ") else line)


class _LineReader:
    """Lines from a pipe, with a timeout; keeps what arrived past a newline."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = b""

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return "error: pause did not become ready in time"
            chunk = os.read(self.fd, 4096)
            if not chunk:
                break
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace").strip()

    def close(self):
        os.close(self.fd)
