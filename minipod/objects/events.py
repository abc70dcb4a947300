"""Events as stored objects (v1 Event), recorded by the node agent's roles
as the kubelet, the scheduler and the controllers record theirs: one JSON
file per event under lib/events/<namespace>/, kept apart from the object
store as kube-apiserver keeps events in an etcd of their own (a recorded
Event wakes no one and bumps no revision; `kubectl get events -w` sees it
by the API server's comparison of what it sent, as for every read-only kind).

The same event again (same object, reason, message and source) is one
Event whose count and lastTimestamp grow, as client-go's EventCorrelator
aggregates them. An Event lives an hour after it was last seen
(kube-apiserver's --event-ttl), and at most CAP are kept (the oldest go
first), so a crash loop cannot fill the disk."""

import contextlib
import hashlib
import json
import os
import time

from minipod import paths, state

TTL = 3600.0  # seconds after its last occurrence (kube-apiserver's default --event-ttl, 1h)
CAP = 1000  # events kept at most, over every namespace


def root():
    return paths.lib_root() / "events"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _uid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def record(involved: dict, reason: str, message: str, type_: str = "Normal", component: str = "kubelet",
           host: str = None) -> dict:
    """Record one occurrence of an event about ``involved`` (an
    involvedObject: kind, namespace, name, uid, apiVersion[, fieldPath]);
    returns the Event as stored."""
    ns = involved.get("namespace") or "default"
    key = json.dumps([involved.get("uid"), involved.get("fieldPath"), reason, message, component])
    name = f"{involved['name']}.{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    path = root() / ns / f"{name}.json"
    now = time.time()
    path.parent.mkdir(parents=True, exist_ok=True)
    with state.locked(root() / ".lock"):
        try:
            event = state.read_json(path)
            event["count"] += 1
        except (FileNotFoundError, ValueError, KeyError):
            event = {"apiVersion": "v1", "kind": "Event",
                     "metadata": {"name": name, "namespace": ns, "uid": _uid(name),
                                  "creationTimestamp": _iso(now)},
                     "involvedObject": involved, "reason": reason, "message": message, "type": type_,
                     "source": {"component": component, **({"host": host} if host else {})},
                     "reportingComponent": component, "reportingInstance": host or "",
                     "count": 1, "firstTimestamp": _iso(now)}
        event["lastTimestamp"] = _iso(now)
        event["metadata"]["resourceVersion"] = str(int(now * 1000))
        state.write_json(path, event, mode=0o600)
        if event["count"] == 1:
            _cap()
    return event


def _files():
    """[(mtime, path)] of every stored event."""
    out = []
    try:
        namespaces = list(os.scandir(root()))
    except FileNotFoundError:
        return out
    for ns in namespaces:
        if not ns.is_dir():
            continue
        for entry in os.scandir(ns.path):
            if entry.name.endswith(".json"):
                try:
                    out.append((entry.stat().st_mtime, entry.path))
                except FileNotFoundError:
                    continue  # pruned meanwhile
    return out


def _cap() -> None:
    """Past CAP events, the least recently seen go (under the lock)."""
    files = _files()
    if len(files) > CAP:
        for _mtime, path in sorted(files)[:len(files) - CAP]:
            with contextlib.suppress(FileNotFoundError):  # pruned meanwhile
                os.unlink(path)


def prune(now: float = None) -> int:
    """Delete the events last seen more than TTL ago; returns how many went."""
    now = time.time() if now is None else now
    gone = 0
    for mtime, path in _files():
        if now - mtime > TTL:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
                gone += 1
    return gone


def list_events(namespace: str = None, now: float = None) -> list:
    """Every stored Event (of ``namespace``, or all) not yet expired, in
    the order they were last seen (finer than their timestamps' seconds)."""
    now = time.time() if now is None else now
    out = []
    for mtime, path in sorted(_files()):
        if now - mtime > TTL or (namespace and os.path.basename(os.path.dirname(path)) != namespace):
            continue
        try:
            out.append(state.read_json(path))
        except (FileNotFoundError, ValueError):
            continue
    return out


def _epoch(iso: str) -> float:
    import calendar
    return float(calendar.timegm(time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")))


def rows_of(obj: dict) -> list:
    """The Events of ``obj`` (by uid) as describe lists them: [(type,
    reason, (first, last, count), from, message)], in the order last seen."""
    uid = obj["metadata"].get("uid")
    return [(e["type"], e["reason"], (_epoch(e["firstTimestamp"]), _epoch(e["lastTimestamp"]), e["count"]),
             e["source"]["component"], e["message"])
            for e in list_events(obj["metadata"].get("namespace")) if e["involvedObject"].get("uid") == uid]
