"""`kubectl logs [-f] [-c] [--previous] [--tail] [--limit-bytes]
[--timestamps] [--since|--since-time]`: a pod's container log, as the
kubelet serves it. A Pod object's container logs in the kubelet's own
format, a time per line (conmon/crilog.py), so --timestamps and --since
are honoured; the containers of `minipod run` keep docker's plain log,
where they cannot be (and are ignored)."""

import asyncio
import calendar
import os
import time

from aiohttp import web

from minipod.apiserver.status import APIError


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
        return b"\n".join(parts[-lines:]) + b"\n"
    return b"\n".join(parts[-lines:])


def _flag(q, name: str) -> bool:
    return q.get(name, "").lower() in ("1", "true")


def _since(q):
    """The earliest time a line may have (sinceSeconds or sinceTime), or None."""
    try:
        if "sinceSeconds" in q:
            return time.time() - int(q["sinceSeconds"])
        if "sinceTime" in q:
            return calendar.timegm(time.strptime(q["sinceTime"].rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        raise APIError(400, "sinceSeconds must be a number and sinceTime a time in RFC 3339") from None
    return None


class _Limit:
    """limitBytes over everything sent."""

    def __init__(self, limit):
        self.left = limit

    def cut(self, data: bytes) -> bytes:
        if self.left is None:
            return data
        data = data[:max(self.left, 0)]
        self.left -= len(data)
        return data

    @property
    def reached(self) -> bool:
        return self.left is not None and self.left <= 0


async def logs(request, target, namespace, name):
    q = request.query
    rec = await asyncio.to_thread(target, namespace, name, q.get("container"))
    path = rec.get("log_path")
    if _flag(q, "previous"):  # the run before the current one (the kubelet keeps one)
        from minipod.roles.kubelet import restarts
        path = restarts.previous_log(rec) if path else None
        if not path or not os.path.exists(path):
            raise APIError(400, f'previous terminated container "{rec["name"].rsplit("_", 1)[-1]}" in pod '
                                f'"{name}" not found')
    follow = _flag(q, "follow") and path == rec.get("log_path")
    try:
        tail = int(q["tailLines"]) if "tailLines" in q else None
        limit = _Limit(int(q["limitBytes"]) if "limitBytes" in q else None)
    except ValueError:
        raise APIError(400, "tailLines and limitBytes must be numbers") from None
    since = _since(q)
    try:
        f = open(path, "rb")
    except (FileNotFoundError, TypeError):
        f = None
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    if f is None:
        return response
    from minipod.core import container

    def running():
        return container.status(container.load(rec["id"])) == "running"
    with f:
        if rec.get("log_format") == "cri":
            await _cri(response, f, follow, running, tail, limit, since, _flag(q, "timestamps"))
        else:
            await _plain(response, f, follow, running, tail, limit)
    return response


async def _send(response, data: bytes, limit: _Limit) -> bool:
    """Write what the limit lets through; False once the client is gone or the limit reached."""
    data = limit.cut(data)
    if data:
        try:
            await response.write(data)
        except (ConnectionResetError, RuntimeError):
            return False
    return not limit.reached


async def _plain(response, f, follow, running, tail, limit) -> None:
    data = f.read()
    if tail is not None:
        data = _tail(data, tail)
    while True:
        if data and not await _send(response, data, limit):
            return
        if not follow:
            return
        if not data:
            if not await asyncio.to_thread(running):
                await _send(response, f.read(), limit)
                return
            await asyncio.sleep(0.1)
        data = f.read()


async def _cri(response, f, follow, running, tail, limit, since, timestamps) -> None:
    from minipod.conmon import crilog

    def render(entries) -> bytes:
        if since is not None:
            entries = [e for e in entries if crilog.epoch(e.time) >= since]
        return b"".join((crilog.go_time(e.time) + b" " if timestamps else b"") + e.content for e in entries)
    entries, (parts, rest) = crilog.parse(f.read())
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    if not await _send(response, render(entries), limit) or not follow:
        return
    while True:
        data = f.read()
        if data:
            entries, (parts, rest) = crilog.parse(rest + data, parts)
            if not await _send(response, render(entries), limit):
                return
            continue
        if not await asyncio.to_thread(running):
            entries, _ = crilog.parse(rest + f.read() + (b"\n" if rest else b""), parts)
            await _send(response, render(entries), limit)
            return
        await asyncio.sleep(0.1)
