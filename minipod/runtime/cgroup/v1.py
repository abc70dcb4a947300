"""cgroup v1: one directory per controller hierarchy (memory, cpu,
cpuacct, pids, devices), as on hybrid hosts and older distributions."""

import os

from minipod.runtime.cgroup import devices as devrules
from minipod.runtime.cgroup.files import CGROUP_ROOT, read, remove_tree, stat_field, write

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


def oom_kills(path: str) -> int:
    mem = _dir("memory", path)
    return stat_field(read(f"{mem}/memory.oom_control"), "oom_kill") if mem else 0


def stats(path: str) -> dict:
    mem, acct, pids = _dir("memory", path), _dir("cpuacct", path), _dir("pids", path)
    usage = int(read(f"{mem}/memory.usage_in_bytes"))
    inactive = stat_field(read(f"{mem}/memory.stat"), "total_inactive_file")
    limit = int(read(f"{mem}/memory.limit_in_bytes"))
    return {"cpu_ns": int(read(f"{acct}/cpuacct.usage")),
            "memory": max(usage - inactive, 0),
            "memory_limit": None if limit >= UNLIMITED else limit,
            "pids": int(read(f"{pids}/pids.current")) if pids else 0}
