"""SPDY/3.1 streams (placeholder until the framing lands)."""

from minipod.apiserver.status import APIError


async def serve_portforward(request, namespace, name):
    raise APIError(400, "port-forward is not served yet")


async def serve_exec(request, namespace, name):
    raise APIError(400, "SPDY exec is not served yet")
