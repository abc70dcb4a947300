"""The API server's pure parts: the three kinds of patch (strategic merge
with the built-in merge keys and directives), watches from the store's
journal (order, selection, 410 when too old), the SPDY dictionary, the
discovery and OpenAPI documents."""

import asyncio
import hashlib
import json

import pytest

from minipod.api import manifests, verbs
from minipod.apiserver import openapi, patches, resources, watch
from minipod.apiserver.status import APIError
from minipod.objects import kinds, store

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
       "spec": {"containers": [{"name": "a", "image": "busybox", "env": [{"name": "X", "value": "1"}],
                                "ports": [{"containerPort": 80}]},
                               {"name": "b", "image": "busybox"}]}}


def test_strategic_merge_merges_lists_by_their_keys():
    patch = {"spec": {"containers": [{"name": "a", "image": "nginx", "env": [{"name": "Y", "value": "2"}]},
                                     {"name": "c", "image": "busybox"}]}}
    out = patches.strategic_merge(POD, patch)
    a = out["spec"]["containers"][0]
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "b", "c"]
    assert a["image"] == "nginx" and a["ports"] == [{"containerPort": 80}]
    assert a["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]
    assert POD["spec"]["containers"][0]["image"] == "busybox"  # the original is left alone


def test_strategic_merge_directives():
    deleted = patches.strategic_merge(POD, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["a"]
    ordered = patches.strategic_merge(POD, {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}})
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["b", "a"]
    replaced = patches.strategic_merge(POD, {"spec": {"containers": [{"name": "z", "image": "x"}, {"$patch": "replace"}]}})
    assert replaced["spec"]["containers"] == [{"name": "z", "image": "x"}]
    gone = patches.strategic_merge(POD, {"metadata": {"name": None}})
    assert "name" not in gone["metadata"]
    fin = patches.strategic_merge({"metadata": {"finalizers": ["a", "b"]}},
                                  {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert fin["metadata"]["finalizers"] == ["b"]
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    assert patches.strategic_merge(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})["spec"]["ports"] == \
        [{"port": 80, "targetPort": 9090}, {"port": 443}]
    args = patches.strategic_merge({"args": ["a", "b"]}, {"args": ["c"]})  # lists without a key: replaced
    assert args == {"args": ["c"]}
    with pytest.raises(APIError):
        patches.strategic_merge(POD, {"spec": {"containers": [{"image": "no-name"}]}})


def test_merge_patch_and_json_patch():
    assert patches.merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}}
    assert patches.json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}]) == {"a": [1, 2]}
    with pytest.raises(APIError) as e:
        patches.json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert e.value.code == 422
    with pytest.raises(APIError) as e:
        patches.apply_patch("text/plain", {}, {})
    assert e.value.code == 415


def _cm(name, **labels):
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {"k": name}}
    return manifests.check([("t", doc)])


def _watch(rv=None, selector=None, seconds=0.6):
    resource = resources.find("", "v1", "configmaps")

    async def collect():
        loop = asyncio.get_running_loop()
        return [e async for e in watch.events(resource, "default", selector, None, rv, True, loop.time() + seconds)]
    return asyncio.run(collect())


def test_a_watch_replays_every_change_after_its_version_in_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    verbs.apply(_cm("a"))
    start = store.revision()
    for i in range(5):
        cm = _cm("a")
        cm[0][1]["data"]["k"] = str(i)
        verbs.apply(cm)
    verbs.delete(kinds.CONFIGMAP, "default", "a")
    events = _watch(str(start))
    assert [e["type"] for e in events] == ["MODIFIED"] * 5 + ["DELETED"]
    assert [e["object"]["data"]["k"] for e in events[:5]] == ["0", "1", "2", "3", "4"]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 6


