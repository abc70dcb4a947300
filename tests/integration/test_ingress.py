"""Ingress through a real nginx kept in step by the agent: the classic
hello-world.info demo from the Kubernetes docs, precedence, rewrite-target,
TLS, reloads that lose no request, a refused configuration, and cleanup.

The suite publishes the ingress nginx on the node's ports 18480 and 18443
(tests/conftest.py); requests go to 127.0.0.1 or, from the outside client
namespace, to the node's address on that link."""

import base64
import os
import subprocess
import threading

import pytest

from tests.integration.conftest import mp, mp_json, sh, wait_for
from tests.integration.test_image_formats import _built

HTTP, HTTPS = 18480, 18443


def backend(name, version, replicas):
    """busybox httpd answering every path with its version and pod name
    (an E404 page: unknown paths get the same body)."""
    body = f"Hello, world!\\\\nVersion: {version}\\\\nHostname: %s\\\\n"
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "printf '{body}' $(hostname) | tee /www/index.html > /www/v2; echo E404:/www/index.html > /etc/httpd.conf; exec httpd -f -p 8080 -h /www -c /etc/httpd.conf"]
        ports: [{{containerPort: 8080, name: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 8080, targetPort: http, name: http}}]
---
"""


DEMO = backend("web", "1.0.0", 2) + backend("web2", "2.0.0", 1) + """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: example-ingress}
spec:
  ingressClassName: nginx
  rules:
  - host: hello-world.info
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
      - {path: /v2, pathType: Prefix, backend: {service: {name: web2, port: {number: 8080}}}}
"""


def curl(url, host="hello-world.info", to="127.0.0.1", port=HTTP, extra="", prefix=""):
    scheme = "https" if port == HTTPS else "http"
    return sh(f"{prefix} curl -s --max-time 5 {extra} --resolve {host}:{port}:{to} {scheme}://{host}:{port}{url}",
              check=False).stdout


def _conf():
    path = mp_json("get", "pod", "ingress-nginx-controller", "-n", "ingress-nginx", "-o", "json")["spec"]["volumes"][0]
    return open(path["hostPath"]["path"] + "/nginx.conf").read()


@pytest.fixture
def demo(tmp_path):
    mp("image", "import", _built("nginx"))
    (tmp_path / "demo.yaml").write_text(DEMO)
    mp("apply", "-f", tmp_path / "demo.yaml")
    for name in ("web", "web2"):
        mp("rollout", "status", f"deployment/{name}", "--timeout", "120")
    wait_for(lambda: "Version: 2.0.0" in curl("/v2"), timeout=60, interval=0.3, what="the ingress")
    yield tmp_path
    for ref in mp("get", "ingress", "-o", "name").stdout.split():  # the test's own ones too
        mp("delete", ref, check=False)
    mp("delete", "-f", tmp_path / "demo.yaml", check=False)
    wait_for(lambda: not mp("get", "pods", "-n", "ingress-nginx", check=False).stdout, timeout=30,
             what="the nginx pod to go")
    mp("image", "rm", "nginx", check=False)


def test_the_hello_world_demo(demo, outside):
    assert "Version: 1.0.0" in curl("/") and "Version: 2.0.0" in curl("/v2")
    # both replicas of web answer within a bounded number of requests
    names = {line.split()[-1] for _ in range(40) for line in curl("/").splitlines() if line.startswith("Hostname")}
    assert len(names) == 2, names
    # from the outside client namespace, through the node's address on that link
    assert "Version: 2.0.0" in curl("/v2", to=outside, prefix="ip netns exec mpt-out")
    # an unknown host gets the default backend's 404
    assert sh(f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: nobody.example' http://127.0.0.1:{HTTP}/",
              check=False).stdout == "404"
    rows = mp("get", "ingress").stdout.splitlines()
    assert rows[0].split() == ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    assert rows[1].split()[:3] == ["example-ingress", "nginx", "hello-world.info"]
    described = mp("describe", "ing", "example-ingress").stdout
    assert "hello-world.info" in described and "/v2   web2:8080 (" in described
    log = mp("logs", "-n", "ingress-nginx", "pod/ingress-nginx-controller").stdout
    assert '"GET /v2 HTTP/1.1" 200' in log
    conf = _conf()
    assert "server_name hello-world.info;" in conf and "upstream default-web2-8080" in conf


def test_precedence_exact_prefix_and_longest_prefix(demo):
    (demo / "prec.yaml").write_text("""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: precedence}
