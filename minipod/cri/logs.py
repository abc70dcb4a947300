"""A CRI container's log, in the format the kubelet reads (`kubectl logs`
through the kubelet): one line per line the container wrote,

    2016-10-06T00:17:09.669794202Z stdout F the line
    2016-10-06T00:17:09.669794202Z stderr P part of a longer one

(F: a full line, P: a part, the rest follows). The container's stdout and
stderr are pipes; a small writer process of its own (`python -m
minipod.cri.logs`, as conmon is for CRI-O) reads them and writes the file,
reopening it on SIGUSR1 (the kubelet's ReopenContainerLog, after it rotated
the file), and ends when the container and everything it started closed
both pipes."""

import os
import selectors
import signal
import subprocess
import sys
import time

MAX_LINE = 16 * 1024  # a longer line is written in parts (P), as containerd does


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


def container_stdio(rec: dict):
    """(stdin, stdout, stderr) for a CRI container, and the fds to close once
    it runs: its stdout and stderr are pipes to a writer process started now
    (its pid and start time go into ``rec`` as "log_writer")."""
    os.makedirs(os.path.dirname(rec["log_path"]), exist_ok=True)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    with open(os.devnull, "rb") as null:
        writer = subprocess.Popen([sys.executable, "-m", "minipod.cri.logs", rec["log_path"], str(out_r), str(err_r)],
                                  stdin=null, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  pass_fds=(out_r, err_r), start_new_session=True, cwd="/")
    os.close(out_r)
    os.close(err_r)
    from minipod import procfs
    rec["log_writer"] = {"pid": writer.pid, "start": procfs.start_time(writer.pid)}
    stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    return (stdin, out_w, err_w), [stdin, out_w, err_w]


def reopen(rec: dict) -> bool:
    """Ask a container's writer to reopen its log file (False: none runs)."""
    from minipod import procfs
    writer = rec.get("log_writer") or {}
    return bool(writer) and procfs.send_signal(writer["pid"], writer.get("start"), signal.SIGUSR1)


def main(path: str, out_fd: int, err_fd: int) -> int:
    def open_log():
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)  # SIGUSR1 wakes the select below, so the reopen comes before any later line
    signal.signal(signal.SIGUSR1, lambda *_: None)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ends with the container, not before its last line
    log = open_log()
    sel = selectors.DefaultSelector()
    sel.register(wake_r, selectors.EVENT_READ, None)
    left = {}
    for fd, name in ((out_fd, b"stdout"), (err_fd, b"stderr")):
        sel.register(fd, selectors.EVENT_READ, name)
        left[fd] = b""
    while len(sel.get_map()) > 1:
        for key, _ in sel.select():
            if key.fd == wake_r:
                if signal.SIGUSR1 in os.read(wake_r, 64):
                    os.close(log)
                    log = open_log()
                continue
            data = os.read(key.fd, 65536)
            text, left[key.fd] = format_lines(key.data, left[key.fd] + data, time.time_ns(), final=not data)
            if text:
                os.write(log, text)
            if not data:
                sel.unregister(key.fd)
                os.close(key.fd)
    os.close(log)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
