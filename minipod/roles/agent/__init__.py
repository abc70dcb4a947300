"""The node agent, as the CLI sees it: the node process (`python -m
minipod.node`), a daemons.Daemon like the API and CRI servers: started on
demand, at most one per host (a lock held for its whole life, and a pidfile
of JSON it writes once it holds the lock), logging to a file.

The agent plays the kubelet's role (realises Pod objects, restarts
containers per restartPolicy or docker's --restart with CrashLoopBackOff)
and the controller manager's (keeps Deployments at their replica count).
Everything it acts on lives in the records and the object store, so
killing it loses nothing: the next one picks up where it stopped.
"""

import os
import time

from minipod import daemons, paths, procfs, state


def agent_dir():
    return paths.run_root() / "agent"


DAEMON = daemons.Daemon("minipod.node", "the node agent", agent_dir, paths.agent_log, ready_key="pid")
lock_path, pid_path, log_path = DAEMON.lock_path, DAEMON.pid_path, DAEMON.log_path


def running_pid():
    """The agent's pid while one holds the lock, else None (not a killed
    one's zombie, nor its pid used again)."""
    info = DAEMON.running()
    return info["pid"] if info else None


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
    DAEMON.spawn(env=env)


def after_start(rec: dict) -> None:
    """A container was started: with a restart policy the agent must run now
    (it is the one that restarts it), else it starts in the background for
    the next command (start_soon)."""
    if (rec.get("restart_policy") or {}).get("name", "no") != "no":
        ensure_running()
    else:
        start_soon()


def ensure_running(timeout: float = 10.0) -> int:
    """Start the agent unless one runs (else make it look now); return its
    pid once it holds the lock."""
    pid = running_pid()
    if pid:
        poke()
        return pid
    check_settings()
    return DAEMON.ensure_running(timeout=timeout)["pid"]


def socket_path():
    """Where the agent serves commands (minipod.node.serve; minipod.node.client computes the same path)."""
    return agent_dir() / "node.sock"


def wait_serving(timeout: float = 120.0) -> None:
    """Until the running agent serves commands: it does after its first
    pass, which after a crash realises every pod the crash left half-made
    (20 on a machine busy compiling took more than 10 s: a brand-new
    machine's test run failed there). The wait ends as soon as it serves
    or is gone; ``timeout`` only bounds a hang."""
    deadline = time.monotonic() + timeout
    while not socket_path().exists():
        if time.monotonic() > deadline or not running_pid():
            from minipod.errors import MinipodError
            raise MinipodError(f"the node agent does not serve commands; see {log_path()}")
        time.sleep(0.02)


def stop(timeout: float = 10.0) -> bool:
    """SIGTERM the agent and wait until it is gone; False if none ran."""
    return DAEMON.stop(timeout)


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
    if any(store.list_objects(k) for k in (kinds.POD, kinds.DEPLOYMENT, kinds.SERVICE, kinds.INGRESS, kinds.GATEWAY)):
        return True
    records = state.Store(paths.containers_dir(), "container").all()
    return any((r.get("restart_policy") or {}).get("name", "no") not in ("no", "Never") for r in records)


def ensure_if_needed() -> None:
    """What read-only verbs call: an agent killed earlier comes back."""
    if not running_pid() and needed():
        ensure_running()
