"""The node agent's failing steps (the proxy's rules, cluster DNS, the
ingress controller), kept where the API server reads them as Events of the
Node, as a kubelet or kube-proxy reports what goes wrong on its node: a
step whose host command hung (killed after its time limit) or failed
shows in `minipod get events` / `kubectl get events` until a later pass
succeeds. One small JSON file, written only when something changes."""

import time

from minipod import paths, state

REASONS = {"proxy": "FailedToSyncProxyRules", "dns": "FailedToSyncClusterDNS",
           "ingress": "FailedToSyncIngressController"}


def path():
    return paths.run_root() / "agent" / "problems.json"


def read() -> dict:
    """{step: {"reason", "message", "first", "last", "count"}}."""
    try:
        return state.read_json(path())
    except (FileNotFoundError, ValueError):
        return {}


def failed(step: str, message: str) -> None:
    now = time.time()
    known = read()
    entry = known.get(step) or {"reason": REASONS.get(step, "Failed"), "first": now, "count": 0}
    entry.update(message=message, last=now, count=entry["count"] + 1)
    known[step] = entry
    state.write_json(path(), known)


def recovered(step: str) -> None:
    known = read()
    if known.pop(step, None) is not None:
        state.write_json(path(), known)
