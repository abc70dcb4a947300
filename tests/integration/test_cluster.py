"""A real Kubernetes control plane on this machine (Debian's etcd, and
kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and
kube-proxy 1.20.2 built from Debian's kubernetes source), brought up by
`minipod cluster init`, whose one node runs its pods on minipod through
the CRI. The course's nginx Deployment and Service applied with the real
kubectl become minipod pods (pause, the node's CNI network) made by the
kubelet's own calls; the ClusterIP (kube-proxy's own rules) answers from
both endpoints, from the host and from a pod; kubectl exec, logs,
port-forward and run -i reach the containers through the kubelet's
streaming path to minipod's streaming server. `minipod cluster down`
leaves nothing: no process, chain, route, mount, sysctl changed.

Marked `kubelet`: the first run builds the components (about 8 minutes
on these machines, then cached); `./scripts/test -m "not kubelet"` skips it.

Addresses: the node and the API server use an address on a bridge the
test makes (UNDERLAY), the Services a range of the suite's own, routed to
a device that drops what kube-proxy's rules do not catch."""

import contextlib
import ipaddress
import os
import re
import subprocess
import time

import pytest
import yaml

from tests import docs_runner
from tests.conftest import REPO, TEST_ENV, TEST_ROOT
from tests.integration.conftest import leaks, mp, mp_json, sh, take_free_range, wait_for

pytestmark = pytest.mark.kubelet

NODE = "mptnode"
UNDERLAY, ADDRESS = "mptul0", "198.19.7.1"
# Clear of the suite's default network (10.231.0.0/24, whose bridge the tests before these leave up): the node's
# first pod range inside it would put two bridges on one subnet, and the host's route to the pods on the wrong one.
SERVICE_CIDR, POD_CIDR = "10.236.0.0/16", "10.239.0.0/16"
ENV = {"MINIPOD_CLUSTER_PORT_OFFSET": "20000", "MINIPOD_CLUSTER_SERVICE_DEVICE": "mptkube0",
       "MINIPOD_CLUSTER_BRIDGE": "mptcni0"}
USER_ENV = {**ENV, "KUBECONFIG": str(TEST_ROOT / "user.kubeconfig")}  # init's context goes there, not to ~/.kube
KUBECONFIG = TEST_ROOT / "etc" / "cluster" / "admin.kubeconfig"
DEBIAN_KUBECTL = "/var/cache/minipod/kubectl-1.20/root/usr/bin/kubectl"
TUNABLES = ("/proc/sys/kernel/panic", "/proc/sys/kernel/panic_on_oops", "/proc/sys/vm/overcommit_memory",
            "/proc/sys/net/ipv4/conf/all/route_localnet")


def _kube_chains() -> list:
    return [l for t in ("filter", "nat", "mangle") for l in sh(f"iptables-save -t {t}").stdout.splitlines()
            if l.startswith(":KUBE-")]


def _user_kubeconfig():
    path = os.path.expanduser("~/.kube/config")
    return open(path).read() if os.path.exists(path) else None


def _read(paths) -> dict:
    return {p: open(p).read() for p in paths}


def kubectl(*args, binary="kubectl", check=True, timeout=90, input=None):
    proc = subprocess.run([binary, *args], env={**os.environ, **TEST_ENV, "KUBECONFIG": str(KUBECONFIG),
                                                "HOME": str(TEST_ROOT)},
                          capture_output=True, text=True, timeout=timeout, input=input)
    assert not check or proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc


@contextlib.contextmanager
def node_host(service_cidr):
    """The components built, the test's own address on a bridge of its own
    (after checking that the host routes none of the test's ranges), the
    nginx image; on the way out, that nothing of the cluster is left."""
    setup = subprocess.run([str(REPO / "scripts" / "setup-cluster")], capture_output=True, text=True)
    assert setup.returncode == 0, f"scripts/setup-cluster failed:\n{setup.stderr[-3000:]}"
    for cidr in (f"{ADDRESS}/24", service_cidr, POD_CIDR):  # the test's own ranges: nothing of the host's in them
        take_free_range(cidr)
    chains_before, tunables_before, users_before = _kube_chains(), _read(TUNABLES), _user_kubeconfig()
    had_pod_logs = os.path.exists("/var/log/pods")
    sh(f"ip link add {UNDERLAY} type bridge && ip addr add {ADDRESS}/24 dev {UNDERLAY} && ip link set {UNDERLAY} up")
    mp("image", "import", REPO / "build" / "nginx.oci.tar")
    try:
        yield
    finally:
        mp("cluster", "down", env=USER_ENV, timeout=180, check=False)  # whatever the test left running
        sh(f"ip link del {UNDERLAY}", check=False)
        mp("image", "rm", "nginx", check=False)
    procs = [line.split()[1] for line in sh("ps -eo stat=,comm=").stdout.splitlines() if line[0] != "Z"]
    assert not [p for p in procs if p in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                          "kubelet", "kube-proxy")], "a component outlived `cluster down`"
    assert _kube_chains() == chains_before, "kube-proxy's chains outlived `cluster down`"
    assert _read(TUNABLES) == tunables_before, "the kubelet's and kube-proxy's sysctls were not put back"
    assert _user_kubeconfig() == users_before, "the suite changed the user's own ~/.kube/config"
    assert os.path.exists("/var/log/pods") == had_pod_logs
    assert sh("ip link show mptkube0", check=False).returncode != 0
    assert not (TEST_ROOT / "lib" / "cluster").exists() and not (TEST_ROOT / "etc" / "cluster").exists()
    assert not leaks(), leaks()


