"""A real Kubernetes cluster of two minipod nodes on one host, as kind runs
nodes inside containers: each node is a network namespace of its own with
an uplink veth on a shared "underlay" bridge, its own minipod state root,
CNI directory, pod bridge, pod range and kubelet; the control plane
(`minipod cluster init --control-plane-only`) runs on the host, on the
underlay's address. The nodes join with `minipod cluster join`, exactly as
two machines would.

What is checked is what the course only names: pods on two nodes reach each
other by pod IP with their own source address (no NAT), a ClusterIP backed
by pods on both nodes answers from both, a NodePort on either node's address
reaches a pod on the other, cluster DNS answers on both nodes, a node whose
kubelet stops goes NotReady and its Deployment pod is made again on the
other node, a removed node's routes go from the others; and, with the vxlan
backend, two nodes on two different segments (no common L2) still reach each
other's pods. Teardown leaves no route, bridge, netns, chain or process.

Marked `kubelet` (the components are built once by scripts/setup-cluster)."""

import contextlib
import ipaddress
import json
import os
import re
import signal
import subprocess

import pytest
import yaml

from minipod.cluster import onehost
from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import leaks, mp, sh, wait_for, with_current_kubectl

pytestmark = pytest.mark.kubelet

CLUSTER_CIDR, SERVICE_CIDR = "10.240.0.0/16", "10.236.0.0/16"
PORT = 26443
# the control plane's node failure timings, shortened (kind's extraArgs)
FAST = {"MINIPOD_KUBE_CONTROLLER_MANAGER_ARGS": "--node-monitor-period=2s --node-monitor-grace-period=16s",
        "MINIPOD_KUBE_APISERVER_ARGS": "--default-not-ready-toleration-seconds=5 "
                                       "--default-unreachable-toleration-seconds=5"}
ENV = {"MINIPOD_CLUSTER_PORT_OFFSET": "20000", "MINIPOD_CLUSTER_SERVICE_DEVICE": "mptkube0", **FAST}
USER_ENV = {**ENV, "KUBECONFIG": str(TEST_ROOT / "user.kubeconfig")}  # init's context goes there, not to ~/.kube
TUNABLES = ("/proc/sys/kernel/panic", "/proc/sys/kernel/panic_on_oops", "/proc/sys/vm/overcommit_memory")


def Node(name, netns, segment, address):
    """A node of the one-host layout (minipod.cluster.onehost), in the suite's root and environment."""
    return onehost.Node(name, netns, segment, address, root=TEST_ROOT / "nodes" / netns,
                        env={**TEST_ENV, "MINIPOD_CLUSTER_PORT_OFFSET": "20000",
                             "MINIPOD_CGROUP_PARENT": f"minipod-test-{os.getpid()}"})


SEGMENTS = {"mptul0": "198.19.7.1", "mptul1": "198.19.8.1"}


def kubectl(*args, check=True, timeout=120, input=None):
    proc = subprocess.run(["kubectl", *args], env={**os.environ, "KUBECONFIG": str(TEST_ROOT / "etc" / "cluster" /
                                                                                  "admin.kubeconfig")},
                          capture_output=True, text=True, timeout=timeout, input=input)
    assert not check or proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


