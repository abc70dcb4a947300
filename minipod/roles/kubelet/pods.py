"""The kubelet's part for Pod objects: each one becomes a minipod pod
(pause, network) with one container per entry of spec.containers, its
volumes prepared on the host; and the status `get pods` shows, read from
the kernel through the records.

A realised pod's record carries {"namespace", "name", "uid"} of its
object under "k8s"; its containers are named "<pod>_<container>".
"""

import os
import socket
import time

from minipod import paths, spec, state
from minipod.core import container, imagerun, pod
from minipod.roles import clusterdns
from minipod.errors import InvalidArgument, MinipodError, NotFound
from minipod.objects import kinds, store
from minipod.objects.workloads import local_container_name, local_pod_name
from minipod.spec import PortMapping
from minipod.roles.kubelet import probes, readiness, reporting, service_env

POD_LABEL = "io.kubernetes.pod.name"
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
CONTAINER_LABEL = "io.kubernetes.container.name"


def realised() -> dict:
    """{object uid: pod record} of every pod made from a Pod object."""
    return {r["k8s"]["uid"]: r for r in pod.store().all() if r.get("k8s")}




# ------------------------------------------------------------------ volumes

def _configmap_files(obj: dict, vol: dict, target: str) -> None:
    """Write a configMap volume: one file per key (or per item), mode
    defaultMode (0644), as the kubelet's atomic writer leaves them."""
    source = vol["configMap"]
    ns = obj["metadata"]["namespace"]
    cm = store.get(kinds.CONFIGMAP, ns, source["name"])
    if cm is None:
        if source.get("optional"):
            cm = {"data": {}}
        else:
            raise NotFound(f'configmap "{source["name"]}" not found')
    data = cm.get("data") or {}
    items = source.get("items") or [{"key": k, "path": k} for k in sorted(data)]
    os.makedirs(target, mode=0o755, exist_ok=True)
    for item in items:
        if item["key"] not in data:
            raise NotFound(f'configmap "{source["name"]}" has no key {item["key"]!r}')
        rel = os.path.normpath(item["path"])
        if rel.startswith(("/", "..")):
            raise InvalidArgument(f"configMap item path {item['path']!r} must stay inside the volume")
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(data[item["key"]])
        os.chmod(path, item.get("mode", source.get("defaultMode", 0o644)))


def _host_path(vol: dict) -> str:
    path, kind = vol["hostPath"]["path"], vol["hostPath"].get("type", "")
    if kind == "DirectoryOrCreate":
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif kind == "FileOrCreate" and not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
    if kind in ("Directory", "DirectoryOrCreate") and not os.path.isdir(path):
        raise InvalidArgument(f"hostPath {path} is not a directory")
    if kind in ("File", "FileOrCreate") and not os.path.isfile(path):
        raise InvalidArgument(f"hostPath {path} is not a file")
    if not os.path.exists(path):
        raise InvalidArgument(f"hostPath {path} does not exist")
    return path


def prepare_volumes(obj: dict, rec: dict) -> dict:
    """{volume name: host directory or file} for a realised pod. emptyDir
    lives in the pod's record directory (medium Memory: under /run, a
    tmpfs) and goes with the pod; configMap files are written there too."""
    out = {}
    for vol in obj["spec"].get("volumes", []):
        if "emptyDir" in vol:
            base = paths.pod_run_dir(rec["id"]) if vol["emptyDir"].get("medium") == "Memory" \
                else pod.store().dir(rec["id"])
            out[vol["name"]] = str(base / "volumes" / vol["name"])
            os.makedirs(out[vol["name"]], mode=0o777, exist_ok=True)
            os.chmod(out[vol["name"]], 0o777)  # as the kubelet makes them: any user may write
        elif "hostPath" in vol:
            out[vol["name"]] = _host_path(vol)
        else:
            out[vol["name"]] = str(pod.store().dir(rec["id"]) / "volumes" / vol["name"])
            _configmap_files(obj, vol, out[vol["name"]])
    return out


def _mounts(ctr: dict, volumes: dict, obj: dict) -> list:
    read_only = {v["name"] for v in obj["spec"].get("volumes", []) if "configMap" in v}
    return [{"type": "bind", "source": volumes[m["name"]], "target": os.path.normpath(m["mountPath"]),
             "readonly": m.get("readOnly", False) or m["name"] in read_only,
             "subpath": m.get("subPath") or None, "options": ""} for m in ctr.get("volumeMounts", [])]


# ---------------------------------------------------------------- lifecycle

# Every Pod object here is BestEffort: the schema takes no resources (objects/workloads.py).
# The kubelet makes a BestEffort pod's containers the OOM killer's first choice
# (pkg/kubelet/qos/policy.go), below them pause at -998.
QOS_CLASS = "BestEffort"
BESTEFFORT_OOM_SCORE_ADJ = 1000


