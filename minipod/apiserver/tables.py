"""Server-side printing: meta.k8s.io/v1 Table, what `kubectl get` asks for
(Accept: application/json;as=Table;v=v1;g=meta.k8s.io) and prints, with
the very columns minipod's own `get` prints (minipod.printers.kubectl). Columns
that only `-o wide` shows have priority 1."""

from minipod.api import printing
from minipod.printers import kubectl


def _rows(kind_name: str, stored_kind, objs):
    """(headers, rows, how many of the headers show without -o wide)."""
    virtual = {"Node": kubectl.node_rows, "Event": kubectl.event_rows, "EndpointSlice": kubectl.endpointslice_rows}
    if kind_name in virtual:  # served only: the first 5 columns show without -o wide
        return (*virtual[kind_name](objs), 5)
    narrow, _ = kubectl.object_rows(stored_kind, [], False, False)
    headers, rows = printing.rows(stored_kind, objs, False, True)
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
        r = {"cells": [c if isinstance(c, int) or c is None else str(c) for c in row]}
        if include_object == "Object":
            r["object"] = obj
        elif include_object != "None":
            r["object"] = _partial(obj)
        out_rows.append(r)
    out = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
           "rows": out_rows}
    out["columnDefinitions"] = columns if headers_too else []
    return out
