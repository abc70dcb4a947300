"""kubectl get's columns of a custom resource: NAME, then its CRD's
additionalPrinterColumns (those of priority 1 only with -o wide),
evaluated as the API server's table converter evaluates them: a column's
JSONPath keeps its first value only; a string column prints a list or an
object as JSON (``["hello-world.info"]``); a date column is an age; a
column with no value is an empty cell (None), as kubectl prints it."""

import json
import re

_STEP = re.compile(r"""\.([A-Za-z0-9_-]+)|\[\*\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]""")


def jsonpath(obj, path: str) -> list:
    """Every value ``path`` selects in ``obj``: the subset of kubectl's
    JSONPath that CRDs' printer columns use (.field, [*], [?(@.f=="v")])."""
    values = [obj]
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {path[pos:]!r}")
        pos = m.end()
        out = []
        for v in values:
            if m.group(1) is not None:
                if isinstance(v, dict) and m.group(1) in v:
                    out.append(v[m.group(1)])
            elif m.group(2) is not None:
                out += [item for item in (v if isinstance(v, list) else [])
                        if isinstance(item, dict) and _field(item, m.group(2)) == m.group(3)]
            else:
                out += v if isinstance(v, list) else list(v.values()) if isinstance(v, dict) else []
        values = out
    return values


def _field(obj: dict, dotted: str):
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def cell(obj: dict, column: dict, age):
    """One column's cell of ``obj``, None when the path selects nothing;
    ``age``: kubectl's age of an object (printers.kubectl.k8s_age)."""
    values = jsonpath(obj, column["jsonPath"])
    if not values or values[0] is None:
        return None
    value = values[0]
    kind = column["type"]
    if kind == "date":
        return age({"metadata": {"creationTimestamp": value}})
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    if kind == "integer" and isinstance(value, int):
        return value
    return str(value)


def rows(columns: list, objs: list, wide: bool, age) -> tuple:
    """(headers, rows) of ``objs`` by the CRD's printer ``columns``."""
    shown = [c for c in columns if wide or not c.get("priority")]
    headers = ["NAME"] + [c["name"].upper() for c in shown]
    return headers, [[o["metadata"]["name"]] + [cell(o, c, age) for c in shown] for o in objs]
