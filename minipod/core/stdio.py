"""A container's stdio: what its fds 0-2 are when it starts, and its log.

Detached, its output goes to its log file (stdin a fifo with -i, else
/dev/null); with a terminal, a console process holds the pty (conmon/tty.py);
a CRI container's pipes go to a log writer in the kubelet's format
(conmon/pipes.py); in the foreground, the caller's own stdio passes straight
through (binary-safe)."""

import os
import sys
import time

from minipod import paths, procfs
from minipod.conmon.frames import socket_path


def container(rec: dict, detach: bool, interactive: bool, tty: bool):
    """(stdin, stdout, stderr) for the container, and fds to close after."""
    if detach and (rec.get("cri") or rec.get("log_format") == "cri"):
        # the kubelet reads the CRI's log format: a writer process makes it, or with a
        # terminal the console (its stdio is the pty's, made by spawn)
        from minipod.conmon import pipes
        return pipes.container_stdio(rec, stdin=interactive, terminal=tty)
    if detach:
        log = os.open(rec["log_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        if interactive:
            # A fifo the container holds open for writing itself: stdin
            # never reaches EOF, so `run -di sh` keeps running.
            fifo = paths.containers_dir() / rec["id"] / "stdin"
            if not fifo.exists():  # a restart reuses it
                os.mkfifo(fifo, 0o600)
            stdin = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        else:
            stdin = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        return (stdin, log, log), [stdin, log]
    return foreground(interactive)


def foreground(interactive: bool):
    """The caller's own stdio, passed straight through (binary-safe), with
    stdin from /dev/null unless -i; and the fds to close afterwards."""
    if interactive:
        return (0, 1, 2), []
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    return (null, 1, 2), [null]


def start_console(rec: dict, master: int) -> dict:
    """Hand the pty master of a detached container to its console process
    (minipod/conmon/tty.py), which outlives us and the container's starter."""
    import subprocess  # only a detached terminal starts one: not on the CLI's hot path
    sock = socket_path(rec)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with open(os.devnull, "r+b") as null:
            log_format = ["cri"] if rec.get("cri") or rec.get("log_format") == "cri" else []  # conmon/crilog.py
            proc = subprocess.Popen([sys.executable, "-m", "minipod.conmon.tty", str(master), rec["log_path"], str(sock),
                                     *log_format], pass_fds=[master], stdin=null, stdout=null, stderr=null,
                                    start_new_session=True, cwd="/")
    finally:
        os.close(master)
    return {"socket": str(sock), "pid": proc.pid, "start": procfs.start_time(proc.pid)}


def read_logs(rec: dict, follow: bool, is_running):
    """Yield the chunks of a detached container's log (as the container
    wrote them, whatever the log's format); with ``follow``, keep yielding
    until the container has exited (``is_running(rec)`` says) and the log is
    drained."""
    if rec.get("log_format") == "cri":
        from minipod.conmon import crilog
        for entries in crilog.follow(rec["log_path"], follow, lambda: is_running(rec)):
            yield b"".join(e.content for e in entries)
        return
    try:
        f = open(rec["log_path"], "rb")
    except FileNotFoundError:
        return
    with f:
        while True:
            data = f.read(65536)
            if data:
                yield data
            elif follow and is_running(rec):
                time.sleep(0.1)
            else:
                # after the exit, whatever was written meanwhile
                rest = f.read() if follow else b""
                if rest:
                    yield rest
                return
