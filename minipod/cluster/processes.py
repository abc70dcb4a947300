"""The cluster's component processes on this machine (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kubelet, kube-proxy): each started
in a session of its own with its output in <lib root>/cluster/logs/NAME.log,
known by a pid file that names pid AND start time (a reused pid is never
signalled), stopped with SIGTERM and, after a grace, SIGKILL."""

import os
import subprocess

from minipod import procfs, state
from minipod.cluster import data_dir, run_dir


def log_path(name: str):
    return data_dir() / "logs" / f"{name}.log"


def _pid_path(name: str):
    return run_dir() / f"{name}.json"


def running(name: str):
    """{"pid", "start", "boot", "argv"} of the component if it runs, else None."""
    try:
        info = state.read_json(_pid_path(name))
    except (FileNotFoundError, ValueError):
        return None
    return info if procfs.alive(info) else None


def start(name: str, argv: list, env: dict = None) -> dict:
    """Start ``argv`` as the component ``name`` unless it runs already."""
    info = running(name)
    if info:
        return info
    log_path(name).parent.mkdir(parents=True, exist_ok=True)
    run_dir().mkdir(parents=True, exist_ok=True)
    with open(log_path(name), "ab") as log, open(os.devnull, "rb") as null:
        proc = subprocess.Popen(argv, stdin=null, stdout=log, stderr=log, start_new_session=True, close_fds=True,
                                cwd="/", env={**os.environ, **(env or {})})
    info = {"pid": proc.pid, "start": procfs.start_time(proc.pid), "boot": procfs.boot_id(), "argv": argv}
    state.write_json(_pid_path(name), info, mode=0o600)
    return info


def exited(name: str, info: dict) -> bool:
    """Whether the process started as ``info`` is gone (a start that failed)."""
    return not procfs.alive(info)


def stop(name: str, timeout: float = 10.0) -> bool:
    """Stop the component; False when it was not running."""
    info = running(name)
    if info:
        procfs.stop_process(info["pid"], info["start"], timeout)
    _pid_path(name).unlink(missing_ok=True)
    return bool(info)


def last_lines(name: str, n: int = 3) -> str:
    """The end of a component's log, for an error that says why it stopped."""
    try:
        lines = log_path(name).read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(line.strip() for line in lines[-n:])


def run_passes(worker, name: str, interval: float, events=None) -> int:
    """The main loop of a node's own processes (netagent.py, ingress.py):
    ``worker.setup()``, then ``worker.sync()`` every ``interval`` seconds
    until SIGTERM or SIGINT, then ``worker.teardown()``. A pass that fails
    is logged, said as a Warning Event of the node (``events``, an
    events.NodeEvents), and the next one tries again: the API may be away a moment."""
    import signal
    import threading
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        worker.setup()
        while not done.is_set():
            try:
                worker.sync()
            except Exception as e:  # noqa: BLE001  (logged; the next pass tries again)
                print(f"{name}: {e}", flush=True)
                if events is not None:
                    events.failed(str(e))
            else:
                if events is not None:
                    events.recovered()
            done.wait(interval)
    finally:
        worker.teardown()
    return 0
