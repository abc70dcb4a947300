"""A CRI container's stdio without a terminal, held for it as conmon does
for CRI-O: its log in the format the kubelet reads (`kubectl logs` through
the kubelet), one line per line the container wrote,

    2016-10-06T00:17:09.669794202Z stdout F the line
    2016-10-06T00:17:09.669794202Z stderr P part of a longer one

(F: a full line, P: a part, the rest follows), and its stdin and live
output for attach clients (the CRI's Attach, `kubectl attach`).

The container's stdout and stderr are pipes to a writer process of its own
(`python -m minipod.cri.logs`), which writes the file and ends when the
container and everything it started closed both pipes. It serves a unix
socket: a frame ``R`` reopens the file (the kubelet's ReopenContainerLog,
after it rotated the file), and attached clients each is sent what the
container writes from then on as frames ``o`` (stdout) and ``e`` (stderr)
(the frames of minipod.console). When the container was made with stdin,
the writer also holds the write end of its stdin pipe, and a client's
frames ``i`` (input) go there; with stdin_once, the container's stdin is
closed when the first attached client's stdin closes (``c``) or the client
goes, as the CRI defines it."""

import os
import selectors
import signal
import socket
import subprocess
import sys
import time

MAX_LINE = 16 * 1024  # a longer line is written in parts (P), as containerd does
STREAMS = {b"stdout": b"o", b"stderr": b"e"}  # the frame kind an attached client gets each stream's data in


def timestamp(ns: int) -> bytes:
    """RFC 3339 with nanoseconds, UTC (the kubelet's parser takes this)."""
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) +
            f".{ns % 1_000_000_000:09d}Z").encode()


def format_lines(stream: bytes, data: bytes, ns: int, final: bool = False) -> tuple:
    """(the log lines for ``data``, what is left of an unfinished line);
    ``final``: the pipe is closed, so an unfinished line is written as a part."""
    out, stamp = [], timestamp(ns)
    while True:
        cut = data.find(b"\n")
        if cut < 0 or cut > MAX_LINE:
            if len(data) > MAX_LINE or (final and data):
                part, data = data[:MAX_LINE], data[MAX_LINE:]
                out.append(b"%s %s P %s\n" % (stamp, stream, part))
                continue
            return b"".join(out), data
        out.append(b"%s %s F %s\n" % (stamp, stream, data[:cut]))
        data = data[cut + 1:]


def container_stdio(rec: dict, stdin: bool = False, terminal: bool = False):
    """(stdin, stdout, stderr) for a CRI container, and the fds to close once
    it runs: its stdout and stderr are pipes to a writer process started now,
    and so is its stdin when ``stdin`` (else /dev/null). The writer's pid,
    start time and attach socket go into ``rec`` as "log_writer". With a
    ``terminal`` there is no writer: the container's console writes the log."""
    from minipod import container, procfs
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
    sock = container.console_socket(rec)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    once = "once" if (rec.get("cri") or {}).get("stdin_once") else "many"
    argv = [sys.executable, "-m", "minipod.cri.logs", rec["log_path"], str(out_r), str(err_r), str(sock), str(in_w),
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


def reopen(rec: dict, timeout: float = 5.0) -> bool:
    """Have a container's log writer (or, with a terminal, its console)
    reopen its log file, and return once it has: the kubelet renamed the
    file and counts on the next line landing in a new one at the path.
    On its socket: a frame ``R``, answered by the writer hanging up once
    the file is reopened. False: no writer runs."""
    from minipod.console import frame
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


class LogFile:
    """The CRI log file, reopened on request, with each stream's unfinished line."""

    def __init__(self, path: str):
        self.path = path
        self.fd = self._open()
        self.left = {}

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = self._open()

    def write(self, stream: bytes, data: bytes) -> None:
        """``data`` the container wrote on ``stream`` (b"": the stream ended)."""
        text, self.left[stream] = format_lines(stream, self.left.get(stream, b"") + data, time.time_ns(),
                                               final=not data)
        if text:
            os.write(self.fd, text)

    def close(self) -> None:
        os.close(self.fd)


def main(argv) -> int:
    from minipod.console import frame, read_frames
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
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    bound = sock_path + ".tmp"
    try:
        os.unlink(bound)
    except FileNotFoundError:
        pass
    listener.bind(bound)
    os.chmod(bound, 0o600)
    listener.listen(8)
    os.rename(bound, sock_path)  # there only once it listens
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
    for sock in list(clients):
        sock.close()
    listener.close()
    try:
        os.unlink(sock_path)
    except FileNotFoundError:
        pass
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
