"""The gateway controller's step of the agent's pass: for every Gateway of
a GatewayClass whose controllerName is minipod's, an nginx Pod
``NAME-CLASS`` (labelled gateway.networking.k8s.io/gateway-name) and a
Service of type LoadBalancer of the same name over the listeners' ports,
whose pool address is the Gateway's; nginx's configuration rendered from
the routes attached to it, checked with `nginx -t` and loaded gracefully
as the ingress controller loads its own (roles/ingress/controller.sync);
then the status of the classes, the Gateways and the routes. What is gone
(a Gateway, its class) takes its Pod, Service and files with it."""

import hashlib
import os

from minipod import paths
from minipod.core import container
from minipod.errors import Conflict, NotFound
from minipod.objects import defaults, events, ingresses, kinds, store
from minipod.roles.gateway import CONTROLLER_NAME, attach, backends, precedence, render, routes, status
from minipod.roles.ingress import controller as nginx

IMAGE = "nginx"  # the ingress controller's image (scripts/setup-images)
MOUNT = "/etc/nginx/gateway"
GATEWAY_LABEL = "gateway.networking.k8s.io/gateway-name"
MANAGED_BY = ("app.kubernetes.io/managed-by", "minipod-gateway")
CONTAINER = "nginx"


def conf_root():
    return paths.lib_root() / "gateways"


def _conf_dir(gw: dict):
    return conf_root() / f"{gw['metadata']['namespace']}_{gw['metadata']['name']}"


def resource_name(gw: dict) -> str:
    """GEP-1762's NAME-CLASS, within a DNS label's 63 characters."""
    name = f"{gw['metadata']['name']}-{gw['spec']['gatewayClassName']}"
    return name if len(name) <= 63 else name[:54] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8]


def _labels(gw: dict) -> dict:
    return {GATEWAY_LABEL: gw["metadata"]["name"], MANAGED_BY[0]: MANAGED_BY[1]}


def _owner(gw: dict) -> list:
    return [{"apiVersion": kinds.GATEWAY.api_version, "kind": "Gateway", "name": gw["metadata"]["name"],
             "uid": gw["metadata"]["uid"], "controller": True}]


def pod_object(gw: dict, ports: list) -> dict:
    meta = gw["metadata"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": resource_name(gw), "namespace": meta["namespace"], "labels": _labels(gw),
                         "ownerReferences": _owner(gw)},
            "spec": {"volumes": [{"name": "conf", "hostPath": {"path": str(_conf_dir(gw)), "type": "Directory"}}],
                     "containers": [{
                         "name": CONTAINER, "image": IMAGE,
                         "command": ["nginx", "-c", f"{MOUNT}/nginx.conf", "-g", "daemon off;"],
                         "ports": [{"containerPort": p, "name": f"port-{p}"} for p in ports],
                         # Listening means started: only then can a SIGHUP reload it.
                         "readinessProbe": {"tcpSocket": {"port": ports[0]}, "periodSeconds": 1},
                         "volumeMounts": [{"name": "conf", "mountPath": MOUNT, "readOnly": True}]}]}}


def service_object(gw: dict, ports: list) -> dict:
    meta = gw["metadata"]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": resource_name(gw), "namespace": meta["namespace"], "labels": _labels(gw),
                         "ownerReferences": _owner(gw)},
            "spec": {"type": "LoadBalancer", "selector": _labels(gw),
                     "ports": [{"name": f"port-{p}", "port": p, "targetPort": p, "protocol": "TCP"} for p in ports]}}


def _container_of(gw: dict):
    name = f"{gw['metadata']['namespace']}_{resource_name(gw)}_{CONTAINER}"
    return next((c for c in container.list_containers() if c["name"] == name), None)


def _ready(rec, gw: dict, ports: list) -> bool:
    from minipod.roles.kubelet import probes
    return rec is not None and probes.is_ready(rec, pod_object(gw, ports)["spec"]["containers"][0])