spec:
  rules:
  - host: prec.info
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
      - {path: /app, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
      - {path: /app/admin, pathType: Prefix, backend: {service: {name: web2, port: {name: http}}}}
      - {path: /app/exact, pathType: Exact, backend: {service: {name: web2, port: {number: 8080}}}}
""")
    mp("apply", "-f", demo / "prec.yaml")
    wait_for(lambda: "2.0.0" in curl("/app/admin", "prec.info"), timeout=10, what="the new host")
    cases = {"/app/admin": "2.0.0", "/app/admin/x": "2.0.0", "/app/x": "1.0.0", "/app/exact": "2.0.0",
             "/app/exact/more": "1.0.0", "/app/adminx": "1.0.0", "/apple": "1.0.0"}
    # After a reload an old nginx worker may still take a connection until it
    # handles its QUIT (nginx's graceful reload): each case must come to hold.
    # An old worker knows no prec.info at all (it answers 404), so it can
    # never route to the wrong version: that is what must not happen.
    for path, version in cases.items():
        other = "1.0.0" if version == "2.0.0" else "2.0.0"
        wait_for(lambda: f"Version: {version}" in curl(path, "prec.info"), timeout=10, interval=0.1, what=path)
        assert not any(f"Version: {other}" in curl(path, "prec.info") for _ in range(3)), path


def test_rewrite_target_with_a_capture_group(demo):
    (demo / "rw.yaml").write_text("""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /$2
spec:
  rules:
  - host: rewrite.info
    http:
      paths:
      - {path: /something(/|$)(.*), pathType: ImplementationSpecific, backend: {service: {name: web2, port: {number: 8080}}}}
""")
    mp("apply", "-f", demo / "rw.yaml")
    wait_for(lambda: "Version: 2.0.0" in curl("/something/v2", "rewrite.info"), timeout=10, what="rewrite host")
    # nginx passed the rewritten URI: web2's own file /v2, a 200 (an unknown path would be its 404 page)
    wait_for(lambda: sh(f"curl -s -o /dev/null -w '%{{http_code}}' --resolve rewrite.info:{HTTP}:127.0.0.1 "
                        f"http://rewrite.info:{HTTP}/something/v2", check=False).stdout == "200",
             timeout=10, what="a 200 for the rewritten URI")
    assert "rewrite \"(?i)^/something(/|$)(.*)\" /$2 break;" in _conf()


def test_tls_with_a_self_signed_certificate(demo):
    key, crt = demo / "tls.key", demo / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key,
                    "-out", crt, "-subj", "/CN=hello-world.info", "-addext", "subjectAltName=DNS:hello-world.info"],
                   check=True, capture_output=True)
    b64 = {p: base64.b64encode(p.read_bytes()).decode() for p in (key, crt)}
    (demo / "tls.yaml").write_text(f"""apiVersion: v1
kind: Secret
metadata: {{name: hello-tls}}
type: kubernetes.io/tls
data:
  tls.crt: {b64[crt]}
  tls.key: {b64[key]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: example-ingress}}
spec:
  ingressClassName: nginx
  tls:
  - hosts: [hello-world.info]
    secretName: hello-tls
  rules:
  - host: hello-world.info
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 8080}}}}}}}}
      - {{path: /v2, pathType: Prefix, backend: {{service: {{name: web2, port: {{number: 8080}}}}}}}}
