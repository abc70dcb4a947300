"""The CRI's container log format, which the kubelet reads (`kubectl logs`
through the kubelet): one line per line the container wrote,

    2016-10-06T00:17:09.669794202Z stdout F the line
    2016-10-06T00:17:09.669794202Z stderr P part of a longer one

(F: a full line, P: a part, the rest follows). Written by both holders:
pipes.py, and tty.py for a CRI container with a terminal."""

import os
import time
from typing import NamedTuple

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


# ------------------------------------------------------------------ reading

class Entry(NamedTuple):
    """One line as the container wrote it: when (RFC 3339, as written),
    on which stream, and its bytes (with its newline when it had one)."""
    time: bytes
    stream: bytes
    content: bytes


def parse(data: bytes, pending: bytes = b"") -> tuple:
    """([Entry] of the complete records in ``data``, what is left: an
    unfinished record, and the parts (P) of a line whose end (F) is still to
    come, which join it as the kubelet joins them)."""
    out, parts = [], pending
    *lines, rest = data.split(b"\n")
    for line in lines:
        fields = line.split(b" ", 3)
        if len(fields) < 3:
            continue  # not a record: skipped, as the kubelet skips it
        when, stream, tag = fields[0], fields[1], fields[2]
        text = fields[3] if len(fields) > 3 else b""
        if tag == b"P":
            parts += text
            continue
        out.append(Entry(when, stream, parts + text + b"\n"))
        parts = b""
    return out, (parts, rest)


def go_time(stamp: bytes) -> bytes:
    """Go's RFC3339Nano, as `kubectl logs --timestamps` prints it: the
    fraction without its trailing zeros."""
    head, dot, frac = stamp.rstrip(b"Z").partition(b".")
    frac = frac.rstrip(b"0")
    return head + (b"." + frac if frac else b"") + b"Z"


def epoch(stamp: bytes) -> float:
    head, _, frac = stamp.rstrip(b"Z").partition(b".")
    import calendar
    return calendar.timegm(time.strptime(head.decode(), "%Y-%m-%dT%H:%M:%S")) + float(b"0." + (frac or b"0"))


def follow(path: str, keep_following: bool, is_running):
    """Yield lists of the Entries of a CRI-format log; with
    ``keep_following``, go on until ``is_running()`` says the container
    ended and the log is drained."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    parts, rest = b"", b""
    with f:
        while True:
            data = f.read(65536)
            if data:
                entries, (parts, rest) = parse(rest + data, parts)
                if entries:
                    yield entries
            elif keep_following and is_running():
                time.sleep(0.1)
            else:
                entries, (parts, _) = parse(rest + f.read() + (b"\n" if rest else b""), parts)
                if parts:  # the container's last line, unfinished (written as parts)
                    entries.append(Entry(entries[-1].time if entries else b"", b"stdout", parts))
                if entries:
                    yield entries
                return