def test_the_walkthrough_a_real_kubelet_on_minipod(tmp_path):
    """docs/cri.md's walkthrough, as written, on the test's address and ranges
    (the course's ClusterIP 10.107.35.208 in a Service range of 10.107.0.0/16)."""
    env = {**os.environ, **TEST_ENV, **ENV, "HOME": str(tmp_path)}
    translations = [
        ("minipod cluster init --node-name node1", f"minipod cluster init --node-name node1 --advertise-address "
                                                   f"{ADDRESS} --pod-cidr {POD_CIDR} --service-cidr 10.107.0.0/16"),
        ("/etc/minipod/cluster", str(TEST_ROOT / "etc" / "cluster")),
        ("/root/.kube/config", f"{tmp_path}/.kube/config"),
        ("minipod-default_hello", "mpt-default_hello"),
        ("http://127.0.0.1/", f"http://127.0.0.1:{80 + int(ENV['MINIPOD_CLUSTER_PORT_OFFSET'])}/")]  # the node's nginx

    def translate(text):
        for old, new in translations:
            text = text.replace(old, new)
        return text
    with node_host("10.107.0.0/16"):
        failures = docs_runner.check(REPO / "docs" / "cri.md", env=env, translate=translate)
    assert not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def cluster():
    with node_host(SERVICE_CIDR):
        out = mp("cluster", "init", "--advertise-address", ADDRESS, "--service-cidr", SERVICE_CIDR,
                 "--pod-cidr", POD_CIDR, "--node-name", NODE, env=USER_ENV, timeout=300).stdout
        assert " ✓ kube-proxy" in out and "minipod cluster join https://198.19.7.1:26443 --token " in out
        yield
        down = mp("cluster", "down", env=USER_ENV, timeout=180, check=False)
        assert down.returncode == 0, down.stderr
        assert " ✓ stopped kube-apiserver" in down.stdout and " ✓ stopped the CRI server" in down.stdout


def test_the_node_is_ready_and_its_runtime_is_minipod(cluster):
    nodes = kubectl("get", "nodes", "-o", "wide").stdout
    assert re.search(rf"^{NODE}\s+Ready\s.*\sv1\.20\.2\s+{re.escape(ADDRESS)}\s.*minipod://", nodes, re.M), nodes
    status = mp("cluster", "status", env=USER_ENV).stdout
    assert "control-plane and node of https://198.19.7.1:26443, node mptnode" in status
    assert "NOT running" not in status
    joined = mp("cluster", "join", "https://198.19.7.1:26443", "--token", "abcdef.0123456789abcdef",
                "--ca-cert-hash", "sha256:00", env=USER_ENV, check=False)
    assert joined.returncode == 125 and "already a node" in joined.stderr  # one line, nothing touched


