"""A detached container's terminal, held for it (what conmon does for
podman and CRI-O): `python -m minipod.conmon.tty MASTER_FD LOG SOCKET [cri]`.

The container runs on the slave side of a pty; this process holds the
master for as long as the container lives: what the container writes goes
to its log (so `logs` works as for any detached container; with ``cri``,
in the CRI's log format, crilog.py) and to
every client attached on the unix socket (`kubectl attach`, `kubectl run -it`);
what a client sends is typed into the terminal. It ends when the container
does (the master reads EOF/EIO once every slave fd is closed).
The frames clients send are frames.py's.
"""

import fcntl
import json
import os
import select
import signal
import struct
import sys
import termios

from minipod.conmon.crilog import LogFile
from minipod.conmon.frames import close_all, listen, read_frames, write_all


class _Client:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def frames(self, data: bytes):
        self.buffer, frames = read_frames(self.buffer + data)
        return frames


class _RawLog:
    """A docker-style log: the terminal's bytes as they come."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, stream, data):
        write_all(self.fd, data)

    def reopen(self):
        pass

    def close(self):
        os.close(self.fd)


def serve(master: int, log, sock_path: str) -> None:
    listener = listen(sock_path)
    clients = {}
    try:
        while True:
            readable = select.select([master, listener] + list(clients), [], [])[0]
            if master in readable:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the container and everything on its terminal are gone
                    data = b""
                if not data:
                    log.write(b"stdout", b"")
                    return
                log.write(b"stdout", data)
                for sock in list(clients):
                    try:
                        sock.sendall(data)
                    except OSError:
                        clients.pop(sock).sock.close()
            if listener in readable:
                sock, _ = listener.accept()
                clients[sock] = _Client(sock)
            for sock in [s for s in readable if s in clients]:
                client = clients[sock]
                try:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionResetError
                    for kind, payload in client.frames(data):
                        if kind == b"i":
                            write_all(master, payload)
                        elif kind == b"r":
                            size = json.loads(payload)
                            fcntl.ioctl(master, termios.TIOCSWINSZ,
                                        struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0))
                        elif kind == b"c":
                            write_all(master, b"\x04")
                        elif kind == b"R":
                            log.reopen()
                            raise ConnectionResetError  # done with this client
                except (OSError, ValueError, KeyError, TypeError):
                    clients.pop(sock).sock.close()
    finally:
        close_all(listener, [c.sock for c in clients.values()], sock_path, log)


def main() -> int:
    master, log_path, sock_path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.set_blocking(master, True)
    if sys.argv[4:] == ["cri"]:
        log = LogFile(log_path)
    else:
        log = _RawLog(log_path)
    serve(master, log, sock_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
