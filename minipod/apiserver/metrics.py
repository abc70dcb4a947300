"""metrics.k8s.io/v1beta1, metrics-server's API, which `kubectl top pod`
and `kubectl top node` read: each running container's CPU (the rate over
a one-second window, in nanocores) and memory (without reclaimable page
cache, as metrics-server's working set), from its cgroup; the node's from
/proc. Sampled when asked, never stored."""

import time

from minipod.apiserver.status import APIError
from minipod.errors import NotFound

KINDS = ("PodMetrics", "NodeMetrics")
WINDOW = 1.0


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _quantities(cpu_nanocores: int, memory: int) -> dict:
    return {"cpu": f"{cpu_nanocores}n", "memory": f"{memory // 1024}Ki"}


def pods(pod_objects: list) -> list:
    """PodMetrics of the running pods among ``pod_objects`` (as `get` shows
    them, with status): one sample for all of them."""
    from minipod.core import container, stats
    running = []
    for obj in pod_objects:
        ctrs = []
        for cs in (obj.get("status") or {}).get("containerStatuses") or []:
            if "running" in (cs.get("state") or {}) and cs.get("containerID", "").startswith("minipod://"):
                try:
                    ctrs.append((cs["name"], container.with_status(container.load(cs["containerID"][10:]))))
                except NotFound:  # gone since the listing: not running, not shown
                    continue
        if ctrs:
            running.append((obj, ctrs))
    figures = stats.usage([rec for _obj, ctrs in running for _name, rec in ctrs], WINDOW)
    now = time.time()
    out = []
    for obj, ctrs in running:
        shown = [{"name": name, "usage": _quantities(*figures[rec["id"]])}
                 for name, rec in ctrs if rec["id"] in figures]
        if shown:
            meta = obj["metadata"]
            out.append({"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"),
                                     "labels": meta.get("labels") or {}, "creationTimestamp": _iso(now)},
                        "timestamp": _iso(now - WINDOW), "window": f"{WINDOW:g}s", "containers": shown})
    return out


def node(node_object: dict) -> dict:
    """NodeMetrics of this node."""
    from minipod.core import stats
    cpu, memory = stats.host_usage(WINDOW)
    now = time.time()
    meta = node_object["metadata"]
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": meta["name"], "labels": meta.get("labels") or {}, "creationTimestamp": _iso(now)},
            "timestamp": _iso(now - WINDOW), "window": f"{WINDOW:g}s", "usage": _quantities(cpu, memory)}


def one(items: list, kind: str, name: str) -> dict:
    for item in items:
        if item["metadata"]["name"] == name:
            return item
    plural = "pods" if kind == "PodMetrics" else "nodes"
    raise APIError(404, f'{plural}.metrics.k8s.io "{name}" not found', details={"name": name, "kind": plural,
                                                                                "group": "metrics.k8s.io"})
