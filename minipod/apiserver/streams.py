"""The pod subresources that stream: log (podlogs.py), exec (`kubectl exec
[-it] POD -- CMD`), attach (`kubectl attach`, `kubectl run -it`: the
container's own terminal, held by its console) and port-forward, for the pod a request names. The protocols themselves
(WebSocket channels, SPDY/3.1) are minipod.streaming's, shared with the
CRI's streaming server."""

import asyncio

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
        from minipod.apiserver import podlogs
        return await podlogs.logs(request, _target, namespace, name)
    upgrade = request.headers.get("Upgrade", "").lower()
    if sub == "portforward":
        return await portforward(request, namespace, name)
    attach = sub == "attach"
    if upgrade == "websocket":
        return await exec_websocket(request, namespace, name, attach)
    if upgrade.startswith("spdy/"):
        return await exec_spdy(request, namespace, name, attach)
    raise APIError(400, "Upgrade request required")


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
