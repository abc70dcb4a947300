"""The CLI's foreground session (`run` without -d, `exec`): relay a pty,
forward signals, wait for the process, then what `run` does after its exit.

Without a tty the container uses the caller's own stdin/stdout/stderr
directly (binary-safe, nothing copied); with one, bytes are relayed
between the caller's terminal (raw mode) and the container's pty master,
and window size changes follow the caller's terminal.
"""

import contextlib
import fcntl
import os
import select
import signal
import struct
import termios
import tty as ttymod

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
             signal.SIGUSR1, signal.SIGUSR2)


def _copy_winsize(src_fd, dst_fd):
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)


@contextlib.contextmanager
def _forwarding(forward):
    old = {}
    for sig in FORWARDED:
        old[sig] = signal.signal(sig, lambda s, _f: forward(s))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _raw(fd):
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def _write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _relay(master, interactive, exited_fd):
    stdin_open = interactive
    winch = lambda *_: _copy_winsize(0, master)
    old_winch = signal.signal(signal.SIGWINCH, winch)
    if os.isatty(0):
        _copy_winsize(0, master)
    try:
        while True:
            fds = [master, exited_fd] + ([0] if stdin_open else [])
            ready = select.select(fds, [], [])[0]
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave end is closed
                    data = b""
                if not data:
                    return
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    stdin_open = False
                    _write_all(master, b"\x04")  # EOF for the pty's reader
            if exited_fd in ready and master not in ready:
                _drain(master)
                return
    finally:
        signal.signal(signal.SIGWINCH, old_winch)


def _drain(master):
    os.set_blocking(master, False)
    with contextlib.suppress(OSError):
        while data := os.read(master, 65536):
            _write_all(1, data)


def foreground(pid: int, forward, master=None, interactive=False) -> None:
    """Relay the pty (if any) and forward signals until ``pid`` exits."""
    try:
        exited = os.pidfd_open(pid)
    except ProcessLookupError:  # already gone (and reaped by pause)
        if master is not None:
            _drain(master)
            os.close(master)
        return
    try:
        with _forwarding(forward):
            if master is not None:
                with _raw(0) if interactive else contextlib.nullcontext():
                    _relay(master, interactive, exited)
            else:
                while not select.select([exited], [], [])[0]:
                    pass
    finally:
        os.close(exited)
        if master is not None:
            os.close(master)


def run_until_exit(rec: dict, interactive: bool, auto_remove: bool):
    """The foreground part of `run`: relay the tty and signals until the
    container exits, then record its exit or remove it (--rm).
    Returns (exit code or None, warnings, what is left to do or None):
    with --rm the container is gone and its name free, and what is left is
    its own pod's teardown (minipod.core.removal), which may run after the
    caller has its exit code."""
    from minipod import procfs
    from minipod.core import container, removal
    from minipod.errors import InUse
    foreground(rec["pid"], lambda sig: procfs.send_signal(rec["pid"], rec["start"], sig),
               master=rec.get("master"), interactive=interactive)
    code = container.wait(rec, timeout=5.0)
    warnings, rest = [], None
    if code is None:
        warnings.append(f"the exit code of {rec['name']} is unknown (pid {rec['pid']}, "
                        f"ns pid {rec.get('nspid')}, start {rec.get('start')})")
    if auto_remove:
        warnings += container.remove(rec["id"], force=True, remove_pod=False)
        if rec.get("own_pod") and rec.get("pod"):
            try:
                pending = removal.begin(rec["pod"])
                rest = pending.finish if pending else None
            except InUse as e:  # someone ran more containers in it with --pod
                warnings.append(str(e))
    else:
        container.record_exit(rec, code)
    return code, warnings, rest


def exec_until_exit(ref: str, command: list, env: dict, workdir, tty: bool, interactive: bool, user=None) -> int:
    """`exec` in the foreground: the command's exit code."""
    from minipod import procfs
    from minipod.core import execution
    started = execution.exec_start(ref, command, env, workdir, tty, interactive, user)
    foreground(started["waiter"], lambda sig: procfs.send_signal(started["pid"], started["start"], sig),
               master=started["master"], interactive=interactive)
    _, wait_status = os.waitpid(started["waiter"], 0)
    return procfs.exit_code(wait_status)
