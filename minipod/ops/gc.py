"""Find and release what crashes, reboots and dead pause processes leave.

host-local, bridge and portmap have no working GC of their own, so the
runtime does it (shared/design/CNI-RUNTIME.md "Reconcile"): DEL every
cached attachment whose pod is gone or stopped, with the cached config and
capability args, then look for what should not exist. ``collect(dry_run=True)``
is the leak checker the test suite ends with.

Each thing found is reported with what really happened to it: ``removed``
only once it is gone, ``failed`` with the reason otherwise (the command
then exits non-zero), ``forced`` for an attachment whose DEL could not
run and whose own state minipod released by name (``--force``).
"""

import contextlib
import os
import time

from minipod import fsutil, hostcmd, paths, procfs, state
from minipod.core import container, pod, removal
from minipod.runtime import netns
from minipod.cni import forced, leftovers
from minipod.cni import runtime as cni
from minipod.errors import CNIError
from minipod.runtime import cgroup
from minipod.ops import leftover_rules
from minipod.ops.findings import Finding, _one_line, _Report

REMOVAL_WAIT = 30.0  # seconds gc waits for teardowns under way before it looks


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
        text = hostcmd.run(["iptables-save", "-t", "nat"], timeout=30, text=True).stdout
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


def collect(dry_run=False, force=False) -> list:
    """Return the Findings of one pass; release them unless ``dry_run``.
    ``force``: an attachment whose DEL fails is released as far as minipod
    can (minipod.cni.forced) instead of being kept for the next try."""
    report = _Report(dry_run)
    report.extend(_wait_for_removals())
    with state.global_lock():
        # Removals whose remover died are finished first; those under way
        # count as live pods: their remover releases what they hold.
        report.extend(Finding("pod-removal", name, "leaked" if dry_run else "removed")
                      for name in removal.finish_abandoned(dry_run))
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
                report.add("container", rec["name"], lambda rec=rec: container.discard(rec),
                           gone=lambda rec=rec: container.store().load(rec["id"]) is None)

        # Pods whose creation crashed, and own pods of removed containers,
        # are destroyed; a pod whose (re)start crashed is stopped. A pod whose
        # pause died keeps its record ("stopped") and releases its network below.
        # Their CNI errors need no line here: the attachments' own lines below say them.
        ctr_ids = {c["id"] for c in container.store().all()}
        for pid_, rec in list(pods.items()):
            if pid_ in busy:
                continue
            half_started = not rec.get("ready") and rec.get("desired") != "stopped"
            orphan_infra = rec.get("infra_for") and rec["infra_for"] not in ctr_ids
            if (half_started and not rec.get("complete")) or orphan_infra:
                report.add("pod", rec["name"], lambda rec=rec: pod.destroy(rec),
                           gone=lambda rec=rec: pod.store().load(rec["id"]) is None)
                if not dry_run:
                    del pods[pid_]
                    live.discard(pid_)
            elif half_started:
                report.add("half-started-pod", rec["name"],
                           # a Pod object's: the agent restarts it
                           lambda rec=rec: pod.release(rec, keep_desired=bool(rec.get("k8s"))))
                if not dry_run:
                    live.discard(pid_)

        # CNI attachments of pods that are gone or not running.
        attachments = {a.key: a for a in cni.cached_attachments() if a.container_id not in live}
        for att in attachments.values():
            report.extend([_release_attachment(att, pods.get(att.container_id), dry_run, force)])

        # Netns pins that no running pod owns.
        live_pins = {pods[i].get("netns") for i in live if i in pods}
        live_pins |= {str(netns.pin_path(pods[i]["name"])) for i in owned}  # pinned, maybe not yet recorded
        for pin in netns.list_pins():
            if str(pin) not in live_pins:
                report.add("netns-pin", str(pin), lambda pin=pin: netns.unpin(pin),
                           gone=lambda pin=pin: not os.path.lexists(pin))

        # pause processes whose pod record is gone or says another pid.
        for pid, start, pod_dir in pause_processes():
            pid_id = os.path.basename(pod_dir)
            rec = pods.get(pid_id)
            if pid_id in owned:
                continue  # started, maybe not yet recorded: the agent finishes or undoes it
            if rec is None or not rec.get("pause") or rec["pause"]["pid"] != pid:
                report.add("pause-process", f"{pid} ({pid_id[:12]})",
                           lambda pid=pid, start=start: procfs.stop_process(pid, start, 2.0),
                           gone=lambda pid=pid, start=start: not procfs.is_running(pid, start))

        # host-local IP files naming no live pod (only minipod's own dataDir).
        # Those of an attachment still cached are its DEL's to release.
        remaining = cni.cached_attachments()  # after the DELs above: one read for the sweeps below
        kept = {a.container_id for a in remaining} if not dry_run else set()
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
                    if owner not in live and owner not in kept:
                        report.add("ip-reservation", f"{netdir.name}/{f.name}",
                                   lambda f=f: f.unlink(missing_ok=True))

        # nat chains naming a pod that is not running: after the DELs above
        # only those of an attachment whose DEL failed (said on its own line)
        # or that a DEL left behind (removed here by their comment).
        dead = [i for i in pods if i not in live] + [a.container_id for a in remaining if a.container_id not in pods]
        for chain, owner in _nat_chains_for(dead):
            if owner in kept:
                continue
            report.add("nat-chain", f"{chain} ({owner[:12]})", lambda owner=owner: leftovers.remove(owner),
                       gone=lambda owner=owner: not leftovers.find(owner))

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
                report.add("cgroup", item, lambda item=item: cgroup.remove(item))

        # Directories without a record.
        for root, kind in ((paths.containers_dir(), "container-dir"), (paths.pods_dir(), "pod-dir"),
                           (paths.run_root() / "pods", "pod-run-dir")):
            if not root.is_dir():
                continue
            known = ctr_ids if kind == "container-dir" else set(pods)
            for d in root.iterdir():
                if d.name not in known and not state.is_locked(
                        "container" if kind == "container-dir" else "pod", d.name):
                    report.add(kind, str(d), lambda d=d: fsutil.rmtree(d), gone=lambda d=d: not os.path.lexists(d))

        # Half-written records and caches (their writer was killed before the rename).
        for top in (paths.cni_cache_dir(), paths.containers_dir(), paths.pods_dir()):
            for tmp in state.stale_temp_files(top):
                report.add("temp-file", str(tmp), lambda tmp=tmp: tmp.unlink(missing_ok=True))

    # Layers no image uses (an interrupted `image rm`), and half-made ones.
    # Under the layer lock, outside the global one (imports take them in
    # that order), so a running import's layers are never taken for leaks.
    from minipod import image
    from minipod.image import layers
    with layers.lock():
        for chain in image.unreferenced_layers():
            report.add("layer", chain, lambda chain=chain: layers.remove(chain))
        for d in layers.leftovers():
            report.add("layer-dir", str(d), lambda d=d: fsutil.rmtree(d), gone=lambda d=d: not os.path.lexists(d))
    report.extend(leftover_rules.proxy_leftovers(dry_run))
    report.extend(leftover_rules.policy_leftovers(dry_run))
    report.extend(_trace_leftovers(dry_run))
    return report.found


