"""The node agent, as the CLI sees it: started on demand, at most one per
host (a lock held for its whole life, and a pidfile), logging to a file.

The agent plays the kubelet's role (realises Pod objects, restarts
containers per restartPolicy or docker's --restart with CrashLoopBackOff)
and the controller manager's (keeps Deployments at their replica count).
Everything it acts on lives in the records and the object store, so
killing it loses nothing: the next one picks up where it stopped.
"""

import os
import signal
import subprocess
import sys
import time

from minipod import paths, procfs, state


def agent_dir():
    return paths.run_root() / "agent"


def lock_path():
    return agent_dir() / "lock"


def pid_path():
    return agent_dir() / "pid"


def log_path():
    return paths.agent_log()


def running_pid():
    """The agent's pid while one holds the lock, else None."""
    try:
        pid = int(pid_path().read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not state.lock_held(lock_path()) or procfs.state(pid) in (None, "Z", "X"):  # a killed one's zombie: gone
        return None
    return pid


def check_settings() -> None:
    """Refuse (InvalidArgument) settings the agent would only fail on later,
    in its log: the proxy mode."""
    from minipod.roles.proxy import mode
    mode()


def wake_path():
    return agent_dir() / "wake"


def poke() -> None:
    """Make the running agent look at everything now. Its inotify watches
    see a new container's directory, not the record written inside it
    later: a container with a restart policy made while it runs is only
    seen by a pass after the record is complete."""
    try:
        fd = os.open(wake_path(), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # the agent makes the file
    except OSError:
        return
    try:
        os.write(fd, b".")  # IN_MODIFY on the file it watches
    finally:
        os.close(fd)


def _spawn(env=None) -> None:
    agent_dir().mkdir(parents=True, exist_ok=True)
    log_path().parent.mkdir(parents=True, exist_ok=True)
    with open(log_path(), "ab") as log, open(os.devnull, "rb") as null:
        # Its own session: a terminal's Ctrl-C or the CLI's exit never reaches it.
        subprocess.Popen([sys.executable, "-m", "minipod.node"], stdin=null, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True, cwd="/", env=env)


def start_soon() -> None:
    """Start the agent in the background unless it runs, without waiting
    for it: what `run`, `start`, `restart` and `pod create|start` do once
    they have made something, so that the next command goes through it
    (docs/agent.md). Not with MINIPOD_LOCAL=1 (every command in its own
    process, none started), nor when the settings would keep it from
    starting (its log says so for whoever asks later)."""
    if os.environ.get("MINIPOD_LOCAL") == "1" or running_pid():
        return
    try:
        check_settings()
    except Exception:
        return
    env = {k: v for k, v in os.environ.items() if k != "MINIPOD_FAULT"}  # this command's crash test, not the agent's
    _spawn(env)


def after_start(rec: dict) -> None:
    """A container was started: with a restart policy the agent must run now
    (it is the one that restarts it), else it starts in the background for
    the next command (start_soon)."""
    if (rec.get("restart_policy") or {}).get("name", "no") != "no":
        ensure_running()
    else:
        start_soon()


def ensure_running(timeout: float = 5.0) -> int:
    """Start the agent unless one runs (else make it look now); return its
    pid once it holds the lock."""
    pid = running_pid()
    if pid:
        poke()
        return pid
    check_settings()
    _spawn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = running_pid()
        if pid:
            return pid
        time.sleep(0.02)
    from minipod.errors import MinipodError
    raise MinipodError(f"the node agent did not start; see {log_path()}")


def socket_path():
    """Where the agent serves commands (minipod.node.serve; minipod.node.client computes the same path)."""
    return agent_dir() / "node.sock"


def wait_serving(timeout: float = 10.0) -> None:
    """Until the running agent serves commands (its preloading done)."""
    deadline = time.monotonic() + timeout
    while not socket_path().exists():
        if time.monotonic() > deadline or not running_pid():
            from minipod.errors import MinipodError
            raise MinipodError(f"the node agent does not serve commands; see {log_path()}")
        time.sleep(0.02)


def stop(timeout: float = 10.0) -> bool:
    """SIGTERM the agent and wait until it is gone; False if none ran."""
    pid = running_pid()
    if not pid:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and state.lock_held(lock_path()):
        time.sleep(0.02)
    if state.lock_held(lock_path()):
        os.kill(pid, signal.SIGKILL)
    return True


def status() -> dict:
    pid = running_pid()
    info = {"running": bool(pid), "pid": pid, "log": str(log_path()), "serving": bool(pid) and socket_path().exists()}
    if pid:
        info["memory"] = procfs.memory(pid)
    return info


def needed() -> bool:
    """Whether anything asks for the agent: Pod objects (Deployments make
    those), or containers with a restart policy."""
    from minipod.objects import kinds, store
    if any(store.list_objects(k) for k in (kinds.POD, kinds.DEPLOYMENT, kinds.SERVICE, kinds.INGRESS)):
        return True
    records = state.Store(paths.containers_dir(), "container").all()
    return any((r.get("restart_policy") or {}).get("name", "no") not in ("no", "Never") for r in records)


def ensure_if_needed() -> None:
    """What read-only verbs call: an agent killed earlier comes back."""
    if not running_pid() and needed():
        ensure_running()
