"""minipod's Kubernetes API at the HTTP level, where kubectl cannot reach:
no request without the admin's client certificate reaches a handler (exec
and port-forward upgrades included), the server listens on loopback only,
keys and kubeconfig are root's; bad input gets the Status the API server
gives (400/404/409/413/415/422, never a 500) and leaves nothing written;
a fuzz test sends arbitrary bodies to every writing endpoint."""

import http.client
import json
import os
import socket
import ssl
import stat
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import TEST_ENV, TEST_ROOT
from tests.integration.conftest import mp

PORT = int(TEST_ENV["MINIPOD_API_PORT"])
PKI = TEST_ROOT / "etc" / "pki"
NS = "/api/v1/namespaces/default"


@pytest.fixture(scope="module", autouse=True)
def api():
    mp("api", "start")
    yield
    mp("api", "stop")


def _context(cert=True, ca=True):
    ctx = ssl.create_default_context(cafile=str(PKI / "ca.crt")) if ca else ssl._create_unverified_context()
    if cert:
        ctx.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    return ctx


def request(method, path, body=None, headers=None, cert=True):
    """(status, decoded JSON or text) of one request."""
    conn = http.client.HTTPSConnection("127.0.0.1", PORT, context=_context(cert), timeout=30)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode(errors="replace")
    finally:
        conn.close()


def _configmaps():
    return sorted(os.listdir(TEST_ROOT / "lib" / "objects" / "configmaps" / "default")) \
        if (TEST_ROOT / "lib" / "objects" / "configmaps" / "default").is_dir() else []


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"}, "data": {"a": "1"}}
UPGRADES = [
    ("GET", f"{NS}/pods/p/exec?command=sh&stdout=1", {"Connection": "Upgrade", "Upgrade": "websocket",
     "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
     "Sec-WebSocket-Protocol": "v5.channel.k8s.io"}),
    ("POST", f"{NS}/pods/p/exec?command=sh&stdout=1", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
     "X-Stream-Protocol-Version": "v4.channel.k8s.io"}),
    ("POST", f"{NS}/pods/p/portforward", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
     "X-Stream-Protocol-Version": "portforward.k8s.io"}),
    ("GET", f"{NS}/pods/p/portforward", {"Connection": "Upgrade", "Upgrade": "websocket",
     "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
     "Sec-WebSocket-Protocol": "SPDY/3.1+portforward.k8s.io"}),
]


def test_no_request_without_a_client_certificate_reaches_a_handler():
    paths = ["/version", "/healthz", "/api", "/apis", "/api/v1", "/apis/apps/v1", "/openapi/v3", "/openapi/v2",
             f"{NS}/pods", f"{NS}/pods?watch=1", f"{NS}/pods/p/log", "/api/v1/nodes", "/no/such/path"]
    for path in paths:
        code, body = request("GET", path, cert=False)
        assert code == 401 and body["reason"] == "Unauthorized", (path, code, body)
    for method, path in (("POST", f"{NS}/configmaps"), ("PUT", f"{NS}/configmaps/probe"),
                         ("PATCH", f"{NS}/configmaps/probe"), ("DELETE", f"{NS}/configmaps/probe")):
        assert request(method, path, CM, cert=False)[0] == 401, (method, path)
    for method, path, headers in UPGRADES:
        assert request(method, path, headers=headers, cert=False)[0] == 401, path
    assert _configmaps() == []
    assert request("GET", "/version")[0] == 200  # and with it, all is well