@contextlib.contextmanager
def cluster(nodes, backend):
    """A control plane on the host, ``nodes`` joined with ``backend``; on the
    way out, that nothing is left."""
    setup = subprocess.run([str(REPO / "scripts" / "setup-cluster")], capture_output=True, text=True)
    assert setup.returncode == 0, f"scripts/setup-cluster failed:\n{setup.stderr[-3000:]}"
    tunables = {p: open(p).read() for p in TUNABLES}
    from tests.integration.test_cluster import _user_kubeconfig
    users = _user_kubeconfig()
    pins_before = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    with onehost.underlay({n.segment: SEGMENTS[n.segment] for n in nodes}, reserved=(CLUSTER_CIDR, SERVICE_CIDR)):
        try:
            out = mp("cluster", "init", "--control-plane-only", "--advertise-address", SEGMENTS["mptul0"],
                     "--pod-cidr", CLUSTER_CIDR, "--service-cidr", SERVICE_CIDR, env=USER_ENV, timeout=300).stdout
            join = next(line.strip() for line in out.splitlines() if line.strip().startswith("minipod cluster join"))
            for node in nodes:
                node.up(SEGMENTS[node.segment])
                for image, name in (("busybox.tar.gz", "busybox"), ("nginx.oci.tar", "nginx")):
                    node.mp("image", "import", REPO / "build" / image, name)  # nginx: every node's ingress
                if node is nodes[0]:
                    # a join to a server that does not answer (the VM cluster's node2 once met it, booting
                    # before node1): one line, 125, and nothing half-made, so the real join after it works
                    args = join.split()[1:]
                    unreachable = node.mp(*args[:2], f"https://{SEGMENTS['mptul0']}:1", *args[3:], "--node-name",
                                          node.name, "--node-ip", node.address, check=False)
                    assert unreachable.returncode == 125, unreachable
                    assert unreachable.stderr.count("\n") == 1 and "cannot reach" in unreachable.stderr
                node.mp(*join.split()[1:], "--node-name", node.name, "--node-ip", node.address,
                        "--backend", backend)
            yield
        finally:
            for node in reversed(nodes):
                node.down()
            mp("cluster", "down", env=USER_ENV, check=False, timeout=180)
    assert {p: open(p).read() for p in TUNABLES} == tunables
    assert _user_kubeconfig() == users, "the suite changed the user's own ~/.kube/config"
    pins = set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()
    assert pins == pins_before, f"netns pins left: {pins - pins_before}"
    procs = [line.split()[1] for line in sh("ps -eo stat=,comm=").stdout.splitlines() if line[0] != "Z"]
    assert not [p for p in procs if p in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                          "kubelet", "kube-proxy")], "a component outlived `cluster down`"
    assert not sh("ip -4 route show proto 77").stdout.strip(), "routes of a node's agent on the host"
    assert not [d for n in nodes for d in onehost.cgroup_dirs(n.env["MINIPOD_CGROUP_PARENT"])], "node cgroups left"
    assert not leaks(), leaks()


def pod(name, node, command, labels=None):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", command]}]}}


def apply(*objs):
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objs))


def ready(*names, timeout=120):
    waited = kubectl("wait", "--for=condition=Ready", *[f"pod/{n}" for n in names], f"--timeout={timeout}s",
                     timeout=timeout + 30, check=False)
    assert waited.returncode == 0, kubectl("describe", "pod", *names).stdout[-3000:]


def pod_ip(name):
    return kubectl("get", "pod", name, "-o", "jsonpath={.status.podIP}").stdout


def exec_(name, *cmd, check=True):
    return kubectl("exec", name, "--", *cmd, check=check)


def test_vxlan_joins_nodes_with_no_common_segment():
    """Two nodes on two segments the host routes between: host-gw could not
    reach the other node's pods (its address is no neighbour), vxlan does,
    with the pods' own addresses inside the tunnel."""
    a, b = Node("vx1", "mptvx1", "mptul0", "198.19.7.21"), Node("vx2", "mptvx2", "mptul1", "198.19.8.22")
    with cluster([a, b], "vxlan"):
        wait_for(lambda: kubectl("get", "nodes", "--no-headers").stdout.count(" Ready ") == 2, timeout=120,
                 what="both nodes Ready")
        apply(pod("vserver", b.name, "httpd -f -p 80 -h /etc"), pod("vclient", a.name, "sleep 3600"))
        ready("vserver", "vclient")
        got = exec_("vclient", "wget", "-q", "-O", "-", f"http://{pod_ip('vserver')}/hostname").stdout
        assert got.strip() == "vserver"
        assert "minipod.1" in a.sh("ip -4 route show proto 77").stdout
        kubectl("delete", "pod", "vserver", "vclient", "--grace-period=1", "--wait=false")