def _put(kind, obj: dict, log) -> dict:
    """Create or update one of a Gateway's own objects, keeping what the
    cluster filled in (a Service's addresses)."""
    old = store.get(kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
    if kind is kinds.SERVICE and old is not None:
        obj = {**obj, "spec": {**old["spec"], **obj["spec"],
                               "ports": [{**next((o for o in old["spec"]["ports"] if o["port"] == p["port"]), {}),
                                          **p} for p in obj["spec"]["ports"]]}}
        if "status" in old:
            obj["status"] = old["status"]
    if kind is kinds.SERVICE and (old is None or old["spec"] != obj["spec"]):
        from minipod.objects import allocations, services
        obj = defaults.apply("Service", obj)
        with allocations.lock():
            taken = allocations.Taken(v for k, v in allocations.stored().items()
                                      if k != (obj["metadata"]["namespace"], obj["metadata"]["name"]))
            services.allocate(obj, old, taken)
            stored, action = store.put(kind, obj)
    else:
        stored, action = store.put(kind, obj)
    if action != "unchanged":
        log(f"gateway: {kind.kind.lower()} {obj['metadata']['namespace']}/{obj['metadata']['name']} {action}")
    return stored


def _certificate_of(gw: dict, grants: list, directory):
    """certificate_of for attach.listeners: the first certificateRef of an
    HTTPS listener, written under ``directory``/tls."""
    ns = gw["metadata"]["namespace"]

    def certificate_of(spec: dict):
        refs = (spec.get("tls") or {}).get("certificateRefs") or []
        if not refs:
            return None, ("InvalidCertificateRef", "an HTTPS listener needs tls.certificateRefs")
        ref = refs[0]
        if ref.get("group", "") not in ("", "core") or ref.get("kind", "Secret") != "Secret":
            return None, ("InvalidCertificateRef", f"certificateRef {ref['name']}: not a Secret")
        secret_ns = ref.get("namespace", ns)
        if secret_ns != ns and not backends.granted(grants, "Gateway", ns, "", "Secret", secret_ns, ref["name"]):
            return None, ("RefNotPermitted", f"certificateRef {secret_ns}/{ref['name']}: no ReferenceGrant in "
                                             f"namespace {secret_ns} lets Gateways of {ns} refer to it")
        secret = store.get(kinds.SECRET, secret_ns, ref["name"])
        if secret is None or secret.get("type") != "kubernetes.io/tls":
            return None, ("InvalidCertificateRef", f"certificateRef {secret_ns}/{ref['name']}: no Secret of type "
                                                   "kubernetes.io/tls")
        if directory is None:  # looked at, not served (minipod trace)
            return ("", ""), None
        (directory / "tls").mkdir(parents=True, exist_ok=True)
        out = []
        for key, suffix in (("tls.crt", "crt"), ("tls.key", "key")):
            data = ingresses.secret_value(secret, key)
            # named by their content: a new certificate is a new configuration, which nginx -t checks
            digest = hashlib.sha256(data).hexdigest()[:12]
            path = directory / "tls" / f"{secret_ns}_{ref['name']}-{digest}.{suffix}"
            if not path.exists() or path.read_bytes() != data:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            out.append(f"{MOUNT}/tls/{path.name}")
        return tuple(out), None
    return certificate_of


def read_world() -> dict:
    """What every Gateway's routes are resolved against, read once a pass."""
    def by_key(kind):
        return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in store.list_objects(kind, shared=True)}
    labels = {ns: {"kubernetes.io/metadata.name": ns} for ns in kinds.DEFAULT_NAMESPACES}
    for o in store.list_objects(kinds.NAMESPACE, shared=True):
        name = o["metadata"]["name"]
        labels[name] = {**(o["metadata"].get("labels") or {}), "kubernetes.io/metadata.name": name}
    return {"services": by_key(kinds.SERVICE), "endpoints": by_key(kinds.ENDPOINTS),
            "grants": store.list_objects(kinds.REFERENCE_GRANT, shared=True), "namespaces": labels,
            "routes": store.list_objects(kinds.HTTP_ROUTE, shared=True)}


def _write_status(kind, obj: dict, wanted: dict) -> None:
    """Store ``wanted`` as ``obj``'s status unless it is already; a write
    that lost a race with the user's is dropped (the next pass writes)."""
    if obj.get("status") == wanted:
        return
    try:
        store.put(kind, {**obj, "status": wanted}, must_exist=True, expect_version=obj["metadata"]["resourceVersion"])
    except (Conflict, NotFound):
        pass


def _programmed(gw: dict, rec, ports: list, text: str) -> tuple:
    """The Gateway's Programmed verdict: nginx serves ``text``, or why not."""
    d = _conf_dir(gw)
    refused = nginx.last_error_in(d)
    if refused:
        return ("False", "Invalid", f"nginx -t refused the new configuration; the last good one serves: {refused}")
    if rec is None or not _ready(rec, gw, ports):
        return ("False", "Pending", f"nginx (pod {resource_name(gw)}) is starting")
    if not nginx.serves(rec, text, d):
        return ("False", "Pending", "nginx is loading the configuration")
    return ("True", "Programmed", f"nginx (pod {resource_name(gw)}) serves the configuration")


def plan(gw: dict, world: dict, directory=None) -> tuple:
    """What the Gateway serves: (its listeners, its matches in precedence
    order, routes attached per listener, {route key: [its status.parents
    entries for this Gateway]}). ``directory``: where an HTTPS listener's
    certificate is written (None: looked up, not written: `minipod trace`)."""
    lsts = attach.listeners(gw, _certificate_of(gw, world["grants"], directory))
    by_name = {lst.name: lst for lst in lsts}
    matches, attached, parents = [], {}, {}
    for route in world["routes"]:
        rns = route["metadata"]["namespace"]
        for ref in route["spec"].get("parentRefs") or []:
            if not attach.refers_to(ref, rns, gw):
                continue
            attachment = attach.attach(route, ref, gw, lsts, world["namespaces"])
            resolved = ("True", "ResolvedRefs", "every backendRef resolves")
            if attachment.accepted:
                found, resolved, why = routes.matches(route, attachment, by_name, world)
                matches += found
                for name in attachment.hosts:
                    attached[name] = attached.get(name, 0) + 1
                if why:
                    attachment = attach.Attachment(False, "UnsupportedValue", why, attachment.hosts)
            key = (rns, route["metadata"]["name"])
            parents.setdefault(key, []).append(status.route_parent(ref, route, attachment, resolved,
                                                                  route["metadata"].get("generation")))
    return lsts, precedence.ordered(matches), attached, parents


