"""The protocol between a stdio holder (tty.py, pipes.py) and its clients
(attach, the CRI's Attach and ReopenContainerLog, the streaming server), on
the holder's unix socket.

Client frames: one type byte, a 4-byte big-endian length, the payload:
  i  input bytes for the container's stdin (or terminal)
  r  a resize, JSON {"Width": w, "Height": h} (a terminal only)
  c  the client's stdin closed (^D is typed on a terminal; with stdin_once
     the container's stdin pipe is closed)
  R  reopen the log (the CRI's ReopenContainerLog); the holder hangs up once it has
A terminal's holder sends clients the terminal's output as a plain byte
stream; a pipes holder sends frames ``o`` (stdout) and ``e`` (stderr)."""

import os
import select
import socket
import struct

from minipod import paths

FRAME = struct.Struct(">cI")
MAX_FRAME = 1 << 20


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return FRAME.pack(kind, len(payload)) + payload


def read_frames(buffer: bytes) -> tuple:
    """(what is left of ``buffer`` after its whole frames, [(kind, payload)...])."""
    frames = []
    while len(buffer) >= FRAME.size:
        kind, size = FRAME.unpack_from(buffer)
        if size > MAX_FRAME:
            raise ValueError("frame too large")
        if len(buffer) < FRAME.size + size:
            break
        frames.append((kind, buffer[FRAME.size:FRAME.size + size]))
        buffer = buffer[FRAME.size + size:]
    return buffer, frames


def write_all(fd, data):
    """Write all of ``data`` to ``fd``, blocking or not."""
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        data = data[n:]


def listen(path: str) -> socket.socket:
    """A holder's listening socket at ``path`` (root's only): bound under a
    temporary name and renamed once it listens, so a client that finds the
    path can connect."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    bound = path + ".tmp"
    try:
        os.unlink(bound)
    except FileNotFoundError:
        pass
    listener.bind(bound)
    os.chmod(bound, 0o600)
    listener.listen(8)
    os.rename(bound, path)
    return listener


def close_all(listener: socket.socket, clients, path: str, log) -> None:
    """A holder's end: its clients hung up, its socket gone, its log closed."""
    for sock in clients:
        sock.close()
    listener.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    log.close()


def socket_path(rec: dict):
    """Where a container's holder listens (short: a unix socket's path has
    at most 107 bytes)."""
    return paths.run_root() / "consoles" / f"{rec['id'][:16]}.sock"


def reopen(rec: dict, timeout: float = 5.0) -> bool:
    """Have a container's log writer (or, with a terminal, its console)
    reopen its log file, and return once it has: the kubelet renamed the
    file and counts on the next line landing in a new one at the path.
    On its socket: a frame ``R``, answered by the writer hanging up once
    the file is reopened. False: no writer runs."""
    holder = rec.get("log_writer") or rec.get("console") or {}
    if not holder.get("socket"):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(holder["socket"])
            sock.sendall(frame(b"R"))
            while sock.recv(65536):  # what the container writes meanwhile, then the hang-up
                pass
        except OSError:
            return False
    return True
