"""Ingress without root: nginx's configuration as ingress-nginx renders it,
and strict validation of Ingresses and TLS Secrets."""

import copy

import pytest
import yaml

from minipod.api import manifests
from minipod.errors import InvalidArgument
from minipod.roles.ingress import render

ING = yaml.safe_load("""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: demo, namespace: default}
spec:
  ingressClassName: nginx
  rules:
  - host: hello-world.info
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 8080}}}}
      - {path: /v2, pathType: Prefix, backend: {service: {name: web2, port: {number: 8080}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: web2, port: {number: 8080}}}}
""")


def _svc(name):
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"ports": [{"port": 8080}]}}


def _eps(*ips):
    return {"subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"port": 8080}]}]}


SERVICES = {("default", "web"): _svc("web"), ("default", "web2"): _svc("web2")}


def test_server_locations_and_upstreams():
    conf = render.render([ING], SERVICES, {("default", "web"): _eps("10.244.0.5", "10.244.0.6"),
                                           ("default", "web2"): _eps("10.244.0.7")}, {})
    assert "upstream default-web-8080 {\n        server 10.244.0.5:8080 max_fails=0;\n" \
           "        server 10.244.0.6:8080 max_fails=0;\n        keepalive 320;\n" in conf
    assert "server_name hello-world.info;" in conf
    # Prefix /v2: /v2 itself and everything below it, not /v2x
    assert "location = /v2 {" in conf and "location ^~ /v2/ {" in conf and "location /v2 {" not in conf
    assert "location = /exact {" in conf and "location / {" in conf
    assert "proxy_pass http://default-web2-8080;" in conf
    # the default server answers an unknown host with 404
    default = conf.split("server_name _;")[1].split("# host")[0]
    assert "return 404;" in default


def test_a_backend_without_endpoints_answers_503():
    conf = render.render([ING], SERVICES, {("default", "web"): _eps("10.244.0.5")}, {})
    block = conf.split("location = /v2 {")[1].split("}")[0]
    assert "return 503;" in block and "upstream default-web2" not in conf


def test_exact_wins_a_tie_with_prefix():
    ing = copy.deepcopy(ING)
    ing["spec"]["rules"][0]["http"]["paths"].append(
        {"path": "/exact", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 8080}}}})
    conf = render.render([ing], SERVICES, {("default", "web"): _eps("10.244.0.5"),
                                           ("default", "web2"): _eps("10.244.0.7")}, {})
    block = conf.split("location = /exact {")[1].split("}")[0]
    assert conf.count("location = /exact {") == 1 and "default-web2-8080" in block
    assert "location ^~ /exact/ {" in conf  # the Prefix still serves what lies below


def test_rewrite_target_makes_regex_locations():
    ing = copy.deepcopy(ING)
    ing["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}
    ing["spec"]["rules"][0]["http"]["paths"] = [
        {"path": "/something(/|$)(.*)", "pathType": "ImplementationSpecific",
         "backend": {"service": {"name": "web", "port": {"number": 8080}}}}]
    conf = render.render([ing], SERVICES, {("default", "web"): _eps("10.244.0.5")}, {})
    assert 'location ~* "^/something(/|$)(.*)" {' in conf
    assert 'rewrite "(?i)^/something(/|$)(.*)" /$2 break;' in conf


def test_tls_hosts_listen_on_443_with_their_certificate():
    ing = copy.deepcopy(ING)
    ing["spec"]["tls"] = [{"hosts": ["hello-world.info"], "secretName": "hello-tls"}]
    conf = render.render([ing], SERVICES, {}, {("default", "hello-tls"): ("/c.crt", "/c.key")})
    host = conf.split("server_name hello-world.info;")[0].rsplit("server {", 1)[1]
    assert "listen 443 ssl;" in host and "ssl_certificate /c.crt;" in host


def test_wildcard_host_and_default_backend():
    ing = copy.deepcopy(ING)
    ing["spec"]["rules"][0]["host"] = "*.example.com"
    ing["spec"]["defaultBackend"] = {"service": {"name": "web", "port": {"number": 8080}}}
    conf = render.render([ing], SERVICES, {("default", "web"): _eps("10.244.0.5")}, {})
    assert "server_name *.example.com;" in conf
    default = conf.split("server_name _;")[1].split("# host")[0]
    assert "proxy_pass http://default-web-8080;" in default


MISTAKES = [
    (["spec", "rules", 0, "host"], "10.0.0.1:80", "spec.rules[0].host: must be a DNS name"),
    (["spec", "rules", 0, "host"], "Hello.info", "spec.rules[0].host: must be a DNS name"),
    (["spec", "rules", 0, "http", "paths", 0, "pathType"], "Glob", "pathType: must be one of"),
    (["spec", "rules", 0, "http", "paths", 0, "path"], "relative", "paths[0].path: must be an absolute path"),
    (["spec", "rules", 0, "http", "paths", 0, "path"], "/a;b", "must not contain whitespace, braces or ';'"),
    (["spec", "rules", 0, "http", "paths", 0, "backend", "service", "port"], {"number": 80, "name": "http"},
     "backend.service.port: exactly one of number and name"),
    (["spec", "rules", 0, "http", "paths", 0, "backend", "service", "port", "number"], 0, "must be 1-65535"),
    (["spec", "rules"], [], "spec: either `defaultBackend` or `rules` must be specified"),
    (["spec", "tls"], [{"hosts": ["a.info"]}], "spec.tls[0].secretName: required value"),
    (["spec", "backend"], {}, "spec.backend: unknown field"),
]


@pytest.mark.parametrize("path,value,message", MISTAKES, ids=[m[2][:40] for m in MISTAKES])
def test_each_ingress_mistake_names_its_field(path, value, message):
    doc = copy.deepcopy(ING)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InvalidArgument) as err:
        manifests.check([("ing.yaml", doc)])
    assert message in str(err.value), str(err.value)


def test_tls_secrets_need_both_keys_in_base64():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}, "type": "kubernetes.io/tls",
              "data": {"tls.crt": "bm90IGEgY2VydA=="}}
    with pytest.raises(InvalidArgument, match=r"data\[tls.key\]: Required value"):
        manifests.check([("s.yaml", secret)])
    secret["data"]["tls.key"] = "not base64!"
    with pytest.raises(InvalidArgument, match=r"data\[tls.key\]: must be base64"):
        manifests.check([("s.yaml", secret)])
