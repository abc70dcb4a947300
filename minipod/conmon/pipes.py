"""A CRI container's stdio without a terminal, held for it as conmon does
for CRI-O: its log in the format the kubelet reads (crilog.py), and its stdin
and live output for attach clients (the CRI's Attach, `kubectl attach`).

The container's stdout and stderr are pipes to a writer process of its own
(`python -m minipod.conmon.pipes`), which writes the file and ends when the
container and everything it started closed both pipes. It serves a unix
socket: a frame ``R`` reopens the file (the kubelet's ReopenContainerLog,
after it rotated the file), and attached clients each is sent what the
container writes from then on as frames ``o`` (stdout) and ``e`` (stderr)
(frames.py). When the container was made with stdin,
the writer also holds the write end of its stdin pipe, and a client's
frames ``i`` (input) go there; with stdin_once, the container's stdin is
closed when the first attached client's stdin closes (``c``) or the client
goes, as the CRI defines it."""

import os
import selectors
import signal
import subprocess
import sys
import time

from minipod import procfs
from minipod.conmon.crilog import LogFile
from minipod.conmon.frames import close_all, frame, listen, read_frames, socket_path

STREAMS = {b"stdout": b"o", b"stderr": b"e"}  # the frame kind an attached client gets each stream's data in


def container_stdio(rec: dict, stdin: bool = False, terminal: bool = False):
    """(stdin, stdout, stderr) for a CRI container, and the fds to close once
    it runs: its stdout and stderr are pipes to a writer process started now,
    and so is its stdin when ``stdin`` (else /dev/null). The writer's pid,
    start time and attach socket go into ``rec`` as "log_writer". With a
    ``terminal`` there is no writer: the container's console writes the log."""
    os.makedirs(os.path.dirname(rec["log_path"]), exist_ok=True)
    if terminal:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        return (null, null, null), [null]
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    ours, theirs = [out_r, err_r], [out_w, err_w]
    if stdin:
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        ours.append(in_w)
        theirs.insert(0, in_r)
    else:
        in_w = -1
        theirs.insert(0, os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
    sock = socket_path(rec)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    once = "once" if (rec.get("cri") or {}).get("stdin_once") else "many"
    argv = [sys.executable, "-m", "minipod.conmon.pipes", rec["log_path"], str(out_r), str(err_r), str(sock), str(in_w),
            once]
    try:
        with open(os.devnull, "rb") as null:
            writer = subprocess.Popen(argv, stdin=null, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      pass_fds=ours, start_new_session=True, cwd="/")
    finally:
        for fd in ours:
            os.close(fd)
    rec["log_writer"] = {"pid": writer.pid, "start": procfs.start_time(writer.pid), "socket": str(sock)}
    _wait_for_socket(sock, writer)
    return tuple(theirs), list(theirs)


def _wait_for_socket(sock, writer, timeout: float = 5.0) -> None:
    """Until the writer listens (an Attach may follow StartContainer at once)."""
    deadline = time.monotonic() + timeout
    while not sock.exists() and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


def main(argv) -> int:
    path, out_fd, err_fd, sock_path = argv[0], int(argv[1]), int(argv[2]), argv[3]
    stdin_fd = int(argv[4]) if int(argv[4]) >= 0 else None
    once = argv[5] == "once"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ends with the container, not before its last line
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    log = LogFile(path)
    sel = selectors.DefaultSelector()
    outputs = {out_fd: b"stdout", err_fd: b"stderr"}
    for fd, name in outputs.items():
        sel.register(fd, selectors.EVENT_READ, name)
    listener = listen(sock_path)
    sel.register(listener, selectors.EVENT_READ, "listener")
    clients = {}  # socket -> buffer of its unread frame bytes
    pending = bytearray()  # input the container has not read yet (its stdin pipe is full)
    if stdin_fd is not None:
        os.set_blocking(stdin_fd, False)

    def close_stdin():
        nonlocal stdin_fd
        if stdin_fd is not None:
            if pending:
                sel.unregister(stdin_fd)
                pending.clear()
            os.close(stdin_fd)
            stdin_fd = None

    def feed(data: bytes):
        """Write to the container's stdin what it will take now; keep the rest
        (the writer never blocks on a container that does not read)."""
        was_pending = bool(pending)
        pending.extend(data)
        try:
            del pending[:os.write(stdin_fd, pending)]
        except BlockingIOError:
            pass
        except BrokenPipeError:
            close_stdin()
            return
        if pending and not was_pending:
            sel.register(stdin_fd, selectors.EVENT_WRITE, "stdin")
        elif was_pending and not pending:
            sel.unregister(stdin_fd)

    def drop(sock):
        sel.unregister(sock)
        clients.pop(sock)
        sock.close()
        if once:  # the first attach session is over: so is the container's stdin
            close_stdin()

    while outputs:
        for key, _ in sel.select():
            if key.data == "stdin":
                feed(b"")
            elif key.data == "listener":
                sock, _ = listener.accept()
                clients[sock] = b""
                sel.register(sock, selectors.EVENT_READ, "client")
            elif key.data == "client":
                try:
                    data = key.fileobj.recv(65536)
                    if not data:
                        raise ConnectionResetError
                    clients[key.fileobj], frames = read_frames(clients[key.fileobj] + data)
                except (OSError, ValueError):
                    drop(key.fileobj)
                    continue
                for kind, payload in frames:
                    if kind == b"i" and stdin_fd is not None:
                        feed(payload)
                    elif kind == b"c" and once:
                        close_stdin()
                    elif kind == b"R":  # ReopenContainerLog: reopened, then the asker is let go
                        log.reopen()
                        sel.unregister(key.fileobj)
                        clients.pop(key.fileobj)
                        key.fileobj.close()
                        break
            else:
                data = os.read(key.fd, 65536)
                log.write(key.data, data)
                for sock in list(clients):
                    try:
                        if data:
                            sock.sendall(frame(STREAMS[key.data], data))
                    except OSError:
                        drop(sock)
                if not data:
                    sel.unregister(key.fd)
                    os.close(key.fd)
                    del outputs[key.fd]
    close_all(listener, list(clients), sock_path, log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