NODES = [Node("node1", "mptnode1", "mptul0", "198.19.7.11"), Node("node2", "mptnode2", "mptul0", "198.19.7.12")]


@pytest.fixture(scope="module")
def two_nodes():
    with cluster(NODES, "host-gw"):
        wait_for(lambda: kubectl("get", "nodes", "--no-headers").stdout.count(" Ready ") == 2, timeout=120,
                 what="both nodes Ready")
        for node in NODES:  # each node's agent has seen the other's pod range (a Ready node may be before that)
            others = [n.address for n in NODES if n is not node]
            wait_for(lambda node=node, others=others: all(f"via {a} " in node.sh("ip -4 route show proto 77").stdout
                                                          for a in others),
                     timeout=60, what=f"{node.name}'s routes to the other nodes' pods")
        yield NODES


def test_the_walkthrough_of_docs_cluster_md(two_nodes):
    """docs/cluster.md's walkthrough, as written for node1 of the Vagrant
    cluster, on the one-host layout (node addresses and node1's shell translated)."""
    from tests import docs_runner
    a, b = two_nodes
    http = 80 + int(ENV["MINIPOD_CLUSTER_PORT_OFFSET"])  # the nodes' nginx
    translations = [("http://192.168.56.12/", f"http://{b.address}:{http}/"),
                    ("192.168.56.11", a.address), ("192.168.56.12", b.address),
                    ("ip route show proto 77", " ".join(a.enter()) + " ip route show proto 77")]

    def translate(text):
        for old, new in translations:
            text = text.replace(old, new)
        return text
    env = with_current_kubectl({**os.environ, "KUBECONFIG": str(TEST_ROOT / "etc" / "cluster" / "admin.kubeconfig")})
    failures = docs_runner.check(REPO / "docs" / "cluster.md", env=env, translate=translate)
    assert not failures, "\n\n".join(failures)
    wait_for(lambda: not kubectl("get", "pods", "--no-headers").stdout.strip(), timeout=150,
             what="the walkthrough's pods gone")


def test_each_node_has_its_own_pod_range_and_routes_to_the_other(two_nodes):
    ranges = {n["metadata"]["name"]: n["spec"]["podCIDR"]
              for n in json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]}
    assert len(set(ranges.values())) == 2 and all(ipaddress.ip_network(r).subnet_of(ipaddress.ip_network(
        CLUSTER_CIDR)) for r in ranges.values())
    a, b = two_nodes
    # host-gw: each node routes the other's range via the other's address (and the CRI server wrote its own)
    wait_for(lambda: f"{ranges[b.name]} via {b.address}" in a.sh("ip -4 route show proto 77").stdout,
             what="node1's route to node2's pod range")
    assert f"{ranges[a.name]} via {a.address}" in b.sh("ip -4 route show proto 77").stdout
    conflist = json.loads((a.root / "net.d" / "cluster.conflist").read_text())
    assert conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] == ranges[a.name]
    assert conflist["plugins"][0]["ipMasq"] is False  # the node masquerades only what leaves the cluster
    shown = a.mp("network", "show").stdout
    assert f"{ranges[b.name]} via {b.address}" in shown, shown


