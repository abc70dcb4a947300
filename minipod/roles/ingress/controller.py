"""Keep nginx in step with the Ingresses (ingress-nginx's controller loop).

On every agent pass: render the configuration; when it changed, check the
candidate with `nginx -t` inside the running nginx container, and only
then put it in place and send the master SIGHUP (a graceful reload: old
workers finish their requests, the listening sockets stay open; the pass
goes on once only new workers accept: reload.py). A bad
configuration is reported (agent log, `describe ingress`) and the last good
one keeps serving.

nginx runs as the Pod ingress-nginx/ingress-nginx-controller from the
`nginx` image, made on first use and realised by the kubelet's part like
any pod; its ports 80 and 443 are published on the node as hostPorts
(MINIPOD_INGRESS_HTTP_PORT / MINIPOD_INGRESS_HTTPS_PORT move them). It
goes with the last Ingress (MINIPOD_INGRESS_KEEP=1 keeps it).
"""

import os
import time

from minipod import paths
from minipod.core import container
from minipod.roles.ingress import health, reload, render
from minipod.roles.ingress.health import ours
from minipod.objects import ingresses as ing
from minipod.objects import kinds, store

NAMESPACE = "ingress-nginx"
POD = "ingress-nginx-controller"
CONTAINER = f"{NAMESPACE}_{POD}_controller"
IMAGE = "nginx"  # made by scripts/setup (scripts/setup-images)
STARTING = 10.0  # seconds a starting nginx may hold new pods' Ready back (holds_readiness)
MOUNT = "/etc/nginx/ingress"


def ports() -> tuple:
    def port(name, default):
        value = os.environ.get(name, str(default))
        return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 65536 else default
    return port("MINIPOD_INGRESS_HTTP_PORT", 80), port("MINIPOD_INGRESS_HTTPS_PORT", 443)


def conf_dir():
    return paths.lib_root() / "ingress"


def error_path():
    return conf_dir() / "last-error"


def pod_object() -> dict:
    http, https = ports()
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "namespace": NAMESPACE,
                         "labels": {"app.kubernetes.io/name": "ingress-nginx",
                                    "app.kubernetes.io/component": "controller"}},
            "spec": {"volumes": [{"name": "conf", "hostPath": {"path": str(conf_dir()), "type": "Directory"}}],
                     "containers": [{
                         "name": "controller", "image": IMAGE,
                         "command": ["nginx", "-c", f"{MOUNT}/nginx.conf", "-g", "daemon off;"],
                         "ports": [{"containerPort": 80, "hostPort": http, "name": "http"},
                                   {"containerPort": 443, "hostPort": https, "name": "https"}],
                         # Listening means started: only then can a SIGHUP reload it.
                         "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
                         "volumeMounts": [{"name": "conf", "mountPath": MOUNT, "readOnly": True}]}]}}


def _tls_files(ingress_objs, log) -> dict:
    """Write the certificates the Ingresses name; {(ns, secret): paths in the container}."""
    out = {}
    (conf_dir() / "tls").mkdir(parents=True, exist_ok=True)
    for obj in ingress_objs:
        ns = obj["metadata"]["namespace"]
        for t in obj["spec"].get("tls") or []:
            secret = store.get(kinds.SECRET, ns, t["secretName"])
            if secret is None or secret.get("type") != "kubernetes.io/tls":
                log(f"ingress {ns}/{obj['metadata']['name']}: tls secret {t['secretName']!r} "
                    "is missing or not of type kubernetes.io/tls; its hosts are served without TLS")
                continue
            base = f"{ns}_{t['secretName']}"
            for key, suffix in (("tls.crt", "crt"), ("tls.key", "key")):
                path = conf_dir() / "tls" / f"{base}.{suffix}"
                data = ing.secret_value(secret, key)
                if not path.exists() or path.read_bytes() != data:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
            out[(ns, t["secretName"])] = (f"{MOUNT}/tls/{base}.crt", f"{MOUNT}/tls/{base}.key")
    return out


def nginx_container():
    """The nginx container once it is Ready (its readiness probe passed:
    it listens, so its signal handlers are in place), else None."""
    rec = _container()
    return rec if rec and _ready(rec) else None


def _container():
    return next((c for c in container.list_containers() if c["name"] == CONTAINER), None)


def _ready(rec: dict) -> bool:
    from minipod.roles.kubelet import probes
    return probes.is_ready(rec, pod_object()["spec"]["containers"][0])


