"""The pod subresources that stream: log (`kubectl logs [-f] [--tail]
[-c]`), exec (`kubectl exec [-it] POD -- CMD`), attach (`kubectl attach`,
`kubectl run -it`: the container's own terminal, held by its console) and
port-forward, for the pod a request names. The protocols themselves
(WebSocket channels, SPDY/3.1) are minipod.streaming's, shared with the
CRI's streaming server."""

import asyncio
import os

from aiohttp import web

from minipod import errors
from minipod.apiserver.status import APIError, of_error
from minipod.streaming import StreamError, sessions


def _target(namespace, name, container_name):
    """The container record a pod subresource means; 400/404 as kubectl shows them."""
    from minipod.api import targets
    try:
        rec, _note = targets.resolve(f"pod/{name}", container_name or None, namespace)
    except errors.NotFound as e:
        if "waiting to start" in str(e):
            raise APIError(400, str(e)) from None
        raise APIError(404, str(e), details={"name": name, "kind": "pods"}) from None
    except errors.InvalidArgument as e:
        raise APIError(400, str(e)) from None
    except errors.MinipodError as e:
        raise of_error(e, "pods", name) from None
    return rec


async def serve(request, sub: str, namespace: str, name: str):
    if sub == "log":
        return await logs(request, namespace, name)
    upgrade = request.headers.get("Upgrade", "").lower()
    if sub == "portforward":
        return await portforward(request, namespace, name)
    attach = sub == "attach"
    if upgrade == "websocket":
        return await exec_websocket(request, namespace, name, attach)
    if upgrade.startswith("spdy/"):
        return await exec_spdy(request, namespace, name, attach)
    raise APIError(400, "Upgrade request required")


# ------------------------------------------------------------------ logs

def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
        return b"\n".join(parts[-lines:]) + b"\n"
    return b"\n".join(parts[-lines:])


async def logs(request, namespace, name):
    q = request.query
    rec = await asyncio.to_thread(_target, namespace, name, q.get("container"))
    path = rec.get("log_path")
    if q.get("previous", "").lower() in ("1", "true"):  # the run before the current one (the kubelet keeps one)
        from minipod.roles.kubelet import restarts
        path = restarts.previous_log(rec) if path else None
        if not path or not os.path.exists(path):
            raise APIError(400, f'previous terminated container "{rec["name"].rsplit("_", 1)[-1]}" in pod '
                                f'"{name}" not found')
    follow = q.get("follow", "").lower() in ("1", "true") and path == rec.get("log_path")
    try:
        tail = int(q["tailLines"]) if "tailLines" in q else None
        limit = int(q["limitBytes"]) if "limitBytes" in q else None
    except ValueError:
        raise APIError(400, "tailLines and limitBytes must be numbers") from None
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
    with f:
        data = f.read()
        if tail is not None:
            data = _tail(data, tail)
        sent = 0
        while True:
            if data:
                if limit is not None:
                    data = data[:max(limit - sent, 0)]
                sent += len(data)
                try:
                    await response.write(data)
                except (ConnectionResetError, RuntimeError):
                    return response
                if limit is not None and sent >= limit:
                    return response
            if not follow:
                return response
            if not data:
                running = await asyncio.to_thread(lambda: container.status(container.load(rec["id"])) == "running")
                if not running:
                    rest = f.read()
                    if rest:
                        await response.write(rest)
                    return response
                await asyncio.sleep(0.1)
            data = f.read()


# ------------------------------------------------------------------ exec

async def exec_websocket(request, namespace, name, attach=False):
    opts = _options(request.query, attach)
    rec = await asyncio.to_thread(_target, namespace, name, opts["container"])
    if rec.get("status") != "running" and not await asyncio.to_thread(_running, rec):
        raise APIError(400, f"container {opts['container'] or ''} is not running".replace("  ", " "))
    from minipod.streaming import channels
    return await channels.serve_exec(request, rec, opts, attach)


async def exec_spdy(request, namespace, name, attach=False):
    opts = _options(request.query, attach)
    rec = await asyncio.to_thread(_target, namespace, name, opts["container"])
    from minipod.streaming import spdy
    try:
        return await spdy.serve_exec(request, rec, opts, attach)
    except StreamError as e:
        raise APIError(e.code, str(e)) from None


def _options(query, attach) -> dict:
    try:
        return sessions.exec_options(query, attach)
    except StreamError as e:
        raise APIError(e.code, str(e)) from None


def _running(rec) -> bool:
    from minipod.core import container
    return container.status(container.load(rec["id"])) == "running"


# ---------------------------------------------------------- port-forward

def pod_netns(namespace: str, name: str) -> str:
    """The pinned network namespace of a Running pod (404/400 otherwise)."""
    from minipod.api import targets
    try:
        rec = targets.pod_record(namespace, name)
    except errors.NotFound as e:
        if "no sandbox" in str(e):
            rec = None
        else:
            raise APIError(404, str(e), details={"name": name, "kind": "pods"}) from None
    if not rec or rec.get("status") != "running" or not rec.get("netns"):
        raise APIError(400, f'pod {name} is not running (port-forward needs a Running pod)')
    return rec["netns"]


async def portforward(request, namespace, name):
    netns = await asyncio.to_thread(pod_netns, namespace, name)
    from minipod.streaming import spdy
    try:
        return await spdy.serve_portforward(request, netns)
    except StreamError as e:
        raise APIError(e.code, str(e)) from None