def test_a_node_no_segment_reaches_is_a_warning_event_and_the_other_routes_stay(two_nodes):
    """A Node whose address is on no segment of the others (the kernel refuses
    a route via it): each node's network agent says so as a Warning Event of
    its own Node, as `kubectl get events` shows, while its routes to the real
    nodes stay. No packet goes to that address: no route to it is ever made."""
    a, b = two_nodes
    ghost = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"},
             "spec": {"podCIDR": "10.240.250.0/24"},
             "status": {"addresses": [{"type": "InternalIP", "address": "198.19.9.77"}]}}
    kubectl("create", "-f", "-", input=json.dumps(ghost))
    try:
        def warnings():
            items = json.loads(kubectl("get", "events", "-o", "json").stdout)["items"]
            return {e["involvedObject"]["name"]: e for e in items if e["reason"] == "FailedToSyncRoutes"
                    and e["involvedObject"]["kind"] == "Node" and "198.19.9.77" in e["message"]}
        seen = wait_for(lambda: len(warnings()) == 2 and warnings(), timeout=60, what="both agents' Warning Events")
        assert set(seen) == {a.name, b.name}
        assert all(e["type"] == "Warning" and e["source"]["component"] == "minipod-netagent" for e in seen.values())
        # a failure that repeats is one Event whose count grows, as the kubelet's
        wait_for(lambda: warnings()[a.name]["count"] > seen[a.name]["count"], timeout=30, what="the count growing")
        shown = kubectl("get", "events", "--field-selector", f"involvedObject.name={a.name}").stdout
        assert re.search(rf"Warning\s+FailedToSyncRoutes\s+node/{a.name}\s+ip route replace 10.240.250.0/24 via "
                         r"198.19.9.77: .*Nexthop has invalid gateway", shown), shown
        assert f"via {b.address} " in a.sh("ip -4 route show proto 77").stdout
        assert "10.240.250.0" not in a.sh("ip -4 route show proto 77").stdout
    finally:
        kubectl("delete", "node", "ghost", check=False)


def test_pods_on_two_nodes_reach_each_other_with_their_own_addresses(two_nodes):
    a, b = two_nodes
    apply(pod("server", b.name, "nc -ll -p 8080 -e cat"))
    ready("server")
    server_ip = pod_ip("server")
    assert ipaddress.ip_address(server_ip) in ipaddress.ip_network(CLUSTER_CIDR)
    # the client holds a connection open; the server's side shows who it came from
    apply(pod("client", a.name, f"(echo hello; sleep 3600) | nc {server_ip} 8080"))
    ready("client")
    client_ip = pod_ip("client")
    seen = wait_for(lambda: [l for l in exec_("server", "netstat", "-tn").stdout.splitlines()
                             if f"{server_ip}:8080" in l and "ESTABLISHED" in l], timeout=30,
                    what="the connection on the server's side")
    peer = seen[0].split()[4].rsplit(":", 1)[0].replace("::ffff:", "")
    assert peer == client_ip, seen  # its source: the client pod's own address, not node1's
    kubectl("delete", "pod", "server", "client", "--grace-period=1", "--wait=false")


