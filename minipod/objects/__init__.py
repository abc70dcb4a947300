"""Kubernetes objects on one node: the YAML Kubernetes tutorials use,
validated as strictly as the API server does, kept in the object store.

    manifests = load(paths)      # multi-document YAML from files, dirs or stdin
    objs = check(manifests)      # every document validated before any is applied
    results = apply(objs)        # [(kind, namespace, name, created|configured|unchanged)]

Kinds so far: Namespace, ConfigMap (kinds.py).
"""

import os
import sys

from minipod.errors import InUse, InvalidArgument, NotFound
from minipod.objects import kinds, schema, store

MAX_MANIFEST = 16 << 20


def _read(source: str) -> list:
    """(where, text) of one -f value: a file, a directory's .yaml/.yml/.json
    files (sorted, as kubectl reads them), or - for stdin."""
    if source == "-":
        return [("<stdin>", sys.stdin.read(MAX_MANIFEST))]
    if os.path.isdir(source):
        files = sorted(os.path.join(source, f) for f in os.listdir(source)
                       if f.endswith((".yaml", ".yml", ".json")))
        return [t for f in files for t in _read(f)]
    try:
        with open(source, encoding="utf-8") as f:
            return [(source, f.read(MAX_MANIFEST))]
    except FileNotFoundError:
        raise InvalidArgument(f'the path "{source}" does not exist') from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"cannot read {source}: {e}") from None


def load(sources) -> list:
    """Every document of every source, in order: [(where, doc)]; `kind:
    List` documents (what `kubectl get -o yaml` prints for several) are
    unpacked."""
    import yaml  # only apply and delete -f need it
    out = []
    for source in sources:
        for where, text in _read(source):
            try:
                docs = list(yaml.safe_load_all(text))
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                at = f" line {mark.line + 1}" if mark else ""
                raise InvalidArgument(f"{where}:{at} invalid YAML: {getattr(e, 'problem', e)}") from None
            for i, doc in enumerate(d for d in docs if d is not None):
                label = f"{where} (document {i + 1})" if len(docs) > 1 else where
                if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
                    out += [(f"{label} items[{j}]", item) for j, item in enumerate(doc["items"])]
                else:
                    out.append((label, doc))
    if not out:
        raise InvalidArgument("no objects passed to apply")
    return out


def check(manifests) -> list:
    """Validate every document; return [(Kind, object)] with namespaces
    defaulted. The first mistake raises, naming the document and field."""
    out = []
    for where, doc in manifests:
        if not isinstance(doc, dict):
            raise InvalidArgument(f"{where}: expected an object with apiVersion and kind")
        name = doc.get("kind")
        kind = kinds.KINDS.get(name) if isinstance(name, str) else None
        if kind is None:
            raise InvalidArgument(f"{where}: kind {name!r} is not supported "
                                  f"(minipod knows: {', '.join(sorted(kinds.KINDS))})")
        if doc.get("apiVersion") != kind.api_version:
            raise InvalidArgument(f"{where}: apiVersion {doc.get('apiVersion')!r} is not served for "
                                  f"{kind.kind} (use {kind.api_version})")
        try:
            obj = schema.validate(doc, kinds.schema(kind), "")
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}: {kind.kind}: {e}") from None
        obj.pop("status", None)
        meta = obj["metadata"]
        if kind.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        elif "namespace" in meta:
            del meta["namespace"]  # as the API server does for cluster-scoped kinds
        out.append((kind, obj))
    keys = [(k.kind, o["metadata"].get("namespace"), o["metadata"]["name"]) for k, o in out]
    for key in keys:
        if keys.count(key) > 1:
            raise InvalidArgument(f"{key[0]} {key[2]!r} appears twice in the input")
    return out


def _namespace_exists(name: str, pending: set) -> bool:
    return name in kinds.DEFAULT_NAMESPACES or name in pending or \
        store.get(kinds.NAMESPACE, None, name) is not None


def apply(objs) -> list:
    """Store every checked object; namespaces named by objects must exist or
    be applied in the same input. Returns [(kind, namespace, name, action)]."""
    pending = {o["metadata"]["name"] for k, o in objs if k is kinds.NAMESPACE}
    for kind, obj in objs:
        ns = obj["metadata"].get("namespace")
        if ns and not _namespace_exists(ns, pending):
            raise NotFound(f'namespaces "{ns}" not found ({kind.kind} {obj["metadata"]["name"]})')
    results = []
    for kind, obj in objs:
        _, action = store.put(kind, obj)
        results.append((kind, obj["metadata"].get("namespace"), obj["metadata"]["name"], action))
    return results


def get(kind_name: str, name=None, namespace="default", all_namespaces=False, selector=None) -> tuple:
    """(Kind, objects) as `kubectl get` selects them."""
    from minipod.objects import selectors
    kind = kinds.by_name(kind_name)
    reqs = selectors.parse(selector)
    ns = None if all_namespaces or not kind.namespaced else namespace
    if name:
        obj = store.get(kind, ns, name)
        if obj is None and kind is kinds.NAMESPACE and name in kinds.DEFAULT_NAMESPACES:
            obj = next(o for o in _builtin_namespaces([]) if o["metadata"]["name"] == name)
        if obj is None:
            raise NotFound(f'{kind.plural} "{name}" not found' + (f" in namespace {ns}" if ns else ""))
        objs = [obj]
    else:
        objs = store.list_objects(kind, ns)
        if kind is kinds.NAMESPACE:
            objs = _builtin_namespaces(objs)
    return kind, [o for o in objs if selectors.matches(reqs, o["metadata"].get("labels"))]


def _builtin_namespaces(objs) -> list:
    """default, kube-system and kube-public exist whether applied or not."""
    have = {o["metadata"]["name"] for o in objs}
    extra = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
             for n in kinds.DEFAULT_NAMESPACES if n not in have]
    return sorted(objs + extra, key=lambda o: o["metadata"]["name"])


def delete(kind, namespace, name) -> None:
    """Delete one object; a namespace goes only when nothing lives in it."""
    if kind is kinds.NAMESPACE:
        if name in kinds.DEFAULT_NAMESPACES:
            raise InvalidArgument(f'namespace "{name}" is built in and cannot be deleted')
        for other in kinds.KINDS.values():
            if other.namespaced and store.list_objects(other, name):
                raise InUse(f'namespace "{name}" still holds {other.plural}; delete them first')
    if not store.delete(kind, namespace if kind.namespaced else None, name):
        raise NotFound(f'{kind.plural} "{name}" not found')

