"""The node agent (the Agent class): the kubelet's and the controller
manager's roles on this node, as one reconcile pass that the node process
(minipod.node.main) runs at every wake-up.

Every pass is full and idempotent (level-triggered, like Kubernetes'
controllers): Deployments → ReplicaSets → Pod objects → realised pods
(those being deleted torn down by processes of their own) → container
restarts. Nothing is kept only in memory but retry times, so a new agent
after a SIGKILL simply carries on.
"""

import contextlib
import os
import select
import sys
import time

from minipod import procfs, state
from minipod.core import container, pod
from minipod.roles.agent import problems
from minipod.errors import Conflict, MinipodError
from minipod.objects import events, kinds, store
from minipod.objects.workloads import local_container_name
from minipod.roles import clusterdns, policy, proxy
from minipod.roles.gateway import controller as gateway
from minipod.roles.ingress import controller
from minipod.roles.controllers import deployments, endpoints
from minipod.roles.kubelet import backoff, deletion, pods, probes, readiness, recovery, reporting, restarts, teardown

RETRY_BASE = 2.0  # a pod or container that could not be made is tried again after this, doubling
RETRY_CAP = 60.0
BUSY_RETRY = 0.5  # a pod whose lock another process holds is looked at again after this
EVENTS_PRUNE_EVERY = 60.0  # seconds between two looks for expired Events


def log(message: str) -> None:
    now = time.time()
    sys.stdout.write(time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d} "
                     + message + "\n")
    sys.stdout.flush()


