"""Server-side printing: meta.k8s.io/v1 Table, what `kubectl get` asks for
(Accept: application/json;as=Table;v=v1;g=meta.k8s.io) and prints, with
the very columns minipod's own `get` prints (api/printers.py). Columns
that only `-o wide` shows have priority 1."""

import time

from minipod import output
from minipod.api import printers


def _since(ts: str) -> str:
    import calendar
    try:
        t = calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return "<unknown>"
    return output.short_age(time.time() - t)


def _node_rows(objs):
    headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
               "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = []
    for o in objs:
        st, info = o["status"], o["status"]["nodeInfo"]
        ready = next((c["status"] for c in st["conditions"] if c["type"] == "Ready"), "Unknown")
        roles = ",".join(sorted(k.split("/", 1)[1] for k in o["metadata"]["labels"]
                                if k.startswith("node-role.kubernetes.io/"))) or "<none>"
        ip = next((a["address"] for a in st["addresses"] if a["type"] == "InternalIP"), "<none>")
        rows.append([o["metadata"]["name"], "Ready" if ready == "True" else "NotReady", roles,
                     printers.k8s_age(o), info["kubeletVersion"], ip, "<none>", info["osImage"],
                     info["kernelVersion"], info["containerRuntimeVersion"]])
    return headers, rows, 5


def _event_rows(objs):
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE", "SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT",
               "NAME"]
    rows = []
    for e in objs:
        inv = e["involvedObject"]
        rows.append([_since(e["lastTimestamp"]), e["type"], e["reason"], f"{inv['kind'].lower()}/{inv['name']}",
                     e["message"], inv.get("fieldPath", ""), e["source"]["component"],
                     _since(e["firstTimestamp"]), e["count"], e["metadata"]["name"]])
    return headers, rows, 5


def _slice_rows(objs):
    headers = ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    rows = []
    for o in objs:
        ports = ",".join(str(p["port"]) for p in o.get("ports") or []) or "<unset>"
        addrs = [a for e in o["endpoints"] for a in e["addresses"]]
        shown = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
        rows.append([o["metadata"]["name"], o["addressType"], ports, shown or "<unset>", printers.k8s_age(o)])
    return headers, rows, 5


def _rows(kind_name: str, stored_kind, objs):
    """(headers, rows, how many of the headers show without -o wide)."""
    if kind_name == "Node":
        return _node_rows(objs)
    if kind_name == "Event":
        return _event_rows(objs)
    if kind_name == "EndpointSlice":
        return _slice_rows(objs)
    narrow, _ = printers.object_rows(stored_kind, [], False, False)
    headers, rows = printers.object_rows(stored_kind, objs, False, True)
    return headers, rows, len(narrow)


def _partial(obj: dict) -> dict:
    """The row's object: PartialObjectMetadata (kubectl reads its namespace
    for -A and its name for -o name)."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(kind_name: str, stored_kind, objs: list, resource_version: str, include_object="Metadata",
          headers_too=True) -> dict:
    """A Table of ``objs``."""
    headers, rows, shown = _rows(kind_name, stored_kind, objs)
    columns = [{"name": h.title() if h != "NAME" else "Name", "type": "integer" if h in ("RESTARTS", "COUNT")
                else "string", "format": "name" if h == "NAME" else "", "description": h.lower(),
                "priority": 0 if i < shown else 1} for i, h in enumerate(headers)]
    out_rows = []
    for obj, row in zip(objs, rows):
        r = {"cells": [c if isinstance(c, int) else str(c) for c in row]}
        if include_object == "Object":
            r["object"] = obj
        elif include_object != "None":
            r["object"] = _partial(obj)
        out_rows.append(r)
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
           "rows": out_rows}
    out["columnDefinitions"] = columns if headers_too else []
    return out