def _wait_for_removals() -> list:
    """Teardowns under way (a `run --rm` or `pod rm` that returned before
    its network was released) are waited for, up to REMOVAL_WAIT: they are
    not leftovers. One still under way then is named, never released."""
    deadline = time.monotonic() + REMOVAL_WAIT
    while True:
        under_way = removal.in_progress()
        if not under_way or time.monotonic() > deadline:
            return [Finding("pod-removal", r["name"], "busy", "under way: its remover releases it")
                    for r in under_way.values()]
        time.sleep(0.05)


def _release_attachment(att, rec, dry_run: bool, force: bool) -> Finding:
    """DEL one attachment of a pod that is gone or stopped (Finding)."""
    item = att.key
    if dry_run:
        why = att.del_error and f"its DEL failed: {att.del_error}"
        why = why or ("its pod is gone" if rec is None else "its pod is not running")
        return Finding("cni-attachment", item, "leaked", why)
    try:
        cni.delete(att)
        finding = Finding("cni-attachment", item, "removed")
    except CNIError as e:
        if not force:
            return Finding("cni-attachment", item, "failed", _one_line(e))
        released = forced.release(att, cni.cache_path(att.key))
        left = forced.would_leave(att)
        finding = Finding("cni-attachment", item, "forced",
                          f"its DEL could not run ({_one_line(e)}); released: {', '.join(released) or 'nothing'}; "
                          f"left: {'; '.join(left) or 'nothing minipod knows of'}")
    if rec is not None and cni.load_cached(att.key) is None:
        with contextlib.suppress(FileNotFoundError):
            rec["attachments"] = [k for k in rec.get("attachments", []) if k != att.key]
            rec["ip"] = None
            pod.store().save(rec)
    return finding


def force_hint(failed: list) -> list:
    """What `gc --force` would release and leave for each failed attachment (lines for stderr)."""
    hints = []
    for f in failed:
        if f.kind != "cni-attachment":
            continue
        att = cni.load_cached(f.item)
        if att is None:
            continue
        ips = [p.name for p in forced.host_local_reservations(att)]
        keeps = ["minipod's cache entry"] + [f"IP {ip} (host-local)" for ip in ips] + \
            ["the nat rules naming its container id"]
        left = forced.would_leave(att)
        hints.append(f"gc: {f.item}: `minipod gc --force` would release {', '.join(keeps)}; "
                     f"it would leave {'; '.join(left) or 'nothing minipod knows of'}")
    return hints


def _agent_owned(pods: dict) -> set:
    """Ids of the pods that a running node agent realises for stored Pod
    objects. Whatever a crash left half-made of those is the agent's to
    finish or undo (workloads/recovery.py), in its next pass: gc neither
    reports nor touches them while it runs. With no agent running, gc
    undoes them as any other, and the next agent makes them again."""
    from minipod.roles import agent  # reads its lock only; the core never drives the agent
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
    report = _Report(dry_run)
    if nftrace.present():
        report.add("trace-rules", f"table inet {nftrace.TABLE}", nftrace.remove, gone=lambda: not nftrace.present())
    ns, _veth = probe.outside_names()
    if (paths.netns_dir() / ns).exists():
        report.add("trace-client", ns, probe.remove_outside, gone=lambda: not (paths.netns_dir() / ns).exists())
    return report.found
