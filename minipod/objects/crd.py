"""Custom resources checked as the API server checks them against their
CustomResourceDefinition: unknown fields refused (kubectl's default,
strict field validation), the schema's defaults filled in, then every
OpenAPI constraint and every CEL rule (x-kubernetes-validations) of the
structural schema. The first mistake raises, worded as the API server
words it (``spec.rules[0]: Invalid value: "object": RequestRedirect filter
must not be used together with backendRefs``).

The definitions are the Gateway API's own (gateway/crds.json, kept by
scripts/vendor-gateway-api). CEL is evaluated by the
`common-expression-language` package, imported only when an object with
rules is checked; Kubernetes' string extension ``split`` is added to it.
Transition rules (those that read ``oldSelf``) run on update, against
the stored object's value at the same place, as the API server's do.
"""

import datetime
import functools
import ipaddress
import json
import pathlib
import re

from minipod.errors import InvalidArgument

DEFINITIONS = pathlib.Path(__file__).with_name("gateway") / "crds.json"
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int}
_INT_RANGE = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1)}


@functools.cache
def definitions() -> dict:
    """{kind: the CRD as vendored: group, names, scope, versions}."""
    data = json.loads(DEFINITIONS.read_text())
    return {c["names"]["kind"]: c for c in data["crds"]}


def version(kind: str, name: str) -> dict:
    """One served version of a kind's CRD: name, schema, printer columns."""
    for v in definitions()[kind]["versions"]:
        if v["name"] == name:
            return v
    raise KeyError(f"{kind} has no version {name}")


def storage_version(kind: str) -> dict:
    return next(v for v in definitions()[kind]["versions"] if v["storage"])


class _Invalid(Exception):
    """One field error: (path, text as the API server writes it)."""


