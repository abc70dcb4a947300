"""Find and release what crashes, reboots and dead pause processes leave.

host-local, bridge and portmap have no working GC of their own, so the
runtime does it (shared/design/CNI-RUNTIME.md "Reconcile"): DEL every
cached attachment whose pod is gone or stopped, with the cached config and
capability args, then look for what should not exist. ``collect(dry_run=True)``
is the leak checker the test suite ends with.
"""

import contextlib
import os
import subprocess

from minipod import container, fsutil, netns, paths, pod, procfs, removal, state
from minipod.cni import runtime as cni
from minipod.errors import CNIError
from minipod.runtime import cgroup


def pause_processes():
    """(pid, start, pod dir) of every pause process of this minipod root."""
    ours = str(paths.run_root() / "pods")
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "pause":
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        pod_dir = env.get(b"MINIPOD_POD_DIR", b"").decode()
        if pod_dir.startswith(ours + "/"):
            out.append((pid, procfs.start_time(pid), pod_dir))
    return out


def _nat_chains_for(ids):
    """Per-pod nat chains (bridge's CNI-<hash>, portmap's CNI-DN-<hash>)
    whose rules name one of ``ids``: iptables comments carry the id."""
    try:
        text = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True,
                              check=False).stdout
    except OSError:
        return []
    found = set()
    for line in text.splitlines():
        if not line.startswith("-A CNI-"):
            continue
        for i in ids:
            if i in line:
                found.add((line.split()[1], i))
    return sorted(found)


def collect(dry_run=False) -> list:
    """Return [(kind, item)] of leaked things; release them unless dry_run."""
    found = []
    with state.global_lock():
        # Removals whose remover died are finished first; those under way
        # count as live pods: their remover releases what they hold.
        found += [("pod-removal", name) for name in removal.finish_abandoned(dry_run)]
        pods = {r["id"]: r for r in pod.store().all()}
        pods.update(removal.in_progress())
        owned = _agent_owned(pods)
        busy = {i for i in pods if state.is_locked("pod", i)} | owned
        live = {i for i, r in pods.items() if pod.status(r) == "running" or i in busy}

        # Containers whose creator crashed, or whose pod is gone. A CRI container
        # created and not yet started, in a sandbox that exists, is the kubelet's to start.
        for rec in container.store().all():
            if state.is_locked("container", rec["id"]) or rec.get("pod") in owned or \
                    (rec.get("cri") and rec.get("pod") in pods):
                continue
            if (not rec.get("pid") and container.status(rec) == "created") or \
                    (rec.get("pod") and rec["pod"] not in pods) or not rec.get("pod"):
                found.append(("container", rec["name"]))
                if not dry_run:
                    container.discard(rec)

        # Pods whose creation crashed, and own pods of removed containers,
        # are destroyed; a pod whose (re)start crashed is stopped. A pod whose
        # pause died keeps its record ("stopped") and releases its network below.
        ctr_ids = {c["id"] for c in container.store().all()}
        for pid_, rec in list(pods.items()):
            if pid_ in busy:
                continue
            half_started = not rec.get("ready") and rec.get("desired") != "stopped"
            orphan_infra = rec.get("infra_for") and rec["infra_for"] not in ctr_ids
            if (half_started and not rec.get("complete")) or orphan_infra:
                found.append(("pod", rec["name"]))
                if not dry_run:
                    pod.destroy(rec)
                    del pods[pid_]
                    live.discard(pid_)
            elif half_started:
                found.append(("half-started-pod", rec["name"]))
                if not dry_run:
                    pod.release(rec, keep_desired=bool(rec.get("k8s")))  # a Pod object's: the agent restarts it
                    live.discard(pid_)

        # CNI attachments of pods that are gone or not running.
        for att in cni.cached_attachments():
            if att.container_id in live:
                continue
            found.append(("cni-attachment", att.key))
            if not dry_run:
                with contextlib.suppress(CNIError):
                    cni.delete(att)
                rec = pods.get(att.container_id)
                if rec is not None and cni.load_cached(att.key) is None:
                    with contextlib.suppress(FileNotFoundError):
                        rec["attachments"] = [k for k in rec.get("attachments", []) if k != att.key]
                        rec["ip"] = None
                        pod.store().save(rec)

        # Netns pins that no running pod owns.
        live_pins = {pods[i].get("netns") for i in live if i in pods}
        live_pins |= {str(netns.pin_path(pods[i]["name"])) for i in owned}  # pinned, maybe not yet recorded
        for pin in netns.list_pins():
            if str(pin) not in live_pins:
                found.append(("netns-pin", str(pin)))
                if not dry_run:
                    netns.unpin(pin)

        # pause processes whose pod record is gone or says another pid.
        for pid, start, pod_dir in pause_processes():
            pid_id = os.path.basename(pod_dir)
            rec = pods.get(pid_id)
            if pid_id in owned:
                continue  # started, maybe not yet recorded: the agent finishes or undoes it
            if rec is None or not rec.get("pause") or rec["pause"]["pid"] != pid:
                found.append(("pause-process", f"{pid} ({pid_id[:12]})"))
                if not dry_run:
                    procfs.stop_process(pid, start, 2.0)

        # host-local IP files naming no live pod (only minipod's own dataDir).
        ipam = paths.cni_ipam_dir()
        if ipam.is_dir():
            for netdir in ipam.iterdir():
                for f in netdir.iterdir():
                    if f.name in ("lock",) or f.name.startswith("last_reserved_ip"):
                        continue
                    try:
                        owner = f.read_text().split()[0]
                    except (OSError, IndexError):
                        owner = ""
                    if owner not in live:
                        found.append(("ip-reservation", f"{netdir.name}/{f.name}"))
                        if not dry_run:
                            f.unlink()

        # nat chains naming a pod that is not running (after the DELs above
        # there should be none; a left one means a DEL could not run).
        dead = [i for i in pods if i not in live] + [a.container_id for a in cni.cached_attachments()
                                                     if a.container_id not in pods]
        for chain, owner in _nat_chains_for(dead):
            found.append(("nat-chain", f"{chain} ({owner[:12]})"))

        # cgroups of pods that are gone, and of containers that are gone
        # from pods that remain (what an interrupted rm leaves).
        for pod_id in cgroup.list_pods():
            if pod_id in busy:
                continue
            path = cgroup.pod_path(pod_id)
            if pod_id not in pods:
                stale = [path]
            else:
                stale = [f"{path}/{c}" for c in cgroup.driver().children(path)
                         if c.startswith("ctr-") and c[4:] not in ctr_ids
                         and not state.is_locked("container", c[4:])]
            for item in stale:
                found.append(("cgroup", item))
                if not dry_run:
                    with contextlib.suppress(OSError):
                        cgroup.remove(item)

        # Directories without a record.
        for root, kind in ((paths.containers_dir(), "container-dir"), (paths.pods_dir(), "pod-dir"),
                           (paths.run_root() / "pods", "pod-run-dir")):
            if not root.is_dir():
                continue
            known = ctr_ids if kind == "container-dir" else set(pods)
            for d in root.iterdir():
                if d.name not in known and not state.is_locked(
                        "container" if kind == "container-dir" else "pod", d.name):
                    found.append((kind, str(d)))
                    if not dry_run:
                        fsutil.rmtree(d, ignore_errors=True)

        # Half-written records and caches (their writer was killed before the rename).
        for top in (paths.cni_cache_dir(), paths.containers_dir(), paths.pods_dir()):
            for tmp in state.stale_temp_files(top):
                found.append(("temp-file", str(tmp)))
                if not dry_run:
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()

    # Layers no image uses (an interrupted `image rm`), and half-made ones.
    # Under the layer lock, outside the global one (imports take them in
    # that order), so a running import's layers are never taken for leaks.
    from minipod import image
    from minipod.image import layers
    with layers.lock():
        for chain in image.unreferenced_layers():
            found.append(("layer", chain))
            if not dry_run:
                layers.remove(chain)
        for d in layers.leftovers():
            found.append(("layer-dir", str(d)))
            if not dry_run:
                fsutil.rmtree(d, ignore_errors=True)
    found += _proxy_leftovers(dry_run)
    found += _trace_leftovers(dry_run)
    return found


