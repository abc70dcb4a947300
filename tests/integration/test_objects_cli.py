"""apply / get / describe / delete through the real CLI, as a learner
types them: Namespaces and ConfigMaps so far."""

import json

from tests.integration.conftest import mp

SHOP = """apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: web
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
  labels:
    app: web
data:
  index.html: |
    hello from a configmap
  mode: production
"""


def test_apply_get_describe_delete_round_trip(tmp_path):
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(SHOP)
    assert mp("apply", "-f", manifest).stdout == "namespace/shop created\nconfigmap/web-config created\n"
    assert mp("apply", "-f", manifest).stdout == "namespace/shop unchanged\nconfigmap/web-config unchanged\n"
    rows = [l.split() for l in mp("get", "ns").stdout.splitlines()]
    assert rows[0] == ["NAME", "STATUS", "AGE"] and ["shop", "Active"] == rows[-1][:2]
    assert mp("get", "cm", "-n", "shop").stdout.splitlines()[1].split()[:2] == ["web-config", "2"]
    assert mp("get", "configmaps", "-A", "-l", "app=web").stdout.splitlines()[1].split()[:2] == ["shop", "web-config"]
    assert "No resources found in default namespace." in mp("get", "cm").stderr
    printed = mp("get", "cm/web-config", "-n", "shop", "-o", "yaml").stdout
    assert "index.html: |\n    hello from a configmap\n" in printed and "resourceVersion:" in printed
    # what get -o yaml printed applies back unchanged
    echoed = tmp_path / "echoed.yaml"
    echoed.write_text(printed)
    assert mp("apply", "-f", echoed).stdout == "configmap/web-config unchanged\n"
    # its own label, and the one the API server sets on every namespace (Kubernetes ≥ 1.21)
    assert json.loads(mp("get", "ns", "shop", "-o", "json").stdout)["metadata"]["labels"] == {
        "team": "web", "kubernetes.io/metadata.name": "shop"}
    described = mp("describe", "cm", "web-config", "-n", "shop").stdout
    assert "Name:         web-config\nNamespace:    shop\nLabels:       app=web" in described
    assert "index.html:\n----\nhello from a configmap" in described
    # a changed manifest is an update
    manifest.write_text(SHOP.replace("production", "staging"))
    assert "configmap/web-config configured" in mp("apply", "-f", manifest).stdout
    assert "staging" in mp("get", "cm", "web-config", "-n", "shop", "-o", "yaml").stdout
    assert mp("delete", "-f", manifest).stdout == 'configmap "web-config" deleted\nnamespace "shop" deleted\n'
    assert "shop" not in mp("get", "ns").stdout


def test_a_bad_document_refuses_the_whole_file_with_its_field_path(tmp_path):
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(SHOP + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: second\n"
                        "data:\n  key: 5\n")
    proc = mp("apply", "-f", manifest, check=False)
    assert proc.returncode == 125 and len(proc.stderr.strip().splitlines()) == 1
    assert "(document 3): ConfigMap: data: must be a map of strings to strings" in proc.stderr
    assert "shop" not in mp("get", "ns").stdout  # nothing of the file was applied
    for args, words in [(["get", "gizmos"], 'doesn\'t have a resource type "gizmos"'),
                        (["get", "cm", "nope"], 'configmaps "nope" not found'),
                        (["apply", "-f", tmp_path / "missing.yaml"], "does not exist"),
                        (["get", "cm", "-l", "a b"], "invalid label selector"),
                        (["delete", "cm"], "delete needs a NAME")]:
        proc = mp(*args, check=False)
        assert proc.returncode == 125 and words in proc.stderr, (args, proc.stderr)