def _quote(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return '"object"' if isinstance(value, dict) else '"array"'
    return json.dumps(value)


def _fail(path: str, text: str):
    raise _Invalid(f"{path}: {text}")


def check(obj: dict, kind: str, version_name: str, old=None) -> dict:
    """``obj`` (spec and what else its schema has; metadata is checked by
    the caller) with the schema's defaults filled in; InvalidArgument
    naming the first mistake. ``old``: the stored object, for transition
    rules."""
    root = version(kind, version_name)["schema"]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    schema = {**root, "properties": {k: v for k, v in root.get("properties", {}).items()
                                     if k not in ("apiVersion", "kind", "metadata", "status")},
              "required": [r for r in root.get("required", []) if r not in ("metadata", "status")]}
    old_body = None if old is None else {k: v for k, v in old.items() if k in body}
    try:
        checked = _node(body, schema, "", old_body)
    except _Invalid as e:
        raise InvalidArgument(str(e)) from None
    return {**obj, **checked}


def _node(value, schema: dict, path: str, old):
    """Check one value against its schema (children first, as the API
    server's errors come); return it with defaults filled in."""
    kind = schema.get("type")
    if kind and not _is_type(value, kind):
        _fail(path, f"Invalid value: {_quote(value)}: {path} in body must be of type {kind}: "
                    f'"{_type_of(value)}"')
    if isinstance(value, dict):
        value = _object(value, schema, path, old)
    elif isinstance(value, list):
        value = _array(value, schema, path, old)
    else:
        _scalar(value, schema, path)
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            matched = sum(_matches(value, s) for s in schema[combinator])
            if matched == 0 or (combinator == "oneOf" and matched > 1):
                _fail(path, f"Invalid value: {_quote(value)}: {path or 'body'} in body must match "
                            f"{'exactly one' if combinator == 'oneOf' else 'at least one'} schema in {combinator}")
    if "not" in schema and _matches(value, schema["not"]):
        _fail(path, f"Invalid value: {_quote(value)}: {path} in body must not match the schema in not")
    for rule in schema.get("x-kubernetes-validations", []):
        _rule(rule, value, old, path)
    return value


def _matches(value, schema: dict) -> bool:
    try:
        _node(value, schema, "", None)
    except _Invalid:
        return False
    return True


def _is_type(value, kind: str) -> bool:
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "number":
        return isinstance(value, (int, float))
    return isinstance(value, _TYPES.get(kind, object))


def _type_of(value) -> str:
    for name, t in (("boolean", bool), ("integer", int), ("number", float), ("string", str),
                    ("object", dict), ("array", list)):
        if isinstance(value, t):
            return name
    return "null"


def _object(value: dict, schema: dict, path: str, old) -> dict:
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    out = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if props is not None and key in props:
            sub = props[key]
        elif isinstance(extra, dict):
            sub = extra
        elif (props is None and extra is None) or "type" not in schema:
            # A free-form object, or a oneOf/anyOf/not branch: those have no
            # type and constrain only the fields they name.
            sub = {}
        else:
            _fail(where, "unknown field")
        if item is None and not sub.get("nullable"):
            continue  # null is pruned, as the API server does, then defaulted
        out[key] = _node(item, sub, where, old.get(key) if isinstance(old, dict) else None)
    for key, sub in (props or {}).items():
        if key not in out and "default" in sub:
            out[key] = _node(json.loads(json.dumps(sub["default"])), sub, f"{path}.{key}" if path else key, None)
    for key in schema.get("required", []):
        if key not in out:
            _fail(f"{path}.{key}" if path else key, "Required value")
    if "maxProperties" in schema and len(out) > schema["maxProperties"]:
        _fail(path, f"Too many: {len(out)}: must have at most {schema['maxProperties']} items")
    if "minProperties" in schema and len(out) < schema["minProperties"]:
        _fail(path, f"Invalid value: {len(out)}: {path} in body should have at least "
                    f"{schema['minProperties']} properties")
    return out


def _array(value: list, schema: dict, path: str, old) -> list:
    item_schema = schema.get("items", {})
    list_type = schema.get("x-kubernetes-list-type")
    keys = schema.get("x-kubernetes-list-map-keys", [])
    olds = {}
    if list_type == "map" and isinstance(old, list):  # correlated by key, as transition rules need
        olds = {tuple(o.get(k) for k in keys): o for o in old if isinstance(o, dict)}
    out = []
    for i, item in enumerate(value):
        key = tuple(item.get(k) for k in keys) if list_type == "map" and isinstance(item, dict) else None
        out.append(_node(item, item_schema, f"{path}[{i}]", olds.get(key)))
    if "maxItems" in schema and len(out) > schema["maxItems"]:
        _fail(path, f"Too many: {len(out)}: must have at most {schema['maxItems']} items")
    if "minItems" in schema and len(out) < schema["minItems"]:
        _fail(path, f"Invalid value: {len(out)}: {path} in body should have at least {schema['minItems']} items")
    if list_type in ("map", "set"):
        seen = []
        for i, item in enumerate(out):
            key = tuple(item.get(k) for k in keys) if list_type == "map" else item
            if key in seen:
                shown = dict(zip(keys, key)) if list_type == "map" else item
                _fail(f"{path}[{i}]", f"Duplicate value: {json.dumps(shown)}")
            seen.append(key)
    return out


def _scalar(value, schema: dict, path: str) -> None:
    if "enum" in schema and value not in schema["enum"]:
        _fail(path, f"Unsupported value: {_quote(value)}: supported values: "
                    f"{', '.join(_quote(e) for e in schema['enum'])}")
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            _fail(path, f"Too long: may not be more than {schema['maxLength']} bytes")
        if "minLength" in schema and len(value) < schema["minLength"]:
            _fail(path, f"Invalid value: {_quote(value)}: {path} in body should be at least "
                        f"{schema['minLength']} chars long")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            _fail(path, f"Invalid value: {_quote(value)}: {path} in body should match '{schema['pattern']}'")
        problem = _format(value, schema.get("format"))
        if problem:
            _fail(path, f"Invalid value: {_quote(value)}: {path} in body must be of type {problem}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = _INT_RANGE.get(schema.get("format"), (None, None))
        if "minimum" in schema and value < schema["minimum"]:
            _fail(path, f"Invalid value: {value}: {path} in body should be greater than or equal to "
                        f"{schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            _fail(path, f"Invalid value: {value}: {path} in body should be less than or equal to "
                        f"{schema['maximum']}")
        if low is not None and not low <= value <= high:
            _fail(path, f"Invalid value: {value}: {path} in body must be of type {schema['format']}")


@functools.cache
def _pattern(text: str):
    return re.compile(text)


def _format(value: str, name) -> str:
    """The format's name if ``value`` is not of it, else ''."""
    try:
        if name == "ipv4":
            ipaddress.IPv4Address(value)
        elif name == "ipv6":
            ipaddress.IPv6Address(value)
        elif name == "date-time":
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return name
    return ""


def _rule(rule: dict, value, old, path: str) -> None:
    """One CEL rule; a transition rule (reads oldSelf) only on update of
    a value that was there before."""
    program, transition = _compile(rule["rule"])
    if transition and old is None:
        return
    context = {"self": value, "split": _split}
    if transition:
        context["oldSelf"] = old
    try:
        ok = program.execute(context)
    except Exception as e:  # an error evaluating the rule, e.g. a field read that is absent: a failure, as the API's
        _fail(path or "<root>", f"Invalid value: {_quote(value)}: {e} evaluating rule: {rule['rule']}")
    if ok is not True:
        message = rule.get("message") or f"failed rule: {rule['rule']}"
        _fail(path or "<root>", f"Invalid value: {_quote(value)}: {message}")


@functools.cache
def _compile(text: str):
    import cel  # only when an object with rules is checked (~130 ms to import)
    return cel.compile(text), re.search(r"\boldSelf\b", text) is not None


def _split(text: str, separator: str, limit: int = -1) -> list:
    """Kubernetes' CEL string extension ``split``, as Go's strings.SplitN."""
    if limit == 0:
        return []
    return text.split(separator, limit - 1) if limit > 0 else text.split(separator)
