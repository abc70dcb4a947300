"""`minipod trace http://HOST/PATH` through a Gateway: which Gateway serves
HOST on the URL's port, and which listener, route, rule and match its
nginx picks for a GET of PATH. The matches and their order are the ones
the gateway controller rendered into that nginx's maps
(roles/gateway/controller.plan), evaluated here as the maps evaluate
them; the trace's packets then show where nginx sent the request."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from minipod.roles.gateway import controller, hostnames


@dataclass
class Pick:
    gateway: dict
    address: str
    listener: str
    match: object  # precedence.Match, or None: nginx answers 404


def _listener_for(lsts: list, port: int, host: str):
    """The listener nginx's `map $host $gw_listener_PORT` picks: an exact
    hostname, else the longest wildcard, else the one without hostname."""
    on_port = [lst for lst in lsts if lst.port == port and lst.serves]
    exact = [lst for lst in on_port if lst.hostname == host]
    if exact:
        return exact[0]
    wild = sorted((lst for lst in on_port if lst.hostname and lst.hostname.startswith("*")
                   and hostnames.matches(lst.hostname, host)), key=lambda lst: -len(lst.hostname))
    return wild[0] if wild else next((lst for lst in on_port if not lst.hostname), None)


def _holds(m, listener: str, host: str, path: str, query: list) -> bool:
    if m.listener != listener or (m.hostname is not None and not hostnames.matches(m.hostname, host)):
        return False
    if m.path_type == "Exact" and path != m.path:
        return False
    if m.path_type == "PathPrefix" and not (m.path == "/" or path == m.path or path.startswith(m.path + "/")):
        return False
    if m.path_type == "RegularExpression" and not re.fullmatch(m.path, path):
        return False
    if m.method not in (None, "GET") or m.headers:  # the trace sends a GET with no other header
        return False
    for kind, name, value in m.query:
        values = [v for k, v in query if k.lower() == name.lower()]
        if not values or not (re.fullmatch(value, values[0]) if kind == "RegularExpression" else values[0] == value):
            return False
    return True


def find(url: str, port: int):
    """The Pick for ``url`` on ``port``, or None when no Gateway of
    minipod's has a listener there for its host."""
    from minipod.objects import kinds, store
    parts = urlsplit(url)
    host, path, query = parts.hostname or "", parts.path or "/", parse_qsl(parts.query)
    classes = {c["metadata"]["name"] for c in store.list_objects(kinds.GATEWAY_CLASS)
               if c["spec"]["controllerName"] == controller.CONTROLLER_NAME}
    world = None
    for gw in store.list_objects(kinds.GATEWAY):
        address = ((gw.get("status") or {}).get("addresses") or [{}])[0].get("value")
        if gw["spec"]["gatewayClassName"] not in classes or not address:
            continue
        world = world or controller.read_world()
        lsts, matches, _attached, _parents = controller.plan(gw, world)
        listener = _listener_for(lsts, port, host)
        if listener is None:
            continue
        picked = next((m for m in matches if m.port == port and _holds(m, listener.name, host, path, query)), None)
        if picked is not None or any(m.port == port and m.listener == listener.name and
                                     (m.hostname is None or hostnames.matches(m.hostname, host)) for m in matches):
            return Pick(gw, address, listener.name, picked)
    return None


def describe(pick: Pick) -> list:
    """The lines the trace's report prints about the Gateway's choice."""
    meta = pick.gateway["metadata"]
    lines = [f"  Gateway {meta['namespace']}/{meta['name']}: listener {pick.listener}"]
    m = pick.match
    if m is None:
        return lines + ["      no route's match holds: nginx answers 404"]
    what = [f"{m.path_type} {m.path}"] + ([f"host {m.hostname}"] if m.hostname else []) + \
        ([f"method {m.method}"] if m.method else []) + [f"query {n}={v}" for _k, n, v in m.query]
    backends = ", ".join(f"{b.name}:{b.port} (weight {b.weight})" for b in m.action.backends) or "none"
    return lines + [f"      route {m.route[1]}/{m.route[2]}, rule {m.rule_index}, match {m.match_index} "
                    f"({', '.join(what)})", f"      backends: {backends}"]
