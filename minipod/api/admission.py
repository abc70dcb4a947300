"""What `apply` warns about, as the API server's admission warnings that
kubectl prints as `Warning: …`: what would keep the applied objects from
working (an image this node lacks, an Ingress that cannot be served and
why, a configuration nginx -t refuses). The objects are stored all the same.

The first piece of the API layer (ARCHITECTURE.md: the verbs above the
controllers), so that the CLI and, later, the HTTP API give the same words.
"""

from minipod import image
from minipod.errors import NotFound
from minipod.image import pull
from minipod.roles.ingress import controller, health
from minipod.objects import kinds, store


def warnings(results, stored=None) -> list:
    """What keeps the applied objects from working: images this node lacks
    (their pods would wait in ErrImagePull), what keeps the applied Ingresses
    from being served (ingress/health.py) and nginx -t's refusal.
    ``stored``: {(plural, namespace, name): object} of those the caller has
    just written (the rest are read from the store)."""
    return _image_warnings(results, stored or {}) + _ingress_warnings(results)


def _image_warnings(results, stored: dict) -> list:
    out = []
    for kind, ns, name, _a in results:
        if kind.kind not in ("Pod", "Deployment"):
            continue
        obj = stored.get((kind.plural, ns, name)) or store.get(kind, ns, name)
        spec = (obj or {}).get("spec") or {}
        spec = spec.get("template", {}).get("spec", spec) if kind.kind == "Deployment" else spec
        for c in spec.get("containers", []):
            if pull.names_registry(c["image"]):
                continue  # pulled when its pod is made
            try:
                image.load(c["image"])
            except NotFound:
                out.append(f'{kind.kind.lower()} {ns}/{name}: no image "{c["image"]}" on this node: its pods will '
                           "wait in ErrImagePull (minipod image import FILE NAME, or minipod pull REGISTRY/REPO)")
    return out


def _ingress_warnings(results) -> list:
    ingresses = [(ns, name) for kind, ns, name, _a in results if kind.kind == "Ingress"]
    if not ingresses:
        return []
    applied = {(ns, name) for kind, ns, name, _a in results if kind.kind == "Service"}
    out = []
    for ns, name in ingresses:
        obj = store.get(kinds.INGRESS, ns, name)
        if obj is None or not health.ours(obj):
            continue
        found = [p for p in health.controller_problems(controller.facts()) if p[0] == "NoController"]
        found += health.backend_problems(obj, applied)
        out += [f"ingress {ns}/{name}: {message}" for _reason, message in found]
    refusal = controller.check_now()
    if refusal:
        out.append(f"nginx -t refuses the configuration these Ingresses make (the last good one keeps serving): "
                   f"{refusal}")
    return out