def test_a_certificate_of_another_ca_is_refused_at_the_handshake(tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "1", "-subj", "/O=system:masters/CN=intruder"],
                   check=True, capture_output=True)
    ctx = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    ctx.load_cert_chain(str(crt), str(key))
    conn = http.client.HTTPSConnection("127.0.0.1", PORT, context=ctx, timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        conn.request("GET", "/api/v1/namespaces/default/configmaps")
        conn.getresponse().read()


def test_keys_and_kubeconfig_are_roots_and_only_loopback_listens():
    for path in [TEST_ROOT / "etc" / "admin.kubeconfig", *PKI.iterdir()]:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, (path, oct(mode))
    assert stat.S_IMODE(os.stat(PKI).st_mode) == 0o700
    with open("/proc/net/tcp") as f:
        listening = [line.split()[1] for line in f.readlines()[1:] if line.split()[3] == "0A"]
    ours = [a for a in listening if int(a.split(":")[1], 16) == PORT]
    assert ours == ["0100007F:%04X" % PORT], ours  # 127.0.0.1 only


def test_bad_input_gets_the_api_servers_status_and_writes_nothing():
    cases = [
        ("POST", f"{NS}/configmaps", b"{not json", {}, 400),
        ("POST", f"{NS}/configmaps", b"x" * (4 << 20), {}, 413),
        ("POST", f"{NS}/configmaps", json.dumps(CM).encode(), {"Content-Type": "text/plain"}, 415),
        ("POST", f"{NS}/configmaps", {**CM, "metadata": {"name": "a/b"}}, {}, 422),
        ("POST", f"{NS}/configmaps", {**CM, "metadata": {"name": "../x"}}, {}, 422),
        ("POST", f"{NS}/configmaps", {**CM, "kind": "Widget"}, {}, 400),
        ("POST", f"{NS}/configmaps", {**CM, "colour": "blue"}, {}, 400),
        ("POST", f"{NS}/configmaps", [1, 2], {}, 400),
        ("POST", "/api/v1/namespaces/nowhere/configmaps", CM, {}, 404),
        ("GET", f"{NS}/configmaps/a%2Fb", None, {}, 404),
        ("GET", f"{NS}/configmaps/..", None, {}, 404),
        ("GET", f"{NS}/widgets", None, {}, 404),
        ("GET", "/apis/widgets.example.com/v1", None, {}, 404),
        ("GET", f"{NS}/configmaps?watch=1&resourceVersion=yesterday", None, {}, 400),
        ("GET", f"{NS}/configmaps?labelSelector=a%20in%20(", None, {}, 400),
        ("PATCH", f"{NS}/configmaps/none", {"data": {}}, {"Content-Type": "application/merge-patch+json"}, 404),
        ("PUT", f"{NS}/configmaps/other", CM, {}, 400),  # the body's name is not the URL's
        ("DELETE", f"{NS}/configmaps/none", None, {}, 404),
    ]
    for method, path, body, headers, want in cases:
        code, answer = request(method, path, body, headers)
        assert code == want and answer.get("kind") == "Status" and answer.get("code") == want, \
            (method, path, code, answer)
    assert _configmaps() == []
    # a conflict, and patches that cannot apply
    code, created = request("POST", f"{NS}/configmaps", CM)
    assert code == 201
    assert request("POST", f"{NS}/configmaps", CM)[0] == 409
    assert request("PATCH", f"{NS}/configmaps/probe", {"metadata": {"labels": {"x": "y"}}},
                   {"Content-Type": "application/merge-patch+json"})[0] == 200
    stale = {**CM, "metadata": {"name": "probe", "resourceVersion": created["metadata"]["resourceVersion"]}}
    code, answer = request("PUT", f"{NS}/configmaps/probe", stale)
    assert code == 409 and "has been modified" in answer["message"]
    code, answer = request("PATCH", f"{NS}/configmaps/probe", [{"op": "test", "path": "/data/a", "value": "2"}],
                           {"Content-Type": "application/json-patch+json"})
    assert code == 422, answer
    assert request("PATCH", f"{NS}/configmaps/probe", {"data": {"b": 1}},
                   {"Content-Type": "application/merge-patch+json"})[0] == 422
    assert request("GET", f"{NS}/configmaps/probe")[1]["data"] == {"a": "1"}  # unchanged by what was refused
    assert request("DELETE", f"{NS}/configmaps/probe")[0] == 200


def test_a_client_that_goes_away_mid_watch_leaves_the_server_serving():
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", PORT))
        tls = _context().wrap_socket(sock, server_hostname="127.0.0.1")
        tls.sendall(f"GET {NS}/pods?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert tls.recv(100).startswith(b"HTTP/1.1 200")
        tls.close()
    assert request("GET", "/version")[0] == 200


WRITES = [("POST", f"{NS}/configmaps"), ("POST", f"{NS}/pods"), ("POST", "/apis/apps/v1/namespaces/default/deployments"),
          ("POST", f"{NS}/services"), ("POST", "/apis/networking.k8s.io/v1/namespaces/default/ingresses"),
          ("POST", "/api/v1/namespaces"), ("PUT", f"{NS}/configmaps/fuzz"), ("PATCH", f"{NS}/configmaps/fuzz")]
CONTENT_TYPES = ["application/json", "application/yaml", "application/strategic-merge-patch+json",
                 "application/merge-patch+json", "application/json-patch+json", "application/vnd.kubernetes.protobuf"]
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                       max_leaves=20)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSONISH.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"apiVersion": st.sampled_from(["v1", "apps/v1", "x"]),
                           "kind": st.sampled_from(["ConfigMap", "Pod", "Deployment", "Service", "Namespace"]),
                           "metadata": st.dictionaries(st.sampled_from(["name", "namespace", "labels"]), JSONISH,
                                                       max_size=3),
                           "spec": JSONISH, "data": JSONISH}).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200).map(lambda b: b"k8s\x00" + b),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(WRITES), ctype=st.sampled_from(CONTENT_TYPES), body=BODIES)
def test_fuzz_arbitrary_bodies_never_get_a_500(target, ctype, body):
    method, path = target
    code, answer = request(method, path, body, {"Content-Type": ctype})
    assert code < 500, (method, path, ctype, body, answer)
    if code >= 400:
        assert isinstance(answer, dict) and answer.get("kind") == "Status", answer
    # nothing of what the fuzzer made stays: delete what it could create
    for kind_path in (f"{NS}/configmaps", f"{NS}/pods", "/apis/apps/v1/namespaces/default/deployments",
                      f"{NS}/services", "/apis/networking.k8s.io/v1/namespaces/default/ingresses"):
        if code in (200, 201):
            request("DELETE", kind_path + "?labelSelector=", None)
    if code in (200, 201) and path == "/api/v1/namespaces" and isinstance(answer, dict):
        request("DELETE", f"/api/v1/namespaces/{answer['metadata']['name']}")