def test_a_service_across_nodes_by_clusterip_nodeport_and_name(two_nodes):
    a, b = two_nodes
    apply(pod("web-a", a.name, "httpd -f -p 80 -h /etc", {"app": "web"}),
          pod("web-b", b.name, "httpd -f -p 80 -h /etc", {"app": "web"}),
          pod("probe-a", a.name, "sleep 3600"), pod("probe-b", b.name, "sleep 3600"),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
           "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}})
    ready("web-a", "web-b", "probe-a", "probe-b")
    svc = json.loads(kubectl("get", "svc", "web", "-o", "json").stdout)
    ip, node_port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    wait_for(lambda: len(kubectl("get", "endpoints", "web", "-o",
                                 "jsonpath={.subsets[*].addresses[*].ip}").stdout.split()) == 2, what="2 endpoints")
    for probe in ("probe-a", "probe-b"):  # from a pod on either node, both endpoints answer the ClusterIP
        seen = set()
        for _ in range(40):
            seen.add(exec_(probe, "wget", "-q", "-O", "-", f"http://{ip}/hostname", check=False).stdout.strip())
            if {"web-a", "web-b"} <= seen:
                break
        assert {"web-a", "web-b"} <= seen, (probe, seen)
        # cluster DNS: the Service's name, on both nodes
        looked = exec_(probe, "nslookup", "web.default.svc.cluster.local").stdout
        assert ip in looked, looked
    # NodePort on either node's address (from the host: outside the cluster) reaches a pod on either node
    for node in two_nodes:
        seen = set()
        for _ in range(40):
            seen.add(sh(f"curl -s --max-time 3 http://{node.address}:{node_port}/hostname", check=False)
                     .stdout.strip())
            if {"web-a", "web-b"} <= seen:
                break
        assert {"web-a", "web-b"} <= seen, (node.name, seen)
    kubectl("delete", "svc", "web")
    kubectl("delete", "pod", "web-a", "web-b", "probe-a", "probe-b", "--grace-period=1", "--wait=false")


def test_network_policies_on_both_nodes(two_nodes):
    """Each node's policy controller (kube-router's role) loads its own pods'
    rules from the cluster's objects: a pod on node1 open to the client only
    is reached by the client on node2 and refused to the other pod there (on
    node1, its ingress); node2's pod denied egress is refused on node2
    itself. Rules are where the pods are, and go with the policies."""
    a, b = two_nodes
    apply(pod("np-web", a.name, "httpd -f -p 80 -h /etc", {"app": "np-web"}),
          pod("np-client", b.name, "sleep 3600", {"app": "np-client"}),
          pod("np-other", b.name, "sleep 3600", {"app": "np-other"}))
    ready("np-web", "np-client", "np-other")
    web = pod_ip("np-web")
    apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np-web"},
           "spec": {"podSelector": {"matchLabels": {"app": "np-web"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "np-client"}}}],
                                 "ports": [{"port": 80}]}]}})

    def reaches(src):
        return exec_(src, "wget", "-q", "-O", "-", f"http://{web}/hostname", check=False).stdout.strip() == "np-web"
    wait_for(lambda: not reaches("np-other"), timeout=30, what="np-other refused across nodes")
    assert reaches("np-client")
    assert "ingress of pod default/np-web" in a.sh("iptables-save -t filter").stdout
    assert "ingress of pod default/np-web" not in b.sh("iptables-save -t filter").stdout
    apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np-client-out"},
           "spec": {"podSelector": {"matchLabels": {"app": "np-client"}}, "policyTypes": ["Egress"]}})
    wait_for(lambda: not reaches("np-client"), timeout=30, what="np-client's egress denied on its own node")
    assert "egress of pod default/np-client" in b.sh("iptables-save -t filter").stdout
    kubectl("delete", "networkpolicy", "np-web", "np-client-out")
    wait_for(lambda: reaches("np-other"), timeout=30, what="np-other reaching np-web once the policies are gone")
    for node in two_nodes:
        wait_for(lambda node=node: "POD-FW-" not in node.sh("iptables-save -t filter").stdout, timeout=30,
                 what=f"{node.name}'s policy rules gone")
    kubectl("delete", "pod", "np-web", "np-client", "np-other", "--grace-period=1", "--wait=false")


def test_an_ingress_on_either_node_reaches_pods_on_both(two_nodes):
    """Every node's nginx (a static pod on the node's network) serves the
    cluster's Ingresses; its upstreams are the pods, on whichever node."""
    apply(pod("site-a", two_nodes[0].name, "httpd -f -p 80 -h /etc", {"app": "site"}),
          pod("site-b", two_nodes[1].name, "httpd -f -p 80 -h /etc", {"app": "site"}),
          {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "site"},
           "spec": {"selector": {"app": "site"}, "ports": [{"port": 8080, "targetPort": 80}]}},
          {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "site"},
           "spec": {"ingressClassName": "nginx", "rules": [{"host": "site.example", "http": {"paths": [
               {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "site", "port": {"number": 8080}}}}]}}]}})
    ready("site-a", "site-b")
    http = 80 + int(ENV["MINIPOD_CLUSTER_PORT_OFFSET"])
    for node in two_nodes:
        seen = set()

        def both(node=node, seen=seen):
            seen.add(sh(f"curl -s --max-time 3 -H 'Host: site.example' http://{node.address}:{http}/hostname",
                        check=False).stdout.strip())
            return {"site-a", "site-b"} <= seen
        wait_for(both, timeout=90, interval=0.2, what=f"both pods through {node.name}'s nginx")
        # a host no Ingress names: nginx's default server
        code = sh(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 3 -H 'Host: nowhere.example' "
                  f"http://{node.address}:{http}/", check=False).stdout
        assert code == "404", code
    # the Ingress's status: the nodes whose nginx serves it, as ingress-nginx publishes them
    addresses = sorted(n.address for n in two_nodes)
    wait_for(lambda: sorted(kubectl("get", "ingress", "site", "-o", "jsonpath={.status.loadBalancer.ingress[*].ip}")
                            .stdout.split()) == addresses, timeout=30, what="the Ingress's addresses")
    kubectl("delete", "ingress", "site")
    kubectl("delete", "svc", "site")
    kubectl("delete", "pod", "site-a", "site-b", "--grace-period=1", "--wait=false")


