"""The Events of a Pod object's life, in the words and from the components
that report them on a cluster (the scheduler's Scheduled; the kubelet's
Pulling, Pulled, Created, Started, Killing, BackOff, Unhealthy), stored by
objects/events.py. Recording an Event never fails what it reports on."""

import contextlib
import socket

from minipod.objects import events


def _involved(k8s: dict, container: str = None) -> dict:
    """The involvedObject: the Pod ({"namespace", "name", "uid"} of its
    object), and the container by its fieldPath."""
    out = {"kind": "Pod", "namespace": k8s["namespace"], "name": k8s["name"], "uid": k8s["uid"], "apiVersion": "v1"}
    if container:
        out["fieldPath"] = f"spec.containers{{{container}}}"
    return out


def _record(k8s: dict, container, reason: str, message: str, type_: str = "Normal",
            component: str = "kubelet") -> None:
    with contextlib.suppress(OSError, KeyError, TypeError, ValueError):
        events.record(_involved(k8s, container), reason, message, type_, component, host=socket.gethostname())


def of_object(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}


def of_container(rec: dict):
    """The Pod object a container record belongs to ({"namespace", "name",
    "uid"}), or None (a container of `minipod run`, which no Event is of)."""
    from minipod.core import pod
    if not rec.get("pod"):
        return None
    with contextlib.suppress(OSError, ValueError):
        p = pod.store().load(rec["pod"])
        return (p or {}).get("k8s")
    return None


def container_name(rec: dict) -> str:
    """A Pod object's container's own name (its record is "<pod>_<name>")."""
    return (rec.get("labels") or {}).get("io.kubernetes.container.name") or rec["name"].rsplit("_", 1)[-1]


def scheduled(obj: dict, node: str) -> None:
    meta = obj["metadata"]
    _record(of_object(obj), None, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
            component="default-scheduler")


def image_present(k8s: dict, container: str, image: str) -> None:
    _record(k8s, container, "Pulled", f'Container image "{image}" already present on machine')


def pulling(k8s: dict, container: str, image: str) -> None:
    _record(k8s, container, "Pulling", f'Pulling image "{image}"')


def pulled(k8s: dict, container: str, image: str, seconds: float) -> None:
    _record(k8s, container, "Pulled", f'Successfully pulled image "{image}" in {seconds:.3g}s')


def started(k8s: dict, container: str) -> None:
    """Created, then Started: minipod's run does both at once."""
    _record(k8s, container, "Created", f"Created container {container}")
    _record(k8s, container, "Started", f"Started container {container}")


def killing(k8s: dict, container: str) -> None:
    _record(k8s, container, "Killing", f"Stopping container {container}")


def back_off(rec: dict) -> None:
    """A crashed container of a Pod object waits for its restart."""
    k8s = of_container(rec)
    if k8s:
        name = container_name(rec)
        _record(k8s, name, "BackOff", f"Back-off restarting failed container {name} in pod "
                f"{k8s['name']}_{k8s['namespace']}({k8s['uid']})", "Warning")


def restarted(rec: dict) -> None:
    """A Pod object's container started again: the kubelet says what it says of a first start."""
    k8s = of_container(rec)
    if k8s:
        name = container_name(rec)
        image_present(k8s, name, rec["image"])
        started(k8s, name)


def unhealthy(rec: dict, message: str) -> None:
    k8s = of_container(rec)
    if k8s:
        _record(k8s, container_name(rec), "Unhealthy", message, "Warning")
