"""The Gateway API on a real nginx kept in step by the agent: one Gateway
(its own nginx Pod behind a LoadBalancer address from the suite's pool),
echo backends that print the request they got, and the routes of the
issue: every match type, every filter, precedence between overlapping
routes, hostname intersection, cross-namespace references with and
without a ReferenceGrant, every status reason, a TLS listener, and what
nginx -t refuses. Requests go to the Gateway's address, routed to the
service device on this host (checked before any is sent)."""

import base64
import collections
import subprocess

import pytest

from tests.integration.conftest import mp, mp_json, sh, wait_for
from tests.integration.test_image_formats import _built
from tests.integration.test_services import routed_locally


def echo(name, version, ns="default"):
    """busybox nc answering every request with its version, pod name and
    the request line and headers it got (and printing the request line,
    so a mirrored request shows in its log)."""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: echo
        image: busybox
        env: [{{name: VERSION, value: "{version}"}}]
        command:
        - sh
        - -c
        - |
          cat > /echo <<'END'
          #!/bin/sh
          cr=$(printf '\\r')
          read -r request; request=${{request%$cr}}
          echo "$request" > /proc/1/fd/1
          headers=""
          while read -r line && line=${{line%$cr}} && [ -n "$line" ]; do headers="$headers$line
          "; done
          printf 'HTTP/1.0 200 OK\\r\\n\\r\\nVersion: %s\\nHostname: %s\\nRequest: %s\\n%s' \\
            "$VERSION" "$(hostname)" "$request" "$headers"
          END
          chmod +x /echo
          exec nc -ll -p 8080 -e /echo
        ports: [{{containerPort: 8080, name: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 8080, targetPort: http, name: http}}]
---
"""


GATEWAY = """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: minipod}
spec: {controllerName: minipod.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: minipod
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - name: shop
    port: 8080
    protocol: HTTP
    hostname: "*.shop.example"
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {shop: "yes"}}}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {shop: "yes"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: elsewhere}
---
"""


def _apply(tmp_path, text, name):
    (tmp_path / name).write_text(text)
    mp("apply", "-f", tmp_path / name)


def get(path, host, address, port=80, extra=""):
    """(status code, body) of one request to the Gateway."""
    out = sh(f"curl -s --max-time 5 -w '\\n%{{http_code}}' -H 'Host: {host}' {extra} "
             f"'http://{address}:{port}{path}'", check=False).stdout
    body, _, code = out.rpartition("\n")
    return code, body


def version(path, host, address, **kw):
    code, body = get(path, host, address, **kw)
    return next((line.split()[1] for line in body.splitlines() if line.startswith("Version:")), code)


def condition(kind, name, ctype, ns="default", parent=0):
    obj = mp_json("get", kind, name, "-n", ns, "-o", "json")
    st = obj.get("status") or {}
    conds = st["parents"][parent]["conditions"] if kind == "httproute" and st.get("parents") else \
        st.get("conditions") or []
    return next(((c["status"], c["reason"]) for c in conds if c["type"] == ctype), None)


@pytest.fixture
def gateway(tmp_path_factory):
    """The Gateway gw and its backends (each test starts on an empty node:
    conftest.clean_after_each_test); its LoadBalancer address."""
    tmp = tmp_path_factory.mktemp("gw")
    mp("image", "import", _built("nginx"))
    _apply(tmp, GATEWAY + echo("web", "1") + echo("web2", "2") + echo("cart", "cart", ns="shop"), "gw.yaml")
    for name, ns in (("web", "default"), ("web2", "default"), ("cart", "shop")):
        mp("rollout", "status", f"deployment/{name}", "-n", ns, "--timeout", "120")
    mp("wait", "--for=condition=Programmed", "gateway/gw", "--timeout", "120")
    address = mp_json("get", "gateway", "gw", "-o", "json")["status"]["addresses"][0]["value"]
    routed_locally(address)
    yield address
    for ns in ("default", "shop", "elsewhere"):  # the tests' routes and grants
        for kind in ("httproute", "referencegrant"):
            for ref in mp("get", kind, "-n", ns, "-o", "name", check=False).stdout.split():
                mp("delete", ref, "-n", ns, check=False)
    mp("delete", "-f", tmp / "gw.yaml", check=False)
    wait_for(lambda: "gw-minipod" not in mp("get", "pods", check=False).stdout, timeout=60,
             what="the Gateway's nginx pod to go")
    wait_for(lambda: mp("image", "rm", "nginx", check=False).returncode == 0, timeout=60, interval=0.5,
             what="the nginx image to be free")


def route(tmp_path, text, name):
    _apply(tmp_path, text, f"{name}.yaml")


# The course's demo and its last line: by path, then by method, header or query.
HELLO_ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hello}
spec:
  parentRefs: [{name: gw}]
  hostnames: [hello-world.info]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v2}}]
    backendRefs: [{name: web2, port: 8080}]
  - matches:
    - {method: POST}
    - headers: [{name: Content-Type, value: application/json}]
    - queryParams: [{name: version, value: "2"}]
    backendRefs: [{name: web2, port: 8080}]
  - backendRefs: [{name: web, port: 8080}]
"""


