"""A worker of the node process: one minipod command, forked from the agent,
made into the process the client would have been, then run by the CLI.

What the command sees of its caller is the client's: stdin, stdout, stderr
(the very descriptors, passed over the socket), working directory, umask,
resource limits (the agent raises its own file limit), environment and
arguments. What it must not keep of the agent is undone: the agent's
descriptors (its lock above all: a worker holding it would keep a next
agent out), signal handlers and wake-up fd, its session. The worker tells
the client its pid first (signals are relayed to it) and its exit code last
(or early: minipod.handoff), then exits.
"""

import io
import os
import resource
import signal
import sys
import traceback

from minipod import handoff, state

_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                    signal.SIGCHLD, signal.SIGALRM, signal.SIGWINCH)


def run(conn, request) -> None:
    """Run the command of ``request`` with the client's descriptors (stdin,
    stdout, stderr, cwd: they come with its go); never returns."""
    code = 125
    sent = []

    def send(kind: bytes, value: int):
        if sent:
            return  # the exit code went already (handoff.release)
        try:
            conn.sendall(kind + value.to_bytes(4, "big", signed=True))
        except OSError:
            pass  # the client is gone: the command still finishes
        if kind == b"X":
            sent.append(True)
            conn.close()

    try:
        _forget_unfinished_imports()
        _reset_signals()
        os.setsid()
        _close_all_but(conn.fileno())
        send(b"P", os.getpid())
        fds = _go(conn)
        if fds is None:
            os._exit(0)  # the client ran the command itself (it waited too long for us)
        _take_descriptors(fds)
        _become_the_caller(request)
        state.uncache_records()  # the agent's cache of records is the agent's
        handoff.set_releaser(lambda c: (_detach(), send(b"X", c & 0xFF)))
        code = _run_cli()
    except BaseException:
        try:
            os.write(2, ("minipod: internal error in the node process's worker: "
                         + traceback.format_exc().strip().splitlines()[-1] + "\n").encode())
        except OSError:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        send(b"X", code & 0xFF)
        os._exit(code & 0xFF)


def _go(conn):
    """The client's descriptors (stdin, stdout, stderr, cwd), sent with its
    go (b"G") once it has our pid; None when it gave up on us first
    (minipod.node.client.NODE_WAIT) and ran the command itself. They travel only
    now: a descriptor sent to an agent that never reads it (stopped,
    wedged) would stay in flight in its socket, and the caller's pipe with it."""
    import socket
    try:
        data, fds, _flags, _addr = socket.recv_fds(conn, 1, 4, socket.MSG_CMSG_CLOEXEC)
    except OSError:
        return None
    if data != b"G" or len(fds) != 4:
        for fd in fds:
            os.close(fd)
        return None
    return fds


def _forget_unfinished_imports() -> None:
    """A module the agent's main thread was importing when the worker was
    forked is half made, and its import lock is held by a thread that does
    not exist here: drop both, so the worker imports it afresh."""
    from importlib import _bootstrap
    for name, module in list(sys.modules.items()):
        if getattr(getattr(module, "__spec__", None), "_initializing", False):
            del sys.modules[name]
    _bootstrap._module_locks.clear()
    _bootstrap._blocking_on.clear()


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt, as in a fresh interpreter
    for sig in _DEFAULT_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)


def _close_all_but(conn_fd: int) -> None:
    """Every descriptor of the agent closed but the connection (its lock
    above all: a worker holding it would keep a next agent out)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd != conn_fd:
            try:
                os.close(fd)
            except OSError:
                pass  # listdir's own descriptor, closed already


def _take_descriptors(fds: list) -> None:
    """fds 0-2 the client's, the working directory its."""
    stdin, stdout, stderr, cwd = fds
    os.fchdir(cwd)
    for target, fd in enumerate((stdin, stdout, stderr)):
        os.dup2(fd, target)  # not close-on-exec: what the command runs inherits them, as from a shell
    for fd in set(fds) - {0, 1, 2}:
        os.close(fd)


def _become_the_caller(request: dict) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(request["umask"])
    for number, limits in request["rlimits"].items():
        try:
            resource.setrlimit(number, limits)
        except (OSError, ValueError):
            pass  # a limit the agent's own cannot take: it keeps the agent's
    sys.argv = ["minipod"] + list(request["argv"])
    streams = request.get("streams") or [None, None, None]
    sys.stdin = _text_stream(0, "r", streams[0])
    sys.stdout = _text_stream(1, "w", streams[1])
    sys.stderr = _text_stream(2, "w", streams[2], errors="backslashreplace")


def _text_stream(fd: int, mode: str, spec, errors: str = None):
    """A text stream on ``fd`` as the interpreter makes sys.stdin/out/err:
    line-buffered on a terminal (stderr always), the client's encoding."""
    encoding, their_errors = spec if spec else ("utf-8", "strict")
    tty = os.isatty(fd)
    raw = io.FileIO(fd, mode, closefd=False)
    if mode == "r":
        buffered = io.BufferedReader(raw)
    else:
        buffered = io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors or their_errors,
                            line_buffering=tty or fd == 2, write_through=fd == 2)


def _detach() -> None:
    """Before the client is released: its stdout and stderr must not stay
    open here (whoever reads them waits for their end)."""
    handoff.detach_stdio()
    sys.stdin = _text_stream(0, "r", None)
    sys.stdout = _text_stream(1, "w", None)
    sys.stderr = _text_stream(2, "w", None, errors="backslashreplace")


def _run_cli() -> int:
    from minipod.cli import main
    try:
        main()
    except SystemExit as e:
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code
        sys.stderr.write(f"{e.code}\n")
        return 1
    return 0
