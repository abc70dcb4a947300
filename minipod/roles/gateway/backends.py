"""A route's backendRefs as nginx reaches them: each Service port's ready
endpoints (pod IP and target port), or why a reference does not resolve
(the ResolvedRefs reasons: InvalidKind, RefNotPermitted, BackendNotFound).
A reference into another namespace needs a ReferenceGrant there. Pure."""

from dataclasses import dataclass

from minipod.roles.gateway import GROUP


@dataclass
class Backend:
    name: str
    namespace: str
    port: int
    weight: int
    targets: list  # ["ip:port"]; empty: the Service has no ready endpoint
    problem: object = None  # (reason, message) when the reference does not resolve


def granted(grants: list, from_kind: str, from_ns: str, to_group: str, to_kind: str, to_ns: str, name: str) -> bool:
    """Whether a ReferenceGrant in ``to_ns`` lets ``from_kind`` objects of
    ``from_ns`` refer to the ``to_kind`` named ``name``."""
    for g in grants:
        if g["metadata"]["namespace"] != to_ns:
            continue
        spec = g["spec"]
        if not any(f["group"] == GROUP and f["kind"] == from_kind and f["namespace"] == from_ns
                   for f in spec.get("from") or []):
            continue
        if any(t.get("group", "") == to_group and t["kind"] == to_kind and t.get("name") in (None, name)
               for t in spec.get("to") or []):
            return True
    return False


def resolve(ref: dict, route_ns: str, services: dict, endpoints: dict, grants: list) -> Backend:
    """One backendRef of a route in ``route_ns``."""
    ns = ref.get("namespace", route_ns)
    backend = Backend(ref["name"], ns, ref.get("port"), ref.get("weight", 1), [])
    group, kind = ref.get("group", ""), ref.get("kind", "Service")
    if group not in ("", "core") or kind != "Service":
        backend.problem = ("InvalidKind", f"backendRef {ref['name']}: {kind}"
                                          f"{'.' + group if group else ''} is not a kind minipod routes to")
        return backend
    if ns != route_ns and not granted(grants, "HTTPRoute", route_ns, "", "Service", ns, ref["name"]):
        backend.problem = ("RefNotPermitted", f"backendRef {ns}/{ref['name']}: no ReferenceGrant in namespace {ns} "
                                              f"lets HTTPRoutes of {route_ns} refer to it")
        return backend
    svc = services.get((ns, ref["name"]))
    if svc is None:
        backend.problem = ("BackendNotFound", f"backendRef {ns}/{ref['name']}: no such Service")
        return backend
    port = next((p for p in svc["spec"].get("ports") or [] if p["port"] == backend.port), None)
    if port is None:
        backend.problem = ("BackendNotFound", f"backendRef {ns}/{ref['name']}: the Service has no port "
                                              f"{backend.port}")
        return backend
    out = set()
    for subset in (endpoints.get((ns, ref["name"])) or {}).get("subsets") or []:
        for p in subset.get("ports") or []:
            if p.get("name", "") == port.get("name", ""):
                out |= {f"{a['ip']}:{p['port']}" for a in subset.get("addresses") or []}
    backend.targets = sorted(out)
    return backend


def first_problem(backends: list):
    """The ResolvedRefs verdict of a route's backends: (reason, message) of
    the first that does not resolve, else None."""
    return next((b.problem for b in backends if b.problem), None)
