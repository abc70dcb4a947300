"""Start a pod's pause process in fresh namespaces.

    runtime (CLI)             P0 (fork)                    P1 = pause (PID 1)
      | fork ------------------> unshare(net?,ipc,uts,pid,mnt)
      |                          fork -----------------------> exec pause -S -I pause.py
      | waitpid(P0) <----------- _exit(0)                     sethostname, pivot_root
      | read ready pipe <--------------------------------------- "ready HOSTPID"
      v                                                        sigwait loop

P0 exists only because a process's own PID namespace never changes: the
new PID namespace applies to P0's children, and its first child is PID 1.
"""

import os
import select
import sys
import time
from pathlib import Path

from minipod.errors import ContainerStartError
from minipod.runtime import syscalls

PAUSE_SCRIPT = Path(__file__).with_name("pause.py")
READY_TIMEOUT = 10.0


def pause_executable(bin_dir: Path) -> Path:
    """A symlink named ``pause`` to the base interpreter: exec'ing it makes
    the kernel name the process "pause" (comm is the exec'd file's name)."""
    link = bin_dir / "pause"
    target = os.path.realpath(sys.executable)
    try:
        if os.readlink(link) == target:
            return link
    except OSError:
        pass
    bin_dir.mkdir(parents=True, exist_ok=True)
    tmp = bin_dir / f".pause.{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return link


def start_pause(*, bin_dir: Path, root: Path, hostname: str, exits_log: Path,
                stderr_log: Path, new_netns: bool = True) -> int:
    """Start pause in new namespaces; return its host pid once it is ready.

    ``root`` is an empty directory pause pivots into; ``exits_log`` receives
    one "PID CODE" line per reaped child.
    """
    exe = str(pause_executable(bin_dir))
    flags = syscalls.CLONE_NEWIPC | syscalls.CLONE_NEWUTS | syscalls.CLONE_NEWPID | syscalls.CLONE_NEWNS
    if new_netns:
        flags |= syscalls.CLONE_NEWNET
    ready_r, ready_w = os.pipe()
    out_fd = os.open(exits_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    err_fd = os.open(stderr_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    # MINIPOD_POD_DIR stays in pause's environment: gc uses it to tell
    # whose pause a process is.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MINIPOD_POD_DIR": str(root.parent),
           "PAUSE_ROOT": str(root),
           "PAUSE_HOSTNAME": hostname, "PAUSE_READY_FD": "3"}
    p0 = os.fork()
    if p0 == 0:  # P0
        code = 1
        try:
            os.close(ready_r)
            syscalls.unshare(flags)
            if os.fork() == 0:  # P1: PID 1 of the new PID namespace
                os.setsid()
                null = os.open("/dev/null", os.O_RDWR)
                os.dup2(null, 0)
                os.dup2(out_fd, 1)
                os.dup2(err_fd, 2)
                os.dup2(ready_w, 3)  # dup2 makes fd 3 inheritable
                os.closerange(4, 1024)
                os.execve(exe, ["pause", "-S", "-I", str(PAUSE_SCRIPT)], env)
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
    try:
        os.waitpid(p0, 0)
        line = _read_line(ready_r, READY_TIMEOUT)
    finally:
        os.close(ready_r)
    if line.startswith("ready "):
        return int(line.split()[1])
    detail = line[len("error: "):] if line.startswith("error: ") else "pause exited before it was ready"
    try:
        tail = stderr_log.read_text().strip().splitlines()[-1:]
    except OSError:
        tail = []
    raise ContainerStartError(detail + (f" ({tail[0]})" if tail else ""))


def _read_line(fd: int, timeout: float) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return "error: pause did not become ready in time"
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()
