"""What kubectl's printers show beside an object's own fields, gathered
here so that the printers (minipod.printers.kubectl) only format: the
node's name, a pod's Events from the kubelet's records, a Service's or an
Ingress's Endpoints from the store, and an Ingress's address and problems
from the ingress controller. The CLI's `get`/`describe` and the API
server's Table rows both print through here."""

from minipod.printers import describe as describe_printer, kubectl


def _ingress_facts():
    from minipod.roles.ingress import controller
    return controller.facts()


def rows(kind, objs, all_namespaces=False, wide=False):
    """kubectl get's (headers, rows) for ``objs`` of ``kind``."""
    facts = {}
    if kind.kind == "Pod":
        from minipod.roles.kubelet import pods
        facts["node"] = pods.node_name()
    elif kind.kind == "Ingress" and objs:
        from minipod.roles.ingress import health
        seen = _ingress_facts()  # the same for every row
        facts["ingress_address"] = {(o["metadata"].get("namespace"), o["metadata"]["name"]): health.address(o, seen)
                                   for o in objs}
    return kubectl.object_rows(kind, objs, all_namespaces, wide, facts)


def _replicasets_of(dep: dict) -> tuple:
    """(the new ReplicaSet, the old ones with pods), with their status, as describe deployment names them."""
    from minipod.roles.controllers import deployments, replicasets
    rses = deployments.owned_replicasets(dep)
    current = deployments.new_replicaset(dep, rses)
    new, olds = None, []
    for rs in rses:
        rs = {**rs, "status": replicasets.status(rs)}
        if current is not None and rs["metadata"]["uid"] == current["metadata"]["uid"]:
            new = rs
        elif rs["spec"].get("replicas", 1) or rs["status"]["replicas"]:
            olds.append(rs)
    return new, olds


def describe(kind, obj) -> str:
    """kubectl describe's text of ``obj``."""
    facts = {}
    meta = obj["metadata"]
    if kind.kind == "Pod":
        from minipod.roles.kubelet import pods
        facts["node"] = pods.node_name()
        facts["events"] = pods.events_of(obj, pods.realised().get(meta.get("uid")))
    elif kind.kind in ("Deployment", "ReplicaSet") or kind.crd:
        from minipod.objects import events
        facts["events"] = events.rows_of(obj)
        if kind.kind == "Deployment":
            facts["new_rs"], facts["old_rs"] = _replicasets_of(obj)
    elif kind.kind in ("Service", "Ingress"):
        from minipod.objects import kinds, store
        if kind.kind == "Service":
            names = [meta["name"]]
        else:
            spec = obj["spec"]
            backends = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
            backends += [p["backend"] for r in spec.get("rules") or []
                         for p in (r.get("http") or {}).get("paths") or []]
            names = [b["service"]["name"] for b in backends if b.get("service")]
        facts["endpoints"] = {n: store.get(kinds.ENDPOINTS, meta["namespace"], n) for n in names}
        if kind.kind == "Ingress":
            from minipod.roles.ingress import health
            seen = _ingress_facts()
            facts["address"] = health.address(obj, seen)
            facts["events"] = health.events(obj, seen)
    return describe_printer.describe_object(kind, obj, facts)
