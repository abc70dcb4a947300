"""What the Service allocator needs to know of every stored Service (its
clusterIP, node ports and LoadBalancer IP), without reading every Service
on each apply: the API server keeps allocator bitmaps for the same reason.

The summaries are cached in one file beside the Services and checked
against each Service file's (inode, mtime, size) on every use, so a Service
written or removed by any process, any version of minipod or by hand is
seen (a file too fresh for its stamp to be trusted is not cached: see
store.settled): a stat per Service instead of a read and a parse (at 5,000
Services, milliseconds instead of a tenth of a second).
"""

import collections
import json
import os

from minipod import state
from minipod.objects import kinds, store


def lock():
    """Services take IPs and ports from shared ranges: one allocation at a
    time (an apply, or a controller's own Service)."""
    store.root().mkdir(parents=True, exist_ok=True)
    return state.locked(store.root() / "allocations.lock")


def _cache_path():
    return store.root() / kinds.SERVICE.plural / ".allocations.json"


def summary(obj: dict) -> dict:
    """The part of a Service that takes something from a shared range."""
    spec = obj.get("spec", {})
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [{}]
    return {"ip": spec.get("clusterIP"), "ports": [p["nodePort"] for p in spec.get("ports", []) if p.get("nodePort")],
            "lb": ingress[0].get("ip")}


def stored() -> dict:
    """{(namespace, name): summary} of every stored Service."""
    top = store.root() / kinds.SERVICE.plural
    try:
        cache = json.loads(_cache_path().read_text())
    except (FileNotFoundError, ValueError):
        cache = {}
    fresh, out, changed = {}, {}, False
    namespaces = [e for e in os.scandir(top) if e.is_dir()] if top.is_dir() else []
    for ns in namespaces:
        for entry in os.scandir(ns.path):
            if not entry.name.endswith(".json"):
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue  # deleted meanwhile
            key = f"{ns.name}/{entry.name[:-5]}"
            stamp = [st.st_ino, st.st_mtime_ns, st.st_size]
            hit = cache.get(key)
            if hit is None or hit["stamp"] != stamp:
                try:
                    hit = {"stamp": stamp, **summary(state.read_recycled_json(entry.path))}
                except FileNotFoundError:
                    continue
                changed = True
            if store.settled(st):
                fresh[key] = hit
            out[(ns.name, entry.name[:-5])] = {k: v for k, v in hit.items() if k != "stamp"}
    if changed or fresh.keys() != cache.keys():
        top.mkdir(parents=True, exist_ok=True)
        state.write_json(_cache_path(), fresh)
    return out


class Taken:
    """Counts of the IPs and ports in use, so one Service's own can be set
    aside while it is allocated (a re-applied Service keeps its own)."""

    def __init__(self, summaries):
        self.ips, self.ports, self.lbs = collections.Counter(), collections.Counter(), collections.Counter()
        for s in summaries:
            self.add(s)

    def _change(self, s, n):
        keys = [(self.ips, s.get("ip")), (self.lbs, s.get("lb"))] + [(self.ports, p) for p in s.get("ports", [])]
        for counter, key in keys:
            if key and key != "None":
                counter[key] += n
                if counter[key] <= 0:
                    del counter[key]

    def add(self, s):
        self._change(s, 1)

    def remove(self, s):
        self._change(s, -1)
