"""cgroup v2: one unified hierarchy; controllers are enabled for children
through each ancestor's cgroup.subtree_control, devices are an eBPF
program attached to the cgroup."""

import os

from minipod.runtime.cgroup import devices as devrules
from minipod.runtime.cgroup.files import CGROUP_ROOT, read, remove_tree, stat_field, write

WANTED = ("cpu", "memory", "pids")


def _dir(path: str) -> str:
    return f"{CGROUP_ROOT}/{path}"


def _enable_controllers(path: str) -> None:
    """Enable cpu, memory and pids in the subtree_control of ``path`` and of
    every ancestor of it (root included), as far as the root offers them, so
    that a child of ``path`` has their files."""
    with open(f"{CGROUP_ROOT}/cgroup.controllers") as f:
        offered = set(f.read().split())
    wanted = " ".join(f"+{c}" for c in WANTED if c in offered)
    if not wanted:
        return
    parts = path.split("/")
    for depth in range(len(parts) + 1):
        ancestor = "/".join([CGROUP_ROOT] + parts[:depth])
        with open(f"{ancestor}/cgroup.subtree_control") as f:
            if all(c in f.read().split() for c in WANTED if c in offered):
                continue
        write(f"{ancestor}/cgroup.subtree_control", wanted)


def create(path: str, limits, rules) -> None:
    parent = os.path.dirname(path)
    os.makedirs(_dir(parent), exist_ok=True)
    _enable_controllers(parent)
    os.makedirs(_dir(path), exist_ok=True)
    if limits:
        _apply(path, limits)
    if rules is not None:
        devrules.attach_bpf(_dir(path), rules)


def update(path: str, limits) -> None:
    _apply(path, limits)


def cpu_weight(shares: int) -> int:
    """v1 cpu.shares (2-262144) to v2 cpu.weight (1-10000), runc's mapping."""
    return 1 + ((shares - 2) * 9999) // 262142


def _apply(path: str, limits) -> None:
    d = _dir(path)
    if limits.memory is not None:
        write(f"{d}/memory.max", str(limits.memory))
        if os.path.exists(f"{d}/memory.swap.max"):
            if limits.memory_swap == -1:
                swap = "max"
            else:  # v2 limits swap alone; docker's default is as much swap as memory
                total = limits.memory_swap if limits.memory_swap is not None else 2 * limits.memory
                swap = str(total - limits.memory)
            write(f"{d}/memory.swap.max", swap)
    if limits.cpu_quota_us is not None:
        from minipod.spec import CPU_PERIOD_US
        write(f"{d}/cpu.max", f"{limits.cpu_quota_us} {CPU_PERIOD_US}")
    if limits.cpu_shares is not None:
        write(f"{d}/cpu.weight", str(cpu_weight(limits.cpu_shares)))
    if limits.pids is not None:
        write(f"{d}/pids.max", str(limits.pids))


def join(path: str) -> None:
    with open(f"{_dir(path)}/cgroup.procs", "w") as f:
        f.write("0")


def children(path: str) -> list:
    try:
        return sorted(e.name for e in os.scandir(_dir(path)) if e.is_dir())
    except FileNotFoundError:
        return []


def remove(path: str) -> None:
    d = _dir(path)
    if os.path.exists(f"{d}/cgroup.kill"):  # 5.14+: one write kills the subtree
        try:
            with open(f"{d}/cgroup.kill", "w") as f:
                f.write("1")
        except OSError:
            pass
    remove_tree(d)


def oom_kills(path: str) -> int:
    return stat_field(read(f"{_dir(path)}/memory.events"), "oom_kill")


def stats(path: str) -> dict:
    d = _dir(path)
    usage = int(read(f"{d}/memory.current"))
    inactive = stat_field(read(f"{d}/memory.stat"), "inactive_file")
    limit = read(f"{d}/memory.max").strip()
    return {"cpu_ns": stat_field(read(f"{d}/cpu.stat"), "usage_usec") * 1000,
            "memory": max(usage - inactive, 0),
            "memory_limit": None if limit == "max" else int(limit),
            "pids": int(read(f"{d}/pids.current")) if os.path.exists(f"{d}/pids.current") else 0}
