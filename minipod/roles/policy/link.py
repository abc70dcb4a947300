"""How a node's container runtime waits for the policy rules of a pod it has
just made, before any container of it starts (what the agent's `_isolate`
does on one node). A cluster node's policy controller (minipod.cluster.netpol)
registers its pid here and, after each pass that loaded the rules, records
when that pass began; `wait_for_rules()` (the CRI's RunPodSandbox) wakes it
with SIGUSR1 and waits for a pass begun after the wake-up, which saw the new
sandbox. Without a controller (one node, no cluster) it returns at once."""

import json
import os
import signal
import time

from minipod import paths, procfs

WAIT = 3.0  # at most this long: a controller that cannot reach the API must not hold pods forever


def _path():
    return paths.run_root() / "policy-controller.json"


def register(pid: int) -> None:
    _write({"pid": pid, "start": procfs.start_time(pid), "pass_began": 0.0})


def unregister() -> None:
    _path().unlink(missing_ok=True)


def passed(began: float) -> None:
    """A pass begun at ``began`` has loaded the rules."""
    state = _read()
    if state:
        _write({**state, "pass_began": began})


def _read():
    try:
        return json.loads(_path().read_text())
    except (OSError, ValueError):
        return None


def _write(state: dict) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def wait_for_rules(timeout: float = WAIT) -> bool:
    """Wake the controller and wait for its next pass; False when there is
    none to wait for, or it did not pass in time."""
    state = _read()
    if not state or procfs.start_time(state["pid"]) != state["start"]:
        return False
    asked = time.time()
    try:
        os.kill(state["pid"], signal.SIGUSR1)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _read()
        if now and now.get("pass_began", 0) >= asked:
            return True
        time.sleep(0.01)
    return False