def _run_options(obj: dict, ctr: dict, rec: dict, volumes: dict) -> spec.RunOptions:
    """Kubernetes' command/args over the image's Entrypoint/Cmd: command
    replaces Entrypoint (and drops Cmd), args replaces Cmd."""
    meta = obj["metadata"]
    if "command" in ctr:
        entrypoint, cmd = "", list(ctr["command"]) + list(ctr.get("args", []))
    else:
        entrypoint, cmd = None, list(ctr.get("args", []))
    return spec.RunOptions(
        image=ctr["image"], command=cmd, entrypoint=entrypoint,
        name=local_container_name(rec["name"], ctr["name"]), pod=rec["id"],
        env={**(service_env.for_namespace(meta["namespace"]) if obj["spec"].get("enableServiceLinks", True) else {}),
             **{e["name"]: e.get("value", "") for e in ctr.get("env", [])}}, workdir=ctr.get("workingDir"),
        labels={POD_LABEL: meta["name"], NAMESPACE_LABEL: meta["namespace"], CONTAINER_LABEL: ctr["name"]},
        detach=True, tty=bool(ctr.get("tty")), interactive=bool(ctr.get("stdin")), mounts=_mounts(ctr, volumes, obj),
        restart={"name": obj["spec"].get("restartPolicy", "Always"), "max": 0},
        oom_score_adj=BESTEFFORT_OOM_SCORE_ADJ, log_format="cri",  # a time per line, as the kubelet's logs
        # As the kubelet asks its runtime: a PID namespace per container (the app is its PID 1),
        # unless the pod shares one, where pause is PID 1 of every container (the CRI's POD mode).
        security={"pid_mode": "pod" if obj["spec"].get("shareProcessNamespace") else "container"})