def holds_readiness() -> bool:
    """True while nginx is starting and has not loaded the configuration
    written for it (it is not ready yet, and started less than STARTING s
    ago): the agent's pass then reports no new pod Ready
    (kubelet/readiness.py), as a request through the Ingress would still
    meet the configuration nginx started with. A nginx that does not get
    ready in that time holds nothing back."""
    live = conf_dir() / "nginx.conf"
    if not live.exists():
        return False  # no Ingress (the usual pass: nothing more is read)
    rec = _container()
    if rec is None or rec["status"] != "running" or time.time() - (rec.get("started") or 0) > STARTING \
            or _ready(rec):
        return False
    return (rec.get("started") or 0) <= live.stat().st_mtime  # written after it read its file at start


def _reload(rec: dict, text: str, directory) -> None:
    """Reload the master (returning once its new workers serve: reload.py)
    and remember which configuration this start of nginx now runs (a start
    that never got one is reloaded once ready)."""
    reload.reload(rec["pid"], rec.get("start"))
    _mark_applied(rec, text, directory)


def _mark_applied(rec: dict, text: str, directory) -> None:
    import hashlib
    _write(directory / "applied", f"{rec.get('start')} {hashlib.sha256(text.encode()).hexdigest()}\n")


def _applied_to(rec: dict, text: str, directory) -> bool:
    import hashlib
    try:
        return (directory / "applied").read_text().split() == [str(rec.get("start")),
                                                               hashlib.sha256(text.encode()).hexdigest()]
    except FileNotFoundError:
        return False


def _exec_capture(rec: dict, argv: list, timeout: float = 10.0) -> tuple:
    """(exit code, output) of ``argv`` run in the container; one that hangs
    past ``timeout`` is killed, and gets timeout(1)'s code 124."""
    from minipod.core import execution
    from minipod.errors import TimedOut
    try:
        code, out, err = execution.exec_sync(rec["id"], argv, timeout)
    except TimedOut:
        return 124, f"{' '.join(argv)} timed out after {timeout:g}s (killed)"
    return code, (out + err).decode(errors="replace")


def _ensure_pod(log) -> None:
    if store.get(kinds.NAMESPACE, None, NAMESPACE) is None:
        store.put(kinds.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    _obj, action = store.put(kinds.POD, pod_object())
    if action != "unchanged":
        log(f"ingress: nginx pod {NAMESPACE}/{POD} {action} (ports {ports()[0]}, {ports()[1]})")


def remove(log=None) -> bool:
    """The last Ingress is gone: the nginx pod, its namespace's objects and
    the configuration files go too."""
    from minipod import fsutil
    from minipod.roles.kubelet import deletion
    acted = False
    obj = store.get(kinds.POD, NAMESPACE, POD)
    if obj is not None:
        store.delete(kinds.POD, NAMESPACE, POD)
        deletion.remove_for_object(obj)
        acted = True
    if store.get(kinds.NAMESPACE, None, NAMESPACE) is not None and not any(
            store.list_objects(k, NAMESPACE) for k in kinds.KINDS.values() if k.namespaced):
        store.delete(kinds.NAMESPACE, None, NAMESPACE)
    if conf_dir().exists():
        fsutil.rmtree(conf_dir())
        acted = True
    if acted and log:
        log("ingress: no Ingress left; nginx and its configuration removed")
    return acted


def reconcile(log) -> None:
    objs = [o for o in store.list_objects(kinds.INGRESS) if ours(o)]
    if not objs:
        if os.environ.get("MINIPOD_INGRESS_KEEP") != "1":
            remove(log)
        return
    sync(_render(objs, log), nginx_container(), log, f"{len(objs)} ingresses")
    _ensure_pod(log)
    _publish_status(objs)


def sync(text: str, rec, log, what: str, directory=None, mount=MOUNT, role="ingress") -> None:
    """Make ``text`` the configuration nginx serves from ``directory``
    (conf_dir(), mounted at ``mount`` in the nginx container): written for
    an nginx not ready yet (``rec`` None: it starts with it, or loads it
    once ready), else checked with `nginx -t` inside ``rec`` and only then
    put in place and loaded (SIGHUP); a refusal is logged and kept in
    last-error, and the last good configuration keeps serving. ``role``
    starts the log lines (the gateway controller's nginx shares this)."""
    d = directory or conf_dir()
    d.mkdir(parents=True, exist_ok=True)
    live, error = d / "nginx.conf", d / "last-error"
    current = live.read_text() if live.exists() else None
    if text == current:
        error.unlink(missing_ok=True)  # what is wanted is what serves: no refusal stands
        if rec is not None and not _applied_to(rec, text, d):
            if (rec.get("started") or 0) > live.stat().st_mtime:
                _mark_applied(rec, text, d)  # it started after the file was written: it read this one
            else:  # written while it was starting: make sure it runs this file, not an older one
                _reload(rec, text, d)
                log(f"{role}: nginx is ready; configuration reloaded")
    else:
        if rec is None:
            _write(live, text)  # nginx (re)starts with it, or loads it once it is ready
        else:
            candidate = d / "candidate.conf"
            _write(candidate, text)
            message = _nginx_test(rec, candidate.name, mount)
            if message is not None:
                if not error.exists() or error.read_text() != message:
                    log(f"{role}: the new configuration is refused by nginx -t, the last good one stays: {message}")
                    _write(error, message)
                candidate.unlink(missing_ok=True)
            else:
                os.replace(candidate, live)
                error.unlink(missing_ok=True)
                _reload(rec, text, d)
                log(f"{role}: configuration reloaded ({what})")


def _publish_status(objs: list) -> None:
    """Write each Ingress's status.loadBalancer as ingress-nginx's status
    sync does: the node's address once nginx serves it, none before, so
    that `kubectl wait --for=jsonpath='{.status.loadBalancer.ingress}'`
    and every client that reads the object (not only `get`'s table) see it.
    A write that lost a race with the user's is dropped: the next pass
    publishes again."""
    from minipod.errors import Conflict, NotFound
    now = facts()
    for obj in objs:
        ip = health.address(obj, now)
        wanted = {"loadBalancer": {"ingress": [{"ip": ip}]} if ip else {}}
        if (obj.get("status") or {"loadBalancer": {}}) == wanted:
            continue
        try:
            store.put(kinds.INGRESS, {**obj, "status": wanted}, must_exist=True,
                      expect_version=obj["metadata"]["resourceVersion"])
        except (Conflict, NotFound):
            pass


def _render(objs: list, log) -> str:
    """nginx.conf for ``objs`` from the stored Services and Endpoints."""
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s
                for s in store.list_objects(kinds.SERVICE, shared=True)}  # read only
    endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                 for e in store.list_objects(kinds.ENDPOINTS, shared=True)}
    return render.render(objs, services, endpoints, _tls_files(objs, log))


