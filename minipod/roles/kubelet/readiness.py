"""When a Pod object is reported Ready: its containers are ready
(ContainersReady, as the kubelet reports it) and the node has acted on it.

On a cluster, Ready comes first and the rest follows within a second or so:
the endpoints controller adds the pod, kube-proxy writes its rules, the DNS
server and the ingress controller catch up. A `kubectl wait
--for=condition=Ready` followed at once by a request to the Service can lose
that race. minipod's node is all of those roles in one pass, so it can close
it: a pod is reported Ready once a pass that saw its containers ready has
finished its Services' steps (endpoints, proxy rules, policies, cluster DNS,
ingress), as a readiness gate would. The Endpoints controller reads
ContainersReady, as it must to be what the pass acts on.

The agent records the time up to which its last finished pass covered
(`mark`); a container counts from the moment it became ready (`ready_since`).
"""

import os

from minipod import paths


def _stamp_path():
    # lib, not run: pods keep running (and stay Ready) when the agent stops
    return paths.lib_root() / "node-programmed"


def mark(t: float) -> None:
    """A pass has finished its Services' steps for what was ready at ``t``."""
    path = _stamp_path()
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(f"{t:.6f}\n")
        os.replace(tmp, path)
    except FileNotFoundError:
        pass  # no lib root yet: nothing was ever realised to be covered


def covered_until() -> float:
    """The time up to which the node's last finished pass covered (0: none)."""
    try:
        return float(_stamp_path().read_text())
    except (OSError, ValueError):
        return 0.0


def ready_since(rec: dict, ctr_spec: dict) -> float:
    """When a ready container became ready: its start, or (with a
    readiness probe) the probe's first pass of this start."""
    since = rec.get("started") or 0.0
    if ctr_spec.get("readinessProbe"):
        since = max(since, (rec.get("probe") or {}).get("since") or 0.0)
    return since


def conditions(containers_ready: bool, since: float, covered: float) -> list:
    """The Pod's conditions: Ready first (what `get pods` and the
    controllers read), then ContainersReady."""
    ready = containers_ready and since <= covered
    return [{"type": "Ready", "status": "True" if ready else "False"},
            {"type": "ContainersReady", "status": "True" if containers_ready else "False"}]
