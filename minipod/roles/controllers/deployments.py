"""The Deployment controller's part, as Kubernetes': a Deployment owns a
ReplicaSet per pod template it has had, named "<deployment>-<template
hash>" (the pod-template-hash label on it, its selector and its pods), with
its revision ("deployment.kubernetes.io/revision"). The ReplicaSet of the
current template is the new one; a rolling update scales it up and the old
ones down within maxSurge and maxUnavailable (rollout.py), each change an
Event (ScalingReplicaSet). Old ReplicaSets stay at 0 replicas as the
rollout history (`kubectl rollout history`, `rollout undo`), at most
revisionHistoryLimit of them. A paused Deployment is left as it is.

The ReplicaSet controller (replicasets.py) makes and deletes the pods.
Pods that a Deployment owned directly (minipod before ReplicaSets) are
adopted by a ReplicaSet of their template on the first pass."""

import copy

from minipod.core import pod
from minipod.objects import defaults, kinds, store
from minipod.objects.workloads import TEMPLATE_HASH_LABEL, template_hash
from minipod.roles.controllers import replicasets, rollout
from minipod.roles.kubelet import pods

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubectl.kubernetes.io/change-cause"
COMPONENT = "deployment-controller"
suffix = replicasets.suffix  # generated names (the API server's generateName uses it too)


def revision(rs: dict) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def owned_replicasets(dep: dict) -> list:
    return replicasets.owned(kinds.REPLICASET, dep)


def owned_pods(dep: dict, active: bool = False) -> list:
    """The Deployment's Pod objects (through its ReplicaSets, and any it
    owns directly from before them); ``active``: not those being deleted."""
    candidates = store.list_objects(kinds.POD, dep["metadata"]["namespace"])
    out = replicasets.owned(kinds.POD, dep, candidates)
    for rs in owned_replicasets(dep):
        out += replicasets.owned(kinds.POD, rs, candidates)
    return [p for p in out if not (active and p["metadata"].get("deletionTimestamp"))]


def _template_of(dep: dict, tpl_hash: str) -> dict:
    tpl = copy.deepcopy(dep["spec"]["template"])
    tpl.setdefault("metadata", {}).setdefault("labels", {})[TEMPLATE_HASH_LABEL] = tpl_hash
    return tpl


def _new_replicaset(dep: dict, tpl: dict, tpl_hash: str, rev: int, replicas: int = 0) -> dict:
    meta = dep["metadata"]
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    annotations[REVISION] = str(rev)
    selector = copy.deepcopy(dep["spec"]["selector"])
    selector.setdefault("matchLabels", {})[TEMPLATE_HASH_LABEL] = tpl_hash
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{meta['name']}-{tpl_hash}", "namespace": meta["namespace"],
                         "labels": dict((tpl.get("metadata") or {}).get("labels") or {}),
                         "annotations": annotations, "ownerReferences": [replicasets.owner_ref(dep)]},
            "spec": {"replicas": replicas, "selector": selector, "template": tpl}}


def _adopt_own_pods(dep: dict, rses: list, log) -> list:
    """Pods the Deployment owns directly go to a ReplicaSet of their
    template (made for them if needed, as an old revision)."""
    legacy = replicasets.owned(kinds.POD, dep)
    if not legacy:
        return rses
    by_hash = {}
    for p in legacy:
        by_hash.setdefault(p["metadata"].get("labels", {}).get(TEMPLATE_HASH_LABEL, ""), []).append(p)
    for tpl_hash, group in by_hash.items():
        rs = next((r for r in rses if r["metadata"]["name"] == f"{dep['metadata']['name']}-{tpl_hash}"), None)
        if rs is None:
            tpl = {"metadata": {"labels": dict(group[0]["metadata"].get("labels") or {})},
                   "spec": copy.deepcopy(group[0]["spec"])}
            rev = 2 if tpl_hash == template_hash(dep["spec"]["template"]) else 1
            rs, _ = store.put(kinds.REPLICASET, _new_replicaset(dep, tpl, tpl_hash, rev, replicas=len(group)))
            rses.append(rs)
        for p in group:
            p = store.desired(p)
            p["metadata"]["ownerReferences"] = [replicasets.owner_ref(rs)]
            store.put(kinds.POD, p, must_exist=True)
        log(f"deployment {dep['metadata']['namespace']}/{dep['metadata']['name']}: replicaset "
            f"{rs['metadata']['name']} adopted {len(group)} pod(s) it owned itself")
    return rses


def _scale(dep: dict, rs: dict, replicas: int, log) -> None:
    old = rs["spec"].get("replicas", 1)
    rs = store.desired(rs)
    rs["spec"]["replicas"] = replicas
    store.put(kinds.REPLICASET, rs, must_exist=True)
    way = "up" if replicas > old else "down"
    replicasets.event(dep, "ScalingReplicaSet",
                      f"Scaled {way} replica set {rs['metadata']['name']} from {old} to {replicas}",
                      component=COMPONENT)
    log(f"deployment {dep['metadata']['namespace']}/{dep['metadata']['name']}: scaled {way} replica set "
        f"{rs['metadata']['name']} to {replicas}")


def _annotate(obj_kind, obj: dict, key: str, value: str) -> dict:
    """A controller's annotation (kept across its user's writes: store.put)."""
    annotations = obj["metadata"].get("annotations") or {}
    if annotations.get(key) == value:
        return obj
    obj = store.desired(obj)
    obj["metadata"].setdefault("annotations", {})[key] = value
    return store.put(obj_kind, obj, must_exist=True)[0]


