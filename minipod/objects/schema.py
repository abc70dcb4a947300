"""Strict validation of Kubernetes objects, as the API server's: every
field known, every type right, every required field present; the first
mistake is one line naming its field path
(``spec.containers[0].ports[0].containerPort: must be 1-65535``).

A schema is a dict {field: Field}; Field(kind, required, check) where kind
is "str", "int", "bool", "map" (str -> str), "any" (accepted as is: fields
that `kubectl get -o yaml` prints and minipod has no use for), a nested
schema dict, or [item] for a list. ``status`` is never validated: it is
what the cluster reports, and is dropped on apply.
"""

import re
from dataclasses import dataclass

from minipod.errors import InvalidArgument

DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class Field:
    kind: object
    required: bool = False
    check: object = None  # check(value) -> error text or None


def fail(path: str, message: str):
    raise InvalidArgument(f"{path}: {message}")


def _type_name(kind) -> str:
    if isinstance(kind, dict):
        return "an object"
    if isinstance(kind, list):
        return "a list"
    return {"str": "a string", "int": "an integer", "bool": "a boolean", "map": "a map of strings"}.get(kind, kind)


def validate(value, kind, path: str):
    """Check ``value`` against ``kind``; return it (lists and objects
    rebuilt with only known fields, which are all of them)."""
    if kind == "any":
        return value
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            fail(path, f"must be {_type_name(kind)}")
        out = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in kind:
                fail(where, "unknown field")
            field = kind[key]
            if item is None and not field.required:
                continue
            out[key] = validate(item, field.kind, where)
            if field.check:
                problem = field.check(out[key])
                if problem:
                    fail(where, problem)
        for key, field in kind.items():
            if field.required and value.get(key) in (None, "", [], {}):
                fail(f"{path}.{key}" if path else key, "required value")
        return out
    if isinstance(kind, list):
        if not isinstance(value, list):
            fail(path, "must be a list")
        return [validate(item, kind[0], f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "str":
        if not isinstance(value, str):
            fail(path, "must be a string")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            fail(path, "must be an integer")
    elif kind == "bool":
        if not isinstance(value, bool):
            fail(path, "must be a boolean")
    elif kind == "map":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            fail(path, "must be a map of strings to strings")
    return value


def dns_label(value):
    if not DNS_LABEL.fullmatch(value):
        return "must be a DNS label (lower-case letters, digits and '-', at most 63)"
    return None


def dns_subdomain(value):
    if len(value) > 253 or not DNS_SUBDOMAIN.fullmatch(value):
        return "must be a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253)"
    return None


def iana_svc_name(value):
    """A named port (container ports, targetPort, probes): at most 15
    characters of a DNS label, with at least one letter."""
    if len(value) > 15 or dns_label(value) is not None or not any(c.isalpha() for c in value):
        return "must be an IANA service name (at most 15 lower-case letters, digits and '-')"
    return None


def port_number_or_name(value):
    """A port given as a number (1-65535) or as a container port's name."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return "must be a port number or a container port name"
    if isinstance(value, int):
        return None if 1 <= value <= 65535 else "must be 1-65535"
    return iana_svc_name(value)


def labels(value):
    from minipod.objects import selectors
    for k, v in value.items():
        if not selectors.valid_key(k):
            return f"invalid label key {k!r}"
        if not selectors.valid_value(v):
            return f"invalid label value {v!r} for {k!r}"
    return None


def one_of(*choices):
    def check(value):
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}"
    return check


def in_range(low, high):
    def check(value):
        return None if low <= value <= high else f"must be {low}-{high}"
    return check


# What every object's metadata may hold: what users write, and what
# `kubectl get -o yaml` prints back.
METADATA = {
    "name": Field("str", True, dns_subdomain),
    "namespace": Field("str", False, dns_label),
    "labels": Field("map", False, labels),
    "annotations": Field("map"),
    "uid": Field("str"), "resourceVersion": Field("str"), "generation": Field("int"),
    "creationTimestamp": Field("any"), "managedFields": Field("any"), "selfLink": Field("str"),
    "finalizers": Field(["str"]), "ownerReferences": Field("any"), "generateName": Field("str"),
    "deletionTimestamp": Field("any"), "deletionGracePeriodSeconds": Field("int"),
}
