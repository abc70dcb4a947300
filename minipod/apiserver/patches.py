"""The three kinds of PATCH kubectl sends: strategic merge patch (lists of
the built-in types merged by their merge keys: containers by name, ports by
containerPort or port, env and volumes by name, volumeMounts by mountPath
…, with the $patch, $setElementOrder, $deleteFromPrimitiveList and
$retainKeys directives), JSON merge patch (RFC 7386) and JSON patch
(RFC 6902, by the jsonpatch library). Pure functions on JSON values."""

import copy

from minipod.apiserver.status import APIError

# Lists merged by a key (the patchMergeKey of the Kubernetes Go types),
# by field name; "ports" depends on whose ports they are (see _merge_key).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "ownerReferences": "uid", "conditions": "type", "topologySpreadConstraints":
    "topologyKey", "envFrom": None, "tolerations": None, "args": None, "command": None,
}
PRIMITIVE_MERGE = {"finalizers"}  # lists of scalars merged as sets (patchStrategy merge)


def _merge_key(path: list, field: str):
    """The merge key of list ``field`` under ``path`` (None: replaced whole;
    "": a list of scalars merged as a set)."""
    if field == "ports":
        return "containerPort" if any(p in ("containers", "initContainers") for p in path) else "port"
    if field in PRIMITIVE_MERGE:
        return ""
    if field == "conditions" and "status" not in path:
        return None
    return MERGE_KEYS.get(field)


def _strip(value):
    """A value with every directive removed (what a replaced part becomes)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


def strategic_merge(original, patch, path=None):
    """``original`` with the strategic merge ``patch`` applied."""
    path = path or []
    if not isinstance(patch, dict):
        return _strip(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise APIError(400, f"unknown patch directive {directive!r}")
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if not isinstance(value, list):
                raise APIError(400, f"{key}: must be a list")
            if isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, path + [key])
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, _merge_key(path, key), path + [key])
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list) and isinstance(order, list):
            result[field] = _ordered(result[field], order, _merge_key(path, field))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _merge_list(original, patch: list, key, path: list) -> list:
    if key is None:
        return _strip(patch)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return _strip([p for p in patch if not (isinstance(p, dict) and p.get("$patch") == "replace")])
    out = copy.deepcopy(original) if isinstance(original, list) else []
    if key == "":
        return out + [v for v in patch if v not in out]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise APIError(400, f"{'.'.join(path)}: an element without its merge key {key!r}")
        at = next((i for i, o in enumerate(out) if isinstance(o, dict) and o.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del out[at]
        elif at is None:
            out.append(_strip(item))
        else:
            out[at] = strategic_merge(out[at], item, path)
    return out


def _ordered(items: list, order: list, key) -> list:
    """$setElementOrder: the listed elements in that order, then the rest."""
    if key in (None, ""):
        rank = {repr(v): i for i, v in enumerate(order)}
        return sorted(items, key=lambda v: rank.get(repr(v), len(rank)))
    rank = {o.get(key): i for i, o in enumerate(order) if isinstance(o, dict)}
    return sorted(items, key=lambda v: rank.get(v.get(key) if isinstance(v, dict) else None, len(rank)))


def merge_patch(original, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(original, operations):
    """RFC 6902 JSON patch (a list of operations)."""
    import jsonpatch
    if not isinstance(operations, list):
        raise APIError(400, "a JSON patch must be a list of operations")
    try:
        return jsonpatch.JsonPatch(operations).apply(copy.deepcopy(original))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError, ValueError) as e:
        raise APIError(422, f"the JSON patch cannot be applied: {e}", "Invalid") from None


def apply_patch(content_type: str, original, patch):
    """Apply a PATCH body of ``content_type``; 415 for a type not served."""
    if content_type == "application/strategic-merge-patch+json":
        return strategic_merge(original, patch)
    if content_type == "application/merge-patch+json":
        return merge_patch(original, patch)
    if content_type == "application/json-patch+json":
        return json_patch(original, patch)
    raise APIError(415, f"the body of the request was in an unknown format - accepted media types include: "
                        "application/json-patch+json, application/merge-patch+json, "
                        f"application/strategic-merge-patch+json (not {content_type!r})")