def _agent_owned(pods: dict) -> set:
    """Ids of the pods that a running node agent realises for stored Pod
    objects. Whatever a crash left half-made of those is the agent's to
    finish or undo (workloads/recovery.py), in its next pass: gc neither
    reports nor touches them while it runs. With no agent running, gc
    undoes them as any other, and the next agent makes them again."""
    from minipod import agent  # reads its lock only; the core never drives the agent
    if not agent.running_pid():
        return set()
    from minipod.objects import kinds, store
    uids = {o["metadata"]["uid"] for o in store.list_objects(kinds.POD, shared=True)}
    return {i for i, r in pods.items() if (r.get("k8s") or {}).get("uid") in uids}


def _trace_leftovers(dry_run: bool) -> list:
    """A trace's table and outside client that a killed `minipod trace` left
    (one that runs holds the trace lock)."""
    from minipod.trace import lock_path, nftrace, probe
    if state.lock_held(lock_path()):
        return []
    found = []
    if nftrace.present():
        found.append(("trace-rules", f"table inet {nftrace.TABLE}"))
    ns, _veth = probe.outside_names()
    if (paths.netns_dir() / ns).exists():
        found.append(("trace-client", ns))
    if found and not dry_run:
        nftrace.remove()
        probe.remove_outside()
    return found


def _proxy_leftovers(dry_run: bool) -> list:
    """The service proxy's chains and routes while no Service exists (an
    agent killed before it could clean up after the last one)."""
    from minipod import proxy
    from minipod.objects import kinds, store
    from minipod.proxy import host
    from minipod import clusterdns
    found = []
    if not clusterdns.needed() and (clusterdns.running_pid() or clusterdns.conf_path().exists()):
        found.append(("cluster-dns", f"dnsmasq {clusterdns.running_pid() or '(config only)'}"))
        if not dry_run:
            clusterdns.stop()
    if store.any_objects(kinds.SERVICE):
        return found
    found += [("proxy-rules", what) for what in proxy.leftovers()]
    if host.has_device() and not clusterdns.needed():
        found.append(("service-routes", host.device()))
    if found and not dry_run:
        proxy.cleanup(routes=not clusterdns.needed())
    return found
