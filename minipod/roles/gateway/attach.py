"""Which listeners of a Gateway serve, and which routes attach to them,
with the specification's reasons where not. Pure: objects in, verdicts out.

A listener serves when its protocol is HTTP or HTTPS, it is distinct from
the others on its port (no two on one port with different protocols:
ProtocolConflict; none with the same hostname: HostnameConflict), its
allowedRoutes kinds are HTTPRoute, and an HTTPS one has its certificate.
A route's parentRef attaches it to the listeners it names (sectionName,
port) that allow the route's namespace (Same, All, Selector) and share a
hostname with it (hostnames.intersect)."""

from dataclasses import dataclass, field

from minipod.objects import policies
from minipod.roles.gateway import GROUP, hostnames

PROTOCOLS = ("HTTP", "HTTPS")
ROUTE_KIND = {"group": GROUP, "kind": "HTTPRoute"}


@dataclass
class Listener:
    name: str
    port: int
    protocol: str
    hostname: object  # str, or None for any host
    allowed: dict  # spec allowedRoutes
    conditions: dict = field(default_factory=dict)  # type -> (status, reason, message): what is wrong
    certificate: object = None  # (certificate, key) paths inside nginx, for HTTPS
    supported_kinds: list = field(default_factory=lambda: [dict(ROUTE_KIND)])

    @property
    def serves(self) -> bool:
        return not self.conditions


def listeners(gateway: dict, certificate_of) -> list:
    """The Gateway's listeners with what is wrong with each;
    ``certificate_of(listener spec)``: (paths, None) or (None, (reason,
    message)) for an HTTPS listener's certificateRefs."""
    out = []
    specs = gateway["spec"]["listeners"]
    for spec in specs:
        lst = Listener(spec["name"], spec["port"], spec["protocol"], spec.get("hostname"),
                       spec.get("allowedRoutes") or {})
        if lst.protocol not in PROTOCOLS:
            lst.conditions["Accepted"] = ("False", "UnsupportedProtocol",
                                          f"protocol {lst.protocol} is not served (minipod serves HTTP and HTTPS)")
            lst.supported_kinds = []
        kinds = (lst.allowed.get("kinds") or [])
        if kinds:
            lst.supported_kinds = [dict(ROUTE_KIND)] if any(
                k.get("kind") == "HTTPRoute" and k.get("group", GROUP) == GROUP for k in kinds) else []
            if len(lst.supported_kinds) < len(kinds):
                lst.conditions["ResolvedRefs"] = ("False", "InvalidRouteKinds",
                                                  "only HTTPRoute is served: "
                                                  + ", ".join(k.get("kind", "") for k in kinds if k.get("kind") !=
                                                              "HTTPRoute"))
        same_port = [s for s in specs if s["port"] == spec["port"] and s is not spec]
        if any(s["protocol"] != spec["protocol"] for s in same_port):
            lst.conditions["Conflicted"] = ("True", "ProtocolConflict",
                                            f"another listener on port {spec['port']} has another protocol")
        elif any(s.get("hostname") == spec.get("hostname") for s in same_port):
            lst.conditions["Conflicted"] = ("True", "HostnameConflict",
                                            f"another listener on port {spec['port']} has the same hostname")
        if lst.protocol == "HTTPS" and "Accepted" not in lst.conditions:
            paths, problem = certificate_of(spec)
            if problem:
                lst.conditions["ResolvedRefs"] = ("False", *problem)
            lst.certificate = paths
        out.append(lst)
    return out


def refers_to(ref: dict, route_ns: str, gateway: dict) -> bool:
    meta = gateway["metadata"]
    return ref.get("group", GROUP) == GROUP and ref.get("kind", "Gateway") == "Gateway" and \
        ref.get("namespace", route_ns) == meta["namespace"] and ref["name"] == meta["name"]


@dataclass
class Attachment:
    accepted: bool
    reason: str
    message: str
    hosts: dict  # listener name -> the route's hostnames there (None: any)


def _allows(lst: Listener, route_ns: str, gateway_ns: str, namespace_labels: dict) -> bool:
    if not lst.supported_kinds:
        return False
    namespaces = lst.allowed.get("namespaces") or {}
    frm = namespaces.get("from", "Same")
    if frm == "All":
        return True
    if frm == "Selector":
        return policies.selects(namespaces.get("selector") or {}, namespace_labels.get(route_ns, {}))
    return route_ns == gateway_ns


def attach(route: dict, ref: dict, gateway: dict, lsts: list, namespace_labels: dict) -> Attachment:
    """What ``ref`` (one of the route's parentRefs, naming ``gateway``)
    makes of the route on the Gateway's listeners ``lsts``."""
    route_ns = route["metadata"]["namespace"]
    named = [lst for lst in lsts if ("sectionName" not in ref or lst.name == ref["sectionName"]) and
             ("port" not in ref or lst.port == ref["port"])]
    if not named:
        what = " and ".join(f"{k} {ref[k]}" for k in ("sectionName", "port") if k in ref)
        return Attachment(False, "NoMatchingParent", f"the Gateway has no listener with {what}", {})
    named = [lst for lst in named if lst.serves]
    allowed = [lst for lst in named if _allows(lst, route_ns, gateway["metadata"]["namespace"], namespace_labels)]
    if not allowed:
        return Attachment(False, "NotAllowedByListeners",
                          f"no listener {'that serves ' if not named else ''}allows routes from namespace "
                          f"{route_ns}", {})
    hosts = {}
    for lst in allowed:
        names = hostnames.intersect(lst.hostname, route["spec"].get("hostnames") or [])
        if names is None or names:
            hosts[lst.name] = names
    if not hosts:
        return Attachment(False, "NoMatchingListenerHostname",
                          "no hostname of the route is within a listener's hostname", {})
    return Attachment(True, "Accepted", "the route is attached to listener " + ", ".join(sorted(hosts)), hosts)
