"""Services through kube-proxy's own iptables shape, with real traffic:
ClusterIP from the host and from pods, NodePort and LoadBalancer from an
outside namespace, hairpin, UDP, ClientIP affinity, endpoints that leave,
and a service without endpoints that rejects.

Traffic goes only to addresses the tests made; before any packet goes to
a virtual IP, the test checks that the host routes it to the service
device (where an unmatched packet is dropped, never sent to a gateway).
The suite's proxy uses its own chain prefix (MPTK-), device (mptsvc0),
service range (10.234.0.0/16) and pool (198.18.0.0/24): tests/conftest.py."""

import collections
import json
import os
import socket
import subprocess
import time

import pytest

from tests.integration.conftest import leaks, mp, mp_json, sh, wait_for

WEB = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: httpd
        image: busybox
        command: ["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
        ports: [{containerPort: 8080, name: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""


def apply(tmp_path, text, name="svc.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return mp("apply", "-f", path).stdout


def svc(name):
    return mp_json("get", "svc", name, "-o", "json")


def ready_endpoints(name, n):
    def check():
        obj = json.loads(mp("get", "ep", name, "-o", "json", check=False).stdout or "{}")
        ips = [a["ip"] for s in obj.get("subsets", []) for a in s.get("addresses", [])]
        return ips if len(ips) == n else None
    return wait_for(check, timeout=60, interval=0.2, what=f"{n} endpoints of {name}")


def routed_locally(ip):
    """The safety check before any traffic to a virtual IP."""
    out = sh(f"ip -o route get {ip}").stdout
    assert " dev mptsvc0 " in out, f"{ip} is not routed to the service device: {out}"


def nat_rules():
    return sh("iptables-save -t nat").stdout


@pytest.fixture
def web(tmp_path):
    apply(tmp_path, WEB, "web.yaml")
    ips = ready_endpoints("web", 2)
    return svc("web")["spec"]["clusterIP"], ips


def hits(url, count, prefix=""):
    out = sh(f"{prefix} sh -c 'for i in $(seq {count}); do curl -s --max-time 2 {url}; done'", timeout=120).stdout
    return collections.Counter(out.split())


def test_cluster_ip_balances_over_both_pods_from_host_and_pod(web, tmp_path):
    ip, endpoint_ips = web
    assert ip.startswith("10.234.") and ip != "10.234.0.10"
    routed_locally(ip)
    counts = hits(f"http://{ip}/", 200)
    assert sum(counts.values()) == 200 and len(counts) == 2 and min(counts.values()) >= 40, counts
    # from a pod on the same bridge (the reply needs br_netfilter), and env discovery
    out = mp("run", "--rm", "busybox", "sh", "-c",
             f"for i in $(seq 60); do wget -q -O - http://{ip}/; done").stdout
    inpod = collections.Counter(out.split())
    assert sum(inpod.values()) == 60 and len(inpod) == 2 and min(inpod.values()) >= 10, inpod
    assert open("/proc/sys/net/bridge/bridge-nf-call-iptables").read().strip() == "1"
    # kube-proxy's shape, as `iptables -t nat -S` shows it
    rules = nat_rules()
    assert "-A MPTK-SERVICES -d %s/32 -p tcp -m comment --comment \"default/web cluster IP\"" % ip in rules
    ours = "\n".join(line for line in rules.splitlines() if line.startswith("-A MPTK-"))  # not another proxy's
    assert "--probability 0.5" in ours and ours.count("-j DNAT --to-destination") == 2
    for e in endpoint_ips:
        assert f"--to-destination {e}:8080" in rules
    described = mp("describe", "svc", "web").stdout
    assert "TargetPort:        http/TCP" in described and all(f"{e}:8080" in described for e in endpoint_ips)
    rows = mp("get", "svc").stdout.splitlines()
    assert rows[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows[1].split()[:5] == ["web", "ClusterIP", ip, "<none>", "80/TCP"]


def test_a_pod_started_later_gets_the_service_environment(web, tmp_path):
    ip, _ = web
    apply(tmp_path, """apiVersion: v1
kind: Pod
metadata: {name: env-reader}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: busybox, command: ["sh", "-c", "env | grep ^WEB_ | sort; sleep 86400"]}
""", "env.yaml")
    wait_for(lambda: "WEB_SERVICE_HOST" in mp("logs", "env-reader", check=False).stdout, timeout=30, what="env")
    env = dict(l.split("=", 1) for l in mp("logs", "pod/env-reader").stdout.split())
    assert env["WEB_SERVICE_HOST"] == ip and env["WEB_SERVICE_PORT"] == "80"
    assert env["WEB_PORT"] == f"tcp://{ip}:80" and env["WEB_PORT_80_TCP_ADDR"] == ip


def test_hairpin_a_pod_reaches_itself_through_its_service(web):
    ip, _ = web
    pod = next(n for n in mp("get", "pods", "-l", "app=web", "-o", "name").stdout.split())
    out = mp("exec", pod, "sh", "-c",
             f"for i in $(seq 30); do wget -q -O - http://{ip}/; done").stdout
    counts = collections.Counter(out.split())
    assert sum(counts.values()) == 30 and pod.split("/")[1] in counts, counts


def test_node_port_and_load_balancer_from_outside(web, tmp_path, outside):
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: web-public}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
""", "public.yaml")
    ready_endpoints("web-public", 2)
    obj = svc("web-public")
    lb = obj["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert lb.startswith("198.18.0.") and obj["spec"]["ports"][0]["nodePort"] == 30080
    assert mp("get", "svc", "web-public").stdout.splitlines()[1].split()[3:5] == [lb, "80:30080/TCP"]
    counts = hits(f"http://{outside}:30080/", 40, "ip netns exec mpt-out")
    assert sum(counts.values()) == 40 and len(counts) == 2, counts
    routed_locally(lb)
    counts = hits(f"http://{lb}/", 40, "ip netns exec mpt-out")
    assert sum(counts.values()) == 40 and len(counts) == 2, counts
    assert "MPTK-EXT-" in nat_rules() and "MPTK-NODEPORTS -p tcp" in nat_rules()


UDP_ECHO = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('', 9000))\n"
            "while True:\n    data, peer = s.recvfrom(512); s.sendto(b'pong-' + socket.gethostname().encode(), peer)")


def test_udp_service(tmp_path):
    """busybox has no UDP server: the echo pod runs the python image."""
    from tests.integration.test_image_formats import _built
    mp("image", "import", _built("python"))
    try:
        apply(tmp_path, f"""apiVersion: v1
kind: Pod
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  containers:
  - name: c
    image: python
    command: ["python3", "-c", {json.dumps(UDP_ECHO)}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo}}
spec:
  selector: {{app: echo}}
  ports: [{{port: 53, targetPort: 9000, protocol: UDP}}]
""")
        ready_endpoints("echo", 1)
        ip = svc("echo")["spec"]["clusterIP"]
        routed_locally(ip)
        client = ("import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); "
                  f"s.sendto(b'ping', ('{ip}', 53)); print(s.recv(512).decode())")
        assert sh(f"python3 -c \"{client}\"").stdout.strip() == "pong-echo"  # from the host
        assert mp("run", "--rm", "python", "python3", "-c", client).stdout.strip() == "pong-echo"  # from a pod
        assert "-A MPTK-SERVICES -d %s/32 -p udp" % ip in nat_rules()
        mp("delete", "pod", "echo")
    finally:
        mp("image", "rm", "-f", "python", check=False)


def test_client_ip_affinity_keeps_a_client_on_one_endpoint(web, tmp_path):
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
    routed_locally(ip)
    counts = hits(f"http://{ip}/", 30)
    assert sum(counts.values()) == 30 and len(counts) == 1, counts
    assert "--rcheck --seconds 300 --reap" in nat_rules()


def test_a_killed_endpoint_leaves_within_a_second_and_the_service_answers(web, tmp_path):
    ip, _ = web
    apply(tmp_path, """apiVersion: v1
kind: Pod
metadata: {name: third, labels: {app: web}}
spec:
  restartPolicy: Never
  containers:
  - name: httpd
    image: busybox
    command: ["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports: [{containerPort: 8080, name: http}]
""", "third.yaml")
    ips = ready_endpoints("web", 3)
    third_ip = mp_json("get", "pod", "third", "-o", "json")["status"]["podIP"]
    assert third_ip in ips and f"--to-destination {third_ip}:8080" in nat_rules()
    mp("kill", "default_third_httpd")
    start = time.monotonic()
    wait_for(lambda: f"--to-destination {third_ip}:8080" not in nat_rules(), timeout=5, interval=0.02,
             what="the endpoint's rule to go")
    assert time.monotonic() - start < 1.0
    routed_locally(ip)
    counts = hits(f"http://{ip}/", 30)
    assert sum(counts.values()) == 30 and "third" not in counts, counts


def _bound_socket(sport, timeout):
    """A TCP socket bound to source port ``sport`` (0: any), reusable."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", sport))
    sock.settimeout(timeout)
    return sock


def connection_tried_before_the_rules(tmp_path, ip, rules_ready, stale_expected):
    """A client's SYN to a ClusterIP before its service exists is dropped on
    the service device and, in the iptables mode, leaves a conntrack entry
    without NAT; a later connection on the same source port (a
    retransmission, to the kernel) must reach the service once its rules are
    live, not follow that entry. (The nftables mode drops traffic to
    unallocated ClusterIPs in its filter hooks, before conntrack keeps an
    entry.) ``rules_ready``: the mode's rules for the first service exist."""
    apply(tmp_path, "apiVersion: v1\nkind: Service\nmetadata: {name: other}\nspec: {ports: [{port: 80}]}\n",
          "other.yaml")  # the range is routed to the service device from the first service on
    wait_for(lambda: rules_ready() and " dev mptsvc0 " in sh(f"ip -o route get {ip}").stdout, timeout=10,
             what="the first service's rules and route")
    routed_locally(ip)
    first = _bound_socket(0, 0.3)
    sport = first.getsockname()[1]
    with pytest.raises(OSError):
        first.connect((ip, 80))  # no rule yet: dropped, times out
    first.close()
    entry = f"dst={ip} sport={sport} dport=80" in sh(f"conntrack -L -d {ip}", check=False).stdout
    assert entry == stale_expected
    ports = "  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]"
    apply(tmp_path, WEB.replace(ports, f"  clusterIP: {ip}\n" + ports), "web.yaml")
    assert svc("web")["spec"]["clusterIP"] == ip
    ready_endpoints("web", 2)
    deadline = time.monotonic() + 15
    while True:  # until the agent has synced: a refusal (no endpoints yet) comes back at once; before its pass
        again = _bound_socket(sport, 3)  # the SYN may still follow the stale entry to the service device (no route)
        try:
            again.connect((ip, 80))
            break
        except OSError as e:
            again.close()
            assert time.monotonic() < deadline, f"the connection on port {sport} still fails: {e}"
            time.sleep(0.05)
    again.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert b"200 OK" in again.recv(4096)
    again.close()


def test_a_connection_tried_before_the_rules_exist_gets_through_once_they_do(tmp_path):
    connection_tried_before_the_rules(tmp_path, "10.234.3.3", lambda: ":MPTK-SERVICES" in nat_rules(), True)


def no_endpoints_reject_then_delete_leaves_nothing(tmp_path, reject_rule_present, all_gone):
    """A service without endpoints refuses at once (not a time-out); deleting
    it leaves no rule, route or device. The two predicates are the mode's."""
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
""")
    ip = wait_for(lambda: svc("nobody")["spec"]["clusterIP"], what="ip")
    wait_for(lambda: reject_rule_present(ip), timeout=10, what="reject rule")
    routed_locally(ip)
    start = time.monotonic()
    proc = sh(f"curl -s --max-time 5 http://{ip}/", check=False)
    assert proc.returncode == 7 and time.monotonic() - start < 1.0  # refused, not timed out
    assert "Endpoints:         <none>" in mp("describe", "svc", "nobody").stdout
    mp("delete", "svc", "nobody")
    wait_for(lambda: all_gone() and sh("ip link show mptsvc0", check=False).returncode != 0,
             timeout=5, what="rules and routes gone")
    mp("agent", "stop")
    assert leaks() == []


def test_no_endpoints_rejects_at_once_and_delete_leaves_nothing(tmp_path):
    no_endpoints_reject_then_delete_leaves_nothing(
        tmp_path, lambda ip: f"-d {ip}/32" in sh("iptables-save -t filter").stdout, lambda: "MPTK-" not in nat_rules())


@pytest.mark.parametrize("change,message", [
    ("type: External", "spec.type: must be one of"),
    ("clusterIP: 172.16.0.1", "provided IP is not in the valid range"),
    ("ports: [{port: 80, nodePort: 30001}]", "spec.ports[0].nodePort: Forbidden"),
])
def test_invalid_services_are_refused_with_the_field_path(tmp_path, change, message):
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: bad}\nspec:\n  selector: {app: x}\n"
    text += f"  {change}\n" if change.startswith("ports") else f"  {change}\n  ports: [{{port: 80}}]\n"
    (tmp_path / "bad.yaml").write_text(text)
    proc = mp("apply", "-f", tmp_path / "bad.yaml", check=False)
    assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_cluster_dns_by_name_headless_and_srv(web, tmp_path):
    """dnsmasq in kube-dns's role; only cluster names are looked up."""
    ip, endpoint_ips = web
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: web-direct}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers:
  - {name: c, image: busybox, command: ["sleep", "86400"]}
""", "dns.yaml")
    ready_endpoints("web-direct", 2)
    mp("wait", "--for=condition=Ready", "pod/client", "--timeout", "60")
    dns_ip = "10.234.0.10"
    resolv = mp("exec", "client", "cat", "/etc/resolv.conf").stdout
    assert resolv == ("search default.svc.cluster.local svc.cluster.local cluster.local\n"
                      f"nameserver {dns_ip}\noptions ndots:5\n")
    from tests.conftest import TEST_ROOT
    assert f"dnsmasq --conf-file={TEST_ROOT}/run/dns/dnsmasq.conf" in sh("pgrep -a dnsmasq").stdout, \
        mp("agent", "logs").stdout

    def lookup(name, kind="A"):
        return mp("exec", "client", "--", "nslookup", f"-type={kind}", name, check=False).stdout

    wait_for(lambda: f"Address: {ip}" in lookup("web.default.svc.cluster.local"), timeout=10, what="A record")
    headless = lookup("web-direct.default.svc.cluster.local")
    assert all(f"Address: {e}" in headless for e in endpoint_ips), headless
    srv = lookup("_http._tcp.web-direct.default.svc.cluster.local", "SRV")
    assert "8080 web-direct.default.svc.cluster.local" in srv, srv
    assert "NXDOMAIN" in lookup("nothere.default.svc.cluster.local")
    # the search path: a short name from a pod, as in every tutorial
    out = mp("exec", "pod/client", "-c", "c", "sh", "-c", "for i in $(seq 10); do wget -q -O - http://web/; done").stdout
    assert len(out.split()) == 10 and set(out.split()) <= {n.split("/")[1] for n in
                                                           mp("get", "pods", "-l", "app=web", "-o", "name").stdout.split()}


def test_readiness_probes_gate_endpoints(tmp_path):
    apply(tmp_path, """apiVersion: v1
kind: Pod
metadata: {name: gated-http, labels: {app: gated}}
spec:
  containers:
  - name: c
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [{containerPort: 8080, name: http}]
    readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: gated-exec, labels: {app: gated}}