class Agent:
    def __init__(self):
        self.limits = backoff.limits()
        self.retry = {}  # key -> (attempts, next try): pods/containers that failed to be made
        self.pidfds = {}  # fd -> (pid, start)
        self.watched = {}  # (pid, start) -> fd
        self.probe_schedule = {}  # (container id, start) -> when its next readiness probe is due
        self.rerun = False  # something changed that this pass may not have seen: pass again at once
        self.snapshot = None  # which processes ran when the last pass began
        self.rerun_at = None  # a pass is due then: something was busy (locked by another process)
        self.unwhole = set()  # uids of Pod objects whose pod could not be started whole this pass
        self.teardowns = {}  # object uid -> the process tearing its pod down (kubelet/teardown.py)
        self.pruned_at = 0.0  # when expired Events were last deleted
        self.unisolated = set()  # uids of pods made whose policy rules could not be written yet

    # ------------------------------------------------------------ reconcile

    def _retry_due(self, key, now) -> bool:
        attempts, at = self.retry.get(key, (0, 0))
        return now >= at

    def _failed(self, key, now, message):
        attempts, _ = self.retry.get(key, (0, 0))
        delay = min(RETRY_CAP, RETRY_BASE * (2 ** attempts))
        self.retry[key] = (attempts + 1, now + delay)
        log(f"{message} (retrying in {delay:g}s)")

    def reconcile(self) -> float:
        """One pass; returns the earliest time something is due (or None)."""
        now = time.time()
        self.rerun_at = None
        self.snapshot = self._states()
        deployments.reconcile(log)
        self._sync_pods(now)
        probe_at = self._probe(now)
        seen_ready_at = time.time()  # what endpoints reads below is ready by now
        endpoints.reconcile(log)
        proxied = {}  # whether the proxy wrote: its new jumps may have gone above the policies'
        for key, step in (("proxy", lambda: proxied.setdefault("wrote", proxy.sync(log,
                                                                                   keep_routes=clusterdns.needed()))),
                          ("policy", lambda: policy.sync(log, jumps=proxied.get("wrote", False))),
                          ("dns", lambda: clusterdns.sync(log)), ("ingress", lambda: controller.reconcile(log)),
                          ("gateway", lambda: gateway.reconcile(log))):
            try:
                step()
            except MinipodError as e:
                self._failed((key,), now, f"{key}: {e}")
                problems.failed(key, str(e))  # an Event of the Node, until a pass succeeds
            else:
                if self.retry.pop((key,), None) is not None:
                    problems.recovered(key)
        if not controller.holds_readiness():  # tried, failed or not: a failing proxy never holds Ready back
            readiness.mark(seen_ready_at)
        due = restarts.reconcile(now, log, self.limits)
        if now - self.pruned_at >= EVENTS_PRUNE_EVERY:  # Events past their hour go (kube-apiserver's TTL)
            self.pruned_at = now
            events.prune(now)
        waits = [at for _n, at in self.retry.values() if at > now]
        waits += [at for at in (due, probe_at, self.rerun_at) if at is not None]
        return min(waits) if waits else None

    def _probe(self, now):
        """Run the readiness probes that are due; return the next due time."""
        next_at, seen = None, set()
        objs = {o["metadata"]["uid"]: o for o in store.list_objects(kinds.POD)}
        by_pod = pod.containers_by_pod()  # one read of the container records for every pod
        for uid, rec in pods.realised().items():
            obj = objs.get(uid)
            if obj is None or not rec.get("ip") and not obj["spec"].get("hostNetwork"):
                continue
            ctrs = {c["name"]: container.with_status(c) for c in by_pod.get(rec["id"], [])}
            for spec in obj["spec"]["containers"]:
                crec = ctrs.get(local_container_name(rec['name'], spec['name']))
                if not spec.get("readinessProbe") or not crec or crec["status"] != "running":
                    continue
                seen.add((crec["id"], crec.get("start")))
                at = probes.step(crec, spec, (rec.get("ip") or "127.0.0.1").split("/")[0], self.probe_schedule,
                                 now, log)
                next_at = at if next_at is None else min(next_at, at)
        for key in set(self.probe_schedule) - seen:
            del self.probe_schedule[key]
        return next_at

    def _recover(self, objs: dict, live: dict, now) -> None:
        """Finish or undo what a crash left half-made (workloads/recovery.py),
        before anything new is made: a pod whose making was cut is torn down
        (and made again below), one whose pause or network is not whole is
        started again, a container never started is removed (and made again)."""
        by_pod = pod.containers_by_pod()  # one read for every pod: a pod's own are all it changes
        for uid, rec in list(live.items()):
            obj = objs.get(uid)
            if obj is None:
                continue  # its object is gone: removed below
            name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            alive = bool(rec.get("pause")) and procfs.alive(rec["pause"])
            action = recovery.pod_action(rec, alive, state.is_locked("pod", rec["id"]))
            if action == recovery.BUSY:
                self.rerun_at = now + BUSY_RETRY
                continue
            if action == recovery.REDO:
                log(f"pod {name}: its making was cut (no network yet); tearing it down to make it again")
                deletion.destroy(rec, grace=0)
                del live[uid]
                continue
            if action == recovery.RESTART:
                if not self._retry_due(("pod", uid), now):
                    continue
                try:
                    live[uid] = pod.start(rec["id"])
                    log(f"pod {name}: pause or network was not whole; started again "
                        f"(IP {live[uid].get('ip') or '-'})")
                except MinipodError as e:
                    self._failed(("pod", uid), now, f"pod {name}: cannot start: {e}")
                    del live[uid]
                    self.unwhole.add(uid)
                    continue
            for crec in by_pod.get(rec["id"], []):
                verdict = recovery.container_action(crec, state.is_locked("container", crec["id"]))
                if verdict == recovery.RECREATE:
                    log(f"container {crec['name']}: recorded but never started; making it again")
                    container.discard(crec)
                elif verdict == recovery.BUSY:
                    self.rerun_at = now + BUSY_RETRY

    @staticmethod
    def _drop_orphan_containers(pod_ids: set) -> None:
        """Containers made for a Pod object whose pod went while they were
        being made (a delete racing a create): nothing else would remove them."""
        for crec in container.store().all():
            if (crec.get("labels") or {}).get(pods.POD_LABEL) and crec.get("pod") not in pod_ids \
                    and not state.is_locked("container", crec["id"]):
                log(f"container {crec['name']}: its pod is gone; removing it")
                container.discard(crec)

    def _reap_teardowns(self, now) -> None:
        """Forget the teardowns that ended; one that failed is tried again when due."""
        for uid, proc in list(self.teardowns.items()):
            if proc.poll() is None:
                continue
            del self.teardowns[uid]
            if proc.returncode:
                how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
                self._failed(("teardown", uid), now, f"teardown of the pod of object {uid[:8]} failed ({how})")
            else:
                self.retry.pop(("teardown", uid), None)

    def _tear_down(self, uid, rec, obj, now) -> None:
        """Begin the teardown of a pod whose object is being deleted (or is
        gone), in a process of its own: pods go side by side, as the
        kubelet's pod workers stop them, and this pass does not wait."""
        if uid in self.teardowns or not self._retry_due(("teardown", uid), now):
            return
        if teardown.under_way(rec["id"]):  # an earlier agent's, still running: look again soon
            self.rerun_at = now + BUSY_RETRY
            return
        grace = deletion.deletion_grace(obj)
        self.teardowns[uid] = teardown.start(rec["id"], grace)
        log(f"pod {rec['k8s']['namespace']}/{rec['k8s']['name']}: "
            f"{'being deleted' if obj is not None else 'its object is gone'}; tearing it down (grace {grace:g}s)")

    def _finish_deletions(self, objs: dict, live: dict, now) -> None:
        """A Pod object marked for deletion (or gone) has its pod torn down;
        once nothing of it is left, the object is deleted, as the kubelet's
        last status update lets the API server delete it."""
        had_pod = set(live)
        for uid, rec in list(live.items()):
            obj = objs.get(uid)
            if obj is None or obj["metadata"].get("deletionTimestamp"):
                self._tear_down(uid, rec, obj, now)
                del live[uid]
        for uid, obj in list(objs.items()):
            meta = obj["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            del objs[uid]  # nothing more is made for it
            if uid not in self.teardowns and uid not in had_pod:
                with contextlib.suppress(Conflict):  # the name holds a new object already: this one went
                    if store.delete(kinds.POD, meta["namespace"], meta["name"], uid):
                        log(f"pod {meta['namespace']}/{meta['name']}: deleted")

    def _isolate(self, uid, now) -> bool:
        """Bring the policy rules up to date with a pod just made, before
        its containers start: a pod a policy isolates is never reachable,
        nor reaches out, before its rules say so. False: they could not be
        written (no container of it starts until they are: tried again on
        the next passes)."""
        try:
            policy.sync(log)
        except MinipodError as e:
            self.unisolated.add(uid)
            self._failed(("policy",), now, f"policy: {e}")
            problems.failed("policy", str(e))
            return False
        self.unisolated.discard(uid)
        return True

    def _sync_pods(self, now):
        self._reap_teardowns(now)  # first: a pod whose teardown ended is not seen below as still there
        objs = {o["metadata"]["uid"]: o for o in store.list_objects(kinds.POD)}
        live = pods.realised()
        self._finish_deletions(objs, live, now)
        self.unwhole = set()
        self._drop_orphan_containers({r["id"] for r in pod.store().all()})
        self._recover(objs, live, now)
        by_pod = pod.containers_by_pod()  # after recovery's removals; each pod below adds only its own
        for uid, obj in objs.items():
            name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            if uid in self.unwhole:
                continue  # its start failed above; retried when due
            rec = live.get(uid)
            if rec is None:
                if not self._retry_due(("pod", uid), now):
                    continue
                try:
                    rec = pods.create_pod(obj)
                    reporting.scheduled(obj, pods.node_name())
                    log(f"pod {name}: created (IP {rec.get('ip') or '-'})")
                except MinipodError as e:
                    self._failed(("pod", uid), now, f"pod {name}: cannot create: {e}")
                    continue
                if not self._isolate(uid, now):
                    continue  # no container starts before the policies cover its pod
            elif not pod.is_whole(rec):
                continue  # busy (someone holds its lock), or stopped on purpose: no container starts
            elif uid in self.unisolated and not self._isolate(uid, now):
                continue
            self.retry.pop(("pod", uid), None)
            if not self._retry_due(("containers", uid), now):
                continue
            try:
                errors = pods.sync_containers(obj, rec, by_pod.get(rec["id"], []))
            except MinipodError as e:
                errors = [("*", str(e), pods.CREATE)]
            for ctr, message, reason in errors:
                pods.record_error(rec, ctr, message, reason)
            if errors:
                self._failed(("containers", uid), now,
                             f"pod {name}: " + "; ".join(f"{c}: {r}: {m}" for c, m, r in errors))
            else:
                self.retry.pop(("containers", uid), None)
                for c in obj["spec"]["containers"]:
                    pods.record_error(rec, c["name"], None)

    # ---------------------------------------------------------------- watch

    @staticmethod
    def _states() -> tuple:
        """(every container's and pause's (id, start, status), the (pid, start)
        of those running)."""
        states, running = set(), set()
        for rec in container.list_containers():
            states.add((rec["id"], rec.get("start"), rec["status"]))
            if rec["status"] == "running":
                running.add((rec["pid"], rec.get("start")))
        for rec in pod.list_pods():
            pause = rec.get("pause") or {}
            states.add((rec["id"], pause.get("start"), rec["status"]))
            if rec["status"] == "running":
                running.add((pause["pid"], pause.get("start")))
        return states, running

    def _wanted(self) -> set:
        """(pid, start) of every process whose exit must wake us: every
        container (a restart may be due, or an endpoint is gone) and pause.
        If any process started or ended while the pass ran (one may even
        have started and ended: a container that crashes at once), its exit
        would wake nobody: the agent passes again at once."""
        states, out = self._states()
        self.rerun = self.snapshot is not None and states != self.snapshot[0]
        out |= {(proc.pid, "teardown") for proc in self.teardowns.values()}  # its end: the object can go
        dns = clusterdns.running_pid()
        if dns:
            out.add((dns, "dnsmasq"))  # supervised: if it dies, the next pass starts it again
        return out

    def update_watches(self, poller) -> None:
        wanted = self._wanted()
        for key in list(self.watched):
            if key not in wanted:
                fd = self.watched.pop(key)
                poller.unregister(fd)
                self.pidfds.pop(fd, None)
                os.close(fd)
        for key in wanted - set(self.watched):
            try:
                fd = os.pidfd_open(key[0])
            except ProcessLookupError:
                # It exited between the pass and now (a container that crashes
                # at once): nothing would wake us for it, so pass again now.
                self.rerun = True
                continue
            self.watched[key] = fd
            self.pidfds[fd] = key
            poller.register(fd, select.POLLIN)
