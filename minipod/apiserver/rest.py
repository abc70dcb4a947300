"""The REST verbs of one resource, over minipod.api's verbs (the same ones
the CLI calls, so an object written here and one applied with `minipod
apply` are the same object): get, list (label and field selectors), create,
update, patch (three kinds), delete, and the scale subresource. Blocking
functions; the server runs them in threads. Each returns (code, body) or
raises APIError."""

import json

from minipod import errors
from minipod.api import manifests, verbs
from minipod.apiserver import patches, virtual
from minipod.apiserver.resources import Resource
from minipod.apiserver.status import APIError, of_error, status
from minipod.objects import kinds, selectors, store

# writes the agent acts on
LIVE_KINDS = ("Pod", "Deployment", "ReplicaSet", "Service", "Endpoints", "Ingress", "GatewayClass", "Gateway",
              "HTTPRoute", "ReferenceGrant")


def _ensure_agent(resource: Resource) -> None:
    if resource.kind in LIVE_KINDS:
        from minipod.roles import agent
        agent.ensure_running()


def decode(body: bytes, content_type: str):
    """A request body as JSON (or YAML, which kubectl never sends but curl users do)."""
    if not body:
        raise APIError(400, "the request has no body")
    if content_type == "application/vnd.kubernetes.protobuf":
        from minipod.apiserver import protobuf
        return protobuf.decode(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise APIError(400, "the body is not UTF-8") from None
    if content_type in ("application/yaml", "application/apply-patch+yaml"):
        import yaml
        try:
            return yaml.safe_load(text)
        except (yaml.YAMLError, RecursionError, ValueError) as e:
            raise APIError(400, f"the body is not valid YAML: {getattr(e, 'problem', e)}") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise APIError(400, f"the body is not valid JSON: {e}") from None


def _field_value(obj: dict, path: str):
    if path == "spec.nodeName" and obj.get("kind", "Pod") == "Pod":  # every pod is on this node
        from minipod.roles.kubelet import pods
        return (obj.get("spec") or {}).get("nodeName") or pods.node_name()
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_filter(text: str):
    """A fieldSelector (a=b, a==b, a!=b, comma-separated) as a predicate."""
    if not text:
        return lambda obj: True
    terms = []
    for term in text.split(","):
        if "!=" in term:
            key, value, want = *term.split("!=", 1), False
        elif "==" in term:
            key, value, want = *term.split("==", 1), True
        elif "=" in term:
            key, value, want = *term.split("=", 1), True
        else:
            raise APIError(400, f'invalid field selector: "{text}": "{term}" is not key=value or key!=value')
        terms.append((key.strip(), value.strip(), want))
    return lambda obj: all((_field_value(obj, k) == v) == want for k, v, want in terms)


def label_filter(text: str):
    try:
        reqs = selectors.parse(text)
    except errors.InvalidArgument as e:
        raise APIError(400, str(e)) from None
    return lambda obj: selectors.matches(reqs, obj["metadata"].get("labels"))


def _with_kind(resource: Resource, obj: dict) -> dict:
    """``obj`` as the endpoint serves it: a custom resource stored at v1
    and read at v1beta1 says v1beta1 (the versions' schemas are the same,
    so converting is naming)."""
    return {"apiVersion": resource.group_version, "kind": resource.kind,
            **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}


def _not_found(resource: Resource, name: str) -> APIError:
    what = resource.plural if not resource.group else f"{resource.plural}.{resource.group}"
    return APIError(404, f'{what} "{name}" not found', details={"name": name, "kind": resource.plural,
                                                                 **({"group": resource.group} if resource.group else {})})


def read(resource: Resource, namespace, name) -> dict:
    """One object as `get` shows it (with its live status)."""
    if resource.kind == "Node":
        node = virtual.node()
        if name != node["metadata"]["name"]:
            raise _not_found(resource, name)
        return node
    if resource.stored is None:
        for e in _virtual(resource, namespace):
            if e["metadata"]["name"] == name:
                return e
        raise _not_found(resource, name)
    try:
        _k, objs = verbs.get(resource.plural, name, namespace or "default")
    except errors.NotFound:
        raise _not_found(resource, name) from None
    except errors.MinipodError as e:
        raise of_error(e, resource.plural, name) from None
    return _with_kind(resource, objs[0])


def _virtual(resource: Resource, namespace) -> list:
    if resource.kind == "Node":
        return [virtual.node()]
    if resource.kind == "Event":
        return virtual.events(namespace)
    return virtual.endpoint_slices(namespace)


def list_objects(resource: Resource, namespace, label_selector=None, field_selector=None) -> list:
    """Every object of the resource (in ``namespace``, or all), as `get` shows them."""
    keep_labels, keep_fields = label_filter(label_selector), field_filter(field_selector)
    if resource.stored is None:
        objs = _virtual(resource, namespace)
    else:
        try:
            _k, objs = verbs.get(resource.plural, None, namespace or "default", all_namespaces=namespace is None)
        except errors.MinipodError as e:
            raise of_error(e, resource.plural) from None
        objs = [_with_kind(resource, o) for o in objs]
    return [o for o in objs if keep_labels(o) and keep_fields(o)]


def metrics_of(resource: Resource, namespace, label_selector=None) -> list:
    """PodMetrics of the pods (in ``namespace``, or all) or NodeMetrics of
    the node, sampled now (minipod.apiserver.metrics)."""
    from minipod.apiserver import metrics, resources
    if resource.kind == "PodMetrics":
        return metrics.pods(list_objects(resources.find("", "v1", "pods"), namespace, label_selector))
    return [metrics.node(n) for n in list_objects(resources.find("", "v1", "nodes"), None, label_selector)]


def list_body(resource: Resource, objs: list, revision: int) -> dict:
    return {"apiVersion": resource.group_version, "kind": f"{resource.kind}List",
            "metadata": {"resourceVersion": str(revision)}, "items": objs}


def _read_only(resource: Resource):
    if resource.stored is None:
        raise APIError(405, f"{resource.plural} are the node's own and cannot be written", "MethodNotAllowed")


def _checked(resource: Resource, namespace, name, doc, verb: str) -> dict:
    """``doc`` validated as `minipod apply` validates it, with the URL's
    namespace and name; kubectl's words for what strict decoding refuses."""
    if not isinstance(doc, dict):
        raise APIError(400, f"the body of a {verb} must be a JSON object")
    doc = dict(doc)
    doc.setdefault("apiVersion", resource.group_version)
    doc.setdefault("kind", resource.kind)
    if doc.get("kind") != resource.kind or doc.get("apiVersion") != resource.group_version:
        raise APIError(400, f'the API version in the data ({doc.get("apiVersion")}) does not match the expected '
                            f'API version ({resource.group_version}) or kind ({doc.get("kind")} != {resource.kind})')
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise APIError(422, f"{resource.kind} is invalid: metadata: Required value", "Invalid")
    meta = dict(meta)
    if resource.namespaced:
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise APIError(400, "the namespace of the provided object does not match the namespace sent on the "
                                "request")
        meta["namespace"] = namespace
    if name is not None and meta.get("name") != name:
        raise APIError(400, f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                            f"({name})")
    if not meta.get("name") and meta.get("generateName"):
        from minipod.roles.controllers import deployments
        meta["name"] = meta["generateName"] + deployments.suffix()
    doc["metadata"] = meta
    try:
        [(_kind, obj)] = manifests.check([("", doc)])
    except errors.InvalidArgument as e:
        text = str(e).lstrip(": ")
        text = text.split(": ", 1)[1] if text.startswith(f"{resource.kind}: ") else text
        field, _, problem = text.rpartition(": ")
        if problem == "unknown field":
            raise APIError(400, f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                f'{resource.kind}: strict decoding error: unknown field "{field}"') from None
        raise _invalid(resource, meta.get("name"), field, problem) from None
    if meta.get("resourceVersion"):
        obj["metadata"]["resourceVersion"] = meta["resourceVersion"]
    return obj


# The StatusCause reason of a field error, by the words its message starts with (field.ErrorType).
CAUSES = (("Required value", "FieldValueRequired"), ("Unsupported value", "FieldValueNotSupported"),
          ("Forbidden", "FieldValueForbidden"), ("Duplicate value", "FieldValueDuplicate"))


def _invalid(resource, name: str, field: str, problem: str) -> APIError:
    """422 Invalid as the API server words it (errors.NewInvalid): the kind
    qualified by its group, and the field error as a cause, which is what
    kubectl prints: 'The NetworkPolicy "x" is invalid: spec.…: Required value: …'."""
    qualified = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    reason = next((r for words, r in CAUSES if problem.startswith(words)), "FieldValueInvalid")
    cause = {"reason": reason, "message": problem, "field": field} if field else {"reason": reason, "message": problem}
    text = f"{field}: {problem}" if field else problem
    return APIError(422, f'{qualified} "{name}" is invalid: {text}', "Invalid",
                    {"name": name, "group": resource.group, "kind": resource.kind, "causes": [cause]})


def _warnings(results, stored=None) -> list:
    from minipod.api import admission
    try:
        return admission.warnings(results, stored)
    except errors.MinipodError:
        return []


def create(resource: Resource, namespace, doc, dry_run=False) -> tuple:
    """POST: (201, object, warnings)."""
    _read_only(resource)
    obj = _checked(resource, namespace, None, doc, "create")
    obj["metadata"].pop("resourceVersion", None)
    try:
        stored = verbs.create(resource.stored, obj, dry_run)
    except errors.MinipodError as e:
        raise of_error(e, resource.plural, obj["metadata"]["name"]) from None
    if dry_run:  # checked, defaulted, allocated as a create would be; nothing stored
        return 201, _with_kind(resource, verbs.shown(resource.stored, stored)), []
    _ensure_agent(resource)
    name = stored["metadata"]["name"]
    warnings = _warnings([(resource.stored, namespace, name, "created")], {(resource.plural, namespace, name): stored})
    return 201, _with_kind(resource, verbs.shown(resource.stored, stored)), warnings


def _update(resource: Resource, namespace, name, obj, dry_run=False) -> tuple:
    """Store ``obj`` as an update of the named object: (200, it as `get`
    shows it, warnings); Conflict propagates (a patch tries again).
    ``dry_run``: the object as it would be stored, nothing written."""
    try:
        stored, action = verbs.update(resource.stored, obj, dry_run)
    except errors.Conflict:
        raise
    except errors.NotFound:
        raise _not_found(resource, name) from None
    except errors.MinipodError as e:
        raise of_error(e, resource.plural, name) from None
    if dry_run:
        return 200, _with_kind(resource, verbs.shown(resource.stored, stored)), []
    _ensure_agent(resource)
    return 200, _with_kind(resource, verbs.shown(resource.stored, stored)), \
        _warnings([(resource.stored, namespace, name, action)], {(resource.plural, namespace, name): stored})


def replace(resource: Resource, namespace, name, doc, dry_run=False) -> tuple:
    """PUT: (200, object, warnings)."""
    _read_only(resource)
    obj = _checked(resource, namespace, name, doc, "update")
    try:
        return _update(resource, namespace, name, obj, dry_run)
    except errors.Conflict as e:
        raise of_error(e, resource.plural, name) from None


def patch(resource: Resource, namespace, name, content_type: str, body, dry_run=False) -> tuple:
    """PATCH: the stored object with the patch applied, validated and
    stored as an update that expects the version it was made from (tried
    again, as kube-apiserver does, if another write came between)."""
    _read_only(resource)
    for _attempt in range(5):
        current = store.get(resource.stored, namespace if resource.namespaced else None, name)
        if current is None:
            raise _not_found(resource, name)
        base = _with_kind(resource, store.desired(current))
        base["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        base["metadata"]["uid"] = current["metadata"]["uid"]
        result = patches.apply_patch(content_type, base, body)
        obj = _checked(resource, namespace, name, result, "patch")
        obj["metadata"].pop("uid", None)
        pinned = obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]
        try:
            return _update(resource, namespace, name, obj, dry_run)
        except errors.Conflict as e:
            if pinned:  # the patch itself named a version: its conflict is the client's
                raise of_error(e, resource.plural, name) from None
            # someone wrote between our read and our write: patch the newer object
    raise APIError(409, f'{resource.plural} "{name}": too many concurrent writes, try again', "Conflict")


def delete(resource: Resource, namespace, name, options: dict) -> tuple:
    """DELETE with DeleteOptions (gracePeriodSeconds for a Pod's containers;
    preconditions.uid; a Deployment's pods go with it whatever the
    propagation policy but Orphan, which is refused)."""
    _read_only(resource)
    if options.get("propagationPolicy") == "Orphan":
        raise APIError(422, "minipod does not orphan dependents: propagationPolicy Orphan is not supported",
                       "Invalid")
    uid = (options.get("preconditions") or {}).get("uid")
    if resource.kind == "Namespace":
        try:
            obj = verbs.terminate_namespace(name)
        except errors.NotFound:
            raise _not_found(resource, name) from None
        except errors.MinipodError as e:
            raise of_error(e, resource.plural, name) from None
        import threading
        threading.Thread(target=_finish_namespace, args=(name,), daemon=True).start()
        return 200, _with_kind(resource, obj), []
    grace = options.get("gracePeriodSeconds")
    try:
        grace = None if grace is None else max(0.0, min(float(grace), 3600.0))
    except (TypeError, ValueError):
        raise APIError(400, f"gracePeriodSeconds must be a number, not {grace!r}") from None
    try:
        obj = verbs.delete(resource.stored, namespace, name, uid, grace)
    except errors.NotFound:
        raise _not_found(resource, name) from None
    except errors.MinipodError as e:
        raise of_error(e, resource.plural, name) from None
    return 200, _with_kind(resource, obj), []


NAMESPACE_PASS = 1.0  # the namespace controller's pass comes this long after the deletion's request


def _finish_namespace(name: str) -> None:
    """The namespace controller: what the namespace holds goes, then the
    namespace (its watchers see it DELETED). Like the real one, it comes a
    moment later, so a client deleting a file's objects one by one after
    its Namespace (as `kubectl delete -f` does) still finds them."""
    import time
    time.sleep(NAMESPACE_PASS)
    try:
        verbs.delete(kinds.NAMESPACE, None, name)
    except errors.NotFound:
        pass
    except errors.MinipodError as e:
        print(f"minipod.apiserver: deleting namespace {name}: {e}", flush=True)


def finish_terminating_namespaces() -> None:
    """The namespace controller's pass for namespaces a killed server left
    Terminating."""
    import threading
    for ns in store.list_objects(kinds.NAMESPACE):
        if ns["metadata"].get("deletionTimestamp"):
            threading.Thread(target=_finish_namespace, args=(ns["metadata"]["name"],), daemon=True).start()


def scale_of(resource: Resource, obj: dict) -> dict:
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    match = (spec.get("selector") or {}).get("matchLabels") or {}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                          "creationTimestamp") if k in obj["metadata"]},
            "spec": {"replicas": spec.get("replicas", 1)},
            "status": {"replicas": st.get("replicas", 0), "selector": ",".join(f"{k}={v}" for k, v in match.items())}}


def write_scale(resource: Resource, namespace, name, content_type: str, body) -> tuple:
    """PUT or PATCH of deployments/NAME/scale (kubectl scale)."""
    current = read(resource, namespace, name)
    scale = scale_of(resource, current)
    new = body if content_type is None else patches.apply_patch(content_type, scale, body)
    replicas = (new.get("spec") or {}).get("replicas") if isinstance(new, dict) else None
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= 1000:
        raise APIError(422, f'Scale.autoscaling "{name}" is invalid: spec.replicas: must be 0-1000', "Invalid")
    want = (new.get("metadata") or {}).get("resourceVersion")
    if want and want != current["metadata"]["resourceVersion"]:
        raise of_error(errors.Conflict(f'Operation cannot be fulfilled on {resource.plural}.apps "{name}": the object '
                                       "has been modified; please apply your changes to the latest version and "
                                       "try again"))
    try:
        verbs.scale(resource.plural, namespace, name, replicas)
    except errors.MinipodError as e:
        raise of_error(e, resource.plural, name) from None
    _ensure_agent(resource)
    return 200, scale_of(resource, read(resource, namespace, name)), []


def success(name: str, resource: Resource) -> dict:
    return status(200, "", details={"name": name, "kind": resource.plural})
