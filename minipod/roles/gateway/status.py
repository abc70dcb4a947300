"""The status the specification asks of a Gateway API controller, so that
`kubectl describe` says what is served and what is wrong: GatewayClass
Accepted; Gateway Accepted and Programmed, its address, each listener's
conditions and attached routes; each HTTPRoute parent's Accepted and
ResolvedRefs. Pure: verdicts in, status out; a condition that keeps its
status keeps its lastTransitionTime."""

import time

from minipod.roles.gateway import CONTROLLER_NAME


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def condition(kind: str, status: str, reason: str, message: str, generation, old: list) -> dict:
    """One condition; its transition time the old one's if the status is the same."""
    before = next((c for c in old or [] if c.get("type") == kind), None)
    since = before["lastTransitionTime"] if before and before.get("status") == status else _now()
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since, "observedGeneration": generation or 1}


def gateway_class(obj: dict) -> dict:
    old = (obj.get("status") or {}).get("conditions")
    gen = obj["metadata"].get("generation")
    return {**(obj.get("status") or {}),
            "conditions": [condition("Accepted", "True", "Accepted", "minipod's gateway controller serves this class",
                                     gen, old)]}


def _listener(lst, attached: int, programmed: bool, gen, old: list) -> dict:
    problems = lst.conditions
    accepted = problems.get("Accepted", ("True", "Accepted", "the listener is valid"))
    refs = problems.get("ResolvedRefs", ("True", "ResolvedRefs", "every reference resolves"))
    conflicted = problems.get("Conflicted", ("False", "NoConflicts", "no other listener conflicts with it"))
    if lst.serves and programmed:
        prog = ("True", "Programmed", "nginx serves it")
    elif lst.serves:
        prog = ("False", "Pending", "nginx is not serving its configuration yet")
    else:
        prog = ("False", "Invalid", "the listener is not valid: see its other conditions")
    return {"name": lst.name, "supportedKinds": lst.supported_kinds, "attachedRoutes": attached,
            "conditions": [condition(k, *v, gen, old) for k, v in (("Accepted", accepted), ("Programmed", prog),
                                                                    ("ResolvedRefs", refs),
                                                                    ("Conflicted", conflicted))]}


def gateway(obj: dict, listeners: list, attached: dict, address, programmed) -> dict:
    """``attached``: listener name -> routes attached; ``address``: the
    LoadBalancer IP or None; ``programmed``: (status, reason, message)."""
    old = obj.get("status") or {}
    gen = obj["metadata"].get("generation")
    old_listeners = {lst.get("name"): lst.get("conditions") for lst in old.get("listeners") or []}
    if obj["spec"].get("addresses"):
        accepted = ("False", "UnsupportedAddress", "minipod gives a Gateway its address from the LoadBalancer "
                                                   "pool; spec.addresses is not served")
    elif all(lst.serves for lst in listeners):
        accepted = ("True", "Accepted", "the Gateway is valid")
    else:
        accepted = ("True", "ListenersNotValid", "listeners not valid: "
                    + ", ".join(lst.name for lst in listeners if not lst.serves))
    if address is None:
        programmed = ("False", "AddressNotAssigned", "no address from the LoadBalancer pool yet")
    out = {"conditions": [condition("Accepted", *accepted, gen, old.get("conditions")),
                          condition("Programmed", *programmed, gen, old.get("conditions"))],
           "listeners": [_listener(lst, attached.get(lst.name, 0), programmed[0] == "True", gen,
                                   old_listeners.get(lst.name)) for lst in listeners]}
    if address:
        out["addresses"] = [{"type": "IPAddress", "value": address}]
    return out


def route_parent(ref: dict, route: dict, attachment, resolved, gen) -> dict:
    """One entry of an HTTPRoute's status.parents: ``attachment``
    (attach.Attachment), ``resolved``: (status, reason, message)."""
    old = next((p.get("conditions") for p in (route.get("status") or {}).get("parents") or []
                if p.get("parentRef") == ref and p.get("controllerName") == CONTROLLER_NAME), None)
    accepted = ("True" if attachment.accepted else "False", attachment.reason, attachment.message)
    return {"parentRef": ref, "controllerName": CONTROLLER_NAME,
            "conditions": [condition("Accepted", *accepted, gen, old), condition("ResolvedRefs", *resolved, gen, old)]}


def route(obj: dict, parents: list) -> dict:
    """The route's status: ``parents`` (ours) and those other controllers wrote."""
    others = [p for p in (obj.get("status") or {}).get("parents") or [] if p.get("controllerName") != CONTROLLER_NAME]
    return {"parents": others + parents}
