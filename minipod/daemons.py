"""minipod's server processes on the node (the Kubernetes API server, the
CRI server), as the CLI starts and stops them: each a process of its own
(`python -m MODULE`), at most one per host (an flock it holds for its
whole life), with a pidfile of JSON whose ready key it sets once it
serves, started on demand and logging to a file.

The agent keeps its own shape (a plain pid file, started by every command
that needs it, several times a second): see minipod.roles.agent."""

import json
import os
import signal
import subprocess
import sys
import time

from minipod import procfs, state


class Daemon:
    """One kind of server process. ``directory`` and ``log`` are callables:
    the paths follow MINIPOD_ROOT at the time of the call."""

    def __init__(self, module: str, what: str, directory, log, ready_key: str):
        self.module, self.what = module, what
        self._directory, self._log = directory, log
        self.ready_key = ready_key

    def directory(self):
        return self._directory()

    def lock_path(self):
        return self.directory() / "lock"

    def pid_path(self):
        return self.directory() / "pid"

    def log_path(self):
        return self._log()

    def take_lock(self) -> bool:
        """In the server process: hold the lock for the rest of its life
        (False: another one holds it, and serves)."""
        import fcntl
        self.directory().mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._held = fd  # kept open: the flock lasts as long as the process
        # A pidfile here now is a killed predecessor's: until this process
        # writes its own, nobody may take that one for this one's.
        self.pid_path().unlink(missing_ok=True)
        return True

    def write_info(self, info: dict) -> None:
        """In the server process: its pidfile (its pid and start time added)."""
        me = procfs.self_identity()
        state.write_json(self.pid_path(), {**info, "pid": me["pid"], "start": me["start"]}, mode=0o600)

    def running(self) -> dict:
        """What the running process wrote in its pidfile, else None: only
        while the lock is held and that very process (pid and start time)
        lives, not a zombie of a killed one, nor a pid used again."""
        try:
            info = json.loads(self.pid_path().read_text())
        except (FileNotFoundError, ValueError):
            return None
        if not state.lock_held(self.lock_path()) or not procfs.is_running(info.get("pid"), info.get("start")):
            return None
        return info

    def ensure_running(self, args=(), timeout: float = 60.0, env: dict = None) -> dict:
        """Start the process unless one runs (with ``env`` added to its
        environment); return its info once it is ready. The wait ends as
        soon as it is ready or gone; ``timeout`` only bounds a hang (a VM
        under emulation took more than 15 s to import grpcio)."""
        info = self.running()
        if info and info.get(self.ready_key):
            return info
        proc = None
        if not info:
            self.directory().mkdir(parents=True, exist_ok=True)
            self.log_path().parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path(), "ab") as log, open(os.devnull, "rb") as null:
                proc = subprocess.Popen([sys.executable, "-m", self.module, *args], stdin=null, stdout=log,
                                        stderr=log, start_new_session=True, close_fds=True, cwd="/",
                                        env={**os.environ, **(env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.running()
            if info and info.get(self.ready_key) and (proc is None or info["pid"] == proc.pid):
                return info  # the one started here, or the one that was starting already
            if proc is not None and proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc is not None and proc.poll() is None:  # not ready in time: it must not come up behind the error
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        from minipod.errors import MinipodError
        log = self.log_path()
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
        raise MinipodError(f"{self.what} did not start{': ' + tail[0] if tail else ''} (log: {log})")

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM the process and wait until it is gone (SIGKILL after
        ``timeout``); False if none ran."""
        info = self.running()
        if not info:
            return False
        os.kill(info["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and state.lock_held(self.lock_path()):
            time.sleep(0.02)
        if state.lock_held(self.lock_path()):
            os.kill(info["pid"], signal.SIGKILL)
            while state.lock_held(self.lock_path()):
                time.sleep(0.02)
        return True