spec:
  containers:
  - name: c
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    readinessProbe: {exec: {command: ["cat", "/tmp/ready"]}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: gated-tcp, labels: {app: gated}}
spec:
  containers:
  - name: c
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: gated}
spec:
  selector: {app: gated}
  ports: [{port: 80, targetPort: 8080}]
""")

    def ip_of(name):
        return wait_for(lambda: mp_json("get", "pod", name, "-o", "json")["status"].get("podIP"), what="ip")

    def addresses(kind="addresses"):
        obj = json.loads(mp("get", "ep", "gated", "-o", "json", check=False).stdout or "{}")
        return {a["ip"] for s in obj.get("subsets", []) for a in s.get(kind, [])}
    http_ip, exec_ip, tcp_ip = ip_of("gated-http"), ip_of("gated-exec"), ip_of("gated-tcp")
    wait_for(lambda: addresses() == {tcp_ip}, timeout=30, what="only the tcp pod ready")
    assert {http_ip, exec_ip} <= addresses("notReadyAddresses")
    rows = {r.split()[0]: r.split()[1] for r in mp("get", "pods", "-l", "app=gated").stdout.splitlines()[1:]}
    assert rows == {"gated-http": "0/1", "gated-exec": "0/1", "gated-tcp": "1/1"}
    mp("exec", "gated-http", "sh", "-c", "echo ok > /www/ready")
    mp("exec", "gated-exec", "touch", "/tmp/ready")
    wait_for(lambda: addresses() == {http_ip, exec_ip, tcp_ip}, timeout=10, what="all three ready")
    mp("exec", "gated-http", "rm", "/www/ready")
    wait_for(lambda: addresses() == {exec_ip, tcp_ip}, timeout=10, what="the http pod unready again")
    # the rules follow the Endpoints in the same agent pass, a moment later
    wait_for(lambda: f"--to-destination {http_ip}:8080" not in nat_rules(), timeout=1, what="its rule gone")
    assert "readiness probe failed" in mp("agent", "logs").stdout


def test_ready_means_the_service_answers_by_name_at_once(tmp_path):
    """The README's course: `wait --for=condition=Ready`, then at once a
    request by the Service's name from a pod of the same apply. A pod is
    reported Ready only once the agent's pass that saw its containers ready
    has written the Endpoints, the rules and the DNS records
    (kubelet/readiness.py); without that, this lost a ~0.1 s race on busy
    machines. Three rounds, each a new Service (the first starts dnsmasq,
    the next ones restart it with a new record), on a machine kept busy
    (two spinning processes per core), where that race was lost."""
    spinners = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        _ready_then_by_name(tmp_path)
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def _ready_then_by_name(tmp_path):
    for n in range(3):
        apply(tmp_path, WEB.replace("web", f"race{n}") + f"""---
