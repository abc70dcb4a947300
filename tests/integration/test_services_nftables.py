"""The nftables proxy mode (MINIPOD_PROXY_MODE=nftables, kube-proxy's
`--proxy-mode=nftables`) with real traffic: ClusterIP from the host and a
pod, NodePort and LoadBalancer from outside, ClientIP affinity, an endpoint
that leaves, rejection without endpoints, and a switch between modes that
leaves nothing of the old one. Same safety rules as test_services.py: every
virtual IP is checked to be routed to the service device first."""

import collections
import time

import pytest

from tests.integration.conftest import mp, mp_json, sh, wait_for
from tests.integration.test_services import (WEB, apply, connection_tried_before_the_rules, hits, nat_rules,
                                             no_endpoints_reject_then_delete_leaves_nothing, ready_endpoints,
                                             routed_locally, svc, web)  # noqa: F401 (web: a fixture)

TABLE = "ip mptk-proxy"


@pytest.fixture(autouse=True)
def nftables_mode(monkeypatch):
    monkeypatch.setenv("MINIPOD_PROXY_MODE", "nftables")  # the CLI passes it to the agent it starts


def table() -> str:
    return sh(f"nft list table {TABLE}", check=False).stdout


def test_cluster_ip_node_port_and_load_balancer(web, tmp_path, outside):
    ip, endpoint_ips = web
    wait_for(lambda: f"{ip} . tcp . 80 : goto service-" in table(), timeout=10, what="the service-ips element")
    assert "MPTK-" not in nat_rules()  # nothing of the iptables mode
    routed_locally(ip)
    counts = hits(f"http://{ip}/", 100)
    assert sum(counts.values()) == 100 and len(counts) == 2 and min(counts.values()) >= 20, counts
    out = mp("run", "--rm", "busybox", "sh", "-c", f"for i in $(seq 40); do wget -q -O - http://{ip}/; done").stdout
    inpod = collections.Counter(out.split())
    assert sum(inpod.values()) == 40 and len(inpod) == 2, inpod
    rules = table()
    assert "numgen random mod 2 vmap" in rules and all(f"dnat to {e}:8080" in rules for e in endpoint_ips)
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: web-public}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30081}]
""", "public.yaml")
    ready_endpoints("web-public", 2)
    lb = svc("web-public")["status"]["loadBalancer"]["ingress"][0]["ip"]
    wait_for(lambda: "tcp . 30081 : goto external-" in table(), timeout=10, what="the node port element")
    counts = hits(f"http://{outside}:30081/", 30, "ip netns exec mpt-out")
    assert sum(counts.values()) == 30 and len(counts) == 2, counts
    routed_locally(lb)
    counts = hits(f"http://{lb}/", 30, "ip netns exec mpt-out")
    assert sum(counts.values()) == 30 and len(counts) == 2, counts


def test_cluster_dns_from_a_pod_and_from_the_host(web):
    """The table drops traffic to unallocated addresses of the service range;
    the cluster DNS address (dnsmasq on the service device) is spared."""
    ip, _ = web
    wait_for(lambda: f"{ip} . tcp . 80" in table(), timeout=10, what="the service-ips element")
    dns_ip = "10.234.0.10"
    wait_for(lambda: sh(f"ip -o route get {dns_ip}").stdout.startswith(f"local {dns_ip} "), timeout=10,
             what="the DNS address the host's own (the agent's pass that starts dnsmasq)")
    name = "web.default.svc.cluster.local"
    out = mp("run", "--rm", "busybox", "nslookup", name, dns_ip).stdout
    assert f"Address: {ip}" in out, out
    out = sh(f"busybox nslookup {name} {dns_ip}", check=False).stdout
    assert f"Address: {ip}" in out, out


def test_client_ip_affinity(web, tmp_path):
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}
  ports: [{port: 80, targetPort: 8080}]
""", "sticky.yaml")
    ready_endpoints("sticky", 2)
    ip = svc("sticky")["spec"]["clusterIP"]
    wait_for(lambda: f"{ip} . tcp . 80 : goto service-" in table(), timeout=10, what="the service-ips element")
    routed_locally(ip)
    counts = hits(f"http://{ip}/", 30)
    assert sum(counts.values()) == 30 and len(counts) == 1, counts
    assert "timeout 5m" in table()  # the affinity sets (nft prints 300s so)


def test_a_killed_endpoint_leaves_within_a_second_and_the_service_answers(web, tmp_path):
    ip, _ = web
    pod = next(n for n in mp("get", "pods", "-l", "app=web", "-o", "name").stdout.split()).split("/")[1]
    pod_ip = mp_json("get", "pod", pod, "-o", "json")["status"]["podIP"]
    wait_for(lambda: f"dnat to {pod_ip}:8080" in table(), timeout=10, what="the endpoint chain")
    mp("kill", f"default_{pod}_httpd")
    start = time.monotonic()
    wait_for(lambda: f"dnat to {pod_ip}:8080" not in table(), timeout=5, interval=0.02, what="the endpoint to go")
    assert time.monotonic() - start < 1.0
    routed_locally(ip)  # the Deployment's pod restarts its container: the service answers throughout
    counts = hits(f"http://{ip}/", 20)
    assert sum(counts.values()) == 20, counts


def test_a_connection_tried_before_the_rules_exist_gets_through_once_they_do(tmp_path):
    connection_tried_before_the_rules(tmp_path, "10.234.3.4", lambda: "chain cluster-ips-check" in table(), False)


def test_no_endpoints_rejects_and_delete_leaves_nothing(tmp_path):
    no_endpoints_reject_then_delete_leaves_nothing(
        tmp_path, lambda ip: f'{ip} . tcp . 80 comment "default/nobody" : goto reject-chain' in table(),
        lambda: not table())


def test_switching_modes_leaves_nothing_of_the_old_one(web, monkeypatch):
    ip, _ = web
    wait_for(lambda: f"{ip} . tcp . 80" in table(), timeout=10, what="the nftables rules")
    mp("agent", "stop")
    monkeypatch.setenv("MINIPOD_PROXY_MODE", "iptables")
    mp("agent", "start")
    wait_for(lambda: f"-d {ip}/32" in nat_rules() and not table(), timeout=10, what="iptables rules, no table")
    routed_locally(ip)
    assert sum(hits(f"http://{ip}/", 10).values()) == 10
    mp("agent", "stop")
    monkeypatch.setenv("MINIPOD_PROXY_MODE", "nftables")
    mp("agent", "start")
    wait_for(lambda: f"{ip} . tcp . 80" in table() and "MPTK-" not in nat_rules(), timeout=10,
             what="nftables rules, no chains")
    assert sum(hits(f"http://{ip}/", 10).values()) == 10


def test_an_unknown_mode_is_one_clear_line_and_applies_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIPOD_PROXY_MODE", "ipvs")
    (tmp_path / "svc.yaml").write_text(WEB)
    proc = mp("apply", "-f", tmp_path / "svc.yaml", check=False)
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1, proc.stderr
    assert "MINIPOD_PROXY_MODE: 'ipvs' is not one of iptables, nftables" in proc.stderr
    assert mp("get", "svc", "-o", "name").stdout == "" and mp("get", "deploy", "-o", "name").stdout == ""
