"""Foreground I/O: relay a pty, forward signals, wait for a process.

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
