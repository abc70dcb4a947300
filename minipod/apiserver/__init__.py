"""The Kubernetes API on the node, as the CLI sees it: a process of its own
(`python -m minipod.apiserver`), at most one per host (a lock held for its
whole life, and a pidfile), started by `minipod api start` and by `minipod
kubeconfig`, logging to a file. It serves HTTPS on 127.0.0.1:6443 unless
MINIPOD_API_ADDRESS / MINIPOD_API_PORT say otherwise.

Nothing here imports aiohttp or cryptography: the CLI's hot path stays light.
"""

import os

from minipod import daemons, paths, procfs

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


def log_path():
    return paths.lib_root() / "apiserver.log"


DAEMON = daemons.Daemon("minipod.apiserver", "the API server", api_dir, log_path, ready_key="listening")
lock_path, pid_path, stop = DAEMON.lock_path, DAEMON.pid_path, DAEMON.stop


def running() -> dict:
    """{"pid", "address", "port", "listening"} of the running server, else None."""
    return DAEMON.running()


def ensure_running(timeout: float = 60.0) -> dict:
    """Start the server unless one runs; return its info once it listens."""
    return DAEMON.ensure_running(["--address", address(), "--port", str(port())], timeout)


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
