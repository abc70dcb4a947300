"""A Pod object's deletion, as on a cluster: the object is marked
(deletionTimestamp, deletionGracePeriodSeconds) and shown Terminating; the
node agent tears its pod down (kubelet/teardown.py, side by side with
others) and then deletes the object; whoever deleted it waits for that,
as `kubectl delete` does."""

import contextlib
import time

from minipod.core import removal
from minipod.errors import NotFound
from minipod.objects import kinds, store
from minipod.roles.kubelet.pods import realised


def destroy(rec: dict, grace: float = 10.0) -> list:
    """Remove a realised pod: its containers get SIGTERM and ``grace``
    seconds, then SIGKILL; then pause and the network go."""
    with contextlib.suppress(NotFound):
        return removal.remove_pod(rec["id"], force=True, timeout=grace)
    return []


def grace_of(obj) -> float:
    return float((obj or {}).get("spec", {}).get("terminationGracePeriodSeconds", 30))


GRACE_CAP = 10.0  # a delete without gracePeriodSeconds gives the pod's own grace period, at most this


def deletion_grace(obj) -> float:
    """The seconds a Pod object being deleted gives its containers between
    SIGTERM and SIGKILL: the delete's gracePeriodSeconds (kept in the
    object as deletionGracePeriodSeconds), else the pod's own, at most 10
    (an object already gone, None: 10)."""
    given = ((obj or {}).get("metadata") or {}).get("deletionGracePeriodSeconds")
    return float(given) if given is not None else min(grace_of(obj), GRACE_CAP)


def terminate(obj: dict, grace=None):
    """A graceful delete of a Pod object, as the API server begins it: the
    object is marked (deletionTimestamp, deletionGracePeriodSeconds), `get
    pods` shows it Terminating, and the node agent tears its pod down and
    then deletes it. Returns the object as marked (None: it was gone)."""
    meta = obj["metadata"]
    grace = deletion_grace(obj) if grace is None else grace
    return store.mark_deleted(kinds.POD, meta["namespace"], meta["name"], meta.get("uid"), grace=grace)


def wait_deleted(objs: list, timeout: float, keep_alive=None) -> list:
    """Wait until the node agent has deleted every one of ``objs`` (their
    pods torn down); returns those still there after ``timeout`` seconds.
    ``keep_alive``, called every second meanwhile, starts the agent again
    if it died (it finishes the deletions)."""
    deadline = time.monotonic() + timeout
    left, checked = list(objs), time.monotonic()
    while True:
        left = [o for o in left if (store.get(kinds.POD, o["metadata"]["namespace"], o["metadata"]["name"]) or
                                    {"metadata": {}})["metadata"].get("uid") == o["metadata"]["uid"]]
        if not left or time.monotonic() >= deadline:
            return left
        if keep_alive is not None and time.monotonic() - checked >= 1.0:
            keep_alive()
            checked = time.monotonic()
        time.sleep(0.05)


def remove_for_object(obj: dict, grace=None) -> list:
    """Remove the realised pod of a deleted Pod object (by uid), its
    containers given ``grace`` seconds (the delete's gracePeriodSeconds;
    else the pod's own, at most 10) to stop before SIGKILL."""
    rec = realised().get(obj["metadata"].get("uid"))
    return destroy(rec, deletion_grace(obj) if grace is None else grace) if rec else []
