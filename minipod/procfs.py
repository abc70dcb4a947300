"""Reading /proc: process identity (pid + start time), namespaces, memory.

A pid alone never identifies a process (pids are reused); minipod records
pid AND the start time (field 22 of /proc/PID/stat, as runc and psutil do)
and only treats a process as "ours" when both match.
"""

import contextlib
import os


def _stat_fields(pid: int):
    """Fields of /proc/PID/stat after the comm field (which may hold spaces
    or parentheses, hence rfind)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode("ascii", "replace")
    return parse_stat(data)


def parse_stat(data: str):
    """Split a /proc/PID/stat line into [pid, comm, state, ppid, ...] (1-based
    field n is index n-1)."""
    lpar, rpar = data.index("("), data.rindex(")")
    return [data[:lpar].strip(), data[lpar + 1:rpar]] + data[rpar + 1:].split()


def start_time(pid: int):
    """Start time in clock ticks since boot, or None if the pid is gone."""
    try:
        return int(_stat_fields(pid)[21])
    except (OSError, ValueError, IndexError):
        return None


def state(pid: int):
    """One-letter process state (R, S, Z, ...) or None."""
    try:
        return _stat_fields(pid)[2]
    except (OSError, IndexError):
        return None


def is_running(pid, started) -> bool:
    """True when ``pid`` exists, is not a zombie and has the recorded start time."""
    if not pid or started is None:
        return False
    try:
        fields = _stat_fields(pid)
    except OSError:
        return False
    return int(fields[21]) == int(started) and fields[2] not in ("Z", "X")


def alive(ident) -> bool:
    """True when the process a record names ({"pid", "start", "boot"}) is
    still that process: same pid, same start time, same boot."""
    return bool(ident) and ident.get("boot") == boot_id() and is_running(ident.get("pid"), ident.get("start"))


def exit_code(status: int) -> int:
    """Docker's convention for a wait status: the exit code, or 128 + the
    signal that killed the process."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 255


def self_identity() -> dict:
    """This process as the host sees it: host pid (via the host's /proc,
    also from inside a new PID namespace), pid in its own namespace, start
    time. A short-lived process reports this itself: it may be gone (and
    reaped) before anyone reads its /proc entry."""
    with open("/proc/self/stat") as f:
        start = int(parse_stat(f.read())[21])
    return {"pid": int(os.readlink("/proc/self")), "nspid": os.getpid(), "start": start}


def ns_pids(pid="self") -> list:
    """The process's pid in each PID namespace it is in, outermost (that of
    this /proc) first: the NSpid line of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return [int(os.readlink("/proc/self")) if pid == "self" else int(pid)]


def namespaces(pid: int, kinds=("mnt", "uts", "ipc", "net", "pid")) -> dict:
    return {k: ns_inode(pid, k) for k in kinds}


def ns_inode(pid: int, kind: str):
    """The namespace identity string (e.g. 'net:[4026532]') or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def memory(pid: int) -> dict:
    """Rss and Pss in kB from smaps_rollup ({} if the process is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss", "Private_Dirty"):
                    out[key] = int(rest.split()[0])
    except OSError:
        pass
    return out


def oom_score_adj(pid):
    """The OOM killer's adjustment of ``pid`` ("self" too; -1000 to 1000), None if gone."""
    try:
        with open(f"/proc/{pid}/oom_score_adj") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def set_own_oom_score_adj(value: int) -> int:
    """Ask the OOM killer for ``value`` for this process, or as near as the
    kernel allows; return what is in force. Lowering a score below the floor
    a process inherited needs CAP_SYS_RESOURCE, which root lacks on some
    hosts (a container, a restricted VM). Then the next best is 0, the floor
    of every process no privileged ancestor lowered: at least what a caller
    had raised is not passed on. Raising always works."""
    def write(score: int) -> int:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(score))
        return score
    with contextlib.suppress(PermissionError):
        return write(value)
    current = oom_score_adj("self")  # "self", not getpid(): in a new PID namespace they differ
    if value < 0 and current is not None and current > 0:
        with contextlib.suppress(PermissionError):
            return write(0)
    return current


def boot_time() -> float:
    """When the machine booted (epoch seconds; /proc/stat's btime)."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


_BOOT_ID = []


def boot_id() -> str:
    """The kernel's boot id: records from an earlier boot name dead processes.
    Read once per process (no process outlives the boot it started in)."""
    if not _BOOT_ID:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT_ID.append(f.read().strip())
        except OSError:
            return ""
    return _BOOT_ID[0]


@contextlib.contextmanager
def _pidfd(pid, started):
    """A pidfd for the process only while it is still the one recorded
    (pid AND start time), else None: checking after opening closes the
    window in which the pid could be reused."""
    fd = None
    if pid:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            fd = None
    try:
        yield fd if fd is not None and is_running(pid, started) else None
    finally:
        if fd is not None:
            os.close(fd)


def send_signal(pid, started, sig) -> bool:
    """Signal the process only if it is still the recorded one; False if gone."""
    import signal as _signal
    with _pidfd(pid, started) as fd:
        if fd is None:
            return False
        try:
            _signal.pidfd_send_signal(fd, sig)
            return True
        except OSError:
            return False


def wait_exit(pid, started, timeout: float) -> bool:
    """Wait until the process is gone (or a zombie); True if it went in time."""
    import select
    import time
    with _pidfd(pid, started) as fd:
        if fd is None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if select.select([fd], [], [], max(left, 0))[0]:
                return True
            if left <= 0:
                return not is_running(pid, started)


def stop_process(pid, started, timeout: float, sig=15) -> None:
    """``sig`` (SIGTERM), wait ``timeout`` seconds, then SIGKILL and wait."""
    if send_signal(pid, started, sig) and wait_exit(pid, started, timeout):
        return
    if send_signal(pid, started, 9):
        wait_exit(pid, started, 10.0)
