"""Processes started in a running container: `exec` (exec_start, whose
foreground session is the CLI's) and exec_sync, its output captured within a
time limit (the CRI's ExecSync, exec probes, the ingress controller's
`nginx -t`). Each gets the container's user, environment, capabilities,
cgroup and seccomp filter."""

import os
import selectors
import signal
import time

from minipod import procfs
from minipod.core import container, stdio
from minipod.errors import InvalidState, TimedOut
from minipod.runtime import spawn


def exec_start(ref: str, command: list, env: dict, workdir, tty: bool, interactive: bool, user=None) -> dict:
    """Start ``command`` in the container's namespaces with its capability
    limits, on the caller's stdio (stdin only with ``interactive``).
    Returns {"waiter": the pid to wait for, "pid", "start": the process's
    identity, "master": the pty's fd with ``tty``}: the CLI's foreground
    session (cli/foreground.py) relays the terminal and signals."""
    rec = container.load(ref)
    if rec["status"] != "running":
        raise InvalidState(f"container {rec['name']} is not running")
    fds, to_close = stdio.foreground(interactive)
    proc = process_spec(rec, command, env, workdir, tty, fds, user)
    try:
        waiter, info = spawn.exec_in(rec["pid"], proc)
    finally:
        for fd in to_close:
            os.close(fd)
    pid = info.get("pid")
    return {"waiter": waiter, "pid": pid, "start": procfs.start_time(pid) if pid else None,
            "master": info.get("master")}


def process_spec(rec: dict, command: list, env: dict, workdir, tty: bool, fds, user=None) -> dict:
    """What spawn.exec_in runs for an exec in ``rec``: its user, environment,
    capabilities, cgroup and seccomp filter, with ``fds`` as its stdio."""
    uid, gid = user if user else tuple(rec.get("user", (0, 0)))
    security = rec.get("security") or {}
    return {"argv": command, "env": container.environment(rec.get("hostname", ""), uid, tty, rec.get("env", {}), env),
            "cwd": workdir or rec.get("workdir", "/"), "uid": uid, "gid": gid, "caps": rec["caps"],
            "groups": security.get("groups", []) if not user else [],
            "no_new_privs": security.get("no_new_privs", True), "oom_score_adj": rec.get("oom_score_adj", 0),
            "tty": tty, "stdio": fds, "cgroup": rec.get("cgroup"),
            "seccomp": container.seccomp_file(rec).read_bytes() if rec.get("seccomp", "unconfined") != "unconfined" else None}


def exec_sync(ref: str, command: list, timeout: float = None) -> tuple:
    """Run ``command`` in the container as exec_start does, its output
    captured: (exit code, stdout, stderr). ``timeout`` seconds (None: no
    limit): then the command is killed and TimedOut raised (the CRI's ExecSync)."""
    rec = container.load(ref)
    if rec["status"] != "running":
        raise InvalidState(f"container {rec['name']} is not running")
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    proc = process_spec(rec, command, {}, None, False, (null, out_w, err_w))
    try:
        waiter, info = spawn.exec_in(rec["pid"], proc)
    except BaseException:
        for fd in (out_r, err_r):  # a command that cannot run: the server that asked goes on without them
            os.close(fd)
        raise
    finally:
        for fd in (null, out_w, err_w):
            os.close(fd)
    pid = info.get("pid")
    started = procfs.start_time(pid) if pid else None
    chunks = {out_r: [], err_r: []}
    deadline = None if not timeout else time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                procfs.send_signal(pid, started, signal.SIGKILL)
                os.waitpid(waiter, 0)
                for fd in list(sel.get_map()):
                    sel.unregister(fd)
                    os.close(fd)
                raise TimedOut(f"command {command[0]!r} did not finish in {timeout:g}s")
            for key, _ in sel.select(wait):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
    _, wait_status = os.waitpid(waiter, 0)
    return procfs.exit_code(wait_status), b"".join(chunks[out_r]), b"".join(chunks[err_r])
