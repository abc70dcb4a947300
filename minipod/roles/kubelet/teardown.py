"""A Pod object's pod torn down in a process of its own
(`python -m minipod.roles.kubelet.teardown POD_ID GRACE`), as the kubelet's
pod workers stop pods side by side: the agent starts one per pod being
deleted and is woken by its exit, never waiting for one. A container that
ignores SIGTERM (an app that is PID 1 of its own PID namespace and has no
handler, like `sleep`) holds only its own pod for its grace period.

The removal itself is core.removal's, safe against a kill half-way: the
agent starts a new teardown of what is left at its next pass."""

import subprocess
import sys

MODULE = "minipod.roles.kubelet.teardown"
LOCK = "teardown"  # held by a teardown for its pod's id, for its whole run


def under_way(pod_id: str) -> bool:
    """Whether a teardown of the pod runs (one an earlier agent started goes on after it died)."""
    from minipod import state
    return state.is_locked(LOCK, pod_id)


def start(pod_id: str, grace: float) -> subprocess.Popen:
    """Begin tearing the pod down; its output goes to the agent's log."""
    return subprocess.Popen([sys.executable, "-m", MODULE, pod_id, f"{grace:g}"], stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd="/")


def main(argv) -> int:
    from minipod import state
    from minipod.errors import MinipodError, NotFound
    from minipod.core import removal
    pod_id, grace = argv[0], float(argv[1])
    try:
        with state.object_lock(LOCK, pod_id):  # under_way() for an agent that did not start it
            _report_killing(pod_id)
            warnings = removal.remove_pod(pod_id, force=True, timeout=grace)
    except NotFound:
        return 0  # gone already (another teardown finished it)
    except MinipodError as e:
        print(f"teardown of pod {pod_id[:12]}: {e}", file=sys.stderr, flush=True)
        return 1
    finally:
        state.drop_object_lock(LOCK, pod_id)
    for w in warnings:
        print(w, file=sys.stderr, flush=True)
    return 0


def _report_killing(pod_id: str) -> None:
    """Killing, for each container that runs, as the kubelet reports a stop."""
    from minipod.core import container, pod
    from minipod.roles.kubelet import reporting
    rec = pod.store().load(pod_id)
    if rec and rec.get("k8s"):
        for ctr in pod.containers_of(pod_id):
            if container.with_status(ctr)["status"] == "running":
                reporting.killing(rec["k8s"], reporting.container_name(ctr))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
