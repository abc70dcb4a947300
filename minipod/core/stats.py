"""CPU, memory and process counts of running containers, read from their
cgroups: `minipod stats` (docker's columns) and the metrics API that
`kubectl top` reads (metrics-server's figures); the host's own for a
node."""

import time

from minipod.core import container
from minipod.runtime import cgroup

INTERVAL = 1.0  # seconds between samples, as docker stats


def _targets(refs) -> list:
    if refs:
        return [container.load(r) for r in refs]
    return sorted((c for c in container.list_containers() if c["status"] == "running"),
                  key=lambda c: c["name"])


def _read(ctrs) -> dict:
    out = {}
    for c in ctrs:
        if c["status"] == "running" and c.get("cgroup"):
            try:
                out[c["id"]] = cgroup.stats(c["cgroup"])
            except OSError:
                pass  # exited between listing and reading
    return out


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024


def sample(refs, forever=False):
    """Yield lists of rows {id, name, cpu_percent, memory, memory_limit,
    memory_percent, pids}: CPU % over INTERVAL (100% is one whole CPU, as
    docker shows it). One list, or one per INTERVAL with ``forever``."""
    for ref in refs:
        container.load(ref)  # unknown names fail before the first sample
    total = _host_memory()
    before, t0 = _read(_targets(refs)), time.monotonic()
    while True:
        time.sleep(INTERVAL)
        ctrs = _targets(refs)
        after, t1 = _read(ctrs), time.monotonic()
        rows = []
        for c in ctrs:
            now = after.get(c["id"])
            prev = before.get(c["id"])
            limit = (now or {}).get("memory_limit") or total
            cpu = ((now["cpu_ns"] - prev["cpu_ns"]) / ((t1 - t0) * 1e9) * 100) if now and prev else 0.0
            mem = now["memory"] if now else 0
            rows.append({"id": c["id"], "name": c["name"], "cpu_percent": round(max(cpu, 0.0), 2),
                         "memory": mem, "memory_limit": min(limit, total),
                         "memory_percent": round(mem / min(limit, total) * 100, 2) if limit else 0.0,
                         "pids": now["pids"] if now else 0})
        yield rows
        if not forever:
            return
        before, t0 = after, t1


def usage(recs, window: float = INTERVAL) -> dict:
    """{container id: (CPU in nanocores, memory in bytes)} of the running
    containers among ``recs`` (records with their status), the CPU as the
    rate over ``window`` seconds: what metrics-server reports of them."""
    before, t0 = _read(recs), time.monotonic()
    time.sleep(window)
    after, t1 = _read(recs), time.monotonic()
    return {cid: (max(0, int((now["cpu_ns"] - before[cid]["cpu_ns"]) / (t1 - t0))) if cid in before else 0,
                  now["memory"]) for cid, now in after.items()}


def _host_busy_ticks() -> tuple:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return sum(fields[:8]) - idle  # user … steal; guest time is counted in user already


def host_usage(window: float = INTERVAL) -> tuple:
    """(CPU in nanocores, memory in use in bytes) of the whole host: the
    busy share of /proc/stat over ``window`` seconds, and MemTotal less
    MemAvailable."""
    import os
    hz = os.sysconf("SC_CLK_TCK")
    before, t0 = _host_busy_ticks(), time.monotonic()
    time.sleep(window)
    after, t1 = _host_busy_ticks(), time.monotonic()
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":", 1)
            info[key] = int(value.split()[0]) * 1024
    return int((after - before) / hz / (t1 - t0) * 1e9), info["MemTotal"] - info.get("MemAvailable", info["MemFree"])
