"""cgroup v1: one directory per controller hierarchy (memory, cpu,
cpuacct, pids, devices), as on hybrid hosts and older distributions."""

import os
import signal
import time

from minipod.runtime.cgroup import CGROUP_ROOT, devices as devrules, write

CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "devices")
UNLIMITED = 1 << 62  # memory.limit_in_bytes reads back near 2**63 when unlimited


def _mounts() -> dict:
    """{controller: its hierarchy's mount point}; cpu and cpuacct often
    share one ("cpu,cpuacct"), so several may name the same directory."""
    out = {}
    for c in CONTROLLERS:
        path = os.path.realpath(f"{CGROUP_ROOT}/{c}")
        if os.path.isdir(path):
            out[c] = path
    return out


def _dirs(path: str) -> list:
    """The directory of ``path`` in each distinct hierarchy."""
    return sorted({f"{m}/{path}" for m in _mounts().values()})


def _dir(controller: str, path: str):
    mount = _mounts().get(controller)
    return f"{mount}/{path}" if mount else None


def create(path: str, limits, rules) -> None:
    for d in _dirs(path):
        os.makedirs(d, exist_ok=True)
    mem = _dir("memory", path)
    if mem:
        try:  # children count against their pod's limit (always so on new kernels)
            write(f"{mem}/memory.use_hierarchy", "1")
        except OSError:
            pass
    if limits:
        _apply(path, limits)
    if rules is not None and _dir("devices", path):
        d = _dir("devices", path)
        write(f"{d}/devices.deny", "a")
        for rule in rules:
            write(f"{d}/devices.allow", devrules.v1_line(rule))


def update(path: str, limits) -> None:
    _apply(path, limits)


def _apply(path: str, limits) -> None:
    mem, cpu, pids = _dir("memory", path), _dir("cpu", path), _dir("pids", path)
    if limits.memory is not None and mem:
        write(f"{mem}/memory.limit_in_bytes", str(limits.memory))
        memsw = f"{mem}/memory.memsw.limit_in_bytes"
        if os.path.exists(memsw):  # absent without swap accounting: docker only warns
            swap = limits.memory_swap if limits.memory_swap is not None else 2 * limits.memory
            write(memsw, str(swap))
    if limits.cpu_quota_us is not None and cpu:
        from minipod.spec import CPU_PERIOD_US
        write(f"{cpu}/cpu.cfs_period_us", str(CPU_PERIOD_US))
        write(f"{cpu}/cpu.cfs_quota_us", str(limits.cpu_quota_us))
    if limits.cpu_shares is not None and cpu:
        write(f"{cpu}/cpu.shares", str(limits.cpu_shares))
    if limits.pids is not None and pids:
        write(f"{pids}/pids.max", str(limits.pids))


def join(path: str) -> None:
    for d in _dirs(path):
        with open(f"{d}/cgroup.procs", "w") as f:
            f.write("0")


def children(path: str) -> list:
    names = set()
    for d in _dirs(path):
        try:
            names.update(e.name for e in os.scandir(d) if e.is_dir())
        except FileNotFoundError:
            pass
    return sorted(names)


def remove(path: str) -> None:
    for d in _dirs(path):
        remove_tree(d)


def remove_tree(top: str) -> None:
    """Kill what is left in ``top`` and below, then rmdir bottom-up."""
    if not os.path.isdir(top):
        return
    for root, dirs, _files in os.walk(top, topdown=False):
        _kill_procs(root)
        _rmdir(root)


def _kill_procs(d: str) -> None:
    try:
        with open(f"{d}/cgroup.procs") as f:
            pids = [int(x) for x in f.read().split()]
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rmdir(d: str) -> None:
    """rmdir, retried while killed tasks are still exiting (EBUSY)."""
    for _ in range(200):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != 16:  # EBUSY
                raise
            _kill_procs(d)
            time.sleep(0.01)
    os.rmdir(d)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _stat_field(text: str, key: str) -> int:
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


def oom_kills(path: str) -> int:
    mem = _dir("memory", path)
    return _stat_field(_read(f"{mem}/memory.oom_control"), "oom_kill") if mem else 0


def stats(path: str) -> dict:
    mem, acct, pids = _dir("memory", path), _dir("cpuacct", path), _dir("pids", path)
    usage = int(_read(f"{mem}/memory.usage_in_bytes"))
    inactive = _stat_field(_read(f"{mem}/memory.stat"), "total_inactive_file")
    limit = int(_read(f"{mem}/memory.limit_in_bytes"))
    return {"cpu_ns": int(_read(f"{acct}/cpuacct.usage")),
            "memory": max(usage - inactive, 0),
            "memory_limit": None if limit >= UNLIMITED else limit,
            "pids": int(_read(f"{pids}/pids.current")) if pids else 0}
