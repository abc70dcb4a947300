"""The one process supervisor of minipod: every long-lived process that
minipod starts on the node, and how it is found, waited for and stopped.

- Process: a program of someone else's (kube-apiserver, the kubelet, etcd,
  dnsmasq) known by a pidfile of JSON that minipod writes: pid, start time
  and boot id, so a pid that the kernel gave to another process since is
  never taken for it, nor signalled. Started in a session of its own with
  its output in a log file; or, for a program that daemonizes itself
  (dnsmasq), adopted from the pid it reports.
- Daemon: one of minipod's own processes (`python -m MODULE`: the node
  process, the API server, the CRI server), at most one per host: it holds
  an flock for its whole life and writes its pidfile itself, with a key
  that says it is ready. Started on demand, waited for until ready.
"""

import json
import os
import signal
import subprocess
import sys
import time

from minipod import procfs, state


def _spawn(argv, log_path, env) -> subprocess.Popen:
    """``argv`` in a session of its own (a terminal's Ctrl-C or the caller's
    exit never reaches it), stdin from /dev/null, its output appended to
    ``log_path``, no descriptor of the caller's kept, in /."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log, open(os.devnull, "rb") as null:
        return subprocess.Popen(argv, stdin=null, stdout=log, stderr=log, start_new_session=True, close_fds=True,
                                cwd="/", env=env)


class Process:
    """A program minipod supervises. ``pid_path`` and ``log_path`` are
    callables: the paths follow MINIPOD_ROOT at the time of the call."""

    def __init__(self, what: str, pid_path, log_path=None):
        self.what = what
        self._pid_path, self._log = pid_path, log_path

    def pid_path(self):
        return self._pid_path()

    def log_path(self):
        return self._log()

    def running(self):
        """{"pid", "start", "boot", "argv"} while that very process lives, else None."""
        try:
            info = state.read_json(self.pid_path())
        except (FileNotFoundError, ValueError):
            return None
        return info if procfs.alive(info) else None

    def _record(self, pid: int, argv: list) -> dict:
        info = {"pid": pid, "start": procfs.start_time(pid), "boot": procfs.boot_id(), "argv": list(argv)}
        self.pid_path().parent.mkdir(parents=True, exist_ok=True)
        state.write_json(self.pid_path(), info, mode=0o600)
        return info

    def start(self, argv: list, env: dict = None) -> dict:
        """Start ``argv`` (with ``env`` added to the environment) unless it runs already."""
        info = self.running()
        if info:
            return info
        proc = _spawn(argv, self.log_path(), {**os.environ, **(env or {})})
        return self._record(proc.pid, argv)

    def adopt(self, pid: int, argv: list) -> dict:
        """Supervise a program that daemonized itself: the pid it reports."""
        return self._record(pid, argv)

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, SIGKILL after ``timeout``, wait until gone; False when it was not running."""
        info = self.running()
        if info:
            procfs.stop_process(info["pid"], info["start"], timeout)
        self.pid_path().unlink(missing_ok=True)
        return bool(info)

    def last_lines(self, n: int = 3) -> str:
        """The end of its log, for an error that says why it stopped."""
        try:
            lines = self.log_path().read_text(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        return " | ".join(line.strip() for line in lines[-n:])


class Daemon:
    """One kind of minipod's own server process. ``directory`` and ``log``
    are callables: the paths follow MINIPOD_ROOT at the time of the call."""

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
        if isinstance(info, int):  # a bare pid: the node agent's pidfile before it was a Daemon's (an update)
            info = {"pid": info, "start": procfs.start_time(info)}
        if not isinstance(info, dict) or not state.lock_held(self.lock_path()) \
                or not procfs.is_running(info.get("pid"), info.get("start")):
            return None
        return info

    def spawn(self, args=(), env: dict = None) -> subprocess.Popen:
        """Start the process without waiting for it; ``env``: its whole
        environment (default: this one's)."""
        self.directory().mkdir(parents=True, exist_ok=True)
        return _spawn([sys.executable, "-m", self.module, *args], self.log_path(),
                      os.environ if env is None else env)

    def ensure_running(self, args=(), timeout: float = 60.0, env: dict = None) -> dict:
        """Start the process unless one runs (with ``env`` added to its
        environment); return its info once it is ready. The wait ends as
        soon as one is ready (the one started here, or one another command
        started at the same time) or none can be; ``timeout`` only bounds a
        hang (a VM under emulation took more than 15 s to import grpcio)."""
        info = self.running()
        if info and info.get(self.ready_key):
            return info
        proc = None if info else self.spawn(args, {**os.environ, **(env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.running()
            if info and info.get(self.ready_key):
                return info
            if proc is not None and proc.poll() is not None and not state.lock_held(self.lock_path()):
                break  # it ended, and no other one holds the lock: none is coming
            time.sleep(0.02)
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
            deadline = time.monotonic() + 10  # bounded: whatever else may hold the lock must not wedge the caller
            while time.monotonic() < deadline and state.lock_held(self.lock_path()):
                time.sleep(0.02)
        return True