def test_a_watch_from_now_lists_first_and_follows_the_selection(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    verbs.apply(_cm("x", app="web"))
    verbs.apply(_cm("y", app="db"))
    events = _watch(None, "app=web", seconds=0.3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "x")]
    start = store.revision()
    verbs.apply(_cm("x", app="db"))   # leaves the selection
    verbs.apply(_cm("y", app="web"))  # enters it
    events = _watch(str(start), "app=web")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "x"), ("ADDED", "y")]


def test_a_version_older_than_the_journal_is_gone(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    monkeypatch.setattr(store, "JOURNAL_BYTES", 200)  # rotate after every change or two
    for i in range(10):
        verbs.apply(_cm(f"c{i}"))
    events = _watch("1", seconds=0.2)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    assert _watch(str(store.revision() - 1), seconds=0.2)[0]["type"] == "ADDED"  # still in the journal
    with pytest.raises(APIError) as e:
        watch.parse_version("yesterday")
    assert e.value.code == 400


def test_spdy_dictionary_is_spdy3s():
    from minipod.streaming import spdy
    assert len(spdy.DICTIONARY) == 1423
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == \
        "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"


def test_discovery_and_openapi_cover_every_kind():
    listed = {(r["name"], r["kind"]) for g in ("", "apps", "networking.k8s.io", "discovery.k8s.io",
                                               "gateway.networking.k8s.io")
              for v in resources.GROUPS[g] for r in resources.resource_list(g, v)["resources"]}
    for kind in kinds.KINDS.values():
        assert (kind.plural, kind.kind) in listed
    # a custom resource at every version its CRD serves, the storage version the group's preferred one
    assert resources.GROUPS["gateway.networking.k8s.io"] == ["v1", "v1beta1"]
    assert ("referencegrants", "ReferenceGrant") not in {(r["name"], r["kind"]) for r in resources.resource_list(
        "gateway.networking.k8s.io", "v1")["resources"]}
    route = openapi.group_version_doc("gateway.networking.k8s.io", "v1beta1")["components"]["schemas"][
        "io.k8s.networking.gateway.v1beta1.HTTPRoute"]
    assert route["x-kubernetes-group-version-kind"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                                         "version": "v1beta1"}]
    assert "x-kubernetes-validations" in route["properties"]["spec"]["properties"]["rules"]["items"]
    assert ("nodes", "Node") in listed and ("events", "Event") in listed and ("pods/exec", "PodExecOptions") in listed
    doc = openapi.group_version_doc("", "v1")
    pod = doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    spec_ref = pod["properties"]["spec"]["allOf"][0]["$ref"].rsplit("/", 1)[1]
    containers = doc["components"]["schemas"][spec_ref]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    patch_op = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch_op["parameters"]]
    json.dumps(openapi.swagger_v2())  # serialisable


def test_a_watch_reads_the_journals_older_form_and_only_its_kinds_entries(tmp_path, monkeypatch):
    """Entries written before the previous object moved after a tab (it was
    a key of the entry) still resume a watch; an entry of another kind that
    merely mentions the watched kind's plural in its data is not taken."""
    monkeypatch.setenv("MINIPOD_ROOT", str(tmp_path))
    verbs.apply(_cm("a", app="web"))
    start = store.revision()
    moved = _cm("a", app="db")[0][1]
    verbs.apply([(kinds.CONFIGMAP, moved)])  # leaves app=web: the watch needs what the client had
    lines = store.journal_path().read_bytes().splitlines()
    head, _tab, prev = lines[-1].partition(b"\t")
    entry = {**json.loads(head), "prev": json.loads(prev)}
    lines[-1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()  # as written before
    store.journal_path().write_bytes(b"\n".join(lines) + b"\n")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"plural": "configmaps", "rv": "1"}}
    verbs.apply(manifests.check([("t", secret)]))
    assert b'"plural":"configmaps"' in store.journal_path().read_bytes().splitlines()[-1]
    events = _watch(str(start), "app=web")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("DELETED", "a")]
    assert all(e["object"]["kind"] == "ConfigMap" for e in events)
