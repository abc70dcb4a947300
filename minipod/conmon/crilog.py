"""The CRI's container log format, which the kubelet reads (`kubectl logs`
through the kubelet): one line per line the container wrote,

    2016-10-06T00:17:09.669794202Z stdout F the line
    2016-10-06T00:17:09.669794202Z stderr P part of a longer one

(F: a full line, P: a part, the rest follows). Written by both holders:
pipes.py, and tty.py for a CRI container with a terminal."""

import os
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
