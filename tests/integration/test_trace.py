"""`minipod trace`: real connections followed by the kernel's own tracing,
in both of the service proxy's modes (iptables, through iptables-nft's
nftables rules, and nftables): pod to a ClusterIP (the service chain, one
endpoint chain and its DNAT, the conntrack tuple, the pod that answered),
the split over 20 flows, pod to pod on the bridge, host to a hostPort,
outside to a NodePort (marked for masquerade), a pod to its own service
(hairpin), through the ingress; an interrupted trace leaves no trace rule
and no outside client; a destination off the node is refused.

Every virtual IP is checked to be routed to the service device first, as in
test_services.py; the outside client lives on MINIPOD_TRACE_OUTSIDE_NET."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, TEST_ENV
from tests.integration.conftest import mp, remove_everything, sh, wait_for
from tests.integration.test_services import WEB, apply, ready_endpoints, routed_locally, svc

OUTSIDE_NET = "198.18.253.0/30"
CLIENT = """apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
"""


@pytest.fixture(params=["iptables", "nftables"])
def mode(request, monkeypatch):
    monkeypatch.setenv("MINIPOD_PROXY_MODE", request.param)  # the CLI passes it to the agent it starts
    monkeypatch.setenv("MINIPOD_TRACE_OUTSIDE_NET", OUTSIDE_NET)
    return request.param


@pytest.fixture
def web(mode, tmp_path):
    apply(tmp_path, WEB + "---\n" + CLIENT, "web.yaml")
    mp("wait", "--for=condition=Ready", "pod/client", "--timeout", "60s")
    ips = ready_endpoints("web", 2)
    ip = svc("web")["spec"]["clusterIP"]
    wait_for(lambda: " dev mptsvc0 " in sh(f"ip -o route get {ip}").stdout, what="the service device's route")
    routed_locally(ip)
    wait_for(lambda: sh(f"curl -s --max-time 2 http://{ip}/", check=False).stdout, what="the service's rules")
    return ip, ips


def trace(*args, check=True):
    proc = mp("trace", *args, "--format", "json", check=check)
    return json.loads(proc.stdout) if proc.returncode in (0, 1) and proc.stdout else proc


def steps(trial, table=None):
    return [s for p in trial["packets"] for s in p["steps"] if s["kind"] == "rule"
            and (table is None or s["table"] == table)]


def chains(trial):
    return [s["chain"] for s in steps(trial)]


def test_a_pod_to_a_clusterip_shows_every_chain_the_dnat_and_the_endpoint(web, mode):
    ip, endpoint_ips = web
    out = trace("--from", "client", "svc/web")
    [trial] = out["trials"]
    assert trial["ok"] and trial["endpointIP"] in endpoint_ips and trial["endpoint"].startswith("default/web-")
    entry = trial["conntrack"]
    assert entry["original"][2:] == [ip, "80"] and entry["reply"][:2] == [trial["endpointIP"], "8080"]
    assert entry["dnat"] == [trial["endpointIP"], "8080"]
    seen = chains(trial)
    if mode == "iptables":
        assert "MPTK-SERVICES" in seen
        svc_chains = [c for c in seen if c.startswith("MPTK-SVC-")]
        sep = [s for s in steps(trial, "nat") if s["chain"].startswith("MPTK-SEP-")]
        assert len(set(svc_chains)) == 1 and len({s["chain"] for s in sep}) == 1
        assert any(f"dnat to {trial['endpointIP']}:8080" in s["rule"] for s in sep)
    else:
        table = [s for s in steps(trial) if s["table"] == "mptk-proxy"]
        assert any(s["chain"] == "services" for s in table)
        assert any(s["chain"].startswith("service-") and "default/web" in s["chain"] for s in table)
        assert any(s["chain"].startswith("endpoint-") and f"dnat to {trial['endpointIP']}:8080" in s["rule"]
                   for s in table)
    text = mp("trace", "--from", "client", "svc/web").stdout  # the learner's view of the same
    assert "DNAT: sent to" in text and "answered by: pod default/web-" in text
    if mode == "iptables":
        assert '"default/web cluster IP"' in text  # the iptables comment, read back from iptables -S


def test_twenty_flows_reach_both_endpoints(web, mode):
    _, endpoint_ips = web
    out = trace("--from", "client", "svc/web", "--count", "20")
    reached = {t["endpointIP"] for t in out["trials"] if t["ok"]}
    assert len(out["trials"]) == 20 and reached == set(endpoint_ips)
    assert "20 flows: " in mp("trace", "--from", "client", "svc/web", "--count", "20").stdout


def test_pod_to_pod_on_the_bridge_has_no_nat(web, mode):
    _, endpoint_ips = web
    out = trace("--from", "client", f"{endpoint_ips[0]}:8080")
    [trial] = out["trials"]
    assert trial["ok"] and trial["endpointIP"] == endpoint_ips[0] and trial["conntrack"]["dnat"] is None
    assert trial["conntrack"]["snat"] is None and "dev mptest0" in out["routes"]["on the node"]


def test_host_to_a_host_port(mode):
    mp("pod", "create", "--name", "hp", "-p", "18391:80")
    mp("run", "-d", "--pod", "hp", "--name", "hpweb", "busybox", "httpd", "-f", "-p", "80", "-h", "/www")
    wait_for(lambda: sh("curl -s --max-time 2 http://127.0.0.1:18391/", check=False).stdout, what="the host port")
    out = trace("127.0.0.1:18391")
    [trial] = out["trials"]
    assert trial["ok"] and trial["endpoint"] == "hp"
    assert "CNI-HOSTPORT-DNAT" in chains(trial) and trial["conntrack"]["dnat"][1] == "80"


def test_outside_to_a_node_port_is_marked_for_masquerade(web, mode, tmp_path):
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30091}]
""", "np.yaml")
    ready_endpoints("web-np", 2)
    from minipod.cluster import node
    host_ip = node.default_address()
    rules = "nft list table ip mptk-proxy" if mode == "nftables" else "iptables-save -t nat"
    wait_for(lambda: "30091" in sh(rules, check=False).stdout, timeout=20, what="the node port's rules")
    out = trace("--from", "outside", f"{host_ip}:30091")
    [trial] = out["trials"]
    assert trial["ok"] and trial["conntrack"]["snat"] is not None  # masqueraded, as KUBE-MARK-MASQ asked
    if mode == "iptables":
        assert "MPTK-NODEPORTS" in chains(trial) and "MPTK-MARK-MASQ" in chains(trial)
    else:
        assert any("mark" in s["rule"] and "0x00004000" in s["rule"] for s in steps(trial))
    assert sh("ip netns list").stdout.count("trace-outside") == 0  # the outside client went with the trace