def _lifecycle_log() -> str:
    """What the node lifecycle controller said (disruption modes, taints, evictions)."""
    log = TEST_ROOT / "lib" / "cluster" / "logs" / "kube-controller-manager.log"
    words = ("disruption", "aint", "evict", "Evict", "NotReady", "Unknown")
    try:
        return "".join(line for line in log.read_text(errors="replace").splitlines(True)
                       if any(w in line for w in words))[-4000:]
    except FileNotFoundError:
        return f"({log} not found)\n"


def test_a_node_that_stops_goes_notready_and_its_pod_is_made_again_elsewhere(two_nodes):
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mover"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mover"}},
                           "template": {"metadata": {"labels": {"app": "mover"}},
                                        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                            {"name": "c", "image": "busybox", "imagePullPolicy": "Never",
                                             "command": ["sleep", "3600"]}]}}}}
    apply(deployment)
    kubectl("rollout", "status", "deployment/mover", "--timeout=120s", timeout=150)
    first = json.loads(kubectl("get", "pods", "-l", "app=mover", "-o", "json").stdout)["items"][0]
    lost = next(n for n in two_nodes if n.name == first["spec"]["nodeName"])
    kubelet = json.loads((lost.root / "run" / "cluster" / "kubelet.json").read_text())
    os.kill(kubelet["pid"], signal.SIGKILL)  # the node's kubelet dies: the node stops reporting
    wait_for(lambda: " NotReady " in kubectl("get", "node", lost.name, "--no-headers").stdout, timeout=90,
             what=f"{lost.name} NotReady")

    def moved():
        pods = json.loads(kubectl("get", "pods", "-l", "app=mover", "-o", "json").stdout)["items"]
        return [p for p in pods if p["spec"].get("nodeName") not in (None, lost.name)
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    try:
        wait_for(moved, timeout=240, interval=1, what="the Deployment's pod made again on the other node")
    except AssertionError:  # what the control plane did instead, and why
        raise AssertionError("no pod made again on the other node:\n"
                             + kubectl("get", "nodes,pods", "-o", "wide", check=False).stdout
                             + kubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name} "
                                       "{.spec.taints}{'\\n'}{end}", check=False).stdout
                             + kubectl("get", "pods", "-l", "app=mover", "-o", "jsonpath={range .items[*]}"
                                       "{.metadata.name} {.spec.tolerations}{'\\n'}{end}", check=False).stdout
                             + _lifecycle_log()
                             + kubectl("get", "events", "--sort-by=.lastTimestamp",
                                       check=False).stdout[-2000:]) from None
    kubectl("delete", "deployment", "mover")
    # the lost node comes back: its kubelet restarted by a new join would be a new machine; here, its own
    lost.mp("cluster", "down")
    kubectl("delete", "node", lost.name)
    other = next(n for n in two_nodes if n is not lost)
    wait_for(lambda: lost.address not in other.sh("ip -4 route show proto 77").stdout, timeout=30,
             what="the removed node's route gone from the other")