def test_hello_world_by_path_method_header_query_and_a_canary(gateway, tmp_path):
    route(tmp_path, HELLO_ROUTE + """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: canary}
spec:
  parentRefs: [{name: gw}]
  hostnames: [canary.info]
  rules:
  - backendRefs: [{name: web, port: 8080, weight: 90}, {name: web2, port: 8080, weight: 10}]
""", "hello")
    wait_for(lambda: version("/v2", "hello-world.info", gateway) == "2", timeout=30, interval=0.2,
             what="the route")
    assert version("/", "hello-world.info", gateway) == "1"
    assert version("/v2/deeper", "hello-world.info", gateway) == "2"
    assert version("/v2x", "hello-world.info", gateway) == "1"  # a prefix matches whole path elements
    assert version("/", "hello-world.info", gateway, extra="-X POST") == "2"
    assert version("/", "hello-world.info", gateway, extra="-H 'Content-Type: application/json'") == "2"
    assert version("/?version=2", "hello-world.info", gateway) == "2"
    assert version("/?version=3", "hello-world.info", gateway) == "1"
    assert get("/", "nobody.info", gateway)[0] == "404"  # no route for that host
    wait_for(lambda: version("/", "canary.info", gateway) in ("1", "2"), timeout=30, what="the canary")
    out = sh(f"for i in $(seq 200); do curl -s --max-time 5 -H 'Host: canary.info' http://{gateway}/ "
             f"| grep Version; done", timeout=180).stdout
    counts = collections.Counter(out.split())
    assert counts["1"] + counts["2"] == 200 and 170 <= counts["1"] <= 190, counts
    rows = mp("get", "gateway").stdout.splitlines()
    assert rows[0].split() == ["NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"]
    assert rows[1].split()[:4] == ["gw", "minipod", gateway, "True"]
    assert mp("get", "httproute").stdout.splitlines()[2].split()[:2] == ["hello", '["hello-world.info"]']
    assert condition("httproute", "hello", "Accepted") == ("True", "Accepted")
    assert condition("httproute", "hello", "ResolvedRefs") == ("True", "ResolvedRefs")
    assert condition("gatewayclass", "minipod", "Accepted") == ("True", "Accepted")
    listeners = mp_json("get", "gateway", "gw", "-o", "json")["status"]["listeners"]
    assert {lst["name"]: lst["attachedRoutes"] for lst in listeners} == {"http": 2, "shop": 0}
    # minipod trace through the Gateway: its listener, route, rule and match, and nginx's leg to the pod
    traced = mp("trace", "http://hello-world.info/v2?version=1").stdout
    assert f"Gateway default/gw ({gateway}:80)" in traced and "Gateway default/gw: listener http" in traced, traced
    assert "route default/hello, rule 0, match 0 (PathPrefix /v2, host hello-world.info)" in traced, traced
    assert "the Gateway's nginx, to the backend:" in traced and "answered by: pod default/web2-" in traced, traced
    traced = mp("trace", "http://hello-world.info/?version=2").stdout
    assert "route default/hello, rule 1, match 2 (PathPrefix /, host hello-world.info, query version=2)" in traced
    assert "answered by: pod default/web2-" in traced, traced
    refused = mp("trace", "http://nobody.info/", "--through", "gateway", check=False)
    assert refused.returncode == 125 and "no Gateway serves http://nobody.info/" in refused.stderr, refused.stderr


