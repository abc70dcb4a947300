"""Pods: a pause process holding network, IPC, UTS and PID namespaces, a
pinned netns, and the pod's CNI attachments.

Constructors follow runc's factory: ``create`` fails if the name exists,
``load`` fails if it does not. Status is derived from the kernel (pause pid
+ start time + boot id) every time a record is read.
"""

import contextlib
import errno
import socket
import time

from minipod import etcfiles, fsutil, names, paths, procfs, state
from minipod.cni import network
from minipod.core import reservations
from minipod.runtime import netns
from minipod.cni import config as cni_config
from minipod.cni import runtime as cni
from minipod.errors import AlreadyExists, CNIError, InUse, InvalidArgument, InvalidState, MinipodError
from minipod.faults import fault_point
from minipod.runtime import cgroup, podns
from minipod.spec import Limits, PortMapping

IFNAME = "eth0"

# What a user told of a failed network teardown can do (minipod.ops.gc).
TEARDOWN_HINT = "(`minipod gc` retries it; `gc --force` releases it if the DEL can never run)"


def store() -> state.Store:
    return state.Store(paths.pods_dir(), "pod")


def status(rec: dict) -> str:
    """running | stopped | created, from the kernel's view of pause."""
    if rec.get("pause"):
        return "running" if procfs.alive(rec["pause"]) else "stopped"
    return "stopped" if rec.get("desired") == "stopped" else "created"


def is_whole(rec: dict, pause_alive: bool = None) -> bool:
    """Started whole: its start finished ("ready"), pause alive (asked of the
    kernel unless ``pause_alive`` says), and an address unless its network
    gives none. Only such a pod may be Ready."""
    alive = status(rec) == "running" if pause_alive is None else pause_alive
    return bool(rec.get("ready")) and alive and (bool(rec.get("ip")) or rec.get("network") in network.SPECIAL)


def with_status(rec: dict) -> dict:
    rec = dict(rec)
    rec["status"] = status(rec)
    return rec


def load(ref: str) -> dict:
    return with_status(store().get(ref))


def describe(ref: str, container_status):
    """(pod with status, its containers with status, namespaces) for
    inspect; ``container_status`` is container.with_status (a pod knows
    its containers' records, not how a container's status is read)."""
    rec = load(ref)
    ctrs = [container_status(c) for c in containers_of(rec["id"])]
    ns = {}
    if rec["status"] == "running":
        ns = procfs.namespaces(rec["pause"]["pid"], ("net", "ipc", "uts", "pid"))
        rec["pause_memory"] = procfs.memory(rec["pause"]["pid"])
        rec["pause_oom_score_adj"] = procfs.oom_score_adj(rec["pause"]["pid"])
    return rec, ctrs, ns


def list_pods() -> list:
    return [with_status(r) for r in store().all()]


