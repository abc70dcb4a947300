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


def log_directories_path():
    """The pod log directories the kubelet asked sandboxes for, one a line
    (kubelet 1.20 makes them in /var/log/pods and removes them only in a
    later garbage collection: `cluster down` removes what is left)."""
    return paths.lib_root() / "cri-log-directories"


def note_log_directory(directory: str) -> None:
    if directory and directory not in noted_log_directories():
        log_directories_path().parent.mkdir(parents=True, exist_ok=True)
        with open(log_directories_path(), "a") as f:
            f.write(directory + "\n")


def noted_log_directories() -> list:
    try:
        return [line for line in log_directories_path().read_text().splitlines() if line]
    except FileNotFoundError:
        return []