apiVersion: v1
kind: Pod
metadata: {{name: client{n}}}
spec:
  containers: [{{name: c, image: busybox, command: [sleep, "3600"]}}]
""", f"race{n}.yaml")
        mp("wait", "--for=condition=Ready", "pods", "--all", "--timeout", "60s")
        got = mp("exec", f"client{n}", "--", "wget", "-q", "-O", "-", f"http://race{n}/", check=False)
        assert got.returncode == 0 and got.stdout.startswith(f"race{n}-"), (n, got.stdout, got.stderr)
        conditions = mp_json("get", "pod", f"client{n}", "-o", "json")["status"]["conditions"]
        assert {c["type"]: c["status"] for c in conditions} == {"Ready": "True", "ContainersReady": "True"}


def test_gc_clears_what_a_killed_agent_left(tmp_path):
    apply(tmp_path, """apiVersion: v1
kind: Service
metadata: {name: orphan}
spec:
  selector: {app: nobody}
  ports: [{port: 80}]
""")
    wait_for(lambda: "MPTK-SERVICES" in nat_rules() and "dnsmasq" in sh("pgrep -a dnsmasq", check=False).stdout,
             timeout=30, what="rules and DNS")
    pid = int(mp("agent", "status").stdout.split("pid ")[1].split(",")[0])
    sh(f"kill -9 {pid}")
    wait_for(lambda: mp("agent", "status", check=False).returncode == 3, what="agent gone")
    mp("delete", "svc", "orphan")  # nobody is there to clean up after it
    found = mp("gc", "--dry-run", check=False).stdout
    assert "proxy-rules" in found and "service-routes" in found and "cluster-dns" in found, found
    mp("gc")
    assert leaks() == []
