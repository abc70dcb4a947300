"""The ReplicaSet controller's part: keep spec.replicas Pod objects of a
ReplicaSet's template, named "<replicaset>-<5 chars>" and owned by it
(ownerReferences); pods being deleted (Terminating) do not count, so a
replacement is made at once. Too many: those not ready go first, then the
newest, as the controller ranks them. Each pod made or deleted is an Event
of the ReplicaSet (SuccessfulCreate, SuccessfulDelete).

A ReplicaSet whose Deployment is gone goes, and so do pods whose
ReplicaSet is gone (the garbage collector's part, for what was deleted
while the agent was down)."""

import os

from minipod.errors import MinipodError
from minipod.objects import events, kinds, store
from minipod.roles.kubelet import deletion, pods

SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
COMPONENT = "replicaset-controller"


def suffix() -> str:
    """Five random characters of Kubernetes' alphabet (a generated name's end)."""
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in os.urandom(5))


def owner_ref(obj: dict) -> dict:
    """The controller ownerReference to ``obj`` (a Deployment or a ReplicaSet)."""
    return {"apiVersion": "apps/v1", "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def controller_of(obj: dict):
    """The ownerReference of ``obj``'s controller, or None."""
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def owned(kind, owner: dict, candidates=None) -> list:
    """The objects of ``kind`` whose controller is ``owner`` (by uid)."""
    uid = owner["metadata"]["uid"]
    objs = store.list_objects(kind, owner["metadata"]["namespace"]) if candidates is None else candidates
    return [o for o in objs if (controller_of(o) or {}).get("uid") == uid]


def owned_pods(rs: dict, active: bool = False, candidates=None) -> list:
    """The ReplicaSet's Pod objects; ``active``: not those being deleted."""
    return [p for p in owned(kinds.POD, rs, candidates) if not (active and p["metadata"].get("deletionTimestamp"))]


def new_pod(rs: dict) -> dict:
    meta, tpl = rs["metadata"], rs["spec"]["template"]
    tmeta = tpl.get("metadata") or {}
    pod_meta = {"name": f"{meta['name']}-{suffix()}", "namespace": meta["namespace"],
                "labels": dict(tmeta.get("labels") or {}), "ownerReferences": [owner_ref(rs)]}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": tpl["spec"]}


def involved(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"kind": obj["kind"], "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"],
            "apiVersion": "apps/v1"}


def event(obj: dict, reason: str, message: str, type_: str = "Normal", component: str = COMPONENT) -> None:
    """An Event of a ReplicaSet or a Deployment, reported by its controller."""
    try:
        events.record(involved(obj), reason, message, type_, component=component)
    except OSError:
        pass  # an Event is never worth failing the step it reports


def is_ready(pod_obj: dict, live: dict, containers: dict) -> bool:
    st = pods.status_of(pod_obj, live.get(pod_obj["metadata"]["uid"]), containers=containers)
    return st["phase"] == "Running" and st["conditions"][0]["status"] == "True"


def _to_delete(mine: list, n: int, live: dict, containers: dict) -> list:
    """Which ``n`` pods go: those not ready first, then the newest."""
    def rank(p):
        meta = p["metadata"]
        return is_ready(p, live, containers), (meta["creationTimestamp"], int(meta["resourceVersion"]))
    ranked = sorted(mine, key=rank)
    not_ready = [p for p in ranked if not rank(p)[0]]
    return (not_ready + [p for p in reversed(ranked) if rank(p)[0]])[:n]


def reconcile(log, live: dict, containers: dict) -> None:
    """One pass over every ReplicaSet; then what lost its owner goes."""
    all_pods = store.list_objects(kinds.POD)
    replicasets = store.list_objects(kinds.REPLICASET)
    for rs in replicasets:
        name = f"{rs['metadata']['namespace']}/{rs['metadata']['name']}"
        mine = owned_pods(rs, active=True, candidates=all_pods)
        want = rs["spec"].get("replicas", 1)
        for _ in range(want - len(mine)):
            try:
                obj, _action = store.put(kinds.POD, new_pod(rs))
            except MinipodError as e:  # its template is refused as a Pod (a namespace being deleted, ...)
                event(rs, "FailedCreate", f"Error creating: {e}", "Warning")
                log(f"replicaset {name}: cannot create a pod: {e}")
                break
            event(rs, "SuccessfulCreate", f"Created pod: {obj['metadata']['name']}")
            log(f"replicaset {name}: created pod {obj['metadata']['name']}")
        for p in _to_delete(mine, len(mine) - want, live, containers) if len(mine) > want else []:
            deletion.terminate(p)  # the node agent tears it down, then deletes it
            event(rs, "SuccessfulDelete", f"Deleted pod: {p['metadata']['name']}")
            log(f"replicaset {name}: deleting pod {p['metadata']['name']}")
    deployments = {d["metadata"]["uid"] for d in store.list_objects(kinds.DEPLOYMENT)}
    for rs in replicasets:
        ref = controller_of(rs)
        if ref and ref.get("kind") == "Deployment" and ref.get("uid") not in deployments:
            store.delete(kinds.REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"], rs["metadata"]["uid"])
            log(f"deleted replicaset {rs['metadata']['namespace']}/{rs['metadata']['name']}: its deployment is gone")
    owners = {r["metadata"]["uid"] for r in store.list_objects(kinds.REPLICASET)} | deployments
    for p in all_pods:
        ref = controller_of(p)
        if ref and ref.get("kind") in ("ReplicaSet", "Deployment") and ref.get("uid") not in owners \
                and not p["metadata"].get("deletionTimestamp"):
            deletion.terminate(p)
            log(f"deleting orphaned pod {p['metadata']['namespace']}/{p['metadata']['name']}")


def status(rs: dict, live: dict = None, containers: dict = None) -> dict:
    """What `get rs` shows (DESIRED, CURRENT, READY) and the Deployment
    controller reads (availableReplicas)."""
    from minipod.core import pod
    live = pods.realised() if live is None else live
    mine = owned_pods(rs, active=True)
    containers = (pod.containers_by_pod() if mine else {}) if containers is None else containers
    ready = sum(1 for p in mine if is_ready(p, live, containers))
    return {"replicas": len(mine), "fullyLabeledReplicas": len(mine), "readyReplicas": ready,
            "availableReplicas": ready, "observedGeneration": rs["metadata"].get("generation", 1)}
