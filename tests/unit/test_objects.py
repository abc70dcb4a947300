"""Kubernetes objects: label selectors, strict validation with field paths,
manifests (multi-document, List), and the object store. No root needed."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minipod.api import manifests, verbs
from minipod.errors import InvalidArgument, MinipodError, NotFound
from minipod import state
from minipod.objects import kinds, selectors, store

from tests.unit.test_properties import ARGV_TEXT, JSON


def test_selectors_like_kubectl():
    reqs = selectors.parse("app=web,tier!=db,env in (prod, staging),!legacy,team")
    assert selectors.matches(reqs, {"app": "web", "env": "prod", "team": "a"})
    assert not selectors.matches(reqs, {"app": "web", "env": "dev", "team": "a"})
    assert not selectors.matches(reqs, {"app": "web", "env": "prod", "team": "a", "legacy": "y"})
    assert not selectors.matches(reqs, {"app": "web", "env": "prod"})
    assert selectors.matches(selectors.parse("app==web"), {"app": "web"})
    assert selectors.matches(selectors.parse("env notin (a)"), {})
    assert selectors.matches([], {"anything": "x"})
    for bad in ("app=", "=web", "app=we b", "!app=web", "a b", "app in (x"):
        if bad == "app=":
            assert selectors.parse(bad) == [("app", "=", ("",))]  # an empty value is valid
            continue
        with pytest.raises(InvalidArgument):
            selectors.parse(bad)


@given(ARGV_TEXT)
def test_selectors_never_crash(text):
    try:
        reqs = selectors.parse(text)
    except MinipodError:
        return
    selectors.matches(reqs, {"app": "web"})


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "labels": {"app": "web"}},
      "data": {"k": "v"}}


def _check(doc):
    return manifests.check([("in.yaml", doc)])


@pytest.mark.parametrize("change,words", [
    (lambda d: d.update(kind="Gizmo"), "kind 'Gizmo' is not supported"),
    (lambda d: d.update(apiVersion="apps/v1"), "apiVersion 'apps/v1' is not served"),
    (lambda d: d.update(extra=1), "extra: unknown field"),
    (lambda d: d["metadata"].update(nmae="x"), "metadata.nmae: unknown field"),
    (lambda d: d["metadata"].pop("name"), "metadata.name: required value"),
    (lambda d: d["metadata"].update(name="Bad_Name"), "metadata.name: must be a DNS subdomain"),
    (lambda d: d["metadata"].update(namespace="no/slash"), "metadata.namespace: must be a DNS label"),
    (lambda d: d["metadata"].update(labels={"app": "we b"}), "metadata.labels: invalid label value"),
    (lambda d: d["metadata"].update(labels={"-x": "y"}), "metadata.labels: invalid label key"),
    (lambda d: d["metadata"].update(labels=["app"]), "metadata.labels: must be a map"),
    (lambda d: d.update(data={"k": 5}), "data: must be a map of strings"),
    (lambda d: d.update(data="text"), "data: must be a map of strings"),
    (lambda d: d.update(immutable="yes"), "immutable: must be a boolean"),
    (lambda d: d["metadata"].update(generation="1"), "metadata.generation: must be an integer"),
    (lambda d: d.update(metadata=[]), "metadata: must be an object"),
])
def test_mistakes_are_refused_with_the_field_path(change, words):
    import copy
    doc = copy.deepcopy(CM)
    change(doc)
    with pytest.raises(InvalidArgument, match=words):
        _check(doc)


def test_kubectl_get_output_applies_unchanged():
    """What `kubectl get cm -o yaml` prints: server fields and status accepted."""
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
           "metadata": {"name": "cfg", "namespace": "default", "uid": "1b2c", "resourceVersion": "812",
                        "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{"manager": "kubectl"}],
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
           "status": {"anything": True}}
    [(kind, obj)] = _check(doc)
    assert kind is kinds.CONFIGMAP and "status" not in obj


def test_store_create_update_unchanged_delete(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    [(kind, obj)] = _check(dict(CM))
    saved, action = store.put(kind, obj)
    assert action == "created" and saved["metadata"]["namespace"] == "default"
    assert saved["metadata"]["resourceVersion"] == "1" and saved["metadata"]["uid"]
    assert store.put(kind, obj)[1] == "unchanged"
    [(kind, changed)] = _check({**CM, "data": {"k": "w"}})
    again, action = store.put(kind, changed)
    assert action == "configured" and again["metadata"]["uid"] == saved["metadata"]["uid"]
    assert again["metadata"]["resourceVersion"] == "2"
    # what the store printed applies back unchanged
    [(kind, echoed)] = _check(again)
    assert store.put(kind, echoed)[1] == "unchanged"
    assert [o["metadata"]["name"] for o in store.list_objects(kind, "default")] == ["cfg"]
    verbs.delete(kind, "default", "cfg")
    with pytest.raises(NotFound):
        verbs.delete(kind, "default", "cfg")


def test_namespaces_must_exist_and_go_with_what_they_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    cm = {**CM, "metadata": {"name": "cfg", "namespace": "shop"}}
    with pytest.raises(NotFound, match='namespaces "shop" not found'):
        verbs.apply(_check(cm))
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}
    verbs.apply(manifests.check([("a", ns), ("b", cm)]))  # made in the same input: fine
    with pytest.raises(InvalidArgument, match="built in"):
        verbs.delete(kinds.NAMESPACE, None, "default")
    assert verbs.get("namespace", "kube-system")[1][0]["metadata"]["name"] == "kube-system"
    names = [o["metadata"]["name"] for o in verbs.get("ns")[1]]
    assert names == ["default", "kube-public", "kube-system", "shop"]
    verbs.delete(kinds.NAMESPACE, None, "shop")  # as the namespace controller: with what it holds
    assert store.get(kinds.CONFIGMAP, "shop", "cfg") is None
    assert [o["metadata"]["name"] for o in verbs.get("ns")[1]] == ["default", "kube-public", "kube-system"]
    assert [o["metadata"]["name"] for o in verbs.get("cm", all_namespaces=True, selector="app")[1]] == []


def test_manifests_multi_document_lists_and_errors(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
                 "  metadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
    assert [doc["metadata"]["name"] for _, doc in manifests.load([str(f)])] == ["a", "b"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: [unclosed\n")
    with pytest.raises(InvalidArgument, match="line 3 invalid YAML: expected"):
        manifests.load([str(bad)])
    with pytest.raises(InvalidArgument, match="does not exist"):
        manifests.load([str(tmp_path / "missing.yaml")])
    twice = [("x", dict(CM)), ("y", dict(CM))]
    with pytest.raises(InvalidArgument, match="appears twice"):
        manifests.check(twice)


@given(JSON)
def test_any_document_is_checked_without_crashing(doc):
    try:
        manifests.check([("fuzz", doc)])
    except MinipodError:
        pass


@given(st.fixed_dictionaries({"apiVersion": st.just("v1"), "kind": st.sampled_from(["ConfigMap", "Namespace"]),
                              "metadata": JSON, "data": JSON}))
def test_shaped_documents_are_checked_without_crashing(doc):
    try:
        manifests.check([("fuzz", doc)])
    except MinipodError:
        pass


def test_shared_listing_reuses_unchanged_objects_and_sees_every_write(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    monkeypatch.setattr(state, "SETTLED_NS", 0)  # every file counts as settled at once
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "default"},
           "data": {"k": "1"}}
    store.put(kinds.CONFIGMAP, obj)
    first = store.list_objects(kinds.CONFIGMAP, shared=True)
    assert store.list_objects(kinds.CONFIGMAP, shared=True)[0] is first[0]  # unchanged: the same dict
    store.put(kinds.CONFIGMAP, {**obj, "data": {"k": "2"}})  # same size, new file
    again = store.list_objects(kinds.CONFIGMAP, shared=True)
    assert again[0] is not first[0] and again[0]["data"] == {"k": "2"}
    # a file younger than SETTLED_NS is read every time, never trusted by its stamp
    monkeypatch.setattr(state, "SETTLED_NS", 10 ** 12)
    store.put(kinds.CONFIGMAP, {**obj, "data": {"k": "3"}})
    one, two = store.list_objects(kinds.CONFIGMAP, shared=True), store.list_objects(kinds.CONFIGMAP, shared=True)
    assert one[0] is not two[0] and two[0]["data"] == {"k": "3"}
    store.delete(kinds.CONFIGMAP, "default", "a")
    assert store.list_objects(kinds.CONFIGMAP, shared=True) == [] and not store.any_objects(kinds.CONFIGMAP)


def test_allocation_summaries_follow_the_service_files(tmp_path, monkeypatch):
    from minipod.objects import allocations
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    monkeypatch.setattr(state, "SETTLED_NS", 0)
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"clusterIP": "10.96.0.11", "type": "NodePort", "ports": [{"port": 80, "nodePort": 30000}]}}
    store.put(kinds.SERVICE, svc)
    assert allocations.stored() == {("default", "web"): {"ip": "10.96.0.11", "ports": [30000], "lb": None}}
    store.put(kinds.SERVICE, {**svc, "spec": {**svc["spec"], "clusterIP": "10.96.0.12"}})  # written behind its back
    assert allocations.stored()[("default", "web")]["ip"] == "10.96.0.12"
    store.delete(kinds.SERVICE, "default", "web")
    assert allocations.stored() == {}