def _comparable(tpl: dict) -> dict:
    """A pod template as the API server would store it (defaults filled in),
    without its pod-template-hash: two templates are the same rollout when
    these are equal, as the controller's EqualIgnoreHash has it (`rollout
    undo` writes back a ReplicaSet's template as read, defaults and all)."""
    tpl = copy.deepcopy(tpl)
    (tpl.get("metadata") or {}).get("labels", {}).pop(TEMPLATE_HASH_LABEL, None)
    defaults.pod_spec(tpl["spec"])
    return _without_empty(tpl)


def _without_empty(value):
    """``value`` without empty objects, lists and nulls, at every depth: Go
    decodes `resources: {}` and no resources alike (what kubectl sends back)."""
    if isinstance(value, dict):
        out = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def _rolling(dep: dict) -> dict:
    return (dep["spec"].get("strategy") or {}).get("rollingUpdate") or {}


def _sync(dep: dict, live: dict, containers: dict, log) -> None:
    rses = _adopt_own_pods(dep, owned_replicasets(dep), log)
    new = new_replicaset(dep, rses)
    top = max((revision(r) for r in rses), default=0)
    replicas = dep["spec"].get("replicas", 1)
    if dep["spec"].get("paused"):
        return  # kubectl rollout pause: nothing rolls until resume
    if new is None:
        tpl_hash = template_hash(dep["spec"]["template"])
        new, _ = store.put(kinds.REPLICASET, _new_replicaset(dep, _template_of(dep, tpl_hash), tpl_hash, top + 1),
                           must_exist=False)
        rses.append(new)
    elif revision(new) < top:  # rolled back to an older template: it becomes the newest revision
        new = _annotate(kinds.REPLICASET, new, REVISION, str(top + 1))
    _annotate(kinds.DEPLOYMENT, dep, REVISION, str(revision(new)))  # kubectl rollout undo patches next to it
    olds = sorted((r for r in rses if r["metadata"]["uid"] != new["metadata"]["uid"]), key=revision)

    def info(rs):
        st = replicasets.status(rs, live, containers)
        return {"name": rs["metadata"]["name"], "replicas": rs["spec"].get("replicas", 1),
                "available": st["availableReplicas"]}
    surge, unavailable = rollout.bounds(replicas, _rolling(dep))
    change = rollout.step(replicas, surge, unavailable, info(new), [info(r) for r in olds if
                                                                     r["spec"].get("replicas", 1)])
    by_name = {r["metadata"]["name"]: r for r in rses}
    for name, n in change.items():
        _scale(dep, by_name[name], n, log)
    _prune_history(dep, olds)


def _prune_history(dep: dict, olds: list) -> None:
    """Old ReplicaSets beyond revisionHistoryLimit go, oldest first (those
    at 0 replicas whose pods are gone)."""
    limit = dep["spec"].get("revisionHistoryLimit", 10)
    idle = [r for r in olds if r["spec"].get("replicas", 1) == 0 and not replicasets.owned_pods(r)]
    for rs in idle[:max(0, len(idle) - limit)]:
        store.delete(kinds.REPLICASET, rs["metadata"]["namespace"], rs["metadata"]["name"], rs["metadata"]["uid"])


def reconcile(log) -> None:
    """One pass over every Deployment, then over every ReplicaSet."""
    live = pods.realised()
    containers = pod.containers_by_pod()  # once for every pod of the pass
    for dep in store.list_objects(kinds.DEPLOYMENT):
        _sync(dep, live, containers, log)
    replicasets.reconcile(log, live, containers)


def new_replicaset(dep: dict, rses=None):
    """The ReplicaSet of the Deployment's current template, or None."""
    want = _comparable(dep["spec"]["template"])
    return next((r for r in (owned_replicasets(dep) if rses is None else rses)
                 if _comparable(r["spec"]["template"]) == want), None)


def status(dep: dict) -> dict:
    """What `get deploy` shows (READY, UP-TO-DATE, AVAILABLE) and `rollout
    status` waits on, from its ReplicaSets' pods."""
    live = pods.realised()
    new = new_replicaset(dep)
    tpl_hash = new["metadata"]["labels"].get(TEMPLATE_HASH_LABEL) if new else None
    mine = owned_pods(dep, active=True)
    containers = pod.containers_by_pod() if mine else {}
    ready = sum(1 for p in mine if replicasets.is_ready(p, live, containers))
    updated = sum(1 for p in mine if p["metadata"]["labels"].get(TEMPLATE_HASH_LABEL) == tpl_hash)
    want = dep["spec"].get("replicas", 1)
    available = ready >= want - rollout.bounds(want, _rolling(dep))[1]
    return {"replicas": len(mine), "readyReplicas": ready, "updatedReplicas": updated,
            "availableReplicas": ready, "unavailableReplicas": max(0, want - ready),
            "observedGeneration": dep["metadata"].get("generation", 1),
            "conditions": [{"type": "Available", "status": "True" if available else "False",
                            "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable"},
                           {"type": "Progressing", "status": "True",
                            "reason": "NewReplicaSetAvailable" if updated == len(mine) == want and ready == want
                            else "ReplicaSetUpdated"}]}
