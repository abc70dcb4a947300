"""Kubernetes manifests as users write them: multi-document YAML from
files, directories or stdin (load), each document validated as strictly
as the API server does, with its namespace defaulted (check).

    objs = check(load(paths))   # [(Kind, object)], every document checked first
"""

import os
import sys

from minipod.errors import InvalidArgument
from minipod.objects import defaults
from minipod.objects import kinds, schema

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
        if doc.get("apiVersion") not in kind.versions():
            raise InvalidArgument(f"{where}: apiVersion {doc.get('apiVersion')!r} is not served for "
                                  f"{kind.kind} (use {' or '.join(kind.versions())})")
        try:
            obj = schema.validate(doc, kinds.schema(kind), "")
            if kind.crd:
                from minipod.objects import crd
                obj = crd.check(obj, kind.kind, obj["apiVersion"].rpartition("/")[2])
                obj["apiVersion"] = kind.api_version  # stored at the storage version (the schemas are the same)
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}: {kind.kind}: {e}") from None
        obj.pop("status", None)
        meta = obj["metadata"]
        if kind.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        elif "namespace" in meta:
            del meta["namespace"]  # as the API server does for cluster-scoped kinds
        if kind.kind in kinds.CHECKS:
            try:
                kinds.CHECKS[kind.kind](obj)
            except InvalidArgument as e:
                raise InvalidArgument(f"{where}: {kind.kind} {meta['name']!r}: {e}") from None
        out.append((kind, defaults.apply(kind.kind, obj)))
    keys = [(k.kind, o["metadata"].get("namespace"), o["metadata"]["name"]) for k, o in out]
    for key in keys:
        if keys.count(key) > 1:
            raise InvalidArgument(f"{key[0]} {key[2]!r} appears twice in the input")
    return out
