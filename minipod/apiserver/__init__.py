"""The Kubernetes API on the node, as the CLI sees it: a process of its own
(`python -m minipod.apiserver`), at most one per host (a lock held for its
whole life, and a pidfile), started by `minipod api start` and by `minipod
kubeconfig`, logging to a file. It serves HTTPS on 127.0.0.1:6443 unless
MINIPOD_API_ADDRESS / MINIPOD_API_PORT say otherwise.

Nothing here imports aiohttp or cryptography: the CLI's hot path stays light.
"""

import json
import os
import signal
import subprocess
import sys
import time

from minipod import paths, procfs, state

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 6443


def address() -> str:
    return os.environ.get("MINIPOD_API_ADDRESS", DEFAULT_ADDRESS)


def port() -> int:
    from minipod.errors import InvalidArgument
    text = os.environ.get("MINIPOD_API_PORT", str(DEFAULT_PORT))
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise InvalidArgument(f"MINIPOD_API_PORT={text!r}: expected a port number 1-65535")
    return int(text)


def server_url(addr=None, prt=None) -> str:
    addr = addr or address()
    host = "127.0.0.1" if addr in ("0.0.0.0", "::") else addr
    host = f"[{host}]" if ":" in host else host
    return f"https://{host}:{prt or port()}"


def api_dir():
    return paths.run_root() / "apiserver"


def lock_path():
    return api_dir() / "lock"


def pid_path():
    return api_dir() / "pid"


def log_path():
    return paths.lib_root() / "apiserver.log"


def running() -> dict:
    """{"pid", "address", "port"} of the running server, else None."""
    try:
        info = json.loads(pid_path().read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not state.lock_held(lock_path()) or not os.path.exists(f"/proc/{info.get('pid')}"):
        return None
    return info


def ensure_running(timeout: float = 15.0) -> dict:
    """Start the server unless one runs; return its info once it listens."""
    info = running()
    if info:
        return info
    addr, prt = address(), port()
    api_dir().mkdir(parents=True, exist_ok=True)
    log_path().parent.mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log, open(os.devnull, "rb") as null:
        proc = subprocess.Popen([sys.executable, "-m", "minipod.apiserver", "--address", addr, "--port", str(prt)],
                                stdin=null, stdout=log, stderr=log, start_new_session=True, close_fds=True, cwd="/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = running()
        if info and info.get("listening"):
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    from minipod.errors import MinipodError
    tail = log_path().read_text(errors="replace").strip().splitlines()[-1:] if log_path().exists() else []
    raise MinipodError(f"the API server did not start{': ' + tail[0] if tail else ''} (log: {log_path()})")


def stop(timeout: float = 10.0) -> bool:
    """SIGTERM the server and wait until it is gone; False if none ran."""
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
    out = {"running": bool(info), "log": str(log_path())}
    if info:
        out.update(info, url=server_url(info["address"], info["port"]), memory=procfs.memory(info["pid"]))
    return out


def kubeconfig(start: bool = True) -> dict:
    """The admin kubeconfig (written on first use), the server started."""
    from minipod.apiserver import pki
    info = ensure_running() if start else None
    files = pki.ensure((info or {}).get("address") or address())
    url = server_url((info or {}).get("address"), (info or {}).get("port"))
    return pki.write_kubeconfig(url, files)
