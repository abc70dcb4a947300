"""Ending a command before its work is done: the caller gets the exit code
now, the rest (run --rm's network teardown) goes on in the background.

In a worker of the node process, release() hands the code to the waiting
client (minipod.node.worker installs how). In a command run by the client
itself, release() forks: the caller's process exits with the code, the
child finishes the work. Either way what finishes has /dev/null for stdin
and the agent's log for output: a teardown that fails says so in
`minipod agent logs` (and `minipod gc` finishes it, as after a crash).
"""

import os
import sys

from minipod import paths

_releaser = []  # the worker's way to release its client, when in a worker


def set_releaser(release_fn) -> None:
    _releaser[:] = [release_fn]


def release(code: int) -> None:
    """The caller has its exit code from now on; this process goes on."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if _releaser:
        _releaser.pop()(code)
        return
    pid = os.fork()
    if pid:
        os._exit(code)  # the caller's process: done
    os.setsid()  # no terminal's signals reach the finishing half
    detach_stdio()


def detach_stdio() -> None:
    """stdin from /dev/null, stdout and stderr into the agent's log, and
    none of the caller's other descriptors kept (a pipe it passed down:
    its reader waits for the end of it)."""
    null = os.open(os.devnull, os.O_RDWR)
    try:
        log = os.open(paths.agent_log(), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        log = null
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for fd in {null, log}:
        os.close(fd)
    _close_inherited()


def _close_inherited() -> None:
    """Every inheritable descriptor above 2 came from the caller: minipod
    opens its own close-on-exec (PEP 446), locks included, and keeps those."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    os.close(fd)
            except OSError:
                pass  # listdir's own descriptor, closed already
