"""minipod as a Container Runtime Interface server, as the CLI sees it: a
process of its own (`python -m minipod.cri`, a minipod.daemons.Daemon),
started by `minipod cri start`,
serving gRPC (runtime.v1 and runtime.v1alpha2: RuntimeService and
ImageService) on unix:///run/minipod/cri.sock, mode 0600: the kubelet's
`--container-runtime-endpoint`.

Nothing here imports grpc: the CLI's hot path stays light.
"""

import os
from pathlib import Path

from minipod import daemons, paths, procfs


def cri_dir():
    return paths.run_root() / "cri"


def socket_path():
    """The socket the kubelet dials (MINIPOD_CRI_SOCKET, else <run root>/cri.sock)."""
    return Path(os.environ.get("MINIPOD_CRI_SOCKET") or paths.run_root() / "cri.sock")


def endpoint() -> str:
    return f"unix://{socket_path()}"


def log_path():
    return paths.lib_root() / "cri.log"


# The pods it made stay when it stops: they are the kubelet's, which finds them again through the next one.
DAEMON = daemons.Daemon("minipod.cri", "the CRI server", cri_dir, log_path, ready_key="serving")
lock_path, pid_path, running, stop = DAEMON.lock_path, DAEMON.pid_path, DAEMON.running, DAEMON.stop


def ensure_running(timeout: float = 60.0, env: dict = None) -> dict:
    """Start the server unless one runs; return its info once it serves
    (``env``: added to its environment, as `minipod cluster join` does)."""
    return DAEMON.ensure_running((), timeout, env)


def status() -> dict:
    info = running()
    out = {"running": bool(info), "log": str(log_path()), "endpoint": endpoint()}
    if info:
        out.update(info, memory=procfs.memory(info["pid"]))
    return out
