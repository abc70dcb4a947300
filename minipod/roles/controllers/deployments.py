"""The Deployment controller's part: keep ``replicas`` Pod objects of the
current template, named "<deployment>-<template hash>-<5 chars>" as
Kubernetes names them; a changed template is rolled out one pod at a
time, each new pod Running before an old one is deleted (maxSurge 1,
maxUnavailable 0). A pod it deletes goes gracefully (deletion.terminate).

Pods belong to a Deployment through ownerReferences (its uid); the
kubelet's part (pods.py) realises them like any other Pod object.
"""

import os

from minipod.core import pod
from minipod.objects import kinds, store
from minipod.objects.workloads import TEMPLATE_HASH_LABEL, template_hash
from minipod.roles.kubelet import deletion, pods

SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def owned_pods(dep: dict, active: bool = False) -> list:
    """The Deployment's Pod objects; ``active``: not those being deleted
    (Terminating), which no longer count as its replicas (a replacement is
    made at once, as the ReplicaSet controller filters active pods)."""
    uid = dep["metadata"]["uid"]
    return [p for p in store.list_objects(kinds.POD, dep["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
            and not (active and p["metadata"].get("deletionTimestamp"))]


def suffix() -> str:
    """Five random characters of Kubernetes' alphabet (a generated name's end)."""
    return "".join(SUFFIX_ALPHABET[b % len(SUFFIX_ALPHABET)] for b in os.urandom(5))


def new_pod(dep: dict, tpl_hash: str) -> dict:
    meta, tpl = dep["metadata"], dep["spec"]["template"]
    tmeta = tpl.get("metadata") or {}
    pod_meta = {"name": f"{meta['name']}-{tpl_hash}-{suffix()}", "namespace": meta["namespace"],
                "labels": {**(tmeta.get("labels") or {}), TEMPLATE_HASH_LABEL: tpl_hash},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                     "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]}
    if tmeta.get("annotations"):
        pod_meta["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": tpl["spec"]}


def _is_ready(pod_obj: dict, live: dict, containers: dict) -> bool:
    st = pods.status_of(pod_obj, live.get(pod_obj["metadata"]["uid"]), containers=containers)
    return st["phase"] == "Running" and st["conditions"][0]["status"] == "True"


def plan(replicas: int, current: list, old: list, ready_current: int) -> tuple:
    """(pods to create, pods to delete) for one step of a rollout. ``current``
    and ``old`` are lists of pods (newest last); pure, for the unit tests."""
    if not old:
        if len(current) < replicas:
            return replicas - len(current), []
        return 0, current[replicas:][::-1] if len(current) > replicas else []
    if ready_current < len(current):
        return 0, []  # a new pod is still starting: wait for it
    if len(current) + len(old) <= replicas and len(current) < replicas:
        return 1, []  # surge one new pod
    if len(current) + len(old) > replicas:
        return 0, [old[0]]  # the oldest old pod goes once its replacement runs
    return 1, []


def reconcile(log) -> None:
    """One pass over every Deployment."""
    live = pods.realised()
    containers = pod.containers_by_pod()  # once for every pod of the pass
    for dep in store.list_objects(kinds.DEPLOYMENT):
        tpl_hash = template_hash(dep["spec"]["template"])
        mine = sorted(owned_pods(dep, active=True), key=lambda p: (p["metadata"]["creationTimestamp"],
                                                     int(p["metadata"]["resourceVersion"])))
        current = [p for p in mine if p["metadata"]["labels"].get(TEMPLATE_HASH_LABEL) == tpl_hash]
        old = [p for p in mine if p not in current]
        ready = sum(1 for p in current if _is_ready(p, live, containers))
        create, delete = plan(dep["spec"].get("replicas", 1), current, old, ready)
        for _ in range(create):
            obj, _action = store.put(kinds.POD, new_pod(dep, tpl_hash))
            log(f"deployment {dep['metadata']['namespace']}/{dep['metadata']['name']}: "
                f"created pod {obj['metadata']['name']}")
        for p in delete:
            deletion.terminate(p)  # the node agent tears it down, then deletes it
            log(f"deployment {dep['metadata']['namespace']}/{dep['metadata']['name']}: "
                f"deleting pod {p['metadata']['name']}")
    # Pods whose Deployment is gone (deleted while the agent was down).
    uids = {d["metadata"]["uid"] for d in store.list_objects(kinds.DEPLOYMENT)}
    for p in store.list_objects(kinds.POD):
        refs = [r for r in p["metadata"].get("ownerReferences") or [] if r.get("kind") == "Deployment"]
        if refs and not any(r.get("uid") in uids for r in refs) and not p["metadata"].get("deletionTimestamp"):
            deletion.terminate(p)
            log(f"deleting orphaned pod {p['metadata']['namespace']}/{p['metadata']['name']}")


def status(dep: dict) -> dict:
    """readyReplicas, updatedReplicas, availableReplicas, replicas: what
    `get deploy` shows (READY, UP-TO-DATE, AVAILABLE)."""
    live = pods.realised()
    tpl_hash = template_hash(dep["spec"]["template"])
    mine = owned_pods(dep, active=True)
    containers = pod.containers_by_pod() if mine else {}
    ready = sum(1 for p in mine if _is_ready(p, live, containers))
    updated = sum(1 for p in mine if p["metadata"]["labels"].get(TEMPLATE_HASH_LABEL) == tpl_hash)
    return {"replicas": len(mine), "readyReplicas": ready, "updatedReplicas": updated,
            "availableReplicas": ready, "observedGeneration": dep["metadata"].get("generation", 1)}