def test_every_filter(gateway, tmp_path):
    route(tmp_path, """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: filters}
spec:
  parentRefs: [{name: gw}]
  hostnames: [filters.info]
  rules:
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new},
                                                        statusCode: 301}}]
  - matches: [{path: {type: Exact, value: /elsewhere}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, hostname: other.info}}]
  - matches: [{path: {type: PathPrefix, value: /api}}]
    filters:
    - {type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v1}}}
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{name: X-Set, value: "set-$value"}]
        add: [{name: X-Add, value: added}]
        remove: [X-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier: {add: [{name: X-Served-By, value: minipod}], set: [{name: Cache-Control,
                                                                                 value: no-store}]}
    - {type: RequestMirror, requestMirror: {backendRef: {name: web2, port: 8080}}}
    backendRefs: [{name: web, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /full}}]
    filters: [{type: URLRewrite, urlRewrite: {hostname: rewritten.info, path: {type: ReplaceFullPath,
                                                                             replaceFullPath: /replaced}}}]
    backendRefs: [{name: web, port: 8080}]
    timeouts: {request: 10s}
""", "filters")
    wait_for(lambda: get("/old/page", "filters.info", gateway)[0] == "301", timeout=30, interval=0.2,
             what="the route")
    heads = sh(f"curl -s -o /dev/null -D - -H 'Host: filters.info' 'http://{gateway}/old/page?x=1'").stdout
    assert "Location: http://filters.info/new/page?x=1" in heads, heads
    heads = sh(f"curl -s -o /dev/null -D - -H 'Host: filters.info' http://{gateway}/elsewhere").stdout
    assert "HTTP/1.1 302" in heads and "Location: https://other.info/elsewhere" in heads, heads
    out = sh(f"curl -s -D - -H 'Host: filters.info' -H 'X-Add: first' -H 'X-Remove: gone' "
             f"http://{gateway}/api/items?q=1").stdout
    assert "Request: GET /v1/items?q=1 HTTP/1.1" in out and "X-Served-By: minipod" in out, out
    assert "Cache-Control: no-store" in out, out
    got = out.split("Request:", 1)[1]  # the headers the backend got
    assert "X-Set: set-$value" in got and "X-Add: first,added" in got and "X-Remove" not in got, out
    web2 = mp("get", "pods", "-l", "app=web2", "-o", "name").stdout.split()[0].split("/")[1]
    wait_for(lambda: "GET /api/items?q=1" in mp("logs", web2).stdout, timeout=10, what="the mirrored request")
    out = get("/full/x", "filters.info", gateway)[1]
    assert "Request: GET /replaced HTTP/1.1" in out and "Host: rewritten.info" in out, out


def test_precedence_between_overlapping_routes_and_hostnames(gateway, tmp_path):
    route(tmp_path, """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: wide}
spec:
  parentRefs: [{name: gw}]
  hostnames: ["*.prec.info"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: web, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /app/admin}}]
    backendRefs: [{name: web2, port: 8080}]
  - matches: [{path: {type: Exact, value: /app}}]
    backendRefs: [{name: web2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /app}, headers: [{name: X-A, value: "1"}, {name: X-B, value: "1"}]}]
    backendRefs: [{name: web2, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /app}, headers: [{name: X-A, value: "1"}]}]
    backendRefs: [{name: web, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: regexes}
spec:
  parentRefs: [{name: gw}]
  hostnames: [regexes.info]
  rules:
  - matches: [{headers: [{type: RegularExpression, name: X-Version, value: "v[2-9]"}]}]
    backendRefs: [{name: web2, port: 8080}]
  - matches: [{queryParams: [{type: RegularExpression, name: q, value: "[0-9]+"}]}]
    backendRefs: [{name: web2, port: 8080}]
  - backendRefs: [{name: web, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: exact-host}
spec:
  parentRefs: [{name: gw}]
  hostnames: [www.prec.info]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: web2, port: 8080}]
""", "prec")
    wait_for(lambda: version("/", "www.prec.info", gateway) == "2", timeout=30, interval=0.2, what="the routes")
    cases = [("/", "a.prec.info", "", "1"), ("/app/admin/x", "a.prec.info", "", "2"), ("/app", "a.prec.info", "", "2"),
             ("/app/x", "a.prec.info", "-H 'X-A: 1' -H 'X-B: 1'", "2"), ("/app/x", "a.prec.info", "-H 'X-A: 1'", "1"),
             ("/app/admin", "www.prec.info", "", "2"),  # the exact hostname wins over the wildcard's longer path
             ("/", "prec.info", "", "404"),  # *.prec.info is not prec.info
             ("/", "regexes.info", "-H 'X-Version: v3'", "2"), ("/", "regexes.info", "-H 'X-Version: v1'", "1"),
             ("/?q=42", "regexes.info", "", "2"), ("/?q=x42", "regexes.info", "", "1")]
    for path, host, extra, want in cases:
        assert version(path, host, gateway, extra=extra) == want, (path, host, extra)
    # the shop listener (*.shop.example, port 8080) takes routes from labelled namespaces only
    route(tmp_path, """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart, namespace: shop}
spec:
  parentRefs: [{name: gw, namespace: default, sectionName: shop}]
  hostnames: [cart.shop.example, cart.other.example]
  rules: [{backendRefs: [{name: cart, port: 8080}]}]
""", "cart")
    wait_for(lambda: version("/", "cart.shop.example", gateway, port=8080) == "cart", timeout=30, interval=0.2,
             what="the shop route")
    assert get("/", "cart.other.example", gateway, port=8080)[0] == "404"  # outside the listener's hostname
    assert condition("httproute", "cart", "Accepted", ns="shop") == ("True", "Accepted")


