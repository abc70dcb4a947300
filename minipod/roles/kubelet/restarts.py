"""Restart machinery shared by Kubernetes' restartPolicy and docker's
--restart: a container that exited on its own is started again in its
pod (which keeps its IP), after the CrashLoopBackOff delay (backoff.py).

State lives in the container's record ("restart_count", and "backoff":
{"delay", "until", "finished"}), so an agent that was killed and started
again carries on where the last one stopped.
"""

import os
import time

from minipod.core import container, pod
from minipod.errors import MinipodError
from minipod.roles.kubelet import backoff, reporting


def _policy(rec: dict) -> dict:
    return rec.get("restart_policy") or {"name": "no"}


def wants_watch(rec: dict) -> bool:
    """Whether the agent must notice this container's exit."""
    return _policy(rec)["name"] not in ("no", "Never")


def _pod_stopped(rec: dict) -> bool:
    p = pod.store().load(rec["pod"]) if rec.get("pod") else None
    return p is None or p.get("desired") == "stopped"


def due(rec: dict, now: float, limits: tuple):
    """For an exited container: None (leave it), or the time its restart
    is due; the back-off of a fresh exit is recorded on the way."""
    policy = _policy(rec)
    if rec.get("status") != "exited" or rec.get("stopped_by_user") or _pod_stopped(rec):
        return None
    if not backoff.should_restart(policy["name"], rec.get("exit_code"), rec.get("restart_count", 0),
                                  policy.get("max", 0)):
        return None
    state = rec.get("backoff") or {}
    finished = rec.get("finished") or now
    if state.get("finished") != finished:  # an exit not yet scheduled
        ran_for = finished - (rec.get("started") or finished)
        delay = backoff.next_delay(state.get("delay"), ran_for, *limits)
        state = {"delay": delay, "until": finished + delay, "finished": finished}
        container.update_fields(rec["id"], backoff=state)
        if delay > 0:
            reporting.back_off(rec)
    return state["until"]


KUBERNETES_POLICIES = ("Always", "OnFailure")  # a Pod object's; docker's are lower-case


def previous_log(rec: dict) -> str:
    """Where the log of a Pod object's container's previous run is kept."""
    return rec["log_path"] + ".previous"


def _keep_previous_log(rec: dict) -> None:
    """As the kubelet does (a new container per restart, each its own log):
    the run that ended becomes the previous one (`kubectl logs --previous`),
    the next run writes a log of its own. docker's --restart keeps one log
    across restarts, as `docker logs` shows it; a CRI container's log is the
    kubelet's."""
    if _policy(rec)["name"] in KUBERNETES_POLICIES and not rec.get("cri"):
        try:
            os.replace(rec["log_path"], previous_log(rec))
        except FileNotFoundError:
            pass


def restart(rec: dict, log) -> None:
    """Start the container again; a failure to start counts as a crash."""
    try:
        _keep_previous_log(rec)
        container.start(rec["id"], restarted_by_agent=True)
        reporting.restarted(rec)
        log(f"restarted container {rec['name']} (restart {rec.get('restart_count', 0) + 1})")
    except MinipodError as e:
        log(f"restart of container {rec['name']} failed: {e}")
        now = time.time()
        container.update_fields(rec["id"], restart_count=rec.get("restart_count", 0) + 1,
                              exit_code=128, finished=now, started=now)


def reconcile(now: float, log, limits: tuple):
    """Restart every container that is due; return the earliest future
    due time (None: nothing waits)."""
    next_at = None
    for rec in container.list_containers():
        if not wants_watch(rec):
            continue
        at = due(rec, now, limits)
        if at is None:
            continue
        if at <= now:
            restart(rec, log)
        else:
            next_at = at if next_at is None else min(next_at, at)
    return next_at