""")
    mp("apply", "-f", demo / "tls.yaml")
    wait_for(lambda: "Version: 2.0.0" in curl("/v2", port=HTTPS, extra=f"--cacert {crt}"), timeout=15,
             what="TLS")
    assert "80, 443" in mp("get", "ingress").stdout
    mp("delete", "secret", "hello-tls")


def test_five_reloads_during_a_stream_of_requests_lose_none(demo):
    results = []

    def client():
        for _ in range(150):
            results.append(sh(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 "
                              f"--resolve hello-world.info:{HTTP}:127.0.0.1 http://hello-world.info:{HTTP}/v2",
                              check=False).stdout)
    t = threading.Thread(target=client)
    t.start()
    for i in range(5):
        (demo / "change.yaml").write_text(f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: change}}
spec:
  rules:
  - host: change{i}.info
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 8080}}}}}}}}
""")
        mp("apply", "-f", demo / "change.yaml")
        wait_for(lambda: "Version: 1.0.0" in curl("/", f"change{i}.info"), timeout=10, what=f"change {i}")
    t.join(timeout=300)
    reloads = mp("agent", "logs").stdout.count("ingress: configuration reloaded")
    assert reloads >= 5 and len(results) == 150 and set(results) == {"200"}, (reloads, sorted(set(results)))


def test_a_backend_ready_is_served_through_the_ingress_at_once(demo):
    """`wait` for a Deployment behind an Ingress, then at once requests to
    it and to the others: every one is answered by the configuration that
    has it. nginx's old worker accepts for a moment after a reload; the
    agent's pass waits until only the new workers accept (ingress/reload.py)
    before it reports the pods Ready. Without that wait, 3 rounds of 6
    answered a 503 of the old configuration right after a 200 of the new."""
    web2 = backend("web2", "2.0.0", 1)
    (demo / "web2.yaml").write_text(web2)
    for n in range(4):
        mp("delete", "deployment", "web2")
        wait_for(lambda: "503" in curl("/v2", extra="-o /dev/null -w '%{http_code}'"), timeout=30,
                 what="the ingress without web2")
        mp("apply", "-f", demo / "web2.yaml")
        mp("wait", "--for=condition=Available", "deployment/web2", "--timeout", "60s")
        answers = [curl(path) for path in ("/v2", "/", "/v2", "/", "/v2")]
        versions = [next((l for l in a.splitlines() if l.startswith("Version")), a) for a in answers]
        assert versions == ["Version: 2.0.0", "Version: 1.0.0"] * 2 + ["Version: 2.0.0"], (n, versions)


def test_a_refused_configuration_keeps_the_last_good_one(demo):
    (demo / "bad.yaml").write_text("""apiVersion: v1
kind: Secret
metadata: {name: broken-tls}
type: kubernetes.io/tls
stringData:
  tls.crt: not a certificate
  tls.key: not a key
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken}
spec:
  tls: [{hosts: [broken.info], secretName: broken-tls}]
  rules:
  - host: broken.info
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
""")
    applied = mp("apply", "-f", demo / "bad.yaml")
    # kubectl's way of passing on what stands in the way: a Warning line, at once
    assert "Warning: nginx -t refuses the configuration" in applied.stderr, applied.stderr
    wait_for(lambda: "nginx -t refused" in mp("describe", "ingress", "broken").stdout, timeout=15,
             what="the refusal")
    rows = {r.split()[0]: r.split() for r in mp("get", "ingress").stdout.splitlines()[1:]}
    assert rows["broken"][3] == "80,", rows  # no ADDRESS: HOSTS is followed by PORTS ("80, 443")
    assert "refused by nginx -t" in mp("agent", "logs").stdout
    assert "Version: 2.0.0" in curl("/v2")  # the last good configuration still serves
    mp("delete", "-f", demo / "bad.yaml")
    wait_for(lambda: "nginx -t refused" not in mp("describe", "ingress", "example-ingress").stdout, timeout=15,
             what="a good configuration again")


def test_deleting_the_last_ingress_leaves_no_nginx(demo):
    conf_dir = mp_json("get", "pod", "ingress-nginx-controller", "-n", "ingress-nginx",
                       "-o", "json")["spec"]["volumes"][0]["hostPath"]["path"]
    mp("delete", "ingress", "example-ingress")
    wait_for(lambda: not mp("get", "pods", "-n", "ingress-nginx", check=False).stdout
             and str(HTTP) not in sh("iptables-save -t nat").stdout and not os.path.exists(conf_dir)
             and "ingress-nginx" not in mp("get", "ns").stdout, timeout=30, what="nginx gone")
    assert "ingress-nginx" not in mp("pod", "ls").stdout
