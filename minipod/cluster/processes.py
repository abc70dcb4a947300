"""The cluster's component processes on this machine (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kubelet, kube-proxy): each started
in a session of its own with its output in <lib root>/cluster/logs/NAME.log,
known by a pid file that names pid AND start time (a reused pid is never
signalled), stopped with SIGTERM and, after a grace, SIGKILL."""

from minipod import daemons
from minipod.cluster import data_dir, run_dir


def component(name: str) -> daemons.Process:
    """The component ``name`` as minipod's one process supervisor knows it."""
    return daemons.Process(name, lambda: run_dir() / f"{name}.json", lambda: log_path(name))


def log_path(name: str):
    return data_dir() / "logs" / f"{name}.log"


def running(name: str):
    """{"pid", "start", "boot", "argv"} of the component if it runs, else None."""
    return component(name).running()


def start(name: str, argv: list, env: dict = None) -> dict:
    """Start ``argv`` as the component ``name`` unless it runs already."""
    return component(name).start(argv, env)


def start_own(name: str, module: str, what: str) -> None:
    """Start one of the node's own processes (``python -m module``) and make
    sure it did not stop at once (its log's end says why, if it did)."""
    import sys
    import time
    from minipod.errors import MinipodError
    start(name, [sys.executable, "-m", module])
    time.sleep(0.5)
    if not running(name):
        raise MinipodError(f"{what} stopped: {last_lines(name)}")


def stop(name: str, timeout: float = 10.0) -> bool:
    """Stop the component; False when it was not running."""
    return component(name).stop(timeout)


def last_lines(name: str, n: int = 3) -> str:
    """The end of a component's log, for an error that says why it stopped."""
    return component(name).last_lines(n)


def run_passes(worker, name: str, interval: float, events=None) -> int:
    """The main loop of a node's own processes (netagent.py, ingress.py):
    ``worker.setup()``, then ``worker.sync()`` every ``interval`` seconds
    until SIGTERM or SIGINT (SIGUSR1: a pass at once), then
    ``worker.teardown()``. A pass that fails
    is logged, said as a Warning Event of the node (``events``, an
    events.NodeEvents), and the next one tries again: the API may be away a moment."""
    import signal
    import threading
    done, wake = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: (done.set(), wake.set()))
    signal.signal(signal.SIGUSR1, lambda *_: wake.set())  # a pass now (the policy controller's, link.py)
    try:
        worker.setup()
        while not done.is_set():
            wake.clear()
            try:
                worker.sync()
            except Exception as e:  # noqa: BLE001  (logged; the next pass tries again)
                print(f"{name}: {e}", flush=True)
                if events is not None:
                    events.failed(str(e))
            else:
                if events is not None:
                    events.recovered()
            wake.wait(interval)
    finally:
        worker.teardown()
    return 0
