"""Why an Ingress is not served as written, in words a learner can act on:
what `apply` warns about, what `describe ingress` lists under Events, and
whether `get ingress` shows an ADDRESS (only when nothing stands in the way,
as ingress-nginx publishes an address only once it serves the Ingress).

Verdicts only: the facts about the controller they stand on (controller.facts())
are read by the caller, once per request, and given here."""

from minipod.objects import kinds, store

INGRESS_CLASS = "nginx"


def ours(obj: dict) -> bool:
    """Whether minipod's nginx serves ``obj`` (its class, or none: the default)."""
    return obj["spec"].get("ingressClassName") in (None, INGRESS_CLASS)


def _backends(obj: dict) -> list:
    spec = obj["spec"]
    out = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
    for rule in spec.get("rules") or []:
        out += [p["backend"] for p in (rule.get("http") or {}).get("paths") or []]
    return [b["service"]["name"] for b in out if b.get("service")]


def controller_problems(facts: dict) -> list:
    """[(reason, message)] about the ingress nginx itself."""
    if not facts["have_image"]:
        return [("NoController", f'the ingress nginx cannot start: there is no "{facts["image"]}" image '
                                 "(./scripts/setup makes it; or: minipod image import build/nginx.oci.tar nginx)")]
    out = []
    if not facts["running"]:
        out.append(("ControllerNotReady", "the ingress nginx is not running yet"))
    error = facts["error"]
    if error:
        out.append(("RELOAD", f"nginx -t refused the new configuration (the last good one serves): {error}"))
    return out


def backend_problems(obj: dict, applied=()) -> list:
    """[(reason, message)] about the Services an Ingress routes to.
    ``applied``: (namespace, name) of Services made in the same apply,
    whose endpoints cannot exist yet."""
    ns = obj["metadata"]["namespace"]
    out = []
    for name in dict.fromkeys(_backends(obj)):
        if store.get(kinds.SERVICE, ns, name) is None:
            out.append(("NoService", f'service "{ns}/{name}" not found: requests for it get 503'))
            continue
        if (ns, name) in applied:
            continue
        ep = store.get(kinds.ENDPOINTS, ns, name)
        if not any(s.get("addresses") for s in (ep or {}).get("subsets") or []):
            out.append(("NoEndpoints", f'service "{ns}/{name}" has no ready endpoints: requests for it get 503'))
    return out


def problems(obj: dict, facts: dict) -> list:
    """Everything that keeps ``obj`` from being served as written."""
    if not ours(obj):
        return []
    return controller_problems(facts) + backend_problems(obj)


def address(obj: dict, facts: dict) -> str:
    """The ADDRESS of `get ingress`: the node's, once nothing stands in the way."""
    return facts["address"] if ours(obj) and not problems(obj, facts) else ""


def events(obj: dict, facts: dict) -> list:
    """describe's Events rows: the problems that stand now."""
    return [("Warning", reason, None, "ingress-nginx", message) for reason, message in problems(obj, facts)]
