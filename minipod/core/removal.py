"""Removing a pod: its containers first (remove_pod, with force), and the
pod itself in two halves, so `run --rm` and `pod rm` can return before the
slow half. Above both pod.py and container.py: the one place that removes
a pod together with its containers.

The first half (begin) is quick and leaves the pod out of everyone's way:
its netns pin takes a name no pod can have (``.removing-<id>``), and its
record moves from the pods' store to the removals' store, so its name is
free, `pod ls` and every lookup no longer see it, and a new pod may take
its name (and its pin's name) at once. Its host ports stay reserved until
the end: a new pod that wants one waits for the removal (reservations.wait_for_ports).

The second half (Removal.finish) is the usual teardown: pause stopped, a
CNI DEL of every attachment in the namespace where it is now pinned, the
pin, cgroup and directories removed, then the record. The pod's lock is
held from begin to finish. A remover killed half-way leaves the record in
the removals' store with nobody holding its lock: `minipod gc`, or the
next agent when it starts, finishes it (finish_abandoned).
"""

import contextlib
import os
import time

from minipod import paths, procfs, state
from minipod.core import container, pod, reservations
from minipod.runtime import netns
from minipod.errors import InUse, NotFound
from minipod.faults import fault_point

PIN_PREFIX = ".removing-"  # pod names cannot start with a dot


def _remove_containers(rec: dict, force: bool, timeout: float) -> None:
    """A pod's containers go first with ``force``; without it, a pod with containers is refused."""
    ctrs = pod.containers_of(rec["id"])
    if ctrs and not force:
        raise InUse(f"pod {rec['name']!r} has {len(ctrs)} container(s); stop and remove them, or use -f")
    if timeout and len(ctrs) > 1:
        # They stop side by side, as the kubelet stops a pod's containers: each is sent SIGTERM now, so
        # that one ignoring it (an app that is PID 1 of its own PID namespace) does not add its grace
        # period to the others'. Marked first: no restart policy brings one back.
        for ctr in ctrs:
            if ctr.get("pid"):
                container.update_fields(ctr["id"], stopped_by_user=True)
                procfs.send_signal(ctr["pid"], ctr.get("start"), 15)
    deadline = time.monotonic() + timeout
    for ctr in ctrs:
        with contextlib.suppress(NotFound):  # removed meanwhile (the agent and a CLI delete at once)
            container.remove(ctr["id"], force=True, timeout=max(0.0, deadline - time.monotonic()) if timeout else 0,
                             remove_pod=False)


def remove_pod(ref: str, force: bool = False, timeout: float = 10.0) -> list:
    """Remove a pod. Its containers are removed first with ``force``;
    without it, a pod with containers is refused. Returns warnings."""
    rec = pod.load(ref)
    _remove_containers(rec, force, timeout)
    errors = pod.destroy(rec)
    # A container made while the others went (the agent's, for a Pod object
    # being deleted) has lost its pod with pause: it goes too.
    for ctr in pod.containers_of(rec["id"]):
        if not state.is_locked("container", ctr["id"]):  # one still being made fails and goes by itself
            container.discard(ctr)
    return [f"pod {rec['name']}: network teardown failed: {e} {pod.TEARDOWN_HINT}" for e in errors]


def remove_pod_deferred(ref: str, force: bool = False, timeout: float = 10.0):
    """`pod rm` as the CLI does it: like remove_pod(), but the network
    teardown is left to the returned callable, which returns its errors;
    when this returns the pod is in no listing and its name is free.
    Returns (warnings, the teardown or None)."""
    try:
        rec = pod.load(ref)
    except NotFound:
        if finish_named(ref):  # an earlier `pod rm` of it is under way, or died half-way
            return [], None
        raise
    _remove_containers(rec, force, timeout)
    try:
        pending = begin(rec["id"])
    except InUse:  # a container made meanwhile (the agent's, for a Pod object being deleted): all of it now
        return remove_pod(rec["id"], force=force, timeout=timeout), None
    return [], (pending.finish if pending else None)


class Removal:
    """A pod out of the way, its teardown still to do (its lock held)."""

    def __init__(self, rec: dict, hold: contextlib.ExitStack):
        self.rec = rec
        self._hold = hold

    def finish(self) -> list:
        """The slow half; returns the CNI errors (their caches stay for gc)."""
        try:
            return pod.destroy_locked(self.rec, reservations.removals())
        finally:
            self._hold.close()
            state.drop_object_lock("pod", self.rec["id"])


def begin(pod_id: str) -> Removal:
    """The quick half for a pod with no containers left (InUse otherwise)."""
    hold = contextlib.ExitStack()
    try:
        with state.global_lock():  # then the pod's: the order every creator and gc take them in
            hold.enter_context(state.object_lock("pod", pod_id))
            rec = pod.store().load(pod_id)
            if rec is None:
                hold.close()
                return None
            if pod.containers_of(pod_id):
                raise InUse(f"pod {rec['name']} kept: other containers still use it")
            rec = pod.plain(rec)
            if rec.get("netns") and os.path.exists(rec["netns"]):
                new = netns.pin_path(PIN_PREFIX + pod_id[:12])
                old, rec["netns"] = rec["netns"], str(new)
                pod.store().save(rec)  # the new pin is named first: gc never takes it for an orphan
                netns.repin(old, PIN_PREFIX + pod_id[:12])
            paths.removals_dir().mkdir(parents=True, exist_ok=True)
            os.rename(pod.store().dir(pod_id), reservations.removals().dir(pod_id))
    except BaseException:
        hold.close()
        raise
    fault_point("pod-removal-begun")
    return Removal(rec, hold)


def finish_abandoned(dry_run: bool = False) -> list:
    """Finish the removals whose remover died; returns their names."""
    done = []
    for rec in reservations.removals().all():
        if state.is_locked("pod", rec["id"]):
            continue  # its remover is at work
        done.append(rec["name"])
        if not dry_run:
            _finish(rec["id"])
    return done


def finish_named(ref: str) -> bool:
    """The removal of the pod ``ref`` names (its name, or an id prefix),
    if one is under way: finished here if its remover died, waited for if
    its remover is at work (or the agent finishes it). False if none."""
    found = False
    for rec in reservations.removals().all():
        if ref == rec["name"] or (len(ref) >= 3 and rec["id"].startswith(ref)):
            found = True
            _finish(rec["id"])
    return found


def _finish(pod_id: str) -> None:
    with state.object_lock("pod", pod_id):  # waits while another remover holds it
        now = reservations.removals().load(pod_id)
        if now is not None:
            pod.destroy_locked(now, reservations.removals())
    state.drop_object_lock("pod", pod_id)


def in_progress() -> dict:
    """{pod id: record} of the removals under way (their lock held)."""
    return {r["id"]: r for r in reservations.removals().all() if state.is_locked("pod", r["id"])}