def _ports_conflict(ports, exclude_id=None):
    """Raise InUse if a host port is reserved by another pod that is meant
    to run, or is bound by some process on the host."""
    for other in store().all():
        if other["id"] == exclude_id or other.get("desired") == "stopped":
            continue
        mine = reservations.port_clash(ports, other.get("ports", []))
        if mine:
            raise InUse(f"host port {mine.host_port}/{mine.protocol} is already used by pod {other['name']!r}")
    for mine in ports:
        kind = socket.SOCK_DGRAM if mine.protocol == "udp" else socket.SOCK_STREAM
        if mine.protocol == "sctp":
            continue
        family = socket.AF_INET6 if ":" in mine.host_ip else socket.AF_INET
        with socket.socket(family, kind) as s:
            try:
                s.bind((mine.host_ip or "0.0.0.0", mine.host_port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise InUse(f"host port {mine.host_port}/{mine.protocol} is already in use on this host") from None
                if e.errno != errno.EADDRNOTAVAIL:
                    raise
                raise InvalidArgument(f"host IP {mine.host_ip} is not an address of this host") from None


def create(name=None, hostname=None, ports=(), network_name=None, infra_for=None,
           limits: Limits = None, labels: dict = None, k8s: dict = None, resolv_conf: str = None,
           cri: dict = None, host_namespaces=(), sysctls: dict = None, cgroup_parent: str = None,
           share_pid: bool = True) -> dict:
    """Create and start a pod; on any failure nothing of it remains.
    ``k8s`` ({"namespace", "name", "uid"}) ties it to the Pod object it realises;
    ``cri`` (the sandbox's metadata, annotations, log directory) marks a
    sandbox of the CRI server's, which the kubelet owns. ``host_namespaces``:
    any of "ipc", "pid" the pod shares with the host (the network: "host");
    ``sysctls`` set in the pod's namespaces; ``cgroup_parent`` (a cgroupfs
    path) holds the pod's cgroup instead of minipod's own parent.
    ``share_pid``: its containers join pause's PID namespace (pause their
    PID 1); else each is PID 1 of one of its own inside it (podman's --share)."""
    host_namespaces = sorted(set(host_namespaces))
    if set(host_namespaces) - {"ipc", "pid"}:
        raise InvalidArgument(f"host namespaces {host_namespaces}: only ipc and pid (the network: --network host)")
    from minipod.runtime import sysctls as sysctlmod
    sysctls = sysctlmod.check(sysctls or {}, host_net=network_name == "host", host_ipc="ipc" in host_namespaces)
    name = names.validate_name(name, "pod name") if name else names.generate_name()
    if hostname is not None:
        names.validate_name(hostname, "hostname")
    net = network_name or network.default_name()
    if net not in network.SPECIAL:
        network.load(net)  # a broken or missing network fails before anything exists
    elif ports:
        raise InvalidArgument(f"cannot publish ports with --network {net}"
                              + (" (the pod uses the host's ports directly)" if net == "host" else ""))
    ports = list(ports)
    if ports:
        reservations.wait_for_ports(ports)  # a pod being removed keeps its ports until its rules are gone
    with contextlib.ExitStack() as hold:
        with state.global_lock():
            if any(r["name"] == name for r in store().all()):
                raise AlreadyExists(f"pod name {name!r} is already in use")
            _ports_conflict(ports)
            rec_id = names.new_id()
            rec = {"id": rec_id, "name": name, "hostname": hostname or name,
                   "created": time.time(), "network": net, "ports": [p.as_dict() for p in ports],
                   "infra_for": infra_for, "desired": "running", "pause": None, "netns": None,
                   "ip": None, "mac": None, "gateway": None, "attachments": [],
                   "limits": limits.as_dict() if limits else {}, "labels": dict(labels or {}),
                   "cgroup": cgroup.pod_path(rec_id, cgroup_parent), "k8s": k8s, "resolv_conf": resolv_conf}
            if host_namespaces:
                rec["host_namespaces"] = host_namespaces
            if not share_pid:
                rec["share_pid"] = False
            if sysctls:
                rec["sysctls"] = sysctls
            if cri is not None:
                rec["cri"] = cri
            # Locked before it is visible: gc never mistakes a pod being
            # created for one whose creator crashed.
            hold.enter_context(state.object_lock("pod", rec["id"]))
            store().save(rec)
        try:
            fault_point("pod-create-recorded")
            _start(rec)
        except BaseException:
            with contextlib.suppress(Exception):
                destroy_locked(rec)
            raise
    return with_status(rec)


def _attach(rec: dict, conflist: dict, ifname: str, capability_args: dict) -> dict:
    att = cni.Attachment(conflist=network.strip_private(conflist), container_id=rec["id"],
                         ifname=ifname, netns=rec["netns"],
                         args=cni_config.cni_args(rec["name"], rec["id"]),
                         capability_args=capability_args, pod=rec["name"])
    if att.key not in rec["attachments"]:
        rec["attachments"].append(att.key)
        store().save(rec)  # intent first: a crash mid-ADD is still found by gc
    return cni.add(att)


def _start(rec: dict) -> None:
    """Start pause and attach the network. ``ready`` is set only at the end,
    so gc can tell a start that crashed half-way from a finished one."""
    rec["ready"] = False
    run_dir = paths.pod_run_dir(rec["id"])
    (run_dir / "root").mkdir(parents=True, exist_ok=True)
    exits = run_dir / "exits"
    # The pod's cgroup carries its limits (shared by all its containers).
    rec.setdefault("cgroup", cgroup.pod_path(rec["id"]))
    cgroup.create(rec["cgroup"], Limits(**rec.get("limits", {})))
    cgroup.create(rec["cgroup"] + "/pause")
    shared = rec.get("host_namespaces", [])
    pause = podns.start_pause(bin_dir=paths.lib_root() / "bin", root=run_dir / "root",
                              hostname=rec["hostname"], exits_log=exits,
                              stderr_log=run_dir / "pause.log", new_netns=rec["network"] != "host",
                              new_ipc="ipc" not in shared, new_pid="pid" not in shared,
                              cgroup_path=rec["cgroup"] + "/pause")
    pid = pause.pid
    rec["pause"] = {"pid": pid, "start": pause.start, "boot": procfs.boot_id()}
    rec["desired"] = "running"
    rec["started"] = time.time()
    store().save(rec)
    fault_point("pod-pause-started")
    if rec["network"] != "host":
        rec["netns"] = str(netns.pin(rec["name"], pid))
        store().save(rec)
        fault_point("pod-netns-pinned")
        _attach(rec, cni_config.LOOPBACK_CONFLIST, "lo", {})
        if rec["network"] != "none":
            conflist = network.load(rec["network"])
            ports = [PortMapping(**p).to_cni() for p in rec["ports"]]
            result = _attach(rec, conflist, IFNAME, {"portMappings": ports} if ports else {})
            rec["ip"], rec["mac"], rec["gateway"] = cni_config.result_ip(result)
            fault_point("pod-network-added")
    if rec.get("sysctls"):
        from minipod.runtime import sysctls
        sysctls.apply(pid, rec["sysctls"])
    rec["etc_files"] = etcfiles.write_all(run_dir, rec["hostname"], rec["ip"], rec.get("resolv_conf"))
    pause.wait_ready()  # it started while the network was attached
    rec["ready"] = rec["complete"] = True
    store().save(rec)


def start(ref: str) -> dict:
    """Start a pod that is not whole (stopped, its pause dead, or a start
    cut half-way by a crash): whatever is left goes, then a new pause and
    network (maybe a new IP). A whole pod is left alone."""
    loaded = load(ref)
    if is_whole(loaded):
        return loaded
    rec = plain(loaded)  # the derived status is never written back
    with state.global_lock():
        _ports_conflict([PortMapping(**p) for p in rec["ports"]], exclude_id=rec["id"])
        rec["desired"] = "running"
        store().save(rec)
    with state.object_lock("pod", rec["id"]):
        # Decided again under the lock: whoever held it may have finished.
        now = store().load(rec["id"])
        if now is not None and is_whole(now):
            return with_status(now)
        rec = {**(now or rec), "desired": "running"}
        _teardown(rec)  # whatever a dead pause or a cut start left behind
        _start(rec)
    return with_status(rec)


def check(ref: str) -> list:
    """CNI CHECK of every attachment of a running pod; returns the keys checked."""
    rec = load(ref)
    if rec["status"] != "running":
        raise InvalidState(f"pod {rec['name']} is not running")
    with state.object_lock("pod", rec["id"]):
        for key in rec.get("attachments", []):
            att = cni.load_cached(key)
            if att is None:
                raise CNIError(f"pod {rec['name']}: attachment {key} has no cached result")
            cni.check(att)
    return rec.get("attachments", [])


def plain(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "status"}


def _container_records() -> list:
    # container.store() lives above this module; the records are plain files.
    return state.Store(paths.containers_dir(), "container").all()


def container_counts() -> dict:
    """{pod id: number of containers}."""
    counts = {}
    for c in _container_records():
        counts[c.get("pod")] = counts.get(c.get("pod"), 0) + 1
    return counts


def remove_network(name: str) -> None:
    """`network rm`: refused while pods that are not stopped use it."""
    reservations.wait_for_network(name)
    network.remove(name, [p for p in list_pods() if p.get("network") == name and p["status"] != "stopped"])


def containers_of(pod_id: str) -> list:
    return [r for r in _container_records() if r.get("pod") == pod_id]


def containers_by_pod() -> dict:
    """{pod id: its container records}, from one read of every record (the
    status of many pods at once: not one read of all per pod)."""
    out = {}
    for r in _container_records():
        out.setdefault(r.get("pod"), []).append(r)
    return out


def _stop_containers(rec: dict, timeout: float) -> None:
    for ctr in containers_of(rec["id"]):
        if ctr.get("pid"):
            procfs.stop_process(ctr["pid"], ctr.get("start"), timeout)


def _teardown(rec: dict) -> list:
    """Stop pause, DEL every attachment (reverse order), unpin the netns.
    Idempotent; returns CNI errors (their caches are kept for gc)."""
    pause = rec.get("pause")
    if pause:
        procfs.stop_process(pause["pid"], pause["start"], 5.0)
    errors = []
    # Every cached attachment of the pod, also one its record does not list
    # (a record read before a concurrent start finished): none may outlive it.
    listed = rec.get("attachments", [])
    keys = listed + [k for k in cni.keys_of(rec["id"]) if k not in listed]
    for key in reversed(keys):
        att = cni.load_cached(key)
        if att is None:
            continue
        try:
            cni.delete(att, netns=rec.get("netns"))  # where it is pinned now (minipod.core.removal moves it)
        except CNIError as e:
            errors.append(e)
    rec["attachments"] = [k for k in keys if cni.load_cached(k) is not None]
    if rec.get("netns"):
        netns.unpin(rec["netns"])
    else:
        netns.unpin(netns.pin_path(rec["name"]))
    rec["netns"] = None
    rec["ip"] = rec["mac"] = rec["gateway"] = None
    return errors


def stop(ref: str, timeout: float = 10.0) -> dict:
    """Stop the pod's containers (SIGTERM, then SIGKILL after ``timeout``),
    then pause, and release its network."""
    rec = load(ref)
    with state.object_lock("pod", rec["id"]):
        rec = store().load(rec["id"]) or rec  # as it is now, under the lock
        _stop_containers(rec, timeout)
        errors = _teardown(rec)
        rec["desired"] = "stopped"
        store().save(plain(rec))
    if errors:
        raise MinipodError(f"pod {rec['name']} stopped, but network teardown failed: {errors[0]} "
                           f"{TEARDOWN_HINT}")
    return with_status(rec)


def destroy_locked(rec: dict, records: state.Store = None) -> list:
    """Tear everything of a pod down and delete its record from ``records``
    (the pods' store by default) (lock held)."""
    errors = _teardown(rec)
    fault_point("pod-rm-torn-down")
    with contextlib.suppress(OSError):  # a leftover is reported by gc --dry-run
        cgroup.remove(rec.get("cgroup") or cgroup.pod_path(rec["id"]))
    fsutil.rmtree(paths.pod_run_dir(rec["id"]), ignore_errors=True)
    fsutil.rmtree((records or store()).dir(rec["id"]), ignore_errors=True)
    return errors


def destroy(rec: dict) -> list:
    """Remove every trace of a pod (pause, network, netns pin, dirs, record)."""
    with state.object_lock("pod", rec["id"]):
        # As it is now: whoever held the lock (a start) may have changed it.
        errors = destroy_locked(store().load(rec["id"]) or rec)
    state.drop_object_lock("pod", rec["id"])
    return errors


def release(rec: dict, keep_desired: bool = False) -> None:
    """Stop a pod whose start was interrupted: pause and network go, the
    record stays, as a stopped pod (or, with ``keep_desired``, as one still
    meant to run, which the agent starts again: a Pod object's)."""
    with state.object_lock("pod", rec["id"]):
        rec = store().load(rec["id"]) or rec  # as it is now, under the lock
        _teardown(rec)
        rec["ready"] = False
        if not keep_desired:
            rec["desired"] = "stopped"
        store().save(plain(rec))


def remove(ref: str) -> list:
    """Remove a pod with no containers (InUse otherwise: removal.remove_pod
    removes them first). Returns warnings."""
    rec = load(ref)
    if containers_of(rec["id"]):
        raise InUse(f"pod {rec['name']} kept: other containers still use it")
    return [f"pod {rec['name']}: network teardown failed: {e} {TEARDOWN_HINT}" for e in destroy(rec)]