def test_every_status_reason_and_cross_namespace_references(gateway, tmp_path):
    route(tmp_path, """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-section}
spec:
  parentRefs: [{name: gw, sectionName: nope}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: no-host, namespace: shop}
spec:
  parentRefs: [{name: gw, namespace: default, sectionName: shop}]
  hostnames: [shop.other]
  rules: [{backendRefs: [{name: cart, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: not-allowed, namespace: elsewhere}
spec:
  parentRefs: [{name: gw, namespace: default}]
  rules: [{backendRefs: [{name: web, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: refs}
spec:
  parentRefs: [{name: gw}]
  hostnames: [refs.info]
  rules:
  - matches: [{path: {type: PathPrefix, value: /missing}}]
    backendRefs: [{name: web3, port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /port}}]
    backendRefs: [{name: web, port: 9999}]
  - matches: [{path: {type: PathPrefix, value: /kind}}]
    backendRefs: [{name: web, kind: ConfigMap, group: "", port: 8080}]
  - matches: [{path: {type: PathPrefix, value: /cart}}]
    backendRefs: [{name: cart, namespace: shop, port: 8080}]
  - backendRefs: [{name: web, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cross}
spec:
  parentRefs: [{name: gw}]
  hostnames: [cross.info]
  rules: [{backendRefs: [{name: cart, namespace: shop, port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: configmap}
spec:
  parentRefs: [{name: gw}]
  hostnames: [configmap.info]
  rules: [{backendRefs: [{name: web, kind: ConfigMap, group: "", port: 8080}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: regex}
spec:
  parentRefs: [{name: gw}]
  hostnames: [regex.info]
  rules:
  - matches: [{path: {type: RegularExpression, value: "/(unclosed"}}]
    backendRefs: [{name: web2, port: 8080}]
  - matches: [{path: {type: RegularExpression, value: "/item/[0-9]+"}}]
    backendRefs: [{name: web2, port: 8080}]
""", "reasons")
    wait_for(lambda: condition("httproute", "refs", "ResolvedRefs") is not None, timeout=30, what="route status")
    assert condition("httproute", "no-section", "Accepted") == ("False", "NoMatchingParent")
    assert condition("httproute", "no-host", "Accepted", ns="shop") == ("False", "NoMatchingListenerHostname")
    assert condition("httproute", "not-allowed", "Accepted", ns="elsewhere") == ("False", "NotAllowedByListeners")
    assert condition("httproute", "refs", "Accepted") == ("True", "Accepted")
    assert condition("httproute", "refs", "ResolvedRefs") == ("False", "BackendNotFound")
    assert condition("httproute", "cross", "ResolvedRefs") == ("False", "RefNotPermitted")
    assert condition("httproute", "configmap", "ResolvedRefs") == ("False", "InvalidKind")
    assert condition("httproute", "regex", "Accepted") == ("False", "UnsupportedValue")
    # what resolves is served; what does not answers 500; the other rule of the regex route serves
    wait_for(lambda: version("/", "refs.info", gateway) == "1", timeout=30, interval=0.2, what="refs route")
    for path in ("/missing", "/port", "/kind", "/cart"):
        assert get(path, "refs.info", gateway)[0] == "500", path
    assert version("/item/42", "regex.info", gateway) == "2"
    described = mp("describe", "httproute", "refs").stdout
    assert "Reason:                BackendNotFound" in described, described
    # a ReferenceGrant in shop lets the route reach cart
    route(tmp_path, """apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: routes-to-cart, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: default}]
  to: [{group: "", kind: Service, name: cart}]
""", "grant")
    wait_for(lambda: version("/cart", "refs.info", gateway) == "cart", timeout=30, interval=0.2,
             what="the granted reference")
    wait_for(lambda: condition("httproute", "cross", "ResolvedRefs") == ("True", "ResolvedRefs"), timeout=30,
             what="the granted reference's condition")
    mp("delete", "referencegrant", "routes-to-cart", "-n", "shop")
    wait_for(lambda: get("/cart", "refs.info", gateway)[0] == "500", timeout=30, interval=0.2,
             what="the reference withdrawn")
    wait_for(lambda: condition("httproute", "cross", "ResolvedRefs") == ("False", "RefNotPermitted"), timeout=30,
             what="the withdrawn reference's condition")