def _serve(gw: dict, world: dict, parents: dict, log) -> None:
    """One Gateway: its listeners, routes, nginx and status; the routes'
    verdicts on it are added to ``parents`` (route key -> [status entries])."""
    d = _conf_dir(gw)
    d.mkdir(parents=True, exist_ok=True)
    lsts, matches, attached, verdicts = plan(gw, world, d)
    for key, entries in verdicts.items():
        parents.setdefault(key, []).extend(entries)
    serving = [lst for lst in lsts if lst.serves]
    ports = sorted({lst.port for lst in serving}) or [lst.port for lst in lsts[:1]]
    text = render.render(f"{gw['metadata']['namespace']}/{gw['metadata']['name']}", serving, matches)
    rec = _container_of(gw)
    before = nginx.last_error_in(d)
    nginx.sync(text, rec if _ready(rec, gw, ports) else None, log,
               f"gateway {gw['metadata']['namespace']}/{gw['metadata']['name']}: {len(matches)} matches", d, MOUNT,
               "gateway")
    _prune_certificates(d)
    refused = nginx.last_error_in(d)
    if refused and refused != before:
        events.record(_involved(gw), "Invalid", f"nginx -t refused the new configuration; the last good one "
                                               f"serves: {refused}", "Warning", "minipod-gateway")
    service = _put(kinds.SERVICE, service_object(gw, ports), log)
    _put(kinds.POD, pod_object(gw, ports), log)
    address = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress", [{}])[0].get("ip")
    programmed = _programmed(gw, _container_of(gw), ports, text) if serving else \
        ("False", "Invalid", "no listener is valid: see the listeners' conditions")
    _write_status(kinds.GATEWAY, gw, status.gateway(gw, lsts, attached, address, programmed))


def _prune_certificates(directory) -> None:
    """The certificate files no configuration in ``directory`` names any more."""
    tls = directory / "tls"
    if not tls.is_dir():
        return
    named = "".join(f.read_text() for f in (directory / "nginx.conf", directory / "candidate.conf") if f.exists())
    for f in tls.iterdir():
        if f"{MOUNT}/tls/{f.name}" not in named:
            f.unlink(missing_ok=True)


def _involved(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "namespace": meta["namespace"],
            "name": meta["name"], "uid": meta["uid"]}


def _remove_gone(gateways: list, log) -> None:
    """The Pods, Services and files of Gateways that are no longer ours."""
    from minipod import fsutil
    from minipod.roles.kubelet import deletion
    wanted = {(g["metadata"]["namespace"], resource_name(g)) for g in gateways}
    for kind in (kinds.POD, kinds.SERVICE):
        for obj in store.list_objects(kind):
            meta = obj["metadata"]
            if (meta.get("labels") or {}).get(MANAGED_BY[0]) != MANAGED_BY[1] or \
                    (meta["namespace"], meta["name"]) in wanted:
                continue
            store.delete(kind, meta["namespace"], meta["name"])
            if kind is kinds.POD:
                deletion.remove_for_object(obj)
            log(f"gateway: {kind.kind.lower()} {meta['namespace']}/{meta['name']} removed (its Gateway is gone)")
    dirs = {_conf_dir(g).name for g in gateways}
    if conf_root().exists():
        for d in conf_root().iterdir():
            if d.name not in dirs:
                fsutil.rmtree(d)


def needed() -> bool:
    """Whether there is anything for this step to do or undo."""
    return store.any_objects(kinds.GATEWAY) or store.any_objects(kinds.GATEWAY_CLASS) or conf_root().exists()


def reconcile(log) -> None:
    if not needed():
        return
    classes = [c for c in store.list_objects(kinds.GATEWAY_CLASS) if c["spec"]["controllerName"] == CONTROLLER_NAME]
    for c in classes:
        _write_status(kinds.GATEWAY_CLASS, c, status.gateway_class(c))
    names = {c["metadata"]["name"] for c in classes}
    gateways = [g for g in store.list_objects(kinds.GATEWAY) if g["spec"]["gatewayClassName"] in names]
    world = read_world()
    parents = {}
    for gw in gateways:
        _serve(gw, world, parents, log)
    for route in world["routes"]:
        key = (route["metadata"]["namespace"], route["metadata"]["name"])
        ours = parents.get(key, [])
        current = route.get("status") or {}
        if ours or any(p.get("controllerName") == CONTROLLER_NAME for p in current.get("parents") or []):
            _write_status(kinds.HTTP_ROUTE, route, status.route(route, ours))
    _remove_gone(gateways, log)