def test_the_course_deployment_and_service_run_on_minipod_through_the_kubelet(cluster):
    docs = [d for d in yaml.safe_load_all((REPO / "docs" / "examples" / "tutorial.yaml").read_text())
            if d["kind"] in ("Namespace", "Deployment", "Service")]
    for d in docs:
        if d["kind"] == "Service":
            del d["spec"]["clusterIP"]  # the course's address is in 10.96.0.0/12: the suite has its own range
    applied = kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs)).stdout
    assert "deployment.apps/nginx created" in applied and "service/nginx created" in applied
    kubectl("rollout", "status", "-n", "tutorial", "deployment/nginx", "--timeout=120s", timeout=150)
    pods = kubectl("get", "pods", "-n", "tutorial", "-o", "json")
    import json
    items = json.loads(pods.stdout)["items"]
    assert len(items) == 2 and all(p["status"]["podIP"].startswith("10.239.0.") for p in items)
    # each is a minipod pod the kubelet asked for: pause holds its namespaces, the CNI network its address
    sandboxes = {p["Labels"].get("io.kubernetes.pod.name"): p for p in mp_json("pod", "ls", "--format", "json")}
    for p in items:
        sandbox = sandboxes[p["metadata"]["name"]]
        assert sandbox["IP"].split("/")[0] == p["status"]["podIP"] and sandbox["Status"] == "running"
    # each pod says its own name: written through kubectl exec, through the kubelet to minipod
    names = set()
    for p in items:
        name = p["metadata"]["name"]
        kubectl("exec", "-n", "tutorial", name, "--", "sh", "-c", "echo $HOSTNAME > /usr/share/nginx/html/index.html")
        names.add(name)
    ip = kubectl("get", "svc", "nginx", "-n", "tutorial", "-o", "jsonpath={.spec.clusterIP}").stdout
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(SERVICE_CIDR)
    # only a ClusterIP the host routes to the drop device is sent to: nothing uncaught leaves the host
    assert sh(f"ip -o route get {ip}").stdout.split()[2] == "mptkube0"
    endpoints = kubectl("get", "endpoints", "nginx", "-n", "tutorial", "-o", "jsonpath={.subsets[*].addresses[*].ip}")
    assert len(endpoints.stdout.split()) == 2
    # Until kube-proxy's rules hold both endpoints (its sync follows the Endpoints object by up to a few
    # seconds: 60 requests sent at once all met a rule with one), then the split shows within a few requests.
    seen, deadline = set(), time.monotonic() + 60
    while not names <= seen and time.monotonic() < deadline:
        seen.add(sh(f"curl -s --max-time 3 http://{ip}:8080/", check=False).stdout.strip())
        time.sleep(0.1)
    assert names <= seen, f"the ClusterIP answered from {seen}, not from both of {names}"
    # and from a pod, by the same address
    kubectl("run", "client", "--image=busybox", "--restart=Never", "--", "sleep", "300")
    kubectl("wait", "--for=condition=Ready", "pod/client", "--timeout=60s", timeout=90)
    got = kubectl("exec", "client", "--", "wget", "-q", "-O", "-", f"http://{ip}:8080/").stdout.strip()
    assert got in names
    # kubelet 1.20 deletes a pod once its sandbox is removed too, which its garbage collection does once a minute
    kubectl("delete", "pod", "client", "--grace-period=1", "--wait=true", timeout=180)
    kubectl("delete", "-f", "-", input=yaml.safe_dump_all(docs), timeout=180)
    wait_for(lambda: not [p for p in mp_json("pod", "ls", "--format", "json")
                          if p["Labels"].get("io.kubernetes.pod.namespace") == "tutorial"],
             timeout=150, what="the kubelet removing the tutorial's pods from minipod")


@pytest.mark.parametrize("binary", ["kubectl", DEBIAN_KUBECTL], ids=["kubectl", "debian-1.20"])
def test_kubectl_exec_logs_port_forward_and_attach_through_the_kubelet(cluster, binary):
    kubectl("run", "talker", "--image=busybox", "--restart=Never", "--",
            "sh", "-c", "echo started; httpd -f -p 8080 -h /etc", binary=binary)
    kubectl("wait", "--for=condition=Ready", "pod/talker", "--timeout=60s", binary=binary, timeout=90)
    done = kubectl("exec", "talker", "--", "sh", "-c", "echo out; echo err >&2; exit 3", binary=binary, check=False)
    assert (done.returncode, done.stdout, "err" in done.stderr) == (3, "out\n", True)
    assert kubectl("exec", "-i", "talker", "--", "sh", binary=binary, input="echo read $((6*7))\n").stdout == \
        "read 42\n"
    tty = subprocess.run(["script", "-qec", f"{binary} exec -it talker -- sh -c 'tty; echo done'", "/dev/null"],
                         env={**os.environ, "KUBECONFIG": str(KUBECONFIG), "HOME": str(TEST_ROOT)},
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert "/dev/pts/" in tty.stdout and "done" in tty.stdout, tty
    wait_for(lambda: kubectl("logs", "talker", binary=binary).stdout == "started\n", what="kubectl logs")
    forward = subprocess.Popen([binary, "port-forward", "pod/talker", "28556:8080"],
                               env={**os.environ, "KUBECONFIG": str(KUBECONFIG), "HOME": str(TEST_ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        page = wait_for(lambda: sh("curl -s --max-time 3 http://127.0.0.1:28556/hostname", check=False).stdout,
                        timeout=30, what="port-forward")
        assert page.strip() == "talker"
    finally:
        forward.terminate()
        forward.wait(10)
    attached = kubectl("run", "once", "--rm", "-i", "--image=busybox", "--restart=Never", "--", "sh",
                       binary=binary, input="echo attached $((6*7))\n", timeout=240)
    assert "attached 42" in attached.stdout
    kubectl("delete", "pod", "talker", "--grace-period=1", "--wait=true", binary=binary, timeout=180)
    wait_for(lambda: not [p for p in mp_json("pod", "ls", "--format", "json")
                          if p["Labels"].get("io.kubernetes.pod.name") in ("talker", "once")],
             timeout=150, what="the kubelet removing the pods")


def test_bad_cluster_input_is_one_line_and_leaves_nothing(cluster):
    """A second init while one runs, and a join with a wrong CA hash (on this
    node's machine, refused before anything is touched)."""
    again = mp("cluster", "init", "--advertise-address", ADDRESS, env=USER_ENV, check=False)
    assert again.returncode == 125 and again.stderr.count("\n") == 1 and "already runs a cluster" in again.stderr
    assert "NOT running" not in mp("cluster", "status", env=USER_ENV).stdout

