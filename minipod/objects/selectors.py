"""Kubernetes label selectors: the `-l` syntax of kubectl and the
``matchLabels``/``matchExpressions`` of a Deployment. Pure."""

import re

from minipod.errors import InvalidArgument
from minipod.names import valid_label_key as valid_key, valid_label_value as valid_value
_TERM_RE = re.compile(r"\s*(?P<neg>!)?\s*(?P<key>[^\s!=,()]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s,()]*)|"
                      r"\s(?P<setop>in|notin)\s*\((?P<set>[^)]*)\))?\s*")


def _split_terms(text: str) -> list:
    """Split on commas outside parentheses."""
    terms, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    return terms


def parse(text: str) -> list:
    """Parse ``app=web,tier!=db,env in (a,b),!legacy`` into requirements
    (key, op, values) with op one of =, !=, in, notin, exists, !exists."""
    if text is None or not text.strip():
        return []
    reqs = []
    for term in _split_terms(text):
        m = _TERM_RE.fullmatch(term)
        if not m or not valid_key(m.group("key")):
            raise InvalidArgument(f"invalid label selector {text!r}: cannot parse {term.strip()!r}")
        key = m.group("key")
        if m.group("neg"):
            if m.group("op") or m.group("setop"):
                raise InvalidArgument(f"invalid label selector {text!r}: '!' takes a key alone")
            reqs.append((key, "!exists", ()))
        elif m.group("op"):
            value = m.group("value")
            if not valid_value(value):
                raise InvalidArgument(f"invalid label selector {text!r}: bad value {value!r}")
            reqs.append((key, "!=" if m.group("op") == "!=" else "=", (value,)))
        elif m.group("setop"):
            values = tuple(v.strip() for v in m.group("set").split(","))
            if not all(valid_value(v) for v in values):
                raise InvalidArgument(f"invalid label selector {text!r}: bad value in ({m.group('set')})")
            reqs.append((key, m.group("setop"), values))
        else:
            reqs.append((key, "exists", ()))
    return reqs


def from_match_labels(labels: dict) -> list:
    return [(k, "=", (v,)) for k, v in sorted((labels or {}).items())]


def matches(reqs: list, labels: dict) -> bool:
    labels = labels or {}
    for key, op, values in reqs:
        present = key in labels
        if op == "=" and labels.get(key) != values[0]:
            return False
        if op == "!=" and present and labels[key] == values[0]:
            return False
        if op == "in" and (not present or labels[key] not in values):
            return False
        if op == "notin" and present and labels[key] in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True