def create_pod(obj: dict) -> dict:
    """Make the pod (pause and network) of a Pod object; its containers
    are started by sync_containers."""
    meta, spec = obj["metadata"], obj["spec"]
    ports = [PortMapping(host_ip=p.get("hostIP", ""), host_port=p["hostPort"], container_port=p["containerPort"],
                         protocol=p.get("protocol", "TCP").lower())
             for c in spec["containers"] for p in c.get("ports", []) if p.get("hostPort")]
    policy = spec.get("dnsPolicy", "ClusterFirst")
    cluster_dns = policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not spec.get("hostNetwork"))
    return pod.create(name=local_pod_name(meta["namespace"], meta["name"]), hostname=meta["name"][:63],
                      ports=ports, network_name="host" if spec.get("hostNetwork") else None,
                      labels=meta.get("labels") or {},
                      k8s={"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
                      resolv_conf=clusterdns.resolv_conf(meta["namespace"]) if cluster_dns else None)


IMAGE_PULL = "ErrImagePull"
CREATE = "CreateContainerError"


def sync_containers(obj: dict, rec: dict, records=None) -> list:
    """Create the containers of ``obj`` that its pod lacks; returns
    [(container name, error text, reason)] for those that could not be made:
    ErrImagePull when their image is not there (nor could be pulled), else
    CreateContainerError, as the kubelet names them. ``records``: the pod's
    container records, when the caller has read them."""
    have = {c["name"] for c in (pod.containers_of(rec["id"]) if records is None else records)}
    missing = [c for c in obj["spec"]["containers"] if local_container_name(rec["name"], c["name"]) not in have]
    if not missing:
        return []
    volumes = prepare_volumes(obj, rec)
    errors = []
    k8s = reporting.of_object(obj)
    for ctr in missing:
        try:
            _ensure_image(k8s, ctr)
        except MinipodError as e:
            errors.append((ctr["name"], f'Failed to pull image "{ctr["image"]}": {e}', IMAGE_PULL))
            continue
        try:
            container.run(_run_options(obj, ctr, rec, volumes))
        except MinipodError as e:
            errors.append((ctr["name"], str(e), CREATE))
        else:
            reporting.started(k8s, ctr["name"])
    return errors


def _ensure_image(k8s: dict, ctr: dict) -> None:
    """The container's image, pulled if it is not here (and its reference
    names a registry); Pulled or Pulling/Pulled, as the kubelet reports it."""
    from minipod import image
    from minipod.image import pull
    if image.find(ctr["image"]) is not None:
        reporting.image_present(k8s, ctr["name"], ctr["image"])
        return
    if not pull.names_registry(ctr["image"]):
        imagerun.image_or_pull(ctr["image"])  # its NotFound: minipod asks no default registry
    reporting.pulling(k8s, ctr["name"], ctr["image"])
    began = time.monotonic()
    imagerun.image_or_pull(ctr["image"])
    reporting.pulled(k8s, ctr["name"], ctr["image"], time.monotonic() - began)


# ------------------------------------------------------------------- status

def _container_status(spec_ctr: dict, rec) -> dict:
    if rec is None:
        return {"name": spec_ctr["name"], "image": spec_ctr["image"], "ready": False, "restartCount": 0,
                "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
    out = {"name": spec_ctr["name"], "image": spec_ctr["image"], "restartCount": rec.get("restart_count", 0),
           "containerID": f"minipod://{rec['id']}", "ready": probes.is_ready(rec, spec_ctr),
           "started": rec["status"] == "running"}
    if rec["status"] == "running" or (rec["status"] == "exited" and rec.get("exit_code") is None):
        # (an exit whose code pause has not logged yet is not reported: a terminated state carries its code)
        out["state"] = {"running": {"startedAt": _iso(rec.get("started"))}}
    elif rec["status"] == "exited":
        term = {"exitCode": rec.get("exit_code"), "finishedAt": _iso(rec.get("finished")),
                "reason": "Completed" if rec.get("exit_code") == 0 else "Error"}
        if rec.get("oom_killed"):
            term["reason"] = "OOMKilled"
        backoff = rec.get("backoff") or {}
        # A restart of this very exit is scheduled (it is until it happens).
        waiting = backoff.get("finished") == rec.get("finished") and backoff.get("delay", 0) > 0
        if waiting and not rec.get("stopped_by_user"):
            out["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message":
                                        f"back-off {backoff.get('delay', 0):g}s restarting failed container"}}
            out["lastState"] = {"terminated": term}
        else:
            out["state"] = {"terminated": term}
    else:
        out["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return out


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t else None


def status_of(obj: dict, rec, errors=None, containers=None) -> dict:
    """The status block of a Pod object, from its realised pod (or None).
    ``containers``: pod.containers_by_pod(), when the caller has it."""
    if rec is None:
        reason = (errors or {}).get("pod")
        st = {"phase": "Pending", "conditions": readiness.conditions(False, 0, 0), "qosClass": QOS_CLASS}
        if reason:
            st.update(reason="FailedCreatePodSandBox", message=reason)
        return st
    rec = pod.with_status(rec)
    records = pod.containers_of(rec["id"]) if containers is None else containers.get(rec["id"], [])
    ctrs = {c["name"]: container.with_status(c) for c in records}
    statuses = [_container_status(c, ctrs.get(local_container_name(rec["name"], c["name"])))
                for c in obj["spec"]["containers"]]
    for s in statuses:
        err = error_of(rec, s["name"])
        if err and "running" not in s["state"]:
            s["state"] = {"waiting": waiting_of(err, s["image"])}
    states = [next(iter(s["state"])) for s in statuses]
    whole = pod.is_whole(rec)  # started whole, with its address: nothing else is ever Ready
    if rec["status"] != "running" or not rec.get("complete"):
        phase = "Pending"
    elif all(x == "running" for x in states):
        phase = "Running"
    elif all(x == "terminated" for x in states):
        phase = "Succeeded" if all(s["state"]["terminated"]["exitCode"] == 0 for s in statuses) else "Failed"
    elif any(x == "running" for x in states) or any(s.get("lastState") for s in statuses):
        phase = "Running"
    else:
        phase = "Pending"
    containers_ready = whole and all(s["ready"] for s in statuses)
    conditions = readiness.conditions(False, 0, 0)
    if containers_ready:  # then every container has its record
        since = max(readiness.ready_since(ctrs[local_container_name(rec["name"], c["name"])], c)
                    for c in obj["spec"]["containers"]) if statuses else 0.0
        conditions = readiness.conditions(True, since, readiness.covered_until())
    return {"phase": phase, "podIP": (rec.get("ip") or "").split("/")[0] or None, "hostIP": _host_ip(rec),
            "startTime": _iso(rec.get("started")), "containerStatuses": statuses,
            "conditions": conditions, "qosClass": QOS_CLASS}


def _host_ip(rec: dict) -> str:
    """The node's address as the pod sees it: its gateway on the bridge."""
    return rec.get("gateway") or "127.0.0.1"


def node_name() -> str:
    return socket.gethostname()


def local_pod_objects(stored_uids=None, records=None, containers=None) -> list:
    """Pods made by `minipod pod create` / `run`, as Pod objects in
    namespace default (their containers as spec.containers); and, given
    the uids of the stored Pod objects, the pods of deleted objects that
    are still being torn down (shown as Terminating, as kubectl does).
    ``records``, ``containers``: the pod records and
    pod.containers_by_pod(), when the caller has read them already."""
    out = []
    for rec in (pod.list_pods() if records is None else [pod.with_status(r) for r in records]):
        k8s = rec.get("k8s")
        if k8s and (stored_uids is None or k8s["uid"] in stored_uids):
            continue
        if containers is None:
            containers = pod.containers_by_pod()  # read once, only when some pod is shown
        ctrs = [container.with_status(c) for c in containers.get(rec["id"], [])]
        meta = {"name": rec["name"], "namespace": "default", "uid": rec["id"],
                "labels": rec.get("labels") or {}, "creationTimestamp": _iso(rec.get("created"))}
        if k8s:
            meta.update(name=k8s["name"], namespace=k8s["namespace"], uid=k8s["uid"],
                        deletionTimestamp=_iso(time.time()))
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
               "spec": {"containers": [{"name": c["name"], "image": c["image"]} for c in ctrs]}}
        statuses = [dict(_container_status({"name": c["name"], "image": c["image"]}, c)) for c in ctrs]
        states = [next(iter(s["state"])) for s in statuses]
        phase = "Running" if rec["status"] == "running" and (not states or "running" in states) else \
            ("Succeeded" if states and all(s == "terminated" for s in states) else "Pending")
        if rec["status"] == "stopped":
            phase = "Stopped"
        ready = phase == "Running" and pod.is_whole(rec) and bool(statuses) and all(s["ready"] for s in statuses)
        obj["status"] = {"phase": phase, "podIP": (rec.get("ip") or "").split("/")[0] or None, "hostIP": _host_ip(rec),
                         "containerStatuses": statuses,
                         "conditions": readiness.conditions(ready, 0, 0)}  # no agent's pass makes these
        out.append(obj)
    return out


def with_status(objs: list, records=None, containers=None) -> list:
    """Pod objects with their live status. ``records``, ``containers``: the
    pod records and pod.containers_by_pod(), when the caller has them."""
    if not objs:
        return []
    live = realised() if records is None else {r["k8s"]["uid"]: r for r in records if r.get("k8s")}
    if containers is None:
        containers = pod.containers_by_pod()
    return [{**o, "status": status_of(o, live.get(o["metadata"].get("uid")), containers=containers)} for o in objs]




def error_of(rec: dict, ctr_name: str):
    """A container's creation error as recorded: {"reason", "message", "count"}, or None."""
    err = (rec.get("k8s") or {}).get("errors", {}).get(ctr_name)
    if isinstance(err, str):  # as records before ErrImagePull kept them
        err = {"reason": CREATE, "message": err, "count": 1}
    return err


def events_of(obj: dict, rec) -> list:
    """What describe lists under Events for a Pod, from what the agent
    recorded: [(type, reason, (first, last, count), from, message)], oldest
    first (the printer says their age)."""
    from minipod.objects import events
    out = events.rows_of(obj)
    if rec is None:
        return sorted(out, key=lambda row: row[2][1] or 0)
    for c in obj["spec"]["containers"]:
        err = error_of(rec, c["name"])
        if not err:
            continue
        when = (err.get("first"), err.get("last"), err.get("count", 1))
        out.append(("Warning", "Failed", when, "kubelet", err["message"]))
        if err["reason"] == IMAGE_PULL and err.get("count", 1) > 1:
            out.append(("Warning", "BackOff", when, "kubelet", f'Back-off pulling image "{c["image"]}"'))
    return sorted(out, key=lambda row: row[2][1] or 0)


def waiting_of(err: dict, image_ref: str) -> dict:
    """The waiting state of a container that could not be made: the
    kubelet's ErrImagePull, then ImagePullBackOff while it retries."""
    if err["reason"] == IMAGE_PULL and err.get("count", 1) > 1:
        return {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image_ref}"'}
    return {"reason": err["reason"], "message": err["message"]}


def record_error(rec: dict, ctr_name: str, message, reason: str = CREATE) -> None:
    """Keep (or clear, with None) a container's creation error on its pod;
    the same error again counts one more attempt."""
    with state.object_lock("pod", rec["id"]):
        saved = pod.store().load(rec["id"])
        if saved is None:
            return
        errors = (saved.get("k8s") or {}).setdefault("errors", {})
        if message is None:
            if errors.pop(ctr_name, None) is None:
                return
        else:
            old = errors.get(ctr_name)
            same = isinstance(old, dict) and old.get("message") == message and old.get("reason") == reason
            errors[ctr_name] = {"reason": reason, "message": message, "count": old["count"] + 1 if same else 1,
                                "first": old.get("first", time.time()) if same else time.time(),
                                "last": time.time()}
        pod.store().save(saved)

