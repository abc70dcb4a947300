"""minipod as a Container Runtime Interface server, as the CLI sees it: a
process of its own (`python -m minipod.cri`), at most one per host (a lock
held for its whole life, and a pidfile), started by `minipod cri start`,
serving gRPC (runtime.v1 and runtime.v1alpha2: RuntimeService and
ImageService) on unix:///run/minipod/cri.sock, mode 0600: the kubelet's
`--container-runtime-endpoint`.

Nothing here imports grpc: the CLI's hot path stays light.
"""

import json
import os
import signal
import subprocess
import sys
import time

from minipod import paths, procfs, state


def cri_dir():
    return paths.run_root() / "cri"


def socket_path():
    """The socket the kubelet dials (MINIPOD_CRI_SOCKET, else <run root>/cri.sock)."""
    from pathlib import Path
    return Path(os.environ.get("MINIPOD_CRI_SOCKET") or paths.run_root() / "cri.sock")


def endpoint() -> str:
    return f"unix://{socket_path()}"


def lock_path():
    return cri_dir() / "lock"


def pid_path():
    return cri_dir() / "pid"


def log_path():
    return paths.lib_root() / "cri.log"


def running() -> dict:
    """{"pid", "socket", "serving"} of the running server, else None."""
    try:
        info = json.loads(pid_path().read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not state.lock_held(lock_path()) or not os.path.exists(f"/proc/{info.get('pid')}"):
        return None
    return info


def ensure_running(timeout: float = 15.0) -> dict:
    """Start the server unless one runs; return its info once it serves."""
    info = running()
    if info and info.get("serving"):
        return info
    cri_dir().mkdir(parents=True, exist_ok=True)
    log_path().parent.mkdir(parents=True, exist_ok=True)
    if not info:
        with open(log_path(), "ab") as log, open(os.devnull, "rb") as null:
            proc = subprocess.Popen([sys.executable, "-m", "minipod.cri"], stdin=null, stdout=log, stderr=log,
                                    start_new_session=True, close_fds=True, cwd="/")
    else:
        proc = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = running()
        if info and info.get("serving"):
            return info
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    from minipod.errors import MinipodError
    tail = log_path().read_text(errors="replace").strip().splitlines()[-1:] if log_path().exists() else []
    raise MinipodError(f"the CRI server did not start{': ' + tail[0] if tail else ''} (log: {log_path()})")


def stop(timeout: float = 10.0) -> bool:
    """SIGTERM the server and wait until it is gone; False if none ran.
    The pods it made stay: they are the kubelet's, which finds them again
    through the next server (ListPodSandbox)."""
    info = running()
    if not info:
        return False
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and state.lock_held(lock_path()):
        time.sleep(0.02)
    if state.lock_held(lock_path()):
        os.kill(info["pid"], signal.SIGKILL)
        while state.lock_held(lock_path()):
            time.sleep(0.02)
    return True


def status() -> dict:
    info = running()
    out = {"running": bool(info), "log": str(log_path()), "endpoint": endpoint()}
    if info:
        out.update(info, memory=procfs.memory(info["pid"]))
    return out
