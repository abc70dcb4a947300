"""The endpoints controller's part: for every Service with a selector, an
Endpoints object of the same name listing the ready pods that match it (in
the service's namespace) with each service port's resolved target port.
A target port given by name is looked up among the pod's container ports;
a pod without that name is left out of that port, as Kubernetes does.

Pods made by `minipod pod create` / `run` (namespace default) count too,
by their labels; they have no named ports.
"""

from minipod.core import pod
from minipod.objects import kinds, selectors, store
from minipod.roles.kubelet import pods

MANAGED = "endpoints.minipod.io/managed-by"


def _target(port: dict, pod_obj: dict):
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    for c in pod_obj["spec"].get("containers", []):
        for p in c.get("ports", []):
            if p.get("name") == target and p.get("protocol", "TCP") == port.get("protocol", "TCP"):
                return p["containerPort"]
    return None


def _ready(pod_obj: dict) -> bool:
    """Its containers ready: the pass that lists it here is what reports it
    Ready once its Services' steps are done (kubelet/readiness.py)."""
    conds = (pod_obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "ContainersReady" and c["status"] == "True" for c in conds)


def desired(svc: dict, pod_objs: list) -> dict:
    """The Endpoints object for ``svc`` given every pod (with status)."""
    meta = svc["metadata"]
    reqs = [(k, "=", (v,)) for k, v in sorted(svc["spec"]["selector"].items())]
    groups = {}  # resolved ports -> (ready addresses, not ready addresses)
    for p in pod_objs:
        st = p.get("status") or {}
        if p["metadata"].get("namespace") != meta["namespace"] or not st.get("podIP") \
                or not selectors.matches(reqs, p["metadata"].get("labels")):
            continue
        if p["metadata"].get("deletionTimestamp"):
            continue  # terminating: out of the Service at once, as the endpoints controller leaves it out
        resolved = tuple((port.get("name", ""), _target(port, p), port.get("protocol", "TCP"))
                         for port in svc["spec"].get("ports", []))
        resolved = tuple(r for r in resolved if r[1] is not None)
        if not resolved:
            continue
        address = {"ip": st["podIP"], "nodeName": pods.node_name(),
                   "targetRef": {"kind": "Pod", "name": p["metadata"]["name"],
                                 "namespace": meta["namespace"], "uid": p["metadata"].get("uid", "")}}
        groups.setdefault(resolved, ([], []))[0 if _ready(p) else 1].append(address)
    subsets = []
    for resolved, (ready, not_ready) in sorted(groups.items()):
        subset = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        subset["ports"] = [{"name": n, "port": port, "protocol": proto} if n else
                           {"port": port, "protocol": proto} for n, port, proto in resolved]
        subsets.append(subset)
    out = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                        "annotations": {MANAGED: "minipod-agent"}}}
    if meta.get("labels"):
        out["metadata"]["labels"] = dict(meta["labels"])
    if subsets:
        out["subsets"] = subsets
    return out


def all_pods() -> list:
    """Every pod with its live status: Pod objects and local pods."""
    records = pod.store().all()  # one read of the pod records and one of the containers', for both
    containers = pod.containers_by_pod() if records else {}
    return pods.with_status(store.list_objects(kinds.POD), records, containers) + \
        pods.local_pod_objects(None, records, containers)


def reconcile(log) -> None:
    """Write every service's Endpoints when they changed; drop the ones
    minipod made for services that are gone."""
    services = store.list_objects(kinds.SERVICE, shared=True)  # read only
    wanted = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services if s["spec"].get("selector")}
    pod_objs = all_pods() if wanted else []
    existing = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                for e in store.list_objects(kinds.ENDPOINTS, shared=True)}
    for svc in services:
        if not svc["spec"].get("selector"):
            continue  # the user keeps its Endpoints (a service for something outside the cluster)
        want = desired(svc, pod_objs)
        have = existing.get((svc["metadata"]["namespace"], svc["metadata"]["name"]))
        if have is not None and store.desired(have) == store.desired(want):
            continue  # unchanged: no lock taken, nothing read again
        _obj, action = store.put(kinds.ENDPOINTS, want)
        if action != "unchanged":
            ips = [a["ip"] for s in _obj.get("subsets", []) for a in s.get("addresses", [])]
            log(f"endpoints {svc['metadata']['namespace']}/{svc['metadata']['name']}: "
                f"{', '.join(ips) or 'none ready'}")
    for key, ep in existing.items():
        if key not in wanted and (ep["metadata"].get("annotations") or {}).get(MANAGED):
            store.delete(kinds.ENDPOINTS, *key)