def _nginx_test(rec: dict, name: str, mount=MOUNT):
    """`nginx -t` of ``mount``/``name`` inside the running nginx: its
    refusal in one line, or None when it accepts the file."""
    code, output = _exec_capture(rec, ["nginx", "-t", "-c", f"{mount}/{name}"])
    if code == 0:
        return None
    return " ".join(l for l in output.splitlines() if "emerg" in l or "failed" in l) or output


def check_now():
    """nginx -t of the configuration the stored Ingresses make, in the
    running nginx (nothing is installed or reloaded): the refusal, or None
    (also when no nginx runs yet: the agent checks it before loading it)."""
    rec = nginx_container()
    objs = [o for o in store.list_objects(kinds.INGRESS) if ours(o)]
    if rec is None or not objs:
        return None
    path = conf_dir() / f"check-{os.getpid()}.conf"
    _write(path, _render(objs, lambda _m: None))
    try:
        return _nginx_test(rec, path.name)
    finally:
        path.unlink(missing_ok=True)


def _write(path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def last_error():
    return last_error_in(conf_dir())


def last_error_in(directory):
    """nginx -t's refusal of the newest configuration for the nginx that
    serves from ``directory``, or None."""
    try:
        return (directory / "last-error").read_text()
    except FileNotFoundError:
        return None


def serves(rec: dict, text: str, directory) -> bool:
    """Whether the nginx ``rec`` runs ``text``, the configuration in ``directory``."""
    live = directory / "nginx.conf"
    return live.exists() and live.read_text() == text and _applied_to(rec, text, directory)


def facts() -> dict:
    """What the verdicts of ingress/health stand on, read once: whether the
    nginx image is here, whether nginx runs, nginx -t's last refusal, the
    node's address."""
    from minipod import image
    from minipod.errors import NotFound
    try:
        image.load(IMAGE)
        have_image = True
    except NotFound:
        have_image = False
    return {"image": IMAGE, "have_image": have_image, "running": have_image and nginx_container() is not None,
            "error": last_error(), "address": address()}


def address():
    """The node address `get ingress` shows: the host on the pod network."""
    from minipod.cni import network
    if store.get(kinds.POD, NAMESPACE, POD) is None:
        return ""
    try:
        return network.gateway_of(network.load(network.default_name())) or ""
    except Exception:  # no network yet: nothing to show
        return ""

