"""Removing a pod in two halves, so `run --rm` can return before the slow half.

The first half (begin) is quick and leaves the pod out of everyone's way:
its netns pin takes a name no pod can have (``.removing-<id>``), and its
record moves from the pods' store to the removals' store, so its name is
free, `pod ls` and every lookup no longer see it, and a new pod may take
its name (and its pin's name) at once. Its host ports stay reserved until
the end: a new pod that wants one waits for the removal (wait_for_ports).

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

from minipod import netns, paths, pod, state
from minipod.errors import InUse
from minipod.faults import fault_point

PIN_PREFIX = ".removing-"  # pod names cannot start with a dot
PORT_WAIT = 30.0  # seconds a new pod waits for a removal that holds a port it wants


def records() -> state.Store:
    return state.Store(paths.removals_dir(), "pod")


class Removal:
    """A pod out of the way, its teardown still to do (its lock held)."""

    def __init__(self, rec: dict, hold: contextlib.ExitStack):
        self.rec = rec
        self._hold = hold

    def finish(self) -> list:
        """The slow half; returns the CNI errors (their caches stay for gc)."""
        try:
            return pod.destroy_locked(self.rec, records())
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
            os.rename(pod.store().dir(pod_id), records().dir(pod_id))
    except BaseException:
        hold.close()
        raise
    fault_point("pod-removal-begun")
    return Removal(rec, hold)


def finish_abandoned(dry_run: bool = False) -> list:
    """Finish the removals whose remover died; returns their names."""
    done = []
    for rec in records().all():
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
    for rec in records().all():
        if ref == rec["name"] or (len(ref) >= 3 and rec["id"].startswith(ref)):
            found = True
            _finish(rec["id"])
    return found


def _finish(pod_id: str) -> None:
    with state.object_lock("pod", pod_id):  # waits while another remover holds it
        now = records().load(pod_id)
        if now is not None:
            pod.destroy_locked(now, records())
    state.drop_object_lock("pod", pod_id)


def in_progress() -> dict:
    """{pod id: record} of the removals under way (their lock held)."""
    return {r["id"]: r for r in records().all() if state.is_locked("pod", r["id"])}


def wait_for_ports(ports) -> None:
    """Wait until no pod being removed holds one of ``ports`` (its portmap
    rules would still catch the traffic); InUse after PORT_WAIT."""
    if ports:
        _wait_for(lambda r: pod.port_clash(ports, r.get("ports", [])), "host port still held")


def wait_for_network(name: str) -> None:
    """Wait until no pod being removed is still attached to network ``name``
    (its DEL needs the bridge and the IP files); InUse after PORT_WAIT."""
    _wait_for(lambda r: r.get("network") == name, f"network {name} still used")


def _wait_for(holds, what: str) -> None:
    deadline = time.monotonic() + PORT_WAIT
    while True:
        holders = [r for r in records().all() if holds(r)]
        if not holders:
            return
        if time.monotonic() > deadline:
            raise InUse(f"{what} by pod {holders[0]['name']!r}, being removed")
        time.sleep(0.01)