def _self_signed(tmp_path, host):
    sh(f"openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={host} -addext subjectAltName=DNS:{host} "
       f"-keyout {tmp_path}/key.pem -out {tmp_path}/crt.pem 2>/dev/null")
    return [base64.b64encode((tmp_path / f).read_bytes()).decode() for f in ("crt.pem", "key.pem")]


def test_tls_listener_and_a_configuration_nginx_refuses(gateway, tmp_path):
    crt, key = _self_signed(tmp_path, "secure.info")
    route(tmp_path, f"""apiVersion: v1
kind: Secret
metadata: {{name: secure-tls}}
type: kubernetes.io/tls
data: {{tls.crt: {crt}, tls.key: {key}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: tls}}
spec:
  gatewayClassName: minipod
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    hostname: secure.info
    tls: {{certificateRefs: [{{name: secure-tls}}]}}
  - name: nocert
    port: 8443
    protocol: HTTPS
    tls: {{certificateRefs: [{{name: nowhere}}]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: secure}}
spec:
  parentRefs: [{{name: tls}}]
  rules: [{{backendRefs: [{{name: web2, port: 8080}}]}}]
""", "tls")
    try:
        mp("wait", "--for=condition=Programmed", "gateway/tls", "--timeout", "120")
        address = mp_json("get", "gateway", "tls", "-o", "json")["status"]["addresses"][0]["value"]
        routed_locally(address)
        wait_for(lambda: "Version: 2" in sh(f"curl -s --max-time 5 --cacert {tmp_path}/crt.pem --resolve "
                                            f"secure.info:443:{address} https://secure.info/", check=False).stdout,
                 timeout=30, interval=0.3, what="the HTTPS listener")
        listeners = {lst["name"]: {c["type"]: c["reason"] for c in lst["conditions"]}
                     for lst in mp_json("get", "gateway", "tls", "-o", "json")["status"]["listeners"]}
        assert listeners["nocert"]["ResolvedRefs"] == "InvalidCertificateRef"
        assert condition("gateway", "tls", "Accepted") == ("True", "ListenersNotValid")
        # a certificate nginx cannot load: nginx -t refuses, the last good configuration serves on
        mp("apply", "-f", "-", input=f"""apiVersion: v1
kind: Secret
metadata: {{name: secure-tls}}
type: kubernetes.io/tls
data: {{tls.crt: {base64.b64encode(b"not a certificate").decode()}, tls.key: {key}}}
""")
        wait_for(lambda: condition("gateway", "tls", "Programmed") == ("False", "Invalid"), timeout=30,
                 interval=0.3, what="the refusal in the Gateway's conditions")
        assert "Version: 2" in sh(f"curl -s --max-time 5 --cacert {tmp_path}/crt.pem --resolve "
                                  f"secure.info:443:{address} https://secure.info/").stdout
        described = mp("describe", "gateway", "tls").stdout
        assert "nginx -t refused" in described and "Warning  Invalid" in described, described
        assert version("/", "hello-world.info", gateway) in ("1", "404")  # the other Gateway is not touched
    finally:
        mp("delete", "-f", tmp_path / "tls.yaml", check=False)
    wait_for(lambda: "tls-minipod" not in mp("get", "pods", check=False).stdout, timeout=60,
             what="the TLS Gateway's pod to go")
    assert subprocess.run(["ls", str(_gateway_conf_root())], capture_output=True, text=True).stdout.split() == \
        ["default_gw"]


def _gateway_conf_root():
    from tests.conftest import TEST_ROOT
    return TEST_ROOT / "lib" / "gateways"


def test_bad_input_gets_the_api_servers_words(gateway, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("""apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bad}
spec:
  parentRefs: [{name: gw}]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301}}]
    backendRefs: [{name: web, port: 8080}]
""")
    out = mp("apply", "-f", bad, check=False)
    assert out.returncode == 125 and out.stderr.count("\n") == 1, out.stderr
    assert "spec.rules[0]: Invalid value: \"object\": RequestRedirect filter must not be used together with " \
           "backendRefs" in out.stderr
    bad.write_text(bad.read_text().replace("statusCode: 301", "statusCode: 301, colour: red"))
    out = mp("apply", "-f", bad, check=False)
    assert out.returncode == 125 and "requestRedirect.colour: unknown field" in out.stderr, out.stderr
    assert "bad" not in mp("get", "httproute").stdout