def test_a_pod_to_its_own_service_is_hairpinned(web, mode):
    _, endpoint_ips = web
    me = next(p for p in mp("get", "pods", "-o", "name").stdout.split() if p.startswith("pod/web-"))[4:]
    out = trace("--from", me, "svc/web", "--count", "16")
    mine = [t for t in out["trials"] if t["endpoint"] == f"default/{me}"]
    assert mine, "no flow of 16 came back to the pod itself"
    for trial in mine:  # back to itself: masqueraded, or the reply would skip the DNAT's undoing
        assert trial["ok"] and trial["conntrack"]["snat"] is not None


@pytest.fixture
def nginx_image():
    """The ingress controller's image (scripts/setup builds it)."""
    mp("image", "import", REPO / "build" / "nginx.oci.tar")
    yield
    remove_everything()  # the ingress controller's container first: an image in use is not removed
    mp("image", "rm", "nginx")


def test_through_the_ingress(tmp_path, mode, nginx_image):
    mp("apply", "-f", REPO / "docs" / "examples" / "hello-ingress.yaml")
    mp("wait", "--for=condition=Available", "deployment/web", "deployment/web2", "--timeout", "90s", timeout=120)
    port = TEST_ENV["MINIPOD_INGRESS_HTTP_PORT"]
    wait_for(lambda: "Version: 2" in sh(f"curl -s --resolve hello-world.info:{port}:127.0.0.1 "
                                        f"http://hello-world.info:{port}/v2", check=False).stdout,
             timeout=90, interval=1, what="the ingress serving /v2")
    out = trace(f"http://hello-world.info:{port}/v2")
    [trial] = out["trials"]
    assert trial["ok"] and trial["upstreamPackets"], trial
    web2 = [p for p in json.loads(mp("get", "pods", "-l", "app=web2", "-o", "json").stdout)["items"]]
    assert trial["endpoint"] in {f"default/{p['metadata']['name']}" for p in web2}
    text = mp("trace", f"http://hello-world.info:{port}/v2").stdout
    assert "the ingress controller's nginx, to the backend:" in text
    mp("delete", "-f", REPO / "docs" / "examples" / "hello-ingress.yaml", timeout=120)


def test_an_interrupted_trace_leaves_no_trace_rule_nor_client(mode):
    mp("pod", "create", "--name", "quiet")
    mp("run", "-d", "--pod", "quiet", "--name", "quietc", "busybox", "sleep", "3600")
    ip = json.loads(mp("pod", "inspect", "quiet").stdout)[0]["IPAddress"].split("/")[0]
    # a datagram nobody answers: the trace waits for a reply while we interrupt it
    proc = subprocess.Popen([sys.executable, "-m", "minipod", "trace", "--from", "outside", "--udp", f"{ip}:9"],
                            env={**os.environ, **TEST_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: "minipod-trace" in sh("nft list tables").stdout, timeout=10, what="the trace running")
    # and its client outside the node, which the interrupt must take away too
    wait_for(lambda: "trace-outside" in sh("ip netns list").stdout and
             sh("ip link show mpt-trout", check=False).returncode == 0, timeout=10, what="the outside client")
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=20)
    assert "minipod-trace" not in sh("nft list tables").stdout
    assert "trace-outside" not in sh("ip netns list").stdout and sh("ip link show mpt-trout", check=False).returncode


def test_a_destination_off_the_node_is_refused(mode):
    for dest in ("198.51.100.77:80", "example.com:80", "svc/nosuch"):
        proc = mp("trace", dest, check=False)
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1, (dest, proc.stderr)
    assert "minipod-trace" not in sh("nft list tables").stdout
